//! Reading checkpoints and `_last_checkpoint` (`protocol/PROTOCOL.md#checkpoints`).
//!
//! A classic checkpoint is a Parquet file whose rows each hold one action in a struct column
//! named like the JSON key. strata reads only the action columns replay needs and turns each
//! row into the same [`Action`] values a commit yields, through Arrow's JSON encoder, so there
//! is one definition of what an action looks like. (The checkpoint issue replaces this with a
//! columnar path for tables with millions of files.)

use bytes::Bytes;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::{Deserialize, Serialize};

use crate::actions::Action;
use crate::error::{Error, Result};

/// Action columns replay needs from a checkpoint (commitInfo and cdc never matter there).
const ACTION_COLUMNS: &[&str] = &[
    "protocol",
    "metaData",
    "add",
    "remove",
    "txn",
    "domainMetadata",
];

/// Parses checkpoint Parquet bytes into actions.
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
    let schema = builder.parquet_schema();
    let roots: Vec<usize> = builder
        .schema()
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| ACTION_COLUMNS.contains(&f.name().as_str()))
        .map(|(i, _)| i)
        .collect();
    let mask = ProjectionMask::roots(schema, roots);
    let reader = builder
        .with_projection(mask)
        .with_batch_size(8192)
        .build()
        .map_err(|e| corrupt(e.to_string()))?;
    let mut actions = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| corrupt(e.to_string()))?;
        let mut writer =
            arrow::json::LineDelimitedWriter::new(Vec::with_capacity(batch.num_rows() * 256));
        writer.write(&batch).map_err(|e| corrupt(e.to_string()))?;
        writer.finish().map_err(|e| corrupt(e.to_string()))?;
        let text = writer.into_inner();
        let text = std::str::from_utf8(&text).map_err(|e| corrupt(e.to_string()))?;
        for (row, line) in text.lines().enumerate() {
            let action =
                Action::from_json_line(line).map_err(|e| corrupt(format!("row {row}: {e}")))?;
            actions.extend(action);
        }
    }
    Ok(actions)
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
}

impl LastCheckpointHint {
    /// Parses the hint; `None` when it is empty or malformed.
    pub fn parse(bytes: &[u8]) -> Option<LastCheckpointHint> {
        serde_json::from_slice(bytes)
            .ok()
            .filter(|h: &LastCheckpointHint| h.version >= 0)
    }
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
}
