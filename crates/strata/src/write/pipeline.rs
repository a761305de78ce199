//! The write pipeline: input conformed to the table schema, split by partition, encoded into
//! Parquet files column-parallel (`encode.rs`) and uploaded as each file finishes, with memory
//! bounded whatever the input size (`protocol/PROTOCOL.md#writing-data`). It writes data
//! files only; committing them is the caller's.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, RecordBatch};
use arrow::datatypes::{Schema, SchemaRef};
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use tokio::task::JoinSet;

use super::WriterOptions;
use super::constraints::ConstraintChecker;
use super::encode::{EncodedFile, Encoder, EncoderOptions};
use super::generated::GeneratedColumns;
use super::identity::IdentityColumns;
use super::partition;
use crate::error::{Error, Result};
use crate::protocol::actions::Add;
use crate::protocol::clustering::{CLUSTERING_DOMAIN, clustering_columns};
use crate::protocol::features::TableFeature;
use crate::protocol::partition::partition_dir;
use crate::protocol::paths::encode_path;
use crate::protocol::schema::StructType;
use crate::protocol::schema::column_mapping::{
    ColumnLookup, physical_partition_columns, physical_schema, to_physical_batch,
};
use crate::protocol::schema::conform::{conform_batch, nulls};
use crate::snapshot::Snapshot;
use crate::stats::IndexedColumns;
use crate::storage::Storage;

/// How many data files are uploaded at once.
const UPLOAD_CONCURRENCY: usize = 8;
/// Most rows of input handed to the encoder at once: batches already waiting are grouped up to
/// this (or [`GROUP_BYTES`]), so that many small batches cost one hand-off to a blocking
/// thread, and larger batches are sliced to it, so that files are uploaded while the rest of a
/// batch is encoded.
const GROUP_ROWS: usize = 256 * 1024;
/// Most Arrow memory of waiting batches grouped together (see [`GROUP_ROWS`]).
const GROUP_BYTES: usize = 64 * 1024 * 1024;

/// Input batches of [`crate::Table::write_stream`].
pub(super) type BatchStream = BoxStream<'static, Result<RecordBatch>>;

/// Where a write's rows come from.
pub(super) enum Input {
    /// In memory: all checked before anything is written.
    Batches(Vec<RecordBatch>),
    /// Streamed: checked and encoded as they arrive.
    Stream(BatchStream),
}

impl Input {
    /// The input's schema, for schema evolution: every batch's together for batches in
    /// memory (merged by name), the first batch's for a stream (which is peeked, not lost);
    /// `None` for empty input.
    ///
    /// # Errors
    /// Batches whose schemas cannot be merged; the stream's first error.
    pub(super) async fn schema(&mut self) -> Result<Option<SchemaRef>> {
        match self {
            Input::Batches(batches) => {
                let mut schemas = batches.iter().map(|b| b.schema());
                let Some(first) = schemas.next() else {
                    return Ok(None);
                };
                if schemas.clone().all(|s| s == first) {
                    return Ok(Some(first));
                }
                let merged = Schema::try_merge(batches.iter().map(|b| b.schema().as_ref().clone()))
                    .map_err(|e| {
                        Error::InvalidArgument(format!("the input batches' schemas differ: {e}"))
                    })?;
                Ok(Some(Arc::new(merged)))
            }
            Input::Stream(stream) => {
                let Some(first) = stream.next().await else {
                    return Ok(None);
                };
                let first = first?;
                let schema = first.schema();
                let rest = std::mem::replace(stream, futures::stream::empty().boxed());
                *stream = futures::stream::once(async move { Ok(first) })
                    .chain(rest)
                    .boxed();
                Ok(Some(schema))
            }
        }
    }
}

/// Checks batches against the table schema and conforms them to the table's Arrow schema, then
/// checks the table's constraints on them.
#[derive(Debug)]
pub(super) struct Conformer {
    location: String,
    schema: StructType,
    arrow_schema: SchemaRef,
    /// `arrow_schema` with every top-level column nullable.
    relaxed_schema: SchemaRef,
    constraints: Option<Arc<ConstraintChecker>>,
    generated: Option<Arc<GeneratedColumns>>,
    /// Identity columns this write assigns values to (a write's own input only).
    pub(super) identity: Option<Arc<IdentityColumns>>,
}

impl Conformer {
    /// The conformer for writes to `snapshot`, checking its constraints.
    ///
    /// # Errors
    /// [`Error::UnsupportedWriterFeatures`] for a constraint strata cannot evaluate.
    pub(super) fn new(snapshot: &Snapshot) -> Result<Conformer> {
        let mut conformer = Conformer::unchecked(snapshot)?;
        conformer.constraints = ConstraintChecker::for_snapshot(snapshot)?;
        conformer.identity = IdentityColumns::for_snapshot(snapshot)?;
        Ok(conformer)
    }

    /// Conforms (and computes generated columns) without checking constraints (the caller's
    /// rows go through [`write_stream_files`], which checks them).
    fn unchecked(snapshot: &Snapshot) -> Result<Conformer> {
        Ok(Conformer {
            location: snapshot.storage().location().to_string(),
            schema: snapshot.schema().clone(),
            arrow_schema: snapshot.arrow_schema(),
            relaxed_schema: Arc::new(Schema::new_with_metadata(
                snapshot
                    .arrow_schema()
                    .fields()
                    .iter()
                    .map(|f| f.as_ref().clone().with_nullable(true))
                    .collect::<Vec<_>>(),
                snapshot.arrow_schema().metadata().clone(),
            )),
            constraints: None,
            generated: GeneratedColumns::for_snapshot(snapshot)?,
            identity: None,
        })
    }

    /// The table schema as the input must match it: generated columns the input lacks are
    /// computed, so they need not be there even when NOT NULL.
    fn expected_schema(
        &self,
        input: &arrow::datatypes::Schema,
    ) -> std::borrow::Cow<'_, StructType> {
        if self.generated.is_none() && self.identity.is_none() {
            return std::borrow::Cow::Borrowed(&self.schema);
        }
        let computed = |name: &str| {
            self.generated.as_ref().is_some_and(|g| g.contains(name))
                || self.identity.as_ref().is_some_and(|i| i.contains(name))
        };
        let missing = |name: &str| computed(name) && input.field_with_name(name).is_err();
        if !self.schema.fields.iter().any(|f| missing(&f.name)) {
            return std::borrow::Cow::Borrowed(&self.schema);
        }
        let mut schema = self.schema.clone();
        for field in &mut schema.fields {
            if missing(&field.name) {
                field.nullable = true;
            }
        }
        std::borrow::Cow::Owned(schema)
    }

    /// Conforms one batch and checks the constraints on it.
    fn conform_checked(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let conformed = self.conform(batch)?;
        if let Some(constraints) = &self.constraints {
            constraints.check(&conformed, "write")?;
        }
        Ok(conformed)
    }

    /// Conforms one batch; all of its problems are reported together.
    fn conform(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let input = batch.schema();
        self.expected_schema(&input)
            .check_write_compatible(&input)
            .map_err(|e| match e {
                crate::protocol::schema::SchemaError::Mismatch { problems } => {
                    Error::SchemaMismatch {
                        location: self.location.clone(),
                        problems,
                    }
                }
                other => Error::Schema(other),
            })?;
        // Top-level columns nullable until generated columns are filled and nulls counted, so
        // that the problems are named here rather than by Arrow.
        let conformed = conform_batch(batch, &self.relaxed_schema, ColumnLookup::Name, nulls)
            .map_err(|e| Error::SchemaMismatch {
                location: self.location.clone(),
                problems: vec![e.to_string()],
            })?;
        let conformed = match &self.identity {
            Some(identity) => {
                identity.apply(&conformed, |name| input.field_with_name(name).is_ok())?
            }
            None => conformed,
        };
        let conformed = match &self.generated {
            Some(generated) => generated.apply(
                &conformed,
                |name| input.field_with_name(name).is_ok(),
                "write",
            )?,
            None => conformed,
        };
        let null_problems: Vec<String> = self
            .arrow_schema
            .fields()
            .iter()
            .zip(conformed.columns())
            .filter(|(f, c)| !f.is_nullable() && c.null_count() > 0)
            .map(|(f, c)| {
                format!(
                    "column `{}` is not nullable but the data has {} nulls",
                    f.name(),
                    c.null_count()
                )
            })
            .collect();
        if !null_problems.is_empty() {
            return Err(Error::SchemaMismatch {
                location: self.location.clone(),
                problems: null_problems,
            });
        }
        RecordBatch::try_new(self.arrow_schema.clone(), conformed.columns().to_vec()).map_err(|e| {
            Error::SchemaMismatch {
                location: self.location.clone(),
                problems: vec![e.to_string()],
            }
        })
    }
}

/// `batch` as a batch of the table's schema (columns by name, types widened, nulls checked),
/// as a write conforms its input.
///
/// # Errors
/// [`Error::SchemaMismatch`] naming every problem.
/// Constraints are not checked here: the rows go on to [`write_stream_files`], which checks them.
pub(crate) fn conform_to_table(snapshot: &Snapshot, batch: &RecordBatch) -> Result<RecordBatch> {
    Conformer::unchecked(snapshot)?.conform(batch)
}

/// Writes a stream of table-schema batches as data files (not committed), streaming with
/// bounded memory, checking the table's constraints on every batch; for operations that
/// rewrite data (`operation`: update, merge, delete, optimize, replace where).
pub(crate) async fn write_stream_files(
    snapshot: &Snapshot,
    stream: crate::read::RecordBatchStream,
    options: &WriterOptions,
    operation: &'static str,
) -> Result<Vec<(Add, u64)>> {
    let checks = Checks::Rows {
        constraints: ConstraintChecker::for_snapshot(snapshot)?,
        generated: GeneratedColumns::for_snapshot(snapshot)?,
        identity: IdentityColumns::for_snapshot(snapshot)?,
        operation,
    };
    write_data_files(snapshot, stream, checks, options).await
}

/// What [`write_data_files`] does to each batch before encoding it.
pub(super) enum Checks {
    /// Conform (stream input of a write) and check constraints.
    Conform(Conformer),
    /// Input already conformed and checked (a write's batches in memory).
    None,
    /// Table-schema rows from an operation: recompute generated columns and check the
    /// constraints, if any.
    Rows {
        constraints: Option<Arc<ConstraintChecker>>,
        generated: Option<Arc<GeneratedColumns>>,
        /// Rows an operation writes keep their identity values; it assigns none.
        identity: Option<Arc<IdentityColumns>>,
        operation: &'static str,
    },
}

/// Batches in memory are all checked before anything is written; a stream is checked batch by
/// batch as it arrives.
pub(super) fn prepare_input(input: Input, conformer: Conformer) -> Result<(BatchStream, Checks)> {
    Ok(match input {
        Input::Batches(batches) => {
            let conformed = batches
                .iter()
                .filter(|b| b.num_rows() > 0)
                .map(|b| conformer.conform_checked(b))
                .collect::<Result<Vec<_>>>()?;
            (
                futures::stream::iter(conformed.into_iter().map(Ok)).boxed(),
                Checks::None,
            )
        }
        Input::Stream(stream) => (stream, Checks::Conform(conformer)),
    })
}

/// Encodes the input as it arrives and uploads each data file as soon as it is finished, while
/// later input is encoded; returns each file's `add` and row count once all are uploaded.
///
/// Memory stays bounded whatever the input size: the input group being encoded and the next
/// one (each at most [`GROUP_ROWS`] rows), the open files (at most `max_buffered_bytes`
/// together) and the uploads in flight (at most [`UPLOAD_CONCURRENCY`] files and
/// `max_buffered_bytes` bytes). On any error nothing more is
/// uploaded, uploads in flight are abandoned, and the error is returned; files already
/// uploaded stay uncommitted (invisible, vacuum's to delete).
pub(super) async fn write_data_files(
    snapshot: &Snapshot,
    input: BatchStream,
    checks: Checks,
    options: &WriterOptions,
) -> Result<Vec<(Add, u64)>> {
    let partition_columns: Arc<[String]> = snapshot.partition_columns().into();
    let lookup = snapshot.column_lookup();
    let logical_file_schema = Schema::new(
        snapshot
            .arrow_schema()
            .fields()
            .iter()
            .filter(|f| !partition_columns.contains(f.name()))
            .cloned()
            .collect::<Vec<_>>(),
    );
    // Files hold physical names (and, in id mode, field ids); so do statistics.
    let file_schema = Arc::new(physical_schema(&logical_file_schema, lookup));
    let indexed = IndexedColumns::from_properties(snapshot.properties())?
        .to_physical(&logical_file_schema, lookup)
        .including(&file_schema, &required_stats_columns(snapshot)?);
    let mut encoder = Encoder::new(EncoderOptions {
        schema: file_schema.clone(),
        properties: options.properties(),
        indexed,
        row_group_rows: options.row_group_rows,
        target_file_size: options.target_file_size,
        max_buffered_bytes: options.max_buffered_bytes,
        threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
    });
    let checks = Arc::new(checks);
    let mut uploads = Uploads {
        storage: snapshot.storage().clone(),
        partition_columns: physical_partition_columns(snapshot.metadata()).into(),
        extension: options.extension(),
        max_bytes: options.max_buffered_bytes,
        bytes: 0,
        tasks: JoinSet::new(),
        done: Vec::new(),
    };
    let mut input = Groups { input, carry: None };
    let mut spent = JoinSet::new();
    let mut group = input.next().await?;
    while !group.is_empty() {
        let (checks, partition_columns) = (checks.clone(), partition_columns.clone());
        let physical = lookup.is_mapped().then(|| file_schema.clone());
        let encode = tokio::task::spawn_blocking(move || {
            let files = encode_group(
                &mut encoder,
                &group,
                &checks,
                &partition_columns,
                physical.as_ref(),
            );
            (encoder, files, group)
        });
        // The next input is read while this one is encoded.
        let (encoded, next) = tokio::join!(encode, input.next());
        let (returned, files, used) = encoded.map_err(task_failed)?;
        encoder = returned;
        // Dropping the input may free large buffers (the last slice of a batch holds them):
        // that happens beside the encoding rather than in its way.
        spent.spawn_blocking(move || drop(used));
        uploads.start(files?).await?;
        group = next?;
    }
    let files = tokio::task::spawn_blocking(move || encoder.finish())
        .await
        .map_err(task_failed)??;
    uploads.start(files).await?;
    let adds = uploads.finish().await?;
    while spent.join_next().await.is_some() {}
    Ok(adds)
}

/// Columns every new file must have statistics for whatever the indexing properties say: a
/// clustered table's clustering columns (physical paths; `protocol/PROTOCOL.md#clustered-tables`).
fn required_stats_columns(snapshot: &Snapshot) -> Result<Vec<Vec<String>>> {
    if !snapshot
        .writer_features()
        .contains(&TableFeature::Clustering)
    {
        return Ok(Vec::new());
    }
    let Some(domain) = snapshot.domain(CLUSTERING_DOMAIN).filter(|d| !d.removed) else {
        return Ok(Vec::new());
    };
    clustering_columns(domain).map_err(|reason| {
        Error::InvalidArgument(format!(
            "{}: {reason}; the table's clustering metadata is corrupt",
            snapshot.storage().location()
        ))
    })
}

/// The input in groups of at most [`GROUP_ROWS`] rows: the next batch, waited for, and then
/// those already ready, so that many small batches cost one hand-off to a blocking thread and
/// a large batch is encoded a slice at a time (files it fills are uploaded while the rest of
/// it is encoded).
struct Groups {
    input: BatchStream,
    /// The rest of a batch larger than a group.
    carry: Option<RecordBatch>,
}

impl Groups {
    /// The next group; empty at the end of the input.
    async fn next(&mut self) -> Result<Vec<RecordBatch>> {
        let mut group = Vec::new();
        let (mut rows, mut bytes) = (0, 0);
        while rows < GROUP_ROWS && bytes < GROUP_BYTES {
            let batch = match self.carry.take() {
                Some(batch) => batch,
                None if group.is_empty() => match self.input.next().await {
                    Some(batch) => batch?,
                    None => break,
                },
                None => match self.input.next().now_or_never() {
                    Some(Some(batch)) => batch?,
                    _ => break,
                },
            };
            let take = batch.num_rows().min(GROUP_ROWS - rows);
            if take < batch.num_rows() {
                self.carry = Some(batch.slice(take, batch.num_rows() - take));
            }
            rows += take;
            bytes += batch.get_array_memory_size();
            group.push(batch.slice(0, take));
        }
        Ok(group)
    }
}

/// Conforms (stream input), splits by partition, renames to the `physical` file schema (with
/// column mapping) and encodes one group of input.
fn encode_group(
    encoder: &mut Encoder,
    group: &[RecordBatch],
    checks: &Checks,
    partition_columns: &[String],
    physical: Option<&SchemaRef>,
) -> Result<Vec<EncodedFile>> {
    let mut files = Vec::new();
    for batch in group.iter().filter(|b| b.num_rows() > 0) {
        let conformed;
        let batch = match checks {
            Checks::Conform(conformer) => {
                conformed = conformer.conform_checked(batch)?;
                &conformed
            }
            Checks::Rows {
                constraints,
                generated,
                identity,
                operation,
            } => {
                if let Some(identity) = identity {
                    identity.require_values(batch, operation)?;
                }
                if let Some(generated) = generated {
                    conformed = generated.recompute(batch)?;
                } else {
                    conformed = batch.clone();
                }
                if let Some(constraints) = constraints {
                    constraints.check(&conformed, operation)?;
                }
                &conformed
            }
            Checks::None => batch,
        };
        let mut parts = if partition_columns.is_empty() {
            vec![(Vec::new(), batch.clone())]
        } else {
            partition::split_by_partition(batch, partition_columns)?
        };
        if let Some(physical) = physical {
            for (_, part) in &mut parts {
                *part = to_physical_batch(part, physical)
                    .map_err(|e| Error::internal(format!("renaming to physical columns: {e}")))?;
            }
        }
        files.extend(encoder.write(parts)?);
    }
    Ok(files)
}

fn task_failed(e: tokio::task::JoinError) -> Error {
    Error::internal(format!("encoding task failed: {e}"))
}

/// Data file uploads in flight: at most [`UPLOAD_CONCURRENCY`] files and `max_bytes` bytes
/// (but always at least one file). Dropping this abandons them.
struct Uploads {
    storage: Storage,
    partition_columns: Arc<[String]>,
    extension: &'static str,
    max_bytes: u64,
    bytes: u64,
    tasks: JoinSet<Result<(Add, u64)>>,
    done: Vec<(Add, u64)>,
}

impl Uploads {
    /// Starts uploading `files`, waiting for earlier uploads whenever the limit is reached.
    async fn start(&mut self, files: Vec<EncodedFile>) -> Result<()> {
        for file in files {
            while let Some(joined) = self.tasks.try_join_next() {
                self.joined(joined)?;
            }
            let size = file.payload.content_length() as u64;
            while !self.tasks.is_empty()
                && (self.tasks.len() >= UPLOAD_CONCURRENCY || self.bytes + size > self.max_bytes)
            {
                self.join_one().await?;
            }
            self.bytes += size;
            let name = format!(
                "part-{:05}-{}-c000{}.parquet",
                file.sequence,
                uuid::Uuid::new_v4(),
                self.extension
            );
            let relative = if self.partition_columns.is_empty() {
                name
            } else {
                let dir = partition_dir(&self.partition_columns, &file.partition);
                format!("{dir}/{name}")
            };
            let partition_values: HashMap<String, Option<String>> = self
                .partition_columns
                .iter()
                .cloned()
                .zip(file.partition.iter().cloned())
                .collect();
            let storage = self.storage.clone();
            self.tasks
                .spawn(async move { upload(&storage, relative, partition_values, file).await });
        }
        Ok(())
    }

    async fn join_one(&mut self) -> Result<()> {
        match self.tasks.join_next().await {
            Some(joined) => self.joined(joined),
            None => Ok(()),
        }
    }

    fn joined(
        &mut self,
        joined: std::result::Result<Result<(Add, u64)>, tokio::task::JoinError>,
    ) -> Result<()> {
        let (add, rows) = joined.map_err(task_failed)??;
        self.bytes = self.bytes.saturating_sub(add.size.unsigned_abs());
        self.done.push((add, rows));
        Ok(())
    }

    /// Waits for every upload; returns each file's `add` and row count.
    async fn finish(mut self) -> Result<Vec<(Add, u64)>> {
        while !self.tasks.is_empty() {
            self.join_one().await?;
        }
        Ok(self.done)
    }
}

async fn upload(
    storage: &Storage,
    relative: String,
    partition_values: HashMap<String, Option<String>>,
    file: EncodedFile,
) -> Result<(Add, u64)> {
    let path = storage.relative_path(&relative)?;
    let size = i64::try_from(file.payload.content_length()).unwrap_or(i64::MAX);
    storage.put(&path, file.payload).await?;
    let add = Add {
        path: encode_path(&relative),
        partition_values,
        size,
        modification_time: chrono::Utc::now().timestamp_millis(),
        data_change: true,
        stats: Some(file.stats),
        tags: None,
        deletion_vector: None,
        base_row_id: None,
        default_row_commit_version: None,
        clustering_provider: None,
    };
    Ok((add, file.rows))
}
