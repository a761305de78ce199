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
use crate::protocol::actions::{Action, Add, Metadata, Remove, file_key};
use crate::protocol::properties::{
    COLUMN_MAPPING_MAX_COLUMN_ID, COLUMN_MAPPING_MODE, ColumnMappingMode, TableProperties,
};
use crate::protocol::schema::StructType;
use crate::protocol::schema::column_mapping::max_column_id;
use crate::protocol::schema::evolution::upgrade_to_column_mapping_above;
use crate::read::deletion_vectors::dv_file_of;
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

/// The `metaData` a restore commits: `target`'s, except that column mapping never goes back.
/// Delta forbids turning mapping off (`name` → `none`) and reusing column ids, so a restore
/// to a version from before mapping was turned on (by a rename or drop) keeps mode `name`
/// and maps the target's columns to their own names as physical names (the target's data
/// files were written under them), with ids above today's `delta.columnMapping.maxColumnId`;
/// and a restore never lowers `maxColumnId`.
///
/// # Errors
/// Why the target's column mapping cannot be restored over the current one (a mode change
/// other than `none` → `name`).
pub fn restored_metadata(
    current: &Metadata,
    target: &Metadata,
) -> std::result::Result<Metadata, String> {
    let mode =
        |m: &Metadata| TableProperties::from_configuration(&m.configuration).column_mapping_mode;
    let max_id = |m: &Metadata| {
        m.configuration
            .get(COLUMN_MAPPING_MAX_COLUMN_ID)
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0)
    };
    let (now, then) = (mode(current), mode(target));
    let mut restored = target.clone();
    match (&now, &then) {
        (ColumnMappingMode::None, _) => return Ok(restored),
        (ColumnMappingMode::Name, ColumnMappingMode::None) => {
            let schema = StructType::parse(&target.schema_string).map_err(|e| e.to_string())?;
            let floor = max_id(current).max(max_column_id(&schema));
            let (schema, max) = upgrade_to_column_mapping_above(&schema, floor);
            restored.schema_string = schema.to_json_string();
            restored
                .configuration
                .insert(COLUMN_MAPPING_MODE.into(), now.name().into());
            restored
                .configuration
                .insert(COLUMN_MAPPING_MAX_COLUMN_ID.into(), max.to_string());
        }
        (now, then) if now == then => {
            let max = max_id(current).max(max_id(target));
            restored
                .configuration
                .insert(COLUMN_MAPPING_MAX_COLUMN_ID.into(), max.to_string());
        }
        (now, then) => {
            return Err(format!(
                "the table uses column mapping mode {} and the version restored to uses {}; Delta cannot change a table's column mapping mode that way",
                now.name(),
                then.name()
            ));
        }
    }
    Ok(restored)
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
    /// A file the commit removed is live again now: adding it back would read its rows
    /// twice.
    FileLiveAgain {
        /// The data file.
        path: String,
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
    let conflicts = later_conflicts(actions, &removed, later);
    if !conflicts.is_empty() {
        return Err(RevertRefusal::LaterCommits { conflicts });
    }
    let changes = FileChanges {
        add: removed
            .iter()
            .filter_map(|k| before.get(k).cloned())
            .collect(),
        remove: added
            .iter()
            .filter_map(|k| latest.get(k).cloned())
            .collect(),
    };
    // A data file is live at most once: whatever the log says, never add back a path that
    // stays live (its rows would read twice).
    let removed_now: BTreeSet<&str> = changes.remove.iter().map(|a| a.path.as_str()).collect();
    if let Some(add) = changes.add.iter().find(|add| {
        !removed_now.contains(add.path.as_str()) && latest.values().any(|l| l.path == add.path)
    }) {
        return Err(RevertRefusal::FileLiveAgain {
            path: add.path.clone(),
        });
    }
    Ok(changes)
}

/// Later commits that change the schema or touch the reverted commit's files. Files are
/// compared by path, whatever their deletion vectors: a later commit that removed the file
/// under another vector, or made a removed file live again (a restore, say, with or without
/// a vector), changed what reverting would re-add or remove.
fn later_conflicts(
    actions: &[Action],
    removed: &BTreeSet<String>,
    later: &[(i64, Vec<Action>)],
) -> Vec<(i64, String)> {
    let added_paths: BTreeSet<&str> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Add(add) => Some(add.path.as_str()),
            _ => None,
        })
        .collect();
    let removed_paths: BTreeSet<&str> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Remove(r)
                if removed.contains(&file_key(&r.path, r.deletion_vector.as_ref())) =>
            {
                Some(r.path.as_str())
            }
            _ => None,
        })
        .collect();
    let mut conflicts = Vec::new();
    for (version, actions) in later {
        let why = actions.iter().find_map(|a| match a {
            Action::Metadata(_) => Some("it changed the table metadata (schema)".to_string()),
            Action::Remove(r) if added_paths.contains(r.path.as_str()) => {
                Some(format!("it removed {}, which the commit added", r.path))
            }
            Action::Add(add) if removed_paths.contains(add.path.as_str()) => Some(format!(
                "it added back {}, which the commit removed",
                add.path
            )),
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

/// Refuses when any file to add back no longer exists: a data file, or the deletion vector
/// file its `add` names. A vacuum keeps a data file that is still live under another vector,
/// but deletes the vector files only older versions used.
async fn check_files_exist(snapshot: &Snapshot, files: &[Add], operation: &str) -> Result<()> {
    let storage = snapshot.storage().clone();
    let version = snapshot.version();
    let mut objects = Vec::with_capacity(files.len());
    for add in files {
        objects.push((add.path.clone(), storage.data_path(&add.path, version)?));
        if let Some(dv) = &add.deletion_vector
            && let Some(file) = dv_file_of(&storage, dv, &add.path, version)?
        {
            objects.push((
                format!("{} (the deletion vector of {})", file, add.path),
                file,
            ));
        }
    }
    let missing: Vec<String> = futures::stream::iter(objects.into_iter().map(|(name, object)| {
        let storage = storage.clone();
        async move { Ok::<_, Error>((!storage.exists(&object).await?).then_some(name)) }
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
            "{} file(s) it needs no longer exist (deleted by vacuum?), e.g. {}; restore a version whose files are retained",
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
        let metadata =
            restored_metadata(current.metadata(), target.metadata()).map_err(|reason| {
                Error::NotAllowed {
                    location: current.storage().location().to_string(),
                    operation: operation.clone(),
                    reason,
                }
            })?;
        let mut tx =
            Transaction::new(&current, "RESTORE").with_parameter("version", target.version());
        if let Some(ts) = timestamp {
            tx = tx.with_parameter("timestamp", ts.to_rfc3339());
        }
        tx.read_whole_table();
        if metadata != *current.metadata() {
            tx.add_actions([Action::Metadata(metadata)]);
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
        RevertRefusal::FileLiveAgain { path } => format!(
            "{path}, which it removed, is live again; restore to an earlier version instead"
        ),
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

    #[test]
    fn revert_compares_files_by_path_whatever_their_vectors() {
        let with_vector = |path: &str, id: &str| {
            let mut add = add(path);
            add.deletion_vector = Some(crate::protocol::actions::DeletionVectorDescriptor {
                storage_type: "i".into(),
                path_or_inline_dv: id.into(),
                offset: None,
                size_in_bytes: 1,
                cardinality: 1,
            });
            add
        };
        // Commit 3 removed "f + vector v"; commit 4 (a restore) made f live without a vector.
        let commit = vec![Action::Remove(Remove::from_add(
            &with_vector("f", "v"),
            0,
            true,
        ))];
        let later = vec![(4, vec![Action::Add(add("f"))])];
        let refusal = plan_revert(&commit, &BTreeMap::new(), &files(&["f"]), &later).unwrap_err();
        assert_eq!(
            refusal,
            RevertRefusal::LaterCommits {
                conflicts: vec![(4, "it added back f, which the commit removed".into())]
            }
        );
        // Whatever the log says, a path still live is never added back.
        let before: BTreeMap<String, Add> = [with_vector("f", "v")]
            .into_iter()
            .map(|a| (file_key(&a.path, a.deletion_vector.as_ref()), a))
            .collect();
        assert_eq!(
            plan_revert(&commit, &before, &files(&["f"]), &[]),
            Err(RevertRefusal::FileLiveAgain { path: "f".into() })
        );
    }

    fn metadata(schema: &str, configuration: &[(&str, &str)]) -> Metadata {
        let mut m = Metadata {
            id: "t".into(),
            name: None,
            description: None,
            format: Default::default(),
            schema_string: StructType::from_ddl(schema).unwrap().to_json_string(),
            partition_columns: Vec::new(),
            created_time: None,
            configuration: Default::default(),
        };
        for (k, v) in configuration {
            m.configuration.insert((*k).into(), (*v).into());
        }
        m
    }

    use crate::protocol::schema::column_mapping::{COLUMN_ID_KEY, PHYSICAL_NAME_KEY};

    #[test]
    fn a_restore_never_turns_column_mapping_off_or_reuses_ids() {
        let mapped = [
            ("delta.columnMapping.mode", "name"),
            ("delta.columnMapping.maxColumnId", "5"),
        ];
        let current = metadata("a long", &mapped);
        // To a version from before mapping: mode stays, ids start above 5, physical = name.
        let restored = restored_metadata(&current, &metadata("a long, b string", &[])).unwrap();
        assert_eq!(restored.configuration["delta.columnMapping.mode"], "name");
        assert_eq!(
            restored.configuration["delta.columnMapping.maxColumnId"],
            "7"
        );
        let schema = StructType::parse(&restored.schema_string).unwrap();
        let b = schema.field("b").unwrap();
        assert_eq!(b.metadata[PHYSICAL_NAME_KEY], "b");
        assert_eq!(b.metadata[COLUMN_ID_KEY], 7);
        // To an older mapped version: maxColumnId does not go down.
        let older = metadata(
            "a long",
            &[
                ("delta.columnMapping.mode", "name"),
                ("delta.columnMapping.maxColumnId", "2"),
            ],
        );
        let restored = restored_metadata(&current, &older).unwrap();
        assert_eq!(
            restored.configuration["delta.columnMapping.maxColumnId"],
            "5"
        );
        // Without mapping now, the target comes back as it was.
        let plain = metadata("a long", &[]);
        assert_eq!(restored_metadata(&plain, &older).unwrap(), older);
        // Id mode cannot be put on files written without ids.
        let by_id = metadata("a long", &[("delta.columnMapping.mode", "id")]);
        assert!(restored_metadata(&by_id, &plain).is_err());
    }
}
