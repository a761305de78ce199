//! Schema evolution on write (`protocol/PROTOCOL.md#schema-evolution`): a write with
//! [`SchemaMode::Merge`] adds the data's new columns (and new nested struct fields) to the
//! table, and one with [`SchemaMode::Overwrite`] (an overwrite only) replaces the schema, in
//! the same commit as the data. The new `metaData` (and `protocol`, when the new columns need
//! a feature such as `timestampNtz`) go first in that commit, and the files are encoded with
//! the new schema.

use arrow::datatypes::Schema;

use crate::error::{Error, Result};
use crate::protocol::actions::Action;
use crate::protocol::features::{merged_protocol, protocol_for_new_table};
use crate::protocol::properties::{COLUMN_MAPPING_MAX_COLUMN_ID, ColumnMappingMode};
use crate::protocol::schema::column_mapping::{
    COLUMN_ID_KEY, PHYSICAL_NAME_KEY, assign_column_mapping, max_column_id,
};
use crate::protocol::schema::evolution::merge_schema;
use crate::protocol::schema::validate::check_names;
use crate::protocol::schema::{StructField, StructType};
use crate::snapshot::Snapshot;

use super::WriteMode;

/// How a write treats data whose schema differs from the table's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SchemaMode {
    /// Add the data's new columns to the table (nullable; nested struct fields too). Types of
    /// existing columns do not change; narrower data is widened to them.
    Merge,
    /// Replace the table's schema with the data's (only with [`WriteMode::Overwrite`]), as
    /// Delta's `overwriteSchema`. Partition columns stay and must be in the data.
    Overwrite,
}

/// The table as the write will leave it, and the actions that change it.
pub(crate) struct SchemaChange {
    /// The read snapshot with the new `metaData` (and `protocol`): files are encoded for it.
    pub(crate) snapshot: Snapshot,
    /// `protocol` (when upgraded) and `metaData`, committed before the files' `add`s.
    pub(crate) actions: Vec<Action>,
}

/// What `mode` makes of `data` written to `snapshot`: `None` when the schema stays as it is.
///
/// # Errors
/// [`Error::SchemaMismatch`] for types merging cannot reconcile, [`Error::InvalidArgument`]
/// for schema overwrite without overwrite mode or without the partition columns.
pub(crate) fn plan(
    snapshot: &Snapshot,
    data: &Schema,
    mode: SchemaMode,
    write_mode: WriteMode,
) -> Result<Option<SchemaChange>> {
    let location = snapshot.storage().location().to_string();
    let data = StructType::try_from_arrow(data)?;
    let table = snapshot.schema();
    let schema = match mode {
        SchemaMode::Merge => {
            merge_schema(table, &data).map_err(|problems| Error::SchemaMismatch {
                location: location.clone(),
                problems,
            })?
        }
        SchemaMode::Overwrite => {
            if write_mode != WriteMode::Overwrite {
                return Err(Error::InvalidArgument(format!(
                    "{location}: schema mode overwrite replaces the table's schema and needs write mode overwrite; use schema mode merge to add columns to an append"
                )));
            }
            keep_mapping(table, &data)
        }
    };
    if schema == *table {
        return Ok(None);
    }
    let mut metadata = snapshot.metadata().clone();
    let mapping = snapshot.table_properties().column_mapping_mode.clone();
    let mapped = matches!(mapping, ColumnMappingMode::Name | ColumnMappingMode::Id);
    let schema = if mapped {
        let floor = metadata
            .configuration
            .get(COLUMN_MAPPING_MAX_COLUMN_ID)
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0)
            .max(max_column_id(table));
        let (schema, max_id) = assign_column_mapping(&schema, floor);
        metadata
            .configuration
            .insert(COLUMN_MAPPING_MAX_COLUMN_ID.into(), max_id.to_string());
        schema
    } else {
        schema
    };
    check_names(&schema.fields, "", mapped).map_err(|reason| Error::SchemaMismatch {
        location: location.clone(),
        problems: vec![reason],
    })?;
    for p in &metadata.partition_columns {
        if schema.field(p).is_none() {
            return Err(Error::InvalidArgument(format!(
                "{location}: the new schema lacks partition column {p:?}; a schema overwrite keeps the table's partitioning"
            )));
        }
    }
    metadata.schema_string = schema.to_json_string();
    let required = protocol_for_new_table(&schema, &metadata.configuration);
    let protocol = merged_protocol(snapshot.protocol(), &required);
    let mut actions = Vec::new();
    if let Some(protocol) = &protocol {
        actions.push(Action::Protocol(protocol.clone()));
    }
    actions.push(Action::Metadata(metadata.clone()));
    Ok(Some(SchemaChange {
        snapshot: snapshot.with_metadata(protocol, metadata)?,
        actions,
    }))
}

/// The data's schema, keeping the column ids and physical names of the table's columns of
/// the same name (top level), so a schema overwrite does not orphan them.
fn keep_mapping(table: &StructType, data: &StructType) -> StructType {
    let fields = data
        .fields
        .iter()
        .map(|field| {
            let mut field: StructField = field.clone();
            field.metadata.remove(COLUMN_ID_KEY);
            field.metadata.remove(PHYSICAL_NAME_KEY);
            if let Some(existing) = table.field(&field.name)
                && existing.data_type == field.data_type
            {
                for key in [COLUMN_ID_KEY, PHYSICAL_NAME_KEY] {
                    if let Some(v) = existing.metadata.get(key) {
                        field.metadata.insert(key.to_string(), v.clone());
                    }
                }
            }
            field
        })
        .collect();
    StructType::new(fields)
}
