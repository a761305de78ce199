//! Arrow in and out through the Arrow PyCapsule interface
//! (`__arrow_c_stream__`, `__arrow_c_array__`, `__arrow_c_schema__`), so pyarrow, Polars,
//! DuckDB and pandas exchange data with strata without copies and without strata depending
//! on any of them.
//!
//! Out: [`ArrowStream`] (a one-shot stream of record batches: a scan, a change feed, a read
//! in memory), [`ArrowBatch`] (one batch) and [`ArrowSchema`]. In: anything with
//! `__arrow_c_stream__` or `__arrow_c_array__` ([`reader_from`]).

use std::sync::{Arc, Mutex, MutexGuard};

use arrow::array::{ArrayRef, RecordBatch, RecordBatchIterator, RecordBatchReader, StructArray};
use arrow::datatypes::{Field, SchemaRef};
use arrow::error::ArrowError;
use futures::StreamExt;
use pyo3::exceptions::PyIOError;
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyTuple};
use pyo3_arrow::ffi::{
    ArrayIterator, to_array_pycapsules, to_schema_pycapsule, to_stream_pycapsule,
};
use pyo3_arrow::input::AnyRecordBatch;

use crate::errors::to_py_err;
use crate::runtime::runtime;

/// A boxed reader of record batches, as every stream here holds.
pub(crate) type BoxReader = Box<dyn RecordBatchReader + Send>;

/// The reader of any Python object with `__arrow_c_stream__` (a pyarrow Table or
/// RecordBatchReader, a Polars DataFrame, a DuckDB relation, …) or `__arrow_c_array__` (a
/// pyarrow RecordBatch).
pub(crate) fn reader_from(data: &Bound<'_, PyAny>) -> PyResult<BoxReader> {
    let input: AnyRecordBatch = data.extract()?;
    input.into_reader()
}

/// Batches the input thread hands to a write ahead of it, at most.
const INPUT_BATCHES_AHEAD: usize = 2;

/// A reader's batches as the stream strata's writes and merges take.
///
/// The reader is read on a thread of its own, not on the runtime: it may block (a C stream
/// from another library), take the GIL (a pyarrow reader over a Python generator), or be
/// strata's own scan, which runs its reads on the runtime and cannot do so from inside it.
/// The channel holds [`INPUT_BATCHES_AHEAD`] batches, so memory stays bounded; when the write
/// stops early (an error), the thread stops at its next batch.
pub(crate) fn input_stream(reader: BoxReader) -> strata::RecordBatchStream {
    use futures::StreamExt;
    let (tx, rx) = tokio::sync::mpsc::channel(INPUT_BATCHES_AHEAD);
    let spawned = std::thread::Builder::new()
        .name("strata-input".into())
        .spawn(move || {
            for batch in reader {
                if tx
                    .blocking_send(batch.map_err(strata::Error::from))
                    .is_err()
                {
                    break; // the write is over
                }
            }
        });
    if let Err(e) = spawned {
        let error = strata::Error::Internal {
            context: format!("cannot start the thread that reads the input: {e}"),
        };
        return futures::stream::iter([Err(error)]).boxed();
    }
    futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|batch| (batch, rx))
    })
    .boxed()
}

/// Reads a strata [`strata::RecordBatchStream`] one batch at a time on the shared runtime,
/// for the C stream interface and Python iteration. strata's errors travel inside
/// `ArrowError::ExternalError`, so [`ArrowStream::read_next`] can raise them typed.
pub(crate) struct BlockingReader {
    schema: SchemaRef,
    stream: strata::RecordBatchStream,
}

impl BlockingReader {
    pub(crate) fn new(schema: SchemaRef, stream: strata::RecordBatchStream) -> BlockingReader {
        BlockingReader { schema, stream }
    }
}

impl Iterator for BlockingReader {
    type Item = Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        runtime()
            .block_on(self.stream.next())
            .map(|r| r.map_err(|e| ArrowError::ExternalError(Box::new(e))))
    }
}

impl RecordBatchReader for BlockingReader {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

/// Batches already in memory, as a reader.
pub(crate) fn reader_of(schema: SchemaRef, batches: Vec<RecordBatch>) -> BoxReader {
    Box::new(RecordBatchIterator::new(
        batches.into_iter().map(Ok),
        schema,
    ))
}

/// An Arrow error as a Python exception: strata's own errors (carried through a reader) keep
/// their typed exception.
fn arrow_err(error: ArrowError) -> PyErr {
    match error {
        ArrowError::ExternalError(inner) => match inner.downcast::<strata::Error>() {
            Ok(e) => to_py_err(*e),
            Err(other) => to_py_err(strata::Error::Arrow(ArrowError::ExternalError(other))),
        },
        other => to_py_err(strata::Error::Arrow(other)),
    }
}

/// A stream of record batches: a scan, a change feed, or a table read into memory.
///
/// It is consumed once, either by `__arrow_c_stream__` (handing the rest of the stream to
/// pyarrow, Polars, DuckDB, …) or batch by batch with `read_next`.
#[pyclass(module = "strata._strata", frozen)]
pub struct ArrowStream {
    schema: SchemaRef,
    reader: Mutex<Option<BoxReader>>,
}

impl ArrowStream {
    pub(crate) fn new(reader: BoxReader) -> ArrowStream {
        ArrowStream {
            schema: reader.schema(),
            reader: Mutex::new(Some(reader)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Option<BoxReader>> {
        // A panic while reading poisons the lock; the reader is then unusable anyway.
        self.reader.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn take(&self, py: Python<'_>) -> PyResult<BoxReader> {
        py.detach(|| self.lock().take())
            .ok_or_else(|| PyIOError::new_err("the stream was already consumed"))
    }
}

#[pymethods]
impl ArrowStream {
    /// The schema of the batches.
    #[getter]
    fn schema(&self) -> ArrowSchema {
        ArrowSchema::new(self.schema.clone())
    }

    /// Whether the stream was consumed (by `__arrow_c_stream__` or to its end).
    #[getter]
    fn closed(&self, py: Python<'_>) -> bool {
        // Locks are taken without the GIL: another thread may hold this one while it reads
        // (without the GIL) and needs the GIL back to finish.
        py.detach(|| self.lock().is_none())
    }

    /// The next batch, or `None` at the end. Reads without holding the GIL.
    fn read_next(&self, py: Python<'_>) -> PyResult<Option<ArrowBatch>> {
        let next = py.detach(|| {
            let mut guard = self.lock();
            let item = guard.as_mut()?.next();
            if !matches!(item, Some(Ok(_))) {
                *guard = None; // the end, or an error: the stream is finished either way
            }
            item
        });
        match next {
            Some(Ok(batch)) => Ok(Some(ArrowBatch { batch })),
            Some(Err(e)) => Err(arrow_err(e)),
            None => Ok(None),
        }
    }

    /// Exports the rest of the stream as an Arrow C stream (the Arrow PyCapsule interface).
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyCapsule>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let reader = self.take(py)?;
        let schema = reader.schema();
        let arrays = reader.map(|batch| batch.map(|b| Arc::new(StructArray::from(b)) as ArrayRef));
        let field = Field::new_struct("", schema.fields().clone(), false)
            .with_metadata(schema.metadata().clone());
        let arrays = Box::new(ArrayIterator::new(arrays, Arc::new(field)));
        Ok(to_stream_pycapsule(py, arrays, requested_schema)?)
    }
}

/// One record batch (the Arrow PyCapsule interface: `__arrow_c_array__`).
#[pyclass(module = "strata._strata", frozen)]
pub struct ArrowBatch {
    batch: RecordBatch,
}

#[pymethods]
impl ArrowBatch {
    /// Rows in the batch.
    #[getter]
    fn num_rows(&self) -> usize {
        self.batch.num_rows()
    }

    /// The batch's schema.
    #[getter]
    fn schema(&self) -> ArrowSchema {
        ArrowSchema::new(self.batch.schema())
    }

    /// Exports the batch as an Arrow C array and schema (the Arrow PyCapsule interface).
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_array__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyCapsule>>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let schema = self.batch.schema();
        let array = StructArray::from(self.batch.clone());
        let field = Field::new_struct("", schema.fields().clone(), false)
            .with_metadata(schema.metadata().clone());
        Ok(to_array_pycapsules(
            py,
            Arc::new(field),
            &array,
            requested_schema,
        )?)
    }
}

/// An Arrow schema (the Arrow PyCapsule interface: `__arrow_c_schema__`);
/// `pyarrow.schema(s)` turns it into a `pyarrow.Schema`.
#[pyclass(module = "strata._strata", frozen)]
pub struct ArrowSchema {
    schema: SchemaRef,
}

impl ArrowSchema {
    pub(crate) fn new(schema: SchemaRef) -> ArrowSchema {
        ArrowSchema { schema }
    }
}

#[pymethods]
impl ArrowSchema {
    /// The column names, in order.
    #[getter]
    fn names(&self) -> Vec<String> {
        self.schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }

    /// Exports the schema as an Arrow C schema (the Arrow PyCapsule interface).
    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        Ok(to_schema_pycapsule(py, self.schema.as_ref())?)
    }

    fn __len__(&self) -> usize {
        self.schema.fields().len()
    }

    fn __repr__(&self) -> String {
        let fields: Vec<String> = self
            .schema
            .fields()
            .iter()
            .map(|f| {
                let null = if f.is_nullable() { "" } else { " not null" };
                format!("{}: {}{null}", f.name(), f.data_type())
            })
            .collect();
        format!("Schema({})", fields.join(", "))
    }
}
