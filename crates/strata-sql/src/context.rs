//! [`Context`]: a DataFusion session that knows strata tables by name, location and version.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::RecordBatch;
use datafusion::catalog::{MemorySchemaProvider, SchemaProvider};
use datafusion::common::TableReference;
use datafusion::dataframe::DataFrame;
use datafusion::datasource::TableProvider;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::context::SessionContext;
use datafusion::physical_plan::display::DisplayableExecutionPlan;
use datafusion::physical_plan::{ExecutionPlan, displayable, execute_stream};
use datafusion::prelude::SessionConfig;
use datafusion::sql::parser::{DFParser, Statement as DfStatement};
use futures::TryStreamExt;
use sqlparser::ast::{Expr as SqlExpr, Statement, Visit, Visitor};
use sqlparser::dialect::dialect_from_str;
use strata::lineage::SourceRange;
use strata::{CreateBuilder, Snapshot, Table};

use crate::directory::DirectorySchema;
use crate::dml::count_batch;
use crate::error::SqlError;
use crate::functions::{FUNCTIONS, Opened, StrataFunction, calls, open};
use crate::lineage::plan_sources;
use crate::location::TableSpec;
use crate::provider::StrataTable;
use crate::write::{SqlWrite, WriteMode, commit};

/// A SQL session over strata tables.
///
/// Tables register by name ([`Context::register`]), directories of tables as schemas
/// ([`Context::register_directory`]: a lake's `bronze`, `silver` and `gold`), and the table
/// functions `strata_version`, `strata_timestamp`, `strata_tag` and `strata_changes` read any
/// table by location inside SQL. Writes — `INSERT INTO`, `INSERT OVERWRITE`, `DELETE`,
/// `UPDATE`, `CREATE TABLE schema.name AS SELECT` in a directory schema,
/// [`Context::write_into`] and [`Context::create_table_as`] — are each one strata commit,
/// recording the lineage of every strata table read and its version.
#[derive(Clone)]
pub struct Context {
    session: SessionContext,
    opened: Arc<Opened>,
    options: HashMap<String, String>,
}

impl Default for Context {
    fn default() -> Self {
        Context::new()
    }
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("session", &self.session.session_id())
            .finish()
    }
}

impl Context {
    /// A session with one partition per core and `information_schema` enabled.
    pub fn new() -> Context {
        let config = SessionConfig::new().with_information_schema(true);
        Context::with_session(SessionContext::new_with_config(config))
    }

    /// Strata's tables and functions on an existing DataFusion session.
    pub fn with_session(session: SessionContext) -> Context {
        let opened = Arc::new(Opened::default());
        for name in FUNCTIONS {
            session.register_udtf(
                name,
                Arc::new(StrataFunction {
                    name,
                    opened: opened.clone(),
                }),
            );
        }
        Context {
            session,
            opened,
            options: HashMap::new(),
        }
    }

    /// Opens and creates tables with these object store options (`aws_endpoint`,
    /// `aws_allow_http`, ...), as [`Table::open_with_options`] takes them.
    pub fn with_storage_options(mut self, options: HashMap<String, String>) -> Context {
        self.options = options;
        self
    }

    /// The DataFusion session, for anything this API does not cover.
    pub fn session(&self) -> &SessionContext {
        &self.session
    }

    /// Registers the table at `location` (`LOCATION`, `LOCATION@VERSION`,
    /// `LOCATION@TIMESTAMP` or `LOCATION#TAG`) as `name` (`flights` or `silver.flights`). A
    /// table registered at its latest version takes writes; one pinned to a version is
    /// read-only.
    ///
    /// # Errors
    /// A bad reference, or opening the table fails.
    pub async fn register(&self, name: &str, location: &str) -> Result<Arc<StrataTable>, SqlError> {
        let mut spec = TableSpec::parse(location)?;
        spec.name = Some(name.to_string());
        let table = Arc::new(StrataTable::open_with_options(&spec, &self.options).await?);
        self.register_provider(name, table.clone())?;
        Ok(table)
    }

    /// Registers `[NAME=]LOCATION[@VERSION|#TAG]` (as `strata sql --table` takes it); the name
    /// defaults to the location's last path segment. Returns the name.
    ///
    /// # Errors
    /// As [`Context::register`].
    pub async fn register_spec(&self, spec: &str) -> Result<String, SqlError> {
        let parsed = TableSpec::parse(spec)?;
        let name = parsed.default_name();
        let table = Arc::new(StrataTable::open_with_options(&parsed, &self.options).await?);
        self.register_provider(&name, table)?;
        Ok(name)
    }

    /// Registers rows in memory as the table `name` (`new_rows` or `bronze.flights`): what a
    /// pipeline's SQL transform reads its sources' new rows as.
    ///
    /// # Errors
    /// [`SqlError::Query`] when a batch does not have `schema`.
    pub fn register_batches(
        &self,
        name: &str,
        schema: arrow::datatypes::SchemaRef,
        batches: Vec<RecordBatch>,
    ) -> Result<(), SqlError> {
        let table = datafusion::datasource::MemTable::try_new(schema, vec![batches])?;
        self.register_provider(name, Arc::new(table))
    }

    /// Registers an already-loaded snapshot as `name`; `writable` allows SQL writes to it.
    ///
    /// # Errors
    /// [`SqlError::Query`] when the name is taken by a table DataFusion cannot replace.
    pub fn register_snapshot(
        &self,
        name: &str,
        snapshot: Snapshot,
        writable: bool,
    ) -> Result<(), SqlError> {
        self.register_provider(name, Arc::new(StrataTable::new(name, snapshot, writable)))
    }

    /// Makes the tables under `root` (each a directory `root/NAME` holding `_delta_log`)
    /// visible as `schema.NAME`, opened at their latest versions when a statement names them.
    /// `CREATE TABLE schema.NAME AS SELECT …` creates `root/NAME`.
    ///
    /// # Errors
    /// [`SqlError::Query`] when the session's default catalog is missing.
    pub fn register_directory(&self, schema: &str, root: &str) -> Result<(), SqlError> {
        self.register_directory_with_properties(
            schema,
            root,
            std::iter::empty::<(String, String)>(),
        )
    }

    /// As [`Context::register_directory`]; tables `CREATE TABLE … AS` makes there get
    /// `properties` (a lake layer's policy, say).
    ///
    /// # Errors
    /// As [`Context::register_directory`].
    pub fn register_directory_with_properties<K, V>(
        &self,
        schema: &str,
        root: &str,
        properties: impl IntoIterator<Item = (K, V)>,
    ) -> Result<(), SqlError>
    where
        K: Into<String>,
        V: Into<String>,
    {
        let properties = properties
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        let catalog = self.default_catalog()?;
        catalog.register_schema(
            schema,
            Arc::new(DirectorySchema::new(
                schema,
                root,
                self.options.clone(),
                properties,
            )),
        )?;
        Ok(())
    }

    /// Plans `query`: opens what its table functions read, refuses what strata would run
    /// wrongly, and runs `CREATE TABLE … AS SELECT` into a directory schema. Statements that
    /// write run when the returned frame is collected.
    ///
    /// # Errors
    /// [`SqlError::Query`] for SQL that does not parse or plan (with DataFusion's position
    /// where it gives one), [`SqlError::Unsupported`], and table errors.
    pub async fn sql(&self, query: &str) -> Result<DataFrame, SqlError> {
        let statement = self.prepare(query).await?;
        if let Some(Statement::CreateTable(create)) = statement.as_ref()
            && let Some(select) = &create.query
        {
            let name = create.name.to_string();
            let builder = self.directory_create(&name)?;
            let written = Box::pin(self.create_table_as_with(builder, &select.to_string())).await?;
            return Ok(self.session.read_batch(count_batch(written.rows)?)?);
        }
        self.session
            .sql(query)
            .await
            .map_err(SqlError::from_datafusion)
    }

    /// Runs `query` and returns its rows.
    ///
    /// # Errors
    /// As [`Context::sql`], and errors while reading.
    pub async fn collect(&self, query: &str) -> Result<Vec<RecordBatch>, SqlError> {
        self.sql(query)
            .await?
            .collect()
            .await
            .map_err(SqlError::from_datafusion)
    }

    /// The physical plan of `query`; with `analyze`, after running it, with each operator's
    /// metrics (the strata scan's files, row groups and rows read and pruned).
    ///
    /// # Errors
    /// As [`Context::sql`].
    pub async fn explain(&self, query: &str, analyze: bool) -> Result<String, SqlError> {
        if !analyze {
            let plan = self.physical_plan(query).await?;
            return Ok(displayable(plan.as_ref()).indent(true).to_string());
        }
        let (plan, _, stream) = self.run(query).await?;
        let _: Vec<RecordBatch> = stream
            .try_collect()
            .await
            .map_err(SqlError::from_datafusion)?;
        Ok(DisplayableExecutionPlan::with_metrics(plan.as_ref())
            .indent(true)
            .to_string())
    }

    /// Runs `query` and commits its rows to the table at `location` with `mode`, creating the
    /// table (with the query's schema) when there is none: one commit, with the lineage of
    /// every strata table the query read.
    ///
    /// # Errors
    /// As [`Context::sql`]; the write's errors (schema mismatch, conflicts beyond retries).
    pub async fn write_into(
        &self,
        query: &str,
        location: &str,
        mode: WriteMode,
    ) -> Result<SqlWrite, SqlError> {
        let (plan, sources, stream) = self.run(query).await?;
        let result = match Table::open_with_options(location, self.options.clone()).await {
            Ok(table) => commit(&table, stream, mode, Some(query), sources.clone()).await,
            Err(strata::Error::NotATable { .. }) => {
                let builder = Table::create(location).with_options(self.options.clone());
                create(builder, &plan, stream, Some(query), sources.clone()).await
            }
            Err(e) => Err(e),
        }
        .map_err(unwrap_stream_error)?;
        Ok(SqlWrite::new(location, &result, sources))
    }

    /// Creates the table at `location` from `query`'s rows and schema, in one commit with the
    /// lineage of every strata table read.
    ///
    /// # Errors
    /// [`strata::Error::TableExists`] when a table of another shape is there; as
    /// [`Context::write_into`].
    pub async fn create_table_as(&self, location: &str, query: &str) -> Result<SqlWrite, SqlError> {
        let builder = Table::create(location).with_options(self.options.clone());
        self.create_table_as_with(builder, query).await
    }

    /// As [`Context::create_table_as`], creating the table with `builder` (its location,
    /// properties, partition columns, name); the schema is the query's.
    ///
    /// # Errors
    /// As [`Context::create_table_as`].
    pub async fn create_table_as_with(
        &self,
        builder: CreateBuilder,
        query: &str,
    ) -> Result<SqlWrite, SqlError> {
        let (plan, sources, stream) = self.run(query).await?;
        let location = builder.location().to_string();
        let result = create(builder, &plan, stream, Some(query), sources.clone())
            .await
            .map_err(unwrap_stream_error)?;
        Ok(SqlWrite::new(&location, &result, sources))
    }

    /// `query`'s physical plan, the strata tables (and versions) it reads, and its rows as
    /// they come: what a write commits, with the lineage of what it read.
    async fn run(
        &self,
        query: &str,
    ) -> Result<
        (
            Arc<dyn ExecutionPlan>,
            Vec<SourceRange>,
            SendableRecordBatchStream,
        ),
        SqlError,
    > {
        let plan = self.physical_plan(query).await?;
        let sources = plan_sources(&plan);
        let stream = execute_stream(plan.clone(), self.session.task_ctx())
            .map_err(SqlError::from_datafusion)?;
        Ok((plan, sources, stream))
    }

    async fn physical_plan(&self, query: &str) -> Result<Arc<dyn ExecutionPlan>, SqlError> {
        self.sql(query)
            .await?
            .create_physical_plan()
            .await
            .map_err(SqlError::from_datafusion)
    }

    /// Parses `query`, opens the tables its table functions read and checks that strata can
    /// run it; returns the statement when it is plain SQL.
    async fn prepare(&self, query: &str) -> Result<Option<Statement>, SqlError> {
        let statements = {
            let name = self.session.state().config().options().sql_parser.dialect;
            let dialect = dialect_from_str(name.as_ref())
                .unwrap_or_else(|| Box::new(sqlparser::dialect::GenericDialect {}));
            DFParser::parse_sql_with_dialect(query, dialect.as_ref())
                .map_err(SqlError::from_datafusion)?
        };
        let mut only = None;
        for statement in &statements {
            let sql = match statement {
                DfStatement::Statement(s) => Some(s.as_ref()),
                DfStatement::Explain(e) => match e.statement.as_ref() {
                    DfStatement::Statement(s) => Some(s.as_ref()),
                    _ => None,
                },
                _ => None,
            };
            if let Some(sql) = sql {
                check_dml(sql)?;
                open(&calls(sql)?, &self.opened, &self.options).await?;
                only = Some(sql.clone());
            }
        }
        Ok(if statements.len() == 1 { only } else { None })
    }

    fn default_catalog(&self) -> Result<Arc<dyn datafusion::catalog::CatalogProvider>, SqlError> {
        let name = self
            .session
            .state()
            .config()
            .options()
            .catalog
            .default_catalog
            .clone();
        self.session
            .catalog(&name)
            .ok_or_else(|| SqlError::Unsupported {
                statement: "register".into(),
                reason: format!("the session has no catalog {name:?}"),
            })
    }

    fn register_provider(&self, name: &str, table: Arc<dyn TableProvider>) -> Result<(), SqlError> {
        let reference = TableReference::parse_str(name);
        if let Some(schema) = reference.schema() {
            let catalog = self.default_catalog()?;
            if catalog.schema(schema).is_none() {
                catalog.register_schema(schema, Arc::new(MemorySchemaProvider::new()))?;
            }
        }
        self.session.deregister_table(reference.clone())?;
        self.session.register_table(reference, table)?;
        Ok(())
    }

    /// How `CREATE TABLE schema.name` creates the table: under a directory schema's root.
    fn directory_create(&self, name: &str) -> Result<CreateBuilder, SqlError> {
        let reference = TableReference::parse_str(name);
        let unsupported = || {
            SqlError::Unsupported {
            statement: format!("CREATE TABLE {name} AS SELECT"),
            reason: "strata creates tables in a directory schema (a lake's bronze, silver or gold: CREATE TABLE gold.x AS …); elsewhere use `strata sql --into LOCATION` or Context::create_table_as".into(),
        }
        };
        let schema = reference.schema().ok_or_else(unsupported)?;
        let catalog = self.default_catalog()?;
        let provider: Arc<dyn SchemaProvider> = catalog.schema(schema).ok_or_else(unsupported)?;
        let directory = provider
            .as_ref()
            .downcast_ref_directory()
            .ok_or_else(unsupported)?;
        Ok(directory.create_builder(reference.table()))
    }
}

/// Creates the table at `location` with `plan`'s schema from `stream`, with lineage.
async fn create(
    builder: CreateBuilder,
    plan: &Arc<dyn ExecutionPlan>,
    stream: datafusion::execution::SendableRecordBatchStream,
    query: Option<&str>,
    sources: Vec<strata::lineage::SourceRange>,
) -> strata::Result<strata::WriteResult> {
    let lineage = crate::lineage::sql_lineage("create", query, sources);
    builder
        .with_arrow_schema(&plan.schema())?
        .write_stream(crate::write::to_strata_stream(stream))?
        .with_commit_metadata(strata::LINEAGE, serde_json::json!(lineage))
        .execute()
        .await
}

/// A query error that surfaced through the writer's input stream, shown as the query error
/// it is.
fn unwrap_stream_error(error: strata::Error) -> SqlError {
    match error {
        strata::Error::Arrow(arrow::error::ArrowError::ExternalError(inner))
            if inner.is::<datafusion::error::DataFusionError>() =>
        {
            match inner.downcast::<datafusion::error::DataFusionError>() {
                Ok(df) => SqlError::from_datafusion(*df),
                Err(other) => SqlError::Table(strata::Error::Arrow(
                    arrow::error::ArrowError::ExternalError(other),
                )),
            }
        }
        other => SqlError::Table(other),
    }
}

/// Refuses `DELETE` and `UPDATE` shapes whose row predicate DataFusion would hand strata
/// incomplete: subqueries and joins (`UPDATE … FROM`, `DELETE … USING`) are planned apart
/// from the target's filter, so running them would touch rows the statement excludes.
fn check_dml(statement: &Statement) -> Result<(), SqlError> {
    let (kind, has_join) = match statement {
        Statement::Delete(d) => ("DELETE", d.using.is_some() || d.tables.len() > 1),
        Statement::Update(u) => ("UPDATE", u.from.is_some()),
        _ => return Ok(()),
    };
    struct Subqueries(bool);
    impl Visitor for Subqueries {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &SqlExpr) -> std::ops::ControlFlow<()> {
            if matches!(
                expr,
                SqlExpr::Subquery(_) | SqlExpr::InSubquery { .. } | SqlExpr::Exists { .. }
            ) {
                self.0 = true;
                return std::ops::ControlFlow::Break(());
            }
            std::ops::ControlFlow::Continue(())
        }
    }
    let mut found = Subqueries(false);
    let _ = statement.visit(&mut found);
    if has_join || found.0 {
        return Err(SqlError::Unsupported {
            statement: kind.into(),
            reason: "subqueries and joins in a DELETE or UPDATE are not supported yet; compute the keys in a query and use MERGE from Rust (Table::merge) or `strata merge`".into(),
        });
    }
    Ok(())
}

/// Downcasting a schema provider to a [`DirectorySchema`].
trait DowncastDirectory {
    fn downcast_ref_directory(&self) -> Option<&DirectorySchema>;
}

impl DowncastDirectory for dyn SchemaProvider {
    fn downcast_ref_directory(&self) -> Option<&DirectorySchema> {
        (self as &dyn std::any::Any).downcast_ref::<DirectorySchema>()
    }
}
