//! Checkpoint writing (`protocol/PROTOCOL.md#checkpoints`): strata and deltalake read every
//! version identically through strata's checkpoints, also after the commits before them are
//! gone; `_last_checkpoint` is right and only a hint; expired tombstones are left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Int64Type};
use strata::actions::{Action, Add, Metadata, Protocol, Remove};
use strata::checkpoint::{CheckpointInfo, write_checkpoint};
use strata::{Error, Snapshot, Storage, Table, Transaction, WriteMode};

use crate::fixtures::assert_matches_dump;
use crate::support::python::{interop, venv_python};
use crate::support::*;

/// Everything a snapshot exposes that a checkpoint must preserve.
#[derive(Debug, PartialEq)]
struct Fingerprint {
    version: i64,
    protocol: Protocol,
    metadata: Metadata,
    /// Live files by path, `dataChange` normalised (checkpoints write false).
    files: BTreeMap<String, Add>,
    txns: BTreeMap<String, i64>,
    ids: BTreeSet<i64>,
}

async fn fingerprint(snapshot: &Snapshot) -> Fingerprint {
    snapshot.load_stats().await.unwrap();
    Fingerprint {
        version: snapshot.version(),
        protocol: snapshot.protocol().clone(),
        metadata: snapshot.metadata().clone(),
        files: snapshot
            .files()
            .map(|f| {
                let a = f.to_add();
                (
                    a.path.clone(),
                    Add {
                        data_change: false,
                        ..a
                    },
                )
            })
            .collect(),
        txns: snapshot
            .txn_versions()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        ids: snapshot_ids(snapshot).await.into_iter().collect(),
    }
}

/// Loads `version` through a fresh listing (no cached snapshot).
async fn load(location: &str, version: i64) -> strata::Result<Snapshot> {
    let storage = Storage::open(location, &Default::default())?;
    Snapshot::load(&storage, Some(version)).await
}

fn delete_commits(table: &Path, versions: std::ops::RangeInclusive<i64>) {
    for v in versions {
        std::fs::remove_file(commit_path(table, v)).expect("delete commit");
    }
}

fn checkpoint_path(table: &Path, version: i64) -> std::path::PathBuf {
    table
        .join("_delta_log")
        .join(format!("{version:020}.checkpoint.parquet"))
}

async fn checkpoint_at(table: &Table, version: i64) -> CheckpointInfo {
    let snapshot = table.snapshot_at_version(version).await.expect("snapshot");
    let info = write_checkpoint(&snapshot).await.expect("checkpoint");
    assert_eq!(info.version, version);
    assert_eq!(info.num_add_files as usize, snapshot.num_files());
    info
}

/// Creates a people table (optionally partitioned by country) and makes `n` writes: every
/// 7th an overwrite, every 5th an idempotent append. Returns the ids at every version.
async fn people_table(
    location: &str,
    partitioned: bool,
    properties: &[(&str, &str)],
    n: i64,
) -> (Table, Vec<BTreeSet<i64>>) {
    let mut create = Table::create(location)
        .with_arrow_schema(&people_schema())
        .unwrap();
    if partitioned {
        create = create.with_partition_columns(["country"]);
    }
    for (k, v) in properties {
        create = create.with_property(*k, *v);
    }
    let table = create.execute().await.unwrap();
    let countries = [Some("PT"), Some("N L"), None, Some("a/b=c")];
    let mut model = vec![BTreeSet::new()];
    let mut next = 0i64;
    for i in 1..=n {
        let rows = people(next..next + 3, countries[i as usize % countries.len()]);
        let ids: Vec<i64> = (next..next + 3).collect();
        next += 3;
        let mut write = table.write([rows]);
        let mut current = model.last().cloned().unwrap();
        if i % 7 == 0 {
            write = write.with_mode(WriteMode::Overwrite);
            current.clear();
        } else if i % 5 == 0 {
            write = write.with_txn("job", i);
        }
        let result = write.execute().await.unwrap();
        assert_eq!(result.version, i);
        current.extend(ids);
        model.push(current);
    }
    (table, model)
}

async fn checkpoints_keep_every_version(partitioned: bool) {
    let lake = TempLake::new();
    let location = lake.table("t");
    let path = lake.table_path("t");
    let (table, model) = people_table(&location, partitioned, &[], 25).await;

    let mut before = Vec::new();
    for v in 0..=25 {
        let f = fingerprint(&load(&location, v).await.unwrap()).await;
        assert_eq!(f.ids, model[v as usize], "version {v} before checkpoints");
        before.push(f);
    }
    let ten = checkpoint_at(&table, 10).await;
    checkpoint_at(&table, 20).await;
    assert!(checkpoint_path(&path, 10).exists() && checkpoint_path(&path, 20).exists());
    assert_eq!(
        ten.size_in_bytes as u64,
        std::fs::metadata(checkpoint_path(&path, 10)).unwrap().len()
    );

    // Versions before, at and after each checkpoint read exactly as from the commits.
    for v in 0..=25 {
        let snapshot = load(&location, v).await.unwrap();
        assert_eq!(
            fingerprint(&snapshot).await,
            before[v as usize],
            "version {v} after checkpoints"
        );
    }
    let latest = Table::open(&location)
        .await
        .unwrap()
        .snapshot()
        .await
        .unwrap();
    assert_eq!(fingerprint(&latest).await, before[25]);

    // Log cleanup: without commits 0..=10, versions from the checkpoint on still read.
    delete_commits(&path, 0..=10);
    let reopened = Table::open(&location).await.unwrap();
    assert_eq!(reopened.version().await.unwrap(), 25);
    for v in 10..=25 {
        let snapshot = reopened.snapshot_at_version(v).await.unwrap();
        assert_eq!(
            fingerprint(&snapshot).await,
            before[v as usize],
            "version {v} after log cleanup"
        );
    }
    for v in 0..10 {
        match reopened.snapshot_at_version(v).await {
            Err(Error::VersionNotFound {
                version, earliest, ..
            }) => assert_eq!((version, earliest), (v, 10)),
            other => panic!("version {v} after log cleanup: {other:?}"),
        }
    }
}

#[tokio::test]
async fn checkpoints_keep_every_version_unpartitioned() {
    checkpoints_keep_every_version(false).await;
}

#[tokio::test]
async fn checkpoints_keep_every_version_partitioned() {
    checkpoints_keep_every_version(true).await;
}

fn check_read(table: &Path) -> serde_json::Value {
    let out = interop(&["check-read", table.to_str().unwrap()]);
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("check-read printed {out:?}: {e}"))
}

/// deltalake reads strata's checkpoint at `cp` with and without the commits before it.
async fn deltalake_reads_checkpoint(lake: &TempLake, name: &str, table: &Table, cp: i64) {
    let path = lake.table_path(name);
    let latest = table.version().await.unwrap();
    checkpoint_at(table, cp).await;
    let out = lake.path().join(format!("{name}-dump-all"));
    interop(&["dump", path.to_str().unwrap(), out.to_str().unwrap()]);
    assert_matches_dump(&path, &out).await;

    let rows = table
        .snapshot()
        .await
        .unwrap()
        .num_records()
        .await
        .unwrap()
        .unwrap();
    delete_commits(&path, 0..=cp - 1);
    let read = check_read(&path);
    assert_eq!(read["version"].as_i64(), Some(latest));
    assert_eq!(read["rows"].as_i64(), Some(rows));
    let versions: Vec<String> = (cp..=latest).map(|v| v.to_string()).collect();
    let out = lake.path().join(format!("{name}-dump-after-cleanup"));
    interop(&[
        "dump",
        path.to_str().unwrap(),
        out.to_str().unwrap(),
        "--versions",
        &versions.join(","),
    ]);
    assert_matches_dump(&path, &out).await;
}

#[tokio::test]
async fn deltalake_reads_strata_checkpoints() {
    let lake = TempLake::new();
    for (name, partitioned) in [("plain", false), ("parts", true)] {
        let (table, _) = people_table(&lake.table(name), partitioned, &[], 9).await;
        deltalake_reads_checkpoint(&lake, name, &table, 6).await;
    }
}

/// All primitive types, partitioned by a byte, a date and a string (nulls in each), with
/// `delta.checkpoint.writeStatsAsStruct=true`.
#[tokio::test]
async fn stats_as_struct_round_trips_through_strata_and_deltalake() {
    let lake = TempLake::new();
    let location = lake.table("typed");
    let path = lake.table_path("typed");
    let table = Table::create(&location)
        .with_arrow_schema(&all_types_schema())
        .unwrap()
        .with_partition_columns(["byte", "date", "str"])
        .with_property("delta.checkpoint.writeStatsAsStruct", "true")
        .execute()
        .await
        .unwrap();
    table.append([all_types(0, 4)]).await.unwrap();
    table.append([all_types(10, 3)]).await.unwrap();
    table.overwrite([all_types(20, 5)]).await.unwrap();
    table.append([all_types(30, 2)]).await.unwrap();
    let snapshot = table.snapshot().await.unwrap();
    let before = fingerprint(&snapshot).await;
    checkpoint_at(&table, 4).await;

    // The typed columns are there and agree with the JSON stats and partition values.
    let batches = read_parquet(&checkpoint_path(&path, 4));
    let batch = arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
    let add = batch.column_by_name("add").unwrap().as_struct();
    let parsed = add
        .column_by_name("partitionValues_parsed")
        .unwrap()
        .as_struct();
    let types: Vec<(String, DataType)> = parsed
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().clone()))
        .collect();
    assert_eq!(
        types,
        [
            ("byte".to_string(), DataType::Int8),
            ("date".to_string(), DataType::Date32),
            ("str".to_string(), DataType::Utf8)
        ]
    );
    let stats = add.column_by_name("stats_parsed").unwrap().as_struct();
    let min = stats.column_by_name("minValues").unwrap().as_struct();
    let min_names: Vec<&str> = min.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(
        min_names,
        [
            "id", "short", "int", "float", "double", "dec", "dec38", "ts", "ts_ntz"
        ],
        "bounds for every indexed data column with a bound type"
    );
    let nulls = stats.column_by_name("nullCount").unwrap().as_struct();
    assert_eq!(nulls.num_columns(), 11, "nullCount for every data column");
    let paths = add.column_by_name("path").unwrap().as_string::<i32>();
    let json_stats = add.column_by_name("stats").unwrap().as_string::<i32>();
    let num_records = stats
        .column_by_name("numRecords")
        .unwrap()
        .as_primitive::<Int64Type>();
    let min_id = min
        .column_by_name("id")
        .unwrap()
        .as_primitive::<Int64Type>();
    let mut adds = 0;
    for row in (0..batch.num_rows()).filter(|&i| add.is_valid(i)) {
        adds += 1;
        let json: serde_json::Value = serde_json::from_str(json_stats.value(row)).unwrap();
        assert_eq!(Some(num_records.value(row)), json["numRecords"].as_i64());
        assert_eq!(Some(min_id.value(row)), json["minValues"]["id"].as_i64());
        let file = &before.files[paths.value(row)];
        let date = file.partition_values["date"].as_deref();
        let parsed_date = parsed
            .column_by_name("date")
            .unwrap()
            .as_primitive::<arrow::datatypes::Date32Type>();
        assert_eq!(
            date.is_none(),
            parsed_date.is_null(row),
            "{}",
            paths.value(row)
        );
        let parsed_str = parsed.column_by_name("str").unwrap().as_string::<i32>();
        assert_eq!(
            file.partition_values["str"].as_deref(),
            parsed_str.is_valid(row).then(|| parsed_str.value(row))
        );
    }
    assert_eq!(adds, before.files.len());

    delete_commits(&path, 0..=3);
    let after = fingerprint(&load(&location, 4).await.unwrap()).await;
    assert_eq!(after, before);
    let read = check_read(&path);
    assert_eq!(read["rows"].as_i64(), Some(before.ids.len() as i64));
    let out = lake.path().join("dump");
    interop(&[
        "dump",
        path.to_str().unwrap(),
        out.to_str().unwrap(),
        "--versions",
        "4",
    ]);
    assert_matches_dump(&path, &out).await;
}

fn python_md5(text: &str) -> String {
    let out = Command::new(venv_python())
        .args([
            "-c",
            "import hashlib, sys; print(hashlib.md5(sys.argv[1].encode()).hexdigest())",
            text,
        ])
        .output()
        .expect("python");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn read_hint(table: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(table.join("_delta_log/_last_checkpoint")).unwrap())
        .unwrap()
}

#[tokio::test]
async fn last_checkpoint_is_exact_and_only_a_hint() {
    let lake = TempLake::new();
    let location = lake.table("t");
    let path = lake.table_path("t");
    let (table, model) = people_table(&location, true, &[], 8).await;
    let info = checkpoint_at(&table, 3).await;
    let hint = read_hint(&path);
    let keys: BTreeSet<&str> = hint
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            "checksum",
            "numOfAddFiles",
            "size",
            "sizeInBytes",
            "version"
        ])
    );
    assert_eq!(hint["version"], 3);
    assert_eq!(hint["size"], info.num_actions);
    assert_eq!(hint["numOfAddFiles"], info.num_add_files);
    let file_size = std::fs::metadata(checkpoint_path(&path, 3)).unwrap().len();
    assert_eq!(hint["sizeInBytes"].as_u64(), Some(file_size));
    let rows: usize = read_parquet(&checkpoint_path(&path, 3))
        .iter()
        .map(RecordBatch::num_rows)
        .sum();
    assert_eq!(info.num_actions as usize, rows);
    // The spec's canonical form for these four integer fields, hashed by Python's MD5.
    let canonical = format!(
        "\"numOfAddFiles\"={},\"size\"={},\"sizeInBytes\"={file_size},\"version\"=3",
        info.num_add_files, info.num_actions
    );
    assert_eq!(
        hint["checksum"].as_str(),
        Some(python_md5(&canonical).as_str())
    );
    let stale = std::fs::read(path.join("_delta_log/_last_checkpoint")).unwrap();

    checkpoint_at(&table, 6).await;
    assert_eq!(read_hint(&path)["version"], 6);
    checkpoint_at(&table, 3).await;
    assert_eq!(
        read_hint(&path)["version"],
        6,
        "an older checkpoint never moves the hint back"
    );

    // A stale hint (older checkpoint), one naming a missing checkpoint, and garbage: the
    // latest version still opens, also after the commits before the newest checkpoint are gone.
    delete_commits(&path, 0..=5);
    std::fs::write(path.join("_delta_log/_last_checkpoint"), &stale).unwrap();
    let check = |label: &'static str| {
        let location = location.clone();
        let expected = model[8].clone();
        async move {
            let snapshot = Table::open(&location)
                .await
                .unwrap()
                .snapshot()
                .await
                .unwrap();
            assert_eq!(snapshot.version(), 8, "{label}");
            assert_eq!(
                snapshot_ids(&snapshot)
                    .await
                    .into_iter()
                    .collect::<BTreeSet<_>>(),
                expected,
                "{label}"
            );
        }
    };
    check("stale hint").await;
    std::fs::remove_file(checkpoint_path(&path, 3)).unwrap();
    check("hint names a missing checkpoint").await;
    std::fs::write(path.join("_delta_log/_last_checkpoint"), b"{\"vers").unwrap();
    check("garbage hint").await;
    assert_eq!(check_read(&path)["version"].as_i64(), Some(8));
}

/// Removes `file` with the given deletion timestamp in its own commit.
async fn remove_at(table: &Table, file: &Add, deletion_timestamp: i64) {
    let snapshot = table.snapshot().await.unwrap();
    let mut tx = Transaction::new(&snapshot, "DELETE");
    tx.add_actions([Action::Remove(Remove::from_add(
        file,
        deletion_timestamp,
        true,
    ))]);
    tx.commit().await.unwrap();
}

fn checkpoint_removes(table: &Path, version: i64) -> BTreeSet<String> {
    let mut paths = BTreeSet::new();
    for batch in read_parquet(&checkpoint_path(table, version)) {
        let remove = batch.column_by_name("remove").unwrap().as_struct();
        let path = remove.column_by_name("path").unwrap().as_string::<i32>();
        for i in (0..batch.num_rows()).filter(|&i| remove.is_valid(i)) {
            paths.insert(path.value(i).to_string());
        }
    }
    paths
}

#[tokio::test]
async fn expired_tombstones_are_left_out() {
    let lake = TempLake::new();
    for (name, properties, recent_age_ms) in [
        ("default", vec![], 60_000),
        (
            "hour",
            vec![("delta.deletedFileRetentionDuration", "interval 1 hour")],
            30 * 60_000,
        ),
    ] {
        let location = lake.table(name);
        let path = lake.table_path(name);
        let (table, model) = people_table(&location, false, &properties, 3).await;
        let files: Vec<Add> = table
            .snapshot()
            .await
            .unwrap()
            .files()
            .map(|f| f.to_add())
            .collect();
        assert_eq!(files.len(), 3);
        let now = chrono::Utc::now().timestamp_millis();
        let old = match name {
            "default" => 1_000,
            _ => now - 2 * 3_600_000,
        };
        remove_at(&table, &files[0], old).await;
        remove_at(&table, &files[1], now - recent_age_ms).await;
        checkpoint_at(&table, 5).await;
        assert_eq!(
            checkpoint_removes(&path, 5),
            BTreeSet::from([files[1].path.clone()]),
            "{name}: only the unexpired tombstone is kept"
        );
        delete_commits(&path, 0..=4);
        let snapshot = load(&location, 5).await.unwrap();
        let gone: BTreeSet<i64> = files[..2]
            .iter()
            .flat_map(|f| {
                let stats: serde_json::Value =
                    serde_json::from_str(f.stats.as_deref().unwrap()).unwrap();
                let (lo, hi) = (
                    stats["minValues"]["id"].as_i64().unwrap(),
                    stats["maxValues"]["id"].as_i64().unwrap(),
                );
                lo..=hi
            })
            .collect();
        let expected: BTreeSet<i64> = model[3].difference(&gone).copied().collect();
        assert_eq!(
            snapshot_ids(&snapshot)
                .await
                .into_iter()
                .collect::<BTreeSet<_>>(),
            expected,
            "{name}"
        );
        assert_eq!(
            check_read(&path)["rows"].as_i64(),
            Some(expected.len() as i64)
        );
    }
}
