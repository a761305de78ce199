//! Fault injection: strata over [`FaultStore`] (failed operations, lost acknowledgements,
//! listing lag, a writer that dies at a chosen point), checked after every fault by reopening
//! the table on a fault-free store over the same objects
//! (`protocol/PROTOCOL.md#commit-protocol`, `#storage-assumptions`, `#idempotent-writes`).
//!
//! Invariants checked after every attempt, against a model of the ids at every version:
//! - the table is at the state before or after the write, never partial, never twice;
//! - every earlier version still reads identically;
//! - a success means the commit landed at the reported version; an error may have landed
//!   (lost acknowledgement, crash after the put) but then only once;
//! - rerunning the write with the same `(appId, version)` is exactly once: `already_applied`
//!   when it landed, one new commit when it did not;
//! - each `txn` version appears in exactly one commit, and no `commitInfo.txnId` twice;
//! - on a row-tracking table, no two live files' row id ranges overlap.
//!
//! Seeds write to plain tables and to tables with column mapping (name, and id with deletion
//! vectors), row tracking, and the change data feed (with and without deletion vectors), chosen
//! by the seed; besides idempotent writes they delete, update and merge (each idempotent), so
//! a crash between writing deletion-vector or `cdc` files and the commit is swept too.
//!
//! Seeds: `STRATA_FAULT_SEEDS=<n>` runs more seeds in the sweep (default
//! [`DEFAULT_SEEDS`]); `STRATA_FAULT_SEED=<n>` replays one. A failure prints the seed, the
//! faults, the operation log of every fault store involved and the replay command.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::future::Future;
use std::ops::Range;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::Int64Type;
use futures::{FutureExt, StreamExt, TryStreamExt};
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use strata::{Error, Storage, Table, WriteMode, WriteResult};

use crate::support::fault_store::{
    AckLoss, Budget, Fault, FaultStore, OpKind, OpMatch, SplitMix64,
};
use crate::support::*;

/// Seeds the sweep runs by default; keeps the module well under its 30 s debug-build budget.
const DEFAULT_SEEDS: u64 = 500;
/// Seeds run at once (each on its own store).
const SWEEP_CONCURRENCY: usize = 4;
/// The `appId` of every idempotent write here.
const APP: &str = "faults-job";

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

// ---------------------------------------------------------------------------------------------
// Stores and steps

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Memory,
    Local,
}

/// The objects of one table, shared by the faulty writer and the fault-free checker.
struct Lake {
    inner: Arc<dyn ObjectStore>,
    root: String,
    _dir: Option<TempLake>,
}

impl Lake {
    fn new(backend: Backend) -> Lake {
        match backend {
            Backend::Memory => Lake {
                inner: Arc::new(InMemory::new()),
                root: "tables/t".into(),
                _dir: None,
            },
            Backend::Local => {
                let dir = TempLake::new();
                let root = dir.table("t").trim_start_matches('/').to_string();
                Lake {
                    inner: Arc::new(object_store::local::LocalFileSystem::new()),
                    root,
                    _dir: Some(dir),
                }
            }
        }
    }

    /// A fault-free view: what a reader (or a rerun job) in a healthy process sees.
    fn clean(&self) -> Storage {
        Storage::from_store(self.inner.clone(), &self.root, "clean://t").expect("clean storage")
    }

    /// The writer's view, through the fault store.
    fn over(&self, faults: &Arc<FaultStore>) -> Storage {
        Storage::from_store(faults.clone(), &self.root, "fault://t").expect("fault storage")
    }

    /// Every `.parquet` object outside `_delta_log/`, relative to the table root.
    async fn data_files(&self) -> Result<BTreeSet<String>, String> {
        Ok(self
            .objects()
            .await?
            .into_iter()
            .filter(|o| o.ends_with(".parquet"))
            .collect())
    }

    /// Every object outside `_delta_log/`, relative to the table root.
    async fn objects(&self) -> Result<BTreeSet<String>, String> {
        let prefix = Path::parse(&self.root).map_err(|e| e.to_string())?;
        let metas: Vec<_> = self
            .inner
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|e| format!("listing objects: {e}"))?;
        let strip = format!("{}/", self.root);
        Ok(metas
            .into_iter()
            .filter_map(|m| {
                let rel = m.location.as_ref().strip_prefix(&strip)?.to_string();
                (!rel.starts_with("_delta_log/")).then_some(rel)
            })
            .collect())
    }

    /// The JSON lines of a commit file, read straight from the store.
    async fn commit_lines(&self, version: i64) -> Result<Vec<serde_json::Value>, String> {
        let path = Path::parse(format!("{}/_delta_log/{version:020}.json", self.root))
            .map_err(|e| e.to_string())?;
        let bytes = self
            .inner
            .get(&path)
            .await
            .map_err(|e| format!("commit {version}: {e}"))?
            .bytes()
            .await
            .map_err(|e| format!("commit {version}: {e}"))?;
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).map_err(|e| format!("commit {version}: {e}")))
            .collect()
    }
}

/// One idempotent write of distinct ids.
#[derive(Debug, Clone)]
struct Step {
    ids: Range<i64>,
    mode: WriteMode,
    /// The `txn.version` under [`APP`]; 0 writes without a txn.
    txn: i64,
    /// Two countries, so a partitioned table gets two data files.
    split: bool,
    /// The writer process reopens the table before this write (so opening is faulted too).
    reopen: bool,
    /// A row-level operation over `ids` instead of a write.
    dml: Option<Dml>,
}

/// Row-level operations the sweep runs; each is idempotent, so a rerun after it landed
/// changes nothing and commits nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dml {
    /// `DELETE WHERE id` in the range.
    Delete,
    /// `UPDATE SET id = id + 1000 WHERE id` in the range (the rows leave the range).
    Update,
    /// `MERGE` the range's ids on `id`: matched rows whose name differs take the source's,
    /// the others are inserted.
    Merge,
}

/// What an attempt reported, as the checks see it.
#[derive(Debug, Clone, Copy)]
struct Report {
    /// `None` when nothing changed and nothing was committed.
    version: Option<i64>,
    already_applied: bool,
    /// Rows written (a write), deleted, updated, or inserted (a merge).
    num_rows: u64,
}

trait AsReport: std::fmt::Debug {
    fn report(&self) -> Report;
}

impl AsReport for WriteResult {
    fn report(&self) -> Report {
        Report {
            version: Some(self.version),
            already_applied: self.already_applied,
            num_rows: self.num_rows,
        }
    }
}

impl AsReport for Report {
    fn report(&self) -> Report {
        *self
    }
}

impl Step {
    fn append(ids: Range<i64>, txn: i64) -> Step {
        Step {
            ids,
            mode: WriteMode::Append,
            txn,
            split: false,
            reopen: false,
            dml: None,
        }
    }

    fn batches(&self) -> Vec<RecordBatch> {
        let (start, end) = (self.ids.start, self.ids.end);
        if self.split && end - start >= 2 {
            let mid = start + (end - start) / 2;
            vec![people(start..mid, Some("PT")), people(mid..end, Some("NL"))]
        } else {
            vec![people(start..end, Some("PT"))]
        }
    }

    fn after(&self, before: &[i64]) -> Vec<i64> {
        let hit = |id: &i64| self.ids.contains(id);
        let mut ids: Vec<i64> = match self.dml {
            Some(Dml::Delete) => before.iter().copied().filter(|id| !hit(id)).collect(),
            Some(Dml::Update) => before
                .iter()
                .map(|&id| if hit(&id) { id + 1000 } else { id })
                .collect(),
            Some(Dml::Merge) => {
                let mut ids = before.to_vec();
                ids.extend(self.ids.clone().filter(|id| !before.contains(id)));
                ids
            }
            None => return self.written(before),
        };
        ids.sort_unstable();
        ids
    }

    /// The rows an attempt that lands reports.
    fn expected_rows(&self, before: &[i64]) -> u64 {
        let in_range = before.iter().filter(|id| self.ids.contains(id)).count() as u64;
        match self.dml {
            Some(Dml::Delete) | Some(Dml::Update) => in_range,
            Some(Dml::Merge) => self.ids.clone().count() as u64 - in_range,
            None => self.ids.clone().count() as u64,
        }
    }

    fn written(&self, before: &[i64]) -> Vec<i64> {
        let mut ids: Vec<i64> = match self.mode {
            WriteMode::Append => before.to_vec(),
            WriteMode::Overwrite => Vec::new(),
        };
        ids.extend(self.ids.clone());
        ids.sort_unstable();
        ids
    }

    /// Runs the step: a write, or its row-level operation.
    async fn run(&self, table: &Table) -> strata::Result<Report> {
        let range = format!("id >= {} AND id < {}", self.ids.start, self.ids.end);
        match self.dml {
            None => self.execute(table).await.map(|r| r.report()),
            Some(Dml::Delete) => {
                let r = table
                    .delete()
                    .with_predicate(range.as_str())
                    .execute()
                    .await?;
                Ok(Report {
                    version: r.version,
                    already_applied: false,
                    num_rows: r.num_deleted_rows,
                })
            }
            Some(Dml::Update) => {
                let r = table
                    .update()
                    .with_predicate(range.as_str())
                    .set("id", "id + 1000")
                    .execute()
                    .await?;
                Ok(Report {
                    version: r.version,
                    already_applied: false,
                    num_rows: r.num_updated_rows,
                })
            }
            Some(Dml::Merge) => {
                let mut source = people(self.ids.clone(), Some("NL"));
                let names: arrow::array::StringArray =
                    self.ids.clone().map(|i| Some(format!("m{i}"))).collect();
                let mut columns = source.columns().to_vec();
                columns[1] = Arc::new(names);
                source = RecordBatch::try_new(source.schema(), columns)?;
                let r = table
                    .merge(source, "target.id = source.id")
                    .when_matched_update(|c| {
                        c.set("name", "source.name")
                            .condition("target.name <> source.name")
                    })
                    .when_not_matched_insert_all()
                    .execute()
                    .await?;
                Ok(Report {
                    version: r.version,
                    already_applied: false,
                    num_rows: r.num_target_rows_inserted,
                })
            }
        }
    }

    async fn execute(&self, table: &Table) -> strata::Result<WriteResult> {
        let write = table.write(self.batches()).with_mode(self.mode);
        let write = if self.txn > 0 {
            write.with_txn(APP, self.txn)
        } else {
            write
        };
        write.execute().await
    }
}

/// Sorted ids (duplicates kept, so a double write shows) at a version.
async fn ids_at(table: &Table, version: i64) -> Result<Vec<i64>, String> {
    let snapshot = table
        .snapshot_at_version(version)
        .await
        .map_err(|e| format!("loading version {version}: {e}"))?;
    let batches = snapshot
        .scan()
        .with_columns(["id"])
        .collect()
        .await
        .map_err(|e| format!("scanning version {version}: {e}"))?;
    let mut ids: Vec<i64> = batches
        .iter()
        .flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec())
        .collect();
    ids.sort_unstable();
    Ok(ids)
}

async fn open(storage: Storage) -> strata::Result<Table> {
    Table::open_storage(storage).await
}

// ---------------------------------------------------------------------------------------------
// A run: a lake, the fault stores used on it, and the model of every version

type Stores = Arc<Mutex<Vec<Arc<FaultStore>>>>;

struct Run {
    lake: Lake,
    stores: Stores,
    /// Sorted ids at each version (index = version).
    model: Vec<Vec<i64>>,
    /// The `txn.version` each commit carries, by commit version.
    txn_at: BTreeMap<i64, i64>,
    partitioned: bool,
    /// Table properties of the seed's flavor (column mapping, deletion vectors, row tracking).
    properties: Vec<(&'static str, &'static str)>,
}

impl Run {
    fn new(backend: Backend, stores: Stores) -> Run {
        Run {
            lake: Lake::new(backend),
            stores,
            model: Vec::new(),
            txn_at: BTreeMap::new(),
            partitioned: false,
            properties: Vec::new(),
        }
    }

    /// A fault store over this lake, kept for the failure report.
    fn install(&self, store: FaultStore) -> Arc<FaultStore> {
        let store = Arc::new(store);
        self.stores
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(store.clone());
        store
    }

    fn create_builder(&self, storage: Storage) -> strata::CreateBuilder {
        let mut create = Table::create(storage.location().to_string())
            .with_storage(storage)
            .with_arrow_schema(&people_schema())
            .expect("people schema");
        for (key, value) in &self.properties {
            create = create.with_property(*key, *value);
        }
        if self.partitioned {
            create.with_partition_columns(["country"])
        } else {
            create
        }
    }

    async fn create_clean(&mut self) -> Result<(), String> {
        self.create_builder(self.lake.clean())
            .execute()
            .await
            .map_err(|e| format!("clean create: {e}"))?;
        self.model = vec![Vec::new()];
        Ok(())
    }

    /// Creates through the fault store; afterwards the table exists exactly once (created
    /// by the faulty attempt, or by a clean rerun when that attempt did not land).
    async fn create_faulty(&mut self, faults: &Arc<FaultStore>) -> Result<Option<Table>, String> {
        let attempt = self.create_builder(self.lake.over(faults)).execute().await;
        match open(self.lake.clean()).await {
            Ok(table) => {
                let v = table.version().await.map_err(|e| e.to_string())?;
                ensure!(v == 0, "after create the table is at version {v}, not 0");
                ensure!(ids_at(&table, 0).await?.is_empty(), "a new table has rows");
                self.model = vec![Vec::new()];
            }
            Err(Error::NotATable { .. }) => {
                ensure!(
                    attempt.is_err(),
                    "create reported success but there is no table"
                );
                self.create_clean().await?;
            }
            Err(e) => return Err(format!("reopening after a faulty create: {e}")),
        }
        Ok(attempt.ok())
    }

    async fn write_clean(&mut self, step: &Step) -> Result<(), String> {
        let table = open(self.lake.clean()).await.map_err(|e| e.to_string())?;
        let result = step.execute(&table).await;
        ensure!(result.is_ok(), "clean write {step:?} failed: {result:?}");
        let mut landed = false;
        self.observe(step, &result, &mut landed, "clean write")
            .await
    }

    /// Checks the table after one attempt at `step` and advances the model if it landed.
    async fn observe<T: AsReport>(
        &mut self,
        step: &Step,
        attempt: &strata::Result<T>,
        landed: &mut bool,
        what: &str,
    ) -> Result<(), String> {
        let attempt: Result<Report, &strata::Error> = attempt.as_ref().map(AsReport::report);
        let table = open(self.lake.clean())
            .await
            .map_err(|e| format!("{what}: reopening fault-free failed: {e}"))?;
        let v = table.version().await.map_err(|e| e.to_string())?;
        let old_v = self.model.len() as i64 - 1;
        let old = self.model.last().cloned().unwrap_or_default();
        let ids = ids_at(&table, v).await?;
        if v == old_v {
            ensure!(
                ids == old,
                "{what} {step:?}: still at version {v} but the rows changed: {ids:?}, expected {old:?}"
            );
            match attempt {
                Ok(r) if r.already_applied => {
                    ensure!(
                        *landed,
                        "{what} {step:?}: reported already applied but it never landed"
                    );
                    ensure!(
                        r.version.is_some_and(|rv| rv <= v) && r.num_rows == 0,
                        "{what} {step:?}: already applied with {r:?}"
                    );
                }
                Ok(r) if r.version.is_none() => {
                    // A row-level operation that found nothing to change: right only when
                    // it had landed already, or never had anything to do.
                    ensure!(
                        *landed || step.after(&old) == old,
                        "{what} {step:?}: reported no change, but the model expects one"
                    );
                    *landed = true;
                }
                Ok(r) => {
                    return Err(format!(
                        "{what} {step:?}: reported committed ({r:?}) but the table is still at version {v}"
                    ));
                }
                Err(_) => {}
            }
        } else if v == old_v + 1 {
            ensure!(
                !*landed,
                "{what} {step:?}: the write landed a second time, as version {v}"
            );
            let new = step.after(&old);
            ensure!(
                ids == new,
                "{what} {step:?}: version {v} is partial or wrong: {ids:?}, expected {new:?}"
            );
            if let Ok(r) = attempt {
                ensure!(
                    !r.already_applied
                        && r.version == Some(v)
                        && r.num_rows == step.expected_rows(&old),
                    "{what} {step:?}: landed as version {v} but reported {r:?}"
                );
            }
            self.model.push(new);
            if step.txn > 0 {
                self.txn_at.insert(v, step.txn);
            }
            *landed = true;
        } else {
            return Err(format!(
                "{what} {step:?}: the table jumped from version {old_v} to {v}"
            ));
        }
        Ok(())
    }

    /// One attempt through the faulty process (opening its handle if it has none).
    async fn faulty_attempt<T, F, Fut>(
        &self,
        faults: &Arc<FaultStore>,
        handle: &mut Option<Table>,
        step: &Step,
        exec: &F,
    ) -> strata::Result<T>
    where
        F: Fn(Table, Step) -> Fut,
        Fut: Future<Output = strata::Result<T>>,
    {
        let table = match handle {
            Some(t) => t.clone(),
            None => {
                let t = open(self.lake.over(faults)).await?;
                *handle = Some(t.clone());
                t
            }
        };
        exec(table, step.clone()).await
    }

    /// Runs the write `step` through the faulty process, retries it in-process if the process
    /// is alive, then reruns it in a fresh fault-free process: it must end up applied exactly
    /// once. Returns the first attempt's result.
    async fn write_with_retries(
        &mut self,
        faults: &Arc<FaultStore>,
        handle: &mut Option<Table>,
        step: &Step,
    ) -> Result<strata::Result<WriteResult>, String> {
        self.with_retries(faults, handle, step, &|t: Table, s: Step| async move {
            s.execute(&t).await
        })
        .await
    }

    /// As [`Run::write_with_retries`], for any step (writes and row-level operations).
    async fn step_with_retries(
        &mut self,
        faults: &Arc<FaultStore>,
        handle: &mut Option<Table>,
        step: &Step,
    ) -> Result<strata::Result<Report>, String> {
        self.with_retries(faults, handle, step, &|t: Table, s: Step| async move {
            s.run(&t).await
        })
        .await
    }

    async fn with_retries<T, F, Fut>(
        &mut self,
        faults: &Arc<FaultStore>,
        handle: &mut Option<Table>,
        step: &Step,
        exec: &F,
    ) -> Result<strata::Result<T>, String>
    where
        T: AsReport,
        F: Fn(Table, Step) -> Fut,
        Fut: Future<Output = strata::Result<T>>,
    {
        let mut landed = false;
        let first = self.faulty_attempt(faults, handle, step, exec).await;
        self.observe(step, &first, &mut landed, "first attempt")
            .await?;
        if first.is_ok() {
            return Ok(first);
        }
        if !faults.is_dead() {
            let again = self.faulty_attempt(faults, handle, step, exec).await;
            self.observe(step, &again, &mut landed, "in-process retry")
                .await?;
            if again.is_ok() {
                return Ok(first);
            }
        }
        let table = open(self.lake.clean()).await.map_err(|e| e.to_string())?;
        let rerun = exec(table, step.clone()).await;
        ensure!(
            rerun.is_ok(),
            "rerun of {step:?} in a fault-free process failed: {rerun:?}"
        );
        self.observe(step, &rerun, &mut landed, "rerun in a new process")
            .await?;
        ensure!(landed, "{step:?} never landed");
        Ok(first)
    }

    /// Every version reads as the model says; each txn is in exactly one commit, the one the
    /// model expects; no transaction id is committed twice.
    async fn verify_history(&self) -> Result<(), String> {
        let table = open(self.lake.clean()).await.map_err(|e| e.to_string())?;
        let latest = table.version().await.map_err(|e| e.to_string())?;
        ensure!(
            latest == self.model.len() as i64 - 1,
            "latest version {latest}, model has {} versions",
            self.model.len()
        );
        for (v, want) in self.model.iter().enumerate() {
            let got = ids_at(&table, v as i64).await?;
            ensure!(
                &got == want,
                "version {v} now reads {got:?}, it read {want:?}"
            );
        }
        let mut txn_ids = HashSet::new();
        let mut txn_commits: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        for v in 0..=latest {
            for line in self.lake.commit_lines(v).await? {
                if let Some(id) = line.pointer("/commitInfo/txnId").and_then(|x| x.as_str()) {
                    ensure!(
                        txn_ids.insert(id.to_string()),
                        "transaction {id} committed twice (again at version {v})"
                    );
                }
                if line.pointer("/txn/appId").and_then(|x| x.as_str()) == Some(APP) {
                    let t = line
                        .pointer("/txn/version")
                        .and_then(|x| x.as_i64())
                        .ok_or("txn without version")?;
                    txn_commits.entry(t).or_default().push(v);
                }
            }
        }
        for (t, commits) in &txn_commits {
            ensure!(
                commits.len() == 1,
                "txn version {t} is in commits {commits:?}: applied more than once"
            );
        }
        let expected: BTreeMap<i64, Vec<i64>> =
            self.txn_at.iter().map(|(v, t)| (*t, vec![*v])).collect();
        ensure!(
            txn_commits == expected,
            "txn versions by commit {txn_commits:?}, expected {expected:?}"
        );
        self.verify_row_ids(&table).await
    }

    /// On a row-tracking table, the live files' row id ranges never overlap, whatever
    /// attempts failed or landed unacknowledged.
    async fn verify_row_ids(&self, table: &Table) -> Result<(), String> {
        if !self
            .properties
            .contains(&("delta.enableRowTracking", "true"))
        {
            return Ok(());
        }
        let snapshot = table.snapshot().await.map_err(|e| e.to_string())?;
        snapshot.load_stats().await.map_err(|e| e.to_string())?;
        let mut ranges: Vec<(i64, i64)> = snapshot
            .files()
            .map(|f| {
                let add = f.to_add();
                match (add.base_row_id, add.num_records()) {
                    (Some(base), Some(rows)) => Ok((base, base + rows)),
                    _ => Err(format!("{} has no baseRowId or row count", add.path)),
                }
            })
            .collect::<Result<_, _>>()?;
        ranges.sort_unstable();
        for pair in ranges.windows(2) {
            ensure!(pair[0].1 <= pair[1].0, "row id ranges overlap: {ranges:?}");
        }
        Ok(())
    }

    /// Data files no version references: orphans of writes that never committed.
    async fn orphans(&self) -> Result<BTreeSet<String>, String> {
        let table = open(self.lake.clean()).await.map_err(|e| e.to_string())?;
        let mut referenced = BTreeSet::new();
        for v in 0..self.model.len() as i64 {
            let s = table
                .snapshot_at_version(v)
                .await
                .map_err(|e| e.to_string())?;
            referenced.extend(s.files().map(|a| strata::paths::decode_path(a.path())));
        }
        let all = self.lake.data_files().await?;
        ensure!(
            referenced.is_subset(&all),
            "referenced files missing from the store: {:?}",
            referenced.difference(&all).collect::<Vec<_>>()
        );
        Ok(all.difference(&referenced).cloned().collect())
    }
}

/// Runs `body`, turning an `Err` or a panic into a panic that names the case, the replay
/// command and every fault store's report (seed, faults, operation log).
async fn guarded<F>(case: &str, replay: &str, stores: Stores, body: F)
where
    F: Future<Output = Result<(), String>>,
{
    let outcome = AssertUnwindSafe(body).catch_unwind().await;
    let message = match outcome {
        Ok(Ok(())) => return,
        Ok(Err(message)) => message,
        Err(panic) => panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "panic".into()),
    };
    let reports: Vec<String> = stores
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .enumerate()
        .map(|(i, s)| format!("--- fault store {i} ---\n{}", s.report()))
        .collect();
    panic!(
        "{case}: {message}\nreplay: {replay}\n{}",
        reports.join("\n")
    );
}

fn new_stores() -> Stores {
    Arc::new(Mutex::new(Vec::new()))
}

// ---------------------------------------------------------------------------------------------
// The seeded sweep

/// The writes a seed performs: 3–5 idempotent writes of distinct ids, some overwrites.
fn scenario(seed: u64) -> (Backend, bool, Vec<Step>) {
    let mut rng = SplitMix64::new(seed ^ 0x005E_ED0F_FA17);
    let backend = if seed % 8 == 7 {
        Backend::Local
    } else {
        Backend::Memory
    };
    let partitioned = rng.chance(1, 3);
    let n = 3 + rng.below(3) as i64;
    // Row tracking refuses updates and copy-on-write deletes: its seeds only write.
    let dml_allowed = seed % 5 != 3;
    let steps = (0..n)
        .map(|i| {
            let dml = (dml_allowed && i > 0 && rng.chance(2, 5)).then(|| match rng.below(3) {
                0 => Dml::Delete,
                1 => Dml::Update,
                _ => Dml::Merge,
            });
            Step {
                // A row-level operation covers part of the previous write's ids and, for a
                // merge, new ones.
                ids: match dml {
                    Some(_) => (i - 1) * 10 + rng.below(3) as i64..i * 10 + rng.below(3) as i64,
                    None => i * 10..i * 10 + 1 + rng.below(4) as i64,
                },
                mode: if i > 0 && rng.chance(1, 4) {
                    WriteMode::Overwrite
                } else {
                    WriteMode::Append
                },
                txn: if dml.is_some() { 0 } else { i + 1 },
                split: partitioned && rng.chance(1, 2),
                reopen: rng.chance(1, 3),
                dml,
            }
        })
        .collect();
    (backend, partitioned, steps)
}

/// The table a seed writes to: plain, or with column mapping (name or id mode), deletion
/// vectors or row tracking, so the sweep covers every write path those change.
fn flavor(seed: u64) -> Vec<(&'static str, &'static str)> {
    match seed % 5 {
        1 => vec![("delta.columnMapping.mode", "name")],
        2 => vec![
            ("delta.columnMapping.mode", "id"),
            ("delta.enableDeletionVectors", "true"),
        ],
        3 => vec![("delta.enableRowTracking", "true")],
        4 => vec![
            ("delta.enableChangeDataFeed", "true"),
            ("delta.enableDeletionVectors", "true"),
        ],
        _ if (seed / 5) % 2 == 1 => vec![("delta.enableChangeDataFeed", "true")],
        _ => Vec::new(),
    }
}

/// Creates the table and runs `steps` through a process whose store is `faults`; after a
/// crash a new process (same store, listing lag kept) takes over.
async fn drive(run: &mut Run, faults: FaultStore, steps: &[Step]) -> Result<u64, String> {
    let mut faults = run.install(faults);
    let mut handle = run.create_faulty(&faults).await?;
    for step in steps {
        if faults.is_dead() {
            faults = run.install(faults.restarted());
            handle = None;
        }
        if step.reopen {
            handle = None;
        }
        let _first = run.step_with_retries(&faults, &mut handle, step).await?;
    }
    run.verify_history().await?;
    Ok(run
        .stores
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .map(|s| s.fired().len() as u64)
        .sum())
}

/// Operations of the longest scenario without faults, so seeds aim inside a run.
async fn calibrate(backend: Backend) -> Budget {
    let mut run = Run::new(backend, new_stores());
    let steps: Vec<Step> = (0..5)
        .map(|i| Step {
            mode: if i == 3 {
                WriteMode::Overwrite
            } else {
                WriteMode::Append
            },
            reopen: i == 2,
            ..Step::append(i * 10..i * 10 + 3, i + 1)
        })
        .collect();
    let passthrough = FaultStore::new(run.lake.inner.clone(), vec![]);
    drive(&mut run, passthrough, &steps)
        .await
        .expect("fault-free calibration run");
    let store = run.stores.lock().unwrap()[0].clone();
    Budget {
        ops: store.ops(),
        puts: store.count(&OpMatch::puts()),
        commits: store.count(&OpMatch::commit_put()),
    }
}

fn env_u64(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a number")),
    )
}

/// Returns whether any fault fired.
async fn run_seed(seed: u64, budgets: [Budget; 2]) -> bool {
    let (backend, partitioned, steps) = scenario(seed);
    let full = budgets[(backend == Backend::Local) as usize];
    // Scale the budget to this scenario's length (create + n writes vs create + 5).
    let scale = |x: u64| (x * (steps.len() as u64 + 1)).div_ceil(6).max(1);
    let budget = Budget {
        ops: scale(full.ops),
        puts: scale(full.puts),
        commits: steps.len() as u64 + 1,
    };
    let properties = flavor(seed);
    let stores = new_stores();
    let fired = Arc::new(Mutex::new(0u64));
    let case = format!(
        "seed {seed} ({backend:?}, partitioned {partitioned}, {properties:?}, {} writes)",
        steps.len()
    );
    let replay = format!(
        "STRATA_FAULT_SEED={seed} cargo test --all-features --test integration faults::seeded_sweep"
    );
    let (stores2, fired2) = (stores.clone(), fired.clone());
    guarded(&case, &replay, stores, async move {
        let mut run = Run::new(backend, stores2);
        run.partitioned = partitioned;
        run.properties = properties;
        let faults = FaultStore::seeded(run.lake.inner.clone(), seed, budget);
        let n = drive(&mut run, faults, &steps).await?;
        run.orphans().await?; // referenced files all exist
        *fired2.lock().unwrap() = n;
        Ok(())
    })
    .await;
    let n = *fired.lock().unwrap();
    n > 0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_sweep() {
    let budgets = [
        calibrate(Backend::Memory).await,
        calibrate(Backend::Local).await,
    ];
    if let Some(seed) = env_u64("STRATA_FAULT_SEED") {
        let fired = run_seed(seed, budgets).await;
        eprintln!("seed {seed}: faults fired: {fired}; budgets {budgets:?}");
        return;
    }
    let seeds = env_u64("STRATA_FAULT_SEEDS").unwrap_or(DEFAULT_SEEDS);
    let start = Instant::now();
    let fired: Vec<bool> = futures::stream::iter(0..seeds)
        .map(|seed| run_seed(seed, budgets))
        .buffer_unordered(SWEEP_CONCURRENCY)
        .collect()
        .await;
    let fired = fired.iter().filter(|f| **f).count() as u64;
    eprintln!(
        "fault sweep: {seeds} seeds, {fired} with a fault fired, {:?}; budgets {budgets:?}",
        start.elapsed()
    );
    // Positive space: the sweep must actually inject faults, not pass vacuously.
    assert!(
        fired * 10 >= seeds * 7,
        "only {fired} of {seeds} seeds injected a fault: seeds aim outside the runs (budgets {budgets:?})"
    );
}

// ---------------------------------------------------------------------------------------------
// Every operation of one write, failed in turn

/// The table before the faulty write: created, one append (version 1).
async fn base(run: &mut Run) -> Result<(), String> {
    run.create_clean().await?;
    run.write_clean(&Step::append(0..3, 1)).await
}

/// Operations a fault-free `open + write` performs on a base table.
async fn ops_of_one_write(step: &Step, on: &OpMatch) -> u64 {
    let mut run = Run::new(Backend::Memory, new_stores());
    base(&mut run).await.expect("base");
    let faults = run.install(FaultStore::new(run.lake.inner.clone(), vec![]));
    let mut handle = None;
    run.write_with_retries(&faults, &mut handle, step)
        .await
        .expect("fault-free write")
        .expect("fault-free write succeeds");
    faults.count(on)
}

async fn each_operation_in_turn(name: &str, on: OpMatch, make: impl Fn(u64) -> Fault) {
    for mode in [WriteMode::Append, WriteMode::Overwrite] {
        let step = Step {
            mode,
            ..Step::append(10..14, 2)
        };
        let n = ops_of_one_write(&step, &on).await;
        assert!(n > 0, "{name}: no operation matches {on:?}");
        for k in 0..n {
            let fault = make(k);
            let lost_ack = matches!(&fault, Fault::LoseAck { .. });
            let stores = new_stores();
            let case = format!("{name}: {mode:?}, fault {fault:?} (operation {k} of {n})");
            let replay = format!("cargo test --all-features --test integration faults::{name}");
            let s = stores.clone();
            let step = step.clone();
            guarded(&case, &replay, stores, async move {
                let mut run = Run::new(Backend::Memory, s);
                base(&mut run).await?;
                let faults = run.install(FaultStore::new(run.lake.inner.clone(), vec![fault]));
                let mut handle = None;
                let first = run.write_with_retries(&faults, &mut handle, &step).await?;
                let fired = faults.fired();
                ensure!(fired.len() == 1, "the fault did not fire");
                // Only the `_last_checkpoint` hint may fail without failing the write, and a
                // commit whose put landed but lost its reply is reported as committed
                // (strata reads the version back and finds its own txnId).
                let commit_landed =
                    lost_ack && fired[0].contains("_delta_log/") && fired[0].contains(".json");
                ensure!(
                    first.is_err() || fired[0].contains("_last_checkpoint") || commit_landed,
                    "the faulted attempt reported success: {first:?}"
                );
                run.verify_history().await
            })
            .await;
        }
    }
}

#[tokio::test]
async fn every_operation_failed_in_turn() {
    each_operation_in_turn("every_operation_failed_in_turn", OpMatch::any(), |k| {
        Fault::Fail {
            on: OpMatch::any(),
            nth: k,
        }
    })
    .await;
}

#[tokio::test]
async fn crash_before_each_operation() {
    each_operation_in_turn("crash_before_each_operation", OpMatch::any(), |k| {
        Fault::Crash {
            on: OpMatch::any(),
            nth: k,
            performed: false,
        }
    })
    .await;
}

#[tokio::test]
async fn crash_after_each_operation() {
    each_operation_in_turn("crash_after_each_operation", OpMatch::any(), |k| {
        Fault::Crash {
            on: OpMatch::any(),
            nth: k,
            performed: true,
        }
    })
    .await;
}

#[tokio::test]
async fn each_put_loses_its_acknowledgement() {
    each_operation_in_turn("each_put_loses_its_acknowledgement", OpMatch::puts(), |k| {
        Fault::LoseAck {
            on: OpMatch::puts(),
            nth: k,
            reply: AckLoss::Error,
        }
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Lost acknowledgements of the commit

/// A commit put applied and answered `AlreadyExists` (object_store's retry saw its own
/// object) is a success at that version, committed once (`PROTOCOL.md#commit-protocol` 3).
#[tokio::test]
async fn lost_ack_on_commit_seen_as_already_exists_is_success() {
    for backend in [Backend::Memory, Backend::Local] {
        let stores = new_stores();
        let s = stores.clone();
        let case = format!("lost_ack_on_commit_seen_as_already_exists_is_success ({backend:?})");
        let replay = "cargo test --all-features --test integration faults::lost_ack_on_commit";
        guarded(&case, replay, stores, async move {
            let mut run = Run::new(backend, s);
            let lose_first_commit = || Fault::LoseAck {
                on: OpMatch::commit_put(),
                nth: 0,
                reply: AckLoss::AlreadyExists,
            };
            // The creating commit (version 0).
            let faults = run.install(FaultStore::new(
                run.lake.inner.clone(),
                vec![lose_first_commit()],
            ));
            let created = run.create_faulty(&faults).await?;
            ensure!(faults.fired().len() == 1, "the fault did not fire");
            ensure!(
                created.is_some(),
                "create with a lost ack was reported as failed"
            );
            // A write (version 1).
            let faults = run.install(FaultStore::new(
                run.lake.inner.clone(),
                vec![lose_first_commit()],
            ));
            let mut handle = None;
            let step = Step::append(0..4, 1);
            let first = run.write_with_retries(&faults, &mut handle, &step).await?;
            ensure!(faults.fired().len() == 1, "the fault did not fire");
            let r = first.map_err(|e| format!("lost ack reported as an error: {e}"))?;
            ensure!(
                r.version == 1 && r.attempts == 1 && !r.already_applied,
                "reported {r:?}"
            );
            // The same handle goes on writing at the right version.
            let table = handle.clone().ok_or("no handle")?;
            let step = Step::append(10..12, 2);
            let r = step.execute(&table).await.map_err(|e| e.to_string())?;
            let mut landed = false;
            run.observe(&step, &Ok(r), &mut landed, "next write")
                .await?;
            run.verify_history().await
        })
        .await;
    }
}

/// The same after losing a real race first: the retry at the next version loses its ack;
/// the result names that version and the number of attempts.
#[tokio::test]
async fn lost_ack_on_commit_after_a_lost_race_reports_the_rebased_version() {
    let stores = new_stores();
    let s = stores.clone();
    guarded(
        "lost_ack_on_commit_after_a_lost_race_reports_the_rebased_version",
        "cargo test --all-features --test integration faults::lost_ack_on_commit_after",
        stores,
        async move {
            let mut run = Run::new(Backend::Memory, s);
            base(&mut run).await?;
            // Commit puts through this store: #0 the rival's version 2, #1 ours at version 2
            // (loses the race), #2 ours at version 3 (applied, ack lost).
            let faults = run.install(FaultStore::new(
                run.lake.inner.clone(),
                vec![
                    Fault::HideFromListings { ops: 1_000 },
                    Fault::LoseAck {
                        on: OpMatch::commit_put(),
                        nth: 2,
                        reply: AckLoss::AlreadyExists,
                    },
                ],
            ));
            let rival = open(run.lake.over(&faults))
                .await
                .map_err(|e| e.to_string())?;
            rival
                .append(Step::append(100..102, 0).batches())
                .await
                .map_err(|e| format!("rival: {e}"))?;
            // `ours` cannot list the rival's commit, so it races for version 2 and loses.
            let ours = open(run.lake.over(&faults))
                .await
                .map_err(|e| e.to_string())?;
            let r = ours
                .append(Step::append(10..13, 0).batches())
                .await
                .map_err(|e| format!("lost ack after a race reported as an error: {e}"))?;
            ensure!(faults.fired().len() == 1, "the fault did not fire");
            ensure!(
                r.version == 3 && r.attempts == 2 && !r.already_applied,
                "reported {r:?}"
            );
            let table = open(run.lake.clean()).await.map_err(|e| e.to_string())?;
            ensure!(
                table.version().await.map_err(|e| e.to_string())? == 3,
                "extra versions"
            );
            let mut want: Vec<i64> = (0..3).chain(100..102).chain(10..13).collect();
            want.sort_unstable();
            let got = ids_at(&table, 3).await?;
            ensure!(got == want, "version 3 reads {got:?}, expected {want:?}");
            Ok(())
        },
    )
    .await;
}

/// A commit put applied but answered with a generic error (the response was lost and
/// object_store's retries ran out): strata reports an error. The commit landed once, and
/// rerunning with the same txn says "already applied", in-process and in a new process.
#[tokio::test]
async fn lost_ack_on_commit_as_error_then_rerun_is_exactly_once() {
    for backend in [Backend::Memory, Backend::Local] {
        let stores = new_stores();
        let s = stores.clone();
        let case = format!("lost_ack_on_commit_as_error_then_rerun_is_exactly_once ({backend:?})");
        let replay =
            "cargo test --all-features --test integration faults::lost_ack_on_commit_as_error";
        guarded(&case, replay, stores, async move {
            let mut run = Run::new(backend, s);
            base(&mut run).await?;
            let faults = run.install(FaultStore::new(
                run.lake.inner.clone(),
                vec![Fault::LoseAck {
                    on: OpMatch::commit_put(),
                    nth: 0,
                    reply: AckLoss::Error,
                }],
            ));
            let step = Step::append(10..14, 2);
            let table = open(run.lake.over(&faults))
                .await
                .map_err(|e| e.to_string())?;
            let first = step.execute(&table).await;
            // The put landed and only its reply was lost: strata reads the version back,
            // finds its own txnId, and reports the commit (PROTOCOL.md#commit-protocol, 3).
            ensure!(
                matches!(&first, Ok(r) if !r.already_applied && r.version == 2),
                "expected the landed commit to be reported, got {first:?}"
            );
            let mut landed = false;
            run.observe(&step, &first, &mut landed, "lost ack").await?;
            ensure!(landed, "the commit whose ack was lost is not in the table");
            let again = step.execute(&table).await;
            ensure!(
                matches!(&again, Ok(r) if r.already_applied && r.version == 2),
                "in-process rerun: {again:?}"
            );
            run.observe(&step, &again, &mut landed, "in-process rerun")
                .await?;
            let fresh = open(run.lake.clean()).await.map_err(|e| e.to_string())?;
            let rerun = step.execute(&fresh).await;
            ensure!(
                matches!(&rerun, Ok(r) if r.already_applied),
                "new-process rerun: {rerun:?}"
            );
            run.observe(&step, &rerun, &mut landed, "new-process rerun")
                .await?;
            run.verify_history().await
        })
        .await;
    }
}

/// What `PROTOCOL.md#commit-protocol` item 3 promises ("never reported lost when it
/// landed") for every lost acknowledgement, including one answered with a generic error.
#[tokio::test]
async fn lost_ack_on_commit_as_error_is_reported_as_success() {
    let stores = new_stores();
    let s = stores.clone();
    guarded(
        "lost_ack_on_commit_as_error_is_reported_as_success",
        "cargo test --all-features --test integration faults::lost_ack_on_commit_as_error_is_reported_as_success -- --ignored",
        stores,
        async move {
            let mut run = Run::new(Backend::Memory, s);
            base(&mut run).await?;
            let faults = run.install(FaultStore::new(
                run.lake.inner.clone(),
                vec![Fault::LoseAck {
                    on: OpMatch::commit_put(),
                    nth: 0,
                    reply: AckLoss::Error,
                }],
            ));
            let table = open(run.lake.over(&faults)).await.map_err(|e| e.to_string())?;
            // No txn: the caller has nothing but the result to go by.
            let result = table.append(Step::append(10..14, 0).batches()).await;
            ensure!(faults.fired().len() == 1, "the fault did not fire");
            let landed = open(run.lake.clean())
                .await
                .map_err(|e| e.to_string())?
                .version()
                .await
                .map_err(|e| e.to_string())?
                == 2;
            ensure!(landed, "the commit did not land");
            ensure!(
                matches!(&result, Ok(r) if r.version == 2),
                "the commit landed as version 2 but the write reported {result:?}; a caller \
                 that retries on this error writes the rows twice"
            );
            Ok(())
        },
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// Listing lag

/// Commits hidden from listings: a writer on a stale view never overwrites or skips a
/// version (only the put decides), an append rebases, an overwrite conflicts, and an
/// idempotent rerun of a hidden commit conflicts instead of applying twice.
#[tokio::test]
async fn listing_lag_never_loses_or_duplicates_commits() {
    for backend in [Backend::Memory, Backend::Local] {
        let stores = new_stores();
        let s = stores.clone();
        let case = format!("listing_lag_never_loses_or_duplicates_commits ({backend:?})");
        let replay = "cargo test --all-features --test integration faults::listing_lag";
        guarded(&case, replay, stores, async move {
            let mut run = Run::new(backend, s);
            run.create_clean().await?;
            let faults = run.install(FaultStore::new(
                run.lake.inner.clone(),
                vec![Fault::HideFromListings { ops: 1_000 }],
            ));
            // Writer A commits versions 1 and 2 through the lagging store.
            let a = open(run.lake.over(&faults))
                .await
                .map_err(|e| e.to_string())?;
            for step in [Step::append(0..3, 1), Step::append(10..12, 2)] {
                let r = step.execute(&a).await;
                let mut landed = false;
                run.observe(&step, &r, &mut landed, "writer A").await?;
                ensure!(landed, "writer A's {step:?} did not land: {r:?}");
            }
            // Writer B opens through the same store and sees only version 0.
            let b = open(run.lake.over(&faults))
                .await
                .map_err(|e| e.to_string())?;
            let seen = b.version().await.map_err(|e| e.to_string())?;
            ensure!(
                seen == 0,
                "listing lag not in effect: B sees version {seen}"
            );
            ensure!(
                faults.log().iter().any(|r| r.outcome.contains("hiding")),
                "no listing hid anything"
            );
            // An idempotent rerun of A's first write on the stale view must not apply twice.
            let rerun = Step::append(0..3, 1).execute(&b).await;
            ensure!(
                matches!(&rerun, Err(e) if e.is_conflict())
                    || matches!(&rerun, Ok(r) if r.already_applied),
                "rerun of a hidden idempotent commit: {rerun:?}"
            );
            let mut landed = true;
            run.observe(&Step::append(0..3, 1), &rerun, &mut landed, "stale rerun")
                .await?;
            // An overwrite on the stale view must conflict, not drop A's rows.
            let overwrite = Step {
                mode: WriteMode::Overwrite,
                ..Step::append(50..52, 3)
            };
            let r = overwrite.execute(&b).await;
            ensure!(
                matches!(&r, Err(e) if e.is_conflict()),
                "overwrite on a stale view: {r:?}"
            );
            let mut landed = false;
            run.observe(&overwrite, &r, &mut landed, "stale overwrite")
                .await?;
            // A blind append (no txn) on the stale view rebases past the hidden commits.
            let append = Step::append(20..23, 0);
            let r = append.execute(&b).await;
            ensure!(
                matches!(&r, Ok(w) if w.version == 3 && w.attempts == 3),
                "append on a stale view: {r:?}"
            );
            let mut landed = false;
            run.observe(&append, &r, &mut landed, "stale append")
                .await?;
            run.verify_history().await
        })
        .await;
    }
}

/// A listing that shows a newer commit but not an older one (version 1 written through the
/// lagging store, version 2 by another process): opening and writing may fail, but whatever
/// version a reader or writer reports reads exactly as committed.
#[tokio::test]
async fn listing_gap_is_an_error_or_a_consistent_version() {
    let stores = new_stores();
    let s = stores.clone();
    guarded(
        "listing_gap_is_an_error_or_a_consistent_version",
        "cargo test --all-features --test integration faults::listing_gap",
        stores,
        async move {
            let mut run = Run::new(Backend::Memory, s);
            run.create_clean().await?;
            let faults = run.install(FaultStore::new(
                run.lake.inner.clone(),
                vec![Fault::HideFromListings { ops: 1_000 }],
            ));
            let a = open(run.lake.over(&faults))
                .await
                .map_err(|e| e.to_string())?;
            let step = Step::append(0..3, 0);
            let r = step.execute(&a).await;
            let mut landed = false;
            run.observe(&step, &r, &mut landed, "hidden commit").await?;
            run.write_clean(&Step::append(10..12, 0)).await?;
            match open(run.lake.over(&faults)).await {
                Err(e) => ensure!(
                    matches!(e, Error::MissingVersion { .. }),
                    "a gap in the listing gave {e}"
                ),
                Ok(t) => {
                    let v = t.version().await.map_err(|e| e.to_string())?;
                    let got = ids_at(&t, v).await?;
                    let want = run.model.get(v as usize).cloned().unwrap_or_default();
                    ensure!(
                        got == want,
                        "version {v} reads {got:?} through the gap, not {want:?}"
                    );
                }
            }
            // A writer holding version 1 (its own commit) must not skip or overwrite 2.
            let step = Step::append(20..21, 0);
            let r = step.execute(&a).await;
            let mut landed = false;
            run.observe(&step, &r, &mut landed, "writer across the gap")
                .await?;
            run.verify_history().await
        },
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// Crash points

/// One crash-point scenario on a partitioned table (two data files per write): returns the
/// run and the faulty write's result for extra checks.
async fn crash_at(
    run: &mut Run,
    fault: Fault,
) -> Result<(Arc<FaultStore>, strata::Result<WriteResult>, Step), String> {
    run.partitioned = true;
    run.create_clean().await?;
    run.write_clean(&Step {
        split: true,
        ..Step::append(0..4, 1)
    })
    .await?;
    let faults = run.install(FaultStore::new(run.lake.inner.clone(), vec![fault]));
    let step = Step {
        split: true,
        ..Step::append(10..16, 2)
    };
    let mut handle = None;
    let first = run.write_with_retries(&faults, &mut handle, &step).await?;
    ensure!(faults.fired().len() == 1, "the crash did not happen");
    ensure!(faults.is_dead(), "the writer is not dead after its crash");
    ensure!(
        first.is_err(),
        "a crashed write reported success: {first:?}"
    );
    let after = open(run.lake.over(&faults)).await;
    ensure!(after.is_err(), "a dead writer could still open the table");
    run.verify_history().await?;
    Ok((faults, first, step))
}

/// A writer that dies after uploading data files but before the commit leaves orphans:
/// parquet files no version references, whose rows no reader sees; the rerun writes new
/// files and lands once.
#[tokio::test]
async fn crash_before_commit_leaves_invisible_orphans() {
    for backend in [Backend::Memory, Backend::Local] {
        let stores = new_stores();
        let s = stores.clone();
        let case = format!("crash_before_commit_leaves_invisible_orphans ({backend:?})");
        let replay = "cargo test --all-features --test integration faults::crash_before_commit";
        guarded(&case, replay, stores, async move {
            let mut run = Run::new(backend, s);
            run.partitioned = true;
            // Capture orphans right after the crash, before the rerun adds its own files.
            run.create_clean().await?;
            run.write_clean(&Step {
                split: true,
                ..Step::append(0..4, 1)
            })
            .await?;
            let faults = run.install(FaultStore::new(
                run.lake.inner.clone(),
                vec![Fault::crash_before(OpMatch::commit_put())],
            ));
            let step = Step {
                split: true,
                ..Step::append(10..16, 2)
            };
            let table = open(run.lake.over(&faults))
                .await
                .map_err(|e| e.to_string())?;
            let result = step.execute(&table).await;
            ensure!(result.is_err(), "crashed write reported {result:?}");
            let mut landed = false;
            run.observe(&step, &result, &mut landed, "crashed write")
                .await?;
            ensure!(!landed, "a write whose commit was never sent landed");
            let orphans = run.orphans().await?;
            ensure!(
                orphans.len() == 2,
                "expected the 2 uploaded data files as orphans, found {orphans:?}"
            );
            ensure!(
                orphans.iter().all(|o| o.starts_with("country=")),
                "orphans {orphans:?}"
            );
            // Rerun in a new process: lands once, with new files; the orphans stay orphans.
            let fresh = open(run.lake.clean()).await.map_err(|e| e.to_string())?;
            let rerun = step.execute(&fresh).await;
            run.observe(&step, &rerun, &mut landed, "rerun").await?;
            ensure!(landed, "rerun did not land: {rerun:?}");
            let after = run.orphans().await?;
            ensure!(after == orphans, "orphans changed: {orphans:?} → {after:?}");
            run.verify_history().await
        })
        .await;
    }
}

/// Dying between the two data-file uploads: one orphan, the table unchanged.
#[tokio::test]
async fn crash_between_data_files() {
    let stores = new_stores();
    let s = stores.clone();
    guarded(
        "crash_between_data_files",
        "cargo test --all-features --test integration faults::crash_between_data_files",
        stores,
        async move {
            let mut run = Run::new(Backend::Memory, s);
            let fault = Fault::Crash {
                on: OpMatch::data_file_put(),
                nth: 1,
                performed: false,
            };
            // `crash_at` reruns the write; orphans from before the rerun remain.
            let _ = crash_at(&mut run, fault).await?;
            let orphans = run.orphans().await?;
            ensure!(orphans.len() == 1, "expected one orphan, found {orphans:?}");
            Ok(())
        },
    )
    .await;
}

/// Dying before the first data file: nothing written, table unchanged.
#[tokio::test]
async fn crash_before_data_files_writes_nothing() {
    let stores = new_stores();
    let s = stores.clone();
    guarded(
        "crash_before_data_files_writes_nothing",
        "cargo test --all-features --test integration faults::crash_before_data_files",
        stores,
        async move {
            let mut run = Run::new(Backend::Memory, s);
            let _ = crash_at(&mut run, Fault::crash_before(OpMatch::data_file_put())).await?;
            let orphans = run.orphans().await?;
            ensure!(orphans.is_empty(), "orphans {orphans:?}");
            Ok(())
        },
    )
    .await;
}

/// Dying right after the commit put (its response never read): the version is complete,
/// and the rerun in a new process is "already applied".
#[tokio::test]
async fn crash_after_commit_put_lands_whole() {
    for backend in [Backend::Memory, Backend::Local] {
        let stores = new_stores();
        let s = stores.clone();
        let case = format!("crash_after_commit_put_lands_whole ({backend:?})");
        let replay = "cargo test --all-features --test integration faults::crash_after_commit_put";
        guarded(&case, replay, stores, async move {
            let mut run = Run::new(backend, s);
            let _ = crash_at(&mut run, Fault::crash_after(OpMatch::commit_put())).await?;
            ensure!(
                run.model.len() == 3,
                "the crashed commit is not in the table"
            );
            ensure!(
                run.orphans().await?.is_empty(),
                "a committed write left orphans"
            );
            Ok(())
        })
        .await;
    }
}

/// Between a checkpoint and `_last_checkpoint` (`PROTOCOL.md#storage-assumptions`): the
/// hint is optional, so readers still find every version and the latest state. strata has
/// no checkpoint writer yet; this is the intended test.
#[tokio::test]
async fn crash_between_checkpoint_and_last_checkpoint() {
    for fault in [
        Fault::crash_before(OpMatch::checkpoint_put()),
        Fault::crash_after(OpMatch::checkpoint_put()),
        Fault::crash_before(OpMatch::last_checkpoint_put()),
        Fault::crash_after(OpMatch::last_checkpoint_put()),
    ] {
        let stores = new_stores();
        let s = stores.clone();
        let case = format!("crash_between_checkpoint_and_last_checkpoint: {fault:?}");
        let replay = "cargo test --all-features --test integration faults::crash_between_checkpoint -- --ignored";
        guarded(&case, replay, stores, async move {
            let mut run = Run::new(Backend::Memory, s);
            run.create_clean().await?;
            for i in 1..=3 {
                run.write_clean(&Step::append(i * 10..i * 10 + 2, i))
                    .await?;
            }
            let faults = run.install(FaultStore::new(run.lake.inner.clone(), vec![fault]));
            let table = open(run.lake.over(&faults))
                .await
                .map_err(|e| e.to_string())?;
            let result = write_checkpoint(&table).await;
            ensure!(faults.fired().len() == 1, "the crash did not happen");
            ensure!(result.is_err(), "a crashed checkpoint reported success");
            // Readers ignore a missing or stale hint and a checkpoint without it.
            run.verify_history().await?;
            // A new process writes on top and a later checkpoint succeeds.
            run.write_clean(&Step::append(40..42, 4)).await?;
            let fresh = open(run.lake.clean()).await.map_err(|e| e.to_string())?;
            write_checkpoint(&fresh).await.map_err(|e| e.to_string())?;
            run.verify_history().await
        })
        .await;
    }
}

/// Placeholder for the checkpoint writer's API (the checkpoint issue).
async fn write_checkpoint(table: &Table) -> strata::Result<()> {
    let snapshot = table.snapshot().await?;
    strata::checkpoint::write_checkpoint(&snapshot)
        .await
        .map(|_| ())
}

/// The fault store itself: a seed always chooses the same faults, and operation kinds and
/// crash points match the paths strata writes.
#[test]
fn seeded_faults_replay_and_matchers_name_the_right_paths() {
    let budget = Budget {
        ops: 40,
        puts: 10,
        commits: 5,
    };
    for seed in 0..50 {
        let a = format!(
            "{:?}",
            crate::support::fault_store::seeded_faults(seed, budget)
        );
        let b = format!(
            "{:?}",
            crate::support::fault_store::seeded_faults(seed, budget)
        );
        assert_eq!(a, b, "seed {seed} is not deterministic");
    }
    let log = "tables/t/_delta_log";
    assert!(OpMatch::commit_put().matches(
        OpKind::PutIfAbsent,
        &format!("{log}/00000000000000000003.json")
    ));
    assert!(
        !OpMatch::commit_put().matches(OpKind::Get, &format!("{log}/00000000000000000003.json"))
    );
    assert!(!OpMatch::commit_put().matches(OpKind::Put, &format!("{log}/_last_checkpoint")));
    assert!(
        OpMatch::last_checkpoint_put().matches(OpKind::Put, &format!("{log}/_last_checkpoint"))
    );
    assert!(OpMatch::checkpoint_put().matches(
        OpKind::Put,
        &format!("{log}/00000000000000000010.checkpoint.parquet")
    ));
    assert!(OpMatch::checkpoint_put().matches(
        OpKind::Put,
        &format!("{log}/00000000000000000010.checkpoint.0000000001.0000000002.parquet")
    ));
    assert!(OpMatch::data_file_put().matches(
        OpKind::Put,
        "tables/t/country=PT/part-00000-x-c000.snappy.parquet"
    ));
    assert!(!OpMatch::data_file_put().matches(
        OpKind::Put,
        &format!("{log}/00000000000000000010.checkpoint.parquet")
    ));
}

/// A delete, update or merge that dies after uploading its data, deletion-vector and `cdc`
/// files but before its commit changes nothing any reader sees; a rerun lands once.
#[tokio::test]
async fn a_row_level_operation_that_dies_before_its_commit_changes_nothing() {
    for dml in [Dml::Delete, Dml::Update, Dml::Merge] {
        let stores = new_stores();
        let s = stores.clone();
        let case = format!("a_row_level_operation_that_dies_before_its_commit ({dml:?})");
        let replay = "cargo test --test integration faults::a_row_level_operation";
        guarded(&case, replay, stores, async move {
            let mut run = Run::new(Backend::Memory, s);
            run.properties = vec![
                ("delta.enableChangeDataFeed", "true"),
                ("delta.enableDeletionVectors", "true"),
            ];
            run.create_clean().await?;
            run.write_clean(&Step::append(0..6, 1)).await?;
            let before = run.lake.objects().await?;
            let faults = run.install(FaultStore::new(
                run.lake.inner.clone(),
                vec![Fault::crash_before(OpMatch::commit_put())],
            ));
            let step = Step {
                dml: Some(dml),
                ..Step::append(2..8, 0)
            };
            let table = open(run.lake.over(&faults))
                .await
                .map_err(|e| e.to_string())?;
            let result = step.run(&table).await;
            ensure!(result.is_err(), "a crashed {dml:?} reported {result:?}");
            let mut landed = false;
            run.observe(&step, &result, &mut landed, "crashed").await?;
            ensure!(!landed, "a {dml:?} whose commit was never sent landed");
            // It got as far as its vector file (and, but for a delete, its change files).
            let left: Vec<String> = run
                .lake
                .objects()
                .await?
                .difference(&before)
                .cloned()
                .collect();
            ensure!(
                left.iter().any(|o| o.starts_with("deletion_vector_")),
                "{dml:?} wrote no deletion vector before dying: {left:?}"
            );
            ensure!(
                dml == Dml::Delete || left.iter().any(|o| o.starts_with("_change_data/")),
                "{dml:?} wrote no change files before dying: {left:?}"
            );
            let fresh = open(run.lake.clean()).await.map_err(|e| e.to_string())?;
            let rerun = step.run(&fresh).await;
            run.observe(&step, &rerun, &mut landed, "rerun").await?;
            ensure!(landed, "the rerun did not land: {rerun:?}");
            run.verify_history().await
        })
        .await;
    }
}
