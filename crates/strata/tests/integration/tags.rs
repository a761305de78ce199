//! Tags: named versions stored as `_strata/tags/` side files, interoperable with other Delta
//! writers, and the migration of tags earlier strata versions kept in the log.

use strata::actions::{Action, DomainMetadata, Protocol};
use strata::{Error, Table, Transaction};

use crate::support::python::writes_with_deltalake;
use crate::support::{assert_deltalake_row_count, id_batch as batch, id_table, scan_rows};

async fn new_table(dir: &tempfile::TempDir) -> (Table, String) {
    id_table(dir.path()).await
}

#[tokio::test]
async fn a_tag_pins_a_version_without_touching_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let (table, location) = new_table(&dir).await;
    table.append([batch(0..10)]).await.unwrap(); // v1
    let before = table.snapshot().await.unwrap();
    assert!(table.tag("train-2026-11", 1).await.unwrap());
    // No commit and no protocol change: other writers are unaffected.
    let after = table.snapshot().await.unwrap();
    assert_eq!(after.version(), 1);
    assert_eq!(after.protocol(), before.protocol());
    assert!(
        dir.path()
            .join("t/_strata/tags/train-2026-11.json")
            .is_file()
    );
    table.overwrite([batch(0..3)]).await.unwrap(); // v2

    let tags = table.tags().await.unwrap();
    assert_eq!(tags.len(), 1);
    assert_eq!(tags["train-2026-11"].version, 1);
    let pinned = table.snapshot_at_tag("train-2026-11").await.unwrap();
    assert_eq!(pinned.version(), 1);
    assert_eq!(scan_rows(&pinned).await, 10);

    // Same name, same version: nothing to do. Same name, other version: refused.
    assert!(!table.tag("train-2026-11", 1).await.unwrap());
    let err = table.tag("train-2026-11", 2).await.unwrap_err();
    assert!(matches!(err, Error::NotAllowed { .. }), "{err:?}");
    assert!(err.to_string().contains("version 1"), "{err}");
    let err = table.tag("future", 99).await.unwrap_err();
    assert!(matches!(err, Error::VersionNotFound { .. }), "{err:?}");
    let err = table.snapshot_at_tag("nope").await.unwrap_err();
    assert!(err.to_string().contains("train-2026-11"), "{err}");
    let err = table.tag("", 1).await.unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");

    // Names that are not file names still work, and stay distinct.
    for name in ["a/b", "a~2fb", "..", "é 1", &"x".repeat(256)] {
        assert!(table.tag(name, 2).await.unwrap(), "{name}");
    }
    let tags = table.tags().await.unwrap();
    assert_eq!(tags.len(), 6, "{tags:?}");
    assert_eq!(tags["a/b"].version, 2);

    // Tags survive a checkpoint and a fresh open.
    table.checkpoint().await.unwrap();
    let reopened = Table::open(&location).await.unwrap();
    assert_eq!(reopened.tags().await.unwrap()["train-2026-11"].version, 1);

    let deleted = reopened.delete_tag("train-2026-11").await.unwrap();
    assert_eq!(deleted.version, 1);
    assert!(!reopened.tags().await.unwrap().contains_key("train-2026-11"));
    let err = reopened.delete_tag("train-2026-11").await.unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
    // Tag changes are not commits.
    let history = reopened.history(None).await.unwrap();
    assert!(
        history
            .iter()
            .all(|h| !h.operation.as_deref().unwrap_or("").contains("TAG")),
        "{history:?}"
    );
}

#[tokio::test]
async fn concurrent_taggers_all_land_and_agree_on_a_contested_name() {
    let dir = tempfile::tempdir().unwrap();
    let (table, location) = new_table(&dir).await;
    table.append([batch(0..1)]).await.unwrap(); // v1
    table.append([batch(1..2)]).await.unwrap(); // v2
    let other = Table::open(&location).await.unwrap();
    let mut handles = Vec::new();
    for (i, t) in [table, other].into_iter().enumerate() {
        handles.push(tokio::spawn(async move {
            for k in 0..5 {
                assert!(t.tag(&format!("w{i}-{k}"), 1).await.unwrap());
            }
            // Both want "release", on different versions: exactly one wins.
            t.tag("release", i as i64 + 1).await
        }));
    }
    let mut outcomes = Vec::new();
    for h in handles {
        outcomes.push(h.await.unwrap());
    }
    let won: Vec<&bool> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
    assert_eq!(won, [&true], "{outcomes:?}");
    let lost = outcomes.iter().find_map(|o| o.as_ref().err()).unwrap();
    assert!(matches!(lost, Error::NotAllowed { .. }), "{lost:?}");
    let tags = Table::open(&location).await.unwrap().tags().await.unwrap();
    assert_eq!(tags.len(), 11, "{tags:?}");
}

#[tokio::test]
async fn deltalake_writes_to_a_tagged_table_and_the_tags_survive_its_vacuum() {
    let dir = tempfile::tempdir().unwrap();
    let (table, location) = new_table(&dir).await;
    table.append([batch(0..10)]).await.unwrap();
    table.tag("release", 1).await.unwrap();
    assert_deltalake_row_count(&location, 10);
    // Append, delete, optimize and a zero-retention vacuum, all by deltalake.
    let written = writes_with_deltalake(&location, Some("id < 3"));
    assert_eq!(written["rows"], 14, "{written}");
    let reopened = Table::open(&location).await.unwrap();
    assert_eq!(scan_rows(&reopened.snapshot().await.unwrap()).await, 14);
    assert_eq!(reopened.tags().await.unwrap()["release"].version, 1);
}

#[tokio::test]
async fn a_corrupt_tag_file_is_named_and_stops_vacuum() {
    let dir = tempfile::tempdir().unwrap();
    let (table, _) = new_table(&dir).await;
    table.append([batch(0..10)]).await.unwrap();
    table.tag("train", 1).await.unwrap();
    let file = dir.path().join("t/_strata/tags/train.json");
    std::fs::write(&file, b"{\"name\": \"train\", \"vers").unwrap();
    let err = table.tags().await.unwrap_err();
    assert!(matches!(err, Error::CorruptTag { .. }), "{err:?}");
    assert!(err.to_string().contains("_strata/tags/train.json"), "{err}");
    // Vacuum cannot know what the tag protects, so it deletes nothing.
    table.overwrite([batch(0..1)]).await.unwrap();
    let err = table
        .vacuum()
        .with_retention_ms(0)
        .with_force(true)
        .execute()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::CorruptTag { .. }), "{err:?}");
    assert_eq!(
        scan_rows(&table.snapshot_at_version(1).await.unwrap()).await,
        10
    );
}

/// Commits tags the way strata 0.1 did: the `strata.tags` domain, and the `domainMetadata`
/// writer feature added to a (1, 2) protocol.
async fn tag_the_legacy_way(table: &Table, tags: &str) {
    let snapshot = table.snapshot().await.unwrap();
    let mut tx = Transaction::new(&snapshot, "CREATE TAG");
    tx.add_actions([
        Action::Protocol(Protocol {
            min_reader_version: 1,
            min_writer_version: 7,
            reader_features: None,
            writer_features: Some(
                ["appendOnly", "invariants", "domainMetadata"]
                    .map(String::from)
                    .to_vec(),
            ),
        }),
        Action::DomainMetadata(DomainMetadata {
            domain: "strata.tags".into(),
            configuration: tags.into(),
            removed: false,
        }),
    ]);
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn legacy_tags_are_read_and_migrated_on_the_next_tag_change() {
    let dir = tempfile::tempdir().unwrap();
    let (table, location) = new_table(&dir).await;
    table.append([batch(0..10)]).await.unwrap(); // v1
    tag_the_legacy_way(
        &table,
        r#"{"tags": {"old": {"version": 1, "createdAt": 1795424280876}}}"#,
    )
    .await; // v2
    table.overwrite([batch(0..3)]).await.unwrap(); // v3

    // Read as before, and still protected by vacuum.
    assert_eq!(table.tags().await.unwrap()["old"].version, 1);
    table
        .vacuum()
        .with_retention_ms(0)
        .with_force(true)
        .execute()
        .await
        .unwrap();
    let old = table.snapshot_at_tag("old").await.unwrap();
    assert_eq!(scan_rows(&old).await, 10);

    // The next tag change moves it to a side file and gives the table its old protocol back,
    // in one commit.
    let before = table.version().await.unwrap();
    assert!(table.tag("new", 3).await.unwrap());
    let snapshot = table.snapshot().await.unwrap();
    assert_eq!(snapshot.version(), before + 1);
    assert!(snapshot.domain("strata.tags").is_none());
    assert_eq!(
        (
            snapshot.protocol().min_reader_version,
            snapshot.protocol().min_writer_version,
            snapshot.protocol().writer_features.clone()
        ),
        (1, 2, None)
    );
    let history = table.history(Some(1)).await.unwrap();
    assert_eq!(history[0].operation.as_deref(), Some("MIGRATE TAGS"));
    let tags = table.tags().await.unwrap();
    assert_eq!(
        tags.iter()
            .map(|(n, t)| (n.as_str(), t.version, t.created_at))
            .collect::<Vec<_>>(),
        [
            ("new", 3, tags["new"].created_at),
            ("old", 1, 1_795_424_280_876)
        ]
    );
    // Nothing more to migrate; deltalake can write the table again.
    assert!(!table.tag("old", 1).await.unwrap());
    assert_eq!(table.version().await.unwrap(), before + 1);
    let written = writes_with_deltalake(&location, None);
    assert_eq!(written["rows"], 6, "{written}");
    assert_eq!(
        Table::open(&location).await.unwrap().tags().await.unwrap()["old"].version,
        1
    );
}

#[tokio::test]
async fn migration_keeps_domain_metadata_when_another_domain_needs_it() {
    let dir = tempfile::tempdir().unwrap();
    let (table, _) = new_table(&dir).await;
    table.append([batch(0..10)]).await.unwrap();
    tag_the_legacy_way(
        &table,
        r#"{"tags": {"old": {"version": 1, "createdAt": 0}}}"#,
    )
    .await;
    let snapshot = table.snapshot().await.unwrap();
    let mut tx = Transaction::new(&snapshot, "SET DOMAIN");
    tx.add_actions([Action::DomainMetadata(DomainMetadata {
        domain: "app.settings".into(),
        configuration: "{}".into(),
        removed: false,
    })]);
    tx.commit().await.unwrap();

    table.delete_tag("old").await.unwrap();
    let snapshot = table.snapshot().await.unwrap();
    assert!(snapshot.domain("strata.tags").is_none());
    assert!(snapshot.domain("app.settings").is_some());
    let features = snapshot.protocol().writer_features.clone().unwrap();
    assert!(
        features.contains(&"domainMetadata".to_string()),
        "{features:?}"
    );
    assert!(table.tags().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_version_whose_files_were_vacuumed_cannot_be_tagged() {
    let dir = tempfile::tempdir().unwrap();
    let (table, _) = new_table(&dir).await;
    table.append([batch(0..10)]).await.unwrap(); // v1
    table.overwrite([batch(0..3)]).await.unwrap(); // v2
    table
        .vacuum()
        .with_retention_ms(0)
        .with_force(true)
        .execute()
        .await
        .unwrap();
    let err = table.tag("too-late", 1).await.unwrap_err();
    assert!(matches!(err, Error::NotAllowed { .. }), "{err:?}");
    assert!(err.to_string().contains("vacuumed"), "{err}");
    assert!(table.tags().await.unwrap().is_empty());
    // The current version still can be.
    assert!(table.tag("now", 2).await.unwrap());
}
