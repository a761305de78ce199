//! Tagging: naming versions that pin them for reproducible reads (`protocol/PROTOCOL.md#tags`).
//!
//! A tag change is a commit of the `strata.tags` domain (its format is `protocol/tags.rs`),
//! made with optimistic concurrency like any other commit and retried when another writer
//! changed the tags first. Writing a domain requires the `domainMetadata` writer feature; the
//! first tag of a table without it upgrades the writer protocol to 7 in the same commit
//! (readers are unaffected: the reader version is unchanged). Vacuum and log cleanup keep
//! every tagged version readable.

use std::collections::BTreeMap;

use crate::error::{ConflictReason, Error, Result};
use crate::protocol::actions::{Action, DomainMetadata};
use crate::protocol::features::{self, TableFeature};
use crate::protocol::tags::{TAGS_DOMAIN, Tag};
use crate::snapshot::Snapshot;
use crate::snapshot::latest::LatestSnapshot;
use crate::transaction::Transaction;

/// Attempts when concurrent writers keep changing the tags or the protocol.
const TAG_ATTEMPTS: u32 = 10;

fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 256 || name.chars().any(char::is_control) {
        return Err(Error::InvalidArgument(format!(
            "tag name {name:?} must be 1 to 256 characters without control characters"
        )));
    }
    Ok(())
}

/// Names `version`: `table.tag("train-2026-11", 41)`. Tagging the same version again is a
/// no-op; a name already on another version is refused (delete it first).
///
/// # Errors
/// [`Error::VersionNotFound`] when the version cannot be read, [`Error::NotAllowed`] for a
/// name taken by another version, [`Error::InvalidArgument`] for a bad name,
/// [`Error::Conflict`] when concurrent writers keep winning.
pub(crate) async fn tag(latest: &LatestSnapshot, name: &str, version: i64) -> Result<i64> {
    check_name(name)?;
    latest.at_version(version).await?;
    change_tags(latest, "CREATE TAG", name, |tags, location| {
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
pub(crate) async fn delete_tag(latest: &LatestSnapshot, name: &str) -> Result<i64> {
    change_tags(latest, "DELETE TAG", name, |tags, location| {
        if tags.remove(name).is_none() {
            return Err(Error::InvalidArgument(format!(
                "{location} has no tag {name:?}; list the tags with `Table::tags` (`strata tags`)"
            )));
        }
        Ok(true)
    })
    .await
}

/// Opens the version a tag names.
///
/// # Errors
/// [`Error::InvalidArgument`] for an unknown tag; as [`Table::snapshot_at_version`].
pub(crate) async fn snapshot_at_tag(latest: &LatestSnapshot, name: &str) -> Result<Snapshot> {
    let tags = latest.get().await?.tags()?;
    let Some(tag) = tags.get(name) else {
        let known: Vec<&str> = tags.keys().map(String::as_str).collect();
        let known = if known.is_empty() {
            "it has no tags".to_string()
        } else {
            format!("its tags are {}", known.join(", "))
        };
        return Err(Error::InvalidArgument(format!(
            "{} has no tag {name:?}; {known}",
            latest.storage().location(),
        )));
    };
    latest.at_version(tag.version).await
}

/// Applies `change` to the latest tags and commits them, retrying on concurrent changes to
/// the tags or the protocol. Returns the committed version (or the current one when
/// `change` changed nothing).
async fn change_tags(
    latest: &LatestSnapshot,
    operation: &str,
    name: &str,
    change: impl Fn(&mut BTreeMap<String, Tag>, &str) -> Result<bool>,
) -> Result<i64> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let snapshot = latest.get().await?;
        snapshot.require_writable()?;
        let mut config = snapshot.tags_config()?;
        if !change(&mut config.tags, snapshot.storage().location())? {
            return Ok(snapshot.version());
        }
        let mut tx = Transaction::new(&snapshot, operation).with_parameter("name", name);
        if let Some(tag) = config.tags.get(name) {
            tx = tx.with_parameter("version", tag.version);
        }
        if let Some(upgraded) =
            features::with_writer_feature(snapshot.protocol(), TableFeature::DomainMetadata)
        {
            tx.add_actions([Action::Protocol(upgraded)]);
        }
        let configuration = serde_json::to_string(&config)
            .map_err(|e| Error::internal(format!("cannot serialize tags: {e}")))?;
        tx.add_actions([Action::DomainMetadata(DomainMetadata {
            domain: TAGS_DOMAIN.to_string(),
            configuration,
            removed: false,
        })]);
        match tx.commit().await {
            Ok(result) => {
                latest.remember_committed(&result.snapshot);
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
