//! Reading a snapshot's rows: scans with projection, filters and data skipping. `scan.rs`
//! plans (which files, pruned by partition values and statistics); `file.rs` reads one data
//! file (row groups pruned by footer statistics, rows filtered, columns conformed).

pub mod changes;
pub(crate) mod deletion_vectors;
mod file;
mod generated;
pub mod scan;

use std::sync::atomic::AtomicU64;

use arrow::array::RecordBatch;
use futures::stream::BoxStream;

use crate::error::Result;

/// A stream of record batches from a scan.
pub type RecordBatchStream = BoxStream<'static, Result<RecordBatch>>;

/// Counters shared by a plan and the streams it starts.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) row_groups_considered: AtomicU64,
    pub(crate) row_groups_pruned: AtomicU64,
    pub(crate) rows_read: AtomicU64,
    pub(crate) rows_returned: AtomicU64,
}

/// Whether a column path names a partition column (a top-level column).
pub(crate) fn is_partition_column(path: &[String], partition_columns: &[String]) -> bool {
    path.len() == 1 && partition_columns.contains(&path[0])
}
