//! A flow's definition: its target, sources, transform, expectations and sink.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;

use crate::apply_changes::ApplyChanges;
use crate::error::PipelineError;
use crate::expectations::Expectation;
use crate::lake::TableName;

/// How a flow reads a source each run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadMode {
    /// The rows appended since the last run (data-changing `add`s), as a streaming read of an
    /// append-only Delta table does. A commit that updated or deleted rows is refused.
    Appends,
    /// The change data feed since the last run: every row with `_change_type`
    /// (`insert`, `delete`, `update_preimage`, `update_postimage`), `_commit_version` and
    /// `_commit_timestamp`. The source needs `delta.enableChangeDataFeed`.
    Changes,
    /// The whole snapshot at its latest version, every run (for recomputes and small
    /// dimension tables).
    Snapshot,
}

impl ReadMode {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ReadMode::Appends => "appends",
            ReadMode::Changes => "changes",
            ReadMode::Snapshot => "snapshot",
        }
    }
}

/// How a flow's output goes into its target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sink {
    /// Append the rows.
    Append,
    /// Merge on the key columns: update every column of a matching row, insert the others.
    /// Several output rows with one key are an error (deduplicate in the transform).
    Upsert {
        /// The key columns.
        keys: Vec<String>,
    },
    /// Replace the target's rows with the output (a recompute, such as a gold aggregate over
    /// a [`ReadMode::Snapshot`] source).
    FullRefresh,
    /// Apply the output as a change stream: by key, in sequence order, as a slowly changing
    /// dimension of type 1 or 2 ([`ApplyChanges`]).
    ApplyChanges(ApplyChanges),
}

impl Sink {
    pub(crate) fn as_str(&self) -> &'static str {
        match self {
            Sink::Append => "append",
            Sink::Upsert { .. } => "upsert",
            Sink::FullRefresh => "fullRefresh",
            Sink::ApplyChanges(a) => match a.scd {
                crate::apply_changes::ScdType::Type1 => "applyChangesScd1",
                crate::apply_changes::ScdType::Type2 => "applyChangesScd2",
            },
        }
    }
}

/// What a transform is handed: each source's new rows (and, when the flow asks, the target's
/// current rows).
#[derive(Debug)]
pub struct FlowInput {
    pub(crate) sources: Vec<SourceInput>,
    pub(crate) target: Option<Vec<RecordBatch>>,
}

/// One source's rows for a run.
#[derive(Debug)]
pub struct SourceInput {
    /// The source table (`bronze.flights`).
    pub name: String,
    /// The first version read, or `None` when the whole snapshot was read (a first run, or
    /// [`ReadMode::Snapshot`]).
    pub from_version: Option<i64>,
    /// The last version read.
    pub to_version: i64,
    /// The rows' schema (the table's, plus the change columns for [`ReadMode::Changes`]),
    /// also when no row was read.
    pub schema: SchemaRef,
    /// The rows.
    pub rows: Vec<RecordBatch>,
}

impl FlowInput {
    /// The rows read from `source` this run (empty for an unknown name).
    pub fn rows(&self, source: &str) -> &[RecordBatch] {
        self.source(source)
            .map(|s| s.rows.as_slice())
            .unwrap_or(&[])
    }

    /// Everything about one source's read.
    pub fn source(&self, source: &str) -> Option<&SourceInput> {
        self.sources.iter().find(|s| s.name == source)
    }

    /// Every source's read, in the order the flow declares them.
    pub fn sources(&self) -> &[SourceInput] {
        &self.sources
    }

    /// The target's rows before this run, for a flow built with [`Flow::reading_target`]
    /// (empty before the target exists): an incremental aggregate adds the new rows' totals
    /// to the stored ones and upserts the groups it touched.
    pub fn target(&self) -> &[RecordBatch] {
        self.target.as_deref().unwrap_or(&[])
    }
}

/// A transform's error, reported as [`PipelineError::Transform`].
pub type TransformError = Box<dyn std::error::Error + Send + Sync>;

/// A Rust transform: the new rows of each source in, the rows to write out. Returning an empty
/// batch (with its schema) rather than no batch lets a first run create the target.
pub(crate) type TransformFn =
    Arc<dyn Fn(&FlowInput) -> Result<Vec<RecordBatch>, TransformError> + Send + Sync>;

/// How a flow computes its output from its input.
#[derive(Clone)]
pub(crate) enum Transform {
    /// A Rust closure ([`Flow::transform`]).
    Closure(TransformFn),
    /// A SQL query over the sources' new rows ([`Flow::sql`]).
    #[cfg(feature = "sql")]
    Sql(String),
}

/// A flow: a target table fed from sources by a transform, incrementally and exactly once.
/// Built with [`Flow::new`] and run with [`Flow::run`].
#[derive(Clone)]
pub struct Flow {
    pub(crate) name: String,
    pub(crate) target: String,
    pub(crate) sources: Vec<(String, ReadMode)>,
    pub(crate) transform: Option<Transform>,
    pub(crate) transform_version: Option<String>,
    pub(crate) expectations: Vec<Expectation>,
    pub(crate) sink: Sink,
    pub(crate) partition_columns: Vec<String>,
    /// Recompute from the sources' snapshots and replace the target ([`Flow::run_full_refresh`]).
    pub(crate) full_refresh: bool,
    /// Hand the transform the target's rows ([`Flow::reading_target`]).
    pub(crate) reads_target: bool,
    /// Table properties for the target, when the flow creates it.
    pub(crate) target_properties: Vec<(String, String)>,
}

impl std::fmt::Debug for Flow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flow")
            .field("name", &self.name)
            .field("target", &self.target)
            .field("sources", &self.sources)
            .field("sink", &self.sink)
            .finish_non_exhaustive()
    }
}

impl Flow {
    /// A flow named `name` (its identity: cursors are kept per flow name) writing `target`
    /// (`silver.flights`). Appends by default.
    pub fn new(name: impl Into<String>, target: impl Into<String>) -> Flow {
        Flow {
            name: name.into(),
            target: target.into(),
            sources: Vec::new(),
            transform: None,
            transform_version: None,
            expectations: Vec::new(),
            sink: Sink::Append,
            partition_columns: Vec::new(),
            full_refresh: false,
            reads_target: false,
            target_properties: Vec::new(),
        }
    }

    /// Reads `table` (`bronze.flights`) each run, as `mode` says.
    pub fn source(mut self, table: impl Into<String>, mode: ReadMode) -> Flow {
        self.sources.push((table.into(), mode));
        self
    }

    /// The transform from the sources' new rows to the rows to write.
    pub fn transform<F>(mut self, transform: F) -> Flow
    where
        F: Fn(&FlowInput) -> Result<Vec<RecordBatch>, TransformError> + Send + Sync + 'static,
    {
        self.transform = Some(Transform::Closure(Arc::new(transform)));
        self
    }

    /// The transform as SQL (DataFusion, `strata-sql`): each source is a table named as the
    /// flow names it (`bronze.flights`) holding only the rows this run read — new appends, or
    /// the change feed with `_change_type`, `_commit_version` and `_commit_timestamp` — and,
    /// for a flow [`reading_target`](Flow::reading_target), the target under its own name with
    /// its current rows. The query is recorded in the lineage.
    ///
    /// ```no_run
    /// # use strata_pipelines::{Flow, ReadMode, Sink};
    /// let gold = Flow::new("delays_by_origin", "gold.delays_by_origin")
    ///     .source("silver.flights", ReadMode::Snapshot)
    ///     .sql("SELECT origin, count(*) AS flights, avg(dep_delay) AS delay FROM silver.flights GROUP BY origin")
    ///     .sink(Sink::FullRefresh);
    /// ```
    #[cfg(feature = "sql")]
    pub fn sql(mut self, query: impl Into<String>) -> Flow {
        self.transform = Some(Transform::Sql(query.into()));
        self
    }

    /// Hands the transform the target's current rows ([`FlowInput::target`]), read from the
    /// version the run commits on top of. Meant for small targets (gold aggregates): the whole
    /// table is read each run.
    pub fn reading_target(mut self) -> Flow {
        self.reads_target = true;
        self
    }

    /// A version for the transform's code, recorded in the lineage (e.g. a git hash).
    pub fn transform_version(mut self, version: impl Into<String>) -> Flow {
        self.transform_version = Some(version.into());
        self
    }

    /// Checks the output rows (in the order added).
    pub fn expect(mut self, expectation: Expectation) -> Flow {
        self.expectations.push(expectation);
        self
    }

    /// How the output goes into the target.
    pub fn sink(mut self, sink: Sink) -> Flow {
        self.sink = sink;
        self
    }

    /// A table property for the target, when the flow creates it (e.g.
    /// `delta.enableChangeDataFeed`, so a downstream flow can read its changes).
    pub fn target_property(mut self, key: impl Into<String>, value: impl Into<String>) -> Flow {
        self.target_properties.push((key.into(), value.into()));
        self
    }

    /// Partition columns for the target, when the flow creates it.
    pub fn partition_by<I, S>(mut self, columns: I) -> Flow
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.partition_columns = columns.into_iter().map(Into::into).collect();
        self
    }

    /// The flow's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The checked parts of the definition.
    pub(crate) fn validate(&self) -> Result<Checked, PipelineError> {
        let bad = |reason: &str| PipelineError::BadFlow {
            flow: self.name.clone(),
            reason: reason.to_string(),
        };
        if self.name.is_empty() || self.name.chars().any(char::is_control) {
            return Err(bad("a flow needs a name without control characters"));
        }
        let target = TableName::parse(&self.target)?;
        let transform = self
            .transform
            .clone()
            .ok_or_else(|| bad("it has no transform"))?;
        if self.sources.is_empty() {
            return Err(bad("it has no source"));
        }
        let mut sources = Vec::new();
        for (name, mode) in &self.sources {
            let parsed = TableName::parse(name)?;
            if parsed == target {
                return Err(bad("its target cannot also be its source"));
            }
            if sources.iter().any(|(s, _)| *s == parsed) {
                return Err(bad(&format!("source {name} is given twice")));
            }
            sources.push((parsed, *mode));
        }
        Ok(Checked {
            target,
            sources,
            transform,
        })
    }
}

/// A flow's definition, checked: its parsed table names and its transform.
pub(crate) struct Checked {
    pub(crate) target: TableName,
    pub(crate) sources: Vec<(TableName, ReadMode)>,
    pub(crate) transform: Transform,
}
