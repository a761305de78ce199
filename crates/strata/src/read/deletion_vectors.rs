//! Loading deletion vectors for a scan (`protocol/PROTOCOL.md#deletion-vectors`).
//!
//! Spark writes the vectors of many data files into one DV file, so a scan fetches each DV
//! file once, whichever of its files ask first, and slices every vector out of the same
//! bytes. Decoding and every check (version, size, checksum, magic number, cardinality) is
//! `protocol/deletion_vector.rs`; this is the I/O around it. Inline vectors need no I/O.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use parquet::arrow::arrow_reader::{RowSelection, RowSelector};
use parquet::file::metadata::ParquetMetaData;
use roaring::RoaringTreemap;
use tokio::sync::OnceCell;

use crate::error::{Error, Result};
use crate::protocol::actions::DeletionVectorDescriptor;
use crate::protocol::deletion_vector::{DeletionVectorError, DvLocation, check_file_version};
use crate::storage::{Path, Storage};

/// The DV files of one scan, each fetched at most once.
#[derive(Debug, Default)]
pub(crate) struct DeletionVectors {
    files: Mutex<HashMap<String, Arc<OnceCell<Option<Bytes>>>>>,
}

impl DeletionVectors {
    /// The rows `dv` deletes from `data_file` (as the log names it).
    ///
    /// # Errors
    /// [`Error::DeletionVector`] naming the DV file, the data file and what is wrong (a
    /// missing DV file included); [`Error::PathEscapesTable`]; [`Error::Storage`].
    pub(crate) async fn rows(
        &self,
        storage: &Storage,
        dv: &DeletionVectorDescriptor,
        data_file: &str,
        version: i64,
    ) -> Result<RoaringTreemap> {
        let invalid = |dv_file: &str, source: DeletionVectorError| Error::DeletionVector {
            path: dv_file.to_string(),
            data_file: data_file.to_string(),
            version,
            source,
        };
        let location = dv.location().map_err(|e| invalid("(inline)", e))?;
        let DvLocation::File { offset, .. } = &location else {
            return dv
                .decode(&location, None)
                .map_err(|e| invalid("(inline)", e));
        };
        let object = dv_file(storage, dv, &location, version)?;
        let name = object.to_string();
        let bytes = self
            .file(storage, &object, &name)
            .await?
            .ok_or_else(|| invalid(&name, DeletionVectorError::Missing))?;
        check_file_version(bytes.first().copied()).map_err(|e| invalid(&name, e))?;
        let start = usize::try_from(*offset).unwrap_or(usize::MAX);
        let framed = bytes.get(start..).unwrap_or_default();
        dv.decode(&location, Some(framed))
            .map_err(|e| invalid(&name, e))
    }

    /// The whole DV file (`None` when it does not exist), fetched once per scan.
    async fn file(&self, storage: &Storage, object: &Path, name: &str) -> Result<Option<Bytes>> {
        let cell = {
            let mut files = self.files.lock().unwrap_or_else(|p| p.into_inner());
            files.entry(name.to_string()).or_default().clone()
        };
        cell.get_or_try_init(|| storage.get_if_exists(object))
            .await
            .cloned()
    }
}

/// The object a file-stored vector lives in; `None` for an inline one.
///
/// # Errors
/// [`Error::PathEscapesTable`] for a path outside the table root.
pub(crate) fn dv_file(
    storage: &Storage,
    dv: &DeletionVectorDescriptor,
    location: &DvLocation,
    version: i64,
) -> Result<Path> {
    match location {
        // Storage type `u`: a path made from the UUID, not a URI from the log.
        DvLocation::File { path, .. } if dv.storage_type == "u" => storage.relative_path(path),
        DvLocation::File { path, .. } => storage.data_path(path, version),
        DvLocation::Inline(_) => Err(Error::internal("an inline deletion vector has no file")),
    }
}

/// The DV file `dv` lives in, for keeping it (vacuum); `None` for an inline vector.
///
/// # Errors
/// [`Error::DeletionVector`] for a malformed descriptor (the file it names cannot be known,
/// so nothing may be deleted); [`Error::PathEscapesTable`].
pub(crate) fn dv_file_of(
    storage: &Storage,
    dv: &DeletionVectorDescriptor,
    data_file: &str,
    version: i64,
) -> Result<Option<Path>> {
    let location = dv.location().map_err(|source| Error::DeletionVector {
        path: dv.path_or_inline_dv.clone(),
        data_file: data_file.to_string(),
        version,
        source,
    })?;
    match location {
        DvLocation::Inline(_) => Ok(None),
        file => dv_file(storage, dv, &file, version).map(Some),
    }
}

/// `(first row index, row count)` of each of `row_groups` (ascending) within the file.
pub(crate) fn row_group_ranges(
    metadata: &ParquetMetaData,
    row_groups: &[usize],
) -> Vec<(u64, u64)> {
    let mut starts = Vec::with_capacity(metadata.num_row_groups());
    let mut next = 0u64;
    for rg in metadata.row_groups() {
        starts.push(next);
        next += u64::try_from(rg.num_rows()).unwrap_or_default();
    }
    row_groups
        .iter()
        .map(|&rg| {
            let rows = u64::try_from(metadata.row_group(rg).num_rows()).unwrap_or_default();
            (starts[rg], rows)
        })
        .collect()
}

/// The rows to decode from row groups `ranges` (ascending `(first row, rows)`): every row
/// index in `marked` skipped, or, with `only_marked`, only those read. A Parquet row
/// selection, which also skips the pages it can.
pub(crate) fn row_selection(
    ranges: &[(u64, u64)],
    marked: &RoaringTreemap,
    only_marked: bool,
) -> RowSelection {
    let mut selectors: Vec<RowSelector> = Vec::new();
    let mut push = |skip: bool, rows: u64| {
        let rows = usize::try_from(rows).unwrap_or(usize::MAX);
        if rows == 0 {
            return;
        }
        match selectors.last_mut() {
            Some(last) if last.skip == skip => last.row_count += rows,
            _ => selectors.push(RowSelector {
                row_count: rows,
                skip,
            }),
        }
    };
    let (between, at) = (!only_marked, only_marked);
    let mut marked = marked.iter().peekable();
    for &(start, len) in ranges {
        let end = start + len;
        let mut position = start;
        while let Some(&row) = marked.peek() {
            if row >= end {
                break;
            }
            marked.next();
            if row < position {
                continue; // in a row group that is not read
            }
            // `push(skip, rows)`: the rows between marks are skipped when only marked rows
            // are read, the marked row itself when it is deleted.
            push(!between, row - position);
            push(!at, 1);
            position = row + 1;
        }
        push(!between, end - position);
    }
    RowSelection::from(selectors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs(selection: RowSelection) -> Vec<(bool, usize)> {
        let selectors: Vec<RowSelector> = selection.into();
        selectors.iter().map(|s| (s.skip, s.row_count)).collect()
    }

    #[test]
    fn deleted_rows_are_skipped_within_the_row_groups_read() {
        let deleted: RoaringTreemap = [0u64, 1, 5, 12, 13, 25].into_iter().collect();
        // Row groups [0,10) and [20,30) are read; [10,20) was pruned.
        let selection = row_selection(&[(0, 10), (20, 10)], &deleted, false);
        assert_eq!(
            runs(selection),
            vec![
                (true, 2),
                (false, 3),
                (true, 1),
                (false, 4 + 5),
                (true, 1),
                (false, 4)
            ]
        );
        let none = row_selection(&[(0, 4)], &RoaringTreemap::new(), false);
        assert_eq!(runs(none), vec![(false, 4)]);
        let all: RoaringTreemap = (0u64..4).collect();
        assert_eq!(runs(row_selection(&[(0, 4)], &all, false)), vec![(true, 4)]);
        // Only the marked rows: the complement, row for row.
        let only = row_selection(&[(0, 10), (20, 10)], &deleted, true);
        assert_eq!(
            runs(only),
            vec![
                (false, 2),
                (true, 3),
                (false, 1),
                (true, 4 + 5),
                (false, 1),
                (true, 4)
            ]
        );
    }
}
