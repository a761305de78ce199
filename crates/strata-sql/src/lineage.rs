//! Lineage of SQL writes (`protocol/PROTOCOL.md#pipelines`): the strata tables a physical plan
//! reads, each with its id and the version read, in the shape flows write.

use std::sync::Arc;

use datafusion::physical_plan::ExecutionPlan;
use strata::lineage::{Lineage, SourceRange};

use crate::exec::StrataScanExec;

/// The `flow` recorded for commits written by SQL.
pub(crate) const SQL_FLOW: &str = "sql";

/// Every strata table `plan` reads, once per (table id, version), in plan order.
pub(crate) fn plan_sources(plan: &Arc<dyn ExecutionPlan>) -> Vec<SourceRange> {
    let mut sources: Vec<SourceRange> = Vec::new();
    collect(plan.as_ref(), &mut sources);
    sources
}

fn collect(plan: &dyn ExecutionPlan, sources: &mut Vec<SourceRange>) {
    if let Some(scan) = plan.downcast_ref::<StrataScanExec>() {
        let source = scan.source();
        let seen = sources.iter().any(|s| {
            s.table_id == source.table_id
                && s.to_version == source.to_version
                && s.read == source.read
                && s.from_version == source.from_version
        });
        if !seen {
            sources.push(source.clone());
        }
    }
    for child in plan.children() {
        collect(child.as_ref(), sources);
    }
}

/// The lineage of a SQL write.
pub(crate) fn sql_lineage(sink: &str, query: Option<&str>, sources: Vec<SourceRange>) -> Lineage {
    Lineage {
        flow: SQL_FLOW.to_string(),
        transform_version: None,
        sink: sink.to_string(),
        query: query.map(str::to_string),
        sources,
    }
}
