//! strata's integration tests: one binary (link time), topic modules.

mod support;

mod bad_input;
pub mod fixtures;
mod interop;
mod roundtrip;
