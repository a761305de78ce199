//! The files of a checkpoint, column-wise ([`BaseFiles`]): its chunks, the index from file key
//! to row, and the statistics attached on demand.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::sync::OnceLock;

use arrow::array::{Array, StringArray};

use crate::protocol::actions::{Remove, file_key};

use super::chunk::*;

/// The live files of a checkpoint, column-wise, plus its tombstones.
#[derive(Debug)]
pub struct BaseFiles {
    pub(super) chunks: Vec<FileChunk>,
    /// Global row number of each chunk's first row.
    pub(super) starts: Vec<usize>,
    pub(super) len: usize,
    /// Partition columns of the table at the checkpoint: a column missing from a row's
    /// `partitionValues` map (writers that drop null map values) is null.
    pub(super) partition_columns: Vec<String>,
    pub(super) tombstones: BTreeMap<String, Remove>,
    /// The Parquet files (names relative to `_delta_log/`, sizes) the chunks were decoded
    /// from, in order: where statistics are read from when asked for.
    pub(super) sources: Vec<(String, u64)>,
    /// Per-chunk `add.stats`, aligned with `chunks`, once loaded.
    pub(super) stats: OnceLock<Vec<StringArray>>,
    /// Reconciliation key → global row, built the first time a later commit needs it.
    pub(super) index: OnceLock<KeyIndex>,
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

    pub(super) fn row(&self, global: usize) -> (usize, usize) {
        let chunk = self.starts.partition_point(|&s| s <= global) - 1;
        (chunk, global - self.starts[chunk])
    }

    pub(super) fn row_at(&self, chunk: usize, row: usize) -> BaseRow<'_> {
        BaseRow {
            base: self,
            chunk,
            row,
        }
    }

    pub(super) fn find(&self, key: &str) -> Option<usize> {
        let index = self.index.get_or_init(|| KeyIndex::build(self));
        index.candidates(key).find(|&global| {
            let (chunk, row) = self.row(global);
            self.row_at(chunk, row).key() == key
        })
    }
}

/// Hash of reconciliation key → global row. Collisions of the 64-bit hash are resolved by
/// comparing the keys themselves, so the index is exact.
#[derive(Debug, Default)]
pub(super) struct KeyIndex {
    pub(super) first: HashMap<u64, u32>,
    pub(super) more: HashMap<u64, Vec<u32>>,
}

pub(super) type FixedHasher = BuildHasherDefault<DefaultHasher>;

impl KeyIndex {
    pub(super) fn build(base: &BaseFiles) -> KeyIndex {
        let mut index = KeyIndex {
            first: HashMap::with_capacity(base.len),
            more: HashMap::new(),
        };
        let mut global = 0u32;
        for (c, chunk) in base.chunks.iter().enumerate() {
            for row in 0..chunk.len() {
                let hash = FixedHasher::default().hash_one(base.row_at(c, row).key());
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

    pub(super) fn candidates(&self, key: &str) -> impl Iterator<Item = usize> + '_ {
        let hash = FixedHasher::default().hash_one(key);
        self.first
            .get(&hash)
            .into_iter()
            .chain(self.more.get(&hash).into_iter().flatten())
            .map(|&g| g as usize)
    }
}

/// One row of [`BaseFiles`].
#[derive(Debug, Clone, Copy)]
pub struct BaseRow<'a> {
    pub(super) base: &'a BaseFiles,
    pub(super) chunk: usize,
    pub(super) row: usize,
}

impl<'a> BaseRow<'a> {
    pub(super) fn columns(&self) -> &'a FileChunk {
        &self.base.chunks[self.chunk]
    }

    /// The reconciliation key ([`file_key`]) of the row.
    pub(super) fn key(&self) -> String {
        let columns = self.columns();
        let dv = columns
            .deletion_vector
            .as_ref()
            .and_then(|d| d.get(self.row));
        file_key(columns.path.value(self.row), dv.as_ref())
    }
}
