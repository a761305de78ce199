//! The checkpoint schema (`protocol/PROTOCOL.md#checkpoints`): one nullable struct column per
//! action, named like the action's JSON key, with Spark's nullability.
//!
//! Each column's fields are derived from the action's serde struct
//! (`protocol/arrow_fields.rs`), so this file only says which actions a checkpoint holds, in
//! which order, and adds the typed `add` columns.

use arrow::datatypes::{DataType, Field, Fields, Schema};

use crate::protocol::actions::{
    Add, CheckpointMetadata, DomainMetadata, Metadata, Protocol, Remove, Txn,
};
use crate::protocol::arrow_fields::ToArrowFields;

/// The typed `add` columns a checkpoint carries when `writeStatsAsStruct` is on.
pub(super) struct ParsedColumns {
    /// `partitionValues_parsed` fields (partition columns with their table types), if the
    /// table is partitioned.
    pub(super) partition: Option<Fields>,
    /// `stats_parsed` type.
    pub(super) stats: DataType,
}

pub(super) fn nullable(name: &str, data_type: DataType) -> Field {
    Field::new(name, data_type, true)
}

pub(super) fn structure(fields: Vec<Field>) -> DataType {
    DataType::Struct(Fields::from(fields))
}

/// An action's column: a nullable struct, since each row holds one action and the other
/// columns are null.
fn action_column<A: ToArrowFields>(name: &str) -> Field {
    nullable(name, structure(A::arrow_fields()))
}

/// The checkpoint schema of the Delta spec ("Checkpoint Schema"), with Spark's nullability
/// (primitive fields of an action are required within it; strings, maps, lists and optional
/// fields are nullable) and `domainMetadata` appended. `parsed` adds the typed `add` columns;
/// `v2` the `checkpointMetadata` column of a V2 checkpoint.
pub(super) fn checkpoint_schema(parsed: Option<&ParsedColumns>, v2: bool) -> Schema {
    let mut add = Add::arrow_fields();
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
        action_column::<Metadata>("metaData"),
        action_column::<Protocol>("protocol"),
        action_column::<Txn>("txn"),
        nullable("add", structure(add)),
        action_column::<Remove>("remove"),
        action_column::<DomainMetadata>("domainMetadata"),
    ];
    if v2 {
        fields.push(action_column::<CheckpointMetadata>("checkpointMetadata"));
    }
    Schema::new(fields)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn required(name: &str, data_type: DataType) -> Field {
        Field::new(name, data_type, false)
    }

    /// The regression oracle: the checkpoint schema as it was written out by hand before it
    /// was derived from the action structs (commit 1914abc). Do not derive anything here.
    mod written_out {
        use super::*;

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

        pub(super) fn checkpoint_schema(v2: bool) -> Schema {
            let add = vec![
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
    }

    /// Compares column by column first, so a failure names the action that drifted; then the
    /// whole schema (column count and order, schema metadata).
    fn assert_same(derived: &Schema, expected: &Schema) {
        for (d, e) in derived.fields().iter().zip(expected.fields().iter()) {
            assert_eq!(d, e, "column `{}` differs from the spec's", e.name());
        }
        assert_eq!(derived, expected);
    }

    #[test]
    fn derived_schema_is_the_written_out_one() {
        for v2 in [false, true] {
            assert_same(
                &checkpoint_schema(None, v2),
                &written_out::checkpoint_schema(v2),
            );
        }
    }

    #[test]
    fn parsed_columns_are_appended_to_add() {
        let partition = Fields::from(vec![nullable("p", DataType::Int32)]);
        let parsed = ParsedColumns {
            partition: Some(partition.clone()),
            stats: structure(vec![nullable("numRecords", DataType::Int64)]),
        };
        let schema = checkpoint_schema(Some(&parsed), false);
        let Ok(add) = schema.field_with_name("add") else {
            panic!("no add column in {schema:?}")
        };
        let DataType::Struct(add) = add.data_type() else {
            panic!("add is not a struct: {add:?}")
        };
        let names: Vec<&str> = add.iter().map(|f| f.name().as_str()).collect();
        assert_eq!(
            names[names.len() - 3..],
            [
                "clusteringProvider",
                "partitionValues_parsed",
                "stats_parsed"
            ]
        );
        assert_eq!(
            add[names.len() - 2].data_type(),
            &DataType::Struct(partition)
        );
    }
}
