//! The live file set of a snapshot, held column-wise (`protocol/PROTOCOL.md#snapshots`).
//!
//! A table that ETL jobs append to reaches millions of files; one struct per file (a path
//! `String`, a partition `HashMap`, a stats `String`) costs hundreds of bytes each and seconds
//! to build. So the files a checkpoint holds stay in the Arrow arrays the checkpoint was decoded
//! into ([`BaseFiles`], one [`FileChunk`] per decoded batch), and only the commits replayed on
//! top of it are kept as reconciled actions keyed by file ([`FileSet`]). A base row is live
//! unless a later commit touched the same file (same reconciliation key,
//! `protocol/PROTOCOL.md#action-reconciliation`).
//!
//! Per-file statistics of base rows are *not* part of the decoded columns: they are most of a
//! checkpoint's bytes and most opens never look at them. They are attached on demand with
//! [`BaseFiles::set_stats`] (the snapshot shell reads them when a caller asks,
//! `Snapshot::load_stats`); until then [`FileView::stats`] is `None` for base rows.
//!
//! Pure: no I/O. The checkpoint shell builds [`FileChunk`]s from decoded batches.

mod base;
mod chunk;
mod view;

pub use base::BaseFiles;
pub use chunk::FileChunk;
pub use view::FileView;

use std::collections::{BTreeMap, BTreeSet};
use std::iter::Peekable;
use std::sync::Arc;

use crate::protocol::actions::{Add, Remove, file_key};

/// The latest action for one file after the base.
#[derive(Debug, Clone)]
enum Change {
    Add(Add),
    Remove(Remove),
}

/// Live files and tombstones: a shared columnar base plus the reconciled changes of the
/// commits after it. Cloning copies only the changes.
#[derive(Debug, Clone, Default)]
pub struct FileSet {
    base: Option<Arc<BaseFiles>>,
    /// Reconciliation key → the latest action for that file after the base.
    changes: BTreeMap<String, Change>,
    /// Base rows superseded by a change (global row numbers).
    hidden: BTreeSet<usize>,
    /// How many changes are adds.
    live_changes: usize,
}

impl FileSet {
    /// A set starting from a checkpoint's files.
    pub fn with_base(base: BaseFiles) -> FileSet {
        FileSet {
            base: Some(Arc::new(base)),
            ..FileSet::default()
        }
    }

    /// The checkpoint part, if any.
    pub fn base(&self) -> Option<&Arc<BaseFiles>> {
        self.base.as_ref()
    }

    /// Whether every live file's statistics are available.
    #[cfg(test)]
    pub fn stats_loaded(&self) -> bool {
        self.base.as_ref().is_none_or(|b| b.stats_loaded())
    }

    /// Makes a file live (replacing any earlier add of the same file).
    pub fn add(&mut self, add: Add) {
        let key = file_key(&add.path, add.deletion_vector.as_ref());
        self.hide_base(&key);
        if !matches!(
            self.changes.insert(key, Change::Add(add)),
            Some(Change::Add(_))
        ) {
            self.live_changes += 1;
        }
    }

    /// Tombstones a file.
    pub fn remove(&mut self, remove: Remove) {
        let key = file_key(&remove.path, remove.deletion_vector.as_ref());
        self.hide_base(&key);
        if matches!(
            self.changes.insert(key, Change::Remove(remove)),
            Some(Change::Add(_))
        ) {
            self.live_changes -= 1;
        }
    }

    fn hide_base(&mut self, key: &str) {
        if self.changes.contains_key(key) {
            return; // an earlier change already hid the base row, if there was one
        }
        if let Some(row) = self.base.as_ref().and_then(|b| b.find(key)) {
            self.hidden.insert(row);
        }
    }

    /// Number of live files.
    pub fn len(&self) -> usize {
        self.base.as_ref().map_or(0, |b| b.len) - self.hidden.len() + self.live_changes
    }

    /// Whether no file is live.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a file (by reconciliation key) is live.
    #[cfg(test)]
    pub fn contains(&self, key: &str) -> bool {
        match self.changes.get(key) {
            Some(Change::Add(_)) => true,
            Some(Change::Remove(_)) => false,
            None => self.base.as_ref().is_some_and(|b| b.find(key).is_some()),
        }
    }

    /// The live files: the checkpoint's in their order, then later adds by key.
    pub fn iter(&self) -> Files<'_> {
        Files {
            set: self,
            chunk: 0,
            row: 0,
            global: 0,
            hidden: self.hidden.iter().peekable(),
            changes: self.changes.values(),
            remaining: self.len(),
        }
    }

    /// Tombstones (removes not followed by a re-add).
    pub fn tombstones(&self) -> impl Iterator<Item = &Remove> {
        let base = self
            .base
            .iter()
            .flat_map(|b| b.tombstones.iter())
            .filter(|(k, _)| !self.changes.contains_key(*k))
            .map(|(_, r)| r);
        let changed = self.changes.values().filter_map(|c| match c {
            Change::Remove(r) => Some(r),
            Change::Add(_) => None,
        });
        base.chain(changed)
    }
}

/// Iterator over a snapshot's live files ([`Snapshot::files`](crate::Snapshot::files)).
pub struct Files<'a> {
    set: &'a FileSet,
    chunk: usize,
    row: usize,
    global: usize,
    hidden: Peekable<std::collections::btree_set::Iter<'a, usize>>,
    changes: std::collections::btree_map::Values<'a, String, Change>,
    remaining: usize,
}

impl<'a> Iterator for Files<'a> {
    type Item = FileView<'a>;

    fn next(&mut self) -> Option<FileView<'a>> {
        if let Some(base) = self.set.base.as_deref() {
            while self.chunk < base.chunks.len() {
                if self.row >= base.chunks[self.chunk].len() {
                    self.chunk += 1;
                    self.row = 0;
                    continue;
                }
                let (chunk, row, global) = (self.chunk, self.row, self.global);
                self.row += 1;
                self.global += 1;
                if self.hidden.next_if_eq(&&global).is_some() {
                    continue;
                }
                self.remaining -= 1;
                return Some(FileView::Base(base.row_at(chunk, row)));
            }
        }
        for change in self.changes.by_ref() {
            if let Change::Add(add) = change {
                self.remaining -= 1;
                return Some(FileView::Added(add));
            }
        }
        None
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for Files<'_> {}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use arrow::array::{
        Array, ArrayRef, BooleanArray, Int64Array, MapBuilder, StringArray, StringBuilder,
        StructArray,
    };
    use arrow::datatypes::{DataType, Field, Fields};

    use super::*;

    fn add(path: &str) -> Add {
        Add {
            partition_values: HashMap::from([("p".to_string(), Some("x".to_string()))]),
            modification_time: 9,
            stats: Some("{\"numRecords\":1}".into()),
            ..Add::for_test(path, 7)
        }
    }

    /// A chunk of `paths` as a checkpoint would decode it; partition `p` is `x`, except that
    /// every third row leaves the null value out of the map as some writers do.
    fn chunk(paths: &[&str]) -> FileChunk {
        let n = paths.len();
        let mut map = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
        for i in 0..n {
            if i % 3 != 2 {
                map.keys().append_value("p");
                map.values().append_value("x");
            }
            map.append(true).unwrap();
        }
        let map = map.finish();
        let fields = Fields::from(vec![
            Field::new("path", DataType::Utf8, false),
            Field::new("size", DataType::Int64, false),
            Field::new("modificationTime", DataType::Int64, false),
            Field::new("dataChange", DataType::Boolean, false),
            Field::new("partitionValues", map.data_type().clone(), true),
        ]);
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(paths.to_vec())),
            Arc::new(Int64Array::from(vec![7; n])),
            Arc::new(Int64Array::from(vec![9; n])),
            Arc::new(BooleanArray::from(vec![false; n])),
            Arc::new(map),
        ];
        FileChunk::try_new(&StructArray::new(fields, columns, None)).unwrap()
    }

    fn paths(set: &FileSet) -> Vec<String> {
        let mut v: Vec<String> = set.iter().map(|f| f.path().to_string()).collect();
        v.sort();
        v
    }

    fn base_set() -> FileSet {
        let base = BaseFiles::new(
            vec![chunk(&["a", "b%20c", "d"]), chunk(&[]), chunk(&["e", "f"])],
            vec!["p".into()],
            [Remove::from_add(&add("gone"), 1, true)],
            Vec::new(),
        );
        FileSet::with_base(base)
    }

    #[test]
    fn base_rows_read_like_adds() {
        let set = base_set();
        assert_eq!(set.len(), 5);
        assert_eq!(set.iter().len(), 5);
        let files: Vec<FileView> = set.iter().collect();
        assert_eq!(files[0].path(), "a");
        assert_eq!(files[0].partition_value("p"), Some("x"));
        assert_eq!(
            files[2].partition_value("p"),
            None,
            "a dropped null is null"
        );
        assert_eq!(
            files[2].partition_values(),
            HashMap::from([("p".to_string(), None)])
        );
        assert_eq!(files[3].path(), "e");
        assert_eq!((files[3].size(), files[3].modification_time()), (7, 9));
        assert!(!files[3].data_change());
        assert_eq!(files[0].stats(), None, "stats not loaded yet");
        assert!(!set.stats_loaded());
        let base = set.base().unwrap();
        assert!(
            base.set_stats(vec![StringArray::from(vec![Some("s")])])
                .is_err()
        );
        base.set_stats(vec![
            StringArray::from(vec![Some("s0"), None, Some("s2")]),
            StringArray::from(vec![Some("s3"), Some("s4")]),
        ])
        .unwrap();
        assert!(set.stats_loaded());
        let files: Vec<FileView> = set.iter().collect();
        assert_eq!(files[4].stats(), Some("s4"));
        assert_eq!(files[1].to_add().stats, None);
        assert_eq!(set.tombstones().count(), 1);
    }

    #[test]
    fn changes_supersede_base_rows_by_reconciliation_key() {
        let mut set = base_set();
        let before = set.clone();
        set.remove(Remove::from_add(&add("b c"), 2, true)); // same file, other encoding
        set.add(add("g"));
        set.add(add("a")); // re-add of a live base file replaces it
        set.add(add("gone")); // re-add of a tombstoned file
        assert_eq!(paths(&set), ["a", "d", "e", "f", "g", "gone"]);
        assert_eq!(set.len(), 6);
        assert_eq!(set.iter().len(), 6);
        assert!(set.contains("d") && set.contains("g") && !set.contains("b c"));
        let tombstones: Vec<&str> = set.tombstones().map(|r| r.path.as_str()).collect();
        assert_eq!(tombstones, ["b c"]);
        set.remove(Remove::from_add(&add("g"), 3, true));
        set.remove(Remove::from_add(&add("a"), 3, true));
        assert_eq!(paths(&set), ["d", "e", "f", "gone"]);
        assert_eq!(set.len(), 4);
        assert_eq!(before.len(), 5, "clones are independent");
    }

    #[test]
    fn without_base_it_is_a_map_of_adds() {
        let mut set = FileSet::default();
        set.add(add("x"));
        set.add(add("x"));
        set.add(add("y"));
        set.remove(Remove::from_add(&add("x"), 1, true));
        assert_eq!(paths(&set), ["y"]);
        assert_eq!(set.len(), 1);
        assert_eq!(
            set.iter().next().unwrap().stats(),
            Some("{\"numRecords\":1}")
        );
        assert!(set.stats_loaded());
    }

    #[test]
    fn required_nulls_and_bad_types_are_reasons() {
        let fields = Fields::from(vec![Field::new("path", DataType::Utf8, true)]);
        let columns: Vec<ArrayRef> = vec![Arc::new(StringArray::from(vec![None::<&str>]))];
        let err = FileChunk::try_new(&StructArray::new(fields, columns, None)).unwrap_err();
        assert!(err.contains("add.path"), "{err}");
        let fields = Fields::from(vec![
            Field::new("path", DataType::Utf8, false),
            Field::new("size", DataType::Utf8, false),
            Field::new("modificationTime", DataType::Int64, false),
        ]);
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec!["a"])),
            Arc::new(StringArray::from(vec!["not a number"])),
            Arc::new(Int64Array::from(vec![1])),
        ];
        let err = FileChunk::try_new(&StructArray::new(fields, columns, None)).unwrap_err();
        assert!(err.contains("add.size"), "{err}");
    }
}
