//! Log cleanup planning: which `_delta_log/` files have expired
//! (`protocol/PROTOCOL.md#log-cleanup`).
//!
//! Pure: input is a listing of the log and the retention cutoff (`now −
//! delta.logRetentionDuration`, in milliseconds), output the file names to delete. The shell
//! (`checkpoint/cleanup.rs`) lists, plans with [`plan_cleanup`] and deletes.
//!
//! # The rule
//!
//! After Spark's `MetadataCleanup`, with commit timestamps as time travel sees them: each
//! commit file's modification time, made strictly increasing ([`make_monotonic`]).
//!
//! 1. **Window start `E`**: the version current at the cutoff, that is the latest commit whose
//!    adjusted timestamp is at or before the cutoff (the earliest commit when every commit is
//!    newer; the latest when every commit is older). Every timestamp from the cutoff on
//!    resolves to `E` or a later version, so `E` and everything after it must stay readable
//!    and keep their timestamps.
//! 2. **Covering checkpoint `C`**: the latest complete checkpoint (classic, or multi-part with
//!    every part, as [`LogListing`] selects them) at or below `E` for which
//!    - commit `C` exists: it is kept, and carries `C`'s timestamp for time travel;
//!    - deleting the commits before `C` changes no adjusted timestamp after `E`: some commit
//!      from `C` up to the first commit after `E` has its own time as its adjusted time, so
//!      the adjustment restarts there whatever came before.
//!
//!    When there is no such checkpoint, nothing is deleted.
//! 3. **Deletions**: every versioned file whose version is below `C` **and** whose own
//!    modification time is before the cutoff: commits, checkpoints and the parts of multi-part
//!    (also incomplete) checkpoints, `N.crc`, `N.M.compacted.json` and any other `N.*` file. A
//!    file newer than the cutoff (clock skew, a checkpoint being written now) is kept. A V2
//!    checkpoint (`N.checkpoint.UUID.*`) may be `C` (strata reads them) but is never deleted:
//!    its sidecars are not in this listing, and deleting the top-level file alone would orphan
//!    them (the cost of keeping it is only space). `_last_checkpoint` and
//!    unversioned files are never in the listing and never deleted.
//!
//! Why versions from `C` on read exactly as before: loading `v ≥ C` selects the latest
//! checkpoint at or below `v`, which is at or after `C`, and the commits after it; none of
//! those files is deleted. Every commit below `C` has an adjusted timestamp below the cutoff, so
//! all of them go, and the first commit left is `C`.
//!
//! Deletions are returned ascending by version (then name), so a cleanup that stops part-way
//! has removed a prefix of the old versions and left everything from `C` on intact.

use crate::log::segment::{LogFile, LogListing};
use crate::log::timetravel::make_monotonic;
use crate::protocol::paths::LogFileKind;

/// What a cleanup will delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CleanupPlan {
    /// `E`: the version current at the cutoff (`None` when the log has no commits).
    pub window_start: Option<i64>,
    /// `C`: the checkpoint the log will start at, `None` when no checkpoint qualifies (then
    /// nothing is deleted).
    pub checkpoint: Option<i64>,
    /// File names within `_delta_log/` to delete, ascending by version, then by name.
    pub delete: Vec<String>,
    /// The earliest version from which every version up to the latest is readable once the
    /// files are deleted: `C`; without a checkpoint, the log's earliest version as
    /// [`LogListing::earliest_version`] reports it (`None` for an empty listing).
    pub earliest_version: Option<i64>,
}

/// Plans the cleanup of a log listing for a retention cutoff (milliseconds since the epoch);
/// see the module documentation for the rule.
pub fn plan_cleanup(files: &[LogFile], cutoff_ms: i64) -> CleanupPlan {
    let listing = LogListing::from_files(files.iter().cloned());
    let commits = commit_times(&listing);
    let window_start = window_start(&commits, cutoff_ms);
    let checkpoint = window_start.and_then(|e| covering_checkpoint(&listing, &commits, e));
    let Some(c) = checkpoint else {
        return CleanupPlan {
            window_start,
            checkpoint: None,
            delete: Vec::new(),
            earliest_version: listing.earliest_version(),
        };
    };
    let mut expired: Vec<&LogFile> = files
        .iter()
        .filter(|f| is_expired(f, c, cutoff_ms))
        .collect();
    expired.sort_by(|a, b| (a.version, &a.name).cmp(&(b.version, &b.name)));
    CleanupPlan {
        window_start,
        checkpoint: Some(c),
        delete: expired.into_iter().map(|f| f.name.clone()).collect(),
        earliest_version: Some(c),
    }
}

/// A commit's own timestamp and the one time travel uses.
#[derive(Debug, Clone, Copy)]
struct CommitTime {
    version: i64,
    own_ms: i64,
    adjusted_ms: i64,
}

/// The commits ascending by version with their monotonic-adjusted timestamps.
fn commit_times(listing: &LogListing) -> Vec<CommitTime> {
    let mut adjusted: Vec<(i64, i64)> = listing
        .commits
        .values()
        .map(|f| (f.version, f.last_modified_ms))
        .collect();
    make_monotonic(&mut adjusted);
    listing
        .commits
        .values()
        .zip(adjusted)
        .map(|(f, (version, adjusted_ms))| CommitTime {
            version,
            own_ms: f.last_modified_ms,
            adjusted_ms,
        })
        .collect()
}

/// `E`: the latest commit at or before the cutoff, else the earliest commit.
fn window_start(commits: &[CommitTime], cutoff_ms: i64) -> Option<i64> {
    let at_or_before = commits.partition_point(|c| c.adjusted_ms <= cutoff_ms);
    commits
        .get(at_or_before.saturating_sub(1))
        .map(|c| c.version)
}

/// `C`: the latest complete checkpoint at or below `window_start` that keeps the timestamps
/// after the window start as they are.
fn covering_checkpoint(
    listing: &LogListing,
    commits: &[CommitTime],
    window_start: i64,
) -> Option<i64> {
    listing
        .checkpoints
        .range(..=window_start)
        .rev()
        .map(|(version, _)| *version)
        .find(|c| timestamps_survive(commits, *c, window_start))
}

/// Whether commit `checkpoint` exists and, once every commit before it is gone, every commit
/// after `window_start` keeps its adjusted timestamp. Dropping earlier commits can only lower
/// adjusted timestamps, and an adjustment restarts at a commit whose own time is above its
/// predecessor's: so the timestamps survive when such a commit lies between the checkpoint and
/// the first commit after the window start.
fn timestamps_survive(commits: &[CommitTime], checkpoint: i64, window_start: i64) -> bool {
    let Ok(first) = commits.binary_search_by_key(&checkpoint, |c| c.version) else {
        return false;
    };
    let after_window = commits.partition_point(|c| c.version <= window_start);
    let last = after_window.min(commits.len() - 1);
    commits[first..=last]
        .iter()
        .any(|c| c.own_ms == c.adjusted_ms)
}

fn is_expired(file: &LogFile, checkpoint: i64, cutoff_ms: i64) -> bool {
    file.version < checkpoint
        && file.last_modified_ms < cutoff_ms
        && file.kind != LogFileKind::V2Checkpoint
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;
    use crate::log::segment::SegmentError;
    use crate::log::timetravel::version_at;
    use crate::protocol::paths::{checkpoint_file_name, commit_file_name, parse_log_file_name};

    const HOUR_MS: i64 = 3_600_000;

    fn file(name: &str, last_modified_ms: i64) -> LogFile {
        let (version, kind) = parse_log_file_name(name).expect("log file name");
        LogFile {
            name: name.into(),
            version,
            kind,
            size: 1,
            last_modified_ms,
        }
    }

    fn commit(v: i64, ms: i64) -> LogFile {
        file(&commit_file_name(v), ms)
    }

    fn checkpoint(v: i64, ms: i64) -> LogFile {
        file(&checkpoint_file_name(v), ms)
    }

    fn part(v: i64, part: u32, parts: u32, ms: i64) -> LogFile {
        file(
            &format!("{v:020}.checkpoint.{part:010}.{parts:010}.parquet"),
            ms,
        )
    }

    /// Commits `0..=latest` an hour apart (version v at `v` hours) and classic checkpoints at
    /// `checkpoints`, each written with its commit.
    fn log(latest: i64, checkpoints: &[i64]) -> Vec<LogFile> {
        let mut files: Vec<LogFile> = (0..=latest).map(|v| commit(v, v * HOUR_MS)).collect();
        files.extend(checkpoints.iter().map(|v| checkpoint(*v, *v * HOUR_MS)));
        files
    }

    fn remaining(files: &[LogFile], plan: &CleanupPlan) -> Vec<LogFile> {
        let gone: BTreeSet<&str> = plan.delete.iter().map(String::as_str).collect();
        files
            .iter()
            .filter(|f| !gone.contains(f.name.as_str()))
            .cloned()
            .collect()
    }

    fn names(files: &[LogFile]) -> Vec<String> {
        files.iter().map(|f| f.name.clone()).collect()
    }

    /// Adjusted commit timestamps as time travel computes them.
    fn time_travel_view(files: &[LogFile]) -> Vec<(i64, i64)> {
        let listing = LogListing::from_files(files.iter().cloned());
        let mut commits: Vec<(i64, i64)> = listing
            .commits
            .values()
            .map(|f| (f.version, f.last_modified_ms))
            .collect();
        make_monotonic(&mut commits);
        commits
    }

    /// The guarantees of a plan, checked against the log before and after it:
    /// - only files below `C` and older than the cutoff go, never a V2 checkpoint, ascending;
    /// - every version from `E` on that was readable reads from the same files as before, and
    ///   from `C` on every version that was readable still is;
    /// - every timestamp from the cutoff to the latest commit resolves to the same version.
    fn assert_safe(files: &[LogFile], cutoff_ms: i64, plan: &CleanupPlan) {
        let by_name: std::collections::HashMap<&str, &LogFile> =
            files.iter().map(|f| (f.name.as_str(), f)).collect();
        let deleted: Vec<&LogFile> = plan.delete.iter().map(|n| by_name[n.as_str()]).collect();
        let order: Vec<(i64, &str)> = deleted
            .iter()
            .map(|f| (f.version, f.name.as_str()))
            .collect();
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(order, sorted, "deletions ascending");
        for f in &deleted {
            let c = plan.checkpoint.expect("deletions need a checkpoint");
            assert!(f.version < c, "{} is not below C={c}", f.name);
            assert!(
                f.last_modified_ms < cutoff_ms,
                "{} is newer than cutoff",
                f.name
            );
            assert_ne!(f.kind, LogFileKind::V2Checkpoint);
        }
        let before = LogListing::from_files(files.iter().cloned());
        let after_files = remaining(files, plan);
        let after = LogListing::from_files(after_files.iter().cloned());
        let Some(latest) = before.latest_version() else {
            return;
        };
        let keep_from = plan
            .window_start
            .unwrap_or(latest)
            .min(plan.checkpoint.unwrap_or(i64::MAX));
        for v in keep_from..=latest {
            match before.segment(Some(v)) {
                Ok(segment) => assert_eq!(after.segment(Some(v)), Ok(segment), "version {v}"),
                Err(e) => assert!(
                    matches!(e, SegmentError::MissingVersion { .. }),
                    "version {v} was unreadable before: {e:?}"
                ),
            }
        }
        let (old, new) = (time_travel_view(files), time_travel_view(&after_files));
        if let Some(&(_, last_ms)) = old.last() {
            let probes = old
                .iter()
                .flat_map(|(_, ms)| [ms - 1, *ms, ms + 1])
                .chain([cutoff_ms, last_ms])
                .filter(|t| (cutoff_ms..=last_ms).contains(t));
            for t in probes {
                assert_eq!(version_at(&new, t), version_at(&old, t), "timestamp {t}");
            }
        }
    }

    #[test]
    fn no_checkpoint_deletes_nothing() {
        let files = log(20, &[]);
        let plan = plan_cleanup(&files, 15 * HOUR_MS);
        assert_eq!(plan.window_start, Some(15));
        assert_eq!((plan.checkpoint, plan.delete.len()), (None, 0));
        assert_eq!(plan.earliest_version, Some(0));
    }

    #[test]
    fn window_starting_at_a_checkpoint_starts_the_log_there() {
        let files = log(12, &[5, 10]);
        for cutoff in [10 * HOUR_MS, 10 * HOUR_MS + 1, 11 * HOUR_MS - 1] {
            let plan = plan_cleanup(&files, cutoff);
            assert_eq!(
                (plan.window_start, plan.checkpoint, plan.earliest_version),
                (Some(10), Some(10), Some(10))
            );
            let mut expected: Vec<String> = (0..10).map(commit_file_name).collect();
            expected.push(checkpoint_file_name(5));
            expected.sort();
            assert_eq!(plan.delete, expected);
            assert_safe(&files, cutoff, &plan);
        }
    }

    #[test]
    fn window_between_checkpoints_keeps_the_earlier_one() {
        let files = log(12, &[5, 10]);
        // Version 9 is current at the cutoff: the checkpoint at 10 does not cover it.
        for cutoff in [7 * HOUR_MS, 9 * HOUR_MS + 1, 10 * HOUR_MS - 1] {
            let plan = plan_cleanup(&files, cutoff);
            assert_eq!(plan.checkpoint, Some(5));
            assert_eq!(
                plan.delete,
                (0..5).map(commit_file_name).collect::<Vec<_>>()
            );
            assert_safe(&files, cutoff, &plan);
        }
        // Before the first checkpoint: nothing is covered yet.
        let plan = plan_cleanup(&files, 4 * HOUR_MS);
        assert_eq!((plan.window_start, plan.checkpoint), (Some(4), None));
        assert!(plan.delete.is_empty());
    }

    #[test]
    fn everything_older_than_the_cutoff_goes_up_to_the_latest_checkpoint() {
        let files = log(12, &[5, 10]);
        let plan = plan_cleanup(&files, 100 * HOUR_MS);
        assert_eq!((plan.window_start, plan.checkpoint), (Some(12), Some(10)));
        let after = remaining(&files, &plan);
        let mut expected = vec![checkpoint_file_name(10)];
        expected.extend((10..=12).map(commit_file_name));
        let mut left = names(&after);
        left.sort();
        expected.sort();
        assert_eq!(left, expected);
        assert_safe(&files, 100 * HOUR_MS, &plan);
    }

    #[test]
    fn files_newer_than_the_cutoff_are_kept_whatever_their_version() {
        let mut files = log(12, &[5, 10]);
        let late = 50 * HOUR_MS;
        files.push(file("00000000000000000003.crc", late));
        files.push(file("00000000000000000004.crc", 4 * HOUR_MS));
        files.push(file(
            "00000000000000000002.00000000000000000004.compacted.json",
            0,
        ));
        // The checkpoint at 5 was rewritten late (e.g. by a manual checkpoint).
        files.retain(|f| f.name != checkpoint_file_name(5));
        files.push(checkpoint(5, late));
        let cutoff = 10 * HOUR_MS;
        let plan = plan_cleanup(&files, cutoff);
        assert_eq!(plan.checkpoint, Some(10));
        let deleted: BTreeSet<&str> = plan.delete.iter().map(String::as_str).collect();
        assert!(!deleted.contains("00000000000000000003.crc"));
        assert!(!deleted.contains(checkpoint_file_name(5).as_str()));
        assert!(deleted.contains("00000000000000000004.crc"));
        assert!(deleted.contains("00000000000000000002.00000000000000000004.compacted.json"));
        assert_safe(&files, cutoff, &plan);
    }

    #[test]
    fn a_commit_from_the_future_extends_the_window() {
        // Commit 3 was written by a clock 50 hours ahead: time travel puts 3.. after it, so
        // the window starts at 2 and no checkpoint covers it.
        let mut files = log(12, &[1, 5, 10]);
        files.retain(|f| f.name != commit_file_name(3));
        files.push(commit(3, 50 * HOUR_MS));
        let plan = plan_cleanup(&files, 10 * HOUR_MS);
        assert_eq!((plan.window_start, plan.checkpoint), (Some(2), Some(1)));
        assert_eq!(plan.delete, vec![commit_file_name(0)]);
        assert_safe(&files, 10 * HOUR_MS, &plan);
    }

    #[test]
    fn a_checkpoint_whose_deletion_would_shift_timestamps_is_not_used() {
        // Commits 8..=11 share one file time, so time travel sees 8h, 8h+1ms, 8h+2ms, 8h+3ms.
        // Starting the log at 10 would move 10 and 11 back to 8h and 8h+1ms, and a read at
        // 8h+2ms would find 11 instead of 10.
        let hour = |v: i64| if (8..=11).contains(&v) { 8 } else { v };
        let mut files: Vec<LogFile> = (0..=13).map(|v| commit(v, hour(v) * HOUR_MS)).collect();
        files.extend([checkpoint(5, 5 * HOUR_MS), checkpoint(10, 8 * HOUR_MS)]);
        let cutoff = 8 * HOUR_MS + 2;
        let plan = plan_cleanup(&files, cutoff);
        assert_eq!((plan.window_start, plan.checkpoint), (Some(10), Some(5)));
        assert_eq!(
            plan.delete,
            (0..5).map(commit_file_name).collect::<Vec<_>>()
        );
        assert_safe(&files, cutoff, &plan);
        // Were the log started at 10 anyway, the read at the cutoff would change.
        let mut naive = files.clone();
        naive.retain(|f| f.version >= 10);
        assert_eq!(version_at(&time_travel_view(&files), cutoff), Ok(10));
        assert_eq!(version_at(&time_travel_view(&naive), cutoff), Ok(11));
    }

    #[test]
    fn a_shared_file_time_at_the_checkpoint_is_fine_when_the_next_commit_restarts() {
        // Commit 10 shares commit 9's time (adjusted to 9h+1ms) but commit 11 has its own.
        let mut files = log(12, &[5, 10]);
        files.retain(|f| f.name != commit_file_name(10));
        files.push(commit(10, 9 * HOUR_MS));
        let plan = plan_cleanup(&files, 10 * HOUR_MS);
        assert_eq!((plan.window_start, plan.checkpoint), (Some(10), Some(10)));
        assert_safe(&files, 10 * HOUR_MS, &plan);
    }

    #[test]
    fn incomplete_multipart_checkpoint_is_not_used_but_complete_one_is() {
        let mut files = log(12, &[]);
        files.extend([part(4, 1, 2, 4 * HOUR_MS), part(4, 2, 2, 4 * HOUR_MS)]);
        files.push(part(10, 1, 2, 10 * HOUR_MS));
        let cutoff = 11 * HOUR_MS;
        let plan = plan_cleanup(&files, cutoff);
        assert_eq!((plan.window_start, plan.checkpoint), (Some(11), Some(4)));
        assert_eq!(
            plan.delete,
            (0..4).map(commit_file_name).collect::<Vec<_>>()
        );
        assert_safe(&files, cutoff, &plan);

        // Once a later checkpoint covers the window, the old parts go too.
        files.push(checkpoint(11, 11 * HOUR_MS));
        let plan = plan_cleanup(&files, cutoff);
        assert_eq!(plan.checkpoint, Some(11));
        let deleted: BTreeSet<&str> = plan.delete.iter().map(String::as_str).collect();
        for f in files.iter().filter(|f| f.version < 11) {
            assert!(deleted.contains(f.name.as_str()), "{}", f.name);
        }
        assert_safe(&files, cutoff, &plan);
    }

    #[test]
    fn v2_checkpoints_may_be_used_but_are_never_deleted() {
        let mut files = log(12, &[5]);
        let v2 = "00000000000000000003.checkpoint.80a083e8-7026-4e79-81be-64bd76c43a11.json";
        let v2_late = "00000000000000000010.checkpoint.80a083e8-7026-4e79-81be-64bd76c43a12.json";
        files.push(file(v2, 3 * HOUR_MS));
        files.push(file(v2_late, 10 * HOUR_MS));
        let plan = plan_cleanup(&files, 11 * HOUR_MS);
        assert_eq!(
            plan.checkpoint,
            Some(10),
            "the V2 checkpoint reconstructs version 10"
        );
        assert!(!plan.delete.iter().any(|n| n == v2 || n == v2_late));
        assert_safe(&files, 11 * HOUR_MS, &plan);
    }

    #[test]
    fn every_version_in_the_window_stays_readable() {
        let files = log(30, &[3, 7, 10, 14, 20, 25]);
        for cutoff_h in 0..=32 {
            let cutoff = cutoff_h * HOUR_MS;
            let plan = plan_cleanup(&files, cutoff);
            let after = LogListing::from_files(remaining(&files, &plan));
            let window_start = plan.window_start.unwrap();
            for v in window_start..=30 {
                assert!(
                    after.segment(Some(v)).is_ok(),
                    "cutoff {cutoff_h}h: version {v}"
                );
            }
            assert_eq!(after.earliest_version(), plan.earliest_version);
            assert_safe(&files, cutoff, &plan);
        }
    }

    #[test]
    fn empty_listing_plans_nothing() {
        let plan = plan_cleanup(&[], 0);
        assert_eq!(
            plan,
            CleanupPlan {
                window_start: None,
                checkpoint: None,
                delete: Vec::new(),
                earliest_version: None,
            }
        );
    }

    /// A random log: commits from `first` (earlier ones cleaned up already) with file times
    /// that mostly increase but sometimes repeat or jump (clock skew), checkpoints of every
    /// kind (some incomplete or written late), and `.crc` files.
    fn arb_log() -> impl Strategy<Value = Vec<LogFile>> {
        (
            0i64..4,
            proptest::collection::vec((0i64..3, -2i64..6, 0u8..12, 0u8..5), 1..40),
        )
            .prop_map(|(first, steps)| {
                let mut files = Vec::new();
                let mut clock = 1_000i64;
                for (i, (repeat, delta, checkpoint_kind, extra)) in steps.into_iter().enumerate() {
                    let v = first + i as i64;
                    clock += if repeat == 0 { 0 } else { delta * 10 };
                    if v == first && first > 0 {
                        // The log starts at a (one-part) checkpoint, as after a cleanup.
                        files.push(part(v, 1, 1, clock));
                    }
                    files.push(commit(v, clock));
                    let late = clock + 70;
                    match checkpoint_kind {
                        0 | 1 => files.push(checkpoint(v, clock + 1)),
                        2 => files.push(checkpoint(v, late)),
                        3 => files.extend([part(v, 1, 2, clock), part(v, 2, 2, clock + 2)]),
                        4 => files.push(part(v, 1, 3, clock)),
                        _ => {}
                    }
                    match extra {
                        0 => files.push(file(&format!("{v:020}.crc"), clock)),
                        1 => files.push(file(&format!("{v:020}.crc"), late)),
                        _ => {}
                    }
                }
                files
            })
    }

    proptest! {
        #[test]
        fn plans_never_break_the_window(files in arb_log(), cutoff in 900i64..3_000) {
            let plan = plan_cleanup(&files, cutoff);
            assert_safe(&files, cutoff, &plan);
        }
    }
}
