//! The `strata` command-line tool. Subcommands arrive with the CLI issue; for now it prints
//! help and version.

use clap::Parser;

/// ACID tables on a data lake, compatible with the Delta Lake protocol.
#[derive(Parser)]
#[command(name = "strata", version, about, long_about = None)]
struct Cli {}

fn main() {
    let _ = Cli::parse();
    println!(
        "strata {}: no subcommands yet; run `strata --help`",
        env!("CARGO_PKG_VERSION")
    );
}
