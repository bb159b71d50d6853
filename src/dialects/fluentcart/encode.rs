//! Canonical → FluentCart wire.

use serde_json::{json, Value};

use super::WIRE_PLACES;
use crate::canonical::*;
use crate::dialects::dates::{render_iso_offset, render_naive};
use crate::dialects::json::{apply_ext, ObjWriter};
use crate::dialects::tables::{self, error_render};
use crate::dialects::wire_money::{exact_number, put_scaled, write_scaled};
use crate::dialects::{sub_minor_losses, ErrorDocument, Loss, LossKind, Translated};

const P: Platform = Platform::FluentCart;

/// A page of orders for the list envelope.
pub struct ListPage<'a> {
    pub orders: &'a [Order],
    pub current_page: u64,
    pub per_page: u64,
    pub total: u64,
}

/// Integer cents, rounded half-even when the currency has more places (callers report the loss).
pub(crate) fn scaled(m: Money) -> i64 {
    write_scaled(m, WIRE_PLACES).0
}

/// FluentCart `tax_behavior`: 0 no tax, 1 exclusive, 2 inclusive.
pub(crate) fn tax_behavior(order: &Order) -> i64 {
    if order.tax_included {
        2
    } else if order.totals.tax_total.is_zero()
        && order.line_items.iter().all(|l| l.tax_total.is_zero())
    {
        0
    } else {
        1
    }
}

struct Enc<'a> {
    order: &'a Order,
    losses: Vec<Loss>,
}

impl Enc<'_> {
    fn money(&mut self, m: Money, pointer: &str) -> Value {
        put_scaled(m, WIRE_PLACES, || pointer.to_owned(), &mut self.losses)
    }
    fn loss(&mut self, pointer: &str, kind: LossKind, reason: impl Into<String>) {
        self.losses.push(Loss {
            pointer: pointer.to_owned(),
            kind,
            reason: reason.into(),
        });
    }
}

/// The `POST /orders/{id}` body: the order's writable members as in a create request, plus `deletedItems`
/// (FluentCart line ids the update removes). The customer is not changed through this endpoint.
pub fn encode_update_request(order: &Order, deleted_line_ids: &[u64]) -> Translated<Value> {
    let mut out = encode_create_request(order);
    if let Value::Object(map) = &mut out.value {
        map.remove("customer_id");
        map.remove("customer");
        map.insert(
            "deletedItems".into(),
            Value::from(deleted_line_ids.to_vec()),
        );
    }
    out.losses.retain(|l| l.pointer != "/customer_id");
    out
}

pub fn encode_create_request(order: &Order) -> Translated<Value> {
    let mut enc = Enc {
        order,
        losses: Vec::new(),
    };
    let map = encode_order_object(&mut enc, "", false);
    sub_minor_losses(order, P, &mut enc.losses);
    Translated {
        value: Value::Object(map),
        losses: enc.losses,
    }
}

pub fn encode_order(order: &Order) -> Translated<Value> {
    let mut enc = Enc {
        order,
        losses: Vec::new(),
    };
    let inner = encode_order_object(&mut enc, "/order", true);
    let mut envelope = JsonMap::new();
    envelope.insert("order".into(), Value::Object(inner));
    // The envelope's own members (discount_meta, shipping_meta…) and the order's unmapped members were kept
    // together at decode time; replay them onto the envelope.
    apply_ext(&mut envelope, &order.ext, P);
    sub_minor_losses(order, P, &mut enc.losses);
    Translated {
        value: Value::Object(envelope),
        losses: enc.losses,
    }
}

pub fn encode_list(page: &ListPage<'_>) -> Translated<Value> {
    let mut losses = Vec::new();
    let mut data = Vec::with_capacity(page.orders.len());
    for (i, order) in page.orders.iter().enumerate() {
        let mut enc = Enc {
            order,
            losses: Vec::new(),
        };
        let mut map = encode_order_object(&mut enc, &format!("/orders/data/{i}"), true);
        apply_ext(&mut map, &order.ext, P);
        losses.extend(enc.losses);
        data.push(Value::Object(map));
    }
    let last_page = page.total.div_ceil(page.per_page.max(1)).max(1);
    let value = json!({
        "orders": {
            "current_page": page.current_page,
            "data": data,
            "per_page": page.per_page,
            "total": page.total,
            "last_page": last_page,
            "from": if page.orders.is_empty() { Value::Null } else { Value::from(page.current_page.saturating_sub(1).saturating_mul(page.per_page).saturating_add(1)) },
            "to": if page.orders.is_empty() { Value::Null } else { Value::from(page.current_page.saturating_sub(1).saturating_mul(page.per_page).saturating_add(page.orders.len() as u64)) },
        }
    });
    Translated { value, losses }
}

fn encode_order_object(enc: &mut Enc<'_>, base: &str, as_order: bool) -> JsonMap {
    let order = enc.order;
    let p = |k: &str| format!("{base}/{k}");
    let t = &tables::get().fluentcart_statuses;
    let mut w = ObjWriter::new();

    if as_order {
        w.opt("id", order.ids.platform.fluentcart);
    }
    w.opt_str("uuid", &order.ids.uuid);
    w.opt_str("invoice_no", &order.ids.number);
    if as_order {
        w.opt_str("receipt_number", &order.ids.receipt_number);
        w.opt(
            "mode",
            order.test_mode.map(|t| if t { "test" } else { "live" }),
        );
    }
    if let Some(id) = order.customer.ids.fluentcart {
        w.put("customer_id", id);
    } else if !as_order {
        enc.loss(&p("customer_id"), LossKind::Unrepresentable, "FluentCart create needs an existing customer id; find or create the customer by email first");
    }
    w.put("customer", Value::Object(encode_customer(&order.customer)));

    // Statuses, each axis separately; report axes that do not survive the trip.
    let status = t.order.render(order.status);
    let back = match t.order.ingest(status) {
        Some(OrderStatus::Placed) if order.payment_status == PaymentStatus::Paid => {
            Some(OrderStatus::OnHold)
        }
        other => other,
    };
    if back != Some(order.status) {
        enc.loss(
            &p("status"),
            LossKind::StatusCollapsed,
            format!(
                "canonical {} has no FluentCart status; sent {status:?}",
                order.status
            ),
        );
    }
    w.put("status", status);
    let payment = t.payment.render(order.payment_status);
    if t.payment.ingest(payment) != Some(order.payment_status) {
        enc.loss(
            &p("payment_status"),
            LossKind::StatusCollapsed,
            format!(
                "canonical payment {} has no FluentCart payment status; sent {payment:?}",
                order.payment_status
            ),
        );
    }
    w.put("payment_status", payment);
    let shipping = t.fulfillment.render(order.fulfillment_status);
    if as_order {
        if t.fulfillment.ingest(shipping) != Some(order.fulfillment_status) {
            enc.loss(
                &p("shipping_status"),
                LossKind::StatusCollapsed,
                format!(
                    "canonical fulfillment {} has no FluentCart shipping status; sent {shipping:?}",
                    order.fulfillment_status
                ),
            );
        }
        w.put("shipping_status", shipping);
    } else if order.fulfillment_status != FulfillmentStatus::Unfulfilled
        && order.fulfillment_status != FulfillmentStatus::NotRequired
    {
        enc.loss(&p("shipping_status"), LossKind::Unrepresentable, format!("a FluentCart create request carries no shipping status; {} is set afterwards through PUT /orders/{{id}}/statuses", order.fulfillment_status));
    }

    w.put("currency", order.currency.as_str());
    w.opt_str("payment_method", &order.payment_method);
    w.opt_str("payment_method_title", &order.payment_method_title);
    w.opt_str("note", &order.customer_note);
    if order.staff_note.is_some() {
        enc.loss(
            &p("note"),
            LossKind::Unrepresentable,
            "FluentCart orders have one note; the staff note is not sent",
        );
    }
    w.opt_str("ip_address", &order.ip_address);

    // Lines.
    let mut items = Vec::with_capacity(order.line_items.len());
    for (i, line) in order.line_items.iter().enumerate() {
        items.push(Value::Object(encode_line(
            enc,
            line,
            &format!("{base}/order_items/{i}"),
            as_order,
        )));
    }
    w.put("order_items", items);

    // Totals.
    let tot = &order.totals;
    let manual: i64 = order
        .discounts
        .iter()
        .filter(|d| d.kind == DiscountKind::Manual)
        .map(|d| d.amount.minor)
        .fold(0, i64::saturating_add);
    let coupon: i64 = order
        .discounts
        .iter()
        .filter(|d| d.kind != DiscountKind::Manual)
        .map(|d| d.amount.minor)
        .fold(0, i64::saturating_add);
    w.put("subtotal", enc.money(tot.subtotal, &p("subtotal")));
    w.put(
        "manual_discount_total",
        enc.money(
            Money::new(manual, order.currency),
            &p("manual_discount_total"),
        ),
    );
    w.put(
        "coupon_discount_total",
        enc.money(
            Money::new(coupon, order.currency),
            &p("coupon_discount_total"),
        ),
    );
    w.put(
        "shipping_total",
        enc.money(tot.shipping_total, &p("shipping_total")),
    );
    w.put(
        "shipping_tax",
        enc.money(tot.shipping_tax, &p("shipping_tax")),
    );
    w.put("tax_total", enc.money(tot.tax_total, &p("tax_total")));
    w.put("total_amount", enc.money(tot.total, &p("total_amount")));
    if as_order {
        w.put("tax_behavior", tax_behavior(order));
        if !tot.fee_total.is_zero() {
            w.put("fee_total", enc.money(tot.fee_total, &p("fee_total")));
        }
        if let Some(paid) = tot.paid_total {
            w.put("total_paid", enc.money(paid, &p("total_paid")));
        }
        if let Some(refund) = tot.refunded_total {
            w.put("total_refund", enc.money(refund, &p("total_refund")));
        }
    } else {
        if order.tax_included {
            enc.loss(&p("tax_behavior"), LossKind::Unrepresentable, "a FluentCart create request cannot state tax-inclusive prices; the store's tax setting applies");
        }
        if !tot.fee_total.is_zero() {
            enc.loss(
                &p("fee_total"),
                LossKind::Unrepresentable,
                "a FluentCart create request carries no fees",
            );
        }
    }

    // Discounts.
    let mut coupons = Vec::new();
    for (i, d) in order.discounts.iter().enumerate() {
        if d.kind == DiscountKind::Manual {
            let mut m = ObjWriter::new();
            if d.ext.get(P).is_none() {
                m.put("type", "fixed");
                m.put("value", major_number(d.amount));
            }
            m.opt_str("label", &d.label);
            let mut map = m.finish();
            apply_ext(&mut map, &d.ext, P);
            w.put("discount", Value::Object(map));
        } else {
            let mut c = ObjWriter::new();
            c.opt("id", d.ids.fluentcart);
            c.opt_str("code", &d.code.clone().or_else(|| d.label.clone()));
            let key = if as_order {
                "amount"
            } else {
                "discounted_amount"
            };
            c.put(
                key,
                enc.money(d.amount, &format!("{base}/applied_coupon/{i}/{key}")),
            );
            let mut map = c.finish();
            apply_ext(&mut map, &d.ext, P);
            coupons.push(Value::Object(map));
        }
    }
    if !coupons.is_empty() {
        w.put(
            if as_order {
                "applied_coupons"
            } else {
                "applied_coupon"
            },
            coupons,
        );
    }

    // Shipping.
    if !order.shipping_lines.is_empty() {
        let mut lines = Vec::new();
        for (i, s) in order.shipping_lines.iter().enumerate() {
            let mut sw = ObjWriter::new();
            sw.opt_str("rate_name", &s.method);
            sw.put(
                "custom_price",
                enc.money(s.amount, &format!("{base}/shipping/{i}/custom_price")),
            );
            let mut map = sw.finish();
            apply_ext(&mut map, &s.ext, P);
            lines.push(Value::Object(map));
        }
        w.put("shipping", lines);
    }

    // Addresses: the order envelope carries them; a create request references customer address ids.
    if as_order {
        if let Some(a) = &order.billing_address {
            w.put(
                "billing_address",
                Value::Object(encode_address(a, "billing")),
            );
        }
        if let Some(a) = order.shipping_destinations.first() {
            w.put(
                "shipping_address",
                Value::Object(encode_address(a, "shipping")),
            );
        }
    } else {
        // A create request references customer addresses by id; their fields are not part of the document.
        for (key, addr) in [
            ("billing_address_id", order.billing_address.as_ref()),
            ("shipping_address_id", order.shipping_destinations.first()),
        ] {
            match addr.map(|a| a.ids.fluentcart) {
                Some(None) => enc.loss(&p(key), LossKind::Unrepresentable, "FluentCart create takes a customer address id; create the address on the customer first"),
                Some(Some(id)) => enc.loss(&p(key), LossKind::Unrepresentable, format!("the address travels as customer address id {id}; its fields are not in a create request")),
                None => {}
            }
        }
        w.opt(
            "billing_address_id",
            order
                .billing_address
                .as_ref()
                .and_then(|a| a.ids.fluentcart),
        );
        w.opt(
            "shipping_address_id",
            order
                .shipping_destinations
                .first()
                .and_then(|a| a.ids.fluentcart),
        );
    }
    if order.shipping_destinations.len() > 1 {
        enc.loss(
            &p("shipping_address"),
            LossKind::MultipleDestinations,
            format!(
                "FluentCart orders ship to one address; {} more destinations are not sent",
                order.shipping_destinations.len() - 1
            ),
        );
    }
    if !order.fees.is_empty() && as_order && order.fees.iter().any(|f| f.kind != FeeKind::Custom) {
        enc.loss(
            &p("fee_total"),
            LossKind::Unrepresentable,
            "FluentCart keeps one fee total; fee names and kinds are not sent",
        );
    }

    // Transactions.
    if as_order && !order.payments.is_empty() {
        let mut txs = Vec::new();
        for (i, pay) in order.payments.iter().enumerate() {
            let mut tw = ObjWriter::new();
            tw.opt("id", pay.ids.fluentcart);
            tw.opt_str("payment_method", &pay.method);
            tw.opt_str("status", &pay.status);
            tw.opt_str("transaction_type", &pay.kind);
            tw.put(
                "total",
                enc.money(pay.amount, &format!("{base}/transactions/{i}/total")),
            );
            tw.opt_str("vendor_charge_id", &pay.reference);
            let mut map = tw.finish();
            apply_ext(&mut map, &pay.ext, P);
            txs.push(Value::Object(map));
        }
        w.put("transactions", txs);
    }

    // Dates.
    let ts = &order.timestamps;
    if as_order {
        w.opt("created_at", ts.created_at.as_ref().map(render_iso_offset));
        w.opt("updated_at", ts.updated_at.as_ref().map(render_iso_offset));
    }
    w.opt("completed_at", ts.completed_at.as_ref().map(render_naive));
    w.opt("refunded_at", ts.refunded_at.as_ref().map(render_naive));
    if !as_order && ts.created_at.is_some() {
        enc.loss(
            &p("created_at"),
            LossKind::Unrepresentable,
            "FluentCart cannot backdate an order; the creation date is not sent",
        );
    }
    w.finish()
}

fn encode_customer(c: &Customer) -> JsonMap {
    let mut w = ObjWriter::new();
    w.opt("id", c.ids.fluentcart);
    w.opt_str("email", &c.email);
    w.opt_str("first_name", &c.first_name);
    w.opt_str("last_name", &c.last_name);
    let mut map = w.finish();
    apply_ext(&mut map, &c.ext, P);
    map
}

fn encode_address(a: &Address, kind: &str) -> JsonMap {
    let mut w = ObjWriter::new();
    w.opt("id", a.ids.fluentcart);
    if a.ext.get(P).is_none() {
        w.put("type", kind);
    }
    w.opt("name", a.display_name());
    w.opt_str("first_name", &a.first_name);
    w.opt_str("last_name", &a.last_name);
    w.put("address_1", a.line1.as_str());
    w.opt_str("address_2", &a.line2);
    w.put("city", a.city.as_str());
    w.opt_str("state", &a.region);
    w.opt_str("postcode", &a.postal_code);
    w.put("country", a.country_code.as_str());
    w.opt_str("email", &a.email);
    let mut other = ObjWriter::new();
    other.opt_str("phone", &a.phone);
    other.opt_str("company_name", &a.company);
    let other = other.finish();
    if !other.is_empty() {
        w.put("meta", json!({ "other_data": other }));
    }
    let mut map = w.finish();
    apply_ext(&mut map, &a.ext, P);
    map
}

fn encode_line(enc: &mut Enc<'_>, line: &LineItem, base: &str, as_order: bool) -> JsonMap {
    let p = |k: &str| format!("{base}/{k}");
    let mut w = ObjWriter::new();
    w.opt("id", line.ids.fluentcart);
    w.opt("post_id", line.product.fluentcart_post_id);
    w.opt("object_id", line.product.fluentcart_object_id);
    if line.kind != LineKind::Catalog && line.ext.get(P).is_none() {
        w.put("is_custom", true);
    }
    w.put("title", line.name.as_str());
    w.put("quantity", line.quantity);
    w.put("unit_price", enc.money(line.unit_price, &p("unit_price")));
    let subtotal_key = if as_order { "subtotal" } else { "item_total" };
    w.put(subtotal_key, enc.money(line.subtotal, &p(subtotal_key)));
    w.put(
        "discount_total",
        enc.money(line.discount_total, &p("discount_total")),
    );
    w.put("tax_amount", enc.money(line.tax_total, &p("tax_amount")));
    w.put("line_total", enc.money(line.total, &p("line_total")));
    if as_order {
        w.put(
            "refund_total",
            enc.money(line.refunded_total, &p("refund_total")),
        );
        w.put("fulfilled_quantity", line.quantity_shipped);
    }
    w.opt(
        "fulfillment_type",
        line.fulfillment_type.map(|f| match f {
            FulfillmentType::Physical => "physical",
            FulfillmentType::Digital => "digital",
            FulfillmentType::Service => "service",
        }),
    );
    // FluentCart has no SKU column; the SKU (or bundle code) rides in other_info, where decode reads it back.
    let mut other = ObjWriter::new();
    other.opt_str("sku", &line.product.sku);
    other.opt_str("bundle_code", &line.product.bundle_code);
    let other = other.finish();
    if !other.is_empty() {
        w.put("other_info", Value::Object(other));
    }
    if line.kind != LineKind::Custom && line.product.fluentcart_object_id.is_none() {
        enc.loss(
            &p("object_id"),
            LossKind::Unrepresentable,
            "no FluentCart variation id for this product; map its SKU through the catalog",
        );
    }
    let mut map = w.finish();
    apply_ext(&mut map, &line.ext, P);
    map
}

/// A money amount in major units as a JSON number, from its exact decimal text (`discount.value`).
fn major_number(m: Money) -> Value {
    exact_number(m.to_decimal(), false).unwrap_or(Value::Null)
}

/// The superset error body readable by clients of the documented FluentCart shape, WordPress REST errors and
/// `sendError()` (reliability.md §3).
pub fn encode_error(problem: &Problem) -> ErrorDocument {
    let r = error_render(&tables::get().fluentcart_errors, problem.kind);
    let code = r.code.unwrap_or_else(|| problem.kind.key().to_owned());
    let message = problem.message();
    let mut data = json!({ "status": r.status });
    if !problem.pointer.is_empty() {
        data["pointer"] = Value::String(problem.pointer.clone());
    }
    if let Some(name) = &problem.parameter {
        // WordPress REST's invalid-parameter shape: each parameter at fault with its reason.
        data["params"] = json!({ &**name: problem.reason });
    }
    ErrorDocument {
        status: http::StatusCode::from_u16(r.status)
            .unwrap_or(http::StatusCode::UNPROCESSABLE_ENTITY),
        body: json!({
            "success": false,
            "error": { "code": code, "message": message },
            "code": code,
            "message": message,
            "data": data,
        }),
    }
}
