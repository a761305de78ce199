//! Medallion pipelines over strata tables: bronze → silver → gold, incrementally and exactly
//! once (`protocol/PROTOCOL.md#pipelines`).
//!
//! A [`Lake`] is a root directory with tables at `root/{bronze,silver,gold}/NAME`, addressed
//! as `bronze.name`. A [`Flow`] reads one or more source tables from where it last stopped,
//! transforms the new rows with a Rust closure, checks [`Expectation`]s, and writes the result
//! to its target table through a [`Sink`]. The output, every source's cursor (a Delta `txn`
//! action, the one Spark Structured Streaming's Delta sink writes), the expectation counts and
//! the lineage land in **one commit**, so a crashed or racing run can neither lose nor repeat
//! a source range.
//!
//! ```no_run
//! # async fn demo() -> Result<(), strata_pipelines::PipelineError> {
//! use strata_pipelines::{Expectation, Flow, Lake, ReadMode, Sink};
//!
//! let lake = Lake::open("/data/lake");
//! let silver = Flow::new("clean_flights", "silver.flights")
//!     .source("bronze.flights", ReadMode::Appends)
//!     .expect(Expectation::drop("has_id", "id IS NOT NULL"))
//!     .transform(|input| Ok(input.rows("bronze.flights").to_vec()))
//!     .sink(Sink::Upsert { keys: vec!["id".into()] });
//! let report = silver.run(&lake).await?;
//! println!("{report}");
//! # Ok(()) }
//! ```

mod apply_changes;
mod config;
mod error;
mod expectations;
mod flow;
mod lake;
mod lineage;
mod pins;
mod pipeline;
mod run;
#[cfg(feature = "sql")]
mod sql;

pub use apply_changes::{ApplyChanges, END_AT, START_AT, ScdType};
pub use config::{ExpectSpec, FlowSpec, PipelineFile, SourceSpec};
pub use error::PipelineError;
pub use expectations::{EXPECTATION_COLUMN, Expectation, ExpectationAction, ExpectationCount};
pub use flow::{Flow, FlowInput, ReadMode, Sink, SourceInput};
pub use lake::{Lake, LakeTable, Layer, TableName};
pub use lineage::{
    LINEAGE_KEY, Lineage, LineageNode, SourceRange, cursor_app_id, lineage_at, walk_lineage,
};
pub use pins::{PINS_DIR, Pin, PinnedTable};
pub use pipeline::{FlowOutcome, Pipeline, PipelineReport, SourceLag};
pub use run::{EXPECTATIONS_KEY, RunReport};

/// The README's Rust examples, compiled as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;
