//! Optimize: small files compacted per partition, rows unchanged, `dataChange = false`.

use std::sync::Arc;

use crate::support::{latest, rendered, scan_rows};
use arrow::array::{Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use strata::{Error, Table};

fn batch(ids: std::ops::Range<i64>) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("country", DataType::Utf8, true),
    ]));
    let country: StringArray = ids
        .clone()
        .map(|i| Some(if i % 2 == 0 { "PT" } else { "NL" }))
        .collect();
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from_iter_values(ids)),
            Arc::new(country),
        ],
    )
    .unwrap()
}

async fn small_file_table(dir: &tempfile::TempDir) -> (Table, String) {
    let location = dir.path().join("t").to_str().unwrap().to_string();
    let table = Table::create(location.as_str())
        .with_arrow_schema(&batch(0..1).schema())
        .unwrap()
        .with_partition_columns(["country"])
        .execute()
        .await
        .unwrap();
    for k in 0..6 {
        table.append([batch(k * 10..(k + 1) * 10)]).await.unwrap();
    }
    (table, location)
}

#[tokio::test]
async fn optimize_compacts_each_partition_and_keeps_the_rows() {
    let dir = tempfile::tempdir().unwrap();
    let (table, location) = small_file_table(&dir).await;
    let before = table.snapshot().await.unwrap();
    assert_eq!(before.num_files(), 12);
    let rows_before = rendered(&before.scan().collect().await.unwrap());

    let result = table.optimize().execute().await.unwrap();
    assert_eq!(result.num_files_removed, 12);
    assert_eq!(result.num_files_added, 2, "one file per partition");
    assert_eq!(result.partitions_optimized, 2);
    let after = table.snapshot().await.unwrap();
    assert_eq!(after.num_files(), 2);
    assert_eq!(
        rendered(&after.scan().collect().await.unwrap()),
        rows_before
    );
    assert!(after.files().all(|f| !f.data_change()));
    // The previous version still reads the small files; history records the rewrite.
    let old = table.snapshot_at_version(before.version()).await.unwrap();
    assert_eq!(rendered(&old.scan().collect().await.unwrap()), rows_before);
    let h = &table.history(Some(1)).await.unwrap()[0];
    assert_eq!(h.operation.as_deref(), Some("OPTIMIZE"));
    assert_eq!(h.metrics["numFilesRemoved"], 12);
    assert_eq!(h.is_blind_append, Some(false));
    // Nothing left to do: no commit.
    let again = table.optimize().execute().await.unwrap();
    assert_eq!((again.version, again.num_files_added), (result.version, 0));
    // deltalake reads the compacted table.
    crate::support::assert_deltalake_row_count(&location, 60);
}

#[tokio::test]
async fn optimize_only_matching_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let (table, _) = small_file_table(&dir).await;
    let result = table
        .optimize()
        .with_filter("country = 'PT'")
        .execute()
        .await
        .unwrap();
    assert_eq!((result.num_files_removed, result.num_files_added), (6, 1));
    assert_eq!(table.snapshot().await.unwrap().num_files(), 7);
    let err = table
        .optimize()
        .with_filter("id > 3")
        .execute()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
    assert!(err.to_string().contains("partition"), "{err}");
}

#[tokio::test]
async fn a_concurrent_append_does_not_fail_optimize_but_a_concurrent_rewrite_does() {
    let dir = tempfile::tempdir().unwrap();
    let (table, location) = small_file_table(&dir).await;
    // Another writer appends after optimize read the table; optimize still commits.
    let read = table.snapshot().await.unwrap();
    Table::open(&location)
        .await
        .unwrap()
        .append([batch(100..110)])
        .await
        .unwrap();
    let result = table
        .optimize()
        .with_snapshot(read)
        .execute()
        .await
        .unwrap();
    assert_eq!(result.num_files_removed, 12);
    assert_eq!(
        scan_rows(&latest(&location).await).await,
        70,
        "the concurrent append is kept"
    );

    // A concurrent overwrite removed the files optimize rewrote: optimize fails, changes
    // nothing.
    let dir2 = tempfile::tempdir().unwrap();
    let (table, location) = small_file_table(&dir2).await;
    let read = table.snapshot().await.unwrap();
    let other = Table::open(&location).await.unwrap();
    other.overwrite([batch(0..2)]).await.unwrap();
    let err = table
        .optimize()
        .with_snapshot(read)
        .execute()
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err:?}");
    assert_eq!(latest(&location).await.num_files(), 2);
}

/// Files of random points `(a, b)` in `[0, 1000)²`, 16 files of 500 rows.
async fn scattered_points(dir: &tempfile::TempDir) -> Table {
    let schema = Arc::new(Schema::new(vec![
        Field::new("a", DataType::Int64, false),
        Field::new("b", DataType::Int64, false),
        Field::new("p", DataType::Utf8, true),
    ]));
    let table = Table::create(dir.path().join("z").to_str().unwrap())
        .with_arrow_schema(&schema)
        .unwrap()
        .execute()
        .await
        .unwrap();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % 1000) as i64
    };
    for _ in 0..16 {
        let (a, b): (Vec<i64>, Vec<i64>) = (0..500).map(|_| (next(), next())).unzip();
        let p: Vec<Option<String>> = (0..500).map(|i| Some(format!("p{i}"))).collect();
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(a)),
                Arc::new(Int64Array::from(b)),
                Arc::new(StringArray::from(p)),
            ],
        )
        .unwrap();
        table.append([batch]).await.unwrap();
    }
    table
}

/// Files a filter reads, and its rows.
async fn files_read(table: &Table, filter: &str) -> (u64, Vec<String>) {
    let snapshot = table.snapshot().await.unwrap();
    let plan = snapshot.scan().with_filter(filter).plan().await.unwrap();
    let files = plan.metrics().files_to_read;
    let rows = rendered(&snapshot.scan().with_filter(filter).collect().await.unwrap());
    (files, rows)
}

#[tokio::test]
async fn zorder_makes_filters_on_either_column_skip_files() {
    let dir = tempfile::tempdir().unwrap();
    let table = scattered_points(&dir).await;
    let size: i64 = table
        .snapshot()
        .await
        .unwrap()
        .files()
        .map(|f| f.size())
        .sum();
    let filters = ["b >= 100 AND b < 160", "a >= 700 AND a < 760"];
    let mut before = Vec::new();
    for f in filters {
        before.push(files_read(&table, f).await);
    }
    let result = table
        .optimize()
        .with_zorder(["a", "b"])
        .with_target_size((size / 16) as u64)
        .execute()
        .await
        .unwrap();
    assert_eq!(result.num_files_removed, 16);
    assert!(result.num_files_added >= 8, "{result:?}");
    for (f, (files_before, rows_before)) in filters.iter().zip(before) {
        let (files_after, rows_after) = files_read(&table, f).await;
        eprintln!("{f}: {files_before} files read before Z-order, {files_after} after");
        assert_eq!(rows_after, rows_before, "{f}: the same rows");
        assert_eq!(files_before, 16, "{f}: random points touch every file");
        assert!(
            files_after * 2 <= files_before,
            "{f}: {files_after} of {}",
            result.num_files_added
        );
    }
    let history = table.history(Some(1)).await.unwrap();
    let parameters = history[0].parameters.clone();
    assert_eq!(parameters["zOrderBy"], "[\"a\",\"b\"]", "{parameters:?}");
    // Refusals name the column.
    for (columns, what) in [(vec!["nope"], "not in the table"), (vec!["p", "a"], "")] {
        let r = table
            .optimize()
            .with_zorder(columns.clone())
            .execute()
            .await;
        if what.is_empty() {
            r.unwrap();
        } else {
            assert!(
                matches!(&r, Err(Error::InvalidArgument(m)) if m.contains(what)),
                "{r:?}"
            );
        }
    }
}
