//! Optimize: compact small files into files near a target size, per partition
//! (`protocol/PROTOCOL.md#optimize`).
//!
//! Planning is pure ([`plan_optimize`]): in each partition, files smaller than the target are
//! packed greedily, in log order, into bins of about the target size; a bin of one file is left
//! alone. Each bin is read through the scan (conformed to the table schema) and streamed into
//! the writer, so memory stays bounded. One commit removes the compacted files and adds the new
//! ones, all with `dataChange = false`: readers of changes see no new data, and the commit
//! conflicts only with a concurrent commit that removed one of the compacted files (a
//! concurrent append does not).

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::expr::Expr;
use crate::expr::predicate::Predicate;
use crate::expr::skipping::ColumnBounds;
use crate::protocol::actions::{Action, Add, Remove};
use crate::protocol::schema::column_mapping::{physical_partition_columns, physical_path};
use crate::read::scan::IntoFilter;
use crate::snapshot::Snapshot;
use crate::snapshot::latest::LatestSnapshot;
use crate::transaction::Transaction;
use crate::write::{DEFAULT_TARGET_FILE_SIZE, WriterOptions};

/// What an optimize did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptimizeResult {
    /// The version committed, or the current version when there was nothing to compact.
    pub version: i64,
    /// Files removed (compacted).
    pub num_files_removed: usize,
    /// Files added.
    pub num_files_added: usize,
    /// Bytes of the removed files.
    pub bytes_removed: i64,
    /// Bytes of the added files.
    pub bytes_added: i64,
    /// Partitions that had files compacted.
    pub partitions_optimized: usize,
}

/// Where an optimize is, for a progress display: reported once the plan is made and after
/// each bin of files is rewritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptimizeProgress {
    /// Bins (groups of small files, each rewritten together) done.
    pub bins_done: u64,
    /// Bins planned.
    pub bins_total: u64,
    /// Bytes of input files rewritten so far.
    pub bytes_done: u64,
    /// Bytes of all input files planned.
    pub bytes_total: u64,
}

/// An optimize request, built by [`Table::optimize`](crate::Table::optimize).
#[must_use = "optimize does nothing until `.execute().await`"]
pub struct OptimizeBuilder {
    latest: LatestSnapshot,
    target_size: u64,
    filter: Option<std::result::Result<Expr, crate::expr::ExprError>>,
    snapshot: Option<Snapshot>,
    progress: Option<Box<dyn Fn(OptimizeProgress) + Send + Sync>>,
    zorder: Vec<String>,
}

impl OptimizeBuilder {
    /// A new request on the table `latest` caches.
    pub(crate) fn new(latest: LatestSnapshot) -> OptimizeBuilder {
        OptimizeBuilder {
            latest,
            target_size: DEFAULT_TARGET_FILE_SIZE,
            filter: None,
            snapshot: None,
            progress: None,
            zorder: Vec::new(),
        }
    }
}

/// Files of one partition, keyed by their serialized partition values.
type PartitionFiles = BTreeMap<Vec<Option<String>>, Vec<Add>>;

/// Bins of files to rewrite together: per partition, files below `target_size` packed in order
/// until a bin reaches the target; bins of a single file are dropped.
pub fn plan_optimize(partitions: &PartitionFiles, target_size: u64) -> Vec<Vec<Add>> {
    let target = i64::try_from(target_size).unwrap_or(i64::MAX);
    let mut bins = Vec::new();
    for files in partitions.values() {
        let mut bin: Vec<Add> = Vec::new();
        let mut size = 0i64;
        for file in files.iter().filter(|f| f.size < target) {
            if !bin.is_empty() && size + file.size > target {
                bins.push(std::mem::take(&mut bin));
                size = 0;
            }
            size += file.size;
            bin.push(file.clone());
        }
        bins.push(bin);
    }
    bins.retain(|b| b.len() > 1);
    bins
}

impl OptimizeBuilder {
    /// Aim for files of about this many bytes (default 128 MiB).
    pub fn with_target_size(mut self, bytes: u64) -> Self {
        self.target_size = bytes.max(1);
        self
    }

    /// Only compact partitions matching this predicate over partition columns.
    pub fn with_filter(mut self, filter: impl IntoFilter) -> Self {
        self.filter = Some(filter.into_filter());
        self
    }

    /// Compacts the files of this snapshot (default: the latest version). Commits that landed
    /// since are checked for conflicts as with any transaction.
    pub fn with_snapshot(mut self, snapshot: Snapshot) -> Self {
        self.snapshot = Some(snapshot);
        self
    }

    /// Rewrites every file of each (matching) partition ordered along a Z-order curve over
    /// these columns (`protocol/PROTOCOL.md#optimize`), so that filters on any of them skip files:
    /// delta-rs's `optimize.z_order`, Delta's `OPTIMIZE … ZORDER BY`. The columns are top-level,
    /// non-partition columns of primitive types. A partition is read whole to be ordered.
    pub fn with_zorder<I, S>(mut self, columns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.zorder = columns.into_iter().map(Into::into).collect();
        self
    }

    /// Called once the plan is made and after each bin is rewritten.
    pub fn with_progress(
        mut self,
        progress: impl Fn(OptimizeProgress) + Send + Sync + 'static,
    ) -> Self {
        self.progress = Some(Box::new(progress));
        self
    }

    /// Compacts and commits.
    ///
    /// # Errors
    /// [`Error::Predicate`] for a bad filter, [`Error::InvalidArgument`] for a filter on
    /// non-partition columns, [`Error::Conflict`] when a concurrent commit removed a file being
    /// compacted, and storage or Parquet errors (nothing is committed then).
    pub async fn execute(self) -> Result<OptimizeResult> {
        let snapshot = match &self.snapshot {
            Some(s) => s.clone(),
            None => self.latest.get().await?,
        };
        snapshot.require_writable()?;
        if snapshot.table_properties().enable_row_tracking {
            // Rewritten rows must keep their ids and commit versions, which takes the
            // materialized row-tracking columns strata does not write yet.
            return Err(Error::NotAllowed {
                location: snapshot.storage().location().to_string(),
                operation: "optimize".into(),
                reason: "delta.enableRowTracking is true, and strata cannot yet keep row ids stable through a rewrite (it does not write the materialized row-id columns); compact with Spark or Databricks".into(),
            });
        }
        let predicate = self.partition_predicate(&snapshot)?;
        let partitions = partition_files(&snapshot, predicate.as_ref());
        let zorder = self.zorder_columns(&snapshot)?;
        let bins = if zorder.is_empty() {
            plan_optimize(&partitions, self.target_size)
        } else {
            // Z-order rewrites every file of a partition, even one alone.
            partitions
                .values()
                .filter(|f| !f.is_empty())
                .cloned()
                .collect()
        };
        if bins.is_empty() {
            return Ok(OptimizeResult {
                version: snapshot.version(),
                num_files_removed: 0,
                num_files_added: 0,
                bytes_removed: 0,
                bytes_added: 0,
                partitions_optimized: 0,
            });
        }
        let options = WriterOptions {
            target_file_size: self.target_size,
            ..WriterOptions::default()
        };
        let mut added: Vec<Add> = Vec::new();
        let bin_bytes = |bin: &[Add]| bin.iter().map(|a| a.size.max(0) as u64).sum::<u64>();
        let mut progress = OptimizeProgress {
            bins_done: 0,
            bins_total: bins.len() as u64,
            bytes_done: 0,
            bytes_total: bins.iter().map(|b| bin_bytes(b)).sum(),
        };
        self.report(progress);
        for bin in &bins {
            let stream = crate::read::scan::scan_files(&snapshot, bin.clone()).execute()?;
            let stream = if zorder.is_empty() {
                stream
            } else {
                zordered(stream, &zorder).await?
            };
            let written =
                crate::write::write_stream_files(&snapshot, stream, &options, "optimize").await?;
            added.extend(written.into_iter().map(|(mut add, _)| {
                add.data_change = false;
                add
            }));
            progress.bins_done += 1;
            progress.bytes_done += bin_bytes(bin);
            self.report(progress);
        }
        let removed: Vec<&Add> = bins.iter().flatten().collect();
        let now_ms = chrono::Utc::now().timestamp_millis();
        let mut tx = Transaction::new(&snapshot, "OPTIMIZE")
            .with_parameter("targetSize", self.target_size)
            .with_parameter(
                "predicate",
                predicate
                    .as_ref()
                    .map(|p| p.to_string())
                    .unwrap_or_default(),
            )
            .with_parameter(
                "zOrderBy",
                serde_json::Value::from(zorder.clone()).to_string(),
            );
        tx.add_actions(
            removed
                .iter()
                .map(|a| Action::Remove(Remove::from_add(a, now_ms, false))),
        );
        tx.add_actions(added.iter().cloned().map(Action::Add));
        let bytes_removed: i64 = removed.iter().map(|a| a.size).sum();
        let bytes_added: i64 = added.iter().map(|a| a.size).sum();
        let partitions_optimized = {
            let mut keys: Vec<_> = bins.iter().map(|b| &b[0].partition_values).collect();
            keys.dedup();
            keys.len()
        };
        tx.set_metric("numFilesRemoved", removed.len());
        tx.set_metric("numFilesAdded", added.len());
        tx.set_metric("numBytesRemoved", bytes_removed);
        tx.set_metric("numBytesAdded", bytes_added);
        tx.set_metric("partitionsOptimized", partitions_optimized);
        let result = tx.commit().await?;
        self.latest.remember_committed(&result.snapshot);
        Ok(OptimizeResult {
            version: result.version,
            num_files_removed: removed.len(),
            num_files_added: added.len(),
            bytes_removed,
            bytes_added,
            partitions_optimized,
        })
    }

    /// The Z-order columns as the schema spells them, checked.
    fn zorder_columns(&self, snapshot: &Snapshot) -> Result<Vec<String>> {
        let schema = snapshot.arrow_schema();
        let partition_columns = snapshot.partition_columns();
        let mut columns = Vec::new();
        for name in &self.zorder {
            let field = schema
                .fields()
                .iter()
                .find(|f| f.name() == name)
                .or_else(|| {
                    schema
                        .fields()
                        .iter()
                        .find(|f| f.name().eq_ignore_ascii_case(name))
                })
                .ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "Z-order column `{name}` is not in the table; columns are: {}",
                        schema
                            .fields()
                            .iter()
                            .map(|f| f.name().as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })?;
            if partition_columns.contains(field.name()) {
                return Err(Error::InvalidArgument(format!(
                    "`{}` is a partition column: each partition is Z-ordered separately, so order by other columns",
                    field.name()
                )));
            }
            if field.data_type().is_nested() {
                return Err(Error::InvalidArgument(format!(
                    "Z-order column `{}` is a {}, not a primitive column",
                    field.name(),
                    field.data_type()
                )));
            }
            if !columns.contains(field.name()) {
                columns.push(field.name().clone());
            }
        }
        Ok(columns)
    }

    fn report(&self, progress: OptimizeProgress) {
        if let Some(report) = &self.progress {
            report(progress);
        }
    }

    fn partition_predicate(&self, snapshot: &Snapshot) -> Result<Option<Predicate>> {
        let Some(filter) = &self.filter else {
            return Ok(None);
        };
        let schema = snapshot.arrow_schema();
        let mut predicate = Predicate::bind(&filter.clone()?, &schema)?;
        let lookup = snapshot.column_lookup();
        if lookup.is_mapped() {
            predicate = predicate.with_physical_paths(|path| physical_path(&schema, path, lookup));
        }
        let partition_columns = snapshot.partition_columns();
        if let Some(c) = predicate
            .columns()
            .iter()
            .find(|c| c.path.len() != 1 || !partition_columns.contains(&c.path[0]))
        {
            let partitioning = if partition_columns.is_empty() {
                "the table is not partitioned".to_string()
            } else {
                format!("its partition columns are {}", partition_columns.join(", "))
            };
            return Err(Error::InvalidArgument(format!(
                "optimize filters whole partitions; `{}` is not a partition column ({partitioning})",
                c.name(),
            )));
        }
        Ok(Some(predicate))
    }
}

/// Live files by partition, only partitions the predicate matches. Partition values are keyed
/// by physical name (`protocol/PROTOCOL.md#column-mapping`).
fn partition_files(snapshot: &Snapshot, predicate: Option<&Predicate>) -> PartitionFiles {
    let columns = physical_partition_columns(snapshot.metadata());
    let mut out = PartitionFiles::new();
    for file in snapshot.files() {
        if let Some(p) = predicate {
            let bounds: Vec<ColumnBounds> = p
                .columns()
                .iter()
                .map(|c| {
                    crate::expr::skipping::partition_bounds(
                        file.partition_value(&c.physical_path[0]),
                        &c.data_type,
                    )
                })
                .collect();
            if !crate::expr::skipping::may_match(p, &bounds) {
                continue;
            }
        }
        let key = columns
            .iter()
            .map(|c| file.partition_value(c).map(str::to_string))
            .collect();
        out.entry(key).or_default().push(file.to_add());
    }
    out
}

/// A partition's rows (all of `stream`) in Z-order over `columns`, in slices the writer can
/// roll files at.
async fn zordered(
    stream: crate::read::RecordBatchStream,
    columns: &[String],
) -> Result<crate::read::RecordBatchStream> {
    use futures::{StreamExt, TryStreamExt};
    let batches: Vec<arrow::array::RecordBatch> = stream.try_collect().await?;
    let Some(first) = batches.first() else {
        return Ok(futures::stream::empty().boxed());
    };
    let all = arrow::compute::concat_batches(&first.schema(), &batches)?;
    drop(batches);
    let keys = columns
        .iter()
        .map(|c| {
            all.column_by_name(c)
                .cloned()
                .ok_or_else(|| Error::internal(format!("Z-order column {c} not in the scan")))
        })
        .collect::<Result<Vec<_>>>()?;
    let order = crate::ops::zorder::zorder_indices(&keys)?;
    let sorted = arrow::compute::take_record_batch(&all, &order)?;
    const SLICE_ROWS: usize = 65_536;
    let slices: Vec<Result<arrow::array::RecordBatch>> = (0..sorted.num_rows())
        .step_by(SLICE_ROWS)
        .map(|start| Ok(sorted.slice(start, SLICE_ROWS.min(sorted.num_rows() - start))))
        .collect();
    Ok(futures::stream::iter(slices).boxed())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(path: &str, size: i64) -> Add {
        Add::for_test(path, size)
    }

    #[test]
    fn packs_small_files_per_partition() {
        let mut parts = PartitionFiles::new();
        parts.insert(
            vec![Some("a".into())],
            vec![
                add("1", 40),
                add("2", 40),
                add("big", 500),
                add("3", 40),
                add("4", 90),
            ],
        );
        parts.insert(vec![Some("b".into())], vec![add("lonely", 10)]);
        let bins: Vec<Vec<String>> = plan_optimize(&parts, 100)
            .iter()
            .map(|b| b.iter().map(|a| a.path.clone()).collect())
            .collect();
        // 1+2 = 80, +3 would be 120 > 100: new bin [3], then 4 would be 130: [3] alone, [4] alone.
        assert_eq!(bins, vec![vec!["1", "2"]]);
        let bins = plan_optimize(&parts, 250);
        assert_eq!(bins.len(), 1);
        assert_eq!(
            bins[0].len(),
            4,
            "all small files of partition a; b's single file stays"
        );
    }
}
