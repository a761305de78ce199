//! Flows end to end on a local lake: bronze appends → silver upsert with expectations → gold
//! recompute, incrementally; racing runners; refusals that commit nothing.

mod common;

use std::collections::BTreeSet;

use arrow::array::AsArray;
use arrow::datatypes::Int64Type;
use strata_pipelines::{
    EXPECTATIONS_KEY, Expectation, Flow, Lake, PipelineError, ReadMode, cursor_app_id, lineage_at,
    walk_lineage,
};

use common::*;

#[tokio::test]
async fn bronze_to_silver_to_gold_incrementally_with_lineage_and_cursors() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap());
    let bronze = bronze(&lake).await;
    let mut landed = generated(0..100, 0);
    bronze.append([flights(&landed)]).await.unwrap(); // bronze v1

    let first = silver_flow().run(&lake).await.unwrap();
    assert_eq!(first.rows_read, 100);
    assert_eq!(
        first.sources[0].from_version, None,
        "a first run bootstraps"
    );
    let silver = lake.table("silver.flights").await.unwrap();
    assert_eq!(rows_of(&silver).await, expected_silver(&landed));
    let dropped = 100 - expected_silver(&landed).len() as u64;
    assert_eq!(first.expectations[0].violations, dropped);
    assert_eq!(first.rows_written, 100 - dropped);
    gold_flow().run(&lake).await.unwrap();
    let gold = lake.table("gold.delay_by_carrier").await.unwrap();
    assert_eq!(gold_totals(&gold).await, totals_of(&rows_of(&silver).await));

    // Late corrections of ids 10..20 and new flights 100..150 arrive in two commits.
    let corrections = generated(10..20, 55);
    let new = generated(100..150, 0);
    bronze.append([flights(&corrections)]).await.unwrap(); // v2
    bronze.append([flights(&new)]).await.unwrap(); // v3
    landed.extend(corrections);
    landed.extend(new);
    let second = silver_flow().run(&lake).await.unwrap();
    assert_eq!(second.rows_read, 60, "only the new rows are read");
    assert_eq!(
        (second.sources[0].from_version, second.sources[0].to_version),
        (Some(2), 3)
    );
    assert_eq!(rows_of(&silver).await, expected_silver(&landed));
    gold_flow().run(&lake).await.unwrap();
    assert_eq!(gold_totals(&gold).await, totals_of(&rows_of(&silver).await));

    // Nothing new: nothing read, nothing committed.
    let silver_version = silver.version().await.unwrap();
    let gold_version = gold.version().await.unwrap();
    let idle = silver_flow().run(&lake).await.unwrap();
    assert!(idle.up_to_date, "{idle}");
    assert!(gold_flow().run(&lake).await.unwrap().up_to_date);
    assert_eq!(silver.version().await.unwrap(), silver_version);
    assert_eq!(gold.version().await.unwrap(), gold_version);

    // The cursor is a Delta txn action: appId from the flow and the source table's id.
    let bronze_id = bronze.snapshot().await.unwrap().metadata().id.clone();
    let silver_snapshot = silver.snapshot().await.unwrap();
    assert_eq!(
        silver_snapshot.txn_version(&cursor_app_id("clean_flights", &bronze_id)),
        Some(3)
    );
    // Lineage: gold's version came from silver's, which came from bronze v2..=3.
    let gold_lineage = lineage_at(&gold, gold_version).await.unwrap().unwrap();
    assert_eq!(gold_lineage.flow, "delay_by_carrier");
    assert_eq!(gold_lineage.sources[0].table, "silver.flights");
    assert_eq!(gold_lineage.sources[0].to_version, silver_version);
    let silver_lineage = lineage_at(&silver, silver_version).await.unwrap().unwrap();
    assert_eq!(silver_lineage.transform_version.as_deref(), Some("v1"));
    assert_eq!(silver_lineage.sources[0].table_id, bronze_id);
    assert_eq!(silver_lineage.sources[0].from_version, Some(2));
    assert_eq!(silver_lineage.sources[0].to_version, 3);
    assert!(lineage_at(&bronze, 1).await.unwrap().is_none());
    // Walked upstream, three layers deep.
    let walked = walk_lineage(&lake, "gold.delay_by_carrier", gold_version, 5)
        .await
        .unwrap();
    assert_eq!(
        walked.render(),
        format!(
            "gold.delay_by_carrier v{gold_version} <- silver.flights @v{silver_version} <- bronze.flights @v3"
        )
    );
    assert_eq!(walked.upstream[0].flows, ["clean_flights"]);
    // The incremental silver commit alone came from bronze v2..=3.
    let one = walk_lineage(&lake, "silver.flights", silver_version, 1)
        .await
        .unwrap();
    assert_eq!(
        one.render(),
        format!("silver.flights v{silver_version} <- bronze.flights v2..=3")
    );
    // Expectation counts are in the commit.
    let entry = &silver.history(Some(1)).await.unwrap()[0];
    let counts = &entry.user_metadata[EXPECTATIONS_KEY];
    assert_eq!(counts[0]["name"], "has_delay");
    assert_eq!(counts[0]["action"], "drop");
    assert_eq!(counts[1]["violations"], second.expectations[1].violations);
    // Layer policies: bronze is append-only, gold takes data only from flows; restoring is
    // allowed.
    let err = bronze
        .delete()
        .with_predicate("id = 1")
        .execute()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("appendOnly"), "{err}");
    let batches = gold
        .snapshot()
        .await
        .unwrap()
        .scan()
        .collect()
        .await
        .unwrap();
    let err = gold.append(batches).await.unwrap_err();
    assert!(err.to_string().contains("strata.requireLineage"), "{err}");
    assert_eq!(gold.version().await.unwrap(), gold_version);
    gold.restore_to_version(gold_version - 1).await.unwrap();
    // The layer is a table property.
    let properties = &silver_snapshot.metadata().configuration;
    assert_eq!(
        properties.get("strata.layer").map(String::as_str),
        Some("silver")
    );
}

#[tokio::test]
async fn racing_runners_commit_each_source_range_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap());
    let bronze = bronze(&lake).await;
    let copy = Flow::new("copy", "silver.copy")
        .source("bronze.flights", ReadMode::Appends)
        .transform(|input| Ok(input.rows("bronze.flights").to_vec()));
    let mut committed_runs = 0;
    for round in 0..6i64 {
        bronze
            .append([flights(&generated(round * 20..round * 20 + 20, 0))])
            .await
            .unwrap();
        let runners: Vec<_> = (0..3)
            .map(|_| {
                let (flow, lake) = (copy.clone(), lake.clone());
                tokio::spawn(async move { flow.run(&lake).await })
            })
            .collect();
        for runner in runners {
            let report = runner.await.unwrap().unwrap();
            if report.version.is_some() {
                committed_runs += 1;
            }
        }
    }
    let silver = lake.table("silver.copy").await.unwrap();
    let rows = rows_of(&silver).await; // panics on a duplicate id
    assert_eq!(rows.len(), 120);
    assert_eq!(
        rows_of(&bronze).await.keys().collect::<BTreeSet<_>>(),
        rows.keys().collect()
    );
    assert!((1..=6).contains(&committed_runs), "{committed_runs}");
}

#[tokio::test]
async fn failures_commit_nothing_and_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap());
    // Bronze is append-only by default; this one allows the delete below.
    let bronze = lake
        .create_table("bronze.flights")
        .unwrap()
        .with_arrow_schema(&schema())
        .unwrap()
        .with_property("delta.appendOnly", "false")
        .execute()
        .await
        .unwrap();
    bronze
        .append([flights(&generated(0..10, 0))])
        .await
        .unwrap();
    let base = Flow::new("strict", "silver.strict")
        .source("bronze.flights", ReadMode::Appends)
        .transform(|input| Ok(input.rows("bronze.flights").to_vec()));

    // A `fail` expectation: the run is refused, naming the expectation and a row.
    let err = base
        .clone()
        .expect(Expectation::fail("has_delay", "delay IS NOT NULL"))
        .run(&lake)
        .await
        .unwrap_err();
    assert!(
        matches!(err, PipelineError::ExpectationFailed { violations: 1, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("id: 0"), "{err}");
    assert!(
        lake.table("silver.strict").await.is_err(),
        "nothing created"
    );

    // A failing transform.
    let err = Flow::new("broken", "silver.strict")
        .source("bronze.flights", ReadMode::Appends)
        .transform(|_| Err("no such lookup table".into()))
        .run(&lake)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no such lookup table"), "{err}");

    // A bad definition.
    let err = Flow::new("loop", "bronze.flights")
        .source("bronze.flights", ReadMode::Appends)
        .transform(|_| Ok(vec![]))
        .run(&lake)
        .await
        .unwrap_err();
    assert!(matches!(err, PipelineError::BadFlow { .. }), "{err:?}");

    // An append-only read refuses a source that deleted rows, naming the version.
    base.run(&lake).await.unwrap();
    bronze
        .delete()
        .with_predicate("id < 3")
        .execute()
        .await
        .unwrap(); // v2
    let err = base.run(&lake).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("version 2") && text.contains("DELETE"),
        "{text}"
    );
    let strict = lake.table("silver.strict").await.unwrap();
    assert_eq!(rows_of(&strict).await.len(), 10);
}

#[tokio::test]
async fn a_change_feed_source_sees_updates_and_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap());
    let bronze = lake
        .create_table("bronze.accounts")
        .unwrap()
        .with_arrow_schema(&schema())
        .unwrap()
        .with_property("delta.enableChangeDataFeed", "true")
        .with_property("delta.appendOnly", "false")
        .execute()
        .await
        .unwrap();
    bronze.append([flights(&generated(0..5, 0))]).await.unwrap();
    let audit = Flow::new("audit", "silver.audit")
        .source("bronze.accounts", ReadMode::Changes)
        .transform(|input| Ok(input.rows("bronze.accounts").to_vec()));
    let first = audit.run(&lake).await.unwrap();
    assert_eq!(first.rows_written, 5);
    bronze
        .delete()
        .with_predicate("id = 1")
        .execute()
        .await
        .unwrap();
    bronze
        .update()
        .with_predicate("id = 2")
        .set("delay", "delay + 1000")
        .execute()
        .await
        .unwrap();
    let second = audit.run(&lake).await.unwrap();
    assert_eq!(second.rows_read, 3, "{second}");
    let table = lake.table("silver.audit").await.unwrap();
    let mut kinds = Vec::new();
    for b in table
        .snapshot()
        .await
        .unwrap()
        .scan()
        .collect()
        .await
        .unwrap()
    {
        let ids = b.column_by_name("id").unwrap().as_primitive::<Int64Type>();
        let kind = b.column_by_name("_change_type").unwrap().as_string::<i32>();
        for i in 0..b.num_rows() {
            kinds.push((ids.value(i), kind.value(i).to_string()));
        }
    }
    kinds.sort();
    let changed: Vec<_> = kinds
        .iter()
        .filter(|(id, _)| *id == 1 || *id == 2)
        .collect();
    assert_eq!(
        changed,
        [
            &(1, "delete".to_string()),
            &(1, "insert".to_string()),
            &(2, "insert".to_string()),
            &(2, "update_postimage".to_string()),
            &(2, "update_preimage".to_string()),
        ]
    );
}

#[tokio::test]
async fn a_pipeline_runs_flows_in_dependency_order_and_reports_lag() {
    use strata_pipelines::{FlowOutcome, Pipeline};

    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap());
    let bronze = bronze(&lake).await;
    bronze
        .append([flights(&generated(0..100, 0))])
        .await
        .unwrap();
    // Added downstream first: the order comes from the tables the flows read.
    let pipeline = Pipeline::new()
        .flow(gold_flow())
        .flow(silver_flow())
        .flow(copy_flow());
    let levels = pipeline.levels().unwrap();
    assert_eq!(levels, [vec![1, 2], vec![0]]);

    let lag = pipeline.status(&lake).await.unwrap();
    let silver_lag = lag.iter().find(|l| l.flow == "clean_flights").unwrap();
    assert_eq!((silver_lag.cursor, silver_lag.versions_behind), (None, 2));
    assert_eq!(silver_lag.rows_behind, Some(100));

    let report = pipeline.run_once(&lake).await.unwrap();
    assert!(report.is_success(), "{report}");
    let order: Vec<&str> = report.flows.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(order, ["clean_flights", "raw_copy", "delay_by_carrier"]);
    // Gold saw what silver committed in the same run.
    let silver = lake.table("silver.flights").await.unwrap();
    let gold = lake.table("gold.delay_by_carrier").await.unwrap();
    assert_eq!(gold_totals(&gold).await, totals_of(&rows_of(&silver).await));
    assert!(
        pipeline
            .status(&lake)
            .await
            .unwrap()
            .iter()
            .all(|l| l.versions_behind == 0 && l.rows_behind == Some(0))
    );
    bronze
        .append([flights(&generated(100..130, 0))])
        .await
        .unwrap();
    let lag = pipeline.status(&lake).await.unwrap();
    let silver_lag = lag.iter().find(|l| l.flow == "clean_flights").unwrap();
    assert_eq!(
        (silver_lag.versions_behind, silver_lag.rows_behind),
        (1, Some(30))
    );

    // A failing flow skips what reads its target, and nothing else.
    let broken = Flow::new("clean_flights", "silver.flights")
        .source("bronze.flights", ReadMode::Appends)
        .transform(|_| Err("lookup service down".into()));
    let partial = Pipeline::new()
        .flow(broken)
        .flow(gold_flow())
        .flow(copy_flow());
    let report = partial.run_once(&lake).await.unwrap();
    assert!(!report.is_success());
    let outcome = |name: &str| &report.flows.iter().find(|(n, _)| n == name).unwrap().1;
    assert!(matches!(outcome("clean_flights"), FlowOutcome::Failed(_)));
    assert!(
        matches!(outcome("delay_by_carrier"), FlowOutcome::Skipped { upstream } if upstream == "clean_flights")
    );
    assert!(matches!(outcome("raw_copy"), FlowOutcome::Ran(r) if r.rows_read == 30));

    // Watching runs until told to stop.
    let (tx, rx) = futures::channel::oneshot::channel::<()>();
    let mut tx = Some(tx);
    let mut runs = 0;
    pipeline
        .watch(
            &lake,
            std::time::Duration::from_millis(10),
            async move {
                let _ = rx.await;
            },
            |report| {
                runs += 1;
                assert!(report.is_success(), "{report}");
                if runs == 2 {
                    tx.take().unwrap().send(()).unwrap();
                }
            },
        )
        .await
        .unwrap();
    assert_eq!(runs, 2);
    assert_eq!(
        rows_of(&silver).await.len(),
        expected_silver(&[generated(0..100, 0), generated(100..130, 0)].concat()).len()
    );

    // Flows that read each other's targets cannot be ordered.
    let cycle = Pipeline::new()
        .flow(
            Flow::new("a", "silver.a")
                .source("silver.b", ReadMode::Appends)
                .transform(|_| Ok(vec![])),
        )
        .flow(
            Flow::new("b", "silver.b")
                .source("silver.a", ReadMode::Appends)
                .transform(|_| Ok(vec![])),
        );
    assert!(matches!(cycle.levels(), Err(PipelineError::BadFlow { .. })));
}

#[tokio::test]
async fn pins_read_back_identically_after_vacuum_and_follow_lineage() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap());
    let bronze = bronze(&lake).await;
    bronze
        .append([flights(&generated(0..50, 0))])
        .await
        .unwrap(); // v1
    silver_flow().run(&lake).await.unwrap();
    gold_flow().run(&lake).await.unwrap();
    let silver = lake.table("silver.flights").await.unwrap();
    let gold = lake.table("gold.delay_by_carrier").await.unwrap();
    let silver_then = rows_of(&silver).await;
    let gold_version = gold.version().await.unwrap();

    let pin = lake
        .pin("train-2026-12", &["silver.flights", "bronze.flights"])
        .await
        .unwrap();
    assert_eq!(pin.tables["bronze.flights"].version, 1);
    assert_eq!(
        pin.tables["silver.flights"].version,
        silver.version().await.unwrap()
    );
    // Same name, same versions: nothing new. The tags are in each table.
    let again = lake
        .pin("train-2026-12", &["silver.flights", "bronze.flights"])
        .await
        .unwrap();
    assert_eq!(again, pin);
    assert_eq!(
        silver.tags().await.unwrap()["train-2026-12"].version,
        pin.tables["silver.flights"].version
    );

    // Later data, then a zero-retention vacuum of everything.
    bronze
        .append([flights(&generated(0..50, 33))])
        .await
        .unwrap(); // v2 rewrites every delay
    silver_flow().run(&lake).await.unwrap();
    gold_flow().run(&lake).await.unwrap();
    assert_ne!(rows_of(&silver).await, silver_then);
    for table in [&bronze, &silver] {
        table
            .vacuum()
            .with_retention_ms(0)
            .with_force(true)
            .execute()
            .await
            .unwrap();
    }
    let read_back = lake
        .read_pin("train-2026-12", "silver.flights")
        .await
        .unwrap();
    assert_eq!(rows_at(&read_back).await, silver_then);
    let err = lake
        .read_pin("train-2026-12", "gold.delay_by_carrier")
        .await;
    assert!(err.is_err());
    // The name is taken for other versions.
    assert!(
        lake.pin("train-2026-12", &["silver.flights"])
            .await
            .is_err()
    );

    // A lineage pin: gold's version and exactly the inputs that produced it.
    let inputs = lake
        .pin_lineage_of("gold-inputs", "gold.delay_by_carrier", gold_version)
        .await
        .unwrap();
    assert_eq!(
        inputs.lineage_of.as_deref(),
        Some(format!("gold.delay_by_carrier@{gold_version}").as_str())
    );
    assert_eq!(inputs.tables["gold.delay_by_carrier"].version, gold_version);
    assert_eq!(
        inputs.tables["silver.flights"].version,
        pin.tables["silver.flights"].version
    );
    assert_eq!(inputs.tables["bronze.flights"].version, 1);
    let names: Vec<String> = lake
        .pins()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names, ["gold-inputs", "train-2026-12"]);
    assert!(lake.pin("../escape", &["silver.flights"]).await.is_err());
}

#[tokio::test]
async fn a_gold_aggregate_kept_incrementally_from_silver_changes_equals_a_recompute() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().to_str().unwrap());
    let bronze = bronze(&lake).await;
    let mut landed = Vec::new();
    for round in 0..4i64 {
        let mut rows = generated(round * 40..round * 40 + 40, round);
        rows.extend(generated(round * 7..round * 7 + 10, 50 + round)); // corrections
        bronze.append([flights(&rows)]).await.unwrap();
        landed.extend(rows);
        silver_flow_with_feed().run(&lake).await.unwrap();
        let report = incremental_gold_flow().run(&lake).await.unwrap();
        if round > 0 {
            assert!(
                report.rows_read < 60,
                "round {round}: only silver's changes are read: {report}"
            );
        }
        let silver = lake.table("silver.flights").await.unwrap();
        let gold = lake.table("gold.delay_by_carrier_inc").await.unwrap();
        assert_eq!(
            gold_totals(&gold).await,
            totals_of(&rows_of(&silver).await),
            "round {round}"
        );
    }
    assert_eq!(
        rows_of(&lake.table("silver.flights").await.unwrap()).await,
        expected_silver(&landed)
    );
    // A full refresh recomputes the same totals from silver's snapshot.
    let gold = lake.table("gold.delay_by_carrier_inc").await.unwrap();
    let before = gold_totals(&gold).await;
    incremental_gold_flow()
        .run_full_refresh(&lake)
        .await
        .unwrap();
    assert_eq!(gold_totals(&gold).await, before);
}
