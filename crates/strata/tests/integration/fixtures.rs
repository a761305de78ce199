//! Tables written by deltalake (checked into `fixtures/`) read identically in strata at every
//! version, without Python. See `fixtures/README.md` for the catalog.

use std::path::{Path, PathBuf};

use strata::{Snapshot, Storage};

use crate::support::*;

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// deltalake reads `table` at its latest version (`latest`, with `rows` rows), and every
/// version in `versions` exactly as strata does (dumped to `dump`).
pub async fn assert_deltalake_reads(
    table: &Path,
    dump: &Path,
    latest: i64,
    rows: i64,
    versions: std::ops::RangeInclusive<i64>,
) {
    let out = crate::support::python::interop(&["check-read", table.to_str().unwrap()]);
    let read: serde_json::Value = serde_json::from_str(out.trim())
        .unwrap_or_else(|e| panic!("check-read printed {out:?}: {e}"));
    assert_eq!(read["version"].as_i64(), Some(latest));
    assert_eq!(read["rows"].as_i64(), Some(rows));
    let versions: Vec<String> = versions.map(|v| v.to_string()).collect();
    crate::support::python::interop(&[
        "dump",
        table.to_str().unwrap(),
        dump.to_str().unwrap(),
        "--versions",
        &versions.join(","),
    ]);
    assert_matches_dump(table, dump).await;
}

/// Compares strata's read of every version of `table` with a `interop.py dump` of it.
pub async fn assert_matches_dump(table: &Path, dump: &Path) {
    let info: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dump.join("versions.json")).expect("versions.json"))
            .expect("json");
    let storage = Storage::open(table.to_str().unwrap(), &Default::default()).unwrap();
    let versions = info["versions"].as_array().expect("versions");
    assert!(!versions.is_empty());
    for v in versions {
        let v = v.as_i64().unwrap();
        let context = format!("{} at version {v}", table.display());
        let snapshot = Snapshot::load(&storage, Some(v))
            .await
            .unwrap_or_else(|e| panic!("{context}: {e}"));
        let meta = &info["info"][v.to_string()];
        assert_eq!(
            snapshot.num_files() as u64,
            meta["num_files"].as_u64().unwrap(),
            "{context}: files"
        );
        let partitions: Vec<String> =
            serde_json::from_value(meta["partition_columns"].clone()).unwrap();
        assert_eq!(
            snapshot.partition_columns(),
            partitions.as_slice(),
            "{context}: partition columns"
        );
        assert_eq!(
            snapshot.protocol().min_reader_version as u64,
            meta["min_reader_version"].as_u64().unwrap(),
            "{context}: reader version"
        );
        let read = snapshot
            .scan()
            .collect()
            .await
            .unwrap_or_else(|e| panic!("{context}: {e}"));
        let expected = read_parquet(&dump.join(format!("v{v}.parquet")));
        assert_eq!(
            num_rows(&read) as u64,
            meta["num_rows"].as_u64().unwrap(),
            "{context}: rows"
        );
        assert_same_rows(&read, &expected, &snapshot.arrow_schema(), &context);
    }
}

async fn check_fixture(name: &str) {
    let dir = fixtures_dir();
    assert_matches_dump(
        &dir.join("tables").join(name),
        &dir.join("expected").join(name),
    )
    .await;
}

#[tokio::test]
async fn fixture_appends() {
    check_fixture("appends").await;
}

#[tokio::test]
async fn fixture_all_types() {
    check_fixture("all_types").await;
}

#[tokio::test]
async fn fixture_partitioned_special() {
    check_fixture("partitioned_special").await;
}

#[tokio::test]
async fn fixture_overwrite() {
    check_fixture("overwrite").await;
}

#[tokio::test]
async fn fixture_delete() {
    check_fixture("delete").await;
}

#[tokio::test]
async fn fixture_partitioned_dates() {
    check_fixture("partitioned_dates").await;
}
