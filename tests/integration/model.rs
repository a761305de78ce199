//! Model-based property tests: random operation sequences against a trivial model.
//!
//! The model is the set of row ids at every version plus the latest txn version per appId.
//! After every step, every version of the table must read exactly as the model says, through a
//! handle that may be stale (another handle committed) or freshly reopened. Cases default to
//! 256; `STRATA_PROPTEST_CASES=N` raises them. A failure prints the minimal operation sequence,
//! which replays deterministically (proptest also records its seed under
//! `tests/integration/proptest-regressions/`).

use std::collections::{BTreeMap, BTreeSet};

use arrow::array::AsArray;
use arrow::datatypes::Int64Type;
use proptest::prelude::*;
use strata::{Table, WriteMode};

use crate::support::*;

#[derive(Debug, Clone)]
enum Op {
    /// Append `rows` rows (ids from the model's counter) in `batches` batches.
    Append {
        rows: usize,
        batches: usize,
        country: Option<&'static str>,
    },
    /// Replace everything with `rows` rows.
    Overwrite { rows: usize },
    /// Idempotent append for (app, version): applied only if newer than the app's last.
    TxnAppend {
        app: usize,
        version: i64,
        rows: usize,
    },
    /// Commit an append through the second handle (the first becomes stale).
    AppendFromSecondHandle { rows: usize },
    /// Drop both handles and open the table again.
    Reopen,
    /// Read a version chosen by `pick` (modulo the number of versions).
    TimeTravel { pick: usize },
}

fn op() -> impl Strategy<Value = Op> {
    let country = prop_oneof![Just(Some("PT")), Just(Some("NL")), Just(None)];
    prop_oneof![
        4 => (1usize..6, 1usize..3, country).prop_map(|(rows, batches, country)| Op::Append { rows, batches, country }),
        1 => (0usize..4).prop_map(|rows| Op::Overwrite { rows }),
        3 => (0usize..2, 0i64..4, 1usize..4).prop_map(|(app, version, rows)| Op::TxnAppend { app, version, rows }),
        2 => (1usize..4).prop_map(|rows| Op::AppendFromSecondHandle { rows }),
        1 => Just(Op::Reopen),
        1 => any::<usize>().prop_map(|pick| Op::TimeTravel { pick }),
    ]
}

/// The model: row ids at each version, latest txn versions, and the next id to hand out.
#[derive(Default)]
struct Model {
    versions: Vec<BTreeSet<i64>>,
    txns: BTreeMap<String, i64>,
    next_id: i64,
}

impl Model {
    fn take_ids(&mut self, n: usize) -> std::ops::Range<i64> {
        let start = self.next_id;
        self.next_id += n as i64;
        start..self.next_id
    }

    fn latest(&self) -> BTreeSet<i64> {
        self.versions.last().cloned().unwrap_or_default()
    }

    fn commit(&mut self, rows: BTreeSet<i64>) {
        self.versions.push(rows);
    }
}

async fn read_ids(table: &Table, version: i64) -> BTreeSet<i64> {
    let snapshot = table
        .snapshot_at_version(version)
        .await
        .unwrap_or_else(|e| panic!("load v{version}: {e}"));
    assert_eq!(snapshot.version(), version);
    let batches = snapshot
        .scan()
        .with_columns(["id"])
        .collect()
        .await
        .unwrap_or_else(|e| panic!("scan v{version}: {e}"));
    let ids: Vec<i64> = batches
        .iter()
        .flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec())
        .collect();
    let set: BTreeSet<i64> = ids.iter().copied().collect();
    assert_eq!(set.len(), ids.len(), "v{version}: duplicate rows");
    set
}

async fn check_all_versions(table: &Table, model: &Model, step: usize) {
    let latest = table.version().await.unwrap();
    assert_eq!(
        latest,
        model.versions.len() as i64 - 1,
        "after step {step}: latest version"
    );
    for (v, want) in model.versions.iter().enumerate() {
        assert_eq!(
            &read_ids(table, v as i64).await,
            want,
            "after step {step}: version {v}"
        );
    }
    let snapshot = table.snapshot().await.unwrap();
    for (app, version) in &model.txns {
        assert_eq!(
            snapshot.txn_version(app),
            Some(*version),
            "after step {step}: txn {app}"
        );
    }
}

async fn run(ops: Vec<Op>, partitioned: bool, case: u64) {
    let location = format!("memory://model-{case}-{}/t", uuid::Uuid::new_v4());
    let mut create = Table::create(&location)
        .with_arrow_schema(&people_schema())
        .unwrap();
    if partitioned {
        create = create.with_partition_columns(["country"]);
    }
    let mut a = create.execute().await.unwrap();
    let mut b = Table::open(&location).await.unwrap();
    let mut model = Model::default();
    model.commit(BTreeSet::new());
    for (step, op) in ops.into_iter().enumerate() {
        match op {
            Op::Append {
                rows,
                batches,
                country,
            } => {
                let ids = model.take_ids(rows);
                let chunk = rows.div_ceil(batches).max(1) as i64;
                let parts: Vec<_> = ids
                    .clone()
                    .step_by(chunk as usize)
                    .map(|s| people(s..(s + chunk).min(ids.end), country))
                    .collect();
                let w = a.append(parts).await.unwrap();
                let mut next = model.latest();
                next.extend(ids);
                model.commit(next);
                assert_eq!(w.version, model.versions.len() as i64 - 1, "step {step}");
            }
            Op::Overwrite { rows } => {
                let ids = model.take_ids(rows);
                let w = a
                    .write([people(ids.clone(), Some("PT"))])
                    .with_mode(WriteMode::Overwrite)
                    .execute()
                    .await
                    .unwrap();
                model.commit(ids.collect());
                assert_eq!(w.version, model.versions.len() as i64 - 1, "step {step}");
            }
            Op::TxnAppend { app, version, rows } => {
                let app = format!("job-{app}");
                let applied = model.txns.get(&app).is_some_and(|v| *v >= version);
                let ids = model.take_ids(rows);
                let w = a
                    .write([people(ids.clone(), None)])
                    .with_txn(&app, version)
                    .execute()
                    .await
                    .unwrap();
                assert_eq!(w.already_applied, applied, "step {step}: {app} v{version}");
                if !applied {
                    let mut next = model.latest();
                    next.extend(ids);
                    model.commit(next);
                    model.txns.insert(app, version);
                }
            }
            Op::AppendFromSecondHandle { rows } => {
                let ids = model.take_ids(rows);
                b.append([people(ids.clone(), Some("NL"))]).await.unwrap();
                let mut next = model.latest();
                next.extend(ids);
                model.commit(next);
            }
            Op::Reopen => {
                a = Table::open(&location).await.unwrap();
                b = Table::open(&location).await.unwrap();
            }
            Op::TimeTravel { pick } => {
                let v = pick % model.versions.len();
                assert_eq!(
                    read_ids(&b, v as i64).await,
                    model.versions[v],
                    "step {step}: time travel to {v}"
                );
            }
        }
        check_all_versions(&a, &model, step).await;
    }
}

fn cases() -> u32 {
    std::env::var("STRATA_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), max_shrink_iters: 200, ..ProptestConfig::default() })]

    #[test]
    fn random_operations_match_the_model(ops in proptest::collection::vec(op(), 1..8), partitioned in any::<bool>(), case in any::<u64>()) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(run(ops, partitioned, case));
    }
}
