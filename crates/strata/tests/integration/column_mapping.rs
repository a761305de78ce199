//! Column mapping: tables Spark wrote in `name` and `id` mode read exactly as DuckDB's
//! `delta_scan` and deltalake read them at every version, with logical names everywhere a user
//! sees them, and filters on mapped columns prune by statistics keyed by physical names. Tables
//! strata writes (created with a mapping mode, or Spark's, appended to, optimized, overwritten
//! and restored) hold physical names (and field ids in `id` mode) in files, partition values
//! and statistics, and read the same in every client at every version.

use strata::Table;

use crate::deletion_vectors::spark_fixture;
use crate::support::python::read_with;
use crate::support::*;

async fn assert_every_version_reads_like_duckdb(location: &str) {
    assert_every_version_reads_like(location, &["duckdb", "deltalake"]).await;
}

/// Every version reads in strata as each of `clients` reads it.
async fn assert_every_version_reads_like(location: &str, clients: &[&str]) {
    let table = Table::open(location).await.unwrap();
    let latest = table.version().await.unwrap();
    for version in 0..=latest {
        let snapshot = table.snapshot_at_version(version).await.unwrap();
        let context = format!("{location} at version {version}");
        let ours = snapshot
            .scan()
            .collect()
            .await
            .unwrap_or_else(|e| panic!("{context}: {e}"));
        let schema = snapshot.arrow_schema();
        for client in clients {
            assert_same_rows(
                &ours,
                &read_with(client, location, Some(version)),
                &schema,
                &format!("{context} ({client})"),
            );
        }
    }
}

#[tokio::test]
async fn name_and_id_mode_tables_read_with_logical_names_as_other_clients_read_them() {
    for name in ["cdf-column-mapping-name-mode", "cdf-column-mapping-id-mode"] {
        let location = spark_fixture(name);
        let location = location.to_str().unwrap();
        assert_every_version_reads_like_duckdb(location).await;
        let snapshot = latest(location).await;
        let names: Vec<&str> = snapshot.schema().field_names().collect();
        assert_eq!(names, ["id", "name", "value"], "{name}");
        let batches = snapshot
            .scan()
            .with_columns(["name", "id"])
            .collect()
            .await
            .unwrap();
        let schema = batches[0].schema();
        let columns: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(
            columns,
            ["name", "id"],
            "{name}: logical names in the output"
        );
    }
}

#[tokio::test]
async fn filters_on_mapped_columns_prune_by_physical_statistics() {
    for name in ["cdf-column-mapping-name-mode", "cdf-column-mapping-id-mode"] {
        let location = spark_fixture(name);
        let snapshot = latest(location.to_str().unwrap()).await;
        // Id 2 is in both tables at their latest version, in one of three files.
        let plan = snapshot.scan().with_filter("id = 2").plan().await.unwrap();
        let rows = plan.collect().await.unwrap();
        assert_eq!(num_rows(&rows), 1, "{name}");
        assert_eq!(
            plan.metrics().files_to_read,
            1,
            "{name}: {:?}",
            plan.metrics()
        );
        assert!(
            plan.metrics().files_pruned_by_stats >= 2,
            "{name}: {:?}",
            plan.metrics()
        );
    }
}

#[tokio::test]
async fn spark_mapped_tables_take_appends_overwrites_optimize_and_restore_readable_by_every_client()
{
    for name in ["cdf-column-mapping-name-mode", "cdf-column-mapping-id-mode"] {
        let lake = TempLake::new();
        let path = crate::deletion_vectors::copy_fixture(&lake, name);
        let location = path.to_str().unwrap();
        let table = Table::open(location).await.unwrap();
        let first = table.version().await.unwrap();
        let rows = table
            .snapshot()
            .await
            .unwrap()
            .scan()
            .collect()
            .await
            .unwrap();
        table.append(rows.clone()).await.unwrap();
        table.optimize().execute().await.unwrap();
        table.overwrite(rows.clone()).await.unwrap();
        table.restore_to_version(first + 1).await.unwrap();
        table.checkpoint().await.unwrap();
        let snapshot = table.snapshot().await.unwrap();
        assert_eq!(
            num_rows(&snapshot.scan().collect().await.unwrap()),
            2 * num_rows(&rows),
            "{name}"
        );
        // Filters still prune by the statistics strata wrote under physical names.
        let plan = snapshot.scan().with_filter("id = 2").plan().await.unwrap();
        assert_eq!(num_rows(&plan.collect().await.unwrap()), 2, "{name}");
        assert!(
            plan.metrics().files_pruned_by_stats > 0,
            "{name}: {:?}",
            plan.metrics()
        );
        assert_every_version_reads_like_duckdb(location).await;
        // A zero-retention vacuum keeps what the latest version reads, under physical names.
        table
            .vacuum()
            .with_retention_ms(0)
            .with_force(true)
            .execute()
            .await
            .unwrap();
        let latest = table.version().await.unwrap();
        let snapshot = table.snapshot().await.unwrap();
        let ours = snapshot.scan().collect().await.unwrap();
        for client in ["duckdb", "deltalake"] {
            assert_same_rows(
                &ours,
                &read_with(client, location, Some(latest)),
                &snapshot.arrow_schema(),
                &format!("{name} after vacuum ({client})"),
            );
        }
    }
}

/// The Parquet schema of a data file: (name, field id) of every leaf and group, depth first.
fn parquet_columns(file: &std::path::Path) -> Vec<(String, Option<i32>)> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let reader = SerializedFileReader::new(std::fs::File::open(file).unwrap()).unwrap();
    let mut out = Vec::new();
    fn walk(t: &parquet::schema::types::Type, out: &mut Vec<(String, Option<i32>)>) {
        for field in t.get_fields() {
            let info = field.get_basic_info();
            out.push((info.name().to_string(), info.has_id().then(|| info.id())));
            if field.is_group() {
                walk(field, out);
            }
        }
    }
    walk(reader.metadata().file_metadata().schema(), &mut out);
    out
}

#[tokio::test]
async fn tables_strata_creates_with_column_mapping_write_physical_names_and_field_ids() {
    use arrow::array::{Int64Array, RecordBatch, StringArray, StructArray};
    use arrow::datatypes::{DataType, Field, Fields};
    use std::sync::Arc;

    for (mode, partitioned) in [("name", false), ("id", false), ("name", true), ("id", true)] {
        let lake = TempLake::new();
        let location = lake.table(mode);
        let mode_context = format!("{mode} mode, partitioned: {partitioned}");
        let point = Fields::from(vec![
            Field::new("x", DataType::Int64, true),
            Field::new("label", DataType::Utf8, true),
        ]);
        let schema = Arc::new(arrow::datatypes::Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("country", DataType::Utf8, true),
            Field::new("point", DataType::Struct(point.clone()), true),
        ]));
        let batch = |ids: std::ops::Range<i64>, country: &str| {
            let n = ids.clone().count();
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(Int64Array::from_iter_values(ids.clone())),
                    Arc::new(StringArray::from(vec![country; n])),
                    Arc::new(StructArray::new(
                        point.clone(),
                        vec![
                            Arc::new(Int64Array::from_iter_values(ids.clone().map(|i| i * 10))),
                            Arc::new(StringArray::from_iter_values(ids.map(|i| format!("p{i}")))),
                        ],
                        None,
                    )),
                ],
            )
            .unwrap()
        };
        let table = Table::create(location.as_str())
            .with_arrow_schema(&schema)
            .unwrap()
            .with_partition_columns(if partitioned { vec!["country"] } else { vec![] })
            .with_property("delta.columnMapping.mode", mode)
            .with_property("delta.dataSkippingStatsColumns", "id,point.x")
            .execute()
            .await
            .unwrap();
        table
            .append([batch(0..5, "PT"), batch(5..8, "ES")])
            .await
            .unwrap();
        table.append([batch(8..10, "PT")]).await.unwrap();
        table.optimize().execute().await.unwrap();
        table.overwrite([batch(20..25, "FR")]).await.unwrap();
        // Back to before the optimize, so that statistics have files to prune.
        table.restore_to_version(2).await.unwrap();
        table.checkpoint().await.unwrap();
        let snapshot = table.snapshot().await.unwrap();
        assert_eq!(
            snapshot_ids(&snapshot).await,
            (0..10).collect::<Vec<_>>(),
            "{mode_context}"
        );
        let configuration = &snapshot.metadata().configuration;
        assert_eq!(
            configuration["delta.columnMapping.maxColumnId"], "5",
            "{mode_context}"
        );
        assert_eq!(
            (
                snapshot.protocol().min_reader_version,
                snapshot.protocol().min_writer_version
            ),
            (2, 5),
            "{mode_context}"
        );
        // Files, partition values and statistics use physical names; id mode adds field ids.
        for file in snapshot.files() {
            let add = file.to_add();
            assert!(
                add.partition_values.keys().all(|k| k.starts_with("col-")),
                "{mode_context}: {add:?}"
            );
            let stats: serde_json::Value =
                serde_json::from_str(add.stats.as_deref().unwrap()).unwrap();
            let keys: Vec<&String> = stats["minValues"].as_object().unwrap().keys().collect();
            assert_eq!(keys.len(), 2, "{mode_context}: {stats}");
            assert!(
                keys.iter().all(|k| k.starts_with("col-")),
                "{mode_context}: {stats}"
            );
            let columns = parquet_columns(
                &lake
                    .table_path(mode)
                    .join(strata::paths::decode_path(&add.path)),
            );
            assert_eq!(
                columns.len(),
                if partitioned { 4 } else { 5 },
                "{mode_context}: {columns:?}"
            );
            for (name, id) in &columns {
                assert!(name.starts_with("col-"), "{mode_context}: {columns:?}");
                assert!(id.is_some(), "{mode_context}: {columns:?}");
            }
        }
        let plan = snapshot
            .scan()
            .with_filter("point.x >= 80")
            .plan()
            .await
            .unwrap();
        assert_eq!(
            num_rows(&plan.collect().await.unwrap()),
            2,
            "{mode_context}"
        );
        assert!(
            plan.metrics().files_pruned_by_stats > 0,
            "{mode_context}: {:?}",
            plan.metrics()
        );
        if partitioned {
            // DuckDB's delta extension reads partition columns of mapped tables as nulls: it
            // looks partition values up by logical name where the spec keys them by physical
            // name (duckdb/duckdb-delta#343, open). deltalake follows the spec.
            assert_every_version_reads_like(&location, &["deltalake"]).await;
        } else {
            assert_every_version_reads_like_duckdb(&location).await;
        }
    }
}

/// A table in `id` mode whose data file names every column differently from the schema's
/// physical names (as after a rename) but carries the right Parquet field ids, nested struct
/// fields inside structs, arrays and maps included.
fn write_id_mode_table(root: &std::path::Path, file_has_ids: bool) {
    use std::collections::HashMap;
    use std::sync::Arc;

    use arrow::array::{
        ArrayRef, Int32Array, Int64Array, ListArray, MapArray, RecordBatch, StringArray,
        StructArray,
    };
    use arrow::buffer::OffsetBuffer;
    use arrow::datatypes::{DataType, Field, Fields, Schema};

    let field = |file_name: &str, physical: &str, id: i32, data_type: DataType| {
        let (name, key) = match file_has_ids {
            true => (file_name, Some(id.to_string())),
            false => (physical, None),
        };
        let metadata: HashMap<String, String> = key
            .into_iter()
            .map(|id| ("PARQUET:field_id".to_string(), id))
            .collect();
        Field::new(name, data_type, true).with_metadata(metadata)
    };
    let s_fields: Fields = vec![
        field("old-3", "col-3", 3, DataType::Int32),
        field("old-4", "col-4", 4, DataType::Utf8),
    ]
    .into();
    let x_fields: Fields = vec![field("old-6", "col-6", 6, DataType::Int64)].into();
    let y_fields: Fields = vec![field("old-8", "col-8", 8, DataType::Int64)].into();
    let element = Arc::new(Field::new(
        "element",
        DataType::Struct(x_fields.clone()),
        true,
    ));
    let entries = Arc::new(Field::new(
        "key_value",
        DataType::Struct(
            vec![
                Field::new("key", DataType::Utf8, false),
                Field::new("value", DataType::Struct(y_fields.clone()), true),
            ]
            .into(),
        ),
        false,
    ));
    let schema = Arc::new(Schema::new(vec![
        field("old-1", "col-1", 1, DataType::Int64),
        field("old-2", "col-2", 2, DataType::Struct(s_fields.clone())),
        field("old-5", "col-5", 5, DataType::List(element.clone())),
        field("old-7", "col-7", 7, DataType::Map(entries.clone(), false)),
    ]));
    let s = StructArray::new(
        s_fields,
        vec![
            Arc::new(Int32Array::from(vec![10, 20])) as ArrayRef,
            Arc::new(StringArray::from(vec!["p", "q"])),
        ],
        None,
    );
    let xs = StructArray::new(
        x_fields,
        vec![Arc::new(Int64Array::from(vec![7, 8, 9])) as ArrayRef],
        None,
    );
    let list = ListArray::new(
        element,
        OffsetBuffer::new(vec![0, 2, 3].into()),
        Arc::new(xs),
        None,
    );
    let ys = StructArray::new(
        y_fields,
        vec![Arc::new(Int64Array::from(vec![5, 6])) as ArrayRef],
        None,
    );
    let map_entries = StructArray::new(
        match entries.data_type() {
            DataType::Struct(f) => f.clone(),
            _ => unreachable!(),
        },
        vec![
            Arc::new(StringArray::from(vec!["k", "l"])) as ArrayRef,
            Arc::new(ys),
        ],
        None,
    );
    let map = MapArray::new(
        entries,
        OffsetBuffer::new(vec![0, 1, 2].into()),
        map_entries,
        None,
        false,
    );
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from(vec![1, 2])),
            Arc::new(s),
            Arc::new(list),
            Arc::new(map),
        ],
    )
    .unwrap();
    std::fs::create_dir_all(root.join("_delta_log")).unwrap();
    let data = root.join("part-0.parquet");
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&data).unwrap(), schema, None)
            .unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    let size = std::fs::metadata(&data).unwrap().len();
    let mapped = |name: &str, id: i32, data_type: serde_json::Value| {
        serde_json::json!({"name": name, "type": data_type, "nullable": true, "metadata": {
            "delta.columnMapping.id": id, "delta.columnMapping.physicalName": format!("col-{id}")}})
    };
    let struct_of =
        |fields: Vec<serde_json::Value>| serde_json::json!({"type": "struct", "fields": fields});
    let table_schema = struct_of(vec![
        mapped("id", 1, "long".into()),
        mapped(
            "s",
            2,
            struct_of(vec![
                mapped("a", 3, "integer".into()),
                mapped("b", 4, "string".into()),
            ]),
        ),
        mapped(
            "arr",
            5,
            serde_json::json!({"type": "array", "elementType": struct_of(vec![mapped("x", 6, "long".into())]), "containsNull": true}),
        ),
        mapped(
            "m",
            7,
            serde_json::json!({"type": "map", "keyType": "string", "valueType": struct_of(vec![mapped("y", 8, "long".into())]), "valueContainsNull": true}),
        ),
    ]);
    let lines = [
        serde_json::json!({"protocol": {"minReaderVersion": 2, "minWriterVersion": 5}}),
        serde_json::json!({"metaData": {"id": "cm", "format": {"provider": "parquet", "options": {}},
            "schemaString": table_schema.to_string(), "partitionColumns": [],
            "configuration": {"delta.columnMapping.mode": "id", "delta.columnMapping.maxColumnId": "8"}}}),
        serde_json::json!({"add": {"path": "part-0.parquet", "partitionValues": {}, "size": size,
            "modificationTime": 0, "dataChange": true}}),
    ];
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(root.join("_delta_log/00000000000000000000.json"), text).unwrap();
}

#[tokio::test]
async fn id_mode_finds_columns_by_field_id_at_every_depth_then_by_physical_name() {
    for with_ids in [true, false] {
        let lake = TempLake::new();
        write_id_mode_table(&lake.table_path("t"), with_ids);
        let snapshot = latest(&lake.table("t")).await;
        let rows = snapshot.scan().collect().await.unwrap();
        let text = arrow::util::pretty::pretty_format_batches(&rows)
            .unwrap()
            .to_string();
        for expected in [
            "{a: 10, b: p}",
            "[{x: 7}, {x: 8}]",
            "{k: {y: 5}}",
            "{a: 20, b: q}",
            "[{x: 9}]",
            "{l: {y: 6}}",
        ] {
            assert!(
                text.contains(expected),
                "ids in the file: {with_ids}; missing {expected} in\n{text}"
            );
        }
        let filtered = snapshot
            .scan()
            .with_filter("s.a = 20")
            .collect()
            .await
            .unwrap();
        assert_eq!(num_rows(&filtered), 1, "ids in the file: {with_ids}");
    }
}

#[tokio::test]
async fn with_column_mapping_column_names_need_not_be_parquet_names() {
    use arrow::array::{Int64Array, RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;

    let lake = TempLake::new();
    let location = lake.table("t");
    let schema = Arc::new(Schema::new(vec![
        Field::new("order id", DataType::Int64, true),
        Field::new("a=b;c", DataType::Utf8, true),
    ]));
    let table = Table::create(location.as_str())
        .with_arrow_schema(&schema)
        .unwrap()
        .with_property("delta.columnMapping.mode", "name")
        .execute()
        .await
        .unwrap();
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from(vec![1, 2, 3])),
            Arc::new(StringArray::from(vec!["x", "y", "z"])),
        ],
    )
    .unwrap();
    table.append([batch]).await.unwrap();
    let rows = rendered_where(&table.snapshot().await.unwrap(), "`order id` >= 2").await;
    assert_eq!(rows, ["2|y", "3|z"]);
    assert_every_version_reads_like_duckdb(&location).await;
}

#[tokio::test]
async fn optimize_of_one_partition_of_a_mapped_table_finds_it_by_physical_name() {
    let lake = TempLake::new();
    let location = lake.table("t");
    let table = Table::create(location.as_str())
        .with_arrow_schema(&people_schema())
        .unwrap()
        .with_partition_columns(["country"])
        .with_property("delta.columnMapping.mode", "name")
        .execute()
        .await
        .unwrap();
    for i in 0..3 {
        table
            .append([
                people(i * 10..i * 10 + 5, Some("PT")),
                people(i * 10 + 5..i * 10 + 10, Some("ES")),
            ])
            .await
            .unwrap();
    }
    let result = table
        .optimize()
        .with_filter("country = 'PT'")
        .execute()
        .await
        .unwrap();
    assert_eq!(
        (result.num_files_removed, result.num_files_added),
        (3, 1),
        "{result:?}"
    );
    let snapshot = table.snapshot().await.unwrap();
    assert_eq!(snapshot.num_files(), 4);
    assert_eq!(snapshot_ids(&snapshot).await, (0..30).collect::<Vec<_>>());
    assert_eq!(
        rendered_where(&snapshot, "country = 'ES' AND id = 5").await,
        ["5|n5|ES"]
    );
    assert_every_version_reads_like(&location, &["deltalake"]).await;
}
