//! Running a flow once (`protocol/PROTOCOL.md#pipelines`): read each source from the version
//! after its cursor, transform, check expectations, and commit the output together with the
//! advanced cursors and the lineage. A concurrent commit that wins the race (another runner
//! of the same flow, or any conflicting writer) makes the run start over from the new cursors,
//! so each source range is committed exactly once.

use std::fmt;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde_json::json;
use strata::{
    CHANGE_TYPE_COLUMN, COMMIT_TIMESTAMP_COLUMN, COMMIT_VERSION_COLUMN, CommitExtras, Snapshot,
    Table, WriteMode,
};

use crate::error::PipelineError;
use crate::expectations::{ExpectationCount, apply_expectations};
use crate::flow::{
    Checked, Flow, FlowInput, ReadMode, Sink, SourceInput, Transform, TransformError,
};
use crate::lake::{Lake, TableName};
use crate::lineage::{LINEAGE_KEY, Lineage, SourceRange, cursor_app_id};

/// Runs of one flow that lose the race before giving up.
const MAX_ATTEMPTS: u32 = 20;
/// The `commitInfo` field with the run's expectation counts.
pub const EXPECTATIONS_KEY: &str = "strata.expectations";

/// What one run of a flow did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunReport {
    /// The flow.
    pub flow: String,
    /// Its target.
    pub target: String,
    /// The version committed; `None` when nothing was.
    pub version: Option<i64>,
    /// No source had a version the flow had not consumed.
    pub up_to_date: bool,
    /// Another runner committed these source ranges first; nothing more was done.
    pub already_applied: bool,
    /// Rows read from the sources.
    pub rows_read: u64,
    /// Rows written to the target (after `drop` expectations).
    pub rows_written: u64,
    /// Each expectation's violations.
    pub expectations: Vec<ExpectationCount>,
    /// The source ranges consumed.
    pub sources: Vec<SourceRange>,
    /// Attempts (more than 1 when a concurrent commit won a race).
    pub attempts: u32,
}

impl fmt::Display for RunReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.up_to_date {
            return write!(f, "{} -> {}: up to date", self.flow, self.target);
        }
        if self.already_applied {
            return write!(
                f,
                "{} -> {}: already committed by another run",
                self.flow, self.target
            );
        }
        let ranges: Vec<String> = self
            .sources
            .iter()
            .map(|s| match s.from_version {
                Some(from) => format!("{} v{from}..={}", s.table, s.to_version),
                None => format!("{} @v{}", s.table, s.to_version),
            })
            .collect();
        write!(
            f,
            "{} -> {}: {} rows read ({}), {} written",
            self.flow,
            self.target,
            self.rows_read,
            ranges.join(", "),
            self.rows_written
        )?;
        if let Some(v) = self.version {
            write!(f, " as version {v}")?;
        }
        for e in self.expectations.iter().filter(|e| e.violations > 0) {
            write!(f, "; {} violated {} times", e.name, e.violations)?;
        }
        Ok(())
    }
}

/// One source, planned: where its cursor is and how far to read.
struct PlannedSource {
    name: TableName,
    mode: ReadMode,
    table: Table,
    snapshot: Snapshot,
    app_id: String,
    /// Where this run starts (`None`: the whole snapshot).
    cursor: Option<i64>,
    /// The cursor the target holds (differs from `cursor` in a full refresh).
    recorded: Option<i64>,
}

impl PlannedSource {
    fn end(&self) -> i64 {
        self.snapshot.version()
    }

    /// The schema of the rows [`PlannedSource::read`] returns (`rows`' own when there are
    /// any): the table's, with the change columns when read as changes.
    fn schema(&self, rows: &[RecordBatch]) -> SchemaRef {
        if let Some(first) = rows.first() {
            return first.schema();
        }
        let table = self.snapshot.arrow_schema();
        if self.mode != ReadMode::Changes {
            return table;
        }
        let mut fields: Vec<Field> = table.fields().iter().map(|f| f.as_ref().clone()).collect();
        fields.extend(change_fields());
        Arc::new(Schema::new(fields))
    }

    /// Whether this run reads anything new from it.
    fn advances(&self) -> bool {
        self.cursor.is_none_or(|c| c < self.end())
    }

    /// The first version read, `None` for the whole snapshot.
    fn first_version(&self) -> Option<i64> {
        match (self.mode, self.cursor) {
            (ReadMode::Snapshot, _) | (_, None) => None,
            (_, Some(c)) => Some(c + 1),
        }
    }

    fn range(&self) -> SourceRange {
        SourceRange {
            table: self.name.to_string(),
            table_id: self.snapshot.metadata().id.clone(),
            location: self.table.location().to_string(),
            read: self.mode.as_str().to_string(),
            from_version: self.first_version(),
            to_version: self.end(),
        }
    }

    /// Reads its rows for this run.
    async fn read(&self) -> Result<Vec<RecordBatch>, PipelineError> {
        let end = self.end();
        if self.mode == ReadMode::Appends && self.cursor.is_none() {
            // A first read of an append-only source takes its rows in commit order (the feed
            // of appends from version 0), so a transform that keeps the last row of a key
            // sees the latest; a history with updates or cleaned-up commits falls back to the
            // snapshot, whose file order is arbitrary.
            let appends = self
                .table
                .changes()
                .appends_only()
                .from_version(0)
                .to_version(end);
            match appends.collect().await {
                Ok(rows) => return without_change_columns(rows),
                // Not all appends, or not all in the log: the snapshot has the rows.
                Err(strata::Error::ChangeDataFeed { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let Some(from) = self.first_version() else {
            let rows = self.snapshot.scan().collect().await?;
            return Ok(match self.mode {
                ReadMode::Changes => as_inserts(rows, end, self.snapshot.timestamp_ms())?,
                _ => rows,
            });
        };
        if from > end {
            return Ok(Vec::new());
        }
        let changes = self.table.changes().from_version(from).to_version(end);
        Ok(match self.mode {
            ReadMode::Appends => without_change_columns(changes.appends_only().collect().await?)?,
            _ => changes.collect().await?,
        })
    }
}

impl Flow {
    /// Recomputes the target from scratch: every source is read whole (its snapshot), the
    /// output replaces the target's rows in one commit (whatever the sink), and the cursors
    /// move to the versions read. For a changed transform or a target rolled back by hand
    /// (`strata pipeline reset`); later runs are incremental again.
    ///
    /// # Errors
    /// As [`Flow::run`].
    pub async fn run_full_refresh(&self, lake: &Lake) -> Result<RunReport, PipelineError> {
        let mut flow = self.clone();
        flow.full_refresh = true;
        flow.run(lake).await
    }

    /// Whether any expectation quarantines rows.
    fn quarantines(&self) -> bool {
        self.expectations
            .iter()
            .any(|e| e.action == crate::ExpectationAction::Quarantine)
    }

    /// Runs the flow once: reads what is new in its sources, transforms it, and commits the
    /// output with the advanced cursors and the lineage, exactly once. A run with nothing new
    /// commits nothing (`up_to_date`); a run whose ranges another runner committed first does
    /// nothing (`already_applied`).
    ///
    /// # Errors
    /// [`PipelineError::BadFlow`], [`PipelineError::BadTableName`] for a wrong definition;
    /// [`PipelineError::Transform`]; [`PipelineError::ExpectationFailed`];
    /// [`PipelineError::TooManyAttempts`]; table errors (a missing source, an update in a
    /// source read as [`ReadMode::Appends`], duplicate keys for [`Sink::Upsert`], ...). Nothing
    /// is committed on any error.
    pub async fn run(&self, lake: &Lake) -> Result<RunReport, PipelineError> {
        let checked = self.validate()?;
        for attempt in 1..=MAX_ATTEMPTS {
            match self.attempt(lake, &checked, attempt).await {
                Err(PipelineError::Table(strata::Error::Conflict { .. })) => continue,
                other => return other,
            }
        }
        Err(PipelineError::TooManyAttempts {
            flow: self.name.clone(),
            attempts: MAX_ATTEMPTS,
        })
    }

    async fn attempt(
        &self,
        lake: &Lake,
        checked: &Checked,
        attempt: u32,
    ) -> Result<RunReport, PipelineError> {
        let Checked {
            target,
            sources,
            transform,
        } = checked;
        let target_table = open_if_exists(lake, target).await?;
        let target_snapshot = match &target_table {
            Some(t) => Some(t.snapshot().await?),
            None => None,
        };
        let quarantine = quarantine_name(target);
        // Opened once per attempt, and only by flows that quarantine.
        let quarantine_table = match self.quarantines() {
            true => open_if_exists(lake, &quarantine).await?,
            false => None,
        };
        let quarantine_snapshot = match &quarantine_table {
            Some(t) => Some(t.snapshot().await?),
            None => None,
        };
        let mut planned = Vec::with_capacity(sources.len());
        for (name, mode) in sources {
            let table = lake.open_table(name).await?;
            let mut snapshot = table.snapshot().await?;
            let app_id = cursor_app_id(&self.name, &snapshot.metadata().id);
            let recorded = target_snapshot
                .as_ref()
                .and_then(|s| s.txn_version(&app_id));
            let cursor = recorded.filter(|_| !self.full_refresh);
            // The quarantine table committed a range the target did not (a run that stopped
            // between the two commits): read exactly that range again, so both tables hold
            // the same ranges and the quarantine commit is found already applied.
            let quarantined = quarantine_snapshot
                .as_ref()
                .and_then(|s| s.txn_version(&app_id));
            if let Some(q) = quarantined
                && !self.full_refresh
                && cursor.is_none_or(|c| q > c)
                && q != snapshot.version()
            {
                snapshot = table.snapshot_at_version(q).await?;
            }
            planned.push(PlannedSource {
                name: name.clone(),
                mode: *mode,
                table,
                snapshot,
                app_id,
                cursor,
                recorded,
            });
        }
        let mut report = RunReport {
            flow: self.name.clone(),
            target: target.to_string(),
            version: None,
            up_to_date: false,
            already_applied: false,
            rows_read: 0,
            rows_written: 0,
            expectations: Vec::new(),
            sources: Vec::new(),
            attempts: attempt,
        };
        if !self.full_refresh && !planned.iter().any(PlannedSource::advances) {
            report.up_to_date = true;
            return Ok(report);
        }

        let input_read_target = self.reads_target && !self.full_refresh;
        let target_rows = match (&target_snapshot, input_read_target) {
            (Some(s), true) => Some(s.scan().collect().await?),
            (None, true) => Some(Vec::new()),
            _ => None,
        };
        let mut input = FlowInput {
            sources: Vec::with_capacity(planned.len()),
            target: target_rows,
        };
        for source in &planned {
            let rows = source.read().await?;
            report.rows_read += rows.iter().map(|b| b.num_rows() as u64).sum::<u64>();
            input.sources.push(SourceInput {
                name: source.name.to_string(),
                from_version: source.first_version(),
                to_version: source.end(),
                schema: source.schema(&rows),
                rows,
            });
        }
        let target_schema = target_snapshot.as_ref().map(Snapshot::arrow_schema);
        let output = run_transform(transform, &input, target, target_schema)
            .await
            .map_err(|e| PipelineError::Transform {
                flow: self.name.clone(),
                message: e.to_string(),
            })?;
        let checked = apply_expectations(&self.name, &self.expectations, output)?;
        let kept = checked.kept;
        report.rows_written = kept.iter().map(|b| b.num_rows() as u64).sum();
        report.expectations = checked.counts;
        report.sources = planned
            .iter()
            .filter(|s| s.advances() || s.mode == ReadMode::Snapshot)
            .map(PlannedSource::range)
            .collect();

        let mut extras = CommitExtras::default();
        // A cursor moves only forward (a full refresh of a caught-up flow records none).
        for source in &planned {
            if source.recorded.is_none_or(|r| r < source.end()) {
                extras.add_txn(source.app_id.clone(), source.end());
            }
        }
        let lineage = Lineage {
            flow: self.name.clone(),
            transform_version: self.transform_version.clone(),
            sink: self.sink.as_str().to_string(),
            query: match transform {
                Transform::Closure(_) => None,
                #[cfg(feature = "sql")]
                Transform::Sql(query) => Some(query.clone()),
            },
            sources: report.sources.clone(),
        };
        extras.add_metadata(LINEAGE_KEY, json!(lineage));
        extras.add_metadata(EXPECTATIONS_KEY, json!(report.expectations));

        if !checked.quarantined.is_empty() {
            let table = match quarantine_table {
                Some(t) => t,
                None => self
                    .create_target(lake, &quarantine, &checked.quarantined)
                    .await?
                    .ok_or_else(|| PipelineError::BadFlow {
                        flow: self.name.clone(),
                        reason: "no quarantine schema".into(),
                    })?,
            };
            let rows: Vec<RecordBatch> = checked
                .quarantined
                .into_iter()
                .filter(|b| b.num_rows() > 0)
                .collect();
            table
                .write(rows)
                .with_commit_extras(extras.clone())
                .execute()
                .await?;
        }
        let Some(table) = (match target_table {
            Some(t) => Some(t),
            None => self.create_target(lake, target, &kept).await?,
        }) else {
            // No output and no target yet: nothing to record the cursors in; the next run
            // reads the same ranges again.
            return Ok(report);
        };
        // Totals computed from the target's rows are only right on top of that version.
        let expected = match (&target_snapshot, &input_read_target) {
            (Some(s), true) => Some(s.version()),
            _ => None,
        };
        let (version, already_applied) = self.commit(&table, kept, extras, expected).await?;
        report.version = (!already_applied).then_some(version);
        report.already_applied = already_applied;
        Ok(report)
    }

    /// Creates the target with the output's schema (and the flow's partitioning), or opens it
    /// when a concurrent runner just did; `None` when there is no output to take a schema from.
    async fn create_target(
        &self,
        lake: &Lake,
        target: &TableName,
        output: &[RecordBatch],
    ) -> Result<Option<Table>, PipelineError> {
        let Some(mut schema) = output.first().map(RecordBatch::schema) else {
            return Ok(None);
        };
        if let Sink::ApplyChanges(spec) = &self.sink
            && *target == TableName::parse(&self.target)?
        {
            schema = spec.target_schema(&schema)?;
        }
        let mut builder = lake
            .create_builder(target)?
            .with_arrow_schema(&schema)?
            .with_partition_columns(self.partition_columns.clone());
        if *target == TableName::parse(&self.target)? {
            for (k, v) in &self.target_properties {
                builder = builder.with_property(k.clone(), v.clone());
            }
        }
        let created = builder.execute().await;
        match created {
            Ok(table) => Ok(Some(table)),
            Err(strata::Error::TableExists { .. }) => Ok(Some(lake.open_table(target).await?)),
            Err(e) => Err(e.into()),
        }
    }

    /// Commits the output with `extras` through the sink; returns the version and whether the
    /// table already held the cursors.
    async fn commit(
        &self,
        table: &Table,
        output: Vec<RecordBatch>,
        extras: CommitExtras,
        expected_version: Option<i64>,
    ) -> Result<(i64, bool), PipelineError> {
        match &self.sink {
            _ if self.full_refresh => {
                let output: Vec<RecordBatch> =
                    output.into_iter().filter(|b| b.num_rows() > 0).collect();
                let result = table
                    .write(output)
                    .with_mode(WriteMode::Overwrite)
                    .with_commit_extras(extras)
                    .execute()
                    .await?;
                Ok((result.version, false))
            }
            Sink::Append | Sink::FullRefresh => {
                let mode = match self.sink {
                    Sink::FullRefresh => WriteMode::Overwrite,
                    _ => WriteMode::Append,
                };
                let output: Vec<RecordBatch> =
                    output.into_iter().filter(|b| b.num_rows() > 0).collect();
                let result = table
                    .write(output)
                    .with_mode(mode)
                    .with_commit_extras(extras)
                    .execute()
                    .await?;
                Ok((result.version, result.already_applied))
            }
            Sink::ApplyChanges(spec) => {
                crate::apply_changes::apply(&self.name, table, output, spec, extras).await
            }
            Sink::Upsert { keys } => {
                if keys.is_empty() {
                    return Err(PipelineError::BadFlow {
                        flow: self.name.clone(),
                        reason: "an upsert needs at least one key column".into(),
                    });
                }
                let on = keys
                    .iter()
                    .map(|k| format!("target.`{k}` = source.`{k}`"))
                    .collect::<Vec<_>>()
                    .join(" AND ");
                let output: Vec<RecordBatch> =
                    output.into_iter().filter(|b| b.num_rows() > 0).collect();
                let mut merge = table
                    .merge(output, on.as_str())
                    .when_matched_update_all()
                    .when_not_matched_insert_all()
                    .with_commit_extras(extras);
                if let Some(v) = expected_version {
                    merge = merge.with_expected_version(v);
                }
                let result = merge.execute().await?;
                let version = result.version.unwrap_or(-1);
                Ok((version, result.already_applied))
            }
        }
    }
}

/// The quarantine table beside `target`: `layer.NAME_quarantine`.
fn quarantine_name(target: &TableName) -> TableName {
    TableName {
        layer: target.layer,
        name: format!("{}_quarantine", target.name),
    }
}

/// Opens `name`, `None` when there is no table there yet.
async fn open_if_exists(lake: &Lake, name: &TableName) -> Result<Option<Table>, PipelineError> {
    match lake.open_table(name).await {
        Ok(table) => Ok(Some(table)),
        Err(PipelineError::Table(strata::Error::NotATable { .. })) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The change feed's three columns, as a snapshot read as changes carries them.
fn change_fields() -> [Field; 3] {
    [
        Field::new(CHANGE_TYPE_COLUMN, DataType::Utf8, true),
        Field::new(COMMIT_VERSION_COLUMN, DataType::Int64, false),
        Field::new(
            COMMIT_TIMESTAMP_COLUMN,
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
    ]
}

/// Runs the flow's transform: the closure, or the SQL query over the input's tables.
async fn run_transform(
    transform: &Transform,
    input: &FlowInput,
    target: &TableName,
    target_schema: Option<SchemaRef>,
) -> Result<Vec<RecordBatch>, TransformError> {
    #[cfg(not(feature = "sql"))]
    let _ = (target, target_schema);
    match transform {
        Transform::Closure(f) => f(input),
        #[cfg(feature = "sql")]
        Transform::Sql(query) => crate::sql::run(query, input, target, target_schema).await,
    }
}

/// A snapshot's rows as change feed rows: every one an `insert` at `version`.
fn as_inserts(
    rows: Vec<RecordBatch>,
    version: i64,
    timestamp_ms: i64,
) -> Result<Vec<RecordBatch>, PipelineError> {
    rows.into_iter()
        .map(|batch| {
            let n = batch.num_rows();
            let mut fields: Vec<Field> = batch
                .schema()
                .fields()
                .iter()
                .map(|f| f.as_ref().clone())
                .collect();
            fields.extend(change_fields());
            let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
            columns.push(Arc::new(StringArray::from(vec!["insert"; n])));
            columns.push(Arc::new(Int64Array::from(vec![version; n])));
            columns.push(Arc::new(
                TimestampMicrosecondArray::from(vec![timestamp_ms.saturating_mul(1000); n])
                    .with_timezone("UTC"),
            ));
            Ok(RecordBatch::try_new(
                Arc::new(Schema::new(fields)),
                columns,
            )?)
        })
        .collect()
}

/// Change feed rows without the three change columns.
fn without_change_columns(rows: Vec<RecordBatch>) -> Result<Vec<RecordBatch>, PipelineError> {
    rows.into_iter()
        .map(|batch| {
            let keep: Vec<usize> = (0..batch.num_columns().saturating_sub(3)).collect();
            Ok(batch.project(&keep)?)
        })
        .collect()
}
