//! Test helpers shared by the strata crates: temporary lakes, sample data, order-insensitive
//! comparison, the Python interop venv ([`python`]), an S3-compatible server on loopback
//! ([`s3`]), a seeded fault-injecting object store ([`fault_store`]) and deletion vectors
//! written as Spark writes them ([`deletion_vectors`]).

#![allow(dead_code)]

pub mod deletion_vectors;
pub mod fault_store;
pub mod python;
pub mod s3;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float32Array, Float64Array,
    Int8Array, Int16Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::util::display::{ArrayFormatter, FormatOptions};

/// A temporary directory that holds one or more tables; kept on failure for inspection when
/// `STRATA_KEEP_TEST_DIRS` is set.
pub struct TempLake {
    dir: tempfile::TempDir,
}

impl TempLake {
    pub fn new() -> TempLake {
        TempLake {
            dir: tempfile::Builder::new()
                .prefix("strata-test-")
                .tempdir()
                .expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A table location (string, as users pass it) under the lake.
    pub fn table(&self, name: &str) -> String {
        self.dir
            .path()
            .join(name)
            .to_str()
            .expect("utf-8 temp path")
            .to_string()
    }

    pub fn table_path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Default for TempLake {
    fn default() -> Self {
        TempLake::new()
    }
}

impl Drop for TempLake {
    fn drop(&mut self) {
        if std::env::var_os("STRATA_KEEP_TEST_DIRS").is_some() {
            let path = self.dir.path().to_path_buf();
            eprintln!("keeping {}", path.display());
            std::mem::forget(std::mem::replace(
                &mut self.dir,
                tempfile::tempdir().expect("temp dir"),
            ));
        }
    }
}

/// The schema of [`people`].
pub fn people_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("country", DataType::Utf8, true),
    ]))
}

/// Rows `ids` with names `n{id}` and the given country for every row.
pub fn people(ids: std::ops::Range<i64>, country: Option<&str>) -> RecordBatch {
    let ids: Vec<i64> = ids.collect();
    RecordBatch::try_new(
        people_schema(),
        vec![
            Arc::new(Int64Array::from(ids.clone())),
            Arc::new(StringArray::from(
                ids.iter()
                    .map(|i| Some(format!("n{i}")))
                    .collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(vec![country; ids.len()])),
        ],
    )
    .expect("people batch")
}

/// A schema with every Delta primitive type, all nullable.
pub fn all_types_schema() -> SchemaRef {
    let ts = |tz: Option<&str>| DataType::Timestamp(TimeUnit::Microsecond, tz.map(Into::into));
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("bool", DataType::Boolean, true),
        Field::new("byte", DataType::Int8, true),
        Field::new("short", DataType::Int16, true),
        Field::new("int", DataType::Int32, true),
        Field::new("float", DataType::Float32, true),
        Field::new("double", DataType::Float64, true),
        Field::new("dec", DataType::Decimal128(10, 2), true),
        Field::new("dec38", DataType::Decimal128(38, 10), true),
        Field::new("str", DataType::Utf8, true),
        Field::new("bin", DataType::Binary, true),
        Field::new("date", DataType::Date32, true),
        Field::new("ts", ts(Some("UTC")), true),
        Field::new("ts_ntz", ts(None), true),
    ]))
}

/// `n` rows of every primitive type starting at `start`; every 3rd row is null in all
/// nullable columns.
pub fn all_types(start: i64, n: usize) -> RecordBatch {
    let ids: Vec<i64> = (start..start + n as i64).collect();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(ids.clone())),
        Arc::new(BooleanArray::from(
            ids.iter().map(|i| opt(i, i % 2 == 0)).collect::<Vec<_>>(),
        )),
        Arc::new(Int8Array::from(
            ids.iter()
                .map(|i| opt(i, (*i % 256 - 128) as i8))
                .collect::<Vec<_>>(),
        )),
        Arc::new(Int16Array::from(
            ids.iter()
                .map(|i| opt(i, (*i * 7 % 30000) as i16))
                .collect::<Vec<_>>(),
        )),
        Arc::new(Int32Array::from(
            ids.iter()
                .map(|i| opt(i, (*i as i32).wrapping_mul(-31)))
                .collect::<Vec<_>>(),
        )),
        Arc::new(Float32Array::from(
            ids.iter()
                .map(|i| opt(i, *i as f32 / 3.0))
                .collect::<Vec<_>>(),
        )),
        Arc::new(Float64Array::from(
            ids.iter()
                .map(|i| opt(i, *i as f64 * -1.25e10))
                .collect::<Vec<_>>(),
        )),
        Arc::new(
            Decimal128Array::from(
                ids.iter()
                    .map(|i| opt(i, *i as i128 * 12345 - 999))
                    .collect::<Vec<_>>(),
            )
            .with_precision_and_scale(10, 2)
            .expect("decimal"),
        ),
        Arc::new(
            Decimal128Array::from(
                ids.iter()
                    .map(|i| opt(i, (*i as i128 % 90 + 1) * 10i128.pow(36) + 7))
                    .collect::<Vec<_>>(),
            )
            .with_precision_and_scale(38, 10)
            .expect("decimal"),
        ),
        Arc::new(StringArray::from(
            ids.iter()
                .map(|i| opt(i, format!("s-{i}-ü")))
                .collect::<Vec<_>>(),
        )),
        Arc::new(BinaryArray::from(
            ids.iter()
                .map(|i| opt(i, vec![*i as u8, 0, 255]))
                .collect::<Vec<_>>()
                .iter()
                .map(|o| o.as_deref())
                .collect::<Vec<_>>(),
        )),
        Arc::new(Date32Array::from(
            ids.iter()
                .map(|i| opt(i, (*i * 37 - 5000) as i32))
                .collect::<Vec<_>>(),
        )),
        Arc::new(
            TimestampMicrosecondArray::from(
                ids.iter()
                    .map(|i| opt(i, *i * 3_600_000_123 - 10))
                    .collect::<Vec<_>>(),
            )
            .with_timezone("UTC"),
        ),
        Arc::new(TimestampMicrosecondArray::from(
            ids.iter()
                .map(|i| opt(i, *i * 86_400_000_001))
                .collect::<Vec<_>>(),
        )),
    ];
    RecordBatch::try_new(all_types_schema(), columns).expect("all types batch")
}

/// Every third row is null in the nullable columns of [`all_types`].
fn opt<T>(i: &i64, v: T) -> Option<T> {
    (i % 3 != 0).then_some(v)
}

/// Rows as sorted display strings, after conforming to `schema` (by column name): an
/// order-insensitive, type-normalized view for comparing two clients' reads.
pub fn canonical_rows(batches: &[RecordBatch], schema: &SchemaRef) -> Vec<String> {
    let options = FormatOptions::default().with_null("∅");
    let mut rows = Vec::new();
    for batch in batches {
        let batch = strata::conform_to_schema(batch, schema).expect("conform");
        let formatters: Vec<ArrayFormatter> = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).expect("formatter"))
            .collect();
        for row in 0..batch.num_rows() {
            let cells: Vec<String> = formatters
                .iter()
                .map(|f| f.value(row).to_string())
                .collect();
            rows.push(cells.join(" | "));
        }
    }
    rows.sort();
    rows
}

/// Asserts two reads hold the same rows (any order), with a readable diff.
#[track_caller]
pub fn assert_same_rows(
    actual: &[RecordBatch],
    expected: &[RecordBatch],
    schema: &SchemaRef,
    context: &str,
) {
    let a = canonical_rows(actual, schema);
    let e = canonical_rows(expected, schema);
    if a != e {
        let missing: Vec<_> = e.iter().filter(|r| !a.contains(r)).take(5).collect();
        let extra: Vec<_> = a.iter().filter(|r| !e.contains(r)).take(5).collect();
        panic!(
            "{context}: {} rows read, {} expected\n  missing (first 5): {missing:#?}\n  unexpected (first 5): {extra:#?}",
            a.len(),
            e.len()
        );
    }
}

/// Reads a whole Parquet file (an expected dump) into batches.
pub fn read_parquet(path: &Path) -> Vec<RecordBatch> {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .expect("parquet")
        .build()
        .expect("reader")
        .collect::<Result<Vec<_>, _>>()
        .expect("batches")
}

/// The sorted `id` column of a snapshot (every test table has an Int64 `id`).
pub async fn snapshot_ids(snapshot: &strata::Snapshot) -> Vec<i64> {
    use arrow::array::AsArray;
    let batches = snapshot
        .scan()
        .with_columns(["id"])
        .collect()
        .await
        .expect("scan");
    let mut ids: Vec<i64> = batches
        .iter()
        .flat_map(|b| {
            b.column(0)
                .as_primitive::<arrow::datatypes::Int64Type>()
                .values()
                .to_vec()
        })
        .collect();
    ids.sort_unstable();
    ids
}

/// The latest version of the table at `location`.
pub async fn latest(location: impl AsRef<str>) -> strata::Snapshot {
    let table = strata::Table::open(location).await.expect("open");
    table.snapshot().await.expect("snapshot")
}

/// The sorted `id` column of a table at `version`.
pub async fn ids_at(table: &strata::Table, version: i64) -> Vec<i64> {
    snapshot_ids(&table.snapshot_at_version(version).await.expect("snapshot")).await
}

/// Total rows in batches.
pub fn num_rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(|b| b.num_rows()).sum()
}

/// Rows a full scan of `snapshot` returns.
pub async fn scan_rows(snapshot: &strata::Snapshot) -> usize {
    num_rows(&snapshot.scan().collect().await.expect("scan"))
}

/// Path of a commit file in a local table.
pub fn commit_path(table: &Path, version: i64) -> PathBuf {
    table.join("_delta_log").join(format!("{version:020}.json"))
}

/// Rows `ids` of a one-column table (`id long not null`).
pub fn id_batch(ids: std::ops::Range<i64>) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
    RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from_iter_values(ids))])
        .expect("id batch")
}

/// A new, empty `id long` table in `dir`: the handle and its location.
pub async fn id_table(dir: &Path) -> (strata::Table, String) {
    let location = dir.join("t").to_str().expect("utf-8 path").to_string();
    let table = strata::Table::create(location.as_str())
        .with_arrow_schema(&id_batch(0..1).schema())
        .expect("schema")
        .execute()
        .await
        .expect("create");
    (table, location)
}

/// The `id`s of a snapshot as a set.
pub async fn id_set(snapshot: &strata::Snapshot) -> std::collections::BTreeSet<i64> {
    snapshot_ids(snapshot).await.into_iter().collect()
}

/// Asserts that the Python `deltalake` package reads `location` with `rows` rows.
#[track_caller]
pub fn assert_deltalake_row_count(location: &str, rows: i64) {
    let out = python::interop(&["check-read", location]);
    let read: serde_json::Value = serde_json::from_str(out.trim())
        .unwrap_or_else(|e| panic!("check-read printed {out:?}: {e}"));
    assert_eq!(read["rows"].as_i64(), Some(rows), "{out}");
}

/// The rows of `snapshot` matching `filter`, rendered as [`rendered`] does.
pub async fn rendered_where(snapshot: &strata::Snapshot, filter: &str) -> Vec<String> {
    let batches = snapshot
        .scan()
        .with_filter(filter)
        .collect()
        .await
        .expect("scan");
    rendered(&batches)
}

/// Every row as `|`-joined display text, sorted: comparable across scans whatever the file
/// order (no conforming; see [`canonical_rows`] for reads by different clients).
pub fn rendered(batches: &[RecordBatch]) -> Vec<String> {
    let options = FormatOptions::default().with_null("NULL");
    let mut rows = Vec::new();
    for b in batches {
        let formatters: Vec<ArrayFormatter> = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).expect("formatter"))
            .collect();
        for i in 0..b.num_rows() {
            let cells: Vec<String> = formatters.iter().map(|f| f.value(i).to_string()).collect();
            rows.push(cells.join("|"));
        }
    }
    rows.sort();
    rows
}
