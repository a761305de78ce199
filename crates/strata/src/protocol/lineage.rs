//! Lineage: which input versions produced a commit (`protocol/PROTOCOL.md#pipelines`).
//!
//! A commit written by a flow or by SQL (`INSERT`, `CREATE TABLE … AS SELECT`, `strata sql
//! --into`) carries, in `commitInfo`, the field [`LINEAGE`](crate::LINEAGE): who wrote it,
//! how, and for each source table its id, location and the version range read. Other Delta
//! clients ignore the field. One shape for every writer, so one walk follows a gold version
//! back through SQL and flow commits alike.

use serde::{Deserialize, Serialize};

/// Which inputs produced one commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lineage {
    /// The flow, or `sql` for a SQL statement.
    pub flow: String,
    /// The transform's version, when the flow gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transform_version: Option<String>,
    /// The sink mode (`append`, `upsert`, `fullRefresh`, `overwrite`, `applyChanges`).
    pub sink: String,
    /// The SQL text, for a commit written by SQL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// Each source's range.
    pub sources: Vec<SourceRange>,
}

/// The versions of one source a commit consumed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceRange {
    /// The source's name: `layer.name` in a lake, the registered name in SQL.
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
