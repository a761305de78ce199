//! The change data feed, read (`protocol/PROTOCOL.md#change-data-feed`): the rows each commit
//! of a range inserted, deleted or updated, with `_change_type`, `_commit_version` and
//! `_commit_timestamp`.
//!
//! A commit that wrote `cdc` files (Spark's DML does) is read from them: they hold the changed
//! rows and their `_change_type` (`insert`, `delete`, `update_preimage`, `update_postimage`).
//! Any other commit's changes are its data-changing `add`s (inserted rows) and `remove`s
//! (deleted rows), each file read with the deletion vector it carries; a file removed and
//! re-added with a new deletion vector in the same commit changed only the rows the new vector
//! deletes that the old one did not (and, for a vector that shrank, the rows it no longer
//! deletes). Commits that move data without changing it (`dataChange = false`: optimize) have
//! no changes. Every version of the range must have `delta.enableChangeDataFeed = true`, and its
//! commit must still be in the log; otherwise the read is refused, naming the version.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use futures::{StreamExt, TryStreamExt};
use roaring::RoaringTreemap;

use super::deletion_vectors::DeletionVectors;
use super::file::{FileRows, FileScan};
use super::scan::{IntoFilter, ScanBuilder, read_schema};
use super::{Counters, RecordBatchStream};
use crate::error::{Error, Result};
use crate::expr::predicate::Predicate;
use crate::protocol::actions::{Action, Add, Cdc, CommitInfo, Remove};
use crate::protocol::paths::{LogFileKind, decode_path};
use crate::protocol::properties::TableProperties;
use crate::snapshot::latest::LatestSnapshot;
use crate::snapshot::{Snapshot, list_log, read_commit};

/// The column naming what happened to a row.
pub const CHANGE_TYPE_COLUMN: &str = "_change_type";
/// The column holding the version that changed the row.
pub const COMMIT_VERSION_COLUMN: &str = "_commit_version";
/// The column holding that version's commit timestamp.
pub const COMMIT_TIMESTAMP_COLUMN: &str = "_commit_timestamp";

/// Data files read at once.
const FILE_CONCURRENCY: usize = 4;
/// Rows per output batch.
const BATCH_ROWS: usize = 8192;

/// One end of a change feed's range.
#[derive(Debug, Clone, Copy)]
enum Bound {
    Version(i64),
    Timestamp(chrono::DateTime<chrono::Utc>),
}

/// A change feed request, built by [`Table::changes`](crate::Table::changes).
#[must_use = "a change feed does nothing until executed"]
pub struct ChangesBuilder {
    latest: LatestSnapshot,
    start: Option<Bound>,
    end: Option<Bound>,
    columns: Option<Vec<String>>,
    filter: Option<std::result::Result<crate::expr::Expr, crate::expr::ExprError>>,
    appends_only: bool,
}

impl ChangesBuilder {
    pub(crate) fn new(latest: LatestSnapshot) -> ChangesBuilder {
        ChangesBuilder {
            latest,
            start: None,
            end: None,
            columns: None,
            filter: None,
            appends_only: false,
        }
    }

    /// Reads only the rows the range's commits appended (their data-changing `add`s, all
    /// `insert`), as a streaming read of an append-only Delta source does: the change data
    /// feed need not be enabled, and a commit that changed or deleted rows (a data-changing
    /// `remove`) is refused, naming it, rather than skipped, so no update or delete is lost
    /// silently. Commits that only rearrange data (optimize) contribute nothing.
    pub fn appends_only(mut self) -> Self {
        self.appends_only = true;
        self
    }

    /// The first version whose changes to read (default 0).
    pub fn from_version(mut self, version: i64) -> Self {
        self.start = Some(Bound::Version(version));
        self
    }

    /// Starts at the first version committed at or after `timestamp`.
    pub fn from_timestamp(mut self, timestamp: chrono::DateTime<chrono::Utc>) -> Self {
        self.start = Some(Bound::Timestamp(timestamp));
        self
    }

    /// The last version whose changes to read (default: the latest).
    pub fn to_version(mut self, version: i64) -> Self {
        self.end = Some(Bound::Version(version));
        self
    }

    /// Ends at the version that was current at `timestamp`.
    pub fn to_timestamp(mut self, timestamp: chrono::DateTime<chrono::Utc>) -> Self {
        self.end = Some(Bound::Timestamp(timestamp));
        self
    }

    /// Only these table columns (the three change columns always follow them).
    pub fn with_columns<I, S>(mut self, columns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.columns = Some(columns.into_iter().map(Into::into).collect());
        self
    }

    /// Only changed rows for which `filter` (over the table's columns) is true.
    pub fn with_filter(mut self, filter: impl IntoFilter) -> Self {
        self.filter = Some(filter.into_filter());
        self
    }

    /// Resolves the range, reads its commits and checks that the feed covers it.
    ///
    /// # Errors
    /// [`Error::ChangeDataFeed`] naming the version where the feed is not enabled or whose
    /// commit is gone; [`Error::VersionNotFound`], [`Error::TimestampOutOfRange`] for a range
    /// outside the table's history; [`Error::InvalidArgument`] for an empty range or unknown
    /// columns; [`Error::Predicate`] for a bad filter.
    pub async fn plan(self) -> Result<ChangesPlan> {
        let latest = self.latest.get().await?;
        let storage = latest.storage().clone();
        let end = match self.end {
            None => latest.version(),
            Some(Bound::Version(v)) => v,
            Some(Bound::Timestamp(t)) => Snapshot::load_at_timestamp(&storage, t).await?.version(),
        };
        let start = match self.start {
            None => 0,
            Some(Bound::Version(v)) => v,
            Some(Bound::Timestamp(t)) => first_version_at_or_after(&storage, t).await?,
        };
        if start > end {
            return Err(Error::InvalidArgument(format!(
                "the change feed's range {start}..={end} of {} is empty: it must start at or before its end",
                storage.location()
            )));
        }
        let end_snapshot = self.latest.at_version(end).await?;
        let mut scan = ScanBuilder::new(end_snapshot.clone());
        if let Some(columns) = self.columns {
            scan = scan.with_columns(columns);
        }
        if let Some(filter) = self.filter {
            scan = scan.with_filter_result(filter);
        }
        let output = scan.output_schema()?;
        let predicate = scan.predicate()?;
        let versions = read_versions(&storage, start, end, self.appends_only).await?;
        Ok(ChangesPlan {
            snapshot: end_snapshot,
            output,
            predicate,
            start,
            end,
            versions,
        })
    }

    /// Starts reading; batches arrive version by version.
    ///
    /// # Errors
    /// As [`ChangesBuilder::plan`] and, inside the stream, per-file errors.
    pub fn execute(self) -> Result<RecordBatchStream> {
        let stream = futures::stream::once(async move { self.plan().await?.execute() });
        Ok(stream.try_flatten().boxed())
    }

    /// Reads every change into memory.
    ///
    /// # Errors
    /// As [`ChangesBuilder::plan`] and [`ChangesPlan::execute`].
    pub async fn collect(self) -> Result<Vec<RecordBatch>> {
        self.plan().await?.collect().await
    }
}

/// What one file contributes to a version's changes.
#[derive(Debug, Clone)]
enum Source {
    /// A `cdc` file: rows with their own `_change_type`.
    Cdc(Cdc),
    /// Rows of a data file, all of one kind.
    Rows {
        file: Add,
        rows: FileRows,
        change: &'static str,
    },
    /// A file removed and re-added with another deletion vector: the rows the new vector
    /// deletes that the old did not are deleted, the reverse inserted.
    VectorChange { file: Add, removed: Box<Remove> },
}

/// The changes of one commit.
#[derive(Debug, Clone)]
struct VersionChanges {
    version: i64,
    timestamp_ms: i64,
    sources: Vec<Source>,
}

/// The changes a feed reads, version by version; built by [`ChangesBuilder::plan`].
pub struct ChangesPlan {
    snapshot: Snapshot,
    output: SchemaRef,
    predicate: Option<Arc<Predicate>>,
    start: i64,
    end: i64,
    versions: Vec<VersionChanges>,
}

impl ChangesPlan {
    /// The first and last version of the range.
    pub fn versions(&self) -> (i64, i64) {
        (self.start, self.end)
    }

    /// The schema of the batches: the table columns asked for, then `_change_type`,
    /// `_commit_version` and `_commit_timestamp`.
    pub fn output_schema(&self) -> SchemaRef {
        with_change_fields(&self.output)
    }

    /// Starts reading the changed rows, in version order.
    ///
    /// # Errors
    /// Per-file errors ([`Error::Parquet`], [`Error::Storage`], [`Error::DeletionVector`])
    /// inside the stream.
    pub fn execute(&self) -> Result<RecordBatchStream> {
        let reader = Arc::new(ChangeReader::new(self));
        let units: Vec<(i64, i64, Source)> = self
            .versions
            .iter()
            .flat_map(|v| {
                v.sources
                    .iter()
                    .map(|s| (v.version, v.timestamp_ms, s.clone()))
            })
            .collect();
        let stream = futures::stream::iter(units)
            .map(move |(version, timestamp_ms, source)| {
                let reader = reader.clone();
                async move { reader.read(version, timestamp_ms, source).await }
            })
            .buffered(FILE_CONCURRENCY)
            .try_flatten();
        Ok(stream.boxed())
    }

    /// Reads every change into memory.
    ///
    /// # Errors
    /// As [`ChangesPlan::execute`].
    pub async fn collect(&self) -> Result<Vec<RecordBatch>> {
        self.execute()?.try_collect().await
    }
}

/// The table schema's output columns followed by the three change columns.
fn with_change_fields(output: &Schema) -> SchemaRef {
    let mut fields: Vec<Field> = output.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(change_type_field());
    fields.push(Field::new(COMMIT_VERSION_COLUMN, DataType::Int64, false));
    fields.push(Field::new(
        COMMIT_TIMESTAMP_COLUMN,
        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        false,
    ));
    Arc::new(Schema::new(fields))
}

fn change_type_field() -> Field {
    Field::new(CHANGE_TYPE_COLUMN, DataType::Utf8, true)
}

/// Reads sources as change rows: one file scan for `cdc` files (which have `_change_type`),
/// one for data files.
struct ChangeReader {
    cdc: Arc<FileScan>,
    data: Arc<FileScan>,
    schema: SchemaRef,
}

impl ChangeReader {
    fn new(plan: &ChangesPlan) -> ChangeReader {
        let snapshot = &plan.snapshot;
        let counters = Arc::new(Counters::default());
        let deletion_vectors = Arc::new(DeletionVectors::default());
        let table = snapshot.arrow_schema();
        let scan = |output: SchemaRef| {
            Arc::new(FileScan {
                storage: snapshot.storage().clone(),
                read: read_schema(&table, &output, plan.predicate.as_deref()),
                output_columns: output.fields().len(),
                output,
                predicate: plan.predicate.clone(),
                partition_columns: snapshot.partition_columns().into(),
                lookup: snapshot.column_lookup(),
                version: snapshot.version(),
                batch_rows: BATCH_ROWS,
                counters: counters.clone(),
                deletion_vectors: deletion_vectors.clone(),
            })
        };
        let mut cdc_fields: Vec<Field> = plan
            .output
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        cdc_fields.push(change_type_field());
        ChangeReader {
            cdc: scan(Arc::new(Schema::new(cdc_fields))),
            data: scan(plan.output.clone()),
            schema: plan.output_schema(),
        }
    }

    async fn read(
        &self,
        version: i64,
        timestamp_ms: i64,
        source: Source,
    ) -> Result<RecordBatchStream> {
        let schema = self.schema.clone();
        let stamp = move |batch: RecordBatch, change: Option<&'static str>| {
            stamp(&schema, batch, change, version, timestamp_ms)
        };
        match source {
            Source::Cdc(cdc) => {
                let stream = self.cdc.clone().open(cdc_as_add(cdc)).await?;
                Ok(stream.map(move |b| stamp(b?, None)).boxed())
            }
            Source::Rows { file, rows, change } => {
                let stream = self.data.clone().open_rows(file, rows).await?;
                Ok(stream.map(move |b| stamp(b?, Some(change))).boxed())
            }
            Source::VectorChange { file, removed } => {
                let now = self
                    .vector(&file, file.deletion_vector.as_ref(), version)
                    .await?;
                let before = self
                    .vector(&file, removed.deletion_vector.as_ref(), version)
                    .await?;
                let deleted = &now - &before;
                let restored = &before - &now;
                let mut streams = Vec::new();
                for (rows, change) in [(deleted, "delete"), (restored, "insert")] {
                    if rows.is_empty() {
                        continue;
                    }
                    let stamp = stamp.clone();
                    let stream = self
                        .data
                        .clone()
                        .open_rows(file.clone(), FileRows::Only(rows))
                        .await?;
                    streams.push(stream.map(move |b| stamp(b?, Some(change))).boxed());
                }
                Ok(futures::stream::iter(streams).flatten().boxed())
            }
        }
    }
}

impl ChangeReader {
    /// The rows `dv` deletes from `file` (none without a vector).
    async fn vector(
        &self,
        file: &Add,
        dv: Option<&crate::protocol::actions::DeletionVectorDescriptor>,
        version: i64,
    ) -> Result<RoaringTreemap> {
        match dv {
            Some(dv) => {
                self.data
                    .deletion_vectors
                    .rows(&self.data.storage, dv, &file.path, version)
                    .await
            }
            None => Ok(RoaringTreemap::new()),
        }
    }
}

/// A `cdc` file read as a data file (it has no deletion vector or statistics).
fn cdc_as_add(cdc: Cdc) -> Add {
    Add {
        path: cdc.path,
        partition_values: cdc.partition_values,
        size: cdc.size,
        modification_time: 0,
        data_change: false,
        stats: None,
        tags: cdc.tags,
        deletion_vector: None,
        base_row_id: None,
        default_row_commit_version: None,
        clustering_provider: None,
    }
}

/// `batch` with the change columns appended (`_change_type` from `change`, or already last in
/// the batch for a `cdc` file).
fn stamp(
    schema: &SchemaRef,
    batch: RecordBatch,
    change: Option<&str>,
    version: i64,
    timestamp_ms: i64,
) -> Result<RecordBatch> {
    let rows = batch.num_rows();
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    if let Some(change) = change {
        columns.push(Arc::new(StringArray::from(vec![change; rows])));
    }
    columns.push(Arc::new(Int64Array::from(vec![version; rows])));
    let micros = timestamp_ms.saturating_mul(1000);
    columns.push(Arc::new(
        TimestampMicrosecondArray::from(vec![micros; rows]).with_timezone("UTC"),
    ));
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// The first version committed at or after `timestamp`.
async fn first_version_at_or_after(
    storage: &crate::storage::Storage,
    timestamp: chrono::DateTime<chrono::Utc>,
) -> Result<i64> {
    match Snapshot::load_at_timestamp(storage, timestamp).await {
        Ok(s) if s.timestamp_ms() >= timestamp.timestamp_millis() => Ok(s.version()),
        Ok(s) => Ok(s.version() + 1),
        Err(Error::TimestampOutOfRange { reason, .. }) if reason.contains("before") => Ok(0),
        Err(e) => Err(e),
    }
}

/// Reads the commits `start..=end`, checks the feed is enabled at each, and plans each one's
/// sources.
async fn read_versions(
    storage: &crate::storage::Storage,
    start: i64,
    end: i64,
    appends_only: bool,
) -> Result<Vec<VersionChanges>> {
    let unavailable = |version: i64, reason: String| Error::ChangeDataFeed {
        location: storage.location().to_string(),
        version,
        reason,
    };
    let first = Snapshot::load(storage, Some(start)).await.map_err(|e| match e {
        Error::VersionNotFound { earliest, .. } => unavailable(
            start,
            format!("the log no longer holds it (log retention); changes can be read from version {earliest} on"),
        ),
        other => other,
    })?;
    let mut enabled = TableProperties::from_configuration(&first.metadata().configuration)
        .enable_change_data_feed;
    let times = commit_times(storage, start).await?;
    let mut versions = Vec::new();
    for version in start..=end {
        let (_, actions) = read_commit(storage, version).await.map_err(|e| {
            // Only a commit that is gone; any other storage failure is reported as it is.
            if crate::storage::is_not_found(&e) {
                unavailable(
                    version,
                    "its commit is no longer in the log (log retention)".into(),
                )
            } else {
                e
            }
        })?;
        if version > start
            && let Some(metadata) = actions.iter().find_map(|a| match a {
                Action::Metadata(m) => Some(m),
                _ => None,
            })
        {
            enabled = TableProperties::from_configuration(&metadata.configuration)
                .enable_change_data_feed;
        }
        if appends_only {
            versions.push(VersionChanges {
                version,
                timestamp_ms: commit_timestamp(&actions, &times, version),
                sources: appended(version, actions).map_err(|r| unavailable(version, r))?,
            });
            continue;
        }
        if !enabled {
            return Err(unavailable(
                version,
                "the change data feed was not enabled at that version (delta.enableChangeDataFeed); read a range where it is".into(),
            ));
        }
        versions.push(VersionChanges {
            version,
            timestamp_ms: commit_timestamp(&actions, &times, version),
            sources: sources(actions),
        });
    }
    Ok(versions)
}

/// Commit file times from `start` on, made strictly increasing as time travel sees them.
async fn commit_times(storage: &crate::storage::Storage, start: i64) -> Result<BTreeMap<i64, i64>> {
    let mut commits: Vec<(i64, i64)> = list_log(storage, Some(&format!("{start:020}")))
        .await?
        .into_iter()
        .filter(|f| f.kind == LogFileKind::Commit)
        .map(|f| (f.version, f.last_modified_ms))
        .collect();
    commits.sort_unstable();
    crate::log::timetravel::make_monotonic(&mut commits);
    Ok(commits.into_iter().collect())
}

/// A commit's time: its in-commit timestamp, else its file's (monotonic) time.
fn commit_timestamp(actions: &[Action], times: &BTreeMap<i64, i64>, version: i64) -> i64 {
    let ict = actions.iter().find_map(|a| match a {
        Action::CommitInfo(CommitInfo {
            in_commit_timestamp: Some(t),
            ..
        }) => Some(*t),
        _ => None,
    });
    ict.or_else(|| times.get(&version).copied())
        .unwrap_or_default()
}

/// The rows a commit appended (pure): its data-changing `add`s; a data-changing `remove` is
/// the reason the commit cannot be read as appends.
fn appended(version: i64, actions: Vec<Action>) -> std::result::Result<Vec<Source>, String> {
    let operation = actions.iter().find_map(|a| match a {
        Action::CommitInfo(ci) => ci.operation.clone(),
        _ => None,
    });
    if actions
        .iter()
        .any(|a| matches!(a, Action::Remove(r) if r.data_change))
    {
        return Err(format!(
            "version {version} ({}) changed or deleted rows, which an append-only read cannot follow; read the change data feed (delta.enableChangeDataFeed) or recompute from a snapshot",
            operation.as_deref().unwrap_or("an unnamed commit")
        ));
    }
    Ok(actions
        .into_iter()
        .filter_map(|a| match a {
            Action::Add(file) if file.data_change => Some(Source::Rows {
                file,
                rows: FileRows::Live,
                change: "insert",
            }),
            _ => None,
        })
        .collect())
}

/// What a commit's actions contribute to the feed (pure).
fn sources(actions: Vec<Action>) -> Vec<Source> {
    let cdc: Vec<Source> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Cdc(c) => Some(Source::Cdc(c.clone())),
            _ => None,
        })
        .collect();
    if !cdc.is_empty() {
        return cdc;
    }
    let mut removed: BTreeMap<String, Remove> = BTreeMap::new();
    let mut added: Vec<Add> = Vec::new();
    for action in actions {
        match action {
            Action::Add(a) if a.data_change => added.push(a),
            Action::Remove(r) if r.data_change => {
                removed.insert(decode_path(&r.path), r);
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for file in added {
        match removed.remove(&decode_path(&file.path)) {
            Some(removed) => out.push(Source::VectorChange {
                file,
                removed: Box::new(removed),
            }),
            None => out.push(Source::Rows {
                file,
                rows: FileRows::Live,
                change: "insert",
            }),
        }
    }
    for (_, remove) in removed {
        out.push(Source::Rows {
            file: remove_as_add(remove),
            rows: FileRows::Live,
            change: "delete",
        });
    }
    out
}

/// A removed file, to read the rows it held (with the deletion vector it had).
fn remove_as_add(remove: Remove) -> Add {
    Add {
        path: remove.path,
        partition_values: remove.partition_values.unwrap_or_default(),
        size: remove.size.unwrap_or(-1),
        modification_time: 0,
        data_change: true,
        stats: None,
        tags: remove.tags,
        deletion_vector: remove.deletion_vector,
        base_row_id: remove.base_row_id,
        default_row_commit_version: remove.default_row_commit_version,
        clustering_provider: None,
    }
}
