//! Bad input gets a typed error naming the file or version, never a panic, and loses nothing.

use std::io::Write;
use std::sync::Arc;

use arrow::array::{RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use strata::{Error, Table};

use crate::support::*;

/// A table with versions 0..=2 (create + two appends).
async fn three_versions(lake: &TempLake, name: &str) -> Table {
    let table = Table::create(lake.table(name))
        .with_arrow_schema(&people_schema())
        .unwrap()
        .execute()
        .await
        .unwrap();
    table.append([people(0..2, None)]).await.unwrap();
    table.append([people(2..4, None)]).await.unwrap();
    table
}

fn append_line(path: &std::path::Path, line: &str) {
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    writeln!(f, "{line}").unwrap();
}

#[tokio::test]
async fn a_path_that_is_not_a_table() {
    let lake = TempLake::new();
    std::fs::create_dir_all(lake.table_path("empty/_delta_log")).unwrap();
    for location in [lake.table("missing"), lake.table("empty")] {
        let err = Table::open(&location).await.unwrap_err();
        assert!(
            matches!(&err, Error::NotATable { location: l } if l == &location),
            "{err}"
        );
        assert!(err.to_string().contains(&location));
    }
}

#[tokio::test]
async fn corrupt_and_truncated_commits_name_file_version_and_line() {
    let lake = TempLake::new();
    three_versions(&lake, "corrupt").await;
    let root = lake.table_path("corrupt");
    append_line(
        &commit_path(&root, 2),
        "{\"add\": {\"path\": \"x.parquet\", \"size\": 1",
    );
    let err = Table::open(lake.table("corrupt")).await.unwrap_err();
    match &err {
        Error::CorruptLog {
            path,
            version,
            line,
            ..
        } => {
            assert!(path.ends_with("00000000000000000002.json"), "{path}");
            // The path as the table was named: absolute, with its leading `/`.
            let expected = root.join("_delta_log/00000000000000000002.json");
            assert_eq!(path, expected.to_str().unwrap());
            assert_eq!((*version, *line), (2, 3));
        }
        other => panic!("expected CorruptLog, got {other}"),
    }
    // Earlier versions still read: nothing was lost.
    let table = Table::open_storage(
        strata::Storage::open(&lake.table("corrupt"), &Default::default()).unwrap(),
    )
    .await;
    assert!(table.is_err());
    let storage = strata::Storage::open(&lake.table("corrupt"), &Default::default()).unwrap();
    let v1 = strata::Snapshot::load(&storage, Some(1)).await.unwrap();
    assert_eq!(v1.num_records().await.unwrap(), Some(2));

    // A commit truncated mid-line (a torn write by a non-atomic store).
    three_versions(&lake, "torn").await;
    let path = commit_path(&lake.table_path("torn"), 1);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let err = Table::open(lake.table("torn")).await.unwrap_err();
    assert!(matches!(err, Error::CorruptLog { version: 1, .. }), "{err}");

    // Not UTF-8 at all.
    three_versions(&lake, "binary").await;
    std::fs::write(
        commit_path(&lake.table_path("binary"), 2),
        [0xff, 0xfe, 0x00, 0x81],
    )
    .unwrap();
    let err = Table::open(lake.table("binary")).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::CorruptLog {
                version: 2,
                line: 1,
                ..
            }
        ),
        "{err}"
    );

    // A bad byte after valid lines: the line it is on, and where (not "line 0").
    three_versions(&lake, "latin1").await;
    let path = commit_path(&lake.table_path("latin1"), 2);
    let mut bytes = std::fs::read(&path).unwrap();
    let lines = bytes.iter().filter(|&&b| b == b'\n').count();
    let offset = bytes.len() + 9;
    bytes.extend_from_slice(b"{\"x\":\"caf\xe9\"}\n");
    std::fs::write(&path, &bytes).unwrap();
    let err = Table::open(lake.table("latin1")).await.unwrap_err();
    match &err {
        Error::CorruptLog {
            version: 2,
            line,
            reason,
            ..
        } => {
            assert_eq!(*line, lines + 1, "{err}");
            assert!(reason.contains(&format!("offset {offset}")), "{err}");
            assert!(reason.contains("byte 0xe9"), "{err}");
            assert!(reason.contains("byte 10 of the line"), "{err}");
        }
        other => panic!("expected CorruptLog, got {other}"),
    }
    assert!(
        err.to_string().contains(&format!("line {}", lines + 1)),
        "{err}"
    );
}

#[tokio::test]
async fn non_contiguous_versions_are_refused() {
    let lake = TempLake::new();
    three_versions(&lake, "gap").await;
    std::fs::remove_file(commit_path(&lake.table_path("gap"), 1)).unwrap();
    let err = Table::open(lake.table("gap")).await.unwrap_err();
    assert!(
        matches!(err, Error::MissingVersion { missing: 1, .. }),
        "{err}"
    );
    let storage = strata::Storage::open(&lake.table("gap"), &Default::default()).unwrap();
    assert_eq!(
        strata::Snapshot::load(&storage, Some(0))
            .await
            .unwrap()
            .version(),
        0,
        "version 0 still reads"
    );
}

#[tokio::test]
async fn missing_protocol_or_metadata() {
    let lake = TempLake::new();
    for (name, keep) in [("noproto", "metaData"), ("nometa", "protocol")] {
        let root = lake.table_path(name);
        std::fs::create_dir_all(root.join("_delta_log")).unwrap();
        let mut lines = vec![r#"{"commitInfo":{"operation":"CREATE TABLE"}}"#.to_string()];
        if keep == "metaData" {
            lines.push(format!(
                r#"{{"metaData":{{"id":"x","format":{{"provider":"parquet","options":{{}}}},"schemaString":{},"partitionColumns":[],"configuration":{{}}}}}}"#,
                serde_json::to_string(&strata::StructType::try_from_arrow(&people_schema()).unwrap().to_json_string()).unwrap()
            ));
        } else {
            lines.push(r#"{"protocol":{"minReaderVersion":1,"minWriterVersion":2}}"#.into());
        }
        std::fs::write(commit_path(&root, 0), lines.join("\n")).unwrap();
        let err = Table::open(lake.table(name)).await.unwrap_err();
        let expected = if keep == "metaData" {
            "protocol"
        } else {
            "metaData"
        };
        assert!(
            matches!(&err, Error::MissingAction { version: 0, action, .. } if *action == expected),
            "{err}"
        );
    }
}

#[tokio::test]
async fn unsupported_reader_and_writer_features_are_named() {
    let lake = TempLake::new();
    three_versions(&lake, "dv").await;
    append_line(
        &commit_path(&lake.table_path("dv"), 2),
        r#"{"protocol":{"minReaderVersion":3,"minWriterVersion":7,"readerFeatures":["variantShredding-preview","futureFeature"],"writerFeatures":["variantShredding-preview","futureFeature"]}}"#,
    );
    let err = Table::open(lake.table("dv")).await.unwrap_err();
    match &err {
        Error::UnsupportedReaderFeatures {
            features,
            reader_version: 3,
            ..
        } => {
            assert_eq!(
                features,
                &vec![
                    "futureFeature".to_string(),
                    "variantShredding-preview".to_string()
                ]
            );
        }
        other => panic!("expected UnsupportedReaderFeatures, got {other}"),
    }
    assert!(err.to_string().contains("variantShredding-preview"));

    // Another writer upgrades the protocol (a new commit); this handle learns of it on refresh.
    let table = three_versions(&lake, "rt").await;
    std::fs::write(
        commit_path(&lake.table_path("rt"), 3),
        r#"{"protocol":{"minReaderVersion":1,"minWriterVersion":7,"writerFeatures":["icebergCompatV2"]}}"#,
    )
    .unwrap();
    let reopened = Table::open(lake.table("rt"))
        .await
        .expect("reading needs no writer features");
    assert_eq!(
        reopened
            .snapshot()
            .await
            .unwrap()
            .num_records()
            .await
            .unwrap(),
        Some(4)
    );
    let err = table.append([people(9..10, None)]).await.unwrap_err();
    assert!(
        matches!(&err, Error::UnsupportedWriterFeatures { features, .. } if features == &vec!["icebergCompatV2".to_string()]),
        "{err}"
    );
    assert_eq!(reopened.version().await.unwrap(), 3, "nothing committed");

    let table = three_versions(&lake, "v9").await;
    append_line(
        &commit_path(&lake.table_path("v9"), 2),
        r#"{"protocol":{"minReaderVersion":9,"minWriterVersion":9}}"#,
    );
    assert!(matches!(
        Table::open(lake.table("v9")).await,
        Err(Error::UnsupportedReaderFeatures { .. })
    ));
    drop(table);
}

#[tokio::test]
async fn a_mismatched_append_commits_nothing_and_writes_no_files() {
    let lake = TempLake::new();
    let table = three_versions(&lake, "schema").await;
    let files_before = count_files(&lake.table_path("schema"));
    let wrong = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("extra", DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(
        wrong,
        vec![
            Arc::new(StringArray::from(vec!["1"])),
            Arc::new(StringArray::from(vec!["x"])),
        ],
    )
    .unwrap();
    let err = table.append([batch]).await.unwrap_err();
    match &err {
        Error::SchemaMismatch { problems, .. } => {
            assert_eq!(problems.len(), 2, "both problems reported: {problems:?}")
        }
        other => panic!("expected SchemaMismatch, got {other}"),
    }
    // A null in a non-nullable column is refused too.
    let nulls = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, true)]));
    let batch = RecordBatch::try_new(
        nulls,
        vec![Arc::new(arrow::array::Int64Array::from(vec![
            Some(1),
            None,
        ]))],
    )
    .unwrap();
    assert!(matches!(
        table.append([batch]).await,
        Err(Error::SchemaMismatch { .. })
    ));
    assert_eq!(table.version().await.unwrap(), 2);
    assert_eq!(
        count_files(&lake.table_path("schema")),
        files_before,
        "no data files were written"
    );
}

fn count_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                count_files(&e.path())
            } else {
                1
            }
        })
        .sum()
}

#[tokio::test]
async fn empty_stale_or_garbage_last_checkpoint_still_opens() {
    let lake = TempLake::new();
    three_versions(&lake, "hint").await;
    let hint = lake.table_path("hint").join("_delta_log/_last_checkpoint");
    for content in [
        "",
        "{not json",
        r#"{"version":1,"size":3}"#,
        r#"{"version":99}"#,
    ] {
        std::fs::write(&hint, content).unwrap();
        let table = Table::open(lake.table("hint"))
            .await
            .unwrap_or_else(|e| panic!("hint {content:?}: {e}"));
        let snapshot = table.snapshot().await.unwrap();
        assert_eq!(
            (snapshot.version(), snapshot.num_records().await.unwrap()),
            (2, Some(4)),
            "hint {content:?}"
        );
    }
}

#[tokio::test]
async fn paths_escaping_the_table_root_are_refused() {
    let lake = TempLake::new();
    let table = three_versions(&lake, "escape").await;
    std::fs::write(lake.path().join("secret.parquet"), b"not yours").unwrap();
    std::fs::write(
        commit_path(&lake.table_path("escape"), 3),
        r#"{"add":{"path":"../secret.parquet","partitionValues":{},"size":9,"modificationTime":0,"dataChange":true}}"#,
    )
    .unwrap();
    let snapshot = table.snapshot().await.unwrap();
    let err = snapshot.scan().collect().await.unwrap_err();
    assert!(
        matches!(&err, Error::PathEscapesTable { path, version: 3, .. } if path == "../secret.parquet"),
        "{err}"
    );
}

#[tokio::test]
async fn unknown_actions_fields_and_files_are_tolerated() {
    let lake = TempLake::new();
    let table = three_versions(&lake, "tolerant").await;
    let root = lake.table_path("tolerant");
    append_line(&commit_path(&root, 2), r#"{"futureAction":{"x":1}}"#);
    std::fs::write(root.join("_delta_log/00000000000000000002.crc"), "{}").unwrap();
    std::fs::write(
        root.join("_delta_log/.00000000000000000003.json.tmp"),
        "garbage",
    )
    .unwrap();
    std::fs::write(
        root.join("_delta_log/00000000000000000000.00000000000000000001.compacted.json"),
        "garbage",
    )
    .unwrap();
    let snapshot = latest(lake.table("tolerant")).await;
    assert_eq!(
        (snapshot.version(), snapshot.num_records().await.unwrap()),
        (2, Some(4))
    );
    drop(table);
}

#[tokio::test]
async fn requesting_a_version_that_does_not_exist() {
    let lake = TempLake::new();
    let table = three_versions(&lake, "v").await;
    for v in [3, 100, -1] {
        let err = table.snapshot_at_version(v).await.unwrap_err();
        assert!(
            matches!(
                err,
                Error::VersionNotFound {
                    earliest: 0,
                    latest: 2,
                    ..
                }
            ),
            "{err}"
        );
    }
    let err = table
        .snapshot()
        .await
        .unwrap()
        .scan()
        .with_columns(["nope"])
        .collect()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
}

/// A Delta Live Tables table's first `metaData` has no `schemaString`; a later one sets it. The
/// table reads (as delta-rs reads it); only the version without a schema is refused, by name.
#[tokio::test]
async fn a_superseded_metadata_without_a_schema_does_not_fail_the_table() {
    let lake = TempLake::new();
    let table = three_versions(&lake, "dlt").await;
    let log = lake.table_path("dlt").join("_delta_log");
    let v0 = std::fs::read_to_string(log.join("00000000000000000000.json")).unwrap();
    let stripped: String = v0
        .lines()
        .map(|line| {
            let mut value: serde_json::Value = serde_json::from_str(line).unwrap();
            if let Some(meta) = value.get_mut("metaData").and_then(|m| m.as_object_mut()) {
                meta.remove("schemaString");
                meta.remove("id");
            }
            format!("{value}\n")
        })
        .collect();
    std::fs::write(log.join("00000000000000000000.json"), stripped).unwrap();
    // Version 1 carries the full metaData, as the DLT table's next commit does.
    let full = v0.lines().find(|l| l.contains("\"metaData\"")).unwrap();
    append_line(&log.join("00000000000000000001.json"), full);
    let reopened = Table::open(lake.table("dlt")).await.unwrap();
    assert_eq!(
        snapshot_ids(&reopened.snapshot().await.unwrap()).await,
        vec![0, 1, 2, 3]
    );
    let err = table.snapshot_at_version(0).await.unwrap_err();
    assert!(
        matches!(&err, Error::MissingAction { version: 0, .. })
            && err.to_string().contains("schemaString"),
        "{err}"
    );
}

/// A commitInfo nested deeper than the JSON parser goes (another writer's user metadata) does
/// not make the table unreadable: it reads as an empty commitInfo, as deltalake and DuckDB
/// read such tables.
#[tokio::test]
async fn a_commit_info_nested_too_deep_does_not_block_reads() {
    let lake = TempLake::new();
    let table = three_versions(&lake, "deep").await;
    let before = scan_rows(&table.snapshot().await.unwrap()).await;
    let log = lake.table_path("deep").join("_delta_log");
    let deep = format!(
        "{{\"commitInfo\":{{\"operation\":\"WRITE\",\"userMetadata\":{}0{}}}}}\n",
        "[".repeat(500),
        "]".repeat(500)
    );
    std::fs::write(log.join(format!("{:020}.json", 3)), deep).unwrap();
    let reopened = Table::open(lake.table("deep")).await.unwrap();
    let snapshot = reopened.snapshot().await.unwrap();
    assert_eq!(snapshot.version(), 3);
    assert_eq!(scan_rows(&snapshot).await, before);
    let history = reopened.history(Some(1)).await.unwrap();
    assert_eq!(
        (history[0].version, history[0].operation.as_deref()),
        (3, None)
    );
    // And the table takes the next commit.
    reopened.append([people(4..6, None)]).await.unwrap();
    assert_eq!(reopened.version().await.unwrap(), 4);
}

/// The data files a commit adds, as paths relative to the table root.
fn added_files(table: &std::path::Path, version: i64) -> Vec<String> {
    std::fs::read_to_string(commit_path(table, version))
        .unwrap()
        .lines()
        .filter_map(|line| {
            let action: serde_json::Value = serde_json::from_str(line).unwrap();
            action["add"]["path"].as_str().map(str::to_string)
        })
        .collect()
}

/// Scans the latest version, expecting a bad data file of `version` named `file`.
async fn bad_data_file(table: &Table, file: &str, version: i64) -> (Error, String) {
    let snapshot = table.snapshot().await.unwrap();
    let err = snapshot.scan().collect().await.unwrap_err();
    let text = err.to_string();
    match &err {
        Error::BadDataFile {
            path, version: v, ..
        } => {
            assert!(path.starts_with('/') && path.ends_with(file), "{text}");
            assert_eq!(*v, version, "{text}");
        }
        other => panic!("expected BadDataFile, got {other:?}"),
    }
    assert!(
        text.contains(file) && text.contains(&format!("version {version}")),
        "{text}"
    );
    assert!(text.contains("restore the file from a backup"), "{text}");
    (err, text)
}

#[tokio::test]
async fn a_bad_data_file_is_named_with_its_version_and_what_is_wrong() {
    let lake = TempLake::new();

    // A file of another size than the log records: named as such, not "EOF: metadata
    // requires … bytes".
    let table = three_versions(&lake, "resized").await;
    let root = lake.table_path("resized");
    let file = added_files(&root, 2).remove(0);
    let data = root.join(&file);
    let logged = std::fs::metadata(&data).unwrap().len();
    let bytes = std::fs::read(&data).unwrap();
    std::fs::write(&data, &bytes[..bytes.len() - 100]).unwrap();
    let (err, text) = bad_data_file(&table, &file, 2).await;
    match err {
        Error::BadDataFile {
            problem: strata::DataFileProblem::SizeMismatch { expected, actual },
            ..
        } => assert_eq!((expected, actual), (logged, logged - 100)),
        other => panic!("expected a size mismatch, got {other:?}"),
    }
    assert!(
        text.contains("differs from the size the log records"),
        "{text}"
    );
    // (A file only extended after its commit still reads: the footer is found at the logged
    // size, and the bytes before it are intact. The size is checked when a read fails, not
    // with a HEAD request per file.)

    // The right size, but not Parquet: the decoder's complaint, with the file and version.
    let mut garbled = bytes.clone();
    let n = garbled.len();
    garbled[n - 12..].fill(0x55);
    std::fs::write(&data, &garbled).unwrap();
    let (err, text) = bad_data_file(&table, &file, 2).await;
    assert!(
        matches!(
            err,
            Error::BadDataFile {
                problem: strata::DataFileProblem::Parquet(_),
                ..
            }
        ),
        "{text}"
    );
    assert!(text.contains("not readable Parquet"), "{text}");

    // A Parquet file whose `id` is text that does not cast to the table's long.
    let table = three_versions(&lake, "retyped").await;
    let root = lake.table_path("retyped");
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("name", DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(vec!["seven"])),
            Arc::new(StringArray::from(vec!["x"])),
        ],
    )
    .unwrap();
    let mut buffer = Vec::new();
    let mut writer = parquet::arrow::ArrowWriter::try_new(&mut buffer, schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    std::fs::write(root.join("foreign.parquet"), &buffer).unwrap();
    std::fs::write(
        commit_path(&root, 3),
        format!(
            r#"{{"add":{{"path":"foreign.parquet","partitionValues":{{}},"size":{},"modificationTime":0,"dataChange":true}}}}"#,
            buffer.len()
        ),
    )
    .unwrap();
    let (err, text) = bad_data_file(&table, "foreign.parquet", 3).await;
    assert!(
        matches!(
            err,
            Error::BadDataFile {
                problem: strata::DataFileProblem::Schema(_),
                ..
            }
        ),
        "{text}"
    );
    assert!(
        text.contains("do not convert to the table's schema") && text.contains("seven"),
        "{text}"
    );
}
