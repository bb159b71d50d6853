//! BigCommerce v2 wire → canonical.

use serde_json::Value;

use super::status::{ingest_status, Shipment};
use crate::canonical::money::saturating_sum;
use crate::canonical::money::sum_minor;
use crate::canonical::*;
use crate::dialects::dates::{parse_rfc2822, render_rfc2822};
use crate::dialects::json::Obj;
use crate::dialects::tables;
use crate::dialects::wire_money::{decimal_4, AmountPath, AmountReader, WireAmounts};
use crate::dialects::{DecodeOptions, DocumentKind};

const P: Platform = Platform::BigCommerce;

pub fn detect_kind(doc: &Value) -> Result<DocumentKind, Problem> {
    match doc {
        // Only order objects carry an id or the read-only status name and payment status.
        Value::Object(m)
            if m.get("id").is_some_and(|v| !v.is_null())
                || m.get("status").is_some_and(Value::is_string)
                || m.contains_key("payment_status") =>
        {
            Ok(DocumentKind::Order)
        }
        Value::Object(_) => Ok(DocumentKind::Request),
        _ => Err(Problem::new(
            ProblemKind::UnknownDocument,
            "",
            "a BigCommerce order document must be a JSON object",
        )),
    }
}

pub fn decode_create_request(doc: Value, options: &DecodeOptions) -> Result<Order, Problem> {
    decode(doc, options, DocumentKind::Request)
}

pub fn decode_order(doc: Value, options: &DecodeOptions) -> Result<Order, Problem> {
    decode(doc, options, DocumentKind::Order)
}

fn date(o: &mut Obj, key: &str) -> Result<Option<Timestamp>, Problem> {
    let Some(text) = o.string(key)? else {
        return Ok(None);
    };
    if text.is_empty() {
        // BigCommerce sends "" for dates that have not happened (date_shipped).
        o.keep(key, Value::String(text));
        return Ok(None);
    }
    let dt = parse_rfc2822(&text).ok_or_else(|| {
        Problem::new(
            ProblemKind::InvalidDate,
            o.pointer(key),
            format!("{text:?} is not an RFC 2822 date"),
        )
    })?;
    o.echo(key, Value::String(text), Value::String(render_rfc2822(&dt)));
    Ok(Some(dt))
}

/// An amount including tax below the same amount excluding it: the tax they differ by would be negative.
fn negative_tax(obj: &Obj, (inc_key, inc): (&str, Money), (ex_key, ex): (&str, Money)) -> Problem {
    Problem::new(
        ProblemKind::InvalidMoney,
        obj.pointer(inc_key),
        format!(
            "{inc_key} {} is below {ex_key} {}; a tax cannot be negative",
            decimal_4(inc),
            decimal_4(ex)
        ),
    )
}

/// The code of the country BigCommerce calls `name`, if it calls one so.
fn country_of_name(name: &str) -> Option<String> {
    tables::get()
        .bigcommerce_countries
        .iter()
        .find(|(_, n)| n.as_str() == name)
        .map(|(code, _)| code.clone())
}

pub(super) fn decode_address(mut a: Obj) -> Result<Address, Problem> {
    let mut addr = Address {
        ids: PlatformIds {
            bigcommerce: a.unsigned("id")?,
            ..Default::default()
        },
        first_name: a.string("first_name")?,
        last_name: a.string("last_name")?,
        company: a.string("company")?,
        line1: a.string("street_1")?.unwrap_or_default(),
        line2: a.string("street_2")?,
        city: a.string("city")?.unwrap_or_default(),
        region: a.string("state")?,
        postal_code: a.string_or_number("zip")?,
        country_name: a.string("country")?,
        phone: a.string_or_number("phone")?,
        email: a.email("email")?,
        ..Default::default()
    };
    addr.country_code = match a.country_code("country_iso2")? {
        Some(code) => {
            // Both spelled: a name BigCommerce gives another country contradicts the code, and which of the two
            // the caller meant cannot be told; a name outside the table (another language's) is kept as sent.
            if let Some(name) = &addr.country_name {
                if tables::get().bigcommerce_countries.get(&code) != Some(name) {
                    if let Some(named) = country_of_name(name) {
                        return Err(Problem::new(
                            ProblemKind::InvalidField,
                            a.pointer("country"),
                            format!(
                                "{name:?} is the country {named}, but country_iso2 is {code:?}"
                            ),
                        ));
                    }
                }
            }
            code
        }
        None => {
            // Derive the code from the name when only the name is given; the name stays as sent.
            let by_name = addr.country_name.as_deref().and_then(country_of_name);
            if let Some(code) = &by_name {
                a.echo_absent("country_iso2", Value::String(code.clone()));
            }
            by_name.unwrap_or_default()
        }
    };
    if addr.country_name.is_none() {
        if let Some(name) = tables::get().bigcommerce_countries.get(&addr.country_code) {
            a.echo_absent("country", Value::String(name.clone()));
        }
    }
    a.finish_into(&mut addr.ext, P);
    Ok(addr)
}

fn decode(doc: Value, options: &DecodeOptions, kind: DocumentKind) -> Result<Order, Problem> {
    let mut o = Obj::new(doc, "")?;
    let as_order = kind == DocumentKind::Order;
    let currency_key = if as_order && o.has("currency_code") {
        "currency_code"
    } else {
        "default_currency_code"
    };
    let currency = match o.peek(currency_key).and_then(Value::as_str) {
        Some(code) => Currency::parse(code).map_err(|e| Problem::new(ProblemKind::InvalidCurrency, o.pointer(currency_key), e.to_string()))?,
        None => options.default_currency.ok_or_else(|| {
            Problem::new(ProblemKind::MissingField, o.pointer("default_currency_code"), "BigCommerce v2 create requests carry no currency; pass --currency or set [defaults] currency")
        })?,
    };
    // Amounts are rendered back at four decimals, as BigCommerce writes them (a source spelled otherwise is echoed).
    let mut cx = AmountReader::new(
        currency,
        WireAmounts::Decimal(|m| Value::String(decimal_4(m))),
    );
    let zero = Money::zero(currency);
    let mut order = Order::empty(currency);
    order.ids.platform.bigcommerce = o.unsigned("id")?;
    order.ids.cart_token = o.string("cart_id")?;
    order.external_ref.reference = o.string_or_number("external_order_id")?;
    order.external_ref.origin = o.string("external_source")?;
    order.payment_method = o.string("payment_method")?;
    order.customer_note = o.string("customer_message")?;
    order.staff_note = o.string("staff_notes")?;
    order.ip_address = o.string("ip_address")?;
    order.language = o.string("customer_locale")?;
    if let Some(b) = o.boolean("is_tax_inclusive_pricing")? {
        order.tax_included = b;
    }

    // Customer and billing address.
    let customer_id = o.unsigned("customer_id")?;
    order.customer.ids.bigcommerce = customer_id.filter(|id| *id != 0);
    order.customer.is_guest = customer_id.unwrap_or(0) == 0;
    let billing = o.owned("billing_address")?;
    if billing.is_none() && !as_order {
        return Err(o.missing("billing_address"));
    }
    if let Some(b) = billing {
        let addr = decode_address(b)?;
        order.customer.email = addr.email.clone();
        order.customer.first_name = addr.first_name.clone();
        order.customer.last_name = addr.last_name.clone();
        order.customer.phone = addr.phone.clone();
        order.billing_address = Some(addr);
    }

    // Shipping destinations: an array (request, expanded order) or a link (unexpanded order).
    let mut shipping_method = None;
    if let Some(Value::Array(_)) = o.peek("shipping_addresses") {
        for (v, ptr) in o.array("shipping_addresses")?.unwrap_or_default() {
            let a = Obj::new(v, ptr)?;
            if shipping_method.is_none() {
                shipping_method = a
                    .peek("shipping_method")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
            }
            order.shipping_destinations.push(decode_address(a)?);
        }
    } else if let Some(link) = o.take("shipping_addresses") {
        o.echo("shipping_addresses", link, Value::Array(Vec::new()));
    }

    // Products.
    let products_linked = o.peek("products").is_some_and(Value::is_object);
    if products_linked {
        let link = o.take("products").unwrap_or_default();
        o.echo("products", link, Value::Array(Vec::new()));
    } else {
        let list = o.array("products")?;
        match &list {
            None => return Err(o.missing("products")),
            Some(l) if l.is_empty() && !as_order => {
                return Err(Problem::new(
                    ProblemKind::MissingField,
                    o.pointer("products"),
                    "products must not be empty",
                ))
            }
            _ => {}
        }
        for (i, (v, ptr)) in list.into_iter().flatten().enumerate() {
            let line = decode_product(Obj::new(v, ptr)?, &mut cx, i, &order, as_order)?;
            order.line_items.push(line);
        }
    }

    // Coupons.
    let coupons_linked = o.peek("coupons").is_some_and(Value::is_object);
    if coupons_linked {
        let link = o.take("coupons").unwrap_or_default();
        o.echo("coupons", link, Value::Array(Vec::new()));
    } else if let Some(list) = o.array("coupons")? {
        for (i, (v, ptr)) in list.into_iter().enumerate() {
            let mut c = Obj::new(v, ptr)?;
            let mut d = Discount {
                ids: PlatformIds {
                    bigcommerce: c.unsigned("id")?,
                    ..Default::default()
                },
                kind: DiscountKind::Coupon,
                code: c.string("code")?,
                label: None,
                amount: cx.non_negative_or_zero(
                    &mut c,
                    "discount",
                    AmountPath::Element("discounts", i, "amount"),
                )?,
                ext: Ext::default(),
            };
            c.finish_into(&mut d.ext, P);
            order.discounts.push(d);
        }
    }

    // Money.
    let tax_mode = |ex: Money, inc: Money, tax_included: bool| if tax_included { inc } else { ex };
    let ti = order.tax_included;
    let subtotal_ex = cx.non_negative(&mut o, "subtotal_ex_tax", "totals/subtotal")?;
    let subtotal_inc = cx.non_negative(&mut o, "subtotal_inc_tax", "totals/subtotal")?;
    let ship_ex = cx.non_negative(&mut o, "shipping_cost_ex_tax", "totals/shipping_total")?;
    let ship_inc = cx.non_negative(&mut o, "shipping_cost_inc_tax", "totals/shipping_total")?;
    let base_ship = cx.non_negative(&mut o, "base_shipping_cost", "totals/shipping_total")?;
    let handling_ex = cx.non_negative_or_zero(&mut o, "handling_cost_ex_tax", "fees/handling")?;
    let handling_inc = cx
        .non_negative(&mut o, "handling_cost_inc_tax", "fees/handling")?
        .unwrap_or(handling_ex);
    let wrapping_ex = cx.non_negative_or_zero(&mut o, "wrapping_cost_ex_tax", "fees/wrapping")?;
    let wrapping_inc = cx
        .non_negative(&mut o, "wrapping_cost_inc_tax", "fees/wrapping")?
        .unwrap_or(wrapping_ex);
    // Derived by BigCommerce (total_inc_tax − total_tax): validated here, re-derived by the encoder.
    let total_ex = cx.non_negative(&mut o, "total_ex_tax", "totals/total_ex_tax")?;
    let total_inc = cx.non_negative(&mut o, "total_inc_tax", "totals/total")?;
    // The two totals differ by the order's tax, which cannot be negative.
    let totals_tax = match (total_ex, total_inc) {
        (Some(ex), Some(inc)) if inc.minor < ex.minor => {
            return Err(negative_tax(
                &o,
                ("total_inc_tax", inc),
                ("total_ex_tax", ex),
            ))
        }
        (Some(ex), Some(inc)) => Some(Money::new(inc.minor - ex.minor, currency)),
        _ => None,
    };
    let manual_discount = cx.non_negative_or_zero(&mut o, "discount_amount", "discounts/manual")?;
    let coupon_discount = cx.non_negative(&mut o, "coupon_discount", "totals/coupon_discount")?;
    let refunded = cx.non_negative(&mut o, "refunded_amount", "totals/refunded_total")?;
    let stated_total_tax = cx.non_negative(&mut o, "total_tax", "totals/tax_total")?;
    let stated_ship_tax = cx.non_negative(&mut o, "shipping_cost_tax", "totals/shipping_tax")?;
    let shipping_ex = ship_ex.or(base_ship).unwrap_or(zero);
    let shipping_inc = ship_inc.unwrap_or(shipping_ex);
    {
        // As for a line: each cost's tax is what its two prices differ by, which cannot be negative.
        for (inc_key, inc, ex_key, ex) in [
            (
                "shipping_cost_inc_tax",
                shipping_inc,
                "shipping_cost_ex_tax",
                shipping_ex,
            ),
            (
                "handling_cost_inc_tax",
                handling_inc,
                "handling_cost_ex_tax",
                handling_ex,
            ),
            (
                "wrapping_cost_inc_tax",
                wrapping_inc,
                "wrapping_cost_ex_tax",
                wrapping_ex,
            ),
        ] {
            if inc.minor < ex.minor {
                return Err(negative_tax(&o, (inc_key, inc), (ex_key, ex)));
            }
        }
    }
    let lines_sub = Money::new(
        sum_minor(order.line_items.iter().map(|l| &l.subtotal)),
        currency,
    );
    let lines_tax: i64 = sum_minor(order.line_items.iter().map(|l| &l.tax_total));
    let shipping_tax =
        stated_ship_tax.unwrap_or(Money::new(shipping_inc.minor - shipping_ex.minor, currency));
    let handling_tax = cx
        .non_negative(&mut o, "handling_cost_tax", "fees/handling_tax")?
        .unwrap_or(Money::new(handling_inc.minor - handling_ex.minor, currency));
    let wrapping_tax = cx
        .non_negative(&mut o, "wrapping_cost_tax", "fees/wrapping_tax")?
        .unwrap_or(Money::new(wrapping_inc.minor - wrapping_ex.minor, currency));
    for (kind, ex, inc, tax, name) in [
        (
            FeeKind::Handling,
            handling_ex,
            handling_inc,
            handling_tax,
            "handling",
        ),
        (
            FeeKind::Wrapping,
            wrapping_ex,
            wrapping_inc,
            wrapping_tax,
            "wrapping",
        ),
    ] {
        if !ex.is_zero() || !inc.is_zero() {
            order.fees.push(Fee {
                ids: PlatformIds::default(),
                kind,
                name: Some(name.into()),
                amount: tax_mode(ex, inc, ti),
                tax,
                ext: Ext::default(),
            });
        }
    }
    if let Some(list) = o.array("fees")? {
        for (i, (v, ptr)) in list.into_iter().enumerate() {
            let mut f = Obj::new(v, ptr)?;
            let ex = cx.money_or_zero(
                &mut f,
                "cost_ex_tax",
                AmountPath::Element("fees", i, "amount"),
            )?;
            let inc = cx
                .money(
                    &mut f,
                    "cost_inc_tax",
                    AmountPath::Element("fees", i, "amount"),
                )?
                .unwrap_or(ex);
            let tax = cx
                .money(&mut f, "cost_tax", AmountPath::Element("fees", i, "tax"))?
                .unwrap_or(Money::new(inc.minor - ex.minor, currency));
            let mut fee = Fee {
                ids: PlatformIds {
                    bigcommerce: f.unsigned("id")?,
                    ..Default::default()
                },
                kind: FeeKind::Custom,
                name: f.string("display_name_customer")?,
                amount: tax_mode(ex, inc, ti),
                tax,
                ext: Ext::default(),
            };
            f.finish_into(&mut fee.ext, P);
            order.fees.push(fee);
        }
    }
    if !manual_discount.is_zero() {
        order.discounts.push(Discount {
            ids: PlatformIds::default(),
            kind: DiscountKind::Manual,
            code: None,
            label: None,
            amount: manual_discount,
            ext: Ext::default(),
        });
    }
    let coupons_sum: i64 = order
        .discounts
        .iter()
        .filter(|d| d.kind != DiscountKind::Manual)
        .map(|d| d.amount.minor)
        .fold(0, i64::saturating_add);
    let coupon_total = coupon_discount.unwrap_or(Money::new(coupons_sum, currency));
    if coupons_sum != coupon_total.minor {
        o.echo(
            "coupon_discount",
            Value::String(decimal_4(coupon_total)),
            Value::String(decimal_4(Money::new(coupons_sum, currency))),
        );
    }
    if shipping_method.is_some() || !shipping_ex.is_zero() || !shipping_inc.is_zero() {
        order.shipping_lines.push(ShippingLine {
            ids: PlatformIds::default(),
            method: shipping_method,
            amount: tax_mode(shipping_ex, shipping_inc, ti),
            tax: shipping_tax,
            destination: (!order.shipping_destinations.is_empty()).then_some(0),
            ext: Ext::default(),
        });
    }
    let fee_total = Money::new(sum_minor(order.fees.iter().map(|f| &f.amount)), currency);
    let fee_tax: i64 = sum_minor(order.fees.iter().map(|f| &f.tax));
    let subtotal = if ti {
        subtotal_inc.or(subtotal_ex)
    } else {
        subtotal_ex.or(subtotal_inc)
    }
    .unwrap_or(lines_sub);
    // Without total_tax, the tax is what the order's two totals differ by (BigCommerce's own definition), or,
    // without them, what its parts add up to.
    let tax_total = stated_total_tax.or(totals_tax).unwrap_or(Money::new(
        saturating_sum(&[lines_tax, shipping_tax.minor, fee_tax]),
        currency,
    ));
    let discount_total = Money::new(
        manual_discount.minor.saturating_add(coupon_total.minor),
        currency,
    );
    order.totals = Totals {
        subtotal,
        discount_total,
        shipping_total: Money::new(
            sum_minor(order.shipping_lines.iter().map(|s| &s.amount)),
            currency,
        ),
        shipping_tax,
        fee_total,
        tax_total,
        total: zero,
        paid_total: None,
        refunded_total: refunded,
    };
    order.totals.total = total_inc.unwrap_or(Money::new(order.totals.derived_total(ti), currency));

    // Statuses.
    let digital = o.boolean("order_is_digital")?.unwrap_or(false);
    let items_total = o
        .unsigned("items_total")?
        .unwrap_or_else(|| order.line_items.iter().map(|l| l.quantity as u64).sum());
    let items_shipped = o.unsigned("items_shipped")?.unwrap_or_else(|| {
        order
            .line_items
            .iter()
            .map(|l| l.quantity_shipped as u64)
            .sum()
    });
    let payment = match o.string("payment_status")? {
        Some(p) => Some(
            tables::get()
                .bigcommerce_statuses
                .payment
                .ingest(&p)
                .ok_or_else(|| {
                    Problem::new(
                        ProblemKind::InvalidStatus,
                        o.pointer("payment_status"),
                        format!("{p:?} is not a BigCommerce payment status"),
                    )
                })?,
        ),
        None => None,
    };
    let status_id = match o.integer("status_id")? {
        Some(n) => u8::try_from(n).ok().filter(|id| *id <= 14).ok_or_else(|| {
            Problem::new(
                ProblemKind::InvalidStatus,
                o.pointer("status_id"),
                format!("{n} is not a BigCommerce status id (0 to 14)"),
            )
        })?,
        None => 1,
    };
    let triple = ingest_status(
        status_id,
        payment,
        Shipment {
            digital,
            items_total,
            items_shipped,
        },
    )
    .ok_or_else(|| {
        Problem::new(
            ProblemKind::InvalidStatus,
            o.pointer("status_id"),
            format!("status id {status_id} is not in the status table"),
        )
    })?;
    order.status = triple.order;
    order.payment_status = triple.payment;
    order.fulfillment_status = triple.fulfillment;
    if let Some(name) = o.string("status")? {
        let table_name = tables::get()
            .bigcommerce_statuses
            .status_ids
            .get(&status_id)
            .map(|e| e.name.clone())
            .unwrap_or_default();
        o.echo("status", Value::String(name), Value::String(table_name));
    }

    // Dates.
    order.timestamps.created_at = date(&mut o, "date_created")?;
    order.timestamps.updated_at = date(&mut o, "date_modified")?;
    order.timestamps.shipped_at = date(&mut o, "date_shipped")?;
    order.sub_minor_amounts = cx.sub_minor.0;
    o.finish_into(&mut order.ext, P);
    Ok(order)
}

fn decode_product(
    mut p: Obj,
    cx: &mut AmountReader,
    i: usize,
    order: &Order,
    as_order: bool,
) -> Result<LineItem, Problem> {
    let currency = cx.currency;
    let path = |f| AmountPath::Element("line_items", i, f);
    let quantity = p.quantity("quantity")?;
    let ex = cx.non_negative(&mut p, "price_ex_tax", path("unit_price"))?;
    let inc = cx.non_negative(&mut p, "price_inc_tax", path("unit_price"))?;
    let base = p.peek("base_price").cloned();
    if ex.is_none() && inc.is_none() && base.is_none() && !p.has("product_id") {
        return Err(Problem::new(
            ProblemKind::MissingField,
            p.pointer("price_ex_tax"),
            "a custom product needs price_ex_tax and price_inc_tax",
        ));
    }
    let base_price = cx.non_negative(&mut p, "base_price", path("unit_price"))?;
    let ex = ex.or(base_price).unwrap_or(Money::zero(currency));
    let inc = inc.unwrap_or(ex);
    if !p.has("price_ex_tax") && !as_order {
        // A catalog product without price overrides takes the catalog price; keep the overrides absent.
        p.echo_absent("price_ex_tax", Value::String(decimal_4(ex)));
        p.echo_absent("price_inc_tax", Value::String(decimal_4(inc)));
    }
    if inc.minor < ex.minor {
        // The line's tax is what the two prices differ by, which cannot be negative.
        return Err(negative_tax(
            &p,
            ("price_inc_tax", inc),
            ("price_ex_tax", ex),
        ));
    }
    let unit_tax = Money::new(inc.minor - ex.minor, currency);
    let unit_price = if order.tax_included { inc } else { ex };
    let stated_tax = cx.non_negative(&mut p, "total_tax", path("tax_total"))?;
    let tax_total = stated_tax.unwrap_or(Money::new(
        unit_tax.minor.saturating_mul(quantity as i64),
        currency,
    ));
    let subtotal = Money::new(unit_price.minor.saturating_mul(quantity as i64), currency);
    // Line totals are price × quantity: validated here, re-derived by the encoder.
    cx.non_negative(&mut p, "total_ex_tax", path("total"))?;
    cx.non_negative(&mut p, "total_inc_tax", path("total"))?;
    let mut discount_total = Money::zero(currency);
    if let Some(Value::Array(applied)) = p.peek("applied_discounts") {
        for d in applied {
            if let Some(amount) = d.get("amount").and_then(|a| match a {
                Value::String(s) => Money::parse_major(s, currency).ok(),
                Value::Number(n) => Money::parse_major(&n.to_string(), currency).ok(),
                _ => None,
            }) {
                discount_total.minor += amount.minor;
            }
        }
    }
    let product_id = p.unsigned("product_id")?.filter(|id| *id != 0);
    let variant_id = p.unsigned("variant_id")?.filter(|id| *id != 0);
    let destination = match p.unsigned("order_address_id")? {
        Some(aid) => order
            .shipping_destinations
            .iter()
            .position(|a| a.ids.bigcommerce == Some(aid))
            .or_else(|| {
                // Not resolvable against the destinations: keep the raw id.
                p.keep("order_address_id", Value::from(aid));
                None
            }),
        None => None,
    };
    let sku = p.string("sku")?;
    let fulfillment_type = match p.peek("type").and_then(Value::as_str) {
        Some("physical") => Some(FulfillmentType::Physical),
        Some("digital") => Some(FulfillmentType::Digital),
        _ => None,
    };
    if fulfillment_type.is_some() {
        p.take("type");
    }
    let mut line = LineItem {
        ids: PlatformIds {
            bigcommerce: p.unsigned("id")?,
            ..Default::default()
        },
        kind: if product_id.is_some() {
            LineKind::Catalog
        } else {
            LineKind::Custom
        },
        product: ProductRef {
            sku: sku.filter(|s| !s.is_empty()),
            bigcommerce_product_id: product_id,
            bigcommerce_variant_id: variant_id,
            ..Default::default()
        },
        name: p.string("name")?.unwrap_or_default(),
        quantity,
        unit_price,
        subtotal,
        discount_total,
        tax_total,
        total: Money::new(
            subtotal.minor - discount_total.minor
                + if order.tax_included {
                    0
                } else {
                    tax_total.minor
                },
            currency,
        ),
        tax_rate: None,
        fulfillment_type,
        quantity_shipped: p
            .integer("quantity_shipped")?
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(0),
        refunded_total: cx.non_negative_or_zero(&mut p, "refund_amount", path("refunded_total"))?,
        destination,
        image_url: None,
        metadata: JsonMap::new(),
        ext: Ext::default(),
    };
    p.finish_into(&mut line.ext, P);
    Ok(line)
}
