//! Named versions: tags that pin a version for reproducible reads (`protocol/PROTOCOL.md#tags`).
//!
//! Tags live in the log itself, in the `strata.tags` domain of a `domainMetadata` action, so
//! they travel with the table (copies, other clients, checkpoints) and change atomically with
//! optimistic concurrency like any other commit. The domain's configuration is JSON:
//! `{"tags": {"<name>": {"version": 41, "createdAt": <ms>}}}`. Writing a domain requires the
//! `domainMetadata` writer feature; the first tag of a table without it upgrades the writer
//! protocol to 7 in the same commit (readers are unaffected: the reader version is unchanged).
//! Vacuum (issue #6, not yet implemented) must keep every file a tagged version reads.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::protocol::actions::{Action, DomainMetadata};
use crate::error::{ConflictReason, Error, Result};
use crate::protocol::features;
use crate::snapshot::Snapshot;
use crate::table::Table;
use crate::transaction::Transaction;

/// The `domainMetadata` domain that holds the tags.
pub const TAGS_DOMAIN: &str = "strata.tags";
/// Attempts when concurrent writers keep changing the tags or the protocol.
const TAG_ATTEMPTS: u32 = 10;

/// A tag: a name for a version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tag {
    /// The tagged version.
    pub version: i64,
    /// When the tag was created, in milliseconds since the epoch.
    pub created_at: i64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct TagsConfig {
    #[serde(default)]
    tags: BTreeMap<String, Tag>,
}

impl Snapshot {
    /// The table's tags at this version, by name.
    ///
    /// # Errors
    /// [`Error::CorruptLog`] when the `strata.tags` domain is not the JSON strata writes.
    pub fn tags(&self) -> Result<BTreeMap<String, Tag>> {
        Ok(self.tags_config()?.tags)
    }

    fn tags_config(&self) -> Result<TagsConfig> {
        let Some(domain) = self.domain(TAGS_DOMAIN).filter(|d| !d.removed) else {
            return Ok(TagsConfig::default());
        };
        serde_json::from_str(&domain.configuration).map_err(|e| Error::CorruptLog {
            path: format!(
                "{}/_delta_log (domainMetadata {TAGS_DOMAIN})",
                self.storage().location()
            ),
            version: self.version(),
            line: 0,
            reason: format!("the tags configuration is not valid: {e}"),
        })
    }
}

fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 256 || name.chars().any(char::is_control) {
        return Err(Error::InvalidArgument(format!(
            "tag name {name:?} must be 1 to 256 characters without control characters"
        )));
    }
    Ok(())
}

impl Table {
    /// Names `version`: `table.tag("train-2026-11", 41)`. Tagging the same version again is a
    /// no-op; a name already on another version is refused (delete it first).
    ///
    /// # Errors
    /// [`Error::VersionNotFound`] when the version cannot be read, [`Error::NotAllowed`] for a
    /// name taken by another version, [`Error::InvalidArgument`] for a bad name,
    /// [`Error::Conflict`] when concurrent writers keep winning.
    pub async fn tag(&self, name: &str, version: i64) -> Result<i64> {
        check_name(name)?;
        self.snapshot_at_version(version).await?;
        self.change_tags("CREATE TAG", name, |tags, location| {
            match tags.get(name) {
                Some(t) if t.version == version => return Ok(false),
                Some(t) => {
                    return Err(Error::NotAllowed {
                        location: location.to_string(),
                        operation: format!("tag {name:?}"),
                        reason: format!(
                            "the tag already names version {}; delete it first to move it",
                            t.version
                        ),
                    });
                }
                None => {}
            }
            let created_at = chrono::Utc::now().timestamp_millis();
            tags.insert(
                name.to_string(),
                Tag {
                    version,
                    created_at,
                },
            );
            Ok(true)
        })
        .await
    }

    /// Deletes a tag.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when there is no such tag; as [`Table::tag`] otherwise.
    pub async fn delete_tag(&self, name: &str) -> Result<i64> {
        self.change_tags("DELETE TAG", name, |tags, location| {
            if tags.remove(name).is_none() {
                return Err(Error::InvalidArgument(format!(
                    "{location} has no tag {name:?}; list the tags with `Table::tags` (`strata tags`)"
                )));
            }
            Ok(true)
        })
        .await
    }

    /// The table's current tags, by name.
    ///
    /// # Errors
    /// As [`Snapshot::tags`].
    pub async fn tags(&self) -> Result<BTreeMap<String, Tag>> {
        self.snapshot().await?.tags()
    }

    /// Opens the version a tag names.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an unknown tag; as [`Table::snapshot_at_version`].
    pub async fn snapshot_at_tag(&self, name: &str) -> Result<Snapshot> {
        let tags = self.tags().await?;
        let Some(tag) = tags.get(name) else {
            let known: Vec<&str> = tags.keys().map(String::as_str).collect();
            let known = if known.is_empty() {
                "it has no tags".to_string()
            } else {
                format!("its tags are {}", known.join(", "))
            };
            return Err(Error::InvalidArgument(format!(
                "{} has no tag {name:?}; {known}",
                self.location(),
            )));
        };
        self.snapshot_at_version(tag.version).await
    }

    /// Applies `change` to the latest tags and commits them, retrying on concurrent changes to
    /// the tags or the protocol. Returns the committed version (or the current one when
    /// `change` changed nothing).
    async fn change_tags(
        &self,
        operation: &str,
        name: &str,
        change: impl Fn(&mut BTreeMap<String, Tag>, &str) -> Result<bool>,
    ) -> Result<i64> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let snapshot = self.snapshot().await?;
            crate::write::check_writable(&snapshot)?;
            let mut config = snapshot.tags_config()?;
            if !change(&mut config.tags, snapshot.storage().location())? {
                return Ok(snapshot.version());
            }
            let mut tx = Transaction::new(&snapshot, operation).with_parameter("name", name);
            if let Some(tag) = config.tags.get(name) {
                tx = tx.with_parameter("version", tag.version);
            }
            if let Some(upgraded) =
                features::with_writer_feature(snapshot.protocol(), "domainMetadata")
            {
                tx.add_actions([Action::Protocol(upgraded)]);
            }
            let configuration = serde_json::to_string(&config)
                .map_err(|e| Error::InvalidArgument(format!("cannot serialize tags: {e}")))?;
            tx.add_actions([Action::DomainMetadata(DomainMetadata {
                domain: TAGS_DOMAIN.to_string(),
                configuration,
                removed: false,
            })]);
            match tx.commit().await {
                Ok(result) => {
                    self.observe_commit(&result);
                    return Ok(result.version);
                }
                Err(Error::Conflict { reason, .. })
                    if attempt < TAG_ATTEMPTS
                        && matches!(
                            reason,
                            ConflictReason::DomainConflict { .. }
                                | ConflictReason::ProtocolChanged
                                | ConflictReason::FilesAdded { .. }
                        ) => {}
                Err(e) => return Err(e),
            }
        }
    }
}
