//! The CLI's one error type: the library's errors as they are (they already name the table,
//! version or file and what to do), plus the tool's own input and output failures.

use std::io;

/// Exit code for errors while running a command.
const EXIT_ERROR: u8 = 1;
/// Exit code for a command line that does not make sense (clap uses it too).
const EXIT_USAGE: u8 = 2;

impl From<strata_pipelines::PipelineError> for CliError {
    fn from(e: strata_pipelines::PipelineError) -> Self {
        match e {
            strata_pipelines::PipelineError::Table(e) => CliError::Table(e),
            other => CliError::Pipeline(Box::new(other)),
        }
    }
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The library refused or failed.
    #[error(transparent)]
    Table(#[from] strata::Error),
    /// The library's error with what to do from the command line.
    #[error("{source}; {hint}")]
    Hinted {
        /// The library's error (boxed: it is the large variant).
        source: Box<strata::Error>,
        /// The command-line remedy.
        hint: &'static str,
    },
    /// A pipeline operation failed.
    #[error(transparent)]
    Pipeline(Box<strata_pipelines::PipelineError>),
    /// Something named on the command line does not exist (a tag, say).
    #[error("{0}")]
    NotFound(String),
    /// The command does not fit the table as it is.
    #[error("{0}")]
    Refused(String),
    /// Arguments that parse but do not fit together.
    #[error("{0}")]
    Usage(String),
    /// Reading an input file or writing output failed.
    #[error("cannot access {path}: {source}")]
    Io {
        /// The file, or what was being written.
        path: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// An input file could not be decoded.
    #[error("cannot read {path}: {reason}")]
    Input {
        /// The input file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Output could not be encoded in the requested format.
    #[error("cannot write the {format} output: {reason}")]
    Output {
        /// `csv`, `jsonl`, `parquet`, …
        format: &'static str,
        /// Why.
        reason: String,
    },
}

impl CliError {
    /// 2 for usage errors, 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => EXIT_USAGE,
            _ => EXIT_ERROR,
        }
    }

    /// True when stdout was closed by the reader (a pipe into `head`).
    pub fn is_broken_pipe(&self) -> bool {
        match self {
            CliError::Io { source, .. } => source.kind() == io::ErrorKind::BrokenPipe,
            _ => false,
        }
    }

    /// An error writing to standard output.
    pub fn stdout(source: io::Error) -> CliError {
        CliError::Io {
            path: "standard output".into(),
            source,
        }
    }
}

/// Result alias for CLI commands.
pub type CliResult<T = ()> = Result<T, CliError>;
