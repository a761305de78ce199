//! Column mapping (`protocol/PROTOCOL.md#column-mapping`): a table column's name in data files,
//! partition values and statistics differs from the name users see.
//!
//! In `name` mode every struct field of the schema carries `delta.columnMapping.physicalName`:
//! data files, `partitionValues` keys and statistics use it. In `id` mode fields also carry
//! `delta.columnMapping.id`, which data files hold as Parquet field ids, and a file's columns
//! are found by id (by physical name when a file has no ids). With mode `none` the physical
//! names are the names. Users only ever see the logical names: a scan resolves every column
//! through [`find_field`] and yields the logical schema.
//!
//! Pure, over the Arrow form of the schema (whose field metadata carries the Delta metadata).

use std::sync::Arc;

use arrow_schema::{DataType, Field, FieldRef, Fields, Schema};

use super::StructType;
use crate::protocol::actions::Metadata;
use crate::protocol::properties::{ColumnMappingMode, TableProperties};

/// Field metadata key of a column's physical name.
pub const PHYSICAL_NAME_KEY: &str = "delta.columnMapping.physicalName";
/// Field metadata key of a column's id.
pub const COLUMN_ID_KEY: &str = "delta.columnMapping.id";
/// Arrow field metadata key under which the Parquet reader and writer keep field ids.
pub const PARQUET_FIELD_ID_KEY: &str = "PARQUET:field_id";

/// How a table column is found in a data file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColumnLookup {
    /// By name (no column mapping).
    #[default]
    Name,
    /// By `delta.columnMapping.physicalName` (`name` mode).
    PhysicalName,
    /// By Parquet field id, `delta.columnMapping.id` (`id` mode), or physical name for files
    /// without ids.
    FieldId,
}

impl ColumnLookup {
    /// The lookup a table's mapping mode asks for; `None` for a mode strata does not know.
    pub fn for_mode(mode: &ColumnMappingMode) -> Option<ColumnLookup> {
        match mode {
            ColumnMappingMode::None => Some(ColumnLookup::Name),
            ColumnMappingMode::Name => Some(ColumnLookup::PhysicalName),
            ColumnMappingMode::Id => Some(ColumnLookup::FieldId),
            ColumnMappingMode::Unknown(_) => None,
        }
    }

    /// Whether names in files differ from the table's.
    pub fn is_mapped(self) -> bool {
        self != ColumnLookup::Name
    }
}

/// The name a table field has in data files, partition values and statistics.
pub fn physical_name(field: &Field, lookup: ColumnLookup) -> &str {
    match lookup {
        ColumnLookup::Name => field.name(),
        _ => field
            .metadata()
            .get(PHYSICAL_NAME_KEY)
            .map_or(field.name().as_str(), String::as_str),
    }
}

/// A table field's column id, in `id` mode.
fn column_id(field: &Field) -> Option<&str> {
    field.metadata().get(COLUMN_ID_KEY).map(String::as_str)
}

/// The field of a data file (`fields`, a struct level of the file's schema) that holds table
/// field `target`: by field id in `id` mode (by physical name when the file has no ids), by
/// physical name in `name` mode, by name otherwise.
pub fn find_field<'a>(
    fields: &'a Fields,
    target: &Field,
    lookup: ColumnLookup,
) -> Option<(usize, &'a FieldRef)> {
    if lookup == ColumnLookup::FieldId
        && let Some(id) = column_id(target)
        && let Some(found) = fields
            .iter()
            .enumerate()
            .find(|(_, f)| f.metadata().get(PARQUET_FIELD_ID_KEY).map(String::as_str) == Some(id))
    {
        return Some(found);
    }
    let name = physical_name(target, lookup);
    fields.iter().enumerate().find(|(_, f)| f.name() == name)
}

/// The logical path of a column as the physical path of statistics and partition values.
/// `None` when a segment is not a struct field of the schema.
pub fn physical_path(
    schema: &Schema,
    path: &[String],
    lookup: ColumnLookup,
) -> Option<Vec<String>> {
    let mut fields = schema.fields();
    let mut out = Vec::with_capacity(path.len());
    for (i, segment) in path.iter().enumerate() {
        let field = fields.iter().find(|f| f.name() == segment)?;
        out.push(physical_name(field, lookup).to_string());
        if i + 1 < path.len() {
            let DataType::Struct(children) = field.data_type() else {
                return None;
            };
            fields = children;
        }
    }
    Some(out)
}

/// The keys of a table's partition values: its partition columns' physical names (the names,
/// without column mapping).
pub fn physical_partition_columns(metadata: &Metadata) -> Vec<String> {
    let mode = TableProperties::from_configuration(&metadata.configuration).column_mapping_mode;
    let lookup = ColumnLookup::for_mode(&mode).unwrap_or_default();
    let schema = match lookup.is_mapped() {
        true => StructType::parse(&metadata.schema_string).ok(),
        false => None,
    };
    let Some(schema) = schema else {
        return metadata.partition_columns.clone();
    };
    metadata
        .partition_columns
        .iter()
        .map(|column| {
            schema
                .field(column)
                .and_then(|f| f.metadata.get(PHYSICAL_NAME_KEY))
                .and_then(|v| v.as_str())
                .map_or_else(|| column.clone(), str::to_string)
        })
        .collect()
}

/// The schema as data files hold it: the same structure with physical names and, in `id`
/// mode, Parquet field ids (what a writer puts in a file and what statistics are keyed by).
pub fn physical_schema(schema: &Schema, lookup: ColumnLookup) -> Schema {
    if !lookup.is_mapped() {
        return schema.clone();
    }
    Schema::new_with_metadata(
        schema
            .fields()
            .iter()
            .map(|f| physical_field(f, lookup))
            .collect::<Vec<_>>(),
        schema.metadata().clone(),
    )
}

fn physical_field(field: &Field, lookup: ColumnLookup) -> FieldRef {
    let mut metadata = field.metadata().clone();
    if lookup == ColumnLookup::FieldId
        && let Some(id) = column_id(field)
    {
        metadata.insert(PARQUET_FIELD_ID_KEY.to_string(), id.to_string());
    }
    Arc::new(
        Field::new(
            physical_name(field, lookup),
            physical_type(field.data_type(), lookup),
            field.is_nullable(),
        )
        .with_metadata(metadata),
    )
}

fn physical_type(data_type: &DataType, lookup: ColumnLookup) -> DataType {
    let keep_name = |child: &FieldRef| -> FieldRef {
        Arc::new(
            child
                .as_ref()
                .clone()
                .with_data_type(physical_type(child.data_type(), lookup)),
        )
    };
    match data_type {
        DataType::Struct(fields) => DataType::Struct(
            fields
                .iter()
                .map(|f| physical_field(f, lookup))
                .collect::<Fields>(),
        ),
        DataType::List(element) => DataType::List(keep_name(element)),
        DataType::LargeList(element) => DataType::LargeList(keep_name(element)),
        DataType::Map(entries, sorted) => DataType::Map(keep_name(entries), *sorted),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn mapped(name: &str, physical: &str, id: i64, data_type: DataType) -> Field {
        Field::new(name, data_type, true).with_metadata(HashMap::from([
            (PHYSICAL_NAME_KEY.to_string(), physical.to_string()),
            (COLUMN_ID_KEY.to_string(), id.to_string()),
        ]))
    }

    fn table() -> Schema {
        let inner = mapped("city", "col-c", 3, DataType::Utf8);
        Schema::new(vec![
            mapped("id", "col-a", 1, DataType::Int64),
            mapped("address", "col-b", 2, DataType::Struct(vec![inner].into())),
        ])
    }

    #[test]
    fn physical_names_and_ids_follow_the_mode() {
        let schema = table();
        let id = &schema.fields()[0];
        assert_eq!(physical_name(id, ColumnLookup::Name), "id");
        assert_eq!(physical_name(id, ColumnLookup::PhysicalName), "col-a");
        assert_eq!(
            physical_path(
                &schema,
                &["address".into(), "city".into()],
                ColumnLookup::FieldId
            ),
            Some(vec!["col-b".to_string(), "col-c".to_string()])
        );
        let physical = physical_schema(&schema, ColumnLookup::FieldId);
        assert_eq!(physical.field(1).name(), "col-b");
        assert_eq!(physical.field(1).metadata()[PARQUET_FIELD_ID_KEY], "2");
        let DataType::Struct(children) = physical.field(1).data_type() else {
            panic!("struct")
        };
        assert_eq!(children[0].name(), "col-c");
        assert_eq!(physical_schema(&schema, ColumnLookup::Name), schema);
    }

    #[test]
    fn file_columns_are_found_by_id_then_physical_name() {
        let schema = table();
        let with_id = |name: &str, id: &str| {
            Arc::new(
                Field::new(name, DataType::Int64, true).with_metadata(HashMap::from([(
                    PARQUET_FIELD_ID_KEY.to_string(),
                    id.to_string(),
                )])),
            )
        };
        // A renamed column keeps its id: found by id, not by the stale name.
        let file: Fields = vec![with_id("col-old", "1"), with_id("col-a", "9")].into();
        let (index, _) = find_field(&file, schema.field(0), ColumnLookup::FieldId).unwrap();
        assert_eq!(index, 0);
        let (index, _) = find_field(&file, schema.field(0), ColumnLookup::PhysicalName).unwrap();
        assert_eq!(index, 1);
        let no_ids: Fields = vec![Arc::new(Field::new("col-a", DataType::Int64, true))].into();
        assert!(find_field(&no_ids, schema.field(0), ColumnLookup::FieldId).is_some());
        assert!(find_field(&no_ids, schema.field(0), ColumnLookup::Name).is_none());
    }
}
