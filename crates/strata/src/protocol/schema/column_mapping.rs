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

use arrow::array::{
    Array, ArrayRef, AsArray, LargeListArray, ListArray, MapArray, RecordBatch, RecordBatchOptions,
    StructArray,
};
use arrow::error::ArrowError;
use arrow_schema::{DataType, Field, FieldRef, Fields, Schema, SchemaRef};

use super::{StructField, StructType};
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

/// The schema as data files hold it: the same structure with physical names and Parquet field
/// ids (what a writer puts in a file and what statistics are keyed by).
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
    // Writers put the column id in the Parquet field id in both modes (the spec's writer
    // requirements); only `id` mode reads by it.
    if let Some(id) = column_id(field) {
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

/// A batch of the logical schema as the data files of `physical` (from [`physical_schema`] of
/// the same fields) hold it: the same arrays, with every column and nested field renamed by
/// position. Nothing is copied but the array headers.
///
/// # Errors
/// When the batch's structure is not the one `physical` was derived from (a bug in the caller).
pub fn to_physical_batch(
    batch: &RecordBatch,
    physical: &SchemaRef,
) -> Result<RecordBatch, ArrowError> {
    let columns = batch
        .columns()
        .iter()
        .zip(physical.fields())
        .map(|(column, field)| renamed(column, field.data_type()))
        .collect::<Result<Vec<_>, _>>()?;
    let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    RecordBatch::try_new_with_options(physical.clone(), columns, &options)
}

/// `array` typed as `target`, which differs from its type only in field names.
fn renamed(array: &ArrayRef, target: &DataType) -> Result<ArrayRef, ArrowError> {
    if array.data_type() == target {
        return Ok(array.clone());
    }
    let mismatch = || {
        ArrowError::SchemaError(format!(
            "cannot rename {} to {target}: the structures differ",
            array.data_type()
        ))
    };
    Ok(match target {
        DataType::Struct(fields) => {
            let source = array.as_struct_opt().ok_or_else(mismatch)?;
            let children = source
                .columns()
                .iter()
                .zip(fields)
                .map(|(child, field)| renamed(child, field.data_type()))
                .collect::<Result<Vec<_>, _>>()?;
            Arc::new(StructArray::try_new_with_length(
                fields.clone(),
                children,
                source.nulls().cloned(),
                source.len(),
            )?)
        }
        DataType::List(element) => {
            let source = array.as_list_opt::<i32>().ok_or_else(mismatch)?;
            let values = renamed(source.values(), element.data_type())?;
            Arc::new(ListArray::try_new(
                element.clone(),
                source.offsets().clone(),
                values,
                source.nulls().cloned(),
            )?)
        }
        DataType::LargeList(element) => {
            let source = array.as_list_opt::<i64>().ok_or_else(mismatch)?;
            let values = renamed(source.values(), element.data_type())?;
            Arc::new(LargeListArray::try_new(
                element.clone(),
                source.offsets().clone(),
                values,
                source.nulls().cloned(),
            )?)
        }
        DataType::Map(entries, sorted) => {
            let source = array.as_map_opt().ok_or_else(mismatch)?;
            let entries_array: ArrayRef = Arc::new(source.entries().clone());
            let renamed_entries = renamed(&entries_array, entries.data_type())?;
            Arc::new(MapArray::try_new(
                entries.clone(),
                source.offsets().clone(),
                renamed_entries.as_struct().clone(),
                source.nulls().cloned(),
                *sorted,
            )?)
        }
        _ => return Err(mismatch()),
    })
}

/// Gives every field of `schema` (at every depth) that lacks them a column id above
/// `max_column_id` and a physical name `col-<uuid>`, as Delta writers do when column mapping
/// is enabled; returns the schema and the new `delta.columnMapping.maxColumnId`.
pub fn assign_column_mapping(schema: &StructType, max_column_id: i64) -> (StructType, i64) {
    assign_column_mapping_with(schema, max_column_id, &|_| {
        format!("col-{}", uuid::Uuid::new_v4())
    })
}

/// As [`assign_column_mapping`], with the physical name of each field that lacks one chosen by
/// `physical_name` (upgrading a table keeps the current names:
/// `protocol/PROTOCOL.md#schema-evolution`).
pub fn assign_column_mapping_with(
    schema: &StructType,
    max_column_id: i64,
    physical_name: &dyn Fn(&StructField) -> String,
) -> (StructType, i64) {
    let mut next = max_column_id;
    let fields = schema
        .fields
        .iter()
        .map(|f| assign_field(f, &mut next, physical_name))
        .collect();
    (StructType::new(fields), next)
}

fn assign_field(
    field: &StructField,
    next: &mut i64,
    physical_name: &dyn Fn(&StructField) -> String,
) -> StructField {
    let mut field = field.clone();
    if !field.metadata.contains_key(COLUMN_ID_KEY) {
        *next += 1;
        field
            .metadata
            .insert(COLUMN_ID_KEY.to_string(), serde_json::Value::from(*next));
    }
    if !field.metadata.contains_key(PHYSICAL_NAME_KEY) {
        field.metadata.insert(
            PHYSICAL_NAME_KEY.to_string(),
            serde_json::Value::from(physical_name(&field)),
        );
    }
    field.data_type = assign_type(&field.data_type, next, physical_name);
    field
}

fn assign_type(
    data_type: &super::DataType,
    next: &mut i64,
    physical_name: &dyn Fn(&StructField) -> String,
) -> super::DataType {
    use super::DataType as D;
    match data_type {
        D::Struct(inner) => D::Struct(Box::new(StructType::new(
            inner
                .fields
                .iter()
                .map(|f| assign_field(f, next, physical_name))
                .collect(),
        ))),
        D::Array(array) => {
            let mut array = array.clone();
            array.element_type = assign_type(&array.element_type, next, physical_name);
            D::Array(array)
        }
        D::Map(map) => {
            let mut map = map.clone();
            map.key_type = assign_type(&map.key_type, next, physical_name);
            map.value_type = assign_type(&map.value_type, next, physical_name);
            D::Map(map)
        }
        other => other.clone(),
    }
}

/// The largest column id of the schema (0 without any), for tables that lack
/// `delta.columnMapping.maxColumnId`.
pub fn max_column_id(schema: &StructType) -> i64 {
    fn of_type(data_type: &super::DataType) -> i64 {
        use super::DataType as D;
        match data_type {
            D::Struct(inner) => inner.fields.iter().map(of_field).max().unwrap_or(0),
            D::Array(array) => of_type(&array.element_type),
            D::Map(map) => of_type(&map.key_type).max(of_type(&map.value_type)),
            _ => 0,
        }
    }
    fn of_field(field: &StructField) -> i64 {
        let own = field
            .metadata
            .get(COLUMN_ID_KEY)
            .and_then(serde_json::Value::as_i64)
            .unwrap_or(0);
        own.max(of_type(&field.data_type))
    }
    schema.fields.iter().map(of_field).max().unwrap_or(0)
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
