//! The files a commit adds still exist (`protocol/PROTOCOL.md#vacuum`).
//!
//! A write uploads its data files, then commits. Vacuum keeps files no commit references for
//! the in-flight grace (`strata.vacuum.inFlightGraceMs`, one hour by default) after they were
//! written, whatever its retention. A write that took longer than that, between its first
//! upload and a commit attempt, cannot count on it: before the attempt it checks that those
//! files are still there, and fails rather than commit a reference to a file that is gone.

use std::collections::HashSet;

use futures::{StreamExt, TryStreamExt};

use crate::error::{Error, Result};
use crate::protocol::actions::{Action, Add};
use crate::snapshot::Snapshot;

/// Existence checks run at once.
const HEAD_CONCURRENCY: usize = 16;

/// The files among `actions`' `add`s written before `cutoff_ms` (now − the grace) that the
/// read snapshot does not already read (a live file is kept by vacuum, and a concurrent
/// removal of it is a conflict).
pub(crate) fn stale_adds<'a>(
    snapshot: &Snapshot,
    actions: &'a [Action],
    cutoff_ms: i64,
) -> Vec<&'a Add> {
    let old: Vec<&Add> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Add(add) if add.modification_time < cutoff_ms => Some(add),
            _ => None,
        })
        .collect();
    if old.is_empty() {
        return old;
    }
    let live: HashSet<&str> = snapshot.files().map(|f| f.path()).collect();
    old.into_iter()
        .filter(|add| !live.contains(add.path.as_str()))
        .collect()
}

/// Fails with [`Error::StagedFileMissing`] when a data file this commit adds, written longer
/// than the in-flight grace ago, no longer exists.
pub(crate) async fn check_staged_files(
    snapshot: &Snapshot,
    actions: &[Action],
    now_ms: i64,
) -> Result<()> {
    let grace_ms = snapshot.table_properties().in_flight_grace();
    let stale = stale_adds(snapshot, actions, now_ms.saturating_sub(grace_ms));
    if stale.is_empty() {
        return Ok(());
    }
    let storage = snapshot.storage().clone();
    let version = snapshot.version();
    let stale: Vec<(String, i64)> = stale
        .into_iter()
        .map(|add| (add.path.clone(), add.modification_time))
        .collect();
    let missing: Option<(String, i64)> = futures::stream::iter(stale.into_iter().map(|file| {
        let storage = storage.clone();
        async move {
            let object = storage.data_path(&file.0, version)?;
            Ok::<_, Error>((!storage.exists(&object).await?).then_some(file))
        }
    }))
    .buffer_unordered(HEAD_CONCURRENCY)
    .try_filter_map(|m| futures::future::ready(Ok(m)))
    .try_next()
    .await?;
    match missing {
        None => Ok(()),
        Some((path, written_ms)) => Err(Error::StagedFileMissing {
            location: storage.location().to_string(),
            path,
            age_ms: now_ms.saturating_sub(written_ms),
            grace_ms,
        }),
    }
}
