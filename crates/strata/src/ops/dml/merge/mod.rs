//! `MERGE INTO target USING source ON … WHEN …` (`protocol/PROTOCOL.md#merge`).
//!
//! The source is read into memory once (bounded by [`MergeBuilder::with_source_memory_limit`])
//! and its `ON` keys hashed. Target files are pruned to those whose partition values and key
//! statistics may hold a source key (all files when a `NOT MATCHED BY SOURCE` clause needs
//! every target row), then read one at a time per worker: each target row is matched with the
//! source rows of equal keys for which the rest of `ON` holds. More than one match is
//! [`Error::MergeMultipleMatches`] unless the only matched clause is an unconditional delete.
//! Clauses are tried in order; the first whose condition holds acts. A file with changed rows
//! is rewritten at once (copy-on-write) or keeps its other rows under a deletion vector, so
//! memory is the source and its index plus the files in flight. Source rows no target row
//! matched go to the `NOT MATCHED` clauses. With the change data feed, the commit carries
//! `cdc` files of every change.

mod clauses;
mod join;

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch, UInt32Array, new_null_array};
use arrow::compute::{concat_batches, interleave, take_record_batch};
use arrow::datatypes::Schema;
use futures::{StreamExt, TryStreamExt};
use roaring::RoaringTreemap;

pub use clauses::MergeClause;
use clauses::{Aliases, Bound, Clauses, Kind, Written, bind_clauses, qualify, side_schema};
use join::{JoinOn, SourceIndex, side, split_on};

use super::assign::apply;
use super::files::{
    LiveRows, refuse_copies_under_row_tracking, stage_changes, with_vector, writes_deletion_vectors,
};
use crate::error::{Error, Result};
use crate::expr::predicate::Predicate;
use crate::expr::value::{definitely_true, split_rows};
use crate::expr::{Expr, ExprError};
use crate::protocol::actions::{Add, Cdc, file_key};
use crate::protocol::deletion_vector::DvFileWriter;
use crate::read::RecordBatchStream;
use crate::read::scan::{ScanBuilder, add_may_match};
use crate::snapshot::Snapshot;
use crate::snapshot::latest::LatestSnapshot;
use crate::transaction::conflict::ReadPredicate;
use crate::transaction::{CommitExtras, Transaction};
use crate::write::WriterOptions;
use crate::write::cdc::write_cdc_files;
use crate::write::write_stream_files;

/// Target files merged at once.
const FILE_CONCURRENCY: usize = 2;
/// The default bound on the source's memory.
const DEFAULT_SOURCE_LIMIT: usize = 2 << 30;

/// What a merge did, with Delta's metric names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MergeResult {
    /// The version committed; `None` when nothing changed (nothing is committed).
    pub version: Option<i64>,
    /// Source rows.
    pub num_source_rows: u64,
    /// Rows inserted by `NOT MATCHED` clauses.
    pub num_target_rows_inserted: u64,
    /// Rows updated (matched and by-source clauses).
    pub num_target_rows_updated: u64,
    /// Rows deleted (matched and by-source clauses).
    pub num_target_rows_deleted: u64,
    /// Unchanged rows copied into rewritten files.
    pub num_target_rows_copied: u64,
    /// Data files added.
    pub num_target_files_added: u64,
    /// Data files removed (rewritten, or re-added with a vector).
    pub num_target_files_removed: u64,
    /// Deletion vectors written.
    pub num_target_deletion_vectors_added: u64,
    /// Change data files written.
    pub num_target_change_files_added: u64,
    /// The table already held this merge's `txn` versions, so nothing was done.
    pub already_applied: bool,
}

/// Where a merge's rows come from.
pub enum MergeSource {
    /// Batches in memory.
    Batches(Vec<RecordBatch>),
    /// A stream, such as a scan of another table at some version.
    Stream(RecordBatchStream),
}

impl From<Vec<RecordBatch>> for MergeSource {
    fn from(batches: Vec<RecordBatch>) -> Self {
        MergeSource::Batches(batches)
    }
}

impl From<RecordBatch> for MergeSource {
    fn from(batch: RecordBatch) -> Self {
        MergeSource::Batches(vec![batch])
    }
}

impl From<RecordBatchStream> for MergeSource {
    fn from(stream: RecordBatchStream) -> Self {
        MergeSource::Stream(stream)
    }
}

/// A merge, built by [`Table::merge`](crate::Table::merge).
#[must_use = "a merge does nothing until executed"]
pub struct MergeBuilder {
    latest: LatestSnapshot,
    source: MergeSource,
    on: std::result::Result<Expr, ExprError>,
    aliases: Aliases,
    clauses: Vec<Written>,
    expected_version: Option<i64>,
    source_limit: usize,
    extras: CommitExtras,
    schema_mode: Option<crate::SchemaMode>,
}

impl MergeBuilder {
    pub(crate) fn new(
        latest: LatestSnapshot,
        source: MergeSource,
        on: std::result::Result<Expr, ExprError>,
    ) -> MergeBuilder {
        MergeBuilder {
            latest,
            source,
            on,
            aliases: Aliases {
                target: "target".into(),
                source: "source".into(),
            },
            clauses: Vec::new(),
            expected_version: None,
            source_limit: DEFAULT_SOURCE_LIMIT,
            extras: CommitExtras::default(),
            schema_mode: None,
        }
    }

    /// Merge with schema evolution (Delta's `withSchemaEvolution()`, `MERGE WITH SCHEMA
    /// EVOLUTION`): [`SchemaMode::Merge`](crate::SchemaMode::Merge) adds the source's columns
    /// the target lacks (nullable, nested fields too) in the merge's commit, so `UPDATE SET *`
    /// and `INSERT *` carry them (`protocol/PROTOCOL.md#schema-evolution`). Existing target
    /// rows read them as null. `SchemaMode::Overwrite` is refused.
    pub fn with_schema_mode(mut self, mode: crate::SchemaMode) -> Self {
        self.schema_mode = Some(mode);
        self
    }

    /// The names the condition and clauses use for the target and the source (default
    /// `target` and `source`).
    pub fn with_aliases(mut self, target: impl Into<String>, source: impl Into<String>) -> Self {
        self.aliases = Aliases {
            target: target.into(),
            source: source.into(),
        };
        self
    }

    fn clause(mut self, kind: Kind, build: impl FnOnce(MergeClause) -> MergeClause) -> Self {
        self.clauses.push(Written {
            kind,
            clause: build(MergeClause::default()),
        });
        self
    }

    /// `WHEN MATCHED [AND cond] THEN UPDATE SET …` (`c.set(..)`, or `c.all()`).
    pub fn when_matched_update(self, build: impl FnOnce(MergeClause) -> MergeClause) -> Self {
        self.clause(Kind::MatchedUpdate, build)
    }

    /// `WHEN MATCHED THEN UPDATE SET *`.
    pub fn when_matched_update_all(self) -> Self {
        self.when_matched_update(MergeClause::all)
    }

    /// `WHEN MATCHED [AND cond] THEN DELETE` (`|c| c` for no condition).
    pub fn when_matched_delete(self, build: impl FnOnce(MergeClause) -> MergeClause) -> Self {
        self.clause(Kind::MatchedDelete, build)
    }

    /// `WHEN NOT MATCHED [AND cond] THEN INSERT …` (`c.set(..)`, or `c.all()`); columns not set
    /// are null.
    pub fn when_not_matched_insert(self, build: impl FnOnce(MergeClause) -> MergeClause) -> Self {
        self.clause(Kind::NotMatchedInsert, build)
    }

    /// `WHEN NOT MATCHED THEN INSERT *`.
    pub fn when_not_matched_insert_all(self) -> Self {
        self.when_not_matched_insert(MergeClause::all)
    }

    /// `WHEN NOT MATCHED BY SOURCE [AND cond] THEN UPDATE SET …`.
    pub fn when_not_matched_by_source_update(
        self,
        build: impl FnOnce(MergeClause) -> MergeClause,
    ) -> Self {
        self.clause(Kind::BySourceUpdate, build)
    }

    /// `WHEN NOT MATCHED BY SOURCE [AND cond] THEN DELETE`.
    pub fn when_not_matched_by_source_delete(
        self,
        build: impl FnOnce(MergeClause) -> MergeClause,
    ) -> Self {
        self.clause(Kind::BySourceDelete, build)
    }

    /// Commits `txn(app_id, version)` with the merge, which is skipped (`already_applied`) when
    /// the table already holds that version or a later one for `app_id`; several ids are all
    /// committed, and the merge is refused with a conflict when only some are already there
    /// (`protocol/PROTOCOL.md#idempotent-writes`).
    pub fn with_txn(mut self, app_id: impl Into<String>, version: i64) -> Self {
        self.extras.add_txn(app_id, version);
        self
    }

    /// Attaches a custom field to the commit's `commitInfo`.
    pub fn with_commit_metadata(
        mut self,
        key: impl Into<String>,
        value: impl Into<serde_json::Value>,
    ) -> Self {
        self.extras.add_metadata(key, value);
        self
    }

    /// Attaches `txn` versions and `commitInfo` fields at once (see [`CommitExtras`]).
    pub fn with_commit_extras(mut self, extras: CommitExtras) -> Self {
        self.extras = extras;
        self
    }

    /// Commits only on top of `version` (see
    /// [`WriteBuilder::with_expected_version`](crate::WriteBuilder::with_expected_version)).
    pub fn with_expected_version(mut self, version: i64) -> Self {
        self.expected_version = Some(version);
        self
    }

    /// Refuses a source whose rows take more than `bytes` of memory (default 2 GiB), with
    /// [`Error::InvalidArgument`] before any target file is read.
    pub fn with_source_memory_limit(mut self, bytes: usize) -> Self {
        self.source_limit = bytes;
        self
    }

    /// Runs the merge and commits.
    ///
    /// # Errors
    /// [`Error::Predicate`] for a condition or value that does not parse or bind (a merge
    /// condition needs an equality between a target and a source column);
    /// [`Error::SchemaMismatch`] for assignments the target cannot take;
    /// [`Error::InvalidArgument`] for clauses out of order or a source over the memory limit;
    /// [`Error::MergeMultipleMatches`]; [`Error::Evaluation`] for a row an assignment fails on;
    /// [`Error::NotAllowed`] on an append-only table (unless the merge only inserts) or one
    /// with row tracking (idem); [`Error::Conflict`]; read and write errors.
    pub async fn execute(mut self) -> Result<MergeResult> {
        let source = std::mem::replace(&mut self.source, MergeSource::Batches(Vec::new()));
        let source = collect_source(source, self.source_limit).await?;
        let snapshot = self.latest.get_confirmed().await?;
        snapshot.require_writable()?;
        if self.extras.already_applied(&snapshot)? {
            return Ok(MergeResult {
                already_applied: true,
                ..MergeResult::default()
            });
        }
        // With schema evolution the merge runs on the table as it will be: same files, the
        // source's new columns added; its `metaData` is committed with the merge.
        let (snapshot, schema_actions) = match self.schema_mode {
            None => (snapshot, Vec::new()),
            Some(crate::SchemaMode::Merge) => {
                match crate::write::evolve::plan(
                    &snapshot,
                    &source.schema(),
                    crate::SchemaMode::Merge,
                    crate::WriteMode::Append,
                )? {
                    Some(change) => (change.snapshot, change.actions),
                    None => (snapshot, Vec::new()),
                }
            }
            Some(other) => {
                return Err(Error::InvalidArgument(format!(
                    "merge into {} takes schema mode merge, not {other:?}",
                    snapshot.storage().location()
                )));
            }
        };
        let location = snapshot.storage().location().to_string();
        let target = snapshot.arrow_schema();
        let source_schema = source.schema();
        let on = self.on.clone()?;
        let on = qualify(
            &on,
            &self.aliases,
            &target,
            &source_schema,
            (true, true),
            "the merge condition",
        )?;
        let join = split_on(&on, &self.aliases)?;
        let clauses = bind_clauses(
            &self.clauses,
            &self.aliases,
            &target,
            &source_schema,
            &location,
        )?;
        let inserts_only = clauses.matched.is_empty() && clauses.by_source.is_empty();
        if !inserts_only {
            if snapshot.table_properties().append_only {
                return Err(Error::NotAllowed {
                    location,
                    operation: "merge".into(),
                    reason: "the table property delta.appendOnly is true (a merge with only WHEN NOT MATCHED clauses is allowed)".into(),
                });
            }
            refuse_copies_under_row_tracking(&snapshot, "merge")?;
        }
        let index = SourceIndex::build(source, &join.keys, &target)?;
        let mut context = MergeContext::new(&snapshot, &self.aliases, &join, clauses, index)?;
        context.read_columns = context.needed_columns();
        let context = Arc::new(context);

        // Target files that may hold a match (every file when by-source clauses need all rows).
        snapshot.load_stats().await?;
        let read_filter = if context.clauses.by_source.is_empty() {
            let mut parts = join.target_only.clone();
            parts.extend(context.index.prune_filter());
            parts.into_iter().reduce(|a, b| a.and(b))
        } else {
            None
        };
        let mut scan = ScanBuilder::new(snapshot.clone());
        if let Some(filter) = read_filter.clone() {
            scan = scan.with_filter(filter);
        }
        let plan = scan.plan().await?;
        let predicate = plan.predicate().cloned();
        let candidates = plan.files().to_vec();
        let merged: Vec<FileMerge> = futures::stream::iter(candidates.iter().cloned().map(|add| {
            let context = context.clone();
            async move { context.merge_file(add).await }
        }))
        .buffer_unordered(FILE_CONCURRENCY)
        .try_collect()
        .await?;
        let outcome = context.finish(merged).await?;
        // Nothing changed: nothing to commit, unless `txn`s must still record the work done.
        if outcome.is_empty() && self.extras.txns().is_empty() {
            let mut result = outcome.result;
            result.version = None;
            return Ok(result);
        }
        let mut tx = Transaction::new(&snapshot, "MERGE")
            .with_parameter("predicate", serde_json::json!([on.to_string()]).to_string());
        for (name, described) in &context.clauses.described {
            tx = tx.with_parameter(
                name,
                serde_json::Value::Array(described.clone()).to_string(),
            );
        }
        if let Some(v) = self.expected_version {
            tx = tx.with_expected_version(v);
        }
        tx.add_actions(schema_actions);
        self.extras.apply(&mut tx);
        tx.read_files(
            candidates
                .iter()
                .map(|a| file_key(&a.path, a.deletion_vector.as_ref())),
        );
        match predicate {
            Some(p) => {
                let partition_columns = snapshot.partition_columns().to_vec();
                tx.read_predicate(ReadPredicate(Arc::new(move |add: &Add| {
                    add_may_match(&p, &partition_columns, add)
                })));
            }
            None => tx.read_whole_table(),
        }
        let (result, committed) = match outcome.commit(tx, &snapshot).await {
            Ok(done) => done,
            // Another writer committed this merge's `txn`s: already applied, when all are.
            Err(
                e @ Error::Conflict {
                    reason: crate::error::ConflictReason::TxnConflict { .. },
                    ..
                },
            ) => {
                // A fresh look that leaves the handle's cached view alone: a listing that still
                // hides the winner keeps the conflict, the safe answer.
                let latest = Snapshot::load(self.latest.storage(), None).await?;
                if self.extras.already_applied(&latest).unwrap_or(false) {
                    return Ok(MergeResult {
                        already_applied: true,
                        ..MergeResult::default()
                    });
                }
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        self.latest.remember_committed(&committed);
        Ok(result)
    }
}

/// Reads the whole source, refusing it once over `limit` bytes.
async fn collect_source(source: MergeSource, limit: usize) -> Result<RecordBatch> {
    let mut batches = Vec::new();
    let mut bytes = 0usize;
    let mut push = |batch: RecordBatch, batches: &mut Vec<RecordBatch>| {
        bytes += batch.get_array_memory_size();
        if bytes > limit {
            return Err(Error::InvalidArgument(format!(
                "the merge source takes more than {limit} bytes of memory; merge it in parts (by key range or partition), or raise with_source_memory_limit"
            )));
        }
        batches.push(batch);
        Ok(())
    };
    match source {
        MergeSource::Batches(given) => {
            for b in given {
                push(b, &mut batches)?;
            }
        }
        MergeSource::Stream(mut stream) => {
            while let Some(b) = stream.try_next().await? {
                push(b, &mut batches)?;
            }
        }
    }
    let Some(first) = batches.first() else {
        return Err(Error::InvalidArgument(
            "the merge source has no batches (give at least one, possibly empty, for its schema)"
                .into(),
        ));
    };
    if batches.len() == 1 {
        return Ok(batches.swap_remove(0));
    }
    Ok(concat_batches(&first.schema(), &batches)?)
}

/// What every file's merge needs.
struct MergeContext {
    snapshot: Snapshot,
    location: String,
    aliases: Aliases,
    clauses: Clauses,
    index: SourceIndex,
    residual: Option<Predicate>,
    /// Matched pairs must be unique (any matched clause but a lone unconditional delete).
    unique_matches: bool,
    vectors: bool,
    change_feed: bool,
    /// The table's schema (inserted rows).
    target_schema: Arc<Schema>,
    /// The target columns a file is read with: all of them, except with deletion vectors and
    /// no change feed, where only the columns conditions, keys and values read and those an
    /// update keeps are needed (`None`: all).
    read_columns: Option<Vec<String>>,
}

/// One target file's rows, merged.
struct FileMerge {
    add: Add,
    live_rows: u64,
    old_vector: RoaringTreemap,
    /// Physical positions of the updated or deleted rows.
    changed: RoaringTreemap,
    updated: u64,
    deleted: u64,
    /// Copy-on-write: the files written for it.
    rewritten: Vec<Add>,
    copied: u64,
    /// Deletion vectors: the updated rows, for new files.
    moved: Vec<RecordBatch>,
    /// Source rows some target row of this file matched.
    matched_sources: Vec<u32>,
    changes: Changes,
}

impl FileMerge {
    /// A file no source row matches.
    fn untouched(add: Add) -> FileMerge {
        FileMerge {
            add,
            live_rows: 0,
            old_vector: RoaringTreemap::new(),
            changed: RoaringTreemap::new(),
            updated: 0,
            deleted: 0,
            rewritten: Vec::new(),
            copied: 0,
            moved: Vec::new(),
            matched_sources: Vec::new(),
            changes: Changes::default(),
        }
    }
}

/// Change-feed rows.
#[derive(Default)]
struct Changes {
    preimage: Vec<RecordBatch>,
    postimage: Vec<RecordBatch>,
    deleted: Vec<RecordBatch>,
    inserted: Vec<RecordBatch>,
}

/// What a clause decided for a group of rows.
enum Decision {
    Update(RecordBatch),
    Delete,
}

impl MergeContext {
    fn new(
        snapshot: &Snapshot,
        aliases: &Aliases,
        join: &JoinOn,
        clauses: Clauses,
        index: SourceIndex,
    ) -> Result<MergeContext> {
        let target = snapshot.arrow_schema();
        let both = side_schema(&[
            (&aliases.target, &target),
            (&aliases.source, &index.rows.schema()),
        ]);
        let residual = join
            .residual
            .as_ref()
            .map(|r| Predicate::bind(r, &both))
            .transpose()?;
        let only_unconditional_delete = matches!(
            clauses.matched.as_slice(),
            [Bound {
                kind: Kind::MatchedDelete,
                condition: None,
                ..
            }]
        );
        let unique_matches = !clauses.matched.is_empty() && !only_unconditional_delete;
        Ok(MergeContext {
            snapshot: snapshot.clone(),
            location: snapshot.storage().location().to_string(),
            aliases: aliases.clone(),
            vectors: writes_deletion_vectors(snapshot),
            change_feed: snapshot.table_properties().enable_change_data_feed,
            clauses,
            index,
            residual,
            unique_matches,
            target_schema: Arc::new(target.as_ref().clone()),
            read_columns: None,
        })
    }

    /// With deletion vectors and no change feed, the target columns a merge reads: keys,
    /// those conditions and values name, and those an update does not assign (it keeps them).
    fn needed_columns(&self) -> Option<Vec<String>> {
        if !self.vectors || self.change_feed {
            return None;
        }
        let target = &self.aliases.target;
        let mut needed: std::collections::BTreeSet<String> =
            self.index.key_columns().into_iter().collect();
        let mut from = |columns: &[crate::expr::predicate::BoundColumn]| {
            for c in columns {
                if c.path.len() > 1 && &c.path[0] == target {
                    needed.insert(c.path[1].clone());
                }
            }
        };
        if let Some(r) = &self.residual {
            from(r.columns());
        }
        for clause in self.clauses.matched.iter().chain(&self.clauses.by_source) {
            if let Some(c) = &clause.condition {
                from(c.columns());
            }
            for a in &clause.assignments {
                from(a.value.columns());
            }
        }
        for clause in self.clauses.matched.iter().chain(&self.clauses.by_source) {
            if clause.kind.is_delete() {
                continue;
            }
            for field in self.target_schema.fields() {
                if !clause
                    .assignments
                    .iter()
                    .any(|a| a.field.name() == field.name())
                {
                    needed.insert(field.name().clone());
                }
            }
        }
        let all = self.target_schema.fields().len();
        (needed.len() < all).then(|| needed.into_iter().collect())
    }

    /// Target rows read with fewer columns, as the table's rows: the others null (every
    /// update assigns them, so none survives into a written row).
    fn widen(&self, rows: RecordBatch) -> Result<RecordBatch> {
        if self.read_columns.is_none() {
            return Ok(rows);
        }
        let columns = self
            .target_schema
            .fields()
            .iter()
            .map(|f| match rows.column_by_name(f.name()) {
                Some(c) => c.clone(),
                None => new_null_array(f.data_type(), rows.num_rows()),
            })
            .collect();
        Ok(RecordBatch::try_new_with_options(
            Arc::new(Schema::new(clauses::nullable(self.target_schema.fields()))),
            columns,
            &arrow::array::RecordBatchOptions::new().with_row_count(Some(rows.num_rows())),
        )?)
    }

    /// Updated rows as the table's rows (non-nullable columns checked).
    fn as_table_rows(&self, rows: RecordBatch) -> Result<RecordBatch> {
        if self.read_columns.is_none() {
            return Ok(rows);
        }
        Ok(RecordBatch::try_new(
            self.target_schema.clone(),
            rows.columns().to_vec(),
        )?)
    }

    /// A batch of the evaluation schema: the named sides, one row per index.
    fn sides(&self, parts: &[(&str, &RecordBatch, &UInt32Array)]) -> Result<RecordBatch> {
        let mut fields = Vec::new();
        let mut columns = Vec::new();
        for (name, batch, indices) in parts {
            let column = side(batch, indices)?;
            fields.push(arrow::datatypes::Field::new(
                *name,
                column.data_type().clone(),
                true,
            ));
            columns.push(column);
        }
        Ok(RecordBatch::try_new_with_options(
            Arc::new(Schema::new(fields)),
            columns,
            &arrow::array::RecordBatchOptions::new()
                .with_row_count(Some(parts.first().map_or(0, |p| p.2.len()))),
        )?)
    }

    /// Tries `clauses` in order on the rows of `eval` (whose target rows are `base`): per
    /// clause that acts, the rows it takes (indices into `eval`) and what it does.
    fn decide(
        &self,
        clauses: &[Bound],
        eval: &RecordBatch,
        base: &RecordBatch,
        file: &str,
    ) -> Result<Vec<(Vec<u32>, Decision)>> {
        let mut remaining: Vec<u32> = (0..eval.num_rows() as u32).collect();
        let mut decided = Vec::new();
        for clause in clauses {
            if remaining.is_empty() {
                break;
            }
            let rows = UInt32Array::from(remaining.clone());
            let sub = take_record_batch(eval, &rows)?;
            let holds = match &clause.condition {
                Some(c) => definitely_true(&c.evaluate(&sub)?),
                None => BooleanArray::from(vec![true; sub.num_rows()]),
            };
            let (taken, rest) = split_rows(&remaining, &holds);
            remaining = rest;
            if taken.is_empty() {
                continue;
            }
            let action = if !clause.kind.is_delete() {
                let indices = UInt32Array::from(taken.clone());
                let eval_rows = take_record_batch(eval, &indices)?;
                let base_rows = take_record_batch(base, &indices)?;
                let out = apply(&clause.assignments, &eval_rows, &base_rows)
                    .map_err(|f| f.into_error(&self.location, "merge", file))?;
                Decision::Update(out)
            } else {
                Decision::Delete
            };
            decided.push((taken, action));
        }
        Ok(decided)
    }

    /// Whether any row of `add` has a key some source row has: read from the key columns
    /// alone, so files with none are never read whole.
    async fn has_key_match(&self, add: &Add) -> Result<bool> {
        let columns = self.index.key_columns();
        let mut rows = LiveRows::open(&self.snapshot, add, Some(&columns)).await?;
        while let Some((batch, _)) = rows.next().await? {
            if !self.index.pairs(&batch)?.0.is_empty() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn merge_file(&self, add: Add) -> Result<FileMerge> {
        // A projected read is as cheap as the key check: only full reads are checked first.
        if self.clauses.by_source.is_empty()
            && self.read_columns.is_none()
            && !self.has_key_match(&add).await?
        {
            return Ok(FileMerge::untouched(add));
        }
        let mut rows = LiveRows::open(&self.snapshot, &add, self.read_columns.as_deref()).await?;
        let mut merge = FileMerge::untouched(add);
        let mut output: Vec<RecordBatch> = Vec::new();
        while let Some((batch, positions)) = rows.next().await? {
            let out = self.merge_batch(&batch, &positions, &mut merge)?;
            if let Some(out) = out {
                output.push(out);
            }
        }
        merge.live_rows = rows.live_rows;
        merge.old_vector = rows.old_vector;
        if !merge.changed.is_empty() && !self.vectors {
            merge.copied = merge.live_rows - merge.updated - merge.deleted;
            let stream = futures::stream::iter(output.into_iter().map(Ok)).boxed();
            let written =
                write_stream_files(&self.snapshot, stream, &WriterOptions::default(), "merge")
                    .await?;
            merge.rewritten = written.into_iter().map(|(a, _)| a).collect();
        }
        Ok(merge)
    }

    /// Which of the matched `(target, source)` pairs some matched clause's condition holds
    /// for (all of them when a matched clause has no condition).
    fn acting_pairs(
        &self,
        batch: &RecordBatch,
        targets: &[u32],
        sources: &[u32],
    ) -> Result<BooleanArray> {
        let all = BooleanArray::from(vec![true; targets.len()]);
        if targets.is_empty() || self.clauses.matched.iter().any(|c| c.condition.is_none()) {
            return Ok(all);
        }
        if self.clauses.matched.is_empty() {
            return Ok(BooleanArray::from(vec![false; targets.len()]));
        }
        let eval = self.sides(&[
            (
                &self.aliases.target,
                batch,
                &UInt32Array::from(targets.to_vec()),
            ),
            (
                &self.aliases.source,
                &self.index.rows,
                &UInt32Array::from(sources.to_vec()),
            ),
        ])?;
        let mut any = BooleanArray::from(vec![false; targets.len()]);
        for clause in &self.clauses.matched {
            if let Some(c) = &clause.condition {
                let holds = definitely_true(&c.evaluate(&eval)?);
                any = arrow::compute::or(&any, &holds)?;
            }
        }
        Ok(any)
    }

    /// Merges one batch of a target file; returns its rows as a copy-on-write rewrite keeps
    /// them (every live row, updated ones in place, deleted ones gone).
    fn merge_batch(
        &self,
        batch: &RecordBatch,
        positions: &[u64],
        merge: &mut FileMerge,
    ) -> Result<Option<RecordBatch>> {
        let file = merge.add.path.clone();
        let (mut targets, mut sources) = self.index.pairs(batch)?;
        if let Some(residual) = &self.residual
            && !targets.is_empty()
        {
            let eval = self.sides(&[
                (
                    &self.aliases.target,
                    batch,
                    &UInt32Array::from(targets.clone()),
                ),
                (
                    &self.aliases.source,
                    &self.index.rows,
                    &UInt32Array::from(sources.clone()),
                ),
            ])?;
            let holds = definitely_true(&residual.evaluate(&eval)?);
            let keep: Vec<usize> = (0..targets.len()).filter(|&k| holds.value(k)).collect();
            targets = keep.iter().map(|&k| targets[k]).collect();
            sources = keep.iter().map(|&k| sources[k]).collect();
        }
        merge.matched_sources.extend(&sources);
        // A target row with any match is matched (no by-source clause applies to it).
        let mut is_matched = vec![false; batch.num_rows()];
        for &t in &targets {
            is_matched[t as usize] = true;
        }
        // The pairs some matched clause would act on, as Spark counts them: more than one
        // per target row is an error (unless the merge only deletes matches).
        let acting = self.acting_pairs(batch, &targets, &sources)?;
        let mut taken = vec![false; batch.num_rows()];
        let (mut pair_targets, mut pair_sources) = (Vec::new(), Vec::new());
        for (k, (&t, &s)) in targets.iter().zip(&sources).enumerate() {
            if !acting.value(k) {
                continue;
            }
            if taken[t as usize] {
                if self.unique_matches {
                    return Err(Error::MergeMultipleMatches {
                        location: self.location.clone(),
                        key: self.index.describe_key(batch, t as usize),
                    });
                }
                continue;
            }
            taken[t as usize] = true;
            pair_targets.push(t);
            pair_sources.push(s);
        }
        // What happens to each row: None = kept, Some(Some(k)) = updated to row k of
        // `updates`, Some(None) = deleted.
        let mut fate: Vec<Option<Option<(usize, usize)>>> = vec![None; batch.num_rows()];
        let mut updates: Vec<RecordBatch> = Vec::new();
        let mut record = |decided: Vec<(Vec<u32>, Decision)>,
                          rows: &[u32],
                          fate: &mut Vec<Option<Option<(usize, usize)>>>|
         -> Result<()> {
            for (taken, action) in decided {
                let target_rows: Vec<u32> = taken.iter().map(|&k| rows[k as usize]).collect();
                let before = take_record_batch(batch, &UInt32Array::from(target_rows.clone()))?;
                match action {
                    Decision::Update(after) => {
                        let slot = updates.len();
                        for (k, &t) in target_rows.iter().enumerate() {
                            fate[t as usize] = Some(Some((slot, k)));
                        }
                        merge.updated += target_rows.len() as u64;
                        if self.change_feed {
                            merge.changes.preimage.push(before);
                            merge.changes.postimage.push(after.clone());
                        }
                        updates.push(after);
                    }
                    Decision::Delete => {
                        for &t in &target_rows {
                            fate[t as usize] = Some(None);
                        }
                        merge.deleted += target_rows.len() as u64;
                        if self.change_feed {
                            merge.changes.deleted.push(before);
                        }
                    }
                }
            }
            Ok(())
        };
        if !pair_targets.is_empty() && !self.clauses.matched.is_empty() {
            let t_idx = UInt32Array::from(pair_targets.clone());
            let eval = self.sides(&[
                (&self.aliases.target, batch, &t_idx),
                (
                    &self.aliases.source,
                    &self.index.rows,
                    &UInt32Array::from(pair_sources),
                ),
            ])?;
            let base = self.widen(take_record_batch(batch, &t_idx)?)?;
            let decided = self.decide(&self.clauses.matched, &eval, &base, &file)?;
            record(decided, &pair_targets, &mut fate)?;
        }
        if !self.clauses.by_source.is_empty() {
            let unmatched: Vec<u32> = (0..batch.num_rows() as u32)
                .filter(|&t| !is_matched[t as usize])
                .collect();
            if !unmatched.is_empty() {
                let t_idx = UInt32Array::from(unmatched.clone());
                let eval = self.sides(&[(&self.aliases.target, batch, &t_idx)])?;
                let base = self.widen(take_record_batch(batch, &t_idx)?)?;
                let decided = self.decide(&self.clauses.by_source, &eval, &base, &file)?;
                record(decided, &unmatched, &mut fate)?;
            }
        }
        let mut any = false;
        for (i, f) in fate.iter().enumerate() {
            if f.is_some() {
                merge.changed.insert(positions[i]);
                any = true;
            }
        }
        if self.vectors {
            for u in updates {
                merge.moved.push(self.as_table_rows(u)?);
            }
            return Ok(None);
        }
        if !any {
            return Ok(Some(batch.clone()));
        }
        // Copy-on-write: kept rows from the batch, updated rows from `updates`, in order.
        let mut sources_of_rows: Vec<(usize, usize)> = Vec::with_capacity(batch.num_rows());
        for (i, f) in fate.iter().enumerate() {
            match f {
                None => sources_of_rows.push((0, i)),
                Some(Some((slot, k))) => sources_of_rows.push((slot + 1, *k)),
                Some(None) => {}
            }
        }
        let columns = (0..batch.num_columns())
            .map(|c| {
                let mut arrays: Vec<&dyn Array> = vec![batch.column(c).as_ref()];
                arrays.extend(updates.iter().map(|u| u.column(c).as_ref()));
                interleave(&arrays, &sources_of_rows)
            })
            .collect::<std::result::Result<Vec<ArrayRef>, _>>()?;
        Ok(Some(RecordBatch::try_new_with_options(
            batch.schema(),
            columns,
            &arrow::array::RecordBatchOptions::new().with_row_count(Some(sources_of_rows.len())),
        )?))
    }

    /// Inserts for the unmatched source rows, vectors for the changed files, and the change
    /// files: everything the commit carries.
    async fn finish(&self, merged: Vec<FileMerge>) -> Result<Outcome> {
        let mut outcome = Outcome {
            removes: Vec::new(),
            adds: Vec::new(),
            cdc: Vec::new(),
            vectors: DvFileWriter::default(),
            result: MergeResult {
                num_source_rows: self.index.rows.num_rows() as u64,
                ..MergeResult::default()
            },
        };
        let mut matched = RoaringTreemap::new();
        let mut new_rows: Vec<RecordBatch> = Vec::new();
        let mut changes = Changes::default();
        for m in merged {
            matched.extend(m.matched_sources.iter().map(|&s| u64::from(s)));
            if m.changed.is_empty() {
                continue;
            }
            let r = &mut outcome.result;
            r.num_target_rows_updated += m.updated;
            r.num_target_rows_deleted += m.deleted;
            r.num_target_rows_copied += m.copied;
            r.num_target_files_removed += 1;
            r.num_target_files_added += m.rewritten.len() as u64;
            changes.preimage.extend(m.changes.preimage);
            changes.postimage.extend(m.changes.postimage);
            changes.deleted.extend(m.changes.deleted);
            outcome.adds.extend(m.rewritten);
            if self.vectors {
                if m.changed.len() < m.live_rows {
                    let readded =
                        with_vector(&mut outcome.vectors, &m.add, &m.old_vector, &m.changed)?;
                    r.num_target_deletion_vectors_added += 1;
                    outcome.adds.push(readded);
                }
                new_rows.extend(m.moved);
            }
            outcome.removes.push(m.add);
        }
        if !self.clauses.not_matched.is_empty() {
            let unmatched: Vec<u32> = (0..self.index.rows.num_rows() as u32)
                .filter(|&s| !matched.contains(u64::from(s)))
                .collect();
            if !unmatched.is_empty() {
                let inserted = self.insert(&unmatched)?;
                for batch in inserted {
                    outcome.result.num_target_rows_inserted += batch.num_rows() as u64;
                    if self.change_feed {
                        changes.inserted.push(batch.clone());
                    }
                    new_rows.push(batch);
                }
            }
        }
        if !new_rows.is_empty() {
            let stream = futures::stream::iter(new_rows.into_iter().map(Ok)).boxed();
            let written =
                write_stream_files(&self.snapshot, stream, &WriterOptions::default(), "merge")
                    .await?;
            outcome.result.num_target_files_added += written.len() as u64;
            outcome.adds.extend(written.into_iter().map(|(a, _)| a));
        }
        if self.change_feed && !outcome.is_empty() {
            for (rows, kind) in [
                (&changes.preimage, "update_preimage"),
                (&changes.postimage, "update_postimage"),
                (&changes.deleted, "delete"),
                (&changes.inserted, "insert"),
            ] {
                outcome
                    .cdc
                    .extend(write_cdc_files(&self.snapshot, rows, kind).await?);
            }
            outcome.result.num_target_change_files_added = outcome.cdc.len() as u64;
        }
        Ok(outcome)
    }

    /// The rows the `NOT MATCHED` clauses insert for the source rows `unmatched`.
    fn insert(&self, unmatched: &[u32]) -> Result<Vec<RecordBatch>> {
        let s_idx = UInt32Array::from(unmatched.to_vec());
        let eval = self.sides(&[(&self.aliases.source, &self.index.rows, &s_idx)])?;
        // Target-shaped rows of nulls, for the columns an insert does not set.
        let nullable = Arc::new(Schema::new(clauses::nullable(self.target_schema.fields())));
        let nulls = RecordBatch::try_new_with_options(
            nullable,
            self.target_schema
                .fields()
                .iter()
                .map(|f| new_null_array(f.data_type(), unmatched.len()))
                .collect(),
            &arrow::array::RecordBatchOptions::new().with_row_count(Some(unmatched.len())),
        )?;
        let decided = self.decide(&self.clauses.not_matched, &eval, &nulls, "the source")?;
        let mut out = Vec::new();
        for (_, action) in decided {
            let Decision::Update(rows) = action else {
                continue;
            };
            for (i, field) in self.target_schema.fields().iter().enumerate() {
                if !field.is_nullable() && rows.column(i).null_count() > 0 {
                    return Err(Error::Evaluation {
                        location: self.location.clone(),
                        operation: "merge",
                        file: "the source".into(),
                        expression: format!("INSERT ({})", field.name()),
                        message: format!(
                            "null for column `{}`, which is not nullable (set it in the insert)",
                            field.name()
                        ),
                    });
                }
            }
            out.push(RecordBatch::try_new(
                self.target_schema.clone(),
                rows.columns().to_vec(),
            )?);
        }
        Ok(out)
    }
}

/// The actions a merge commits, and its counts.
struct Outcome {
    removes: Vec<Add>,
    adds: Vec<Add>,
    cdc: Vec<Cdc>,
    vectors: DvFileWriter,
    result: MergeResult,
}

impl Outcome {
    fn is_empty(&self) -> bool {
        self.removes.is_empty() && self.adds.is_empty()
    }

    async fn commit(
        self,
        mut tx: Transaction,
        snapshot: &Snapshot,
    ) -> Result<(MergeResult, Option<Snapshot>)> {
        let Outcome {
            removes,
            adds,
            cdc,
            vectors,
            mut result,
        } = self;
        stage_changes(&mut tx, snapshot, removes, adds, cdc, vectors).await?;
        let r = &result;
        for (name, value) in [
            ("numSourceRows", r.num_source_rows),
            ("numTargetRowsInserted", r.num_target_rows_inserted),
            ("numTargetRowsUpdated", r.num_target_rows_updated),
            ("numTargetRowsDeleted", r.num_target_rows_deleted),
            ("numTargetRowsCopied", r.num_target_rows_copied),
            (
                "numOutputRows",
                r.num_target_rows_inserted + r.num_target_rows_updated + r.num_target_rows_copied,
            ),
            ("numTargetFilesAdded", r.num_target_files_added),
            ("numTargetFilesRemoved", r.num_target_files_removed),
            (
                "numTargetDeletionVectorsAdded",
                r.num_target_deletion_vectors_added,
            ),
            ("numTargetChangeFilesAdded", r.num_target_change_files_added),
        ] {
            tx.set_metric(name, value);
        }
        let committed = tx.commit().await?;
        result.version = Some(committed.version);
        Ok((result, committed.snapshot))
    }
}
