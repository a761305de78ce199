//! One live file, whichever way it is held ([`FileView`]): a row of the checkpoint's columns
//! or an `add` replayed after it.

use std::collections::HashMap;

use arrow::array::Array;

use crate::protocol::actions::{Add, DeletionVectorDescriptor, file_key};

use super::base::BaseRow;
use super::chunk::opt_i64;

/// A live file, whether it sits in a checkpoint's columns or in a replayed `add`.
#[derive(Debug, Clone, Copy)]
pub enum FileView<'a> {
    /// A file from the checkpoint.
    Base(BaseRow<'a>),
    /// A file added by a commit after the checkpoint.
    Added(&'a Add),
}

impl<'a> FileView<'a> {
    /// `add.path`: a URI relative to the table root, percent-encoded.
    pub fn path(&self) -> &'a str {
        match self {
            FileView::Base(b) => b.columns().path.value(b.row),
            FileView::Added(a) => &a.path,
        }
    }

    /// File size in bytes.
    pub fn size(&self) -> i64 {
        match self {
            FileView::Base(b) => b.columns().size.value(b.row),
            FileView::Added(a) => a.size,
        }
    }

    /// Modification time in milliseconds since the epoch.
    pub fn modification_time(&self) -> i64 {
        match self {
            FileView::Base(b) => b.columns().modification_time.value(b.row),
            FileView::Added(a) => a.modification_time,
        }
    }

    /// Whether the commit that added the file changed data.
    pub fn data_change(&self) -> bool {
        match self {
            FileView::Base(b) => b
                .columns()
                .data_change
                .as_ref()
                .is_some_and(|d| d.is_valid(b.row) && d.value(b.row)),
            FileView::Added(a) => a.data_change,
        }
    }

    /// The serialized value of one partition column (`None` is SQL NULL, also when the
    /// writer left a null value out of the map).
    pub fn partition_value(&self, column: &str) -> Option<&'a str> {
        match self {
            FileView::Base(b) => b
                .columns()
                .partition_values
                .as_ref()?
                .entries(b.row)
                .find(|(k, _)| *k == column)
                .and_then(|(_, v)| v),
            FileView::Added(a) => a.partition_values.get(column)?.as_deref(),
        }
    }

    /// All partition values, every partition column of the table present.
    pub fn partition_values(&self) -> HashMap<String, Option<String>> {
        match self {
            FileView::Base(b) => {
                let mut values: HashMap<String, Option<String>> = b
                    .columns()
                    .partition_values
                    .as_ref()
                    .map(|m| {
                        m.entries(b.row)
                            .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
                            .collect()
                    })
                    .unwrap_or_default();
                for column in &b.base.partition_columns {
                    values.entry(column.clone()).or_insert(None);
                }
                values
            }
            FileView::Added(a) => a.partition_values.clone(),
        }
    }

    /// `add.stats` (JSON), when the file has statistics. For files from a checkpoint this is
    /// `None` until the snapshot's statistics are loaded (`Snapshot::load_stats`).
    pub fn stats(&self) -> Option<&'a str> {
        match self {
            FileView::Base(b) => {
                let stats = &b.base.stats.get()?[b.chunk];
                stats.is_valid(b.row).then(|| stats.value(b.row))
            }
            FileView::Added(a) => a.stats.as_deref(),
        }
    }

    /// `add.tags`.
    pub fn tags(&self) -> Option<HashMap<String, Option<String>>> {
        match self {
            FileView::Base(b) => {
                let tags = b.columns().tags.as_ref()?;
                (!tags.is_null(b.row)).then(|| {
                    tags.entries(b.row)
                        .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
                        .collect()
                })
            }
            FileView::Added(a) => a.tags.clone(),
        }
    }

    /// The file's deletion vector.
    pub fn deletion_vector(&self) -> Option<DeletionVectorDescriptor> {
        match self {
            FileView::Base(b) => b.columns().deletion_vector.as_ref()?.get(b.row),
            FileView::Added(a) => a.deletion_vector.clone(),
        }
    }

    /// The reconciliation key: the decoded path and the deletion vector's identity
    /// (`protocol/PROTOCOL.md#action-reconciliation`).
    pub fn key(&self) -> String {
        match self {
            FileView::Base(b) => b.key(),
            FileView::Added(a) => file_key(&a.path, a.deletion_vector.as_ref()),
        }
    }

    /// The file as an owned `add` action (statistics included when loaded).
    pub fn to_add(&self) -> Add {
        match self {
            FileView::Base(b) => {
                let c = b.columns();
                Add {
                    path: self.path().to_string(),
                    partition_values: self.partition_values(),
                    size: self.size(),
                    modification_time: self.modification_time(),
                    data_change: self.data_change(),
                    stats: self.stats().map(str::to_string),
                    tags: self.tags(),
                    deletion_vector: self.deletion_vector(),
                    base_row_id: opt_i64(&c.base_row_id, b.row),
                    default_row_commit_version: opt_i64(&c.default_row_commit_version, b.row),
                    clustering_provider: c
                        .clustering_provider
                        .as_ref()
                        .and_then(|p| p.is_valid(b.row).then(|| p.value(b.row).to_string())),
                }
            }
            FileView::Added(a) => (*a).clone(),
        }
    }
}
