//! Every table of `fixtures/spark/` (written by Spark and Databricks) reads at every version
//! exactly as DuckDB's `delta_scan` (delta-kernel-rs) reads it; the two DuckDB cannot read (a
//! `void` column, a `variant` column) read as deltalake reads them and as the rows Spark wrote.

use strata::{Error, Table};

use crate::deletion_vectors::spark_fixture;
use crate::support::python::read_with;
use crate::support::*;

/// The fixtures DuckDB reads (every one but the `void` and `variant` tables).
pub(crate) const TABLES: &[&str] = &[
    "cdf-column-mapping-id-mode",
    "cdf-column-mapping-name-mode",
    "cdf-table-delete-conditional-two-rows",
    "cdf-table-partitioned",
    "cdf-table-update-ops",
    "cdf-table-with-dv",
    "compacted-log-files-table",
    "external-table-different-nullability",
    "type-widening",
    "with-short-dv",
];

/// Every fixture table.
pub(crate) fn all_tables() -> impl Iterator<Item = &'static str> {
    TABLES
        .iter()
        .copied()
        .chain(["unshredded-variant", "void-column"])
}

#[tokio::test]
async fn every_spark_fixture_reads_as_duckdb_reads_it_at_every_version() {
    let mut failures = Vec::new();
    for name in TABLES {
        let location = spark_fixture(name);
        let location = location.to_str().unwrap();
        let table = match Table::open(location).await {
            Ok(t) => t,
            Err(e) => {
                failures.push(format!("{name}: open: {e}"));
                continue;
            }
        };
        let latest = table.version().await.unwrap();
        for version in 0..=latest {
            let snapshot = match table.snapshot_at_version(version).await {
                Ok(s) => s,
                Err(Error::VersionNotFound { .. }) => continue,
                Err(e) => {
                    failures.push(format!("{name} v{version}: {e}"));
                    continue;
                }
            };
            let ours = match snapshot.scan().collect().await {
                Ok(rows) => rows,
                Err(e) => {
                    failures.push(format!("{name} v{version}: scan: {e}"));
                    continue;
                }
            };
            let theirs = read_with("duckdb", location, Some(version));
            let schema = snapshot.arrow_schema();
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                assert_same_rows(&ours, &theirs, &schema, &format!("{name} v{version}"))
            }));
            if let Err(e) = result {
                let text = e
                    .downcast_ref::<String>()
                    .cloned()
                    .unwrap_or_else(|| "panic".into());
                failures.push(format!("{name} v{version}: {text}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn a_void_column_reads_as_nulls_as_deltalake_reads_it() {
    let location = spark_fixture("void-column");
    let location = location.to_str().unwrap();
    let snapshot = latest(location).await;
    let rows = snapshot.scan().collect().await.unwrap();
    let schema = snapshot.arrow_schema();
    assert_eq!(
        schema.field(1).data_type(),
        &arrow::datatypes::DataType::Null
    );
    assert_eq!(num_rows(&rows), 3);
    assert_same_rows(
        &rows,
        &read_with("deltalake", location, None),
        &schema,
        "void-column",
    );
}

/// The cells of each row of an Arrow pretty-printed table, sorted: an order-insensitive
/// form of `unshredded-variant.expected.in` (the rows delta-kernel-rs's tests expect).
fn pretty_rows(lines: impl Iterator<Item = String>) -> Vec<Vec<String>> {
    let mut rows: Vec<Vec<String>> = lines
        .filter(|l| l.starts_with('|'))
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect();
    rows.remove(0); // the header
    rows.sort();
    rows
}

#[tokio::test]
async fn variant_columns_read_as_metadata_and_value_binaries_as_spark_wrote_them() {
    let location = spark_fixture("unshredded-variant");
    let snapshot = latest(location.to_str().unwrap()).await;
    let rows = snapshot.scan().collect().await.unwrap();
    let ours = arrow::util::pretty::pretty_format_batches(&rows)
        .unwrap()
        .to_string();
    let expected =
        std::fs::read_to_string(spark_fixture("unshredded-variant.expected.in")).unwrap();
    let expected = expected
        .lines()
        .map(|l| l.trim().trim_end_matches(',').trim_matches('"').to_string());
    let ours_rows = pretty_rows(ours.lines().map(str::to_string));
    let expected_rows = pretty_rows(expected);
    assert!(!expected_rows.is_empty());
    assert_eq!(ours_rows.len(), expected_rows.len());
    assert_eq!(ours_rows, expected_rows);
}
