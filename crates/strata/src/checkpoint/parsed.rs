//! The typed copies of `add` columns a checkpoint carries when the table sets
//! `delta.checkpoint.writeStatsAsStruct`: `stats_parsed` (the statistics as a struct typed by
//! the table schema) and `partitionValues_parsed` (`protocol/PROTOCOL.md#checkpoints`).

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StructArray, new_null_array};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{DataType, Field, FieldRef, Fields, Schema, SchemaRef};
use arrow::error::ArrowError;
use serde_json::Value;

use super::Row;
use super::decode_json_lines;
use super::schema::{ParsedColumns, nullable, structure};
use crate::error::Result;
use crate::protocol::schema::column_mapping::{physical_partition_columns, physical_schema};
use crate::snapshot::Snapshot;
use crate::stats::{IndexedColumns, StatsCollector};

/// The typed columns for this table: partition columns with their table types, and the stats
/// struct over exactly the columns strata's writer indexes (`protocol/PROTOCOL.md#statistics`):
/// `numRecords`, `minValues`/`maxValues` for the types that get bounds, `nullCount` (long) for
/// every indexed leaf. Empty structs are left out (Parquet cannot store them).
pub(super) fn parsed_columns(snapshot: &Snapshot) -> ParsedColumns {
    // Statistics and partition values are keyed by physical names under column mapping.
    let table = physical_schema(&snapshot.arrow_schema(), snapshot.column_lookup());
    let partition_columns = physical_partition_columns(snapshot.metadata());
    let partition: Vec<Field> = partition_columns
        .iter()
        .filter_map(|c| table.field_with_name(c).ok())
        .map(|f| nullable(f.name(), f.data_type().clone()))
        .collect();
    let data_fields: Fields = table
        .fields()
        .iter()
        .filter(|f| !partition_columns.contains(f.name()))
        .cloned()
        .collect();
    let indexed = IndexedColumns::from_properties(snapshot.properties()).unwrap_or_else(|e| {
        tracing::warn!("checkpoint stats_parsed uses the default indexed columns: {e}");
        IndexedColumns::default()
    });
    // The collector decides which leaves are indexed; with no rows its nullCount object
    // names exactly those leaves (with 0), nested like the schema.
    let collector = StatsCollector::new(&Arc::new(Schema::new(data_fields.clone())), &indexed);
    let template: Value = serde_json::from_str(&collector.finish()).unwrap_or(Value::Null);
    let empty = serde_json::Map::new();
    let indexed_tree = template
        .get("nullCount")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let (bounds, counts) = stats_fields(&data_fields, indexed_tree);
    let mut stats = vec![nullable("numRecords", DataType::Int64)];
    if !bounds.is_empty() {
        stats.push(nullable("minValues", structure(bounds.clone())));
        stats.push(nullable("maxValues", structure(bounds)));
    }
    if !counts.is_empty() {
        stats.push(nullable("nullCount", structure(counts)));
    }
    ParsedColumns {
        partition: (!partition.is_empty()).then(|| Fields::from(partition)),
        stats: structure(stats),
    }
}

/// (min/max fields, nullCount fields) for the leaves of `fields` present in `indexed`.
fn stats_fields(
    fields: &Fields,
    indexed: &serde_json::Map<String, Value>,
) -> (Vec<Field>, Vec<Field>) {
    let (mut bounds, mut counts) = (Vec::new(), Vec::new());
    for field in fields {
        let Some(entry) = indexed.get(field.name()) else {
            continue;
        };
        match (field.data_type(), entry) {
            (DataType::Struct(children), Value::Object(inner)) => {
                let (b, c) = stats_fields(children, inner);
                if !b.is_empty() {
                    bounds.push(nullable(field.name(), structure(b)));
                }
                if !c.is_empty() {
                    counts.push(nullable(field.name(), structure(c)));
                }
            }
            (data_type, _) => {
                counts.push(nullable(field.name(), DataType::Int64));
                if has_bounds(data_type) {
                    bounds.push(nullable(field.name(), data_type.clone()));
                }
            }
        }
    }
    (bounds, counts)
}

/// Types strata writes min/max statistics for.
fn has_bounds(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::Float32
            | DataType::Float64
            | DataType::Decimal128(..)
            | DataType::Date32
            | DataType::Timestamp(..)
            | DataType::Utf8
    )
}

/// Adds `partitionValues_parsed` and `stats_parsed` to the `add` column of `batch`.
pub(super) fn with_parsed_columns(
    batch: RecordBatch,
    rows: &[Row],
    parsed: &ParsedColumns,
    schema: &SchemaRef,
) -> Result<RecordBatch> {
    let add_index = batch.schema().index_of("add")?;
    let (fields, mut arrays, nulls) = batch.column(add_index).as_struct().clone().into_parts();
    let mut fields: Vec<FieldRef> = fields.iter().cloned().collect();
    let is_add: Vec<bool> = rows.iter().map(|r| matches!(r, Row::Add(_))).collect();
    if let Some(partition) = &parsed.partition {
        let array = partition_values_parsed(rows, partition, &is_add)?;
        fields.push(Arc::new(nullable(
            "partitionValues_parsed",
            array.data_type().clone(),
        )));
        arrays.push(array);
    }
    fields.push(Arc::new(nullable("stats_parsed", parsed.stats.clone())));
    arrays.push(stats_parsed(rows, &parsed.stats)?);
    let add = StructArray::try_new(Fields::from(fields), arrays, nulls)?;
    let mut columns = batch.columns().to_vec();
    columns[add_index] = Arc::new(add);
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// Partition values parsed with the same rules a scan uses; a value that does not parse is
/// null (it only costs pruning).
fn partition_values_parsed(rows: &[Row], partition: &Fields, is_add: &[bool]) -> Result<ArrayRef> {
    let mut columns = Vec::with_capacity(partition.len());
    for field in partition {
        let null = new_null_array(field.data_type(), 1);
        let mut cache: HashMap<Option<&str>, ArrayRef> = HashMap::new();
        let mut parts: Vec<ArrayRef> = Vec::with_capacity(rows.len());
        for row in rows {
            let Row::Add(add) = row else {
                parts.push(null.clone());
                continue;
            };
            let value = add
                .partition_values
                .get(field.name())
                .and_then(|v| v.as_deref());
            let array = cache.entry(value).or_insert_with(|| {
                crate::protocol::partition::parse_value(value, field.data_type(), 1).unwrap_or_else(
                    |e| {
                        tracing::warn!("partitionValues_parsed left null for {}: {e}", add.path);
                        null.clone()
                    },
                )
            });
            parts.push(array.clone());
        }
        let refs: Vec<&dyn Array> = parts.iter().map(|a| a.as_ref()).collect();
        columns.push(arrow::compute::concat(&refs)?);
    }
    let nulls = NullBuffer::from(is_add.to_vec());
    Ok(Arc::new(StructArray::try_new(
        partition.clone(),
        columns,
        Some(nulls),
    )?))
}

/// `add.stats` decoded into `stats_type`. A row whose stats are absent, not a JSON object, or
/// do not fit the types (another writer's stats) is null rather than failing the checkpoint.
fn stats_parsed(rows: &[Row], stats_type: &DataType) -> Result<ArrayRef> {
    let schema = Arc::new(Schema::new(vec![nullable("s", stats_type.clone())]));
    let stats: Vec<Option<&str>> = rows
        .iter()
        .map(|r| match r {
            Row::Add(a) => a.stats.as_deref().filter(|s| is_json_object(s)),
            _ => None,
        })
        .collect();
    if let Ok(array) = decode_stats(&schema, &stats) {
        return Ok(array);
    }
    let mut parts = Vec::with_capacity(stats.len());
    for s in &stats {
        parts.push(
            decode_stats(&schema, std::slice::from_ref(s)).unwrap_or_else(|e| {
                tracing::warn!("stats_parsed left null for stats that do not fit the schema: {e}");
                new_null_array(stats_type, 1)
            }),
        );
    }
    let refs: Vec<&dyn Array> = parts.iter().map(|a| a.as_ref()).collect();
    Ok(arrow::compute::concat(&refs)?)
}

fn decode_stats(
    schema: &SchemaRef,
    stats: &[Option<&str>],
) -> std::result::Result<ArrayRef, ArrowError> {
    let mut text = Vec::with_capacity(stats.len() * 256);
    for s in stats {
        match s {
            Some(s) => {
                text.extend_from_slice(b"{\"s\":");
                text.extend_from_slice(s.as_bytes());
                text.extend_from_slice(b"}\n");
            }
            None => text.extend_from_slice(b"{}\n"),
        }
    }
    Ok(decode_json_lines(schema.clone(), &text, stats.len())?
        .column(0)
        .clone())
}

/// True when `s` is exactly one JSON object (so splicing it into a line cannot change framing).
fn is_json_object(s: &str) -> bool {
    s.trim_start().starts_with('{') && serde_json::from_str::<serde::de::IgnoredAny>(s).is_ok()
}
