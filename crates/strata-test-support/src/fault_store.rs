//! A seeded, fault-injecting [`ObjectStore`] wrapper for crash and failure tests
//! (`/work/shared/STYLE.md` items 10–12; `protocol/PROTOCOL.md#storage-assumptions`).
//!
//! # Fault model
//!
//! [`FaultStore`] wraps a real store (in-memory or local disk) and numbers every operation it
//! is asked to perform (0, 1, 2, … in call order). A [`Fault`] names which operation goes
//! wrong and how; each models something a real object store, or the process using it, does:
//!
//! | fault | what the caller sees | what it models |
//! |---|---|---|
//! | [`Fault::Fail`] | the n-th matching operation returns a generic error and **never reaches the store** | a request refused or dropped before it was applied (network error, 5xx, throttling after retries ran out) |
//! | [`Fault::LoseAck`] with [`AckLoss::Error`] | the n-th matching put **is applied**, then a generic error is returned | the response was lost after the store applied the write (timeout, connection reset) and retries ran out |
//! | [`Fault::LoseAck`] with [`AckLoss::AlreadyExists`] | the n-th matching put-if-absent **is applied**, then `AlreadyExists` is returned | object_store's own HTTP retry of a conditional `PUT` (`If-None-Match: *`) after a lost response: the retry finds the object the first attempt created and gets 412 |
//! | [`Fault::HideFromListings`] | objects put through this store in the last `ops` operations are missing from `list*` results; `get`/`head` see them | eventually consistent listing (S3 before 2020, some S3-compatible servers, caches in front of a store) |
//! | [`Fault::Crash`] | from the n-th matching operation on, **every** operation fails (the matching one either before or after being applied) | the writer process dies (OOM kill, pre-emption, power loss); whatever it already wrote stays in the store |
//!
//! What is not modelled: torn or partial objects (object_store puts are atomic, and local disk
//! writes go through a temporary file and a link), a put-if-absent that lets two writers both
//! win (the store's atomicity is an assumption, not a fault), reordering of acknowledged writes,
//! and corruption of stored bytes. Multipart uploads are faulted only when created (strata does
//! not use them); a delete in `delete_stream` can fail but not lose its acknowledgement.
//! [`AckLoss::AlreadyExists`] applies only to put-if-absent (`PutMode::Create`); on an
//! unconditional put it degrades to [`AckLoss::Error`], since no real retry can see
//! `AlreadyExists` there.
//!
//! Faults are set explicitly ([`FaultStore::new`]) or chosen from a seed with a small
//! deterministic PRNG ([`SplitMix64`], [`seeded_faults`]), so a failing seed replays. Every
//! operation is recorded (index, kind, path, outcome) and [`FaultStore::report`] prints the
//! seed, the faults, which fired and the log, for panic messages.
//!
//! Operation indices are taken when a method is *called* (not when its future first runs), so
//! with the in-memory store a given sequence of strata calls always numbers its operations the
//! same way.

#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::fmt::{self, Write as _};
use std::ops::Range;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMode, PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, Result,
};

/// Name used in `object_store::Error::Generic { store }`.
const STORE_NAME: &str = "FaultStore";
/// Bound on recorded operations; later ones are counted but not kept.
const MAX_LOG_RECORDS: usize = 20_000;

/// A small deterministic PRNG (splitmix64): the same seed always gives the same faults.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    /// True with probability `num / den`.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }
}

/// The kind of a store operation, as the fault store numbers and logs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpKind {
    /// Unconditional put (`PutMode::Overwrite`, or `Update`): data files, hints.
    Put,
    /// Put-if-absent (`PutMode::Create`): commits.
    PutIfAbsent,
    PutMultipart,
    Get,
    Head,
    GetRanges,
    Delete,
    List,
    ListWithDelimiter,
    Copy,
    Rename,
}

impl OpKind {
    pub fn is_put(self) -> bool {
        matches!(
            self,
            OpKind::Put | OpKind::PutIfAbsent | OpKind::PutMultipart
        )
    }

    /// A put that creates the object in one request (not multipart).
    pub fn is_single_put(self) -> bool {
        matches!(self, OpKind::Put | OpKind::PutIfAbsent)
    }

    pub fn is_list(self) -> bool {
        matches!(self, OpKind::List | OpKind::ListWithDelimiter)
    }

    fn name(self) -> &'static str {
        match self {
            OpKind::Put => "put",
            OpKind::PutIfAbsent => "put-if-absent",
            OpKind::PutMultipart => "put-multipart",
            OpKind::Get => "get",
            OpKind::Head => "head",
            OpKind::GetRanges => "get-ranges",
            OpKind::Delete => "delete",
            OpKind::List => "list",
            OpKind::ListWithDelimiter => "list-with-delimiter",
            OpKind::Copy => "copy",
            OpKind::Rename => "rename",
        }
    }
}

/// A predicate over (kind, path).
type OpPredicate = dyn Fn(OpKind, &str) -> bool + Send + Sync;

/// Which operations a fault applies to: a named predicate over (kind, path).
#[derive(Clone)]
pub struct OpMatch {
    name: String,
    test: Arc<OpPredicate>,
}

impl fmt::Debug for OpMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn in_log_dir(path: &str) -> bool {
    path.split('/').any(|segment| segment == "_delta_log")
}

fn is_commit_name(name: &str) -> bool {
    name.strip_suffix(".json")
        .is_some_and(|digits| digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
}

impl OpMatch {
    pub fn new(
        name: impl Into<String>,
        test: impl Fn(OpKind, &str) -> bool + Send + Sync + 'static,
    ) -> OpMatch {
        OpMatch {
            name: name.into(),
            test: Arc::new(test),
        }
    }

    pub fn matches(&self, kind: OpKind, path: &str) -> bool {
        (self.test)(kind, path)
    }

    /// Every operation.
    pub fn any() -> OpMatch {
        OpMatch::new("any operation", |_, _| true)
    }

    /// Operations of one kind.
    pub fn kind(kind: OpKind) -> OpMatch {
        OpMatch::new(format!("any {}", kind.name()), move |k, _| k == kind)
    }

    /// Every put (conditional, unconditional or multipart).
    pub fn puts() -> OpMatch {
        OpMatch::new("any put", |k, _| k.is_put())
    }

    /// Every listing.
    pub fn lists() -> OpMatch {
        OpMatch::new("any listing", |k, _| k.is_list())
    }

    /// The put of a commit file: `_delta_log/<20 digits>.json`.
    pub fn commit_put() -> OpMatch {
        OpMatch::new("put of a commit (_delta_log/N.json)", |k, p| {
            k.is_put() && in_log_dir(p) && is_commit_name(file_name(p))
        })
    }

    /// The put of a data file (a `.parquet` outside `_delta_log/`).
    pub fn data_file_put() -> OpMatch {
        OpMatch::new("put of a data file (*.parquet)", |k, p| {
            k.is_put() && !in_log_dir(p) && p.ends_with(".parquet")
        })
    }

    /// The put of a checkpoint (classic or multi-part) in `_delta_log/`.
    pub fn checkpoint_put() -> OpMatch {
        OpMatch::new(
            "put of a checkpoint (_delta_log/N.checkpoint*.parquet)",
            |k, p| {
                let name = file_name(p);
                k.is_put()
                    && in_log_dir(p)
                    && name.contains(".checkpoint")
                    && name.ends_with(".parquet")
            },
        )
    }

    /// The put of the `_last_checkpoint` hint.
    pub fn last_checkpoint_put() -> OpMatch {
        OpMatch::new("put of _delta_log/_last_checkpoint", |k, p| {
            k.is_put() && in_log_dir(p) && file_name(p) == "_last_checkpoint"
        })
    }
}

/// What a write whose acknowledgement was lost returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckLoss {
    /// A generic error: the caller cannot tell whether the write happened.
    Error,
    /// `AlreadyExists` (put-if-absent only): object_store's retry saw its own object.
    AlreadyExists,
}

/// One injected fault; see the module documentation for what each models.
#[derive(Debug, Clone)]
pub enum Fault {
    /// The `nth` (0-based) operation matching `on` fails before reaching the store.
    Fail { on: OpMatch, nth: u64 },
    /// The `nth` put matching `on` is applied, then its acknowledgement is lost.
    LoseAck {
        on: OpMatch,
        nth: u64,
        reply: AckLoss,
    },
    /// Objects put through this store within the last `ops` operations are missing from
    /// listings (gets still see them).
    HideFromListings { ops: u64 },
    /// The writer dies at the `nth` operation matching `on`: that operation is applied first
    /// when `performed` (its response is lost), and it and every later operation fail.
    Crash {
        on: OpMatch,
        nth: u64,
        performed: bool,
    },
}

impl Fault {
    /// The writer dies at the first operation matching `on`, before it is applied.
    pub fn crash_before(on: OpMatch) -> Fault {
        Fault::Crash {
            on,
            nth: 0,
            performed: false,
        }
    }

    /// The writer dies right after the first operation matching `on` was applied.
    pub fn crash_after(on: OpMatch) -> Fault {
        Fault::Crash {
            on,
            nth: 0,
            performed: true,
        }
    }

    /// True for faults that describe the store (listing lag) rather than one failure; they
    /// outlive a crash of the writer.
    pub fn is_store_property(&self) -> bool {
        matches!(self, Fault::HideFromListings { .. })
    }
}

/// How many operations of a fault-free run a seed may aim at.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// All operations.
    pub ops: u64,
    /// Puts of any kind.
    pub puts: u64,
    /// Commit puts.
    pub commits: u64,
}

/// Chooses faults from a seed: one failure of a seed-chosen kind at a seed-chosen operation,
/// sometimes together with listing lag.
pub fn seeded_faults(seed: u64, budget: Budget) -> Vec<Fault> {
    let mut rng = SplitMix64::new(seed);
    let nth_op = |rng: &mut SplitMix64| rng.below(budget.ops.max(1));
    let nth_put = |rng: &mut SplitMix64| rng.below(budget.puts.max(1));
    let nth_commit = |rng: &mut SplitMix64| rng.below(budget.commits.max(1));
    let mut faults = Vec::new();
    let fault = match rng.below(10) {
        0 => Fault::Fail {
            on: OpMatch::any(),
            nth: nth_op(&mut rng),
        },
        1 => {
            let on = match rng.below(4) {
                0 => OpMatch::puts(),
                1 => OpMatch::kind(OpKind::Get),
                2 => OpMatch::lists(),
                _ => OpMatch::commit_put(),
            };
            let nth = if on.name.contains("commit") {
                nth_commit(&mut rng)
            } else {
                rng.below((budget.ops / 3).max(1))
            };
            Fault::Fail { on, nth }
        }
        2 | 3 => Fault::LoseAck {
            on: OpMatch::puts(),
            nth: nth_put(&mut rng),
            reply: AckLoss::Error,
        },
        4 | 5 => Fault::LoseAck {
            on: OpMatch::commit_put(),
            nth: nth_commit(&mut rng),
            reply: if rng.chance(1, 2) {
                AckLoss::AlreadyExists
            } else {
                AckLoss::Error
            },
        },
        6 => Fault::Crash {
            on: OpMatch::any(),
            nth: nth_op(&mut rng),
            performed: rng.chance(1, 2),
        },
        7 => Fault::Crash {
            on: OpMatch::commit_put(),
            nth: nth_commit(&mut rng),
            performed: rng.chance(1, 2),
        },
        8 => Fault::Crash {
            on: OpMatch::data_file_put(),
            nth: nth_commit(&mut rng),
            performed: rng.chance(1, 2),
        },
        _ => Fault::HideFromListings {
            ops: 1 + rng.below(12),
        },
    };
    let lag = !fault.is_store_property() && rng.chance(1, 4);
    faults.push(fault);
    if lag {
        faults.push(Fault::HideFromListings {
            ops: 1 + rng.below(8),
        });
    }
    faults
}

/// One recorded operation.
#[derive(Debug, Clone)]
pub struct OpRecord {
    pub index: u64,
    pub kind: OpKind,
    pub path: String,
    pub outcome: String,
}

#[derive(Debug, Default)]
struct State {
    next_op: u64,
    /// Per fault, how many operations matched it so far.
    matched: Vec<u64>,
    fired: Vec<String>,
    /// The operation at which the writer died.
    dead_at: Option<u64>,
    /// Object path → index of the put (through this store) that created it.
    created: HashMap<String, u64>,
    log: Vec<OpRecord>,
}

impl State {
    fn record(&mut self, index: u64, outcome: impl Into<String>) {
        if let Some(r) = self.log.iter_mut().rev().find(|r| r.index == index) {
            r.outcome = outcome.into();
        }
    }
}

/// What to do after the inner store answered.
#[derive(Debug, Clone, Copy)]
enum After {
    Answer,
    LoseAck(AckLoss),
    Die,
}

enum Admit {
    Run { index: u64, after: After },
    Refuse(object_store::Error),
}

/// The fault-injecting wrapper. Keep an `Arc<FaultStore>` to read its log; pass a clone to
/// `strata::Storage::from_store`.
pub struct FaultStore {
    inner: Arc<dyn ObjectStore>,
    faults: Vec<Fault>,
    seed: Option<u64>,
    state: Arc<Mutex<State>>,
    hold: Mutex<Option<Held>>,
}

/// The first put matching `on` waits at the store for the test to release it.
struct Held {
    on: OpMatch,
    arrived: tokio::sync::oneshot::Sender<()>,
    release: tokio::sync::oneshot::Receiver<()>,
}

/// The test's side of [`FaultStore::hold`]: learn that the held put arrived, then let it go.
pub struct Hold {
    arrived: Option<tokio::sync::oneshot::Receiver<()>>,
    release: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Hold {
    /// Waits until the held put reached the store (it has not been applied).
    pub async fn arrived(&mut self) {
        if let Some(rx) = self.arrived.take() {
            let _ = rx.await;
        }
    }

    /// Lets the held put go on to the store.
    pub fn release(&mut self) {
        if let Some(tx) = self.release.take() {
            let _ = tx.send(());
        }
    }
}

impl fmt::Debug for FaultStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultStore")
            .field("seed", &self.seed)
            .field("faults", &self.faults)
            .finish()
    }
}

impl fmt::Display for FaultStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FaultStore({})", self.inner)
    }
}

fn generic(message: String) -> object_store::Error {
    object_store::Error::Generic {
        store: STORE_NAME,
        source: message.into(),
    }
}

impl FaultStore {
    /// Wraps `inner` with explicit faults (none: a pass-through that still logs).
    pub fn new(inner: Arc<dyn ObjectStore>, faults: Vec<Fault>) -> FaultStore {
        let state = State {
            matched: vec![0; faults.len()],
            ..State::default()
        };
        FaultStore {
            inner,
            faults,
            seed: None,
            state: Arc::new(Mutex::new(state)),
            hold: Mutex::new(None),
        }
    }

    /// Holds the first put matching `on` at the store until [`Hold::release`]: a writer that
    /// has read the table and written its files then waits just before its commit, so a test
    /// can commit a concurrent winner first (the conflict matrix).
    pub fn hold(&self, on: OpMatch) -> Hold {
        let (arrived_tx, arrived_rx) = tokio::sync::oneshot::channel();
        let (release_tx, release_rx) = tokio::sync::oneshot::channel();
        *self.hold.lock().unwrap_or_else(|p| p.into_inner()) = Some(Held {
            on,
            arrived: arrived_tx,
            release: release_rx,
        });
        Hold {
            arrived: Some(arrived_rx),
            release: Some(release_tx),
        }
    }

    /// The release to wait for, when this put is the held one.
    fn held(&self, kind: OpKind, path: &str) -> Option<tokio::sync::oneshot::Receiver<()>> {
        let mut hold = self.hold.lock().unwrap_or_else(|p| p.into_inner());
        if !hold.as_ref().is_some_and(|h| h.on.matches(kind, path)) {
            return None;
        }
        let held = hold.take()?;
        let _ = held.arrived.send(());
        Some(held.release)
    }

    /// Wraps `inner` with the faults [`seeded_faults`] chooses for `seed`.
    pub fn seeded(inner: Arc<dyn ObjectStore>, seed: u64, budget: Budget) -> FaultStore {
        let mut store = FaultStore::new(inner, seeded_faults(seed, budget));
        store.seed = Some(seed);
        store
    }

    /// A new process on the same store after this one crashed: no failures, but the store's
    /// own properties (listing lag) stay.
    pub fn restarted(&self) -> FaultStore {
        let faults = self
            .faults
            .iter()
            .filter(|f| f.is_store_property())
            .cloned()
            .collect();
        let mut store = FaultStore::new(self.inner.clone(), faults);
        store.seed = self.seed;
        store
    }

    pub fn faults(&self) -> &[Fault] {
        &self.faults
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Operations numbered so far.
    pub fn ops(&self) -> u64 {
        self.lock().next_op
    }

    /// Recorded operations matching `on`.
    pub fn count(&self, on: &OpMatch) -> u64 {
        self.lock()
            .log
            .iter()
            .filter(|r| on.matches(r.kind, &r.path))
            .count() as u64
    }

    /// Descriptions of the faults that fired, in order.
    pub fn fired(&self) -> Vec<String> {
        self.lock().fired.clone()
    }

    /// True once a crash fault fired: every operation fails from then on.
    pub fn is_dead(&self) -> bool {
        self.lock().dead_at.is_some()
    }

    pub fn log(&self) -> Vec<OpRecord> {
        self.lock().log.clone()
    }

    /// Seed, faults, which fired, and the operation log: for panic messages.
    pub fn report(&self) -> String {
        let state = self.lock();
        let mut out = String::new();
        let _ = writeln!(out, "fault store seed: {:?}", self.seed);
        let _ = writeln!(out, "faults: {:?}", self.faults);
        let _ = writeln!(out, "fired: {:?}", state.fired);
        let _ = writeln!(out, "operations ({}):", state.next_op);
        for r in &state.log {
            let _ = writeln!(
                out,
                "  #{:<4} {:<19} {} -> {}",
                r.index,
                r.kind.name(),
                r.path,
                r.outcome
            );
        }
        if state.next_op as usize > state.log.len() {
            let _ = writeln!(
                out,
                "  … {} more not kept",
                state.next_op as usize - state.log.len()
            );
        }
        out
    }

    /// Numbers an operation and decides whether it runs.
    fn begin(&self, kind: OpKind, path: &str) -> Admit {
        let mut state = self.lock();
        let index = state.next_op;
        state.next_op += 1;
        if state.log.len() < MAX_LOG_RECORDS {
            state.log.push(OpRecord {
                index,
                kind,
                path: path.to_string(),
                outcome: "pending".into(),
            });
        }
        if let Some(dead_at) = state.dead_at {
            state.record(index, "refused: the writer crashed");
            return Admit::Refuse(generic(format!(
                "injected: the writer crashed at operation #{dead_at}; {} {path} was never sent",
                kind.name()
            )));
        }
        let mut after = After::Answer;
        for (i, fault) in self.faults.iter().enumerate() {
            let (on, nth) = match fault {
                Fault::Fail { on, nth } | Fault::Crash { on, nth, .. } => (on, *nth),
                Fault::LoseAck { on, nth, .. } if kind.is_single_put() => (on, *nth),
                Fault::LoseAck { .. } | Fault::HideFromListings { .. } => continue,
            };
            if !on.matches(kind, path) {
                continue;
            }
            let seen = state.matched[i];
            state.matched[i] += 1;
            if seen != nth {
                continue;
            }
            let what = format!("#{index} {} {path}: {fault:?}", kind.name());
            state.fired.push(what);
            match fault {
                Fault::Fail { .. } => {
                    state.record(index, "injected: failed before reaching the store");
                    return Admit::Refuse(generic(format!(
                        "injected failure of {} {path} (operation #{index})",
                        kind.name()
                    )));
                }
                Fault::Crash { performed, .. } => {
                    state.dead_at = Some(index);
                    if !performed {
                        state.record(index, "injected: the writer crashed before sending it");
                        return Admit::Refuse(generic(format!(
                            "injected: the writer crashed at {} {path} (operation #{index})",
                            kind.name()
                        )));
                    }
                    after = After::Die;
                }
                Fault::LoseAck { reply, .. } => after = After::LoseAck(*reply),
                Fault::HideFromListings { .. } => {}
            }
        }
        Admit::Run { index, after }
    }

    /// Records the inner store's answer and replaces it when the acknowledgement is lost.
    fn settle<T>(
        state: &Mutex<State>,
        index: u64,
        kind: OpKind,
        path: &str,
        after: After,
        result: Result<T>,
    ) -> Result<T> {
        let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
        let value = match result {
            Err(e) => {
                state.record(index, format!("store error: {e}"));
                return Err(e);
            }
            Ok(value) => value,
        };
        if kind.is_single_put() || kind == OpKind::Copy || kind == OpKind::Rename {
            state.created.insert(path.to_string(), index);
        }
        match after {
            After::Answer => {
                state.record(index, "ok");
                Ok(value)
            }
            After::LoseAck(AckLoss::AlreadyExists) if kind == OpKind::PutIfAbsent => {
                state.record(index, "applied; injected lost ack: replied AlreadyExists");
                Err(object_store::Error::AlreadyExists {
                    path: path.to_string(),
                    source: "injected: a retry of our own put-if-absent found the object".into(),
                })
            }
            After::LoseAck(_) => {
                state.record(index, "applied; injected lost ack: replied with an error");
                Err(generic(format!(
                    "injected: the response to {} {path} was lost (operation #{index})",
                    kind.name()
                )))
            }
            After::Die => {
                state.record(index, "applied; then the writer crashed");
                Err(generic(format!(
                    "injected: the writer crashed after {} {path} (operation #{index})",
                    kind.name()
                )))
            }
        }
    }

    /// Objects under `prefix` that listings must not show yet, as of operation `now`.
    fn hidden(&self, prefix: &str, now: u64) -> HashSet<String> {
        let lag = self
            .faults
            .iter()
            .filter_map(|f| match f {
                Fault::HideFromListings { ops } => Some(*ops),
                _ => None,
            })
            .max();
        let Some(lag) = lag else {
            return HashSet::new();
        };
        self.lock()
            .created
            .iter()
            .filter(|(path, at)| path.starts_with(prefix) && **at + lag > now)
            .map(|(path, _)| path.clone())
            .collect()
    }

    fn list_stream(
        &self,
        kind: OpKind,
        prefix: Option<&Path>,
        inner: BoxStream<'static, Result<ObjectMeta>>,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        let prefix_text = prefix.map(|p| p.as_ref().to_string()).unwrap_or_default();
        match self.begin(kind, &prefix_text) {
            Admit::Refuse(e) => futures::stream::once(async move { Err(e) }).boxed(),
            Admit::Run {
                index,
                after: After::Die,
            } => {
                self.lock().record(index, "listed; then the writer crashed");
                let e = generic(format!(
                    "injected: the writer crashed after {} {prefix_text} (operation #{index})",
                    kind.name()
                ));
                futures::stream::once(async move { Err(e) }).boxed()
            }
            Admit::Run { index, .. } => {
                let hidden = self.hidden(&prefix_text, index);
                let outcome = if hidden.is_empty() {
                    "ok".to_string()
                } else {
                    format!("ok; hiding {} recent objects", hidden.len())
                };
                self.lock().record(index, outcome);
                inner
                    .try_filter(move |m| {
                        futures::future::ready(!hidden.contains(m.location.as_ref()))
                    })
                    .boxed()
            }
        }
    }
}

// `ObjectStore` is an `#[async_trait]` trait; without the macro (no new dependencies) each
// async method is written in its expanded form: a boxed, `Send` future over explicit lifetimes.
impl ObjectStore for FaultStore {
    fn put_opts<'life0, 'life1, 'async_trait>(
        &'life0 self,
        location: &'life1 Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> BoxFuture<'async_trait, Result<PutResult>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        let kind = match opts.mode {
            PutMode::Create => OpKind::PutIfAbsent,
            PutMode::Overwrite | PutMode::Update(_) => OpKind::Put,
        };
        // A held put is admitted (logged, faulted) when released; any other at once, as before.
        let held = self.held(kind, location.as_ref());
        let admitted = held.is_none().then(|| self.begin(kind, location.as_ref()));
        Box::pin(async move {
            let admit = match (admitted, held) {
                (Some(admit), _) => admit,
                (None, Some(release)) => {
                    let _ = release.await;
                    self.begin(kind, location.as_ref())
                }
                (None, None) => unreachable!("a put is either held or admitted"),
            };
            let (index, after) = match admit {
                Admit::Refuse(e) => return Err(e),
                Admit::Run { index, after } => (index, after),
            };
            let result = self.inner.put_opts(location, payload, opts).await;
            FaultStore::settle(&self.state, index, kind, location.as_ref(), after, result)
        })
    }

    fn put_multipart_opts<'life0, 'life1, 'async_trait>(
        &'life0 self,
        location: &'life1 Path,
        opts: PutMultipartOptions,
    ) -> BoxFuture<'async_trait, Result<Box<dyn MultipartUpload>>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        let admit = self.begin(OpKind::PutMultipart, location.as_ref());
        Box::pin(async move {
            let index = match admit {
                Admit::Refuse(e) => return Err(e),
                Admit::Run { index, .. } => index,
            };
            let result = self.inner.put_multipart_opts(location, opts).await;
            // Parts and completion pass through; only the start of an upload is faulted.
            FaultStore::settle(
                &self.state,
                index,
                OpKind::PutMultipart,
                location.as_ref(),
                After::Answer,
                result,
            )
        })
    }

    fn get_opts<'life0, 'life1, 'async_trait>(
        &'life0 self,
        location: &'life1 Path,
        options: GetOptions,
    ) -> BoxFuture<'async_trait, Result<GetResult>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        let kind = if options.head {
            OpKind::Head
        } else {
            OpKind::Get
        };
        let admit = self.begin(kind, location.as_ref());
        Box::pin(async move {
            let (index, after) = match admit {
                Admit::Refuse(e) => return Err(e),
                Admit::Run { index, after } => (index, after),
            };
            let result = self.inner.get_opts(location, options).await;
            FaultStore::settle(&self.state, index, kind, location.as_ref(), after, result)
        })
    }

    fn get_ranges<'life0, 'life1, 'life2, 'async_trait>(
        &'life0 self,
        location: &'life1 Path,
        ranges: &'life2 [Range<u64>],
    ) -> BoxFuture<'async_trait, Result<Vec<Bytes>>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        'life2: 'async_trait,
        Self: 'async_trait,
    {
        let admit = self.begin(OpKind::GetRanges, location.as_ref());
        Box::pin(async move {
            let (index, after) = match admit {
                Admit::Refuse(e) => return Err(e),
                Admit::Run { index, after } => (index, after),
            };
            let result = self.inner.get_ranges(location, ranges).await;
            FaultStore::settle(
                &self.state,
                index,
                OpKind::GetRanges,
                location.as_ref(),
                after,
                result,
            )
        })
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        // Each path is numbered as it is pulled from the stream; a refused delete is reported
        // in place and never reaches the inner store.
        let this = FaultStore {
            inner: self.inner.clone(),
            faults: self.faults.clone(),
            seed: self.seed,
            state: self.state.clone(),
            hold: Mutex::new(None),
        };
        let admitted = locations.map(move |location| {
            let location = location?;
            match this.begin(OpKind::Delete, location.as_ref()) {
                Admit::Refuse(e) => Err(e),
                Admit::Run { index, .. } => {
                    this.lock().record(index, "sent");
                    Ok(location)
                }
            }
        });
        self.inner.delete_stream(admitted.boxed())
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        let inner = self.inner.list(prefix);
        self.list_stream(OpKind::List, prefix, inner)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        let inner = self.inner.list_with_offset(prefix, offset);
        self.list_stream(OpKind::List, prefix, inner)
    }

    fn list_with_delimiter<'life0, 'life1, 'async_trait>(
        &'life0 self,
        prefix: Option<&'life1 Path>,
    ) -> BoxFuture<'async_trait, Result<ListResult>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        let prefix_text = prefix.map(|p| p.as_ref().to_string()).unwrap_or_default();
        let admit = self.begin(OpKind::ListWithDelimiter, &prefix_text);
        Box::pin(async move {
            let (index, after) = match admit {
                Admit::Refuse(e) => return Err(e),
                Admit::Run { index, after } => (index, after),
            };
            let hidden = self.hidden(&prefix_text, index);
            let mut result = self.inner.list_with_delimiter(prefix).await;
            if let Ok(listing) = &mut result {
                listing
                    .objects
                    .retain(|m| !hidden.contains(m.location.as_ref()));
            }
            FaultStore::settle(
                &self.state,
                index,
                OpKind::ListWithDelimiter,
                &prefix_text,
                after,
                result,
            )
        })
    }

    fn copy_opts<'life0, 'life1, 'life2, 'async_trait>(
        &'life0 self,
        from: &'life1 Path,
        to: &'life2 Path,
        options: CopyOptions,
    ) -> BoxFuture<'async_trait, Result<()>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        'life2: 'async_trait,
        Self: 'async_trait,
    {
        let admit = self.begin(OpKind::Copy, to.as_ref());
        Box::pin(async move {
            let (index, after) = match admit {
                Admit::Refuse(e) => return Err(e),
                Admit::Run { index, after } => (index, after),
            };
            let result = self.inner.copy_opts(from, to, options).await;
            FaultStore::settle(&self.state, index, OpKind::Copy, to.as_ref(), after, result)
        })
    }

    fn rename_opts<'life0, 'life1, 'life2, 'async_trait>(
        &'life0 self,
        from: &'life1 Path,
        to: &'life2 Path,
        options: RenameOptions,
    ) -> BoxFuture<'async_trait, Result<()>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        'life2: 'async_trait,
        Self: 'async_trait,
    {
        let admit = self.begin(OpKind::Rename, to.as_ref());
        Box::pin(async move {
            let (index, after) = match admit {
                Admit::Refuse(e) => return Err(e),
                Admit::Run { index, after } => (index, after),
            };
            let result = self.inner.rename_opts(from, to, options).await;
            FaultStore::settle(
                &self.state,
                index,
                OpKind::Rename,
                to.as_ref(),
                after,
                result,
            )
        })
    }
}
