//! `ordermux replay`: moves orders from a source (files of any dialect) into a target shop (the embedded one or
//! an upstream) exactly once, resumably.
//!
//! Every source order has an identity (its platform and id, or a hash of its content) and a row in the replay
//! journal per target. A re-run skips confirmed rows; anything else is sent again, which is safe: the embedded
//! target confirms the row in the same transaction as the order, and an upstream target's create is stamped from
//! the identity, so `UpstreamShop` finds an order an interrupted run already made instead of making another.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::backends::adapters::{AdapterContext, Listed, Unreadable};
use crate::backends::upstream::{UpstreamShop, UpstreamShopError};
use crate::canonical::{
    Money, Order, OrderFilter, OrderQuery, Platform, Range, SortKey, Timestamp,
};
use crate::config::{BackendKind, Config};
use crate::dialects::{self, DecodeOptions, DocumentKind, Loss};
use crate::service::Shop;
use crate::store::{JournalState, ReplayEntry, ReplayMark, Store};

mod notifications;
pub use notifications::{restore as restore_notifications, NotificationPolicy, NotificationReport};

/// Where the orders come from.
#[derive(Debug, Clone)]
pub struct FileSource {
    /// A JSON array, NDJSON (one document per line), or a directory of `*.json` documents.
    pub path: PathBuf,
    pub dialect: Platform,
}

/// Orders read from a configured backend's list API, oldest first, page by page.
#[derive(Debug, Clone)]
pub struct BackendSource {
    /// The backend's name (`embedded` for the embedded shop), for identities and the report.
    pub name: String,
    /// The shop to list from (the embedded one, or an upstream's).
    pub shop: Shop,
    /// Created / modified windows and an id window, in the source platform's id scheme.
    pub filter: OrderFilter,
}

/// Where the orders come from.
#[derive(Debug, Clone)]
pub enum Source {
    File(FileSource),
    Backend(Box<BackendSource>),
}

impl Source {
    fn label(&self) -> String {
        match self {
            Source::File(f) => f.path.display().to_string(),
            Source::Backend(b) => format!("backend {}", b.name),
        }
    }

    /// The platform source ids belong to (`None`: the embedded shop, whose ids are ordermux's own).
    fn platform(&self) -> Option<Platform> {
        match self {
            Source::File(f) => Some(f.dialect),
            Source::Backend(b) => b.shop.upstream.as_ref().map(|u| u.platform()),
        }
    }
}

/// What a run does.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// Backend name (`embedded` for the embedded shop): journal rows are per target.
    pub target: String,
    pub source: Source,
    pub client: String,
    pub concurrency: usize,
    /// Stop scheduling new orders once this many have failed.
    pub max_failures: Option<u64>,
    /// Decode, validate and translate everything; write nothing.
    pub dry_run: bool,
    pub decode: DecodeOptions,
    /// What to do about the target's customer e-mails while the run lasts.
    pub notifications: NotificationPolicy,
}

/// Why a run could not go on (per-order failures are not errors: they are counted and reported).
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
    #[error("target: {0}")]
    Target(String),
    #[error("source: {0}")]
    Source(String),
}

/// One source order.
#[derive(Debug, Clone)]
struct Record {
    /// `<platform>:<source id>` or `<platform>:sha256:<hex>`.
    key: String,
    source_id: String,
    /// Where it was read (`file:line`), for messages.
    at: String,
    document: Result<Document, String>,
}

#[derive(Debug, Clone)]
enum Document {
    /// A document of the file's dialect, to decode.
    Json(Value),
    /// An order a backend listed.
    Canonical(Box<crate::canonical::Order>),
}

/// What happened to one source order.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Created { target_id: String },
    AlreadyDone { target_id: Option<String> },
    WouldCreate,
    Failed { error: String },
}

/// The run's tally, written as the report.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Report {
    pub target: String,
    pub source: String,
    pub dialect: String,
    pub dry_run: bool,
    pub read: u64,
    pub created: u64,
    pub already_done: u64,
    /// Dry run: orders that would be created.
    pub would_create: u64,
    pub failed: u64,
    /// Source records whose identity appeared earlier in the same run (sent once, counted here).
    pub duplicates_in_source: u64,
    /// Losses the translation into the target's dialect reported, by kind.
    pub losses: BTreeMap<String, u64>,
    /// The first failures (at most 100): source key, where it was read, why.
    pub failures: Vec<FailureLine>,
    pub stopped_early: bool,
    /// What the run did about the target's customer e-mails.
    pub notifications: NotificationReport,
    pub elapsed_ms: u64,
    pub orders_per_sec: u64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct FailureLine {
    pub source_key: String,
    pub at: String,
    pub error: String,
}

/// One line of the id map: the source order and where it now lives.
#[derive(Debug, Clone)]
pub struct IdMapLine {
    pub source_platform: &'static str,
    pub source_id: String,
    pub target_id: String,
}

/// How the run reports progress.
pub trait Progress: Send + Sync {
    fn start(&self, total: Option<u64>);
    fn advance(&self, report: &Report);
    fn finish(&self, report: &Report);
}

/// Records read from the source per journal look-up and scheduling round: bounds memory whatever the file size.
const CHUNK: usize = 512;
/// Tries for an order whose upstream failed transiently (each reconciles before resending).
const MAX_TRIES: u32 = 4;

/// The shop a replay writes into: the embedded one (`embedded`, or a backend of that type), or an upstream
/// backend's. Opens the store in the configured data directory, with the catalog and `client`'s seed customers.
pub async fn target_shop(config: &Config, target: &str, client: &str) -> Result<Shop, ReplayError> {
    let store = open_store(config, client).await?;
    shop_for(config, &store, target)
}

/// The store in the configured data directory, with the catalog and `client`'s seed customers loaded.
pub async fn open_store(config: &Config, client: &str) -> Result<Store, ReplayError> {
    let store = Store::open_sqlite(&config.server.data_dir, config.store.durability).await?;
    store.load_catalog(&config.catalog.products).await?;
    for customer in &config.catalog.customers {
        store.ensure_customer(client, customer).await?;
    }
    Ok(store)
}

/// The shop named `name` over `store`: the embedded one (`embedded`, or a backend of that type) or an upstream's.
pub fn shop_for(config: &Config, store: &Store, name: &str) -> Result<Shop, ReplayError> {
    let target = name;
    let shop = Shop::new(store.clone(), config.markets.clone());
    if target == "embedded" {
        return Ok(shop);
    }
    let Some(backend) = config.backends.iter().find(|b| b.name == target) else {
        return Err(ReplayError::Target(format!(
            "no backend named {target:?} (use `embedded` or a [[backends]] name)"
        )));
    };
    match backend.kind {
        BackendKind::Embedded => Ok(shop),
        BackendKind::Upstream(_) => {
            let ctx = AdapterContext {
                backend: backend.clone(),
                decode: DecodeOptions {
                    default_currency: Some(config.defaults.currency),
                },
            };
            let upstream = UpstreamShop::new(ctx, store.clone()).map_err(ReplayError::Target)?;
            Ok(shop.with_upstream(upstream))
        }
    }
}

/// Runs a replay into `shop` (whose upstream, if any, is the target).
pub async fn run(
    options: &ReplayOptions,
    shop: &Shop,
    progress: &dyn Progress,
    id_map: &mut dyn FnMut(IdMapLine),
) -> Result<Report, ReplayError> {
    let started = Instant::now();
    let mut report = Report {
        target: options.target.clone(),
        source: options.source.label(),
        dialect: options
            .source
            .platform()
            .map_or("embedded", Platform::name)
            .to_owned(),
        dry_run: options.dry_run,
        ..Report::default()
    };
    let muted = notifications::prepare(
        shop,
        options.notifications,
        options.dry_run,
        &mut report.notifications,
    )
    .await?;
    let outcome = replay_all(options, shop, progress, id_map, &mut report).await;
    if muted {
        notifications::restore(shop, &mut report.notifications).await?;
    }
    outcome?;
    let elapsed = started.elapsed();
    report.elapsed_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
    let handled = report.created + report.already_done + report.would_create + report.failed;
    report.orders_per_sec = handled
        .saturating_mul(1000)
        .checked_div(report.elapsed_ms.max(1))
        .unwrap_or(0);
    progress.finish(&report);
    Ok(report)
}

/// Reads every source order and sends those not yet done, tallying into `report`.
async fn replay_all(
    options: &ReplayOptions,
    shop: &Shop,
    progress: &dyn Progress,
    id_map: &mut dyn FnMut(IdMapLine),
    report: &mut Report,
) -> Result<(), ReplayError> {
    let mut reader = match &options.source {
        Source::File(file) => {
            progress.start(count_records(&file.path)?);
            Reader::File(RecordReader::open(file)?)
        }
        Source::Backend(backend) => {
            progress.start(None);
            Reader::Backend {
                source: backend.as_ref(),
                paging: Paging::first(backend.as_ref()),
                done: false,
            }
        }
    };
    let mut seen: HashSet<String> = HashSet::new();
    let concurrency = options.concurrency.max(1);
    loop {
        let chunk = reader.next_chunk(CHUNK, &options.client).await?;
        if chunk.is_empty() {
            break;
        }
        let keys: Vec<String> = chunk.iter().map(|r| r.key.clone()).collect();
        let done: HashMap<String, ReplayEntry> =
            shop.store.replay_entries(&options.target, &keys).await?;
        let mut todo = Vec::with_capacity(chunk.len());
        for record in chunk {
            report.read += 1;
            if !seen.insert(record.key.clone()) {
                report.duplicates_in_source += 1;
                continue;
            }
            match done.get(&record.key) {
                Some(entry) if entry.state == JournalState::Confirmed => {
                    record_outcome(
                        report,
                        id_map,
                        source_name(&options.source),
                        &record,
                        Outcome::AlreadyDone {
                            target_id: entry.target_id.clone(),
                        },
                        Vec::new(),
                    );
                }
                _ => todo.push(record),
            }
        }
        let results: Vec<(Record, Outcome, Vec<Loss>)> = stream::iter(todo)
            .map(|record| async move {
                let (outcome, losses) = replay_one(options, shop, &record).await;
                (record, outcome, losses)
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
        for (record, outcome, losses) in results {
            record_outcome(
                report,
                id_map,
                source_name(&options.source),
                &record,
                outcome,
                losses,
            );
        }
        progress.advance(report);
        if options.max_failures.is_some_and(|max| report.failed >= max) {
            report.stopped_early = true;
            break;
        }
    }
    Ok(())
}

/// The id map's source column: the source platform, or `embedded`.
fn source_name(source: &Source) -> &'static str {
    source.platform().map_or("embedded", Platform::name)
}

fn record_outcome(
    report: &mut Report,
    id_map: &mut dyn FnMut(IdMapLine),
    source_platform: &'static str,
    record: &Record,
    outcome: Outcome,
    losses: Vec<Loss>,
) {
    for loss in &losses {
        *report.losses.entry(loss.kind.key().to_owned()).or_default() += 1;
    }
    match outcome {
        Outcome::Created { target_id } => {
            report.created += 1;
            id_map(IdMapLine {
                source_platform,
                source_id: record.source_id.clone(),
                target_id,
            });
        }
        Outcome::AlreadyDone { target_id } => {
            report.already_done += 1;
            if let Some(target_id) = target_id {
                id_map(IdMapLine {
                    source_platform,
                    source_id: record.source_id.clone(),
                    target_id,
                });
            }
        }
        Outcome::WouldCreate => report.would_create += 1,
        Outcome::Failed { error } => {
            report.failed += 1;
            if report.failures.len() < 100 {
                report.failures.push(FailureLine {
                    source_key: record.key.clone(),
                    at: record.at.clone(),
                    error,
                });
            }
        }
    }
}

/// Decodes, checks, translates and (unless a dry run) writes one order.
async fn replay_one(options: &ReplayOptions, shop: &Shop, record: &Record) -> (Outcome, Vec<Loss>) {
    let failed = |error: String| (Outcome::Failed { error }, Vec::new());
    let (mut order, kind) = match (&record.document, &options.source) {
        (Err(why), _) => return failed(why.clone()),
        (Ok(Document::Canonical(order)), _) => ((**order).clone(), DocumentKind::Order),
        (Ok(Document::Json(document)), Source::File(file)) => {
            match dialects::decode_value(file.dialect, document.clone(), &options.decode) {
                Ok(d) => (d.order, d.kind),
                Err(p) => return failed(format!("cannot decode: {}", p.message())),
            }
        }
        (Ok(Document::Json(_)), Source::Backend(_)) => {
            return failed("a backend source yields orders, not documents".to_owned())
        }
    };
    // Ids and customer ids are the source platform's: the target gives its own.
    order.customer.ids = Default::default();
    order.metadata.insert(
        "ordermux_source".to_owned(),
        Value::String(record.key.clone()),
    );
    // BigCommerce's `external_source` convention for migrated orders (it keeps them out of the store's GMV and
    // order count); an origin of the order's own is kept beside its source identity.
    if let Some(own) = order
        .external_ref
        .origin
        .replace("M-MIG".to_owned())
        .filter(|o| o != "M-MIG")
    {
        order
            .metadata
            .insert("ordermux_source_origin".to_owned(), Value::String(own));
    }
    let stated = (kind == DocumentKind::Order).then_some(order.totals.total);
    if let Err(e) = shop.prepare(&options.client, &mut order).await {
        return failed(e.into_problem("order").message());
    }
    if let Some(stated) = stated {
        if let Some(why) = accounting_mismatch(stated, order.totals.total) {
            return failed(why);
        }
    }
    let losses = match &shop.upstream {
        Some(up) => dialects::encode(up.platform(), DocumentKind::Request, &order).losses,
        None => Vec::new(),
    };
    if options.dry_run {
        return (Outcome::WouldCreate, losses);
    }
    let losses_json = serde_json::to_string(
        &losses
            .iter()
            .map(|l| json!({"pointer": l.pointer, "kind": l.kind.key(), "reason": l.reason}))
            .collect::<Vec<_>>(),
    )
    .unwrap_or_else(|_| "[]".to_owned());
    let mark = |state: JournalState, target_id: Option<String>, error: Option<String>| ReplayMark {
        target: options.target.clone(),
        source_key: record.key.clone(),
        state,
        target_id,
        losses: losses_json.clone(),
        last_error: error,
        now: chrono::Utc::now().timestamp(),
    };
    let now = chrono::Utc::now();
    let outcome = match &shop.upstream {
        None => match shop
            .store
            .create_order_replayed(
                &options.client,
                order,
                now,
                mark(JournalState::Confirmed, None, None),
            )
            .await
        {
            Ok(created) => Outcome::Created {
                target_id: created.ids.gateway.unwrap_or_default(),
            },
            Err(e) => Outcome::Failed {
                error: format!("store: {e}"),
            },
        },
        Some(up) => replay_upstream(options, shop, up, record, order, &mark).await,
    };
    (outcome, losses)
}

async fn replay_upstream(
    options: &ReplayOptions,
    shop: &Shop,
    up: &Arc<UpstreamShop>,
    record: &Record,
    order: crate::canonical::Order,
    mark: &dyn Fn(JournalState, Option<String>, Option<String>) -> ReplayMark,
) -> Outcome {
    if let Err(e) = shop
        .store
        .replay_mark(mark(JournalState::Sent, None, None))
        .await
    {
        return Outcome::Failed {
            error: format!("journal: {e}"),
        };
    }
    let mut tries = 0;
    loop {
        tries += 1;
        // The source identity is the create's idempotency key: a resend after any failure (this run's retry, or
        // a re-run after a crash) is reconciled by the stamp derived from it.
        match up
            .create_ids(
                &options.client,
                order.clone(),
                Some(record.key.as_str().into()),
            )
            .await
        {
            Ok(created) => {
                let target_id = created
                    .platform
                    .in_scheme(up.platform())
                    .unwrap_or_default();
                let confirmed = mark(JournalState::Confirmed, Some(target_id.clone()), None);
                if let Err(e) = shop.store.replay_mark(confirmed).await {
                    // The order exists upstream; the next run reconciles it by its stamp.
                    return Outcome::Failed {
                        error: format!("journal: {e}"),
                    };
                }
                return Outcome::Created { target_id };
            }
            Err(e) => {
                let transient = is_transient(&e);
                let wait = match &e {
                    // An earlier attempt may still land: wait until it has had its time, then look again.
                    UpstreamShopError::Unsettled { retry_after }
                    | UpstreamShopError::Sweeping { retry_after } => {
                        *retry_after.max(&backoff(tries))
                    }
                    _ => backoff(tries),
                };
                let message = e.into_problem("order").message();
                if transient && tries < MAX_TRIES {
                    tokio::time::sleep(wait).await;
                    continue;
                }
                let state = if transient {
                    JournalState::Sent
                } else {
                    JournalState::Failed
                };
                let _ = shop
                    .store
                    .replay_mark(mark(state, None, Some(message.clone())))
                    .await;
                return Outcome::Failed { error: message };
            }
        }
    }
}

/// An upstream failure a later try may not meet (5xx, timeout, unreachable, rate limit, open breaker, an earlier
/// attempt not settled yet).
fn is_transient(e: &UpstreamShopError) -> bool {
    use crate::backends::transport::UpstreamError as U;
    match e {
        UpstreamShopError::Unsettled { .. } | UpstreamShopError::Sweeping { .. } => true,
        UpstreamShopError::Upstream { error, .. } => matches!(
            error,
            U::ServerError(_)
                | U::Unreachable(_)
                | U::Timeout
                | U::Interrupted(_)
                | U::Malformed(_)
                | U::Throttled { .. }
                | U::CircuitOpen { .. }
        ),
        _ => false,
    }
}

/// Jittered exponential backoff from 250 ms (each try reconciles upstream before resending).
fn backoff(tries: u32) -> Duration {
    crate::backends::transport::jittered_backoff(Duration::from_millis(250), tries)
}

/// The accounting identity: what the source said the order totals must be what its lines, shipping, fees,
/// discounts and taxes add up to, or the order was not understood and must not be written.
fn accounting_mismatch(stated: Money, computed: Money) -> Option<String> {
    (stated.minor != computed.minor).then(|| {
        format!(
            "totals do not add up: the source states {} {} but its parts come to {} {}",
            stated.minor, stated.currency, computed.minor, computed.currency
        )
    })
}

/// How many records the source holds, when that is cheap to know (for the progress bar's ETA).
fn count_records(path: &Path) -> Result<Option<u64>, ReplayError> {
    let read_err = |e| ReplayError::Read {
        path: path.display().to_string(),
        source: e,
    };
    if path.is_dir() {
        return Ok(Some(json_files(path).map_err(read_err)?.len() as u64));
    }
    let file = std::fs::File::open(path).map_err(read_err)?;
    let mut reader = std::io::BufReader::new(file);
    if first_byte(&mut reader).map_err(read_err)? == Some(b'[') {
        return Ok(None);
    }
    let mut n = 0u64;
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).map_err(read_err)? == 0 {
            break;
        }
        if line.iter().any(|b| !b.is_ascii_whitespace()) {
            n += 1;
        }
    }
    Ok(Some(n))
}

fn first_byte(reader: &mut impl BufRead) -> std::io::Result<Option<u8>> {
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(None);
        }
        if let Some(b) = buf.iter().find(|b| !b.is_ascii_whitespace()) {
            return Ok(Some(*b));
        }
        let n = buf.len();
        reader.consume(n);
    }
}

fn json_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    Ok(files)
}

/// Records from the source, a chunk at a time.
enum Reader<'a> {
    File(RecordReader),
    Backend {
        source: &'a BackendSource,
        paging: Paging,
        done: bool,
    },
}

/// Orders per page read from a backend source.
const SOURCE_PAGE: u32 = 100;

/// How a backend source is read page after page: never by page number, since an order deleted from the source
/// while the run lasts would shift an unread one past the reader.
enum Paging {
    /// Sources numbered by integers (BigCommerce, FluentCart, and the embedded shop in its FluentCart ids), read in
    /// id order: each page asks for the ids above the last one read.
    AfterId {
        scheme: Platform,
        after: Option<u64>,
    },
    /// Commerce Layer, whose ids are not ordered, read in creation order: each page asks for orders made at or
    /// after the last creation time read, and drops those of that instant already read (`at_last`).
    SinceCreated {
        last: Option<Timestamp>,
        at_last: HashSet<String>,
    },
}

impl Paging {
    fn first(source: &BackendSource) -> Paging {
        match source.shop.upstream.as_ref().map(|u| u.platform()) {
            Some(Platform::CommerceLayer) => Paging::SinceCreated {
                last: None,
                at_last: HashSet::new(),
            },
            Some(scheme) => Paging::AfterId {
                scheme,
                after: None,
            },
            None => Paging::AfterId {
                scheme: Platform::FluentCart,
                after: None,
            },
        }
    }

    /// The next page's query, within `filter`.
    fn query(&self, filter: &OrderFilter) -> OrderQuery {
        let mut filter = filter.clone();
        let sort = match self {
            Paging::AfterId { scheme, after } => {
                if let Some(after) = after {
                    let asked = filter
                        .id_range
                        .take()
                        .filter(|(p, _)| p == scheme)
                        .map(|(_, range)| range)
                        .unwrap_or_default();
                    let above = after.saturating_add(1);
                    filter.id_range = Some((
                        *scheme,
                        Range {
                            min: Some(asked.min.map_or(above, |min| min.max(above))),
                            max: asked.max,
                        },
                    ));
                }
                SortKey::Id
            }
            Paging::SinceCreated { last, .. } => {
                if let Some(last) = last {
                    filter.created.min =
                        Some(filter.created.min.map_or(*last, |min| min.max(*last)));
                }
                SortKey::CreatedAt
            }
        };
        OrderQuery {
            filter,
            sort,
            descending: false,
            page: 1,
            per_page: SOURCE_PAGE,
        }
    }

    /// Moves past `page`, the page just read, and returns what of it was not read before; refuses a page that
    /// shows the source is not keeping to what it was asked.
    fn advance(&mut self, page: Listed, source: &str) -> Result<Vec<Listing>, ReplayError> {
        let items = page
            .items
            .into_iter()
            .map(|o| Listing::Order(Box::new(o)))
            .chain(page.unreadable.into_iter().map(Listing::Unreadable));
        match self {
            Paging::AfterId { scheme, after } => {
                let items: Vec<Listing> = items.collect();
                let mut last = *after;
                for item in &items {
                    let id = item.id(*scheme).and_then(|id| id.parse::<u64>().ok());
                    let id = id.ok_or_else(|| {
                        ReplayError::Source(format!(
                            "{source} listed an order without its {scheme} id"
                        ))
                    })?;
                    if let Some(a) = *after {
                        if id <= a {
                            return Err(ReplayError::Source(format!(
                                "{source} listed order {id} when asked for ids above {a}: reading on could miss \
                                 or repeat orders, so nothing after order {a} was read"
                            )));
                        }
                    }
                    last = last.max(Some(id));
                }
                *after = last;
                Ok(items)
            }
            Paging::SinceCreated { last, at_last } => {
                let mut dated = Vec::new();
                for item in items {
                    let id = item.id(Platform::CommerceLayer).unwrap_or_default();
                    let Some(created) = item.created_at() else {
                        return Err(ReplayError::Source(format!(
                            "{source} listed order {id} without a creation time that can be read"
                        )));
                    };
                    dated.push((created, id, item));
                }
                // In creation order, whichever list an order came in.
                dated.sort_by_key(|(created, _, _)| *created);
                let full = dated.len() >= SOURCE_PAGE as usize;
                let mut fresh = Vec::with_capacity(dated.len());
                for (created, id, item) in dated {
                    match *last {
                        Some(l) if created < l => {
                            return Err(ReplayError::Source(format!(
                                "{source} listed order {id}, made at {created}, when asked for orders made from {l} \
                                 on: reading on could miss or repeat orders, so nothing made after {l} was read"
                            )));
                        }
                        Some(l) if created == l => {
                            if !at_last.insert(id) {
                                continue;
                            }
                        }
                        _ => {
                            *last = Some(created);
                            at_last.clear();
                            at_last.insert(id);
                        }
                    }
                    fresh.push(item);
                }
                if full && fresh.is_empty() {
                    return Err(ReplayError::Source(format!(
                        "{source} has a page's worth ({SOURCE_PAGE}) or more of orders made at {}, so paging by \
                         creation time cannot get past that instant; nothing made after it was read",
                        last.unwrap_or_default()
                    )));
                }
                Ok(fresh)
            }
        }
    }
}

/// One order a backend source listed: decoded, or set apart because it does not decode.
#[derive(Debug)]
enum Listing {
    Order(Box<Order>),
    Unreadable(Unreadable),
}

impl Listing {
    /// The order's id in `scheme`.
    fn id(&self, scheme: Platform) -> Option<String> {
        match self {
            Listing::Order(o) => o.ids.platform.in_scheme(scheme),
            Listing::Unreadable(u) => Some(u.id.clone()),
        }
    }

    fn created_at(&self) -> Option<Timestamp> {
        match self {
            Listing::Order(o) => o.timestamps.created_at,
            Listing::Unreadable(u) => u.created_at,
        }
    }
}

impl Reader<'_> {
    async fn next_chunk(&mut self, max: usize, client: &str) -> Result<Vec<Record>, ReplayError> {
        match self {
            Reader::File(r) => r.next_chunk(max),
            Reader::Backend {
                source,
                paging,
                done,
            } => {
                if *done {
                    return Ok(Vec::new());
                }
                let found = source
                    .shop
                    .list_readable(client, &paging.query(&source.filter))
                    .await
                    .map_err(|e| ReplayError::Source(e.into_problem("order").message()))?;
                if found.items.len() + found.unreadable.len() < SOURCE_PAGE as usize {
                    *done = true;
                }
                let fresh = paging.advance(found, &source.name)?;
                let platform = source.shop.upstream.as_ref().map(|u| u.platform());
                Ok(fresh
                    .into_iter()
                    .map(|item| {
                        let (id, document) = match item {
                            Listing::Order(order) => (
                                match platform {
                                    Some(p) => order.ids.platform.in_scheme(p),
                                    None => order.ids.gateway.clone(),
                                }
                                .unwrap_or_default(),
                                Ok(Document::Canonical(order)),
                            ),
                            // Reported as this order's failure; the run goes on, and a re-run reads it again.
                            Listing::Unreadable(u) => (
                                u.id,
                                Err(format!("the source's order does not decode: {}", u.reason)),
                            ),
                        };
                        Record {
                            key: format!("{}:{id}", platform.map_or("embedded", Platform::name)),
                            at: format!("{} order {id}", source.name),
                            source_id: id,
                            document,
                        }
                    })
                    .collect())
            }
        }
    }
}

/// Reads records lazily: NDJSON line by line, directories file by file; a JSON array is read whole.
struct RecordReader {
    dialect: Platform,
    kind: ReaderKind,
    label: String,
}

enum ReaderKind {
    Lines {
        reader: std::io::BufReader<std::fs::File>,
        line_no: u64,
    },
    /// Elements of a top-level JSON array, parsed one at a time on a reader thread (so memory stays flat
    /// whatever the file's size) and handed over through a bounded channel.
    Array {
        items: std::sync::mpsc::Receiver<Result<Value, String>>,
        index: u64,
    },
    Files(std::vec::IntoIter<PathBuf>),
}

impl RecordReader {
    fn open(source: &FileSource) -> Result<Self, ReplayError> {
        let path = &source.path;
        let read_err = |e| ReplayError::Read {
            path: path.display().to_string(),
            source: e,
        };
        let kind = if path.is_dir() {
            ReaderKind::Files(json_files(path).map_err(read_err)?.into_iter())
        } else {
            let file = std::fs::File::open(path).map_err(read_err)?;
            let mut reader = std::io::BufReader::new(file);
            if first_byte(&mut reader).map_err(read_err)? == Some(b'[') {
                let (tx, rx) = std::sync::mpsc::sync_channel(CHUNK);
                std::thread::spawn(move || stream_array(reader, &tx));
                ReaderKind::Array {
                    items: rx,
                    index: 0,
                }
            } else {
                ReaderKind::Lines { reader, line_no: 0 }
            }
        };
        Ok(RecordReader {
            dialect: source.dialect,
            kind,
            label: path.display().to_string(),
        })
    }

    fn next_chunk(&mut self, max: usize) -> Result<Vec<Record>, ReplayError> {
        let mut out = Vec::with_capacity(max);
        while out.len() < max {
            let next = match &mut self.kind {
                ReaderKind::Lines { reader, line_no } => {
                    let mut line = String::new();
                    let n = reader.read_line(&mut line).map_err(|e| ReplayError::Read {
                        path: self.label.clone(),
                        source: e,
                    })?;
                    if n == 0 {
                        None
                    } else {
                        *line_no += 1;
                        if line.trim().is_empty() {
                            continue;
                        }
                        let at = format!("{}:{line_no}", self.label);
                        Some((
                            at,
                            serde_json::from_str::<Value>(&line)
                                .map_err(|e| format!("not JSON: {e}")),
                            line.trim().as_bytes().to_vec(),
                        ))
                    }
                }
                ReaderKind::Array { items, index } => match items.recv() {
                    // The reader thread is done (end of the array, or it reported an error).
                    Err(_) => None,
                    Ok(Err(why)) => {
                        return Err(ReplayError::Read {
                            path: self.label.clone(),
                            source: std::io::Error::new(std::io::ErrorKind::InvalidData, why),
                        })
                    }
                    Ok(Ok(v)) => {
                        *index += 1;
                        let bytes = v.to_string().into_bytes();
                        Some((format!("{}[{}]", self.label, *index - 1), Ok(v), bytes))
                    }
                },
                ReaderKind::Files(files) => match files.next() {
                    None => None,
                    Some(path) => {
                        let at = path.display().to_string();
                        let bytes = std::fs::read(&path).map_err(|e| ReplayError::Read {
                            path: at.clone(),
                            source: e,
                        })?;
                        let doc = serde_json::from_slice::<Value>(&bytes)
                            .map_err(|e| format!("not JSON: {e}"));
                        Some((at, doc, bytes))
                    }
                },
            };
            let Some((at, doc, bytes)) = next else { break };
            out.push(record(self.dialect, at, doc, &bytes));
        }
        Ok(out)
    }
}

/// Parses a top-level JSON array from `reader`, sending each element as soon as it is read; stops early when the
/// receiver is gone.
fn stream_array(
    reader: impl std::io::Read,
    tx: &std::sync::mpsc::SyncSender<Result<Value, String>>,
) {
    use serde::de::{DeserializeSeed, Deserializer, SeqAccess, Visitor};

    struct Elements<'a>(&'a std::sync::mpsc::SyncSender<Result<Value, String>>);

    impl<'de> Visitor<'de> for Elements<'_> {
        type Value = ();

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON array of documents")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while let Some(v) = seq.next_element::<Value>()? {
                if self.0.send(Ok(v)).is_err() {
                    break;
                }
            }
            Ok(())
        }
    }

    impl<'de> DeserializeSeed<'de> for Elements<'_> {
        type Value = ();

        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_seq(self)
        }
    }

    let mut de = serde_json::Deserializer::from_reader(reader);
    if let Err(e) = Elements(tx).deserialize(&mut de) {
        let _ = tx.send(Err(e.to_string()));
    }
}

/// A record from one source document: an envelope `{"source_id", "document"}` or a bare document, whose identity
/// is its platform id when it is an order object and the hash of its bytes otherwise.
fn record(dialect: Platform, at: String, doc: Result<Value, String>, bytes: &[u8]) -> Record {
    let hashed = || {
        let mut id = String::from("sha256:");
        crate::hex::push_lower(&mut id, &Sha256::digest(bytes));
        id
    };
    let (source_id, document) = match doc {
        Ok(Value::Object(mut map))
            if map.len() == 2 && map.contains_key("source_id") && map.contains_key("document") =>
        {
            let id = match map.remove("source_id") {
                Some(Value::String(s)) if !s.is_empty() => Some(s),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            };
            let document = map.remove("document").unwrap_or(Value::Null);
            match id {
                Some(id) => (id, Ok(document)),
                None => (
                    hashed(),
                    Err(
                        "the envelope's source_id must be a non-empty string or a number"
                            .to_owned(),
                    ),
                ),
            }
        }
        Ok(document) => (
            own_id(dialect, &document).unwrap_or_else(hashed),
            Ok(document),
        ),
        Err(why) => (hashed(), Err(why)),
    };
    Record {
        key: format!("{}:{source_id}", dialect.name()),
        source_id,
        at,
        document: document.map(Document::Json),
    }
}

/// The order's id on its own platform, when the document is an order object that carries one.
fn own_id(dialect: Platform, doc: &Value) -> Option<String> {
    let text = |v: &Value| match v {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    match dialect {
        Platform::FluentCart => doc.get("order").unwrap_or(doc).get("id").and_then(text),
        Platform::BigCommerce => doc.get("id").and_then(text),
        Platform::CommerceLayer => doc.pointer("/data/id").and_then(text),
    }
}

/// A progress bar with rate and ETA on a terminal.
pub struct BarProgress {
    bar: indicatif::ProgressBar,
}

impl BarProgress {
    pub fn new() -> Self {
        BarProgress {
            bar: indicatif::ProgressBar::hidden(),
        }
    }
}

impl Default for BarProgress {
    fn default() -> Self {
        Self::new()
    }
}

impl Progress for BarProgress {
    fn start(&self, total: Option<u64>) {
        self.bar
            .set_draw_target(indicatif::ProgressDrawTarget::stderr());
        if let Some(total) = total {
            self.bar.set_length(total);
        }
        let template = if total.is_some() {
            "{bar:40} {pos}/{len} orders  {per_sec}  ETA {eta}  {msg}"
        } else {
            "{spinner} {pos} orders  {per_sec}  {msg}"
        };
        if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
            self.bar.set_style(style);
        }
    }

    fn advance(&self, report: &Report) {
        self.bar.set_position(report.read);
        self.bar.set_message(format!(
            "created {} · done before {} · failed {}",
            report.created, report.already_done, report.failed
        ));
    }

    fn finish(&self, report: &Report) {
        self.advance(report);
        self.bar.finish();
    }
}

/// Plain progress lines at most every `every`, for logs and pipes.
pub struct LineProgress {
    every: Duration,
    state: std::sync::Mutex<(Instant, Option<u64>)>,
}

impl LineProgress {
    pub fn new(every: Duration) -> Self {
        LineProgress {
            every,
            state: std::sync::Mutex::new((Instant::now(), None)),
        }
    }
}

impl Progress for LineProgress {
    fn start(&self, total: Option<u64>) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        *s = (Instant::now(), total);
    }

    fn advance(&self, report: &Report) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if s.0.elapsed() < self.every {
            return;
        }
        s.0 = Instant::now();
        let of = s.1.map(|t| format!("/{t}")).unwrap_or_default();
        let _ = writeln!(
            std::io::stderr(),
            "replay: {}{of} read, {} created, {} done before, {} failed",
            report.read,
            report.created,
            report.already_done,
            report.failed
        );
    }

    fn finish(&self, _report: &Report) {}
}

/// The summary table printed at the end.
pub fn summary(report: &Report) -> String {
    let mut out = String::new();
    let mut row = |label: &str, value: String| {
        out.push_str(&format!("  {label:<22} {value:>12}\n"));
    };
    row("read", report.read.to_string());
    if report.dry_run {
        row("would create", report.would_create.to_string());
    } else {
        row("created", report.created.to_string());
    }
    row("already done", report.already_done.to_string());
    row("failed", report.failed.to_string());
    if report.duplicates_in_source > 0 {
        row(
            "duplicates in source",
            report.duplicates_in_source.to_string(),
        );
    }
    for (kind, n) in &report.losses {
        row(&format!("loss: {kind}"), n.to_string());
    }
    row(
        "seconds",
        format!(
            "{}.{}",
            report.elapsed_ms / 1000,
            report.elapsed_ms % 1000 / 100
        ),
    );
    row("orders/s", report.orders_per_sec.to_string());
    if report.stopped_early {
        out.push_str("  stopped early: --max-failures reached\n");
    }
    let n = &report.notifications;
    if !n.note.is_empty() {
        out.push_str(&format!("  customer e-mails: {}\n", n.note));
    }
    if !n.not_restored.is_empty() {
        out.push_str(&format!(
            "  NOT SWITCHED BACK ON (still off in the shop; re-run, or run with --notifications restore): {}\n",
            n.not_restored.join(", ")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(orders: Vec<Order>) -> Listed {
        Listed {
            items: orders,
            ..Listed::default()
        }
    }

    fn order_numbered(fluentcart: u64) -> Order {
        let mut order = Order::empty(crate::canonical::Currency::parse("USD").unwrap());
        order.ids.platform.fluentcart = Some(fluentcart);
        order
    }

    #[test]
    fn integer_sources_are_read_by_ids_above_the_last_one_read() {
        let mut paging = Paging::AfterId {
            scheme: Platform::FluentCart,
            after: None,
        };
        let asked = OrderFilter {
            id_range: Some((
                Platform::FluentCart,
                Range {
                    min: Some(5),
                    max: Some(500),
                },
            )),
            ..OrderFilter::default()
        };
        // The first page is the caller's window as given; later ones start above the last id read.
        assert_eq!(paging.query(&asked).filter, asked);
        let page: Vec<Order> = (5..105).map(order_numbered).collect();
        assert_eq!(paging.advance(listed(page), "shop").unwrap().len(), 100);
        let next = paging.query(&asked);
        assert_eq!(next.page, 1);
        assert_eq!(
            next.filter.id_range,
            Some((
                Platform::FluentCart,
                Range {
                    min: Some(105),
                    max: Some(500)
                }
            ))
        );
        // An order that does not decode moves the bound too.
        let next = Listed {
            items: vec![order_numbered(105)],
            total: 0,
            unreadable: vec![Unreadable {
                id: "110".into(),
                created_at: None,
                reason: "bad".into(),
            }],
        };
        assert_eq!(paging.advance(next, "shop").unwrap().len(), 2);
        let next = paging.query(&asked);
        assert_eq!(next.filter.id_range.unwrap().1.min, Some(111));
        // A source that ignores the bound is caught, not read on.
        let err = paging
            .advance(listed(vec![order_numbered(60)]), "shop")
            .unwrap_err();
        assert!(err.to_string().contains("asked for ids above 110"), "{err}");
        // So is an order without an id in the scheme.
        let err = paging
            .advance(
                listed(vec![Order::empty(
                    crate::canonical::Currency::parse("USD").unwrap(),
                )]),
                "shop",
            )
            .unwrap_err();
        assert!(
            err.to_string().contains("without its fluentcart id"),
            "{err}"
        );
    }

    #[test]
    fn commerce_layer_sources_are_read_from_the_last_creation_time_on() {
        let mut paging = Paging::SinceCreated {
            last: None,
            at_last: HashSet::new(),
        };
        let at = |secs: i64| chrono::DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap();
        let made = |id: &str, secs: i64| {
            let mut o = order_numbered(1);
            o.ids.platform.commercelayer = Some(id.to_owned());
            o.timestamps.created_at = Some(at(secs));
            o
        };
        let ids = |items: Vec<Listing>| -> Vec<String> {
            items
                .iter()
                .map(|i| i.id(Platform::CommerceLayer).unwrap())
                .collect()
        };
        let kept = paging
            .advance(listed(vec![made("a", 0), made("b", 5), made("c", 5)]), "cl")
            .unwrap();
        assert_eq!(ids(kept), ["a", "b", "c"]);
        // The next page starts at the last instant read, within the caller's window, and drops what it re-reads.
        let window = OrderFilter {
            created: Range {
                min: Some(at(-10)),
                max: Some(at(100)),
            },
            ..OrderFilter::default()
        };
        let next = paging.query(&window);
        assert_eq!((next.page, next.sort), (1, SortKey::CreatedAt));
        assert_eq!(
            next.filter.created,
            Range {
                min: Some(at(5)),
                max: Some(at(100))
            }
        );
        let kept = paging
            .advance(
                Listed {
                    items: vec![made("b", 5), made("c", 5), made("d", 5), made("e", 9)],
                    total: 0,
                    // An order that does not decode keeps its place in creation order.
                    unreadable: vec![Unreadable {
                        id: "u".into(),
                        created_at: Some(at(7)),
                        reason: "bad".into(),
                    }],
                },
                "cl",
            )
            .unwrap();
        assert_eq!(ids(kept), ["d", "u", "e"]);
        // An order made before the bound shows the source ignores it.
        let err = paging
            .advance(listed(vec![made("z", 1)]), "cl")
            .unwrap_err();
        assert!(
            err.to_string().contains("when asked for orders made from"),
            "{err}"
        );
        // A full page of orders all read before (more of one instant than a page holds) cannot be got past.
        let mut stuck = Paging::SinceCreated {
            last: None,
            at_last: HashSet::new(),
        };
        let same: Vec<Order> = (0..SOURCE_PAGE)
            .map(|i| made(&format!("s{i}"), 7))
            .collect();
        assert_eq!(
            stuck.advance(listed(same.clone()), "cl").unwrap().len(),
            100
        );
        let err = stuck.advance(listed(same), "cl").unwrap_err();
        assert!(
            err.to_string().contains("(100) or more of orders made at"),
            "{err}"
        );
    }

    #[test]
    fn identities_come_from_envelopes_order_ids_or_content() {
        let r = record(
            Platform::BigCommerce,
            "f:1".into(),
            Ok(json!({"source_id": "gen-7", "document": {"products": []}})),
            b"",
        );
        assert_eq!(r.key, "bigcommerce:gen-7");
        let r = record(
            Platform::BigCommerce,
            "f:2".into(),
            Ok(json!({"id": 118})),
            b"",
        );
        assert_eq!(r.key, "bigcommerce:118");
        let r = record(
            Platform::CommerceLayer,
            "f:3".into(),
            Ok(json!({"data": {"id": "wzYhYIbGqa"}})),
            b"",
        );
        assert_eq!(r.key, "commercelayer:wzYhYIbGqa");
        let a = record(
            Platform::FluentCart,
            "f:4".into(),
            Ok(json!({"a": 1})),
            b"{\"a\":1}",
        );
        let b = record(
            Platform::FluentCart,
            "f:5".into(),
            Ok(json!({"a": 1})),
            b"{\"a\":1}",
        );
        assert_eq!(a.key, b.key);
        // The SHA-256 of the document's bytes, in lowercase hex (Python's `hashlib.sha256(b'{"a":1}').hexdigest()`):
        // a replay journal keyed this way must find the same key in a later run.
        assert_eq!(
            a.key,
            "fluentcart:sha256:015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862"
        );
        let bad = record(
            Platform::FluentCart,
            "f:6".into(),
            Err("not JSON".into()),
            b"{",
        );
        assert!(bad.document.is_err());
    }

    #[test]
    fn a_json_array_is_read_element_by_element_and_a_broken_one_is_an_error() {
        let dir =
            std::env::temp_dir().join(format!("ordermux-replay-array-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.json");
        std::fs::write(
            &good,
            r#" [{"id": 1}, {"id": 2}, {"source_id": "x", "document": {}}] "#,
        )
        .unwrap();
        let source = FileSource {
            path: good,
            dialect: Platform::BigCommerce,
        };
        let mut reader = RecordReader::open(&source).unwrap();
        let keys: Vec<String> = reader
            .next_chunk(10)
            .unwrap()
            .into_iter()
            .map(|r| r.key)
            .collect();
        assert_eq!(keys, ["bigcommerce:1", "bigcommerce:2", "bigcommerce:x"]);
        assert!(reader.next_chunk(10).unwrap().is_empty());
        let bad = dir.join("bad.json");
        std::fs::write(&bad, r#"[{"id": 1}, {"id": "#).unwrap();
        let mut reader = RecordReader::open(&FileSource {
            path: bad,
            dialect: Platform::BigCommerce,
        })
        .unwrap();
        assert!(reader.next_chunk(10).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_accounting_identity_is_exact() {
        let usd = crate::canonical::Currency::parse("USD").unwrap();
        assert!(accounting_mismatch(Money::new(100, usd), Money::new(100, usd)).is_none());
        assert!(accounting_mismatch(Money::new(100, usd), Money::new(101, usd)).is_some());
    }
}
