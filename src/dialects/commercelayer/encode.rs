//! Canonical → Commerce Layer JSON:API. Relationships use the `jsonapi` crate's identifier types; resources are
//! written directly (`jsonapi::api::Resource` requires an `id`, which create documents lack, and keeps attributes
//! in a HashMap that costs a full copy of the document to render).

use std::collections::HashMap;

use jsonapi::api::{IdentifierData, Relationship, ResourceIdentifier};
use serde_json::{json, Value};

use super::money::{cents_exponent, write_triple};
use super::{KEPT_DOCUMENT, KEPT_INCLUDED};
use crate::canonical::money::rescale;
use crate::canonical::*;
use crate::dialects::dates::render_iso_millis;
use crate::dialects::json::{apply_ext, ObjWriter};
use crate::dialects::tables::{self, error_render};
use crate::dialects::{sub_minor_losses, ErrorDocument, Loss, LossKind, Translated};

const P: Platform = Platform::CommerceLayer;

/// An amount as Commerce Layer `*_cents` (rounded half-even when HUF fillér cannot be stated).
pub(crate) fn wire(m: Money) -> i64 {
    rescale(m.minor, m.currency.exponent(), cents_exponent(m.currency)).unwrap_or_else(|r| r)
}

/// `total_amount`: the total without tax when prices exclude it.
pub(crate) fn total_amount(order: &Order) -> Money {
    if order.tax_included {
        order.totals.total
    } else {
        Money::new(
            order.totals.total.minor - order.totals.tax_total.minor,
            order.currency,
        )
    }
}

struct Enc<'a> {
    order: &'a Order,
    losses: Vec<Loss>,
}

impl Enc<'_> {
    fn exact(&mut self, m: Money, pointer: impl FnOnce() -> String) {
        if rescale(m.minor, m.currency.exponent(), cents_exponent(m.currency)).is_err() {
            self.losses.push(Loss {
                pointer: pointer(),
                kind: LossKind::Precision,
                reason: format!(
                    "Commerce Layer states {} without decimals; {} sent rounded",
                    m.currency,
                    m.to_decimal()
                ),
            });
        }
    }
    fn triple(&mut self, attrs: &mut JsonMap, stem: &str, m: Money, base: &str) {
        self.exact(m, || format!("{base}/{stem}_cents"));
        write_triple(attrs, stem, m);
    }
    fn loss(&mut self, pointer: String, kind: LossKind, reason: impl Into<String>) {
        self.losses.push(Loss {
            pointer,
            kind,
            reason: reason.into(),
        });
    }
}

fn status_attrs(enc: &mut Enc<'_>, attrs: &mut JsonMap, base: &str) {
    let order = enc.order;
    let t = &tables::get().commercelayer_statuses;
    let payment = t.payment.render(order.payment_status);
    if t.payment.ingest(payment) != Some(order.payment_status) {
        enc.loss(
            format!("{base}/payment_status"),
            LossKind::StatusCollapsed,
            format!(
                "canonical payment {} has no Commerce Layer equivalent; sent {payment:?}",
                order.payment_status
            ),
        );
    }
    let fulfillment = t.fulfillment.render(order.fulfillment_status);
    let fulfillment_back = t.fulfillment.ingest(fulfillment);
    if fulfillment_back != Some(order.fulfillment_status) {
        enc.loss(
            format!("{base}/fulfillment_status"),
            LossKind::StatusCollapsed,
            format!(
                "canonical fulfillment {} has no Commerce Layer equivalent; sent {fulfillment:?}",
                order.fulfillment_status
            ),
        );
    }
    let status = t.order.render(order.status);
    let back = match t.order.ingest(status) {
        Some(OrderStatus::Processing)
            if matches!(
                fulfillment_back,
                Some(FulfillmentStatus::Fulfilled | FulfillmentStatus::NotRequired)
            ) =>
        {
            Some(OrderStatus::Completed)
        }
        other => other,
    };
    if back != Some(order.status) {
        enc.loss(
            format!("{base}/status"),
            LossKind::StatusCollapsed,
            format!(
                "canonical {} has no Commerce Layer status; sent {status:?}",
                order.status
            ),
        );
    }
    attrs.insert("status".into(), status.into());
    attrs.insert("payment_status".into(), payment.into());
    attrs.insert("fulfillment_status".into(), fulfillment.into());
}

pub(super) fn address_attrs(a: &Address) -> JsonMap {
    let mut w = ObjWriter::new();
    let (first, last) = a.name_parts();
    w.opt("first_name", first);
    w.opt("last_name", last);
    w.opt_str("company", &a.company);
    w.put("line_1", a.line1.as_str());
    w.opt_str("line_2", &a.line2);
    w.put("city", a.city.as_str());
    w.opt_str("zip_code", &a.postal_code);
    w.opt_str("state_code", &a.region);
    w.put("country_code", a.country_code.as_str());
    w.opt_str("phone", &a.phone);
    w.opt_str("email", &a.email);
    w.finish()
}

/// One included resource as plain JSON (type, id, attributes, relationships), before kept members are replayed.
struct Res {
    ty: &'static str,
    id: String,
    attrs: JsonMap,
    rels: JsonMap,
}

impl Res {
    fn into_value(self, ext: &Ext) -> Value {
        let mut map = JsonMap::new();
        map.insert("type".into(), self.ty.into());
        map.insert("id".into(), self.id.into());
        map.insert("attributes".into(), Value::Object(self.attrs));
        if !self.rels.is_empty() {
            map.insert("relationships".into(), Value::Object(self.rels));
        }
        apply_ext(&mut map, ext, P);
        Value::Object(map)
    }
}

/// Builds every included resource of an order and the order's linkage to them.
struct Graph {
    included: Vec<Value>,
    line_ids: Vec<(String, String)>,
    billing: Option<(String, String)>,
    shipping: Option<(String, String)>,
    customer: Option<(String, String)>,
}

/// The name an order's billing address goes by when it has no Commerce Layer id of its own (see `build_graph`).
const LOCAL_BILLING: &str = "billing_address";
/// The same for its shipping address.
const LOCAL_SHIPPING: &str = "shipping_address";

/// An order's address named as `build_graph` names one without an id of its own: `{order}-billing_address` or
/// `{order}-shipping_address`, as the order id and whether it is the billing address.
pub fn local_address(id: &str) -> Option<(&str, bool)> {
    let (order, role) = id.rsplit_once('-')?;
    match role {
        LOCAL_BILLING if !order.is_empty() => Some((order, true)),
        LOCAL_SHIPPING if !order.is_empty() => Some((order, false)),
        _ => None,
    }
}

/// Whether resource `fuller` holds everything `other` does: the same members, but attributes `other` leaves
/// empty (`""` or `null`) may have a value in `fuller`.
fn covers(fuller: &Value, other: &Value) -> bool {
    let (Some(fuller), Some(other)) = (fuller.as_object(), other.as_object()) else {
        return fuller == other;
    };
    let empty = |v: &Value| v.is_null() || v.as_str() == Some("");
    other
        .iter()
        .all(|(k, v)| match (k.as_str(), fuller.get(k)) {
            ("attributes", Some(Value::Object(f))) => v.as_object().is_some_and(|attrs| {
                attrs
                    .iter()
                    .all(|(a, value)| empty(value) || f.get(a) == Some(value))
            }),
            (_, held) => held == Some(v),
        })
}

fn build_graph(enc: &mut Enc<'_>, order_id: Option<&str>, as_order: bool) -> Graph {
    let order = enc.order;
    let currency_code = order.currency.as_str();
    let mut g = Graph {
        included: Vec::new(),
        line_ids: Vec::new(),
        billing: None,
        shipping: None,
        customer: None,
    };
    // An object held without a Commerce Layer id of its own (an upstream's billing address, a platform's shipping
    // charge) is named after the order and its place there: unique across orders, since JSON:API clients keep
    // resources by type and id, and the same on every read of the order.
    let local_id = |id: &Option<String>, what: &str, n: Option<usize>| {
        id.clone().unwrap_or_else(|| {
            let mut local = order_id.map_or_else(String::new, |order| format!("{order}-"));
            local.push_str(what);
            if let Some(n) = n {
                local.push_str(&n.to_string());
            }
            local
        })
    };
    let order_rel = |rels: &mut JsonMap| {
        if let Some(id) = order_id {
            rels.insert(
                "order".into(),
                json!({"data": {"type": "orders", "id": id}}),
            );
        }
    };
    let base = |i: usize| format!("/included/{i}/attributes");
    for (i, line) in order.line_items.iter().enumerate() {
        let id = local_id(&line.ids.commercelayer, "li_", Some(i + 1));
        let mut attrs = ObjWriter::new();
        attrs.put(
            "item_type",
            if line.kind == LineKind::Bundle {
                "bundles"
            } else {
                "skus"
            },
        );
        attrs.opt_str("sku_code", &line.product.sku);
        attrs.opt_str("bundle_code", &line.product.bundle_code);
        attrs.put("quantity", line.quantity);
        attrs.put("name", line.name.as_str());
        attrs.opt_str("image_url", &line.image_url);
        if !line.metadata.is_empty() {
            attrs.put("metadata", Value::Object(line.metadata.clone()));
        }
        let mut attrs = attrs.finish();
        let b = base(g.included.len());
        if as_order {
            attrs.insert("currency_code".into(), currency_code.into());
            enc.triple(&mut attrs, "unit_amount", line.unit_price, &b);
            enc.triple(&mut attrs, "total_amount", line.subtotal, &b);
            enc.triple(&mut attrs, "tax_amount", line.tax_total, &b);
            enc.triple(
                &mut attrs,
                "discount",
                Money::new(-line.discount_total.minor, order.currency),
                &b,
            );
            if let Some(rate) = line.tax_rate {
                attrs.insert(
                    "tax_rate".into(),
                    rate.to_string()
                        .parse::<serde_json::Number>()
                        .map(Value::Number)
                        .unwrap_or(Value::Null),
                );
            }
        } else {
            // The source price must win over the market's price list: an integration-token create.
            enc.exact(line.unit_price, || format!("{b}/unit_amount_cents"));
            attrs.insert("unit_amount_cents".into(), wire(line.unit_price).into());
            attrs.insert("_external_price".into(), true.into());
        }
        if line.kind == LineKind::Catalog && line.product.sku.is_none() {
            enc.loss(
                format!("{b}/sku_code"),
                LossKind::Unrepresentable,
                "the line has no SKU; Commerce Layer needs a sku_code (map it through the catalog)",
            );
        }
        let mut rels = JsonMap::new();
        order_rel(&mut rels);
        g.line_ids.push(("line_items".into(), id.clone()));
        g.included.push(
            Res {
                ty: "line_items",
                id,
                attrs,
                rels,
            }
            .into_value(&line.ext),
        );
    }
    let extra_line = |g: &mut Graph,
                      enc: &mut Enc<'_>,
                      (prefix, n): (&str, usize),
                      item_type: &str,
                      ids: &PlatformIds,
                      name: &Option<String>,
                      amount: Money,
                      tax: Money,
                      ext: &Ext| {
        if !as_order {
            enc.loss(
                "/data/relationships/line_items".to_string(),
                LossKind::Unrepresentable,
                format!(
                    "Commerce Layer creates {item_type} lines itself; the {} {} line is not sent",
                    amount.to_decimal(),
                    order.currency
                ),
            );
            return;
        }
        let id = local_id(&ids.commercelayer, prefix, Some(n));
        let b = base(g.included.len());
        let mut attrs = JsonMap::new();
        attrs.insert("item_type".into(), item_type.into());
        if let Some(n) = name {
            attrs.insert("name".into(), n.clone().into());
        }
        attrs.insert("quantity".into(), 1.into());
        attrs.insert("currency_code".into(), currency_code.into());
        enc.triple(&mut attrs, "unit_amount", amount, &b);
        enc.triple(&mut attrs, "total_amount", amount, &b);
        enc.triple(&mut attrs, "tax_amount", tax, &b);
        let mut rels = JsonMap::new();
        order_rel(&mut rels);
        g.line_ids.push(("line_items".into(), id.clone()));
        g.included.push(
            Res {
                ty: "line_items",
                id,
                attrs,
                rels,
            }
            .into_value(ext),
        );
    };
    for (i, s) in order.shipping_lines.iter().enumerate() {
        extra_line(
            &mut g,
            enc,
            ("ship_", i + 1),
            "shipments",
            &s.ids,
            &s.method,
            s.amount,
            s.tax,
            &s.ext,
        );
    }
    for (i, f) in order.fees.iter().enumerate() {
        let item_type = if f.kind == FeeKind::PaymentMethod {
            "payment_methods"
        } else {
            "adjustments"
        };
        extra_line(
            &mut g,
            enc,
            ("fee_", i + 1),
            item_type,
            &f.ids,
            &f.name,
            f.amount,
            f.tax,
            &f.ext,
        );
    }
    for (i, d) in order.discounts.iter().enumerate() {
        if d.amount.is_zero() && d.kind == DiscountKind::Coupon {
            continue; // a coupon with no amount of its own is just the order's coupon_code
        }
        let item_type = d
            .ext
            .get(P)
            .and_then(|e| e.extra.get("attributes"))
            .and_then(|a| a.get("item_type"))
            .and_then(Value::as_str)
            .unwrap_or("external_promotions");
        let item_type: &'static str = match item_type {
            "percentage_discount_promotions" => "percentage_discount_promotions",
            "fixed_amount_promotions" => "fixed_amount_promotions",
            "free_shipping_promotions" => "free_shipping_promotions",
            "gift_cards" => "gift_cards",
            _ => "external_promotions",
        };
        let label = d.label.clone().or_else(|| d.code.clone());
        extra_line(
            &mut g,
            enc,
            ("promo_", i + 1),
            item_type,
            &d.ids,
            &label,
            Money::new(-d.amount.minor, order.currency),
            Money::zero(order.currency),
            &d.ext,
        );
    }
    let address_resource = |id: String, a: &Address| {
        Res {
            ty: "addresses",
            id,
            attrs: address_attrs(a),
            rels: JsonMap::new(),
        }
        .into_value(&a.ext)
    };
    let mut billing_resource = None;
    if let Some(a) = &order.billing_address {
        let id = local_id(&a.ids.commercelayer, LOCAL_BILLING, None);
        g.billing = Some(("addresses".into(), id.clone()));
        let resource = address_resource(id, a);
        billing_resource = Some(g.included.len());
        g.included.push(resource);
    }
    if let Some(a) = order.shipping_destinations.first() {
        let mut id = local_id(&a.ids.commercelayer, LOCAL_SHIPPING, None);
        let mut resource = address_resource(id.clone(), a);
        let shared = g.billing.as_ref().is_some_and(|(_, b)| *b == id);
        // Billing and shipping may be one address resource, included once: one address linked in both roles,
        // which a shop of another platform holds twice, under ids of its own, and may have filled in differently
        // (BigCommerce gives the billing address the buyer's e-mail). The fuller of the two is the one included,
        // if it holds everything the other does.
        let mut same = false;
        if let (true, Some(i)) = (shared, billing_resource) {
            if covers(&g.included[i], &resource) {
                same = true;
            } else if covers(&resource, &g.included[i]) {
                g.included[i] = resource.clone();
                same = true;
            }
        }
        if shared && !same {
            // One id for two different addresses (a billing link the document did not resolve, say): included
            // once, one would be lost; the shipping address gets an id of its own.
            id = local_id(&None, LOCAL_SHIPPING, None);
            resource = address_resource(id.clone(), a);
        }
        g.shipping = Some(("addresses".into(), id.clone()));
        if g.billing.as_ref().is_none_or(|(_, b)| *b != id) {
            g.included.push(resource);
        }
    }
    if order.shipping_destinations.len() > 1 {
        enc.loss(
            "/data/relationships/shipping_address".into(),
            LossKind::MultipleDestinations,
            format!(
                "Commerce Layer orders ship to one address; {} more destinations are not sent",
                order.shipping_destinations.len() - 1
            ),
        );
    }
    if let Some(cid) = &order.customer.ids.commercelayer {
        g.customer = Some(("customers".into(), cid.clone()));
        let mut attrs = JsonMap::new();
        if let Some(e) = &order.customer.email {
            attrs.insert("email".into(), e.clone().into());
        }
        g.included.push(
            Res {
                ty: "customers",
                id: cid.clone(),
                attrs,
                rels: JsonMap::new(),
            }
            .into_value(&order.customer.ext),
        );
    }
    g
}

fn common_attrs(order: &Order) -> JsonMap {
    let mut w = ObjWriter::new();
    w.opt_str("customer_email", &order.customer.email);
    w.opt_str("language_code", &order.language);
    w.opt_str("reference", &order.external_ref.reference);
    w.opt_str("reference_origin", &order.external_ref.origin);
    if let Some(code) = order
        .discounts
        .iter()
        .find_map(|d| d.code.clone().filter(|_| d.kind == DiscountKind::Coupon))
    {
        w.put("coupon_code", code);
    }
    if !order.metadata.is_empty() {
        w.put("metadata", Value::Object(order.metadata.clone()));
    }
    w.finish()
}

fn unrepresentable_notes(enc: &mut Enc<'_>) {
    let order = enc.order;
    if order.customer_note.is_some() || order.staff_note.is_some() {
        enc.loss(
            "/data/attributes/metadata".into(),
            LossKind::Unrepresentable,
            "Commerce Layer orders have no note field; notes are not sent",
        );
    }
}

pub fn encode_create_request(order: &Order) -> Translated<Value> {
    let mut enc = Enc {
        order,
        losses: Vec::new(),
    };
    let g = build_graph(&mut enc, None, false);
    let mut attrs = common_attrs(order);
    if order.customer.is_guest {
        attrs.insert("guest".into(), true.into());
    }
    let mut rels = JsonMap::new();
    let market_id = order
        .ext
        .get(P)
        .and_then(|e| e.extra.get("relationships"))
        .and_then(|r| r.get("market"))
        .and_then(|m| m.get("data"))
        .and_then(|d| d.get("id"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| format!("market-{}", order.currency.as_str().to_ascii_lowercase()));
    rels.insert(
        "market".into(),
        json!({"data": {"type": "markets", "id": market_id}}),
    );
    let mut included = g.included;
    let market_kept = order
        .ext
        .get(P)
        .and_then(|e| e.extra.get(KEPT_INCLUDED))
        .and_then(Value::as_array)
        .is_some_and(|list| {
            list.iter().any(|r| {
                r.get("type") == Some(&json!("markets")) && r.get("id") == Some(&json!(market_id))
            })
        });
    if !market_kept {
        included.push(json!({"type": "markets", "id": market_id, "attributes": {"currency_code": order.currency.as_str()}}));
    }
    if let Some(l) = g.billing {
        rels.insert(
            "billing_address".into(),
            json!({"data": {"type": l.0, "id": l.1}}),
        );
    }
    if let Some(l) = g.shipping {
        rels.insert(
            "shipping_address".into(),
            json!({"data": {"type": l.0, "id": l.1}}),
        );
    }
    if let Some(l) = g.customer {
        rels.insert("customer".into(), json!({"data": {"type": l.0, "id": l.1}}));
    }
    rels.insert("line_items".into(), json!({"data": g.line_ids.iter().map(|(t, id)| json!({"type": t, "id": id})).collect::<Vec<_>>()}));
    let mut data = JsonMap::new();
    data.insert("type".into(), "orders".into());
    data.insert("attributes".into(), Value::Object(attrs));
    data.insert("relationships".into(), Value::Object(rels));
    if order.status != OrderStatus::Draft && order.status != OrderStatus::Pending {
        enc.loss("/data/attributes/_place".into(), LossKind::Unrepresentable, format!("a Commerce Layer create makes a draft; reaching {} takes the _place/_approve triggers afterwards", order.status));
    }
    if order.tax_included {
        enc.loss(
            "/data/attributes/tax_included".into(),
            LossKind::Unrepresentable,
            "whether prices include tax comes from the market's price list; a create document cannot state it",
        );
    }
    if order.timestamps.created_at.is_some() {
        enc.loss(
            "/data/attributes/created_at".into(),
            LossKind::Unrepresentable,
            "Commerce Layer cannot backdate an order; the creation date is not sent",
        );
    }
    unrepresentable_notes(&mut enc);
    sub_minor_losses(order, P, &mut enc.losses);
    let doc = finish_document(order, data, included);
    Translated {
        value: doc,
        losses: enc.losses,
    }
}

/// Replays kept members, then lifts the reserved document-level ones out of the order resource.
fn finish_document(order: &Order, mut data: JsonMap, mut included: Vec<Value>) -> Value {
    apply_ext(&mut data, &order.ext, P);
    if let Some(Value::Array(rest)) = data.remove(KEPT_INCLUDED) {
        included.extend(rest);
    }
    let kept_document = data.remove(KEPT_DOCUMENT);
    let mut doc = JsonMap::new();
    doc.insert("data".into(), Value::Object(data));
    if !included.is_empty() {
        doc.insert("included".into(), Value::Array(included));
    }
    if let Some(Value::Object(m)) = kept_document {
        for (k, v) in m {
            doc.entry(k).or_insert(v);
        }
    }
    Value::Object(doc)
}

fn identifier(link: &(String, String)) -> ResourceIdentifier {
    ResourceIdentifier {
        _type: link.0.clone(),
        id: link.1.clone(),
    }
}

pub fn encode_order(order: &Order) -> Translated<Value> {
    let mut enc = Enc {
        order,
        losses: Vec::new(),
    };
    let id = order.ids.platform.commercelayer.clone().unwrap_or_else(|| {
        order
            .ids
            .uuid
            .clone()
            .or_else(|| order.ids.platform.fluentcart.map(|n| format!("fc-{n}")))
            .or_else(|| order.ids.platform.bigcommerce.map(|n| format!("bc-{n}")))
            .unwrap_or_else(|| "new".to_owned())
    });
    let g = build_graph(&mut enc, Some(&id), true);
    let mut attrs = common_attrs(order);
    let base = "/data/attributes";
    attrs.insert("guest".into(), order.customer.is_guest.into());
    if let Some(n) = &order.ids.number {
        attrs.insert("number".into(), n.clone().into());
    }
    if let Some(t) = &order.ids.cart_token {
        attrs.insert("token".into(), t.clone().into());
    }
    attrs.insert("currency_code".into(), order.currency.as_str().into());
    attrs.insert("tax_included".into(), order.tax_included.into());
    status_attrs(&mut enc, &mut attrs, base);
    let t = &order.totals;
    let payment_fee: i64 = order
        .fees
        .iter()
        .filter(|f| f.kind == FeeKind::PaymentMethod)
        .map(|f| f.amount.minor)
        .fold(0, i64::saturating_add);
    let adjustment = t.fee_total.minor - payment_fee;
    enc.triple(&mut attrs, "subtotal_amount", t.subtotal, base);
    enc.triple(&mut attrs, "shipping_amount", t.shipping_total, base);
    enc.triple(
        &mut attrs,
        "payment_method_amount",
        Money::new(payment_fee, order.currency),
        base,
    );
    enc.triple(
        &mut attrs,
        "discount_amount",
        Money::new(-t.discount_total.minor, order.currency),
        base,
    );
    enc.triple(
        &mut attrs,
        "adjustment_amount",
        Money::new(adjustment, order.currency),
        base,
    );
    enc.triple(&mut attrs, "total_tax_amount", t.tax_total, base);
    enc.triple(&mut attrs, "shipping_tax_amount", t.shipping_tax, base);
    enc.triple(&mut attrs, "total_amount", total_amount(order), base);
    enc.triple(&mut attrs, "total_amount_with_taxes", t.total, base);
    let ts = &order.timestamps;
    for (key, v) in [
        ("placed_at", &ts.placed_at),
        ("approved_at", &ts.approved_at),
        ("cancelled_at", &ts.cancelled_at),
        ("created_at", &ts.created_at),
        ("updated_at", &ts.updated_at),
    ] {
        if let Some(dt) = v {
            attrs.insert(key.into(), render_iso_millis(dt).into());
        }
    }
    if order.payments.iter().any(|p| p.ext.get(P).is_none()) {
        enc.loss(
            "/data/relationships/transactions".into(),
            LossKind::Unrepresentable,
            "Commerce Layer transactions are their own resources; payments are not sent",
        );
    }
    unrepresentable_notes(&mut enc);

    let to_one = |link: &Option<(String, String)>| Relationship {
        data: Some(
            link.as_ref()
                .map(|l| IdentifierData::Single(identifier(l)))
                .unwrap_or(IdentifierData::None),
        ),
        links: None,
    };
    let mut rels: HashMap<String, Relationship> = HashMap::new();
    rels.insert("billing_address".into(), to_one(&g.billing));
    rels.insert("shipping_address".into(), to_one(&g.shipping));
    if g.customer.is_some() {
        rels.insert("customer".into(), to_one(&g.customer));
    }
    rels.insert(
        "line_items".into(),
        Relationship {
            data: Some(IdentifierData::Multiple(
                g.line_ids.iter().map(identifier).collect(),
            )),
            links: None,
        },
    );
    // The order resource is written directly; only its relationships go through the `jsonapi` types, whose
    // `Resource` keeps attributes in a HashMap that would cost a full copy of the document to render.
    let mut data = JsonMap::new();
    data.insert("type".into(), "orders".into());
    data.insert("id".into(), id.into());
    data.insert("attributes".into(), Value::Object(attrs));
    data.insert(
        "relationships".into(),
        serde_json::to_value(&rels).unwrap_or_default(),
    );
    if let Some(t) = order.test_mode {
        data.insert(
            "meta".into(),
            json!({ "mode": if t { "test" } else { "live" } }),
        );
    }
    sub_minor_losses(order, P, &mut enc.losses);
    Translated {
        value: finish_document(order, data, g.included),
        losses: enc.losses,
    }
}

/// `{"errors":[{status, code, title, detail, source:{pointer} or source:{parameter}}]}` (JSON:API error object;
/// status is a string).
pub fn encode_error(problem: &Problem) -> ErrorDocument {
    let r = error_render(&tables::get().commercelayer_errors, problem.kind);
    let mut err = json!({
        "status": r.status.to_string(),
        "code": r.code.unwrap_or_else(|| "VALIDATION_ERROR".into()),
        "title": r.title.unwrap_or_else(|| problem.kind.key().into()),
        "detail": problem.reason,
        "meta": { "error": problem.kind.key() },
    });
    // RFC 6901: "" is the whole document ("/" would name a member called ""). A problem in no part of the
    // request's document (credentials, routes, limits, the upstream) has no source.
    let source = match (&problem.parameter, problem.pointer.as_str()) {
        (Some(name), _) => Some(json!({ "parameter": name })),
        (None, "") if !problem.kind.is_in_document() => None,
        (None, pointer) => Some(json!({ "pointer": pointer })),
    };
    if let Some(source) = source {
        err["source"] = source;
    }
    ErrorDocument {
        status: http::StatusCode::from_u16(r.status)
            .unwrap_or(http::StatusCode::UNPROCESSABLE_ENTITY),
        body: json!({ "errors": [err] }),
    }
}
