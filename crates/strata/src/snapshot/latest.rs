//! The latest snapshot of one table, cached and refreshed incrementally.
//!
//! A `Table` handle and every builder it hands out (writes, optimize, vacuum, restore, tags)
//! share one [`LatestSnapshot`], so a process that commits often through one handle reads
//! only the commits other writers added since its last look, and a builder sees what the
//! handle's earlier commits did without reloading.

use std::sync::{Arc, Mutex};

use super::{Snapshot, read_commit};
use crate::error::Result;
use crate::protocol::actions::Action;
use crate::protocol::paths::commit_file_name;
use crate::storage::Storage;

/// The latest known snapshot of a table and the storage it lives on. Cheap to clone; clones
/// share the cache.
#[derive(Clone, Debug)]
pub(crate) struct LatestSnapshot {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    storage: Storage,
    cached: Mutex<Option<Snapshot>>,
}

impl LatestSnapshot {
    /// A cache whose first snapshot is loaded on first use.
    pub(crate) fn unloaded(storage: Storage) -> LatestSnapshot {
        LatestSnapshot::with(storage, None)
    }

    /// A cache holding `snapshot`.
    pub(crate) fn loaded(snapshot: Snapshot) -> LatestSnapshot {
        LatestSnapshot::with(snapshot.storage().clone(), Some(snapshot))
    }

    fn with(storage: Storage, cached: Option<Snapshot>) -> LatestSnapshot {
        LatestSnapshot {
            inner: Arc::new(Inner {
                storage,
                cached: Mutex::new(cached),
            }),
        }
    }

    /// The table's storage.
    pub(crate) fn storage(&self) -> &Storage {
        &self.inner.storage
    }

    /// The latest version, refreshed from storage (reading only commits newer than the cached
    /// snapshot), and remembered.
    ///
    /// # Errors
    /// As [`Snapshot::load`].
    pub(crate) async fn get(&self) -> Result<Snapshot> {
        let fresh = match self.cached() {
            Some(s) => s.refresh().await?,
            None => Snapshot::load(&self.inner.storage, None).await?,
        };
        self.remember(&fresh);
        Ok(fresh)
    }

    /// The latest version as [`LatestSnapshot::get`] finds it, then confirmed by reading the
    /// commits past it that a lagging listing may hide ([`LatestSnapshot::confirm`]): what
    /// row-level operations read, so that they never act on a version older than one this
    /// process already saw committed.
    ///
    /// # Errors
    /// As [`Snapshot::load`].
    pub(crate) async fn get_confirmed(&self) -> Result<Snapshot> {
        let listed = self.get().await?;
        Ok(self.confirm(&listed).await?.unwrap_or(listed))
    }

    /// The cached snapshot, without I/O.
    pub(crate) fn cached(&self) -> Option<Snapshot> {
        self.inner
            .cached
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The table as of `version`: the cached snapshot when it is that version, else loaded.
    ///
    /// # Errors
    /// As [`Snapshot::load`].
    pub(crate) async fn at_version(&self, version: i64) -> Result<Snapshot> {
        match self.cached().filter(|s| s.version() == version) {
            Some(s) => Ok(s),
            None => Snapshot::load(&self.inner.storage, Some(version)).await,
        }
    }

    /// The snapshot after the commits that exist past `snapshot`, found by reading rather than
    /// listing (a listing may lag, `protocol/PROTOCOL.md#storage-assumptions`); `None` when
    /// there are none, so `snapshot` is the latest.
    ///
    /// # Errors
    /// [`crate::Error::Storage`], [`crate::Error::CorruptLog`].
    pub(crate) async fn confirm(&self, snapshot: &Snapshot) -> Result<Option<Snapshot>> {
        let storage = snapshot.storage();
        let mut commits = Vec::new();
        let mut version = snapshot.version() + 1;
        let mut timestamp_ms = snapshot.timestamp_ms();
        loop {
            let path = storage.log_path(&commit_file_name(version));
            let meta = match storage.head(&path).await {
                Ok(meta) => meta,
                Err(crate::Error::Storage {
                    source: object_store::Error::NotFound { .. },
                    ..
                }) => break,
                Err(e) => return Err(e),
            };
            let (_, actions) = read_commit(storage, version).await?;
            timestamp_ms = actions
                .iter()
                .find_map(|a| match a {
                    Action::CommitInfo(ci) => ci.in_commit_timestamp,
                    _ => None,
                })
                .unwrap_or_else(|| meta.last_modified.timestamp_millis());
            commits.push((version, actions));
            version += 1;
        }
        if commits.is_empty() {
            return Ok(None);
        }
        let fresh = snapshot.advance(commits, timestamp_ms)?;
        self.remember(&fresh);
        Ok(Some(fresh))
    }

    /// Keeps the snapshot a commit through this handle produced, when it has one.
    pub(crate) fn remember_committed(&self, committed: &Option<Snapshot>) {
        if let Some(s) = committed {
            self.remember(s);
        }
    }

    /// Keeps `snapshot` if it is newer than the cached one (after a commit through this
    /// handle, say).
    pub(crate) fn remember(&self, snapshot: &Snapshot) {
        let mut cached = self.inner.cached.lock().unwrap_or_else(|p| p.into_inner());
        if cached
            .as_ref()
            .is_none_or(|s| s.version() < snapshot.version())
        {
            *cached = Some(snapshot.clone());
        }
    }
}
