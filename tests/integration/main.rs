//! strata's integration tests: one binary (link time), topic modules.

mod support;

mod bad_input;
mod checkpoints;
mod cleanup;
mod conformance;
mod faults;
pub mod fixtures;
mod interop;
mod model;
mod roundtrip;
mod stress;
mod write_path;
