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

use std::sync::Arc;
use std::sync::atomic::Ordering;

use arrow::array::RecordBatch;
use arrow::datatypes::{Field, Schema, SchemaRef};
use futures::{StreamExt, TryStreamExt};

use super::deletion_vectors::DeletionVectors;
use super::file::FileScan;
use super::{Counters, RecordBatchStream, is_partition_column};
use crate::error::{Error, Result};
use crate::expr::predicate::Predicate;
use crate::expr::skipping::partition_bounds;
use crate::expr::skipping::{ColumnBounds, stats_bounds};
use crate::expr::{Expr, ExprError};
use crate::protocol::actions::Add;
use crate::protocol::schema::column_mapping::{ColumnLookup, physical_path};
use crate::snapshot::Snapshot;
use crate::storage::Storage;

/// Files opened concurrently by a scan.
const DEFAULT_FILE_CONCURRENCY: usize = 4;
/// Rows per output batch.
const DEFAULT_BATCH_ROWS: usize = 8192;

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

    /// A filter already parsed (or its parse error), for the change feed.
    pub(crate) fn with_filter_result(
        mut self,
        filter: std::result::Result<Expr, ExprError>,
    ) -> Self {
        self.filter = Some(filter);
        self
    }

    /// The filter bound to the table schema, if any.
    pub(crate) fn predicate(&self) -> Result<Option<Arc<Predicate>>> {
        let Some(filter) = &self.filter else {
            return Ok(None);
        };
        let expr = filter.clone()?;
        let schema = self.snapshot.arrow_schema();
        // Bound as written first, so that errors name what the user wrote.
        let mut predicate = Predicate::bind(&expr, &schema)?;
        let implied = super::generated::with_implied_partition_filters(&self.snapshot, expr);
        if implied != *predicate.expr() {
            predicate = Predicate::bind(&implied, &schema)?;
        }
        let lookup = self.snapshot.column_lookup();
        if lookup.is_mapped() {
            predicate = predicate.with_physical_paths(|path| physical_path(&schema, path, lookup));
        }
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
            lookup: self.snapshot.column_lookup(),
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
        match file_may_match(
            predicate,
            partition_columns,
            &data_columns,
            |c| file.partition_value(c),
            file.stats(),
        ) {
            Pruned::No => kept.push(file.to_add()),
            Pruned::ByPartition => metrics.files_pruned_by_partition += 1,
            Pruned::ByStats => metrics.files_pruned_by_stats += 1,
        }
    }
    Ok(kept)
}

/// Why a file was or was not pruned.
enum Pruned {
    No,
    ByPartition,
    ByStats,
}

/// Whether a file with these partition values and statistics may hold a row matching
/// `predicate` (`data_columns`: the predicate's columns that are not partition columns).
fn file_may_match<'a>(
    predicate: &Predicate,
    partition_columns: &[String],
    data_columns: &[usize],
    partition_value: impl Fn(&str) -> Option<&'a str>,
    stats: Option<&str>,
) -> Pruned {
    let columns = predicate.columns();
    let mut bounds = vec![ColumnBounds::unknown(); columns.len()];
    for (i, column) in columns.iter().enumerate() {
        if is_partition_column(&column.path, partition_columns) {
            let value = partition_value(&column.physical_path[0]);
            bounds[i] = partition_bounds(value, &column.data_type);
        }
    }
    if !crate::expr::skipping::may_match(predicate, &bounds) {
        return Pruned::ByPartition;
    }
    if !data_columns.is_empty()
        && let Some(stats) = stats
        && let Ok(stats) = serde_json::from_str::<serde_json::Value>(stats)
    {
        let from_stats = stats_bounds(&stats, columns);
        for &i in data_columns {
            bounds[i] = from_stats[i].clone();
        }
        if !crate::expr::skipping::may_match(predicate, &bounds) {
            return Pruned::ByStats;
        }
    }
    Pruned::No
}

/// Whether the file `add` (of a table partitioned by `partition_columns`) may hold a row
/// matching `predicate`, by its partition values and statistics: what a row-level operation
/// checks a concurrent writer's new files against.
pub(crate) fn add_may_match(
    predicate: &Predicate,
    partition_columns: &[String],
    add: &Add,
) -> bool {
    let columns = predicate.columns();
    let data_columns: Vec<usize> = (0..columns.len())
        .filter(|&i| !is_partition_column(&columns[i].path, partition_columns))
        .collect();
    matches!(
        file_may_match(
            predicate,
            partition_columns,
            &data_columns,
            |c| add.partition_values.get(c).and_then(|v| v.as_deref()),
            add.stats.as_deref(),
        ),
        Pruned::No
    )
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
        lookup: snapshot.column_lookup(),
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
    lookup: ColumnLookup,
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

    /// The plan reading only the table's top-level `columns` (all of them when none is
    /// named), in table order.
    pub(crate) fn with_output_columns(mut self, columns: &[String]) -> ScanPlan {
        let fields: Vec<Field> = self
            .table_schema
            .fields()
            .iter()
            .filter(|f| columns.contains(f.name()))
            .map(|f| f.as_ref().clone())
            .collect();
        if !fields.is_empty() {
            self.output = Arc::new(Schema::new(fields));
        }
        self
    }

    /// The plan cut into at most `parts` plans over disjoint sets of its files, balanced by
    /// bytes (largest file to the lightest part), each keeping the filter, columns and limit;
    /// together they read exactly this plan's files. A query engine runs one per core. The
    /// planning metrics (files considered and pruned) stay on the first part, so the parts'
    /// metrics sum to the whole plan's.
    pub fn split(self, parts: usize) -> Vec<ScanPlan> {
        let parts = parts.clamp(1, self.files.len().max(1));
        let mut order: Vec<usize> = (0..self.files.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(self.files[i].size));
        let mut groups: Vec<(i64, Vec<usize>)> = vec![(0, Vec::new()); parts];
        for i in order {
            let lightest = groups
                .iter_mut()
                .min_by_key(|(bytes, _)| *bytes)
                .expect("parts >= 1");
            lightest.0 += self.files[i].size.max(0);
            lightest.1.push(i);
        }
        groups
            .into_iter()
            .enumerate()
            .map(|(n, (_, mut indexes))| {
                indexes.sort_unstable();
                let files: Vec<Add> = indexes.iter().map(|&i| self.files[i].clone()).collect();
                let planned = ScanMetrics {
                    files_to_read: files.len() as u64,
                    ..if n == 0 {
                        self.planned
                    } else {
                        ScanMetrics::default()
                    }
                };
                ScanPlan {
                    files,
                    planned,
                    counters: Arc::new(Counters::default()),
                    ..self.clone()
                }
            })
            .collect()
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
            lookup: self.lookup,
            version: self.version,
            batch_rows: self.batch_rows,
            counters: self.counters.clone(),
            deletion_vectors: Arc::new(DeletionVectors::default()),
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
pub(super) fn read_schema(
    table: &Schema,
    output: &Schema,
    predicate: Option<&Predicate>,
) -> SchemaRef {
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
