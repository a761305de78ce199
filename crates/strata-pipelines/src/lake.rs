//! A lake: a root with tables at `root/{bronze,silver,gold}/NAME`, addressed as `layer.name`
//! (`protocol/PROTOCOL.md#pipelines`). The layer is also recorded in each table's
//! `strata.layer` property when the lake creates it.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use object_store::ObjectStore;
use strata::{CreateBuilder, Storage, Table};

use crate::error::PipelineError;

/// The table property naming a table's layer.
pub const LAYER_PROPERTY: &str = "strata.layer";

/// A medallion layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Layer {
    /// Raw data as landed.
    Bronze,
    /// Cleaned, deduplicated, upserted.
    Silver,
    /// Aggregated for consumers.
    Gold,
}

impl Layer {
    /// Every layer, upstream first.
    pub const ALL: [Layer; 3] = [Layer::Bronze, Layer::Silver, Layer::Gold];

    /// The layer's name, as in paths and table names.
    pub fn as_str(self) -> &'static str {
        match self {
            Layer::Bronze => "bronze",
            Layer::Silver => "silver",
            Layer::Gold => "gold",
        }
    }

    /// The table properties a new table of this layer gets: its layer in `strata.layer`, and
    /// the layer's policy (`protocol/PROTOCOL.md#pipelines`): bronze is append-only
    /// (`delta.appendOnly`), gold takes data only with lineage (`strata.requireLineage`).
    pub fn table_properties(self) -> Vec<(&'static str, &'static str)> {
        let mut properties = vec![(LAYER_PROPERTY, self.as_str())];
        match self {
            Layer::Bronze => properties.push(("delta.appendOnly", "true")),
            Layer::Silver => {}
            Layer::Gold => properties.push((strata::REQUIRE_LINEAGE, "true")),
        }
        properties
    }

    fn parse(text: &str) -> Option<Layer> {
        Layer::ALL.into_iter().find(|l| l.as_str() == text)
    }
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A table's name in a lake: `silver.flights`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TableName {
    /// Its layer.
    pub layer: Layer,
    /// Its name within the layer.
    pub name: String,
}

impl TableName {
    /// Parses `layer.name`.
    ///
    /// # Errors
    /// [`PipelineError::BadTableName`] for another shape or an unknown layer.
    pub fn parse(text: &str) -> Result<TableName, PipelineError> {
        let bad = || PipelineError::BadTableName {
            name: text.to_string(),
        };
        let (layer, name) = text.split_once('.').ok_or_else(bad)?;
        let layer = Layer::parse(layer).ok_or_else(bad)?;
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid {
            return Err(bad());
        }
        Ok(TableName {
            layer,
            name: name.to_string(),
        })
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.layer, self.name)
    }
}

/// A lake root (a local directory or an object-store URI) and the options to open its tables
/// with, or a prefix in a caller-supplied object store. Opening does no I/O.
#[derive(Clone)]
pub struct Lake {
    root: String,
    options: HashMap<String, String>,
    store: Option<Arc<dyn ObjectStore>>,
}

impl fmt::Debug for Lake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lake")
            .field("root", &self.root)
            .field("custom_store", &self.store.is_some())
            .finish_non_exhaustive()
    }
}

impl Lake {
    /// The lake at `root`.
    pub fn open(root: impl Into<String>) -> Lake {
        Lake {
            root: root.into().trim_end_matches('/').to_string(),
            options: HashMap::new(),
            store: None,
        }
    }

    /// The lake under `prefix` in `store` (a custom or instrumented object store); table
    /// locations in messages are `prefix/layer/name`.
    pub fn on_store(store: Arc<dyn ObjectStore>, prefix: impl Into<String>) -> Lake {
        Lake {
            root: prefix.into().trim_matches('/').to_string(),
            options: HashMap::new(),
            store: Some(store),
        }
    }

    /// Object store options (credentials, endpoints) for every table.
    pub fn with_options(mut self, options: HashMap<String, String>) -> Lake {
        self.options = options;
        self
    }

    /// The lake's root.
    pub fn root(&self) -> &str {
        &self.root
    }

    pub(crate) fn options(&self) -> &HashMap<String, String> {
        &self.options
    }

    pub(crate) fn custom_store(&self) -> Option<Arc<dyn ObjectStore>> {
        self.store.clone()
    }

    /// Where a table lives: `root/layer/name`.
    pub fn location(&self, table: &TableName) -> String {
        format!("{}/{}/{}", self.root, table.layer, table.name)
    }

    /// Opens a table by name (`silver.flights`).
    ///
    /// # Errors
    /// [`PipelineError::BadTableName`]; [`strata::Error::NotATable`] when it does not exist.
    pub async fn table(&self, name: &str) -> Result<Table, PipelineError> {
        self.open_table(&TableName::parse(name)?).await
    }

    pub(crate) async fn open_table(&self, name: &TableName) -> Result<Table, PipelineError> {
        Ok(match self.storage(name)? {
            Some(storage) => Table::open_storage(storage).await?,
            None => Table::open_with_options(self.location(name), self.options.clone()).await?,
        })
    }

    /// The table's storage on the custom store, `None` for a lake opened by URI.
    fn storage(&self, name: &TableName) -> Result<Option<Storage>, PipelineError> {
        let Some(store) = &self.store else {
            return Ok(None);
        };
        let location = self.location(name);
        Ok(Some(Storage::from_store(
            store.clone(),
            &location,
            location.clone(),
        )?))
    }

    /// Starts creating a table by name, with its layer in the `strata.layer` property and the
    /// layer's policy: bronze append-only, gold written only by flows (see
    /// `protocol/PROTOCOL.md#pipelines`); set the property on the builder to override.
    ///
    /// # Errors
    /// [`PipelineError::BadTableName`].
    pub fn create_table(&self, name: &str) -> Result<CreateBuilder, PipelineError> {
        self.create_builder(&TableName::parse(name)?)
    }

    /// A table of `name`'s layer, with the layer's policy as table properties: bronze is
    /// append-only (`delta.appendOnly`), gold takes data only with lineage
    /// (`strata.requireLineage`), so only flows write it. A property set on the builder
    /// afterwards overrides either.
    pub(crate) fn create_builder(&self, name: &TableName) -> Result<CreateBuilder, PipelineError> {
        let mut builder = Table::create(self.location(name)).with_options(self.options.clone());
        for (key, value) in name.layer.table_properties() {
            builder = builder.with_property(key, value);
        }
        if let Some(storage) = self.storage(name)? {
            builder = builder.with_storage(storage);
        }
        Ok(builder)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_layer_dot_name() {
        let name = TableName::parse("silver.flights_2026").unwrap();
        assert_eq!(
            (name.layer, name.name.as_str()),
            (Layer::Silver, "flights_2026")
        );
        assert_eq!(name.to_string(), "silver.flights_2026");
        for bad in [
            "flights",
            "platinum.x",
            "silver.",
            "silver.a/b",
            "silver.a.b",
            ".x",
        ] {
            assert!(TableName::parse(bad).is_err(), "{bad}");
        }
        let lake = Lake::open("/lake/");
        assert_eq!(lake.location(&name), "/lake/silver/flights_2026");
    }
}

/// One table of a lake, as [`Lake::tables`] lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LakeTable {
    /// `layer.name`.
    pub name: String,
    /// Its layer.
    pub layer: String,
    /// Where it lives.
    pub location: String,
    /// Its latest version.
    pub version: i64,
    /// Rows at that version, when the statistics tell.
    pub rows: Option<i64>,
    /// When that version was committed (ms since the epoch).
    pub last_commit_ms: i64,
    /// The flow that wrote the latest commit, if one did.
    pub flow: Option<String>,
}

impl Lake {
    /// The lake's tables, layer by layer (bronze, silver, gold) and by name: every directory
    /// `root/layer/name` holding a Delta log. Lakes on local disk only, for now.
    ///
    /// # Errors
    /// [`strata::Error::InvalidLocation`] for a lake on an object store; a table that cannot
    /// be read.
    pub async fn tables(&self) -> Result<Vec<LakeTable>, PipelineError> {
        let root = self.local_root().ok_or_else(|| strata::Error::InvalidLocation {
            location: self.root.clone(),
            reason: "listing a lake's tables is supported on local disk only; name the tables instead".into(),
        })?;
        let mut tables = Vec::new();
        for layer in Layer::ALL {
            let mut names: Vec<String> = match std::fs::read_dir(root.join(layer.as_str())) {
                Ok(entries) => entries
                    .filter_map(|e| e.ok())
                    .filter(|e| e.path().join("_delta_log").is_dir())
                    .filter_map(|e| e.file_name().into_string().ok())
                    .collect(),
                Err(_) => Vec::new(),
            };
            names.sort();
            for name in names {
                let Ok(table_name) = TableName::parse(&format!("{layer}.{name}")) else {
                    continue;
                };
                tables.push(self.describe(&table_name).await?);
            }
        }
        Ok(tables)
    }

    async fn describe(&self, name: &TableName) -> Result<LakeTable, PipelineError> {
        let table = self.open_table(name).await?;
        let snapshot = table.snapshot().await?;
        let last = snapshot.history(Some(1)).await?.into_iter().next();
        let flow = last
            .as_ref()
            .and_then(|e| e.user_metadata.get(crate::LINEAGE_KEY))
            .and_then(|l| l.get("flow"))
            .and_then(|f| f.as_str())
            .map(str::to_string);
        Ok(LakeTable {
            name: name.to_string(),
            layer: name.layer.to_string(),
            location: table.location().to_string(),
            version: snapshot.version(),
            rows: snapshot.num_records().await?,
            last_commit_ms: snapshot.timestamp_ms(),
            flow,
        })
    }

    /// The root as a local directory, `None` for object-store lakes.
    fn local_root(&self) -> Option<std::path::PathBuf> {
        if self.store.is_some() {
            return None;
        }
        match self.root.strip_prefix("file://") {
            Some(path) => Some(path.into()),
            None if !self.root.contains("://") => Some(self.root.clone().into()),
            None => None,
        }
    }

    /// The lake and table name of a table location `ROOT/layer/name`, when it has that shape.
    pub fn of_table(location: &str) -> Option<(Lake, TableName)> {
        let trimmed = location.trim_end_matches('/');
        let (rest, name) = trimmed.rsplit_once('/')?;
        let (root, layer) = rest.rsplit_once('/').unwrap_or(("", rest));
        let table = TableName::parse(&format!("{layer}.{name}")).ok()?;
        let root = if root.is_empty() { "." } else { root };
        Some((Lake::open(root), table))
    }
}
