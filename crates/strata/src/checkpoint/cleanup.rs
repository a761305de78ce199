//! Log cleanup: deleting commit and checkpoint files that have left the retention window
//! (`protocol/PROTOCOL.md#log-cleanup`).
//!
//! The shell around [`plan_cleanup`]: it reads the table's retention, lists `_delta_log/`,
//! plans, and deletes through [`Storage`] in ascending version order. It runs on demand
//! ([`crate::Table::cleanup_log`], [`cleanup_expired_logs`]) and after every automatic
//! checkpoint, unless `delta.enableExpiredLogCleanup=false`.

use futures::{StreamExt, TryStreamExt};

use crate::error::{Error, Result};
use crate::log::cleanup::plan_cleanup;
use crate::log::segment::{LogFile, LogListing};
use crate::protocol::paths::LogFileKind;
use crate::protocol::properties::LOG_RETENTION_DURATION;
use crate::snapshot::checkpoint::{SIDECAR_GRACE_MS, referenced_sidecars};
use crate::snapshot::{Snapshot, list_log};
use crate::storage::Storage;

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
    let retention_ms = match snapshot.table_properties().log_retention() {
        Ok(ms) => ms,
        Err(value) => {
            tracing::warn!(
                location = storage.location(),
                "{LOG_RETENTION_DURATION}={value:?} is not a valid interval; log cleanup deletes nothing"
            );
            let value = value.to_string();
            return skipped(storage, files, CleanupSkipped::InvalidRetention { value });
        }
    };
    let cutoff_ms = protect_tagged(snapshot, &files, now_ms.saturating_sub(retention_ms)).await?;
    let plan = plan_cleanup(&files, cutoff_ms);
    delete_in_order(storage, &plan.delete).await?;
    let remaining: Vec<&LogFile> = files
        .iter()
        .filter(|f| !plan.delete.contains(&f.name))
        .collect();
    let mut deleted = plan.delete;
    deleted.extend(
        delete_orphaned_sidecars(
            storage,
            &remaining,
            cutoff_ms.min(now_ms - SIDECAR_GRACE_MS),
        )
        .await?,
    );
    Ok(CleanupReport {
        deleted,
        earliest_version: plan.earliest_version.ok_or_else(|| not_a_table(storage))?,
        checkpoint_version: plan.checkpoint,
        cutoff_ms: Some(cutoff_ms),
        skipped: None,
    })
}

/// Deletes the V2 checkpoint sidecars no remaining checkpoint references and that were
/// modified before `cutoff_ms` (`protocol/PROTOCOL.md#log-cleanup`): once log cleanup deleted
/// the checkpoints that used them, nothing reads them. Returns their names.
async fn delete_orphaned_sidecars(
    storage: &Storage,
    remaining: &[&LogFile],
    cutoff_ms: i64,
) -> Result<Vec<String>> {
    let sidecars = storage.list_sidecars().await?;
    let old: Vec<&(String, object_store::ObjectMeta)> = sidecars
        .iter()
        .filter(|(_, meta)| meta.last_modified.timestamp_millis() < cutoff_ms)
        .collect();
    if old.is_empty() {
        return Ok(Vec::new());
    }
    let referenced = referenced_sidecars(storage, remaining.iter().copied()).await?;
    let orphans: Vec<String> = old
        .into_iter()
        .filter(|(name, _)| !referenced.contains(name))
        .map(|(name, _)| name.clone())
        .collect();
    for name in &orphans {
        storage.delete(&storage.log_file(name)).await?;
    }
    Ok(orphans)
}

/// Moves the cutoff back to the oldest tagged version's commit time, so that version stays
/// readable (`protocol/PROTOCOL.md#tags`): the planner then keeps the version current at that
/// time and everything after it.
async fn protect_tagged(snapshot: &Snapshot, files: &[LogFile], cutoff_ms: i64) -> Result<i64> {
    let tags = crate::snapshot::tags::load_tags(snapshot).await?;
    let Some(oldest) = tags.values().map(|t| t.version).min() else {
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
    if !snapshot.table_properties().expired_log_cleanup_enabled() {
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
