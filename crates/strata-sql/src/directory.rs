//! A directory of strata tables as a SQL schema: `root/NAME` is `schema.NAME`. A lake's
//! layers register this way (`bronze`, `silver`, `gold`), so its tables resolve by layer and
//! name inside SQL.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::SchemaProvider;
use datafusion::datasource::TableProvider;
use datafusion::error::DataFusionError;

use strata::{CreateBuilder, Table};

use crate::error::to_datafusion;
use crate::location::{TableSpec, VersionSpec};
use crate::provider::StrataTable;

/// Tables under one root, opened at their latest version when a statement names them.
#[derive(Debug)]
pub(crate) struct DirectorySchema {
    schema: String,
    root: String,
    options: HashMap<String, String>,
    properties: Vec<(String, String)>,
}

impl DirectorySchema {
    pub(crate) fn new(
        schema: &str,
        root: &str,
        options: HashMap<String, String>,
        properties: Vec<(String, String)>,
    ) -> DirectorySchema {
        DirectorySchema {
            schema: schema.to_string(),
            root: root.trim_end_matches('/').to_string(),
            options,
            properties,
        }
    }

    /// The builder `CREATE TABLE schema.name AS …` creates `name` with: the directory's
    /// object store options and table properties.
    pub(crate) fn create_builder(&self, name: &str) -> CreateBuilder {
        let mut builder = Table::create(self.location_of(name)).with_options(self.options.clone());
        for (key, value) in &self.properties {
            builder = builder.with_property(key.clone(), value.clone());
        }
        builder
    }

    /// Where the table `name` is (or would be created).
    pub(crate) fn location_of(&self, name: &str) -> String {
        format!("{}/{name}", self.root)
    }

    fn is_local(&self) -> bool {
        !self.root.contains("://") || self.root.starts_with("file://")
    }

    fn local_root(&self) -> &Path {
        Path::new(self.root.strip_prefix("file://").unwrap_or(&self.root))
    }
}

#[async_trait]
impl SchemaProvider for DirectorySchema {
    fn table_names(&self) -> Vec<String> {
        if !self.is_local() {
            return Vec::new();
        }
        let Ok(entries) = std::fs::read_dir(self.local_root()) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.path().join("_delta_log").is_dir())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort();
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>, DataFusionError> {
        let spec = TableSpec {
            name: Some(format!("{}.{name}", self.schema)),
            location: self.location_of(name),
            version: VersionSpec::Latest,
        };
        match StrataTable::open_with_options(&spec, &self.options).await {
            Ok(table) => Ok(Some(Arc::new(table))),
            Err(crate::SqlError::Table(strata::Error::NotATable { .. })) => Ok(None),
            Err(crate::SqlError::Table(e)) => Err(to_datafusion(e)),
            Err(e) => Err(DataFusionError::External(Box::new(e))),
        }
    }

    fn table_exist(&self, name: &str) -> bool {
        self.is_local() && self.local_root().join(name).join("_delta_log").is_dir()
    }
}
