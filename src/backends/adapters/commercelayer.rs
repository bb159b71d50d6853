//! Commerce Layer upstream adapter: OAuth2 client credentials (token cached, refreshed before expiry and once on a
//! 401), JSON:API under `/api`, and the multi-step create — order, line items, addresses, triggers — journaled step
//! by step so that a retry under the same stamp resumes where the last attempt stopped instead of duplicating.
//!
//! Field mapping is the dialect codec's (`crate::dialects::commercelayer`); this module only picks the writable
//! members out of the codec's documents and drives the platform's resources and triggers.
//!
//! Completion marker: the order carries the stamp in `reference` from its first request, so any attempt can find
//! it again, but its `reference_origin` reads `ordermux:incomplete` until the last step, and only then `ordermux`.
//! `find_by_stamp` answers only completed orders, so reconciliation after a failure in the middle of the flow does
//! not mistake a half-built draft for the created order; the caller's retry resumes the build instead.

use std::collections::{BTreeSet, HashSet};
use std::time::{Duration, Instant};

use http::header::AUTHORIZATION;
use http::{Method, StatusCode};
use serde_json::{json, Map, Value};
use tokio::sync::Mutex;

use super::{AdapterContext, Journal, Listed, Stamp, StampLookup, Unfinished, Unreadable};
use crate::backends::transport::{Call, Reply, Retry, UpstreamError, UpstreamHttp};
use crate::canonical::lifecycle::Transition;
use crate::canonical::{
    Address, Currency, FulfillmentStatus, LineItem, LineKind, Money, Order, OrderQuery,
    OrderStatus, Platform, Problem, ProblemKind, SortKey, StatusTriple,
};
use crate::dialects::commercelayer::resources::encode_address;
use crate::dialects::commercelayer::resources::{
    apply_captures, decode_capture, encode_capture_refund, linkage, Capture,
};
use crate::dialects::commercelayer::{
    cents_exponent, decode_address_resource, decode_order, encode_create_request,
};
use crate::dialects::dates::render_iso_millis;
use crate::dialects::tables;

const JSONAPI: &str = "application/vnd.api+json";
/// Everything `decode_order` reads from `included`.
const INCLUDE: &str = "line_items,billing_address,shipping_address,market,customer,captures";
/// Metadata keys that hold an order's own `reference` and `reference_origin`, which ordermux's stamp and
/// completion marker occupy on the order itself.
const META_REFERENCE: &str = "ordermux_reference";
const META_REFERENCE_ORIGIN: &str = "ordermux_reference_origin";

/// The order as written to Commerce Layer: its own reference and origin moved into metadata.
fn to_wire(order: &Order) -> std::borrow::Cow<'_, Order> {
    let own_reference = order
        .external_ref
        .reference
        .as_deref()
        .filter(|r| Stamp::parse(r).is_none());
    let own_origin = order
        .external_ref
        .origin
        .as_deref()
        .filter(|o| *o != ORIGIN && *o != ORIGIN_BUILDING);
    if own_reference.is_none() && own_origin.is_none() {
        return std::borrow::Cow::Borrowed(order);
    }
    let mut wire = order.clone();
    if let Some(r) = own_reference {
        wire.metadata
            .insert(META_REFERENCE.to_owned(), Value::String(r.to_owned()));
    }
    if let Some(o) = own_origin {
        wire.metadata.insert(
            META_REFERENCE_ORIGIN.to_owned(),
            Value::String(o.to_owned()),
        );
    }
    wire.external_ref = Default::default();
    std::borrow::Cow::Owned(wire)
}

/// The order as callers see it: the stamp and marker are ordermux's; its own reference and origin come back from
/// metadata.
fn from_wire(order: &mut Order) {
    Stamp::clear_from(&mut order.external_ref.reference);
    if matches!(
        order.external_ref.origin.as_deref(),
        Some(ORIGIN | ORIGIN_BUILDING)
    ) {
        order.external_ref.origin = None;
    }
    if let Some(Value::String(r)) = order.metadata.remove(META_REFERENCE) {
        order.external_ref.reference = Some(r);
    }
    if let Some(Value::String(o)) = order.metadata.remove(META_REFERENCE_ORIGIN) {
        order.external_ref.origin = Some(o);
    }
    if let Some(a) = order.billing_address.as_mut() {
        address_from_wire(a);
    }
    for a in &mut order.shipping_destinations {
        address_from_wire(a);
    }
}

/// The `reference` ordermux gives an address a create makes for its order: the create's stamp and the address's
/// role. Addresses carry no order link of their own, so this is how a retry finds one whose reply was lost (and
/// adopts it instead of making a second), and how the sweep finds every address an unfinished create left.
fn address_reference(stamp: &Stamp, role: &str) -> String {
    format!("{}:{role}", stamp.key())
}

/// The role in the `address_reference` of an address a caller makes by itself (`POST /api/addresses`).
const STANDALONE: &str = "address";

/// Drops the links of a document the shop sent (the document's, each resource's, each relationship's) before it
/// is read: they are the shop's URLs, which ordermux's callers cannot follow with their own credentials and are not
/// to be shown (ordermux gives what it serves links of its own). A relationship left with nothing (no `data`, no
/// `meta`) goes too, as JSON:API wants a relationship to hold one of the three.
fn forget_shop_links(doc: &mut Value) {
    let Some(doc) = doc.as_object_mut() else {
        return;
    };
    doc.remove("links");
    let forget = |resource: &mut Value| {
        let Some(resource) = resource.as_object_mut() else {
            return;
        };
        resource.remove("links");
        if let Some(Value::Object(rels)) = resource.get_mut("relationships") {
            rels.retain(|_, rel| match rel.as_object_mut() {
                Some(rel) => {
                    rel.remove("links");
                    !rel.is_empty()
                }
                None => true,
            });
        }
    };
    for member in ["data", "included"] {
        match doc.get_mut(member) {
            Some(Value::Array(resources)) => resources.iter_mut().for_each(forget),
            Some(resource) => forget(resource),
            None => {}
        }
    }
}

/// Is `text` an `address_reference`?
fn is_address_reference(text: &str) -> bool {
    text.split_once(':').is_some_and(|(stamp, role)| {
        Stamp::parse(stamp).is_some()
            && matches!(role, "billing_address" | "shipping_address" | STANDALONE)
    })
}

/// The writable members of an address resource (`attributes` of one the codec wrote), as sent to Commerce Layer:
/// its own `reference` and `reference_origin` move into metadata, as an order's do, since ordermux's
/// `address_reference` occupies `reference` on the addresses it creates.
fn wire_address_attrs(attributes: Option<&Value>) -> Map<String, Value> {
    let mut attrs = pick(attributes, ADDRESS_WRITABLE);
    let own = |key: &str| {
        attributes
            .and_then(|a| a.get(key))
            .and_then(Value::as_str)
            .filter(|v| !is_address_reference(v))
            .map(str::to_owned)
    };
    let moved = [
        (META_REFERENCE, own("reference")),
        (META_REFERENCE_ORIGIN, own("reference_origin")),
    ];
    if moved.iter().any(|(_, v)| v.is_some()) {
        let meta = attrs
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        if !meta.is_object() {
            *meta = Value::Object(Map::new());
        }
        if let Value::Object(meta) = meta {
            for (key, value) in moved {
                if let Some(v) = value {
                    meta.insert(key.to_owned(), Value::String(v));
                }
            }
        }
    }
    attrs
}

/// The address as callers see it (`wire_address_attrs` undone): ordermux's reference dropped, the address's own
/// reference and origin back from metadata.
fn address_from_wire(address: &mut Address) {
    let Some(ext) = address.ext.get(Platform::CommerceLayer) else {
        return;
    };
    let Some(Value::Object(attrs)) = ext.extra.get("attributes") else {
        return;
    };
    let stamped = attrs
        .get("reference")
        .and_then(Value::as_str)
        .is_some_and(is_address_reference);
    let meta_keys = attrs
        .get("metadata")
        .and_then(Value::as_object)
        .is_some_and(|m| m.contains_key(META_REFERENCE) || m.contains_key(META_REFERENCE_ORIGIN));
    if !stamped && !meta_keys {
        return;
    }
    let mut ext = ext.clone();
    if let Some(Value::Object(attrs)) = ext.extra.get_mut("attributes") {
        if stamped {
            attrs.remove("reference");
        }
        let mut restored = Vec::new();
        if let Some(Value::Object(meta)) = attrs.get_mut("metadata") {
            for (meta_key, key) in [
                (META_REFERENCE, "reference"),
                (META_REFERENCE_ORIGIN, "reference_origin"),
            ] {
                if let Some(v @ Value::String(_)) = meta.remove(meta_key) {
                    restored.push((key, v));
                }
            }
            if meta.is_empty() {
                attrs.remove("metadata");
            }
        }
        for (key, v) in restored {
            attrs.insert(key.to_owned(), v);
        }
    }
    address.ext.set(Platform::CommerceLayer, ext);
}

/// `reference_origin` of a completed order, and of one still being built.
const ORIGIN: &str = "ordermux";
const ORIGIN_BUILDING: &str = "ordermux:incomplete";
/// Commerce Layer's largest `page[size]`.
const MAX_PAGE_SIZE: u32 = 25;
/// Most upstream pages one list call assembles (a caller's page larger than 25 is built from several).
const MAX_PAGES_PER_LIST: u32 = 20;
/// Payment source types ordermux can create for an order without the customer: the payment is arranged outside
/// Commerce Layer (a migrated order was paid on the platform it came from).
const SOURCES_WITHOUT_CUSTOMER: &[&str] = &["wire_transfers", "external_payments"];
/// Most triggers one create or transition sends (the longest path is place, authorize, approve, capture, refund).
const MAX_TRIGGERS: usize = 8;

/// Order attributes a create or update may write (`resources.json`: creatable/updatable).
const ORDER_WRITABLE: &[&str] = &[
    "customer_email",
    "language_code",
    "metadata",
    "guest",
    "coupon_code",
];
const LINE_WRITABLE: &[&str] = &[
    "item_type",
    "sku_code",
    "bundle_code",
    "quantity",
    "name",
    "image_url",
    "metadata",
    "unit_amount_cents",
    "_external_price",
];
const ADDRESS_WRITABLE: &[&str] = &[
    "business",
    "first_name",
    "last_name",
    "company",
    "line_1",
    "line_2",
    "city",
    "zip_code",
    "state_code",
    "country_code",
    "phone",
    "email",
    "notes",
    "billing_info",
    "metadata",
];

/// Wire values of the three status attributes (`resources.json` enums).
const WIRE_STATUSES: &[&str] = &[
    "draft",
    "pending",
    "editing",
    "placing",
    "placed",
    "approved",
    "cancelled",
];
const WIRE_PAYMENTS: &[&str] = &[
    "unpaid",
    "authorized",
    "partially_authorized",
    "paid",
    "partially_paid",
    "voided",
    "partially_voided",
    "refunded",
    "partially_refunded",
    "free",
];
const WIRE_FULFILLMENTS: &[&str] = &["unfulfilled", "in_progress", "fulfilled", "not_required"];

#[derive(Debug)]
struct Token {
    value: String,
    refresh_at: Instant,
}

#[derive(Debug)]
pub struct CommerceLayerAdapter {
    ctx: AdapterContext,
    http: UpstreamHttp,
    /// One cached access token; the lock is held while a new one is fetched so concurrent calls wait for it
    /// instead of each asking `/oauth/token` (30 requests a minute on Commerce Layer).
    token: Mutex<Option<Token>>,
}

fn unsupported(reason: impl Into<String>) -> UpstreamError {
    UpstreamError::unsupported(Problem::new(ProblemKind::InvalidParameter, "", reason))
}

/// An order or a change Commerce Layer cannot take, though the request itself is well formed (422).
fn unprocessable(kind: ProblemKind, reason: impl Into<String>) -> UpstreamError {
    UpstreamError::unsupported(Problem::new(kind, "", reason))
}

fn malformed(reason: impl Into<String>) -> UpstreamError {
    UpstreamError::Malformed(reason.into())
}

/// Reads `{"errors":[{title, detail, code, status, source:{pointer}}]}`: the first errors' details (or titles)
/// and the first pointer.
fn read_error(body: &Value) -> Option<(String, Option<String>)> {
    let errors = body.get("errors")?.as_array()?;
    let mut messages = Vec::new();
    let mut pointer = None;
    for e in errors.iter().take(3) {
        let text = e
            .get("detail")
            .and_then(Value::as_str)
            .or_else(|| e.get("title").and_then(Value::as_str));
        if let Some(t) = text {
            messages.push(t.chars().take(300).collect::<String>());
        }
        if pointer.is_none() {
            pointer = e
                .get("source")
                .and_then(|s| s.get("pointer"))
                .and_then(Value::as_str)
                .map(str::to_owned);
        }
    }
    (!messages.is_empty()).then(|| (messages.join("; "), pointer))
}

/// The longest a token is used before a new one is asked for, whatever `expires_in` says: a reply claiming
/// years (or more than `Instant` can count) is renewed daily instead.
const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

/// When a token asked for at `asked_at`, living `expires_in` seconds, is renewed: while 60 s or a tenth of its life
/// is left, whichever is less, so no call carries a token that expires on the way.
fn token_refresh_at(asked_at: Instant, expires_in: Option<u64>) -> Instant {
    let lifetime = Duration::from_secs(expires_in.unwrap_or(0)).min(MAX_TOKEN_LIFETIME);
    let margin = (lifetime / 10).min(Duration::from_secs(60));
    asked_at + lifetime.saturating_sub(margin)
}

fn is_status(e: &UpstreamError, code: StatusCode) -> bool {
    matches!(e, UpstreamError::Rejected { status, .. } if *status == code)
}

fn query_string(pairs: &[(String, String)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

/// The `data.id` of a resource document whose `data.type` is `ty`. A reply naming another type, or no id, is
/// malformed: taken as made, it would have a create go on without the line or address it asked for.
fn resource_id(doc: &Value, ty: &str) -> Result<String, UpstreamError> {
    let data = doc.get("data");
    if data.and_then(|d| d.get("type")).and_then(Value::as_str) != Some(ty) {
        return Err(malformed(format!(
            "a resource document whose data is not of type {ty}"
        )));
    }
    data.and_then(|d| d.get("id"))
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| malformed(format!("a {ty} resource document without data.id")))
}

/// `reply`, if it is the resource document of `ty` `id` that an update of it answers with; otherwise the update is
/// not known to be done (a 200 with another body let a create go on as if its addresses were linked).
fn the_resource(reply: Reply, ty: &str, id: &str) -> Result<Reply, UpstreamError> {
    let answered = resource_id(&reply.body, ty)?;
    if answered == id {
        Ok(reply)
    } else {
        Err(malformed(format!(
            "the update of {ty} {id} was answered with {ty} {answered}"
        )))
    }
}

fn attr<'a>(resource: &'a Value, name: &str) -> Option<&'a Value> {
    resource.get("attributes")?.get(name)
}

fn attr_str<'a>(resource: &'a Value, name: &str) -> Option<&'a str> {
    attr(resource, name).and_then(Value::as_str)
}

/// Splits a collection document into one resource document per order, each with the included resources its
/// relationships name (what `decode_order` takes).
fn split_collection(doc: &Value) -> Result<Vec<Value>, UpstreamError> {
    let data = doc
        .get("data")
        .and_then(Value::as_array)
        .ok_or_else(|| malformed("collection document without a data array"))?;
    let included: &[Value] = doc
        .get("included")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut out = Vec::with_capacity(data.len());
    for resource in data {
        let mut wanted: Vec<(String, String)> = Vec::new();
        if let Some(Value::Object(rels)) = resource.get("relationships") {
            for name in rels.keys() {
                for link in linkage(resource, name) {
                    if !wanted.contains(&link) {
                        wanted.push(link);
                    }
                }
            }
        }
        let mine: Vec<Value> = included
            .iter()
            .filter(|r| {
                let ty = r.get("type").and_then(Value::as_str);
                let id = r.get("id").and_then(Value::as_str);
                wanted
                    .iter()
                    .any(|(t, i)| Some(t.as_str()) == ty && Some(i.as_str()) == id)
            })
            .cloned()
            .collect();
        let mut single = Map::new();
        single.insert("data".into(), resource.clone());
        if !mine.is_empty() {
            single.insert("included".into(), Value::Array(mine));
        }
        out.push(Value::Object(single));
    }
    Ok(out)
}

/// The three status attributes of an order as Commerce Layer states them, and its total (for `free`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct WireState {
    status: String,
    payment: String,
    fulfillment: String,
    total_cents: i64,
}

impl WireState {
    fn of(resource: &Value) -> Result<WireState, UpstreamError> {
        let text = |name: &str| {
            attr_str(resource, name)
                .map(str::to_owned)
                .ok_or_else(|| malformed(format!("order resource without {name}")))
        };
        Ok(WireState {
            status: text("status")?,
            payment: text("payment_status")?,
            fulfillment: text("fulfillment_status")?,
            total_cents: attr(resource, "total_amount_with_taxes_cents")
                .or_else(|| attr(resource, "total_amount_cents"))
                .and_then(Value::as_i64)
                .unwrap_or(0),
        })
    }

    fn draft(total_cents: i64) -> WireState {
        WireState {
            status: "draft".into(),
            payment: "unpaid".into(),
            fulfillment: "unfulfilled".into(),
            total_cents,
        }
    }

    /// What Commerce Layer documents each trigger to do (the canonical lifecycle follows the same machine).
    fn after(&self, trigger: &str) -> WireState {
        let mut s = self.clone();
        match trigger {
            "_pending" => s.status = "pending".into(),
            "_place" => {
                s.status = "placed".into();
                if s.total_cents == 0 && s.payment == "unpaid" {
                    s.payment = "free".into();
                }
            }
            "_authorize" => s.payment = "authorized".into(),
            "_approve" => s.status = "approved".into(),
            "_capture" => s.payment = "paid".into(),
            "_refund" => s.payment = "refunded".into(),
            "_fulfill" => s.fulfillment = "fulfilled".into(),
            "_cancel" => {
                s.status = "cancelled".into();
                if s.payment == "authorized" {
                    s.payment = "voided".into();
                }
            }
            _ => {}
        }
        s
    }
}

/// The canonical triple a Commerce Layer order with these attributes decodes to (the codec's tables and its rule
/// that an approved, fulfilled order is completed).
fn canonical_of(status: &str, payment: &str, fulfillment: &str) -> Option<StatusTriple> {
    let t = &tables::get().commercelayer_statuses;
    let fulfillment = t.fulfillment.ingest(fulfillment)?;
    let order = match t.order.ingest(status)? {
        OrderStatus::Processing
            if matches!(
                fulfillment,
                FulfillmentStatus::Fulfilled | FulfillmentStatus::NotRequired
            ) =>
        {
            OrderStatus::Completed
        }
        other => other,
    };
    Some(StatusTriple {
        order,
        payment: t.payment.ingest(payment)?,
        fulfillment,
    })
}

/// The next trigger that moves an order in `state` towards `target`, if any.
fn next_trigger(state: &WireState, target: StatusTriple) -> Option<&'static str> {
    let t = &tables::get().commercelayer_statuses;
    let want_status = t.order.render(target.order);
    let want_payment = t.payment.render(target.payment);
    let want_fulfillment = t.fulfillment.render(target.fulfillment);
    let placed_like = matches!(want_status, "placed" | "approved" | "cancelled");
    match state.status.as_str() {
        "draft" | "pending" if placed_like => return Some("_place"),
        "draft" | "pending" | "cancelled" => return None,
        _ => {}
    }
    let open = matches!(state.status.as_str(), "placed" | "approved");
    if !open {
        return None;
    }
    if state.payment == "unpaid"
        && matches!(want_payment, "authorized" | "paid" | "refunded" | "voided")
    {
        return Some("_authorize");
    }
    if state.status == "placed" && want_status == "approved" {
        return Some("_approve");
    }
    if state.payment == "authorized" && matches!(want_payment, "paid" | "refunded") {
        return Some("_capture");
    }
    if matches!(state.payment.as_str(), "paid" | "partially_refunded") && want_payment == "refunded"
    {
        return Some("_refund");
    }
    // Without shipments of its own, Commerce Layer fulfills only an approved order.
    if state.status == "approved"
        && state.fulfillment != "fulfilled"
        && want_fulfillment == "fulfilled"
    {
        return Some("_fulfill");
    }
    if want_status == "cancelled" {
        return Some("_cancel");
    }
    None
}

/// The triggers that take an order from `state` to `target`, or why Commerce Layer cannot get there.
fn plan_triggers(state: &WireState, target: StatusTriple) -> Result<Vec<&'static str>, String> {
    let mut sim = state.clone();
    let mut plan = Vec::new();
    while let Some(trigger) = next_trigger(&sim, target) {
        if plan.len() >= MAX_TRIGGERS {
            break;
        }
        plan.push(trigger);
        sim = sim.after(trigger);
    }
    // Compared as Commerce Layer spells the states: where the codec collapses canonical states (on hold is
    // placed, declined is cancelled) the create reproduces the collapsed state, as an encode would.
    let t = &tables::get().commercelayer_statuses;
    let paid = |p: &str| if p == "free" { "unpaid" } else { p }.to_owned();
    // Commerce Layer itself moves an order between draft and pending as its line items and email come and go.
    let open = |s: &str| if s == "pending" { "draft" } else { s }.to_owned();
    let reached = (
        open(&sim.status),
        paid(&sim.payment),
        sim.fulfillment.as_str(),
    );
    let wanted = (
        open(t.order.render(target.order)),
        paid(t.payment.render(target.payment)),
        t.fulfillment.render(target.fulfillment),
    );
    if reached == wanted {
        Ok(plan)
    } else {
        Err(format!(
            "Commerce Layer's triggers cannot take an order that is {} / {} / {} to {} / {} / {}",
            state.status,
            state.payment,
            state.fulfillment,
            target.order,
            target.payment,
            target.fulfillment
        ))
    }
}

/// What a create sends, prepared (and refused) before anything is sent.
struct CreatePlan {
    market_id: String,
    order_attrs: Map<String, Value>,
    lines: Vec<Map<String, Value>>,
    billing: Option<Map<String, Value>>,
    shipping: Option<Map<String, Value>>,
    target: StatusTriple,
    total_cents: i64,
    /// The order's own shipping method name, matched against what the market offers when placing.
    shipping_method: Option<String>,
}

fn pick(source: Option<&Value>, keys: &[&str]) -> Map<String, Value> {
    let mut out = Map::new();
    if let Some(Value::Object(m)) = source {
        for k in keys {
            if let Some(v) = m.get(*k) {
                out.insert((*k).to_owned(), v.clone());
            }
        }
    }
    out
}

fn included_by_id<'a>(doc: &'a Value, ty: &str, id: &str) -> Option<&'a Value> {
    doc.get("included")?.as_array()?.iter().find(|r| {
        r.get("type").and_then(Value::as_str) == Some(ty)
            && r.get("id").and_then(Value::as_str) == Some(id)
    })
}

/// The payment source type (`wire_transfers`, `adyen_payments`, …) of payment method `id`, from the document's
/// included payment methods.
fn payment_source_type(doc: &Value, id: &str) -> Option<String> {
    included_by_id(doc, "payment_methods", id)
        .and_then(|m| attr_str(m, "payment_source_type"))
        .map(str::to_owned)
}

impl CreatePlan {
    fn new(order: &Order, ctx: &AdapterContext) -> Result<CreatePlan, UpstreamError> {
        let currency = order.currency.as_str();
        let market_id = ctx.backend.markets.get(currency).cloned().ok_or_else(|| {
            unprocessable(
                ProblemKind::InvalidField,
                format!(
                    "upstream {} has no Commerce Layer market configured for {currency}",
                    ctx.backend.name
                ),
            )
        })?;
        for (i, line) in order.line_items.iter().enumerate() {
            let missing = match line.kind {
                LineKind::Catalog => line.product.sku.is_none(),
                LineKind::Bundle => line.product.bundle_code.is_none(),
                LineKind::Custom => line.name.trim().is_empty(),
            };
            if missing {
                return Err(UpstreamError::unsupported(Problem::new(
                    ProblemKind::InvalidField,
                    format!("/line_items/{i}"),
                    "Commerce Layer needs a sku_code (or bundle_code, or a name for a custom line); the catalog has none for this line",
                )));
            }
        }
        let priced = |what: &str, count: usize| {
            if count > 0 {
                Err(unprocessable(ProblemKind::InvalidField, format!(
                    "Commerce Layer computes {what} itself (shipments, promotions, payment methods); an order carrying its own cannot be created there"
                )))
            } else {
                Ok(())
            }
        };
        priced(
            "shipping costs",
            order
                .shipping_lines
                .iter()
                .filter(|s| !s.amount.is_zero())
                .count(),
        )?;
        priced(
            "fees",
            order.fees.iter().filter(|f| !f.amount.is_zero()).count(),
        )?;
        priced(
            "discounts",
            order
                .discounts
                .iter()
                .filter(|d| !d.amount.is_zero())
                .count(),
        )?;
        if order.shipping_destinations.len() > 1 {
            return Err(unprocessable(
                ProblemKind::InvalidField,
                "Commerce Layer orders ship to one address; this order has several destinations",
            ));
        }
        let total_cents = crate::dialects::commercelayer::resources::wire_cents(order.totals.total);
        let target = order.status_triple();
        plan_triggers(&WireState::draft(total_cents), target).map_err(unsupported)?;

        // The codec's create document carries every field mapping; the plan keeps its writable members.
        let doc = encode_create_request(order).value;
        let data = doc.get("data");
        let mut order_attrs = pick(data.and_then(|d| d.get("attributes")), ORDER_WRITABLE);
        order_attrs.insert("reference_origin".into(), ORIGIN_BUILDING.into());
        let line_docs = included_of_type(&doc, "line_items");
        if line_docs.len() != order.line_items.len() {
            return Err(UpstreamError::Local(
                "the Commerce Layer codec wrote a different number of line items".into(),
            ));
        }
        let lines = line_docs
            .iter()
            .map(|r| {
                let mut a = pick(r.get("attributes"), LINE_WRITABLE);
                if !a.contains_key("sku_code") && !a.contains_key("bundle_code") {
                    // A line without an item is priced and named by the request alone.
                    a.remove("item_type");
                }
                a
            })
            .collect();
        let address = |rel: &str| {
            let link = data?
                .get("relationships")?
                .get(rel)?
                .get("data")?
                .get("id")?
                .as_str()?;
            let res = included_by_id(&doc, "addresses", link)?;
            Some(wire_address_attrs(res.get("attributes")))
        };
        Ok(CreatePlan {
            market_id,
            order_attrs,
            lines,
            billing: address("billing_address"),
            shipping: address("shipping_address"),
            target,
            total_cents,
            shipping_method: shipping_method_of(order),
        })
    }

    fn has_addresses(&self) -> bool {
        self.billing.is_some() || self.shipping.is_some()
    }
}

/// A create's progress as the journal keeps it.
#[derive(Debug, Default)]
struct Progress {
    order_requested: bool,
    order_id: Option<String>,
    line_items: Vec<String>,
    billing_address: Option<String>,
    shipping_address: Option<String>,
    addresses_linked: bool,
    /// An earlier attempt got as far as asking for the order: an address it asked for may exist upstream though the
    /// journal does not name it (its reply was lost), so this attempt looks for it by its reference first.
    resumed: bool,
    /// The order's states as last seen (not journaled: always re-read on resume).
    wire: Option<WireState>,
}

impl Progress {
    fn read(steps: &Value) -> Progress {
        let s = |k: &str| steps.get(k).and_then(Value::as_str).map(str::to_owned);
        let order_requested = steps.get("order_requested").and_then(Value::as_bool) == Some(true);
        let order_id = s("order_id");
        Progress {
            resumed: order_requested || order_id.is_some(),
            order_requested,
            order_id,
            line_items: steps
                .get("line_items")
                .and_then(Value::as_array)
                .map(|l| {
                    l.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            billing_address: s("billing_address"),
            shipping_address: s("shipping_address"),
            addresses_linked: steps.get("addresses_linked").and_then(Value::as_bool) == Some(true),
            wire: None,
        }
    }

    /// Forgets everything (the draft is gone): the next attempt starts over. Addresses made before are not
    /// forgotten: whether any may exist (`resumed`) stays.
    async fn reset(&mut self, journal: &Journal) -> Result<(), UpstreamError> {
        *self = Progress {
            resumed: self.resumed,
            ..Progress::default()
        };
        for key in [
            "order_requested",
            "order_id",
            "line_items",
            "billing_address",
            "shipping_address",
            "addresses_linked",
            "triggers",
        ] {
            journal.record(key, Value::Null).await?;
        }
        Ok(())
    }
}

/// Does an upstream line item stand for the `planned` one (same item or name, same quantity)?
fn line_matches(upstream: &Value, planned: &Map<String, Value>) -> bool {
    let same = |k: &str| attr(upstream, k).filter(|v| !v.is_null()) == planned.get(k);
    same("quantity")
        && if planned.contains_key("sku_code") {
            same("sku_code")
        } else if planned.contains_key("bundle_code") {
            same("bundle_code")
        } else {
            same("name")
        }
}

impl CommerceLayerAdapter {
    pub fn new(ctx: AdapterContext) -> Result<Self, String> {
        let http = UpstreamHttp::new(&ctx.backend, read_error)
            .map_err(|e| format!("backend {}: {e}", ctx.backend.name))?;
        Ok(CommerceLayerAdapter {
            ctx,
            http,
            token: Mutex::new(None),
        })
    }

    /// A usable access token: the cached one unless it is near expiry or is `stale` (just refused with 401).
    async fn token(&self, stale: Option<&str>) -> Result<String, UpstreamError> {
        let mut slot = self.token.lock().await;
        if let Some(t) = slot.as_ref() {
            if stale != Some(t.value.as_str()) && Instant::now() < t.refresh_at {
                return Ok(t.value.clone());
            }
        }
        let fresh = self.fetch_token().await?;
        let value = fresh.value.clone();
        *slot = Some(fresh);
        Ok(value)
    }

    async fn fetch_token(&self) -> Result<Token, UpstreamError> {
        let creds = &self.ctx.backend.credentials;
        let (Some(id), Some(secret)) = (&creds.client_id, &creds.client_secret) else {
            return Err(UpstreamError::Local(format!(
                "backend {} has no Commerce Layer client_id/client_secret",
                self.ctx.backend.name
            )));
        };
        let asked_at = Instant::now();
        // Asking for a token changes nothing upstream: it is safe to resend after any failure.
        let call = Call::new(Method::POST, "/oauth/token")
            .json(json!({
                "grant_type": "client_credentials",
                "client_id": id.expose(),
                "client_secret": secret.expose(),
            }))
            .retry(Retry::Safe);
        let reply = self.http.send(call).await?;
        let value = reply
            .body
            .get("access_token")
            .and_then(Value::as_str)
            // A token is sent in a header: one that cannot be (empty, blanks, control characters) is no token.
            .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_graphic()))
            .ok_or_else(|| malformed("token reply without a usable access_token"))?
            .to_owned();
        let expires_in = reply.body.get("expires_in").and_then(Value::as_u64);
        Ok(Token {
            value,
            refresh_at: token_refresh_at(asked_at, expires_in),
        })
    }

    /// An API call with the bearer token; a 401 fetches a new token and retries the call once (a refused
    /// request was not processed, so resending it cannot duplicate anything).
    async fn api(&self, call: Call) -> Result<Reply, UpstreamError> {
        let call = call.media_type(JSONAPI);
        let token = self.token(None).await?;
        let first = self
            .http
            .send(
                call.clone()
                    .header(AUTHORIZATION, &format!("Bearer {token}")),
            )
            .await;
        match first {
            Err(e) if is_status(&e, StatusCode::UNAUTHORIZED) => {
                let token = self.token(Some(&token)).await?;
                self.http
                    .send(call.header(AUTHORIZATION, &format!("Bearer {token}")))
                    .await
            }
            other => other,
        }
    }

    fn decode(&self, mut doc: Value) -> Result<Order, UpstreamError> {
        forget_shop_links(&mut doc);
        // The included captures stay in the document (kept verbatim for Commerce Layer callers) and also say
        // what was paid and refunded.
        let captures: Vec<Value> = included_of_type(&doc, "captures")
            .into_iter()
            .cloned()
            .collect();
        let mut order = decode_order(doc, &self.ctx.decode).map_err(|p| {
            malformed(format!(
                "Commerce Layer order the codec refuses at {}: {}",
                p.pointer, p.reason
            ))
        })?;
        let captures = captures
            .into_iter()
            .map(|c| self.decode_capture(c, order.currency))
            .collect::<Result<Vec<_>, _>>()?;
        apply_captures(&mut order, &captures);
        from_wire(&mut order);
        Ok(order)
    }

    fn decode_capture(
        &self,
        resource: Value,
        currency: Currency,
    ) -> Result<Capture, UpstreamError> {
        decode_capture(resource, currency).map_err(|p| {
            malformed(format!(
                "Commerce Layer capture the codec refuses at {}: {}",
                p.pointer, p.reason
            ))
        })
    }

    fn order_path(id: &str, include: bool) -> String {
        let id: String = form_urlencoded::byte_serialize(id.as_bytes()).collect();
        if include {
            format!("/api/orders/{id}?include={INCLUDE}")
        } else {
            format!("/api/orders/{id}")
        }
    }

    async fn patch_order(
        &self,
        id: &str,
        attributes: Map<String, Value>,
        relationships: Option<Value>,
        include: bool,
    ) -> Result<Reply, UpstreamError> {
        let mut data = json!({"type": "orders", "id": id, "attributes": attributes});
        if let Some(r) = relationships {
            data["relationships"] = r;
        }
        let reply = self
            .api(
                Call::new(Method::PATCH, Self::order_path(id, include)).json(json!({"data": data})),
            )
            .await?;
        the_resource(reply, "orders", id)
    }

    /// `PATCH /api/{collection}/{id}` with `data` as the resource's members besides `type` and `id`.
    async fn patch_resource(
        &self,
        collection: &str,
        id: &str,
        data: Value,
    ) -> Result<Reply, UpstreamError> {
        let mut resource = json!({"type": collection, "id": id});
        if let (Value::Object(r), Value::Object(members)) = (&mut resource, data) {
            r.extend(members);
        }
        let reply = self
            .api(
                Call::new(
                    Method::PATCH,
                    format!("/api/{collection}/{}", encode_segment(id)),
                )
                .json(json!({"data": resource})),
            )
            .await?;
        the_resource(reply, collection, id)
    }

    async fn trigger(&self, id: &str, name: &str, include: bool) -> Result<Reply, UpstreamError> {
        let mut attrs = Map::new();
        attrs.insert(name.to_owned(), Value::Bool(true));
        self.patch_order(id, attrs, None, include).await
    }

    /// Sends the triggers that take the order from `state` towards `target`, each planned from the state the last
    /// reply showed (so a platform that does more on a trigger than expected is followed, not fought). Returns
    /// the state reached if any trigger was sent.
    async fn drive(
        &self,
        id: &str,
        mut state: WireState,
        target: StatusTriple,
        journal: Option<&Journal>,
        shipping_method: Option<&str>,
    ) -> Result<Option<WireState>, UpstreamError> {
        let mut sent: Vec<&str> = Vec::new();
        while let Some(trigger) = next_trigger(&state, target) {
            if sent.len() >= MAX_TRIGGERS || sent.last() == Some(&trigger) {
                break;
            }
            if trigger == "_place" {
                self.prepare_checkout(id, shipping_method).await?;
            }
            let reply = self.trigger(id, trigger, false).await?;
            let total = state.total_cents;
            state = WireState::of(reply.body.get("data").unwrap_or(&Value::Null))?;
            state.total_cents = total;
            sent.push(trigger);
            if let Some(j) = journal {
                j.record("triggers", json!(sent)).await?;
            }
        }
        Ok((!sent.is_empty()).then_some(state))
    }

    /// What Commerce Layer requires before `_place`: a shipping method on every shipment and, unless the order
    /// is free, a payment method and a payment source. Each is read first and only set when missing, so a retry
    /// after a lost reply sets nothing twice.
    async fn prepare_checkout(
        &self,
        order_id: &str,
        shipping_method: Option<&str>,
    ) -> Result<(), UpstreamError> {
        let choices = &self.ctx.backend.checkout;
        let oid = encode_segment(order_id);
        let reply = self
            .api(Call::get(format!(
                "/api/orders/{oid}/shipments?include=available_shipping_methods,shipping_method&page[size]={MAX_PAGE_SIZE}"
            )))
            .await?;
        let shipments = match reply.body.get("data") {
            Some(Value::Array(items)) => items.clone(),
            _ => return Err(malformed("shipment list without data")),
        };
        for shipment in &shipments {
            if !linkage(shipment, "shipping_method").is_empty() {
                continue;
            }
            let sid = shipment
                .get("id")
                .and_then(Value::as_str)
                .ok_or_else(|| malformed("shipment without id"))?;
            let offered: Vec<(String, String)> = linkage(shipment, "available_shipping_methods")
                .into_iter()
                .map(|(ty, id)| {
                    let name = included_by_id(&reply.body, &ty, &id)
                        .and_then(|m| attr_str(m, "name"))
                        .unwrap_or_default()
                        .to_owned();
                    (id, name)
                })
                .collect();
            let by_name = shipping_method.and_then(|want| {
                offered
                    .iter()
                    .find(|(_, name)| name.eq_ignore_ascii_case(want.trim()))
            });
            let chosen = match (by_name, &choices.shipping_method, offered.as_slice()) {
                (Some((id, _)), _, _) => id.clone(),
                (None, Some(configured), _) => configured.clone(),
                (None, None, [(only, _)]) => only.clone(),
                (None, None, _) => {
                    let names: Vec<&str> = offered.iter().map(|(_, n)| n.as_str()).collect();
                    return Err(unprocessable(ProblemKind::InvalidField, format!(
                        "Commerce Layer offers {} shipping methods for this order's shipment ({}) and the order names none of them; set shipping_method on backend {}",
                        offered.len(),
                        names.join(", "),
                        self.ctx.backend.name
                    )));
                }
            };
            let method = json!({"data": {"type": "shipping_methods", "id": chosen}});
            self.patch_resource(
                "shipments",
                sid,
                json!({"relationships": {"shipping_method": method}}),
            )
            .await?;
        }

        let reply = self
            .api(Call::get(format!(
                "/api/orders/{oid}?include=available_payment_methods,payment_method,payment_source"
            )))
            .await?;
        let order = reply.body.get("data").unwrap_or(&Value::Null);
        let total = WireState::of(order)?.total_cents;
        if total == 0 {
            return Ok(());
        }
        let source_type = |id: &str| payment_source_type(&reply.body, id);
        let (method, source) = match linkage(order, "payment_method").into_iter().next() {
            Some((_, id)) => {
                let ty = source_type(&id);
                (id, ty)
            }
            None => {
                let offered: Vec<String> = linkage(order, "available_payment_methods")
                    .into_iter()
                    .map(|(_, id)| id)
                    .collect();
                let chosen = match &choices.payment_method {
                    Some(configured) => configured.clone(),
                    None => offered
                        .iter()
                        .find(|id| {
                            source_type(id).is_some_and(|t| SOURCES_WITHOUT_CUSTOMER.contains(&t.as_str()))
                        })
                        .cloned()
                        .ok_or_else(|| {
                            unprocessable(ProblemKind::InvalidField, format!(
                                "Commerce Layer offers this order no payment method ordermux can pay with (a wire transfer or an external payment); set payment_method on backend {}",
                                self.ctx.backend.name
                            ))
                        })?,
                };
                let body = json!({"data": {"type": "orders", "id": order_id, "relationships": {
                    "payment_method": {"data": {"type": "payment_methods", "id": chosen}}}}});
                let set = self
                    .api(
                        Call::new(
                            Method::PATCH,
                            format!("/api/orders/{oid}?include=payment_method"),
                        )
                        .json(body),
                    )
                    .await?;
                let set = the_resource(set, "orders", order_id)?;
                // A configured method the order did not list: its source type comes back with the order.
                let ty = source_type(&chosen).or_else(|| payment_source_type(&set.body, &chosen));
                (chosen, ty)
            }
        };
        if !linkage(order, "payment_source").is_empty() {
            return Ok(());
        }
        let order_link = json!({"data": {"type": "orders", "id": order_id}});
        let (path, body) = match source.as_deref() {
            Some("wire_transfers") => (
                "/api/wire_transfers",
                json!({"data": {"type": "wire_transfers", "relationships": {"order": order_link}}}),
            ),
            Some("external_payments") => (
                "/api/external_payments",
                json!({"data": {"type": "external_payments",
                    "attributes": {"payment_source_token": format!("ordermux:{order_id}")},
                    "relationships": {"order": order_link}}}),
            ),
            other => {
                return Err(unprocessable(ProblemKind::InvalidField, format!(
                    "Commerce Layer payment method {method} ({}) needs the customer's payment details; ordermux pays with a wire transfer or an external payment",
                    other.unwrap_or("unknown source type")
                )))
            }
        };
        let made = self.api(Call::new(Method::POST, path).json(body)).await?;
        // The path is `/api/<type>`: the reply must be the payment source made.
        resource_id(&made.body, path.trim_start_matches("/api/"))?;
        Ok(())
    }

    /// Orders whose `reference` is exactly `stamp`, as single resource documents (with their includes).
    async fn by_reference(&self, stamp: &Stamp) -> Result<Vec<Value>, UpstreamError> {
        let q = query_string(&[
            ("filter[q][reference_eq]".into(), stamp.key().to_owned()),
            ("include".into(), INCLUDE.into()),
            ("sort".into(), "created_at".into()),
            ("page[size]".into(), MAX_PAGE_SIZE.to_string()),
        ]);
        let reply = self.api(Call::get(format!("/api/orders?{q}"))).await?;
        Ok(split_collection(&reply.body)?
            .into_iter()
            .filter(|d| d.get("data").and_then(|r| attr_str(r, "reference")) == Some(stamp.key()))
            .collect())
    }

    pub async fn create(
        &self,
        order: &Order,
        stamp: &Stamp,
        journal: &Journal,
    ) -> Result<Order, UpstreamError> {
        let plan = CreatePlan::new(&to_wire(order), &self.ctx)?;
        let mut progress = Progress::read(&journal.steps());
        match self.build(&plan, stamp, journal, &mut progress).await {
            Ok(created) => Ok(created),
            Err(e @ (UpstreamError::Rejected { .. } | UpstreamError::Unsupported(_))) => {
                // Commerce Layer refused a step, or placing needs a choice ordermux cannot make: nothing
                // half-made may stay upstream under this stamp. Progress is forgotten only once the draft is
                // gone; otherwise the next attempt resumes (and cleans) it.
                if progress.order_id.is_some() && self.abandon(&progress, stamp).await {
                    progress.reset(journal).await?;
                }
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    /// Makes a caller's standalone address (`POST /api/addresses`), carrying `stamp`'s reference, so that
    /// `address_by_stamp` finds it when the reply is lost.
    pub async fn create_address(
        &self,
        address: &Address,
        stamp: &Stamp,
    ) -> Result<Address, UpstreamError> {
        let resource = encode_address(address);
        let mut attrs = wire_address_attrs(resource.get("attributes"));
        attrs.insert(
            "reference".into(),
            address_reference(stamp, STANDALONE).into(),
        );
        let body = json!({"data": {"type": "addresses", "attributes": attrs}});
        let reply = self
            .api(Call::new(Method::POST, "/api/addresses").json(body))
            .await?;
        self.decode_address(reply.body)
    }

    /// The standalone address made under `stamp`, if one was.
    pub async fn address_by_stamp(&self, stamp: &Stamp) -> Result<Option<Address>, UpstreamError> {
        let made = self
            .addresses_by_reference(&address_reference(stamp, STANDALONE))
            .await?;
        match made.first() {
            Some(id) => self.address(id).await,
            None => Ok(None),
        }
    }

    /// The address `id` (`GET /api/addresses/{id}`); `None` when the shop has no such address.
    pub async fn address(&self, id: &str) -> Result<Option<Address>, UpstreamError> {
        let call = Call::get(format!("/api/addresses/{}", encode_segment(id)));
        match self.api(call).await {
            Ok(reply) => self.decode_address(reply.body).map(Some),
            Err(e) if is_status(&e, StatusCode::NOT_FOUND) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn decode_address(&self, mut doc: Value) -> Result<Address, UpstreamError> {
        forget_shop_links(&mut doc);
        let mut address = decode_address_resource(doc).map_err(|p| {
            malformed(format!(
                "Commerce Layer address the codec refuses at {}: {}",
                p.pointer, p.reason
            ))
        })?;
        address_from_wire(&mut address);
        Ok(address)
    }

    /// Ids of the addresses whose `reference` is exactly `reference` (at most a page: a create makes one per role).
    async fn addresses_by_reference(&self, reference: &str) -> Result<Vec<String>, UpstreamError> {
        let q = query_string(&[
            ("filter[q][reference_eq]".into(), reference.to_owned()),
            ("sort".into(), "created_at".into()),
            ("page[size]".into(), MAX_PAGE_SIZE.to_string()),
        ]);
        let reply = self.api(Call::get(format!("/api/addresses?{q}"))).await?;
        let Some(Value::Array(data)) = reply.body.get("data") else {
            return Err(malformed(
                "Commerce Layer address list without a data array",
            ));
        };
        Ok(data
            .iter()
            .filter(|r| attr_str(r, "reference") == Some(reference))
            .filter_map(|r| r.get("id").and_then(Value::as_str).map(str::to_owned))
            .collect())
    }

    /// Deletes every unfinished draft under `stamp` (a create no caller came back to finish), and the addresses it
    /// made: those its journal `steps` name and those carrying its `address_reference` (a reply lost). An order
    /// under it that is finished, or placed though unfinished, is left: the first is the create's result, which a
    /// retry finds; the second is an order the shop may already act on.
    pub async fn remove_unfinished(
        &self,
        stamp: &Stamp,
        steps: &Value,
    ) -> Result<Unfinished, UpstreamError> {
        let progress = Progress::read(steps);
        let found = self.by_reference(stamp).await?;
        if found.is_empty() {
            self.remove_addresses(&progress, Some(stamp)).await?;
            return Ok(Unfinished::Nothing);
        }
        let mut drafts = Vec::new();
        let mut placed = false;
        for doc in &found {
            let Some(data) = doc.get("data") else {
                continue;
            };
            if attr_str(data, "reference_origin") == Some(ORIGIN) {
                return Ok(Unfinished::Complete);
            }
            match attr_str(data, "status") {
                Some("draft" | "pending") => {
                    if let Some(id) = data.get("id").and_then(Value::as_str) {
                        drafts.push(id.to_owned());
                    }
                }
                _ => placed = true,
            }
        }
        if placed {
            return Ok(Unfinished::Placed);
        }
        for id in &drafts {
            match self.delete(id).await {
                Ok(()) => {}
                Err(e) if is_status(&e, StatusCode::NOT_FOUND) => {}
                Err(e) => return Err(e),
            }
        }
        self.remove_addresses(&progress, Some(stamp)).await?;
        Ok(Unfinished::Removed(drafts.len()))
    }

    /// Removes the draft a refused create leaves behind, and the addresses it made for it (a placed one cannot be
    /// deleted: it is cancelled, and keeps its incomplete mark and addresses). True when nothing live is left.
    async fn abandon(&self, progress: &Progress, stamp: &Stamp) -> bool {
        let Some(id) = &progress.order_id else {
            return true;
        };
        let placed = progress
            .wire
            .as_ref()
            .is_some_and(|w| !matches!(w.status.as_str(), "draft" | "pending"));
        let outcome = if placed {
            self.trigger(id, "_cancel", false).await.map(|_| ())
        } else {
            self.delete(id).await
        };
        let gone = match outcome {
            Ok(()) => true,
            Err(e) if is_status(&e, StatusCode::NOT_FOUND) => true,
            Err(e) => {
                tracing::warn!(backend = %self.ctx.backend.name, order = %id, error = %e.for_log(), "could not remove the draft of a refused create");
                false
            }
        };
        if gone && !placed {
            // An attempt adopts an address whose reply was lost when it reaches the address step; one that
            // resumed an earlier attempt may be refused before that, so those it may have left are looked for.
            let left_before = progress.resumed.then_some(stamp);
            if let Err(e) = self.remove_addresses(progress, left_before).await {
                tracing::warn!(backend = %self.ctx.backend.name, order = %id, error = %e.for_log(), "could not remove the addresses of a refused create");
            }
        }
        gone
    }

    /// Deletes the addresses a create made for its draft (they belong to no one else) once the draft is gone: those
    /// `progress` names, and with `stamp` those carrying its `address_reference`s too.
    async fn remove_addresses(
        &self,
        progress: &Progress,
        stamp: Option<&Stamp>,
    ) -> Result<(), UpstreamError> {
        let mut ids: Vec<String> = [&progress.billing_address, &progress.shipping_address]
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        if let Some(stamp) = stamp {
            for role in ["billing_address", "shipping_address"] {
                for id in self
                    .addresses_by_reference(&address_reference(stamp, role))
                    .await?
                {
                    if !ids.contains(&id) {
                        ids.push(id);
                    }
                }
            }
        }
        for id in &ids {
            let call = Call::new(
                Method::DELETE,
                format!("/api/addresses/{}", encode_segment(id)),
            );
            match self.api(call).await {
                Ok(_) => {}
                Err(e) if is_status(&e, StatusCode::NOT_FOUND) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    async fn build(
        &self,
        plan: &CreatePlan,
        stamp: &Stamp,
        journal: &Journal,
        progress: &mut Progress,
    ) -> Result<Order, UpstreamError> {
        // Step 1: the order, or the one an earlier attempt made.
        if progress.order_id.is_none() && progress.order_requested {
            // The order request of an earlier attempt went unanswered: it may have created the order.
            let mut found = self.by_reference(stamp).await?;
            if let Some(pos) = found.iter().position(|d| {
                d.get("data").and_then(|r| attr_str(r, "reference_origin")) == Some(ORIGIN)
            }) {
                return self.decode(found.swap_remove(pos));
            }
            if let Some(doc) = found.into_iter().next() {
                let id = resource_id(&doc, "orders")?;
                journal.record("order_id", json!(id)).await?;
                progress.order_id = Some(id);
                self.reconcile(plan, &doc, journal, progress).await?;
            }
        } else if let Some(id) = progress.order_id.clone() {
            match self.api(Call::get(Self::order_path(&id, true))).await {
                Ok(reply) => self.reconcile(plan, &reply.body, journal, progress).await?,
                Err(e) if is_status(&e, StatusCode::NOT_FOUND) => progress.reset(journal).await?,
                Err(e) => return Err(e),
            }
        }
        let order_id = match progress.order_id.clone() {
            Some(id) => id,
            None => {
                journal.record("order_requested", json!(true)).await?;
                progress.order_requested = true;
                let mut attrs = plan.order_attrs.clone();
                attrs.insert("reference".into(), stamp.key().into());
                let body = json!({"data": {
                    "type": "orders",
                    "attributes": attrs,
                    "relationships": {"market": {"data": {"type": "markets", "id": plan.market_id}}},
                }});
                let reply = self
                    .api(Call::new(Method::POST, "/api/orders").json(body))
                    .await?;
                let id = resource_id(&reply.body, "orders")?;
                journal.record("order_id", json!(id)).await?;
                progress.order_id = Some(id.clone());
                progress.wire = reply.body.get("data").map(WireState::of).transpose()?;
                id
            }
        };

        // Step 2: line items, one at a time, each recorded before the next.
        while progress.line_items.len() < plan.lines.len() {
            let Some(attrs) = plan.lines.get(progress.line_items.len()) else {
                break;
            };
            let body = json!({"data": {
                "type": "line_items",
                "attributes": attrs,
                "relationships": {"order": {"data": {"type": "orders", "id": order_id}}},
            }});
            let reply = self
                .api(Call::new(Method::POST, "/api/line_items").json(body))
                .await?;
            progress
                .line_items
                .push(resource_id(&reply.body, "line_items")?);
            journal
                .record("line_items", json!(progress.line_items))
                .await?;
        }

        // Step 3: addresses, then the order's relationships to them.
        if plan.has_addresses() && !progress.addresses_linked {
            let progress_resumed = progress.resumed;
            for (key, attrs) in [
                ("billing_address", &plan.billing),
                ("shipping_address", &plan.shipping),
            ] {
                let Some(attrs) = attrs else { continue };
                let done = if key == "billing_address" {
                    &mut progress.billing_address
                } else {
                    &mut progress.shipping_address
                };
                if done.is_some() {
                    continue;
                }
                let reference = address_reference(stamp, key);
                let made_before = if progress_resumed {
                    self.addresses_by_reference(&reference)
                        .await?
                        .into_iter()
                        .next()
                } else {
                    None
                };
                let id = match made_before {
                    Some(id) => id,
                    None => {
                        let mut attrs = attrs.clone();
                        attrs.insert("reference".into(), reference.into());
                        let body = json!({"data": {"type": "addresses", "attributes": attrs}});
                        let reply = self
                            .api(Call::new(Method::POST, "/api/addresses").json(body))
                            .await?;
                        resource_id(&reply.body, "addresses")?
                    }
                };
                journal.record(key, json!(id)).await?;
                *done = Some(id);
            }
            let mut rels = Map::new();
            for (key, id) in [
                ("billing_address", &progress.billing_address),
                ("shipping_address", &progress.shipping_address),
            ] {
                if let Some(id) = id {
                    rels.insert(key.into(), json!({"data": {"type": "addresses", "id": id}}));
                }
            }
            let reply = self
                .patch_order(&order_id, Map::new(), Some(Value::Object(rels)), false)
                .await?;
            progress.wire = reply.body.get("data").map(WireState::of).transpose()?;
            journal.record("addresses_linked", json!(true)).await?;
            progress.addresses_linked = true;
        }

        // Step 4: the triggers that give the order the caller's states, re-planned from each reply.
        let mut state = match progress.wire.clone() {
            Some(w) => w,
            None => {
                let reply = self
                    .api(Call::get(Self::order_path(&order_id, false)))
                    .await?;
                WireState::of(reply.body.get("data").unwrap_or(&Value::Null))?
            }
        };
        state.total_cents = plan.total_cents.max(state.total_cents);
        if let Some(reached) = self
            .drive(
                &order_id,
                state,
                plan.target,
                Some(journal),
                plan.shipping_method.as_deref(),
            )
            .await?
        {
            progress.wire = Some(reached);
        }

        // Step 5: the order is complete; only now may `find_by_stamp` answer it.
        let mut attrs = Map::new();
        attrs.insert("reference_origin".into(), ORIGIN.into());
        let reply = self.patch_order(&order_id, attrs, None, true).await?;
        self.decode(reply.body)
    }

    /// Brings `progress` up to date with the order an earlier attempt left (`doc`, with its includes): line
    /// items and addresses it made whose replies were lost, and the states it reached.
    async fn reconcile(
        &self,
        plan: &CreatePlan,
        doc: &Value,
        journal: &Journal,
        progress: &mut Progress,
    ) -> Result<(), UpstreamError> {
        let data = doc.get("data").unwrap_or(&Value::Null);
        progress.wire = Some(WireState::of(data)?);
        let known: HashSet<String> = progress.line_items.iter().cloned().collect();
        let mut adopted = false;
        for (ty, id) in linkage(data, "line_items") {
            if known.contains(&id) {
                continue;
            }
            let Some(line) = included_by_id(doc, &ty, &id) else {
                continue;
            };
            let Some(next) = plan.lines.get(progress.line_items.len()) else {
                break;
            };
            if line_matches(line, next) {
                progress.line_items.push(id);
                adopted = true;
            }
        }
        if adopted {
            journal
                .record("line_items", json!(progress.line_items))
                .await?;
        }
        if plan.has_addresses() && !progress.addresses_linked {
            let billing = linkage(data, "billing_address").into_iter().next();
            let shipping = linkage(data, "shipping_address").into_iter().next();
            let linked = (plan.billing.is_none() || billing.is_some())
                && (plan.shipping.is_none() || shipping.is_some());
            if linked {
                journal.record("addresses_linked", json!(true)).await?;
                progress.addresses_linked = true;
            }
        }
        Ok(())
    }

    pub async fn find_by_stamp(&self, stamp: &Stamp) -> Result<Option<Order>, UpstreamError> {
        Ok(self.look_up_stamp(stamp).await?.order)
    }

    /// The complete order carrying `stamp`, or whether any order carries it (a half-built one), from one
    /// reference look-up.
    pub async fn look_up_stamp(&self, stamp: &Stamp) -> Result<StampLookup, UpstreamError> {
        let found = self.by_reference(stamp).await?;
        let unfinished = !found.is_empty();
        match found
            .into_iter()
            .find(|d| d.get("data").and_then(|r| attr_str(r, "reference_origin")) == Some(ORIGIN))
        {
            Some(doc) => Ok(StampLookup {
                order: Some(self.decode(doc)?),
                unfinished: false,
            }),
            None => Ok(StampLookup {
                order: None,
                unfinished,
            }),
        }
    }

    pub async fn get(&self, upstream_id: &str) -> Result<Order, UpstreamError> {
        let reply = self
            .api(Call::get(Self::order_path(upstream_id, true)))
            .await?;
        self.decode(reply.body)
    }

    /// The order's captures, oldest first.
    async fn captures(
        &self,
        order_id: &str,
        currency: Currency,
    ) -> Result<Vec<Capture>, UpstreamError> {
        let reply = self
            .api(Call::get(format!(
                "/api/orders/{}/captures?sort=created_at&page[size]={MAX_PAGE_SIZE}",
                encode_segment(order_id)
            )))
            .await?;
        let Some(Value::Array(items)) = reply.body.get("data") else {
            return Err(malformed("capture list without data"));
        };
        items
            .iter()
            .map(|c| self.decode_capture(c.clone(), currency))
            .collect()
    }

    /// Refunds `amount` from the order's captures, oldest first (an order normally has one). A refund whose
    /// outcome is unknown is settled by reading the capture back: its balance says whether it happened, so a
    /// retry can never refund twice.
    async fn refund_from_captures(
        &self,
        order_id: &str,
        amount: Money,
    ) -> Result<(), UpstreamError> {
        let captures = self.captures(order_id, amount.currency).await?;
        let open: Vec<&Capture> = captures
            .iter()
            .filter(|c| c.succeeded && c.refund_balance.minor > 0)
            .collect();
        let available: i64 = open.iter().map(|c| c.refund_balance.minor).sum();
        if available < amount.minor {
            return Err(UpstreamError::unsupported(Problem::new(
                ProblemKind::InvalidTransition,
                "",
                format!(
                    "Commerce Layer has {} {} left to refund on this order's captures, less than the {} asked",
                    Money::new(available, amount.currency).to_decimal(),
                    amount.currency,
                    amount.to_decimal()
                ),
            )));
        }
        let mut left = amount.minor;
        for capture in open {
            if left == 0 {
                break;
            }
            let part = Money::new(left.min(capture.refund_balance.minor), amount.currency);
            let doc =
                encode_capture_refund(&capture.id, part).map_err(UpstreamError::unsupported)?;
            let path = format!("/api/captures/{}", encode_segment(&capture.id));
            match self.api(Call::new(Method::PATCH, &path).json(doc)).await {
                Ok(reply) => {
                    the_resource(reply, "captures", &capture.id)?;
                }
                Err(e) if e.outcome_unknown() => {
                    let reply = self.api(Call::get(&path)).await?;
                    let data = reply.body.get("data").cloned();
                    let now = self.decode_capture(
                        data.ok_or_else(|| malformed("capture reply without data"))?,
                        amount.currency,
                    )?;
                    if now.refund_balance.minor != capture.refund_balance.minor - part.minor {
                        return Err(e);
                    }
                }
                Err(e) => return Err(e),
            }
            left -= part.minor;
        }
        Ok(())
    }

    /// `Adapter::list`: an order whose document does not decode is set aside, by its id and, when that much
    /// reads, its creation time.
    pub async fn list(&self, query: &OrderQuery) -> Result<Listed, UpstreamError> {
        let (docs, total) = self.list_docs(query).await?;
        Ok(Listed {
            total,
            ..self.decode_each(docs)?
        })
    }

    /// Each listed order decoded, those that do not decode set apart.
    fn decode_each(&self, docs: Vec<Value>) -> Result<Listed, UpstreamError> {
        let mut listed = Listed::default();
        for doc in docs {
            // Without its id, the order cannot even be named: the page itself is unreadable.
            let id = resource_id(&doc, "orders")?;
            let created_at = doc
                .pointer("/data/attributes/created_at")
                .and_then(Value::as_str)
                .and_then(crate::dialects::dates::parse_iso_or_naive);
            match self.decode(doc) {
                Ok(order) => listed.items.push(order),
                Err(UpstreamError::Malformed(reason)) => listed.unreadable.push(Unreadable {
                    id,
                    created_at,
                    reason,
                }),
                Err(e) => return Err(e),
            }
        }
        Ok(listed)
    }

    /// One page's order documents (each with its includes), assembled from Commerce Layer's own pages, and the
    /// total.
    async fn list_docs(&self, query: &OrderQuery) -> Result<(Vec<Value>, u64), UpstreamError> {
        let mut params = list_filters(query)?;
        let Some(mut filters) = params.take() else {
            // The status filter matches nothing Commerce Layer can hold.
            return Ok((Vec::new(), 0));
        };
        let sort = match query.sort {
            SortKey::Id | SortKey::CreatedAt => "created_at",
            SortKey::UpdatedAt => "updated_at",
            SortKey::Total => "total_amount_cents",
            SortKey::Status => "status",
        };
        filters.push((
            "sort".into(),
            format!("{}{sort}", if query.descending { "-" } else { "" }),
        ));
        filters.push(("include".into(), INCLUDE.into()));
        let per_page = query.per_page.max(1);
        let page = query.page.max(1);
        // Commerce Layer pages hold at most 25: a larger page is assembled from the upstream pages covering it.
        let (size, first, last, skip) = if per_page <= MAX_PAGE_SIZE {
            (per_page, page, page, 0usize)
        } else {
            let offset = u64::from(page - 1) * u64::from(per_page);
            let size = u64::from(MAX_PAGE_SIZE);
            let first = offset / size + 1;
            let last = (offset + u64::from(per_page) - 1) / size + 1;
            if last - first + 1 > u64::from(MAX_PAGES_PER_LIST) {
                return Err(unsupported(format!(
                    "Commerce Layer lists at most {MAX_PAGE_SIZE} orders a page; pages of {per_page} are more than ordermux assembles"
                )));
            }
            let to_u32 = |n: u64| u32::try_from(n).map_err(|_| unsupported("page out of range"));
            (
                MAX_PAGE_SIZE,
                to_u32(first)?,
                to_u32(last)?,
                usize::try_from(offset - (first - 1) * size).unwrap_or(0),
            )
        };
        let mut docs = Vec::new();
        let mut total = 0u64;
        for n in first..=last {
            let mut q = filters.clone();
            q.push(("page[number]".into(), n.to_string()));
            q.push(("page[size]".into(), size.to_string()));
            let reply = self
                .api(Call::get(format!("/api/orders?{}", query_string(&q))))
                .await?;
            total = reply
                .body
                .get("meta")
                .and_then(|m| m.get("record_count"))
                .and_then(Value::as_u64)
                .ok_or_else(|| malformed("order list without meta.record_count"))?;
            let got = split_collection(&reply.body)?;
            let short = got.len() < size as usize;
            docs.extend(got);
            if short {
                break;
            }
        }
        let docs = docs
            .into_iter()
            .skip(skip)
            .take(per_page as usize)
            .collect();
        Ok((docs, total))
    }

    pub async fn update(&self, before: &Order, after: &Order) -> Result<Order, UpstreamError> {
        let id = own_id(before)?;
        let changes = UpdatePlan::new(&to_wire(before), &to_wire(after))?;
        // States the change asks for (a caller's `_place` in the same PATCH, a mark-as-paid) are reached with
        // triggers after the data changes; refused up front when no trigger path leads there.
        let target = after.status_triple();
        let start = WireState {
            total_cents: crate::dialects::commercelayer::resources::wire_cents(after.totals.total),
            ..wire_of(before)
        };
        plan_triggers(&start, target).map_err(unsupported)?;
        for line_id in &changes.removed_lines {
            self.api(Call::new(
                Method::DELETE,
                format!("/api/line_items/{}", encode_segment(line_id)),
            ))
            .await?;
        }
        for (line_id, attrs) in &changes.changed_lines {
            self.patch_resource("line_items", line_id, json!({"attributes": attrs}))
                .await?;
        }
        for attrs in &changes.new_lines {
            let body = json!({"data": {
                "type": "line_items",
                "attributes": attrs,
                "relationships": {"order": {"data": {"type": "orders", "id": id}}},
            }});
            let made = self
                .api(Call::new(Method::POST, "/api/line_items").json(body))
                .await?;
            resource_id(&made.body, "line_items")?;
        }
        let mut rels = Map::new();
        for (key, change) in [
            ("billing_address", &changes.billing),
            ("shipping_address", &changes.shipping),
        ] {
            match change {
                AddressChange::Keep => {}
                AddressChange::Detach => {
                    rels.insert(key.into(), json!({"data": null}));
                }
                AddressChange::Edit(address_id, attrs) => {
                    self.patch_resource("addresses", address_id, json!({"attributes": attrs}))
                        .await?;
                }
                AddressChange::Link(address_id) => {
                    rels.insert(
                        key.into(),
                        json!({"data": {"type": "addresses", "id": address_id}}),
                    );
                }
                AddressChange::New(attrs) => {
                    let body = json!({"data": {"type": "addresses", "attributes": attrs}});
                    let reply = self
                        .api(Call::new(Method::POST, "/api/addresses").json(body))
                        .await?;
                    let address_id = resource_id(&reply.body, "addresses")?;
                    rels.insert(
                        key.into(),
                        json!({"data": {"type": "addresses", "id": address_id}}),
                    );
                }
            }
        }
        let reply = if !changes.order_attrs.is_empty() || !rels.is_empty() {
            let rels = (!rels.is_empty()).then_some(Value::Object(rels));
            self.patch_order(&id, changes.order_attrs.clone(), rels, true)
                .await?
        } else {
            self.api(Call::get(Self::order_path(&id, true))).await?
        };
        let state = WireState::of(reply.body.get("data").unwrap_or(&Value::Null))?;
        match self
            .drive(
                &id,
                state,
                target,
                None,
                shipping_method_of(after).as_deref(),
            )
            .await?
        {
            Some(_) => self.get(&id).await,
            None => self.decode(reply.body),
        }
    }

    pub async fn transition(
        &self,
        before: &Order,
        transition: &Transition,
        after: &Order,
    ) -> Result<Order, UpstreamError> {
        let id = own_id(before)?;
        let state = WireState {
            total_cents: crate::dialects::commercelayer::resources::wire_cents(before.totals.total),
            ..wire_of(before)
        };
        if let Transition::Refund { amount } = transition {
            let paid = before
                .totals
                .paid_total
                .map_or(before.totals.total.minor, |p| p.minor);
            let refundable = paid - before.totals.refunded_total.map_or(0, |r| r.minor);
            let amount = amount.unwrap_or(Money::new(refundable, before.currency));
            // The order's `_refund` refunds a whole captured order; a part, or what earlier parts left, comes from
            // its captures.
            if amount.minor != paid {
                self.refund_from_captures(&id, amount).await?;
                return self.get(&id).await;
            }
        }
        if let Transition::MarkPaid { method: Some(_) } = transition {
            tracing::debug!("Commerce Layer keeps no payment method name on a capture; not sent");
        }
        // Every variant is the trigger path to the states the lifecycle computed: `_place`, `_approve`,
        // `_authorize`, `_capture`, `_refund`, `_fulfill`, `_cancel` alone for the plain variants; mark-as-paid is
        // `_authorize` + `_capture`; a direct set is whatever path leads there (none: refused before sending).
        let plan = plan_triggers(&state, after.status_triple())
            .map_err(|reason| unprocessable(ProblemKind::InvalidTransition, reason))?;
        if plan.is_empty() {
            return Err(unprocessable(
                ProblemKind::InvalidTransition,
                format!(
                    "Commerce Layer has no trigger for {} on an order that is {} / {} / {}",
                    transition.name(),
                    state.status,
                    state.payment,
                    state.fulfillment
                ),
            ));
        }
        self.drive(
            &id,
            state,
            after.status_triple(),
            None,
            shipping_method_of(after).as_deref(),
        )
        .await?;
        self.get(&id).await
    }

    pub async fn delete(&self, upstream_id: &str) -> Result<(), UpstreamError> {
        self.api(Call::new(
            Method::DELETE,
            Self::order_path(upstream_id, false),
        ))
        .await
        .map(|_| ())
    }
}

fn encode_segment(id: &str) -> String {
    form_urlencoded::byte_serialize(id.as_bytes()).collect()
}

/// The shipping method the order names (its first shipping line's), if any.
fn shipping_method_of(order: &Order) -> Option<String> {
    order
        .shipping_lines
        .iter()
        .find_map(|s| s.method.clone())
        .filter(|m| !m.trim().is_empty())
}

fn own_id(order: &Order) -> Result<String, UpstreamError> {
    order
        .ids
        .platform
        .commercelayer
        .clone()
        .ok_or_else(|| UpstreamError::Local("the order has no Commerce Layer id".into()))
}

/// The order's states as Commerce Layer spells them.
fn wire_of(order: &Order) -> WireState {
    let t = &tables::get().commercelayer_statuses;
    WireState {
        status: t.order.render(order.status).to_owned(),
        payment: t.payment.render(order.payment_status).to_owned(),
        fulfillment: t.fulfillment.render(order.fulfillment_status).to_owned(),
        total_cents: 0,
    }
}

/// `filter[q][...]` parameters for a query's filter; `Ok(None)` when its status set matches no Commerce Layer
/// order at all.
fn list_filters(query: &OrderQuery) -> Result<Option<Vec<(String, String)>>, UpstreamError> {
    let f = &query.filter;
    let mut out: Vec<(String, String)> = Vec::new();
    let mut q = |pred: &str, v: String| out.push((format!("filter[q][{pred}]"), v));
    if f.id_range.is_some() {
        return Err(unsupported(
            "Commerce Layer order ids are strings, not numbers: they cannot be filtered by range",
        ));
    }
    if let Some(triples) = &f.statuses {
        match status_predicates(triples)? {
            None => return Ok(None),
            Some(preds) => {
                for (p, v) in preds {
                    q(p, v);
                }
            }
        }
    }
    if let Some(e) = &f.email {
        q("customer_email_eq", e.clone());
    }
    if let Some(n) = &f.number {
        q("number_eq", n.clone());
    }
    if let Some(r) = &f.reference {
        q("reference_eq", r.clone());
    }
    if let Some(c) = &f.currency {
        q("currency_code_eq", c.to_ascii_uppercase());
    }
    if f.total.min.is_some() || f.total.max.is_some() {
        // Commerce Layer states HUF unscaled; the filter's minor units follow the currency when one is named.
        let places = f
            .currency
            .as_deref()
            .and_then(|c| crate::canonical::Currency::parse(c).ok())
            .map(|c| (c.exponent(), cents_exponent(c)));
        let wire = |minor: i64| match places {
            Some((from, to)) => {
                crate::canonical::money::rescale(minor, from, to).unwrap_or_else(|r| r)
            }
            None => minor,
        };
        if let Some(min) = f.total.min {
            q("total_amount_cents_gteq", wire(min).to_string());
        }
        if let Some(max) = f.total.max {
            q("total_amount_cents_lteq", wire(max).to_string());
        }
    }
    for (name, range) in [("created_at", &f.created), ("updated_at", &f.updated)] {
        if let Some(min) = &range.min {
            q(&format!("{name}_gteq"), render_iso_millis(min));
        }
        if let Some(max) = &range.max {
            q(&format!("{name}_lteq"), render_iso_millis(max));
        }
    }
    if let Some((platform, id)) = &f.customer {
        if *platform != Platform::CommerceLayer {
            return Err(unsupported(
                "the customer filter names a customer in another platform's ids",
            ));
        }
        q("customer_id_eq", id.clone());
    }
    if let Some(text) = &f.search {
        // The closest predicate Commerce Layer has: number or customer email containing the text (customer
        // names live on addresses and customers, which an order filter cannot reach).
        q("number_or_customer_email_cont", text.clone());
    }
    Ok(Some(out))
}

/// `status_in` / `payment_status_in` / `fulfillment_status_in` for a set of canonical triples: exact only when the
/// Commerce Layer spellings that decode into the set form a product of the three axes; otherwise refused.
#[allow(clippy::type_complexity)]
fn status_predicates(
    triples: &[StatusTriple],
) -> Result<Option<Vec<(&'static str, String)>>, UpstreamError> {
    let mut kept: BTreeSet<(&str, &str, &str)> = BTreeSet::new();
    for s in WIRE_STATUSES {
        for p in WIRE_PAYMENTS {
            for f in WIRE_FULFILLMENTS {
                if canonical_of(s, p, f).is_some_and(|c| triples.contains(&c)) {
                    kept.insert((s, p, f));
                }
            }
        }
    }
    if kept.is_empty() {
        return Ok(None);
    }
    let axis = |pick: fn(&(&'static str, &'static str, &'static str)) -> &'static str| {
        kept.iter().map(pick).collect::<BTreeSet<&str>>()
    };
    let (ss, ps, fs) = (axis(|t| t.0), axis(|t| t.1), axis(|t| t.2));
    if kept.len() != ss.len() * ps.len() * fs.len() {
        return Err(unsupported(
            "this status filter combines order, payment and fulfillment states in a way Commerce Layer's filters cannot express",
        ));
    }
    let mut preds = Vec::new();
    for (name, set, all) in [
        ("status_in", &ss, WIRE_STATUSES.len()),
        ("payment_status_in", &ps, WIRE_PAYMENTS.len()),
        ("fulfillment_status_in", &fs, WIRE_FULFILLMENTS.len()),
    ] {
        if set.len() < all {
            preds.push((name, set.iter().copied().collect::<Vec<_>>().join(",")));
        }
    }
    Ok(Some(preds))
}

enum AddressChange {
    Keep,
    Detach,
    /// The upstream address `id` gets these attributes.
    Edit(String, Map<String, Value>),
    New(Map<String, Value>),
    /// The role links the shop's address `id`, as it is (a caller named one by id).
    Link(String),
}

/// What an update sends, worked out (and refused) before anything is sent.
struct UpdatePlan {
    removed_lines: Vec<String>,
    changed_lines: Vec<(String, Map<String, Value>)>,
    new_lines: Vec<Map<String, Value>>,
    order_attrs: Map<String, Value>,
    billing: AddressChange,
    shipping: AddressChange,
}

/// The codec's create document for `order`, as the source of every writable member's spelling.
fn create_doc(order: &Order) -> Value {
    encode_create_request(order).value
}

/// The document's included resources of type `ty`, in order.
fn included_of_type<'a>(doc: &'a Value, ty: &str) -> Vec<&'a Value> {
    doc.get("included")
        .and_then(Value::as_array)
        .map(|l| {
            l.iter()
                .filter(|r| r.get("type").and_then(Value::as_str) == Some(ty))
                .collect()
        })
        .unwrap_or_default()
}

fn line_attrs(doc: &Value, index: usize) -> Map<String, Value> {
    let lines = included_of_type(doc, "line_items");
    pick(
        lines.get(index).and_then(|r| r.get("attributes")),
        LINE_WRITABLE,
    )
}

fn address_attrs_of(doc: &Value, rel: &str) -> Option<Map<String, Value>> {
    let id = doc
        .get("data")?
        .get("relationships")?
        .get(rel)?
        .get("data")?
        .get("id")?
        .as_str()?;
    Some(wire_address_attrs(
        included_by_id(doc, "addresses", id)?.get("attributes"),
    ))
}

fn same_line(a: &LineItem, b: &LineItem) -> bool {
    a.quantity == b.quantity
        && a.name == b.name
        && a.unit_price == b.unit_price
        && a.image_url == b.image_url
        && a.metadata == b.metadata
        && a.product.sku == b.product.sku
        && a.product.bundle_code == b.product.bundle_code
}

fn same_address(a: &Address, b: &Address) -> bool {
    let strip = |x: &Address| Address {
        ids: Default::default(),
        ext: Default::default(),
        ..x.clone()
    };
    strip(a) == strip(b)
}

impl UpdatePlan {
    fn new(before: &Order, after: &Order) -> Result<UpdatePlan, UpstreamError> {
        let refuse = |field: &str, why: &str| {
            Err(UpstreamError::unsupported(Problem::new(
                ProblemKind::InvalidField,
                format!("/{field}"),
                format!("{field}: {why}"),
            )))
        };
        if before.currency != after.currency {
            return refuse(
                "currency",
                "a Commerce Layer order's currency is its market's",
            );
        }
        if before.customer_note != after.customer_note || before.staff_note != after.staff_note {
            return refuse("notes", "Commerce Layer orders have no note field");
        }
        if before.shipping_lines != after.shipping_lines
            || before.fees != after.fees
            || before.discounts.len() != after.discounts.len()
        {
            return refuse(
                "shipping_lines",
                "Commerce Layer computes shipments, fees and promotions itself",
            );
        }
        let (bc, ac) = (&before.customer, &after.customer);
        if bc.first_name != ac.first_name || bc.last_name != ac.last_name || bc.phone != ac.phone {
            return refuse(
                "customer",
                "a Commerce Layer order knows its customer by email only",
            );
        }
        if after.shipping_destinations.len() > 1 {
            return refuse(
                "shipping_destinations",
                "Commerce Layer orders ship to one address",
            );
        }
        let before_doc = create_doc(before);
        let after_doc = create_doc(after);
        let mut plan = UpdatePlan {
            removed_lines: Vec::new(),
            changed_lines: Vec::new(),
            new_lines: Vec::new(),
            order_attrs: Map::new(),
            billing: AddressChange::Keep,
            shipping: AddressChange::Keep,
        };
        let kept: HashSet<&str> = after
            .line_items
            .iter()
            .filter_map(|l| l.ids.commercelayer.as_deref())
            .collect();
        for line in &before.line_items {
            if let Some(id) = &line.ids.commercelayer {
                if !kept.contains(id.as_str()) {
                    plan.removed_lines.push(id.clone());
                }
            }
        }
        for (i, line) in after.line_items.iter().enumerate() {
            let wanted = line_attrs(&after_doc, i);
            let old = line.ids.commercelayer.as_ref().and_then(|id| {
                before
                    .line_items
                    .iter()
                    .position(|b| b.ids.commercelayer.as_ref() == Some(id))
                    .map(|j| (id, j))
            });
            match old {
                None => {
                    if line.kind == LineKind::Catalog && line.product.sku.is_none() {
                        return refuse(
                            &format!("line_items/{i}"),
                            "Commerce Layer needs a sku_code for a catalog line",
                        );
                    }
                    plan.new_lines.push(wanted);
                }
                Some((id, j)) => {
                    let Some(prev) = before.line_items.get(j) else {
                        continue;
                    };
                    if same_line(prev, line) {
                        continue;
                    }
                    if prev.product.sku != line.product.sku
                        || prev.product.bundle_code != line.product.bundle_code
                    {
                        return refuse(
                            &format!("line_items/{i}"),
                            "a Commerce Layer line item's SKU cannot change; remove it and add another",
                        );
                    }
                    let had = line_attrs(&before_doc, j);
                    let mut changed = Map::new();
                    for key in ["quantity", "name", "image_url", "metadata"] {
                        if wanted.get(key) != had.get(key) {
                            changed.insert(
                                key.into(),
                                wanted.get(key).cloned().unwrap_or(Value::Null),
                            );
                        }
                    }
                    if prev.unit_price != line.unit_price {
                        for key in ["unit_amount_cents", "_external_price"] {
                            if let Some(v) = wanted.get(key) {
                                changed.insert(key.into(), v.clone());
                            }
                        }
                    }
                    if !changed.is_empty() {
                        plan.changed_lines.push((id.clone(), changed));
                    }
                }
            }
        }
        let attrs_of = |doc: &Value| {
            pick(
                doc.get("data").and_then(|d| d.get("attributes")),
                ORDER_WRITABLE,
            )
        };
        let (had, wanted) = (attrs_of(&before_doc), attrs_of(&after_doc));
        for key in ORDER_WRITABLE {
            if had.get(*key) != wanted.get(*key) {
                plan.order_attrs.insert(
                    (*key).to_owned(),
                    wanted.get(*key).cloned().unwrap_or(Value::Null),
                );
            }
        }
        if before.external_ref != after.external_ref {
            return refuse(
                "reference",
                "the order's reference carries ordermux's create stamp",
            );
        }
        plan.billing = address_change(
            before.billing_address.as_ref(),
            after.billing_address.as_ref(),
            address_attrs_of(&after_doc, "billing_address"),
        );
        plan.shipping = address_change(
            before.shipping_destinations.first(),
            after.shipping_destinations.first(),
            address_attrs_of(&after_doc, "shipping_address"),
        );
        Ok(plan)
    }
}

fn address_change(
    before: Option<&Address>,
    after: Option<&Address>,
    wanted: Option<Map<String, Value>>,
) -> AddressChange {
    match (before, after) {
        (None, None) => AddressChange::Keep,
        (Some(_), None) => AddressChange::Detach,
        (b, Some(a)) => {
            let prev = b.and_then(|b| b.ids.commercelayer.as_ref());
            match &a.ids.commercelayer {
                // Another of the shop's addresses, named by its id (a relationship, or the other role's address
                // by a `_…_same_as_…` trigger): linked, not copied.
                Some(id) if prev != Some(id) => AddressChange::Link(id.clone()),
                _ if b.is_some_and(|b| same_address(b, a)) => AddressChange::Keep,
                Some(id) => AddressChange::Edit(id.clone(), wanted.unwrap_or_default()),
                None => AddressChange::New(wanted.unwrap_or_default()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::PaymentStatus;

    #[test]
    fn the_shops_links_are_not_read_into_what_callers_are_shown() {
        let link = |path: &str| json!({"self": format!("https://shop.example/api/{path}")});
        let mut doc = json!({
            "links": link("orders/ord1"),
            "data": {"id": "ord1", "type": "orders", "links": link("orders/ord1"),
                "attributes": {"currency_code": "USD", "customer_email": "ada@example.com"},
                "relationships": {
                    "billing_address": {"links": link("orders/ord1/relationships/billing_address"),
                        "data": {"type": "addresses", "id": "adr1"}},
                    "events": {"links": link("orders/ord1/relationships/events")}}},
            "included": [{"id": "adr1", "type": "addresses", "links": link("addresses/adr1"),
                "attributes": {"line_1": "1 Main St", "city": "Austin", "country_code": "US"},
                "relationships": {"geocoder": {"links": link("addresses/adr1/relationships/geocoder")}}}]
        });
        forget_shop_links(&mut doc);
        assert!(!doc.to_string().contains("shop.example"), "{doc}");
        assert_eq!(
            doc["data"]["relationships"],
            json!({"billing_address": {"data": {"type": "addresses", "id": "adr1"}}})
        );
        let order = decode_order(doc, &crate::dialects::DecodeOptions::default()).unwrap();
        let shown = crate::dialects::commercelayer::encode_order(&order).value;
        assert!(!shown.to_string().contains("shop.example"), "{shown}");
        assert_eq!(shown["included"][0]["attributes"]["line_1"], "1 Main St");
    }

    fn triple(o: OrderStatus, p: PaymentStatus, f: FulfillmentStatus) -> StatusTriple {
        StatusTriple {
            order: o,
            payment: p,
            fulfillment: f,
        }
    }

    #[test]
    fn a_token_is_renewed_before_it_expires_and_at_least_daily() {
        let t0 = Instant::now();
        let secs = |s: u64| Duration::from_secs(s);
        // 4 h: renewed a minute before; 5 min: 30 s before (a tenth); no lifetime: at once.
        assert_eq!(token_refresh_at(t0, Some(14_400)), t0 + secs(14_340));
        assert_eq!(token_refresh_at(t0, Some(300)), t0 + secs(270));
        assert_eq!(token_refresh_at(t0, None), t0);
        // More than a day, up to more than `Instant` can count: a day, less the minute.
        for huge in [172_800, u64::MAX / 1_000, u64::MAX] {
            assert_eq!(
                token_refresh_at(t0, Some(huge)),
                t0 + secs(86_340),
                "{huge}"
            );
        }
    }

    #[test]
    fn create_plans_reach_each_supported_state() {
        use FulfillmentStatus as F;
        use OrderStatus as O;
        use PaymentStatus as P;
        let draft = WireState::draft(1000);
        assert_eq!(
            plan_triggers(&draft, triple(O::Draft, P::Unpaid, F::Unfulfilled)).unwrap(),
            Vec::<&str>::new()
        );
        assert_eq!(
            plan_triggers(&draft, triple(O::Placed, P::Unpaid, F::Unfulfilled)).unwrap(),
            vec!["_place"]
        );
        assert_eq!(
            plan_triggers(&draft, triple(O::Processing, P::Paid, F::Unfulfilled)).unwrap(),
            vec!["_place", "_authorize", "_approve", "_capture"]
        );
        assert_eq!(
            plan_triggers(&draft, triple(O::Completed, P::Paid, F::Fulfilled)).unwrap(),
            vec!["_place", "_authorize", "_approve", "_capture", "_fulfill"]
        );
        assert_eq!(
            plan_triggers(&draft, triple(O::Cancelled, P::Voided, F::Unfulfilled)).unwrap(),
            vec!["_place", "_authorize", "_cancel"]
        );
        assert!(plan_triggers(
            &draft,
            triple(O::Placed, P::PartiallyRefunded, F::Unfulfilled)
        )
        .is_err());
        assert!(plan_triggers(&draft, triple(O::Placed, P::Unpaid, F::Fulfilled)).is_err());
        assert!(plan_triggers(&draft, triple(O::Draft, P::Paid, F::Unfulfilled)).is_err());
    }

    #[test]
    fn status_filters_are_exact_products_or_refused() {
        use FulfillmentStatus as F;
        use OrderStatus as O;
        let every = |o: OrderStatus| -> Vec<StatusTriple> {
            PaymentStatus::ALL
                .iter()
                .flat_map(|p| F::ALL.iter().map(move |f| triple(o, *p, *f)))
                .collect()
        };
        let preds = status_predicates(&every(O::Placed)).unwrap().unwrap();
        assert_eq!(
            preds,
            vec![("status_in", "editing,placed,placing".to_owned())]
        );
        let mut mixed = vec![triple(O::Placed, PaymentStatus::Paid, F::Unfulfilled)];
        mixed.push(triple(O::Draft, PaymentStatus::Unpaid, F::Unfulfilled));
        assert!(status_predicates(&mixed).is_err());
        assert!(
            status_predicates(&[triple(O::OnHold, PaymentStatus::Unpaid, F::Unfulfilled)])
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn error_reader_takes_detail_and_pointer() {
        let body = json!({"errors": [{"title": "can't be blank", "detail": "quantity - can't be blank", "code": "VALIDATION_ERROR", "status": "422", "source": {"pointer": "/data/attributes/quantity"}}]});
        assert_eq!(
            read_error(&body),
            Some((
                "quantity - can't be blank".to_owned(),
                Some("/data/attributes/quantity".to_owned())
            ))
        );
        assert_eq!(read_error(&json!({"message": "x"})), None);
    }

    #[test]
    fn collections_split_into_order_documents() {
        let doc = json!({
            "data": [
                {"type": "orders", "id": "a", "relationships": {"line_items": {"data": [{"type": "line_items", "id": "l1"}]}}},
                {"type": "orders", "id": "b", "relationships": {"line_items": {"data": []}}},
            ],
            "included": [{"type": "line_items", "id": "l1"}, {"type": "line_items", "id": "l2"}],
        });
        let docs = split_collection(&doc).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0]["included"].as_array().map(Vec::len), Some(1));
        assert!(docs[1].get("included").is_none());
    }

    #[test]
    fn an_address_s_own_reference_moves_into_its_metadata_and_back() {
        let stamp = Stamp::for_key("client", "k");
        let ours = address_reference(&stamp, "billing_address");
        assert!(is_address_reference(&ours));
        assert!(!is_address_reference(stamp.key()));
        assert!(!is_address_reference(&format!("{}:elsewhere", stamp.key())));
        let attrs = json!({"line_1": "1 Main St", "reference": "CRM-7", "metadata": {"floor": 3}});
        let wire = wire_address_attrs(Some(&attrs));
        assert_eq!(
            wire.get("reference"),
            None,
            "the create sets ordermux's own"
        );
        assert_eq!(
            wire["metadata"],
            json!({"floor": 3, "ordermux_reference": "CRM-7"})
        );
        // An address read back with ordermux's reference on it is what an earlier create wrote: not moved again.
        let read_back = json!({"line_1": "1 Main St", "reference": ours});
        assert!(!wire_address_attrs(Some(&read_back)).contains_key("metadata"));

        let mut wire_attrs = wire;
        wire_attrs.insert("reference".into(), Value::String(ours));
        let mut extra = Map::new();
        extra.insert("attributes".into(), Value::Object(wire_attrs));
        let mut address = Address::default();
        address.ext.set(
            Platform::CommerceLayer,
            crate::canonical::PlatformExt {
                extra,
                echoes: Vec::new(),
            },
        );
        address_from_wire(&mut address);
        let ext = address.ext.get(Platform::CommerceLayer).expect("kept");
        assert_eq!(
            ext.extra["attributes"],
            json!({"line_1": "1 Main St", "reference": "CRM-7", "metadata": {"floor": 3}})
        );
    }
}
