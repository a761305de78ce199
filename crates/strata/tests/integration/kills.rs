//! Real crashes (#20): worker processes (this test binary re-executed) run one operation each
//! on a local-disk table (append of several files, overwrite, delete, update and merge with
//! deletion vectors, optimize, checkpoint, vacuum, restore) and are `kill -9`ed at a random
//! moment. After every kill the table must open, and its latest version must read either as
//! it did before the operation or exactly as the operation's result (never half of it), with
//! no id twice. At the end every version strata can still read (a zero-retention vacuum
//! makes older ones unreadable) is read by deltalake too, identically.
//!
//! `STRATA_KILLS` sets the number of kills (default 50), `STRATA_KILLS_SEED` the seed; a
//! failure prints both, with the kill's operation and delay.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{AsArray, Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Int64Type, Schema};
use serde_json::{Value, json};
use strata::Table;

use crate::support::TempLake;
use crate::support::fault_store::SplitMix64;
use crate::workers::Worker;

const WORKER_ENV: &str = "STRATA_KILL_WORKER";

/// The table: id → value.
type Rows = BTreeMap<i64, i64>;

fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("value", DataType::Int64, true),
    ]))
}

fn batch(ids: std::ops::Range<i64>, value: impl Fn(i64) -> i64) -> RecordBatch {
    let values: Vec<i64> = ids.clone().map(value).collect();
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Int64Array::from_iter_values(ids)),
            Arc::new(Int64Array::from(values)),
        ],
    )
    .unwrap()
}

/// One operation, as the parent chooses it and a worker runs it.
#[derive(Debug, Clone)]
enum Op {
    /// Three batches of `n` new ids from `start`, in files of their own.
    Append {
        start: i64,
        n: i64,
    },
    Overwrite {
        start: i64,
        n: i64,
    },
    Delete {
        modulus: i64,
        residue: i64,
    },
    Update {
        modulus: i64,
        residue: i64,
    },
    /// Upsert ids `start..start + n` with value `-id`.
    Merge {
        start: i64,
        n: i64,
    },
    Optimize,
    Checkpoint,
    Vacuum,
    Restore {
        version: i64,
    },
}

impl Op {
    fn to_json(&self) -> Value {
        match self {
            Op::Append { start, n } => json!({"op": "append", "start": start, "n": n}),
            Op::Overwrite { start, n } => json!({"op": "overwrite", "start": start, "n": n}),
            Op::Delete { modulus, residue } => {
                json!({"op": "delete", "modulus": modulus, "residue": residue})
            }
            Op::Update { modulus, residue } => {
                json!({"op": "update", "modulus": modulus, "residue": residue})
            }
            Op::Merge { start, n } => json!({"op": "merge", "start": start, "n": n}),
            Op::Optimize => json!({"op": "optimize"}),
            Op::Checkpoint => json!({"op": "checkpoint"}),
            Op::Vacuum => json!({"op": "vacuum"}),
            Op::Restore { version } => json!({"op": "restore", "version": version}),
        }
    }

    fn from_json(v: &Value) -> Op {
        let i = |k: &str| v[k].as_i64().unwrap();
        match v["op"].as_str().unwrap() {
            "append" => Op::Append {
                start: i("start"),
                n: i("n"),
            },
            "overwrite" => Op::Overwrite {
                start: i("start"),
                n: i("n"),
            },
            "delete" => Op::Delete {
                modulus: i("modulus"),
                residue: i("residue"),
            },
            "update" => Op::Update {
                modulus: i("modulus"),
                residue: i("residue"),
            },
            "merge" => Op::Merge {
                start: i("start"),
                n: i("n"),
            },
            "optimize" => Op::Optimize,
            "checkpoint" => Op::Checkpoint,
            "vacuum" => Op::Vacuum,
            "restore" => Op::Restore {
                version: i("version"),
            },
            other => panic!("unknown op {other}"),
        }
    }

    /// The rows after the operation, from the rows before it (`at`: the rows of each version,
    /// for a restore).
    fn apply(&self, before: &Rows, at: &BTreeMap<i64, Rows>) -> Option<Rows> {
        let mut after = before.clone();
        match *self {
            Op::Append { start, n } => after.extend((start..start + 3 * n).map(|id| (id, id))),
            Op::Overwrite { start, n } => after = (start..start + n).map(|id| (id, id)).collect(),
            Op::Delete { modulus, residue } => after.retain(|id, _| id % modulus != residue),
            Op::Update { modulus, residue } => after
                .iter_mut()
                .filter(|(id, _)| **id % modulus == residue)
                .for_each(|(_, v)| *v += 1000),
            Op::Merge { start, n } => after.extend((start..start + n).map(|id| (id, -id))),
            Op::Optimize | Op::Checkpoint | Op::Vacuum => {}
            Op::Restore { version } => after = at.get(&version)?.clone(),
        }
        Some(after)
    }
}

async fn run_op(table: &Table, op: &Op) -> strata::Result<()> {
    match *op {
        Op::Append { start, n } => {
            let batches: Vec<RecordBatch> = (0..3)
                .map(|b| batch(start + b * n..start + (b + 1) * n, |id| id))
                .collect();
            // Small files: the append uploads several before it commits.
            table
                .write(batches)
                .with_target_file_size(1)
                .execute()
                .await?;
        }
        Op::Overwrite { start, n } => {
            table.overwrite([batch(start..start + n, |id| id)]).await?;
        }
        Op::Delete { modulus, residue } => {
            table
                .delete()
                .with_predicate(format!("id % {modulus} = {residue}"))
                .execute()
                .await?;
        }
        Op::Update { modulus, residue } => {
            table
                .update()
                .with_predicate(format!("id % {modulus} = {residue}"))
                .set("value", "value + 1000")
                .execute()
                .await?;
        }
        Op::Merge { start, n } => {
            table
                .merge(batch(start..start + n, |id| -id), "target.id = source.id")
                .when_matched_update_all()
                .when_not_matched_insert_all()
                .execute()
                .await?;
        }
        Op::Optimize => {
            table.optimize().execute().await?;
        }
        Op::Checkpoint => {
            table.checkpoint().await?;
        }
        Op::Vacuum => {
            table
                .vacuum()
                .with_retention_ms(0)
                .with_force(true)
                .execute()
                .await?;
        }
        Op::Restore { version } => {
            table.restore_to_version(version).await?;
        }
    }
    Ok(())
}

/// A worker process's body; a no-op unless [`WORKER_ENV`] is set.
#[test]
fn worker() {
    let Ok(job) = std::env::var(WORKER_ENV) else {
        return;
    };
    use std::io::Write;
    let job: Value = serde_json::from_str(&job).unwrap();
    let location = job["location"].as_str().unwrap().to_string();
    let op = Op::from_json(&job["op"]);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let table = runtime.block_on(Table::open(&location)).unwrap();
    let mut out = std::io::stdout();
    writeln!(out, "\nREADY").unwrap();
    out.flush().unwrap();
    let mut go = String::new();
    std::io::stdin().read_line(&mut go).unwrap();
    let result = runtime.block_on(run_op(&table, &op));
    writeln!(
        out,
        "\nDONE {}",
        result.map_or_else(|e| e.to_string(), |()| "ok".into())
    )
    .unwrap();
    out.flush().unwrap();
}

/// The rows of `version`, or the error reading it.
async fn rows_at(location: &str, version: Option<i64>) -> strata::Result<Rows> {
    let table = Table::open(location).await?;
    let snapshot = match version {
        Some(v) => table.snapshot_at_version(v).await?,
        None => table.snapshot().await?,
    };
    let mut rows = Rows::new();
    for b in snapshot.scan().collect().await? {
        let ids = b.column(0).as_primitive::<Int64Type>();
        let values = b.column(1).as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            let previous = rows.insert(ids.value(i), values.value(i));
            assert!(
                previous.is_none(),
                "version {version:?}: id {} twice",
                ids.value(i)
            );
        }
    }
    Ok(rows)
}

/// The rows strata read at `v` (version 0 is the empty table).
fn at_version(at: &BTreeMap<i64, Rows>, v: i64) -> Rows {
    at.get(&v).cloned().unwrap_or_default()
}

fn choose(rng: &mut SplitMix64, next_id: &mut i64, latest: i64) -> Op {
    let mut fresh = |n: i64| {
        let start = *next_id;
        *next_id += 3 * n;
        start
    };
    match rng.below(12) {
        0..=2 => Op::Append {
            start: fresh(200),
            n: 200,
        },
        3 => Op::Overwrite {
            start: fresh(300),
            n: 300,
        },
        4 => Op::Delete {
            modulus: 2 + rng.below(5) as i64,
            residue: 0,
        },
        5 => Op::Update {
            modulus: 2 + rng.below(5) as i64,
            residue: 1,
        },
        6 => {
            // Half existing ids (the low ones), half new.
            let start = (*next_id - 100).max(0);
            *next_id += 100;
            Op::Merge { start, n: 200 }
        }
        7 => Op::Optimize,
        8 => Op::Checkpoint,
        9 => Op::Vacuum,
        _ => Op::Restore {
            version: rng.below(latest as u64 + 1) as i64,
        },
    }
}

#[test]
fn kill_9_at_any_moment_leaves_every_version_whole() {
    if std::env::var(WORKER_ENV).is_ok() {
        return;
    }
    let kills: usize = std::env::var("STRATA_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let seed: u64 = std::env::var("STRATA_KILLS_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x4B11);
    let mut rng = SplitMix64::new(seed);
    let lake = TempLake::new();
    let location = lake.table("killed");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let table = runtime.block_on(async {
        Table::create(&location)
            .with_arrow_schema(&schema())
            .unwrap()
            .with_property("delta.enableDeletionVectors", "true")
            .execute()
            .await
            .unwrap()
    });
    runtime
        .block_on(table.append([batch(0..500, |id| id)]))
        .unwrap();
    let mut next_id = 500;
    // The rows of each version, as strata read them right after it was made.
    let mut at: BTreeMap<i64, Rows> = BTreeMap::new();
    at.insert(0, Rows::new());
    at.insert(1, (0..500).map(|id| (id, id)).collect());
    let (mut mid_op, mut committed_mid_op, mut finished) = (0, 0, 0);
    // Versions below this may have lost files to a zero-retention vacuum.
    let mut vacuumed_below = 0;
    let started = Instant::now();
    let mut bounds: BTreeMap<String, u64> = BTreeMap::new();
    // Per operation: kills mid-way, and of those, after the commit landed.
    let mut tallies: BTreeMap<String, (u32, u32)> = BTreeMap::new();
    for kill in 0..kills {
        let before_version = runtime.block_on(table.version()).unwrap();
        let before = at[&before_version].clone();
        let op = choose(&mut rng, &mut next_id, before_version);
        // The kill falls anywhere in the operation: each kind's bound shrinks when the worker
        // finished first and grows when it was killed mid-way, so about half land mid-way.
        let kind = format!("{op:?}")
            .split([' ', '{'])
            .next()
            .unwrap()
            .to_string();
        let bound = bounds.entry(kind.clone()).or_insert(8_000u64);
        let delay_us = rng.below(*bound + 1);
        let context = format!(
            "STRATA_KILLS_SEED={seed}: kill {kill} of {op:?} after {delay_us} µs at version {before_version}"
        );
        let job = json!({"location": location, "op": op.to_json()});
        let mut worker = Worker::spawn(kill, "kills::worker", WORKER_ENV, &job, &["STRATA_KILLS"]);
        worker.wait_ready(Duration::from_secs(60));
        worker.go();
        std::thread::sleep(Duration::from_micros(delay_us));
        let killed = worker.kill();
        worker.wait(Duration::from_secs(120));
        let done = worker.marked("DONE ").next().map(str::to_string);
        let bound = bounds.get_mut(&kind).unwrap();
        let tally = tallies.entry(kind.clone()).or_insert((0, 0));
        if killed && done.is_none() {
            tally.0 += 1;
            mid_op += 1;
            *bound = (*bound * 11 / 10).min(2_000_000);
        } else {
            finished += 1;
            *bound = (*bound * 7 / 10).max(200);
        }
        // The table opens and the latest version reads: as before, or as the whole result.
        let reopened = runtime
            .block_on(Table::open(&location))
            .unwrap_or_else(|e| panic!("{context}: the table does not open: {e}"));
        let latest = runtime.block_on(reopened.version()).unwrap();
        let rows = runtime
            .block_on(rows_at(&location, None))
            .unwrap_or_else(|e| {
                panic!("{context}: the latest version {latest} does not read: {e}")
            });
        let after = op.apply(&before, &at);
        let whole = after.as_ref() == Some(&rows);
        assert!(
            rows == before || whole,
            "{context}: version {latest} holds {} rows, neither the {} before nor the {:?} after \
             (worker said {done:?})",
            rows.len(),
            before.len(),
            after.as_ref().map(|a| a.len())
        );
        if killed && done.is_none() && latest > before_version {
            committed_mid_op += 1;
            tallies.get_mut(&kind).unwrap().1 += 1;
        }
        if let Some(done) = &done
            && done != "ok"
        {
            // A finished operation may refuse (a restore of a vacuumed version); nothing changes.
            assert_eq!(rows, before, "{context}: {done}");
        }
        if matches!(op, Op::Vacuum) && latest > before_version {
            vacuumed_below = before_version + 1;
        }
        // Versions the operation made (a vacuum makes two, of the same rows).
        for v in before_version + 1..=latest {
            at.insert(v, rows.clone());
        }
        if latest > before_version {
            runtime.block_on(table.snapshot()).unwrap();
        }
    }
    // Every version strata still reads, deltalake reads identically.
    let latest = runtime.block_on(table.version()).unwrap();
    let mut readable = Vec::new();
    for v in 0..=latest {
        match runtime.block_on(rows_at(&location, Some(v))) {
            Ok(rows) => {
                if let Some(expected) = at.get(&v) {
                    assert_eq!(
                        &rows, expected,
                        "STRATA_KILLS_SEED={seed}: version {v} changed"
                    );
                }
                readable.push(v);
            }
            Err(strata::Error::DataFileMissing { .. } | strata::Error::DeletionVector { .. })
                if v < vacuumed_below => {}
            Err(e) => panic!("STRATA_KILLS_SEED={seed}: version {v}: {e}"),
        }
    }
    // deltalake's QueryBuilder path reads deletion vectors.
    for &v in &readable {
        let mut theirs = Rows::new();
        for b in crate::support::python::read_with("deltalake", &location, Some(v)) {
            let ids = b.column_by_name("id").unwrap().as_primitive::<Int64Type>();
            let values = b
                .column_by_name("value")
                .unwrap()
                .as_primitive::<Int64Type>();
            for i in 0..b.num_rows() {
                theirs.insert(ids.value(i), values.value(i));
            }
        }
        assert_eq!(
            theirs,
            at_version(&at, v),
            "STRATA_KILLS_SEED={seed}: deltalake at version {v}"
        );
    }
    eprintln!(
        "kills: {kills} workers killed with SIGKILL ({mid_op} mid-operation, {committed_mid_op} of those \
         after their commit landed; {finished} had finished) over {latest} versions in {:.1}s; \
         {} versions read identically by deltalake; 0 lost; mid-way (committed) per operation: {tallies:?}",
        started.elapsed().as_secs_f64(),
        readable.len()
    );
}
