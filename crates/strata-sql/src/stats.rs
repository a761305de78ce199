//! Statistics for DataFusion's planner from the log (`protocol/PROTOCOL.md#per-file-statistics`):
//! row counts from `numRecords` less deletion-vector cardinality, null counts, and min/max from
//! `minValues`/`maxValues` (and from partition values), so joins and aggregates plan well and
//! `count(*)` over a whole table is answered from the log.
//!
//! Row counts are exact only when every file has a count and the scan keeps every row (no
//! filter, no limit). Min/max are always inexact: Delta truncates string and timestamp bounds.

use arrow::datatypes::{DataType, Schema};
use datafusion::common::stats::Precision;
use datafusion::common::{ColumnStatistics, ScalarValue, Statistics};
use serde_json::Value;
use strata::actions::{Add, Stats};

/// The Arrow field metadata key holding a column's physical name under column mapping.
const PHYSICAL_NAME: &str = "delta.columnMapping.physicalName";

/// Statistics of a scan of `files` with output `schema` (top-level columns of a table
/// partitioned by `partition_columns`); `keeps_every_row` when no filter or limit applies.
pub(crate) fn statistics(
    files: &[Add],
    schema: &Schema,
    partition_columns: &[String],
    mapped: bool,
    keeps_every_row: bool,
) -> Statistics {
    let keys: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| match f.metadata().get(PHYSICAL_NAME) {
            Some(physical) if mapped => physical.trim_matches('"').to_string(),
            _ => f.name().clone(),
        })
        .collect();
    let mut rows = Count::Exact(0);
    let mut columns: Vec<ColumnAccumulator> = schema
        .fields()
        .iter()
        .map(|f| ColumnAccumulator::new(f.data_type()))
        .collect();
    let mut bytes: usize = 0;
    for file in files {
        bytes = bytes.saturating_add(usize::try_from(file.size.max(0)).unwrap_or(0));
        let stats = Stats::parse(file.stats.as_deref());
        let file_rows = stats
            .as_ref()
            .and_then(|s| s.num_records)
            .filter(|n| *n >= 0)
            .map(|n| {
                let deleted = file.deletion_vector.as_ref().map_or(0, |dv| dv.cardinality);
                usize::try_from((n - deleted).max(0)).unwrap_or(0)
            });
        rows.add(file_rows);
        for (i, field) in schema.fields().iter().enumerate() {
            let column = &mut columns[i];
            if partition_columns.contains(field.name()) {
                column.add_partition_value(file.partition_values.get(field.name()), file_rows);
            } else if let Some(stats) = &stats {
                column.add_stats(stats, &keys[i], file.deletion_vector.is_some());
            } else {
                column.unknown();
            }
        }
    }
    let num_rows = if keeps_every_row {
        rows.precision()
    } else {
        rows.precision().to_inexact()
    };
    Statistics {
        num_rows,
        total_byte_size: Precision::Inexact(bytes),
        column_statistics: columns
            .into_iter()
            .map(|c| c.finish(keeps_every_row))
            .collect(),
    }
}

/// A sum that stays exact while every part is known.
#[derive(Clone, Copy)]
enum Count {
    Exact(usize),
    Inexact(usize),
}

impl Count {
    fn add(&mut self, part: Option<usize>) {
        *self = match (*self, part) {
            (Count::Exact(a), Some(b)) => Count::Exact(a.saturating_add(b)),
            (Count::Exact(a) | Count::Inexact(a), b) => {
                Count::Inexact(a.saturating_add(b.unwrap_or(0)))
            }
        };
    }

    fn precision(self) -> Precision<usize> {
        match self {
            Count::Exact(n) => Precision::Exact(n),
            Count::Inexact(n) => Precision::Inexact(n),
        }
    }
}

struct ColumnAccumulator {
    data_type: DataType,
    nulls: Option<Count>,
    min: Option<Option<ScalarValue>>,
    max: Option<Option<ScalarValue>>,
}

impl ColumnAccumulator {
    fn new(data_type: &DataType) -> ColumnAccumulator {
        ColumnAccumulator {
            data_type: data_type.clone(),
            nulls: Some(Count::Exact(0)),
            min: None,
            max: None,
        }
    }

    /// Nothing is known for this column in one file: no bounds, no null count.
    fn unknown(&mut self) {
        self.nulls = None;
        self.min = Some(None);
        self.max = Some(None);
    }

    fn add_partition_value(&mut self, value: Option<&Option<String>>, rows: Option<usize>) {
        match value.cloned().flatten() {
            None => {
                if let Some(n) = &mut self.nulls {
                    n.add(rows);
                }
            }
            Some(text) => match ScalarValue::try_from_string(text, &self.data_type) {
                Ok(v) => {
                    self.merge_bound(&v, &v);
                }
                Err(_) => self.unknown(),
            },
        }
    }

    fn add_stats(&mut self, stats: &Stats, key: &str, has_dv: bool) {
        match (
            &mut self.nulls,
            stats.null_count.get(key).and_then(Value::as_i64),
        ) {
            (Some(n), Some(c)) if c >= 0 => {
                // Deleted rows may have been among the nulls.
                let c = usize::try_from(c).unwrap_or(0);
                if has_dv {
                    *n = Count::Inexact(n.value().saturating_add(c));
                } else {
                    n.add(Some(c));
                }
            }
            _ => self.nulls = None,
        }
        let min = stats.min_values.get(key).and_then(|v| self.bound(v));
        let max = stats.max_values.get(key).and_then(|v| self.bound(v));
        match (min, max) {
            (Some(min), Some(max)) => self.merge_bound(&min, &max),
            _ => {
                self.min = Some(None);
                self.max = Some(None);
            }
        }
    }

    /// A JSON bound as a value of the column's type; `None` for types whose bounds Delta
    /// truncates in ways a bound cannot express (timestamps lose microseconds).
    fn bound(&self, value: &Value) -> Option<ScalarValue> {
        if !self.data_type.is_primitive()
            && !matches!(self.data_type, DataType::Utf8 | DataType::Boolean)
        {
            return None;
        }
        if matches!(self.data_type, DataType::Timestamp(..)) {
            return None;
        }
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => return None,
        };
        ScalarValue::try_from_string(text, &self.data_type)
            .ok()
            .filter(|v| !v.is_null())
    }

    fn merge_bound(&mut self, min: &ScalarValue, max: &ScalarValue) {
        self.min = match self.min.take() {
            None => Some(Some(min.clone())),
            Some(None) => Some(None),
            Some(Some(current)) => Some(Some(
                if min.partial_cmp(&current) == Some(std::cmp::Ordering::Less) {
                    min.clone()
                } else {
                    current
                },
            )),
        };
        self.max = match self.max.take() {
            None => Some(Some(max.clone())),
            Some(None) => Some(None),
            Some(Some(current)) => Some(Some(
                if max.partial_cmp(&current) == Some(std::cmp::Ordering::Greater) {
                    max.clone()
                } else {
                    current
                },
            )),
        };
    }

    fn finish(self, keeps_every_row: bool) -> ColumnStatistics {
        let bound = |b: Option<Option<ScalarValue>>| match b.flatten() {
            Some(v) => Precision::Inexact(v),
            None => Precision::Absent,
        };
        let nulls = match self.nulls {
            Some(n) if keeps_every_row => n.precision(),
            Some(n) => n.precision().to_inexact(),
            None => Precision::Absent,
        };
        ColumnStatistics::new_unknown()
            .with_null_count(nulls)
            .with_min_value(bound(self.min))
            .with_max_value(bound(self.max))
    }
}

impl Count {
    fn value(self) -> usize {
        match self {
            Count::Exact(n) | Count::Inexact(n) => n,
        }
    }
}
