//! `DELETE`: rows removed as a model says, by copy-on-write and with deletion vectors, whole
//! files removed unread, no-ops committing nothing, the same rows deleted as deltalake deletes
//! them, every version read by DuckDB and deltalake; racing deletes never lose each other's
//! rows and never fail a blind append; the change feed reads deletes back.

use std::collections::BTreeSet;

use strata::{Error, Table};

use crate::deletion_vectors::assert_reads_like_other_clients;
use crate::support::python::{changes_with_deltalake, delete_with_deltalake};
use crate::support::*;

/// A people table partitioned by country: ids 0..10 PT, 10..20 NL, 20..30 PT, one commit each.
pub(crate) async fn people_table(
    lake: &TempLake,
    name: &str,
    properties: &[(&str, &str)],
) -> Table {
    let mut create = Table::create(lake.table(name))
        .with_arrow_schema(&people_schema())
        .unwrap()
        .with_partition_columns(["country"]);
    for (k, v) in properties {
        create = create.with_property(*k, *v);
    }
    let table = create.execute().await.unwrap();
    table.append([people(0..10, Some("PT"))]).await.unwrap();
    table.append([people(10..20, Some("NL"))]).await.unwrap();
    table.append([people(20..30, Some("PT"))]).await.unwrap();
    table
}

async fn ids(table: &Table) -> BTreeSet<i64> {
    id_set(&table.snapshot().await.unwrap()).await
}

/// Copies a table directory (to run deltalake's delete on the same data).
pub(crate) fn copy_table(lake: &TempLake, from: &str, to: &str) {
    fn copy(from: &std::path::Path, to: &std::path::Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
    }
    copy(&lake.table_path(from), &lake.table_path(to));
}

#[tokio::test]
async fn deletes_match_the_model_by_copy_on_write_and_with_deletion_vectors() {
    for vectors in [false, true] {
        let lake = TempLake::new();
        let properties: &[(&str, &str)] = if vectors {
            &[("delta.enableDeletionVectors", "true")]
        } else {
            &[]
        };
        let table = people_table(&lake, "t", properties).await;
        let mut model: BTreeSet<i64> = (0..30).collect();
        let steps: &[(&str, std::ops::Range<i64>)] = &[
            // Across two files of two partitions.
            ("id >= 5 AND id < 12", 5..12),
            // The same file again: the new vector covers the old rows too.
            ("id < 3", 0..3),
            // A whole partition, by partition value: removed unread.
            ("country = 'NL'", 12..20),
            // One row.
            ("id = 25", 25..26),
            // Nothing matches: nothing is committed.
            ("id = 1000", 0..0),
        ];
        for (step, (predicate, deleted)) in steps.iter().enumerate() {
            let context = format!("vectors {vectors}, step {step}: {predicate}");
            // The same delete by deltalake on a copy (copy-on-write; it writes no vectors).
            let peer = (!vectors).then(|| {
                let name = format!("peer{step}");
                copy_table(&lake, "t", &name);
                let metrics = delete_with_deltalake(&lake.table(&name), predicate);
                (name, metrics)
            });
            let before = table.version().await.unwrap();
            let result = table
                .delete()
                .with_predicate(*predicate)
                .execute()
                .await
                .unwrap();
            for id in deleted.clone() {
                model.remove(&id);
            }
            assert_eq!(ids(&table).await, model, "{context}");
            assert_eq!(
                result.num_deleted_rows,
                deleted.clone().count() as u64,
                "{context}"
            );
            match result.version {
                None => {
                    assert!(deleted.is_empty(), "{context}");
                    assert_eq!(table.version().await.unwrap(), before, "{context}");
                }
                Some(v) => assert_eq!(v, before + 1, "{context}"),
            }
            if let Some((name, metrics)) = peer {
                let theirs = id_set(&latest(lake.table(&name)).await).await;
                assert_eq!(theirs, model, "{context}: deltalake deleted other rows");
                assert_eq!(
                    metrics["num_deleted_rows"].as_u64(),
                    Some(result.num_deleted_rows),
                    "{context}: {metrics}"
                );
            }
        }
        let snapshot = table.snapshot().await.unwrap();
        let with_vectors = snapshot
            .files()
            .filter(|f| f.deletion_vector().is_some())
            .count();
        if vectors {
            assert!(with_vectors > 0, "deletes wrote no vectors");
            assert_eq!(
                snapshot.num_records().await.unwrap(),
                Some(model.len() as i64),
                "row counts subtract the vectors"
            );
        } else {
            assert_eq!(with_vectors, 0);
        }
        assert_reads_like_other_clients(&lake.table("t")).await;
    }
}

#[tokio::test]
async fn whole_files_go_unread_and_files_whose_rows_all_match_are_removed() {
    let lake = TempLake::new();
    let table = people_table(&lake, "t", &[("delta.enableDeletionVectors", "true")]).await;
    // Lose the NL partition's data: a delete of the whole partition must not read it.
    let nl = lake.table_path("t").join("country=NL");
    std::fs::remove_dir_all(&nl).unwrap();
    let result = table
        .delete()
        .with_predicate("country = 'NL'")
        .execute()
        .await
        .unwrap();
    assert_eq!((result.num_deleted_rows, result.num_removed_files), (10, 1));
    // Every row of the first file matches: the file goes, no vector is written.
    let result = table
        .delete()
        .with_predicate("id < 10")
        .execute()
        .await
        .unwrap();
    assert_eq!(
        (
            result.num_deleted_rows,
            result.num_removed_files,
            result.num_deletion_vectors_added
        ),
        (10, 1, 0)
    );
    assert_eq!(ids(&table).await, (20..30).collect());
    // No predicate: every file goes, unread.
    let all = table.delete().execute().await.unwrap();
    assert_eq!(all.num_deleted_rows, 10);
    assert!(ids(&table).await.is_empty());
}

#[tokio::test]
async fn a_delete_is_refused_where_the_table_says_so() {
    let lake = TempLake::new();
    let table = people_table(&lake, "a", &[("delta.appendOnly", "true")]).await;
    let err = table
        .delete()
        .with_predicate("id = 1")
        .execute()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotAllowed { .. }), "{err}");
    assert_eq!(table.version().await.unwrap(), 3, "nothing committed");
    let table = people_table(&lake, "c", &[]).await;
    let err = table
        .delete()
        .with_predicate("nope = 1")
        .execute()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Predicate(_)), "{err}");
    assert_eq!(table.version().await.unwrap(), 3, "nothing committed");
}

/// With deletion vectors the feed is the vectors' difference; by copy-on-write the commit
/// writes `cdc` files holding exactly the deleted rows (whole partitions read for them), and
/// deltalake's `load_cdf` reads the same changes.
#[tokio::test]
async fn the_change_feed_reads_deletes_back() {
    for vectors in [true, false] {
        let lake = TempLake::new();
        let mut properties = vec![("delta.enableChangeDataFeed", "true")];
        if vectors {
            properties.push(("delta.enableDeletionVectors", "true"));
        }
        let table = people_table(&lake, "t", &properties).await;
        let rows = table
            .delete()
            .with_predicate("id >= 3 AND id < 6")
            .execute()
            .await
            .unwrap();
        let partition = table
            .delete()
            .with_predicate("country = 'NL' OR id = 25")
            .execute()
            .await
            .unwrap();
        assert_eq!(rows.num_deleted_rows, 3);
        assert_eq!(partition.num_deleted_rows, 11);
        let mut with_25: Vec<i64> = (10..20).collect();
        with_25.push(25);
        for (result, expected) in [(&rows, (3..6).collect()), (&partition, with_25)] {
            let v = result.version.unwrap();
            let changes = table
                .changes()
                .from_version(v)
                .to_version(v)
                .with_columns(["id"])
                .collect()
                .await
                .unwrap();
            let mut deleted: Vec<i64> = rendered(&changes)
                .iter()
                .map(|r| {
                    let mut cells = r.split('|');
                    let id = cells.next().unwrap().parse().unwrap();
                    assert_eq!(cells.next(), Some("delete"), "{r}");
                    id
                })
                .collect();
            deleted.sort_unstable();
            assert_eq!(deleted, expected, "vectors: {vectors}");
        }
        let cdc_files = walk_files(&lake.table_path("t").join("_change_data"));
        assert_eq!(cdc_files.is_empty(), vectors, "{cdc_files:?}");
        let location = lake.table("t");
        let ours = table.changes().from_version(0).collect().await.unwrap();
        let theirs = changes_with_deltalake(&location, 0, None);
        let cols = ["id", "country", "_change_type", "_commit_version"];
        assert_eq!(
            change_cells(&ours, &cols),
            change_cells(&theirs, &cols),
            "vectors: {vectors}"
        );
        assert_reads_like_other_clients(&location).await;
        // Vacuum takes change data files once older than the retention, as Delta does, and
        // than the in-flight grace (no tombstone names them: they could be a write's in
        // flight), zero here.
        let before = ids(&table).await;
        let report = table
            .vacuum()
            .with_retention_ms(0)
            .with_force(true)
            .with_in_flight_grace_ms(0)
            .execute()
            .await
            .unwrap();
        assert!(walk_files(&lake.table_path("t").join("_change_data")).is_empty());
        assert!(
            report
                .files
                .iter()
                .filter(|f| f.starts_with("_change_data/"))
                .count()
                == cdc_files.len(),
            "{report:?}"
        );
        assert_eq!(ids(&table).await, before);
    }
}

/// The named columns of change rows as `a|b|…`, sorted.
fn change_cells(batches: &[arrow::array::RecordBatch], columns: &[&str]) -> Vec<String> {
    let projected: Vec<arrow::array::RecordBatch> = batches
        .iter()
        .map(|b| {
            let indices: Vec<usize> = columns
                .iter()
                .map(|c| b.schema().index_of(c).unwrap())
                .collect();
            b.project(&indices).unwrap()
        })
        .collect();
    rendered(&projected)
}

/// Every file under `dir` (none when it does not exist).
fn walk_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files = Vec::new();
    for entry in entries.flatten() {
        if entry.file_type().unwrap().is_dir() {
            files.extend(walk_files(&entry.path()));
        } else {
            files.push(entry.path());
        }
    }
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_deletes_lose_no_rows_and_never_fail_a_blind_append() {
    const ROWS: i64 = 20_000;
    for vectors in [false, true] {
        let lake = TempLake::new();
        let mut create = Table::create(lake.table("t"))
            .with_arrow_schema(&people_schema())
            .unwrap();
        if vectors {
            create = create.with_property("delta.enableDeletionVectors", "true");
        }
        let table = create.execute().await.unwrap();
        // Two large files, so that every delete reads long enough to race the others.
        table.append([people(0..ROWS, Some("PT"))]).await.unwrap();
        table
            .append([people(ROWS..2 * ROWS, Some("NL"))])
            .await
            .unwrap();
        // Eight deletes of disjoint rows of both files, each on its own handle, started
        // together and retried when a concurrent delete removed a file they read; appends race
        // them throughout.
        let start = std::sync::Arc::new(tokio::sync::Barrier::new(9));
        let mut tasks = Vec::new();
        let mut conflicts = Vec::new();
        for d in 0..8i64 {
            let handle = Table::open(lake.table("t")).await.unwrap();
            let start = start.clone();
            let (tx, rx) = tokio::sync::oneshot::channel();
            conflicts.push(rx);
            tasks.push(tokio::spawn(async move {
                let predicate = format!("id = {} OR id = {}", d * 100, ROWS + d * 100);
                start.wait().await;
                let mut lost = 0;
                loop {
                    match handle
                        .delete()
                        .with_predicate(predicate.as_str())
                        .execute()
                        .await
                    {
                        Ok(r) => {
                            let _ = tx.send(lost);
                            return r.num_deleted_rows;
                        }
                        Err(Error::Conflict { .. }) => lost += 1,
                        Err(e) => panic!("delete {predicate}: {e}"),
                    }
                }
            }));
        }
        let appender = Table::open(lake.table("t")).await.unwrap();
        let appends = tokio::spawn(async move {
            start.wait().await;
            for k in 0..8i64 {
                // Rows the deletes' predicates would match, were they there when they read.
                appender
                    .append([people(k * 100..k * 100 + 1, Some("ES"))])
                    .await
                    .expect("a blind append never conflicts with a delete");
            }
        });
        let mut deleted = 0;
        for t in tasks {
            deleted += t.await.unwrap();
        }
        appends.await.unwrap();
        let mut lost = 0;
        for rx in conflicts {
            lost += rx.await.unwrap();
        }
        // Every racing delete's rows are gone from the two files (a delete lost to another
        // would bring them back); each appended copy (country ES) was deleted by the delete of
        // its id or kept, never both.
        let snapshot = table.snapshot().await.unwrap();
        let mut copies_left = 0;
        for d in 0..8i64 {
            for id in [d * 100, ROWS + d * 100] {
                let rows = rendered_where(&snapshot, &format!("id = {id}")).await;
                assert!(
                    rows.iter().all(|r| r.ends_with("|ES")),
                    "vectors {vectors}: deleted row {id} is back: {rows:?}"
                );
                copies_left += rows.len() as u64;
            }
        }
        assert_eq!(deleted + copies_left, 16 + 8, "vectors {vectors}");
        assert_eq!(
            scan_rows(&snapshot).await as i64,
            2 * ROWS - 16 + copies_left as i64,
            "vectors {vectors}"
        );
        eprintln!("vectors {vectors}: {lost} lost races retried");
    }
}

/// Enabling deletion vectors and the change feed on an existing table upgrades its protocol as
/// Delta does; deletes then write vectors, and other clients read every version.
#[tokio::test]
async fn properties_set_later_upgrade_the_protocol() {
    let lake = TempLake::new();
    let table = people_table(&lake, "t", &[]).await;
    let before = table.snapshot().await.unwrap().protocol().clone();
    assert_eq!(
        (before.min_reader_version, before.min_writer_version),
        (1, 2)
    );
    let v = table
        .set_properties([
            ("delta.enableDeletionVectors", "true"),
            ("delta.enableChangeDataFeed", "true"),
        ])
        .await
        .unwrap();
    let snapshot = table.snapshot().await.unwrap();
    let p = snapshot.protocol();
    assert_eq!((p.min_reader_version, p.min_writer_version), (3, 7));
    assert_eq!(p.reader_features.clone().unwrap(), ["deletionVectors"]);
    let writer = p.writer_features.clone().unwrap();
    for f in [
        "appendOnly",
        "invariants",
        "changeDataFeed",
        "deletionVectors",
    ] {
        assert!(writer.iter().any(|w| w == f), "{f} in {writer:?}");
    }
    // The same again changes nothing.
    assert_eq!(
        table
            .set_properties([("delta.enableDeletionVectors", "true")])
            .await
            .unwrap(),
        v
    );
    let result = table
        .delete()
        .with_predicate("id = 3 OR id = 13")
        .execute()
        .await
        .unwrap();
    assert_eq!(result.num_deletion_vectors_added, 2);
    assert_reads_like_other_clients(&lake.table("t")).await;
    // Column mapping: none to name upgrades the table in place (names kept as physical
    // names), and the deletion vectors keep applying; other mode changes are refused.
    table
        .set_properties([("delta.columnMapping.mode", "name")])
        .await
        .unwrap();
    assert_reads_like_other_clients(&lake.table("t")).await;
    let err = table
        .set_properties([("delta.columnMapping.mode", "id")])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotAllowed { .. }), "{err}");
}
