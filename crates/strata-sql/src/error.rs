//! The SQL layer's errors: strata's, DataFusion's, and what only SQL can get wrong.

/// What can go wrong running SQL over strata tables.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SqlError {
    /// A table operation failed.
    #[error(transparent)]
    Table(#[from] strata::Error),
    /// Planning or running the query failed (SQL syntax, unknown tables or columns, types).
    #[error("{}", one_line(.0))]
    Query(#[from] datafusion::error::DataFusionError),
    /// A table reference that is not `LOCATION[@VERSION|#TAG]` or `NAME=LOCATION…`.
    #[error("table {spec:?}: {reason}")]
    BadTable {
        /// The reference as given.
        spec: String,
        /// What is wrong.
        reason: String,
    },
    /// A statement strata cannot run (and why), such as `CREATE TABLE … AS` without a lake
    /// schema to place the table in.
    #[error("{statement}: {reason}")]
    Unsupported {
        /// The kind of statement.
        statement: String,
        /// Why, and what to do instead.
        reason: String,
    },
}

/// DataFusion's message without its context chain's line breaks or backtrace, so CLI errors
/// stay one line; the innermost strata error is shown as strata wrote it.
fn one_line(error: &datafusion::error::DataFusionError) -> String {
    if let Some(inner) = strata_error(error) {
        return inner.to_string();
    }
    error
        .to_string()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The strata error a DataFusion error wraps, if any.
pub(crate) fn strata_error(error: &datafusion::error::DataFusionError) -> Option<&strata::Error> {
    use datafusion::error::DataFusionError;
    match error {
        DataFusionError::External(e) => e.downcast_ref::<strata::Error>(),
        DataFusionError::Context(_, inner) => strata_error(inner),
        DataFusionError::Shared(inner) => strata_error(inner),
        _ => None,
    }
}

/// A strata error as DataFusion carries it.
pub(crate) fn to_datafusion(error: strata::Error) -> datafusion::error::DataFusionError {
    datafusion::error::DataFusionError::External(Box::new(error))
}

impl SqlError {
    /// Unwraps a DataFusion error that carries a strata error back into [`SqlError::Table`].
    pub(crate) fn from_datafusion(error: datafusion::error::DataFusionError) -> SqlError {
        use datafusion::error::DataFusionError;
        match error {
            DataFusionError::External(e) => match e.downcast::<strata::Error>() {
                Ok(inner) => SqlError::Table(*inner),
                Err(e) => SqlError::Query(DataFusionError::External(e)),
            },
            DataFusionError::Context(_, inner) if strata_error(&inner).is_some() => {
                SqlError::from_datafusion(*inner)
            }
            other => SqlError::Query(other),
        }
    }
}
