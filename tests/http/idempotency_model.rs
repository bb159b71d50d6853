//! The Idempotency-Key layer and an upstream shop's create journal driven together, over HTTP, by random sequences
//! of what callers and shops do (reliability.md §8's state-machine test), for FluentCart and BigCommerce callers on
//! a BigCommerce, a Commerce Layer and a FluentCart shop, and on the embedded shop (which takes no faults; its
//! orders are read back over the API): creates under new and reused keys, the same key sent with another body,
//! bursts of concurrent sends, faults of every kind the fakes know on any step of a create (a Commerce Layer line
//! item or trigger, a FluentCart customer or state, a token) and on the look-ups that reconcile, and gateway
//! restarts. Each answer is checked against a reference model as it arrives, and once the faults stop and
//! every key has been retried to an answer, the shop's own records are checked against §6's invariants: no order
//! lost (I1), none doubled (I2), none made for a key refused for good (I3), each made as asked (I4), and every
//! answer to a key the same bytes (I5).
//!
//! The sequences come from fixed seeds, so a failure names its seed and step; `ORDERMUX_MODEL_SEED=<n>` runs one
//! seed alone, and `ORDERMUX_MODEL_STEPS=<n>` makes each sequence that long. Concurrency makes the interleavings vary between runs, which the model allows for: it says which
//! answers are possible, and the shop's records decide the rest.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ordermux::backends::adapters::Stamp;
use ordermux::canonical::Platform;
use ordermux::config::{Backend, Config, Credential, Credentials};
use reqwest::Method;
use serde_json::{json, Value};

use super::harness::{config, expect, fresh_dir, route_all_to, TestGateway};
use crate::fakes::bigcommerce::BigCommerceFake;
use crate::fakes::commercelayer::CommerceLayerFake;
use crate::fakes::fluentcart::FluentCartFake;
use crate::fakes::{Fake, FakePlatform, Fault};
use crate::support::Rng;

/// The demo client's id (its FluentCart and BigCommerce callers alike), the owner of every key here.
const CLIENT: &str = "demo";
/// Steps per sequence, unless `ORDERMUX_MODEL_STEPS` says how many (longer runs than CI's, by hand).
const STEPS: usize = 48;
/// The seeds run by default.
const SEEDS: [u64; 2] = [0x5EED_0001, 0x5EED_0002];

/// The shop behind the gateway: a fake of one platform, or the embedded shop.
pub(super) enum Shop {
    Embedded,
    BigCommerce(Fake<BigCommerceFake>),
    CommerceLayer(Fake<CommerceLayerFake>),
    FluentCart(Fake<FluentCartFake>),
}

impl Shop {
    pub(super) async fn start(platform: Option<Platform>) -> Shop {
        let Some(platform) = platform else {
            return Shop::Embedded;
        };
        match platform {
            Platform::BigCommerce => {
                Shop::BigCommerce(Fake::start(BigCommerceFake::new("model", "model-token")).await)
            }
            Platform::CommerceLayer => Shop::CommerceLayer(
                Fake::start(CommerceLayerFake::new("model-id", "model-secret")).await,
            ),
            Platform::FluentCart => {
                Shop::FluentCart(Fake::start(FluentCartFake::new("model-user", "model pass")).await)
            }
        }
    }

    /// The platform of an upstream shop; `None` for the embedded one.
    pub(super) fn platform(&self) -> Option<Platform> {
        match self {
            Shop::Embedded => None,
            Shop::BigCommerce(_) => Some(Platform::BigCommerce),
            Shop::CommerceLayer(_) => Some(Platform::CommerceLayer),
            Shop::FluentCart(_) => Some(Platform::FluentCart),
        }
    }

    pub(super) fn name(&self) -> &'static str {
        self.platform().map_or("embedded", Platform::name)
    }

    fn base_url(&self) -> String {
        match self {
            Shop::Embedded => String::new(),
            Shop::BigCommerce(f) => f.base_url(),
            Shop::CommerceLayer(f) => f.base_url(),
            Shop::FluentCart(f) => f.base_url(),
        }
    }

    /// The backend ordermux is configured with for an upstream shop.
    fn backend(&self, platform: Platform) -> Backend {
        let mut credentials = Credentials::default();
        let mut markets = BTreeMap::new();
        let mut store_hash = None;
        match platform {
            Platform::BigCommerce => {
                store_hash = Some("model".to_owned());
                credentials.token = Some(Credential::new("model-token"));
            }
            Platform::CommerceLayer => {
                credentials.client_id = Some(Credential::new("model-id"));
                credentials.client_secret = Some(Credential::new("model-secret"));
                markets.insert("USD".to_owned(), "mkt_usd".to_owned());
            }
            Platform::FluentCart => {
                credentials.username = Some(Credential::new("model-user"));
                credentials.password = Some(Credential::new("model pass"));
            }
        }
        Backend {
            store_hash,
            credentials,
            markets,
            connect_timeout: Duration::from_millis(300),
            timeout: Duration::from_millis(700),
            total_timeout: Duration::from_secs(3),
            // Longer than any late landing the faults below make (`Fault::Late`), as a real shop's settle time
            // must be.
            settle: Duration::from_millis(1_500),
            // Faults are injected on purpose; a breaker opening would only add 503s the model allows anyway.
            breaker_failures: 10_000,
            ..Backend::upstream("model-shop", platform, self.base_url())
        }
    }

    /// Queues `fault` for the next request with `method`, whatever its path: any step of a create (a Commerce
    /// Layer line item, a FluentCart customer, a token), or a look-up that reconciles one.
    pub(super) fn fail(&self, method: &str, fault: Fault) {
        match self {
            Shop::Embedded => unreachable!("the embedded shop takes no faults"),
            Shop::BigCommerce(f) => f.fail(Some(method), None, fault, 1),
            Shop::CommerceLayer(f) => f.fail(Some(method), None, fault, 1),
            Shop::FluentCart(f) => f.fail(Some(method), None, fault, 1),
        }
    }

    pub(super) fn faults_left(&self) -> usize {
        match self {
            Shop::Embedded => 0,
            Shop::BigCommerce(f) => f.faults_left(),
            Shop::CommerceLayer(f) => f.faults_left(),
            Shop::FluentCart(f) => f.faults_left(),
        }
    }

    pub(super) fn clear_faults(&self) {
        match self {
            Shop::Embedded => {}
            Shop::BigCommerce(f) => f.clear_faults(),
            Shop::CommerceLayer(f) => f.clear_faults(),
            Shop::FluentCart(f) => f.clear_faults(),
        }
    }

    /// The platform's own error document for a refusal.
    fn refusal(&self) -> Vec<u8> {
        let message = "The given data was invalid.";
        let body = match self {
            Shop::Embedded => Value::Null,
            Shop::BigCommerce(f) => f.with(|p| p.error_body(422, message)),
            Shop::CommerceLayer(f) => f.with(|p| p.error_body(422, message)),
            Shop::FluentCart(f) => f.with(|p| p.error_body(422, message)),
        };
        body.to_string().into_bytes()
    }

    /// The shop's orders made for `key` (found by its stamp upstream; on the embedded shop, which stamps nothing,
    /// the order its answer names), each with the quantity of its first line.
    async fn orders_for(
        &self,
        gw: &TestGateway,
        key: &str,
        answer: Option<&Answer>,
    ) -> Vec<(String, u64)> {
        let stamp = Stamp::for_key(CLIENT, key);
        let stamp = stamp.key();
        match self {
            Shop::Embedded => {
                let Some(answer) = answer else {
                    return Vec::new();
                };
                let id = answered_order_id(key, answer);
                // Read back as its caller would.
                let quantity = if bigcommerce_caller(key) {
                    let lines =
                        expect(gw.bc(Method::GET, &format!("/orders/{id}/products")), 200).await;
                    lines[0]["quantity"].as_u64()
                } else {
                    let order = expect(gw.fc(Method::GET, &format!("/orders/{id}")), 200).await;
                    order["order"]["order_items"][0]["quantity"].as_u64()
                };
                vec![(id.to_string(), quantity.unwrap_or(0))]
            }
            upstream => {
                let stamped = match upstream {
                    Shop::BigCommerce(f) => f.with(|p| p.stamped_lines(stamp)),
                    Shop::CommerceLayer(f) => f.with(|p| p.stamped_lines(stamp)),
                    Shop::FluentCart(f) => f.with(|p| p.stamped_lines(stamp)),
                    Shop::Embedded => unreachable!("answered above"),
                };
                stamped
                    .into_iter()
                    .map(|(id, lines)| (id, lines.first().copied().unwrap_or(0)))
                    .collect()
            }
        }
    }

    /// How many orders the shop holds.
    pub(super) async fn order_count(&self, gw: &TestGateway) -> usize {
        match self {
            Shop::Embedded => {
                let list = expect(gw.fc(Method::GET, "/orders?per_page=1"), 200).await;
                usize::try_from(list["orders"]["total"].as_u64().expect("a total")).unwrap()
            }
            Shop::BigCommerce(f) => f.with(|p| p.order_count()),
            Shop::CommerceLayer(f) => f.with(|p| p.order_count()),
            Shop::FluentCart(f) => f.with(|p| p.order_count()),
        }
    }
}

/// The shipped configuration with every caller's orders (BigCommerce's of the demo store) translated to `shop`
/// (one of their own platform too: decoded, checked and sent by the adapter, not passed through).
pub(super) fn gateway_config(data_dir: &std::path::Path, shop: &Shop) -> Config {
    let mut config = config(data_dir);
    let Some(platform) = shop.platform() else {
        return config;
    };
    route_all_to(&mut config, shop.backend(platform));
    config
}

/// The id of the order a success names, in its caller's dialect.
fn answered_order_id(key: &str, answer: &Answer) -> u64 {
    let reply: Value = serde_json::from_slice(&answer.body).unwrap();
    let id = if bigcommerce_caller(key) {
        &reply["id"]
    } else {
        &reply["order_id"]
    };
    id.as_u64()
        .unwrap_or_else(|| panic!("{key}: no order id in {reply}"))
}

/// Which dialect a key's caller speaks: a key of a BigCommerce caller starts with `bc-`.
fn bigcommerce_caller(key: &str) -> bool {
    key.starts_with("bc-")
}

/// The create body of one variant, in the dialect of `key`'s caller: variants differ in quantity, so each has its
/// own fingerprint and the shop's order shows which one it was made from.
fn body(key: &str, variant: u8) -> Value {
    let quantity = u64::from(variant) + 1;
    if bigcommerce_caller(key) {
        let address = json!({
            "first_name": "Ada", "last_name": "Lovelace", "street_1": "1 Main St", "city": "Austin",
            "state": "Texas", "zip": "78701", "country": "United States", "country_iso2": "US",
            "email": "ada@example.com", "phone": "+1 512 555 0100"
        });
        return json!({
            "billing_address": address,
            "shipping_addresses": [address],
            "products": [{"product_id": 111, "quantity": quantity}]
        });
    }
    json!({
        "customer_id": 1,
        "currency": "USD",
        "order_items": [{"object_id": 1001, "quantity": quantity}],
        // Commerce Layer places an order only with a shipping address.
        "shipping_address": {
            "first_name": "Ada", "last_name": "Lovelace", "address_1": "1 Main St", "city": "Austin",
            "state": "TX", "postcode": "78701", "country": "US",
            "meta": {"other_data": {"phone": "+1 512 555 0100"}}
        }
    })
}

/// The faults a step may queue, each for the next request of a method: mostly a create's steps (POST; Commerce
/// Layer's triggers and FluentCart's states are PATCH and PUT), sometimes the reads that reconcile.
pub(super) fn random_fault(rng: &mut Rng, shop: &Shop) -> (&'static str, Fault) {
    let method = match rng.below(20) {
        0..=12 => "POST",
        13..=16 => "GET",
        _ if shop.platform() == Some(Platform::FluentCart) => "PUT",
        _ => "PATCH",
    };
    let fault = match rng.below(11) {
        // The shop refuses it (no effect): a terminal answer for that attempt.
        10 => Fault::Reply {
            status: 422,
            body: shop.refusal(),
        },
        kind => Fault::failure(kind, Duration::from_millis(1_000)),
    };
    (method, fault)
}

/// One answer as the caller got it.
#[derive(Debug, Clone)]
struct Answer {
    status: u16,
    code: Option<String>,
    /// An error's message, for the log.
    message: Option<String>,
    replayed: bool,
    retry_after: bool,
    body: Vec<u8>,
}

impl Answer {
    fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Sends the create of `key`'s caller, in its dialect.
async fn send(gw: &TestGateway, key: &str, variant: u8) -> Answer {
    let request = if bigcommerce_caller(key) {
        gw.bc(Method::POST, "/orders")
    } else {
        gw.fc(Method::POST, "/orders")
    };
    let resp = request
        .header("idempotency-key", key)
        .json(&body(key, variant))
        .send()
        .await
        .expect("the gateway answers");
    let status = resp.status().as_u16();
    let replayed = resp.headers().contains_key("idempotent-replayed");
    let retry_after = resp.headers().contains_key("retry-after");
    let body = resp.bytes().await.expect("a whole body").to_vec();
    let doc = serde_json::from_slice::<Value>(&body).unwrap_or_default();
    let text = |v: &Value| v.as_str().map(str::to_owned);
    let (code, message) = if bigcommerce_caller(key) {
        // BigCommerce errors carry a status and a message, no code: the gateway's own are told by these.
        let message = text(&doc[0]["message"]);
        let code = match status {
            409 => Some("idem_in_flight".to_owned()),
            422 if message
                .as_deref()
                .is_some_and(|m| m.contains("Idempotency-Key was already used")) =>
            {
                Some("idem_key_reused".to_owned())
            }
            _ => None,
        };
        (code, message)
    } else {
        (text(&doc["code"]), text(&doc["message"]))
    };
    Answer {
        status,
        code,
        message,
        replayed,
        retry_after,
        body,
    }
}

/// What the model knows of one key.
#[derive(Debug, Default)]
struct KeyModel {
    /// Every variant ever sent with the key.
    sent: Vec<u8>,
    /// The first success: the variant it was for and its answer. Every later answer to that variant must be it.
    answered: Option<(u8, Answer)>,
    /// The last answer the key got.
    last: Option<Answer>,
    /// Left alone by the final retries: its last answer stands (I3 is checked on these).
    abandoned: bool,
}

struct Model {
    keys: BTreeMap<String, KeyModel>,
    log: Vec<String>,
    seed: u64,
}

impl Model {
    /// Every step and answer that names `key`, in order, and the faults queued in between.
    fn history(&self, key: &str) -> Vec<&String> {
        self.log
            .iter()
            .filter(|l| l.contains(key) || l.contains("fault") || l.contains("restart"))
            .collect()
    }

    fn context(&self) -> String {
        let tail: Vec<&String> = self.log.iter().rev().take(12).collect();
        format!("seed {:#x}; last steps, newest first: {tail:#?}", self.seed)
    }

    /// Checks one answer to `key` sent with `variant` against what the model allows, then records it. `others`
    /// are the variants of requests with the same key in flight alongside it, and `answered_before` whether the key
    /// had been answered before they were sent.
    fn answer(&mut self, key: &str, variant: u8, others: &[u8], answered_before: bool, a: Answer) {
        let context = self.context();
        let what = match &a.message {
            Some(m) if !a.ok() => {
                format!("{key} variant {variant}: {} {:?} {m:?}", a.status, a.code)
            }
            _ => format!("{key} variant {variant}: {} {:?}", a.status, a.code),
        };
        self.log.push(what.clone());
        let m = self.keys.entry(key.to_owned()).or_default();
        let reused_with_another_body = m.sent.iter().chain(others).any(|v| *v != variant);
        // Requests sent together are answered in an order the model does not see: one of them may have found the
        // key held, or failed and freed it, before another was answered. Their failures are judged as if the key
        // were unanswered; a success still has to be the key's one answer.
        let alongside = !answered_before && !others.is_empty() && !a.ok();
        match &m.answered {
            // Answered before: the same body gets that answer again, byte for byte (I5); another body is refused.
            Some((v0, first)) if *v0 == variant && !alongside => {
                assert!(
                    a.ok(),
                    "{what}: a key answered before must replay; {context}"
                );
                assert_eq!(
                    (a.status, &a.body),
                    (first.status, &first.body),
                    "{what}: the replay differs from the first answer; {context}"
                );
                assert!(a.replayed, "{what}: a replay not marked as one; {context}");
            }
            Some(_) if !alongside => assert_eq!(
                (a.status, a.code.as_deref()),
                (422, Some("idem_key_reused")),
                "{what}: a key answered for another body; {context}"
            ),
            _ => {
                match (a.status, a.code.as_deref()) {
                    (200..=299, _) => {
                        m.answered = Some((variant, a.clone()));
                    }
                    (422, Some("idem_key_reused")) => assert!(
                        reused_with_another_body,
                        "{what}: refused as reused, but only this body was ever sent; {context}"
                    ),
                    // Held by a request still running, or an earlier attempt that may still land upstream.
                    (409, Some("idem_in_flight")) => {
                        assert!(a.retry_after, "{what}: 409 without Retry-After; {context}")
                    }
                    // The shop refused this attempt; nothing was made.
                    (422, _) => {}
                    // The shop failed, timed out, paced the call, or was not reached: the caller may retry.
                    (429 | 502 | 503 | 504, _) => {}
                    _ => panic!("{what}: not an answer the model allows; {context}"),
                }
                if !a.ok() && bigcommerce_caller(key) {
                    let body: Value = serde_json::from_slice(&a.body)
                        .unwrap_or_else(|_| panic!("{what}: an error that is not JSON; {context}"));
                    assert_eq!(body[0]["status"], a.status, "{what}: {body}; {context}");
                    assert!(body[0]["message"].is_string(), "{what}: {body}; {context}");
                } else if !a.ok() {
                    let body: Value = serde_json::from_slice(&a.body)
                        .unwrap_or_else(|_| panic!("{what}: an error that is not JSON; {context}"));
                    assert_eq!(body["success"], false, "{what}: {body}; {context}");
                    assert_eq!(
                        body["data"]["status"], a.status,
                        "{what}: {body}; {context}"
                    );
                    assert_eq!(
                        body["error"]["code"], body["code"],
                        "{what}: {body}; {context}"
                    );
                }
            }
        }
        m.sent.push(variant);
        m.last = Some(a);
    }
}

async fn run_sequence(platform: Option<Platform>, seed: u64) {
    let mut rng = Rng(seed);
    let shop = Shop::start(platform).await;
    let dir = fresh_dir(&format!("idempotency-model-{}-{seed:x}", shop.name()));
    let mut gw = TestGateway::start_with(gateway_config(&dir, &shop)).await;
    let mut model = Model {
        keys: BTreeMap::new(),
        log: Vec::new(),
        seed,
    };
    let mut faults_queued = 0;
    let mut next_key = 0u32;
    let mut new_key = |rng: &mut Rng| {
        next_key += 1;
        // Callers of either dialect, under the same client.
        let dialect = if rng.chance(50) { "bc" } else { "fc" };
        format!(
            "{dialect}-model-{seed:x}-{next_key}-{}",
            rng.below(1_000_000)
        )
    };

    let steps = steps(STEPS);
    for step in 0..steps {
        // A key to send: a new one, or one sent before (answered or not).
        let key = if model.keys.is_empty() || rng.chance(45) {
            new_key(&mut rng)
        } else {
            let known: Vec<&String> = model.keys.keys().collect();
            known[rng.below(known.len() as u64) as usize].clone()
        };
        // Mostly the body sent first with the key; sometimes another.
        let first_variant = model
            .keys
            .get(&key)
            .and_then(|m| m.sent.first().copied())
            .unwrap_or_else(|| rng.below(3) as u8);
        let variant = |rng: &mut Rng| {
            if rng.chance(85) {
                first_variant
            } else {
                rng.below(3) as u8
            }
        };
        // The embedded shop takes no faults: its fault steps are sends.
        let roll = match rng.below(100) {
            0..=24 if matches!(shop, Shop::Embedded) => 99,
            roll => roll,
        };
        match roll {
            0..=24 => {
                let (method, fault) = random_fault(&mut rng, &shop);
                model
                    .log
                    .push(format!("step {step}: fault {method} {fault:?}"));
                shop.fail(method, fault);
                faults_queued += 1;
            }
            25..=29 => {
                model.log.push(format!("step {step}: restart"));
                gw.stop().await;
                gw = TestGateway::start_with(gateway_config(&dir, &shop)).await;
            }
            30..=44 => {
                // A burst: the same key sent two to four times at once.
                let variants: Vec<u8> = (0..2 + rng.below(3)).map(|_| variant(&mut rng)).collect();
                model
                    .log
                    .push(format!("step {step}: burst {key} {variants:?}"));
                let answered_before = model.keys.get(&key).is_some_and(|m| m.answered.is_some());
                let answers =
                    futures_util::future::join_all(variants.iter().map(|v| send(&gw, &key, *v)))
                        .await;
                // The first answer made is checked first: a request that waited for it was answered with a replay.
                let mut answers: Vec<(usize, Answer)> = answers.into_iter().enumerate().collect();
                answers.sort_by_key(|(_, a)| !a.ok() || a.replayed);
                for (i, a) in answers {
                    let others: Vec<u8> = variants
                        .iter()
                        .enumerate()
                        .filter(|(j, _)| *j != i)
                        .map(|(_, v)| *v)
                        .collect();
                    model.answer(&key, variants[i], &others, answered_before, a);
                }
            }
            45..=54 => {
                // Different keys at once: the journal's and the store's group commits shared.
                let keys: Vec<String> = (0..3).map(|_| new_key(&mut rng)).collect();
                let v = variant(&mut rng);
                model.log.push(format!("step {step}: parallel {keys:?}"));
                let answers =
                    futures_util::future::join_all(keys.iter().map(|k| send(&gw, k, v))).await;
                for (k, a) in keys.iter().zip(answers) {
                    model.answer(k, v, &[], false, a);
                }
            }
            _ => {
                let v = variant(&mut rng);
                model.log.push(format!("step {step}: send {key} {v}"));
                let a = send(&gw, &key, v).await;
                model.answer(&key, v, &[], false, a);
            }
        }
    }

    // The faults stop. About one key in five is left as it is; every other key is retried, with the body it was
    // answered for or else the one it was first sent with, until it is answered.
    let faults_met = faults_queued - shop.faults_left();
    shop.clear_faults();
    for m in model.keys.values_mut() {
        m.abandoned = m.answered.is_none() && rng.chance(20);
    }
    // A key refused as another body's is retried with the next body it was sent with, as a caller that finds it
    // sent two would: whichever of them the key went to, that one is answered.
    let mut tried: BTreeMap<String, usize> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let waiting: Vec<(String, u8)> = model
            .keys
            .iter()
            .filter(|(_, m)| !m.abandoned && m.answered.is_none())
            .map(|(k, m)| {
                let mut distinct: Vec<u8> = Vec::new();
                for v in &m.sent {
                    if !distinct.contains(v) {
                        distinct.push(*v);
                    }
                }
                let turn = tried.get(k).copied().unwrap_or(0) % distinct.len();
                (k.clone(), distinct[turn])
            })
            .collect();
        if waiting.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "keys still unanswered 30 s after the faults stopped: {waiting:?}; {}",
            model.context()
        );
        for (key, v) in waiting {
            model.log.push(format!("final: send {key} {v}"));
            let a = send(&gw, &key, v).await;
            if a.code.as_deref() == Some("idem_key_reused") {
                *tried.entry(key.clone()).or_default() += 1;
            }
            model.answer(&key, v, &[], false, a);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Once more after a restart: every answer is kept across it (I5).
    gw.stop().await;
    let gw = TestGateway::start_with(gateway_config(&dir, &shop)).await;
    let answered: Vec<(String, u8)> = model
        .keys
        .iter()
        .filter_map(|(k, m)| m.answered.as_ref().map(|(v, _)| (k.clone(), *v)))
        .collect();
    for (key, v) in &answered {
        model.log.push(format!("after restart: send {key} {v}"));
        let a = send(&gw, key, *v).await;
        model.answer(key, *v, &[], false, a);
    }

    // The shop's records against the model.
    let context = model.context();
    let mut expected_orders = 0;
    for (key, m) in &model.keys {
        let orders = shop
            .orders_for(&gw, key, m.answered.as_ref().map(|(_, a)| a))
            .await;
        assert!(
            orders.len() <= 1,
            "{key}: doubled (I2): {orders:?}; {context}"
        );
        expected_orders += orders.len();
        match &m.answered {
            Some((v, answer)) => {
                assert_eq!(
                    orders.len(),
                    1,
                    "{key}: answered {} but no order (I1); {context}",
                    answer.status
                );
                assert_eq!(
                    orders[0].1,
                    u64::from(*v) + 1,
                    "{key}: the order is not the body it was answered for (I4); {:#?}",
                    model.history(key)
                );
                answered_order_id(key, answer);
            }
            None => {
                assert!(m.abandoned, "{key}: never answered; {context}");
                let last = m.last.as_ref().expect("sent");
                // Refused by the shop for good (not a reused key, not an outcome left unknown): nothing made (I3).
                if last.status == 422 && last.code.as_deref() != Some("idem_key_reused") {
                    assert!(
                        orders.is_empty(),
                        "{key}: refused, yet made (I3): {orders:?}; {:#?}",
                        model.history(key)
                    );
                }
            }
        }
    }
    // No order the keys cannot account for.
    assert_eq!(shop.order_count(&gw).await, expected_orders, "{context}");
    gw.stop().await;
    // A sequence whose faults all went unmet, or that answered few keys, would pass without saying much.
    let faults_wanted = !matches!(shop, Shop::Embedded);
    let answered = |bigcommerce: bool| {
        model
            .keys
            .iter()
            .filter(|(k, m)| m.answered.is_some() && bigcommerce_caller(k) == bigcommerce)
            .count()
    };
    assert!(
        (faults_met > 0 || !faults_wanted)
            && answered(true) + answered(false) > steps / 4
            && answered(true) > 0
            && answered(false) > 0,
        "{faults_met} faults met, too few keys answered; {context}"
    );
}

/// Runs `run` with each seed: `ORDERMUX_MODEL_SEED` alone, or every one of `default`.
pub(super) async fn for_each_seed<F: std::future::Future<Output = ()>>(
    default: &[u64],
    mut run: impl FnMut(u64) -> F,
) {
    let seeds = match std::env::var("ORDERMUX_MODEL_SEED") {
        Ok(s) => vec![s.parse().expect("ORDERMUX_MODEL_SEED is a number")],
        Err(_) => default.to_vec(),
    };
    for seed in seeds {
        run(seed).await;
    }
}

/// Steps per sequence: `ORDERMUX_MODEL_STEPS`, or `default`.
pub(super) fn steps(default: usize) -> usize {
    std::env::var("ORDERMUX_MODEL_STEPS")
        .map(|n| n.parse().expect("ORDERMUX_MODEL_STEPS is a number"))
        .unwrap_or(default)
}

/// Runs every seed (see `for_each_seed`) against `platform`'s shop, or the embedded one.
async fn run_seeds(platform: Option<Platform>) {
    for_each_seed(&SEEDS, |seed| run_sequence(platform, seed)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_creates_faults_and_restarts_keep_every_key_exactly_once_on_bigcommerce() {
    run_seeds(Some(Platform::BigCommerce)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_creates_faults_and_restarts_keep_every_key_exactly_once_on_commerce_layer() {
    run_seeds(Some(Platform::CommerceLayer)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_creates_faults_and_restarts_keep_every_key_exactly_once_on_fluentcart() {
    run_seeds(Some(Platform::FluentCart)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_creates_and_restarts_keep_every_key_exactly_once_on_the_embedded_shop() {
    run_seeds(None).await;
}
