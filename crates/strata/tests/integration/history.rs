//! Table history: newest first, with operation, parameters, metrics and writer metadata, on
//! tables written by strata and by deltalake.

use serde_json::json;
use strata::Table;

use crate::support::{id_batch as batch, id_table};

#[tokio::test]
async fn history_lists_commits_newest_first_with_their_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let (table, _) = id_table(dir.path()).await;
    table.append([batch(0..3)]).await.unwrap();
    table
        .write([batch(3..5)])
        .with_commit_metadata("jobId", "nightly-17")
        .with_commit_metadata("lineage", json!({"source": "bronze.events", "version": 12}))
        .execute()
        .await
        .unwrap();
    table.overwrite([batch(9..10)]).await.unwrap();

    let history = table.history(None).await.unwrap();
    let versions: Vec<i64> = history.iter().map(|h| h.version).collect();
    assert_eq!(versions, vec![3, 2, 1, 0]);
    assert_eq!(history[3].operation.as_deref(), Some("CREATE TABLE"));
    assert_eq!(history[0].operation.as_deref(), Some("WRITE"));
    assert_eq!(history[0].parameters.get("mode"), Some(&json!("Overwrite")));
    assert_eq!(history[0].metrics.get("numOutputRows"), Some(&json!(1)));
    assert_eq!(history[0].metrics.get("numRemovedFiles"), Some(&json!(2)));
    assert_eq!(
        history[1].user_metadata.get("jobId"),
        Some(&json!("nightly-17"))
    );
    assert_eq!(
        history[1].user_metadata.get("lineage"),
        Some(&json!({"source": "bronze.events", "version": 12}))
    );
    assert!(!history[1].user_metadata.contains_key("txnId"));
    assert!(
        history[0]
            .engine_info
            .as_deref()
            .is_some_and(|e| e.starts_with("strata"))
    );
    assert_eq!(history[0].read_version, Some(2));
    // Timestamps increase with versions and open the version they belong to.
    for pair in history.windows(2) {
        assert!(pair[0].timestamp_ms > pair[1].timestamp_ms, "{pair:?}");
    }
    for entry in &history {
        let at = table
            .snapshot_at_timestamp(entry.timestamp())
            .await
            .unwrap();
        assert_eq!(at.version(), entry.version);
    }
    // A limit keeps the newest; an older snapshot sees only its own past.
    let newest = table.history(Some(2)).await.unwrap();
    assert_eq!(
        newest.iter().map(|h| h.version).collect::<Vec<_>>(),
        vec![3, 2]
    );
    let v1 = table.snapshot_at_version(1).await.unwrap();
    let past = v1.history(None).await.unwrap();
    assert_eq!(
        past.iter().map(|h| h.version).collect::<Vec<_>>(),
        vec![1, 0]
    );
}

#[tokio::test]
async fn history_of_a_deltalake_table() {
    let location = format!("{}/fixtures/tables/delete", env!("CARGO_MANIFEST_DIR"));
    let history = Table::open(&location)
        .await
        .unwrap()
        .history(None)
        .await
        .unwrap();
    assert_eq!(
        history.iter().map(|h| h.version).collect::<Vec<_>>(),
        vec![2, 1, 0]
    );
    assert_eq!(history[0].operation.as_deref(), Some("DELETE"));
    assert!(
        history[0].parameters.contains_key("predicate"),
        "{:?}",
        history[0]
    );
    assert!(
        history[0]
            .user_metadata
            .get("clientVersion")
            .and_then(|v| v.as_str())
            .is_some_and(|v| v.starts_with("delta-rs")),
        "{:?}",
        history[0]
    );
}
