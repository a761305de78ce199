//! Undoing writes: restore the table to a past version, or revert one commit while keeping
//! the ones after it (`protocol/PROTOCOL.md#restore-and-revert`).
//!
//! Both are ordinary commits through [`Transaction`]: `remove`s for live files the result must
//! not have and `add`s (with `dataChange = true`) for files it must have again, so every
//! reader, time travel and change feed sees an auditable new version. Neither rewrites data:
//! files are re-referenced, so both refuse when a file they need was already deleted (by
//! vacuum). The planning is pure ([`plan_restore`], [`plan_revert`]); the shell reads the log,
//! checks the files exist and commits.

use std::collections::{BTreeMap, BTreeSet};

use futures::{StreamExt, TryStreamExt};

use crate::error::{Error, Result};
use crate::protocol::actions::{Action, Add, Remove, file_key};
use crate::snapshot::latest::LatestSnapshot;
use crate::snapshot::{Snapshot, read_commit};
use crate::transaction::Transaction;

/// Attempts when concurrent writers change the table while a restore is committing.
const RESTORE_ATTEMPTS: u32 = 5;
/// Existence checks run at once.
const HEAD_CONCURRENCY: usize = 16;

/// What a restore or revert committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UndoResult {
    /// The version committed.
    pub version: i64,
    /// The version restored to, or the version reverted.
    pub target: i64,
    /// Files added back.
    pub num_restored_files: usize,
    /// Live files removed.
    pub num_removed_files: usize,
    /// Bytes of the files added back.
    pub restored_bytes: i64,
    /// Bytes of the files removed.
    pub removed_bytes: i64,
}

/// The file changes that turn one file set into another.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FileChanges {
    /// Files to add back.
    pub add: Vec<Add>,
    /// Live files to remove.
    pub remove: Vec<Add>,
}

/// Restore: add what `target` has and `current` lacks; remove what `current` has and
/// `target` lacks. Files in both are untouched.
pub fn plan_restore(
    current: &BTreeMap<String, Add>,
    target: &BTreeMap<String, Add>,
) -> FileChanges {
    FileChanges {
        add: target
            .iter()
            .filter(|(k, _)| !current.contains_key(*k))
            .map(|(_, a)| a.clone())
            .collect(),
        remove: current
            .iter()
            .filter(|(k, _)| !target.contains_key(*k))
            .map(|(_, a)| a.clone())
            .collect(),
    }
}

/// Why a commit cannot be reverted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevertRefusal {
    /// The commit changed metadata or protocol; only data commits can be reverted.
    ChangesMetadata,
    /// The commit added and removed no data files.
    NoFileChanges,
    /// Later commits touched files of the commit or changed the schema.
    LaterCommits {
        /// `(version, why)` for each, oldest first.
        conflicts: Vec<(i64, String)>,
    },
}

/// Revert commit `version` (its `actions`) given the files live just before it (`before`),
/// the files live now (`latest`), and the commits after it (`later`, oldest first).
///
/// # Errors
/// A [`RevertRefusal`] naming why.
pub fn plan_revert(
    actions: &[Action],
    before: &BTreeMap<String, Add>,
    latest: &BTreeMap<String, Add>,
    later: &[(i64, Vec<Action>)],
) -> std::result::Result<FileChanges, RevertRefusal> {
    if actions
        .iter()
        .any(|a| matches!(a, Action::Metadata(_) | Action::Protocol(_)))
    {
        return Err(RevertRefusal::ChangesMetadata);
    }
    let added: BTreeSet<String> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Add(add) => Some(file_key(&add.path, add.deletion_vector.as_ref())),
            _ => None,
        })
        .collect();
    let removed: BTreeSet<String> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Remove(r) => Some(file_key(&r.path, r.deletion_vector.as_ref())),
            _ => None,
        })
        .filter(|k| !added.contains(k))
        .collect();
    if added.is_empty() && removed.is_empty() {
        return Err(RevertRefusal::NoFileChanges);
    }
    let conflicts = later_conflicts(&added, &removed, later);
    if !conflicts.is_empty() {
        return Err(RevertRefusal::LaterCommits { conflicts });
    }
    Ok(FileChanges {
        add: removed
            .iter()
            .filter_map(|k| before.get(k).cloned())
            .collect(),
        remove: added
            .iter()
            .filter_map(|k| latest.get(k).cloned())
            .collect(),
    })
}

/// Later commits that change the schema or touch the reverted commit's files.
fn later_conflicts(
    added: &BTreeSet<String>,
    removed: &BTreeSet<String>,
    later: &[(i64, Vec<Action>)],
) -> Vec<(i64, String)> {
    let mut conflicts = Vec::new();
    for (version, actions) in later {
        let why = actions.iter().find_map(|a| match a {
            Action::Metadata(_) => Some("it changed the table metadata (schema)".to_string()),
            Action::Remove(r) if added.contains(&file_key(&r.path, r.deletion_vector.as_ref())) => {
                Some(format!("it removed {}, which the commit added", r.path))
            }
            Action::Add(add)
                if removed.contains(&file_key(&add.path, add.deletion_vector.as_ref())) =>
            {
                Some(format!(
                    "it added back {}, which the commit removed",
                    add.path
                ))
            }
            _ => None,
        });
        if let Some(why) = why {
            conflicts.push((*version, why));
        }
    }
    conflicts
}

/// The live files of a snapshot keyed by file identity (path plus deletion vector).
pub(crate) fn live_files(snapshot: &Snapshot) -> BTreeMap<String, Add> {
    snapshot.files().map(|f| (f.key(), f.to_add())).collect()
}

/// Refuses when any file to add back no longer exists.
async fn check_files_exist(snapshot: &Snapshot, files: &[Add], operation: &str) -> Result<()> {
    let storage = snapshot.storage().clone();
    let version = snapshot.version();
    let missing: Vec<String> = futures::stream::iter(files.iter().map(|add| {
        let storage = storage.clone();
        let path = add.path.clone();
        async move {
            let object = storage.data_path(&path, version)?;
            Ok::<_, Error>((!storage.exists(&object).await?).then_some(path))
        }
    }))
    .buffer_unordered(HEAD_CONCURRENCY)
    .try_filter_map(|m| futures::future::ready(Ok(m)))
    .try_collect()
    .await?;
    if missing.is_empty() {
        return Ok(());
    }
    Err(Error::NotAllowed {
        location: snapshot.storage().location().to_string(),
        operation: operation.to_string(),
        reason: format!(
            "{} data file(s) it needs no longer exist (deleted by vacuum?), e.g. {}; restore a version whose files are retained",
            missing.len(),
            missing[0]
        ),
    })
}

fn stage(tx: &mut Transaction, changes: &FileChanges, now_ms: i64) {
    tx.add_actions(
        changes
            .remove
            .iter()
            .map(|a| Action::Remove(Remove::from_add(a, now_ms, true))),
    );
    tx.add_actions(changes.add.iter().map(|a| {
        let mut add = a.clone();
        add.data_change = true;
        Action::Add(add)
    }));
}

fn bytes(files: &[Add]) -> i64 {
    files.iter().map(|a| a.size).sum()
}

/// Makes the table's live files, schema and properties equal to `target`'s again, in one
/// new commit (operation `RESTORE`), re-planning when a concurrent writer wins.
pub(crate) async fn restore(
    latest: &LatestSnapshot,
    target: Snapshot,
    timestamp: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<UndoResult> {
    // Re-added files keep their statistics, also when the target was read from a checkpoint.
    target.load_stats().await?;
    let wanted = live_files(&target);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let current = latest.get().await?;
        current.require_writable()?;
        let changes = plan_restore(&live_files(&current), &wanted);
        let operation = format!("restore to version {}", target.version());
        check_files_exist(&current, &changes.add, &operation).await?;
        let mut tx =
            Transaction::new(&current, "RESTORE").with_parameter("version", target.version());
        if let Some(ts) = timestamp {
            tx = tx.with_parameter("timestamp", ts.to_rfc3339());
        }
        tx.read_whole_table();
        if target.metadata() != current.metadata() {
            tx.add_actions([Action::Metadata(target.metadata().clone())]);
        }
        let now_ms = chrono::Utc::now().timestamp_millis();
        stage(&mut tx, &changes, now_ms);
        let after_files = wanted.len();
        let after_bytes: i64 = wanted.values().map(|a| a.size).sum();
        tx.set_metric("numRestoredFiles", changes.add.len());
        tx.set_metric("numRemovedFiles", changes.remove.len());
        tx.set_metric("restoredFilesSize", bytes(&changes.add));
        tx.set_metric("removedFilesSize", bytes(&changes.remove));
        tx.set_metric("numOfFilesAfterRestore", after_files);
        tx.set_metric("tableSizeAfterRestore", after_bytes);
        match tx.commit().await {
            Ok(result) => {
                latest.remember_committed(&result.snapshot);
                return Ok(UndoResult {
                    version: result.version,
                    target: target.version(),
                    num_restored_files: changes.add.len(),
                    num_removed_files: changes.remove.len(),
                    restored_bytes: bytes(&changes.add),
                    removed_bytes: bytes(&changes.remove),
                });
            }
            Err(e @ Error::Conflict { .. }) if attempt >= RESTORE_ATTEMPTS => return Err(e),
            Err(Error::Conflict { .. }) => {}
            Err(e) => return Err(e),
        }
    }
}

/// Undoes commit `version` and keeps every commit after it: removes the files it added
/// (still live) and adds back the files it removed, in one new commit (operation
/// `REVERT`). Refused when a later commit touched the same files or changed the schema,
/// naming those commits, and for commits that changed metadata (use restore).
///
/// # Errors
/// [`Error::NotAllowed`] with the reason; [`Error::VersionNotFound`] when the commit or the
/// version before it is no longer in the log; [`Error::Conflict`] when a concurrent writer
/// removed a file the revert removes.
/// Whether a commit's actions are a `REVERT` of `version` (pure).
fn reverts(actions: &[Action], version: i64) -> bool {
    actions.iter().any(|a| match a {
        Action::CommitInfo(ci) => {
            ci.operation.as_deref() == Some("REVERT")
                && ci
                    .operation_parameters
                    .as_ref()
                    .and_then(|p| p.get("version"))
                    .is_some_and(|v| {
                        v.as_i64() == Some(version) || v.as_str() == Some(&version.to_string())
                    })
        }
        _ => false,
    })
}

pub(crate) async fn revert(handle: &LatestSnapshot, version: i64) -> Result<UndoResult> {
    let location = handle.storage().location().to_string();
    let refuse = |reason: String| Error::NotAllowed {
        location: location.clone(),
        operation: format!("revert of version {version}"),
        reason,
    };
    if version < 0 {
        return Err(refuse("versions start at 0".into()));
    }
    if version == 0 {
        return Err(refuse(
            "version 0 created the table; there is nothing before it".into(),
        ));
    }
    let latest = handle.get().await?;
    latest.require_writable()?;
    if version > latest.version() {
        return Err(Error::VersionNotFound {
            location,
            version,
            earliest: 0,
            latest: latest.version(),
        });
    }
    let before = handle.at_version(version - 1).await?;
    before.load_stats().await?;
    let storage = latest.storage().clone();
    let (_, actions) = read_commit(&storage, version).await?;
    let later: Vec<(i64, Vec<Action>)> =
        futures::stream::iter((version + 1..=latest.version()).map(|v| {
            let storage = storage.clone();
            async move { read_commit(&storage, v).await }
        }))
        .buffered(HEAD_CONCURRENCY)
        .try_collect()
        .await?;
    if let Some(by) = later
        .iter()
        .find_map(|(v, actions)| reverts(actions, version).then_some(*v))
    {
        return Err(refuse(format!(
            "version {by} already reverted it; to bring its changes back, revert version {by}"
        )));
    }
    let changes = plan_revert(&actions, &live_files(&before), &live_files(&latest), &later)
        .map_err(|r| refuse(refusal_text(&r)))?;
    check_files_exist(
        &latest,
        &changes.add,
        &format!("revert of version {version}"),
    )
    .await?;
    let mut tx = Transaction::new(&latest, "REVERT").with_parameter("version", version);
    stage(&mut tx, &changes, chrono::Utc::now().timestamp_millis());
    tx.set_metric("numRestoredFiles", changes.add.len());
    tx.set_metric("numRemovedFiles", changes.remove.len());
    tx.set_metric("restoredFilesSize", bytes(&changes.add));
    tx.set_metric("removedFilesSize", bytes(&changes.remove));
    let result = tx.commit().await?;
    handle.remember_committed(&result.snapshot);
    Ok(UndoResult {
        version: result.version,
        target: version,
        num_restored_files: changes.add.len(),
        num_removed_files: changes.remove.len(),
        restored_bytes: bytes(&changes.add),
        removed_bytes: bytes(&changes.remove),
    })
}

fn refusal_text(refusal: &RevertRefusal) -> String {
    match refusal {
        RevertRefusal::ChangesMetadata => {
            "it changed the table's metadata or protocol; only data commits can be reverted (restore to the version before it instead)".into()
        }
        RevertRefusal::NoFileChanges => "it added and removed no data files; there is nothing to revert".into(),
        RevertRefusal::LaterCommits { conflicts } => {
            let list: Vec<String> = conflicts.iter().map(|(v, why)| format!("version {v} ({why})")).collect();
            format!(
                "later commits depend on it: {}; revert those first or restore to an earlier version",
                list.join("; ")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(path: &str) -> Add {
        Add::for_test(path, 10)
    }

    fn files(paths: &[&str]) -> BTreeMap<String, Add> {
        paths.iter().map(|p| (p.to_string(), add(p))).collect()
    }

    fn remove(path: &str) -> Action {
        Action::Remove(Remove::from_add(&add(path), 0, true))
    }

    #[test]
    fn restore_is_the_difference_of_two_file_sets() {
        let changes = plan_restore(&files(&["a", "b", "c"]), &files(&["b", "d"]));
        let paths = |v: &[Add]| v.iter().map(|a| a.path.clone()).collect::<Vec<_>>();
        assert_eq!(paths(&changes.add), vec!["d"]);
        assert_eq!(paths(&changes.remove), vec!["a", "c"]);
        assert_eq!(
            plan_restore(&files(&["a"]), &files(&["a"])),
            FileChanges::default()
        );
    }

    #[test]
    fn revert_undoes_adds_and_removes() {
        // Commit N replaced a with b.
        let commit = vec![remove("a"), Action::Add(add("b"))];
        let later = vec![(5, vec![Action::Add(add("c"))])];
        let changes = plan_revert(&commit, &files(&["a"]), &files(&["b", "c"]), &later).unwrap();
        assert_eq!(
            changes.add.iter().map(|a| &a.path).collect::<Vec<_>>(),
            vec!["a"]
        );
        assert_eq!(
            changes.remove.iter().map(|a| &a.path).collect::<Vec<_>>(),
            vec!["b"]
        );
    }

    #[test]
    fn revert_refuses_when_later_commits_touch_the_same_files() {
        let commit = vec![Action::Add(add("b"))];
        let later = vec![
            (5, vec![Action::Add(add("c"))]),
            (6, vec![remove("b"), Action::Add(add("bc"))]),
        ];
        let refusal = plan_revert(&commit, &files(&[]), &files(&["c", "bc"]), &later).unwrap_err();
        assert_eq!(
            refusal,
            RevertRefusal::LaterCommits {
                conflicts: vec![(6, "it removed b, which the commit added".into())]
            }
        );
        let commit = vec![remove("a")];
        let later = vec![(7, vec![Action::Add(add("a"))])];
        assert!(matches!(
            plan_revert(&commit, &files(&["a"]), &files(&["a"]), &later),
            Err(RevertRefusal::LaterCommits { .. })
        ));
        assert_eq!(
            plan_revert(&[], &files(&[]), &files(&[]), &[]),
            Err(RevertRefusal::NoFileChanges)
        );
    }
}
