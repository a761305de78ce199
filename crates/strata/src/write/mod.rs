//! Writing data: append and overwrite (`protocol/PROTOCOL.md#writing-data`).
//!
//! A write conforms the input to the table schema (batches in memory are all checked before any
//! byte is written; a stream batch by batch), splits it by partition, encodes Parquet files
//! with each file's columns on several threads (`src/write/encode.rs`), uploads each file
//! under a unique name as soon as it is finished while later input is encoded, and commits one
//! `add` per file (plus `remove`s for an overwrite and a `txn` for an idempotent write) through
//! a [`Transaction`]. Data files that are uploaded but never committed are invisible to
//! readers and are vacuum's to delete.

use arrow::array::RecordBatch;
use futures::{Stream, StreamExt};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::protocol::actions::{Action, Add, Remove};
use crate::snapshot::Snapshot;
use crate::snapshot::latest::LatestSnapshot;
use crate::transaction::{CommitExtras, Transaction};
use create::{NewTable, TableDefinition};
pub use evolve::SchemaMode;

pub(crate) mod cdc;
pub(crate) mod constraints;
pub(crate) mod create;
mod encode;
pub(crate) mod evolve;
pub(crate) mod generated;
mod identity;
mod partition;
mod pipeline;

use pipeline::{Conformer, Input, prepare_input, write_data_files};
pub(crate) use pipeline::{conform_to_table, write_stream_files};

/// Default target size of a data file: 128 MiB. Parquet readers on object storage gain little
/// from larger files (one range request fetches a column chunk either way), while smaller ones
/// multiply the files a snapshot lists and the requests a scan makes; Spark and delta-rs aim
/// for the same order of size. A file is finished once its encoded size reaches the target;
/// the writer sizes its steps from the file's encoded bytes per row so that it ends close to
/// the target.
pub const DEFAULT_TARGET_FILE_SIZE: u64 = 128 * 1024 * 1024;
/// Default rows per row group: 1 Mi rows. Enough rows per column chunk for dictionary and
/// run-length encoding and compression to pay off and for reads to be few large requests,
/// while row-group statistics still let a reader skip parts of a 128 MiB file. It is also the
/// unit in which the writer closes column chunks and adds them to a file.
pub const DEFAULT_ROW_GROUP_ROWS: usize = 1024 * 1024;
/// Default bound on the bytes the files being written hold in memory, all partitions together:
/// 1 GiB (8 files of the default target size). A file's bytes stay in memory until it is
/// finished and uploaded, so a write into many partitions at once finishes its largest open
/// files early, below the target size, rather than exceed this. Uploads in flight are bounded
/// by the same number of bytes.
pub const DEFAULT_MAX_BUFFERED_BYTES: u64 = 1024 * 1024 * 1024;
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
    /// Roll to a new file once a file reaches about this many bytes
    /// (default [`DEFAULT_TARGET_FILE_SIZE`], 128 MiB).
    pub target_file_size: u64,
    /// Maximum rows per row group (default [`DEFAULT_ROW_GROUP_ROWS`], 1 Mi rows).
    pub row_group_rows: usize,
    /// Bound on the bytes all open files hold in memory together (default
    /// [`DEFAULT_MAX_BUFFERED_BYTES`], 1 GiB); the largest open files finish early, below the
    /// target size, rather than exceed it.
    pub max_buffered_bytes: u64,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            compression: Compression::SNAPPY,
            target_file_size: DEFAULT_TARGET_FILE_SIZE,
            row_group_rows: DEFAULT_ROW_GROUP_ROWS,
            max_buffered_bytes: DEFAULT_MAX_BUFFERED_BYTES,
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

/// A write request, built by [`crate::Table::write`] (batches in memory) or
/// [`crate::Table::write_stream`] (a stream of batches).
///
/// Rows are split by partition and encoded as they come, each partition into one open Parquet
/// file whose columns are encoded on several threads; a file is uploaded as soon as it reaches
/// the target size ([`DEFAULT_TARGET_FILE_SIZE`], 128 MiB; row groups of
/// [`DEFAULT_ROW_GROUP_ROWS`], 1 Mi rows), while later input is encoded. Memory is bounded
/// whatever the size of the input: the open files together hold at most
/// [`with_max_buffered_bytes`](Self::with_max_buffered_bytes) (1 GiB by default; past it the
/// largest finish early), uploads in flight as much again, plus the input being encoded.
/// Everything is committed at the end, in one commit.
#[must_use = "a write does nothing until `.execute().await`"]
pub struct WriteBuilder {
    latest: LatestSnapshot,
    input: Input,
    mode: WriteMode,
    extras: CommitExtras,
    options: WriterOptions,
    max_retries: Option<u32>,
    expected_version: Option<i64>,
    schema_mode: Option<SchemaMode>,
    /// Create the table in the same commit ([`crate::CreateBuilder::write_stream`]).
    create: Option<Box<TableDefinition>>,
}

impl WriteBuilder {
    pub(crate) fn new(latest: LatestSnapshot, batches: Vec<RecordBatch>) -> WriteBuilder {
        WriteBuilder::with_input(latest, Input::Batches(batches))
    }

    pub(crate) fn from_stream<S>(latest: LatestSnapshot, batches: S) -> WriteBuilder
    where
        S: Stream<Item = Result<RecordBatch>> + Send + 'static,
    {
        // Fused: the writer may ask for the next batch again after the end, which a plain
        // stream (e.g. `futures::stream::unfold`) is allowed to answer with a panic.
        WriteBuilder::with_input(latest, Input::Stream(batches.fuse().boxed()))
    }

    fn with_input(latest: LatestSnapshot, input: Input) -> WriteBuilder {
        WriteBuilder {
            latest,
            input,
            mode: WriteMode::Append,
            extras: CommitExtras::default(),
            options: WriterOptions::default(),
            max_retries: None,
            expected_version: None,
            schema_mode: None,
            create: None,
        }
    }

    pub(crate) fn creating(mut self, create: TableDefinition) -> WriteBuilder {
        self.create = Some(Box::new(create));
        self
    }

    /// Append (default) or overwrite.
    pub fn with_mode(mut self, mode: WriteMode) -> Self {
        self.mode = mode;
        self
    }

    /// Makes the write idempotent: it is committed together with `txn(app_id, version)`, and
    /// skipped if the table already holds a version ≥ `version` for `app_id`
    /// (`protocol/PROTOCOL.md#idempotent-writes`). Several application ids may be given (an
    /// incremental job's cursors, one per source): the write is skipped when every one is
    /// already at its version, and refused with a conflict when only some are.
    pub fn with_txn(mut self, app_id: impl Into<String>, version: i64) -> Self {
        self.extras.add_txn(app_id, version);
        self
    }

    /// Attaches a custom field to the commit's `commitInfo` (e.g. a job id).
    pub fn with_commit_metadata(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.extras.add_metadata(key, value);
        self
    }

    /// Attaches `txn` versions and `commitInfo` fields at once (see [`CommitExtras`]).
    pub fn with_commit_extras(mut self, extras: CommitExtras) -> Self {
        self.extras = extras;
        self
    }

    /// Lets the write change the table's schema (`protocol/PROTOCOL.md#schema-evolution`):
    /// [`SchemaMode::Merge`] adds the data's new columns and nested fields,
    /// [`SchemaMode::Overwrite`] (with [`WriteMode::Overwrite`]) replaces the schema; the new
    /// schema is committed with the data. Without it, data that does not fit the table is
    /// [`Error::SchemaMismatch`].
    pub fn with_schema_mode(mut self, mode: SchemaMode) -> Self {
        self.schema_mode = Some(mode);
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

    /// Bound on the bytes the files being written hold in memory, all partitions together
    /// (default [`DEFAULT_MAX_BUFFERED_BYTES`], 1 GiB): when many partitions are open at once,
    /// the largest open files are finished early (smaller than the target size) rather than
    /// exceed it.
    pub fn with_max_buffered_bytes(mut self, bytes: u64) -> Self {
        self.options.max_buffered_bytes = bytes.max(1);
        self
    }

    /// Bounds commit retries after lost races.
    pub fn with_max_retries(mut self, retries: u32) -> Self {
        self.max_retries = Some(retries);
        self
    }

    /// Commit only if the table is still at `version`, the one this job read: when it is not
    /// (checked before any file is written) or another writer commits first, the write fails
    /// with [`ConflictReason::VersionMoved`](crate::ConflictReason::VersionMoved) and commits
    /// nothing. The guard of a read-modify-write job (read version N, compute, overwrite), so a
    /// concurrent append is never silently replaced.
    pub fn with_expected_version(mut self, version: i64) -> Self {
        self.expected_version = Some(version);
        self
    }

    /// Writes the data and commits.
    ///
    /// For batches in memory, every batch is checked against the table schema before anything
    /// is written. A stream is checked batch by batch as it arrives; if a batch does not fit,
    /// or the stream yields an error, the write stops and returns that error without
    /// committing (files it already uploaded stay invisible and are vacuum's to delete).
    ///
    /// # Errors
    /// [`Error::SchemaMismatch`] (nothing committed; for batches in memory nothing written),
    /// [`Error::UnsupportedWriterFeatures`], [`Error::NotAllowed`] (overwrite of an
    /// append-only table), [`Error::Conflict`], [`Error::Storage`], [`Error::Parquet`], and
    /// any error the input stream yields.
    pub async fn execute(self) -> Result<WriteResult> {
        // A write that assigned identity values from a high-water mark another writer moved
        // first is redone on the new version, batches in memory only (a stream cannot be
        // replayed): concurrent identity writers serialize and none loses its rows.
        let replay = match &self.input {
            Input::Batches(batches) => Some(batches.clone()),
            Input::Stream(_) => None,
        };
        let mut builder = self;
        for attempt in 1.. {
            let again = replay
                .as_ref()
                .map(|batches| builder.with_batches(batches.clone()));
            let (result, assigned_identity) = builder.execute_once().await;
            match (result, again) {
                (Err(Error::Conflict { reason, .. }), Some(again))
                    if assigned_identity
                        && attempt < IDENTITY_ATTEMPTS
                        && matches!(
                            reason,
                            crate::error::ConflictReason::MetadataChanged
                                | crate::error::ConflictReason::FilesAdded { .. }
                        ) =>
                {
                    builder = again;
                }
                (result, _) => return result,
            }
        }
        unreachable!("the loop returns")
    }

    /// The same write of `batches`.
    fn with_batches(&self, batches: Vec<RecordBatch>) -> WriteBuilder {
        WriteBuilder {
            latest: self.latest.clone(),
            input: Input::Batches(batches),
            mode: self.mode,
            extras: self.extras.clone(),
            options: self.options.clone(),
            max_retries: self.max_retries,
            expected_version: self.expected_version,
            schema_mode: self.schema_mode,
            create: self.create.clone(),
        }
    }

    /// One attempt; also says whether it assigned identity values.
    async fn execute_once(self) -> (Result<WriteResult>, bool) {
        let assigned = std::sync::atomic::AtomicBool::new(false);
        let result = self.write(&assigned).await;
        (result, assigned.into_inner())
    }

    async fn write(self, assigned_identity: &std::sync::atomic::AtomicBool) -> Result<WriteResult> {
        let WriteBuilder {
            latest,
            mut input,
            mode,
            extras,
            options,
            max_retries,
            expected_version,
            schema_mode,
            create,
        } = self;
        let mut plan = CommitPlan {
            latest,
            mode,
            extras,
            max_retries,
            expected_version,
            schema_actions: Vec::new(),
        };
        // The table to create, unless one of the same shape is already there: then this is an
        // ordinary write to it.
        let new_table = match &create {
            Some(create) => match create.prepare(plan.latest.storage()).await {
                Ok(new_table) => Some(new_table),
                Err(exists @ Error::TableExists { .. }) => {
                    create.require_same_shape(&plan.latest.get().await?, exists)?;
                    None
                }
                Err(e) => return Err(e),
            },
            None => None,
        };
        let snapshot = match &new_table {
            Some(new_table) => new_table.snapshot.clone(),
            None => plan.latest.get().await?,
        };
        if let Some(applied) = plan.check_target(&snapshot)? {
            return Ok(applied);
        }
        // The files are encoded for the table as this write leaves it.
        let mut target = snapshot.clone();
        if let (Some(schema_mode), None) = (schema_mode, &new_table)
            && let Some(data_schema) = input.schema().await?
            && let Some(change) = evolve::plan(&snapshot, &data_schema, schema_mode, mode)?
        {
            target = change.snapshot;
            plan.schema_actions = change.actions;
        }
        let conformer = Conformer::new(&target)?;
        let identity = conformer.identity.clone();
        let (input, conformer) = prepare_input(input, conformer)?;
        let written = write_data_files(&target, input, conformer, &options).await?;
        // Identity values assigned: the new high-water marks are committed with the files.
        if let Some(identity) = identity
            && let Some(schema) = identity.updated_schema(target.schema())?
        {
            assigned_identity.store(true, std::sync::atomic::Ordering::Relaxed);
            let metadata = crate::protocol::actions::Metadata {
                schema_string: schema.to_json_string(),
                ..target.metadata().clone()
            };
            plan.schema_actions
                .retain(|a| !matches!(a, Action::Metadata(_)));
            plan.schema_actions.push(Action::Metadata(metadata));
        }
        let creating = new_table.is_some();
        match plan.commit(&snapshot, new_table, &written).await {
            // Another writer created the table first. The files were written for the same
            // shape of table, so they are committed to it if that is what it is.
            Err(conflict @ Error::Conflict { .. }) if creating => {
                let exists = NewTable::exists(conflict);
                let latest = plan.latest.get().await?;
                if let Some(create) = &create {
                    create.require_same_shape(&latest, exists)?;
                }
                if let Some(applied) = plan.check_target(&latest)? {
                    return Ok(applied);
                }
                plan.commit(&latest, None, &written).await
            }
            other => other,
        }
    }
}

/// Attempts of a write to a table with identity columns that lost the race for the high-water
/// mark (each redoes the write on the new version).
const IDENTITY_ATTEMPTS: u32 = 20;

/// What a write commits besides its files: the settings `execute` carries past the input.
struct CommitPlan {
    latest: LatestSnapshot,
    mode: WriteMode,
    extras: CommitExtras,
    max_retries: Option<u32>,
    expected_version: Option<i64>,
    /// `protocol` and `metaData` of a schema evolved by this write, committed first.
    schema_actions: Vec<Action>,
}

impl CommitPlan {
    /// Refuses tables strata cannot write or that forbid the operation; an idempotent write
    /// already in the table is the (successful) result.
    fn check_target(&self, snapshot: &Snapshot) -> Result<Option<WriteResult>> {
        snapshot.require_writable()?;
        // Before any file is written: a job that read another version would commit nothing.
        if let Some(expected) = self.expected_version
            && expected != snapshot.version()
        {
            return Err(Error::Conflict {
                location: snapshot.storage().location().to_string(),
                version: snapshot.version(),
                reason: crate::error::ConflictReason::VersionMoved { expected },
            });
        }
        if self.extras.already_applied(snapshot)? {
            return Ok(Some(WriteResult {
                version: snapshot.version(),
                attempts: 0,
                already_applied: true,
                num_files: 0,
                num_rows: 0,
                num_bytes: 0,
                num_removed_files: 0,
            }));
        }
        if self.mode == WriteMode::Overwrite && snapshot.table_properties().append_only {
            return Err(Error::NotAllowed {
                location: snapshot.storage().location().to_string(),
                operation: "overwrite".into(),
                reason: "the table property delta.appendOnly is true".into(),
            });
        }
        Ok(None)
    }

    /// Commits the written files on `snapshot` (with the new table's `protocol` and
    /// `metaData` when creating it).
    async fn commit(
        &self,
        snapshot: &Snapshot,
        new_table: Option<NewTable>,
        written: &[(Add, u64)],
    ) -> Result<WriteResult> {
        let num_rows: u64 = written.iter().map(|a| a.1).sum();
        let adds: Vec<Add> = written.iter().map(|a| a.0.clone()).collect();
        let num_bytes: u64 = adds.iter().map(|a| a.size.max(0) as u64).sum();
        let num_files = adds.len();
        let mut tx = Transaction::new(snapshot, "WRITE")
            .with_parameter("mode", self.mode.as_delta())
            .with_parameter(
                "partitionBy",
                serde_json::to_string(snapshot.partition_columns()).unwrap_or_default(),
            );
        if let Some(r) = self.max_retries {
            tx = tx.with_max_retries(r);
        }
        if let Some(v) = self.expected_version {
            tx = tx.with_expected_version(v);
        }
        let now = chrono::Utc::now().timestamp_millis();
        if let Some(new_table) = new_table {
            // The new table's own `metaData`, unless this write changed it (identity
            // high-water marks): one `metaData` per commit.
            let replaced = |a: &Action| {
                matches!(a, Action::Metadata(_))
                    && self
                        .schema_actions
                        .iter()
                        .any(|s| matches!(s, Action::Metadata(_)))
            };
            tx.add_actions(new_table.actions.into_iter().filter(|a| !replaced(a)));
            for (k, v) in new_table.commit_metadata {
                tx.set_commit_metadata(&k, v);
            }
        }
        if !self.schema_actions.is_empty() {
            tx.add_actions(self.schema_actions.iter().cloned());
        }
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
        tx.set_metric("numFiles", num_files);
        tx.set_metric("numOutputRows", num_rows);
        tx.set_metric("numOutputBytes", num_bytes);
        if num_removed_files > 0 {
            tx.set_metric("numRemovedFiles", num_removed_files);
        }
        self.extras.apply(&mut tx);
        let result = match tx.commit().await {
            Ok(result) => result,
            // A concurrent writer committed our `txn`: if it committed exactly our work (every
            // application id at its version), this write is already applied, not a failure
            // (`protocol/PROTOCOL.md#idempotent-writes`). Our files stay unreferenced.
            Err(
                e @ Error::Conflict {
                    reason: crate::error::ConflictReason::TxnConflict { .. },
                    ..
                },
            ) => {
                // A fresh look that leaves the handle's cached view alone: a listing that still
                // hides the winner keeps the conflict, the safe answer.
                let latest = Snapshot::load(self.latest.storage(), None).await?;
                if self.extras.already_applied(&latest).unwrap_or(false) {
                    return Ok(WriteResult {
                        version: latest.version(),
                        attempts: 0,
                        already_applied: true,
                        num_files: 0,
                        num_rows: 0,
                        num_bytes: 0,
                        num_removed_files: 0,
                    });
                }
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        self.latest.remember_committed(&result.snapshot);
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
