//! strata writes, strata reads: versions, partitions, types, time travel, commit metadata.

use std::collections::HashMap;
use std::fs::File;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arrow::array::{Array, AsArray, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, TimestampMicrosecondType};
use strata::actions::{Action, Add};
use strata::{Error, Table, Transaction, WriteMode};

use crate::support::*;

#[tokio::test]
async fn appends_and_overwrite_read_back_at_every_version() {
    for partitioned in [false, true] {
        let lake = TempLake::new();
        let mut create = Table::create(lake.table("t"))
            .with_arrow_schema(&people_schema())
            .unwrap();
        if partitioned {
            create = create.with_partition_columns(["country"]);
        }
        let table = create.execute().await.unwrap();
        assert_eq!(table.version().await.unwrap(), 0);
        let w = table
            .append([people(0..3, Some("PT")), people(3..5, Some("NL"))])
            .await
            .unwrap();
        assert_eq!((w.version, w.num_rows, w.attempts), (1, 5, 1));
        assert_eq!(w.num_files, if partitioned { 2 } else { 1 });
        table.append([people(5..6, None)]).await.unwrap();
        let w = table
            .overwrite([people(100..102, Some("PT"))])
            .await
            .unwrap();
        assert_eq!(
            (w.version, w.num_removed_files),
            (3, if partitioned { 3 } else { 2 })
        );
        table.append([people(200..201, Some("ES"))]).await.unwrap();

        let expected: Vec<Vec<i64>> = vec![
            vec![],
            (0..5).collect(),
            (0..6).collect(),
            vec![100, 101],
            vec![100, 101, 200],
        ];
        for (version, want) in expected.iter().enumerate() {
            assert_eq!(
                &ids_at(&table, version as i64).await,
                want,
                "version {version}, partitioned {partitioned}"
            );
        }
        let reopened = Table::open(lake.table("t")).await.unwrap();
        assert_eq!(reopened.version().await.unwrap(), 4);
        let latest = reopened.snapshot().await.unwrap();
        assert_eq!(latest.num_records().await.unwrap(), Some(3));
        let rows = latest.scan().collect().await.unwrap();
        let expected_rows = [people(100..102, Some("PT")), people(200..201, Some("ES"))];
        assert_same_rows(
            &rows,
            &expected_rows,
            &people_schema(),
            "latest, all columns",
        );
    }
}

#[tokio::test]
async fn every_primitive_type_round_trips() {
    let lake = TempLake::new();
    let table = Table::create(lake.table("types"))
        .with_arrow_schema(&all_types_schema())
        .unwrap()
        .execute()
        .await
        .unwrap();
    let snapshot = table.snapshot().await.unwrap();
    assert_eq!(
        snapshot.protocol().min_reader_version,
        3,
        "timestamp_ntz needs the timestampNtz feature"
    );
    let batches = [all_types(0, 10), all_types(10, 7)];
    table.append(batches.clone()).await.unwrap();
    let read = table
        .snapshot()
        .await
        .unwrap()
        .scan()
        .collect()
        .await
        .unwrap();
    assert_eq!(
        read[0].schema(),
        all_types_schema(),
        "reads yield the table's Arrow schema"
    );
    assert_same_rows(&read, &batches, &all_types_schema(), "all types");
}

#[tokio::test]
async fn partition_values_with_special_characters_round_trip() {
    let lake = TempLake::new();
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("p", DataType::Utf8, true),
        Field::new("d", DataType::Date32, true),
    ]));
    let table = Table::create(lake.table("special"))
        .with_arrow_schema(&schema)
        .unwrap()
        .with_partition_columns(["p", "d"])
        .execute()
        .await
        .unwrap();
    let values = [
        Some("a b"),
        Some("a/b"),
        Some("x=y"),
        Some("100%"),
        Some("ümlaut"),
        Some("a:b#?"),
        None,
        Some(""),
    ];
    let n = values.len();
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from((0..n as i64).collect::<Vec<_>>())),
            Arc::new(StringArray::from(values.to_vec())),
            Arc::new(arrow::array::Date32Array::from(
                (0..n)
                    .map(|i| (i % 3 != 0).then_some(19000 + i as i32))
                    .collect::<Vec<_>>(),
            )),
        ],
    )
    .unwrap();
    table.append([batch.clone()]).await.unwrap();
    let snapshot = table.snapshot().await.unwrap();
    assert_eq!(snapshot.num_files(), n);
    for add in snapshot.files() {
        assert!(
            !add.path().contains("..") && add.path().contains("part-"),
            "{}",
            add.path()
        );
    }
    let read = snapshot.scan().collect().await.unwrap();
    // Delta: an empty-string partition value is null.
    let mut expected_values = values.to_vec();
    expected_values[n - 1] = None;
    let expected = RecordBatch::try_new(
        schema.clone(),
        vec![
            batch.column(0).clone(),
            Arc::new(StringArray::from(expected_values)),
            batch.column(2).clone(),
        ],
    )
    .unwrap();
    assert_same_rows(&read, &[expected], &schema, "special partition values");
}

fn set_mtime(path: &std::path::Path, secs: u64) {
    let file = File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
        .unwrap();
}

#[tokio::test]
async fn time_travel_by_timestamp_uses_monotonic_commit_times() {
    let lake = TempLake::new();
    let table = Table::create(lake.table("tt"))
        .with_arrow_schema(&people_schema())
        .unwrap()
        .execute()
        .await
        .unwrap();
    for k in 0..3 {
        table
            .append([people(k * 10..k * 10 + 1, None)])
            .await
            .unwrap();
    }
    let root = lake.table_path("tt");
    // Version 2's clock ran behind version 1's: Delta adjusts it to v1 + 1 ms.
    for (version, secs) in [(0, 1_000), (1, 2_000), (2, 1_500), (3, 4_000)] {
        set_mtime(&commit_path(&root, version), secs);
    }
    let at = |ms: i64| chrono::DateTime::from_timestamp_millis(ms).unwrap();
    for (ms, version) in [
        (1_000_000, 0),
        (1_999_999, 0),
        (2_000_000, 1),
        (2_000_001, 2),
        (3_999_999, 2),
        (4_000_000, 3),
    ] {
        let snapshot = table.snapshot_at_timestamp(at(ms)).await.unwrap();
        assert_eq!(snapshot.version(), version, "at {ms} ms");
    }
    for ms in [999_999, 4_000_001] {
        let err = table.snapshot_at_timestamp(at(ms)).await.unwrap_err();
        assert!(matches!(err, Error::TimestampOutOfRange { .. }), "{err}");
    }
    let reopened = Table::open(lake.table("tt")).await.unwrap();
    assert_eq!(
        reopened
            .snapshot_at_version(3)
            .await
            .unwrap()
            .timestamp_ms(),
        4_000_000
    );
    assert_eq!(
        reopened
            .snapshot_at_version(1)
            .await
            .unwrap()
            .timestamp_ms(),
        2_000_000
    );
}

#[tokio::test]
async fn a_second_handle_sees_new_commits_on_refresh() {
    let lake = TempLake::new();
    let writer = Table::create(lake.table("r"))
        .with_arrow_schema(&people_schema())
        .unwrap()
        .execute()
        .await
        .unwrap();
    let reader = Table::open(lake.table("r")).await.unwrap();
    let before = reader.snapshot().await.unwrap();
    writer.append([people(0..2, None)]).await.unwrap();
    writer.append([people(2..4, None)]).await.unwrap();
    let after = before.refresh().await.unwrap();
    assert_eq!(
        (before.version(), after.version(), after.num_files()),
        (0, 2, 2)
    );
    assert_eq!(reader.version().await.unwrap(), 2);
}

#[tokio::test]
async fn concurrent_blind_appends_both_land() {
    let lake = TempLake::new();
    let a = Table::create(lake.table("c"))
        .with_arrow_schema(&people_schema())
        .unwrap()
        .execute()
        .await
        .unwrap();
    let b = Table::open(lake.table("c")).await.unwrap();
    let stale = b.snapshot().await.unwrap();
    a.append([people(0..1, None)]).await.unwrap();
    // A transaction on the stale snapshot loses the race for version 1 and is rebased.
    let mut tx = Transaction::new(&stale, "WRITE");
    let add = a.snapshot().await.unwrap().files().next().unwrap().to_add();
    tx.add_actions([Action::Add(Add {
        path: format!("copy-{}", add.path),
        ..add
    })]);
    let result = tx.commit().await.unwrap();
    assert_eq!((result.version, result.attempts), (2, 2));
}

#[tokio::test]
async fn overwrite_on_a_stale_snapshot_conflicts_with_a_concurrent_append() {
    let lake = TempLake::new();
    let a = Table::create(lake.table("o"))
        .with_arrow_schema(&people_schema())
        .unwrap()
        .execute()
        .await
        .unwrap();
    a.append([people(0..1, None)]).await.unwrap();
    let stale = a.snapshot().await.unwrap();
    a.append([people(1..2, None)]).await.unwrap();
    let mut tx = Transaction::new(&stale, "WRITE");
    tx.read_whole_table();
    let removes: Vec<Action> = stale
        .files()
        .map(|f| Action::Remove(strata::actions::Remove::from_add(&f.to_add(), 0, true)))
        .collect();
    tx.add_actions(removes);
    let err = tx.commit().await.unwrap_err();
    match err {
        Error::Conflict {
            version,
            reason: strata::ConflictReason::FilesAdded { .. },
            ..
        } => assert_eq!(version, 2),
        other => panic!("expected a FilesAdded conflict, got {other}"),
    }
    assert_eq!(
        a.version().await.unwrap(),
        2,
        "the conflicting overwrite committed nothing"
    );
}

#[tokio::test]
async fn idempotent_writes_apply_once() {
    let lake = TempLake::new();
    let table = Table::create(lake.table("i"))
        .with_arrow_schema(&people_schema())
        .unwrap()
        .execute()
        .await
        .unwrap();
    let first = table
        .write([people(0..3, None)])
        .with_txn("ingest", 7)
        .execute()
        .await
        .unwrap();
    assert!(!first.already_applied);
    let replay = table
        .write([people(0..3, None)])
        .with_txn("ingest", 7)
        .execute()
        .await
        .unwrap();
    assert!(replay.already_applied);
    assert_eq!(replay.version, first.version);
    let older = table
        .write([people(0..3, None)])
        .with_txn("ingest", 6)
        .execute()
        .await
        .unwrap();
    assert!(older.already_applied);
    let reopened = latest(lake.table("i")).await;
    assert_eq!(
        (
            reopened.txn_version("ingest"),
            reopened.num_records().await.unwrap()
        ),
        (Some(7), Some(3))
    );
}

#[tokio::test]
async fn commit_info_records_provenance() {
    let lake = TempLake::new();
    let table = Table::create(lake.table("ci"))
        .with_arrow_schema(&people_schema())
        .unwrap()
        .execute()
        .await
        .unwrap();
    table
        .write([people(0..4, None)])
        .with_commit_metadata("jobId", "nightly-17")
        .execute()
        .await
        .unwrap();
    table.overwrite([people(0..1, None)]).await.unwrap();
    let snapshot = table.snapshot_at_version(1).await.unwrap();
    let ci = snapshot.commit_info().expect("commitInfo");
    assert_eq!(ci.operation.as_deref(), Some("WRITE"));
    assert_eq!(ci.read_version, Some(0));
    assert_eq!(ci.is_blind_append, Some(true));
    assert!(ci.engine_info.as_deref().unwrap().starts_with("strata/"));
    assert!(ci.txn_id.is_some() && ci.timestamp.is_some());
    assert_eq!(
        ci.extra.get("jobId").and_then(|v| v.as_str()),
        Some("nightly-17")
    );
    let metrics = ci.operation_metrics.as_ref().unwrap();
    assert_eq!(
        metrics.get("numOutputRows").and_then(|v| v.as_u64()),
        Some(4)
    );
    let params = ci.operation_parameters.as_ref().unwrap();
    assert_eq!(params.get("mode").and_then(|v| v.as_str()), Some("Append"));
    let overwrite = table.snapshot_at_version(2).await.unwrap();
    let ci = overwrite.commit_info().unwrap();
    assert_eq!(ci.is_blind_append, Some(false));
    assert_eq!(
        ci.operation_parameters
            .as_ref()
            .unwrap()
            .get("mode")
            .and_then(|v| v.as_str()),
        Some("Overwrite")
    );
}

#[tokio::test]
async fn statistics_cover_the_indexed_columns() {
    let lake = TempLake::new();
    let fields: Vec<Field> = (0..40)
        .map(|i| Field::new(format!("c{i}"), DataType::Int64, true))
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(
        schema.clone(),
        (0..40)
            .map(|i| Arc::new(Int64Array::from(vec![Some(i), None, Some(i + 100)])) as _)
            .collect(),
    )
    .unwrap();
    for (property, want) in [(None, 32), (Some("5"), 5), (Some("-1"), 40)] {
        let mut create = Table::create(lake.table(&format!("s{want}")))
            .with_arrow_schema(&schema)
            .unwrap();
        if let Some(p) = property {
            create = create.with_property("delta.dataSkippingNumIndexedCols", p);
        }
        let table = create.execute().await.unwrap();
        table.append([batch.clone()]).await.unwrap();
        let snapshot = table.snapshot().await.unwrap();
        let stats =
            strata::actions::Stats::parse(snapshot.files().next().unwrap().stats()).unwrap();
        assert_eq!(stats.num_records, Some(3));
        assert_eq!(stats.min_values.len(), want, "property {property:?}");
        assert_eq!(stats.min_values["c1"], serde_json::json!(1));
        assert_eq!(stats.max_values["c1"], serde_json::json!(101));
        assert_eq!(stats.null_count["c1"], serde_json::json!(1));
    }
}

#[tokio::test]
async fn files_roll_at_the_target_size() {
    let lake = TempLake::new();
    let table = Table::create(lake.table("roll"))
        .with_arrow_schema(&people_schema())
        .unwrap()
        .execute()
        .await
        .unwrap();
    let batches: Vec<RecordBatch> = (0..20)
        .map(|k| people(k * 1000..(k + 1) * 1000, Some("PT")))
        .collect();
    let w = table
        .write(batches)
        .with_target_file_size(16 * 1024)
        .with_row_group_rows(1000)
        .execute()
        .await
        .unwrap();
    assert!(
        w.num_files > 2,
        "expected several files, got {}",
        w.num_files
    );
    assert_eq!(w.num_rows, 20_000);
    assert_eq!(ids_at(&table, 1).await, (0..20_000).collect::<Vec<_>>());
}

#[tokio::test]
async fn append_only_tables_refuse_overwrite() {
    let lake = TempLake::new();
    let table = Table::create(lake.table("ao"))
        .with_arrow_schema(&people_schema())
        .unwrap()
        .with_property("delta.appendOnly", "true")
        .execute()
        .await
        .unwrap();
    table.append([people(0..1, None)]).await.unwrap();
    let err = table
        .write([people(0..1, None)])
        .with_mode(WriteMode::Overwrite)
        .execute()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotAllowed { .. }), "{err}");
    assert_eq!(table.version().await.unwrap(), 1);
}

#[tokio::test]
async fn columns_added_later_read_as_null_in_older_files() {
    let lake = TempLake::new();
    let table = Table::create(lake.table("evolve"))
        .with_arrow_schema(&people_schema())
        .unwrap()
        .execute()
        .await
        .unwrap();
    table.append([people(0..2, None)]).await.unwrap();
    // Evolve the schema through the transaction layer: add a nullable `score` column.
    let snapshot = table.snapshot().await.unwrap();
    let mut schema = snapshot.schema().clone();
    schema.fields.push(strata::StructField::new(
        "score",
        strata::PrimitiveType::Double,
        true,
    ));
    let mut metadata = snapshot.metadata().clone();
    metadata.schema_string = schema.to_json_string();
    let mut tx = Transaction::new(&snapshot, "ADD COLUMNS");
    tx.add_actions([Action::Metadata(metadata)]);
    tx.commit().await.unwrap();
    let wide = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("score", DataType::Float64, true),
    ]));
    let batch = RecordBatch::try_new(
        wide,
        vec![
            Arc::new(Int64Array::from(vec![10])),
            Arc::new(arrow::array::Float64Array::from(vec![0.5])),
        ],
    )
    .unwrap();
    table.append([batch]).await.unwrap();
    let read = table
        .snapshot()
        .await
        .unwrap()
        .scan()
        .with_columns(["id", "score"])
        .collect()
        .await
        .unwrap();
    let mut by_id: Vec<(i64, Option<f64>)> = read
        .iter()
        .flat_map(|b| {
            let ids = b.column(0).as_primitive::<Int64Type>().clone();
            let scores = b
                .column(1)
                .as_primitive::<arrow::datatypes::Float64Type>()
                .clone();
            (0..b.num_rows())
                .map(move |i| (ids.value(i), scores.is_valid(i).then(|| scores.value(i))))
        })
        .collect();
    by_id.sort_by_key(|r| r.0);
    assert_eq!(by_id, vec![(0, None), (1, None), (10, Some(0.5))]);
}

/// Writes a Parquet file the way Spark does by default: timestamps as INT96, and a
/// millisecond INT64 timestamp column, with no Arrow schema embedded.
fn write_spark_style_file(path: &std::path::Path, micros: &[i64]) {
    use parquet::data_type::{Int64Type as PqInt64, Int96, Int96Type};
    use parquet::file::writer::SerializedFileWriter;
    let schema = Arc::new(
        parquet::schema::parser::parse_message_type(
            "message spark_schema { required int64 id; optional int96 ts; optional int64 ts_ms (TIMESTAMP(MILLIS,true)); }",
        )
        .unwrap(),
    );
    let mut writer =
        SerializedFileWriter::new(File::create(path).unwrap(), schema, Default::default()).unwrap();
    let mut row_group = writer.next_row_group().unwrap();
    let ids: Vec<i64> = (0..micros.len() as i64).collect();
    let defs = vec![1i16; micros.len()];
    let mut col = row_group.next_column().unwrap().unwrap();
    col.typed::<PqInt64>()
        .write_batch(&ids, None, None)
        .unwrap();
    col.close().unwrap();
    let int96: Vec<Int96> = micros
        .iter()
        .map(|t| {
            let day = t.div_euclid(86_400_000_000);
            let nanos = (t.rem_euclid(86_400_000_000) * 1000) as u64;
            let mut v = Int96::new();
            v.set_data(nanos as u32, (nanos >> 32) as u32, (day + 2_440_588) as u32);
            v
        })
        .collect();
    let mut col = row_group.next_column().unwrap().unwrap();
    col.typed::<Int96Type>()
        .write_batch(&int96, Some(&defs), None)
        .unwrap();
    col.close().unwrap();
    let millis: Vec<i64> = micros.iter().map(|t| t.div_euclid(1000)).collect();
    let mut col = row_group.next_column().unwrap().unwrap();
    col.typed::<PqInt64>()
        .write_batch(&millis, Some(&defs), None)
        .unwrap();
    col.close().unwrap();
    row_group.close().unwrap();
    writer.close().unwrap();
}

#[tokio::test]
async fn int96_and_millisecond_timestamps_read_as_table_timestamps() {
    let lake = TempLake::new();
    let ts = DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, Some("UTC".into()));
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("ts", ts.clone(), true),
        Field::new("ts_ms", ts, true),
    ]));
    let table = Table::create(lake.table("spark"))
        .with_arrow_schema(&schema)
        .unwrap()
        .execute()
        .await
        .unwrap();
    let micros = [1_700_000_000_123_456_i64, -86_400_000_000 - 1_000, 0];
    let file = lake
        .table_path("spark")
        .join("part-00000-spark.c000.snappy.parquet");
    write_spark_style_file(&file, &micros);
    let snapshot = table.snapshot().await.unwrap();
    let mut tx = Transaction::new(&snapshot, "WRITE");
    tx.add_actions([Action::Add(Add {
        path: "part-00000-spark.c000.snappy.parquet".into(),
        partition_values: HashMap::new(),
        size: std::fs::metadata(&file).unwrap().len() as i64,
        modification_time: 0,
        data_change: true,
        stats: None,
        tags: None,
        deletion_vector: None,
        base_row_id: None,
        default_row_commit_version: None,
        clustering_provider: None,
    })]);
    tx.commit().await.unwrap();
    let read = table
        .snapshot()
        .await
        .unwrap()
        .scan()
        .collect()
        .await
        .unwrap();
    assert_eq!(read[0].schema(), schema);
    let got: Vec<(i64, i64)> = read
        .iter()
        .flat_map(|b| {
            let a = b
                .column(1)
                .as_primitive::<TimestampMicrosecondType>()
                .clone();
            let m = b
                .column(2)
                .as_primitive::<TimestampMicrosecondType>()
                .clone();
            (0..b.num_rows()).map(move |i| (a.value(i), m.value(i)))
        })
        .collect();
    let want: Vec<(i64, i64)> = micros
        .iter()
        .map(|t| (*t, t.div_euclid(1000) * 1000))
        .collect();
    assert_eq!(got, want);
}

#[tokio::test]
async fn memory_tables_reopen_within_the_process() {
    let location = format!("memory://roundtrip-{}/tables/t", uuid::Uuid::new_v4());
    let table = Table::create(&location)
        .with_arrow_schema(&people_schema())
        .unwrap()
        .execute()
        .await
        .unwrap();
    table.append([people(0..3, None)]).await.unwrap();
    let reopened = Table::open(&location).await.unwrap();
    assert_eq!(ids_at(&reopened, 1).await, vec![0, 1, 2]);
    let err = Table::create(&location)
        .with_arrow_schema(&people_schema())
        .unwrap()
        .execute()
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::TableExists { version: 1, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn in_commit_timestamps_are_written_monotonic_and_used_for_time_travel() {
    let lake = TempLake::new();
    let table = Table::create(lake.table("ict"))
        .with_arrow_schema(&people_schema())
        .unwrap()
        .with_property("delta.enableInCommitTimestamps", "true")
        .execute()
        .await
        .unwrap();
    let protocol = table.snapshot().await.unwrap().protocol().clone();
    assert_eq!(protocol.min_writer_version, 7);
    assert!(
        protocol
            .writer_features
            .unwrap()
            .contains(&"inCommitTimestamp".to_string())
    );
    for k in 0..3 {
        table.append([people(k..k + 1, None)]).await.unwrap();
    }
    let reopened = Table::open(lake.table("ict")).await.unwrap();
    let mut icts = Vec::new();
    for v in 0..=3 {
        let s = reopened.snapshot_at_version(v).await.unwrap();
        let ict = s
            .commit_info()
            .and_then(|c| c.in_commit_timestamp)
            .expect("inCommitTimestamp");
        assert_eq!(
            s.timestamp_ms(),
            ict,
            "the snapshot timestamp is the in-commit timestamp"
        );
        icts.push(ict);
    }
    assert!(
        icts.windows(2).all(|w| w[0] < w[1]),
        "strictly increasing: {icts:?}"
    );
    // File modification times no longer matter: scramble them.
    for v in 0..=3 {
        set_mtime(
            &commit_path(&lake.table_path("ict"), v),
            1_000 + (3 - v as u64) * 1_000,
        );
    }
    let at = |ms: i64| chrono::DateTime::from_timestamp_millis(ms).unwrap();
    for (v, ict) in icts.iter().enumerate() {
        assert_eq!(
            reopened
                .snapshot_at_timestamp(at(*ict))
                .await
                .unwrap()
                .version(),
            v as i64
        );
    }
    let err = reopened
        .snapshot_at_timestamp(at(icts[3] + 1))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TimestampOutOfRange { .. }), "{err}");
    let err = reopened
        .snapshot_at_timestamp(at(icts[0] - 1))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TimestampOutOfRange { .. }), "{err}");
}

#[tokio::test]
async fn checkpoints_are_written_every_checkpoint_interval_commits() {
    let lake = TempLake::new();
    let table = Table::create(lake.table("auto"))
        .with_arrow_schema(&people_schema())
        .unwrap()
        .with_property("delta.checkpointInterval", "5")
        .execute()
        .await
        .unwrap();
    for k in 0..11 {
        table.append([people(k..k + 1, None)]).await.unwrap();
    }
    let log = lake.table_path("auto").join("_delta_log");
    for v in [5, 10] {
        assert!(
            log.join(format!("{v:020}.checkpoint.parquet")).exists(),
            "checkpoint at {v}"
        );
    }
    assert!(!log.join(format!("{:020}.checkpoint.parquet", 11)).exists());
    let hint: serde_json::Value =
        serde_json::from_slice(&std::fs::read(log.join("_last_checkpoint")).unwrap()).unwrap();
    assert_eq!(hint["version"], 10);
    // Reading through the checkpoint gives the same table.
    for v in 0..=5 {
        std::fs::remove_file(commit_path(&lake.table_path("auto"), v)).unwrap();
    }
    let reopened = Table::open(lake.table("auto")).await.unwrap();
    assert_eq!(ids_at(&reopened, 11).await, (0..11).collect::<Vec<_>>());
    assert_eq!(ids_at(&reopened, 7).await, (0..7).collect::<Vec<_>>());
}
