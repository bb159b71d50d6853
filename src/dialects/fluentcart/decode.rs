//! FluentCart wire → canonical.

use serde_json::Value;

use super::WIRE_PLACES;
use crate::canonical::money::sum_minor;
use crate::canonical::*;
use crate::dialects::dates::{parse_iso_or_naive, render_iso_offset, render_naive};
use crate::dialects::json::Obj;
use crate::dialects::tables;
use crate::dialects::wire_money::{AmountPath, AmountReader, WireAmounts};
use crate::dialects::{DecodeOptions, DocumentKind};

const P: Platform = Platform::FluentCart;

/// An update body (`POST /orders/{id}`): the order as changed, plus the line ids the caller removed.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderUpdate {
    pub order: Order,
    pub deleted_line_ids: Vec<u64>,
}

pub fn detect_kind(doc: &Value) -> Result<DocumentKind, Problem> {
    match doc {
        Value::Object(m) if m.get("order").is_some_and(Value::is_object) => Ok(DocumentKind::Order),
        Value::Object(m) if m.contains_key("order_items") || m.contains_key("customer_id") => {
            Ok(DocumentKind::Request)
        }
        Value::Object(_) => Err(Problem::new(
            ProblemKind::UnknownDocument,
            "",
            "neither a FluentCart create request (order_items) nor an order envelope (order)",
        )),
        _ => Err(Problem::new(
            ProblemKind::UnknownDocument,
            "",
            "a FluentCart document must be a JSON object",
        )),
    }
}

pub fn decode_create_request(doc: Value, options: &DecodeOptions) -> Result<Order, Problem> {
    let mut obj = Obj::new(doc, "")?;
    let order = decode_order_object(&mut obj, options, Form::Create)?;
    Ok(finish(obj, order))
}

pub fn decode_update_request(doc: Value, options: &DecodeOptions) -> Result<OrderUpdate, Problem> {
    let mut obj = Obj::new(doc, "")?;
    let mut deleted_line_ids = Vec::new();
    if let Some(items) = obj.array("deletedItems")? {
        for (v, ptr) in items {
            let id = crate::dialects::json::integer_value(&v)
                .and_then(|n| u64::try_from(n).ok())
                .ok_or_else(|| {
                    Problem::new(ProblemKind::InvalidNumber, ptr, "expected a line item id")
                })?;
            deleted_line_ids.push(id);
        }
    }
    let order = decode_order_object(&mut obj, options, Form::Update)?;
    Ok(OrderUpdate {
        order: finish(obj, order),
        deleted_line_ids,
    })
}

/// Decodes the `GET /orders/{id}` envelope `{"order": {...}, "discount_meta": ..., ...}`.
pub fn decode_order(doc: Value, options: &DecodeOptions) -> Result<Order, Problem> {
    let mut envelope = Obj::new(doc, "")?;
    let mut inner = envelope
        .child("order")?
        .ok_or_else(|| envelope.missing("order"))?;
    let mut order = decode_order_object(&mut inner, options, Form::Order)?;
    envelope.absorb("order", inner);
    order.ext.set(P, envelope.finish());
    Ok(order)
}

/// Decodes a list envelope `{"orders": {"data": [...], "current_page", "per_page", "total", "last_page"}}`.
pub fn decode_list(doc: Value, options: &DecodeOptions) -> Result<Vec<Order>, Problem> {
    decode_list_rows(doc, options)?
        .into_iter()
        .map(|row| row.order)
        .collect()
}

/// One row of an order list, decoded on its own: a row that does not decode leaves the others readable.
pub struct ListRow {
    /// The row's `id` as listed, when it has a whole-number one (even if the rest of the row is unreadable).
    pub id: Option<u64>,
    pub order: Result<Order, Problem>,
}

/// The rows of a `GET /orders` envelope, each decoded on its own. Only an envelope that is not a list fails
/// as a whole.
pub fn decode_list_rows(doc: Value, options: &DecodeOptions) -> Result<Vec<ListRow>, Problem> {
    let mut envelope = Obj::new(doc, "")?;
    let mut page = envelope
        .child("orders")?
        .ok_or_else(|| envelope.missing("orders"))?;
    let rows = page.array("data")?.ok_or_else(|| page.missing("data"))?;
    Ok(rows
        .into_iter()
        .map(|(v, ptr)| {
            let id = v.get("id").and_then(crate::dialects::json::integer_value);
            let order = Obj::new(v, ptr).and_then(|mut o| {
                let order = decode_order_object(&mut o, options, Form::Order)?;
                Ok(finish(o, order))
            });
            ListRow {
                id: id.and_then(|n| u64::try_from(n).ok()),
                order,
            }
        })
        .collect())
}

fn finish(obj: Obj, mut order: Order) -> Order {
    order.ext.set(P, obj.finish());
    order
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    Create,
    Update,
    Order,
}

fn date(o: &mut Obj, key: &str, naive: bool) -> Result<Option<Timestamp>, Problem> {
    let Some(text) = o.string(key)? else {
        return Ok(None);
    };
    // FluentCart sends placeholder strings for unset raw dates in some responses; anything unparsable is an error.
    let dt = parse_iso_or_naive(&text).ok_or_else(|| {
        Problem::new(
            ProblemKind::InvalidDate,
            o.pointer(key),
            format!("{text:?} is not a date"),
        )
    })?;
    let rendered = if naive {
        render_naive(&dt)
    } else {
        render_iso_offset(&dt)
    };
    o.echo(key, Value::String(text), Value::String(rendered));
    Ok(Some(dt))
}

fn decode_order_object(o: &mut Obj, options: &DecodeOptions, form: Form) -> Result<Order, Problem> {
    let currency = match o.string("currency")? {
        Some(code) => Currency::parse(&code).map_err(|e| {
            Problem::new(
                ProblemKind::InvalidCurrency,
                o.pointer("currency"),
                e.to_string(),
            )
        })?,
        None => options.default_currency.ok_or_else(|| {
            Problem::new(
                ProblemKind::MissingField,
                o.pointer("currency"),
                "currency is required (no default currency configured)",
            )
        })?,
    };
    let mut cx = AmountReader::new(currency, WireAmounts::Scaled(WIRE_PLACES));
    let mut order = Order::empty(currency);
    if form == Form::Order {
        order.ids.platform.fluentcart = o.unsigned("id")?;
    }
    order.ids.uuid = o.string("uuid")?;
    order.ids.number = o.string_or_number("invoice_no")?;
    order.ids.receipt_number = o.string_or_number("receipt_number")?;
    order.payment_method = o.string("payment_method")?;
    order.payment_method_title = o.string("payment_method_title")?;
    order.customer_note = o.string("note")?;
    order.ip_address = o.string("ip_address")?;
    if let Some(mode) = o.string("mode")? {
        order.test_mode = Some(mode == "test");
        o.echo(
            "mode",
            Value::String(mode.clone()),
            Value::String(if mode == "test" { "test" } else { "live" }.into()),
        );
    }

    // Customer: `customer_id` plus the appended `customer` object.
    let customer_id = o.unsigned("customer_id")?;
    if form == Form::Create && customer_id.is_none() && !o.has("customer") {
        return Err(o.missing("customer_id"));
    }
    order.customer = match o.owned("customer")? {
        Some(mut c) => {
            let mut customer = Customer {
                ids: PlatformIds {
                    fluentcart: c.unsigned("id")?,
                    ..Default::default()
                },
                email: c.email("email")?,
                first_name: c.string("first_name")?,
                last_name: c.string("last_name")?,
                ..Default::default()
            };
            customer.is_guest = matches!(
                c.peek("user_id")
                    .and_then(crate::dialects::json::integer_value),
                None | Some(0)
            );
            c.finish_into(&mut customer.ext, P);
            customer
        }
        None => Customer::default(),
    };
    if customer_id.is_some() {
        order.customer.ids.fluentcart = customer_id;
    }

    // Statuses.
    let t = &tables::get().fluentcart_statuses;
    let payment_native = o.string("payment_status")?;
    if let Some(p) = &payment_native {
        order.payment_status = t.payment.ingest(p).ok_or_else(|| {
            Problem::new(
                ProblemKind::InvalidStatus,
                o.pointer("payment_status"),
                format!("{p:?} is not a FluentCart payment status"),
            )
        })?;
    }
    if let Some(s) = o.string("status")? {
        order.status = match t.order.ingest(&s) {
            Some(OrderStatus::Placed) if order.payment_status == PaymentStatus::Paid => {
                OrderStatus::OnHold
            }
            Some(status) => status,
            // FluentCart statuses are extensible by WordPress filters: a custom one is held, its spelling echoed.
            None => OrderStatus::OnHold,
        };
        o.echo(
            "status",
            Value::String(s),
            Value::String(t.order.render(order.status).to_owned()),
        );
    }
    if let Some(s) = o.string("shipping_status")? {
        order.fulfillment_status = t.fulfillment.ingest(&s).ok_or_else(|| {
            Problem::new(
                ProblemKind::InvalidStatus,
                o.pointer("shipping_status"),
                format!("{s:?} is not a FluentCart shipping status"),
            )
        })?;
    }

    // Addresses (order envelope only; create requests reference customer address ids, kept verbatim).
    if let Some(a) = o.owned("billing_address")? {
        order.billing_address = Some(decode_address(a)?);
    }
    if let Some(a) = o.owned("shipping_address")? {
        order.shipping_destinations.push(decode_address(a)?);
    }

    // Lines.
    let items = o.array("order_items")?;
    match &items {
        None if form == Form::Create => return Err(o.missing("order_items")),
        Some(list) if list.is_empty() && form == Form::Create => {
            return Err(Problem::new(
                ProblemKind::MissingField,
                o.pointer("order_items"),
                "order_items must not be empty",
            ))
        }
        _ => {}
    }
    for (i, (v, ptr)) in items.into_iter().flatten().enumerate() {
        let line = decode_line(Obj::new(v, ptr)?, &mut cx, i, form)?;
        order.line_items.push(line);
    }

    // Shipping lines.
    if let Some(list) = o.array("shipping")? {
        for (i, (v, ptr)) in list.into_iter().enumerate() {
            let mut s = Obj::new(v, ptr)?;
            let amount = cx.non_negative_or_zero(
                &mut s,
                "custom_price",
                AmountPath::Element("shipping_lines", i, "amount"),
            )?;
            let mut line = ShippingLine {
                ids: PlatformIds::default(),
                method: s.string("rate_name")?,
                amount,
                tax: Money::zero(currency),
                destination: None,
                ext: Ext::default(),
            };
            s.finish_into(&mut line.ext, P);
            order.shipping_lines.push(line);
        }
    }

    // Discounts: applied coupons and the manual discount.
    let coupon_key = if form == Form::Order {
        "applied_coupons"
    } else {
        "applied_coupon"
    };
    if let Some(list) = o.array(coupon_key)? {
        for (i, (v, ptr)) in list.into_iter().enumerate() {
            let mut c = Obj::new(v, ptr)?;
            let path = AmountPath::Element("discounts", i, "amount");
            let amount = if form == Form::Order {
                cx.non_negative_or_zero(&mut c, "amount", path)?
            } else {
                cx.non_negative_or_zero(&mut c, "discounted_amount", path)?
            };
            let mut d = Discount {
                ids: PlatformIds {
                    fluentcart: c.unsigned("id")?,
                    ..Default::default()
                },
                kind: DiscountKind::Coupon,
                code: c.string("code")?,
                label: None,
                amount,
                ext: Ext::default(),
            };
            c.finish_into(&mut d.ext, P);
            order.discounts.push(d);
        }
    }
    let manual_total =
        cx.non_negative_or_zero(o, "manual_discount_total", "totals/manual_discount")?;
    let coupon_total =
        cx.non_negative_or_zero(o, "coupon_discount_total", "totals/coupon_discount")?;
    let manual_discount = o.owned("discount")?;
    if !manual_total.is_zero() || manual_discount.is_some() {
        let mut d = Discount {
            ids: PlatformIds::default(),
            kind: DiscountKind::Manual,
            code: None,
            label: None,
            amount: manual_total,
            ext: Ext::default(),
        };
        if let Some(mut m) = manual_discount {
            // `discount.value` is in major units and may be a percentage; the amount comes from the total.
            d.label = m.string("label")?;
            m.finish_into(&mut d.ext, P);
        }
        order.discounts.push(d);
    }
    let coupons_sum: i64 = order
        .discounts
        .iter()
        .filter(|d| d.kind == DiscountKind::Coupon)
        .map(|d| d.amount.minor)
        .fold(0, i64::saturating_add);
    if coupons_sum != coupon_total.minor {
        // Keep the stated coupon total even when the coupon rows do not add up to it (FluentCart create
        // examples send zeros in the rows).
        let rendered = super::encode::scaled(Money::new(coupons_sum, currency));
        o.echo(
            "coupon_discount_total",
            Value::from(super::encode::scaled(coupon_total)),
            Value::from(rendered),
        );
    }

    // Totals.
    let tax_behavior = o.integer("tax_behavior")?;
    order.tax_included = tax_behavior == Some(2);
    let lines_subtotal: i64 = sum_minor(order.line_items.iter().map(|l| &l.subtotal));
    order.totals = Totals {
        subtotal: cx
            .non_negative(o, "subtotal", "totals/subtotal")?
            .unwrap_or(Money::new(lines_subtotal, currency)),
        discount_total: Money::new(manual_total.minor + coupon_total.minor, currency),
        shipping_total: cx
            .non_negative(o, "shipping_total", "totals/shipping_total")?
            .unwrap_or(Money::new(
                sum_minor(order.shipping_lines.iter().map(|s| &s.amount)),
                currency,
            )),
        shipping_tax: cx.non_negative_or_zero(o, "shipping_tax", "totals/shipping_tax")?,
        fee_total: Money::zero(currency),
        tax_total: cx.non_negative_or_zero(o, "tax_total", "totals/tax_total")?,
        total: Money::zero(currency),
        paid_total: cx.non_negative(o, "total_paid", "totals/paid_total")?,
        refunded_total: cx.non_negative(o, "total_refund", "totals/refunded_total")?,
    };
    if let Some(fee) = cx.money(o, "fee_total", "totals/fee_total")? {
        if !fee.is_zero() {
            order.fees.push(Fee {
                ids: PlatformIds::default(),
                kind: FeeKind::Custom,
                name: None,
                amount: fee,
                tax: Money::zero(currency),
                ext: Ext::default(),
            });
        }
        order.totals.fee_total = fee;
    }
    let computed_total = order.totals.derived_total(order.tax_included);
    order.totals.total = cx
        .money(o, "total_amount", "totals/total")?
        .unwrap_or(Money::new(computed_total, currency));
    let rendered_behavior = super::encode::tax_behavior(&order);
    if let Some(b) = tax_behavior {
        o.echo(
            "tax_behavior",
            Value::from(b),
            Value::from(rendered_behavior),
        );
    }

    // Transactions.
    if let Some(list) = o.array("transactions")? {
        for (i, (v, ptr)) in list.into_iter().enumerate() {
            let mut t = Obj::new(v, ptr)?;
            let mut p = Payment {
                ids: PlatformIds {
                    fluentcart: t.unsigned("id")?,
                    ..Default::default()
                },
                method: t.string("payment_method")?,
                status: t.string("status")?,
                kind: t.string("transaction_type")?,
                amount: cx.money_or_zero(
                    &mut t,
                    "total",
                    AmountPath::Element("payments", i, "amount"),
                )?,
                reference: t.string_or_number("vendor_charge_id")?,
                ext: Ext::default(),
            };
            t.finish_into(&mut p.ext, P);
            order.payments.push(p);
        }
    }

    // Dates.
    order.timestamps.created_at = date(o, "created_at", false)?;
    order.timestamps.updated_at = date(o, "updated_at", false)?;
    order.timestamps.completed_at = date(o, "completed_at", true)?;
    order.timestamps.refunded_at = date(o, "refunded_at", true)?;
    order.sub_minor_amounts = cx.sub_minor.0;
    Ok(order)
}

fn decode_address(mut a: Obj) -> Result<Address, Problem> {
    let mut addr = Address {
        ids: PlatformIds {
            fluentcart: a.unsigned("id")?,
            ..Default::default()
        },
        ..Default::default()
    };
    let name = a.string("name")?;
    addr.first_name = a.string("first_name")?;
    addr.last_name = a.string("last_name")?;
    let full = a.string("full_name")?;
    if addr.first_name.is_none() && addr.last_name.is_none() {
        if let Some(n) = &name {
            let mut parts = n.splitn(2, ' ');
            addr.first_name = parts.next().filter(|s| !s.is_empty()).map(str::to_owned);
            addr.last_name = parts.next().map(str::to_owned);
        }
    }
    addr.full_name = name.or(full.clone());
    if let Some(f) = full {
        a.echo(
            "full_name",
            Value::String(f),
            addr.full_name
                .clone()
                .map(Value::String)
                .unwrap_or(Value::Null),
        );
    }
    addr.line1 = a.string("address_1")?.unwrap_or_default();
    addr.line2 = a.string("address_2")?;
    addr.city = a.string("city")?.unwrap_or_default();
    addr.region = a.string("state")?;
    addr.postal_code = a.string_or_number("postcode")?;
    addr.country_code = a.country_code("country")?.unwrap_or_default();
    addr.email = a.email("email")?;
    if let Some(mut meta) = a.child("meta")? {
        if let Some(mut other) = meta.child("other_data")? {
            addr.phone = other.string("phone")?;
            addr.company = other.string("company_name")?;
            meta.absorb("other_data", other);
        }
        a.absorb("meta", meta);
    }
    a.finish_into(&mut addr.ext, P);
    Ok(addr)
}

fn decode_line(
    mut l: Obj,
    cx: &mut AmountReader,
    i: usize,
    form: Form,
) -> Result<LineItem, Problem> {
    let currency = cx.currency;
    let path = |f| AmountPath::Element("line_items", i, f);
    let quantity = l.quantity("quantity")?;
    let unit_price = match cx.non_negative(&mut l, "unit_price", path("unit_price"))? {
        Some(price) => price,
        // A request may leave a catalog item unpriced: zero tells the shop to take the catalog price.
        None if form != Form::Order => Money::zero(currency),
        None => return Err(l.missing("unit_price")),
    };
    let subtotal_key = if form == Form::Order {
        "subtotal"
    } else {
        "item_total"
    };
    let subtotal = cx
        .non_negative(&mut l, subtotal_key, path("subtotal"))?
        .unwrap_or(Money::new(
            unit_price.minor.saturating_mul(quantity as i64),
            currency,
        ));
    let discount_total =
        cx.non_negative_or_zero(&mut l, "discount_total", path("discount_total"))?;
    let tax_total = cx.non_negative_or_zero(&mut l, "tax_amount", path("tax_total"))?;
    let total = cx
        .non_negative(&mut l, "line_total", path("total"))?
        .unwrap_or(Money::new(subtotal.minor - discount_total.minor, currency));
    let (mut sku, mut bundle_code) = (None, None);
    if let Some(mut other) = l.child("other_info")? {
        sku = other.string("sku")?;
        bundle_code = other.string("bundle_code")?;
        l.absorb("other_info", other);
    }
    let post_id = l.unsigned("post_id")?.filter(|id| *id != 0);
    let object_id = l.unsigned("object_id")?.filter(|id| *id != 0);
    let fulfillment_type = match l.string("fulfillment_type")?.as_deref() {
        Some("physical") => Some(FulfillmentType::Physical),
        Some("digital") => Some(FulfillmentType::Digital),
        Some("service") => Some(FulfillmentType::Service),
        Some(other) => {
            return Err(Problem::new(
                ProblemKind::InvalidField,
                l.pointer("fulfillment_type"),
                format!("{other:?} is not physical, digital or service"),
            ))
        }
        None => None,
    };
    let is_custom = l.peek("is_custom").is_some_and(|v| v == &Value::Bool(true));
    let mut line = LineItem {
        ids: PlatformIds {
            fluentcart: l.unsigned("id")?.filter(|id| *id != 0),
            ..Default::default()
        },
        kind: if bundle_code.is_some() {
            LineKind::Bundle
        } else if is_custom || (post_id.is_none() && object_id.is_none()) {
            LineKind::Custom
        } else {
            LineKind::Catalog
        },
        product: ProductRef {
            sku,
            bundle_code,
            fluentcart_post_id: post_id,
            fluentcart_object_id: object_id,
            ..Default::default()
        },
        name: match l.string("title")? {
            Some(t) => t,
            None => l.string("post_title")?.unwrap_or_default(),
        },
        quantity,
        unit_price,
        subtotal,
        discount_total,
        tax_total,
        total,
        tax_rate: None,
        fulfillment_type,
        quantity_shipped: l
            .integer("fulfilled_quantity")?
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(0),
        refunded_total: cx.non_negative_or_zero(&mut l, "refund_total", path("refunded_total"))?,
        destination: None,
        image_url: None,
        metadata: JsonMap::new(),
        ext: Ext::default(),
    };
    l.finish_into(&mut line.ext, P);
    Ok(line)
}
