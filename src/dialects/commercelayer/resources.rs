//! Commerce Layer resources other than the order document, and the update forms of the order: what the inbound
//! JSON:API (`/api/line_items`, `/api/addresses`, `/api/markets`, `PATCH /api/orders/{id}`) reads and writes.
//! Pure field mapping; paths, envelopes and the shop are the API module's business.

use serde_json::{json, Value};

use super::encode::{address_attrs, encode_order};
use super::money::cents_exponent;
use crate::canonical::money::rescale;
use crate::canonical::*;
use crate::config::Market;
use crate::dialects::json::Obj;
use crate::dialects::Translated;

/// A resource document's primary data, opened: its attributes and relationships still unread.
pub struct ResourceDoc {
    pub id: Option<String>,
    pub attrs: Obj,
    pub rels: Obj,
}

/// Opens `doc.data` as a resource of type `expected`. A create (`creating`) may not carry a client-generated id
/// (403); a wrong type is a conflict (409). Members other than `type`, `id`, `attributes`, `relationships`,
/// `links` and `meta` are refused.
pub fn open_resource_doc(
    doc: Value,
    expected: &str,
    creating: bool,
) -> Result<ResourceDoc, Problem> {
    let mut top = Obj::new(doc, "")?;
    let data = top.take("data").ok_or_else(|| top.missing("data"))?;
    let mut data = Obj::new(data, "/data")?;
    let ty = data.required_string("type")?;
    if ty != expected {
        return Err(Problem::new(
            ProblemKind::TypeConflict,
            "/data/type",
            format!("this endpoint takes resources of type {expected}, not {ty:?}"),
        ));
    }
    let id = match data.take("id") {
        None => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => {
            return Err(Problem::new(
                ProblemKind::InvalidField,
                "/data/id",
                "a resource id must be a string",
            ))
        }
    };
    if creating && id.is_some() {
        return Err(Problem::new(
            ProblemKind::ClientIdUnsupported,
            "/data/id",
            "client-generated ids are not supported; omit data.id",
        ));
    }
    let empty = |ptr: &str| Obj::new(Value::Object(JsonMap::new()), ptr);
    let attrs = match data.child("attributes")? {
        Some(a) => a,
        None => empty("/data/attributes")?,
    };
    // Clients send `relationships: {}` on every update (the Commerce Layer SDK does); that is no change.
    let rels = match data.child("relationships")? {
        Some(r) => r,
        None => empty("/data/relationships")?,
    };
    data.take("links");
    data.take("meta");
    if let Some(key) = data.finish().extra.keys().next() {
        return Err(Problem::new(
            ProblemKind::InvalidField,
            format!("/data/{key}"),
            format!("{key} is not a member of a JSON:API resource object"),
        ));
    }
    Ok(ResourceDoc { id, attrs, rels })
}

/// The first attribute left unread: one the endpoint does not let a client write.
fn refuse_leftovers(obj: Obj, what: &str) -> Result<(), Problem> {
    let base = obj.base_pointer().to_owned();
    match obj.finish().extra.keys().next() {
        None => Ok(()),
        Some(key) => Err(Problem::new(
            ProblemKind::ForbiddenField,
            format!("{base}/{key}"),
            format!("{key} cannot be written on {what} through this API"),
        )),
    }
}

/// A string member that may be `null` (clears it): `None` absent, `Some(None)` null.
fn nullable_string(a: &mut Obj, key: &str) -> Result<Option<Option<String>>, Problem> {
    nullable(a, key, Obj::string)
}

/// `nullable_string` for an e-mail address, with the decoders' rule (`Obj::email`).
fn nullable_email(a: &mut Obj, key: &str) -> Result<Option<Option<String>>, Problem> {
    nullable(a, key, Obj::email)
}

fn nullable(
    a: &mut Obj,
    key: &str,
    read: fn(&mut Obj, &str) -> Result<Option<String>, Problem>,
) -> Result<Option<Option<String>>, Problem> {
    if a.peek(key).is_some_and(Value::is_null) {
        a.take(key);
        return Ok(Some(None));
    }
    Ok(read(a, key)?.map(Some))
}

/// A relationship's linkage to one resource of type `ty`: `None` when not sent, `Some(None)` for `data: null`.
fn to_one(rels: &mut Obj, name: &str, ty: &str) -> Result<Option<Option<String>>, Problem> {
    let Some(rel) = rels.child(name)? else {
        return Ok(None);
    };
    let ptr = rel.pointer("data");
    let out = match rel.peek("data").cloned() {
        // A relationship object without data (links or meta only) changes nothing.
        None => return Ok(None),
        Some(Value::Null) => Some(None),
        Some(Value::Object(m)) => {
            let t = m.get("type").and_then(Value::as_str);
            let id = m.get("id").and_then(Value::as_str);
            match (t, id) {
                (Some(t), Some(id)) if t == ty => Some(Some(id.to_owned())),
                (Some(t), Some(_)) => {
                    return Err(Problem::new(
                        ProblemKind::TypeConflict,
                        format!("{ptr}/type"),
                        format!("{name} must point at {ty}, not {t:?}"),
                    ))
                }
                _ => {
                    return Err(Problem::new(
                        ProblemKind::InvalidField,
                        ptr,
                        "a resource identifier needs string type and id",
                    ))
                }
            }
        }
        Some(_) => {
            return Err(Problem::new(
                ProblemKind::InvalidField,
                ptr,
                format!("{name} takes a single resource identifier"),
            ))
        }
    };
    Ok(out)
}

/// Which order triggers the API applies. Commerce Layer lists 34 (`resources.json`); the rest are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderTrigger {
    Place,
    Pending,
    Authorize,
    Approve,
    ApproveAndCapture,
    Capture,
    Fulfill,
    Refund,
    Cancel,
    ShippingAddressSameAsBilling,
    BillingAddressSameAsShipping,
    /// Recalculations the embedded shop does on every change anyway (`_refresh`, `_update_taxes`, ...).
    Recalculate,
}

impl OrderTrigger {
    /// Triggers in the order they are applied when one update sends several: addresses first, then the
    /// lifecycle in its natural sequence, cancellation last.
    const ALL: &'static [(&'static str, OrderTrigger)] = &[
        (
            "_shipping_address_same_as_billing",
            OrderTrigger::ShippingAddressSameAsBilling,
        ),
        (
            "_billing_address_same_as_shipping",
            OrderTrigger::BillingAddressSameAsShipping,
        ),
        ("_refresh", OrderTrigger::Recalculate),
        ("_refresh_prices", OrderTrigger::Recalculate),
        ("_update_taxes", OrderTrigger::Recalculate),
        ("_validate", OrderTrigger::Recalculate),
        ("_pending", OrderTrigger::Pending),
        ("_place", OrderTrigger::Place),
        ("_authorize", OrderTrigger::Authorize),
        ("_approve", OrderTrigger::Approve),
        ("_approve_and_capture", OrderTrigger::ApproveAndCapture),
        ("_capture", OrderTrigger::Capture),
        ("_fulfill", OrderTrigger::Fulfill),
        ("_refund", OrderTrigger::Refund),
        ("_cancel", OrderTrigger::Cancel),
    ];

    /// The canonical transitions the trigger stands for, given the order's state when it is applied.
    pub fn transitions(self, order: &Order) -> Vec<Transition> {
        match self {
            // Placing a Commerce Layer order authorizes its payment source; the embedded shop has no gateway, so
            // an unpaid order's payment counts as authorized once placed (a free order is settled by placing).
            OrderTrigger::Place if order.totals.total.minor > 0 => {
                vec![Transition::Place, Transition::Authorize]
            }
            OrderTrigger::Place => vec![Transition::Place],
            OrderTrigger::Authorize => vec![Transition::Authorize],
            OrderTrigger::Approve => vec![Transition::Approve],
            OrderTrigger::ApproveAndCapture => vec![Transition::Approve, Transition::Capture],
            OrderTrigger::Capture => vec![Transition::Capture],
            OrderTrigger::Fulfill => vec![Transition::Fulfill],
            OrderTrigger::Refund => vec![Transition::Refund { amount: None }],
            OrderTrigger::Cancel => vec![Transition::Cancel],
            OrderTrigger::Pending
            | OrderTrigger::ShippingAddressSameAsBilling
            | OrderTrigger::BillingAddressSameAsShipping
            | OrderTrigger::Recalculate => Vec::new(),
        }
    }
}

/// `PATCH /api/orders/{id}`: the writable attributes, relationship changes and triggers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrderUpdate {
    pub id: Option<String>,
    pub customer_email: Option<Option<String>>,
    pub reference: Option<Option<String>>,
    pub reference_origin: Option<Option<String>>,
    pub language_code: Option<Option<String>>,
    pub metadata: Option<JsonMap>,
    pub guest: Option<bool>,
    /// Address ids (`Some(None)`: detach).
    pub billing_address: Option<Option<String>>,
    pub shipping_address: Option<Option<String>>,
    /// A market the client restates; the currency it fixes cannot change.
    pub market: Option<String>,
    pub triggers: Vec<OrderTrigger>,
}

pub fn decode_order_update(doc: Value) -> Result<OrderUpdate, Problem> {
    let ResourceDoc {
        id,
        mut attrs,
        mut rels,
    } = open_resource_doc(doc, "orders", false)?;
    let mut up = OrderUpdate {
        id,
        customer_email: nullable_email(&mut attrs, "customer_email")?,
        reference: nullable_string(&mut attrs, "reference")?,
        reference_origin: nullable_string(&mut attrs, "reference_origin")?,
        language_code: nullable_string(&mut attrs, "language_code")?,
        guest: attrs.boolean("guest")?,
        ..Default::default()
    };
    match attrs.take("metadata") {
        None => {}
        Some(Value::Object(m)) => up.metadata = Some(m),
        Some(_) => {
            return Err(Problem::new(
                ProblemKind::InvalidField,
                "/data/attributes/metadata",
                "metadata must be an object",
            ))
        }
    }
    for (name, trigger) in OrderTrigger::ALL {
        // A trigger sent as false asks for nothing.
        if attrs.boolean(name)? == Some(true) && !up.triggers.contains(trigger) {
            up.triggers.push(*trigger);
        }
    }
    refuse_leftovers(attrs, "an order")?;
    up.billing_address = to_one(&mut rels, "billing_address", "addresses")?;
    up.shipping_address = to_one(&mut rels, "shipping_address", "addresses")?;
    up.market = to_one(&mut rels, "market", "markets")?.flatten();
    refuse_leftovers(rels, "an order")?;
    Ok(up)
}

/// `POST /api/line_items`, before the order's currency is known.
#[derive(Debug, Clone, PartialEq)]
pub struct LineItemCreate {
    pub order_id: String,
    pub quantity: u32,
    pub sku_code: Option<String>,
    pub bundle_code: Option<String>,
    pub name: Option<String>,
    /// `unit_amount_cents` as sent (Commerce Layer cents: minor units, but HUF unscaled).
    pub unit_amount_cents: Option<i64>,
    pub image_url: Option<String>,
    pub metadata: JsonMap,
}

fn cents(a: &mut Obj, key: &str) -> Result<Option<i64>, Problem> {
    let n = a.integer(key)?;
    if n.is_some_and(|n| n < 0) {
        return Err(Problem::new(
            ProblemKind::InvalidMoney,
            a.pointer(key),
            format!("{key} cannot be negative"),
        ));
    }
    Ok(n)
}

fn metadata(a: &mut Obj) -> Result<Option<JsonMap>, Problem> {
    match a.take("metadata") {
        None => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(_) => Err(Problem::new(
            ProblemKind::InvalidField,
            a.pointer("metadata"),
            "metadata must be an object",
        )),
    }
}

pub fn decode_line_item_create(doc: Value) -> Result<LineItemCreate, Problem> {
    let ResourceDoc {
        mut attrs,
        mut rels,
        ..
    } = open_resource_doc(doc, "line_items", true)?;
    let order_id = to_one(&mut rels, "order", "orders")?
        .flatten()
        .ok_or_else(|| {
            Problem::new(
                ProblemKind::MissingField,
                "/data/relationships/order",
                "a line item needs an order relationship",
            )
        })?;
    refuse_leftovers(rels, "a line item")?;
    let quantity = attrs.quantity("quantity")?;
    let item_type = attrs.string("item_type")?;
    if item_type
        .as_deref()
        .is_some_and(|t| t != "skus" && t != "bundles")
    {
        return Err(Problem::new(
            ProblemKind::InvalidField,
            "/data/attributes/item_type",
            "only skus and bundles line items can be created; the shop adds the others itself",
        ));
    }
    let create = LineItemCreate {
        order_id,
        quantity,
        sku_code: attrs.string("sku_code")?,
        bundle_code: attrs.string("bundle_code")?,
        name: attrs.string("name")?,
        unit_amount_cents: cents(&mut attrs, "unit_amount_cents")?,
        image_url: attrs.string("image_url")?,
        metadata: metadata(&mut attrs)?.unwrap_or_default(),
    };
    // Accepted and meaningless here: the shop takes the sent price whenever there is one.
    attrs.boolean("_external_price")?;
    attrs.boolean("_reserve_stock")?;
    refuse_leftovers(attrs, "a line item")?;
    if create.sku_code.is_none() && create.bundle_code.is_none() {
        if create.name.as_deref().is_none_or(|n| n.trim().is_empty()) {
            return Err(Problem::new(
                ProblemKind::MissingField,
                "/data/attributes/sku_code",
                "a line item needs a sku_code, or a name and unit_amount_cents",
            ));
        }
        if create.unit_amount_cents.is_none() {
            return Err(Problem::new(
                ProblemKind::MissingField,
                "/data/attributes/unit_amount_cents",
                "a line item without sku_code needs unit_amount_cents",
            ));
        }
    }
    Ok(create)
}

/// Minor units of `currency` for a Commerce Layer `*_cents` value.
fn from_cents(wire: i64, currency: Currency, pointer: &str) -> Result<Money, Problem> {
    rescale(wire, cents_exponent(currency), currency.exponent())
        .map(|minor| Money::new(minor, currency))
        .map_err(|_| Problem::new(ProblemKind::InvalidMoney, pointer, "amount out of range"))
}

impl LineItemCreate {
    /// The canonical line, unresolved (the shop's catalog fills in name and price of a SKU).
    pub fn into_line(self, currency: Currency) -> Result<LineItem, Problem> {
        let zero = Money::zero(currency);
        let unit = match self.unit_amount_cents {
            Some(c) => from_cents(c, currency, "/data/attributes/unit_amount_cents")?,
            None => zero,
        };
        let kind = if self.bundle_code.is_some() {
            LineKind::Bundle
        } else if self.sku_code.is_some() {
            LineKind::Catalog
        } else {
            LineKind::Custom
        };
        Ok(LineItem {
            ids: PlatformIds::default(),
            kind,
            product: ProductRef {
                sku: self.sku_code,
                bundle_code: self.bundle_code,
                ..Default::default()
            },
            name: self.name.unwrap_or_default(),
            quantity: self.quantity,
            unit_price: unit,
            subtotal: zero,
            discount_total: zero,
            tax_total: zero,
            total: zero,
            tax_rate: None,
            fulfillment_type: None,
            quantity_shipped: 0,
            refunded_total: zero,
            destination: None,
            image_url: self.image_url,
            metadata: self.metadata,
            ext: Ext::default(),
        })
    }
}

/// `PATCH /api/line_items/{id}`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LineItemUpdate {
    pub id: Option<String>,
    pub quantity: Option<u32>,
    pub name: Option<String>,
    pub unit_amount_cents: Option<i64>,
    pub image_url: Option<Option<String>>,
    pub metadata: Option<JsonMap>,
}

pub fn decode_line_item_update(doc: Value) -> Result<LineItemUpdate, Problem> {
    let ResourceDoc {
        id,
        mut attrs,
        rels,
    } = open_resource_doc(doc, "line_items", false)?;
    refuse_leftovers(rels, "a line item")?;
    let quantity = if attrs.has("quantity") {
        Some(attrs.quantity("quantity")?)
    } else {
        attrs.take("quantity");
        None
    };
    let up = LineItemUpdate {
        id,
        quantity,
        name: attrs.string("name")?,
        unit_amount_cents: cents(&mut attrs, "unit_amount_cents")?,
        image_url: nullable_string(&mut attrs, "image_url")?,
        metadata: metadata(&mut attrs)?,
    };
    attrs.boolean("_external_price")?;
    refuse_leftovers(attrs, "a line item")?;
    Ok(up)
}

impl LineItemUpdate {
    /// Applies the update to `line` of an order in `currency`.
    pub fn apply(&self, line: &mut LineItem, currency: Currency) -> Result<(), Problem> {
        if let Some(q) = self.quantity {
            line.quantity = q;
        }
        if let Some(n) = &self.name {
            if n.trim().is_empty() {
                return Err(Problem::new(
                    ProblemKind::InvalidField,
                    "/data/attributes/name",
                    "name cannot be empty",
                ));
            }
            line.name.clone_from(n);
        }
        if let Some(c) = self.unit_amount_cents {
            line.unit_price = from_cents(c, currency, "/data/attributes/unit_amount_cents")?;
        }
        if let Some(url) = &self.image_url {
            line.image_url.clone_from(url);
        }
        if let Some(m) = &self.metadata {
            line.metadata.clone_from(m);
        }
        Ok(())
    }
}

/// `POST /api/addresses`: Commerce Layer requires `line_1`, `city`, `country_code` and `phone`, and a person's
/// name unless the address is a business's (then `company`).
pub fn decode_address_create(doc: Value) -> Result<Address, Problem> {
    let ResourceDoc {
        mut attrs, rels, ..
    } = open_resource_doc(doc, "addresses", true)?;
    refuse_leftovers(rels, "an address")?;
    let business = attrs.boolean("business")?.unwrap_or(false);
    let mut addr = Address {
        first_name: attrs.string("first_name")?,
        last_name: attrs.string("last_name")?,
        company: attrs.string("company")?,
        line1: attrs.required_string("line_1")?,
        line2: attrs.string("line_2")?,
        city: attrs.required_string("city")?,
        region: attrs.string("state_code")?,
        postal_code: attrs.string("zip_code")?,
        country_code: attrs.required_string("country_code")?,
        phone: attrs.string("phone")?,
        email: attrs.email("email")?,
        ..Default::default()
    };
    if addr.phone.is_none() {
        return Err(attrs.missing("phone"));
    }
    let blank = |s: &Option<String>| s.as_deref().is_none_or(|s| s.trim().is_empty());
    if business && blank(&addr.company) {
        return Err(attrs.missing("company"));
    }
    if !business {
        if blank(&addr.first_name) {
            return Err(attrs.missing("first_name"));
        }
        if blank(&addr.last_name) {
            return Err(attrs.missing("last_name"));
        }
    }
    if addr.country_code.len() != 2 || !addr.country_code.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(Problem::new(
            ProblemKind::InvalidField,
            "/data/attributes/country_code",
            "country_code must be an ISO 3166-1 alpha-2 code",
        ));
    }
    addr.country_code.make_ascii_uppercase();
    for key in ["line_1", "city"] {
        let value = if key == "line_1" {
            &addr.line1
        } else {
            &addr.city
        };
        if value.trim().is_empty() {
            return Err(Problem::new(
                ProblemKind::MissingField,
                format!("/data/attributes/{key}"),
                format!("{key} is required"),
            ));
        }
    }
    // Kept and replayed as sent: Commerce Layer members the canonical address has no field for.
    let mut kept = JsonMap::new();
    kept.insert("business".into(), business.into());
    for key in ["notes", "reference", "reference_origin", "billing_info"] {
        if let Some(v) = attrs.string(key)? {
            kept.insert(key.into(), v.into());
        }
    }
    if let Some(m) = metadata(&mut attrs)? {
        kept.insert("metadata".into(), Value::Object(m));
    }
    refuse_leftovers(attrs, "an address")?;
    let mut extra = JsonMap::new();
    extra.insert("attributes".into(), Value::Object(kept));
    addr.ext.set(
        Platform::CommerceLayer,
        PlatformExt {
            extra,
            echoes: Vec::new(),
        },
    );
    Ok(addr)
}

/// An address as a resource object (`links` are the caller's).
pub fn encode_address(addr: &Address) -> Value {
    let mut attrs = address_attrs(addr);
    let name = addr.display_name();
    if let Some(n) = &name {
        attrs.insert("full_name".into(), n.clone().into());
        attrs.insert("name".into(), n.clone().into());
    }
    let full_address = [
        Some(addr.line1.clone()),
        addr.line2.clone(),
        Some(
            [addr.postal_code.clone(), Some(addr.city.clone())]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" "),
        ),
        addr.region.clone(),
        Some(addr.country_code.clone()),
    ]
    .into_iter()
    .flatten()
    .filter(|s| !s.is_empty())
    .collect::<Vec<_>>()
    .join(", ");
    attrs.insert("full_address".into(), full_address.into());
    let mut res = JsonMap::new();
    res.insert("type".into(), "addresses".into());
    res.insert(
        "id".into(),
        addr.ids.commercelayer.clone().unwrap_or_default().into(),
    );
    res.insert("attributes".into(), Value::Object(attrs));
    crate::dialects::json::apply_ext(&mut res, &addr.ext, Platform::CommerceLayer);
    Value::Object(res)
}

/// An amount as Commerce Layer states it in `*_cents` (minor units; HUF unscaled, rounded half-even).
/// The resource identifiers (`type`, `id`) of relationship `name` of a JSON:API resource object: one for a
/// to-one linkage, each for a to-many one, none when the relationship has no `data`.
pub fn linkage(resource: &Value, name: &str) -> Vec<(String, String)> {
    let ident = |v: &Value| {
        Some((
            v.get("type")?.as_str()?.to_owned(),
            v.get("id")?.as_str()?.to_owned(),
        ))
    };
    match resource
        .get("relationships")
        .and_then(|r| r.get(name))
        .and_then(|r| r.get("data"))
    {
        Some(Value::Array(list)) => list.iter().filter_map(ident).collect(),
        Some(v @ Value::Object(_)) => ident(v).into_iter().collect(),
        _ => Vec::new(),
    }
}

pub fn wire_cents(money: Money) -> i64 {
    super::encode::wire(money)
}

/// A capture (the payment transaction refunds come from), as far as refunds need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capture {
    pub id: String,
    pub amount: Money,
    /// What may still be refunded from it.
    pub refund_balance: Money,
    pub succeeded: bool,
}

/// Reads one capture resource object (`GET /api/orders/{id}/captures` lists them) of an order in `currency`.
pub fn decode_capture(resource: Value, currency: Currency) -> Result<Capture, Problem> {
    let mut data = Obj::new(resource, "/data")?;
    let ty = data.required_string("type")?;
    if ty != "captures" {
        return Err(Problem::new(
            ProblemKind::TypeConflict,
            "/data/type",
            format!("expected a captures resource, not {ty:?}"),
        ));
    }
    let id = data.required_string("id")?;
    let attrs = data.take("attributes").unwrap_or(Value::Null);
    let mut a = Obj::new(attrs, "/data/attributes")?;
    let mut money = |key: &str| -> Result<Money, Problem> {
        let wire = cents(&mut a, key)?.ok_or_else(|| a.missing(key))?;
        from_cents(wire, currency, &a.pointer(key))
    };
    let amount = money("amount_cents")?;
    let refund_balance = money("refund_balance_cents")?;
    let succeeded = a
        .take("succeeded")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    Ok(Capture {
        id,
        amount,
        refund_balance,
        succeeded,
    })
}

/// Records what an order's captures say about its money: each succeeded capture as a `capture` payment, what
/// was refunded from it as one `refund` payment, and the paid and refunded totals the order resource itself does
/// not state. The payments are marked as Commerce Layer's own: they are resources of their own there, linked from
/// the order, not members of it, so rendering the order back to Commerce Layer loses nothing by leaving them out.
pub fn apply_captures(order: &mut Order, captures: &[Capture]) {
    let succeeded: Vec<&Capture> = captures.iter().filter(|c| c.succeeded).collect();
    if succeeded.is_empty() {
        return;
    }
    let own = |ty: &str| {
        let mut ext = Ext::default();
        let mut kept = PlatformExt::default();
        kept.extra.insert("type".into(), Value::String(ty.into()));
        ext.set(Platform::CommerceLayer, kept);
        ext
    };
    let (mut paid, mut refunded) = (0i64, 0i64);
    for c in &succeeded {
        paid += c.amount.minor;
        order.payments.push(Payment {
            ids: PlatformIds {
                commercelayer: Some(c.id.clone()),
                ..Default::default()
            },
            method: order.payment_method.clone(),
            status: Some("succeeded".into()),
            kind: Some("capture".into()),
            amount: c.amount,
            reference: None,
            ext: own("captures"),
        });
        let back = c.amount.minor - c.refund_balance.minor;
        if back > 0 {
            refunded += back;
            order.payments.push(Payment {
                ids: PlatformIds::default(),
                method: order.payment_method.clone(),
                status: Some("succeeded".into()),
                kind: Some("refund".into()),
                amount: Money::new(back, order.currency),
                reference: Some(c.id.clone()),
                ext: own("refunds"),
            });
        }
    }
    order.totals.paid_total = Some(Money::new(paid, order.currency));
    order.totals.refunded_total = Some(Money::new(refunded, order.currency));
}

/// `PATCH /api/captures/{id}`: refund `amount` of it. Refused when Commerce Layer's cents for the currency cannot
/// hold the amount exactly (a refund is never rounded).
pub fn encode_capture_refund(capture_id: &str, amount: Money) -> Result<Value, Problem> {
    let cents = rescale(
        amount.minor,
        amount.currency.exponent(),
        cents_exponent(amount.currency),
    )
    .map_err(|_| {
        Problem::new(
            ProblemKind::InvalidMoney,
            "",
            format!(
                "a refund of {} {} cannot be expressed in Commerce Layer's cents",
                amount.to_decimal(),
                amount.currency
            ),
        )
    })?;
    Ok(
        json!({"data": {"type": "captures", "id": capture_id, "attributes": {
            "_refund": true,
            "_refund_amount_cents": cents,
        }}}),
    )
}

/// A configured market as a resource object. `currency_code` is where its price list's currency shows (the
/// create-request codec reads an included market's currency from there too).
pub fn encode_market(market: &Market) -> Value {
    json!({
        "type": "markets",
        "id": market.id,
        "attributes": {
            "name": market.name,
            "code": market.code,
            "number": market.number,
            "currency_code": market.currency.as_str(),
        },
    })
}

/// The resource `(ty, id)` of an order as the order document includes it (a line item, an address, the
/// customer), with what its rendering lost.
pub fn encode_order_resource(order: &Order, ty: &str, id: &str) -> Option<Translated<Value>> {
    let Translated { value, losses } = encode_order(order);
    let Value::Object(mut doc) = value else {
        return None;
    };
    let Some(Value::Array(included)) = doc.remove("included") else {
        return None;
    };
    let found = included.into_iter().find(|r| {
        r.get("type").and_then(Value::as_str) == Some(ty)
            && r.get("id").and_then(Value::as_str) == Some(id)
    })?;
    Some(Translated {
        value: found,
        losses,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capture(id: &str, amount: i64, balance: i64) -> Value {
        json!({"type": "captures", "id": id, "attributes": {"amount_cents": amount,
            "refund_balance_cents": balance, "succeeded": true, "currency_code": "USD"}})
    }

    #[test]
    fn captures_become_payments_refunds_and_totals() {
        let usd = Currency::parse("USD").unwrap();
        let mut order = Order::empty(usd);
        let captures = [
            decode_capture(capture("c1", 5000, 3750), usd).unwrap(),
            decode_capture(capture("c2", 1000, 1000), usd).unwrap(),
        ];
        assert_eq!(captures[0].refund_balance, Money::new(3750, usd));
        apply_captures(&mut order, &captures);
        let kinds: Vec<(&str, i64)> = order
            .payments
            .iter()
            .map(|p| (p.kind.as_deref().unwrap(), p.amount.minor))
            .collect();
        assert_eq!(
            kinds,
            [("capture", 5000), ("refund", 1250), ("capture", 1000)]
        );
        assert_eq!(order.payments[0].ids.commercelayer.as_deref(), Some("c1"));
        assert!(order.payments[0].ext.get(Platform::CommerceLayer).is_some());
        assert_eq!(order.totals.paid_total, Some(Money::new(6000, usd)));
        assert_eq!(order.totals.refunded_total, Some(Money::new(1250, usd)));
    }

    #[test]
    fn a_capture_without_its_amounts_or_of_another_type_is_refused() {
        let usd = Currency::parse("USD").unwrap();
        let mut c = capture("c1", 5000, 5000);
        c["attributes"]
            .as_object_mut()
            .unwrap()
            .remove("refund_balance_cents");
        let p = decode_capture(c, usd).unwrap_err();
        assert_eq!(p.pointer, "/data/attributes/refund_balance_cents");
        let mut c = capture("c1", 5000, 5000);
        c["type"] = json!("authorizations");
        assert!(decode_capture(c, usd).is_err());
    }

    #[test]
    fn a_refund_is_sent_in_commerce_layer_cents_and_never_rounded() {
        let usd = Currency::parse("USD").unwrap();
        let doc = encode_capture_refund("c1", Money::new(1250, usd)).unwrap();
        assert_eq!(doc["data"]["attributes"]["_refund_amount_cents"], 1250);
        assert_eq!(doc["data"]["attributes"]["_refund"], true);
        // Commerce Layer states forints unscaled: 12.34 HUF has no exact cents there.
        let huf = Currency::parse("HUF").unwrap();
        assert!(encode_capture_refund("c1", Money::new(1234, huf)).is_err());
        let whole = encode_capture_refund("c1", Money::new(1200, huf)).unwrap();
        assert_eq!(whole["data"]["attributes"]["_refund_amount_cents"], 12);
    }

    #[test]
    fn triggers_and_empty_relationships_are_an_update() {
        let up = decode_order_update(json!({"data": {"type": "orders", "attributes": {"_place": true, "_cancel": false, "reference": null}, "relationships": {}, "id": "abc"}})).unwrap();
        assert_eq!(up.triggers, vec![OrderTrigger::Place]);
        assert_eq!(up.reference, Some(None));
        assert_eq!(up.id.as_deref(), Some("abc"));
    }

    #[test]
    fn read_only_attributes_are_refused() {
        let err = decode_order_update(
            json!({"data": {"type": "orders", "attributes": {"status": "placed"}}}),
        )
        .unwrap_err();
        assert_eq!(err.kind, ProblemKind::ForbiddenField);
        assert_eq!(err.pointer, "/data/attributes/status");
    }

    #[test]
    fn address_relationship_can_be_set_and_cleared() {
        let up = decode_order_update(json!({"data": {"type": "orders", "relationships": {
            "billing_address": {"data": {"type": "addresses", "id": "A1"}},
            "shipping_address": {"data": null}}}}))
        .unwrap();
        assert_eq!(up.billing_address, Some(Some("A1".into())));
        assert_eq!(up.shipping_address, Some(None));
    }

    #[test]
    fn line_item_create_needs_order_and_quantity() {
        let err = decode_line_item_create(
            json!({"data": {"type": "line_items", "attributes": {"quantity": 1, "sku_code": "X"}}}),
        )
        .unwrap_err();
        assert_eq!(err.pointer, "/data/relationships/order");
        let err = decode_line_item_create(json!({"data": {"type": "line_items", "attributes": {"sku_code": "X"}, "relationships": {"order": {"data": {"type": "orders", "id": "o1"}}}}})).unwrap_err();
        assert_eq!(err.kind, ProblemKind::MissingField);
        let ok = decode_line_item_create(json!({"data": {"type": "line_items", "attributes": {"quantity": 2, "name": "Gift wrap", "unit_amount_cents": 150}, "relationships": {"order": {"data": {"type": "orders", "id": "o1"}}}}})).unwrap();
        let line = ok.into_line(Currency::parse("HUF").unwrap()).unwrap();
        assert_eq!(line.kind, LineKind::Custom);
        assert_eq!(line.unit_price.minor, 15000, "HUF cents are forints");
    }

    #[test]
    fn client_ids_and_wrong_types_are_refused() {
        let err =
            decode_address_create(json!({"data": {"type": "addresses", "id": "x"}})).unwrap_err();
        assert_eq!(err.kind, ProblemKind::ClientIdUnsupported);
        let err = decode_address_create(json!({"data": {"type": "orders"}})).unwrap_err();
        assert_eq!(err.kind, ProblemKind::TypeConflict);
    }

    #[test]
    fn address_requires_phone_and_round_trips_kept_members() {
        let doc = json!({"data": {"type": "addresses", "attributes": {"first_name": "Ada", "last_name": "L", "line_1": "1 Main St", "city": "Austin", "country_code": "us", "notes": "gate 3"}}});
        let err = decode_address_create(doc.clone()).unwrap_err();
        assert_eq!(err.pointer, "/data/attributes/phone");
        let mut doc = doc;
        doc["data"]["attributes"]["phone"] = json!("+1 555");
        let addr = decode_address_create(doc).unwrap();
        let out = encode_address(&addr);
        assert_eq!(out["attributes"]["country_code"], "US");
        assert_eq!(out["attributes"]["notes"], "gate 3");
        assert_eq!(out["attributes"]["full_name"], "Ada L");
    }
}
