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

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::iter::Peekable;
use std::sync::{Arc, OnceLock};

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int32Array, Int64Array, StringArray, StructArray,
};
use arrow::buffer::{NullBuffer, OffsetBuffer};
use arrow::datatypes::DataType;

use crate::protocol::actions::{Add, DeletionVectorDescriptor, Remove, file_key};

/// Why a decoded checkpoint batch cannot be used (the caller adds the file and version).
pub type ColumnError = String;

// -------------------------------------------------------------------------------------------
// Columns
// -------------------------------------------------------------------------------------------

/// A `map<string,string>` column (`partitionValues`, `tags`) with its keys and values as plain
/// UTF-8 arrays, whatever string type the checkpoint writer used.
#[derive(Debug)]
struct StringMap {
    offsets: OffsetBuffer<i32>,
    nulls: Option<NullBuffer>,
    keys: StringArray,
    values: StringArray,
}

impl StringMap {
    fn try_new(array: &ArrayRef, column: &str) -> Result<StringMap, ColumnError> {
        let map = array
            .as_map_opt()
            .ok_or_else(|| format!("{column} is {}, not a map", array.data_type()))?;
        Ok(StringMap {
            offsets: map.offsets().clone(),
            nulls: map.nulls().cloned(),
            keys: utf8(map.keys(), &format!("{column}.key"))?,
            values: utf8(map.values(), &format!("{column}.value"))?,
        })
    }

    fn entries(&self, row: usize) -> impl Iterator<Item = (&str, Option<&str>)> {
        let null = self.nulls.as_ref().is_some_and(|n| n.is_null(row));
        let range = if null {
            0..0
        } else {
            self.offsets[row] as usize..self.offsets[row + 1] as usize
        };
        range.map(|i| {
            let value = self.values.is_valid(i).then(|| self.values.value(i));
            (self.keys.value(i), value)
        })
    }

    fn is_null(&self, row: usize) -> bool {
        self.nulls.as_ref().is_some_and(|n| n.is_null(row))
    }
}

/// The `deletionVector` struct column.
#[derive(Debug)]
struct DvColumns {
    nulls: Option<NullBuffer>,
    storage_type: StringArray,
    path_or_inline_dv: StringArray,
    offset: Option<Int32Array>,
    size_in_bytes: Int32Array,
    cardinality: Int64Array,
}

impl DvColumns {
    fn try_new(array: &ArrayRef) -> Result<DvColumns, ColumnError> {
        let dv = array
            .as_struct_opt()
            .ok_or_else(|| "add.deletionVector is not a struct".to_string())?;
        let column = |name: &str| {
            dv.column_by_name(name)
                .ok_or_else(|| format!("add.deletionVector.{name} is missing"))
        };
        Ok(DvColumns {
            nulls: dv.nulls().cloned(),
            storage_type: utf8(column("storageType")?, "add.deletionVector.storageType")?,
            path_or_inline_dv: utf8(
                column("pathOrInlineDv")?,
                "add.deletionVector.pathOrInlineDv",
            )?,
            offset: dv
                .column_by_name("offset")
                .map(|a| int32(a, "add.deletionVector.offset"))
                .transpose()?,
            size_in_bytes: int32(column("sizeInBytes")?, "add.deletionVector.sizeInBytes")?,
            cardinality: int64(column("cardinality")?, "add.deletionVector.cardinality")?,
        })
    }

    fn get(&self, row: usize) -> Option<DeletionVectorDescriptor> {
        if self.nulls.as_ref().is_some_and(|n| n.is_null(row)) {
            return None;
        }
        Some(DeletionVectorDescriptor {
            storage_type: self.storage_type.value(row).to_string(),
            path_or_inline_dv: self.path_or_inline_dv.value(row).to_string(),
            offset: self
                .offset
                .as_ref()
                .and_then(|o| o.is_valid(row).then(|| o.value(row))),
            size_in_bytes: self.size_in_bytes.value(row),
            cardinality: self.cardinality.value(row),
        })
    }
}

fn cast_to(array: &ArrayRef, to: &DataType, column: &str) -> Result<ArrayRef, ColumnError> {
    if array.data_type() == to {
        return Ok(array.clone());
    }
    let options = arrow::compute::CastOptions {
        safe: false,
        ..Default::default()
    };
    arrow::compute::cast_with_options(array, to, &options)
        .map_err(|e| format!("{column} has type {}: {e}", array.data_type()))
}

fn utf8(array: &ArrayRef, column: &str) -> Result<StringArray, ColumnError> {
    Ok(cast_to(array, &DataType::Utf8, column)?
        .as_string::<i32>()
        .clone())
}

fn int64(array: &ArrayRef, column: &str) -> Result<Int64Array, ColumnError> {
    Ok(cast_to(array, &DataType::Int64, column)?
        .as_primitive::<arrow::datatypes::Int64Type>()
        .clone())
}

fn int32(array: &ArrayRef, column: &str) -> Result<Int32Array, ColumnError> {
    Ok(cast_to(array, &DataType::Int32, column)?
        .as_primitive::<arrow::datatypes::Int32Type>()
        .clone())
}

fn boolean(array: &ArrayRef, column: &str) -> Result<BooleanArray, ColumnError> {
    Ok(cast_to(array, &DataType::Boolean, column)?
        .as_boolean()
        .clone())
}

/// Fails when a required column holds a null.
fn require_no_nulls(array: &dyn Array, column: &str) -> Result<(), ColumnError> {
    match array.null_count() {
        0 => Ok(()),
        n => Err(format!("{column} is null in {n} add rows")),
    }
}

/// One batch of checkpoint `add` rows (every row a live file), with the columns a snapshot
/// needs in canonical Arrow types. Statistics are not among them (see the module docs).
#[derive(Debug)]
pub struct FileChunk {
    path: StringArray,
    size: Int64Array,
    modification_time: Int64Array,
    data_change: Option<BooleanArray>,
    partition_values: Option<StringMap>,
    tags: Option<StringMap>,
    deletion_vector: Option<DvColumns>,
    base_row_id: Option<Int64Array>,
    default_row_commit_version: Option<Int64Array>,
    clustering_provider: Option<StringArray>,
}

impl FileChunk {
    /// Builds a chunk from the `add` struct column of a checkpoint batch, already filtered to
    /// the rows where `add` is not null. Columns the checkpoint lacks read as absent.
    ///
    /// # Errors
    /// A reason naming the column when a required column (`path`, `size`,
    /// `modificationTime`) is missing or null, or a column has an unusable type.
    pub fn try_new(add: &StructArray) -> Result<FileChunk, ColumnError> {
        let required = |name: &str| {
            let array = add
                .column_by_name(name)
                .ok_or_else(|| format!("add.{name} is missing"))?;
            require_no_nulls(array.as_ref(), &format!("add.{name}"))?;
            Ok::<_, ColumnError>(array)
        };
        let optional = |name: &str| add.column_by_name(name);
        Ok(FileChunk {
            path: utf8(required("path")?, "add.path")?,
            size: int64(required("size")?, "add.size")?,
            modification_time: int64(required("modificationTime")?, "add.modificationTime")?,
            data_change: optional("dataChange")
                .map(|a| boolean(a, "add.dataChange"))
                .transpose()?,
            partition_values: optional("partitionValues")
                .map(|a| StringMap::try_new(a, "add.partitionValues"))
                .transpose()?,
            tags: optional("tags")
                .map(|a| StringMap::try_new(a, "add.tags"))
                .transpose()?,
            deletion_vector: optional("deletionVector")
                .filter(|a| a.null_count() < a.len())
                .map(DvColumns::try_new)
                .transpose()?,
            base_row_id: optional("baseRowId")
                .map(|a| int64(a, "add.baseRowId"))
                .transpose()?,
            default_row_commit_version: optional("defaultRowCommitVersion")
                .map(|a| int64(a, "add.defaultRowCommitVersion"))
                .transpose()?,
            clustering_provider: optional("clusteringProvider")
                .map(|a| utf8(a, "add.clusteringProvider"))
                .transpose()?,
        })
    }

    /// Number of files in the chunk.
    pub fn len(&self) -> usize {
        self.path.len()
    }

    /// Whether the chunk holds no files.
    pub fn is_empty(&self) -> bool {
        self.path.is_empty()
    }
}

fn opt_i64(array: &Option<Int64Array>, row: usize) -> Option<i64> {
    array
        .as_ref()
        .and_then(|a| a.is_valid(row).then(|| a.value(row)))
}

// -------------------------------------------------------------------------------------------
// Base files
// -------------------------------------------------------------------------------------------

/// The live files of a checkpoint, column-wise, plus its tombstones.
#[derive(Debug)]
pub struct BaseFiles {
    chunks: Vec<FileChunk>,
    /// Global row number of each chunk's first row.
    starts: Vec<usize>,
    len: usize,
    /// Partition columns of the table at the checkpoint: a column missing from a row's
    /// `partitionValues` map (writers that drop null map values) is null.
    partition_columns: Vec<String>,
    tombstones: BTreeMap<String, Remove>,
    /// The Parquet files (names relative to `_delta_log/`, sizes) the chunks were decoded
    /// from, in order: where statistics are read from when asked for.
    sources: Vec<(String, u64)>,
    /// Per-chunk `add.stats`, aligned with `chunks`, once loaded.
    stats: OnceLock<Vec<StringArray>>,
    /// Reconciliation key → global row, built the first time a later commit needs it.
    index: OnceLock<KeyIndex>,
}

impl BaseFiles {
    /// The base of a snapshot: the decoded `add` chunks and the checkpoint's tombstones.
    pub fn new(
        chunks: Vec<FileChunk>,
        partition_columns: Vec<String>,
        tombstones: impl IntoIterator<Item = Remove>,
        sources: Vec<(String, u64)>,
    ) -> BaseFiles {
        let chunks: Vec<FileChunk> = chunks.into_iter().filter(|c| !c.is_empty()).collect();
        let starts = chunks
            .iter()
            .scan(0, |next, c| {
                let start = *next;
                *next += c.len();
                Some(start)
            })
            .collect();
        BaseFiles {
            len: chunks.iter().map(FileChunk::len).sum(),
            chunks,
            starts,
            partition_columns,
            tombstones: tombstones
                .into_iter()
                .map(|r| (file_key(&r.path, r.deletion_vector.as_ref()), r))
                .collect(),
            sources,
            stats: OnceLock::new(),
            index: OnceLock::new(),
        }
    }

    /// Number of files.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no files.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The checkpoint files the chunks came from, in order (names relative to `_delta_log/`).
    pub fn sources(&self) -> &[(String, u64)] {
        &self.sources
    }

    /// Row counts of the chunks, in order: what [`BaseFiles::set_stats`] must match.
    pub fn chunk_lens(&self) -> Vec<usize> {
        self.chunks.iter().map(FileChunk::len).collect()
    }

    /// Whether statistics are attached (always true for a base without files).
    pub fn stats_loaded(&self) -> bool {
        self.is_empty() || self.stats.get().is_some()
    }

    /// Attaches `add.stats`, one array per chunk, read from the same checkpoint files in the
    /// same order as the chunks. Attaching twice keeps the first (both came from the same
    /// immutable files).
    ///
    /// # Errors
    /// A reason when the arrays do not line up with the chunks.
    pub fn set_stats(&self, stats: Vec<StringArray>) -> Result<(), ColumnError> {
        let want = self.chunk_lens();
        let got: Vec<usize> = stats.iter().map(Array::len).collect();
        if want != got {
            return Err(format!(
                "statistics do not line up with the files: {} chunks of {:?} rows, expected {} of {:?}",
                got.len(),
                got.iter().take(4).collect::<Vec<_>>(),
                want.len(),
                want.iter().take(4).collect::<Vec<_>>()
            ));
        }
        let _ = self.stats.set(stats);
        Ok(())
    }

    fn row(&self, global: usize) -> (usize, usize) {
        let chunk = self.starts.partition_point(|&s| s <= global) - 1;
        (chunk, global - self.starts[chunk])
    }

    fn view(&self, chunk: usize, row: usize) -> FileView<'_> {
        FileView::Base(BaseRow {
            base: self,
            chunk,
            row,
        })
    }

    fn find(&self, key: &str) -> Option<usize> {
        let index = self.index.get_or_init(|| KeyIndex::build(self));
        index.candidates(key).find(|&global| {
            let (chunk, row) = self.row(global);
            self.view(chunk, row).key() == key
        })
    }
}

/// Hash of reconciliation key → global row. Collisions of the 64-bit hash are resolved by
/// comparing the keys themselves, so the index is exact.
#[derive(Debug, Default)]
struct KeyIndex {
    first: HashMap<u64, u32>,
    more: HashMap<u64, Vec<u32>>,
}

type FixedHasher = BuildHasherDefault<DefaultHasher>;

impl KeyIndex {
    fn build(base: &BaseFiles) -> KeyIndex {
        let mut index = KeyIndex {
            first: HashMap::with_capacity(base.len),
            more: HashMap::new(),
        };
        let mut global = 0u32;
        for (c, chunk) in base.chunks.iter().enumerate() {
            for row in 0..chunk.len() {
                let hash = FixedHasher::default().hash_one(base.view(c, row).key());
                match index.first.entry(hash) {
                    Entry::Occupied(_) => index.more.entry(hash).or_default().push(global),
                    Entry::Vacant(slot) => {
                        slot.insert(global);
                    }
                }
                global += 1;
            }
        }
        index
    }

    fn candidates(&self, key: &str) -> impl Iterator<Item = usize> + '_ {
        let hash = FixedHasher::default().hash_one(key);
        self.first
            .get(&hash)
            .into_iter()
            .chain(self.more.get(&hash).into_iter().flatten())
            .map(|&g| g as usize)
    }
}

// -------------------------------------------------------------------------------------------
// Views
// -------------------------------------------------------------------------------------------

/// One row of [`BaseFiles`].
#[derive(Debug, Clone, Copy)]
pub struct BaseRow<'a> {
    base: &'a BaseFiles,
    chunk: usize,
    row: usize,
}

impl<'a> BaseRow<'a> {
    fn columns(&self) -> &'a FileChunk {
        &self.base.chunks[self.chunk]
    }
}

/// A live file, whether it sits in a checkpoint's columns or in a replayed `add`.
#[derive(Debug, Clone, Copy)]
pub enum FileView<'a> {
    /// A file from the checkpoint.
    Base(BaseRow<'a>),
    /// A file added by a commit after the checkpoint.
    Added(&'a Add),
}

impl<'a> FileView<'a> {
    /// `add.path`: a URI relative to the table root, percent-encoded.
    pub fn path(&self) -> &'a str {
        match self {
            FileView::Base(b) => b.columns().path.value(b.row),
            FileView::Added(a) => &a.path,
        }
    }

    /// File size in bytes.
    pub fn size(&self) -> i64 {
        match self {
            FileView::Base(b) => b.columns().size.value(b.row),
            FileView::Added(a) => a.size,
        }
    }

    /// Modification time in milliseconds since the epoch.
    pub fn modification_time(&self) -> i64 {
        match self {
            FileView::Base(b) => b.columns().modification_time.value(b.row),
            FileView::Added(a) => a.modification_time,
        }
    }

    /// Whether the commit that added the file changed data.
    pub fn data_change(&self) -> bool {
        match self {
            FileView::Base(b) => b
                .columns()
                .data_change
                .as_ref()
                .is_some_and(|d| d.is_valid(b.row) && d.value(b.row)),
            FileView::Added(a) => a.data_change,
        }
    }

    /// The serialized value of one partition column (`None` is SQL NULL, also when the
    /// writer left a null value out of the map).
    pub fn partition_value(&self, column: &str) -> Option<&'a str> {
        match self {
            FileView::Base(b) => b
                .columns()
                .partition_values
                .as_ref()?
                .entries(b.row)
                .find(|(k, _)| *k == column)
                .and_then(|(_, v)| v),
            FileView::Added(a) => a.partition_values.get(column)?.as_deref(),
        }
    }

    /// All partition values, every partition column of the table present.
    pub fn partition_values(&self) -> HashMap<String, Option<String>> {
        match self {
            FileView::Base(b) => {
                let mut values: HashMap<String, Option<String>> = b
                    .columns()
                    .partition_values
                    .as_ref()
                    .map(|m| {
                        m.entries(b.row)
                            .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
                            .collect()
                    })
                    .unwrap_or_default();
                for column in &b.base.partition_columns {
                    values.entry(column.clone()).or_insert(None);
                }
                values
            }
            FileView::Added(a) => a.partition_values.clone(),
        }
    }

    /// `add.stats` (JSON), when the file has statistics. For files from a checkpoint this is
    /// `None` until the snapshot's statistics are loaded (`Snapshot::load_stats`).
    pub fn stats(&self) -> Option<&'a str> {
        match self {
            FileView::Base(b) => {
                let stats = &b.base.stats.get()?[b.chunk];
                stats.is_valid(b.row).then(|| stats.value(b.row))
            }
            FileView::Added(a) => a.stats.as_deref(),
        }
    }

    /// `add.tags`.
    pub fn tags(&self) -> Option<HashMap<String, Option<String>>> {
        match self {
            FileView::Base(b) => {
                let tags = b.columns().tags.as_ref()?;
                (!tags.is_null(b.row)).then(|| {
                    tags.entries(b.row)
                        .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
                        .collect()
                })
            }
            FileView::Added(a) => a.tags.clone(),
        }
    }

    /// The file's deletion vector.
    pub fn deletion_vector(&self) -> Option<DeletionVectorDescriptor> {
        match self {
            FileView::Base(b) => b.columns().deletion_vector.as_ref()?.get(b.row),
            FileView::Added(a) => a.deletion_vector.clone(),
        }
    }

    /// The reconciliation key ([`file_key`]).
    pub fn key(&self) -> String {
        match self {
            FileView::Base(_) => file_key(self.path(), self.deletion_vector().as_ref()),
            FileView::Added(a) => file_key(&a.path, a.deletion_vector.as_ref()),
        }
    }

    /// The file as an owned `add` action (statistics included when loaded).
    pub fn to_add(&self) -> Add {
        match self {
            FileView::Base(b) => {
                let c = b.columns();
                Add {
                    path: self.path().to_string(),
                    partition_values: self.partition_values(),
                    size: self.size(),
                    modification_time: self.modification_time(),
                    data_change: self.data_change(),
                    stats: self.stats().map(str::to_string),
                    tags: self.tags(),
                    deletion_vector: self.deletion_vector(),
                    base_row_id: opt_i64(&c.base_row_id, b.row),
                    default_row_commit_version: opt_i64(&c.default_row_commit_version, b.row),
                    clustering_provider: c
                        .clustering_provider
                        .as_ref()
                        .and_then(|p| p.is_valid(b.row).then(|| p.value(b.row).to_string())),
                }
            }
            FileView::Added(a) => (*a).clone(),
        }
    }
}

// -------------------------------------------------------------------------------------------
// The set
// -------------------------------------------------------------------------------------------

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

/// Iterator over [`FileSet::iter`].
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
                return Some(base.view(chunk, row));
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
    use super::*;
    use arrow::array::{MapBuilder, StringBuilder};
    use arrow::datatypes::{Field, Fields};

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
