//! The native half of the strata Python package: the extension module `strata._strata`.
//!
//! The package's public API is Python (`python/strata/`): it wraps the classes here with
//! keyword arguments, pandas and Polars conversions, typed results and docstrings. This crate
//! binds strata's public API one call at a time:
//!
//! - `table.rs`: `RawTable` and `RawSnapshot`, over [`strata::Table`] and [`strata::Snapshot`];
//! - `arrow.rs`: Arrow in and out through the Arrow PyCapsule interface;
//! - `errors.rs`: [`strata::Error`] as typed exceptions with their fields;
//! - `runtime.rs`: the tokio runtime, and running futures with the GIL released;
//! - `convert.rs`: result structs as dicts.

mod arrow;
mod convert;
mod errors;
mod runtime;
mod table;

use pyo3::prelude::*;

/// `strata._strata`: the native classes the `strata` package wraps.
#[pymodule]
fn _strata(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<table::RawTable>()?;
    m.add_class::<table::RawSnapshot>()?;
    m.add_class::<arrow::ArrowStream>()?;
    m.add_class::<arrow::ArrowBatch>()?;
    m.add_class::<arrow::ArrowSchema>()?;
    Ok(())
}
