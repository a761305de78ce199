//! Reading and writing classic checkpoints and `_last_checkpoint`
//! (`protocol/PROTOCOL.md#checkpoints`).
//!
//! A classic checkpoint is a Parquet file whose rows each hold one action in a struct column
//! named like the JSON key. Both directions go through Arrow's JSON support so there is one
//! definition of what an action looks like ([`Action`]'s serde shape):
//! - reading projects the action columns replay needs and turns each row back into JSON and
//!   then into an [`Action`] (the `*_parsed` columns are never read: `stats` and
//!   `partitionValues` carry the same information);
//! - writing serializes each action of a snapshot to one JSON line and decodes the lines with
//!   the checkpoint schema (Spark's, as the Delta spec prints it) into record batches, then
//!   adds `add.stats_parsed` / `add.partitionValues_parsed` when the table asks for them.
//!
//! (The checkpoint issue replaces the reading path with a columnar one for tables with millions
//! of files.)

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, RecordBatch, StringArray, StructArray, new_null_array,
};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{DataType, Field, FieldRef, Fields, Schema, SchemaRef};
use arrow::error::ArrowError;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::{ParquetRecordBatchStreamBuilder, ProjectionMask};
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::SchemaDescriptor;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::result::Result as StdResult;

use crate::actions::{
    Action, Add, DomainMetadata, Metadata, Protocol, Remove, Sidecar, Txn, parse_commit,
};
use crate::error::{Error, Result};
use crate::log::files::{BaseFiles, FileChunk, FileSet};
use crate::log::replay::TableState;
use crate::log::segment::{LogFile, checkpoint_file_name};
use crate::snapshot::Snapshot;
use crate::stats::{IndexedColumns, StatsCollector};
use crate::storage::Storage;

/// Action columns a snapshot reads from a checkpoint (`commitInfo` and `cdc` never matter
/// to state).
const ACTION_COLUMNS: &[&str] = &[
    "protocol",
    "metaData",
    "add",
    "remove",
    "txn",
    "domainMetadata",
    "checkpointMetadata",
    "sidecar",
];

/// Sub-columns of `add` that opening a snapshot does not decode: statistics (most of a
/// checkpoint's bytes; loaded on demand by [`load_stats`]) and the typed duplicates of
/// statistics and partition values.
const LAZY_ADD_COLUMNS: &[&str] = &["stats", "stats_parsed", "partitionValues_parsed"];

/// Rows per decoded batch, and so per [`FileChunk`].
const READ_BATCH_ROWS: usize = 32 * 1024;

/// How many checkpoint files (parts, sidecars) are decoded at once.
const READ_CONCURRENCY: usize = 8;

/// The table feature that allows V2 checkpoints.
pub const V2_CHECKPOINT_FEATURE: &str = "v2Checkpoint";

/// Directory of V2 checkpoint sidecars, inside `_delta_log/`.
pub const SIDECAR_DIR: &str = "_sidecars";

/// Name of the hint file in `_delta_log/`.
pub const LAST_CHECKPOINT: &str = "_last_checkpoint";

/// Table property: also write `add.stats_parsed` and `add.partitionValues_parsed`.
pub const WRITE_STATS_AS_STRUCT_PROPERTY: &str = "delta.checkpoint.writeStatsAsStruct";

/// Table property: how long a `remove` is kept in checkpoints (a Spark interval string).
pub const DELETED_FILE_RETENTION_PROPERTY: &str = "delta.deletedFileRetentionDuration";

/// Default of [`DELETED_FILE_RETENTION_PROPERTY`]: `interval 1 week`.
pub const DEFAULT_DELETED_FILE_RETENTION_MS: i64 = 7 * 24 * 3600 * 1000;

/// Rows per record batch when encoding a checkpoint.
const CHECKPOINT_BATCH_ROWS: usize = 8192;

// -------------------------------------------------------------------------------------------
// Reading
// -------------------------------------------------------------------------------------------

/// Which columns of a checkpoint file to decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Columns {
    /// Everything a snapshot needs at open: no statistics.
    State,
    /// [`Columns::State`] plus statistics (tests, [`parse_checkpoint`]).
    StateAndStats,
    /// Only `add` statistics (and `add.size` to keep the `add` rows identifiable).
    Stats,
}

/// One checkpoint file (a classic checkpoint, a part, a V2 top-level file or a sidecar),
/// decoded.
#[derive(Debug, Default)]
struct Decoded {
    /// The live files, one chunk per batch that had `add` rows.
    chunks: Vec<FileChunk>,
    /// `add.stats` per chunk, when decoded.
    stats: Vec<StringArray>,
    /// Every other action (protocol, metaData, remove, txn, domainMetadata, sidecar, …), and
    /// the `add`s of a JSON V2 checkpoint.
    actions: Vec<Action>,
}

/// The Parquet leaves to read for `columns`.
fn projection(schema: &SchemaDescriptor, columns: Columns) -> ProjectionMask {
    let leaves = (0..schema.num_columns()).filter(|&i| {
        let column = schema.column(i);
        let parts = column.path().parts();
        let root = parts.first().map(String::as_str).unwrap_or_default();
        let add_child = (root == "add").then(|| parts.get(1).map(String::as_str).unwrap_or(""));
        match (columns, add_child) {
            (Columns::Stats, Some(child)) => ["size", "stats", "stats_parsed"].contains(&child),
            (Columns::Stats, None) => false,
            (Columns::State, Some(child)) => !LAZY_ADD_COLUMNS.contains(&child),
            (Columns::StateAndStats, Some(child)) => child != "partitionValues_parsed",
            (_, None) => ACTION_COLUMNS.contains(&root),
        }
    });
    ProjectionMask::leaves(schema, leaves.collect::<Vec<_>>())
}

/// Splits one decoded batch into its `add` rows (column-wise) and its other actions.
fn decode_batch(
    batch: &RecordBatch,
    columns: Columns,
    into: &mut Decoded,
) -> StdResult<(), String> {
    if let Some(add) = batch.column_by_name("add") {
        let add = add
            .as_struct_opt()
            .ok_or_else(|| format!("add is {}, not a struct", add.data_type()))?;
        let add = match add.null_count() {
            0 => add.clone(),
            _ => arrow::compute::filter(add, &arrow::compute::is_not_null(add).map_err(err)?)
                .map_err(err)?
                .as_struct()
                .clone(),
        };
        if !add.is_empty() {
            if columns != Columns::Stats {
                into.chunks.push(FileChunk::try_new(&add)?);
            }
            if columns != Columns::State {
                into.stats.push(stats_of(&add)?);
            }
        }
    }
    if columns != Columns::Stats {
        into.actions.extend(other_actions(batch)?);
    }
    Ok(())
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// The non-`add` actions of a batch, through Arrow's JSON writer and [`Action`]'s serde shape
/// (few rows in practice: one protocol, one metaData, the txns, domains and tombstones).
fn other_actions(batch: &RecordBatch) -> StdResult<Vec<Action>, String> {
    let schema = batch.schema();
    let others: Vec<usize> = (0..schema.fields().len())
        .filter(|&i| schema.field(i).name() != "add")
        .collect();
    let mut mask: Option<BooleanArray> = None;
    for &i in &others {
        let valid = arrow::compute::is_not_null(batch.column(i)).map_err(err)?;
        mask = Some(match mask {
            None => valid,
            Some(m) => arrow::compute::or(&m, &valid).map_err(err)?,
        });
    }
    let Some(mask) = mask.filter(|m| m.true_count() > 0) else {
        return Ok(Vec::new());
    };
    let rows = arrow::compute::filter_record_batch(&batch.project(&others).map_err(err)?, &mask)
        .map_err(err)?;
    let mut writer =
        arrow::json::LineDelimitedWriter::new(Vec::with_capacity(rows.num_rows() * 256));
    writer.write(&rows).map_err(err)?;
    writer.finish().map_err(err)?;
    let text = writer.into_inner();
    let text = std::str::from_utf8(&text).map_err(err)?;
    let mut actions = Vec::with_capacity(rows.num_rows());
    for (row, line) in text.lines().enumerate() {
        actions.extend(Action::from_json_line(line).map_err(|e| format!("row {row}: {e}"))?);
    }
    Ok(actions)
}

/// `add.stats` of every row of `add`; where a writer left `stats` out but wrote
/// `stats_parsed` (`protocol/PROTOCOL.md#checkpoints`), the typed statistics rendered as JSON.
fn stats_of(add: &StructArray) -> StdResult<StringArray, String> {
    let text = match add.column_by_name("stats") {
        Some(a) => arrow::compute::cast(a, &DataType::Utf8)
            .map_err(|e| format!("add.stats has type {}: {e}", a.data_type()))?
            .as_string::<i32>()
            .clone(),
        None => StringArray::new_null(add.len()),
    };
    let parsed = add
        .column_by_name("stats_parsed")
        .and_then(|a| a.as_struct_opt());
    let Some(parsed) = parsed.filter(|_| text.null_count() > 0) else {
        return Ok(text);
    };
    let (fields, arrays, _) = parsed.clone().into_parts();
    let rows = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).map_err(err)?;
    let mut writer = arrow::json::LineDelimitedWriter::new(Vec::new());
    writer.write(&rows).map_err(err)?;
    writer.finish().map_err(err)?;
    let rendered = writer.into_inner();
    let rendered = std::str::from_utf8(&rendered).map_err(err)?;
    Ok(text
        .iter()
        .zip(rendered.lines())
        .enumerate()
        .map(|(i, (json, typed))| json.or_else(|| parsed.is_valid(i).then_some(typed)))
        .collect())
}

/// Parses checkpoint Parquet bytes into actions, `add`s with their statistics (a convenience
/// for tools and tests; snapshots read checkpoints column-wise).
///
/// # Errors
/// [`Error::CorruptCheckpoint`] naming the file when it is not a readable checkpoint.
pub fn parse_checkpoint(bytes: Bytes, path: &str, version: i64) -> Result<Vec<Action>> {
    let corrupt = |reason: String| Error::CorruptCheckpoint {
        path: path.to_string(),
        version,
        reason,
    };
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(|e| corrupt(e.to_string()))?;
    let mask = projection(builder.parquet_schema(), Columns::StateAndStats);
    let reader = builder
        .with_projection(mask)
        .with_batch_size(READ_BATCH_ROWS)
        .build()
        .map_err(|e| corrupt(e.to_string()))?;
    let mut decoded = Decoded::default();
    for batch in reader {
        let batch = batch.map_err(|e| corrupt(e.to_string()))?;
        decode_batch(&batch, Columns::StateAndStats, &mut decoded).map_err(corrupt)?;
    }
    let partition_columns = partition_columns_of(&decoded.actions);
    let base = BaseFiles::new(decoded.chunks, partition_columns, [], Vec::new());
    base.set_stats(decoded.stats).map_err(corrupt)?;
    let mut actions: Vec<Action> = FileSet::with_base(base)
        .iter()
        .map(|f| Action::Add(f.to_add()))
        .collect();
    restore_null_partition_values(&mut decoded.actions);
    actions.extend(decoded.actions);
    Ok(actions)
}

fn partition_columns_of(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .find_map(|a| match a {
            Action::Metadata(m) => Some(m.partition_columns.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

/// Puts back the partition columns whose null values the JSON path dropped from tombstones,
/// so a `remove` read from a checkpoint equals the one read from its commit.
fn restore_null_partition_values(actions: &mut [Action]) {
    let columns = partition_columns_of(actions);
    if columns.is_empty() {
        return;
    }
    for action in actions {
        if let Action::Remove(Remove {
            partition_values: Some(values),
            ..
        }) = action
        {
            for c in &columns {
                if !values.keys().any(|k| k.eq_ignore_ascii_case(c)) {
                    values.insert(c.clone(), None);
                }
            }
        }
    }
}

/// Decodes one Parquet checkpoint file (`name` relative to `_delta_log/`), reading only the
/// column chunks `columns` needs.
async fn decode_parquet(
    storage: &Storage,
    name: &str,
    size: u64,
    version: i64,
    columns: Columns,
) -> Result<Decoded> {
    let path = storage.log_file(name);
    let corrupt = |reason: String| Error::CorruptCheckpoint {
        path: path.to_string(),
        version,
        reason,
    };
    let builder = ParquetRecordBatchStreamBuilder::new(storage.parquet_reader(&path, size))
        .await
        .map_err(|e| corrupt(e.to_string()))?;
    let mask = projection(builder.parquet_schema(), columns);
    let mut stream = builder
        .with_projection(mask)
        .with_batch_size(READ_BATCH_ROWS)
        .build()
        .map_err(|e| corrupt(e.to_string()))?;
    let mut decoded = Decoded::default();
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(|e| corrupt(e.to_string()))?;
        decode_batch(&batch, columns, &mut decoded).map_err(corrupt)?;
    }
    Ok(decoded)
}

/// Decodes a JSON V2 checkpoint: actions like a commit's.
async fn decode_json(storage: &Storage, name: &str, version: i64) -> Result<Decoded> {
    let path = storage.log_file(name);
    let bytes = storage.get(&path).await?;
    let actions = parse_commit(&bytes).map_err(|(line, reason)| Error::CorruptCheckpoint {
        path: path.to_string(),
        version,
        reason: format!("line {line}: {reason}"),
    })?;
    Ok(Decoded {
        actions,
        ..Decoded::default()
    })
}

/// Decodes files concurrently (each on its own task, so large parts use every core), keeping
/// their order.
async fn decode_all(
    storage: &Storage,
    files: Vec<(String, u64)>,
    version: i64,
    columns: Columns,
) -> Result<Vec<Decoded>> {
    futures::stream::iter(files.into_iter().map(|(name, size)| {
        let storage = storage.clone();
        async move {
            let task = tokio::spawn(async move {
                if name.ends_with(".json") {
                    decode_json(&storage, &name, version).await
                } else {
                    decode_parquet(&storage, &name, size, version, columns).await
                }
            });
            task.await.map_err(|e| {
                Error::InvalidArgument(format!("checkpoint decoding task failed: {e}"))
            })?
        }
    }))
    .buffered(READ_CONCURRENCY)
    .try_collect()
    .await
}

/// The `_delta_log/`-relative name of a V2 sidecar (`protocol/PROTOCOL.md#checkpoints`:
/// sidecars always live in `_delta_log/_sidecars/`; writers should record only the file name,
/// so a longer path is reduced to its last segment).
fn sidecar_name(sidecar: &Sidecar) -> String {
    let decoded = crate::storage::decode_path(&sidecar.path);
    let file = decoded.rsplit('/').next().unwrap_or_default();
    format!("{SIDECAR_DIR}/{file}")
}

/// Reads the checkpoint of `version` (its parts in order, or a V2 checkpoint and its
/// sidecars) into the table state at that version, live files column-wise and without their
/// statistics (`protocol/PROTOCOL.md#checkpoints`).
///
/// # Errors
/// [`Error::CorruptCheckpoint`] naming the file; [`Error::Storage`] when a file (a sidecar,
/// say) cannot be read.
pub(crate) async fn read_checkpoint(
    storage: &Storage,
    version: i64,
    parts: &[LogFile],
) -> Result<TableState> {
    let files = parts.iter().map(|p| (p.name.clone(), p.size)).collect();
    let mut decoded = decode_all(storage, files, version, Columns::State).await?;
    let mut sources: Vec<(String, u64)> = parts
        .iter()
        .filter(|p| !p.name.ends_with(".json"))
        .map(|p| (p.name.clone(), p.size))
        .collect();
    let sidecars: Vec<(String, u64)> = decoded
        .iter()
        .flat_map(|d| &d.actions)
        .filter_map(|a| match a {
            Action::Sidecar(s) => Some((sidecar_name(s), s.size_in_bytes.max(0) as u64)),
            _ => None,
        })
        .collect();
    if !sidecars.is_empty() {
        decoded.extend(decode_all(storage, sidecars.clone(), version, Columns::State).await?);
        sources.extend(sidecars);
    }
    let mut chunks = Vec::new();
    let mut actions = Vec::new();
    for d in decoded {
        chunks.extend(d.chunks);
        actions.extend(d.actions);
    }
    restore_null_partition_values(&mut actions);
    let (tombstones, actions): (Vec<Action>, Vec<Action>) = actions
        .into_iter()
        .partition(|a| matches!(a, Action::Remove(_)));
    let tombstones = tombstones.into_iter().filter_map(|a| match a {
        Action::Remove(r) => Some(r),
        _ => None,
    });
    let base = BaseFiles::new(chunks, partition_columns_of(&actions), tombstones, sources);
    Ok(TableState::from_checkpoint(version, base, actions))
}

/// Attaches the statistics of a snapshot's checkpoint files (read again, statistics columns
/// only), unless they already are.
///
/// # Errors
/// [`Error::CorruptCheckpoint`] when the files no longer line up with what was read at open
/// (they are immutable, so only a broken store causes it); [`Error::Storage`].
pub(crate) async fn load_stats(storage: &Storage, base: &BaseFiles, version: i64) -> Result<()> {
    if base.stats_loaded() {
        return Ok(());
    }
    let decoded = decode_all(storage, base.sources().to_vec(), version, Columns::Stats).await?;
    let stats: Vec<StringArray> = decoded.into_iter().flat_map(|d| d.stats).collect();
    base.set_stats(stats)
        .map_err(|reason| Error::CorruptCheckpoint {
            path: storage.log_path(&checkpoint_file_name(version)).to_string(),
            version,
            reason,
        })
}

/// The `_last_checkpoint` hint. Only a hint: strata lists the log to find the checkpoint it
/// uses, so a missing, empty, unparsable or stale hint costs a longer listing, never
/// correctness.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LastCheckpointHint {
    /// Checkpoint version.
    pub version: i64,
    /// Number of actions in the checkpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
    /// Number of parts, for multi-part checkpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parts: Option<i64>,
    /// Total size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_in_bytes: Option<i64>,
    /// Number of add actions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_of_add_files: Option<i64>,
    /// MD5 of the canonicalized JSON of the other fields ([`last_checkpoint_checksum`]).
    /// Not validated on read: the hint is verified by listing anyway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
}

impl LastCheckpointHint {
    /// Parses the hint; `None` when it is empty or malformed.
    pub fn parse(bytes: &[u8]) -> Option<LastCheckpointHint> {
        serde_json::from_slice(bytes)
            .ok()
            .filter(|h: &LastCheckpointHint| h.version >= 0)
    }

    /// The hint as JSON with its `checksum` computed, as strata writes it.
    pub fn to_json_with_checksum(&self) -> String {
        let mut hint = self.clone();
        hint.checksum = None;
        let mut value = serde_json::to_value(&hint).unwrap_or(Value::Null);
        let checksum = last_checkpoint_checksum(&value);
        if let Value::Object(map) = &mut value {
            map.insert("checksum".into(), Value::String(checksum));
        }
        value.to_string()
    }
}

// -------------------------------------------------------------------------------------------
// Writing
// -------------------------------------------------------------------------------------------

/// What a checkpoint wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointInfo {
    /// The table version the checkpoint reconstructs.
    pub version: i64,
    /// Number of actions (rows) in the checkpoint: `_last_checkpoint.size`.
    pub num_actions: i64,
    /// Number of `add` actions: `_last_checkpoint.numOfAddFiles`.
    pub num_add_files: i64,
    /// Size of the checkpoint file in bytes: `_last_checkpoint.sizeInBytes`.
    pub size_in_bytes: i64,
}

/// Writes a classic single-file checkpoint of `snapshot` (`_delta_log/<v>.checkpoint.parquet`)
/// and then `_last_checkpoint` (`protocol/PROTOCOL.md#checkpoints`).
///
/// The checkpoint holds one row per action: `protocol`, `metaData`, every `txn`, every live
/// `add` (`dataChange=false`, `stats` as JSON, and `stats_parsed`/`partitionValues_parsed`
/// when `delta.checkpoint.writeStatsAsStruct=true`), every `remove` whose `deletionTimestamp`
/// is newer than now − `delta.deletedFileRetentionDuration` (default one week), and every live
/// `domainMetadata`; never `commitInfo`. An existing checkpoint of the same version is
/// replaced (same content). The file is written before the hint, and a store's put is
/// atomic, so a failure at any point leaves the table readable exactly as before; the hint is
/// not moved back when it already names a newer checkpoint.
///
/// # Errors
/// [`Error::InvalidArgument`] for a snapshot before the first commit;
/// [`Error::UnsupportedWriterFeatures`] when strata cannot honour the table's writer
/// protocol (a checkpoint is a write); [`Error::Arrow`] / [`Error::Parquet`] when encoding
/// fails; [`Error::Storage`] when a put fails (the checkpoint may then exist without the hint,
/// which readers handle).
pub async fn write_checkpoint(snapshot: &Snapshot) -> Result<CheckpointInfo> {
    write_checkpoint_at(snapshot, chrono::Utc::now().timestamp_millis()).await
}

/// [`write_checkpoint`] with an explicit "now" for tombstone expiry.
pub(crate) async fn write_checkpoint_at(
    snapshot: &Snapshot,
    now_ms: i64,
) -> Result<CheckpointInfo> {
    let version = snapshot.version();
    if version < 0 {
        return Err(Error::InvalidArgument(format!(
            "cannot checkpoint {}: the table has no commits yet",
            snapshot.storage().location()
        )));
    }
    crate::write::check_writable(snapshot)?;
    // Live files carry their statistics into the checkpoint.
    snapshot.load_stats().await?;
    let storage = snapshot.storage().clone();
    let path = storage.log_path(&checkpoint_file_name(version));
    let encoded = {
        let snapshot = snapshot.clone();
        let path_text = path.to_string();
        tokio::task::spawn_blocking(move || encode_checkpoint(&snapshot, now_ms, &path_text))
            .await
            .map_err(|e| {
                Error::InvalidArgument(format!("checkpoint encoding task failed: {e}"))
            })??
    };
    let info = CheckpointInfo {
        version,
        num_actions: encoded.num_actions,
        num_add_files: encoded.num_add_files,
        size_in_bytes: encoded.bytes.len() as i64,
    };
    storage.put(&path, Bytes::from(encoded.bytes)).await?;

    let hint_path = storage.log_path(LAST_CHECKPOINT);
    let newer_hint = match storage.get(&hint_path).await {
        Ok(bytes) => LastCheckpointHint::parse(&bytes).is_some_and(|h| h.version > version),
        Err(_) => false,
    };
    if !newer_hint {
        let hint = LastCheckpointHint {
            version,
            size: Some(info.num_actions),
            parts: None,
            size_in_bytes: Some(info.size_in_bytes),
            num_of_add_files: Some(info.num_add_files),
            checksum: None,
        };
        storage
            .put(&hint_path, Bytes::from(hint.to_json_with_checksum()))
            .await?;
    }
    Ok(info)
}

/// An encoded checkpoint file.
struct EncodedCheckpoint {
    bytes: Vec<u8>,
    num_actions: i64,
    num_add_files: i64,
}

/// One row of a checkpoint, borrowed from the table state (a live file is materialized from
/// its columns).
enum Row<'a> {
    CheckpointMetadata(i64),
    Protocol(&'a Protocol),
    Metadata(&'a Metadata),
    Txn(&'a Txn),
    Add(Box<Add>),
    Remove(&'a Remove),
    Domain(&'a DomainMetadata),
}

impl Row<'_> {
    /// The row as a JSON line in the action's log shape. `dataChange` is false in checkpoints
    /// (as Spark writes them) and tombstones carry neither `stats` nor `tags` (the spec's
    /// checkpoint schema has no such columns for `remove`).
    fn json_line(&self) -> String {
        let action = match self {
            Row::CheckpointMetadata(version) => {
                Action::CheckpointMetadata(crate::actions::CheckpointMetadata {
                    version: *version,
                    tags: None,
                })
            }
            Row::Protocol(p) => Action::Protocol((*p).clone()),
            Row::Metadata(m) => Action::Metadata((*m).clone()),
            Row::Txn(t) => Action::Txn((*t).clone()),
            Row::Add(a) => Action::Add(Add {
                data_change: false,
                ..(**a).clone()
            }),
            Row::Remove(r) => Action::Remove(Remove {
                data_change: false,
                stats: None,
                tags: None,
                ..(*r).clone()
            }),
            Row::Domain(d) => Action::DomainMetadata((*d).clone()),
        };
        action.to_json_line()
    }
}

/// The typed `add` columns a checkpoint carries when `writeStatsAsStruct` is on.
struct ParsedColumns {
    /// `partitionValues_parsed` fields (partition columns with their table types), if the
    /// table is partitioned.
    partition: Option<Fields>,
    /// `stats_parsed` type.
    stats: DataType,
}

fn encode_checkpoint(snapshot: &Snapshot, now_ms: i64, path: &str) -> Result<EncodedCheckpoint> {
    let state: &TableState = snapshot.state();
    let props = snapshot.properties();
    let parsed = props
        .get(WRITE_STATS_AS_STRUCT_PROPERTY)
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
        .then(|| parsed_columns(snapshot));
    // `protocol/PROTOCOL.md#checkpoints`: on a table with the `v2Checkpoint` feature the
    // (classic-named) checkpoint follows the V2 spec and carries a `checkpointMetadata` row.
    let v2 = crate::features::reader_features(snapshot.protocol()).contains(V2_CHECKPOINT_FEATURE);
    let base_schema = Arc::new(checkpoint_schema(None, v2));
    let schema = Arc::new(checkpoint_schema(parsed.as_ref(), v2));

    let cutoff = tombstone_cutoff(props, now_ms);
    let mut txns: Vec<&Txn> = state.txns.values().collect();
    txns.sort_by(|a, b| a.app_id.cmp(&b.app_id));
    let rows = v2
        .then_some(Row::CheckpointMetadata(snapshot.version()))
        .into_iter()
        .chain(state.protocol.iter().map(Row::Protocol))
        .chain(state.metadata.iter().map(Row::Metadata))
        .chain(txns.into_iter().map(Row::Txn))
        .chain(state.files.iter().map(|f| Row::Add(Box::new(f.to_add()))))
        .chain(
            state
                .files
                .tombstones()
                .filter(|r| cutoff.is_none_or(|c| r.deletion_timestamp.unwrap_or(0) > c))
                .map(Row::Remove),
        )
        .chain(state.domains.values().map(Row::Domain));

    let parquet_error = |source| Error::Parquet {
        path: path.to_string(),
        source,
    };
    let properties = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut writer = ArrowWriter::try_new(Vec::new(), schema.clone(), Some(properties))
        .map_err(parquet_error)?;
    let (mut num_actions, mut num_add_files) = (0i64, 0i64);
    let mut chunk: Vec<Row> = Vec::with_capacity(CHECKPOINT_BATCH_ROWS);
    let mut flush = |chunk: &mut Vec<Row>| -> Result<()> {
        if chunk.is_empty() {
            return Ok(());
        }
        let mut text = Vec::with_capacity(chunk.len() * 512);
        for row in chunk.iter() {
            text.extend_from_slice(row.json_line().as_bytes());
            text.push(b'\n');
        }
        let batch = decode_json_lines(base_schema.clone(), &text, chunk.len())?;
        let batch = match &parsed {
            Some(parsed) => with_parsed_columns(batch, chunk, parsed, &schema)?,
            None => batch,
        };
        writer.write(&batch).map_err(parquet_error)?;
        num_actions += chunk.len() as i64;
        num_add_files += chunk.iter().filter(|r| matches!(r, Row::Add(_))).count() as i64;
        chunk.clear();
        Ok(())
    };
    for row in rows {
        chunk.push(row);
        if chunk.len() == CHECKPOINT_BATCH_ROWS {
            flush(&mut chunk)?;
        }
    }
    flush(&mut chunk)?;
    let bytes = writer.into_inner().map_err(parquet_error)?;
    Ok(EncodedCheckpoint {
        bytes,
        num_actions,
        num_add_files,
    })
}

/// Decodes newline-delimited JSON objects into exactly `rows` rows of `schema`.
fn decode_json_lines(
    schema: SchemaRef,
    text: &[u8],
    rows: usize,
) -> std::result::Result<RecordBatch, ArrowError> {
    let mut decoder = arrow::json::ReaderBuilder::new(schema.clone())
        .with_batch_size(rows + 1)
        .build_decoder()?;
    let mut offset = 0;
    while offset < text.len() {
        let read = decoder.decode(&text[offset..])?;
        if read == 0 {
            break;
        }
        offset += read;
    }
    let batch = decoder
        .flush()?
        .unwrap_or_else(|| RecordBatch::new_empty(schema));
    if batch.num_rows() != rows {
        return Err(ArrowError::JsonError(format!(
            "expected {rows} rows, decoded {}",
            batch.num_rows()
        )));
    }
    Ok(batch)
}

// --- schema ---------------------------------------------------------------------------------

fn nullable(name: &str, data_type: DataType) -> Field {
    Field::new(name, data_type, true)
}

fn required(name: &str, data_type: DataType) -> Field {
    Field::new(name, data_type, false)
}

fn structure(fields: Vec<Field>) -> DataType {
    DataType::Struct(Fields::from(fields))
}

/// `map<string,string>` as Parquet/Spark name it (`key_value` entries, nullable values).
fn string_map() -> DataType {
    DataType::Map(
        Arc::new(Field::new(
            "key_value",
            structure(vec![
                required("key", DataType::Utf8),
                nullable("value", DataType::Utf8),
            ]),
            false,
        )),
        false,
    )
}

fn string_list() -> DataType {
    DataType::List(Arc::new(nullable("element", DataType::Utf8)))
}

fn deletion_vector() -> DataType {
    structure(vec![
        nullable("storageType", DataType::Utf8),
        nullable("pathOrInlineDv", DataType::Utf8),
        nullable("offset", DataType::Int32),
        required("sizeInBytes", DataType::Int32),
        required("cardinality", DataType::Int64),
    ])
}

/// The checkpoint schema of the Delta spec ("Checkpoint Schema"), with Spark's nullability
/// (primitive fields of an action are required within it; strings, maps, lists and optional
/// fields are nullable) and `domainMetadata` appended. `parsed` adds the typed `add` columns.
fn checkpoint_schema(parsed: Option<&ParsedColumns>, v2: bool) -> Schema {
    let mut add = vec![
        nullable("path", DataType::Utf8),
        nullable("partitionValues", string_map()),
        required("size", DataType::Int64),
        required("modificationTime", DataType::Int64),
        required("dataChange", DataType::Boolean),
        nullable("stats", DataType::Utf8),
        nullable("tags", string_map()),
        nullable("deletionVector", deletion_vector()),
        nullable("baseRowId", DataType::Int64),
        nullable("defaultRowCommitVersion", DataType::Int64),
        nullable("clusteringProvider", DataType::Utf8),
    ];
    if let Some(parsed) = parsed {
        if let Some(partition) = &parsed.partition {
            add.push(nullable(
                "partitionValues_parsed",
                DataType::Struct(partition.clone()),
            ));
        }
        add.push(nullable("stats_parsed", parsed.stats.clone()));
    }
    let mut fields = vec![
        nullable(
            "metaData",
            structure(vec![
                nullable("id", DataType::Utf8),
                nullable("name", DataType::Utf8),
                nullable("description", DataType::Utf8),
                nullable(
                    "format",
                    structure(vec![
                        nullable("provider", DataType::Utf8),
                        nullable("options", string_map()),
                    ]),
                ),
                nullable("schemaString", DataType::Utf8),
                nullable("partitionColumns", string_list()),
                nullable("createdTime", DataType::Int64),
                nullable("configuration", string_map()),
            ]),
        ),
        nullable(
            "protocol",
            structure(vec![
                required("minReaderVersion", DataType::Int32),
                required("minWriterVersion", DataType::Int32),
                nullable("readerFeatures", string_list()),
                nullable("writerFeatures", string_list()),
            ]),
        ),
        nullable(
            "txn",
            structure(vec![
                nullable("appId", DataType::Utf8),
                required("version", DataType::Int64),
                nullable("lastUpdated", DataType::Int64),
            ]),
        ),
        nullable("add", structure(add)),
        nullable(
            "remove",
            structure(vec![
                nullable("path", DataType::Utf8),
                nullable("deletionTimestamp", DataType::Int64),
                required("dataChange", DataType::Boolean),
                nullable("extendedFileMetadata", DataType::Boolean),
                nullable("partitionValues", string_map()),
                nullable("size", DataType::Int64),
                nullable("deletionVector", deletion_vector()),
                nullable("baseRowId", DataType::Int64),
                nullable("defaultRowCommitVersion", DataType::Int64),
            ]),
        ),
        nullable(
            "domainMetadata",
            structure(vec![
                nullable("domain", DataType::Utf8),
                nullable("configuration", DataType::Utf8),
                required("removed", DataType::Boolean),
            ]),
        ),
    ];
    if v2 {
        fields.push(nullable(
            "checkpointMetadata",
            structure(vec![
                required("version", DataType::Int64),
                nullable("tags", string_map()),
            ]),
        ));
    }
    Schema::new(fields)
}

// --- stats_parsed / partitionValues_parsed ----------------------------------------------------

/// The typed columns for this table: partition columns with their table types, and the stats
/// struct over exactly the columns strata's writer indexes (`protocol/PROTOCOL.md#statistics`):
/// `numRecords`, `minValues`/`maxValues` for the types that get bounds, `nullCount` (long) for
/// every indexed leaf. Empty structs are left out (Parquet cannot store them).
fn parsed_columns(snapshot: &Snapshot) -> ParsedColumns {
    let table = snapshot.arrow_schema();
    let partition_columns = snapshot.partition_columns();
    let partition: Vec<Field> = partition_columns
        .iter()
        .filter_map(|c| table.field_with_name(c).ok())
        .map(|f| nullable(f.name(), f.data_type().clone()))
        .collect();
    let data_fields: Fields = table
        .fields()
        .iter()
        .filter(|f| !partition_columns.contains(f.name()))
        .cloned()
        .collect();
    let indexed = IndexedColumns::from_properties(snapshot.properties()).unwrap_or_else(|e| {
        tracing::warn!("checkpoint stats_parsed uses the default indexed columns: {e}");
        IndexedColumns::default()
    });
    // The collector decides which leaves are indexed; with no rows its nullCount object
    // names exactly those leaves (with 0), nested like the schema.
    let collector = StatsCollector::new(&Arc::new(Schema::new(data_fields.clone())), &indexed);
    let template: Value = serde_json::from_str(&collector.finish()).unwrap_or(Value::Null);
    let empty = serde_json::Map::new();
    let indexed_tree = template
        .get("nullCount")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let (bounds, counts) = stats_fields(&data_fields, indexed_tree);
    let mut stats = vec![nullable("numRecords", DataType::Int64)];
    if !bounds.is_empty() {
        stats.push(nullable("minValues", structure(bounds.clone())));
        stats.push(nullable("maxValues", structure(bounds)));
    }
    if !counts.is_empty() {
        stats.push(nullable("nullCount", structure(counts)));
    }
    ParsedColumns {
        partition: (!partition.is_empty()).then(|| Fields::from(partition)),
        stats: structure(stats),
    }
}

/// (min/max fields, nullCount fields) for the leaves of `fields` present in `indexed`.
fn stats_fields(
    fields: &Fields,
    indexed: &serde_json::Map<String, Value>,
) -> (Vec<Field>, Vec<Field>) {
    let (mut bounds, mut counts) = (Vec::new(), Vec::new());
    for field in fields {
        let Some(entry) = indexed.get(field.name()) else {
            continue;
        };
        match (field.data_type(), entry) {
            (DataType::Struct(children), Value::Object(inner)) => {
                let (b, c) = stats_fields(children, inner);
                if !b.is_empty() {
                    bounds.push(nullable(field.name(), structure(b)));
                }
                if !c.is_empty() {
                    counts.push(nullable(field.name(), structure(c)));
                }
            }
            (data_type, _) => {
                counts.push(nullable(field.name(), DataType::Int64));
                if has_bounds(data_type) {
                    bounds.push(nullable(field.name(), data_type.clone()));
                }
            }
        }
    }
    (bounds, counts)
}

/// Types strata writes min/max statistics for.
fn has_bounds(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::Float32
            | DataType::Float64
            | DataType::Decimal128(..)
            | DataType::Date32
            | DataType::Timestamp(..)
            | DataType::Utf8
    )
}

/// Adds `partitionValues_parsed` and `stats_parsed` to the `add` column of `batch`.
fn with_parsed_columns(
    batch: RecordBatch,
    rows: &[Row],
    parsed: &ParsedColumns,
    schema: &SchemaRef,
) -> Result<RecordBatch> {
    let add_index = batch.schema().index_of("add")?;
    let (fields, mut arrays, nulls) = batch.column(add_index).as_struct().clone().into_parts();
    let mut fields: Vec<FieldRef> = fields.iter().cloned().collect();
    let is_add: Vec<bool> = rows.iter().map(|r| matches!(r, Row::Add(_))).collect();
    if let Some(partition) = &parsed.partition {
        let array = partition_values_parsed(rows, partition, &is_add)?;
        fields.push(Arc::new(nullable(
            "partitionValues_parsed",
            array.data_type().clone(),
        )));
        arrays.push(array);
    }
    fields.push(Arc::new(nullable("stats_parsed", parsed.stats.clone())));
    arrays.push(stats_parsed(rows, &parsed.stats)?);
    let add = StructArray::try_new(Fields::from(fields), arrays, nulls)?;
    let mut columns = batch.columns().to_vec();
    columns[add_index] = Arc::new(add);
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// Partition values parsed with the same rules a scan uses; a value that does not parse is
/// null (it only costs pruning).
fn partition_values_parsed(rows: &[Row], partition: &Fields, is_add: &[bool]) -> Result<ArrayRef> {
    let mut columns = Vec::with_capacity(partition.len());
    for field in partition {
        let null = new_null_array(field.data_type(), 1);
        let mut cache: HashMap<Option<&str>, ArrayRef> = HashMap::new();
        let mut parts: Vec<ArrayRef> = Vec::with_capacity(rows.len());
        for row in rows {
            let Row::Add(add) = row else {
                parts.push(null.clone());
                continue;
            };
            let value = add
                .partition_values
                .get(field.name())
                .and_then(|v| v.as_deref());
            let array = cache.entry(value).or_insert_with(|| {
                crate::partition::parse_value(value, field.data_type(), 1).unwrap_or_else(|e| {
                    tracing::warn!("partitionValues_parsed left null for {}: {e}", add.path);
                    null.clone()
                })
            });
            parts.push(array.clone());
        }
        let refs: Vec<&dyn Array> = parts.iter().map(|a| a.as_ref()).collect();
        columns.push(arrow::compute::concat(&refs)?);
    }
    let nulls = NullBuffer::from(is_add.to_vec());
    Ok(Arc::new(StructArray::try_new(
        partition.clone(),
        columns,
        Some(nulls),
    )?))
}

/// `add.stats` decoded into `stats_type`. A row whose stats are absent, not a JSON object, or
/// do not fit the types (another writer's stats) is null rather than failing the checkpoint.
fn stats_parsed(rows: &[Row], stats_type: &DataType) -> Result<ArrayRef> {
    let schema = Arc::new(Schema::new(vec![nullable("s", stats_type.clone())]));
    let stats: Vec<Option<&str>> = rows
        .iter()
        .map(|r| match r {
            Row::Add(a) => a.stats.as_deref().filter(|s| is_json_object(s)),
            _ => None,
        })
        .collect();
    if let Ok(array) = decode_stats(&schema, &stats) {
        return Ok(array);
    }
    let mut parts = Vec::with_capacity(stats.len());
    for s in &stats {
        parts.push(
            decode_stats(&schema, std::slice::from_ref(s)).unwrap_or_else(|e| {
                tracing::warn!("stats_parsed left null for stats that do not fit the schema: {e}");
                new_null_array(stats_type, 1)
            }),
        );
    }
    let refs: Vec<&dyn Array> = parts.iter().map(|a| a.as_ref()).collect();
    Ok(arrow::compute::concat(&refs)?)
}

fn decode_stats(
    schema: &SchemaRef,
    stats: &[Option<&str>],
) -> std::result::Result<ArrayRef, ArrowError> {
    let mut text = Vec::with_capacity(stats.len() * 256);
    for s in stats {
        match s {
            Some(s) => {
                text.extend_from_slice(b"{\"s\":");
                text.extend_from_slice(s.as_bytes());
                text.extend_from_slice(b"}\n");
            }
            None => text.extend_from_slice(b"{}\n"),
        }
    }
    Ok(decode_json_lines(schema.clone(), &text, stats.len())?
        .column(0)
        .clone())
}

/// True when `s` is exactly one JSON object (so splicing it into a line cannot change framing).
fn is_json_object(s: &str) -> bool {
    s.trim_start().starts_with('{') && serde_json::from_str::<serde::de::IgnoredAny>(s).is_ok()
}

// --- tombstone retention ----------------------------------------------------------------------

/// Tombstones with `deletionTimestamp` at or before the returned time are expired (a missing
/// timestamp counts as 0, as in Spark). `None` keeps every tombstone: when the retention
/// property cannot be parsed, keeping more tombstones is always safe.
fn tombstone_cutoff(props: &HashMap<String, String>, now_ms: i64) -> Option<i64> {
    let retention = match props.get(DELETED_FILE_RETENTION_PROPERTY) {
        None => DEFAULT_DELETED_FILE_RETENTION_MS,
        Some(raw) => match parse_interval_ms(raw) {
            Some(ms) => ms,
            None => {
                tracing::warn!(
                    "{DELETED_FILE_RETENTION_PROPERTY}={raw:?} is not a valid interval; the checkpoint keeps every tombstone"
                );
                return None;
            }
        },
    };
    Some(now_ms.saturating_sub(retention))
}

/// Parses a Spark calendar interval as Delta's duration properties use it (`interval 1 week`,
/// `interval 7 days`, `168 hours`, `interval 1 day 12 hours`) into milliseconds. Units: week,
/// day, hour, minute, second, millisecond, microsecond (singular or plural, any case); the
/// `interval` keyword is optional. Months and years have no fixed length and are refused, as
/// Delta refuses them; so are negative totals and anything else (`None`).
pub fn parse_interval_ms(text: &str) -> Option<i64> {
    let lower = text.trim().to_ascii_lowercase();
    let mut words = lower.split_whitespace().peekable();
    if words.peek() == Some(&"interval") {
        words.next();
    }
    let mut total_us: i64 = 0;
    let mut any = false;
    while let Some(number) = words.next() {
        let n: i64 = number.parse().ok()?;
        let unit = words.next()?;
        let unit = unit.strip_suffix('s').unwrap_or(unit);
        let per_unit_us: i64 = match unit {
            "week" => 7 * 86_400_000_000,
            "day" => 86_400_000_000,
            "hour" => 3_600_000_000,
            "minute" => 60_000_000,
            "second" => 1_000_000,
            "millisecond" => 1_000,
            "microsecond" => 1,
            _ => return None,
        };
        total_us = total_us.checked_add(n.checked_mul(per_unit_us)?)?;
        any = true;
    }
    (any && total_us >= 0).then_some(total_us / 1000)
}

/// A duration in its largest whole unit (`7 days`, `36 hours`, `1500 ms`), for messages: the
/// inverse, for people, of [`parse_interval_ms`].
pub fn format_duration_ms(ms: i64) -> String {
    const UNITS: [(i64, &str); 5] = [
        (7 * 86_400_000, "week"),
        (86_400_000, "day"),
        (3_600_000, "hour"),
        (60_000, "minute"),
        (1_000, "second"),
    ];
    if ms == 0 {
        return "0 seconds".into();
    }
    for (size, unit) in UNITS {
        if ms % size == 0 {
            let n = ms / size;
            return format!("{n} {unit}{}", if n.abs() == 1 { "" } else { "s" });
        }
    }
    format!("{ms} ms")
}

// --- `_last_checkpoint` checksum ----------------------------------------------------------------

/// The `checksum` of a `_last_checkpoint` JSON as the Delta spec defines it ("JSON checksum"):
/// the MD5 hex digest of the canonical form, which lists every leaf as `path=value` (names
/// quoted and URL-encoded, array positions bare, segments joined by `+`, string values quoted
/// and URL-encoded, other scalars as written), sorted by path bytes and joined by `,`, ignoring
/// a top-level `checksum`.
pub fn last_checkpoint_checksum(json: &Value) -> String {
    md5_hex(canonical_json(json).as_bytes())
}

/// The canonical form the checksum is computed over.
pub fn canonical_json(json: &Value) -> String {
    let mut pairs: Vec<(String, String)> = Vec::new();
    match json {
        Value::Object(map) => {
            for (k, v) in map.iter().filter(|(k, _)| k.as_str() != "checksum") {
                canonical_pairs(v, quote(k), &mut pairs);
            }
        }
        other => canonical_pairs(other, String::new(), &mut pairs),
    }
    pairs.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    pairs
        .iter()
        .map(|(p, v)| format!("{p}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn canonical_pairs(value: &Value, path: String, out: &mut Vec<(String, String)>) {
    let child = |segment: String| {
        if path.is_empty() {
            segment
        } else {
            format!("{path}+{segment}")
        }
    };
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                canonical_pairs(v, child(quote(k)), out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                canonical_pairs(v, child(i.to_string()), out);
            }
        }
        Value::String(s) => out.push((path, quote(s))),
        scalar => out.push((path, scalar.to_string())),
    }
}

/// `"` + URL-encoded text + `"`: every octet but `A-Z a-z 0-9 - . _ ~` as uppercase `%XX`.
fn quote(text: &str) -> String {
    const RESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    format!(
        "\"{}\"",
        percent_encoding::utf8_percent_encode(text, RESERVED)
    )
}

/// MD5 (RFC 1321) as lowercase hex; only the `_last_checkpoint` checksum needs it.
fn md5_hex(data: &[u8]) -> String {
    const SHIFTS: [[u32; 4]; 4] = [
        [7, 12, 17, 22],
        [5, 9, 14, 20],
        [4, 11, 16, 23],
        [6, 10, 15, 21],
    ];
    // K[i] = floor(|sin(i + 1)| * 2^32), exact in f64 for these arguments.
    let k: Vec<u32> = (0..64)
        .map(|i| ((i as f64 + 1.0).sin().abs() * 4_294_967_296.0) as u32)
        .collect();
    let mut state: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];
    let mut message = data.to_vec();
    let bit_len = (data.len() as u64).wrapping_mul(8);
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&bit_len.to_le_bytes());
    for block in message.chunks_exact(64) {
        let words: Vec<u32> = block
            .chunks_exact(4)
            .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
            .collect();
        let [mut a, mut b, mut c, mut d] = state;
        for i in 0..64 {
            let (f, g) = match i / 16 {
                0 => ((b & c) | (!b & d), i),
                1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let f = f.wrapping_add(a).wrapping_add(k[i]).wrapping_add(words[g]);
            a = d;
            d = c;
            c = b;
            b = b.wrapping_add(f.rotate_left(SHIFTS[i / 16][i % 4]));
        }
        state[0] = state[0].wrapping_add(a);
        state[1] = state[1].wrapping_add(b);
        state[2] = state[2].wrapping_add(c);
        state[3] = state[3].wrapping_add(d);
    }
    state
        .iter()
        .flat_map(|s| s.to_le_bytes())
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hint_parsing_is_lenient() {
        assert_eq!(
            LastCheckpointHint::parse(br#"{"version":10,"size":3}"#)
                .unwrap()
                .version,
            10
        );
        for bad in [&b""[..], b"{", b"{\"version\":-1}", b"null", b"[]"] {
            assert_eq!(LastCheckpointHint::parse(bad), None);
        }
    }

    #[test]
    fn garbage_is_a_corrupt_checkpoint() {
        let err = parse_checkpoint(
            Bytes::from_static(b"not parquet"),
            "x.checkpoint.parquet",
            10,
        )
        .unwrap_err();
        assert!(matches!(err, Error::CorruptCheckpoint { version: 10, .. }));
    }
    #[test]
    fn md5_matches_rfc_1321_vectors() {
        for (input, digest) in [
            ("", "d41d8cd98f00b204e9800998ecf8427e"),
            ("a", "0cc175b9c0f1b6a831c399e269772661"),
            ("abc", "900150983cd24fb0d6963f7d28e17f72"),
            ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
            (
                "abcdefghijklmnopqrstuvwxyz",
                "c3fcd3d76192e4007dfb496cca67e13b",
            ),
            (
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
                "d174ab98d277d9f5a5611c2c9f419d9f",
            ),
            (
                "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
                "57edf4a22be3c955ac49da2e2107b67a",
            ),
        ] {
            assert_eq!(md5_hex(input.as_bytes()), digest, "{input:?}");
        }
    }

    #[test]
    fn checksum_matches_the_spec_example() {
        let json: Value = serde_json::from_str(
            r#"{"k0":"'v 0'", "checksum": "adsaskfljadfkjadfkj", "k1":{"k2": 2, "k3": ["v3", [1, 2], {"k4": "v4", "k5": ["v5", "v6", "v7"]}]}}"#,
        )
        .unwrap();
        assert_eq!(
            canonical_json(&json),
            r#""k0"="%27v%200%27","k1"+"k2"=2,"k1"+"k3"+0="v3","k1"+"k3"+1+0=1,"k1"+"k3"+1+1=2,"k1"+"k3"+2+"k4"="v4","k1"+"k3"+2+"k5"+0="v5","k1"+"k3"+2+"k5"+1="v6","k1"+"k3"+2+"k5"+2="v7""#
        );
        assert_eq!(
            last_checkpoint_checksum(&json),
            "6a92d155a59bf2eecbd4b4ec7fd1f875"
        );
    }

    #[test]
    fn hint_is_written_with_its_checksum() {
        let hint = LastCheckpointHint {
            version: 10,
            size: Some(13),
            parts: None,
            size_in_bytes: Some(2048),
            num_of_add_files: Some(9),
            checksum: None,
        };
        let text = hint.to_json_with_checksum();
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            canonical_json(&value),
            r#""numOfAddFiles"=9,"size"=13,"sizeInBytes"=2048,"version"=10"#
        );
        assert_eq!(
            value["checksum"].as_str().unwrap(),
            md5_hex(br#""numOfAddFiles"=9,"size"=13,"sizeInBytes"=2048,"version"=10"#)
        );
        let parsed = LastCheckpointHint::parse(text.as_bytes()).unwrap();
        assert_eq!((parsed.version, parsed.size), (10, Some(13)));
    }

    #[test]
    fn durations_format_in_their_largest_whole_unit_and_parse_back() {
        for (ms, text) in [
            (7 * 86_400_000, "1 week"),
            (36 * 3_600_000, "36 hours"),
            (0, "0 seconds"),
            (1_500, "1500 ms"),
            (90_000, "90 seconds"),
        ] {
            assert_eq!(format_duration_ms(ms), text);
            if !text.ends_with(" ms") {
                assert_eq!(parse_interval_ms(text), Some(ms), "{text}");
            }
        }
    }

    #[test]
    fn spark_intervals_parse() {
        let day = 86_400_000;
        for (text, ms) in [
            ("interval 1 week", 7 * day),
            ("interval 7 days", 7 * day),
            ("interval 168 hours", 7 * day),
            ("INTERVAL 2 Weeks", 14 * day),
            ("30 days", 30 * day),
            ("interval 1 day 12 hours", day + day / 2),
            ("interval 90 minutes", 5_400_000),
            ("interval 5 seconds 7 milliseconds", 5_007),
            ("interval 1500 microseconds", 1),
            ("interval 0 seconds", 0),
        ] {
            assert_eq!(parse_interval_ms(text), Some(ms), "{text}");
        }
        for bad in [
            "",
            "interval",
            "interval 1 month",
            "interval 1 year",
            "interval -1 days",
            "interval 1.5 days",
            "interval days",
            "1 fortnight",
            "interval 1 day extra",
        ] {
            assert_eq!(parse_interval_ms(bad), None, "{bad}");
        }
    }

    fn sample_add(path: &str, part: Option<&str>, stats: Option<&str>) -> Add {
        Add {
            partition_values: [("p".to_string(), part.map(str::to_string))].into(),
            modification_time: 7,
            stats: stats.map(str::to_string),
            ..Add::for_test(path, 100)
        }
    }

    /// A snapshot at version 0 holding `actions` on a fresh in-memory store.
    fn snapshot_of(name: &str, properties: &[(&str, &str)], actions: Vec<Action>) -> Snapshot {
        let storage =
            crate::Storage::open(&format!("memory://checkpoint-unit/{name}"), &HashMap::new())
                .unwrap();
        let protocol = Protocol {
            min_reader_version: 1,
            min_writer_version: 2,
            reader_features: None,
            writer_features: None,
        };
        let metadata = Metadata {
            id: "id".into(),
            name: None,
            description: None,
            format: Default::default(),
            schema_string: r#"{"type":"struct","fields":[{"name":"id","type":"long","nullable":true,"metadata":{}},{"name":"s","type":"string","nullable":true,"metadata":{}},{"name":"p","type":"integer","nullable":true,"metadata":{}}]}"#.into(),
            partition_columns: vec!["p".into()],
            created_time: Some(1),
            configuration: properties
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        let mut all = vec![
            Action::Protocol(protocol.clone()),
            Action::Metadata(metadata.clone()),
        ];
        all.extend(actions);
        Snapshot::for_new_table(&storage, protocol, metadata)
            .unwrap()
            .advance(vec![(0, all)], 0)
            .unwrap()
    }

    async fn read_back(snapshot: &Snapshot) -> (Vec<Action>, RecordBatch) {
        let path = snapshot
            .storage()
            .log_path(&checkpoint_file_name(snapshot.version()));
        let bytes = snapshot.storage().get(&path).await.unwrap();
        let batches: Vec<RecordBatch> = ParquetRecordBatchReaderBuilder::try_new(bytes.clone())
            .unwrap()
            .build()
            .unwrap()
            .collect::<std::result::Result<_, _>>()
            .unwrap();
        let batch = arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
        (
            parse_checkpoint(bytes, "cp", snapshot.version()).unwrap(),
            batch,
        )
    }

    #[tokio::test]
    async fn checkpoint_round_trips_every_kind_of_action() {
        let now = 10 * DEFAULT_DELETED_FILE_RETENTION_MS;
        let stats = r#"{"numRecords":3,"minValues":{"id":1,"s":"a"},"maxValues":{"id":9,"s":"z"},"nullCount":{"id":0,"s":1}}"#;
        let removed = sample_add("gone.parquet", Some("1"), None);
        let expired = sample_add("old.parquet", Some("1"), None);
        let actions = vec![
            Action::Add(sample_add("p=1/a.parquet", Some("1"), Some(stats))),
            Action::Add(sample_add(
                "p=__HIVE_DEFAULT_PARTITION__/b%20c.parquet",
                None,
                None,
            )),
            Action::Add(removed.clone()),
            Action::Add(expired.clone()),
            Action::Remove(Remove::from_add(&removed, now - 1000, true)),
            Action::Remove(Remove::from_add(
                &expired,
                now - DEFAULT_DELETED_FILE_RETENTION_MS,
                true,
            )),
            Action::Txn(Txn {
                app_id: "b".into(),
                version: 4,
                last_updated: Some(3),
            }),
            Action::Txn(Txn {
                app_id: "a".into(),
                version: 1,
                last_updated: None,
            }),
            Action::DomainMetadata(DomainMetadata {
                domain: "strata.x".into(),
                configuration: "{}".into(),
                removed: false,
            }),
        ];
        let snapshot = snapshot_of("kinds", &[], actions);
        let info = write_checkpoint_at(&snapshot, now).await.unwrap();
        assert_eq!(
            (info.version, info.num_actions, info.num_add_files),
            (0, 2 + 2 + 2 + 1 + 1, 2)
        );
        let (read, batch) = read_back(&snapshot).await;
        assert_eq!(info.num_actions as usize, batch.num_rows());
        let mut state = TableState::new();
        state.apply(0, read);
        let expected = snapshot.state();
        assert_eq!(state.protocol, expected.protocol);
        assert_eq!(state.metadata, expected.metadata);
        assert_eq!(state.txns, expected.txns);
        assert_eq!(state.domains, expected.domains);
        let normalized: Vec<Add> = expected
            .files
            .iter()
            .map(|f| Add {
                data_change: false,
                ..f.to_add()
            })
            .collect();
        let adds = |state: &TableState| state.files.iter().map(|f| f.to_add()).collect::<Vec<_>>();
        assert_eq!(adds(&state), normalized);
        let tombstones: Vec<&Remove> = state.files.tombstones().collect();
        assert_eq!(
            tombstones
                .iter()
                .map(|r| r.path.as_str())
                .collect::<Vec<_>>(),
            ["gone.parquet"],
            "the tombstone older than the retention is left out"
        );
        // The columnar path a snapshot takes reads the same state, statistics on demand.
        let loaded = Snapshot::load(snapshot.storage(), None).await.unwrap();
        let base = loaded
            .state()
            .files
            .base()
            .expect("read from the checkpoint");
        assert_eq!(base.len(), 2);
        assert!(loaded.files().all(|f| f.stats().is_none()));
        loaded.load_stats().await.unwrap();
        let mut columnar = adds(loaded.state());
        columnar.sort_by(|a, b| a.path.cmp(&b.path));
        assert_eq!(columnar, normalized);
        assert_eq!(
            loaded.state().files.tombstones().collect::<Vec<_>>(),
            tombstones
        );
        let kept = tombstones[0];
        assert_eq!(
            (kept.deletion_timestamp, kept.data_change),
            (Some(now - 1000), false)
        );
        assert_eq!(
            kept.partition_values,
            Some([("p".to_string(), Some("1".to_string()))].into())
        );
        let batch_schema = batch.schema();
        let names: Vec<&str> = batch_schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        assert_eq!(
            names,
            [
                "metaData",
                "protocol",
                "txn",
                "add",
                "remove",
                "domainMetadata"
            ]
        );
        let add = batch.column_by_name("add").unwrap().as_struct();
        assert!(add.column_by_name("stats_parsed").is_none());

        let hint = snapshot
            .storage()
            .get(&snapshot.storage().log_path(LAST_CHECKPOINT))
            .await
            .unwrap();
        let hint = LastCheckpointHint::parse(&hint).unwrap();
        assert_eq!(hint.version, 0);
        assert_eq!(hint.size, Some(info.num_actions));
        assert_eq!(hint.num_of_add_files, Some(2));
        assert_eq!(hint.size_in_bytes, Some(info.size_in_bytes));
        assert_eq!(hint.checksum.map(|c| c.len()), Some(32));
    }

    #[tokio::test]
    async fn unparsable_retention_keeps_every_tombstone_and_short_retention_drops_more() {
        let now = 1_000_000_000;
        let a = sample_add("a.parquet", Some("1"), None);
        let b = sample_add("b.parquet", Some("1"), None);
        let actions = || {
            vec![
                Action::Add(a.clone()),
                Action::Add(b.clone()),
                Action::Remove(Remove::from_add(&a, now - 2 * 3_600_000, true)),
                Action::Remove(Remove {
                    deletion_timestamp: Some(now - 60_000),
                    ..Remove::from_add(&b, 0, true)
                }),
            ]
        };
        let kept = |props: &[(&str, &str)], name: &str| {
            let snapshot = snapshot_of(name, props, actions());
            async move {
                write_checkpoint_at(&snapshot, now).await.unwrap();
                let (read, _) = read_back(&snapshot).await;
                let mut paths: Vec<String> = read
                    .into_iter()
                    .filter_map(|a| match a {
                        Action::Remove(r) => Some(r.path),
                        _ => None,
                    })
                    .collect();
                paths.sort();
                paths
            }
        };
        let hour = [(DELETED_FILE_RETENTION_PROPERTY, "interval 1 hour")];
        assert_eq!(kept(&hour, "hour").await, ["b.parquet"]);
        let bad = [(DELETED_FILE_RETENTION_PROPERTY, "interval 1 month")];
        assert_eq!(kept(&bad, "bad").await, ["a.parquet", "b.parquet"]);
        assert_eq!(kept(&[], "default").await, ["a.parquet", "b.parquet"]);
    }

    #[tokio::test]
    async fn stats_as_struct_is_typed_by_the_table_schema() {
        let good = r#"{"numRecords":3,"minValues":{"id":1,"s":"a"},"maxValues":{"id":9,"s":"z"},"nullCount":{"id":0,"s":1}}"#;
        let misfit = r#"{"numRecords":2,"minValues":{"id":"not a number"}}"#;
        let actions = vec![
            Action::Add(sample_add("p=1/a.parquet", Some("1"), Some(good))),
            Action::Add(sample_add("p=2/b.parquet", Some("2"), Some(misfit))),
            Action::Add(sample_add("p=x/c.parquet", Some("x"), Some("{not json"))),
            Action::Add(sample_add(
                "p=__HIVE_DEFAULT_PARTITION__/d.parquet",
                None,
                None,
            )),
        ];
        let snapshot = snapshot_of(
            "struct",
            &[(WRITE_STATS_AS_STRUCT_PROPERTY, "true")],
            actions,
        );
        write_checkpoint_at(&snapshot, 0).await.unwrap();
        let (read, batch) = read_back(&snapshot).await;
        assert_eq!(
            read.iter().filter(|a| matches!(a, Action::Add(_))).count(),
            4
        );
        let add = batch.column_by_name("add").unwrap().as_struct();
        let paths = add.column_by_name("path").unwrap().as_string::<i32>();
        let row = |path: &str| {
            (0..batch.num_rows())
                .find(|&i| !add.is_null(i) && paths.value(i) == path)
                .unwrap()
        };

        let parsed = add
            .column_by_name("partitionValues_parsed")
            .unwrap()
            .as_struct();
        assert_eq!(parsed.fields().len(), 1);
        let p = parsed
            .column_by_name("p")
            .unwrap()
            .as_primitive::<arrow::datatypes::Int32Type>();
        assert_eq!(p.value(row("p=1/a.parquet")), 1);
        assert_eq!(p.value(row("p=2/b.parquet")), 2);
        assert!(
            p.is_null(row("p=x/c.parquet")),
            "an unparsable value is null"
        );
        assert!(p.is_null(row("p=__HIVE_DEFAULT_PARTITION__/d.parquet")));
        let first_non_add = (0..batch.num_rows()).find(|&i| add.is_null(i)).unwrap();
        assert!(parsed.is_null(first_non_add));

        let stats = add.column_by_name("stats_parsed").unwrap().as_struct();
        let names: Vec<&str> = stats.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["numRecords", "minValues", "maxValues", "nullCount"]);
        let min = stats.column_by_name("minValues").unwrap().as_struct();
        let min_names: Vec<&str> = min.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(min_names, ["id", "s"], "partition columns get no stats");
        let i = row("p=1/a.parquet");
        let num = stats
            .column_by_name("numRecords")
            .unwrap()
            .as_primitive::<arrow::datatypes::Int64Type>();
        assert_eq!(num.value(i), 3);
        let min_id = min
            .column_by_name("id")
            .unwrap()
            .as_primitive::<arrow::datatypes::Int64Type>();
        assert_eq!(min_id.value(i), 1);
        let max_s = stats
            .column_by_name("maxValues")
            .unwrap()
            .as_struct()
            .column_by_name("s")
            .unwrap()
            .as_string::<i32>()
            .value(i)
            .to_string();
        assert_eq!(max_s, "z");
        let nc = stats
            .column_by_name("nullCount")
            .unwrap()
            .as_struct()
            .column_by_name("s")
            .unwrap()
            .as_primitive::<arrow::datatypes::Int64Type>();
        assert_eq!(nc.value(i), 1);
        assert!(
            stats.is_null(row("p=2/b.parquet")),
            "stats that do not fit are null"
        );
        assert!(stats.is_null(row("p=x/c.parquet")));
        assert!(stats.is_null(row("p=__HIVE_DEFAULT_PARTITION__/d.parquet")));
    }

    #[tokio::test]
    async fn hint_is_not_moved_back_and_empty_tables_are_refused() {
        let snapshot = snapshot_of("hint", &[], vec![]);
        let storage = snapshot.storage().clone();
        let hint_path = storage.log_path(LAST_CHECKPOINT);
        storage
            .put(&hint_path, Bytes::from_static(br#"{"version":5,"size":2}"#))
            .await
            .unwrap();
        write_checkpoint_at(&snapshot, 0).await.unwrap();
        let hint = LastCheckpointHint::parse(&storage.get(&hint_path).await.unwrap()).unwrap();
        assert_eq!(hint.version, 5);
        storage
            .put(&hint_path, Bytes::from_static(b"garbage"))
            .await
            .unwrap();
        write_checkpoint_at(&snapshot, 0).await.unwrap();
        let hint = LastCheckpointHint::parse(&storage.get(&hint_path).await.unwrap()).unwrap();
        assert_eq!(hint.version, 0);

        let empty = Snapshot::for_new_table(
            &storage,
            snapshot.protocol().clone(),
            snapshot.metadata().clone(),
        )
        .unwrap();
        assert!(matches!(
            write_checkpoint(&empty).await,
            Err(Error::InvalidArgument(_))
        ));
    }
}
