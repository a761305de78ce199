//! SQL writes: `INSERT INTO` / `INSERT OVERWRITE` through DataFusion's sink, and
//! [`Context::write_into`](crate::Context::write_into) /
//! [`Context::create_table_as`](crate::Context::create_table_as). Each is one commit through
//! strata's transaction layer (conflict checks, retries), with the lineage of what it read.

use std::fmt;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::common::Result;
use datafusion::datasource::sink::DataSink;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::{DisplayAs, DisplayFormatType};
use futures::TryStreamExt;
use serde_json::json;
use strata::lineage::SourceRange;
use strata::{Table, WriteResult};

use crate::error::to_datafusion;
use crate::lineage::sql_lineage;

/// How a SQL write treats the rows already in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WriteMode {
    /// Add the rows (`INSERT INTO`).
    #[default]
    Append,
    /// Replace every row (`INSERT OVERWRITE`).
    Overwrite,
}

impl WriteMode {
    /// The sink name lineage records.
    pub fn as_str(self) -> &'static str {
        match self {
            WriteMode::Append => "append",
            WriteMode::Overwrite => "overwrite",
        }
    }

    fn strata(self) -> strata::WriteMode {
        match self {
            WriteMode::Append => strata::WriteMode::Append,
            WriteMode::Overwrite => strata::WriteMode::Overwrite,
        }
    }
}

/// What a SQL write committed.
#[derive(Debug, Clone)]
pub struct SqlWrite {
    /// Where the table is.
    pub location: String,
    /// The version committed.
    pub version: i64,
    /// Rows written.
    pub rows: u64,
    /// Data files added.
    pub files: usize,
    /// The strata tables (and versions) the query read, as recorded in the commit's lineage.
    pub sources: Vec<SourceRange>,
}

impl SqlWrite {
    pub(crate) fn new(location: &str, result: &WriteResult, sources: Vec<SourceRange>) -> SqlWrite {
        SqlWrite {
            location: location.to_string(),
            version: result.version,
            rows: result.num_rows,
            files: result.num_files,
            sources,
        }
    }
}

impl fmt::Display for SqlWrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: version {} ({} rows in {} file{})",
            self.location,
            self.version,
            self.rows,
            self.files,
            if self.files == 1 { "" } else { "s" }
        )?;
        if !self.sources.is_empty() {
            let sources: Vec<String> = self
                .sources
                .iter()
                .map(|s| format!("{}@{}", s.table, s.to_version))
                .collect();
            write!(f, " from {}", sources.join(", "))?;
        }
        Ok(())
    }
}

/// DataFusion batches as a stream strata's writer takes.
pub(crate) fn to_strata_stream(
    batches: SendableRecordBatchStream,
) -> impl futures::Stream<Item = strata::Result<arrow::array::RecordBatch>> + Send + 'static {
    batches.map_err(|e| strata::Error::Arrow(arrow::error::ArrowError::ExternalError(Box::new(e))))
}

/// Commits `batches` to `table` with `mode` and the lineage of `sources`.
pub(crate) async fn commit(
    table: &Table,
    batches: SendableRecordBatchStream,
    mode: WriteMode,
    query: Option<&str>,
    sources: Vec<SourceRange>,
) -> strata::Result<WriteResult> {
    let lineage = sql_lineage(mode.as_str(), query, sources);
    table
        .write_stream(to_strata_stream(batches))
        .with_mode(mode.strata())
        .with_commit_metadata(strata::LINEAGE, json!(lineage))
        .execute()
        .await
}

/// The sink behind `INSERT INTO` / `INSERT OVERWRITE` on a [`StrataTable`](crate::StrataTable).
#[derive(Debug)]
pub(crate) struct StrataSink {
    pub(crate) table: Table,
    pub(crate) name: String,
    pub(crate) schema: SchemaRef,
    pub(crate) mode: WriteMode,
    pub(crate) sources: Vec<SourceRange>,
}

impl DisplayAs for StrataSink {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "StrataSink: table={} mode={}",
            self.name,
            self.mode.as_str()
        )
    }
}

#[async_trait]
impl DataSink for StrataSink {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    async fn write_all(
        &self,
        data: SendableRecordBatchStream,
        _context: &Arc<TaskContext>,
    ) -> Result<u64> {
        let result = commit(&self.table, data, self.mode, None, self.sources.clone())
            .await
            .map_err(to_datafusion)?;
        Ok(result.num_rows)
    }
}
