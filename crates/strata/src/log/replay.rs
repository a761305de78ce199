//! Log replay: actions in, table state out (`protocol/PROTOCOL.md#action-reconciliation`).
//!
//! Pure and deterministic. Applying a checkpoint's actions and then each later commit in
//! order yields the state at the last version: the latest `protocol` and `metaData`, the live
//! files (an `add` makes a file live, a `remove` tombstones it), the latest `txn` per appId and
//! the live metadata domains. A checkpoint's files arrive column-wise as the base of the
//! [`FileSet`] ([`TableState::from_checkpoint`]); its other actions are applied like a commit's.

use std::collections::{BTreeMap, HashMap};

use super::files::{BaseFiles, FileSet};
use crate::protocol::actions::{Action, CommitInfo, DomainMetadata, Metadata, Protocol, Txn};

/// The reconstructed state of a table at one version.
#[derive(Debug, Clone, Default)]
pub struct TableState {
    /// The version the state is at (-1 before any action is applied).
    pub version: i64,
    /// Latest protocol.
    pub protocol: Option<Protocol>,
    /// Latest metadata.
    pub metadata: Option<Metadata>,
    /// Live files and tombstones (reconciled by [`file_key`](crate::protocol::actions::file_key)).
    pub files: FileSet,
    /// Latest transaction per application id.
    pub txns: HashMap<String, Txn>,
    /// Live (not removed) metadata domains.
    pub domains: BTreeMap<String, DomainMetadata>,
    /// The `commitInfo` of the last commit applied, when it had one.
    pub last_commit_info: Option<CommitInfo>,
}

impl TableState {
    /// An empty state before version 0.
    pub fn new() -> TableState {
        TableState {
            version: -1,
            ..Default::default()
        }
    }

    /// The state at checkpoint `version`: its files column-wise, then its other actions
    /// (protocol, metadata, txns, domains; `add`/`remove` rows of a JSON checkpoint too).
    pub fn from_checkpoint(
        version: i64,
        base: BaseFiles,
        actions: impl IntoIterator<Item = Action>,
    ) -> TableState {
        let mut state = TableState {
            files: FileSet::with_base(base),
            ..TableState::new()
        };
        state.apply(version, actions);
        state
    }

    /// Applies the actions of one version (a commit, or a checkpoint taken at that version).
    pub fn apply(&mut self, version: i64, actions: impl IntoIterator<Item = Action>) {
        self.version = version;
        self.last_commit_info = None;
        for action in actions {
            self.apply_one(action);
        }
    }

    fn apply_one(&mut self, action: Action) {
        match action {
            Action::Protocol(p) => self.protocol = Some(p),
            Action::Metadata(m) => self.metadata = Some(m),
            Action::Add(add) => self.files.add(add),
            Action::Remove(remove) => self.files.remove(remove),
            Action::Txn(txn) => {
                self.txns.insert(txn.app_id.clone(), txn);
            }
            Action::DomainMetadata(d) => {
                if d.removed {
                    self.domains.remove(&d.domain);
                } else {
                    self.domains.insert(d.domain.clone(), d);
                }
            }
            Action::CommitInfo(ci) => self.last_commit_info = Some(ci),
            Action::Cdc(_) | Action::CheckpointMetadata(_) | Action::Sidecar(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::actions::{Add, Remove};

    fn add(path: &str) -> Action {
        Action::Add(Add::for_test(path, 1))
    }

    fn remove(path: &str) -> Action {
        let Action::Add(a) = add(path) else {
            unreachable!()
        };
        Action::Remove(Remove::from_add(&a, 5, true))
    }

    #[test]
    fn add_remove_readd() {
        let mut s = TableState::new();
        s.apply(0, [add("a"), add("b%20c")]);
        s.apply(1, [remove("a"), remove("b c")]);
        assert!(
            s.files.is_empty(),
            "remove matches an add whose path encodes the same file"
        );
        assert_eq!(s.files.tombstones().count(), 2);
        s.apply(2, [add("a")]);
        assert_eq!(s.files.len(), 1);
        assert_eq!(s.files.tombstones().count(), 1);
        assert_eq!(s.version, 2);
    }

    #[test]
    fn txn_and_domains_keep_latest() {
        let mut s = TableState::new();
        let txn = |v| {
            Action::Txn(Txn {
                app_id: "job".into(),
                version: v,
                last_updated: None,
            })
        };
        let dom = |c: &str, removed| {
            Action::DomainMetadata(DomainMetadata {
                domain: "d".into(),
                configuration: c.into(),
                removed,
            })
        };
        s.apply(0, [txn(1), dom("x", false)]);
        s.apply(1, [txn(4), dom("y", false)]);
        assert_eq!(s.txns["job"].version, 4);
        assert_eq!(s.domains["d"].configuration, "y");
        s.apply(2, [dom("y", true)]);
        assert!(s.domains.is_empty());
    }
}
