//! The `_last_checkpoint` hint (`protocol/PROTOCOL.md#checkpoints`): where the latest
//! checkpoint is, so that loading lists the log from there instead of from version 0.
//!
//! Only a hint: strata lists the log to find the checkpoint it uses, so a missing, empty,
//! unparsable or stale hint costs a longer listing, never correctness. strata writes it with
//! the spec's `checksum` (the MD5 of a canonical form of the JSON) so that clients that check
//! it accept it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

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
    use md5::Digest;
    md5::Md5::digest(data)
        .iter()
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
}
