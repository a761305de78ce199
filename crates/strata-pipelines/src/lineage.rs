//! Lineage and cursors (`protocol/PROTOCOL.md#pipelines`).
//!
//! A flow's commit carries, in `commitInfo`, the field [`LINEAGE_KEY`]: the flow, its
//! transform's identity, and for each source its table id, location and the version range
//! read. Other Delta clients ignore the field. Each source's cursor is a `txn` action with
//! [`cursor_app_id`] and the last source version consumed, as Spark's Delta sink writes
//! `txnAppId` / `txnVersion`.

use serde::{Deserialize, Serialize};
use strata::Table;

use crate::error::PipelineError;

/// The `commitInfo` field holding a flow commit's lineage.
pub const LINEAGE_KEY: &str = "strata.lineage";

/// The `txn` application id of `flow`'s cursor on the source table with id `table_id`.
pub fn cursor_app_id(flow: &str, table_id: &str) -> String {
    format!("strata.flow/{flow}/{table_id}")
}

/// Which inputs produced one commit of a flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lineage {
    /// The flow.
    pub flow: String,
    /// The transform's version, when the flow gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transform_version: Option<String>,
    /// The sink mode (`append`, `upsert`, `fullRefresh`).
    pub sink: String,
    /// Each source's range.
    pub sources: Vec<SourceRange>,
}

/// The versions of one source a commit consumed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceRange {
    /// `layer.name` in the lake.
    pub table: String,
    /// The table's id (`metaData.id`), which survives renames and copies.
    pub table_id: String,
    /// Where it was read.
    pub location: String,
    /// How (`appends`, `changes`, `snapshot`).
    pub read: String,
    /// The first version read; `None` for the whole snapshot at `to_version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_version: Option<i64>,
    /// The last version read.
    pub to_version: i64,
}

/// The lineage of `table`'s `version`, `None` when no flow wrote it.
///
/// # Errors
/// Reading the commit fails; its lineage field is not the JSON flows write
/// ([`strata::Error::CorruptLog`]).
pub async fn lineage_at(table: &Table, version: i64) -> Result<Option<Lineage>, PipelineError> {
    let snapshot = table.snapshot_at_version(version).await?;
    let entry = snapshot.history(Some(1)).await?.into_iter().next();
    let Some(value) = entry.and_then(|e| e.user_metadata.get(LINEAGE_KEY).cloned()) else {
        return Ok(None);
    };
    let lineage = serde_json::from_value(value).map_err(|e| strata::Error::CorruptLog {
        path: format!("{}/_delta_log", table.location()),
        version,
        line: 0,
        reason: format!("commitInfo.{LINEAGE_KEY} is not a flow's lineage: {e}"),
    })?;
    Ok(Some(lineage))
}
