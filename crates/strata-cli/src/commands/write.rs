//! Commands that write data: create, append.

use std::sync::Arc;

use serde_json::json;
use strata::StructType;
use strata::{SchemaMode, Table, WriteMode, WriteResult};

use super::Context;
use crate::args::{AppendArgs, Mode, NewTable, SchemaModeArg};
use crate::error::{CliError, CliResult};
use crate::input::{self, Input, InputOptions, Source};
use crate::output::{self, Progress, print, print_json};

/// `strata create`.
pub async fn create(
    ctx: &Context,
    location: &str,
    spec: &str,
    new_table: &NewTable,
    json: bool,
) -> CliResult {
    let schema = parse_schema(spec)?;
    let table = new_table_builder(ctx, location, new_table)
        .with_schema(schema)
        .execute()
        .await?;
    let snapshot = table.snapshot().await?;
    if json {
        return print_json(&json!({
            "location": location,
            "version": snapshot.version(),
            "id": snapshot.metadata().id,
            "schema": super::read::schema_json(snapshot.schema()),
            "partitionColumns": snapshot.partition_columns(),
        }));
    }
    print(format!(
        "created {location} at version {}: {}{}",
        snapshot.version(),
        snapshot.schema(),
        partitioned(snapshot.partition_columns())
    ))
}

fn partitioned(columns: &[String]) -> String {
    if columns.is_empty() {
        String::new()
    } else {
        format!(", partitioned by {}", columns.join(", "))
    }
}

fn new_table_builder(ctx: &Context, location: &str, new_table: &NewTable) -> strata::CreateBuilder {
    let mut builder = Table::create(location)
        .with_options(ctx.options.clone())
        .with_partition_columns(
            new_table
                .partition_by
                .iter()
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty()),
        );
    for (k, v) in &new_table.properties {
        builder = builder.with_property(k, v);
    }
    if let Some(name) = &new_table.name {
        builder = builder.with_name(name);
    }
    if let Some(description) = &new_table.description {
        builder = builder.with_description(description);
    }
    builder
}

/// A schema as DDL text, Delta schema JSON, or `@FILE` holding either.
fn parse_schema(spec: &str) -> CliResult<StructType> {
    let text = match spec.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).map_err(|source| CliError::Io {
            path: path.to_string(),
            source,
        })?,
        None => spec.to_string(),
    };
    let schema = if text.trim_start().starts_with('{') {
        StructType::parse(&text)
    } else {
        StructType::from_ddl(&text)
    };
    Ok(schema.map_err(strata::Error::from)?)
}

/// `strata append`.
pub async fn append(ctx: &Context, args: AppendArgs) -> CliResult {
    let options = InputOptions {
        delimiter: args.delimiter,
        header: !args.no_header,
        schema_mode: args.schema_mode.map(SchemaMode::from),
    };
    if args.schema_mode == Some(SchemaModeArg::Overwrite) && args.mode != Mode::Overwrite {
        return Err(CliError::Usage(
            "--schema-mode overwrite replaces the table's schema and needs --mode overwrite; --schema-mode merge adds columns in an append".into(),
        ));
    }
    let existing = match ctx.table(&args.table).await {
        Ok(table) => Some(table),
        Err(CliError::Table(strata::Error::NotATable { .. })) if args.create => None,
        Err(CliError::Table(e @ strata::Error::NotATable { .. })) => {
            return Err(CliError::Hinted {
                source: Box::new(e),
                hint: "or pass --create to create it from the first file's schema",
            });
        }
        Err(e) => return Err(e),
    };
    let sources = Source::all(&args.files, args.input_format)?;
    let table_schema = match &existing {
        Some(table) => {
            let snapshot = table.snapshot().await?;
            check_new_table_options(&args, &snapshot)?;
            snapshot.arrow_schema()
        }
        // A new table gets the columns of every file when they may differ.
        None if args.schema_mode.is_some() => {
            let schemas = sources
                .iter()
                .map(|source| Ok(Input::open(source, options, None)?.schema()))
                .collect::<CliResult<Vec<_>>>()?;
            Arc::new(input::all_columns(&schemas))
        }
        // clap requires at least one file.
        None => match sources.first() {
            Some(first) => Input::open(first, options, None)?.schema(),
            None => return Err(CliError::Usage("name at least one input file".into())),
        },
    };
    // Every input opens (and CSV/JSON headers match) before anything is written.
    let mut inputs = sources
        .iter()
        .map(|source| Input::open(source, options, Some(&table_schema)))
        .collect::<CliResult<Vec<_>>>()?;
    if args.schema_mode.is_some() {
        input::add_missing_columns(&mut inputs);
    }
    let progress = Progress::bytes(ctx.quiet, input::total_size(&inputs), "appending");
    let (stream, failure) = input::stream(inputs, progress.handle(), args.allow_empty);
    let mut write = match existing {
        Some(table) => table.write_stream(stream),
        // A new table and its first data are one commit: a failed input leaves no table.
        None => new_table_builder(ctx, &args.table, &args.new_table)
            .with_arrow_schema(&table_schema)?
            .write_stream(stream)?,
    };
    write = write.with_mode(match args.mode {
        Mode::Append => WriteMode::Append,
        Mode::Overwrite => WriteMode::Overwrite,
    });
    if let Some(mode) = options.schema_mode {
        write = write.with_schema_mode(mode);
    }
    if let Some(version) = args.expected_version {
        write = write.with_expected_version(version);
    }
    if let Some((app_id, version)) = &args.txn {
        write = write.with_txn(app_id, *version);
    }
    for (k, v) in &args.metadata {
        write = write.with_commit_metadata(k, v.as_str());
    }
    let result = write.execute().await;
    drop(progress);
    let result = match result {
        Ok(result) => result,
        Err(e) => {
            let decode_error = failure.lock().ok().and_then(|mut slot| slot.take());
            return Err(decode_error.unwrap_or(CliError::Table(e)));
        }
    };
    report_write(&args, &result)
}

/// The options of a table being created are refused, not ignored, when they cannot apply:
/// without `--create`, or when the table exists with different settings.
fn check_new_table_options(args: &AppendArgs, snapshot: &strata::Snapshot) -> CliResult {
    let options = &args.new_table;
    let given = !options.partition_by.is_empty()
        || !options.properties.is_empty()
        || options.name.is_some()
        || options.description.is_some();
    if !given {
        return Ok(());
    }
    if !args.create {
        return Err(CliError::Usage(
            "--partition-by, --property, --name and --description apply when the table is created; add --create".into(),
        ));
    }
    let metadata = snapshot.metadata();
    let partition_by: Vec<String> = options
        .partition_by
        .iter()
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .collect();
    let mut differences = Vec::new();
    if !options.partition_by.is_empty() && partition_by != metadata.partition_columns {
        differences.push(format!(
            "it is partitioned by [{}]",
            metadata.partition_columns.join(", ")
        ));
    }
    for (key, value) in &options.properties {
        if metadata.configuration.get(key) != Some(value) {
            differences.push(format!(
                "its {key} is {}",
                metadata
                    .configuration
                    .get(key)
                    .map_or("unset", String::as_str)
            ));
        }
    }
    if options.name.is_some() && options.name != metadata.name {
        differences.push("its name differs".into());
    }
    if options.description.is_some() && options.description != metadata.description {
        differences.push("its description differs".into());
    }
    if differences.is_empty() {
        return Ok(());
    }
    Err(CliError::Refused(format!(
        "{} already exists and {}; nothing was written (change the table with its own commands, or drop the options)",
        args.table,
        differences.join(", ")
    )))
}

fn report_write(args: &AppendArgs, result: &WriteResult) -> CliResult {
    if args.json.json {
        return print_json(&json!({
            "version": result.version,
            "alreadyApplied": result.already_applied,
            "attempts": result.attempts,
            "numFiles": result.num_files,
            "numRows": result.num_rows,
            "numBytes": result.num_bytes,
            "numRemovedFiles": result.num_removed_files,
        }));
    }
    if result.already_applied {
        let (app_id, version) = args.txn.clone().unwrap_or_default();
        return print(format!(
            "nothing written: the table's {app_id:?} transactions are at version {version} or later (a --txn version is a high-water mark: one at or below it counts as done); table version {}",
            result.version
        ));
    }
    let mut text = format!(
        "wrote {} in {} ({}) as version {}",
        output::plural(result.num_rows, "row"),
        output::plural(result.num_files as i64, "file"),
        output::bytes(result.num_bytes),
        result.version
    );
    if args.mode == Mode::Overwrite {
        text.push_str(&format!(
            ", replacing {}",
            output::plural(result.num_removed_files as i64, "file")
        ));
    }
    print(text)
}
