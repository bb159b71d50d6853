//! A shop answering with JSON of the wrong shape (a valid document, not the one its API promises) through a
//! translating route: every caller gets an error in its own dialect, never a panic (500), never the shop's
//! body, and a create it answered so is never doubled. Each backend's `gateway` module runs `every_dialect`
//! against its own fake.

use reqwest::Method;
use serde_json::{json, Value};

use super::harness::*;
use crate::fakes::{Fake, FakePlatform, Fault};
use ordermux::config::Config;

/// How many generated replies each backend's test sends, after the hand-picked ones.
const GENERATED: usize = 48;

/// Text in every wrong-shaped body that has room for it: from a success reply, it must never reach a caller. An
/// error reply's message is carried on purpose ("upstream up: phone is required"), but never its body.
const MARKER: &str = "shape-marker";

/// Replies a shop could send that are JSON but not what the call expects, with the status they come with.
fn wrong_shapes() -> Vec<(u16, Value)> {
    vec![
        (200, Value::Null),
        (200, json!([])),
        (200, json!({})),
        (200, json!(MARKER)),
        (200, json!(42)),
        (200, json!({"data": null})),
        (200, json!({"data": MARKER})),
        (200, json!({"data": [{"id": MARKER}]})),
        (
            200,
            json!({"data": {"id": MARKER, "type": "orders", "attributes": [], "relationships": 5}}),
        ),
        (
            200,
            json!({"id": MARKER, "status_id": "x", "products": {"url": 5}}),
        ),
        (200, json!([{"id": -1, "billing_address": MARKER}])),
        // Another order than the one asked for or written, in the platforms' own shapes.
        (
            200,
            json!({"id": 987_654, "status_id": 11, "currency_code": "USD", "customer_message": MARKER,
                "products": [], "billing_address": {"email": "shape@example.com"}}),
        ),
        (
            200,
            json!({"data": {"id": "zzOtherOrder", "type": "orders",
                "attributes": {"status": "placed", "currency_code": "USD", "customer_email": MARKER}}}),
        ),
        (
            200,
            json!({"order": {"id": 987_654, "status": "processing", "currency": "USD", "note": MARKER,
                "order_items": []}}),
        ),
        (201, json!({"order": {"id": MARKER}})),
        (200, json!({"orders": {"data": MARKER, "total": "x"}})),
        (
            200,
            json!({"success": true, "data": {"order": {"id": 1e300, "total_amount": MARKER}}}),
        ),
        (422, json!({"errors": MARKER})),
        (422, json!([{"status": MARKER}])),
        (404, json!({"message": 5, "code": [MARKER]})),
        (400, json!(MARKER)),
        (409, json!({})),
    ]
}

/// Member names and strings the three platforms' documents use, so generated replies look like theirs.
const WORDS: &[&str] = &[
    "data",
    "id",
    "type",
    "attributes",
    "relationships",
    "included",
    "orders",
    "order",
    "line_items",
    "addresses",
    "success",
    "products",
    "status_id",
    "status",
    "total",
    "total_inc_tax",
    "errors",
    "message",
    "code",
    "detail",
    "number",
    "customer",
    "billing_address",
    "currency_code",
    "total_amount_cents",
    "formatted_total_amount",
    "reference",
    "reference_origin",
    "ordermux",
    "USD",
    "12.50",
    "-1",
    MARKER,
];

/// `count` replies of random shape built from `WORDS` (nested up to three deep), with a random status, from a
/// fixed seed: the same replies on every run, so a failure repeats.
fn generated_shapes(count: usize) -> Vec<(u16, Value)> {
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let word = proptest::sample::select(WORDS).prop_map(str::to_owned);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        prop_oneof![any::<i64>(), -3i64..1_000].prop_map(Value::from),
        word.clone().prop_map(Value::String),
    ];
    let tree = leaf.prop_recursive(3, 24, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(word.clone(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    let status = proptest::sample::select(vec![200u16, 200, 200, 201, 204, 400, 404, 409, 422]);
    let mut runner = TestRunner::deterministic();
    (0..count)
        .map(|_| {
            (status.clone(), tree.clone())
                .new_tree(&mut runner)
                .expect("a generated reply")
                .current()
        })
        .collect()
}

/// A BigCommerce create every backend takes (Commerce Layer wants a phone number on its addresses).
fn create_body(email: &str) -> Value {
    let mut body = super::bigcommerce::create_body(email);
    body["billing_address"]["phone"] = json!("+1 512 555 0100");
    body["shipping_addresses"][0]["phone"] = json!("+1 512 555 0100");
    body
}

/// The three callers.
#[derive(Debug, Clone, Copy)]
pub enum Caller {
    FluentCart,
    BigCommerce,
    CommerceLayer,
}

/// One call a caller makes, in its own dialect.
struct Call {
    caller: Caller,
    method: Method,
    path: String,
    body: Option<Value>,
    creates: bool,
    /// Part of the path of the shop's call that answers wrongly.
    upstream_path: &'static str,
}

fn call(caller: Caller, method: Method, path: String, body: Option<Value>) -> Call {
    Call {
        caller,
        method,
        path,
        body,
        creates: false,
        upstream_path: "/orders",
    }
}

/// Asserts `body` is the caller's error document for `status`.
pub fn assert_error_shape(caller: Caller, status: u16, body: &Value, what: &str) {
    match caller {
        Caller::FluentCart => {
            assert_eq!(body["success"], false, "{what}: {body}");
            assert!(body["error"]["code"].is_string(), "{what}: {body}");
            assert!(body["error"]["message"].is_string(), "{what}: {body}");
        }
        Caller::BigCommerce => {
            let first = &body[0];
            assert_eq!(first["status"], status, "{what}: {body}");
            assert!(first["message"].is_string(), "{what}: {body}");
        }
        Caller::CommerceLayer => {
            let first = &body["errors"][0];
            assert_eq!(first["status"], status.to_string(), "{what}: {body}");
            assert!(first["title"].is_string(), "{what}: {body}");
        }
    }
}

/// Starts a gateway on `config`, its upstream backend made patient (its breaker opens only after many failures, and
/// an uncertain create is looked up at once), runs `every_dialect` against it and stops it.
pub async fn run<P: FakePlatform>(
    mut config: Config,
    fake: &Fake<P>,
    upstream_orders: impl Fn() -> usize,
    create_steps: &[&'static str],
) {
    for backend in &mut config.backends {
        backend.settle = std::time::Duration::ZERO;
        backend.breaker_failures = 1_000;
    }
    let gw = TestGateway::start_with(config).await;
    every_dialect(&gw, fake, upstream_orders, create_steps).await;
    gw.stop().await;
}

/// Makes one order through a BigCommerce caller, then sends every caller's reads, an update and a create while
/// the shop's next order call is answered with each wrong shape in turn; and the create again with each of
/// `create_steps` (parts of the paths of the shop's other calls in a create) answering wrongly instead.
/// `upstream_orders` counts the orders the shop holds. The backend must allow many failures before its breaker
/// opens, and settle at once.
pub async fn every_dialect<P: FakePlatform>(
    gw: &TestGateway,
    fake: &Fake<P>,
    upstream_orders: impl Fn() -> usize,
    create_steps: &[&'static str],
) {
    let token = gw.cl_token().await;
    expect(
        gw.bc(Method::POST, "/orders")
            .json(&create_body("shape@example.com")),
        201,
    )
    .await;
    let fc_list = expect(gw.fc(Method::GET, "/orders?per_page=10"), 200).await;
    let fc_id = fc_list["orders"]["data"][0]["id"]
        .as_u64()
        .expect("FluentCart id");
    let bc_list = expect(gw.bc(Method::GET, "/orders?limit=10"), 200).await;
    let bc_id = bc_list[0]["id"].as_u64().expect("BigCommerce id");
    let cl_list = expect(gw.cl(&token, Method::GET, "/orders"), 200).await;
    let cl_id = cl_list["data"][0]["id"]
        .as_str()
        .expect("Commerce Layer id")
        .to_owned();

    let create = |n: usize, upstream_path: &'static str| Call {
        creates: true,
        upstream_path,
        ..call(
            Caller::BigCommerce,
            Method::POST,
            "/orders".into(),
            Some(create_body(&format!("shape{n}{upstream_path}@example.com"))),
        )
    };
    let calls = |n: usize| {
        let mut calls = vec![
            call(
                Caller::FluentCart,
                Method::GET,
                format!("/orders/{fc_id}"),
                None,
            ),
            call(
                Caller::FluentCart,
                Method::GET,
                "/orders?per_page=5".into(),
                None,
            ),
            call(
                Caller::BigCommerce,
                Method::GET,
                format!("/orders/{bc_id}"),
                None,
            ),
            call(
                Caller::BigCommerce,
                Method::GET,
                "/orders?limit=5".into(),
                None,
            ),
            call(
                Caller::BigCommerce,
                Method::PUT,
                format!("/orders/{bc_id}"),
                Some(json!({"staff_notes": format!("note {n}")})),
            ),
            call(
                Caller::CommerceLayer,
                Method::GET,
                format!("/orders/{cl_id}?include=line_items"),
                None,
            ),
            call(Caller::CommerceLayer, Method::GET, "/orders".into(), None),
            create(n, "/orders"),
        ];
        calls.extend(create_steps.iter().map(|step| create(n, step)));
        calls
    };
    let mut created = 1;
    let picked = wrong_shapes();
    let picked_count = picked.len();
    let shapes = picked.into_iter().chain(generated_shapes(GENERATED));
    for (n, (status, shape)) in shapes.enumerate() {
        // The hand-picked shapes are known to be no call's document; a generated one may happen to be one.
        let wrong = n < picked_count;
        for c in calls(n) {
            let what = format!(
                "{:?} {} {}, the shop's {} answered {status} {shape}",
                c.caller, c.method, c.path, c.upstream_path
            );
            let key = format!("shape-create-{n}{}", c.upstream_path);
            fake.fail(
                None,
                Some(c.upstream_path),
                Fault::Reply {
                    status,
                    body: serde_json::to_vec(&shape).unwrap(),
                },
                1,
            );
            let mut request = match c.caller {
                Caller::FluentCart => gw.fc(c.method.clone(), &c.path),
                Caller::BigCommerce => gw.bc(c.method.clone(), &c.path),
                Caller::CommerceLayer => gw.cl(&token, c.method.clone(), &c.path),
            };
            if c.creates {
                request = request.header("idempotency-key", &key);
            }
            if let Some(body) = &c.body {
                request = request.json(body);
            }
            let reply = request.send().await.unwrap();
            let got = reply.status().as_u16();
            let text = reply.text().await.unwrap();
            assert_ne!(got, 500, "{what}: a panic or an internal error: {text}");
            let raw = serde_json::to_string(&shape).unwrap();
            if status >= 400 && raw.len() > 8 {
                assert!(
                    !text.contains(&raw),
                    "{what}: the shop's body reached the caller: {text}"
                );
            }
            if wrong && status < 400 {
                assert!(
                    !text.contains(MARKER),
                    "{what}: the shop's data reached the caller: {text}"
                );
                // Of these, only `[]` is any call's document (BigCommerce's empty list): the rest are errors,
                // never taken for an empty result.
                assert!(
                    got >= 400 || shape == json!([]),
                    "{what}: answered {got}: {text}"
                );
            }
            if got >= 400 {
                let body: Value = serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("{what}: {got} is not JSON ({e}): {text}"));
                assert_error_shape(c.caller, got, &body, &what);
            } else if c.creates {
                created += 1;
            }
            assert_eq!(
                fake.faults_left(),
                0,
                "{what}: the call never reached the shop"
            );
            fake.clear_faults();
            if c.creates && got >= 500 {
                // Whether the create landed, or how far it got, was unknown (a Commerce Layer draft may be
                // waiting for its next step); the caller's retry finds out, and makes the order once.
                let retry = gw
                    .bc(Method::POST, "/orders")
                    .header("idempotency-key", &key)
                    .json(c.body.as_ref().unwrap());
                expect(retry, 201).await;
                created += 1;
                assert_eq!(
                    upstream_orders(),
                    created,
                    "{what}, retried: orders upstream"
                );
            }
        }
    }
    expect(gw.bc(Method::GET, &format!("/orders/{bc_id}")), 200).await;
}
