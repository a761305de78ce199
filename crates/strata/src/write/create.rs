//! Creating a table: the definition a `CreateBuilder` collects, validated and turned into the
//! first commit's `protocol` and `metaData` (`protocol/PROTOCOL.md#protocol-strata-writes`).
//!
//! Version 0 is committed through the transaction layer like any other version, on an empty
//! state at version -1, so losing the race for it to another creator is an ordinary conflict.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::protocol::actions::{Action, Format, Metadata};
use crate::protocol::features;
use crate::protocol::properties::{
    COLUMN_MAPPING_MAX_COLUMN_ID, COLUMN_MAPPING_MODE, ColumnMappingMode,
    MATERIALIZED_ROW_COMMIT_VERSION_COLUMN_NAME, MATERIALIZED_ROW_ID_COLUMN_NAME, TableProperties,
};
use crate::protocol::schema::column_mapping::{assign_column_mapping, max_column_id};
use crate::protocol::schema::validate::check_names;
use crate::protocol::schema::{DataType, StructType};
use crate::snapshot::Snapshot;
use crate::stats::IndexedColumns;
use crate::storage::Storage;
use crate::transaction::{CommitResult, Transaction};

/// What a new table is to be: schema, partitioning, properties, name, description, and the
/// creating commit's custom metadata.
#[derive(Debug, Clone, Default)]
pub(crate) struct TableDefinition {
    pub(crate) schema: Option<StructType>,
    pub(crate) partition_columns: Vec<String>,
    pub(crate) properties: HashMap<String, String>,
    pub(crate) name: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) commit_metadata: Map<String, Value>,
}

impl TableDefinition {
    /// Checks the definition against what Delta and strata can honour.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the problem; [`Error::Stats`] for a bad statistics
    /// property.
    pub(crate) fn validate(&self, schema: &StructType) -> Result<()> {
        let invalid = |m: String| Err(Error::InvalidArgument(m));
        if schema.fields.is_empty() {
            return invalid("a table needs at least one column".into());
        }
        let mode = TableProperties::from_configuration(&self.properties).column_mapping_mode;
        if let ColumnMappingMode::Unknown(name) = mode {
            return invalid(format!(
                "{COLUMN_MAPPING_MODE}={name} is not a column mapping mode; use none, name or id"
            ));
        }
        let mapped = matches!(mode, ColumnMappingMode::Name | ColumnMappingMode::Id);
        check_names(&schema.fields, "", mapped).map_err(Error::InvalidArgument)?;
        let mut seen_partitions = std::collections::HashSet::new();
        for p in &self.partition_columns {
            if !seen_partitions.insert(p.to_lowercase()) {
                return invalid(format!("partition column {p:?} is given twice"));
            }
        }
        for p in &self.partition_columns {
            match schema.field(p) {
                None => return invalid(format!("partition column {p:?} is not in the schema")),
                Some(f) if !matches!(f.data_type, DataType::Primitive(_)) => {
                    return invalid(format!("partition column {p:?} must have a primitive type"));
                }
                _ => {}
            }
        }
        if self.partition_columns.len() >= schema.fields.len() {
            return invalid("at least one column must not be a partition column".into());
        }
        IndexedColumns::from_properties(&self.properties)?;
        Ok(())
    }

    /// Commits version 0: `protocol` and `metaData`, operation `CREATE TABLE`.
    ///
    /// # Errors
    /// [`Error::TableExists`] when a table is already there (also when another writer created
    /// it concurrently); [`Error::InvalidArgument`] for an invalid schema, partitioning or
    /// property; [`Error::Storage`].
    pub(crate) async fn create(&self, storage: &Storage) -> Result<CommitResult> {
        let new_table = self.prepare(storage).await?;
        let mut tx = Transaction::new(&new_table.snapshot, "CREATE TABLE")
            .with_parameter(
                "partitionBy",
                serde_json::to_string(&self.partition_columns).unwrap_or_default(),
            )
            .with_parameter(
                "properties",
                serde_json::to_string(&self.properties).unwrap_or_default(),
            );
        if let Some(d) = &self.description {
            tx = tx.with_parameter("description", d.clone());
        }
        for (k, v) in new_table.commit_metadata {
            tx.set_commit_metadata(&k, v);
        }
        tx.add_actions(new_table.actions);
        tx.commit().await.map_err(NewTable::exists)
    }

    /// Accepts an existing table as the one this builder would create when its schema and
    /// partition columns are the ones asked for; otherwise returns `exists`.
    pub(crate) fn require_same_shape(&self, existing: &Snapshot, exists: Error) -> Result<()> {
        let same_schema = self.schema.as_ref() == Some(existing.schema());
        let same_partitioning = self.partition_columns == existing.partition_columns();
        if same_schema && same_partitioning {
            Ok(())
        } else {
            Err(exists)
        }
    }

    /// Validates the request and checks that no table exists yet; returns the empty state the
    /// creating commit is made on and its `protocol` and `metaData` actions.
    pub(crate) async fn prepare(&self, storage: &Storage) -> Result<NewTable> {
        let schema = self
            .schema
            .clone()
            .ok_or_else(|| Error::InvalidArgument("a table needs a schema".into()))?;
        self.validate(&schema)?;
        match Snapshot::load(storage, None).await {
            Ok(existing) => {
                return Err(Error::TableExists {
                    location: storage.location().into(),
                    version: existing.version(),
                });
            }
            Err(Error::NotATable { .. }) => {}
            Err(e) => return Err(e),
        }
        let mut configuration = self.properties.clone();
        let schema = with_column_mapping(schema, &mut configuration);
        with_row_tracking(&mut configuration);
        let protocol = features::protocol_for_new_table(&schema, &configuration);
        let metadata = Metadata {
            id: uuid::Uuid::new_v4().to_string(),
            name: self.name.clone(),
            description: self.description.clone(),
            format: Format::default(),
            schema_string: schema.to_json_string(),
            partition_columns: self.partition_columns.clone(),
            created_time: Some(chrono::Utc::now().timestamp_millis()),
            configuration,
        };
        Ok(NewTable {
            snapshot: Snapshot::for_new_table(storage, protocol.clone(), metadata.clone())?,
            actions: vec![Action::Protocol(protocol), Action::Metadata(metadata)],
            commit_metadata: self.commit_metadata.clone(),
        })
    }
}

/// With column mapping (`name` or `id` mode), every field gets a column id and a physical
/// name, and `delta.columnMapping.maxColumnId` records the largest id
/// (`protocol/PROTOCOL.md#column-mapping`); ids and names the schema already carries are kept.
fn with_column_mapping(
    schema: StructType,
    configuration: &mut HashMap<String, String>,
) -> StructType {
    let mode = TableProperties::from_configuration(configuration).column_mapping_mode;
    if !matches!(mode, ColumnMappingMode::Name | ColumnMappingMode::Id) {
        return schema;
    }
    let (schema, max_id) = assign_column_mapping(&schema, max_column_id(&schema));
    configuration.insert(COLUMN_MAPPING_MAX_COLUMN_ID.to_string(), max_id.to_string());
    schema
}

/// With row tracking, the names of the hidden columns rewritten files would keep row ids and
/// commit versions in, as Spark names them (`protocol/PROTOCOL.md#row-tracking`).
fn with_row_tracking(configuration: &mut HashMap<String, String>) {
    if !TableProperties::from_configuration(configuration).enable_row_tracking {
        return;
    }
    for (key, prefix) in [
        (MATERIALIZED_ROW_ID_COLUMN_NAME, "_row-id-col-"),
        (
            MATERIALIZED_ROW_COMMIT_VERSION_COLUMN_NAME,
            "_row-commit-version-col-",
        ),
    ] {
        configuration
            .entry(key.to_string())
            .or_insert_with(|| format!("{prefix}{}", uuid::Uuid::new_v4()));
    }
}

/// A table about to be created: the empty state (version -1) its first commit is made on.
pub(crate) struct NewTable {
    /// Version -1: the new protocol and metadata, no files.
    pub(crate) snapshot: Snapshot,
    /// The `protocol` and `metaData` actions the first commit carries.
    pub(crate) actions: Vec<Action>,
    /// Commit metadata of the definition.
    pub(crate) commit_metadata: serde_json::Map<String, Value>,
}

impl NewTable {
    /// Losing the race for version 0 means another writer created the table first.
    pub(crate) fn exists(error: Error) -> Error {
        match error {
            Error::Conflict { location, .. } => Error::TableExists {
                location,
                version: 0,
            },
            other => other,
        }
    }
}
