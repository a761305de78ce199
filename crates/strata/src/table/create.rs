//! [`CreateBuilder`]: the public face of creating a table. It collects the definition (schema,
//! partitioning, properties, name, description) and hands it to the write layer, which
//! validates it and commits version 0 (`write/create.rs`).

use std::collections::HashMap;

use arrow::array::RecordBatch;
use arrow::datatypes::Schema;
use serde_json::Value;

use super::Table;
use crate::error::Result;
use crate::protocol::schema::StructType;
use crate::snapshot::latest::LatestSnapshot;
use crate::storage::Storage;
use crate::write::WriteBuilder;
use crate::write::create::TableDefinition;

/// Builder for [`Table::create`].
#[must_use = "nothing is created until `.execute().await`"]
#[derive(Debug)]
pub struct CreateBuilder {
    location: String,
    options: HashMap<String, String>,
    storage: Option<Storage>,
    pub(super) definition: TableDefinition,
}

impl CreateBuilder {
    pub(super) fn new(location: String) -> CreateBuilder {
        CreateBuilder {
            location,
            options: HashMap::new(),
            storage: None,
            definition: TableDefinition::default(),
        }
    }

    /// Where the table will be.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Creates on a caller-configured storage instead of resolving the location.
    pub fn with_storage(mut self, storage: Storage) -> Self {
        self.storage = Some(storage);
        self
    }

    /// Object store options.
    pub fn with_options(mut self, options: HashMap<String, String>) -> Self {
        self.options = options;
        self
    }

    /// The table schema in Delta types.
    pub fn with_schema(mut self, schema: StructType) -> Self {
        self.definition.schema = Some(schema);
        self
    }

    /// The table schema from Arrow (see [`StructType::try_from_arrow`] for the mapping).
    ///
    /// # Errors
    /// [`Error::Schema`](crate::Error::Schema) for Arrow types Delta cannot store.
    pub fn with_arrow_schema(mut self, schema: &Schema) -> Result<Self> {
        self.definition.schema = Some(StructType::try_from_arrow(schema)?);
        Ok(self)
    }

    /// Partition columns, in directory order.
    pub fn with_partition_columns<I, S>(mut self, columns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.definition.partition_columns = columns.into_iter().map(Into::into).collect();
        self
    }

    /// A table property (`delta.*` properties configure Delta behaviour).
    pub fn with_property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.definition.properties.insert(key.into(), value.into());
        self
    }

    /// The table's name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.definition.name = Some(name.into());
        self
    }

    /// The table's description.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.definition.description = Some(description.into());
        self
    }

    /// A custom field for the creating commit's `commitInfo`.
    pub fn with_commit_metadata(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.definition
            .commit_metadata
            .insert(key.into(), value.into());
        self
    }

    /// Creates the table (version 0) and returns a handle to it.
    ///
    /// # Errors
    /// [`Error::TableExists`](crate::Error::TableExists) when a table is already there (also when another writer created
    /// it concurrently); [`Error::InvalidArgument`](crate::Error::InvalidArgument) for an invalid schema, partitioning or
    /// property; [`Error::Storage`](crate::Error::Storage).
    pub async fn execute(self) -> Result<Table> {
        let storage = self.open_storage()?;
        let result = self.definition.create(&storage).await?;
        let latest = LatestSnapshot::unloaded(storage);
        latest.remember_committed(&result.snapshot);
        Ok(Table::from_latest(latest))
    }

    /// Creates the table with `batches` as its first data, in one commit (version 0), so that a
    /// failed input leaves no empty table behind (as Spark's `CREATE TABLE AS SELECT` and
    /// delta-rs's `write_deltalake` to a new location). Configure the write (mode, `txn`,
    /// commit metadata, file layout) on the returned builder.
    ///
    /// When a table with the same schema and partition columns is already there, or another
    /// writer creates one first, the data is written to it instead (with the write's mode and
    /// `txn`, so a rerun of an idempotent job is recognised), as `write_deltalake` in append
    /// mode does; a table of another shape is [`Error::TableExists`](crate::Error::TableExists).
    ///
    /// # Errors
    /// [`Error::InvalidLocation`](crate::Error::InvalidLocation) at once; the others of [`CreateBuilder::execute`] and
    /// [`WriteBuilder::execute`] from `execute`.
    pub fn write_stream<S>(self, batches: S) -> Result<WriteBuilder>
    where
        S: futures::Stream<Item = Result<RecordBatch>> + Send + 'static,
    {
        let latest = LatestSnapshot::unloaded(self.open_storage()?);
        Ok(WriteBuilder::from_stream(latest, batches).creating(self.definition))
    }

    /// As [`CreateBuilder::write_stream`], for batches in memory.
    ///
    /// # Errors
    /// As [`CreateBuilder::write_stream`].
    pub fn write(self, batches: impl IntoIterator<Item = RecordBatch>) -> Result<WriteBuilder> {
        let latest = LatestSnapshot::unloaded(self.open_storage()?);
        Ok(WriteBuilder::new(latest, batches.into_iter().collect()).creating(self.definition))
    }

    fn open_storage(&self) -> Result<Storage> {
        match &self.storage {
            Some(s) => Ok(s.clone()),
            None => Storage::open(&self.location, &self.options),
        }
    }
}
