//! The embedded shop: what happens to a canonical order between a dialect's request and the store. Resolves
//! catalog products and customers, enforces the shop's limits, owns the totals, and applies state transitions.
//! Knows no dialect and no transport: an order routed to an upstream shop is handed to `UpstreamShop`.

use crate::canonical::lifecycle::{self, Transition};
use crate::canonical::{
    Customer, FulfillmentType, LineItem, LineKind, Money, Order, OrderFilter, OrderIds, OrderQuery,
    OrderStatus, Page, Problem, ProblemKind, Timestamp,
};
use std::sync::Arc;

pub use crate::backends::upstream::Listing;
use crate::backends::upstream::{UpstreamShop, UpstreamShopError};
use crate::config::{Market, Product, SeedCustomer};
use crate::store::{
    CustomerRecord, ModifyError, ObjectId, ObjectKind, ProductKey, Store, StoreError,
};

/// Most line items one order may have (reliability.md §2).
pub const MAX_LINE_ITEMS: usize = 500;

/// Why a shop operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ShopError {
    /// The request is wrong; rendered to the caller in its dialect.
    #[error("{0}")]
    Problem(Problem),
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An upstream shop's operation failed (already classified for the caller).
    #[error(transparent)]
    Upstream(#[from] UpstreamShopError),
}

impl From<Problem> for ShopError {
    fn from(p: Problem) -> Self {
        ShopError::Problem(p)
    }
}

impl From<ModifyError> for ShopError {
    fn from(e: ModifyError) -> Self {
        match e {
            ModifyError::NotFound => ShopError::NotFound,
            ModifyError::Rejected(p) => ShopError::Problem(p),
            ModifyError::Store(s) => ShopError::Store(s),
        }
    }
}

impl ShopError {
    /// The problem to show a caller (a store failure: see `StoreError::into_problem`).
    pub fn into_problem(self, what: &str) -> Problem {
        match self {
            ShopError::Problem(p) => p,
            ShopError::NotFound => Problem::new(
                ProblemKind::NotFound,
                "",
                format!("The requested {what} was not found."),
            ),
            ShopError::Upstream(e) => e.into_problem(what),
            ShopError::Store(e) => e.into_problem(),
        }
    }
}

/// Where a new order is created: the embedded store, or the upstream shop the route goes to.
enum Destination<'a> {
    Store(Order),
    Upstream(&'a UpstreamShop, Order),
}

/// A create's Idempotency-Key, as the shop needs it.
#[derive(Debug, Clone, Copy)]
pub struct CreateKey<'a> {
    pub key: &'a str,
    /// The gateway id of the order an earlier, interrupted attempt with this key already wrote.
    pub resumed_order: Option<&'a str>,
    /// Every earlier attempt with this key was made by a process that has stopped (its claim was taken over).
    pub taken_over: bool,
}

/// What an upstream create needs of the key: the key, and whether its earlier attempts' process is gone.
fn upstream_key(key: Option<CreateKey<'_>>) -> Option<crate::backends::upstream::CreateKey<'_>> {
    key.map(|k| crate::backends::upstream::CreateKey {
        key: k.key,
        earlier_gone: k.taken_over,
    })
}

/// The shop an API module works with: the embedded one over a store, or an upstream shop behind the same
/// interface (`upstream`), for which the store keeps the catalog, customers, id map and create journal.
#[derive(Debug, Clone)]
pub struct Shop {
    pub store: Store,
    pub markets: Vec<Market>,
    pub upstream: Option<Arc<UpstreamShop>>,
}

impl Shop {
    pub fn new(store: Store, markets: Vec<Market>) -> Self {
        Shop {
            store,
            markets,
            upstream: None,
        }
    }

    /// The same shop with orders kept by `upstream`.
    pub fn with_upstream(&self, upstream: Arc<UpstreamShop>) -> Self {
        Shop {
            upstream: Some(upstream),
            ..self.clone()
        }
    }

    /// Creates an order: resolves products and the customer, recomputes totals, stores it with new ids (or sends
    /// it upstream exactly once per Idempotency-Key). A create resuming an interrupted attempt that already wrote
    /// the order answers with that order.
    pub async fn create_order(
        &self,
        client: &str,
        order: Order,
        now: Timestamp,
        key: Option<CreateKey<'_>>,
    ) -> Result<Order, ShopError> {
        if let Some(written) = self.resumed(client, key).await? {
            return Ok(written);
        }
        Ok(match self.destination(client, order, now).await? {
            // Boxed, as every call into an upstream shop: its state is large (see `api::handle`).
            Destination::Upstream(up, order) => {
                Box::pin(up.create(client, order, upstream_key(key))).await?
            }
            Destination::Store(order) => self.store.create_order(client, order, now).await?,
        })
    }

    /// `create_order` for a caller whose reply names the new order only (FluentCart's create): an upstream shop
    /// is spared the reads that would bring the whole order back.
    pub async fn create_order_ids(
        &self,
        client: &str,
        order: Order,
        now: Timestamp,
        key: Option<CreateKey<'_>>,
    ) -> Result<OrderIds, ShopError> {
        if let Some(written) = self.resumed(client, key).await? {
            return Ok(written.ids);
        }
        Ok(match self.destination(client, order, now).await? {
            Destination::Upstream(up, order) => {
                Box::pin(up.create_ids(client, order, upstream_key(key))).await?
            }
            Destination::Store(order) => self.store.create_order(client, order, now).await?.ids,
        })
    }

    /// Makes a caller's standalone address (Commerce Layer's `POST /api/addresses`): kept by the store, or made on
    /// an upstream shop that keeps addresses of its own (`UpstreamShop::holds_addresses`), once per key.
    pub async fn create_address(
        &self,
        client: &str,
        address: crate::canonical::Address,
        now: Timestamp,
        key: Option<CreateKey<'_>>,
    ) -> Result<crate::canonical::Address, ShopError> {
        match &self.upstream {
            Some(up) if up.holds_addresses() => {
                Ok(Box::pin(up.create_address(client, address, upstream_key(key))).await?)
            }
            _ => Ok(self.store.create_address(client, address, now).await?),
        }
    }

    /// A standalone address by its Commerce Layer id: the store's, or the upstream shop's where it keeps them.
    pub async fn address(
        &self,
        client: &str,
        id: &str,
    ) -> Result<Option<crate::canonical::Address>, ShopError> {
        match &self.upstream {
            Some(up) if up.holds_addresses() => Ok(Box::pin(up.address(id)).await?),
            _ => Ok(self
                .store
                .address(client, &ObjectId::CommerceLayer(id.to_owned()))
                .await?),
        }
    }

    /// The order an interrupted attempt with this key wrote, when the gateway says there is one. It is in the
    /// store whatever the route: an upstream create writes no order there, only a staged draft does.
    async fn resumed(
        &self,
        client: &str,
        key: Option<CreateKey<'_>>,
    ) -> Result<Option<Order>, ShopError> {
        let Some(gid) = key.and_then(|k| k.resumed_order) else {
            return Ok(None);
        };
        match self
            .store
            .order(client, &ObjectId::Gateway(gid.to_owned()))
            .await?
        {
            Some(order) => Ok(Some(order)),
            // Deleted since: answering "not found" is the truth, and making it again would double it.
            None => Err(ShopError::NotFound),
        }
    }

    /// Prepares a new order and says where it is created.
    async fn destination(
        &self,
        client: &str,
        mut order: Order,
        now: Timestamp,
    ) -> Result<Destination<'_>, ShopError> {
        self.prepare(client, &mut order).await?;
        order.timestamps.updated_at = Some(now);
        if let Some(up) = &self.upstream {
            if !order.line_items.is_empty() || up.holds_empty_orders() {
                return Ok(Destination::Upstream(up, order));
            }
            // A Commerce Layer create makes an empty draft, which BigCommerce and FluentCart cannot hold: the
            // draft is staged here, edited here, and sent upstream whole when it is placed (`transition`).
        }
        Ok(Destination::Store(order))
    }

    /// Placed: the staged draft goes upstream whole, keeping the ids its caller knows, and leaves the embedded
    /// store. A failure leaves it staged; a retry sends it under the same stamp, so at most once.
    async fn send_staged(
        &self,
        up: &UpstreamShop,
        client: &str,
        id: &ObjectId,
        staged: &Order,
        mut placed: Order,
    ) -> Result<Order, ShopError> {
        placed.applied.clear();
        let sent = Box::pin(up.send_staged(client, staged, placed)).await?;
        if !self.store.delete_order(client, id, |_| Ok(())).await? {
            tracing::warn!("a staged draft was already gone after it was sent upstream");
        }
        Ok(sent)
    }

    /// An order staged in the embedded store for an upstream shop (a draft not yet placed). Only Commerce Layer
    /// callers create empty drafts, so only their ids are looked up: other requests skip the store read.
    async fn staged(&self, client: &str, id: &ObjectId) -> Result<Option<Order>, ShopError> {
        match &self.upstream {
            Some(up) if !up.holds_empty_orders() && matches!(id, ObjectId::CommerceLayer(_)) => {
                Ok(self.store.order(client, id).await?)
            }
            _ => Ok(None),
        }
    }

    /// Resolves what the shop must know about an order before storing it (catalog products, the customer) and
    /// recomputes its totals.
    pub async fn prepare(&self, client: &str, order: &mut Order) -> Result<(), ShopError> {
        if order.line_items.len() > MAX_LINE_ITEMS {
            return Err(Problem::new(
                ProblemKind::TooManyItems,
                "",
                format!(
                    "an order may have at most {MAX_LINE_ITEMS} line items, got {}",
                    order.line_items.len()
                ),
            )
            .into());
        }
        for (i, line) in order.line_items.iter_mut().enumerate() {
            self.resolve_line(i, line, order.currency).await?;
        }
        let default_address = self.resolve_customer(client, &mut order.customer).await?;
        if self.upstream.is_some() && order.billing_address.is_none() {
            // Upstream platforms want an address on every order (BigCommerce's create requires a billing
            // address); a caller that names a known customer without one gets the customer's default, as
            // FluentCart's own create does. The embedded shop keeps orders exactly as sent.
            order.billing_address = default_address;
        }
        order.recompute_totals();
        match order.totals_problem() {
            Some(problem) => Err(problem.into()),
            None => Ok(()),
        }
    }

    /// A catalog line takes its identity, name and (unless the request priced it) price from the catalog; an
    /// uncatalogued line must carry its own name and price.
    pub async fn resolve_line(
        &self,
        index: usize,
        line: &mut LineItem,
        currency: crate::canonical::Currency,
    ) -> Result<(), ShopError> {
        if line.kind == LineKind::Custom {
            if line.name.trim().is_empty() {
                return Err(Problem::new(
                    ProblemKind::MissingField,
                    "",
                    format!("line item {}: a custom item needs a name", index + 1),
                )
                .into());
            }
            return Ok(());
        }
        let Some(product) = catalog_product(&self.store, &line.product).await? else {
            if line.unit_price.minor > 0 && !line.name.trim().is_empty() {
                // Priced and named by the caller: an item the catalog does not list, kept as sent.
                return Ok(());
            }
            return Err(Problem::new(
                ProblemKind::InvalidField,
                "",
                format!(
                    "line item {}: no catalog product matches {}",
                    index + 1,
                    describe_product_ref(&line.product)
                ),
            )
            .into());
        };
        if line.unit_price.minor == 0 {
            // Zero means "not priced by the caller": dialects without a price say so by omitting it.
            let Some(price) = product.prices.get(&currency) else {
                return Err(Problem::new(
                    ProblemKind::InvalidCurrency,
                    "",
                    format!(
                        "line item {}: product {} has no price in {currency}",
                        index + 1,
                        product.sku
                    ),
                )
                .into());
            };
            line.unit_price = Money::new(price.minor, currency);
        }
        if line.name.trim().is_empty() {
            line.name.clone_from(&product.name);
        }
        // The SKU is the catalog's.
        line.product.sku = Some(product.sku.clone());
        fill_platform_ids(&mut line.product, &product);
        if line.fulfillment_type.is_none() {
            line.fulfillment_type = Some(if product.digital {
                FulfillmentType::Digital
            } else {
                FulfillmentType::Physical
            });
        }
        Ok(())
    }

    /// A customer named by a platform id must exist; one named by email is found or created at store time.
    /// Returns the customer's default address, when the customer is known and has one.
    async fn resolve_customer(
        &self,
        client: &str,
        customer: &mut Customer,
    ) -> Result<Option<crate::canonical::Address>, ShopError> {
        let ids = &customer.ids;
        let id = ids
            .fluentcart
            .map(ObjectId::FluentCart)
            .or_else(|| {
                ids.bigcommerce
                    .filter(|n| *n != 0)
                    .map(ObjectId::BigCommerce)
            })
            .or_else(|| ids.commercelayer.clone().map(ObjectId::CommerceLayer));
        let Some(id) = id else { return Ok(None) };
        match self.store.customer(client, &id).await? {
            Some(mut record) => {
                let address = record.address.take();
                fill_customer(customer, record);
                return Ok(address);
            }
            None if customer.email.is_some() => {}
            None => {
                return Err(Problem::new(
                    ProblemKind::InvalidField,
                    "",
                    format!("customer {} does not exist", describe_object_id(&id)),
                )
                .into())
            }
        }
        Ok(None)
    }

    pub async fn order(&self, client: &str, id: &ObjectId) -> Result<Order, ShopError> {
        if let Some(up) = &self.upstream {
            if let Some(order) = self.staged(client, id).await? {
                return Ok(order);
            }
            return Ok(up.order(id).await?);
        }
        self.store
            .order(client, id)
            .await?
            .ok_or(ShopError::NotFound)
    }

    pub async fn order_containing(
        &self,
        client: &str,
        kind: ObjectKind,
        id: &ObjectId,
    ) -> Result<Order, ShopError> {
        if let Some(up) = &self.upstream {
            if !up.holds_empty_orders() {
                if let Some(order) = self.store.order_containing(client, kind, id).await? {
                    return Ok(order);
                }
            }
            return Ok(up.order_containing(kind, id).await?);
        }
        self.store
            .order_containing(client, kind, id)
            .await?
            .ok_or(ShopError::NotFound)
    }

    /// Edits an order in one transaction; totals are recomputed after `change`. New catalog lines must already be
    /// resolved (`resolve_line`) by the caller, which can await; `change` cannot.
    pub async fn modify<F>(
        &self,
        client: &str,
        id: &ObjectId,
        now: Timestamp,
        change: F,
    ) -> Result<Order, ShopError>
    where
        F: FnOnce(&mut Order) -> Result<(), Problem> + Send + 'static,
    {
        if let Some(up) = &self.upstream {
            let Some(staged) = self.staged(client, id).await? else {
                return Ok(Box::pin(up.modify(id, now, change)).await?);
            };
            let after = crate::backends::upstream::changed(&staged, change)?;
            if !matches!(after.status, OrderStatus::Draft | OrderStatus::Pending) {
                return self.send_staged(up, client, id, &staged, after).await;
            }
            // Still a draft: it stays staged, as changed.
            return Ok(self
                .store
                .modify_order(client, id, now, move |order| {
                    *order = after;
                    Ok(())
                })
                .await?);
        }
        Ok(self
            .store
            .modify_order(client, id, now, move |order| {
                change(order)?;
                if order.line_items.len() > MAX_LINE_ITEMS {
                    return Err(Problem::new(
                        ProblemKind::TooManyItems,
                        "",
                        format!("an order may have at most {MAX_LINE_ITEMS} line items"),
                    ));
                }
                order.recompute_totals();
                order.totals_problem().map_or(Ok(()), Err)
            })
            .await?)
    }

    /// Applies a state transition.
    pub async fn transition(
        &self,
        client: &str,
        id: &ObjectId,
        transition: Transition,
        now: Timestamp,
    ) -> Result<Order, ShopError> {
        if let Some(up) = &self.upstream {
            let Some(staged) = self.staged(client, id).await? else {
                return Ok(Box::pin(up.transition(id, transition, now)).await?);
            };
            let mut after = staged.clone();
            lifecycle::apply(&mut after, &transition, now)?;
            if !matches!(after.status, OrderStatus::Draft | OrderStatus::Pending) {
                return self.send_staged(up, client, id, &staged, after).await;
            }
        }
        Ok(self
            .store
            .modify_order(client, id, now, move |order| {
                lifecycle::apply(order, &transition, now)
            })
            .await?)
    }

    pub async fn delete<F>(&self, client: &str, id: &ObjectId, refuse: F) -> Result<(), ShopError>
    where
        F: FnOnce(&Order) -> Result<(), Problem> + Send + 'static,
    {
        if let Some(up) = &self.upstream {
            if self.staged(client, id).await?.is_none() {
                return Ok(up.delete(id, refuse).await?);
            }
        }
        if self.store.delete_order(client, id, refuse).await? {
            Ok(())
        } else {
            Err(ShopError::NotFound)
        }
    }

    /// One page, with the total. An upstream shop's order that cannot be read is left out of the page and named
    /// in `Listing::left_out`; the embedded shop's orders always read.
    pub async fn list(&self, client: &str, query: &OrderQuery) -> Result<Listing, ShopError> {
        if let Some(up) = &self.upstream {
            return Ok(up.list(query).await?);
        }
        Ok(Listing {
            page: self.store.list_orders(client, query).await?,
            left_out: Vec::new(),
        })
    }

    /// One page without the total, for a reader that goes on past an upstream order that does not decode (a
    /// replay): such orders are set apart under their upstream ids.
    pub async fn list_readable(
        &self,
        client: &str,
        query: &OrderQuery,
    ) -> Result<crate::backends::adapters::Listed, ShopError> {
        if let Some(up) = &self.upstream {
            return Ok(up.list_readable(query).await?);
        }
        Ok(crate::backends::adapters::Listed {
            items: self.store.list_orders(client, query).await?.items,
            ..Default::default()
        })
    }

    /// `list` for a reply that does not carry the total: nothing is counted only to be dropped (the page's `total`
    /// is only what the page shows).
    pub async fn list_page(&self, client: &str, query: &OrderQuery) -> Result<Listing, ShopError> {
        if let Some(up) = &self.upstream {
            return Ok(up.list_page(query).await?);
        }
        let items = self.store.list_page(client, query).await?;
        Ok(Listing {
            page: Page {
                total: items.len() as u64,
                items,
                page: query.page,
                per_page: query.per_page,
            },
            left_out: Vec::new(),
        })
    }

    /// How many orders match `filter`, per status triple present.
    pub async fn count_by_status(
        &self,
        client: &str,
        filter: &OrderFilter,
    ) -> Result<Vec<(crate::canonical::StatusTriple, u64)>, ShopError> {
        if let Some(up) = &self.upstream {
            return Ok(up.count_by_status(filter).await?);
        }
        Ok(self.store.count_by_status(client, filter).await?)
    }

    /// Finds or creates a customer by email (Commerce Layer `customer_email`, FluentCart change-customer).
    pub async fn customer_by_email(
        &self,
        client: &str,
        email: &str,
    ) -> Result<CustomerRecord, ShopError> {
        let seed = SeedCustomer {
            email: email.to_owned(),
            first_name: None,
            last_name: None,
            address: None,
        };
        Ok(self.store.ensure_customer(client, &seed).await?)
    }

    pub async fn customer(&self, client: &str, id: &ObjectId) -> Result<CustomerRecord, ShopError> {
        self.store
            .customer(client, id)
            .await?
            .ok_or(ShopError::NotFound)
    }

    pub fn market(&self, id: &str) -> Option<&Market> {
        self.markets.iter().find(|m| m.id == id || m.code == id)
    }
}

/// The catalog product a line names, by SKU, FluentCart object id or BigCommerce product id (the first that
/// matches).
pub async fn catalog_product(
    store: &Store,
    p: &crate::canonical::ProductRef,
) -> Result<Option<Product>, StoreError> {
    let keys = [
        p.sku.clone().map(ProductKey::Sku),
        p.fluentcart_object_id.map(ProductKey::FluentCartObject),
        p.bigcommerce_product_id.map(ProductKey::BigCommerceProduct),
    ];
    for key in keys.into_iter().flatten() {
        if let Some(found) = store.product(&key).await? {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

/// Fills in the platform ids a line does not carry from its catalog product.
pub fn fill_platform_ids(p: &mut crate::canonical::ProductRef, product: &Product) {
    p.fluentcart_post_id = p.fluentcart_post_id.or(product.fluentcart_post_id);
    p.fluentcart_object_id = p.fluentcart_object_id.or(product.fluentcart_object_id);
    p.bigcommerce_product_id = p.bigcommerce_product_id.or(product.bigcommerce_product_id);
    p.bigcommerce_variant_id = p.bigcommerce_variant_id.or(product.bigcommerce_variant_id);
}

/// Puts a stored customer on an order.
pub fn fill_customer(customer: &mut Customer, record: CustomerRecord) {
    customer.email = Some(record.email);
    if customer.first_name.is_none() {
        customer.first_name = record.first_name;
    }
    if customer.last_name.is_none() {
        customer.last_name = record.last_name;
    }
    customer.ids = record.ids;
    customer.is_guest = false;
}

fn describe_product_ref(p: &crate::canonical::ProductRef) -> String {
    if let Some(sku) = &p.sku {
        format!("sku {sku:?}")
    } else if let Some(id) = p.fluentcart_object_id {
        format!("object_id {id}")
    } else if let Some(id) = p.bigcommerce_product_id {
        format!("product_id {id}")
    } else if let Some(code) = &p.bundle_code {
        format!("bundle {code:?}")
    } else {
        "an item without product reference".to_owned()
    }
}

fn describe_object_id(id: &ObjectId) -> String {
    match id {
        ObjectId::Gateway(g) => g.clone(),
        ObjectId::FluentCart(n) | ObjectId::BigCommerce(n) => n.to_string(),
        ObjectId::CommerceLayer(s) => format!("{s:?}"),
    }
}
