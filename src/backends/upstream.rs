//! An upstream shop behind the embedded shop's interface: what `Shop` does for an order routed to an upstream of
//! another platform (or of the same one, in translate mode). Orders live upstream; the store keeps only the id
//! map and the create journal. Reads fetch, writes are read-modify-write through the canonical model, and the
//! canonical lifecycle checks every transition before the upstream is asked.

use std::sync::Arc;
use std::time::Duration;

use super::adapters::{
    Adapter, AdapterContext, CreateReply, CustomerNotifications, Journal, Listed, Stamp,
    StampLookup, Unfinished,
};
use super::transport::UpstreamError;
use crate::canonical::lifecycle::{self, Transition};
use crate::canonical::{
    Address, Order, OrderFilter, OrderIds, OrderQuery, Page, Platform, PlatformIds, Problem,
    ProblemKind, StatusTriple, Timestamp,
};
use crate::store::{
    AddressLink, AddressRole, BeginLanding, JournalState, JournalUpdate, Landing, ObjectId,
    ObjectKind, Store, SweepEnd, UnfinishedCreate, UpstreamObject, SWEEPING_STEP,
};

/// Most orders `count_by_status` walks through upstream (platforms without a count endpoint).
const MAX_COUNTED: u32 = 10_000;

/// One upstream backend as a shop.
#[derive(Debug)]
pub struct UpstreamShop {
    backend: String,
    adapter: Adapter,
    store: Store,
    /// The backend's `settle` (how long the upstream may still act on a create ordermux stopped waiting for) and
    /// `total_timeout` (how long ordermux waits at most): until both have passed since a send, or `settle` since
    /// the attempt broke off, not finding the order by its stamp does not prove it will not appear.
    settle: Duration,
    total_timeout: Duration,
    /// The backend's `orphan_drafts_after` (see `unfinished_after`).
    orphan_drafts_after: Duration,
    /// Stamps this process is sweeping (`sweep_unfinished`): a create under one waits until the sweep is done.
    sweeping: std::sync::Mutex<std::collections::HashSet<String>>,
}

/// Most journal rows one sweep looks at; the rest wait for the next.
const SWEEP_BATCH: usize = 100;

/// What one `UpstreamShop::sweep_unfinished` did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepReport {
    /// Rows cleared: nothing of their create is left upstream, and a retry creates afresh.
    pub cleared: usize,
    /// Drafts deleted upstream (in the cleared rows).
    pub drafts_removed: usize,
    /// Rows whose order stays upstream: placed though unfinished, or finished after all.
    pub left: usize,
    /// Rows the upstream could not be asked about: looked at again by a later sweep.
    pub failed: usize,
}

/// A stamp marked as being swept in this process, unmarked when dropped.
struct SweepingStamp<'a> {
    shop: &'a UpstreamShop,
    key: String,
}

impl Drop for SweepingStamp<'_> {
    fn drop(&mut self) {
        self.shop
            .sweeping
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.key);
    }
}

/// A page of orders as a shop could read it.
#[derive(Debug)]
pub struct Listing {
    pub page: Page<Order>,
    /// The ids, in every scheme, of orders an upstream shop listed on this page that could not be read: left
    /// out of `page.items` (whose `total` still counts them), for the caller to be told (why is in the log).
    pub left_out: Vec<PlatformIds>,
}

/// Why an upstream shop operation failed.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamShopError {
    #[error("{0}")]
    Problem(Problem),
    #[error("not found")]
    NotFound,
    #[error("upstream {backend}: {error}")]
    Upstream {
        backend: String,
        error: UpstreamError,
    },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// An earlier attempt of this create reached the upstream, has not shown up there, and could still: it is not
    /// sent again before `retry_after`.
    #[error("an earlier attempt's outcome is not known yet")]
    Unsettled { retry_after: Duration },
    /// What an earlier attempt of this create left unfinished upstream is being removed (`sweep_unfinished`).
    #[error("an earlier attempt's unfinished order is being removed")]
    Sweeping { retry_after: Duration },
}

impl UpstreamShopError {
    pub fn into_problem(self, what: &str) -> Problem {
        match self {
            UpstreamShopError::Problem(p) => p,
            UpstreamShopError::NotFound => Problem::new(
                ProblemKind::NotFound,
                "",
                format!("The requested {what} was not found."),
            ),
            UpstreamShopError::Upstream { backend, error } => {
                tracing::warn!(%backend, error = %error.for_log(), "upstream call failed");
                error.into_problem(&backend)
            }
            UpstreamShopError::Store(e) => e.into_problem(),
            UpstreamShopError::Unsettled { retry_after } => {
                let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                Problem::new(
                    ProblemKind::IdempotencyInFlight,
                    "",
                    format!("an earlier attempt of this {what} reached the upstream shop and may still be made there; it is not sent again before it has had time to appear (retry in {secs}s)"),
                )
                .with_retry_after(secs.max(1))
            }
            UpstreamShopError::Sweeping { retry_after } => Problem::new(
                ProblemKind::IdempotencyInFlight,
                "",
                format!("an earlier attempt of this {what} stopped half-way and no retry came for it, so what it left unfinished in the upstream shop is being removed; retry shortly and it is made afresh"),
            )
            .with_retry_after(retry_after.as_secs().max(1)),
        }
    }
}

type Result<T> = std::result::Result<T, UpstreamShopError>;

impl UpstreamShop {
    pub fn new(ctx: AdapterContext, store: Store) -> std::result::Result<Arc<Self>, String> {
        let backend = ctx.backend.name.clone();
        let (settle, total_timeout) = (ctx.backend.settle, ctx.backend.total_timeout);
        let orphan_drafts_after = ctx.backend.orphan_drafts_after;
        let adapter = Adapter::new(ctx)?
            .ok_or_else(|| format!("backend {backend:?} is the embedded shop, not an upstream"))?;
        Ok(Arc::new(UpstreamShop {
            backend,
            adapter,
            store,
            settle,
            total_timeout,
            orphan_drafts_after,
            sweeping: Default::default(),
        }))
    }

    /// How long a create that stopped half-way may stay untouched before `sweep_unfinished` removes what it left
    /// upstream; `None` where creates leave nothing half-made or the backend keeps drafts for good.
    pub fn unfinished_after(&self) -> Option<Duration> {
        (self.adapter.leaves_drafts() && !self.orphan_drafts_after.is_zero())
            .then_some(self.orphan_drafts_after)
    }

    pub fn platform(&self) -> Platform {
        self.adapter.platform()
    }

    fn upstream(&self, error: UpstreamError) -> UpstreamShopError {
        match error {
            UpstreamError::Rejected { status, .. } if status.as_u16() == 404 => {
                UpstreamShopError::NotFound
            }
            error => UpstreamShopError::Upstream {
                backend: self.backend.clone(),
                error,
            },
        }
    }

    /// An error of a call that checks on an earlier attempt of a create (the look-up by stamp, the read of the order
    /// it confirmed). The shop refusing that call (a 4xx) says nothing about the caller's order, which may be
    /// there: relayed as is, it would read as the create's own refusal, and a caller told 422 or 404 gives
    /// the order up while it exists upstream. So it is a 502, after which the retry checks again; a failure the
    /// caller already reads as "try again" (5xx, timeout, rate limit) keeps its own answer.
    fn check_failed(&self, error: UpstreamError) -> UpstreamShopError {
        match error {
            UpstreamError::Rejected { status, .. } => UpstreamShopError::Problem(Problem::new(
                ProblemKind::BadGateway,
                "",
                format!(
                    "upstream {} refused the look-up that checks whether an earlier attempt of this create reached it ({status}); nothing was sent again, retry later",
                    self.backend
                ),
            )),
            error => self.upstream(error),
        }
    }

    /// Creates `order` (already resolved and totalled by the shop) upstream exactly once per stamp: the journal
    /// says whether an earlier attempt got there, and an attempt whose outcome is unknown is reconciled by looking
    /// the stamp up upstream, never by sending again blindly.
    pub async fn create(
        &self,
        client: &str,
        order: Order,
        key: Option<CreateKey<'_>>,
    ) -> Result<Order> {
        let stamp = CreateStamp::for_create(client, key);
        self.create_stamped(client, order, stamp, None, CreateReply::Order)
            .await
    }

    /// `create` for a creator that needs only the new order's ids (in every scheme): the reads that would bring
    /// the whole order back are skipped where the platform needs extra calls for them.
    pub async fn create_ids(
        &self,
        client: &str,
        order: Order,
        key: Option<CreateKey<'_>>,
    ) -> Result<OrderIds> {
        let stamp = CreateStamp::for_create(client, key);
        let created = self
            .create_stamped(client, order, stamp, None, CreateReply::Ids)
            .await?;
        Ok(created.ids)
    }

    /// Whether the platform can hold an order without line items (a Commerce Layer draft). Where it cannot, the
    /// shop keeps such drafts itself until they are placed (`send_staged`).
    pub fn holds_empty_orders(&self) -> bool {
        self.platform() == Platform::CommerceLayer
    }

    /// Sends an order staged in the embedded store (`staged`, with the ids callers know it by) upstream as
    /// `order`, exactly once per staged order, and maps the upstream order to the staged ids.
    pub async fn send_staged(&self, client: &str, staged: &Order, order: Order) -> Result<Order> {
        let gateway_id = staged.ids.gateway.clone().unwrap_or_default();
        let stamp = CreateStamp {
            stamp: Stamp::for_key(client, &format!("staged:{gateway_id}")),
            earlier_gone: false,
            keyed: false,
        };
        self.create_stamped(client, order, stamp, Some(staged), CreateReply::Order)
            .await
    }

    async fn create_stamped(
        &self,
        client: &str,
        order: Order,
        stamp: CreateStamp,
        adopt: Option<&Order>,
        reply: CreateReply,
    ) -> Result<Order> {
        let CreateStamp {
            stamp,
            earlier_gone,
            keyed,
        } = stamp;
        let entry = self
            .journal_begin(client, stamp.key(), earlier_gone, keyed)
            .await?;
        if entry.other_request {
            return Err(key_reused("an order"));
        }
        if let Some(retry_after) = self.being_swept(stamp.key(), &entry) {
            return Err(UpstreamShopError::Sweeping { retry_after });
        }
        if let (JournalState::Confirmed, Some(id)) = (entry.state, &entry.upstream_id) {
            let found = self.adapter.get(id).await.map_err(|e| match e {
                // The order this create made is gone from the shop: that is the answer.
                UpstreamError::Rejected { status, .. } if status.as_u16() == 404 => {
                    self.upstream(e)
                }
                e => self.check_failed(e),
            })?;
            return self.adopt_and_localize(found, adopt, Sighting::Read).await;
        }
        let journal = Journal::new(self.store.clone(), &self.backend, stamp.key(), entry.steps);
        // An earlier attempt may have reached the upstream: look before sending anything.
        if entry.state == JournalState::Sent && !entry.fresh {
            let found = self
                .adapter
                .look_up_stamp(&stamp)
                .await
                .map_err(|e| self.check_failed(e))?;
            if let Some(wait) = entry.landing_until.and_then(still_landing) {
                if !self.resumable(&journal, &found) {
                    return Err(UpstreamShopError::Unsettled { retry_after: wait });
                }
            }
            if let Some(order) = &found.order {
                self.note_order_id(&journal, order).await?;
            }
        }
        if !entry.fresh {
            self.sending_again(stamp.key()).await?;
        }
        let mut result = self.adapter.create(&order, &stamp, &journal, reply).await;
        if let Err(e) = &result {
            // The upstream may have the order. If it does, the adapter finishes what the interrupted create left
            // (states, payment) from the journal; if it cannot tell yet, the journal stays `sent` and the
            // caller's retry reconciles again before anything is resent.
            if e.outcome_unknown() {
                if let Ok(found) = self.adapter.look_up_stamp(&stamp).await {
                    if let Some(upstream_order) = &found.order {
                        // A call that broke off may still act: resumed only if it cannot act twice.
                        if !e.may_still_land() || self.resumable(&journal, &found) {
                            self.note_order_id(&journal, upstream_order).await?;
                            result = self.adapter.create(&order, &stamp, &journal, reply).await;
                        }
                    }
                }
            }
        }
        match result {
            Ok(created) => self.confirm(stamp.key(), created, adopt).await,
            // Refused (4xx) or never sent, the journal keeps the steps already done, so a retry resumes; not
            // known, the caller's retry reconciles.
            Err(e) => Err(self.failed(stamp.key(), e).await),
        }
    }

    /// Begins (or finds) the journal row `key` of a create about to be sent (`Store::journal_begin`).
    async fn journal_begin(
        &self,
        client: &str,
        key: &str,
        earlier_gone: bool,
        keyed: bool,
    ) -> Result<crate::store::JournalEntry> {
        let now = chrono::Utc::now();
        let landing = BeginLanding {
            new: Some(self.landing_until(now, self.total_timeout)),
            // What a stopped process sent lands within `settle` of its stop, which was before now: the window
            // its row holds (counted from its start, to cover a send it might still have made) can shrink.
            earlier_by: earlier_gone.then(|| self.landing_until(now, Duration::ZERO)),
        };
        Ok(self
            .store
            .journal_begin(&self.backend, key, client, now.timestamp(), landing, keyed)
            .await?)
    }

    /// Records that the create journaled as `key` is sent again: this attempt may land until its own window ends.
    async fn sending_again(&self, key: &str) -> Result<()> {
        let landing = Landing::Until(self.landing_until(chrono::Utc::now(), self.total_timeout));
        self.journal(key, JournalState::Sent, None, landing).await
    }

    /// Records how the create journaled as `key` failed, and gives the caller's error for it. An outcome the
    /// upstream left unknown stays `sent`, for the caller's retry to reconcile before anything is resent.
    async fn failed(&self, key: &str, e: UpstreamError) -> UpstreamShopError {
        let recorded = if e.outcome_unknown() {
            tracing::warn!(backend = %self.backend, stamp = key, error = %e.for_log(), "create outcome unknown; left for reconciliation");
            let landing = if e.may_still_land() {
                // Broken off now: the upstream may still act for `settle` from here.
                Landing::Until(self.landing_until(chrono::Utc::now(), Duration::ZERO))
            } else {
                // The upstream answered (an error, an unreadable reply): it holds nothing more of ours, so a
                // retry that does not find what it made may send it at once.
                Landing::Settled
            };
            self.journal_update(key, JournalState::Sent, None, Some(e.to_string()), landing)
                .await
        } else {
            let state = if e.never_sent() {
                JournalState::Pending
            } else {
                JournalState::Failed
            };
            self.settle(key, state, &e).await
        };
        match recorded {
            Ok(()) => self.upstream(e),
            Err(journal) => journal,
        }
    }

    /// Whether the platform keeps addresses apart from orders (Commerce Layer's `/api/addresses`): a caller's
    /// standalone addresses are then made and read there, and linked to orders by id.
    pub fn holds_addresses(&self) -> bool {
        self.platform() == Platform::CommerceLayer
    }

    /// Makes a caller's standalone address on the shop exactly once per stamp, as `create` makes an order: the
    /// journal (a row of the stamp's own, `{stamp}:address`) says whether an earlier attempt made it, and one whose
    /// outcome is unknown is looked up by the reference the address carries before anything is sent again.
    pub async fn create_address(
        &self,
        client: &str,
        address: Address,
        key: Option<CreateKey<'_>>,
    ) -> Result<Address> {
        let CreateStamp {
            stamp,
            earlier_gone,
            keyed,
        } = CreateStamp::for_create(client, key);
        let row = format!("{}:address", stamp.key());
        let entry = self
            .journal_begin(client, &row, earlier_gone, keyed)
            .await?;
        if entry.other_request {
            return Err(key_reused("an address"));
        }
        if let (JournalState::Confirmed, Some(id)) = (entry.state, &entry.upstream_id) {
            // Gone from the shop since: that is the answer.
            return self
                .adapter
                .address(id)
                .await
                .map_err(|e| self.check_failed(e))?
                .ok_or(UpstreamShopError::NotFound);
        }
        if entry.state == JournalState::Sent && !entry.fresh {
            let found = self
                .adapter
                .address_by_stamp(&stamp)
                .await
                .map_err(|e| self.check_failed(e))?;
            if let Some(found) = found {
                return self.address_made(&row, found).await;
            }
            if let Some(wait) = entry.landing_until.and_then(still_landing) {
                return Err(UpstreamShopError::Unsettled { retry_after: wait });
            }
        }
        if !entry.fresh {
            self.sending_again(&row).await?;
        }
        match self.adapter.create_address(&address, &stamp).await {
            Ok(made) => self.address_made(&row, made).await,
            Err(e) => {
                if e.outcome_unknown() {
                    if let Ok(Some(found)) = self.adapter.address_by_stamp(&stamp).await {
                        return self.address_made(&row, found).await;
                    }
                }
                Err(self.failed(&row, e).await)
            }
        }
    }

    /// Confirms the journal row `row` with the address made.
    async fn address_made(&self, row: &str, made: Address) -> Result<Address> {
        let id = made.ids.commercelayer.clone().ok_or_else(|| {
            self.upstream(UpstreamError::Malformed(
                "an address without an id".to_owned(),
            ))
        })?;
        self.journal(row, JournalState::Confirmed, Some(id), Landing::Settled)
            .await?;
        Ok(made)
    }

    /// The shop's address `id` (see `holds_addresses`); `None` when it has none.
    pub async fn address(&self, id: &str) -> Result<Option<Address>> {
        self.adapter.address(id).await.map_err(|e| self.upstream(e))
    }

    /// How long a create under `stamp` is to wait because a sweep is removing what an earlier attempt left
    /// unfinished: one in this process (marked in `sweeping`), or in another (its mark in the row's steps, good
    /// while its hold on the row lasts).
    fn being_swept(&self, stamp: &str, entry: &crate::store::JournalEntry) -> Option<Duration> {
        if self
            .sweeping
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(stamp)
        {
            return Some(Duration::from_secs(1));
        }
        if entry.steps.get(SWEEPING_STEP) == Some(&serde_json::Value::Bool(true)) {
            return entry.landing_until.and_then(still_landing);
        }
        None
    }

    /// Removes what creates that stopped half-way left upstream once no attempt has touched them for `idle`
    /// (reliability plan §9.2: no orphan draft after 15 minutes): a caller that got a 502 or 504, or whose gateway
    /// stopped mid-create, and never retried. Only platforms whose creates leave drafts have any
    /// (`Adapter::leaves_drafts`). Each row is taken first (`Store::journal_sweep_take`), so a retry arriving
    /// meanwhile is told to come back (409 with `Retry-After`) instead of building on a draft being deleted; once
    /// cleared, the retry creates the order afresh, exactly once. An order placed though unfinished is a real
    /// order and stays, for a retry to finish. `idle` must exceed how long an attempt can go without touching its
    /// row (configuration checks: ten times the backend's total timeout, plus its settle time).
    pub async fn sweep_unfinished(&self, idle: Duration) -> Result<SweepReport> {
        let mut report = SweepReport::default();
        if !self.adapter.leaves_drafts() {
            return Ok(report);
        }
        let now = chrono::Utc::now();
        let idle_secs = i64::try_from(idle.as_secs()).unwrap_or(i64::MAX);
        let rows = self
            .store
            .upstream_unfinished(
                &self.backend,
                now.timestamp().saturating_sub(idle_secs),
                now.timestamp_millis(),
                SWEEP_BATCH,
            )
            .await?;
        for row in rows {
            match self.sweep_one(&row, idle).await {
                Ok(Some((end, drafts))) => match end {
                    SweepEnd::Cleared => {
                        report.cleared += 1;
                        report.drafts_removed += drafts;
                    }
                    SweepEnd::Left => report.left += 1,
                    SweepEnd::Again => report.failed += 1,
                },
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(backend = %self.backend, stamp = %row.key, error = %e, "sweeping an unfinished create failed; tried again later");
                    report.failed += 1;
                }
            }
        }
        Ok(report)
    }

    /// Sweeps one row: `None` if an attempt took it up first. The other value is how many drafts were deleted.
    async fn sweep_one(
        &self,
        row: &UnfinishedCreate,
        idle: Duration,
    ) -> Result<Option<(SweepEnd, usize)>> {
        let mut steps = row.steps.clone();
        if let Some(map) = steps.as_object_mut() {
            // A mark left by a sweep that never ended (its process stopped).
            map.remove(SWEEPING_STEP);
        }
        let now = chrono::Utc::now();
        let _marked = {
            let mut sweeping = self.sweeping.lock().unwrap_or_else(|p| p.into_inner());
            if !sweeping.insert(row.key.clone()) {
                return Ok(None);
            }
            SweepingStamp {
                shop: self,
                key: row.key.clone(),
            }
        };
        // The hold outlasts the sweep's calls (a look-up and a delete or two, each bounded by the total timeout);
        // `landing_until` adds the settle time.
        let hold_until = self.landing_until(now, self.total_timeout.saturating_mul(4));
        if !self
            .store
            .journal_sweep_take(&self.backend, row, now.timestamp(), hold_until)
            .await?
        {
            return Ok(None);
        }
        let (end, drafts, note) = match Stamp::parse(&row.key) {
            None => (SweepEnd::Left, 0, None),
            Some(stamp) => match self.adapter.remove_unfinished(&stamp, &steps).await {
                Ok(Unfinished::Removed(n)) => {
                    tracing::info!(backend = %self.backend, stamp = %row.key, drafts = n, "removed the draft of a create no retry came for");
                    let note = format!(
                        "no retry came for {} s: its unfinished draft was removed upstream",
                        idle.as_secs()
                    );
                    (SweepEnd::Cleared, n, Some(note))
                }
                Ok(Unfinished::Nothing) => (SweepEnd::Cleared, 0, None),
                Ok(Unfinished::Complete) => (SweepEnd::Left, 0, None),
                Ok(Unfinished::Placed) => {
                    tracing::warn!(backend = %self.backend, stamp = %row.key, "a create no retry came for left an unfinished order that is placed; it stays for a retry to finish");
                    let note =
                        "unfinished but placed upstream: left for a retry to finish".to_owned();
                    (SweepEnd::Left, 0, Some(note))
                }
                Err(e) => {
                    tracing::warn!(backend = %self.backend, stamp = %row.key, error = %e.for_log(), "could not sweep an unfinished create; tried again later");
                    (SweepEnd::Again, 0, Some(e.to_string()))
                }
            },
        };
        self.store
            .journal_sweep_taken(
                &self.backend,
                &row.key,
                &steps,
                end,
                note,
                chrono::Utc::now().timestamp(),
            )
            .await?;
        Ok(Some((end, drafts)))
    }

    /// Whether a create can carry on now although a call of an earlier attempt may still act upstream: only if
    /// repeating what is left cannot repeat that call. `found` is what the look-up by stamp answered. A whole
    /// order needs nothing more. Before the order request was answered (the journal has no `order_id`), nothing
    /// after it was sent, so the call that may still act is that request: carrying on is safe once its order is
    /// there (found, or a Commerce Layer draft the adapter resumes). After it, the call was a later step (a line
    /// item, a payment), which carrying on might send again.
    fn resumable(&self, journal: &Journal, found: &StampLookup) -> bool {
        if found.order.is_some() && self.adapter.finds_whole_orders() {
            return true;
        }
        if !journal.steps()["order_id"].is_null() {
            return false;
        }
        found.order.is_some() || found.unfinished
    }

    /// Until when an attempt may land upstream, in Unix milliseconds, when ordermux may wait for it `waiting`
    /// more from `at`.
    fn landing_until(&self, at: chrono::DateTime<chrono::Utc>, waiting: Duration) -> i64 {
        let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        at.timestamp_millis()
            .saturating_add(ms(waiting))
            .saturating_add(ms(self.settle))
    }

    /// Records the upstream order found by its stamp as the journal's `order_id` step, which tells the adapter
    /// the order exists and only what follows its creation remains to be done.
    async fn note_order_id(&self, journal: &Journal, found: &Order) -> Result<()> {
        if !journal.steps()["order_id"].is_null() {
            return Ok(());
        }
        let id = self.upstream_id_of(found)?;
        let value = match id.parse::<u64>() {
            Ok(n) if self.platform() != Platform::CommerceLayer => serde_json::Value::from(n),
            _ => serde_json::Value::from(id),
        };
        journal
            .record("order_id", value)
            .await
            .map_err(|e| self.upstream(e))
    }

    async fn confirm(&self, key: &str, created: Order, adopt: Option<&Order>) -> Result<Order> {
        let id = self.upstream_id_of(&created)?;
        // The journal row and the new order's ids are independent writes: sent together, they share a commit.
        let (confirmed, localized) = tokio::join!(
            self.journal(key, JournalState::Confirmed, Some(id), Landing::Settled),
            self.adopt_and_localize(created, adopt, Sighting::Created)
        );
        confirmed?;
        localized
    }

    /// Gives a new upstream order (and its line items, by position) the ids of the staged order it came from.
    async fn adopt_and_localize(
        &self,
        created: Order,
        adopt: Option<&Order>,
        sighting: Sighting,
    ) -> Result<Order> {
        if let Some(staged) = adopt {
            let order_id = self.upstream_id_of(&created)?;
            let mut objects = vec![(
                UpstreamObject {
                    kind: "order",
                    upstream_id: order_id.clone(),
                    order_upstream_id: None,
                },
                staged.ids.platform.clone(),
            )];
            if created.line_items.len() == staged.line_items.len() {
                for (new, old) in created.line_items.iter().zip(&staged.line_items) {
                    if let Some(id) = new.ids.in_scheme(self.platform()) {
                        objects.push((
                            UpstreamObject {
                                kind: "line_item",
                                upstream_id: id,
                                order_upstream_id: Some(order_id.clone()),
                            },
                            old.ids.clone(),
                        ));
                    }
                }
            }
            // Its addresses keep the ids the caller linked (the upstream's, or none, in its own scheme).
            let links: Vec<AddressLink> = AddressRole::ALL
                .into_iter()
                .filter_map(|role| {
                    let linked = address_in(staged, role)?;
                    address_in(&created, role)?;
                    let ids = callers_ids(self.platform(), &linked.ids);
                    (ids != PlatformIds::default()).then(|| AddressLink {
                        order_upstream_id: order_id.clone(),
                        role,
                        ids: Some(ids),
                    })
                })
                .collect();
            self.store
                .upstream_adopt(&self.backend, self.platform(), &objects, &links)
                .await?;
            let mut order = self.localize_as(created, sighting).await?;
            apply_links(&mut order, &order_id, &links);
            return Ok(order);
        }
        self.localize_as(created, sighting).await
    }

    /// Records an attempt that ended with the upstream's answer (or never reached it): nothing left to land.
    async fn settle(&self, key: &str, state: JournalState, e: &UpstreamError) -> Result<()> {
        self.journal_update(key, state, None, Some(e.to_string()), Landing::Settled)
            .await
    }

    async fn journal(
        &self,
        key: &str,
        state: JournalState,
        upstream_id: Option<String>,
        landing: Landing,
    ) -> Result<()> {
        self.journal_update(key, state, upstream_id, None, landing)
            .await
    }

    async fn journal_update(
        &self,
        key: &str,
        state: JournalState,
        upstream_id: Option<String>,
        last_error: Option<String>,
        landing: Landing,
    ) -> Result<()> {
        self.store
            .journal_update(JournalUpdate {
                backend: self.backend.clone(),
                key: key.to_owned(),
                state,
                upstream_id,
                steps: None,
                last_error,
                now: chrono::Utc::now().timestamp(),
                landing,
            })
            .await?;
        Ok(())
    }

    /// The upstream id of the order a caller names.
    async fn resolve(&self, id: &ObjectId) -> Result<String> {
        if let Some(own) = id.in_scheme(self.platform()) {
            return Ok(own);
        }
        match self
            .store
            .upstream_resolve(&self.backend, self.platform(), "order", id)
            .await?
        {
            Some((upstream, _)) => Ok(upstream),
            None => Err(UpstreamShopError::NotFound),
        }
    }

    pub async fn order(&self, id: &ObjectId) -> Result<Order> {
        let upstream_id = self.resolve(id).await?;
        let order = self
            .adapter
            .get(&upstream_id)
            .await
            .map_err(|e| self.upstream(e))?;
        self.localize(order).await
    }

    /// The order holding the object a caller names (Commerce Layer's `/line_items/{id}`).
    pub async fn order_containing(&self, kind: ObjectKind, id: &ObjectId) -> Result<Order> {
        let found = self
            .store
            .upstream_resolve(&self.backend, self.platform(), kind.key(), id)
            .await?;
        let order_id = match (found, kind, id) {
            (Some((_, Some(order_id))), _, _) => order_id,
            // An address a caller linked goes by the id it was linked under (see `relinked_addresses`).
            (None, ObjectKind::Address, ObjectId::CommerceLayer(linked)) => self
                .store
                .upstream_linked_order(&self.backend, linked)
                .await?
                .ok_or(UpstreamShopError::NotFound)?,
            _ => return Err(UpstreamShopError::NotFound),
        };
        let order = self
            .adapter
            .get(&order_id)
            .await
            .map_err(|e| self.upstream(e))?;
        self.localize(order).await
    }

    /// Read-modify-write: the upstream's current order, changed by `change`, totals recomputed, sent back. Field
    /// edits go as one update with the states as they were; each transition `change` made (a status change, a
    /// refund, `_place` …) then goes by the platform's own operation, in order.
    pub async fn modify<F>(&self, id: &ObjectId, now: Timestamp, change: F) -> Result<Order>
    where
        F: FnOnce(&mut Order) -> std::result::Result<(), Problem> + Send,
    {
        let before = self.order(id).await?;
        let after = changed(&before, change)?;
        self.send_changes(before, after, now).await
    }

    async fn send_changes(&self, before: Order, mut after: Order, now: Timestamp) -> Result<Order> {
        let transitions = std::mem::take(&mut after.applied);
        let mut edited = after;
        edited.take_lifecycle_of(&before);
        let links = relinked_addresses(
            self.platform(),
            &self.upstream_id_of(&before)?,
            &before,
            &mut edited,
        );
        if edited == before && transitions.is_empty() {
            self.store.upstream_relink(&self.backend, &links).await?;
            return self.localize(before).await;
        }
        // Edits and transitions have no journal to reconcile through: a request under an Idempotency-Key records
        // that it is about to act, so that a retry after a crash is not sent again.
        self.store
            .mark_upstream_action(before.ids.gateway.as_deref().unwrap_or_default())
            .await?;
        let mut current = if edited == before {
            before
        } else {
            self.adapter
                .update(&before, &edited)
                .await
                .map_err(|e| self.upstream(e))?
        };
        for transition in transitions {
            let mut target = current.clone();
            lifecycle::apply(&mut target, &transition, now).map_err(UpstreamShopError::Problem)?;
            current = self
                .adapter
                .transition(&current, &transition, &target)
                .await
                .map_err(|e| self.upstream(e))?;
        }
        // The links change once the upstream has the addresses they name.
        self.store.upstream_relink(&self.backend, &links).await?;
        self.localize(current).await
    }

    /// Checks `transition` with the canonical lifecycle (so a refusal reads the same whatever the backend), then
    /// asks the upstream to do it.
    pub async fn transition(
        &self,
        id: &ObjectId,
        transition: Transition,
        now: Timestamp,
    ) -> Result<Order> {
        let before = self.order(id).await?;
        let mut after = before.clone();
        lifecycle::apply(&mut after, &transition, now).map_err(UpstreamShopError::Problem)?;
        self.send_changes(before, after, now).await
    }

    pub async fn delete<F>(&self, id: &ObjectId, refuse: F) -> Result<()>
    where
        F: FnOnce(&Order) -> std::result::Result<(), Problem> + Send,
    {
        let order = self.order(id).await?;
        refuse(&order).map_err(UpstreamShopError::Problem)?;
        let upstream_id = self.upstream_id_of(&order)?;
        self.adapter
            .delete(&upstream_id)
            .await
            .map_err(|e| self.upstream(e))
    }

    /// What the upstream platform lets ordermux do about the e-mails orders send customers.
    pub async fn customer_notifications(&self) -> Result<CustomerNotifications> {
        self.adapter
            .customer_notifications()
            .await
            .map_err(|e| self.upstream(e))
    }

    /// Switches the upstream's customer notification `name` on or off.
    pub async fn switch_notification(&self, name: &str, on: bool) -> Result<()> {
        self.adapter
            .switch_notification(name, on)
            .await
            .map_err(|e| self.upstream(e))
    }

    /// The backend's configured name (journal rows and muted notifications are kept per backend).
    pub fn backend(&self) -> &str {
        &self.backend
    }

    /// One page, with the total. An order the upstream lists that does not decode is left out of the page and
    /// named in `Listing::left_out`: one odd order must not make every page it is on unreadable for ever.
    pub async fn list(&self, query: &OrderQuery) -> Result<Listing> {
        let query = self.upstream_query(query).await?;
        let listed = self
            .adapter
            .list(&query)
            .await
            .map_err(|e| self.upstream(e))?;
        self.listing(listed, &query).await
    }

    /// `list` without the total (see `Adapter::list_page`).
    pub async fn list_page(&self, query: &OrderQuery) -> Result<Listing> {
        let query = self.upstream_query(query).await?;
        let listed = self
            .adapter
            .list_page(&query)
            .await
            .map_err(|e| self.upstream(e))?;
        self.listing(listed, &query).await
    }

    /// One page without the total, the orders that do not decode set apart under their upstream ids and
    /// creation times (a replay pages by them).
    pub async fn list_readable(&self, query: &OrderQuery) -> Result<Listed> {
        let query = self.upstream_query(query).await?;
        let listed = self
            .adapter
            .list_page(&query)
            .await
            .map_err(|e| self.upstream(e))?;
        let items = self.localize_all(listed.items, Sighting::Read).await?;
        Ok(Listed { items, ..listed })
    }

    /// A page for a caller: the orders in its ids, and those that did not decode named in every id scheme.
    async fn listing(&self, listed: Listed, query: &OrderQuery) -> Result<Listing> {
        let left_out = if listed.unreadable.is_empty() {
            Vec::new()
        } else {
            let objects: Vec<UpstreamObject> = listed
                .unreadable
                .iter()
                .map(|u| UpstreamObject {
                    kind: "order",
                    upstream_id: u.id.clone(),
                    order_upstream_id: None,
                })
                .collect();
            let ids = self
                .store
                .upstream_localize(&self.backend, self.platform(), &objects, &[])
                .await?
                .ids;
            ids.into_iter()
                .zip(listed.unreadable)
                .map(|(ids, u)| {
                    let error = UpstreamError::Malformed(u.reason);
                    tracing::warn!(backend = %self.backend, order = %u.id, error = %error.for_log(), "an order the upstream listed cannot be read; left out of the page");
                    ids
                })
                .collect()
        };
        let items = self.localize_all(listed.items, Sighting::Read).await?;
        Ok(Listing {
            page: Page {
                items,
                total: listed.total,
                page: query.page.max(1),
                per_page: query.per_page,
            },
            left_out,
        })
    }

    /// Counts per status by walking the upstream's list (at most `MAX_COUNTED` orders; more is refused rather
    /// than answered wrong).
    pub async fn count_by_status(&self, filter: &OrderFilter) -> Result<Vec<(StatusTriple, u64)>> {
        let mut counts: Vec<(StatusTriple, u64)> = Vec::new();
        let per_page = 250;
        let mut query = self
            .upstream_query(&OrderQuery {
                filter: filter.clone(),
                sort: Default::default(),
                descending: false,
                page: 1,
                per_page,
            })
            .await?;
        loop {
            let page = query.page;
            let found = self
                .adapter
                .list(&query)
                .await
                .map_err(|e| self.upstream(e))?;
            if found.total > u64::from(MAX_COUNTED) {
                return Err(UpstreamShopError::Problem(Problem::new(
                    ProblemKind::InvalidParameter,
                    "",
                    format!(
                        "upstream {} has {} matching orders; counting is limited to {MAX_COUNTED}: narrow the filter",
                        self.backend, found.total
                    ),
                )));
            }
            found.whole().map_err(|e| self.upstream(e))?;
            let n = found.items.len();
            for order in &found.items {
                let triple = order.status_triple();
                match counts.iter_mut().find(|(t, _)| *t == triple) {
                    Some((_, c)) => *c += 1,
                    None => counts.push((triple, 1)),
                }
            }
            if n < per_page as usize || u64::from(page) * u64::from(per_page) >= found.total {
                return Ok(counts);
            }
            query.page += 1;
        }
    }

    /// A caller's filter in the upstream's id scheme: id ranges and customer ids given in another scheme cannot
    /// be translated (the upstream numbers its orders its own way) and are refused.
    async fn upstream_query(&self, query: &OrderQuery) -> Result<OrderQuery> {
        let mut q = query.clone();
        if let Some((platform, _)) = &q.filter.id_range {
            if *platform != self.platform() {
                return Err(UpstreamShopError::Problem(Problem::new(
                    ProblemKind::InvalidParameter,
                    "",
                    format!(
                        "filtering by id range is not available on upstream {}: its ids are not this dialect's",
                        self.backend
                    ),
                )));
            }
        }
        if let Some((platform, id)) = q.filter.customer.clone() {
            if platform != self.platform() {
                let object = ObjectId::parse(platform, &id).ok_or(UpstreamShopError::NotFound)?;
                match self
                    .store
                    .upstream_resolve(&self.backend, self.platform(), "customer", &object)
                    .await?
                {
                    Some((upstream, _)) => q.filter.customer = Some((self.platform(), upstream)),
                    // A customer this backend never showed: no order of it can match.
                    None => q.filter.customer = Some((self.platform(), "0".to_owned())),
                }
            }
        }
        Ok(q)
    }

    fn upstream_id_of(&self, order: &Order) -> Result<String> {
        order
            .ids
            .platform
            .in_scheme(self.platform())
            .ok_or_else(|| UpstreamShopError::Upstream {
                backend: self.backend.clone(),
                error: UpstreamError::Malformed("the upstream order has no id".to_owned()),
            })
    }

    /// Gives every object of an upstream order its ids in the other two schemes (allocated on first sight), and
    /// fills in catalog product ids the upstream does not know.
    async fn localize(&self, order: Order) -> Result<Order> {
        self.localize_as(order, Sighting::Read).await
    }

    /// `localize` for an order seen as `sighting` says.
    async fn localize_as(&self, order: Order, sighting: Sighting) -> Result<Order> {
        let mut one = self.localize_all(vec![order], sighting).await?;
        one.pop().ok_or(UpstreamShopError::NotFound)
    }

    /// `localize` for a page of orders: one store round trip for all their ids, however many orders.
    async fn localize_all(&self, mut orders: Vec<Order>, sighting: Sighting) -> Result<Vec<Order>> {
        let platform = self.platform();
        let mut objects = Vec::new();
        let mut order_ids = Vec::with_capacity(orders.len());
        for order in &orders {
            let order_id = self.upstream_id_of(order)?;
            objects.extend(objects_of(platform, order, &order_id));
            order_ids.push(order_id);
        }
        let (mapped, links) = match sighting {
            Sighting::Read => {
                let localized = self
                    .store
                    .upstream_localize(&self.backend, platform, &objects, &order_ids)
                    .await?;
                (localized.ids, localized.links)
            }
            // A new order has no links yet (`adopt_and_localize` adds those it is made with).
            Sighting::Created => (
                self.store
                    .upstream_map(&self.backend, platform, objects)
                    .await?,
                Vec::new(),
            ),
        };
        let mut mapped = mapped.into_iter();
        for (order, order_id) in orders.iter_mut().zip(order_ids) {
            // The same objects in the same order as `objects_of` listed them.
            let mut take = |ids: &mut PlatformIds| {
                if ids.in_scheme(platform).is_some() {
                    if let Some(m) = mapped.next() {
                        *ids = m;
                    }
                }
            };
            take(&mut order.ids.platform);
            for l in &mut order.line_items {
                take(&mut l.ids);
            }
            for a in order
                .billing_address
                .iter_mut()
                .chain(order.shipping_destinations.iter_mut())
            {
                take(&mut a.ids);
            }
            for s in &mut order.shipping_lines {
                take(&mut s.ids);
            }
            if order
                .customer
                .ids
                .in_scheme(platform)
                .is_some_and(|id| id != "0")
            {
                take(&mut order.customer.ids);
            }
            apply_links(order, &order_id, &links);
            order.ids.gateway = Some(format!("{}:{order_id}", self.backend));
            for line in &mut order.line_items {
                if let Some(product) =
                    crate::service::catalog_product(&self.store, &line.product).await?
                {
                    line.product.sku.get_or_insert_with(|| product.sku.clone());
                    crate::service::fill_platform_ids(&mut line.product, &product);
                }
            }
        }
        Ok(orders)
    }
}

/// How an order came to be localized, which decides how its objects' ids are looked up.
#[derive(Debug, Clone, Copy)]
enum Sighting {
    /// Read from the upstream: its objects are usually mapped already, so they are read first (no write).
    Read,
    /// Just created upstream: its objects are new, so they are mapped straight away (one write).
    Created,
}

/// The objects of an upstream order that carry an upstream id, in the order `localize_all` assigns them.
fn objects_of(platform: Platform, order: &Order, order_id: &str) -> Vec<UpstreamObject> {
    let mut objects = vec![UpstreamObject {
        kind: "order",
        upstream_id: order_id.to_owned(),
        order_upstream_id: None,
    }];
    let inner = |kind: &'static str, ids: &PlatformIds| {
        ids.in_scheme(platform).map(|id| UpstreamObject {
            kind,
            upstream_id: id,
            order_upstream_id: Some(order_id.to_owned()),
        })
    };
    objects.extend(
        order
            .line_items
            .iter()
            .filter_map(|l| inner("line_item", &l.ids)),
    );
    objects.extend(
        order
            .billing_address
            .iter()
            .chain(order.shipping_destinations.iter())
            .filter_map(|a| inner("address", &a.ids)),
    );
    objects.extend(
        order
            .shipping_lines
            .iter()
            .filter_map(|s| inner("shipping_line", &s.ids)),
    );
    if let Some(id) = order
        .customer
        .ids
        .in_scheme(platform)
        .filter(|id| id != "0")
    {
        objects.push(UpstreamObject {
            kind: "customer",
            upstream_id: id,
            order_upstream_id: None,
        });
    }
    objects
}

/// The refusal of a create under an Idempotency-Key an earlier request with another body used, which may have made
/// `what` upstream: answering this one from it would hand the caller something it did not ask for, and sending
/// this one could make a second.
fn key_reused(what: &str) -> UpstreamShopError {
    UpstreamShopError::Problem(Problem::new(
        ProblemKind::IdempotencyKeyReused,
        "",
        format!("this Idempotency-Key was already used with a different request, which may have created {what}; send that request again to learn its outcome, or send this one under a new key"),
    ))
}

/// The address `order` holds in `role`.
fn address_in(order: &Order, role: AddressRole) -> Option<&Address> {
    match role {
        AddressRole::Billing => order.billing_address.as_ref(),
        AddressRole::Shipping => order.shipping_destinations.first(),
    }
}

fn address_in_mut(order: &mut Order, role: AddressRole) -> Option<&mut Address> {
    match role {
        AddressRole::Billing => order.billing_address.as_mut(),
        AddressRole::Shipping => order.shipping_destinations.first_mut(),
    }
}

/// `ids` without the scheme of `platform` (the upstream's, whose ids only it gives).
fn callers_ids(platform: Platform, ids: &PlatformIds) -> PlatformIds {
    let mut ids = ids.clone();
    take_scheme(platform, &mut ids, &PlatformIds::default());
    ids
}

/// Gives `ids` the id `from` has in `platform`'s scheme (or none).
fn take_scheme(platform: Platform, ids: &mut PlatformIds, from: &PlatformIds) {
    match platform {
        Platform::FluentCart => ids.fluentcart = from.fluentcart,
        Platform::CommerceLayer => ids.commercelayer.clone_from(&from.commercelayer),
        Platform::BigCommerce => ids.bigcommerce = from.bigcommerce,
    }
}

/// Gives the addresses of `order` (upstream id `order_id`) the ids their links hold, scheme by scheme.
fn apply_links(order: &mut Order, order_id: &str, links: &[AddressLink]) {
    for link in links.iter().filter(|l| l.order_upstream_id == order_id) {
        let (Some(ids), Some(address)) = (&link.ids, address_in_mut(order, link.role)) else {
            continue;
        };
        let own = &mut address.ids;
        own.fluentcart = ids.fluentcart.or(own.fluentcart);
        own.commercelayer = ids.commercelayer.clone().or(own.commercelayer.take());
        own.bigcommerce = ids.bigcommerce.or(own.bigcommerce);
    }
}

/// The link changes an edit of upstream order `order_id` makes, where a caller put another address in a role
/// (Commerce Layer's relationships link an address by id): the role's link now names the address linked, and the
/// address takes the role's upstream id, so the upstream edits the role's address in place rather than adding one.
/// An address without ids is the role's own, edited (callers of the other dialects name no address); an address
/// removed from its role takes its link with it.
///
/// Not on a Commerce Layer upstream, where addresses are resources of their own, linked by id (one may be both of
/// an order's addresses, or another order's too): the adapter makes the address a role now names and links it,
/// rather than edit the one the role held.
fn relinked_addresses(
    platform: Platform,
    order_id: &str,
    before: &Order,
    edited: &mut Order,
) -> Vec<AddressLink> {
    let mut links = Vec::new();
    if platform == Platform::CommerceLayer {
        return links;
    }
    for role in AddressRole::ALL {
        let was = address_in(before, role);
        let Some(now) = address_in_mut(edited, role) else {
            if was.is_some() {
                links.push(AddressLink {
                    order_upstream_id: order_id.to_owned(),
                    role,
                    ids: None,
                });
            }
            continue;
        };
        let linked = callers_ids(platform, &now.ids);
        // Another address: one whose ids, in a scheme it has one in, are not the role's. (A caller sending back the
        // role's address with only its own scheme's id names the same address.)
        let another = |was: &Address| {
            let was = &was.ids;
            linked
                .fluentcart
                .is_some_and(|id| was.fluentcart != Some(id))
                || linked
                    .commercelayer
                    .as_ref()
                    .is_some_and(|id| was.commercelayer.as_ref() != Some(id))
                || linked
                    .bigcommerce
                    .is_some_and(|id| was.bigcommerce != Some(id))
        };
        if linked == PlatformIds::default() || was.is_some_and(|was| !another(was)) {
            continue;
        }
        let none = PlatformIds::default();
        take_scheme(platform, &mut now.ids, was.map_or(&none, |was| &was.ids));
        links.push(AddressLink {
            order_upstream_id: order_id.to_owned(),
            role,
            ids: Some(linked),
        });
    }
    links
}

/// `before` changed by `change`, within the shop's limits, totals recomputed.
pub fn changed<F>(before: &Order, change: F) -> Result<Order>
where
    F: FnOnce(&mut Order) -> std::result::Result<(), Problem>,
{
    let mut after = before.clone();
    after.applied.clear();
    change(&mut after).map_err(UpstreamShopError::Problem)?;
    if after.line_items.len() > crate::service::MAX_LINE_ITEMS {
        return Err(UpstreamShopError::Problem(Problem::new(
            ProblemKind::TooManyItems,
            "",
            format!(
                "an order may have at most {} line items",
                crate::service::MAX_LINE_ITEMS
            ),
        )));
    }
    after.recompute_totals();
    match after.totals_problem() {
        Some(problem) => Err(UpstreamShopError::Problem(problem)),
        None => Ok(after),
    }
}

/// A create's key (the caller's Idempotency-Key, or a replay's source key), as `create` takes it.
#[derive(Debug, Clone, Copy)]
pub struct CreateKey<'a> {
    pub key: &'a str,
    /// Every earlier attempt under the key was made by a process that has stopped: the gateway took the key's
    /// claim over (claims are exclusive, so only holders of the claim made attempts under it).
    pub earlier_gone: bool,
}

/// A key whose earlier attempts are not known to be gone (a replay's, a test's).
impl<'a> From<&'a str> for CreateKey<'a> {
    fn from(key: &'a str) -> Self {
        CreateKey {
            key,
            earlier_gone: false,
        }
    }
}

/// A create's stamp, whether every earlier attempt under it was made by a process that has stopped, and whether
/// the stamp is the caller's Idempotency-Key's (the journal row then belongs to the request holding it).
struct CreateStamp {
    stamp: Stamp,
    earlier_gone: bool,
    keyed: bool,
}

impl CreateStamp {
    /// The stamp of a create under `key` (`Stamp::for_create`).
    fn for_create(client: &str, key: Option<CreateKey<'_>>) -> CreateStamp {
        CreateStamp {
            stamp: Stamp::for_create(client, key.map(|k| k.key)),
            earlier_gone: key.is_some_and(|k| k.earlier_gone),
            keyed: key.is_some(),
        }
    }
}

/// How long an attempt that may land upstream until `until` (Unix ms) still may.
fn still_landing(until: i64) -> Option<Duration> {
    let left = until.saturating_sub(chrono::Utc::now().timestamp_millis());
    u64::try_from(left)
        .ok()
        .filter(|ms| *ms > 0)
        .map(Duration::from_millis)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::Currency;

    fn address(cl: Option<&str>, bc: Option<u64>, line1: &str) -> Address {
        Address {
            ids: PlatformIds {
                fluentcart: None,
                commercelayer: cl.map(str::to_owned),
                bigcommerce: bc,
            },
            line1: line1.to_owned(),
            ..Address::default()
        }
    }

    fn order(billing: Option<Address>, shipping: Option<Address>) -> Order {
        let mut order = Order::empty(Currency::parse("USD").unwrap());
        order.billing_address = billing;
        order.shipping_destinations = shipping.into_iter().collect();
        order
    }

    /// An order on a BigCommerce upstream (order 700): its shipping address has upstream id 9, its billing
    /// address none.
    fn on_bigcommerce() -> Order {
        order(
            Some(address(Some("Billing1"), None, "1 Old Rd")),
            Some(address(Some("Ship1"), Some(9), "2 Old Rd")),
        )
    }

    fn link(role: AddressRole, ids: Option<PlatformIds>) -> AddressLink {
        AddressLink {
            order_upstream_id: "700".into(),
            role,
            ids,
        }
    }

    #[test]
    fn a_relinked_address_takes_the_role_s_upstream_id_and_its_link_follows_it() {
        let before = on_bigcommerce();
        // The caller links its address B (an embedded BigCommerce number, 501) as shipping; billing is unchanged.
        let mut edited = order(
            Some(address(Some("Billing1"), None, "1 Old Rd")),
            Some(address(Some("AddrB"), Some(501), "3 New Rd")),
        );
        let links = relinked_addresses(Platform::BigCommerce, "700", &before, &mut edited);
        let linked = PlatformIds {
            commercelayer: Some("AddrB".into()),
            ..PlatformIds::default()
        };
        assert_eq!(links, vec![link(AddressRole::Shipping, Some(linked))]);
        assert_eq!(
            edited.shipping_destinations[0].ids.bigcommerce,
            Some(9),
            "edited in place upstream, not added"
        );
        // Read back: the upstream's address 9 goes by the linked id.
        let mut read = order(None, Some(address(Some("Mapped9"), Some(9), "3 New Rd")));
        apply_links(&mut read, "700", &links);
        apply_links(&mut read, "701", &[]);
        assert_eq!(
            read.shipping_destinations[0].ids.commercelayer.as_deref(),
            Some("AddrB")
        );
        assert_eq!(read.shipping_destinations[0].ids.bigcommerce, Some(9));
    }

    #[test]
    fn an_address_sent_back_with_some_of_its_ids_is_the_same_address() {
        let mut shipping = address(Some("Ship1"), Some(9), "2 Old Rd");
        shipping.ids.fluentcart = Some(41);
        let before = order(None, Some(shipping));
        // A FluentCart caller sends the shipping address back with the id it read, edited.
        let mut sent = address(None, None, "2 Old Road");
        sent.ids.fluentcart = Some(41);
        let mut edited = order(None, Some(sent));
        assert!(relinked_addresses(Platform::BigCommerce, "700", &before, &mut edited).is_empty());
        // With another FluentCart id it is another address.
        edited.shipping_destinations[0].ids.fluentcart = Some(42);
        assert_eq!(
            relinked_addresses(Platform::BigCommerce, "700", &before, &mut edited).len(),
            1
        );
    }

    #[test]
    fn an_address_without_ids_is_the_role_s_own_edited_and_a_removed_one_drops_its_link() {
        let before = on_bigcommerce();
        // A caller of another dialect rewrites the billing address (no ids) and removes the shipping address.
        let mut edited = order(Some(address(None, None, "5 Edited Rd")), None);
        let links = relinked_addresses(Platform::BigCommerce, "700", &before, &mut edited);
        assert_eq!(links, vec![link(AddressRole::Shipping, None)]);
        assert_eq!(edited.billing_address.unwrap().ids, PlatformIds::default());
    }

    #[test]
    fn a_commerce_layer_upstream_links_the_address_named_without_editing_the_role_s_own() {
        let before = order(Some(address(Some("Shared"), None, "1 Old Rd")), None);
        let mut edited = order(Some(address(Some("AddrB"), Some(501), "3 New Rd")), None);
        let links = relinked_addresses(Platform::CommerceLayer, "700", &before, &mut edited);
        assert!(links.is_empty());
        assert_eq!(
            edited.billing_address.unwrap().ids.commercelayer.as_deref(),
            Some("AddrB"),
            "the upstream address the role held (perhaps shared) is not edited"
        );
    }
}
