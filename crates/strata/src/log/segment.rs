//! Naming of `_delta_log` files and selection of the files that reconstruct a version.
//!
//! Pure: input is a directory listing, output the checkpoint and commits to read
//! (`protocol/PROTOCOL.md#log-segment`). `_last_checkpoint` is only a hint for where to start
//! listing; correctness never depends on it, so a missing, empty or stale hint still selects
//! the right files.

use std::collections::BTreeMap;

use crate::protocol::paths::LogFileKind;

/// One file of the log directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFile {
    /// File name within `_delta_log/`.
    pub name: String,
    /// The version it belongs to.
    pub version: i64,
    /// Its kind.
    pub kind: LogFileKind,
    /// Size in bytes.
    pub size: u64,
    /// Modification time in milliseconds since the epoch.
    pub last_modified_ms: i64,
}

/// The files that reconstruct one version: a checkpoint (possibly several parts) and the
/// contiguous commits after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSegment {
    /// The version this segment reconstructs.
    pub version: i64,
    /// Checkpoint version and its files (parts in order), if one is used.
    pub checkpoint: Option<(i64, Vec<LogFile>)>,
    /// Commits after the checkpoint, ascending, ending at `version`.
    pub commits: Vec<LogFile>,
}

/// Why no segment could be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SegmentError {
    /// The listing has no commits or checkpoints at all.
    Empty,
    /// The version is newer than the latest or older than the earliest reconstructable one.
    VersionNotFound {
        /// Requested version.
        version: i64,
        /// Earliest reconstructable version.
        earliest: i64,
        /// Latest version.
        latest: i64,
    },
    /// A commit between the checkpoint and the target is missing.
    MissingVersion {
        /// The missing version.
        missing: i64,
    },
}

/// A versioned listing, grouped for segment selection.
#[derive(Debug, Default, Clone)]
pub struct LogListing {
    /// Commit files by version.
    pub commits: BTreeMap<i64, LogFile>,
    /// Complete, usable checkpoints by version (parts in order).
    pub checkpoints: BTreeMap<i64, Vec<LogFile>>,
}

impl LogListing {
    /// Groups listed files. Multi-part checkpoints are kept only when every part of one
    /// `parts` count is present: an incomplete set (a writer died mid-checkpoint) is ignored.
    /// Where one version has several complete checkpoints (classic, multi-part, UUID-named
    /// V2), any one reconstructs it: a classic one is preferred, then a V2 one (the first by
    /// name), then a multi-part set.
    pub fn from_files(files: impl IntoIterator<Item = LogFile>) -> LogListing {
        let mut listing = LogListing::default();
        let mut multi: BTreeMap<(i64, u32), BTreeMap<u32, LogFile>> = BTreeMap::new();
        let mut v2: BTreeMap<i64, LogFile> = BTreeMap::new();
        for f in files {
            match f.kind {
                LogFileKind::Commit => {
                    listing.commits.insert(f.version, f);
                }
                LogFileKind::Checkpoint => {
                    listing.checkpoints.insert(f.version, vec![f]);
                }
                LogFileKind::V2Checkpoint => {
                    v2.entry(f.version).or_insert(f);
                }
                LogFileKind::MultiPartCheckpoint { part, parts } => {
                    multi.entry((f.version, parts)).or_default().insert(part, f);
                }
                LogFileKind::Other => {}
            }
        }
        for (version, f) in v2 {
            listing
                .checkpoints
                .entry(version)
                .or_insert_with(|| vec![f]);
        }
        for ((version, parts), found) in multi {
            if found.len() as u32 == parts && !listing.checkpoints.contains_key(&version) {
                listing
                    .checkpoints
                    .insert(version, found.into_values().collect());
            }
        }
        listing
    }

    /// The latest version the listing knows of.
    pub fn latest_version(&self) -> Option<i64> {
        let c = self.commits.keys().next_back().copied();
        let k = self.checkpoints.keys().next_back().copied();
        c.max(k)
    }

    /// The earliest version that can be reconstructed: 0 when commit 0 exists, else the
    /// oldest checkpoint.
    pub fn earliest_version(&self) -> Option<i64> {
        if self.commits.contains_key(&0) {
            return Some(0);
        }
        self.checkpoints.keys().next().copied()
    }

    /// Selects the segment for `target` (latest when `None`).
    pub fn segment(&self, target: Option<i64>) -> Result<LogSegment, SegmentError> {
        let latest = self.latest_version().ok_or(SegmentError::Empty)?;
        let earliest = self.earliest_version().unwrap_or(latest);
        let version = target.unwrap_or(latest);
        let not_found = SegmentError::VersionNotFound {
            version,
            earliest,
            latest,
        };
        if version > latest || version < 0 {
            return Err(not_found);
        }
        let checkpoint = self.checkpoints.range(..=version).next_back();
        let start = match checkpoint {
            Some((v, _)) => v + 1,
            None if self.commits.contains_key(&0) => 0,
            None => return Err(not_found),
        };
        let mut commits = Vec::with_capacity((version - start + 1).max(0) as usize);
        for v in start..=version {
            match self.commits.get(&v) {
                Some(f) => commits.push(f.clone()),
                None => return Err(SegmentError::MissingVersion { missing: v }),
            }
        }
        Ok(LogSegment {
            version,
            checkpoint: checkpoint.map(|(v, files)| (*v, files.clone())),
            commits,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::paths::parse_log_file_name;

    fn file(name: &str) -> LogFile {
        let (version, kind) = parse_log_file_name(name).unwrap();
        LogFile {
            name: name.into(),
            version,
            kind,
            size: 1,
            last_modified_ms: version,
        }
    }

    fn listing(names: &[&str]) -> LogListing {
        LogListing::from_files(names.iter().map(|n| file(n)))
    }

    #[test]
    fn picks_latest_checkpoint_at_or_below_target() {
        let l = listing(&[
            "00000000000000000000.json",
            "00000000000000000001.json",
            "00000000000000000002.json",
            "00000000000000000002.checkpoint.parquet",
            "00000000000000000003.json",
        ]);
        let s = l.segment(None).unwrap();
        assert_eq!(
            (
                s.version,
                s.checkpoint.as_ref().map(|c| c.0),
                s.commits.len()
            ),
            (3, Some(2), 1)
        );
        let s = l.segment(Some(1)).unwrap();
        assert_eq!((s.checkpoint.is_none(), s.commits.len()), (true, 2));
        let s = l.segment(Some(2)).unwrap();
        assert_eq!((s.checkpoint.map(|c| c.0), s.commits.len()), (Some(2), 0));
        assert!(matches!(
            l.segment(Some(4)),
            Err(SegmentError::VersionNotFound { latest: 3, .. })
        ));
    }

    #[test]
    fn incomplete_multipart_is_ignored_and_gaps_are_reported() {
        let l = listing(&[
            "00000000000000000000.json",
            "00000000000000000001.json",
            "00000000000000000001.checkpoint.0000000001.0000000002.parquet",
            "00000000000000000002.json",
        ]);
        assert!(l.segment(None).unwrap().checkpoint.is_none());
        let gap = listing(&["00000000000000000000.json", "00000000000000000002.json"]);
        assert_eq!(
            gap.segment(None),
            Err(SegmentError::MissingVersion { missing: 1 })
        );
    }

    #[test]
    fn cleaned_up_history_starts_at_checkpoint() {
        let l = listing(&[
            "00000000000000000005.checkpoint.parquet",
            "00000000000000000006.json",
        ]);
        assert_eq!(l.earliest_version(), Some(5));
        assert!(l.segment(Some(6)).is_ok());
        assert!(matches!(
            l.segment(Some(4)),
            Err(SegmentError::VersionNotFound { earliest: 5, .. })
        ));
    }

    #[test]
    fn v2_checkpoints_are_used_and_classic_preferred() {
        let v2 = "00000000000000000003.checkpoint.80a083e8-7026-4e79-81be-64bd76c43a11.json";
        let l = listing(&["00000000000000000003.json", v2, "00000000000000000004.json"]);
        let segment = l.segment(None).unwrap();
        let (version, files) = segment.checkpoint.unwrap();
        assert_eq!((version, files[0].name.as_str()), (3, v2));
        assert_eq!(segment.commits.len(), 1);
        let both = listing(&[v2, "00000000000000000003.checkpoint.parquet"]);
        assert_eq!(
            both.checkpoints[&3][0].name,
            "00000000000000000003.checkpoint.parquet"
        );
    }
}
