//! Pipelines: a set of flows run in dependency order (`protocol/PROTOCOL.md#pipelines`). A
//! flow depends on the flows whose targets it reads; flows of one level run concurrently; a
//! failed flow skips the flows downstream of it and no other.

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use crate::error::PipelineError;
use crate::flow::Flow;
use crate::lake::{Lake, TableName};
use crate::lineage::cursor_app_id;
use crate::run::RunReport;

/// Flows, run together in dependency order.
#[derive(Debug, Clone, Default)]
pub struct Pipeline {
    flows: Vec<Flow>,
}

/// What became of one flow in a pipeline run.
#[derive(Debug)]
pub enum FlowOutcome {
    /// It ran (or found nothing new).
    Ran(RunReport),
    /// It failed; nothing of it was committed.
    Failed(PipelineError),
    /// An upstream flow failed, so it did not run.
    Skipped {
        /// The failed upstream flow.
        upstream: String,
    },
}

/// One run of every flow of a pipeline.
#[derive(Debug)]
pub struct PipelineReport {
    /// Each flow's outcome, in the order they ran.
    pub flows: Vec<(String, FlowOutcome)>,
}

impl PipelineReport {
    /// Whether every flow ran.
    pub fn is_success(&self) -> bool {
        self.flows
            .iter()
            .all(|(_, o)| matches!(o, FlowOutcome::Ran(_)))
    }
}

impl fmt::Display for PipelineReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, outcome) in &self.flows {
            match outcome {
                FlowOutcome::Ran(report) => writeln!(f, "{report}")?,
                FlowOutcome::Failed(e) => writeln!(f, "{name}: FAILED: {e}")?,
                FlowOutcome::Skipped { upstream } => {
                    writeln!(f, "{name}: skipped ({upstream} failed)")?
                }
            }
        }
        Ok(())
    }
}

/// How far one flow is behind one of its sources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLag {
    /// The flow.
    pub flow: String,
    /// The source table.
    pub source: String,
    /// The last source version the flow consumed; `None` when it never ran.
    pub cursor: Option<i64>,
    /// The source's latest version.
    pub latest: i64,
    /// Versions not yet consumed.
    pub versions_behind: i64,
    /// Rows added to the source since the cursor, when statistics tell.
    pub rows_behind: Option<i64>,
}

impl Pipeline {
    /// An empty pipeline.
    pub fn new() -> Pipeline {
        Pipeline::default()
    }

    /// Adds a flow.
    pub fn flow(mut self, flow: Flow) -> Pipeline {
        self.flows.push(flow);
        self
    }

    /// The flows, in the order added.
    pub fn flows(&self) -> &[Flow] {
        &self.flows
    }

    /// The flows in levels: each level's flows read only tables written by earlier levels
    /// (or by no flow of the pipeline).
    ///
    /// # Errors
    /// [`PipelineError::BadFlow`] for two flows of one name, or a cycle.
    pub fn levels(&self) -> Result<Vec<Vec<usize>>, PipelineError> {
        let mut names = BTreeSet::new();
        for flow in &self.flows {
            if !names.insert(flow.name.as_str()) {
                return Err(PipelineError::BadFlow {
                    flow: flow.name.clone(),
                    reason: "two flows of the pipeline have this name".into(),
                });
            }
        }
        let depends = |i: usize, j: usize| {
            self.flows[i]
                .sources
                .iter()
                .any(|(source, _)| same_table(source, &self.flows[j].target))
        };
        let mut placed = vec![false; self.flows.len()];
        let mut levels = Vec::new();
        while placed.iter().any(|p| !p) {
            let level: Vec<usize> = (0..self.flows.len())
                .filter(|&i| !placed[i])
                .filter(|&i| (0..self.flows.len()).all(|j| j == i || placed[j] || !depends(i, j)))
                .collect();
            if level.is_empty() {
                let stuck = (0..self.flows.len()).find(|&i| !placed[i]).unwrap_or(0);
                return Err(PipelineError::BadFlow {
                    flow: self.flows[stuck].name.clone(),
                    reason: "the pipeline's flows read each other's targets in a cycle".into(),
                });
            }
            for &i in &level {
                placed[i] = true;
            }
            levels.push(level);
        }
        Ok(levels)
    }

    /// Runs every flow once, level by level (a level's flows concurrently), so downstream
    /// flows see what upstream ones just committed. A failed flow skips the flows that read
    /// its target, directly or not; the others run.
    ///
    /// # Errors
    /// [`PipelineError::BadFlow`] for a pipeline that cannot be ordered; flow failures are in
    /// the report.
    pub async fn run_once(&self, lake: &Lake) -> Result<PipelineReport, PipelineError> {
        let levels = self.levels()?;
        let mut failed: Vec<String> = Vec::new(); // targets that did not get their update
        let mut report = PipelineReport { flows: Vec::new() };
        for level in levels {
            let mut runs = Vec::new();
            for i in level {
                let flow = &self.flows[i];
                let upstream = flow.sources.iter().find_map(|(source, _)| {
                    failed
                        .iter()
                        .find(|t| same_table(source, t))
                        .map(|t| self.writer_of(t))
                });
                match upstream {
                    Some(upstream) => {
                        failed.push(flow.target.clone());
                        report
                            .flows
                            .push((flow.name.clone(), FlowOutcome::Skipped { upstream }));
                    }
                    None => runs.push(flow),
                }
            }
            let results = futures::future::join_all(runs.iter().map(|f| f.run(lake))).await;
            for (flow, result) in runs.into_iter().zip(results) {
                let outcome = match result {
                    Ok(r) => FlowOutcome::Ran(r),
                    Err(e) => {
                        failed.push(flow.target.clone());
                        FlowOutcome::Failed(e)
                    }
                };
                report.flows.push((flow.name.clone(), outcome));
            }
        }
        Ok(report)
    }

    /// Runs the pipeline every `interval` until `stop` resolves (a signal handler, say); the
    /// run in progress when it does is finished first. Returns each run's report.
    ///
    /// # Errors
    /// As [`Pipeline::run_once`].
    pub async fn watch<F>(
        &self,
        lake: &Lake,
        interval: Duration,
        stop: F,
        mut on_run: impl FnMut(&PipelineReport),
    ) -> Result<(), PipelineError>
    where
        F: std::future::Future<Output = ()>,
    {
        let mut stop = std::pin::pin!(stop);
        loop {
            let report = self.run_once(lake).await?;
            on_run(&report);
            let tick = tokio::time::sleep(interval);
            let mut tick = std::pin::pin!(tick);
            match futures::future::select(stop.as_mut(), tick.as_mut()).await {
                futures::future::Either::Left(_) => return Ok(()),
                futures::future::Either::Right(_) => {}
            }
        }
    }

    /// Full-refreshes the flow named `flow` and every flow downstream of it, in dependency
    /// order ([`Flow::run_full_refresh`]): for a changed transform, or a target rolled back by
    /// hand. A failure stops the flows after it.
    ///
    /// # Errors
    /// [`PipelineError::BadFlow`] for an unknown flow name.
    pub async fn reset(&self, lake: &Lake, flow: &str) -> Result<PipelineReport, PipelineError> {
        let Some(start) = self.flows.iter().position(|f| f.name == flow) else {
            let names: Vec<&str> = self.flows.iter().map(|f| f.name.as_str()).collect();
            return Err(PipelineError::BadFlow {
                flow: flow.to_string(),
                reason: format!(
                    "the pipeline has no such flow; its flows are {}",
                    names.join(", ")
                ),
            });
        };
        // The flow, and every flow reading (directly or not) a target of one already chosen.
        let mut chosen = vec![false; self.flows.len()];
        chosen[start] = true;
        let mut grew = true;
        while grew {
            grew = false;
            for i in 0..self.flows.len() {
                if chosen[i] {
                    continue;
                }
                let reads_chosen = self.flows[i].sources.iter().any(|(source, _)| {
                    (0..self.flows.len())
                        .any(|j| chosen[j] && same_table(source, &self.flows[j].target))
                });
                if reads_chosen {
                    chosen[i] = true;
                    grew = true;
                }
            }
        }
        let mut report = PipelineReport { flows: Vec::new() };
        for level in self.levels()? {
            for i in level.into_iter().filter(|&i| chosen[i]) {
                let flow = &self.flows[i];
                match flow.run_full_refresh(lake).await {
                    Ok(r) => report.flows.push((flow.name.clone(), FlowOutcome::Ran(r))),
                    Err(e) => {
                        report
                            .flows
                            .push((flow.name.clone(), FlowOutcome::Failed(e)));
                        return Ok(report);
                    }
                }
            }
        }
        Ok(report)
    }

    /// How far each flow is behind each of its sources (sources not created yet are left
    /// out).
    ///
    /// # Errors
    /// A table that cannot be read.
    pub async fn status(&self, lake: &Lake) -> Result<Vec<SourceLag>, PipelineError> {
        let mut lags = Vec::new();
        for flow in &self.flows {
            let target = TableName::parse(&flow.target)?;
            let target = match lake.open_table(&target).await {
                Ok(t) => Some(t.snapshot().await?),
                Err(PipelineError::Table(strata::Error::NotATable { .. })) => None,
                Err(e) => return Err(e),
            };
            for (source, _) in &flow.sources {
                let table = match lake.table(source).await {
                    Ok(t) => t,
                    // Not created yet (its flow never ran): nothing to be behind on.
                    Err(PipelineError::Table(strata::Error::NotATable { .. })) => continue,
                    Err(e) => return Err(e),
                };
                let snapshot = table.snapshot().await?;
                let app_id = cursor_app_id(&flow.name, &snapshot.metadata().id);
                let cursor = target.as_ref().and_then(|t| t.txn_version(&app_id));
                let latest = snapshot.version();
                let rows_behind = match cursor {
                    Some(c) if c >= latest => Some(0),
                    Some(c) => rows_between(&table, c, latest).await,
                    None => snapshot.num_records().await?,
                };
                lags.push(SourceLag {
                    flow: flow.name.clone(),
                    source: source.clone(),
                    cursor,
                    latest,
                    versions_behind: latest - cursor.unwrap_or(-1),
                    rows_behind,
                });
            }
        }
        Ok(lags)
    }

    /// The flow writing `target`, for messages.
    fn writer_of(&self, target: &str) -> String {
        self.flows
            .iter()
            .find(|f| same_table(&f.target, target))
            .map(|f| f.name.clone())
            .unwrap_or_else(|| target.to_string())
    }
}

/// Rows added between two versions, from the files' statistics.
async fn rows_between(table: &strata::Table, from: i64, to: i64) -> Option<i64> {
    table.diff(from, to).await.ok()?.rows_added()
}

fn same_table(a: &str, b: &str) -> bool {
    match (TableName::parse(a), TableName::parse(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}
