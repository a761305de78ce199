//! The write path: row groups and files cut at their limits, streaming input, statistics
//! computed alongside parallel encoding, failing streams, and other clients reading the files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Decimal128Builder, Float64Builder, Int32Builder, Int64Array, ListBuilder,
    RecordBatch, StringArray, StringBuilder, StructArray, TimestampMicrosecondArray,
};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use futures::StreamExt;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use strata::paths::decode_path;
use strata::stats::{IndexedColumns, StatsCollector};
use strata::{Error, Snapshot, Table};

use crate::fixtures::assert_deltalake_reads;
use crate::support::*;

fn inner_fields() -> Fields {
    Fields::from(vec![
        Field::new("b", DataType::Utf8, true),
        Field::new("c", DataType::Float64, true),
    ])
}

fn nested_fields() -> Fields {
    Fields::from(vec![
        Field::new("a", DataType::Int32, true),
        Field::new("inner", DataType::Struct(inner_fields()), true),
    ])
}

/// Strings, decimals, timestamps, a nested struct and a list, with nulls in all of them, and a
/// `part` column to partition by.
fn rich_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("part", DataType::Utf8, true),
        Field::new("s", DataType::Utf8, true),
        Field::new("amount", DataType::Decimal128(18, 3), true),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
        Field::new("nested", DataType::Struct(nested_fields()), true),
        Field::new(
            "tags",
            DataType::List(Arc::new(Field::new("element", DataType::Utf8, true))),
            true,
        ),
    ]))
}

/// Rows `start..start + n` of [`rich_schema`]; `part` cycles through three values and null.
fn rich(start: i64, n: usize) -> RecordBatch {
    let ids: Vec<i64> = (start..start + n as i64).collect();
    let part = StringArray::from(
        ids.iter()
            .map(|i| (i % 7 != 0).then(|| format!("p{}", i % 3)))
            .collect::<Vec<_>>(),
    );
    let s = StringArray::from(
        ids.iter()
            .map(|i| (i % 5 != 1).then(|| format!("value-{i:08}-ü")))
            .collect::<Vec<_>>(),
    );
    let mut amount = Decimal128Builder::with_capacity(n);
    let mut a = Int32Builder::with_capacity(n);
    let mut b = StringBuilder::new();
    let mut c = Float64Builder::with_capacity(n);
    let mut tags = ListBuilder::new(StringBuilder::new()).with_field(Arc::new(Field::new(
        "element",
        DataType::Utf8,
        true,
    )));
    for i in &ids {
        amount.append_option((i % 4 != 2).then_some(i128::from(*i) * 1001 - 500_000));
        a.append_option((i % 3 != 0).then_some(*i as i32 * -7));
        b.append_option((i % 6 != 3).then(|| format!("b{}", i % 100)));
        c.append_option((i % 9 != 4).then_some(*i as f64 / 8.0));
        if i % 11 == 5 {
            tags.append_null();
        } else {
            for k in 0..(i % 4) {
                tags.values()
                    .append_option((k != 1).then(|| format!("t{}", i + k)));
            }
            tags.append(true);
        }
    }
    let amount = amount
        .finish()
        .with_precision_and_scale(18, 3)
        .expect("decimal");
    let inner = StructArray::new(
        inner_fields(),
        vec![Arc::new(b.finish()) as ArrayRef, Arc::new(c.finish())],
        Some(NullBuffer::from(
            ids.iter().map(|i| i % 8 != 7).collect::<Vec<_>>(),
        )),
    );
    let nested = StructArray::new(
        nested_fields(),
        vec![Arc::new(a.finish()) as ArrayRef, Arc::new(inner)],
        Some(NullBuffer::from(
            ids.iter().map(|i| i % 10 != 9).collect::<Vec<_>>(),
        )),
    );
    let ts = TimestampMicrosecondArray::from(
        ids.iter()
            .map(|i| (i % 13 != 0).then_some(1_700_000_000_000_000 + i * 1_000_003))
            .collect::<Vec<_>>(),
    )
    .with_timezone("UTC");
    RecordBatch::try_new(
        rich_schema(),
        vec![
            Arc::new(Int64Array::from(ids)),
            Arc::new(part),
            Arc::new(s),
            Arc::new(amount),
            Arc::new(ts),
            Arc::new(nested),
            Arc::new(tags.finish()),
        ],
    )
    .expect("rich batch")
}

/// Batches of uneven sizes (1 row up to a few thousand) covering ids `0..total`.
fn uneven_batches(total: i64) -> Vec<RecordBatch> {
    let sizes = [1usize, 777, 2500, 13, 4096, 300, 1999];
    let mut batches = Vec::new();
    let mut start = 0;
    for k in 0.. {
        if start >= total {
            break;
        }
        let n = sizes[k % sizes.len()].min((total - start) as usize);
        batches.push(rich(start, n));
        start += n as i64;
    }
    batches
}

async fn create(location: &str, partitioned: bool) -> Table {
    let create = Table::create(location)
        .with_arrow_schema(&rich_schema())
        .unwrap();
    let create = if partitioned {
        create.with_partition_columns(["part"])
    } else {
        create
    };
    create.execute().await.unwrap()
}

/// One data file of a snapshot, as found on disk.
struct DataFile {
    path: PathBuf,
    partition: Option<String>,
    /// The `NNNNN` of `part-NNNNN-…`: the file's number within its partition and write.
    sequence: u32,
    size: u64,
    stats: String,
    /// Rows of each row group.
    row_groups: Vec<i64>,
    /// Where the last row group starts.
    last_row_group_offset: u64,
    arrow_schema_in_footer: bool,
    batches: Vec<RecordBatch>,
}

fn data_files(table: &Path, snapshot: &Snapshot) -> Vec<DataFile> {
    snapshot
        .files()
        .map(|f| {
            let path = table.join(decode_path(f.path()));
            let name = path.file_name().unwrap().to_str().unwrap().to_string();
            let sequence: u32 = name["part-".len().."part-".len() + 5].parse().unwrap();
            let file = std::fs::File::open(&path).unwrap();
            let builder = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
            let metadata = builder.metadata().clone();
            let row_groups = metadata
                .row_groups()
                .iter()
                .map(|rg| rg.num_rows())
                .collect();
            let last = metadata.row_groups().last().unwrap().column(0);
            let last_row_group_offset = last
                .dictionary_page_offset()
                .unwrap_or(last.data_page_offset()) as u64;
            let arrow_schema_in_footer = metadata
                .file_metadata()
                .key_value_metadata()
                .is_some_and(|kv| kv.iter().any(|e| e.key == "ARROW:schema"));
            let batches = builder
                .build()
                .unwrap()
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            assert_eq!(
                f.size() as u64,
                std::fs::metadata(&path).unwrap().len(),
                "add.size of {name}"
            );
            DataFile {
                path,
                partition: f.partition_value("part").map(str::to_string),
                sequence,
                size: f.size() as u64,
                stats: f.stats().expect("add.stats").to_string(),
                row_groups,
                last_row_group_offset,
                arrow_schema_in_footer,
                batches,
            }
        })
        .collect()
}

/// Every file is cut at the limits: row groups of at most `row_group_rows`, files finished
/// once they reach `target` (so before its last row group a file was below the target), and
/// every file but the last of its partition reached about the target (a file whose last row
/// group is still open is finished on the Parquet writer's estimate of its encoded size).
fn assert_layout(files: &[DataFile], target: u64, row_group_rows: i64) {
    let mut last_of_partition: BTreeMap<Option<String>, u32> = BTreeMap::new();
    for f in files {
        let last = last_of_partition.entry(f.partition.clone()).or_default();
        *last = (*last).max(f.sequence);
    }
    for f in files {
        let name = f.path.display();
        assert!(f.arrow_schema_in_footer, "{name}: no ARROW:schema");
        assert!(
            f.row_groups.iter().all(|&n| n > 0 && n <= row_group_rows),
            "{name}: row groups {:?}",
            f.row_groups
        );
        assert!(
            f.last_row_group_offset < target,
            "{name}: already {} bytes before its last row group (target {target})",
            f.last_row_group_offset
        );
        if f.sequence != last_of_partition[&f.partition] {
            assert!(
                f.size >= target / 10 * 9,
                "{name}: rolled at {} bytes, before the target {target}",
                f.size
            );
        }
    }
}

/// Each file's `add.stats` is exactly what one serial collector computes over its rows.
fn assert_stats_match_a_serial_collector(files: &[DataFile], file_schema: &SchemaRef) {
    for f in files {
        let mut serial = StatsCollector::new(file_schema, &IndexedColumns::default());
        for batch in &f.batches {
            serial.update(batch).unwrap();
        }
        assert_eq!(f.stats, serial.finish(), "{}", f.path.display());
    }
}

fn file_schema(partitioned: bool) -> SchemaRef {
    let schema = rich_schema();
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .filter(|f| !(partitioned && f.name() == "part"))
        .map(|f| f.as_ref().clone())
        .collect();
    Arc::new(Schema::new(fields))
}

async fn assert_reads_back(table: &Table, expected: &[RecordBatch], context: &str) -> Snapshot {
    let snapshot = table.snapshot().await.unwrap();
    let read = snapshot.scan().collect().await.unwrap();
    assert_same_rows(&read, expected, &snapshot.arrow_schema(), context);
    snapshot
}

#[tokio::test]
async fn row_groups_and_files_roll_at_their_limits_and_round_trip() {
    let lake = TempLake::new();
    for partitioned in [false, true] {
        let name = if partitioned { "parts" } else { "flat" };
        let table = create(&lake.table(name), partitioned).await;
        let input = uneven_batches(30_000);
        let (target, row_group_rows) = (96 * 1024, 1500);
        let written = table
            .write(input.clone())
            .with_target_file_size(target)
            .with_row_group_rows(row_group_rows)
            .execute()
            .await
            .unwrap();
        assert_eq!(written.num_rows, 30_000);
        let snapshot = assert_reads_back(&table, &input, name).await;
        let files = data_files(&lake.table_path(name), &snapshot);
        assert_eq!(files.len(), written.num_files);
        let parts = if partitioned { 4 } else { 1 };
        assert!(
            files.len() >= 2 * parts,
            "{name}: expected several files per partition, got {}",
            files.len()
        );
        assert!(
            files.iter().any(|f| f.row_groups.len() > 1),
            "{name}: no file has several row groups"
        );
        assert_layout(&files, target, row_group_rows as i64);
        assert_stats_match_a_serial_collector(&files, &file_schema(partitioned));
    }
}

#[tokio::test]
async fn one_file_of_many_row_groups_has_the_statistics_of_all_its_rows() {
    let lake = TempLake::new();
    let table = create(&lake.table("one"), false).await;
    let input = uneven_batches(20_000);
    let written = table
        .write(input.clone())
        .with_row_group_rows(1024)
        .execute()
        .await
        .unwrap();
    assert_eq!(written.num_files, 1);
    let snapshot = assert_reads_back(&table, &input, "one file").await;
    let files = data_files(&lake.table_path("one"), &snapshot);
    assert_eq!(files[0].row_groups.len(), 20);
    let mut whole = StatsCollector::new(&rich_schema(), &IndexedColumns::default());
    for batch in &input {
        whole.update(batch).unwrap();
    }
    assert_eq!(files[0].stats, whole.finish());
}

/// A stream that is sometimes not ready, as a real source would be.
fn trickle(
    batches: Vec<strata::Result<RecordBatch>>,
) -> impl futures::Stream<Item = strata::Result<RecordBatch>> + Send + 'static {
    futures::stream::iter(batches.into_iter().enumerate()).then(|(k, item)| async move {
        if k % 3 == 0 {
            tokio::task::yield_now().await;
        }
        item
    })
}

#[tokio::test]
async fn a_stream_of_many_batches_across_partitions_round_trips() {
    let lake = TempLake::new();
    let table = create(&lake.table("stream"), true).await;
    // 300 batches, every one spanning all partitions.
    let input: Vec<RecordBatch> = (0..300).map(|k| rich(k * 211, 211)).collect();
    let (target, row_group_rows) = (64 * 1024, 700);
    let written = table
        .write_stream(trickle(input.iter().cloned().map(Ok).collect()))
        .with_target_file_size(target)
        .with_row_group_rows(row_group_rows)
        .execute()
        .await
        .unwrap();
    assert_eq!(written.version, 1);
    assert_eq!(written.num_rows, 300 * 211);
    let snapshot = assert_reads_back(&table, &input, "stream").await;
    let files = data_files(&lake.table_path("stream"), &snapshot);
    assert_eq!(files.len(), written.num_files);
    assert!(
        files.len() >= 8,
        "expected several files per partition, got {}",
        files.len()
    );
    assert!(
        files.iter().any(|f| f.row_groups.len() > 1),
        "no file has several row groups"
    );
    assert_layout(&files, target, row_group_rows as i64);
    assert_stats_match_a_serial_collector(&files, &file_schema(true));
}

#[tokio::test]
async fn a_memory_budget_finishes_the_largest_open_files_early() {
    let lake = TempLake::new();
    let table = create(&lake.table("budget"), true).await;
    let input: Vec<RecordBatch> = (0..60).map(|k| rich(k * 400, 400)).collect();
    // Without the budget every partition would fit in one file of the target size.
    let (target, budget) = (4 * 1024 * 1024, 160 * 1024);
    let written = table
        .write_stream(trickle(input.iter().cloned().map(Ok).collect()))
        .with_target_file_size(target)
        .with_max_buffered_bytes(budget)
        .with_row_group_rows(500)
        .execute()
        .await
        .unwrap();
    let snapshot = assert_reads_back(&table, &input, "budget").await;
    let files = data_files(&lake.table_path("budget"), &snapshot);
    assert_eq!(files.len(), written.num_files);
    assert!(
        files.len() >= 8,
        "expected files finished early, got {}",
        files.len()
    );
    assert!(files.iter().all(|f| f.size < target));
    assert_stats_match_a_serial_collector(&files, &file_schema(true));
}

#[tokio::test]
async fn a_failing_stream_commits_nothing_and_returns_its_error() {
    let lake = TempLake::new();
    let table = create(&lake.table("fail"), true).await;
    table.append([rich(0, 100)]).await.unwrap();
    let mut items: Vec<strata::Result<RecordBatch>> =
        (1..40).map(|k| Ok(rich(k * 1000, 1000))).collect();
    items.insert(30, Err(Error::InvalidArgument("the source broke".into())));
    let err = table
        .write_stream(trickle(items))
        .with_target_file_size(16 * 1024)
        .with_row_group_rows(500)
        .execute()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidArgument(m) if m == "the source broke"),
        "{err}"
    );
    // A batch that does not fit the table, mid-stream, fails the same way.
    let wrong = Arc::new(Schema::new(vec![Field::new("id", DataType::Utf8, false)]));
    let bad = RecordBatch::try_new(wrong, vec![Arc::new(StringArray::from(vec!["x"]))]).unwrap();
    let items = vec![Ok(rich(5000, 3000)), Ok(bad), Ok(rich(9000, 10))];
    let err = table
        .write_stream(trickle(items))
        .with_target_file_size(16 * 1024)
        .execute()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::SchemaMismatch { .. }), "{err}");
    assert_eq!(table.version().await.unwrap(), 1);
    assert_reads_back(&table, &[rich(0, 100)], "after failed writes").await;
}

#[tokio::test]
async fn an_empty_stream_commits_an_empty_write() {
    let lake = TempLake::new();
    let table = create(&lake.table("empty"), true).await;
    let written = table
        .write_stream(futures::stream::empty())
        .execute()
        .await
        .unwrap();
    assert_eq!(
        (written.version, written.num_files, written.num_rows),
        (1, 0, 0)
    );
}

#[tokio::test]
async fn deltalake_reads_tables_written_by_the_parallel_path() {
    let lake = TempLake::new();
    let location = lake.table("interop");
    let table = create(&location, true).await;
    table
        .write_stream(trickle((0..40).map(|k| Ok(rich(k * 500, 500))).collect()))
        .with_target_file_size(48 * 1024)
        .with_row_group_rows(700)
        .execute()
        .await
        .unwrap();
    table
        .write(
            uneven_batches(9000)
                .into_iter()
                .map(|b| b.slice(0, b.num_rows() / 2)),
        )
        .with_row_group_rows(1000)
        .execute()
        .await
        .unwrap();
    let snapshot = table.snapshot().await.unwrap();
    let rows: usize = num_rows(&snapshot.scan().collect().await.unwrap());
    assert!(snapshot.num_files() > 8);
    let path = lake.table_path("interop");
    assert_deltalake_reads(
        &path,
        &lake.path().join("dump"),
        snapshot.version(),
        rows as i64,
        0..=snapshot.version(),
    )
    .await;
}

#[tokio::test]
async fn a_stream_that_must_not_be_polled_after_its_end_is_written() {
    // `unfold` panics when polled again after returning `None`; the writer must not do that
    // (the CLI's append feeds it such a stream).
    let dir = tempfile::tempdir().unwrap();
    let (table, _) = id_table(dir.path()).await;
    let stream = futures::stream::unfold(0i64, |k| async move {
        (k < 5).then(|| (Ok(id_batch(k * 10..k * 10 + 10)), k + 1))
    });
    let written = table.write_stream(stream).execute().await.unwrap();
    assert_eq!(written.num_rows, 50);
    let ids = id_set(&table.snapshot().await.unwrap()).await;
    assert_eq!(ids, (0..50).collect());
}

#[tokio::test]
async fn a_table_created_with_its_first_data_is_one_commit_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().join("t").to_str().unwrap().to_string();
    let create = || {
        Table::create(location.as_str())
            .with_arrow_schema(&id_batch(0..1).schema())
            .unwrap()
    };
    // The input fails part-way: nothing exists afterwards.
    let failing = futures::stream::iter(vec![
        Ok(id_batch(0..10)),
        Err(Error::InvalidArgument("the source broke".into())),
    ]);
    let err = create()
        .write_stream(failing)
        .unwrap()
        .execute()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("the source broke"), "{err}");
    assert!(matches!(
        Table::open(&location).await,
        Err(Error::NotATable { .. })
    ));

    let job = || {
        create()
            .write([id_batch(0..10)])
            .unwrap()
            .with_txn("job", 1)
    };
    let written = job().execute().await.unwrap();
    assert_eq!((written.version, written.num_rows), (0, 10));
    let table = Table::open(&location).await.unwrap();
    let snapshot = table.snapshot().await.unwrap();
    assert_eq!(snapshot.version(), 0);
    assert_eq!(snapshot.txn_version("job"), Some(1));
    assert_eq!(id_set(&snapshot).await, (0..10).collect());
    // A rerun of the same idempotent job is recognised.
    let rerun = job().execute().await.unwrap();
    assert!(rerun.already_applied);
    // Once it exists, a table of another shape is refused and nothing is committed; the same
    // shape is appended to.
    let other_shape = Table::create(location.as_str())
        .with_arrow_schema(&people_schema())
        .unwrap()
        .write([people(0..3, Some("PT"))])
        .unwrap()
        .execute()
        .await;
    assert!(
        matches!(other_shape, Err(Error::TableExists { .. })),
        "{other_shape:?}"
    );
    assert_eq!(table.version().await.unwrap(), 0);
    let again = create()
        .write([id_batch(10..20)])
        .unwrap()
        .execute()
        .await
        .unwrap();
    assert_eq!(again.version, 1);
    assert_eq!(
        id_set(&table.snapshot().await.unwrap()).await,
        (0..20).collect()
    );
    assert_deltalake_row_count(&location, 20);
}

#[tokio::test]
async fn a_creating_write_that_loses_the_race_commits_to_the_winners_table() {
    let dir = tempfile::tempdir().unwrap();
    for same_shape in [true, false] {
        let location = dir
            .path()
            .join(format!("race-{same_shape}"))
            .to_str()
            .unwrap()
            .to_string();
        let create = || {
            Table::create(location.as_str())
                .with_arrow_schema(&id_batch(0..1).schema())
                .unwrap()
        };
        // The winner creates the table while the loser's input is still streaming, after the
        // loser checked that no table existed.
        let winner = location.clone();
        let input = futures::stream::iter(0..3).then(move |k| {
            let winner = winner.clone();
            async move {
                if k == 1 {
                    let mut builder = Table::create(winner.as_str());
                    builder = if same_shape {
                        builder.with_arrow_schema(&id_batch(0..1).schema()).unwrap()
                    } else {
                        builder.with_arrow_schema(&people_schema()).unwrap()
                    };
                    builder.execute().await.unwrap();
                }
                Ok(id_batch(k * 10..k * 10 + 10))
            }
        });
        let result = create().write_stream(input).unwrap().execute().await;
        let table = Table::open(&location).await.unwrap();
        if same_shape {
            let written = result.unwrap();
            assert_eq!(
                written.version, 1,
                "committed on top of the winner's version 0"
            );
            assert_eq!(
                id_set(&table.snapshot().await.unwrap()).await,
                (0..30).collect()
            );
        } else {
            assert!(
                matches!(result, Err(Error::TableExists { .. })),
                "{result:?}"
            );
            assert_eq!(table.version().await.unwrap(), 0, "nothing committed");
        }
    }
}

#[tokio::test]
async fn an_expected_version_guards_a_read_modify_write_job() {
    let lake = TempLake::new();
    let location = lake.table("t");
    let table = strata::Table::create(location.as_str())
        .with_arrow_schema(&people_schema())
        .unwrap()
        .execute()
        .await
        .unwrap();
    table.append([people(0..3, Some("PT"))]).await.unwrap();
    // The job reads version 1 and computes its overwrite; meanwhile another writer appends.
    let job = strata::Table::open(location.as_str()).await.unwrap();
    let read = job.version().await.unwrap();
    table.append([people(3..5, Some("NL"))]).await.unwrap();
    let err = job
        .write([people(100..101, Some("PT"))])
        .with_mode(strata::WriteMode::Overwrite)
        .with_expected_version(read)
        .execute()
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            strata::Error::Conflict {
                reason: strata::ConflictReason::VersionMoved { expected: 1 },
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("moved past version 1"), "{err}");
    assert_eq!(
        snapshot_ids(&table.snapshot().await.unwrap()).await,
        (0..5).collect::<Vec<_>>()
    );
    // At the version it read, the guarded write commits.
    let now = job.version().await.unwrap();
    let written = job
        .write([people(100..101, Some("PT"))])
        .with_mode(strata::WriteMode::Overwrite)
        .with_expected_version(now)
        .execute()
        .await
        .unwrap();
    assert_eq!(written.version, now + 1);
    // A writer that wins the race after the files are written fails the guarded commit
    // rather than being rebased on.
    let snapshot = table.snapshot().await.unwrap();
    let mut tx =
        strata::Transaction::new(&snapshot, "WRITE").with_expected_version(snapshot.version());
    tx.add_actions([]);
    table.append([people(200..201, None)]).await.unwrap();
    let err = tx.commit().await.unwrap_err();
    assert!(
        matches!(&err, strata::Error::Conflict { reason: strata::ConflictReason::VersionMoved { .. }, version, .. } if *version == snapshot.version() + 1),
        "{err}"
    );
}
