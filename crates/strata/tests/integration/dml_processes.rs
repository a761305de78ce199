//! Multi-process DML races (`protocol/PROTOCOL.md#conflicts`): P OS processes run a seeded mix
//! of updates, deletes, merges (upserts) and appends on one table at once, each over rows only
//! it owns (`id % P == k`), while every data file holds rows of every process. So two DMLs on
//! different processes' rows still touch the same files and must conflict (copy-on-write
//! rewrite against rewrite, and deletion vector against deletion vector on one file), and a
//! DML that loses the race to a commit it does not conflict with (a blind append, a DML on
//! other files) must be committed on top of it rather than failed.
//!
//! Each worker re-runs an operation that fails with [`Error::Conflict`] (what a user does),
//! at most [`MAX_ATTEMPTS_PER_PROCESS`] times P attempts, and applies it to its own model
//! (id -> value) only once it committed; any other error, or row counts that differ from the
//! model's, fail the worker. The parent then checks:
//! - the log: versions contiguous, each committed operation at its own version with the right
//!   `commitInfo.operation`, unique `txnId`s, every `remove` of a file (and vector) that was
//!   live, so no two commits replaced the same file;
//! - every conflict a worker saw: its winner is another worker's commit that removed the file
//!   named, or, not being a blind append, added it (a conflict with a blind append, or any
//!   other reason, is a DML that should have been rebased);
//! - the data: a full scan of the final table equals the union of the workers' models;
//! - that conflicts happened at all (with deletion vectors, against a winner that wrote a
//!   vector on the file), so the test can fail for the reason it exists.
//!
//! Workers are this test binary re-executed (`current_exe() --exact dml_processes::worker`)
//! with [`WORKER_ENV`] holding the JSON job, as in `stress.rs`: each opens the table, reports
//! `READY`, waits for `GO` on stdin (so they start together) and prints one line per event.
//!
//! Scale: 4 processes x 25 operations by default; `STRATA_DML_STRESS=8x40` for more. Seed:
//! `STRATA_SEED=<n>` (default from the clock), printed in every failure.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{AsArray, Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};
use serde_json::{Value, json};
use strata::actions::{Action, Add, CommitInfo, file_key, parse_commit};
use strata::{ConflictReason, Error, Table};

use crate::dml_merge::Rng;
use crate::support::*;
use crate::workers::{Worker, fail, listed_commit_versions, run_all};

/// Set in a worker's environment: the JSON job description.
const WORKER_ENV: &str = "STRATA_DML_PROCESSES_WORKER";
/// Initial data files (versions 1..=INITIAL_FILES), each holding rows of every worker.
const INITIAL_FILES: i64 = 3;
/// Rows each worker owns in each initial file.
const ROWS_PER_WORKER_PER_FILE: i64 = 4;
/// New ids of worker `k` are `P * (FRESH_BASE + n) + k`, above every initial id.
const FRESH_BASE: i64 = 1_000;
/// Bound on a worker's attempts at one operation (the first plus re-runs after conflicts),
/// per process: an update that reads every file conflicts with every other DML, and at 8x40 one
/// took 76 attempts.
const MAX_ATTEMPTS_PER_PROCESS: u32 = 25;

/// `(processes, operations per process)` from `STRATA_DML_STRESS=PxC`, default 4x25.
fn scale() -> (usize, usize) {
    let Ok(spec) = std::env::var("STRATA_DML_STRESS") else {
        return (4, 25);
    };
    let parsed = spec
        .split_once(['x', 'X'])
        .and_then(|(p, c)| Some((p.trim().parse().ok()?, c.trim().parse().ok()?)));
    match parsed {
        Some((p, c)) if (1..=64).contains(&p) && (1..10_000).contains(&c) => (p, c),
        _ => panic!("STRATA_DML_STRESS={spec:?}: expected PxC, e.g. 8x40 (P <= 64, C < 10000)"),
    }
}

/// `STRATA_SEED`, or one from the clock.
fn seed() -> u64 {
    match std::env::var("STRATA_SEED") {
        Ok(s) => s
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("STRATA_SEED={s:?}: expected an integer")),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_nanos() as u64,
    }
}

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("value", DataType::Int64, true),
    ]))
}

fn batch(rows: &[(i64, i64)]) -> RecordBatch {
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1))),
        ],
    )
    .expect("batch")
}

/// The rows of initial file `f`: consecutive ids, so every worker owns
/// [`ROWS_PER_WORKER_PER_FILE`] of them.
fn initial_file(f: i64, processes: usize) -> Vec<(i64, i64)> {
    let n = ROWS_PER_WORKER_PER_FILE * processes as i64;
    (f * n..(f + 1) * n).map(|id| (id, 10 * id)).collect()
}

fn owner(id: i64, processes: usize) -> usize {
    (id % processes as i64) as usize
}

// Operations and the model.

/// 1..=`most` distinct ids of `ids` (a new id when there are none, which matches nothing).
fn pick(rng: &mut Rng, ids: &[i64], most: u64, fresh: &mut impl FnMut() -> i64) -> Vec<i64> {
    let mut picked = BTreeSet::new();
    for _ in 0..1 + rng.below(most) {
        picked.insert(if ids.is_empty() {
            fresh()
        } else {
            ids[rng.below(ids.len() as u64) as usize]
        });
    }
    picked.into_iter().collect()
}

/// One operation of a worker, over its own ids only.
#[derive(Clone, Debug)]
enum Op {
    /// `UPDATE SET value = <value> WHERE id IN (ids)`: pruned to the files holding the ids.
    Set { ids: Vec<i64>, value: i64 },
    /// `UPDATE SET value = value + 1 WHERE id % P = k AND id % 3 = residue`: reads every file.
    Bump { residue: i64 },
    /// `DELETE WHERE id IN (ids)`.
    Delete { ids: Vec<i64> },
    /// `MERGE … WHEN MATCHED UPDATE * WHEN NOT MATCHED INSERT *` of ids present and new.
    Upsert { rows: Vec<(i64, i64)> },
    /// A blind append of new ids.
    Append { rows: Vec<(i64, i64)> },
}

/// Rows an operation changed, by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Counts {
    updated: u64,
    deleted: u64,
    inserted: u64,
}

/// What a committed (or no-op) operation reported.
struct Done {
    version: Option<i64>,
    counts: Counts,
}

impl Op {
    fn random(rng: &mut Rng, model: &BTreeMap<i64, i64>, fresh: &mut impl FnMut() -> i64) -> Op {
        let ids: Vec<i64> = model.keys().copied().collect();
        match rng.below(100) {
            0..25 => Op::Set {
                ids: pick(rng, &ids, 2, fresh),
                value: rng.below(1_000_000) as i64,
            },
            25..40 => Op::Bump {
                residue: rng.below(3) as i64,
            },
            40..55 => Op::Delete {
                ids: pick(rng, &ids, 2, fresh),
            },
            55..80 => {
                let mut rows: Vec<(i64, i64)> = pick(rng, &ids, 2, fresh)
                    .into_iter()
                    .map(|id| (id, rng.below(1_000_000) as i64))
                    .collect();
                for _ in 0..1 + rng.below(2) {
                    rows.push((fresh(), rng.below(1_000_000) as i64));
                }
                Op::Upsert { rows }
            }
            _ => Op::Append {
                rows: (0..1 + rng.below(3))
                    .map(|_| (fresh(), rng.below(1_000_000) as i64))
                    .collect(),
            },
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Op::Set { .. } => "set",
            Op::Bump { .. } => "bump",
            Op::Delete { .. } => "delete",
            Op::Upsert { .. } => "upsert",
            Op::Append { .. } => "append",
        }
    }

    /// What the model says the operation changes.
    fn expected(&self, model: &BTreeMap<i64, i64>, k: usize, processes: usize) -> Counts {
        let present = |ids: &mut dyn Iterator<Item = i64>| {
            ids.filter(|id| model.contains_key(id)).count() as u64
        };
        match self {
            Op::Set { ids, .. } => Counts {
                updated: present(&mut ids.iter().copied()),
                ..Counts::default()
            },
            Op::Bump { residue } => Counts {
                updated: present(
                    &mut model
                        .keys()
                        .copied()
                        .filter(|id| owner(*id, processes) == k && id % 3 == *residue),
                ),
                ..Counts::default()
            },
            Op::Delete { ids } => Counts {
                deleted: present(&mut ids.iter().copied()),
                ..Counts::default()
            },
            Op::Upsert { rows } => {
                let updated = present(&mut rows.iter().map(|r| r.0));
                Counts {
                    updated,
                    inserted: rows.len() as u64 - updated,
                    ..Counts::default()
                }
            }
            Op::Append { rows } => Counts {
                inserted: rows.len() as u64,
                ..Counts::default()
            },
        }
    }

    /// Applies the committed operation to the model.
    fn apply(&self, model: &mut BTreeMap<i64, i64>) {
        match self {
            Op::Set { ids, value } => {
                for id in ids {
                    if let Some(v) = model.get_mut(id) {
                        *v = *value;
                    }
                }
            }
            Op::Bump { residue } => {
                for (id, v) in model.iter_mut() {
                    if id % 3 == *residue {
                        *v += 1;
                    }
                }
            }
            Op::Delete { ids } => {
                for id in ids {
                    model.remove(id);
                }
            }
            Op::Upsert { rows } | Op::Append { rows } => model.extend(rows.iter().copied()),
        }
    }

    async fn run(&self, table: &Table, k: usize, processes: usize) -> strata::Result<Done> {
        let in_list = |ids: &[i64]| {
            let list: Vec<String> = ids.iter().map(i64::to_string).collect();
            format!("id IN ({})", list.join(", "))
        };
        Ok(match self {
            Op::Set { ids, value } => {
                let r = table
                    .update()
                    .with_predicate(in_list(ids))
                    .set("value", value.to_string())
                    .execute()
                    .await?;
                Done {
                    version: r.version,
                    counts: Counts {
                        updated: r.num_updated_rows,
                        ..Counts::default()
                    },
                }
            }
            Op::Bump { residue } => {
                let r = table
                    .update()
                    .with_predicate(format!("id % {processes} = {k} AND id % 3 = {residue}"))
                    .set("value", "value + 1")
                    .execute()
                    .await?;
                Done {
                    version: r.version,
                    counts: Counts {
                        updated: r.num_updated_rows,
                        ..Counts::default()
                    },
                }
            }
            Op::Delete { ids } => {
                let r = table
                    .delete()
                    .with_predicate(in_list(ids))
                    .execute()
                    .await?;
                Done {
                    version: r.version,
                    counts: Counts {
                        deleted: r.num_deleted_rows,
                        ..Counts::default()
                    },
                }
            }
            Op::Upsert { rows } => {
                let r = table
                    .merge(batch(rows), "target.id = source.id")
                    .when_matched_update_all()
                    .when_not_matched_insert_all()
                    .execute()
                    .await?;
                Done {
                    version: r.version,
                    counts: Counts {
                        updated: r.num_target_rows_updated,
                        deleted: r.num_target_rows_deleted,
                        inserted: r.num_target_rows_inserted,
                    },
                }
            }
            Op::Append { rows } => {
                let w = table.append([batch(rows)]).await?;
                Done {
                    version: Some(w.version),
                    counts: Counts {
                        inserted: w.num_rows,
                        ..Counts::default()
                    },
                }
            }
        })
    }
}

/// The `commitInfo.operation` an operation of `kind` commits with.
fn operation_of(kind: &str) -> &'static str {
    match kind {
        "set" | "bump" => "UPDATE",
        "delete" => "DELETE",
        "upsert" => "MERGE",
        "append" => "WRITE",
        other => panic!("unknown operation kind {other:?}"),
    }
}

// Worker side.

/// A worker process's body; a no-op unless [`WORKER_ENV`] is set.
#[test]
fn worker() {
    let Ok(job) = std::env::var(WORKER_ENV) else {
        return;
    };
    let job: Value = serde_json::from_str(&job).expect("worker job JSON");
    let location = job["location"].as_str().expect("location").to_string();
    let k = job["process"].as_u64().expect("process") as usize;
    let processes = job["processes"].as_u64().expect("processes") as usize;
    let ops = job["ops"].as_u64().expect("ops") as usize;
    let seed = job["seed"].as_u64().expect("seed");
    let who = format!("seed {seed} (STRATA_SEED={seed}), worker {k}");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // Not println!: libtest's capture must not hold these back.
    let mut out = std::io::stdout();
    let table = runtime
        .block_on(Table::open(&location))
        .unwrap_or_else(|e| panic!("{who}: open {location}: {e}"));
    let mut model: BTreeMap<i64, i64> = (0..INITIAL_FILES)
        .flat_map(|f| initial_file(f, processes))
        .filter(|(id, _)| owner(*id, processes) == k)
        .collect();
    let mut rng = Rng((seed ^ (k as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1);
    let max_attempts = MAX_ATTEMPTS_PER_PROCESS * processes as u32;
    let mut next = 0i64;
    let mut fresh = || {
        next += 1;
        processes as i64 * (FRESH_BASE + next) + k as i64
    };
    writeln!(out, "\nREADY").unwrap();
    out.flush().unwrap();
    let mut go = String::new();
    std::io::stdin().read_line(&mut go).expect("stdin");
    assert_eq!(go.trim(), "GO", "{who}: parent said {go:?}");

    for i in 0..ops {
        let op = Op::random(&mut rng, &model, &mut fresh);
        let expected = op.expected(&model, k, processes);
        let mut attempts = 0u32;
        let done = loop {
            attempts += 1;
            match runtime.block_on(op.run(&table, k, processes)) {
                Ok(done) => break done,
                Err(Error::Conflict {
                    version, reason, ..
                }) if attempts < max_attempts => {
                    let reason = match reason {
                        ConflictReason::FileRemoved { path } => format!("FileRemoved {path}"),
                        ConflictReason::FilesAdded { path } => format!("FilesAdded {path}"),
                        other => format!("Other {other}"),
                    };
                    writeln!(out, "CONFLICT {i} {version} {reason}").unwrap();
                    out.flush().unwrap();
                }
                Err(e) => panic!("{who}, op {i} {op:?}, attempt {attempts}: {e}"),
            }
        };
        assert_eq!(
            done.counts, expected,
            "{who}, op {i} {op:?}: rows changed (left) differ from the model's (right)"
        );
        assert_eq!(
            done.version.is_some(),
            expected != Counts::default(),
            "{who}, op {i} {op:?}: committed at {:?} though the model expects {expected:?}",
            done.version
        );
        op.apply(&mut model);
        writeln!(
            out,
            "OP {i} {} {} {attempts}",
            op.kind(),
            done.version.unwrap_or(-1)
        )
        .unwrap();
        out.flush().unwrap();
    }
    let rows: Vec<[i64; 2]> = model.iter().map(|(id, v)| [*id, *v]).collect();
    writeln!(out, "MODEL {}", json!(rows)).unwrap();
    out.flush().unwrap();
}

// Parent side: the processes.

/// One operation as its worker reported it.
#[derive(Clone, Debug)]
struct OpReport {
    kind: String,
    /// `None` when nothing matched and nothing was committed.
    version: Option<i64>,
    attempts: u32,
}

/// One conflict a worker's operation met.
#[derive(Clone, Debug)]
struct ConflictReport {
    op: usize,
    winner: i64,
    /// `FileRemoved`, `FilesAdded` or `Other`.
    reason: String,
    /// The file named, or the reason's text for `Other`.
    detail: String,
}

/// Everything one worker reported.
struct Report {
    ops: Vec<OpReport>,
    conflicts: Vec<ConflictReport>,
    model: BTreeMap<i64, i64>,
}

/// Starts worker `k` of a race.
fn spawn(k: usize, location: &str, (processes, ops): (usize, usize), seed: u64) -> Worker {
    let job = json!({
        "location": location,
        "process": k,
        "processes": processes,
        "ops": ops,
        "seed": seed,
    });
    Worker::spawn(k, "dml_processes::worker", WORKER_ENV, &job, &[])
}

/// The worker's report, or what is wrong with its output.
fn parse(w: &Worker, ops: usize) -> Result<Report, String> {
    let mut reports = Vec::new();
    for (n, rest) in w.marked("OP ").enumerate() {
        let f: Vec<&str> = rest.split_whitespace().collect();
        let parsed = (f.len() == 4)
            .then(|| {
                Some((
                    f[0].parse::<usize>().ok()?,
                    f[2].parse::<i64>().ok()?,
                    f[3].parse::<u32>().ok()?,
                ))
            })
            .flatten();
        let Some((i, version, attempts)) = parsed else {
            return Err(format!("bad OP line {rest:?}"));
        };
        if i != n {
            return Err(format!("OP line {rest:?} out of order (expected op {n})"));
        }
        reports.push(OpReport {
            kind: f[1].to_string(),
            version: (version >= 0).then_some(version),
            attempts,
        });
    }
    if reports.len() != ops {
        return Err(format!("{} OP lines, expected {ops}", reports.len()));
    }
    let mut conflicts = Vec::new();
    for rest in w.marked("CONFLICT ") {
        let mut f = rest.splitn(4, ' ');
        let parsed = (|| {
            Some(ConflictReport {
                op: f.next()?.parse().ok()?,
                winner: f.next()?.parse().ok()?,
                reason: f.next()?.to_string(),
                detail: f.next()?.to_string(),
            })
        })()
        .filter(|c| c.op < ops);
        conflicts.push(parsed.ok_or_else(|| format!("bad CONFLICT line {rest:?}"))?);
    }
    let model = w
        .marked("MODEL ")
        .next()
        .and_then(|rest| serde_json::from_str::<Vec<(i64, i64)>>(rest).ok())
        .ok_or("no parseable MODEL line")?
        .into_iter()
        .collect();
    Ok(Report {
        ops: reports,
        conflicts,
        model,
    })
}

/// Runs the workers against `location` and returns their reports; `context` (the seed) heads
/// every failure.
fn run_workers(
    location: &str,
    (processes, ops): (usize, usize),
    seed: u64,
    context: &str,
) -> Vec<Report> {
    let mut workers: Vec<Worker> = (0..processes)
        .map(|k| spawn(k, location, (processes, ops), seed))
        .collect();
    let timeout = Duration::from_secs(120 + (processes * ops) as u64);
    run_all(&mut workers, timeout, context);
    let mut reports = Vec::new();
    for k in 0..processes {
        match parse(&workers[k], ops) {
            Ok(r) => reports.push(r),
            Err(e) => fail(&mut workers, &format!("{context}: worker {k}: {e}")),
        }
    }
    reports
}

// Parent side: the checks.

/// Who committed a version: `(worker, op index, kind)`.
type Claim = (usize, usize, String);

fn commit_info(actions: &[Action]) -> Option<&CommitInfo> {
    actions.iter().find_map(|a| match a {
        Action::CommitInfo(ci) => Some(ci),
        _ => None,
    })
}

/// Whether a commit removes the file at `path` (any vector).
fn removed(actions: &[Action], path: &str) -> bool {
    actions
        .iter()
        .any(|a| matches!(a, Action::Remove(r) if r.path == path))
}

/// The commit's `add` of the file at `path`, if any.
fn added<'a>(actions: &'a [Action], path: &str) -> Option<&'a Add> {
    actions.iter().find_map(|a| match a {
        Action::Add(add) if add.path == path => Some(add),
        _ => None,
    })
}

/// The whole race on a new table at `location`.
fn race(label: &str, vectors: bool) {
    let (processes, ops) = scale();
    let seed = seed();
    let context = format!(
        "dml_processes[{label}] seed {seed} (rerun with STRATA_SEED={seed} \
         STRATA_DML_STRESS={processes}x{ops})"
    );
    eprintln!("{context}");
    let lake = TempLake::new();
    let location = lake.table("t");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let started = Instant::now();
    runtime.block_on(async {
        let mut create = Table::create(location.as_str())
            .with_arrow_schema(&schema())
            .expect("schema");
        if vectors {
            create = create.with_property("delta.enableDeletionVectors", "true");
        }
        let table = create.execute().await.expect("create");
        for f in 0..INITIAL_FILES {
            let w = table
                .append([batch(&initial_file(f, processes))])
                .await
                .expect("initial append");
            assert_eq!((w.version, w.num_files), (f + 1, 1), "initial file {f}");
        }
    });

    let reports = run_workers(&location, (processes, ops), seed, &context);
    let workers_done = started.elapsed();

    // Every committed operation at its own version; each worker's ascending; together with
    // the setup exactly the versions after it.
    let mut claims: BTreeMap<i64, Claim> = BTreeMap::new();
    for (k, r) in reports.iter().enumerate() {
        let versions: Vec<i64> = r.ops.iter().filter_map(|o| o.version).collect();
        assert!(
            versions.windows(2).all(|p| p[0] < p[1]),
            "{context}: worker {k}'s versions are not ascending: {versions:?}"
        );
        for (i, o) in r.ops.iter().enumerate() {
            let Some(v) = o.version else { continue };
            if let Some(prev) = claims.insert(v, (k, i, o.kind.clone())) {
                panic!("{context}: version {v} claimed by worker {k} op {i} and by {prev:?}");
            }
        }
        for id in r.model.keys() {
            assert_eq!(
                owner(*id, processes),
                k,
                "{context}: worker {k}'s model holds id {id}"
            );
        }
    }
    let last = INITIAL_FILES + claims.len() as i64;
    assert_eq!(
        claims.keys().copied().collect::<Vec<_>>(),
        (INITIAL_FILES + 1..=last).collect::<Vec<_>>(),
        "{context}: claimed versions must be exactly {}..={last}",
        INITIAL_FILES + 1
    );

    let (log, final_rows) = runtime.block_on(async {
        let table = Table::open(location.as_str()).await.expect("reopen");
        assert_eq!(table.version().await.unwrap(), last, "{context}: latest");
        let storage = table.storage();
        let listed = listed_commit_versions(storage).await;
        assert_eq!(
            listed,
            (0..=last).collect::<Vec<_>>(),
            "{context}: commit files in _delta_log"
        );
        let mut log = Vec::new();
        for v in 0..=last {
            let bytes = storage
                .get(&storage.log_path(&format!("{v:020}.json")))
                .await
                .unwrap_or_else(|e| panic!("{context}: read v{v}: {e}"));
            let actions = parse_commit(&bytes)
                .unwrap_or_else(|(line, e)| panic!("{context}: v{v} line {line}: {e}"));
            log.push(actions);
        }
        let batches = table
            .snapshot()
            .await
            .unwrap()
            .scan()
            .with_columns(["id", "value"])
            .collect()
            .await
            .unwrap_or_else(|e| panic!("{context}: scan: {e}"));
        let mut rows = Vec::new();
        for b in &batches {
            let (id, value) = (
                b.column(0).as_primitive::<Int64Type>(),
                b.column(1).as_primitive::<Int64Type>(),
            );
            rows.extend((0..b.num_rows()).map(|i| (id.value(i), value.value(i))));
        }
        (log, rows)
    });

    // The log: one commitInfo and a unique txnId per commit, the operation each worker ran,
    // and every remove of a live file (a file, or its vector, replaced by two commits means a
    // conflict was missed). DMLs read at an older version than the one before theirs were
    // rebased over the commits in between.
    let mut txn_ids = HashSet::new();
    let mut live: HashSet<String> = HashSet::new();
    let mut rebased: BTreeMap<&str, usize> = BTreeMap::new();
    for (v, actions) in log.iter().enumerate() {
        let v = v as i64;
        let infos = actions
            .iter()
            .filter(|a| matches!(a, Action::CommitInfo(_)))
            .count();
        assert_eq!(infos, 1, "{context}: v{v}: commitInfo actions");
        let info = commit_info(actions).expect("commitInfo");
        assert!(
            txn_ids.insert(info.txn_id.clone().expect("txnId")),
            "{context}: v{v}: txnId repeated"
        );
        if let Some((k, i, kind)) = claims.get(&v) {
            assert_eq!(
                info.operation.as_deref(),
                Some(operation_of(kind)),
                "{context}: v{v} is worker {k}'s op {i} ({kind})"
            );
            let read = info.read_version.expect("readVersion");
            assert!(read < v, "{context}: v{v} read v{read}");
            if read < v - 1 && kind != "append" {
                *rebased.entry(kind).or_default() += 1;
            }
        }
        for a in actions {
            match a {
                Action::Remove(r) => {
                    let key = file_key(&r.path, r.deletion_vector.as_ref());
                    assert!(
                        live.remove(&key),
                        "{context}: v{v} ({:?}) removes {} (vector {:?}), which is not live: \
                         two commits replaced the same file",
                        claims.get(&v),
                        r.path,
                        r.deletion_vector
                    );
                }
                Action::Add(add) => {
                    live.insert(file_key(&add.path, add.deletion_vector.as_ref()));
                }
                _ => {}
            }
        }
    }

    // Every conflict: its winner another worker's commit that removed the file named, or, not
    // a blind append, added it.
    let mut unexpected = Vec::new();
    let mut matrix: BTreeMap<(String, String), usize> = BTreeMap::new();
    let (mut conflicts, mut vector_on_vector) = (0usize, 0usize);
    let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
    for (k, r) in reports.iter().enumerate() {
        for c in &r.conflicts {
            conflicts += 1;
            *reasons.entry(&c.reason).or_default() += 1;
            let loser = &r.ops[c.op].kind;
            let winner = usize::try_from(c.winner)
                .ok()
                .and_then(|v| Some((log.get(v)?, claims.get(&c.winner)?)));
            let Some((actions, (wk, wi, wkind))) = winner else {
                unexpected.push(format!(
                    "worker {k} op {} ({loser}): winner v{} is no worker's commit: {c:?}",
                    c.op, c.winner
                ));
                continue;
            };
            *matrix.entry((loser.clone(), wkind.clone())).or_default() += 1;
            let blind = commit_info(actions).and_then(|ci| ci.is_blind_append) == Some(true);
            let added = added(actions, &c.detail);
            let justified = *wk != k
                && match c.reason.as_str() {
                    "FileRemoved" => removed(actions, &c.detail),
                    "FilesAdded" => !blind && added.is_some_and(|a| a.data_change),
                    _ => false,
                };
            if !justified {
                let o = &r.ops[c.op];
                unexpected.push(format!(
                    "worker {k} op {} ({loser}, committed at {:?} after {} attempts) lost to v{} \
                     (worker {wk} op {wi}, {wkind}, blind append {blind}): {} {}",
                    c.op, o.version, o.attempts, c.winner, c.reason, c.detail
                ));
            }
            let vector_added = added.is_some_and(|a| a.deletion_vector.is_some());
            if vector_added {
                vector_on_vector += 1;
            }
        }
    }
    assert!(
        unexpected.is_empty(),
        "{context}: conflicts that Delta's rules do not call for (the operation should have \
         been rebased):\n{}",
        unexpected.join("\n")
    );

    // The data: exactly the union of the workers' models.
    let mut expected: BTreeMap<i64, i64> = BTreeMap::new();
    for r in &reports {
        expected.extend(r.model.iter().map(|(id, v)| (*id, *v)));
    }
    let mut got: BTreeMap<i64, i64> = BTreeMap::new();
    let mut duplicated = Vec::new();
    for (id, v) in &final_rows {
        if got.insert(*id, *v).is_some() {
            duplicated.push(*id);
        }
    }
    assert!(
        duplicated.is_empty(),
        "{context}: ids present more than once: {duplicated:?}"
    );
    if got != expected {
        let diff: Vec<String> = expected
            .keys()
            .chain(got.keys())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .filter(|id| got.get(id) != expected.get(id))
            .take(10)
            .map(|id| {
                format!(
                    "id {id} (worker {}): table {:?}, model {:?}",
                    owner(*id, processes),
                    got.get(id),
                    expected.get(id)
                )
            })
            .collect();
        panic!(
            "{context}: the table differs from the workers' models (first 10):\n{}",
            diff.join("\n")
        );
    }

    let reruns: u32 = reports
        .iter()
        .flat_map(|r| &r.ops)
        .map(|o| o.attempts - 1)
        .sum();
    assert_eq!(
        reruns as usize, conflicts,
        "{context}: every re-run follows exactly one reported conflict"
    );
    let max_attempts = reports
        .iter()
        .flat_map(|r| &r.ops)
        .map(|o| o.attempts)
        .max()
        .unwrap_or(0);
    let no_ops = reports
        .iter()
        .flat_map(|r| &r.ops)
        .filter(|o| o.version.is_none())
        .count();
    eprintln!(
        "dml_processes[{label}]: seed {seed}, {processes} processes x {ops} ops in {:.1}s \
         (workers {:.1}s): {} commits, {no_ops} no-ops; {conflicts} conflicts {reasons:?}, \
         each re-run (max {max_attempts} attempts for one op), {vector_on_vector} against a \
         winner that wrote a deletion vector on the file; DMLs rebased over non-conflicting \
         commits: {rebased:?}; conflicts (loser, winner): {matrix:?}; {} rows",
        started.elapsed().as_secs_f64(),
        workers_done.as_secs_f64(),
        claims.len(),
        got.len(),
    );
    assert!(
        conflicts > 0,
        "{context}: no DML conflicted, so this run could not test conflicts on shared files"
    );
    assert!(
        !vectors || vector_on_vector > 0,
        "{context}: no DML lost to a deletion vector written on a file it read"
    );
}

/// Copy-on-write: DMLs on different workers' rows rewrite the same files and conflict; the
/// losers are re-run and every operation lands exactly once.
#[test]
fn concurrent_dml_processes_copy_on_write() {
    race("copy-on-write", false);
}

/// Deletion vectors: deletes and updates on one file each write a vector for it, so they
/// conflict (vector against vector); the losers are re-run and every operation lands once.
#[test]
fn concurrent_dml_processes_deletion_vectors() {
    race("deletion vectors", true);
}

/// Two upserts of one new key race, through two handles: one is held at its commit's put while
/// the other commits, then released. Neither merge reads a file (no file's statistics can hold
/// the key), yet each read the table through its predicate: neither is a blind append, so
/// the held one conflicts with the winner's insert of the same key instead of being rebased
/// over it and inserting the key twice (Delta records a merge's read predicate whether or not
/// files matched it). The workers above never share a key, so they cannot see this.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_upserts_of_one_new_key_do_not_both_insert_it() {
    use crate::support::fault_store::{FaultStore, OpMatch};
    use object_store::memory::InMemory;
    use strata::Storage;

    let inner: Arc<dyn object_store::ObjectStore> = Arc::new(InMemory::new());
    let clean = Storage::from_store(inner.clone(), "t", "memory://upsert/t").unwrap();
    let table = Table::create("memory://upsert/t")
        .with_storage(clean.clone())
        .with_arrow_schema(&schema())
        .unwrap()
        .execute()
        .await
        .unwrap();
    table
        .append([batch(&[(0, 0), (1, 10), (2, 20)])])
        .await
        .unwrap();
    let faults = Arc::new(FaultStore::new(inner, vec![]));
    let held_handle =
        Table::open_storage(Storage::from_store(faults.clone(), "t", "memory://upsert/t").unwrap())
            .await
            .unwrap();
    let upsert = |table: Table, value: i64| async move {
        table
            .merge(batch(&[(100, value)]), "target.id = source.id")
            .when_matched_update_all()
            .when_not_matched_insert_all()
            .execute()
            .await
    };
    let mut hold = faults.hold(OpMatch::commit_put());
    let held = tokio::spawn(upsert(held_handle, 1));
    hold.arrived().await;
    let winner = upsert(Table::open_storage(clean).await.unwrap(), 2)
        .await
        .unwrap();
    assert_eq!(winner.version, Some(2));
    hold.release();
    let outcome = held.await.unwrap();

    let snapshot = table.snapshot().await.unwrap();
    let storage = table.storage();
    let mut blind = Vec::new();
    for v in 2..=snapshot.version() {
        let bytes = storage
            .get(&storage.log_path(&format!("{v:020}.json")))
            .await
            .unwrap();
        let actions = parse_commit(&bytes).unwrap();
        blind.push((v, commit_info(&actions).and_then(|ci| ci.is_blind_append)));
    }
    let ids = snapshot_ids(&snapshot).await;
    assert!(
        matches!(outcome, Err(Error::Conflict { version: 2, .. })),
        "the held upsert must lose to the winner's insert of the same key; it returned \
         {outcome:?}; ids {ids:?}; isBlindAppend by version {blind:?}"
    );
    assert_eq!(ids, [0, 1, 2, 100], "isBlindAppend by version {blind:?}");
}
