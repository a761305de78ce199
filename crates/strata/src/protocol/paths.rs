//! Paths as the protocol spells them: `add.path` URIs and the names of `_delta_log/` files
//! (`protocol/PROTOCOL.md#file-paths`, `protocol/PROTOCOL.md#log-segment`).
//!
//! A data file's `path` in the log is a URI relative to the table root (or absolute): it is
//! percent-decoded once ([`decode_path`]) into the object path, and a writer encodes a relative
//! path once ([`encode_path`]). Log files are named by zero-padded version.

use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};

/// Directory of V2 checkpoint sidecars, inside `_delta_log/`.
pub const SIDECAR_DIR: &str = "_sidecars";

/// Name of the checkpoint hint file in `_delta_log/`.
pub const LAST_CHECKPOINT: &str = "_last_checkpoint";

/// Name of the log directory under the table root.
pub const LOG_DIR: &str = "_delta_log";

/// Characters percent-encoded when a relative file path becomes an `add.path` URI: everything
/// RFC 2396 does not allow unescaped in a path, plus `%` itself so decoding is exact.
const URI_PATH: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// Encodes a relative file path for `add.path` (`protocol/PROTOCOL.md#file-paths`).
pub fn encode_path(relative: &str) -> String {
    utf8_percent_encode(relative, URI_PATH).to_string()
}

/// Decodes an `add.path`/`remove.path` URI once into the path it names.
pub fn decode_path(uri: &str) -> String {
    percent_decode_str(uri).decode_utf8_lossy().into_owned()
}

/// What a file in `_delta_log/` is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogFileKind {
    /// `N.json`: the commit of version N.
    Commit,
    /// `N.checkpoint.parquet`: a classic single-file checkpoint.
    Checkpoint,
    /// `N.checkpoint.P.K.parquet`: part P (1-based) of a K-part checkpoint.
    MultiPartCheckpoint {
        /// This part's number.
        part: u32,
        /// Number of parts.
        parts: u32,
    },
    /// `N.checkpoint.UUID.(json|parquet)`: a UUID-named V2 checkpoint, whose files may sit in
    /// sidecars under `_delta_log/_sidecars/` (never listed here: the listing does not descend).
    V2Checkpoint,
    /// `N.crc`, `N.M.compacted.json` and other files readers may ignore.
    Other,
}

/// The canonical commit file name of a version (20 zero-padded digits).
pub fn commit_file_name(version: i64) -> String {
    format!("{version:020}.json")
}

/// The classic checkpoint file name of a version.
pub fn checkpoint_file_name(version: i64) -> String {
    format!("{version:020}.checkpoint.parquet")
}

/// Parses a log file name into its version and kind; `None` for names that are not
/// versioned log files (`_last_checkpoint`, temporary files, anything unknown).
pub fn parse_log_file_name(name: &str) -> Option<(i64, LogFileKind)> {
    let (digits, rest) = name.split_once('.')?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let version: i64 = digits.parse().ok()?;
    let kind = match rest.split('.').collect::<Vec<_>>().as_slice() {
        ["json"] => LogFileKind::Commit,
        ["checkpoint", "parquet"] => LogFileKind::Checkpoint,
        ["checkpoint", part, parts, "parquet"] if is_number(part) && is_number(parts) => {
            let (part, parts) = (part.parse().ok()?, parts.parse().ok()?);
            if part == 0 || part > parts {
                return None;
            }
            LogFileKind::MultiPartCheckpoint { part, parts }
        }
        ["checkpoint", _uuid, "json" | "parquet"] => LogFileKind::V2Checkpoint,
        _ => LogFileKind::Other,
    };
    Some((version, kind))
}

fn is_number(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_kind() {
        assert_eq!(
            parse_log_file_name("00000000000000000010.json"),
            Some((10, LogFileKind::Commit))
        );
        assert_eq!(
            parse_log_file_name("00000000000000000010.checkpoint.parquet"),
            Some((10, LogFileKind::Checkpoint))
        );
        assert_eq!(
            parse_log_file_name("00000000000000000010.checkpoint.0000000002.0000000003.parquet"),
            Some((10, LogFileKind::MultiPartCheckpoint { part: 2, parts: 3 }))
        );
        assert_eq!(
            parse_log_file_name(
                "00000000000000000010.checkpoint.80a083e8-7026-4e79-81be-64bd76c43a11.json"
            ),
            Some((10, LogFileKind::V2Checkpoint))
        );
        assert_eq!(
            parse_log_file_name("00000000000000000010.crc"),
            Some((10, LogFileKind::Other))
        );
        for junk in [
            "_last_checkpoint",
            "0010.json",
            ".00000000000000000010.json.tmp",
            "abcdefghijklmnopqrst.json",
        ] {
            assert_eq!(parse_log_file_name(junk), None, "{junk}");
        }
    }
}
