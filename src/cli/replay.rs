//! `ordermux replay`: the command-line runner over `crate::replay`.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use super::translate::DialectArg;
use crate::canonical::{OrderFilter, Range};
use crate::config::Config;
use crate::dialects::DecodeOptions;
use crate::replay::{
    self, BackendSource, BarProgress, FileSource, IdMapLine, LineProgress, NotificationPolicy,
    Progress, ReplayOptions, Source,
};

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Where the orders go: `embedded` (the embedded shop) or the name of a `[[backends]]` entry.
    #[arg(long)]
    pub to: String,
    /// The orders: a JSON array, NDJSON (one document per line), or a directory of `*.json` documents. Each is a
    /// create request or an order object, bare or as `{"source_id": …, "document": …}`.
    #[arg(
        long,
        value_name = "PATH",
        required_unless_present_any = ["from_backend", "notifications"],
        conflicts_with = "from_backend",
        requires = "dialect"
    )]
    pub from_file: Option<PathBuf>,
    /// The documents' dialect (with --from-file).
    #[arg(long, value_enum)]
    pub dialect: Option<DialectArg>,
    /// Read the orders from a configured backend's list API instead (`embedded` or a `[[backends]]` name).
    #[arg(long, value_name = "BACKEND")]
    pub from_backend: Option<String>,
    /// Backend source: orders created at or after this instant (RFC 3339, or YYYY-MM-DD).
    #[arg(long, value_parser = parse_instant)]
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// Backend source: orders created at or before this instant.
    #[arg(long, value_parser = parse_instant)]
    pub until: Option<chrono::DateTime<chrono::Utc>>,
    /// Backend source: orders modified at or after this instant.
    #[arg(long, value_parser = parse_instant)]
    pub modified_since: Option<chrono::DateTime<chrono::Utc>>,
    /// Backend source: orders modified at or before this instant.
    #[arg(long, value_parser = parse_instant)]
    pub modified_until: Option<chrono::DateTime<chrono::Utc>>,
    /// Backend source: lowest order id, in the source platform's id scheme (the embedded shop: FluentCart ids).
    #[arg(long)]
    pub min_id: Option<u64>,
    /// Backend source: highest order id.
    #[arg(long)]
    pub max_id: Option<u64>,
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
    /// The target's customer e-mails: `mute` switches off, for the run, those the platform lets an API client
    /// switch off (FluentCart) and switches them back on at its end; `keep` leaves them on; `restore` only
    /// switches back on what an interrupted run left off, then exits.
    #[arg(long, value_enum, default_value = "mute")]
    pub notifications: NotificationsArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum NotificationsArg {
    Mute,
    Keep,
    Restore,
}

/// Exit codes: 0 every order is in the target; 1 some failed (see the report); 2 the run could not start.
pub fn run(args: &ReplayArgs) -> ExitCode {
    let config = match super::load_config(args.config.as_deref(), args.data_dir.as_ref()) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let runtime = match super::runtime() {
        Ok(r) => r,
        Err(code) => return code,
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
    if args.notifications == NotificationsArg::Restore {
        let mut report = replay::NotificationReport::default();
        let restored = replay::restore_notifications(&shop, &mut report).await?;
        println!(
            "switched back on: {}",
            if restored.is_empty() {
                "nothing (no notification of this shop is recorded as switched off)".to_owned()
            } else {
                restored.join(", ")
            }
        );
        if !report.not_restored.is_empty() {
            eprintln!(
                "could not switch back on (still off): {}",
                report.not_restored.join(", ")
            );
            return Ok(ExitCode::from(1));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let source = match (&args.from_file, args.dialect, &args.from_backend) {
        (Some(path), Some(dialect), None) => Source::File(FileSource {
            path: path.clone(),
            dialect: dialect.into(),
        }),
        (None, _, Some(name)) => {
            if name == &args.to {
                anyhow::bail!("--from-backend and --to name the same shop");
            }
            let source_shop = replay::shop_for(&config, &shop.store, name)?;
            let platform = source_shop
                .upstream
                .as_ref()
                .map_or(crate::canonical::Platform::FluentCart, |u| u.platform());
            let filter = OrderFilter {
                created: Range {
                    min: args.since,
                    max: args.until,
                },
                updated: Range {
                    min: args.modified_since,
                    max: args.modified_until,
                },
                id_range: (args.min_id.is_some() || args.max_id.is_some()).then_some((
                    platform,
                    Range {
                        min: args.min_id,
                        max: args.max_id,
                    },
                )),
                ..OrderFilter::default()
            };
            Source::Backend(Box::new(BackendSource {
                name: name.clone(),
                shop: source_shop,
                filter,
            }))
        }
        _ => anyhow::bail!("give --from-file with --dialect, or --from-backend"),
    };
    let options = ReplayOptions {
        target: args.to.clone(),
        source,
        client,
        concurrency: args
            .concurrency
            .unwrap_or(if shop.upstream.is_some() { 8 } else { 128 }),
        max_failures: args.max_failures,
        dry_run: args.dry_run,
        decode,
        notifications: if args.notifications == NotificationsArg::Keep {
            NotificationPolicy::Keep
        } else {
            NotificationPolicy::Mute
        },
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
    if !report.notifications.not_restored.is_empty() {
        eprintln!(
            "ordermux replay: customer notifications still switched off in {}: {} (re-run, or run with --notifications restore)",
            args.to,
            report.notifications.not_restored.join(", ")
        );
    }
    Ok(
        if report.failed == 0
            && !report.stopped_early
            && report.notifications.not_restored.is_empty()
        {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        },
    )
}

/// An instant on the command line: RFC 3339, `YYYY-MM-DDTHH:MM:SS` (UTC), or a date (its start, UTC).
fn parse_instant(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    if let Some(t) = crate::dialects::dates::parse_iso_or_naive(text) {
        return Ok(t);
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| format!("{text:?} is not an RFC 3339 instant or a YYYY-MM-DD date"))
}

/// A CSV field, quoted when it holds a comma, quote or line break.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}
