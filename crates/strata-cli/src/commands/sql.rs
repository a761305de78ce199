//! `strata sql`: SQL over tables with DataFusion (`strata-sql`), output as `scan` writes it,
//! or committed with `--into` and lineage.

use futures::{StreamExt, TryStreamExt};
use strata_sql::{Context as SqlContext, SqlError, WriteMode};

use super::Context;
use super::scan::{DEFAULT_TABLE_ROWS, check_parquet_target, emit, limit_rows};
use crate::args::{IntoMode, ScanFormat, SqlArgs};
use crate::error::{CliError, CliResult};

/// `strata sql`.
pub async fn sql(ctx: &Context, args: SqlArgs) -> CliResult {
    let format = if args.json {
        ScanFormat::Jsonl
    } else {
        args.format
    };
    check_parquet_target(format, args.output.as_deref())?;
    let sql = SqlContext::new().with_storage_options(ctx.options.clone());
    for spec in &args.tables {
        sql.register_spec(spec).await.map_err(cli_error)?;
    }
    let lake = args
        .lake
        .as_ref()
        .map(|root| strata_pipelines::Lake::open(root.clone()).with_options(ctx.options.clone()));
    if let Some(lake) = &lake {
        for layer in strata_pipelines::Layer::ALL {
            let dir = format!("{}/{}", lake.root().trim_end_matches('/'), layer.as_str());
            sql.register_directory_with_properties(layer.as_str(), &dir, layer.table_properties())
                .map_err(cli_error)?;
        }
    }
    if args.explain || args.analyze {
        let plan = sql
            .explain(&args.query, args.analyze)
            .await
            .map_err(cli_error)?;
        print!("{plan}");
        return Ok(());
    }
    if let Some(into) = &args.into {
        let mode = match args.mode {
            IntoMode::Append => WriteMode::Append,
            IntoMode::Overwrite => WriteMode::Overwrite,
        };
        let written = match lake_table(lake.as_ref(), into)? {
            // A new lake table gets its layer's properties and policy.
            Some((lake, name)) if !ctx.is_table(&lake.location(&name)).await => {
                let builder = lake.create_table(&name.to_string())?;
                sql.create_table_as_with(builder, &args.query).await
            }
            Some((lake, name)) => {
                sql.write_into(&args.query, &lake.location(&name), mode)
                    .await
            }
            None => sql.write_into(&args.query, into, mode).await,
        }
        .map_err(cli_error)?;
        println!("{written}");
        return Ok(());
    }
    let frame = sql.sql(&args.query).await.map_err(cli_error)?;
    let schema = frame.schema().as_arrow().clone().into();
    let stream = frame
        .execute_stream()
        .await
        .map_err(|e| cli_error(SqlError::Query(e)))?;
    let mut rows: strata::RecordBatchStream = stream
        .map_err(|e| strata::Error::Arrow(arrow::error::ArrowError::ExternalError(Box::new(e))))
        .boxed();
    let table_rows =
        (format == ScanFormat::Table && args.limit.is_none()).then_some(DEFAULT_TABLE_ROWS);
    if let Some(limit) = args.limit.or(table_rows.map(|n| n + 1)) {
        rows = limit_rows(rows, limit);
    }
    emit(format, args.output.as_deref(), schema, rows, table_rows).await
}

/// `--into LAYER.NAME` with `--lake`: the lake and the table's name; `None` for a location.
fn lake_table<'a>(
    lake: Option<&'a strata_pipelines::Lake>,
    into: &str,
) -> CliResult<Option<(&'a strata_pipelines::Lake, strata_pipelines::TableName)>> {
    let Some(lake) = lake else {
        return Ok(None);
    };
    match strata_pipelines::TableName::parse(into) {
        Ok(name) => Ok(Some((lake, name))),
        Err(_) if into.contains('/') || into.contains("://") => Ok(None),
        Err(e) => Err(CliError::Usage(format!("--into {into}: {e}"))),
    }
}

/// SQL errors as the CLI reports them: strata's own errors keep their exit codes and hints.
fn cli_error(e: SqlError) -> CliError {
    match e {
        SqlError::Table(e) => CliError::Table(e),
        other => CliError::Refused(other.to_string()),
    }
}
