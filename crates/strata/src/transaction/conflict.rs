//! Conflict detection between a transaction and a commit that won the race
//! (`protocol/PROTOCOL.md#conflicts`).
//!
//! Pure: a summary of what the transaction read and wrote, and the winner's actions, in; a
//! reason out when the transaction cannot simply be moved on top of the winner. The rules
//! follow Delta's (Spark's `ConflictChecker`) at serializable-for-writes isolation:
//! - a winner that changed the protocol or metadata conflicts with everyone;
//! - a winner that removed a file this transaction read or removes conflicts;
//! - a winner that added data files conflicts with a transaction that read the table, or,
//!   unless it is a blind append, with one whose read predicate may match them;
//! - a winner that committed the same application txn id or metadata domain conflicts.
//!
//! A blind append reads nothing and removes nothing, so it only conflicts on the first and last
//! rules; that is why concurrent appenders never fail each other.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::error::ConflictReason;
use crate::protocol::actions::{Action, Add, file_key};

/// What a transaction depends on, for checking it against winning commits.
#[derive(Debug, Clone, Default)]
pub struct ReadSet {
    /// The transaction read the whole table (overwrite, metadata change): any concurrent data
    /// change invalidates it. (A predicate read set comes with row-level operations.)
    pub read_whole_table: bool,
    /// Keys ([`file_key`]) of files the transaction read.
    pub read_files: BTreeSet<String>,
    /// Keys of files the transaction removes.
    pub removed_files: BTreeSet<String>,
    /// Application ids of the transaction's `txn` actions.
    pub app_ids: BTreeSet<String>,
    /// Metadata domains the transaction writes.
    pub domains: BTreeSet<String>,
    /// The predicate a row-level operation read the table with: a winner (other than a blind
    /// append, at write-serializable isolation) adding a file it may match conflicts.
    pub read_predicate: Option<ReadPredicate>,
    /// The table's isolation level is `Serializable`: blind appends conflict with predicate
    /// reads too.
    pub serializable: bool,
}

/// Whether a file may hold rows a transaction's predicate matches (by its partition values and
/// statistics). A function, so this module stays free of the expression layer.
#[derive(Clone)]
pub struct ReadPredicate(pub Arc<dyn Fn(&Add) -> bool + Send + Sync>);

impl std::fmt::Debug for ReadPredicate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReadPredicate(..)")
    }
}

impl ReadSet {
    /// Derives the write side of the read set from the staged actions.
    pub fn record_writes(&mut self, actions: &[Action]) {
        for action in actions {
            match action {
                Action::Remove(r) => {
                    self.removed_files
                        .insert(file_key(&r.path, r.deletion_vector.as_ref()));
                }
                Action::Txn(t) => {
                    self.app_ids.insert(t.app_id.clone());
                }
                Action::DomainMetadata(d) => {
                    self.domains.insert(d.domain.clone());
                }
                Action::Metadata(_) | Action::Protocol(_) => self.read_whole_table = true,
                _ => {}
            }
        }
    }

    /// True when the transaction neither read nor removed anything. A row-level operation
    /// that read no file still read the table through its predicate (a merge whose keys no
    /// file can hold inserts them because it found none): it is not blind, so a concurrent
    /// writer inserting the same keys conflicts with it, as in Delta.
    pub fn is_blind_append(&self) -> bool {
        !self.read_whole_table
            && self.read_files.is_empty()
            && self.removed_files.is_empty()
            && self.read_predicate.is_none()
    }
}

/// Checks one winning commit against the transaction; `Ok` means the transaction can be
/// committed at the next version unchanged.
pub fn check(read_set: &ReadSet, winner: &[Action]) -> Result<(), ConflictReason> {
    // Blind appends never conflict with a predicate read at write-serializable isolation; at
    // serializable they do.
    let blind_append = !read_set.serializable
        && winner
            .iter()
            .any(|a| matches!(a, Action::CommitInfo(ci) if ci.is_blind_append == Some(true)));
    for action in winner {
        match action {
            Action::Protocol(_) => return Err(ConflictReason::ProtocolChanged),
            Action::Metadata(_) => return Err(ConflictReason::MetadataChanged),
            Action::Add(add) if add.data_change && read_set.read_whole_table => {
                return Err(ConflictReason::FilesAdded {
                    path: add.path.clone(),
                });
            }
            Action::Add(add)
                if add.data_change
                    && !blind_append
                    && read_set.read_predicate.as_ref().is_some_and(|p| (p.0)(add)) =>
            {
                return Err(ConflictReason::FilesAdded {
                    path: add.path.clone(),
                });
            }
            Action::Remove(remove) => {
                let key = file_key(&remove.path, remove.deletion_vector.as_ref());
                let read = read_set.read_whole_table || read_set.read_files.contains(&key);
                if read || read_set.removed_files.contains(&key) {
                    return Err(ConflictReason::FileRemoved {
                        path: remove.path.clone(),
                    });
                }
            }
            Action::Txn(t) if read_set.app_ids.contains(&t.app_id) => {
                return Err(ConflictReason::TxnConflict {
                    app_id: t.app_id.clone(),
                });
            }
            Action::DomainMetadata(d) if read_set.domains.contains(&d.domain) => {
                return Err(ConflictReason::DomainConflict {
                    domain: d.domain.clone(),
                });
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::actions::{Add, Remove, Txn};

    fn add(path: &str, data_change: bool) -> Action {
        Action::Add(Add {
            data_change,
            ..Add::for_test(path, 1)
        })
    }

    fn remove(path: &str) -> Action {
        let Action::Add(a) = add(path, true) else {
            unreachable!()
        };
        Action::Remove(Remove::from_add(&a, 0, true))
    }

    #[test]
    fn blind_appends_never_conflict_with_appends() {
        let ours = ReadSet::default();
        assert!(ours.is_blind_append());
        assert_eq!(check(&ours, &[add("x", true), add("y", true)]), Ok(()));
        assert_eq!(
            check(&ours, &[remove("x")]),
            Ok(()),
            "a blind append read nothing"
        );
    }

    #[test]
    fn a_predicate_read_conflicts_with_matching_files_of_non_blind_winners() {
        let ours = ReadSet {
            read_predicate: Some(ReadPredicate(Arc::new(|a: &Add| a.path.starts_with("pt/")))),
            ..Default::default()
        };
        let blind = Action::CommitInfo(crate::protocol::actions::CommitInfo {
            is_blind_append: Some(true),
            ..Default::default()
        });
        let dml = Action::CommitInfo(crate::protocol::actions::CommitInfo {
            is_blind_append: Some(false),
            ..Default::default()
        });
        // A blind append never conflicts with a predicate read (write-serializable).
        assert_eq!(check(&ours, &[blind, add("pt/a", true)]), Ok(()));
        // Another DML adding a file the predicate may match does.
        assert!(matches!(
            check(&ours, &[dml.clone(), add("pt/a", true)]),
            Err(ConflictReason::FilesAdded { path }) if path == "pt/a"
        ));
        // Not a file it cannot match, nor one that changes no data.
        assert_eq!(check(&ours, &[dml.clone(), add("nl/a", true)]), Ok(()));
        assert_eq!(check(&ours, &[dml, add("pt/a", false)]), Ok(()));
    }

    #[test]
    fn reads_conflict_with_concurrent_data_changes() {
        let ours = ReadSet {
            read_whole_table: true,
            ..Default::default()
        };
        assert!(matches!(
            check(&ours, &[add("x", true)]),
            Err(ConflictReason::FilesAdded { .. })
        ));
        assert_eq!(
            check(&ours, &[add("x", false)]),
            Ok(()),
            "compaction adds no data"
        );
        assert!(matches!(
            check(&ours, &[remove("x")]),
            Err(ConflictReason::FileRemoved { .. })
        ));
    }

    #[test]
    fn delete_delete_txn_and_metadata() {
        let mut ours = ReadSet::default();
        ours.record_writes(&[
            remove("a%20b"),
            Action::Txn(Txn {
                app_id: "job".into(),
                version: 2,
                last_updated: None,
            }),
        ]);
        assert!(matches!(
            check(&ours, &[remove("a b")]),
            Err(ConflictReason::FileRemoved { .. })
        ));
        assert_eq!(check(&ours, &[remove("c")]), Ok(()));
        let txn = Action::Txn(Txn {
            app_id: "job".into(),
            version: 3,
            last_updated: None,
        });
        assert!(matches!(
            check(&ours, &[txn]),
            Err(ConflictReason::TxnConflict { .. })
        ));
        let meta = crate::protocol::actions::parse_commit(
            br#"{"metaData":{"id":"a","format":{"provider":"parquet","options":{}},"schemaString":"{}","partitionColumns":[],"configuration":{}}}"#,
        )
        .unwrap();
        assert_eq!(
            check(&ReadSet::default(), &meta),
            Err(ConflictReason::MetadataChanged)
        );
    }
}
