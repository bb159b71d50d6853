//! FluentCart REST v2 order API (`/wp-json/fluent-cart/v2`) served by the embedded shop.
//!
//! Routes (FluentCart's `app/Http/Routes/api.php`; ids are digits only, as its route patterns are):
//! `GET|POST /orders`, `GET|POST|DELETE /orders/{id}` (update is POST, there is no PUT),
//! `POST /orders/{id}/mark-as-paid`, `POST /orders/{id}/refund`, `PUT /orders/{id}/statuses`,
//! `POST /orders/{id}/change-customer`, `GET /orders/{id}/transactions[/{transaction_id}]`,
//! `POST /orders/do-bulk-action`.
//!
//! Behaviour chosen where FluentCart and its docs leave room (each is also said at its place below):
//! - Create is faithful to FluentCart's admin create: the client's `status` / `payment_status` /
//!   `shipping_status`, `payment_method` and stated totals are ignored; a new order is `on-hold` / `pending` /
//!   `unshipped`, paid offline, with totals recomputed from its items. Unlike FluentCart, the body's `currency`
//!   is kept (the shop sells in several currencies) instead of being replaced by the store currency.
//! - `per_page` above 199 falls back to 10, as FluentCart's source does (its docs say "max 200").
//! - A transaction's id is its 1-based position among the order's transactions (payments, captures, refunds).
//! - The refund amount is in decimal major units (`Helper::toCent` in FluentCart's controller), parsed exactly.

use std::collections::BTreeSet;

use http::{Method, StatusCode};
use serde_json::{json, Value};

use super::query::invalid;
use super::{
    no_route, parse_body, path_id, pick, ApiContext, ApiRequest, ApiResponse, ApiResult, Operation,
};
use crate::canonical::lifecycle::{self, Transition};
use crate::canonical::{
    Customer, FulfillmentType, Order, OrderFilter, OrderQuery, OrderStatus, PaymentStatus,
    Platform, Problem, ProblemKind, Range, SortKey, StatusTriple, Timestamp,
};
use crate::dialects::dates::render_naive;
use crate::dialects::fluentcart::actions::{self, BulkKind, MarkPaidRequest, StatusChange};
use crate::dialects::fluentcart::{self as wire, ListPage};
use crate::dialects::Loss;
use crate::service::{fill_customer, ShopError};
use crate::store::ObjectId;

const P: Platform = Platform::FluentCart;

/// FluentCart's default page size, and what it falls back to for `per_page` ≥ 200.
const DEFAULT_PER_PAGE: u32 = 10;
const PER_PAGE_LIMIT: u64 = 200;

fn is_id(segment: &str) -> bool {
    !segment.is_empty() && segment.len() <= 19 && segment.bytes().all(|b| b.is_ascii_digit())
}

pub fn operation(method: &Method, segments: &[&str]) -> Result<Operation, Problem> {
    match segments {
        ["orders"] => pick(
            method,
            &[
                (Method::GET, Operation::read("orders.list")),
                (Method::POST, Operation::create_order("orders.create")),
            ],
        ),
        ["orders", "do-bulk-action"] => pick(
            method,
            &[(Method::POST, Operation::write("orders.bulk_action"))],
        ),
        ["orders", id] if is_id(id) => pick(
            method,
            &[
                (Method::GET, Operation::read("orders.get")),
                (Method::POST, Operation::write("orders.update")),
                (Method::DELETE, Operation::write("orders.delete")),
            ],
        ),
        ["orders", id, action] if is_id(id) => match *action {
            "mark-as-paid" => pick(
                method,
                &[(Method::POST, Operation::keyed_action("orders.mark_as_paid"))],
            ),
            "refund" => pick(
                method,
                &[(Method::POST, Operation::keyed_action("orders.refund"))],
            ),
            "statuses" => pick(
                method,
                &[(Method::PUT, Operation::write("orders.statuses"))],
            ),
            "change-customer" => pick(
                method,
                &[(Method::POST, Operation::write("orders.change_customer"))],
            ),
            "transactions" => pick(
                method,
                &[(Method::GET, Operation::read("orders.transactions"))],
            ),
            _ => Err(no_route(&segments.join("/"))),
        },
        ["orders", id, "transactions", tx] if is_id(id) && is_id(tx) => pick(
            method,
            &[(Method::GET, Operation::read("orders.transaction"))],
        ),
        _ => Err(no_route(&segments.join("/"))),
    }
}

pub async fn handle(ctx: &ApiContext, req: &ApiRequest) -> ApiResult {
    let segments = req.segments();
    let op = operation(&req.method, &segments)?;
    let id = match segments.get(1) {
        Some(s) if is_id(s) => Some(path_id(P, s, "order")?),
        _ => None,
    };
    let need_id = || id.clone().ok_or_else(|| no_route(&segments.join("/")));
    match op.name {
        "orders.list" => list(ctx, req).await,
        "orders.create" => create(ctx, req).await,
        "orders.bulk_action" => bulk_action(ctx, req).await,
        "orders.get" | "orders.transactions" => get(ctx, req, &need_id()?, None).await,
        "orders.transaction" => {
            let tx = segments
                .get(3)
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(|| no_route(&segments.join("/")))?;
            get(ctx, req, &need_id()?, Some(tx)).await
        }
        "orders.update" => update(ctx, req, &need_id()?).await,
        "orders.delete" => delete(ctx, req, &need_id()?).await,
        "orders.mark_as_paid" => mark_as_paid(ctx, req, &need_id()?).await,
        "orders.refund" => refund(ctx, req, &need_id()?).await,
        "orders.statuses" => statuses(ctx, req, &need_id()?).await,
        "orders.change_customer" => change_customer(ctx, req, &need_id()?).await,
        _ => Err(no_route(&segments.join("/"))),
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Helpers

fn shop_err(e: ShopError) -> Problem {
    e.into_problem("order")
}

fn ok(body: Value) -> ApiResponse {
    ApiResponse::json(StatusCode::OK, body)
}

/// A body whose members are all optional: empty reads as `{}`.
fn optional_body(req: &ApiRequest) -> Result<Value, Problem> {
    if req.body.iter().all(u8::is_ascii_whitespace) {
        Ok(json!({}))
    } else {
        parse_body(&req.body)
    }
}

fn fc_id(order: &Order) -> Value {
    order
        .ids
        .platform
        .fluentcart
        .map_or(Value::Null, Value::from)
}

fn triple(order: &Order) -> StatusTriple {
    StatusTriple {
        order: order.status,
        payment: order.payment_status,
        fulfillment: order.fulfillment_status,
    }
}

/// A request body describes the order as the caller wants it, not members of the stored order: FluentCart
/// members the codec keeps for round trips (`price`, `user_tz`, `billing_address_id`…) would otherwise be replayed
/// onto every later reply, stale once the order changes.
fn strip_request_ext(order: &mut Order) {
    order.strip_platform_ext(P);
}

/// Gives every transaction without a FluentCart id its 1-based position. Transactions are only ever appended, so
/// the id a reply shows is the id a later request finds, whether or not it was stored.
fn number_transactions(order: &mut Order) {
    for (i, p) in order.payments.iter_mut().enumerate() {
        if p.ids.fluentcart.is_none() {
            p.ids.fluentcart = Some(i as u64 + 1);
        }
    }
}

/// The `GET /orders/{id}` reply: the codec's `{"order": {...}}` plus the sibling members FluentCart sends, where the
/// order does not already carry them.
fn order_envelope(order: &Order) -> (Value, Vec<Loss>) {
    let mut order = order.clone();
    number_transactions(&mut order);
    let out = wire::encode_order(&order);
    let mut value = out.value;
    if let Value::Object(map) = &mut value {
        let discount_meta = map
            .get("order")
            .and_then(|o| o.get("discount"))
            .cloned()
            .unwrap_or_else(|| json!({"type": "", "value": 0, "label": "", "reason": ""}));
        let shipping_meta = match order.shipping_lines.first() {
            Some(s) => json!({
                "type": "custom",
                "rate_name": s.method.clone().unwrap_or_default(),
                "custom_price": map.get("order").and_then(|o| o.get("shipping")).and_then(|s| s.get(0)).and_then(|s| s.get("custom_price")).cloned().unwrap_or(Value::from(0)),
            }),
            None => json!({"type": "none", "rate_name": "", "custom_price": 0}),
        };
        let siblings = [
            ("discount_meta", discount_meta),
            ("shipping_meta", shipping_meta),
            ("selected_labels", json!([])),
            ("tax_id", Value::Null),
            ("checkout_shipping", Value::Null),
            ("can_send_payment_reminder", Value::Bool(false)),
        ];
        for (k, v) in siblings {
            map.entry(k).or_insert(v);
        }
    }
    (value, out.losses)
}

// ---------------------------------------------------------------------------------------------------------------
// GET /orders

/// Values of a PHP array parameter in any spelling: `name=a,b`, `name[]=a`, `name[0]=a`.
fn array_param<'a>(req: &'a ApiRequest, name: &str) -> Vec<&'a str> {
    req.query
        .pairs()
        .filter(|(k, _)| {
            *k == name
                || k.strip_prefix(name)
                    .and_then(|rest| rest.strip_prefix('['))
                    .is_some_and(|rest| rest.ends_with(']'))
        })
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect()
}

/// Narrows the status filter to `triples` (filters from several parameters must all hold).
fn restrict(filter: &mut OrderFilter, triples: Vec<StatusTriple>) {
    filter.statuses = Some(match filter.statuses.take() {
        Some(existing) => existing
            .into_iter()
            .filter(|t| triples.contains(t))
            .collect(),
        None => triples,
    });
}

fn per_page(req: &ApiRequest) -> Result<u32, Problem> {
    match req.query.get("per_page").map(str::trim) {
        None | Some("") => Ok(DEFAULT_PER_PAGE),
        Some(text) => match text.parse::<u64>() {
            Ok(0) | Err(_) => Err(invalid("per_page", "must be a positive integer")),
            // FluentCart's source ignores a page size of 200 or more and uses its default.
            Ok(n) if n >= PER_PAGE_LIMIT => Ok(DEFAULT_PER_PAGE),
            Ok(n) => Ok(u32::try_from(n).unwrap_or(DEFAULT_PER_PAGE)),
        },
    }
}

fn sort(req: &ApiRequest) -> Result<(SortKey, bool), Problem> {
    let by_name = if req.query.get("sort_by").is_some() {
        "sort_by"
    } else {
        "order_by"
    };
    let key = match req.query.get(by_name).map(str::trim) {
        None | Some("") | Some("id") => SortKey::Id,
        Some("created_at") => SortKey::CreatedAt,
        Some("updated_at") => SortKey::UpdatedAt,
        Some("total_amount") | Some("total") => SortKey::Total,
        Some("status") => SortKey::Status,
        Some(_) => {
            return Err(invalid(
                by_name,
                "must be one of id, created_at, updated_at, total_amount, status",
            ))
        }
    };
    let type_name = if req.query.get("sort_type").is_some() {
        "sort_type"
    } else {
        "order_type"
    };
    let descending = match req
        .query
        .get(type_name)
        .map(|s| s.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("") | Some("desc") => true,
        Some("asc") => false,
        Some(_) => return Err(invalid(type_name, "must be asc or desc")),
    };
    Ok((key, descending))
}

/// `active_view`: the admin list's tabs. Subscription tabs match nothing (the shop sells one-time items only).
fn active_view(filter: &mut OrderFilter, view: &str) -> Result<(), Problem> {
    let triples = match view {
        "on-hold" | "completed" | "processing" => actions::status_filter(&[view], &[], &[]),
        "paid" | "refunded" | "partially_refunded" => actions::status_filter(&[], &[view], &[]),
        "onetime" | "all" => return Ok(()),
        "renewal" | "subscription" | "upgraded_to" | "upgraded_from" => Vec::new(),
        _ => return Err(invalid("active_view", "is not a known view")),
    };
    restrict(filter, triples);
    Ok(())
}

fn parse_id(text: &str) -> Result<u64, Problem> {
    text.trim()
        .parse()
        .map_err(|_| invalid("search", &format!("{text:?} is not an order id")))
}

/// `search`: free text over invoice number, customer email and name, or one `field op value` condition
/// (`status = completed`, `id > 5`, `id :: 1-10`) on a field the shop can filter by.
fn search(filter: &mut OrderFilter, text: &str) -> Result<(), Problem> {
    const OPERATORS: [&str; 7] = ["::", ">=", "<=", "!=", "=", ">", "<"];
    let found = OPERATORS
        .iter()
        .filter_map(|op| text.find(op).map(|at| (at, *op)))
        .min_by_key(|(at, op)| (*at, std::cmp::Reverse(op.len())));
    if let Some((at, op)) = found {
        let field = text[..at].trim();
        let value = text[at + op.len()..].trim();
        let known = matches!(
            field,
            "id" | "status"
                | "payment_status"
                | "shipping_status"
                | "invoice_no"
                | "customer_id"
                | "email"
        );
        if known && !value.is_empty() {
            if op == "!=" {
                return Err(invalid("search", "does not support the != operator"));
            }
            let equals_only = |f: &mut OrderFilter| -> Result<(), Problem> {
                if op != "=" {
                    return Err(invalid(
                        "search",
                        &format!("field {field} takes only the = operator"),
                    ));
                }
                match field {
                    "status" => restrict(f, actions::status_filter(&[value], &[], &[])),
                    "payment_status" => restrict(f, actions::status_filter(&[], &[value], &[])),
                    "shipping_status" => restrict(f, actions::status_filter(&[], &[], &[value])),
                    "invoice_no" => f.number = Some(value.to_owned()),
                    "customer_id" => f.customer = Some((P, parse_id(value)?.to_string())),
                    _ => f.email = Some(value.to_owned()),
                }
                Ok(())
            };
            if field != "id" {
                return equals_only(filter);
            }
            let mut range = Range::default();
            match op {
                "::" => {
                    let (a, b) = value
                        .split_once('-')
                        .ok_or_else(|| invalid("search", "id :: needs a range such as 1-10"))?;
                    range.min = Some(parse_id(a)?);
                    range.max = Some(parse_id(b)?);
                }
                "=" => {
                    let n = parse_id(value)?;
                    range.min = Some(n);
                    range.max = Some(n);
                }
                ">" => range.min = Some(parse_id(value)?.saturating_add(1)),
                ">=" => range.min = Some(parse_id(value)?),
                "<" => match parse_id(value)?.checked_sub(1) {
                    Some(max) => range.max = Some(max),
                    // `id < 0` matches nothing.
                    None => restrict(filter, Vec::new()),
                },
                _ => range.max = Some(parse_id(value)?),
            }
            filter.id_range = Some((P, range));
            return Ok(());
        }
    }
    filter.search = Some(text.to_owned());
    Ok(())
}

async fn list(ctx: &ApiContext, req: &ApiRequest) -> ApiResult {
    let page = req.query.positive("page", 1, u32::MAX)?;
    let per_page = per_page(req)?;
    let (sort, descending) = sort(req)?;
    let mut filter = OrderFilter::default();
    let order_statuses = array_param(req, "order_statuses");
    let payment_statuses = array_param(req, "payment_statuses");
    let shipping_statuses = array_param(req, "shipping_statuses");
    if !(order_statuses.is_empty() && payment_statuses.is_empty() && shipping_statuses.is_empty()) {
        restrict(
            &mut filter,
            actions::status_filter(&order_statuses, &payment_statuses, &shipping_statuses),
        );
    }
    if let Some(view) = req.query.get("active_view").map(str::trim) {
        if !view.is_empty() {
            active_view(&mut filter, view)?;
        }
    }
    if let Some(text) = req.query.get("search").map(str::trim) {
        if !text.is_empty() {
            search(&mut filter, text)?;
        }
    }
    let query = OrderQuery {
        filter,
        sort,
        descending,
        page,
        per_page,
    };
    let listing = ctx
        .shop
        .list(&req.client.id, &query)
        .await
        .map_err(shop_err)?;
    let found = listing.page;
    let mut orders = found.items;
    orders.iter_mut().for_each(number_transactions);
    let out = wire::encode_list(&ListPage {
        orders: &orders,
        current_page: u64::from(page),
        per_page: u64::from(per_page),
        total: found.total,
    });
    let mut value = out.value;
    let last_page = found.total.div_ceil(u64::from(per_page)).max(1);
    if let Some(Value::Object(paginator)) = value.get_mut("orders") {
        let path = format!("{}/orders", req.base_url);
        for (k, v) in paginator_links(&path, u64::from(page), last_page) {
            paginator.insert(k.to_owned(), v);
        }
    }
    Ok(ok(value)
        .with_left_out(&listing.left_out, Platform::FluentCart, "/orders/data")
        .with_losses(out.losses))
}

/// The Laravel paginator's URL members. Page links are windowed as Laravel does for long lists (first two, the
/// current page ± 3, last two), with `...` between.
fn paginator_links(path: &str, page: u64, last_page: u64) -> Vec<(&'static str, Value)> {
    let url = |n: u64| Value::String(format!("{path}/?page={n}"));
    let mut pages: BTreeSet<u64> = BTreeSet::new();
    if last_page <= 13 {
        pages.extend(1..=last_page);
    } else {
        pages.extend([1, 2, last_page - 1, last_page]);
        pages.extend(page.saturating_sub(3).max(1)..=page.saturating_add(3).min(last_page));
    }
    let prev = if page > 1 { url(page - 1) } else { Value::Null };
    let next = if page < last_page {
        url(page + 1)
    } else {
        Value::Null
    };
    let mut links = vec![json!({"url": prev, "label": "pagination.previous", "active": false})];
    let mut last_seen = 0;
    for n in pages {
        if n > last_seen + 1 {
            links.push(json!({"url": null, "label": "...", "active": false}));
        }
        links.push(json!({"url": url(n), "label": n.to_string(), "active": n == page}));
        last_seen = n;
    }
    links.push(json!({"url": next, "label": "pagination.next", "active": false}));
    vec![
        ("first_page_url", url(1)),
        ("last_page_url", url(last_page)),
        ("next_page_url", next),
        ("prev_page_url", prev),
        ("links", Value::Array(links)),
        ("path", Value::String(path.to_owned())),
    ]
}

// ---------------------------------------------------------------------------------------------------------------
// POST /orders, GET /orders/{id}

async fn create(ctx: &ApiContext, req: &ApiRequest) -> ApiResult {
    let doc = parse_body(&req.body)?;
    let mut order = wire::decode_create_request(doc, &ctx.decode_options)?;
    strip_request_ext(&mut order);
    // FluentCart's admin create (AdminOrderProcessor) ignores what the client says about state: every new order
    // is on-hold, payment pending, paid offline, with no payments yet and totals computed from its items.
    order.status = OrderStatus::Placed;
    order.payment_status = PaymentStatus::Unpaid;
    order.fulfillment_status = crate::canonical::FulfillmentStatus::Unfulfilled;
    order.payment_method = Some("offline_payment".to_owned());
    order.payment_method_title = None;
    order.payments.clear();
    order.totals.paid_total = None;
    order.totals.refunded_total = None;
    order.timestamps = Default::default();
    order.timestamps.placed_at = Some(req.now);
    // FluentCart's reply names the new order and nothing more, so only its ids are asked for.
    let created = ctx
        .shop
        .create_order_ids(&req.client.id, order, req.now, req.create_key())
        .await
        .map_err(shop_err)?;
    let mut reply = json!({
        "message": "Order created successfully!",
        "order_id": created.platform.fluentcart,
    });
    // An order made on another platform has no FluentCart uuid; the member is then left out (its schema is a
    // string, so null would be wrong), as the order's own document leaves it out.
    if let Some(uuid) = created.uuid {
        reply["uuid"] = Value::String(uuid);
    }
    Ok(ok(reply))
}

async fn get(ctx: &ApiContext, req: &ApiRequest, id: &ObjectId, tx: Option<u64>) -> ApiResult {
    let mut order = ctx.shop.order(&req.client.id, id).await.map_err(shop_err)?;
    if let Some(tx) = tx {
        number_transactions(&mut order);
        if !order.payments.iter().any(|p| p.ids.fluentcart == Some(tx)) {
            return Err(Problem::new(
                ProblemKind::NotFound,
                "",
                format!("Transaction {tx} was not found on this order."),
            ));
        }
    }
    let (value, losses) = order_envelope(&order);
    Ok(ok(value).with_losses(losses))
}

// ---------------------------------------------------------------------------------------------------------------
// POST /orders/{id}

/// Which optional parts of the order an update body touches (the decoder fills defaults for absent members).
struct Touched {
    status: bool,
    payment_status: bool,
    shipping_status: bool,
    shipping: bool,
    discounts: bool,
    note: bool,
    payment_method: bool,
    /// Per item: (discount_total present, tax_amount present).
    items: Vec<(bool, bool)>,
}

fn present(map: &serde_json::Map<String, Value>, key: &str) -> bool {
    map.get(key).is_some_and(|v| !v.is_null())
}

fn touched(doc: &Value) -> Touched {
    let empty = serde_json::Map::new();
    let map = doc.as_object().unwrap_or(&empty);
    Touched {
        status: present(map, "status"),
        payment_status: present(map, "payment_status"),
        shipping_status: present(map, "shipping_status"),
        shipping: present(map, "shipping"),
        discounts: [
            "discount",
            "manual_discount_total",
            "applied_coupon",
            "coupon_discount_total",
        ]
        .iter()
        .any(|k| present(map, k)),
        note: map.contains_key("note"),
        payment_method: present(map, "payment_method"),
        items: map
            .get("order_items")
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .map(|i| {
                        let m = i.as_object().unwrap_or(&empty);
                        (present(m, "discount_total"), present(m, "tax_amount"))
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

async fn update(ctx: &ApiContext, req: &ApiRequest, id: &ObjectId) -> ApiResult {
    let client = req.client.id.as_str();
    let mut doc = parse_body(&req.body)?;
    let current = ctx.shop.order(client, id).await.map_err(shop_err)?;
    let currency = current.currency;
    if let Value::Object(map) = &mut doc {
        // Amounts in the body are in the order's currency; an update cannot re-denominate an order.
        match map.get("currency") {
            None | Some(Value::Null) => {
                map.insert("currency".into(), Value::from(currency.as_str()));
            }
            Some(Value::String(c)) if c == currency.as_str() => {}
            Some(other) => {
                return Err(Problem::new(
                    ProblemKind::InvalidCurrency,
                    "/currency",
                    format!(
                        "the order is in {currency}; an update cannot change it to {}",
                        crate::dialects::json::describe(other)
                    ),
                ))
            }
        }
        if map.get("status").and_then(Value::as_str) == Some("completed") {
            // FluentCart's updateOrder refuses this too; completing goes through PUT /orders/{id}/statuses.
            return Err(Problem::new(
                ProblemKind::InvalidStatus,
                "/status",
                "Completed status can not be updated",
            ));
        }
    }
    let touched = touched(&doc);
    let update = wire::decode_update_request(doc, &ctx.decode_options)?;
    let deleted: BTreeSet<u64> = update.deleted_line_ids.iter().copied().collect();
    let mut wanted = update.order;
    strip_request_ext(&mut wanted);
    let mut changed = Vec::new();
    let mut added = Vec::new();
    for (i, mut line) in std::mem::take(&mut wanted.line_items)
        .into_iter()
        .enumerate()
    {
        match line.ids.fluentcart {
            Some(line_id) => changed.push((i, line_id, line)),
            None => {
                ctx.shop
                    .resolve_line(i, &mut line, currency)
                    .await
                    .map_err(shop_err)?;
                added.push(line);
            }
        }
    }
    let now = req.now;
    let updated = ctx
        .shop
        .modify(client, id, now, move |order| {
            // Like FluentCart (`whereIn`), removing an item that is already gone is not an error, so a retried
            // update succeeds.
            order
                .line_items
                .retain(|l| l.ids.fluentcart.is_none_or(|n| !deleted.contains(&n)));
            for (i, line_id, line) in changed {
                if deleted.contains(&line_id) {
                    continue;
                }
                let Some(existing) = order
                    .line_items
                    .iter_mut()
                    .find(|l| l.ids.fluentcart == Some(line_id))
                else {
                    return Err(Problem::new(
                        ProblemKind::InvalidField,
                        format!("/order_items/{i}/id"),
                        format!("order item {line_id} is not on this order"),
                    ));
                };
                existing.quantity = line.quantity;
                if line.unit_price.minor != 0 {
                    existing.unit_price = line.unit_price;
                }
                if !line.name.trim().is_empty() {
                    existing.name = line.name;
                }
                let (discount, tax) = touched.items.get(i).copied().unwrap_or_default();
                if discount {
                    existing.discount_total = line.discount_total;
                }
                if tax {
                    existing.tax_total = line.tax_total;
                }
            }
            order.line_items.extend(added);
            if order.line_items.is_empty() {
                return Err(Problem::new(
                    ProblemKind::MissingField,
                    "/order_items",
                    "an order needs at least one item",
                ));
            }
            if touched.shipping {
                order.shipping_lines = wanted.shipping_lines;
            }
            if touched.discounts {
                order.discounts = wanted.discounts;
            }
            if touched.note {
                order.customer_note = wanted.customer_note;
            }
            if touched.payment_method {
                order.payment_method = wanted.payment_method;
            }
            let mut target = triple(order);
            if touched.payment_status {
                target.payment = wanted.payment_status;
            }
            if touched.status {
                // The decoder read `on-hold` against the body's payment status; the order's own one decides.
                target.order = match wanted.status {
                    OrderStatus::Placed | OrderStatus::OnHold => {
                        if target.payment == PaymentStatus::Paid {
                            OrderStatus::OnHold
                        } else {
                            OrderStatus::Placed
                        }
                    }
                    other => other,
                };
            }
            if touched.shipping_status {
                target.fulfillment = wanted.fulfillment_status;
            }
            order.recompute_totals();
            // FluentCart: a paid order whose new total exceeds what was paid is partially paid.
            if let Some(paid) = order.totals.paid_total {
                if target.payment == PaymentStatus::Paid && order.totals.total.minor > paid.minor {
                    target.payment = PaymentStatus::PartiallyPaid;
                }
            }
            if target != triple(order) {
                lifecycle::apply(order, &Transition::Set(target), now)?;
            }
            Ok(())
        })
        .await
        .map_err(shop_err)?;
    let (envelope, losses) = order_envelope(&updated);
    let order = envelope.get("order").cloned().unwrap_or(Value::Null);
    Ok(ok(json!({"message": "Order updated successfully", "order": order})).with_losses(losses))
}

// ---------------------------------------------------------------------------------------------------------------
// DELETE /orders/{id}

async fn delete(ctx: &ApiContext, req: &ApiRequest, id: &ObjectId) -> ApiResult {
    // What the reply names, seen inside the delete (which runs on the store's writer).
    let found = std::sync::Arc::new(std::sync::OnceLock::new());
    let slot = std::sync::Arc::clone(&found);
    ctx.shop
        .delete(&req.client.id, id, move |order| {
            let _ = slot.set((fc_id(order), order.ids.number.clone()));
            Ok(())
        })
        .await
        .map_err(shop_err)?;
    let (order_id, invoice_no) = found.get().cloned().unwrap_or((Value::Null, None));
    let mut data = json!({"order_id": order_id, "status": "success"});
    // An order made on another platform may have no invoice number: left out (its schema is a string).
    if let Some(number) = invoice_no {
        data["invoice_no"] = Value::String(number);
    }
    Ok(ok(json!({
        "message": format!("Order {order_id} deleted successfully"),
        "data": data,
        "errors": [],
    })))
}

// ---------------------------------------------------------------------------------------------------------------
// POST /orders/{id}/mark-as-paid

fn refuse(reason: impl Into<String>) -> Problem {
    Problem::new(ProblemKind::InvalidTransition, "", reason)
}

/// FluentCart's markAsPaid: records the due amount as a succeeded transaction, marks the order paid and moves it
/// to processing, or straight to completed when every item is digital.
fn mark_paid(order: &mut Order, body: MarkPaidRequest, now: Timestamp) -> Result<(), Problem> {
    if order.status == OrderStatus::Cancelled {
        return Err(refuse("Unable to mark paid for canceled order"));
    }
    let due = order.totals.total.minor - order.totals.paid_total.map_or(0, |p| p.minor);
    if due <= 0 {
        return Err(refuse("Order has already been paid"));
    }
    let method = body
        .payment_method
        .or_else(|| Some("offline_payment".to_owned()));
    lifecycle::apply(order, &Transition::MarkPaid { method }, now)?;
    if let Some(tx) = order.payments.last_mut() {
        tx.reference = body.vendor_charge_id;
        if body.transaction_type.is_some() {
            tx.kind = body.transaction_type;
        }
    }
    if body.note.is_some() {
        order.customer_note = body.note;
    }
    if matches!(
        order.status,
        OrderStatus::Draft | OrderStatus::Pending | OrderStatus::Placed | OrderStatus::OnHold
    ) {
        order.status = OrderStatus::Processing;
        order.timestamps.approved_at = Some(now);
    }
    let all_digital = !order.line_items.is_empty()
        && order
            .line_items
            .iter()
            .all(|l| l.fulfillment_type == Some(FulfillmentType::Digital));
    if all_digital && order.status == OrderStatus::Processing {
        order.status = OrderStatus::Completed;
        order.timestamps.completed_at = Some(now);
    }
    number_transactions(order);
    Ok(())
}

async fn mark_as_paid(ctx: &ApiContext, req: &ApiRequest, id: &ObjectId) -> ApiResult {
    let body = actions::decode_mark_paid_request(optional_body(req)?)?;
    let now = req.now;
    ctx.shop
        .modify(&req.client.id, id, now, move |order| {
            mark_paid(order, body, now)
        })
        .await
        .map_err(shop_err)?;
    Ok(ok(json!({"message": "Order has been marked as paid"})))
}

// ---------------------------------------------------------------------------------------------------------------
// POST /orders/{id}/refund

async fn refund(ctx: &ApiContext, req: &ApiRequest, id: &ObjectId) -> ApiResult {
    let client = req.client.id.as_str();
    let doc = parse_body(&req.body)?;
    // The amount is read in the order's currency, which never changes after creation.
    let currency = ctx.shop.order(client, id).await.map_err(shop_err)?.currency;
    let r = actions::decode_refund_request(doc, currency)?;
    let now = req.now;
    ctx.shop
        .modify(client, id, now, move |order| {
            number_transactions(order);
            let is_payment = |p: &crate::canonical::Payment| p.kind.as_deref() != Some("refund");
            match r.transaction_id {
                Some(tx) => {
                    if !order
                        .payments
                        .iter()
                        .any(|p| p.ids.fluentcart == Some(tx) && is_payment(p))
                    {
                        return Err(Problem::new(
                            ProblemKind::InvalidField,
                            "/refund_info/transaction_id",
                            format!("transaction {tx} is not a payment of this order"),
                        ));
                    }
                }
                // An order whose shop keeps no payment transactions (BigCommerce v2) has none to name: the
                // refund is the order's. One that has them must name the one refunded, as FluentCart requires.
                None if !order.payments.iter().any(is_payment) => {}
                None => {
                    return Err(Problem::new(
                        ProblemKind::MissingField,
                        "/refund_info/transaction_id",
                        "transaction_id is required: name the payment refunded (GET /orders/{id}/transactions)",
                    ))
                }
            }
            lifecycle::apply(
                order,
                &Transition::Refund {
                    amount: Some(r.amount),
                },
                now,
            )?;
            number_transactions(order);
            Ok(())
        })
        .await
        .map_err(shop_err)?;
    Ok(ok(json!({
        "fluent_cart_refund": {"status": "success", "message": "Refund processed on FluentCart."},
        "gateway_refund": {"status": "success", "message": "Refund processed manually."},
    })))
}

// ---------------------------------------------------------------------------------------------------------------
// PUT /orders/{id}/statuses, POST /orders/do-bulk-action

/// Sets one status axis; returns the FluentCart values before and after. A cancelled order's status and a change
/// to the value the order already has are refused, as FluentCart does.
fn change_status(
    order: &mut Order,
    change: &StatusChange,
    now: Timestamp,
) -> Result<(String, String), Problem> {
    let before = triple(order);
    let old = change.current(before);
    if old == change.value() {
        return Err(refuse("Order already has the same status"));
    }
    if matches!(change, StatusChange::Order(_)) && order.status == OrderStatus::Cancelled {
        return Err(refuse("A canceled order's status cannot be changed"));
    }
    let target = change.apply(before)?;
    lifecycle::apply(order, &Transition::Set(target), now)?;
    Ok((old.to_owned(), change.current(triple(order)).to_owned()))
}

async fn statuses(ctx: &ApiContext, req: &ApiRequest, id: &ObjectId) -> ApiResult {
    let change = actions::decode_statuses_request(parse_body(&req.body)?)?;
    let now = req.now;
    // The statuses before and after, seen inside the edit (which runs on the store's writer).
    let result = std::sync::Arc::new(std::sync::OnceLock::new());
    let slot = std::sync::Arc::clone(&result);
    let order = ctx
        .shop
        .modify(&req.client.id, id, now, move |order| {
            let _ = slot.set(change_status(order, &change, now)?);
            Ok(())
        })
        .await
        .map_err(shop_err)?;
    let (old, new) = result.get().cloned().unwrap_or_default();
    Ok(ok(json!({
        "message": "Status has been updated",
        "data": {
            "order_id": fc_id(&order),
            "old_status": old,
            "new_status": new,
            "updated_at": order.timestamps.updated_at.as_ref().map(render_naive),
        },
    })))
}

async fn bulk_action(ctx: &ApiContext, req: &ApiRequest) -> ApiResult {
    let action = actions::decode_bulk_action(parse_body(&req.body)?)?;
    let client = req.client.id.as_str();
    let now = req.now;
    if action.kind == BulkKind::DeleteOrders {
        for n in &action.order_ids {
            match ctx
                .shop
                .delete(client, &ObjectId::FluentCart(*n), |_| Ok(()))
                .await
            {
                // Like FluentCart's `whereIn(...)->delete()`, ids that do not exist are skipped.
                Ok(()) | Err(ShopError::NotFound) => {}
                Err(e) => return Err(shop_err(e)),
            }
        }
        return Ok(ok(json!({
            "message": "Selected orders and their associated resources have been deleted permanently",
        })));
    }
    // Status changes and captures apply order by order; FluentCart reports the ids it could not change.
    let mut failed = Vec::new();
    for n in &action.order_ids {
        let id = ObjectId::FluentCart(*n);
        let result = match &action.kind {
            BulkKind::ChangeStatus(change) => {
                let change = change.clone();
                ctx.shop
                    .modify(client, &id, now, move |order| {
                        change_status(order, &change, now).map(|_| ())
                    })
                    .await
            }
            _ => {
                ctx.shop
                    .modify(client, &id, now, move |order| {
                        lifecycle::apply(order, &Transition::Capture, now)?;
                        number_transactions(order);
                        Ok(())
                    })
                    .await
            }
        };
        match result {
            Ok(_) => {}
            Err(ShopError::NotFound | ShopError::Problem(_)) => failed.push(n.to_string()),
            Err(e) => return Err(shop_err(e)),
        }
    }
    let what = match &action.kind {
        BulkKind::ChangeStatus(StatusChange::Order(_)) => "Order Status has been changed",
        BulkKind::ChangeStatus(StatusChange::Shipping(_)) => "Shipping Status has been changed",
        BulkKind::ChangeStatus(StatusChange::Payment(_)) => "Payment Status has been changed",
        _ => "Payments have been captured",
    };
    if failed.is_empty() {
        return Ok(ok(
            json!({"message": format!("{what} for the selected orders")}),
        ));
    }
    let ids = failed.join(" , ");
    if failed.len() == action.order_ids.len() {
        return Err(refuse(format!(
            "The order ID - {ids} cannot be updated because they are either missing, already cancelled or have the same status."
        )));
    }
    Ok(ok(json!({
        "message": format!("The order ID - {ids} cannot be updated because they are either missing, already cancelled or have the same status. {what} for the remaining orders."),
        "failed_order_ids": failed.iter().filter_map(|s| s.parse::<u64>().ok()).collect::<Vec<_>>(),
    })))
}

// ---------------------------------------------------------------------------------------------------------------
// POST /orders/{id}/change-customer

async fn change_customer(ctx: &ApiContext, req: &ApiRequest, id: &ObjectId) -> ApiResult {
    let client = req.client.id.as_str();
    let customer_id = actions::decode_change_customer_request(parse_body(&req.body)?)?;
    let current = ctx.shop.order(client, id).await.map_err(shop_err)?;
    if current.customer.ids.fluentcart == Some(customer_id) {
        return Ok(ok(
            json!({"message": "Customer is already attached to this order"}),
        ));
    }
    let record = match ctx
        .shop
        .customer(client, &ObjectId::FluentCart(customer_id))
        .await
    {
        Ok(r) => r,
        Err(ShopError::NotFound) => {
            return Err(Problem::new(
                ProblemKind::InvalidField,
                "/customer_id",
                format!("customer {customer_id} does not exist"),
            ))
        }
        Err(e) => return Err(shop_err(e)),
    };
    ctx.shop
        .modify(client, id, req.now, move |order| {
            let mut customer = Customer::default();
            fill_customer(&mut customer, record);
            order.customer = customer;
            Ok(())
        })
        .await
        .map_err(shop_err)?;
    Ok(ok(json!({"message": "Customer changed successfully"})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_methods() {
        let op = |m: Method, p: &str| {
            let segs: Vec<&str> = p.split('/').collect();
            operation(&m, &segs)
        };
        assert_eq!(op(Method::GET, "orders").unwrap().name, "orders.list");
        assert!(op(Method::POST, "orders").unwrap().keyed);
        assert!(!op(Method::POST, "orders/42").unwrap().keyed);
        assert!(op(Method::POST, "orders/42/refund").unwrap().keyed);
        assert!(op(Method::POST, "orders/42/mark-as-paid").unwrap().keyed);
        assert_eq!(
            op(Method::POST, "orders/do-bulk-action").unwrap().name,
            "orders.bulk_action"
        );
        let wrong = op(Method::PUT, "orders/42").unwrap_err();
        assert_eq!(wrong.kind, ProblemKind::MethodNotAllowed);
        assert_eq!(wrong.allow.as_deref(), Some("GET, HEAD, POST, DELETE"));
        assert_eq!(
            op(Method::POST, "orders/42/statuses").unwrap_err().kind,
            ProblemKind::MethodNotAllowed
        );
        assert_eq!(
            op(Method::GET, "orders/abc").unwrap_err().kind,
            ProblemKind::NotFound
        );
        assert_eq!(
            op(Method::GET, "orders/42/nothing").unwrap_err().kind,
            ProblemKind::NotFound
        );
        assert_eq!(
            op(Method::GET, "orders/42/transactions/7").unwrap().name,
            "orders.transaction"
        );
        assert_eq!(
            op(Method::GET, "customers").unwrap_err().kind,
            ProblemKind::NotFound
        );
    }

    #[test]
    fn search_operators() {
        let mut f = OrderFilter::default();
        search(&mut f, "id :: 2-4").unwrap();
        assert_eq!(
            f.id_range,
            Some((
                P,
                Range {
                    min: Some(2),
                    max: Some(4)
                }
            ))
        );
        let mut f = OrderFilter::default();
        search(&mut f, "id >= 3").unwrap();
        assert_eq!(f.id_range.unwrap().1.min, Some(3));
        let mut f = OrderFilter::default();
        search(&mut f, "status = completed").unwrap();
        assert!(f
            .statuses
            .unwrap()
            .iter()
            .all(|t| t.order == OrderStatus::Completed));
        let mut f = OrderFilter::default();
        search(&mut f, "ada lovelace").unwrap();
        assert_eq!(f.search.as_deref(), Some("ada lovelace"));
        let mut f = OrderFilter::default();
        search(&mut f, "a=b").unwrap();
        assert_eq!(
            f.search.as_deref(),
            Some("a=b"),
            "unknown fields are free text"
        );
    }

    #[test]
    fn links_are_windowed() {
        let links = paginator_links("http://h/orders", 1, 2);
        let map: serde_json::Map<String, Value> =
            links.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        assert_eq!(map["next_page_url"], "http://h/orders/?page=2");
        assert_eq!(map["prev_page_url"], Value::Null);
        assert_eq!(map["links"].as_array().unwrap().len(), 4);
        let links = paginator_links("p", 50, 100);
        let n = links
            .iter()
            .find(|(k, _)| *k == "links")
            .and_then(|(_, v)| v.as_array().map(Vec::len))
            .unwrap();
        assert!(n < 20);
    }
}
