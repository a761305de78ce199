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

use arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch};
use arrow::compute::{and_kleene, is_not_null, is_null, or_kleene};
use arrow::datatypes::{DataType, Schema};
use arrow::error::ArrowError;

pub use crate::expr::column::BoundColumn;
use crate::expr::column::{
    Coerced, coerce, column_array, compare, register_column, resolve_column, scalar_array,
};
use crate::expr::value::{Residual, Value, bind_condition, is_value_expr};
use crate::expr::{CompareOp, Expr, ExprError, Scalar};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::{col, lit};
    use arrow::array::{Int64Array, StringArray, StructArray};
    use arrow::buffer::NullBuffer;
    use arrow::datatypes::Field;
    use std::sync::Arc;

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

    /// a int32, b int64, s utf8 (as the value engine's tests).
    fn residual_batch() -> RecordBatch {
        use arrow::array::{Int32Array, Int64Array, StringArray};
        let schema = std::sync::Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int32, true),
            Field::new("b", DataType::Int64, true),
            Field::new("s", DataType::Utf8, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                std::sync::Arc::new(Int32Array::from(vec![Some(1), Some(-4), None, Some(10)])),
                std::sync::Arc::new(Int64Array::from(vec![Some(2), Some(0), Some(5), None])),
                std::sync::Arc::new(StringArray::from(vec![
                    Some("  Porto "),
                    Some("ÉVORA"),
                    None,
                    Some("x"),
                ])),
            ],
        )
        .unwrap()
    }

    #[test]
    fn predicates_evaluate_what_statistics_cannot_decide_per_row() {
        let batch = residual_batch();
        let rows = |text: &str| {
            let p = Predicate::bind(&Expr::parse(text).unwrap(), &batch.schema()).unwrap();
            let mask = p.evaluate(&batch).unwrap();
            (
                p,
                (0..4)
                    .map(|i| mask.is_valid(i).then(|| mask.value(i)))
                    .collect::<Vec<_>>(),
            )
        };
        let (p, mask) = rows("a + 1 > 1 AND b = 2");
        assert!(matches!(p.root(), Pred::And(parts) if matches!(parts[0], Pred::Residual(_))));
        assert_eq!(mask, [Some(true), Some(false), Some(false), None]);
        // NOT is pushed into the residual with SQL's null semantics.
        let (_, mask) = rows("NOT (lower(s) = 'évora')");
        assert_eq!(mask, [Some(true), Some(false), None, Some(true)]);
        let (_, mask) = rows("coalesce(a, 0) IS NULL");
        assert_eq!(mask, [Some(false); 4]);
        assert_eq!(p.columns().len(), 2);
    }
}
