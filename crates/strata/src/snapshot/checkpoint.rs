//! Reading checkpoints into the state a snapshot starts from
//! (`protocol/PROTOCOL.md#checkpoints`): classic single-file and multi-part checkpoints, and
//! V2 checkpoints with their sidecars.
//!
//! Live files are decoded column-wise ([`FileChunk`]s of Arrow arrays) and without their
//! statistics, which are most of a checkpoint's bytes: [`load_stats`] reads them later, only
//! when something needs them. The other actions (protocol, metaData, txn, domainMetadata,
//! tombstones) are few, and go through Arrow's JSON writer and [`Action`]'s serde shape, so
//! there is one definition of what an action looks like. The `*_parsed` columns are never
//! read: `stats` and `partitionValues` carry the same information (a writer that left `stats`
//! out but wrote `stats_parsed` gets the typed statistics rendered as JSON).

use std::result::Result as StdResult;
use std::sync::Arc;

use arrow::array::{Array, AsArray, BooleanArray, RecordBatch, StringArray, StructArray};
use arrow::datatypes::{DataType, Schema};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::storage::{check_parquet_metadata, parquet_read_options};
use parquet::arrow::{ParquetRecordBatchStreamBuilder, ProjectionMask};
use parquet::schema::types::SchemaDescriptor;

use crate::error::{Error, Result};
use crate::log::files::{BaseFiles, FileChunk, FileSet};
use crate::log::replay::TableState;
use crate::log::segment::LogFile;
use crate::protocol::actions::{Action, Remove, Sidecar, parse_commit};
use crate::protocol::paths::{SIDECAR_DIR, checkpoint_file_name};
use crate::protocol::schema::column_mapping::physical_partition_columns;
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

/// Which columns of a checkpoint file to decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Columns {
    /// Everything a snapshot needs at open: no statistics.
    State,
    /// [`Columns::State`] plus statistics (tests, [`parse_checkpoint`]).
    StateAndStats,
    /// Only `add` statistics (and `add.size` to keep the `add` rows identifiable).
    Stats,
    /// Only the `sidecar` actions (log cleanup).
    Sidecars,
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
            (Columns::Sidecars, add) => add.is_none() && root == "sidecar",
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
        ParquetRecordBatchReaderBuilder::try_new_with_options(bytes, parquet_read_options())
            .map_err(|e| corrupt(e.to_string()))?;
    check_parquet_metadata(builder.metadata()).map_err(|e| corrupt(e.to_string()))?;
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

/// The keys of partition values: the partition columns' physical names
/// (`protocol/PROTOCOL.md#column-mapping`).
fn partition_columns_of(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .find_map(|a| match a {
            Action::Metadata(m) => Some(physical_partition_columns(m)),
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
        path: storage.display_path(&path),
        version,
        reason,
    };
    let builder = ParquetRecordBatchStreamBuilder::new_with_options(
        storage.parquet_reader(&path, size),
        parquet_read_options(),
    )
    .await
    .map_err(|e| corrupt(e.to_string()))?;
    check_parquet_metadata(builder.metadata()).map_err(|e| corrupt(e.to_string()))?;
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
        path: storage.display_path(&path),
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
            task.await
                .map_err(|e| Error::internal(format!("checkpoint decoding task failed: {e}")))?
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
    let decoded = crate::protocol::paths::decode_path(&sidecar.path);
    let file = decoded.rsplit('/').next().unwrap_or_default();
    format!("{SIDECAR_DIR}/{file}")
}

/// Sidecars younger than this are never deleted as orphans: a checkpoint being written puts its
/// sidecars before the file that references them.
pub(crate) const SIDECAR_GRACE_MS: i64 = 24 * 60 * 60 * 1000;

/// The sidecars (`_delta_log/`-relative names, `_sidecars/<file>`) the checkpoints among
/// `files` reference: what a cleanup of `_delta_log/_sidecars/` must keep.
///
/// # Errors
/// [`Error::CorruptCheckpoint`] naming a file; [`Error::Storage`].
pub(crate) async fn referenced_sidecars<'a>(
    storage: &Storage,
    files: impl IntoIterator<Item = &'a LogFile>,
) -> Result<std::collections::HashSet<String>> {
    use crate::protocol::paths::LogFileKind;
    // Owned before any await: the future stays `Send` for every lifetime.
    let checkpoints: Vec<LogFile> = files
        .into_iter()
        .filter(|f| matches!(f.kind, LogFileKind::Checkpoint | LogFileKind::V2Checkpoint))
        .cloned()
        .collect();
    let mut referenced = std::collections::HashSet::new();
    for file in &checkpoints {
        referenced.extend(sidecars_of(storage, file).await?);
    }
    Ok(referenced)
}

/// The sidecars (`_delta_log/`-relative names) a checkpoint file references; none for a
/// classic V1 checkpoint or a part.
async fn sidecars_of(storage: &Storage, file: &LogFile) -> Result<Vec<String>> {
    let decoded = decode_all(
        storage,
        vec![(file.name.clone(), file.size)],
        file.version,
        Columns::Sidecars,
    )
    .await?;
    Ok(decoded
        .iter()
        .flat_map(|d| &d.actions)
        .filter_map(|a| match a {
            Action::Sidecar(s) => Some(sidecar_name(s)),
            _ => None,
        })
        .collect())
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
