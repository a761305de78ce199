//! Exactly once under faults: the silver upsert and gold recompute flows run over the seeded
//! fault store (failed operations, lost acknowledgements, listing lag, a runner that dies
//! before, during or after its commit), then again on a fault-free store, as a restarted job
//! would. After every run, faulty or not:
//! - silver holds exactly the model of the bronze versions its cursor says it consumed (no
//!   source row lost or applied twice, no duplicate key), and so does an append-only copy,
//!   where a range applied twice would show as duplicate rows, and its quarantine table;
//! - gold equals a recompute from silver at the version its lineage records;
//! - after the fault-free rerun, both are caught up with bronze.
//!
//! Seeds: `STRATA_FLOW_FAULT_SEEDS=<n>` (default [`DEFAULT_SEEDS`]); `STRATA_FLOW_FAULT_SEED=<n>`
//! replays one. A failure prints the seed, the faults and the replay command.

mod common;

use std::sync::Arc;

use object_store::ObjectStore;
use object_store::memory::InMemory;
use strata_pipelines::{Lake, cursor_app_id, lineage_at};
use strata_test_support::fault_store::{Budget, FaultStore};

use common::*;

/// Seeds the sweep runs by default.
const DEFAULT_SEEDS: u64 = 1000;
/// Bronze commits (each followed by a faulty and a clean pipeline run) per seed.
const ROUNDS: i64 = 3;
/// What one faulty pipeline run does without faults, roughly: the seeded fault lands in it.
const BUDGET: Budget = Budget {
    ops: 60,
    puts: 6,
    commits: 3,
};

#[tokio::test]
async fn flows_are_exactly_once_under_faults() {
    let seeds = seeds(
        "STRATA_FLOW_FAULT_SEED",
        "STRATA_FLOW_FAULT_SEEDS",
        DEFAULT_SEEDS,
    );
    let started = std::time::Instant::now();
    let mut fired = 0;
    for &seed in &seeds {
        fired += u64::from(with_seed(seed, "STRATA_FLOW_FAULT_SEED", run_seed(seed)).await);
    }
    println!(
        "{} seeds, faults fired in {fired} runs, {:.1} s",
        seeds.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        seeds.len() < 20 || fired * 2 > seeds.len() as u64,
        "faults fired in only {fired} of {} seeds: the budget misses the runs",
        seeds.len()
    );
}

/// One seed: bronze grows by a commit per round; each round runs the pipeline over a fault
/// store and checks, and (every other round, and at the end) reruns it cleanly and checks
/// again. Returns whether any fault fired.
async fn run_seed(seed: u64) -> bool {
    let inner: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let clean = Lake::on_store(inner.clone(), "lake");
    let bronze = bronze(&clean).await;
    let mut landed = Vec::new();
    let mut fired = false;
    for round in 0..ROUNDS {
        // New flights, and corrections of earlier ones (upserts of existing keys).
        let mut rows = generated(round * 30..round * 30 + 30, round);
        rows.extend(generated(round * 10..round * 10 + 5, 77 + round));
        bronze.append([flights(&rows)]).await.unwrap();
        landed.push(rows);

        let faults = Arc::new(FaultStore::seeded(
            inner.clone(),
            seed.wrapping_mul(31).wrapping_add(round as u64),
            BUDGET,
        ));
        let faulty = Lake::on_store(faults.clone(), "lake");
        // Each flow in turn runs first, where the seeded fault most often lands.
        let mut flows = [silver_flow(), gold_flow(), copy_flow()];
        flows.rotate_left((seed % 3) as usize);
        for flow in &flows {
            if !faults.is_dead() {
                let _ = flow.run(&faulty).await;
            }
        }
        fired |= !faults.fired().is_empty();
        let context = format!("round {round}, faults {:?}", faults.faults());
        check(&clean, &landed, &context).await;
        // Every other round the restarted job runs only after more bronze data landed, so it
        // reads a longer range than the one the faulty run left half-done.
        if (seed + round as u64).is_multiple_of(2) && round + 1 < ROUNDS {
            continue;
        }

        let silver = silver_flow().run(&clean).await;
        silver.unwrap_or_else(|e| panic!("{context}: clean silver rerun: {e}"));
        let gold = gold_flow().run(&clean).await;
        gold.unwrap_or_else(|e| panic!("{context}: clean gold rerun: {e}"));
        let copy = copy_flow().run(&clean).await;
        copy.unwrap_or_else(|e| panic!("{context}: clean copy rerun: {e}"));
        check(&clean, &landed, &context).await;
        let table = clean.table("silver.flights").await.unwrap();
        assert_eq!(
            rows_of(&table).await,
            expected_silver(&landed.concat()),
            "{context}: silver is not caught up after a clean run"
        );
    }
    fired
}

/// A bronze row: `(id, carrier, delay)`.
type Row<'a> = (i64, &'a str, Option<i64>);

/// Silver matches the bronze versions its cursor consumed; gold matches silver at the version
/// its lineage names.
async fn check(lake: &Lake, landed: &[Vec<(i64, &str, Option<i64>)>], context: &str) {
    let bronze = lake.table("bronze.flights").await.unwrap();
    let bronze_id = bronze.snapshot().await.unwrap().metadata().id.clone();
    let Ok(silver) = lake.table("silver.flights").await else {
        return; // never created: nothing consumed yet
    };
    let snapshot = silver.snapshot().await.unwrap();
    let cursor = snapshot.txn_version(&cursor_app_id("clean_flights", &bronze_id));
    // Bronze version v (1-based, after create at 0) holds round v-1's rows.
    let consumed = cursor.unwrap_or(0) as usize;
    assert_eq!(
        rows_at(&snapshot).await,
        expected_silver(&landed[..consumed].concat()),
        "{context}: silver at version {} (cursor {cursor:?})",
        snapshot.version()
    );
    for (table, keep) in [
        (
            "silver.raw",
            (|r: &Row| !quarantined(r)) as fn(&Row) -> bool,
        ),
        ("silver.raw_quarantine", |r: &Row| quarantined(r)),
    ] {
        let Ok(copy) = lake.table(table).await else {
            continue;
        };
        let snapshot = copy.snapshot().await.unwrap();
        let cursor = snapshot.txn_version(&cursor_app_id("raw_copy", &bronze_id));
        let mut expected: Vec<(i64, String, Option<i64>)> = landed[..cursor.unwrap_or(0) as usize]
            .concat()
            .into_iter()
            .filter(keep)
            .map(|(id, c, d)| (id, c.to_string(), d))
            .collect();
        expected.sort();
        let actual = row_list_at(&snapshot).await;
        let extra: Vec<_> = actual.iter().filter(|r| !expected.contains(r)).collect();
        let missing: Vec<_> = expected.iter().filter(|r| !actual.contains(r)).collect();
        assert!(
            actual == expected,
            "{context}: {table} at version {} (cursor {cursor:?}): {} rows, expected {}; not expected {extra:?}; missing {missing:?}",
            snapshot.version(),
            actual.len(),
            expected.len()
        );
    }
    let Ok(gold) = lake.table("gold.delay_by_carrier").await else {
        return;
    };
    let gold_version = gold.version().await.unwrap();
    let Some(lineage) = lineage_at(&gold, gold_version).await.unwrap() else {
        return; // only the empty table a racing creator made
    };
    let silver_then = silver
        .snapshot_at_version(lineage.sources[0].to_version)
        .await
        .unwrap();
    assert_eq!(
        gold_totals(&gold).await,
        totals_of(&rows_at(&silver_then).await),
        "{context}: gold v{gold_version} against silver v{}",
        lineage.sources[0].to_version
    );
}
