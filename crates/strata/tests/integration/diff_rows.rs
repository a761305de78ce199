//! Row diffs between versions: what `EXCEPT ALL` both ways over two full scans finds, read
//! from only the files that differ or from the change data feed, on tables strata writes and
//! on every Spark fixture (deletion vectors, column mapping, type widening) at every step.

use std::collections::BTreeMap;

use arrow::array::{Array, StringArray};
use strata::{Error, RowDiff, RowDiffSource, Table};

use crate::deletion_vectors::spark_fixture;
use crate::support::*;

/// The rows `from` has that `to` lacks and those `to` has that `from` lacks, by full scans
/// of both versions in `to`'s (or the later version's) schema: the model the diff must match.
async fn except_all(table: &Table, from: i64, to: i64) -> (Vec<String>, Vec<String>) {
    let schema = table
        .snapshot_at_version(from.max(to))
        .await
        .unwrap()
        .arrow_schema();
    let mut sides = Vec::new();
    for v in [from, to] {
        let snapshot = table.snapshot_at_version(v).await.unwrap();
        sides.push(canonical_rows(
            &snapshot.scan().collect().await.unwrap(),
            &schema,
        ));
    }
    let (before, after) = (&sides[0], &sides[1]);
    (minus(before, after), minus(after, before))
}

/// Multiset difference of sorted rows.
fn minus(a: &[String], b: &[String]) -> Vec<String> {
    let mut counts: BTreeMap<&String, i64> = BTreeMap::new();
    for r in b {
        *counts.entry(r).or_default() += 1;
    }
    let mut out = Vec::new();
    for r in a {
        let n = counts.entry(r).or_default();
        if *n > 0 {
            *n -= 1;
        } else {
            out.push(r.clone());
        }
    }
    out
}

/// The diff's rows of the given change types, canonical as [`canonical_rows`] renders them.
fn rows_of(diff: &RowDiff, kinds: &[&str]) -> Vec<String> {
    let width = diff.schema.fields().len() - 1;
    let table_schema = std::sync::Arc::new(
        diff.schema
            .project(&(0..width).collect::<Vec<_>>())
            .unwrap(),
    );
    let mut selected = Vec::new();
    for batch in &diff.batches {
        let change = batch
            .column(width)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        let mask: arrow::array::BooleanArray = (0..change.len())
            .map(|i| Some(kinds.contains(&change.value(i))))
            .collect();
        let kept = arrow::compute::filter_record_batch(batch, &mask).unwrap();
        selected.push(kept.project(&(0..width).collect::<Vec<_>>()).unwrap());
    }
    canonical_rows(&selected, &table_schema)
}

/// Asserts the diff from `from` to `to` is exactly the model's.
async fn assert_diff_matches_model(table: &Table, from: i64, to: i64, context: &str) -> RowDiff {
    let diff = table
        .diff_rows(from, to)
        .execute()
        .await
        .unwrap_or_else(|e| panic!("{context}: {e}"));
    let (deleted, inserted) = except_all(table, from, to).await;
    assert_eq!(
        rows_of(&diff, &["delete", "update_preimage"]),
        deleted,
        "{context}: deleted"
    );
    assert_eq!(
        rows_of(&diff, &["insert", "update_postimage"]),
        inserted,
        "{context}: inserted"
    );
    assert_eq!(diff.deleted as usize, deleted.len(), "{context}");
    assert_eq!(diff.inserted as usize, inserted.len(), "{context}");
    diff
}

/// A people table: v1 ten rows, v2 ten more, v3 an overwrite that moves id 9 to another
/// country, drops id 15 and adds ids 20 and 21, v4 two more rows, v5 an optimize.
async fn people_table(lake: &TempLake, name: &str, cdf: bool) -> Table {
    let mut create = Table::create(lake.table(name))
        .with_arrow_schema(&people_schema())
        .unwrap();
    if cdf {
        create = create.with_property("delta.enableChangeDataFeed", "true");
    }
    let table = create.execute().await.unwrap();
    table.append([people(0..10, Some("PT"))]).await.unwrap();
    table.append([people(10..20, Some("ES"))]).await.unwrap();
    table
        .overwrite([
            people(0..9, Some("PT")),
            people(9..10, Some("FR")),
            people(10..15, Some("ES")),
            people(16..22, Some("ES")),
        ])
        .await
        .unwrap();
    table.append([people(30..32, Some("IT"))]).await.unwrap();
    let optimized = table.optimize().execute().await.unwrap();
    assert_eq!(table.version().await.unwrap(), 5, "{optimized:?}");
    table
}

fn changes(diff: &RowDiff) -> Vec<String> {
    let width = diff.schema.fields().len() - 1;
    diff.batches
        .iter()
        .flat_map(|b| {
            let id = b
                .column(0)
                .as_any()
                .downcast_ref::<arrow::array::Int64Array>()
                .unwrap()
                .clone();
            let country = b
                .column(2)
                .as_any()
                .downcast_ref::<StringArray>()
                .unwrap()
                .clone();
            let change = b
                .column(width)
                .as_any()
                .downcast_ref::<StringArray>()
                .unwrap()
                .clone();
            (0..b.num_rows())
                .map(move |i| format!("{} {} {}", change.value(i), id.value(i), country.value(i)))
        })
        .collect()
}

#[tokio::test]
async fn a_key_turns_a_delete_and_an_insert_into_an_update_from_files_or_the_feed() {
    let lake = TempLake::new();
    for (name, cdf, source) in [
        ("files", false, RowDiffSource::Files),
        ("feed", true, RowDiffSource::ChangeDataFeed),
    ] {
        let table = people_table(&lake, name, cdf).await;
        let diff = table
            .diff_rows(2, 3)
            .with_key(["id"])
            .execute()
            .await
            .unwrap();
        assert_eq!(diff.source, source, "{name}");
        assert_eq!(
            changes(&diff),
            [
                "update_preimage 9 PT",
                "update_postimage 9 FR",
                "delete 15 ES",
                "insert 20 ES",
                "insert 21 ES"
            ],
            "{name}"
        );
        assert_eq!(
            (diff.inserted, diff.deleted, diff.updated),
            (2, 1, 1),
            "{name}"
        );
        // Backwards undoes it.
        let back = table
            .diff_rows(3, 2)
            .with_key(["id"])
            .execute()
            .await
            .unwrap();
        assert_eq!(
            changes(&back),
            [
                "update_preimage 9 FR",
                "update_postimage 9 PT",
                "insert 15 ES",
                "delete 20 ES",
                "delete 21 ES"
            ],
            "{name}"
        );
        // Optimize rewrote every file and changed no row.
        let optimized = table.diff_rows(4, 5).execute().await.unwrap();
        assert!(
            optimized.is_empty() && optimized.batches.is_empty(),
            "{name}"
        );
        for from in 0..=5 {
            for to in 0..=5 {
                assert_diff_matches_model(&table, from, to, &format!("{name} {from}->{to}")).await;
            }
        }
    }
}

#[tokio::test]
async fn a_bad_key_or_version_is_refused() {
    let lake = TempLake::new();
    let table = people_table(&lake, "t", false).await;
    let err = table
        .diff_rows(1, 2)
        .with_key(["nope"])
        .execute()
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::InvalidArgument(_)) && err.to_string().contains("\"nope\""),
        "{err}"
    );
    let err = table.diff_rows(1, 9).execute().await.unwrap_err();
    assert!(matches!(err, Error::VersionNotFound { .. }), "{err}");
}

#[tokio::test]
async fn every_spark_fixture_diffs_as_except_all_between_every_pair_of_versions() {
    let mut sources = BTreeMap::new();
    for name in crate::spark_fixtures::all_tables() {
        let location = spark_fixture(name);
        let table = Table::open(location.to_str().unwrap()).await.unwrap();
        let latest = table.version().await.unwrap();
        let readable: Vec<i64> = {
            let mut v = Vec::new();
            for version in 0..=latest {
                match table.snapshot_at_version(version).await {
                    Ok(_) => v.push(version),
                    Err(Error::VersionNotFound { .. }) => {}
                    Err(e) => panic!("{name} v{version}: {e}"),
                }
            }
            v
        };
        for &from in &readable {
            for &to in &readable {
                let diff =
                    assert_diff_matches_model(&table, from, to, &format!("{name} {from}->{to}"))
                        .await;
                *sources
                    .entry((name, diff.source == RowDiffSource::ChangeDataFeed))
                    .or_insert(0) += 1;
            }
        }
    }
    // Both paths ran: the CDF fixtures enable the feed after version 0.
    assert!(sources.keys().any(|(_, feed)| *feed), "{sources:?}");
    assert!(sources.keys().any(|(_, feed)| !*feed), "{sources:?}");
}

#[tokio::test]
async fn the_diff_reads_only_the_files_that_differ() {
    let lake = TempLake::new();
    let table = Table::create(lake.table("t"))
        .with_arrow_schema(&people_schema())
        .unwrap()
        .execute()
        .await
        .unwrap();
    for i in 0..5 {
        table
            .append([people(i * 100..i * 100 + 100, Some("PT"))])
            .await
            .unwrap();
    }
    // Lose every file the last two versions share: a full scan of either would now fail.
    let before = table.snapshot_at_version(4).await.unwrap();
    for file in before.files() {
        std::fs::remove_file(lake.table_path("t").join(file.path())).unwrap();
    }
    let diff = table.diff_rows(4, 5).execute().await.unwrap();
    assert_eq!(
        (diff.inserted, diff.deleted, diff.source),
        (100, 0, RowDiffSource::Files)
    );
}
