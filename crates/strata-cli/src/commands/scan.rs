//! `strata scan`: rows in a choice of formats, to standard output or a file that appears
//! only when complete.

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use futures::{StreamExt, TryStreamExt};
use strata::ScanMetrics;

use super::Context;
use crate::args::{ChangesArgs, DiffArgs, ScanArgs, ScanFormat};
use crate::error::{CliError, CliResult};
use crate::output;

/// Rows `scan --format table` shows when no `--limit` is given (Spark's `show()` shows 20).
pub(super) const DEFAULT_TABLE_ROWS: u64 = 100;

/// `strata scan`.
pub async fn scan(ctx: &Context, args: ScanArgs) -> CliResult {
    let format = if args.json {
        ScanFormat::Jsonl
    } else {
        args.format
    };
    check_parquet_target(format, args.output.as_deref())?;
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
    emit(
        format,
        args.output.as_deref(),
        plan.output_schema(),
        plan.execute()?,
        table_rows,
    )
    .await?;
    if args.metrics {
        eprintln!("{}", metrics_line(&plan.metrics()));
    }
    Ok(())
}

/// `strata changes`: the change data feed, in the formats of `scan`.
pub async fn changes(ctx: &Context, args: ChangesArgs) -> CliResult {
    let format = if args.json {
        ScanFormat::Jsonl
    } else {
        args.format
    };
    check_parquet_target(format, args.output.as_deref())?;
    let table = ctx.table(&args.table).await?;
    let mut builder = table.changes();
    match (args.from, args.from_timestamp) {
        (Some(v), _) => builder = builder.from_version(v),
        (None, Some(t)) => builder = builder.from_timestamp(t),
        (None, None) => {}
    }
    match (args.to, args.to_timestamp) {
        (Some(v), _) => builder = builder.to_version(v),
        (None, Some(t)) => builder = builder.to_timestamp(t),
        (None, None) => {}
    }
    if !args.columns.is_empty() {
        builder = builder.with_columns(args.columns.iter().map(|c| c.trim()));
    }
    if let Some(filter) = args.filter {
        builder = builder.with_filter(filter);
    }
    let table_rows =
        (format == ScanFormat::Table && args.limit.is_none()).then_some(DEFAULT_TABLE_ROWS);
    let plan = builder.plan().await?;
    let mut rows = plan.execute()?;
    if let Some(limit) = args.limit.or(table_rows.map(|n| n + 1)) {
        rows = limit_rows(rows, limit);
    }
    emit(
        format,
        args.output.as_deref(),
        plan.output_schema(),
        rows,
        table_rows,
    )
    .await
}

/// `strata diff --rows`: the rows two versions do not share, after a summary line (on
/// standard error unless the rows go to a table on standard output).
pub async fn diff_rows(ctx: &Context, args: DiffArgs) -> CliResult {
    let format = match (args.json, args.format) {
        (true, _) => ScanFormat::Jsonl,
        (false, format) => format.unwrap_or(ScanFormat::Table),
    };
    check_parquet_target(format, args.output.as_deref())?;
    let table = ctx.table(&args.table).await?;
    let latest = table.snapshot().await?;
    let from = super::read::resolve_version(&table, &args.from).await?;
    let to = match &args.to {
        Some(to) => super::read::resolve_version(&table, to).await?,
        None => latest.version(),
    };
    let mut builder = table.diff_rows(from, to);
    if !args.key.is_empty() {
        builder = builder.with_key(args.key.iter().map(|c| c.trim()));
    }
    let diff = builder.execute().await?;
    let summary = diff_summary(&diff);
    let table_rows =
        (format == ScanFormat::Table && args.limit.is_none()).then_some(DEFAULT_TABLE_ROWS);
    if format == ScanFormat::Table && args.output.is_none() {
        println!("{summary}");
        if diff.is_empty() {
            return Ok(());
        }
    } else {
        eprintln!("{summary}");
    }
    let mut rows = futures::stream::iter(diff.batches.into_iter().map(Ok)).boxed();
    if let Some(limit) = args.limit.or(table_rows.map(|n| n + 1)) {
        rows = limit_rows(rows, limit);
    }
    emit(
        format,
        args.output.as_deref(),
        diff.schema,
        rows,
        table_rows,
    )
    .await
}

/// `version 3 -> 5: 2 rows inserted, 1 deleted, 1 updated (from 2 changed files)`.
fn diff_summary(diff: &strata::RowDiff) -> String {
    let source = match diff.source {
        strata::RowDiffSource::ChangeDataFeed => "read from the change data feed",
        strata::RowDiffSource::Files => "read from the data files that differ",
    };
    if diff.is_empty() {
        return format!(
            "version {} -> {}: the two versions hold the same rows ({source})",
            diff.from, diff.to
        );
    }
    format!(
        "version {} -> {}: {} inserted, {} deleted, {} updated ({source})",
        diff.from,
        diff.to,
        output::plural(diff.inserted as i64, "row"),
        output::count(diff.deleted as i64),
        output::count(diff.updated as i64),
    )
}

/// At most `limit` rows of a stream.
pub(super) fn limit_rows(rows: strata::RecordBatchStream, limit: u64) -> strata::RecordBatchStream {
    let mut remaining = limit;
    rows.try_take_while(move |_| futures::future::ready(Ok(remaining > 0)))
        .map_ok(move |batch| {
            let take = (batch.num_rows() as u64).min(remaining);
            remaining -= take;
            batch.slice(0, usize::try_from(take).unwrap_or(usize::MAX))
        })
        .boxed()
}

/// Refuses Parquet to a terminal.
pub(super) fn check_parquet_target(format: ScanFormat, output: Option<&Path>) -> CliResult {
    if format == ScanFormat::Parquet && output.is_none() && std::io::stdout().is_terminal() {
        return Err(CliError::Usage(
            "Parquet is binary; pass --output PATH or redirect standard output".into(),
        ));
    }
    Ok(())
}

/// Writes rows to `output` (standard output when `None`), the file appearing only when
/// complete.
pub(super) async fn emit(
    format: ScanFormat,
    output: Option<&Path>,
    schema: SchemaRef,
    rows: strata::RecordBatchStream,
    table_rows: Option<u64>,
) -> CliResult {
    let (target, sink) = Target::open(output)?;
    match write_rows(format, &target, sink, schema, rows, table_rows).await {
        Ok(()) => target.finish(),
        Err(e) => {
            target.discard();
            Err(e)
        }
    }
}

/// Where scan output goes: standard output; a regular file (new, or through symlinks the file
/// they name) written under a temporary name beside it and renamed when complete, so a failed
/// scan leaves no partial file behind and the symlinks stay; or, written in place, anything
/// else (`/dev/stdout`, a named pipe, a device), which a rename would replace by a file.
struct Target {
    name: String,
    /// The temporary file and the path it is renamed to, for a regular file.
    file: Option<(PathBuf, PathBuf)>,
    /// The first write error the sink met: encoders report it in their own error types,
    /// some (CSV) only as text, so this is what says a failure was the output's.
    io_error: Arc<Mutex<Option<std::io::Error>>>,
}

/// The writer scan output is encoded into.
type Sink = BufWriter<Box<dyn Write + Send>>;

/// Symlinks followed to find an output file (Linux's own limit).
const MAX_SYMLINKS: usize = 40;

/// How output named by a path is written.
#[derive(Debug, PartialEq)]
enum Placement {
    /// Under a temporary name beside this path, then renamed to it.
    Renamed(PathBuf),
    /// Opened and written where it is.
    InPlace,
}

/// Follows `path`'s symlinks: to a regular file or to nothing (a new file), which is
/// [`Placement::Renamed`]; to anything else, or to an open file named under `/proc`
/// (`/dev/stdout` is a link to `/proc/self/fd/1`), which is [`Placement::InPlace`].
fn placement(path: &Path) -> std::io::Result<Placement> {
    let mut current = path.to_path_buf();
    for _ in 0..MAX_SYMLINKS {
        let metadata = match std::fs::symlink_metadata(&current) {
            Ok(metadata) => metadata,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Placement::Renamed(current));
            }
            Err(e) => return Err(e),
        };
        if metadata.file_type().is_symlink() {
            let parent = current
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let target = parent.join(std::fs::read_link(&current)?);
            // The link of an open file (`/proc/self/fd/1`, reached through `/dev/stdout` or
            // `/dev/fd/1`) names no place to rename into.
            let open_file = target.starts_with("/proc")
                || std::fs::canonicalize(parent).is_ok_and(|p| p.starts_with("/proc"));
            if open_file {
                return Ok(Placement::InPlace);
            }
            current = target;
            continue;
        }
        return Ok(if metadata.is_file() {
            Placement::Renamed(current)
        } else {
            Placement::InPlace
        });
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        format!("more than {MAX_SYMLINKS} symbolic links to follow"),
    ))
}

impl Target {
    fn open(path: Option<&Path>) -> CliResult<(Target, Sink)> {
        let io_error = Arc::new(Mutex::new(None));
        let Some(path) = path else {
            let target = Target {
                name: "standard output".into(),
                file: None,
                io_error: io_error.clone(),
            };
            let sink = Recording::sink(std::io::stdout(), io_error);
            return Ok((target, sink));
        };
        let name = path.display().to_string();
        let failed = |source| CliError::Io {
            path: name.clone(),
            source,
        };
        let (file, renamed) = match placement(path).map_err(failed)? {
            Placement::InPlace => (File::create(path).map_err(failed)?, None),
            Placement::Renamed(real) => {
                let mut temp = real.as_os_str().to_owned();
                temp.push(format!(".strata-{}.tmp", std::process::id()));
                let temp = PathBuf::from(temp);
                (File::create(&temp).map_err(failed)?, Some((temp, real)))
            }
        };
        let target = Target {
            name,
            file: renamed,
            io_error: io_error.clone(),
        };
        Ok((target, Recording::sink(file, io_error)))
    }

    fn io_error(&self, source: std::io::Error) -> CliError {
        CliError::Io {
            path: self.name.clone(),
            source,
        }
    }

    /// An encoder's failure: the output's own I/O error (a closed pipe, a full disk) when the
    /// sink met one, else the encoder's.
    fn encode_error(&self, format: &'static str, error: impl std::fmt::Display) -> CliError {
        match self.io_error.lock().ok().and_then(|mut e| e.take()) {
            Some(io) => self.io_error(io),
            None => CliError::Output {
                format,
                reason: error.to_string(),
            },
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

/// A writer that keeps the first error it returned, for [`Target::encode_error`].
struct Recording<W> {
    inner: W,
    error: Arc<Mutex<Option<std::io::Error>>>,
}

impl<W: Write + Send + 'static> Recording<W> {
    fn sink(inner: W, error: Arc<Mutex<Option<std::io::Error>>>) -> Sink {
        BufWriter::new(Box::new(Recording { inner, error }))
    }
}

impl<W> Recording<W> {
    fn record<T>(&self, result: std::io::Result<T>) -> std::io::Result<T> {
        if let Err(e) = &result
            && let Ok(mut slot) = self.error.lock()
            && slot.is_none()
        {
            *slot = Some(std::io::Error::new(e.kind(), e.to_string()));
        }
        result
    }
}

impl<W: Write> Write for Recording<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let result = self.inner.write(buf);
        self.record(result)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let result = self.inner.flush();
        self.record(result)
    }
}

async fn write_rows(
    format: ScanFormat,
    target: &Target,
    mut sink: Sink,
    schema: SchemaRef,
    mut batches: strata::RecordBatchStream,
    table_rows: Option<u64>,
) -> CliResult {
    match format {
        ScanFormat::Table => {
            let all: Vec<RecordBatch> = batches.try_collect().await?;
            let text = render_table(&schema, &all, table_rows)?;
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
