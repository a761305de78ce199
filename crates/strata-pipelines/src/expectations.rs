//! Expectations: named data-quality predicates on a flow's output, each with an action
//! (`protocol/PROTOCOL.md#pipelines`). A row meets an expectation only when its predicate is
//! true: false *and null* are violations (write `x IS NULL OR x > 0` to let nulls through).

use arrow::array::{Array, BooleanArray, RecordBatch};
use arrow::compute::{filter_record_batch, not};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use serde::Serialize;
use strata::{Expr, Predicate};

use crate::error::PipelineError;

/// What a violated expectation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExpectationAction {
    /// Count the violations; keep the rows.
    Warn,
    /// Count them and leave the rows out of the output.
    Drop,
    /// Abort the run; nothing is committed.
    Fail,
    /// Count them, leave the rows out of the output, and write them, with the expectation's
    /// name in `_expectation`, to the `NAME_quarantine` table beside the target (exactly once,
    /// like the target).
    Quarantine,
}

/// A named predicate on a flow's output rows, with what to do with rows that violate it.
#[derive(Debug, Clone)]
pub struct Expectation {
    pub(crate) name: String,
    pub(crate) predicate: String,
    pub(crate) action: ExpectationAction,
}

impl Expectation {
    /// An expectation that only counts violations.
    pub fn warn(name: impl Into<String>, predicate: impl Into<String>) -> Expectation {
        Expectation::new(name, predicate, ExpectationAction::Warn)
    }

    /// An expectation that drops violating rows.
    pub fn drop(name: impl Into<String>, predicate: impl Into<String>) -> Expectation {
        Expectation::new(name, predicate, ExpectationAction::Drop)
    }

    /// An expectation that fails the run on any violation.
    pub fn fail(name: impl Into<String>, predicate: impl Into<String>) -> Expectation {
        Expectation::new(name, predicate, ExpectationAction::Fail)
    }

    /// An expectation that moves violating rows to the quarantine table.
    pub fn quarantine(name: impl Into<String>, predicate: impl Into<String>) -> Expectation {
        Expectation::new(name, predicate, ExpectationAction::Quarantine)
    }

    /// An expectation with an explicit action.
    pub fn new(
        name: impl Into<String>,
        predicate: impl Into<String>,
        action: ExpectationAction,
    ) -> Expectation {
        Expectation {
            name: name.into(),
            predicate: predicate.into(),
            action,
        }
    }
}

/// One expectation's outcome in a run, as recorded in the commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExpectationCount {
    /// The expectation's name.
    pub name: String,
    /// Its action.
    pub action: ExpectationAction,
    /// Output rows that violated it.
    pub violations: u64,
}

/// The column of a quarantined row naming the expectation it violated.
pub const EXPECTATION_COLUMN: &str = "_expectation";

/// What the expectations made of a run's output.
#[derive(Debug, Default)]
pub(crate) struct Checked {
    /// The rows to write.
    pub(crate) kept: Vec<RecordBatch>,
    /// Each expectation's violations.
    pub(crate) counts: Vec<ExpectationCount>,
    /// Rows for the quarantine table, with [`EXPECTATION_COLUMN`].
    pub(crate) quarantined: Vec<RecordBatch>,
}

/// Applies `expectations` in order to `batches`: counts violations, drops rows for `drop`,
/// moves them aside for `quarantine` (later expectations see only the rows left), and fails on
/// the first violated `fail`.
pub(crate) fn apply_expectations(
    flow: &str,
    expectations: &[Expectation],
    batches: Vec<RecordBatch>,
) -> Result<Checked, PipelineError> {
    let mut counts = Vec::with_capacity(expectations.len());
    let mut quarantined = Vec::new();
    let mut kept = batches;
    for expectation in expectations {
        let expr = Expr::parse(&expectation.predicate).map_err(|e| PipelineError::BadFlow {
            flow: flow.to_string(),
            reason: format!("expectation {:?}: {e}", expectation.name),
        })?;
        let mut violations = 0u64;
        let mut next = Vec::with_capacity(kept.len());
        for batch in kept {
            let predicate =
                Predicate::bind(&expr, &batch.schema()).map_err(|e| PipelineError::BadFlow {
                    flow: flow.to_string(),
                    reason: format!("expectation {:?}: {e}", expectation.name),
                })?;
            let passes = only_true(&predicate.evaluate(&batch)?);
            let failed = batch.num_rows() - passes.true_count();
            violations += failed as u64;
            if failed > 0 && expectation.action == ExpectationAction::Fail {
                let violating = filter_record_batch(&batch, &not(&passes)?)?;
                return Err(PipelineError::ExpectationFailed {
                    flow: flow.to_string(),
                    expectation: expectation.name.clone(),
                    predicate: expectation.predicate.clone(),
                    violations: failed as u64,
                    sample: render_first_row(&violating),
                });
            }
            let removes = matches!(
                expectation.action,
                ExpectationAction::Drop | ExpectationAction::Quarantine
            );
            if failed > 0 && expectation.action == ExpectationAction::Quarantine {
                let violating = filter_record_batch(&batch, &not(&passes)?)?;
                quarantined.push(with_expectation(&violating, &expectation.name)?);
            }
            if failed > 0 && removes {
                next.push(filter_record_batch(&batch, &passes)?);
            } else {
                next.push(batch);
            }
        }
        kept = next;
        counts.push(ExpectationCount {
            name: expectation.name.clone(),
            action: expectation.action,
            violations,
        });
    }
    Ok(Checked {
        kept,
        counts,
        quarantined,
    })
}

/// `batch` with a last column [`EXPECTATION_COLUMN`] holding `name`.
fn with_expectation(batch: &RecordBatch, name: &str) -> Result<RecordBatch, PipelineError> {
    let mut fields: Vec<arrow::datatypes::Field> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(arrow::datatypes::Field::new(
        EXPECTATION_COLUMN,
        arrow::datatypes::DataType::Utf8,
        false,
    ));
    let mut columns = batch.columns().to_vec();
    columns.push(std::sync::Arc::new(arrow::array::StringArray::from(vec![
        name;
        batch.num_rows()
    ])));
    Ok(RecordBatch::try_new(
        std::sync::Arc::new(arrow::datatypes::Schema::new(fields)),
        columns,
    )?)
}

/// `true` where the predicate is true; false and null are both `false`.
fn only_true(mask: &BooleanArray) -> BooleanArray {
    match mask.nulls() {
        Some(nulls) => BooleanArray::new(mask.values() & nulls.inner(), None),
        None => mask.clone(),
    }
}

/// `{col: value, ...}` of a batch's first row.
fn render_first_row(batch: &RecordBatch) -> String {
    let options = FormatOptions::default().with_null("null");
    let cells: Vec<String> = batch
        .schema()
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(field, column)| {
            let value = ArrayFormatter::try_new(column.as_ref(), &options)
                .map(|f| f.value(0).to_string())
                .unwrap_or_else(|_| "?".into());
            format!("{}: {value}", field.name())
        })
        .collect();
    format!("{{{}}}", cells.join(", "))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn batch(values: Vec<Option<i64>>) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, true)]));
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(values))]).unwrap()
    }

    #[test]
    fn warn_counts_drop_removes_and_null_is_a_violation() {
        let input = vec![batch(vec![Some(1), None, Some(-2), Some(3)])];
        let checked = apply_expectations(
            "f",
            &[
                Expectation::warn("small", "x < 3"),
                Expectation::drop("positive", "x > 0"),
                Expectation::quarantine("not_three", "x <> 3"),
            ],
            input,
        )
        .unwrap();
        assert_eq!(checked.kept.iter().map(|b| b.num_rows()).sum::<usize>(), 1);
        assert_eq!(
            checked
                .counts
                .iter()
                .map(|c| c.violations)
                .collect::<Vec<_>>(),
            [2, 2, 1]
        );
        let q = &checked.quarantined[0];
        assert_eq!(q.num_rows(), 1);
        assert_eq!(q.schema().field(1).name(), EXPECTATION_COLUMN);
    }

    #[test]
    fn fail_aborts_naming_a_row() {
        let err = apply_expectations(
            "f",
            &[Expectation::fail("positive", "x > 0")],
            vec![batch(vec![Some(1), Some(-7)])],
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("\"positive\"") && text.contains("x: -7"),
            "{text}"
        );
        let err = apply_expectations(
            "f",
            &[Expectation::warn("bad", "y > 0")],
            vec![batch(vec![Some(1)])],
        )
        .unwrap_err();
        assert!(matches!(err, PipelineError::BadFlow { .. }), "{err:?}");
    }
}
