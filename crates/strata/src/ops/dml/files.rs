//! What delete, update and merge share about the files they change
//! (`protocol/PROTOCOL.md#deletion-vectors`): whether the table takes deletion vectors, a
//! candidate's live rows with their physical positions, and the statistics of a file that
//! gains a vector.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::array::RecordBatch;
use futures::TryStreamExt;
use roaring::RoaringTreemap;

use crate::error::{Error, Result};
use crate::protocol::actions::{Action, Add, Cdc, Remove};
use crate::protocol::deletion_vector::DvFileWriter;
use crate::protocol::features::TableFeature;
use crate::read::deletion_vectors::DeletionVectors;
use crate::read::scan::scan_files;
use crate::snapshot::Snapshot;
use crate::transaction::Transaction;

/// Candidate files read at once.
pub(super) const READ_CONCURRENCY: usize = 4;

/// Where a delete or update is, for a progress display: reported once the candidate files are
/// known (none done) and after each has been read and, copy-on-write, rewritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DmlProgress {
    /// Candidate files done.
    pub files_done: u64,
    /// Candidate files to read (what partition values and statistics could not rule out).
    pub files_total: u64,
}

/// A progress callback, shared by the file tasks.
pub(super) type ProgressFn = Arc<dyn Fn(DmlProgress) + Send + Sync>;

/// Counts candidate files done and reports each step to an optional callback.
pub(super) struct FileProgress {
    report: Option<ProgressFn>,
    total: u64,
    done: AtomicU64,
}

impl FileProgress {
    /// Reports `0 / total` and starts counting.
    pub(super) fn start(report: Option<ProgressFn>, total: usize) -> FileProgress {
        let progress = FileProgress {
            report,
            total: total as u64,
            done: AtomicU64::new(0),
        };
        progress.send(0);
        progress
    }

    /// One more file done.
    pub(super) fn file_done(&self) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        self.send(done);
    }

    fn send(&self, files_done: u64) {
        if let Some(report) = &self.report {
            report(DmlProgress {
                files_done,
                files_total: self.total,
            });
        }
    }
}

/// Whether row-level operations write deletion vectors: the property is on and the protocol
/// has the feature.
pub(super) fn writes_deletion_vectors(snapshot: &Snapshot) -> bool {
    snapshot.table_properties().enable_deletion_vectors
        && snapshot
            .writer_features()
            .contains(&TableFeature::DeletionVectors)
        && snapshot
            .reader_features()
            .contains(&TableFeature::DeletionVectors)
}

/// Refuses an operation that would copy rows into new files on a table with row tracking:
/// copied rows must keep their ids, which takes the materialized row-id columns strata does
/// not write yet (`protocol/PROTOCOL.md#row-tracking`).
pub(super) fn refuse_copies_under_row_tracking(snapshot: &Snapshot, operation: &str) -> Result<()> {
    if snapshot.table_properties().enable_row_tracking {
        return Err(Error::NotAllowed {
            location: snapshot.storage().location().to_string(),
            operation: operation.into(),
            reason: "delta.enableRowTracking is true, and strata cannot yet keep the ids of rows it copies into new files (it does not write the materialized row-id columns); use deletion vectors for deletes, or Spark or Databricks".into(),
        });
    }
    Ok(())
}

/// A candidate file's live rows, batch by batch, each row with its physical position (the
/// index a deletion vector names).
pub(super) struct LiveRows {
    /// The rows the file's current vector deletes.
    pub(super) old_vector: RoaringTreemap,
    rows: futures::stream::BoxStream<'static, Result<RecordBatch>>,
    physical: u64,
    /// Live rows read so far.
    pub(super) live_rows: u64,
}

impl LiveRows {
    /// Opens `add`'s live rows: every column, or only the top-level `columns` named.
    pub(super) async fn open(
        snapshot: &Snapshot,
        add: &Add,
        columns: Option<&[String]>,
    ) -> Result<LiveRows> {
        let old_vector = match &add.deletion_vector {
            Some(dv) => {
                DeletionVectors::default()
                    .rows(snapshot.storage(), dv, &add.path, snapshot.version())
                    .await?
            }
            None => RoaringTreemap::new(),
        };
        let mut plan = scan_files(snapshot, vec![add.clone()]);
        if let Some(columns) = columns {
            plan = plan.with_output_columns(columns);
        }
        let rows = Box::pin(plan.execute()?);
        Ok(LiveRows {
            old_vector,
            rows,
            physical: 0,
            live_rows: 0,
        })
    }

    /// The next batch of live rows and their physical positions.
    pub(super) async fn next(&mut self) -> Result<Option<(RecordBatch, Vec<u64>)>> {
        let Some(batch) = self.rows.try_next().await? else {
            return Ok(None);
        };
        // Live row k is the k-th physical row the old vector does not delete.
        let mut positions = Vec::with_capacity(batch.num_rows());
        for _ in 0..batch.num_rows() {
            while self.old_vector.contains(self.physical) {
                self.physical += 1;
            }
            positions.push(self.physical);
            self.physical += 1;
        }
        self.live_rows += batch.num_rows() as u64;
        Ok(Some((batch, positions)))
    }
}

/// Statistics of a file that now has deleted rows: still bounds, no longer tight.
pub(super) fn loose_bounds(stats: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(stats) {
        Ok(serde_json::Value::Object(mut map)) => {
            map.insert("tightBounds".into(), serde_json::Value::Bool(false));
            serde_json::Value::Object(map).to_string()
        }
        _ => stats.to_string(),
    }
}

/// `add` again with a vector over its old deleted rows and `newly` deleted ones, staged in
/// `vectors` (the commit's one DV file); statistics kept as loose bounds.
pub(super) fn with_vector(
    vectors: &mut DvFileWriter,
    add: &Add,
    old: &RoaringTreemap,
    newly: &RoaringTreemap,
) -> Result<Add> {
    let mut vector = old.clone();
    vector |= newly;
    let descriptor = vectors
        .push(&vector)
        .map_err(|e| Error::internal(format!("deletion vector for {}: {e}", add.path)))?;
    Ok(Add {
        deletion_vector: Some(descriptor),
        stats: add.stats.as_deref().map(loose_bounds),
        data_change: true,
        modification_time: chrono::Utc::now().timestamp_millis(),
        ..add.clone()
    })
}

/// What a row-level operation commits, staged on `tx`: the DV file written first (it must
/// exist before any commit names it), then the removes, adds and change files.
pub(super) async fn stage_changes(
    tx: &mut Transaction,
    snapshot: &Snapshot,
    removes: Vec<Add>,
    adds: Vec<Add>,
    cdc: Vec<Cdc>,
    vectors: DvFileWriter,
) -> Result<()> {
    if !vectors.is_empty() {
        let (name, bytes) = vectors.finish();
        let path = snapshot.storage().relative_path(&name)?;
        snapshot.storage().put(&path, bytes).await?;
    }
    let now = chrono::Utc::now().timestamp_millis();
    tx.add_actions(
        removes
            .iter()
            .map(|a| Action::Remove(Remove::from_add(a, now, true))),
    );
    tx.add_actions(adds.into_iter().map(Action::Add));
    tx.add_actions(cdc.into_iter().map(Action::Cdc));
    Ok(())
}

/// Refuses a row-level operation on an append-only table.
pub(super) fn refuse_append_only(snapshot: &Snapshot, operation: &str) -> Result<()> {
    if snapshot.table_properties().append_only {
        return Err(Error::NotAllowed {
            location: snapshot.storage().location().to_string(),
            operation: operation.into(),
            reason: "the table property delta.appendOnly is true".into(),
        });
    }
    Ok(())
}
