//! `pipeline.toml`: a pipeline declared as data (`protocol/PROTOCOL.md#pipelines`), run by
//! `strata pipeline run`. Each flow names its target, its sources and how it reads them, its
//! expectations and its sink. Its transform is the identity over its one source, optionally
//! filtered (`where`) and projected (`columns`), or, in builds with the `sql` feature, a `sql`
//! query over its sources (`sources = [...]` for more than one), each a table of the rows the
//! run read, named as the flow names it.
//!
//! ```toml
//! [[flow]]
//! name = "delays_by_origin"
//! target = "gold.delays_by_origin"
//! sink = "full_refresh"
//! source = { table = "silver.flights", read = "snapshot" }
//! sql = "SELECT origin, count(*) AS flights, avg(dep_delay) AS delay FROM silver.flights GROUP BY origin"
//! ```
//!
//! ```toml
//! lake = "./lake"
//!
//! [[flow]]
//! name = "clean_flights"
//! target = "silver.flights"
//! sink = "upsert"                 # append | upsert | full_refresh | apply_changes
//! keys = ["id"]
//! where = "carrier <> 'XX'"
//! source = { table = "bronze.flights", read = "appends" }   # appends | changes | snapshot
//! expect = [
//!   { name = "has_delay", predicate = "dep_delay IS NOT NULL", action = "drop" },
//! ]
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use arrow::array::RecordBatch;
use serde::Deserialize;
use strata::{Expr, Predicate};

use crate::apply_changes::ApplyChanges;
use crate::error::PipelineError;
use crate::expectations::{Expectation, ExpectationAction};
use crate::flow::{Flow, ReadMode, Sink};
use crate::pipeline::Pipeline;

/// A parsed `pipeline.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineFile {
    /// The lake root (relative to the file's directory when relative); `--lake` overrides it.
    pub lake: Option<String>,
    /// The flows.
    #[serde(default, rename = "flow")]
    pub flows: Vec<FlowSpec>,
}

/// One `[[flow]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowSpec {
    /// The flow's name (its cursors' identity).
    pub name: String,
    /// The target (`silver.flights`).
    pub target: String,
    /// The source (the identity transform reads one).
    pub source: Option<SourceSpec>,
    /// More sources, for a `sql` transform.
    #[serde(default)]
    pub sources: Vec<SourceSpec>,
    /// The transform as SQL over the sources (builds with the `sql` feature).
    pub sql: Option<String>,
    /// `append` (default), `upsert`, `full_refresh` or `apply_changes`.
    #[serde(default = "default_sink")]
    pub sink: String,
    /// Key columns for `upsert` and `apply_changes`.
    #[serde(default)]
    pub keys: Vec<String>,
    /// `apply_changes`: the column ordering a key's changes.
    pub sequence_by: Option<String>,
    /// `apply_changes`: which changes are deletes.
    pub delete_when: Option<String>,
    /// `apply_changes`: columns not stored.
    #[serde(default)]
    pub except: Vec<String>,
    /// `apply_changes`: 1 (default) or 2.
    pub scd: Option<u8>,
    /// Keep only the rows this predicate is true for.
    #[serde(rename = "where")]
    pub filter: Option<String>,
    /// Keep only these columns, in this order.
    pub columns: Option<Vec<String>>,
    /// Expectations, in order.
    #[serde(default)]
    pub expect: Vec<ExpectSpec>,
    /// Recorded in the lineage.
    pub transform_version: Option<String>,
    /// Partition columns, when the flow creates its target.
    #[serde(default)]
    pub partition_by: Vec<String>,
    /// Table properties, when the flow creates its target.
    #[serde(default)]
    pub target_properties: BTreeMap<String, String>,
}

/// A flow's source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// `layer.name`.
    pub table: String,
    /// `appends` (default), `changes` or `snapshot`.
    #[serde(default = "default_read")]
    pub read: String,
}

/// One expectation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectSpec {
    /// Its name.
    pub name: String,
    /// The predicate rows must meet.
    pub predicate: String,
    /// `warn` (default), `drop`, `fail` or `quarantine`.
    #[serde(default = "default_action")]
    pub action: String,
}

fn default_sink() -> String {
    "append".into()
}

fn default_read() -> String {
    "appends".into()
}

fn default_action() -> String {
    "warn".into()
}

impl PipelineFile {
    /// Parses `text`; `file` names it in errors.
    ///
    /// # Errors
    /// [`PipelineError::Config`] naming the line and column of what does not parse, or the
    /// flow whose values make no sense.
    pub fn parse(file: &str, text: &str) -> Result<PipelineFile, PipelineError> {
        let parsed: PipelineFile = toml::from_str(text).map_err(|e| {
            let (line, column) = e
                .span()
                .map(|span| line_and_column(text, span.start))
                .unwrap_or((0, 0));
            PipelineError::Config {
                file: file.to_string(),
                line,
                column,
                message: e.message().to_string(),
            }
        })?;
        // A flow's values are checked here, so their errors can point at the flow.
        for spec in &parsed.flows {
            if let Err(e) = spec.flow(file) {
                return Err(at_flow(e, text, &spec.name));
            }
        }
        parsed.pipeline(file)?;
        Ok(parsed)
    }

    /// Reads and parses the file at `path`.
    ///
    /// # Errors
    /// As [`PipelineFile::parse`]; the file cannot be read.
    pub fn load(path: &Path) -> Result<PipelineFile, PipelineError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| PipelineError::Config {
            file: name.clone(),
            line: 0,
            column: 0,
            message: format!("cannot read it: {e}"),
        })?;
        PipelineFile::parse(&name, &text)
    }

    /// The lake root the file names, relative paths taken from `base` (the file's directory).
    pub fn lake_root(&self, base: &Path) -> Option<String> {
        let lake = self.lake.as_deref()?;
        if lake.contains("://") || Path::new(lake).is_absolute() {
            return Some(lake.to_string());
        }
        Some(base.join(lake).display().to_string())
    }

    /// The pipeline the file declares.
    ///
    /// # Errors
    /// [`PipelineError::Config`] for an unknown sink, read mode or action, or a sink's missing
    /// settings (naming the flow).
    pub fn pipeline(&self, file: &str) -> Result<Pipeline, PipelineError> {
        let mut pipeline = Pipeline::new();
        for spec in &self.flows {
            pipeline = pipeline.flow(spec.flow(file)?);
        }
        pipeline.levels()?;
        Ok(pipeline)
    }
}

impl FlowSpec {
    fn flow(&self, file: &str) -> Result<Flow, PipelineError> {
        let bad = |message: String| PipelineError::Config {
            file: file.to_string(),
            line: 0,
            column: 0,
            message: format!("flow {:?}: {message}", self.name),
        };
        let sources: Vec<&SourceSpec> = self.source.iter().chain(&self.sources).collect();
        if sources.is_empty() {
            return Err(bad("a flow needs a source = { table, read }".into()));
        }
        let mut reads = Vec::with_capacity(sources.len());
        for source in &sources {
            let read = match source.read.as_str() {
                "appends" => ReadMode::Appends,
                "changes" => ReadMode::Changes,
                "snapshot" => ReadMode::Snapshot,
                other => {
                    return Err(bad(format!(
                        "read {other:?} is not appends, changes or snapshot"
                    )));
                }
            };
            reads.push((source.table.clone(), read));
        }
        let sink = match self.sink.as_str() {
            "append" => Sink::Append,
            "full_refresh" => Sink::FullRefresh,
            "upsert" if !self.keys.is_empty() => Sink::Upsert {
                keys: self.keys.clone(),
            },
            "upsert" => return Err(bad("an upsert needs keys = [...]".into())),
            "apply_changes" => {
                let (Some(sequence), false) = (&self.sequence_by, self.keys.is_empty()) else {
                    return Err(bad(
                        "apply_changes needs keys = [...] and sequence_by".into()
                    ));
                };
                let keys: Vec<&str> = self.keys.iter().map(String::as_str).collect();
                let mut spec = match self.scd.unwrap_or(1) {
                    1 => ApplyChanges::scd1(&keys, sequence),
                    2 => ApplyChanges::scd2(&keys, sequence),
                    n => return Err(bad(format!("scd = {n}: SCD type is 1 or 2"))),
                };
                if let Some(d) = &self.delete_when {
                    spec = spec.delete_when(d);
                }
                let except: Vec<&str> = self.except.iter().map(String::as_str).collect();
                Sink::ApplyChanges(spec.except(&except))
            }
            other => {
                return Err(bad(format!(
                    "sink {other:?} is not append, upsert, full_refresh or apply_changes"
                )));
            }
        };
        let mut flow = Flow::new(self.name.clone(), self.target.clone());
        for (table, read) in &reads {
            flow = flow.source(table.clone(), *read);
        }
        flow = self
            .transform(flow, &reads, &bad)?
            .sink(sink)
            .partition_by(self.partition_by.clone());
        for e in &self.expect {
            let action = match e.action.as_str() {
                "warn" => ExpectationAction::Warn,
                "drop" => ExpectationAction::Drop,
                "fail" => ExpectationAction::Fail,
                "quarantine" => ExpectationAction::Quarantine,
                other => {
                    return Err(bad(format!(
                        "expectation {:?}: action {other:?} is not warn, drop, fail or quarantine",
                        e.name
                    )));
                }
            };
            flow = flow.expect(Expectation::new(
                e.name.clone(),
                e.predicate.clone(),
                action,
            ));
        }
        if let Some(v) = &self.transform_version {
            flow = flow.transform_version(v.clone());
        }
        for (k, v) in &self.target_properties {
            flow = flow.target_property(k.clone(), v.clone());
        }
        Ok(flow)
    }
}

impl FlowSpec {
    /// The flow with its transform: the `sql` query, or the identity over its one source
    /// with `where` and `columns`.
    fn transform(
        &self,
        flow: Flow,
        reads: &[(String, ReadMode)],
        bad: &dyn Fn(String) -> PipelineError,
    ) -> Result<Flow, PipelineError> {
        if let Some(query) = &self.sql {
            if self.filter.is_some() || self.columns.is_some() {
                return Err(bad(
                    "where and columns shape the identity transform; put them in the sql query"
                        .into(),
                ));
            }
            return sql_transform(flow, query, bad);
        }
        let [(source, _)] = reads else {
            return Err(bad(
                "several sources need a sql transform to combine them".into()
            ));
        };
        let filter = match &self.filter {
            Some(text) => Some(Expr::parse(text).map_err(|e| bad(format!("where: {e}")))?),
            None => None,
        };
        let columns = self.columns.clone();
        let source = source.clone();
        Ok(flow.transform(move |input| {
            let rows = input.rows(&source);
            select(rows, filter.as_ref(), columns.as_deref()).map_err(Into::into)
        }))
    }
}

#[cfg(feature = "sql")]
fn sql_transform(
    flow: Flow,
    query: &str,
    _bad: &dyn Fn(String) -> PipelineError,
) -> Result<Flow, PipelineError> {
    Ok(flow.sql(query))
}

#[cfg(not(feature = "sql"))]
fn sql_transform(
    _flow: Flow,
    _query: &str,
    bad: &dyn Fn(String) -> PipelineError,
) -> Result<Flow, PipelineError> {
    Err(bad(
        "sql transforms need a build with the sql feature (strata-cli: cargo build --features sql)"
            .into(),
    ))
}

/// The identity transform: rows where `filter` is true (all without one), `columns` only.
fn select(
    rows: &[RecordBatch],
    filter: Option<&Expr>,
    columns: Option<&[String]>,
) -> Result<Vec<RecordBatch>, PipelineError> {
    let mut out = Vec::with_capacity(rows.len());
    for batch in rows {
        let mut batch = batch.clone();
        if let Some(expr) = filter {
            let predicate = Predicate::bind(expr, &batch.schema())
                .map_err(|e| PipelineError::Table(strata::Error::Predicate(e)))?;
            batch = predicate.filter(&batch)?;
        }
        if let Some(columns) = columns {
            let schema = batch.schema();
            let indices = columns
                .iter()
                .map(|c| schema.index_of(c))
                .collect::<Result<Vec<_>, _>>()?;
            batch = batch.project(&indices)?;
        }
        out.push(batch);
    }
    Ok(out)
}

/// A flow's error placed at the line of its `name`.
fn at_flow(e: PipelineError, text: &str, name: &str) -> PipelineError {
    match e {
        PipelineError::Config {
            file,
            line: 0,
            message,
            ..
        } => {
            let quoted = format!("\"{name}\"");
            let (line, column) = text
                .find(&quoted)
                .map_or((1, 1), |offset| line_and_column(text, offset));
            PipelineError::Config {
                file,
                line,
                column,
                message,
            }
        }
        other => other,
    }
}

/// 1-based line and column of byte `offset` in `text`.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
lake = "lake"

[[flow]]
name = "clean"
target = "silver.flights"
sink = "upsert"
keys = ["id"]
where = "carrier <> 'XX'"
source = { table = "bronze.flights", read = "appends" }
expect = [{ name = "has_delay", predicate = "delay IS NOT NULL", action = "drop" }]

[[flow]]
name = "history"
target = "silver.flights_history"
sink = "apply_changes"
keys = ["id"]
sequence_by = "seq"
scd = 2
source = { table = "bronze.flights" }
"#;

    #[test]
    fn a_pipeline_file_declares_flows() {
        let file = PipelineFile::parse("pipeline.toml", GOOD).unwrap();
        assert_eq!(file.flows.len(), 2);
        let pipeline = file.pipeline("pipeline.toml").unwrap();
        assert_eq!(pipeline.flows().len(), 2);
        assert_eq!(
            file.lake_root(Path::new("/etc/jobs")).as_deref(),
            Some("/etc/jobs/lake")
        );
    }

    #[test]
    fn errors_name_the_line_or_the_flow() {
        let err = PipelineFile::parse("p.toml", "lake = \"x\"\n[[flow]]\nname = 3\n").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("p.toml:3:"), "{text}");
        let err =
            PipelineFile::parse("p.toml", &GOOD.replace("\"upsert\"", "\"upsertt\"")).unwrap_err();
        assert!(err.to_string().contains("\"clean\""), "{err}");
        assert!(err.to_string().starts_with("p.toml:5:"), "{err}");
        let err = PipelineFile::parse("p.toml", &GOOD.replace("keys = [\"id\"]\nwhere", "where"))
            .unwrap_err();
        assert!(err.to_string().contains("needs keys"), "{err}");
        let err = PipelineFile::parse("p.toml", "lake = \"x\"\nflows = 1\n").unwrap_err();
        assert!(err.to_string().contains("p.toml:2:"), "{err}");
    }
}
