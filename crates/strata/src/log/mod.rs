//! The pure core of the log: segment selection, replay, the live file set, time travel, the
//! `_last_checkpoint` hint and cleanup planning.
//!
//! Nothing here does I/O or is async: the snapshot layer lists and reads files and feeds them
//! through these functions, and the checkpoint layer plans log cleanup with them.

pub mod cleanup;
pub mod files;
pub mod last_checkpoint;
pub mod replay;
pub mod segment;
pub mod timetravel;
