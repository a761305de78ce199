//! The table handle: open or create a table, get snapshots, write.
//!
//! A [`Table`] is a location plus a cached latest snapshot. Reading goes through
//! [`Snapshot`]s (immutable; time travel by version or timestamp); writing goes through
//! builders ([`WriteBuilder`]) that commit via the transaction layer. The handle refreshes its
//! cache incrementally, so a process that commits often through one handle reads only the
//! commits other writers added since.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arrow::array::RecordBatch;
use arrow::datatypes::Schema;
use serde_json::Value;

use crate::protocol::actions::{Action, Format, Metadata};
use crate::checkpoint::cleanup::{CleanupReport, cleanup_expired_logs};
use crate::error::{Error, Result};
use crate::protocol::features;
use crate::protocol::schema::{DataType, StructType};
use crate::snapshot::Snapshot;
use crate::stats::IndexedColumns;
use crate::storage::Storage;
use crate::transaction::{CommitResult, Transaction};
use crate::write::{WriteBuilder, WriteMode, WriteResult};

/// A Delta table at a location.
#[derive(Clone, Debug)]
pub struct Table {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    storage: Storage,
    latest: Mutex<Option<Snapshot>>,
}

impl Table {
    /// Opens an existing table at a local path or URL and loads its latest version.
    ///
    /// # Errors
    /// [`Error::NotATable`] when there is no Delta log there; the errors of
    /// [`Snapshot::load`].
    pub async fn open(location: impl AsRef<str>) -> Result<Table> {
        Table::open_with_options(location, HashMap::new()).await
    }

    /// Opens with object store options (e.g. `aws_endpoint`, `aws_allow_http`).
    ///
    /// # Errors
    /// As [`Table::open`], plus [`Error::InvalidLocation`].
    pub async fn open_with_options(
        location: impl AsRef<str>,
        options: HashMap<String, String>,
    ) -> Result<Table> {
        let storage = Storage::open(location.as_ref(), &options)?;
        Table::open_storage(storage).await
    }

    /// Opens a table on an already-configured [`Storage`] (custom or test stores).
    ///
    /// # Errors
    /// As [`Table::open`].
    pub async fn open_storage(storage: Storage) -> Result<Table> {
        let snapshot = Snapshot::load(&storage, None).await?;
        Ok(Table {
            inner: Arc::new(Inner {
                storage,
                latest: Mutex::new(Some(snapshot)),
            }),
        })
    }

    /// A handle whose latest snapshot is loaded on first use.
    fn unloaded(storage: Storage) -> Table {
        Table {
            inner: Arc::new(Inner {
                storage,
                latest: Mutex::new(None),
            }),
        }
    }

    /// Starts creating a table at a local path or URL.
    pub fn create(location: impl Into<String>) -> CreateBuilder {
        CreateBuilder::new(location.into())
    }

    /// The table location.
    pub fn location(&self) -> &str {
        self.inner.storage.location()
    }

    /// The storage the table lives on.
    pub fn storage(&self) -> &Storage {
        &self.inner.storage
    }

    /// The latest version, refreshed from storage (reads only new commits).
    ///
    /// # Errors
    /// As [`Snapshot::load`].
    pub async fn snapshot(&self) -> Result<Snapshot> {
        let cached = self.cached();
        let fresh = match cached {
            Some(s) => s.refresh().await?,
            None => Snapshot::load(&self.inner.storage, None).await?,
        };
        self.remember(&fresh);
        Ok(fresh)
    }

    /// The table as of `version`.
    ///
    /// # Errors
    /// [`Error::VersionNotFound`] when the version does not exist or its log was cleaned up;
    /// the errors of [`Snapshot::load`].
    pub async fn snapshot_at_version(&self, version: i64) -> Result<Snapshot> {
        if let Some(s) = self.cached().filter(|s| s.version() == version) {
            return Ok(s);
        }
        Snapshot::load(&self.inner.storage, Some(version)).await
    }

    /// The table as it was at `timestamp` (the latest commit at or before it).
    ///
    /// # Errors
    /// [`Error::TimestampOutOfRange`]; the errors of [`Snapshot::load`].
    pub async fn snapshot_at_timestamp(
        &self,
        timestamp: chrono::DateTime<chrono::Utc>,
    ) -> Result<Snapshot> {
        Snapshot::load_at_timestamp(&self.inner.storage, timestamp).await
    }

    /// The latest version number (refreshing).
    ///
    /// # Errors
    /// As [`Table::snapshot`].
    pub async fn version(&self) -> Result<i64> {
        Ok(self.snapshot().await?.version())
    }

    /// Starts a write of `batches` (append by default; see [`WriteBuilder`]).
    pub fn write(&self, batches: impl IntoIterator<Item = RecordBatch>) -> WriteBuilder {
        WriteBuilder::new(self.clone(), batches.into_iter().collect())
    }

    /// Starts a write of a stream of batches (append by default; see [`WriteBuilder`]), for
    /// input larger than memory: batches are checked, encoded and uploaded as they arrive, and
    /// everything is committed in one commit once the stream ends. An `Err` from the stream
    /// stops the write before the commit and is returned by `execute`.
    ///
    /// ```no_run
    /// # async fn demo(table: strata::Table, batches: Vec<arrow::array::RecordBatch>) -> strata::Result<()> {
    /// let stream = futures::stream::iter(batches.into_iter().map(Ok));
    /// let written = table.write_stream(stream).execute().await?;
    /// # Ok(()) }
    /// ```
    pub fn write_stream<S>(&self, batches: S) -> WriteBuilder
    where
        S: futures::Stream<Item = Result<RecordBatch>> + Send + 'static,
    {
        WriteBuilder::from_stream(self.clone(), batches)
    }

    /// Appends `batches` in one commit.
    ///
    /// # Errors
    /// As [`WriteBuilder::execute`].
    pub async fn append(
        &self,
        batches: impl IntoIterator<Item = RecordBatch>,
    ) -> Result<WriteResult> {
        self.write(batches).execute().await
    }

    /// Replaces all data with `batches` in one commit.
    ///
    /// # Errors
    /// As [`WriteBuilder::execute`].
    pub async fn overwrite(
        &self,
        batches: impl IntoIterator<Item = RecordBatch>,
    ) -> Result<WriteResult> {
        self.write(batches)
            .with_mode(WriteMode::Overwrite)
            .execute()
            .await
    }

    /// The table's commits, newest first, at most `limit` (see [`Snapshot::history`]).
    ///
    /// # Errors
    /// As [`Snapshot::history`].
    pub async fn history(&self, limit: Option<usize>) -> Result<Vec<crate::HistoryEntry>> {
        self.snapshot().await?.history(limit).await
    }

    /// Deletes commit and checkpoint files older than the table's log retention
    /// (`delta.logRetentionDuration`, default `interval 30 days`) once a newer checkpoint covers
    /// them (`protocol/PROTOCOL.md#log-cleanup`). Versions inside the retention window stay
    /// readable by version and by timestamp; older ones then give [`Error::VersionNotFound`].
    /// Runs whatever `delta.enableExpiredLogCleanup` says (that property only turns off the
    /// automatic cleanup after a checkpoint).
    ///
    /// # Errors
    /// As [`crate::checkpoint::cleanup::cleanup_expired_logs`], and [`Table::snapshot`].
    pub async fn cleanup_log(&self) -> Result<CleanupReport> {
        let snapshot = self.snapshot().await?;
        cleanup_expired_logs(&snapshot, chrono::Utc::now().timestamp_millis()).await
    }

    /// Writes a checkpoint of the latest version now, then `_last_checkpoint`
    /// (`protocol/PROTOCOL.md#checkpoints`), as the automatic checkpoint every
    /// `delta.checkpointInterval` commits does.
    ///
    /// # Errors
    /// As [`crate::checkpoint::write_checkpoint`], and [`Table::snapshot`].
    pub async fn checkpoint(&self) -> Result<crate::checkpoint::CheckpointInfo> {
        let snapshot = self.snapshot().await?;
        crate::checkpoint::write_checkpoint(&snapshot).await
    }

    fn cached(&self) -> Option<Snapshot> {
        self.inner
            .latest
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn remember(&self, snapshot: &Snapshot) {
        let mut latest = self.inner.latest.lock().unwrap_or_else(|p| p.into_inner());
        if latest
            .as_ref()
            .is_none_or(|s| s.version() < snapshot.version())
        {
            *latest = Some(snapshot.clone());
        }
    }

    /// Keeps the cache current after this handle committed.
    pub(crate) fn observe_commit(&self, result: &CommitResult) {
        if let Some(s) = &result.snapshot {
            self.remember(s);
        }
    }
}

/// Builder for [`Table::create`].
#[must_use = "nothing is created until `.execute().await`"]
#[derive(Debug)]
pub struct CreateBuilder {
    location: String,
    options: HashMap<String, String>,
    storage: Option<Storage>,
    schema: Option<StructType>,
    partition_columns: Vec<String>,
    properties: HashMap<String, String>,
    name: Option<String>,
    description: Option<String>,
    commit_metadata: serde_json::Map<String, Value>,
}

impl CreateBuilder {
    fn new(location: String) -> CreateBuilder {
        CreateBuilder {
            location,
            options: HashMap::new(),
            storage: None,
            schema: None,
            partition_columns: Vec::new(),
            properties: HashMap::new(),
            name: None,
            description: None,
            commit_metadata: serde_json::Map::new(),
        }
    }

    /// Creates on a caller-configured storage instead of resolving the location.
    pub fn with_storage(mut self, storage: Storage) -> Self {
        self.storage = Some(storage);
        self
    }

    /// Object store options.
    pub fn with_options(mut self, options: HashMap<String, String>) -> Self {
        self.options = options;
        self
    }

    /// The table schema in Delta types.
    pub fn with_schema(mut self, schema: StructType) -> Self {
        self.schema = Some(schema);
        self
    }

    /// The table schema from Arrow (see [`StructType::try_from_arrow`] for the mapping).
    ///
    /// # Errors
    /// [`Error::Schema`] for Arrow types Delta cannot store.
    pub fn with_arrow_schema(mut self, schema: &Schema) -> Result<Self> {
        self.schema = Some(StructType::try_from_arrow(schema)?);
        Ok(self)
    }

    /// Partition columns, in directory order.
    pub fn with_partition_columns<I, S>(mut self, columns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.partition_columns = columns.into_iter().map(Into::into).collect();
        self
    }

    /// A table property (`delta.*` properties configure Delta behaviour).
    pub fn with_property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties.insert(key.into(), value.into());
        self
    }

    /// The table's name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The table's description.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// A custom field for the creating commit's `commitInfo`.
    pub fn with_commit_metadata(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.commit_metadata.insert(key.into(), value.into());
        self
    }

    fn validate(&self, schema: &StructType) -> Result<()> {
        let invalid = |m: String| Err(Error::InvalidArgument(m));
        if schema.fields.is_empty() {
            return invalid("a table needs at least one column".into());
        }
        if let Some(mode) = self
            .properties
            .get("delta.columnMapping.mode")
            .filter(|m| !m.eq_ignore_ascii_case("none"))
        {
            return invalid(format!(
                "delta.columnMapping.mode={mode} is not supported: strata does not write column mapping (physical column names); create the table without it"
            ));
        }
        check_names(&schema.fields, "").map_err(Error::InvalidArgument)?;
        let mut seen_partitions = std::collections::HashSet::new();
        for p in &self.partition_columns {
            if !seen_partitions.insert(p.to_lowercase()) {
                return invalid(format!("partition column {p:?} is given twice"));
            }
        }
        for p in &self.partition_columns {
            match schema.field(p) {
                None => return invalid(format!("partition column {p:?} is not in the schema")),
                Some(f) if !matches!(f.data_type, DataType::Primitive(_)) => {
                    return invalid(format!("partition column {p:?} must have a primitive type"));
                }
                _ => {}
            }
        }
        if self.partition_columns.len() >= schema.fields.len() {
            return invalid("at least one column must not be a partition column".into());
        }
        IndexedColumns::from_properties(&self.properties)?;
        Ok(())
    }

    /// Creates the table (version 0) and returns a handle to it.
    ///
    /// # Errors
    /// [`Error::TableExists`] when a table is already there (also when another writer created
    /// it concurrently); [`Error::InvalidArgument`] for an invalid schema, partitioning or
    /// property; [`Error::Storage`].
    pub async fn execute(self) -> Result<Table> {
        let storage = self.open_storage()?;
        let new_table = self.prepare(&storage).await?;
        let mut tx = Transaction::new(&new_table.snapshot, "CREATE TABLE")
            .with_parameter(
                "partitionBy",
                serde_json::to_string(&self.partition_columns).unwrap_or_default(),
            )
            .with_parameter(
                "properties",
                serde_json::to_string(&self.properties).unwrap_or_default(),
            );
        if let Some(d) = &self.description {
            tx = tx.with_parameter("description", d.clone());
        }
        for (k, v) in new_table.commit_metadata {
            tx.set_commit_metadata(&k, v);
        }
        tx.add_actions(new_table.actions);
        let result = tx.commit().await.map_err(NewTable::exists)?;
        let table = Table::unloaded(storage);
        table.observe_commit(&result);
        Ok(table)
    }

    /// Creates the table with `batches` as its first data, in one commit (version 0), so that a
    /// failed input leaves no empty table behind (as Spark's `CREATE TABLE AS SELECT` and
    /// delta-rs's `write_deltalake` to a new location). Configure the write (mode, `txn`,
    /// commit metadata, file layout) on the returned builder.
    ///
    /// When a table with the same schema and partition columns is already there, or another
    /// writer creates one first, the data is written to it instead (with the write's mode and
    /// `txn`, so a rerun of an idempotent job is recognised), as `write_deltalake` in append
    /// mode does; a table of another shape is [`Error::TableExists`].
    ///
    /// # Errors
    /// [`Error::InvalidLocation`] at once; the others of [`CreateBuilder::execute`] and
    /// [`WriteBuilder::execute`] from `execute`.
    pub fn write_stream<S>(self, batches: S) -> Result<WriteBuilder>
    where
        S: futures::Stream<Item = Result<RecordBatch>> + Send + 'static,
    {
        let table = Table::unloaded(self.open_storage()?);
        Ok(WriteBuilder::from_stream(table, batches).creating(self))
    }

    /// As [`CreateBuilder::write_stream`], for batches in memory.
    ///
    /// # Errors
    /// As [`CreateBuilder::write_stream`].
    pub fn write(self, batches: impl IntoIterator<Item = RecordBatch>) -> Result<WriteBuilder> {
        let table = Table::unloaded(self.open_storage()?);
        Ok(WriteBuilder::new(table, batches.into_iter().collect()).creating(self))
    }

    /// Accepts an existing table as the one this builder would create when its schema and
    /// partition columns are the ones asked for; otherwise returns `exists`.
    pub(crate) fn require_same_shape(&self, existing: &Snapshot, exists: Error) -> Result<()> {
        let same_schema = self.schema.as_ref() == Some(existing.schema());
        let same_partitioning = self.partition_columns == existing.partition_columns();
        if same_schema && same_partitioning {
            Ok(())
        } else {
            Err(exists)
        }
    }

    fn open_storage(&self) -> Result<Storage> {
        match &self.storage {
            Some(s) => Ok(s.clone()),
            None => Storage::open(&self.location, &self.options),
        }
    }

    /// Validates the request and checks that no table exists yet; returns the empty state the
    /// creating commit is made on and its `protocol` and `metaData` actions.
    pub(crate) async fn prepare(&self, storage: &Storage) -> Result<NewTable> {
        let schema = self
            .schema
            .clone()
            .ok_or_else(|| Error::InvalidArgument("a table needs a schema".into()))?;
        self.validate(&schema)?;
        match Snapshot::load(storage, None).await {
            Ok(existing) => {
                return Err(Error::TableExists {
                    location: storage.location().into(),
                    version: existing.version(),
                });
            }
            Err(Error::NotATable { .. }) => {}
            Err(e) => return Err(e),
        }
        let protocol = features::protocol_for_new_table(&schema, &self.properties);
        let metadata = Metadata {
            id: uuid::Uuid::new_v4().to_string(),
            name: self.name.clone(),
            description: self.description.clone(),
            format: Format::default(),
            schema_string: schema.to_json_string(),
            partition_columns: self.partition_columns.clone(),
            created_time: Some(chrono::Utc::now().timestamp_millis()),
            configuration: self.properties.clone(),
        };
        Ok(NewTable {
            snapshot: Snapshot::for_new_table(storage, protocol.clone(), metadata.clone())?,
            actions: vec![Action::Protocol(protocol), Action::Metadata(metadata)],
            commit_metadata: self.commit_metadata.clone(),
        })
    }
}

/// Characters Delta refuses in column names unless column mapping is on (which strata does
/// not write), because they are not valid in Parquet column names.
const SPECIAL_NAME_CHARS: &[char] = &[' ', ',', ';', '{', '}', '(', ')', '\n', '\t', '='];

/// Column names at every level: not empty, unique ignoring case within a struct (Delta is
/// case-insensitive), and free of [`SPECIAL_NAME_CHARS`].
fn check_names(
    fields: &[crate::protocol::schema::StructField],
    parent: &str,
) -> std::result::Result<(), String> {
    let mut seen = std::collections::HashSet::new();
    for f in fields {
        let path = if parent.is_empty() {
            f.name.clone()
        } else {
            format!("{parent}.{}", f.name)
        };
        if f.name.is_empty() {
            return Err(format!("a column name is empty (in {parent:?})"));
        }
        if f.name.contains(SPECIAL_NAME_CHARS) {
            return Err(format!(
                "column name {path:?} contains one of ` ,;{{}}()\\n\\t=`, which Delta allows only with column mapping, which strata does not write; rename the column"
            ));
        }
        if !seen.insert(f.name.to_lowercase()) {
            return Err(format!(
                "column {path:?} appears twice (names are case-insensitive in Delta)"
            ));
        }
        for nested in nested_structs(&f.data_type) {
            check_names(&nested.fields, &path)?;
        }
    }
    Ok(())
}

/// The structs directly inside a type (through arrays and maps).
fn nested_structs(data_type: &DataType) -> Vec<&StructType> {
    match data_type {
        DataType::Primitive(_) => Vec::new(),
        DataType::Struct(s) => vec![s],
        DataType::Array(a) => nested_structs(&a.element_type),
        DataType::Map(m) => {
            let mut all = nested_structs(&m.key_type);
            all.extend(nested_structs(&m.value_type));
            all
        }
    }
}

/// A table about to be created: the empty state (version -1) its first commit is made on.
pub(crate) struct NewTable {
    /// Version -1: the new protocol and metadata, no files.
    pub(crate) snapshot: Snapshot,
    /// The `protocol` and `metaData` actions the first commit carries.
    pub(crate) actions: Vec<Action>,
    /// Commit metadata given to the [`CreateBuilder`].
    pub(crate) commit_metadata: serde_json::Map<String, Value>,
}

impl NewTable {
    /// Losing the race for version 0 means another writer created the table first.
    pub(crate) fn exists(error: Error) -> Error {
        match error {
            Error::Conflict { location, .. } => Error::TableExists {
                location,
                version: 0,
            },
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_spawnable<F: std::future::Future + Send + 'static>(_: F) {}

    fn refusal(ddl: &str, partitions: &[&str], properties: &[(&str, &str)]) -> String {
        let mut builder =
            Table::create("memory://validate/t").with_partition_columns(partitions.iter().copied());
        for (k, v) in properties {
            builder = builder.with_property(*k, *v);
        }
        let schema = StructType::from_ddl(ddl).unwrap();
        match builder.validate(&schema) {
            Err(e) => e.to_string(),
            Ok(()) => panic!("{ddl} {partitions:?} {properties:?} was accepted"),
        }
    }

    #[test]
    fn creation_refuses_names_and_settings_delta_or_strata_cannot_honour() {
        assert!(refusal("a int, b int, c int", &["a", "A"], &[]).contains("given twice"));
        assert!(
            refusal("s struct<x:int, X:int>, y int", &[], &[]).contains("\"s.X\" appears twice")
        );
        assert!(refusal("`` int", &[], &[]).contains("empty"));
        assert!(refusal("`a b` int", &[], &[]).contains("\"a b\""));
        assert!(refusal("a array<struct<`x=y`:int>>", &[], &[]).contains("x=y"));
        assert!(
            refusal("a int", &[], &[("delta.columnMapping.mode", "name")])
                .contains("column mapping")
        );
        let ok = Table::create("memory://validate/t")
            .with_partition_columns(["p"])
            .with_property("delta.columnMapping.mode", "none");
        assert!(
            ok.validate(&StructType::from_ddl("p string, `ümlaut_名` int").unwrap())
                .is_ok()
        );
    }

    /// Writes, reads and creation must be spawnable on a multi-threaded runtime: a
    /// non-`Send` or borrowing future here is an API bug, caught at compile time.
    #[allow(dead_code)]
    fn futures_are_send_and_static(table: Table, batch: RecordBatch, storage: Storage) {
        let t = table.clone();
        assert_spawnable(async move { t.append([batch]).await });
        let t = table.clone();
        assert_spawnable(async move { t.snapshot().await?.scan().collect().await });
        assert_spawnable(async move { table.snapshot_at_timestamp(chrono::Utc::now()).await });
        assert_spawnable(async move { Table::open_storage(storage).await });
        assert_spawnable(async move { Table::create("x").execute().await });
    }
}
