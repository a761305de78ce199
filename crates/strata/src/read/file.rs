//! Reading one data file of a scan: its row groups pruned by footer statistics, rows filtered,
//! columns conformed to the table schema and partition columns filled from the log's values
//! (`protocol/PROTOCOL.md#reading-data`).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::error::ArrowError;
use futures::{StreamExt, TryStreamExt};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::statistics::StatisticsConverter;
use parquet::arrow::{ParquetRecordBatchStreamBuilder, async_reader::ParquetRecordBatchStream};

use super::deletion_vectors::{DeletionVectors, row_group_ranges, row_selection};
use super::{Counters, RecordBatchStream, is_partition_column};
use crate::error::{DataFileProblem, Error, Result};
use crate::expr::predicate::Predicate;
use crate::expr::skipping::partition_bounds;
use crate::expr::skipping::{ColumnBounds, RowGroupStats};
use crate::protocol::actions::Add;
use crate::protocol::partition;
use crate::protocol::schema::column_mapping::{ColumnLookup, find_field, physical_name};
use crate::protocol::schema::conform::conform_batch;
use crate::storage::{DataFileReader, Storage};
use crate::storage::{check_parquet_metadata, parquet_read_options};
use roaring::RoaringTreemap;

/// What one file's read needs.
pub(super) struct FileScan {
    pub(super) storage: Storage,
    /// Output columns plus filter-only columns.
    pub(super) read: SchemaRef,
    pub(super) output: SchemaRef,
    pub(super) output_columns: usize,
    pub(super) predicate: Option<Arc<Predicate>>,
    pub(super) partition_columns: Arc<[String]>,
    /// How the table's columns are found in data files (column mapping).
    pub(super) lookup: ColumnLookup,
    pub(super) version: i64,
    pub(super) batch_rows: usize,
    pub(super) counters: Arc<Counters>,
    /// The scan's DV files, each fetched once.
    pub(super) deletion_vectors: Arc<DeletionVectors>,
}

/// Which rows of a data file to read.
#[derive(Debug, Clone)]
pub(crate) enum FileRows {
    /// The rows the file holds for the table: all but those its deletion vector deletes.
    Live,
    /// Only these row indexes (the rows a new deletion vector deletes, for the change feed).
    Only(RoaringTreemap),
}

impl FileScan {
    pub(super) async fn open(self: Arc<Self>, add: Add) -> Result<RecordBatchStream> {
        self.open_rows(add, FileRows::Live).await
    }

    /// Reads `rows` of the file `add` names.
    pub(super) async fn open_rows(
        self: Arc<Self>,
        add: Add,
        rows: FileRows,
    ) -> Result<RecordBatchStream> {
        let path = self.storage.data_path(&add.path, self.version)?;
        let selected = match (rows, &add.deletion_vector) {
            (FileRows::Only(keep), _) => Some(Selected::Only(keep)),
            (FileRows::Live, Some(dv)) => Some(Selected::AllBut(
                self.deletion_vectors
                    .rows(&self.storage, dv, &add.path, self.version)
                    .await?,
            )),
            (FileRows::Live, None) => None,
        };
        // A `remove` need not say how large its file is (the change feed reads removed files).
        let size = match u64::try_from(add.size) {
            Ok(size) => size,
            Err(_) => self.storage.head(&path).await?.size,
        };
        let reader = self.storage.parquet_reader(&path, size);
        let mut builder =
            match ParquetRecordBatchStreamBuilder::new_with_options(reader, parquet_read_options())
                .await
            {
                Ok(builder) => builder,
                Err(source) => return Err(self.file_error(&path, add.size, source).await),
            };
        if let Err(source) = check_parquet_metadata(builder.metadata()) {
            return Err(self.file_error(&path, add.size, source).await);
        }
        let row_groups = builder.metadata().num_row_groups();
        self.counters
            .row_groups_considered
            .fetch_add(row_groups as u64, Ordering::Relaxed);
        let mut keep: Vec<usize> = (0..row_groups).collect();
        if let Some(predicate) = &self.predicate {
            keep = self.row_groups_to_read(predicate, &builder, &add.partition_values);
            let pruned = row_groups - keep.len();
            if pruned > 0 {
                self.counters
                    .row_groups_pruned
                    .fetch_add(pruned as u64, Ordering::Relaxed);
            }
        }
        if let Some(selected) = &selected {
            // Deleted rows are skipped, not decoded: a row selection over the row groups read.
            let ranges = row_group_ranges(builder.metadata(), &keep);
            let selection = match selected {
                Selected::AllBut(deleted) => row_selection(&ranges, deleted, false),
                Selected::Only(rows) => row_selection(&ranges, rows, true),
            };
            builder = builder.with_row_selection(selection);
        }
        if keep.len() < row_groups {
            builder = builder.with_row_groups(keep);
        }
        let file_fields = builder.schema().fields().clone();
        let mut roots: Vec<usize> = self
            .read
            .fields()
            .iter()
            .filter(|f| !self.partition_columns.contains(f.name()))
            .filter_map(|f| find_field(&file_fields, f, self.lookup).map(|(i, _)| i))
            .collect();
        roots.sort_unstable();
        roots.dedup();
        let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
        let stream = match builder
            .with_projection(mask)
            .with_batch_size(self.batch_rows)
            .build()
        {
            Ok(stream) => stream,
            Err(source) => return Err(self.file_error(&path, add.size, source).await),
        };
        Ok(self.batches(stream, add.partition_values, path, add.size))
    }

    /// The error for a data file that failed to decode: [`Error::DataFileMissing`] when it is
    /// gone; else [`Error::BadDataFile`], naming a size that differs from the log's
    /// `logged_size` (a replaced or truncated file reads as garbage, "EOF: metadata requires
    /// 1033 bytes", so the size is what to report) before the decoder's complaint.
    async fn file_error(
        &self,
        path: &object_store::path::Path,
        logged_size: i64,
        source: parquet::errors::ParquetError,
    ) -> Error {
        let display = self.storage.display_path(path);
        if crate::storage::is_parquet_not_found(&source) {
            return Error::DataFileMissing {
                path: display,
                version: self.version,
            };
        }
        let mut problem = DataFileProblem::Parquet(source);
        if let Ok(expected) = u64::try_from(logged_size)
            && let Ok(meta) = self.storage.head(path).await
            && meta.size != expected
        {
            problem = DataFileProblem::SizeMismatch {
                expected,
                actual: meta.size,
            };
        }
        Error::BadDataFile {
            path: display,
            version: self.version,
            problem,
        }
    }

    /// Conforms, filters and projects each decoded batch.
    fn batches(
        self: Arc<Self>,
        stream: ParquetRecordBatchStream<DataFileReader>,
        partition_values: HashMap<String, Option<String>>,
        path: object_store::path::Path,
        logged_size: i64,
    ) -> RecordBatchStream {
        let scan = self.clone();
        let display = self.storage.display_path(&path);
        stream
            .then(move |batch| {
                let scan = scan.clone();
                let path = path.clone();
                async move {
                    match batch {
                        Ok(batch) => Ok(batch),
                        Err(source) => Err(scan.file_error(&path, logged_size, source).await),
                    }
                }
            })
            .map(move |batch| {
                let batch = batch?;
                self.counters
                    .rows_read
                    .fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
                let fill = |field: &Field, len: usize| {
                    fill_column(
                        field,
                        len,
                        &self.partition_columns,
                        &partition_values,
                        self.lookup,
                    )
                };
                let batch = conform_batch(&batch, &self.read, self.lookup, fill).map_err(|e| {
                    if is_partition_error(&e) {
                        return Error::Arrow(e);
                    }
                    Error::BadDataFile {
                        path: display.clone(),
                        version: self.version,
                        problem: DataFileProblem::Schema(e),
                    }
                })?;
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
            let in_file = self
                .read
                .field_with_name(top)
                .ok()
                .and_then(|table_field| find_field(file_schema.fields(), table_field, self.lookup))
                .map(|(_, f)| f.name().clone());
            if is_partition_column(&column.path, &self.partition_columns) {
                let value = lookup_partition_value(partition_values, &column.physical_path[0]);
                per_column.push(Some(ColumnStats::Constant(partition_bounds(
                    value,
                    &column.data_type,
                ))));
            } else if column.path.len() > 1 {
                per_column.push(None);
            } else if let Some(in_file) = in_file {
                per_column.push(
                    row_group_stats(
                        &in_file,
                        &column.data_type,
                        file_schema,
                        builder.parquet_schema(),
                        row_groups,
                    )
                    .map(|s| ColumnStats::RowGroups(Box::new(s))),
                );
            } else {
                // The file predates the column: every value reads as null.
                per_column.push(Some(ColumnStats::Constant(ColumnBounds::constant(None))));
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

/// The rows of a file a read selects, as row indexes.
enum Selected {
    /// Every row but these.
    AllBut(RoaringTreemap),
    /// Only these.
    Only(RoaringTreemap),
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
/// Whether a conform error is a partition value of the log's that does not parse (not the
/// data file's fault).
fn is_partition_error(error: &ArrowError) -> bool {
    matches!(error, ArrowError::ExternalError(e) if e.downcast_ref::<partition::PartitionError>().is_some())
}

fn fill_column(
    field: &Field,
    len: usize,
    partition_columns: &[String],
    values: &HashMap<String, Option<String>>,
    lookup: ColumnLookup,
) -> Result<ArrayRef, ArrowError> {
    if !partition_columns.contains(field.name()) {
        return crate::protocol::schema::conform::nulls(field, len);
    }
    let value = lookup_partition_value(values, physical_name(field, lookup));
    partition::parse_value(value, field.data_type(), len)
        .map_err(|e| ArrowError::ExternalError(Box::new(e)))
}
