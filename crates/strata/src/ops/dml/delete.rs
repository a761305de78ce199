//! `DELETE FROM table WHERE predicate` (`protocol/PROTOCOL.md#delete`).
//!
//! Files are chosen as a scan chooses them (partition values and statistics prune the rest), and
//! then:
//! - a file whose every row matches is removed without reading it: no predicate, or a predicate
//!   over partition columns only that is true of the file's partition values;
//! - any other candidate is read (its live rows, in stored order) and the predicate evaluated
//!   on every row; rows where it is true are deleted, rows where it is false or null are kept;
//! - a file with deleted rows is removed when none is left, else rewritten without them
//!   (copy-on-write) or, with `delta.enableDeletionVectors` on a table that supports the
//!   feature, re-added with a deletion vector covering the old and the new rows; all the
//!   commit's vectors go into one DV file, each at its offset. Statistics of a file with a new
//!   vector are kept, marked `tightBounds: false`.
//!
//! The commit (operation `DELETE`) reads the candidate files and the predicate: a concurrent
//! commit that removed one of them conflicts, and so does one that added a file the predicate
//! may match, unless it is a blind append (write-serializable isolation). Any other winner is
//! committed over. On a table with the change data feed, a copy-on-write delete also writes the
//! rows it deleted as `cdc` files (deleting whole files and writing vectors need none; the feed
//! derives their rows).

use std::sync::Arc;

use crate::expr::value::definitely_true;
use arrow::array::{Array, BooleanArray, RecordBatch};
use arrow::datatypes::{Field, Schema};
use futures::{StreamExt, TryStreamExt};
use roaring::RoaringTreemap;

use crate::error::{Error, Result};
use crate::expr::ExprError;
use crate::expr::predicate::Predicate;
use crate::protocol::actions::{Add, Cdc, file_key};
use crate::protocol::deletion_vector::DvFileWriter;
use crate::protocol::partition;
use crate::protocol::schema::column_mapping::physical_name;
use crate::read::is_partition_column;
use crate::read::scan::{IntoFilter, ScanBuilder, add_may_match};
use crate::snapshot::Snapshot;
use crate::snapshot::latest::LatestSnapshot;
use crate::transaction::Transaction;
use crate::transaction::conflict::ReadPredicate;
use crate::write::WriterOptions;
use crate::write::cdc::write_cdc_files;
use crate::write::write_stream_files;

use super::DmlProgress;
use super::files::{
    FileProgress, LiveRows, ProgressFn, READ_CONCURRENCY, refuse_append_only,
    refuse_copies_under_row_tracking, stage_changes, with_vector, writes_deletion_vectors,
};

/// What a delete did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeleteResult {
    /// The version committed; `None` when no row matched (nothing is committed).
    pub version: Option<i64>,
    /// Rows deleted.
    pub num_deleted_rows: u64,
    /// Files removed (whole, rewritten, or re-added with a vector).
    pub num_removed_files: u64,
    /// Files added by copy-on-write rewrites.
    pub num_added_files: u64,
    /// Rows copied into rewritten files.
    pub num_copied_rows: u64,
    /// Deletion vectors written.
    pub num_deletion_vectors_added: u64,
}

/// A delete request, built by [`Table::delete`](crate::Table::delete).
#[must_use = "a delete does nothing until executed"]
pub struct DeleteBuilder {
    latest: LatestSnapshot,
    filter: Option<std::result::Result<crate::expr::Expr, ExprError>>,
    expected_version: Option<i64>,
    progress: Option<ProgressFn>,
}

impl DeleteBuilder {
    pub(crate) fn new(latest: LatestSnapshot) -> DeleteBuilder {
        DeleteBuilder {
            latest,
            filter: None,
            expected_version: None,
            progress: None,
        }
    }

    /// Calls `progress` once the files to read are known and after each is done (files
    /// removed whole are not read and not counted).
    pub fn with_progress(mut self, progress: impl Fn(DmlProgress) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(progress));
        self
    }

    /// Deletes only the rows for which `predicate` is true (all rows without one).
    pub fn with_predicate(mut self, predicate: impl IntoFilter) -> Self {
        self.filter = Some(predicate.into_filter());
        self
    }

    /// Commits only on top of `version` (see
    /// [`WriteBuilder::with_expected_version`](crate::WriteBuilder::with_expected_version)).
    pub fn with_expected_version(mut self, version: i64) -> Self {
        self.expected_version = Some(version);
        self
    }

    /// Finds, reads and deletes the matching rows, and commits.
    ///
    /// # Errors
    /// [`Error::Predicate`] for a bad predicate (nothing read); [`Error::NotAllowed`] on an
    /// append-only table, or for a copy-on-write rewrite on a table with row tracking;
    /// [`Error::Conflict`] when a concurrent commit removed a file the delete read or added
    /// one its predicate may match; read and write errors.
    pub async fn execute(self) -> Result<DeleteResult> {
        let snapshot = self.latest.get_confirmed().await?;
        snapshot.require_writable()?;
        refuse_append_only(&snapshot, "delete")?;
        let planned = plan_delete(&snapshot, self.filter.clone(), self.progress.clone()).await?;
        if planned.outcome.is_empty() {
            return Ok(DeleteResult::default());
        }
        let mut tx = Transaction::new(&snapshot, "DELETE");
        if let Some(filter) = &self.filter
            && let Ok(expr) = filter
        {
            tx = tx.with_parameter(
                "predicate",
                serde_json::json!([expr.to_string()]).to_string(),
            );
        }
        if let Some(v) = self.expected_version {
            tx = tx.with_expected_version(v);
        }
        planned.read_into(&mut tx, &snapshot);
        let result = planned.outcome.commit(tx, &snapshot).await?;
        self.latest.remember_committed(&result.1);
        Ok(result.0)
    }
}

/// A deletion worked out and its files written, not yet committed: what delete commits, and
/// what a `replace_where` write removes.
pub(super) struct Planned {
    pub(super) outcome: Outcome,
    candidates: Vec<Add>,
    predicate: Option<Arc<Predicate>>,
}

impl Planned {
    /// Records on `tx` what the deletion read: its candidate files, and its predicate (a
    /// concurrent non-blind commit adding a file it may match conflicts).
    pub(super) fn read_into(&self, tx: &mut Transaction, snapshot: &Snapshot) {
        tx.read_files(
            self.candidates
                .iter()
                .map(|a| file_key(&a.path, a.deletion_vector.as_ref())),
        );
        match &self.predicate {
            Some(p) => {
                let (p, partition_columns) = (p.clone(), snapshot.partition_columns().to_vec());
                tx.read_predicate(ReadPredicate(Arc::new(move |add: &Add| {
                    add_may_match(&p, &partition_columns, add)
                })));
            }
            None => tx.read_whole_table(),
        }
    }
}

/// Finds the rows `filter` matches and writes what removing them takes (rewrites, vectors,
/// change files), committing nothing.
pub(super) async fn plan_delete(
    snapshot: &Snapshot,
    filter: Option<std::result::Result<crate::expr::Expr, ExprError>>,
    progress: Option<ProgressFn>,
) -> Result<Planned> {
    let mut scan = ScanBuilder::new(snapshot.clone());
    if let Some(filter) = filter {
        scan = scan.with_filter_result(filter);
    }
    snapshot.load_stats().await?;
    let plan = scan.plan().await?;
    let predicate = plan.predicate().cloned().map(Arc::new);
    let candidates = plan.files().to_vec();
    let vectors = writes_deletion_vectors(snapshot);
    // A copy-on-write commit on a table with the change feed carries `cdc` files with every
    // row it deleted. Whole files never share a commit with read ones (the predicate is over
    // partition columns or it is not), and a commit without `cdc` files reads as its removes.
    let change_rows = snapshot.table_properties().enable_change_data_feed && !vectors;
    let (whole, partial) = split_whole_files(snapshot, predicate.as_deref(), candidates.clone())?;
    if !vectors && !partial.is_empty() {
        refuse_copies_under_row_tracking(snapshot, "delete")?;
    }
    let mut outcome = Outcome::default();
    for add in whole {
        outcome.remove_whole(add);
    }
    let reads = Reads {
        keep_rows: !vectors,
        deleted_rows: change_rows,
    };
    let progress = Arc::new(FileProgress::start(progress, partial.len()));
    let matched: Vec<(Add, Matches)> = futures::stream::iter(partial.into_iter().map(|add| {
        let (snapshot, predicate, progress) =
            (snapshot.clone(), predicate.clone(), progress.clone());
        async move {
            let matches = matching_rows(&snapshot, predicate.as_deref(), &add, reads).await?;
            progress.file_done();
            Ok::<_, Error>((add, matches))
        }
    }))
    .buffered(READ_CONCURRENCY)
    .try_collect()
    .await?;
    outcome.apply(snapshot, matched, vectors).await?;
    if change_rows && !outcome.deleted_rows.is_empty() {
        outcome.cdc = write_cdc_files(snapshot, &outcome.deleted_rows, "delete").await?;
    }
    Ok(Planned {
        outcome,
        candidates,
        predicate,
    })
}

/// The candidates every row of which matches (removed unread), and the rest.
fn split_whole_files(
    snapshot: &Snapshot,
    predicate: Option<&Predicate>,
    candidates: Vec<Add>,
) -> Result<(Vec<Add>, Vec<Add>)> {
    let Some(predicate) = predicate else {
        return Ok((candidates, Vec::new()));
    };
    let partition_columns = snapshot.partition_columns();
    let partition_only = predicate
        .columns()
        .iter()
        .all(|c| is_partition_column(&c.path, partition_columns));
    if !partition_only {
        return Ok((Vec::new(), candidates));
    }
    let mut whole = Vec::new();
    for add in candidates {
        if partition_values_match(snapshot, predicate, &add)? {
            whole.push(add);
        }
    }
    // A partition-only predicate is false or null for every row of the other candidates.
    Ok((whole, Vec::new()))
}

/// The predicate (over partition columns only) evaluated exactly on a file's partition values,
/// with SQL's null semantics: only `true` matches.
fn partition_values_match(snapshot: &Snapshot, predicate: &Predicate, add: &Add) -> Result<bool> {
    let schema = snapshot.arrow_schema();
    let lookup = snapshot.column_lookup();
    let mut fields = Vec::new();
    let mut columns = Vec::new();
    for name in snapshot.partition_columns() {
        let field = schema.field_with_name(name)?;
        let value = add
            .partition_values
            .get(physical_name(field, lookup))
            .and_then(|v| v.as_deref());
        columns.push(partition::parse_value(value, field.data_type(), 1)?);
        fields.push(Field::new(field.name(), field.data_type().clone(), true));
    }
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?;
    let result = predicate.evaluate(&batch)?;
    Ok(result.is_valid(0) && result.value(0))
}

/// What a read candidate holds: its live rows, which of them (by position in the file) the
/// predicate deletes, and, for copy-on-write, the rows it keeps.
struct Matches {
    live_rows: u64,
    /// Physical row indexes the delete adds to the file's deleted rows.
    deleted: RoaringTreemap,
    /// The file's current vector (the rows already deleted).
    old_vector: RoaringTreemap,
    /// Rows kept, for a copy-on-write rewrite.
    kept: Vec<RecordBatch>,
    /// Rows deleted, for the change feed.
    deleted_rows: Vec<RecordBatch>,
}

/// What to keep of a read candidate's rows besides which are deleted.
#[derive(Debug, Clone, Copy)]
struct Reads {
    /// The rows that stay (copy-on-write).
    keep_rows: bool,
    /// The rows that go (change data files).
    deleted_rows: bool,
}

/// Reads `add`'s live rows and evaluates `predicate` on them (no predicate: every row goes).
async fn matching_rows(
    snapshot: &Snapshot,
    predicate: Option<&Predicate>,
    add: &Add,
    reads: Reads,
) -> Result<Matches> {
    // Deletion vectors without the change feed need only the predicate's columns.
    let columns: Option<Vec<String>> = (!reads.keep_rows && !reads.deleted_rows)
        .then(|| predicate.map(|p| p.columns().iter().map(|c| c.path[0].clone()).collect()))
        .flatten();
    let mut rows = LiveRows::open(snapshot, add, columns.as_deref()).await?;
    let mut matches = Matches {
        live_rows: 0,
        deleted: RoaringTreemap::new(),
        old_vector: RoaringTreemap::new(),
        kept: Vec::new(),
        deleted_rows: Vec::new(),
    };
    while let Some((batch, positions)) = rows.next().await? {
        let hit = match predicate {
            Some(p) => definitely_true(&p.evaluate(&batch)?),
            None => BooleanArray::from(vec![true; batch.num_rows()]),
        };
        for (i, position) in positions.iter().enumerate() {
            if hit.value(i) {
                matches.deleted.insert(*position);
            }
        }
        if reads.keep_rows {
            let kept = arrow::compute::filter_record_batch(&batch, &arrow::compute::not(&hit)?)?;
            if kept.num_rows() > 0 {
                matches.kept.push(kept);
            }
        }
        if reads.deleted_rows {
            let gone = arrow::compute::filter_record_batch(&batch, &hit)?;
            if gone.num_rows() > 0 {
                matches.deleted_rows.push(gone);
            }
        }
    }
    matches.live_rows = rows.live_rows;
    matches.old_vector = rows.old_vector;
    Ok(matches)
}

/// The actions a delete commits, and its counts.
#[derive(Default)]
pub(super) struct Outcome {
    removes: Vec<Add>,
    /// Files added: rewrites (and, for a `replace_where` write, the new data).
    pub(super) adds: Vec<Add>,
    pub(super) result: DeleteResult,
    vectors: DvFileWriter,
    /// Deleted rows, when the commit writes change data files.
    deleted_rows: Vec<RecordBatch>,
    /// Change data files (and, for a `replace_where` write, its inserts').
    pub(super) cdc: Vec<Cdc>,
}

impl Outcome {
    pub(super) fn is_empty(&self) -> bool {
        self.removes.is_empty()
    }

    /// A file all of whose rows go.
    fn remove_whole(&mut self, add: Add) {
        self.result.num_deleted_rows += add.num_records().unwrap_or(0).max(0) as u64;
        self.result.num_removed_files += 1;
        self.removes.push(add);
    }

    /// Turns each read candidate's matches into removes and adds: whole removes, copy-on-write
    /// rewrites (written here), or the file with a wider vector.
    async fn apply(
        &mut self,
        snapshot: &Snapshot,
        matched: Vec<(Add, Matches)>,
        vectors: bool,
    ) -> Result<()> {
        let mut rewrite: Vec<RecordBatch> = Vec::new();
        for (add, m) in matched {
            let deleted = m.deleted.len();
            if deleted == 0 {
                continue;
            }
            self.deleted_rows.extend(m.deleted_rows);
            self.result.num_deleted_rows += deleted;
            self.result.num_removed_files += 1;
            if deleted == m.live_rows {
                self.removes.push(add);
            } else if vectors {
                // Deletion vectors: the same file, its vector covering old and new rows.
                let readded = with_vector(&mut self.vectors, &add, &m.old_vector, &m.deleted)?;
                self.result.num_deletion_vectors_added += 1;
                self.adds.push(readded);
                self.removes.push(add);
            } else {
                self.result.num_copied_rows +=
                    m.kept.iter().map(|b| b.num_rows() as u64).sum::<u64>();
                rewrite.extend(m.kept);
                self.removes.push(add);
            }
        }
        if !rewrite.is_empty() {
            let stream = futures::stream::iter(rewrite.into_iter().map(Ok)).boxed();
            let written =
                write_stream_files(snapshot, stream, &WriterOptions::default(), "delete").await?;
            self.result.num_added_files += written.len() as u64;
            self.adds.extend(written.into_iter().map(|(add, _)| add));
        }
        Ok(())
    }

    /// Writes the DV file (if any) and commits; returns the result and the new snapshot.
    pub(super) async fn commit(
        self,
        mut tx: Transaction,
        snapshot: &Snapshot,
    ) -> Result<(DeleteResult, Option<Snapshot>)> {
        let Outcome {
            removes,
            adds,
            mut result,
            vectors,
            deleted_rows: _,
            cdc,
        } = self;
        if !cdc.is_empty() {
            tx.set_metric("numAddedChangeFiles", cdc.len());
        }
        stage_changes(&mut tx, snapshot, removes, adds, cdc, vectors).await?;
        tx.set_metric("numDeletedRows", result.num_deleted_rows);
        tx.set_metric("numRemovedFiles", result.num_removed_files);
        tx.set_metric("numAddedFiles", result.num_added_files);
        tx.set_metric("numCopiedRows", result.num_copied_rows);
        tx.set_metric("numDeletionVectorsAdded", result.num_deletion_vectors_added);
        let committed = tx.commit().await?;
        result.version = Some(committed.version);
        Ok((result, committed.snapshot))
    }
}
