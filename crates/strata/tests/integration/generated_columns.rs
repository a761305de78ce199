//! Generated columns (`protocol/PROTOCOL.md#generated-columns`): computed on write when the
//! input lacks them, checked when it has them, recomputed by update, used to prune partitions
//! by filters on their source column, refused for writing when strata cannot evaluate them,
//! and read by DuckDB and deltalake as strata reads them.

use std::sync::Arc;

use arrow::array::{ArrayRef, Date32Array, Int64Array, RecordBatch, TimestampMicrosecondArray};
use strata::{Error, StructType, Table};

use crate::support::python::read_with;
use crate::support::*;

const HOUR_US: i64 = 3_600_000_000;
/// 2026-12-01T00:00:00Z in microseconds.
const DEC_1: i64 = 1_796_083_200_000_000;

fn events(ids: std::ops::Range<i64>, day: Option<Vec<i32>>) -> RecordBatch {
    let ts: Vec<i64> = ids.clone().map(|i| DEC_1 + i * 7 * HOUR_US).collect();
    let mut columns: Vec<(&str, ArrayRef)> = vec![
        ("id", Arc::new(Int64Array::from_iter_values(ids))),
        (
            "ts",
            Arc::new(TimestampMicrosecondArray::from(ts).with_timezone("UTC")),
        ),
    ];
    if let Some(day) = day {
        columns.push(("day", Arc::new(Date32Array::from(day))));
    }
    RecordBatch::try_from_iter(columns).unwrap()
}

async fn events_table(dir: &std::path::Path) -> (Table, String) {
    let location = dir.join("events").to_str().unwrap().to_string();
    let schema = StructType::from_ddl(
        "id long, ts timestamp, \
         day date NOT NULL GENERATED ALWAYS AS (CAST(ts AS DATE)), \
         year int GENERATED ALWAYS AS (year(ts))",
    )
    .unwrap();
    let table = Table::create(location.as_str())
        .with_schema(schema)
        .with_partition_columns(["day"])
        .execute()
        .await
        .unwrap();
    (table, location)
}

#[tokio::test]
async fn generated_columns_are_computed_checked_and_recomputed() {
    let dir = tempfile::tempdir().unwrap();
    let (table, location) = events_table(dir.path()).await;
    let snapshot = latest(&location).await;
    assert_eq!(
        snapshot.protocol().min_writer_version,
        4,
        "generatedColumns"
    );
    // 40 events 7 hours apart: 12 days of partitions.
    table.append(vec![events(0..40, None)]).await.unwrap();
    let snapshot = latest(&location).await;
    assert_eq!(snapshot.num_files(), 12);
    let rows = rendered_where(&snapshot, "id = 4").await;
    assert!(
        rows[0].contains("2026-12-02") && rows[0].contains("2026"),
        "{rows:?}"
    );
    // Provided values must agree with the expression (20561 is 2026-12-17, wrong for id 40).
    let day_of = |id: i64| ((DEC_1 + id * 7 * HOUR_US) / (24 * HOUR_US)) as i32;
    table
        .append(vec![events(40..41, Some(vec![day_of(40)]))])
        .await
        .unwrap();
    let err = table
        .append(vec![events(41..42, Some(vec![day_of(41) + 1]))])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::ConstraintViolation { constraint, .. } if constraint == "generated column day"),
        "{err}"
    );
    assert!(err.to_string().contains("CAST(ts AS DATE)"), "{err}");
    // An update of the source column moves the generated columns with it.
    table
        .update()
        .with_predicate("id = 0")
        .set("ts", "TIMESTAMP '2027-03-04 05:00:00'")
        .execute()
        .await
        .unwrap();
    let rows = rendered_where(&latest(&location).await, "id = 0").await;
    assert!(
        rows[0].contains("2027-03-04") && rows[0].contains("2027"),
        "{rows:?}"
    );
    for client in ["duckdb", "deltalake"] {
        let snapshot = latest(&location).await;
        assert_same_rows(
            &snapshot.scan().collect().await.unwrap(),
            &read_with(client, &location, None),
            &snapshot.arrow_schema(),
            client,
        );
    }
}

#[tokio::test]
async fn filters_on_the_source_column_prune_generated_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let (table, location) = events_table(dir.path()).await;
    table.append(vec![events(0..40, None)]).await.unwrap();
    let snapshot = latest(&location).await;
    let at = |hours: i64| DEC_1 + hours * HOUR_US;
    // (filter, partitions kept by the implied partition filter, rows): statistics on `ts`
    // may prune further (the Dec 3 file of `ts < Dec 3` starts at 01:00).
    let cases: [(&str, u64, RowTest); 6] = [
        (
            "ts >= TIMESTAMP '2026-12-10 00:00:00'",
            3,
            Box::new(move |t| t >= at(216)),
        ),
        (
            "ts < TIMESTAMP '2026-12-03 00:00:00'",
            3,
            Box::new(move |t| t < at(48)),
        ),
        (
            "ts > TIMESTAMP '2026-12-03 00:00:00' AND ts <= '2026-12-04 12:00:00'",
            2,
            Box::new(move |t| t > at(48) && t <= at(84)),
        ),
        (
            "ts = TIMESTAMP '2026-12-02 04:00:00'",
            1,
            Box::new(move |t| t == at(28)),
        ),
        (
            "ts BETWEEN '2026-12-05 00:00:00' AND '2026-12-05 23:00:00'",
            1,
            Box::new(move |t| t >= at(96) && t <= at(119)),
        ),
        (
            "ts <> TIMESTAMP '2026-12-02 04:00:00'",
            12,
            Box::new(move |t| t != at(28)),
        ),
    ];
    for (filter, files, holds) in cases {
        let plan = snapshot.scan().with_filter(filter).plan().await.unwrap();
        let metrics = plan.metrics();
        assert_eq!(
            metrics.files_considered - metrics.files_pruned_by_partition,
            files,
            "{filter}: {metrics:?}"
        );
        let mut got = ids_of(&plan.collect().await.unwrap());
        got.sort();
        let expected: Vec<i64> = (0..40).filter(|i| holds(at(i * 7))).collect();
        assert!(!expected.is_empty(), "{filter}");
        assert_eq!(got, expected, "{filter}");
    }
}

/// Which `ts` values (microseconds) a filter keeps.
type RowTest = Box<dyn Fn(i64) -> bool>;

fn ids_of(batches: &[RecordBatch]) -> Vec<i64> {
    batches
        .iter()
        .flat_map(|b| {
            b.column_by_name("id")
                .unwrap()
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .values()
                .to_vec()
        })
        .collect()
}

#[tokio::test]
async fn a_generation_expression_strata_cannot_evaluate_refuses_writes() {
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().join("t").to_str().unwrap().to_string();
    let schema = StructType::from_ddl(
        "id long, ts timestamp, ym string GENERATED ALWAYS AS (date_format(ts, 'yyyy-MM'))",
    )
    .unwrap();
    let table = Table::create(location.as_str())
        .with_schema(schema)
        .execute()
        .await
        .unwrap();
    let err = table.append(vec![events(0..2, None)]).await.unwrap_err();
    assert!(
        matches!(&err, Error::UnsupportedWriterFeatures { features, .. } if features[0].starts_with("generatedColumns (column ym")),
        "{err}"
    );
    assert_eq!(table.version().await.unwrap(), 0);
}
