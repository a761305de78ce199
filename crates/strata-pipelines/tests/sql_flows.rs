//! SQL transforms (feature `sql`): a silver flow deduplicating new bronze rows in SQL, a gold
//! aggregate recomputed in SQL, a join of two sources, and the same declared in
//! `pipeline.toml`. Each is checked against the Rust flows' models.

#![cfg(feature = "sql")]

mod common;

use std::collections::BTreeMap;

use strata_pipelines::{Expectation, Flow, Lake, PipelineFile, ReadMode, Sink, lineage_at};

use common::*;

/// The silver flow of `common`, in SQL over bronze's change feed: the last row of each id
/// among the new rows (by commit version), without null delays (an expectation), upserted.
fn sql_silver_flow() -> Flow {
    Flow::new("clean_flights_sql", "silver.flights")
        .source("bronze.flights", ReadMode::Changes)
        .expect(Expectation::drop("has_delay", "delay IS NOT NULL"))
        .sql(
            "SELECT id, carrier, delay FROM (
               SELECT *, row_number() OVER (PARTITION BY id ORDER BY _commit_version DESC) AS rn
               FROM bronze.flights WHERE _change_type IN ('insert', 'update_postimage')
             ) WHERE rn = 1",
        )
        .sink(Sink::Upsert {
            keys: vec!["id".into()],
        })
}

/// The gold flow of `common`, in SQL.
fn sql_gold_flow() -> Flow {
    Flow::new("delay_by_carrier_sql", "gold.delay_by_carrier")
        .source("silver.flights", ReadMode::Snapshot)
        .sql("SELECT carrier, count(*) AS flights, sum(delay) AS delay FROM silver.flights GROUP BY carrier")
        .sink(Sink::FullRefresh)
}

/// Bronze with its change feed on, for the SQL silver flow.
async fn bronze_with_feed(lake: &Lake) -> strata::Table {
    lake.create_table("bronze.flights")
        .unwrap()
        .with_arrow_schema(&schema())
        .unwrap()
        .with_property("delta.enableChangeDataFeed", "true")
        .execute()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn sql_flows_run_incrementally_with_the_query_in_the_lineage() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap());
    let bronze = bronze_with_feed(&lake).await;
    let mut landed = generated(0..100, 0);
    bronze.append([flights(&landed)]).await.unwrap();
    let first = sql_silver_flow().run(&lake).await.unwrap();
    assert_eq!(first.rows_read, 100);
    sql_gold_flow().run(&lake).await.unwrap();
    let silver = lake.table("silver.flights").await.unwrap();
    let gold = lake.table("gold.delay_by_carrier").await.unwrap();
    assert_eq!(rows_of(&silver).await, expected_silver(&landed));
    assert_eq!(gold_totals(&gold).await, totals_of(&rows_of(&silver).await));

    // Corrections, corrected again (the later commit wins), and new rows.
    let corrections = generated(10..20, 55);
    let again = generated(10..15, 77);
    let new = generated(100..130, 0);
    bronze.append([flights(&corrections)]).await.unwrap();
    bronze.append([flights(&again)]).await.unwrap();
    bronze.append([flights(&new)]).await.unwrap();
    landed.extend(corrections);
    landed.extend(again);
    landed.extend(new);
    let second = sql_silver_flow().run(&lake).await.unwrap();
    assert_eq!(second.rows_read, 45, "only the new rows are read");
    sql_gold_flow().run(&lake).await.unwrap();
    assert_eq!(rows_of(&silver).await, expected_silver(&landed));
    assert_eq!(gold_totals(&gold).await, totals_of(&rows_of(&silver).await));

    // Nothing new: nothing committed.
    let version = silver.version().await.unwrap();
    assert!(sql_silver_flow().run(&lake).await.unwrap().up_to_date);
    assert_eq!(silver.version().await.unwrap(), version);

    // The query is in the lineage, with the source's range.
    let lineage = lineage_at(&silver, version).await.unwrap().unwrap();
    assert!(lineage.query.as_deref().unwrap().contains("row_number()"));
    assert_eq!(lineage.sources[0].to_version, 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sql_flow_joins_two_sources_and_sees_empty_sources_with_their_schema() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap());
    let bronze = bronze_with_feed(&lake).await;
    bronze
        .append([flights(&generated(0..30, 0))])
        .await
        .unwrap();
    sql_silver_flow().run(&lake).await.unwrap();
    let names = lake
        .create_table("silver.carriers")
        .unwrap()
        .with_arrow_schema(&arrow::datatypes::Schema::new(vec![
            arrow::datatypes::Field::new("code", arrow::datatypes::DataType::Utf8, false),
            arrow::datatypes::Field::new("name", arrow::datatypes::DataType::Utf8, false),
        ]))
        .unwrap()
        .execute()
        .await
        .unwrap();
    let joined = || {
        Flow::new("named", "gold.named")
            .source("silver.flights", ReadMode::Snapshot)
            .source("silver.carriers", ReadMode::Snapshot)
            .sql(
                "SELECT f.carrier, coalesce(c.name, 'unknown') AS name, count(*) AS flights
                 FROM silver.flights f LEFT JOIN silver.carriers c ON f.carrier = c.code
                 GROUP BY f.carrier, c.name",
            )
            .sink(Sink::FullRefresh)
    };
    // The carriers table is empty: its table still has its columns.
    joined().run(&lake).await.unwrap();
    let gold = lake.table("gold.named").await.unwrap();
    let rows = named(&gold).await;
    assert_eq!(rows.len(), 3);
    assert!(rows.values().all(|(name, _)| name == "unknown"), "{rows:?}");
    names
        .append([arrow::array::RecordBatch::try_new(
            names.snapshot().await.unwrap().arrow_schema(),
            vec![
                std::sync::Arc::new(arrow::array::StringArray::from(vec!["AA", "DL"])),
                std::sync::Arc::new(arrow::array::StringArray::from(vec!["American", "Delta"])),
            ],
        )
        .unwrap()])
        .await
        .unwrap();
    joined().run(&lake).await.unwrap();
    let rows = named(&gold).await;
    assert_eq!(rows["AA"].0, "American");
    assert_eq!(rows["UA"].0, "unknown");
    assert_eq!(rows.values().map(|(_, n)| n).sum::<i64>(), 30 - 2); // two null delays dropped
}

async fn named(table: &strata::Table) -> BTreeMap<String, (String, i64)> {
    use arrow::array::AsArray;
    use arrow::datatypes::Int64Type;
    let mut out = BTreeMap::new();
    for b in table
        .snapshot()
        .await
        .unwrap()
        .scan()
        .collect()
        .await
        .unwrap()
    {
        let carriers = b.column(0).as_string::<i32>();
        let names = b.column(1).as_string::<i32>();
        let flights = b.column(2).as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            out.insert(
                carriers.value(i).to_string(),
                (names.value(i).to_string(), flights.value(i)),
            );
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gold_aggregate_declared_in_pipeline_toml_runs_in_sql() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap());
    let bronze = bronze(&lake).await;
    let landed = generated(0..60, 0);
    bronze.append([flights(&landed)]).await.unwrap();
    let toml = r#"
[[flow]]
name = "clean"
target = "silver.flights"
sink = "upsert"
keys = ["id"]
source = { table = "bronze.flights", read = "appends" }
expect = [{ name = "has_delay", predicate = "delay IS NOT NULL", action = "drop" }]

[[flow]]
name = "totals"
target = "gold.delay_by_carrier"
sink = "full_refresh"
source = { table = "silver.flights", read = "snapshot" }
sql = "SELECT carrier, count(*) AS flights, sum(delay) AS delay FROM silver.flights GROUP BY carrier"
"#;
    let pipeline = PipelineFile::parse("pipeline.toml", toml)
        .unwrap()
        .pipeline("pipeline.toml")
        .unwrap();
    pipeline.run_once(&lake).await.unwrap();
    let silver = lake.table("silver.flights").await.unwrap();
    let gold = lake.table("gold.delay_by_carrier").await.unwrap();
    assert_eq!(rows_of(&silver).await, expected_silver(&landed));
    assert_eq!(gold_totals(&gold).await, totals_of(&rows_of(&silver).await));
    // A gold table takes data only with lineage: the SQL flow recorded it.
    let lineage = lineage_at(&gold, gold.version().await.unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(lineage.flow, "totals");

    // `where` with `sql` is refused, naming the flow.
    let bad = toml.replace("sql = ", "where = \"delay > 0\"\nsql = ");
    let err = PipelineFile::parse("pipeline.toml", &bad).unwrap_err();
    assert!(err.to_string().contains("totals"), "{err}");
}
