//! `ordermux replay`: the command-line runner over `crate::replay`.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use super::translate::DialectArg;
use crate::config::Config;
use crate::dialects::DecodeOptions;
use crate::replay::{
    self, BarProgress, FileSource, IdMapLine, LineProgress, Progress, ReplayOptions,
};

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Where the orders go: `embedded` (the embedded shop) or the name of a `[[backends]]` entry.
    #[arg(long)]
    pub to: String,
    /// The orders: a JSON array, NDJSON (one document per line), or a directory of `*.json` documents. Each is a
    /// create request or an order object, bare or as `{"source_id": …, "document": …}`.
    #[arg(long, value_name = "PATH")]
    pub from_file: PathBuf,
    /// The documents' dialect.
    #[arg(long, value_enum)]
    pub dialect: DialectArg,
    /// Configuration file (default: ./gateway.toml).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Data directory (the store holding the replay journal and the embedded shop).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// The client whose orders these become (default: the first configured client).
    #[arg(long)]
    pub client: Option<String>,
    /// Orders in flight at once (default: 128 into the embedded shop, whose group commit thrives on many; 8 into
    /// an upstream, whose rate limits do not).
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Stop once this many orders have failed (the journal keeps what was done).
    #[arg(long)]
    pub max_failures: Option<u64>,
    /// Decode, validate and translate every order; write nothing; report what would be lost.
    #[arg(long)]
    pub dry_run: bool,
    /// Write the run's report (JSON) here.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Write the id map (CSV: source platform, source id, target id) here.
    #[arg(long, value_name = "FILE")]
    pub id_map: Option<PathBuf>,
}

/// Exit codes: 0 every order is in the target; 1 some failed (see the report); 2 the run could not start.
pub fn run(args: &ReplayArgs) -> ExitCode {
    let mut config = match Config::load(args.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if let Some(dir) = &args.data_dir {
        config.server.data_dir.clone_from(dir);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(replay(args, config)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ordermux replay: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn replay(args: &ReplayArgs, config: Config) -> anyhow::Result<ExitCode> {
    let client = match &args.client {
        Some(id) if config.clients.iter().any(|c| &c.id == id) => id.clone(),
        Some(id) => anyhow::bail!("no client {id:?} in the configuration"),
        None => config
            .clients
            .first()
            .map(|c| c.id.clone())
            .ok_or_else(|| anyhow::anyhow!("the configuration has no [[clients]]"))?,
    };
    let decode = DecodeOptions {
        default_currency: Some(config.defaults.currency),
    };
    let shop = replay::target_shop(&config, &args.to, &client).await?;
    let options = ReplayOptions {
        target: args.to.clone(),
        source: FileSource {
            path: args.from_file.clone(),
            dialect: args.dialect.into(),
        },
        client,
        concurrency: args
            .concurrency
            .unwrap_or(if shop.upstream.is_some() { 8 } else { 128 }),
        max_failures: args.max_failures,
        dry_run: args.dry_run,
        decode,
    };
    let progress: Box<dyn Progress> = if std::io::stderr().is_terminal() {
        Box::new(BarProgress::new())
    } else {
        Box::new(LineProgress::new(Duration::from_secs(5)))
    };
    let mut id_map = match &args.id_map {
        Some(path) => {
            let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
            writeln!(w, "source_platform,source_id,target_id")?;
            Some(w)
        }
        None => None,
    };
    let mut write_error: Option<std::io::Error> = None;
    let mut on_id = |line: IdMapLine| {
        if let Some(w) = id_map.as_mut() {
            if let Err(e) = writeln!(
                w,
                "{},{},{}",
                line.source_platform,
                csv_field(&line.source_id),
                csv_field(&line.target_id)
            ) {
                write_error.get_or_insert(e);
            }
        }
    };
    let report = replay::run(&options, &shop, progress.as_ref(), &mut on_id).await?;
    if let Some(mut w) = id_map {
        w.flush()?;
    }
    if let Some(e) = write_error {
        return Err(e.into());
    }
    if let Some(path) = &args.report {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)?;
    }
    print!("{}", replay::summary(&report));
    for f in report.failures.iter().take(10) {
        eprintln!("failed {} ({}): {}", f.source_key, f.at, f.error);
    }
    Ok(if report.failed == 0 && !report.stopped_early {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// A CSV field, quoted when it holds a comma, quote or line break.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}
