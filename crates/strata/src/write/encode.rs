//! Parquet encoding for the write path: one open file per partition, each row group's columns
//! (and, beside them, each column's statistics) encoded on several threads.
//!
//! Pure CPU, no I/O and no async: the caller feeds conformed batches already split by
//! partition ([`Encoder::write`]) and uploads the finished files the encoder hands back, while
//! later input is still being encoded. Memory is bounded: each partition holds its open file
//! (the row groups written so far and one being encoded) and a little pending input
//! ([`PENDING_BYTES`]), and when the open files together exceed
//! [`EncoderOptions::max_buffered_bytes`] the largest are finished early.
//!
//! A file is what [`ArrowWriter`] would write for the same rows, except where pages are cut:
//! the writer is built by `ArrowWriter` (so the Parquet schema and the footer's `ARROW:schema`
//! entry are the same) and then driven column by column through parquet's column-parallel
//! API (`ArrowColumnWriter`, `compute_leaves`, `ArrowColumnChunk::append_to_row_group`).
//!
//! The encoder works in rounds: each partition with enough input takes a step of it (sized to
//! end its file near the target size, and never past the end of its row group), and all
//! columns of all those partitions are encoded as tasks shared by at most
//! [`EncoderOptions::threads`] threads, so many partitions never mean many threads.

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::ops::Range;
use std::sync::{Arc, Mutex, PoisonError};

use crate::storage::PutPayload;
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::{
    ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory, ArrowWriterOptions, PageKey,
    PageStore, PageStoreArgs, PageStoreFactory, compute_leaves,
};
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;

use crate::error::{Error, Result};
use crate::protocol::partition::PartitionValues;
use crate::stats::{ColumnStats, IndexedColumns, StatsCollector};

/// Rows a partition collects before it encodes a step (fewer when its row group has less room
/// left).
const DUE_ROWS: usize = 64 * 1024;
/// Input a partition holds before it is encoded even if it has fewer than [`DUE_ROWS`] rows.
/// Counted as the Arrow memory its batches keep alive (a slice counts its whole buffers), so
/// this also bounds what pending slices pin of the caller's batches.
const PENDING_BYTES: usize = 16 * 1024 * 1024;
/// The smallest step sized to end a file at its target size.
const MIN_STEP_ROWS: usize = 1024;
/// A step with less input than this runs on the calling thread: spawning threads would cost
/// more than it saves.
const PARALLEL_MIN_BYTES: usize = 1024 * 1024;

/// How the encoder lays out files.
#[derive(Debug, Clone)]
pub(crate) struct EncoderOptions {
    /// The Arrow schema of the data files (the table schema without partition columns).
    pub schema: SchemaRef,
    pub properties: WriterProperties,
    pub indexed: IndexedColumns,
    pub row_group_rows: usize,
    pub target_file_size: u64,
    /// Most bytes the open files of all partitions may hold together before the largest are
    /// finished early.
    pub max_buffered_bytes: u64,
    /// Threads a step may use, the calling one included.
    pub threads: usize,
}

/// A finished data file, ready to upload.
#[derive(Debug)]
pub(crate) struct EncodedFile {
    pub partition: PartitionValues,
    /// The file's number within its partition (0, 1, … in the order they were started).
    pub sequence: usize,
    pub payload: PutPayload,
    pub stats: String,
    pub rows: u64,
}

/// Encodes partitioned input into Parquet files, one open file per partition.
#[derive(Debug)]
pub(crate) struct Encoder {
    options: EncoderOptions,
    partitions: Vec<Partition>,
    index: HashMap<PartitionValues, usize>,
}

impl Encoder {
    pub(crate) fn new(options: EncoderOptions) -> Encoder {
        Encoder {
            options,
            partitions: Vec::new(),
            index: HashMap::new(),
        }
    }

    /// Takes rows of the file schema for their partitions; encodes what is due and returns the
    /// files finished meanwhile (they reached the target size, or the memory bound).
    pub(crate) fn write(
        &mut self,
        parts: impl IntoIterator<Item = (PartitionValues, RecordBatch)>,
    ) -> Result<Vec<EncodedFile>> {
        for (values, batch) in parts {
            if batch.num_rows() == 0 {
                continue;
            }
            let slot = match self.index.get(&values) {
                Some(slot) => *slot,
                None => {
                    self.partitions.push(Partition::new(values.clone()));
                    self.index.insert(values, self.partitions.len() - 1);
                    self.partitions.len() - 1
                }
            };
            self.partitions[slot].push(batch);
        }
        let mut files = Vec::new();
        while self.partitions.iter().any(|p| p.due(&self.options)) {
            files.extend(self.step(false)?);
        }
        Ok(files)
    }

    /// Encodes everything still pending and finishes every open file.
    pub(crate) fn finish(mut self) -> Result<Vec<EncodedFile>> {
        let mut files = Vec::new();
        while self
            .partitions
            .iter()
            .any(|p| p.pending_rows > 0 || p.file.is_some())
        {
            files.extend(self.step(true)?);
        }
        Ok(files)
    }

    /// One round: every due partition (every partition with data when `flush`ing) encodes a
    /// step of its pending rows, all their columns in parallel; row groups that filled up are
    /// spliced into their files, and files that reached the target size (or all of them,
    /// when `flush`ing and drained) are finished.
    fn step(&mut self, flush: bool) -> Result<Vec<EncodedFile>> {
        let options = &self.options;
        let mut plans: Vec<Plan> = Vec::new();
        for (slot, partition) in self.partitions.iter_mut().enumerate() {
            let due = if flush {
                partition.pending_rows > 0 || partition.file.is_some()
            } else {
                partition.due(options)
            };
            if due {
                plans.push(partition.plan(slot, options, flush)?);
            }
        }
        encode_round(&mut self.partitions, &plans, options)?;

        // Files that reached the target size finish, and so do the largest open files while
        // the open files together hold more than the budget; their row groups close in a
        // second round.
        let finishing = self.finishing(&plans);
        let closing: Vec<Plan> = self
            .partitions
            .iter()
            .enumerate()
            .filter(|(slot, p)| {
                finishing[*slot] && p.file.as_ref().is_some_and(|f| f.row_group.is_some())
            })
            .map(|(slot, _)| Plan::close_only(slot))
            .collect();
        encode_round(&mut self.partitions, &closing, options)?;

        // Splice closed row groups and finish files, one partition per task.
        let mut tasks: Vec<(usize, (&mut Partition, bool))> = Vec::new();
        for (slot, partition) in self.partitions.iter_mut().enumerate() {
            if partition.closed.is_some() || finishing[slot] {
                let cost = partition.closed_bytes();
                tasks.push((cost, (partition, finishing[slot])));
            }
        }
        let target = self.options.target_file_size;
        let finished = run_parallel(tasks, self.options.threads, |(partition, finish)| {
            partition.splice_and_roll(finish, target)
        });
        let mut files = Vec::new();
        for file in finished {
            files.extend(file?);
        }
        Ok(files)
    }
}

impl Encoder {
    /// Which partitions finish their file this step: those planned to (the input is drained),
    /// those that reached the target size, and the largest of the others while all open files
    /// together hold more than [`EncoderOptions::max_buffered_bytes`].
    fn finishing(&self, plans: &[Plan]) -> Vec<bool> {
        let mut finishing = vec![false; self.partitions.len()];
        let sizes: Vec<u64> = self
            .partitions
            .iter()
            .map(Partition::buffered_bytes)
            .collect();
        for plan in plans {
            finishing[plan.slot] =
                plan.finish_file || sizes[plan.slot] >= self.options.target_file_size;
        }
        let mut open: Vec<usize> = (0..self.partitions.len())
            .filter(|&slot| self.partitions[slot].file.is_some() && !finishing[slot])
            .collect();
        let mut total: u64 = open.iter().map(|&slot| sizes[slot]).sum();
        if total > self.options.max_buffered_bytes {
            open.sort_by_key(|&slot| std::cmp::Reverse(sizes[slot]));
            for slot in open {
                if total <= self.options.max_buffered_bytes {
                    break;
                }
                finishing[slot] = true;
                total -= sizes[slot];
            }
        }
        finishing
    }
}

/// One partition's input, open file and open row group.
#[derive(Debug)]
struct Partition {
    values: PartitionValues,
    /// Files started so far.
    files_started: usize,
    /// Encoded bytes per row of the last file finished.
    bytes_per_row: Option<f64>,
    pending: VecDeque<RecordBatch>,
    pending_rows: usize,
    pending_bytes: usize,
    file: Option<OpenFile>,
    /// Column chunks of a row group closed this step, in leaf order, not yet in the file, and
    /// its rows.
    closed: Option<(Vec<ArrowColumnChunk>, usize)>,
}

/// What one partition does in an encoding round.
#[derive(Debug)]
struct Plan {
    slot: usize,
    /// Rows to encode, in order (slices of the pending input).
    input: Vec<RecordBatch>,
    rows: usize,
    /// Close the row group after encoding `input`.
    close: bool,
    /// Finish the file after the row group is spliced in.
    finish_file: bool,
}

impl Plan {
    fn close_only(slot: usize) -> Plan {
        Plan {
            slot,
            input: Vec::new(),
            rows: 0,
            close: true,
            finish_file: true,
        }
    }
}

impl Partition {
    fn new(values: PartitionValues) -> Partition {
        Partition {
            values,
            files_started: 0,
            bytes_per_row: None,
            pending: VecDeque::new(),
            pending_rows: 0,
            pending_bytes: 0,
            file: None,
            closed: None,
        }
    }

    fn push(&mut self, batch: RecordBatch) {
        self.pending_rows += batch.num_rows();
        self.pending_bytes += batch.get_array_memory_size();
        self.pending.push_back(batch);
    }

    /// Rows the open row group (or a new one) can still take.
    fn room(&self, options: &EncoderOptions) -> usize {
        let buffered = self
            .file
            .as_ref()
            .and_then(|f| f.row_group.as_ref())
            .map_or(0, |rg| rg.rows);
        options.row_group_rows.saturating_sub(buffered).max(1)
    }

    /// Whether enough input is pending to encode a step.
    fn due(&self, options: &EncoderOptions) -> bool {
        self.pending_rows > 0
            && (self.pending_rows >= self.room(options).min(DUE_ROWS)
                || self.pending_bytes >= PENDING_BYTES)
    }

    /// Rows of the next step: what is pending, up to the end of the row group and about up to
    /// the target file size. Files roll between steps, so a step is sized to end the file near
    /// its target, from the encoded bytes per row the file (or the partition's previous file)
    /// has shown, or else from the input's Arrow bytes per row (encoding rarely grows data).
    fn step_rows(&self, room: usize, target: u64) -> usize {
        let rows = self.pending_rows.min(room);
        let (size, per_row) = match &self.file {
            Some(file) => (file.estimated_size(), file.bytes_per_row()),
            None => (0, self.bytes_per_row),
        };
        let per_row = per_row.unwrap_or_else(|| {
            let bytes: usize = self
                .pending
                .iter()
                .map(|b| {
                    (0..b.num_columns())
                        .map(|c| input_bytes(std::slice::from_ref(b), c))
                        .sum::<usize>()
                })
                .sum();
            bytes as f64 / self.pending_rows.max(1) as f64
        });
        if per_row > 0.0 {
            let fit = (target.saturating_sub(size) as f64 / per_row).ceil();
            // Saturating float-to-int conversion; a step is never smaller than the minimum.
            rows.min((fit as usize).max(MIN_STEP_ROWS))
        } else {
            rows.min(DUE_ROWS)
        }
    }

    /// Takes this step's rows off the pending input, opening a file and a row group as needed.
    fn plan(&mut self, slot: usize, options: &EncoderOptions, flush: bool) -> Result<Plan> {
        let room = self.room(options);
        let rows = self.step_rows(room, options.target_file_size);
        let mut input = Vec::new();
        let mut left = rows;
        while left > 0 {
            let Some(front) = self.pending.pop_front() else {
                break;
            };
            if front.num_rows() <= left {
                left -= front.num_rows();
                input.push(front);
            } else {
                input.push(front.slice(0, left));
                self.pending
                    .push_front(front.slice(left, front.num_rows() - left));
                left = 0;
            }
        }
        self.pending_rows -= rows;
        self.pending_bytes = self
            .pending
            .iter()
            .map(RecordBatch::get_array_memory_size)
            .sum();
        if self.file.is_none() && rows > 0 {
            self.file = Some(OpenFile::new(options, self.bytes_per_row)?);
            self.files_started += 1;
        }
        let drained = flush && self.pending_rows == 0;
        if let Some(file) = &mut self.file
            && file.row_group.is_none()
            && rows > 0
        {
            file.start_row_group()?;
        }
        let has_row_group = self.file.as_ref().is_some_and(|f| f.row_group.is_some());
        Ok(Plan {
            slot,
            input,
            rows,
            close: has_row_group && (rows == room || drained),
            finish_file: drained,
        })
    }

    /// Bytes of the open file held in memory (written, closed or being encoded).
    fn buffered_bytes(&self) -> u64 {
        self.file.as_ref().map_or(0, OpenFile::estimated_size) + self.closed_bytes() as u64
    }

    fn closed_bytes(&self) -> usize {
        self.closed.as_ref().map_or(0, |(chunks, _)| {
            chunks
                .iter()
                .map(|c| usize::try_from(c.close().metadata.compressed_size()).unwrap_or(0))
                .sum()
        })
    }

    /// Splices a closed row group into the file, then finishes the file if asked to or if it
    /// reached the target size.
    fn splice_and_roll(&mut self, finish: bool, target: u64) -> Result<Option<EncodedFile>> {
        let Some(file) = self.file.as_mut() else {
            return Ok(None);
        };
        if let Some((chunks, rows)) = self.closed.take() {
            file.splice(chunks, rows)?;
        }
        let full = file.row_group.is_none() && file.writer.bytes_written() as u64 >= target;
        if !(finish || full) {
            return Ok(None);
        }
        let Some(file) = self.file.take() else {
            return Ok(None);
        };
        let (payload, stats, rows) = file.finish()?;
        if rows > 0 {
            self.bytes_per_row = Some(payload.content_length() as f64 / rows as f64);
        }
        Ok(Some(EncodedFile {
            partition: self.values.clone(),
            sequence: self.files_started - 1,
            payload,
            stats,
            rows,
        }))
    }
}

/// A file being written: the Parquet writer, its statistics and its open row group.
struct OpenFile {
    writer: SerializedFileWriter<Sink>,
    factory: ArrowRowGroupWriterFactory,
    stats: StatsCollector,
    /// The leaf column writers of each top-level column, as ranges of a row group's writers.
    leaves: Vec<Range<usize>>,
    row_groups_started: usize,
    row_group: Option<RowGroup>,
    /// Rows of the row groups in the file.
    spliced_rows: usize,
    /// Encoded bytes per row of the partition's previous file, if any.
    prior_bytes_per_row: Option<f64>,
}

impl std::fmt::Debug for OpenFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenFile")
            .field("bytes_written", &self.writer.bytes_written())
            .field("row_groups_started", &self.row_groups_started)
            .field("rows", &self.stats.num_records())
            .finish_non_exhaustive()
    }
}

/// An open row group: each top-level column's leaf writers.
#[derive(Debug)]
struct RowGroup {
    columns: Vec<Vec<ArrowColumnWriter>>,
    rows: usize,
}

impl OpenFile {
    fn new(options: &EncoderOptions, prior_bytes_per_row: Option<f64>) -> Result<OpenFile> {
        // `ArrowWriter` builds the Parquet schema and the `ARROW:schema` footer entry exactly as
        // it does for its own files; then its parts are driven column by column.
        let handoff = Handoff::default();
        let sink = Sink {
            handoff: handoff.clone(),
            ..Sink::default()
        };
        let writer_options = ArrowWriterOptions::new()
            .with_properties(options.properties.clone())
            .with_page_store_factory(Arc::new(HandoffPageStoreFactory(handoff)));
        let writer =
            ArrowWriter::try_new_with_options(sink, options.schema.clone(), writer_options)
                .map_err(parquet_error)?;
        let (writer, factory) = writer.into_serialized_writer().map_err(parquet_error)?;
        let descr = writer.schema_descr();
        let mut counts = vec![0usize; options.schema.fields().len()];
        for leaf in 0..descr.num_columns() {
            if let Some(count) = counts.get_mut(descr.get_column_root_idx(leaf)) {
                *count += 1;
            }
        }
        let mut start = 0;
        let leaves = counts
            .into_iter()
            .map(|n| {
                start += n;
                start - n..start
            })
            .collect();
        Ok(OpenFile {
            writer,
            factory,
            stats: StatsCollector::new(&options.schema, &options.indexed),
            leaves,
            row_groups_started: 0,
            row_group: None,
            spliced_rows: 0,
            prior_bytes_per_row,
        })
    }

    fn start_row_group(&mut self) -> Result<()> {
        let mut writers = self
            .factory
            .create_column_writers(self.row_groups_started)
            .map_err(parquet_error)?
            .into_iter();
        self.row_groups_started += 1;
        let columns = self
            .leaves
            .iter()
            .map(|range| writers.by_ref().take(range.len()).collect())
            .collect();
        self.row_group = Some(RowGroup { columns, rows: 0 });
        Ok(())
    }

    /// Bytes in the file plus the estimated encoded size of the open row group: the Parquet
    /// writer's estimate, or, when larger, its rows at the bytes per row of the row groups
    /// already written (or of the previous file). The writer's estimate leaves out
    /// dictionaries until they are written, which matters for small files.
    fn estimated_size(&self) -> u64 {
        let written = self.writer.bytes_written();
        let per_row = if self.spliced_rows > 0 {
            Some(written as f64 / self.spliced_rows as f64)
        } else {
            self.prior_bytes_per_row
        };
        let open = self.row_group.as_ref().map_or(0.0, |rg| {
            let estimate: usize = rg
                .columns
                .iter()
                .flatten()
                .map(ArrowColumnWriter::get_estimated_total_bytes)
                .sum();
            (estimate as f64).max(per_row.map_or(0.0, |p| p * rg.rows as f64))
        });
        // Saturating float-to-int conversion.
        written as u64 + open as u64
    }

    /// Encoded bytes per row so far (or of the previous file, before any row).
    fn bytes_per_row(&self) -> Option<f64> {
        match self.stats.num_records() {
            0 => self.prior_bytes_per_row,
            rows => Some(self.estimated_size() as f64 / rows as f64),
        }
    }

    fn splice(&mut self, chunks: Vec<ArrowColumnChunk>, rows: usize) -> Result<()> {
        self.spliced_rows += rows;
        let mut row_group = self.writer.next_row_group().map_err(parquet_error)?;
        for chunk in chunks {
            chunk
                .append_to_row_group(&mut row_group)
                .map_err(parquet_error)?;
        }
        row_group.close().map_err(parquet_error)?;
        Ok(())
    }

    fn finish(self) -> Result<(PutPayload, String, u64)> {
        let sink = self.writer.into_inner().map_err(parquet_error)?;
        Ok((
            sink.into_payload(),
            self.stats.finish(),
            self.stats.num_records(),
        ))
    }
}

/// Encodes every plan's input into its partition's open row group, closing the row groups the
/// plans say to close. The tasks, run in parallel, are each top-level column of each partition
/// and, separately, the statistics of each indexed column.
fn encode_round(
    partitions: &mut [Partition],
    plans: &[Plan],
    options: &EncoderOptions,
) -> Result<()> {
    if plans.is_empty() {
        return Ok(());
    }
    let mut by_slot: Vec<Option<&Plan>> = vec![None; partitions.len()];
    for plan in plans {
        by_slot[plan.slot] = Some(plan);
    }
    let fields = options.schema.fields();
    let mut tasks: Vec<(usize, Task<'_>)> = Vec::new();
    let mut task_counts = vec![0; partitions.len()];
    for (slot, partition) in partitions.iter_mut().enumerate() {
        let Some(plan) = by_slot[slot] else { continue };
        let Some(file) = partition.file.as_mut() else {
            continue;
        };
        let Some(row_group) = file.row_group.as_mut() else {
            continue;
        };
        let first = tasks.len();
        let bytes: Vec<usize> = (0..fields.len())
            .map(|column| input_bytes(&plan.input, column))
            .collect();
        for (column, writers) in std::mem::take(&mut row_group.columns)
            .into_iter()
            .enumerate()
        {
            let closing: usize = if plan.close {
                writers.iter().map(ArrowColumnWriter::memory_size).sum()
            } else {
                0
            };
            let task = Task::Encode {
                field: &fields[column],
                column,
                writers,
                input: &plan.input,
                close: plan.close,
            };
            tasks.push((bytes[column] + closing, task));
        }
        if plan.rows > 0 {
            for stats in file.stats.column_parts() {
                let cost = bytes
                    .get(stats.column())
                    .map_or(0, |b| b / STATS_COST_DIVISOR);
                let input = &plan.input;
                tasks.push((cost, Task::Stats { stats, input }));
            }
        }
        task_counts[slot] = tasks.len() - first;
    }
    let outputs = run_parallel(tasks, options.threads, Task::run);

    let mut results = outputs.into_iter();
    let mut first_error = None;
    for (slot, partition) in partitions.iter_mut().enumerate() {
        let Some(plan) = by_slot[slot] else { continue };
        let Some(file) = partition.file.as_mut() else {
            continue;
        };
        let Some(row_group) = file.row_group.as_mut() else {
            continue;
        };
        let mut chunks = Vec::new();
        for output in results.by_ref().take(task_counts[slot]) {
            match output {
                Ok(Output::Open(writers)) => row_group.columns.push(writers),
                Ok(Output::Closed(closed)) => chunks.extend(closed),
                Ok(Output::Folded) => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        row_group.rows += plan.rows;
        let rows = row_group.rows;
        file.stats.add_num_records(plan.rows as u64);
        if plan.close {
            file.row_group = None;
            partition.closed = Some((chunks, rows));
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Folding a column into the statistics costs about this fraction of encoding it (measured on
/// strings, where it is largest; numbers are cheaper still). Only orders the tasks.
const STATS_COST_DIVISOR: usize = 4;

/// Arrow memory of one column of the input (what encoding it touches).
fn input_bytes(input: &[RecordBatch], column: usize) -> usize {
    input
        .iter()
        .map(|b| {
            b.column(column)
                .to_data()
                .get_slice_memory_size()
                .unwrap_or(0)
        })
        .sum()
}

/// One task of an encoding round, for one top-level column of one partition.
enum Task<'a> {
    /// Encode the column's rows of `input` with its leaf writers, then close them if `close`.
    Encode {
        field: &'a arrow::datatypes::Field,
        column: usize,
        writers: Vec<ArrowColumnWriter>,
        input: &'a [RecordBatch],
        close: bool,
    },
    /// Fold the column's rows of `input` into the file's statistics.
    Stats {
        stats: ColumnStats<'a>,
        input: &'a [RecordBatch],
    },
}

enum Output {
    Open(Vec<ArrowColumnWriter>),
    Closed(Vec<ArrowColumnChunk>),
    Folded,
}

impl Task<'_> {
    fn run(self) -> Result<Output> {
        match self {
            Task::Encode {
                field,
                column,
                writers,
                input,
                close,
            } => encode_column(field, column, writers, input, close),
            Task::Stats { mut stats, input } => {
                for batch in input {
                    stats.update(batch)?;
                }
                Ok(Output::Folded)
            }
        }
    }
}

fn encode_column(
    field: &arrow::datatypes::Field,
    column: usize,
    mut writers: Vec<ArrowColumnWriter>,
    input: &[RecordBatch],
    close: bool,
) -> Result<Output> {
    for batch in input {
        let leaves = compute_leaves(field, batch.column(column)).map_err(parquet_error)?;
        if leaves.len() != writers.len() {
            return Err(Error::internal(format!(
                "column `{}` has {} leaves but {} writers",
                field.name(),
                leaves.len(),
                writers.len()
            )));
        }
        for (writer, leaf) in writers.iter_mut().zip(&leaves) {
            writer.write(leaf).map_err(parquet_error)?;
        }
    }
    if close {
        let chunks = writers
            .into_iter()
            .map(ArrowColumnWriter::close)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(parquet_error)?;
        Ok(Output::Closed(chunks))
    } else {
        Ok(Output::Open(writers))
    }
}

/// Runs `f` over `tasks` on up to `threads` threads (the calling one included), largest
/// estimated cost first, and returns the results in task order. Small batches of work run
/// inline.
fn run_parallel<T: Send, R: Send>(
    tasks: Vec<(usize, T)>,
    threads: usize,
    f: impl Fn(T) -> R + Sync,
) -> Vec<R> {
    let total: usize = tasks.iter().map(|(cost, _)| *cost).sum();
    let n = tasks.len();
    if threads <= 1 || n <= 1 || total < PARALLEL_MIN_BYTES {
        return tasks.into_iter().map(|(_, task)| f(task)).collect();
    }
    let mut queue: Vec<(usize, usize, T)> = tasks
        .into_iter()
        .enumerate()
        .map(|(i, (cost, task))| (cost, i, task))
        .collect();
    // `pop` takes from the end: the largest task first.
    queue.sort_by_key(|(cost, i, _)| (*cost, std::cmp::Reverse(*i)));
    let queue = Mutex::new(queue);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..n).map(|_| None).collect());
    let work = &|| {
        loop {
            let next = queue.lock().unwrap_or_else(PoisonError::into_inner).pop();
            let Some((_, i, task)) = next else { break };
            let result = f(task);
            results.lock().unwrap_or_else(PoisonError::into_inner)[i] = Some(result);
        }
    };
    std::thread::scope(|scope| {
        for _ in 1..threads.min(n) {
            scope.spawn(work);
        }
        work();
    });
    results
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner)
        .into_iter()
        .flatten()
        .collect()
}

/// The bytes of a file being written, handed to the store as they are: each large page is the
/// very buffer the column writer encoded it into (see [`Handoff`]); only page headers, small
/// pages and the footer are copied.
#[derive(Debug, Default)]
struct Sink {
    sealed: Vec<Bytes>,
    current: Vec<u8>,
    handoff: Handoff,
}

impl Sink {
    fn seal(&mut self) {
        if !self.current.is_empty() {
            self.sealed
                .push(Bytes::from(std::mem::take(&mut self.current)));
        }
    }

    fn into_payload(mut self) -> PutPayload {
        self.seal();
        self.sealed.into_iter().collect()
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.handoff.claim(buf) {
            Some(page) => {
                self.seal();
                self.sealed.push(page);
            }
            None => self.current.extend_from_slice(buf),
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The page a file's writer is splicing in, shared between the file's page stores and its
/// [`Sink`].
///
/// Splicing a column chunk takes each page out of its [`PageStore`] and writes it to the file
/// as a byte slice. Pages larger than the file writer's 8 KiB buffer reach the sink as that
/// exact slice, so when the slice is the page the store last handed out (same address, same
/// length: the same bytes), the sink keeps the page's [`Bytes`] instead of copying them. That
/// saves a copy of every row group (and its page faults), and the store's bytes go on to the
/// object store unchanged.
#[derive(Debug, Default, Clone)]
struct Handoff(Arc<Mutex<Option<Bytes>>>);

impl Handoff {
    fn offer(&self, page: &Bytes) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(page.clone());
    }

    /// The offered page, if `buf` is exactly its bytes.
    fn claim(&self, buf: &[u8]) -> Option<Bytes> {
        let mut slot = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let same = slot.as_ref().is_some_and(|page| {
            std::ptr::eq(page.as_ptr(), buf.as_ptr()) && page.len() == buf.len()
        });
        if same { slot.take() } else { None }
    }
}

/// Creates the [`HandoffPageStore`]s of one file.
#[derive(Debug)]
struct HandoffPageStoreFactory(Handoff);

impl PageStoreFactory for HandoffPageStoreFactory {
    fn create(&self, _args: &PageStoreArgs<'_>) -> parquet::errors::Result<Box<dyn PageStore>> {
        Ok(Box::new(HandoffPageStore {
            pages: Vec::new(),
            resident: 0,
            handoff: self.0.clone(),
        }))
    }
}

/// Parquet's in-memory page store, offering each page to the [`Handoff`] as it is taken.
struct HandoffPageStore {
    pages: Vec<Bytes>,
    resident: usize,
    handoff: Handoff,
}

impl PageStore for HandoffPageStore {
    fn put(&mut self, value: Bytes) -> parquet::errors::Result<PageKey> {
        let key = PageKey::new(self.pages.len() as u64);
        self.resident += value.len();
        self.pages.push(value);
        Ok(key)
    }

    fn take(&mut self, key: PageKey) -> parquet::errors::Result<Bytes> {
        let page = usize::try_from(key.get())
            .ok()
            .and_then(|i| self.pages.get_mut(i))
            .map(std::mem::take)
            .ok_or_else(|| ParquetError::General(format!("invalid page key {}", key.get())))?;
        self.resident -= page.len();
        self.handoff.offer(&page);
        Ok(page)
    }

    fn memory_size(&self) -> usize {
        self.resident
    }
}

pub(crate) fn parquet_error(source: parquet::errors::ParquetError) -> Error {
    Error::Parquet {
        path: "<new data file>".into(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Int64Array, StringArray, StructArray};
    use arrow::datatypes::{DataType, Field, Fields, Schema};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    use super::*;

    fn schema() -> SchemaRef {
        let inner = Fields::from(vec![
            Field::new("a", DataType::Int64, true),
            Field::new("b", DataType::Utf8, true),
        ]);
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("s", DataType::Utf8, true),
            Field::new("nested", DataType::Struct(inner), true),
        ]))
    }

    fn batch(start: i64, n: usize) -> RecordBatch {
        let ids: Vec<i64> = (start..start + n as i64).collect();
        let s = StringArray::from(
            ids.iter()
                .map(|i| (i % 3 != 0).then(|| format!("s{i:06}")))
                .collect::<Vec<_>>(),
        );
        let DataType::Struct(inner) = schema().field(2).data_type().clone() else {
            unreachable!()
        };
        let nested = StructArray::new(
            inner,
            vec![
                Arc::new(Int64Array::from(
                    ids.iter()
                        .map(|i| (i % 4 != 1).then_some(-i))
                        .collect::<Vec<_>>(),
                )) as ArrayRef,
                Arc::new(StringArray::from(
                    ids.iter()
                        .map(|i| format!("b{}", i % 7))
                        .collect::<Vec<_>>(),
                )),
            ],
            None,
        );
        RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(Int64Array::from(ids)),
                Arc::new(s),
                Arc::new(nested),
            ],
        )
        .unwrap()
    }

    fn options(row_group_rows: usize, target_file_size: u64) -> EncoderOptions {
        EncoderOptions {
            schema: schema(),
            properties: WriterProperties::builder().build(),
            indexed: IndexedColumns::default(),
            row_group_rows,
            target_file_size,
            max_buffered_bytes: u64::MAX,
            threads: 3,
        }
    }

    fn read(file: &EncodedFile) -> (Vec<RecordBatch>, Vec<i64>, Option<String>) {
        let bytes: Vec<u8> = file.payload.iter().flat_map(|b| b.to_vec()).collect();
        let builder = ParquetRecordBatchReaderBuilder::try_new(Bytes::from(bytes)).unwrap();
        let metadata = builder.metadata().clone();
        let arrow_schema = metadata
            .file_metadata()
            .key_value_metadata()
            .and_then(|kv| kv.iter().find(|e| e.key == "ARROW:schema"))
            .and_then(|e| e.value.clone());
        let row_groups = metadata
            .row_groups()
            .iter()
            .map(|rg| rg.num_rows())
            .collect();
        let batches = builder
            .build()
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        (batches, row_groups, arrow_schema)
    }

    #[test]
    fn files_read_back_as_written_with_the_arrow_writer_footer() {
        let input = [batch(0, 70_000), batch(70_000, 3), batch(70_003, 29_997)];
        let mut encoder = Encoder::new(options(30_000, u64::MAX));
        let mut files = encoder
            .write(input.iter().map(|b| (vec![], b.clone())))
            .unwrap();
        files.extend(encoder.finish().unwrap());
        assert_eq!(files.len(), 1);
        let (batches, row_groups, arrow_schema) = read(&files[0]);
        assert_eq!(row_groups, [30_000, 30_000, 30_000, 10_000]);
        let expected = arrow::compute::concat_batches(&schema(), &input).unwrap();
        let actual = arrow::compute::concat_batches(&schema(), &batches).unwrap();
        assert_eq!(actual, expected);

        // The same footer entry as a plain ArrowWriter file.
        let mut plain = ArrowWriter::try_new(Vec::new(), schema(), None).unwrap();
        plain.write(&input[1]).unwrap();
        let plain = EncodedFile {
            partition: vec![],
            sequence: 0,
            payload: PutPayload::from(plain.into_inner().unwrap()),
            stats: String::new(),
            rows: 3,
        };
        assert!(arrow_schema.is_some());
        assert_eq!(arrow_schema, read(&plain).2);

        // Statistics as one serial collector computes them.
        let mut serial = StatsCollector::new(&schema(), &IndexedColumns::default());
        for b in &input {
            serial.update(b).unwrap();
        }
        assert_eq!(files[0].stats, serial.finish());
        assert_eq!(files[0].rows, 100_000);
    }

    #[test]
    fn partitions_roll_files_at_the_target_size() {
        let mut encoder = Encoder::new(options(5_000, 64 * 1024));
        let mut files = Vec::new();
        for k in 0..40 {
            let parts = [
                (vec![Some("x".to_string())], batch(k * 1000, 600)),
                (vec![None], batch(k * 1000 + 600, 400)),
            ];
            files.extend(encoder.write(parts).unwrap());
        }
        files.extend(encoder.finish().unwrap());
        for partition in [vec![Some("x".to_string())], vec![None]] {
            let mut mine: Vec<&EncodedFile> =
                files.iter().filter(|f| f.partition == partition).collect();
            mine.sort_by_key(|f| f.sequence);
            assert!(mine.len() > 2, "{partition:?}: {} files", mine.len());
            let sequences: Vec<usize> = mine.iter().map(|f| f.sequence).collect();
            assert_eq!(sequences, (0..mine.len()).collect::<Vec<_>>());
            let rows: u64 = mine.iter().map(|f| f.rows).sum();
            assert_eq!(
                rows,
                if partition[0].is_some() {
                    24_000
                } else {
                    16_000
                }
            );
            for file in &mine[..mine.len() - 1] {
                let size = file.payload.content_length() as u64;
                assert!(
                    (60 * 1024..96 * 1024).contains(&size),
                    "{size}: {:?}",
                    mine.iter()
                        .map(|f| (f.rows, f.payload.content_length(), read(f).1))
                        .collect::<Vec<_>>()
                );
            }
        }
    }

    #[test]
    fn run_parallel_returns_results_in_task_order() {
        let tasks: Vec<(usize, usize)> = (0..50)
            .map(|i| (PARALLEL_MIN_BYTES / 10 * (i % 7), i))
            .collect();
        let out = run_parallel(tasks, 4, |i| i * 2);
        assert_eq!(out, (0..50).map(|i| i * 2).collect::<Vec<_>>());
        let inline = run_parallel(vec![(1, 3), (1, 4)], 4, |i| i + 1);
        assert_eq!(inline, [4, 5]);
    }

    #[test]
    fn the_sink_keeps_exactly_the_offered_page() {
        let handoff = Handoff::default();
        let mut sink = Sink {
            handoff: handoff.clone(),
            ..Sink::default()
        };
        let page = Bytes::from(vec![7u8; 10_000]);
        sink.write_all(b"PAR1").unwrap();
        handoff.offer(&page);
        // Same bytes elsewhere are copied; the page itself is kept.
        let copy = page.to_vec();
        sink.write_all(&copy).unwrap();
        sink.write_all(&page).unwrap();
        sink.write_all(&page[..5]).unwrap();
        let payload = sink.into_payload();
        let parts: Vec<&Bytes> = payload.iter().collect();
        assert_eq!(parts.len(), 3);
        assert!(std::ptr::eq(parts[1].as_ptr(), page.as_ptr()));
        assert_eq!(parts[0].len(), 4 + 10_000);
        assert_eq!(payload.content_length(), 4 + 10_000 + 10_000 + 5);
    }
}
