//! `UPDATE table SET col = expr, … WHERE predicate` (`protocol/PROTOCOL.md#update`).
//!
//! Assignments are bound and type-checked against the table schema before any file is read:
//! each names a top-level column once, and its value must be storable in the column (the same
//! type, a number into a number, anything atomic into a string, a date into a timestamp, or a
//! literal that is exactly a value of the column's type); otherwise `CAST` it. Every assignment
//! is evaluated on the rows as they were (`SET a = b, b = a` swaps), only on the rows the
//! predicate is true for, with ANSI errors: a failing row fails the update, naming the file,
//! and nothing is committed.
//!
//! Candidates are pruned as a scan prunes them, then read. A file with updated rows is rewritten
//! with them in place (copy-on-write), or, with deletion vectors, keeps its other rows under a
//! vector while the updated rows go to new files. On a table with the change data feed the
//! commit carries `cdc` files with each updated row's `update_preimage` and `update_postimage`.
//! Conflicts are a delete's: the files read, and the predicate against non-blind winners.

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, RecordBatch, UInt32Array};
use arrow::compute::{interleave, take_record_batch};
use futures::{StreamExt, TryStreamExt};
use roaring::RoaringTreemap;

use super::DmlProgress;
use super::assign::{Assignment, apply, bind_assignments};
use super::files::{
    FileProgress, LiveRows, ProgressFn, READ_CONCURRENCY, refuse_append_only,
    refuse_copies_under_row_tracking, stage_changes, with_vector, writes_deletion_vectors,
};
use crate::error::{Error, Result};
use crate::expr::predicate::Predicate;
use crate::expr::value::definitely_true;
use crate::expr::{Expr, ExprError};
use crate::protocol::actions::{Add, file_key};
use crate::protocol::deletion_vector::DvFileWriter;
use crate::read::scan::{IntoFilter, ScanBuilder, add_may_match};
use crate::snapshot::Snapshot;
use crate::snapshot::latest::LatestSnapshot;
use crate::transaction::Transaction;
use crate::transaction::conflict::ReadPredicate;
use crate::write::WriterOptions;
use crate::write::cdc::write_cdc_files;
use crate::write::write_stream_files;

/// What an update did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct UpdateResult {
    /// The version committed; `None` when no row matched (nothing is committed).
    pub version: Option<i64>,
    /// Rows updated.
    pub num_updated_rows: u64,
    /// Rows copied unchanged into rewritten files.
    pub num_copied_rows: u64,
    /// Files added (rewrites, or the updated rows' new files).
    pub num_added_files: u64,
    /// Files removed (rewritten, or re-added with a vector).
    pub num_removed_files: u64,
    /// Deletion vectors written.
    pub num_deletion_vectors_added: u64,
    /// Change data files written.
    pub num_added_change_files: u64,
}

/// An update request, built by [`Table::update`](crate::Table::update).
#[must_use = "an update does nothing until executed"]
pub struct UpdateBuilder {
    latest: LatestSnapshot,
    filter: Option<std::result::Result<Expr, ExprError>>,
    assignments: Vec<(String, std::result::Result<Expr, ExprError>)>,
    expected_version: Option<i64>,
    progress: Option<ProgressFn>,
}

impl UpdateBuilder {
    pub(crate) fn new(latest: LatestSnapshot) -> UpdateBuilder {
        UpdateBuilder {
            latest,
            filter: None,
            assignments: Vec::new(),
            expected_version: None,
            progress: None,
        }
    }

    /// Calls `progress` once the files to read are known and after each is read and, without
    /// deletion vectors, rewritten.
    pub fn with_progress(mut self, progress: impl Fn(DmlProgress) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(progress));
        self
    }

    /// Updates only the rows for which `predicate` is true (all rows without one).
    pub fn with_predicate(mut self, predicate: impl IntoFilter) -> Self {
        self.filter = Some(predicate.into_filter());
        self
    }

    /// Sets `column` to `value` (an [`Expr`] or SQL text such as `"price * 1.1"`) in every
    /// updated row.
    pub fn set(mut self, column: impl Into<String>, value: impl IntoFilter) -> Self {
        self.assignments.push((column.into(), value.into_filter()));
        self
    }

    /// Commits only on top of `version` (see
    /// [`WriteBuilder::with_expected_version`](crate::WriteBuilder::with_expected_version)).
    pub fn with_expected_version(mut self, version: i64) -> Self {
        self.expected_version = Some(version);
        self
    }

    /// Finds, rewrites and commits the updated rows.
    ///
    /// # Errors
    /// [`Error::Predicate`] for an expression that does not parse or bind;
    /// [`Error::SchemaMismatch`] for an assignment to a column the table lacks, twice, or of a
    /// value the column cannot store; [`Error::InvalidArgument`] without assignments (nothing
    /// read for any of these); [`Error::Evaluation`] when an assignment fails on a row;
    /// [`Error::NotAllowed`] on an append-only table or one with row tracking;
    /// [`Error::Conflict`] as for a delete; read and write errors.
    pub async fn execute(self) -> Result<UpdateResult> {
        let snapshot = self.latest.get_confirmed().await?;
        snapshot.require_writable()?;
        refuse_append_only(&snapshot, "update")?;
        let assignments = bind_update(&snapshot, &self.assignments)?;
        refuse_copies_under_row_tracking(&snapshot, "update")?;
        let mut scan = ScanBuilder::new(snapshot.clone());
        if let Some(filter) = self.filter.clone() {
            scan = scan.with_filter_result(filter);
        }
        snapshot.load_stats().await?;
        let plan = scan.plan().await?;
        let predicate = plan.predicate().cloned().map(Arc::new);
        let candidates = plan.files().to_vec();
        let mode = Mode {
            vectors: writes_deletion_vectors(&snapshot),
            change_feed: snapshot.table_properties().enable_change_data_feed,
        };
        let assignments = Arc::new(assignments);
        let progress = Arc::new(FileProgress::start(self.progress.clone(), candidates.len()));
        let updates: Vec<FileUpdate> =
            futures::stream::iter(candidates.iter().cloned().map(|add| {
                let (snapshot, predicate, assignments, progress) = (
                    snapshot.clone(),
                    predicate.clone(),
                    assignments.clone(),
                    progress.clone(),
                );
                async move {
                    let update =
                        update_file(&snapshot, predicate.as_deref(), &assignments, add, mode)
                            .await?;
                    progress.file_done();
                    Ok::<_, Error>(update)
                }
            }))
            .buffered(READ_CONCURRENCY)
            .try_filter(|u| futures::future::ready(!u.updated.is_empty()))
            .try_collect()
            .await?;
        if updates.is_empty() {
            return Ok(UpdateResult::default());
        }
        let outcome = Outcome::build(&snapshot, updates, mode).await?;
        let mut tx = Transaction::new(&snapshot, "UPDATE");
        if let Some(Ok(expr)) = &self.filter {
            tx = tx.with_parameter(
                "predicate",
                serde_json::json!([expr.to_string()]).to_string(),
            );
        }
        if let Some(v) = self.expected_version {
            tx = tx.with_expected_version(v);
        }
        tx.read_files(
            candidates
                .iter()
                .map(|a| file_key(&a.path, a.deletion_vector.as_ref())),
        );
        match &predicate {
            Some(p) => {
                let (p, partition_columns) = (p.clone(), snapshot.partition_columns().to_vec());
                tx.read_predicate(ReadPredicate(Arc::new(move |add: &Add| {
                    add_may_match(&p, &partition_columns, add)
                })));
            }
            None => tx.read_whole_table(),
        }
        let (result, committed) = outcome.commit(tx, &snapshot).await?;
        self.latest.remember_committed(&committed);
        Ok(result)
    }
}

/// How the table takes changed rows.
#[derive(Debug, Clone, Copy)]
struct Mode {
    /// Deletion vectors rather than copy-on-write.
    vectors: bool,
    /// `cdc` files with pre- and post-images.
    change_feed: bool,
}

/// Binds and type-checks the assignments against the table schema.
fn bind_update(
    snapshot: &Snapshot,
    assignments: &[(String, std::result::Result<Expr, ExprError>)],
) -> Result<Vec<Assignment>> {
    if assignments.is_empty() {
        return Err(Error::InvalidArgument(
            "an update needs at least one assignment (set a column to a value)".into(),
        ));
    }
    let schema = snapshot.arrow_schema();
    let mut problems = Vec::new();
    let bound = bind_assignments(&schema, &schema, assignments, "", &mut problems)?;
    if !problems.is_empty() {
        return Err(Error::SchemaMismatch {
            location: snapshot.storage().location().to_string(),
            problems,
        });
    }
    Ok(bound)
}

/// One candidate's rows, read and updated.
struct FileUpdate {
    add: Add,
    live_rows: u64,
    old_vector: RoaringTreemap,
    /// Physical positions of the updated rows.
    updated: RoaringTreemap,
    /// Copy-on-write: every live row, updated ones in place, until written.
    rewritten: Vec<RecordBatch>,
    /// Copy-on-write: the files written for it (at once, so memory is the files in flight).
    written: Vec<Add>,
    /// Deletion vectors: the updated rows, for new files.
    moved: Vec<RecordBatch>,
    preimage: Vec<RecordBatch>,
    postimage: Vec<RecordBatch>,
}

async fn update_file(
    snapshot: &Snapshot,
    predicate: Option<&Predicate>,
    assignments: &[Assignment],
    add: Add,
    mode: Mode,
) -> Result<FileUpdate> {
    let mut rows = LiveRows::open(snapshot, &add, None).await?;
    let mut update = FileUpdate {
        add,
        live_rows: 0,
        old_vector: RoaringTreemap::new(),
        updated: RoaringTreemap::new(),
        rewritten: Vec::new(),
        written: Vec::new(),
        moved: Vec::new(),
        preimage: Vec::new(),
        postimage: Vec::new(),
    };
    while let Some((batch, positions)) = rows.next().await? {
        let hit = match predicate {
            Some(p) => definitely_true(&p.evaluate(&batch)?),
            None => BooleanArray::from(vec![true; batch.num_rows()]),
        };
        let indices: Vec<u32> = (0..batch.num_rows())
            .filter(|&i| hit.value(i))
            .map(|i| i as u32)
            .collect();
        if indices.is_empty() {
            if !mode.vectors {
                update.rewritten.push(batch);
            }
            continue;
        }
        let matched = take_record_batch(&batch, &UInt32Array::from(indices.clone()))?;
        let changed = apply(assignments, &matched, &matched)
            .map_err(|f| f.into_error(snapshot.storage().location(), "update", &update.add.path))?;
        for i in &indices {
            update.updated.insert(positions[*i as usize]);
        }
        if mode.vectors {
            update.moved.push(changed.clone());
        } else {
            update.rewritten.push(in_place(&batch, &indices, &changed)?);
        }
        if mode.change_feed {
            update.preimage.push(matched);
            update.postimage.push(changed);
        }
    }
    update.live_rows = rows.live_rows;
    update.old_vector = rows.old_vector;
    if !mode.vectors && !update.updated.is_empty() {
        let batches = std::mem::take(&mut update.rewritten);
        let stream = futures::stream::iter(batches.into_iter().map(Ok)).boxed();
        let written =
            write_stream_files(snapshot, stream, &WriterOptions::default(), "update").await?;
        update.written = written.into_iter().map(|(a, _)| a).collect();
    }
    update.rewritten.clear();
    Ok(update)
}

/// `batch` with the rows at `indices` replaced by `changed`, in order.
fn in_place(batch: &RecordBatch, indices: &[u32], changed: &RecordBatch) -> Result<RecordBatch> {
    let mut source: Vec<(usize, usize)> = (0..batch.num_rows()).map(|i| (0, i)).collect();
    for (k, i) in indices.iter().enumerate() {
        source[*i as usize] = (1, k);
    }
    let columns = batch
        .columns()
        .iter()
        .zip(changed.columns())
        .map(|(old, new)| interleave(&[old.as_ref(), new.as_ref()], &source))
        .collect::<std::result::Result<Vec<ArrayRef>, _>>()?;
    Ok(RecordBatch::try_new(batch.schema(), columns)?)
}

/// The actions an update commits, and its counts.
struct Outcome {
    removes: Vec<Add>,
    adds: Vec<Add>,
    cdc: Vec<crate::protocol::actions::Cdc>,
    vectors: DvFileWriter,
    result: UpdateResult,
}

impl Outcome {
    /// Writes the new data and change files and lays out the actions.
    async fn build(snapshot: &Snapshot, updates: Vec<FileUpdate>, mode: Mode) -> Result<Outcome> {
        let mut outcome = Outcome {
            removes: Vec::new(),
            adds: Vec::new(),
            cdc: Vec::new(),
            vectors: DvFileWriter::default(),
            result: UpdateResult::default(),
        };
        let (mut new_rows, mut preimage, mut postimage) = (Vec::new(), Vec::new(), Vec::new());
        for u in updates {
            let updated = u.updated.len();
            outcome.result.num_updated_rows += updated;
            outcome.result.num_removed_files += 1;
            preimage.extend(u.preimage);
            postimage.extend(u.postimage);
            if !mode.vectors {
                outcome.result.num_copied_rows += u.live_rows - updated;
                outcome.result.num_added_files += u.written.len() as u64;
                outcome.adds.extend(u.written);
            } else if updated < u.live_rows {
                let readded = with_vector(&mut outcome.vectors, &u.add, &u.old_vector, &u.updated)?;
                outcome.result.num_deletion_vectors_added += 1;
                outcome.adds.push(readded);
                new_rows.extend(u.moved);
            } else {
                new_rows.extend(u.moved);
            }
            outcome.removes.push(u.add);
        }
        if !new_rows.is_empty() {
            let stream = futures::stream::iter(new_rows.into_iter().map(Ok)).boxed();
            let written =
                write_stream_files(snapshot, stream, &WriterOptions::default(), "update").await?;
            outcome.result.num_added_files += written.len() as u64;
            outcome.adds.extend(written.into_iter().map(|(add, _)| add));
        }
        if mode.change_feed {
            outcome.cdc = write_cdc_files(snapshot, &preimage, "update_preimage").await?;
            outcome
                .cdc
                .extend(write_cdc_files(snapshot, &postimage, "update_postimage").await?);
            outcome.result.num_added_change_files = outcome.cdc.len() as u64;
        }
        Ok(outcome)
    }

    /// Writes the DV file (if any) and commits.
    async fn commit(
        self,
        mut tx: Transaction,
        snapshot: &Snapshot,
    ) -> Result<(UpdateResult, Option<Snapshot>)> {
        let Outcome {
            removes,
            adds,
            cdc,
            vectors,
            mut result,
        } = self;
        stage_changes(&mut tx, snapshot, removes, adds, cdc, vectors).await?;
        tx.set_metric("numUpdatedRows", result.num_updated_rows);
        tx.set_metric("numCopiedRows", result.num_copied_rows);
        tx.set_metric("numAddedFiles", result.num_added_files);
        tx.set_metric("numRemovedFiles", result.num_removed_files);
        tx.set_metric("numDeletionVectorsAdded", result.num_deletion_vectors_added);
        tx.set_metric("numAddedChangeFiles", result.num_added_change_files);
        let committed = tx.commit().await?;
        result.version = Some(committed.version);
        Ok((result, committed.snapshot))
    }
}
