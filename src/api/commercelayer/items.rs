//! `/api/markets`, `/api/line_items` and `/api/addresses`.

use http::StatusCode;
use serde_json::{json, Value};

use super::document::{self, render_order, with_self_link, Shape};
use super::orders::{ensure_editable, settle_draft};
use super::{not_found, shop_problem};
use crate::api::{parse_body, ApiContext, ApiRequest, ApiResponse, ApiResult};
use crate::canonical::{Order, Platform, Problem, ProblemKind};
use crate::dialects::commercelayer::resources::{
    decode_address_create, decode_line_item_create, decode_line_item_update, encode_address,
    encode_market,
};
use crate::service::ShopError;
use crate::store::{ObjectId, ObjectKind};

fn cl(id: &str) -> ObjectId {
    ObjectId::CommerceLayer(id.to_owned())
}

/// A single-resource document.
fn one(req: &ApiRequest, resource: Value, status: StatusCode) -> ApiResult {
    let shape = Shape::parse(&req.query, &[])?;
    let mut resource = with_self_link(resource, &req.base_url);
    let self_link = resource
        .pointer("/links/self")
        .cloned()
        .unwrap_or(Value::Null);
    shape.trim(&mut resource);
    Ok(ApiResponse::json(
        status,
        document::document(resource, None, json!({ "self": self_link }), None),
    ))
}

pub(super) fn markets(ctx: &ApiContext, req: &ApiRequest) -> ApiResult {
    let shape = Shape::parse(&req.query, &[])?;
    let data: Vec<Value> = ctx
        .shop
        .markets
        .iter()
        .map(|m| {
            let mut r = with_self_link(encode_market(m), &req.base_url);
            shape.trim(&mut r);
            r
        })
        .collect();
    let count = data.len();
    let first = format!("{}/markets", req.base_url);
    Ok(ApiResponse::json(
        StatusCode::OK,
        document::document(
            Value::Array(data),
            None,
            json!({ "first": first, "prev": null, "next": null, "last": first }),
            Some(json!({ "record_count": count, "page_count": 1 })),
        ),
    ))
}

pub(super) fn market(ctx: &ApiContext, req: &ApiRequest, id: &str) -> ApiResult {
    // Only the id: `shop.market` also matches codes, but a resource path names one resource.
    let m = ctx
        .shop
        .markets
        .iter()
        .find(|m| m.id == id)
        .ok_or_else(|| not_found("market"))?;
    one(req, encode_market(m), StatusCode::OK)
}

/// The line item `id` of `order`, rendered as the order document includes it.
fn line_item_resource(ctx: &ApiContext, req: &ApiRequest, order: &Order, id: &str) -> ApiResult {
    let rendering = render_order(ctx, &req.base_url, order);
    let resource = rendering
        .related
        .iter()
        .find(|r| {
            r.get("type").and_then(Value::as_str) == Some("line_items")
                && r.get("id").and_then(Value::as_str) == Some(id)
        })
        .cloned()
        .ok_or_else(|| not_found("line item"))?;
    Ok(one(req, resource, StatusCode::OK)?.with_losses(rendering.losses))
}

/// The order holding line item `id`, and that order's Commerce Layer id.
async fn line_item_order(
    ctx: &ApiContext,
    req: &ApiRequest,
    id: &str,
) -> Result<(Order, String), Problem> {
    let order = ctx
        .shop
        .order_containing(&req.client.id, ObjectKind::LineItem, &cl(id))
        .await
        .map_err(shop_problem("line item"))?;
    let order_id = order
        .ids
        .platform
        .commercelayer
        .clone()
        .ok_or_else(|| not_found("line item"))?;
    Ok((order, order_id))
}

fn line_index(order: &Order, id: &str) -> Result<usize, Problem> {
    order
        .line_items
        .iter()
        .position(|l| l.ids.commercelayer.as_deref() == Some(id))
        .ok_or_else(|| not_found("line item"))
}

pub(super) async fn create_line_item(ctx: &ApiContext, req: &ApiRequest) -> ApiResult {
    let create = decode_line_item_create(parse_body(&req.body)?)?;
    Shape::parse(&req.query, &[])?;
    let missing_order = || {
        Problem::new(
            ProblemKind::NotFound,
            "/data/relationships/order",
            format!("order {:?} does not exist", create.order_id),
        )
    };
    let order_id =
        ObjectId::parse(Platform::CommerceLayer, &create.order_id).ok_or_else(missing_order)?;
    let client = &req.client.id;
    let order = match ctx.shop.order(client, &order_id).await {
        Ok(o) => o,
        Err(ShopError::NotFound) => return Err(missing_order()),
        Err(e) => return Err(e.into_problem("order")),
    };
    ensure_editable(&order)?;
    let currency = order.currency;
    let mut line = create.clone().into_line(currency)?;
    // Catalog resolution awaits the store, so it happens before the order is locked for the change.
    ctx.shop
        .resolve_line(order.line_items.len(), &mut line, currency)
        .await
        .map_err(|e| {
            let mut p = e.into_problem("line item");
            if p.pointer.is_empty() {
                p.pointer = "/data/attributes/sku_code".into();
            }
            p
        })?;
    // The new line's position, from inside the edit (which runs on the store's writer).
    let index = std::sync::Arc::new(std::sync::OnceLock::new());
    let index_slot = std::sync::Arc::clone(&index);
    let stored = ctx
        .shop
        .modify(client, &order_id, req.now, move |order| {
            ensure_editable(order)?;
            if order.currency != currency {
                return Err(Problem::new(
                    ProblemKind::InvalidCurrency,
                    "/data/relationships/order",
                    "the order's currency changed while the line was priced; retry",
                ));
            }
            let _ = index_slot.set(order.line_items.len());
            order.line_items.push(line);
            settle_draft(order);
            Ok(())
        })
        .await
        .map_err(shop_problem("order"))?;
    let id = index
        .get()
        .and_then(|i| stored.line_items.get(*i))
        .and_then(|l| l.ids.commercelayer.clone())
        .ok_or_else(|| not_found("line item"))?;
    let mut reply = line_item_resource(ctx, req, &stored, &id)?;
    reply.status = StatusCode::CREATED;
    Ok(reply)
}

pub(super) async fn line_item(ctx: &ApiContext, req: &ApiRequest, id: &str) -> ApiResult {
    let (order, _) = line_item_order(ctx, req, id).await?;
    line_item_resource(ctx, req, &order, id)
}

pub(super) async fn update_line_item(ctx: &ApiContext, req: &ApiRequest, id: &str) -> ApiResult {
    let update = decode_line_item_update(parse_body(&req.body)?)?;
    if update.id.as_deref().is_some_and(|sent| sent != id) {
        return Err(Problem::new(
            ProblemKind::Conflict,
            "/data/id",
            "data.id does not match the line item in the URL",
        ));
    }
    Shape::parse(&req.query, &[])?;
    let (_, order_id) = line_item_order(ctx, req, id).await?;
    let line_id = id.to_owned();
    let stored = ctx
        .shop
        .modify(&req.client.id, &cl(&order_id), req.now, move |order| {
            let i = line_index(order, &line_id)?;
            ensure_editable(order)?;
            let currency = order.currency;
            update.apply(&mut order.line_items[i], currency)
        })
        .await
        .map_err(shop_problem("line item"))?;
    line_item_resource(ctx, req, &stored, id)
}

pub(super) async fn delete_line_item(ctx: &ApiContext, req: &ApiRequest, id: &str) -> ApiResult {
    let (_, order_id) = line_item_order(ctx, req, id).await?;
    let line_id = id.to_owned();
    ctx.shop
        .modify(&req.client.id, &cl(&order_id), req.now, move |order| {
            let i = line_index(order, &line_id)?;
            ensure_editable(order)?;
            order.line_items.remove(i);
            Ok(())
        })
        .await
        .map_err(shop_problem("line item"))?;
    Ok(ApiResponse::empty(StatusCode::NO_CONTENT))
}

pub(super) async fn create_address(ctx: &ApiContext, req: &ApiRequest) -> ApiResult {
    let address = decode_address_create(parse_body(&req.body)?)?;
    Shape::parse(&req.query, &[])?;
    let stored = ctx
        .shop
        .create_address(&req.client.id, address, req.now, req.create_key())
        .await
        .map_err(|e| e.into_problem("address"))?;
    one(req, encode_address(&stored), StatusCode::CREATED)
}

pub(super) async fn address(ctx: &ApiContext, req: &ApiRequest, id: &str) -> ApiResult {
    let client = &req.client.id;
    if let Some(a) = ctx
        .shop
        .address(client, id)
        .await
        .map_err(|e| e.into_problem("address"))?
    {
        return one(req, encode_address(&a), StatusCode::OK);
    }
    let (_, mut address) = held_address(ctx, client, id)
        .await
        .map_err(shop_problem("address"))?
        .ok_or_else(|| not_found("address"))?;
    address.ids.commercelayer = Some(id.to_owned());
    one(req, encode_address(&address), StatusCode::OK)
}

/// The address an order holds under `id`, as Commerce Layer documents name it, with that order: an address's own
/// id, or the name an address the shop keeps without one goes by (`{order}-billing_address`, see
/// `dialects::commercelayer::local_address`; only a name the order's document uses). The address is as the order
/// holds it. `None` when no order holds one by that name.
pub(super) async fn held_address(
    ctx: &ApiContext,
    client: &str,
    id: &str,
) -> Result<Option<(Order, crate::canonical::Address)>, ShopError> {
    let found = match crate::dialects::commercelayer::local_address(id) {
        Some((order_id, billing)) => ctx.shop.order(client, &cl(order_id)).await.map(|order| {
            let role = if billing {
                "billing_address"
            } else {
                "shipping_address"
            };
            let named = crate::dialects::commercelayer::encode_order(&order).value["data"]
                ["relationships"][role]["data"]["id"]
                == id;
            let address = if billing {
                order.billing_address.as_ref()
            } else {
                order.shipping_destinations.first()
            };
            let address = address.filter(|_| named).cloned();
            address.map(|a| (order, a))
        }),
        None => ctx
            .shop
            .order_containing(client, ObjectKind::Address, &cl(id))
            .await
            .map(|order| {
                let address = order
                    .billing_address
                    .iter()
                    .chain(order.shipping_destinations.iter())
                    .find(|a| a.ids.commercelayer.as_deref() == Some(id))
                    .cloned();
                address.map(|a| (order, a))
            }),
    };
    match found {
        Ok(found) => Ok(found),
        Err(ShopError::NotFound) => Ok(None),
        Err(e) => Err(e),
    }
}
