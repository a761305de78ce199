//! Reading a table's tags (`protocol/PROTOCOL.md#tags`): the side files under
//! `_strata/tags/`, plus the tags earlier strata versions kept in the log's `strata.tags`
//! domain, until the next tag change migrates them. A side file wins over a legacy tag of the
//! same name (the migration writes the side files first).
//!
//! Tags are not versioned with the log: the answer is the table's tags now, whatever snapshot
//! the legacy domain is read from (the latest, for every caller).

use std::collections::BTreeMap;

use futures::{StreamExt, TryStreamExt};

use super::Snapshot;
use crate::error::{Error, Result};
use crate::protocol::tags::{TAGS_DIR, Tag, TagFile};
use crate::storage::{ListedObject, Storage};

/// Side files read at once.
const READ_CONCURRENCY: usize = 16;

/// The table's tags, by name: its side files and `latest`'s legacy domain.
///
/// # Errors
/// [`Error::CorruptTag`] for a side file that is not a tag; [`Error::CorruptLog`] for a legacy
/// domain that is not the JSON strata wrote; [`Error::Storage`] when listing or reading fails.
pub(crate) async fn load_tags(latest: &Snapshot) -> Result<BTreeMap<String, Tag>> {
    let mut tags = latest.legacy_tags()?;
    for file in read_tag_files(latest.storage()).await? {
        tags.insert(file.name.clone(), file.tag());
    }
    Ok(tags)
}

/// Every tag side file, in name order of the files. A file deleted between the listing and
/// the read (a concurrent `delete_tag`) is skipped.
pub(crate) async fn read_tag_files(storage: &Storage) -> Result<Vec<TagFile>> {
    let listed: Vec<ListedObject> = storage
        .list_dir(TAGS_DIR)
        .await?
        .into_iter()
        .filter(|o| o.relative.ends_with(".json"))
        .collect();
    let files: Vec<Option<TagFile>> = futures::stream::iter(listed)
        .map(|object| async move {
            let Some(bytes) = storage.get_if_exists(&object.location).await? else {
                return Ok(None);
            };
            parse_tag_file(storage, &object.relative, &bytes).map(Some)
        })
        .buffered(READ_CONCURRENCY)
        .try_collect()
        .await?;
    Ok(files.into_iter().flatten().collect())
}

/// Parses the side file at `relative` (relative to the table root).
pub(crate) fn parse_tag_file(storage: &Storage, relative: &str, bytes: &[u8]) -> Result<TagFile> {
    TagFile::parse(bytes).map_err(|e| Error::CorruptTag {
        path: format!("{}/{relative}", storage.location().trim_end_matches('/')),
        reason: e.to_string(),
    })
}
