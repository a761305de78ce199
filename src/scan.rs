//! Reading a snapshot's data as Arrow (`protocol/PROTOCOL.md#reading-data`).
//!
//! Each live file is read with the async Parquet reader, projected to the requested columns,
//! and conformed to the table schema: partition columns are materialized from the log's
//! `partitionValues` (never parsed from paths, which other writers may lay out differently),
//! columns a file lacks (added after it was written) are null, and physical variants (INT96 or
//! millisecond timestamps, narrower integer types) are cast to the table's types. Files are
//! opened a few at a time while batches stream out in file order.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::{Field, Schema, SchemaRef};
use arrow::error::ArrowError;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use parquet::arrow::ParquetRecordBatchStreamBuilder;
use parquet::arrow::ProjectionMask;

use crate::actions::Add;
use crate::conform::conform_batch;
use crate::error::{Error, Result};
use crate::partition;
use crate::snapshot::Snapshot;
use crate::storage::Storage;

/// Files opened concurrently by a scan.
const DEFAULT_FILE_CONCURRENCY: usize = 4;
/// Rows per output batch.
const DEFAULT_BATCH_ROWS: usize = 8192;

/// A stream of record batches from a scan.
pub type RecordBatchStream = BoxStream<'static, Result<RecordBatch>>;

/// A scan request, built by [`Snapshot::scan`].
#[must_use = "a scan does nothing until executed"]
#[derive(Debug, Clone)]
pub struct ScanBuilder {
    snapshot: Snapshot,
    columns: Option<Vec<String>>,
    batch_rows: usize,
    file_concurrency: usize,
}

impl Snapshot {
    /// Starts a scan of this snapshot's data.
    pub fn scan(&self) -> ScanBuilder {
        ScanBuilder {
            snapshot: self.clone(),
            columns: None,
            batch_rows: DEFAULT_BATCH_ROWS,
            file_concurrency: DEFAULT_FILE_CONCURRENCY,
        }
    }
}

impl ScanBuilder {
    /// Reads only these columns, in this order.
    pub fn with_columns<I, S>(mut self, columns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.columns = Some(columns.into_iter().map(Into::into).collect());
        self
    }

    /// Rows per output batch (default 8192).
    pub fn with_batch_rows(mut self, rows: usize) -> Self {
        self.batch_rows = rows.max(1);
        self
    }

    /// How many files are opened at once (default 4).
    pub fn with_file_concurrency(mut self, files: usize) -> Self {
        self.file_concurrency = files.max(1);
        self
    }

    /// The schema of the batches this scan yields.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming a requested column the table does not have.
    pub fn output_schema(&self) -> Result<SchemaRef> {
        let table = self.snapshot.arrow_schema();
        let Some(columns) = &self.columns else {
            return Ok(table);
        };
        let fields = columns
            .iter()
            .map(|name| {
                table.field_with_name(name).cloned().map_err(|_| {
                    let known: Vec<&str> =
                        table.fields().iter().map(|f| f.name().as_str()).collect();
                    Error::InvalidArgument(format!(
                        "column {name:?} is not in the table schema; columns are: {}",
                        known.join(", ")
                    ))
                })
            })
            .collect::<Result<Vec<Field>>>()?;
        Ok(Arc::new(Schema::new(fields)))
    }

    /// Starts reading; batches arrive file by file.
    ///
    /// # Errors
    /// Invalid columns immediately; per-file errors ([`Error::Parquet`], [`Error::Storage`],
    /// [`Error::PathEscapesTable`]) inside the stream.
    pub fn execute(self) -> Result<RecordBatchStream> {
        let output = self.output_schema()?;
        let storage = self.snapshot.storage().clone();
        let partition_columns: Arc<[String]> = self.snapshot.partition_columns().into();
        let version = self.snapshot.version();
        let files: Vec<Add> = self.snapshot.files().map(|f| f.to_add()).collect();
        let batch_rows = self.batch_rows;
        let stream = futures::stream::iter(files)
            .map(move |add| {
                let file = FileScan {
                    storage: storage.clone(),
                    output: output.clone(),
                    partition_columns: partition_columns.clone(),
                    version,
                    batch_rows,
                };
                async move { file.open(add).await }
            })
            .buffered(self.file_concurrency)
            .try_flatten();
        Ok(stream.boxed())
    }

    /// Reads everything into memory.
    ///
    /// # Errors
    /// As [`ScanBuilder::execute`].
    pub async fn collect(self) -> Result<Vec<RecordBatch>> {
        self.execute()?.try_collect().await
    }
}

/// What one file's read needs.
struct FileScan {
    storage: Storage,
    output: SchemaRef,
    partition_columns: Arc<[String]>,
    version: i64,
    batch_rows: usize,
}

impl FileScan {
    async fn open(self, add: Add) -> Result<RecordBatchStream> {
        let path = self.storage.data_path(&add.path, self.version)?;
        let parquet_error = |source| Error::Parquet {
            path: path.to_string(),
            source,
        };
        let size = u64::try_from(add.size).unwrap_or_default();
        let reader = self.storage.parquet_reader(&path, size);
        let builder = ParquetRecordBatchStreamBuilder::new(reader)
            .await
            .map_err(parquet_error)?;
        let roots: Vec<usize> = builder
            .schema()
            .fields()
            .iter()
            .enumerate()
            .filter(|(_, f)| {
                !self.partition_columns.contains(f.name())
                    && self.output.field_with_name(f.name()).is_ok()
            })
            .map(|(i, _)| i)
            .collect();
        let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
        let stream = builder
            .with_projection(mask)
            .with_batch_size(self.batch_rows)
            .build()
            .map_err(parquet_error)?;
        let partition_values = add.partition_values;
        let output = self.output;
        let path_text = path.to_string();
        let partition_columns = self.partition_columns;
        Ok(stream
            .map(move |batch| {
                let batch = batch.map_err(|source| Error::Parquet {
                    path: path_text.clone(),
                    source,
                })?;
                let fill = |field: &Field, len: usize| {
                    fill_column(field, len, &partition_columns, &partition_values)
                };
                conform_batch(&batch, &output, fill).map_err(Error::from)
            })
            .boxed())
    }
}

/// A partition column's constant value, or nulls for a column the file does not have.
fn fill_column(
    field: &Field,
    len: usize,
    partition_columns: &[String],
    values: &HashMap<String, Option<String>>,
) -> Result<ArrayRef, ArrowError> {
    if !partition_columns.contains(field.name()) {
        return crate::conform::nulls(field, len);
    }
    let value = values
        .get(field.name())
        .or_else(|| {
            values
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(field.name()))
                .map(|(_, v)| v)
        })
        .and_then(|v| v.as_deref());
    partition::parse_value(value, field.data_type(), len)
        .map_err(|e| ArrowError::ExternalError(Box::new(e)))
}
