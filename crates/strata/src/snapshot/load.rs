//! Loading snapshots: list `_delta_log/` (from the `_last_checkpoint` hint when there is one),
//! select a segment with [`LogListing::segment`], read the checkpoint and the commits after
//! it concurrently, and replay them (`protocol/PROTOCOL.md#snapshots`). Time travel by
//! timestamp resolves a version first (`protocol/PROTOCOL.md#time-travel`).

use futures::{StreamExt, TryStreamExt};

use super::{Snapshot, checkpoint};
use crate::error::{Error, Result};
use crate::log::last_checkpoint::LastCheckpointHint;
use crate::log::replay::TableState;
use crate::log::segment::{LogFile, LogListing, SegmentError};
use crate::log::timetravel::{OutOfRange, make_monotonic, version_at};
use crate::protocol::actions::{Action, parse_commit};
use crate::protocol::paths::{LAST_CHECKPOINT, commit_file_name, parse_log_file_name};
use crate::storage::Storage;

/// How many log files are fetched at once while loading.
const LOG_FETCH_CONCURRENCY: usize = 32;

/// Loads the latest version, or `version` when given.
pub(super) async fn load(storage: &Storage, version: Option<i64>) -> Result<Snapshot> {
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
    // The commit's time as time travel sees it (`log/timetravel.rs`): made strictly
    // increasing over the listed commits, so a version and a timestamp read back agree.
    let mut times: Vec<(i64, i64)> = listing
        .commits
        .values()
        .filter(|f| f.version <= segment.version)
        .map(|f| (f.version, f.last_modified_ms))
        .collect();
    make_monotonic(&mut times);
    let timestamp_ms = times
        .last()
        .filter(|(v, _)| *v == segment.version)
        .map(|(_, t)| *t)
        .or_else(|| {
            let checkpoint = segment.checkpoint.as_ref().and_then(|(_, p)| p.first());
            checkpoint.map(|f| f.last_modified_ms)
        })
        .unwrap_or_default();
    replay_commits(storage, &mut state, &segment.commits).await?;
    Snapshot::from_state(storage.clone(), state, timestamp_ms)
}

/// Loads the version that was current at `timestamp`.
pub(super) async fn load_at_timestamp(
    storage: &Storage,
    timestamp: chrono::DateTime<chrono::Utc>,
) -> Result<Snapshot> {
    let target_ms = timestamp.timestamp_millis();
    let latest = load(storage, None).await?;
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
                (Err(OutOfRange::Before(..)), Some(start), Some(first)) if commits.is_empty() => {
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
    load(storage, Some(version)).await
}

/// The latest version after `snapshot`, reading only the commits newer than it.
pub(super) async fn refresh(snapshot: &Snapshot) -> Result<Snapshot> {
    let storage = snapshot.storage();
    let files = list_log(storage, Some(&format!("{:020}", snapshot.version()))).await?;
    let listing = LogListing::from_files(files);
    let newer: Vec<LogFile> = listing
        .commits
        .into_values()
        .filter(|f| f.version > snapshot.version())
        .collect();
    let contiguous = newer
        .iter()
        .zip(snapshot.version() + 1..)
        .all(|(f, v)| f.version == v);
    if newer.is_empty() {
        return Ok(snapshot.clone());
    }
    if !contiguous {
        return load(storage, None).await;
    }
    let mut state = snapshot.state().clone();
    let timestamp_ms = newer.iter().fold(snapshot.timestamp_ms(), |previous, f| {
        f.last_modified_ms.max(previous + 1)
    });
    replay_commits(storage, &mut state, &newer).await?;
    Snapshot::from_state(storage.clone(), state, timestamp_ms)
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
            let hint = match storage.get(&storage.log_path(LAST_CHECKPOINT)).await {
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
        path: storage.display_path(&path),
        version,
        line,
        reason,
    })?;
    Ok((version, actions))
}

fn ict_enablement_version(latest: &Snapshot) -> Option<i64> {
    let properties = latest.table_properties();
    properties.enable_in_commit_timestamps.then(|| {
        properties
            .in_commit_timestamp_enablement_version
            .unwrap_or(0)
    })
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
