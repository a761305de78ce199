//! Schema evolution (`protocol/PROTOCOL.md#schema-evolution`): writes that merge new columns
//! (and nested fields) into the table or overwrite its schema, narrower input widened on
//! write, and `ALTER TABLE` adding, renaming, dropping, widening and relaxing columns. Every
//! version reads in strata with its own schema, and as DuckDB's `delta_scan` and deltalake
//! read it, including data written before and after each change.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray, StructArray};
use arrow::datatypes::{DataType, Field, Fields, Schema};
use strata::{ColumnPosition, Error, NewColumn, SchemaMode, Table, WriteMode};

use crate::support::python::read_with;
use crate::support::*;

/// A batch whose columns are all nullable.
fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
    RecordBatch::try_from_iter_with_nullable(columns.into_iter().map(|(n, a)| (n, a, true)))
        .unwrap()
}

fn ids(values: &[i64]) -> ArrayRef {
    Arc::new(Int64Array::from(values.to_vec()))
}

fn texts(values: &[&str]) -> ArrayRef {
    Arc::new(StringArray::from(values.to_vec()))
}

async fn table_of(dir: &std::path::Path, first: RecordBatch) -> (Table, String) {
    let location = dir.join("t").to_str().unwrap().to_string();
    let table = Table::create(location.as_str())
        .with_arrow_schema(&first.schema())
        .unwrap()
        .execute()
        .await
        .unwrap();
    table.append(vec![first]).await.unwrap();
    (table, location)
}

/// Every version reads in strata as DuckDB and deltalake read it, each with its own columns.
async fn assert_every_version_reads_like_other_clients(location: &str, clients: &[&str]) {
    let table = Table::open(location).await.unwrap();
    for version in 0..=table.version().await.unwrap() {
        let snapshot = table.snapshot_at_version(version).await.unwrap();
        let ours = snapshot.scan().collect().await.unwrap();
        let schema = snapshot.arrow_schema();
        for client in clients {
            let theirs = read_with(client, location, Some(version));
            if let Some(first) = theirs.first() {
                let their_schema = first.schema();
                let names: Vec<&String> = their_schema.fields().iter().map(|f| f.name()).collect();
                let expected: Vec<&String> = schema.fields().iter().map(|f| f.name()).collect();
                assert_eq!(names, expected, "{client} at version {version}: columns");
            }
            assert_same_rows(
                &ours,
                &theirs,
                &schema,
                &format!("{location} v{version} ({client})"),
            );
        }
    }
}

fn column_names(snapshot: &strata::Snapshot) -> Vec<String> {
    snapshot
        .schema()
        .field_names()
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn merge_mode_adds_columns_and_nested_fields_in_the_data_commit() {
    let dir = tempfile::tempdir().unwrap();
    let address = |cities: &[&str], zips: Option<&[i32]>| -> ArrayRef {
        let mut fields = vec![Field::new("city", DataType::Utf8, true)];
        let mut arrays = vec![texts(cities)];
        if let Some(zips) = zips {
            fields.push(Field::new("zip", DataType::Int32, true));
            arrays.push(Arc::new(Int32Array::from(zips.to_vec())));
        }
        Arc::new(StructArray::new(Fields::from(fields), arrays, None))
    };
    let (table, location) = table_of(
        dir.path(),
        batch(vec![
            ("id", ids(&[1, 2])),
            ("address", address(&["Lisbon", "Porto"], None)),
        ]),
    )
    .await;
    let wider = batch(vec![
        ("id", ids(&[3])),
        ("address", address(&["Braga"], Some(&[4700]))),
        ("year", Arc::new(Int32Array::from(vec![2026])) as ArrayRef),
    ]);
    // Without a schema mode the new columns are a mismatch, and nothing is committed.
    let refused = table.append(vec![wider.clone()]).await;
    assert!(
        matches!(&refused, Err(Error::SchemaMismatch { problems, .. }) if problems.iter().any(|p| p.contains("year"))),
        "{refused:?}"
    );
    assert_eq!(table.version().await.unwrap(), 1);
    let written = table
        .write(vec![wider])
        .with_schema_mode(SchemaMode::Merge)
        .execute()
        .await
        .unwrap();
    assert_eq!(written.version, 2);
    let v2 = latest(&location).await;
    assert_eq!(column_names(&v2), ["id", "address", "year"]);
    let zip = v2
        .schema()
        .field("address")
        .unwrap()
        .data_type
        .as_struct()
        .unwrap();
    assert!(zip.field("zip").is_some_and(|f| f.nullable));
    // One commit: metaData and the add.
    let commit = std::fs::read_to_string(commit_path(std::path::Path::new(&location), 2)).unwrap();
    assert!(commit.contains("\"metaData\"") && commit.contains("\"add\""));
    // Old rows read the new columns as null; each version keeps its own schema.
    assert_eq!(rendered_where(&v2, "id >= 0").await.len(), 3, "all rows");
    let v1 = table.snapshot_at_version(1).await.unwrap();
    assert_eq!(column_names(&v1), ["id", "address"]);
    // Data with fewer columns still appends to the wider table; a type conflict is refused.
    table
        .append(vec![batch(vec![("id", ids(&[4]))])])
        .await
        .unwrap();
    let conflict = table
        .write(vec![batch(vec![("id", texts(&["x"]))])])
        .with_schema_mode(SchemaMode::Merge)
        .execute()
        .await;
    assert!(
        matches!(conflict, Err(Error::SchemaMismatch { .. })),
        "{conflict:?}"
    );
    assert_every_version_reads_like_other_clients(&location, &["duckdb", "deltalake"]).await;
}

#[tokio::test]
async fn narrower_input_is_widened_and_schema_overwrite_replaces_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let (table, location) = table_of(
        dir.path(),
        batch(vec![("id", ids(&[1])), ("name", texts(&["a"]))]),
    )
    .await;
    // int into a long column: no schema mode needed, the values are exact.
    table
        .append(vec![batch(vec![
            ("id", Arc::new(Int32Array::from(vec![i32::MAX])) as ArrayRef),
            ("name", texts(&["b"])),
        ])])
        .await
        .unwrap();
    assert_eq!(
        snapshot_ids(&latest(&location).await).await,
        [1, i64::from(i32::MAX)]
    );
    // Schema overwrite needs overwrite mode.
    let replacement = batch(vec![("key", texts(&["k"])), ("id", ids(&[9]))]);
    let refused = table
        .write(vec![replacement.clone()])
        .with_schema_mode(SchemaMode::Overwrite)
        .execute()
        .await;
    assert!(
        matches!(refused, Err(Error::InvalidArgument(_))),
        "{refused:?}"
    );
    table
        .write(vec![replacement])
        .with_mode(WriteMode::Overwrite)
        .with_schema_mode(SchemaMode::Overwrite)
        .execute()
        .await
        .unwrap();
    let snapshot = latest(&location).await;
    assert_eq!(column_names(&snapshot), ["key", "id"]);
    assert_eq!(snapshot_ids(&snapshot).await, [9]);
    assert_every_version_reads_like_other_clients(&location, &["duckdb", "deltalake"]).await;
}

#[tokio::test]
async fn rename_and_drop_are_metadata_only_with_column_mapping() {
    let dir = tempfile::tempdir().unwrap();
    let (table, location) = table_of(
        dir.path(),
        batch(vec![
            ("id", ids(&[1, 2])),
            ("name", texts(&["a", "b"])),
            ("secret", texts(&["x", "y"])),
        ]),
    )
    .await;
    let files_before = latest(&location).await.num_files();
    let renamed = table
        .alter()
        .rename_column("name", "full_name")
        .execute()
        .await
        .unwrap();
    assert_eq!(renamed.operation, "RENAME COLUMN");
    assert!(renamed.protocol_upgraded, "column mapping turned on");
    let snapshot = latest(&location).await;
    assert_eq!(
        snapshot
            .properties()
            .get("delta.columnMapping.mode")
            .map(String::as_str),
        Some("name")
    );
    assert_eq!(snapshot.num_files(), files_before, "no file rewritten");
    let commit = std::fs::read_to_string(commit_path(
        std::path::Path::new(&location),
        renamed.version,
    ))
    .unwrap();
    assert!(!commit.contains("\"add\""), "metadata only: {commit}");
    // Data written before and after the rename reads under the new name.
    table
        .append(vec![batch(vec![
            ("id", ids(&[3])),
            ("full_name", texts(&["c"])),
            ("secret", texts(&["z"])),
        ])])
        .await
        .unwrap();
    assert_eq!(
        rendered_where(
            &latest(&location).await,
            "full_name = 'a' OR full_name = 'c'"
        )
        .await
        .len(),
        2
    );
    // Drop, then add a column of the same name: it is a new column, null for old rows.
    table.alter().drop_column("secret").execute().await.unwrap();
    assert_eq!(column_names(&latest(&location).await), ["id", "full_name"]);
    table
        .alter()
        .add_column(NewColumn::new("secret", strata::DataType::STRING).at(ColumnPosition::First))
        .execute()
        .await
        .unwrap();
    let snapshot = latest(&location).await;
    assert_eq!(column_names(&snapshot), ["secret", "id", "full_name"]);
    assert!(
        rendered_where(&snapshot, "secret IS NOT NULL")
            .await
            .is_empty(),
        "the dropped column's data does not come back"
    );
    // Time travel returns each version's own schema.
    assert_eq!(
        column_names(&table.snapshot_at_version(1).await.unwrap()),
        ["id", "name", "secret"]
    );
    // Partition columns cannot be dropped; a column a constraint reads cannot be renamed.
    table
        .alter()
        .add_constraint("has_id", "id IS NOT NULL")
        .execute()
        .await
        .unwrap();
    let refused = table.alter().rename_column("id", "key").execute().await;
    assert!(
        matches!(refused, Err(Error::NotAllowed { .. })),
        "{refused:?}"
    );
    assert_every_version_reads_like_other_clients(&location, &["duckdb", "deltalake"]).await;
}

#[tokio::test]
async fn widening_nullability_and_comments() {
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().join("t").to_str().unwrap().to_string();
    let table = Table::create(location.as_str())
        .with_schema(
            strata::StructType::from_ddl("id int not null, score float, note string").unwrap(),
        )
        .execute()
        .await
        .unwrap();
    table
        .append(vec![batch(vec![
            ("id", Arc::new(Int32Array::from(vec![1, 2])) as ArrayRef),
            (
                "score",
                Arc::new(arrow::array::Float32Array::from(vec![Some(1.5), None])),
            ),
            ("note", texts(&["a", "b"])),
        ])])
        .await
        .unwrap();
    // Narrowing and unrelated types are refused.
    for (column, ty) in [
        ("id", strata::DataType::SHORT),
        ("note", strata::DataType::LONG),
    ] {
        let refused = table.alter().widen_type(column, ty).execute().await;
        assert!(
            matches!(refused, Err(Error::InvalidArgument(_))),
            "{refused:?}"
        );
    }
    let widened = table
        .alter()
        .widen_type("id", strata::DataType::LONG)
        .widen_type("score", strata::DataType::DOUBLE)
        .set_column_comment("note", Some("free text"))
        .set_comment(Some("orders, widened"))
        .execute()
        .await
        .unwrap();
    assert_eq!(widened.operation, "ALTER TABLE");
    let snapshot = latest(&location).await;
    assert!(
        snapshot
            .reader_features()
            .contains(&strata::TableFeature::TypeWidening)
    );
    let id = snapshot.schema().field("id").unwrap();
    assert_eq!(id.data_type, strata::DataType::LONG);
    assert_eq!(
        id.metadata["delta.typeChanges"],
        serde_json::json!([{"fromType": "integer", "toType": "long"}])
    );
    assert_eq!(
        snapshot.metadata().description.as_deref(),
        Some("orders, widened")
    );
    // Values beyond the old type are written now; old files read as the new type.
    table
        .append(vec![batch(vec![
            ("id", ids(&[i64::MAX])),
            (
                "score",
                Arc::new(arrow::array::Float64Array::from(vec![0.1])) as ArrayRef,
            ),
            ("note", texts(&["c"])),
        ])])
        .await
        .unwrap();
    assert_eq!(
        snapshot_ids(&latest(&location).await).await,
        [1, 2, i64::MAX]
    );
    // NOT NULL is checked against the rows; relaxing is free.
    let refused = table.alter().set_nullable("score", false).execute().await;
    assert!(
        matches!(&refused, Err(Error::ConstraintViolation { constraint, .. }) if constraint.contains("score")),
        "{refused:?}"
    );
    table
        .alter()
        .set_nullable("note", false)
        .execute()
        .await
        .unwrap();
    assert!(
        !latest(&location)
            .await
            .schema()
            .field("note")
            .unwrap()
            .nullable
    );
    table
        .alter()
        .set_nullable("id", true)
        .execute()
        .await
        .unwrap();
    // A NOT NULL column cannot be added to a table with rows.
    let refused = table
        .alter()
        .add_column(NewColumn::parse("extra long NOT NULL").unwrap())
        .execute()
        .await;
    assert!(
        matches!(refused, Err(Error::InvalidArgument(_))),
        "{refused:?}"
    );
    let parsed = NewColumn::parse("year int COMMENT 'calendar year' AFTER id").unwrap();
    table.alter().add_column(parsed).execute().await.unwrap();
    let snapshot = latest(&location).await;
    assert_eq!(column_names(&snapshot), ["id", "year", "score", "note"]);
    assert_eq!(
        snapshot.schema().field("year").unwrap().metadata["comment"],
        "calendar year"
    );
    // deltalake refuses the widened versions by name ("Unsupported table features required:
    // [TypeWidening]"): the reader feature tells it to, rather than read narrower data wrong.
    assert_every_version_reads_like_other_clients(&location, &["duckdb"]).await;
}

#[tokio::test]
async fn schema_merge_under_column_mapping_assigns_new_ids() {
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().join("t").to_str().unwrap().to_string();
    let first = batch(vec![("id", ids(&[1]))]);
    let table = Table::create(location.as_str())
        .with_arrow_schema(&first.schema())
        .unwrap()
        .with_property("delta.columnMapping.mode", "name")
        .execute()
        .await
        .unwrap();
    table.append(vec![first]).await.unwrap();
    table
        .write(vec![batch(vec![("id", ids(&[2])), ("tag", texts(&["t"]))])])
        .with_schema_mode(SchemaMode::Merge)
        .execute()
        .await
        .unwrap();
    let snapshot = latest(&location).await;
    let tag = snapshot.schema().field("tag").unwrap();
    assert_eq!(tag.metadata["delta.columnMapping.id"], 2);
    assert!(
        tag.metadata["delta.columnMapping.physicalName"]
            .as_str()
            .unwrap()
            .starts_with("col-")
    );
    assert_eq!(
        snapshot.properties()["delta.columnMapping.maxColumnId"],
        "2"
    );
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("tag", DataType::Utf8, true),
    ]));
    let rows = snapshot.scan().collect().await.unwrap();
    assert_eq!(canonical_rows(&rows, &schema).len(), 2);
    assert_every_version_reads_like_other_clients(&location, &["duckdb", "deltalake"]).await;
}

#[tokio::test]
async fn merge_with_schema_evolution_carries_the_new_columns() {
    let dir = tempfile::tempdir().unwrap();
    let (table, location) = table_of(
        dir.path(),
        batch(vec![
            ("id", ids(&[1, 2, 3])),
            ("name", texts(&["a", "b", "c"])),
        ]),
    )
    .await;
    let source = batch(vec![
        ("id", ids(&[2, 4])),
        ("name", texts(&["B", "d"])),
        ("email", texts(&["b@x", "d@x"])),
    ]);
    let merged = table
        .merge(source, "target.id = source.id")
        .with_schema_mode(SchemaMode::Merge)
        .when_matched_update_all()
        .when_not_matched_insert_all()
        .execute()
        .await
        .unwrap();
    assert_eq!(
        (
            merged.num_target_rows_updated,
            merged.num_target_rows_inserted
        ),
        (1, 1)
    );
    let snapshot = latest(&location).await;
    assert_eq!(column_names(&snapshot), ["id", "name", "email"]);
    let mut rows = rendered_where(&snapshot, "id > 0").await;
    rows.sort();
    assert_eq!(rows.len(), 4);
    assert_eq!(
        rendered_where(&snapshot, "email IS NOT NULL").await.len(),
        2,
        "the updated and the inserted row carry the new column"
    );
    let refused = table
        .merge(batch(vec![("id", ids(&[9]))]), "target.id = source.id")
        .with_schema_mode(SchemaMode::Overwrite)
        .when_not_matched_insert_all()
        .execute()
        .await;
    assert!(
        matches!(refused, Err(Error::InvalidArgument(_))),
        "{refused:?}"
    );
    assert_every_version_reads_like_other_clients(&location, &["duckdb", "deltalake"]).await;
}
