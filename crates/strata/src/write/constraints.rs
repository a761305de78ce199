//! Enforcing a table's constraints on the rows a write adds (`protocol/PROTOCOL.md#constraints`).
//!
//! Every path that writes data files checks each batch here after it is conformed to the
//! table schema and before it is encoded: append and overwrite, update, merge, delete's
//! rewrites, replace-where and optimize. A row satisfies a constraint when its expression is
//! true; false and null both violate it, as in Delta (Spark's `CheckDeltaInvariant`). The
//! expressions are bound when the write starts, so a constraint strata cannot evaluate refuses
//! the write before any file is written rather than being skipped.

use std::sync::Arc;

use arrow::array::{Array, BooleanArray, RecordBatch};
use arrow::datatypes::Schema;
use arrow::util::display::{ArrayFormatter, FormatOptions};

use crate::error::{Error, Result};
use crate::expr::Expr;
use crate::expr::column::column_array;
use crate::expr::predicate::Predicate;
use crate::protocol::constraints::{Constraint, ConstraintKind, table_constraints};
use crate::snapshot::Snapshot;

/// Batches of at least twice this many rows are checked on several threads.
const PARALLEL_SLICE_ROWS: usize = 64 * 1024;

/// The bound constraints of one table, checked on batches of its (logical) Arrow schema.
#[derive(Debug)]
pub(crate) struct ConstraintChecker {
    location: String,
    checks: Vec<BoundConstraint>,
}

#[derive(Debug)]
struct BoundConstraint {
    constraint: Constraint,
    predicate: Predicate,
}

impl ConstraintChecker {
    /// The checker for `snapshot`'s constraints, or `None` when it has none.
    ///
    /// # Errors
    /// [`Error::UnsupportedWriterFeatures`] naming a constraint strata cannot parse or
    /// evaluate: the table cannot be written rather than written unchecked.
    pub(crate) fn for_snapshot(snapshot: &Snapshot) -> Result<Option<Arc<ConstraintChecker>>> {
        let location = snapshot.storage().location().to_string();
        let refuse = |feature: &str, reason: String| Error::UnsupportedWriterFeatures {
            location: location.clone(),
            writer_version: snapshot.protocol().min_writer_version,
            features: vec![format!("{feature} ({reason})")],
        };
        let constraints = table_constraints(snapshot.metadata(), snapshot.schema())
            .map_err(|reason| refuse("invariants", reason))?;
        if constraints.is_empty() {
            return Ok(None);
        }
        ConstraintChecker::new(snapshot, constraints).map(|c| Some(Arc::new(c)))
    }

    /// A checker of `constraints` on rows of `snapshot`'s schema (an `ALTER TABLE` validating
    /// the constraints it adds against the existing data).
    ///
    /// # Errors
    /// As [`ConstraintChecker::for_snapshot`].
    pub(crate) fn new(
        snapshot: &Snapshot,
        constraints: Vec<Constraint>,
    ) -> Result<ConstraintChecker> {
        let location = snapshot.storage().location().to_string();
        let refuse = |feature: &str, reason: String| Error::UnsupportedWriterFeatures {
            location: location.clone(),
            writer_version: snapshot.protocol().min_writer_version,
            features: vec![format!("{feature} ({reason})")],
        };
        let schema = snapshot.arrow_schema();
        let checks = constraints
            .into_iter()
            .map(|constraint| {
                bind(&constraint, &schema)
                    .map_err(|reason| {
                        let feature = match constraint.kind {
                            ConstraintKind::Check => "checkConstraints",
                            ConstraintKind::Invariant => "invariants",
                        };
                        refuse(feature, format!("{}: {reason}", constraint.label()))
                    })
                    .map(|predicate| BoundConstraint {
                        constraint,
                        predicate,
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(ConstraintChecker { location, checks })
    }

    /// Checks every row of `batch` (the table's logical columns) against every constraint.
    ///
    /// # Errors
    /// [`Error::ConstraintViolation`] for the first constraint a row breaks, with a sample
    /// row; [`Error::Evaluation`] when an expression fails on a row (overflow, a failed cast).
    pub(crate) fn check(&self, batch: &RecordBatch, operation: &'static str) -> Result<()> {
        // A large batch is checked in slices on several threads: the check runs before the
        // batch is encoded, while the encoder's threads wait for it.
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        if batch.num_rows() >= 2 * PARALLEL_SLICE_ROWS && threads > 1 {
            let slices = threads.min(batch.num_rows() / PARALLEL_SLICE_ROWS);
            let per = batch.num_rows().div_ceil(slices);
            let results: Vec<Result<()>> = std::thread::scope(|scope| {
                let handles: Vec<_> = (0..slices)
                    .map(|i| {
                        let start = i * per;
                        let slice = batch.slice(start, per.min(batch.num_rows() - start));
                        scope.spawn(move || self.check_slice(&slice, operation))
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join().unwrap_or_else(|_| {
                            Err(Error::internal("a constraint check thread panicked"))
                        })
                    })
                    .collect()
            });
            return results.into_iter().collect();
        }
        self.check_slice(batch, operation)
    }

    fn check_slice(&self, batch: &RecordBatch, operation: &'static str) -> Result<()> {
        for check in &self.checks {
            let result = check
                .predicate
                .evaluate(batch)
                .map_err(|e| Error::Evaluation {
                    location: self.location.clone(),
                    operation: "constraint check",
                    file: "(new data)".into(),
                    expression: check.constraint.expression.clone(),
                    message: e.to_string(),
                })?;
            if let Some((first, violations)) = first_violation(&result) {
                return Err(Error::ConstraintViolation {
                    location: self.location.clone(),
                    operation,
                    constraint: check.constraint.label(),
                    expression: check.constraint.expression.clone(),
                    violations,
                    sample: sample_row(&check.predicate, batch, first),
                });
            }
        }
        Ok(())
    }
}

/// Parses and binds a constraint's expression to the table schema; it must be boolean.
fn bind(constraint: &Constraint, schema: &Schema) -> std::result::Result<Predicate, String> {
    let expr = Expr::parse(&constraint.expression).map_err(|e| e.to_string())?;
    Predicate::bind(&expr, schema).map_err(|e| e.to_string())
}

/// The first row that is not true and how many are not, or `None` when all are true.
fn first_violation(result: &BooleanArray) -> Option<(usize, u64)> {
    let holds = result.true_count();
    if holds == result.len() {
        return None;
    }
    let violations = (result.len() - holds) as u64;
    let first = (0..result.len()).find(|&i| result.is_null(i) || !result.value(i))?;
    Some((first, violations))
}

/// `col => value, …` for the columns the constraint reads, at `row`.
fn sample_row(predicate: &Predicate, batch: &RecordBatch, row: usize) -> String {
    let options = FormatOptions::new().with_null("NULL");
    let values: Vec<String> = predicate
        .columns()
        .iter()
        .map(|column| {
            let value = column_array(batch, column)
                .ok()
                .and_then(|array| {
                    ArrayFormatter::try_new(array.as_ref(), &options)
                        .ok()
                        .map(|f| f.value(row).to_string())
                })
                .unwrap_or_else(|| "?".into());
            format!("{} => {value}", column.name())
        })
        .collect();
    if values.is_empty() {
        format!("row {row} of the batch")
    } else {
        values.join(", ")
    }
}
