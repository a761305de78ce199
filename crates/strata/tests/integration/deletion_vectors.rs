//! Deletion vectors, read: tables Spark and Databricks wrote with deletion vectors (inline and
//! in DV files, log compaction files beside them) read exactly as DuckDB's `delta_scan`
//! (delta-kernel-rs) and deltalake read them, at every version; row counts subtract the deleted
//! rows; filters and row-group pruning still work on files with a vector; a missing or corrupt
//! DV file is a typed error naming it and its data file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use roaring::RoaringTreemap;
use strata::{Error, Table};

use crate::support::deletion_vectors as dv;
use crate::support::python::read_with;
use crate::support::*;

pub(crate) fn spark_fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/spark")
        .join(name)
}

/// A copy of a Spark fixture in `lake`, to change without touching the checked-in files.
pub(crate) fn copy_fixture(lake: &TempLake, name: &str) -> PathBuf {
    let to = lake.table_path(name);
    copy_dir(&spark_fixture(name), &to);
    to
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Every version of `location` reads as DuckDB and deltalake's SQL path read it, and counts its
/// rows as the scan returns them.
pub(crate) async fn assert_reads_like_other_clients(location: &str) {
    assert_versions_read_like_other_clients(location, 0).await;
}

/// As [`assert_reads_like_other_clients`], for the versions from `first` on.
async fn assert_versions_read_like_other_clients(location: &str, first: i64) {
    let table = Table::open(location).await.unwrap();
    let latest = table.version().await.unwrap();
    for version in first..=latest {
        let snapshot = match table.snapshot_at_version(version).await {
            Ok(s) => s,
            Err(Error::VersionNotFound { .. }) => continue,
            Err(e) => panic!("{location} v{version}: {e}"),
        };
        let context = format!("{location} at version {version}");
        let ours = snapshot
            .scan()
            .collect()
            .await
            .unwrap_or_else(|e| panic!("{context}: {e}"));
        let schema = snapshot.arrow_schema();
        let duckdb = read_with("duckdb", location, Some(version));
        assert_same_rows(&ours, &duckdb, &schema, &format!("{context} (duckdb)"));
        if let Some(rows) = snapshot.num_records().await.unwrap() {
            assert_eq!(rows as usize, num_rows(&ours), "{context}: num_records");
        }
        let deltalake = read_with("deltalake", location, Some(version));
        assert_same_rows(
            &ours,
            &deltalake,
            &schema,
            &format!("{context} (deltalake)"),
        );
    }
}

#[tokio::test]
async fn spark_and_databricks_tables_with_deletion_vectors_read_as_duckdb_reads_them() {
    for name in [
        "with-short-dv",
        "cdf-table-with-dv",
        "compacted-log-files-table",
    ] {
        let path = spark_fixture(name);
        assert_reads_like_other_clients(path.to_str().unwrap()).await;
    }
}

#[tokio::test]
async fn filters_apply_to_the_rows_a_vector_leaves() {
    let path = spark_fixture("with-short-dv");
    let snapshot = latest(path.to_str().unwrap()).await;
    let all = snapshot.scan().collect().await.unwrap();
    // Ids 0..=9 in two files; the vector deletes 3 of the first file's 5 rows.
    assert_eq!(num_rows(&all), 7);
    let plan = snapshot.scan().with_filter("id < 5").plan().await.unwrap();
    let some = plan.collect().await.unwrap();
    assert_eq!(num_rows(&some), 2);
    assert_eq!(
        plan.metrics().files_to_read,
        1,
        "the second file is pruned by its stats"
    );
}

/// Writes `rows` ids in row groups of `group` rows, then commits a vector deleting `deleted`
/// (stored in a DV file of the given storage type) on the one data file.
async fn table_with_vector(
    lake: &TempLake,
    name: &str,
    rows: i64,
    group: usize,
    deleted: &[u64],
    storage: &str,
) -> Table {
    let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
    let table = Table::create(lake.table(name))
        .with_arrow_schema(&schema)
        .unwrap()
        .with_property("delta.enableDeletionVectors", "true")
        .execute()
        .await
        .unwrap();
    let batch = RecordBatch::try_new(
        schema,
        vec![Arc::new(Int64Array::from_iter_values(0..rows))],
    )
    .unwrap();
    table
        .write([batch])
        .with_row_group_rows(group)
        .execute()
        .await
        .unwrap();
    let snapshot = table.snapshot().await.unwrap();
    let add = snapshot.files().next().unwrap().to_add();
    let rows: RoaringTreemap = deleted.iter().copied().collect();
    let storage = match storage {
        "u" => dv::Storage::Uuid,
        "i" => dv::Storage::Inline,
        _ => dv::Storage::Path,
    };
    dv::delete_rows(table.storage(), &snapshot, vec![(add, rows)], storage).await;
    table
}

fn ids(batches: &[RecordBatch]) -> Vec<i64> {
    let mut ids: Vec<i64> = batches
        .iter()
        .flat_map(|b| {
            b.column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .values()
                .to_vec()
        })
        .collect();
    ids.sort_unstable();
    ids
}

#[tokio::test]
async fn vectors_in_every_storage_type_delete_their_rows_with_row_groups_pruned() {
    let lake = TempLake::new();
    let deleted = [0u64, 1, 9, 10, 11, 55, 98, 99];
    for storage in ["u", "i", "p"] {
        let name = format!("dv_{storage}");
        let table = table_with_vector(&lake, &name, 100, 10, &deleted, storage).await;
        let snapshot = table.snapshot().await.unwrap();
        let expected: Vec<i64> = (0..100)
            .filter(|i| !deleted.contains(&(*i as u64)))
            .collect();
        assert_eq!(
            ids(&snapshot.scan().collect().await.unwrap()),
            expected,
            "{storage}"
        );
        assert_eq!(snapshot.num_records().await.unwrap(), Some(92), "{storage}");
        // Row groups of 10 rows: `id >= 50` reads 5 of 10 of them, the vector still applies.
        let plan = snapshot
            .scan()
            .with_filter("id >= 50")
            .plan()
            .await
            .unwrap();
        let got = ids(&plan.collect().await.unwrap());
        assert_eq!(
            got,
            expected
                .iter()
                .copied()
                .filter(|i| *i >= 50)
                .collect::<Vec<_>>(),
            "{storage}"
        );
        assert_eq!(plan.metrics().row_groups_pruned, 5, "{storage}");
        assert_reads_like_other_clients(&lake.table(&name)).await;
    }
}

#[tokio::test]
async fn a_missing_or_corrupt_vector_is_an_error_naming_it_and_its_data_file() {
    let lake = TempLake::new();
    let path = copy_fixture(&lake, "with-short-dv");
    let dv_file = path.join("deletion_vector_ae7177f2-6d17-4ea8-819b-8d62fa2c5469.bin");
    let good = std::fs::read(&dv_file).unwrap();
    let read = || async {
        let snapshot = latest(path.to_str().unwrap()).await;
        snapshot.scan().collect().await.map(|_| ())
    };
    assert!(read().await.is_ok());
    let mut corruptions: Vec<(&str, Vec<u8>)> = Vec::new();
    let mut crc = good.clone();
    let last = crc.len() - 1;
    crc[last] ^= 0x40;
    corruptions.push(("checksum", crc));
    let mut magic = good.clone();
    magic[5] ^= 1;
    corruptions.push(("checksum", magic)); // the checksum covers the magic number
    corruptions.push(("truncated", good[..good.len() - 3].to_vec()));
    let mut version = good.clone();
    version[0] = 7;
    corruptions.push(("version 7", version));
    for (what, bytes) in corruptions {
        std::fs::write(&dv_file, &bytes).unwrap();
        let err = read().await.unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::DeletionVector { .. }), "{what}: {err}");
        assert!(
            text.contains("deletion_vector_ae7177f2") && text.contains("part-00000-8029f411"),
            "{what}: {text}"
        );
        assert!(text.contains(what), "{what}: {text}");
    }
    std::fs::remove_file(&dv_file).unwrap();
    let err = read().await.unwrap_err();
    assert!(
        matches!(&err, Error::DeletionVector { source, .. } if source.to_string().contains("does not exist")),
        "{err}"
    );
}

#[tokio::test]
async fn every_operation_keeps_a_table_with_vectors_readable_by_every_client() {
    let lake = TempLake::new();
    let path = copy_fixture(&lake, "with-short-dv");
    let location = path.to_str().unwrap().to_string();
    let table = Table::open(&location).await.unwrap();
    let schema = table.snapshot().await.unwrap().arrow_schema();
    let before = latest(&location).await;
    // Append: new files carry no vector; the old ones keep theirs.
    let extra = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from(vec![100, 101])),
            Arc::new(arrow::array::StringArray::from(vec!["x", "y"])),
            Arc::new(
                arrow::array::TimestampMicrosecondArray::from(vec![0, 1]).with_timezone("UTC"),
            ),
            Arc::new(arrow::array::Float64Array::from(vec![0.5, 0.25])),
        ],
    )
    .unwrap();
    let appended = table.append([extra]).await.unwrap().version;
    // Optimize rewrites the files with their vectors applied, and removes them with theirs.
    let optimized = table.optimize().execute().await.unwrap();
    assert_eq!(optimized.num_files_removed, 3);
    let after = table.snapshot().await.unwrap();
    assert!(after.files().all(|f| f.deletion_vector().is_none()));
    assert_eq!(after.num_records().await.unwrap(), Some(9));
    // Restore re-adds the files with their vectors.
    let restored = table.restore_to_version(appended).await.unwrap();
    let snapshot = table.snapshot().await.unwrap();
    assert_eq!(
        snapshot
            .files()
            .filter(|f| f.deletion_vector().is_some())
            .count(),
        1
    );
    assert_eq!(restored.num_restored_files, 3);
    // A checkpoint carries the vectors: a table opened from it (here, by DuckDB and
    // deltalake too) still skips the deleted rows.
    table.checkpoint().await.unwrap();
    let reopened = latest(&location).await;
    assert_eq!(
        reopened
            .files()
            .filter(|f| f.deletion_vector().is_some())
            .count(),
        1
    );
    assert_eq!(reopened.num_records().await.unwrap(), Some(9));
    assert_reads_like_other_clients(&location).await;
    // Vacuum with no retention keeps the DV file the current version needs...
    table
        .vacuum()
        .with_retention_ms(0)
        .with_force(true)
        .execute()
        .await
        .unwrap();
    let dv_file = path.join("deletion_vector_ae7177f2-6d17-4ea8-819b-8d62fa2c5469.bin");
    assert!(
        dv_file.exists(),
        "vacuum deleted a DV file the current version reads"
    );
    assert_eq!(
        ids(&table
            .snapshot()
            .await
            .unwrap()
            .scan()
            .collect()
            .await
            .unwrap()),
        ids(&before.scan().collect().await.unwrap())
            .into_iter()
            .chain([100, 101])
            .collect::<Vec<_>>()
    );
    // ... and deletes one nothing references any more, once the files that needed it go.
    let revert_optimize = table.optimize().execute().await.unwrap();
    assert!(revert_optimize.num_files_removed > 0);
    table
        .vacuum()
        .with_retention_ms(0)
        .with_force(true)
        .execute()
        .await
        .unwrap();
    assert!(!dv_file.exists(), "an unreferenced DV file was kept");
    let last = table.version().await.unwrap();
    assert_versions_read_like_other_clients(&location, last).await;
}
