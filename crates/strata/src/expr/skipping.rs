//! Data skipping: may a file or row group hold a row the predicate keeps?
//! (`protocol/PROTOCOL.md#data-skipping`)
//!
//! Pure functions over bounds. A file's bounds come from its partition values (exact) and its
//! `add.stats` (`minValues`, `maxValues`, `nullCount`, `numRecords`); a row group's from the
//! Parquet footer. The answer is conservative: `false` only when no row can make the
//! predicate true; anything unknown (missing stats, unparsable values, types without an
//! order) answers `true`. Bounds other writers are known to write loosely are widened as they
//! are parsed:
//! - a string `maxValues` of 32 or more characters may be a truncated prefix, so U+10FFFF is
//!   appended to keep it an upper bound (a truncated `minValues` is already a lower bound);
//! - timestamps are written with millisecond precision by Spark, so a max is widened by 999 µs
//!   and a min by −999 µs;
//! - decimals written as JSON floats (delta-rs) are rounded outward to the column's scale, and
//!   dropped when a float cannot hold them to that precision;
//! - float columns never prune `>`, `>=` or `<>` by their bounds, because writers leave `NaN`
//!   out of min/max while `NaN` is the greatest float in comparisons.

use std::cmp::Ordering;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type,
    Int64Type, TimeUnit, TimestampMicrosecondType,
};
use serde_json::Value;

use crate::expr::predicate::{BoundColumn, Pred, Predicate};
use crate::expr::{CompareOp, Scalar, compare_scalars};
use crate::protocol::partition;

/// What is known about one column's values in a file or row group.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ColumnBounds {
    /// A value `<=` every non-null value, if known.
    pub min: Option<Scalar>,
    /// A value `>=` every non-null value, if known.
    pub max: Option<Scalar>,
    /// How many values are null, if known.
    pub null_count: Option<u64>,
    /// Whether every value is null, if known.
    pub all_null: Option<bool>,
}

impl ColumnBounds {
    /// Nothing known: never prunes.
    pub fn unknown() -> ColumnBounds {
        ColumnBounds::default()
    }

    /// A column holding one value in every row (a partition column).
    pub fn constant(value: Option<Scalar>) -> ColumnBounds {
        match value {
            Some(v) => ColumnBounds {
                min: Some(v.clone()),
                max: Some(v),
                null_count: Some(0),
                all_null: Some(false),
            },
            None => ColumnBounds {
                min: None,
                max: None,
                null_count: None,
                all_null: Some(true),
            },
        }
    }
}

/// Whether a file or row group with these bounds (one per [`Predicate::columns`] entry) may
/// hold a row for which `predicate` is true.
pub fn may_match(predicate: &Predicate, bounds: &[ColumnBounds]) -> bool {
    pred_may_match(predicate.root(), predicate.columns(), bounds)
}

fn pred_may_match(pred: &Pred, columns: &[BoundColumn], bounds: &[ColumnBounds]) -> bool {
    let unknown = ColumnBounds::unknown();
    let of = |c: usize| bounds.get(c).unwrap_or(&unknown);
    match pred {
        Pred::Const(value) => *value == Some(true),
        Pred::Residual(_) => true,
        Pred::And(parts) => parts.iter().all(|p| pred_may_match(p, columns, bounds)),
        Pred::Or(parts) => parts.iter().any(|p| pred_may_match(p, columns, bounds)),
        Pred::IsNull(c) => of(*c).null_count.is_none_or(|n| n > 0),
        Pred::IsNotNull(c) => of(*c).all_null != Some(true),
        Pred::CompareColumns { left, right, .. } => {
            of(*left).all_null != Some(true) && of(*right).all_null != Some(true)
        }
        Pred::Compare { column, op, value } => {
            let b = of(*column);
            if b.all_null == Some(true) {
                return false;
            }
            let float = columns.get(*column).is_some_and(BoundColumn::is_float);
            compare_may_match(b, *op, value, float)
        }
    }
}

/// May some non-null value `x` within `b` satisfy `x op value`?
fn compare_may_match(b: &ColumnBounds, op: CompareOp, value: &Scalar, float: bool) -> bool {
    let min = |f: fn(Ordering) -> bool| {
        b.min
            .as_ref()
            .and_then(|m| compare_scalars(m, value))
            .is_none_or(f)
    };
    let max = |f: fn(Ordering) -> bool| {
        b.max
            .as_ref()
            .and_then(|m| compare_scalars(m, value))
            .is_none_or(f)
    };
    match op {
        CompareOp::Lt => min(|o| o == Ordering::Less),
        CompareOp::LtEq => min(|o| o != Ordering::Greater),
        CompareOp::Eq => min(|o| o != Ordering::Greater) && (float || max(|o| o != Ordering::Less)),
        CompareOp::Gt => float || max(|o| o == Ordering::Greater),
        CompareOp::GtEq => float || max(|o| o != Ordering::Less),
        CompareOp::NotEq => {
            float
                || !(min(|o| o == Ordering::Equal) && b.min.is_some())
                || !(max(|o| o == Ordering::Equal) && b.max.is_some())
        }
    }
}

/// Which side of the range a bound is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Min,
    Max,
}

/// The bounds of `columns` in a file's parsed `add.stats` JSON. Columns without stats are
/// unknown.
pub fn stats_bounds(stats: &Value, columns: &[BoundColumn]) -> Vec<ColumnBounds> {
    let rows = stats.get("numRecords").and_then(Value::as_u64);
    columns
        .iter()
        .map(|c| {
            let lookup = |section: &str| {
                c.physical_path
                    .iter()
                    .try_fold(stats.get(section)?, |v, name| v.get(name))
            };
            let null_count = lookup("nullCount").and_then(Value::as_u64);
            let all_null = match (null_count, rows) {
                (Some(n), Some(r)) => Some(n >= r),
                _ => None,
            };
            ColumnBounds {
                min: lookup("minValues").and_then(|v| json_bound(v, &c.data_type, Side::Min)),
                max: lookup("maxValues").and_then(|v| json_bound(v, &c.data_type, Side::Max)),
                null_count,
                all_null,
            }
        })
        .collect()
}

/// One JSON stats value as a bound of `data_type`, widened where writers are loose.
fn json_bound(value: &Value, data_type: &DataType, side: Side) -> Option<Scalar> {
    match data_type {
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => {
            value.as_i64().map(Scalar::Int)
        }
        DataType::Float16 | DataType::Float32 | DataType::Float64 => {
            let f = match value {
                Value::String(s) => match s.as_str() {
                    "Infinity" | "inf" => f64::INFINITY,
                    "-Infinity" | "-inf" => f64::NEG_INFINITY,
                    _ => return None,
                },
                other => other.as_f64()?,
            };
            // -0.0 and 0.0 are the same number to most writers; widen across them.
            Some(Scalar::Float(match side {
                Side::Min if f == 0.0 => -0.0,
                Side::Max if f == 0.0 => 0.0,
                _ => f,
            }))
        }
        DataType::Decimal128(_, scale) => decimal_bound(value, *scale, side),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let s = value.as_str()?;
            Some(Scalar::String(
                if side == Side::Max && s.chars().nth(31).is_some() {
                    format!("{s}{}", char::MAX)
                } else {
                    s.to_string()
                },
            ))
        }
        DataType::Date32 => crate::expr::parse_date(value.as_str()?),
        DataType::Timestamp(_, tz) => {
            let text = value.as_str()?;
            let us = match if tz.is_some() {
                crate::expr::parse_timestamp(text)
            } else {
                crate::expr::parse_timestamp_ntz(text.strip_suffix('Z').unwrap_or(text))
                    .or_else(|| crate::expr::parse_timestamp(text))
            }? {
                Scalar::Timestamp(us) | Scalar::TimestampNtz(us) => us,
                _ => return None,
            };
            let us = match side {
                Side::Min => us.checked_sub(999)?,
                Side::Max => us.checked_add(999)?,
            };
            Some(if tz.is_some() {
                Scalar::Timestamp(us)
            } else {
                Scalar::TimestampNtz(us)
            })
        }
        DataType::Boolean => value.as_bool().map(Scalar::Boolean),
        _ => None,
    }
}

/// A decimal bound from JSON text, an integer or a float, rounded outward to `scale`.
fn decimal_bound(value: &Value, scale: i8, side: Side) -> Option<Scalar> {
    let exact = |text: &str| {
        let (unscaled, from) = crate::protocol::values::parse_decimal(text)?;
        let shift = i32::from(scale) - i32::from(from);
        let factor = 10i128.checked_pow(shift.unsigned_abs())?;
        let n = if shift >= 0 {
            unscaled.checked_mul(factor)?
        } else if side == Side::Min {
            unscaled.div_euclid(factor)
        } else {
            unscaled.div_euclid(factor) + i128::from(unscaled.rem_euclid(factor) != 0)
        };
        Some(Scalar::Decimal { unscaled: n, scale })
    };
    match value {
        Value::String(s) => exact(s),
        Value::Number(n) if n.is_i64() || n.is_u64() => exact(&n.to_string()),
        Value::Number(n) => {
            // A float: only trust it where an f64 is precise to well below one unit of the
            // scale, then step one unit outward to cover its rounding.
            let f = n.as_f64()?;
            let scaled = f * 10f64.powi(i32::from(scale));
            if !scaled.is_finite() || scaled.abs() > 2f64.powi(50) {
                return None;
            }
            let unscaled = match side {
                Side::Min => scaled.floor() as i128 - 1,
                Side::Max => scaled.ceil() as i128 + 1,
            };
            Some(Scalar::Decimal { unscaled, scale })
        }
        _ => None,
    }
}

/// The value at `row` of an array of `data_type` (as the table schema types it), if it can be
/// used as a bound.
pub fn scalar_at(array: &dyn Array, row: usize) -> Option<Scalar> {
    if row >= array.len() || array.is_null(row) {
        return None;
    }
    Some(match array.data_type() {
        DataType::Boolean => Scalar::Boolean(array.as_boolean().value(row)),
        DataType::Int8 => Scalar::Int(array.as_primitive::<Int8Type>().value(row).into()),
        DataType::Int16 => Scalar::Int(array.as_primitive::<Int16Type>().value(row).into()),
        DataType::Int32 => Scalar::Int(array.as_primitive::<Int32Type>().value(row).into()),
        DataType::Int64 => Scalar::Int(array.as_primitive::<Int64Type>().value(row)),
        DataType::Float32 => Scalar::Float(array.as_primitive::<Float32Type>().value(row).into()),
        DataType::Float64 => Scalar::Float(array.as_primitive::<Float64Type>().value(row)),
        DataType::Decimal128(_, scale) => Scalar::Decimal {
            unscaled: array.as_primitive::<Decimal128Type>().value(row),
            scale: *scale,
        },
        DataType::Utf8 => Scalar::String(array.as_string::<i32>().value(row).to_string()),
        DataType::LargeUtf8 => Scalar::String(array.as_string::<i64>().value(row).to_string()),
        DataType::Utf8View => Scalar::String(array.as_string_view().value(row).to_string()),
        DataType::Binary => Scalar::Binary(array.as_binary::<i32>().value(row).to_vec()),
        DataType::Date32 => Scalar::Date(array.as_primitive::<Date32Type>().value(row)),
        DataType::Timestamp(TimeUnit::Microsecond, tz) => {
            let us = array.as_primitive::<TimestampMicrosecondType>().value(row);
            if tz.is_some() {
                Scalar::Timestamp(us)
            } else {
                Scalar::TimestampNtz(us)
            }
        }
        _ => return None,
    })
}

/// Bounds of one column per row group from a Parquet footer's statistics, already cast to the
/// table's type: `mins`, `maxes`, whether each is exact, null counts and row counts.
pub struct RowGroupStats {
    /// Per row group minimum (null where unknown).
    pub mins: ArrayRef,
    /// Per row group maximum (null where unknown).
    pub maxes: ArrayRef,
    /// Whether each max is the exact maximum (false for truncated byte-array statistics).
    pub max_exact: Option<arrow::array::BooleanArray>,
    /// Per row group null counts (null where unknown).
    pub null_counts: Option<arrow::array::UInt64Array>,
    /// Rows per row group.
    pub row_counts: Option<arrow::array::UInt64Array>,
}

impl RowGroupStats {
    /// The bounds of row group `i`.
    pub fn bounds(&self, i: usize, float: bool) -> ColumnBounds {
        let count = |a: Option<&arrow::array::UInt64Array>| {
            a.filter(|a| i < a.len() && a.is_valid(i))
                .map(|a| a.value(i))
        };
        let null_count = count(self.null_counts.as_ref());
        let rows = count(self.row_counts.as_ref());
        let max_exact = self
            .max_exact
            .as_ref()
            .is_none_or(|e| i < e.len() && e.is_valid(i) && e.value(i));
        let max = scalar_at(self.maxes.as_ref(), i).and_then(|m| match m {
            _ if max_exact => Some(m),
            Scalar::String(s) => Some(Scalar::String(format!("{s}{}", char::MAX))),
            _ => None,
        });
        let widen_zero = |s: Scalar, to: f64| match s {
            Scalar::Float(f) if float && f == 0.0 => Scalar::Float(to),
            other => other,
        };
        ColumnBounds {
            min: scalar_at(self.mins.as_ref(), i).map(|s| widen_zero(s, -0.0)),
            max: max.map(|s| widen_zero(s, 0.0)),
            null_count,
            all_null: match (null_count, rows) {
                (Some(n), Some(r)) => Some(n >= r),
                _ => None,
            },
        }
    }
}

/// A partition value as exact bounds; a value that does not parse as the column's type is
/// unknown (the read reports it).
pub(crate) fn partition_bounds(value: Option<&str>, data_type: &DataType) -> ColumnBounds {
    match partition::parse_value(value, data_type, 1) {
        Ok(array) if array.is_null(0) => ColumnBounds::constant(None),
        Ok(array) => match scalar_at(array.as_ref(), 0) {
            Some(v) => ColumnBounds::constant(Some(v)),
            None => ColumnBounds::unknown(),
        },
        Err(_) => ColumnBounds::unknown(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::Expr;
    use arrow::datatypes::{Field, Schema};
    use serde_json::json;

    fn schema() -> Schema {
        Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
            Field::new("amount", DataType::Decimal128(10, 2), true),
            Field::new(
                "ts",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
            Field::new("f", DataType::Float64, true),
        ])
    }

    fn keeps(predicate: &str, stats: Value) -> bool {
        let p = Predicate::bind(&Expr::parse(predicate).unwrap(), &schema()).unwrap();
        may_match(&p, &stats_bounds(&stats, p.columns()))
    }

    fn ids(min: i64, max: i64, nulls: u64, rows: u64) -> Value {
        json!({"numRecords": rows, "minValues": {"id": min}, "maxValues": {"id": max},
               "nullCount": {"id": nulls}})
    }

    #[test]
    fn prunes_by_min_max_and_null_count() {
        let s = ids(10, 20, 0, 5);
        for (p, keep) in [
            ("id = 15", true),
            ("id = 21", false),
            ("id < 10", false),
            ("id <= 10", true),
            ("id > 20", false),
            ("id >= 20", true),
            ("id <> 15", true),
            ("id IS NULL", false),
            ("id IS NOT NULL", true),
            ("NOT (id >= 10)", false),
            ("id IN (1, 2, 30)", false),
            ("id IN (1, 12)", true),
            ("id BETWEEN 21 AND 30", false),
            ("id NOT BETWEEN 5 AND 25", false),
            ("id > 100 OR id < 11", true),
            ("id > 100 AND id < 11", false),
        ] {
            assert_eq!(keeps(p, s.clone()), keep, "{p}");
        }
        assert!(!keeps("id <> 7", ids(7, 7, 0, 3)));
        assert!(keeps("id <> 7", ids(7, 8, 0, 3)));
        // All null: no comparison can be true, IS NULL can.
        let all_null = json!({"numRecords": 3, "nullCount": {"id": 3}});
        assert!(!keeps("id = 1", all_null.clone()));
        assert!(!keeps("id IS NOT NULL", all_null.clone()));
        assert!(keeps("id IS NULL", all_null));
    }

    /// Wide bounds (`tightBounds: false`, a file with a deletion vector): min and max still
    /// bound every valid value, a null count other than 0 or numRecords says nothing, and
    /// numRecords counts the physical rows, so every pruning decision stays safe.
    #[test]
    fn wide_bounds_of_files_with_deletion_vectors_prune_only_what_they_prove() {
        let wide = |nulls: u64| {
            json!({"numRecords": 10, "tightBounds": false, "minValues": {"id": 1},
                   "maxValues": {"id": 9}, "nullCount": {"id": nulls}})
        };
        // Some rows null, some deleted: either answer is possible.
        assert!(keeps("id IS NULL", wide(4)));
        assert!(keeps("id IS NOT NULL", wide(4)));
        // 0 nulls: no valid row is null; all 10 null: every valid row is.
        assert!(!keeps("id IS NULL", wide(0)));
        assert!(!keeps("id IS NOT NULL", wide(10)));
        // The bounds still exclude what lies outside them.
        assert!(!keeps("id > 9", wide(4)));
        assert!(keeps("id = 5", wide(4)));
    }

    #[test]
    fn missing_or_odd_stats_keep_the_file() {
        for stats in [
            json!({}),
            json!({"numRecords": 3}),
            json!({"minValues": {"id": "ten"}, "maxValues": {}}),
            json!({"minValues": {"other": 1}}),
        ] {
            assert!(keeps("id = 15", stats.clone()), "{stats}");
            assert!(keeps("id IS NULL", stats), "IS NULL");
        }
    }

    #[test]
    fn truncated_string_max_stays_an_upper_bound() {
        let prefix = "a".repeat(32);
        let stats = json!({"minValues": {"name": prefix}, "maxValues": {"name": prefix}});
        // The real max may be "aaaa…ab": a max of 32 characters is read as a prefix.
        assert!(keeps(&format!("name = '{prefix}b'"), stats.clone()));
        assert!(!keeps(
            &format!("name > '{prefix}{}'", char::MAX),
            stats.clone()
        ));
        let short = json!({"minValues": {"name": "abc"}, "maxValues": {"name": "abc"}});
        assert!(!keeps("name = 'abcd'", short));
    }

    #[test]
    fn millisecond_timestamps_are_widened() {
        let stats = json!({"minValues": {"ts": "2026-11-23T10:00:00.000Z"},
                           "maxValues": {"ts": "2026-11-23T10:00:00.123Z"}});
        // A row at .123456 is covered by a max written as .123.
        assert!(keeps(
            "ts = TIMESTAMP '2026-11-23 10:00:00.123456'",
            stats.clone()
        ));
        assert!(!keeps(
            "ts >= TIMESTAMP '2026-11-23 10:00:00.124'",
            stats.clone()
        ));
        assert!(keeps(
            "ts < TIMESTAMP '2026-11-23 10:00:00.000001'",
            stats.clone()
        ));
        assert!(!keeps("ts < TIMESTAMP '2026-11-23 09:59:59.999'", stats));
    }

    #[test]
    fn decimal_stats_as_text_or_floats() {
        let text = json!({"minValues": {"amount": "1.10"}, "maxValues": {"amount": "2.50"}});
        assert!(!keeps("amount > 2.50", text.clone()));
        assert!(keeps("amount >= 2.50", text.clone()));
        let float = json!({"minValues": {"amount": 1.1}, "maxValues": {"amount": 2.5}});
        assert!(keeps("amount >= 2.50", float.clone()));
        assert!(keeps("amount = 2.51", float.clone()), "outward by one unit");
        assert!(!keeps("amount > 2.60", float.clone()));
        assert!(!keeps("amount < 1.00", float));
    }

    #[test]
    fn floats_never_prune_upward_because_of_nan() {
        let stats = json!({"minValues": {"f": 0.0}, "maxValues": {"f": 1.0}});
        assert!(keeps("f > 5", stats.clone()), "a NaN row is > 5");
        assert!(keeps(
            "f <> 1",
            json!({"minValues": {"f": 1.0}, "maxValues": {"f": 1.0}})
        ));
        assert!(keeps("f < 0", stats.clone()), "-0.0 < 0.0 in total order");
        assert!(!keeps("f < -1", stats));
    }

    #[test]
    fn partition_values_are_exact() {
        let p = Predicate::bind(&Expr::parse("id = 3").unwrap(), &schema()).unwrap();
        assert!(may_match(
            &p,
            &[ColumnBounds::constant(Some(Scalar::Int(3)))]
        ));
        assert!(!may_match(
            &p,
            &[ColumnBounds::constant(Some(Scalar::Int(4)))]
        ));
        assert!(!may_match(&p, &[ColumnBounds::constant(None)]));
        let p = Predicate::bind(&Expr::parse("id IS NULL").unwrap(), &schema()).unwrap();
        assert!(may_match(&p, &[ColumnBounds::constant(None)]));
        assert!(!may_match(
            &p,
            &[ColumnBounds::constant(Some(Scalar::Int(4)))]
        ));
    }
}
