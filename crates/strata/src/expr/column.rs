//! Columns and literals over Arrow (`protocol/PROTOCOL.md#predicates`): resolving a column
//! path in a schema, reading its array from a batch, a literal coerced to a column's type,
//! and the comparison kernels. Shared by predicates and value expressions, below both.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float64Array,
    Int8Array, Int16Array, Int32Array, Int64Array, RecordBatch, StringArray, StructArray,
    TimestampMicrosecondArray, new_null_array,
};
use arrow::buffer::NullBuffer;
use arrow::compute::cast;
use arrow::compute::kernels::cmp;
use arrow::datatypes::{DataType, Schema, TimeUnit};
use arrow::error::ArrowError;

use crate::expr::{CompareOp, ExprError, Scalar, column_text};

/// A column a predicate reads, resolved against the table schema.
#[derive(Debug, Clone, PartialEq)]
pub struct BoundColumn {
    /// Field names from the top-level column down, as the schema spells them.
    pub path: Vec<String>,
    /// The same column's names in data files, statistics and partition values: `path` unless
    /// the table maps column names (`protocol/PROTOCOL.md#column-mapping`).
    pub physical_path: Vec<String>,
    /// The column's Arrow type in the table schema.
    pub data_type: DataType,
}

impl BoundColumn {
    /// The column as SQL text (`a.b`).
    pub fn name(&self) -> String {
        column_text(&self.path)
    }

    /// Whether the column is a floating-point column (whose bounds never prune upward).
    pub fn is_float(&self) -> bool {
        matches!(
            self.data_type,
            DataType::Float16 | DataType::Float32 | DataType::Float64
        )
    }
}

/// Resolves a column path in `schema`: exact names first, then a unique case-insensitive
/// match.
pub(crate) fn resolve_column(schema: &Schema, path: &[String]) -> Result<BoundColumn, ExprError> {
    let unknown = || ExprError::UnknownColumn {
        column: column_text(path),
        available: schema.fields().iter().map(|f| f.name().clone()).collect(),
    };
    let mut fields = schema.fields();
    let mut resolved = Vec::with_capacity(path.len());
    let mut data_type = None;
    for name in path {
        let field = fields
            .iter()
            .find(|f| f.name() == name)
            .or_else(|| {
                let mut matches = fields
                    .iter()
                    .filter(|f| f.name().eq_ignore_ascii_case(name));
                let first = matches.next();
                first.filter(|_| matches.next().is_none())
            })
            .ok_or_else(unknown)?;
        resolved.push(field.name().clone());
        data_type = Some(field.data_type().clone());
        fields = match field.data_type() {
            DataType::Struct(children) => children,
            _ => &EMPTY_FIELDS,
        };
    }
    Ok(BoundColumn {
        physical_path: resolved.clone(),
        path: resolved,
        data_type: data_type.ok_or_else(unknown)?,
    })
}

/// The index of `column` in `columns`, added if new.
pub(crate) fn register_column(columns: &mut Vec<BoundColumn>, column: BoundColumn) -> usize {
    match columns.iter().position(|c| *c == column) {
        Some(i) => i,
        None => {
            columns.push(column);
            columns.len() - 1
        }
    }
}

static EMPTY_FIELDS: std::sync::LazyLock<arrow::datatypes::Fields> =
    std::sync::LazyLock::new(arrow::datatypes::Fields::empty);

/// A literal seen on a column's type.
#[derive(Debug, PartialEq)]
pub(crate) enum Coerced {
    /// Exactly representable.
    Exact(Scalar),
    /// Strictly between this representable value and the next one (e.g. `2.5` on a long
    /// column is between 2 and 3).
    Between(Scalar),
    /// Greater than every value of the type.
    AboveAll,
    /// Less than every value of the type.
    BelowAll,
}

fn int_range(data_type: &DataType) -> Option<(i64, i64)> {
    Some(match data_type {
        DataType::Int8 => (i8::MIN.into(), i8::MAX.into()),
        DataType::Int16 => (i16::MIN.into(), i16::MAX.into()),
        DataType::Int32 => (i32::MIN.into(), i32::MAX.into()),
        DataType::Int64 => (i64::MIN, i64::MAX),
        _ => return None,
    })
}

/// An exact rational `unscaled × 10^-scale` placed on an integer grid of `target_scale`
/// digits: `Exact(n)` or `Between(floor)`.
fn to_grid(unscaled: i128, scale: i8, target_scale: i8) -> Option<(i128, bool)> {
    let shift = i32::from(target_scale) - i32::from(scale);
    if shift >= 0 {
        let factor = 10i128.checked_pow(shift.unsigned_abs())?;
        return Some((unscaled.checked_mul(factor)?, true));
    }
    let factor = 10i128.checked_pow(shift.unsigned_abs())?;
    let floor = unscaled.div_euclid(factor);
    Some((floor, unscaled.rem_euclid(factor) == 0))
}

/// A literal as a value of `data_type`, or why it cannot be one.
pub(crate) fn coerce(value: &Scalar, data_type: &DataType) -> Result<Coerced, String> {
    let mismatch = || format!("{value} cannot be compared with a {data_type} column");
    let exact = |s: Scalar| Ok(Coerced::Exact(s));
    match (data_type, value) {
        (DataType::Boolean, Scalar::Boolean(_)) => exact(value.clone()),
        (DataType::Boolean, Scalar::String(s)) => match s.to_ascii_lowercase().as_str() {
            "true" => exact(Scalar::Boolean(true)),
            "false" => exact(Scalar::Boolean(false)),
            _ => Err(mismatch()),
        },
        (DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64, _) => {
            let (lo, hi) = int_range(data_type).ok_or_else(mismatch)?;
            let (n, is_exact) = match value {
                Scalar::Int(v) => (i128::from(*v), true),
                Scalar::Decimal { unscaled, scale } => {
                    to_grid(*unscaled, *scale, 0).ok_or_else(mismatch)?
                }
                Scalar::Float(f) if f.is_finite() => {
                    let floor = f.floor();
                    if floor.abs() > 1e30 {
                        (if *f > 0.0 { i128::MAX } else { i128::MIN }, false)
                    } else {
                        (floor as i128, floor == *f)
                    }
                }
                Scalar::Float(f) if f.is_infinite() => {
                    return Ok(if *f > 0.0 {
                        Coerced::AboveAll
                    } else {
                        Coerced::BelowAll
                    });
                }
                Scalar::String(s) => match crate::expr::parse_number(s) {
                    Ok(n @ (Scalar::Int(_) | Scalar::Decimal { .. })) => {
                        return coerce(&n, data_type);
                    }
                    _ => return Err(mismatch()),
                },
                _ => return Err(mismatch()),
            };
            if n > i128::from(hi) {
                Ok(Coerced::AboveAll)
            } else if n < i128::from(lo) {
                // A non-exact floor below the minimum still means below everything.
                Ok(Coerced::BelowAll)
            } else {
                let v = Scalar::Int(i64::try_from(n).map_err(|_| mismatch())?);
                Ok(if is_exact {
                    Coerced::Exact(v)
                } else {
                    Coerced::Between(v)
                })
            }
        }
        (DataType::Float16 | DataType::Float32 | DataType::Float64, _) => match value {
            Scalar::Float(f) => exact(Scalar::Float(*f)),
            Scalar::Int(v) => exact(Scalar::Float(*v as f64)),
            Scalar::Decimal { unscaled, scale } => exact(Scalar::Float(
                crate::protocol::values::format_decimal(*unscaled, *scale)
                    .parse()
                    .map_err(|_| mismatch())?,
            )),
            Scalar::String(s) => s
                .trim()
                .parse::<f64>()
                .map(|f| Coerced::Exact(Scalar::Float(f)))
                .map_err(|_| mismatch()),
            _ => Err(mismatch()),
        },
        (DataType::Decimal128(precision, scale), _) => {
            let (unscaled, from_scale) = match value {
                Scalar::Int(v) => (i128::from(*v), 0),
                Scalar::Decimal { unscaled, scale } => (*unscaled, *scale),
                Scalar::Float(f) if f.is_finite() => {
                    crate::protocol::values::parse_decimal(&format!("{f}")).ok_or_else(mismatch)?
                }
                Scalar::String(s) => {
                    crate::protocol::values::parse_decimal(s).ok_or_else(mismatch)?
                }
                _ => return Err(mismatch()),
            };
            let Some((n, is_exact)) = to_grid(unscaled, from_scale, *scale) else {
                return Ok(if unscaled > 0 {
                    Coerced::AboveAll
                } else {
                    Coerced::BelowAll
                });
            };
            let limit = 10i128.pow(u32::from(*precision)) - 1;
            if n > limit {
                return Ok(Coerced::AboveAll);
            }
            if n < -limit {
                return Ok(Coerced::BelowAll);
            }
            let v = Scalar::Decimal {
                unscaled: n,
                scale: *scale,
            };
            Ok(if is_exact {
                Coerced::Exact(v)
            } else {
                Coerced::Between(v)
            })
        }
        (DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View, Scalar::String(_)) => {
            exact(value.clone())
        }
        (DataType::Binary | DataType::LargeBinary | DataType::BinaryView, Scalar::Binary(_)) => {
            exact(value.clone())
        }
        (DataType::Binary | DataType::LargeBinary | DataType::BinaryView, Scalar::String(s)) => {
            exact(Scalar::Binary(s.as_bytes().to_vec()))
        }
        (DataType::Date32, Scalar::Date(_)) => exact(value.clone()),
        (DataType::Date32, Scalar::String(s)) => crate::expr::parse_date(s)
            .map(Coerced::Exact)
            .ok_or_else(mismatch),
        (DataType::Timestamp(_, tz), _) => {
            let us = match value {
                Scalar::Timestamp(us) | Scalar::TimestampNtz(us) => *us,
                Scalar::Date(days) => i64::from(*days) * 86_400_000_000,
                Scalar::String(s) => {
                    let parsed = if tz.is_some() {
                        crate::expr::parse_timestamp(s)
                    } else {
                        crate::expr::parse_timestamp_ntz(s.strip_suffix('Z').unwrap_or(s))
                    };
                    match parsed {
                        Some(Scalar::Timestamp(us) | Scalar::TimestampNtz(us)) => us,
                        _ => return Err(mismatch()),
                    }
                }
                _ => return Err(mismatch()),
            };
            exact(if tz.is_some() {
                Scalar::Timestamp(us)
            } else {
                Scalar::TimestampNtz(us)
            })
        }
        _ => Err(mismatch()),
    }
}

/// The array of `column` in `batch`, following struct fields; a struct's nulls make its
/// fields null.
pub(crate) fn column_array(
    batch: &RecordBatch,
    column: &BoundColumn,
) -> Result<ArrayRef, ArrowError> {
    let missing = || ArrowError::SchemaError(format!("no column {} in the batch", column.name()));
    let (first, rest) = column.path.split_first().ok_or_else(missing)?;
    let mut array = batch.column_by_name(first).ok_or_else(missing)?.clone();
    for name in rest {
        let parent = array
            .as_any()
            .downcast_ref::<StructArray>()
            .ok_or_else(missing)?;
        let child = parent.column_by_name(name).ok_or_else(missing)?.clone();
        let nulls = NullBuffer::union(parent.nulls(), child.logical_nulls().as_ref());
        array = if nulls.as_ref().map(NullBuffer::null_count)
            == child.nulls().map(|n| n.null_count())
        {
            child
        } else {
            arrow::array::make_array(child.to_data().into_builder().nulls(nulls).build()?)
        };
    }
    if matches!(array.data_type(), DataType::Float16 | DataType::Float32) {
        array = cast(&array, &DataType::Float64)?;
    }
    Ok(array)
}

pub(crate) fn compare(
    left: &dyn arrow::array::Datum,
    op: CompareOp,
    right: &dyn arrow::array::Datum,
) -> Result<BooleanArray, ArrowError> {
    match op {
        CompareOp::Eq => cmp::eq(left, right),
        CompareOp::NotEq => cmp::neq(left, right),
        CompareOp::Lt => cmp::lt(left, right),
        CompareOp::LtEq => cmp::lt_eq(left, right),
        CompareOp::Gt => cmp::gt(left, right),
        CompareOp::GtEq => cmp::gt_eq(left, right),
    }
}

/// A one-element array of `data_type` holding `value` (already coerced to that type).
pub(crate) fn scalar_array(value: &Scalar, data_type: &DataType) -> Result<ArrayRef, ArrowError> {
    let wrong =
        || ArrowError::InvalidArgumentError(format!("{value} is not a value of type {data_type}"));
    let array: ArrayRef = match (value, data_type) {
        (Scalar::Null, dt) => new_null_array(dt, 1),
        (Scalar::Boolean(b), DataType::Boolean) => Arc::new(BooleanArray::from(vec![*b])),
        (Scalar::Int(v), DataType::Int8) => Arc::new(Int8Array::from(vec![
            i8::try_from(*v).map_err(|_| wrong())?,
        ])),
        (Scalar::Int(v), DataType::Int16) => Arc::new(Int16Array::from(vec![
            i16::try_from(*v).map_err(|_| wrong())?,
        ])),
        (Scalar::Int(v), DataType::Int32) => Arc::new(Int32Array::from(vec![
            i32::try_from(*v).map_err(|_| wrong())?,
        ])),
        (Scalar::Int(v), DataType::Int64) => Arc::new(Int64Array::from(vec![*v])),
        (Scalar::Float(v), DataType::Float64) => Arc::new(Float64Array::from(vec![*v])),
        (Scalar::Decimal { unscaled, .. }, DataType::Decimal128(p, s)) => {
            Arc::new(Decimal128Array::from(vec![*unscaled]).with_precision_and_scale(*p, *s)?)
        }
        (Scalar::String(s), DataType::Utf8) => Arc::new(StringArray::from(vec![s.as_str()])),
        (Scalar::String(_), DataType::LargeUtf8 | DataType::Utf8View) => {
            cast(&scalar_array(value, &DataType::Utf8)?, data_type)?
        }
        (Scalar::Binary(b), DataType::Binary) => Arc::new(BinaryArray::from(vec![b.as_slice()])),
        (Scalar::Binary(_), DataType::LargeBinary | DataType::BinaryView) => {
            cast(&scalar_array(value, &DataType::Binary)?, data_type)?
        }
        (Scalar::Date(d), DataType::Date32) => Arc::new(Date32Array::from(vec![*d])),
        (
            Scalar::Timestamp(us) | Scalar::TimestampNtz(us),
            DataType::Timestamp(TimeUnit::Microsecond, tz),
        ) => Arc::new(TimestampMicrosecondArray::from(vec![*us]).with_timezone_opt(tz.clone())),
        (Scalar::Timestamp(_) | Scalar::TimestampNtz(_), DataType::Timestamp(_, tz)) => cast(
            &scalar_array(
                value,
                &DataType::Timestamp(TimeUnit::Microsecond, tz.clone()),
            )?,
            data_type,
        )?,
        _ => return Err(wrong()),
    };
    Ok(array)
}
