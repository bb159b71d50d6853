//! A stateful fake of Commerce Layer's core API for orders: OAuth2 client credentials at `/oauth/token` (tokens
//! that expire), JSON:API media types, `/api/orders` (list with `filter[q]` predicates, `page[number]`/`page[size]`
//! up to 25, `sort`, `include`), `/api/line_items`, `/api/addresses` (deleted only once no order links them), the
//! order triggers with Commerce Layer's state rules, what `_place` requires (a shipping method on each shipment, a payment method and a wire-transfer or
//! external payment source unless the order is free), captures (made by `_capture`, partly refunded with
//! `PATCH /api/captures/{id}`), and errors as `{"errors":[{title, detail, code, status, source:{pointer}}]}`.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use ordermux::canonical::{Currency, Money};
use ordermux::dialects::commercelayer::format_amount;
use ordermux::dialects::commercelayer::resources::decode_address_create;
use serde_json::{json, Map, Value};

use super::{FakePlatform, FakeRequest, FakeResponse};

const JSONAPI: &str = "application/vnd.api+json";
const MAX_PAGE_SIZE: usize = 25;

#[derive(Debug, Clone)]
pub struct FakeOrder {
    pub id: String,
    pub number: String,
    pub market_id: String,
    pub currency: String,
    pub status: String,
    pub payment_status: String,
    pub fulfillment_status: String,
    pub customer_email: Option<String>,
    pub language_code: Option<String>,
    pub reference: Option<String>,
    pub reference_origin: Option<String>,
    pub metadata: Value,
    pub guest: bool,
    pub coupon_code: Option<String>,
    pub line_items: Vec<String>,
    pub billing_address: Option<String>,
    pub shipping_address: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub placed_at: Option<DateTime<Utc>>,
    pub approved_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub token: String,
    pub payment_method: Option<String>,
    /// `(type, id)` of its payment source.
    pub payment_source: Option<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct FakeLine {
    pub id: String,
    pub order_id: String,
    pub sku_code: Option<String>,
    pub bundle_code: Option<String>,
    pub name: Option<String>,
    pub quantity: i64,
    pub unit_amount_cents: i64,
    pub image_url: Option<String>,
    pub metadata: Value,
}

/// A capture: the payment transaction Commerce Layer refunds from (`PATCH /api/captures/{id}` with `_refund` and
/// `_refund_amount_cents`); what is left to refund is its `refund_balance_cents`.
#[derive(Debug, Clone)]
pub struct FakeCapture {
    pub id: String,
    pub order_id: String,
    pub amount_cents: i64,
    pub refund_balance_cents: i64,
    pub created_at: DateTime<Utc>,
}

/// A shipment: Commerce Layer makes one for an order with SKU lines and a shipping address; placing needs its
/// shipping method.
#[derive(Debug, Clone)]
pub struct FakeShipment {
    pub id: String,
    pub order_id: String,
    pub shipping_method: Option<String>,
}

/// `(id, name, payment_source_type)` of the payment methods every market offers.
const PAYMENT_METHODS: &[(&str, &str, &str)] = &[
    ("pm_stripe", "Credit card", "stripe_payments"),
    ("pm_wire", "Wire transfer", "wire_transfers"),
    ("pm_external", "Paid elsewhere", "external_payments"),
];

pub struct CommerceLayerFake {
    client_id: String,
    client_secret: String,
    token_ttl: Duration,
    tokens: HashMap<String, Instant>,
    token_requests: usize,
    /// Market id → currency.
    markets: BTreeMap<String, String>,
    /// The price list: SKU code → (name, unit cents).
    skus: HashMap<String, (String, i64)>,
    pub orders: BTreeMap<String, FakeOrder>,
    pub lines: BTreeMap<String, FakeLine>,
    pub addresses: BTreeMap<String, Map<String, Value>>,
    pub captures: BTreeMap<String, FakeCapture>,
    pub shipments: BTreeMap<String, FakeShipment>,
    /// Shipping methods offered: id → name (all free, so placing never changes a total).
    pub shipping_methods: BTreeMap<String, String>,
    /// Payment sources made: id → (type, order id).
    pub payment_sources: BTreeMap<String, (String, String)>,
    seq: u64,
    clock: DateTime<Utc>,
    /// `with_rate_limit`: requests allowed in any `interval`, and when the recent `/api` requests came.
    rate_limit: Option<(usize, Duration)>,
    recent: std::collections::VecDeque<Instant>,
}

type Reply = Result<FakeResponse, FakeResponse>;

fn respond(status: u16, body: &Value) -> FakeResponse {
    FakeResponse {
        status,
        headers: vec![("content-type".into(), JSONAPI.into())],
        body: body.to_string().into_bytes(),
    }
}

/// Commerce Layer's answer for an id it does not hold.
fn not_found() -> FakeResponse {
    error(
        404,
        "RECORD_NOT_FOUND",
        "The requested resource was not found",
        None,
    )
}

fn error(status: u16, code: &str, detail: &str, pointer: Option<&str>) -> FakeResponse {
    let title = match status {
        400 => "Bad request",
        401 => "Unauthorized",
        404 => "Record not found",
        406 => "Not acceptable",
        409 => "Conflict",
        415 => "Unsupported media type",
        422 => "Unprocessable entity",
        _ => "Error",
    };
    let mut e =
        json!({"title": title, "detail": detail, "code": code, "status": status.to_string()});
    if let Some(p) = pointer {
        e["source"] = json!({"pointer": p});
    }
    respond(status, &json!({"errors": [e]}))
}

fn invalid(detail: &str, pointer: &str) -> FakeResponse {
    error(422, "VALIDATION_ERROR", detail, Some(pointer))
}

fn iso(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn opt_str(attrs: &Map<String, Value>, key: &str) -> Result<Option<Option<String>>, FakeResponse> {
    match attrs.get(key) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(s)) => Ok(Some(Some(s.clone()))),
        Some(_) => Err(invalid(
            &format!("{key} - must be a string"),
            &format!("/data/attributes/{key}"),
        )),
    }
}

/// `data` of a request body, checked for its type.
fn data_of(req: &FakeRequest, ty: &str) -> Result<Map<String, Value>, FakeResponse> {
    let body = req
        .json()
        .ok_or_else(|| error(400, "BAD_REQUEST", "body is not JSON", None))?;
    let Some(Value::Object(data)) = body.get("data") else {
        return Err(error(400, "BAD_REQUEST", "data is missing", Some("/data")));
    };
    if data.get("type").and_then(Value::as_str) != Some(ty) {
        return Err(error(
            409,
            "CONFLICT",
            &format!("type must be {ty}"),
            Some("/data/type"),
        ));
    }
    Ok(data.clone())
}

fn attributes(
    data: &Map<String, Value>,
    allowed: &[&str],
) -> Result<Map<String, Value>, FakeResponse> {
    let attrs = match data.get("attributes") {
        None => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => {
            return Err(error(
                400,
                "BAD_REQUEST",
                "attributes must be an object",
                None,
            ))
        }
    };
    if let Some(k) = attrs.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(error(
            400,
            "PARAMETER_NOT_ALLOWED",
            &format!("{k} is not allowed"),
            Some(&format!("/data/attributes/{k}")),
        ));
    }
    Ok(attrs)
}

/// A to-one relationship: `None` not sent, `Some(None)` null, `Some(Some(id))`.
fn to_one(data: &Map<String, Value>, name: &str) -> Option<Option<String>> {
    let rel = data.get("relationships")?.get(name)?;
    match rel.get("data")? {
        Value::Null => Some(None),
        d => Some(d.get("id").and_then(Value::as_str).map(str::to_owned)),
    }
}

const TRIGGERS: &[&str] = &[
    "_pending",
    "_place",
    "_authorize",
    "_approve",
    "_approve_and_capture",
    "_capture",
    "_refund",
    "_fulfill",
    "_cancel",
];

impl CommerceLayerFake {
    /// A fake organization with markets `mkt_usd` (USD) and `mkt_eur` (EUR), the demo catalog's SKUs in its price list, and tokens that
    /// live four hours (Commerce Layer's default for integrations).
    pub fn new(client_id: &str, client_secret: &str) -> Self {
        let mut skus = HashMap::new();
        for (code, name, cents) in [
            ("TSHIRT-BLK-M", "T-shirt, black, M", 2500),
            ("MUG-WHT", "Mug, white", 1250),
            ("HOODIE-GRY-L", "Hoodie, grey, L", 5990),
            ("EBOOK-GUIDE", "Field guide (e-book)", 999),
        ] {
            skus.insert(code.to_owned(), (name.to_owned(), cents));
        }
        CommerceLayerFake {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            token_ttl: Duration::from_secs(14_400),
            tokens: HashMap::new(),
            token_requests: 0,
            markets: BTreeMap::from([
                ("mkt_usd".to_owned(), "USD".to_owned()),
                ("mkt_eur".to_owned(), "EUR".to_owned()),
            ]),
            skus,
            orders: BTreeMap::new(),
            lines: BTreeMap::new(),
            addresses: BTreeMap::new(),
            captures: BTreeMap::new(),
            shipments: BTreeMap::new(),
            shipping_methods: BTreeMap::from([("sm_std".to_owned(), "Standard".to_owned())]),
            payment_sources: BTreeMap::new(),
            seq: 0,
            clock: Utc::now(),
            rate_limit: None,
            recent: Default::default(),
        }
    }

    pub fn with_token_ttl(mut self, ttl: Duration) -> Self {
        self.token_ttl = ttl;
        self
    }

    /// Every token issued so far stops working (as after a credential rotation).
    pub fn expire_tokens(&mut self) {
        self.tokens.clear();
    }

    pub fn token_requests(&self) -> usize {
        self.token_requests
    }

    pub fn add_sku(&mut self, code: &str, name: &str, cents: i64) {
        self.skus.insert(code.into(), (name.into(), cents));
    }

    pub fn order_count(&self) -> usize {
        self.orders.len()
    }

    /// The orders carrying ordermux's stamp `key` (their `reference`), each as its id and the quantities of its
    /// line items.
    pub fn stamped_lines(&self, key: &str) -> Vec<(String, Vec<u64>)> {
        self.with_reference(key)
            .into_iter()
            .map(|o| {
                let quantities = self
                    .lines_of(&o.id)
                    .iter()
                    .map(|l| l.quantity.unsigned_abs())
                    .collect();
                (o.id, quantities)
            })
            .collect()
    }

    pub fn with_reference(&self, reference: &str) -> Vec<FakeOrder> {
        self.orders
            .values()
            .filter(|o| o.reference.as_deref() == Some(reference))
            .cloned()
            .collect()
    }

    pub fn order(&self, id: &str) -> Option<FakeOrder> {
        self.orders.get(id).cloned()
    }

    pub fn lines_of(&self, order_id: &str) -> Vec<FakeLine> {
        self.orders
            .get(order_id)
            .map(|o| {
                o.line_items
                    .iter()
                    .filter_map(|id| self.lines.get(id).cloned())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn next_id(&mut self, prefix: &str) -> String {
        self.seq += 1;
        format!("{prefix}{:06}x", self.seq)
    }

    /// Strictly increasing timestamps, so sorting by them is deterministic.
    fn now(&mut self) -> DateTime<Utc> {
        let now = Utc::now();
        self.clock = if now > self.clock {
            now
        } else {
            self.clock + chrono::Duration::milliseconds(1)
        };
        self.clock
    }

    fn total_cents(&self, o: &FakeOrder) -> i64 {
        o.line_items
            .iter()
            .filter_map(|id| self.lines.get(id))
            .map(|l| l.unit_amount_cents * l.quantity)
            .sum()
    }

    /// Commerce Layer keeps a draft with line items and a customer email as pending, and a pending order that
    /// loses either as a draft.
    fn settle(&mut self, id: &str) {
        let Some(o) = self.orders.get(id) else { return };
        let ready = !o.line_items.is_empty() && o.customer_email.is_some();
        let status = match (o.status.as_str(), ready) {
            ("draft", true) => "pending",
            ("pending", false) => "draft",
            _ => return,
        };
        if let Some(o) = self.orders.get_mut(id) {
            o.status = status.into();
        }
    }

    fn token(&mut self, req: &FakeRequest) -> FakeResponse {
        self.token_requests += 1;
        let body = req.json().unwrap_or(Value::Null);
        let field = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or_default();
        if field("grant_type") != "client_credentials" {
            return error(
                400,
                "UNSUPPORTED_GRANT_TYPE",
                "grant_type must be client_credentials",
                None,
            );
        }
        if field("client_id") != self.client_id || field("client_secret") != self.client_secret {
            return error(401, "INVALID_CLIENT", "Client authentication failed", None);
        }
        self.seq += 1;
        let token = format!("tok-{}-{}", self.seq, uuid::Uuid::new_v4().simple());
        self.tokens
            .insert(token.clone(), Instant::now() + self.token_ttl);
        FakeResponse::json(
            200,
            &json!({
                "access_token": token,
                "token_type": "bearer",
                "expires_in": self.token_ttl.as_secs(),
                "scope": "market:all",
                "created_at": Utc::now().timestamp(),
            }),
        )
    }

    fn authorized(&self, req: &FakeRequest) -> bool {
        req.header("authorization")
            .and_then(|h| h.strip_prefix("Bearer "))
            .and_then(|t| self.tokens.get(t))
            .is_some_and(|exp| Instant::now() < *exp)
    }

    fn route(&mut self, req: &FakeRequest) -> Reply {
        if !self.authorized(req) {
            return Err(error(
                401,
                "INVALID_TOKEN",
                "The access token you provided is invalid or has expired.",
                None,
            ));
        }
        if !req.header("accept").is_some_and(|a| a.contains(JSONAPI)) {
            return Err(error(
                406,
                "NOT_ACCEPTABLE",
                "Accept must be application/vnd.api+json",
                None,
            ));
        }
        if !req.body.is_empty()
            && !req
                .header("content-type")
                .is_some_and(|c| c.starts_with(JSONAPI))
        {
            return Err(error(
                415,
                "UNSUPPORTED_MEDIA_TYPE",
                "Content-Type must be application/vnd.api+json",
                None,
            ));
        }
        let segs = req.segments_after("/api").unwrap_or_default();
        let include: Vec<String> = req
            .query("include")
            .map(|s| s.split(',').map(str::to_owned).collect())
            .unwrap_or_default();
        let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
        match (req.method.as_str(), segs.as_slice()) {
            ("GET", ["orders"]) => self.list(req, &include),
            ("POST", ["orders"]) => self.create_order(req, &include),
            ("GET", ["orders", id]) => {
                let o = self.find(id)?;
                Ok(self.order_doc(200, &o, &include))
            }
            ("PATCH", ["orders", id]) => self.patch_order(req, id, &include),
            ("DELETE", ["orders", id]) => self.delete_order(id),
            ("POST", ["line_items"]) => self.create_line(req),
            ("PATCH", ["line_items", id]) => self.patch_line(req, id),
            ("DELETE", ["line_items", id]) => self.delete_line(id),
            ("GET", ["orders", id, "captures"]) => {
                let o = self.find(id)?;
                let data: Vec<Value> = self
                    .captures
                    .values()
                    .filter(|c| c.order_id == o.id)
                    .map(|c| self.capture_resource(c, &o.currency))
                    .collect();
                let n = data.len();
                Ok(respond(
                    200,
                    &json!({"data": data, "meta": {"record_count": n, "page_count": 1}}),
                ))
            }
            ("GET", ["captures", id]) => {
                let c = self.capture(id)?;
                let o = self.find(&c.order_id)?;
                Ok(respond(
                    200,
                    &json!({"data": self.capture_resource(&c, &o.currency)}),
                ))
            }
            ("PATCH", ["captures", id]) => self.refund_capture(req, id),
            ("GET", ["orders", id, "shipments"]) => {
                let o = self.find(id)?;
                self.ensure_shipment(&o);
                Ok(self.shipment_list(&o.id, &include))
            }
            ("PATCH", ["shipments", id]) => self.patch_shipment(req, id),
            ("POST", [kind @ ("wire_transfers" | "external_payments")]) => {
                self.create_payment_source(req, kind)
            }
            ("GET", ["addresses"]) => self.list_addresses(req),
            ("POST", ["addresses"]) => self.create_address(req),
            ("PATCH", ["addresses", id]) => self.patch_address(req, id),
            ("DELETE", ["addresses", id]) => self.delete_address(id),
            ("GET", ["addresses", id]) => self.get_address(id),
            _ => Err(error(404, "NOT_FOUND", "The resource was not found", None)),
        }
    }

    fn find(&self, id: &str) -> Result<FakeOrder, FakeResponse> {
        self.orders.get(id).cloned().ok_or_else(not_found)
    }

    fn money(&self, currency: &str, cents: i64) -> String {
        Currency::parse(currency)
            .map(|c| format_amount(Money::new(cents, c)))
            .unwrap_or_default()
    }

    fn line_resource(&self, l: &FakeLine, currency: &str) -> Value {
        let total = l.unit_amount_cents * l.quantity;
        let mut attrs = json!({
            "sku_code": l.sku_code, "bundle_code": l.bundle_code, "quantity": l.quantity, "name": l.name,
            "currency_code": currency,
            "unit_amount_cents": l.unit_amount_cents, "formatted_unit_amount": self.money(currency, l.unit_amount_cents),
            "total_amount_cents": total, "formatted_total_amount": self.money(currency, total),
            "tax_amount_cents": 0, "discount_cents": 0,
            "image_url": l.image_url, "metadata": l.metadata,
        });
        if l.sku_code.is_some() {
            attrs["item_type"] = json!("skus");
        } else if l.bundle_code.is_some() {
            attrs["item_type"] = json!("bundles");
        }
        json!({"type": "line_items", "id": l.id, "attributes": attrs,
               "relationships": {"order": {"data": {"type": "orders", "id": l.order_id}}}})
    }

    /// The order resource and what `include` asks for.
    fn order_resource(&self, o: &FakeOrder, include: &[String]) -> (Value, Vec<Value>) {
        let total = self.total_cents(o);
        let cur = o.currency.as_str();
        let opt_time = |t: &Option<DateTime<Utc>>| t.as_ref().map(iso);
        let attrs = json!({
            "number": o.number, "status": o.status, "payment_status": o.payment_status,
            "fulfillment_status": o.fulfillment_status, "guest": o.guest,
            "customer_email": o.customer_email, "language_code": o.language_code,
            "currency_code": cur, "tax_included": false, "coupon_code": o.coupon_code,
            "subtotal_amount_cents": total, "formatted_subtotal_amount": self.money(cur, total),
            "shipping_amount_cents": 0, "payment_method_amount_cents": 0, "discount_amount_cents": 0,
            "adjustment_amount_cents": 0, "total_tax_amount_cents": 0, "shipping_tax_amount_cents": 0,
            "total_amount_cents": total, "formatted_total_amount": self.money(cur, total),
            "total_amount_with_taxes_cents": total, "formatted_total_amount_with_taxes": self.money(cur, total),
            "skus_count": o.line_items.len(),
            "placed_at": opt_time(&o.placed_at), "approved_at": opt_time(&o.approved_at),
            "cancelled_at": opt_time(&o.cancelled_at),
            "created_at": iso(&o.created_at), "updated_at": iso(&o.updated_at),
            "reference": o.reference, "reference_origin": o.reference_origin,
            "metadata": o.metadata, "token": o.token,
        });
        let wants = |n: &str| include.iter().any(|i| i == n);
        let link = |name: &str| {
            json!({"links": {"self": format!("/api/orders/{}/relationships/{name}", o.id),
                             "related": format!("/api/orders/{}/{name}", o.id)}})
        };
        let mut rels = Map::new();
        let mut included = Vec::new();
        let mut rel = |name: &str, data: Value| {
            let mut r = link(name);
            if wants(name) {
                r["data"] = data;
            }
            rels.insert(name.into(), r);
        };
        rel("market", json!({"type": "markets", "id": o.market_id}));
        rel("customer", Value::Null);
        let addr = |id: &Option<String>| {
            id.as_ref()
                .map(|id| json!({"type": "addresses", "id": id}))
                .unwrap_or(Value::Null)
        };
        rel("billing_address", addr(&o.billing_address));
        rel("shipping_address", addr(&o.shipping_address));
        rel(
            "line_items",
            Value::Array(
                o.line_items
                    .iter()
                    .map(|id| json!({"type": "line_items", "id": id}))
                    .collect(),
            ),
        );
        let captures: Vec<&FakeCapture> = self
            .captures
            .values()
            .filter(|c| c.order_id == o.id)
            .collect();
        rel(
            "captures",
            Value::Array(
                captures
                    .iter()
                    .map(|c| json!({"type": "captures", "id": c.id}))
                    .collect(),
            ),
        );
        if wants("captures") {
            included.extend(captures.iter().map(|c| self.capture_resource(c, cur)));
        }
        let method_ref = |id: &str| json!({"type": "payment_methods", "id": id});
        rel(
            "available_payment_methods",
            Value::Array(
                PAYMENT_METHODS
                    .iter()
                    .map(|(id, _, _)| method_ref(id))
                    .collect(),
            ),
        );
        rel(
            "payment_method",
            o.payment_method
                .as_deref()
                .map(method_ref)
                .unwrap_or(Value::Null),
        );
        rel(
            "payment_source",
            o.payment_source
                .as_ref()
                .map(|(ty, id)| json!({"type": ty, "id": id}))
                .unwrap_or(Value::Null),
        );
        for (id, name, ty) in PAYMENT_METHODS {
            let listed = wants("available_payment_methods")
                || (wants("payment_method") && o.payment_method.as_deref() == Some(*id));
            if listed {
                included.push(json!({"type": "payment_methods", "id": id,
                    "attributes": {"name": name, "payment_source_type": ty, "price_amount_cents": 0}}));
            }
        }
        if wants("market") {
            included.push(json!({"type": "markets", "id": o.market_id,
                "attributes": {"name": format!("Market {cur}"), "code": o.market_id, "currency_code": cur}}));
        }
        let mut seen_addresses = Vec::new();
        for (name, id) in [
            ("billing_address", &o.billing_address),
            ("shipping_address", &o.shipping_address),
        ] {
            if let (true, Some(id)) = (wants(name), id) {
                if seen_addresses.contains(id) {
                    continue;
                }
                seen_addresses.push(id.clone());
                if let Some(a) = self.addresses.get(id) {
                    included.push(json!({"type": "addresses", "id": id, "attributes": a}));
                }
            }
        }
        if wants("line_items") {
            for id in &o.line_items {
                if let Some(l) = self.lines.get(id) {
                    included.push(self.line_resource(l, cur));
                }
            }
        }
        (
            json!({"type": "orders", "id": o.id, "attributes": attrs, "relationships": rels,
                   "links": {"self": format!("/api/orders/{}", o.id)}}),
            included,
        )
    }

    fn order_doc(&self, status: u16, o: &FakeOrder, include: &[String]) -> FakeResponse {
        let (data, included) = self.order_resource(o, include);
        let mut doc = json!({"data": data});
        if !included.is_empty() {
            doc["included"] = Value::Array(included);
        }
        respond(status, &doc)
    }

    fn list(&self, req: &FakeRequest, include: &[String]) -> Reply {
        let mut orders: Vec<&FakeOrder> = self.orders.values().collect();
        for (key, value) in &req.query {
            let Some(pred) = key
                .strip_prefix("filter[q][")
                .and_then(|k| k.strip_suffix(']'))
            else {
                continue;
            };
            let keep = self.predicate(pred, value)?;
            orders.retain(|o| keep(self, o));
        }
        let sort = req.query("sort").unwrap_or("created_at");
        let (desc, field) = match sort.strip_prefix('-') {
            Some(f) => (true, f),
            None => (false, sort),
        };
        match field {
            "created_at" => orders.sort_by_key(|o| o.created_at),
            "updated_at" => orders.sort_by_key(|o| o.updated_at),
            "number" => orders.sort_by_key(|o| o.number.parse::<u64>().unwrap_or(0)),
            "total_amount_cents" => orders.sort_by_key(|o| self.total_cents(o)),
            "status" => orders.sort_by(|a, b| a.status.cmp(&b.status)),
            _ => {
                return Err(error(
                    400,
                    "INVALID_SORT_FIELD",
                    &format!("{field} is not a valid sort field"),
                    None,
                ))
            }
        }
        if desc {
            orders.reverse();
        }
        let number = req
            .query("page[number]")
            .map_or(Ok(1), str::parse::<usize>)
            .map_err(|_| error(400, "BAD_REQUEST", "page[number] must be a number", None))?
            .max(1);
        let size = page_size(req)?;
        let count = orders.len();
        let mut data = Vec::new();
        let mut included: Vec<Value> = Vec::new();
        for o in orders.into_iter().skip((number - 1) * size).take(size) {
            let (resource, inc) = self.order_resource(o, include);
            data.push(resource);
            for r in inc {
                if !included.contains(&r) {
                    included.push(r);
                }
            }
        }
        let mut doc = json!({"data": data, "meta": {"record_count": count, "page_count": count.div_ceil(size)}});
        if !included.is_empty() {
            doc["included"] = Value::Array(included);
        }
        Ok(respond(200, &doc))
    }

    #[allow(clippy::type_complexity)]
    fn predicate(
        &self,
        pred: &str,
        value: &str,
    ) -> Result<Box<dyn Fn(&Self, &FakeOrder) -> bool>, FakeResponse> {
        let v = value.to_owned();
        let time = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| error(400, "BAD_REQUEST", "not a date", None))
        };
        let list: Vec<String> = value.split(',').map(str::to_owned).collect();
        Ok(match pred {
            "status_eq" => Box::new(move |_, o| o.status == v),
            "status_in" => Box::new(move |_, o| list.contains(&o.status)),
            "payment_status_eq" => Box::new(move |_, o| o.payment_status == v),
            "payment_status_in" => Box::new(move |_, o| list.contains(&o.payment_status)),
            "fulfillment_status_eq" => Box::new(move |_, o| o.fulfillment_status == v),
            "fulfillment_status_in" => Box::new(move |_, o| list.contains(&o.fulfillment_status)),
            "customer_email_eq" => {
                Box::new(move |_, o| o.customer_email.as_deref() == Some(v.as_str()))
            }
            "reference_eq" => Box::new(move |_, o| o.reference.as_deref() == Some(v.as_str())),
            "number_eq" => Box::new(move |_, o| o.number == v),
            "currency_code_eq" => Box::new(move |_, o| o.currency == v),
            "customer_id_eq" => Box::new(|_, _| false),
            "number_or_customer_email_cont" => Box::new(move |_, o| {
                o.number.contains(&v) || o.customer_email.as_deref().is_some_and(|e| e.contains(&v))
            }),
            "created_at_gteq" => {
                let t = time(value)?;
                Box::new(move |_, o| o.created_at >= t)
            }
            "created_at_lteq" => {
                let t = time(value)?;
                Box::new(move |_, o| o.created_at <= t)
            }
            "updated_at_gteq" => {
                let t = time(value)?;
                Box::new(move |_, o| o.updated_at >= t)
            }
            "updated_at_lteq" => {
                let t = time(value)?;
                Box::new(move |_, o| o.updated_at <= t)
            }
            "total_amount_cents_gteq" | "total_amount_cents_lteq" => {
                let n: i64 = value
                    .parse()
                    .map_err(|_| error(400, "BAD_REQUEST", "not a number", None))?;
                if pred.ends_with("gteq") {
                    Box::new(move |s, o| s.total_cents(o) >= n)
                } else {
                    Box::new(move |s, o| s.total_cents(o) <= n)
                }
            }
            _ => {
                return Err(error(
                    400,
                    "FILTER_NOT_ALLOWED",
                    &format!("filter {pred} is not allowed"),
                    None,
                ))
            }
        })
    }

    fn create_order(&mut self, req: &FakeRequest, include: &[String]) -> Reply {
        let data = data_of(req, "orders")?;
        let attrs = attributes(
            &data,
            &[
                "customer_email",
                "language_code",
                "reference",
                "reference_origin",
                "metadata",
                "guest",
                "coupon_code",
            ],
        )?;
        let market_id = to_one(&data, "market")
            .flatten()
            .ok_or_else(|| invalid("market - can't be blank", "/data/relationships/market"))?;
        let currency = self
            .markets
            .get(&market_id)
            .cloned()
            .ok_or_else(|| invalid("market - not found", "/data/relationships/market"))?;
        let now = self.now();
        let id = self.next_id("ord");
        let number = (10_000 + self.seq).to_string();
        let mut order = FakeOrder {
            id: id.clone(),
            number,
            market_id,
            currency,
            status: "draft".into(),
            payment_status: "unpaid".into(),
            fulfillment_status: "unfulfilled".into(),
            customer_email: None,
            language_code: None,
            reference: None,
            reference_origin: None,
            metadata: json!({}),
            guest: false,
            coupon_code: None,
            line_items: Vec::new(),
            billing_address: None,
            shipping_address: None,
            created_at: now,
            updated_at: now,
            placed_at: None,
            approved_at: None,
            cancelled_at: None,
            token: uuid::Uuid::new_v4().simple().to_string(),
            payment_method: None,
            payment_source: None,
        };
        apply_attributes(&mut order, &attrs)?;
        self.orders.insert(id.clone(), order);
        self.settle(&id);
        let order = self.find(&id)?;
        Ok(self.order_doc(201, &order, include))
    }

    fn patch_order(&mut self, req: &FakeRequest, id: &str, include: &[String]) -> Reply {
        let mut order = self.find(id)?;
        let data = data_of(req, "orders")?;
        let mut allowed = vec![
            "customer_email",
            "language_code",
            "reference",
            "reference_origin",
            "metadata",
            "guest",
            "coupon_code",
        ];
        allowed.extend_from_slice(TRIGGERS);
        let attrs = attributes(&data, &allowed)?;
        apply_attributes(&mut order, &attrs)?;
        for name in ["billing_address", "shipping_address"] {
            if let Some(link) = to_one(&data, name) {
                if let Some(aid) = &link {
                    if !self.addresses.contains_key(aid) {
                        return Err(invalid(
                            &format!("{name} - not found"),
                            &format!("/data/relationships/{name}"),
                        ));
                    }
                }
                if name == "billing_address" {
                    order.billing_address = link;
                } else {
                    order.shipping_address = link;
                }
            }
        }
        if let Some(link) = to_one(&data, "payment_method") {
            if let Some(pm) = &link {
                if !PAYMENT_METHODS.iter().any(|(id, _, _)| id == pm) {
                    return Err(invalid(
                        "payment_method - not found",
                        "/data/relationships/payment_method",
                    ));
                }
            }
            if order.payment_method != link {
                // Another method: the source made for the old one no longer pays.
                order.payment_source = None;
            }
            order.payment_method = link;
        }
        self.ensure_shipment(&order);
        let now = self.now();
        let mut fired = Vec::new();
        for trigger in TRIGGERS {
            if attrs.get(*trigger) == Some(&Value::Bool(true)) {
                self.fire(&mut order, trigger, now)?;
                fired.push(*trigger);
            }
        }
        for trigger in fired {
            match trigger {
                "_capture" | "_approve_and_capture" => {
                    let id = self.next_id("cap");
                    let amount = self.total_cents(&order);
                    self.captures.insert(
                        id.clone(),
                        FakeCapture {
                            id,
                            order_id: order.id.clone(),
                            amount_cents: amount,
                            refund_balance_cents: amount,
                            created_at: now,
                        },
                    );
                }
                // The order's `_refund` refunds what its captures have left.
                "_refund" => {
                    for c in self.captures.values_mut() {
                        if c.order_id == order.id {
                            c.refund_balance_cents = 0;
                        }
                    }
                }
                _ => {}
            }
        }
        order.updated_at = now;
        self.orders.insert(order.id.clone(), order.clone());
        self.settle(&order.id);
        let order = self.find(&order.id)?;
        Ok(self.order_doc(200, &order, include))
    }

    /// Commerce Layer makes an order's shipment once it has SKU lines and a shipping address.
    fn ensure_shipment(&mut self, o: &FakeOrder) {
        let shippable = o.shipping_address.is_some()
            && o.line_items
                .iter()
                .any(|l| self.lines.get(l).is_some_and(|l| l.sku_code.is_some()));
        if !shippable || self.shipments.values().any(|sh| sh.order_id == o.id) {
            return;
        }
        let id = self.next_id("shp");
        self.shipments.insert(
            id.clone(),
            FakeShipment {
                id,
                order_id: o.id.clone(),
                shipping_method: None,
            },
        );
    }

    fn shipping_method_resource(&self, id: &str) -> Value {
        json!({"type": "shipping_methods", "id": id, "attributes": {
            "name": self.shipping_methods.get(id), "price_amount_cents": 0}})
    }

    fn shipment_list(&self, order_id: &str, include: &[String]) -> FakeResponse {
        let mut data = Vec::new();
        let mut included: Vec<Value> = Vec::new();
        for sh in self.shipments.values().filter(|sh| sh.order_id == order_id) {
            let method = sh
                .shipping_method
                .as_ref()
                .map(|m| json!({"type": "shipping_methods", "id": m}))
                .unwrap_or(Value::Null);
            let available: Vec<Value> = self
                .shipping_methods
                .keys()
                .map(|m| json!({"type": "shipping_methods", "id": m}))
                .collect();
            data.push(
                json!({"type": "shipments", "id": sh.id, "attributes": {"status": "draft"},
                "relationships": {"shipping_method": {"data": method},
                                  "available_shipping_methods": {"data": available}}}),
            );
            if include.iter().any(|i| i == "available_shipping_methods") {
                for m in self.shipping_methods.keys() {
                    if !included.iter().any(|r| r["id"] == json!(m)) {
                        included.push(self.shipping_method_resource(m));
                    }
                }
            }
        }
        let n = data.len();
        respond(
            200,
            &json!({"data": data, "included": included, "meta": {"record_count": n, "page_count": 1}}),
        )
    }

    fn patch_shipment(&mut self, req: &FakeRequest, id: &str) -> Reply {
        let data = data_of(req, "shipments")?;
        let mut sh = self
            .shipments
            .get(id)
            .cloned()
            .ok_or_else(|| error(404, "NOT_FOUND", "The resource was not found", None))?;
        if let Some(link) = to_one(&data, "shipping_method") {
            if let Some(m) = &link {
                if !self.shipping_methods.contains_key(m) {
                    return Err(invalid(
                        "shipping_method - not found",
                        "/data/relationships/shipping_method",
                    ));
                }
            }
            sh.shipping_method = link;
        }
        self.shipments.insert(sh.id.clone(), sh.clone());
        Ok(respond(
            200,
            &json!({"data": {"type": "shipments", "id": sh.id, "attributes": {"status": "draft"}}}),
        ))
    }

    /// `POST /api/wire_transfers` or `/api/external_payments` for an order: its payment source, which must match
    /// the type of the order's payment method.
    fn create_payment_source(&mut self, req: &FakeRequest, kind: &str) -> Reply {
        let data = data_of(req, kind)?;
        let allowed: &[&str] = if kind == "external_payments" {
            &["payment_source_token", "metadata", "reference"]
        } else {
            &["metadata", "reference"]
        };
        let attrs = attributes(&data, allowed)?;
        if kind == "external_payments" && attrs.get("payment_source_token").is_none() {
            return Err(invalid(
                "payment_source_token - can't be blank",
                "/data/attributes/payment_source_token",
            ));
        }
        let Some(Some(order_id)) = to_one(&data, "order") else {
            return Err(invalid(
                "order - can't be blank",
                "/data/relationships/order",
            ));
        };
        let mut order = self.find(&order_id)?;
        let method_type = order.payment_method.as_ref().and_then(|pm| {
            PAYMENT_METHODS
                .iter()
                .find(|(id, _, _)| id == pm)
                .map(|(_, _, ty)| *ty)
        });
        if method_type != Some(kind) {
            return Err(invalid(
                "order - payment source type must match the order's payment method",
                "/data/relationships/order",
            ));
        }
        let id = self.next_id("src");
        self.payment_sources
            .insert(id.clone(), (kind.to_owned(), order.id.clone()));
        order.payment_source = Some((kind.to_owned(), id.clone()));
        self.orders.insert(order.id.clone(), order);
        Ok(respond(
            201,
            &json!({"data": {"type": kind, "id": id, "attributes": attrs,
                "relationships": {"order": {"data": {"type": "orders", "id": order_id}}}}}),
        ))
    }

    fn capture(&self, id: &str) -> Result<FakeCapture, FakeResponse> {
        self.captures
            .get(id)
            .cloned()
            .ok_or_else(|| error(404, "NOT_FOUND", "The resource was not found", None))
    }

    fn capture_resource(&self, c: &FakeCapture, currency: &str) -> Value {
        let refunded = c.amount_cents - c.refund_balance_cents;
        json!({"type": "captures", "id": c.id, "attributes": {
            "number": format!("{}/T/{}", c.order_id, c.id), "currency_code": currency,
            "amount_cents": c.amount_cents, "formatted_amount": self.money(currency, c.amount_cents),
            "succeeded": true,
            "refund_amount_cents": refunded, "formatted_refund_amount": self.money(currency, refunded),
            "refund_balance_cents": c.refund_balance_cents,
            "formatted_refund_balance": self.money(currency, c.refund_balance_cents),
            "created_at": iso(&c.created_at), "updated_at": iso(&c.created_at),
        }})
    }

    /// `PATCH /api/captures/{id}` with `_refund` (and `_refund_amount_cents`, the whole balance when absent): a
    /// refund of that much, leaving the order `partially_refunded` until nothing is left.
    fn refund_capture(&mut self, req: &FakeRequest, id: &str) -> Reply {
        let mut capture = self.capture(id)?;
        let data = data_of(req, "captures")?;
        let attrs = attributes(
            &data,
            &["_refund", "_refund_amount_cents", "reference", "metadata"],
        )?;
        if attrs.get("_refund") != Some(&Value::Bool(true)) {
            return Err(invalid(
                "_refund - must be true to refund",
                "/data/attributes/_refund",
            ));
        }
        let amount = match attrs.get("_refund_amount_cents") {
            None => capture.refund_balance_cents,
            Some(v) => v.as_i64().ok_or_else(|| {
                invalid(
                    "_refund_amount_cents - is not a number",
                    "/data/attributes/_refund_amount_cents",
                )
            })?,
        };
        if amount <= 0 || amount > capture.refund_balance_cents {
            return Err(invalid(
                &format!(
                    "_refund_amount_cents - must be between 1 and {}",
                    capture.refund_balance_cents
                ),
                "/data/attributes/_refund_amount_cents",
            ));
        }
        let now = self.now();
        capture.refund_balance_cents -= amount;
        let mut order = self.find(&capture.order_id)?;
        order.payment_status = if capture.refund_balance_cents == 0
            && self.captures.values().all(|c| {
                c.order_id != order.id || c.id == capture.id || c.refund_balance_cents == 0
            }) {
            "refunded".into()
        } else {
            "partially_refunded".into()
        };
        order.updated_at = now;
        let currency = order.currency.clone();
        self.orders.insert(order.id.clone(), order);
        self.captures.insert(capture.id.clone(), capture.clone());
        Ok(respond(
            200,
            &json!({"data": self.capture_resource(&capture, &currency)}),
        ))
    }

    /// Commerce Layer's order state machine for the triggers the fake knows.
    fn fire(
        &self,
        o: &mut FakeOrder,
        trigger: &str,
        now: DateTime<Utc>,
    ) -> Result<(), FakeResponse> {
        let refuse = || {
            invalid(
                &format!(
                    "{trigger} - cannot be applied to an order that is {} / {} / {}",
                    o.status, o.payment_status, o.fulfillment_status
                ),
                &format!("/data/attributes/{trigger}"),
            )
        };
        let open = matches!(o.status.as_str(), "placed" | "approved");
        match trigger {
            "_pending" if o.status == "draft" => o.status = "pending".into(),
            "_place" if matches!(o.status.as_str(), "draft" | "pending") => {
                let unshipped = self
                    .shipments
                    .values()
                    .any(|sh| sh.order_id == o.id && sh.shipping_method.is_none());
                let unpaid = self.total_cents(o) > 0;
                let blank = [
                    (o.line_items.is_empty(), "line_items", "relationships"),
                    (o.customer_email.is_none(), "customer_email", "attributes"),
                    (
                        o.billing_address.is_none(),
                        "billing_address",
                        "relationships",
                    ),
                    (
                        o.shipping_address.is_none(),
                        "shipping_address",
                        "relationships",
                    ),
                    (unshipped, "shipments", "relationships"),
                    (
                        unpaid && o.payment_method.is_none(),
                        "payment_method",
                        "relationships",
                    ),
                    (
                        unpaid && o.payment_source.is_none(),
                        "payment_source",
                        "relationships",
                    ),
                ];
                if let Some((_, name, member)) = blank.iter().find(|(missing, ..)| *missing) {
                    return Err(invalid(
                        &format!("{name} - can't be blank"),
                        &format!("/data/{member}/{name}"),
                    ));
                }
                o.status = "placed".into();
                o.placed_at = Some(now);
                if self.total_cents(o) == 0 {
                    o.payment_status = "free".into();
                }
            }
            "_authorize" if open && o.payment_status == "unpaid" => {
                o.payment_status = "authorized".into()
            }
            "_approve" if o.status == "placed" => {
                o.status = "approved".into();
                o.approved_at = Some(now);
            }
            "_approve_and_capture" if o.status == "placed" && o.payment_status == "authorized" => {
                o.status = "approved".into();
                o.approved_at = Some(now);
                o.payment_status = "paid".into();
            }
            "_capture" if open && o.payment_status == "authorized" => {
                o.payment_status = "paid".into()
            }
            "_refund" if matches!(o.payment_status.as_str(), "paid" | "partially_refunded") => {
                o.payment_status = "refunded".into()
            }
            "_fulfill" if o.status == "approved" && o.fulfillment_status != "fulfilled" => {
                o.fulfillment_status = "fulfilled".into()
            }
            "_cancel" if open && o.fulfillment_status != "fulfilled" => {
                o.status = "cancelled".into();
                o.cancelled_at = Some(now);
                if o.payment_status == "authorized" {
                    o.payment_status = "voided".into();
                }
            }
            _ => return Err(refuse()),
        }
        Ok(())
    }

    fn delete_order(&mut self, id: &str) -> Reply {
        let order = self.find(id)?;
        if !matches!(order.status.as_str(), "draft" | "pending") {
            return Err(error(
                422,
                "VALIDATION_ERROR",
                "order - cannot be deleted unless draft or pending",
                None,
            ));
        }
        for l in &order.line_items {
            self.lines.remove(l);
        }
        self.orders.remove(id);
        Ok(FakeResponse::empty(204))
    }

    /// The order a line item belongs to, if it can still be edited (draft or pending).
    fn editable(&self, order_id: &str) -> Result<FakeOrder, FakeResponse> {
        let order = self
            .orders
            .get(order_id)
            .cloned()
            .ok_or_else(|| invalid("order - not found", "/data/relationships/order"))?;
        if !matches!(order.status.as_str(), "draft" | "pending") {
            return Err(invalid(
                &format!("order - cannot be modified when {}", order.status),
                "/data/relationships/order",
            ));
        }
        Ok(order)
    }

    fn create_line(&mut self, req: &FakeRequest) -> Reply {
        let data = data_of(req, "line_items")?;
        let attrs = attributes(
            &data,
            &[
                "sku_code",
                "bundle_code",
                "quantity",
                "name",
                "image_url",
                "metadata",
                "unit_amount_cents",
                "_external_price",
                "item_type",
                "reference",
                "reference_origin",
                "_update_quantity",
                "_reserve_stock",
            ],
        )?;
        let order_id = to_one(&data, "order")
            .flatten()
            .ok_or_else(|| invalid("order - can't be blank", "/data/relationships/order"))?;
        let mut order = self.editable(&order_id)?;
        let quantity = attrs
            .get("quantity")
            .and_then(Value::as_i64)
            .filter(|q| *q >= 1)
            .ok_or_else(|| {
                invalid(
                    "quantity - must be greater than 0",
                    "/data/attributes/quantity",
                )
            })?;
        let sku_code = opt_str(&attrs, "sku_code")?.flatten();
        let bundle_code = opt_str(&attrs, "bundle_code")?.flatten();
        let external = attrs.get("_external_price") == Some(&Value::Bool(true));
        let sent_price = attrs.get("unit_amount_cents").and_then(Value::as_i64);
        let mut name = opt_str(&attrs, "name")?.flatten();
        let price = match &sku_code {
            Some(code) => {
                let (sku_name, list_price) =
                    self.skus.get(code).cloned().ok_or_else(|| {
                        invalid("sku_code - is invalid", "/data/attributes/sku_code")
                    })?;
                name.get_or_insert(sku_name);
                if external {
                    sent_price.unwrap_or(list_price)
                } else {
                    list_price
                }
            }
            None if bundle_code.is_some() => {
                return Err(invalid(
                    "bundle_code - is invalid",
                    "/data/attributes/bundle_code",
                ))
            }
            None => sent_price.ok_or_else(|| {
                invalid(
                    "unit_amount_cents - can't be blank",
                    "/data/attributes/unit_amount_cents",
                )
            })?,
        };
        let id = self.next_id("li");
        let line = FakeLine {
            id: id.clone(),
            order_id: order_id.clone(),
            sku_code,
            bundle_code,
            name,
            quantity,
            unit_amount_cents: price,
            image_url: opt_str(&attrs, "image_url")?.flatten(),
            metadata: attrs.get("metadata").cloned().unwrap_or_else(|| json!({})),
        };
        order.line_items.push(id.clone());
        order.updated_at = self.now();
        let currency = order.currency.clone();
        self.orders.insert(order_id.clone(), order);
        self.settle(&order_id);
        let body = json!({"data": self.line_resource(&line, &currency)});
        self.lines.insert(id, line);
        Ok(respond(201, &body))
    }

    fn patch_line(&mut self, req: &FakeRequest, id: &str) -> Reply {
        let mut line = self.lines.get(id).cloned().ok_or_else(not_found)?;
        let order = self.editable(&line.order_id)?;
        let data = data_of(req, "line_items")?;
        let attrs = attributes(
            &data,
            &[
                "quantity",
                "name",
                "image_url",
                "metadata",
                "unit_amount_cents",
                "_external_price",
                "reference",
                "reference_origin",
            ],
        )?;
        if let Some(q) = attrs.get("quantity") {
            line.quantity = q.as_i64().filter(|q| *q >= 1).ok_or_else(|| {
                invalid(
                    "quantity - must be greater than 0",
                    "/data/attributes/quantity",
                )
            })?;
        }
        if let Some(n) = opt_str(&attrs, "name")? {
            line.name = n;
        }
        if let Some(u) = opt_str(&attrs, "image_url")? {
            line.image_url = u;
        }
        if let Some(m) = attrs.get("metadata") {
            line.metadata = m.clone();
        }
        if let Some(p) = attrs.get("unit_amount_cents").and_then(Value::as_i64) {
            line.unit_amount_cents = p;
        }
        let body = json!({"data": self.line_resource(&line, &order.currency)});
        self.lines.insert(id.to_owned(), line);
        let now = self.now();
        if let Some(o) = self.orders.get_mut(&order.id) {
            o.updated_at = now;
        }
        Ok(respond(200, &body))
    }

    fn delete_line(&mut self, id: &str) -> Reply {
        let line = self.lines.get(id).cloned().ok_or_else(not_found)?;
        self.editable(&line.order_id)?;
        self.lines.remove(id);
        let now = self.now();
        if let Some(o) = self.orders.get_mut(&line.order_id) {
            o.line_items.retain(|l| l != id);
            o.updated_at = now;
        }
        self.settle(&line.order_id);
        Ok(FakeResponse::empty(204))
    }

    fn create_address(&mut self, req: &FakeRequest) -> Reply {
        let body = req
            .json()
            .ok_or_else(|| error(400, "BAD_REQUEST", "body is not JSON", None))?;
        // Commerce Layer's own rules for an address, as the codec implements them.
        decode_address_create(body.clone()).map_err(|p| {
            let code = if p.kind == ordermux::canonical::ProblemKind::TypeConflict {
                409
            } else {
                422
            };
            error(code, "VALIDATION_ERROR", &p.reason, Some(&p.pointer))
        })?;
        let mut attrs = body["data"]["attributes"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        if let Some(Value::String(c)) = attrs.get_mut("country_code") {
            c.make_ascii_uppercase();
        }
        let id = self.next_id("adr");
        self.addresses.insert(id.clone(), attrs.clone());
        Ok(respond(
            201,
            &json!({"data": {"type": "addresses", "id": id, "attributes": attrs}}),
        ))
    }

    /// `GET /api/addresses`: filtered by `reference_eq` (the one predicate ordermux sends; others are refused, so
    /// a new one shows), in creation order, one page of up to 25.
    fn list_addresses(&self, req: &FakeRequest) -> Reply {
        let mut found: Vec<(&String, &Map<String, Value>)> = self.addresses.iter().collect();
        for (key, value) in &req.query {
            match key.as_str() {
                "filter[q][reference_eq]" => found.retain(|(_, a)| {
                    a.get("reference").and_then(Value::as_str) == Some(value.as_str())
                }),
                "sort" if value == "created_at" => {}
                "page[size]" => {}
                _ => {
                    return Err(error(
                        400,
                        "INVALID_FILTER",
                        &format!("{key} is not supported by this fake"),
                        None,
                    ))
                }
            }
        }
        let size = page_size(req)?;
        let data: Vec<Value> = found
            .iter()
            .take(size)
            .map(|(id, a)| json!({"type": "addresses", "id": id, "attributes": a}))
            .collect();
        let n = data.len();
        Ok(respond(
            200,
            &json!({"data": data, "meta": {"record_count": n, "page_count": 1}}),
        ))
    }

    /// An address no order links to any more; one an order still names is refused.
    /// `GET /api/addresses/{id}`.
    fn get_address(&self, id: &str) -> Reply {
        let attrs = self.addresses.get(id).ok_or_else(not_found)?;
        Ok(respond(
            200,
            &json!({"data": {"type": "addresses", "id": id, "attributes": attrs}}),
        ))
    }

    fn delete_address(&mut self, id: &str) -> Reply {
        if !self.addresses.contains_key(id) {
            return Err(not_found());
        }
        let linked = self.orders.values().any(|o| {
            o.billing_address.as_deref() == Some(id) || o.shipping_address.as_deref() == Some(id)
        });
        if linked {
            return Err(error(
                422,
                "VALIDATION_ERROR",
                "address - is still linked to an order",
                None,
            ));
        }
        self.addresses.remove(id);
        Ok(FakeResponse::empty(204))
    }

    fn patch_address(&mut self, req: &FakeRequest, id: &str) -> Reply {
        let data = data_of(req, "addresses")?;
        let attrs = attributes(
            &data,
            &[
                "business",
                "first_name",
                "last_name",
                "company",
                "line_1",
                "line_2",
                "city",
                "zip_code",
                "state_code",
                "country_code",
                "phone",
                "email",
                "notes",
                "billing_info",
                "metadata",
            ],
        )?;
        let stored = self.addresses.get_mut(id).ok_or_else(not_found)?;
        for (k, v) in attrs {
            if v.is_null() {
                stored.remove(&k);
            } else {
                stored.insert(k, v);
            }
        }
        let attrs = stored.clone();
        Ok(respond(
            200,
            &json!({"data": {"type": "addresses", "id": id, "attributes": attrs}}),
        ))
    }
}

/// `page[size]`: 10 when absent, at most 25, as Commerce Layer's.
fn page_size(req: &FakeRequest) -> Result<usize, FakeResponse> {
    let size = req
        .query("page[size]")
        .map_or(Ok(10), str::parse::<usize>)
        .map_err(|_| error(400, "BAD_REQUEST", "page[size] must be a number", None))?;
    if size == 0 || size > MAX_PAGE_SIZE {
        return Err(error(
            400,
            "PAGE_SIZE_INVALID",
            "page[size] must be between 1 and 25",
            None,
        ));
    }
    Ok(size)
}

fn apply_attributes(order: &mut FakeOrder, attrs: &Map<String, Value>) -> Result<(), FakeResponse> {
    if let Some(v) = opt_str(attrs, "customer_email")? {
        order.customer_email = v;
    }
    if let Some(v) = opt_str(attrs, "language_code")? {
        order.language_code = v;
    }
    if let Some(v) = opt_str(attrs, "reference")? {
        order.reference = v;
    }
    if let Some(v) = opt_str(attrs, "reference_origin")? {
        order.reference_origin = v;
    }
    if let Some(v) = opt_str(attrs, "coupon_code")? {
        order.coupon_code = v;
    }
    if let Some(m) = attrs.get("metadata") {
        order.metadata = if m.is_null() { json!({}) } else { m.clone() };
    }
    if let Some(g) = attrs.get("guest").and_then(Value::as_bool) {
        order.guest = g;
    }
    Ok(())
}

impl CommerceLayerFake {
    /// At most `limit` `/api` requests in any `interval` (whole seconds), as Commerce Layer's sliding windows: every
    /// reply says the limit, the interval and what is left (`X-Ratelimit-*`); past it, 429 with `Retry-After`.
    pub fn with_rate_limit(mut self, limit: usize, interval: Duration) -> Self {
        self.rate_limit = Some((limit, interval));
        self
    }

    /// Counts a request against the sliding window: the headers to answer with, or the 429 when it is spent.
    fn rate(&mut self) -> Result<Vec<(String, String)>, FakeResponse> {
        let Some((limit, interval)) = self.rate_limit else {
            return Ok(Vec::new());
        };
        let now = Instant::now();
        while self
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= interval)
        {
            self.recent.pop_front();
        }
        let headers = |remaining: usize| {
            vec![
                ("x-ratelimit-limit".to_owned(), limit.to_string()),
                (
                    "x-ratelimit-interval".to_owned(),
                    interval.as_secs().to_string(),
                ),
                ("x-ratelimit-remaining".to_owned(), remaining.to_string()),
            ]
        };
        if self.recent.len() >= limit {
            let mut refused = error(429, "TOO_MANY_REQUESTS", "Too many requests", None);
            refused.headers.extend(headers(0));
            refused
                .headers
                .push(("retry-after".to_owned(), interval.as_secs().to_string()));
            return Err(refused);
        }
        self.recent.push_back(now);
        Ok(headers(limit - self.recent.len()))
    }
}

impl FakePlatform for CommerceLayerFake {
    fn handle(&mut self, req: &FakeRequest) -> FakeResponse {
        if req.path == "/oauth/token" && req.method == "POST" {
            return self.token(req);
        }
        if !req.path.starts_with("/api/") {
            return error(404, "NOT_FOUND", "The resource was not found", None);
        }
        let rate = match self.rate() {
            Ok(headers) => headers,
            Err(refused) => return refused,
        };
        let mut reply = match self.route(req) {
            Ok(r) | Err(r) => r,
        };
        reply.headers.extend(rate);
        reply
    }

    fn error_body(&self, status: u16, message: &str) -> Value {
        let code = match status {
            429 => "TOO_MANY_REQUESTS",
            500 => "INTERNAL_SERVER_ERROR",
            503 => "SERVICE_UNAVAILABLE",
            422 => "VALIDATION_ERROR",
            _ => "ERROR",
        };
        json!({"errors": [{"title": message, "detail": message, "code": code, "status": status.to_string()}]})
    }
}
