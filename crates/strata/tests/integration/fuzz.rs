//! Parser fuzzing (#20): structured mutations of what a table's log is made of — commit JSON,
//! checkpoint Parquet and `_last_checkpoint` — each read back through the whole open,
//! snapshot, time-travel and scan path. Every case must end in a typed error or a read, never
//! a panic or a hang; a mutation that keeps the meaning (keys reordered, whitespace added)
//! must read exactly as the original.
//!
//! The corpus is a real table written by strata in memory: appends, a deletion-vector delete,
//! an ALTER, a checkpoint and commits after it. Each case copies it into a fresh in-memory
//! store, mutates one to three of its files and reads it.
//!
//! `STRATA_FUZZ_CASES` sets the number of cases (default 400, CI's share; the long run is
//! `STRATA_FUZZ_CASES=1000000 cargo test --release -p strata --test integration fuzz::`),
//! `STRATA_FUZZ_SEED` the first case's seed. A failure prints the case's seed and mutations.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use serde_json::Value;
use strata::{Storage, Table};

use crate::support::fault_store::SplitMix64;
use crate::support::{people, people_schema};

/// A case that has not finished after this long is a hang.
const HANG: Duration = Duration::from_secs(60);
const ROOT: &str = "t";
const LOCATION: &str = "memory://fuzz/t";

fn cases() -> u64 {
    std::env::var("STRATA_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400)
}

fn first_seed() -> u64 {
    std::env::var("STRATA_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5EED)
}

/// The table's files, by path relative to the table root.
type Files = Vec<(String, Bytes)>;

/// What reading a table gave: per version read, its row count, or the error's text.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Read(Vec<(i64, usize)>),
    Refused(String),
}

/// The corpus: a deletion-vector table with history on both sides of a checkpoint.
async fn corpus() -> Files {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let storage = Storage::from_store(store.clone(), ROOT, LOCATION).unwrap();
    let table = Table::create(LOCATION)
        .with_storage(storage)
        .with_arrow_schema(&people_schema())
        .unwrap()
        .with_property("delta.enableDeletionVectors", "true")
        .with_partition_columns(["country"])
        .execute()
        .await
        .unwrap();
    table.append([people(0..10, Some("PT"))]).await.unwrap();
    table.append([people(10..20, Some("NL"))]).await.unwrap();
    table
        .delete()
        .with_predicate("id % 3 = 0")
        .execute()
        .await
        .unwrap();
    table.checkpoint().await.unwrap();
    table
        .alter()
        .set_property("delta.checkpointInterval", "50")
        .execute()
        .await
        .unwrap();
    table.append([people(20..25, Some("PT"))]).await.unwrap();
    let mut files = Vec::new();
    let listed: Vec<_> = store.list(None).try_collect().await.unwrap();
    for meta in listed {
        let bytes = store
            .get(&meta.location)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let relative = meta.location.as_ref()[ROOT.len() + 1..].to_string();
        files.push((relative, bytes));
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    files
}

/// Opens the table in `files` and reads every version the log still has, and the latest.
async fn read(files: &Files) -> Outcome {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    for (relative, bytes) in files {
        let path = Path::from(format!("{ROOT}/{relative}"));
        store.put(&path, bytes.clone().into()).await.unwrap();
    }
    let storage = Storage::from_store(store, ROOT, LOCATION).unwrap();
    match read_versions(storage).await {
        Ok(read) => Outcome::Read(read),
        Err(e) => Outcome::Refused(e.to_string()),
    }
}

async fn read_versions(storage: Storage) -> strata::Result<Vec<(i64, usize)>> {
    let table = Table::open_storage(storage).await?;
    let latest = table.snapshot().await?;
    let mut read = Vec::new();
    for version in 0..=latest.version() {
        // Versions before the checkpoint may be gone from a mutated log: that is an error
        // like any other, but the latest version is still read below.
        let Ok(snapshot) = table.snapshot_at_version(version).await else {
            continue;
        };
        read.push((version, rows(&snapshot).await?));
    }
    read.push((latest.version(), rows(&latest).await?));
    // The history reads commitInfo, which must never block anything.
    let _ = table.history(None).await?;
    Ok(read)
}

async fn rows(snapshot: &strata::Snapshot) -> strata::Result<usize> {
    let batches = snapshot.scan().collect().await?;
    Ok(batches.iter().map(|b| b.num_rows()).sum())
}

/// One mutation, described for the failure message.
struct Mutation {
    file: String,
    what: String,
    /// The table must read exactly as before.
    keeps_meaning: bool,
}

/// Values that break types, signs and bounds.
fn hostile_value(rng: &mut SplitMix64) -> Value {
    match rng.below(14) {
        0 => Value::Null,
        1 => Value::Bool(rng.chance(1, 2)),
        2 => Value::from(-1),
        3 => Value::from(i64::MIN),
        4 => Value::from(i64::MAX),
        5 => Value::from(u64::MAX),
        6 => serde_json::json!(1e308),
        7 => Value::from(""),
        8 => Value::from("x".repeat(rng.below(20_000) as usize)),
        9 => Value::Array(vec![]),
        10 => Value::Object(Default::default()),
        11 => Value::from("../../../etc/passwd"),
        12 => Value::from("\u{0}\u{ffff}é"),
        _ => {
            let depth = 1 + rng.below(300) as usize;
            serde_json::from_str(&format!("{}0{}", "[".repeat(depth), "]".repeat(depth)))
                .unwrap_or(Value::Null)
        }
    }
}

/// A random node of `value` (an object member or array element), as a path of keys/indexes.
fn random_path(value: &Value, rng: &mut SplitMix64) -> Vec<Value> {
    let mut path = Vec::new();
    let mut node = value;
    loop {
        let next = match node {
            Value::Object(map) if !map.is_empty() && (path.is_empty() || rng.chance(2, 3)) => {
                let key = map
                    .keys()
                    .nth(rng.below(map.len() as u64) as usize)
                    .unwrap();
                path.push(Value::from(key.clone()));
                &map[key]
            }
            Value::Array(items) if !items.is_empty() && rng.chance(2, 3) => {
                let i = rng.below(items.len() as u64) as usize;
                path.push(Value::from(i));
                &items[i]
            }
            _ => return path,
        };
        node = next;
    }
}

fn node_mut<'a>(value: &'a mut Value, path: &[Value]) -> Option<&'a mut Value> {
    let mut node = value;
    for step in path {
        node = match (node, step) {
            (Value::Object(map), Value::String(key)) => map.get_mut(key)?,
            (Value::Array(items), Value::Number(i)) => items.get_mut(i.as_u64()? as usize)?,
            _ => return None,
        };
    }
    Some(node)
}

/// A structured mutation of one JSON document: a value replaced, a key removed or renamed,
/// or an unknown key added.
fn mutate_json_value(value: &mut Value, rng: &mut SplitMix64) -> String {
    let path = random_path(value, rng);
    let shown = serde_json::to_string(&path).unwrap_or_default();
    match rng.below(4) {
        0 | 1 => {
            let new = hostile_value(rng);
            let text = format!("set {shown} to {}", abbreviate(&new));
            if let Some(node) = node_mut(value, &path) {
                *node = new;
            }
            text
        }
        2 => {
            let (parent, last) = path.split_at(path.len().saturating_sub(1));
            if let (Some(Value::Object(map)), [Value::String(key)]) =
                (node_mut(value, parent), last)
            {
                map.remove(key);
            }
            format!("removed {shown}")
        }
        _ => {
            if let Some(Value::Object(map)) = node_mut(value, &path) {
                map.insert("strataFuzzUnknown".into(), hostile_value(rng));
            }
            format!("unknown key under {shown}")
        }
    }
}

fn abbreviate(value: &Value) -> String {
    let text = value.to_string();
    let chars = text.chars().count();
    if chars > 60 {
        format!(
            "{}… ({chars} chars)",
            text.chars().take(60).collect::<String>()
        )
    } else {
        text
    }
}

/// Byte-level damage: flips, truncation, invalid UTF-8, NULs, garbage.
fn mutate_bytes(bytes: &[u8], rng: &mut SplitMix64) -> (Vec<u8>, String) {
    let mut out = bytes.to_vec();
    let at = |rng: &mut SplitMix64, len: usize| rng.below(len as u64 + 1) as usize;
    let what = match rng.below(7) {
        0 if !out.is_empty() => {
            let i = at(rng, out.len() - 1);
            out[i] ^= 1 << rng.below(8);
            format!("flipped a bit of byte {i}")
        }
        1 => {
            let i = at(rng, out.len());
            out.truncate(i);
            format!("truncated to {i} bytes")
        }
        2 => {
            let i = at(rng, out.len());
            out.splice(i..i, [0xFF, 0xFE, 0xC3]);
            format!("invalid UTF-8 at byte {i}")
        }
        3 => {
            let i = at(rng, out.len());
            out.insert(i, 0);
            format!("NUL at byte {i}")
        }
        4 => {
            let n = rng.below(64) as usize;
            let garbage: Vec<u8> = (0..n).map(|_| rng.below(256) as u8).collect();
            out.extend_from_slice(&garbage);
            format!("{n} garbage bytes appended")
        }
        5 if out.len() > 8 => {
            let i = at(rng, out.len() - 8);
            let n = 1 + rng.below(8) as usize;
            out[i..i + n].fill(0);
            format!("zeroed {n} bytes at {i}")
        }
        _ => {
            out.clear();
            "emptied".into()
        }
    };
    (out, what)
}

/// A structured mutation of a commit (NDJSON): one action's JSON mutated, or lines
/// duplicated, dropped, swapped; or a mutation that keeps the meaning.
fn mutate_commit(bytes: &[u8], rng: &mut SplitMix64) -> (Vec<u8>, String, bool) {
    let Ok(text) = std::str::from_utf8(bytes) else {
        let (out, what) = mutate_bytes(bytes, rng);
        return (out, what, false);
    };
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    if lines.is_empty() {
        let (out, what) = mutate_bytes(bytes, rng);
        return (out, what, false);
    }
    let i = rng.below(lines.len() as u64) as usize;
    let (what, keeps_meaning) = match rng.below(8) {
        0..=2 => match serde_json::from_str::<Value>(&lines[i]) {
            Ok(mut value) => {
                let what = mutate_json_value(&mut value, rng);
                lines[i] = value.to_string();
                (format!("line {}: {what}", i + 1), false)
            }
            Err(_) => ("unparsable line left as is".into(), false),
        },
        3 => {
            let line = lines[i].clone();
            lines.insert(i, line);
            (format!("line {} duplicated", i + 1), false)
        }
        4 => {
            lines.remove(i);
            (format!("line {} removed", i + 1), false)
        }
        5 => {
            let j = rng.below(lines.len() as u64) as usize;
            lines.swap(i, j);
            // Action order within a commit carries no meaning (PROTOCOL.md#actions).
            (format!("lines {} and {} swapped", i + 1, j + 1), true)
        }
        6 => {
            // Re-serialised (keys sorted) with blank space around values: the same actions.
            let spaced = serde_json::from_str::<Value>(&lines[i])
                .map(|v| serde_json::to_string_pretty(&v).unwrap().replace('\n', " "));
            match spaced {
                Ok(line) => {
                    lines[i] = format!("  {line}  ");
                    (format!("line {} re-serialised with spaces", i + 1), true)
                }
                Err(_) => ("unparsable line left as is".into(), false),
            }
        }
        _ => {
            let (out, what) = mutate_bytes(bytes, rng);
            return (out, what, false);
        }
    };
    let mut out = lines.join("\n");
    out.push('\n');
    (out.into_bytes(), what, keeps_meaning)
}

/// Mutates one file of `files` (or removes it); returns what it did.
fn mutate(files: &mut Files, rng: &mut SplitMix64) -> Mutation {
    // Bias towards the log: commits, the checkpoint and its pointer.
    let log: Vec<usize> = files
        .iter()
        .enumerate()
        .filter(|(_, (p, _))| p.starts_with("_delta_log/"))
        .map(|(i, _)| i)
        .collect();
    let i = if rng.chance(9, 10) && !log.is_empty() {
        log[rng.below(log.len() as u64) as usize]
    } else {
        rng.below(files.len() as u64) as usize
    };
    let (path, bytes) = files[i].clone();
    if rng.chance(1, 25) {
        files.remove(i);
        return Mutation {
            file: path,
            what: "deleted".into(),
            keeps_meaning: false,
        };
    }
    let (out, what, keeps_meaning) = if path.ends_with(".json") {
        mutate_commit(&bytes, rng)
    } else if path.ends_with("_last_checkpoint") {
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(mut value) if rng.chance(3, 4) => {
                let what = mutate_json_value(&mut value, rng);
                (value.to_string().into_bytes(), what, false)
            }
            _ => {
                let (out, what) = mutate_bytes(&bytes, rng);
                (out, what, false)
            }
        }
    } else {
        let (out, what) = mutate_bytes(&bytes, rng);
        (out, what, false)
    };
    files[i].1 = Bytes::from(out);
    Mutation {
        file: path,
        what,
        keeps_meaning,
    }
}

/// Panics on the fuzz threads, caught by the hook (a panic inside a spawned task would
/// otherwise surface only as an error).
static FUZZ_PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());
const THREAD_PREFIX: &str = "strata-fuzz";

fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let ours = std::thread::current()
                .name()
                .is_some_and(|n| n.starts_with(THREAD_PREFIX));
            if ours {
                FUZZ_PANICS
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(info.to_string());
            } else {
                previous(info);
            }
        }));
    });
}

#[test]
fn mutated_logs_give_a_typed_error_or_a_read_never_a_panic_or_a_hang() {
    install_panic_hook();
    let (cases, first) = (cases(), first_seed());
    let done = Arc::new(AtomicU64::new(0));
    let (tx, rx) = mpsc::channel::<Result<(), String>>();
    let progress = done.clone();
    std::thread::Builder::new()
        .name(format!("{THREAD_PREFIX}-cases"))
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .thread_name(format!("{THREAD_PREFIX}-blocking"))
                .build()
                .unwrap();
            let files = runtime.block_on(corpus());
            let baseline = runtime.block_on(read(&files));
            assert!(matches!(baseline, Outcome::Read(_)), "{baseline:?}");
            let mut tally = (0u64, 0u64);
            for case in 0..cases {
                let seed = first.wrapping_add(case);
                match run_case(&runtime, &files, &baseline, seed) {
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                    Ok(Outcome::Read(_)) => tally.0 += 1,
                    Ok(Outcome::Refused(_)) => tally.1 += 1,
                }
                progress.fetch_add(1, Ordering::Relaxed);
            }
            eprintln!(
                "fuzz: {} cases read, {} refused with a typed error",
                tally.0, tally.1
            );
            let _ = tx.send(Ok(()));
        })
        .unwrap();
    let mut last = 0;
    loop {
        match rx.recv_timeout(HANG) {
            Ok(Ok(())) => break,
            Ok(Err(failure)) => panic!("{failure}"),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let now = done.load(Ordering::Relaxed);
                assert!(
                    now > last,
                    "case {} (STRATA_FUZZ_SEED={}) hung for {HANG:?}",
                    now,
                    first.wrapping_add(now)
                );
                last = now;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let panics = FUZZ_PANICS.lock().unwrap().clone();
                panic!("the fuzz thread died: {panics:?}");
            }
        }
    }
    eprintln!("fuzz: {cases} cases from seed {first}, no panic, no hang");
}

fn run_case(
    runtime: &tokio::runtime::Runtime,
    corpus: &Files,
    baseline: &Outcome,
    seed: u64,
) -> Result<Outcome, String> {
    let mut rng = SplitMix64::new(seed);
    let mut files = corpus.clone();
    let mutations: Vec<Mutation> = (0..1 + rng.below(3))
        .map(|_| mutate(&mut files, &mut rng))
        .collect();
    let described = mutations
        .iter()
        .map(|m| format!("{}: {}", m.file, m.what))
        .collect::<Vec<_>>()
        .join("; ");
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runtime.block_on(read(&files))
    }));
    let panics = std::mem::take(&mut *FUZZ_PANICS.lock().unwrap_or_else(|p| p.into_inner()));
    let fail = |why: String| {
        Err(format!(
            "STRATA_FUZZ_SEED={seed} STRATA_FUZZ_CASES=1: {why}; mutations: {described}"
        ))
    };
    if !panics.is_empty() {
        return fail(format!("panicked: {}", panics.join(" | ")));
    }
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(_) => return fail("panicked".into()),
    };
    if mutations.iter().all(|m| m.keeps_meaning) && outcome != *baseline {
        return fail(format!(
            "a mutation that keeps the meaning changed the read: {outcome:?}, expected {baseline:?}"
        ));
    }
    Ok(outcome)
}
