//! Log cleanup: deleting commit and checkpoint files that have left the retention window
//! (`protocol/PROTOCOL.md#log-cleanup`).
//!
//! The shell around [`plan_cleanup`]: it reads the table's retention, lists `_delta_log/`,
//! plans, and deletes through [`Storage`] in ascending version order. It runs on demand
//! ([`crate::Table::cleanup_log`], [`cleanup_expired_logs`]) and after every automatic
//! checkpoint, unless `delta.enableExpiredLogCleanup=false`.

use std::collections::HashMap;

use futures::{StreamExt, TryStreamExt};

use crate::error::{Error, Result};
use crate::log::cleanup::plan_cleanup;
use crate::log::segment::{LogFile, LogListing};
use crate::protocol::paths::LogFileKind;
use crate::protocol::properties::parse_interval_ms;
use crate::snapshot::{Snapshot, list_log};
use crate::storage::Storage;

/// The table property holding how long the log keeps history.
pub const LOG_RETENTION_PROPERTY: &str = "delta.logRetentionDuration";

/// Default `delta.logRetentionDuration`: `interval 30 days`, as in Delta.
pub const DEFAULT_LOG_RETENTION_MS: i64 = 30 * 86_400_000;

/// The table property that turns the automatic cleanup after a checkpoint off (`false`).
pub const ENABLE_EXPIRED_LOG_CLEANUP_PROPERTY: &str = "delta.enableExpiredLogCleanup";

/// Deletes in flight at once. Each window of this many deletions is ascending by version, so
/// an interrupted cleanup leaves at most this many old versions out of order, all below the
/// checkpoint the log starts at.
const DELETE_CONCURRENCY: usize = 16;

/// What a log cleanup did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CleanupReport {
    /// Names of the files deleted from `_delta_log/`, ascending by version.
    pub deleted: Vec<String>,
    /// The earliest version that can still be read: every version from it to the latest
    /// loads; older ones give [`Error::VersionNotFound`].
    pub earliest_version: i64,
    /// The checkpoint the log now starts at, when one covered the expired files.
    pub checkpoint_version: Option<i64>,
    /// Files modified before this time (milliseconds since the epoch) were eligible.
    pub cutoff_ms: Option<i64>,
    /// Why nothing was considered, when the cleanup did not run.
    pub skipped: Option<CleanupSkipped>,
}

/// Why a cleanup did not run.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CleanupSkipped {
    /// `delta.logRetentionDuration` is not an interval strata can read: nothing is deleted
    /// rather than guessing a retention.
    InvalidRetention {
        /// The property's value.
        value: String,
    },
    /// The table uses in-commit timestamps; the planner decides the retention window by file
    /// modification times, so cleanup of such tables is not implemented yet.
    InCommitTimestamps,
}

/// The table's log retention in milliseconds: `delta.logRetentionDuration` as a Spark
/// interval ([`parse_interval_ms`]), 30 days when unset.
///
/// # Errors
/// The property's value when it cannot be parsed (months, years, negative, not an interval).
pub fn log_retention_ms(properties: &HashMap<String, String>) -> Result<i64, String> {
    match properties.get(LOG_RETENTION_PROPERTY) {
        None => Ok(DEFAULT_LOG_RETENTION_MS),
        Some(raw) => parse_interval_ms(raw).ok_or_else(|| raw.clone()),
    }
}

/// Whether the automatic cleanup after a checkpoint runs: `delta.enableExpiredLogCleanup`,
/// true when unset. A value other than `true`/`false` turns it off (deleting nothing is the
/// safe reading) and is logged.
pub fn expired_log_cleanup_enabled(properties: &HashMap<String, String>) -> bool {
    match properties.get(ENABLE_EXPIRED_LOG_CLEANUP_PROPERTY) {
        None => true,
        Some(v) if v.eq_ignore_ascii_case("true") => true,
        Some(v) => {
            if !v.eq_ignore_ascii_case("false") {
                tracing::warn!(
                    "{ENABLE_EXPIRED_LOG_CLEANUP_PROPERTY}={v:?} is not true or false; automatic log cleanup is off"
                );
            }
            false
        }
    }
}

/// Deletes the log files of `snapshot`'s table that left the retention window
/// (`delta.logRetentionDuration` before `now_ms`, default 30 days) and are covered by a newer
/// checkpoint, by the rule of [`crate::log::cleanup`]. Every version whose commit is inside the
/// window, and the version current when the window opens, stays readable, by version and by
/// timestamp. An unparsable retention deletes nothing (logged, and reported as skipped).
///
/// # Errors
/// [`Error::UnsupportedWriterFeatures`] when strata cannot honour the table's writer protocol
/// (cleanup changes the log); [`Error::Storage`] when listing or a deletion fails (files
/// deleted before the failure stay deleted; the log stays readable from the checkpoint on);
/// [`Error::NotATable`] when the log is gone.
pub async fn cleanup_expired_logs(snapshot: &Snapshot, now_ms: i64) -> Result<CleanupReport> {
    snapshot.require_writable()?;
    let storage = snapshot.storage();
    let files = list_log(storage, None).await?;
    if snapshot.in_commit_timestamps_enabled() {
        return skipped(storage, files, CleanupSkipped::InCommitTimestamps);
    }
    let retention_ms = match log_retention_ms(snapshot.properties()) {
        Ok(ms) => ms,
        Err(value) => {
            tracing::warn!(
                location = storage.location(),
                "{LOG_RETENTION_PROPERTY}={value:?} is not a valid interval; log cleanup deletes nothing"
            );
            return skipped(storage, files, CleanupSkipped::InvalidRetention { value });
        }
    };
    let cutoff_ms = protect_tagged(snapshot, &files, now_ms.saturating_sub(retention_ms))?;
    let plan = plan_cleanup(&files, cutoff_ms);
    delete_in_order(storage, &plan.delete).await?;
    Ok(CleanupReport {
        deleted: plan.delete,
        earliest_version: plan.earliest_version.ok_or_else(|| not_a_table(storage))?,
        checkpoint_version: plan.checkpoint,
        cutoff_ms: Some(cutoff_ms),
        skipped: None,
    })
}

/// Moves the cutoff back to the oldest tagged version's commit time, so that version stays
/// readable (`protocol/PROTOCOL.md#tags`): the planner then keeps the version current at that
/// time and everything after it.
fn protect_tagged(snapshot: &Snapshot, files: &[LogFile], cutoff_ms: i64) -> Result<i64> {
    let Some(oldest) = snapshot.tags()?.values().map(|t| t.version).min() else {
        return Ok(cutoff_ms);
    };
    let tagged_commit = files
        .iter()
        .find(|f| f.kind == LogFileKind::Commit && f.version == oldest);
    Ok(match tagged_commit {
        Some(f) => cutoff_ms.min(f.last_modified_ms),
        None => cutoff_ms,
    })
}

/// The cleanup that follows an automatic checkpoint: runs unless the table turned it off, and
/// never fails the commit that triggered it (a failure is logged).
pub(crate) async fn cleanup_after_checkpoint(snapshot: &Snapshot) {
    if !expired_log_cleanup_enabled(snapshot.properties()) {
        return;
    }
    let now_ms = chrono::Utc::now().timestamp_millis();
    match cleanup_expired_logs(snapshot, now_ms).await {
        Ok(report) if !report.deleted.is_empty() => tracing::debug!(
            version = snapshot.version(),
            deleted = report.deleted.len(),
            earliest_version = report.earliest_version,
            "log cleanup"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(
            version = snapshot.version(),
            error = %e,
            "log cleanup failed; the commit and checkpoint stand"
        ),
    }
}

/// Deletes `names` from `_delta_log/`, ascending, a bounded window at a time; stops at the
/// first failure.
async fn delete_in_order(storage: &Storage, names: &[String]) -> Result<()> {
    // Owned paths and a storage handle per future keep the stream `Send` for any lifetime,
    // so the commit path that runs this stays spawnable.
    let paths: Vec<_> = names.iter().map(|name| storage.log_path(name)).collect();
    let storage = storage.clone();
    futures::stream::iter(paths)
        .map(move |path| {
            let storage = storage.clone();
            async move { storage.delete(&path).await }
        })
        .buffered(DELETE_CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await
        .map(|_| ())
}

/// The report of a cleanup that did not run.
fn skipped(
    storage: &Storage,
    files: Vec<LogFile>,
    reason: CleanupSkipped,
) -> Result<CleanupReport> {
    let earliest = LogListing::from_files(files).earliest_version();
    Ok(CleanupReport {
        deleted: Vec::new(),
        earliest_version: earliest.ok_or_else(|| not_a_table(storage))?,
        checkpoint_version: None,
        cutoff_ms: None,
        skipped: Some(reason),
    })
}

fn not_a_table(storage: &Storage) -> Error {
    Error::NotATable {
        location: storage.location().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn retention_defaults_to_thirty_days_and_refuses_what_it_cannot_read() {
        assert_eq!(log_retention_ms(&props(&[])), Ok(DEFAULT_LOG_RETENTION_MS));
        assert_eq!(
            log_retention_ms(&props(&[(LOG_RETENTION_PROPERTY, "interval 2 days")])),
            Ok(2 * 86_400_000)
        );
        assert_eq!(
            log_retention_ms(&props(&[(LOG_RETENTION_PROPERTY, "interval 0 seconds")])),
            Ok(0)
        );
        for bad in ["interval 1 month", "forever", "", "-1 days"] {
            assert_eq!(
                log_retention_ms(&props(&[(LOG_RETENTION_PROPERTY, bad)])),
                Err(bad.to_string()),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn automatic_cleanup_is_on_unless_turned_off() {
        assert!(expired_log_cleanup_enabled(&props(&[])));
        assert!(expired_log_cleanup_enabled(&props(&[(
            ENABLE_EXPIRED_LOG_CLEANUP_PROPERTY,
            "TRUE"
        )])));
        for off in ["false", "False", "maybe"] {
            assert!(
                !expired_log_cleanup_enabled(&props(&[(ENABLE_EXPIRED_LOG_CLEANUP_PROPERTY, off)])),
                "{off:?}"
            );
        }
    }
}
