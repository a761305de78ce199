//! Writing checkpoints (`protocol/PROTOCOL.md#checkpoints`) and cleaning up the log files
//! they make expendable (`protocol/PROTOCOL.md#log-cleanup`).
//!
//! A classic checkpoint is a Parquet file whose rows each hold one action in a struct column
//! named like the JSON key. Writing serializes each action of a snapshot to one JSON line and
//! decodes the lines with the checkpoint schema (Spark's, as the Delta spec prints it) into
//! record batches, so there is one definition of what an action looks like ([`Action`]'s serde
//! shape), then adds `add.stats_parsed` / `add.partitionValues_parsed` when the table asks for
//! them. Reading checkpoints is the snapshot layer's (`snapshot/checkpoint.rs`).
//!
//! Nothing here commits: a checkpoint and a log cleanup only summarize or trim what the log
//! already says, so the transaction layer runs them after a commit (its post-commit hook)
//! without a cycle between the two.

pub(crate) mod cleanup;
mod parsed;
mod schema;

use parsed::{parsed_columns, with_parsed_columns};
use schema::checkpoint_schema;

pub use crate::snapshot::parse_checkpoint;

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use crate::error::{Error, Result};
use crate::log::last_checkpoint::LastCheckpointHint;
use crate::log::replay::TableState;
use crate::protocol::actions::{Action, Add, DomainMetadata, Metadata, Protocol, Remove, Txn};
use crate::protocol::features::{self, TableFeature};
use crate::protocol::paths::{LAST_CHECKPOINT, checkpoint_file_name};
use crate::protocol::properties::{DELETED_FILE_RETENTION_DURATION, TableProperties};
use crate::snapshot::Snapshot;

/// Rows per record batch when encoding a checkpoint.
const CHECKPOINT_BATCH_ROWS: usize = 8192;

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
    snapshot.require_writable()?;
    // Live files carry their statistics into the checkpoint.
    snapshot.load_stats().await?;
    let storage = snapshot.storage().clone();
    let path = storage.log_path(&checkpoint_file_name(version));
    let encoded = {
        let snapshot = snapshot.clone();
        let path_text = path.to_string();
        tokio::task::spawn_blocking(move || encode_checkpoint(&snapshot, now_ms, &path_text))
            .await
            .map_err(|e| Error::internal(format!("checkpoint encoding task failed: {e}")))??
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
pub(super) enum Row<'a> {
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
                Action::CheckpointMetadata(crate::protocol::actions::CheckpointMetadata {
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

fn encode_checkpoint(snapshot: &Snapshot, now_ms: i64, path: &str) -> Result<EncodedCheckpoint> {
    let state: &TableState = snapshot.state();
    let properties = snapshot.table_properties();
    let parsed = properties
        .checkpoint_write_stats_as_struct
        .then(|| parsed_columns(snapshot));
    // `protocol/PROTOCOL.md#checkpoints`: on a table with the `v2Checkpoint` feature the
    // (classic-named) checkpoint follows the V2 spec and carries a `checkpointMetadata` row.
    let v2 = features::reader_features(snapshot.protocol()).contains(&TableFeature::V2Checkpoint);
    let base_schema = Arc::new(checkpoint_schema(None, v2));
    let schema = Arc::new(checkpoint_schema(parsed.as_ref(), v2));

    let cutoff = tombstone_cutoff(properties, now_ms);
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
pub(super) fn decode_json_lines(
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

/// Tombstones with `deletionTimestamp` at or before the returned time are expired (a missing
/// timestamp counts as 0, as in Spark). `None` keeps every tombstone: when the retention
/// property cannot be parsed, keeping more tombstones is always safe.
fn tombstone_cutoff(properties: &TableProperties, now_ms: i64) -> Option<i64> {
    match properties.deleted_file_retention() {
        Ok(retention) => Some(now_ms.saturating_sub(retention)),
        Err(raw) => {
            tracing::warn!(
                "{DELETED_FILE_RETENTION_DURATION}={raw:?} is not a valid interval; the checkpoint keeps every tombstone"
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Array, AsArray};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    use std::collections::HashMap;

    use super::*;
    use crate::protocol::properties::DEFAULT_DELETED_FILE_RETENTION_MS;
    use crate::snapshot::parse_checkpoint;

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
        let hour = [(DELETED_FILE_RETENTION_DURATION, "interval 1 hour")];
        assert_eq!(kept(&hour, "hour").await, ["b.parquet"]);
        let bad = [(DELETED_FILE_RETENTION_DURATION, "interval 1 month")];
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
            &[(
                crate::protocol::properties::CHECKPOINT_WRITE_STATS_AS_STRUCT,
                "true",
            )],
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
