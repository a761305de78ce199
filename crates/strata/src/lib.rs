//! # strata
//!
//! ACID tables on a data lake, in the Delta Lake format: an append-only JSON commit log with
//! optimistic concurrency over Parquet data files on object storage (local disk by default;
//! `memory://` for tests; S3, GCS and Azure behind the `s3`, `gcs`, `azure` or `cloud`
//! features). Tables strata writes read in other Delta clients (Spark, delta-rs, DuckDB), and
//! theirs read here; `protocol/PROTOCOL.md` in the repository states exactly which parts of
//! the protocol strata implements. Where strata cannot honour a table it refuses with an error
//! naming what it lacks; it never returns silently wrong data.
//!
//! ## Create, append, read
//!
//! ```no_run
//! # async fn demo() -> strata::Result<()> {
//! use std::sync::Arc;
//! use arrow::array::{Int64Array, RecordBatch, StringArray};
//! use arrow::datatypes::{DataType, Field, Schema};
//!
//! let schema = Arc::new(Schema::new(vec![
//!     Field::new("id", DataType::Int64, false),
//!     Field::new("country", DataType::Utf8, true),
//! ]));
//! let table = strata::Table::create("./target/lake/events")
//!     .with_arrow_schema(&schema)?
//!     .with_partition_columns(["country"])
//!     .execute()
//!     .await?;                                           // version 0
//! let batch = RecordBatch::try_new(schema, vec![
//!     Arc::new(Int64Array::from(vec![1, 2])),
//!     Arc::new(StringArray::from(vec!["PT", "NL"])),
//! ])?;
//! let written = table.append([batch.clone()]).await?;  // version 1
//!
//! // Idempotent writes: a rerun of the same (appId, version) commits nothing.
//! let again = table.write([batch]).with_txn("nightly", 42).execute().await?;
//!
//! // Read any version: by number, by timestamp, or by tag; filter and project.
//! let v1 = table.snapshot_at_version(written.version).await?;
//! let plan = v1.scan().with_columns(["id"]).with_filter("country = 'PT'").plan().await?;
//! let rows = plan.collect().await?;
//! println!("read {} of {} files", plan.metrics().files_to_read, plan.metrics().files_considered);
//! # Ok(()) }
//! ```
//!
//! ## What is where
//!
//! Everything starts at a [`Table`] (a location and its cached latest version) or a
//! [`Snapshot`] (one immutable version). `Table`'s documentation lists every operation:
//!
//! - **Reading**: [`Table::snapshot`], [`Table::snapshot_at_version`],
//!   [`Table::snapshot_at_timestamp`], [`Table::snapshot_at_tag`]; then [`Snapshot::scan`]
//!   ([`ScanBuilder`]: columns, [`Expr`] or SQL-like filters, limits; files and row groups that
//!   cannot match are skipped by partition values and statistics, [`ScanMetrics`] says what
//!   was read).
//! - **Writing**: [`Table::write`] / [`Table::write_stream`] ([`WriteBuilder`]: append or
//!   overwrite, `txn`, commit metadata, file layout), streamed with bounded memory.
//! - **Undoing and naming versions**: [`Table::restore_to_version`], [`Table::revert`],
//!   [`Table::tag`]; what happened: [`Table::history`], [`Table::diff`],
//!   [`Table::diff_rows`].
//! - **Maintenance**: [`Table::optimize`], [`Table::vacuum`], [`Table::checkpoint`],
//!   [`Table::cleanup_log`].
//! - **Your own commits**: a [`Transaction`] stages [`actions`] on a snapshot and commits them
//!   with put-if-absent; losing the race to a compatible writer is retried on the next version,
//!   a conflicting one is [`Error::Conflict`] naming the winner and why.
//!
//! Errors are one enum, [`Error`], with structured fields (`Conflict { version, reason }`,
//! `SchemaMismatch { problems }`, `CorruptLog { path, version, line }`, …); each message names
//! the table, file or version and says what to do.
//!
//! The crate is layered (see `ARCHITECTURE.md` in the repository): the protocol types and the
//! pure log core at the bottom, one storage boundary, snapshots, the transaction layer, then
//! reading, writing and operations, with [`Table`] on top. Only what this page lists is public.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod checkpoint;
mod error;
mod expr;
mod log;
mod ops;
mod protocol;
mod read;
mod snapshot;
pub mod stats;
mod storage;
mod table;
mod transaction;
mod write;

/// The log's actions as the protocol names them (`protocol/PROTOCOL.md#actions`), and commit
/// files as lines of them.
pub mod actions {
    pub use crate::protocol::actions::{
        Action, Add, Cdc, CheckpointMetadata, CommitInfo, DeletionVectorDescriptor, DomainMetadata,
        Format, Metadata, Protocol, Remove, Sidecar, Stats, Txn, file_key, parse_commit,
        serialize_commit,
    };
}

pub use protocol::lineage;
pub use protocol::paths;
pub use protocol::properties;

pub use checkpoint::cleanup::{CleanupReport, CleanupSkipped};
pub use error::{ConflictReason, DataFileProblem, Error, Result};
pub use expr::predicate::Predicate;
pub use expr::value::BoundValue;
pub use expr::{ArithmeticOp, CompareOp, Expr, ExprError, Scalar, col, lit};
pub use log::files::{FileView, Files};
pub use ops::alter::{AlterBuilder, AlterResult, NewColumn};
pub use ops::diff::{RowDiff, RowDiffBuilder, RowDiffSource, TableDiff};
pub use ops::dml::DmlProgress;
pub use ops::dml::delete::{DeleteBuilder, DeleteResult};
pub use ops::dml::merge::{MergeBuilder, MergeClause, MergeResult, MergeSource};
pub use ops::dml::replace::{ReplaceWhereBuilder, ReplaceWhereResult};
pub use ops::dml::update::{UpdateBuilder, UpdateResult};
pub use ops::history::HistoryEntry;
pub use ops::optimize::{OptimizeBuilder, OptimizeProgress, OptimizeResult};
pub use ops::restore::UndoResult;
pub use ops::vacuum::{VacuumBuilder, VacuumProgress, VacuumReport};
pub use protocol::features::TableFeature;
pub use protocol::partition::PartitionError;
pub use protocol::properties::{TableProperties, format_duration_ms, parse_interval_ms};
pub use protocol::schema::conform::conform_to_schema;
pub use protocol::schema::evolution::ColumnPosition;
pub use protocol::schema::{
    ArrayType, DataType, MapType, PrimitiveType, SchemaError, StructField, StructType,
};
pub use protocol::tags::Tag;
pub use read::RecordBatchStream;
pub use read::changes::{
    CHANGE_TYPE_COLUMN, COMMIT_TIMESTAMP_COLUMN, COMMIT_VERSION_COLUMN, ChangesBuilder, ChangesPlan,
};
pub use read::scan::{IntoFilter, ScanBuilder, ScanMetrics, ScanPlan};
pub use snapshot::Snapshot;
pub use storage::{PutOutcome, Storage};
pub use table::{CreateBuilder, Table};
pub use transaction::{
    CommitExtras, CommitResult, DEFAULT_MAX_RETRIES, LINEAGE, REQUIRE_LINEAGE, Transaction,
};
pub use write::{
    DEFAULT_MAX_BUFFERED_BYTES, DEFAULT_ROW_GROUP_ROWS, DEFAULT_TARGET_FILE_SIZE, SchemaMode,
    WriteBuilder, WriteMode, WriteResult, WriterOptions,
};
