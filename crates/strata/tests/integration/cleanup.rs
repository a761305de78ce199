//! Log cleanup (`protocol/PROTOCOL.md#log-cleanup`): on a local-disk table whose log files are
//! aged by setting their modification times, cleanup deletes exactly the files before the
//! covering checkpoint, every version in the retention window reads as before (in strata and
//! in deltalake), by version and by timestamp, older versions are gone, and nothing is deleted
//! without a checkpoint, with an unreadable retention, or when automatic cleanup is off.

use std::collections::BTreeSet;
use std::fs::File;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use strata::paths::{checkpoint_file_name, commit_file_name, parse_log_file_name};
use strata::{CleanupSkipped, Error, Snapshot, Storage, Table};

use crate::fixtures::assert_deltalake_reads;
use crate::support::*;

const HOUR_MS: i64 = 3_600_000;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A people table partitioned by country with `writes` commits after the create (every 4th
/// an overwrite), so version `v` holds the rows of a known set of writes.
async fn history(location: &str, properties: &[(&str, &str)], writes: i64) -> Table {
    let mut create = Table::create(location)
        .with_arrow_schema(&people_schema())
        .unwrap()
        .with_partition_columns(["country"]);
    for (k, v) in properties {
        create = create.with_property(*k, *v);
    }
    let table = create.execute().await.unwrap();
    for i in 1..=writes {
        let country = ["PT", "N L", "a/b=c"][i as usize % 3];
        let rows = people(i * 10..i * 10 + 3, Some(country));
        let written = if i % 4 == 0 {
            table.overwrite([rows]).await
        } else {
            table.append([rows]).await
        };
        assert_eq!(written.unwrap().version, i);
    }
    table
}

fn set_mtime(path: &Path, ms: i64) {
    let time = UNIX_EPOCH + Duration::from_millis(ms as u64);
    File::options()
        .append(true)
        .open(path)
        .and_then(|f| f.set_modified(time))
        .unwrap_or_else(|e| panic!("set mtime of {}: {e}", path.display()));
}

/// Sets the modification time of every versioned log file to `mtime_ms(version)`.
fn age_log(table: &Path, mtime_ms: impl Fn(i64) -> i64) {
    for entry in std::fs::read_dir(table.join("_delta_log")).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        if let Some((version, _)) = parse_log_file_name(&name) {
            set_mtime(&entry.path(), mtime_ms(version));
        }
    }
}

fn log_names(table: &Path) -> BTreeSet<String> {
    std::fs::read_dir(table.join("_delta_log"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect()
}

/// Rows of `version` through a fresh listing (no cached snapshot), canonicalised.
async fn rows_at(location: &str, version: i64) -> strata::Result<Vec<String>> {
    let storage = Storage::open(location, &Default::default())?;
    let snapshot = Snapshot::load(&storage, Some(version)).await?;
    let batches = snapshot.scan().collect().await?;
    Ok(canonical_rows(&batches, &snapshot.arrow_schema()))
}

async fn version_at(location: &str, ms: i64) -> strata::Result<i64> {
    let at = chrono::DateTime::from_timestamp_millis(ms).unwrap();
    let table = Table::open(location).await?;
    Ok(table.snapshot_at_timestamp(at).await?.version())
}

#[track_caller]
fn assert_version_not_found(result: strata::Result<impl std::fmt::Debug>, v: i64, earliest: i64) {
    match result {
        Err(Error::VersionNotFound {
            version,
            earliest: e,
            ..
        }) => assert_eq!((version, e), (v, earliest)),
        other => panic!("version {v}: expected VersionNotFound, got {other:?}"),
    }
}

/// 17 writes with checkpoints at 5, 10 and 15; version v's files were written
/// `101 − 5·v` hours ago. With a 60-hour retention, version 8 is current at the cutoff, the
/// checkpoint at 5 covers it, and versions 0..=4 expire.
async fn aged_table(location: &str) -> (Table, i64) {
    let path = Path::new(location);
    let table = history(
        location,
        &[
            ("delta.checkpointInterval", "5"),
            ("delta.logRetentionDuration", "interval 60 hours"),
        ],
        17,
    )
    .await;
    for v in [5, 10, 15] {
        assert!(
            path.join("_delta_log")
                .join(checkpoint_file_name(v))
                .exists()
        );
    }
    // The automatic cleanups after those checkpoints found nothing old enough.
    for v in 0..=17 {
        assert!(commit_path(path, v).exists(), "commit {v}");
    }
    let start = now_ms() - 101 * HOUR_MS;
    age_log(path, |v| start + 5 * HOUR_MS * v);
    (table, start)
}

#[tokio::test]
async fn cleanup_keeps_every_version_in_the_window() {
    let lake = TempLake::new();
    let location = lake.table("t");
    let path = lake.table_path("t");
    let (table, start) = aged_table(&location).await;
    let log = path.join("_delta_log");
    // Files cleanup must leave alone or may take: unversioned, temporary, checksums.
    std::fs::write(log.join("notes.txt"), "not a log file").unwrap();
    std::fs::write(log.join(".00000000000000000003.json.tmp"), "").unwrap();
    std::fs::write(log.join("00000000000000000002.crc"), "{}").unwrap();
    std::fs::write(log.join("00000000000000000006.crc"), "{}").unwrap();
    for name in ["notes.txt", ".00000000000000000003.json.tmp"] {
        set_mtime(&log.join(name), start);
    }
    set_mtime(&log.join("00000000000000000002.crc"), start + 10 * HOUR_MS);
    set_mtime(&log.join("00000000000000000006.crc"), start + 30 * HOUR_MS);

    let mut rows = Vec::new();
    for v in 0..=17 {
        rows.push(rows_at(&location, v).await.unwrap());
    }
    // Timestamps from the cutoff on: the cutoff itself, each commit, and between commits.
    let cutoff_then = now_ms() - 60 * HOUR_MS;
    let mut probes = vec![cutoff_then];
    for v in 8..=17 {
        probes.push(start + 5 * HOUR_MS * v);
        if v < 17 {
            probes.push(start + 5 * HOUR_MS * v + 5 * HOUR_MS / 2);
        }
    }
    let mut resolved = Vec::new();
    for t in &probes {
        resolved.push(version_at(&location, *t).await.unwrap());
    }
    assert_eq!(resolved[0], 8, "version 8 is current at the cutoff");
    let before = log_names(&path);

    let report = table.cleanup_log().await.unwrap();
    let mut expected: Vec<String> = (0..5).map(commit_file_name).collect();
    expected.push("00000000000000000002.crc".into());
    expected.sort();
    assert_eq!(report.deleted, expected);
    assert_eq!(
        (
            report.checkpoint_version,
            report.earliest_version,
            &report.skipped
        ),
        (Some(5), 5, &None)
    );
    let after = log_names(&path);
    let gone: BTreeSet<String> = before.difference(&after).cloned().collect();
    assert_eq!(gone, expected.iter().cloned().collect::<BTreeSet<_>>());
    for kept in [
        "_last_checkpoint",
        "notes.txt",
        ".00000000000000000003.json.tmp",
        "00000000000000000006.crc",
    ] {
        assert!(after.contains(kept), "{kept} was deleted");
    }

    // (a) Every version from the covering checkpoint on reads as before.
    for v in 5..=17 {
        assert_eq!(
            rows_at(&location, v).await.unwrap(),
            rows[v as usize],
            "version {v}"
        );
    }
    // (b) Older versions are gone, with the new earliest version named.
    let reopened = Table::open(&location).await.unwrap();
    for v in 0..5 {
        assert_version_not_found(reopened.snapshot_at_version(v).await, v, 5);
    }
    // (c) Every timestamp in the window resolves to the same version.
    for (t, v) in probes.iter().zip(&resolved) {
        assert_eq!(
            version_at(&location, *t).await.unwrap(),
            *v,
            "timestamp {t}"
        );
    }
    assert!(matches!(
        version_at(&location, start + 5 * HOUR_MS * 2).await,
        Err(Error::TimestampOutOfRange { .. })
    ));

    // Idempotent, and the table stays writable.
    let again = table.cleanup_log().await.unwrap();
    assert_eq!((again.deleted.len(), again.earliest_version), (0, 5));
    let written = table.append([people(1000..1002, None)]).await.unwrap();
    assert_eq!(written.version, 18);
    let mut latest = rows[17].clone();
    latest.extend([
        "1000 | n1000 | ∅".to_string(),
        "1001 | n1001 | ∅".to_string(),
    ]);
    latest.sort();
    assert_eq!(rows_at(&location, 18).await.unwrap(), latest);
}

/// (d) deltalake reads the cleaned-up table at the latest and at every retained version.
#[tokio::test]
async fn deltalake_reads_the_table_after_cleanup() {
    let lake = TempLake::new();
    let location = lake.table("t");
    let path = lake.table_path("t");
    let (table, _) = aged_table(&location).await;
    let rows = table
        .snapshot()
        .await
        .unwrap()
        .num_records()
        .await
        .unwrap()
        .unwrap();
    let report = table.cleanup_log().await.unwrap();
    assert_eq!(report.earliest_version, 5);
    assert!(!commit_path(&path, 4).exists());

    assert_deltalake_reads(&path, &lake.path().join("dump"), 17, rows, 5..=17).await;
}

/// (e) Without a checkpoint nothing covers the expired commits: nothing is deleted.
#[tokio::test]
async fn cleanup_deletes_nothing_without_a_checkpoint() {
    let lake = TempLake::new();
    let location = lake.table("t");
    let path = lake.table_path("t");
    let table = history(
        &location,
        &[("delta.logRetentionDuration", "interval 1 hour")],
        8,
    )
    .await;
    let start = now_ms() - 10 * HOUR_MS;
    age_log(&path, |v| start + v * 60_000);
    let before = log_names(&path);
    let report = table.cleanup_log().await.unwrap();
    assert_eq!(report.deleted, Vec::<String>::new());
    assert_eq!(
        (report.checkpoint_version, report.earliest_version),
        (None, 0)
    );
    assert_eq!(log_names(&path), before);
    for v in 0..=8 {
        rows_at(&location, v).await.unwrap();
    }
}

/// (e) An unreadable retention deletes nothing, automatically or on request.
#[tokio::test]
async fn cleanup_deletes_nothing_when_the_retention_is_unparsable() {
    let lake = TempLake::new();
    let location = lake.table("t");
    let path = lake.table_path("t");
    let table = history(
        &location,
        &[
            ("delta.checkpointInterval", "5"),
            ("delta.logRetentionDuration", "interval 1 month"),
        ],
        5,
    )
    .await;
    let start = now_ms() - 1000 * HOUR_MS;
    age_log(&path, |v| start + v * 60_000);
    for i in 6..=10 {
        table
            .append([people(i * 10..i * 10 + 1, None)])
            .await
            .unwrap();
    }
    assert!(
        path.join("_delta_log")
            .join(checkpoint_file_name(10))
            .exists()
    );
    let before = log_names(&path);
    assert!(before.contains(&commit_file_name(0)));
    let report = table.cleanup_log().await.unwrap();
    assert_eq!(
        report.skipped,
        Some(CleanupSkipped::InvalidRetention {
            value: "interval 1 month".into()
        })
    );
    assert_eq!((report.deleted.len(), report.earliest_version), (0, 0));
    assert_eq!(log_names(&path), before);
}

/// Tables with in-commit timestamps are left alone: the planner reads file modification
/// times, not in-commit timestamps.
#[tokio::test]
async fn cleanup_skips_tables_with_in_commit_timestamps() {
    let lake = TempLake::new();
    let location = lake.table("t");
    let path = lake.table_path("t");
    let table = history(
        &location,
        &[
            ("delta.checkpointInterval", "5"),
            ("delta.enableInCommitTimestamps", "true"),
            ("delta.logRetentionDuration", "interval 1 hour"),
        ],
        6,
    )
    .await;
    age_log(&path, |v| now_ms() - 10 * HOUR_MS + v * 60_000);
    let before = log_names(&path);
    let report = table.cleanup_log().await.unwrap();
    assert_eq!(report.skipped, Some(CleanupSkipped::InCommitTimestamps));
    assert_eq!(log_names(&path), before);
}

/// (f) The checkpoint at 10 triggers a cleanup: versions 0..=5 are 3 hours old and 6..=10
/// fresh, so with a one-hour retention version 5 is current at the cutoff and its checkpoint
/// covers 0..=4. `delta.enableExpiredLogCleanup=false` turns only the automatic run off.
#[tokio::test]
async fn automatic_cleanup_follows_an_automatic_checkpoint() {
    let lake = TempLake::new();
    for (name, enabled) in [("auto", None), ("off", Some("false"))] {
        let location = lake.table(name);
        let path = lake.table_path(name);
        let mut properties = vec![
            ("delta.checkpointInterval", "5"),
            ("delta.logRetentionDuration", "interval 1 hour"),
        ];
        properties.extend(enabled.map(|v| ("delta.enableExpiredLogCleanup", v)));
        let table = history(&location, &properties, 5).await;
        let all: BTreeSet<String> = log_names(&path);
        assert!(all.contains(&checkpoint_file_name(5)), "{name}");
        assert!(
            (0..=5).all(|v| all.contains(&commit_file_name(v))),
            "{name}: nothing is old enough after the first checkpoint"
        );
        let start = now_ms() - 3 * HOUR_MS;
        age_log(&path, |v| start + v * 1_000);
        let mut rows = Vec::new();
        for v in 0..=5 {
            rows.push(rows_at(&location, v).await.unwrap());
        }
        for i in 6..=10 {
            table
                .append([people(i * 10..i * 10 + 2, None)])
                .await
                .unwrap();
        }
        let names = log_names(&path);
        assert!(names.contains(&checkpoint_file_name(10)), "{name}");
        let old_commits = (0..5).filter(|v| names.contains(&commit_file_name(*v)));
        match enabled {
            None => assert_eq!(old_commits.count(), 0, "{name}: cleaned up"),
            Some(_) => {
                assert_eq!(old_commits.count(), 5, "{name}: automatic cleanup is off");
                let report = table.cleanup_log().await.unwrap();
                assert_eq!(
                    report.deleted,
                    (0..5).map(commit_file_name).collect::<Vec<_>>()
                );
            }
        }
        let names = log_names(&path);
        for kept in [
            commit_file_name(5),
            checkpoint_file_name(5),
            checkpoint_file_name(10),
            "_last_checkpoint".to_string(),
        ] {
            assert!(names.contains(&kept), "{name}: {kept}");
        }
        assert_version_not_found(rows_at(&location, 4).await, 4, 5);
        assert_eq!(rows_at(&location, 5).await.unwrap(), rows[5], "{name}");
        for v in 6..=10 {
            rows_at(&location, v).await.unwrap();
        }
    }
}

#[tokio::test]
async fn cleanup_keeps_the_oldest_tagged_version_readable() {
    let lake = TempLake::new();
    let location = lake.table("t");
    let path = lake.table_path("t");
    let (table, _) = aged_table(&location).await;
    let rows_v2 = rows_at(&location, 2).await.unwrap();
    table.tag("train", 2).await.unwrap();
    let report = table.cleanup_log().await.unwrap();
    assert!(report.deleted.is_empty(), "{report:?}");
    assert_eq!(rows_at(&location, 2).await.unwrap(), rows_v2);
    assert!(commit_path(&path, 2).exists());
    // Without the tag the usual window applies again.
    table.delete_tag("train").await.unwrap();
    let report = table.cleanup_log().await.unwrap();
    assert!(!report.deleted.is_empty(), "{report:?}");
    assert!(!commit_path(&path, 2).exists());
}
