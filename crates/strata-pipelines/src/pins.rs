//! Training pins: several tables pinned at one consistent point (`protocol/PROTOCOL.md#pins`).
//!
//! A pin is a tag of the pin's name in each table (so vacuum and log cleanup keep every pinned
//! version, and each table can be read at it alone), plus a manifest in the lake,
//! `ROOT/_strata/pins/<name>.json`, naming every table's location, id and version. The tags are
//! written first and the manifest last, with put-if-absent: the manifest is the pin's commit
//! point, and a pin interrupted before it is completed by running it again.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use strata::{PutOutcome, Snapshot, Storage};

use crate::error::PipelineError;
use crate::lake::{Lake, TableName};
use crate::lineage::walk_lineage;

/// The directory of pin manifests, relative to the lake root.
pub const PINS_DIR: &str = "_strata/pins";

/// A pin: tables and the versions pinned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pin {
    /// The pin's name (also the tag in each table).
    pub name: String,
    /// When it was made (ms since the epoch).
    pub created_at: i64,
    /// `layer.name` → what was pinned.
    pub tables: BTreeMap<String, PinnedTable>,
    /// The `layer.name@version` whose inputs were pinned, for a lineage pin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lineage_of: Option<String>,
}

/// One table of a pin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PinnedTable {
    /// Where the table lives.
    pub location: String,
    /// Its `metaData.id`.
    pub table_id: String,
    /// The pinned version.
    pub version: i64,
}

impl Lake {
    /// Pins `tables` (`layer.name`) at their latest versions as of now: each table's version
    /// is the last committed at or before one instant, taken before any is read, so a commit
    /// racing the pin is either in every table's view of "now" or in none.
    ///
    /// # Errors
    /// [`PipelineError::BadFlow`] for a bad or taken pin name (reusing a name for the same
    /// versions is a no-op); a table that cannot be read or tagged.
    pub async fn pin(&self, name: &str, tables: &[&str]) -> Result<Pin, PipelineError> {
        let instant = chrono_now_ms();
        let mut versions = BTreeMap::new();
        for table in tables {
            let parsed = TableName::parse(table)?;
            let handle = self.open_table(&parsed).await?;
            let latest = handle.snapshot().await?;
            let snapshot = if latest.timestamp_ms() <= instant {
                latest
            } else {
                let at = chrono::DateTime::from_timestamp_millis(instant).unwrap_or_default();
                handle.snapshot_at_timestamp(at).await?
            };
            versions.insert(
                parsed.to_string(),
                (handle.location().to_string(), snapshot),
            );
        }
        self.write_pin(name, versions, None, instant).await
    }

    /// Pins exactly the versions that produced `table`'s `version`: the table itself and every
    /// table upstream of it, at the last version its lineage read.
    ///
    /// # Errors
    /// As [`Lake::pin`]; a version without lineage pins only itself.
    pub async fn pin_lineage_of(
        &self,
        name: &str,
        table: &str,
        version: i64,
    ) -> Result<Pin, PipelineError> {
        let walked = walk_lineage(self, table, version, usize::MAX).await?;
        let mut wanted: BTreeMap<String, i64> = BTreeMap::new();
        let mut stack = vec![&walked];
        while let Some(node) = stack.pop() {
            let v = wanted.entry(node.table.clone()).or_insert(node.to_version);
            *v = (*v).max(node.to_version);
            stack.extend(node.upstream.iter());
        }
        let mut versions = BTreeMap::new();
        for (table, version) in wanted {
            let handle = self.table(&table).await?;
            let snapshot = handle.snapshot_at_version(version).await?;
            versions.insert(table, (handle.location().to_string(), snapshot));
        }
        let lineage_of = Some(format!("{table}@{version}"));
        self.write_pin(name, versions, lineage_of, chrono_now_ms())
            .await
    }

    /// Every pin of the lake, by name.
    ///
    /// # Errors
    /// A manifest that cannot be listed, read or parsed.
    pub async fn pins(&self) -> Result<Vec<Pin>, PipelineError> {
        let storage = self.root_storage()?;
        let mut pins = Vec::new();
        for object in storage.list_dir(PINS_DIR).await? {
            if !object.relative.ends_with(".json") {
                continue;
            }
            let Some(bytes) = storage.get_if_exists(&object.location).await? else {
                continue;
            };
            pins.push(parse_pin(&storage, &object.relative, &bytes)?);
        }
        pins.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(pins)
    }

    /// The pin named `name`.
    ///
    /// # Errors
    /// [`PipelineError::BadFlow`] when there is none; as [`Lake::pins`].
    pub async fn get_pin(&self, name: &str) -> Result<Pin, PipelineError> {
        let storage = self.root_storage()?;
        let relative = pin_path(name)?;
        match storage
            .get_if_exists(&storage.relative_path(&relative)?)
            .await?
        {
            Some(bytes) => parse_pin(&storage, &relative, &bytes),
            None => Err(bad_pin(
                name,
                "the lake has no such pin; `strata pins ROOT` lists them",
            )),
        }
    }

    /// `table` as pin `name` pinned it.
    ///
    /// # Errors
    /// An unknown pin or a table it does not hold; the version cannot be read.
    pub async fn read_pin(&self, name: &str, table: &str) -> Result<Snapshot, PipelineError> {
        let pin = self.get_pin(name).await?;
        let parsed = TableName::parse(table)?.to_string();
        let Some(pinned) = pin.tables.get(&parsed) else {
            return Err(bad_pin(name, &format!("the pin does not hold {parsed}")));
        };
        Ok(self
            .table(&parsed)
            .await?
            .snapshot_at_version(pinned.version)
            .await?)
    }

    async fn write_pin(
        &self,
        name: &str,
        snapshots: BTreeMap<String, (String, Snapshot)>,
        lineage_of: Option<String>,
        created_at: i64,
    ) -> Result<Pin, PipelineError> {
        let relative = pin_path(name)?;
        if snapshots.is_empty() {
            return Err(bad_pin(name, "a pin needs at least one table"));
        }
        let pin = Pin {
            name: name.to_string(),
            created_at,
            tables: snapshots
                .iter()
                .map(|(table, (location, s))| {
                    let pinned = PinnedTable {
                        location: location.clone(),
                        table_id: s.metadata().id.clone(),
                        version: s.version(),
                    };
                    (table.clone(), pinned)
                })
                .collect(),
            lineage_of,
        };
        // The tags first: each keeps its table's version from vacuum and log cleanup.
        for (table, pinned) in &pin.tables {
            let handle = self.table(table).await?;
            handle.tag(name, pinned.version).await?;
        }
        let storage = self.root_storage()?;
        let bytes = serde_json::to_vec_pretty(&pin)
            .map_err(|e| bad_pin(name, &format!("cannot serialize the manifest: {e}")))?;
        let path = storage.relative_path(&relative)?;
        match storage.put_if_absent(&path, bytes.into()).await? {
            PutOutcome::Created => Ok(pin),
            PutOutcome::AlreadyExists => {
                let existing = self.get_pin(name).await?;
                if existing.tables == pin.tables {
                    Ok(existing)
                } else {
                    Err(bad_pin(
                        name,
                        "the name is taken by another pin; choose another",
                    ))
                }
            }
        }
    }

    /// The lake root as a storage, for its side files.
    fn root_storage(&self) -> Result<Storage, PipelineError> {
        Ok(match self.custom_store() {
            Some(store) => Storage::from_store(store, self.root(), self.root().to_string())?,
            None => Storage::open(self.root(), self.options())?,
        })
    }
}

fn pin_path(name: &str) -> Result<String, PipelineError> {
    let valid = !name.is_empty()
        && name.len() <= 200
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.starts_with('.');
    if !valid {
        return Err(bad_pin(
            name,
            "a pin name is 1 to 200 letters, digits, '-', '_' and '.', not starting with '.'",
        ));
    }
    Ok(format!("{PINS_DIR}/{name}.json"))
}

fn parse_pin(storage: &Storage, relative: &str, bytes: &[u8]) -> Result<Pin, PipelineError> {
    serde_json::from_slice(bytes).map_err(|e| {
        PipelineError::Table(strata::Error::CorruptTag {
            path: format!("{}/{relative}", storage.location().trim_end_matches('/')),
            reason: format!("not a pin manifest: {e}"),
        })
    })
}

fn bad_pin(name: &str, reason: &str) -> PipelineError {
    PipelineError::BadFlow {
        flow: format!("pin {name}"),
        reason: reason.to_string(),
    }
}

fn chrono_now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
