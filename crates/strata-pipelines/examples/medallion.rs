//! The README's "run the main job": a medallion pipeline over flight records on a local lake.
//!
//! `cargo run --example medallion [LAKE_DIR]` (default `./target/medallion-lake`; its bronze,
//! silver, gold and `_strata` directories are replaced). It:
//! 1. lands three months of raw flights in `bronze.flights`, one commit per batch;
//! 2. runs the pipeline after each: `silver.flights` upserts the new rows by id (dropping
//!    cancelled flights, quarantining impossible delays), `gold.delays` aggregates silver by
//!    carrier and month; each run reads only what is new, exactly once;
//! 3. lands late corrections from the source system, which the next run upserts;
//! 4. commits a bad gold run (a transform bug), rolls it back and recomputes;
//! 5. pins silver and gold for a training run, lands more data, and reads the pin back
//!    unchanged;
//! 6. prints the lineage of gold and the lake's tables.
//!
//! Every table is a Delta table: `strata tables target/medallion-lake`, `strata lineage
//! target/medallion-lake/gold/delays`, deltalake or Spark read them.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{
    Array, AsArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
};
use arrow::datatypes::{DataType, Field, Int32Type, Int64Type, Schema, SchemaRef};
use strata_pipelines::{
    Expectation, Flow, FlowInput, Lake, Pipeline, ReadMode, Sink, walk_lineage,
};

type Error = Box<dyn std::error::Error + Send + Sync>;

const CARRIERS: [&str; 5] = ["AA", "B6", "DL", "UA", "WN"];
const ORIGINS: [&str; 3] = ["EWR", "JFK", "LGA"];

fn flight_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("month", DataType::Int32, false),
        Field::new("carrier", DataType::Utf8, false),
        Field::new("origin", DataType::Utf8, false),
        Field::new("dep_delay", DataType::Int64, true),
    ]))
}

/// A month of flights: ids `month * 100_000 + i`; about 2% cancelled (no delay) and a few
/// impossible delays, as raw feeds have.
fn month_of_flights(month: i32, flights: i64, seed: u64) -> Result<RecordBatch, Error> {
    let mut state = seed ^ (month as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let (mut ids, mut carriers, mut origins, mut delays) = (vec![], vec![], vec![], vec![]);
    for i in 0..flights {
        ids.push(month as i64 * 100_000 + i);
        carriers.push(CARRIERS[(next() % 5) as usize]);
        origins.push(ORIGINS[(next() % 3) as usize]);
        delays.push(match next() % 200 {
            0..=3 => None,                            // cancelled
            4 => Some(99_999),                        // a sensor glitch
            r @ 5..=159 => Some((r as i64 % 25) - 8), // on time
            r => Some(15 + (r as i64 - 160) * 5),     // delayed
        });
    }
    Ok(RecordBatch::try_new(
        flight_schema(),
        vec![
            Arc::new(Int64Array::from(ids)),
            Arc::new(Int32Array::from(vec![month; flights as usize])),
            Arc::new(StringArray::from(carriers)),
            Arc::new(StringArray::from(origins)),
            Arc::new(Int64Array::from(delays)),
        ],
    )?)
}

/// Silver's transform: the newest bronze row of each flight id.
fn latest_per_id(input: &FlowInput) -> Result<Vec<RecordBatch>, Error> {
    let rows = input.rows("bronze.flights");
    let mut last: BTreeMap<i64, (usize, usize)> = BTreeMap::new();
    for (b, batch) in rows.iter().enumerate() {
        let ids = batch.column(0).as_primitive::<Int64Type>();
        for i in 0..batch.num_rows() {
            last.insert(ids.value(i), (b, i));
        }
    }
    let picks: Vec<(usize, usize)> = last.into_values().collect();
    let batches: Vec<&RecordBatch> = rows.iter().collect();
    let columns = (0..flight_schema().fields().len())
        .map(|c| {
            let arrays: Vec<&dyn Array> = batches.iter().map(|b| b.column(c).as_ref()).collect();
            arrow::compute::interleave(&arrays, &picks)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(vec![RecordBatch::try_new(flight_schema(), columns)?])
}

/// Gold's transform: flights, average departure delay and share delayed over 15 minutes, by
/// carrier and month. `unit` scales the delays (the bug of step 4 uses 60).
fn delays_by_carrier(input: &FlowInput, unit: f64) -> Result<Vec<RecordBatch>, Error> {
    let mut groups: BTreeMap<(String, i32), (i64, i64, i64)> = BTreeMap::new();
    for batch in input.rows("silver.flights") {
        let months = batch.column(1).as_primitive::<Int32Type>();
        let carriers = batch.column(2).as_string::<i32>();
        let delays = batch.column(4).as_primitive::<Int64Type>();
        for i in 0..batch.num_rows() {
            let g = groups
                .entry((carriers.value(i).to_string(), months.value(i)))
                .or_default();
            g.0 += 1;
            g.1 += delays.value(i);
            g.2 += i64::from(delays.value(i) > 15);
        }
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("carrier", DataType::Utf8, false),
        Field::new("month", DataType::Int32, false),
        Field::new("flights", DataType::Int64, false),
        Field::new("avg_dep_delay", DataType::Float64, false),
        Field::new("share_delayed", DataType::Float64, false),
    ]));
    let stats = groups.values();
    Ok(vec![RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from_iter_values(
                groups.keys().map(|k| k.0.as_str()),
            )),
            Arc::new(Int32Array::from_iter_values(groups.keys().map(|k| k.1))),
            Arc::new(Int64Array::from_iter_values(stats.clone().map(|s| s.0))),
            Arc::new(Float64Array::from_iter_values(
                stats.clone().map(|s| s.1 as f64 * unit / s.0 as f64),
            )),
            Arc::new(Float64Array::from_iter_values(
                stats.map(|s| s.2 as f64 / s.0 as f64),
            )),
        ],
    )?])
}

fn silver_flow() -> Flow {
    Flow::new("clean_flights", "silver.flights")
        .source("bronze.flights", ReadMode::Appends)
        .expect(Expectation::drop("not_cancelled", "dep_delay IS NOT NULL"))
        .expect(Expectation::quarantine(
            "plausible_delay",
            "dep_delay < 1440",
        ))
        .expect(Expectation::warn("on_time", "dep_delay <= 15"))
        .transform(latest_per_id)
        .transform_version("clean-v1")
        .sink(Sink::Upsert {
            keys: vec!["id".into()],
        })
}

fn gold_flow(version: &str, unit: f64) -> Flow {
    Flow::new("delays_by_carrier", "gold.delays")
        .source("silver.flights", ReadMode::Snapshot)
        .transform(move |input| delays_by_carrier(input, unit))
        .transform_version(version)
        .sink(Sink::FullRefresh)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let root = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "target/medallion-lake".into());
    for dir in ["bronze", "silver", "gold", "_strata"] {
        let _ = std::fs::remove_dir_all(format!("{root}/{dir}"));
    }
    let lake = Lake::open(root.as_str());
    let bronze = lake
        .create_table("bronze.flights")?
        .with_arrow_schema(&flight_schema())?
        .with_partition_columns(["month"])
        .with_description("raw flights as landed by the ingest job")
        .execute()
        .await?;
    let pipeline = Pipeline::new()
        .flow(silver_flow())
        .flow(gold_flow("agg-v1", 1.0));

    println!("== 1-2. three months land in bronze; the pipeline runs after each");
    for month in 1..=3 {
        let landed = bronze.append([month_of_flights(month, 5_000, 7)?]).await?;
        println!("bronze v{}: month {month}, 5,000 flights", landed.version);
        print!("{}", pipeline.run_once(&lake).await?);
    }
    let idle = pipeline.run_once(&lake).await?;
    print!("nothing new:\n{idle}");

    println!("\n== 3. late corrections from the source system");
    let mut corrections = month_of_flights(2, 300, 99)?;
    let delays: Int64Array = (0..300).map(|i| Some(120 + i)).collect();
    corrections = RecordBatch::try_new(
        flight_schema(),
        vec![
            corrections.column(0).clone(),
            corrections.column(1).clone(),
            corrections.column(2).clone(),
            corrections.column(3).clone(),
            Arc::new(delays),
        ],
    )?;
    bronze.append([corrections]).await?;
    print!("{}", pipeline.run_once(&lake).await?);

    println!("\n== 4. a bad gold run, rolled back, recomputed");
    bronze.append([month_of_flights(4, 1_000, 7)?]).await?;
    silver_flow().run(&lake).await?;
    let bad = gold_flow("agg-v2-bug", 60.0).run(&lake).await?;
    println!("bad run (delays in seconds): {bad}");
    let gold = lake.table("gold.delays").await?;
    let bad_version = bad.version.ok_or("the bad run committed nothing")?;
    let undone = gold.restore_to_version(bad_version - 1).await?;
    println!(
        "restored gold to v{} as v{}",
        bad_version - 1,
        undone.version
    );
    let fixed = gold_flow("agg-v1", 1.0).run_full_refresh(&lake).await?;
    println!("recomputed: {fixed}");

    println!("\n== 5. a training pin, read back after more data lands");
    let pin = lake
        .pin("train-2026-12", &["silver.flights", "gold.delays"])
        .await?;
    let pinned_rows = lake
        .read_pin("train-2026-12", "silver.flights")
        .await?
        .num_records()
        .await?;
    for (table, p) in &pin.tables {
        println!("pinned {table} at v{}", p.version);
    }
    bronze.append([month_of_flights(5, 5_000, 7)?]).await?;
    print!("{}", pipeline.run_once(&lake).await?);
    let read_back = lake.read_pin("train-2026-12", "silver.flights").await?;
    println!(
        "the pin still reads {:?} silver rows (v{}); silver now has {:?}",
        read_back.num_records().await?,
        read_back.version(),
        lake.table("silver.flights")
            .await?
            .snapshot()
            .await?
            .num_records()
            .await?
    );
    assert_eq!(read_back.num_records().await?, pinned_rows);

    println!("\n== 6. lineage and tables");
    let gold_version = gold.version().await?;
    println!(
        "{}",
        walk_lineage(&lake, "gold.delays", gold_version, 5)
            .await?
            .render()
    );
    for t in lake.tables().await? {
        println!(
            "{:<26} v{:<3} {:>7} rows  written by {}",
            t.name,
            t.version,
            t.rows.unwrap_or(-1),
            t.flow.as_deref().unwrap_or("-")
        );
    }
    println!("\nthe lake is left at {root}; try `strata tables {root}`");
    Ok(())
}
