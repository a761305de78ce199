//! strata's error type.
//!
//! One public enum for the table layer with structured fields, so callers can match on what
//! happened (a conflict, a missing version, an unsupported feature) rather than parse strings.
//! The pure modules keep their own errors ([`SchemaError`], [`PartitionError`],
//! [`StatsError`]) and are wrapped here. Every message names the table, file or version it is
//! about and, where there is one, what to do next.

use crate::protocol::deletion_vector::DeletionVectorError;
use crate::protocol::partition::PartitionError;
use crate::protocol::schema::SchemaError;
use crate::stats::StatsError;

/// Result alias for strata operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a commit lost to a concurrent writer (`protocol/PROTOCOL.md#conflicts`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConflictReason {
    /// Another writer created this version first and strata does not yet rebase (or the
    /// operation is not safely rebased).
    VersionTaken,
    /// The winner changed the table's protocol.
    ProtocolChanged,
    /// The winner changed the table's metadata (schema, partitioning, properties).
    MetadataChanged,
    /// The winner removed a file this transaction read or removes.
    FileRemoved {
        /// The file the winner removed.
        path: String,
    },
    /// The winner added files that this transaction's read predicate matches.
    FilesAdded {
        /// One of the added files.
        path: String,
    },
    /// The winner committed the same application transaction id.
    TxnConflict {
        /// The application id.
        app_id: String,
    },
    /// The winner changed the same metadata domain.
    DomainConflict {
        /// The domain.
        domain: String,
    },
    /// The transaction was to commit right after version `expected` (a read-modify-write job's
    /// guard, `with_expected_version`), and the table has moved on.
    VersionMoved {
        /// The version the transaction read and expected to build on.
        expected: i64,
    },
    /// Retries were exhausted.
    TooManyRetries {
        /// Attempts made.
        attempts: u32,
    },
}

impl std::fmt::Display for ConflictReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConflictReason::VersionTaken => {
                write!(f, "another writer committed that version first")
            }
            ConflictReason::ProtocolChanged => write!(f, "it changed the table protocol"),
            ConflictReason::MetadataChanged => write!(f, "it changed the table metadata"),
            ConflictReason::FileRemoved { path } => write!(
                f,
                "it removed file {path}, which this write read or removes"
            ),
            ConflictReason::FilesAdded { path } => write!(
                f,
                "it added file {path}, which this write's read predicate matches"
            ),
            ConflictReason::TxnConflict { app_id } => write!(
                f,
                "it committed a transaction for the same appId {app_id:?}"
            ),
            ConflictReason::DomainConflict { domain } => {
                write!(f, "it changed the same metadata domain {domain:?}")
            }
            ConflictReason::VersionMoved { expected } => write!(
                f,
                "the table moved past version {expected}, which this write expected to build on"
            ),
            ConflictReason::TooManyRetries { attempts } => {
                write!(f, "the commit lost the race {attempts} times")
            }
        }
    }
}

/// What is wrong with a data file a version reads ([`Error::BadDataFile`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataFileProblem {
    /// The file in the store is not the size the log's `add` action records: it was replaced,
    /// truncated or extended after it was committed.
    #[error(
        "its size in the store ({actual} bytes) differs from the size the log records for it ({expected} bytes), so it was changed after it was committed"
    )]
    SizeMismatch {
        /// The size the log records.
        expected: u64,
        /// The size in the store.
        actual: u64,
    },
    /// The file is not readable Parquet (corrupt or truncated where the log's size agrees).
    #[error("it is not readable Parquet ({0})")]
    Parquet(#[source] parquet::errors::ParquetError),
    /// The file's columns do not convert to the table's schema (it was not written for this
    /// table, or was replaced by one that was not).
    #[error("its columns do not convert to the table's schema ({0})")]
    Schema(#[source] arrow::error::ArrowError),
}

/// Errors from strata's table operations.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The location holds no Delta table (no `_delta_log` with commits).
    #[error(
        "no Delta table at {location}: `_delta_log/` has no commit files; create the table first or check the path"
    )]
    NotATable {
        /// Table location.
        location: String,
    },
    /// A table was to be created where one already exists.
    #[error("a Delta table already exists at {location} (version {version}); open it instead")]
    TableExists {
        /// Table location.
        location: String,
        /// Its latest version.
        version: i64,
    },
    /// An object store operation failed.
    #[error("storage error on {path}: {source}")]
    Storage {
        /// The object path.
        path: String,
        /// The store's error.
        #[source]
        source: object_store::Error,
    },
    /// The table location could not be understood or its store could not be configured.
    #[error("invalid table location {location:?}: {reason}")]
    InvalidLocation {
        /// What was given.
        location: String,
        /// Why it was refused.
        reason: String,
    },
    /// A log file could not be parsed.
    #[error(
        "corrupt log file {path} (version {version}, line {line}): {reason}; the table cannot be read at or after this version until the file is repaired"
    )]
    CorruptLog {
        /// The file.
        path: String,
        /// Its version.
        version: i64,
        /// 1-based line, 0 when the file as a whole is bad.
        line: usize,
        /// The parse error.
        reason: String,
    },
    /// A tag's side file (`_strata/tags/…`) is not what strata writes.
    #[error(
        "corrupt tag file {path}: {reason}; restore the file, or delete it to drop the tag (the tagged version's data is not protected from vacuum meanwhile)"
    )]
    CorruptTag {
        /// The file.
        path: String,
        /// The parse error.
        reason: String,
    },
    /// A checkpoint file could not be read.
    #[error("corrupt checkpoint {path} (version {version}): {reason}")]
    CorruptCheckpoint {
        /// The file.
        path: String,
        /// Its version.
        version: i64,
        /// Why.
        reason: String,
    },
    /// A deletion vector cannot be used: its file is missing, or its size, checksum, magic
    /// number, bitmap or cardinality is wrong.
    #[error(
        "deletion vector {path} of data file {data_file} (version {version}) cannot be used: {source}; the table cannot be read at this version until it is repaired"
    )]
    DeletionVector {
        /// The DV file, or `(inline)`.
        path: String,
        /// The data file whose rows it deletes, as the log names it.
        data_file: String,
        /// The version being read.
        version: i64,
        /// What is wrong.
        #[source]
        source: DeletionVectorError,
    },
    /// The change data feed cannot be read over the range asked for.
    #[error("no change data feed for {location} at version {version}: {reason}")]
    ChangeDataFeed {
        /// Table location.
        location: String,
        /// The version the feed does not cover.
        version: i64,
        /// Why (the feed was not enabled, or the log was cleaned up).
        reason: String,
    },
    /// Log versions are not contiguous.
    #[error(
        "the log of {location} is missing version {missing} (found versions around it); the table's history is broken and cannot be read past version {last_good}"
    )]
    MissingVersion {
        /// Table location.
        location: String,
        /// The first missing version.
        missing: i64,
        /// The last version that could be reconstructed.
        last_good: i64,
    },
    /// The log does not establish a protocol or metadata at a version.
    #[error(
        "version {version} of {location} has no {action} action in its log; the table is invalid"
    )]
    MissingAction {
        /// Table location.
        location: String,
        /// The version being loaded.
        version: i64,
        /// `protocol` or `metaData`.
        action: &'static str,
    },
    /// The requested version does not exist or is no longer reconstructable.
    #[error(
        "version {version} of {location} is not available: the table has versions {earliest}..={latest}"
    )]
    VersionNotFound {
        /// Table location.
        location: String,
        /// Requested version.
        version: i64,
        /// Earliest reconstructable version.
        earliest: i64,
        /// Latest version.
        latest: i64,
    },
    /// A timestamp is outside the table's history.
    #[error("no version of {location} at {timestamp}: {reason}")]
    TimestampOutOfRange {
        /// Table location.
        location: String,
        /// The requested timestamp (RFC 3339).
        timestamp: String,
        /// Before the first or after the latest commit, with those commits' times.
        reason: String,
    },
    /// The table needs reader capabilities strata lacks.
    #[error("cannot read {location}: it requires reader version {reader_version} with features [{}], which strata does not support; read it with a client that supports them", features.join(", "))]
    UnsupportedReaderFeatures {
        /// Table location.
        location: String,
        /// The table's minReaderVersion.
        reader_version: i32,
        /// The unsupported features (or the legacy capability implied by the version).
        features: Vec<String>,
    },
    /// The table needs writer capabilities strata lacks.
    #[error("cannot write {location}: it requires writer version {writer_version} with features [{}], which strata does not support", features.join(", "))]
    UnsupportedWriterFeatures {
        /// Table location.
        location: String,
        /// The table's minWriterVersion.
        writer_version: i32,
        /// The unsupported features.
        features: Vec<String>,
    },
    /// Data does not match the table schema; nothing was committed.
    #[error("data does not match the schema of {location}: {}; nothing was written", problems.join("; "))]
    SchemaMismatch {
        /// Table location.
        location: String,
        /// Each problem as one sentence.
        problems: Vec<String>,
    },
    /// A schema could not be parsed or converted.
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// A partition value could not be serialized or parsed.
    #[error(transparent)]
    Partition(#[from] PartitionError),
    /// Statistics configuration was invalid.
    #[error(transparent)]
    Stats(#[from] StatsError),
    /// A predicate that does not parse or does not fit the table's schema.
    #[error(transparent)]
    Predicate(#[from] crate::expr::ExprError),
    /// The commit lost to a concurrent writer.
    #[error(
        "commit to {location} at version {version} conflicted with the winning commit: {reason}; reload the table and retry"
    )]
    Conflict {
        /// Table location.
        location: String,
        /// The version that was taken.
        version: i64,
        /// Why this write cannot be applied on top of the winner.
        reason: ConflictReason,
    },
    /// A data file path resolves outside the table root.
    #[error(
        "file path {path:?} in version {version} escapes the table root of {location}; refusing to touch it"
    )]
    PathEscapesTable {
        /// Table location.
        location: String,
        /// Version whose log named it.
        version: i64,
        /// The offending path.
        path: String,
    },
    /// A data file the version reads is not in the store.
    #[error(
        "data file {path} of version {version} is missing; files no longer read by the versions within the table's retention (delta.deletedFileRetentionDuration, 7 days by default) are deleted by vacuum, so read a later version, or restore the file from a backup"
    )]
    DataFileMissing {
        /// The file.
        path: String,
        /// The version read.
        version: i64,
    },
    /// A data file this commit adds, uploaded longer than the in-flight grace ago, is gone
    /// (a vacuum took it for a leftover of a failed write); nothing was committed
    /// (`protocol/PROTOCOL.md#vacuum`).
    #[error(
        "data file {path}, written {age} ago for a commit to {location} that has not landed yet, no longer exists: a vacuum deletes files no commit references once they are older than its in-flight grace ({grace}, strata.vacuum.inFlightGraceMs); nothing was committed, so run the write again",
        age = crate::protocol::properties::format_duration_ms(*.age_ms),
        grace = crate::protocol::properties::format_duration_ms(*.grace_ms)
    )]
    StagedFileMissing {
        /// Table location.
        location: String,
        /// The data file, as the `add` names it.
        path: String,
        /// How long ago it was written, in milliseconds.
        age_ms: i64,
        /// The table's in-flight grace, in milliseconds.
        grace_ms: i64,
    },
    /// A data file a version reads is there but cannot be read as the log describes it: it is
    /// not the size the log records, not readable Parquet, or its columns do not convert to
    /// the table's schema.
    #[error(
        "cannot read data file {path} of version {version}: {problem}; restore the file from a backup, or read or restore a version that does not read it"
    )]
    BadDataFile {
        /// The file.
        path: String,
        /// The version read.
        version: i64,
        /// What is wrong with it.
        #[source]
        problem: DataFileProblem,
    },
    /// Reading or writing Parquet failed.
    #[error("parquet error on {path}: {source}")]
    Parquet {
        /// The data file.
        path: String,
        /// The parquet crate's error.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// An Arrow operation failed.
    #[error("arrow error: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// The table forbids the operation (e.g. `delta.appendOnly`).
    #[error("{operation} is not allowed on {location}: {reason}")]
    NotAllowed {
        /// Table location.
        location: String,
        /// What was attempted.
        operation: String,
        /// Which table property or rule forbids it.
        reason: String,
    },
    /// An expression failed on a row: overflow, division by zero, a failed `CAST`, or a null
    /// for a column that takes none (`protocol/PROTOCOL.md#expressions`). Nothing was
    /// committed.
    #[error(
        "{operation} on {location}: `{expression}` failed on a row of {file}: {message}; nothing was committed"
    )]
    Evaluation {
        /// Table location.
        location: String,
        /// What was running (`update`, `merge`).
        operation: &'static str,
        /// The data file (relative path) whose row failed.
        file: String,
        /// The expression, as written (`SET col = …` names its column).
        expression: String,
        /// What went wrong.
        message: String,
    },
    /// A row breaks a table constraint: a CHECK constraint (`delta.constraints.<name>`), a
    /// column invariant (`delta.invariants`) or a generated column's expression
    /// (`protocol/PROTOCOL.md#constraints`). The write stopped before committing anything.
    #[error(
        "{operation} on {location} violates {constraint}: `{expression}` is not true for {violations} row(s), e.g. {sample}; nothing was committed. Fix or filter the rows, or drop the constraint"
    )]
    ConstraintViolation {
        /// Table location.
        location: String,
        /// What was writing (`write`, `update`, `merge`, `optimize`, `add constraint`).
        operation: &'static str,
        /// The constraint: `CHECK constraint positive_amount`, `invariant on amount`, …
        constraint: String,
        /// Its expression, as the table stores it.
        expression: String,
        /// Violating rows in the batch that was checked (at least one).
        violations: u64,
        /// The first violating row's values of the columns the expression reads
        /// (`amount => -3, status => NULL`).
        sample: String,
    },
    /// More than one source row matched one target row in a merge
    /// (`protocol/PROTOCOL.md#merge`); nothing was committed.
    #[error(
        "merge into {location}: more than one source row matched the target row with {key}; deduplicate the source by the merge key, or make the only WHEN MATCHED clause an unconditional delete"
    )]
    MergeMultipleMatches {
        /// Table location.
        location: String,
        /// The target row's key, as `column = value, …`.
        key: String,
    },
    /// A caller-supplied argument was invalid.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// An invariant of strata broke, or a task it ran in the background failed (panicked or
    /// was cancelled): a bug, not bad input or a store failure. The operation that returns it
    /// committed nothing.
    #[error("internal error: {context}; this is a bug in strata, please report it")]
    Internal {
        /// What broke, and where.
        context: String,
    },
}

impl Error {
    /// An [`Error::Internal`] with `context`.
    pub(crate) fn internal(context: impl Into<String>) -> Error {
        Error::Internal {
            context: context.into(),
        }
    }

    /// True when the error is a lost commit race that a retry could fix.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Error::Conflict { .. })
    }
}
