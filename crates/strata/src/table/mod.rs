//! The entry point: a [`Table`] handle, and every operation on a table or a [`Snapshot`].
//!
//! This module is the map of what strata can do. Each method here is a short delegation to the
//! layer that implements it, so a newcomer finds every capability in one place and follows it
//! down:
//!
//! | capability | method | implemented in |
//! |---|---|---|
//! | open, create | [`Table::open`], [`Table::create`] | `snapshot/load.rs`, `write/create.rs` |
//! | read a version | [`Table::snapshot`], [`Table::snapshot_at_version`], [`Table::snapshot_at_timestamp`], [`Table::snapshot_at_tag`] | `snapshot/` |
//! | scan rows | [`Snapshot::scan`] | `read/scan.rs` |
//! | changed rows | [`Table::changes`] | `read/changes.rs` |
//! | write | [`Table::write`], [`Table::write_stream`], [`Table::append`], [`Table::overwrite`] | `write/` |
//! | history, diff | [`Table::history`], [`Snapshot::history`], [`Table::diff`], [`Snapshot::diff`], [`Table::diff_rows`] | `ops/history.rs`, `ops/diff/` |
//! | delete rows | [`Table::delete`] | `ops/dml/delete.rs` |
//! | roll back | [`Table::restore_to_version`], [`Table::restore_to_timestamp`], [`Table::restore_to_tag`], [`Table::revert`] | `ops/restore.rs` |
//! | tags | [`Table::tag`], [`Table::delete_tag`], [`Table::tags`] | `ops/tags.rs`, `snapshot/tags.rs`, `protocol/tags.rs` |
//! | maintenance | [`Table::optimize`], [`Table::vacuum`], [`Table::checkpoint`], [`Table::cleanup_log`] | `ops/`, `checkpoint/` |
//!
//! A [`Table`] is a location plus a cached latest snapshot. Reading goes through
//! [`Snapshot`]s (immutable; time travel by version, timestamp or tag); writing goes through
//! builders that commit via the transaction layer. The handle and its builders share the cache
//! and refresh it incrementally, so a process that commits often through one handle reads only
//! the commits other writers added since.

mod create;

pub use create::CreateBuilder;

use std::collections::{BTreeMap, HashMap};

use arrow::array::RecordBatch;

use crate::checkpoint::cleanup::{CleanupReport, cleanup_expired_logs};
use crate::checkpoint::{CheckpointInfo, write_checkpoint};
use crate::error::Result;
use crate::ops::diff::{RowDiffBuilder, TableDiff};
use crate::ops::dml::delete::DeleteBuilder;
use crate::ops::dml::merge::{MergeBuilder, MergeSource};
use crate::ops::dml::replace::ReplaceWhereBuilder;
use crate::ops::dml::update::UpdateBuilder;
use crate::ops::history::HistoryEntry;
use crate::ops::optimize::OptimizeBuilder;
use crate::ops::restore::UndoResult;
use crate::ops::vacuum::VacuumBuilder;
use crate::ops::{diff, history, restore, tags};
use crate::protocol::tags::Tag;
use crate::read::changes::ChangesBuilder;
use crate::read::scan::IntoFilter;
use crate::read::scan::ScanBuilder;
use crate::snapshot::Snapshot;
use crate::snapshot::latest::LatestSnapshot;
use crate::storage::Storage;
use crate::write::{WriteBuilder, WriteMode, WriteResult};

/// A Delta table at a location.
#[derive(Clone, Debug)]
pub struct Table {
    latest: LatestSnapshot,
}

impl Table {
    pub(crate) fn from_latest(latest: LatestSnapshot) -> Table {
        Table { latest }
    }

    // --- Opening and creating -----------------------------------------------------------

    /// Opens an existing table at a local path or URL and loads its latest version.
    ///
    /// # Errors
    /// [`Error::NotATable`](crate::Error::NotATable) when there is no Delta log there; the
    /// errors of [`Snapshot::load`].
    pub async fn open(location: impl AsRef<str>) -> Result<Table> {
        Table::open_with_options(location, HashMap::new()).await
    }

    /// Opens with object store options (e.g. `aws_endpoint`, `aws_allow_http`).
    ///
    /// # Errors
    /// As [`Table::open`], plus [`Error::InvalidLocation`](crate::Error::InvalidLocation).
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
        Ok(Table::from_latest(LatestSnapshot::loaded(snapshot)))
    }

    /// The table `snapshot` belongs to, starting from that snapshot: writes refresh to the
    /// latest version as every write does, reading only the newer commits. A query engine that
    /// planned against a snapshot writes through this.
    pub fn from_snapshot(snapshot: Snapshot) -> Table {
        Table::from_latest(LatestSnapshot::loaded(snapshot))
    }

    /// Starts creating a table at a local path or URL.
    pub fn create(location: impl Into<String>) -> CreateBuilder {
        CreateBuilder::new(location.into())
    }

    /// The table location.
    pub fn location(&self) -> &str {
        self.latest.storage().location()
    }

    /// The storage the table lives on.
    pub fn storage(&self) -> &Storage {
        self.latest.storage()
    }

    // --- Reading ------------------------------------------------------------------------

    /// The latest version, refreshed from storage (reads only new commits).
    ///
    /// # Errors
    /// As [`Snapshot::load`].
    pub async fn snapshot(&self) -> Result<Snapshot> {
        self.latest.get().await
    }

    /// The table as of `version`.
    ///
    /// # Errors
    /// [`Error::VersionNotFound`](crate::Error::VersionNotFound) when the version does not
    /// exist or its log was cleaned up; the errors of [`Snapshot::load`].
    pub async fn snapshot_at_version(&self, version: i64) -> Result<Snapshot> {
        self.latest.at_version(version).await
    }

    /// The table as it was at `timestamp` (the latest commit at or before it).
    ///
    /// # Errors
    /// [`Error::TimestampOutOfRange`](crate::Error::TimestampOutOfRange); the errors of
    /// [`Snapshot::load`].
    pub async fn snapshot_at_timestamp(
        &self,
        timestamp: chrono::DateTime<chrono::Utc>,
    ) -> Result<Snapshot> {
        Snapshot::load_at_timestamp(self.latest.storage(), timestamp).await
    }

    /// Opens the version a tag names.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) for an unknown tag; as
    /// [`Table::snapshot_at_version`].
    pub async fn snapshot_at_tag(&self, name: &str) -> Result<Snapshot> {
        tags::snapshot_at_tag(&self.latest, name).await
    }

    /// The latest version number (refreshing).
    ///
    /// # Errors
    /// As [`Table::snapshot`].
    pub async fn version(&self) -> Result<i64> {
        Ok(self.snapshot().await?.version())
    }

    /// The table's commits, newest first, at most `limit` (see [`Snapshot::history`]).
    ///
    /// # Errors
    /// As [`Snapshot::history`].
    pub async fn history(&self, limit: Option<usize>) -> Result<Vec<HistoryEntry>> {
        self.snapshot().await?.history(limit).await
    }

    /// What changed from version `from` to version `to` (either order; `from > to` lists the
    /// changes that would undo the later version).
    ///
    /// # Errors
    /// [`Error::VersionNotFound`](crate::Error::VersionNotFound) when either version cannot be
    /// read; as [`Snapshot::diff`].
    pub async fn diff(&self, from: i64, to: i64) -> Result<TableDiff> {
        let from = self.snapshot_at_version(from).await?;
        let to = self.snapshot_at_version(to).await?;
        from.diff(&to).await
    }

    /// What changed row by row from version `from` to version `to` (either order): the rows
    /// one has that the other lacks and, with [`with_key`](RowDiffBuilder::with_key), which of
    /// them are updates. Reads the change data feed where it covers the range, else only the
    /// data files the two versions do not share (`protocol/PROTOCOL.md#diff`).
    ///
    /// ```no_run
    /// # async fn demo(table: strata::Table) -> strata::Result<()> {
    /// let diff = table.diff_rows(41, 42).with_key(["id"]).execute().await?;
    /// println!("{} inserted, {} deleted, {} updated", diff.inserted, diff.deleted, diff.updated);
    /// # Ok(()) }
    /// ```
    pub fn diff_rows(&self, from: i64, to: i64) -> RowDiffBuilder {
        RowDiffBuilder::new(self.latest.clone(), from, to)
    }

    /// Starts a read of the change data feed (`protocol/PROTOCOL.md#change-data-feed`): the
    /// rows each version inserted, deleted or updated, from version 0 (or
    /// [`from_version`](ChangesBuilder::from_version)) to the latest (or
    /// [`to_version`](ChangesBuilder::to_version)).
    ///
    /// ```no_run
    /// # async fn demo(table: strata::Table) -> strata::Result<()> {
    /// let changes = table.changes().from_version(3).with_filter("id < 100").collect().await?;
    /// # Ok(()) }
    /// ```
    pub fn changes(&self) -> ChangesBuilder {
        ChangesBuilder::new(self.latest.clone())
    }

    /// Starts a delete: `table.delete().with_predicate("day < '2026-01-01'").execute()`
    /// removes the matching rows in one commit (`protocol/PROTOCOL.md#delete`); without a
    /// predicate, every row.
    ///
    /// ```no_run
    /// # async fn demo(table: strata::Table) -> strata::Result<()> {
    /// let deleted = table.delete().with_predicate("country = 'PT' AND amount < 0").execute().await?;
    /// println!("{} rows deleted", deleted.num_deleted_rows);
    /// # Ok(()) }
    /// ```
    pub fn delete(&self) -> DeleteBuilder {
        DeleteBuilder::new(self.latest.clone())
    }

    /// Starts an update of the rows a predicate matches (`protocol/PROTOCOL.md#update`):
    /// `UPDATE … SET col = expr … WHERE …`.
    ///
    /// ```no_run
    /// # async fn demo(table: strata::Table) -> strata::Result<()> {
    /// let updated = table
    ///     .update()
    ///     .with_predicate("country = 'PT' AND amount < 0")
    ///     .set("amount", "abs(amount)")
    ///     .set("note", "concat('fixed: ', coalesce(note, ''))")
    ///     .execute()
    ///     .await?;
    /// println!("{} rows updated", updated.num_updated_rows);
    /// # Ok(()) }
    /// ```
    pub fn update(&self) -> UpdateBuilder {
        UpdateBuilder::new(self.latest.clone())
    }

    /// Starts a merge of `source` into the table on the condition `on`
    /// (`protocol/PROTOCOL.md#merge`): `MERGE INTO target USING source ON … WHEN …`. The
    /// condition and clauses name the sides `target` and `source` (see
    /// [`MergeBuilder::with_aliases`]); `on` needs an equality between a target and a source
    /// column.
    ///
    /// ```no_run
    /// # async fn demo(table: strata::Table, changes: arrow::array::RecordBatch) -> strata::Result<()> {
    /// // Upsert: update matched rows, insert the others.
    /// let merged = table
    ///     .merge(changes, "t.id = s.id")
    ///     .with_aliases("t", "s")
    ///     .when_matched_update_all()
    ///     .when_not_matched_insert_all()
    ///     .execute()
    ///     .await?;
    /// println!("{} updated, {} inserted", merged.num_target_rows_updated, merged.num_target_rows_inserted);
    /// # Ok(()) }
    /// ```
    pub fn merge(&self, source: impl Into<MergeSource>, on: impl IntoFilter) -> MergeBuilder {
        MergeBuilder::new(self.latest.clone(), source.into(), on.into_filter())
    }

    /// Replaces the rows `predicate` matches with `batches`, in one commit
    /// (`protocol/PROTOCOL.md#replace-where`): delta-rs's predicate overwrite, Spark's
    /// `replaceWhere`. Every new row must satisfy the predicate.
    ///
    /// ```no_run
    /// # async fn demo(table: strata::Table, day: Vec<arrow::array::RecordBatch>) -> strata::Result<()> {
    /// // Recompute one day of a gold table; the other days are untouched.
    /// table.replace_where("day = DATE '2026-12-06'", day).execute().await?;
    /// # Ok(()) }
    /// ```
    pub fn replace_where(
        &self,
        predicate: impl IntoFilter,
        batches: impl IntoIterator<Item = RecordBatch>,
    ) -> ReplaceWhereBuilder {
        ReplaceWhereBuilder::new(
            self.latest.clone(),
            predicate.into_filter(),
            batches.into_iter().collect(),
        )
    }

    /// Sets table properties (`ALTER TABLE … SET TBLPROPERTIES`), upgrading the protocol when
    /// a property needs a feature, as Delta does (`protocol/PROTOCOL.md#table-properties`);
    /// returns the version committed.
    ///
    /// ```no_run
    /// # async fn demo(table: strata::Table) -> strata::Result<()> {
    /// table.set_properties([("delta.enableDeletionVectors", "true")]).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::NotAllowed`](crate::Error::NotAllowed) for properties strata cannot enable on an
    /// existing table (row tracking, in-commit timestamps, a column mapping mode other than
    /// none to name); [`Error::ConstraintViolation`](crate::Error::ConstraintViolation) for a
    /// `delta.constraints.*` property existing rows break;
    /// [`Error::Conflict`](crate::Error::Conflict) when another commit won the race.
    pub async fn set_properties<K: Into<String>, V: Into<String>>(
        &self,
        properties: impl IntoIterator<Item = (K, V)>,
    ) -> Result<i64> {
        let properties = properties
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        crate::ops::alter::set_properties(&self.latest, properties).await
    }

    /// Starts an `ALTER TABLE`: columns added, renamed, dropped, widened or made (non-)nullable,
    /// properties, CHECK constraints and comments, all committed as one version
    /// (`protocol/PROTOCOL.md#schema-evolution`).
    ///
    /// ```no_run
    /// # async fn demo(table: strata::Table) -> strata::Result<()> {
    /// use strata::{DataType, NewColumn};
    /// table
    ///     .alter()
    ///     .add_column(NewColumn::new("year", DataType::INTEGER))
    ///     .add_constraint("positive_amount", "amount > 0")
    ///     .execute()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn alter(&self) -> crate::AlterBuilder {
        crate::AlterBuilder::new(self.latest.clone())
    }

    /// The table's tags, by name (`protocol/PROTOCOL.md#tags`): its `_strata/tags/` side
    /// files, and tags an earlier strata version kept in the log.
    ///
    /// # Errors
    /// [`Error::CorruptTag`](crate::Error::CorruptTag) for a side file that is not a tag;
    /// storage errors.
    pub async fn tags(&self) -> Result<BTreeMap<String, Tag>> {
        tags::tags(&self.latest).await
    }

    // --- Writing ------------------------------------------------------------------------

    /// Starts a write of `batches` (append by default; see [`WriteBuilder`]).
    pub fn write(&self, batches: impl IntoIterator<Item = RecordBatch>) -> WriteBuilder {
        WriteBuilder::new(self.latest.clone(), batches.into_iter().collect())
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
        WriteBuilder::from_stream(self.latest.clone(), batches)
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

    // --- Rolling back and naming versions ---------------------------------------------

    /// Makes the table's live files, schema and properties equal to `version`'s again, in one
    /// new commit (operation `RESTORE`). Later versions stay readable by time travel.
    ///
    /// # Errors
    /// [`Error::VersionNotFound`](crate::Error::VersionNotFound) when the version cannot be
    /// read, [`Error::NotAllowed`](crate::Error::NotAllowed) when files it needs were deleted,
    /// [`Error::Conflict`](crate::Error::Conflict) when concurrent writers keep winning.
    pub async fn restore_to_version(&self, version: i64) -> Result<UndoResult> {
        let target = self.snapshot_at_version(version).await?;
        restore::restore(&self.latest, target, None).await
    }

    /// Restores the version that was current at `timestamp` (see
    /// [`Table::restore_to_version`]).
    ///
    /// # Errors
    /// [`Error::TimestampOutOfRange`](crate::Error::TimestampOutOfRange); as
    /// [`Table::restore_to_version`].
    pub async fn restore_to_timestamp(
        &self,
        timestamp: chrono::DateTime<chrono::Utc>,
    ) -> Result<UndoResult> {
        let target = self.snapshot_at_timestamp(timestamp).await?;
        restore::restore(&self.latest, target, Some(timestamp)).await
    }

    /// Restores the version tag `name` pins (see [`Table::restore_to_version`]).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) for an unknown tag; as
    /// [`Table::restore_to_version`].
    pub async fn restore_to_tag(&self, name: &str) -> Result<UndoResult> {
        let target = self.snapshot_at_tag(name).await?;
        restore::restore(&self.latest, target, None).await
    }

    /// Undoes commit `version` and keeps every commit after it: removes the files it added
    /// (still live) and adds back the files it removed, in one new commit (operation
    /// `REVERT`). Refused when a later commit touched the same files or changed the schema,
    /// naming those commits, and for commits that changed metadata (use restore).
    ///
    /// # Errors
    /// [`Error::NotAllowed`](crate::Error::NotAllowed) with the reason;
    /// [`Error::VersionNotFound`](crate::Error::VersionNotFound) when the commit or the
    /// version before it is no longer in the log; [`Error::Conflict`](crate::Error::Conflict)
    /// when a concurrent writer removed a file the revert removes.
    pub async fn revert(&self, version: i64) -> Result<UndoResult> {
        restore::revert(&self.latest, version).await
    }

    /// Names `version`: `table.tag("train-2026-11", 41)`. The tag is a side file, not a
    /// commit, so the log and the protocol are unchanged and other Delta clients can still
    /// write the table (`protocol/PROTOCOL.md#tags`). Returns `true` when the tag was created;
    /// tagging the version a name already names is a no-op (`false`), and a name already on
    /// another version is refused (delete it first). Tags an earlier strata version kept in
    /// the log are migrated first.
    ///
    /// # Errors
    /// [`Error::VersionNotFound`](crate::Error::VersionNotFound) when the version cannot be
    /// read, [`Error::NotAllowed`](crate::Error::NotAllowed) for a name taken by another
    /// version, [`Error::InvalidArgument`](crate::Error::InvalidArgument) for a bad name,
    /// [`Error::Conflict`](crate::Error::Conflict) when concurrent writers keep winning the
    /// migration commit.
    pub async fn tag(&self, name: &str, version: i64) -> Result<bool> {
        tags::tag(&self.latest, name, version).await
    }

    /// Deletes a tag; returns what it named.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) when there is no such tag; as
    /// [`Table::tag`] otherwise.
    pub async fn delete_tag(&self, name: &str) -> Result<Tag> {
        tags::delete_tag(&self.latest, name).await
    }

    // --- Maintenance --------------------------------------------------------------------

    /// Starts a compaction of small files (`protocol/PROTOCOL.md#optimize`).
    pub fn optimize(&self) -> OptimizeBuilder {
        OptimizeBuilder::new(self.latest.clone())
    }

    /// Starts a vacuum: deleting data files no retained or tagged version reads
    /// (`protocol/PROTOCOL.md#vacuum`).
    pub fn vacuum(&self) -> VacuumBuilder {
        VacuumBuilder::new(self.latest.clone())
    }

    /// Writes a checkpoint of the latest version now, then `_last_checkpoint`
    /// (`protocol/PROTOCOL.md#checkpoints`), as the automatic checkpoint every
    /// `delta.checkpointInterval` commits does.
    ///
    /// # Errors
    /// As [`write_checkpoint`], and [`Table::snapshot`].
    pub async fn checkpoint(&self) -> Result<CheckpointInfo> {
        let snapshot = self.snapshot().await?;
        write_checkpoint(&snapshot).await
    }

    /// Deletes commit and checkpoint files older than the table's log retention
    /// (`delta.logRetentionDuration`, default `interval 30 days`) once a newer checkpoint covers
    /// them (`protocol/PROTOCOL.md#log-cleanup`). Versions inside the retention window stay
    /// readable by version and by timestamp; older ones then give
    /// [`Error::VersionNotFound`](crate::Error::VersionNotFound). Runs whatever
    /// `delta.enableExpiredLogCleanup` says (that property only turns off the automatic cleanup
    /// after a checkpoint).
    ///
    /// # Errors
    /// [`Error::UnsupportedWriterFeatures`](crate::Error::UnsupportedWriterFeatures) when
    /// strata cannot honour the table's writer protocol; [`Error::Storage`](crate::Error::Storage)
    /// when listing or a deletion fails; as [`Table::snapshot`].
    pub async fn cleanup_log(&self) -> Result<CleanupReport> {
        let snapshot = self.snapshot().await?;
        cleanup_expired_logs(&snapshot, chrono::Utc::now().timestamp_millis()).await
    }
}

/// What can be done with a snapshot (what a snapshot *is* lives in `snapshot/`).
impl Snapshot {
    /// Starts a scan of this snapshot's data.
    pub fn scan(&self) -> ScanBuilder {
        ScanBuilder::new(self.clone())
    }

    /// The commits up to this snapshot's version, newest first, at most `limit` of them
    /// (all still in the log when `None`).
    ///
    /// # Errors
    /// [`Error::Storage`](crate::Error::Storage) listing or reading the log,
    /// [`Error::CorruptLog`](crate::Error::CorruptLog) for a commit that does not parse.
    pub async fn history(&self, limit: Option<usize>) -> Result<Vec<HistoryEntry>> {
        history::history(self, limit).await
    }

    /// The files this snapshot and `other` do not share: `added` are live in `other` only,
    /// `removed` in `self` only. Loads both snapshots' statistics for the row counts.
    ///
    /// # Errors
    /// As [`Snapshot::load_stats`].
    pub async fn diff(&self, other: &Snapshot) -> Result<TableDiff> {
        diff::diff(self, other).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::schema::StructType;
    use crate::storage::Storage;

    fn assert_spawnable<F: std::future::Future + Send + 'static>(_: F) {}

    fn refusal(ddl: &str, partitions: &[&str], properties: &[(&str, &str)]) -> String {
        let mut builder =
            Table::create("memory://validate/t").with_partition_columns(partitions.iter().copied());
        for (k, v) in properties {
            builder = builder.with_property(*k, *v);
        }
        let schema = StructType::from_ddl(ddl).unwrap();
        match builder.definition.validate(&schema) {
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
            refusal("a int", &[], &[("delta.columnMapping.mode", "magic")])
                .contains("not a column mapping mode")
        );
        // With column mapping, names need not be valid Parquet names.
        let mapped =
            Table::create("memory://validate/t").with_property("delta.columnMapping.mode", "name");
        assert!(
            mapped
                .definition
                .validate(&StructType::from_ddl("`a b` int, `x=y` string").unwrap())
                .is_ok()
        );
        let ok = Table::create("memory://validate/t")
            .with_partition_columns(["p"])
            .with_property("delta.columnMapping.mode", "none");
        assert!(
            ok.definition
                .validate(&StructType::from_ddl("p string, `ümlaut_名` int").unwrap())
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
