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

use crate::fixtures::{assert_deltalake_reads, assert_matches_dump};
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
    let latest = latest(&location).await;
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
    let out = lake.path().join(format!("{name}-dump-after-cleanup"));
    assert_deltalake_reads(&path, &out, latest, rows, cp..=latest).await;
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
    let rows = num_rows(&read_parquet(&checkpoint_path(&path, 3)));
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
            let snapshot = latest(&location).await;
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

// --- Checkpoint kinds other writers produce, built here from a strata checkpoint ---------------

/// The batches of the classic checkpoint of `version`, read through the table's storage.
async fn classic_batches(storage: &Storage, version: i64) -> Vec<RecordBatch> {
    let name = format!("{version:020}.checkpoint.parquet");
    let bytes = storage.get(&storage.log_file(&name)).await.unwrap();
    storage.delete(&storage.log_file(&name)).await.unwrap();
    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
        .unwrap()
        .build()
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn parquet_bytes(batches: &[RecordBatch]) -> bytes::Bytes {
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(Vec::new(), batches[0].schema(), None).unwrap();
    for b in batches {
        writer.write(b).unwrap();
    }
    writer.into_inner().unwrap().into()
}

async fn put(storage: &Storage, name: &str, bytes: bytes::Bytes) -> u64 {
    let len = bytes.len() as u64;
    storage.put(&storage.log_file(name), bytes).await.unwrap();
    len
}

/// Rows `range` of the concatenated checkpoint, all columns.
fn rows(all: &RecordBatch, range: std::ops::Range<usize>) -> RecordBatch {
    all.slice(range.start, range.len())
}

/// A version's files and state from a fresh load, statistics included.
async fn fingerprint_at(location: &str, version: i64) -> Fingerprint {
    fingerprint(&load(location, version).await.unwrap()).await
}

/// A partitioned people table with a checkpoint at 6 and 12 commits, and the fingerprint of
/// every version read from its commits before the checkpoint at 6 is rewritten.
async fn table_with_checkpoint(location: &str, props: &[(&str, &str)]) -> Vec<Fingerprint> {
    let (table, _) = people_table(location, true, props, 12).await;
    let mut before = Vec::new();
    for v in 0..=12 {
        before.push(fingerprint_at(location, v).await);
    }
    checkpoint_at(&table, 6).await;
    // The checkpoint stands alone: readers cannot fall back to the commits.
    let storage = Storage::open(location, &Default::default()).unwrap();
    for v in 0..6 {
        let name = format!("{v:020}.json");
        storage.delete(&storage.log_file(&name)).await.unwrap();
    }
    before
}

async fn assert_reads_as_before(location: &str, before: &[Fingerprint]) {
    for v in 6..=12 {
        assert_eq!(
            fingerprint_at(location, v).await,
            before[v as usize],
            "version {v}"
        );
    }
    let latest = latest(location).await;
    assert_eq!(latest.version(), 12);
    assert_eq!(
        latest.num_records().await.unwrap(),
        Some(before[12].ids.len() as i64)
    );
}

async fn multi_part_checkpoints_are_read_when_complete(location: &str) {
    let before = table_with_checkpoint(location, &[]).await;
    let storage = Storage::open(location, &Default::default()).unwrap();
    let batches = classic_batches(&storage, 6).await;
    let all = arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
    let n = all.num_rows();
    let cuts = [0, 2, n / 2, n];
    for part in 1..=3usize {
        let name = format!("{:020}.checkpoint.{part:010}.{:010}.parquet", 6, 3);
        put(
            &storage,
            &name,
            parquet_bytes(&[rows(&all, cuts[part - 1]..cuts[part])]),
        )
        .await;
    }
    assert_reads_as_before(location, &before).await;

    // An incomplete set at a later version is ignored: that version reads from the complete
    // checkpoint and the commits after it.
    let table = Table::open(location).await.unwrap();
    checkpoint_at(&table, 9).await;
    let nine = classic_batches(&storage, 9).await;
    let all = arrow::compute::concat_batches(&nine[0].schema(), &nine).unwrap();
    let name = format!("{:020}.checkpoint.{:010}.{:010}.parquet", 9, 1, 2);
    put(&storage, &name, parquet_bytes(&[rows(&all, 0..2)])).await;
    assert_reads_as_before(location, &before).await;
}

#[tokio::test]
async fn multi_part_checkpoints_are_read_when_complete_on_local_disk() {
    let lake = TempLake::new();
    multi_part_checkpoints_are_read_when_complete(&lake.table("t")).await;
}

#[tokio::test]
async fn multi_part_checkpoints_are_read_when_complete_in_memory() {
    let name = format!("memory://multipart-{}/t", uuid::Uuid::new_v4());
    multi_part_checkpoints_are_read_when_complete(&name).await;
}

/// The non-file actions of a checkpoint as JSON lines, plus `extra` lines.
fn state_lines(all: &RecordBatch, extra: &[String]) -> Vec<String> {
    let bytes = parquet_bytes(std::slice::from_ref(all));
    let actions = strata::checkpoint::parse_checkpoint(bytes, "cp", 6).unwrap();
    actions
        .iter()
        .filter(|a| !matches!(a, Action::Add(_) | Action::Remove(_)))
        .map(Action::to_json_line)
        .chain(extra.iter().cloned())
        .collect()
}

/// Rewrites the checkpoint at 6 as a V2 checkpoint (`top` = "json" or "parquet") whose files
/// sit in two sidecars. One sidecar is given a name that looks like a multi-part part: it
/// lives under `_sidecars/`, so it must never be taken for one.
async fn v2_checkpoints_with_sidecars(location: &str, top: &str) {
    let before = table_with_checkpoint(location, &[]).await;
    let storage = Storage::open(location, &Default::default()).unwrap();
    let batches = classic_batches(&storage, 6).await;
    let all = arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
    let schema = all.schema();
    let files_only = all
        .project(&[
            schema.index_of("add").unwrap(),
            schema.index_of("remove").unwrap(),
        ])
        .unwrap();
    let is_file = arrow::compute::or(
        &arrow::compute::is_not_null(files_only.column(0)).unwrap(),
        &arrow::compute::is_not_null(files_only.column(1)).unwrap(),
    )
    .unwrap();
    let files = arrow::compute::filter_record_batch(&files_only, &is_file).unwrap();
    let half = files.num_rows() / 2;
    let names = [
        format!("{}.parquet", uuid::Uuid::new_v4()),
        format!("{:020}.checkpoint.{:010}.{:010}.parquet", 6, 1, 1),
    ];
    let mut extra = vec![r#"{"checkpointMetadata":{"version":6}}"#.to_string()];
    for (name, range) in names.iter().zip([0..half, half..files.num_rows()]) {
        let size = put(
            &storage,
            &format!("_sidecars/{name}"),
            parquet_bytes(&[rows(&files, range)]),
        )
        .await;
        extra.push(format!(
            r#"{{"sidecar":{{"path":"{name}","sizeInBytes":{size},"modificationTime":0}}}}"#
        ));
    }
    let lines = state_lines(&all, &extra);
    let top_name = format!("{:020}.checkpoint.{}.{top}", 6, uuid::Uuid::new_v4());
    let bytes = match top {
        "json" => bytes::Bytes::from(lines.join("\n") + "\n"),
        _ => {
            // The classic schema without the file columns, plus the V2 actions.
            let mut fields: Vec<arrow::datatypes::FieldRef> = schema
                .fields()
                .iter()
                .filter(|f| f.name() != "add" && f.name() != "remove")
                .cloned()
                .collect();
            let map = schema
                .field_with_name("metaData")
                .ok()
                .and_then(|m| match m.data_type() {
                    DataType::Struct(f) => f.find("configuration").map(|(_, f)| f.clone()),
                    _ => None,
                })
                .unwrap();
            let string_map = map.data_type().clone();
            use arrow::datatypes::Field;
            fields.push(std::sync::Arc::new(Field::new(
                "checkpointMetadata",
                DataType::Struct(
                    vec![
                        Field::new("version", DataType::Int64, false),
                        Field::new("tags", string_map.clone(), true),
                    ]
                    .into(),
                ),
                true,
            )));
            fields.push(std::sync::Arc::new(Field::new(
                "sidecar",
                DataType::Struct(
                    vec![
                        Field::new("path", DataType::Utf8, false),
                        Field::new("sizeInBytes", DataType::Int64, false),
                        Field::new("modificationTime", DataType::Int64, false),
                        Field::new("tags", string_map, true),
                    ]
                    .into(),
                ),
                true,
            )));
            let top_schema = std::sync::Arc::new(arrow::datatypes::Schema::new(fields));
            let mut decoder = arrow::json::ReaderBuilder::new(top_schema)
                .build_decoder()
                .unwrap();
            decoder
                .decode((lines.join("\n") + "\n").as_bytes())
                .unwrap();
            parquet_bytes(&[decoder.flush().unwrap().unwrap()])
        }
    };
    put(&storage, &top_name, bytes).await;
    assert_reads_as_before(location, &before).await;
}

#[tokio::test]
async fn v2_parquet_checkpoint_with_sidecars() {
    let lake = TempLake::new();
    v2_checkpoints_with_sidecars(&lake.table("t"), "parquet").await;
}

#[tokio::test]
async fn v2_json_checkpoint_with_sidecars() {
    let lake = TempLake::new();
    v2_checkpoints_with_sidecars(&lake.table("t"), "json").await;
}

#[tokio::test]
async fn v2_checkpoint_with_sidecars_in_memory() {
    let name = format!("memory://v2-{}/t", uuid::Uuid::new_v4());
    v2_checkpoints_with_sidecars(&name, "parquet").await;
}

/// A checkpoint whose files carry only `stats_parsed` (the JSON `stats` column dropped, as a
/// writer with `delta.checkpoint.writeStatsAsJson=false` leaves it): statistics are rendered
/// from the typed columns.
#[tokio::test]
async fn checkpoint_with_only_stats_parsed() {
    let lake = TempLake::new();
    let location = lake.table("t");
    let before = table_with_checkpoint(
        &location,
        &[("delta.checkpoint.writeStatsAsStruct", "true")],
    )
    .await;
    let storage = Storage::open(&location, &Default::default()).unwrap();
    let batches = classic_batches(&storage, 6).await;
    let stripped: Vec<RecordBatch> = batches
        .iter()
        .map(|b| {
            let schema = b.schema();
            let i = schema.index_of("add").unwrap();
            let (fields, arrays, nulls) = b.column(i).as_struct().clone().into_parts();
            let keep: Vec<usize> = (0..fields.len())
                .filter(|&k| fields[k].name() != "stats")
                .collect();
            let add = arrow::array::StructArray::new(
                keep.iter().map(|&k| fields[k].clone()).collect(),
                keep.iter().map(|&k| arrays[k].clone()).collect(),
                nulls,
            );
            let mut columns = b.columns().to_vec();
            columns[i] = std::sync::Arc::new(add);
            let mut schema_fields: Vec<_> = schema.fields().iter().cloned().collect();
            schema_fields[i] = std::sync::Arc::new(arrow::datatypes::Field::new(
                "add",
                columns[i].data_type().clone(),
                true,
            ));
            RecordBatch::try_new(
                std::sync::Arc::new(arrow::datatypes::Schema::new(schema_fields)),
                columns,
            )
            .unwrap()
        })
        .collect();
    put(
        &storage,
        &format!("{:020}.checkpoint.parquet", 6),
        parquet_bytes(&stripped),
    )
    .await;
    let snapshot = load(&location, 6).await.unwrap();
    snapshot.load_stats().await.unwrap();
    let want: BTreeMap<String, (Option<i64>, serde_json::Value, serde_json::Value)> = before[6]
        .files
        .iter()
        .map(|(path, add)| {
            let stats: serde_json::Value =
                serde_json::from_str(add.stats.as_deref().unwrap()).unwrap();
            let num = stats["numRecords"].as_i64();
            (
                path.clone(),
                (
                    num,
                    stats["minValues"]["id"].clone(),
                    stats["maxValues"]["id"].clone(),
                ),
            )
        })
        .collect();
    let got: BTreeMap<String, (Option<i64>, serde_json::Value, serde_json::Value)> = snapshot
        .files()
        .map(|f| {
            let stats: serde_json::Value = serde_json::from_str(f.stats().expect("stats")).unwrap();
            let num = stats["numRecords"].as_i64();
            (
                f.path().to_string(),
                (
                    num,
                    stats["minValues"]["id"].clone(),
                    stats["maxValues"]["id"].clone(),
                ),
            )
        })
        .collect();
    assert_eq!(got, want);
    assert_eq!(
        snapshot.num_records().await.unwrap(),
        Some(before[6].ids.len() as i64)
    );
}

/// On a table with the `v2Checkpoint` feature (`delta.checkpointPolicy=v2`) strata writes
/// classic-named V2 checkpoints (a `checkpointMetadata` row) and reads the table from them.
/// (deltalake 1.6.6 refuses the `v2Checkpoint` reader feature, so this is strata-only.)
#[tokio::test]
async fn v2_checkpoint_tables_are_written_and_read_by_both() {
    let lake = TempLake::new();
    let props = [("delta.checkpointPolicy", "v2")];
    let (table, model) = people_table(&lake.table("v2"), true, &props, 9).await;
    let protocol = table.snapshot().await.unwrap().protocol().clone();
    assert_eq!(
        (protocol.min_reader_version, protocol.min_writer_version),
        (3, 7)
    );
    assert!(
        protocol
            .reader_features
            .unwrap()
            .contains(&"v2Checkpoint".to_string())
    );
    let mut before = Vec::new();
    for v in 0..=9 {
        before.push(fingerprint_at(&lake.table("v2"), v).await);
    }
    checkpoint_at(&table, 6).await;
    let path = lake.table_path("v2");
    delete_commits(&path, 0..=5);
    for v in 6..=9 {
        assert_eq!(
            fingerprint_at(&lake.table("v2"), v).await,
            before[v as usize],
            "version {v}"
        );
    }
    let batches = read_parquet(&checkpoint_path(&path, 6));
    let versions: Vec<i64> = batches
        .iter()
        .flat_map(|b| {
            let cm = b
                .column_by_name("checkpointMetadata")
                .expect("column")
                .as_struct();
            let v = cm
                .column_by_name("version")
                .unwrap()
                .as_primitive::<Int64Type>();
            (0..b.num_rows())
                .filter(|&i| cm.is_valid(i))
                .map(|i| v.value(i))
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(versions, [6]);
    let reopened = Table::open(&lake.table("v2")).await.unwrap();
    assert_eq!(
        ids_at(&reopened, 9).await,
        model[9].iter().copied().collect::<Vec<_>>()
    );
    // "Checkpoint now" on the latest version.
    let info = reopened.checkpoint().await.unwrap();
    let files = reopened.snapshot().await.unwrap().num_files() as i64;
    assert_eq!((info.version, info.num_add_files), (9, files));
    assert!(checkpoint_path(&path, 9).exists());
}

#[tokio::test]
async fn log_cleanup_and_vacuum_delete_orphaned_sidecars_and_keep_referenced_ones() {
    for by in ["log cleanup", "vacuum"] {
        let lake = TempLake::new();
        let location = lake.table("t");
        v2_checkpoints_with_sidecars(&location, "json").await;
        let before = Table::open(&location).await.unwrap();
        let expected = before
            .snapshot()
            .await
            .unwrap()
            .scan()
            .collect()
            .await
            .unwrap();
        // A sidecar of a checkpoint that is gone (a cleanup deleted it, or its writer died).
        let sidecars = lake.table_path("t").join("_delta_log/_sidecars");
        std::fs::write(sidecars.join("orphan.parquet"), b"PAR1").unwrap();
        // Everything is 40 days old: past the 30-day log retention, the 7-day file retention,
        // and the day sidecars get.
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(40 * 24 * 3600);
        for dir in [lake.table_path("t").join("_delta_log"), sidecars.clone()] {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_file() {
                    std::fs::File::options()
                        .append(true)
                        .open(&path)
                        .and_then(|f| f.set_modified(old))
                        .unwrap();
                }
            }
        }
        let table = Table::open(&location).await.unwrap();
        match by {
            "log cleanup" => {
                let report = table.cleanup_log().await.unwrap();
                assert!(
                    report
                        .deleted
                        .contains(&"_sidecars/orphan.parquet".to_string()),
                    "{report:?}"
                );
            }
            _ => {
                let dry = table.vacuum().with_dry_run(true).execute().await.unwrap();
                assert_eq!(
                    dry.files,
                    ["_delta_log/_sidecars/orphan.parquet"],
                    "{dry:?}"
                );
                let report = table.vacuum().execute().await.unwrap();
                assert_eq!(report.files, dry.files);
            }
        }
        let left: Vec<String> = std::fs::read_dir(&sidecars)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(
            left.len(),
            2,
            "{by}: the referenced sidecars stay: {left:?}"
        );
        let reopened = Table::open(&location)
            .await
            .unwrap()
            .snapshot()
            .await
            .unwrap();
        assert_eq!(
            crate::support::rendered(&reopened.scan().collect().await.unwrap()),
            crate::support::rendered(&expected),
            "{by}"
        );
    }
}
