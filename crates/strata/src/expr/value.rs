//! Value expressions (`protocol/PROTOCOL.md#expressions`): what `UPDATE … SET col = expr` and
//! merge assignments compute, and what predicates fall back to where a condition is more than a
//! column compared with a literal (`lower(name) = 'x'`, `a + b > 10`).
//!
//! Binding ([`BoundValue::bind`]) types every node before a row is read, as Spark SQL does:
//! untyped literals take the type of what they meet, numbers promote (integers to the wider
//! integer, with decimals to a decimal, with floats to double), `/` on integers divides as
//! doubles, and what does not type-check is an [`ExprError::Type`] naming the sub-expression.
//! Evaluation runs Arrow kernels over whole batches with SQL's null semantics and ANSI errors:
//! overflow, division by zero and a failed `CAST` are errors, never silent nulls or wrapped
//! numbers. `CASE` branches, and the right side of `AND`/`OR`, are evaluated only on the rows
//! that reach them, so `CASE WHEN b = 0 THEN 0 ELSE a / b END` never divides by zero.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int32Array, RecordBatch, StringArray, UInt32Array,
    new_empty_array, new_null_array,
};
use arrow::compute::kernels::zip::zip;
use arrow::compute::kernels::{cmp, numeric};
use arrow::compute::{
    CastOptions, and_kleene, can_cast_types, cast, cast_with_options, interleave, is_not_null,
    is_null, not, nullif, or_kleene, take,
};
use arrow::datatypes::{DataType, Schema, TimeUnit};
use arrow::error::ArrowError;

use super::column::{
    BoundColumn, Coerced, coerce, column_array, compare, register_column, resolve_column,
    scalar_array,
};
use super::{ArithmeticOp, CompareOp, Expr, ExprError, Scalar};

/// The functions expressions may call (lowercase; `substr`, `lcase`, `ucase` and
/// `char_length` are accepted as aliases).
pub(crate) const FUNCTIONS: &[&str] = &[
    "lower",
    "upper",
    "trim",
    "ltrim",
    "rtrim",
    "substring",
    "length",
    "concat",
    "coalesce",
    "nullif",
    "abs",
    "year",
    "month",
    "day",
    "hour",
    "to_date",
];

/// A calendar field of a date or timestamp (timestamps in UTC, as Delta stores them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DateField {
    Year,
    Month,
    Day,
    Hour,
}

/// A string function of one argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TextFn {
    Lower,
    Upper,
    Trim,
    LTrim,
    RTrim,
}

/// A bound, typed node. Operands have been converted to the types the node computes in.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// An index into the bound columns.
    Column(usize),
    Literal {
        value: Scalar,
        data_type: DataType,
    },
    Arithmetic {
        op: ArithmeticOp,
        left: Box<Value>,
        right: Box<Value>,
    },
    Negative(Box<Value>),
    Compare {
        op: CompareOp,
        left: Box<Value>,
        right: Box<Value>,
    },
    And(Box<Value>, Box<Value>),
    Or(Box<Value>, Box<Value>),
    Not(Box<Value>),
    IsNull(Box<Value>),
    IsNotNull(Box<Value>),
    /// Searched form; conditions are boolean, results share one type.
    Case {
        branches: Vec<(Value, Value)>,
        otherwise: Box<Value>,
    },
    Coalesce(Vec<Value>),
    NullIf(Box<Value>, Box<Value>),
    Cast {
        value: Box<Value>,
        to: DataType,
    },
    Text(TextFn, Box<Value>),
    Length(Box<Value>),
    /// Spark's `substring(s, pos, len)`: 1-based, a negative `pos` counts from the end.
    Substring {
        value: Box<Value>,
        pos: i64,
        len: Option<i64>,
    },
    Concat(Vec<Value>),
    Abs(Box<Value>),
    /// `year(x)`, `month(x)`, `day(x)`, `hour(x)` of a date or timestamp, as an `int`.
    DatePart(DateField, Box<Value>),
}

/// A bound condition the value engine evaluates per row (a predicate's residual part).
#[derive(Debug, Clone, PartialEq)]
pub struct Residual(pub(crate) Value);

/// A node with its type; `literal` keeps an untyped literal's value so that it can take the
/// type of what it meets.
#[derive(Debug, Clone)]
pub(crate) struct Typed {
    pub(crate) value: Value,
    pub(crate) data_type: DataType,
    literal: Option<Scalar>,
}

impl Typed {
    fn new(value: Value, data_type: DataType) -> Typed {
        Typed {
            value,
            data_type,
            literal: None,
        }
    }
}

/// A value expression bound to a schema: its type is known, and it evaluates over batches of
/// that schema.
#[derive(Debug, Clone, PartialEq)]
pub struct BoundValue {
    expr: Expr,
    root: Value,
    columns: Vec<BoundColumn>,
    data_type: DataType,
}

impl std::fmt::Display for BoundValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.expr)
    }
}

impl BoundValue {
    /// Binds `expr` to `schema`, typing every node.
    ///
    /// # Errors
    /// [`ExprError::UnknownColumn`], and [`ExprError::Type`] naming the sub-expression that
    /// does not type-check (`'a' + 1`, `lower(1.5 > 2)`, a `CASE` whose branches have no
    /// common type).
    pub fn bind(expr: &Expr, schema: &Schema) -> Result<BoundValue, ExprError> {
        let mut columns = Vec::new();
        let typed = ValueBinder {
            schema,
            columns: &mut columns,
        }
        .bind(expr)?;
        let typed = fix_literal(typed);
        Ok(BoundValue {
            expr: expr.clone(),
            root: typed.value,
            columns,
            data_type: typed.data_type,
        })
    }

    /// The expression this was bound from.
    pub fn expr(&self) -> &Expr {
        &self.expr
    }

    /// The type the expression computes (a literal `NULL` alone is [`DataType::Null`]).
    pub fn data_type(&self) -> &DataType {
        &self.data_type
    }

    /// The columns the expression reads.
    pub fn columns(&self) -> &[BoundColumn] {
        &self.columns
    }

    /// Evaluates the expression on every row of `batch` (which has the bound schema's columns
    /// by name).
    ///
    /// # Errors
    /// Overflow, division by zero or a failed cast on some row, naming the expression.
    pub fn evaluate(&self, batch: &RecordBatch) -> Result<ArrayRef, ArrowError> {
        let arrays = self
            .columns
            .iter()
            .map(|c| column_array(batch, c))
            .collect::<Result<Vec<_>, _>>()?;
        evaluate(&self.root, &arrays, batch.num_rows())
            .map_err(|e| ArrowError::ComputeError(format!("evaluating `{}`: {e}", self.expr)))
    }
}

/// Whether `expr` is a value the predicate binder hands to this module.
pub(crate) fn is_value_expr(expr: &Expr) -> bool {
    matches!(
        expr,
        Expr::Arithmetic { .. }
            | Expr::Negative(_)
            | Expr::Function { .. }
            | Expr::Case { .. }
            | Expr::Cast { .. }
    )
}

/// Binds `expr` as a condition into a predicate's column list (`columns`): boolean or null.
pub(crate) fn bind_condition(
    expr: &Expr,
    schema: &Schema,
    columns: &mut Vec<BoundColumn>,
) -> Result<Residual, ExprError> {
    let typed = ValueBinder { schema, columns }.bind(expr)?;
    match typed.data_type {
        DataType::Boolean | DataType::Null => Ok(Residual(fix_literal(typed).value)),
        other => Err(type_error(
            expr,
            &format!("a {other} value is not a condition; compare it with a value"),
        )),
    }
}

/// The Arrow type of a SQL type name (`BIGINT`, `DECIMAL(10,2)`, `STRING`, `TIMESTAMP_NTZ`,
/// `VARCHAR(20)`), by the names Delta's DDL knows.
pub(crate) fn arrow_type_of_sql(text: &str) -> Result<DataType, ExprError> {
    let lower = text.trim().to_ascii_lowercase();
    let name = match lower.split_once('(') {
        Some((base, _)) if matches!(base.trim(), "varchar" | "char" | "character varying") => {
            "string".to_string()
        }
        _ if lower == "character varying" || lower == "varchar" => "string".to_string(),
        _ => lower,
    };
    let bad = || ExprError::Unsupported {
        what: format!("CAST to {text}"),
    };
    let schema = crate::protocol::schema::StructType::from_ddl(&format!("v {name}"))
        .map_err(|_| bad())?
        .to_arrow()
        .map_err(|_| bad())?;
    Ok(schema.field(0).data_type().clone())
}

/// A type as SQL names it (Delta's names), for display.
pub(crate) fn sql_type_name(data_type: &DataType) -> String {
    crate::protocol::schema::DataType::try_from_arrow(data_type)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| data_type.to_string())
}

fn type_error(expr: &Expr, reason: &str) -> ExprError {
    ExprError::Type {
        expr: expr.to_string(),
        reason: reason.to_string(),
    }
}

struct ValueBinder<'a> {
    schema: &'a Schema,
    columns: &'a mut Vec<BoundColumn>,
}

impl ValueBinder<'_> {
    fn bind(&mut self, expr: &Expr) -> Result<Typed, ExprError> {
        Ok(match expr {
            Expr::Column(path) => {
                let column = resolve_column(self.schema, path)?;
                let data_type = evaluated_type(&column.data_type);
                Typed::new(
                    Value::Column(register_column(self.columns, column)),
                    data_type,
                )
            }
            Expr::Literal(s) => literal(s),
            Expr::Compare { op, left, right } => self.compare(expr, *op, left, right)?,
            Expr::And(l, r) | Expr::Or(l, r) => {
                let (l, r) = (self.condition(l)?, self.condition(r)?);
                let node = if matches!(expr, Expr::And(..)) {
                    Value::And(Box::new(l), Box::new(r))
                } else {
                    Value::Or(Box::new(l), Box::new(r))
                };
                Typed::new(node, DataType::Boolean)
            }
            Expr::Not(e) => Typed::new(Value::Not(Box::new(self.condition(e)?)), DataType::Boolean),
            Expr::IsNull(e) | Expr::IsNotNull(e) => {
                let inner = Box::new(fix_literal(self.bind(e)?).value);
                let node = if matches!(expr, Expr::IsNull(_)) {
                    Value::IsNull(inner)
                } else {
                    Value::IsNotNull(inner)
                };
                Typed::new(node, DataType::Boolean)
            }
            Expr::In {
                expr: item,
                list,
                negated,
            } => {
                let mut any: Option<Value> = None;
                for candidate in list {
                    let eq = self.compare(expr, CompareOp::Eq, item, candidate)?.value;
                    any = Some(match any {
                        Some(a) => Value::Or(Box::new(a), Box::new(eq)),
                        None => eq,
                    });
                }
                let any = any.ok_or_else(|| type_error(expr, "IN needs at least one value"))?;
                let node = if *negated {
                    Value::Not(Box::new(any))
                } else {
                    any
                };
                Typed::new(node, DataType::Boolean)
            }
            Expr::Between {
                expr: item,
                low,
                high,
                negated,
            } => {
                let above = self.compare(expr, CompareOp::GtEq, item, low)?.value;
                let below = self.compare(expr, CompareOp::LtEq, item, high)?.value;
                let within = Value::And(Box::new(above), Box::new(below));
                let node = if *negated {
                    Value::Not(Box::new(within))
                } else {
                    within
                };
                Typed::new(node, DataType::Boolean)
            }
            Expr::Arithmetic { op, left, right } => self.arithmetic(expr, *op, left, right)?,
            Expr::Negative(e) => {
                let inner = fix_literal(self.bind(e)?);
                if !is_numeric(&inner.data_type) {
                    return Err(type_error(
                        expr,
                        &format!("cannot negate a {} value", inner.data_type),
                    ));
                }
                let data_type = inner.data_type.clone();
                Typed::new(Value::Negative(Box::new(inner.value)), data_type)
            }
            Expr::Function { name, args } => self.function(expr, name, args)?,
            Expr::Case {
                operand,
                branches,
                otherwise,
            } => self.case(expr, operand.as_deref(), branches, otherwise.as_deref())?,
            Expr::Cast { expr: inner, to } => {
                let value = fix_literal(self.bind(inner)?);
                if !can_cast_types(&value.data_type, to) {
                    return Err(type_error(
                        expr,
                        &format!(
                            "cannot cast a {} value to {}",
                            sql_type_name(&value.data_type),
                            sql_type_name(to)
                        ),
                    ));
                }
                Typed::new(
                    Value::Cast {
                        value: Box::new(value.value),
                        to: to.clone(),
                    },
                    to.clone(),
                )
            }
        })
    }

    fn condition(&mut self, expr: &Expr) -> Result<Value, ExprError> {
        let typed = self.bind(expr)?;
        match typed.data_type {
            DataType::Boolean | DataType::Null => Ok(conform(typed, &DataType::Boolean)),
            other => Err(type_error(
                expr,
                &format!("a {other} value is not a condition"),
            )),
        }
    }

    fn compare(
        &mut self,
        whole: &Expr,
        op: CompareOp,
        left: &Expr,
        right: &Expr,
    ) -> Result<Typed, ExprError> {
        let (l, r) = (self.bind(left)?, self.bind(right)?);
        let common = common_type(&l, &r).ok_or_else(|| {
            type_error(
                whole,
                &format!(
                    "cannot compare a {} value with a {} value",
                    sql_type_name(&l.data_type),
                    sql_type_name(&r.data_type)
                ),
            )
        })?;
        if matches!(
            common,
            DataType::Struct(_) | DataType::List(_) | DataType::LargeList(_) | DataType::Map(..)
        ) {
            return Err(type_error(
                whole,
                &format!("{common} values cannot be compared; compare one of their fields"),
            ));
        }
        Ok(Typed::new(
            Value::Compare {
                op,
                left: Box::new(conform(l, &common)),
                right: Box::new(conform(r, &common)),
            },
            DataType::Boolean,
        ))
    }

    fn arithmetic(
        &mut self,
        whole: &Expr,
        op: ArithmeticOp,
        left: &Expr,
        right: &Expr,
    ) -> Result<Typed, ExprError> {
        let (l, r) = (self.bind(left)?, self.bind(right)?);
        let numeric_or_null = |t: &DataType| is_numeric(t) || *t == DataType::Null;
        if !numeric_or_null(&l.data_type) || !numeric_or_null(&r.data_type) {
            return Err(type_error(
                whole,
                &format!(
                    "`{}` takes numbers, not {} and {}",
                    op.symbol(),
                    sql_type_name(&l.data_type),
                    sql_type_name(&r.data_type)
                ),
            ));
        }
        let mut common = match common_type(&l, &r) {
            Some(DataType::Null) | None => DataType::Int64,
            Some(t) => t,
        };
        if op == ArithmeticOp::Divide && is_integer(&common) {
            common = DataType::Float64;
        }
        let result = arithmetic_type(op, &common).map_err(|e| type_error(whole, &e.to_string()))?;
        Ok(Typed::new(
            Value::Arithmetic {
                op,
                left: Box::new(conform(l, &common)),
                right: Box::new(conform(r, &common)),
            },
            result,
        ))
    }

    fn function(&mut self, whole: &Expr, name: &str, args: &[Expr]) -> Result<Typed, ExprError> {
        let arity = |n: std::ops::RangeInclusive<usize>| {
            if n.contains(&args.len()) {
                Ok(())
            } else {
                Err(type_error(
                    whole,
                    &format!(
                        "{name} takes {} argument(s), not {}",
                        if n.start() == n.end() {
                            n.start().to_string()
                        } else {
                            format!("{} to {}", n.start(), n.end())
                        },
                        args.len()
                    ),
                ))
            }
        };
        let text = |this: &mut Self, e: &Expr| -> Result<Value, ExprError> {
            let typed = this.bind(e)?;
            if !can_cast_types(&typed.data_type, &DataType::Utf8) {
                return Err(type_error(
                    whole,
                    &format!("{name} takes text, not {}", typed.data_type),
                ));
            }
            Ok(conform(typed, &DataType::Utf8))
        };
        Ok(match name {
            "lower" | "upper" | "trim" | "ltrim" | "rtrim" => {
                arity(1..=1)?;
                let function = match name {
                    "lower" => TextFn::Lower,
                    "upper" => TextFn::Upper,
                    "trim" => TextFn::Trim,
                    "ltrim" => TextFn::LTrim,
                    _ => TextFn::RTrim,
                };
                Typed::new(
                    Value::Text(function, Box::new(text(self, &args[0])?)),
                    DataType::Utf8,
                )
            }
            "length" => {
                arity(1..=1)?;
                Typed::new(
                    Value::Length(Box::new(text(self, &args[0])?)),
                    DataType::Int32,
                )
            }
            "substring" => {
                arity(2..=3)?;
                let position = |e: &Expr| match e {
                    Expr::Literal(Scalar::Int(v)) => Ok(*v),
                    _ => Err(type_error(
                        whole,
                        "substring takes integer literals for its position and length",
                    )),
                };
                let pos = position(&args[1])?;
                let len = args.get(2).map(position).transpose()?;
                Typed::new(
                    Value::Substring {
                        value: Box::new(text(self, &args[0])?),
                        pos,
                        len,
                    },
                    DataType::Utf8,
                )
            }
            "concat" => {
                arity(1..=usize::MAX)?;
                let parts = args
                    .iter()
                    .map(|a| text(self, a))
                    .collect::<Result<_, _>>()?;
                Typed::new(Value::Concat(parts), DataType::Utf8)
            }
            "coalesce" => {
                arity(1..=usize::MAX)?;
                let typed = args
                    .iter()
                    .map(|a| self.bind(a))
                    .collect::<Result<Vec<_>, _>>()?;
                let common = common_of(whole, &typed)?;
                let parts = typed.into_iter().map(|t| conform(t, &common)).collect();
                Typed::new(Value::Coalesce(parts), common)
            }
            "nullif" => {
                arity(2..=2)?;
                let (a, b) = (self.bind(&args[0])?, self.bind(&args[1])?);
                let common = common_of(whole, &[a.clone(), b.clone()])?;
                Typed::new(
                    Value::NullIf(Box::new(conform(a, &common)), Box::new(conform(b, &common))),
                    common,
                )
            }
            "abs" => {
                arity(1..=1)?;
                let inner = fix_literal(self.bind(&args[0])?);
                if !is_numeric(&inner.data_type) {
                    return Err(type_error(
                        whole,
                        &format!("abs takes a number, not {}", inner.data_type),
                    ));
                }
                let data_type = inner.data_type.clone();
                Typed::new(Value::Abs(Box::new(inner.value)), data_type)
            }
            "year" | "month" | "day" | "hour" => {
                arity(1..=1)?;
                let inner = fix_literal(self.bind(&args[0])?);
                if !matches!(
                    inner.data_type,
                    DataType::Date32 | DataType::Timestamp(_, _)
                ) {
                    return Err(type_error(
                        whole,
                        &format!("{name} takes a date or timestamp, not {}", inner.data_type),
                    ));
                }
                let field = match name {
                    "year" => DateField::Year,
                    "month" => DateField::Month,
                    "hour" => DateField::Hour,
                    _ => DateField::Day,
                };
                Typed::new(
                    Value::DatePart(field, Box::new(inner.value)),
                    DataType::Int32,
                )
            }
            "to_date" => {
                arity(1..=1)?;
                return self.bind(&Expr::Cast {
                    expr: Box::new(args[0].clone()),
                    to: DataType::Date32,
                });
            }
            other => {
                return Err(ExprError::Unsupported {
                    what: format!("function {other}"),
                });
            }
        })
    }

    fn case(
        &mut self,
        whole: &Expr,
        operand: Option<&Expr>,
        branches: &[(Expr, Expr)],
        otherwise: Option<&Expr>,
    ) -> Result<Typed, ExprError> {
        let mut conditions = Vec::with_capacity(branches.len());
        let mut results = Vec::with_capacity(branches.len() + 1);
        for (when, then) in branches {
            let condition = match operand {
                Some(o) => self.compare(whole, CompareOp::Eq, o, when)?.value,
                None => self.condition(when)?,
            };
            conditions.push(condition);
            results.push(self.bind(then)?);
        }
        results.push(match otherwise {
            Some(e) => self.bind(e)?,
            None => literal(&Scalar::Null),
        });
        let common = common_of(whole, &results)?;
        let mut results: Vec<Value> = results.into_iter().map(|t| conform(t, &common)).collect();
        let otherwise = results.pop().unwrap_or(Value::Literal {
            value: Scalar::Null,
            data_type: common.clone(),
        });
        Ok(Typed::new(
            Value::Case {
                branches: conditions.into_iter().zip(results).collect(),
                otherwise: Box::new(otherwise),
            },
            common,
        ))
    }
}

/// The type a column evaluates as: floats are read as doubles (`column_array`).
fn evaluated_type(data_type: &DataType) -> DataType {
    match data_type {
        DataType::Float16 | DataType::Float32 => DataType::Float64,
        other => other.clone(),
    }
}

/// An untyped literal, with the type its form suggests.
fn literal(s: &Scalar) -> Typed {
    let data_type = match s {
        Scalar::Null => DataType::Null,
        Scalar::Boolean(_) => DataType::Boolean,
        Scalar::Int(_) => DataType::Int64,
        Scalar::Float(_) => DataType::Float64,
        Scalar::Decimal { unscaled, scale } => {
            let digits = unscaled
                .unsigned_abs()
                .checked_ilog10()
                .map_or(1, |d| d + 1) as u8;
            let scale_digits = u8::try_from((*scale).max(0)).unwrap_or(0);
            DataType::Decimal128(digits.max(scale_digits).clamp(1, 38), *scale)
        }
        Scalar::String(_) => DataType::Utf8,
        Scalar::Binary(_) => DataType::Binary,
        Scalar::Date(_) => DataType::Date32,
        Scalar::Timestamp(_) => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        Scalar::TimestampNtz(_) => DataType::Timestamp(TimeUnit::Microsecond, None),
    };
    Typed {
        value: Value::Literal {
            value: s.clone(),
            data_type: data_type.clone(),
        },
        data_type,
        literal: Some(s.clone()),
    }
}

/// An untyped literal fixed at the type of its form.
fn fix_literal(mut t: Typed) -> Typed {
    t.literal = None;
    t
}

fn is_integer(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64
    )
}

fn is_numeric(t: &DataType) -> bool {
    is_integer(t) || matches!(t, DataType::Float64 | DataType::Decimal128(..))
}

fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

/// Decimal digits an integer type needs.
fn integer_digits(t: &DataType) -> u8 {
    match t {
        DataType::Int8 => 3,
        DataType::Int16 => 5,
        DataType::Int32 => 10,
        _ => 19,
    }
}

/// The numeric type two numeric types meet in.
fn common_numeric(a: &DataType, b: &DataType) -> Option<DataType> {
    use DataType::*;
    Some(match (a, b) {
        (Float64, _) | (_, Float64) => Float64,
        (Decimal128(p1, s1), Decimal128(p2, s2)) => {
            let scale = (*s1).max(*s2);
            let whole = (i16::from(*p1) - i16::from(*s1)).max(i16::from(*p2) - i16::from(*s2));
            let precision = (whole + i16::from(scale)).clamp(1, 38);
            Decimal128(u8::try_from(precision).ok()?, scale)
        }
        (Decimal128(p, s), i) | (i, Decimal128(p, s)) if is_integer(i) => {
            let precision = (integer_digits(i) + u8::try_from((*s).max(0)).ok()?).max(*p);
            Decimal128(precision.min(38), *s)
        }
        _ if is_integer(a) && is_integer(b) => {
            if integer_digits(a) >= integer_digits(b) {
                a.clone()
            } else {
                b.clone()
            }
        }
        _ => return None,
    })
}

/// The type two typed values meet in: the same type; the other type for a null; the typed
/// side's type for a literal that is exactly a value of it; numbers promoted; texts as UTF-8;
/// dates with timestamps as timestamps.
fn common_type(a: &Typed, b: &Typed) -> Option<DataType> {
    if a.data_type == b.data_type {
        return Some(a.data_type.clone());
    }
    if a.data_type == DataType::Null {
        return Some(b.data_type.clone());
    }
    if b.data_type == DataType::Null {
        return Some(a.data_type.clone());
    }
    for (lit, other) in [(a, b), (b, a)] {
        if let (Some(value), None) = (&lit.literal, &other.literal)
            && let Ok(Coerced::Exact(_)) = coerce(value, &other.data_type)
        {
            return Some(other.data_type.clone());
        }
    }
    if is_numeric(&a.data_type) && is_numeric(&b.data_type) {
        return common_numeric(&a.data_type, &b.data_type);
    }
    if is_text(&a.data_type) && is_text(&b.data_type) {
        return Some(DataType::Utf8);
    }
    match (&a.data_type, &b.data_type) {
        (DataType::Date32, t @ DataType::Timestamp(..))
        | (t @ DataType::Timestamp(..), DataType::Date32) => Some(t.clone()),
        _ => None,
    }
}

/// The type all of `values` meet in (`CASE` results, `COALESCE` arguments).
fn common_of(whole: &Expr, values: &[Typed]) -> Result<DataType, ExprError> {
    let mut acc: Option<Typed> = None;
    for v in values {
        acc = Some(match acc {
            None => v.clone(),
            Some(a) => {
                let t = common_type(&a, v).ok_or_else(|| {
                    type_error(
                        whole,
                        &format!(
                            "its values have no common type: {} and {}",
                            sql_type_name(&a.data_type),
                            sql_type_name(&v.data_type)
                        ),
                    )
                })?;
                let literal = if a.literal.is_some() && v.literal.is_some() {
                    a.literal.clone()
                } else {
                    None
                };
                Typed {
                    value: a.value,
                    data_type: t,
                    literal,
                }
            }
        });
    }
    Ok(acc.map_or(DataType::Null, |t| t.data_type))
}

/// `t` as a value of `to`: a literal re-typed where it is exactly a value of `to`, else a
/// cast.
fn conform(t: Typed, to: &DataType) -> Value {
    if t.data_type == *to {
        return t.value;
    }
    if let Some(value) = &t.literal {
        if value.is_null() {
            return Value::Literal {
                value: Scalar::Null,
                data_type: to.clone(),
            };
        }
        if let Ok(Coerced::Exact(v)) = coerce(value, to) {
            return Value::Literal {
                value: v,
                data_type: to.clone(),
            };
        }
    }
    Value::Cast {
        value: Box::new(t.value),
        to: to.clone(),
    }
}

/// The result type of `op` on two values of `operand`, as Arrow's kernels compute it.
fn arithmetic_type(op: ArithmeticOp, operand: &DataType) -> Result<DataType, ArrowError> {
    let probe = new_null_array(operand, 1);
    Ok(arithmetic(op, &probe, &probe)?.data_type().clone())
}

fn arithmetic(op: ArithmeticOp, l: &ArrayRef, r: &ArrayRef) -> Result<ArrayRef, ArrowError> {
    match op {
        ArithmeticOp::Add => numeric::add(l, r),
        ArithmeticOp::Subtract => numeric::sub(l, r),
        ArithmeticOp::Multiply => numeric::mul(l, r),
        ArithmeticOp::Divide => numeric::div(l, r),
        ArithmeticOp::Modulo => numeric::rem(l, r),
    }
}

const ANSI: CastOptions<'static> = CastOptions {
    safe: false,
    format_options: arrow::util::display::FormatOptions::new(),
};

/// Evaluates `value` over `rows` rows whose columns are `arrays`.
pub(crate) fn evaluate(
    value: &Value,
    arrays: &[ArrayRef],
    rows: usize,
) -> Result<ArrayRef, ArrowError> {
    Ok(match value {
        Value::Column(i) => arrays[*i].clone(),
        Value::Literal { value, data_type } => repeat(&scalar_array(value, data_type)?, rows)?,
        Value::Arithmetic { op, left, right } => {
            let (l, r) = (
                evaluate(left, arrays, rows)?,
                evaluate(right, arrays, rows)?,
            );
            if matches!(op, ArithmeticOp::Divide | ArithmeticOp::Modulo) {
                let zero = cast(&zero_array(), r.data_type())?;
                if cmp::eq(&r, &arrow::array::Scalar::new(zero))?.true_count() > 0 {
                    return Err(ArrowError::DivideByZero);
                }
            }
            arithmetic(*op, &l, &r)?
        }
        Value::Negative(v) => numeric::neg(&evaluate(v, arrays, rows)?)?,
        Value::Compare { op, left, right } => {
            let (l, r) = (
                evaluate(left, arrays, rows)?,
                evaluate(right, arrays, rows)?,
            );
            Arc::new(compare(&l, *op, &r)?)
        }
        Value::And(l, r) | Value::Or(l, r) => {
            let is_and = matches!(value, Value::And(..));
            let left = evaluate(l, arrays, rows)?;
            let left = left.as_boolean();
            // The right side only where the left does not decide.
            let undecided: Vec<u32> = (0..rows)
                .filter(|&i| !left.is_valid(i) || left.value(i) == is_and)
                .map(|i| i as u32)
                .collect();
            let right = if undecided.len() == rows {
                evaluate(r, arrays, rows)?
            } else {
                let sub = evaluate_on(r, arrays, &undecided)?;
                scatter(
                    &sub,
                    &undecided,
                    rows,
                    &(Arc::new(BooleanArray::from(vec![is_and])) as ArrayRef),
                )?
            };
            let right = right.as_boolean();
            Arc::new(if is_and {
                and_kleene(left, right)?
            } else {
                or_kleene(left, right)?
            })
        }
        Value::Not(v) => Arc::new(not(evaluate(v, arrays, rows)?.as_boolean())?),
        Value::IsNull(v) => Arc::new(is_null(&evaluate(v, arrays, rows)?)?),
        Value::IsNotNull(v) => Arc::new(is_not_null(&evaluate(v, arrays, rows)?)?),
        Value::Case {
            branches,
            otherwise,
        } => case(branches, otherwise, arrays, rows)?,
        Value::Coalesce(parts) => {
            let mut acc: Option<ArrayRef> = None;
            for part in parts {
                let next = evaluate(part, arrays, rows)?;
                acc = Some(match acc {
                    None => next,
                    Some(a) => zip(&is_not_null(&a)?, &a, &next)?,
                });
            }
            acc.ok_or_else(|| ArrowError::InvalidArgumentError("coalesce of nothing".into()))?
        }
        Value::NullIf(a, b) => {
            let (a, b) = (evaluate(a, arrays, rows)?, evaluate(b, arrays, rows)?);
            nullif(&a, &definitely_true(&cmp::eq(&a, &b)?))?
        }
        Value::Cast { value, to } => cast_value(&evaluate(value, arrays, rows)?, to)?,
        Value::Text(function, v) => {
            let array = evaluate(v, arrays, rows)?;
            let strings = array.as_string::<i32>();
            let out: StringArray = strings
                .iter()
                .map(|s| {
                    s.map(|s| match function {
                        TextFn::Lower => s.to_lowercase(),
                        TextFn::Upper => s.to_uppercase(),
                        TextFn::Trim => s.trim_matches(' ').to_string(),
                        TextFn::LTrim => s.trim_start_matches(' ').to_string(),
                        TextFn::RTrim => s.trim_end_matches(' ').to_string(),
                    })
                })
                .collect();
            Arc::new(out)
        }
        Value::Length(v) => {
            let array = evaluate(v, arrays, rows)?;
            let out: Int32Array = array
                .as_string::<i32>()
                .iter()
                .map(|s| s.map(|s| i32::try_from(s.chars().count()).unwrap_or(i32::MAX)))
                .collect();
            Arc::new(out)
        }
        Value::Substring { value, pos, len } => {
            let array = evaluate(value, arrays, rows)?;
            let out: StringArray = array
                .as_string::<i32>()
                .iter()
                .map(|s| s.map(|s| substring_sql(s, *pos, *len)))
                .collect();
            Arc::new(out)
        }
        Value::Concat(parts) => {
            let mut acc: Option<ArrayRef> = None;
            for part in parts {
                let next = evaluate(part, arrays, rows)?;
                acc = Some(match acc {
                    None => next,
                    Some(a) => Arc::new(
                        arrow::compute::kernels::concat_elements::concat_elements_utf8(
                            a.as_string::<i32>(),
                            next.as_string::<i32>(),
                        )?,
                    ),
                });
            }
            acc.ok_or_else(|| ArrowError::InvalidArgumentError("concat of nothing".into()))?
        }
        Value::DatePart(field, v) => date_part(*field, &evaluate(v, arrays, rows)?)?,
        Value::Abs(v) => {
            let array = evaluate(v, arrays, rows)?;
            let zero = cast(&zero_array(), array.data_type())?;
            let negative = cmp::lt(&array, &arrow::array::Scalar::new(zero))?;
            if negative.true_count() == 0 {
                array
            } else {
                zip(&negative, &numeric::neg(&array)?, &array)?
            }
        }
    })
}

/// `CAST`, ANSI. A UTC (or naive) timestamp cast to a date is the floor of its days since the
/// epoch, computed in one vectorized pass rather than through a calendar per value.
fn cast_value(array: &ArrayRef, to: &DataType) -> Result<ArrayRef, ArrowError> {
    if let (DataType::Timestamp(unit, zone), DataType::Date32) = (array.data_type(), to)
        && zone
            .as_deref()
            .is_none_or(|z| matches!(z, "UTC" | "+00:00" | "Z"))
    {
        use arrow::datatypes::TimeUnit;
        let per_day: i64 = match unit {
            TimeUnit::Second => 86_400,
            TimeUnit::Millisecond => 86_400_000,
            TimeUnit::Microsecond => 86_400_000_000,
            TimeUnit::Nanosecond => 86_400_000_000_000,
        };
        let ticks = arrow::array::Int64Array::from(
            array
                .to_data()
                .into_builder()
                .data_type(DataType::Int64)
                .build()?,
        );
        // Days of an i64 timestamp always fit an i32 (±25 million years at most).
        let days: arrow::array::Date32Array =
            arrow::compute::kernels::arity::unary(&ticks, |t| t.div_euclid(per_day) as i32);
        return Ok(Arc::new(days));
    }
    cast_with_options(array, to, &ANSI)
}

/// A calendar field of dates or timestamps. Timestamps are UTC instants: their zone label is
/// dropped so the fields are UTC's (no time zone database needed).
fn date_part(field: DateField, array: &ArrayRef) -> Result<ArrayRef, ArrowError> {
    use arrow::compute::kernels::temporal::{DatePart, date_part as part};
    let naive = match array.data_type() {
        DataType::Timestamp(unit, Some(_)) => arrow::array::make_array(
            array
                .to_data()
                .into_builder()
                .data_type(DataType::Timestamp(*unit, None))
                .build()?,
        ),
        _ => array.clone(),
    };
    let which = match field {
        DateField::Year => DatePart::Year,
        DateField::Month => DatePart::Month,
        DateField::Day => DatePart::Day,
        DateField::Hour => DatePart::Hour,
    };
    part(&naive, which)
}

/// `CASE`: each branch's condition is evaluated on the rows no earlier branch took, and its
/// result on the rows it takes.
fn case(
    branches: &[(Value, Value)],
    otherwise: &Value,
    arrays: &[ArrayRef],
    rows: usize,
) -> Result<ArrayRef, ArrowError> {
    let mut remaining: Vec<u32> = (0..rows as u32).collect();
    let mut parts: Vec<ArrayRef> = Vec::new();
    let mut source: Vec<(usize, usize)> = vec![(0, 0); rows];
    for (condition, result) in branches {
        if remaining.is_empty() {
            break;
        }
        let holds = evaluate_on(condition, arrays, &remaining)?;
        let holds = definitely_true(holds.as_boolean());
        let (taken, rest) = split_rows(&remaining, &holds);
        if taken.is_empty() {
            continue;
        }
        let values = evaluate_on(result, arrays, &taken)?;
        for (k, row) in taken.iter().enumerate() {
            source[*row as usize] = (parts.len(), k);
        }
        parts.push(values);
        remaining = rest;
    }
    if !remaining.is_empty() || parts.is_empty() {
        let values = evaluate_on(otherwise, arrays, &remaining)?;
        for (k, row) in remaining.iter().enumerate() {
            source[*row as usize] = (parts.len(), k);
        }
        parts.push(values);
    }
    if rows == 0 {
        return Ok(parts.swap_remove(0));
    }
    let refs: Vec<&dyn Array> = parts.iter().map(|p| p.as_ref()).collect();
    interleave(&refs, &source)
}

/// `value` evaluated on the rows `indices` only.
fn evaluate_on(
    value: &Value,
    arrays: &[ArrayRef],
    indices: &[u32],
) -> Result<ArrayRef, ArrowError> {
    let take_indices = UInt32Array::from(indices.to_vec());
    let sub = arrays
        .iter()
        .map(|a| take(a.as_ref(), &take_indices, None))
        .collect::<Result<Vec<_>, _>>()?;
    evaluate(value, &sub, indices.len())
}

/// `sub` (one value per row of `indices`) spread over `rows` rows, `fill` (one value) elsewhere.
fn scatter(
    sub: &ArrayRef,
    indices: &[u32],
    rows: usize,
    fill: &ArrayRef,
) -> Result<ArrayRef, ArrowError> {
    let mut source = vec![(1usize, 0usize); rows];
    for (k, row) in indices.iter().enumerate() {
        source[*row as usize] = (0, k);
    }
    interleave(&[sub.as_ref(), fill.as_ref()], &source)
}

fn zero_array() -> ArrayRef {
    Arc::new(Int32Array::from(vec![0]))
}

/// `rows` split by `holds` (one value per row, nulls as false): those it holds for, and the
/// rest, each in order.
pub(crate) fn split_rows(rows: &[u32], holds: &BooleanArray) -> (Vec<u32>, Vec<u32>) {
    let (mut taken, mut rest) = (Vec::new(), Vec::new());
    for (k, row) in rows.iter().enumerate() {
        if holds.is_valid(k) && holds.value(k) {
            taken.push(*row);
        } else {
            rest.push(*row);
        }
    }
    (taken, rest)
}

/// True where `mask` is true; false where it is false or null.
pub(crate) fn definitely_true(mask: &BooleanArray) -> BooleanArray {
    match mask.nulls() {
        Some(nulls) => BooleanArray::new(mask.values() & nulls.inner(), None),
        None => mask.clone(),
    }
}

/// A one-value array repeated `rows` times.
fn repeat(one: &ArrayRef, rows: usize) -> Result<ArrayRef, ArrowError> {
    if rows == 0 {
        return Ok(new_empty_array(one.data_type()));
    }
    if one.is_null(0) {
        return Ok(new_null_array(one.data_type(), rows));
    }
    take(one.as_ref(), &UInt32Array::from(vec![0u32; rows]), None)
}

/// Spark SQL's `substring(s, pos, len)`: characters from 1-based `pos` (0 is 1, negative counts
/// from the end), `len` of them (all when absent; none when negative).
fn substring_sql(s: &str, pos: i64, len: Option<i64>) -> String {
    let chars: Vec<char> = s.chars().collect();
    let n = chars.len() as i64;
    let start = match pos {
        p if p > 0 => p - 1,
        p if p < 0 => n + p,
        _ => 0,
    };
    let end = match len {
        Some(l) => start.saturating_add(l),
        None => n,
    };
    let (start, end) = (start.max(0), end.min(n));
    if start >= end {
        return String::new();
    }
    chars[start as usize..end as usize].iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Decimal128Array, Float32Array, Int64Array};
    use arrow::datatypes::Field;
    use arrow::util::display::ArrayFormatter;

    fn batch() -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int32, true),
            Field::new("b", DataType::Int64, true),
            Field::new("s", DataType::Utf8, true),
            Field::new("f", DataType::Float32, true),
            Field::new("d", DataType::Decimal128(10, 2), true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int32Array::from(vec![Some(1), Some(-4), None, Some(10)])),
                Arc::new(Int64Array::from(vec![Some(2), Some(0), Some(5), None])),
                Arc::new(StringArray::from(vec![
                    Some("  Porto "),
                    Some("ÉVORA"),
                    None,
                    Some("x"),
                ])),
                Arc::new(Float32Array::from(vec![
                    Some(1.5),
                    None,
                    Some(-2.0),
                    Some(0.0),
                ])),
                Arc::new(
                    Decimal128Array::from(vec![Some(150), Some(-1), None, Some(99_999)])
                        .with_precision_and_scale(10, 2)
                        .unwrap(),
                ),
            ],
        )
        .unwrap()
    }

    fn eval(text: &str) -> (DataType, Vec<String>) {
        let batch = batch();
        let bound = BoundValue::bind(&Expr::parse(text).unwrap(), &batch.schema())
            .unwrap_or_else(|e| panic!("{text}: {e}"));
        let array = bound
            .evaluate(&batch)
            .unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(array.data_type(), bound.data_type(), "{text}");
        let options = arrow::util::display::FormatOptions::default().with_null("∅");
        let formatter = ArrayFormatter::try_new(array.as_ref(), &options).unwrap();
        let cells = (0..array.len())
            .map(|i| formatter.value(i).to_string())
            .collect();
        (array.data_type().clone(), cells)
    }

    fn cells(text: &str) -> Vec<String> {
        eval(text).1
    }

    #[test]
    fn arithmetic_promotes_and_keeps_nulls() {
        assert_eq!(
            eval("a + 1"),
            (
                DataType::Int32,
                vec!["2", "-3", "∅", "11"]
                    .into_iter()
                    .map(String::from)
                    .collect()
            )
        );
        assert_eq!(eval("a + b").0, DataType::Int64);
        assert_eq!(cells("a * b - 1"), ["1", "-1", "∅", "∅"]);
        assert_eq!(
            eval("a / 2"),
            (
                DataType::Float64,
                vec!["0.5", "-2.0", "∅", "5.0"]
                    .into_iter()
                    .map(String::from)
                    .collect()
            )
        );
        assert_eq!(cells("a % 3"), ["1", "-1", "∅", "1"]);
        assert_eq!(cells("-a"), ["-1", "4", "∅", "-10"]);
        assert_eq!(cells("f * 2"), ["3.0", "∅", "-4.0", "0.0"]);
        assert_eq!(eval("d + 1").0, DataType::Decimal128(11, 2));
        assert_eq!(cells("d + 1"), ["2.50", "0.99", "∅", "1000.99"]);
        assert_eq!(cells("abs(a)"), ["1", "4", "∅", "10"]);
        assert_eq!(eval("a + 1.5").0, DataType::Decimal128(12, 1));
    }

    #[test]
    fn ansi_errors_instead_of_wrong_values() {
        let batch = batch();
        for text in [
            "a / b",
            "a % b",
            "CAST(s AS INT)",
            "b * 9223372036854775807",
        ] {
            let bound = BoundValue::bind(&Expr::parse(text).unwrap(), &batch.schema()).unwrap();
            let err = bound.evaluate(&batch).unwrap_err();
            assert!(
                err.to_string().contains(text.split(' ').next().unwrap()),
                "{text}: {err}"
            );
        }
        // Guarded: the division runs only on rows the CASE sends to it.
        assert_eq!(
            cells("CASE WHEN b = 0 OR b IS NULL THEN 0 ELSE a / b END"),
            ["0.5", "0.0", "∅", "0.0"]
        );
        assert_eq!(cells("b <> 0 AND a / b > 0"), ["true", "false", "∅", "∅"]);
    }

    #[test]
    fn strings_case_coalesce_and_casts() {
        assert_eq!(cells("upper(trim(s))"), ["PORTO", "ÉVORA", "∅", "X"]);
        assert_eq!(cells("lower(s)"), ["  porto ", "évora", "∅", "x"]);
        assert_eq!(cells("length(s)"), ["8", "5", "∅", "1"]);
        assert_eq!(cells("substring(s, 3, 3)"), ["Por", "ORA", "∅", ""]);
        assert_eq!(cells("substr(s, -2)"), ["o ", "RA", "∅", "x"]);
        assert_eq!(
            cells("s || '-' || a"),
            ["  Porto -1", "ÉVORA--4", "∅", "x-10"]
        );
        assert_eq!(cells("concat('n', b)"), ["n2", "n0", "n5", "∅"]);
        assert_eq!(cells("coalesce(a, b, 0)"), ["1", "-4", "5", "10"]);
        assert_eq!(eval("coalesce(a, b, 0)").0, DataType::Int64);
        assert_eq!(cells("nullif(b, 0)"), ["2", "∅", "5", "∅"]);
        assert_eq!(
            cells("CASE WHEN a > 5 THEN 'big' WHEN a > 0 THEN 'small' END"),
            ["small", "∅", "∅", "big"]
        );
        assert_eq!(
            cells("CASE b WHEN 2 THEN 'two' ELSE 'other' END"),
            ["two", "other", "other", "other"]
        );
        assert_eq!(cells("CAST(a AS STRING)"), ["1", "-4", "∅", "10"]);
        assert_eq!(cells("CAST('2026-12-07' AS DATE)"), ["2026-12-07"; 4]);
        assert_eq!(cells("a IN (1, 10)"), ["true", "false", "∅", "true"]);
        assert_eq!(cells("a NOT IN (1, NULL)"), ["false", "∅", "∅", "∅"]);
        assert_eq!(cells("a BETWEEN 0 AND 5"), ["true", "false", "∅", "false"]);
    }

    #[test]
    fn type_errors_name_the_expression() {
        let schema = batch().schema();
        for text in [
            "s + 1",
            "lower(s, s)",
            "CASE WHEN a > 1 THEN 'x' ELSE 2 END",
            "a = 'x'",
            "CAST(d AS DATE)",
            "substring(s, a)",
            "nope + 1",
        ] {
            let err = BoundValue::bind(&Expr::parse(text).unwrap(), &schema).unwrap_err();
            assert!(
                matches!(
                    err,
                    ExprError::Type { .. } | ExprError::UnknownColumn { .. }
                ),
                "{text}: {err}"
            );
        }
    }

    #[test]
    fn substring_follows_spark() {
        assert_eq!(substring_sql("abcdef", 0, Some(2)), "ab");
        assert_eq!(substring_sql("abcdef", 2, None), "bcdef");
        assert_eq!(substring_sql("abcdef", -3, Some(2)), "de");
        assert_eq!(substring_sql("abcdef", -10, Some(5)), "a");
        assert_eq!(substring_sql("abcdef", -10, Some(3)), "");
        assert_eq!(substring_sql("abcdef", 5, Some(10)), "ef");
        assert_eq!(substring_sql("abcdef", 2, Some(-1)), "");
    }
}

#[cfg(test)]
mod date_tests {
    use super::*;
    use arrow::array::{Date32Array, TimestampMicrosecondArray};
    use arrow::datatypes::{Field, Schema, TimeUnit};

    fn evaluate_on(expr: &str, ts: Vec<Option<i64>>) -> ArrayRef {
        let array = TimestampMicrosecondArray::from(ts).with_timezone("UTC");
        let schema = Schema::new(vec![Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        )]);
        let batch = RecordBatch::try_new(Arc::new(schema.clone()), vec![Arc::new(array)]).unwrap();
        let bound = BoundValue::bind(&Expr::parse(expr).unwrap(), &schema).unwrap();
        bound.evaluate(&batch).unwrap()
    }

    #[test]
    fn timestamps_cast_to_their_utc_day_before_and_after_the_epoch() {
        const DAY: i64 = 86_400_000_000;
        let ts = vec![
            Some(0),
            Some(DAY - 1),
            Some(-1),
            Some(-DAY),
            None,
            Some(20_000 * DAY + 5),
        ];
        let expected = Date32Array::from(vec![
            Some(0),
            Some(0),
            Some(-1),
            Some(-1),
            None,
            Some(20_000),
        ]);
        for expr in ["CAST(ts AS DATE)", "to_date(ts)"] {
            let days = evaluate_on(expr, ts.clone());
            assert_eq!(
                days.as_any().downcast_ref::<Date32Array>().unwrap(),
                &expected,
                "{expr}"
            );
        }
        let years = evaluate_on("year(ts)", vec![Some(-1), Some(0), None]);
        assert_eq!(
            years
                .as_any()
                .downcast_ref::<arrow::array::Int32Array>()
                .unwrap(),
            &arrow::array::Int32Array::from(vec![Some(1969), Some(1970), None])
        );
        let hours = evaluate_on("hour(ts)", vec![Some(3 * 3_600_000_000 + 7)]);
        assert_eq!(
            hours
                .as_any()
                .downcast_ref::<arrow::array::Int32Array>()
                .unwrap()
                .value(0),
            3
        );
    }
}
