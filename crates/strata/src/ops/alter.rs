//! `ALTER TABLE … SET TBLPROPERTIES` (`protocol/PROTOCOL.md#table-properties`): a commit with
//! the new `metaData` and, when a property needs a feature the protocol lacks, the upgraded
//! `protocol`, as Delta upgrades a table (`delta.enableDeletionVectors=true` adds the
//! `deletionVectors` reader and writer features, `delta.enableChangeDataFeed=true` the
//! `changeDataFeed` writer feature, and so on).

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::protocol::actions::Action;
use crate::protocol::features::{merged_protocol, protocol_for_new_table};
use crate::protocol::properties::{
    COLUMN_MAPPING_MODE, CONSTRAINTS_PREFIX, ENABLE_IN_COMMIT_TIMESTAMPS, ENABLE_ROW_TRACKING,
};
use crate::snapshot::latest::LatestSnapshot;
use crate::transaction::Transaction;

/// Sets table properties in one commit; returns the version committed (the current one when
/// every property already has its value).
pub(crate) async fn set_properties(
    latest: &LatestSnapshot,
    properties: BTreeMap<String, String>,
) -> Result<i64> {
    let snapshot = latest.get().await?;
    snapshot.require_writable()?;
    let current = &snapshot.metadata().configuration;
    let changed: BTreeMap<String, String> = properties
        .into_iter()
        .filter(|(k, v)| current.get(k) != Some(v))
        .collect();
    if changed.is_empty() {
        return Ok(snapshot.version());
    }
    let refuse = |reason: String| Error::NotAllowed {
        location: snapshot.storage().location().to_string(),
        operation: "set properties".into(),
        reason,
    };
    for key in changed.keys() {
        if key == COLUMN_MAPPING_MODE {
            return Err(refuse(format!(
                "{key} cannot change on an existing table in strata yet (it needs physical names and field ids assigned to the schema); create the table with it"
            )));
        }
        if key == ENABLE_ROW_TRACKING || key == ENABLE_IN_COMMIT_TIMESTAMPS {
            return Err(refuse(format!(
                "{key} can be set only when the table is created in strata (enabling it later needs a backfill strata does not do yet)"
            )));
        }
        if key.starts_with(CONSTRAINTS_PREFIX) {
            return Err(refuse(format!(
                "{key}: CHECK constraints are not written by strata yet"
            )));
        }
    }
    let mut metadata = snapshot.metadata().clone();
    for (k, v) in &changed {
        metadata.configuration.insert(k.clone(), v.clone());
    }
    let required = protocol_for_new_table(snapshot.schema(), &metadata.configuration);
    let mut tx = Transaction::new(&snapshot, "SET TBLPROPERTIES").with_parameter(
        "properties",
        serde_json::to_string(&changed)
            .map_err(|e| Error::internal(format!("cannot serialize properties: {e}")))?,
    );
    if let Some(upgraded) = merged_protocol(snapshot.protocol(), &required) {
        tx.add_actions([Action::Protocol(upgraded)]);
    }
    tx.add_actions([Action::Metadata(metadata)]);
    let committed = tx.commit().await?;
    latest.remember_committed(&committed.snapshot);
    Ok(committed.version)
}
