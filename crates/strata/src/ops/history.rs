//! A table's history: one entry per commit, newest first (`protocol/PROTOCOL.md#history`).
//!
//! Each entry comes from the commit's `commitInfo`: operation, parameters, metrics, engine,
//! and every other field a writer attached (a job id, a user, a lineage record), kept as
//! written. The timestamp is the one time travel uses: the in-commit timestamp when the commit
//! has one, else the commit file's modification time made strictly increasing across versions
//! (as Spark does), so that `snapshot_at_timestamp(entry.timestamp)` opens that version.
//! Commits removed by log cleanup are not listed.

use futures::{StreamExt, TryStreamExt};
use serde_json::{Map, Value};

use crate::error::Result;
use crate::log::timetravel::make_monotonic;
use crate::protocol::actions::{Action, CommitInfo};
use crate::protocol::paths::LogFileKind;
use crate::snapshot::{Snapshot, list_log, read_commit};

/// Commit files read at once.
const HISTORY_FETCH_CONCURRENCY: usize = 16;

/// One commit, as [`Snapshot::history`] reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry {
    /// The version this commit created.
    pub version: i64,
    /// Commit time in milliseconds since the epoch (in-commit timestamp or adjusted file
    /// time; see the module docs).
    pub timestamp_ms: i64,
    /// The operation (`WRITE`, `CREATE TABLE`, `DELETE`, `RESTORE`, …), if recorded.
    pub operation: Option<String>,
    /// Operation parameters (`mode`, `predicate`, …).
    pub parameters: Map<String, Value>,
    /// Operation metrics (`numFiles`, `numOutputRows`, …).
    pub metrics: Map<String, Value>,
    /// The writer (`strata/0.1.0`, `delta-rs:py-1.6.6`, `Apache-Spark/…`).
    pub engine_info: Option<String>,
    /// The version the writer read before committing.
    pub read_version: Option<i64>,
    /// Whether the commit only appended data without reading the table.
    pub is_blind_append: Option<bool>,
    /// Every other `commitInfo` field, as written (user and job metadata, `clientVersion`, …).
    pub user_metadata: Map<String, Value>,
}

impl HistoryEntry {
    fn new(version: i64, timestamp_ms: i64, info: Option<CommitInfo>) -> HistoryEntry {
        let info = info.unwrap_or_default();
        let mut user_metadata = info.extra;
        // `txnId` identifies the attempt to the writer itself; not user metadata.
        user_metadata.remove("txnId");
        HistoryEntry {
            version,
            timestamp_ms: info.in_commit_timestamp.unwrap_or(timestamp_ms),
            operation: info.operation,
            parameters: info.operation_parameters.unwrap_or_default(),
            metrics: info.operation_metrics.unwrap_or_default(),
            engine_info: info.engine_info,
            read_version: info.read_version,
            is_blind_append: info.is_blind_append,
            user_metadata,
        }
    }

    /// The commit time as a UTC date-time.
    pub fn timestamp(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp_millis(self.timestamp_ms).unwrap_or_default()
    }
}

/// The commits up to this snapshot's version, newest first, at most `limit` of them
/// (all still in the log when `None`).
///
/// # Errors
/// [`crate::Error::Storage`] listing or reading the log, [`crate::Error::CorruptLog`] for a
/// commit that does not parse.
pub(crate) async fn history(
    snapshot: &Snapshot,
    limit: Option<usize>,
) -> Result<Vec<HistoryEntry>> {
    let storage = snapshot.storage().clone();
    let mut commits: Vec<(i64, i64)> = list_log(&storage, None)
        .await?
        .into_iter()
        .filter(|f| f.kind == LogFileKind::Commit && f.version <= snapshot.version())
        .map(|f| (f.version, f.last_modified_ms))
        .collect();
    commits.sort_unstable();
    make_monotonic(&mut commits);
    let wanted: Vec<(i64, i64)> = commits
        .into_iter()
        .rev()
        .take(limit.unwrap_or(usize::MAX))
        .collect();
    futures::stream::iter(wanted.into_iter().map(|(version, time)| {
        let storage = storage.clone();
        async move {
            let (_, actions) = read_commit(&storage, version).await?;
            let info = actions.into_iter().find_map(|a| match a {
                Action::CommitInfo(c) => Some(c),
                _ => None,
            });
            Ok(HistoryEntry::new(version, time, info))
        }
    }))
    .buffered(HISTORY_FETCH_CONCURRENCY)
    .try_collect()
    .await
}
