//! The `strata.tags` metadata domain: named versions (`protocol/PROTOCOL.md#tags`).
//!
//! Tags live in the log itself, in the `strata.tags` domain of a `domainMetadata` action, so
//! they travel with the table (copies, other clients, checkpoints) and change atomically with
//! optimistic concurrency like any other commit. This module is the domain's format; reading
//! it is [`Snapshot::tags`](crate::Snapshot::tags), changing it is the tag operations'.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The `domainMetadata` domain that holds the tags.
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

/// The domain's configuration: `{"tags": {"<name>": {"version": 41, "createdAt": <ms>}}}`.
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
