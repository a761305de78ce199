//! The pipelines benchmark (#18): on a bronze table of `--rows` standard rows (default
//! 1,000,000; the figure is 10,000,000), a silver upsert by id (change feed on) and a
//! gold aggregate by category kept incrementally from silver's changes. Times, after the
//! tables are built:
//! - `full_s`: a full refresh of both flows (silver and gold recomputed from their sources);
//! - `incremental_s`: `--new` new bronze rows (default 10,000) carried through both flows;
//! - `idle_s`: a run with no new data.
//!
//! Prints one JSON line with the times, `incremental_ratio` (incremental / full) and the
//! incremental run's rows per second.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{
    AsArray, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema, SchemaRef, TimeUnit};
use strata_pipelines::{Flow, Lake, Pipeline, ReadMode, Sink};

type Error = Box<dyn std::error::Error + Send + Sync>;

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("value", DataType::Float64, false),
        Field::new("category", DataType::Utf8, false),
        Field::new("payload", DataType::Utf8, false),
    ]))
}

/// Standard rows `from..to` (../shared/bench/README.md).
fn standard(from: i64, to: i64) -> Result<RecordBatch, Error> {
    let ids: Vec<i64> = (from..to).collect();
    Ok(RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Int64Array::from(ids.clone())),
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(
                    ids.iter().map(|i| 1_700_000_000_000_000 + i * 1000),
                )
                .with_timezone("UTC"),
            ),
            Arc::new(Float64Array::from_iter_values(ids.iter().map(|i| {
                ((i.wrapping_mul(2_654_435_761)).rem_euclid(1_000_000)) as f64 / 1e6
            }))),
            Arc::new(StringArray::from_iter_values(
                ids.iter().map(|i| format!("c{}", i % 16)),
            )),
            Arc::new(StringArray::from_iter_values(
                ids.iter().map(|i| format!("payload-{i:024}")),
            )),
        ],
    )?)
}

fn silver() -> Flow {
    Flow::new("silver_events", "silver.events")
        .source("bronze.events", ReadMode::Appends)
        .transform(|input| Ok(input.rows("bronze.events").to_vec()))
        .target_property("delta.enableChangeDataFeed", "true")
        .sink(Sink::Upsert {
            keys: vec!["id".into()],
        })
}

fn gold() -> Flow {
    Flow::new("gold_by_category", "gold.by_category")
        .source("silver.events", ReadMode::Changes)
        .reading_target()
        .transform(|input| {
            let mut totals: BTreeMap<String, (i64, f64)> = BTreeMap::new();
            for b in input.target() {
                let (c, n, v) = (
                    b.column(0).as_string::<i32>(),
                    b.column(1).as_primitive::<Int64Type>(),
                    b.column(2).as_primitive::<Float64Type>(),
                );
                for i in 0..b.num_rows() {
                    totals.insert(c.value(i).to_string(), (n.value(i), v.value(i)));
                }
            }
            let mut touched = std::collections::BTreeSet::new();
            for b in input.rows("silver.events") {
                let c = b.column_by_name("category").unwrap().as_string::<i32>();
                let v = b
                    .column_by_name("value")
                    .unwrap()
                    .as_primitive::<Float64Type>();
                let k = b.column_by_name("_change_type").unwrap().as_string::<i32>();
                for i in 0..b.num_rows() {
                    let sign = if matches!(k.value(i), "insert" | "update_postimage") {
                        1
                    } else {
                        -1
                    };
                    let t = totals.entry(c.value(i).to_string()).or_default();
                    t.0 += sign;
                    t.1 += sign as f64 * v.value(i);
                    touched.insert(c.value(i).to_string());
                }
            }
            totals.retain(|c, _| touched.contains(c));
            let schema = Arc::new(Schema::new(vec![
                Field::new("category", DataType::Utf8, false),
                Field::new("rows", DataType::Int64, false),
                Field::new("total_value", DataType::Float64, false),
            ]));
            Ok(vec![RecordBatch::try_new(
                schema,
                vec![
                    Arc::new(StringArray::from_iter_values(totals.keys())),
                    Arc::new(Int64Array::from_iter_values(totals.values().map(|t| t.0))),
                    Arc::new(Float64Array::from_iter_values(totals.values().map(|t| t.1))),
                ],
            )?])
        })
        .sink(Sink::Upsert {
            keys: vec!["category".into()],
        })
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let rows: i64 = arg("--rows").map_or(Ok(1_000_000), |r| r.parse())?;
    let new: i64 = arg("--new").map_or(Ok(10_000), |r| r.parse())?;
    let dir = arg("--dir").unwrap_or_else(|| "/tmp/strata-pipeline-bench".into());
    let _ = std::fs::remove_dir_all(&dir);
    let lake = Lake::open(dir.as_str());
    let bronze = lake
        .create_table("bronze.events")?
        .with_arrow_schema(&schema())?
        .execute()
        .await?;
    let chunk = 1_000_000;
    let mut at = 0;
    while at < rows {
        let to = (at + chunk).min(rows);
        bronze.append([standard(at, to)?]).await?;
        at = to;
    }
    let pipeline = Pipeline::new().flow(silver()).flow(gold());
    let built = pipeline.run_once(&lake).await?;
    assert!(built.is_success(), "{built}");

    let t = Instant::now();
    silver().run_full_refresh(&lake).await?;
    gold().run_full_refresh(&lake).await?;
    let full_s = t.elapsed().as_secs_f64();

    bronze.append([standard(rows, rows + new)?]).await?;
    let t = Instant::now();
    let report = pipeline.run_once(&lake).await?;
    let incremental_s = t.elapsed().as_secs_f64();
    assert!(report.is_success(), "{report}");

    let t = Instant::now();
    let idle = pipeline.run_once(&lake).await?;
    let idle_s = t.elapsed().as_secs_f64();
    assert!(idle.is_success(), "{idle}");

    println!(
        "{}",
        serde_json::json!({
            "workload": "pipeline_incremental",
            "rows": rows,
            "new": new,
            "full_s": full_s,
            "incremental_s": incremental_s,
            "incremental_ratio": incremental_s / full_s,
            "idle_s": idle_s,
            "incremental_rows_per_s": new as f64 / incremental_s,
        })
    );
    Ok(())
}
