//! A model-based test of a CDC pipeline under faults: bronze takes random appends, updates and
//! deletes (its change data feed on); silver mirrors it through the change feed with
//! `apply_changes` (SCD type 1, sequenced by `_commit_version`); each run goes through the
//! seeded fault store (crashes before, during and after commits, lost acknowledgements), and
//! some are followed by a clean restart. After every run, silver must equal bronze at the
//! version silver's cursor names; at the end, bronze's latest.
//!
//! Seeds: `STRATA_CDC_MODEL_SEEDS=<n>` (default [`DEFAULT_SEEDS`]); `STRATA_CDC_MODEL_SEED=<n>`
//! replays one. A failure prints the seed, the step and the faults.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::memory::InMemory;
use strata_pipelines::{ApplyChanges, Flow, Lake, ReadMode, Sink, cursor_app_id};
use strata_test_support::fault_store::{Budget, FaultStore, SplitMix64};

use common::*;

/// Seeds the test runs by default.
const DEFAULT_SEEDS: u64 = 150;
/// Bronze changes (each followed by a faulty run) per seed.
const STEPS: usize = 6;
const BUDGET: Budget = Budget {
    ops: 50,
    puts: 5,
    commits: 2,
};

/// Silver mirrors bronze: its change feed applied by id, in commit order.
fn mirror() -> Flow {
    Flow::new("mirror", "silver.mirror")
        .source("bronze.flights", ReadMode::Changes)
        .transform(|input| {
            // A pre-image is the row before an update; its post-image carries the change.
            let mut kept = Vec::new();
            for b in input.rows("bronze.flights") {
                let kinds = b
                    .column_by_name("_change_type")
                    .expect("change feed")
                    .as_any()
                    .downcast_ref::<arrow::array::StringArray>()
                    .expect("strings");
                let mask: arrow::array::BooleanArray = kinds
                    .iter()
                    .map(|k| Some(k != Some("update_preimage")))
                    .collect();
                kept.push(arrow::compute::filter_record_batch(b, &mask)?);
            }
            Ok(kept)
        })
        .sink(Sink::ApplyChanges(
            ApplyChanges::scd1(&["id"], "_commit_version")
                .delete_when("_change_type = 'delete'")
                .except(&["_change_type", "_commit_timestamp"]),
        ))
}

#[tokio::test]
async fn a_cdc_mirror_matches_its_source_at_its_cursor_under_faults() {
    for seed in seeds(
        "STRATA_CDC_MODEL_SEED",
        "STRATA_CDC_MODEL_SEEDS",
        DEFAULT_SEEDS,
    ) {
        with_seed(seed, "STRATA_CDC_MODEL_SEED", run_seed(seed)).await;
    }
}

async fn run_seed(seed: u64) {
    let inner: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let clean = Lake::on_store(inner.clone(), "lake");
    let bronze = clean
        .create_table("bronze.flights")
        .unwrap()
        .with_arrow_schema(&schema())
        .unwrap()
        .with_property("delta.enableChangeDataFeed", "true")
        .with_property("delta.appendOnly", "false")
        .execute()
        .await
        .unwrap();
    let mut rng = SplitMix64::new(seed);
    let mut next_id = 0i64;
    for step in 0..STEPS {
        let op = if step == 0 { 0 } else { rng.below(3) };
        match op {
            0 => {
                let n = 5 + rng.below(20) as i64;
                let rows = generated(next_id..next_id + n, step as i64);
                next_id += n;
                bronze.append([flights(&rows)]).await.unwrap();
            }
            1 => {
                let r = rng.below(5);
                bronze
                    .update()
                    .with_predicate(format!("id % 5 = {r}").as_str())
                    .set("delay", "delay + 1000")
                    .execute()
                    .await
                    .unwrap();
            }
            _ => {
                let r = rng.below(7);
                bronze
                    .delete()
                    .with_predicate(format!("id % 7 = {r}").as_str())
                    .execute()
                    .await
                    .unwrap();
            }
        }
        let faults = Arc::new(FaultStore::seeded(
            inner.clone(),
            seed.wrapping_mul(131).wrapping_add(step as u64),
            BUDGET,
        ));
        let _ = mirror().run(&Lake::on_store(faults.clone(), "lake")).await;
        let context = format!("step {step} (op {op}), faults {:?}", faults.faults());
        check(&clean, &context).await;
        if rng.chance(1, 2) || step + 1 == STEPS {
            mirror()
                .run(&clean)
                .await
                .unwrap_or_else(|e| panic!("{context}: clean restart: {e}"));
            check(&clean, &context).await;
        }
    }
    let silver = clean.table("silver.mirror").await.unwrap();
    assert_eq!(
        mirror_rows(&silver.snapshot().await.unwrap()).await,
        mirror_rows(&bronze.snapshot().await.unwrap()).await,
        "silver is not caught up with bronze after a clean run"
    );
}

/// `id -> (carrier, delay)`, the columns silver mirrors.
async fn mirror_rows(snapshot: &strata::Snapshot) -> BTreeMap<i64, (String, Option<i64>)> {
    rows_at(snapshot).await
}

async fn check(lake: &Lake, context: &str) {
    let bronze = lake.table("bronze.flights").await.unwrap();
    let Ok(silver) = lake.table("silver.mirror").await else {
        return;
    };
    let bronze_id = bronze.snapshot().await.unwrap().metadata().id.clone();
    let snapshot = silver.snapshot().await.unwrap();
    let expected = match snapshot.txn_version(&cursor_app_id("mirror", &bronze_id)) {
        Some(cursor) => mirror_rows(&bronze.snapshot_at_version(cursor).await.unwrap()).await,
        None => BTreeMap::new(),
    };
    assert_eq!(
        mirror_rows(&snapshot).await,
        expected,
        "{context}: silver v{} against bronze at its cursor",
        snapshot.version()
    );
}
