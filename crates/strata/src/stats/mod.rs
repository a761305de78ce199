//! Per-file column statistics written into `add.stats`.
//!
//! Implements the "Per-file Statistics" section of the Delta protocol
//! (`protocol/PROTOCOL.md#statistics`). Readers use these statistics for data
//! skipping, so every value written here must be a *valid bound*: a `minValues`
//! entry must be `<=` every non-null value of the column in the file and a
//! `maxValues` entry `>=` every one. When an exact bound cannot be represented
//! (NaN-only floats, infinities, timestamps outside the representable range) the
//! entry is omitted, which readers treat as "unknown" and is always safe.
//!
//! The collector is streaming ([`StatsCollector::update`] per record batch,
//! [`StatsCollector::finish`] once per file) because the writer rolls files and
//! must not buffer a whole file's data just to compute its statistics.
//!
//! Which columns get statistics follows the table properties
//! `delta.dataSkippingNumIndexedCols` and `delta.dataSkippingStatsColumns`
//! (see [`IndexedColumns`]).
mod collector;
mod indexed;

pub(crate) use collector::ColumnStats;
pub use collector::StatsCollector;
pub use indexed::IndexedColumns;

use arrow::error::ArrowError;

use crate::protocol::properties;

/// Table property limiting statistics to the first N leaf columns (`-1` = all).
pub const NUM_INDEXED_COLS_PROPERTY: &str = properties::DATA_SKIPPING_NUM_INDEXED_COLS;
/// Table property naming the (comma-separated, possibly dotted) columns to index.
pub const STATS_COLUMNS_PROPERTY: &str = properties::DATA_SKIPPING_STATS_COLUMNS;
/// Number of leaf columns indexed when no property says otherwise.
pub const DEFAULT_NUM_INDEXED_COLS: usize = 32;
/// Number of Unicode characters kept of string min/max values.
pub const STRING_PREFIX_LENGTH: usize = 32;

/// Errors raised while configuring or feeding a [`StatsCollector`].
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    /// A statistics-related table property has an invalid value.
    #[error("invalid value {value:?} for table property {property}: {reason}")]
    InvalidProperty {
        /// The property key, e.g. `delta.dataSkippingNumIndexedCols`.
        property: String,
        /// The offending value.
        value: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A batch passed to [`StatsCollector::update`] does not match the file schema.
    #[error("record batch does not match the statistics schema: {0}")]
    SchemaMismatch(String),
    /// An Arrow kernel failed.
    #[error(transparent)]
    Arrow(#[from] ArrowError),
}
