//! Row-level operations (`protocol/PROTOCOL.md#delete`): they find rows with `read/`, rewrite
//! files with `write/` or mark rows deleted with deletion vectors, and commit through
//! [`crate::transaction`] with a read set of the files and predicate they read.

mod assign;
pub mod delete;
mod files;
pub use files::DmlProgress;
pub mod merge;
pub mod replace;
pub mod update;
