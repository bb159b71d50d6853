//! The `ordermux` command line: clap definitions and thin runners over the library.

mod translate;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use translate::TranslateArgs;

#[derive(Debug, Parser)]
#[command(
    name = "ordermux",
    version,
    about = "Multi-dialect commerce order gateway"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Translate an order document from one dialect into another.
    Translate(TranslateArgs),
}

/// Runs the parsed command and returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Translate(args) => translate::run(&args),
    }
}
