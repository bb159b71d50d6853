//! What the gateway itself does around a translated upstream, whatever the platform: failures rendered in the
//! caller's dialect with the right status, the circuit breaker's fast 503, an upstream failure never kept as an
//! Idempotency-Key's answer, and check-config's view of upstream credentials.

use std::time::Duration;

use ordermux::canonical::Platform;
use ordermux::config::{Backend, Config, Credential, Credentials, Route, RouteMode};
use reqwest::Method;
use serde_json::{json, Value};

use super::harness::*;
use crate::fakes::bigcommerce::BigCommerceFake;
use crate::fakes::{Fake, FakePlatform, FakeRequest, FakeResponse, Fault};

/// An upstream whose every answer is the same failure.
struct Failing {
    status: u16,
    delay: Duration,
}

impl FakePlatform for Failing {
    fn handle(&mut self, _req: &FakeRequest) -> FakeResponse {
        if !self.delay.is_zero() {
            // Runs under the fake's lock on a runtime thread: a short blocking sleep is the simplest slow upstream.
            std::thread::sleep(self.delay);
        }
        FakeResponse::json(
            self.status,
            &self.error_body(self.status, "boom-from-upstream"),
        )
    }

    fn error_body(&self, status: u16, message: &str) -> Value {
        json!([{"status": status, "message": message}])
    }
}

/// FluentCart callers routed to a BigCommerce backend at `base_url`.
fn fc_on_bigcommerce(name: &str, base_url: String, tune: impl FnOnce(&mut Backend)) -> Config {
    let mut config = config(&fresh_dir(name));
    let mut backend = Backend {
        store_hash: Some("up1".into()),
        credentials: Credentials {
            token: Some(Credential::new("upstream-token")),
            ..Credentials::default()
        },
        connect_timeout: Duration::from_millis(300),
        timeout: Duration::from_millis(800),
        total_timeout: Duration::from_secs(3),
        ..Backend::upstream("up", Platform::BigCommerce, base_url)
    };
    tune(&mut backend);
    config.backends.push(backend);
    config.routes.push(Route {
        dialect: Platform::FluentCart,
        store_hash: None,
        backend: "up".into(),
        mode: RouteMode::Translate,
    });
    config
}

fn order_body() -> Value {
    json!({"customer_id": 1, "currency": "USD", "order_items": [{"object_id": 1001, "quantity": 1}]})
}

async fn fc_error(
    req: reqwest::RequestBuilder,
    status: u16,
) -> (Value, reqwest::header::HeaderMap) {
    let resp = req.send().await.unwrap();
    let headers = resp.headers().clone();
    assert_eq!(resp.status().as_u16(), status);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["success"], false, "{body}");
    assert_eq!(body["data"]["status"], status, "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        !message.contains("boom-from-upstream"),
        "upstream body echoed: {body}"
    );
    (body, headers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_upstream_is_a_503_with_retry_after_in_the_callers_shape() {
    let closed = crate::fakes::RefusingPort::new();
    let gw = TestGateway::start_with(fc_on_bigcommerce("up-refused", closed.url(), |_| {})).await;
    for request in [
        gw.fc(Method::GET, "/orders"),
        gw.fc(Method::POST, "/orders").json(&order_body()),
    ] {
        let (body, headers) = fc_error(request, 503).await;
        assert_eq!(headers["retry-after"], "1");
        assert!(body.to_string().contains("nothing was sent"), "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shop_named_localhost_is_reached_translated_and_passed_through() {
    // A base URL's host name is resolved by ordermux, which connects only to the addresses it may reach
    // (backends::address); `localhost` says where it goes, so its loopback address needs no
    // allow_private_addresses. Both clients resolve through that check: the adapters' and the pass-through's.
    let fake = Fake::start(BigCommerceFake::new("up1", "upstream-token")).await;
    let mut config = fc_on_bigcommerce(
        "up-localhost",
        format!("http://localhost:{}", fake.addr.port()),
        |_| {},
    );
    config.routes.push(Route {
        dialect: Platform::BigCommerce,
        store_hash: Some("up1".into()),
        backend: "up".into(),
        mode: RouteMode::PassThrough,
    });
    let gw = TestGateway::start_with(config).await;
    let translated = gw.fc(Method::GET, "/orders").send().await.unwrap();
    assert_eq!(translated.status(), 200);
    let passed = gw
        .http
        .get(gw.url("/stores/up1/v2/orders/count"))
        .header("x-auth-token", "upstream-token")
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(passed.status(), 200);
    assert_eq!(fake.count("GET", "/v2/orders"), 2, "{:?}", fake.seen());
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_upstream_opens_the_breaker_and_is_not_called_while_open() {
    let fake = Fake::start(Failing {
        status: 500,
        delay: Duration::ZERO,
    })
    .await;
    let gw = TestGateway::start_with(fc_on_bigcommerce("up-breaker", fake.base_url(), |b| {
        b.breaker_failures = 3;
        b.breaker_cooldown = Duration::from_secs(30);
    }))
    .await;
    // Reads are retried, so the first request alone may reach the threshold; either way it is a 502.
    fc_error(gw.fc(Method::GET, "/orders"), 502).await;
    let mut open = None;
    for _ in 0..5 {
        let resp = gw.fc(Method::GET, "/orders").send().await.unwrap();
        if resp.status().as_u16() == 503 {
            open = Some(resp);
            break;
        }
    }
    let open = open.expect("the breaker opened within 6 requests");
    let retry_after: u64 = open.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry_after), "{retry_after}");
    let body: Value = open.json().await.unwrap();
    assert_eq!(body["success"], false);
    let calls = fake.seen().len();
    for _ in 0..5 {
        fc_error(gw.fc(Method::GET, "/orders"), 503).await;
    }
    assert_eq!(
        fake.seen().len(),
        calls,
        "an open breaker sends nothing upstream"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_failure_is_not_replayed_for_the_same_idempotency_key() {
    let fake = Fake::start(Failing {
        status: 503,
        delay: Duration::ZERO,
    })
    .await;
    let gw = TestGateway::start_with(fc_on_bigcommerce("up-idem", fake.base_url(), |b| {
        b.breaker_failures = 100;
    }))
    .await;
    let send = || {
        gw.fc(Method::POST, "/orders")
            .header("idempotency-key", "retry-after-upstream-failure")
            .json(&order_body())
    };
    let (_, first) = fc_error(send(), 502).await;
    assert!(first.get("idempotent-replayed").is_none());
    let before = fake.seen().len();
    let (_, second) = fc_error(send(), 502).await;
    assert!(
        second.get("idempotent-replayed").is_none(),
        "a 502 must not be kept as the key's answer"
    );
    assert!(fake.seen().len() > before, "the retry went upstream again");
}

/// Sends the FluentCart create `send` makes until it is answered 200, waiting while the gateway says an earlier
/// attempt may still land (409); at most 10 s. Its answer.
async fn created_once_settled(send: impl Fn() -> reqwest::RequestBuilder) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let resp = send().send().await.unwrap();
        match resp.status().as_u16() {
            200 => return resp.json::<Value>().await.unwrap(),
            409 => {
                assert!(std::time::Instant::now() < deadline, "never settled");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => panic!("the retry: {other}"),
        }
    }
}

/// A failed attempt frees its Idempotency-Key for a corrected retry, but if that attempt may have made its order
/// upstream, the key is still that request's: the same key with another body is refused (422), not answered with
/// the first body's order (as it was: the retry found that order by the key's stamp and adopted it) and not sent.
/// The first body, sent again, gets its order, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_whose_failed_attempt_may_have_made_an_order_is_not_reused_for_another_body() {
    let fake = Fake::start(BigCommerceFake::new("up1", "upstream-token")).await;
    let gw = TestGateway::start_with(fc_on_bigcommerce("up-idem-other", fake.base_url(), |b| {
        b.timeout = Duration::from_millis(300);
        b.total_timeout = Duration::from_millis(600);
        b.settle = Duration::from_millis(1_500);
        b.breaker_failures = 100;
    }))
    .await;
    let send = |quantity: u64| {
        gw.fc(Method::POST, "/orders")
            .header("idempotency-key", "changed-its-mind")
            .json(&json!({"customer_id": 1, "currency": "USD", "order_items": [{"object_id": 1001, "quantity": quantity}]}))
    };
    // The shop makes the order only after the gateway gave up waiting.
    fake.fail(
        Some("POST"),
        Some("/orders"),
        Fault::Late(Duration::from_millis(700)),
        1,
    );
    fc_error(send(1), 504).await;
    let (body, _) = fc_error(send(2), 422).await;
    assert_eq!(body["code"], "idem_key_reused", "{body}");
    // Still refused once the first order has landed, and whatever the first request's state.
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(fake.with(|f| f.order_count()), 1);
    let (body, _) = fc_error(send(2), 422).await;
    assert_eq!(body["code"], "idem_key_reused", "{body}");
    // The first body gets the order it made, after the settle time if need be.
    let answer = created_once_settled(|| send(1)).await;
    assert!(answer["order_id"].as_u64().is_some(), "{answer}");
    assert_eq!(fake.with(|f| f.order_count()), 1, "no second order");
    let quantities: Vec<Value> = fake.with(|f| {
        f.ids()
            .into_iter()
            .filter_map(|id| f.order(id))
            .map(|o| o.products[0]["quantity"].clone())
            .collect()
    });
    assert_eq!(quantities, vec![json!(1)], "the order is the first body's");
    // And the other body stays refused: the key is answered.
    let (body, _) = fc_error(send(2), 422).await;
    assert_eq!(body["code"], "idem_key_reused", "{body}");
}

/// A retry first looks the earlier attempt up in the shop. If the shop refuses that look-up (a 4xx), the retry's
/// answer is a 502, not the shop's 422: the caller's order may be there, and a caller told 422 would give it up
/// (found by the idempotency model, seed 705 over 200 steps: a key answered 422 whose order existed). The next
/// retry finds the order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_look_up_of_an_earlier_attempt_is_no_refusal_of_the_create() {
    let fake = Fake::start(BigCommerceFake::new("up1", "upstream-token")).await;
    let gw = TestGateway::start_with(fc_on_bigcommerce(
        "up-look-up-refused",
        fake.base_url(),
        |b| {
            b.timeout = Duration::from_millis(300);
            b.total_timeout = Duration::from_millis(600);
            b.settle = Duration::from_millis(1_000);
            b.breaker_failures = 100;
        },
    ))
    .await;
    let send = || {
        gw.fc(Method::POST, "/orders")
            .header("idempotency-key", "looked-up")
            .json(&order_body())
    };
    // The order is made after the gateway gave up waiting.
    fake.fail(
        Some("POST"),
        Some("/orders"),
        Fault::Late(Duration::from_millis(400)),
        1,
    );
    fc_error(send(), 504).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(fake.with(|f| f.order_count()), 1);
    // The look-up by stamp is refused.
    fake.fail(
        Some("GET"),
        Some("/orders"),
        Fault::Reply {
            status: 422,
            body: br#"[{"status":422,"message":"The filter is invalid."}]"#.to_vec(),
        },
        1,
    );
    let (body, _) = fc_error(send(), 502).await;
    assert!(
        body["message"].as_str().unwrap().contains("look-up"),
        "{body}"
    );
    let answer = created_once_settled(send).await;
    assert!(answer["order_id"].as_u64().is_some(), "{answer}");
    assert_eq!(fake.with(|f| f.order_count()), 1, "no second order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_does_not_answer_in_time_is_a_504() {
    let fake = Fake::start(Failing {
        status: 200,
        delay: Duration::from_millis(600),
    })
    .await;
    let gw = TestGateway::start_with(fc_on_bigcommerce("up-slow", fake.base_url(), |b| {
        b.timeout = Duration::from_millis(200);
        b.total_timeout = Duration::from_millis(300);
        b.breaker_failures = 100;
    }))
    .await;
    fc_error(gw.fc(Method::GET, "/orders"), 504).await;
}

/// An upstream answering every request with one fixed reply.
struct Fixed(FakeResponse);

impl FakePlatform for Fixed {
    fn handle(&mut self, _req: &FakeRequest) -> FakeResponse {
        self.0.clone()
    }

    fn error_body(&self, status: u16, message: &str) -> Value {
        json!([{"status": status, "message": message}])
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_upstream_reply_is_refused_not_buffered() {
    let huge = json!({"id": 100, "padding": "x".repeat(64 * 1024)});
    let fake = Fake::start(Fixed(FakeResponse::json(200, &huge))).await;
    let gw = TestGateway::start_with(fc_on_bigcommerce("up-huge", fake.base_url(), |b| {
        b.max_response_bytes = 4096;
        b.breaker_failures = 100;
    }))
    .await;
    fc_error(gw.fc(Method::GET, "/orders"), 502).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_redirect_is_not_followed() {
    let target = Fake::start(Fixed(FakeResponse::json(200, &json!({"id": 100})))).await;
    let fake = Fake::start(Fixed(
        FakeResponse::empty(302)
            .with_header("location", format!("{}/elsewhere", target.base_url())),
    ))
    .await;
    let gw = TestGateway::start_with(fc_on_bigcommerce("up-redirect", fake.base_url(), |b| {
        b.breaker_failures = 100;
    }))
    .await;
    fc_error(gw.fc(Method::GET, "/orders"), 502).await;
    assert!(
        target.seen().is_empty(),
        "the redirect target was never called"
    );
}

#[test]
fn check_config_requires_the_credentials_of_a_translating_route() {
    let dir = fresh_dir("up-check");
    let path = dir.join("gateway.toml");
    std::fs::write(
        &path,
        r#"
[[clients]]
id = "c"
secret = "a-long-enough-secret"

[[backends]]
name = "bc"
type = "bigcommerce"
base_url = "http://127.0.0.1:9"
store_hash = "abc"
credentials = { token_env = "ORDERMUX_TEST_SURELY_UNSET_TOKEN" }

[[routes]]
dialect = "fluentcart"
backend = "bc"
"#,
    )
    .unwrap();
    let err = Config::load(Some(&path)).unwrap_err().to_string();
    assert!(
        err.contains("backends[0].credentials.token_env: environment variable ORDERMUX_TEST_SURELY_UNSET_TOKEN is not set"),
        "{err}"
    );
    assert!(
        err.contains("routes[0]: translating to backend \"bc\" needs its credentials.token_env"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_past_a_backends_pending_limit_are_not_made_and_are_a_503() {
    // Answering with something that is no order list (502, not retried); its first answer comes late.
    let fake = Fake::start(Failing {
        status: 200,
        delay: Duration::ZERO,
    })
    .await;
    fake.fail(None, None, Fault::Delay(Duration::from_millis(600)), 1);
    let gw = TestGateway::start_with(fc_on_bigcommerce("up-pending", fake.base_url(), |b| {
        b.max_pending = 1;
        b.breaker_failures = 100;
        // Room for the late answer however busy the machine is.
        b.timeout = Duration::from_secs(3);
        b.total_timeout = Duration::from_secs(5);
    }))
    .await;
    // The first call waits on the slow shop (it has arrived there once its fault is taken); the second finds
    // the one place taken and is not made.
    let slow = gw.fc(Method::GET, "/orders").send();
    let refused = async {
        let arrived = std::time::Instant::now();
        while fake.faults_left() > 0 {
            assert!(
                arrived.elapsed() < Duration::from_secs(5),
                "the slow call never arrived"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        fc_error(gw.fc(Method::GET, "/orders"), 503).await
    };
    let (slow, (body, headers)) = tokio::join!(slow, refused);
    assert_eq!(headers["retry-after"], "1");
    assert!(
        body.to_string().contains("calls waiting for it; not tried"),
        "{body}"
    );
    // The slow call got the shop's own answer, not a refusal.
    assert_eq!(slow.unwrap().status(), 502);
    // Its place was given back: the next call is made.
    let (body, _) = fc_error(gw.fc(Method::GET, "/orders"), 502).await;
    assert!(!body.to_string().contains("not tried"), "{body}");
    assert_eq!(
        fake.seen().len(),
        2,
        "the refused call never reached the shop"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_shop_is_not_sent_a_storm_of_retries() {
    let fake = Fake::start(Failing {
        status: 503,
        delay: Duration::ZERO,
    })
    .await;
    let gw = TestGateway::start_with(fc_on_bigcommerce("up-retry-budget", fake.base_url(), |b| {
        b.breaker_failures = 1_000;
    }))
    .await;
    let calls = 50;
    let started = std::time::Instant::now();
    for _ in 0..calls {
        fc_error(gw.fc(Method::GET, "/orders"), 502).await;
    }
    let tries = fake.seen().len();
    // Each call may earn a fifth of a retry, with three more at hand each second; without a budget every call
    // would be tried four times (200).
    let seconds = started.elapsed().as_secs() as usize + 1;
    assert!(
        tries <= calls + calls / 5 + 3 * (seconds + 1),
        "{tries} tries for {calls} calls in {seconds} s"
    );
    assert!(tries > calls, "some retries are still made: {tries}");
}
