//! The physical scan: strata's reader under DataFusion, one partition per group of files.

use std::fmt;
use std::sync::Arc;

use arrow::array::{RecordBatch, RecordBatchOptions};
use arrow::datatypes::SchemaRef;
use datafusion::common::Result;
use datafusion::common::Statistics;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{Count, Metric, MetricValue, MetricsSet};
use datafusion::physical_plan::statistics::StatisticsArgs;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning,
    PlanProperties, ReplaceChildrenOptions,
};
use futures::StreamExt;
use strata::ScanPlan;
use strata::lineage::SourceRange;

use crate::error::to_datafusion;

/// A scan of one strata snapshot: the files strata's skipping kept, split by size across
/// partitions, each partition read by strata's reader (deletion vectors, column mapping and
/// partition values applied). `EXPLAIN` shows the table, version, files kept and pruned and
/// the filter; `EXPLAIN ANALYZE` adds row groups pruned and rows read.
#[derive(Debug)]
pub struct StrataScanExec {
    source: SourceRange,
    parts: Vec<ScanPlan>,
    schema: SchemaRef,
    /// Batches are cut to zero columns (a `count(*)` reads one column for its row counts).
    no_columns: bool,
    filter: Option<String>,
    statistics: Arc<Statistics>,
    part_statistics: Vec<Arc<Statistics>>,
    properties: Arc<PlanProperties>,
}

impl StrataScanExec {
    pub(crate) fn new(
        source: SourceRange,
        parts: Vec<ScanPlan>,
        schema: SchemaRef,
        no_columns: bool,
        filter: Option<String>,
        statistics: Statistics,
        part_statistics: Vec<Statistics>,
    ) -> StrataScanExec {
        let properties = PlanProperties::new(
            EquivalenceProperties::new(schema.clone()),
            Partitioning::UnknownPartitioning(parts.len().max(1)),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        StrataScanExec {
            source,
            parts,
            schema,
            no_columns,
            filter,
            statistics: Arc::new(statistics),
            part_statistics: part_statistics.into_iter().map(Arc::new).collect(),
            properties: Arc::new(properties),
        }
    }

    /// The table and version this scan reads, as lineage records it.
    pub fn source(&self) -> &SourceRange {
        &self.source
    }

    /// Files this scan reads, over all partitions.
    pub fn files_to_read(&self) -> usize {
        self.parts.iter().map(|p| p.files().len()).sum()
    }

    /// What strata's reader did so far, summed over the partitions.
    pub fn scan_metrics(&self) -> strata::ScanMetrics {
        let mut total = strata::ScanMetrics::default();
        for part in &self.parts {
            let m = part.metrics();
            total.files_considered += m.files_considered;
            total.files_pruned_by_partition += m.files_pruned_by_partition;
            total.files_pruned_by_stats += m.files_pruned_by_stats;
            total.files_to_read += m.files_to_read;
            total.row_groups_considered += m.row_groups_considered;
            total.row_groups_pruned += m.row_groups_pruned;
            total.rows_read += m.rows_read;
            total.rows_returned += m.rows_returned;
        }
        total
    }
}

impl DisplayAs for StrataScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let m = self.scan_metrics();
        write!(
            f,
            "StrataScanExec: table={} version={} files={}/{} (pruned {} by partition, {} by stats) partitions={}",
            self.source.table,
            self.source.to_version,
            m.files_to_read,
            m.files_considered,
            m.files_pruned_by_partition,
            m.files_pruned_by_stats,
            self.parts.len().max(1),
        )?;
        if let Some(filter) = &self.filter {
            write!(f, " filter=[{filter}]")?;
        }
        Ok(())
    }
}

impl ExecutionPlan for StrataScanExec {
    fn name(&self) -> &'static str {
        "StrataScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(
            children,
            ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
        )
    }

    fn execute(
        &self,
        partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let schema = self.schema.clone();
        let Some(part) = self.parts.get(partition) else {
            // A table with no file to read has one empty partition.
            return Ok(Box::pin(RecordBatchStreamAdapter::new(
                schema,
                futures::stream::empty(),
            )));
        };
        let batches = part.execute().map_err(to_datafusion)?;
        let no_columns = self.no_columns;
        let out = schema.clone();
        let stream = batches.map(move |batch| {
            let batch = batch.map_err(to_datafusion)?;
            conform(&out, batch, no_columns)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        let mut set = MetricsSet::new();
        for (i, part) in self.parts.iter().enumerate() {
            let m = part.metrics();
            for (name, value) in [
                ("files_read", m.files_to_read),
                (
                    "files_pruned",
                    m.files_pruned_by_partition + m.files_pruned_by_stats,
                ),
                (
                    "row_groups_read",
                    m.row_groups_considered - m.row_groups_pruned,
                ),
                ("row_groups_pruned", m.row_groups_pruned),
                ("rows_decoded", m.rows_read),
            ] {
                let count = Count::new();
                count.add(usize::try_from(value).unwrap_or(usize::MAX));
                set.push(Arc::new(Metric::new(
                    MetricValue::Count {
                        name: name.into(),
                        count,
                    },
                    Some(i),
                )));
            }
        }
        Some(set)
    }

    fn statistics_from_inputs(
        &self,
        _input_stats: &[Arc<Statistics>],
        args: &StatisticsArgs,
    ) -> Result<Arc<Statistics>> {
        Ok(match args.partition() {
            None => self.statistics.clone(),
            Some(i) => self
                .part_statistics
                .get(i)
                .cloned()
                .unwrap_or_else(|| Arc::new(Statistics::new_unknown(&self.schema))),
        })
    }
}

/// A batch from strata's reader under the scan's declared schema (same columns; the field
/// metadata DataFusion expects), or cut to no columns for a `count(*)`.
fn conform(schema: &SchemaRef, batch: RecordBatch, no_columns: bool) -> Result<RecordBatch> {
    let rows = batch.num_rows();
    let columns = if no_columns {
        Vec::new()
    } else {
        batch.columns().to_vec()
    };
    Ok(RecordBatch::try_new_with_options(
        schema.clone(),
        columns,
        &RecordBatchOptions::new().with_row_count(Some(rows)),
    )?)
}
