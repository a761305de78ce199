//! Resolving a timestamp to a version (`protocol/PROTOCOL.md#time-travel`).
//!
//! Pure. Delta's commit timestamp is the commit file's modification time, which clocks and
//! copies can make non-monotonic; the protocol's fix is to adjust each timestamp to be at least
//! one millisecond after its predecessor. With in-commit timestamps the commitInfo's
//! `inCommitTimestamp` is used instead and is monotonic by construction.

/// Adjusts `(version, timestamp_ms)` pairs, ascending by version, so timestamps strictly
/// increase: `ts[i] = max(ts[i], ts[i-1] + 1)`.
pub fn make_monotonic(commits: &mut [(i64, i64)]) {
    for i in 1..commits.len() {
        let floor = commits[i - 1].1 + 1;
        if commits[i].1 < floor {
            commits[i].1 = floor;
        }
    }
}

/// Where a timestamp falls outside a table's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutOfRange {
    /// Before the earliest available commit: `(version, timestamp_ms)` of that commit.
    Before(i64, i64),
    /// After the latest commit. Delta (like Spark) refuses rather than returning the latest
    /// version, because a later commit could change the answer and break reproducibility.
    After(i64, i64),
}

/// The version current at `timestamp_ms`: the latest commit at or before it. `commits` must
/// be ascending and already monotonic.
pub fn version_at(commits: &[(i64, i64)], timestamp_ms: i64) -> Result<i64, OutOfRange> {
    let (Some(first), Some(last)) = (commits.first(), commits.last()) else {
        return Err(OutOfRange::Before(0, 0));
    };
    if timestamp_ms < first.1 {
        return Err(OutOfRange::Before(first.0, first.1));
    }
    if timestamp_ms > last.1 {
        return Err(OutOfRange::After(last.0, last.1));
    }
    let idx = commits.partition_point(|c| c.1 <= timestamp_ms);
    Ok(commits[idx - 1].0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_adjustment() {
        let mut c = vec![(0, 100), (1, 90), (2, 90), (3, 200)];
        make_monotonic(&mut c);
        assert_eq!(c, vec![(0, 100), (1, 101), (2, 102), (3, 200)]);
    }

    #[test]
    fn resolves_latest_at_or_before() {
        let c = vec![(0, 100), (1, 200), (2, 300)];
        assert_eq!(version_at(&c, 100), Ok(0));
        assert_eq!(version_at(&c, 199), Ok(0));
        assert_eq!(version_at(&c, 200), Ok(1));
        assert_eq!(version_at(&c, 300), Ok(2));
        assert_eq!(version_at(&c, 99), Err(OutOfRange::Before(0, 100)));
        assert_eq!(version_at(&c, 301), Err(OutOfRange::After(2, 300)));
    }
}
