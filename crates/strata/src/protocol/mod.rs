//! The Delta protocol as types: actions, table features, table properties, schemas, partition
//! values and paths, named and shaped as `protocol/PROTOCOL.md` names them.
//!
//! Everything here is pure (no I/O, no async): parsing and validating what the log says, and
//! serializing what strata writes.

pub mod actions;
pub(crate) mod arrow_fields;
pub mod clustering;
pub mod constraints;
pub mod deletion_vector;
pub mod features;
pub mod lineage;
pub mod partition;
pub mod paths;
pub mod properties;
pub mod schema;
pub mod tags;
pub mod values;
