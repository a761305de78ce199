//! Tagging: naming versions that pin them for reproducible reads (`protocol/PROTOCOL.md#tags`).
//!
//! A tag is a side file under `_strata/tags/` (its format is `protocol/tags.rs`), created with
//! put-if-absent: it changes neither the log nor the protocol, so other Delta clients go on
//! writing the table, and two taggers racing for one name agree on one version. Vacuum and log
//! cleanup keep every tagged version readable.
//!
//! Tables tagged by earlier strata versions hold their tags in the log's `strata.tags` domain,
//! which needs the `domainMetadata` writer feature. The next tag change migrates them: their
//! side files are written first, then one commit removes the domain and, when nothing else
//! needs it, drops the feature (back to the legacy writer version the table had).

use std::collections::{BTreeMap, HashSet};

use futures::{StreamExt, TryStreamExt};

use crate::error::{ConflictReason, Error, Result};
use crate::protocol::actions::{Action, DomainMetadata};
use crate::protocol::features::{self, TableFeature};
use crate::protocol::tags::{TAGS_DOMAIN, Tag, TagFile, tag_file_path};
use crate::snapshot::Snapshot;
use crate::snapshot::latest::LatestSnapshot;
use crate::snapshot::tags::{load_tags, parse_tag_file};
use crate::storage::{PutOutcome, Storage};
use crate::transaction::Transaction;

/// Attempts when concurrent writers keep changing the protocol during a migration.
const MIGRATE_ATTEMPTS: u32 = 10;

fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 256 || name.chars().any(char::is_control) {
        return Err(Error::InvalidArgument(format!(
            "tag name {name:?} must be 1 to 256 characters without control characters"
        )));
    }
    Ok(())
}

/// The table's tags, by name.
pub(crate) async fn tags(latest: &LatestSnapshot) -> Result<BTreeMap<String, Tag>> {
    load_tags(&latest.get().await?).await
}

/// Names `version`: `table.tag("train-2026-11", 41)`. Returns `true` when the tag was
/// created, `false` when the name already named that version (a no-op); a name already on
/// another version is refused (delete it first).
///
/// # Errors
/// [`Error::VersionNotFound`] when the version cannot be read, [`Error::NotAllowed`] for a
/// name taken by another version, [`Error::InvalidArgument`] for a bad name.
pub(crate) async fn tag(latest: &LatestSnapshot, name: &str, version: i64) -> Result<bool> {
    check_name(name)?;
    require_readable(latest, version).await?;
    migrate_legacy_tags(latest).await?;
    let storage = latest.storage();
    let file = TagFile {
        name: name.to_string(),
        version,
        created_at: chrono::Utc::now().timestamp_millis(),
    };
    // A tag deleted between our put and our read is put again; a few rounds settle it.
    for _ in 0..3 {
        if put_tag_file(storage, &file).await? == PutOutcome::Created {
            return Ok(true);
        }
        match read_tag(storage, name).await? {
            Some(t) if t.version == version => return Ok(false),
            Some(t) => {
                return Err(Error::NotAllowed {
                    location: storage.location().to_string(),
                    operation: format!("tag {name:?}"),
                    reason: format!(
                        "the tag already names version {}; delete it first to move it",
                        t.version
                    ),
                });
            }
            None => {}
        }
    }
    Err(Error::NotAllowed {
        location: storage.location().to_string(),
        operation: format!("tag {name:?}"),
        reason: "the tag keeps being created and deleted concurrently; retry".into(),
    })
}

/// Refuses a version that can no longer be read: its log is gone, or a data file it reads
/// that the latest version no longer reads (the only ones vacuum deletes) is missing.
async fn require_readable(latest: &LatestSnapshot, version: i64) -> Result<()> {
    let tagged = latest.at_version(version).await?;
    let current = latest.get().await?;
    let live: HashSet<&str> = current.files().map(|f| f.path()).collect();
    let storage = latest.storage();
    let at_risk: Vec<String> = tagged
        .files()
        .map(|f| f.path())
        .filter(|p| !live.contains(p))
        .map(str::to_string)
        .collect();
    let missing: Vec<Option<String>> = futures::stream::iter(at_risk)
        .map(|path| async move {
            let exists = storage.exists(&storage.data_path(&path, version)?).await?;
            Ok::<_, Error>((!exists).then_some(path))
        })
        .buffer_unordered(16)
        .try_collect()
        .await?;
    if let Some(path) = missing.into_iter().flatten().next() {
        return Err(Error::NotAllowed {
            location: storage.location().to_string(),
            operation: format!("tag version {version}"),
            reason: format!(
                "the version can no longer be read: its data file {path} is gone (vacuumed); tag a version within the table's retention"
            ),
        });
    }
    Ok(())
}

/// Deletes a tag; returns what it named.
///
/// # Errors
/// [`Error::InvalidArgument`] when there is no such tag; storage errors.
pub(crate) async fn delete_tag(latest: &LatestSnapshot, name: &str) -> Result<Tag> {
    migrate_legacy_tags(latest).await?;
    let storage = latest.storage();
    let Some(tag) = read_tag(storage, name).await? else {
        return Err(Error::InvalidArgument(format!(
            "{} has no tag {name:?}; list the tags with `Table::tags` (`strata tags`)",
            storage.location()
        )));
    };
    storage
        .delete(&storage.relative_path(&tag_file_path(name))?)
        .await?;
    Ok(tag)
}

/// Opens the version a tag names.
///
/// # Errors
/// [`Error::InvalidArgument`] for an unknown tag; as [`Table::snapshot_at_version`].
pub(crate) async fn snapshot_at_tag(latest: &LatestSnapshot, name: &str) -> Result<Snapshot> {
    let tags = tags(latest).await?;
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

/// Creates `file`'s side file unless one exists.
async fn put_tag_file(storage: &Storage, file: &TagFile) -> Result<PutOutcome> {
    let bytes = serde_json::to_vec(file)
        .map_err(|e| Error::internal(format!("cannot serialize tag: {e}")))?;
    let path = storage.relative_path(&tag_file_path(&file.name))?;
    storage.put_if_absent(&path, bytes.into()).await
}

/// The tag named `name` from its side file, `None` when it has none.
async fn read_tag(storage: &Storage, name: &str) -> Result<Option<Tag>> {
    let relative = tag_file_path(name);
    let Some(bytes) = storage
        .get_if_exists(&storage.relative_path(&relative)?)
        .await?
    else {
        return Ok(None);
    };
    let file = parse_tag_file(storage, &relative, &bytes)?;
    if file.name != name {
        return Err(Error::CorruptTag {
            path: format!("{}/{relative}", storage.location().trim_end_matches('/')),
            reason: format!(
                "it holds tag {:?}, not {name:?} (two long names with one MD5); delete one",
                file.name
            ),
        });
    }
    Ok(Some(file.tag()))
}

/// Moves the tags of the legacy `strata.tags` domain to side files, then commits the
/// domain's removal (operation `MIGRATE TAGS`) and drops the `domainMetadata` writer feature
/// when no other domain or feature needs it. Nothing to do for a table without the domain.
/// A crash in between leaves both, which read the same.
pub(crate) async fn migrate_legacy_tags(latest: &LatestSnapshot) -> Result<()> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let snapshot = latest.get().await?;
        let Some(domain) = snapshot.domain(TAGS_DOMAIN).filter(|d| !d.removed).cloned() else {
            return Ok(());
        };
        snapshot.require_writable()?;
        for (name, tag) in snapshot.legacy_tags()? {
            let file = TagFile {
                name,
                version: tag.version,
                created_at: tag.created_at,
            };
            // An existing side file is a tag made since (or by an earlier attempt): it wins.
            put_tag_file(snapshot.storage(), &file).await?;
        }
        let mut tx = Transaction::new(&snapshot, "MIGRATE TAGS");
        tx.add_actions([Action::DomainMetadata(DomainMetadata {
            removed: true,
            ..domain
        })]);
        if let Some(protocol) = protocol_without_domains(&snapshot) {
            tx.add_actions([Action::Protocol(protocol)]);
        }
        match tx.commit().await {
            Ok(result) => {
                latest.remember_committed(&result.snapshot);
                return Ok(());
            }
            Err(Error::Conflict { reason, .. })
                if attempt < MIGRATE_ATTEMPTS
                    && matches!(
                        reason,
                        ConflictReason::DomainConflict { .. }
                            | ConflictReason::ProtocolChanged
                            | ConflictReason::MetadataChanged
                    ) => {}
            Err(e) => return Err(e),
        }
    }
}

/// The protocol without `domainMetadata`, when the tags domain is the only live domain and no
/// feature that stores domains (row tracking, clustering) is on; `None` to keep it.
fn protocol_without_domains(snapshot: &Snapshot) -> Option<crate::protocol::actions::Protocol> {
    let others = snapshot.domain_names().any(|d| d != TAGS_DOMAIN);
    let writer = features::writer_features(snapshot.protocol());
    let needed =
        writer.contains(&TableFeature::RowTracking) || writer.contains(&TableFeature::Clustering);
    if others || needed {
        return None;
    }
    features::without_writer_feature(snapshot.protocol(), TableFeature::DomainMetadata)
}
