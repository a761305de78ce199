//! Writing data: append and overwrite (`protocol/PROTOCOL.md#writing-data`).
//!
//! A write conforms the input to the table schema (refusing mismatches before any byte is
//! written), splits it by partition, encodes Parquet files on blocking threads in parallel,
//! uploads them under unique names, and commits one `add` per file (plus `remove`s for an
//! overwrite and a `txn` for an idempotent write) through a [`Transaction`]. Data files that
//! are uploaded but never committed are invisible to readers and are vacuum's to delete.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, RecordBatch};
use arrow::datatypes::{Schema, SchemaRef};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde_json::{Map, Value};

use crate::actions::{Action, Add, Remove, Txn};
use crate::conform::{conform_batch, nulls};
use crate::error::{Error, Result};
use crate::features;
use crate::partition;
use crate::snapshot::Snapshot;
use crate::stats::{IndexedColumns, StatsCollector};
use crate::storage::{Storage, encode_path};
use crate::transaction::Transaction;

/// Default target size of a data file: 128 MiB, the size at which Parquet readers stop gaining
/// from larger files on object storage.
pub const DEFAULT_TARGET_FILE_SIZE: u64 = 128 * 1024 * 1024;
/// Default rows per row group: large enough for good compression, small enough for row-group
/// pruning.
pub const DEFAULT_ROW_GROUP_ROWS: usize = 1024 * 1024;
/// How many data files are uploaded at once.
const UPLOAD_CONCURRENCY: usize = 8;

/// How a write treats the existing data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WriteMode {
    /// Add the data to the table.
    #[default]
    Append,
    /// Replace all live data with the new data, in one commit.
    Overwrite,
}

impl WriteMode {
    fn as_delta(self) -> &'static str {
        match self {
            WriteMode::Append => "Append",
            WriteMode::Overwrite => "Overwrite",
        }
    }
}

/// Parquet and file layout settings for a write.
#[derive(Debug, Clone)]
pub struct WriterOptions {
    /// Column compression (default Snappy, as Spark and delta-rs write).
    pub compression: Compression,
    /// Roll to a new file once a file reaches about this many bytes.
    pub target_file_size: u64,
    /// Maximum rows per row group.
    pub row_group_rows: usize,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            compression: Compression::SNAPPY,
            target_file_size: DEFAULT_TARGET_FILE_SIZE,
            row_group_rows: DEFAULT_ROW_GROUP_ROWS,
        }
    }
}

impl WriterOptions {
    fn properties(&self) -> WriterProperties {
        WriterProperties::builder()
            .set_compression(self.compression)
            .set_max_row_group_row_count(Some(self.row_group_rows))
            .set_created_by(format!("strata version {}", env!("CARGO_PKG_VERSION")))
            .build()
    }

    fn extension(&self) -> &'static str {
        match self.compression {
            Compression::UNCOMPRESSED => "",
            Compression::SNAPPY => ".snappy",
            Compression::GZIP(_) => ".gz",
            Compression::LZ4 | Compression::LZ4_RAW => ".lz4",
            Compression::ZSTD(_) => ".zstd",
            _ => "",
        }
    }

    /// Parses a compression name: `uncompressed`, `snappy`, `gzip`, `lz4`, `zstd`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for other names.
    pub fn parse_compression(name: &str) -> Result<Compression> {
        Ok(match name.to_ascii_lowercase().as_str() {
            "uncompressed" | "none" => Compression::UNCOMPRESSED,
            "snappy" => Compression::SNAPPY,
            "gzip" => Compression::GZIP(Default::default()),
            "lz4" => Compression::LZ4_RAW,
            "zstd" => Compression::ZSTD(ZstdLevel::default()),
            other => {
                return Err(Error::InvalidArgument(format!(
                    "unknown compression {other:?}; use uncompressed, snappy, gzip, lz4 or zstd"
                )));
            }
        })
    }
}

/// What a write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteResult {
    /// The version committed, or the current version when the write was already applied.
    pub version: i64,
    /// Commit attempts (1 without interference; 0 when already applied).
    pub attempts: u32,
    /// True when an idempotent write's (appId, version) was already in the table: nothing was
    /// written.
    pub already_applied: bool,
    /// Data files added.
    pub num_files: usize,
    /// Rows written.
    pub num_rows: u64,
    /// Bytes of data files written.
    pub num_bytes: u64,
    /// Files removed (overwrite).
    pub num_removed_files: usize,
}

/// A write request, built by [`crate::Table::write`].
#[must_use = "a write does nothing until `.execute().await`"]
pub struct WriteBuilder {
    table: crate::Table,
    batches: Vec<RecordBatch>,
    mode: WriteMode,
    txn: Option<(String, i64)>,
    commit_metadata: Map<String, Value>,
    options: WriterOptions,
    max_retries: Option<u32>,
}

impl WriteBuilder {
    pub(crate) fn new(table: crate::Table, batches: Vec<RecordBatch>) -> WriteBuilder {
        WriteBuilder {
            table,
            batches,
            mode: WriteMode::Append,
            txn: None,
            commit_metadata: Map::new(),
            options: WriterOptions::default(),
            max_retries: None,
        }
    }

    /// Append (default) or overwrite.
    pub fn with_mode(mut self, mode: WriteMode) -> Self {
        self.mode = mode;
        self
    }

    /// Makes the write idempotent: it is committed together with `txn(app_id, version)`, and
    /// skipped if the table already holds a version ≥ `version` for `app_id`
    /// (`protocol/PROTOCOL.md#idempotent-writes`).
    pub fn with_txn(mut self, app_id: impl Into<String>, version: i64) -> Self {
        self.txn = Some((app_id.into(), version));
        self
    }

    /// Attaches a custom field to the commit's `commitInfo` (e.g. a job id).
    pub fn with_commit_metadata(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.commit_metadata.insert(key.into(), value.into());
        self
    }

    /// Parquet compression.
    pub fn with_compression(mut self, compression: Compression) -> Self {
        self.options.compression = compression;
        self
    }

    /// Target data file size in bytes.
    pub fn with_target_file_size(mut self, bytes: u64) -> Self {
        self.options.target_file_size = bytes.max(1);
        self
    }

    /// Maximum rows per Parquet row group.
    pub fn with_row_group_rows(mut self, rows: usize) -> Self {
        self.options.row_group_rows = rows.max(1);
        self
    }

    /// Bounds commit retries after lost races.
    pub fn with_max_retries(mut self, retries: u32) -> Self {
        self.max_retries = Some(retries);
        self
    }

    /// Writes the data and commits.
    ///
    /// # Errors
    /// [`Error::SchemaMismatch`] (nothing written), [`Error::UnsupportedWriterFeatures`],
    /// [`Error::NotAllowed`] (overwrite of an append-only table), [`Error::Conflict`],
    /// [`Error::Storage`], [`Error::Parquet`].
    pub async fn execute(self) -> Result<WriteResult> {
        let snapshot = self.table.snapshot().await?;
        check_writable(&snapshot)?;
        if let Some((app_id, version)) = &self.txn
            && snapshot.txn_version(app_id).is_some_and(|v| v >= *version)
        {
            return Ok(WriteResult {
                version: snapshot.version(),
                attempts: 0,
                already_applied: true,
                num_files: 0,
                num_rows: 0,
                num_bytes: 0,
                num_removed_files: 0,
            });
        }
        if self.mode == WriteMode::Overwrite && is_append_only(&snapshot) {
            return Err(Error::NotAllowed {
                location: snapshot.storage().location().to_string(),
                operation: "overwrite".into(),
                reason: "the table property delta.appendOnly is true".into(),
            });
        }
        let batches = prepare_batches(&snapshot, &self.batches)?;
        let adds = write_data_files(&snapshot, batches, &self.options).await?;
        let num_rows: u64 = adds.iter().map(|a| a.1).sum();
        let adds: Vec<Add> = adds.into_iter().map(|a| a.0).collect();
        let num_bytes: u64 = adds.iter().map(|a| a.size as u64).sum();
        let num_files = adds.len();

        let mut tx = Transaction::new(&snapshot, "WRITE")
            .with_parameter("mode", self.mode.as_delta())
            .with_parameter(
                "partitionBy",
                serde_json::to_string(snapshot.partition_columns()).unwrap_or_default(),
            );
        if let Some(r) = self.max_retries {
            tx = tx.with_max_retries(r);
        }
        let now = chrono::Utc::now().timestamp_millis();
        let mut num_removed_files = 0;
        if self.mode == WriteMode::Overwrite {
            tx.read_whole_table();
            let removes: Vec<Action> = snapshot
                .files()
                .map(|f| Action::Remove(Remove::from_add(&f.to_add(), now, true)))
                .collect();
            num_removed_files = removes.len();
            tx.add_actions(removes);
        }
        tx.add_actions(adds.into_iter().map(Action::Add));
        if let Some((app_id, version)) = self.txn {
            tx.add_actions([Action::Txn(Txn {
                app_id,
                version,
                last_updated: Some(now),
            })]);
        }
        tx.set_metric("numFiles", num_files);
        tx.set_metric("numOutputRows", num_rows);
        tx.set_metric("numOutputBytes", num_bytes);
        if num_removed_files > 0 {
            tx.set_metric("numRemovedFiles", num_removed_files);
        }
        for (k, v) in self.commit_metadata {
            tx.set_commit_metadata(&k, v);
        }
        let result = tx.commit().await?;
        self.table.observe_commit(&result);
        Ok(WriteResult {
            version: result.version,
            attempts: result.attempts,
            already_applied: false,
            num_files,
            num_rows,
            num_bytes,
            num_removed_files,
        })
    }
}

/// Refuses tables whose writer protocol strata cannot honour.
pub(crate) fn check_writable(snapshot: &Snapshot) -> Result<()> {
    features::check_write(snapshot.protocol(), snapshot.metadata(), snapshot.schema()).map_err(
        |features| Error::UnsupportedWriterFeatures {
            location: snapshot.storage().location().to_string(),
            writer_version: snapshot.protocol().min_writer_version,
            features,
        },
    )
}

fn is_append_only(snapshot: &Snapshot) -> bool {
    snapshot
        .properties()
        .get("delta.appendOnly")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// Checks every batch against the table schema and conforms it to the table's Arrow schema.
/// All problems are reported together, before anything is written.
fn prepare_batches(snapshot: &Snapshot, batches: &[RecordBatch]) -> Result<Vec<RecordBatch>> {
    let location = snapshot.storage().location().to_string();
    let table_schema = snapshot.arrow_schema();
    let mut out = Vec::with_capacity(batches.len());
    for batch in batches.iter().filter(|b| b.num_rows() > 0) {
        snapshot
            .schema()
            .check_write_compatible(&batch.schema())
            .map_err(|e| match e {
                crate::schema::SchemaError::Mismatch { problems } => Error::SchemaMismatch {
                    location: location.clone(),
                    problems,
                },
                other => Error::Schema(other),
            })?;
        let conformed =
            conform_batch(batch, &table_schema, nulls).map_err(|e| Error::SchemaMismatch {
                location: location.clone(),
                problems: vec![e.to_string()],
            })?;
        let null_problems: Vec<String> = table_schema
            .fields()
            .iter()
            .zip(conformed.columns())
            .filter(|(f, c)| !f.is_nullable() && c.null_count() > 0)
            .map(|(f, c)| {
                format!(
                    "column `{}` is not nullable but the data has {} nulls",
                    f.name(),
                    c.null_count()
                )
            })
            .collect();
        if !null_problems.is_empty() {
            return Err(Error::SchemaMismatch {
                location,
                problems: null_problems,
            });
        }
        out.push(conformed);
    }
    Ok(out)
}

/// Writes a stream of table-schema batches as data files (not committed); for operations
/// that rewrite data (optimize).
pub(crate) async fn write_stream_files(
    snapshot: &Snapshot,
    stream: crate::scan::RecordBatchStream,
    options: &WriterOptions,
) -> Result<Vec<(Add, u64)>> {
    let batches: Vec<RecordBatch> = stream.try_collect().await?;
    write_data_files(snapshot, batches, options).await
}

/// One encoded data file, ready to upload.
struct EncodedFile {
    bytes: Bytes,
    stats: String,
    rows: u64,
}

/// Encodes and uploads the data files; returns each file's `add` and row count.
async fn write_data_files(
    snapshot: &Snapshot,
    batches: Vec<RecordBatch>,
    options: &WriterOptions,
) -> Result<Vec<(Add, u64)>> {
    let partition_columns = snapshot.partition_columns().to_vec();
    let file_schema = Arc::new(Schema::new(
        snapshot
            .arrow_schema()
            .fields()
            .iter()
            .filter(|f| !partition_columns.contains(f.name()))
            .cloned()
            .collect::<Vec<_>>(),
    ));
    let indexed = IndexedColumns::from_properties(snapshot.properties())?;
    let groups = group_by_partition(batches, &partition_columns)?;
    let parallelism = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let encoded: Vec<(partition::PartitionValues, Vec<EncodedFile>)> =
        futures::stream::iter(groups.into_iter().map(|(values, batches)| {
            let (schema, indexed, options) =
                (file_schema.clone(), indexed.clone(), options.clone());
            async move {
                let files = tokio::task::spawn_blocking(move || {
                    encode_files(batches, schema, &options, &indexed)
                })
                .await
                .map_err(|e| Error::InvalidArgument(format!("encoding task failed: {e}")))??;
                Ok::<_, Error>((values, files))
            }
        }))
        .buffered(parallelism)
        .try_collect()
        .await?;

    let extension = options.extension();
    let mut uploads = Vec::new();
    for (values, files) in encoded {
        let dir = (!partition_columns.is_empty())
            .then(|| partition::partition_dir(&partition_columns, &values));
        let partition_values: HashMap<String, Option<String>> = partition_columns
            .iter()
            .cloned()
            .zip(values.iter().cloned())
            .collect();
        for (i, file) in files.into_iter().enumerate() {
            let name = format!(
                "part-{i:05}-{}-c000{extension}.parquet",
                uuid::Uuid::new_v4()
            );
            let relative = match &dir {
                Some(dir) => format!("{dir}/{name}"),
                None => name,
            };
            uploads.push((relative, partition_values.clone(), file));
        }
    }
    // Each upload owns a clone of the storage handle, so the write future is `Send + 'static`.
    let storage = snapshot.storage().clone();
    futures::stream::iter(
        uploads
            .into_iter()
            .map(|(relative, partition_values, file)| {
                let storage = storage.clone();
                async move { upload(&storage, relative, partition_values, file).await }
            }),
    )
    .buffer_unordered(UPLOAD_CONCURRENCY)
    .try_collect()
    .await
}

async fn upload(
    storage: &Storage,
    relative: String,
    partition_values: HashMap<String, Option<String>>,
    file: EncodedFile,
) -> Result<(Add, u64)> {
    let path = storage.relative_path(&relative)?;
    let size = file.bytes.len() as i64;
    storage.put(&path, file.bytes).await?;
    let add = Add {
        path: encode_path(&relative),
        partition_values,
        size,
        modification_time: chrono::Utc::now().timestamp_millis(),
        data_change: true,
        stats: Some(file.stats),
        tags: None,
        deletion_vector: None,
        base_row_id: None,
        default_row_commit_version: None,
        clustering_provider: None,
    };
    Ok((add, file.rows))
}

/// A partition's serialized values and its rows.
type PartitionGroup = (partition::PartitionValues, Vec<RecordBatch>);

/// Groups rows by partition values, in order of first appearance; batches lose their
/// partition columns (their values live in the log, not the files).
fn group_by_partition(
    batches: Vec<RecordBatch>,
    partition_columns: &[String],
) -> Result<Vec<PartitionGroup>> {
    if partition_columns.is_empty() {
        return Ok(if batches.is_empty() {
            vec![]
        } else {
            vec![(vec![], batches)]
        });
    }
    let mut groups: Vec<PartitionGroup> = Vec::new();
    let mut index: HashMap<Vec<Option<String>>, usize> = HashMap::new();
    for batch in &batches {
        for (values, part) in partition::split_by_partition(batch, partition_columns)? {
            let slot = *index.entry(values.clone()).or_insert_with(|| {
                groups.push((values, Vec::new()));
                groups.len() - 1
            });
            groups[slot].1.push(part);
        }
    }
    Ok(groups)
}

/// Encodes batches into one or more Parquet files, rolling at the target size.
fn encode_files(
    batches: Vec<RecordBatch>,
    schema: SchemaRef,
    options: &WriterOptions,
    indexed: &IndexedColumns,
) -> Result<Vec<EncodedFile>> {
    let mut files = Vec::new();
    let mut current: Option<(ArrowWriter<Vec<u8>>, StatsCollector)> = None;
    for batch in batches {
        let batch = RecordBatch::try_new(schema.clone(), batch.columns().to_vec())?;
        let (writer, stats) = match &mut current {
            Some(c) => c,
            None => current.insert(new_writer(&schema, options, indexed)?),
        };
        writer.write(&batch).map_err(parquet_error)?;
        stats.update(&batch)?;
        if writer.bytes_written() as u64 + writer.in_progress_size() as u64
            >= options.target_file_size
            && let Some((writer, stats)) = current.take()
        {
            files.push(finish_file(writer, stats)?);
        }
    }
    if let Some((writer, stats)) = current.take() {
        files.push(finish_file(writer, stats)?);
    }
    Ok(files)
}

fn new_writer(
    schema: &SchemaRef,
    options: &WriterOptions,
    indexed: &IndexedColumns,
) -> Result<(ArrowWriter<Vec<u8>>, StatsCollector)> {
    let writer = ArrowWriter::try_new(Vec::new(), schema.clone(), Some(options.properties()))
        .map_err(parquet_error)?;
    Ok((writer, StatsCollector::new(schema, indexed)))
}

fn finish_file(writer: ArrowWriter<Vec<u8>>, stats: StatsCollector) -> Result<EncodedFile> {
    let bytes = writer.into_inner().map_err(parquet_error)?;
    Ok(EncodedFile {
        bytes: Bytes::from(bytes),
        stats: stats.finish(),
        rows: stats.num_records(),
    })
}

fn parquet_error(source: parquet::errors::ParquetError) -> Error {
    Error::Parquet {
        path: "<new data file>".into(),
        source,
    }
}
