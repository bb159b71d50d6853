//! FluentCart REST v2 upstream adapter (`{base_url}/wp-json/fluent-cart/v2`, WordPress application password over
//! HTTP Basic).
//!
//! FluentCart's admin create is not a faithful write (`dialect-mapping.md` §0): it wants an existing customer id
//! and customer-address ids instead of inline people, and forces every new order to `on-hold` / `pending` /
//! offline payment whatever the body says. So a create here is: find-or-create the customer by email, find-or-
//! create its addresses, `POST /orders`, then bring the order to the caller's states with FluentCart's own
//! operations (`mark-as-paid`, `PUT /orders/{id}/statuses`) and read it back. Each finished step is journalled,
//! so a create resumed after a failure does not repeat it.
//!
//! The stamp lives in the order's `note`: it is the only free-text order member the admin create keeps
//! (`AdminOrderProcessor` copies `note` and drops `invoice_no` and `uuid`), and FluentCart has no API that writes
//! order meta. Its list search does not look at notes, so `find_by_stamp` scans the newest orders for it.

use base64::Engine;
use http::{HeaderValue, Method, StatusCode};
use serde_json::{json, Value};

use super::{AdapterContext, CreateReply, Journal, Listed, NotificationSwitch, Stamp, Unreadable};
use crate::backends::transport::{Call, Retry, UpstreamError, UpstreamHttp};
use crate::canonical::lifecycle::Transition;
use crate::canonical::{
    Address, FulfillmentStatus, LineItem, Money, Order, OrderFilter, OrderQuery, OrderStatus,
    PaymentStatus, Platform, Problem, ProblemKind, SortKey, StatusTriple,
};
use crate::dialects::fluentcart::{self as wire, actions};
use crate::dialects::tables;
use crate::dialects::wire_money::exact_number;

/// FluentCart's REST namespace under the WordPress site's base URL.
const API: &str = "/wp-json/fluent-cart/v2";
/// The line the stamp occupies at the end of the order note.
const STAMP_PREFIX: &str = "ordermux-ref: ";
/// `OrderRequest` caps `note` at 5000 characters.
const NOTE_MAX_CHARS: usize = 5000;
/// FluentCart treats any `per_page` of 200 or more as its default of 10 (`BaseFilter::parsePerPage`).
const PER_PAGE_MAX: u32 = 199;
/// A requested page larger than `PER_PAGE_MAX` is assembled from at most this many upstream pages.
const MAX_PAGES_PER_REQUEST: u32 = 8;
/// `find_by_stamp` looks at the newest `STAMP_SCAN_PAGES × STAMP_SCAN_PER_PAGE` orders: reconciliation follows the
/// failed create within seconds, so its order is among the newest unless the shop takes more orders than this
/// in that time.
const STAMP_SCAN_PAGES: u32 = 10;
const STAMP_SCAN_PER_PAGE: u32 = 100;
/// Customer search rows looked at when finding a customer by email.
const CUSTOMER_SEARCH_PER_PAGE: u32 = 50;

#[derive(Debug)]
pub struct FluentCartAdapter {
    ctx: AdapterContext,
    http: UpstreamHttp,
    /// `Basic base64(user:application_password)`, marked sensitive so it never shows in logs or `Debug`.
    authorization: HeaderValue,
}

fn unsupported(kind: ProblemKind, reason: impl Into<String>) -> UpstreamError {
    UpstreamError::unsupported(Problem::new(kind, "", reason))
}

fn malformed(what: &str, problem: &Problem) -> UpstreamError {
    UpstreamError::Malformed(format!("{what}: {}", problem.message()))
}

/// Error messages taken from upstream documents are bounded: they reach logs and, for 4xx, the caller.
fn bounded(text: &str) -> String {
    const MAX: usize = 300;
    let text = text.trim();
    if text.chars().count() <= MAX {
        text.to_owned()
    } else {
        let mut cut: String = text.chars().take(MAX).collect();
        cut.push('…');
        cut
    }
}

/// Reads every error shape FluentCart and WordPress send: WP REST `{"code","message","data":{"status"}}`,
/// FluentCart's documented `{"success":false,"error":{"code","message"}}`, `sendError()`'s `{"message"}`, the
/// Laravel-style `{"message","errors":{field:[...]}}`, and the validator's bare `{field:{rule:message}}` map.
pub fn read_error(body: &Value) -> Option<(String, Option<String>)> {
    let map = body.as_object()?;
    if let Some(error) = map.get("error").and_then(Value::as_object) {
        if let Some(message) = error.get("message").and_then(Value::as_str) {
            return Some((bounded(message), None));
        }
    }
    let first_field_error = |errors: &serde_json::Map<String, Value>| {
        errors.iter().find_map(|(field, v)| {
            let text = match v {
                Value::String(s) => Some(s.clone()),
                Value::Array(list) => list.iter().find_map(|m| m.as_str().map(str::to_owned)),
                Value::Object(rules) => rules.values().find_map(|m| m.as_str().map(str::to_owned)),
                _ => None,
            }?;
            Some((bounded(&text), Some(format!("/{field}"))))
        })
    };
    if let Some(message) = map.get("message").and_then(Value::as_str) {
        let detail = map
            .get("errors")
            .and_then(Value::as_object)
            .and_then(first_field_error);
        return Some(match detail {
            Some((field_message, pointer)) if !message.is_empty() => {
                (bounded(&format!("{message} {field_message}")), pointer)
            }
            Some(found) => found,
            None => (bounded(message), None),
        });
    }
    // The validator's own map: every member is a field whose value holds the messages.
    first_field_error(map)
}

/// `note` with the stamp as its last line.
fn stamped_note(note: Option<&str>, stamp: &Stamp) -> Result<String, UpstreamError> {
    let line = format!("{STAMP_PREFIX}{}", stamp.key());
    let text = match note.filter(|n| !n.trim().is_empty()) {
        Some(n) => format!("{n}\n{line}"),
        None => line,
    };
    if text.chars().count() > NOTE_MAX_CHARS {
        return Err(UpstreamError::unsupported(Problem::new(
            ProblemKind::FieldTooLong,
            "",
            format!(
                "FluentCart order notes hold at most {NOTE_MAX_CHARS} characters, {} of them reserved by ordermux",
                NOTE_MAX_CHARS - (text.chars().count() - note.map_or(0, |n| n.chars().count()))
            ),
        )));
    }
    Ok(text)
}

/// Splits a note into the caller's text and the stamp line ordermux appended (if its last line is one).
fn split_note(note: &str) -> (Option<String>, Option<Stamp>) {
    let (rest, last) = match note.rsplit_once('\n') {
        Some((rest, last)) => (rest, last),
        None => ("", note),
    };
    match last
        .trim_end_matches('\r')
        .strip_prefix(STAMP_PREFIX)
        .and_then(Stamp::parse)
    {
        Some(stamp) => ((!rest.is_empty()).then(|| rest.to_owned()), Some(stamp)),
        None => (Some(note.to_owned()), None),
    }
}

/// The stamp a raw FluentCart order object carries in its note.
fn raw_stamp(order: &Value) -> Option<Stamp> {
    order
        .get("note")
        .and_then(Value::as_str)
        .and_then(|n| split_note(n).1)
}

/// Hides ordermux's stamp line from the note callers see.
fn unstamp(order: &mut Order) {
    if let Some(note) = order.customer_note.take() {
        order.customer_note = split_note(&note).0;
    }
}

/// Path segment for an upstream id; anything but digits cannot be a FluentCart id (and must not reach the path).
fn numeric_id(id: &str) -> Result<&str, UpstreamError> {
    if !id.is_empty() && id.len() <= 19 && id.bytes().all(|b| b.is_ascii_digit()) {
        Ok(id)
    } else {
        Err(UpstreamError::Rejected {
            status: StatusCode::NOT_FOUND,
            message: "not a FluentCart order id".to_owned(),
            detail: None,
        })
    }
}

fn order_id_of(order: &Order) -> Result<String, UpstreamError> {
    order
        .ids
        .platform
        .fluentcart
        .map(|n| n.to_string())
        .ok_or_else(|| UpstreamError::Malformed("the order has no FluentCart id".to_owned()))
}

fn triple(order: &Order) -> StatusTriple {
    order.status_triple()
}

/// The FluentCart spelling of each axis.
struct Rendered {
    order: &'static str,
    payment: &'static str,
    shipping: &'static str,
}

fn render(t: StatusTriple) -> Rendered {
    let s = &tables::get().fluentcart_statuses;
    Rendered {
        order: s.order.render(t.order),
        payment: s.payment.render(t.payment),
        shipping: s.fulfillment.render(t.fulfillment),
    }
}

/// What it takes to bring an order from one status triple to another with FluentCart's operations.
#[derive(Debug, Default, PartialEq, Eq)]
struct StatePlan {
    mark_paid: bool,
    /// Payment statuses other than `paid` are set with the bulk action `change_payment_status`.
    payment_status: Option<&'static str>,
    shipping_status: Option<&'static str>,
    order_status: Option<&'static str>,
}

/// Plans the calls from `current` to `target`, refusing (before anything is sent) what FluentCart cannot do.
fn plan_states(current: StatusTriple, target: StatusTriple) -> Result<StatePlan, UpstreamError> {
    let (now, want) = (render(current), render(target));
    let mut plan = StatePlan::default();
    if now.payment != want.payment {
        if want.payment == "paid" && matches!(now.payment, "pending" | "failed" | "partially_paid")
        {
            plan.mark_paid = true;
        } else if matches!(want.payment, "refunded" | "partially_refunded") {
            return Err(unsupported(
                ProblemKind::InvalidTransition,
                format!(
                    "FluentCart records a refund only through its refund operation, not by setting payment status {:?}",
                    want.payment
                ),
            ));
        } else {
            plan.payment_status = Some(want.payment);
        }
    }
    if now.shipping != want.shipping {
        if want.shipping.is_empty() {
            // FluentCart derives an empty shipping status from digital-only items; it cannot be set.
            if !now.shipping.is_empty() && now.shipping != "unshipped" {
                return Err(unsupported(
                    ProblemKind::InvalidStatus,
                    "FluentCart cannot set an empty shipping status (it derives it from digital-only items)",
                ));
            }
        } else {
            plan.shipping_status = Some(want.shipping);
        }
    }
    // Marking paid moves an on-hold order to processing (completed when every item is digital), so the order
    // status is compared again after it; here it is only checked to be settable.
    if now.order != want.order || plan.mark_paid {
        if !actions::EDITABLE_ORDER_STATUSES.contains(&want.order) {
            return Err(unsupported(
                ProblemKind::InvalidStatus,
                format!(
                    "FluentCart order status {:?} cannot be set; settable are {}",
                    want.order,
                    actions::EDITABLE_ORDER_STATUSES.join(", ")
                ),
            ));
        }
        plan.order_status = Some(want.order);
    }
    Ok(plan)
}

/// The parts of an address a FluentCart customer or order address holds.
fn address_key(a: &Address) -> [Option<String>; 8] {
    [
        a.display_name(),
        Some(a.line1.clone()),
        a.line2.clone(),
        Some(a.city.clone()),
        a.region.clone(),
        a.postal_code.clone(),
        Some(a.country_code.clone()),
        a.phone.clone(),
    ]
}

fn same_address(a: Option<&Address>, b: Option<&Address>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => address_key(a) == address_key(b) && a.company == b.company,
        _ => false,
    }
}

/// Does a customer address row (`GET /customers/{id}/address`) hold `a`?
fn row_matches(row: &Value, a: &Address) -> bool {
    let s = |k: &str| {
        row.get(k)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let t = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    s("name") == t(&a.display_name())
        && s("address_1") == t(&Some(a.line1.clone()))
        && s("address_2") == t(&a.line2)
        && s("city") == t(&Some(a.city.clone()))
        && s("state") == t(&a.region)
        && s("postcode") == t(&a.postal_code)
        && s("country") == t(&Some(a.country_code.clone()))
}

/// Fields of `a` as FluentCart's address endpoints take them.
fn address_body(a: &Address, kind: &str, email: &str) -> Value {
    let mut body = json!({
        "type": kind,
        "name": a.display_name().unwrap_or_else(|| email.to_owned()),
        "email": a.email.clone().unwrap_or_else(|| email.to_owned()),
        "address_1": a.line1,
        "city": a.city,
        "country": a.country_code,
    });
    if let Value::Object(map) = &mut body {
        let mut opt = |k: &str, v: &Option<String>| {
            if let Some(v) = v {
                map.insert(k.to_owned(), Value::String(v.clone()));
            }
        };
        opt("address_2", &a.line2);
        opt("state", &a.region);
        opt("postcode", &a.postal_code);
        opt("phone", &a.phone);
        opt("company_name", &a.company);
        opt("first_name", &a.first_name);
        opt("last_name", &a.last_name);
    }
    body
}

/// Lines as the caller sees them, without the ids the upstream assigns, for comparing catalog intent.
fn line_changed(a: &LineItem, b: &LineItem) -> bool {
    a.quantity != b.quantity
        || a.unit_price != b.unit_price
        || a.name != b.name
        || a.discount_total != b.discount_total
        || a.tax_total != b.tax_total
}

/// Status-filter parameters: FluentCart ANDs one `whereIn` per axis, so it can only express a product of value
/// sets. `None` when the wanted triples are not such a product.
fn status_params(triples: &[StatusTriple]) -> Option<Vec<(&'static str, &'static str)>> {
    use std::collections::BTreeSet;
    let s = &tables::get().fluentcart_statuses;
    let rendered: BTreeSet<(&str, &str, &str)> = triples
        .iter()
        .map(|t| {
            let r = render(*t);
            (r.order, r.payment, r.shipping)
        })
        .collect();
    let orders: BTreeSet<&str> = rendered.iter().map(|r| r.0).collect();
    let payments: BTreeSet<&str> = rendered.iter().map(|r| r.1).collect();
    let shippings: BTreeSet<&str> = rendered.iter().map(|r| r.2).collect();
    if orders.len() * payments.len() * shippings.len() != rendered.len() {
        return None;
    }
    let all_orders: BTreeSet<&str> = OrderStatus::ALL
        .iter()
        .map(|o| s.order.render(*o))
        .collect();
    let all_payments: BTreeSet<&str> = PaymentStatus::ALL
        .iter()
        .map(|p| s.payment.render(*p))
        .collect();
    let all_shippings: BTreeSet<&str> = FulfillmentStatus::ALL
        .iter()
        .map(|f| s.fulfillment.render(*f))
        .collect();
    let mut params = Vec::new();
    for (name, set, all) in [
        ("order_statuses[]", &orders, &all_orders),
        ("payment_statuses[]", &payments, &all_payments),
        ("shipping_statuses[]", &shippings, &all_shippings),
    ] {
        if set != all {
            params.extend(set.iter().map(|v| (name, *v)));
        }
    }
    Some(params)
}

/// FluentCart's `search` operator syntax for an id range (it allows one operator condition per request).
fn id_search(min: Option<u64>, max: Option<u64>) -> Option<String> {
    match (min, max) {
        (Some(a), Some(b)) if a == b => Some(format!("id = {a}")),
        (Some(a), Some(b)) => Some(format!("id :: {a}-{b}")),
        (Some(a), None) => Some(format!("id >= {a}")),
        (None, Some(b)) => Some(format!("id <= {b}")),
        (None, None) => None,
    }
}

fn refuse_filter(what: &str) -> UpstreamError {
    unsupported(
        ProblemKind::InvalidParameter,
        format!("FluentCart's order list cannot filter by {what}"),
    )
}

/// The list parameters for `filter` (without paging), or the filter FluentCart cannot express.
fn filter_params(filter: &OrderFilter) -> Result<Option<Vec<(String, String)>>, UpstreamError> {
    let OrderFilter {
        statuses,
        email,
        number,
        reference,
        currency,
        id_range,
        total,
        created,
        updated,
        customer,
        search,
    } = filter;
    if email.is_some() {
        return Err(refuse_filter(
            "exact customer email (its search is a substring match)",
        ));
    }
    if number.is_some() {
        return Err(refuse_filter(
            "exact invoice number (its search is a substring match)",
        ));
    }
    if reference.is_some() {
        return Err(refuse_filter("external reference"));
    }
    if currency.is_some() {
        return Err(refuse_filter("currency"));
    }
    if total.min.is_some() || total.max.is_some() {
        return Err(refuse_filter("total amount"));
    }
    if created.min.is_some() || created.max.is_some() {
        return Err(refuse_filter("creation date"));
    }
    if updated.min.is_some() || updated.max.is_some() {
        return Err(refuse_filter("update date"));
    }
    if customer.is_some() {
        return Err(refuse_filter("customer id"));
    }
    let mut params: Vec<(String, String)> = Vec::new();
    if let Some(triples) = statuses {
        if triples.is_empty() {
            // Nothing can match.
            return Ok(None);
        }
        let pairs = status_params(triples).ok_or_else(|| {
            refuse_filter("this combination of statuses (each status axis is filtered on its own)")
        })?;
        params.extend(pairs.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())));
    }
    let id_text = match id_range {
        Some((Platform::FluentCart, range)) => {
            if range.min.zip(range.max).is_some_and(|(a, b)| a > b) {
                return Ok(None);
            }
            id_search(range.min, range.max)
        }
        Some(_) => return Err(refuse_filter("ids of another platform")),
        None => None,
    };
    match (id_text, search) {
        (Some(_), Some(_)) => {
            return Err(refuse_filter(
                "an id range together with a search (one search condition per request)",
            ))
        }
        (Some(_), None) if !params.is_empty() => {
            // An operator search makes FluentCart skip its status filters (`OrderFilter::applySimpleFilter`).
            return Err(refuse_filter("an id range together with statuses"));
        }
        (Some(text), None) => params.push(("search".to_owned(), text)),
        (None, Some(text)) => params.push(("search".to_owned(), text.clone())),
        (None, None) => {}
    }
    Ok(Some(params))
}

fn sort_column(key: SortKey) -> &'static str {
    match key {
        SortKey::Id => "id",
        SortKey::CreatedAt => "created_at",
        SortKey::UpdatedAt => "updated_at",
        SortKey::Total => "total_amount",
        SortKey::Status => "status",
    }
}

fn query_string(pairs: &[(String, String)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

/// An upstream page size that divides `per_page` and FluentCart accepts, for assembling bigger pages.
fn upstream_page_size(per_page: u32) -> Option<u32> {
    if per_page <= PER_PAGE_MAX {
        return Some(per_page.max(1));
    }
    (1..=PER_PAGE_MAX)
        .rev()
        .find(|k| per_page % k == 0)
        .filter(|k| per_page / k <= MAX_PAGES_PER_REQUEST)
}

/// Checks the reply to one of FluentCart's actions (mark-as-paid, statuses, bulk actions): an object with its
/// `message`, as each of them answers. Anything else is no sign the action was done.
fn acknowledged(reply: &Value, action: &str) -> Result<(), UpstreamError> {
    if reply.get("message").is_some_and(Value::is_string) {
        Ok(())
    } else {
        Err(UpstreamError::Malformed(format!(
            "the reply to {action} is not FluentCart's acknowledgement"
        )))
    }
}

fn u64_of(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

impl FluentCartAdapter {
    pub fn new(ctx: AdapterContext) -> Result<Self, String> {
        let name = ctx.backend.name.clone();
        let creds = &ctx.backend.credentials;
        let (Some(user), Some(password)) = (&creds.username, &creds.password) else {
            return Err(format!(
                "backend {name:?}: FluentCart needs credentials.username and credentials.password (a WordPress application password)"
            ));
        };
        let token = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            user.expose(),
            password.expose()
        ));
        let mut authorization = HeaderValue::from_str(&format!("Basic {token}"))
            .map_err(|_| format!("backend {name:?}: credentials do not form a valid header"))?;
        authorization.set_sensitive(true);
        let http = UpstreamHttp::new(&ctx.backend, read_error)
            .map_err(|e| format!("backend {name:?}: {e}"))?;
        Ok(FluentCartAdapter {
            ctx,
            http,
            authorization,
        })
    }

    fn call(&self, method: Method, path: impl AsRef<str>) -> Call {
        let mut call = Call::new(method, format!("{API}{}", path.as_ref()));
        call.headers
            .insert(http::header::AUTHORIZATION, self.authorization.clone());
        call
    }

    async fn send(&self, call: Call) -> Result<Value, UpstreamError> {
        Ok(self.http.send(call).await?.body)
    }

    fn decode(&self, body: Value) -> Result<Order, UpstreamError> {
        let mut order = wire::decode_order(body, &self.ctx.decode)
            .map_err(|p| malformed("FluentCart order", &p))?;
        unstamp(&mut order);
        Ok(order)
    }

    /// `GET /orders/{id}`, undecoded: the order envelope, checked to be that order's.
    async fn fetch_raw(&self, id: &str) -> Result<Value, UpstreamError> {
        let id = numeric_id(id)?;
        let raw = self
            .send(self.call(Method::GET, format!("/orders/{id}")))
            .await?;
        // Another order's envelope would be served as this one.
        let answered = u64_of(raw.pointer("/order/id"));
        if answered.is_none() || answered != id.parse::<u64>().ok() {
            return Err(UpstreamError::Malformed(format!(
                "GET /orders/{id} answered {}",
                answered.map_or("no order".to_owned(), |n| format!("order {n}"))
            )));
        }
        Ok(raw)
    }

    async fn fetch(&self, id: &str) -> Result<Order, UpstreamError> {
        let raw = self.fetch_raw(id).await?;
        self.decode(raw)
    }

    // -----------------------------------------------------------------------------------------------------------
    // Customers and addresses

    /// The id of the FluentCart customer with `email` (exact, case-insensitive), creating it if there is none.
    async fn ensure_customer(&self, order: &Order) -> Result<u64, UpstreamError> {
        let Some(email) = order
            .customer
            .email
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty())
        else {
            return Err(unsupported(
                ProblemKind::MissingField,
                "FluentCart orders need a customer, found or created by email; the order has no customer email",
            ));
        };
        if let Some(id) = self.find_customer(email).await? {
            return Ok(id);
        }
        let billing = order.billing_address.as_ref();
        let first_name = order
            .customer
            .first_name
            .clone()
            .or_else(|| billing.and_then(|a| a.first_name.clone()))
            .or_else(|| email.split('@').next().map(str::to_owned));
        let last_name = order
            .customer
            .last_name
            .clone()
            .or_else(|| billing.and_then(|a| a.last_name.clone()));
        let mut body = json!({ "email": email, "first_name": first_name });
        if let Some(last) = last_name {
            body["last_name"] = Value::String(last);
        }
        match self
            .send(self.call(Method::POST, "/customers").json(body))
            .await
        {
            Ok(reply) => u64_of(reply.get("data").and_then(|d| d.get("id"))).ok_or_else(|| {
                UpstreamError::Malformed("customer create reply without data.id".to_owned())
            }),
            // "Customer already exists": created meanwhile (or by an earlier attempt whose reply was lost).
            Err(UpstreamError::Rejected { status, .. }) if status == StatusCode::BAD_REQUEST => {
                self.find_customer(email)
                    .await?
                    .ok_or_else(|| UpstreamError::Rejected {
                        status,
                        message: "FluentCart refused to create the customer and none has its email"
                            .to_owned(),
                        detail: None,
                    })
            }
            Err(e) => Err(e),
        }
    }

    async fn find_customer(&self, email: &str) -> Result<Option<u64>, UpstreamError> {
        let q = query_string(&[
            ("search".to_owned(), email.to_owned()),
            ("per_page".to_owned(), CUSTOMER_SEARCH_PER_PAGE.to_string()),
        ]);
        let reply = self
            .send(self.call(Method::GET, format!("/customers?{q}")))
            .await?;
        let rows = reply
            .get("customers")
            .and_then(|c| c.get("data"))
            .and_then(Value::as_array)
            .ok_or_else(|| {
                UpstreamError::Malformed("customer list without customers.data".to_owned())
            })?;
        Ok(rows
            .iter()
            .find(|row| {
                row.get("email")
                    .and_then(Value::as_str)
                    .is_some_and(|e| e.trim().eq_ignore_ascii_case(email))
            })
            .and_then(|row| u64_of(row.get("id"))))
    }

    /// The customer address id holding `address`, creating it if the customer has no such address.
    async fn ensure_address(
        &self,
        customer_id: u64,
        address: &Address,
        kind: &str,
        email: &str,
    ) -> Result<u64, UpstreamError> {
        let reply = self
            .send(self.call(
                Method::GET,
                format!("/customers/{customer_id}/address?type={kind}"),
            ))
            .await?;
        // A reply without the list is not an empty list: taken for one, the address would be made again.
        let rows = reply
            .get("addresses")
            .and_then(Value::as_array)
            .ok_or_else(|| UpstreamError::Malformed("address list without addresses".to_owned()))?;
        if let Some(id) = rows
            .iter()
            .find(|row| row_matches(row, address))
            .and_then(|row| u64_of(row.get("id")))
        {
            return Ok(id);
        }
        let reply = self
            .send(
                self.call(Method::POST, format!("/customers/{customer_id}/address"))
                    .json(address_body(address, kind, email)),
            )
            .await?;
        u64_of(reply.get("data").and_then(|d| d.get("id"))).ok_or_else(|| {
            UpstreamError::Malformed("address create reply without data.id".to_owned())
        })
    }

    /// A journalled step's id, or `make`'s result recorded before going on.
    async fn step<F>(&self, journal: &Journal, name: &str, make: F) -> Result<u64, UpstreamError>
    where
        F: std::future::Future<Output = Result<u64, UpstreamError>>,
    {
        if let Some(id) = u64_of(journal.steps().get(name)) {
            return Ok(id);
        }
        let id = make.await?;
        journal.record(name, Value::from(id)).await?;
        Ok(id)
    }

    // -----------------------------------------------------------------------------------------------------------
    // States

    /// Brings upstream order `id` (now `current`) to `target` with mark-as-paid, the statuses endpoint and the
    /// bulk payment-status action. Each call is safe to repeat: FluentCart refuses to pay a paid order and to set
    /// a status the order already has, and those refusals mean the step is done.
    async fn apply_states(
        &self,
        id: &str,
        current: &Order,
        target: StatusTriple,
        payment_method: Option<&str>,
    ) -> Result<bool, UpstreamError> {
        let id = numeric_id(id)?;
        let plan = plan_states(triple(current), target)?;
        let mut now = triple(current);
        let mut changed = false;
        if plan.mark_paid {
            changed = true;
            let mut body = json!({});
            if let Some(m) = payment_method.filter(|m| !m.trim().is_empty()) {
                body["payment_method"] = Value::String(m.to_owned());
            }
            let call = self
                .call(Method::POST, format!("/orders/{id}/mark-as-paid"))
                .json(body)
                .retry(Retry::Safe);
            match self.send(call).await {
                Ok(reply) => acknowledged(&reply, "mark-as-paid")?,
                // 423 "Order has already been paid": an earlier try got through.
                Err(UpstreamError::Rejected { status, .. }) if status.as_u16() == 423 => {}
                Err(e) => return Err(e),
            }
            // Marking paid also moves the order status; read where it went.
            now = triple(&self.fetch(id).await?);
        }
        if let Some(value) = plan.payment_status {
            changed = true;
            let body = json!({"action": "change_payment_status", "order_ids": [id.parse::<u64>().unwrap_or(0)], "new_status": value});
            let call = self
                .call(Method::POST, "/orders/do-bulk-action")
                .json(body)
                .retry(Retry::Safe);
            let reply = self.send(call).await?;
            acknowledged(&reply, "change_payment_status")?;
            if reply
                .get("failed_order_ids")
                .and_then(Value::as_array)
                .is_some_and(|ids| !ids.is_empty())
            {
                return Err(UpstreamError::Rejected {
                    status: StatusCode::UNPROCESSABLE_ENTITY,
                    message: format!("FluentCart did not change the payment status to {value:?}"),
                    detail: None,
                });
            }
        }
        if let Some(value) = plan.shipping_status {
            if render(now).shipping != value {
                changed = true;
                self.set_status(id, "change_shipping_status", "shipping_status", value)
                    .await?;
            }
        }
        if let Some(value) = plan.order_status {
            if render(now).order != value {
                changed = true;
                self.set_status(id, "change_order_status", "order_status", value)
                    .await?;
            }
        }
        Ok(changed)
    }

    async fn set_status(
        &self,
        id: &str,
        action: &str,
        field: &str,
        value: &str,
    ) -> Result<(), UpstreamError> {
        let body = json!({"action": action, "statuses": {field: value}, "manage_stock": true});
        let call = self
            .call(Method::PUT, format!("/orders/{id}/statuses"))
            .json(body);
        match self.send(call).await {
            Ok(reply) => {
                acknowledged(&reply, action)?;
                // The reply names the status the order now has; another than asked is not done.
                match reply.pointer("/data/new_status").and_then(Value::as_str) {
                    Some(now) if now != value => Err(UpstreamError::Malformed(format!(
                        "FluentCart answered {action} with {field} {now:?}, not {value:?}"
                    ))),
                    _ => Ok(()),
                }
            }
            Err(UpstreamError::Rejected {
                status, message, ..
            }) if status == StatusCode::BAD_REQUEST && message.contains("same status") => Ok(()),
            Err(e) => Err(e),
        }
    }

    // -----------------------------------------------------------------------------------------------------------
    // The contract

    pub async fn create(
        &self,
        order: &Order,
        stamp: &Stamp,
        journal: &Journal,
        reply: CreateReply,
    ) -> Result<Order, UpstreamError> {
        if order.line_items.is_empty() {
            // FluentCart's create requires `order_items`; refusing here also avoids making a customer for nothing.
            return Err(unsupported(
                ProblemKind::MissingField,
                "FluentCart cannot create an order without line items",
            ));
        }
        let target = triple(order);
        // Refuse states FluentCart cannot reach before anything is created. A new order is on-hold / pending /
        // unshipped (empty for digital-only orders), whatever the body says.
        let start = StatusTriple {
            order: OrderStatus::Placed,
            payment: PaymentStatus::Unpaid,
            fulfillment: target.fulfillment_or_unshipped(),
        };
        plan_states(start, target)?;
        let note = stamped_note(order.customer_note.as_deref(), stamp)?;

        // An earlier attempt may have created the order already (its follow-up calls then failed): carry on with
        // that order rather than creating a second one.
        let mut existing = None;
        if let Some(id) = u64_of(journal.steps().get("order_id")) {
            match self.fetch_raw(&id.to_string()).await {
                Ok(raw)
                    if raw_stamp(raw.get("order").unwrap_or(&Value::Null)).as_ref()
                        == Some(stamp) =>
                {
                    existing = Some((id, raw));
                }
                // Deleted meanwhile, or not ours: create afresh.
                Ok(_) | Err(UpstreamError::Rejected { .. }) => {
                    journal.record("order_id", Value::Null).await?;
                }
                Err(e) => return Err(e),
            }
        }
        let (order_id, raw) = match existing {
            Some(found) => found,
            None => {
                let body = self.create_body(order, note, journal).await?;
                let reply = self
                    .send(self.call(Method::POST, "/orders").json(body))
                    .await?;
                let id = u64_of(reply.get("order_id")).ok_or_else(|| {
                    UpstreamError::Malformed("order create reply without order_id".to_owned())
                })?;
                journal.record("order_id", Value::from(id)).await?;
                let raw = self.fetch_raw(&id.to_string()).await?;
                if raw_stamp(raw.get("order").unwrap_or(&Value::Null)).as_ref() != Some(stamp) {
                    return Err(UpstreamError::Malformed(format!(
                        "FluentCart order {id} does not carry the create's stamp"
                    )));
                }
                (id, raw)
            }
        };
        let id = order_id.to_string();
        let created = self.decode(raw)?;
        let changed = match self
            .apply_states(&id, &created, target, order.payment_method.as_deref())
            .await
        {
            Ok(changed) => changed,
            Err(UpstreamError::Rejected {
                status,
                message,
                detail,
            }) => {
                // FluentCart refused a state the caller asked for: the create fails as a whole, so the order it
                // made must not stay behind (the caller is told it was not created).
                if let Err(e) = self.delete(&id).await {
                    tracing::warn!(backend = %self.http.name(), order = %id, error = %e.for_log(), "could not remove a FluentCart order whose states were refused");
                    return Err(e);
                }
                journal.record("order_id", Value::Null).await?;
                return Err(UpstreamError::Rejected {
                    status,
                    message,
                    detail,
                });
            }
            Err(e) => return Err(e),
        };
        match reply {
            CreateReply::Order if changed => self.fetch(&id).await,
            // Nothing changed since it was read (a new order already in the state asked for), or the creator
            // needs only the ids, which states do not change: the order as read is the answer.
            CreateReply::Order | CreateReply::Ids => Ok(created),
        }
    }

    /// The `POST /orders` body: the codec's create request with the customer and address ids FluentCart wants
    /// and the stamped note.
    async fn create_body(
        &self,
        order: &Order,
        note: String,
        journal: &Journal,
    ) -> Result<Value, UpstreamError> {
        let mut send = order.clone();
        let customer_id = self
            .step(journal, "customer_id", self.ensure_customer(order))
            .await?;
        let email = order.customer.email.clone().unwrap_or_default();
        if let Some(billing) = &order.billing_address {
            let id = self
                .step(
                    journal,
                    "billing_address_id",
                    self.ensure_address(customer_id, billing, "billing", &email),
                )
                .await?;
            if let Some(a) = send.billing_address.as_mut() {
                a.ids.fluentcart = Some(id);
            }
        }
        if let Some(shipping) = order.shipping_destinations.first() {
            let id = self
                .step(
                    journal,
                    "shipping_address_id",
                    self.ensure_address(customer_id, shipping, "shipping", &email),
                )
                .await?;
            if let Some(a) = send.shipping_destinations.first_mut() {
                a.ids.fluentcart = Some(id);
            }
        }
        send.customer.ids.fluentcart = Some(customer_id);
        send.customer_note = Some(note);
        // A new order has no upstream objects yet; ids the order carries are not FluentCart's.
        send.ids.platform.fluentcart = None;
        for line in &mut send.line_items {
            line.ids.fluentcart = None;
        }
        send.payments.clear();
        let encoded = wire::encode_create_request(&send);
        if !encoded.losses.is_empty() {
            tracing::debug!(backend = %self.http.name(), losses = encoded.losses.len(), "FluentCart create request drops parts of the order");
        }
        Ok(encoded.value)
    }

    pub async fn find_by_stamp(&self, stamp: &Stamp) -> Result<Option<Order>, UpstreamError> {
        for page in 1..=STAMP_SCAN_PAGES {
            let q = query_string(&[
                ("page".to_owned(), page.to_string()),
                ("per_page".to_owned(), STAMP_SCAN_PER_PAGE.to_string()),
                ("sort_by".to_owned(), "id".to_owned()),
                ("sort_type".to_owned(), "desc".to_owned()),
            ]);
            let reply = self
                .send(self.call(Method::GET, format!("/orders?{q}")))
                .await?;
            let paginator = reply
                .get("orders")
                .ok_or_else(|| UpstreamError::Malformed("order list without orders".to_owned()))?;
            let rows = paginator
                .get("data")
                .and_then(Value::as_array)
                .ok_or_else(|| {
                    UpstreamError::Malformed("order list without orders.data".to_owned())
                })?;
            if let Some(id) = rows
                .iter()
                .find(|row| raw_stamp(row).as_ref() == Some(stamp))
                .and_then(|row| u64_of(row.get("id")))
            {
                // Read the order itself back: the list row matched, the order must still carry the stamp.
                let raw = self.fetch_raw(&id.to_string()).await?;
                if raw_stamp(raw.get("order").unwrap_or(&Value::Null)).as_ref() == Some(stamp) {
                    return self.decode(raw).map(Some);
                }
            }
            let last_page = u64_of(paginator.get("last_page")).unwrap_or(0);
            if rows.len() < STAMP_SCAN_PER_PAGE as usize || u64::from(page) >= last_page {
                return Ok(None);
            }
        }
        tracing::warn!(backend = %self.http.name(), stamp = stamp.key(), "stamp not among the newest FluentCart orders scanned");
        Ok(None)
    }

    pub async fn get(&self, upstream_id: &str) -> Result<Order, UpstreamError> {
        self.fetch(upstream_id).await
    }

    /// `Adapter::list`.
    pub async fn list(&self, query: &OrderQuery) -> Result<Listed, UpstreamError> {
        let (rows, total) = self.list_rows(query).await?;
        Ok(Listed {
            total,
            ..Self::sort_rows(rows)?
        })
    }

    /// The rows' orders, those that did not decode set apart.
    fn sort_rows(rows: Vec<wire::ListRow>) -> Result<Listed, UpstreamError> {
        let mut listed = Listed::default();
        for row in rows {
            match (row.order, row.id) {
                (Ok(mut order), _) => {
                    unstamp(&mut order);
                    listed.items.push(order);
                }
                (Err(p), Some(id)) => listed.unreadable.push(Unreadable {
                    id: id.to_string(),
                    created_at: None,
                    reason: malformed("FluentCart order", &p).to_string(),
                }),
                // Without its id, the order cannot even be named: the page itself is unreadable.
                (Err(p), None) => return Err(malformed("FluentCart order list", &p)),
            }
        }
        Ok(listed)
    }

    /// The rows of one page (assembled from FluentCart's own pages), each decoded on its own, and the total.
    async fn list_rows(
        &self,
        query: &OrderQuery,
    ) -> Result<(Vec<wire::ListRow>, u64), UpstreamError> {
        let Some(filters) = filter_params(&query.filter)? else {
            return Ok((Vec::new(), 0));
        };
        let size = upstream_page_size(query.per_page).ok_or_else(|| {
            unsupported(
                ProblemKind::InvalidParameter,
                format!(
                    "FluentCart serves at most {PER_PAGE_MAX} orders per page; a page of {} cannot be assembled from its pages",
                    query.per_page
                ),
            )
        })?;
        let per_request = query.per_page.max(1) / size;
        let first = u64::from(query.page.max(1) - 1) * u64::from(per_request) + 1;
        let mut rows = Vec::new();
        let mut total = 0;
        for upstream_page in first..first + u64::from(per_request) {
            let mut pairs = filters.clone();
            pairs.extend([
                ("page".to_owned(), upstream_page.to_string()),
                ("per_page".to_owned(), size.to_string()),
                ("sort_by".to_owned(), sort_column(query.sort).to_owned()),
                (
                    "sort_type".to_owned(),
                    if query.descending { "desc" } else { "asc" }.to_owned(),
                ),
                ("with".to_owned(), "order_items".to_owned()),
            ]);
            let reply = self
                .send(self.call(Method::GET, format!("/orders?{}", query_string(&pairs))))
                .await?;
            total = u64_of(reply.get("orders").and_then(|o| o.get("total"))).ok_or_else(|| {
                UpstreamError::Malformed("order list without orders.total".to_owned())
            })?;
            let got = wire::decode_list_rows(reply, &self.ctx.decode)
                .map_err(|p| malformed("FluentCart order list", &p))?;
            let n = got.len();
            rows.extend(got);
            if n < size as usize {
                break;
            }
        }
        Ok((rows, total))
    }

    pub async fn update(&self, before: &Order, after: &Order) -> Result<Order, UpstreamError> {
        let id = order_id_of(before)?;
        let raw = self.fetch_raw(&id).await?;
        let inner = raw.get("order").unwrap_or(&Value::Null);
        let current = self.decode(raw.clone())?;

        let customer_changed = after.customer.email.as_deref().map(str::trim)
            != before.customer.email.as_deref().map(str::trim)
            || (after.customer.ids.fluentcart.is_some()
                && after.customer.ids.fluentcart != before.customer.ids.fluentcart);
        let billing_changed = !same_address(
            before.billing_address.as_ref(),
            after.billing_address.as_ref(),
        );
        let shipping_changed = !same_address(
            before.shipping_destinations.first(),
            after.shipping_destinations.first(),
        );
        for (changed, now, kind) in [
            (billing_changed, after.billing_address.as_ref(), "billing"),
            (
                shipping_changed,
                after.shipping_destinations.first(),
                "shipping",
            ),
        ] {
            let exists = match kind {
                "billing" => current.billing_address.is_some(),
                _ => !current.shipping_destinations.is_empty(),
            };
            if changed && (now.is_none() || !exists) {
                return Err(unsupported(
                    ProblemKind::ForbiddenField,
                    format!(
                        "FluentCart can edit an order's {kind} address but not add or remove one"
                    ),
                ));
            }
        }
        if after.shipping_destinations.len() > 1 {
            return Err(unsupported(
                ProblemKind::ForbiddenField,
                "FluentCart orders ship to one address",
            ));
        }
        if after.currency != before.currency {
            return Err(unsupported(
                ProblemKind::ForbiddenField,
                "FluentCart cannot change an order's currency",
            ));
        }
        let target = triple(after);
        plan_states(triple(&current), target)?;

        // Lines: those with a FluentCart id are kept (and changed), the rest are new; missing ones are deleted.
        let kept: Vec<u64> = after
            .line_items
            .iter()
            .filter_map(|l| l.ids.fluentcart)
            .collect();
        let deleted: Vec<u64> = before
            .line_items
            .iter()
            .filter_map(|l| l.ids.fluentcart)
            .filter(|id| !kept.contains(id))
            .collect();
        let lines_changed = !deleted.is_empty()
            || after.line_items.len() != before.line_items.len()
            || after
                .line_items
                .iter()
                .zip(&before.line_items)
                .any(|(a, b)| a.ids.fluentcart != b.ids.fluentcart || line_changed(a, b));
        let note_changed = after.customer_note != before.customer_note;
        let body_changed = lines_changed
            || note_changed
            || after.shipping_lines != before.shipping_lines
            || after.discounts != before.discounts
            || after.payment_method != before.payment_method;

        if customer_changed {
            let customer_id = self.ensure_customer(after).await?;
            if Some(customer_id) != current.customer.ids.fluentcart {
                self.send(
                    self.call(Method::POST, format!("/orders/{id}/change-customer"))
                        .json(json!({ "customer_id": customer_id }))
                        .retry(Retry::Safe),
                )
                .await?;
            }
        }
        if body_changed {
            let mut send = after.clone();
            // Keep the stamp line the order already has: it is how a create is recognised later.
            let note = match raw_stamp(inner) {
                Some(stamp) => Some(stamped_note(after.customer_note.as_deref(), &stamp)?),
                None => after.customer_note.clone(),
            };
            send.customer_note = note;
            send.payments.clear();
            let encoded = wire::encode_update_request(&send, &deleted);
            let mut body = encoded.value;
            if let Value::Object(map) = &mut body {
                if note_changed && !map.contains_key("note") {
                    // Absent would leave the old note; the caller removed it.
                    map.insert("note".into(), Value::String(String::new()));
                }
                // The order's own address ids are not customer-address ids; addresses are edited separately.
                map.remove("billing_address_id");
                map.remove("shipping_address_id");
                // The statuses endpoint sets states; FluentCart's update refuses `completed` in the body.
                map.remove("status");
                map.remove("payment_status");
            }
            self.send(
                self.call(Method::POST, format!("/orders/{id}"))
                    .json(body)
                    .retry(Retry::Safe),
            )
            .await?;
        }
        let mut addresses_sent = false;
        for (changed, address, existing) in [
            (
                billing_changed,
                after.billing_address.as_ref(),
                current.billing_address.as_ref(),
            ),
            (
                shipping_changed,
                after.shipping_destinations.first(),
                current.shipping_destinations.first(),
            ),
        ] {
            if let (true, Some(a), Some(address_id)) =
                (changed, address, existing.and_then(|e| e.ids.fluentcart))
            {
                let mut body = address_body(a, "", "");
                if let Value::Object(map) = &mut body {
                    map.remove("type");
                    map.remove("email");
                    map.insert(
                        "order_id".into(),
                        Value::from(id.parse::<u64>().unwrap_or(0)),
                    );
                }
                self.send(
                    self.call(Method::PUT, format!("/orders/{id}/address/{address_id}"))
                        .json(body),
                )
                .await?;
                addresses_sent = true;
            }
        }
        let now = if body_changed || customer_changed || addresses_sent {
            self.fetch(&id).await?
        } else {
            current
        };
        let states_changed = triple(&now) != target
            && self
                .apply_states(&id, &now, target, after.payment_method.as_deref())
                .await?;
        // `now` is the order as it stands unless states were just changed (it was read again after any other
        // change, and is `current` when there was none).
        if states_changed {
            self.fetch(&id).await
        } else {
            Ok(now)
        }
    }

    pub async fn transition(
        &self,
        before: &Order,
        transition: &Transition,
        after: &Order,
    ) -> Result<Order, UpstreamError> {
        let id = order_id_of(before)?;
        let id = numeric_id(&id)?.to_owned();
        match transition {
            Transition::Authorize => {
                return Err(unsupported(
                    ProblemKind::InvalidTransition,
                    "FluentCart has no operation that authorizes a payment; payments are authorized at checkout",
                ))
            }
            Transition::Refund { .. } => {
                let refunded = |o: &Order| o.totals.refunded_total.map_or(0, |m| m.minor);
                let amount = Money::new(refunded(after) - refunded(before), before.currency);
                let transaction = before
                    .payments
                    .iter()
                    .rev()
                    .filter(|p| p.kind.as_deref() != Some("refund"))
                    .find_map(|p| p.ids.fluentcart)
                    .ok_or_else(|| {
                        unsupported(
                            ProblemKind::InvalidTransition,
                            "the FluentCart order has no payment transaction to refund",
                        )
                    })?;
                // FluentCart reads `refund_info.amount` in decimal major units (its controller runs it through
                // `Helper::toCent`), unlike every other amount in its API; its spec file says cents, its code
                // does not. The embedded FluentCart API (`actions::decode_refund_request`) does the same.
                let major = exact_number(amount.to_decimal(), false).ok_or_else(|| {
                    unsupported(ProblemKind::InvalidMoney, "refund amount cannot be written")
                })?;
                // Not retried after an ambiguous failure: a second refund would refund twice.
                self.send(
                    self.call(Method::POST, format!("/orders/{id}/refund"))
                        .json(json!({"refund_info": {"transaction_id": transaction, "amount": major}})),
                )
                .await?;
            }
            Transition::Capture => {
                let reply = self
                    .send(self.call(Method::POST, "/orders/do-bulk-action").json(json!({
                        "action": "capture_payments",
                        "order_ids": [id.parse::<u64>().unwrap_or(0)],
                    })))
                    .await?;
                if reply
                    .get("failed_order_ids")
                    .and_then(Value::as_array)
                    .is_some_and(|ids| !ids.is_empty())
                {
                    return Err(UpstreamError::Rejected {
                        status: StatusCode::UNPROCESSABLE_ENTITY,
                        message: "FluentCart could not capture the order's payment".to_owned(),
                        detail: None,
                    });
                }
            }
            Transition::MarkPaid { method } => {
                let current = self.fetch(&id).await?;
                let target = StatusTriple {
                    payment: PaymentStatus::Paid,
                    ..triple(&current)
                };
                let plan = plan_states(triple(&current), target)?;
                if plan.mark_paid {
                    let mut body = json!({});
                    if let Some(m) = method {
                        body["payment_method"] = Value::String(m.clone());
                    }
                    self.send(
                        self.call(Method::POST, format!("/orders/{id}/mark-as-paid"))
                            .json(body)
                            .retry(Retry::Safe),
                    )
                    .await?;
                }
            }
            Transition::Place
            | Transition::Approve
            | Transition::Cancel
            | Transition::Fulfill
            | Transition::Set(_) => {
                let current = self.fetch(&id).await?;
                self.apply_states(&id, &current, triple(after), after.payment_method.as_deref())
                    .await?;
            }
        }
        self.fetch(&id).await
    }

    pub async fn delete(&self, upstream_id: &str) -> Result<(), UpstreamError> {
        let id = numeric_id(upstream_id)?;
        self.send(self.call(Method::DELETE, format!("/orders/{id}")))
            .await
            .map(|_| ())
    }

    // -----------------------------------------------------------------------------------------------------------
    // Customer e-mail notifications (switched off while a migration runs)

    /// The shop's customer notifications (`GET /email-notification`): an object keyed by name, each entry with
    /// `recipient`, `title` and `settings.active` (`"yes"` sends). Entries marked `manage_toggle: "no"` (the
    /// order-placed e-mail) are sent whatever their setting.
    pub async fn customer_notifications(&self) -> Result<Vec<NotificationSwitch>, UpstreamError> {
        let body = self
            .send(self.call(Method::GET, "/email-notification"))
            .await?;
        let entries = body.get("data").and_then(Value::as_object).ok_or_else(|| {
            UpstreamError::Malformed("FluentCart notification list without a `data` object".into())
        })?;
        let text = |e: &Value, pointer: &str| {
            e.pointer(pointer)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        Ok(entries
            .iter()
            .filter(|(_, e)| text(e, "/recipient").as_deref() == Some("customer"))
            .map(|(name, e)| {
                let switchable = text(e, "/manage_toggle").as_deref() != Some("no");
                NotificationSwitch {
                    name: name.clone(),
                    title: text(e, "/title").unwrap_or_else(|| name.clone()),
                    active: !switchable || text(e, "/settings/active").as_deref() == Some("yes"),
                    switchable,
                }
            })
            .collect())
    }

    /// `POST /email-notification/enable-notification/{name}` with `{"active": "yes" | "no"}`: other settings of
    /// the notification (subject, body) are kept. Setting a value is safe to repeat.
    pub async fn switch_notification(&self, name: &str, on: bool) -> Result<(), UpstreamError> {
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(unsupported(
                ProblemKind::InvalidParameter,
                format!("{name:?} is not a FluentCart notification name"),
            ));
        }
        let call = self
            .call(
                Method::POST,
                format!("/email-notification/enable-notification/{name}"),
            )
            .json(json!({"active": if on { "yes" } else { "no" }}))
            .retry(Retry::Safe);
        self.send(call).await.map(drop)
    }
}

/// The shipping status a new FluentCart order starts with: `unshipped`, or empty when nothing ships.
trait StartingFulfillment {
    fn fulfillment_or_unshipped(&self) -> FulfillmentStatus;
}

impl StartingFulfillment for StatusTriple {
    fn fulfillment_or_unshipped(&self) -> FulfillmentStatus {
        if self.fulfillment == FulfillmentStatus::NotRequired {
            FulfillmentStatus::NotRequired
        } else {
            FulfillmentStatus::Unfulfilled
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_shape_reads() {
        let wp = json!({"code": "rest_forbidden", "message": "Sorry, you are not allowed to do that.", "data": {"status": 401}});
        assert_eq!(
            read_error(&wp).unwrap().0,
            "Sorry, you are not allowed to do that."
        );
        let fc = json!({"success": false, "error": {"code": "invalid", "message": "Bad order"}});
        assert_eq!(read_error(&fc).unwrap().0, "Bad order");
        let laravel = json!({"message": "The given data was invalid.", "errors": {"customer_id": ["This field is required."]}});
        let (m, d) = read_error(&laravel).unwrap();
        assert!(m.contains("required"), "{m}");
        assert_eq!(d.as_deref(), Some("/customer_id"));
        let bare = json!({"customer_id": {"required": "Customer selection is required"}});
        assert_eq!(
            read_error(&bare).unwrap(),
            (
                "Customer selection is required".to_owned(),
                Some("/customer_id".to_owned())
            )
        );
        let numeric = json!({"code": 400, "message": "Customer already exists.", "data": ""});
        assert_eq!(read_error(&numeric).unwrap().0, "Customer already exists.");
        assert!(read_error(&json!([1, 2])).is_none());
        let long = json!({"message": "x".repeat(5000)});
        assert!(read_error(&long).unwrap().0.chars().count() <= 301);
    }

    #[test]
    fn the_stamp_is_the_notes_last_line_and_is_hidden() {
        let stamp = Stamp::for_key("c", "k");
        let note = stamped_note(Some("leave at the door"), &stamp).unwrap();
        assert_eq!(
            split_note(&note),
            (Some("leave at the door".to_owned()), Some(stamp.clone()))
        );
        let bare = stamped_note(None, &stamp).unwrap();
        assert_eq!(split_note(&bare), (None, Some(stamp.clone())));
        assert_eq!(
            split_note("no stamp here"),
            (Some("no stamp here".to_owned()), None)
        );
        // Not ordermux's: a look-alike that is not a valid stamp stays part of the note.
        assert_eq!(split_note("ordermux-ref: omx-XYZ").1, None);
        assert!(stamped_note(Some(&"n".repeat(NOTE_MAX_CHARS)), &stamp).is_err());
    }

    #[test]
    fn states_are_planned_with_fluentcart_operations() {
        let start = StatusTriple {
            order: OrderStatus::Placed,
            payment: PaymentStatus::Unpaid,
            fulfillment: FulfillmentStatus::Unfulfilled,
        };
        let paid = StatusTriple {
            order: OrderStatus::Processing,
            payment: PaymentStatus::Paid,
            fulfillment: FulfillmentStatus::Fulfilled,
        };
        let plan = plan_states(start, paid).unwrap();
        assert!(plan.mark_paid);
        assert_eq!(plan.shipping_status, Some("shipped"));
        assert_eq!(plan.order_status, Some("processing"));
        assert_eq!(plan_states(start, start).unwrap(), StatePlan::default());
        let declined = StatusTriple {
            order: OrderStatus::Declined,
            ..start
        };
        assert!(matches!(
            plan_states(start, declined),
            Err(UpstreamError::Unsupported(_))
        ));
        let refunded = StatusTriple {
            payment: PaymentStatus::Refunded,
            ..start
        };
        assert!(plan_states(start, refunded).is_err());
    }

    #[test]
    fn filters_become_list_parameters_or_are_refused() {
        let all_paid: Vec<StatusTriple> = actions::status_filter(&[], &["paid"], &[]);
        let params = filter_params(&OrderFilter {
            statuses: Some(all_paid),
            ..Default::default()
        })
        .unwrap()
        .unwrap();
        assert_eq!(
            params,
            vec![("payment_statuses[]".to_owned(), "paid".to_owned())]
        );
        let email = OrderFilter {
            email: Some("a@b.c".into()),
            ..Default::default()
        };
        assert!(matches!(
            filter_params(&email),
            Err(UpstreamError::Unsupported(p)) if p.kind == ProblemKind::InvalidParameter
        ));
        let ids = OrderFilter {
            id_range: Some((
                Platform::FluentCart,
                crate::canonical::Range {
                    min: Some(2),
                    max: Some(9),
                },
            )),
            ..Default::default()
        };
        assert_eq!(
            filter_params(&ids).unwrap().unwrap(),
            vec![("search".to_owned(), "id :: 2-9".to_owned())]
        );
        // Two triples that are not a product of per-axis sets.
        let odd = vec![
            StatusTriple {
                order: OrderStatus::Processing,
                payment: PaymentStatus::Paid,
                fulfillment: FulfillmentStatus::Unfulfilled,
            },
            StatusTriple {
                order: OrderStatus::Completed,
                payment: PaymentStatus::Refunded,
                fulfillment: FulfillmentStatus::Unfulfilled,
            },
        ];
        assert!(filter_params(&OrderFilter {
            statuses: Some(odd),
            ..Default::default()
        })
        .is_err());
    }

    #[test]
    fn big_pages_are_assembled_from_accepted_sizes() {
        assert_eq!(upstream_page_size(50), Some(50));
        assert_eq!(upstream_page_size(250), Some(125));
        assert_eq!(upstream_page_size(199), Some(199));
        assert_eq!(upstream_page_size(211), None);
    }
}
