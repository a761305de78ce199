//! A checkpoint's `add` rows as decoded Arrow columns ([`FileChunk`]), checked once so that
//! reading a row never fails.

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int32Array, Int64Array, StringArray, StructArray,
};
use arrow::buffer::{NullBuffer, OffsetBuffer};
use arrow::datatypes::DataType;

use crate::protocol::actions::DeletionVectorDescriptor;

/// Why a decoded checkpoint batch cannot be used (the caller adds the file and version).
pub type ColumnError = String;

/// A `map<string,string>` column (`partitionValues`, `tags`) with its keys and values as plain
/// UTF-8 arrays, whatever string type the checkpoint writer used.
#[derive(Debug)]
pub(super) struct StringMap {
    pub(super) offsets: OffsetBuffer<i32>,
    pub(super) nulls: Option<NullBuffer>,
    pub(super) keys: StringArray,
    pub(super) values: StringArray,
}

impl StringMap {
    pub(super) fn try_new(array: &ArrayRef, column: &str) -> Result<StringMap, ColumnError> {
        let map = array
            .as_map_opt()
            .ok_or_else(|| format!("{column} is {}, not a map", array.data_type()))?;
        Ok(StringMap {
            offsets: map.offsets().clone(),
            nulls: map.nulls().cloned(),
            keys: utf8(map.keys(), &format!("{column}.key"))?,
            values: utf8(map.values(), &format!("{column}.value"))?,
        })
    }

    pub(super) fn entries(&self, row: usize) -> impl Iterator<Item = (&str, Option<&str>)> {
        let null = self.nulls.as_ref().is_some_and(|n| n.is_null(row));
        let range = if null {
            0..0
        } else {
            self.offsets[row] as usize..self.offsets[row + 1] as usize
        };
        range.map(|i| {
            let value = self.values.is_valid(i).then(|| self.values.value(i));
            (self.keys.value(i), value)
        })
    }

    pub(super) fn is_null(&self, row: usize) -> bool {
        self.nulls.as_ref().is_some_and(|n| n.is_null(row))
    }
}

/// The `deletionVector` struct column.
#[derive(Debug)]
pub(super) struct DvColumns {
    pub(super) nulls: Option<NullBuffer>,
    pub(super) storage_type: StringArray,
    pub(super) path_or_inline_dv: StringArray,
    pub(super) offset: Option<Int32Array>,
    pub(super) size_in_bytes: Int32Array,
    pub(super) cardinality: Int64Array,
}

impl DvColumns {
    pub(super) fn try_new(array: &ArrayRef) -> Result<DvColumns, ColumnError> {
        let dv = array
            .as_struct_opt()
            .ok_or_else(|| "add.deletionVector is not a struct".to_string())?;
        let column = |name: &str| {
            dv.column_by_name(name)
                .ok_or_else(|| format!("add.deletionVector.{name} is missing"))
        };
        Ok(DvColumns {
            nulls: dv.nulls().cloned(),
            storage_type: utf8(column("storageType")?, "add.deletionVector.storageType")?,
            path_or_inline_dv: utf8(
                column("pathOrInlineDv")?,
                "add.deletionVector.pathOrInlineDv",
            )?,
            offset: dv
                .column_by_name("offset")
                .map(|a| int32(a, "add.deletionVector.offset"))
                .transpose()?,
            size_in_bytes: int32(column("sizeInBytes")?, "add.deletionVector.sizeInBytes")?,
            cardinality: int64(column("cardinality")?, "add.deletionVector.cardinality")?,
        })
    }

    pub(super) fn get(&self, row: usize) -> Option<DeletionVectorDescriptor> {
        if self.nulls.as_ref().is_some_and(|n| n.is_null(row)) {
            return None;
        }
        Some(DeletionVectorDescriptor {
            storage_type: self.storage_type.value(row).to_string(),
            path_or_inline_dv: self.path_or_inline_dv.value(row).to_string(),
            offset: self
                .offset
                .as_ref()
                .and_then(|o| o.is_valid(row).then(|| o.value(row))),
            size_in_bytes: self.size_in_bytes.value(row),
            cardinality: self.cardinality.value(row),
        })
    }
}

pub(super) fn cast_to(
    array: &ArrayRef,
    to: &DataType,
    column: &str,
) -> Result<ArrayRef, ColumnError> {
    if array.data_type() == to {
        return Ok(array.clone());
    }
    let options = arrow::compute::CastOptions {
        safe: false,
        ..Default::default()
    };
    arrow::compute::cast_with_options(array, to, &options)
        .map_err(|e| format!("{column} has type {}: {e}", array.data_type()))
}

pub(super) fn utf8(array: &ArrayRef, column: &str) -> Result<StringArray, ColumnError> {
    Ok(cast_to(array, &DataType::Utf8, column)?
        .as_string::<i32>()
        .clone())
}

pub(super) fn int64(array: &ArrayRef, column: &str) -> Result<Int64Array, ColumnError> {
    Ok(cast_to(array, &DataType::Int64, column)?
        .as_primitive::<arrow::datatypes::Int64Type>()
        .clone())
}

pub(super) fn int32(array: &ArrayRef, column: &str) -> Result<Int32Array, ColumnError> {
    Ok(cast_to(array, &DataType::Int32, column)?
        .as_primitive::<arrow::datatypes::Int32Type>()
        .clone())
}

pub(super) fn boolean(array: &ArrayRef, column: &str) -> Result<BooleanArray, ColumnError> {
    Ok(cast_to(array, &DataType::Boolean, column)?
        .as_boolean()
        .clone())
}

/// Fails when a required column holds a null.
pub(super) fn require_no_nulls(array: &dyn Array, column: &str) -> Result<(), ColumnError> {
    match array.null_count() {
        0 => Ok(()),
        n => Err(format!("{column} is null in {n} add rows")),
    }
}

/// One batch of checkpoint `add` rows (every row a live file), with the columns a snapshot
/// needs in canonical Arrow types. Statistics are not among them (see the module docs).
#[derive(Debug)]
pub struct FileChunk {
    pub(super) path: StringArray,
    pub(super) size: Int64Array,
    pub(super) modification_time: Int64Array,
    pub(super) data_change: Option<BooleanArray>,
    pub(super) partition_values: Option<StringMap>,
    pub(super) tags: Option<StringMap>,
    pub(super) deletion_vector: Option<DvColumns>,
    pub(super) base_row_id: Option<Int64Array>,
    pub(super) default_row_commit_version: Option<Int64Array>,
    pub(super) clustering_provider: Option<StringArray>,
}

impl FileChunk {
    /// Builds a chunk from the `add` struct column of a checkpoint batch, already filtered to
    /// the rows where `add` is not null. Columns the checkpoint lacks read as absent.
    ///
    /// # Errors
    /// A reason naming the column when a required column (`path`, `size`,
    /// `modificationTime`) is missing or null, or a column has an unusable type.
    pub fn try_new(add: &StructArray) -> Result<FileChunk, ColumnError> {
        let required = |name: &str| {
            let array = add
                .column_by_name(name)
                .ok_or_else(|| format!("add.{name} is missing"))?;
            require_no_nulls(array.as_ref(), &format!("add.{name}"))?;
            Ok::<_, ColumnError>(array)
        };
        let optional = |name: &str| add.column_by_name(name);
        Ok(FileChunk {
            path: utf8(required("path")?, "add.path")?,
            size: int64(required("size")?, "add.size")?,
            modification_time: int64(required("modificationTime")?, "add.modificationTime")?,
            data_change: optional("dataChange")
                .map(|a| boolean(a, "add.dataChange"))
                .transpose()?,
            partition_values: optional("partitionValues")
                .map(|a| StringMap::try_new(a, "add.partitionValues"))
                .transpose()?,
            tags: optional("tags")
                .map(|a| StringMap::try_new(a, "add.tags"))
                .transpose()?,
            deletion_vector: optional("deletionVector")
                .filter(|a| a.null_count() < a.len())
                .map(DvColumns::try_new)
                .transpose()?,
            base_row_id: optional("baseRowId")
                .map(|a| int64(a, "add.baseRowId"))
                .transpose()?,
            default_row_commit_version: optional("defaultRowCommitVersion")
                .map(|a| int64(a, "add.defaultRowCommitVersion"))
                .transpose()?,
            clustering_provider: optional("clusteringProvider")
                .map(|a| utf8(a, "add.clusteringProvider"))
                .transpose()?,
        })
    }

    /// Number of files in the chunk.
    pub fn len(&self) -> usize {
        self.path.len()
    }

    /// Whether the chunk holds no files.
    pub fn is_empty(&self) -> bool {
        self.path.is_empty()
    }
}

pub(super) fn opt_i64(array: &Option<Int64Array>, row: usize) -> Option<i64> {
    array
        .as_ref()
        .and_then(|a| a.is_valid(row).then(|| a.value(row)))
}
