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
