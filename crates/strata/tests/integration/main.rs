//! strata's integration tests: one binary (link time), topic modules.

use strata_test_support as support;

mod bad_input;
mod changes;
mod checkpoints;
mod cleanup;
mod clustering;
mod column_mapping;
mod conflicts;
mod conformance;
mod constraints;
mod deletion_vectors;
mod diff_rows;
mod dml_delete;
mod dml_merge;
mod dml_processes;
mod dml_update;
mod faults;
pub mod fixtures;
mod generated_columns;
mod history;
mod interop;
mod layers;
mod model;
mod optimize;
mod predicates;
mod replace_where;
mod roundtrip;
mod row_tracking;
mod schema_evolution;
mod spark_fixtures;
mod stress;
mod tags;
mod undo;
mod vacuum;
mod workers;
mod write_path;
