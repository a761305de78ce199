//! `SET column = value` for update and merge (`protocol/PROTOCOL.md#update`): binding an
//! assignment to a target column with Spark's ANSI store-assignment rules, and applying bound
//! assignments to rows.

use arrow::array::{Array, RecordBatch};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType, FieldRef, Schema};

use crate::error::{Error, Result};
use crate::expr::column::{Coerced, coerce};
use crate::expr::value::{BoundValue, sql_type_name};
use crate::expr::{Expr, ExprError};

/// `SET column = value`, bound: the target column and the value over the evaluation schema.
pub(super) struct Assignment {
    pub(super) field: FieldRef,
    pub(super) value: BoundValue,
}

impl Assignment {
    /// `column = value`, as written.
    pub(super) fn text(&self) -> String {
        format!("{} = {}", self.field.name(), self.value)
    }
}

/// The target's top-level field named `column`: exact, else a unique case-insensitive match.
pub(super) fn target_field<'a>(target: &'a Schema, column: &str) -> Option<&'a FieldRef> {
    target
        .fields()
        .iter()
        .find(|f| f.name() == column)
        .or_else(|| {
            let mut matches = target
                .fields()
                .iter()
                .filter(|f| f.name().eq_ignore_ascii_case(column));
            let first = matches.next();
            first.filter(|_| matches.next().is_none())
        })
}

/// Binds `assignments` to columns of `target`, their values over `eval`; the problems found
/// (unknown or repeated columns, values the column cannot store) are pushed to `problems`,
/// each prefixed with `context`.
pub(super) fn bind_assignments(
    target: &Schema,
    eval: &Schema,
    assignments: &[(String, std::result::Result<Expr, ExprError>)],
    context: &str,
    problems: &mut Vec<String>,
) -> Result<Vec<Assignment>> {
    let mut bound: Vec<Assignment> = Vec::new();
    for (column, expr) in assignments {
        let expr = expr.clone()?;
        let Some(field) = target_field(target, column) else {
            problems.push(format!(
                "{context}SET {column}: the table has no column `{column}` (nested fields are assigned as their whole struct)"
            ));
            continue;
        };
        if bound.iter().any(|a| a.field.name() == field.name()) {
            problems.push(format!(
                "{context}SET {column}: the column is assigned twice"
            ));
            continue;
        }
        let value = BoundValue::bind(&expr, eval)?;
        if !assignable(&expr, value.data_type(), field.data_type()) {
            problems.push(format!(
                "{context}SET {column} = {expr}: a {} value cannot be stored in a {} column; CAST it",
                sql_type_name(value.data_type()),
                sql_type_name(field.data_type()),
            ));
            continue;
        }
        bound.push(Assignment {
            field: field.clone(),
            value,
        });
    }
    Ok(bound)
}

/// Whether a value of `from` may be stored in a column of `to` (Spark's ANSI store
/// assignment): the same type, null, a literal that is exactly a value of `to`, a number into
/// a number, an atomic value into a string, a date into a timestamp, a timestamp into a
/// timestamp.
pub(crate) fn assignable(expr: &Expr, from: &DataType, to: &DataType) -> bool {
    let numeric = |t: &DataType| {
        matches!(
            t,
            DataType::Int8
                | DataType::Int16
                | DataType::Int32
                | DataType::Int64
                | DataType::Float16
                | DataType::Float32
                | DataType::Float64
                | DataType::Decimal128(..)
        )
    };
    if from == to || *from == DataType::Null {
        return true;
    }
    if let Expr::Literal(value) = expr
        && let Ok(Coerced::Exact(_)) = coerce(value, to)
    {
        return true;
    }
    match (from, to) {
        (f, t) if numeric(f) && numeric(t) => true,
        (f, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) => !f.is_nested(),
        (DataType::Date32 | DataType::Timestamp(..), DataType::Timestamp(..)) => true,
        _ => false,
    }
}

const ANSI: CastOptions<'static> = CastOptions {
    safe: false,
    format_options: arrow::util::display::FormatOptions::new(),
};

/// A failed assignment: its text and why.
pub(super) struct Failed {
    pub(super) expression: String,
    pub(super) message: String,
}

/// `base` with the assigned columns replaced by the values of `assignments` evaluated on
/// `eval` (one row of `eval` per row of `base`; every value sees the rows as they were).
pub(super) fn apply(
    assignments: &[Assignment],
    eval: &RecordBatch,
    base: &RecordBatch,
) -> std::result::Result<RecordBatch, Failed> {
    let fail = |a: &Assignment, message: String| Failed {
        expression: a.text(),
        message,
    };
    let schema = base.schema();
    let mut columns = base.columns().to_vec();
    for a in assignments {
        let index = schema
            .index_of(a.field.name())
            .map_err(|e| fail(a, e.to_string()))?;
        let target = schema.field(index);
        let value = a.value.evaluate(eval).map_err(|e| fail(a, e.to_string()))?;
        let value = if value.data_type() == target.data_type() {
            value
        } else {
            cast_with_options(&value, target.data_type(), &ANSI)
                .map_err(|e| fail(a, e.to_string()))?
        };
        if !a.field.is_nullable() && value.null_count() > 0 {
            return Err(fail(
                a,
                format!(
                    "null for column `{}`, which is not nullable",
                    a.field.name()
                ),
            ));
        }
        columns[index] = value;
    }
    RecordBatch::try_new(schema, columns).map_err(|e| Failed {
        expression: "the assigned row".into(),
        message: e.to_string(),
    })
}

impl Failed {
    /// As an [`Error::Evaluation`].
    pub(super) fn into_error(self, location: &str, operation: &'static str, file: &str) -> Error {
        Error::Evaluation {
            location: location.to_string(),
            operation,
            file: file.to_string(),
            expression: self.expression,
            message: self.message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn store_assignment_follows_ansi() {
        let lit = |s: &str| Expr::parse(s).unwrap();
        let col = crate::expr::col("x");
        assert!(assignable(&col, &DataType::Int64, &DataType::Int32));
        assert!(assignable(
            &col,
            &DataType::Float64,
            &DataType::Decimal128(10, 2)
        ));
        assert!(assignable(&col, &DataType::Int64, &DataType::Utf8));
        assert!(!assignable(&col, &DataType::Utf8, &DataType::Int64));
        assert!(assignable(&lit("'42'"), &DataType::Utf8, &DataType::Int64));
        assert!(assignable(
            &lit("'2026-12-07'"),
            &DataType::Utf8,
            &DataType::Date32
        ));
        assert!(!assignable(
            &lit("'soon'"),
            &DataType::Utf8,
            &DataType::Date32
        ));
        let list = DataType::List(Arc::new(arrow::datatypes::Field::new(
            "item",
            DataType::Int32,
            true,
        )));
        assert!(!assignable(&col, &list, &DataType::Utf8));
        assert!(assignable(&col, &DataType::Null, &list));
    }
}
