//! Generated columns on write (`protocol/PROTOCOL.md#generated-columns`): a column whose
//! metadata holds `delta.generationExpression` always equals that expression over the row's
//! other columns. A write whose input lacks the column computes it; one whose input has it
//! must agree with the expression row by row (`(value <=> expr) IS TRUE`: equal, or both
//! null), else nothing is committed. Operations that rewrite rows (update, merge, optimize)
//! recompute it, so an update of a source column moves its generated column with it.

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, RecordBatch};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::util::display::{ArrayFormatter, FormatOptions};

use crate::error::{Error, Result};
use crate::expr::Expr;
use crate::expr::value::BoundValue;
use crate::protocol::constraints::generated_columns;
use crate::snapshot::Snapshot;

/// A cast that never turns a value into null.
const STRICT: CastOptions<'static> = CastOptions {
    safe: false,
    format_options: FormatOptions::new(),
};

/// A table's generated columns, bound to its (logical) Arrow schema.
#[derive(Debug)]
pub(crate) struct GeneratedColumns {
    location: String,
    columns: Vec<Generated>,
}

#[derive(Debug)]
struct Generated {
    name: String,
    index: usize,
    expression: String,
    value: BoundValue,
}

impl GeneratedColumns {
    /// The generated columns of `snapshot`, or `None` when it has none.
    ///
    /// # Errors
    /// [`Error::UnsupportedWriterFeatures`] naming a generation expression strata cannot
    /// evaluate: such a table cannot be written rather than written with wrong values.
    pub(crate) fn for_snapshot(snapshot: &Snapshot) -> Result<Option<Arc<GeneratedColumns>>> {
        let location = snapshot.storage().location().to_string();
        let refuse = |reason: String| Error::UnsupportedWriterFeatures {
            location: location.clone(),
            writer_version: snapshot.protocol().min_writer_version,
            features: vec![format!("generatedColumns ({reason})")],
        };
        let found = generated_columns(snapshot.schema()).map_err(refuse)?;
        if found.is_empty() {
            return Ok(None);
        }
        let schema = snapshot.arrow_schema();
        let columns = found
            .into_iter()
            .map(|g| {
                let index = schema
                    .index_of(&g.name)
                    .map_err(|e| refuse(format!("column {}: {e}", g.name)))?;
                let value = Expr::parse(&g.expression)
                    .and_then(|expr| BoundValue::bind(&expr, &schema))
                    .map_err(|e| refuse(format!("column {}: {e}", g.name)))?;
                Ok(Generated {
                    name: g.name,
                    index,
                    expression: g.expression,
                    value,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(Arc::new(GeneratedColumns { location, columns })))
    }

    /// True when `name` is a generated column.
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.columns.iter().any(|g| g.name == name)
    }

    /// `batch` (conformed to the table schema) with each generated column the input lacked
    /// (`provided(name)` false) computed, and each one it had checked against its expression.
    ///
    /// # Errors
    /// [`Error::ConstraintViolation`] for a provided value that differs from the expression's;
    /// [`Error::Evaluation`] when the expression fails on a row or its value does not fit the
    /// column.
    pub(crate) fn apply(
        &self,
        batch: &RecordBatch,
        provided: impl Fn(&str) -> bool,
        operation: &'static str,
    ) -> Result<RecordBatch> {
        let mut columns = batch.columns().to_vec();
        for generated in &self.columns {
            let computed = self.compute(generated, batch)?;
            if provided(&generated.name) {
                self.check(generated, &columns[generated.index], &computed, operation)?;
            } else {
                columns[generated.index] = computed;
            }
        }
        RecordBatch::try_new(batch.schema(), columns).map_err(Error::from)
    }

    /// `batch` with every generated column recomputed (rows an operation rewrote).
    ///
    /// # Errors
    /// As [`GeneratedColumns::apply`].
    pub(crate) fn recompute(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        self.apply(batch, |_| false, "write")
    }

    fn compute(&self, generated: &Generated, batch: &RecordBatch) -> Result<ArrayRef> {
        let target = batch.schema().field(generated.index).data_type().clone();
        generated
            .value
            .evaluate(batch)
            .and_then(|values| cast_with_options(&values, &target, &STRICT))
            .map_err(|e| Error::Evaluation {
                location: self.location.clone(),
                operation: "generated column",
                file: "(new data)".into(),
                expression: format!("{} = {}", generated.name, generated.expression),
                message: e.to_string(),
            })
    }

    fn check(
        &self,
        generated: &Generated,
        given: &ArrayRef,
        computed: &ArrayRef,
        operation: &'static str,
    ) -> Result<()> {
        let equal = arrow::compute::kernels::cmp::not_distinct(given, computed)?;
        let Some(first) = first_false(&equal) else {
            return Ok(());
        };
        let options = FormatOptions::new().with_null("NULL");
        let show = |array: &ArrayRef| {
            ArrayFormatter::try_new(array.as_ref(), &options)
                .map(|f| f.value(first).to_string())
                .unwrap_or_else(|_| "?".into())
        };
        Err(Error::ConstraintViolation {
            location: self.location.clone(),
            operation,
            constraint: format!("generated column {}", generated.name),
            expression: format!("{} <=> {}", generated.name, generated.expression),
            violations: (equal.len() - equal.true_count()) as u64,
            sample: format!(
                "{} => {}, while {} gives {}; leave the column out to have it computed",
                generated.name,
                show(given),
                generated.expression,
                show(computed)
            ),
        })
    }
}

fn first_false(mask: &BooleanArray) -> Option<usize> {
    (mask.true_count() < mask.len()).then(|| (0..mask.len()).find(|&i| !mask.value(i)))?
}
