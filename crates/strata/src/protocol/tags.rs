//! Tags: named versions (`protocol/PROTOCOL.md#tags`), and their formats.
//!
//! A tag is a side file, `_strata/tags/<name>.json`, beside the log: other Delta clients
//! ignore the `_strata/` directory (their vacuum skips `_`-prefixed directories too), so
//! tagging changes neither the log nor the protocol and every client can go on writing the
//! table. Creating one is a put-if-absent, so concurrent taggers of one name agree.
//!
//! Earlier strata versions kept tags in the log, in the `strata.tags` domain of a
//! `domainMetadata` action ([`TagsConfig`]), which needs the `domainMetadata` writer feature and
//! locks writers without it out; those tags are still read, and the next tag change moves them
//! to side files and drops the domain (and the feature, when nothing else needs it).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The directory, relative to the table root, that holds one file per tag.
pub const TAGS_DIR: &str = "_strata/tags";

/// Longest escaped name used as a file name; longer names are hashed.
const MAX_FILE_STEM: usize = 200;

/// A tag's side file: `{"name": "train-2026-11", "version": 41, "createdAt": <ms>}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TagFile {
    /// The tag's name (the file name is derived from it, and never parsed back).
    pub name: String,
    /// The tagged version.
    pub version: i64,
    /// When the tag was created, in milliseconds since the epoch.
    pub created_at: i64,
}

impl TagFile {
    /// Parses a tag file.
    ///
    /// # Errors
    /// The JSON error when it is not the shape strata writes.
    pub fn parse(bytes: &[u8]) -> Result<TagFile, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// The tag it holds.
    pub fn tag(&self) -> Tag {
        Tag {
            version: self.version,
            created_at: self.created_at,
        }
    }
}

/// The side file of tag `name`, relative to the table root: `_strata/tags/<stem>.json`, where
/// the stem is the name with every byte outside `[A-Za-z0-9._-]` written `~xx` (hex), or, when
/// that is longer than 200 characters, `~md5-` and the name's MD5. The mapping is one-to-one
/// (up to MD5 collisions of long names) and every stem is a valid file name on every store.
pub fn tag_file_path(name: &str) -> String {
    let mut stem = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-') {
            stem.push(b as char);
        } else {
            stem.push_str(&format!("~{b:02x}"));
        }
    }
    // A leading dot would hide the file; `.` and `..` are not names.
    if stem.starts_with('.') {
        stem.replace_range(0..1, "~2e");
    }
    if stem.len() > MAX_FILE_STEM {
        use md5::Digest;
        let digest = md5::Md5::digest(name.as_bytes());
        stem = format!("~md5-{}", hex(&digest));
    }
    format!("{TAGS_DIR}/{stem}.json")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The legacy `domainMetadata` domain that held the tags (read, and migrated on the next tag
/// change).
pub const TAGS_DOMAIN: &str = "strata.tags";

/// A tag: a name for a version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tag {
    /// The tagged version.
    pub version: i64,
    /// When the tag was created, in milliseconds since the epoch.
    pub created_at: i64,
}

/// The legacy domain's configuration: `{"tags": {"<name>": {"version": 41, "createdAt": <ms>}}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagsConfig {
    /// Tags by name.
    #[serde(default)]
    pub tags: BTreeMap<String, Tag>,
}

impl TagsConfig {
    /// Parses the domain's configuration.
    ///
    /// # Errors
    /// The JSON error when it is not the shape strata writes.
    pub fn parse(configuration: &str) -> Result<TagsConfig, serde_json::Error> {
        serde_json::from_str(configuration)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_files_are_named_safely_and_distinctly() {
        assert_eq!(
            tag_file_path("train-2026_11.v2"),
            "_strata/tags/train-2026_11.v2.json"
        );
        assert_eq!(tag_file_path("a/b c"), "_strata/tags/a~2fb~20c.json");
        assert_eq!(tag_file_path(".."), "_strata/tags/~2e..json");
        assert_eq!(tag_file_path("~2f"), "_strata/tags/~7e2f.json");
        assert_ne!(tag_file_path("~2f"), tag_file_path("/"));
        assert_eq!(tag_file_path("é"), "_strata/tags/~c3~a9.json");
        let long = "x".repeat(256);
        let path = tag_file_path(&long);
        assert!(
            path.starts_with("_strata/tags/~md5-") && path.len() < 80,
            "{path}"
        );
        assert_ne!(path, tag_file_path(&"x".repeat(255)));
    }

    #[test]
    fn tag_files_round_trip() {
        let file = TagFile {
            name: "train".into(),
            version: 41,
            created_at: 1_795_424_280_876,
        };
        let json = serde_json::to_string(&file).unwrap();
        assert_eq!(
            json,
            r#"{"name":"train","version":41,"createdAt":1795424280876}"#
        );
        assert_eq!(TagFile::parse(json.as_bytes()).unwrap(), file);
        assert!(TagFile::parse(b"{\"name\": 1}").is_err());
    }
}
