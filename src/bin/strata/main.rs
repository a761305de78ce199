//! The `strata` command-line tool: every library capability one command away, for people
//! (aligned tables, human sizes and times, progress bars on a terminal) and for scripts
//! (`--json` with stable keys, documented in the README; exit code 1 for errors, 2 for usage).
//!
//! A thin shell over the library: argument parsing ([`args`]), input decoding for `append`
//! ([`input`]) and rendering ([`output`]); what a command does is a library call.

mod args;
mod commands;
mod error;
mod input;
mod output;

use std::process::ExitCode;

use clap::Parser;

use crate::args::Cli;
use crate::error::CliError;

fn main() -> ExitCode {
    // A panic is a bug in strata; say so in one line rather than with Rust's debug output.
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let place = info
            .location()
            .map(|l| format!(" at {l}"))
            .unwrap_or_default();
        eprintln!(
            "error: internal error in strata {}{place}: {message}; this is a bug, please report it",
            env!("CARGO_PKG_VERSION")
        );
    }));
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            return report(CliError::Io {
                path: "the async runtime".into(),
                source: e,
            });
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report(e),
    }
}

/// Prints the error as one line on stderr and picks the exit code. A closed stdout (`strata
/// scan … | head`) is not an error.
fn report(error: CliError) -> ExitCode {
    if error.is_broken_pipe() {
        return ExitCode::SUCCESS;
    }
    let message = error.to_string().replace(['\n', '\r'], " ");
    eprintln!("error: {message}");
    ExitCode::from(error.exit_code())
}
