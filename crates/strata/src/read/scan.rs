//! Reading a snapshot's data as Arrow (`protocol/PROTOCOL.md#reading-data`).
//!
//! Each live file is read with the async Parquet reader, projected to the requested columns,
//! and conformed to the table schema: partition columns are materialized from the log's
//! `partitionValues` (never parsed from paths, which other writers may lay out differently),
//! columns a file lacks (added after it was written) are null, and physical variants (INT96 or
//! millisecond timestamps, narrower integer types) are cast to the table's types. Files are
//! opened a few at a time while batches stream out in file order.
//!
//! With a filter (`protocol/PROTOCOL.md#data-skipping`), planning skips files whose partition
//! values or `add.stats` bounds cannot match, opening a file skips row groups whose footer
//! statistics cannot match, and each decoded batch is filtered with Arrow kernels. Columns the
//! filter reads but the output does not are decoded, used and dropped.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::error::ArrowError;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::statistics::StatisticsConverter;
use parquet::arrow::{ParquetRecordBatchStreamBuilder, async_reader::ParquetRecordBatchStream};

use crate::error::{Error, Result};
use crate::expr::predicate::Predicate;
use crate::expr::skipping::{ColumnBounds, RowGroupStats, scalar_at, stats_bounds};
use crate::expr::{Expr, ExprError};
use crate::protocol::actions::Add;
use crate::protocol::partition;
use crate::protocol::schema::conform::conform_batch;
use crate::snapshot::Snapshot;
use crate::storage::{DataFileReader, Storage};

/// Files opened concurrently by a scan.
const DEFAULT_FILE_CONCURRENCY: usize = 4;
/// Rows per output batch.
const DEFAULT_BATCH_ROWS: usize = 8192;

/// A stream of record batches from a scan.
pub type RecordBatchStream = BoxStream<'static, Result<RecordBatch>>;

/// Something a scan can filter by: an [`Expr`], or SQL-like text parsed with
/// [`Expr::parse`].
pub trait IntoFilter {
    /// The expression, or why the text does not parse.
    ///
    /// # Errors
    /// [`ExprError`] from parsing.
    fn into_filter(self) -> Result<Expr, ExprError>;
}

impl IntoFilter for Expr {
    fn into_filter(self) -> Result<Expr, ExprError> {
        Ok(self)
    }
}

impl IntoFilter for &str {
    fn into_filter(self) -> Result<Expr, ExprError> {
        Expr::parse(self)
    }
}

impl IntoFilter for String {
    fn into_filter(self) -> Result<Expr, ExprError> {
        Expr::parse(&self)
    }
}

/// A scan request, built by [`Snapshot::scan`].
#[must_use = "a scan does nothing until executed"]
#[derive(Debug, Clone)]
pub struct ScanBuilder {
    snapshot: Snapshot,
    columns: Option<Vec<String>>,
    filter: Option<std::result::Result<Expr, ExprError>>,
    limit: Option<u64>,
    batch_rows: usize,
    file_concurrency: usize,
}

/// What a scan did: files considered and pruned while planning, then row groups and rows as
/// the stream is read. Read it from [`ScanPlan::metrics`] after the stream is drained.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanMetrics {
    /// Live files in the snapshot.
    pub files_considered: u64,
    /// Files skipped because their partition values cannot match.
    pub files_pruned_by_partition: u64,
    /// Files skipped because their `add.stats` bounds cannot match.
    pub files_pruned_by_stats: u64,
    /// Files the scan reads (considered minus pruned).
    pub files_to_read: u64,
    /// Row groups in the files opened so far.
    pub row_groups_considered: u64,
    /// Row groups skipped by their Parquet statistics.
    pub row_groups_pruned: u64,
    /// Rows decoded from Parquet.
    pub rows_read: u64,
    /// Rows the scan yielded (after the row filter and limit).
    pub rows_returned: u64,
}

/// Counters shared by a plan and the streams it starts.
#[derive(Debug, Default)]
struct Counters {
    row_groups_considered: AtomicU64,
    row_groups_pruned: AtomicU64,
    rows_read: AtomicU64,
    rows_returned: AtomicU64,
}

impl ScanBuilder {
    /// A scan of all of `snapshot`'s rows and columns.
    pub(crate) fn new(snapshot: Snapshot) -> ScanBuilder {
        ScanBuilder {
            snapshot,
            columns: None,
            filter: None,
            limit: None,
            batch_rows: DEFAULT_BATCH_ROWS,
            file_concurrency: DEFAULT_FILE_CONCURRENCY,
        }
    }

    /// Reads only these columns, in this order.
    pub fn with_columns<I, S>(mut self, columns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.columns = Some(columns.into_iter().map(Into::into).collect());
        self
    }

    /// Keeps only rows for which `filter` is true (`protocol/PROTOCOL.md#predicates`): an
    /// [`Expr`] (`col("id").gt_eq(lit(10))`) or SQL-like text (`"id >= 10 AND country =
    /// 'PT'"`). Files and row groups that cannot match are skipped by their partition values
    /// and statistics. Errors in the filter are reported when the scan is planned.
    pub fn with_filter(mut self, filter: impl IntoFilter) -> Self {
        self.filter = Some(filter.into_filter());
        self
    }

    /// Stops after this many rows.
    pub fn with_limit(mut self, rows: u64) -> Self {
        self.limit = Some(rows);
        self
    }

    /// Rows per output batch (default 8192).
    pub fn with_batch_rows(mut self, rows: usize) -> Self {
        self.batch_rows = rows.max(1);
        self
    }

    /// How many files are read at once (default 4). Memory is bounded by about this many
    /// files' current row groups.
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

    /// The filter bound to the table schema, if any.
    fn predicate(&self) -> Result<Option<Arc<Predicate>>> {
        let Some(filter) = &self.filter else {
            return Ok(None);
        };
        let expr = filter.clone()?;
        let predicate = Predicate::bind(&expr, &self.snapshot.arrow_schema())?;
        Ok(Some(Arc::new(predicate)))
    }

    /// Chooses the files to read: loads statistics when the filter needs them and prunes
    /// files by partition values and statistics.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for unknown output columns, [`Error::Predicate`] for a bad
    /// filter, and errors loading statistics from the checkpoint.
    pub async fn plan(self) -> Result<ScanPlan> {
        let output = self.output_schema()?;
        let predicate = self.predicate()?;
        let partition_columns: Arc<[String]> = self.snapshot.partition_columns().into();
        let mut metrics = ScanMetrics {
            files_considered: self.snapshot.num_files() as u64,
            ..ScanMetrics::default()
        };
        let files = match &predicate {
            None => self.snapshot.files().map(|f| f.to_add()).collect(),
            Some(p) => {
                let needs_stats = p
                    .columns()
                    .iter()
                    .any(|c| !is_partition_column(&c.path, &partition_columns));
                if needs_stats {
                    self.snapshot.load_stats().await?;
                }
                prune_files(&self.snapshot, p, &partition_columns, &mut metrics)?
            }
        };
        metrics.files_to_read = files.len() as u64;
        Ok(ScanPlan {
            storage: self.snapshot.storage().clone(),
            version: self.snapshot.version(),
            table_schema: self.snapshot.arrow_schema(),
            output,
            predicate,
            partition_columns,
            files,
            limit: self.limit,
            batch_rows: self.batch_rows,
            file_concurrency: self.file_concurrency,
            planned: metrics,
            counters: Arc::new(Counters::default()),
        })
    }

    /// Starts reading; batches arrive file by file.
    ///
    /// # Errors
    /// Invalid columns or filter immediately; statistics loading and per-file errors
    /// ([`Error::Parquet`], [`Error::Storage`], [`Error::PathEscapesTable`]) inside the stream.
    pub fn execute(self) -> Result<RecordBatchStream> {
        self.output_schema()?;
        self.predicate()?;
        let stream = futures::stream::once(async move { self.plan().await?.execute() });
        Ok(stream.try_flatten().boxed())
    }

    /// Reads everything into memory.
    ///
    /// # Errors
    /// As [`ScanBuilder::execute`].
    pub async fn collect(self) -> Result<Vec<RecordBatch>> {
        self.plan().await?.collect().await
    }
}

fn is_partition_column(path: &[String], partition_columns: &[String]) -> bool {
    path.len() == 1 && partition_columns.contains(&path[0])
}

/// The live files that may hold a matching row, counting what was pruned and why.
fn prune_files(
    snapshot: &Snapshot,
    predicate: &Predicate,
    partition_columns: &[String],
    metrics: &mut ScanMetrics,
) -> Result<Vec<Add>> {
    let columns = predicate.columns();
    let data_columns: Vec<usize> = (0..columns.len())
        .filter(|&i| !is_partition_column(&columns[i].path, partition_columns))
        .collect();
    let mut kept = Vec::new();
    for file in snapshot.files() {
        let mut bounds = vec![ColumnBounds::unknown(); columns.len()];
        for (i, column) in columns.iter().enumerate() {
            if is_partition_column(&column.path, partition_columns) {
                let value = file.partition_value(&column.path[0]);
                bounds[i] = partition_bounds(value, &column.data_type);
            }
        }
        if !crate::expr::skipping::may_match(predicate, &bounds) {
            metrics.files_pruned_by_partition += 1;
            continue;
        }
        if !data_columns.is_empty()
            && let Some(stats) = file.stats()
            && let Ok(stats) = serde_json::from_str::<serde_json::Value>(stats)
        {
            let from_stats = stats_bounds(&stats, columns);
            for &i in &data_columns {
                bounds[i] = from_stats[i].clone();
            }
            if !crate::expr::skipping::may_match(predicate, &bounds) {
                metrics.files_pruned_by_stats += 1;
                continue;
            }
        }
        kept.push(file.to_add());
    }
    Ok(kept)
}

/// A partition value as exact bounds; a value that does not parse as the column's type is
/// unknown (the read reports it).
pub(crate) fn partition_bounds(value: Option<&str>, data_type: &DataType) -> ColumnBounds {
    match partition::parse_value(value, data_type, 1) {
        Ok(array) if array.is_null(0) => ColumnBounds::constant(None),
        Ok(array) => match scalar_at(array.as_ref(), 0) {
            Some(v) => ColumnBounds::constant(Some(v)),
            None => ColumnBounds::unknown(),
        },
        Err(_) => ColumnBounds::unknown(),
    }
}

/// A plan reading exactly `files` of `snapshot`, all columns, no filter (compaction reads
/// the files it rewrites this way).
pub(crate) fn scan_files(snapshot: &Snapshot, files: Vec<Add>) -> ScanPlan {
    let planned = ScanMetrics {
        files_considered: files.len() as u64,
        files_to_read: files.len() as u64,
        ..ScanMetrics::default()
    };
    ScanPlan {
        storage: snapshot.storage().clone(),
        version: snapshot.version(),
        table_schema: snapshot.arrow_schema(),
        output: snapshot.arrow_schema(),
        predicate: None,
        partition_columns: snapshot.partition_columns().into(),
        files,
        limit: None,
        batch_rows: DEFAULT_BATCH_ROWS,
        file_concurrency: DEFAULT_FILE_CONCURRENCY,
        planned,
        counters: Arc::new(Counters::default()),
    }
}

/// The files a scan will read and how; built by [`ScanBuilder::plan`].
#[derive(Debug, Clone)]
pub struct ScanPlan {
    storage: Storage,
    version: i64,
    table_schema: SchemaRef,
    output: SchemaRef,
    predicate: Option<Arc<Predicate>>,
    partition_columns: Arc<[String]>,
    files: Vec<Add>,
    limit: Option<u64>,
    batch_rows: usize,
    file_concurrency: usize,
    planned: ScanMetrics,
    counters: Arc<Counters>,
}

impl ScanPlan {
    /// The files the scan reads, in order.
    pub fn files(&self) -> &[Add] {
        &self.files
    }

    /// The bound filter, if any.
    pub fn predicate(&self) -> Option<&Predicate> {
        self.predicate.as_deref()
    }

    /// The schema of the batches the scan yields.
    pub fn output_schema(&self) -> SchemaRef {
        self.output.clone()
    }

    /// Files considered and pruned, and row groups and rows read so far.
    pub fn metrics(&self) -> ScanMetrics {
        let c = &self.counters;
        ScanMetrics {
            row_groups_considered: c.row_groups_considered.load(Ordering::Relaxed),
            row_groups_pruned: c.row_groups_pruned.load(Ordering::Relaxed),
            rows_read: c.rows_read.load(Ordering::Relaxed),
            rows_returned: c.rows_returned.load(Ordering::Relaxed),
            ..self.planned
        }
    }

    /// Starts reading: up to `file_concurrency` files at once, batches in file order.
    ///
    /// # Errors
    /// Per-file errors ([`Error::Parquet`], [`Error::Storage`],
    /// [`Error::PathEscapesTable`]) inside the stream.
    pub fn execute(&self) -> Result<RecordBatchStream> {
        let read = read_schema(&self.table_schema, &self.output, self.predicate.as_deref());
        let file = Arc::new(FileScan {
            storage: self.storage.clone(),
            read,
            output_columns: self.output.fields().len(),
            output: self.output.clone(),
            predicate: self.predicate.clone(),
            partition_columns: self.partition_columns.clone(),
            version: self.version,
            batch_rows: self.batch_rows,
            counters: self.counters.clone(),
        });
        let stream = futures::stream::iter(self.files.clone())
            .map(move |add| {
                let file = file.clone();
                async move { file.open(add).await }
            })
            .buffered(self.file_concurrency)
            .try_flatten();
        let counters = self.counters.clone();
        let Some(limit) = self.limit else {
            return Ok(stream
                .inspect_ok(move |b| {
                    counters
                        .rows_returned
                        .fetch_add(b.num_rows() as u64, Ordering::Relaxed);
                })
                .boxed());
        };
        let mut remaining = limit;
        Ok(stream
            .try_take_while(move |_| futures::future::ready(Ok(remaining > 0)))
            .map_ok(move |batch| {
                let take = (batch.num_rows() as u64).min(remaining);
                remaining -= take;
                counters.rows_returned.fetch_add(take, Ordering::Relaxed);
                batch.slice(0, usize::try_from(take).unwrap_or(usize::MAX))
            })
            .try_filter(|b| futures::future::ready(b.num_rows() > 0))
            .boxed())
    }

    /// Reads everything into memory.
    ///
    /// # Errors
    /// As [`ScanPlan::execute`].
    pub async fn collect(&self) -> Result<Vec<RecordBatch>> {
        self.execute()?.try_collect().await
    }
}

/// The output columns followed by any other top-level columns the filter reads.
fn read_schema(table: &Schema, output: &Schema, predicate: Option<&Predicate>) -> SchemaRef {
    let mut fields: Vec<Field> = output.fields().iter().map(|f| f.as_ref().clone()).collect();
    for column in predicate.map(Predicate::columns).unwrap_or_default() {
        let top = &column.path[0];
        if fields.iter().all(|f| f.name() != top)
            && let Ok(f) = table.field_with_name(top)
        {
            fields.push(f.clone());
        }
    }
    Arc::new(Schema::new(fields))
}

/// What one file's read needs.
struct FileScan {
    storage: Storage,
    /// Output columns plus filter-only columns.
    read: SchemaRef,
    output: SchemaRef,
    output_columns: usize,
    predicate: Option<Arc<Predicate>>,
    partition_columns: Arc<[String]>,
    version: i64,
    batch_rows: usize,
    counters: Arc<Counters>,
}

impl FileScan {
    async fn open(self: Arc<Self>, add: Add) -> Result<RecordBatchStream> {
        let path = self.storage.data_path(&add.path, self.version)?;
        let parquet_error = |source| Error::Parquet {
            path: path.to_string(),
            source,
        };
        let size = u64::try_from(add.size).unwrap_or_default();
        let reader = self.storage.parquet_reader(&path, size);
        let mut builder = ParquetRecordBatchStreamBuilder::new(reader)
            .await
            .map_err(parquet_error)?;
        let row_groups = builder.metadata().num_row_groups();
        self.counters
            .row_groups_considered
            .fetch_add(row_groups as u64, Ordering::Relaxed);
        if let Some(predicate) = &self.predicate {
            let keep = self.row_groups_to_read(predicate, &builder, &add.partition_values);
            let pruned = row_groups - keep.len();
            if pruned > 0 {
                self.counters
                    .row_groups_pruned
                    .fetch_add(pruned as u64, Ordering::Relaxed);
                builder = builder.with_row_groups(keep);
            }
        }
        let roots: Vec<usize> = builder
            .schema()
            .fields()
            .iter()
            .enumerate()
            .filter(|(_, f)| {
                !self.partition_columns.contains(f.name())
                    && self.read.field_with_name(f.name()).is_ok()
            })
            .map(|(i, _)| i)
            .collect();
        let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
        let stream = builder
            .with_projection(mask)
            .with_batch_size(self.batch_rows)
            .build()
            .map_err(parquet_error)?;
        Ok(self.batches(stream, add.partition_values, path.to_string()))
    }

    /// Conforms, filters and projects each decoded batch.
    fn batches(
        self: Arc<Self>,
        stream: ParquetRecordBatchStream<DataFileReader>,
        partition_values: HashMap<String, Option<String>>,
        path: String,
    ) -> RecordBatchStream {
        stream
            .map(move |batch| {
                let batch = batch.map_err(|source| Error::Parquet {
                    path: path.clone(),
                    source,
                })?;
                self.counters
                    .rows_read
                    .fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
                let fill = |field: &Field, len: usize| {
                    fill_column(field, len, &self.partition_columns, &partition_values)
                };
                let batch = conform_batch(&batch, &self.read, fill)?;
                let Some(predicate) = &self.predicate else {
                    return Ok(batch);
                };
                let filtered = predicate.filter(&batch)?;
                if self.output_columns == filtered.num_columns() {
                    return Ok(filtered);
                }
                let columns = filtered.columns()[..self.output_columns].to_vec();
                Ok(RecordBatch::try_new_with_options(
                    self.output.clone(),
                    columns,
                    &arrow::array::RecordBatchOptions::new()
                        .with_row_count(Some(filtered.num_rows())),
                )?)
            })
            .try_filter(|b| futures::future::ready(b.num_rows() > 0))
            .boxed()
    }

    /// Row groups whose footer statistics (and the file's partition values) may match.
    fn row_groups_to_read(
        &self,
        predicate: &Predicate,
        builder: &ParquetRecordBatchStreamBuilder<DataFileReader>,
        partition_values: &HashMap<String, Option<String>>,
    ) -> Vec<usize> {
        let metadata = builder.metadata();
        let row_groups = metadata.row_groups();
        let all: Vec<usize> = (0..row_groups.len()).collect();
        let file_schema = builder.schema();
        let mut per_column: Vec<Option<ColumnStats>> = Vec::new();
        for column in predicate.columns() {
            let top = &column.path[0];
            if is_partition_column(&column.path, &self.partition_columns) {
                let value = lookup_partition_value(partition_values, top);
                per_column.push(Some(ColumnStats::Constant(partition_bounds(
                    value,
                    &column.data_type,
                ))));
            } else if column.path.len() > 1 {
                per_column.push(None);
            } else if file_schema.field_with_name(top).is_err() {
                // The file predates the column: every value reads as null.
                per_column.push(Some(ColumnStats::Constant(ColumnBounds::constant(None))));
            } else {
                per_column.push(
                    row_group_stats(
                        top,
                        &column.data_type,
                        file_schema,
                        builder.parquet_schema(),
                        row_groups,
                    )
                    .map(|s| ColumnStats::RowGroups(Box::new(s))),
                );
            }
        }
        if per_column.iter().all(Option::is_none) {
            return all;
        }
        all.into_iter()
            .filter(|&rg| {
                let bounds: Vec<ColumnBounds> = per_column
                    .iter()
                    .zip(predicate.columns())
                    .map(|(stats, column)| match stats {
                        None => ColumnBounds::unknown(),
                        Some(ColumnStats::Constant(b)) => b.clone(),
                        Some(ColumnStats::RowGroups(s)) => s.bounds(rg, column.is_float()),
                    })
                    .collect();
                crate::expr::skipping::may_match(predicate, &bounds)
            })
            .collect()
    }
}

/// A predicate column's statistics within one file.
enum ColumnStats {
    /// The same in every row group (partition columns, missing columns).
    Constant(ColumnBounds),
    /// Per row group, from the footer.
    RowGroups(Box<RowGroupStats>),
}

/// One column's row-group statistics from the footer, or `None` when they cannot be read
/// or cast to the table type (the row groups are then all read).
fn row_group_stats(
    column: &str,
    table_type: &DataType,
    file_schema: &Schema,
    parquet_schema: &parquet::schema::types::SchemaDescriptor,
    row_groups: &[parquet::file::metadata::RowGroupMetaData],
) -> Option<RowGroupStats> {
    let converter = StatisticsConverter::try_new(column, file_schema, parquet_schema)
        .ok()?
        .with_missing_null_counts_as_zero(false);
    let cast = |a: ArrayRef| -> Option<ArrayRef> {
        if a.data_type() == table_type {
            Some(a)
        } else {
            arrow::compute::cast(&a, table_type).ok()
        }
    };
    Some(RowGroupStats {
        mins: cast(converter.row_group_mins(row_groups).ok()?)?,
        maxes: cast(converter.row_group_maxes(row_groups).ok()?)?,
        max_exact: converter.row_group_is_max_value_exact(row_groups).ok(),
        null_counts: converter.row_group_null_counts(row_groups).ok(),
        row_counts: converter.row_group_row_counts(row_groups).ok().flatten(),
    })
}

fn lookup_partition_value<'a>(
    values: &'a HashMap<String, Option<String>>,
    column: &str,
) -> Option<&'a str> {
    values
        .get(column)
        .or_else(|| {
            values
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(column))
                .map(|(_, v)| v)
        })
        .and_then(|v| v.as_deref())
}

/// A partition column's constant value, or nulls for a column the file does not have.
fn fill_column(
    field: &Field,
    len: usize,
    partition_columns: &[String],
    values: &HashMap<String, Option<String>>,
) -> Result<ArrayRef, ArrowError> {
    if !partition_columns.contains(field.name()) {
        return crate::protocol::schema::conform::nulls(field, len);
    }
    let value = lookup_partition_value(values, field.name());
    partition::parse_value(value, field.data_type(), len)
        .map_err(|e| ArrowError::ExternalError(Box::new(e)))
}
