//! Dialect-independent behaviour: health, metrics, request ids, routing, auth failures in each dialect's shape,
//! limits, shutdown and restart.

use reqwest::Method;
use serde_json::Value;

use super::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_ready_metrics_and_request_ids() {
    let gw = TestGateway::start("health").await;
    let r = gw
        .http
        .get(gw.url("/healthz"))
        .header("x-request-id", "trace-123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-request-id"], "trace-123");
    let r = gw.http.get(gw.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        !r.headers()["x-request-id"].is_empty(),
        "a request id is generated when none is sent"
    );
    let text = gw
        .http
        .get(gw.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(
            "ordermux_requests_total{dialect=\"none\",operation=\"healthz\",status=\"200\"} 1"
        ),
        "{text}"
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_or_wrong_credentials_are_401_in_each_dialect() {
    let gw = TestGateway::start("auth").await;
    let fc = expect(gw.http.get(gw.url(&format!("{FC}/orders"))), 401).await;
    assert_eq!(fc["success"], false);
    assert_eq!(fc["data"]["status"], 401);
    let bc = expect(
        gw.http
            .get(gw.url(&format!("{BC}/orders")))
            .header("x-auth-token", "wrong"),
        401,
    )
    .await;
    assert_eq!(bc[0]["status"], 401);
    let cl = expect(
        gw.http
            .get(gw.url("/api/orders"))
            .header("accept", JSONAPI)
            .header("authorization", "Bearer forged.token.here"),
        401,
    )
    .await;
    assert_eq!(cl["errors"][0]["code"], "INVALID_TOKEN");
    assert_eq!(cl["errors"][0]["status"], "401");
    let bad_grant = gw
        .http
        .post(gw.url("/oauth/token"))
        .json(&serde_json::json!({"grant_type": "client_credentials", "client_id": "demo", "client_secret": "nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_grant.status(), 401);
    // Another store's hash with the right token is still refused.
    let other = gw
        .http
        .get(gw.url("/stores/other/v2/orders"))
        .header("x-auth-token", "demo-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 401);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_are_413_and_traversal_is_400() {
    let gw = TestGateway::start("limits").await;
    let big = vec![b' '; (1 << 20) + 1];
    let r = expect(
        gw.fc(Method::POST, "/orders")
            .header("content-type", "application/json")
            .body(big),
        413,
    )
    .await;
    assert_eq!(r["error"]["code"], "body_too_large");
    let r = gw
        .http
        .get(gw.url("/wp-json/fluent-cart/v2/orders/..%2f..%2fwp-admin"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = gw.http.get(gw.url("/nowhere")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bigcommerce_replies_carry_all_four_rate_limit_headers() {
    let gw = TestGateway::start("ratelimit").await;
    let r = gw.bc(Method::GET, "/order_statuses").send().await.unwrap();
    for h in [
        "x-rate-limit-time-window-ms",
        "x-rate-limit-time-reset-ms",
        "x-rate-limit-requests-quota",
        "x-rate-limit-requests-left",
    ] {
        let v: u64 = r.headers()[h].to_str().unwrap().parse().unwrap();
        if h == "x-rate-limit-requests-quota" {
            assert_eq!(v, 10_000);
        }
    }
    let _: Value = r.json().await.unwrap();
    gw.stop().await;
}
