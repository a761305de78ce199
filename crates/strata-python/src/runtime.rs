//! The one tokio runtime every binding runs strata's async API on, and [`block`], which runs
//! a future to completion without holding the GIL so other Python threads run meanwhile.

use std::sync::OnceLock;

use pyo3::prelude::*;

use crate::errors::to_py_err;

/// The process's runtime, made on first use: multi-threaded, as strata's scans and writes
/// parallelise across files.
pub(crate) fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("strata")
            .build()
            // Without a runtime no binding can work; this is an OS failure (threads, fds).
            .unwrap_or_else(|e| panic!("strata cannot start its tokio runtime: {e}"))
    })
}

/// Runs the future `make` returns on the runtime with the GIL released, turning strata's
/// error into its Python exception. The future is made on the thread that runs it, so it
/// need not be `Send` (only what `make` captures).
pub(crate) fn block<T, F, Fut>(py: Python<'_>, make: F) -> PyResult<T>
where
    F: FnOnce() -> Fut + Send,
    Fut: std::future::Future<Output = strata::Result<T>>,
    T: Send,
{
    py.detach(|| runtime().block_on(make())).map_err(to_py_err)
}
