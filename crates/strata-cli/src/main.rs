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

/// mimalloc: scans allocate and free large page buffers quickly, which glibc's malloc serves
/// with mmap, munmap and page faults.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
        // Exit at once, from whichever thread: nothing half-done (say, an append whose input
        // reader died) may go on to commit.
        std::process::exit(1);
    }));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage(e),
    };
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

/// Help and version go to stdout as clap renders them; a usage error is clap's first line
/// (which names the argument and the problem) and a pointer to the help, exit code 2.
fn usage(error: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        error.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = error.print();
        return if error.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
            ExitCode::from(error.exit_code() as u8)
        } else {
            ExitCode::SUCCESS
        };
    }
    // clap's message without its usage block, on one line.
    let rendered = error.render().to_string();
    let message: Vec<&str> = rendered
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .collect();
    let message = message.join(" ").replace(" tip:", "; tip:");
    let message = message.strip_prefix("error:").unwrap_or(&message).trim();
    eprintln!("error: {message}; see `strata --help`");
    ExitCode::from(2)
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
