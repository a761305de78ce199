//! The change data feed: tables Spark wrote with `cdc` files (updates, deletes, a merge into
//! a partitioned table, column mapping) and with deletion vectors read as the commits describe
//! them, and as deltalake's `load_cdf` reads them where it can; tables strata writes with the
//! feed enabled read as deltalake reads them; a range the feed does not cover is refused.

use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use strata::{Error, Table};

use crate::deletion_vectors::spark_fixture;
use crate::support::python::changes_with_deltalake;
use crate::support::*;

/// The rows of change batches as `column=value` cells of the named columns, sorted; the
/// commit timestamp is left out (clients disagree on which clock it comes from).
fn change_rows(batches: &[RecordBatch], columns: &[&str]) -> Vec<String> {
    let options = FormatOptions::default().with_null("∅");
    let mut rows = Vec::new();
    for batch in batches {
        let formatters: Vec<ArrayFormatter> = columns
            .iter()
            .map(|c| {
                let column = batch
                    .column_by_name(c)
                    .unwrap_or_else(|| panic!("no column {c} in {:?}", batch.schema()));
                ArrayFormatter::try_new(column.as_ref(), &options).unwrap()
            })
            .collect();
        for row in 0..batch.num_rows() {
            let cells: Vec<String> = formatters
                .iter()
                .map(|f| f.value(row).to_string())
                .collect();
            rows.push(cells.join("|"));
        }
    }
    rows.sort();
    rows
}

fn expected(rows: &[&str]) -> Vec<String> {
    let mut rows: Vec<String> = rows.iter().map(|r| r.to_string()).collect();
    rows.sort();
    rows
}

async fn changes(location: &str, from: i64) -> Vec<RecordBatch> {
    Table::open(location)
        .await
        .unwrap()
        .changes()
        .from_version(from)
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{location}: {e}"))
}

#[tokio::test]
async fn cdc_files_are_the_changes_of_their_commits() {
    let table = spark_fixture("cdf-table-delete-conditional-two-rows");
    let rows = changes(table.to_str().unwrap(), 0).await;
    let cols = ["id", "_change_type", "_commit_version"];
    let inserts: Vec<String> = (0..10).map(|i| format!("{i}|insert|0")).collect();
    let mut want: Vec<&str> = inserts.iter().map(String::as_str).collect();
    want.extend(["8|delete|1", "2|delete|1"]);
    assert_eq!(change_rows(&rows, &cols), expected(&want));

    // Hand-made commits with their own change types, passed through as written.
    let table = spark_fixture("cdf-table-update-ops");
    let rows = changes(table.to_str().unwrap(), 1).await;
    let want: Vec<String> = (20..25)
        .map(|i| format!("{i}|update_pre|1"))
        .chain((30..35).map(|i| format!("{i}|update_post|2")))
        .collect();
    let want: Vec<&str> = want.iter().map(String::as_str).collect();
    assert_eq!(change_rows(&rows, &cols), expected(&want));
}

#[tokio::test]
async fn a_merge_and_a_delete_on_a_partitioned_table() {
    let table = spark_fixture("cdf-table-partitioned");
    let rows = changes(table.to_str().unwrap(), 0).await;
    let cols = ["id", "text", "part", "_change_type", "_commit_version"];
    assert_eq!(
        change_rows(&rows, &cols),
        expected(&[
            "0|old|0|insert|0",
            "2|old|0|insert|0",
            "1|old|1|insert|0",
            "4|old|0|insert|0",
            "3|old|1|insert|0",
            "5|old|1|insert|0",
            "3|old|1|delete|1",
            "1|old|1|update_preimage|1",
            "1|new|1|update_postimage|1",
            // No cdc files: the removed files are the deleted rows.
            "0|old|0|delete|2",
            "2|old|0|delete|2",
            "4|old|0|delete|2",
        ])
    );
}

#[tokio::test]
async fn column_mapped_tables_read_their_changes_with_logical_names_from_where_the_feed_starts() {
    let cols = ["id", "name", "value", "_change_type", "_commit_version"];
    for (name, want) in [
        (
            "cdf-column-mapping-name-mode",
            [
                "2|Bob|200.0|update_preimage|2",
                "2|Bob|250.0|update_postimage|2",
                "4|David|400.0|insert|3",
                "1|Alice|100.0|delete|4",
            ],
        ),
        (
            "cdf-column-mapping-id-mode",
            [
                "2|Frank|250.0|update_preimage|2",
                "2|Frank|275.0|update_postimage|2",
                "4|Henry|450.0|insert|3",
                "3|Grace|350.0|delete|4",
            ],
        ),
    ] {
        let location = spark_fixture(name);
        let location = location.to_str().unwrap();
        assert_eq!(
            change_rows(&changes(location, 1).await, &cols),
            expected(&want),
            "{name}"
        );
        // Version 0 predates `SET TBLPROPERTIES delta.enableChangeDataFeed = true`.
        let err = Table::open(location)
            .await
            .unwrap()
            .changes()
            .collect()
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::ChangeDataFeed { version: 0, .. })
                && err.to_string().contains("not enabled"),
            "{name}: {err}"
        );
    }
}

#[tokio::test]
async fn deletion_vectors_change_only_the_rows_they_newly_delete_as_deltalake_reads_them() {
    let location = spark_fixture("cdf-table-with-dv");
    let location = location.to_str().unwrap();
    let ours = changes(location, 0).await;
    let theirs = changes_with_deltalake(location, 0, None);
    let cols = ["value", "_change_type", "_commit_version"];
    assert_eq!(change_rows(&ours, &cols), change_rows(&theirs, &cols));
    assert!(!ours.is_empty());
}

fn ids(range: std::ops::Range<i64>) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
    RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from_iter_values(range))]).unwrap()
}

#[tokio::test]
async fn tables_strata_writes_with_the_feed_read_as_deltalake_reads_them() {
    let lake = TempLake::new();
    let table = Table::create(lake.table("cdf"))
        .with_arrow_schema(&ids(0..1).schema())
        .unwrap()
        .with_property("delta.enableChangeDataFeed", "true")
        .execute()
        .await
        .unwrap();
    table.append([ids(0..3)]).await.unwrap();
    table.append([ids(3..5)]).await.unwrap();
    table.overwrite([ids(10..12)]).await.unwrap();
    table.optimize().execute().await.unwrap(); // no data change: no rows in the feed
    let location = lake.table("cdf");
    let ours = changes(&location, 0).await;
    let cols = ["id", "_change_type", "_commit_version"];
    assert_eq!(
        change_rows(&ours, &cols),
        expected(&[
            "0|insert|1",
            "1|insert|1",
            "2|insert|1",
            "3|insert|2",
            "4|insert|2",
            "0|delete|3",
            "1|delete|3",
            "2|delete|3",
            "3|delete|3",
            "4|delete|3",
            "10|insert|3",
            "11|insert|3",
        ])
    );
    let theirs = changes_with_deltalake(&location, 0, None);
    assert_eq!(change_rows(&ours, &cols), change_rows(&theirs, &cols));

    // A range, columns and a filter; commit timestamps are the versions' times.
    let some = table
        .changes()
        .from_version(2)
        .to_version(3)
        .with_columns(["id"])
        .with_filter("id >= 3")
        .collect()
        .await
        .unwrap();
    assert_eq!(
        change_rows(&some, &cols),
        expected(&[
            "3|insert|2",
            "4|insert|2",
            "3|delete|3",
            "4|delete|3",
            "10|insert|3",
            "11|insert|3"
        ])
    );
    let names: Vec<String> = some[0]
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(
        names,
        ["id", "_change_type", "_commit_version", "_commit_timestamp"]
    );
    let v2 = table.snapshot_at_version(2).await.unwrap().timestamp();
    let by_time = table
        .changes()
        .from_timestamp(v2)
        .to_version(2)
        .collect()
        .await
        .unwrap();
    assert_eq!(
        change_rows(&by_time, &cols),
        expected(&["3|insert|2", "4|insert|2"])
    );
}

#[tokio::test]
async fn a_range_the_feed_does_not_cover_is_refused_by_version() {
    let lake = TempLake::new();
    let table = Table::create(lake.table("plain"))
        .with_arrow_schema(&ids(0..1).schema())
        .unwrap()
        .execute()
        .await
        .unwrap();
    table.append([ids(0..3)]).await.unwrap();
    let err = table.changes().collect().await.unwrap_err();
    assert!(
        matches!(err, Error::ChangeDataFeed { version: 0, .. }),
        "{err}"
    );
    let err = table
        .changes()
        .from_version(2)
        .to_version(1)
        .collect()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    let err = table
        .changes()
        .from_version(0)
        .to_version(7)
        .collect()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::VersionNotFound { .. }), "{err}");
}

/// Commits written within one millisecond (same file time): a version's timestamp is the one
/// time travel uses (one millisecond after its predecessor), so reading changes or a snapshot
/// from a version's own timestamp starts at that version.
#[tokio::test]
async fn commits_with_one_file_time_read_back_by_their_own_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().join("t").to_str().unwrap().to_string();
    let table = Table::create(location.as_str())
        .with_arrow_schema(&ids(0..1).schema())
        .unwrap()
        .with_property("delta.enableChangeDataFeed", "true")
        .execute()
        .await
        .unwrap();
    table.append([ids(0..3)]).await.unwrap(); // v1
    table.append([ids(3..5)]).await.unwrap(); // v2
    let same = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_790_000_000);
    for v in 0..=2 {
        let file = dir.path().join(format!("t/_delta_log/{v:020}.json"));
        std::fs::File::options()
            .write(true)
            .open(&file)
            .unwrap()
            .set_modified(same)
            .unwrap();
    }
    let table = Table::open(&location).await.unwrap();
    let v1 = table.snapshot_at_version(1).await.unwrap().timestamp();
    let v2 = table.snapshot_at_version(2).await.unwrap().timestamp();
    assert!(v2 > v1, "{v1} {v2}");
    assert_eq!(table.snapshot().await.unwrap().timestamp(), v2);
    assert_eq!(table.snapshot_at_timestamp(v2).await.unwrap().version(), 2);
    assert_eq!(table.snapshot_at_timestamp(v1).await.unwrap().version(), 1);
    let from_v2 = table
        .changes()
        .from_timestamp(v2)
        .to_version(2)
        .collect()
        .await
        .unwrap();
    assert_eq!(
        change_rows(&from_v2, &["id", "_change_type", "_commit_version"]),
        expected(&["3|insert|2", "4|insert|2"])
    );
}
