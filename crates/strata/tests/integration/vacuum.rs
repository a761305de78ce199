//! Vacuum: deletes only what no retained or tagged version reads.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use strata::Error;

use crate::support::{assert_deltalake_row_count, id_batch as batch, id_set as ids, id_table};

fn data_files(dir: &std::path::Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".parquet"))
        .collect()
}

#[tokio::test]
async fn vacuum_keeps_current_retained_and_tagged_versions() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("t");
    let (table, location) = id_table(dir.path()).await;
    table.append([batch(0..10)]).await.unwrap(); // v1: file A
    table.append([batch(10..20)]).await.unwrap(); // v2: file B
    table.overwrite([batch(100..103)]).await.unwrap(); // v3: C, removes A and B
    // A failed write's leftover, never committed.
    std::fs::write(root.join("part-orphan.parquet"), b"not committed").unwrap();
    let a = table
        .snapshot_at_version(1)
        .await
        .unwrap()
        .files()
        .next()
        .unwrap()
        .path()
        .to_string();
    assert_eq!(data_files(&root).len(), 4);

    // Default retention (7 days): everything is recent, nothing goes.
    let report = table.vacuum().execute().await.unwrap();
    assert!(report.files.is_empty(), "{report:?}");
    // A shorter retention needs force; a forced dry run lists but deletes nothing.
    let err = table
        .vacuum()
        .with_retention_ms(0)
        .execute()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotAllowed { .. }), "{err:?}");
    let version_before = table.version().await.unwrap();
    let dry = table
        .vacuum()
        .with_retention_ms(0)
        .with_force(true)
        .with_dry_run(true)
        .execute()
        .await
        .unwrap();
    // The orphan is younger than the in-flight grace (an hour): a write may still commit it.
    assert_eq!(dry.files.len(), 2, "{dry:?}");
    assert_eq!(dry.in_flight, ["part-orphan.parquet"], "{dry:?}");
    let dry = table
        .vacuum()
        .with_retention_ms(0)
        .with_force(true)
        .with_in_flight_grace_ms(0)
        .with_dry_run(true)
        .execute()
        .await
        .unwrap();
    assert_eq!(dry.files.len(), 3, "{dry:?}");
    assert!(dry.files.contains(&"part-orphan.parquet".to_string()));
    assert!(dry.in_flight.is_empty());
    assert_eq!(data_files(&root).len(), 4, "a dry run deletes nothing");
    assert_eq!(
        table.version().await.unwrap(),
        version_before,
        "and commits nothing"
    );

    // A tag protects version 1 (file A) even with a zero retention.
    table.tag("train", 1).await.unwrap();
    let progress = Arc::new(AtomicU64::new(0));
    let seen = progress.clone();
    let report = table
        .vacuum()
        .with_retention_ms(0)
        .with_force(true)
        .with_in_flight_grace_ms(0)
        .with_progress(move |p| seen.store(p.deleted, Ordering::SeqCst))
        .execute()
        .await
        .unwrap();
    assert_eq!(report.files.len(), 2, "{report:?}");
    assert!(!report.files.contains(&a));
    assert_eq!(progress.load(Ordering::SeqCst), 2);
    assert!(data_files(&root).contains(&a));
    assert_eq!(
        ids(&table.snapshot_at_tag("train").await.unwrap()).await,
        (0..10).collect()
    );
    assert_eq!(
        ids(&table.snapshot().await.unwrap()).await,
        (100..103).collect()
    );
    let ops: Vec<String> = table
        .history(Some(2))
        .await
        .unwrap()
        .into_iter()
        .filter_map(|h| h.operation)
        .collect();
    assert_eq!(ops, vec!["VACUUM END", "VACUUM START"]);
    assert_deltalake_row_count(&location, 3);
}

#[tokio::test]
async fn versions_inside_the_retention_read_identically_after_vacuum() {
    let dir = tempfile::tempdir().unwrap();
    let (table, _) = id_table(dir.path()).await;
    table.append([batch(0..5)]).await.unwrap(); // v1
    table.overwrite([batch(5..10)]).await.unwrap(); // v2
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let boundary = table.version().await.unwrap();
    table.overwrite([batch(10..15)]).await.unwrap(); // v3
    table.append([batch(15..20)]).await.unwrap(); // v4
    table.overwrite([batch(20..25)]).await.unwrap(); // v5
    let mut before = Vec::new();
    for v in boundary..=5 {
        before.push(ids(&table.snapshot_at_version(v).await.unwrap()).await);
    }
    let report = table
        .vacuum()
        .with_retention_ms(1000)
        .with_force(true)
        .execute()
        .await
        .unwrap();
    assert_eq!(
        report.files.len(),
        1,
        "only v1's file is outside the retention: {report:?}"
    );
    for (i, v) in (boundary..=5).enumerate() {
        assert_eq!(
            ids(&table.snapshot_at_version(v).await.unwrap()).await,
            before[i],
            "v{v}"
        );
    }
}

/// Reading a version whose files vacuum deleted says so, naming the file, the version and the
/// retention property, instead of a raw "object not found".
#[tokio::test]
async fn a_vacuumed_version_says_it_was_vacuumed() {
    let dir = tempfile::tempdir().unwrap();
    let (table, _) = id_table(dir.path()).await;
    table.append([batch(0..10)]).await.unwrap(); // v1
    table.overwrite([batch(0..3)]).await.unwrap(); // v2
    table
        .vacuum()
        .with_retention_ms(0)
        .with_force(true)
        .execute()
        .await
        .unwrap();
    let old = table.snapshot_at_version(1).await.unwrap();
    let err = old.scan().collect().await.unwrap_err();
    assert!(
        matches!(err, strata::Error::DataFileMissing { version: 1, .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("deletedFileRetentionDuration") && text.contains(".parquet"),
        "{text}"
    );
    assert!(text.starts_with("data file /"), "an absolute path: {text}");
}

/// A writer that has uploaded its files and waits to commit, over a store that holds its
/// commit put; the table itself opened cleanly beside it.
async fn writer_in_flight(
    name: &str,
    grace: Option<&str>,
) -> (
    strata::Table,
    tokio::task::JoinHandle<strata::Result<strata::WriteResult>>,
    crate::support::fault_store::Hold,
) {
    use crate::support::fault_store::{FaultStore, OpMatch};
    let inner: Arc<dyn object_store::ObjectStore> = Arc::new(object_store::memory::InMemory::new());
    let location = format!("memory://{name}/t");
    let clean = strata::Storage::from_store(inner.clone(), "t", &location).unwrap();
    let mut create = strata::Table::create(&location)
        .with_storage(clean)
        .with_arrow_schema(&crate::support::people_schema())
        .unwrap();
    if let Some(grace) = grace {
        create = create.with_property("strata.vacuum.inFlightGraceMs", grace);
    }
    let table = create.execute().await.unwrap();
    table
        .append([crate::support::people(0..10, Some("PT"))])
        .await
        .unwrap();
    let faults = Arc::new(FaultStore::new(inner, vec![]));
    let ours = strata::Table::open_storage(
        strata::Storage::from_store(faults.clone(), "t", &location).unwrap(),
    )
    .await
    .unwrap();
    let mut hold = faults.hold(OpMatch::commit_put());
    let write = tokio::spawn(async move {
        ours.write([crate::support::people(10..20, Some("NL"))])
            .execute()
            .await
    });
    hold.arrived().await;
    // Zero retention deletes what is older than now: let the upload age a little.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    (table, write, hold)
}

async fn row_count(table: &strata::Table) -> usize {
    let batches = table
        .snapshot()
        .await
        .unwrap()
        .scan()
        .collect()
        .await
        .unwrap();
    batches.iter().map(|b| b.num_rows()).sum()
}

/// #20: a zero-retention, forced vacuum ran while an append had uploaded its file and not yet
/// committed; it deleted the file as an orphan and the append then committed a reference to
/// it, breaking the latest version. Uncommitted files younger than the in-flight grace are
/// kept now, whatever the retention, and the report lists them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vacuum_keeps_the_files_of_a_write_in_flight() {
    let (table, write, mut hold) = writer_in_flight("in-flight-kept", None).await;
    let report = table
        .vacuum()
        .with_retention_ms(0)
        .with_force(true)
        .execute()
        .await
        .unwrap();
    assert!(report.files.is_empty(), "{report:?}");
    assert_eq!(report.in_flight.len(), 1, "{report:?}");
    hold.release();
    let written = write.await.unwrap().unwrap();
    assert!(written.version > report.version.unwrap());
    assert_eq!(row_count(&table).await, 20);
}

/// With no grace left (`strata.vacuum.inFlightGraceMs` = 0, as if the write had taken longer
/// than the grace), the vacuum deletes the uploaded file; the writer, finding its commit's
/// version taken by the vacuum, checks its files before trying again and fails with a typed
/// error naming the file instead of committing a dangling reference.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_whose_file_a_vacuum_deleted_fails_instead_of_committing_it() {
    let (table, write, mut hold) = writer_in_flight("in-flight-lost", Some("0")).await;
    let report = table
        .vacuum()
        .with_retention_ms(0)
        .with_force(true)
        .execute()
        .await
        .unwrap();
    assert_eq!(report.files.len(), 1, "{report:?}");
    hold.release();
    let err = write.await.unwrap().unwrap_err();
    match &err {
        Error::StagedFileMissing { path, .. } => assert_eq!(*path, report.files[0]),
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("run the write again"), "{err}");
    assert_eq!(row_count(&table).await, 10, "the latest version reads");
}
