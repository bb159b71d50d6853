//! Orders built over several requests, every request under an Idempotency-Key of its own, driven by random sequences
//! on the shops `idempotency_model` uses, with its faults and restarts (reliability.md §8): Commerce Layer callers'
//! orders as that platform builds them (a draft, a line item, an address, the addresses linked, `_place`; on a
//! Commerce Layer shop each request is a call upstream, on the others the draft is staged in ordermux and sent whole
//! when placed), and FluentCart callers' orders created, marked as paid and partly refunded.
//!
//! The caller behaves as a careful integrator would. A request that was not sent (429, 503) or whose key is still
//! held (409 "in progress") is sent again under its key. One whose outcome is unknown (a 502 or 504 the key keeps,
//! 409 `idem_interrupted` after a restart, a refusal) is not: once whatever it asked for had time to land, the caller
//! reads the order and goes on from what it shows, under a new key. An order's create (a draft, a FluentCart order)
//! is sent again under its key whatever happened, since an order create reconciles.
//!
//! Checked as answers arrive: a key answered once replays that answer byte for byte; errors come in the caller's
//! shape with the HTTP status; a 409 for a held key carries `Retry-After`; no read shows a refund made twice. Checked
//! at the end, after the faults stop, every flow is driven to its end, and the gateway restarts: each flow has exactly
//! one order, placed (Commerce Layer) or paid and refunded once (FluentCart), with its one line item of the quantity
//! asked (no line doubled by a retry); the shop holds no other order; every key's answer is replayed the same after
//! the restart.
//!
//! `ORDERMUX_MODEL_SEED=<n>` runs one seed, `ORDERMUX_MODEL_STEPS=<n>` makes each sequence that long.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ordermux::canonical::Platform;
use reqwest::Method;
use serde_json::{json, Value};

use super::harness::{fresh_dir, TestGateway};
use super::idempotency_model::{for_each_seed, gateway_config, random_fault, steps, Shop};
use crate::support::Rng;

/// Steps per sequence, unless `ORDERMUX_MODEL_STEPS` says how many.
const STEPS: usize = 48;
/// The seeds run by default.
const SEEDS: [u64; 2] = [0xF10_0001, 0xF10_0002];
/// How long an unknown outcome is given to land before the caller reads the order: longer than the late landings
/// and slow replies the faults make (1 s).
const LAND: Duration = Duration::from_millis(1_200);

/// Where a flow is: the request it sends next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    // A Commerce Layer caller's order.
    Draft,
    Line,
    Address,
    Link,
    Place,
    // A FluentCart caller's order.
    Create,
    Pay,
    Refund,
    Done,
}

#[derive(Debug)]
struct Flow {
    quantity: u64,
    stage: Stage,
    /// The order's id, once its draft was answered.
    order: Option<String>,
    /// The address made for it, once answered.
    address: Option<String>,
    /// A FluentCart caller's flow: the caller speaks FluentCart throughout.
    fluentcart: bool,
    /// The FluentCart order's payment to refund from (none on a shop that keeps no transactions), once read.
    transaction: Option<Value>,
    /// The key the current stage's request goes under.
    key: String,
    /// Set when the current request's outcome is unknown: the order is read once this has passed.
    read_after: Option<Instant>,
}

/// A request as sent, kept for its key's replay after the restart.
#[derive(Debug, Clone)]
struct Request {
    method: Method,
    path: String,
    body: Value,
}

#[derive(Debug)]
struct Answer {
    status: u16,
    replayed: bool,
    retry_after: bool,
    body: Vec<u8>,
    doc: Value,
}

impl Answer {
    fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The first error's title: the gateway's 409s differ by it (in progress, or interrupted).
    fn title(&self) -> &str {
        self.doc["errors"][0]["title"].as_str().unwrap_or("")
    }

    /// The gateway's error code, in either dialect (Commerce Layer's 409s differ by their title).
    fn code(&self) -> &str {
        if let Some(code) = self.doc["code"].as_str() {
            return code;
        }
        match (self.status, self.title()) {
            (409, t) if t.contains("in progress") => "idem_in_flight",
            (409, t) if t.contains("took effect") => "idem_interrupted",
            (422, t) if t.contains("Idempotency-Key reused") => "idem_key_reused",
            _ => "",
        }
    }

    fn in_progress(&self) -> bool {
        self.status == 409 && self.code() == "idem_in_flight"
    }
}

struct Model {
    seed: u64,
    flows: Vec<Flow>,
    /// The first success of each key, with its request.
    answered: BTreeMap<String, (Request, Answer)>,
    log: Vec<String>,
    next_key: u32,
}

impl Model {
    fn context(&self) -> String {
        let tail: Vec<&String> = self.log.iter().rev().take(14).collect();
        format!("seed {:#x}; last steps, newest first: {tail:#?}", self.seed)
    }

    fn new_key(&mut self, rng: &mut Rng) -> String {
        self.next_key += 1;
        format!(
            "flow-{:x}-{}-{}",
            self.seed,
            self.next_key,
            rng.below(1_000_000)
        )
    }

    /// The request flow `i` sends next.
    fn request(&self, i: usize) -> Request {
        let flow = &self.flows[i];
        let order = flow.order.clone().unwrap_or_default();
        let (method, path, body) = match flow.stage {
            Stage::Draft => (
                Method::POST,
                "/orders".to_owned(),
                json!({"data": {"type": "orders",
                    "attributes": {"customer_email": "ada@example.com"},
                    "relationships": {"market": {"data": {"type": "markets", "id": "usd"}}}}}),
            ),
            Stage::Line => (
                Method::POST,
                "/line_items".to_owned(),
                json!({"data": {"type": "line_items",
                    "attributes": {"sku_code": "MUG-WHT", "quantity": flow.quantity},
                    "relationships": {"order": {"data": {"type": "orders", "id": order}}}}}),
            ),
            Stage::Address => (
                Method::POST,
                "/addresses".to_owned(),
                json!({"data": {"type": "addresses", "attributes": {"first_name": "Ada",
                    "last_name": "Lovelace", "line_1": "1 Main St", "city": "Austin", "zip_code": "78701",
                    "state_code": "TX", "country_code": "US", "phone": "+1 512 555 0100"}}}),
            ),
            Stage::Link => {
                let address = json!({"data": {"type": "addresses", "id": flow.address}});
                (
                    Method::PATCH,
                    format!("/orders/{order}"),
                    json!({"data": {"type": "orders", "id": order, "relationships": {
                        "billing_address": address, "shipping_address": address}}}),
                )
            }
            Stage::Place => (
                Method::PATCH,
                format!("/orders/{order}"),
                json!({"data": {"type": "orders", "id": order, "attributes": {"_place": true}}}),
            ),
            Stage::Create => (
                Method::POST,
                "/orders".to_owned(),
                json!({"customer_id": 1, "currency": "USD",
                    "order_items": [{"object_id": 1001, "quantity": flow.quantity}],
                    "shipping_address": {"first_name": "Ada", "last_name": "Lovelace", "address_1": "1 Main St",
                        "city": "Austin", "state": "TX", "postcode": "78701", "country": "US",
                        "meta": {"other_data": {"phone": "+1 512 555 0100"}}}}),
            ),
            Stage::Pay => (
                Method::POST,
                format!("/orders/{order}/mark-as-paid"),
                json!({"payment_method": "offline_payment"}),
            ),
            Stage::Refund => {
                let mut refund = json!({"amount": refund_of(flow.quantity)});
                if let Some(t) = flow.transaction.as_ref().filter(|t| !t.is_null()) {
                    refund["transaction_id"] = t.clone();
                }
                (
                    Method::POST,
                    format!("/orders/{order}/refund"),
                    json!({ "refund_info": refund }),
                )
            }
            Stage::Done => unreachable!("a finished flow sends nothing"),
        };
        Request { method, path, body }
    }

    /// Checks an answer to `key` against what the model allows. `answered_before`: whether the key had its
    /// success before this request was sent (requests sent together with a new key may each be the first).
    fn check(&mut self, key: &str, request: &Request, a: Answer, answered_before: bool) -> Answer {
        let context = self.context();
        let what = format!(
            "{key} {} {}: {} {}",
            request.method,
            request.path,
            a.status,
            if a.ok() { "" } else { a.code() }
        );
        self.log.push(what.clone());
        if let Some((_, first)) = self.answered.get(key) {
            if answered_before || a.ok() {
                assert!(
                    a.ok() && a.replayed,
                    "{what}: a key answered before must replay; {context}"
                );
                assert_eq!(
                    (a.status, &a.body),
                    (first.status, &first.body),
                    "{what}: the replay differs from the first answer; {context}"
                );
                return a;
            }
        }
        if a.ok() {
            self.answered.insert(
                key.to_owned(),
                (
                    request.clone(),
                    Answer {
                        status: a.status,
                        replayed: a.replayed,
                        retry_after: a.retry_after,
                        body: a.body.clone(),
                        doc: a.doc.clone(),
                    },
                ),
            );
            return a;
        }
        assert!(
            matches!(a.status, 409 | 422 | 429 | 502 | 503 | 504),
            "{what}: not an answer the model allows: {}; {context}",
            a.doc
        );
        assert!(
            a.code() != "idem_key_reused",
            "{what}: only one body is ever sent under a key; {context}"
        );
        if a.doc.get("errors").is_some() {
            assert_eq!(
                a.doc["errors"][0]["status"],
                a.status.to_string(),
                "{what}: {}; {context}",
                a.doc
            );
        } else {
            assert_eq!(a.doc["success"], false, "{what}: {}; {context}", a.doc);
            assert_eq!(
                a.doc["data"]["status"], a.status,
                "{what}: {}; {context}",
                a.doc
            );
        }
        if a.in_progress() {
            assert!(a.retry_after, "{what}: 409 without Retry-After; {context}");
        }
        a
    }
}

/// Sends `request` under `key`, as a FluentCart caller or else a Commerce Layer one.
async fn send(
    gw: &TestGateway,
    token: &str,
    fluentcart: bool,
    key: &str,
    request: &Request,
) -> Answer {
    let builder = if fluentcart {
        gw.fc(request.method.clone(), &request.path)
    } else {
        gw.cl(token, request.method.clone(), &request.path)
    };
    let resp = builder
        .header("idempotency-key", key)
        .json(&request.body)
        .send()
        .await
        .expect("the gateway answers");
    let status = resp.status().as_u16();
    let replayed = resp.headers().contains_key("idempotent-replayed");
    let retry_after = resp.headers().contains_key("retry-after");
    let body = resp.bytes().await.expect("a whole body").to_vec();
    let doc = serde_json::from_slice(&body).unwrap_or_else(|_| {
        panic!(
            "{key}: {status} is not JSON: {}",
            String::from_utf8_lossy(&body)
        )
    });
    Answer {
        status,
        replayed,
        retry_after,
        body,
        doc,
    }
}

/// The order as its caller reads it, with its line items and shipping address: `None` when the read failed (a
/// fault); the caller reads again later.
async fn read_order(gw: &TestGateway, token: &str, fluentcart: bool, id: &str) -> Option<Value> {
    let request = if fluentcart {
        gw.fc(Method::GET, &format!("/orders/{id}"))
    } else {
        gw.cl(
            token,
            Method::GET,
            &format!("/orders/{id}?include=line_items,shipping_address"),
        )
    };
    let resp = request.send().await.ok()?;
    if resp.status() != 200 {
        return None;
    }
    resp.json().await.ok()
}

/// The amount a FluentCart flow refunds (major units, as FluentCart's refund takes it): a part of its order, a
/// dollar per unit ordered.
fn refund_of(quantity: u64) -> String {
    format!("{quantity}.00")
}

/// The line items of an order read (`read_order`), as their quantities.
fn line_quantities(order: &Value) -> Vec<u64> {
    if let Some(items) = order["order"]["order_items"].as_array() {
        return items
            .iter()
            .filter_map(|i| i["quantity"].as_u64())
            .collect();
    }
    order["included"]
        .as_array()
        .into_iter()
        .flatten()
        // Commerce Layer lists the shipping as a line item too.
        .filter(|r| r["type"] == "line_items" && r["attributes"]["item_type"] == "skus")
        .filter_map(|r| r["attributes"]["quantity"].as_u64())
        .collect()
}

/// Acts on an answer to flow `i`'s current request, sent under `key`.
fn advance(model: &mut Model, rng: &mut Rng, i: usize, key: &str, a: &Answer) {
    if model.flows[i].key != key || model.flows[i].stage == Stage::Done {
        // Another request of a burst moved the flow on already.
        return;
    }
    let stage = model.flows[i].stage;
    if a.ok() {
        let id = a.doc["data"]["id"].as_str().map(str::to_owned);
        let flow = &mut model.flows[i];
        flow.stage = match stage {
            Stage::Draft => {
                flow.order = Some(id.expect("a draft's id"));
                Stage::Line
            }
            Stage::Line => Stage::Address,
            Stage::Address => {
                flow.address = Some(id.expect("an address's id"));
                Stage::Link
            }
            Stage::Link => Stage::Place,
            Stage::Create => {
                let id = a.doc["order_id"].as_u64().expect("a FluentCart order id");
                flow.order = Some(id.to_string());
                Stage::Pay
            }
            Stage::Pay => Stage::Refund,
            Stage::Place | Stage::Refund | Stage::Done => Stage::Done,
        };
        flow.read_after = None;
        model.flows[i].key = model.new_key(rng);
        return;
    }
    // Held, paced, or not sent: the same key again. An order's create reconciles whatever happened.
    if a.in_progress()
        || matches!(a.status, 429 | 503)
        || matches!(stage, Stage::Draft | Stage::Create)
    {
        return;
    }
    match stage {
        // An address that may or may not exist is no order's: another is made.
        Stage::Address => model.flows[i].key = model.new_key(rng),
        // Unknown, or refused: the order says, once whatever was asked had time to land.
        _ => {
            let flow = &mut model.flows[i];
            flow.read_after.get_or_insert(Instant::now() + LAND);
        }
    }
}

/// Reads flow `i`'s order to learn what its request of unknown outcome did, and goes on from there under a new key.
async fn resolve(model: &mut Model, rng: &mut Rng, gw: &TestGateway, token: &str, i: usize) {
    let id = model.flows[i].order.clone().expect("a draft");
    let fluentcart = model.flows[i].fluentcart;
    let Some(order) = read_order(gw, token, fluentcart, &id).await else {
        model.log.push(format!("flow {i}: read failed"));
        return;
    };
    let lines = line_quantities(&order);
    let context = model.context();
    assert!(
        lines.len() <= 1,
        "flow {i}: a line item doubled: {lines:?}; {context}"
    );
    let flow = &mut model.flows[i];
    let attributes = &order["data"]["attributes"];
    let refunded = order["order"]["total_refund"].as_u64().unwrap_or(0);
    let asked = flow.quantity * 100;
    assert!(
        refunded == 0 || refunded == asked,
        "flow {i}: refunded {refunded}, asked {asked} (I2); {context}"
    );
    let done = match flow.stage {
        Stage::Line => !lines.is_empty(),
        Stage::Link => !order["data"]["relationships"]["shipping_address"]["data"].is_null(),
        Stage::Place => attributes["status"] == "placed",
        // Paid whole: a payment taken in two calls (Commerce Layer's approve, then capture) may have stopped
        // half-way, authorized, which the caller completes by asking again.
        Stage::Pay => order["order"]["payment_status"] == "paid",
        Stage::Refund => refunded == asked,
        _ => unreachable!("only requests of unknown outcome are resolved"),
    };
    model.log.push(format!(
        "flow {i}: read {:?}: {}",
        flow.stage,
        if done { "it happened" } else { "it did not" }
    ));
    if done {
        flow.stage = match flow.stage {
            Stage::Line => Stage::Address,
            Stage::Link => Stage::Place,
            Stage::Pay => Stage::Refund,
            _ => Stage::Done,
        };
    }
    flow.read_after = None;
    model.flows[i].key = model.new_key(rng);
}

/// Whether flow `i`'s next request can be made: a FluentCart refund names the order's payment, read first (the
/// read may meet a fault; the caller reads again later).
async fn ready(model: &mut Model, gw: &TestGateway, i: usize) -> bool {
    let flow = &model.flows[i];
    if flow.stage != Stage::Refund || flow.transaction.is_some() {
        return true;
    }
    let id = flow.order.clone().expect("created");
    let Ok(resp) = gw
        .fc(Method::GET, &format!("/orders/{id}/transactions"))
        .send()
        .await
    else {
        return false;
    };
    if resp.status() != 200 {
        return false;
    }
    let Ok(doc) = resp.json::<Value>().await else {
        return false;
    };
    // A shop that keeps no payment transactions (BigCommerce) refunds the order itself.
    model.flows[i].transaction = Some(
        doc["order"]["transactions"][0]["id"]
            .as_u64()
            .map_or(Value::Null, Value::from),
    );
    true
}

/// Moves flow `i` one request on: its current request sent (again), or its order read if the last one's outcome
/// is unknown and had time to land.
async fn step_flow(model: &mut Model, rng: &mut Rng, gw: &TestGateway, token: &str, i: usize) {
    match model.flows[i].read_after {
        Some(at) if Instant::now() >= at => return resolve(model, rng, gw, token, i).await,
        _ => {}
    }
    if !ready(model, gw, i).await {
        return;
    }
    let key = model.flows[i].key.clone();
    let request = model.request(i);
    let before = model.answered.contains_key(&key);
    model.log.push(format!("flow {i}: send {key}"));
    let a = send(gw, token, model.flows[i].fluentcart, &key, &request).await;
    let a = model.check(&key, &request, a, before);
    advance(model, rng, i, &key, &a);
}

async fn run_sequence(platform: Option<Platform>, seed: u64) {
    let mut rng = Rng(seed);
    let shop = Shop::start(platform).await;
    let dir = fresh_dir(&format!("idempotency-flows-{}-{seed:x}", shop.name()));
    let mut gw = TestGateway::start_with(gateway_config(&dir, &shop)).await;
    let mut token = gw.cl_token().await;
    let mut model = Model {
        seed,
        flows: Vec::new(),
        answered: BTreeMap::new(),
        log: Vec::new(),
        next_key: 0,
    };
    let mut faults_queued = 0;
    let steps = steps(STEPS);
    for step in 0..steps {
        let open: Vec<usize> = (0..model.flows.len())
            .filter(|i| model.flows[*i].stage != Stage::Done)
            .collect();
        let roll = match rng.below(100) {
            _ if open.is_empty() => 30,
            0..=19 if matches!(shop, Shop::Embedded) => 99,
            roll => roll,
        };
        match roll {
            0..=19 => {
                let (method, fault) = random_fault(&mut rng, &shop);
                model
                    .log
                    .push(format!("step {step}: fault {method} {fault:?}"));
                shop.fail(method, fault);
                faults_queued += 1;
            }
            20..=23 => {
                model.log.push(format!("step {step}: restart"));
                gw.stop().await;
                gw = TestGateway::start_with(gateway_config(&dir, &shop)).await;
                token = gw.cl_token().await;
            }
            24..=36 => {
                let key = model.new_key(&mut rng);
                let fluentcart = rng.chance(40);
                model.flows.push(Flow {
                    quantity: 1 + rng.below(3),
                    stage: if fluentcart {
                        Stage::Create
                    } else {
                        Stage::Draft
                    },
                    order: None,
                    address: None,
                    fluentcart,
                    transaction: None,
                    key,
                    read_after: None,
                });
                let i = model.flows.len() - 1;
                model.log.push(format!("step {step}: new flow {i}"));
                step_flow(&mut model, &mut rng, &gw, &token, i).await;
            }
            37..=46 => {
                // A burst: a flow's current request sent two or three times at once (not one whose order is to
                // be read: its caller waits).
                let i = open[rng.below(open.len() as u64) as usize];
                if model.flows[i].read_after.is_some() {
                    step_flow(&mut model, &mut rng, &gw, &token, i).await;
                    continue;
                }
                if !ready(&mut model, &gw, i).await {
                    continue;
                }
                let key = model.flows[i].key.clone();
                let request = model.request(i);
                let fluentcart = model.flows[i].fluentcart;
                let n = 2 + rng.below(2) as usize;
                model
                    .log
                    .push(format!("step {step}: burst of {n}, flow {i} {key}"));
                let before = model.answered.contains_key(&key);
                let answers = futures_util::future::join_all(
                    (0..n).map(|_| send(&gw, &token, fluentcart, &key, &request)),
                )
                .await;
                let mut answers: Vec<Answer> = answers;
                // The first answer made is checked first: a request that waited for it got a replay.
                answers.sort_by_key(|a| !a.ok() || a.replayed);
                for a in answers {
                    let a = model.check(&key, &request, a, before);
                    advance(&mut model, &mut rng, i, &key, &a);
                }
            }
            _ => {
                let i = open[rng.below(open.len() as u64) as usize];
                model.log.push(format!("step {step}: flow {i}"));
                step_flow(&mut model, &mut rng, &gw, &token, i).await;
            }
        }
    }

    // The faults stop, and every flow is driven to its placed order.
    let faults_met = faults_queued - shop.faults_left();
    shop.clear_faults();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let open: Vec<usize> = (0..model.flows.len())
            .filter(|i| model.flows[*i].stage != Stage::Done)
            .collect();
        if open.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "flows not placed 60 s after the faults stopped: {open:?}; {}; the whole sequence: {:#?}",
            model.context(),
            model.log
        );
        for i in open {
            step_flow(&mut model, &mut rng, &gw, &token, i).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Every answer again after a restart (I5).
    gw.stop().await;
    let gw = TestGateway::start_with(gateway_config(&dir, &shop)).await;
    let token = gw.cl_token().await;
    let answered: Vec<(String, Request)> = model
        .answered
        .iter()
        .map(|(k, (r, _))| (k.clone(), r.clone()))
        .collect();
    for (key, request) in &answered {
        // Commerce Layer documents are JSON:API, FluentCart's are not.
        let fluentcart = request.body.get("data").is_none();
        let a = send(&gw, &token, fluentcart, key, request).await;
        model.check(key, request, a, true);
    }

    // The shop's orders: one per flow, placed, with its one line item.
    let context = model.context();
    for (i, flow) in model.flows.iter().enumerate() {
        let id = flow.order.as_deref().expect("placed");
        let order = read_order(&gw, &token, flow.fluentcart, id)
            .await
            .unwrap_or_else(|| panic!("flow {i}: order {id} unreadable; {context}"));
        if flow.fluentcart {
            assert_eq!(
                (
                    &order["order"]["payment_status"],
                    &order["order"]["total_refund"]
                ),
                (&json!("partially_refunded"), &json!(flow.quantity * 100)),
                "flow {i}: paid once and refunded once (I2): {order}; {context}"
            );
        } else {
            assert_eq!(
                order["data"]["attributes"]["status"], "placed",
                "flow {i}: {order}; {context}"
            );
            // The order's addresses go by the id of the address the flow linked, whatever shop holds it.
            let linked = flow.address.as_deref().expect("an address linked");
            for role in ["billing_address", "shipping_address"] {
                assert_eq!(
                    order["data"]["relationships"][role]["data"]["id"], linked,
                    "flow {i}: the {role} keeps the id it was linked under: {order}; {context}"
                );
            }
        }
        assert_eq!(
            line_quantities(&order),
            vec![flow.quantity],
            "flow {i}: the order's line items (I2, I4): {order}; flows {:#?}; the whole sequence: {:#?}",
            model.flows,
            model.log
        );
    }
    assert_eq!(
        shop.order_count(&gw).await,
        model.flows.len(),
        "orders the flows cannot account for (I1, I2); {context}"
    );
    eprintln!(
        "SUMMARY {} seed {seed}: {} flows ({} FluentCart), {faults_met} faults met, {} reads, {} keys answered",
        shop.name(),
        model.flows.len(),
        model.flows.iter().filter(|f| f.fluentcart).count(),
        model.log.iter().filter(|l| l.contains(": read ")).count(),
        model.answered.len()
    );
    gw.stop().await;
    assert!(
        (faults_met > 0 || matches!(shop, Shop::Embedded)) && model.flows.len() >= 4,
        "{faults_met} faults met, {} flows; {context}",
        model.flows.len()
    );
}

/// Runs `ORDERMUX_MODEL_SEED` alone, or the default seeds, against `platform`'s shop or the embedded one.
async fn run_seeds(platform: Option<Platform>) {
    for_each_seed(&SEEDS, |seed| run_sequence(platform, seed)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_multi_request_orders_are_made_once_each_on_commerce_layer() {
    run_seeds(Some(Platform::CommerceLayer)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_multi_request_orders_are_made_once_each_on_bigcommerce() {
    run_seeds(Some(Platform::BigCommerce)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_multi_request_orders_are_made_once_each_on_fluentcart() {
    run_seeds(Some(Platform::FluentCart)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_multi_request_orders_are_made_once_each_on_the_embedded_shop() {
    run_seeds(None).await;
}
