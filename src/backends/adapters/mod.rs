//! Translating adapters: one per upstream platform. Each speaks its platform's order API in canonical terms —
//! field mapping is the dialect codecs' (`crate::dialects::*`), the adapter owns the rest: paths, auth,
//! pagination, multi-step flows and the platform's quirks.
//!
//! Ids: an `Order` an adapter returns carries the upstream's own ids in its platform's fields
//! (`ids.platform.bigcommerce` for BigCommerce, and so on, for the order and every object in it), exactly as the
//! platform's dialect decoder sets them. An `Order` an adapter is given carries the same (ids in other schemes may
//! be present too and must be ignored). `UpstreamShop` maps ids for callers of other dialects.

pub mod bigcommerce;
pub mod commercelayer;
pub mod fluentcart;

use std::sync::Mutex;

use serde_json::Value;

use super::transport::UpstreamError;
use crate::canonical::lifecycle::Transition;
use crate::canonical::{Address, Order, OrderQuery, Platform};
use crate::config::{Backend, BackendKind};
use crate::dialects::DecodeOptions;
use crate::store::{JournalState, JournalUpdate, Store};

pub use bigcommerce::BigCommerceAdapter;
pub use commercelayer::CommerceLayerAdapter;
pub use fluentcart::FluentCartAdapter;

/// How much of a new order its creator needs back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateReply {
    /// The whole order as the upstream now holds it.
    Order,
    /// Its ids only (FluentCart's create reply, a replay's journal). The returned `Order` then carries the
    /// upstream ids and at most what the adapter already had in hand: reads that would complete it are skipped.
    Ids,
}

/// The mark ordermux leaves on every order it creates upstream, so that after any failure the order can be
/// found again (BigCommerce `external_id`, Commerce Layer `reference`, FluentCart a note line / meta). At most 40
/// ASCII characters: `omx-` and 32 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    key: String,
}

impl Stamp {
    /// The stamp for a caller's `Idempotency-Key`: deterministic, so a retry of the same request finds the order
    /// its first attempt made. Scoped by client; the key itself never reaches the upstream.
    pub fn for_key(client: &str, idempotency_key: &str) -> Stamp {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        hasher.update(client.as_bytes());
        hasher.update(b"\n");
        hasher.update(idempotency_key.as_bytes());
        let digest = hasher.finalize();
        let mut key = String::with_capacity(36);
        key.push_str("omx-");
        crate::hex::push_lower(&mut key, &digest[..16]);
        Stamp { key }
    }

    /// The stamp of a create: its caller's key's (`for_key`) when it sent one, a fresh one otherwise.
    pub fn for_create(client: &str, idempotency_key: Option<&str>) -> Stamp {
        match idempotency_key {
            Some(key) => Stamp::for_key(client, key),
            None => Stamp::fresh(),
        }
    }

    /// A stamp for a create without a key: still makes this request's own retries and reconciliation exact.
    pub fn fresh() -> Stamp {
        Stamp {
            key: format!("omx-{}", uuid::Uuid::new_v4().simple()),
        }
    }

    /// Rebuilds a stamp read back from an upstream (`None` if it is not one of ordermux's).
    pub fn parse(text: &str) -> Option<Stamp> {
        let hex = text.strip_prefix("omx-")?;
        (hex.len() == 32
            && hex
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()))
        .then(|| Stamp {
            key: text.to_owned(),
        })
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    /// Empties `reference` when it holds one of ordermux's stamps: that is ordermux's mark on the upstream order,
    /// never the order's own reference.
    pub fn clear_from(reference: &mut Option<String>) {
        if reference.as_deref().and_then(Stamp::parse).is_some() {
            *reference = None;
        }
    }
}

/// A page of a list, with the orders that did not decode set apart.
#[derive(Debug, Default)]
pub struct Listed {
    pub items: Vec<Order>,
    /// How many orders match, those that did not decode included; from `Adapter::list_page`, only what the pages
    /// read so far show (BigCommerce's count is not asked for).
    pub total: u64,
    pub unreadable: Vec<Unreadable>,
}

impl Listed {
    /// The error a caller that cannot go on without every order (a count) fails with: the first order that did
    /// not decode, named, so an operator can find it.
    pub fn whole(&self) -> Result<(), UpstreamError> {
        match self.unreadable.first() {
            Some(u) => Err(UpstreamError::Malformed(format!(
                "order {} in the list cannot be read: {}",
                u.id, u.reason
            ))),
            None => Ok(()),
        }
    }
}

/// An order a list showed that could not be decoded: its id in the platform's scheme, its creation time when that
/// much could be read, and why the rest could not.
#[derive(Debug, Clone)]
pub struct Unreadable {
    pub id: String,
    pub created_at: Option<crate::canonical::Timestamp>,
    pub reason: String,
}

/// What the upstream holds under a stamp.
#[derive(Debug)]
pub struct StampLookup {
    /// The order carrying the stamp, when the platform answers it (see `Adapter::finds_whole_orders`).
    pub order: Option<Order>,
    /// Whether the upstream holds an order under the stamp that `order` does not answer because its create is not
    /// finished: a Commerce Layer draft an earlier attempt began, which `create` resumes. Never set beside `order`,
    /// and never on the other platforms, which answer every order they find.
    pub unfinished: bool,
}

/// What a create left upstream under a stamp that no caller came back for (`Adapter::remove_unfinished`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unfinished {
    /// Half-built drafts were deleted (how many); nothing is left under the stamp.
    Removed(usize),
    /// Nothing is there: the create never got as far as an order.
    Nothing,
    /// The create finished upstream after all: its order is whole, and a retry finds it.
    Complete,
    /// An unfinished order is placed: a real order the shop may act on, which is left for a retry to finish (or
    /// for the shop to cancel), not deleted.
    Placed,
}

impl StampLookup {
    fn of(order: Option<Order>) -> StampLookup {
        StampLookup {
            order,
            unfinished: false,
        }
    }
}

/// A create's durable progress: what an earlier attempt under the same stamp already did upstream. Adapters with
/// multi-step creates (Commerce Layer) record each step here *before* moving on, and resume from it.
#[derive(Debug)]
pub struct Journal {
    store: Store,
    backend: String,
    key: String,
    steps: Mutex<Value>,
}

impl Journal {
    pub fn new(store: Store, backend: &str, key: &str, steps: Value) -> Journal {
        Journal {
            store,
            backend: backend.to_owned(),
            key: key.to_owned(),
            steps: Mutex::new(if steps.is_object() {
                steps
            } else {
                Value::Object(Default::default())
            }),
        }
    }

    /// Progress recorded so far (a JSON object; `{}` on a first attempt).
    pub fn steps(&self) -> Value {
        self.steps.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Sets `step` to `value` and makes it durable before returning.
    pub async fn record(&self, step: &str, value: Value) -> Result<(), UpstreamError> {
        let steps = {
            let mut s = self.steps.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(map) = s.as_object_mut() {
                map.insert(step.to_owned(), value);
            }
            s.clone()
        };
        self.store
            .journal_update(JournalUpdate {
                backend: self.backend.clone(),
                key: self.key.clone(),
                state: JournalState::Sent,
                upstream_id: None,
                steps: Some(steps),
                last_error: None,
                now: chrono::Utc::now().timestamp(),
                landing: crate::store::Landing::Keep,
            })
            .await
            .map_err(|e| UpstreamError::Local(format!("journal: {e}")))
    }
}

/// Settings every adapter gets.
#[derive(Debug, Clone)]
pub struct AdapterContext {
    pub backend: Backend,
    /// For decoding upstream documents (the gateway's default currency).
    pub decode: DecodeOptions,
}

/// The adapter for one configured upstream backend.
#[derive(Debug)]
pub enum Adapter {
    BigCommerce(BigCommerceAdapter),
    CommerceLayer(CommerceLayerAdapter),
    FluentCart(FluentCartAdapter),
}

macro_rules! each {
    ($self:ident, $a:ident => $e:expr) => {
        match $self {
            Adapter::BigCommerce($a) => $e,
            Adapter::CommerceLayer($a) => $e,
            Adapter::FluentCart($a) => $e,
        }
    };
}

impl Adapter {
    /// The adapter for an upstream backend; `None` for the embedded one.
    pub fn new(ctx: AdapterContext) -> Result<Option<Adapter>, String> {
        let BackendKind::Upstream(platform) = ctx.backend.kind else {
            return Ok(None);
        };
        Ok(Some(match platform {
            Platform::BigCommerce => Adapter::BigCommerce(BigCommerceAdapter::new(ctx)?),
            Platform::CommerceLayer => Adapter::CommerceLayer(CommerceLayerAdapter::new(ctx)?),
            Platform::FluentCart => Adapter::FluentCart(FluentCartAdapter::new(ctx)?),
        }))
    }

    pub fn platform(&self) -> Platform {
        match self {
            Adapter::BigCommerce(_) => Platform::BigCommerce,
            Adapter::CommerceLayer(_) => Platform::CommerceLayer,
            Adapter::FluentCart(_) => Platform::FluentCart,
        }
    }

    /// Creates `order` upstream, stamped with `stamp`, resuming from `journal` where an earlier attempt stopped.
    /// The order is fully resolved (catalog ids, totals); its status triple says how far the caller took it
    /// (placed, paid …), which the adapter reproduces with the platform's own follow-up calls.
    ///
    /// Journal step `order_id` (the upstream order's id: a JSON number for BigCommerce and FluentCart, a string
    /// for Commerce Layer) means the order already exists upstream — recorded by the adapter right after its
    /// create call, or by `UpstreamShop` after finding the stamp — and only the steps after creation remain.
    pub async fn create(
        &self,
        order: &Order,
        stamp: &Stamp,
        journal: &Journal,
        reply: CreateReply,
    ) -> Result<Order, UpstreamError> {
        match self {
            Adapter::BigCommerce(a) => a.create(order, stamp, journal, reply).await,
            Adapter::FluentCart(a) => a.create(order, stamp, journal, reply).await,
            // Commerce Layer's flow reads the order between its steps anyway; the last read is what it returns.
            Adapter::CommerceLayer(a) => a.create(order, stamp, journal).await,
        }
    }

    /// What the upstream holds under `stamp` (reconciliation after an uncertain create), in one look-up.
    pub async fn look_up_stamp(&self, stamp: &Stamp) -> Result<StampLookup, UpstreamError> {
        match self {
            Adapter::CommerceLayer(a) => a.look_up_stamp(stamp).await,
            Adapter::BigCommerce(a) => Ok(StampLookup::of(a.find_by_stamp(stamp).await?)),
            Adapter::FluentCart(a) => Ok(StampLookup::of(a.find_by_stamp(stamp).await?)),
        }
    }

    /// Whether a create this platform was given can stop half-way with a draft upstream that only its own retry
    /// would finish (Commerce Layer's multi-step create): such drafts are removed once no caller came back for
    /// them (`UpstreamShop::sweep_unfinished`). BigCommerce creates in one call; a FluentCart order is whole once
    /// made, and its states are set by the retry.
    pub fn leaves_drafts(&self) -> bool {
        matches!(self, Adapter::CommerceLayer(_))
    }

    /// Deletes the half-built drafts a create under `stamp` left upstream (see `leaves_drafts`), with what its
    /// journal `steps` say it made for them; a placed or finished order is left as it is.
    pub async fn remove_unfinished(
        &self,
        stamp: &Stamp,
        steps: &serde_json::Value,
    ) -> Result<Unfinished, UpstreamError> {
        match self {
            Adapter::CommerceLayer(a) => a.remove_unfinished(stamp, steps).await,
            Adapter::BigCommerce(_) | Adapter::FluentCart(_) => Ok(Unfinished::Nothing),
        }
    }

    /// Whether an order `look_up_stamp` answers is whole, nothing of its create left to do: BigCommerce creates
    /// in one call, and Commerce Layer's look-up answers only orders whose last step is done. A FluentCart
    /// order is made first and given its states after.
    pub fn finds_whole_orders(&self) -> bool {
        match self {
            Adapter::BigCommerce(_) | Adapter::CommerceLayer(_) => true,
            Adapter::FluentCart(_) => false,
        }
    }

    pub async fn get(&self, upstream_id: &str) -> Result<Order, UpstreamError> {
        each!(self, a => a.get(upstream_id).await)
    }

    /// One page of orders, with the total. Filters the platform cannot express are refused
    /// (`UpstreamError::Unsupported`), never silently ignored. An order that does not decode is set aside as
    /// `Unreadable` instead of failing the page (the others are still the caller's); transport failures and a
    /// page that cannot be read as a list fail it.
    pub async fn list(&self, query: &OrderQuery) -> Result<Listed, UpstreamError> {
        each!(self, a => a.list(query).await)
    }

    /// `list` for a caller whose reply does not carry the total (a replay, BigCommerce's list): BigCommerce is
    /// spared its `/orders/count` call (the other platforms answer their total with the page).
    pub async fn list_page(&self, query: &OrderQuery) -> Result<Listed, UpstreamError> {
        match self {
            Adapter::BigCommerce(a) => a.list_page(query).await,
            other => other.list(query).await,
        }
    }

    /// Makes the upstream order `before` look like `after` (line items added, changed or removed; customer,
    /// addresses, notes …), returning the order as the upstream now has it.
    pub async fn update(&self, before: &Order, after: &Order) -> Result<Order, UpstreamError> {
        each!(self, a => a.update(before, after).await)
    }

    /// Applies a state transition with the platform's own operation. `after` is `before` with the transition
    /// applied by the canonical lifecycle (which has already accepted it): the target states.
    pub async fn transition(
        &self,
        before: &Order,
        transition: &Transition,
        after: &Order,
    ) -> Result<Order, UpstreamError> {
        each!(self, a => a.transition(before, transition, after).await)
    }

    /// A caller's standalone address made on the shop (Commerce Layer's `POST /api/addresses`), carrying
    /// `stamp`.
    pub async fn create_address(
        &self,
        address: &Address,
        stamp: &Stamp,
    ) -> Result<Address, UpstreamError> {
        self.keeping_addresses()?
            .create_address(address, stamp)
            .await
    }

    /// The standalone address made under `stamp`, if one was.
    pub async fn address_by_stamp(&self, stamp: &Stamp) -> Result<Option<Address>, UpstreamError> {
        self.keeping_addresses()?.address_by_stamp(stamp).await
    }

    /// The shop's address `id`; `None` when it has none.
    pub async fn address(&self, id: &str) -> Result<Option<Address>, UpstreamError> {
        self.keeping_addresses()?.address(id).await
    }

    /// The adapter of a platform that keeps addresses apart from orders: only Commerce Layer does
    /// (`UpstreamShop::holds_addresses` keeps the others from being asked).
    fn keeping_addresses(&self) -> Result<&CommerceLayerAdapter, UpstreamError> {
        match self {
            Adapter::CommerceLayer(a) => Ok(a),
            _ => Err(UpstreamError::Local(
                "only Commerce Layer keeps addresses apart from orders".into(),
            )),
        }
    }

    pub async fn delete(&self, upstream_id: &str) -> Result<(), UpstreamError> {
        each!(self, a => a.delete(upstream_id).await)
    }

    /// What the platform lets an API client do about the e-mails orders make it send to customers (a migration
    /// switches them off while it runs).
    pub async fn customer_notifications(&self) -> Result<CustomerNotifications, UpstreamError> {
        match self {
            Adapter::BigCommerce(_) => Ok(CustomerNotifications::NoneSent(
                "BigCommerce's v2 order create sends no order e-mail, and ordermux sets each order's status in the \
                 create itself (no status change follows)",
            )),
            Adapter::CommerceLayer(_) => Ok(CustomerNotifications::NoSwitch(
                "Commerce Layer's API sends no e-mail itself, but webhooks subscribed to order events (orders.place, \
                 orders.approve …) fire for migrated orders and cannot be paused through the API: pause what they \
                 feed (e-mail, ERP) during the migration",
            )),
            Adapter::FluentCart(a) => a
                .customer_notifications()
                .await
                .map(CustomerNotifications::Switches),
        }
    }

    /// Switches customer notification `name` (one of `customer_notifications`' switches) on or off.
    pub async fn switch_notification(&self, name: &str, on: bool) -> Result<(), UpstreamError> {
        match self {
            Adapter::FluentCart(a) => a.switch_notification(name, on).await,
            Adapter::BigCommerce(_) | Adapter::CommerceLayer(_) => {
                Err(UpstreamError::unsupported(crate::canonical::Problem::new(
                    crate::canonical::ProblemKind::InvalidParameter,
                    "",
                    format!("{} has no notification switches", self.platform().name()),
                )))
            }
        }
    }
}

/// A shop setting that makes the platform e-mail customers about their orders, as the upstream reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationSwitch {
    /// The platform's key for it (FluentCart `order_paid_customer`).
    pub name: String,
    /// What the platform calls it, for people.
    pub title: String,
    /// Whether it is sent now.
    pub active: bool,
    /// False for notifications the platform sends whatever the setting (FluentCart's order-placed e-mail).
    pub switchable: bool,
}

/// What a platform lets an API client do about the e-mails its orders trigger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomerNotifications {
    /// Orders created through the API notify no customer; why.
    NoneSent(&'static str),
    /// Customers may be notified and the API offers no switch; what a migration team should do instead.
    NoSwitch(&'static str),
    /// The shop's customer notifications, each with its switch.
    Switches(Vec<NotificationSwitch>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_that_must_be_whole_fails_naming_its_first_unreadable_order() {
        let unreadable = |id: &str| Unreadable {
            id: id.into(),
            created_at: None,
            reason: "/date_created: not a date".into(),
        };
        let listed = Listed {
            unreadable: vec![unreadable("7"), unreadable("9")],
            ..Listed::default()
        };
        let err = listed.whole().unwrap_err();
        assert!(
            matches!(&err, UpstreamError::Malformed(m) if m == "order 7 in the list cannot be read: /date_created: not a date"),
            "{err:?}"
        );
        assert!(Listed::default().whole().is_ok());
    }

    #[test]
    fn a_keys_stamp_is_the_first_half_of_the_sha256_of_client_and_key() {
        // Stamps are stored (journal rows) and stamped on upstream orders: a change would make every earlier
        // create unfindable by its retry. The value is Python's
        // `hashlib.sha256(b"demo\nkey-1").digest()[:16].hex()`.
        let stamp = Stamp::for_key("demo", "key-1");
        assert_eq!(stamp.key(), "omx-8d76332002b261e3c1390dd27294551d");
        assert_eq!(Stamp::parse(stamp.key()), Some(stamp));
    }
}
