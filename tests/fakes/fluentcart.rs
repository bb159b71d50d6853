//! A stateful fake of FluentCart REST v2's order and customer API (`/wp-json/fluent-cart/v2`), faithful to the
//! spec in `/work/shared/specs/fluentcart` and the plugin's quirks: Basic auth with a WordPress application
//! password (401 `rest_not_logged_in` otherwise); the admin create needs an existing `customer_id` (422 otherwise),
//! takes customer-address ids, ignores the body's states and payment method (every new order is on-hold /
//! pending / offline payment) and answers only `{message, order_id, uuid}`; money in integer cents (refund amounts
//! in decimal major units, as the plugin's controller reads them); the Laravel paginator envelope; `per_page` of
//! 200 or more falling back to 10; update with POST; status changes through `PUT /orders/{id}/statuses`.
//!
//! Orders are kept as canonical orders and rendered with ordermux's FluentCart codec, so their wire form is the
//! one the codec documents.

use base64::Engine;
use serde_json::{json, Value};

use ordermux::canonical::lifecycle::{self, Transition};
use ordermux::canonical::{
    Address, Currency, Customer, FulfillmentStatus, FulfillmentType, Order, OrderStatus,
    PaymentStatus, PlatformIds, StatusTriple,
};
use ordermux::dialects::fluentcart::actions::{self, BulkKind};
use ordermux::dialects::fluentcart::{self as wire, ListPage};
use ordermux::dialects::DecodeOptions;

use super::{FakePlatform, FakeRequest, FakeResponse};

const API: &str = "/wp-json/fluent-cart/v2";

#[derive(Debug, Clone)]
pub struct FakeCustomer {
    pub id: u64,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
}

#[derive(Debug, Clone)]
pub struct FakeCustomerAddress {
    pub id: u64,
    pub customer_id: u64,
    pub kind: String,
    pub body: Value,
}

pub struct FluentCartFake {
    user: String,
    password: String,
    pub orders: Vec<Order>,
    pub customers: Vec<FakeCustomer>,
    pub addresses: Vec<FakeCustomerAddress>,
    next_id: u64,
    options: DecodeOptions,
    /// The shop's e-mail notifications (`/email-notification`), by name.
    pub notifications: Vec<FakeNotification>,
    /// Every e-mail the shop sent: (notification name, order id).
    pub mails: Vec<(String, u64)>,
}

/// One of FluentCart's e-mail notifications, as `EmailNotifications` defines the defaults.
#[derive(Debug, Clone)]
pub struct FakeNotification {
    pub name: &'static str,
    pub event: &'static str,
    pub recipient: &'static str,
    pub title: &'static str,
    /// `settings.active`: only `"yes"` sends.
    pub active: String,
    /// `manage_toggle: "no"`: sent whatever `active` says (the order-placed e-mails).
    pub always: bool,
}

fn default_notifications() -> Vec<FakeNotification> {
    let n = |name, event, recipient, title, active: &str, always| FakeNotification {
        name,
        event,
        recipient,
        title,
        active: active.to_owned(),
        always,
    };
    vec![
        n(
            "order_placed_customer",
            "order_placed_offline",
            "customer",
            "Order Placed",
            "",
            true,
        ),
        n(
            "order_placed_admin",
            "order_placed_offline",
            "admin",
            "New Order (Admin)",
            "",
            true,
        ),
        n(
            "order_paid_customer",
            "order_paid",
            "customer",
            "Purchase Receipt",
            "yes",
            false,
        ),
        n(
            "order_paid_admin",
            "order_paid_done",
            "admin",
            "New Sale (Admin)",
            "yes",
            false,
        ),
        n(
            "order_refunded_customer",
            "order_refunded",
            "customer",
            "Refund Notice",
            "yes",
            false,
        ),
        n(
            "order_refunded_admin",
            "order_refunded",
            "admin",
            "Refund (Admin)",
            "no",
            false,
        ),
        n(
            "order_shipped_customer",
            "shipping_status_changed_to_shipped",
            "customer",
            "Order Shipped",
            "yes",
            false,
        ),
        n(
            "order_delivered_customer",
            "shipping_status_changed_to_delivered",
            "customer",
            "Order Delivered",
            "yes",
            false,
        ),
    ]
}

fn fc_error(status: u16, code: &str, message: &str) -> FakeResponse {
    FakeResponse::json(
        status,
        &json!({"code": code, "message": message, "data": {"status": status}}),
    )
}

/// FluentCart's `sendError()` shape: a bare message.
fn message(status: u16, text: &str) -> FakeResponse {
    FakeResponse::json(status, &json!({ "message": text }))
}

fn invalid(field: &str, text: &str) -> FakeResponse {
    FakeResponse::json(
        422,
        &json!({"message": "The given data was invalid.", "errors": {field: [text]}}),
    )
}

fn ok(body: Value) -> FakeResponse {
    FakeResponse::json(200, &body)
}

fn usd() -> Currency {
    Currency::parse("USD").unwrap()
}

fn s(v: &Value, k: &str) -> Option<String> {
    v.get(k)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .filter(|t| !t.is_empty())
}

fn u(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64(),
        Value::String(t) => t.trim().parse().ok(),
        _ => None,
    }
}

fn triple(o: &Order) -> StatusTriple {
    o.status_triple()
}

impl FluentCartFake {
    pub fn new(user: &str, password: &str) -> Self {
        FluentCartFake {
            user: user.to_owned(),
            password: password.to_owned(),
            orders: Vec::new(),
            customers: Vec::new(),
            addresses: Vec::new(),
            next_id: 100,
            options: DecodeOptions {
                default_currency: Some(usd()),
            },
            notifications: default_notifications(),
            mails: Vec::new(),
        }
    }

    /// Sends the e-mails listening to `event` about order `order_id`, as the plugin's mailer does.
    fn fire(&mut self, event: &str, order_id: u64) {
        let sent: Vec<String> = self
            .notifications
            .iter()
            .filter(|n| n.event == event && (n.always || n.active == "yes"))
            .map(|n| n.name.to_owned())
            .collect();
        self.mails
            .extend(sent.into_iter().map(|name| (name, order_id)));
    }

    /// How many customers the shop holds with `email`.
    pub fn customers_with_email(&self, email: &str) -> usize {
        self.customers.iter().filter(|c| c.email == email).count()
    }

    /// E-mails sent to customers (not the shop's admin), by notification name.
    pub fn customer_mails(&self) -> Vec<&str> {
        self.mails
            .iter()
            .filter(|(name, _)| name.ends_with("_customer"))
            .map(|(name, _)| name.as_str())
            .collect()
    }

    /// `settings.active` of notification `name`.
    pub fn notification_active(&self, name: &str) -> Option<&str> {
        self.notifications
            .iter()
            .find(|n| n.name == name)
            .map(|n| n.active.as_str())
    }

    fn list_notifications(&self) -> FakeResponse {
        let data: serde_json::Map<String, Value> = self
            .notifications
            .iter()
            .map(|n| {
                let mut settings = json!({"subject": n.title, "is_default_body": "yes", "email_body": ""});
                let mut entry = json!({"name": n.name, "event": n.event, "group": "order", "title": n.title, "recipient": n.recipient});
                if n.always {
                    entry["manage_toggle"] = json!("no");
                } else {
                    settings["active"] = json!(n.active);
                }
                entry["settings"] = settings;
                (n.name.to_owned(), entry)
            })
            .collect();
        ok(json!({ "data": data }))
    }

    fn enable_notification(&mut self, name: &str, req: &FakeRequest) -> FakeResponse {
        let active = req
            .json()
            .and_then(|b| b.get("active").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_default();
        match self.notifications.iter_mut().find(|n| n.name == name) {
            Some(n) => {
                n.active = active;
                ok(json!({"message": "Notification updated successfully"}))
            }
            None => message(422, "Failed to update notification"),
        }
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub fn order_count(&self) -> usize {
        self.orders.len()
    }

    /// Orders whose note ends with ordermux's stamp line for `key`.
    pub fn orders_with_stamp(&self, key: &str) -> Vec<&Order> {
        self.orders
            .iter()
            .filter(|o| {
                o.customer_note
                    .as_deref()
                    .and_then(|n| n.lines().last())
                    .is_some_and(|l| l.strip_prefix("ordermux-ref: ") == Some(key))
            })
            .collect()
    }

    /// The orders carrying ordermux's stamp `key`, each as its id and the quantities of its items.
    pub fn stamped_lines(&self, key: &str) -> Vec<(String, Vec<u64>)> {
        self.orders_with_stamp(key)
            .into_iter()
            .map(|o| {
                let id = o.ids.platform.fluentcart.unwrap_or_default().to_string();
                (
                    id,
                    o.line_items.iter().map(|l| u64::from(l.quantity)).collect(),
                )
            })
            .collect()
    }

    /// Orders carrying any ordermux stamp.
    pub fn stamped_orders(&self) -> usize {
        self.orders
            .iter()
            .filter(|o| {
                o.customer_note
                    .as_deref()
                    .is_some_and(|n| n.contains("ordermux-ref: omx-"))
            })
            .count()
    }

    pub fn order(&self, id: u64) -> Option<&Order> {
        self.orders
            .iter()
            .find(|o| o.ids.platform.fluentcart == Some(id))
    }

    pub fn add_customer(&mut self, email: &str, first: &str, last: &str) -> u64 {
        let id = self.id();
        self.customers.push(FakeCustomer {
            id,
            email: email.to_owned(),
            first_name: first.to_owned(),
            last_name: last.to_owned(),
        });
        id
    }

    fn authorized(&self, req: &FakeRequest) -> bool {
        let Some(value) = req.header("authorization") else {
            return false;
        };
        let Some(token) = value.strip_prefix("Basic ") else {
            return false;
        };
        let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(token.trim()) else {
            return false;
        };
        bytes == format!("{}:{}", self.user, self.password).as_bytes()
    }

    fn customer_json(c: &FakeCustomer) -> Value {
        json!({
            "id": c.id, "user_id": 0, "email": c.email, "first_name": c.first_name, "last_name": c.last_name,
            "full_name": format!("{} {}", c.first_name, c.last_name).trim().to_owned(), "status": "active",
            "created_at": "2026-01-01 00:00:00", "updated_at": "2026-01-01 00:00:00",
        })
    }

    fn envelope(order: &Order) -> Value {
        let mut v = wire::encode_order(order).value;
        if let Value::Object(map) = &mut v {
            map.entry("shipping_meta")
                .or_insert(json!({"type": "none", "rate_name": "", "custom_price": 0}));
            map.entry("selected_labels").or_insert(json!([]));
        }
        v
    }

    fn index(&self, id: &str) -> Option<usize> {
        let id: u64 = id.parse().ok()?;
        self.orders
            .iter()
            .position(|o| o.ids.platform.fluentcart == Some(id))
    }

    // ------------------------------------------------------------------------------------------------------------

    fn list_customers(&self, req: &FakeRequest) -> FakeResponse {
        let search = req.query("search").unwrap_or("").to_lowercase();
        let rows: Vec<Value> = self
            .customers
            .iter()
            .rev()
            .filter(|c| {
                search.is_empty()
                    || c.email.to_lowercase().contains(&search)
                    || format!("{} {}", c.first_name, c.last_name)
                        .to_lowercase()
                        .contains(&search)
            })
            .map(Self::customer_json)
            .collect();
        let per_page = per_page(req);
        let page = req
            .query("page")
            .and_then(|p| p.parse::<usize>().ok())
            .unwrap_or(1)
            .max(1);
        let total = rows.len();
        let data: Vec<Value> = rows
            .into_iter()
            .skip((page - 1) * per_page)
            .take(per_page)
            .collect();
        ok(json!({"customers": paginator(data, page, per_page, total, "customers")}))
    }

    fn create_customer(&mut self, req: &FakeRequest) -> FakeResponse {
        let Some(body) = req.json() else {
            return invalid("email", "Email is required");
        };
        let Some(email) = s(&body, "email").filter(|e| e.contains('@')) else {
            return invalid("email", "Email is required");
        };
        if self
            .customers
            .iter()
            .any(|c| c.email.eq_ignore_ascii_case(&email))
        {
            return FakeResponse::json(
                400,
                &json!({"code": 400, "message": "Customer already exists.", "data": ""}),
            );
        }
        let Some(first) = s(&body, "first_name").or_else(|| s(&body, "full_name")) else {
            return invalid("first_name", "First name is required");
        };
        let last = s(&body, "last_name").unwrap_or_default();
        let id = self.add_customer(&email, &first, &last);
        let c = self.customers.iter().find(|c| c.id == id).cloned();
        ok(
            json!({"message": "Customer created successfully!", "data": c.as_ref().map(Self::customer_json)}),
        )
    }

    fn customer_addresses(&mut self, req: &FakeRequest, customer: &str) -> FakeResponse {
        let Some(customer_id) = customer.parse::<u64>().ok() else {
            return message(404, "Customer not found");
        };
        if !self.customers.iter().any(|c| c.id == customer_id) {
            return message(404, "Customer not found");
        }
        if req.method == "GET" {
            let kind = req.query("type").unwrap_or("billing");
            let rows: Vec<Value> = self
                .addresses
                .iter()
                .filter(|a| a.customer_id == customer_id && a.kind == kind)
                .map(|a| a.body.clone())
                .collect();
            return ok(json!({ "addresses": rows }));
        }
        let Some(body) = req.json() else {
            return invalid("name", "Name is required");
        };
        for field in ["name", "email", "address_1", "city", "country", "type"] {
            if s(&body, field).is_none() {
                return invalid(field, &format!("{field} is required"));
            }
        }
        let kind = s(&body, "type").unwrap_or_default();
        if kind != "billing" && kind != "shipping" {
            return invalid("type", "type must be billing or shipping");
        }
        let id = self.id();
        let mut stored = body.clone();
        stored["id"] = json!(id);
        stored["customer_id"] = json!(customer_id);
        stored["status"] = json!("active");
        self.addresses.push(FakeCustomerAddress {
            id,
            customer_id,
            kind: kind.clone(),
            body: stored.clone(),
        });
        ok(
            json!({"message": format!("{} address created successfully!", if kind == "billing" {"Billing"} else {"Shipping"}), "data": stored}),
        )
    }

    /// An order address copied from a customer address, as `createOrderAddresses` does.
    fn order_address(&mut self, customer_address: u64, kind: &str) -> Option<Address> {
        let body = self
            .addresses
            .iter()
            .find(|a| a.id == customer_address && a.kind == kind)?
            .body
            .clone();
        let id = self.id();
        Some(Address {
            ids: PlatformIds {
                fluentcart: Some(id),
                ..Default::default()
            },
            full_name: s(&body, "name"),
            first_name: s(&body, "name").and_then(|n| n.split(' ').next().map(str::to_owned)),
            last_name: s(&body, "name").and_then(|n| n.split_once(' ').map(|(_, l)| l.to_owned())),
            line1: s(&body, "address_1").unwrap_or_default(),
            line2: s(&body, "address_2"),
            city: s(&body, "city").unwrap_or_default(),
            region: s(&body, "state"),
            postal_code: s(&body, "postcode"),
            country_code: s(&body, "country").unwrap_or_default(),
            phone: s(&body, "phone"),
            company: s(&body, "company_name"),
            email: s(&body, "email"),
            ..Default::default()
        })
    }

    fn customer_of(&self, id: u64) -> Option<Customer> {
        let c = self.customers.iter().find(|c| c.id == id)?;
        Some(Customer {
            ids: PlatformIds {
                fluentcart: Some(c.id),
                ..Default::default()
            },
            email: Some(c.email.clone()),
            first_name: Some(c.first_name.clone()),
            last_name: Some(c.last_name.clone()).filter(|l| !l.is_empty()),
            ..Default::default()
        })
    }

    // ------------------------------------------------------------------------------------------------------------

    fn create_order(&mut self, req: &FakeRequest) -> FakeResponse {
        let Some(doc) = req.json() else {
            return message(422, "Invalid JSON");
        };
        let customer_id = u(doc.get("customer_id"));
        let Some(customer) = customer_id.and_then(|id| self.customer_of(id)) else {
            return invalid("customer_id", "Customer selection is required");
        };
        let billing_id = u(doc.get("billing_address_id"));
        let shipping_id = u(doc.get("shipping_address_id"));
        let mut order = match wire::decode_create_request(doc, &self.options) {
            Ok(o) => o,
            Err(p) => return invalid("order_items", &p.message()),
        };
        order.strip_platform_ext(ordermux::canonical::Platform::FluentCart);
        let id = self.id();
        order.ids.platform.fluentcart = Some(id);
        order.ids.uuid = Some(format!("fake-{}", uuid::Uuid::new_v4().simple()));
        order.ids.number = Some(format!("INV-{id}"));
        order.customer = customer;
        for line in &mut order.line_items {
            line.ids.fluentcart = Some(self.next_id + 1);
            self.next_id += 1;
            // AdminOrderProcessor defaults an item's fulfillment type to digital.
            line.fulfillment_type
                .get_or_insert(FulfillmentType::Digital);
        }
        let physical = order
            .line_items
            .iter()
            .any(|l| l.fulfillment_type == Some(FulfillmentType::Physical));
        // The admin create's forced state, whatever the body said.
        order.status = OrderStatus::Placed;
        order.payment_status = PaymentStatus::Unpaid;
        order.fulfillment_status = if physical {
            FulfillmentStatus::Unfulfilled
        } else {
            FulfillmentStatus::NotRequired
        };
        order.payment_method = Some("offline_payment".to_owned());
        order.payment_method_title = None;
        order.payments.clear();
        order.totals.paid_total = None;
        order.totals.refunded_total = None;
        order.tax_included = false;
        order.billing_address = match billing_id {
            Some(a) => match self.order_address(a, "billing") {
                Some(addr) => Some(addr),
                None => return invalid("billing_address_id", "Billing address not found"),
            },
            None => None,
        };
        order.shipping_destinations = match shipping_id {
            Some(a) => match self.order_address(a, "shipping") {
                Some(addr) => vec![addr],
                None => return invalid("shipping_address_id", "Shipping address not found"),
            },
            None => Vec::new(),
        };
        order.recompute_totals();
        let now = chrono::Utc::now();
        order.timestamps = Default::default();
        order.timestamps.created_at = Some(now);
        order.timestamps.updated_at = Some(now);
        let uuid = order.ids.uuid.clone();
        let payable = order.totals.total.minor > 0;
        self.orders.push(order);
        if payable {
            // The forced offline payment's handler announces the order.
            self.fire("order_placed_offline", id);
        }
        ok(json!({"message": "Order created successfully!", "order_id": id, "uuid": uuid}))
    }

    fn list_orders(&self, req: &FakeRequest) -> FakeResponse {
        let per_page = per_page(req);
        let page = req
            .query("page")
            .and_then(|p| p.parse::<usize>().ok())
            .unwrap_or(1)
            .max(1);
        let mut found: Vec<&Order> = self.orders.iter().collect();
        let array = |name: &str| -> Vec<String> {
            req.query
                .iter()
                .filter(|(k, _)| k == name || k.starts_with(&format!("{name}[")))
                .map(|(_, v)| v.clone())
                .collect()
        };
        let search = req.query("search").map(str::trim).unwrap_or("").to_owned();
        let operator = parse_operator(&search);
        let t = &ordermux::dialects::tables::get().fluentcart_statuses;
        match &operator {
            Some(cond) => found.retain(|o| cond.matches(o)),
            None => {
                // Operator searches skip the status filters (`OrderFilter::applySimpleFilter`).
                let (os, ps, ss) = (
                    array("order_statuses"),
                    array("payment_statuses"),
                    array("shipping_statuses"),
                );
                found.retain(|o| {
                    (os.is_empty() || os.iter().any(|v| v == t.order.render(o.status)))
                        && (ps.is_empty()
                            || ps.iter().any(|v| v == t.payment.render(o.payment_status)))
                        && (ss.is_empty()
                            || ss
                                .iter()
                                .any(|v| v == t.fulfillment.render(o.fulfillment_status)))
                });
                if !search.is_empty() {
                    let needle = search.to_lowercase();
                    found.retain(|o| {
                        let hay = [
                            o.ids.number.clone().unwrap_or_default(),
                            o.customer.email.clone().unwrap_or_default(),
                            format!(
                                "{} {}",
                                o.customer.first_name.clone().unwrap_or_default(),
                                o.customer.last_name.clone().unwrap_or_default()
                            ),
                        ];
                        hay.iter().any(|h| h.to_lowercase().contains(&needle))
                            || o.line_items
                                .iter()
                                .any(|l| l.name.to_lowercase().contains(&needle))
                    });
                }
            }
        }
        let sort_by = req.query("sort_by").unwrap_or("id");
        let desc = req.query("sort_type").map(str::to_lowercase).as_deref() != Some("asc");
        found.sort_by(|a, b| {
            let ord = match sort_by {
                "total_amount" => a.totals.total.minor.cmp(&b.totals.total.minor),
                "created_at" => a.timestamps.created_at.cmp(&b.timestamps.created_at),
                _ => a.ids.platform.fluentcart.cmp(&b.ids.platform.fluentcart),
            };
            if desc {
                ord.reverse()
            } else {
                ord
            }
        });
        let total = found.len();
        let mut orders: Vec<Order> = found
            .into_iter()
            .skip((page - 1) * per_page)
            .take(per_page)
            .cloned()
            .collect();
        let with_items = array("with").iter().any(|w| w == "order_items");
        let mut value = wire::encode_list(&ListPage {
            orders: &orders,
            current_page: page as u64,
            per_page: per_page as u64,
            total: total as u64,
        })
        .value;
        if !with_items {
            // Without `with=order_items` the rows are the order columns and the appended customer only.
            orders.iter_mut().for_each(|o| o.line_items.clear());
            if let Some(rows) = value
                .get_mut("orders")
                .and_then(|o| o.get_mut("data"))
                .and_then(Value::as_array_mut)
            {
                for row in rows {
                    if let Value::Object(m) = row {
                        m.remove("order_items");
                    }
                }
            }
        }
        if let Some(Value::Object(p)) = value.get_mut("orders") {
            let last_page = total.div_ceil(per_page).max(1);
            p.insert("path".into(), json!(format!("http://fake{API}/orders")));
            p.insert(
                "first_page_url".into(),
                json!(format!("http://fake{API}/orders/?page=1")),
            );
            p.insert(
                "last_page_url".into(),
                json!(format!("http://fake{API}/orders/?page={last_page}")),
            );
            p.insert(
                "next_page_url".into(),
                if page < last_page {
                    json!(format!("http://fake{API}/orders/?page={}", page + 1))
                } else {
                    Value::Null
                },
            );
            p.insert(
                "prev_page_url".into(),
                if page > 1 {
                    json!(format!("http://fake{API}/orders/?page={}", page - 1))
                } else {
                    Value::Null
                },
            );
            p.insert("links".into(), json!([]));
        }
        ok(value)
    }

    fn update_order(&mut self, i: usize, req: &FakeRequest) -> FakeResponse {
        let Some(mut doc) = req.json() else {
            return message(422, "Invalid JSON");
        };
        if doc.get("status").and_then(Value::as_str) == Some("completed") {
            return message(400, "Completed status can not be updated");
        }
        let currency = self.orders[i].currency;
        if let Value::Object(m) = &mut doc {
            m.entry("currency")
                .or_insert(Value::String(currency.as_str().to_owned()));
        }
        let note_sent = doc.get("note").map(|n| n.as_str().unwrap_or("").to_owned());
        let update = match wire::decode_update_request(doc, &self.options) {
            Ok(u) => u,
            Err(p) => return invalid("order_items", &p.message()),
        };
        let mut next = self.next_id;
        let order = &mut self.orders[i];
        order.line_items.retain(|l| {
            !l.ids
                .fluentcart
                .is_some_and(|id| update.deleted_line_ids.contains(&id))
        });
        for mut line in update.order.line_items {
            line.ext = Default::default();
            match line.ids.fluentcart {
                Some(id) => {
                    if let Some(existing) = order
                        .line_items
                        .iter_mut()
                        .find(|l| l.ids.fluentcart == Some(id))
                    {
                        existing.quantity = line.quantity;
                        existing.unit_price = line.unit_price;
                        existing.name = line.name;
                        existing.discount_total = line.discount_total;
                    } else {
                        return invalid(
                            "order_items",
                            &format!("order item {id} is not on this order"),
                        );
                    }
                }
                None => {
                    next += 1;
                    line.ids.fluentcart = Some(next);
                    line.fulfillment_type
                        .get_or_insert(FulfillmentType::Digital);
                    order.line_items.push(line);
                }
            }
        }
        if order.line_items.is_empty() {
            return invalid("order_items", "Order items are required");
        }
        if let Some(note) = note_sent {
            order.customer_note = Some(note).filter(|n| !n.is_empty());
        }
        order.shipping_lines = update.order.shipping_lines;
        order.recompute_totals();
        order.timestamps.updated_at = Some(chrono::Utc::now());
        self.next_id = next;
        let body = Self::envelope(&self.orders[i]);
        ok(json!({"message": "Order updated successfully", "order": body["order"]}))
    }

    fn mark_paid(&mut self, i: usize, req: &FakeRequest) -> FakeResponse {
        let body = req.json().unwrap_or(json!({}));
        let method = s(&body, "payment_method").unwrap_or_else(|| "offline_payment".to_owned());
        let tx = self.id();
        let order = &mut self.orders[i];
        if order.status == OrderStatus::Cancelled {
            return message(423, "Unable to mark paid for canceled order");
        }
        let due = order.totals.total.minor - order.totals.paid_total.map_or(0, |p| p.minor);
        if due <= 0 || order.payment_status == PaymentStatus::Paid {
            return message(423, "Order has already been paid");
        }
        let now = chrono::Utc::now();
        if let Err(p) = lifecycle::apply(
            order,
            &Transition::MarkPaid {
                method: Some(method),
            },
            now,
        ) {
            return message(423, &p.message());
        }
        if let Some(p) = order.payments.last_mut() {
            p.ids.fluentcart = Some(tx);
            p.kind = Some("charge".to_owned());
        }
        if matches!(
            order.status,
            OrderStatus::Placed | OrderStatus::OnHold | OrderStatus::Pending
        ) {
            order.status = OrderStatus::Processing;
        }
        let digital = order
            .line_items
            .iter()
            .all(|l| l.fulfillment_type == Some(FulfillmentType::Digital));
        if digital && order.status == OrderStatus::Processing {
            order.status = OrderStatus::Completed;
        }
        let id = order.ids.platform.fluentcart.unwrap_or_default();
        self.fire("order_paid", id);
        self.fire("order_paid_done", id);
        ok(json!({"message": "Order has been marked as paid"}))
    }

    fn refund(&mut self, i: usize, req: &FakeRequest) -> FakeResponse {
        let Some(doc) = req.json() else {
            return message(422, "Transaction ID is required");
        };
        let currency = self.orders[i].currency;
        let r = match actions::decode_refund_request(doc, currency) {
            Ok(r) => r,
            Err(p) => return message(422, &p.message()),
        };
        // FluentCart itself always wants the transaction.
        let Some(named) = r.transaction_id else {
            return message(422, "Transaction ID is required");
        };
        let tx = self.id();
        let order = &mut self.orders[i];
        if !order
            .payments
            .iter()
            .any(|p| p.ids.fluentcart == Some(named) && p.kind.as_deref() != Some("refund"))
        {
            return message(422, "Transaction not found");
        }
        if let Err(p) = lifecycle::apply(
            order,
            &Transition::Refund {
                amount: Some(r.amount),
            },
            chrono::Utc::now(),
        ) {
            return message(400, &p.message());
        }
        if let Some(p) = order.payments.last_mut() {
            p.ids.fluentcart = Some(tx);
        }
        let id = order.ids.platform.fluentcart.unwrap_or_default();
        self.fire("order_refunded", id);
        ok(json!({
            "fluent_cart_refund": {"status": "success", "message": "Refund processed on FluentCart."},
            "gateway_refund": {"status": "success", "message": "Refund processed manually."},
        }))
    }

    fn statuses(&mut self, i: usize, req: &FakeRequest) -> FakeResponse {
        let Some(doc) = req.json() else {
            return invalid("action", "action is required");
        };
        let change = match actions::decode_statuses_request(doc) {
            Ok(c) => c,
            Err(p) => return invalid("statuses", &p.message()),
        };
        let order = &mut self.orders[i];
        let before = triple(order);
        let old = change.current(before).to_owned();
        if old == change.value() {
            return message(400, "Order already has the same status");
        }
        let target = match change.apply(before) {
            Ok(t) => t,
            Err(p) => return invalid("statuses", &p.message()),
        };
        order.status = target.order;
        order.payment_status = target.payment;
        order.fulfillment_status = target.fulfillment;
        order.timestamps.updated_at = Some(chrono::Utc::now());
        let id = order.ids.platform.fluentcart.unwrap_or_default();
        let shipped = (before.fulfillment != target.fulfillment).then_some(target.fulfillment);
        match shipped {
            Some(FulfillmentStatus::Fulfilled) => {
                self.fire("shipping_status_changed_to_shipped", id)
            }
            Some(FulfillmentStatus::Delivered) => {
                self.fire("shipping_status_changed_to_delivered", id)
            }
            _ => {}
        }
        let order = &self.orders[i];
        ok(
            json!({"message": "Status has been updated", "data": {"order_id": order.ids.platform.fluentcart, "old_status": old, "new_status": change.value()}}),
        )
    }

    fn bulk(&mut self, req: &FakeRequest) -> FakeResponse {
        let Some(doc) = req.json() else {
            return invalid("action", "action is required");
        };
        let action = match actions::decode_bulk_action(doc) {
            Ok(a) => a,
            Err(p) => return invalid("action", &p.message()),
        };
        let mut failed = Vec::new();
        for id in &action.order_ids {
            let Some(i) = self.index(&id.to_string()) else {
                failed.push(*id);
                continue;
            };
            match &action.kind {
                BulkKind::DeleteOrders => {
                    self.orders.remove(i);
                }
                BulkKind::CapturePayments => {
                    let tx = self.id();
                    let order = &mut self.orders[i];
                    if lifecycle::apply(order, &Transition::Capture, chrono::Utc::now()).is_err() {
                        failed.push(*id);
                    } else if let Some(p) = order.payments.last_mut() {
                        p.ids.fluentcart = Some(tx);
                    }
                }
                BulkKind::ChangeStatus(change) => {
                    let order = &mut self.orders[i];
                    match change.apply(triple(order)) {
                        Ok(t) if change.current(triple(order)) != change.value() => {
                            order.status = t.order;
                            order.payment_status = t.payment;
                            order.fulfillment_status = t.fulfillment;
                        }
                        _ => failed.push(*id),
                    }
                }
            }
        }
        if !failed.is_empty() && failed.len() == action.order_ids.len() {
            return message(423, "The selected orders cannot be updated");
        }
        let mut body = json!({"message": "Bulk action done"});
        if !failed.is_empty() {
            body["failed_order_ids"] = json!(failed);
        }
        ok(body)
    }

    fn change_customer(&mut self, i: usize, req: &FakeRequest) -> FakeResponse {
        let Some(id) = req.json().and_then(|d| u(d.get("customer_id"))) else {
            return invalid("customer_id", "Customer is required");
        };
        let Some(customer) = self.customer_of(id) else {
            return invalid("customer_id", "Customer not found");
        };
        self.orders[i].customer = customer;
        ok(json!({"message": "Customer changed successfully"}))
    }

    fn update_address(&mut self, i: usize, address_id: &str, req: &FakeRequest) -> FakeResponse {
        let Some(body) = req.json() else {
            return invalid("order_id", "order_id is required");
        };
        let Ok(address_id) = address_id.parse::<u64>() else {
            return message(404, "Address not found");
        };
        let order = &mut self.orders[i];
        let slot = order
            .billing_address
            .iter_mut()
            .chain(order.shipping_destinations.iter_mut())
            .find(|a| a.ids.fluentcart == Some(address_id));
        let Some(a) = slot else {
            return message(404, "Address not found");
        };
        if let Some(n) = s(&body, "name") {
            a.full_name = Some(n);
        }
        if let Some(v) = s(&body, "first_name") {
            a.first_name = Some(v);
        }
        if let Some(v) = s(&body, "last_name") {
            a.last_name = Some(v);
        }
        if let Some(v) = s(&body, "address_1") {
            a.line1 = v;
        }
        a.line2 = s(&body, "address_2");
        if let Some(v) = s(&body, "city") {
            a.city = v;
        }
        a.region = s(&body, "state");
        a.postal_code = s(&body, "postcode");
        if let Some(v) = s(&body, "country") {
            a.country_code = v;
        }
        ok(json!({"message": "Address updated successfully"}))
    }
}

fn per_page(req: &FakeRequest) -> usize {
    match req
        .query("per_page")
        .and_then(|p| p.trim().parse::<usize>().ok())
    {
        Some(n) if n > 0 && n < 200 => n,
        _ => 10,
    }
}

fn paginator(data: Vec<Value>, page: usize, per_page: usize, total: usize, what: &str) -> Value {
    json!({
        "current_page": page, "data": data, "per_page": per_page, "total": total,
        "last_page": total.div_ceil(per_page).max(1),
        "path": format!("http://fake{API}/{what}"),
    })
}

/// One `field op value` search condition, as FluentCart's operator search reads it (the subset tests use).
enum Cond {
    Id(u64, u64),
    Status(String),
}

impl Cond {
    fn matches(&self, o: &Order) -> bool {
        match self {
            Cond::Id(a, b) => o
                .ids
                .platform
                .fluentcart
                .is_some_and(|id| id >= *a && id <= *b),
            Cond::Status(v) => {
                ordermux::dialects::tables::get()
                    .fluentcart_statuses
                    .order
                    .render(o.status)
                    == v
            }
        }
    }
}

fn parse_operator(search: &str) -> Option<Cond> {
    let (field, rest) = search.split_once(' ')?;
    let rest = rest.trim();
    let num = |t: &str| t.trim().parse::<u64>().ok();
    match field {
        "id" => {
            if let Some(v) = rest.strip_prefix("::") {
                let (a, b) = v.split_once('-')?;
                Some(Cond::Id(num(a)?, num(b)?))
            } else if let Some(v) = rest.strip_prefix(">=") {
                Some(Cond::Id(num(v)?, u64::MAX))
            } else if let Some(v) = rest.strip_prefix("<=") {
                Some(Cond::Id(0, num(v)?))
            } else if let Some(v) = rest.strip_prefix('=') {
                let n = num(v)?;
                Some(Cond::Id(n, n))
            } else {
                None
            }
        }
        "status" => rest
            .strip_prefix('=')
            .map(|v| Cond::Status(v.trim().to_owned())),
        _ => None,
    }
}

impl FakePlatform for FluentCartFake {
    fn handle(&mut self, req: &FakeRequest) -> FakeResponse {
        if !self.authorized(req) {
            return fc_error(
                401,
                "rest_not_logged_in",
                "You are not currently logged in.",
            );
        }
        let Some(segs) = req.segments_after(API) else {
            return fc_error(
                404,
                "rest_no_route",
                "No route was found matching the URL and request method.",
            );
        };
        let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
        let m = req.method.as_str();
        let not_found = || message(404, "Order not found");
        match (m, segs.as_slice()) {
            ("GET", ["customers"]) => self.list_customers(req),
            ("POST", ["customers"]) => self.create_customer(req),
            ("GET" | "POST", ["customers", id, "address"]) => self.customer_addresses(req, id),
            ("GET", ["email-notification"]) => self.list_notifications(),
            ("POST", ["email-notification", "enable-notification", name]) => {
                self.enable_notification(name, req)
            }
            ("GET", ["orders"]) => self.list_orders(req),
            ("POST", ["orders"]) => self.create_order(req),
            ("POST", ["orders", "do-bulk-action"]) => self.bulk(req),
            (_, ["orders", id, rest @ ..]) => {
                let Some(i) = self.index(id) else {
                    return not_found();
                };
                match (m, rest) {
                    ("GET", []) => ok(Self::envelope(&self.orders[i])),
                    ("POST", []) => self.update_order(i, req),
                    ("DELETE", []) => {
                        let o = self.orders.remove(i);
                        ok(
                            json!({"message": format!("Order {id} deleted successfully"), "data": {"order_id": o.ids.platform.fluentcart, "invoice_no": o.ids.number, "status": "success"}, "errors": []}),
                        )
                    }
                    ("POST", ["mark-as-paid"]) => self.mark_paid(i, req),
                    ("POST", ["refund"]) => self.refund(i, req),
                    ("PUT", ["statuses"]) => self.statuses(i, req),
                    ("POST", ["change-customer"]) => self.change_customer(i, req),
                    ("PUT", ["address", address]) => self.update_address(i, address, req),
                    _ => fc_error(
                        404,
                        "rest_no_route",
                        "No route was found matching the URL and request method.",
                    ),
                }
            }
            _ => fc_error(
                404,
                "rest_no_route",
                "No route was found matching the URL and request method.",
            ),
        }
    }

    fn error_body(&self, status: u16, message: &str) -> Value {
        json!({"code": format!("http_{status}"), "message": message, "data": {"status": status}})
    }
}
