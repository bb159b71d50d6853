//! The embedded shop's durable state behind one interface: canonical orders, the id map between the gateway's and
//! each platform's ids, customers, the product catalog and idempotency records.
//!
//! `Store` is a closed enum over implementations so that adding one (PostgreSQL, for multi-replica deployments) is
//! a compile error at every place that must learn about it. Today it has the SQLite implementation.

mod claims;
mod ids;
mod replay;
mod sql;
mod sqlite;
mod upstream;

use std::path::Path;

use crate::canonical::{
    Address, Order, OrderFilter, OrderQuery, Page, Platform, Problem, Timestamp,
};
use crate::config::{Durability, Product, SeedCustomer};

pub use claims::{under_claim, ClaimRef, IdempotencyClaim, KeyHold};
pub use replay::{ReplayEntry, ReplayMark};
pub use sqlite::SqliteStore;
pub use upstream::{
    AddressLink, AddressRole, BeginLanding, JournalEntry, JournalState, JournalUpdate, Landing,
    Localized, SweepEnd, UnfinishedCreate, UpstreamObject, SWEEPING_STEP,
};

/// Which object an id in a platform's scheme names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    LineItem,
    Address,
    ShippingLine,
    Customer,
}

impl ObjectKind {
    pub fn key(self) -> &'static str {
        match self {
            ObjectKind::LineItem => "line_item",
            ObjectKind::Address => "address",
            ObjectKind::ShippingLine => "shipping_line",
            ObjectKind::Customer => "customer",
        }
    }
}

/// An id in one of the schemes an object is known by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectId {
    Gateway(String),
    FluentCart(u64),
    CommerceLayer(String),
    BigCommerce(u64),
}

impl ObjectId {
    /// Parses an id as it appears in `platform`'s URLs (integers for FluentCart and BigCommerce).
    pub fn parse(platform: Platform, text: &str) -> Option<ObjectId> {
        match platform {
            Platform::FluentCart => text.parse().ok().map(ObjectId::FluentCart),
            Platform::BigCommerce => text.parse().ok().map(ObjectId::BigCommerce),
            Platform::CommerceLayer => (!text.is_empty()
                && text.len() <= 64
                // Commerce Layer's own ids are alphanumeric; `-` and `_` are in the names its documents give
                // objects without an id of their own (`dialects::commercelayer::local_address`).
                && text
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
            .then(|| ObjectId::CommerceLayer(text.to_owned())),
        }
    }

    /// The id as `platform` writes it, when it is an id in `platform`'s scheme (`parse`'s inverse).
    pub fn in_scheme(&self, platform: Platform) -> Option<String> {
        match (platform, self) {
            (Platform::FluentCart, ObjectId::FluentCart(n))
            | (Platform::BigCommerce, ObjectId::BigCommerce(n)) => Some(n.to_string()),
            (Platform::CommerceLayer, ObjectId::CommerceLayer(s)) => Some(s.clone()),
            _ => None,
        }
    }
}

/// A catalog product, looked up by any of its keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProductKey {
    Sku(String),
    FluentCartObject(u64),
    BigCommerceProduct(u64),
}

/// A customer of one client, with its ids in every scheme.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerRecord {
    pub gateway_id: String,
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub ids: crate::canonical::PlatformIds,
    /// The customer's default address, if known.
    pub address: Option<Address>,
}

/// A response kept for idempotent replay.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Database(#[from] rusqlite::Error),
    #[error("database migration {0}: {1}")]
    Migrate(i64, String),
    #[error("cannot start the store's writer thread: {0}")]
    Thread(std::io::Error),
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("stored record {0} cannot be read: {1}")]
    Corrupt(String, String),
    #[error("the store stopped or failed before answering")]
    Stopped,
    #[error("data directory {path} is being served by another ordermux process (one per data directory)")]
    InUse { path: String },
    #[error("cannot lock data directory {path}: {source}")]
    Lock {
        path: String,
        source: std::io::Error,
    },
}

impl StoreError {
    /// The problem to show a caller; the detail goes to the log only. A store that could not read or write (a full
    /// disk, an I/O error, a writer that stopped) is unavailable for now: 503 with `Retry-After`, as a retry may
    /// well succeed, and a create retried with its Idempotency-Key is never made twice. Anything else (a record
    /// that cannot be read back) is an internal error.
    pub fn into_problem(self) -> Problem {
        tracing::error!(error = %self, "store failure");
        match self {
            StoreError::Database(_) | StoreError::Stopped => Problem::new(
                crate::canonical::ProblemKind::Unavailable,
                "",
                "the gateway's store could not record or read the request; retry later",
            )
            .with_retry_after(1),
            _ => Problem::new(
                crate::canonical::ProblemKind::Internal,
                "",
                "internal error; the request was not applied",
            ),
        }
    }
}

/// Holds the data directory for one serving process, until dropped (or the process ends, however it ends).
/// Idempotency-Key claims rest on it: a claim in flight under another process's name is one of a process that
/// stopped, and is taken over (`IdempotencyClaim::Interrupted`). Other commands (`replay`, `translate`) do not take
/// it; they make no claims.
#[derive(Debug)]
pub struct ServingLock {
    _file: std::fs::File,
}

impl ServingLock {
    pub fn take(data_dir: &Path) -> Result<ServingLock, StoreError> {
        let path = data_dir.join("serve.lock");
        let shown = || path.display().to_string();
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::DataDir {
            path: data_dir.display().to_string(),
            source,
        })?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| StoreError::Lock {
                path: shown(),
                source,
            })?;
        match fs4::FileExt::try_lock(&file) {
            Ok(()) => Ok(ServingLock { _file: file }),
            Err(fs4::TryLockError::WouldBlock) => Err(StoreError::InUse {
                path: data_dir.display().to_string(),
            }),
            Err(fs4::TryLockError::Error(source)) => Err(StoreError::Lock {
                path: shown(),
                source,
            }),
        }
    }
}

/// Why `modify_order` did not modify.
#[derive(Debug, thiserror::Error)]
pub enum ModifyError {
    #[error("order not found")]
    NotFound,
    #[error("{0}")]
    Rejected(Problem),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The store. See the module docs for why this is an enum.
#[derive(Debug, Clone)]
pub enum Store {
    Sqlite(SqliteStore),
}

macro_rules! dispatch {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            Store::Sqlite($s) => $e,
        }
    };
}

impl Store {
    /// Opens (creating if needed) the SQLite store in `data_dir` and brings its schema up to date.
    pub async fn open_sqlite(data_dir: &Path, durability: Durability) -> Result<Store, StoreError> {
        Ok(Store::Sqlite(
            SqliteStore::open(data_dir, durability).await?,
        ))
    }

    /// Whether the store answers (for `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        dispatch!(self, s => s.ping().await)
    }

    /// Waits until every write queued before this call (answers to Idempotency-Keys are queued, not awaited) is
    /// committed: a gateway that stops drains its connections and then this, so that what it answered is kept.
    pub async fn flush(&self) -> Result<(), StoreError> {
        dispatch!(self, s => s.flush().await)
    }

    /// Brings the query planner's statistics up to date where the store has grown or shrunk since they were taken
    /// (cheap when nothing changed). See `SqliteStore::refresh_statistics`.
    pub async fn refresh_statistics(&self) -> Result<(), StoreError> {
        dispatch!(self, s => s.refresh_statistics().await)
    }

    /// Replaces the catalog with `products`.
    pub async fn load_catalog(&self, products: &[Product]) -> Result<(), StoreError> {
        dispatch!(self, s => s.load_catalog(products).await)
    }

    pub async fn product(&self, key: &ProductKey) -> Result<Option<Product>, StoreError> {
        dispatch!(self, s => s.product(key).await)
    }

    /// Creates the customer unless one with its email exists; returns it either way.
    pub async fn ensure_customer(
        &self,
        client: &str,
        seed: &SeedCustomer,
    ) -> Result<CustomerRecord, StoreError> {
        dispatch!(self, s => s.ensure_customer(client, seed).await)
    }

    pub async fn customer(
        &self,
        client: &str,
        id: &ObjectId,
    ) -> Result<Option<CustomerRecord>, StoreError> {
        dispatch!(self, s => s.customer(client, id).await)
    }

    /// Stores a new order: assigns its ids in every scheme (and those of its line items, addresses, shipping lines
    /// and customer) and returns it as stored. All or nothing.
    pub async fn create_order(
        &self,
        client: &str,
        order: Order,
        now: Timestamp,
    ) -> Result<Order, StoreError> {
        dispatch!(self, s => s.create_order(client, order, now).await)
    }

    /// Creates an order and confirms its replay journal row in the same transaction.
    pub async fn create_order_replayed(
        &self,
        client: &str,
        order: Order,
        now: Timestamp,
        mark: ReplayMark,
    ) -> Result<Order, StoreError> {
        dispatch!(self, s => s.create_order_replayed(client, order, now, Some(mark)).await)
    }

    /// The replay journal rows for `keys` on `target`.
    pub async fn replay_entries(
        &self,
        target: &str,
        keys: &[String],
    ) -> Result<std::collections::HashMap<String, ReplayEntry>, StoreError> {
        dispatch!(self, s => s.replay_entries(target, keys).await)
    }

    /// Records where one replayed source order stands.
    pub async fn replay_mark(&self, mark: ReplayMark) -> Result<(), StoreError> {
        dispatch!(self, s => s.replay_mark(mark).await)
    }

    /// Notifications of `backend` a replay switched off and has not switched back on.
    pub async fn muted_notifications(&self, backend: &str) -> Result<Vec<String>, StoreError> {
        dispatch!(self, s => s.muted_notifications(backend).await)
    }

    /// Records that a replay switches notification `name` of `backend` off (before it does).
    pub async fn record_muted_notification(
        &self,
        backend: &str,
        name: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        dispatch!(self, s => s.record_muted_notification(backend, name, now).await)
    }

    /// Forgets notification `name` of `backend` once it is switched back on.
    pub async fn forget_muted_notification(
        &self,
        backend: &str,
        name: &str,
    ) -> Result<(), StoreError> {
        dispatch!(self, s => s.forget_muted_notification(backend, name).await)
    }

    pub async fn order(&self, client: &str, id: &ObjectId) -> Result<Option<Order>, StoreError> {
        dispatch!(self, s => s.order(client, id).await)
    }

    /// Stores an address no order owns yet (a Commerce Layer `POST /api/addresses`), with new ids in every
    /// scheme. Orders that use it keep a copy with the same ids.
    pub async fn create_address(
        &self,
        client: &str,
        address: Address,
        now: Timestamp,
    ) -> Result<Address, StoreError> {
        dispatch!(self, s => s.create_address(client, address, now).await)
    }

    /// A standalone address (see `create_address`) by its id in any scheme.
    pub async fn address(
        &self,
        client: &str,
        id: &ObjectId,
    ) -> Result<Option<Address>, StoreError> {
        dispatch!(self, s => s.address(client, id).await)
    }

    /// The order containing the object `id` of `kind` (a line item, an address, ...).
    pub async fn order_containing(
        &self,
        client: &str,
        kind: ObjectKind,
        id: &ObjectId,
    ) -> Result<Option<Order>, StoreError> {
        dispatch!(self, s => s.order_containing(client, kind, id).await)
    }

    /// Reads, changes and writes an order in one transaction: `change` sees the current order and either edits it
    /// or refuses (nothing is written then). New objects get ids; totals are the caller's business.
    pub async fn modify_order<F>(
        &self,
        client: &str,
        id: &ObjectId,
        now: Timestamp,
        change: F,
    ) -> Result<Order, ModifyError>
    where
        F: FnOnce(&mut Order) -> Result<(), Problem> + Send + 'static,
    {
        dispatch!(self, s => s.modify_order(client, id, now, change).await)
    }

    /// Deletes an order; `refuse` may veto it (Commerce Layer deletes drafts only). `Ok(false)`: no such order.
    pub async fn delete_order<F>(
        &self,
        client: &str,
        id: &ObjectId,
        refuse: F,
    ) -> Result<bool, ModifyError>
    where
        F: FnOnce(&Order) -> Result<(), Problem> + Send + 'static,
    {
        dispatch!(self, s => s.delete_order(client, id, refuse).await)
    }

    pub async fn list_orders(
        &self,
        client: &str,
        query: &OrderQuery,
    ) -> Result<Page<Order>, StoreError> {
        dispatch!(self, s => s.list_orders(client, query).await)
    }

    /// `list_orders` without counting the matches (see `SqliteStore::list_page`).
    pub async fn list_page(
        &self,
        client: &str,
        query: &OrderQuery,
    ) -> Result<Vec<Order>, StoreError> {
        dispatch!(self, s => s.list_page(client, query).await)
    }

    /// How many orders match `filter`, per status triple present.
    pub async fn count_by_status(
        &self,
        client: &str,
        filter: &OrderFilter,
    ) -> Result<Vec<(crate::canonical::StatusTriple, u64)>, StoreError> {
        dispatch!(self, s => s.count_by_status(client, filter).await)
    }

    /// Claims `key` for `client` with the request's `fingerprint`, or says what holds it. Records older than
    /// `retention` are forgotten. A new key is held in memory and costs no write: its record is written with the
    /// request's first write under the claim (see `claims`).
    pub async fn idempotency_begin(
        &self,
        client: &str,
        key: &str,
        fingerprint: &[u8; 32],
        now: Timestamp,
        retention: std::time::Duration,
    ) -> Result<IdempotencyClaim, StoreError> {
        dispatch!(self, s => s.idempotency_begin(client, key, fingerprint, now, retention).await)
    }

    /// Queues the answer to a held key and returns without waiting for its commit; the hold goes with it and is
    /// released once the answer is committed. The answer is kept for replay; an error answer (`release`) frees the
    /// key instead, for a corrected retry, unless the request (or an interrupted attempt before it) wrote to the
    /// store: a retry would write again, so the error is kept. The writer commits in order, so every later claim of
    /// the key sees it. Answering the caller before it is durable is safe: a gateway that stops first leaves the
    /// claim in flight (or, if the request wrote nothing, no record at all), and the next one takes it over from
    /// what the request wrote (its mark in the store, or the upstream journal).
    pub fn queue_idempotency_answer(
        &self,
        hold: KeyHold,
        response: StoredResponse,
        release: bool,
    ) -> Result<(), StoreError> {
        dispatch!(self, s => s.queue_idempotency_answer(hold, response, release))
    }

    /// Deletes at most `limit` idempotency records made before `before`; answers how many went.
    pub async fn idempotency_purge(
        &self,
        before: Timestamp,
        limit: usize,
    ) -> Result<usize, StoreError> {
        dispatch!(self, s => s.idempotency_purge(before, limit).await)
    }

    /// A 32-byte key generated on first use and kept in the store (signs Commerce Layer bearer tokens, so tokens
    /// survive a restart).
    pub async fn signing_key(&self) -> Result<[u8; 32], StoreError> {
        dispatch!(self, s => s.signing_key().await)
    }

    /// Ids in every scheme for objects an upstream returned (see `SqliteStore::upstream_localize`).
    pub async fn upstream_localize(
        &self,
        backend: &str,
        platform: Platform,
        objects: &[UpstreamObject],
        linked: &[String],
    ) -> Result<Localized, StoreError> {
        dispatch!(self, s => s.upstream_localize(backend, platform, objects, linked).await)
    }

    /// `upstream_localize` without the read first, for objects likely new (see `SqliteStore::upstream_map`).
    pub async fn upstream_map(
        &self,
        backend: &str,
        platform: Platform,
        objects: Vec<UpstreamObject>,
    ) -> Result<Vec<crate::canonical::PlatformIds>, StoreError> {
        dispatch!(self, s => s.upstream_map(backend, platform, objects).await)
    }

    /// Maps new upstream objects to ids callers already know (see `SqliteStore::upstream_adopt`).
    pub async fn upstream_adopt(
        &self,
        backend: &str,
        platform: Platform,
        objects: &[(UpstreamObject, crate::canonical::PlatformIds)],
        links: &[AddressLink],
    ) -> Result<(), StoreError> {
        dispatch!(self, s => s.upstream_adopt(backend, platform, objects, links).await)
    }

    /// Sets or removes the links of upstream orders' addresses (see `SqliteStore::upstream_relink`).
    pub async fn upstream_relink(
        &self,
        backend: &str,
        links: &[AddressLink],
    ) -> Result<(), StoreError> {
        dispatch!(self, s => s.upstream_relink(backend, links).await)
    }

    /// The upstream order holding an address linked under a Commerce Layer id (see
    /// `SqliteStore::upstream_linked_order`).
    pub async fn upstream_linked_order(
        &self,
        backend: &str,
        id: &str,
    ) -> Result<Option<String>, StoreError> {
        dispatch!(self, s => s.upstream_linked_order(backend, id).await)
    }

    /// The upstream id of an object a caller names in its own scheme, and its order's upstream id, on `backend`
    /// (an upstream of `platform`).
    pub async fn upstream_resolve(
        &self,
        backend: &str,
        platform: Platform,
        kind: &str,
        id: &ObjectId,
    ) -> Result<Option<(String, Option<String>)>, StoreError> {
        dispatch!(self, s => s.upstream_resolve(backend, platform, kind, id).await)
    }

    /// The journal row for `key`, created as `Sent` if new (see `JournalEntry::fresh`); `landing` says until when
    /// its attempts may land upstream (see `BeginLanding`, `JournalEntry::landing_until`). `keyed`: the row is the
    /// create of the request holding the task's Idempotency-Key claim (`under_claim`), whose fingerprint the row
    /// then keeps, and which is told when the row was begun for another (`JournalEntry::other_request`).
    pub async fn journal_begin(
        &self,
        backend: &str,
        key: &str,
        client: &str,
        now: i64,
        landing: BeginLanding,
        keyed: bool,
    ) -> Result<JournalEntry, StoreError> {
        dispatch!(self, s => s.journal_begin(backend, key, client, now, landing, keyed).await)
    }

    /// See `SqliteStore::mark_upstream_action`.
    pub async fn mark_upstream_action(&self, order: &str) -> Result<(), StoreError> {
        dispatch!(self, s => s.mark_upstream_action(order).await)
    }

    pub async fn journal_update(&self, update: JournalUpdate) -> Result<(), StoreError> {
        dispatch!(self, s => s.journal_update(update).await)
    }

    /// See `SqliteStore::upstream_unfinished`.
    pub async fn upstream_unfinished(
        &self,
        backend: &str,
        idle_since: i64,
        now_ms: i64,
        limit: usize,
    ) -> Result<Vec<UnfinishedCreate>, StoreError> {
        dispatch!(self, s => s.upstream_unfinished(backend, idle_since, now_ms, limit).await)
    }

    /// See `SqliteStore::journal_sweep_take`.
    pub async fn journal_sweep_take(
        &self,
        backend: &str,
        row: &UnfinishedCreate,
        now: i64,
        hold_until: i64,
    ) -> Result<bool, StoreError> {
        dispatch!(self, s => s.journal_sweep_take(backend, row, now, hold_until).await)
    }

    /// See `SqliteStore::journal_sweep_taken`.
    pub async fn journal_sweep_taken(
        &self,
        backend: &str,
        key: &str,
        steps: &serde_json::Value,
        end: SweepEnd,
        note: Option<String>,
        now: i64,
    ) -> Result<(), StoreError> {
        dispatch!(self, s => s.journal_sweep_taken(backend, key, steps, end, note, now).await)
    }
}
