//! The README's "run the main job": a bronze table on a local-disk lake.
//!
//! `cargo run --example quickstart [LAKE_DIR]` (default `./target/lake`). Creates a partitioned
//! table, appends three batches (versions 1-3), reads version 1 and the latest, shows that an
//! append with the wrong schema fails and leaves the table intact, and leaves the table on
//! disk for inspection (by strata, or `deltalake`/Spark).

use std::sync::Arc;

use arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::util::pretty::pretty_format_batches;
use strata::{Error, Table};

fn events(schema: &Arc<Schema>, first_id: i64, country: &str) -> RecordBatch {
    let ids: Vec<i64> = (first_id..first_id + 3).collect();
    let ts: Vec<i64> = ids
        .iter()
        .map(|i| 1_763_900_000_000_000 + i * 60_000_000)
        .collect();
    RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from(ids.clone())),
            Arc::new(TimestampMicrosecondArray::from(ts).with_timezone("UTC")),
            Arc::new(StringArray::from(vec![country; 3])),
            Arc::new(Float64Array::from(
                ids.iter().map(|i| *i as f64 * 1.5).collect::<Vec<_>>(),
            )),
        ],
    )
    .expect("columns match the schema")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let lake = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "target/lake".into());
    let location = format!("{lake}/bronze_events");
    let _ = std::fs::remove_dir_all(&location);

    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
        Field::new("country", DataType::Utf8, true),
        Field::new("amount", DataType::Float64, true),
    ]));
    let table = Table::create(&location)
        .with_arrow_schema(&schema)?
        .with_partition_columns(["country"])
        .with_name("bronze_events")
        .with_description("raw events, appended by the ingest job")
        .execute()
        .await?;
    println!(
        "created {} at version {}",
        table.location(),
        table.version().await?
    );

    for (first_id, country) in [(0, "PT"), (3, "NL"), (6, "PT")] {
        let written = table
            .write([events(&schema, first_id, country)])
            .with_commit_metadata("jobId", "ingest-42")
            .execute()
            .await?;
        println!(
            "appended {} rows in {} file(s) as version {}",
            written.num_rows, written.num_files, written.version
        );
    }

    let v1 = table.snapshot_at_version(1).await?;
    println!(
        "\nversion 1 ({} file, committed {}):",
        v1.num_files(),
        v1.timestamp()
    );
    println!("{}", pretty_format_batches(&v1.scan().collect().await?)?);

    let latest = table.snapshot().await?;
    println!(
        "latest: version {} with {} files and {} rows",
        latest.version(),
        latest.num_files(),
        latest
            .num_records()
            .await?
            .map_or("unknown".to_string(), |n| n.to_string())
    );
    println!(
        "{}",
        pretty_format_batches(
            &latest
                .scan()
                .with_columns(["id", "country"])
                .collect()
                .await?
        )?
    );

    let wrong = Arc::new(Schema::new(vec![Field::new("id", DataType::Utf8, false)]));
    let bad = RecordBatch::try_new(wrong, vec![Arc::new(StringArray::from(vec!["oops"]))])?;
    match table.append([bad]).await {
        Err(e @ Error::SchemaMismatch { .. }) => println!("\nmismatched append refused: {e}"),
        other => return Err(format!("expected a schema mismatch, got {other:?}").into()),
    }
    println!(
        "table still at version {}; left at {location} for inspection",
        table.version().await?
    );
    Ok(())
}
