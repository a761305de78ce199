//! What any operation can carry into its commit besides its own actions
//! (`protocol/PROTOCOL.md#idempotent-writes`): application transaction versions (`txn`
//! actions: idempotent jobs, and the cursors of incremental pipelines, which move several
//! sources at once) and custom `commitInfo` fields (lineage, job ids).

use serde_json::{Map, Value};

use super::Transaction;
use crate::error::{ConflictReason, Error, Result};
use crate::protocol::actions::{Action, Txn};
use crate::snapshot::Snapshot;

/// `txn` versions and `commitInfo` fields for one commit; empty by default.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CommitExtras {
    txns: Vec<(String, i64)>,
    metadata: Map<String, Value>,
}

impl CommitExtras {
    /// Adds `txn(app_id, version)` (a second call for one `app_id` replaces the first).
    pub fn add_txn(&mut self, app_id: impl Into<String>, version: i64) {
        let app_id = app_id.into();
        self.txns.retain(|(a, _)| *a != app_id);
        self.txns.push((app_id, version));
    }

    /// Adds a custom `commitInfo` field.
    pub fn add_metadata(&mut self, key: impl Into<String>, value: impl Into<Value>) {
        self.metadata.insert(key.into(), value.into());
    }

    /// The `txn` versions, in the order added.
    pub fn txns(&self) -> &[(String, i64)] {
        &self.txns
    }

    /// Whether `snapshot` already holds this commit: every `txn` is at or past its version
    /// (`false` without any). A table where only some are is an error, since committing would
    /// apply part of the work twice.
    ///
    /// # Errors
    /// [`Error::Conflict`] with [`ConflictReason::TxnConflict`] naming an application id already
    /// at its version when another is not.
    pub fn already_applied(&self, snapshot: &Snapshot) -> Result<bool> {
        let covered = |(app_id, version): &&(String, i64)| {
            snapshot.txn_version(app_id).is_some_and(|v| v >= *version)
        };
        let done: Vec<&(String, i64)> = self.txns.iter().filter(covered).collect();
        if done.is_empty() {
            return Ok(false);
        }
        if done.len() == self.txns.len() {
            return Ok(true);
        }
        Err(Error::Conflict {
            location: snapshot.storage().location().to_string(),
            version: snapshot.version(),
            reason: ConflictReason::TxnConflict {
                app_id: done[0].0.clone(),
            },
        })
    }

    /// Stages the `txn` actions and `commitInfo` fields on `tx`.
    pub fn apply(&self, tx: &mut Transaction) {
        let now = chrono::Utc::now().timestamp_millis();
        tx.add_actions(self.txns.iter().map(|(app_id, version)| {
            Action::Txn(Txn {
                app_id: app_id.clone(),
                version: *version,
                last_updated: Some(now),
            })
        }));
        for (k, v) in &self.metadata {
            tx.set_commit_metadata(k, v.clone());
        }
    }
}
