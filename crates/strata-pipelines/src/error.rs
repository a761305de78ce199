//! The pipeline layer's errors: strata's, plus what only a flow can get wrong.

/// What can go wrong running a flow.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// A table operation failed.
    #[error(transparent)]
    Table(#[from] strata::Error),
    /// A table name is not `layer.name` with a known layer.
    #[error(
        "table name {name:?} is not LAYER.NAME with LAYER one of bronze, silver, gold and NAME of letters, digits, '_' and '-'"
    )]
    BadTableName {
        /// The name given.
        name: String,
    },
    /// A flow is defined wrongly (no transform, no source, a source read twice, ...).
    #[error("flow {flow:?}: {reason}")]
    BadFlow {
        /// The flow.
        flow: String,
        /// What is wrong.
        reason: String,
    },
    /// The flow's transform returned an error; nothing was committed.
    #[error("flow {flow:?}: the transform failed: {message}; nothing was committed")]
    Transform {
        /// The flow.
        flow: String,
        /// The transform's error.
        message: String,
    },
    /// A `fail` expectation was violated; nothing was committed.
    #[error(
        "flow {flow:?}: expectation {expectation:?} ({predicate}) failed on {violations} row(s), e.g. {sample}; nothing was committed"
    )]
    ExpectationFailed {
        /// The flow.
        flow: String,
        /// The expectation's name.
        expectation: String,
        /// Its predicate.
        predicate: String,
        /// Rows violating it.
        violations: u64,
        /// The first violating row, rendered.
        sample: String,
    },
    /// A `pipeline.toml` that does not parse or does not make sense.
    #[error("{file}:{line}:{column}: {message}")]
    Config {
        /// The file.
        file: String,
        /// 1-based line (0 when the problem is a flow's values, named in the message).
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// Concurrent runners kept committing first; rerun the flow.
    #[error("flow {flow:?}: other runners kept committing first ({attempts} attempts); rerun it")]
    TooManyAttempts {
        /// The flow.
        flow: String,
        /// Attempts made.
        attempts: u32,
    },
}

impl From<arrow::error::ArrowError> for PipelineError {
    fn from(e: arrow::error::ArrowError) -> Self {
        PipelineError::Table(strata::Error::from(e))
    }
}
