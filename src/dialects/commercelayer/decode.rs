//! Commerce Layer JSON:API → canonical.

use std::collections::HashMap;

use serde_json::Value;

use super::money::{echo_triple, read_triple};
use super::{KEPT_DOCUMENT, KEPT_INCLUDED};
use crate::canonical::money::sum_minor;
use crate::canonical::*;
use crate::dialects::dates::{parse_iso_or_naive, render_iso_millis};
use crate::dialects::json::Obj;
use crate::dialects::tables;
use crate::dialects::wire_money::refuse_negative;
use crate::dialects::{DecodeOptions, DocumentKind};

const P: Platform = Platform::CommerceLayer;

pub fn detect_kind(doc: &Value) -> Result<DocumentKind, Problem> {
    let Value::Object(m) = doc else {
        return Err(Problem::new(
            ProblemKind::UnknownDocument,
            "",
            "a JSON:API document must be a JSON object",
        ));
    };
    match m.get("data") {
        Some(Value::Object(d)) if d.get("id").is_some_and(|id| !id.is_null()) => {
            Ok(DocumentKind::Order)
        }
        Some(Value::Object(_)) => Ok(DocumentKind::Request),
        Some(_) => Err(Problem::new(
            ProblemKind::InvalidField,
            "/data",
            "data must be a single resource object",
        )),
        None => Err(Problem::new(
            ProblemKind::MissingField,
            "/data",
            "a JSON:API document needs a data member",
        )),
    }
}

pub fn decode_create_request(doc: Value, options: &DecodeOptions) -> Result<Order, Problem> {
    decode_document(doc, options, DocumentKind::Request)
}

pub fn decode_order(doc: Value, options: &DecodeOptions) -> Result<Order, Problem> {
    decode_document(doc, options, DocumentKind::Order)
}

/// `included` resources by (type, id), consumed as relationships claim them.
struct Included {
    resources: Vec<Option<(Value, String)>>,
    index: HashMap<(String, String), usize>,
}

impl Included {
    fn new(list: Vec<(Value, String)>) -> Result<Self, Problem> {
        let mut index = HashMap::new();
        for (i, (v, ptr)) in list.iter().enumerate() {
            let ty = v.get("type").and_then(Value::as_str);
            let id = v.get("id").and_then(Value::as_str);
            match (ty, id) {
                (Some(t), Some(id)) => {
                    if index.insert((t.to_owned(), id.to_owned()), i).is_some() {
                        return Err(Problem::new(
                            ProblemKind::DuplicateKey,
                            ptr.clone(),
                            format!("{t} {id:?} is included twice"),
                        ));
                    }
                }
                _ => {
                    return Err(Problem::new(
                        ProblemKind::InvalidField,
                        ptr.clone(),
                        "an included resource needs string type and id",
                    ))
                }
            }
        }
        Ok(Included {
            resources: list.into_iter().map(Some).collect(),
            index,
        })
    }

    fn take(&mut self, ty: &str, id: &str) -> Option<(Value, String)> {
        let i = *self.index.get(&(ty.to_owned(), id.to_owned()))?;
        self.resources[i].take()
    }

    fn peek_attr(&self, ty: &str, id: &str, attr: &str) -> Option<&Value> {
        let i = *self.index.get(&(ty.to_owned(), id.to_owned()))?;
        self.resources[i].as_ref()?.0.get("attributes")?.get(attr)
    }

    fn rest(self) -> Vec<Value> {
        self.resources
            .into_iter()
            .flatten()
            .map(|(v, _)| v)
            .collect()
    }
}

/// A relationship's linkage: `(type, id)` for to-one, list for to-many. Other members (links, meta) stay kept.
fn linkage(rels: &mut Obj, name: &str) -> Result<Vec<(String, String)>, Problem> {
    let Some(mut rel) = rels.child(name)? else {
        return Ok(Vec::new());
    };
    if rel.peek("data").is_some_and(Value::is_null) {
        // An empty to-one linkage stays a kept `null` rather than a null echo: the encoder writes the same null,
        // and a kept JSON value survives the store's serde round trip where an echo of `null` would not.
        rels.absorb(name, rel);
        return Ok(Vec::new());
    }
    let data = rel.take("data");
    let ptr = rel.pointer("data");
    let mut out = Vec::new();
    let one = |v: &Value, p: &str| -> Result<(String, String), Problem> {
        match (
            v.get("type").and_then(Value::as_str),
            v.get("id").and_then(Value::as_str),
        ) {
            (Some(t), Some(id)) => Ok((t.to_owned(), id.to_owned())),
            _ => Err(Problem::new(
                ProblemKind::InvalidField,
                p,
                "a resource identifier needs string type and id",
            )),
        }
    };
    match &data {
        None => {}
        Some(Value::Array(items)) => {
            for (i, v) in items.iter().enumerate() {
                out.push(one(v, &format!("{ptr}/{i}"))?);
            }
        }
        Some(v) => out.push(one(v, &ptr)?),
    }
    if let Some(d) = data {
        // Keep the linkage spelling; the encoder re-derives it and the echo confirms it.
        rel.keep("data", d);
    }
    rels.absorb(name, rel);
    Ok(out)
}

struct Resource {
    obj: Obj,
    attrs: Obj,
}

fn open_resource(v: Value, ptr: String, expected: &str) -> Result<Resource, Problem> {
    let mut obj = Obj::new(v, ptr)?;
    let ty = obj.required_string("type")?;
    if ty != expected {
        return Err(Problem::new(
            ProblemKind::TypeConflict,
            obj.pointer("type"),
            format!("expected a resource of type {expected}, found {ty:?}"),
        ));
    }
    obj.keep("type", Value::String(ty));
    let attrs = match obj.child("attributes")? {
        Some(a) => a,
        None => Obj::new(Value::Object(JsonMap::new()), obj.pointer("attributes"))?,
    };
    Ok(Resource { obj, attrs })
}

impl Resource {
    fn close(mut self, ext: &mut Ext) {
        self.obj.absorb("attributes", self.attrs);
        self.obj.finish_into(ext, P);
    }
}

fn date(a: &mut Obj, key: &str) -> Result<Option<Timestamp>, Problem> {
    let Some(text) = a.string(key)? else {
        return Ok(None);
    };
    let dt = parse_iso_or_naive(&text).ok_or_else(|| {
        Problem::new(
            ProblemKind::InvalidDate,
            a.pointer(key),
            format!("{text:?} is not an ISO 8601 date"),
        )
    })?;
    a.echo(
        key,
        Value::String(text),
        Value::String(render_iso_millis(&dt)),
    );
    Ok(Some(dt))
}

fn decode_document(
    doc: Value,
    options: &DecodeOptions,
    kind: DocumentKind,
) -> Result<Order, Problem> {
    let mut top = Obj::new(doc, "")?;
    let data = top.take("data").ok_or_else(|| top.missing("data"))?;
    let mut included = Included::new(top.array("included")?.unwrap_or_default())?;
    let Resource {
        obj: mut res,
        attrs: mut a,
    } = open_resource(data, "/data".into(), "orders")?;
    let id = res.string("id")?;
    if kind == DocumentKind::Order && id.is_none() {
        return Err(res.missing("id"));
    }
    let mut rels = match res.child("relationships")? {
        Some(r) => r,
        None => Obj::new(Value::Object(JsonMap::new()), res.pointer("relationships"))?,
    };

    // Currency: the order states it; a create document inherits it from its market.
    let market = linkage(&mut rels, "market")?;
    let currency_text = match a.string("currency_code")? {
        Some(c) => Some((c, a.pointer("currency_code"))),
        None => market.first().and_then(|(t, id)| {
            included
                .peek_attr(t, id, "currency_code")
                .and_then(Value::as_str)
                .map(|c| (c.to_owned(), "/data/relationships/market".to_owned()))
        }),
    };
    let currency = match currency_text {
        Some((code, ptr)) => Currency::parse(&code)
            .map_err(|e| Problem::new(ProblemKind::InvalidCurrency, ptr, e.to_string()))?,
        None => options.default_currency.ok_or_else(|| {
            Problem::new(
                ProblemKind::MissingField,
                "/data/attributes/currency_code",
                "no currency_code and no market currency (no default currency configured)",
            )
        })?,
    };
    let mut order = Order::empty(currency);
    order.ids.platform.commercelayer = id;
    order.ids.number = a.string_or_number("number")?;
    order.ids.cart_token = a.string("token")?;
    order.external_ref.reference = a.string("reference")?;
    order.external_ref.origin = a.string("reference_origin")?;
    order.language = a.string("language_code")?;
    order.customer.email = a.email("customer_email")?;
    order.customer.is_guest = a.boolean("guest")?.unwrap_or(false);
    if let Some(Value::Object(m)) = a.peek("metadata") {
        order.metadata = m.clone();
        a.take("metadata");
    }
    if let Some(b) = a.boolean("tax_included")? {
        order.tax_included = b;
    }
    if let Some(mut meta) = res.child("meta")? {
        if let Some(mode) = meta.string("mode")? {
            order.test_mode = Some(mode == "test");
        }
        res.absorb("meta", meta);
    }

    // Statuses.
    let t = &tables::get().commercelayer_statuses;
    let axis_err = |a: &Obj, key: &str, v: &str| {
        Problem::new(
            ProblemKind::InvalidStatus,
            a.pointer(key),
            format!("{v:?} is not a Commerce Layer {key}"),
        )
    };
    if let Some(s) = a.string("payment_status")? {
        order.payment_status = t
            .payment
            .ingest(&s)
            .ok_or_else(|| axis_err(&a, "payment_status", &s))?;
    }
    if let Some(s) = a.string("fulfillment_status")? {
        order.fulfillment_status = t
            .fulfillment
            .ingest(&s)
            .ok_or_else(|| axis_err(&a, "fulfillment_status", &s))?;
    }
    if let Some(s) = a.string("status")? {
        let status = t
            .order
            .ingest(&s)
            .ok_or_else(|| axis_err(&a, "status", &s))?;
        order.status = match status {
            OrderStatus::Processing
                if matches!(
                    order.fulfillment_status,
                    FulfillmentStatus::Fulfilled | FulfillmentStatus::NotRequired
                ) =>
            {
                OrderStatus::Completed
            }
            other => other,
        };
        a.echo(
            "status",
            Value::String(s),
            Value::String(t.order.render(order.status).to_owned()),
        );
    }

    // Totals.
    let triple = |a: &mut Obj, stem: &str| {
        read_triple(
            a,
            &format!("{stem}_cents"),
            &format!("{stem}_float"),
            &format!("formatted_{stem}"),
            currency,
        )
    };
    let zero = Money::zero(currency);
    let subtotal = triple(&mut a, "subtotal_amount")?;
    let shipping = triple(&mut a, "shipping_amount")?;
    let payment_fee = triple(&mut a, "payment_method_amount")?;
    let discount = triple(&mut a, "discount_amount")?;
    let adjustment = triple(&mut a, "adjustment_amount")?;
    let total_tax = triple(&mut a, "total_tax_amount")?;
    let shipping_tax = triple(&mut a, "shipping_tax_amount")?;
    let total_with_taxes = triple(&mut a, "total_amount_with_taxes")?;
    let total = triple(&mut a, "total_amount")?;
    check_remaining_triples(&mut a, currency)?;

    // Timestamps.
    order.timestamps.placed_at = date(&mut a, "placed_at")?;
    order.timestamps.approved_at = date(&mut a, "approved_at")?;
    order.timestamps.cancelled_at = date(&mut a, "cancelled_at")?;
    order.timestamps.created_at = date(&mut a, "created_at")?;
    order.timestamps.updated_at = date(&mut a, "updated_at")?;

    // Customer.
    for (ty, cid) in linkage(&mut rels, "customer")? {
        order.customer.ids.commercelayer = Some(cid.clone());
        if let Some((v, ptr)) = included.take(&ty, &cid) {
            let mut r = open_resource(v, ptr, "customers")?;
            r.obj.keep("id", Value::String(cid));
            if let Some(email) = r.attrs.email("email")? {
                order.customer.email.get_or_insert(email.clone());
                r.attrs.echo(
                    "email",
                    Value::String(email),
                    order
                        .customer
                        .email
                        .clone()
                        .map(Value::String)
                        .unwrap_or_default(),
                );
            }
            r.close(&mut order.customer.ext);
        }
    }

    // Addresses. Billing and shipping may name one address resource: the second finds it decoded already. A link
    // to nothing included keeps its id alone.
    for (name, billing) in [("billing_address", true), ("shipping_address", false)] {
        for (ty, aid) in linkage(&mut rels, name)? {
            let addr = match included.take(&ty, &aid) {
                Some((v, ptr)) => decode_address(v, ptr, aid)?,
                None => match order
                    .billing_address
                    .iter()
                    .chain(&order.shipping_destinations)
                    .find(|a| a.ids.commercelayer.as_deref() == Some(aid.as_str()))
                {
                    Some(same) => same.clone(),
                    None => {
                        let mut addr = Address::default();
                        addr.ids.commercelayer = Some(aid);
                        addr
                    }
                },
            };
            if billing {
                order.billing_address = Some(addr);
            } else {
                order.shipping_destinations.push(addr);
            }
        }
    }

    // Line items: products, shipping, payment fees, discounts, adjustments.
    let coupon_code = a.string("coupon_code")?;
    for (ty, lid) in linkage(&mut rels, "line_items")? {
        let Some((v, ptr)) = included.take(&ty, &lid) else {
            continue;
        };
        decode_line_item(v, ptr, lid, &mut order)?;
    }
    if let Some(code) = &coupon_code {
        match order
            .discounts
            .iter_mut()
            .find(|d| d.kind == DiscountKind::Promotion && d.code.is_none())
        {
            Some(d) => {
                d.code = Some(code.clone());
                d.kind = DiscountKind::Coupon;
            }
            None => order.discounts.push(Discount {
                ids: PlatformIds::default(),
                kind: DiscountKind::Coupon,
                code: Some(code.clone()),
                label: None,
                amount: zero,
                ext: Ext::default(),
            }),
        }
    }

    let tax = total_tax.unwrap_or(zero);
    let discount_total = discount
        .map(|d| Money::new(-d.minor, currency))
        .unwrap_or_else(|| {
            Money::new(
                sum_minor(order.discounts.iter().map(|d| &d.amount)),
                currency,
            )
        });
    let fee_total = Money::new(
        payment_fee.unwrap_or(zero).minor + adjustment.unwrap_or(zero).minor,
        currency,
    );
    let lines_subtotal = Money::new(
        sum_minor(order.line_items.iter().map(|l| &l.subtotal)),
        currency,
    );
    let shipping_total = shipping.unwrap_or(Money::new(
        sum_minor(order.shipping_lines.iter().map(|s| &s.amount)),
        currency,
    ));
    let subtotal = subtotal.unwrap_or(lines_subtotal);
    order.totals = Totals {
        subtotal,
        discount_total,
        shipping_total,
        shipping_tax: shipping_tax.unwrap_or(zero),
        fee_total,
        tax_total: tax,
        total: zero,
        paid_total: None,
        refunded_total: None,
    };
    let derived = order.totals.derived_total(order.tax_included);
    order.totals.total = total_with_taxes
        .or(total)
        .unwrap_or(Money::new(derived, currency));
    if let Some(t) = total {
        // `total_amount` excludes tax when prices do; the encoder derives it, the echo keeps the stated value.
        let derived = super::encode::total_amount(&order);
        echo_triple(
            &mut a,
            "total_amount_cents",
            "total_amount_float",
            "formatted_total_amount",
            t,
            derived,
        );
    }

    res.absorb("relationships", rels);
    res.absorb("attributes", a);
    let mut kept = res.finish();
    let rest = included.rest();
    if !rest.is_empty() {
        kept.extra.insert(KEPT_INCLUDED.into(), Value::Array(rest));
    }
    let document = top.finish();
    if !document.extra.is_empty() {
        kept.extra
            .insert(KEPT_DOCUMENT.into(), Value::Object(document.extra));
    }
    order.ext.set(P, kept);
    Ok(order)
}

/// Every other `*_cents`/`*_float` pair must agree too, even where the canonical model does not use it. They are
/// checked on a copy and stay kept verbatim.
fn check_remaining_triples(a: &mut Obj, currency: Currency) -> Result<(), Problem> {
    const STEMS: &[&str] = &[
        "gift_card_amount",
        "subtotal_tax_amount",
        "total_taxable_amount",
        "subtotal_taxable_amount",
        "shipping_taxable_amount",
        "payment_method_tax_amount",
        "payment_method_taxable_amount",
        "adjustment_tax_amount",
        "adjustment_taxable_amount",
        "discount_tax_amount",
        "discount_taxable_amount",
        "fees_amount",
        "duty_amount",
        "place_total_amount",
    ];
    for stem in STEMS {
        check_triple(a, stem, currency)?;
    }
    Ok(())
}

/// Validates one triple of `a` without consuming it.
pub(super) fn check_triple(a: &Obj, stem: &str, currency: Currency) -> Result<(), Problem> {
    let keys = [
        format!("{stem}_cents"),
        format!("{stem}_float"),
        format!("formatted_{stem}"),
    ];
    if a.peek(&keys[0]).is_none() {
        return Ok(());
    }
    let mut copy = JsonMap::new();
    for k in &keys {
        if let Some(v) = a.peek(k) {
            copy.insert(k.clone(), v.clone());
        }
    }
    let mut tmp = Obj::new(Value::Object(copy), a.base_pointer().to_owned())?;
    read_triple(&mut tmp, &keys[0], &keys[1], &keys[2], currency).map(|_| ())
}

/// An address resource document (`GET /api/addresses/{id}`, the reply to `POST /api/addresses`), read as an order's
/// included addresses are: what the canonical address has no field for is kept, for Commerce Layer callers.
pub fn decode_address_resource(doc: Value) -> Result<Address, Problem> {
    let Value::Object(mut doc) = doc else {
        return Err(Problem::new(
            ProblemKind::InvalidField,
            "",
            "a JSON:API document must be an object",
        ));
    };
    let data = doc.remove("data").unwrap_or(Value::Null);
    let id = data
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| {
            Problem::new(
                ProblemKind::MissingField,
                "/data/id",
                "an address resource needs its id",
            )
        })?;
    decode_address(data, "/data".to_owned(), id)
}

fn decode_address(v: Value, ptr: String, id: String) -> Result<Address, Problem> {
    let mut r = open_resource(v, ptr, "addresses")?;
    let a = &mut r.attrs;
    let mut addr = Address {
        ids: PlatformIds {
            commercelayer: Some(id.clone()),
            ..Default::default()
        },
        first_name: a.string("first_name")?,
        last_name: a.string("last_name")?,
        company: a.string("company")?,
        line1: a.string("line_1")?.unwrap_or_default(),
        line2: a.string("line_2")?,
        city: a.string("city")?.unwrap_or_default(),
        region: a.string("state_code")?,
        postal_code: a.string("zip_code")?,
        country_code: a.country_code("country_code")?.unwrap_or_default(),
        phone: a.string("phone")?,
        email: a.email("email")?,
        ..Default::default()
    };
    r.obj.keep("id", Value::String(id));
    r.close(&mut addr.ext);
    Ok(addr)
}

fn decode_line_item(v: Value, ptr: String, id: String, order: &mut Order) -> Result<(), Problem> {
    let currency = order.currency;
    let zero = Money::zero(currency);
    let mut r = open_resource(v, ptr, "line_items")?;
    r.obj.keep("id", Value::String(id.clone()));
    let a = &mut r.attrs;
    let item_type = a
        .peek("item_type")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let bundle = a
        .peek("bundle_code")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let kind = item_type
        .as_deref()
        .unwrap_or(if bundle.is_some() { "bundles" } else { "skus" });
    let ids = PlatformIds {
        commercelayer: Some(id),
        ..Default::default()
    };
    let unit = read_triple(
        a,
        "unit_amount_cents",
        "unit_amount_float",
        "formatted_unit_amount",
        currency,
    )?;
    let total = read_triple(
        a,
        "total_amount_cents",
        "total_amount_float",
        "formatted_total_amount",
        currency,
    )?;
    let tax = read_triple(
        a,
        "tax_amount_cents",
        "tax_amount_float",
        "formatted_tax_amount",
        currency,
    )?;
    let discount = read_triple(
        a,
        "discount_cents",
        "discount_float",
        "formatted_discount",
        currency,
    )?;
    check_triple(a, "options_amount", currency)?;
    let name = a.string("name")?;
    match kind {
        "skus" | "bundles" => {
            a.take("item_type");
            let sku = a.string("sku_code")?;
            let bundle_code = a.string("bundle_code")?;
            let quantity = a.quantity("quantity")?;
            let unit_price = refuse_negative(a, "unit_amount_cents", unit.unwrap_or(zero))?;
            let subtotal = Money::new(unit_price.minor.saturating_mul(quantity as i64), currency);
            let discount_total = Money::new(-discount.unwrap_or(zero).minor, currency);
            let tax_total = refuse_negative(a, "tax_amount_cents", tax.unwrap_or(zero))?;
            if let Some(stated) = total {
                echo_triple(
                    a,
                    "total_amount_cents",
                    "total_amount_float",
                    "formatted_total_amount",
                    stated,
                    subtotal,
                );
            }
            let total = Money::new(
                subtotal.minor - discount_total.minor
                    + if order.tax_included {
                        0
                    } else {
                        tax_total.minor
                    },
                currency,
            );
            let mut line = LineItem {
                ids,
                kind: if bundle_code.is_some() {
                    LineKind::Bundle
                } else if sku.is_some() {
                    LineKind::Catalog
                } else {
                    LineKind::Custom
                },
                product: ProductRef {
                    sku,
                    bundle_code,
                    ..Default::default()
                },
                name: name.unwrap_or_default(),
                quantity,
                unit_price,
                subtotal,
                discount_total,
                tax_total,
                total,
                tax_rate: None,
                fulfillment_type: None,
                quantity_shipped: 0,
                refunded_total: zero,
                destination: None,
                image_url: a.string("image_url")?,
                metadata: match a.take("metadata") {
                    Some(Value::Object(m)) => m,
                    Some(other) => {
                        a.keep("metadata", other);
                        JsonMap::new()
                    }
                    None => JsonMap::new(),
                },
                ext: Ext::default(),
            };
            if let Some(rate) = a.peek("tax_rate").cloned() {
                if let Ok(d) = crate::canonical::money::parse_decimal(&rate.to_string()) {
                    line.tax_rate = Some(d);
                }
            }
            r.close(&mut line.ext);
            order.line_items.push(line);
        }
        "shipments" => {
            let mut s = ShippingLine {
                ids,
                method: name,
                amount: total.or(unit).unwrap_or(zero),
                tax: tax.unwrap_or(zero),
                destination: None,
                ext: Ext::default(),
            };
            r.close(&mut s.ext);
            order.shipping_lines.push(s);
        }
        "payment_methods" | "adjustments" => {
            let mut f = Fee {
                ids,
                kind: if kind == "payment_methods" {
                    FeeKind::PaymentMethod
                } else {
                    FeeKind::Custom
                },
                name,
                amount: total.or(unit).unwrap_or(zero),
                tax: tax.unwrap_or(zero),
                ext: Ext::default(),
            };
            r.close(&mut f.ext);
            order.fees.push(f);
        }
        reduction if REDUCTION_ITEM_TYPES.contains(&reduction) => {
            // Promotions, discount engine items and gift cards reduce the order: their amounts are at most zero.
            let key = if total.is_some() {
                "total_amount_cents"
            } else {
                "unit_amount_cents"
            };
            let amount = total.or(unit).unwrap_or(zero);
            if amount.minor > 0 {
                return Err(Problem::new(
                    ProblemKind::InvalidMoney,
                    a.pointer(key),
                    format!(
                        "a {reduction} line reduces the order; its amount cannot be positive (found {} {})",
                        amount.to_decimal(),
                        amount.currency
                    ),
                ));
            }
            let mut d = Discount {
                ids,
                kind: DiscountKind::Promotion,
                code: a
                    .peek("coupon_code")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                label: name,
                amount: Money::new(-amount.minor, currency),
                ext: Ext::default(),
            };
            r.close(&mut d.ext);
            order.discounts.push(d);
        }
        other => {
            return Err(Problem::new(
                ProblemKind::InvalidField,
                a.pointer("item_type"),
                format!(
                    "unknown item_type {other:?}; a line item is one of skus, bundles, shipments, payment_methods, adjustments, {}",
                    REDUCTION_ITEM_TYPES.join(", ")
                ),
            ))
        }
    }
    Ok(())
}

/// The line item types that reduce an order (`resources.json`, `line_items.item_type`).
const REDUCTION_ITEM_TYPES: &[&str] = &[
    "gift_cards",
    "discount_engine_items",
    "percentage_discount_promotions",
    "free_shipping_promotions",
    "buy_x_pay_y_promotions",
    "free_gift_promotions",
    "fixed_price_promotions",
    "external_promotions",
    "fixed_amount_promotions",
    "flex_promotions",
];
