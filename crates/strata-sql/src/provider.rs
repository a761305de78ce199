//! [`StrataTable`]: a DataFusion `TableProvider` over one strata snapshot.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::{Result, not_impl_err, plan_err};
use datafusion::datasource::sink::DataSinkExec;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{Expr as DfExpr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use futures::future::BoxFuture;
use strata::lineage::SourceRange;
use strata::{Snapshot, Table};

use crate::dml::OneShotExec;
use crate::error::{SqlError, to_datafusion};
use crate::exec::StrataScanExec;
use crate::filters::{bind_all, bindable, to_strata_expr};
use crate::lineage::plan_sources;
use crate::location::{TableSpec, VersionSpec};
use crate::stats::statistics;
use crate::write::{StrataSink, WriteMode};

/// One snapshot of a strata table as a DataFusion table: scans with projection, filter and
/// limit pushdown, statistics, and — when registered at its latest version — `INSERT`,
/// `INSERT OVERWRITE`, `DELETE` and `UPDATE`, each one strata commit.
#[derive(Clone)]
pub struct StrataTable {
    name: String,
    snapshot: Snapshot,
    /// Whether the snapshot is the table's latest as registered (writes allowed).
    writable: bool,
    /// How the snapshot was chosen, for error messages.
    version: VersionSpec,
    schema: SchemaRef,
}

impl fmt::Debug for StrataTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StrataTable")
            .field("name", &self.name)
            .field("location", &self.snapshot.storage().location())
            .field("version", &self.snapshot.version())
            .finish()
    }
}

impl StrataTable {
    /// `snapshot` under the SQL name `name`. `writable` allows SQL writes (register the
    /// latest snapshot of a table you intend to write).
    pub fn new(name: impl Into<String>, snapshot: Snapshot, writable: bool) -> StrataTable {
        let schema = snapshot.arrow_schema();
        StrataTable {
            name: name.into(),
            version: if writable {
                VersionSpec::Latest
            } else {
                VersionSpec::Version(snapshot.version())
            },
            snapshot,
            writable,
            schema,
        }
    }

    /// Opens the table `spec` names at the snapshot it names.
    ///
    /// # Errors
    /// Opening the table or finding the version, timestamp or tag fails.
    pub async fn open(spec: &TableSpec) -> Result<StrataTable, SqlError> {
        StrataTable::open_with_options(spec, &HashMap::new()).await
    }

    /// As [`StrataTable::open`], with object store options (`aws_endpoint`, ...).
    ///
    /// # Errors
    /// As [`StrataTable::open`].
    pub async fn open_with_options(
        spec: &TableSpec,
        options: &HashMap<String, String>,
    ) -> Result<StrataTable, SqlError> {
        let table = Table::open_with_options(&spec.location, options.clone()).await?;
        let snapshot = spec.version.snapshot(&table).await?;
        let mut provider = StrataTable::new(
            spec.default_name(),
            snapshot,
            spec.version == VersionSpec::Latest,
        );
        provider.version = spec.version.clone();
        Ok(provider)
    }

    /// The SQL name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The snapshot read.
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// The lineage entry of a read of this table.
    pub(crate) fn source(&self) -> SourceRange {
        SourceRange {
            table: self.name.clone(),
            table_id: self.snapshot.metadata().id.clone(),
            location: self.snapshot.storage().location().to_string(),
            read: "snapshot".to_string(),
            from_version: None,
            to_version: self.snapshot.version(),
        }
    }

    fn table(&self) -> Table {
        Table::from_snapshot(self.snapshot.clone())
    }

    /// Refuses a write to a snapshot registered at a version, timestamp or tag.
    fn check_writable(&self, statement: &str) -> Result<()> {
        if self.writable {
            return Ok(());
        }
        plan_err!(
            "{statement} into {}: it is registered at {:?} (version {}), which is read-only; register the table at its latest version to write to it",
            self.name,
            self.version,
            self.snapshot.version()
        )
    }

    /// The column a scan that needs no column reads for its row counts: a partition column
    /// (never decoded) or else the narrowest fixed-width column.
    fn row_count_column(&self) -> String {
        let partitions = self.snapshot.partition_columns();
        if let Some(p) = partitions.first() {
            return p.clone();
        }
        self.schema
            .fields()
            .iter()
            .filter(|f| f.data_type().is_primitive())
            .min_by_key(|f| f.data_type().primitive_width().unwrap_or(usize::MAX))
            .or_else(|| self.schema.fields().first())
            .map(|f| f.name().clone())
            .unwrap_or_default()
    }
}

#[async_trait]
impl TableProvider for StrataTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&DfExpr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        let partitions = self.snapshot.partition_columns();
        Ok(filters
            .iter()
            .map(|f| match bindable(f, &self.schema) {
                None => TableProviderFilterPushDown::Unsupported,
                Some(_) if f.column_refs().iter().all(|c| partitions.contains(&c.name)) => {
                    TableProviderFilterPushDown::Exact
                }
                Some(_) => TableProviderFilterPushDown::Inexact,
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[DfExpr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let (columns, no_columns): (Vec<String>, bool) = match projection {
            Some(p) if p.is_empty() => (vec![self.row_count_column()], true),
            Some(p) => (
                p.iter()
                    .map(|&i| self.schema.field(i).name().clone())
                    .collect(),
                false,
            ),
            None => (
                self.schema
                    .fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .collect(),
                false,
            ),
        };
        let output: SchemaRef = match projection {
            Some(p) => Arc::new(self.schema.project(p)?),
            None => self.schema.clone(),
        };
        let mut builder = self.snapshot.scan().with_columns(columns);
        let bound = bind_all(filters, &self.schema);
        let filter_text = bound.as_ref().map(|(e, _)| e.to_string());
        if let Some((expr, _)) = bound {
            builder = builder.with_filter(expr);
        }
        if let Some(limit) = limit {
            builder = builder.with_limit(limit as u64);
        }
        // Statistics feed the planner (row counts, min/max); load them from the checkpoint.
        self.snapshot.load_stats().await.map_err(to_datafusion)?;
        let plan = builder.plan().await.map_err(to_datafusion)?;
        let keeps_every_row = filter_text.is_none() && limit.is_none();
        let mapped = self
            .snapshot
            .properties()
            .get("delta.columnMapping.mode")
            .is_some_and(|m| m != "none");
        let partitions = self.snapshot.partition_columns();
        let stats = |files: &[strata::actions::Add]| {
            statistics(files, &output, partitions, mapped, keeps_every_row)
        };
        let total = stats(plan.files());
        let target = state.config().target_partitions().max(1);
        let parts = plan.split(target);
        let part_stats = parts.iter().map(|p| stats(p.files())).collect();
        Ok(Arc::new(StrataScanExec::new(
            self.source(),
            parts,
            output,
            no_columns,
            filter_text,
            total,
            part_stats,
        )))
    }

    fn statistics(&self) -> Option<datafusion::common::Statistics> {
        None
    }

    async fn insert_into(
        &self,
        _state: &dyn Session,
        input: Arc<dyn ExecutionPlan>,
        insert_op: InsertOp,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.check_writable("INSERT")?;
        let mode = match insert_op {
            InsertOp::Append => WriteMode::Append,
            InsertOp::Overwrite => WriteMode::Overwrite,
            InsertOp::Replace => return not_impl_err!("REPLACE INTO a strata table"),
        };
        let sink = StrataSink {
            table: self.table(),
            name: self.name.clone(),
            schema: self.schema.clone(),
            mode,
            sources: plan_sources(&input),
        };
        Ok(Arc::new(DataSinkExec::new(input, Arc::new(sink), None)))
    }

    async fn delete_from(
        &self,
        _state: &dyn Session,
        filters: Vec<DfExpr>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.check_writable("DELETE")?;
        let predicate = dml_predicate("DELETE", &filters)?;
        let table = self.table();
        let run = move || -> BoxFuture<'static, Result<u64>> {
            let table = table.clone();
            let predicate = predicate.clone();
            Box::pin(async move {
                let mut delete = table.delete();
                if let Some(p) = predicate {
                    delete = delete.with_predicate(p);
                }
                let result = delete.execute().await.map_err(to_datafusion)?;
                Ok(result.num_deleted_rows)
            })
        };
        Ok(Arc::new(OneShotExec::new("StrataDeleteExec", run)))
    }

    async fn update(
        &self,
        _state: &dyn Session,
        assignments: Vec<(String, DfExpr)>,
        filters: Vec<DfExpr>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.check_writable("UPDATE")?;
        let predicate = dml_predicate("UPDATE", &filters)?;
        let mut sets = Vec::with_capacity(assignments.len());
        for (column, value) in &assignments {
            let Some(expr) = to_strata_expr(value) else {
                return not_impl_err!(
                    "UPDATE SET {column} = {value}: strata evaluates columns, literals, comparisons, + - * %, CASE-free arithmetic and casts here; compute the value in a query and MERGE or INSERT OVERWRITE it"
                );
            };
            sets.push((column.clone(), expr));
        }
        let table = self.table();
        let run = move || -> BoxFuture<'static, Result<u64>> {
            let table = table.clone();
            let predicate = predicate.clone();
            let sets = sets.clone();
            Box::pin(async move {
                let mut update = table.update();
                if let Some(p) = predicate {
                    update = update.with_predicate(p);
                }
                for (column, value) in sets {
                    update = update.set(column, value);
                }
                let result = update.execute().await.map_err(to_datafusion)?;
                Ok(result.num_updated_rows)
            })
        };
        Ok(Arc::new(OneShotExec::new("StrataUpdateExec", run)))
    }
}

/// The `WHERE` of a `DELETE` or `UPDATE` as one strata predicate (`None`: every row). Every
/// conjunct must translate: leaving one out would touch rows the statement excludes.
fn dml_predicate(statement: &str, filters: &[DfExpr]) -> Result<Option<strata::Expr>> {
    let mut exprs = Vec::with_capacity(filters.len());
    for f in filters {
        let Some(e) = to_strata_expr(f) else {
            return not_impl_err!(
                "{statement} … WHERE {f}: strata evaluates columns, literals, comparisons, AND/OR/NOT, IS NULL, IN lists, BETWEEN, + - * % and casts in a row-level predicate"
            );
        };
        exprs.push(e);
    }
    Ok(exprs
        .into_iter()
        .reduce(|a, b| strata::Expr::And(Box::new(a), Box::new(b))))
}
