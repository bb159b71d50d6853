//! The `ordermux` binary: parse the command line and run it.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = ordermux::cli::Cli::parse();
    ordermux::cli::run(cli)
}
