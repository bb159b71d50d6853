//! `ordermux serve`: the gateway on the embedded store until SIGTERM/SIGINT.
//! `ordermux check-config`: validate the configuration and print every problem.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use crate::config::{Config, LogFormat};
use crate::gateway::{self, Gateway};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormatArg {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Configuration file (default: ./gateway.toml).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Address to listen on, overriding server.listen.
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Directory of the embedded store, overriding server.data_dir.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Log line format, overriding server.log_format.
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormatArg>,
}

#[derive(Debug, Args)]
pub struct CheckConfigArgs {
    /// Configuration file (default: ./gateway.toml).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

pub fn check_config(args: &CheckConfigArgs) -> ExitCode {
    match Config::load(args.config.as_deref()) {
        Ok(config) => {
            let mut problems = config.serve_problems();
            problems.extend(unreachable_backends(&config));
            if problems.is_empty() {
                println!(
                    "configuration OK: listen {}, data {}, {} client(s), {} market(s), {} product(s), {} backend(s), {} route(s)",
                    config.server.listen,
                    config.server.data_dir.display(),
                    config.clients.len(),
                    config.markets.len(),
                    config.catalog.products.len(),
                    config.backends.len(),
                    config.routes.len()
                );
                ExitCode::SUCCESS
            } else {
                for p in problems {
                    eprintln!("{p}");
                }
                ExitCode::from(2)
            }
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}

/// Each upstream backend whose base URL's host name resolves only to addresses serving would not connect to
/// (`backends::address`), as a problem; a name that cannot be resolved here is noted and not judged.
fn unreachable_backends(config: &Config) -> Vec<String> {
    use crate::backends::address::{check_base_url, HostCheck};
    let upstreams: Vec<(usize, &crate::config::Backend)> = config
        .backends
        .iter()
        .enumerate()
        .filter(|(_, b)| !b.base_url.is_empty())
        .collect();
    if upstreams.is_empty() {
        return Vec::new();
    }
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return vec!["cannot start a runtime to resolve backend host names".to_owned()];
    };
    let mut problems = Vec::new();
    for (i, b) in upstreams {
        match rt.block_on(check_base_url(&b.base_url, b.allow_private_addresses)) {
            HostCheck::Reachable => {}
            HostCheck::Refused(why) => problems.push(format!("backends[{i}].base_url: {why}")),
            HostCheck::Unresolved(why) => {
                println!("note: backends[{i}].base_url: {why}; not checked")
            }
        }
    }
    // A look-up given up on may still be running on the blocking pool: not waited for.
    rt.shutdown_background();
    problems
}

pub fn run(args: &ServeArgs) -> ExitCode {
    let mut config = match super::load_config(args.config.as_deref(), args.data_dir.as_ref()) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if let Some(listen) = args.listen {
        config.server.listen = listen;
    }
    if let Some(format) = args.log_format {
        config.server.log_format = match format {
            LogFormatArg::Text => LogFormat::Text,
            LogFormatArg::Json => LogFormat::Json,
        };
    }
    crate::telemetry::init(config.server.log_format);
    match &config.file {
        Some(path) => tracing::info!(config = %path.display(), "configuration loaded"),
        None => tracing::warn!(
            "no {} in the working directory and no --config: built-in defaults (and ORDERMUX__ overrides) only",
            crate::config::DEFAULT_CONFIG_FILE
        ),
    }
    if config.clients.is_empty() {
        // Pass-through needs none (the shop authenticates), but nothing else can be used without one.
        tracing::warn!("no API clients configured: every dialect API request that is not passed through to a shop is refused (401)");
    }
    // Single-threaded: this thread is one of the serving workers (`gateway::serve_workers`).
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("ordermux serve: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let addr = config.server.listen;
    let data_dir = config.server.data_dir.clone();
    let _serving = crate::store::ServingLock::take(&data_dir)?;
    let gateway = Gateway::open(config).await?;
    let listener = gateway::bind(&gateway, addr).await?;
    let local = listener.local_addr()?;
    tracing::info!(listen = %local, data_dir = %data_dir.display(), "ordermux gateway listening");
    // Scripts and tests that start the server on port 0 read the address from this line.
    println!("listening on http://{local}");
    gateway::serve_workers(gateway, listener, shutdown_signal()).await?;
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
    tracing::info!("shutdown signal received");
}
