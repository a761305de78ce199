//! SQL transforms (feature `sql`): a flow's query runs in DataFusion (`strata-sql`) over its
//! sources' rows for this run, each registered under the name the flow gives it.

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;

use crate::flow::{FlowInput, TransformError};
use crate::lake::TableName;

/// Runs `query` with each source of `input` as a table of the rows this run read, and the
/// target (with its current rows) when the flow reads it.
pub(crate) async fn run(
    query: &str,
    input: &FlowInput,
    target: &TableName,
    target_schema: Option<SchemaRef>,
) -> Result<Vec<RecordBatch>, TransformError> {
    let ctx = strata_sql::Context::new();
    for source in input.sources() {
        ctx.register_batches(&source.name, source.schema.clone(), source.rows.clone())?;
    }
    if let Some(rows) = &input.target {
        let schema = rows.first().map(RecordBatch::schema).or(target_schema);
        if let Some(schema) = schema {
            ctx.register_batches(&target.to_string(), schema, rows.clone())?;
        }
    }
    Ok(ctx.collect(query).await?)
}
