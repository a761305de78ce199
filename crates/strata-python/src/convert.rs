//! strata's result structs as Python dicts (typed in `python/strata/_results.py`), and JSON
//! values (commit parameters, metrics) as Python objects.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use serde_json::Value;

/// A dict of `"key" => value` pairs (values anything `IntoPyObject`); evaluates to
/// `PyResult<Bound<PyDict>>`.
#[macro_export]
macro_rules! pydict {
    ($py:expr, { $($key:literal => $value:expr),* $(,)? }) => {{
        let dict = pyo3::types::PyDict::new($py);
        $( dict.set_item($key, $value)?; )*
        Ok::<_, pyo3::PyErr>(dict)
    }};
}

/// A JSON value as the Python object `json.loads` would make.
pub(crate) fn json<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => b.into_pyobject(py)?.to_owned().into_any(),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.into_pyobject(py)?.into_any(),
            (None, Some(u)) => u.into_pyobject(py)?.into_any(),
            _ => n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any(),
        },
        Value::String(s) => s.into_pyobject(py)?.into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(json(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => json_map(py, map)?.into_any(),
    })
}

fn json_map<'py>(
    py: Python<'py>,
    map: &serde_json::Map<String, Value>,
) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (k, v) in map {
        dict.set_item(k, json(py, v)?)?;
    }
    Ok(dict)
}

pub(crate) fn write_result<'py>(
    py: Python<'py>,
    r: &strata::WriteResult,
) -> PyResult<Bound<'py, PyDict>> {
    pydict!(py, {
        "version" => r.version,
        "attempts" => r.attempts,
        "already_applied" => r.already_applied,
        "num_files" => r.num_files,
        "num_rows" => r.num_rows,
        "num_bytes" => r.num_bytes,
        "num_removed_files" => r.num_removed_files,
    })
}

pub(crate) fn history_entry<'py>(
    py: Python<'py>,
    e: &strata::HistoryEntry,
) -> PyResult<Bound<'py, PyDict>> {
    pydict!(py, {
        "version" => e.version,
        "timestamp_ms" => e.timestamp_ms,
        "operation" => e.operation.clone(),
        "parameters" => json_map(py, &e.parameters)?,
        "metrics" => json_map(py, &e.metrics)?,
        "engine_info" => e.engine_info.clone(),
        "read_version" => e.read_version,
        "is_blind_append" => e.is_blind_append,
        "user_metadata" => json_map(py, &e.user_metadata)?,
    })
}

pub(crate) fn undo_result<'py>(
    py: Python<'py>,
    r: &strata::UndoResult,
) -> PyResult<Bound<'py, PyDict>> {
    pydict!(py, {
        "version" => r.version,
        "target" => r.target,
        "num_restored_files" => r.num_restored_files,
        "num_removed_files" => r.num_removed_files,
        "restored_bytes" => r.restored_bytes,
        "removed_bytes" => r.removed_bytes,
    })
}

pub(crate) fn tag_dict<'py>(py: Python<'py>, t: &strata::Tag) -> PyResult<Bound<'py, PyDict>> {
    pydict!(py, {
        "version" => t.version,
        "created_at_ms" => t.created_at,
    })
}

pub(crate) fn vacuum_report<'py>(
    py: Python<'py>,
    r: &strata::VacuumReport,
) -> PyResult<Bound<'py, PyDict>> {
    pydict!(py, {
        "dry_run" => r.dry_run,
        "retention_ms" => r.retention_ms,
        "files" => r.files.clone(),
        "bytes" => r.bytes,
        "version" => r.version,
    })
}

pub(crate) fn optimize_result<'py>(
    py: Python<'py>,
    r: &strata::OptimizeResult,
) -> PyResult<Bound<'py, PyDict>> {
    pydict!(py, {
        "version" => r.version,
        "num_files_removed" => r.num_files_removed,
        "num_files_added" => r.num_files_added,
        "bytes_removed" => r.bytes_removed,
        "bytes_added" => r.bytes_added,
        "partitions_optimized" => r.partitions_optimized,
    })
}
