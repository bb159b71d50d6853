//! The `ordermux` command line: clap definitions and thin runners over the library.

mod replay;
mod serve;
mod translate;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use replay::ReplayArgs;
pub use serve::{CheckConfigArgs, ServeArgs};
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
    /// Run the gateway: all three dialects over HTTP on the embedded store.
    Serve(ServeArgs),
    /// Validate the configuration and print every problem found.
    CheckConfig(CheckConfigArgs),
    /// Translate an order document from one dialect into another.
    Translate(TranslateArgs),
    /// Migrate orders into a shop exactly once: resumable, with progress, a report and an id map.
    Replay(Box<ReplayArgs>),
}

/// The configuration at `path` with the data directory overridden, or exit code 2 with every problem printed.
fn load_config(
    path: Option<&std::path::Path>,
    data_dir: Option<&std::path::PathBuf>,
) -> Result<crate::config::Config, ExitCode> {
    let mut config = crate::config::Config::load(path).map_err(|e| {
        eprintln!("{e}");
        ExitCode::from(2)
    })?;
    if let Some(dir) = data_dir {
        config.server.data_dir.clone_from(dir);
    }
    Ok(config)
}

/// The multi-threaded async runtime the long-running commands use.
fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("cannot start the async runtime: {e}");
            ExitCode::FAILURE
        })
}

/// Runs the parsed command and returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Serve(args) => serve::run(&args),
        Command::CheckConfig(args) => serve::check_config(&args),
        Command::Translate(args) => translate::run(&args),
        Command::Replay(args) => replay::run(&args),
    }
}
