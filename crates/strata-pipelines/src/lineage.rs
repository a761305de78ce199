//! Lineage and cursors (`protocol/PROTOCOL.md#pipelines`).
//!
//! A flow's commit carries, in `commitInfo`, the field [`LINEAGE_KEY`]: the flow, its
//! transform's identity, and for each source its table id, location and the version range
//! read. Other Delta clients ignore the field. Each source's cursor is a `txn` action with
//! [`cursor_app_id`] and the last source version consumed, as Spark's Delta sink writes
//! `txnAppId` / `txnVersion`.

use serde::Serialize;
use strata::Table;
pub use strata::lineage::{Lineage, SourceRange};

use crate::error::PipelineError;

/// The `commitInfo` field holding a flow commit's lineage.
pub const LINEAGE_KEY: &str = strata::LINEAGE;

/// The `txn` application id of `flow`'s cursor on the source table with id `table_id`.
pub fn cursor_app_id(flow: &str, table_id: &str) -> String {
    format!("strata.flow/{flow}/{table_id}")
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
    Ok(Some(parse_lineage(table, version, value)?))
}

/// A `commitInfo` lineage field, parsed.
fn parse_lineage(
    table: &Table,
    version: i64,
    value: serde_json::Value,
) -> Result<Lineage, PipelineError> {
    let lineage = serde_json::from_value(value).map_err(|e| strata::Error::CorruptLog {
        path: format!("{}/_delta_log", table.location()),
        version,
        line: 0,
        reason: format!("commitInfo.{LINEAGE_KEY} is not a flow's lineage: {e}"),
    })?;
    Ok(lineage)
}

/// One table's versions in a lineage walk, and what they were computed from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LineageNode {
    /// `layer.name`, or the location for a table outside the lake.
    pub table: String,
    /// The first version of the range; `None` for everything up to `to_version` (a snapshot).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_version: Option<i64>,
    /// The last version.
    pub to_version: i64,
    /// The flows that wrote those versions.
    pub flows: Vec<String>,
    /// The sources those versions were read from, merged per table.
    pub upstream: Vec<LineageNode>,
}

impl LineageNode {
    /// `gold.x v12 <- silver.y v40..=57 <- bronze.z v3..=9`, one line per branch.
    pub fn render(&self) -> String {
        let mut lines = Vec::new();
        self.render_into(String::new(), &mut lines);
        lines.join("\n")
    }

    fn label(&self) -> String {
        match self.from_version {
            Some(from) if from == self.to_version => format!("{} v{from}", self.table),
            Some(from) => format!("{} v{from}..={}", self.table, self.to_version),
            None => format!("{} @v{}", self.table, self.to_version),
        }
    }

    fn render_into(&self, prefix: String, lines: &mut Vec<String>) {
        let here = if prefix.is_empty() {
            self.label()
        } else {
            format!("{prefix} <- {}", self.label())
        };
        if self.upstream.is_empty() {
            lines.push(here);
            return;
        }
        for node in &self.upstream {
            node.render_into(here.clone(), lines);
        }
    }
}

/// Walks lineage upstream from `table`'s `version` through the lake, at most `depth` tables
/// deep: each level gathers the lineage of every version of the range read (all versions up
/// to it for a snapshot read) and merges the ranges per source table.
///
/// # Errors
/// A table or commit that cannot be read; a lineage field that is not a flow's.
pub async fn walk_lineage(
    lake: &crate::Lake,
    table: &str,
    version: i64,
    depth: usize,
) -> Result<LineageNode, PipelineError> {
    let start = lake.table(table).await?;
    walk(
        lake,
        table.to_string(),
        start,
        Some(version),
        version,
        depth,
    )
    .await
}

fn walk<'a>(
    lake: &'a crate::Lake,
    name: String,
    table: Table,
    from: Option<i64>,
    to: i64,
    depth: usize,
) -> futures::future::BoxFuture<'a, Result<LineageNode, PipelineError>> {
    Box::pin(async move {
        let mut node = LineageNode {
            table: name,
            from_version: from,
            to_version: to,
            flows: Vec::new(),
            upstream: Vec::new(),
        };
        if depth == 0 {
            return Ok(node);
        }
        // Per upstream table: (name, earliest from (None = whole snapshot), latest to).
        let mut merged: Vec<(String, Option<i64>, i64)> = Vec::new();
        let first = from.unwrap_or(0);
        // One read of the commits' `commitInfo`s, newest first; a snapshot read depends on
        // every earlier commit (an upserted table accumulates them all).
        let history = table.snapshot_at_version(to).await?.history(None).await?;
        for entry in history.iter().filter(|e| e.version >= first) {
            let Some(value) = entry.user_metadata.get(LINEAGE_KEY) else {
                continue;
            };
            let lineage = parse_lineage(&table, entry.version, value.clone())?;
            if !node.flows.contains(&lineage.flow) {
                node.flows.push(lineage.flow.clone());
            }
            for source in lineage.sources {
                match merged.iter_mut().find(|m| m.0 == source.table) {
                    Some(m) => {
                        m.1 = match (m.1, source.from_version) {
                            (Some(a), Some(b)) => Some(a.min(b)),
                            _ => None,
                        };
                        m.2 = m.2.max(source.to_version);
                    }
                    None => merged.push((source.table, source.from_version, source.to_version)),
                }
            }
        }
        for (upstream, from, to) in merged {
            let table = lake.table(&upstream).await?;
            node.upstream
                .push(walk(lake, upstream, table, from, to, depth - 1).await?);
        }
        Ok(node)
    })
}
