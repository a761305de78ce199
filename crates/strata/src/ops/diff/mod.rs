//! What changed between two versions of a table: the data files each has that the other lacks,
//! and the rows and bytes they hold (`protocol/PROTOCOL.md#diff`).
//!
//! A file is identified as log replay identifies it (path plus deletion vector), so a file
//! that is removed and added back between the two versions is in neither list, and a file
//! rewritten by `OPTIMIZE` shows up as removed with its replacement added. Row counts come from
//! each file's `numRecords` statistic; when any file on a side lacks it the count is unknown
//! (`None`) rather than guessed. The comparison itself ([`diff_files`]) is pure.

mod rows;

pub use rows::{RowDiff, RowDiffBuilder, RowDiffSource};

use std::collections::BTreeMap;

use crate::error::Result;
use crate::ops::restore::{live_files, plan_restore};
use crate::protocol::actions::Add;
use crate::snapshot::Snapshot;

/// The data files two versions of a table do not share.
#[derive(Debug, Clone, PartialEq)]
pub struct TableDiff {
    /// The version compared from.
    pub from: i64,
    /// The version compared to.
    pub to: i64,
    /// Files live at `to` and not at `from`, sorted by path.
    pub added: Vec<Add>,
    /// Files live at `from` and not at `to`, sorted by path.
    pub removed: Vec<Add>,
}

impl TableDiff {
    /// Bytes of the added files.
    pub fn bytes_added(&self) -> i64 {
        bytes(&self.added)
    }

    /// Bytes of the removed files.
    pub fn bytes_removed(&self) -> i64 {
        bytes(&self.removed)
    }

    /// Rows in the added files, `None` when a file has no `numRecords` statistic.
    pub fn rows_added(&self) -> Option<i64> {
        rows(&self.added)
    }

    /// Rows in the removed files, `None` when a file has no `numRecords` statistic.
    pub fn rows_removed(&self) -> Option<i64> {
        rows(&self.removed)
    }
}

/// Saturating: sizes come from the log, which may hold anything.
fn bytes(files: &[Add]) -> i64 {
    files
        .iter()
        .fold(0i64, |total, a| total.saturating_add(a.size))
}

/// `None` when a file has no count (or the counts overflow, which no real table reaches).
fn rows(files: &[Add]) -> Option<i64> {
    files
        .iter()
        .try_fold(0i64, |total, a| total.checked_add(a.num_records()?))
}

/// The files of `to` that `from` lacks (added) and of `from` that `to` lacks (removed), each
/// keyed by file identity and returned in key order.
pub fn diff_files(
    from: &BTreeMap<String, Add>,
    to: &BTreeMap<String, Add>,
) -> (Vec<Add>, Vec<Add>) {
    // Restoring `from` onto `to` is exactly "add what `to` has, remove what it lacks".
    let changes = plan_restore(from, to);
    (changes.add, changes.remove)
}

/// The files `from` and `to` do not share: `added` are live in `to` only, `removed` in `from`
/// only. Loads both snapshots' statistics for the row counts.
///
/// # Errors
/// As [`Snapshot::load_stats`].
pub(crate) async fn diff(from: &Snapshot, to: &Snapshot) -> Result<TableDiff> {
    from.load_stats().await?;
    to.load_stats().await?;
    let (added, removed) = diff_files(&live_files(from), &live_files(to));
    Ok(TableDiff {
        from: from.version(),
        to: to.version(),
        added,
        removed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_rows(path: &str, rows: Option<i64>) -> Add {
        let mut add = Add::for_test(path, 100);
        add.stats = rows.map(|n| format!(r#"{{"numRecords":{n}}}"#));
        add
    }

    fn files(adds: &[Add]) -> BTreeMap<String, Add> {
        adds.iter().map(|a| (a.path.clone(), a.clone())).collect()
    }

    #[test]
    fn shared_files_are_in_neither_list() {
        let a = with_rows("a", Some(1));
        let b = with_rows("b", Some(2));
        let c = with_rows("c", Some(4));
        let (added, removed) = diff_files(&files(&[a.clone(), b.clone()]), &files(&[b, c.clone()]));
        assert_eq!(added, vec![c]);
        assert_eq!(removed, vec![a]);
    }

    #[test]
    fn row_counts_are_unknown_when_a_file_lacks_them() {
        let diff = TableDiff {
            from: 1,
            to: 2,
            added: vec![with_rows("a", Some(3)), with_rows("b", Some(4))],
            removed: vec![with_rows("c", Some(1)), with_rows("d", None)],
        };
        assert_eq!(diff.rows_added(), Some(7));
        assert_eq!(diff.rows_removed(), None);
        assert_eq!(diff.bytes_added(), 200);
    }
}
