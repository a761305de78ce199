//! What the pipeline tests share: flight-shaped rows, the silver and gold flows of a small
//! medallion pipeline, and models of what each layer must hold.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, AsArray, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};
use strata::Table;
use strata_pipelines::{Expectation, Flow, Lake, ReadMode, Sink};

pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("carrier", DataType::Utf8, false),
        Field::new("delay", DataType::Int64, true),
    ]))
}

/// Flights `(id, carrier, delay)`.
pub fn flights(rows: &[(i64, &str, Option<i64>)]) -> RecordBatch {
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
            Arc::new(Int64Array::from(
                rows.iter().map(|r| r.2).collect::<Vec<_>>(),
            )),
        ],
    )
    .unwrap()
}

pub fn generated(ids: std::ops::Range<i64>, shift: i64) -> Vec<(i64, &'static str, Option<i64>)> {
    const CARRIERS: [&str; 3] = ["AA", "DL", "UA"];
    ids.map(|i| {
        let delay = (i % 17 != 0).then_some((i * 7 + shift) % 200);
        (i, CARRIERS[(i % 3) as usize], delay)
    })
    .collect()
}

pub async fn bronze(lake: &Lake) -> Table {
    lake.create_table("bronze.flights")
        .unwrap()
        .with_arrow_schema(&schema())
        .unwrap()
        .execute()
        .await
        .unwrap()
}

/// `id -> (carrier, delay)` of every row of a table.
pub async fn rows_of(table: &Table) -> BTreeMap<i64, (String, Option<i64>)> {
    rows_at(&table.snapshot().await.unwrap()).await
}

/// `id -> (carrier, delay)` of every row of a snapshot; panics on a duplicate id.
pub async fn rows_at(snapshot: &strata::Snapshot) -> BTreeMap<i64, (String, Option<i64>)> {
    let batches = snapshot.scan().collect().await.unwrap();
    let mut rows = BTreeMap::new();
    for b in &batches {
        let ids = b.column_by_name("id").unwrap().as_primitive::<Int64Type>();
        let carriers = b.column_by_name("carrier").unwrap().as_string::<i32>();
        let delays = b
            .column_by_name("delay")
            .unwrap()
            .as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            let delay = delays.is_valid(i).then(|| delays.value(i));
            let old = rows.insert(ids.value(i), (carriers.value(i).to_string(), delay));
            assert!(old.is_none(), "id {} twice", ids.value(i));
        }
    }
    rows
}

/// The silver flow: bronze's new rows, the last of each id, without null delays.
pub fn silver_flow() -> Flow {
    Flow::new("clean_flights", "silver.flights")
        .source("bronze.flights", ReadMode::Appends)
        .expect(Expectation::drop("has_delay", "delay IS NOT NULL"))
        .expect(Expectation::warn("not_late", "delay < 150"))
        .transform(|input| {
            let mut last: BTreeMap<i64, (String, Option<i64>)> = BTreeMap::new();
            for b in input.rows("bronze.flights") {
                let ids = b.column(0).as_primitive::<Int64Type>();
                let carriers = b.column(1).as_string::<i32>();
                let delays = b.column(2).as_primitive::<Int64Type>();
                for i in 0..b.num_rows() {
                    let delay = delays.is_valid(i).then(|| delays.value(i));
                    last.insert(ids.value(i), (carriers.value(i).to_string(), delay));
                }
            }
            let rows: Vec<(i64, &str, Option<i64>)> = last
                .iter()
                .map(|(id, (c, d))| (*id, c.as_str(), *d))
                .collect();
            Ok(vec![flights(&rows)])
        })
        .transform_version("v1")
        .sink(Sink::Upsert {
            keys: vec!["id".into()],
        })
}

/// The gold flow: flights and total delay per carrier, recomputed from silver.
pub fn gold_flow() -> Flow {
    Flow::new("delay_by_carrier", "gold.delay_by_carrier")
        .source("silver.flights", ReadMode::Snapshot)
        .transform(|input| {
            let mut totals: BTreeMap<String, (i64, i64)> = BTreeMap::new();
            for b in input.rows("silver.flights") {
                let carriers = b.column_by_name("carrier").unwrap().as_string::<i32>();
                let delays = b
                    .column_by_name("delay")
                    .unwrap()
                    .as_primitive::<Int64Type>();
                for i in 0..b.num_rows() {
                    let t = totals.entry(carriers.value(i).to_string()).or_default();
                    t.0 += 1;
                    t.1 += delays.value(i);
                }
            }
            Ok(vec![gold_batch(&totals)])
        })
        .sink(Sink::FullRefresh)
}

pub fn gold_batch(totals: &BTreeMap<String, (i64, i64)>) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("carrier", DataType::Utf8, false),
        Field::new("flights", DataType::Int64, false),
        Field::new("total_delay", DataType::Int64, false),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from_iter_values(totals.keys())),
            Arc::new(Int64Array::from_iter_values(totals.values().map(|t| t.0))),
            Arc::new(Int64Array::from_iter_values(totals.values().map(|t| t.1))),
        ],
    )
    .unwrap()
}

/// What silver must hold: the last bronze row of each id, where its delay is not null.
pub fn expected_silver(
    bronze_rows: &[(i64, &str, Option<i64>)],
) -> BTreeMap<i64, (String, Option<i64>)> {
    let mut model = BTreeMap::new();
    for (id, carrier, delay) in bronze_rows {
        if delay.is_some() {
            model.insert(*id, (carrier.to_string(), *delay));
        }
    }
    model
}

pub async fn gold_totals(table: &Table) -> BTreeMap<String, (i64, i64)> {
    gold_totals_at(&table.snapshot().await.unwrap()).await
}

/// Gold's rows at a snapshot.
pub async fn gold_totals_at(snapshot: &strata::Snapshot) -> BTreeMap<String, (i64, i64)> {
    let mut totals = BTreeMap::new();
    for b in snapshot.scan().collect().await.unwrap() {
        let carriers = b.column(0).as_string::<i32>();
        let flights = b.column(1).as_primitive::<Int64Type>();
        let delays = b.column(2).as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            totals.insert(
                carriers.value(i).to_string(),
                (flights.value(i), delays.value(i)),
            );
        }
    }
    totals
}

pub fn totals_of(silver: &BTreeMap<i64, (String, Option<i64>)>) -> BTreeMap<String, (i64, i64)> {
    let mut totals: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for (carrier, delay) in silver.values() {
        let t = totals.entry(carrier.clone()).or_default();
        t.0 += 1;
        t.1 += delay.unwrap_or(0);
    }
    totals
}

/// A flow that copies bronze's new rows to `silver.raw` (append: a range applied twice would
/// show as duplicate rows), quarantining delays of 180 and more to `silver.raw_quarantine`.
pub fn copy_flow() -> Flow {
    Flow::new("raw_copy", "silver.raw")
        .source("bronze.flights", ReadMode::Appends)
        .expect(Expectation::quarantine(
            "plausible_delay",
            "delay IS NULL OR delay < 180",
        ))
        .transform(|input| Ok(input.rows("bronze.flights").to_vec()))
}

/// Whether [`copy_flow`] quarantines a row.
pub fn quarantined(row: &(i64, &str, Option<i64>)) -> bool {
    row.2.is_some_and(|d| d >= 180)
}

/// Every row of a snapshot as `(id, carrier, delay)`, sorted (duplicates kept).
pub async fn row_list_at(snapshot: &strata::Snapshot) -> Vec<(i64, String, Option<i64>)> {
    let mut rows = Vec::new();
    for b in snapshot.scan().collect().await.unwrap() {
        let ids = b.column_by_name("id").unwrap().as_primitive::<Int64Type>();
        let carriers = b.column_by_name("carrier").unwrap().as_string::<i32>();
        let delays = b
            .column_by_name("delay")
            .unwrap()
            .as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            let delay = delays.is_valid(i).then(|| delays.value(i));
            rows.push((ids.value(i), carriers.value(i).to_string(), delay));
        }
    }
    rows.sort();
    rows
}

/// Silver with its change feed on, for [`incremental_gold_flow`].
pub fn silver_flow_with_feed() -> Flow {
    silver_flow().target_property("delta.enableChangeDataFeed", "true")
}

/// Gold kept incrementally: silver's changes since the last run (inserts and post-images add a
/// flight and its delay, deletes and pre-images take them away) added to the stored totals of
/// the carriers they touch, upserted by carrier.
pub fn incremental_gold_flow() -> Flow {
    Flow::new("delay_by_carrier_incremental", "gold.delay_by_carrier_inc")
        .source("silver.flights", ReadMode::Changes)
        .reading_target()
        .transform(|input| {
            let mut totals: BTreeMap<String, (i64, i64)> = BTreeMap::new();
            for b in input.target() {
                let carriers = b.column(0).as_string::<i32>();
                let flights = b.column(1).as_primitive::<Int64Type>();
                let delays = b.column(2).as_primitive::<Int64Type>();
                for i in 0..b.num_rows() {
                    totals.insert(
                        carriers.value(i).to_string(),
                        (flights.value(i), delays.value(i)),
                    );
                }
            }
            let mut touched = std::collections::BTreeSet::new();
            for b in input.rows("silver.flights") {
                let carriers = b.column_by_name("carrier").unwrap().as_string::<i32>();
                let delays = b
                    .column_by_name("delay")
                    .unwrap()
                    .as_primitive::<Int64Type>();
                let kinds = b.column_by_name("_change_type").unwrap().as_string::<i32>();
                for i in 0..b.num_rows() {
                    let sign = match kinds.value(i) {
                        "insert" | "update_postimage" => 1,
                        _ => -1,
                    };
                    let carrier = carriers.value(i).to_string();
                    let t = totals.entry(carrier.clone()).or_default();
                    t.0 += sign;
                    t.1 += sign * delays.value(i);
                    touched.insert(carrier);
                }
            }
            totals.retain(|c, _| touched.contains(c));
            Ok(vec![gold_batch(&totals)])
        })
        .sink(Sink::Upsert {
            keys: vec!["carrier".into()],
        })
}

/// The seeds a seeded test runs: `ONE=<n>` replays one, `MANY=<n>` runs `0..n`, else
/// `0..default`.
pub fn seeds(one: &str, many: &str, default: u64) -> Vec<u64> {
    if let Ok(seed) = std::env::var(one) {
        return vec![seed.parse().unwrap_or_else(|_| panic!("{one}=<n>"))];
    }
    let n = std::env::var(many)
        .ok()
        .map(|n| n.parse().unwrap_or_else(|_| panic!("{many}=<n>")))
        .unwrap_or(default);
    (0..n).collect()
}

/// Runs `seed`'s test; a panic is re-raised naming the seed and how to replay it.
pub async fn with_seed<T, F>(seed: u64, replay: &str, test: F) -> T
where
    F: std::future::Future<Output = T>,
{
    use futures::FutureExt;
    match std::panic::AssertUnwindSafe(test).catch_unwind().await {
        Ok(value) => value,
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!(
                "seed {seed} failed: {message}\nreplay: {replay}={seed} cargo test -p strata-pipelines"
            )
        }
    }
}
