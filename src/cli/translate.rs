//! `ordermux translate`: one document in, the same order in another dialect out.
//!
//! Exit codes: 0 translated; 2 invalid input or unreadable file/config (one line on stderr, nothing on stdout);
//! 3 `--strict` and something was lost, or the order is one a shop would refuse (the document is still printed,
//! the losses and the refusal are on stderr).

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use crate::canonical::{Currency, Platform};
use crate::config::Config;
use crate::dialects::{self, DecodeOptions, DocumentKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DialectArg {
    Fluentcart,
    Commercelayer,
    Bigcommerce,
}

impl From<DialectArg> for Platform {
    fn from(d: DialectArg) -> Platform {
        match d {
            DialectArg::Fluentcart => Platform::FluentCart,
            DialectArg::Commercelayer => Platform::CommerceLayer,
            DialectArg::Bigcommerce => Platform::BigCommerce,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormArg {
    /// The target's create request.
    Request,
    /// The target's order object, statuses included.
    Order,
}

#[derive(Debug, Args)]
pub struct TranslateArgs {
    /// Dialect of the input document.
    #[arg(long, value_enum)]
    pub from: DialectArg,
    /// Dialect to render.
    #[arg(long, value_enum)]
    pub to: DialectArg,
    /// Which target document to render.
    #[arg(long = "as", value_enum, default_value = "request")]
    pub form: FormArg,
    /// Currency for inputs that carry none (default: gateway.toml [defaults] currency).
    #[arg(long)]
    pub currency: Option<String>,
    /// Exit with code 3 if the translation loses anything, or renders an order a shop would refuse.
    #[arg(long)]
    pub strict: bool,
    /// Configuration file (default: ./gateway.toml if present).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Input file, or - for standard input.
    #[arg(default_value = "-")]
    pub input: String,
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(2)
}

pub fn run(args: &TranslateArgs) -> ExitCode {
    let default_currency = match &args.currency {
        Some(code) => match Currency::parse(code) {
            Ok(c) => c,
            Err(e) => return fail(format_args!("--currency: {e}")),
        },
        None => match Config::load(args.config.as_deref()) {
            Ok(cfg) => cfg.defaults.currency,
            Err(e) => return fail(e.to_string().replace('\n', " ")),
        },
    };
    let mut bytes = Vec::new();
    let read = if args.input == "-" {
        std::io::stdin().read_to_end(&mut bytes).map(|_| ())
    } else {
        std::fs::read(&args.input).map(|b| bytes = b)
    };
    if let Err(e) = read {
        return fail(format_args!("{}: {e}", args.input));
    }
    let options = DecodeOptions {
        default_currency: Some(default_currency),
    };
    let decoded = match dialects::decode(args.from.into(), &bytes, &options) {
        Ok(d) => d,
        Err(problem) => {
            let pointer = if problem.pointer.is_empty() {
                "/"
            } else {
                problem.pointer.as_str()
            };
            eprintln!(
                "error: invalid {} document at {pointer}: {} ({})",
                Platform::from(args.from),
                problem.reason,
                problem.kind
            );
            return ExitCode::from(2);
        }
    };
    let kind = match args.form {
        FormArg::Request => DocumentKind::Request,
        FormArg::Order => DocumentKind::Order,
    };
    let out = dialects::encode(args.to.into(), kind, &decoded.order);
    let text =
        serde_json::to_string_pretty(&out.value).expect("a serde_json::Value always serializes");
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = writeln!(stdout, "{text}") {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            return ExitCode::SUCCESS;
        }
        return fail(e);
    }
    for loss in &out.losses {
        eprintln!("warning: {loss}");
    }
    let refusal = shop_refusal(&decoded.order);
    if let Some(reason) = &refusal {
        eprintln!("warning: /: a shop would refuse this order: {reason}");
    }
    if args.strict && (!out.losses.is_empty() || refusal.is_some()) {
        return ExitCode::from(3);
    }
    ExitCode::SUCCESS
}

/// Why a shop would refuse the order, as stated or as a shop works its totals out from its parts (the gateway
/// answers such a create with 422): the translation renders it anyway, and says so.
fn shop_refusal(order: &crate::canonical::Order) -> Option<String> {
    let mut priced = order.clone();
    priced.recompute_totals();
    order
        .totals_problem()
        .or_else(|| priced.totals_problem())
        .map(|problem| problem.reason)
}
