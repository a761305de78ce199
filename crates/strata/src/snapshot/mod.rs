//! Snapshots: the state of a table at one version, and the I/O shell that builds them.
//!
//! Loading lists `_delta_log/` (starting at the `_last_checkpoint` hint when there is one),
//! selects a segment with [`LogListing::segment`], reads the checkpoint and commits
//! concurrently, and replays them with [`TableState`]. A loaded snapshot is immutable and
//! cheap to clone; [`Snapshot::refresh`] reads only commits newer than it.
//! `protocol/PROTOCOL.md#snapshots`.

mod checkpoint;

pub use checkpoint::parse_checkpoint;

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use futures::{StreamExt, TryStreamExt};

use crate::protocol::actions::{Action, CommitInfo, DomainMetadata, Metadata, Protocol, parse_commit};
use crate::log::last_checkpoint::LastCheckpointHint;
use crate::error::{Error, Result};
use crate::protocol::features;
use crate::log::files::Files;
use crate::log::replay::TableState;
use crate::log::segment::{LogFile, LogListing, SegmentError};
use crate::protocol::paths::{commit_file_name, parse_log_file_name};
use crate::log::timetravel::{OutOfRange, make_monotonic, version_at};
use crate::protocol::schema::StructType;
use crate::storage::Storage;

/// How many log files are fetched at once while loading.
const LOG_FETCH_CONCURRENCY: usize = 32;

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

    /// Table properties (`metaData.configuration`).
    pub fn properties(&self) -> &HashMap<String, String> {
        &self.metadata().configuration
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
            Some(base) => {
                checkpoint::load_stats(&self.inner.storage, base, self.version()).await
            }
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

    /// Total rows according to file statistics; `None` if any file lacks `numRecords`.
    /// Loads the statistics first ([`Snapshot::load_stats`]).
    ///
    /// # Errors
    /// As [`Snapshot::load_stats`].
    pub async fn num_records(&self) -> Result<Option<i64>> {
        self.load_stats().await?;
        // Checked: counts come from storage and may be anything.
        Ok(self.files().try_fold(0i64, |total, f| {
            total.checked_add(crate::protocol::actions::Stats::parse(f.stats())?.num_records?)
        }))
    }

    pub(crate) fn storage(&self) -> &Storage {
        &self.inner.storage
    }

    pub(crate) fn state(&self) -> &TableState {
        &self.inner.state
    }

    /// Whether in-commit timestamps are enabled at this version.
    pub(crate) fn in_commit_timestamps_enabled(&self) -> bool {
        self.properties()
            .get("delta.enableInCommitTimestamps")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    fn from_state(storage: Storage, state: TableState, timestamp_ms: i64) -> Result<Snapshot> {
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
        let schema = StructType::parse(&metadata.schema_string)?;
        let arrow_schema = Arc::new(schema.to_arrow()?);
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

    /// Loads the latest version, or `version` when given.
    ///
    /// # Errors
    /// [`Error::NotATable`], [`Error::VersionNotFound`], [`Error::MissingVersion`],
    /// [`Error::CorruptLog`], [`Error::CorruptCheckpoint`], [`Error::MissingAction`],
    /// [`Error::UnsupportedReaderFeatures`], [`Error::Storage`].
    pub async fn load(storage: &Storage, version: Option<i64>) -> Result<Snapshot> {
        let listing = list_from_hint(storage, version).await?;
        let segment = listing
            .segment(version)
            .map_err(|e| segment_error(storage, e))?;
        let mut state = match &segment.checkpoint {
            Some((cp_version, parts)) => {
                checkpoint::read_checkpoint(storage, *cp_version, parts).await?
            }
            None => TableState::new(),
        };
        let timestamp_ms = listing
            .commits
            .get(&segment.version)
            .or_else(|| segment.checkpoint.as_ref().and_then(|(_, p)| p.first()))
            .map(|f| f.last_modified_ms)
            .unwrap_or_default();
        replay_commits(storage, &mut state, &segment.commits).await?;
        Snapshot::from_state(storage.clone(), state, timestamp_ms)
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
        let target_ms = timestamp.timestamp_millis();
        let latest = Snapshot::load(storage, None).await?;
        let listing = LogListing::from_files(list_log(storage, None).await?);
        // After log cleanup (by strata or another client) the enablement commit may be gone:
        // the search then starts at the earliest commit still listed.
        let earliest_commit = listing.commits.keys().next().copied().unwrap_or(0);
        let ict_start = ict_enablement_version(&latest).map(|s| s.max(earliest_commit));
        let first_ict = match ict_start {
            Some(start) => ict_of(storage, start).await?,
            None => None,
        };
        let version = match (ict_start, first_ict) {
            (Some(start), Some(first)) if first <= target_ms => {
                search_ict(storage, start, latest.version(), target_ms).await?
            }
            _ => {
                // Before in-commit timestamps took effect (or without them): file times.
                let mut commits: Vec<(i64, i64)> = listing
                    .commits
                    .values()
                    .filter(|f| ict_start.is_none_or(|s| f.version < s))
                    .map(|f| (f.version, f.last_modified_ms))
                    .collect();
                make_monotonic(&mut commits);
                match (version_at(&commits, target_ms), ict_start, first_ict) {
                    (Ok(v), _, _) => v,
                    // Later than every pre-enablement commit but before the first in-commit
                    // timestamp: the last version before enablement was current.
                    (Err(OutOfRange::After(v, _)), Some(_), Some(_)) => v,
                    (Err(OutOfRange::Before(..)), Some(start), Some(first))
                        if commits.is_empty() =>
                    {
                        return Err(out_of_range(
                            storage,
                            timestamp,
                            OutOfRange::Before(start, first),
                        ));
                    }
                    (Err(e), _, _) => return Err(out_of_range(storage, timestamp, e)),
                }
            }
        };
        Snapshot::load(storage, Some(version)).await
    }

    /// The latest version of the table, reading only commits newer than this snapshot (or
    /// reloading from the latest checkpoint if those commits are no longer there).
    ///
    /// # Errors
    /// As [`Snapshot::load`].
    pub async fn refresh(&self) -> Result<Snapshot> {
        let storage = &self.inner.storage;
        let files = list_log(storage, Some(&format!("{:020}", self.version()))).await?;
        let listing = LogListing::from_files(files);
        let newer: Vec<LogFile> = listing
            .commits
            .into_values()
            .filter(|f| f.version > self.version())
            .collect();
        let contiguous = newer
            .iter()
            .zip(self.version() + 1..)
            .all(|(f, v)| f.version == v);
        if newer.is_empty() {
            return Ok(self.clone());
        }
        if !contiguous {
            return Snapshot::load(storage, None).await;
        }
        let mut state = self.inner.state.clone();
        let timestamp_ms = newer.last().map(|f| f.last_modified_ms).unwrap_or_default();
        replay_commits(storage, &mut state, &newer).await?;
        Snapshot::from_state(storage.clone(), state, timestamp_ms)
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

fn segment_error(storage: &Storage, e: SegmentError) -> Error {
    let location = storage.location().to_string();
    match e {
        SegmentError::Empty => Error::NotATable { location },
        SegmentError::VersionNotFound {
            version,
            earliest,
            latest,
        } => Error::VersionNotFound {
            location,
            version,
            earliest,
            latest,
        },
        SegmentError::MissingVersion { missing } => Error::MissingVersion {
            location,
            missing,
            last_good: missing - 1,
        },
    }
}

fn out_of_range(
    storage: &Storage,
    timestamp: chrono::DateTime<chrono::Utc>,
    e: OutOfRange,
) -> Error {
    let fmt = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .unwrap_or_default()
            .to_rfc3339()
    };
    let reason = match e {
        OutOfRange::Before(v, ts) => format!(
            "it is before the earliest available commit (version {v} at {})",
            fmt(ts)
        ),
        OutOfRange::After(v, ts) => format!(
            "it is after the latest commit (version {v} at {}); open the latest version or version {v} explicitly",
            fmt(ts)
        ),
    };
    Error::TimestampOutOfRange {
        location: storage.location().to_string(),
        timestamp: timestamp.to_rfc3339(),
        reason,
    }
}

/// Lists `_delta_log/` as versioned log files, from `offset` (a name prefix) when given.
pub(crate) async fn list_log(storage: &Storage, offset: Option<&str>) -> Result<Vec<LogFile>> {
    let files = storage.list_log(offset).await?;
    Ok(files
        .into_iter()
        .filter_map(|(name, meta)| {
            let (version, kind) = parse_log_file_name(&name)?;
            Some(LogFile {
                name,
                version,
                kind,
                size: meta.size,
                last_modified_ms: meta.last_modified.timestamp_millis(),
            })
        })
        .collect())
}

/// How far back from a requested version the first listing for time travel looks for a
/// checkpoint (Spark looks back in windows of 1,000 versions too).
const TIME_TRAVEL_WINDOW: i64 = 1000;

/// Lists the part of the log that loading needs, falling back to a full listing.
///
/// - Latest version: from the `_last_checkpoint` hint, when the hint is readable and its
///   checkpoint is listed (a missing, unreadable or stale hint costs the full listing only).
/// - A given version: from [`TIME_TRAVEL_WINDOW`] versions before it, when that window holds
///   a checkpoint that reconstructs the version.
async fn list_from_hint(storage: &Storage, version: Option<i64>) -> Result<LogListing> {
    match version {
        None => {
            let hint = match storage.get(&storage.log_path("_last_checkpoint")).await {
                Ok(bytes) => LastCheckpointHint::parse(&bytes),
                Err(_) => None,
            };
            if let Some(hint) = hint {
                let listing = list_after(storage, hint.version - 1).await?;
                if listing.checkpoints.contains_key(&hint.version) {
                    return Ok(listing);
                }
            }
        }
        Some(v) if v > TIME_TRAVEL_WINDOW => {
            let listing = list_after(storage, v - TIME_TRAVEL_WINDOW).await?;
            if listing
                .segment(Some(v))
                .is_ok_and(|segment| segment.checkpoint.is_some())
            {
                return Ok(listing);
            }
        }
        Some(_) => {}
    }
    Ok(LogListing::from_files(list_log(storage, None).await?))
}

/// Lists the log files of versions `>= version`.
async fn list_after(storage: &Storage, version: i64) -> Result<LogListing> {
    let offset = format!("{:020}", version.max(0));
    Ok(LogListing::from_files(
        list_log(storage, Some(&offset)).await?,
    ))
}

/// Reads and parses commits (fetched concurrently, applied in order).
async fn replay_commits(
    storage: &Storage,
    state: &mut TableState,
    commits: &[LogFile],
) -> Result<()> {
    // Each fetch owns a clone of the storage handle (an Arc), so the future is `Send +
    // 'static` and the whole load can run inside `tokio::spawn`.
    let versions: Vec<i64> = commits.iter().map(|f| f.version).collect();
    let mut parsed = futures::stream::iter(versions.into_iter().map(|version| {
        let storage = storage.clone();
        async move { read_commit(&storage, version).await }
    }))
    .buffered(LOG_FETCH_CONCURRENCY);
    while let Some((version, actions)) = parsed.try_next().await? {
        state.apply(version, actions);
    }
    Ok(())
}

/// Reads one commit file into actions.
pub(crate) async fn read_commit(storage: &Storage, version: i64) -> Result<(i64, Vec<Action>)> {
    let path = storage.log_path(&commit_file_name(version));
    let bytes = storage.get(&path).await?;
    let actions = parse_commit(&bytes).map_err(|(line, reason)| Error::CorruptLog {
        path: path.to_string(),
        version,
        line,
        reason,
    })?;
    Ok((version, actions))
}

fn ict_enablement_version(latest: &Snapshot) -> Option<i64> {
    if !latest.in_commit_timestamps_enabled() {
        return None;
    }
    Some(
        latest
            .properties()
            .get("delta.inCommitTimestampEnablementVersion")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
    )
}

async fn ict_of(storage: &Storage, version: i64) -> Result<Option<i64>> {
    let (_, actions) = read_commit(storage, version).await?;
    Ok(actions.into_iter().find_map(|a| match a {
        Action::CommitInfo(ci) => ci.in_commit_timestamp,
        _ => None,
    }))
}

/// Binary search over versions `[lo, hi]` whose in-commit timestamps are monotonic; the
/// caller has checked that `ict(lo) <= target`.
async fn search_ict(storage: &Storage, lo: i64, hi: i64, target_ms: i64) -> Result<i64> {
    let latest_ict = ict_of(storage, hi).await?.unwrap_or(i64::MAX);
    if target_ms > latest_ict {
        return Err(Error::TimestampOutOfRange {
            location: storage.location().to_string(),
            timestamp: chrono::DateTime::from_timestamp_millis(target_ms)
                .unwrap_or_default()
                .to_rfc3339(),
            reason: format!(
                "it is after the latest commit (version {hi}); open the latest version explicitly"
            ),
        });
    }
    let (mut lo, mut hi) = (lo, hi);
    while lo < hi {
        let mid = lo + (hi - lo + 1) / 2;
        match ict_of(storage, mid).await? {
            Some(t) if t <= target_ms => lo = mid,
            _ => hi = mid - 1,
        }
    }
    Ok(lo)
}
