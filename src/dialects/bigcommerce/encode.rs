//! Canonical → BigCommerce v2 wire.

use serde_json::{json, Value};

use super::status::{ingest_status, render_status_id, Shipment};
use crate::canonical::money::sum_minor;
use crate::canonical::*;
use crate::dialects::dates::render_rfc2822;
use crate::dialects::json::{apply_ext, ObjWriter};
use crate::dialects::tables::{self, error_render};
use crate::dialects::wire_money::{decimal_4, exact_number};
use crate::dialects::{sub_minor_losses, ErrorDocument, Loss, LossKind, Translated};

const P: Platform = Platform::BigCommerce;

fn d4(m: Money) -> Value {
    Value::String(decimal_4(m))
}

/// A JSON number with the exact decimal value (create-request product prices are typed `number` in the spec).
fn number(m: Money) -> Value {
    exact_number(m.to_decimal(), false).unwrap_or_else(|| d4(m))
}

struct Enc<'a> {
    order: &'a Order,
    losses: Vec<Loss>,
}

impl Enc<'_> {
    fn loss(&mut self, pointer: impl Into<String>, kind: LossKind, reason: impl Into<String>) {
        self.losses.push(Loss {
            pointer: pointer.into(),
            kind,
            reason: reason.into(),
        });
    }
    /// Net and gross of an amount stated in the order's tax mode with its tax.
    fn ex_inc(&self, amount: Money, tax: Money) -> (Money, Money) {
        if self.order.tax_included {
            (
                Money::new(amount.minor - tax.minor, amount.currency),
                amount,
            )
        } else {
            (
                amount,
                Money::new(amount.minor + tax.minor, amount.currency),
            )
        }
    }
}

fn encode_address(a: &Address, with_id: bool) -> JsonMap {
    let mut w = ObjWriter::new();
    if with_id {
        w.opt("id", a.ids.bigcommerce);
    }
    let (first, last) = a.name_parts();
    w.opt("first_name", first);
    w.opt("last_name", last);
    w.opt_str("company", &a.company);
    w.put("street_1", a.line1.as_str());
    w.opt_str("street_2", &a.line2);
    w.put("city", a.city.as_str());
    w.opt_str("state", &a.region);
    w.opt_str("zip", &a.postal_code);
    let name = a.country_name.clone().or_else(|| {
        tables::get()
            .bigcommerce_countries
            .get(&a.country_code)
            .cloned()
    });
    w.put("country", name.unwrap_or_else(|| a.country_code.clone()));
    w.put("country_iso2", a.country_code.as_str());
    w.opt_str("phone", &a.phone);
    w.opt_str("email", &a.email);
    let mut map = w.finish();
    apply_ext(&mut map, &a.ext, P);
    map
}

fn encode_product(enc: &mut Enc<'_>, line: &LineItem, i: usize, as_order: bool) -> JsonMap {
    let order = enc.order;
    let q = line.quantity as i64;
    let unit_tax = if q > 0 && line.tax_total.minor % q == 0 {
        Money::new(line.tax_total.minor / q, order.currency)
    } else {
        if q > 0 {
            enc.loss(
                format!("/products/{i}/price_tax"),
                LossKind::Precision,
                format!(
                    "line tax {} does not divide into {q} equal unit taxes; unit tax rounded",
                    line.tax_total.to_decimal()
                ),
            );
        }
        Money::new(
            if q > 0 { line.tax_total.minor / q } else { 0 },
            order.currency,
        )
    };
    let (ex, inc) = enc.ex_inc(line.unit_price, unit_tax);
    let mut w = ObjWriter::new();
    if as_order {
        w.opt("id", line.ids.bigcommerce);
        w.opt("order_id", order.ids.platform.bigcommerce);
    }
    w.opt("product_id", line.product.bigcommerce_product_id);
    w.opt("variant_id", line.product.bigcommerce_variant_id);
    w.put("name", line.name.as_str());
    w.opt_str("sku", &line.product.sku);
    w.put("quantity", line.quantity);
    let price = if as_order { d4 } else { number };
    w.put("price_ex_tax", price(ex));
    w.put("price_inc_tax", price(inc));
    if as_order {
        w.put("base_price", d4(ex));
        w.put("price_tax", d4(unit_tax));
        w.put("base_total", d4(Money::new(ex.minor * q, order.currency)));
        w.put("total_ex_tax", d4(Money::new(ex.minor * q, order.currency)));
        w.put(
            "total_inc_tax",
            d4(Money::new(inc.minor * q, order.currency)),
        );
        w.put("total_tax", d4(line.tax_total));
        w.put("quantity_shipped", line.quantity_shipped);
        w.put("refund_amount", d4(line.refunded_total));
        w.opt(
            "type",
            line.fulfillment_type.map(|f| {
                if f == FulfillmentType::Digital {
                    "digital"
                } else {
                    "physical"
                }
            }),
        );
        if let Some(dest) = line
            .destination
            .and_then(|d| order.shipping_destinations.get(d))
        {
            w.opt("order_address_id", dest.ids.bigcommerce);
        }
        if !line.discount_total.is_zero() && line.ext.get(P).is_none() {
            w.put("applied_discounts", json!([{ "id": "manual", "amount": decimal_4(line.discount_total), "name": "Discount", "code": null, "target": "order" }]));
        }
    } else if !line.discount_total.is_zero() {
        enc.loss(format!("/products/{i}"), LossKind::Unrepresentable, "BigCommerce create takes no per-line discounts; the order-level discount_amount carries them");
    }
    if line.kind == LineKind::Catalog && line.product.bigcommerce_product_id.is_none() && !as_order
    {
        // Sent as a custom product: name, SKU and both prices carry it.
        enc.loss(format!("/products/{i}/product_id"), LossKind::Unrepresentable, "no BigCommerce product id for this catalog line; sent as a custom product (map its SKU through the catalog)");
    }
    let mut map = w.finish();
    apply_ext(&mut map, &line.ext, P);
    map
}

fn encode_document(order: &Order, as_order: bool) -> Translated<Value> {
    let mut enc = Enc {
        order,
        losses: Vec::new(),
    };
    let cur = order.currency;
    let t = &order.totals;
    let mut w = ObjWriter::new();
    if as_order {
        w.opt("id", order.ids.platform.bigcommerce);
        w.put("currency_code", cur.as_str());
    }
    w.put("default_currency_code", cur.as_str());
    w.put("customer_id", order.customer.ids.bigcommerce.unwrap_or(0));
    w.opt_str("cart_id", &order.ids.cart_token);

    // Status: three axes into one id.
    let triple = StatusTriple {
        order: order.status,
        payment: order.payment_status,
        fulfillment: order.fulfillment_status,
    };
    let status_id = render_status_id(triple);
    let digital = order.fulfillment_status == FulfillmentStatus::NotRequired;
    let items_total: u64 = order.line_items.iter().map(|l| l.quantity as u64).sum();
    let items_shipped: u64 = order
        .line_items
        .iter()
        .map(|l| l.quantity_shipped as u64)
        .sum();
    let payment_text = tables::get()
        .bigcommerce_statuses
        .payment
        .render(order.payment_status)
        .to_owned();
    let payment_back = tables::get()
        .bigcommerce_statuses
        .payment
        .ingest(&payment_text);
    let back = ingest_status(
        status_id,
        if as_order { payment_back } else { None },
        Shipment {
            digital,
            items_total,
            items_shipped,
        },
    );
    if back != Some(triple) {
        enc.loss(
            "/status_id",
            LossKind::StatusCollapsed,
            format!(
                "order {}, payment {} and fulfillment {} collapse into status_id {status_id}",
                order.status, order.payment_status, order.fulfillment_status
            ),
        );
    }
    w.put("status_id", status_id);
    if as_order {
        let name = tables::get()
            .bigcommerce_statuses
            .status_ids
            .get(&status_id)
            .map(|e| e.name.clone())
            .unwrap_or_default();
        w.put("status", name);
        w.put("payment_status", payment_text);
        w.put("order_is_digital", digital);
        w.put("items_total", items_total);
        w.put("items_shipped", items_shipped);
        w.put("is_tax_inclusive_pricing", order.tax_included);
    }

    // Billing and shipping. An order's billing address always has a `zip` (the orders v2 spec requires it; the
    // platform sends "" when there is none).
    let billing_zip = |map: &mut JsonMap| {
        if as_order {
            map.entry("zip").or_insert(Value::String(String::new()));
        }
    };
    match &order.billing_address {
        Some(a) => {
            let mut map = encode_address(a, false);
            match (&a.email, &order.customer.email) {
                (None, Some(e)) => {
                    map.insert("email".into(), e.clone().into());
                }
                // BigCommerce has one e-mail for the buyer, the billing address's.
                (Some(billing), Some(customer)) if billing != customer && !customer.is_empty() => {
                    enc.loss(
                        "/billing_address/email",
                        LossKind::Unrepresentable,
                        "BigCommerce carries one e-mail, the billing address's; the customer's differs and is not sent",
                    );
                }
                _ => {}
            }
            billing_zip(&mut map);
            w.put("billing_address", Value::Object(map));
        }
        None => {
            enc.loss(
                "/billing_address",
                LossKind::Unrepresentable,
                "BigCommerce requires a billing address; the order has none",
            );
            let mut map = JsonMap::new();
            if let Some(e) = &order.customer.email {
                map.insert("email".into(), e.clone().into());
            }
            if let Some(f) = &order.customer.first_name {
                map.insert("first_name".into(), f.clone().into());
            }
            if let Some(l) = &order.customer.last_name {
                map.insert("last_name".into(), l.clone().into());
            }
            billing_zip(&mut map);
            w.put("billing_address", Value::Object(map));
        }
    }
    let shipping_method = order.shipping_lines.first().and_then(|s| s.method.clone());
    if !order.shipping_destinations.is_empty() {
        let list: Vec<Value> = order
            .shipping_destinations
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let mut map = encode_address(a, as_order);
                let method = order
                    .shipping_lines
                    .iter()
                    .find(|s| s.destination == Some(i))
                    .and_then(|s| s.method.clone());
                if let Some(m) = method.or_else(|| {
                    if i == 0 {
                        shipping_method.clone()
                    } else {
                        None
                    }
                }) {
                    map.entry("shipping_method").or_insert(Value::String(m));
                }
                Value::Object(map)
            })
            .collect();
        w.put("shipping_addresses", list);
    } else if as_order {
        w.put("shipping_addresses", Vec::<Value>::new());
    }

    // Products.
    let products: Vec<Value> = order
        .line_items
        .iter()
        .enumerate()
        .map(|(i, l)| Value::Object(encode_product(&mut enc, l, i, as_order)))
        .collect();
    w.put("products", products);

    // Money.
    let lines_tax = Money::new(
        sum_minor(order.line_items.iter().map(|l| &l.tax_total)),
        cur,
    );
    let (sub_ex, sub_inc) = enc.ex_inc(t.subtotal, lines_tax);
    let (ship_ex, ship_inc) = enc.ex_inc(t.shipping_total, t.shipping_tax);
    w.put("subtotal_ex_tax", d4(sub_ex));
    w.put("subtotal_inc_tax", d4(sub_inc));
    w.put("base_shipping_cost", d4(ship_ex));
    w.put("shipping_cost_ex_tax", d4(ship_ex));
    w.put("shipping_cost_inc_tax", d4(ship_inc));
    let mut custom_fees = Vec::new();
    for (kind, stem) in [
        (FeeKind::Handling, "handling"),
        (FeeKind::Wrapping, "wrapping"),
    ] {
        let (amount, tax) = order
            .fees
            .iter()
            .filter(|f| f.kind == kind)
            .fold((0, 0), |acc, f| {
                (acc.0 + f.amount.minor, acc.1 + f.tax.minor)
            });
        let (ex, inc) = enc.ex_inc(Money::new(amount, cur), Money::new(tax, cur));
        if as_order || amount != 0 {
            w.put(&format!("base_{stem}_cost"), d4(ex));
            w.put(&format!("{stem}_cost_ex_tax"), d4(ex));
            w.put(&format!("{stem}_cost_inc_tax"), d4(inc));
        }
        if as_order {
            w.put(&format!("{stem}_cost_tax"), d4(Money::new(tax, cur)));
        }
    }
    for f in order
        .fees
        .iter()
        .filter(|f| !matches!(f.kind, FeeKind::Handling | FeeKind::Wrapping))
    {
        let (ex, inc) = enc.ex_inc(f.amount, f.tax);
        let mut fw = ObjWriter::new();
        fw.opt("id", f.ids.bigcommerce);
        fw.put("type", "custom_fee");
        fw.put(
            "display_name_customer",
            f.name.clone().unwrap_or_else(|| "Fee".into()),
        );
        fw.put(
            "display_name_merchant",
            f.name.clone().unwrap_or_else(|| "Fee".into()),
        );
        fw.put("cost_ex_tax", d4(ex));
        fw.put("cost_inc_tax", d4(inc));
        fw.put("cost_tax", d4(f.tax));
        let mut map = fw.finish();
        apply_ext(&mut map, &f.ext, P);
        custom_fees.push(Value::Object(map));
    }
    if !custom_fees.is_empty() {
        w.put("fees", custom_fees);
    }
    let manual: i64 = order
        .discounts
        .iter()
        .filter(|d| d.kind == DiscountKind::Manual)
        .map(|d| d.amount.minor)
        .fold(0, i64::saturating_add);
    let coupons: Vec<&Discount> = order
        .discounts
        .iter()
        .filter(|d| d.kind != DiscountKind::Manual)
        .collect();
    let coupon_sum: i64 = sum_minor(coupons.iter().map(|d| &d.amount));
    if as_order {
        w.put("discount_amount", d4(Money::new(manual, cur)));
        w.put("coupon_discount", d4(Money::new(coupon_sum, cur)));
        let list: Vec<Value> = coupons
            .iter()
            .map(|d| {
                let mut cw = ObjWriter::new();
                cw.opt("id", d.ids.bigcommerce);
                cw.opt("order_id", order.ids.platform.bigcommerce);
                cw.opt_str("code", &d.code.clone().or_else(|| d.label.clone()));
                cw.put("amount", d4(d.amount));
                cw.put("type", 2);
                cw.put("discount", d4(d.amount));
                let mut map = cw.finish();
                apply_ext(&mut map, &d.ext, P);
                Value::Object(map)
            })
            .collect();
        w.put("coupons", list);
        if let Some(r) = t.refunded_total {
            w.put("refunded_amount", d4(r));
        }
        w.put("subtotal_tax", d4(lines_tax));
        w.put("shipping_cost_tax", d4(t.shipping_tax));
        w.put("total_tax", d4(t.tax_total));
    } else {
        // Promotions and coupons do not apply to API-created orders; the whole discount travels as discount_amount.
        w.put("discount_amount", d4(Money::new(manual + coupon_sum, cur)));
        if coupons.iter().any(|d| d.code.is_some()) {
            enc.loss("/discount_amount", LossKind::Unrepresentable, "BigCommerce does not apply coupon codes to API-created orders; their amount is sent as discount_amount");
        }
    }
    w.put(
        "total_ex_tax",
        d4(Money::new(t.total.minor - t.tax_total.minor, cur)),
    );
    w.put("total_inc_tax", d4(t.total));
    w.opt_str("payment_method", &order.payment_method);
    w.opt_str("customer_message", &order.customer_note);
    w.opt_str("staff_notes", &order.staff_note);
    w.opt_str("ip_address", &order.ip_address);
    w.opt_str("customer_locale", &order.language);
    w.opt_str("external_source", &order.external_ref.origin);
    w.opt_str("external_order_id", &order.external_ref.reference);
    let ts = &order.timestamps;
    w.opt("date_created", ts.created_at.as_ref().map(render_rfc2822));
    if as_order {
        w.opt("date_modified", ts.updated_at.as_ref().map(render_rfc2822));
        w.put(
            "date_shipped",
            ts.shipped_at
                .as_ref()
                .map(render_rfc2822)
                .unwrap_or_default(),
        );
    }
    for (i, p) in order.payments.iter().enumerate() {
        if p.ext.get(P).is_none() {
            enc.loss(
                format!("/payments/{i}"),
                LossKind::Unrepresentable,
                "BigCommerce v2 orders carry no payment transactions; only payment_method is sent",
            );
            break;
        }
    }
    if order.test_mode == Some(true) {
        enc.loss(
            "/",
            LossKind::Unrepresentable,
            "BigCommerce orders have no test mode flag",
        );
    }
    for d in &order.discounts {
        if let (DiscountKind::Manual, Some(label), None) = (d.kind, &d.label, d.ext.get(P)) {
            enc.loss(
                "/discount_amount",
                LossKind::Unrepresentable,
                format!("BigCommerce discount_amount has no label; {label:?} is not sent"),
            );
        }
    }
    let mut map = w.finish();
    apply_ext(&mut map, &order.ext, P);
    sub_minor_losses(order, P, &mut enc.losses);
    Translated {
        value: Value::Object(map),
        losses: enc.losses,
    }
}

pub fn encode_create_request(order: &Order) -> Translated<Value> {
    encode_document(order, false)
}

/// The order object with `products`, `shipping_addresses` and `coupons` expanded in place (what a client holds
/// after following the sub-resource links).
pub fn encode_order(order: &Order) -> Translated<Value> {
    encode_document(order, true)
}

/// The order object as `GET /orders/{id}` serves it: sub-resources as `{url, resource}` links under `base_url`
/// (e.g. `https://gateway/stores/abc/v2`).
pub fn encode_order_with_links(order: &Order, base_url: &str) -> Translated<Value> {
    let mut out = crate::dialects::encode(P, crate::dialects::DocumentKind::Order, order);
    let id = order
        .ids
        .platform
        .bigcommerce
        .map(|n| n.to_string())
        .unwrap_or_default();
    if let Value::Object(map) = &mut out.value {
        for (key, path) in [
            ("products", "products"),
            ("shipping_addresses", "shippingaddresses"),
            ("coupons", "coupons"),
        ] {
            let resource = format!("/orders/{id}/{path}");
            map.insert(
                key.into(),
                json!({ "url": format!("{base_url}{resource}"), "resource": resource }),
            );
        }
    }
    out
}

fn sub_resource(order: &Order, key: &str) -> Value {
    encode_document(order, true)
        .value
        .get(key)
        .cloned()
        .unwrap_or(Value::Array(Vec::new()))
}

/// `GET /orders/{id}/products`.
pub fn encode_products(order: &Order) -> Value {
    sub_resource(order, "products")
}

/// `GET /orders/{id}/shipping_addresses`.
pub fn encode_shipping_addresses(order: &Order) -> Value {
    sub_resource(order, "shipping_addresses")
}

/// `GET /orders/{id}/coupons`.
pub fn encode_coupons(order: &Order) -> Value {
    sub_resource(order, "coupons")
}

/// `[{"status": S, "message": M}]`.
pub fn encode_error(problem: &Problem) -> ErrorDocument {
    let r = error_render(&tables::get().bigcommerce_errors, problem.kind);
    ErrorDocument {
        status: http::StatusCode::from_u16(r.status)
            .unwrap_or(http::StatusCode::UNPROCESSABLE_ENTITY),
        body: json!([{ "status": r.status, "message": problem.message() }]),
    }
}
