//! The streaming collector of a data file's statistics: min/max, null counts and row count
//! per indexed leaf, written as the `add.stats` JSON (`protocol/PROTOCOL.md#statistics`).

use std::fmt::Write as _;

use arrow::array::{Array, ArrayRef, ArrowPrimitiveType, AsArray, BooleanArray, PrimitiveArray};
use arrow::buffer::NullBuffer;
use arrow::compute::nullif;
use arrow::datatypes::{
    DataType, Date32Type, Decimal32Type, Decimal64Type, Decimal128Type, Field, Fields, Float32Type,
    Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, SchemaRef, TimeUnit,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType,
};
use arrow::record_batch::RecordBatch;

use super::indexed::{name_matches, parse_column_path};
use super::{IndexedColumns, STRING_PREFIX_LENGTH, StatsError};

/// The statistics flavour of a leaf column, derived from its Arrow type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// nullCount only.
    NullCountOnly,
    Int,
    Float {
        is_f32: bool,
    },
    Decimal {
        scale: i8,
    },
    Date,
    Timestamp {
        utc: bool,
    },
    String,
}

impl Kind {
    fn of(data_type: &DataType) -> Kind {
        match data_type {
            DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => Kind::Int,
            DataType::Float32 => Kind::Float { is_f32: true },
            DataType::Float64 => Kind::Float { is_f32: false },
            DataType::Decimal32(_, s) | DataType::Decimal64(_, s) | DataType::Decimal128(_, s) => {
                Kind::Decimal { scale: *s }
            }
            DataType::Date32 => Kind::Date,
            DataType::Timestamp(_, tz) => Kind::Timestamp { utc: tz.is_some() },
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Kind::String,
            _ => Kind::NullCountOnly,
        }
    }
}

/// Running min/max of one leaf column. Integer-like values are kept in their
/// widest lossless representation; strings are kept untruncated so that merging
/// across batches compares real values.
#[derive(Debug, Clone)]
enum Bounds {
    None,
    Int(i64, i64),
    Float(f64, f64),
    Decimal(i128, i128),
    Date(i32, i32),
    /// Microseconds since the epoch.
    Timestamp(i64, i64),
    String(String, String),
}

#[derive(Debug, Clone)]
struct Leaf {
    kind: Kind,
    null_count: u64,
    bounds: Bounds,
}

#[derive(Debug, Clone)]
enum Node {
    Struct {
        name: String,
        index: usize,
        children: Vec<Node>,
    },
    Leaf {
        name: String,
        index: usize,
        leaf: Leaf,
    },
}

impl Node {
    fn leaf(name: &str, index: usize, field: &Field) -> Node {
        Node::Leaf {
            name: name.to_string(),
            index,
            leaf: Leaf {
                kind: Kind::of(field.data_type()),
                null_count: 0,
                bounds: Bounds::None,
            },
        }
    }
}

/// Build nodes for the first `remaining` leaves (`None` = unlimited).
fn build_counted(fields: &Fields, remaining: &mut Option<usize>) -> Vec<Node> {
    let mut nodes = Vec::new();
    for (index, field) in fields.iter().enumerate() {
        if *remaining == Some(0) {
            break;
        }
        match field.data_type() {
            DataType::Struct(children) => {
                let children = build_counted(children, remaining);
                if !children.is_empty() {
                    nodes.push(Node::Struct {
                        name: field.name().clone(),
                        index,
                        children,
                    });
                }
            }
            _ => {
                nodes.push(Node::leaf(field.name(), index, field));
                if let Some(n) = remaining.as_mut() {
                    *n -= 1;
                }
            }
        }
    }
    nodes
}

/// Build nodes for the named paths (each path relative to `fields`).
fn build_named(fields: &Fields, paths: &[&[String]]) -> Vec<Node> {
    let mut nodes = Vec::new();
    for (index, field) in fields.iter().enumerate() {
        let rests: Vec<&[String]> = paths
            .iter()
            .filter_map(|p| match p.split_first() {
                Some((first, rest)) if name_matches(first, field.name()) => Some(rest),
                _ => None,
            })
            .collect();
        if rests.is_empty() {
            continue;
        }
        let whole = rests.iter().any(|r| r.is_empty());
        match field.data_type() {
            DataType::Struct(children) => {
                let children = if whole {
                    build_counted(children, &mut None)
                } else {
                    build_named(children, &rests)
                };
                if !children.is_empty() {
                    nodes.push(Node::Struct {
                        name: field.name().clone(),
                        index,
                        children,
                    });
                }
            }
            // A path reaching into a non-struct column selects nothing.
            _ if whole => nodes.push(Node::leaf(field.name(), index, field)),
            _ => {}
        }
    }
    nodes
}

/// Streaming collector of Delta per-file statistics.
///
/// Create one per data file, call [`update`](Self::update) with every batch
/// written to the file and [`finish`](Self::finish) to get the `add.stats` JSON.
#[derive(Debug, Clone)]
pub struct StatsCollector {
    nodes: Vec<Node>,
    num_records: u64,
}

impl StatsCollector {
    /// Plan statistics for files with schema `file_schema`, indexing the columns
    /// chosen by `indexed`. Named columns that do not exist are ignored.
    pub fn new(file_schema: &SchemaRef, indexed: &IndexedColumns) -> Self {
        let fields = file_schema.fields();
        let nodes = match indexed {
            IndexedColumns::First(n) => build_counted(fields, &mut Some(*n)),
            IndexedColumns::All => build_counted(fields, &mut None),
            IndexedColumns::Named(names) => {
                let paths: Vec<Vec<String>> = names.iter().map(|n| parse_column_path(n)).collect();
                let refs: Vec<&[String]> = paths.iter().map(Vec::as_slice).collect();
                build_named(fields, &refs)
            }
        };
        StatsCollector {
            nodes,
            num_records: 0,
        }
    }

    /// Fold one record batch into the statistics.
    ///
    /// The batch must have the file schema's layout (same column positions and
    /// names for indexed columns, compatible types). On error the collector may
    /// have absorbed part of the batch and should be discarded.
    pub fn update(&mut self, batch: &RecordBatch) -> Result<(), StatsError> {
        let schema = batch.schema();
        let fields = schema.fields();
        for node in &mut self.nodes {
            update_node(node, fields, batch.columns(), None)?;
        }
        self.num_records += batch.num_rows() as u64;
        Ok(())
    }

    /// Splits the collector into one part per indexed top-level column, so that a writer can
    /// fold each column on the thread that encodes it. Feeding every part the same batches and
    /// calling [`add_num_records`](Self::add_num_records) once per batch gives exactly the
    /// statistics [`update`](Self::update) would.
    pub(crate) fn column_parts(&mut self) -> Vec<ColumnStats<'_>> {
        self.nodes
            .iter_mut()
            .map(|node| ColumnStats { node })
            .collect()
    }

    /// Counts rows folded in through [`column_parts`](Self::column_parts).
    pub(crate) fn add_num_records(&mut self, rows: u64) {
        self.num_records += rows;
    }

    /// Number of rows seen so far.
    pub fn num_records(&self) -> u64 {
        self.num_records
    }

    /// The Delta stats JSON string for `add.stats`:
    /// `{"numRecords":N,"minValues":{..},"maxValues":{..},"nullCount":{..}}`.
    ///
    /// The three objects are always present (possibly `{}`); structs appear as
    /// nested objects, and a struct without any min/max entry is omitted from
    /// `minValues`/`maxValues`.
    pub fn finish(&self) -> String {
        let mut out = String::with_capacity(128);
        let _ = write!(out, "{{\"numRecords\":{}", self.num_records);
        for (key, section) in [
            ("minValues", Section::Min),
            ("maxValues", Section::Max),
            ("nullCount", Section::NullCount),
        ] {
            out.push_str(",\"");
            out.push_str(key);
            out.push_str("\":");
            write_object(&mut out, &self.nodes, section);
        }
        out.push('}');
        out
    }
}

/// The statistics of one top-level column of a [`StatsCollector`]; see
/// [`StatsCollector::column_parts`].
#[derive(Debug)]
pub(crate) struct ColumnStats<'a> {
    node: &'a mut Node,
}

impl ColumnStats<'_> {
    /// Position of the column in the file schema.
    pub(crate) fn column(&self) -> usize {
        match &*self.node {
            Node::Struct { index, .. } | Node::Leaf { index, .. } => *index,
        }
    }

    /// Folds this column of `batch` into the statistics (as [`StatsCollector::update`] does
    /// for every column).
    pub(crate) fn update(&mut self, batch: &RecordBatch) -> Result<(), StatsError> {
        update_node(
            self.node,
            batch.schema_ref().fields(),
            batch.columns(),
            None,
        )
    }
}

fn lookup<'a>(
    fields: &'a Fields,
    columns: &'a [ArrayRef],
    name: &str,
    index: usize,
) -> Result<(&'a Field, &'a ArrayRef), StatsError> {
    match (fields.get(index), columns.get(index)) {
        (Some(f), Some(a)) if f.name() == name => Ok((f.as_ref(), a)),
        _ => Err(StatsError::SchemaMismatch(format!(
            "expected column {name:?} at position {index}"
        ))),
    }
}

fn update_node(
    node: &mut Node,
    fields: &Fields,
    columns: &[ArrayRef],
    parent_nulls: Option<&NullBuffer>,
) -> Result<(), StatsError> {
    match node {
        Node::Struct {
            name,
            index,
            children,
        } => {
            let (field, array) = lookup(fields, columns, name, *index)?;
            let Some(structs) = array.as_struct_opt() else {
                return Err(StatsError::SchemaMismatch(format!(
                    "column {name:?} is {} but a struct was expected",
                    field.data_type()
                )));
            };
            let nulls = NullBuffer::union(parent_nulls, structs.nulls());
            for child in children {
                update_node(child, structs.fields(), structs.columns(), nulls.as_ref())?;
            }
        }
        Node::Leaf { leaf, name, index } => {
            let (_, array) = lookup(fields, columns, name, *index)?;
            let kind = Kind::of(array.data_type());
            if kind != leaf.kind {
                return Err(StatsError::SchemaMismatch(format!(
                    "column {name:?} has incompatible type {}",
                    array.data_type()
                )));
            }
            let own_nulls = array.logical_nulls();
            let nulls = NullBuffer::union(parent_nulls, own_nulls.as_ref());
            let null_count = nulls.as_ref().map_or(0, NullBuffer::null_count);
            leaf.null_count += null_count as u64;
            if leaf.kind == Kind::NullCountOnly || null_count == array.len() {
                return Ok(());
            }
            let own_null_count = own_nulls.as_ref().map_or(0, NullBuffer::null_count);
            match parent_nulls {
                // Values under a null ancestor are undefined: mask them out first.
                Some(parent) if null_count > own_null_count => {
                    let mask = BooleanArray::new(!parent.inner(), None);
                    let masked = nullif(array.as_ref(), &mask)?;
                    leaf.update(masked.as_ref())?;
                }
                _ => leaf.update(array.as_ref())?,
            }
        }
    }
    Ok(())
}

/// Per-batch min/max of a primitive array via the arrow aggregate kernels.
fn primitive_bounds<T: ArrowPrimitiveType>(array: &dyn Array) -> Option<(T::Native, T::Native)> {
    let array = array.as_primitive_opt::<T>()?;
    Some((arrow::compute::min(array)?, arrow::compute::max(array)?))
}

/// Per-batch min/max of a float array ignoring NaN (`None` if only NaN/null).
fn float_bounds<T>(array: &dyn Array) -> Option<(f64, f64)>
where
    T: ArrowPrimitiveType,
    T::Native: Into<f64>,
{
    let array: &PrimitiveArray<T> = array.as_primitive_opt::<T>()?;
    // The kernels order NaN by total order (NaN above everything, -NaN below);
    // only when they return NaN is a NaN-skipping scan needed.
    let min = arrow::compute::min(array).map(Into::into);
    let max = arrow::compute::max(array).map(Into::into);
    match (min, max) {
        (Some(lo), Some(hi)) if !lo.is_nan() && !hi.is_nan() => Some((lo, hi)),
        (Some(_), Some(_)) => array
            .iter()
            .flatten()
            .map(Into::into)
            .filter(|v: &f64| !v.is_nan())
            .fold(None, |acc: Option<(f64, f64)>, v| match acc {
                None => Some((v, v)),
                Some((lo, hi)) => Some((
                    if v.total_cmp(&lo).is_lt() { v } else { lo },
                    if v.total_cmp(&hi).is_gt() { v } else { hi },
                )),
            }),
        _ => None,
    }
}

fn to_micros(value: i64, unit: TimeUnit, is_max: bool) -> i64 {
    match unit {
        TimeUnit::Second => value.saturating_mul(1_000_000),
        TimeUnit::Millisecond => value.saturating_mul(1_000),
        TimeUnit::Microsecond => value,
        TimeUnit::Nanosecond => {
            let floor = value.div_euclid(1_000);
            if is_max && value.rem_euclid(1_000) != 0 {
                floor + 1
            } else {
                floor
            }
        }
    }
}

impl Leaf {
    /// Merge the min/max of `array` (nulls already final) into the running bounds.
    fn update(&mut self, array: &dyn Array) -> Result<(), StatsError> {
        let mismatch = || StatsError::SchemaMismatch(format!("unexpected {}", array.data_type()));
        match array.data_type() {
            DataType::Int8 => self.merge_ints(primitive_bounds::<Int8Type>(array)),
            DataType::Int16 => self.merge_ints(primitive_bounds::<Int16Type>(array)),
            DataType::Int32 => self.merge_ints(primitive_bounds::<Int32Type>(array)),
            DataType::Int64 => self.merge_ints(primitive_bounds::<Int64Type>(array)),
            DataType::Float32 => self.merge_floats(float_bounds::<Float32Type>(array)),
            DataType::Float64 => self.merge_floats(float_bounds::<Float64Type>(array)),
            DataType::Decimal32(..) => {
                self.merge_decimals(primitive_bounds::<Decimal32Type>(array))
            }
            DataType::Decimal64(..) => {
                self.merge_decimals(primitive_bounds::<Decimal64Type>(array))
            }
            DataType::Decimal128(..) => {
                self.merge_decimals(primitive_bounds::<Decimal128Type>(array))
            }
            DataType::Date32 => {
                if let Some((lo, hi)) = primitive_bounds::<Date32Type>(array) {
                    self.bounds = match self.bounds {
                        Bounds::Date(a, b) => Bounds::Date(a.min(lo), b.max(hi)),
                        _ => Bounds::Date(lo, hi),
                    };
                }
            }
            DataType::Timestamp(unit, _) => {
                let unit = *unit;
                let raw = match unit {
                    TimeUnit::Second => primitive_bounds::<TimestampSecondType>(array),
                    TimeUnit::Millisecond => primitive_bounds::<TimestampMillisecondType>(array),
                    TimeUnit::Microsecond => primitive_bounds::<TimestampMicrosecondType>(array),
                    TimeUnit::Nanosecond => primitive_bounds::<TimestampNanosecondType>(array),
                };
                if let Some((lo, hi)) = raw {
                    let (lo, hi) = (to_micros(lo, unit, false), to_micros(hi, unit, true));
                    self.bounds = match self.bounds {
                        Bounds::Timestamp(a, b) => Bounds::Timestamp(a.min(lo), b.max(hi)),
                        _ => Bounds::Timestamp(lo, hi),
                    };
                }
            }
            DataType::Utf8 => {
                let a = array.as_string_opt::<i32>().ok_or_else(mismatch)?;
                self.merge_strings(arrow::compute::min_string(a), arrow::compute::max_string(a));
            }
            DataType::LargeUtf8 => {
                let a = array.as_string_opt::<i64>().ok_or_else(mismatch)?;
                self.merge_strings(arrow::compute::min_string(a), arrow::compute::max_string(a));
            }
            DataType::Utf8View => {
                let a = array.as_string_view_opt().ok_or_else(mismatch)?;
                self.merge_strings(
                    arrow::compute::min_string_view(a),
                    arrow::compute::max_string_view(a),
                );
            }
            _ => {}
        }
        Ok(())
    }

    fn merge_ints<T: Into<i64>>(&mut self, batch: Option<(T, T)>) {
        if let Some((lo, hi)) = batch {
            let (lo, hi) = (lo.into(), hi.into());
            self.bounds = match self.bounds {
                Bounds::Int(a, b) => Bounds::Int(a.min(lo), b.max(hi)),
                _ => Bounds::Int(lo, hi),
            };
        }
    }

    fn merge_decimals<T: Into<i128>>(&mut self, batch: Option<(T, T)>) {
        if let Some((lo, hi)) = batch {
            let (lo, hi) = (lo.into(), hi.into());
            self.bounds = match self.bounds {
                Bounds::Decimal(a, b) => Bounds::Decimal(a.min(lo), b.max(hi)),
                _ => Bounds::Decimal(lo, hi),
            };
        }
    }

    fn merge_floats(&mut self, batch: Option<(f64, f64)>) {
        if let Some((lo, hi)) = batch {
            self.bounds = match self.bounds {
                Bounds::Float(a, b) => Bounds::Float(
                    if lo.total_cmp(&a).is_lt() { lo } else { a },
                    if hi.total_cmp(&b).is_gt() { hi } else { b },
                ),
                _ => Bounds::Float(lo, hi),
            };
        }
    }

    fn merge_strings(&mut self, min: Option<&str>, max: Option<&str>) {
        let (Some(min), Some(max)) = (min, max) else {
            return;
        };
        match &mut self.bounds {
            Bounds::String(lo, hi) => {
                if min < lo.as_str() {
                    *lo = min.to_string();
                }
                if max > hi.as_str() {
                    *hi = max.to_string();
                }
            }
            other => *other = Bounds::String(min.to_string(), max.to_string()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    Min,
    Max,
    NullCount,
}

/// Write `{...}` for `nodes`; structs without entries are skipped.
fn write_object(out: &mut String, nodes: &[Node], section: Section) {
    out.push('{');
    let mut first = true;
    for node in nodes {
        let mut value = String::new();
        let name = match node {
            Node::Struct { name, children, .. } => {
                let mut inner = String::new();
                write_object(&mut inner, children, section);
                if inner != "{}" {
                    value = inner;
                }
                name
            }
            Node::Leaf { name, leaf, .. } => {
                match section {
                    Section::NullCount => {
                        let _ = write!(value, "{}", leaf.null_count);
                    }
                    Section::Min => write_bound(&mut value, leaf, false),
                    Section::Max => write_bound(&mut value, leaf, true),
                }
                name
            }
        };
        if value.is_empty() {
            continue;
        }
        if !first {
            out.push(',');
        }
        first = false;
        write_json_string(out, name);
        out.push(':');
        out.push_str(&value);
    }
    out.push('}');
}

/// Write the JSON text of the min (`is_max == false`) or max bound, or nothing.
fn write_bound(out: &mut String, leaf: &Leaf, is_max: bool) {
    fn pick<T: Copy>(is_max: bool, lo: &T, hi: &T) -> T {
        if is_max { *hi } else { *lo }
    }
    match (&leaf.bounds, leaf.kind) {
        (Bounds::Int(lo, hi), _) => {
            let _ = write!(out, "{}", pick(is_max, lo, hi));
        }
        (Bounds::Float(lo, hi), Kind::Float { is_f32 }) => {
            let v = pick(is_max, lo, hi);
            if v.is_finite() {
                // Debug formatting is shortest round-trip and always valid JSON
                // for finite values (`1.0`, `1e-7`, `-0.0`).
                if is_f32 {
                    let _ = write!(out, "{:?}", v as f32);
                } else {
                    let _ = write!(out, "{v:?}");
                }
            }
        }
        (Bounds::Decimal(lo, hi), Kind::Decimal { scale }) => {
            out.push_str(&crate::protocol::values::format_decimal(
                pick(is_max, lo, hi),
                scale,
            ));
        }
        (Bounds::Date(lo, hi), _) => {
            if let Some(date) = i64::from(pick(is_max, lo, hi))
                .checked_add(719_163)
                .and_then(|d| i32::try_from(d).ok())
                .and_then(chrono::NaiveDate::from_num_days_from_ce_opt)
            {
                let _ = write!(out, "\"{}\"", date.format("%Y-%m-%d"));
            }
        }
        (Bounds::Timestamp(lo, hi), Kind::Timestamp { utc }) => {
            if let Some(ts) = chrono::DateTime::from_timestamp_micros(pick(is_max, lo, hi)) {
                let z = if utc { "Z" } else { "" };
                let _ = write!(out, "\"{}{z}\"", ts.format("%Y-%m-%dT%H:%M:%S%.6f"));
            }
        }
        (Bounds::String(lo, hi), _) => {
            let bound = if is_max {
                truncate_max(hi)
            } else {
                Some(truncate_min(lo).to_string())
            };
            if let Some(bound) = bound {
                write_json_string(out, &bound);
            }
        }
        _ => {}
    }
}

/// The first [`STRING_PREFIX_LENGTH`] characters: a prefix is never greater.
fn truncate_min(s: &str) -> &str {
    match s.char_indices().nth(STRING_PREFIX_LENGTH) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// A string of at most [`STRING_PREFIX_LENGTH`] + 1 characters that is `>= s`
/// (code point order), or `None` if no such bound exists.
fn truncate_max(s: &str) -> Option<String> {
    let Some((i, next)) = s.char_indices().nth(STRING_PREFIX_LENGTH) else {
        return Some(s.to_string());
    };
    let prefix = &s[..i];
    if next < char::MAX {
        // prefix + U+10FFFF is greater than prefix + (anything starting below U+10FFFF).
        return Some(format!("{prefix}{}", char::MAX));
    }
    // The cut-off tail starts with U+10FFFF itself: bump the last character of
    // the prefix that can be incremented instead, dropping what follows it.
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(c) = chars.pop() {
        let bumped = match c as u32 {
            0xD7FF => Some('\u{E000}'),
            n => char::from_u32(n + 1),
        };
        if let Some(b) = bumped {
            chars.push(b);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

fn write_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::stats::{NUM_INDEXED_COLS_PROPERTY, STATS_COLUMNS_PROPERTY};
    use arrow::array::{
        BinaryArray, Date32Array, Decimal128Array, DictionaryArray, Float32Array, Float64Array,
        Int8Array, Int16Array, Int32Array, Int64Array, LargeStringArray, ListArray, StringArray,
        StringViewArray, StructArray, TimestampMicrosecondArray, TimestampMillisecondArray,
        TimestampNanosecondArray, TimestampSecondArray,
    };
    use arrow::datatypes::{Int32Type as I32, Schema};
    use proptest::prelude::*;
    use serde_json::{Value, json};
    use std::sync::Arc;

    /// A batch of nullable columns; shorter columns are padded with nulls.
    fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
        let len = columns.iter().map(|(_, a)| a.len()).max().unwrap_or(0);
        let columns: Vec<(&str, ArrayRef)> = columns
            .into_iter()
            .map(|(n, a)| {
                let pad = arrow::array::new_null_array(a.data_type(), len - a.len());
                (
                    n,
                    arrow::compute::concat(&[a.as_ref(), pad.as_ref()]).unwrap(),
                )
            })
            .collect();
        let fields: Vec<Field> = columns
            .iter()
            .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
            .collect();
        RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            columns.into_iter().map(|(_, a)| a).collect(),
        )
        .unwrap()
    }

    fn stats_of(batches: &[RecordBatch], indexed: &IndexedColumns) -> String {
        let mut c = StatsCollector::new(&batches[0].schema(), indexed);
        for b in batches {
            c.update(b).unwrap();
        }
        c.finish()
    }

    fn json_of(batches: &[RecordBatch]) -> Value {
        serde_json::from_str(&stats_of(batches, &IndexedColumns::All)).unwrap()
    }

    #[test]
    fn integers_and_nulls() {
        let b = batch(vec![
            (
                "i8",
                Arc::new(Int8Array::from(vec![Some(-3), None, Some(7)])),
            ),
            (
                "i16",
                Arc::new(Int16Array::from(vec![Some(300), Some(-300), None])),
            ),
            (
                "i32",
                Arc::new(Int32Array::from(vec![None, Some(5), Some(i32::MIN)])),
            ),
            (
                "i64",
                Arc::new(Int64Array::from(vec![i64::MAX, 0, i64::MIN])),
            ),
        ]);
        let v = json_of(&[b]);
        assert_eq!(
            v,
            json!({
                "numRecords": 3,
                "minValues": {"i8": -3, "i16": -300, "i32": i32::MIN, "i64": i64::MIN},
                "maxValues": {"i8": 7, "i16": 300, "i32": 5, "i64": i64::MAX},
                "nullCount": {"i8": 1, "i16": 1, "i32": 1, "i64": 0},
            })
        );
    }

    #[test]
    fn key_order_and_empty_objects() {
        let b = batch(vec![("a", Arc::new(Int32Array::from(vec![1])))]);
        assert_eq!(
            stats_of(std::slice::from_ref(&b), &IndexedColumns::First(0)),
            r#"{"numRecords":1,"minValues":{},"maxValues":{},"nullCount":{}}"#
        );
        assert_eq!(
            stats_of(std::slice::from_ref(&b), &IndexedColumns::All),
            r#"{"numRecords":1,"minValues":{"a":1},"maxValues":{"a":1},"nullCount":{"a":0}}"#
        );
        let c = StatsCollector::new(&b.schema(), &IndexedColumns::All);
        assert_eq!(c.num_records(), 0);
        assert_eq!(
            c.finish(),
            r#"{"numRecords":0,"minValues":{},"maxValues":{},"nullCount":{"a":0}}"#
        );
    }

    #[test]
    fn all_null_column_gets_null_count_only() {
        let b = batch(vec![
            ("a", Arc::new(Int32Array::from(vec![None, None]))),
            ("s", Arc::new(StringArray::from(vec![None::<&str>, None]))),
        ]);
        let v = json_of(&[b]);
        assert_eq!(v["minValues"], json!({}));
        assert_eq!(v["maxValues"], json!({}));
        assert_eq!(v["nullCount"], json!({"a": 2, "s": 2}));
    }

    #[test]
    fn floats_ignore_nan() {
        let b = batch(vec![
            (
                "d",
                Arc::new(Float64Array::from(vec![
                    Some(1.5),
                    Some(f64::NAN),
                    None,
                    Some(-2.25),
                    Some(-f64::NAN),
                ])),
            ),
            (
                "n",
                Arc::new(Float64Array::from(vec![
                    Some(f64::NAN),
                    None,
                    Some(f64::NAN),
                ])),
            ),
            (
                "f",
                Arc::new(Float32Array::from(vec![0.1f32, 2.5, f32::NAN])),
            ),
            (
                "inf",
                Arc::new(Float64Array::from(vec![f64::NEG_INFINITY, 3.0])),
            ),
        ]);
        let s = stats_of(&[b], &IndexedColumns::All);
        let v: Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["minValues"]["d"], json!(-2.25));
        assert_eq!(v["maxValues"]["d"], json!(1.5));
        assert!(v["minValues"].get("n").is_none());
        assert!(v["maxValues"].get("n").is_none());
        assert_eq!(v["nullCount"]["n"], json!(3)); // 1 null + 2 rows of padding
        // f32 written in its own shortest form, not widened to f64 digits.
        assert!(s.contains(r#""f":0.1"#), "{s}");
        assert!(s.contains(r#""f":2.5"#), "{s}");
        // Infinity cannot be written in JSON: that bound is omitted.
        assert!(v["minValues"].get("inf").is_none());
        assert_eq!(v["maxValues"]["inf"], json!(3.0));
    }

    #[test]
    fn floats_merge_across_batches_with_nan_only_batch() {
        let schema_batch = |vals: Vec<f64>| batch(vec![("x", Arc::new(Float64Array::from(vals)))]);
        let v = json_of(&[
            schema_batch(vec![f64::NAN]),
            schema_batch(vec![3.0, 4.0]),
            schema_batch(vec![f64::NAN, -1.0]),
        ]);
        assert_eq!(v["minValues"]["x"], json!(-1.0));
        assert_eq!(v["maxValues"]["x"], json!(4.0));
        assert_eq!(v["numRecords"], json!(5));
    }

    #[test]
    fn multi_batch_merging() {
        let mk = |ints: Vec<Option<i64>>, strs: Vec<Option<&str>>| {
            batch(vec![
                ("i", Arc::new(Int64Array::from(ints))),
                ("s", Arc::new(StringArray::from(strs))),
            ])
        };
        let v = json_of(&[
            mk(vec![Some(5), None], vec![Some("m"), None]),
            mk(vec![None, None], vec![None, None]),
            mk(vec![Some(-1), Some(9)], vec![Some("z"), Some("a")]),
        ]);
        assert_eq!(v["numRecords"], json!(6));
        assert_eq!(v["minValues"], json!({"i": -1, "s": "a"}));
        assert_eq!(v["maxValues"], json!({"i": 9, "s": "z"}));
        assert_eq!(v["nullCount"], json!({"i": 3, "s": 3}));
    }

    fn nested_batch() -> RecordBatch {
        // s: struct<a: int, inner: struct<b: string>>, with row 1 a null struct
        // whose children hold (undefined) values that must be ignored.
        let inner = StructArray::from(vec![(
            Arc::new(Field::new("b", DataType::Utf8, true)),
            Arc::new(StringArray::from(vec![
                Some("x"),
                Some("zzz"),
                None,
                Some("c"),
            ])) as ArrayRef,
        )]);
        let a: ArrayRef = Arc::new(Int32Array::from(vec![Some(1), Some(100), Some(-5), None]));
        let fields = Fields::from(vec![
            Field::new("a", DataType::Int32, true),
            Field::new("inner", inner.data_type().clone(), true),
        ]);
        let s = StructArray::new(
            fields,
            vec![a, Arc::new(inner)],
            Some(NullBuffer::from(vec![true, false, true, true])),
        );
        batch(vec![
            ("id", Arc::new(Int32Array::from(vec![1, 2, 3, 4]))),
            ("s", Arc::new(s)),
        ])
    }

    #[test]
    fn nested_struct() {
        let v = json_of(&[nested_batch()]);
        assert_eq!(
            v,
            json!({
                "numRecords": 4,
                "minValues": {"id": 1, "s": {"a": -5, "inner": {"b": "c"}}},
                "maxValues": {"id": 4, "s": {"a": 1, "inner": {"b": "x"}}},
                "nullCount": {"id": 0, "s": {"a": 2, "inner": {"b": 2}}},
            })
        );
        // Sliced input keeps working (struct children are sliced with the parent).
        let v = json_of(&[nested_batch().slice(1, 2)]);
        assert_eq!(v["minValues"]["s"], json!({"a": -5}));
        assert_eq!(v["nullCount"]["s"], json!({"a": 1, "inner": {"b": 2}}));
    }

    #[test]
    fn leaf_limit_counts_nested_leaves() {
        let mut cols: Vec<(String, ArrayRef)> = Vec::new();
        for i in 0..30 {
            cols.push((format!("c{i}"), Arc::new(Int32Array::from(vec![i]))));
        }
        // Struct with 3 leaves: only 2 fit under the limit of 32.
        let s = StructArray::from(vec![
            (
                Arc::new(Field::new("x", DataType::Int32, true)),
                Arc::new(Int32Array::from(vec![1])) as ArrayRef,
            ),
            (
                Arc::new(Field::new("y", DataType::Int32, true)),
                Arc::new(Int32Array::from(vec![2])) as ArrayRef,
            ),
            (
                Arc::new(Field::new("z", DataType::Int32, true)),
                Arc::new(Int32Array::from(vec![3])) as ArrayRef,
            ),
        ]);
        cols.push(("s".to_string(), Arc::new(s)));
        for i in 30..40 {
            cols.push((format!("c{i}"), Arc::new(Int32Array::from(vec![i]))));
        }
        let b = batch(cols.iter().map(|(n, a)| (n.as_str(), a.clone())).collect());
        let default = IndexedColumns::from_properties(&HashMap::new()).unwrap();
        assert_eq!(default, IndexedColumns::First(32));
        let v: Value = serde_json::from_str(&stats_of(std::slice::from_ref(&b), &default)).unwrap();
        let nulls = v["nullCount"].as_object().unwrap();
        assert_eq!(nulls.len(), 31); // c0..c29 + s
        assert_eq!(v["nullCount"]["s"], json!({"x": 0, "y": 0}));
        assert!(nulls.get("c30").is_none());
        let v: Value = serde_json::from_str(&stats_of(
            std::slice::from_ref(&b),
            &IndexedColumns::First(31),
        ))
        .unwrap();
        assert_eq!(v["maxValues"]["s"], json!({"x": 1}));
        let v: Value = serde_json::from_str(&stats_of(&[b], &IndexedColumns::All)).unwrap();
        assert_eq!(v["nullCount"].as_object().unwrap().len(), 41);
        assert_eq!(v["maxValues"]["c39"], json!(39));
    }

    #[test]
    fn named_columns() {
        let b = nested_batch();
        let props = HashMap::from([
            (
                STATS_COLUMNS_PROPERTY.to_string(),
                " s.inner.b , ID ,missing".to_string(),
            ),
            (NUM_INDEXED_COLS_PROPERTY.to_string(), "0".to_string()),
        ]);
        let indexed = IndexedColumns::from_properties(&props).unwrap();
        assert_eq!(
            indexed,
            IndexedColumns::Named(vec!["s.inner.b".into(), "ID".into(), "missing".into()])
        );
        let v: Value = serde_json::from_str(&stats_of(std::slice::from_ref(&b), &indexed)).unwrap();
        assert_eq!(v["nullCount"], json!({"id": 0, "s": {"inner": {"b": 2}}}));
        // Paths into non-struct columns select nothing.
        let v: Value = serde_json::from_str(&stats_of(
            std::slice::from_ref(&b),
            &IndexedColumns::Named(vec!["id.x".into(), "s.a.b".into()]),
        ))
        .unwrap();
        assert_eq!(v["nullCount"], json!({}));
        // A struct name selects all its leaves.
        let v: Value = serde_json::from_str(&stats_of(
            std::slice::from_ref(&b),
            &IndexedColumns::Named(vec!["s".into()]),
        ))
        .unwrap();
        assert_eq!(v["nullCount"], json!({"s": {"a": 2, "inner": {"b": 2}}}));
        // Backticks quote names containing dots.
        let dotted = batch(vec![("a.b", Arc::new(Int32Array::from(vec![7])))]);
        let v: Value = serde_json::from_str(&stats_of(
            &[dotted],
            &IndexedColumns::Named(vec!["`a.b`".into()]),
        ))
        .unwrap();
        assert_eq!(v["minValues"], json!({"a.b": 7}));
    }

    #[test]
    fn string_truncation() {
        let long_ascii = "a".repeat(40);
        let long_multi = "é".repeat(31) + "日本語"; // 34 chars
        let b = batch(vec![(
            "s",
            Arc::new(StringArray::from(vec![
                long_ascii.as_str(),
                long_multi.as_str(),
            ])),
        )]);
        let v = json_of(&[b]);
        assert_eq!(v["minValues"]["s"], json!("a".repeat(32)));
        let expected_max = "é".repeat(31) + "日" + "\u{10FFFF}";
        assert_eq!(v["maxValues"]["s"], json!(expected_max));

        // Exactly 32 characters: no truncation marker.
        let exact = "ü".repeat(32);
        let b = batch(vec![(
            "s",
            Arc::new(StringArray::from(vec![exact.as_str()])),
        )]);
        let v = json_of(&[b]);
        assert_eq!(v["maxValues"]["s"], json!(exact));
        assert_eq!(v["minValues"]["s"], json!(exact));
    }

    #[test]
    fn string_max_truncation_stays_an_upper_bound() {
        let prefix = "b".repeat(32);
        assert_eq!(
            truncate_max(&format!("{prefix}x")),
            Some(format!("{prefix}\u{10FFFF}"))
        );
        // Tail starts with U+10FFFF: appending U+10FFFF would not be an upper bound.
        let s = format!("{prefix}\u{10FFFF}\u{10FFFF}");
        let bound = truncate_max(&s).unwrap();
        assert!(bound.as_str() > s.as_str());
        assert_eq!(bound, format!("{}c", "b".repeat(31)));
        let all_max: String = std::iter::repeat_n(char::MAX, 40).collect();
        assert_eq!(truncate_max(&all_max), None);
        let around_surrogates = format!("{}\u{D7FF}\u{10FFFF}\u{10FFFF}", "q".repeat(31));
        assert_eq!(
            truncate_max(&around_surrogates),
            Some(format!("{}\u{E000}", "q".repeat(31)))
        );
    }

    #[test]
    fn string_variants_and_escaping() {
        let b = batch(vec![
            (
                "l",
                Arc::new(LargeStringArray::from(vec!["q\"uote", "back\\slash"])),
            ),
            (
                "v",
                Arc::new(StringViewArray::from(vec!["tab\there", "nl\n"])),
            ),
        ]);
        let v = json_of(&[b]);
        assert_eq!(v["minValues"], json!({"l": "back\\slash", "v": "nl\n"}));
        assert_eq!(v["maxValues"], json!({"l": "q\"uote", "v": "tab\there"}));
    }

    #[test]
    fn decimals_are_exact() {
        let max38 = 10i128.pow(38) - 1;
        let b = batch(vec![
            (
                "d38",
                Arc::new(
                    Decimal128Array::from(vec![Some(max38), None, Some(-max38), Some(1)])
                        .with_precision_and_scale(38, 10)
                        .unwrap(),
                ),
            ),
            (
                "d",
                Arc::new(
                    Decimal128Array::from(vec![1230, -5, 99])
                        .with_precision_and_scale(5, 2)
                        .unwrap(),
                ),
            ),
            (
                "d0",
                Arc::new(
                    Decimal128Array::from(vec![12345678901234567890123456789012345678, 0])
                        .with_precision_and_scale(38, 0)
                        .unwrap(),
                ),
            ),
        ]);
        let s = stats_of(&[b], &IndexedColumns::All);
        assert_eq!(
            s,
            concat!(
                r#"{"numRecords":4,"#,
                r#""minValues":{"d38":-9999999999999999999999999999.9999999999,"d":-0.05,"d0":0},"#,
                r#""maxValues":{"d38":9999999999999999999999999999.9999999999,"d":12.30,"#,
                r#""d0":12345678901234567890123456789012345678},"#,
                r#""nullCount":{"d38":1,"d":1,"d0":2}}"#
            )
        );
        assert_eq!(crate::protocol::values::format_decimal(5, 3), "0.005");
        assert_eq!(crate::protocol::values::format_decimal(-123, -2), "-12300");
        assert_eq!(crate::protocol::values::format_decimal(0, 2), "0.00");
    }

    #[test]
    fn dates_and_timestamps() {
        let micros = 1_706_704_496_123_456i64; // 2024-01-31T12:34:56.123456Z
        let b = batch(vec![
            (
                "date",
                Arc::new(Date32Array::from(vec![19753, 0, -1])) as ArrayRef,
            ),
            (
                "ts",
                Arc::new(TimestampMicrosecondArray::from(vec![micros, 0]).with_timezone("+02:00")),
            ),
            (
                "ntz",
                Arc::new(TimestampMicrosecondArray::from(vec![micros])),
            ),
            (
                "sec",
                Arc::new(TimestampSecondArray::from(vec![1_706_704_496]).with_timezone("UTC")),
            ),
            ("ms", Arc::new(TimestampMillisecondArray::from(vec![-1]))),
            (
                "ns",
                Arc::new(
                    TimestampNanosecondArray::from(vec![-1_500, 1_706_704_496_123_456_001])
                        .with_timezone("UTC"),
                ),
            ),
        ]);
        let v = json_of(&[b]);
        assert_eq!(
            v["minValues"],
            json!({
                "date": "1969-12-31",
                "ts": "1970-01-01T00:00:00.000000Z",
                "ntz": "2024-01-31T12:34:56.123456",
                "sec": "2024-01-31T12:34:56.000000Z",
                "ms": "1969-12-31T23:59:59.999000",
                "ns": "1969-12-31T23:59:59.999998Z",
            })
        );
        assert_eq!(
            v["maxValues"],
            json!({
                "date": "2024-01-31",
                "ts": "2024-01-31T12:34:56.123456Z",
                "ntz": "2024-01-31T12:34:56.123456",
                "sec": "2024-01-31T12:34:56.000000Z",
                "ms": "1969-12-31T23:59:59.999000",
                "ns": "2024-01-31T12:34:56.123457Z",
            })
        );
        assert_eq!(v["nullCount"]["ntz"], json!(2));
    }

    #[test]
    fn timestamp_out_of_range_is_omitted() {
        let b = batch(vec![(
            "s",
            Arc::new(TimestampSecondArray::from(vec![i64::MIN, i64::MAX])),
        )]);
        let v = json_of(&[b]);
        assert_eq!(v["minValues"], json!({}));
        assert_eq!(v["maxValues"], json!({}));
        assert_eq!(v["nullCount"], json!({"s": 0}));
    }

    #[test]
    fn null_count_only_types() {
        let list = ListArray::from_iter_primitive::<I32, _, _>(vec![
            Some(vec![Some(1)]),
            None,
            Some(vec![]),
        ]);
        let dict: DictionaryArray<I32> = vec![Some("a"), None, Some("b")].into_iter().collect();
        let b = batch(vec![
            (
                "b",
                Arc::new(BooleanArray::from(vec![Some(true), None, Some(false)])),
            ),
            (
                "bin",
                Arc::new(BinaryArray::from(vec![Some(&b"x"[..]), None, None])),
            ),
            ("list", Arc::new(list)),
            ("dict", Arc::new(dict)),
        ]);
        let v = json_of(&[b]);
        assert_eq!(v["minValues"], json!({}));
        assert_eq!(v["maxValues"], json!({}));
        assert_eq!(
            v["nullCount"],
            json!({"b": 1, "bin": 2, "list": 1, "dict": 1})
        );
    }

    #[test]
    fn schema_mismatch_is_an_error() {
        let b = batch(vec![("a", Arc::new(Int32Array::from(vec![1])))]);
        let mut c = StatsCollector::new(&b.schema(), &IndexedColumns::All);
        let other = batch(vec![("a", Arc::new(StringArray::from(vec!["x"])))]);
        assert!(matches!(
            c.update(&other),
            Err(StatsError::SchemaMismatch(_))
        ));
        let renamed = batch(vec![("b", Arc::new(Int32Array::from(vec![1])))]);
        assert!(matches!(
            c.update(&renamed),
            Err(StatsError::SchemaMismatch(_))
        ));
        let empty = RecordBatch::new_empty(Arc::new(Schema::empty()));
        assert!(matches!(
            c.update(&empty),
            Err(StatsError::SchemaMismatch(_))
        ));
        // Integer widths merge.
        let wider = batch(vec![("a", Arc::new(Int64Array::from(vec![i64::MAX])))]);
        c.update(&b).unwrap();
        c.update(&wider).unwrap();
        let v: Value = serde_json::from_str(&c.finish()).unwrap();
        assert_eq!(v["maxValues"]["a"], json!(i64::MAX));
    }

    proptest! {
        #[test]
        fn min_max_match_naive(
            chunks in proptest::collection::vec(
                proptest::collection::vec(
                    (proptest::option::of(any::<i64>()), proptest::option::of(".{0,40}")),
                    0..20,
                ),
                1..5,
            )
        ) {
            let batches: Vec<RecordBatch> = chunks
                .iter()
                .map(|rows| {
                    batch(vec![
                        ("i", Arc::new(Int64Array::from(rows.iter().map(|r| r.0).collect::<Vec<_>>()))),
                        ("s", Arc::new(StringArray::from(rows.iter().map(|r| r.1.clone()).collect::<Vec<_>>()))),
                    ])
                })
                .collect();
            let v = json_of(&batches);
            let all: Vec<&(Option<i64>, Option<String>)> = chunks.iter().flatten().collect();
            let ints: Vec<i64> = all.iter().filter_map(|r| r.0).collect();
            let strs: Vec<&String> = all.iter().filter_map(|r| r.1.as_ref()).collect();
            prop_assert_eq!(v["numRecords"].as_u64(), Some(all.len() as u64));
            prop_assert_eq!(v["nullCount"]["i"].as_u64(), Some((all.len() - ints.len()) as u64));
            prop_assert_eq!(v["nullCount"]["s"].as_u64(), Some((all.len() - strs.len()) as u64));
            prop_assert_eq!(v["minValues"]["i"].as_i64(), ints.iter().min().copied());
            prop_assert_eq!(v["maxValues"]["i"].as_i64(), ints.iter().max().copied());
            let min = strs.iter().min().map(|s| truncate_min(s).to_string());
            let max = strs.iter().max().and_then(|s| truncate_max(s));
            prop_assert_eq!(v["minValues"]["s"].as_str().map(str::to_string), min.clone());
            prop_assert_eq!(v["maxValues"]["s"].as_str().map(str::to_string), max.clone());
            // The written bounds really bound every value.
            for s in &strs {
                if let Some(m) = &min { prop_assert!(m.as_str() <= s.as_str()); }
                if let Some(m) = &max { prop_assert!(m.as_str() >= s.as_str()); }
            }
        }
    }
}
