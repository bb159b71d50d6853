//! `/api/orders`: list (filters, sort, paging), create, read, update (attributes, address relationships,
//! trigger attributes), delete, and the related-resource paths `/api/orders/{id}/{relationship}`.

use http::StatusCode;
use serde_json::{json, Value};

use super::document::{self, render_order, Included, Shape, ORDER_INCLUDES};
use super::shop_problem;
use crate::api::query::invalid;
use crate::api::{parse_body, ApiContext, ApiRequest, ApiResponse, ApiResult};
use crate::canonical::lifecycle;
use crate::canonical::*;
use crate::dialects::commercelayer::decode_create_request;
use crate::dialects::commercelayer::resources::{decode_order_update, OrderTrigger, OrderUpdate};
use crate::dialects::dates::parse_iso_or_naive;
use crate::dialects::{tables, DecodeOptions};
use crate::service::fill_customer;
use crate::store::{CustomerRecord, ObjectId};

/// Commerce Layer's page size: 10 by default, at most 25.
const DEFAULT_PAGE_SIZE: u32 = 10;
const MAX_PAGE_SIZE: u32 = 25;

fn cl(id: &str) -> ObjectId {
    ObjectId::CommerceLayer(id.to_owned())
}

/// Commerce Layer creates orders as drafts; an order with a customer and a line item is pending.
pub(super) fn settle_draft(order: &mut Order) {
    if order.status == OrderStatus::Draft
        && order.customer.email.is_some()
        && !order.line_items.is_empty()
    {
        order.status = OrderStatus::Pending;
    }
}

/// Line items can change while the order is not placed.
pub(super) fn ensure_editable(order: &Order) -> Result<(), Problem> {
    if matches!(order.status, OrderStatus::Draft | OrderStatus::Pending) {
        Ok(())
    } else {
        Err(Problem::new(
            ProblemKind::ForbiddenField,
            "/data/relationships/order",
            format!(
                "the order is {}; line items can only change on draft or pending orders",
                tables::get()
                    .commercelayer_statuses
                    .order
                    .render(order.status)
            ),
        ))
    }
}

/// One order as a document, with what the client asked to include.
fn single(ctx: &ApiContext, req: &ApiRequest, order: &Order, status: StatusCode) -> ApiResult {
    let shape = Shape::parse(&req.query, ORDER_INCLUDES)?;
    let rendering = render_order(ctx, &req.base_url, order);
    let mut included = Included::default();
    included.add_order(&rendering, &shape);
    let self_link = rendering
        .data
        .pointer("/links/self")
        .cloned()
        .unwrap_or(Value::Null);
    let mut data = rendering.data.clone();
    shape.trim(&mut data);
    let doc = document::document(
        data,
        shape.includes_anything().then(|| included.into_vec()),
        json!({ "self": self_link }),
        None,
    );
    Ok(ApiResponse::json(status, doc).with_losses(rendering.losses))
}

pub(super) async fn get(ctx: &ApiContext, req: &ApiRequest, id: &str) -> ApiResult {
    // Checked before the read so a bad parameter is a 400 whether or not the order exists.
    Shape::parse(&req.query, ORDER_INCLUDES)?;
    let order = ctx
        .shop
        .order(&req.client.id, &cl(id))
        .await
        .map_err(shop_problem("order"))?;
    single(ctx, req, &order, StatusCode::OK)
}

pub(super) async fn related(ctx: &ApiContext, req: &ApiRequest, id: &str, name: &str) -> ApiResult {
    let shape = Shape::parse(&req.query, &[])?;
    let order = ctx
        .shop
        .order(&req.client.id, &cl(id))
        .await
        .map_err(shop_problem("order"))?;
    let rendering = render_order(ctx, &req.base_url, &order);
    let mut resources = rendering.related_of(name);
    for r in &mut resources {
        shape.trim(r);
    }
    let data = if name == "line_items" {
        Value::Array(resources)
    } else {
        resources.into_iter().next().unwrap_or(Value::Null)
    };
    let doc = document::document(
        data,
        None,
        json!({ "self": format!("{}/orders/{id}/{name}", req.base_url) }),
        None,
    );
    Ok(ApiResponse::json(StatusCode::OK, doc).with_losses(rendering.losses))
}

/// The market of a create document: required (no token carries a market scope here), and it must exist.
fn create_market<'a>(
    ctx: &'a ApiContext,
    doc: &Value,
) -> Result<&'a crate::config::Market, Problem> {
    let pointer = "/data/relationships/market";
    let linkage = doc.pointer("/data/relationships/market/data");
    let id = match linkage {
        None | Some(Value::Null) => {
            return Err(Problem::new(
                ProblemKind::MissingField,
                pointer,
                "an order needs a market relationship (it fixes the currency)",
            ))
        }
        Some(v) => v.get("id").and_then(Value::as_str).ok_or_else(|| {
            Problem::new(
                ProblemKind::InvalidField,
                format!("{pointer}/data"),
                "the market linkage needs a string id",
            )
        })?,
    };
    if let Some(t) = linkage.and_then(|v| v.get("type")).and_then(Value::as_str) {
        if t != "markets" {
            return Err(Problem::new(
                ProblemKind::TypeConflict,
                format!("{pointer}/data/type"),
                format!("market must point at markets, not {t:?}"),
            ));
        }
    }
    ctx.shop.market(id).ok_or_else(|| {
        Problem::new(
            ProblemKind::InvalidField,
            pointer,
            format!("market {id:?} does not exist"),
        )
    })
}

pub(super) async fn create(ctx: &ApiContext, req: &ApiRequest) -> ApiResult {
    let doc = parse_body(&req.body)?;
    // The resource-level refusals come first, in JSON:API's order: a client id (403), then the type (409).
    let data = doc.get("data").ok_or_else(|| {
        Problem::new(
            ProblemKind::MissingField,
            "/data",
            "a JSON:API document needs a data member",
        )
    })?;
    if !data.is_object() {
        return Err(Problem::new(
            ProblemKind::InvalidField,
            "/data",
            "data must be a single resource object",
        ));
    }
    if data.get("id").is_some_and(|v| !v.is_null()) {
        return Err(Problem::new(
            ProblemKind::ClientIdUnsupported,
            "/data/id",
            "client-generated ids are not supported; omit data.id",
        ));
    }
    match data.get("type").and_then(Value::as_str) {
        Some("orders") => {}
        Some(other) => {
            return Err(Problem::new(
                ProblemKind::TypeConflict,
                "/data/type",
                format!("this endpoint creates orders, not {other:?}"),
            ))
        }
        None => {
            return Err(Problem::new(
                ProblemKind::MissingField,
                "/data/type",
                "type is required",
            ))
        }
    }
    Shape::parse(&req.query, ORDER_INCLUDES)?;
    let market = create_market(ctx, &doc)?;
    let options = DecodeOptions {
        default_currency: Some(market.currency),
    };
    let mut order = decode_create_request(doc, &options)?;
    // What the codec kept of the request document belongs to it, not to the stored order.
    order.strip_platform_ext(crate::canonical::Platform::CommerceLayer);
    if order.currency != market.currency {
        return Err(Problem::new(
            ProblemKind::InvalidCurrency,
            "/data/attributes/currency_code",
            format!(
                "market {} sells in {}, not {}",
                market.id, market.currency, order.currency
            ),
        ));
    }
    // What the shop decides, not the client: a new order is a draft with no payment or shipment yet.
    order.status = OrderStatus::Draft;
    order.payment_status = PaymentStatus::Unpaid;
    order.fulfillment_status = FulfillmentStatus::Unfulfilled;
    order.timestamps = Timestamps::default();
    order.payments.clear();
    if let Some(email) = order.customer.email.clone() {
        let record = customer(ctx, req, &email).await?;
        fill_customer(&mut order.customer, record);
    }
    settle_draft(&mut order);
    let order = ctx
        .shop
        .create_order(&req.client.id, order, req.now, req.create_key())
        .await
        .map_err(shop_problem("order"))?;
    single(ctx, req, &order, StatusCode::CREATED)
}

async fn customer(
    ctx: &ApiContext,
    req: &ApiRequest,
    email: &str,
) -> Result<CustomerRecord, Problem> {
    if !crate::canonical::is_email_address(email) {
        return Err(Problem::new(
            ProblemKind::InvalidField,
            "/data/attributes/customer_email",
            format!("{email:?} is not an email address"),
        ));
    }
    ctx.shop
        .customer_by_email(&req.client.id, email)
        .await
        .map_err(shop_problem("customer"))
}

/// Finds the address an order relationship points at: a standalone address resource, or one of an order's
/// addresses (copied; the copy keeps its ids only within the same order).
async fn find_address(
    ctx: &ApiContext,
    req: &ApiRequest,
    order_id: &str,
    address_id: &str,
    relationship: &str,
) -> Result<Address, Problem> {
    let missing = || {
        Problem::new(
            ProblemKind::InvalidField,
            format!("/data/relationships/{relationship}/data/id"),
            format!("address {address_id:?} does not exist"),
        )
    };
    if ObjectId::parse(Platform::CommerceLayer, address_id).is_none() {
        return Err(missing());
    }
    let client = &req.client.id;
    if let Some(a) = ctx
        .shop
        .address(client, address_id)
        .await
        .map_err(|e| e.into_problem("address"))?
    {
        return Ok(a);
    }
    let (owner, mut found) = super::items::held_address(ctx, client, address_id)
        .await
        .map_err(|e| e.into_problem("address"))?
        .ok_or_else(missing)?;
    let same_order = owner.ids.platform.commercelayer.as_deref() == Some(order_id);
    if !same_order {
        // Another order owns it: this order gets its own copy, with ids of its own.
        found.ids = PlatformIds::default();
    }
    Ok(found)
}

fn apply_update(
    order: &mut Order,
    up: &OrderUpdate,
    customer: Option<CustomerRecord>,
    billing: Option<Option<Address>>,
    shipping: Option<Option<Address>>,
    market_currency: Option<Currency>,
    now: Timestamp,
) -> Result<(), Problem> {
    if let Some(c) = market_currency {
        if c != order.currency {
            return Err(Problem::new(
                ProblemKind::ForbiddenField,
                "/data/relationships/market",
                format!(
                    "the order is in {}; its market cannot change to one selling in {c}",
                    order.currency
                ),
            ));
        }
    }
    match (&up.customer_email, customer) {
        (_, Some(record)) => {
            if order.customer.email.as_deref() != Some(record.email.as_str()) {
                order.customer = Customer::default();
            }
            fill_customer(&mut order.customer, record);
        }
        (Some(None), None) => order.customer = Customer::default(),
        _ => {}
    }
    if let Some(r) = &up.reference {
        order.external_ref.reference.clone_from(r);
    }
    if let Some(r) = &up.reference_origin {
        order.external_ref.origin.clone_from(r);
    }
    if let Some(l) = &up.language_code {
        order.language.clone_from(l);
    }
    if let Some(m) = &up.metadata {
        order.metadata.clone_from(m);
    }
    if let Some(g) = up.guest {
        order.customer.is_guest = g;
    }
    if let Some(b) = billing {
        order.billing_address = b;
    }
    if let Some(s) = shipping {
        order.shipping_destinations = s.into_iter().collect();
    }
    for trigger in &up.triggers {
        match trigger {
            OrderTrigger::ShippingAddressSameAsBilling => {
                let b = order.billing_address.clone().ok_or_else(|| {
                    Problem::new(
                        ProblemKind::InvalidTransition,
                        "/data/attributes/_shipping_address_same_as_billing",
                        "the order has no billing address",
                    )
                })?;
                // Cloned, as Commerce Layer does: an address of its own, with ids of its own.
                order.shipping_destinations = vec![Address {
                    ids: PlatformIds::default(),
                    ..b
                }];
            }
            OrderTrigger::BillingAddressSameAsShipping => {
                let s = order
                    .shipping_destinations
                    .first()
                    .cloned()
                    .ok_or_else(|| {
                        Problem::new(
                            ProblemKind::InvalidTransition,
                            "/data/attributes/_billing_address_same_as_shipping",
                            "the order has no shipping address",
                        )
                    })?;
                order.billing_address = Some(Address {
                    ids: PlatformIds::default(),
                    ..s
                });
            }
            OrderTrigger::Pending => match order.status {
                OrderStatus::Draft => order.status = OrderStatus::Pending,
                OrderStatus::Pending => {}
                other => {
                    return Err(Problem::new(
                        ProblemKind::InvalidTransition,
                        "/data/attributes/_pending",
                        format!("cannot make a {other} order pending"),
                    ))
                }
            },
            other => {
                for t in other.transitions(order) {
                    lifecycle::apply(order, &t, now).map_err(|mut p| {
                        if p.pointer.is_empty() {
                            p.pointer = format!("/data/attributes/{}", trigger_name(*other));
                        }
                        p
                    })?;
                }
            }
        }
    }
    settle_draft(order);
    Ok(())
}

fn trigger_name(t: OrderTrigger) -> &'static str {
    match t {
        OrderTrigger::Place => "_place",
        OrderTrigger::Pending => "_pending",
        OrderTrigger::Authorize => "_authorize",
        OrderTrigger::Approve => "_approve",
        OrderTrigger::ApproveAndCapture => "_approve_and_capture",
        OrderTrigger::Capture => "_capture",
        OrderTrigger::Fulfill => "_fulfill",
        OrderTrigger::Refund => "_refund",
        OrderTrigger::Cancel => "_cancel",
        OrderTrigger::ShippingAddressSameAsBilling => "_shipping_address_same_as_billing",
        OrderTrigger::BillingAddressSameAsShipping => "_billing_address_same_as_shipping",
        OrderTrigger::Recalculate => "_refresh",
    }
}

pub(super) async fn update(ctx: &ApiContext, req: &ApiRequest, id: &str) -> ApiResult {
    let up = decode_order_update(parse_body(&req.body)?)?;
    if up.id.as_deref().is_some_and(|sent| sent != id) {
        return Err(Problem::new(
            ProblemKind::Conflict,
            "/data/id",
            "data.id does not match the order in the URL",
        ));
    }
    Shape::parse(&req.query, ORDER_INCLUDES)?;
    // Everything that needs the store is looked up first: the change itself runs in one transaction and cannot
    // await.
    let customer = match &up.customer_email {
        Some(Some(email)) => Some(customer(ctx, req, email).await?),
        _ => None,
    };
    let mut addresses = Vec::with_capacity(2);
    for (rel, name) in [
        (&up.billing_address, "billing_address"),
        (&up.shipping_address, "shipping_address"),
    ] {
        addresses.push(match rel {
            None => None,
            Some(None) => Some(None),
            Some(Some(aid)) => Some(Some(find_address(ctx, req, id, aid, name).await?)),
        });
    }
    let shipping = addresses.pop().flatten();
    let billing = addresses.pop().flatten();
    let market_currency = match &up.market {
        None => None,
        Some(m) => Some(
            ctx.shop
                .market(m)
                .ok_or_else(|| {
                    Problem::new(
                        ProblemKind::InvalidField,
                        "/data/relationships/market",
                        format!("market {m:?} does not exist"),
                    )
                })?
                .currency,
        ),
    };
    let now = req.now;
    let order = ctx
        .shop
        .modify(&req.client.id, &cl(id), now, move |order| {
            apply_update(
                order,
                &up,
                customer,
                billing,
                shipping,
                market_currency,
                now,
            )
        })
        .await
        .map_err(shop_problem("order"))?;
    single(ctx, req, &order, StatusCode::OK)
}

pub(super) async fn delete(ctx: &ApiContext, req: &ApiRequest, id: &str) -> ApiResult {
    ctx.shop
        .delete(&req.client.id, &cl(id), |order| {
            // Commerce Layer deletes orders that were never placed; placed ones are cancelled instead.
            if matches!(order.status, OrderStatus::Draft | OrderStatus::Pending) {
                Ok(())
            } else {
                Err(Problem::new(
                    ProblemKind::InvalidTransition,
                    "",
                    format!(
                        "the order is {}; only draft and pending orders can be deleted (cancel it instead)",
                        tables::get().commercelayer_statuses.order.render(order.status)
                    ),
                ))
            }
        })
        .await
        .map_err(shop_problem("order"))?;
    Ok(ApiResponse::empty(StatusCode::NO_CONTENT))
}

/// Canonical triples whose Commerce Layer rendering passes the asked status filters.
fn status_triples(
    order: Option<&[String]>,
    payment: Option<&[String]>,
    fulfillment: Option<&[String]>,
) -> Vec<StatusTriple> {
    let t = &tables::get().commercelayer_statuses;
    let passes = |asked: Option<&[String]>, rendered: &str| {
        asked.is_none_or(|vals| vals.iter().any(|v| v == rendered))
    };
    let mut out = Vec::new();
    for o in OrderStatus::ALL {
        if !passes(order, t.order.render(*o)) {
            continue;
        }
        for p in PaymentStatus::ALL {
            if !passes(payment, t.payment.render(*p)) {
                continue;
            }
            for f in FulfillmentStatus::ALL {
                if passes(fulfillment, t.fulfillment.render(*f)) {
                    out.push(StatusTriple {
                        order: *o,
                        payment: *p,
                        fulfillment: *f,
                    });
                }
            }
        }
    }
    out
}

fn timestamp(key: &str, value: &str) -> Result<Timestamp, Problem> {
    parse_iso_or_naive(value).ok_or_else(|| invalid(key, "must be an ISO 8601 date"))
}

/// `filter[q][<attribute>_<predicate>]` (Ransack): the subset the shop's queries can answer.
fn parse_filter(req: &ApiRequest) -> Result<OrderFilter, Problem> {
    let mut f = OrderFilter::default();
    let mut axes: [Option<Vec<String>>; 3] = Default::default();
    // Inclusive bounds on the total in Commerce Layer's `*_cents`, converted once the currency filter is known.
    let mut total_cents: Range<i64> = Range::default();
    let one_us = chrono::Duration::microseconds(1);
    for (key, value) in req.query.pairs() {
        if !key.starts_with("filter") {
            continue;
        }
        let Some(inner) = key
            .strip_prefix("filter[q][")
            .and_then(|rest| rest.strip_suffix(']'))
        else {
            return Err(invalid(
                key,
                "is not a supported filter; use filter[q][<attribute>_<predicate>]",
            ));
        };
        let unsupported = || invalid(key, "is not a supported filter");
        let (attr, predicate) = inner.rsplit_once('_').ok_or_else(unsupported)?;
        let list = || {
            value
                .split(',')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        match (attr, predicate) {
            ("status" | "payment_status" | "fulfillment_status", "eq" | "in") => {
                let i = match attr {
                    "status" => 0,
                    "payment_status" => 1,
                    _ => 2,
                };
                let vals = if predicate == "eq" {
                    vec![value.to_owned()]
                } else {
                    list()
                };
                axes[i] = Some(vals);
            }
            ("customer_email", "eq") => f.email = Some(value.to_owned()),
            ("number", "eq") => f.number = Some(value.to_owned()),
            ("reference", "eq") => f.reference = Some(value.to_owned()),
            ("currency_code", "eq") => f.currency = Some(value.to_ascii_uppercase()),
            ("customer_id", "eq") => f.customer = Some((Platform::CommerceLayer, value.to_owned())),
            ("created_at" | "updated_at", "gt" | "gteq" | "lt" | "lteq") => {
                let t = timestamp(key, value)?;
                let range = if attr == "created_at" {
                    &mut f.created
                } else {
                    &mut f.updated
                };
                // The store's bounds are inclusive, to the microsecond.
                match predicate {
                    "gt" => range.min = Some(t + one_us),
                    "gteq" => range.min = Some(t),
                    "lt" => range.max = Some(t - one_us),
                    _ => range.max = Some(t),
                }
            }
            (
                "total_amount_cents" | "total_amount_with_taxes_cents",
                "gt" | "gteq" | "lt" | "lteq",
            ) => {
                let cents: i64 = value
                    .trim()
                    .parse()
                    .map_err(|_| invalid(key, "must be an integer amount in cents"))?;
                match predicate {
                    "gt" => total_cents.min = Some(cents.saturating_add(1)),
                    "gteq" => total_cents.min = Some(cents),
                    "lt" => total_cents.max = Some(cents.saturating_sub(1)),
                    _ => total_cents.max = Some(cents),
                }
            }
            _ => return Err(unsupported()),
        }
    }
    f.total = total_in_minor_units(total_cents, f.currency.as_deref());
    if axes.iter().any(Option::is_some) {
        let [o, p, fu] = &axes;
        f.statuses = Some(status_triples(o.as_deref(), p.as_deref(), fu.as_deref()));
    }
    Ok(f)
}

/// Bounds stated in Commerce Layer `*_cents` as bounds in minor units, the store's unit. They differ only where
/// Commerce Layer's cents are not the currency's minor unit (HUF), which takes the currency filter to know; a
/// bound between two minor units keeps to the amounts that meet it.
fn total_in_minor_units(cents: Range<i64>, currency: Option<&str>) -> Range<i64> {
    let (from, to) = currency
        .and_then(|c| Currency::parse(c).ok())
        .map_or((0, 0), |c| {
            (
                crate::dialects::commercelayer::cents_exponent(c),
                c.exponent(),
            )
        });
    let scale = |v: i64, round_up: bool| -> i64 {
        if to >= from {
            v.saturating_mul(10i64.pow(to - from))
        } else {
            let d = 10i64.pow(from - to);
            v.div_euclid(d) + i64::from(round_up && v.rem_euclid(d) != 0)
        }
    };
    Range {
        min: cents.min.map(|v| scale(v, true)),
        max: cents.max.map(|v| scale(v, false)),
    }
}

/// `sort=-created_at` (one key; Commerce Layer accepts a list, the shop sorts by one key and then by age).
fn parse_sort(req: &ApiRequest) -> Result<(SortKey, bool), Problem> {
    let Some(first) = req.query.all("sort").into_iter().next() else {
        return Ok((SortKey::Id, false));
    };
    let (descending, field) = match first.strip_prefix('-') {
        Some(f) => (true, f),
        None => (false, first),
    };
    let key = match field {
        "created_at" => SortKey::CreatedAt,
        "updated_at" => SortKey::UpdatedAt,
        // Numbers are assigned in creation order.
        "number" => SortKey::Id,
        "total_amount_cents" | "total_amount_with_taxes_cents" => SortKey::Total,
        "status" => SortKey::Status,
        other => {
            return Err(invalid(
                "sort",
                &format!("cannot sort by {other:?} (created_at, updated_at, number, status, total_amount_cents)"),
            ))
        }
    };
    Ok((key, descending))
}

/// A page's URL: the request's own parameters with `page[number]`/`page[size]` replaced.
fn page_link(req: &ApiRequest, number: u64, size: u32) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in req.query.pairs() {
        if k != "page[number]" && k != "page[size]" {
            q.append_pair(k, v);
        }
    }
    q.append_pair("page[number]", &number.to_string());
    q.append_pair("page[size]", &size.to_string());
    format!("{}/orders?{}", req.base_url, q.finish())
}

pub(super) async fn list(ctx: &ApiContext, req: &ApiRequest) -> ApiResult {
    let page = req.query.positive("page[number]", 1, u32::MAX)?;
    let size = req
        .query
        .positive("page[size]", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
    let (sort, descending) = parse_sort(req)?;
    let filter = parse_filter(req)?;
    let shape = Shape::parse(&req.query, ORDER_INCLUDES)?;
    let query = OrderQuery {
        filter,
        sort,
        descending,
        page,
        per_page: size,
    };
    let listing = ctx
        .shop
        .list(&req.client.id, &query)
        .await
        .map_err(shop_problem("order"))?;
    let result = listing.page;
    let mut data = Vec::with_capacity(result.items.len());
    let mut included = Included::default();
    let mut losses = Vec::new();
    for order in &result.items {
        let rendering = render_order(ctx, &req.base_url, order);
        included.add_order(&rendering, &shape);
        let mut d = rendering.data.clone();
        shape.trim(&mut d);
        data.push(d);
        losses.extend(rendering.losses);
    }
    let page_count = result.page_count();
    let last = page_count.max(1);
    let current = u64::from(page);
    let link = |n: u64| Value::String(page_link(req, n, size));
    let links = json!({
        "first": link(1),
        "prev": if current > 1 { link((current - 1).min(last)) } else { Value::Null },
        "next": if current < page_count { link(current + 1) } else { Value::Null },
        "last": link(last),
    });
    let doc = document::document(
        Value::Array(data),
        shape.includes_anything().then(|| included.into_vec()),
        links,
        Some(json!({ "record_count": result.total, "page_count": page_count })),
    );
    if !losses.is_empty() {
        // One entry per kind and member is enough for the header; the list may repeat them per order.
        losses.sort_by(|a, b| (&a.pointer, a.kind.key()).cmp(&(&b.pointer, b.kind.key())));
        losses.dedup_by(|a, b| a.pointer == b.pointer && a.kind == b.kind);
    }
    Ok(ApiResponse::json(StatusCode::OK, doc)
        .with_left_out(&listing.left_out, Platform::CommerceLayer, "/data")
        .with_losses(losses))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_filters_cover_every_collapsed_triple() {
        let approved = status_triples(Some(&["approved".to_owned()]), None, None);
        assert!(approved
            .iter()
            .all(|t| matches!(t.order, OrderStatus::Processing | OrderStatus::Completed)));
        assert!(approved.iter().any(|t| t.order == OrderStatus::Completed));
        let paid = status_triples(None, Some(&["paid".to_owned()]), None);
        assert!(paid.iter().any(|t| t.payment == PaymentStatus::Disputed));
        assert!(status_triples(Some(&["nonsense".to_owned()]), None, None).is_empty());
    }

    #[test]
    fn total_filters_in_cents_become_minor_units_of_the_filtered_currency() {
        let cents = Range {
            min: Some(1500),
            max: Some(2000),
        };
        assert_eq!(total_in_minor_units(cents, Some("USD")), cents);
        assert_eq!(total_in_minor_units(cents, None), cents);
        // Commerce Layer states forints unscaled; ISO 4217 gives HUF two places.
        assert_eq!(
            total_in_minor_units(cents, Some("HUF")),
            Range {
                min: Some(150_000),
                max: Some(200_000)
            }
        );
    }
}
