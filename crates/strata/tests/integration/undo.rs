//! Restore and revert: undo bad writes as new, auditable commits.

use std::collections::BTreeSet;

use strata::{Error, Table};

use crate::support::{assert_deltalake_row_count, id_batch as batch, id_set as ids, id_table};

async fn table_with(dir: &tempfile::TempDir) -> (Table, String) {
    id_table(dir.path()).await
}

fn range(r: std::ops::Range<i64>) -> BTreeSet<i64> {
    r.collect()
}

#[tokio::test]
async fn restore_brings_back_a_version_as_a_new_commit() {
    let dir = tempfile::tempdir().unwrap();
    let (table, location) = table_with(&dir).await;
    table.append([batch(0..10)]).await.unwrap(); // v1
    table.append([batch(10..20)]).await.unwrap(); // v2
    table.overwrite([batch(100..105)]).await.unwrap(); // v3: the bad write
    table.append([batch(200..201)]).await.unwrap(); // v4

    let result = table.restore_to_version(2).await.unwrap();
    assert_eq!(result.version, 5);
    assert_eq!(
        (result.num_restored_files, result.num_removed_files),
        (2, 2)
    );
    let latest = table.snapshot().await.unwrap();
    assert_eq!(ids(&latest).await, range(0..20));
    // History records it; the bad versions stay readable by time travel.
    let history = table.history(Some(1)).await.unwrap();
    assert_eq!(history[0].operation.as_deref(), Some("RESTORE"));
    assert_eq!(history[0].parameters["version"], 2);
    assert_eq!(history[0].metrics["numRestoredFiles"], 2);
    assert_eq!(
        ids(&table.snapshot_at_version(4).await.unwrap())
            .await
            .len(),
        6
    );
    // By timestamp: the version current at v1's commit time.
    let v1_time = table.snapshot_at_version(1).await.unwrap().timestamp();
    table.restore_to_timestamp(v1_time).await.unwrap();
    assert_eq!(ids(&table.snapshot().await.unwrap()).await, range(0..10));
    // deltalake reads the restored table.
    assert_deltalake_row_count(&location, 10);
}

#[tokio::test]
async fn restore_refuses_when_files_were_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let (table, _) = table_with(&dir).await;
    table.append([batch(0..10)]).await.unwrap();
    table.overwrite([batch(10..11)]).await.unwrap();
    let v1 = table.snapshot_at_version(1).await.unwrap();
    let gone = v1.files().next().unwrap().path().to_string();
    std::fs::remove_file(dir.path().join("t").join(&gone)).unwrap();
    let err = table.restore_to_version(1).await.unwrap_err();
    assert!(matches!(err, Error::NotAllowed { .. }), "{err:?}");
    assert!(err.to_string().contains(&gone), "{err}");
    assert_eq!(table.version().await.unwrap(), 2, "nothing committed");
}

#[tokio::test]
async fn revert_undoes_one_commit_and_keeps_the_later_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (table, location) = table_with(&dir).await;
    table.append([batch(0..10)]).await.unwrap(); // v1
    table.append([batch(1000..1005)]).await.unwrap(); // v2: the corrupt batch
    table.append([batch(10..20)]).await.unwrap(); // v3: good work after it
    let result = table.revert(2).await.unwrap();
    assert_eq!((result.version, result.num_removed_files), (4, 1));
    let latest = table.snapshot().await.unwrap();
    assert_eq!(ids(&latest).await, range(0..20));
    assert_eq!(
        table.history(Some(1)).await.unwrap()[0]
            .operation
            .as_deref(),
        Some("REVERT")
    );
    // Reverting it again says it is done, and how to undo the revert.
    let err = table.revert(2).await.unwrap_err();
    assert!(matches!(err, Error::NotAllowed { .. }), "{err:?}");
    assert!(
        err.to_string().contains("version 4 already reverted it"),
        "{err}"
    );
    assert_eq!(table.version().await.unwrap(), 4, "nothing committed");

    // Reverting an overwrite adds back what it removed, keeping later appends.
    table.overwrite([batch(50..55)]).await.unwrap(); // v5
    table.append([batch(60..61)]).await.unwrap(); // v6
    table.revert(5).await.unwrap(); // v7
    let mut expected = range(0..20);
    expected.insert(60);
    assert_eq!(ids(&table.snapshot().await.unwrap()).await, expected);
    // Time travel before the revert still shows the state then.
    assert_eq!(ids(&table.snapshot_at_version(6).await.unwrap()).await, {
        let mut s = range(50..55);
        s.insert(60);
        s
    });
    assert_deltalake_row_count(&location, 21);
}

#[tokio::test]
async fn revert_refuses_when_later_commits_depend_on_it() {
    let dir = tempfile::tempdir().unwrap();
    let (table, _) = table_with(&dir).await;
    table.append([batch(0..10)]).await.unwrap(); // v1
    table.overwrite([batch(10..20)]).await.unwrap(); // v2 removes v1's file
    let err = table.revert(1).await.unwrap_err();
    assert!(matches!(err, Error::NotAllowed { .. }), "{err:?}");
    assert!(err.to_string().contains("version 2"), "{err}");
    // Metadata commits and version 0 are refused too.
    let err = table.revert(0).await.unwrap_err();
    assert!(err.to_string().contains("created the table"), "{err}");
    table
        .set_properties([("delta.logRetentionDuration", "interval 60 days")])
        .await
        .unwrap(); // v3: no data files
    let err = table.revert(3).await.unwrap_err();
    assert!(
        err.to_string().contains("metadata or protocol")
            || err.to_string().contains("no data files"),
        "{err}"
    );
    assert!(matches!(
        table.revert(99).await,
        Err(Error::VersionNotFound { .. })
    ));
    assert_eq!(table.version().await.unwrap(), 3, "nothing committed");
}

#[tokio::test]
async fn restored_and_reverted_files_keep_their_statistics_read_from_a_checkpoint() {
    for undo in ["restore", "revert"] {
        let dir = tempfile::tempdir().unwrap();
        let (table, location) = table_with(&dir).await;
        table.append([batch(0..5)]).await.unwrap();
        let target = table.version().await.unwrap();
        table.checkpoint().await.unwrap();
        table.overwrite([batch(10..12)]).await.unwrap();
        // A fresh handle knows the files of `target` only from the checkpoint.
        let fresh = Table::open(&location).await.unwrap();
        match undo {
            "restore" => fresh.restore_to_version(target).await.unwrap(),
            _ => fresh.revert(target + 1).await.unwrap(),
        };
        let snapshot = fresh.snapshot().await.unwrap();
        assert_eq!(ids(&snapshot).await, range(0..5), "{undo}");
        for file in snapshot.files() {
            assert!(
                file.stats().is_some(),
                "{undo}: {} lost its statistics",
                file.path()
            );
        }
    }
}
