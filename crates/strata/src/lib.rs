//! # strata
//!
//! ACID tables on a data lake, compatible with the Delta Lake protocol: an append-only JSON
//! commit log with optimistic concurrency over Parquet data files on object storage (local
//! disk by default; `memory://` for tests; S3, GCS and Azure behind cargo features).
//!
//! The format is the Delta Lake protocol; `protocol/PROTOCOL.md` states exactly which reader
//! and writer versions and table features strata implements. Tables strata writes are
//! readable by other Delta clients, and tables they write read correctly here. Where strata
//! cannot honour a table's protocol it refuses with an error naming the features.
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
//!     .await?;
//! let batch = RecordBatch::try_new(schema, vec![
//!     Arc::new(Int64Array::from(vec![1, 2])),
//!     Arc::new(StringArray::from(vec!["PT", "NL"])),
//! ])?;
//! let written = table.append([batch]).await?;          // version 1
//! let v1 = table.snapshot_at_version(written.version).await?;
//! let rows = v1.scan().with_columns(["id"]).collect().await?;
//! # Ok(()) }
//! ```
//!
//! Layout: [`actions`], [`schema`], [`features`] and [`log`] are the pure protocol core (no
//! I/O); [`storage`] is the one boundary to object storage; [`snapshot`], [`transaction`],
//! [`write`](mod@write), [`scan`] and [`cleanup`] are the shell built on them; [`Table`] is the entry
//! point.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod checkpoint;
pub mod error;
pub mod expr;
pub mod log;
pub mod ops;
pub mod protocol;
pub mod read;
pub mod snapshot;
pub mod stats;
pub mod storage;
pub mod table;
pub mod transaction;
pub mod write;

pub use protocol::actions;

pub use checkpoint::cleanup::{CleanupReport, CleanupSkipped};
pub use error::{ConflictReason, Error, Result};
pub use expr::predicate::Predicate;
pub use expr::{Expr, ExprError, Scalar, col, lit};
pub use log::files::FileView;
pub use ops::diff::TableDiff;
pub use ops::history::HistoryEntry;
pub use ops::optimize::{OptimizeBuilder, OptimizeProgress, OptimizeResult};
pub use ops::restore::UndoResult;
pub use ops::vacuum::{VacuumBuilder, VacuumProgress, VacuumReport};
pub use protocol::schema::{DataType, PrimitiveType, StructField, StructType};
pub use protocol::tags::Tag;
pub use read::scan::{RecordBatchStream, ScanBuilder};
pub use snapshot::Snapshot;
pub use storage::Storage;
pub use table::{CreateBuilder, Table};
pub use transaction::{CommitResult, Transaction};
pub use write::{WriteBuilder, WriteMode, WriteResult, WriterOptions};
