//! Vacuum: delete data files no retained version reads (`protocol/PROTOCOL.md#vacuum`).
//!
//! A file is kept when any of these reads it: the current version; any version inside the
//! retention period (`delta.deletedFileRetentionDuration`, default 7 days), which is exactly
//! the files whose `remove` is newer than the cutoff; any tagged version. Files no commit ever
//! added (left by failed or in-flight writes) are deleted only once older than the retention,
//! so a write that has uploaded but not yet committed is never broken. Hidden paths (`_…` or
//! `.…` names other than `col=value` partition directories, including `_delta_log/`) are never
//! touched; change data files (`_change_data/`) go once older than the retention. The
//! decision is a pure function ([`plan_vacuum`]); the shell lists, commits `VACUUM START`,
//! deletes and commits `VACUUM END` as Delta does, so the log records it.

use std::collections::HashSet;
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};

use crate::error::{Error, Result};
use crate::protocol::actions::DeletionVectorDescriptor;
use crate::protocol::paths::{LOG_DIR, SIDECAR_DIR};
use crate::protocol::properties::{DELETED_FILE_RETENTION_DURATION, format_duration_ms};
use crate::read::deletion_vectors::dv_file_of;
use crate::snapshot::checkpoint::{SIDECAR_GRACE_MS, referenced_sidecars};
use crate::snapshot::latest::LatestSnapshot;
use crate::snapshot::{Snapshot, list_log};
use crate::storage::ListedObject;
use crate::transaction::Transaction;
use crate::write::cdc::CHANGE_DATA_DIR;

/// Deletes run at once.
const DELETE_CONCURRENCY: usize = 16;
/// Progress is reported every this many deletions.
const PROGRESS_EVERY: u64 = 1000;

/// Where a vacuum is, for a progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VacuumProgress {
    /// Objects listed under the table root.
    pub listed: u64,
    /// Files chosen for deletion.
    pub to_delete: u64,
    /// Files deleted so far.
    pub deleted: u64,
}

/// What a vacuum deleted (or, in a dry run, would delete).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VacuumReport {
    /// True for a dry run: nothing was deleted or committed.
    pub dry_run: bool,
    /// The retention used, in milliseconds.
    pub retention_ms: i64,
    /// Paths (relative to the table root) deleted or to delete, sorted.
    pub files: Vec<String>,
    /// Their total size in bytes.
    pub bytes: u64,
    /// Files no commit references that were kept although older than the retention, because
    /// they are younger than the in-flight grace (`strata.vacuum.inFlightGraceMs`): a write
    /// may still commit them. Sorted.
    pub in_flight: Vec<String>,
    /// The `VACUUM END` commit, when not a dry run.
    pub version: Option<i64>,
}

/// A vacuum request, built by [`Table::vacuum`](crate::Table::vacuum).
#[must_use = "a vacuum does nothing until `.execute().await`"]
pub struct VacuumBuilder {
    latest: LatestSnapshot,
    retention_ms: Option<i64>,
    dry_run: bool,
    force: bool,
    in_flight_grace_ms: Option<i64>,
    progress: Option<Arc<dyn Fn(VacuumProgress) + Send + Sync>>,
}

impl VacuumBuilder {
    /// A new request on the table `latest` caches.
    pub(crate) fn new(latest: LatestSnapshot) -> VacuumBuilder {
        VacuumBuilder {
            latest,
            retention_ms: None,
            dry_run: false,
            force: false,
            in_flight_grace_ms: None,
            progress: None,
        }
    }
}

/// Whether a listed path is hidden from vacuum: any segment starting with `.`, or with `_`
/// unless it is a `col=value` partition directory. Change data files (`_change_data/…`) are
/// not hidden: no snapshot references them, so they go once older than the retention, as
/// Spark and delta-rs vacuum them.
fn is_hidden(relative: &str) -> bool {
    let relative = relative
        .strip_prefix(CHANGE_DATA_DIR)
        .and_then(|r| r.strip_prefix('/'))
        .unwrap_or(relative);
    relative
        .split('/')
        .any(|s| s.starts_with('.') || (s.starts_with('_') && !s.contains('=')))
}

/// What a vacuum deletes, and what it keeps only because a write may still commit it.
#[derive(Debug, Default)]
pub struct VacuumPlan<'a> {
    /// Not hidden, not read by a retained version, and old enough.
    pub delete: Vec<&'a ListedObject>,
    /// Files no commit references, older than the retention but younger than the in-flight
    /// grace: presumed to belong to a write that has uploaded and not yet committed.
    pub in_flight: Vec<&'a ListedObject>,
}

/// The listed objects vacuum deletes: not hidden, not referenced, and modified before
/// `cutoff_ms`. A file the log knows (`removed`: the object paths of tombstones, and their
/// vectors' files) goes by the retention alone; any other file may be a write in flight, so it
/// must also be older than `in_flight_cutoff_ms` (now − the in-flight grace). Otherwise a
/// zero-retention vacuum deletes an append's first files before it commits, and the append
/// then commits a reference to a file that is gone.
pub fn plan_vacuum<'a>(
    listed: &'a [ListedObject],
    referenced: &HashSet<String>,
    removed: &HashSet<String>,
    cutoff_ms: i64,
    in_flight_cutoff_ms: i64,
) -> VacuumPlan<'a> {
    let mut plan = VacuumPlan::default();
    for o in listed {
        if is_hidden(&o.relative)
            || referenced.contains(o.location.as_ref())
            || o.modified_ms >= cutoff_ms
        {
            continue;
        }
        if removed.contains(o.location.as_ref()) || o.modified_ms < in_flight_cutoff_ms {
            plan.delete.push(o);
        } else {
            plan.in_flight.push(o);
        }
    }
    plan
}

/// The V2 checkpoint sidecars (`_delta_log/_sidecars/`) no checkpoint in the log references,
/// modified before `cutoff_ms`: left by a log cleanup that deleted their checkpoint (another
/// client's) or by a checkpoint writer that died before its top-level file. Log cleanup deletes
/// them too (`protocol/PROTOCOL.md#log-cleanup`); vacuum, the command users run to reclaim
/// space, does as well.
async fn orphaned_sidecars<'a>(
    snapshot: &Snapshot,
    listed: &'a [ListedObject],
    cutoff_ms: i64,
) -> Result<Vec<&'a ListedObject>> {
    let prefix = format!("{LOG_DIR}/{SIDECAR_DIR}/");
    let old: Vec<&ListedObject> = listed
        .iter()
        .filter(|o| o.relative.starts_with(&prefix) && o.modified_ms < cutoff_ms)
        .collect();
    if old.is_empty() {
        return Ok(old);
    }
    let storage = snapshot.storage();
    let log = list_log(storage, None).await?;
    let referenced = referenced_sidecars(storage, &log).await?;
    Ok(old
        .into_iter()
        .filter(|o| !referenced.contains(&o.relative[LOG_DIR.len() + 1..]))
        .collect())
}

impl VacuumBuilder {
    /// Keep files needed by versions of the last `retention_ms` (default: the table's
    /// `delta.deletedFileRetentionDuration`, 7 days when unset). Shorter than that needs
    /// [`VacuumBuilder::with_force`].
    pub fn with_retention_ms(mut self, retention_ms: i64) -> Self {
        self.retention_ms = Some(retention_ms);
        self
    }

    /// List what would be deleted without deleting or committing anything.
    pub fn with_dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }

    /// Allow a retention shorter than the table's: versions older than it become unreadable
    /// and a concurrent writer's uncommitted files may be deleted.
    pub fn with_force(mut self, force: bool) -> Self {
        self.force = force;
        self
    }

    /// Keep files no commit references for `grace_ms` after they were written, whatever the
    /// retention, because a write may still commit them (default: the table's
    /// `strata.vacuum.inFlightGraceMs`, one hour when unset). Zero deletes them once older
    /// than the retention, as Delta does; only safe when no write is running.
    pub fn with_in_flight_grace_ms(mut self, grace_ms: i64) -> Self {
        self.in_flight_grace_ms = Some(grace_ms.max(0));
        self
    }

    /// Called as the vacuum lists and deletes.
    pub fn with_progress(
        mut self,
        progress: impl Fn(VacuumProgress) + Send + Sync + 'static,
    ) -> Self {
        self.progress = Some(Arc::new(progress));
        self
    }

    /// Runs the vacuum.
    ///
    /// # Errors
    /// [`Error::NotAllowed`] for a retention below the table's without force, or when a tagged
    /// version cannot be read (its files could not be protected);
    /// [`Error::UnsupportedWriterFeatures`] for tables strata cannot write (the protocol's
    /// `vacuumProtocolCheck`); [`Error::Storage`].
    pub async fn execute(self) -> Result<VacuumReport> {
        let snapshot = self.latest.get().await?;
        snapshot.require_writable()?;
        let location = snapshot.storage().location().to_string();
        let table_retention = table_retention_ms(&snapshot)?;
        let retention_ms = self.retention_ms.unwrap_or(table_retention);
        if retention_ms < table_retention && !self.force {
            return Err(Error::NotAllowed {
                location,
                operation: "vacuum".into(),
                reason: format!(
                    "a retention of {} is shorter than the table's {} ({DELETED_FILE_RETENTION_DURATION}); versions older than it would become unreadable; force it (`with_force(true)`, `strata vacuum --force`) only if no reader or writer needs them",
                    format_duration_ms(retention_ms),
                    format_duration_ms(table_retention)
                ),
            });
        }
        let now_ms = chrono::Utc::now().timestamp_millis();
        let cutoff_ms = now_ms.saturating_sub(retention_ms);
        let grace_ms = self
            .in_flight_grace_ms
            .unwrap_or_else(|| snapshot.table_properties().in_flight_grace());
        let (referenced, removed) = self.referenced(&snapshot, cutoff_ms).await?;
        let listed = snapshot.storage().list_table().await?;
        let plan = plan_vacuum(
            &listed,
            &referenced,
            &removed,
            cutoff_ms,
            now_ms.saturating_sub(grace_ms),
        );
        let mut in_flight: Vec<String> =
            plan.in_flight.iter().map(|o| o.relative.clone()).collect();
        in_flight.sort();
        let mut chosen = plan.delete;
        chosen.extend(
            orphaned_sidecars(&snapshot, &listed, cutoff_ms.min(now_ms - SIDECAR_GRACE_MS)).await?,
        );
        let mut progress = VacuumProgress {
            listed: listed.len() as u64,
            to_delete: chosen.len() as u64,
            deleted: 0,
        };
        self.report(progress);
        let mut files: Vec<String> = chosen.iter().map(|o| o.relative.clone()).collect();
        files.sort();
        let bytes: u64 = chosen.iter().map(|o| o.size).sum();
        if self.dry_run {
            return Ok(VacuumReport {
                dry_run: true,
                retention_ms,
                files,
                bytes,
                in_flight,
                version: None,
            });
        }
        let mut start = Transaction::new(&snapshot, "VACUUM START")
            .with_parameter("retentionCheckEnabled", !self.force)
            .with_parameter("specifiedRetentionMillis", retention_ms)
            .with_parameter("defaultRetentionMillis", table_retention);
        start.set_metric("numFilesToDelete", chosen.len());
        start.set_metric("sizeOfDataToDelete", bytes);
        let started = start.commit().await?;
        self.latest.remember_committed(&started.snapshot);
        let storage = snapshot.storage().clone();
        let mut deletes = futures::stream::iter(chosen.iter().map(|o| {
            let (storage, path) = (storage.clone(), o.location.clone());
            async move { storage.delete(&path).await }
        }))
        .buffer_unordered(DELETE_CONCURRENCY);
        while deletes.try_next().await?.is_some() {
            progress.deleted += 1;
            if progress.deleted.is_multiple_of(PROGRESS_EVERY) {
                self.report(progress);
            }
        }
        self.report(progress);
        let after = self.latest.get().await?;
        let mut end = Transaction::new(&after, "VACUUM END").with_parameter("status", "COMPLETED");
        end.set_metric("numDeletedFiles", chosen.len());
        end.set_metric("sizeOfDeletedData", bytes);
        let ended = end.commit().await?;
        self.latest.remember_committed(&ended.snapshot);
        Ok(VacuumReport {
            dry_run: false,
            retention_ms,
            files,
            bytes,
            in_flight,
            version: Some(ended.version),
        })
    }

    fn report(&self, progress: VacuumProgress) {
        if let Some(f) = &self.progress {
            f(progress);
        }
    }

    /// Object paths of every file a retained version reads, and of every file the log
    /// knows as removed (tombstones, with their vectors' files).
    async fn referenced(
        &self,
        snapshot: &Snapshot,
        cutoff_ms: i64,
    ) -> Result<(HashSet<String>, HashSet<String>)> {
        let storage = snapshot.storage();
        let version = snapshot.version();
        // A data file and its deletion vector's file are kept together.
        let objects = |path: &str, dv: Option<&DeletionVectorDescriptor>| -> Result<Vec<String>> {
            let mut objects = vec![storage.data_path(path, version)?.to_string()];
            if let Some(dv_file) = dv
                .map(|dv| dv_file_of(storage, dv, path, version))
                .transpose()?
                .flatten()
            {
                objects.push(dv_file.to_string());
            }
            Ok(objects)
        };
        let mut referenced = HashSet::new();
        let mut removed = HashSet::new();
        let mut keep = |path: &str, dv: Option<&DeletionVectorDescriptor>| -> Result<()> {
            referenced.extend(objects(path, dv)?);
            Ok(())
        };
        for file in snapshot.files() {
            keep(file.path(), file.deletion_vector().as_ref())?;
        }
        for remove in snapshot.state().files.tombstones() {
            if remove.deletion_timestamp.unwrap_or(0) > cutoff_ms {
                keep(&remove.path, remove.deletion_vector.as_ref())?;
            } else {
                removed.extend(objects(&remove.path, remove.deletion_vector.as_ref())?);
            }
        }
        for (name, tag) in crate::snapshot::tags::load_tags(snapshot).await? {
            let tagged = self.latest.at_version(tag.version).await.map_err(|e| {
                Error::NotAllowed {
                    location: storage.location().to_string(),
                    operation: "vacuum".into(),
                    reason: format!(
                        "tag {name:?} names version {} which cannot be read ({e}); its files cannot be protected, so nothing was deleted",
                        tag.version
                    ),
                }
            })?;
            for file in tagged.files() {
                keep(file.path(), file.deletion_vector().as_ref())?;
            }
        }
        Ok((referenced, removed))
    }
}

/// The table's `delta.deletedFileRetentionDuration` in milliseconds (7 days when unset).
fn table_retention_ms(snapshot: &Snapshot) -> Result<i64> {
    snapshot
        .table_properties()
        .deleted_file_retention()
        .map_err(|raw| Error::NotAllowed {
            location: snapshot.storage().location().to_string(),
            operation: "vacuum".into(),
            reason: format!(
                "{DELETED_FILE_RETENTION_DURATION}={raw:?} is not an interval strata can read (e.g. `interval 7 days`); fix the property"
            ),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::Path;

    fn obj(relative: &str, modified_ms: i64) -> ListedObject {
        ListedObject {
            relative: relative.into(),
            location: Path::from(format!("t/{relative}")),
            size: 1,
            modified_ms,
        }
    }

    #[test]
    fn deletes_only_old_unreferenced_visible_files() {
        let listed = vec![
            obj("a.parquet", 0),
            obj("kept.parquet", 0),
            obj("new.parquet", 100),
            obj("_delta_log/00000000000000000000.json", 0),
            obj("_delta_log/_sidecars/x.parquet", 0),
            obj(".hidden/x.parquet", 0),
            obj("_tmp/x.parquet", 0),
            obj("_p=1/old.parquet", 0),
            obj("p=1/old.parquet", 0),
            obj("_change_data/cdc-00000.parquet", 0),
            obj("_change_data/p=1/cdc-00000.parquet", 0),
            obj("_change_data/new.parquet", 100),
            obj("_change_data/.hidden", 0),
            obj("x/_change_data/y.parquet", 0),
        ];
        let referenced: HashSet<String> = ["t/kept.parquet".to_string()].into();
        let chosen: Vec<&str> = plan_vacuum(&listed, &referenced, &HashSet::new(), 50, 50)
            .delete
            .iter()
            .map(|o| o.relative.as_str())
            .collect();
        assert_eq!(
            chosen,
            vec![
                "a.parquet",
                "_p=1/old.parquet",
                "p=1/old.parquet",
                "_change_data/cdc-00000.parquet",
                "_change_data/p=1/cdc-00000.parquet",
            ]
        );
    }

    #[test]
    fn files_no_commit_references_wait_out_the_in_flight_grace() {
        let listed = vec![
            obj("removed.parquet", 10),
            obj("uploaded.parquet", 10),
            obj("old-orphan.parquet", 1),
            obj("new.parquet", 100),
        ];
        let removed: HashSet<String> = ["t/removed.parquet".to_string()].into();
        // Retention cutoff 50, grace cutoff 5: the removed file goes by the retention; an
        // unreferenced file younger than the grace is kept as in flight.
        let plan = plan_vacuum(&listed, &HashSet::new(), &removed, 50, 5);
        let names = |v: &[&ListedObject]| v.iter().map(|o| o.relative.clone()).collect::<Vec<_>>();
        assert_eq!(
            names(&plan.delete),
            ["removed.parquet", "old-orphan.parquet"]
        );
        assert_eq!(names(&plan.in_flight), ["uploaded.parquet"]);
    }
}
