//! A stateful fake of BigCommerce's REST v2 order API (`/stores/{store_hash}/v2`), after
//! `specs/bigcommerce/orders.v2.oas2.yml`:
//!
//! - `GET|POST /orders`, `GET /orders/count`, `GET|PUT|DELETE /orders/{id}`, and the sub-resources
//!   `GET /orders/{id}/products|shipping_addresses|coupons` (paged, `limit` ≤ 250).
//! - Lists are bare arrays; an empty list, or a page past the last one, is **204 with no body**.
//! - Errors are bare arrays `[{"status": N, "message": "..."}]` (422s add `details.invalid_reason`).
//! - Money is 4-decimal strings, dates RFC 2822 in UTC; `external_id` is read-only, `external_order_id` writable and
//!   an exact list filter; DELETE archives (`is_deleted`), archived orders leave lists and counts.
//! - Every reply carries `X-Rate-Limit-Requests-Quota/-Left`, `X-Rate-Limit-Time-Window-Ms/-Reset-Ms` from a
//!   per-fake budget; over budget → 429 with the same headers and `X-Retry-After`.
//!
//! Stricter than BigCommerce in one way, on purpose: an unknown query parameter is a 400 (BigCommerce ignores it),
//! so an adapter's misspelt filter fails a test instead of silently matching everything.
//!
//! Cheap per request (orders in a `BTreeMap`, an index on `external_order_id`): creates and reads are O(log n),
//! lists O(n). Fit for use as a fast upstream stub.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use ordermux::canonical::Decimal;
use serde_json::{json, Map, Value};

use super::{FakePlatform, FakeRequest, FakeResponse};

const STATUS_NAMES: [&str; 15] = [
    "Incomplete",
    "Pending",
    "Shipped",
    "Partially Shipped",
    "Refunded",
    "Cancelled",
    "Declined",
    "Awaiting Payment",
    "Awaiting Pickup",
    "Awaiting Shipment",
    "Completed",
    "Awaiting Fulfillment",
    "Manual Verification Required",
    "Disputed",
    "Partially Refunded",
];

const MAX_LIMIT: usize = 250;

/// A catalog product the fake knows (for catalog lines sent without prices).
#[derive(Debug, Clone)]
pub struct CatalogProduct {
    pub name: String,
    pub sku: String,
    pub price: Decimal,
}

/// One stored order.
#[derive(Debug, Clone)]
pub struct FakeOrder {
    pub id: u64,
    /// The order object's own members (billing address included; sub-resources apart).
    pub doc: Map<String, Value>,
    pub products: Vec<Map<String, Value>>,
    pub shipping_addresses: Vec<Map<String, Value>>,
    pub fees: Vec<Map<String, Value>>,
    pub deleted: bool,
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
    pub status_id: u8,
    /// `subtotal_*` and `total_*` as the create or a later PUT stated them (BigCommerce's overrides).
    subtotal_override: Option<(Decimal, Decimal)>,
    total_override: Option<(Decimal, Decimal)>,
}

impl FakeOrder {
    fn str(&self, key: &str) -> Option<&str> {
        self.doc.get(key).and_then(Value::as_str)
    }
    fn u64(&self, key: &str) -> u64 {
        self.doc.get(key).and_then(Value::as_u64).unwrap_or(0)
    }
    fn total(&self) -> Decimal {
        self.str("total_inc_tax")
            .and_then(|s| s.parse().ok())
            .unwrap_or_default()
    }
    pub fn external_order_id(&self) -> Option<&str> {
        self.str("external_order_id")
    }
    pub fn external_source(&self) -> Option<&str> {
        self.str("external_source")
    }
}

/// The fake store.
pub struct BigCommerceFake {
    store_hash: String,
    token: String,
    client_id: Option<String>,
    currency: String,
    orders: BTreeMap<u64, FakeOrder>,
    by_external_order_id: HashMap<String, Vec<u64>>,
    catalog: HashMap<u64, CatalogProduct>,
    next_order: u64,
    next_line: u64,
    next_address: u64,
    next_fee: u64,
    quota: u64,
    window: Duration,
    window_start: Option<Instant>,
    used: u64,
}

type Reply = FakeResponse;

fn error(status: u16, message: &str) -> Reply {
    FakeResponse::json(status, &json!([{ "status": status, "message": message }]))
}

fn invalid(field: &str, reason: &str) -> Reply {
    FakeResponse::json(
        422,
        &json!([{
            "status": 422,
            "message": format!("The field '{field}' is invalid."),
            "details": { "invalid_reason": reason },
        }]),
    )
}

fn missing(field: &str) -> Reply {
    error(
        400,
        &format!("The required field '{field}' was not supplied."),
    )
}

/// A decimal from a JSON number or numeric string (BigCommerce: "Float, Float-As-String, Integer").
fn decimal(v: &Value) -> Option<Decimal> {
    let text = match v {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    text.parse::<Decimal>()
        .ok()
        .or_else(|| Decimal::from_scientific(&text).ok())
}

fn money(d: Decimal) -> String {
    let mut d = d.round_dp(4);
    d.rescale(4);
    d.to_string()
}

fn non_negative(body: &Map<String, Value>, key: &str) -> Result<Option<Decimal>, Reply> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match decimal(v) {
            Some(d) if !d.is_sign_negative() => Ok(Some(d)),
            _ => Err(invalid(key, "must be a non-negative decimal")),
        },
    }
}

fn text(v: Option<&Value>) -> Value {
    match v {
        Some(Value::String(s)) => Value::String(s.clone()),
        Some(Value::Number(n)) => Value::String(n.to_string()),
        _ => Value::String(String::new()),
    }
}

fn parse_date(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc2822(s)
        .or_else(|_| DateTime::parse_from_rfc3339(s))
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

fn rfc2822(d: &DateTime<Utc>) -> String {
    d.format("%a, %d %b %Y %H:%M:%S +0000").to_string()
}

fn now_secs() -> DateTime<Utc> {
    DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap_or_else(Utc::now)
}

/// `payment_status` after a move to `status_id`: ids past payment say the money is in, refund ids say it went
/// back; the others leave it as it was.
fn payment_status_for(status_id: u8, previous: &str) -> String {
    match status_id {
        2 | 3 | 8 | 9 | 10 | 11 => "captured",
        4 => "refunded",
        14 => "partially refunded",
        6 => "declined",
        0 | 1 | 7 if previous.is_empty() => "",
        0 | 1 | 7 => "pending",
        _ => previous,
    }
    .to_owned()
}

const ADDRESS_FIELDS: &[&str] = &[
    "first_name",
    "last_name",
    "company",
    "street_1",
    "street_2",
    "city",
    "state",
    "zip",
    "country",
    "country_iso2",
    "phone",
    "email",
];

const ORDER_MONEY: &[&str] = &[
    "base_shipping_cost",
    "shipping_cost_ex_tax",
    "shipping_cost_inc_tax",
    "base_handling_cost",
    "handling_cost_ex_tax",
    "handling_cost_inc_tax",
    "base_wrapping_cost",
    "wrapping_cost_ex_tax",
    "wrapping_cost_inc_tax",
    "discount_amount",
    "refunded_amount",
];

const ORDER_TEXT: &[&str] = &[
    "customer_message",
    "staff_notes",
    "payment_method",
    "customer_locale",
    "ip_address",
    "external_source",
    "external_order_id",
];

const LIST_FILTERS: &[&str] = &[
    "min_id",
    "max_id",
    "min_total",
    "max_total",
    "customer_id",
    "email",
    "status_id",
    "cart_id",
    "payment_method",
    "min_date_created",
    "max_date_created",
    "min_date_modified",
    "max_date_modified",
    "channel_id",
    "external_order_id",
    "is_deleted",
];

impl BigCommerceFake {
    /// A fake store `store_hash` that accepts `X-Auth-Token: token`. Its budget is practically unlimited until
    /// `with_rate_limit`.
    pub fn new(store_hash: &str, token: &str) -> Self {
        BigCommerceFake {
            store_hash: store_hash.to_owned(),
            token: token.to_owned(),
            client_id: None,
            currency: "USD".into(),
            orders: BTreeMap::new(),
            by_external_order_id: HashMap::new(),
            catalog: HashMap::new(),
            next_order: 100,
            next_line: 1000,
            next_address: 500,
            next_fee: 1,
            quota: 1_000_000_000,
            window: Duration::from_secs(30),
            window_start: None,
            used: 0,
        }
    }

    /// Also require `X-Auth-Client: client_id`.
    pub fn with_client_id(mut self, client_id: &str) -> Self {
        self.client_id = Some(client_id.to_owned());
        self
    }

    /// `quota` requests per `window`, then 429 until the window resets.
    pub fn with_rate_limit(mut self, quota: u64, window: Duration) -> Self {
        self.quota = quota;
        self.window = window;
        self
    }

    pub fn with_currency(mut self, code: &str) -> Self {
        self.currency = code.to_owned();
        self
    }

    pub fn with_product(mut self, id: u64, name: &str, sku: &str, price: &str) -> Self {
        self.catalog.insert(
            id,
            CatalogProduct {
                name: name.into(),
                sku: sku.into(),
                price: price.parse().unwrap_or_default(),
            },
        );
        self
    }

    /// Orders not archived.
    pub fn order_count(&self) -> usize {
        self.orders.values().filter(|o| !o.deleted).count()
    }

    /// The orders carrying ordermux's stamp `key` (in `external_order_id`), each as its id and the quantities of
    /// its products.
    pub fn stamped_lines(&self, key: &str) -> Vec<(String, Vec<u64>)> {
        self.orders
            .values()
            .filter(|o| o.external_order_id() == Some(key))
            .map(|o| {
                let quantities = o
                    .products
                    .iter()
                    .map(|l| l.get("quantity").and_then(Value::as_u64).unwrap_or(0))
                    .collect();
                (o.id.to_string(), quantities)
            })
            .collect()
    }

    /// Orders (archived included) whose `external_order_id` is `key`.
    pub fn count_with_external_order_id(&self, key: &str) -> usize {
        self.by_external_order_id.get(key).map_or(0, Vec::len)
    }

    pub fn order(&self, id: u64) -> Option<&FakeOrder> {
        self.orders.get(&id)
    }

    pub fn ids(&self) -> Vec<u64> {
        self.orders.keys().copied().collect()
    }

    /// The order as a client holding every sub-resource sees it.
    pub fn expanded(&self, id: u64) -> Option<Value> {
        let o = self.orders.get(&id)?;
        let mut doc = o.doc.clone();
        doc.insert(
            "products".into(),
            Value::Array(o.products.iter().cloned().map(Value::Object).collect()),
        );
        doc.insert(
            "shipping_addresses".into(),
            Value::Array(
                o.shipping_addresses
                    .iter()
                    .cloned()
                    .map(Value::Object)
                    .collect(),
            ),
        );
        doc.insert(
            "fees".into(),
            Value::Array(o.fees.iter().cloned().map(Value::Object).collect()),
        );
        Some(Value::Object(doc))
    }

    /// Sets a member of an order's own document directly (to make it one a client cannot read).
    pub fn set_member(&mut self, id: u64, key: &str, value: Value) {
        if let Some(o) = self.orders.get_mut(&id) {
            o.doc.insert(key.to_owned(), value);
        }
    }

    /// Sets an order's status directly (to seed states a test needs).
    pub fn set_status(&mut self, id: u64, status_id: u8) {
        if let Some(o) = self.orders.get_mut(&id) {
            Self::apply_status(o, status_id);
        }
    }

    fn apply_status(o: &mut FakeOrder, status_id: u8) {
        let previous = o.str("payment_status").unwrap_or("").to_owned();
        o.status_id = status_id;
        o.doc.insert("status_id".into(), Value::from(status_id));
        o.doc.insert(
            "status".into(),
            Value::from(STATUS_NAMES[usize::from(status_id)]),
        );
        o.doc.insert(
            "payment_status".into(),
            Value::String(payment_status_for(status_id, &previous)),
        );
    }

    fn rate_headers(&self, reply: Reply, left: u64, reset: Duration) -> Reply {
        reply
            .with_header("x-rate-limit-requests-quota", self.quota.to_string())
            .with_header("x-rate-limit-requests-left", left.to_string())
            .with_header(
                "x-rate-limit-time-window-ms",
                self.window.as_millis().to_string(),
            )
            // Rounded up, so a client that waits this long finds the window reset.
            .with_header(
                "x-rate-limit-time-reset-ms",
                reset.as_micros().div_ceil(1000).to_string(),
            )
    }

    fn link(&self, id: u64, name: &str) -> Value {
        let resource = format!("/orders/{id}/{name}");
        json!({
            "url": format!("https://api.bigcommerce.com/stores/{}/v2{resource}", self.store_hash),
            "resource": resource,
        })
    }

    fn order_json(&self, o: &FakeOrder, include_fees: bool) -> Value {
        let mut doc = o.doc.clone();
        doc.insert("products".into(), self.link(o.id, "products"));
        doc.insert(
            "shipping_addresses".into(),
            self.link(o.id, "shipping_addresses"),
        );
        doc.insert("coupons".into(), self.link(o.id, "coupons"));
        if include_fees {
            doc.insert(
                "fees".into(),
                Value::Array(o.fees.iter().cloned().map(Value::Object).collect()),
            );
        }
        Value::Object(doc)
    }

    fn check_params(req: &FakeRequest, allowed: &[&str]) -> Result<(), Reply> {
        match req
            .query
            .iter()
            .find(|(k, _)| !allowed.contains(&k.as_str()))
        {
            Some((k, _)) => Err(error(
                400,
                &format!("The query parameter '{k}' is not supported."),
            )),
            None => Ok(()),
        }
    }

    fn includes_fees(req: &FakeRequest) -> Result<bool, Reply> {
        let Some(include) = req.query("include") else {
            return Ok(false);
        };
        let mut fees = false;
        for part in include.split(',') {
            match part.trim() {
                "fees" => fees = true,
                "consignments" | "consignments.line_items" => {}
                other => {
                    return Err(error(
                        400,
                        &format!("The include value '{other}' is not supported."),
                    ))
                }
            }
        }
        Ok(fees)
    }

    fn paging(req: &FakeRequest) -> Result<(usize, usize), Reply> {
        let num =
            |name: &str, default: usize| match req.query(name) {
                None => Ok(default),
                Some(v) => v.parse::<usize>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                    error(400, &format!("The query parameter '{name}' is invalid."))
                }),
            };
        Ok((num("page", 1)?, num("limit", 50)?.min(MAX_LIMIT)))
    }

    fn page_of(items: Vec<Value>, page: usize, limit: usize) -> Reply {
        let slice: Vec<Value> = items
            .into_iter()
            .skip((page - 1).saturating_mul(limit))
            .take(limit)
            .collect();
        if slice.is_empty() {
            FakeResponse::empty(204)
        } else {
            FakeResponse::json(200, &Value::Array(slice))
        }
    }

    // ---- create ----

    fn address(&mut self, order_id: u64, a: &Map<String, Value>) -> Map<String, Value> {
        let mut m = Map::new();
        self.next_address += 1;
        m.insert("id".into(), Value::from(self.next_address));
        m.insert("order_id".into(), Value::from(order_id));
        for f in ADDRESS_FIELDS {
            m.insert((*f).into(), text(a.get(*f)));
        }
        m.insert("items_total".into(), Value::from(0));
        m.insert("items_shipped".into(), Value::from(0));
        m.insert("shipping_method".into(), text(a.get("shipping_method")));
        m.insert("shipping_zone_id".into(), Value::from(1));
        m.insert("shipping_zone_name".into(), Value::from("United States"));
        m.insert(
            "shipping_quotes".into(),
            self.link(
                order_id,
                &format!("shipping_addresses/{}/shipping_quotes", self.next_address),
            ),
        );
        m
    }

    /// A product line from an `order_Post`/`order_Put` product without `id`.
    fn new_line(
        &mut self,
        order_id: u64,
        p: &Map<String, Value>,
        at: usize,
    ) -> Result<Map<String, Value>, Reply> {
        let field = |f: &str| format!("products[{at}].{f}");
        let quantity = p
            .get("quantity")
            .and_then(Value::as_u64)
            .filter(|q| *q >= 1)
            .ok_or_else(|| invalid(&field("quantity"), "must be a whole number of at least 1"))?;
        let price_ex = non_negative(p, "price_ex_tax")
            .map_err(|_| invalid(&field("price_ex_tax"), "must be a non-negative decimal"))?;
        let price_inc = non_negative(p, "price_inc_tax")
            .map_err(|_| invalid(&field("price_inc_tax"), "must be a non-negative decimal"))?;
        let product_id = p.get("product_id").and_then(Value::as_u64).unwrap_or(0);
        let given_name = p
            .get("name")
            .or_else(|| p.get("name_customer"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let sku = p.get("sku").and_then(Value::as_str).map(str::to_owned);
        let (name, sku, ex, inc) = if product_id != 0 {
            let catalog = self.catalog.get(&product_id).cloned();
            let (ex, inc) = match (price_ex, price_inc, &catalog) {
                (Some(ex), Some(inc), _) => (ex, inc),
                (Some(ex), None, _) => (ex, ex),
                (None, Some(inc), _) => (inc, inc),
                (None, None, Some(c)) => (c.price, c.price),
                (None, None, None) => {
                    return Err(invalid(
                        &field("product_id"),
                        &format!("product {product_id} does not exist"),
                    ))
                }
            };
            let name = given_name
                .or_else(|| catalog.as_ref().map(|c| c.name.clone()))
                .unwrap_or_else(|| format!("Product {product_id}"));
            let sku = sku
                .or_else(|| catalog.as_ref().map(|c| c.sku.clone()))
                .unwrap_or_default();
            (name, sku, ex, inc)
        } else {
            let name = given_name
                .filter(|n| !n.is_empty() && n.chars().count() <= 250)
                .ok_or_else(|| missing(&field("name")))?;
            let (Some(ex), Some(inc)) = (price_ex, price_inc) else {
                return Err(missing(&field("price_ex_tax and price_inc_tax")));
            };
            (name, sku.unwrap_or_default(), ex, inc)
        };
        self.next_line += 1;
        let mut m = Map::new();
        m.insert("id".into(), Value::from(self.next_line));
        m.insert("order_id".into(), Value::from(order_id));
        m.insert("product_id".into(), Value::from(product_id));
        if let Some(v) = p.get("variant_id").and_then(Value::as_u64) {
            m.insert("variant_id".into(), Value::from(v));
        }
        m.insert("name".into(), Value::from(name.clone()));
        m.insert("name_customer".into(), Value::from(name.clone()));
        m.insert("name_merchant".into(), Value::from(name));
        m.insert("sku".into(), Value::from(sku));
        m.insert("type".into(), Value::from("physical"));
        m.insert("quantity".into(), Value::from(quantity));
        m.insert("quantity_shipped".into(), Value::from(0));
        m.insert("refund_amount".into(), Value::from("0.0000"));
        m.insert("applied_discounts".into(), json!([]));
        m.insert("product_options".into(), json!([]));
        Self::price_line(&mut m, ex, inc);
        Ok(m)
    }

    fn price_line(m: &mut Map<String, Value>, ex: Decimal, inc: Decimal) {
        let q = Decimal::from(m.get("quantity").and_then(Value::as_u64).unwrap_or(0));
        m.insert("base_price".into(), Value::from(money(ex)));
        m.insert("price_ex_tax".into(), Value::from(money(ex)));
        m.insert("price_inc_tax".into(), Value::from(money(inc)));
        m.insert("price_tax".into(), Value::from(money(inc - ex)));
        m.insert("base_total".into(), Value::from(money(ex * q)));
        m.insert("total_ex_tax".into(), Value::from(money(ex * q)));
        m.insert("total_inc_tax".into(), Value::from(money(inc * q)));
        m.insert("total_tax".into(), Value::from(money((inc - ex) * q)));
    }

    fn fee(&mut self, f: &Value, at: usize) -> Result<Map<String, Value>, Reply> {
        let Value::Object(f) = f else {
            return Err(invalid(&format!("fees[{at}]"), "must be an object"));
        };
        let ex = non_negative(f, "cost_ex_tax")?.unwrap_or_default();
        let inc = non_negative(f, "cost_inc_tax")?.unwrap_or(ex);
        let id = match f.get("id").and_then(Value::as_u64) {
            Some(id) => id,
            None => {
                self.next_fee += 1;
                self.next_fee
            }
        };
        let name = f
            .get("display_name_customer")
            .or_else(|| f.get("display_name_merchant"))
            .and_then(Value::as_str)
            .unwrap_or("Fee")
            .to_owned();
        Ok(json!({
            "id": id,
            "type": "custom_fee",
            "display_name_customer": name,
            "display_name_merchant": f.get("display_name_merchant").and_then(Value::as_str).unwrap_or(&name),
            "source": f.get("source").and_then(Value::as_str).unwrap_or(""),
            "cost_ex_tax": money(ex),
            "cost_inc_tax": money(inc),
            "cost_tax": money(inc - ex),
        })
        .as_object()
        .cloned()
        .unwrap_or_default())
    }

    fn read_pair(
        body: &Map<String, Value>,
        ex_key: &str,
        inc_key: &str,
    ) -> Result<Option<(Decimal, Decimal)>, Reply> {
        match (non_negative(body, ex_key)?, non_negative(body, inc_key)?) {
            (Some(ex), Some(inc)) => Ok(Some((ex, inc))),
            (None, None) => Ok(None),
            (Some(_), None) => Err(invalid(
                inc_key,
                &format!("required when {ex_key} is given"),
            )),
            (None, Some(_)) => Err(invalid(
                ex_key,
                &format!("required when {inc_key} is given"),
            )),
        }
    }

    /// Derived members: subtotals, totals, tax, counts (overrides win where stated).
    fn recompute(o: &mut FakeOrder) {
        let dec = |m: &Map<String, Value>, k: &str| m.get(k).and_then(decimal).unwrap_or_default();
        let mut sub_ex = Decimal::ZERO;
        let mut sub_inc = Decimal::ZERO;
        let mut items = 0u64;
        for p in &o.products {
            sub_ex += dec(p, "total_ex_tax");
            sub_inc += dec(p, "total_inc_tax");
            items += p.get("quantity").and_then(Value::as_u64).unwrap_or(0);
        }
        if let Some((ex, inc)) = o.subtotal_override {
            (sub_ex, sub_inc) = (ex, inc);
        }
        let d = &o.doc;
        let ship_ex = d
            .get("shipping_cost_ex_tax")
            .and_then(decimal)
            .unwrap_or_else(|| dec(d, "base_shipping_cost"));
        let ship_inc = d
            .get("shipping_cost_inc_tax")
            .and_then(decimal)
            .unwrap_or(ship_ex);
        let hand_ex = dec(d, "handling_cost_ex_tax");
        let hand_inc = d
            .get("handling_cost_inc_tax")
            .and_then(decimal)
            .unwrap_or(hand_ex);
        let wrap_ex = dec(d, "wrapping_cost_ex_tax");
        let wrap_inc = d
            .get("wrapping_cost_inc_tax")
            .and_then(decimal)
            .unwrap_or(wrap_ex);
        let fees_ex: Decimal = o.fees.iter().map(|f| dec(f, "cost_ex_tax")).sum();
        let fees_inc: Decimal = o.fees.iter().map(|f| dec(f, "cost_inc_tax")).sum();
        let discount = dec(d, "discount_amount");
        let (total_ex, total_inc) = o.total_override.unwrap_or((
            sub_ex + ship_ex + hand_ex + wrap_ex + fees_ex - discount,
            sub_inc + ship_inc + hand_inc + wrap_inc + fees_inc - discount,
        ));
        let m = &mut o.doc;
        for (k, v) in [
            ("subtotal_ex_tax", sub_ex),
            ("subtotal_inc_tax", sub_inc),
            ("subtotal_tax", sub_inc - sub_ex),
            ("shipping_cost_ex_tax", ship_ex),
            ("shipping_cost_inc_tax", ship_inc),
            ("shipping_cost_tax", ship_inc - ship_ex),
            ("handling_cost_ex_tax", hand_ex),
            ("handling_cost_inc_tax", hand_inc),
            ("handling_cost_tax", hand_inc - hand_ex),
            ("wrapping_cost_ex_tax", wrap_ex),
            ("wrapping_cost_inc_tax", wrap_inc),
            ("wrapping_cost_tax", wrap_inc - wrap_ex),
            ("total_ex_tax", total_ex),
            ("total_inc_tax", total_inc),
            ("total_tax", total_inc - total_ex),
        ] {
            m.insert(k.into(), Value::from(money(v)));
        }
        if !m.contains_key("base_shipping_cost") {
            m.insert("base_shipping_cost".into(), Value::from(money(ship_ex)));
        }
        m.insert("items_total".into(), Value::from(items));
        m.insert(
            "shipping_address_count".into(),
            Value::from(o.shipping_addresses.len()),
        );
        let first_address = o
            .shipping_addresses
            .first()
            .and_then(|a| a.get("id"))
            .and_then(Value::as_u64)
            .unwrap_or(0);
        for p in &mut o.products {
            p.entry("order_address_id")
                .or_insert(Value::from(first_address));
        }
        if let Some(a) = o.shipping_addresses.first_mut() {
            a.insert("items_total".into(), Value::from(items));
            a.insert("cost_ex_tax".into(), Value::from(money(ship_ex)));
            a.insert("cost_inc_tax".into(), Value::from(money(ship_inc)));
            a.insert("cost_tax".into(), Value::from(money(ship_inc - ship_ex)));
            a.insert("base_cost".into(), Value::from(money(ship_ex)));
        }
    }

    fn index_external(&mut self, id: u64, old: Option<String>, new: Option<String>) {
        if old == new {
            return;
        }
        if let Some(old) = old {
            if let Some(ids) = self.by_external_order_id.get_mut(&old) {
                ids.retain(|i| *i != id);
                if ids.is_empty() {
                    self.by_external_order_id.remove(&old);
                }
            }
        }
        if let Some(new) = new.filter(|n| !n.is_empty()) {
            self.by_external_order_id.entry(new).or_default().push(id);
        }
    }

    fn create(&mut self, req: &FakeRequest) -> Reply {
        let include_fees = match Self::check_params(req, &["include", "consignment_structure"])
            .and_then(|_| Self::includes_fees(req))
        {
            Ok(f) => f,
            Err(r) => return r,
        };
        let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&req.body) else {
            return error(400, "The request payload must be a JSON object.");
        };
        match self.build_order(&body) {
            Ok(order) => {
                let id = order.id;
                let reply = FakeResponse::json(200, &self.order_json(&order, include_fees));
                let external = order.external_order_id().map(str::to_owned);
                self.orders.insert(id, order);
                self.index_external(id, None, external);
                reply
            }
            Err(r) => r,
        }
    }

    fn build_order(&mut self, body: &Map<String, Value>) -> Result<FakeOrder, Reply> {
        if body.contains_key("external_id") {
            return Err(error(400, "The field 'external_id' is read-only."));
        }
        if body.contains_key("consignments") {
            return Err(invalid(
                "consignments",
                "pickup consignments are not supported by this store",
            ));
        }
        let billing = match body.get("billing_address") {
            None | Some(Value::Null) => return Err(missing("billing_address")),
            Some(Value::Object(b)) => b,
            Some(_) => return Err(invalid("billing_address", "must be an object")),
        };
        let zip = text(billing.get("zip"));
        if zip.as_str().is_none_or(|z| z.chars().count() < 2) {
            return Err(invalid("billing_address.zip", "The billing address must include the ZIP code. The ZIP code must be two or more characters."));
        }
        let products = match body.get("products") {
            None | Some(Value::Null) => return Err(missing("products")),
            Some(Value::Array(p)) if !p.is_empty() => p,
            Some(_) => return Err(invalid("products", "must be a non-empty array")),
        };
        let status_id = match body.get("status_id") {
            None => 1,
            Some(v) => match v.as_u64().filter(|n| *n <= 14) {
                Some(n) => n as u8,
                None => return Err(invalid("status_id", "must be a status id from 0 to 14")),
            },
        };
        let created = match body.get("date_created") {
            None | Some(Value::Null) => now_secs(),
            Some(Value::String(s)) => match DateTime::parse_from_rfc2822(s) {
                Ok(d) => d.with_timezone(&Utc),
                Err(_) => return Err(invalid("date_created", "must be an RFC 2822 date")),
            },
            Some(_) => return Err(invalid("date_created", "must be an RFC 2822 date")),
        };
        if let Some(code) = body.get("default_currency_code").and_then(Value::as_str) {
            if !code.eq_ignore_ascii_case(&self.currency) {
                return Err(invalid(
                    "default_currency_code",
                    "is not a currency of this store",
                ));
            }
        }
        let customer_id = match body.get("customer_id") {
            None | Some(Value::Null) => 0,
            Some(v) => match v.as_u64() {
                Some(n) => n,
                None => return Err(invalid("customer_id", "must be a customer id")),
            },
        };
        let subtotal_override = Self::read_pair(body, "subtotal_ex_tax", "subtotal_inc_tax")?;
        let total_override = Self::read_pair(body, "total_ex_tax", "total_inc_tax")?;
        let id = self.next_order + 1;
        let mut lines = Vec::with_capacity(products.len());
        for (i, p) in products.iter().enumerate() {
            let Value::Object(p) = p else {
                return Err(invalid(&format!("products[{i}]"), "must be an object"));
            };
            if p.contains_key("id") {
                return Err(invalid(
                    &format!("products[{i}].id"),
                    "is read-only on create",
                ));
            }
            lines.push(self.new_line(id, p, i)?);
        }
        let mut addresses = Vec::new();
        if let Some(list) = body.get("shipping_addresses") {
            let Value::Array(list) = list else {
                return Err(invalid("shipping_addresses", "must be an array"));
            };
            for (i, a) in list.iter().enumerate() {
                let Value::Object(a) = a else {
                    return Err(invalid(
                        &format!("shipping_addresses[{i}]"),
                        "must be an object",
                    ));
                };
                addresses.push(self.address(id, a));
            }
        }
        let mut fees = Vec::new();
        if let Some(Value::Array(list)) = body.get("fees") {
            for (i, f) in list.iter().enumerate() {
                fees.push(self.fee(f, i)?);
            }
        }
        let mut doc = Map::new();
        doc.insert("id".into(), Value::from(id));
        doc.insert("customer_id".into(), Value::from(customer_id));
        doc.insert("date_created".into(), Value::from(rfc2822(&created)));
        doc.insert("date_modified".into(), Value::from(rfc2822(&created)));
        doc.insert("date_shipped".into(), Value::from(""));
        for key in ORDER_MONEY {
            if let Some(d) = non_negative(body, key)? {
                doc.insert((*key).into(), Value::from(money(d)));
            }
        }
        if !doc.contains_key("discount_amount") {
            doc.insert("discount_amount".into(), Value::from("0.0000"));
        }
        if !doc.contains_key("refunded_amount") {
            doc.insert("refunded_amount".into(), Value::from("0.0000"));
        }
        doc.insert("coupon_discount".into(), Value::from("0.0000"));
        doc.insert("items_shipped".into(), Value::from(0));
        doc.insert("order_is_digital".into(), Value::from(false));
        doc.insert("is_tax_inclusive_pricing".into(), Value::from(false));
        doc.insert("currency_code".into(), Value::from(self.currency.clone()));
        doc.insert(
            "default_currency_code".into(),
            Value::from(self.currency.clone()),
        );
        doc.insert("currency_exchange_rate".into(), Value::from("1.0000000000"));
        doc.insert("is_deleted".into(), Value::from(false));
        doc.insert("external_id".into(), Value::Null);
        doc.insert("order_source".into(), Value::from("external"));
        doc.insert("cart_id".into(), Value::from(""));
        doc.insert(
            "channel_id".into(),
            Value::from(body.get("channel_id").and_then(Value::as_u64).unwrap_or(1)),
        );
        for key in ORDER_TEXT {
            match body.get(*key) {
                Some(Value::String(s)) => {
                    doc.insert((*key).into(), Value::from(s.clone()));
                }
                Some(Value::Null) | None => {
                    let empty = if *key == "external_source" || *key == "external_order_id" {
                        Value::Null
                    } else {
                        Value::from("")
                    };
                    doc.insert((*key).into(), empty);
                }
                Some(_) => return Err(invalid(key, "must be a string")),
            }
        }
        let mut billing_out = Map::new();
        for f in ADDRESS_FIELDS {
            billing_out.insert((*f).into(), text(billing.get(*f)));
        }
        billing_out.insert("form_fields".into(), json!([]));
        doc.insert("billing_address".into(), Value::Object(billing_out));
        doc.insert("payment_status".into(), Value::from(""));
        self.next_order = id;
        let mut order = FakeOrder {
            id,
            doc,
            products: lines,
            shipping_addresses: addresses,
            fees,
            deleted: false,
            created,
            modified: created,
            status_id,
            subtotal_override,
            total_override,
        };
        Self::apply_status(&mut order, status_id);
        Self::recompute(&mut order);
        Ok(order)
    }

    // ---- update ----

    fn update(&mut self, id: u64, req: &FakeRequest) -> Reply {
        if let Err(r) = Self::check_params(req, &[]) {
            return r;
        }
        let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&req.body) else {
            return error(400, "The request payload must be a JSON object.");
        };
        let Some(mut order) = self.orders.get(&id).cloned() else {
            return error(404, "The requested resource was not found.");
        };
        let old_external = order.external_order_id().map(str::to_owned);
        if let Err(r) = self.apply_put(&mut order, &body) {
            return r;
        }
        let new_external = order.external_order_id().map(str::to_owned);
        let reply = FakeResponse::json(200, &self.order_json(&order, false));
        self.orders.insert(id, order);
        self.index_external(id, old_external, new_external);
        reply
    }

    fn apply_put(&mut self, o: &mut FakeOrder, body: &Map<String, Value>) -> Result<(), Reply> {
        if body.contains_key("external_id") {
            return Err(error(400, "external_id can not be overwritten"));
        }
        if let Some(v) = body.get("status_id") {
            match v.as_u64().filter(|n| *n <= 14) {
                Some(n) => Self::apply_status(o, n as u8),
                None => return Err(invalid("status_id", "must be a status id from 0 to 14")),
            }
        }
        let mut components_changed = false;
        for key in ORDER_MONEY {
            if let Some(d) = non_negative(body, key)? {
                o.doc.insert((*key).into(), Value::from(money(d)));
                components_changed |= *key != "refunded_amount";
            }
        }
        for key in ORDER_TEXT {
            match body.get(*key) {
                Some(Value::String(s)) => {
                    o.doc.insert((*key).into(), Value::from(s.clone()));
                }
                Some(Value::Null) => {
                    o.doc.insert((*key).into(), Value::Null);
                }
                None => {}
                Some(_) => return Err(invalid(key, "must be a string")),
            }
        }
        if let Some(v) = body.get("customer_id") {
            let Some(n) = v.as_u64() else {
                return Err(invalid("customer_id", "must be a customer id"));
            };
            o.doc.insert("customer_id".into(), Value::from(n));
        }
        if let Some(b) = body.get("billing_address") {
            let Value::Object(b) = b else {
                return Err(invalid("billing_address", "must be an object"));
            };
            if let Some(Value::Object(current)) = o.doc.get_mut("billing_address") {
                for f in ADDRESS_FIELDS {
                    if let Some(v) = b.get(*f) {
                        current.insert((*f).into(), text(Some(v)));
                    }
                }
            }
        }
        if let Some(list) = body.get("products") {
            let Value::Array(list) = list else {
                return Err(invalid("products", "must be an array"));
            };
            for (i, p) in list.iter().enumerate() {
                let Value::Object(p) = p else {
                    return Err(invalid(&format!("products[{i}]"), "must be an object"));
                };
                match p.get("id").and_then(Value::as_u64) {
                    None => {
                        let line = self.new_line(o.id, p, i)?;
                        o.products.push(line);
                    }
                    Some(line_id) => {
                        let Some(at) = o
                            .products
                            .iter()
                            .position(|l| l.get("id").and_then(Value::as_u64) == Some(line_id))
                        else {
                            return Err(invalid(
                                &format!("products[{i}].id"),
                                "is not a product of this order",
                            ));
                        };
                        let quantity = match p.get("quantity") {
                            None => None,
                            Some(q) => match q.as_u64() {
                                Some(q) => Some(q),
                                None => {
                                    return Err(invalid(
                                        &format!("products[{i}].quantity"),
                                        "must be a whole number",
                                    ))
                                }
                            },
                        };
                        if quantity == Some(0) {
                            // The spec's removal: quantity 0.
                            o.products.remove(at);
                            continue;
                        }
                        let line = &mut o.products[at];
                        if let Some(q) = quantity {
                            line.insert("quantity".into(), Value::from(q));
                        }
                        for key in ["name", "sku"] {
                            if let Some(Value::String(s)) = p.get(key) {
                                if key == "name" && s.is_empty() {
                                    return Err(invalid(
                                        &format!("products[{i}].name"),
                                        "must not be empty",
                                    ));
                                }
                                line.insert(key.into(), Value::from(s.clone()));
                                if key == "name" {
                                    line.insert("name_customer".into(), Value::from(s.clone()));
                                }
                            }
                        }
                        let dec = |m: &Map<String, Value>, k: &str| {
                            m.get(k).and_then(decimal).unwrap_or_default()
                        };
                        let ex = non_negative(p, "price_ex_tax")?
                            .unwrap_or_else(|| dec(line, "price_ex_tax"));
                        let inc = non_negative(p, "price_inc_tax")?
                            .unwrap_or_else(|| dec(line, "price_inc_tax"));
                        Self::price_line(line, ex, inc);
                    }
                }
                components_changed = true;
            }
            if o.products.is_empty() {
                return Err(invalid("products", "an order keeps at least one product"));
            }
        }
        if let Some(list) = body.get("shipping_addresses") {
            let Value::Array(list) = list else {
                return Err(invalid("shipping_addresses", "must be an array"));
            };
            for (i, a) in list.iter().enumerate() {
                let Value::Object(a) = a else {
                    return Err(invalid(
                        &format!("shipping_addresses[{i}]"),
                        "must be an object",
                    ));
                };
                match a.get("id").and_then(Value::as_u64) {
                    None => {
                        let addr = self.address(o.id, a);
                        o.shipping_addresses.push(addr);
                    }
                    Some(aid) => {
                        let Some(current) = o
                            .shipping_addresses
                            .iter_mut()
                            .find(|x| x.get("id").and_then(Value::as_u64) == Some(aid))
                        else {
                            return Err(invalid(
                                &format!("shipping_addresses[{i}].id"),
                                "is not an address of this order",
                            ));
                        };
                        for f in ADDRESS_FIELDS.iter().chain(["shipping_method"].iter()) {
                            if let Some(v) = a.get(*f) {
                                current.insert((*f).into(), text(Some(v)));
                            }
                        }
                    }
                }
            }
        }
        if let Some(list) = body.get("fees") {
            let Value::Array(list) = list else {
                return Err(invalid("fees", "must be an array"));
            };
            let mut fees = Vec::new();
            for (i, f) in list.iter().enumerate() {
                fees.push(self.fee(f, i)?);
            }
            o.fees = fees;
            components_changed = true;
        }
        let subtotal = Self::read_pair(body, "subtotal_ex_tax", "subtotal_inc_tax")?;
        let total = Self::read_pair(body, "total_ex_tax", "total_inc_tax")?;
        if components_changed {
            // Stated totals were for the old contents; BigCommerce recomputes unless new ones are stated.
            o.subtotal_override = None;
            o.total_override = None;
        }
        if subtotal.is_some() {
            o.subtotal_override = subtotal;
        }
        if total.is_some() {
            o.total_override = total;
        }
        o.modified = now_secs();
        o.doc
            .insert("date_modified".into(), Value::from(rfc2822(&o.modified)));
        Self::recompute(o);
        Ok(())
    }

    // ---- reads ----

    fn matches(o: &FakeOrder, req: &FakeRequest) -> Result<bool, Reply> {
        let bad = |k: &str| error(400, &format!("The query parameter '{k}' is invalid."));
        for (k, v) in &req.query {
            let int = || v.parse::<u64>().map_err(|_| bad(k));
            let dec = || v.parse::<Decimal>().map_err(|_| bad(k));
            let date = || parse_date(v).ok_or_else(|| bad(k));
            let ok = match k.as_str() {
                "min_id" => o.id >= int()?,
                "max_id" => o.id <= int()?,
                "min_total" => o.total() >= dec()?,
                "max_total" => o.total() <= dec()?,
                "customer_id" => o.u64("customer_id") == int()?,
                "channel_id" => o.u64("channel_id") == int()?,
                "status_id" => u64::from(o.status_id) == int()?,
                "email" => o
                    .doc
                    .get("billing_address")
                    .and_then(|b| b.get("email"))
                    .and_then(Value::as_str)
                    .is_some_and(|e| e.eq_ignore_ascii_case(v)),
                "cart_id" => o.str("cart_id") == Some(v.as_str()),
                "payment_method" => o.str("payment_method") == Some(v.as_str()),
                "external_order_id" => o.external_order_id() == Some(v.as_str()),
                "min_date_created" => o.created >= date()?,
                "max_date_created" => o.created <= date()?,
                "min_date_modified" => o.modified >= date()?,
                "max_date_modified" => o.modified <= date()?,
                _ => true,
            };
            if !ok {
                return Ok(false);
            }
        }
        let want_deleted = req.query("is_deleted") == Some("true");
        Ok(o.deleted == want_deleted)
    }

    fn filtered(&self, req: &FakeRequest) -> Result<Vec<&FakeOrder>, Reply> {
        // The stamp lookup is the hot path of reconciliation: answer it from the index.
        let candidates: Box<dyn Iterator<Item = &FakeOrder>> = match req.query("external_order_id")
        {
            Some(key) => Box::new(
                self.by_external_order_id
                    .get(key)
                    .into_iter()
                    .flatten()
                    .filter_map(|id| self.orders.get(id)),
            ),
            None => Box::new(self.orders.values()),
        };
        let mut out = Vec::new();
        for o in candidates {
            if Self::matches(o, req)? {
                out.push(o);
            }
        }
        Ok(out)
    }

    fn list(&self, req: &FakeRequest) -> Reply {
        let mut allowed: Vec<&str> = LIST_FILTERS.to_vec();
        allowed.extend(["page", "limit", "sort", "include", "consignment_structure"]);
        let include_fees =
            match Self::check_params(req, &allowed).and_then(|_| Self::includes_fees(req)) {
                Ok(f) => f,
                Err(r) => return r,
            };
        let (page, limit) = match Self::paging(req) {
            Ok(p) => p,
            Err(r) => return r,
        };
        let mut found = match self.filtered(req) {
            Ok(f) => f,
            Err(r) => return r,
        };
        if let Some(sort) = req.query("sort") {
            let (field, dir) = sort.split_once(':').unwrap_or((sort, "asc"));
            let desc = match dir {
                "asc" => false,
                "desc" => true,
                _ => return error(400, "The query parameter 'sort' is invalid."),
            };
            let key = |o: &FakeOrder| -> (i64, u64) {
                let n = match field {
                    "customer_id" => o.u64("customer_id") as i64,
                    "date_created" => o.created.timestamp(),
                    "date_modified" => o.modified.timestamp(),
                    "status_id" => i64::from(o.status_id),
                    "channel_id" => o.u64("channel_id") as i64,
                    _ => 0,
                };
                (n, o.id)
            };
            match field {
                "id" | "customer_id" | "date_created" | "date_modified" | "status_id"
                | "channel_id" => found.sort_by_key(|o| key(o)),
                "external_id" => {}
                _ => return error(400, "The query parameter 'sort' is invalid."),
            }
            if desc {
                found.reverse();
            }
        }
        let items: Vec<Value> = found
            .into_iter()
            .skip((page - 1).saturating_mul(limit))
            .take(limit)
            .map(|o| self.order_json(o, include_fees))
            .collect();
        Self::page_of(items, 1, limit)
    }

    fn count(&self, req: &FakeRequest) -> Reply {
        if let Err(r) = Self::check_params(req, LIST_FILTERS) {
            return r;
        }
        let found = match self.filtered(req) {
            Ok(f) => f,
            Err(r) => return r,
        };
        let mut per_status = [0u64; 15];
        for o in &found {
            per_status[usize::from(o.status_id)] += 1;
        }
        let statuses: Vec<Value> = per_status
            .iter()
            .enumerate()
            .map(|(id, count)| {
                json!({
                    "id": id,
                    "name": STATUS_NAMES[id],
                    "system_label": STATUS_NAMES[id],
                    "custom_label": STATUS_NAMES[id],
                    "system_description": "",
                    "count": count,
                    "sort_order": id,
                })
            })
            .collect();
        FakeResponse::json(200, &json!({ "count": found.len(), "statuses": statuses }))
    }

    fn sub_resource(&self, id: u64, name: &str, req: &FakeRequest) -> Reply {
        if let Err(r) = Self::check_params(req, &["page", "limit"]) {
            return r;
        }
        let (page, limit) = match Self::paging(req) {
            Ok(p) => p,
            Err(r) => return r,
        };
        let Some(o) = self.orders.get(&id) else {
            return error(404, "The requested resource was not found.");
        };
        let items: Vec<Value> = match name {
            "products" => o.products.iter().cloned().map(Value::Object).collect(),
            "shipping_addresses" => o
                .shipping_addresses
                .iter()
                .cloned()
                .map(Value::Object)
                .collect(),
            // Coupons do not apply to orders created through the API.
            _ => Vec::new(),
        };
        Self::page_of(items, page, limit)
    }

    fn route(&mut self, req: &FakeRequest) -> Reply {
        if req.header("x-auth-token") != Some(self.token.as_str())
            || self
                .client_id
                .as_deref()
                .is_some_and(|c| req.header("x-auth-client") != Some(c))
        {
            return error(401, "You are not authorized to access this resource.");
        }
        let prefix = format!("/stores/{}/v2", self.store_hash);
        let Some(segments) = req.segments_after(&prefix) else {
            return error(404, "The requested resource was not found.");
        };
        let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
        let method = req.method.as_str();
        let not_allowed = || {
            error(
                405,
                "The requested method is not supported by this resource.",
            )
        };
        match segs.as_slice() {
            ["orders"] => match method {
                "GET" => self.list(req),
                "POST" => self.create(req),
                _ => not_allowed(),
            },
            ["orders", "count"] => match method {
                "GET" => self.count(req),
                _ => not_allowed(),
            },
            ["orders", id, rest @ ..] => {
                let Ok(id) = id.parse::<u64>() else {
                    return error(404, "The requested resource was not found.");
                };
                match (rest, method) {
                    ([], "GET") => {
                        let include_fees =
                            match Self::check_params(req, &["include", "consignment_structure"])
                                .and_then(|_| Self::includes_fees(req))
                            {
                                Ok(f) => f,
                                Err(r) => return r,
                            };
                        match self.orders.get(&id) {
                            Some(o) => FakeResponse::json(200, &self.order_json(o, include_fees)),
                            None => error(404, "The requested resource was not found."),
                        }
                    }
                    ([], "PUT") => self.update(id, req),
                    ([], "DELETE") => {
                        if let Err(r) = Self::check_params(req, &[]) {
                            return r;
                        }
                        match self.orders.get_mut(&id) {
                            Some(o) => {
                                o.deleted = true;
                                o.doc.insert("is_deleted".into(), Value::from(true));
                                FakeResponse::empty(204)
                            }
                            None => error(404, "The requested resource was not found."),
                        }
                    }
                    ([name], "GET")
                        if matches!(*name, "products" | "shipping_addresses" | "coupons") =>
                    {
                        self.sub_resource(id, name, req)
                    }
                    ([], _) => not_allowed(),
                    _ => error(404, "The requested resource was not found."),
                }
            }
            _ => error(404, "The requested resource was not found."),
        }
    }
}

impl FakePlatform for BigCommerceFake {
    fn handle(&mut self, req: &FakeRequest) -> FakeResponse {
        let now = Instant::now();
        let start = match self.window_start {
            Some(s) if now.duration_since(s) < self.window => s,
            _ => {
                self.window_start = Some(now);
                self.used = 0;
                now
            }
        };
        let reset = self.window.saturating_sub(now.duration_since(start));
        if self.used >= self.quota {
            let secs = reset.as_secs() + u64::from(reset.subsec_nanos() > 0);
            return self
                .rate_headers(error(429, "Too many requests."), 0, reset)
                .with_header("x-retry-after", secs.to_string());
        }
        self.used += 1;
        let left = self.quota - self.used;
        let reply = self.route(req);
        self.rate_headers(reply, left, reset)
    }

    fn error_body(&self, status: u16, message: &str) -> Value {
        json!([{ "status": status, "message": message }])
    }
}
