//! Tags: named versions stored in the `strata.tags` domain of the log.

use strata::{Error, Table};

use crate::support::{assert_deltalake_row_count, id_batch as batch, id_table, scan_rows};

async fn new_table(dir: &tempfile::TempDir) -> (Table, String) {
    id_table(dir.path()).await
}

#[tokio::test]
async fn a_tag_pins_a_version_and_travels_with_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let (table, location) = new_table(&dir).await;
    table.append([batch(0..10)]).await.unwrap(); // v1
    let before = table.snapshot().await.unwrap().protocol().clone();
    let tagged_at = table.tag("train-2026-11", 1).await.unwrap(); // v2
    assert_eq!(tagged_at, 2);
    table.overwrite([batch(0..3)]).await.unwrap(); // v3

    let tags = table.tags().await.unwrap();
    assert_eq!(tags.len(), 1);
    assert_eq!(tags["train-2026-11"].version, 1);
    let pinned = table.snapshot_at_tag("train-2026-11").await.unwrap();
    assert_eq!(pinned.version(), 1);
    assert_eq!(scan_rows(&pinned).await, 10);

    // The first tag added the domainMetadata writer feature; readers are untouched.
    let protocol = table.snapshot().await.unwrap().protocol().clone();
    assert_eq!(protocol.min_reader_version, before.min_reader_version);
    assert_eq!(protocol.min_writer_version, 7);
    let features = protocol.writer_features.unwrap();
    assert!(
        features.contains(&"domainMetadata".to_string()),
        "{features:?}"
    );

    // Same name, same version: nothing to do. Same name, other version: refused.
    assert_eq!(table.tag("train-2026-11", 1).await.unwrap(), 3);
    let err = table.tag("train-2026-11", 3).await.unwrap_err();
    assert!(matches!(err, Error::NotAllowed { .. }), "{err:?}");
    assert!(err.to_string().contains("version 1"), "{err}");
    let err = table.tag("future", 99).await.unwrap_err();
    assert!(matches!(err, Error::VersionNotFound { .. }), "{err:?}");
    let err = table.snapshot_at_tag("nope").await.unwrap_err();
    assert!(err.to_string().contains("train-2026-11"), "{err}");

    // Tags survive a checkpoint and a fresh open.
    table.checkpoint().await.unwrap();
    let reopened = Table::open(&location).await.unwrap();
    assert_eq!(reopened.tags().await.unwrap()["train-2026-11"].version, 1);

    // Deleting a tag is a commit too; the history shows both.
    reopened.delete_tag("train-2026-11").await.unwrap();
    assert!(reopened.tags().await.unwrap().is_empty());
    assert!(reopened.delete_tag("train-2026-11").await.is_err());
    let history = reopened.history(None).await.unwrap();
    assert_eq!(history[0].operation.as_deref(), Some("DELETE TAG"));
    assert!(
        history
            .iter()
            .any(|h| h.operation.as_deref() == Some("CREATE TAG"))
    );
    // Time travel to before the tag was deleted still sees it.
    let old = reopened.snapshot_at_version(3).await.unwrap();
    assert_eq!(old.tags().unwrap()["train-2026-11"].version, 1);
}

#[tokio::test]
async fn concurrent_taggers_both_land() {
    let dir = tempfile::tempdir().unwrap();
    let (table, location) = new_table(&dir).await;
    table.append([batch(0..1)]).await.unwrap();
    let other = Table::open(&location).await.unwrap();
    other.snapshot().await.unwrap();
    let mut handles = Vec::new();
    for (i, t) in [table, other].into_iter().enumerate() {
        handles.push(tokio::spawn(async move {
            for k in 0..5 {
                t.tag(&format!("w{i}-{k}"), 1).await.unwrap();
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let tags = Table::open(&location).await.unwrap().tags().await.unwrap();
    assert_eq!(tags.len(), 10, "{tags:?}");
}

#[tokio::test]
async fn deltalake_reads_a_tagged_table() {
    let dir = tempfile::tempdir().unwrap();
    let (table, location) = new_table(&dir).await;
    table.append([batch(0..10)]).await.unwrap();
    table.tag("release", 1).await.unwrap();
    assert_deltalake_row_count(&location, 10);
}
