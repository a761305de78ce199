//! Predicates bound to a table schema (`protocol/PROTOCOL.md#predicates`).
//!
//! Binding turns a user's [`Expr`] into a [`Predicate`]: columns are resolved (exact name
//! first, then a unique case-insensitive match, as Delta column names are case-insensitive),
//! each literal is coerced to the type of the column it is compared with, and `NOT` is pushed
//! down to the leaves. Pushing `NOT` is exact under SQL's three-valued logic (De Morgan holds,
//! `NOT (a < b)` is `a >= b` for non-null operands and null otherwise), so the bound form has no
//! negation, which is what makes conservative pruning by min/max bounds simple
//! (`skipping.rs`).
//!
//! Rows are filtered with Arrow's comparison and Kleene boolean kernels; a row is kept only
//! where the predicate is true. Floats compare in IEEE total order (`NaN` is greater than every
//! number and equal to itself, as in Spark SQL).

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float64Array,
    Int8Array, Int16Array, Int32Array, Int64Array, RecordBatch, StringArray, StructArray,
    TimestampMicrosecondArray, new_null_array,
};
use arrow::buffer::NullBuffer;
use arrow::compute::kernels::cmp;
use arrow::compute::{and_kleene, cast, is_not_null, is_null, or_kleene};
use arrow::datatypes::{DataType, Schema, TimeUnit};
use arrow::error::ArrowError;

use crate::expr::value::{Residual, Value, bind_condition, is_value_expr};
use crate::expr::{CompareOp, Expr, ExprError, Scalar, column_text};

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

/// A node of a bound, negation-free predicate. Columns are indexes into
/// [`Predicate::columns`].
#[derive(Debug, Clone, PartialEq)]
pub enum Pred {
    /// A constant: `Some(true)`, `Some(false)` or null (`None`).
    Const(Option<bool>),
    /// `column op value`, the value of the column's type and never null.
    Compare {
        /// The column.
        column: usize,
        /// The operator.
        op: CompareOp,
        /// The literal, coerced to the column's type.
        value: Scalar,
    },
    /// `left op right` between two columns of the same type.
    CompareColumns {
        /// Left column.
        left: usize,
        /// The operator.
        op: CompareOp,
        /// Right column.
        right: usize,
    },
    /// `column IS NULL`.
    IsNull(usize),
    /// `column IS NOT NULL`.
    IsNotNull(usize),
    /// All of these.
    And(Vec<Pred>),
    /// Any of these.
    Or(Vec<Pred>),
    /// A condition only rows can decide (`lower(name) = 'x'`, `a + b > 10`), evaluated by
    /// the value engine ([`crate::expr::value`]); it never prunes a file.
    Residual(Box<Residual>),
}

/// A predicate bound to a schema: what scans prune and filter with.
#[derive(Debug, Clone, PartialEq)]
pub struct Predicate {
    expr: Expr,
    root: Pred,
    columns: Vec<BoundColumn>,
}

impl std::fmt::Display for Predicate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.expr)
    }
}

impl Predicate {
    /// Binds `expr` to `schema`.
    ///
    /// # Errors
    /// [`ExprError::UnknownColumn`] naming a column the schema lacks; [`ExprError::Type`] for a
    /// literal that cannot be read as its column's type (e.g. `id = 'x'` on a long column), a
    /// comparison between columns of different types, or a non-boolean used as a condition.
    pub fn bind(expr: &Expr, schema: &Schema) -> Result<Predicate, ExprError> {
        let mut binder = Binder {
            schema,
            columns: Vec::new(),
        };
        let root = binder.bind(expr, false)?;
        Ok(Predicate {
            expr: expr.clone(),
            root: simplify(root),
            columns: binder.columns,
        })
    }

    /// The expression this was bound from.
    pub fn expr(&self) -> &Expr {
        &self.expr
    }

    /// The bound, negation-free tree.
    pub fn root(&self) -> &Pred {
        &self.root
    }

    /// The columns the predicate reads.
    pub fn columns(&self) -> &[BoundColumn] {
        &self.columns
    }

    /// The predicate with each column's physical path set by `physical` (for a table with
    /// column mapping, whose statistics and partition values use physical names).
    pub(crate) fn with_physical_paths(
        mut self,
        physical: impl Fn(&[String]) -> Option<Vec<String>>,
    ) -> Predicate {
        for column in &mut self.columns {
            if let Some(path) = physical(&column.path) {
                column.physical_path = path;
            }
        }
        self
    }

    /// Evaluates the predicate on every row of `batch` (which must hold the predicate's
    /// columns by name): true, false or null per row.
    ///
    /// # Errors
    /// A missing column or an Arrow kernel error.
    pub fn evaluate(&self, batch: &RecordBatch) -> Result<BooleanArray, ArrowError> {
        let arrays = self
            .columns
            .iter()
            .map(|c| column_array(batch, c))
            .collect::<Result<Vec<_>, _>>()?;
        evaluate(&self.root, &arrays, batch.num_rows())
    }

    /// The rows of `batch` for which the predicate is true.
    ///
    /// # Errors
    /// As [`Predicate::evaluate`].
    pub fn filter(&self, batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
        if matches!(self.root, Pred::Const(Some(true))) {
            return Ok(batch.clone());
        }
        let mask = self.evaluate(batch)?;
        if mask.true_count() == batch.num_rows() {
            return Ok(batch.clone());
        }
        arrow::compute::filter_record_batch(batch, &mask)
    }
}

struct Binder<'a> {
    schema: &'a Schema,
    columns: Vec<BoundColumn>,
}

/// What a sub-expression is once bound: a column, a literal, or a condition.
enum Operand {
    Column(usize),
    Literal(Scalar),
    Condition(Pred),
}

impl Binder<'_> {
    /// Binds a condition; `negate` pushes a pending `NOT` into it.
    fn bind(&mut self, expr: &Expr, negate: bool) -> Result<Pred, ExprError> {
        Ok(match expr {
            Expr::Not(inner) => self.bind(inner, !negate)?,
            Expr::And(l, r) | Expr::Or(l, r) => {
                let parts = vec![self.bind(l, negate)?, self.bind(r, negate)?];
                if matches!(expr, Expr::And(..)) != negate {
                    Pred::And(parts)
                } else {
                    Pred::Or(parts)
                }
            }
            Expr::Arithmetic { .. }
            | Expr::Negative(_)
            | Expr::Function { .. }
            | Expr::Case { .. }
            | Expr::Cast { .. } => self.residual(expr, negate)?,
            Expr::Compare { op, left, right } => {
                let op = if negate { op.negate() } else { *op };
                self.compare(expr, op, left, right)?
            }
            Expr::IsNull(inner) | Expr::IsNotNull(inner) if is_value_expr(inner) => {
                self.residual(expr, negate)?
            }
            Expr::IsNull(inner) | Expr::IsNotNull(inner) => {
                let wants_null = matches!(expr, Expr::IsNull(_)) != negate;
                match self.operand(inner)? {
                    Operand::Column(c) if wants_null => Pred::IsNull(c),
                    Operand::Column(c) => Pred::IsNotNull(c),
                    Operand::Literal(s) => Pred::Const(Some(s.is_null() == wants_null)),
                    Operand::Condition(_) => {
                        return Err(type_error(expr, "IS NULL applies to a column or literal"));
                    }
                }
            }
            Expr::In {
                expr: item,
                list,
                negated,
            } => {
                // x IN (a, b) is x = a OR x = b; NOT IN is x <> a AND x <> b.
                let not_in = *negated != negate;
                let op = if not_in {
                    CompareOp::NotEq
                } else {
                    CompareOp::Eq
                };
                let parts = list
                    .iter()
                    .map(|value| self.compare(expr, op, item, value))
                    .collect::<Result<Vec<_>, _>>()?;
                if not_in {
                    Pred::And(parts)
                } else {
                    Pred::Or(parts)
                }
            }
            Expr::Between {
                expr: item,
                low,
                high,
                negated,
            } => {
                let outside = *negated != negate;
                if outside {
                    Pred::Or(vec![
                        self.compare(expr, CompareOp::Lt, item, low)?,
                        self.compare(expr, CompareOp::Gt, item, high)?,
                    ])
                } else {
                    Pred::And(vec![
                        self.compare(expr, CompareOp::GtEq, item, low)?,
                        self.compare(expr, CompareOp::LtEq, item, high)?,
                    ])
                }
            }
            Expr::Column(_) | Expr::Literal(_) => match self.operand(expr)? {
                Operand::Column(c) => {
                    if self.columns[c].data_type != DataType::Boolean {
                        return Err(type_error(
                            expr,
                            "a non-boolean column is not a condition; compare it with a value",
                        ));
                    }
                    Pred::Compare {
                        column: c,
                        op: CompareOp::Eq,
                        value: Scalar::Boolean(!negate),
                    }
                }
                Operand::Literal(Scalar::Null) => Pred::Const(None),
                Operand::Literal(Scalar::Boolean(b)) => Pred::Const(Some(b != negate)),
                Operand::Literal(other) => {
                    return Err(type_error(expr, &format!("{other} is not a condition")));
                }
                Operand::Condition(p) => p,
            },
        })
    }

    fn operand(&mut self, expr: &Expr) -> Result<Operand, ExprError> {
        Ok(match expr {
            Expr::Column(path) => Operand::Column(self.column(path)?),
            Expr::Literal(s) => Operand::Literal(s.clone()),
            other => Operand::Condition(self.bind(other, false)?),
        })
    }

    fn column(&mut self, path: &[String]) -> Result<usize, ExprError> {
        let column = resolve_column(self.schema, path)?;
        Ok(register_column(&mut self.columns, column))
    }

    /// A condition the value engine evaluates per row; `negate` wraps it in `NOT`.
    fn residual(&mut self, expr: &Expr, negate: bool) -> Result<Pred, ExprError> {
        let Residual(value) = bind_condition(expr, self.schema, &mut self.columns)?;
        Ok(Pred::Residual(Box::new(Residual(if negate {
            Value::Not(Box::new(value))
        } else {
            value
        }))))
    }

    fn compare(
        &mut self,
        whole: &Expr,
        op: CompareOp,
        left: &Expr,
        right: &Expr,
    ) -> Result<Pred, ExprError> {
        if is_value_expr(left) || is_value_expr(right) {
            let compare = Expr::Compare {
                op,
                left: Box::new(left.clone()),
                right: Box::new(right.clone()),
            };
            return self.residual(&compare, false);
        }
        let (l, r) = (self.operand(left)?, self.operand(right)?);
        match (l, r) {
            (Operand::Column(c), Operand::Literal(v)) => self.column_vs_literal(whole, c, op, v),
            (Operand::Literal(v), Operand::Column(c)) => {
                self.column_vs_literal(whole, c, op.flip(), v)
            }
            (Operand::Column(a), Operand::Column(b)) => {
                let (ta, tb) = (&self.columns[a].data_type, &self.columns[b].data_type);
                if ta != tb {
                    return Err(type_error(
                        whole,
                        &format!("cannot compare a {ta} column with a {tb} column"),
                    ));
                }
                check_comparable(whole, ta)?;
                Ok(Pred::CompareColumns {
                    left: a,
                    op,
                    right: b,
                })
            }
            (Operand::Literal(a), Operand::Literal(b)) => {
                Ok(Pred::Const(compare_literals(whole, op, &a, &b)?))
            }
            _ => Err(type_error(
                whole,
                "comparisons take columns and literals, not conditions",
            )),
        }
    }

    fn column_vs_literal(
        &self,
        whole: &Expr,
        column: usize,
        op: CompareOp,
        value: Scalar,
    ) -> Result<Pred, ExprError> {
        let data_type = &self.columns[column].data_type;
        check_comparable(whole, data_type)?;
        if value.is_null() {
            return Ok(Pred::Const(None));
        }
        let cannot = |reason: String| type_error(whole, &reason);
        Ok(match coerce(&value, data_type).map_err(cannot)? {
            Coerced::Exact(value) => Pred::Compare { column, op, value },
            Coerced::Between(below) => between_grid(column, op, below),
            Coerced::AboveAll => beyond(column, op, true),
            Coerced::BelowAll => beyond(column, op, false),
        })
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

fn type_error(expr: &Expr, reason: &str) -> ExprError {
    ExprError::Type {
        expr: expr.to_string(),
        reason: reason.to_string(),
    }
}

fn check_comparable(whole: &Expr, data_type: &DataType) -> Result<(), ExprError> {
    if matches!(
        data_type,
        DataType::Struct(_) | DataType::List(_) | DataType::LargeList(_) | DataType::Map(..)
    ) {
        return Err(type_error(
            whole,
            &format!("a {data_type} column cannot be compared; compare one of its fields"),
        ));
    }
    Ok(())
}

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

/// `column op v` where `v` lies strictly between `below` and the next value of the type.
fn between_grid(column: usize, op: CompareOp, below: Scalar) -> Pred {
    match op {
        // No value equals v: the comparison is false (or null on a null row, which filters
        // the same way in a negation-free predicate).
        CompareOp::Eq => Pred::Const(Some(false)),
        CompareOp::NotEq => Pred::IsNotNull(column),
        CompareOp::Lt | CompareOp::LtEq => Pred::Compare {
            column,
            op: CompareOp::LtEq,
            value: below,
        },
        CompareOp::Gt | CompareOp::GtEq => Pred::Compare {
            column,
            op: CompareOp::Gt,
            value: below,
        },
    }
}

/// `column op v` where `v` is above (or below) every value of the column's type.
fn beyond(column: usize, op: CompareOp, above: bool) -> Pred {
    let true_for_non_null = match op {
        CompareOp::Eq => false,
        CompareOp::NotEq => true,
        CompareOp::Lt | CompareOp::LtEq => above,
        CompareOp::Gt | CompareOp::GtEq => !above,
    };
    if true_for_non_null {
        Pred::IsNotNull(column)
    } else {
        Pred::Const(Some(false))
    }
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

fn compare_literals(
    whole: &Expr,
    op: CompareOp,
    a: &Scalar,
    b: &Scalar,
) -> Result<Option<bool>, ExprError> {
    if a.is_null() || b.is_null() {
        return Ok(None);
    }
    let ordering = crate::expr::compare_scalars(a, b)
        .ok_or_else(|| type_error(whole, &format!("cannot compare {a} with {b}")))?;
    Ok(Some(crate::expr::op_holds(op, ordering)))
}

/// Folds constants and flattens nested AND/OR.
fn simplify(pred: Pred) -> Pred {
    match pred {
        Pred::And(parts) => {
            let mut out = Vec::new();
            let mut has_null = false;
            for p in parts.into_iter().map(simplify) {
                match p {
                    Pred::Const(Some(false)) => return Pred::Const(Some(false)),
                    Pred::Const(Some(true)) => {}
                    Pred::Const(None) => has_null = true,
                    Pred::And(inner) => out.extend(inner),
                    other => out.push(other),
                }
            }
            match (out.len(), has_null) {
                (_, true) if out.is_empty() => Pred::Const(None),
                (0, false) => Pred::Const(Some(true)),
                (1, false) => out.pop().unwrap_or(Pred::Const(Some(true))),
                (_, true) => {
                    out.push(Pred::Const(None));
                    Pred::And(out)
                }
                _ => Pred::And(out),
            }
        }
        Pred::Or(parts) => {
            let mut out = Vec::new();
            let mut has_null = false;
            for p in parts.into_iter().map(simplify) {
                match p {
                    Pred::Const(Some(true)) => return Pred::Const(Some(true)),
                    Pred::Const(Some(false)) => {}
                    Pred::Const(None) => has_null = true,
                    Pred::Or(inner) => out.extend(inner),
                    other => out.push(other),
                }
            }
            match (out.len(), has_null) {
                (0, true) => Pred::Const(None),
                (0, false) => Pred::Const(Some(false)),
                (1, false) => out.pop().unwrap_or(Pred::Const(Some(false))),
                (_, true) => {
                    out.push(Pred::Const(None));
                    Pred::Or(out)
                }
                _ => Pred::Or(out),
            }
        }
        other => other,
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

fn evaluate(pred: &Pred, arrays: &[ArrayRef], rows: usize) -> Result<BooleanArray, ArrowError> {
    Ok(match pred {
        Pred::Const(value) => BooleanArray::from(vec![*value; rows]),
        Pred::Compare { column, op, value } => {
            let array = &arrays[*column];
            let scalar = scalar_array(value, array.data_type())?;
            compare(&array, *op, &arrow::array::Scalar::new(scalar))?
        }
        Pred::CompareColumns { left, op, right } => compare(&arrays[*left], *op, &arrays[*right])?,
        Pred::IsNull(c) => is_null(&arrays[*c])?,
        Pred::IsNotNull(c) => is_not_null(&arrays[*c])?,
        Pred::And(parts) => fold(parts, arrays, rows, and_kleene)?,
        Pred::Or(parts) => fold(parts, arrays, rows, or_kleene)?,
        Pred::Residual(value) => {
            let result = crate::expr::value::evaluate(&value.0, arrays, rows)?;
            match result.data_type() {
                DataType::Null => BooleanArray::from(vec![None; rows]),
                _ => arrow::array::AsArray::as_boolean(&result).clone(),
            }
        }
    })
}

fn fold(
    parts: &[Pred],
    arrays: &[ArrayRef],
    rows: usize,
    combine: fn(&BooleanArray, &BooleanArray) -> Result<BooleanArray, ArrowError>,
) -> Result<BooleanArray, ArrowError> {
    let mut acc: Option<BooleanArray> = None;
    for part in parts {
        let next = evaluate(part, arrays, rows)?;
        acc = Some(match acc {
            Some(a) => combine(&a, &next)?,
            None => next,
        });
    }
    Ok(acc.unwrap_or_else(|| BooleanArray::from(vec![true; rows])))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::{col, lit};
    use arrow::datatypes::Field;

    fn schema() -> Schema {
        Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("small", DataType::Int8, true),
            Field::new("amount", DataType::Decimal128(10, 2), true),
            Field::new("name", DataType::Utf8, true),
            Field::new("flag", DataType::Boolean, true),
            Field::new(
                "s",
                DataType::Struct(vec![Field::new("city", DataType::Utf8, true)].into()),
                true,
            ),
        ])
    }

    fn bind(text: &str) -> Result<Predicate, ExprError> {
        Predicate::bind(&Expr::parse(text)?, &schema())
    }

    #[test]
    fn not_is_pushed_to_the_leaves() {
        let p = bind("NOT (id < 5 OR name IS NULL)").unwrap();
        assert_eq!(
            p.root(),
            &Pred::And(vec![
                Pred::Compare {
                    column: 0,
                    op: CompareOp::GtEq,
                    value: Scalar::Int(5)
                },
                Pred::IsNotNull(1),
            ])
        );
        let p = bind("NOT id NOT IN (1, 2)").unwrap();
        assert!(matches!(p.root(), Pred::Or(parts) if parts.len() == 2));
        assert_eq!(
            bind("NOT flag").unwrap().root(),
            &Pred::Compare {
                column: 0,
                op: CompareOp::Eq,
                value: Scalar::Boolean(false)
            }
        );
    }

    #[test]
    fn literals_take_the_column_type() {
        let p = bind("amount >= 12.5").unwrap();
        assert_eq!(
            p.root(),
            &Pred::Compare {
                column: 0,
                op: CompareOp::GtEq,
                value: Scalar::decimal(1250, 2)
            }
        );
        // 2.5 on a long column: id > 2.5 is id > 2; id = 2.5 is never true.
        assert_eq!(
            bind("id >= 2.5").unwrap().root(),
            &Pred::Compare {
                column: 0,
                op: CompareOp::Gt,
                value: Scalar::Int(2)
            }
        );
        assert_eq!(bind("id = 2.5").unwrap().root(), &Pred::Const(Some(false)));
        assert_eq!(bind("small < 1000").unwrap().root(), &Pred::IsNotNull(0));
        assert_eq!(
            bind("small = 1000").unwrap().root(),
            &Pred::Const(Some(false))
        );
        assert_eq!(bind("id = NULL").unwrap().root(), &Pred::Const(None));
        assert_eq!(
            bind("1 < 2 AND id > 0").unwrap().root(),
            &Pred::Compare {
                column: 0,
                op: CompareOp::Gt,
                value: Scalar::Int(0)
            }
        );
    }

    #[test]
    fn bad_predicates_are_typed_errors_naming_the_problem() {
        let err = bind("idd > 1").unwrap_err();
        assert!(
            matches!(&err, ExprError::UnknownColumn { column, .. } if column == "idd"),
            "{err}"
        );
        assert!(err.to_string().contains("id, small"), "{err}");
        let err = bind("id = 'x'").unwrap_err();
        assert!(matches!(err, ExprError::Type { .. }), "{err}");
        assert!(err.to_string().contains("id = 'x'"), "{err}");
        assert!(matches!(bind("name"), Err(ExprError::Type { .. })));
        assert!(matches!(bind("id = name"), Err(ExprError::Type { .. })));
        assert!(matches!(bind("s = 'x'"), Err(ExprError::Type { .. })));
        assert!(
            bind("S.CITY = 'Porto'").is_ok(),
            "case-insensitive resolution"
        );
    }

    #[test]
    fn rows_follow_sql_null_semantics() {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, true)]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int64Array::from(vec![Some(1), None, Some(7)]))],
        )
        .unwrap();
        let rows = |text: &str| {
            let p = Predicate::bind(&Expr::parse(text).unwrap(), &schema).unwrap();
            let out = p.filter(&batch).unwrap();
            let ids = out.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
            ids.iter().collect::<Vec<_>>()
        };
        assert_eq!(rows("x > 5"), vec![Some(7)]);
        assert_eq!(rows("NOT (x > 5)"), vec![Some(1)]);
        assert_eq!(rows("x IS NULL"), vec![None]);
        assert_eq!(rows("x NOT IN (1, NULL)"), Vec::<Option<i64>>::new());
        assert_eq!(rows("x IN (1, NULL)"), vec![Some(1)]);
        assert_eq!(rows("NOT (x = 1 AND NULL)"), vec![Some(7)]);
        assert_eq!(rows("x BETWEEN 1 AND 6 OR x IS NULL"), vec![Some(1), None]);
        let p = Predicate::bind(&col("x").gt(lit(0)), &schema).unwrap();
        assert_eq!(p.filter(&batch).unwrap().num_rows(), 2);
    }

    #[test]
    fn struct_fields_are_null_where_the_struct_is() {
        let city = Field::new("city", DataType::Utf8, true);
        let s = StructArray::new(
            vec![city.clone()].into(),
            vec![Arc::new(StringArray::from(vec![
                Some("Porto"),
                Some("Porto"),
            ]))],
            Some(NullBuffer::from(vec![true, false])),
        );
        let schema = Arc::new(Schema::new(vec![Field::new(
            "s",
            DataType::Struct(vec![city].into()),
            true,
        )]));
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(s)]).unwrap();
        let p = Predicate::bind(&col("s.city").eq(lit("Porto")), &schema).unwrap();
        assert_eq!(p.filter(&batch).unwrap().num_rows(), 1);
        let p = Predicate::bind(&col("s.city").is_null(), &schema).unwrap();
        assert_eq!(p.filter(&batch).unwrap().num_rows(), 1);
    }
}
