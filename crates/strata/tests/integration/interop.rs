//! The Python `deltalake` package (delta-rs) as a second client, both directions, at every
//! version. The venv is made on first use under `target/` (see `support/python.rs`); if it
//! cannot be made these tests fail rather than skip.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use strata::Table;

use crate::fixtures::assert_matches_dump;
use crate::support::python::interop;
use crate::support::*;

fn dump(table: &Path, out: &Path) {
    interop(&["dump", table.to_str().unwrap(), out.to_str().unwrap()]);
}

/// deltalake writes `scenario`; strata reads every version identically to deltalake.
async fn strata_reads_deltalake(scenario: &str) {
    let lake = TempLake::new();
    let table = lake.table_path(scenario);
    interop(&["write", scenario, table.to_str().unwrap()]);
    let out = lake.path().join("dump");
    dump(&table, &out);
    assert_matches_dump(&table, &out).await;
}

#[tokio::test]
async fn strata_reads_deltalake_appends() {
    strata_reads_deltalake("appends").await;
}

#[tokio::test]
async fn strata_reads_deltalake_all_types() {
    strata_reads_deltalake("all_types").await;
}

#[tokio::test]
async fn strata_reads_deltalake_partitions_with_special_characters() {
    strata_reads_deltalake("partitioned_special").await;
}

#[tokio::test]
async fn strata_reads_deltalake_overwrite() {
    strata_reads_deltalake("overwrite").await;
}

#[tokio::test]
async fn strata_reads_deltalake_delete() {
    strata_reads_deltalake("delete").await;
}

#[tokio::test]
async fn strata_reads_deltalake_date_and_timestamp_partitions() {
    strata_reads_deltalake("partitioned_dates").await;
}

#[tokio::test]
async fn strata_reads_deltalake_checkpointed_table() {
    let lake = TempLake::new();
    let table = lake.table_path("checkpointed");
    interop(&["write", "checkpointed", table.to_str().unwrap()]);
    assert!(
        table
            .join("_delta_log/00000000000000000100.checkpoint.parquet")
            .exists()
    );
    let out = lake.path().join("dump");
    dump(&table, &out);
    assert_matches_dump(&table, &out).await;
    // Opening the latest version goes through the checkpoint and `_last_checkpoint`.
    let latest = Table::open(table.to_str().unwrap())
        .await
        .unwrap()
        .snapshot()
        .await
        .unwrap();
    assert!(latest.version() > 100);
}

#[tokio::test]
async fn deltalake_reads_strata_tables_with_every_type() {
    let lake = TempLake::new();
    let location = lake.table("types");
    let table = Table::create(&location)
        .with_arrow_schema(&all_types_schema())
        .unwrap()
        .execute()
        .await
        .unwrap();
    table.append([all_types(0, 10)]).await.unwrap();
    table
        .append([all_types(10, 5), all_types(15, 3)])
        .await
        .unwrap();
    table.overwrite([all_types(100, 4)]).await.unwrap();
    table.append([all_types(200, 6)]).await.unwrap();
    let out = lake.path().join("dump");
    dump(Path::new(&location), &out);
    assert_matches_dump(Path::new(&location), &out).await;
}

#[tokio::test]
async fn deltalake_reads_strata_partitioned_tables() {
    let lake = TempLake::new();
    let location = lake.table("parts");
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("p", DataType::Utf8, true),
        Field::new("n", DataType::Int64, true),
        Field::new("d", DataType::Date32, true),
    ]));
    let table = Table::create(&location)
        .with_arrow_schema(&schema)
        .unwrap()
        .with_partition_columns(["p", "n", "d"])
        .execute()
        .await
        .unwrap();
    let ps = [
        Some("a b"),
        Some("a/b"),
        Some("x=y"),
        Some("100%"),
        Some("ümlaut"),
        Some("a:b"),
        Some("#h"),
        None,
    ];
    for round in 0..3i64 {
        let n = ps.len();
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(
                    (0..n as i64).map(|i| round * 100 + i).collect::<Vec<_>>(),
                )),
                Arc::new(StringArray::from(ps.to_vec())),
                Arc::new(Int64Array::from(
                    (0..n as i64)
                        .map(|i| (i % 3 != 0).then_some(i - round))
                        .collect::<Vec<_>>(),
                )),
                Arc::new(arrow::array::Date32Array::from(
                    (0..n as i32)
                        .map(|i| (i % 2 == 0).then_some(19_000 + i))
                        .collect::<Vec<_>>(),
                )),
            ],
        )
        .unwrap();
        if round == 2 {
            table.overwrite([batch]).await.unwrap();
        } else {
            table.append([batch]).await.unwrap();
        }
    }
    let out = lake.path().join("dump");
    dump(Path::new(&location), &out);
    assert_matches_dump(Path::new(&location), &out).await;
}
