//! `Table` and `Snapshot`: thin bindings over [`strata::Table`] and [`strata::Snapshot`].
//!
//! Each method is one call into strata's public API, run on the shared runtime with the GIL
//! released ([`block`]). Results come back as dicts that `python/strata/_results.py` turns
//! into typed result classes; the Pythonic surface (keyword arguments, pandas and Polars,
//! the merge chain) lives in `python/strata/table.py`.

use std::collections::HashMap;

use pyo3::prelude::*;
use pyo3::types::PyDict;

use strata::{MergeClause, SchemaMode, WriteMode};

use crate::arrow::{
    ArrowSchema, ArrowStream, BlockingReader, input_stream, reader_from, reader_of,
};
use crate::convert::{
    history_entry, optimize_result, tag_dict, undo_result, vacuum_report, write_result,
};
use crate::errors::IntoPyResult;
use crate::pydict;
use crate::runtime::block;

/// Parses a `mode=` argument.
fn write_mode(mode: &str) -> PyResult<WriteMode> {
    match mode {
        "append" => Ok(WriteMode::Append),
        "overwrite" => Ok(WriteMode::Overwrite),
        other => Err(invalid(format!(
            "mode must be \"append\" or \"overwrite\", not {other:?}"
        ))),
    }
}

/// Parses a `schema_mode=` argument.
fn schema_mode(mode: Option<&str>) -> PyResult<Option<SchemaMode>> {
    match mode {
        None => Ok(None),
        Some("merge") => Ok(Some(SchemaMode::Merge)),
        Some("overwrite") => Ok(Some(SchemaMode::Overwrite)),
        Some(other) => Err(invalid(format!(
            "schema_mode must be None, \"merge\" or \"overwrite\", not {other:?}"
        ))),
    }
}

/// `strata.InvalidArgumentError` with `message`.
fn invalid(message: String) -> PyErr {
    crate::errors::to_py_err(strata::Error::InvalidArgument(message))
}

/// A UTC time from milliseconds since the epoch.
fn utc_ms(ms: i64) -> PyResult<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| invalid(format!("timestamp {ms} ms is out of range")))
}

/// The options of one write, as `Table.write` and `write_table` take them.
#[derive(Default)]
struct WriteOptions {
    mode: Option<String>,
    txn: Option<(String, i64)>,
    schema_mode: Option<String>,
    commit_metadata: HashMap<String, String>,
    target_file_size: Option<u64>,
    expected_version: Option<i64>,
}

impl WriteOptions {
    fn apply(self, mut builder: strata::WriteBuilder) -> PyResult<strata::WriteBuilder> {
        builder = builder.with_mode(write_mode(self.mode.as_deref().unwrap_or("append"))?);
        if let Some((app_id, version)) = self.txn {
            builder = builder.with_txn(app_id, version);
        }
        if let Some(mode) = schema_mode(self.schema_mode.as_deref())? {
            builder = builder.with_schema_mode(mode);
        }
        for (k, v) in self.commit_metadata {
            builder = builder.with_commit_metadata(k, v);
        }
        if let Some(bytes) = self.target_file_size {
            builder = builder.with_target_file_size(bytes);
        }
        if let Some(version) = self.expected_version {
            builder = builder.with_expected_version(version);
        }
        Ok(builder)
    }
}

/// A Python callable `progress(done, total)` that a long operation reports to from its
/// worker threads. An exception it raises is reported as unraisable (printed), not
/// propagated: progress display must not abort a commit.
struct Progress(Py<PyAny>);

impl Progress {
    fn call(&self, done: u64, total: u64) {
        Python::attach(|py| {
            if let Err(e) = self.0.call1(py, (done, total)) {
                e.write_unraisable(py, Some(self.0.bind(py)));
            }
        });
    }
}

/// A merge clause as `TableMerger` hands it over: `(kind, condition, assignments)`, with
/// `None` assignments meaning every column for updates and inserts.
type ClauseSpec = (String, Option<String>, Option<Vec<(String, String)>>);

/// A Delta table at a location (`strata.Table` wraps it).
#[pyclass(module = "strata._strata", frozen)]
pub struct RawTable {
    table: strata::Table,
}

#[pymethods]
impl RawTable {
    /// Opens the table at `uri` (a local path or URL).
    #[staticmethod]
    #[pyo3(signature = (uri, storage_options=None))]
    fn open(
        py: Python<'_>,
        uri: String,
        storage_options: Option<HashMap<String, String>>,
    ) -> PyResult<RawTable> {
        let options = storage_options.unwrap_or_default();
        let table = block(py, move || strata::Table::open_with_options(uri, options))?;
        Ok(RawTable { table })
    }

    /// Creates an empty table with `schema` (anything with `__arrow_c_schema__`).
    #[staticmethod]
    #[pyo3(signature = (uri, schema, partition_by=None, properties=None, name=None, description=None, storage_options=None))]
    #[allow(clippy::too_many_arguments)]
    fn create(
        py: Python<'_>,
        uri: String,
        schema: pyo3_arrow::PySchema,
        partition_by: Option<Vec<String>>,
        properties: Option<HashMap<String, String>>,
        name: Option<String>,
        description: Option<String>,
        storage_options: Option<HashMap<String, String>>,
    ) -> PyResult<RawTable> {
        let builder = create_builder(
            uri,
            partition_by,
            properties,
            name,
            description,
            storage_options,
        )
        .with_arrow_schema(schema.as_ref())
        .py()?;
        let table = block(py, move || builder.execute())?;
        Ok(RawTable { table })
    }

    /// Writes `data` to the table at `uri`, creating it (with the data's schema) when there is
    /// none, in one commit. Returns the table and the write's result.
    #[staticmethod]
    #[pyo3(signature = (uri, data, mode=None, partition_by=None, properties=None, name=None, description=None, storage_options=None, txn=None, schema_mode=None, commit_metadata=None, target_file_size=None))]
    #[allow(clippy::too_many_arguments)]
    fn write_to<'py>(
        py: Python<'py>,
        uri: String,
        data: &Bound<'py, PyAny>,
        mode: Option<String>,
        partition_by: Option<Vec<String>>,
        properties: Option<HashMap<String, String>>,
        name: Option<String>,
        description: Option<String>,
        storage_options: Option<HashMap<String, String>>,
        txn: Option<(String, i64)>,
        schema_mode: Option<String>,
        commit_metadata: Option<HashMap<String, String>>,
        target_file_size: Option<u64>,
    ) -> PyResult<(RawTable, Bound<'py, PyDict>)> {
        let reader = reader_from(data)?;
        let schema = reader.schema();
        let stream = input_stream(reader);
        let options = WriteOptions {
            mode,
            txn,
            schema_mode,
            commit_metadata: commit_metadata.unwrap_or_default(),
            target_file_size,
            expected_version: None,
        };
        let creating = create_builder(
            uri,
            partition_by,
            properties,
            name,
            description,
            storage_options.clone(),
        );
        let location = creating.location().to_string();
        let builder = creating
            .with_arrow_schema(&schema)
            .py()?
            .write_stream(stream)
            .py()?;
        let builder = options.apply(builder)?;
        let result = block(py, move || builder.execute())?;
        let options = storage_options.unwrap_or_default();
        let table = block(py, move || {
            strata::Table::open_with_options(location, options)
        })?;
        Ok((RawTable { table }, write_result(py, &result)?))
    }

    /// The table's location.
    #[getter]
    fn location(&self) -> String {
        self.table.location().to_string()
    }

    /// The latest version number (refreshed from storage).
    fn version(&self, py: Python<'_>) -> PyResult<i64> {
        block(py, move || self.table.version())
    }

    /// The latest snapshot, or the one at `version`, `timestamp_ms` or `tag` (at most one).
    #[pyo3(signature = (version=None, timestamp_ms=None, tag=None))]
    fn snapshot(
        &self,
        py: Python<'_>,
        version: Option<i64>,
        timestamp_ms: Option<i64>,
        tag: Option<String>,
    ) -> PyResult<RawSnapshot> {
        let given = [version.is_some(), timestamp_ms.is_some(), tag.is_some()];
        if given.iter().filter(|g| **g).count() > 1 {
            return Err(invalid(
                "give at most one of version, timestamp and tag".into(),
            ));
        }
        let table = &self.table;
        let snapshot = if let Some(v) = version {
            block(py, move || table.snapshot_at_version(v))?
        } else if let Some(ms) = timestamp_ms {
            let at = utc_ms(ms)?;
            block(py, move || table.snapshot_at_timestamp(at))?
        } else if let Some(name) = tag {
            block(
                py,
                move || async move { table.snapshot_at_tag(&name).await },
            )?
        } else {
            block(py, move || table.snapshot())?
        };
        Ok(RawSnapshot { snapshot })
    }

    /// Writes `data` (anything with `__arrow_c_stream__` or `__arrow_c_array__`) in one
    /// commit, streaming it.
    #[pyo3(signature = (data, mode=None, txn=None, schema_mode=None, commit_metadata=None, target_file_size=None, expected_version=None))]
    #[allow(clippy::too_many_arguments)]
    fn write<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
        mode: Option<String>,
        txn: Option<(String, i64)>,
        schema_mode: Option<String>,
        commit_metadata: Option<HashMap<String, String>>,
        target_file_size: Option<u64>,
        expected_version: Option<i64>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let stream = input_stream(reader_from(data)?);
        let options = WriteOptions {
            mode,
            txn,
            schema_mode,
            commit_metadata: commit_metadata.unwrap_or_default(),
            target_file_size,
            expected_version,
        };
        let builder = options.apply(self.table.write_stream(stream))?;
        let result = block(py, move || builder.execute())?;
        write_result(py, &result)
    }

    /// Deletes the rows `predicate` (SQL) matches; every row without one. `progress` is
    /// called with `(files done, files to read)`.
    #[pyo3(signature = (predicate=None, progress=None))]
    fn delete<'py>(
        &self,
        py: Python<'py>,
        predicate: Option<String>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let mut builder = self.table.delete();
        if let Some(report) = progress.map(Progress) {
            builder = builder.with_progress(move |p| report.call(p.files_done, p.files_total));
        }
        if let Some(p) = predicate {
            builder = builder.with_predicate(p.as_str());
        }
        let r = block(py, move || builder.execute())?;
        pydict!(py, {
            "version" => r.version,
            "num_deleted_rows" => r.num_deleted_rows,
            "num_removed_files" => r.num_removed_files,
            "num_added_files" => r.num_added_files,
            "num_copied_rows" => r.num_copied_rows,
            "num_deletion_vectors_added" => r.num_deletion_vectors_added,
        })
    }

    /// Sets `column = expression` (SQL) on the rows `predicate` matches; every row without
    /// one. `progress` is called with `(files done, files to read)`.
    #[pyo3(signature = (set, predicate=None, progress=None))]
    fn update<'py>(
        &self,
        py: Python<'py>,
        set: Vec<(String, String)>,
        predicate: Option<String>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let mut builder = self.table.update();
        if let Some(report) = progress.map(Progress) {
            builder = builder.with_progress(move |p| report.call(p.files_done, p.files_total));
        }
        if let Some(p) = predicate {
            builder = builder.with_predicate(p.as_str());
        }
        for (column, value) in &set {
            builder = builder.set(column.clone(), value.as_str());
        }
        let r = block(py, move || builder.execute())?;
        pydict!(py, {
            "version" => r.version,
            "num_updated_rows" => r.num_updated_rows,
            "num_copied_rows" => r.num_copied_rows,
            "num_added_files" => r.num_added_files,
            "num_removed_files" => r.num_removed_files,
            "num_deletion_vectors_added" => r.num_deletion_vectors_added,
            "num_added_change_files" => r.num_added_change_files,
        })
    }

    /// Merges `source` into the table on `on`. `clauses` are `(kind, condition, set)` in
    /// order: `kind` one of `matched_update`, `matched_delete`, `not_matched_insert`,
    /// `not_matched_by_source_update`, `not_matched_by_source_delete`; `set` a list of
    /// `(column, SQL expression)`, or `None` for every column (`UPDATE SET *`, `INSERT *`).
    #[pyo3(signature = (source, on, clauses, target_alias=None, source_alias=None, schema_mode=None, txn=None, commit_metadata=None))]
    #[allow(clippy::too_many_arguments)]
    fn merge<'py>(
        &self,
        py: Python<'py>,
        source: &Bound<'py, PyAny>,
        on: String,
        clauses: Vec<ClauseSpec>,
        target_alias: Option<String>,
        source_alias: Option<String>,
        schema_mode: Option<String>,
        txn: Option<(String, i64)>,
        commit_metadata: Option<HashMap<String, String>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let stream = input_stream(reader_from(source)?);
        let mut builder = self.table.merge(stream, on.as_str()).with_aliases(
            target_alias.unwrap_or_else(|| "target".into()),
            source_alias.unwrap_or_else(|| "source".into()),
        );
        if let Some(mode) = self::schema_mode(schema_mode.as_deref())? {
            builder = builder.with_schema_mode(mode);
        }
        if let Some((app_id, version)) = txn {
            builder = builder.with_txn(app_id, version);
        }
        for (k, v) in commit_metadata.unwrap_or_default() {
            builder = builder.with_commit_metadata(k, v);
        }
        for (kind, condition, set) in clauses {
            // Updates and inserts without assignments take every column (`SET *`, `INSERT *`).
            let takes_all = matches!(kind.as_str(), "matched_update" | "not_matched_insert");
            let build = move |mut c: MergeClause| {
                if let Some(cond) = &condition {
                    c = c.condition(cond.as_str());
                }
                match &set {
                    None if takes_all => c.all(),
                    None => c,
                    Some(pairs) => pairs
                        .iter()
                        .fold(c, |c, (col, value)| c.set(col.clone(), value.as_str())),
                }
            };
            builder = match kind.as_str() {
                "matched_update" => builder.when_matched_update(build),
                "matched_delete" => builder.when_matched_delete(build),
                "not_matched_insert" => builder.when_not_matched_insert(build),
                "not_matched_by_source_update" => builder.when_not_matched_by_source_update(build),
                "not_matched_by_source_delete" => builder.when_not_matched_by_source_delete(build),
                other => return Err(invalid(format!("unknown merge clause kind {other:?}"))),
            };
        }
        let r = block(py, move || builder.execute())?;
        pydict!(py, {
            "version" => r.version,
            "num_source_rows" => r.num_source_rows,
            "num_target_rows_inserted" => r.num_target_rows_inserted,
            "num_target_rows_updated" => r.num_target_rows_updated,
            "num_target_rows_deleted" => r.num_target_rows_deleted,
            "num_target_rows_copied" => r.num_target_rows_copied,
            "num_target_files_added" => r.num_target_files_added,
            "num_target_files_removed" => r.num_target_files_removed,
            "num_target_deletion_vectors_added" => r.num_target_deletion_vectors_added,
            "num_target_change_files_added" => r.num_target_change_files_added,
            "already_applied" => r.already_applied,
        })
    }

    /// The commits, newest first, at most `limit`.
    #[pyo3(signature = (limit=None))]
    fn history<'py>(
        &self,
        py: Python<'py>,
        limit: Option<usize>,
    ) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let entries = block(py, move || self.table.history(limit))?;
        entries.iter().map(|e| history_entry(py, e)).collect()
    }

    /// Restores the version given by number, timestamp or tag (exactly one), in a new commit.
    #[pyo3(signature = (version=None, timestamp_ms=None, tag=None))]
    fn restore<'py>(
        &self,
        py: Python<'py>,
        version: Option<i64>,
        timestamp_ms: Option<i64>,
        tag: Option<String>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let table = &self.table;
        let r = match (version, timestamp_ms, tag) {
            (Some(v), None, None) => block(py, move || table.restore_to_version(v))?,
            (None, Some(ms), None) => {
                let at = utc_ms(ms)?;
                block(py, move || table.restore_to_timestamp(at))?
            }
            (None, None, Some(name)) => {
                block(py, move || async move { table.restore_to_tag(&name).await })?
            }
            _ => {
                return Err(invalid(
                    "restore takes exactly one of version, timestamp and tag".into(),
                ));
            }
        };
        undo_result(py, &r)
    }

    /// Undoes commit `version`, keeping the commits after it, in a new commit.
    fn revert<'py>(&self, py: Python<'py>, version: i64) -> PyResult<Bound<'py, PyDict>> {
        let r = block(py, move || self.table.revert(version))?;
        undo_result(py, &r)
    }

    /// Tags `version` as `name`; `False` when the tag already names that version.
    fn tag(&self, py: Python<'_>, name: String, version: i64) -> PyResult<bool> {
        let table = &self.table;
        block(py, move || async move { table.tag(&name, version).await })
    }

    /// Deletes tag `name`; returns what it named.
    fn delete_tag<'py>(&self, py: Python<'py>, name: String) -> PyResult<Bound<'py, PyDict>> {
        let table = &self.table;
        let tag = block(py, move || async move { table.delete_tag(&name).await })?;
        tag_dict(py, &tag)
    }

    /// The tags, by name.
    fn tags<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let tags = block(py, move || self.table.tags())?;
        let out = PyDict::new(py);
        for (name, tag) in &tags {
            out.set_item(name, tag_dict(py, tag)?)?;
        }
        Ok(out)
    }

    /// Deletes data files no retained or tagged version reads. `progress` is called with
    /// `(files deleted, files to delete)`.
    #[pyo3(signature = (retention_ms=None, dry_run=false, force=false, progress=None))]
    fn vacuum<'py>(
        &self,
        py: Python<'py>,
        retention_ms: Option<i64>,
        dry_run: bool,
        force: bool,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let mut builder = self.table.vacuum().with_dry_run(dry_run).with_force(force);
        if let Some(report) = progress.map(Progress) {
            builder = builder.with_progress(move |p| report.call(p.deleted, p.to_delete));
        }
        if let Some(ms) = retention_ms {
            builder = builder.with_retention_ms(ms);
        }
        let report = block(py, move || builder.execute())?;
        vacuum_report(py, &report)
    }

    /// Compacts small files (optionally only where `filter` matches, optionally Z-ordered).
    /// `progress` is called with `(bytes rewritten, bytes to rewrite)`.
    #[pyo3(signature = (target_size=None, filter=None, zorder=None, progress=None))]
    fn optimize<'py>(
        &self,
        py: Python<'py>,
        target_size: Option<u64>,
        filter: Option<String>,
        zorder: Option<Vec<String>>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let mut builder = self.table.optimize();
        if let Some(report) = progress.map(Progress) {
            builder = builder.with_progress(move |p| report.call(p.bytes_done, p.bytes_total));
        }
        if let Some(bytes) = target_size {
            builder = builder.with_target_size(bytes);
        }
        if let Some(f) = filter {
            builder = builder.with_filter(f.as_str());
        }
        if let Some(columns) = zorder {
            builder = builder.with_zorder(columns);
        }
        let r = block(py, move || builder.execute())?;
        optimize_result(py, &r)
    }

    /// The change data feed from `start` to `end` (versions, inclusive), as a stream.
    #[pyo3(signature = (start=None, end=None, columns=None, filter=None))]
    fn changes(
        &self,
        py: Python<'_>,
        start: Option<i64>,
        end: Option<i64>,
        columns: Option<Vec<String>>,
        filter: Option<String>,
    ) -> PyResult<ArrowStream> {
        let mut builder = self.table.changes();
        if let Some(v) = start {
            builder = builder.from_version(v);
        }
        if let Some(v) = end {
            builder = builder.to_version(v);
        }
        if let Some(c) = columns {
            builder = builder.with_columns(c);
        }
        if let Some(f) = filter {
            builder = builder.with_filter(f.as_str());
        }
        let plan = block(py, move || builder.plan())?;
        let schema = plan.output_schema();
        let stream = plan.execute().py()?;
        Ok(ArrowStream::new(Box::new(BlockingReader::new(
            schema, stream,
        ))))
    }

    /// Sets table properties in one commit; returns the version.
    fn set_properties(&self, py: Python<'_>, properties: HashMap<String, String>) -> PyResult<i64> {
        block(py, move || self.table.set_properties(properties))
    }
}

fn create_builder(
    uri: String,
    partition_by: Option<Vec<String>>,
    properties: Option<HashMap<String, String>>,
    name: Option<String>,
    description: Option<String>,
    storage_options: Option<HashMap<String, String>>,
) -> strata::CreateBuilder {
    let mut builder = strata::Table::create(uri)
        .with_options(storage_options.unwrap_or_default())
        .with_partition_columns(partition_by.unwrap_or_default());
    for (k, v) in properties.unwrap_or_default() {
        builder = builder.with_property(k, v);
    }
    if let Some(n) = name {
        builder = builder.with_name(n);
    }
    if let Some(d) = description {
        builder = builder.with_description(d);
    }
    builder
}

/// One version of a table (`strata.Snapshot` wraps it).
#[pyclass(module = "strata._strata", frozen)]
pub struct RawSnapshot {
    snapshot: strata::Snapshot,
}

#[pymethods]
impl RawSnapshot {
    /// The version number.
    #[getter]
    fn version(&self) -> i64 {
        self.snapshot.version()
    }

    /// The commit time, in milliseconds since the epoch.
    #[getter]
    fn timestamp_ms(&self) -> i64 {
        self.snapshot.timestamp_ms()
    }

    /// The table schema as Arrow.
    fn schema(&self) -> ArrowSchema {
        ArrowSchema::new(self.snapshot.arrow_schema())
    }

    /// The partition columns, in directory order.
    #[getter]
    fn partition_columns(&self) -> Vec<String> {
        self.snapshot.partition_columns().to_vec()
    }

    /// The table properties (`delta.*` and user properties).
    #[getter]
    fn properties(&self) -> HashMap<String, String> {
        self.snapshot.properties().clone()
    }

    /// Live data files.
    #[getter]
    fn num_files(&self) -> usize {
        self.snapshot.num_files()
    }

    /// The table's name and description, if set.
    #[getter]
    fn name(&self) -> Option<String> {
        self.snapshot.metadata().name.clone()
    }

    /// The table's description, if set.
    #[getter]
    fn description(&self) -> Option<String> {
        self.snapshot.metadata().description.clone()
    }

    /// The last version of application `app_id`'s idempotent writes (`txn`), if any.
    fn txn_version(&self, app_id: &str) -> Option<i64> {
        self.snapshot.txn_version(app_id)
    }

    /// A streaming scan: batches are read as the stream is consumed.
    #[pyo3(signature = (columns=None, filter=None, limit=None, batch_rows=None))]
    fn scan(
        &self,
        py: Python<'_>,
        columns: Option<Vec<String>>,
        filter: Option<String>,
        limit: Option<u64>,
        batch_rows: Option<usize>,
    ) -> PyResult<ArrowStream> {
        let builder = self.scan_builder(columns, filter, limit, batch_rows);
        let plan = block(py, move || builder.plan())?;
        let schema = plan.output_schema();
        let stream = plan.execute().py()?;
        Ok(ArrowStream::new(Box::new(BlockingReader::new(
            schema, stream,
        ))))
    }

    /// The scan read whole, with the GIL released, as a stream over batches in memory.
    #[pyo3(signature = (columns=None, filter=None, limit=None))]
    fn read(
        &self,
        py: Python<'_>,
        columns: Option<Vec<String>>,
        filter: Option<String>,
        limit: Option<u64>,
    ) -> PyResult<ArrowStream> {
        let builder = self.scan_builder(columns, filter, limit, None);
        let (schema, batches) = block(py, move || async move {
            let plan = builder.plan().await?;
            let schema = plan.output_schema();
            Ok((schema, plan.collect().await?))
        })?;
        Ok(ArrowStream::new(reader_of(schema, batches)))
    }

    /// The data files a scan with `columns` and `filter` reads (after pruning), as
    /// `(path, size in bytes)` in the log's order: the training reader's units.
    #[pyo3(signature = (columns=None, filter=None))]
    fn plan_files(
        &self,
        py: Python<'_>,
        columns: Option<Vec<String>>,
        filter: Option<String>,
    ) -> PyResult<Vec<(String, i64)>> {
        let builder = self.scan_builder(columns, filter, None, None);
        let plan = block(py, move || builder.plan())?;
        Ok(plan
            .files()
            .iter()
            .map(|add| (add.path.clone(), add.size))
            .collect())
    }

    /// Streams the rows of the data files `paths` (as [`RawSnapshot::plan_files`] names
    /// them), file after file in that order, with deletion vectors, column mapping, `columns`
    /// and `filter` applied as a scan applies them.
    #[pyo3(signature = (paths, columns=None, filter=None))]
    fn read_files(
        &self,
        py: Python<'_>,
        paths: Vec<String>,
        columns: Option<Vec<String>>,
        filter: Option<String>,
    ) -> PyResult<ArrowStream> {
        use futures::{StreamExt, TryStreamExt};
        let builder = self.scan_builder(columns, filter, None, None);
        let plan = block(py, move || builder.plan())?;
        let schema = plan.output_schema();
        // One plan per file: a split into as many parts as files gives each part one file.
        let parts = plan.files().len();
        let mut by_path: HashMap<String, strata::ScanPlan> = plan
            .split(parts)
            .into_iter()
            .filter_map(|part| {
                let path = part.files().first()?.path.clone();
                Some((path, part))
            })
            .collect();
        if by_path.len() != parts {
            // Only a file of 0 bytes could share a part; the log never lists one for a
            // Parquet file, so this is a broken assumption, not bad input.
            return Err(crate::errors::to_py_err(strata::Error::Internal {
                context: format!("a scan of {parts} files did not split into one per file"),
            }));
        }
        let mut plans = Vec::with_capacity(paths.len());
        for path in &paths {
            let Some(part) = by_path.remove(path) else {
                return Err(invalid(format!(
                    "{path:?} is not a data file this scan reads (or was named twice)"
                )));
            };
            plans.push(part);
        }
        let stream = futures::stream::iter(plans)
            .map(|part| part.execute())
            .try_flatten()
            .boxed();
        Ok(ArrowStream::new(Box::new(BlockingReader::new(
            schema, stream,
        ))))
    }

    /// The commits up to this version, newest first, at most `limit`.
    #[pyo3(signature = (limit=None))]
    fn history<'py>(
        &self,
        py: Python<'py>,
        limit: Option<usize>,
    ) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let entries = block(py, move || self.snapshot.history(limit))?;
        entries.iter().map(|e| history_entry(py, e)).collect()
    }
}

impl RawSnapshot {
    fn scan_builder(
        &self,
        columns: Option<Vec<String>>,
        filter: Option<String>,
        limit: Option<u64>,
        batch_rows: Option<usize>,
    ) -> strata::ScanBuilder {
        let mut builder = self.snapshot.scan();
        if let Some(c) = columns {
            builder = builder.with_columns(c);
        }
        if let Some(f) = filter {
            builder = builder.with_filter(f.as_str());
        }
        if let Some(n) = limit {
            builder = builder.with_limit(n);
        }
        if let Some(rows) = batch_rows {
            builder = builder.with_batch_rows(rows);
        }
        builder
    }
}
