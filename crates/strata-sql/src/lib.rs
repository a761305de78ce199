//! SQL over strata tables, with DataFusion (`protocol/PROTOCOL.md#sql`).
//!
//! A [`StrataTable`] is a DataFusion `TableProvider` for one snapshot of a strata table (latest,
//! a version, a timestamp or a tag). Its scans run strata's own reader, so everything strata
//! reads, DataFusion reads: deletion vectors, column mapping, partition values from the log,
//! type widening. Filters are pushed into strata's skipping (partition values, `add.stats`,
//! Parquet row-group statistics); files are split by size across the session's partitions;
//! the planner gets row counts and min/max from the log.
//!
//! A [`Context`] wraps a DataFusion `SessionContext`: tables register by name and location
//! (`"/lake/silver/flights@12"`, `"…#train"`), the table functions `strata_version`,
//! `strata_timestamp`, `strata_tag` and `strata_changes` work inside SQL, and `INSERT INTO`,
//! `INSERT OVERWRITE`, `DELETE`, `UPDATE` and [`Context::write_into`] /
//! [`Context::create_table_as`] commit through strata's transaction layer, each one commit
//! with lineage: every source table, its id and the version read.
//!
//! ```no_run
//! # async fn demo() -> Result<(), strata_sql::SqlError> {
//! use strata_sql::Context;
//!
//! let ctx = Context::new();
//! ctx.register("flights", "/data/lake/silver/flights").await?;
//! ctx.register("flights_v3", "/data/lake/silver/flights@3").await?;
//! let batches = ctx
//!     .collect("SELECT carrier, count(*) AS n FROM flights GROUP BY carrier ORDER BY n DESC")
//!     .await?;
//! let gold = ctx
//!     .create_table_as("/data/lake/gold/by_carrier", "SELECT carrier, count(*) AS n FROM flights GROUP BY carrier")
//!     .await?;
//! # Ok(()) }
//! ```

mod context;
mod directory;
mod dml;
mod error;
mod exec;
mod filters;
mod functions;
mod lineage;
mod location;
mod provider;
mod stats;
mod write;

pub use context::Context;
pub use error::SqlError;
pub use exec::StrataScanExec;
pub use filters::to_strata_expr;
pub use location::{TableSpec, VersionSpec};
pub use provider::StrataTable;
pub use write::{SqlWrite, WriteMode};

/// Re-exported so users of this crate name the same DataFusion version.
pub use datafusion;
