//! The checkpoint schema (`protocol/PROTOCOL.md#checkpoints`): one nullable struct column per
//! action, named like the action's JSON key, with Spark's nullability.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Fields, Schema};

use super::parsed::ParsedColumns;

// --- schema ---------------------------------------------------------------------------------

pub(super) fn nullable(name: &str, data_type: DataType) -> Field {
    Field::new(name, data_type, true)
}

fn required(name: &str, data_type: DataType) -> Field {
    Field::new(name, data_type, false)
}

pub(super) fn structure(fields: Vec<Field>) -> DataType {
    DataType::Struct(Fields::from(fields))
}

/// `map<string,string>` as Parquet/Spark name it (`key_value` entries, nullable values).
fn string_map() -> DataType {
    DataType::Map(
        Arc::new(Field::new(
            "key_value",
            structure(vec![
                required("key", DataType::Utf8),
                nullable("value", DataType::Utf8),
            ]),
            false,
        )),
        false,
    )
}

fn string_list() -> DataType {
    DataType::List(Arc::new(nullable("element", DataType::Utf8)))
}

fn deletion_vector() -> DataType {
    structure(vec![
        nullable("storageType", DataType::Utf8),
        nullable("pathOrInlineDv", DataType::Utf8),
        nullable("offset", DataType::Int32),
        required("sizeInBytes", DataType::Int32),
        required("cardinality", DataType::Int64),
    ])
}

/// The checkpoint schema of the Delta spec ("Checkpoint Schema"), with Spark's nullability
/// (primitive fields of an action are required within it; strings, maps, lists and optional
/// fields are nullable) and `domainMetadata` appended. `parsed` adds the typed `add` columns.
pub(super) fn checkpoint_schema(parsed: Option<&ParsedColumns>, v2: bool) -> Schema {
    let mut add = vec![
        nullable("path", DataType::Utf8),
        nullable("partitionValues", string_map()),
        required("size", DataType::Int64),
        required("modificationTime", DataType::Int64),
        required("dataChange", DataType::Boolean),
        nullable("stats", DataType::Utf8),
        nullable("tags", string_map()),
        nullable("deletionVector", deletion_vector()),
        nullable("baseRowId", DataType::Int64),
        nullable("defaultRowCommitVersion", DataType::Int64),
        nullable("clusteringProvider", DataType::Utf8),
    ];
    if let Some(parsed) = parsed {
        if let Some(partition) = &parsed.partition {
            add.push(nullable(
                "partitionValues_parsed",
                DataType::Struct(partition.clone()),
            ));
        }
        add.push(nullable("stats_parsed", parsed.stats.clone()));
    }
    let mut fields = vec![
        nullable(
            "metaData",
            structure(vec![
                nullable("id", DataType::Utf8),
                nullable("name", DataType::Utf8),
                nullable("description", DataType::Utf8),
                nullable(
                    "format",
                    structure(vec![
                        nullable("provider", DataType::Utf8),
                        nullable("options", string_map()),
                    ]),
                ),
                nullable("schemaString", DataType::Utf8),
                nullable("partitionColumns", string_list()),
                nullable("createdTime", DataType::Int64),
                nullable("configuration", string_map()),
            ]),
        ),
        nullable(
            "protocol",
            structure(vec![
                required("minReaderVersion", DataType::Int32),
                required("minWriterVersion", DataType::Int32),
                nullable("readerFeatures", string_list()),
                nullable("writerFeatures", string_list()),
            ]),
        ),
        nullable(
            "txn",
            structure(vec![
                nullable("appId", DataType::Utf8),
                required("version", DataType::Int64),
                nullable("lastUpdated", DataType::Int64),
            ]),
        ),
        nullable("add", structure(add)),
        nullable(
            "remove",
            structure(vec![
                nullable("path", DataType::Utf8),
                nullable("deletionTimestamp", DataType::Int64),
                required("dataChange", DataType::Boolean),
                nullable("extendedFileMetadata", DataType::Boolean),
                nullable("partitionValues", string_map()),
                nullable("size", DataType::Int64),
                nullable("deletionVector", deletion_vector()),
                nullable("baseRowId", DataType::Int64),
                nullable("defaultRowCommitVersion", DataType::Int64),
            ]),
        ),
        nullable(
            "domainMetadata",
            structure(vec![
                nullable("domain", DataType::Utf8),
                nullable("configuration", DataType::Utf8),
                required("removed", DataType::Boolean),
            ]),
        ),
    ];
    if v2 {
        fields.push(nullable(
            "checkpointMetadata",
            structure(vec![
                required("version", DataType::Int64),
                nullable("tags", string_map()),
            ]),
        ));
    }
    Schema::new(fields)
}
