//! The Delta log's actions, named and shaped exactly as the protocol names them.
//!
//! See `protocol/PROTOCOL.md#actions`. Every line of a commit file is one JSON object with a
//! single key naming the action. Keys strata does not know are skipped (the protocol requires
//! readers to tolerate them), so a newer writer's actions never make a table unreadable; the
//! protocol gate (`features.rs`) is what refuses tables strata cannot honour.
//!
//! Parsing goes through private raw structs and is validated at the edge (`TryFrom`), so no
//! path into the rest of the crate skips the checks.
//!
//! The actions a checkpoint holds derive `ToArrowFields` (`arrow_fields.rs`): their struct
//! columns in the checkpoint schema (`protocol/PROTOCOL.md#checkpoints`) are read off these
//! structs, so a new field is added here once. A field a checkpoint leaves out is marked
//! `#[checkpoint(skip)]`.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::arrow_fields::ToArrowFields;

/// `protocol`: the reader and writer versions and, from reader 3 / writer 7, named features.
/// `protocol/PROTOCOL.md#supported-features`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToArrowFields)]
#[serde(rename_all = "camelCase")]
pub struct Protocol {
    /// Lowest reader version a client must implement to read the table.
    pub min_reader_version: i32,
    /// Lowest writer version a client must implement to write the table.
    pub min_writer_version: i32,
    /// Reader features, present if and only if `min_reader_version == 3`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reader_features: Option<Vec<String>>,
    /// Writer features, present if and only if `min_writer_version == 7`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub writer_features: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawProtocol {
    min_reader_version: i32,
    min_writer_version: i32,
    reader_features: Option<Vec<String>>,
    writer_features: Option<Vec<String>>,
}

impl TryFrom<RawProtocol> for Protocol {
    type Error = String;

    /// Checks the rule in both directions: feature lists exist iff the version that enables
    /// them is used. delta-rs once wrote empty `readerFeatures` at reader 1, so an *empty* list
    /// at a legacy version is accepted and dropped rather than refused.
    fn try_from(raw: RawProtocol) -> Result<Self, String> {
        if raw.min_reader_version < 1 || raw.min_writer_version < 1 {
            return Err(format!(
                "protocol versions must be at least 1, found reader {} writer {}",
                raw.min_reader_version, raw.min_writer_version
            ));
        }
        let reader_features = match (raw.min_reader_version, raw.reader_features) {
            (3, None) => return Err("minReaderVersion 3 requires readerFeatures".into()),
            (3, some) => some,
            (_, Some(f)) if !f.is_empty() => {
                return Err(format!(
                    "readerFeatures {f:?} present with minReaderVersion {}; only version 3 lists features",
                    raw.min_reader_version
                ));
            }
            _ => None,
        };
        let writer_features = match (raw.min_writer_version, raw.writer_features) {
            (7, None) => return Err("minWriterVersion 7 requires writerFeatures".into()),
            (7, some) => some,
            (_, Some(f)) if !f.is_empty() => {
                return Err(format!(
                    "writerFeatures {f:?} present with minWriterVersion {}; only version 7 lists features",
                    raw.min_writer_version
                ));
            }
            _ => None,
        };
        Ok(Protocol {
            min_reader_version: raw.min_reader_version,
            min_writer_version: raw.min_writer_version,
            reader_features,
            writer_features,
        })
    }
}

/// `metaData.format`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToArrowFields)]
pub struct Format {
    /// Always `parquet` for Delta tables.
    pub provider: String,
    /// Provider options (unused by Delta; kept as written).
    #[serde(default)]
    pub options: HashMap<String, String>,
}

impl Default for Format {
    fn default() -> Self {
        Format {
            provider: "parquet".into(),
            options: HashMap::new(),
        }
    }
}

/// `metaData`: the table's identity, schema, partitioning and properties.
/// `protocol/PROTOCOL.md#actions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToArrowFields)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    /// Unique table id (a UUID), fixed at creation. Read leniently (empty when absent), as
    /// other clients do: a `metaData` that a later one supersedes need not be complete.
    #[serde(default)]
    pub id: String,
    /// Optional user-facing name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Optional description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Data file format.
    #[serde(default)]
    pub format: Format,
    /// The schema as Delta schema JSON (parsed by [`crate::protocol::schema::StructType::parse`]).
    /// Read leniently (empty when absent, as in the first commit of some Delta Live Tables
    /// tables); a snapshot whose latest `metaData` has no schema is refused.
    #[serde(default)]
    pub schema_string: String,
    /// Names of the partition columns, in directory order.
    #[serde(default)]
    pub partition_columns: Vec<String>,
    /// Creation time in milliseconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_time: Option<i64>,
    /// Table properties (`delta.*`, `strata.*`, user keys). Values may be null in the wild;
    /// such entries are dropped on read.
    #[serde(default, deserialize_with = "de_string_map")]
    pub configuration: HashMap<String, String>,
}

fn de_string_map<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<HashMap<String, String>, D::Error> {
    let raw: Option<HashMap<String, Option<String>>> = Option::deserialize(d)?;
    Ok(raw
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect())
}

/// A deletion vector descriptor (`protocol/PROTOCOL.md#actions`). strata refuses tables that
/// enable deletion vectors for now; the field is parsed so that refusal is precise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToArrowFields)]
#[serde(rename_all = "camelCase")]
pub struct DeletionVectorDescriptor {
    /// `u` (relative path), `i` (inline) or `p` (absolute path).
    pub storage_type: String,
    /// Path, inline data or UUID depending on the storage type.
    pub path_or_inline_dv: String,
    /// Offset within the DV file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<i32>,
    /// Serialized size in bytes.
    pub size_in_bytes: i32,
    /// Number of rows the vector deletes.
    pub cardinality: i64,
}

/// The reconciliation key of a file: its decoded path plus its deletion vector's identity, as
/// the protocol defines (a file with a new DV replaces the old pairing).
pub fn file_key(path: &str, dv: Option<&DeletionVectorDescriptor>) -> String {
    let decoded = super::paths::decode_path(path);
    match dv {
        None => decoded,
        Some(dv) => format!(
            "{decoded}\u{0}{}{}{}",
            dv.storage_type,
            dv.path_or_inline_dv,
            dv.offset.unwrap_or(-1)
        ),
    }
}

/// `add`: a data file becomes part of the table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToArrowFields)]
#[serde(rename_all = "camelCase")]
pub struct Add {
    /// A URI relative to the table root (or absolute). Percent-encoded: decode once to get the
    /// object path ([`decode_path`](super::paths::decode_path)).
    pub path: String,
    /// Partition column → serialized value (`None` is SQL NULL).
    #[serde(default)]
    pub partition_values: HashMap<String, Option<String>>,
    /// File size in bytes.
    pub size: i64,
    /// File modification time in milliseconds since the epoch.
    pub modification_time: i64,
    /// Whether the commit changed data (false for compaction).
    pub data_change: bool,
    /// Per-file statistics as a JSON string (`protocol/PROTOCOL.md#statistics`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<String>,
    /// Free-form tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<HashMap<String, Option<String>>>,
    /// Deletion vector, when the table uses them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_vector: Option<DeletionVectorDescriptor>,
    /// Row tracking: first row id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_row_id: Option<i64>,
    /// Row tracking: default commit version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_row_commit_version: Option<i64>,
    /// Clustering provider, for clustered tables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clustering_provider: Option<String>,
}

/// `remove`: a data file leaves the table (a tombstone until vacuum).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToArrowFields)]
#[serde(rename_all = "camelCase")]
pub struct Remove {
    /// Same encoding as [`Add::path`].
    pub path: String,
    /// When the file was logically deleted, in milliseconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_timestamp: Option<i64>,
    /// Whether the commit changed data.
    pub data_change: bool,
    /// Whether the fields below are present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extended_file_metadata: Option<bool>,
    /// Partition values of the removed file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition_values: Option<HashMap<String, Option<String>>>,
    /// Size of the removed file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
    /// Statistics of the removed file. Not a checkpoint column: tombstones carry none there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[checkpoint(skip)]
    pub stats: Option<String>,
    /// Tags of the removed file. Not a checkpoint column, as `stats`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[checkpoint(skip)]
    pub tags: Option<HashMap<String, Option<String>>>,
    /// Deletion vector of the removed file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_vector: Option<DeletionVectorDescriptor>,
    /// Row tracking: first row id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_row_id: Option<i64>,
    /// Row tracking: default commit version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_row_commit_version: Option<i64>,
}

#[cfg(test)]
impl Metadata {
    /// A metadata action with `configuration` and nothing else of note, for unit tests.
    pub(crate) fn with_configuration(configuration: &[(&str, &str)]) -> Metadata {
        Metadata {
            id: "x".into(),
            name: None,
            description: None,
            format: Default::default(),
            schema_string: "{}".into(),
            partition_columns: vec![],
            created_time: None,
            configuration: configuration
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }
}

impl Remove {
    /// The tombstone for a live file, carrying its metadata (extended file metadata) so change
    /// readers and vacuum have what they need without the add.
    pub fn from_add(add: &Add, deletion_timestamp: i64, data_change: bool) -> Remove {
        Remove {
            path: add.path.clone(),
            deletion_timestamp: Some(deletion_timestamp),
            data_change,
            extended_file_metadata: Some(true),
            partition_values: Some(add.partition_values.clone()),
            size: Some(add.size),
            stats: None,
            tags: add.tags.clone(),
            deletion_vector: add.deletion_vector.clone(),
            base_row_id: add.base_row_id,
            default_row_commit_version: add.default_row_commit_version,
        }
    }
}

impl Add {
    /// The rows the file holds for the table: `numRecords` from its statistics less the rows
    /// its deletion vector deletes; `None` without statistics.
    /// (A negative count in the log is no count.)
    pub fn num_records(&self) -> Option<i64> {
        let physical = Stats::parse(self.stats.as_deref())?
            .num_records
            .filter(|n| *n >= 0)?;
        let deleted = self.deletion_vector.as_ref().map_or(0, |dv| dv.cardinality);
        physical.checked_sub(deleted)
    }
}

#[cfg(test)]
impl Add {
    /// A minimal `add` for unit tests: unpartitioned, no stats.
    pub(crate) fn for_test(path: &str, size: i64) -> Add {
        Add {
            path: path.into(),
            partition_values: Default::default(),
            size,
            modification_time: 0,
            data_change: true,
            stats: None,
            tags: None,
            deletion_vector: None,
            base_row_id: None,
            default_row_commit_version: None,
            clustering_provider: None,
        }
    }
}

/// `txn`: the latest version an application has committed, for idempotent writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToArrowFields)]
#[serde(rename_all = "camelCase")]
pub struct Txn {
    /// The application's id.
    pub app_id: String,
    /// The application-defined version it committed.
    pub version: i64,
    /// When it was committed, in milliseconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<i64>,
}

/// `cdc`: a change data file written by a DML commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cdc {
    /// Same encoding as [`Add::path`].
    pub path: String,
    /// Partition values.
    #[serde(default)]
    pub partition_values: HashMap<String, Option<String>>,
    /// Size in bytes.
    pub size: i64,
    /// Always false for cdc files.
    pub data_change: bool,
    /// Free-form tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<HashMap<String, Option<String>>>,
}

/// `domainMetadata`: named configuration owned by a system or a user (`strata.*` domains are
/// strata's, see `protocol/PROTOCOL.md#strata-extensions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToArrowFields)]
#[serde(rename_all = "camelCase")]
pub struct DomainMetadata {
    /// Domain name.
    pub domain: String,
    /// The domain's configuration, a string (usually JSON).
    pub configuration: String,
    /// True when the domain is removed.
    pub removed: bool,
}

/// `commitInfo`: provenance of a commit. Free-form: every field is optional, fields of the
/// wrong type are ignored rather than failing the commit, and unknown fields (a job id a writer
/// attached, Spark's `clusterId`, …) are kept in [`CommitInfo::extra`].
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CommitInfo {
    /// In-commit timestamp, when the table enables them (must be the first action).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_commit_timestamp: Option<i64>,
    /// Wall-clock time of the commit in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<i64>,
    /// Operation name (`WRITE`, `CREATE TABLE`, `DELETE`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// Operation parameters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation_parameters: Option<Map<String, Value>>,
    /// The version the writer read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_version: Option<i64>,
    /// True when the commit only appended files without reading the table.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_blind_append: Option<bool>,
    /// Writer identification.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine_info: Option<String>,
    /// Operation metrics.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation_metrics: Option<Map<String, Value>>,
    /// Unique id of the transaction that wrote this commit; how a writer recognises its own
    /// commit after a lost acknowledgement (`protocol/PROTOCOL.md#commit-protocol`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub txn_id: Option<String>,
    /// Any other fields, kept as written.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl CommitInfo {
    /// Lenient conversion: a field of the wrong type is left in `extra` instead of failing.
    fn from_value(value: Value) -> CommitInfo {
        let Value::Object(mut map) = value else {
            return CommitInfo::default();
        };
        let mut take = |key: &str| map.remove(key);
        let mut info = CommitInfo::default();
        let mut keep = Map::new();
        macro_rules! field {
            ($key:literal, $slot:expr, $conv:expr) => {
                if let Some(v) = take($key) {
                    match $conv(&v) {
                        Some(x) => $slot = Some(x),
                        None => {
                            keep.insert($key.to_string(), v);
                        }
                    }
                }
            };
        }
        field!("inCommitTimestamp", info.in_commit_timestamp, Value::as_i64);
        field!("timestamp", info.timestamp, Value::as_i64);
        field!("operation", info.operation, |v: &Value| v
            .as_str()
            .map(str::to_string));
        field!(
            "operationParameters",
            info.operation_parameters,
            |v: &Value| v.as_object().cloned()
        );
        field!("readVersion", info.read_version, Value::as_i64);
        field!("isBlindAppend", info.is_blind_append, Value::as_bool);
        field!("engineInfo", info.engine_info, |v: &Value| v
            .as_str()
            .map(str::to_string));
        field!("operationMetrics", info.operation_metrics, |v: &Value| v
            .as_object()
            .cloned());
        field!("txnId", info.txn_id, |v: &Value| v
            .as_str()
            .map(str::to_string));
        map.extend(keep);
        info.extra = map;
        info
    }
}

/// V2 checkpoint header (`checkpointMetadata`), read by the checkpoint issue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToArrowFields)]
#[serde(rename_all = "camelCase")]
pub struct CheckpointMetadata {
    /// The checkpoint's version.
    pub version: i64,
    /// Free-form tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<HashMap<String, Option<String>>>,
}

/// V2 checkpoint `sidecar` reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sidecar {
    /// File name under `_delta_log/_sidecars/`.
    pub path: String,
    /// Size in bytes.
    pub size_in_bytes: i64,
    /// Modification time in milliseconds.
    pub modification_time: i64,
    /// Free-form tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<HashMap<String, Option<String>>>,
}

/// One action of the log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Action {
    /// `protocol`
    #[serde(rename = "protocol")]
    Protocol(Protocol),
    /// `metaData`
    #[serde(rename = "metaData")]
    Metadata(Metadata),
    /// `add`
    #[serde(rename = "add")]
    Add(Add),
    /// `remove`
    #[serde(rename = "remove")]
    Remove(Remove),
    /// `txn`
    #[serde(rename = "txn")]
    Txn(Txn),
    /// `cdc`
    #[serde(rename = "cdc")]
    Cdc(Cdc),
    /// `domainMetadata`
    #[serde(rename = "domainMetadata")]
    DomainMetadata(DomainMetadata),
    /// `commitInfo`
    #[serde(rename = "commitInfo")]
    CommitInfo(CommitInfo),
    /// `checkpointMetadata` (V2 checkpoints only)
    #[serde(rename = "checkpointMetadata")]
    CheckpointMetadata(CheckpointMetadata),
    /// `sidecar` (V2 checkpoints only)
    #[serde(rename = "sidecar")]
    Sidecar(Sidecar),
}

/// The wire shape of one log line: every known key optional, unknown keys ignored.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawAction {
    protocol: Option<RawProtocol>,
    meta_data: Option<Metadata>,
    add: Option<Add>,
    remove: Option<Remove>,
    txn: Option<Txn>,
    cdc: Option<Cdc>,
    domain_metadata: Option<DomainMetadata>,
    commit_info: Option<Value>,
    checkpoint_metadata: Option<CheckpointMetadata>,
    sidecar: Option<Sidecar>,
}

impl Action {
    /// Parses one log line. `Ok(None)` for an action strata does not know (tolerated) or a
    /// blank line; `Err` with a reason for malformed JSON or a malformed known action.
    pub fn from_json_line(line: &str) -> Result<Option<Action>, String> {
        if line.trim().is_empty() {
            return Ok(None);
        }
        let raw: RawAction = match serde_json::from_str(line) {
            Ok(raw) => raw,
            // A `commitInfo` is provenance, not table state: one nested deeper than the parser
            // goes (another writer's user metadata) must not make the table unreadable, so it
            // reads as an empty commitInfo. Any other action that does not parse is an error.
            Err(e) if is_commit_info_line(line) && e.to_string().contains("recursion limit") => {
                return Ok(Some(Action::CommitInfo(CommitInfo::default())));
            }
            Err(e) => return Err(e.to_string()),
        };
        let action = if let Some(p) = raw.protocol {
            Action::Protocol(Protocol::try_from(p)?)
        } else if let Some(m) = raw.meta_data {
            Action::Metadata(m)
        } else if let Some(a) = raw.add {
            Action::Add(a)
        } else if let Some(r) = raw.remove {
            Action::Remove(r)
        } else if let Some(t) = raw.txn {
            Action::Txn(t)
        } else if let Some(c) = raw.cdc {
            Action::Cdc(c)
        } else if let Some(d) = raw.domain_metadata {
            Action::DomainMetadata(d)
        } else if let Some(c) = raw.commit_info {
            Action::CommitInfo(CommitInfo::from_value(c))
        } else if let Some(c) = raw.checkpoint_metadata {
            Action::CheckpointMetadata(c)
        } else if let Some(s) = raw.sidecar {
            Action::Sidecar(s)
        } else {
            return Ok(None);
        };
        Ok(Some(action))
    }

    /// The action as one compact JSON line (no trailing newline).
    pub fn to_json_line(&self) -> String {
        // Serializing these plain structs cannot fail: all keys are strings and no value is a
        // non-finite float.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Whether a log line is a `commitInfo` action (`{"commitInfo": ...}`, spaces allowed).
fn is_commit_info_line(line: &str) -> bool {
    line.trim_start()
        .strip_prefix('{')
        .map(str::trim_start)
        .is_some_and(|rest| rest.starts_with("\"commitInfo\""))
}

/// The 1-based line of the first byte that is not UTF-8, and where it is.
fn not_utf8(bytes: &[u8], error: &std::str::Utf8Error) -> (usize, String) {
    let offset = error.valid_up_to();
    let before = &bytes[..offset];
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |newline| newline + 1);
    let what = match (bytes.get(offset), error.error_len()) {
        (Some(byte), Some(_)) => format!("byte {byte:#04x}, which starts no valid character,"),
        _ => "a character cut short by the end of the file".to_string(),
    };
    (
        line,
        format!(
            "not UTF-8: {what} at offset {offset} of the file (byte {} of the line)",
            offset - line_start + 1
        ),
    )
}

/// Parses a whole commit file into actions, naming the 1-based line of the first bad one.
pub fn parse_commit(bytes: &[u8]) -> Result<Vec<Action>, (usize, String)> {
    let text = std::str::from_utf8(bytes).map_err(|e| not_utf8(bytes, &e))?;
    let mut actions = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if let Some(a) = Action::from_json_line(line).map_err(|e| (i + 1, e))? {
            actions.push(a);
        }
    }
    Ok(actions)
}

/// Serializes actions as a commit file: one JSON object per line, newline-terminated.
pub fn serialize_commit(actions: &[Action]) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 * actions.len());
    for a in actions {
        out.extend_from_slice(a.to_json_line().as_bytes());
        out.push(b'\n');
    }
    out
}

/// Parsed per-file statistics (`protocol/PROTOCOL.md#statistics`). Bounds stay JSON values:
/// their interpretation depends on the column type and happens where they are used.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// Number of records in the file.
    pub num_records: Option<i64>,
    /// Per-column minimum values (nested for structs).
    #[serde(default)]
    pub min_values: BTreeMap<String, Value>,
    /// Per-column maximum values.
    #[serde(default)]
    pub max_values: BTreeMap<String, Value>,
    /// Per-column null counts.
    #[serde(default)]
    pub null_count: BTreeMap<String, Value>,
}

impl Stats {
    /// Parses `add.stats`; `None` when absent or unparsable (missing stats only cost pruning).
    pub fn parse(stats: Option<&str>) -> Option<Stats> {
        stats.and_then(|s| serde_json::from_str(s).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commit_info_too_deep_to_parse_reads_as_empty_and_other_actions_do_not() {
        let deep = format!(
            "{{\"commitInfo\": {{\"operation\": \"WRITE\", \"x\": {}1{}}}}}",
            "[".repeat(300),
            "]".repeat(300)
        );
        let actions = parse_commit(format!("{deep}\n").as_bytes()).unwrap();
        assert!(matches!(&actions[..], [Action::CommitInfo(c)] if c.operation.is_none()));
        let deep_add = format!(
            "{{\"add\": {{\"path\": {}1{}}}}}",
            "[".repeat(300),
            "]".repeat(300)
        );
        assert!(parse_commit(deep_add.as_bytes()).is_err());
        assert!(parse_commit(b"{\"commitInfo\": {\"operation\": ").is_err());
    }

    #[test]
    fn a_negative_record_count_is_no_count() {
        let mut add = Add::for_test("a.parquet", 10);
        add.stats = Some(r#"{"numRecords": -6}"#.into());
        assert_eq!(add.num_records(), None);
        add.stats = Some(r#"{"numRecords": 6}"#.into());
        assert_eq!(add.num_records(), Some(6));
    }

    #[test]
    fn parses_spark_style_commit_and_skips_unknown_actions() {
        let commit = r#"{"commitInfo":{"timestamp":1,"operation":"WRITE","operationParameters":{"mode":"Append"},"isBlindAppend":true,"clusterId":"x"}}
{"protocol":{"minReaderVersion":1,"minWriterVersion":2}}
{"metaData":{"id":"a","format":{"provider":"parquet","options":{}},"schemaString":"{}","partitionColumns":[],"configuration":{"k":"v","n":null},"createdTime":5}}
{"add":{"path":"a%20b.parquet","partitionValues":{},"size":10,"modificationTime":3,"dataChange":true,"stats":"{\"numRecords\":2}","unknownField":1}}
{"someFutureAction":{"x":1}}

{"txn":{"appId":"app","version":3}}"#;
        let actions = parse_commit(commit.as_bytes()).unwrap();
        assert_eq!(actions.len(), 5);
        let Action::CommitInfo(ci) = &actions[0] else {
            panic!()
        };
        assert_eq!(ci.operation.as_deref(), Some("WRITE"));
        assert_eq!(ci.extra.get("clusterId"), Some(&Value::from("x")));
        let Action::Metadata(m) = &actions[2] else {
            panic!()
        };
        assert_eq!(m.configuration.len(), 1, "null property values are dropped");
        let Action::Add(a) = &actions[3] else {
            panic!()
        };
        assert_eq!(
            Stats::parse(a.stats.as_deref()).unwrap().num_records,
            Some(2)
        );
    }

    #[test]
    fn corrupt_line_reports_line_number() {
        let commit = "{\"txn\":{\"appId\":\"a\",\"version\":1}}\n{\"add\":{\"path\":";
        let (line, _) = parse_commit(commit.as_bytes()).unwrap_err();
        assert_eq!(line, 2);
        let missing_field = r#"{"add":{"path":"x"}}"#;
        assert!(parse_commit(missing_field.as_bytes()).is_err());
    }

    #[test]
    fn protocol_features_present_iff_versions_3_and_7() {
        let ok = r#"{"protocol":{"minReaderVersion":3,"minWriterVersion":7,"readerFeatures":[],"writerFeatures":["appendOnly"]}}"#;
        assert!(Action::from_json_line(ok).unwrap().is_some());
        for bad in [
            r#"{"protocol":{"minReaderVersion":3,"minWriterVersion":7,"writerFeatures":[]}}"#,
            r#"{"protocol":{"minReaderVersion":1,"minWriterVersion":7,"readerFeatures":[]}}"#,
            r#"{"protocol":{"minReaderVersion":1,"minWriterVersion":2,"writerFeatures":["x"]}}"#,
            r#"{"protocol":{"minReaderVersion":0,"minWriterVersion":2}}"#,
        ] {
            assert!(Action::from_json_line(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn commit_info_tolerates_wrong_types() {
        let line = r#"{"commitInfo":{"timestamp":"yesterday","operation":"WRITE"}}"#;
        let Some(Action::CommitInfo(ci)) = Action::from_json_line(line).unwrap() else {
            panic!()
        };
        assert_eq!(ci.timestamp, None);
        assert_eq!(ci.extra.get("timestamp"), Some(&Value::from("yesterday")));
    }

    #[test]
    fn serialized_keys_are_the_spec_names() {
        let actions = vec![
            Action::Protocol(Protocol {
                min_reader_version: 1,
                min_writer_version: 2,
                reader_features: None,
                writer_features: None,
            }),
            Action::Txn(Txn {
                app_id: "a".into(),
                version: 1,
                last_updated: None,
            }),
        ];
        let text = String::from_utf8(serialize_commit(&actions)).unwrap();
        assert_eq!(
            text,
            "{\"protocol\":{\"minReaderVersion\":1,\"minWriterVersion\":2}}\n{\"txn\":{\"appId\":\"a\",\"version\":1}}\n"
        );
        assert_eq!(parse_commit(text.as_bytes()).unwrap(), actions);
    }
}
