//! `strata scan`: rows in a choice of formats, to standard output or a file that appears
//! only when complete.

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use futures::TryStreamExt;
use strata::scan::ScanMetrics;

use super::Context;
use crate::args::{ScanArgs, ScanFormat};
use crate::error::{CliError, CliResult};
use crate::output;

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
