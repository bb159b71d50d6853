//! Commerce Layer callers' orders, built as the platform builds them (a draft, a line item, an address, the
//! addresses linked, `_place`), every request under an Idempotency-Key of its own, driven by random sequences on
//! the shops `idempotency_model` uses, with its faults and restarts (reliability.md §8). On a Commerce Layer shop each
//! request is a call upstream; on the others the draft is staged in ordermux and sent whole when placed.
//!
//! The caller behaves as a careful integrator would. A request that failed without effect (429, 503, a refusal) or
//! whose key is still held (409 "in progress") is sent again under its key. One whose outcome is unknown (a 502 or
//! 504 the key keeps, 409 `idem_interrupted` after a restart) is not: once whatever it asked for had time to land,
//! the caller reads the order and goes on from what it shows, under a new key. A draft's create is sent again under
//! its key whatever happened, since an order create reconciles.
//!
//! Checked as answers arrive: a key answered once replays that answer byte for byte; errors come as JSON:API
//! `errors[]` with the HTTP status; a 409 for a held key carries `Retry-After`. Checked at the end, after the faults
//! stop, every flow is driven to its placed order, and the gateway restarts: each flow has exactly one order, placed,
//! with its one line item of the quantity asked (no line doubled by a retry); the shop holds no other order; every
//! key's answer is replayed the same after the restart.
//!
//! `ORDERMUX_MODEL_SEED=<n>` runs one seed, `ORDERMUX_MODEL_STEPS=<n>` makes each sequence that long.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ordermux::canonical::Platform;
use reqwest::Method;
use serde_json::{json, Value};

use super::harness::{fresh_dir, TestGateway};
use super::idempotency_model::{gateway_config, random_fault, Shop};
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
    Draft,
    Line,
    Address,
    Link,
    Place,
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

    fn in_progress(&self) -> bool {
        self.status == 409 && self.title().contains("in progress")
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
            "cl-flow-{:x}-{}-{}",
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
            Stage::Done => unreachable!("a placed flow sends nothing"),
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
            if a.ok() { "" } else { a.title() }
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
            a.title() != "Idempotency-Key reused with a different request",
            "{what}: only one body is ever sent under a key; {context}"
        );
        assert_eq!(
            a.doc["errors"][0]["status"],
            a.status.to_string(),
            "{what}: {}; {context}",
            a.doc
        );
        if a.in_progress() {
            assert!(a.retry_after, "{what}: 409 without Retry-After; {context}");
        }
        a
    }
}

/// Sends `request` under `key` as a Commerce Layer caller.
async fn send(gw: &TestGateway, token: &str, key: &str, request: &Request) -> Answer {
    let resp = gw
        .cl(token, request.method.clone(), &request.path)
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
async fn read_order(gw: &TestGateway, token: &str, id: &str) -> Option<Value> {
    let resp = gw
        .cl(
            token,
            Method::GET,
            &format!("/orders/{id}?include=line_items,shipping_address"),
        )
        .send()
        .await
        .ok()?;
    if resp.status() != 200 {
        return None;
    }
    resp.json().await.ok()
}

/// The line items an order read (`read_order`) includes, as their quantities.
fn line_quantities(order: &Value) -> Vec<u64> {
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
            Stage::Place | Stage::Done => Stage::Done,
        };
        flow.read_after = None;
        model.flows[i].key = model.new_key(rng);
        return;
    }
    // Held, paced, or not sent: the same key again. A draft's create reconciles whatever happened.
    if a.in_progress() || matches!(a.status, 429 | 503) || stage == Stage::Draft {
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
    let Some(order) = read_order(gw, token, &id).await else {
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
    let done = match flow.stage {
        Stage::Line => !lines.is_empty(),
        Stage::Link => !order["data"]["relationships"]["shipping_address"]["data"].is_null(),
        Stage::Place => attributes["status"] == "placed",
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
            _ => Stage::Done,
        };
    }
    flow.read_after = None;
    model.flows[i].key = model.new_key(rng);
}

/// Moves flow `i` one request on: its current request sent (again), or its order read if the last one's outcome
/// is unknown and had time to land.
async fn step_flow(model: &mut Model, rng: &mut Rng, gw: &TestGateway, token: &str, i: usize) {
    match model.flows[i].read_after {
        Some(at) if Instant::now() >= at => return resolve(model, rng, gw, token, i).await,
        _ => {}
    }
    let key = model.flows[i].key.clone();
    let request = model.request(i);
    let before = model.answered.contains_key(&key);
    model.log.push(format!("flow {i}: send {key}"));
    let a = send(gw, token, &key, &request).await;
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
    let steps = std::env::var("ORDERMUX_MODEL_STEPS")
        .map(|n| n.parse().expect("ORDERMUX_MODEL_STEPS is a number"))
        .unwrap_or(STEPS);
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
                model.flows.push(Flow {
                    quantity: 1 + rng.below(3),
                    stage: Stage::Draft,
                    order: None,
                    address: None,
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
                let key = model.flows[i].key.clone();
                let request = model.request(i);
                let n = 2 + rng.below(2) as usize;
                model
                    .log
                    .push(format!("step {step}: burst of {n}, flow {i} {key}"));
                let before = model.answered.contains_key(&key);
                let answers = futures_util::future::join_all(
                    (0..n).map(|_| send(&gw, &token, &key, &request)),
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
            "flows not placed 60 s after the faults stopped: {open:?}; {}",
            model.context()
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
        let a = send(&gw, &token, key, request).await;
        model.check(key, request, a, true);
    }

    // The shop's orders: one per flow, placed, with its one line item.
    let context = model.context();
    for (i, flow) in model.flows.iter().enumerate() {
        let id = flow.order.as_deref().expect("placed");
        let order = read_order(&gw, &token, id)
            .await
            .unwrap_or_else(|| panic!("flow {i}: order {id} unreadable; {context}"));
        assert_eq!(
            order["data"]["attributes"]["status"], "placed",
            "flow {i}: {order}; {context}"
        );
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
    gw.stop().await;
    assert!(
        (faults_met > 0 || matches!(shop, Shop::Embedded)) && model.flows.len() >= 4,
        "{faults_met} faults met, {} flows; {context}",
        model.flows.len()
    );
}

/// Runs `ORDERMUX_MODEL_SEED` alone, or the default seeds, against `platform`'s shop or the embedded one.
async fn run_seeds(platform: Option<Platform>) {
    let seeds = match std::env::var("ORDERMUX_MODEL_SEED") {
        Ok(s) => vec![s.parse().expect("ORDERMUX_MODEL_SEED is a number")],
        Err(_) => SEEDS.to_vec(),
    };
    for seed in seeds {
        run_sequence(platform, seed).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_commerce_layer_flows_place_each_order_once_on_commerce_layer() {
    run_seeds(Some(Platform::CommerceLayer)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_commerce_layer_flows_place_each_order_once_on_bigcommerce() {
    run_seeds(Some(Platform::BigCommerce)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_commerce_layer_flows_place_each_order_once_on_fluentcart() {
    run_seeds(Some(Platform::FluentCart)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_commerce_layer_flows_place_each_order_once_on_the_embedded_shop() {
    run_seeds(None).await;
}
