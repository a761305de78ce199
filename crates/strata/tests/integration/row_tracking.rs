//! Row tracking: on a table with `delta.enableRowTracking`, every file strata adds gets a
//! `baseRowId` past the high-water mark and its commit's version as `defaultRowCommitVersion`,
//! and the commit moves the mark; writers racing for versions never hand out the same id; the
//! ids survive checkpoints and restores; other clients read every version; a rewrite that would
//! lose the ids is refused.

use strata::{Error, Table};

use crate::support::python::read_with;
use crate::support::*;

async fn tracked_table(lake: &TempLake, name: &str) -> Table {
    Table::create(lake.table(name))
        .with_arrow_schema(&people_schema())
        .unwrap()
        .with_partition_columns(["country"])
        .with_property("delta.enableRowTracking", "true")
        .execute()
        .await
        .unwrap()
}

/// (baseRowId, rows, defaultRowCommitVersion) of every live file, by first id.
async fn id_ranges(table: &Table) -> Vec<(i64, i64, i64)> {
    let snapshot = table.snapshot().await.unwrap();
    snapshot.load_stats().await.unwrap();
    let mut ranges: Vec<_> = snapshot
        .files()
        .map(|f| {
            let add = f.to_add();
            (
                add.base_row_id.expect("baseRowId"),
                add.num_records().unwrap(),
                add.default_row_commit_version
                    .expect("defaultRowCommitVersion"),
            )
        })
        .collect();
    ranges.sort_unstable();
    ranges
}

fn high_water_mark(snapshot: &strata::Snapshot) -> i64 {
    let domain = snapshot
        .domain("delta.rowTracking")
        .expect("the row tracking domain");
    let config: serde_json::Value = serde_json::from_str(&domain.configuration).unwrap();
    config["rowIdHighWaterMark"].as_i64().unwrap()
}

#[tokio::test]
async fn appends_hand_out_consecutive_ids_and_move_the_mark() {
    let lake = TempLake::new();
    let table = tracked_table(&lake, "t").await;
    let snapshot = table.snapshot().await.unwrap();
    let features = snapshot.writer_features();
    assert!(
        features.contains(&strata::TableFeature::RowTracking)
            && features.contains(&strata::TableFeature::DomainMetadata),
        "{features:?}"
    );
    table.append([people(0..3, Some("PT"))]).await.unwrap();
    table
        .append([people(3..5, Some("PT")), people(5..9, Some("ES"))])
        .await
        .unwrap();
    let ranges = id_ranges(&table).await;
    assert_eq!(ranges[0], (0, 3, 1));
    assert_eq!(ranges[1..].iter().map(|r| r.2).collect::<Vec<_>>(), [2, 2]);
    assert_eq!(ranges[1].0, 3);
    assert_eq!(ranges[2].0, 3 + ranges[1].1);
    assert_eq!(high_water_mark(&table.snapshot().await.unwrap()), 8);
    // A checkpoint carries the ids; a restore re-adds files with theirs.
    table.checkpoint().await.unwrap();
    let reopened = Table::open(lake.table("t")).await.unwrap();
    assert_eq!(id_ranges(&reopened).await, ranges);
    table.overwrite([people(20..22, Some("FR"))]).await.unwrap();
    assert_eq!(id_ranges(&table).await, [(9, 2, 3)]);
    table.restore_to_version(2).await.unwrap();
    assert_eq!(id_ranges(&table).await, ranges);
    assert_eq!(
        high_water_mark(&table.snapshot().await.unwrap()),
        10,
        "restore hands out no ids"
    );
    // Other clients read every version.
    let location = lake.table("t");
    for version in 0..=table.version().await.unwrap() {
        let snapshot = table.snapshot_at_version(version).await.unwrap();
        let ours = snapshot.scan().collect().await.unwrap();
        for client in ["duckdb", "deltalake"] {
            assert_same_rows(
                &ours,
                &read_with(client, &location, Some(version)),
                &snapshot.arrow_schema(),
                &format!("{client} v{version}"),
            );
        }
    }
}

#[tokio::test]
async fn racing_writers_never_hand_out_the_same_id() {
    let lake = TempLake::new();
    let table = tracked_table(&lake, "t").await;
    let mut tasks = Vec::new();
    for w in 0..8i64 {
        let handle = Table::open(lake.table("t")).await.unwrap();
        tasks.push(tokio::spawn(async move {
            for k in 0..3i64 {
                let first = w * 100 + k * 10;
                handle
                    .append([people(first..first + 1 + k, Some("PT"))])
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let ranges = id_ranges(&table).await;
    let total: i64 = ranges.iter().map(|r| r.1).sum();
    assert_eq!(total, 8 * (1 + 2 + 3));
    let mut next = 0;
    for (base, rows, _) in &ranges {
        assert_eq!(*base, next, "ids overlap or leave a gap: {ranges:?}");
        next += rows;
    }
    assert_eq!(high_water_mark(&table.snapshot().await.unwrap()), total - 1);
}

#[tokio::test]
async fn a_rewrite_that_would_lose_row_ids_is_refused() {
    let lake = TempLake::new();
    let table = tracked_table(&lake, "t").await;
    table.append([people(0..3, Some("PT"))]).await.unwrap();
    table.append([people(3..5, Some("PT"))]).await.unwrap();
    let err = table.optimize().execute().await.unwrap_err();
    assert!(
        matches!(&err, Error::NotAllowed { reason, .. } if reason.contains("delta.enableRowTracking")),
        "{err}"
    );
}
