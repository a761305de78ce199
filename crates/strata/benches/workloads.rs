//! The shared benchmark workloads (`/work/shared/bench/README.md`), strata's side.
//!
//! Run as `cargo bench --bench workloads -- WORKLOAD [--dir DIR] [--table PATH] [--rows N]
//! [--commits N] [--procs N] [--version N] [--lo N]`. Prints exactly one JSON line on stdout,
//! `{"workload": ..., "seconds": ..., <counts>}`; progress goes to stderr. Each workload
//! prepares its input untimed and times only the operation, with the same boundaries as
//! `peer_deltars.py`. Unknown flags (such as the `--bench` cargo appends) are ignored.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{
    ArrayRef, Float64Array, Int64Array, RecordBatch, StringBuilder, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;
use serde_json::{Value, json};
use strata::{Snapshot, Storage, Table, WriterOptions, col, lit};

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const TS0_US: i64 = 1_700_000_000_000_000;
const WORKER_MODE: &str = "__append_worker";

/// Command-line flags shared by all workloads (defaults as in `peer_deltars.py`).
#[derive(Debug)]
struct Args {
    workload: String,
    dir: String,
    table: Option<String>,
    rows: usize,
    commits: usize,
    procs: usize,
    version: Option<i64>,
    lo: i64,
    worker: usize,
}

fn parse_args() -> BenchResult<Args> {
    let mut args = Args {
        workload: String::new(),
        dir: "/tmp/strata-bench/strata".into(),
        table: None,
        rows: 2_000_000,
        commits: 300,
        procs: 4,
        version: None,
        lo: 1_000_000,
        worker: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if arg.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let known = [
            "--dir",
            "--table",
            "--rows",
            "--commits",
            "--procs",
            "--version",
            "--lo",
            "--worker",
        ]
        .contains(&flag.as_str());
        if !known {
            if !arg.starts_with('-') && args.workload.is_empty() {
                args.workload = arg;
            }
            // Anything else (e.g. cargo's `--bench`) is ignored.
            continue;
        }
        let value = match inline {
            Some(v) => v,
            None => it.next().ok_or_else(|| format!("{flag} needs a value"))?,
        };
        let bad = |e: std::num::ParseIntError| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--dir" => args.dir = value.clone(),
            "--table" => args.table = Some(value.clone()),
            "--rows" => args.rows = value.parse().map_err(bad)?,
            "--commits" => args.commits = value.parse().map_err(bad)?,
            "--procs" => args.procs = value.parse().map_err(bad)?,
            "--version" => args.version = Some(value.parse().map_err(bad)?),
            "--lo" => args.lo = value.parse().map_err(bad)?,
            "--worker" => args.worker = value.parse().map_err(bad)?,
            _ => unreachable!(),
        }
    }
    if args.workload.is_empty() {
        return Err(
            "usage: workloads WORKLOAD [--dir DIR] [--table PATH] [--rows N] [--commits N] \
                    [--procs N] [--version N] [--lo N]"
                .into(),
        );
    }
    Ok(args)
}

/// The standard dataset's Arrow schema (all columns nullable, as pyarrow writes them).
fn standard_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
        Field::new("value", DataType::Float64, true),
        Field::new("category", DataType::Utf8, true),
        Field::new("payload", DataType::Utf8, true),
    ]))
}

/// Rows `[start, start + count)` of the standard dataset, as one batch.
fn standard_rows(start: i64, count: usize) -> RecordBatch {
    let ids: Vec<i64> = (start..start + count as i64).collect();
    let ts: Vec<i64> = ids.iter().map(|i| TS0_US + i * 1000).collect();
    let value: Vec<f64> = ids
        .iter()
        .map(|i| ((i * 2_654_435_761) % 1_000_000) as f64 / 1e6)
        .collect();
    let mut category = StringBuilder::with_capacity(count, count * 3);
    let mut payload = StringBuilder::with_capacity(count, count * 32);
    for i in &ids {
        write!(category, "c{}", i % 16).expect("writing to a StringBuilder");
        category.append_value("");
        write!(payload, "payload-{i:024}").expect("writing to a StringBuilder");
        payload.append_value("");
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(ids)),
        Arc::new(TimestampMicrosecondArray::from(ts).with_timezone("UTC")),
        Arc::new(Float64Array::from(value)),
        Arc::new(category.finish()),
        Arc::new(payload.finish()),
    ];
    RecordBatch::try_new(standard_schema(), columns)
        .expect("the standard dataset matches its schema")
}

/// A result line's fields, in print order.
type Fields = Vec<(&'static str, Value)>;

/// Prints the one result line, keys in the given order (`workload` and `seconds` first).
fn out(fields: &[(&str, Value)]) {
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}:{v}", Value::from(*k)))
        .collect();
    println!("{{{}}}", body.join(","));
}

fn remove_dir(dir: &str) -> BenchResult<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(format!("removing {dir}: {e}").into())
        }
        _ => Ok(()),
    }
}

/// Creates a table with the standard schema at `dir` (replacing whatever is there).
async fn create_table(dir: &str) -> BenchResult<Table> {
    remove_dir(dir)?;
    std::fs::create_dir_all(dir)?;
    Ok(Table::create(dir)
        .with_arrow_schema(&standard_schema())?
        .execute()
        .await?)
}

/// Loads a snapshot exactly as `Table::open` does (latest) or at `version`, without the extra
/// log listing that `Table::snapshot()` would add to reach the loaded snapshot.
async fn load_snapshot(location: &str, version: Option<i64>) -> BenchResult<Snapshot> {
    let storage = Storage::open(location, &HashMap::new())?;
    Ok(Snapshot::load(&storage, version).await?)
}

/// Lists the live files (paths), as the peer's `file_uris()` does.
fn live_files(snapshot: &Snapshot) -> usize {
    snapshot.files().map(|f| f.path()).collect::<Vec<_>>().len()
}

async fn bulk_append(a: &Args) -> BenchResult<Fields> {
    remove_dir(&a.dir)?;
    std::fs::create_dir_all(&a.dir)?;
    let data = standard_rows(0, a.rows);
    let t = Instant::now();
    let table = Table::create(a.dir.as_str())
        .with_arrow_schema(&standard_schema())?
        .execute()
        .await?;
    let written = table.append([data]).await?;
    let s = t.elapsed().as_secs_f64();
    let snapshot = load_snapshot(&a.dir, None).await?;
    eprintln!(
        "bulk_append: version {} files {} bytes {}",
        written.version, written.num_files, written.num_bytes
    );
    Ok(vec![
        ("workload", json!("bulk_append")),
        ("seconds", json!(s)),
        ("rows", json!(written.num_rows)),
        ("files", json!(live_files(&snapshot))),
    ])
}

/// #16's overhead figure: `--rows` standard rows appended to a table with NOT NULL columns,
/// two CHECK constraints and a generated column, against the same append to a table with the
/// same NOT NULL columns and neither, alternating 5 runs each; medians and their ratio (plus
/// the checks alone and the generated column alone, to see where the time goes).
async fn append_constrained(a: &Args) -> BenchResult<Fields> {
    // The plain table has the same columns; its input carries `day`, computed before timing.
    let data = standard_rows(0, a.rows);
    let with_day = {
        let day = arrow::compute::cast(data.column(1), &DataType::Date32)?;
        let mut columns = data.columns().to_vec();
        columns.push(day);
        let mut fields: Vec<Field> = data
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields.push(Field::new("day", DataType::Date32, true));
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?
    };
    let columns = "id long NOT NULL, ts timestamp NOT NULL, value double, category string NOT NULL, payload string";
    let plain = format!("{columns}, day date");
    let generated = format!("{columns}, day date GENERATED ALWAYS AS (CAST(ts AS DATE))");
    let categories: Vec<String> = (0..16).map(|i| format!("'c{i}'")).collect();
    let checks = [
        (
            "delta.constraints.value_range".to_string(),
            "value >= 0 AND value < 1".to_string(),
        ),
        (
            "delta.constraints.known_category".to_string(),
            format!("category IN ({})", categories.join(", ")),
        ),
    ];
    let variants: [(&str, &str, bool); 4] = [
        ("all", &generated, true),
        ("plain", &plain, false),
        ("checks", &plain, true),
        ("generated", &generated, false),
    ];
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    for _ in 0..5 {
        for (i, (name, ddl, with_checks)) in variants.iter().enumerate() {
            let input = if ddl.contains("GENERATED") {
                &data
            } else {
                &with_day
            };
            let _ = name;
            remove_dir(&a.dir)?;
            std::fs::create_dir_all(&a.dir)?;
            let mut create =
                Table::create(a.dir.as_str()).with_schema(strata::StructType::from_ddl(ddl)?);
            if *with_checks {
                for (k, v) in &checks {
                    create = create.with_property(k.clone(), v.clone());
                }
            }
            let table = create.execute().await?;
            let t = Instant::now();
            let written = table.append([input.clone()]).await?;
            times[i].push(t.elapsed().as_secs_f64());
            assert_eq!(written.num_rows, a.rows as u64);
        }
    }
    let median: Vec<f64> = times
        .iter_mut()
        .map(|v| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        })
        .collect();
    Ok(vec![
        ("workload", json!("append_constrained")),
        ("seconds", json!(median[0])),
        ("plain_seconds", json!(median[1])),
        ("ratio", json!(median[0] / median[1])),
        ("checks_only_ratio", json!(median[2] / median[1])),
        ("generated_only_ratio", json!(median[3] / median[1])),
        ("rows", json!(a.rows)),
    ])
}

async fn raw_parquet(a: &Args) -> BenchResult<Fields> {
    remove_dir(&a.dir)?;
    std::fs::create_dir_all(&a.dir)?;
    let data = standard_rows(0, a.rows);
    let options = WriterOptions::default();
    let path = std::path::Path::new(&a.dir).join("raw.snappy.parquet");
    let t = Instant::now();
    let props = WriterProperties::builder()
        .set_compression(options.compression)
        .set_max_row_group_row_count(Some(options.row_group_rows))
        .set_created_by(format!("strata version {}", env!("CARGO_PKG_VERSION")))
        .build();
    let file = std::fs::File::create(&path)?;
    let mut writer = ArrowWriter::try_new(file, data.schema(), Some(props))?;
    writer.write(&data)?;
    let metadata = writer.close()?;
    let s = t.elapsed().as_secs_f64();
    let rows = metadata.file_metadata().num_rows();
    eprintln!("raw_parquet: {} bytes", std::fs::metadata(&path)?.len());
    Ok(vec![
        ("workload", json!("raw_parquet")),
        ("seconds", json!(s)),
        ("rows", json!(rows)),
    ])
}

async fn small_commits(a: &Args) -> BenchResult<Fields> {
    let table = create_table(&a.dir).await?;
    table.append([standard_rows(0, 10)]).await?;
    let batches: Vec<RecordBatch> = (0..a.commits)
        .map(|k| standard_rows(10 * (k as i64 + 1), 10))
        .collect();
    let t = Instant::now();
    for batch in batches {
        table.append([batch]).await?;
    }
    let s = t.elapsed().as_secs_f64();
    Ok(vec![
        ("workload", json!("small_commits")),
        ("seconds", json!(s)),
        ("commits", json!(a.commits)),
        ("commits_per_s", json!(a.commits as f64 / s)),
    ])
}

async fn open(a: &Args, version: Option<i64>) -> BenchResult<Fields> {
    let location = a.table.as_deref().ok_or("--table is required")?;
    let t = Instant::now();
    let snapshot = load_snapshot(location, version).await?;
    let files = live_files(&snapshot);
    let s = t.elapsed().as_secs_f64();
    Ok(vec![
        ("workload", json!(a.workload)),
        ("seconds", json!(s)),
        ("version", json!(snapshot.version())),
        ("files", json!(files)),
    ])
}

async fn selective_scan(a: &Args) -> BenchResult<Fields> {
    let location = a.table.as_deref().ok_or("--table is required")?;
    let (lo, hi) = (a.lo, a.lo + 999);
    let t = Instant::now();
    let snapshot = load_snapshot(location, None).await?;
    let plan = snapshot
        .scan()
        .with_filter(col("id").between(lit(lo), lit(hi)))
        .plan()
        .await?;
    let batches = plan.collect().await?;
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let s = t.elapsed().as_secs_f64();
    let m = plan.metrics();
    eprintln!("selective_scan: {m:?}");
    Ok(vec![
        ("workload", json!("selective_scan")),
        ("seconds", json!(s)),
        ("rows", json!(rows)),
        ("files_considered", json!(m.files_considered)),
        ("files_read", json!(m.files_to_read)),
        ("row_groups_pruned", json!(m.row_groups_pruned)),
    ])
}

/// Files of the deletion-vector tables, and how many of them get a vector.
const DV_FILES: usize = 1000;
const DV_EVERY_NTH_FILE: usize = 10;

/// Not timed: `--dir/plain`, 1,000 files of `--rows` standard rows (1,000 by default), and
/// `--dir/dv`, a copy where every 10th file has a deletion vector deleting every 10th row of it
/// (as Spark's `DELETE` leaves a table), each with a checkpoint. `full_scan` and
/// `benches/dv_scan.py` read them.
async fn dv_prepare(a: &Args) -> BenchResult<Fields> {
    let rows = if a.rows == 2_000_000 { 1000 } else { a.rows };
    let plain = format!("{}/plain", a.dir);
    remove_dir(&a.dir)?;
    std::fs::create_dir_all(&plain)?;
    let table = Table::create(plain.as_str())
        .with_arrow_schema(&standard_schema())?
        .with_property("delta.enableDeletionVectors", "true")
        .execute()
        .await?;
    for f in 0..DV_FILES {
        table
            .append([standard_rows((f * rows) as i64, rows)])
            .await?;
    }
    table.checkpoint().await?;
    let dv = format!("{}/dv", a.dir);
    copy_dir(std::path::Path::new(&plain), std::path::Path::new(&dv))?;
    let snapshot = load_snapshot(&dv, None).await?;
    let mut files: Vec<_> = snapshot.files().map(|f| f.to_add()).collect();
    files.sort_by(|x, y| x.path.cmp(&y.path));
    let deletes: Vec<_> = files
        .into_iter()
        .step_by(DV_EVERY_NTH_FILE)
        .map(|add| {
            let deleted: roaring::RoaringTreemap = (0..rows as u64).step_by(10).collect();
            (add, deleted)
        })
        .collect();
    let with_vectors = deletes.len();
    let dv_table = Table::open(dv.as_str()).await?;
    strata_test_support::deletion_vectors::delete_rows(
        dv_table.storage(),
        &snapshot,
        deletes,
        strata_test_support::deletion_vectors::Storage::Uuid,
    )
    .await;
    dv_table.checkpoint().await?;
    Ok(vec![
        ("workload", json!("dv_prepare")),
        ("seconds", json!(0.0)),
        ("files", json!(DV_FILES)),
        ("files_with_vectors", json!(with_vectors)),
    ])
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) -> BenchResult<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// Not timed: a table at `--dir` for row diffs, `--rows` standard rows (336,776 by default, the
/// size of nycflights13): versions 1–4 append a quarter each, 5 appends 1,000 bad rows, 6
/// rewrites everything with `value` changed on every 100th row (a bad update).
async fn diff_prepare(a: &Args) -> BenchResult<Fields> {
    let rows = if a.rows == 2_000_000 { 336_776 } else { a.rows };
    let table = create_table(&a.dir).await?;
    let quarter = rows.div_ceil(4);
    for q in 0..4 {
        let start = q * quarter;
        let n = quarter.min(rows - start);
        table.append([standard_rows(start as i64, n)]).await?;
    }
    table.append([standard_rows(10_000_000, 1000)]).await?;
    let all = table.snapshot().await?.scan().collect().await?;
    let changed: Vec<RecordBatch> = all
        .iter()
        .map(|b| {
            let ids = b
                .column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .expect("id");
            let values = b
                .column(2)
                .as_any()
                .downcast_ref::<Float64Array>()
                .expect("value");
            let bumped: Float64Array = ids
                .values()
                .iter()
                .zip(values.values())
                .map(|(id, v)| Some(if id % 100 == 0 { v + 1.0 } else { *v }))
                .collect();
            let mut columns = b.columns().to_vec();
            columns[2] = Arc::new(bumped);
            RecordBatch::try_new(b.schema(), columns).expect("batch")
        })
        .collect();
    table.overwrite(changed).await?;
    Ok(vec![
        ("workload", json!("diff_prepare")),
        ("seconds", json!(0.0)),
        ("rows", json!(rows)),
        ("version", json!(table.version().await?)),
    ])
}

/// Opens `--table` and diffs version `--lo` against `--version` row by row.
async fn diff_rows(a: &Args) -> BenchResult<Fields> {
    let location = a.table.as_deref().ok_or("--table is required")?;
    let to = a.version.ok_or("--version is required")?;
    let t = Instant::now();
    let table = Table::open(location).await?;
    let diff = table.diff_rows(a.lo, to).execute().await?;
    let s = t.elapsed().as_secs_f64();
    Ok(vec![
        ("workload", json!("diff_rows")),
        ("seconds", json!(s)),
        ("inserted", json!(diff.inserted)),
        ("deleted", json!(diff.deleted)),
    ])
}

/// Opens `--table` and reads every row of every column into memory.
async fn full_scan(a: &Args) -> BenchResult<Fields> {
    let location = a.table.as_deref().ok_or("--table is required")?;
    let t = Instant::now();
    let snapshot = load_snapshot(location, None).await?;
    let batches = snapshot.scan().collect().await?;
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let s = t.elapsed().as_secs_f64();
    Ok(vec![
        ("workload", json!("full_scan")),
        ("seconds", json!(s)),
        ("rows", json!(rows)),
        ("files", json!(snapshot.num_files())),
    ])
}

async fn concurrent_appends(a: &Args) -> BenchResult<Fields> {
    let table = create_table(&a.dir).await?;
    let setup = table.append([standard_rows(0, 10)]).await?.version;
    let exe = std::env::current_exe()?;
    let t = Instant::now();
    let children = (0..a.procs)
        .map(|k| {
            Command::new(&exe)
                .args([
                    WORKER_MODE,
                    "--dir",
                    &a.dir,
                    "--worker",
                    &k.to_string(),
                    "--commits",
                    &a.commits.to_string(),
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .spawn()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut failed = 0;
    for mut child in children {
        if !child.wait()?.success() {
            failed += 1;
        }
    }
    let s = t.elapsed().as_secs_f64();
    let snapshot = load_snapshot(&a.dir, None).await?;
    let rows: usize = snapshot
        .scan()
        .with_columns(["id"])
        .collect()
        .await?
        .iter()
        .map(|b| b.num_rows())
        .sum();
    let version = snapshot.version();
    let commits = (a.procs * a.commits) as i64;
    // The peer creates the table with its first 10 rows in one commit (version 0); strata
    // creates it (version 0) and then appends them (version 1), so count from `setup`.
    let ok = version == setup + commits && rows as i64 == 10 * (commits + 1);
    Ok(vec![
        ("workload", json!("concurrent_appends")),
        ("seconds", json!(s)),
        ("version", json!(version)),
        ("rows", json!(rows)),
        ("ok", json!(ok)),
        ("failed_procs", json!(failed)),
    ])
}

/// One process of `concurrent_appends`: `--commits` appends of 10 rows through one handle.
async fn append_worker(a: &Args) -> BenchResult<()> {
    let table = Table::open(a.dir.as_str()).await?;
    let mut retries = 0;
    for c in 0..a.commits {
        let base = 1_000_000 * (a.worker as i64 + 1) + 10 * c as i64;
        let written = table.append([standard_rows(base, 10)]).await?;
        retries += written.attempts.saturating_sub(1);
    }
    eprintln!(
        "worker {}: {} commits, {retries} retries",
        a.worker, a.commits
    );
    Ok(())
}

async fn run(a: &Args) -> BenchResult<()> {
    let result = match a.workload.as_str() {
        "bulk_append" => bulk_append(a).await?,
        "raw_parquet" => raw_parquet(a).await?,
        "append_constrained" => append_constrained(a).await?,
        "small_commits" => small_commits(a).await?,
        "open_latest" | "snapshot_memory" => open(a, None).await?,
        "open_version" => open(a, Some(a.version.ok_or("--version is required")?)).await?,
        "selective_scan" => selective_scan(a).await?,
        "concurrent_appends" => concurrent_appends(a).await?,
        "dv_prepare" => dv_prepare(a).await?,
        "full_scan" => full_scan(a).await?,
        "diff_prepare" => diff_prepare(a).await?,
        "diff_rows" => diff_rows(a).await?,
        "merge_upsert" => merge_upsert(a).await?,
        "merge_small" => merge_small(a).await?,
        "delete_scattered" => delete_scattered(a).await?,
        "update_partition" => update_partition(a).await?,
        "sql_aggregate" => sql_aggregate(a).await?,
        "sql_selective" => sql_selective(a).await?,
        WORKER_MODE => return append_worker(a).await,
        other => return Err(format!("unknown workload {other}").into()),
    };
    out(&result);
    Ok(())
}

// --- DML (on a fresh copy of `--table` at `--dir`; the copy is not timed) --------------------

/// Copies `--table` to `--dir` and opens the copy.
async fn fresh_copy(a: &Args) -> BenchResult<Table> {
    let table = a.table.as_deref().ok_or("--table is required")?;
    remove_dir(&a.dir)?;
    copy_dir(std::path::Path::new(table), std::path::Path::new(&a.dir))?;
    Ok(Table::open(a.dir.as_str()).await?)
}

/// Bytes of the data files the commit at `version` added.
async fn bytes_added(table: &Table, version: i64) -> BenchResult<i64> {
    let before = table.snapshot_at_version(version - 1).await?;
    let old: std::collections::HashSet<String> =
        before.files().map(|f| f.path().to_string()).collect();
    let after = table.snapshot_at_version(version).await?;
    Ok(after
        .files()
        .filter(|f| !old.contains(f.path()))
        .map(|f| f.size())
        .sum())
}

/// merge_upsert's source (`peer_deltars.merge_source`): 90% of the rows update every 10th id,
/// 10% insert ids from 100,000,000; `value` is changed on every row.
fn merge_source(rows: usize) -> BenchResult<RecordBatch> {
    let matched = rows * 9 / 10;
    let ids: Vec<i64> = (0..matched as i64)
        .map(|i| i * 10)
        .chain((0..(rows - matched) as i64).map(|i| 100_000_000 + i))
        .collect();
    let values: Vec<f64> = (0..rows)
        .map(|i| 1.0 + (i % 1000) as f64 / 1000.0)
        .collect();
    let base = standard_rows(0, rows);
    let mut columns = base.columns().to_vec();
    columns[0] = Arc::new(Int64Array::from(ids));
    columns[2] = Arc::new(Float64Array::from(values));
    Ok(RecordBatch::try_new(base.schema(), columns)?)
}

/// Upsert: update all on match, insert all otherwise (the peer's `_merge`).
async fn upsert(table: &Table, source: RecordBatch) -> BenchResult<strata::MergeResult> {
    Ok(table
        .merge(source, "t.id = s.id")
        .with_aliases("t", "s")
        .when_matched_update_all()
        .when_not_matched_insert_all()
        .execute()
        .await?)
}

async fn merge_upsert(a: &Args) -> BenchResult<Fields> {
    let table = fresh_copy(a).await?;
    // `STRATA_BENCH_DELETION_VECTORS=1` merges with deletion vectors, enabled on the copy
    // before timing (the peer rewrites files: that comparison is the default).
    if std::env::var("STRATA_BENCH_DELETION_VECTORS").is_ok_and(|v| v == "1") {
        table
            .set_properties([("delta.enableDeletionVectors", "true")])
            .await?;
    }
    let source = merge_source(a.rows)?;
    let t = Instant::now();
    let m = upsert(&table, source).await?;
    let s = t.elapsed().as_secs_f64();
    let written = bytes_added(&table, m.version.ok_or("the merge committed nothing")?).await?;
    Ok(vec![
        ("workload", json!("merge_upsert")),
        ("seconds", json!(s)),
        ("updated", json!(m.num_target_rows_updated)),
        ("inserted", json!(m.num_target_rows_inserted)),
        ("files_removed", json!(m.num_target_files_removed)),
        ("files_added", json!(m.num_target_files_added)),
        ("bytes_written", json!(written)),
    ])
}

async fn merge_small(a: &Args) -> BenchResult<Fields> {
    let table = fresh_copy(a).await?;
    let base = standard_rows(500_000, 1000);
    let mut columns = base.columns().to_vec();
    columns[2] = Arc::new(Float64Array::from(vec![2.0; 1000]));
    let source = RecordBatch::try_new(base.schema(), columns)?;
    let t = Instant::now();
    let m = upsert(&table, source).await?;
    let s = t.elapsed().as_secs_f64();
    Ok(vec![
        ("workload", json!("merge_small")),
        ("seconds", json!(s)),
        ("updated", json!(m.num_target_rows_updated)),
        ("inserted", json!(m.num_target_rows_inserted)),
        ("files_removed", json!(m.num_target_files_removed)),
        ("files_added", json!(m.num_target_files_added)),
    ])
}

async fn delete_scattered(a: &Args) -> BenchResult<Fields> {
    let table = fresh_copy(a).await?;
    // strata deletes with deletion vectors, enabled on the copy before timing.
    table
        .set_properties([("delta.enableDeletionVectors", "true")])
        .await?;
    let t = Instant::now();
    let d = table
        .delete()
        .with_predicate("id % 100 = 0")
        .execute()
        .await?;
    let s = t.elapsed().as_secs_f64();
    let version = d.version.ok_or("the delete committed nothing")?;
    // The DV file this commit wrote (the copy had none before).
    let mut dv_bytes = 0i64;
    for entry in std::fs::read_dir(&a.dir)? {
        let entry = entry?;
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with("deletion_vector_")
        {
            dv_bytes += entry.metadata()?.len() as i64;
        }
    }
    let written = bytes_added(&table, version).await? + dv_bytes;
    Ok(vec![
        ("workload", json!("delete_scattered")),
        ("seconds", json!(s)),
        ("deleted", json!(d.num_deleted_rows)),
        ("files_removed", json!(d.num_removed_files)),
        ("files_added", json!(d.num_added_files)),
        ("bytes_written", json!(written)),
    ])
}

async fn update_partition(a: &Args) -> BenchResult<Fields> {
    let table = fresh_copy(a).await?;
    let t = Instant::now();
    let u = table
        .update()
        .with_predicate("category = 'c3'")
        .set("value", "value + 1")
        .execute()
        .await?;
    let s = t.elapsed().as_secs_f64();
    Ok(vec![
        ("workload", json!("update_partition")),
        ("seconds", json!(s)),
        ("updated", json!(u.num_updated_rows)),
        ("files_removed", json!(u.num_removed_files)),
        ("files_added", json!(u.num_added_files)),
    ])
}

/// The shared SQL workload (`peer_deltars.SQL_AGGREGATE`), as delta-rs's QueryBuilder runs it.
const SQL_AGGREGATE: &str = "SELECT category, count(*) AS n, sum(value) AS total, min(ts) AS first \
     FROM t WHERE id % 3 = 0 GROUP BY category ORDER BY category";

/// Opens `--table` as `t` and runs [`SQL_AGGREGATE`] through strata-sql (DataFusion over
/// strata's reader).
async fn sql_aggregate(a: &Args) -> BenchResult<Fields> {
    let location = a.table.as_deref().ok_or("--table is required")?;
    let t = Instant::now();
    let ctx = strata_sql::Context::new();
    ctx.register("t", location).await?;
    let batches = ctx.collect(SQL_AGGREGATE).await?;
    let s = t.elapsed().as_secs_f64();
    let groups: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let mut rows = 0i64;
    for b in &batches {
        let n = b
            .column_by_name("n")
            .and_then(|c| c.as_any().downcast_ref::<arrow::array::Int64Array>())
            .ok_or("no column n")?;
        rows += n.iter().flatten().sum::<i64>();
    }
    Ok(vec![
        ("workload", json!("sql_aggregate")),
        ("seconds", json!(s)),
        ("groups", json!(groups)),
        ("rows", json!(rows)),
    ])
}

/// A selective SQL query (`id BETWEEN lo AND lo + 999`): the files it reads.
async fn sql_selective(a: &Args) -> BenchResult<Fields> {
    let location = a.table.as_deref().ok_or("--table is required")?;
    let (lo, hi) = (a.lo, a.lo + 999);
    let t = Instant::now();
    let ctx = strata_sql::Context::new();
    ctx.register("t", location).await?;
    let text = ctx
        .explain(
            &format!("SELECT * FROM t WHERE id BETWEEN {lo} AND {hi}"),
            true,
        )
        .await?;
    let s = t.elapsed().as_secs_f64();
    let files_read = text
        .split("files_read=")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse::<u64>().ok())
        .ok_or("no files_read in the plan")?;
    Ok(vec![
        ("workload", json!("sql_selective")),
        ("seconds", json!(s)),
        ("files_read", json!(files_read)),
    ])
}

/// The allocator strata's own binaries use (the CLI's). The library sets none; an
/// application picks its own.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    let result = match parse_args() {
        Ok(args) => run(&args).await,
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
