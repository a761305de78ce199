//! strata's errors as Python exceptions.
//!
//! Every [`strata::Error`] becomes an instance of one of the classes in
//! `python/strata/exceptions.py` (all subclasses of `strata.StrataError`), with the error's
//! structured fields as attributes (`ConflictError.version`, `SchemaMismatchError.problems`,
//! …) and its message as `str(e)`. The classes are defined in Python so that they carry
//! docstrings and typed attributes; this module only picks the class and the fields.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use strata::{ConflictReason, Error};

/// A field's value, as the exception attribute takes it.
enum Value {
    Str(String),
    Int(i64),
    List(Vec<String>),
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Str(s.to_string())
    }
}

impl From<&String> for Value {
    fn from(s: &String) -> Value {
        Value::Str(s.clone())
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Int(v)
    }
}

/// The exception class (by name, in `strata.exceptions`) and the fields of `error`.
fn classify(error: &Error) -> (&'static str, Vec<(&'static str, Value)>) {
    match error {
        Error::NotATable { location } => {
            ("TableNotFoundError", vec![("location", location.into())])
        }
        Error::TableExists { location, version } => (
            "TableExistsError",
            vec![
                ("location", location.into()),
                ("version", (*version).into()),
            ],
        ),
        Error::VersionNotFound {
            location,
            version,
            earliest,
            latest,
        } => (
            "VersionNotFoundError",
            vec![
                ("location", location.into()),
                ("version", (*version).into()),
                ("earliest", (*earliest).into()),
                ("latest", (*latest).into()),
            ],
        ),
        Error::TimestampOutOfRange {
            location,
            timestamp,
            reason,
        } => (
            "TimestampOutOfRangeError",
            vec![
                ("location", location.into()),
                ("timestamp", timestamp.into()),
                ("reason", reason.into()),
            ],
        ),
        Error::Conflict {
            location,
            version,
            reason,
        } => {
            let mut fields = vec![
                ("location", location.into()),
                ("version", (*version).into()),
                ("reason", Value::Str(reason.to_string())),
            ];
            fields.extend(conflict_fields(reason));
            ("ConflictError", fields)
        }
        Error::SchemaMismatch { location, problems } => (
            "SchemaMismatchError",
            vec![
                ("location", location.into()),
                ("problems", Value::List(problems.clone())),
            ],
        ),
        Error::Schema(_) | Error::Partition(_) | Error::Stats(_) => ("SchemaError", vec![]),
        Error::Predicate(_) => ("PredicateError", vec![]),
        Error::ConstraintViolation {
            location,
            operation,
            constraint,
            expression,
            violations,
            sample,
        } => (
            "ConstraintViolationError",
            vec![
                ("location", location.into()),
                ("operation", (*operation).into()),
                ("constraint", constraint.into()),
                ("expression", expression.into()),
                ("violations", Value::Int(saturating_i64(*violations))),
                ("sample", sample.into()),
            ],
        ),
        Error::Evaluation {
            location,
            operation,
            file,
            expression,
            message,
        } => (
            "EvaluationError",
            vec![
                ("location", location.into()),
                ("operation", (*operation).into()),
                ("file", file.into()),
                ("expression", expression.into()),
                ("detail", message.into()),
            ],
        ),
        Error::MergeMultipleMatches { location, key } => (
            "MergeMultipleMatchesError",
            vec![("location", location.into()), ("key", key.into())],
        ),
        Error::NotAllowed {
            location,
            operation,
            reason,
        } => (
            "NotAllowedError",
            vec![
                ("location", location.into()),
                ("operation", operation.into()),
                ("reason", reason.into()),
            ],
        ),
        Error::UnsupportedReaderFeatures {
            location,
            reader_version,
            features,
        } => (
            "UnsupportedFeatureError",
            vec![
                ("location", location.into()),
                ("access", "read".into()),
                ("protocol_version", i64::from(*reader_version).into()),
                ("features", Value::List(features.clone())),
            ],
        ),
        Error::UnsupportedWriterFeatures {
            location,
            writer_version,
            features,
        } => (
            "UnsupportedFeatureError",
            vec![
                ("location", location.into()),
                ("access", "write".into()),
                ("protocol_version", i64::from(*writer_version).into()),
                ("features", Value::List(features.clone())),
            ],
        ),
        Error::CorruptLog {
            path,
            version,
            line,
            reason,
        } => (
            "CorruptTableError",
            vec![
                ("path", path.into()),
                ("version", (*version).into()),
                ("line", Value::Int(saturating_i64(*line as u64))),
                ("reason", reason.into()),
            ],
        ),
        Error::CorruptTag { path, reason } => (
            "CorruptTableError",
            vec![("path", path.into()), ("reason", reason.into())],
        ),
        Error::CorruptCheckpoint {
            path,
            version,
            reason,
        } => (
            "CorruptTableError",
            vec![
                ("path", path.into()),
                ("version", (*version).into()),
                ("reason", reason.into()),
            ],
        ),
        Error::DeletionVector {
            path,
            data_file,
            version,
            source,
        } => (
            "CorruptTableError",
            vec![
                ("path", path.into()),
                ("data_file", data_file.into()),
                ("version", (*version).into()),
                ("reason", Value::Str(source.to_string())),
            ],
        ),
        Error::MissingVersion {
            location,
            missing,
            last_good,
        } => (
            "CorruptTableError",
            vec![
                ("path", location.into()),
                ("version", (*missing).into()),
                ("last_good", (*last_good).into()),
            ],
        ),
        Error::MissingAction {
            location,
            version,
            action,
        } => (
            "CorruptTableError",
            vec![
                ("path", location.into()),
                ("version", (*version).into()),
                ("reason", Value::Str(format!("no {action} action"))),
            ],
        ),
        Error::PathEscapesTable {
            location,
            version,
            path,
        } => (
            "CorruptTableError",
            vec![
                ("location", location.into()),
                ("path", path.into()),
                ("version", (*version).into()),
            ],
        ),
        Error::DataFileMissing { path, version } => (
            "DataFileMissingError",
            vec![("path", path.into()), ("version", (*version).into())],
        ),
        Error::ChangeDataFeed {
            location,
            version,
            reason,
        } => (
            "ChangeDataFeedError",
            vec![
                ("location", location.into()),
                ("version", (*version).into()),
                ("reason", reason.into()),
            ],
        ),
        Error::Storage { path, .. } | Error::Parquet { path, .. } => {
            ("StorageError", vec![("path", path.into())])
        }
        Error::InvalidLocation { location, reason } => (
            "InvalidLocationError",
            vec![("location", location.into()), ("reason", reason.into())],
        ),
        Error::InvalidArgument(_) => ("InvalidArgumentError", vec![]),
        Error::Arrow(_) => ("ArrowError", vec![]),
        Error::Internal { context } => ("InternalError", vec![("context", context.into())]),
        // `Error` is non-exhaustive: a variant added later is still a StrataError.
        _ => ("StrataError", vec![]),
    }
}

/// The machine-readable kind of a conflict and its one field, if any.
fn conflict_fields(reason: &ConflictReason) -> Vec<(&'static str, Value)> {
    let (kind, field): (&str, Option<(&'static str, Value)>) = match reason {
        ConflictReason::VersionTaken => ("version_taken", None),
        ConflictReason::ProtocolChanged => ("protocol_changed", None),
        ConflictReason::MetadataChanged => ("metadata_changed", None),
        ConflictReason::FileRemoved { path } => ("file_removed", Some(("path", path.into()))),
        ConflictReason::FilesAdded { path } => ("files_added", Some(("path", path.into()))),
        ConflictReason::TxnConflict { app_id } => ("txn_conflict", Some(("app_id", app_id.into()))),
        ConflictReason::DomainConflict { domain } => {
            ("domain_conflict", Some(("domain", domain.into())))
        }
        ConflictReason::VersionMoved { expected } => (
            "version_moved",
            Some(("expected_version", (*expected).into())),
        ),
        ConflictReason::TooManyRetries { attempts } => (
            "too_many_retries",
            Some(("attempts", i64::from(*attempts).into())),
        ),
        _ => ("other", None),
    };
    let mut fields = vec![("reason_kind", kind.into())];
    fields.extend(field);
    fields
}

fn saturating_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The Python exception for `error`: its class from `strata.exceptions`, constructed with
/// the message, the variant's name as `kind`, and its fields as keyword arguments.
pub(crate) fn to_py_err(error: Error) -> PyErr {
    Python::attach(|py| match build(py, &error) {
        Ok(err) => err,
        // The exceptions module is part of the package; failing to build one is a packaging
        // bug, reported with the original message rather than lost.
        Err(e) => PyRuntimeError::new_err(format!("{error} (and raising it failed: {e})")),
    })
}

fn build(py: Python<'_>, error: &Error) -> PyResult<PyErr> {
    let (class, fields) = classify(error);
    let module = py.import("strata.exceptions")?;
    let class = module.getattr(class)?;
    let kwargs = PyDict::new(py);
    kwargs.set_item("kind", variant_name(error))?;
    for (name, value) in fields {
        match value {
            Value::Str(s) => kwargs.set_item(name, s)?,
            Value::Int(v) => kwargs.set_item(name, v)?,
            Value::List(v) => kwargs.set_item(name, v)?,
        }
    }
    let instance = class.call((error.to_string(),), Some(&kwargs))?;
    Ok(PyErr::from_value(instance))
}

/// The Rust variant's name (`Conflict`, `SchemaMismatch`, …), from its `Debug` form.
fn variant_name(error: &Error) -> String {
    let debug = format!("{error:?}");
    debug
        .split(|c: char| !c.is_alphanumeric() && c != '_')
        .next()
        .unwrap_or("Error")
        .to_string()
}

/// `?` on a strata result inside a binding.
pub(crate) trait IntoPyResult<T> {
    /// The result with strata's error as its Python exception.
    fn py(self) -> PyResult<T>;
}

impl<T> IntoPyResult<T> for strata::Result<T> {
    fn py(self) -> PyResult<T> {
        self.map_err(to_py_err)
    }
}
