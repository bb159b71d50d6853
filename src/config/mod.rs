//! Loading `gateway.toml` (with `ORDERMUX__SECTION__KEY` environment overrides) and the catalog file it names,
//! and validating them from raw to typed, reporting every problem at once. The only module that reads
//! configuration files or the environment.

mod raw;
mod secret;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::canonical::{Currency, Money};

pub use secret::{Credential, Secret};

/// Where the configuration comes from when `--config` is not given.
pub const DEFAULT_CONFIG_FILE: &str = "gateway.toml";

/// The secret shipped for the demo client; a server with it configured only listens on loopback.
pub const DEMO_SECRET: &str = "demo-secret";

/// Validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub defaults: Defaults,
    pub server: ServerConfig,
    pub store: StoreConfig,
    pub catalog: Catalog,
    pub idempotency_retention: Duration,
    pub markets: Vec<Market>,
    pub clients: Vec<Client>,
    pub backends: Vec<Backend>,
    pub routes: Vec<Route>,
    /// Where requests that match no ordermux route go (a reverse proxy in front of an existing shop).
    pub fallback_backend: Option<String>,
    /// The configuration file read; `None` when there was none (built-in defaults and environment overrides).
    pub file: Option<PathBuf>,
}

/// What kind of shop a backend is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// The embedded shop (the default for every dialect).
    Embedded,
    /// An upstream shop of this platform.
    Upstream(crate::canonical::Platform),
}

/// A shop requests can be sent to.
#[derive(Debug, Clone, PartialEq)]
pub struct Backend {
    pub name: String,
    pub kind: BackendKind,
    /// `scheme://host[:port]` (plus an optional path prefix) of an upstream; empty for the embedded shop. Only ever
    /// taken from configuration, never from a request.
    pub base_url: String,
    pub connect_timeout: Duration,
    /// Until the upstream's response head has arrived (one try).
    pub timeout: Duration,
    /// One upstream call, its retries and rate-limit waits included (a request that makes several calls gives each
    /// its own).
    pub total_timeout: Duration,
    /// Larger upstream replies are refused (502) rather than buffered.
    pub max_response_bytes: u64,
    /// Consecutive transport failures that open the circuit breaker, and how long it stays open.
    pub breaker_failures: u32,
    pub breaker_cooldown: Duration,
    /// Calls to this backend that may wait for it at once; past them a call is not made and the caller gets 503
    /// with `Retry-After` (Envoy's `max_pending_requests`).
    pub max_pending: usize,
    /// How long the upstream may still act on a create after ordermux stopped waiting for it (timed out, or the
    /// connection broke): until then, a retry that does not find the order by its stamp is told to come back
    /// rather than sending it again.
    pub settle: Duration,
    /// Commerce Layer: a create that stopped half-way (its draft made upstream, the rest not) and that no attempt
    /// has touched for this long has its draft deleted, so none is left behind (`UpstreamShop::sweep_unfinished`).
    /// Zero: drafts stay until a retry finishes them.
    pub orphan_drafts_after: Duration,
    /// Whether the base URL's host name may resolve to loopback, private or link-local addresses (a shop on the
    /// operator's own network). A base URL naming an IP address or `localhost` is taken as written either way.
    pub allow_private_addresses: bool,
    /// BigCommerce: the upstream store's hash.
    pub store_hash: Option<String>,
    /// Commerce Layer: currency → market id for orders created there.
    pub markets: std::collections::BTreeMap<String, String>,
    /// Commerce Layer: what placing an order selects (see `CheckoutChoices`).
    pub checkout: CheckoutChoices,
    pub credentials: Credentials,
}

/// What ordermux selects on a Commerce Layer order before placing it, which Commerce Layer requires and a caller
/// of another dialect cannot say in Commerce Layer's terms.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CheckoutChoices {
    /// Payment method id. Unset: the first the order's market offers whose payment source ordermux can create
    /// without the customer (a wire transfer or an external payment).
    pub payment_method: Option<String>,
    /// Shipping method id for a shipment when the order's own shipping method names none of those offered.
    /// Unset: the only one offered, if there is one.
    pub shipping_method: Option<String>,
}

/// `orphan_drafts_after_ms` unless configured: the reliability plan's 15 minutes (or, on a backend with a total
/// timeout over 87 s, the least its timeouts allow).
pub const DEFAULT_ORPHAN_DRAFTS_AFTER: Duration = Duration::from_secs(15 * 60);
/// The longest `orphan_drafts_after_ms` accepted: a week.
const MAX_ORPHAN_DRAFTS_AFTER: Duration = Duration::from_secs(7 * 24 * 3600);

impl Backend {
    /// An upstream backend with the defaults `gateway.toml` would give it and no credentials.
    pub fn upstream(
        name: &str,
        platform: crate::canonical::Platform,
        base_url: impl Into<String>,
    ) -> Backend {
        Backend {
            name: name.to_owned(),
            kind: BackendKind::Upstream(platform),
            base_url: base_url.into(),
            connect_timeout: Duration::from_millis(2_000),
            timeout: Duration::from_millis(30_000),
            total_timeout: Duration::from_millis(60_000),
            max_response_bytes: 8 << 20,
            breaker_failures: 5,
            breaker_cooldown: Duration::from_millis(10_000),
            max_pending: 1024,
            settle: Duration::from_millis(30_000),
            orphan_drafts_after: DEFAULT_ORPHAN_DRAFTS_AFTER,
            allow_private_addresses: false,
            store_hash: None,
            markets: Default::default(),
            checkout: CheckoutChoices::default(),
            credentials: Credentials::default(),
        }
    }
}

/// The credentials ordermux presents to an upstream, read from the environment or files at start-up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// BigCommerce `X-Auth-Token`.
    pub token: Option<Credential>,
    /// BigCommerce `X-Auth-Client`; Commerce Layer OAuth client id.
    pub client_id: Option<Credential>,
    /// Commerce Layer OAuth client secret.
    pub client_secret: Option<Credential>,
    /// FluentCart (WordPress) user name and application password.
    pub username: Option<Credential>,
    pub password: Option<Credential>,
}

/// How a route serves a caller whose dialect the backend speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RouteMode {
    /// Requests stream through unchanged; the shop authenticates them.
    #[default]
    PassThrough,
    /// Order routes are decoded, validated and normalised like a cross-platform route.
    Translate,
}

/// Which backend serves one inbound dialect (for BigCommerce: one store hash).
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub dialect: crate::canonical::Platform,
    pub store_hash: Option<String>,
    pub backend: String,
    pub mode: RouteMode,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Defaults {
    /// Currency for documents that carry none (BigCommerce v2 create requests).
    pub currency: Currency,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// Whole-request deadline (read, handle, write the head).
    pub request_timeout: Duration,
    /// Time a client has to send the request head (slowloris guard).
    pub header_read_timeout: Duration,
    /// Largest body accepted on order routes.
    pub max_body_bytes: usize,
    /// How long in-flight requests may take to finish after SIGTERM/SIGINT.
    pub shutdown_grace: Duration,
    pub max_connections: usize,
    /// Serving threads, each with its own single-threaded runtime accepting from the listening socket (as nginx
    /// runs one worker per core). 0: one per core the process may run on.
    pub workers: usize,
    pub log_format: LogFormat,
    /// Lifetime of Commerce Layer bearer tokens.
    pub token_ttl: Duration,
    /// Requests per window per client, advertised in BigCommerce's `X-Rate-Limit-*` headers and enforced.
    pub rate_limit_quota: u32,
    pub rate_limit_window: Duration,
    /// Failed authentications (401s) one address may make per `auth_failure_window` before every API request from
    /// it is answered 429 until the window ends; 0 turns the lockout off (behind a proxy that hides callers'
    /// addresses, every caller would share one).
    pub auth_failure_limit: u32,
    pub auth_failure_window: Duration,
    /// What a pass-through request's `X-Forwarded-For` carries of the caller's own.
    pub forwarded_for: ForwardedFor,
}

/// Whether the `X-Forwarded-For` a caller sends is kept, on pass-through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardedFor {
    /// The shop gets the caller's address alone (ordermux at the edge: a caller's own chain could name anyone,
    /// and a shop that reads its first entry would believe it).
    Replace,
    /// The caller's chain with the caller's address after it (ordermux behind a proxy that sets the chain).
    Append,
}

/// How hard the embedded store works to keep a committed write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Every commit is fsynced (SQLite `synchronous = FULL`): survives power loss and OS crashes.
    Full,
    /// Commits survive a crash or kill of the process; the last ones may roll back on power loss or an OS crash
    /// (SQLite WAL with `synchronous = NORMAL`). Never corrupts.
    Normal,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoreConfig {
    pub durability: Durability,
}

/// A Commerce Layer market: orders are created in one, and it fixes their currency.
#[derive(Debug, Clone, PartialEq)]
pub struct Market {
    pub id: String,
    pub number: u64,
    pub code: String,
    pub name: String,
    pub currency: Currency,
}

/// One API client. It presents the same identity in every dialect: FluentCart Basic `id:secret`, Commerce Layer
/// `client_id`/`client_secret` at `/oauth/token`, BigCommerce `X-Auth-Token: secret` on its store hash.
#[derive(Debug, Clone, PartialEq)]
pub struct Client {
    pub id: String,
    pub secret: Secret,
    pub bigcommerce_store_hash: String,
}

impl Client {
    pub fn is_demo(&self) -> bool {
        self.secret.matches(DEMO_SECRET)
    }
}

/// The embedded shop's products, and customers to create at start-up.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Catalog {
    pub products: Vec<Product>,
    pub customers: Vec<SeedCustomer>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Product {
    pub sku: String,
    pub name: String,
    pub prices: BTreeMap<Currency, Money>,
    pub fluentcart_post_id: Option<u64>,
    pub fluentcart_object_id: Option<u64>,
    pub bigcommerce_product_id: Option<u64>,
    pub bigcommerce_variant_id: Option<u64>,
    pub digital: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SeedCustomer {
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// Default address: what an upstream that needs one on every order (BigCommerce's billing address) gets
    /// when the caller sends none.
    pub address: Option<crate::canonical::Address>,
}

/// Everything wrong with a configuration, each problem on its own line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration in {source_name}:\n  {}", problems.join("\n  "))]
pub struct ConfigError {
    pub source_name: String,
    pub problems: Vec<String>,
}

impl Config {
    /// Loads `path` (or `gateway.toml` in the working directory, which may be absent) plus environment overrides.
    /// Relative paths inside (data directory, catalog file) are relative to the configuration file's directory.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let (file, required) = match path {
            Some(p) => (p.to_path_buf(), true),
            None => (PathBuf::from(DEFAULT_CONFIG_FILE), false),
        };
        let source_name = file.display().to_string();
        let fail = |problems: Vec<String>| ConfigError {
            source_name: source_name.clone(),
            problems,
        };
        let built = config::Config::builder()
            .add_source(
                config::File::from(file.as_path())
                    .format(config::FileFormat::Toml)
                    .required(required),
            )
            .add_source(
                config::Environment::with_prefix("ORDERMUX")
                    .prefix_separator("__")
                    .separator("__")
                    .try_parsing(true),
            )
            .build()
            .map_err(|e| fail(vec![e.to_string()]))?;
        let raw: raw::RawConfig = built
            .try_deserialize()
            .map_err(|e| fail(vec![e.to_string()]))?;
        let base = file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        let env = |name: &str| std::env::var(name).ok();
        let read = |p: &Path| std::fs::read_to_string(p).map_err(|e| e.to_string());
        let mut config = validate(raw, &base, &env, &read).map_err(fail)?;
        // An absent default file is not an error (`required`), so whether one was read is asked here.
        config.file = (required || file.exists()).then_some(file);
        Ok(config)
    }

    /// Problems that stop `serve` but not a translation: currently, a demo credential on a non-loopback address.
    pub fn serve_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !self.server.listen.ip().is_loopback() {
            for c in self.clients.iter().filter(|c| c.is_demo()) {
                problems.push(format!(
                    "server.listen = {}: refusing a non-loopback address while the demo credential of client {:?} is configured; set a real secret first",
                    self.server.listen, c.id
                ));
            }
        }
        problems
    }
}

fn validate(
    raw: raw::RawConfig,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    read: &dyn Fn(&Path) -> Result<String, String>,
) -> Result<Config, Vec<String>> {
    let mut problems = Vec::new();
    let currency_text = raw.defaults.currency.unwrap_or_else(|| "USD".to_owned());
    let currency = Currency::parse(&currency_text)
        .map_err(|e| problems.push(format!("defaults.currency: {e}")))
        .ok();

    let s = raw.server;
    let listen = s
        .listen
        .as_deref()
        .unwrap_or("127.0.0.1:8080")
        .parse::<SocketAddr>()
        .map_err(|e| problems.push(format!("server.listen: {e}")))
        .ok();
    let secs = |v: Option<u64>, default: u64, key: &str, problems: &mut Vec<String>| {
        let v = v.unwrap_or(default);
        if v == 0 || v > 86_400 {
            problems.push(format!(
                "server.{key}: must be between 1 and 86400 seconds, got {v}"
            ));
        }
        Duration::from_secs(v)
    };
    let request_timeout = secs(
        s.request_timeout_secs,
        30,
        "request_timeout_secs",
        &mut problems,
    );
    let header_read_timeout = secs(
        s.header_read_timeout_secs,
        10,
        "header_read_timeout_secs",
        &mut problems,
    );
    let shutdown_grace = secs(
        s.shutdown_grace_secs,
        30,
        "shutdown_grace_secs",
        &mut problems,
    );
    let token_ttl = secs(s.token_ttl_secs, 7200, "token_ttl_secs", &mut problems);
    let rate_limit_window = secs(
        s.rate_limit_window_secs,
        30,
        "rate_limit_window_secs",
        &mut problems,
    );
    let auth_failure_window = secs(
        s.auth_failure_window_secs,
        60,
        "auth_failure_window_secs",
        &mut problems,
    );
    let auth_failure_limit = s.auth_failure_limit.unwrap_or(10);
    if auth_failure_limit > u64::from(u32::MAX) {
        problems.push(format!(
            "server.auth_failure_limit: must be at most {}, got {auth_failure_limit}",
            u32::MAX
        ));
    }
    let forwarded_for = match s.forwarded_for.as_deref().unwrap_or("replace") {
        "replace" => ForwardedFor::Replace,
        "append" => ForwardedFor::Append,
        other => {
            problems.push(format!(
                "server.forwarded_for: expected replace or append, got {other:?}"
            ));
            ForwardedFor::Replace
        }
    };
    let max_body_bytes = s.max_body_bytes.unwrap_or(1 << 20);
    if !(1024..=64 << 20).contains(&max_body_bytes) {
        problems.push(format!(
            "server.max_body_bytes: must be between 1 KiB and 64 MiB, got {max_body_bytes}"
        ));
    }
    let max_connections = s.max_connections.unwrap_or(10_000);
    if max_connections == 0 {
        problems.push("server.max_connections: must be at least 1".to_owned());
    }
    let rate_limit_quota = s.rate_limit_quota.unwrap_or(10_000);
    if rate_limit_quota == 0 || rate_limit_quota > u64::from(u32::MAX) {
        problems.push(format!(
            "server.rate_limit_quota: must be between 1 and {}, got {rate_limit_quota}",
            u32::MAX
        ));
    }
    let log_format = match s.log_format.as_deref().unwrap_or("text") {
        "text" => LogFormat::Text,
        "json" => LogFormat::Json,
        other => {
            problems.push(format!(
                "server.log_format: expected \"text\" or \"json\", got {other:?}"
            ));
            LogFormat::Text
        }
    };
    let data_dir = base.join(s.data_dir.as_deref().unwrap_or("data"));
    let durability = match raw.store.synchronous.as_deref().unwrap_or("full") {
        "full" => Durability::Full,
        "normal" => Durability::Normal,
        other => {
            problems.push(format!(
                "store.synchronous: expected \"full\" or \"normal\", got {other:?}"
            ));
            Durability::Full
        }
    };

    let retention_hours = raw.idempotency.retention_hours.unwrap_or(24);
    if retention_hours < 24 {
        problems.push(format!(
            "idempotency.retention_hours: must be at least 24 (clients retry for a day), got {retention_hours}"
        ));
    }

    let backends = validate_backends(raw.backends, &Sources { base, env, read }, &mut problems);
    let routes = validate_routes(raw.routes, &backends, &mut problems);
    let fallback_backend = raw.proxy.fallback_backend;
    if let Some(name) = &fallback_backend {
        match backends.iter().find(|b| &b.name == name) {
            None => problems.push(format!("proxy.fallback_backend: no backend named {name:?}")),
            Some(b) if b.kind == BackendKind::Embedded => problems.push(format!(
                "proxy.fallback_backend: {name:?} is the embedded shop; a fallback must be an upstream"
            )),
            Some(_) => {}
        }
    }
    let markets = validate_markets(raw.markets, &mut problems);
    let clients = validate_clients(raw.clients, env, &mut problems);
    let catalog = match raw.catalog.file {
        None => Catalog::default(),
        Some(file) => {
            let path = base.join(&file);
            match read(&path) {
                Err(e) => {
                    problems.push(format!("catalog.file: cannot read {}: {e}", path.display()));
                    Catalog::default()
                }
                Ok(text) => validate_catalog(&text, &file, &mut problems),
            }
        }
    };

    match (currency, listen) {
        (Some(currency), Some(listen)) if problems.is_empty() => Ok(Config {
            defaults: Defaults { currency },
            server: ServerConfig {
                listen,
                data_dir,
                request_timeout,
                header_read_timeout,
                max_body_bytes: usize::try_from(max_body_bytes).unwrap_or(usize::MAX),
                shutdown_grace,
                max_connections: usize::try_from(max_connections).unwrap_or(usize::MAX),
                workers: usize::try_from(s.workers.unwrap_or(0))
                    .unwrap_or(usize::MAX)
                    .min(1024),
                log_format,
                token_ttl,
                rate_limit_quota: u32::try_from(rate_limit_quota).unwrap_or(u32::MAX),
                rate_limit_window,
                auth_failure_limit: u32::try_from(auth_failure_limit).unwrap_or(u32::MAX),
                auth_failure_window,
                forwarded_for,
            },
            store: StoreConfig { durability },
            catalog,
            idempotency_retention: Duration::from_secs(retention_hours.saturating_mul(3600)),
            markets,
            clients,
            backends,
            routes,
            fallback_backend,
            file: None,
        }),
        _ => Err(problems),
    }
}

/// Where configuration values that are not in the file come from (injected so tests need no real environment).
struct Sources<'a> {
    base: &'a Path,
    env: &'a dyn Fn(&str) -> Option<String>,
    read: &'a dyn Fn(&Path) -> Result<String, String>,
}

fn validate_backends(
    raw: Vec<raw::RawBackend>,
    sources: &Sources<'_>,
    problems: &mut Vec<String>,
) -> Vec<Backend> {
    let mut out: Vec<Backend> = Vec::new();
    for (i, b) in raw.into_iter().enumerate() {
        let at = format!("backends[{i}]");
        let Some(name) = b.name.filter(|n| !n.is_empty()) else {
            problems.push(format!("{at}.name: missing"));
            continue;
        };
        if out.iter().any(|o| o.name == name) {
            problems.push(format!("{at}.name: {name:?} is declared twice"));
        }
        let kind = match b.kind.as_deref() {
            Some("embedded") => BackendKind::Embedded,
            Some(other) => match crate::canonical::Platform::from_name(other) {
                Some(p) => BackendKind::Upstream(p),
                None => {
                    problems.push(format!(
                        "{at}.type: expected embedded, bigcommerce, commercelayer or fluentcart, got {other:?}"
                    ));
                    continue;
                }
            },
            None => {
                problems.push(format!("{at}.type: missing"));
                continue;
            }
        };
        let base_url = match (kind, b.base_url) {
            (BackendKind::Embedded, None) => String::new(),
            (BackendKind::Embedded, Some(_)) => {
                problems.push(format!("{at}.base_url: the embedded shop has no base URL"));
                String::new()
            }
            (BackendKind::Upstream(_), None) => {
                problems.push(format!("{at}.base_url: missing"));
                String::new()
            }
            (BackendKind::Upstream(_), Some(url)) => {
                if let Err(why) = check_base_url(&url) {
                    problems.push(format!("{at}.base_url: {why}"));
                }
                url.trim_end_matches('/').to_owned()
            }
        };
        let ms = |v: Option<u64>, default: u64, key: &str, problems: &mut Vec<String>| {
            let v = v.unwrap_or(default);
            if v == 0 || v > 600_000 {
                problems.push(format!(
                    "{at}.{key}: must be between 1 and 600000 ms, got {v}"
                ));
            }
            Duration::from_millis(v)
        };
        let credentials = read_credentials(&at, b.credentials, sources, problems);
        if let Some(h) = &b.store_hash {
            if h.is_empty() || !h.chars().all(|c| c.is_ascii_alphanumeric()) {
                problems.push(format!("{at}.store_hash: {h:?} is not a store hash"));
            }
        }
        if kind != BackendKind::Upstream(crate::canonical::Platform::CommerceLayer) {
            for (key, set) in [
                ("payment_method", b.payment_method.is_some()),
                ("shipping_method", b.shipping_method.is_some()),
            ] {
                if set {
                    problems.push(format!(
                        "{at}.{key}: only a commercelayer backend places orders with it"
                    ));
                }
            }
        }
        let max_response_bytes = b.max_response_bytes.unwrap_or(8 << 20);
        if !(1024..=(1 << 30)).contains(&max_response_bytes) {
            problems.push(format!(
                "{at}.max_response_bytes: must be between 1 KiB and 1 GiB"
            ));
        }
        let max_pending = match b.max_pending.unwrap_or(1024) {
            n @ 1..=1_000_000 => usize::try_from(n).unwrap_or(1024),
            n => {
                problems.push(format!(
                    "{at}.max_pending: must be between 1 and 1000000, got {n}"
                ));
                1024
            }
        };
        let total_timeout = ms(b.total_timeout_ms, 60_000, "total_timeout_ms", problems);
        let settle = ms(b.settle_ms, 30_000, "settle_ms", problems);
        // A live create touches its journal row at least once per call it makes: a row idle for ten calls' worst
        // time is one no attempt is working on.
        let least = total_timeout.saturating_mul(10) + settle;
        let orphan_drafts_after = match b.orphan_drafts_after_ms {
            None => DEFAULT_ORPHAN_DRAFTS_AFTER.max(least),
            Some(v) => Duration::from_millis(v),
        };
        if kind == BackendKind::Upstream(crate::canonical::Platform::CommerceLayer)
            && !orphan_drafts_after.is_zero()
            && (orphan_drafts_after < least || orphan_drafts_after > MAX_ORPHAN_DRAFTS_AFTER)
        {
            problems.push(format!(
                "{at}.orphan_drafts_after_ms: must be 0 (never) or between {} (ten times total_timeout_ms, plus settle_ms) and {}, got {}",
                least.as_millis(),
                MAX_ORPHAN_DRAFTS_AFTER.as_millis(),
                orphan_drafts_after.as_millis()
            ));
        }
        out.push(Backend {
            name,
            kind,
            base_url,
            connect_timeout: ms(b.connect_timeout_ms, 2_000, "connect_timeout_ms", problems),
            timeout: ms(b.timeout_ms, 30_000, "timeout_ms", problems),
            total_timeout,
            max_response_bytes,
            breaker_failures: b.breaker_failures.unwrap_or(5).max(1),
            breaker_cooldown: ms(
                b.breaker_cooldown_ms,
                10_000,
                "breaker_cooldown_ms",
                problems,
            ),
            max_pending,
            settle,
            orphan_drafts_after,
            allow_private_addresses: b.allow_private_addresses.unwrap_or(false),
            store_hash: b.store_hash,
            markets: b.markets,
            checkout: CheckoutChoices {
                payment_method: b.payment_method,
                shipping_method: b.shipping_method,
            },
            credentials,
        });
    }
    out
}

/// Reads each configured credential from its environment variable or file; a variable that is not set or a file
/// that cannot be read is a problem (so `check-config` reports it before `serve` needs it).
fn read_credentials(
    at: &str,
    raw: raw::RawCredentials,
    sources: &Sources<'_>,
    problems: &mut Vec<String>,
) -> Credentials {
    let mut read = |name: &str, env: Option<String>, file: Option<String>| match (env, file) {
        (Some(_), Some(_)) => {
            problems.push(format!(
                "{at}.credentials: give {name}_env or {name}_file, not both"
            ));
            None
        }
        (Some(var), None) => match (sources.env)(&var) {
            Some(v) if !v.is_empty() => Some(Credential::new(v)),
            _ => {
                problems.push(format!(
                    "{at}.credentials.{name}_env: environment variable {var} is not set"
                ));
                None
            }
        },
        (None, Some(path)) => match (sources.read)(&sources.base.join(&path)) {
            Ok(v) if !v.trim().is_empty() => Some(Credential::new(v.trim().to_owned())),
            Ok(_) => {
                problems.push(format!("{at}.credentials.{name}_file: {path} is empty"));
                None
            }
            Err(e) => {
                problems.push(format!("{at}.credentials.{name}_file: {path}: {e}"));
                None
            }
        },
        (None, None) => None,
    };
    Credentials {
        token: read("token", raw.token_env, raw.token_file),
        client_id: read("client_id", raw.client_id_env, raw.client_id_file),
        client_secret: read(
            "client_secret",
            raw.client_secret_env,
            raw.client_secret_file,
        ),
        username: read("username", raw.username_env, raw.username_file),
        password: read("password", raw.password_env, raw.password_file),
    }
}

/// Reports what `backend` lacks of what ordermux needs to call it itself (a translating route): the credentials for its
/// platform, and BigCommerce's store hash. Pass-through needs neither (the shop authenticates the caller).
fn translation_ready(backend: &Backend, at: &str, problems: &mut Vec<String>) {
    use crate::canonical::Platform;
    let BackendKind::Upstream(platform) = backend.kind else {
        return;
    };
    let c = &backend.credentials;
    let needed: &[(&str, bool)] = match platform {
        Platform::BigCommerce => &[("token", c.token.is_some())],
        Platform::CommerceLayer => &[
            ("client_id", c.client_id.is_some()),
            ("client_secret", c.client_secret.is_some()),
        ],
        Platform::FluentCart => &[
            ("username", c.username.is_some()),
            ("password", c.password.is_some()),
        ],
    };
    for (name, present) in needed {
        if !present {
            problems.push(format!(
                "{at}: translating to backend {:?} needs its credentials.{name}_env (or {name}_file)",
                backend.name
            ));
        }
    }
    if platform == Platform::BigCommerce && backend.store_hash.is_none() {
        problems.push(format!(
            "{at}: translating to backend {:?} needs its store_hash",
            backend.name
        ));
    }
}

/// An upstream base URL: `http` or `https`, a host, no credentials, query or fragment.
fn check_base_url(url: &str) -> Result<(), String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("{url:?} is not an absolute URL"))?;
    if scheme != "http" && scheme != "https" {
        return Err(format!("scheme must be http or https, got {scheme:?}"));
    }
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() {
        return Err(format!("{url:?} has no host"));
    }
    if authority.contains('@') {
        return Err("credentials do not belong in the URL".to_owned());
    }
    if rest.contains('?') || rest.contains('#') {
        return Err("a base URL has no query or fragment".to_owned());
    }
    http::Uri::try_from(url).map_err(|e| format!("{url:?}: {e}"))?;
    Ok(())
}

fn validate_routes(
    raw: Vec<raw::RawRoute>,
    backends: &[Backend],
    problems: &mut Vec<String>,
) -> Vec<Route> {
    use crate::canonical::Platform;
    let mut out: Vec<Route> = Vec::new();
    for (i, r) in raw.into_iter().enumerate() {
        let at = format!("routes[{i}]");
        let Some(dialect) = r.dialect.as_deref().and_then(Platform::from_name) else {
            problems.push(format!(
                "{at}.dialect: expected bigcommerce, commercelayer or fluentcart"
            ));
            continue;
        };
        match (dialect, &r.store_hash) {
            (Platform::BigCommerce, None) => {
                problems.push(format!(
                    "{at}.store_hash: a BigCommerce route names its store hash"
                ));
            }
            (Platform::FluentCart | Platform::CommerceLayer, Some(_)) => {
                problems.push(format!(
                    "{at}.store_hash: only BigCommerce routes have a store hash"
                ));
            }
            _ => {}
        }
        let Some(backend_name) = r.backend else {
            problems.push(format!("{at}.backend: missing"));
            continue;
        };
        let mode = match r.mode.as_deref() {
            None | Some("pass-through") => RouteMode::PassThrough,
            Some("translate") => RouteMode::Translate,
            Some(other) => {
                problems.push(format!(
                    "{at}.mode: expected \"pass-through\" or \"translate\", got {other:?}"
                ));
                RouteMode::PassThrough
            }
        };
        match backends.iter().find(|b| b.name == backend_name) {
            None => problems.push(format!("{at}.backend: no backend named {backend_name:?}")),
            Some(b) => match b.kind {
                BackendKind::Upstream(p) if p != dialect && r.mode.is_some() => problems.push(format!(
                    "{at}.mode: a {dialect} caller on a {p} backend is always translated; remove mode"
                )),
                BackendKind::Upstream(p) if p != dialect || mode == RouteMode::Translate => {
                    translation_ready(b, &at, problems);
                }
                BackendKind::Embedded if r.mode.is_some() => problems.push(format!(
                    "{at}.mode: the embedded shop always translates; remove mode"
                )),
                _ => {}
            },
        }
        if out
            .iter()
            .any(|o| o.dialect == dialect && o.store_hash == r.store_hash)
        {
            problems.push(format!(
                "{at}: another route already serves this dialect and store"
            ));
        }
        out.push(Route {
            dialect,
            store_hash: r.store_hash,
            backend: backend_name,
            mode,
        });
    }
    out
}

fn validate_markets(raw: Vec<raw::RawMarket>, problems: &mut Vec<String>) -> Vec<Market> {
    let mut markets = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, m) in raw.into_iter().enumerate() {
        let at = format!("markets[{i}]");
        let currency = match m.currency.as_deref().map(Currency::parse) {
            Some(Ok(c)) => Some(c),
            Some(Err(e)) => {
                problems.push(format!("{at}.currency: {e}"));
                None
            }
            None => {
                problems.push(format!("{at}.currency: missing"));
                None
            }
        };
        let Some(currency) = currency else { continue };
        let code = m
            .code
            .unwrap_or_else(|| currency.as_str().to_ascii_lowercase());
        let id = m.id.unwrap_or_else(|| code.clone());
        if !seen.insert(id.clone()) {
            problems.push(format!("{at}.id: {id:?} is declared twice"));
        }
        markets.push(Market {
            number: m.number.unwrap_or(i as u64 + 1),
            name: m
                .name
                .unwrap_or_else(|| format!("{} market", currency.as_str())),
            id,
            code,
            currency,
        });
    }
    markets
}

fn validate_clients(
    raw: Vec<raw::RawClient>,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<String>,
) -> Vec<Client> {
    let mut clients = Vec::new();
    let mut ids = BTreeSet::new();
    let mut hashes = BTreeSet::new();
    for (i, c) in raw.into_iter().enumerate() {
        let at = format!("clients[{i}]");
        let Some(id) = c.id.filter(|s| !s.is_empty()) else {
            problems.push(format!("{at}.id: missing"));
            continue;
        };
        if id.contains(':') {
            problems.push(format!(
                "{at}.id: must not contain ':' (it is the Basic auth user name)"
            ));
        }
        let secret = match (c.secret, c.secret_env) {
            (Some(_), Some(_)) => {
                problems.push(format!("{at}: give either secret or secret_env, not both"));
                continue;
            }
            (Some(s), None) => s,
            (None, Some(var)) => match env(&var) {
                Some(s) => s,
                None => {
                    problems.push(format!(
                        "{at}.secret_env: environment variable {var} is not set"
                    ));
                    continue;
                }
            },
            (None, None) => {
                problems.push(format!("{at}: missing secret (or secret_env)"));
                continue;
            }
        };
        if secret.len() < 8 {
            problems.push(format!("{at}.secret: must be at least 8 characters"));
        }
        let hash = c.bigcommerce_store_hash.unwrap_or_else(|| id.clone());
        if hash.is_empty()
            || !hash
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
        {
            problems.push(format!(
                "{at}.bigcommerce_store_hash: must be letters, digits, '-' or '_'"
            ));
        }
        if !ids.insert(id.clone()) {
            problems.push(format!("{at}.id: {id:?} is declared twice"));
        }
        if !hashes.insert(hash.clone()) {
            problems.push(format!(
                "{at}.bigcommerce_store_hash: {hash:?} is declared twice"
            ));
        }
        clients.push(Client {
            id,
            secret: Secret::new(secret),
            bigcommerce_store_hash: hash,
        });
    }
    clients
}

fn validate_catalog(text: &str, file: &str, problems: &mut Vec<String>) -> Catalog {
    let raw: raw::RawCatalog = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(e) => {
            problems.push(format!("{file}: {e}"));
            return Catalog::default();
        }
    };
    let mut catalog = Catalog::default();
    let mut skus = BTreeSet::new();
    for (i, p) in raw.products.into_iter().enumerate() {
        let at = format!("{file}: products[{i}]");
        let Some(sku) = p.sku.filter(|s| !s.is_empty()) else {
            problems.push(format!("{at}.sku: missing"));
            continue;
        };
        if !skus.insert(sku.clone()) {
            problems.push(format!("{at}.sku: {sku:?} is declared twice"));
        }
        let mut prices = BTreeMap::new();
        for (code, text) in p.prices {
            match Currency::parse(&code) {
                Err(e) => problems.push(format!("{at}.prices.{code}: {e}")),
                Ok(c) => match Money::parse_major(&text, c) {
                    Ok(m) if m.minor >= 0 => {
                        prices.insert(c, m);
                    }
                    Ok(_) => problems.push(format!("{at}.prices.{code}: must not be negative")),
                    Err(e) => problems.push(format!("{at}.prices.{code}: {e}")),
                },
            }
        }
        let digital = match p.fulfillment_type.as_deref() {
            None | Some("physical") => false,
            Some("digital") => true,
            Some(other) => {
                problems.push(format!(
                    "{at}.fulfillment_type: expected physical or digital, got {other:?}"
                ));
                false
            }
        };
        catalog.products.push(Product {
            name: p.name.unwrap_or_else(|| sku.clone()),
            sku,
            prices,
            fluentcart_post_id: p.fluentcart_post_id,
            fluentcart_object_id: p.fluentcart_object_id,
            bigcommerce_product_id: p.bigcommerce_product_id,
            bigcommerce_variant_id: p.bigcommerce_variant_id,
            digital,
        });
    }
    for (i, c) in raw.customers.into_iter().enumerate() {
        match c.email.filter(|e| e.contains('@')) {
            Some(email) => {
                let address = c.address.map(|a| crate::canonical::Address {
                    first_name: c.first_name.clone(),
                    last_name: c.last_name.clone(),
                    company: a.company,
                    line1: a.line1,
                    line2: a.line2,
                    city: a.city,
                    region: a.region,
                    postal_code: a.postal_code,
                    country_code: a.country_code.to_ascii_uppercase(),
                    phone: a.phone,
                    email: Some(email.clone()),
                    ..Default::default()
                });
                if let Some(a) = &address {
                    if a.line1.is_empty() || a.city.is_empty() || a.country_code.len() != 2 {
                        problems.push(format!(
                            "{file}: customers[{i}].address: needs line1, city and a two-letter country_code"
                        ));
                    }
                }
                catalog.customers.push(SeedCustomer {
                    email,
                    first_name: c.first_name,
                    last_name: c.last_name,
                    address,
                })
            }
            None => problems.push(format!(
                "{file}: customers[{i}].email: missing or not an email address"
            )),
        }
    }
    let mut unique = |what: &str, get: &dyn Fn(&Product) -> Option<u64>| {
        let mut seen = BTreeSet::new();
        for p in &catalog.products {
            if let Some(id) = get(p) {
                if !seen.insert(id) {
                    problems.push(format!(
                        "{file}: {what} {id} is used by more than one product"
                    ));
                }
            }
        }
    };
    unique("fluentcart_object_id", &|p| p.fluentcart_object_id);
    unique("bigcommerce_product_id", &|p| p.bigcommerce_product_id);
    catalog
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn no_file(_: &Path) -> Result<String, String> {
        Err("absent".into())
    }

    #[test]
    fn shipped_gateway_toml_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("gateway.toml");
        let cfg = Config::load(Some(&path)).unwrap();
        assert_eq!(cfg.defaults.currency.as_str(), "USD");
        assert!(cfg.server.listen.ip().is_loopback());
        assert!(cfg.clients.iter().any(|c| c.id == "demo" && c.is_demo()));
        assert!(!cfg.catalog.products.is_empty());
        assert!(cfg.serve_problems().is_empty());
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let raw = raw::RawConfig {
            defaults: raw::RawDefaults {
                currency: Some("usd".into()),
            },
            server: raw::RawServer {
                listen: Some("nowhere".into()),
                request_timeout_secs: Some(0),
                ..Default::default()
            },
            catalog: raw::RawCatalogRef {
                file: Some("missing.toml".into()),
            },
            clients: vec![raw::RawClient {
                id: Some("x".into()),
                secret_env: Some("ORDERMUX_TEST_UNSET".into()),
                ..Default::default()
            }],
            ..Default::default()
        };
        let problems = validate(raw, Path::new("."), &no_env, &no_file).unwrap_err();
        let keys: Vec<&str> = problems
            .iter()
            .map(|p| p.split(':').next().unwrap())
            .collect();
        assert_eq!(
            keys,
            [
                "defaults.currency",
                "server.listen",
                "server.request_timeout_secs",
                "clients[0].secret_env",
                "catalog.file"
            ],
            "{problems:?}"
        );
    }

    #[test]
    fn demo_secret_refuses_a_public_address() {
        let raw = raw::RawConfig {
            server: raw::RawServer {
                listen: Some("0.0.0.0:8080".into()),
                ..Default::default()
            },
            clients: vec![raw::RawClient {
                id: Some("demo".into()),
                secret: Some(DEMO_SECRET.into()),
                ..Default::default()
            }],
            ..Default::default()
        };
        let cfg = validate(raw, Path::new("."), &no_env, &no_file).unwrap();
        assert_eq!(cfg.serve_problems().len(), 1);
    }

    #[test]
    fn forwarded_for_replaces_by_default_and_appends_when_asked() {
        let parse = |text: &str| {
            let raw: raw::RawConfig = toml::from_str(text).unwrap();
            validate(raw, Path::new("."), &no_env, &no_file)
        };
        assert_eq!(
            parse("").unwrap().server.forwarded_for,
            ForwardedFor::Replace
        );
        assert_eq!(
            parse("[server]\nforwarded_for = \"append\"")
                .unwrap()
                .server
                .forwarded_for,
            ForwardedFor::Append
        );
        let problems = parse("[server]\nforwarded_for = \"keep\"").unwrap_err();
        assert!(
            problems
                .iter()
                .any(|p| p.contains("server.forwarded_for: expected replace or append")),
            "{problems:?}"
        );
    }

    #[test]
    fn private_addresses_are_allowed_per_backend_and_off_by_default() {
        let raw: raw::RawConfig = toml::from_str(
            r#"
            [[backends]]
            name = "lan"
            type = "fluentcart"
            base_url = "http://shop.internal"
            allow_private_addresses = true

            [[backends]]
            name = "public"
            type = "fluentcart"
            base_url = "https://shop.example.com"
            "#,
        )
        .unwrap();
        let config = validate(raw, Path::new("."), &no_env, &no_file).unwrap();
        let allowed: Vec<(&str, bool)> = config
            .backends
            .iter()
            .map(|b| (b.name.as_str(), b.allow_private_addresses))
            .collect();
        assert!(allowed.contains(&("lan", true)), "{allowed:?}");
        assert!(allowed.contains(&("public", false)), "{allowed:?}");
    }

    /// A Commerce Layer backend removes drafts no retry came for after 15 minutes unless told otherwise; the time
    /// must leave a live create room to touch its journal (ten total timeouts plus the settle time), and other
    /// platforms, whose creates leave no drafts, do not check it.
    #[test]
    fn orphan_drafts_are_removed_after_fifteen_minutes_or_as_configured() {
        let parse = |text: &str| {
            let raw: raw::RawConfig = toml::from_str(text).unwrap();
            validate(raw, Path::new("."), &no_env, &no_file)
        };
        let backend = |kind: &str, extra: &str| {
            format!(
                "[[backends]]\nname = \"up\"\ntype = \"{kind}\"\nbase_url = \"https://shop.example.com\"\n{extra}"
            )
        };
        let after = |text: &str| parse(text).unwrap().backends[0].orphan_drafts_after;
        assert_eq!(
            after(&backend("commercelayer", "")),
            Duration::from_secs(900)
        );
        assert_eq!(
            after(&backend("commercelayer", "orphan_drafts_after_ms = 0")),
            Duration::ZERO
        );
        assert_eq!(
            after(&backend(
                "commercelayer",
                "total_timeout_ms = 1000\nsettle_ms = 500\norphan_drafts_after_ms = 10500"
            )),
            Duration::from_millis(10_500)
        );
        let problems = parse(&backend(
            "commercelayer",
            "total_timeout_ms = 1000\nsettle_ms = 500\norphan_drafts_after_ms = 10499",
        ))
        .unwrap_err();
        assert!(
            problems.iter().any(|p| p.starts_with(
                "backends[0].orphan_drafts_after_ms: must be 0 (never) or between 10500"
            )),
            "{problems:?}"
        );
        // Timeouts longer than 15 minutes allow: the default grows with them.
        assert_eq!(
            after(&backend("commercelayer", "total_timeout_ms = 100000")),
            Duration::from_millis(1_030_000)
        );
        assert!(parse(&backend(
            "bigcommerce",
            "total_timeout_ms = 1000\norphan_drafts_after_ms = 1"
        ))
        .is_ok());
    }

    #[test]
    fn backends_and_routes_are_validated_together() {
        let backend = |name: &str, kind: &str, url: Option<&str>| raw::RawBackend {
            name: Some(name.into()),
            kind: Some(kind.into()),
            base_url: url.map(Into::into),
            ..Default::default()
        };
        let route = |dialect: &str, hash: Option<&str>, backend: &str| raw::RawRoute {
            dialect: Some(dialect.into()),
            store_hash: hash.map(Into::into),
            backend: Some(backend.into()),
            mode: None,
        };
        let raw = raw::RawConfig {
            backends: vec![
                backend("bc", "bigcommerce", Some("https://api.bigcommerce.com")),
                backend("cl", "commercelayer", Some("ftp://example.com")),
                backend("fc", "fluentcart", Some("https://user:pw@shop.example")),
                backend("x", "shopify", Some("https://x")),
            ],
            routes: vec![
                route("bigcommerce", Some("abc"), "bc"),
                route("bigcommerce", None, "bc"),
                route("fluentcart", None, "bc"),
                raw::RawRoute {
                    mode: Some("translate".into()),
                    ..route("commercelayer", None, "bc")
                },
                route("commercelayer", None, "nowhere"),
            ],
            proxy: raw::RawProxy {
                fallback_backend: Some("missing".into()),
            },
            ..Default::default()
        };
        let problems = validate(raw, Path::new("."), &no_env, &no_file).unwrap_err();
        let text = problems.join("\n");
        for expected in [
            "backends[1].base_url: scheme must be http or https",
            "backends[2].base_url: credentials do not belong in the URL",
            "backends[3].type: expected embedded, bigcommerce, commercelayer or fluentcart",
            "routes[1].store_hash: a BigCommerce route names its store hash",
            "routes[2]: translating to backend \"bc\" needs its credentials.token_env (or token_file)",
            "routes[2]: translating to backend \"bc\" needs its store_hash",
            "routes[3].mode: a commercelayer caller on a bigcommerce backend is always translated",
            "routes[4].backend: no backend named \"nowhere\"",
            "proxy.fallback_backend: no backend named \"missing\"",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
        }
        assert!(!text.contains("routes[0]"), "{text}");
    }

    #[test]
    fn catalog_prices_are_exact_and_scaled_by_currency() {
        let mut problems = Vec::new();
        let text = r#"
            [[products]]
            sku = "A"
            prices = { USD = "25.00", JPY = "3500", KWD = "7.125" }
            [[products]]
            sku = "B"
            prices = { USD = "0.001" }
        "#;
        let catalog = validate_catalog(text, "c.toml", &mut problems);
        let a = &catalog.products[0];
        let minor = |code: &str| a.prices[&Currency::parse(code).unwrap()].minor;
        assert_eq!(
            (minor("USD"), minor("JPY"), minor("KWD")),
            (2500, 3500, 7125)
        );
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("products[1].prices.USD"));
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let raw = raw::RawConfig {
            clients: vec![raw::RawClient {
                id: Some("c".into()),
                secret: Some("hunter2-hunter2".into()),
                ..Default::default()
            }],
            ..Default::default()
        };
        assert!(!format!("{raw:?}").contains("hunter2"));
        let cfg = validate(raw, Path::new("."), &no_env, &no_file).unwrap();
        assert!(!format!("{cfg:?}").contains("hunter2"));
    }
}
