//! BigCommerce v2 orders (`/stores/{store_hash}/v2`): orders with their `products`, `shipping_addresses` and
//! `coupons` sub-resources, `orders/count` and `order_statuses`. Lists are bare arrays; an empty page is
//! `204 No Content` (what the BigCommerce clients expect past the last page).

use http::{Method, StatusCode};
use serde_json::Value;

use super::{
    no_route, parse_body, path_id, wrong_method, ApiContext, ApiRequest, ApiResponse, ApiResult,
    Operation,
};
use crate::canonical::{
    Money, OrderFilter, OrderQuery, Platform, Problem, ProblemKind, Range, SortKey, Timestamp,
    Transition,
};
use crate::dialects::{bigcommerce as wire, dates, DocumentKind};
use crate::store::ObjectId;

const P: Platform = Platform::BigCommerce;
const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 250;

pub fn operation(method: &Method, segments: &[&str]) -> Result<Operation, Problem> {
    let op = match (segments, method) {
        (["orders"], &Method::GET) => Operation::read("orders.list"),
        (["orders"], &Method::POST) => Operation::create_order("orders.create"),
        (["orders"], m) => return Err(wrong_method(m, &[&Method::GET, &Method::POST])),
        (["orders", "count"], &Method::GET) => Operation::read("orders.count"),
        (["orders", "count"], m) => return Err(wrong_method(m, &[&Method::GET])),
        (["orders", _], &Method::GET) => Operation::read("orders.get"),
        (["orders", _], &Method::PUT) => Operation::write("orders.update"),
        (["orders", _], &Method::DELETE) => Operation::write("orders.delete"),
        (["orders", _], m) => {
            return Err(wrong_method(
                m,
                &[&Method::GET, &Method::PUT, &Method::DELETE],
            ))
        }
        (["orders", _, "products"], &Method::GET) => Operation::read("orders.products.list"),
        (["orders", _, "products", _], &Method::GET) => Operation::read("orders.products.get"),
        // Order objects link the sub-resource as `shippingaddresses`; the documented path has the underscore.
        (["orders", _, "shipping_addresses" | "shippingaddresses"], &Method::GET) => {
            Operation::read("orders.shipping_addresses.list")
        }
        (["orders", _, "shipping_addresses" | "shippingaddresses", _], &Method::GET) => {
            Operation::read("orders.shipping_addresses.get")
        }
        (["orders", _, "coupons"], &Method::GET) => Operation::read("orders.coupons.list"),
        (
            ["orders", _, "products" | "shipping_addresses" | "shippingaddresses" | "coupons", ..],
            m,
        ) => return Err(wrong_method(m, &[&Method::GET])),
        (["order_statuses"], &Method::GET) => Operation::read("order_statuses.list"),
        (["order_statuses", _], &Method::GET) => Operation::read("order_statuses.get"),
        (["order_statuses", ..], m) => return Err(wrong_method(m, &[&Method::GET])),
        _ => return Err(no_route(&segments.join("/"))),
    };
    Ok(op)
}

pub async fn handle(ctx: &ApiContext, req: &ApiRequest) -> ApiResult {
    let segments = req.segments();
    match (segments.as_slice(), &req.method) {
        (["orders"], &Method::GET) => list(ctx, req).await,
        (["orders"], &Method::POST) => create(ctx, req).await,
        (["orders", "count"], _) => count(ctx, req).await,
        (["orders", id], &Method::GET) => {
            let order = find(ctx, req, id).await?;
            let rendered = wire::encode_order_with_links(&order, &req.base_url);
            Ok(ApiResponse::json(StatusCode::OK, rendered.value).with_losses(rendered.losses))
        }
        (["orders", id], &Method::PUT) => update(ctx, req, id).await,
        (["orders", id], &Method::DELETE) => {
            let id = order_id(id)?;
            ctx.shop
                .delete(&req.client.id, &id, |_| Ok(()))
                .await
                .map_err(|e| e.into_problem("order"))?;
            Ok(ApiResponse::empty(StatusCode::NO_CONTENT))
        }
        (["orders", id, "products"], _) => {
            let order = find(ctx, req, id).await?;
            Ok(array_or_204(wire::encode_products(&order)))
        }
        (["orders", id, "products", item], _) => {
            let order = find(ctx, req, id).await?;
            one_of(wire::encode_products(&order), item, "order product")
        }
        (["orders", id, "shipping_addresses" | "shippingaddresses"], _) => {
            let order = find(ctx, req, id).await?;
            Ok(array_or_204(wire::encode_shipping_addresses(&order)))
        }
        (["orders", id, "shipping_addresses" | "shippingaddresses", item], _) => {
            let order = find(ctx, req, id).await?;
            one_of(
                wire::encode_shipping_addresses(&order),
                item,
                "shipping address",
            )
        }
        (["orders", id, "coupons"], _) => {
            let order = find(ctx, req, id).await?;
            Ok(array_or_204(wire::encode_coupons(&order)))
        }
        (["order_statuses"], _) => Ok(ApiResponse::json(
            StatusCode::OK,
            wire::encode_order_statuses(),
        )),
        (["order_statuses", id], _) => id
            .parse::<u8>()
            .ok()
            .and_then(wire::encode_order_status)
            .map(|s| ApiResponse::json(StatusCode::OK, s))
            .ok_or_else(|| not_found("order status")),
        _ => Err(no_route(&req.segments.join("/"))),
    }
}

fn not_found(what: &str) -> Problem {
    Problem::new(
        ProblemKind::NotFound,
        "",
        format!("The requested {what} was not found."),
    )
}

fn order_id(text: &str) -> Result<ObjectId, Problem> {
    path_id(P, text, "resource")
}

async fn find(
    ctx: &ApiContext,
    req: &ApiRequest,
    id: &str,
) -> Result<crate::canonical::Order, Problem> {
    ctx.shop
        .order(&req.client.id, &order_id(id)?)
        .await
        .map_err(|e| e.into_problem("resource"))
}

/// Sub-resource lists are bare arrays; BigCommerce answers an empty one with 204.
fn array_or_204(list: Value) -> ApiResponse {
    match &list {
        Value::Array(items) if items.is_empty() => ApiResponse::empty(StatusCode::NO_CONTENT),
        _ => ApiResponse::json(StatusCode::OK, list),
    }
}

fn one_of(list: Value, id: &str, what: &str) -> ApiResult {
    let Value::Array(items) = list else {
        return Err(not_found(what));
    };
    items
        .into_iter()
        .find(|item| match &item["id"] {
            Value::Number(n) => n.to_string() == id,
            Value::String(s) => s == id,
            _ => false,
        })
        .map(|item| ApiResponse::json(StatusCode::OK, item))
        .ok_or_else(|| not_found(what))
}

async fn create(ctx: &ApiContext, req: &ApiRequest) -> ApiResult {
    let decoded = crate::dialects::decode(P, &req.body, &ctx.decode_options)?;
    if decoded.kind != DocumentKind::Request {
        return Err(Problem::new(
            ProblemKind::ForbiddenField,
            "/id",
            "id, status and payment_status are set by the store, not by a create request",
        ));
    }
    let mut order = decoded.order;
    // What the codec kept of the request (its spellings, unmapped members) belongs to the request, not to the
    // stored order, whose replies are order objects.
    order.strip_platform_ext(P);
    let stored = ctx
        .shop
        .create_order(&req.client.id, order, req.now, req.create_key())
        .await
        .map_err(|e| e.into_problem("order"))?;
    let rendered = wire::encode_order_with_links(&stored, &req.base_url);
    // BigCommerce's status-code guide answers a successful POST with 201; both real clients accept it.
    Ok(ApiResponse::json(StatusCode::CREATED, rendered.value).with_losses(rendered.losses))
}

async fn update(ctx: &ApiContext, req: &ApiRequest, id: &str) -> ApiResult {
    let id = order_id(id)?;
    let update = wire::decode_update_request(parse_body(&req.body)?)?;
    let now = req.now;
    let stored = ctx
        .shop
        .modify(&req.client.id, &id, now, move |order| {
            if let Some(triple) = wire::apply_update(order, update) {
                crate::canonical::lifecycle::apply(order, &Transition::Set(triple), now)?;
            }
            Ok(())
        })
        .await
        .map_err(|e| e.into_problem("resource"))?;
    let rendered = wire::encode_order_with_links(&stored, &req.base_url);
    Ok(ApiResponse::json(StatusCode::OK, rendered.value).with_losses(rendered.losses))
}

async fn list(ctx: &ApiContext, req: &ApiRequest) -> ApiResult {
    let (sort, descending) = sort(req)?;
    let query = OrderQuery {
        filter: filter(ctx, req)?,
        sort,
        descending,
        page: req.query.positive("page", 1, u32::MAX)?,
        per_page: req.query.positive("limit", DEFAULT_LIMIT, MAX_LIMIT)?,
    };
    // BigCommerce's list answers the page alone (callers count with `/orders/count`).
    let listing = ctx
        .shop
        .list_page(&req.client.id, &query)
        .await
        .map_err(|e| e.into_problem("orders"))?;
    if listing.page.items.is_empty() {
        return Ok(ApiResponse::empty(StatusCode::NO_CONTENT).with_left_out(
            &listing.left_out,
            Platform::BigCommerce,
            "",
        ));
    }
    let mut losses = Vec::new();
    let items = listing
        .page
        .items
        .iter()
        .map(|o| {
            let r = wire::encode_order_with_links(o, &req.base_url);
            losses.extend(r.losses);
            r.value
        })
        .collect();
    Ok(ApiResponse::json(StatusCode::OK, Value::Array(items))
        .with_left_out(&listing.left_out, Platform::BigCommerce, "")
        .with_losses(losses))
}

async fn count(ctx: &ApiContext, req: &ApiRequest) -> ApiResult {
    // One grouped query; each status triple then counts towards the one status id it renders as.
    let by_triple = ctx
        .shop
        .count_by_status(&req.client.id, &filter(ctx, req)?)
        .await
        .map_err(|e| e.into_problem("orders"))?;
    let mut per_status: Vec<(u8, u64)> = (0..=14u8).map(|id| (id, 0)).collect();
    for (triple, n) in &by_triple {
        if let Some(slot) = per_status.get_mut(usize::from(wire::render_status_id(*triple))) {
            slot.1 += n;
        }
    }
    let total = by_triple.iter().map(|(_, n)| n).sum();
    Ok(ApiResponse::json(
        StatusCode::OK,
        wire::encode_count(total, &per_status),
    ))
}

fn sort(req: &ApiRequest) -> Result<(SortKey, bool), Problem> {
    let Some(text) = req.query.get("sort") else {
        return Ok((SortKey::Id, false));
    };
    let (field, dir) = text.split_once(':').unwrap_or((text, "asc"));
    let key = match field {
        "id" => SortKey::Id,
        "date_created" => SortKey::CreatedAt,
        "date_modified" => SortKey::UpdatedAt,
        "status_id" => SortKey::Status,
        "total_inc_tax" => SortKey::Total,
        _ => {
            return Err(super::query::invalid(
                "sort",
                "must be id, date_created, date_modified, status_id or total_inc_tax, with :asc or :desc",
            ))
        }
    };
    let descending = match dir {
        "asc" => false,
        "desc" => true,
        _ => {
            return Err(super::query::invalid(
                "sort",
                "direction must be asc or desc",
            ))
        }
    };
    Ok((key, descending))
}

fn date_param(req: &ApiRequest, name: &str) -> Result<Option<Timestamp>, Problem> {
    let Some(text) = req.query.get(name).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    dates::parse_rfc2822(text)
        .or_else(|| dates::parse_iso_or_naive(text))
        .or_else(|| {
            // A bare date means its first instant, UTC.
            chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|d| d.and_utc())
        })
        .map(Some)
        .ok_or_else(|| super::query::invalid(name, "must be an RFC 2822 or ISO 8601 date"))
}

fn total_param(ctx: &ApiContext, req: &ApiRequest, name: &str) -> Result<Option<i64>, Problem> {
    let Some(text) = req.query.get(name).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    // Totals are compared in minor units of the store's default currency (BigCommerce v2 stores have one).
    Money::parse_major(text, ctx.config.defaults.currency)
        .map(|m| Some(m.minor))
        .map_err(|e| super::query::invalid(name, &e.to_string()))
}

fn filter(ctx: &ApiContext, req: &ApiRequest) -> Result<OrderFilter, Problem> {
    let q = &req.query;
    let statuses = match q.get("status_id").filter(|s| !s.is_empty()) {
        None => None,
        Some(text) => {
            let id = text
                .parse::<u8>()
                .ok()
                .filter(|n| *n <= 14)
                .ok_or_else(|| {
                    super::query::invalid("status_id", "must be a status id from 0 to 14")
                })?;
            Some(wire::triples_with_status_id(id))
        }
    };
    let id_range = Range {
        min: q.unsigned("min_id")?,
        max: q.unsigned("max_id")?,
    };
    Ok(OrderFilter {
        statuses,
        email: q.get("email").filter(|e| !e.is_empty()).map(str::to_owned),
        reference: q
            .get("external_order_id")
            .filter(|e| !e.is_empty())
            .map(str::to_owned),
        id_range: (id_range.min.is_some() || id_range.max.is_some()).then_some((P, id_range)),
        total: Range {
            min: total_param(ctx, req, "min_total")?,
            max: total_param(ctx, req, "max_total")?,
        },
        created: Range {
            min: date_param(req, "min_date_created")?,
            max: date_param(req, "max_date_created")?,
        },
        updated: Range {
            min: date_param(req, "min_date_modified")?,
            max: date_param(req, "max_date_modified")?,
        },
        customer: q.unsigned("customer_id")?.map(|id| (P, id.to_string())),
        ..OrderFilter::default()
    })
}
