//! Read-only commands: info, history, scan, files, diff, tags.

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use futures::TryStreamExt;
use serde_json::{Map, Value, json};
use strata::actions::Add;
use strata::diff::file_rows;
use strata::scan::ScanMetrics;
use strata::{HistoryEntry, Snapshot, TableDiff};

use super::Context;
use crate::args::{At, ScanArgs, ScanFormat};
use crate::error::{CliError, CliResult};
use crate::output::{self, print, print_json};

/// `strata info`.
pub async fn info(ctx: &Context, location: &str, at: &At, json: bool) -> CliResult {
    let snapshot = ctx.snapshot(location, at).await?;
    let num_records = snapshot.num_records().await?;
    let size = snapshot
        .files()
        .fold(0i64, |total, f| total.saturating_add(f.size()));
    let protocol = snapshot.protocol();
    let metadata = snapshot.metadata();
    let features = |f: &Option<Vec<String>>| f.clone().unwrap_or_default();
    if json {
        let schema = schema_json(snapshot.schema());
        return print_json(&json!({
            "location": location,
            "version": snapshot.version(),
            "timestamp": output::rfc3339(snapshot.timestamp_ms()),
            "protocol": {
                "minReaderVersion": protocol.min_reader_version,
                "minWriterVersion": protocol.min_writer_version,
                "readerFeatures": features(&protocol.reader_features),
                "writerFeatures": features(&protocol.writer_features),
            },
            "id": metadata.id,
            "name": metadata.name,
            "description": metadata.description,
            "createdTime": metadata.created_time.map(output::rfc3339),
            "schema": schema,
            "partitionColumns": snapshot.partition_columns(),
            "properties": sorted(snapshot.properties()),
            "numFiles": snapshot.num_files(),
            "sizeBytes": size,
            "numRecords": num_records,
        }));
    }
    let mut rows = vec![
        ("Table", location.to_string()),
        (
            "Version",
            format!(
                "{} ({}, {})",
                snapshot.version(),
                output::time(snapshot.timestamp_ms()),
                output::ago(snapshot.timestamp_ms())
            ),
        ),
        (
            "Protocol",
            format!(
                "reader {}, writer {}",
                protocol.min_reader_version, protocol.min_writer_version
            ),
        ),
    ];
    let (reader, writer) = (
        features(&protocol.reader_features),
        features(&protocol.writer_features),
    );
    let listed = |side: &str, features: &[String]| {
        (!features.is_empty()).then(|| format!("{side}: {}", features.join(", ")))
    };
    let feature_text: Vec<String> = [listed("reader", &reader), listed("writer", &writer)]
        .into_iter()
        .flatten()
        .collect();
    if !feature_text.is_empty() {
        rows.push(("Features", feature_text.join("; ")));
    }
    rows.push(("Id", metadata.id.clone()));
    if let Some(name) = &metadata.name {
        rows.push(("Name", name.clone()));
    }
    if let Some(description) = &metadata.description {
        rows.push(("Description", description.clone()));
    }
    if let Some(created) = metadata.created_time {
        rows.push(("Created", output::time(created)));
    }
    rows.push((
        "Partitioned by",
        if snapshot.partition_columns().is_empty() {
            "(not partitioned)".into()
        } else {
            snapshot.partition_columns().join(", ")
        },
    ));
    rows.push((
        "Files",
        format!(
            "{} ({})",
            output::count(snapshot.num_files() as i64),
            output::bytes_i64(size)
        ),
    ));
    rows.push((
        "Rows",
        match num_records {
            Some(n) => output::count(n),
            None => "unknown (some files have no row count statistics)".into(),
        },
    ));
    let properties = sorted(snapshot.properties());
    rows.push((
        "Properties",
        if properties.is_empty() {
            "(none)".into()
        } else {
            output::key_values(&properties)
        },
    ));
    let mut schema = output::table(&["column", "type", "nullable"]);
    for field in &snapshot.schema().fields {
        schema.add_row(vec![
            field.name.clone(),
            field.data_type.to_string(),
            field.nullable.to_string(),
        ]);
    }
    print(format!("{}\n\nSchema\n{schema}", output::fields(&rows)))
}

/// A schema as `[{"name", "type", "nullable"}]`, types as Delta names them.
pub(super) fn schema_json(schema: &strata::StructType) -> Value {
    schema
        .fields
        .iter()
        .map(|f| json!({"name": f.name, "type": f.data_type.to_string(), "nullable": f.nullable}))
        .collect()
}

fn sorted(map: &std::collections::HashMap<String, String>) -> Map<String, Value> {
    let mut entries: Vec<_> = map.iter().collect();
    entries.sort();
    entries
        .into_iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect()
}

/// `strata history`.
pub async fn history(ctx: &Context, location: &str, limit: Option<usize>, json: bool) -> CliResult {
    let entries = ctx.table(location).await?.history(limit).await?;
    if json {
        return print_json(&Value::Array(entries.iter().map(history_json).collect()));
    }
    let mut table = output::table(&["version", "timestamp", "operation", "parameters", "metrics"]);
    for entry in &entries {
        table.add_row(vec![
            entry.version.to_string(),
            output::time(entry.timestamp_ms),
            entry.operation.clone().unwrap_or_else(|| "-".into()),
            output::key_values(&entry.parameters),
            output::key_values(&entry.metrics),
        ]);
    }
    output::align_right(&mut table, &[0]);
    print(table)
}

fn history_json(entry: &HistoryEntry) -> Value {
    json!({
        "version": entry.version,
        "timestamp": output::rfc3339(entry.timestamp_ms),
        "operation": entry.operation,
        "parameters": entry.parameters,
        "metrics": entry.metrics,
        "engineInfo": entry.engine_info,
        "readVersion": entry.read_version,
        "isBlindAppend": entry.is_blind_append,
        "userMetadata": entry.user_metadata,
    })
}

/// Rows `scan --format table` shows when no `--limit` is given (Spark's `show()` shows 20).
const DEFAULT_TABLE_ROWS: u64 = 100;

/// `strata scan`.
pub async fn scan(ctx: &Context, args: ScanArgs) -> CliResult {
    let format = if args.json {
        ScanFormat::Jsonl
    } else {
        args.format
    };
    if format == ScanFormat::Parquet && args.output.is_none() && std::io::stdout().is_terminal() {
        return Err(CliError::Usage(
            "Parquet is binary; pass --output PATH or redirect standard output".into(),
        ));
    }
    let snapshot = ctx.snapshot(&args.table, &args.at).await?;
    let mut builder = snapshot.scan();
    if !args.columns.is_empty() {
        builder = builder.with_columns(args.columns.iter().map(|c| c.trim()));
    }
    if let Some(filter) = args.filter {
        builder = builder.with_filter(filter);
    }
    // A table for people shows the first rows unless asked for more; one extra row tells
    // whether there are more.
    let table_rows =
        (format == ScanFormat::Table && args.limit.is_none()).then_some(DEFAULT_TABLE_ROWS);
    if let Some(limit) = args.limit.or(table_rows.map(|n| n + 1)) {
        builder = builder.with_limit(limit);
    }
    let plan = builder.plan().await?;
    let mut target = Target::open(args.output.as_deref())?;
    let written = write_rows(format, &mut target, &plan, table_rows).await;
    match written {
        Ok(()) => target.finish()?,
        Err(e) => {
            target.discard();
            return Err(e);
        }
    }
    if args.metrics {
        eprintln!("{}", metrics_line(&plan.metrics()));
    }
    Ok(())
}

/// Where scan output goes: standard output, or a file written under a temporary name and
/// renamed when complete, so a failed scan leaves no partial file behind.
struct Target {
    name: String,
    sink: Option<BufWriter<Box<dyn Write + Send>>>,
    file: Option<(PathBuf, PathBuf)>,
}

impl Target {
    fn open(path: Option<&Path>) -> CliResult<Target> {
        let Some(path) = path else {
            return Ok(Target {
                name: "standard output".into(),
                sink: Some(BufWriter::new(Box::new(std::io::stdout()))),
                file: None,
            });
        };
        let name = path.display().to_string();
        let mut temp = path.as_os_str().to_owned();
        temp.push(format!(".strata-{}.tmp", std::process::id()));
        let temp = PathBuf::from(temp);
        let file = File::create(&temp).map_err(|source| CliError::Io {
            path: name.clone(),
            source,
        })?;
        Ok(Target {
            name,
            sink: Some(BufWriter::new(Box::new(file))),
            file: Some((temp, path.to_path_buf())),
        })
    }

    /// The writer; taken once by the encoder, which hands it back through `finish`.
    fn take(&mut self) -> BufWriter<Box<dyn Write + Send>> {
        self.sink
            .take()
            .unwrap_or_else(|| BufWriter::new(Box::new(std::io::sink())))
    }

    fn io_error(&self, source: std::io::Error) -> CliError {
        CliError::Io {
            path: self.name.clone(),
            source,
        }
    }

    /// An encoder's failure; an I/O error under it (a closed pipe, a full disk) stays one.
    fn encode_error(
        &self,
        format: &'static str,
        error: impl std::error::Error + 'static,
    ) -> CliError {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
        while let Some(e) = source {
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                return self.io_error(std::io::Error::new(io.kind(), io.to_string()));
            }
            source = e.source();
        }
        let text = error.to_string();
        if text.contains("Broken pipe") {
            return self.io_error(std::io::ErrorKind::BrokenPipe.into());
        }
        CliError::Output {
            format,
            reason: text,
        }
    }

    fn flush(&self, mut sink: impl Write) -> CliResult {
        sink.flush().map_err(|e| self.io_error(e))
    }

    /// Moves a completed file into place.
    fn finish(self) -> CliResult {
        if let Some((temp, path)) = &self.file {
            std::fs::rename(temp, path).map_err(|e| self.io_error(e))?;
        }
        Ok(())
    }

    fn discard(self) {
        if let Some((temp, _)) = &self.file {
            let _ = std::fs::remove_file(temp);
        }
    }
}

async fn write_rows(
    format: ScanFormat,
    target: &mut Target,
    plan: &strata::scan::ScanPlan,
    table_rows: Option<u64>,
) -> CliResult {
    let schema = plan.output_schema();
    let sink = target.take();
    let mut batches = plan.execute()?;
    match format {
        ScanFormat::Table => {
            let all: Vec<RecordBatch> = batches.try_collect().await?;
            let text = render_table(&schema, &all, table_rows)?;
            let mut sink = sink;
            writeln!(sink, "{text}").map_err(|e| target.io_error(e))?;
            target.flush(sink)
        }
        ScanFormat::Csv => {
            if let Some(f) = schema.fields().iter().find(|f| f.data_type().is_nested()) {
                return Err(CliError::Output {
                    format: "csv",
                    reason: format!(
                        "CSV cannot hold the nested column `{}` ({}); use --format jsonl or parquet, or --columns to leave it out",
                        f.name(),
                        delta_type(f.data_type())
                    ),
                });
            }
            let mut writer = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(sink);
            writer
                .write(&RecordBatch::new_empty(schema.clone()))
                .map_err(|e| target.encode_error("csv", e))?;
            while let Some(batch) = batches.try_next().await? {
                writer
                    .write(&batch)
                    .map_err(|e| target.encode_error("csv", e))?;
            }
            target.flush(writer.into_inner())
        }
        ScanFormat::Jsonl => {
            let mut writer = arrow::json::WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, arrow::json::writer::LineDelimited>(sink);
            while let Some(batch) = batches.try_next().await? {
                writer
                    .write(&batch)
                    .map_err(|e| target.encode_error("jsonl", e))?;
            }
            writer
                .finish()
                .map_err(|e| target.encode_error("jsonl", e))?;
            target.flush(writer.into_inner())
        }
        ScanFormat::Parquet => {
            let mut writer = parquet::arrow::ArrowWriter::try_new(sink, schema.clone(), None)
                .map_err(|e| target.encode_error("parquet", e))?;
            while let Some(batch) = batches.try_next().await? {
                writer
                    .write(&batch)
                    .map_err(|e| target.encode_error("parquet", e))?;
            }
            let sink = writer
                .into_inner()
                .map_err(|e| target.encode_error("parquet", e))?;
            target.flush(sink)
        }
    }
}

/// A type as Delta names it (`struct<a:integer>`), else as Arrow does.
fn delta_type(data_type: &arrow::datatypes::DataType) -> String {
    strata::DataType::try_from_arrow(data_type)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| data_type.to_string())
}

/// The rows as an aligned table, at most `max_rows` of them (saying so when there were more).
fn render_table(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    max_rows: Option<u64>,
) -> CliResult<String> {
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let mut table = output::table(&names);
    let options = FormatOptions::default().with_null("null");
    let max_rows = max_rows.map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX));
    let mut rows = 0usize;
    let mut more = false;
    'batches: for batch in batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| CliError::Output {
                format: "table",
                reason: e.to_string(),
            })?;
        for row in 0..batch.num_rows() {
            if rows == max_rows {
                more = true;
                break 'batches;
            }
            table.add_row(formatters.iter().map(|f| f.value(row).to_string()));
            rows += 1;
        }
    }
    let numeric: Vec<usize> = schema
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| f.data_type().is_numeric())
        .map(|(i, _)| i)
        .collect();
    output::align_right(&mut table, &numeric);
    let footer = if more {
        format!(
            "first {}; pass --limit N for more",
            output::plural(rows as i64, "row")
        )
    } else {
        output::plural(rows as i64, "row")
    };
    Ok(format!("{table}\n{footer}"))
}

fn metrics_line(m: &ScanMetrics) -> String {
    format!(
        "scan: read {} of {} files ({} pruned by partition values, {} by statistics); {} of {} row groups pruned; {} rows read, {} returned",
        m.files_to_read,
        m.files_considered,
        m.files_pruned_by_partition,
        m.files_pruned_by_stats,
        m.row_groups_pruned,
        m.row_groups_considered,
        m.rows_read,
        m.rows_returned
    )
}

/// `strata files`.
pub async fn files(
    ctx: &Context,
    location: &str,
    at: &At,
    filter: Option<String>,
    json: bool,
) -> CliResult {
    let snapshot = ctx.snapshot(location, at).await?;
    snapshot.load_stats().await?;
    let mut builder = snapshot.scan();
    if let Some(filter) = filter {
        builder = builder.with_filter(filter);
    }
    let plan = builder.plan().await?;
    let files = plan.files();
    if json {
        return print_json(&Value::Array(files.iter().map(file_json).collect()));
    }
    let mut table = output::table(&["path", "rows", "size", "modified"]);
    for add in files {
        table.add_row(vec![
            strata::storage::decode_path(&add.path),
            file_rows(add)
                .map(output::count)
                .unwrap_or_else(|| "?".into()),
            output::bytes_i64(add.size),
            output::time(add.modification_time),
        ]);
    }
    output::align_right(&mut table, &[1, 2]);
    let total = files.iter().fold(0i64, |t, a| t.saturating_add(a.size));
    print(format!(
        "{table}\n{} of {} files at version {}, {}",
        output::count(files.len() as i64),
        output::count(snapshot.num_files() as i64),
        snapshot.version(),
        output::bytes_i64(total)
    ))
}

fn file_json(add: &Add) -> Value {
    let mut partition_values: Vec<_> = add.partition_values.iter().collect();
    partition_values.sort();
    let partition_values: Map<String, Value> = partition_values
        .into_iter()
        .map(|(k, v)| (k.clone(), v.clone().map_or(Value::Null, Value::String)))
        .collect();
    json!({
        "path": add.path,
        "size": add.size,
        "numRecords": file_rows(add),
        "partitionValues": partition_values,
        "modificationTime": output::rfc3339(add.modification_time),
    })
}

/// `strata diff`.
pub async fn diff(
    ctx: &Context,
    location: &str,
    from: &str,
    to: Option<&str>,
    json: bool,
) -> CliResult {
    let table = ctx.table(location).await?;
    let latest = table.snapshot().await?;
    let from = resolve_version(&latest, from)?;
    let to = match to {
        Some(to) => resolve_version(&latest, to)?,
        None => latest.version(),
    };
    let diff = table.diff(from, to).await?;
    if json {
        return print_json(&json!({
            "from": diff.from,
            "to": diff.to,
            "numFilesAdded": diff.added.len(),
            "numFilesRemoved": diff.removed.len(),
            "rowsAdded": diff.rows_added(),
            "rowsRemoved": diff.rows_removed(),
            "bytesAdded": diff.bytes_added(),
            "bytesRemoved": diff.bytes_removed(),
            "added": diff.added.iter().map(file_json).collect::<Vec<_>>(),
            "removed": diff.removed.iter().map(file_json).collect::<Vec<_>>(),
        }));
    }
    print(render_diff(&diff))
}

fn render_diff(diff: &TableDiff) -> String {
    let rows = |n: Option<i64>| n.map_or_else(|| "? rows".into(), |n| output::plural(n, "row"));
    let files = |n: usize| output::plural(n as i64, "file");
    let summary = format!(
        "version {} -> {}: {} added ({}, {}), {} removed ({}, {})",
        diff.from,
        diff.to,
        files(diff.added.len()),
        rows(diff.rows_added()),
        output::bytes_i64(diff.bytes_added()),
        files(diff.removed.len()),
        rows(diff.rows_removed()),
        output::bytes_i64(diff.bytes_removed()),
    );
    if diff.added.is_empty() && diff.removed.is_empty() {
        return format!("{summary}\nthe two versions have the same data files");
    }
    let mut table = output::table(&["change", "path", "rows", "size"]);
    let changes = diff
        .added
        .iter()
        .map(|a| ("added", a))
        .chain(diff.removed.iter().map(|a| ("removed", a)));
    for (change, add) in changes {
        table.add_row(vec![
            change.to_string(),
            strata::storage::decode_path(&add.path),
            file_rows(add)
                .map(output::count)
                .unwrap_or_else(|| "?".into()),
            output::bytes_i64(add.size),
        ]);
    }
    output::align_right(&mut table, &[2, 3]);
    format!("{summary}\n{table}")
}

/// A version number, or a tag name looked up in the latest version.
fn resolve_version(latest: &Snapshot, text: &str) -> CliResult<i64> {
    if let Ok(version) = text.parse::<i64>() {
        return Ok(version);
    }
    match latest.tags()?.get(text) {
        Some(tag) => Ok(tag.version),
        None => Err(CliError::NotFound(format!(
            "{text:?} is neither a version number nor a tag of the table; `strata tags TABLE` lists the tags"
        ))),
    }
}

/// `strata tags`.
pub async fn tags(ctx: &Context, location: &str, json: bool) -> CliResult {
    let tags = ctx.table(location).await?.tags().await?;
    if json {
        let list: Vec<Value> = tags
            .iter()
            .map(|(name, tag)| {
                json!({"name": name, "version": tag.version, "createdAt": output::rfc3339(tag.created_at)})
            })
            .collect();
        return print_json(&Value::Array(list));
    }
    if tags.is_empty() {
        return print("no tags; create one with `strata tag TABLE NAME`");
    }
    let mut table = output::table(&["tag", "version", "created"]);
    for (name, tag) in &tags {
        table.add_row(vec![
            name.clone(),
            tag.version.to_string(),
            output::time(tag.created_at),
        ]);
    }
    output::align_right(&mut table, &[1]);
    print(table)
}
