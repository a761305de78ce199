//! Change data files (`protocol/PROTOCOL.md#change-data-feed`): the rows a commit changed, with
//! their `_change_type`, in `_change_data/` beside the data. A commit that has `cdc` files is
//! read from them alone by every change-feed reader, so a commit that writes any must put every
//! row it changed in them.
//!
//! Files are split by partition as data files are (directories and `partitionValues` keyed by
//! physical names) and hold the table's other columns by physical name with field ids (column
//! mapping), then `_change_type`. Change rows are few next to the data, so each partition's rows
//! are encoded in memory with Arrow's Parquet writer.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;

use super::WriterOptions;
use super::encode::parquet_error;
use super::partition::split_by_partition;
use crate::error::{Error, Result};
use crate::protocol::actions::Cdc;
use crate::protocol::partition::{PartitionValues, partition_dir};
use crate::protocol::paths::encode_path;
use crate::protocol::schema::column_mapping::{
    physical_partition_columns, physical_schema, to_physical_batch,
};
use crate::read::changes::CHANGE_TYPE_COLUMN;
use crate::snapshot::Snapshot;

/// The directory change data files live in, under the table root.
pub const CHANGE_DATA_DIR: &str = "_change_data";

/// Writes `rows` (batches of the table's schema, logical names) as change data files with
/// `_change_type` = `change`, and returns their `cdc` actions (`dataChange` false).
///
/// # Errors
/// [`Error::Partition`] for a partition value that cannot be serialized; [`Error::Parquet`],
/// [`Error::Storage`].
pub(crate) async fn write_cdc_files(
    snapshot: &Snapshot,
    rows: &[RecordBatch],
    change: &str,
) -> Result<Vec<Cdc>> {
    let partition_columns = snapshot.partition_columns();
    let mut parts: BTreeMap<PartitionValues, Vec<RecordBatch>> = BTreeMap::new();
    for batch in rows.iter().filter(|b| b.num_rows() > 0) {
        let split = if partition_columns.is_empty() {
            vec![(Vec::new(), batch.clone())]
        } else {
            split_by_partition(batch, partition_columns)?
        };
        for (values, part) in split {
            parts.entry(values).or_default().push(part);
        }
    }
    let lookup = snapshot.column_lookup();
    let physical_partitions = physical_partition_columns(snapshot.metadata());
    let options = WriterOptions::default();
    let mut cdcs = Vec::new();
    for (values, batches) in parts {
        let logical = batches[0].schema();
        let physical = Arc::new(physical_schema(&logical, lookup));
        let mut fields: Vec<Field> = physical
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields.push(Field::new(CHANGE_TYPE_COLUMN, DataType::Utf8, true));
        let schema = Arc::new(Schema::new(fields));
        let mut bytes = Vec::new();
        let mut writer =
            ArrowWriter::try_new(&mut bytes, schema.clone(), Some(options.properties()))
                .map_err(parquet_error)?;
        for batch in &batches {
            let batch = if lookup.is_mapped() {
                to_physical_batch(batch, &physical)?
            } else {
                batch.clone()
            };
            let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
            columns.push(Arc::new(StringArray::from(vec![change; batch.num_rows()])));
            writer
                .write(&RecordBatch::try_new(schema.clone(), columns)?)
                .map_err(parquet_error)?;
        }
        writer.close().map_err(parquet_error)?;
        let name = format!(
            "cdc-{:05}-{}.c000{}.parquet",
            cdcs.len(),
            uuid::Uuid::new_v4(),
            options.extension()
        );
        let relative = if physical_partitions.is_empty() {
            format!("{CHANGE_DATA_DIR}/{name}")
        } else {
            format!(
                "{CHANGE_DATA_DIR}/{}/{name}",
                partition_dir(&physical_partitions, &values)
            )
        };
        let size =
            i64::try_from(bytes.len()).map_err(|_| Error::internal("a cdc file over 8 EiB"))?;
        let path = snapshot.storage().relative_path(&relative)?;
        snapshot.storage().put(&path, bytes).await?;
        let partition_values: HashMap<String, Option<String>> = physical_partitions
            .iter()
            .cloned()
            .zip(values.iter().cloned())
            .collect();
        cdcs.push(Cdc {
            path: encode_path(&relative),
            partition_values,
            size,
            data_change: false,
            tags: None,
        });
    }
    Ok(cdcs)
}
