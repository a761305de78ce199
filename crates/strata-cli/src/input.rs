//! Input files for `strata append`: Parquet, CSV and newline-delimited JSON, decoded on a
//! background thread into the stream the library's writer consumes, so files larger than
//! memory stream through.
//!
//! CSV and JSON carry no types; their values are parsed as the table's column types, and only a
//! new table's types, and those of the columns `--schema-mode` adds, are inferred (from the
//! first 10,000 records). CSV columns are matched by header name (exactly, else
//! case-insensitively) or, without a header, by position. JSON fields are matched by name and read
//! strictly: a field the table lacks is an error (unless `--schema-mode` adds it), never
//! silently dropped, and a number that is not exactly an integer is refused for an integer
//! column rather than truncated. Decimals with more digits than the column's scale round half
//! up, as Spark's cast does; values that overflow the precision are refused. Parquet is passed
//! through as written; the library's writer casts it to the table schema or refuses it.
//!
//! An input is read more than once (its columns are inferred or checked before anything is
//! written, then it is loaded), so one that can be read only once (standard input as `-`, a
//! pipe, a device) is first copied, whole, to an unnamed temporary file: see [`Source`].

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use futures::StreamExt;
use indicatif::ProgressBar;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use strata::{RecordBatchStream, SchemaMode};

use crate::args::InputFormat;
use crate::error::{CliError, CliResult};

/// Records read to infer the types of a new table from CSV or JSON.
const INFER_RECORDS: usize = 10_000;
/// Rows per decoded batch.
const BATCH_ROWS: usize = 65_536;

/// How to read the input files.
#[derive(Debug, Clone, Copy)]
pub struct InputOptions {
    /// CSV delimiter, else `,` (tab for `.tsv`).
    pub delimiter: Option<char>,
    /// CSV files have a header row.
    pub header: bool,
    /// The write may change the table's schema (`append --schema-mode`): columns the table
    /// lacks are read with the types inferred for a new table rather than refused.
    pub schema_mode: Option<SchemaMode>,
}

/// The name standard input is given on the command line.
const STDIN: &str = "-";

/// An input named on the command line, with its format. A regular file is read where it is,
/// as often as needed. Standard input (`-`) and any other file that is not a regular file (a
/// pipe, `/dev/stdin`, a device) can be read only once: it is copied whole, when first named,
/// to an unnamed temporary file (removed by the system when the process ends, however it
/// ends), which is then read as often as needed.
#[derive(Debug, Clone)]
pub struct Source {
    /// The path as named (`-` for standard input), for its extension.
    path: PathBuf,
    /// How errors name it.
    name: String,
    format: InputFormat,
    /// The copy of a once-only input. Its handles share one file offset, so it is rewound
    /// before each read; the reads never overlap (inputs are opened, then decoded, in turn).
    spool: Option<Arc<File>>,
}

impl Source {
    /// The inputs named on the command line, in order: each one's format settled (from
    /// `format`, else its extension) before any is read, and each once-only input copied.
    ///
    /// # Errors
    /// A usage error when a format cannot be told or `-` is named twice; an I/O error when an
    /// input cannot be opened or copied.
    pub fn all(paths: &[PathBuf], format: Option<InputFormat>) -> CliResult<Vec<Source>> {
        if paths.iter().filter(|p| p.as_os_str() == STDIN).count() > 1 {
            return Err(CliError::Usage(
                "standard input (`-`) can be named only once".into(),
            ));
        }
        // Every format first: a usage error must not wait for standard input to end.
        let formats = paths
            .iter()
            .map(|path| match format {
                Some(f) => Ok(f),
                None => format_of(path),
            })
            .collect::<CliResult<Vec<_>>>()?;
        paths
            .iter()
            .zip(formats)
            .map(|(path, format)| Source::new(path, format))
            .collect()
    }

    fn new(path: &Path, format: InputFormat) -> CliResult<Source> {
        let mut source = Source {
            path: path.to_path_buf(),
            name: path.display().to_string(),
            format,
            spool: None,
        };
        if path.as_os_str() == STDIN {
            source.name = "standard input".into();
            source.spool = Some(Arc::new(source.copy(std::io::stdin().lock())?));
            return Ok(source);
        }
        let metadata = std::fs::metadata(path).map_err(|e| io_error(path, e))?;
        if metadata.is_dir() {
            return Err(source.io_error(std::io::Error::new(
                std::io::ErrorKind::IsADirectory,
                "it is a directory; name the files in it",
            )));
        }
        if !metadata.is_file() {
            let file = open(path)?;
            source.spool = Some(Arc::new(source.copy(file)?));
        }
        Ok(source)
    }

    /// Copies a once-only input to an unnamed temporary file.
    fn copy(&self, mut from: impl Read) -> CliResult<File> {
        let mut spool = tempfile::tempfile().map_err(|e| {
            self.io_error(std::io::Error::new(
                e.kind(),
                format!("cannot create a temporary file to hold it: {e}"),
            ))
        })?;
        std::io::copy(&mut from, &mut spool).map_err(|e| self.io_error(e))?;
        Ok(spool)
    }

    /// A handle reading the input from its start.
    fn reader(&self) -> CliResult<File> {
        match &self.spool {
            None => open(&self.path),
            Some(spool) => {
                let mut file = spool.try_clone().map_err(|e| self.io_error(e))?;
                file.seek(SeekFrom::Start(0))
                    .map_err(|e| self.io_error(e))?;
                Ok(file)
            }
        }
    }

    fn io_error(&self, source: std::io::Error) -> CliError {
        CliError::Io {
            path: self.name.clone(),
            source,
        }
    }
}

/// One input file, opened and understood.
#[derive(Debug, Clone)]
pub struct Input {
    source: Source,
    format: InputFormat,
    delimiter: u8,
    header: bool,
    /// The schema the batches are handed on with.
    schema: SchemaRef,
    /// The schema the decoder reads with: `schema`, except that JSON integer columns are read
    /// as text and cast exactly afterwards (the JSON decoder would truncate `5.9` to `5`).
    decode_schema: SchemaRef,
    /// Columns other inputs have and this one lacks, added to its batches as nulls
    /// ([`add_missing_columns`]).
    missing: Vec<FieldRef>,
    size: u64,
}

impl Input {
    /// Opens `path` and works out how to decode it: as the table's types when `table` is
    /// given, else as the file says (Parquet) or as inferred (CSV, JSON).
    pub fn open(
        source: &Source,
        options: InputOptions,
        table: Option<&Schema>,
    ) -> CliResult<Input> {
        let format = source.format;
        let delimiter = options.delimiter.unwrap_or_else(|| {
            let tsv = source
                .path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("tsv"));
            if tsv { '\t' } else { ',' }
        });
        let delimiter = u8::try_from(delimiter)
            .ok()
            .filter(u8::is_ascii)
            .ok_or_else(|| {
                CliError::Usage(format!(
                    "the CSV delimiter must be one ASCII character, got {delimiter:?}"
                ))
            })?;
        let file = source.reader()?;
        let size = file.metadata().map_err(|e| source.io_error(e))?.len();
        let mut input = Input {
            source: source.clone(),
            format,
            delimiter,
            header: options.header,
            schema: Arc::new(Schema::empty()),
            decode_schema: Arc::new(Schema::empty()),
            missing: Vec::new(),
            size,
        };
        let file_schema = input.file_schema(file)?;
        if let Some(table) = table {
            input.check_columns(&file_schema, table, options.schema_mode.is_some())?;
        }
        input.schema = Arc::new(match (format, table, options.schema_mode) {
            (InputFormat::Parquet, _, _) => file_schema,
            // Columns with no values to infer from are strings, as Spark infers them.
            (_, None, _) => nulls_as_strings(&file_schema),
            // Columns the table lacks keep their inferred types.
            (InputFormat::Csv, Some(table), mode) => {
                let schema = with_table_types(&file_schema, table, options.header);
                if mode.is_some() {
                    nulls_as_strings(&schema)
                } else {
                    schema
                }
            }
            // By name, every table column (a field first seen late in the file is still
            // known); strict decoding refuses fields the table lacks.
            (InputFormat::Json, Some(table), None) => nullable(table),
            // ... and the file's new fields, as inferred.
            (InputFormat::Json, Some(table), Some(SchemaMode::Merge)) => {
                let mut fields: Vec<Field> = nullable(table)
                    .fields()
                    .iter()
                    .map(|f| f.as_ref().clone())
                    .collect();
                fields.extend(
                    nulls_as_strings(&file_schema)
                        .fields()
                        .iter()
                        .filter(|f| table.field_with_name(f.name()).is_err())
                        .map(|f| f.as_ref().clone()),
                );
                Schema::new(fields)
            }
            // The file's fields only (they become the table's), with the table's types for
            // the columns it has.
            (InputFormat::Json, Some(table), Some(_)) => nullable(&map_fields(
                &nulls_as_strings(&file_schema),
                |f| match table.field_with_name(f.name()) {
                    Ok(t) => t.clone(),
                    Err(_) => f.clone(),
                },
            )),
        });
        if format == InputFormat::Csv
            && let Some(nested) = input
                .schema
                .fields()
                .iter()
                .find(|f| f.data_type().is_nested())
        {
            return Err(input.error(format!(
                "CSV cannot hold column `{}`, which the table has as a nested type; write it from JSON or Parquet",
                nested.name()
            )));
        }
        input.decode_schema = match format {
            InputFormat::Json => Arc::new(integers_as_text(&input.schema)),
            _ => input.schema.clone(),
        };
        Ok(input)
    }

    /// The schema the file is decoded with.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// A decoded batch with the columns of [`add_missing_columns`], as nulls.
    fn with_missing(&self, batch: RecordBatch) -> CliResult<RecordBatch> {
        if self.missing.is_empty() {
            return Ok(batch);
        }
        let mut fields = batch.schema().fields().to_vec();
        let mut columns = batch.columns().to_vec();
        for field in &self.missing {
            fields.push(field.clone());
            columns.push(arrow::array::new_null_array(
                field.data_type(),
                batch.num_rows(),
            ));
        }
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(|e| self.error(e))
    }

    fn display(&self) -> String {
        self.source.name.clone()
    }

    fn error(&self, reason: impl std::fmt::Display) -> CliError {
        CliError::Input {
            path: self.display(),
            reason: reason.to_string(),
        }
    }

    /// Refuses a file with columns the table lacks before anything is written, even when the
    /// file has no rows to show it; unless `evolve` (named columns then become the table's).
    fn check_columns(&self, file: &Schema, table: &Schema, evolve: bool) -> CliResult<()> {
        let positional = self.format == InputFormat::Csv && !self.header;
        if positional {
            if file.fields().len() > table.fields().len() {
                return Err(self.error(format!(
                    "it has {} columns and the table {}",
                    file.fields().len(),
                    table.fields().len()
                )));
            }
            return Ok(());
        }
        if evolve {
            return Ok(());
        }
        let csv = self.format == InputFormat::Csv;
        let unknown: Vec<&str> = file
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .filter(|name| table_field(table, name, csv).is_none())
            .collect();
        if unknown.is_empty() {
            return Ok(());
        }
        let columns: Vec<&str> = table.fields().iter().map(|f| f.name().as_str()).collect();
        Err(self.error(format!(
            "column(s) {} are not in the table, whose columns are {}; nothing was written",
            unknown
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", "),
            columns.join(", ")
        )))
    }

    fn file_schema(&self, mut file: File) -> CliResult<Schema> {
        match self.format {
            InputFormat::Parquet => ParquetRecordBatchReaderBuilder::try_new(file)
                .map(|b| b.schema().as_ref().clone())
                .map_err(|e| self.error(format!("not a readable Parquet file ({e})"))),
            InputFormat::Csv => {
                let (schema, _) = arrow::csv::reader::Format::default()
                    .with_header(self.header)
                    .with_delimiter(self.delimiter)
                    .infer_schema(BufReader::new(&mut file), Some(INFER_RECORDS))
                    .map_err(|e| self.locate_csv(0, e))?;
                self.zoned_timestamps(schema)
            }
            InputFormat::Json => {
                let (schema, _) = arrow::json::reader::infer_json_schema_from_seekable(
                    BufReader::new(&mut file),
                    Some(INFER_RECORDS),
                )
                .map_err(|e| match self.find_bad_json_syntax() {
                    Some(located) => {
                        self.error(format!("not newline-delimited JSON objects: {located}"))
                    }
                    None => self.error(format!("not newline-delimited JSON objects ({e})")),
                })?;
                Ok(schema)
            }
        }
    }

    /// Arrow infers `2026-03-01T10:00:00Z` and `…+01:00` as a timestamp without a zone, which
    /// would drop the zone and make the column `timestamp_ntz` (forcing writer version 7). A
    /// column whose sampled values carry a zone (a `Z` or an offset after the time) is instead
    /// a UTC `timestamp`, each value adjusted to UTC as it is parsed (a value without a zone
    /// among them reads as UTC). Columns whose values all lack a zone stay `timestamp_ntz`.
    fn zoned_timestamps(&self, schema: Schema) -> CliResult<Schema> {
        let candidates: Vec<usize> = (0..schema.fields().len())
            .filter(|&i| matches!(schema.field(i).data_type(), DataType::Timestamp(_, None)))
            .collect();
        if candidates.is_empty() {
            return Ok(schema);
        }
        // The sampled records again, as text (a record that does not decode is left for the
        // load to report, with its line).
        let text = map_fields(&schema, |f| f.clone().with_data_type(DataType::Utf8));
        let sample = arrow::csv::ReaderBuilder::new(Arc::new(text))
            .with_header(self.header)
            .with_delimiter(self.delimiter)
            .with_batch_size(INFER_RECORDS)
            .build(BufReader::new(self.source.reader()?))
            .ok()
            .and_then(|mut reader| reader.next())
            .and_then(Result::ok);
        let Some(sample) = sample else {
            return Ok(schema);
        };
        let zoned: Vec<usize> = candidates
            .into_iter()
            .filter(|&i| {
                sample
                    .column(i)
                    .as_any()
                    .downcast_ref::<arrow::array::StringArray>()
                    .is_some_and(|values| values.iter().flatten().any(has_zone))
            })
            .collect();
        let fields: Vec<Field> = schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| match f.data_type() {
                DataType::Timestamp(unit, None) if zoned.contains(&i) => f
                    .as_ref()
                    .clone()
                    .with_data_type(DataType::Timestamp(*unit, Some("UTC".into()))),
                _ => f.as_ref().clone(),
            })
            .collect();
        Ok(Schema::new_with_metadata(fields, schema.metadata().clone()))
    }

    /// Casts columns decoded as text to their types, refusing any value that does not
    /// convert exactly (`5.9` into a long column).
    fn exact_types(&self, batch: RecordBatch) -> CliResult<RecordBatch> {
        if self.decode_schema == self.schema {
            return Ok(batch);
        }
        let exact = arrow::compute::CastOptions {
            safe: false,
            ..Default::default()
        };
        let columns = batch
            .columns()
            .iter()
            .zip(self.schema.fields())
            .map(|(column, field)| {
                if column.data_type() == field.data_type() {
                    return Ok(column.clone());
                }
                arrow::compute::cast_with_options(column, field.data_type(), &exact).map_err(|e| {
                    self.error(format!(
                        "column `{}` is {}: {e}",
                        field.name(),
                        field.data_type()
                    ))
                })
            })
            .collect::<CliResult<Vec<_>>>()?;
        RecordBatch::try_new(self.schema.clone(), columns).map_err(|e| self.error(e))
    }

    /// Decodes the file, sending each batch; stops early when the receiver is gone.
    fn decode(
        &self,
        progress: &ProgressBar,
        send: &mut dyn FnMut(RecordBatch) -> bool,
    ) -> CliResult<()> {
        let file = self.source.reader()?;
        let start = progress.position();
        match self.format {
            InputFormat::Parquet => {
                let builder =
                    ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| self.error(e))?;
                let rows = builder.metadata().file_metadata().num_rows().max(1) as u64;
                let reader = builder
                    .with_batch_size(BATCH_ROWS)
                    .build()
                    .map_err(|e| self.error(e))?;
                let mut done = 0u64;
                for batch in reader {
                    let batch = batch.map_err(|e| self.error(e))?;
                    done += batch.num_rows() as u64;
                    let part =
                        u128::from(self.size) * u128::from(done.min(rows)) / u128::from(rows);
                    progress.set_position(start + u64::try_from(part).unwrap_or(self.size));
                    if !send(self.with_missing(batch)?) {
                        return Ok(());
                    }
                }
            }
            InputFormat::Csv => {
                let reader = arrow::csv::ReaderBuilder::new(self.schema.clone())
                    .with_header(self.header)
                    .with_delimiter(self.delimiter)
                    .with_batch_size(BATCH_ROWS)
                    .build(BufReader::new(Counting::new(file, progress)))
                    .map_err(|e| self.error(e))?;
                let mut rows = 0;
                for batch in reader {
                    let batch = batch.map_err(|e| self.locate_csv(rows, e))?;
                    rows += batch.num_rows();
                    if !send(self.with_missing(batch)?) {
                        return Ok(());
                    }
                }
            }
            InputFormat::Json => {
                let reader = arrow::json::ReaderBuilder::new(self.decode_schema.clone())
                    .with_strict_mode(true)
                    .with_coerce_primitive(true)
                    .with_batch_size(BATCH_ROWS)
                    .build(BufReader::new(Counting::new(file, progress)))
                    .map_err(|e| self.error(e))?;
                let mut rows = 0;
                for batch in reader {
                    let batch = batch
                        .map_err(|e| self.error(e))
                        .and_then(|batch| self.exact_types(batch))
                        .map_err(|e| self.locate_json(rows, e))?;
                    rows += batch.num_rows();
                    if !send(self.with_missing(batch)?) {
                        return Ok(());
                    }
                }
            }
        }
        progress.set_position(start + self.size);
        Ok(())
    }
}

/// Finding the line of a decoding error. Arrow reports a CSV error at a record count (not a
/// line of the file: a header and quoted newlines shift them) with the column's 0-based index,
/// and a JSON error without a line at all. The decoding error stops the write, so the file is
/// read again from its start, record by record, to the first bad record of the failed batch:
/// its 1-based line in the file (counting a CSV header) and the column by name.
impl Input {
    /// The CSV error in the batch after the first `rows_before` data records.
    fn locate_csv(&self, rows_before: usize, error: arrow::error::ArrowError) -> CliError {
        match self.find_bad_csv_record(rows_before) {
            Some(located) => self.error(format!("{located}; fix it, nothing was written")),
            None if rows_before == 0 => self.error(error),
            None => self.error(format!(
                "{error} (in the rows after the first {rows_before})"
            )),
        }
    }

    fn find_bad_csv_record(&self, rows_before: usize) -> Option<String> {
        let file = self.source.reader().ok()?;
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(self.header)
            .delimiter(self.delimiter)
            .from_reader(BufReader::new(file));
        let width = self.schema.fields().len();
        let mut record = csv::ByteRecord::new();
        // A batch at most: the failing record is in the batch after `rows_before`.
        for index in 0..=rows_before + BATCH_ROWS {
            match reader.read_byte_record(&mut record) {
                Ok(true) => {}
                Ok(false) => return None,
                Err(e) => {
                    let line = e.position().map_or(0, csv::Position::line);
                    return Some(match e.kind() {
                        csv::ErrorKind::UnequalLengths {
                            expected_len, len, ..
                        } => format!(
                            "line {line}: {len} fields where the {} has {expected_len}",
                            if self.header { "header" } else { "first row" }
                        ),
                        csv::ErrorKind::Utf8 { err, .. } => format!(
                            "line {line}: field {} is not UTF-8",
                            self.column_name(err.field())
                        ),
                        _ => format!("line {line}: {e}"),
                    });
                }
            }
            let line = record.position().map_or(0, csv::Position::line);
            // (No width before the columns are inferred.)
            if width > 0 && record.len() != width {
                return Some(format!(
                    "line {line}: {} fields where the table has {width} columns",
                    record.len()
                ));
            }
            if index < rows_before {
                continue;
            }
            if let Some(problem) = self.bad_csv_value(&record) {
                return Some(format!("line {line}, {problem}"));
            }
        }
        None
    }

    /// The first value of `record` that does not parse as its column's type.
    fn bad_csv_value(&self, record: &csv::ByteRecord) -> Option<String> {
        for (field, value) in self.schema.fields().iter().zip(record.iter()) {
            if field.data_type() == &DataType::Utf8 {
                continue;
            }
            // The value alone, quoted, through the same parser.
            let text = String::from_utf8_lossy(value);
            let quoted = format!("\"{}\"\n", text.replace('"', "\"\""));
            let schema = Schema::new(vec![field.as_ref().clone().with_nullable(true)]);
            let parsed = arrow::csv::ReaderBuilder::new(Arc::new(schema))
                .with_header(false)
                .build(quoted.as_bytes())
                .map(|mut reader| reader.next().transpose());
            if let Ok(Err(e)) | Err(e) = parsed {
                let reason = match e {
                    arrow::error::ArrowError::ParseError(_)
                    | arrow::error::ArrowError::CsvError(_) => String::new(),
                    other => format!(" ({other})"),
                };
                return Some(format!(
                    "column `{}`: {text:?} is not a valid {}{reason}",
                    field.name(),
                    field.data_type()
                ));
            }
        }
        None
    }

    /// A CSV column by its name in the file (or its 1-based position without a header).
    fn column_name(&self, index: usize) -> String {
        match self.schema.fields().get(index) {
            Some(field) if self.header => format!("`{}`", field.name()),
            _ => format!("{}", index + 1),
        }
    }

    /// The JSON error in the batch after the first `rows_before` records.
    fn locate_json(&self, rows_before: usize, error: CliError) -> CliError {
        match self.find_bad_json_record(rows_before) {
            Some(located) => self.error(format!("{located}; fix it, nothing was written")),
            None => error,
        }
    }

    /// NDJSON holds one record per line: each line of the failed batch decoded alone.
    fn find_bad_json_record(&self, rows_before: usize) -> Option<String> {
        use std::io::BufRead;
        let mut reader = BufReader::new(self.source.reader().ok()?);
        let mut text = Vec::new();
        let mut records = 0;
        for line in 1.. {
            text.clear();
            if reader.read_until(b'\n', &mut text).ok()? == 0 || records > rows_before + BATCH_ROWS
            {
                return None;
            }
            if text.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            records += 1;
            if records <= rows_before {
                continue;
            }
            if let Err(reason) = self.decode_json_line(&text) {
                return Some(format!("line {line}: {reason}"));
            }
        }
        None
    }

    /// The first line that is not a JSON object, with where on it the parser gave up (the
    /// schema inference's own error counts lines within a record, not the file).
    fn find_bad_json_syntax(&self) -> Option<String> {
        use std::io::BufRead;
        let mut reader = BufReader::new(self.source.reader().ok()?);
        let mut text = Vec::new();
        for line in 1..=INFER_RECORDS * 2 {
            text.clear();
            if reader.read_until(b'\n', &mut text).ok()? == 0 {
                return None;
            }
            if text.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<serde_json::Value>(&text) {
                Ok(serde_json::Value::Object(_)) => {}
                Ok(_) => return Some(format!("line {line} is not a JSON object")),
                Err(e) => {
                    // serde's message ends with the place within this one line.
                    let message = e.to_string();
                    let message = message
                        .rfind(" at line ")
                        .map_or(message.as_str(), |end| &message[..end]);
                    return Some(format!("line {line}, column {}: {message}", e.column()));
                }
            }
        }
        None
    }

    fn decode_json_line(&self, text: &[u8]) -> Result<(), String> {
        let mut decoder = arrow::json::ReaderBuilder::new(self.decode_schema.clone())
            .with_strict_mode(true)
            .with_coerce_primitive(true)
            .with_batch_size(1)
            .build_decoder()
            .map_err(|e| e.to_string())?;
        decoder.decode(text).map_err(|e| e.to_string())?;
        let batch = match decoder.flush().map_err(|e| e.to_string())? {
            Some(batch) => batch,
            None => return Ok(()),
        };
        match self.exact_types(batch) {
            Ok(_) => Ok(()),
            Err(CliError::Input { reason, .. }) => Err(reason),
            Err(other) => Err(other.to_string()),
        }
    }
}

/// Every input's columns, by name in the order first seen (the first input's type for a
/// column several have), all nullable: the schema of a new table made from inputs whose
/// columns differ.
pub fn all_columns(schemas: &[SchemaRef]) -> Schema {
    let mut fields: Vec<Field> = Vec::new();
    for schema in schemas {
        for field in schema.fields() {
            if !fields.iter().any(|f| f.name() == field.name()) {
                fields.push(field.as_ref().clone().with_nullable(true));
            }
        }
    }
    Schema::new(fields)
}

/// Gives each input the columns other inputs have and it lacks, as nulls. A write that
/// changes the schema takes the new columns from the first batch it sees, so every batch
/// names every column of every input.
pub fn add_missing_columns(inputs: &mut [Input]) {
    let schemas: Vec<SchemaRef> = inputs.iter().map(Input::schema).collect();
    let all = all_columns(&schemas);
    for input in inputs {
        input.missing = all
            .fields()
            .iter()
            .filter(|f| input.schema.field_with_name(f.name()).is_err())
            .cloned()
            .collect();
    }
}

/// Total bytes of the inputs, for the progress bar.
pub fn total_size(inputs: &[Input]) -> u64 {
    inputs.iter().map(|i| i.size).sum()
}

/// Where a decoding error is kept: the writer sees a placeholder error that stops the write,
/// and the command reports this one, which names the file.
pub type DecodeFailure = Arc<Mutex<Option<CliError>>>;

/// Streams the batches of every input in order, decoding on a background thread one batch
/// ahead of the writer.
pub fn stream(
    inputs: Vec<Input>,
    progress: ProgressBar,
    allow_empty: bool,
) -> (RecordBatchStream, DecodeFailure) {
    let failure: DecodeFailure = Arc::default();
    let (tx, rx) = tokio::sync::mpsc::channel::<strata::Result<RecordBatch>>(2);
    let slot = failure.clone();
    // Set once every input is decoded: a channel closed without it (the thread died) is an
    // error, never the end of the input, so a partial input is never committed.
    let finished = Arc::new(AtomicBool::new(false));
    let done = finished.clone();
    std::thread::spawn(move || {
        let mut rows = 0usize;
        for input in &inputs {
            let mut send = |batch: RecordBatch| {
                rows += batch.num_rows();
                tx.blocking_send(Ok(batch)).is_ok()
            };
            if let Err(e) = input.decode(&progress, &mut send) {
                let placeholder = strata::Error::InvalidArgument(e.to_string());
                if let Ok(mut slot) = slot.lock() {
                    *slot = Some(e);
                }
                let _ = tx.blocking_send(Err(placeholder));
                return;
            }
        }
        // An input without rows is most often a truncated export: refused, unless asked for.
        if rows == 0 && !allow_empty {
            let names: Vec<String> = inputs.iter().map(Input::display).collect();
            let e = CliError::Input {
                path: names.join(", "),
                reason: "it holds no rows (a truncated export?); nothing was committed; pass --allow-empty to commit an empty version anyway".into(),
            };
            let placeholder = strata::Error::InvalidArgument(e.to_string());
            if let Ok(mut slot) = slot.lock() {
                *slot = Some(e);
            }
            let _ = tx.blocking_send(Err(placeholder));
            return;
        }
        done.store(true, Ordering::SeqCst);
    });
    let stream = futures::stream::unfold(Some(rx), move |rx| {
        let finished = finished.clone();
        async move {
            let mut rx = rx?;
            match rx.recv().await {
                Some(item) => Some((item, Some(rx))),
                None if finished.load(Ordering::SeqCst) => None,
                None => Some((
                    Err(strata::Error::InvalidArgument(
                        "reading the input files stopped unexpectedly; nothing was written".into(),
                    )),
                    None,
                )),
            }
        }
    });
    (stream.boxed(), failure)
}

fn format_of(path: &Path) -> CliResult<InputFormat> {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match extension.as_str() {
        "parquet" | "pq" => Ok(InputFormat::Parquet),
        "csv" | "tsv" => Ok(InputFormat::Csv),
        "json" | "jsonl" | "ndjson" => Ok(InputFormat::Json),
        _ if path.as_os_str() == STDIN => Err(CliError::Usage(
            "standard input (`-`) has no extension to tell its format; pass --input-format parquet|csv|json".into(),
        )),
        _ => Err(CliError::Usage(format!(
            "cannot tell the format of {} from its extension; pass --input-format parquet|csv|json",
            path.display()
        ))),
    }
}

fn open(path: &Path) -> CliResult<File> {
    File::open(path).map_err(|e| io_error(path, e))
}

fn io_error(path: &Path, source: std::io::Error) -> CliError {
    CliError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Whether a timestamp's text ends in a zone: `Z`, or an offset (`+01:00`, `-0500`) after
/// the time (which starts after the 10-character date).
fn has_zone(value: &str) -> bool {
    let value = value.trim();
    value.ends_with(['Z', 'z'])
        || value
            .get(11..)
            .is_some_and(|time| time.contains(['+', '-']))
}

/// Every field nullable: the decoder must not refuse a missing value before the writer can
/// report it against the table's constraints.
fn nullable(schema: &Schema) -> Schema {
    map_fields(schema, |f| f.clone().with_nullable(true))
}

/// `schema` with every top-level field replaced by `change(field)`.
fn map_fields(schema: &Schema, change: impl Fn(&Field) -> Field) -> Schema {
    Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| change(f))
            .collect::<Vec<_>>(),
    )
}

fn nulls_as_strings(schema: &Schema) -> Schema {
    map_fields(schema, |f| match f.data_type() {
        DataType::Null => f.clone().with_data_type(DataType::Utf8),
        _ => f.clone(),
    })
}

/// Top-level integer columns as text, to be cast exactly after decoding.
fn integers_as_text(schema: &Schema) -> Schema {
    map_fields(schema, |f| {
        if f.data_type().is_integer() {
            f.clone().with_data_type(DataType::Utf8)
        } else {
            f.clone()
        }
    })
}

/// The table column a file column names: exactly, else (when `ignore_case`) the one column
/// whose name differs only in case.
fn table_field<'a>(table: &'a Schema, name: &str, ignore_case: bool) -> Option<&'a Field> {
    if let Ok(field) = table.field_with_name(name) {
        return Some(field);
    }
    if !ignore_case {
        return None;
    }
    let mut matches = table
        .fields()
        .iter()
        .filter(|t| t.name().eq_ignore_ascii_case(name));
    match (matches.next(), matches.next()) {
        (Some(only), None) => Some(only.as_ref()),
        _ => None,
    }
}

/// The file's columns with the table's types: by name (exactly, else the one
/// case-insensitive match), or by position when the file has no header. A column the table
/// lacks keeps its inferred type, so that the writer names it in its schema error.
fn with_table_types(file: &Schema, table: &Schema, header: bool) -> Schema {
    let fields: Vec<Field> = file
        .fields()
        .iter()
        .enumerate()
        .map(|(i, field)| {
            let target = if header {
                table_field(table, field.name(), true)
            } else {
                table.fields().get(i).map(|f| f.as_ref())
            };
            match target {
                Some(t) => t.clone().with_nullable(true),
                None => field.as_ref().clone(),
            }
        })
        .collect();
    Schema::new(fields)
}

/// A reader that advances a progress bar by the bytes it reads.
struct Counting<'a> {
    inner: File,
    progress: &'a ProgressBar,
}

impl<'a> Counting<'a> {
    fn new(inner: File, progress: &'a ProgressBar) -> Counting<'a> {
        Counting { inner, progress }
    }
}

impl Read for Counting<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.inc(n as u64);
        Ok(n)
    }
}
