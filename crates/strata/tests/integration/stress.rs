//! Multi-process concurrent appends: N OS processes append M commits each to one table, and
//! every commit must land exactly once (contiguous versions, exact rows, one claimant per
//! version, a parseable `commitInfo` in every commit). On local disk and, with the `s3`
//! feature, on the moto S3 server (`support/s3.rs`).
//!
//! Workers are this test binary re-executed (`current_exe() --exact stress::worker`) with
//! [`WORKER_ENV`] describing the job; [`worker`] does nothing without it. Each worker opens the
//! table once, reports `READY`, waits for the parent's go (a line on stdin, so they all start
//! together), then appends, printing `COMMIT <version> <attempts>` per commit.
//!
//! Scale: 4 processes x 25 commits by default; `STRATA_STRESS=8x100` for more.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::time::{Duration, Instant};

use arrow::array::AsArray;
use arrow::datatypes::Int64Type;
use serde_json::{Value, json};
use strata::actions::{Action, Stats, parse_commit};
use strata::{ConflictReason, Error, Table, Transaction};

use crate::support::*;
use crate::workers::{Worker, fail, listed_commit_versions, run_all};

/// Set in a worker's environment: the JSON job description.
const WORKER_ENV: &str = "STRATA_STRESS_WORKER";
/// Rows per commit.
const ROWS: i64 = 10;
/// Rows of the initial append (version 1), ids `0..INITIAL_ROWS`.
const INITIAL_ROWS: i64 = 7;
/// Bound on a worker's reloads per commit in [`Mode::ReloadOnExhaustedRetries`].
const MAX_RELOADS: u32 = 100;

/// How a worker treats `Conflict(TooManyRetries)` from `Table::append`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Fail: every append must commit within strata's default retries.
    Strict,
    /// Call `append` again (what the error tells users to do: "reload the table and retry"),
    /// which starts from the latest version. Needed on S3 at 8x100, where a writer waiting
    /// for the others can exhaust the default retries (see
    /// [`concurrent_appends_on_s3_commit_within_default_retries`]); the exactly-once checks
    /// are unchanged, since an append that ran out of retries committed nothing.
    ReloadOnExhaustedRetries,
}

/// `(processes, commits per process)` from `STRATA_STRESS=PxC`, default 4x25.
fn scale() -> (usize, usize) {
    let Ok(spec) = std::env::var("STRATA_STRESS") else {
        return (4, 25);
    };
    let parsed = spec
        .split_once(['x', 'X'])
        .and_then(|(p, c)| Some((p.trim().parse().ok()?, c.trim().parse().ok()?)));
    match parsed {
        Some((p, c)) if p > 0 && c > 0 && c < 100_000 => (p, c),
        _ => panic!("STRATA_STRESS={spec:?}: expected PxC, e.g. 8x100 (C < 100000)"),
    }
}

/// The ids process `k` writes in its commit `c`.
fn ids(k: usize, c: usize) -> std::ops::Range<i64> {
    let base = 1_000_000 * (k as i64 + 1) + ROWS * c as i64;
    base..base + ROWS
}

/// Which `(process, commit)` wrote an id (inverse of [`ids`]).
fn owner(id: i64) -> (usize, usize) {
    (
        (id / 1_000_000 - 1) as usize,
        ((id % 1_000_000) / ROWS) as usize,
    )
}

fn country(k: usize) -> String {
    format!("w{k}")
}

// ---------------------------------------------------------------------------------------
// Worker side.

/// A worker process's body; a no-op unless [`WORKER_ENV`] is set.
#[test]
fn worker() {
    let Ok(job) = std::env::var(WORKER_ENV) else {
        return;
    };
    let job: Value = serde_json::from_str(&job).expect("worker job JSON");
    let location = job["location"].as_str().expect("location").to_string();
    let options: HashMap<String, String> =
        serde_json::from_value(job["options"].clone()).expect("options");
    let k = job["process"].as_u64().expect("process") as usize;
    let commits = job["commits"].as_u64().expect("commits") as usize;
    let reload = job["reload_on_exhausted_retries"]
        .as_bool()
        .expect("reload flag");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // Not println!: libtest's capture must not hold these back.
    let mut out = std::io::stdout();
    let table = runtime
        .block_on(Table::open_with_options(&location, options))
        .unwrap_or_else(|e| panic!("worker {k}: open {location}: {e}"));
    writeln!(out, "\nREADY").unwrap();
    out.flush().unwrap();
    let mut go = String::new();
    std::io::stdin().read_line(&mut go).expect("stdin");
    assert_eq!(go.trim(), "GO", "worker {k}: parent said {go:?}");
    for c in 0..commits {
        let batch = people(ids(k, c), Some(&country(k)));
        // Puts made by earlier append calls of this commit that ran out of retries, and how
        // many such calls there were (see `Mode::ReloadOnExhaustedRetries`).
        let (mut wasted, mut reloads) = (0u32, 0u32);
        let w = loop {
            match runtime.block_on(table.append([batch.clone()])) {
                Ok(w) => break w,
                Err(Error::Conflict {
                    reason: ConflictReason::TooManyRetries { attempts },
                    ..
                }) if reload && reloads < MAX_RELOADS => {
                    wasted += attempts;
                    reloads += 1;
                }
                Err(e) => panic!("worker {k}, commit {c} (after {reloads} reloads): {e}"),
            }
        };
        assert_eq!(w.num_rows, ROWS as u64);
        writeln!(
            out,
            "COMMIT {} {} {reloads}",
            w.version,
            w.attempts + wasted
        )
        .unwrap();
        out.flush().unwrap();
    }
}

// ---------------------------------------------------------------------------------------
// Parent side.

/// What a worker reported for one commit.
#[derive(Clone, Copy, Debug)]
struct Committed {
    version: i64,
    /// Puts, over all `append` calls this commit took.
    attempts: u32,
    /// `append` calls that ran out of retries before the one that committed.
    reloads: u32,
}

/// One [`Committed`] per `COMMIT` line, in order.
fn committed(w: &Worker) -> Vec<Committed> {
    w.marked("COMMIT ")
        .filter_map(|rest| {
            let mut it = rest.split_whitespace();
            Some(Committed {
                version: it.next()?.parse().ok()?,
                attempts: it.next()?.parse().ok()?,
                reloads: it.next()?.parse().ok()?,
            })
        })
        .collect()
}

/// Starts worker `k` of a stress run.
fn spawn(
    k: usize,
    location: &str,
    options: &HashMap<String, String>,
    commits: usize,
    mode: Mode,
) -> Worker {
    let job = json!({
        "location": location,
        "options": options,
        "process": k,
        "commits": commits,
        "reload_on_exhausted_retries": mode == Mode::ReloadOnExhaustedRetries,
    });
    Worker::spawn(k, "stress::worker", WORKER_ENV, &job, &["STRATA_STRESS"])
}

/// Runs `processes` workers of `commits` appends each against `location`; returns each
/// worker's reports, in commit order.
fn run_workers(
    location: &str,
    options: &HashMap<String, String>,
    (processes, commits): (usize, usize),
    mode: Mode,
) -> Vec<Vec<Committed>> {
    let mut workers: Vec<Worker> = (0..processes)
        .map(|k| spawn(k, location, options, commits, mode))
        .collect();
    let timeout = Duration::from_secs(300 + 2 * (processes * commits) as u64);
    run_all(&mut workers, timeout, "stress");
    let results: Vec<Vec<Committed>> = workers.iter().map(committed).collect();
    if let Some(w) = workers
        .iter()
        .zip(&results)
        .find(|(_, r)| r.len() != commits)
    {
        let what = format!(
            "worker {} reported {} commits, expected {commits}",
            w.0.k,
            w.1.len()
        );
        fail(&mut workers, &what);
    }
    results
}

/// Checks one commit file strictly: every line a JSON object, exactly one `commitInfo` with
/// the fields strata writes; and strata's own parser accepts it. Returns the actions.
fn check_commit_file(version: i64, bytes: &[u8]) -> Vec<Action> {
    let text = std::str::from_utf8(bytes).unwrap_or_else(|e| panic!("v{version}: not UTF-8: {e}"));
    let mut infos = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let value: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("v{version} line {}: not JSON ({e}): {line}", i + 1));
        let obj = value
            .as_object()
            .unwrap_or_else(|| panic!("v{version} line {}: not an object", i + 1));
        assert_eq!(
            obj.len(),
            1,
            "v{version} line {}: one action per line",
            i + 1
        );
        if let Some(ci) = obj.get("commitInfo") {
            infos.push(ci.clone());
        }
    }
    assert_eq!(infos.len(), 1, "v{version}: exactly one commitInfo");
    let ci = &infos[0];
    assert!(
        ci["timestamp"].is_i64(),
        "v{version}: commitInfo.timestamp {ci}"
    );
    assert!(
        ci["operation"].is_string(),
        "v{version}: commitInfo.operation {ci}"
    );
    assert!(ci["txnId"].is_string(), "v{version}: commitInfo.txnId {ci}");
    assert!(
        ci["engineInfo"].is_string(),
        "v{version}: commitInfo.engineInfo {ci}"
    );
    parse_commit(bytes).unwrap_or_else(|(line, e)| panic!("v{version} line {line}: {e}"))
}

/// The whole stress scenario against `location`.
fn stress(
    location: &str,
    options: HashMap<String, String>,
    label: &str,
    (processes, commits): (usize, usize),
    mode: Mode,
) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let started = Instant::now();
    let table = runtime.block_on(async {
        let table = Table::create(location)
            .with_options(options.clone())
            .with_arrow_schema(&people_schema())
            .expect("schema")
            .execute()
            .await
            .unwrap_or_else(|e| panic!("create {location}: {e}"));
        let w = table
            .append([people(0..INITIAL_ROWS, Some("init"))])
            .await
            .expect("initial append");
        assert_eq!(w.version, 1);
        table
    });

    let results = run_workers(location, &options, (processes, commits), mode);
    let workers_done = started.elapsed();
    let last = 1 + (processes * commits) as i64;

    // Every version 2..=last claimed by exactly one worker, each worker's versions ascending.
    let mut claimed: BTreeMap<i64, (usize, usize)> = BTreeMap::new();
    for (k, list) in results.iter().enumerate() {
        for (c, r) in list.iter().enumerate() {
            if let Some(prev) = claimed.insert(r.version, (k, c)) {
                panic!(
                    "version {} claimed by worker {k} commit {c} and by {prev:?}",
                    r.version
                );
            }
        }
        assert!(
            list.windows(2).all(|p| p[0].version < p[1].version),
            "worker {k}'s versions are not ascending: {list:?}"
        );
    }
    assert_eq!(
        claimed.keys().copied().collect::<Vec<_>>(),
        (2..=last).collect::<Vec<_>>(),
        "claimed versions must be exactly 2..={last}"
    );

    let attempts: Vec<u32> = results.iter().flatten().map(|r| r.attempts).collect();
    let reloads: u32 = results.iter().flatten().map(|r| r.reloads).sum();
    let reloaded_commits = results.iter().flatten().filter(|r| r.reloads > 0).count();
    // Maximal runs of consecutive versions by one worker: about `processes` when the writers
    // took turns holding the table (convoy), many more when they interleaved.
    let runs = 1 + claimed
        .values()
        .zip(claimed.values().skip(1))
        .filter(|(a, b)| a.0 != b.0)
        .count();
    let max = attempts.iter().copied().max().unwrap_or(0);
    let mean = attempts.iter().map(|&a| a as f64).sum::<f64>() / attempts.len() as f64;
    let p99 = {
        let mut sorted = attempts.clone();
        sorted.sort_unstable();
        sorted
            .get((sorted.len() * 99).div_ceil(100).saturating_sub(1))
            .copied()
            .unwrap_or(0)
    };
    let mut histogram: BTreeMap<u32, usize> = BTreeMap::new();
    for &a in &attempts {
        *histogram.entry(a).or_default() += 1;
    }

    runtime.block_on(async {
        let storage = table.storage();
        // The listing: commit files are exactly 0..=last.
        let listed = listed_commit_versions(storage).await;
        assert_eq!(
            listed,
            (0..=last).collect::<Vec<_>>(),
            "commit files in _delta_log"
        );

        // Every commit: parseable, one commitInfo, unique txnId; each data commit holds the
        // 10 rows of the worker that claimed its version.
        let mut txn_ids = HashSet::new();
        let mut rows_so_far = vec![0i64; (last + 1) as usize];
        let mut total = 0i64;
        for v in 0..=last {
            let bytes = storage
                .get(&storage.log_path(&format!("{v:020}.json")))
                .await
                .unwrap_or_else(|e| panic!("read v{v}: {e}"));
            let actions = check_commit_file(v, &bytes);
            let info = actions
                .iter()
                .find_map(|a| match a {
                    Action::CommitInfo(ci) => Some(ci),
                    _ => None,
                })
                .expect("commitInfo");
            assert!(
                txn_ids.insert(info.txn_id.clone().expect("txnId")),
                "v{v}: txnId repeated"
            );
            let expected_op = if v == 0 { "CREATE TABLE" } else { "WRITE" };
            assert_eq!(info.operation.as_deref(), Some(expected_op), "v{v}");
            if v > 0 {
                let rv = info.read_version.expect("readVersion");
                assert!((0..v).contains(&rv), "v{v}: readVersion {rv}");
                assert_eq!(info.is_blind_append, Some(true), "v{v}: blind append");
            }
            let adds: Vec<_> = actions
                .iter()
                .filter_map(|a| match a {
                    Action::Add(add) => Some(add),
                    _ => None,
                })
                .collect();
            assert!(
                !actions
                    .iter()
                    .any(|a| matches!(a, Action::Remove(_) | Action::Metadata(_)) && v > 0),
                "v{v}: an append removed files or changed metadata"
            );
            let mut rows = 0;
            for add in &adds {
                let stats = Stats::parse(add.stats.as_deref())
                    .unwrap_or_else(|| panic!("v{v}: add without stats: {}", add.path));
                rows += stats.num_records.expect("numRecords");
                if let Some(&(k, c)) = claimed.get(&v) {
                    let min = stats.min_values.get("id").and_then(Value::as_i64);
                    let max = stats.max_values.get("id").and_then(Value::as_i64);
                    assert_eq!(
                        (min, max),
                        (Some(ids(k, c).start), Some(ids(k, c).end - 1)),
                        "v{v} was claimed by worker {k} (commit {c}) but holds other rows"
                    );
                }
            }
            let want = match v {
                0 => 0,
                1 => INITIAL_ROWS,
                _ => ROWS,
            };
            assert_eq!(rows, want, "v{v}: rows added");
            total += rows;
            rows_so_far[v as usize] = total;
        }

        // Snapshots: every version when that is cheap, else a spread of them; the latest
        // always, through a fresh handle.
        let reopened = Table::open_with_options(location, options.clone())
            .await
            .expect("reopen");
        assert_eq!(reopened.version().await.unwrap(), last);
        let step = ((last + 1) / 40).max(1);
        let mut versions: Vec<i64> = (0..=last).step_by(step as usize).collect();
        versions.push(last);
        for v in versions {
            let snapshot = reopened
                .snapshot_at_version(v)
                .await
                .unwrap_or_else(|e| panic!("snapshot at v{v}: {e}"));
            assert_eq!(snapshot.version(), v);
            assert_eq!(
                snapshot.num_records().await.unwrap(),
                Some(rows_so_far[v as usize]),
                "rows at v{v}"
            );
        }

        // The data: each (worker, commit)'s rows exactly once, plus the initial rows.
        let batches = reopened
            .snapshot()
            .await
            .unwrap()
            .scan()
            .collect()
            .await
            .expect("scan");
        let total_rows = num_rows(&batches);
        assert_eq!(
            total_rows as i64,
            INITIAL_ROWS + ROWS * (processes * commits) as i64,
            "total rows"
        );
        let mut seen: HashMap<i64, usize> = HashMap::new();
        for b in &batches {
            let id = b.column(0).as_primitive::<Int64Type>();
            let country = b.column(2).as_string::<i32>();
            for i in 0..b.num_rows() {
                let id = id.value(i);
                *seen.entry(id).or_default() += 1;
                let want = if id < INITIAL_ROWS {
                    "init".to_string()
                } else {
                    country_of(id)
                };
                assert_eq!(country.value(i), want, "row {id}");
            }
        }
        let dups: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).take(5).collect();
        assert!(dups.is_empty(), "rows present more than once: {dups:?}");
        let mut expected: Vec<i64> = (0..INITIAL_ROWS).collect();
        for k in 0..processes {
            for c in 0..commits {
                expected.extend(ids(k, c));
            }
        }
        let mut got: Vec<i64> = seen.into_keys().collect();
        got.sort();
        expected.sort();
        if got != expected {
            let missing: Vec<_> = expected
                .iter()
                .filter(|i| got.binary_search(i).is_err())
                .take(5)
                .map(|&i| (i, owner(i)))
                .collect();
            panic!("rows differ; first missing (id, (worker, commit)): {missing:?}");
        }
    });

    eprintln!(
        "stress[{label}]: {processes} processes x {commits} commits in {:.1}s \
         (workers {:.1}s); puts per commit: max {max}, p99 {p99}, mean {mean:.2}, histogram {histogram:?}; \
         {reloads} appends ran out of retries ({reloaded_commits} commits needed a reload); \
         {runs} runs of consecutive versions by one worker",
        started.elapsed().as_secs_f64(),
        workers_done.as_secs_f64(),
    );
}

fn country_of(id: i64) -> String {
    country(owner(id).0)
}

#[test]
fn concurrent_appends_local_disk() {
    let lake = TempLake::new();
    stress(
        &lake.table("stress"),
        HashMap::new(),
        "local",
        scale(),
        Mode::ReloadOnExhaustedRetries,
    );
}

#[cfg(feature = "s3")]
#[test]
fn concurrent_appends_s3() {
    let server = crate::support::s3::s3_server();
    let location = server.location("stress");
    // The server's log goes into the failure message if anything panics.
    let result = std::panic::catch_unwind(|| {
        stress(
            &location,
            server.options(),
            "s3",
            scale(),
            Mode::ReloadOnExhaustedRetries,
        )
    });
    if let Err(panic) = result {
        let log = server.log();
        eprintln!("S3 server log:\n{log}");
        std::panic::resume_unwind(panic);
    }
}

/// Multi-process contention: 8 writers x 25 blind appends (more with STRATA_STRESS), each
/// `append` call must commit within strata's default retries. (Before the catch-up rebase, a
/// writer that fell behind walked forward one version per attempt and failed in seconds.)
#[test]
fn concurrent_appends_commit_within_default_retries() {
    let lake = TempLake::new();
    let (p, c) = scale();
    stress(
        &lake.table("strict"),
        HashMap::new(),
        "local strict",
        (p.max(8), c.max(25)),
        Mode::Strict,
    );
}

/// Strict mode on S3 at 8x100: every append commits within the default 100 retries. Writers
/// used not to take fair turns: the one that just committed puts its next commit without
/// reading anything, while a loser read the winners and then slept an exponential backoff (up
/// to 200 ms) before its put, so the incumbent kept winning (12-16 runs of consecutive versions
/// for 800 commits) and a waiting writer needed up to 118 puts. A loser now waits a short
/// jittered pause first, then catches up and puts at once (`transaction::backoff`): measured
/// max 42, p99 21, mean 4.6 puts per commit, ~700 runs (#20).
#[cfg(feature = "s3")]
#[test]
fn concurrent_appends_on_s3_commit_within_default_retries() {
    let server = crate::support::s3::s3_server();
    let location = server.location("strict");
    let (p, c) = scale();
    stress(
        &location,
        server.options(),
        "s3 strict",
        (p.max(8), c.max(100)),
        Mode::Strict,
    );
}

/// Regression test, deterministic and single-process: a blind append prepared on version 0
/// while 20 other blind appends land must rebase over all of them (`PROTOCOL.md#conflicts`: a
/// blind append only conflicts on protocol/metadata/txn/domain changes, none here). Before the
/// catch-up rebase, strata put at 1, 2, 3, … in turn, one "lost race" per existing version with
/// a backoff sleep in between, and gave up after 16 puts with `Conflict(TooManyRetries)`.
#[tokio::test]
async fn stale_blind_append_rebases_over_many_commits() {
    let lake = TempLake::new();
    let table = Table::create(lake.table("stale"))
        .with_arrow_schema(&people_schema())
        .unwrap()
        .execute()
        .await
        .unwrap();
    let stale = table.snapshot().await.unwrap();
    assert_eq!(stale.version(), 0);
    for i in 0..20 {
        table
            .append([people(10 * i..10 * i + 10, None)])
            .await
            .unwrap();
    }
    // A blind append with nothing to add still takes the whole commit path.
    let started = Instant::now();
    let result = Transaction::new(&stale, "WRITE").commit().await;
    let result = result.unwrap_or_else(|e| {
        panic!(
            "a blind append read at v0 must rebase over v1..=v20 and commit v21; \
             after {:.1}s: {e}",
            started.elapsed().as_secs_f64()
        )
    });
    assert_eq!(result.version, 21);
}
