//! Transactions: stage actions against a snapshot and commit them atomically
//! (`protocol/PROTOCOL.md#commit-protocol`).
//!
//! Every operation that changes a table (append, overwrite, and later delete, merge, restore,
//! optimize, vacuum) commits through [`Transaction::commit`]. The commit is one put-if-absent of
//! `_delta_log/<version>.json`. Losing the race is a value, not a failure: the winner is read,
//! checked with [`conflict::check`], and if it does not conflict the same actions are tried at
//! the next version, a bounded number of times with backoff. A put whose acknowledgement was
//! lost is recognised by the transaction id in `commitInfo.txnId`, so it is never committed
//! twice.

pub mod conflict;
mod extras;
pub(crate) mod hooks;
pub(crate) mod row_tracking;
mod staged;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use serde_json::{Map, Value};

use crate::error::{ConflictReason, Error, Result};
use crate::protocol::actions::{Action, CommitInfo, serialize_commit};
use crate::protocol::paths::{LogFileKind, commit_file_name};
use crate::snapshot::{Snapshot, list_log, read_commit};
use crate::storage::PutOutcome;
use conflict::ReadSet;
pub use extras::CommitExtras;
use hooks::PostCommitHook;

/// Engine identification written to `commitInfo.engineInfo`.
pub const ENGINE_INFO: &str = concat!("strata/", env!("CARGO_PKG_VERSION"));

/// Default bound on commit attempts after the first.
pub const DEFAULT_MAX_RETRIES: u32 = 100;
/// The table property that makes data changes require lineage
/// (`protocol/PROTOCOL.md#pipelines`).
pub const REQUIRE_LINEAGE: &str = "strata.requireLineage";
/// The `commitInfo` field with a flow commit's lineage (`protocol/PROTOCOL.md#pipelines`).
pub const LINEAGE: &str = "strata.lineage";

/// The longest pause after a lost race (see `backoff`).
const MAX_BACKOFF: Duration = Duration::from_millis(20);
/// Winning commits read at once while catching up.
const CATCH_UP_CONCURRENCY: usize = 16;

/// What a successful commit did.
#[derive(Debug, Clone)]
pub struct CommitResult {
    /// The version committed.
    pub version: i64,
    /// How many put attempts it took (1 when no other writer interfered).
    pub attempts: u32,
    /// The table right after this commit (built from the read snapshot, the winners it was
    /// rebased over and its own actions, without further I/O), when known.
    pub snapshot: Option<Snapshot>,
}

/// A set of actions to commit atomically on top of a snapshot.
#[derive(Debug)]
pub struct Transaction {
    snapshot: Snapshot,
    actions: Vec<Action>,
    read_set: ReadSet,
    operation: String,
    operation_parameters: Map<String, Value>,
    operation_metrics: Map<String, Value>,
    extra_commit_info: Map<String, Value>,
    max_retries: u32,
    expected_version: Option<i64>,
    txn_id: String,
    post_commit: Vec<Arc<dyn PostCommitHook>>,
}

impl Transaction {
    /// Starts a transaction reading `snapshot`, for an operation named as Delta names it
    /// (`WRITE`, `CREATE TABLE`, `DELETE`, …).
    pub fn new(snapshot: &Snapshot, operation: impl Into<String>) -> Transaction {
        Transaction {
            snapshot: snapshot.clone(),
            actions: Vec::new(),
            read_set: ReadSet {
                serializable: snapshot.table_properties().serializable,
                ..ReadSet::default()
            },
            operation: operation.into(),
            operation_parameters: Map::new(),
            operation_metrics: Map::new(),
            extra_commit_info: Map::new(),
            max_retries: DEFAULT_MAX_RETRIES,
            expected_version: None,
            txn_id: uuid::Uuid::new_v4().to_string(),
            post_commit: hooks::default_hooks(),
        }
    }

    /// The snapshot the transaction reads.
    pub fn read_snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// Stages actions.
    pub fn add_actions(&mut self, actions: impl IntoIterator<Item = Action>) {
        self.actions.extend(actions);
    }

    /// Declares that the transaction's result depends on the whole table (an overwrite),
    /// so any concurrent data change conflicts.
    pub fn read_whole_table(&mut self) {
        self.read_set.read_whole_table = true;
    }

    /// Declares files (by [`file_key`](crate::actions::file_key)) whose contents the
    /// transaction's result depends on: a winner removing one conflicts.
    pub fn read_files(&mut self, keys: impl IntoIterator<Item = String>) {
        self.read_set.read_files.extend(keys);
    }

    /// Declares the predicate the transaction read the table with: a winner that is not a
    /// blind append and adds a file `may_match` accepts conflicts.
    pub(crate) fn read_predicate(&mut self, may_match: conflict::ReadPredicate) {
        self.read_set.read_predicate = Some(may_match);
    }

    /// Sets an `operationParameters` entry.
    pub fn with_parameter(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.operation_parameters.insert(key.into(), value.into());
        self
    }

    /// Sets an `operationMetrics` entry.
    pub fn set_metric(&mut self, key: &str, value: impl Into<Value>) {
        self.operation_metrics.insert(key.into(), value.into());
    }

    /// Attaches a custom `commitInfo` field (e.g. a job id). Keys that collide with the fields
    /// strata writes are ignored.
    pub fn set_commit_metadata(&mut self, key: &str, value: impl Into<Value>) {
        self.extra_commit_info.insert(key.into(), value.into());
    }

    /// Bounds the number of retries after a lost race (default [`DEFAULT_MAX_RETRIES`]).
    pub fn with_max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// Commit only as the version right after `version`: when the read snapshot is not at
    /// `version`, or another writer commits first, the commit fails with
    /// [`ConflictReason::VersionMoved`] instead of being rebased. The guard of a
    /// read-modify-write job, whose result depends on exactly what it read.
    pub fn with_expected_version(mut self, version: i64) -> Self {
        self.expected_version = Some(version);
        self
    }

    /// This transaction's unique id (`commitInfo.txnId`).
    pub fn txn_id(&self) -> &str {
        &self.txn_id
    }

    /// A table with `strata.requireLineage = true` (gold tables of a lake) takes data changes
    /// only with `commitInfo["strata.lineage"]`, as flows write it; rollbacks (restore,
    /// revert) and changes that move no data (optimize) are always allowed
    /// (`protocol/PROTOCOL.md#pipelines`).
    fn check_lineage_required(&self) -> Result<()> {
        let required = self
            .snapshot
            .metadata()
            .configuration
            .get(REQUIRE_LINEAGE)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let changes_data = self.actions.iter().any(|a| match a {
            Action::Add(add) => add.data_change,
            Action::Remove(remove) => remove.data_change,
            Action::Cdc(_) => true,
            _ => false,
        });
        let rollback = matches!(self.operation.as_str(), "RESTORE" | "REVERT");
        if !required || !changes_data || rollback || self.extra_commit_info.contains_key(LINEAGE) {
            return Ok(());
        }
        Err(Error::NotAllowed {
            location: self.snapshot.storage().location().to_string(),
            operation: self.operation.to_lowercase(),
            reason: format!(
                "the table takes data only with lineage ({REQUIRE_LINEAGE}=true, as a lake sets on gold tables): write it through a flow, which records its inputs, or roll it back with restore or revert"
            ),
        })
    }

    fn commit_info(&self, now_ms: i64, in_commit_timestamp: Option<i64>) -> CommitInfo {
        let blind_append = self.read_set.is_blind_append() && !self.actions.iter().any(is_remove);
        // As Delta records it: a blind append is serializable whatever the table's level.
        let mut extra = self.extra_commit_info.clone();
        let level = if blind_append || self.read_set.serializable {
            "Serializable"
        } else {
            "WriteSerializable"
        };
        extra
            .entry("isolationLevel")
            .or_insert_with(|| Value::String(level.into()));
        CommitInfo {
            in_commit_timestamp,
            timestamp: Some(now_ms),
            operation: Some(self.operation.clone()),
            operation_parameters: Some(self.operation_parameters.clone()),
            read_version: (self.snapshot.version() >= 0).then_some(self.snapshot.version()),
            is_blind_append: Some(blind_append),
            engine_info: Some(ENGINE_INFO.to_string()),
            operation_metrics: (!self.operation_metrics.is_empty())
                .then(|| self.operation_metrics.clone()),
            txn_id: Some(self.txn_id.clone()),
            extra,
        }
    }

    /// Commits the staged actions.
    ///
    /// On losing the race for a version, the transaction catches up in one step: it reads the
    /// winner and every commit after it, checks each for a conflict, and tries again right
    /// after the newest. So a writer that fell many versions behind pays one listing, not one
    /// attempt per version, and retries are only spent on genuine head-to-head races.
    ///
    /// # Errors
    /// [`Error::Conflict`] when a winning commit conflicts (naming its version and why) or
    /// retries run out; [`Error::Storage`] when the store fails; [`Error::CorruptLog`] when a
    /// winner cannot be parsed.
    pub async fn commit(mut self) -> Result<CommitResult> {
        self.read_set.record_writes(&self.actions);
        let storage = self.snapshot.storage().clone();
        let moved = |version: i64, expected: i64| Error::Conflict {
            location: storage.location().to_string(),
            version,
            reason: ConflictReason::VersionMoved { expected },
        };
        if let Some(expected) = self.expected_version
            && expected != self.snapshot.version()
        {
            return Err(moved(self.snapshot.version(), expected));
        }
        self.check_lineage_required()?;
        let ict_enabled = self.snapshot.in_commit_timestamps_enabled();
        let row_tracking = self
            .snapshot
            .writer_features()
            .contains(&crate::protocol::features::TableFeature::RowTracking);
        let mut last_ict = self.snapshot.timestamp_ms();
        let mut version = self.snapshot.version() + 1;
        let mut winners: Vec<(i64, Vec<Action>)> = Vec::new();
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let now_ms = chrono::Utc::now().timestamp_millis();
            let ict = ict_enabled.then(|| now_ms.max(last_ict + 1));
            let mut ours = Vec::with_capacity(self.actions.len() + 1);
            ours.push(Action::CommitInfo(self.commit_info(now_ms, ict)));
            if row_tracking {
                // Ids from the mark of the version this attempt lands on: the newest winner's,
                // else the read snapshot's.
                let domain = winners
                    .iter()
                    .rev()
                    .find_map(|(_, actions)| row_tracking::domain_in(actions))
                    .or_else(|| self.snapshot.domain(row_tracking::ROW_TRACKING_DOMAIN));
                let mark = row_tracking::high_water_mark(domain)?;
                ours.extend(row_tracking::assign_row_ids(&self.actions, mark, version)?);
            } else {
                ours.extend(self.actions.iter().cloned());
            }
            staged::check_staged_files(&self.snapshot, &self.actions, now_ms).await?;
            let path = storage.log_path(&commit_file_name(version));
            let put = storage
                .put_if_absent(&path, Bytes::from(serialize_commit(&ours)))
                .await;
            let taken = match resolve_put(&storage, version, put, &self.txn_id).await? {
                Landed::Ours => {
                    winners.push((version, ours));
                    let snapshot = self.snapshot.advance(winners, ict.unwrap_or(now_ms))?;
                    for hook in &self.post_commit {
                        hook.run(&snapshot).await;
                    }
                    return Ok(CommitResult {
                        version,
                        attempts,
                        snapshot: Some(snapshot),
                    });
                }
                Landed::Theirs(_) if self.expected_version.is_some() => {
                    return Err(moved(version, self.snapshot.version()));
                }
                Landed::Theirs(taken) => taken,
            };
            // Wait first, then catch up and put at once: a put made right after the listing
            // races the writer that just won on even terms (see `backoff`).
            tokio::time::sleep(backoff(attempts)).await;
            let mut newer = read_commits_after(&storage, version).await?;
            newer.insert(0, (version, taken));
            for (winner_version, actions) in newer {
                conflict::check(&self.read_set, &actions).map_err(|reason| Error::Conflict {
                    location: storage.location().to_string(),
                    version: winner_version,
                    reason,
                })?;
                last_ict = winner_ict(&actions).unwrap_or(last_ict).max(last_ict);
                version = winner_version + 1;
                winners.push((winner_version, actions));
            }
            if attempts > self.max_retries {
                return Err(Error::Conflict {
                    location: storage.location().to_string(),
                    version,
                    reason: ConflictReason::TooManyRetries { attempts },
                });
            }
        }
    }
}

/// Who owns a version after a commit attempt.
enum Landed {
    /// This transaction's commit is at the version.
    Ours,
    /// Another writer's commit (its actions) is at the version.
    Theirs(Vec<Action>),
}

/// Decides what a put-if-absent did, including the cases where its answer was lost: a put that
/// reports `AlreadyExists` or fails outright may still have written our commit (the store
/// applied it, then the response was lost and a retry saw our own object, or retries ran out).
/// Reading the version back and comparing `commitInfo.txnId` tells the truth
/// (`protocol/PROTOCOL.md#commit-protocol`, item 3). If the read-back finds nothing, the put
/// did not land and its error is returned.
async fn resolve_put(
    storage: &crate::storage::Storage,
    version: i64,
    put: Result<PutOutcome>,
    txn_id: &str,
) -> Result<Landed> {
    let put_error = match put {
        Ok(PutOutcome::Created) => return Ok(Landed::Ours),
        Ok(PutOutcome::AlreadyExists) => None,
        Err(e) => Some(e),
    };
    match read_commit(storage, version).await {
        Ok((_, actions)) if is_ours(&actions, txn_id) => Ok(Landed::Ours),
        Ok((_, actions)) => Ok(Landed::Theirs(actions)),
        Err(read_error) => Err(put_error.unwrap_or(read_error)),
    }
}

/// Reads the contiguous commits after `version` that a listing shows (it may lag; a later
/// put-if-absent still decides).
async fn read_commits_after(
    storage: &crate::storage::Storage,
    version: i64,
) -> Result<Vec<(i64, Vec<Action>)>> {
    let listed = list_log(storage, Some(&format!("{version:020}"))).await?;
    let mut versions: Vec<i64> = listed
        .iter()
        .filter(|f| f.kind == LogFileKind::Commit && f.version > version)
        .map(|f| f.version)
        .collect();
    versions.sort_unstable();
    let contiguous: Vec<i64> = versions
        .into_iter()
        .zip(version + 1..)
        .take_while(|(v, want)| v == want)
        .map(|(v, _)| v)
        .collect();
    futures::stream::iter(contiguous.into_iter().map(|v| {
        let storage = storage.clone();
        async move { read_commit(&storage, v).await }
    }))
    .buffered(CATCH_UP_CONCURRENCY)
    .try_collect()
    .await
}

fn is_remove(a: &Action) -> bool {
    matches!(a, Action::Remove(_))
}

fn is_ours(winner: &[Action], txn_id: &str) -> bool {
    winner
        .iter()
        .any(|a| matches!(a, Action::CommitInfo(ci) if ci.txn_id.as_deref() == Some(txn_id)))
}

fn winner_ict(winner: &[Action]) -> Option<i64> {
    winner.iter().find_map(|a| match a {
        Action::CommitInfo(ci) => ci.in_commit_timestamp,
        _ => None,
    })
}

/// The pause after a lost race, before catching up: a random wait of up to `attempt`
/// milliseconds, never more than [`MAX_BACKOFF`].
///
/// It is small and grows only slowly on purpose. Under sustained contention the writer that
/// just committed puts its next commit without reading anything, while a loser must read the
/// winners first; an exponential backoff made the losers that had lost most wait longest (up to
/// 200 ms), so the incumbent kept winning and a waiting writer's append needed up to 118 puts
/// on S3 at 8 writers × 100 commits (#20). The jitter still spreads losers that lost together.
fn backoff(attempt: u32) -> Duration {
    let cap_us = (u64::from(attempt) * 1_000).min(MAX_BACKOFF.as_micros() as u64);
    let jitter = uuid::Uuid::new_v4().as_u128() as u64 % (cap_us + 1);
    Duration::from_micros(jitter)
}
