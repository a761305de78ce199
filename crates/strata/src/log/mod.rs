//! The pure core of the log: file naming and segment selection, replay, time travel, and
//! cleanup planning.
//!
//! Nothing here does I/O or is async; [`crate::snapshot`] is the shell that lists and reads
//! files and feeds them through these functions.

pub mod cleanup;
pub mod files;
pub mod replay;
pub mod segment;
pub mod timetravel;
