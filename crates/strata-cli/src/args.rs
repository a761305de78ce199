//! The command line: subcommands, their options and the parsers for values (sizes,
//! durations, timestamps) so that a malformed value is a usage error (exit 2) naming the flag.

use std::path::PathBuf;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};

/// ACID tables on a data lake, compatible with the Delta Lake protocol.
///
/// TABLE is a local path or a URL (`file://`, `memory://`; `s3://`, `gs://`, `az://` in builds
/// with the cloud features, configured by `--option` and the usual `AWS_*`, `GOOGLE_*`,
/// `AZURE_*` environment variables).
#[derive(Debug, Parser)]
#[command(
    name = "strata",
    version,
    about,
    max_term_width = 100,
    after_help = "Examples:\n  strata info ./lake/events\n  strata history ./lake/events --limit 5\n  strata scan ./lake/events --version 3 --filter \"country = 'PT'\" --limit 10\n  strata append ./lake/events new.parquet\n  strata restore ./lake/events --version 3\n\nExit codes: 0 success, 1 error, 2 usage."
)]
pub struct Cli {
    /// Object store option, repeatable (e.g. `aws_endpoint=http://127.0.0.1:9000`).
    #[arg(long = "option", short = 'o', global = true, value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub options: Vec<(String, String)>,
    /// No progress bars.
    #[arg(long, short = 'q', global = true)]
    pub quiet: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show a version of a table: protocol, schema, partitioning, properties, files, size, rows.
    #[command(
        after_help = "Examples:\n  strata info ./lake/events\n  strata info ./lake/events --version 3 --json"
    )]
    Info {
        /// The table.
        table: String,
        #[command(flatten)]
        at: At,
        #[command(flatten)]
        json: Json,
    },
    /// List commits, newest first, with operation, parameters and metrics.
    #[command(
        after_help = "Examples:\n  strata history ./lake/events --limit 10\n  strata history ./lake/events --json | jq '.[0].operation'"
    )]
    History {
        /// The table.
        table: String,
        /// Show at most this many commits.
        #[arg(long, short = 'n')]
        limit: Option<usize>,
        #[command(flatten)]
        json: Json,
    },
    /// Read rows: a version, some columns, a filter, a limit, in a choice of formats.
    #[command(
        after_help = "Examples:\n  strata scan ./lake/events --limit 20\n  strata scan ./lake/events --columns id,country --filter \"id >= 100 AND country IN ('PT', 'NL')\"\n  strata scan ./lake/events --tag training-2026-11 --format parquet --output snapshot.parquet\n  strata scan ./lake/events --format csv > events.csv"
    )]
    Scan(ScanArgs),
    /// Read the change data feed: the rows each version inserted, deleted or updated.
    #[command(
        after_help = "Examples:\n  strata changes ./lake/events --from 12\n  strata changes ./lake/events --from 12 --to 15 --filter \"country = 'PT'\" --format jsonl\n  strata changes ./lake/events --from-timestamp 2026-11-23 --format parquet --output changes.parquet\n\nEach row has the table's columns (or --columns) and _change_type (insert, delete,\nupdate_preimage, update_postimage), _commit_version and _commit_timestamp. The table must\nhave delta.enableChangeDataFeed = true over the whole range."
    )]
    Changes(ChangesArgs),
    /// List the live data files of a version with their sizes, rows and partition values.
    #[command(
        after_help = "Examples:\n  strata files ./lake/events\n  strata files ./lake/events --filter \"country = 'PT'\" --json"
    )]
    Files {
        /// The table.
        table: String,
        #[command(flatten)]
        at: At,
        /// Only files whose partition values and statistics may match this predicate.
        #[arg(long, short = 'f', value_name = "EXPR")]
        filter: Option<String>,
        #[command(flatten)]
        json: Json,
    },
    /// Files and rows added and removed between two versions; with --rows, the rows themselves.
    #[command(
        after_help = "FROM and TO are versions or tag names; TO defaults to the latest version.\n\nWith --rows, each row one version has and the other lacks, with _change_type insert or\ndelete (EXCEPT ALL both ways). With --key, a key whose one row changed into one other row is an\nupdate (update_preimage, update_postimage). Only the data files the versions do not share are\nread, or the change data feed where it covers the range.\n\nExamples:\n  strata diff ./lake/events 3 5\n  strata diff ./lake/events training-2026-11 --json\n  strata diff ./lake/events 41 42 --rows --key id\n  strata diff ./lake/events 41 42 --rows --format parquet --output changed.parquet"
    )]
    Diff(DiffArgs),
    /// Create an empty table (version 0).
    #[command(
        after_help = "SPEC is `name type [NOT NULL], ...` with Delta or SQL type names (long, bigint, string,\ndecimal(10,2), timestamp, array<string>, map<string,long>, struct<a:int,b:string>, ...),\nor a Delta schema as JSON, or @FILE holding either.\n\nExamples:\n  strata create ./lake/events --schema \"id long not null, country string, ts timestamp\" --partition-by country\n  strata create ./lake/events --schema @schema.json --property delta.appendOnly=true"
    )]
    Create {
        /// Where to create it.
        table: String,
        /// The schema (see below).
        #[arg(long, short = 's', value_name = "SPEC")]
        schema: String,
        #[command(flatten)]
        new_table: NewTable,
        #[command(flatten)]
        json: Json,
    },
    /// Write Parquet, CSV or newline-delimited JSON files to a table in one commit.
    #[command(
        after_help = "The format is taken from each file's extension (.parquet, .csv, .tsv, .json, .jsonl,\n.ndjson) unless --input-format says otherwise; `-` reads standard input, whose format
--input-format must give. CSV and JSON values are parsed as the table's\ncolumn types, matched by name; a column the table lacks is refused, unless --schema-mode\nmerge adds it to the table (with the type inferred as for a new table) in the same commit.\n\nExamples:\n  strata append ./lake/events day1.parquet day2.parquet\n  strata append ./lake/events with-channel.csv --schema-mode merge\n  strata append ./lake/events export.csv --create --partition-by country\n  strata append ./lake/events fixed.jsonl --mode overwrite\n  strata append ./lake/events batch-42.parquet --txn nightly-ingest:42\n  gunzip -c export.csv.gz | strata append ./lake/events - --input-format csv"
    )]
    Append(AppendArgs),
    /// Change a table's columns, properties, constraints or comments, in one commit.
    #[command(
        after_help = "Every flag may be repeated; all the changes commit as one version, or none does. They apply\nin this order, whatever their order on the command line: constraints dropped, columns dropped,\nrenamed, added, then changed (type, nullability, comment), properties unset and set,\nconstraints added, the table comment; so a later change names columns by their new names.\nAn added constraint or NOT NULL is first checked against every row. Renaming or dropping a\ncolumn turns on column mapping (no data file is rewritten); widening a type turns on type\nwidening. A nested struct field is named by its path, `address.zip`.\n\nExamples:\n  strata alter ./lake/events --add-column \"year int COMMENT 'event year' AFTER day\"\n  strata alter ./lake/events --add-constraint positive_amount='amount > 0' --set-not-null id\n  strata alter ./lake/events --rename-column amount=amount_eur --drop-column legacy\n  strata alter ./lake/events --widen-type id=long --set-property delta.appendOnly=true --json"
    )]
    Alter(AlterArgs),
    /// Make the table equal to an earlier version again, in one new commit.
    #[command(group = clap::ArgGroup::new("target").required(true).args(["version", "timestamp", "tag"]))]
    #[command(
        after_help = "Later versions stay readable by time travel; `strata diff TABLE <latest> <target>`\npreviews what a restore changes.\n\nExamples:\n  strata restore ./lake/events --version 41\n  strata restore ./lake/events --timestamp 2026-11-22T23:00:00Z\n  strata restore ./lake/events --tag before-backfill"
    )]
    Restore {
        /// The table.
        table: String,
        #[command(flatten)]
        at: At,
        #[command(flatten)]
        json: Json,
    },
    /// Undo one commit and keep every commit after it, in one new commit.
    #[command(
        after_help = "Refused, naming the later commits, when they touched the same files.\n\nExamples:\n  strata revert ./lake/events 42"
    )]
    Revert {
        /// The table.
        table: String,
        /// The commit to undo.
        version: i64,
        #[command(flatten)]
        json: Json,
    },
    /// Name a version (or delete a name) so that vacuum and log cleanup keep it readable.
    #[command(
        after_help = "Examples:\n  strata tag ./lake/events training-2026-11\n  strata tag ./lake/events before-backfill --version 41\n  strata tag ./lake/events before-backfill --delete"
    )]
    Tag {
        /// The table.
        table: String,
        /// The tag's name.
        name: String,
        /// The version to tag; the latest when omitted.
        #[arg(long, short = 'v', conflicts_with = "delete")]
        version: Option<i64>,
        /// Delete the tag instead.
        #[arg(long)]
        delete: bool,
        #[command(flatten)]
        json: Json,
    },
    /// Run, inspect or reset a pipeline declared in a pipeline.toml.
    #[command(subcommand)]
    Pipeline(PipelineCommand),
    /// Walk a lake table's lineage upstream: which versions of which tables produced it.
    #[command(
        after_help = "TABLE is a table of a lake, ROOT/LAYER/NAME; its upstream tables are found in the same\nlake by the names the flows recorded.\n\nExamples:\n  strata lineage ./lake/gold/delays\n  strata lineage ./lake/gold/delays --version 12 --depth 2\n  strata lineage ./lake/silver/flights --json"
    )]
    Lineage {
        /// The table (ROOT/LAYER/NAME).
        table: String,
        /// The version to explain (default: the latest).
        #[arg(long)]
        version: Option<i64>,
        /// How many tables upstream to walk.
        #[arg(long, default_value_t = 10)]
        depth: usize,
        #[command(flatten)]
        json: Json,
    },
    /// Run SQL over tables (DataFusion): query, explain, or commit the result with lineage.
    #[cfg(feature = "sql")]
    #[command(
        after_help = "Tables are named with --table NAME=LOCATION[@VERSION|#TAG] (repeatable), or come from a
lake with --lake ROOT as bronze.NAME, silver.NAME and gold.NAME. Inside SQL,
strata_version('LOCATION', 5), strata_tag('LOCATION', 'train'), strata_timestamp('LOCATION',
'2026-01-31T00:00:00Z') and strata_changes('LOCATION', FROM[, TO]) read any table.
INSERT INTO, INSERT OVERWRITE, DELETE, UPDATE and CREATE TABLE gold.NAME AS SELECT (with
--lake) commit to strata tables, with lineage.

Examples:
  strata sql \"SELECT carrier, avg(dep_delay) FROM f GROUP BY carrier\" --table f=./lake/silver/flights
  strata sql \"SELECT count(*) FROM silver.flights\" --lake ./lake
  strata sql \"SELECT origin, count(*) AS n FROM silver.flights GROUP BY origin\" --lake ./lake --into gold.by_origin --mode overwrite
  strata sql \"SELECT * FROM f WHERE id BETWEEN 10 AND 20\" --table f=./t@3 --explain"
    )]
    Sql(SqlArgs),
    /// List a lake's tables by layer: version, rows, last commit, and the flow that writes each.
    #[command(after_help = "Examples:\n  strata tables ./lake\n  strata tables ./lake --json")]
    Tables {
        /// The lake root (holding bronze/, silver/ and gold/).
        root: String,
        #[command(flatten)]
        json: Json,
    },
    /// Pin several lake tables at one consistent point (a tag in each, a manifest in the lake).
    #[command(
        after_help = "Each table is pinned at its last version committed before the pin started; with\n--lineage-of, at exactly the versions that produced LAYER.NAME@VERSION.\n\nExamples:\n  strata pin ./lake train-2026-12 silver.flights silver.weather\n  strata pin ./lake gold-inputs --lineage-of gold.delays@12"
    )]
    Pin {
        /// The lake root.
        root: String,
        /// The pin's name (also the tag in each table).
        name: String,
        /// The tables (`layer.name`).
        tables: Vec<String>,
        /// Pin the table version LAYER.NAME@VERSION and every input its lineage names.
        #[arg(long, value_name = "LAYER.NAME@VERSION", conflicts_with = "tables")]
        lineage_of: Option<String>,
        #[command(flatten)]
        json: Json,
    },
    /// List a lake's pins.
    #[command(after_help = "Examples:\n  strata pins ./lake\n  strata pins ./lake --json")]
    Pins {
        /// The lake root.
        root: String,
        #[command(flatten)]
        json: Json,
    },
    /// List the table's tags.
    #[command(
        after_help = "Examples:\n  strata tags ./lake/events\n  strata tags ./lake/events --json"
    )]
    Tags {
        /// The table.
        table: String,
        #[command(flatten)]
        json: Json,
    },
    /// Delete data files no retained version needs.
    #[command(
        after_help = "Keeps every file of the versions within the retention (the table's\ndelta.deletedFileRetentionDuration, 7 days by default) and of every tagged version.\n\nExamples:\n  strata vacuum ./lake/events --dry-run\n  strata vacuum ./lake/events --retention 30d\n  strata vacuum ./lake/events --retention 0s --force"
    )]
    Vacuum {
        /// The table.
        table: String,
        /// Keep files needed by versions of this long ago (e.g. 7d, 168h, 30m, 0s).
        #[arg(long, short = 'r', value_name = "DURATION", value_parser = parse_duration_ms)]
        retention: Option<i64>,
        /// List what would be deleted; delete and commit nothing.
        #[arg(long, short = 'n')]
        dry_run: bool,
        /// Allow a retention shorter than the table's (older versions become unreadable).
        #[arg(long)]
        force: bool,
        /// Keep files no commit references this long after they were written, whatever the
        /// retention: a write may still commit them (default: the table's
        /// strata.vacuum.inFlightGraceMs, 1h). 0s only when no write is running.
        #[arg(long, value_name = "DURATION", value_parser = parse_duration_ms)]
        in_flight_grace: Option<i64>,
        #[command(flatten)]
        json: Json,
    },
    /// Delete the rows matching a predicate, in one commit.
    #[command(group = clap::ArgGroup::new("rows").required(true).args(["filter", "all"]))]
    #[command(
        after_help = "Rows where the predicate is true go; false or null stay. Whole files whose rows all match\n(by partition values) are removed without being read; with delta.enableDeletionVectors the\nother files get deletion vectors, else they are rewritten without the deleted rows.\n\nExamples:\n  strata delete ./lake/events --where \"country = 'PT' AND amount < 0\"\n  strata delete ./lake/events --where \"day < '2026-01-01'\" --json\n  strata delete ./lake/events --all"
    )]
    Delete {
        /// The table.
        table: String,
        /// Delete the rows for which this predicate is true.
        #[arg(long = "where", short = 'w', value_name = "EXPR")]
        filter: Option<String>,
        /// Delete every row.
        #[arg(long)]
        all: bool,
        /// Commit only if the table is still at this version.
        #[arg(long, value_name = "VERSION")]
        expected_version: Option<i64>,
        #[command(flatten)]
        json: Json,
    },
    /// Update the rows matching a predicate, in one commit.
    #[command(
        after_help = "Each --set is `column = expression`: columns, literals, + - * / %, CASE, CAST, COALESCE,\nNULLIF, concat (||), lower, upper, trim, substring, length, abs. Every expression sees the rows\nas they were. Types are checked before anything is read; a row that fails (overflow, division\nby zero, a failed CAST, a null for a non-nullable column) fails the update and commits nothing.\nWithout --where every row is updated.\n\nExamples:\n  strata update ./lake/events --set \"amount = abs(amount)\" --where \"amount < 0\"\n  strata update ./lake/events --set \"country = upper(trim(country))\" --set \"note = 'fixed'\" --json"
    )]
    Update {
        /// The table.
        table: String,
        /// An assignment, `column = expression` (repeat for more columns).
        #[arg(long = "set", short = 's', value_name = "COL = EXPR", required = true, value_parser = parse_assignment)]
        sets: Vec<(String, String)>,
        /// Update only the rows for which this predicate is true.
        #[arg(long = "where", short = 'w', value_name = "EXPR")]
        filter: Option<String>,
        /// Commit only if the table is still at this version.
        #[arg(long, value_name = "VERSION")]
        expected_version: Option<i64>,
        #[command(flatten)]
        json: Json,
    },
    /// Merge rows from files into a table by key (upsert by default), in one commit.
    #[command(
        after_help = "Source rows match target rows whose --on columns are all equal (null keys never match).\nBy default matched rows are updated with every column of the source row and the others are\ninserted; more than one source row for a target row is an error naming the key. The files are\nread as `append` reads them (CSV and JSON values as the table's column types).\n\nExamples:\n  strata merge ./lake/silver/customers changes.parquet --on id\n  strata merge ./lake/silver/orders fixes.csv --on order_id,line --when-not-matched ignore\n  strata merge ./lake/silver/customers deletes.jsonl --on id --when-matched delete --json\n  strata merge ./lake/silver/customers full.parquet --on id --when-not-matched-by-source delete\n  strata merge ./lake/silver/customers changes.parquet --on id --matched-condition \"source.updated_at > target.updated_at\""
    )]
    Merge(MergeArgs),
    /// Compact small files into files near a target size.
    #[command(
        after_help = "Examples:\n  strata optimize ./lake/events\n  strata optimize ./lake/events --target-size 256MiB --where \"country = 'PT'\"\n  strata optimize ./lake/events --zorder customer_id,day"
    )]
    Optimize {
        /// The table.
        table: String,
        /// Aim for files of about this size (e.g. 128MiB, 1GB).
        #[arg(long, value_name = "SIZE", value_parser = parse_size)]
        target_size: Option<u64>,
        /// Only compact partitions matching this predicate over partition columns.
        #[arg(long = "where", short = 'w', value_name = "EXPR")]
        filter: Option<String>,
        /// Rewrite every file of each partition in Z-order over these columns, so filters on
        /// any of them skip files.
        #[arg(long, value_delimiter = ',', value_name = "COL[,COL]")]
        zorder: Vec<String>,
        #[command(flatten)]
        json: Json,
    },
    /// Write a checkpoint of the latest version so that readers open the table fast.
    #[command(after_help = "Examples:\n  strata checkpoint ./lake/events")]
    Checkpoint {
        /// The table.
        table: String,
        #[command(flatten)]
        json: Json,
    },
}

/// `--json` for every command.
#[derive(Debug, Args, Clone, Copy)]
pub struct Json {
    /// Print the result as JSON (stable keys, see the README).
    #[arg(long)]
    pub json: bool,
}

/// Time travel: at most one of version, timestamp or tag.
#[derive(Debug, Args, Clone, Default)]
#[group(multiple = false)]
pub struct At {
    /// Read this version.
    #[arg(long, short = 'v')]
    pub version: Option<i64>,
    /// Read the version current at this time (RFC 3339, or `YYYY-MM-DD[ HH:MM:SS]` in UTC).
    #[arg(long, short = 't', value_parser = parse_timestamp)]
    pub timestamp: Option<DateTime<Utc>>,
    /// Read the version this tag names.
    #[arg(long)]
    pub tag: Option<String>,
}

/// `strata scan`.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// The table.
    pub table: String,
    #[command(flatten)]
    pub at: At,
    /// Top-level columns to read, comma-separated; all when omitted.
    #[arg(long, short = 'c', value_delimiter = ',', value_name = "COLUMNS")]
    pub columns: Vec<String>,
    /// Keep rows matching this predicate (comparisons, AND/OR/NOT, IN, BETWEEN, IS NULL).
    #[arg(long, short = 'f', value_name = "EXPR")]
    pub filter: Option<String>,
    /// Return at most this many rows (`--format table` shows 100 unless told otherwise).
    #[arg(long, short = 'l')]
    pub limit: Option<u64>,
    /// Output format; `parquet` keeps the table's types exactly.
    #[arg(long, value_enum, default_value_t = ScanFormat::Table)]
    pub format: ScanFormat,
    /// Same as `--format jsonl`.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// Write to this file instead of standard output.
    #[arg(long, short = 'O', value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// After the rows, print what the scan read and skipped to standard error.
    #[arg(long)]
    pub metrics: bool,
}

/// `strata sql`.
#[cfg(feature = "sql")]
#[derive(Debug, Args)]
pub struct SqlArgs {
    /// The statement: a query, or INSERT / DELETE / UPDATE / CREATE TABLE … AS.
    pub query: String,
    /// A table for the query: NAME=LOCATION, with @VERSION, @TIMESTAMP or #TAG to pin it
    /// (repeatable). Without NAME=, the name is the location's last path segment.
    #[arg(long = "table", short = 't', value_name = "[NAME=]LOCATION")]
    pub tables: Vec<String>,
    /// A lake root: its tables are bronze.NAME, silver.NAME and gold.NAME.
    #[arg(long, value_name = "ROOT")]
    pub lake: Option<String>,
    /// Commit the result to this table (a location, or LAYER.NAME with --lake), creating it
    /// when absent; lineage names every table read and its version.
    #[arg(long, value_name = "TABLE")]
    pub into: Option<String>,
    /// How --into writes.
    #[arg(long, value_enum, default_value_t = IntoMode::Append, requires = "into")]
    pub mode: IntoMode,
    /// Show the plan (files kept and pruned per table) instead of running the query.
    #[arg(long, conflicts_with = "into")]
    pub explain: bool,
    /// Run the query and show the plan with what each step read (files, row groups, rows).
    #[arg(long, conflicts_with_all = ["into", "explain"])]
    pub analyze: bool,
    /// Return at most this many rows (`--format table` shows 100 unless told otherwise).
    #[arg(long, short = 'l')]
    pub limit: Option<u64>,
    /// Output format; `parquet` keeps the types exactly.
    #[arg(long, value_enum, default_value_t = ScanFormat::Table)]
    pub format: ScanFormat,
    /// Same as `--format jsonl`.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// Write to this file instead of standard output.
    #[arg(long, short = 'O', value_name = "PATH")]
    pub output: Option<PathBuf>,
}

/// How `strata sql --into` writes.
#[cfg(feature = "sql")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum IntoMode {
    /// Add the rows.
    Append,
    /// Replace the table's rows.
    Overwrite,
}

/// `strata diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The table.
    pub table: String,
    /// The version (or tag) to compare from.
    pub from: String,
    /// The version (or tag) to compare to; the latest when omitted.
    pub to: Option<String>,
    /// Show the rows that differ rather than the files.
    #[arg(long)]
    pub rows: bool,
    /// Columns identifying a row, comma-separated: pairs a deleted and an inserted row into an update.
    #[arg(
        long,
        short = 'k',
        value_delimiter = ',',
        value_name = "COLUMNS",
        requires = "rows"
    )]
    pub key: Vec<String>,
    /// Show at most this many rows (`--format table` shows 100 unless told otherwise).
    #[arg(long, short = 'l', requires = "rows")]
    pub limit: Option<u64>,
    /// Output format of the rows; `parquet` keeps the types exactly.
    #[arg(long, value_enum, requires = "rows")]
    pub format: Option<ScanFormat>,
    /// Write the rows to this file instead of standard output.
    #[arg(long, short = 'O', value_name = "PATH", requires = "rows")]
    pub output: Option<PathBuf>,
    /// Print the result as JSON (with --rows: one JSON object per row, the summary on standard error).
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
}

/// `strata changes`.
#[derive(Debug, Args)]
pub struct ChangesArgs {
    /// The table.
    pub table: String,
    /// The first version whose changes to read (default 0).
    #[arg(long, value_name = "VERSION", conflicts_with = "from_timestamp")]
    pub from: Option<i64>,
    /// The last version whose changes to read (default: the latest).
    #[arg(long, value_name = "VERSION", conflicts_with = "to_timestamp")]
    pub to: Option<i64>,
    /// Start at the first version committed at or after this time.
    #[arg(long, value_name = "TIME", value_parser = parse_timestamp)]
    pub from_timestamp: Option<DateTime<Utc>>,
    /// End at the version current at this time.
    #[arg(long, value_name = "TIME", value_parser = parse_timestamp)]
    pub to_timestamp: Option<DateTime<Utc>>,
    /// Table columns to read, comma-separated; all when omitted (the change columns always follow).
    #[arg(long, short = 'c', value_delimiter = ',', value_name = "COLUMNS")]
    pub columns: Vec<String>,
    /// Keep changed rows matching this predicate over the table's columns.
    #[arg(long, short = 'f', value_name = "EXPR")]
    pub filter: Option<String>,
    /// Return at most this many rows (`--format table` shows 100 unless told otherwise).
    #[arg(long, short = 'l')]
    pub limit: Option<u64>,
    /// Output format; `parquet` keeps the types exactly.
    #[arg(long, value_enum, default_value_t = ScanFormat::Table)]
    pub format: ScanFormat,
    /// Same as `--format jsonl`.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// Write to this file instead of standard output.
    #[arg(long, short = 'O', value_name = "PATH")]
    pub output: Option<PathBuf>,
}

/// Output formats of `strata scan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScanFormat {
    /// An aligned table for people.
    Table,
    /// CSV with a header row.
    Csv,
    /// One JSON object per line.
    Jsonl,
    /// One Parquet file with the table's Arrow schema.
    Parquet,
}

/// Options of a table being created (`create`, `append --create`).
#[derive(Debug, Args, Clone, Default)]
pub struct NewTable {
    /// Partition columns, comma-separated.
    #[arg(long, short = 'p', value_delimiter = ',', value_name = "COLUMNS")]
    pub partition_by: Vec<String>,
    /// Table property, repeatable (e.g. `delta.appendOnly=true`).
    #[arg(long = "property", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub properties: Vec<(String, String)>,
    /// The table's name (metadata).
    #[arg(long)]
    pub name: Option<String>,
    /// The table's description (metadata).
    #[arg(long)]
    pub description: Option<String>,
}

/// `strata append`.
#[derive(Debug, Args)]
pub struct AppendArgs {
    /// The table.
    pub table: String,
    /// Input files (Parquet, CSV or JSON lines); `-` reads standard input (with --input-format).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// `append` adds rows; `overwrite` replaces every row of the table.
    #[arg(long, value_enum, default_value_t = Mode::Append)]
    pub mode: Mode,
    /// Let the files change the table's schema in the same commit: `merge` adds the columns
    /// the table lacks, `overwrite` (with `--mode overwrite`) replaces the schema with the
    /// files' columns.
    #[arg(long, value_enum, value_name = "MODE")]
    pub schema_mode: Option<SchemaModeArg>,
    /// Idempotent write: skip if this application's version was already committed.
    #[arg(long, value_name = "APP_ID:VERSION", value_parser = parse_txn)]
    pub txn: Option<(String, i64)>,
    /// Commit only if the table is still at this version (the one the job read); otherwise
    /// fail and commit nothing.
    #[arg(long, value_name = "VERSION")]
    pub expected_version: Option<i64>,
    /// Create the table from the first file's schema if it does not exist.
    #[arg(long)]
    pub create: bool,
    /// Commit even when the input files hold no rows (refused by default: an empty input is
    /// most often a truncated export).
    #[arg(long)]
    pub allow_empty: bool,
    #[command(flatten)]
    pub new_table: NewTable,
    /// The input format, when the extensions do not tell.
    #[arg(long, value_enum)]
    pub input_format: Option<InputFormat>,
    /// CSV field delimiter (default `,`, or tab for .tsv).
    #[arg(long, value_name = "CHAR")]
    pub delimiter: Option<char>,
    /// CSV files have no header row (columns are then taken in table order).
    #[arg(long)]
    pub no_header: bool,
    /// Commit metadata, repeatable (recorded in commitInfo; `history --json` shows it under
    /// `userMetadata`).
    #[arg(long = "metadata", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub metadata: Vec<(String, String)>,
    #[command(flatten)]
    pub json: Json,
}

/// `strata alter`.
#[derive(Debug, Args)]
pub struct AlterArgs {
    /// The table.
    pub table: String,
    /// Add a column: `NAME TYPE [NOT NULL] [COMMENT '…'] [FIRST | AFTER COL]` (NOT NULL only
    /// on a table without rows).
    #[arg(long = "add-column", value_name = "DEFINITION", value_parser = parse_new_column)]
    pub add_columns: Vec<strata::NewColumn>,
    /// Rename a column (metadata only).
    #[arg(long = "rename-column", value_name = "OLD=NEW", value_parser = parse_rename)]
    pub rename_columns: Vec<(String, String)>,
    /// Drop a column (metadata only: its data stays in the files and in earlier versions).
    #[arg(long = "drop-column", value_name = "COLUMN")]
    pub drop_columns: Vec<String>,
    /// Widen a column's type (int to long, float to double, a wider decimal, …).
    #[arg(long = "widen-type", value_name = "COLUMN=TYPE", value_parser = parse_column_type)]
    pub widen_types: Vec<(String, strata::DataType)>,
    /// Let a column hold nulls.
    #[arg(long = "set-nullable", value_name = "COLUMN")]
    pub set_nullable: Vec<String>,
    /// Make a column NOT NULL, after checking that no row holds a null in it.
    #[arg(long = "set-not-null", value_name = "COLUMN")]
    pub set_not_null: Vec<String>,
    /// Set a column's comment (an empty TEXT removes it).
    #[arg(long = "column-comment", value_name = "COLUMN=TEXT", value_parser = parse_key_value)]
    pub column_comments: Vec<(String, String)>,
    /// Set a table property (e.g. `delta.appendOnly=true`).
    #[arg(long = "set-property", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub set_properties: Vec<(String, String)>,
    /// Remove a table property (one that is not set is no change).
    #[arg(long = "unset-property", value_name = "KEY")]
    pub unset_properties: Vec<String>,
    /// Add a CHECK constraint, after checking that every row satisfies it; later writes of
    /// rows that break it fail.
    #[arg(long = "add-constraint", value_name = "NAME=EXPR", value_parser = parse_key_value)]
    pub add_constraints: Vec<(String, String)>,
    /// Drop a CHECK constraint.
    #[arg(long = "drop-constraint", value_name = "NAME")]
    pub drop_constraints: Vec<String>,
    /// Set the table's comment (its description; an empty TEXT removes it).
    #[arg(long, value_name = "TEXT")]
    pub comment: Option<String>,
    #[command(flatten)]
    pub json: Json,
}

/// Write modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Add rows.
    Append,
    /// Replace all rows.
    Overwrite,
}

/// How a write may change the table's schema (`append --schema-mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchemaModeArg {
    /// Add the columns the table lacks (nullable); existing rows read them as null.
    Merge,
    /// Replace the table's schema with the files' columns (needs `--mode overwrite`).
    Overwrite,
}

impl From<SchemaModeArg> for strata::SchemaMode {
    fn from(mode: SchemaModeArg) -> Self {
        match mode {
            SchemaModeArg::Merge => strata::SchemaMode::Merge,
            SchemaModeArg::Overwrite => strata::SchemaMode::Overwrite,
        }
    }
}

/// `strata merge`.
#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// The table.
    pub table: String,
    /// Source files (Parquet, CSV or JSON lines); `-` reads standard input (with --input-format).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// The key columns, equal in target and source rows that match.
    #[arg(long, required = true, value_delimiter = ',', value_name = "KEY[,KEY]")]
    pub on: Vec<String>,
    /// What a matched target row gets.
    #[arg(long, value_enum, default_value_t = MatchedAction::Update)]
    pub when_matched: MatchedAction,
    /// Act on matched rows only where this is true (columns as `target.c` and `source.c`).
    #[arg(long, value_name = "EXPR")]
    pub matched_condition: Option<String>,
    /// What a source row no target row matches does.
    #[arg(long, value_enum, default_value_t = NotMatchedAction::Insert)]
    pub when_not_matched: NotMatchedAction,
    /// What a target row no source row matches gets.
    #[arg(long, value_enum, default_value_t = BySourceAction::Ignore)]
    pub when_not_matched_by_source: BySourceAction,
    /// `merge`: add the source's columns the table lacks in the merge's commit (schema
    /// evolution), so updated and inserted rows carry them.
    #[arg(long, value_enum, value_name = "MODE")]
    pub schema_mode: Option<SchemaModeArg>,
    /// Commit only if the table is still at this version.
    #[arg(long, value_name = "VERSION")]
    pub expected_version: Option<i64>,
    /// Input format, when the extensions do not say.
    #[arg(long, value_enum)]
    pub input_format: Option<InputFormat>,
    /// CSV field delimiter (default `,`, or tab for .tsv).
    #[arg(long, value_name = "CHAR")]
    pub delimiter: Option<char>,
    /// CSV files have no header row (columns are then taken in table order).
    #[arg(long)]
    pub no_header: bool,
    #[command(flatten)]
    pub json: Json,
}

/// `--when-matched`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MatchedAction {
    /// Update every column from the source row.
    Update,
    /// Delete the target row.
    Delete,
    /// Leave it.
    Ignore,
}

/// `--when-not-matched`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NotMatchedAction {
    /// Insert the source row.
    Insert,
    /// Leave it out.
    Ignore,
}

/// `--when-not-matched-by-source`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BySourceAction {
    /// Delete the target row.
    Delete,
    /// Leave it.
    Ignore,
}

/// Input formats of `strata append`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InputFormat {
    /// Apache Parquet.
    Parquet,
    /// Comma- (or `--delimiter`-) separated values.
    Csv,
    /// Newline-delimited JSON, one object per line.
    Json,
}

fn parse_key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got {text:?}")),
    }
}

fn parse_txn(text: &str) -> Result<(String, i64), String> {
    let err =
        || format!("expected APP_ID:VERSION with a non-negative integer version, got {text:?}");
    let (app, version) = text.rsplit_once(':').ok_or_else(err)?;
    let version: i64 = version.parse().map_err(|_| err())?;
    if app.is_empty() || version < 0 {
        return Err(err());
    }
    Ok((app.to_string(), version))
}

/// RFC 3339, or a naive date-time / date taken as UTC.
pub fn parse_timestamp(text: &str) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(t.and_utc());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    }
    Err(format!(
        "expected a time like 2026-11-23T18:00:00Z, \"2026-11-23 18:00:00\" (UTC) or 2026-11-23, got {text:?}"
    ))
}

/// `7d`, `168h`, `30m`, `45s`, `500ms`, `2w`, or Delta's `interval 7 days`.
pub fn parse_duration_ms(text: &str) -> Result<i64, String> {
    let text = text.trim();
    if let Some(ms) = strata::parse_interval_ms(text) {
        return Ok(ms);
    }
    let err = || {
        format!("expected a duration like 7d, 168h, 30m, 0s or \"interval 7 days\", got {text:?}")
    };
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(err)?;
    let (number, unit) = text.split_at(split);
    let number: i64 = number.parse().map_err(|_| err())?;
    let unit_ms: i64 = match unit.trim().to_ascii_lowercase().as_str() {
        "ms" => 1,
        "s" | "sec" | "secs" | "second" | "seconds" => 1_000,
        "m" | "min" | "mins" | "minute" | "minutes" => 60_000,
        "h" | "hour" | "hours" => 3_600_000,
        "d" | "day" | "days" => 86_400_000,
        "w" | "week" | "weeks" => 7 * 86_400_000,
        _ => return Err(err()),
    };
    number.checked_mul(unit_ms).ok_or_else(err)
}

/// `134217728`, `128MiB`, `128MB`, `128m`, `1GiB`, `512k`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let err = || format!("expected a size like 128MiB, 1GB or 1048576, got {text:?}");
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().map_err(|_| err())?;
    let multiplier: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mib" => 1024.0 * 1024.0,
        "g" | "gb" => 1e9,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        _ => return Err(err()),
    };
    let bytes = (number * multiplier).round();
    if !(1.0..=u64::MAX as f64).contains(&bytes) {
        return Err(err());
    }
    Ok(bytes as u64)
}

/// A column definition, `name type [NOT NULL] [COMMENT '…'] [FIRST | AFTER col]`.
fn parse_new_column(text: &str) -> Result<strata::NewColumn, String> {
    strata::NewColumn::parse(text).map_err(|e| match e {
        strata::Error::InvalidArgument(reason) => reason,
        other => other.to_string(),
    })
}

/// `old=new`: two column names, neither empty.
fn parse_rename(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((old, new)) if !old.trim().is_empty() && !new.trim().is_empty() => {
            Ok((old.trim().to_string(), new.trim().to_string()))
        }
        _ => Err(format!("expected OLD=NEW column names, got {text:?}")),
    }
}

/// `column=type`, the type as `create --schema` spells it (`long`, `decimal(12,2)`, …).
fn parse_column_type(text: &str) -> Result<(String, strata::DataType), String> {
    let err = || {
        format!(
            "expected COLUMN=TYPE with a Delta or SQL type name (long, double, decimal(12,2), …), got {text:?}"
        )
    };
    let (column, type_name) = text.split_once('=').ok_or_else(err)?;
    let (column, type_name) = (column.trim(), type_name.trim());
    if column.is_empty() || type_name.is_empty() {
        return Err(err());
    }
    let parsed = strata::StructType::from_ddl(&format!("x {type_name}")).map_err(|_| err())?;
    match parsed.fields.as_slice() {
        [field] => Ok((column.to_string(), field.data_type.clone())),
        _ => Err(err()),
    }
}

/// `column = expression` (the column may be backquoted).
fn parse_assignment(text: &str) -> Result<(String, String), String> {
    let (column, value) = text
        .split_once('=')
        .ok_or_else(|| format!("expected `column = expression`, got {text:?}"))?;
    let column = column.trim();
    let column = column
        .strip_prefix('`')
        .and_then(|c| c.strip_suffix('`'))
        .unwrap_or(column);
    if column.is_empty() || value.trim().is_empty() {
        return Err(format!("expected `column = expression`, got {text:?}"));
    }
    Ok((column.to_string(), value.trim().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_parse() {
        assert_eq!(parse_duration_ms("7d"), Ok(7 * 86_400_000));
        assert_eq!(parse_duration_ms("0s"), Ok(0));
        assert_eq!(parse_duration_ms("interval 2 hours"), Ok(7_200_000));
        assert!(parse_duration_ms("7").is_err());
        assert!(parse_duration_ms("-1d").is_err());
        assert_eq!(parse_size("128MiB"), Ok(128 << 20));
        assert_eq!(parse_size("1GB"), Ok(1_000_000_000));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("0").is_err());
        assert!(parse_size("12 parsecs").is_err());
        assert_eq!(parse_txn("job:a:7"), Ok(("job:a".into(), 7)));
        assert!(parse_txn("job").is_err());
        assert!(parse_txn(":3").is_err());
        let t = parse_timestamp("2026-11-23 18:00:00").unwrap();
        assert_eq!(t, parse_timestamp("2026-11-23T18:00:00Z").unwrap());
        assert_eq!(
            parse_timestamp("2026-11-23").unwrap(),
            parse_timestamp("2026-11-23T00:00:00+00:00").unwrap()
        );
        assert!(parse_timestamp("yesterday").is_err());
        assert_eq!(parse_key_value("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert!(parse_key_value("=x").is_err());
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}

/// `strata pipeline …`.
#[derive(Debug, clap::Subcommand)]
pub enum PipelineCommand {
    /// Run every flow once, in dependency order (or keep running with --watch).
    #[command(
        after_help = "Examples:\n  strata pipeline run pipeline.toml\n  strata pipeline run pipeline.toml --lake ./lake --json\n  strata pipeline run pipeline.toml --watch 30"
    )]
    Run {
        /// The pipeline file.
        file: std::path::PathBuf,
        /// The lake root (default: the file's `lake`).
        #[arg(long)]
        lake: Option<String>,
        /// Run again every this many seconds until interrupted (Ctrl-C ends it after the run
        /// in progress).
        #[arg(long, value_name = "SECONDS")]
        watch: Option<u64>,
        #[command(flatten)]
        json: Json,
    },
    /// How far each flow is behind its sources, in versions and rows.
    #[command(
        after_help = "Examples:\n  strata pipeline status pipeline.toml\n  strata pipeline status pipeline.toml --json"
    )]
    Status {
        /// The pipeline file.
        file: std::path::PathBuf,
        /// The lake root (default: the file's `lake`).
        #[arg(long)]
        lake: Option<String>,
        #[command(flatten)]
        json: Json,
    },
    /// Recompute one flow's target from its sources, and every flow downstream of it.
    #[command(after_help = "Examples:\n  strata pipeline reset pipeline.toml clean_flights")]
    Reset {
        /// The pipeline file.
        file: std::path::PathBuf,
        /// The flow to recompute.
        flow: String,
        /// The lake root (default: the file's `lake`).
        #[arg(long)]
        lake: Option<String>,
        #[command(flatten)]
        json: Json,
    },
}
