//! DataFusion filters as strata predicates (`protocol/PROTOCOL.md#predicates`), for pushdown.
//!
//! Only constructs whose meaning is the same in both engines are translated: columns,
//! literals, comparisons, `AND`/`OR`/`NOT`, `IS [NOT] NULL`, `[NOT] IN`, `[NOT] BETWEEN`,
//! `+ - * %`, negation and casts. Division is left to DataFusion (strata divides integers as
//! doubles, as Spark does; DataFusion truncates), as is everything else. A filter strata takes
//! prunes files by partition values and statistics, row groups by their footers, and rows as
//! they are decoded; one it does not take is evaluated by DataFusion alone.

use std::sync::Arc;

use arrow::datatypes::{DataType, Schema, TimeUnit};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{BinaryExpr, Expr as DfExpr, Operator};
use strata::{ArithmeticOp, CompareOp, Expr, Predicate, Scalar};

/// `expr` as a strata expression, or `None` when it uses anything strata would evaluate
/// differently or not at all.
pub fn to_strata_expr(expr: &DfExpr) -> Option<Expr> {
    Some(match expr {
        DfExpr::Column(c) => Expr::Column(vec![c.name.clone()]),
        DfExpr::Literal(value, _) => Expr::Literal(scalar(value)?),
        DfExpr::BinaryExpr(BinaryExpr { left, op, right }) => binary(left, *op, right)?,
        DfExpr::Not(e) => Expr::Not(boxed(e)?),
        DfExpr::IsNull(e) => Expr::IsNull(boxed(e)?),
        DfExpr::IsNotNull(e) => Expr::IsNotNull(boxed(e)?),
        DfExpr::Negative(e) => Expr::Negative(boxed(e)?),
        DfExpr::Between(b) => Expr::Between {
            expr: boxed(&b.expr)?,
            low: boxed(&b.low)?,
            high: boxed(&b.high)?,
            negated: b.negated,
        },
        DfExpr::InList(l) => Expr::In {
            expr: boxed(&l.expr)?,
            list: l.list.iter().map(to_strata_expr).collect::<Option<_>>()?,
            negated: l.negated,
        },
        DfExpr::Cast(c) if castable(c.field.data_type()) => Expr::Cast {
            expr: boxed(&c.expr)?,
            to: c.field.data_type().clone(),
        },
        DfExpr::Alias(a) => to_strata_expr(&a.expr)?,
        _ => return None,
    })
}

/// The conjunction of `filters` that strata can evaluate against `schema`, bound; `None`
/// when none can.
pub(crate) fn bind_all(filters: &[DfExpr], schema: &Schema) -> Option<(Expr, Predicate)> {
    let exprs: Vec<Expr> = filters.iter().filter_map(|f| bindable(f, schema)).collect();
    let combined = exprs
        .into_iter()
        .reduce(|a, b| Expr::And(Box::new(a), Box::new(b)))?;
    let predicate = Predicate::bind(&combined, &Arc::new(schema.clone())).ok()?;
    Some((combined, predicate))
}

/// `filter` as a strata expression that binds to `schema` (the columns exist and the types
/// agree), or `None`.
pub(crate) fn bindable(filter: &DfExpr, schema: &Schema) -> Option<Expr> {
    let expr = to_strata_expr(filter)?;
    Predicate::bind(&expr, &Arc::new(schema.clone())).ok()?;
    Some(expr)
}

fn boxed(expr: &DfExpr) -> Option<Box<Expr>> {
    to_strata_expr(expr).map(Box::new)
}

fn binary(left: &DfExpr, op: Operator, right: &DfExpr) -> Option<Expr> {
    let (l, r) = (boxed(left)?, boxed(right)?);
    let compare = |op| Expr::Compare {
        op,
        left: l.clone(),
        right: r.clone(),
    };
    let arithmetic = |op| Expr::Arithmetic {
        op,
        left: l.clone(),
        right: r.clone(),
    };
    Some(match op {
        Operator::Eq => compare(CompareOp::Eq),
        Operator::NotEq => compare(CompareOp::NotEq),
        Operator::Lt => compare(CompareOp::Lt),
        Operator::LtEq => compare(CompareOp::LtEq),
        Operator::Gt => compare(CompareOp::Gt),
        Operator::GtEq => compare(CompareOp::GtEq),
        Operator::And => Expr::And(l, r),
        Operator::Or => Expr::Or(l, r),
        Operator::Plus => arithmetic(ArithmeticOp::Add),
        Operator::Minus => arithmetic(ArithmeticOp::Subtract),
        Operator::Multiply => arithmetic(ArithmeticOp::Multiply),
        Operator::Modulo => arithmetic(ArithmeticOp::Modulo),
        _ => return None,
    })
}

/// Cast targets strata evaluates as DataFusion does: the coercions its planner inserts.
fn castable(to: &DataType) -> bool {
    matches!(
        to,
        DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::Float32
            | DataType::Float64
            | DataType::Date32
            | DataType::Timestamp(TimeUnit::Microsecond, _)
    )
}

/// A DataFusion literal as a strata scalar.
fn scalar(value: &ScalarValue) -> Option<Scalar> {
    Some(match value {
        v if v.is_null() => Scalar::Null,
        ScalarValue::Boolean(Some(b)) => Scalar::Boolean(*b),
        ScalarValue::Int8(Some(v)) => Scalar::Int(i64::from(*v)),
        ScalarValue::Int16(Some(v)) => Scalar::Int(i64::from(*v)),
        ScalarValue::Int32(Some(v)) => Scalar::Int(i64::from(*v)),
        ScalarValue::Int64(Some(v)) => Scalar::Int(*v),
        ScalarValue::UInt8(Some(v)) => Scalar::Int(i64::from(*v)),
        ScalarValue::UInt16(Some(v)) => Scalar::Int(i64::from(*v)),
        ScalarValue::UInt32(Some(v)) => Scalar::Int(i64::from(*v)),
        ScalarValue::UInt64(Some(v)) => Scalar::Int(i64::try_from(*v).ok()?),
        ScalarValue::Float32(Some(v)) => Scalar::Float(f64::from(*v)),
        ScalarValue::Float64(Some(v)) => Scalar::Float(*v),
        ScalarValue::Decimal128(Some(v), _, scale) => Scalar::Decimal {
            unscaled: *v,
            scale: *scale,
        },
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => Scalar::String(s.clone()),
        ScalarValue::Binary(Some(b)) | ScalarValue::LargeBinary(Some(b)) => {
            Scalar::Binary(b.clone())
        }
        ScalarValue::Date32(Some(d)) => Scalar::Date(*d),
        ScalarValue::TimestampSecond(Some(v), tz) => {
            timestamp(v.checked_mul(1_000_000)?, tz.is_some())
        }
        ScalarValue::TimestampMillisecond(Some(v), tz) => {
            timestamp(v.checked_mul(1_000)?, tz.is_some())
        }
        ScalarValue::TimestampMicrosecond(Some(v), tz) => timestamp(*v, tz.is_some()),
        // Nanoseconds that are whole microseconds only: strata's timestamps are microseconds.
        ScalarValue::TimestampNanosecond(Some(v), tz) if v % 1_000 == 0 => {
            timestamp(v / 1_000, tz.is_some())
        }
        _ => return None,
    })
}

fn timestamp(micros: i64, zoned: bool) -> Scalar {
    if zoned {
        Scalar::Timestamp(micros)
    } else {
        Scalar::TimestampNtz(micros)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::Field;
    use datafusion::prelude::{col, lit};

    fn schema() -> Schema {
        Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
        ])
    }

    #[test]
    fn translates_what_means_the_same_in_both_engines() {
        let f = col("id").gt_eq(lit(10_i64)).and(col("name").eq(lit("a")));
        let e = to_strata_expr(&f).unwrap();
        assert_eq!(e, Expr::parse("id >= 10 AND name = 'a'").unwrap());
        assert!(bindable(&f, &schema()).is_some());
        let m = (col("id") % lit(3_i64)).eq(lit(0_i64));
        assert!(bindable(&m, &schema()).is_some());
    }

    #[test]
    fn leaves_division_like_and_unknown_columns_to_datafusion() {
        assert!(to_strata_expr(&(col("id") / lit(2_i64)).gt(lit(1_i64))).is_none());
        assert!(to_strata_expr(&col("name").like(lit("a%"))).is_none());
        assert!(bindable(&col("nope").eq(lit(1_i64)), &schema()).is_none());
        assert!(bindable(&col("name").gt(lit(1_i64)), &schema()).is_none());
    }
}
