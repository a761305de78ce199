//! Table operations above reading and writing: history, diff, row-level DML, tags, restore
//! and revert, optimize and vacuum. Each commits through [`crate::transaction`].

pub(crate) mod alter;
pub mod diff;
pub mod dml;
pub mod history;
pub mod optimize;
pub mod restore;
pub mod tags;
pub mod vacuum;
pub(crate) mod zorder;
