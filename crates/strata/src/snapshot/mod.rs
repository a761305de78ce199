//! Snapshots: the state of a table at one version.
//!
//! A [`Snapshot`] is immutable and cheap to clone. This module holds what a snapshot *is* (its
//! protocol, metadata, schema, live files, transactions and domains) and how one is built:
//! loading and time travel ([`load`](self::load)), checkpoint reading ([`checkpoint`]) and the
//! cached latest snapshot a table handle shares with its builders ([`latest`]). What can be
//! *done* with a snapshot (scan, history, diff) is reached from it too, but lives in the
//! layers above (`read/`, `ops/`); `table.rs` lists every such entry point.
//! `protocol/PROTOCOL.md#snapshots`.

pub(crate) mod checkpoint;
pub(crate) mod latest;
pub(crate) mod load;
pub(crate) mod tags;

pub use checkpoint::parse_checkpoint;
pub(crate) use load::{list_log, read_commit};

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use arrow::datatypes::SchemaRef;

use crate::error::{Error, Result};
use crate::log::files::Files;
use crate::log::replay::TableState;
use crate::protocol::actions::{Action, Add, CommitInfo, DomainMetadata, Metadata, Protocol};
use crate::protocol::features::{self, TableFeature};
use crate::protocol::properties::TableProperties;
use crate::protocol::schema::StructType;
use crate::protocol::schema::column_mapping::{ColumnLookup, physical_partition_columns};
use crate::protocol::tags::{TAGS_DOMAIN, Tag, TagsConfig};
use crate::storage::Storage;

/// The state of a table at one version. Cheap to clone.
#[derive(Clone)]
pub struct Snapshot {
    inner: Arc<Inner>,
}

struct Inner {
    storage: Storage,
    state: TableState,
    schema: StructType,
    arrow_schema: SchemaRef,
    properties: TableProperties,
    timestamp_ms: i64,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("location", &self.inner.storage.location())
            .field("version", &self.version())
            .field("files", &self.inner.state.files.len())
            .finish()
    }
}

impl Snapshot {
    /// The table version this snapshot shows.
    pub fn version(&self) -> i64 {
        self.inner.state.version
    }

    /// The table's protocol at this version.
    pub fn protocol(&self) -> &Protocol {
        // Invariant: `from_state` refuses states without a protocol.
        self.inner
            .state
            .protocol
            .as_ref()
            .expect("validated at load")
    }

    /// The table's metadata at this version.
    pub fn metadata(&self) -> &Metadata {
        self.inner
            .state
            .metadata
            .as_ref()
            .expect("validated at load")
    }

    /// The table schema (Delta types).
    pub fn schema(&self) -> &StructType {
        &self.inner.schema
    }

    /// The table schema as Arrow, partition columns included, in table order.
    pub fn arrow_schema(&self) -> SchemaRef {
        self.inner.arrow_schema.clone()
    }

    /// Partition column names.
    pub fn partition_columns(&self) -> &[String] {
        &self.metadata().partition_columns
    }

    /// A file's partition values by the partition columns' (logical) names: `partitionValues`
    /// is keyed by physical names on a table with column mapping
    /// (`protocol/PROTOCOL.md#column-mapping`).
    pub fn partition_values_of(&self, add: &Add) -> BTreeMap<String, Option<String>> {
        let physical = physical_partition_columns(self.metadata());
        self.partition_columns()
            .iter()
            .zip(&physical)
            .map(|(logical, physical)| {
                (
                    logical.clone(),
                    add.partition_values.get(physical).cloned().flatten(),
                )
            })
            .collect()
    }

    /// Table properties (`metaData.configuration`).
    pub fn properties(&self) -> &HashMap<String, String> {
        &self.metadata().configuration
    }

    /// The reader features the table requires, a legacy reader version expressed as the
    /// features it implies (`protocol/PROTOCOL.md#supported-features`).
    pub fn reader_features(&self) -> BTreeSet<TableFeature> {
        features::reader_features(self.protocol())
    }

    /// The writer features the table requires, a legacy writer version expressed as the
    /// features it implies.
    pub fn writer_features(&self) -> BTreeSet<TableFeature> {
        features::writer_features(self.protocol())
    }

    /// How the table's columns are found in data files, statistics and partition values
    /// (`protocol/PROTOCOL.md#column-mapping`).
    pub(crate) fn column_lookup(&self) -> ColumnLookup {
        // An unknown mode never gets this far: the read gate refuses it.
        ColumnLookup::for_mode(&self.inner.properties.column_mapping_mode).unwrap_or_default()
    }

    /// The `delta.*` properties strata interprets, parsed once when the snapshot was built.
    pub fn table_properties(&self) -> &TableProperties {
        &self.inner.properties
    }

    /// The live data files: those of the checkpoint the snapshot was read from (in checkpoint
    /// order), then those added after it.
    ///
    /// Files from a checkpoint have no statistics ([`crate::FileView::stats`] is `None`) until
    /// [`Snapshot::load_stats`] has run: opening a table does not decode them.
    pub fn files(&self) -> Files<'_> {
        self.inner.state.files.iter()
    }

    /// Reads the per-file statistics that opening the snapshot skipped (they are most of a
    /// checkpoint's bytes), so that [`crate::FileView::stats`] returns them. Shared by every clone of
    /// this snapshot and the snapshots derived from it; a no-op once done.
    ///
    /// # Errors
    /// [`Error::CorruptCheckpoint`], [`Error::Storage`].
    pub async fn load_stats(&self) -> Result<()> {
        match self.inner.state.files.base() {
            Some(base) => checkpoint::load_stats(&self.inner.storage, base, self.version()).await,
            None => Ok(()),
        }
    }

    /// Number of live data files.
    pub fn num_files(&self) -> usize {
        self.inner.state.files.len()
    }

    /// The latest committed version of an application's idempotent writes.
    pub fn txn_version(&self, app_id: &str) -> Option<i64> {
        self.inner.state.txns.get(app_id).map(|t| t.version)
    }

    /// All application transaction versions.
    pub fn txn_versions(&self) -> impl Iterator<Item = (&str, i64)> {
        self.inner
            .state
            .txns
            .iter()
            .map(|(k, t)| (k.as_str(), t.version))
    }

    /// A live metadata domain.
    pub fn domain(&self, name: &str) -> Option<&DomainMetadata> {
        self.inner.state.domains.get(name)
    }

    /// The names of the live metadata domains.
    pub fn domain_names(&self) -> impl Iterator<Item = &str> {
        self.inner.state.domains.keys().map(String::as_str)
    }

    /// The tags earlier strata versions kept in the log (the legacy `strata.tags` domain) at
    /// this version, by name; the table's tags are [`Table::tags`](crate::Table::tags).
    ///
    /// # Errors
    /// [`Error::CorruptLog`] when the `strata.tags` domain is not the JSON strata writes.
    pub fn legacy_tags(&self) -> Result<BTreeMap<String, Tag>> {
        Ok(self.tags_config()?.tags)
    }

    /// The legacy `strata.tags` domain's configuration (empty when the table has none).
    pub(crate) fn tags_config(&self) -> Result<TagsConfig> {
        let Some(domain) = self.domain(TAGS_DOMAIN).filter(|d| !d.removed) else {
            return Ok(TagsConfig::default());
        };
        TagsConfig::parse(&domain.configuration).map_err(|e| Error::CorruptLog {
            path: format!(
                "{}/_delta_log (domainMetadata {TAGS_DOMAIN})",
                self.storage().location()
            ),
            version: self.version(),
            line: 0,
            reason: format!("the tags configuration is not valid: {e}"),
        })
    }

    /// The commit timestamp of this version in milliseconds: the in-commit timestamp when the
    /// table has them, else the commit file's modification time.
    pub fn timestamp_ms(&self) -> i64 {
        self.inner.timestamp_ms
    }

    /// The commit timestamp as a UTC datetime.
    pub fn timestamp(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp_millis(self.timestamp_ms()).unwrap_or_default()
    }

    /// The `commitInfo` of this version, when the snapshot was built by replaying its commit.
    pub fn commit_info(&self) -> Option<&CommitInfo> {
        self.inner.state.last_commit_info.as_ref()
    }

    /// Total rows according to file statistics, less the rows deletion vectors delete; `None`
    /// if any file lacks `numRecords`.
    /// Loads the statistics first ([`Snapshot::load_stats`]).
    ///
    /// # Errors
    /// As [`Snapshot::load_stats`].
    pub async fn num_records(&self) -> Result<Option<i64>> {
        self.load_stats().await?;
        // Checked: counts come from storage and may be anything.
        Ok(self.files().try_fold(0i64, |total, f| {
            // A negative count is no count: the total is unknown, not wrong.
            let physical = crate::protocol::actions::Stats::parse(f.stats())?
                .num_records
                .filter(|n| *n >= 0)?;
            let deleted = f.deletion_vector().map_or(0, |dv| dv.cardinality);
            total.checked_add(physical.checked_sub(deleted)?)
        }))
    }

    /// The storage the table lives on (what a writer or query engine opens the table with).
    pub fn storage(&self) -> &Storage {
        &self.inner.storage
    }

    pub(crate) fn state(&self) -> &TableState {
        &self.inner.state
    }

    /// Whether in-commit timestamps are enabled at this version.
    pub(crate) fn in_commit_timestamps_enabled(&self) -> bool {
        self.inner.properties.enable_in_commit_timestamps
    }

    pub(super) fn from_state(
        storage: Storage,
        state: TableState,
        timestamp_ms: i64,
    ) -> Result<Snapshot> {
        let location = storage.location().to_string();
        let missing = |action| Error::MissingAction {
            location: location.clone(),
            version: state.version,
            action,
        };
        let protocol = state.protocol.as_ref().ok_or_else(|| missing("protocol"))?;
        let metadata = state.metadata.as_ref().ok_or_else(|| missing("metaData"))?;
        features::check_read(protocol, metadata).map_err(|features| {
            Error::UnsupportedReaderFeatures {
                location: location.clone(),
                reader_version: protocol.min_reader_version,
                features,
            }
        })?;
        if metadata.schema_string.trim().is_empty() {
            return Err(missing("metaData with a schemaString"));
        }
        let schema = StructType::parse(&metadata.schema_string)?;
        let arrow_schema = Arc::new(schema.to_arrow()?);
        let properties = TableProperties::from_configuration(&metadata.configuration);
        let timestamp_ms = match &state.last_commit_info {
            Some(CommitInfo {
                in_commit_timestamp: Some(ict),
                ..
            }) => *ict,
            _ => timestamp_ms,
        };
        Ok(Snapshot {
            inner: Arc::new(Inner {
                storage,
                state,
                schema,
                arrow_schema,
                properties,
                timestamp_ms,
            }),
        })
    }

    /// The state a table is created from: version -1 holding the new protocol and metadata,
    /// so that the creating commit goes through the same [`crate::Transaction`] path.
    pub(crate) fn for_new_table(
        storage: &Storage,
        protocol: Protocol,
        metadata: Metadata,
    ) -> Result<Snapshot> {
        let mut state = TableState::new();
        state.protocol = Some(protocol);
        state.metadata = Some(metadata);
        Snapshot::from_state(storage.clone(), state, 0)
    }

    /// This version as it will be once a commit changes its `metaData` (and `protocol`): the
    /// schema a write that evolves the table encodes its files with, before it commits.
    pub(crate) fn with_metadata(
        &self,
        protocol: Option<Protocol>,
        metadata: Metadata,
    ) -> Result<Snapshot> {
        let mut state = self.inner.state.clone();
        if let Some(protocol) = protocol {
            state.protocol = Some(protocol);
        }
        state.metadata = Some(metadata);
        Snapshot::from_state(self.inner.storage.clone(), state, self.inner.timestamp_ms)
    }

    /// Loads the latest version, or `version` when given.
    ///
    /// # Errors
    /// [`Error::NotATable`], [`Error::VersionNotFound`], [`Error::MissingVersion`],
    /// [`Error::CorruptLog`], [`Error::CorruptCheckpoint`], [`Error::MissingAction`],
    /// [`Error::UnsupportedReaderFeatures`], [`Error::Storage`].
    pub async fn load(storage: &Storage, version: Option<i64>) -> Result<Snapshot> {
        load::load(storage, version).await
    }

    /// Loads the version that was current at `timestamp` (Delta semantics: the latest commit
    /// at or before it; commit file modification times made monotonic, or in-commit
    /// timestamps where the table enables them).
    ///
    /// # Errors
    /// [`Error::TimestampOutOfRange`] when the timestamp is before the first or after the latest
    /// commit; the errors of [`Snapshot::load`].
    pub async fn load_at_timestamp(
        storage: &Storage,
        timestamp: chrono::DateTime<chrono::Utc>,
    ) -> Result<Snapshot> {
        load::load_at_timestamp(storage, timestamp).await
    }

    /// The latest version of the table, reading only commits newer than this snapshot (or
    /// reloading from the latest checkpoint if those commits are no longer there).
    ///
    /// # Errors
    /// As [`Snapshot::load`].
    pub async fn refresh(&self) -> Result<Snapshot> {
        load::refresh(self).await
    }

    /// Refuses tables whose writer protocol strata cannot honour: the protocol gate every
    /// operation that changes the table (or its log) passes first
    /// (`protocol/PROTOCOL.md#supported-features`).
    ///
    /// # Errors
    /// [`Error::UnsupportedWriterFeatures`] naming the features.
    pub(crate) fn require_writable(&self) -> Result<()> {
        features::check_write(self.protocol(), self.metadata()).map_err(|features| {
            Error::UnsupportedWriterFeatures {
                location: self.storage().location().to_string(),
                writer_version: self.protocol().min_writer_version,
                features,
            }
        })
    }

    /// The snapshot after `commits` (contiguous, starting right after this version) were
    /// applied on top of this one: no I/O, because a committer knows the winners it read and
    /// its own actions. `timestamp_ms` is the last commit's time.
    pub(crate) fn advance(
        &self,
        commits: Vec<(i64, Vec<Action>)>,
        timestamp_ms: i64,
    ) -> Result<Snapshot> {
        let mut state = self.inner.state.clone();
        for (version, actions) in commits {
            debug_assert_eq!(version, state.version + 1, "commits must be contiguous");
            state.apply(version, actions);
        }
        Snapshot::from_state(self.inner.storage.clone(), state, timestamp_ms)
    }
}
