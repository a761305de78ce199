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

    /// Starts creating a table by name, with its layer in the `strata.layer` property.
    ///
    /// # Errors
    /// [`PipelineError::BadTableName`].
    pub fn create_table(&self, name: &str) -> Result<CreateBuilder, PipelineError> {
        self.create_builder(&TableName::parse(name)?)
    }

    pub(crate) fn create_builder(&self, name: &TableName) -> Result<CreateBuilder, PipelineError> {
        let mut builder = Table::create(self.location(name))
            .with_options(self.options.clone())
            .with_property(LAYER_PROPERTY, name.layer.as_str());
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
