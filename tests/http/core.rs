//! Dialect-independent behaviour: health, metrics, request ids, routing, auth failures in each dialect's shape,
//! limits, shutdown and restart.

use reqwest::Method;
use serde_json::{json, Value};

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
    // Refused before its body was read: the answer ends the connection, and says so. Without a body, the
    // connection stays open.
    assert!(!other.headers().contains_key("connection"));
    let refused_create = gw
        .http
        .post(gw.url(&format!("{BC}/orders")))
        .header("x-auth-token", "wrong")
        .header("content-type", "application/json")
        .body(vec![b' '; 256 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(refused_create.status(), 401);
    assert_eq!(refused_create.headers()["connection"], "close");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_are_413_and_traversal_is_400() {
    let gw = TestGateway::start("limits").await;
    let big = vec![b' '; (1 << 20) + 1];
    let resp = gw
        .fc(Method::POST, "/orders")
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    // The unread rest of the body ends the connection; the reply says so, so no client reuses it.
    assert_eq!(resp.headers()["connection"], "close");
    let r: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(r["error"]["code"], "body_too_large");
    // A path that climbs out is refused before routing, in the shape of the dialect its prefix names.
    let climb = |path: &str| gw.http.get(gw.url(path)).send();
    let fc = climb("/wp-json/fluent-cart/v2/orders/..%2f..%2fwp-admin")
        .await
        .unwrap();
    assert_eq!(fc.status(), 400);
    let fc: Value = fc.json().await.unwrap();
    assert_eq!(fc["error"]["code"], "invalid_parameter", "{fc}");
    let cl: Value = climb("/api/orders/..%2f..%2fx")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(cl["errors"][0]["status"], "400", "{cl}");
    let bc: Value = climb("/stores/demo/v2/orders/..%2F")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(bc[0]["status"], 400, "{bc}");
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

fn bc_create() -> Value {
    super::bigcommerce::create_body("idem@example.com")
}

/// `bc_create` under Idempotency-Key `key`.
fn keyed_bc_create(gw: &TestGateway, key: &str) -> reqwest::RequestBuilder {
    gw.bc(Method::POST, "/orders")
        .header("idempotency-key", key)
        .json(&bc_create())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_key_replays_conflicts_and_mismatches() {
    let gw = TestGateway::start("idem").await;
    let send = |key: &str, body: &Value| {
        gw.bc(Method::POST, "/orders")
            .header("idempotency-key", key)
            .json(body)
    };
    let first = send("\"key-0001\"", &bc_create()).send().await.unwrap();
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first_body = first.text().await.unwrap();
    let again = send("\"key-0001\"", &bc_create()).send().await.unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(
        again.text().await.unwrap(),
        first_body,
        "the stored response is replayed byte for byte"
    );
    let mut other = bc_create();
    other["customer_message"] = "different".into();
    let mismatch = expect(send("\"key-0001\"", &other), 422).await;
    assert!(mismatch[0]["message"]
        .as_str()
        .unwrap()
        .contains("Idempotency-Key"));
    // Keys are scoped per client and validated.
    expect(keyed_bc_create(&gw, "\"\""), 400).await;
    // A refused request frees its key for a corrected retry.
    let mut broken = bc_create();
    broken["products"] = json!([{"product_id": 111, "quantity": 0}]);
    expect(send("key-0002", &broken), 422).await;
    expect(send("key-0002", &bc_create()), 201).await;
    // Only two orders exist: key-0001 once, key-0002 once.
    let all = expect(gw.bc(Method::GET, "/orders"), 200).await;
    assert_eq!(all.as_array().unwrap().len(), 2);
    // Creates without a key still work.
    expect(gw.bc(Method::POST, "/orders").json(&bc_create()), 201).await;
    let metrics = gw
        .http
        .get(gw.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("ordermux_idempotent_replays_total{dialect=\"bigcommerce\"} 1"),
        "{metrics}"
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_key_in_flight_is_409_and_creates_exactly_once() {
    let gw = TestGateway::start("inflight").await;
    // Twenty concurrent sends of one key: exactly one create runs; the others are replays or 409 in flight.
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let req = gw
            .bc(Method::POST, "/orders")
            .header("idempotency-key", "burst-key")
            .json(&bc_create());
        tasks.push(tokio::spawn(async move {
            req.send().await.unwrap().status().as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 409),
        "{statuses:?}"
    );
    assert!(statuses.contains(&201));
    let all = expect(gw.bc(Method::GET, "/orders"), 200).await;
    assert_eq!(all.as_array().unwrap().len(), 1, "{statuses:?}");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_creates_lose_and_double_nothing() {
    let gw = TestGateway::start("concurrent").await;
    let mut tasks = Vec::new();
    for i in 0..200 {
        let body = super::bigcommerce::create_body(&format!("c{i}@example.com"));
        let req = gw
            .bc(Method::POST, "/orders")
            .header("idempotency-key", format!("k-{i}"))
            .json(&body);
        tasks.push(tokio::spawn(async move {
            let r = req.send().await.unwrap();
            assert_eq!(r.status(), 201);
            r.json::<Value>().await.unwrap()["id"].as_u64().unwrap()
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap());
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 200, "every create got its own order");
    let count = expect(gw.bc(Method::GET, "/orders/count"), 200).await;
    assert_eq!(count["count"], 200);
    let mut seen = Vec::new();
    for page in 1..=2 {
        let list = expect(
            gw.bc(Method::GET, &format!("/orders?limit=100&page={page}")),
            200,
        )
        .await;
        seen.extend(
            list.as_array()
                .unwrap()
                .iter()
                .map(|o| o["billing_address"]["email"].as_str().unwrap().to_owned()),
        );
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 200, "each customer's order is there once");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_survives_a_restart() {
    let gw = TestGateway::start("restart").await;
    let order = expect(keyed_bc_create(&gw, "restart-key"), 201).await;
    let dir = gw.stop().await;
    let gw = TestGateway::start_with(config(&dir)).await;
    let again = expect(gw.bc(Method::GET, &format!("/orders/{}", order["id"])), 200).await;
    assert_eq!(again["total_inc_tax"], order["total_inc_tax"]);
    // The idempotency record survived too: the retry is a replay, not a second order.
    let replay = keyed_bc_create(&gw, "restart-key").send().await.unwrap();
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    let all = expect(gw.bc(Method::GET, "/orders"), 200).await;
    assert_eq!(all.as_array().unwrap().len(), 1);
    gw.stop().await;
}

/// Puts `key`'s record where a gateway killed between its store write and its answer leaves it: in flight, under
/// a process that no longer runs, no answer kept. What the request wrote stays recorded, as the store wrote it.
fn cut_off(dir: &std::path::Path, key: &str) -> Option<String> {
    let db = rusqlite::Connection::open(dir.join("ordermux.db")).unwrap();
    let n = db
        .execute(
            "UPDATE idempotency SET state = 'in_flight', status = NULL, headers = NULL, body = NULL, owner = 1 WHERE key = ?",
            [key],
        )
        .unwrap();
    assert_eq!(n, 1, "one record for {key}");
    db.query_row("SELECT wrote FROM idempotency WHERE key = ?", [key], |r| {
        r.get(0)
    })
    .unwrap()
}

/// A gateway stopped mid-create leaves its Idempotency-Key in flight. The next gateway takes such a key over:
/// an order create that had written its order answers with that order (201, not a second order); one that had
/// written nothing runs again; a create that cannot rebuild its answer (a Commerce Layer line item) says so, in
/// its dialect, and keeps saying it. Before, every retry got 409 "still being processed" until the key expired.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_left_in_flight_by_a_stopped_gateway_are_taken_over() {
    let gw = TestGateway::start("cut-off").await;
    let created = expect(keyed_bc_create(&gw, "cut-after-write"), 201).await;
    let token = gw.cl_token().await;
    let draft = expect(
        gw.cl(&token, Method::POST, "/orders")
            .json(&json!({"data": {
                "type": "orders",
                "relationships": {"market": {"data": {"type": "markets", "id": "usd"}}}
            }})),
        201,
    )
    .await;
    let draft_id = draft["data"]["id"].as_str().unwrap().to_owned();
    let line = json!({"data": {
        "type": "line_items",
        "attributes": {"sku_code": "TSHIRT-BLK-M", "quantity": 1},
        "relationships": {"order": {"data": {"type": "orders", "id": draft_id}}}
    }});
    expect(
        gw.cl(&token, Method::POST, "/line_items")
            .header("idempotency-key", "line-cut-after-write")
            .json(&line),
        201,
    )
    .await;
    let dir = gw.stop().await;
    let wrote = cut_off(&dir, "cut-after-write");
    assert!(wrote.is_some(), "the create recorded the order it wrote");
    assert_ne!(cut_off(&dir, "line-cut-after-write"), wrote);
    // A create stopped before it wrote anything: claimed, nothing else.
    let body = serde_json::to_vec(&bc_create()).unwrap();
    let fingerprint: [u8; 32] = {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(b"POST\0/stores/demo/v2/orders\0");
        h.update(&body);
        h.finalize().into()
    };
    rusqlite::Connection::open(dir.join("ordermux.db"))
        .unwrap()
        .execute(
            "INSERT INTO idempotency (client, key, fingerprint, state, created_at, owner) VALUES ('demo', 'cut-before-write', ?, 'in_flight', ?, 1)",
            rusqlite::params![&fingerprint[..], chrono::Utc::now().timestamp()],
        )
        .unwrap();

    let gw = TestGateway::start_with(config(&dir)).await;
    let send = |key: &str| {
        gw.bc(Method::POST, "/orders")
            .header("idempotency-key", key)
            .body(body.clone())
            .header("content-type", "application/json")
    };
    let resumed = send("cut-after-write").send().await.unwrap();
    assert_eq!(resumed.status(), 201);
    assert!(resumed.headers().get("idempotent-replayed").is_none());
    let resumed: Value = resumed.json().await.unwrap();
    assert_eq!(
        resumed["id"], created["id"],
        "the order written before the stop"
    );
    assert_eq!(resumed["total_inc_tax"], created["total_inc_tax"]);
    let rerun = expect(send("cut-before-write"), 201).await;
    assert_ne!(rerun["id"], created["id"]);
    let all = expect(gw.bc(Method::GET, "/orders"), 200).await;
    // The Commerce Layer draft, and one order per key.
    assert_eq!(all.as_array().unwrap().len(), 3);
    // Both keys answer as done from now on.
    for key in ["cut-after-write", "cut-before-write"] {
        let again = send(key).send().await.unwrap();
        assert_eq!(again.headers()["idempotent-replayed"], "true", "{key}");
    }

    let token = gw.cl_token().await;
    for replayed in [false, true] {
        let r = gw
            .cl(&token, Method::POST, "/line_items")
            .header("idempotency-key", "line-cut-after-write")
            .json(&line)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 409);
        assert_eq!(r.headers().get("idempotent-replayed").is_some(), replayed);
        let doc: Value = r.json().await.unwrap();
        assert_eq!(doc["errors"][0]["code"], "CONFLICT", "{doc}");
        assert!(
            doc["errors"][0]["detail"]
                .as_str()
                .unwrap()
                .contains("interrupted"),
            "{doc}"
        );
    }
    let order = gw.cl_order_with_lines(&token, &draft_id).await;
    let metrics = gw
        .http
        .get(gw.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "ordermux_idempotency_takeovers_total{dialect=\"bigcommerce\",outcome=\"resumed\"} 1",
        "ordermux_idempotency_takeovers_total{dialect=\"bigcommerce\",outcome=\"rerun\"} 1",
        "ordermux_idempotency_takeovers_total{dialect=\"commercelayer\",outcome=\"interrupted\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
    assert_eq!(
        order["data"]["relationships"]["line_items"]["data"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "the line was added once: {order}"
    );
    gw.stop().await;
}

/// Opens the running gateway's store on a connection of the test's own and runs `sql` there (a trigger that
/// changes how the gateway's writes behave), for the test to look at the store through it afterwards.
fn beside(gw: &TestGateway, sql: &str) -> rusqlite::Connection {
    let db = rusqlite::Connection::open(gw.data_dir.join("ordermux.db")).unwrap();
    db.execute_batch(sql).unwrap();
    db
}

/// The answer to a key is queued, not awaited, so it may still be on its way to the store when the gateway is
/// told to stop: the gateway commits what it queued before it stops. (A trigger beside the running gateway makes
/// each answer's commit slow, so without that the check below would find the key still in flight.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_gateway_commits_the_answers_it_queued() {
    let gw = TestGateway::start("stop-commits").await;
    let db = beside(
        &gw,
        "CREATE TRIGGER slow_answer BEFORE UPDATE OF state ON idempotency WHEN NEW.state = 'done' BEGIN SELECT length(hex(randomblob(20000000))); END;",
    );
    expect(keyed_bc_create(&gw, "answered-then-stopped"), 201).await;
    gw.stop().await;
    let state: String = db
        .query_row(
            "SELECT state FROM idempotency WHERE key = 'answered-then-stopped'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(state, "done");
}

/// F11 of the reliability plan: when the Idempotency-Key cannot be recorded, a create with a key fails closed with
/// 503 and `Retry-After` in the caller's dialect, and nothing is created; once the store records again, the same
/// key creates the order. (The failure is a trigger refusing new records, added beside the running gateway.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_fail_closed_while_keys_cannot_be_recorded() {
    let gw = TestGateway::start("idem-down").await;
    let db = beside(
        &gw,
        "CREATE TRIGGER idempotency_down BEFORE INSERT ON idempotency BEGIN SELECT RAISE(FAIL, 'down'); END;",
    );
    let send = || keyed_bc_create(&gw, "while-down");
    let refused = send().send().await.unwrap();
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "1");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body[0]["status"], 503, "{body}");
    let all = expect(gw.bc(Method::GET, "/orders"), 204).await;
    assert_eq!(all, Value::Null, "nothing was created");

    db.execute_batch("DROP TRIGGER idempotency_down;").unwrap();
    expect(send(), 201).await;
    let all = expect(gw.bc(Method::GET, "/orders"), 200).await;
    assert_eq!(all.as_array().unwrap().len(), 1);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn underscore_header_names_are_refused() {
    let gw = TestGateway::start("underscore").await;
    let r = gw
        .http
        .get(gw.url("/healthz"))
        .header("x_forwarded_host", "internal")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    gw.stop().await;
}

/// Sends `request` as written on a connection of its own and reads until the gateway closes it: (status, whole
/// reply).
async fn raw_exchange(addr: std::net::SocketAddr, request: String) -> (String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).await.unwrap();
    let reply = String::from_utf8_lossy(&reply).into_owned();
    (reply.get(9..12).unwrap_or_default().to_owned(), reply)
}

/// A caller that shuts down its sending side once its request is sent (`nc -N`, HTTP/1.0-era tools) still gets the
/// answer, and its create is made once; before, the gateway took the end of input for the end of the connection
/// and dropped the request in flight without an answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_that_half_closes_after_its_request_still_gets_the_answer() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let gw = TestGateway::start("half-close").await;
    let body = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/fluentcart/request/ok/0004_jpy_single_digital_line_guest.json"),
    )
    .unwrap();
    let head = format!(
        "POST {FC}/orders HTTP/1.1\r\nHost: t\r\nAuthorization: Basic ZGVtbzpkZW1vLXNlY3JldA==\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body).await.unwrap();
    stream.shutdown().await.unwrap();
    let mut reply = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut reply),
    )
    .await
    .expect("answered in time")
    .unwrap();
    let reply = String::from_utf8_lossy(&reply).into_owned();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply:?}");
    let id = raw_body(&reply)["order_id"].clone();
    let list = expect(gw.fc(Method::GET, "/orders"), 200).await;
    assert_eq!(list["orders"]["total"], 1, "{list}");
    assert_eq!(list["orders"]["data"][0]["id"], id, "{list}");
    gw.stop().await;
}

/// The body of a raw reply as JSON.
fn raw_body(reply: &str) -> Value {
    let (_, body) = reply.split_once("\r\n\r\n").unwrap_or_default();
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {reply}"))
}

/// Heads the gateway refuses before routing (an ambiguous header name, headers too large together, a transfer
/// coding it cannot undo) and bodies it cannot read (a content coding) are answered in the caller's error shape
/// when the path names a dialect; nothing is created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_heads_and_coded_bodies_answer_in_the_callers_shape() {
    let gw = TestGateway::start("head-shapes").await;
    // An ambiguous header name, on each dialect's list.
    let fc = expect(gw.fc(Method::GET, "/orders").header("x_a", "1"), 400).await;
    assert_eq!(fc["error"]["code"], "invalid_header", "{fc}");
    assert_eq!(fc["data"]["status"], 400, "{fc}");
    let cl = expect(gw.cl("any", Method::GET, "/orders").header("x_a", "1"), 400).await;
    assert_eq!(cl["errors"][0]["code"], "BAD_REQUEST", "{cl}");
    assert_eq!(cl["errors"][0]["status"], "400", "{cl}");
    // Refused with its body unread, the connection is closed (as for the API's early answers); without one, kept.
    let with_body = gw
        .fc(Method::POST, "/orders")
        .header("x_a", "1")
        .json(&json!({"customer_id": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(with_body.status(), 400);
    assert_eq!(with_body.headers()["connection"], "close");
    let without = gw
        .fc(Method::GET, "/orders")
        .header("x_a", "1")
        .send()
        .await
        .unwrap();
    assert!(without.headers().get("connection").is_none());
    let bc = expect(gw.bc(Method::GET, "/orders").header("x_a", "1"), 400).await;
    assert_eq!(bc[0]["status"], 400, "{bc}");
    assert!(bc[0]["message"].as_str().unwrap().contains("'_'"), "{bc}");

    // Headers too large together, on a Commerce Layer list: 431, and the connection is closed.
    let mut big = gw.cl("any", Method::GET, "/orders");
    for i in 0..90 {
        big = big.header(format!("x-filler-{i}"), "f".repeat(800));
    }
    let reply = big.send().await.unwrap();
    assert_eq!(reply.status(), 431);
    assert_eq!(reply.headers()["connection"], "close");
    let cl: Value = reply.json().await.unwrap();
    assert_eq!(
        cl["errors"][0]["code"], "REQUEST_HEADER_FIELDS_TOO_LARGE",
        "{cl}"
    );

    // A transfer coding other than chunked alone: 501, connection closed.
    let create = |head: &str, body: &str| {
        format!(
            "POST {FC}/orders HTTP/1.1\r\nHost: t\r\nAuthorization: Basic ZGVtbzpkZW1vLXNlY3JldA==\r\nContent-Type: application/json\r\n{head}Connection: close\r\n\r\n{body}"
        )
    };
    let order = r#"{"customer_id":1,"order_items":[{"object_id":1001,"quantity":1}]}"#;
    let chunk = format!("{:x}\r\n{order}\r\n0\r\n\r\n", order.len());
    for coding in ["gzip, chunked", "chunked, chunked"] {
        let (status, reply) = raw_exchange(
            gw.addr,
            create(&format!("Transfer-Encoding: {coding}\r\n"), &chunk),
        )
        .await;
        assert_eq!(status, "501", "{coding}: {reply}");
        assert!(
            reply.to_ascii_lowercase().contains("connection: close"),
            "{reply}"
        );
        assert_eq!(
            raw_body(&reply)["error"]["code"],
            "not_implemented",
            "{reply}"
        );
    }

    // A content coding on a create's body: 415 naming the one accepted.
    let (status, reply) = raw_exchange(
        gw.addr,
        create(
            &format!(
                "Content-Encoding: identity, GZIP\r\nContent-Length: {}\r\n",
                order.len()
            ),
            order,
        ),
    )
    .await;
    assert_eq!(status, "415", "{reply}");
    assert!(
        reply
            .to_ascii_lowercase()
            .contains("accept-encoding: identity"),
        "{reply}"
    );
    assert_eq!(raw_body(&reply)["error"]["code"], "media_type", "{reply}");

    let listed = expect(gw.fc(Method::GET, "/orders"), 200).await;
    assert_eq!(
        listed["orders"]["total"], 0,
        "nothing was created: {listed}"
    );
    // Chunked alone, the identity coding, and a value that names no content coding are served.
    let (status, reply) = raw_exchange(
        gw.addr,
        create(
            "Transfer-Encoding: chunked\r\nContent-Encoding: identity\r\n",
            &chunk,
        ),
    )
    .await;
    assert_eq!(status, "200", "{reply}");
    assert!(raw_body(&reply)["order_id"].is_u64(), "{reply}");
    let (status, reply) = raw_exchange(
        gw.addr,
        create(
            &format!(
                "Content-Encoding: UTF-8\r\nContent-Length: {}\r\n",
                order.len()
            ),
            order,
        ),
    )
    .await;
    assert_eq!(status, "200", "{reply}");
    gw.stop().await;
}

/// RFC 9112 §3.2: an HTTP/1.1 request without a Host, or any request with two, is a 400 (as from nginx and Envoy),
/// whichever route it names; HTTP/1.0 needs none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_without_one_host_is_refused() {
    let gw = TestGateway::start("host-header").await;
    let status_of = |head: String| raw_exchange(gw.addr, head);
    let auth = "Authorization: Basic ZGVtbzpkZW1vLXNlY3JldA==\r\n";
    let list = "/wp-json/fluent-cart/v2/orders";
    for (head, expected) in [
        (
            format!("GET {list} HTTP/1.1\r\n{auth}Connection: close\r\n\r\n"),
            "400",
        ),
        (
            "GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n".to_owned(),
            "400",
        ),
        (
            format!("GET {list} HTTP/1.1\r\nHost: a\r\nHost: b\r\n{auth}Connection: close\r\n\r\n"),
            "400",
        ),
        (
            format!("GET {list} HTTP/1.0\r\nHost: a\r\nHost: b\r\n{auth}\r\n"),
            "400",
        ),
        (
            format!("GET {list} HTTP/1.1\r\nHost: a\r\n{auth}Connection: close\r\n\r\n"),
            "200",
        ),
        (format!("GET {list} HTTP/1.0\r\n{auth}\r\n"), "200"),
    ] {
        let (status, reply) = status_of(head.clone()).await;
        assert_eq!(status, expected, "{head:?} -> {reply}");
        if expected == "400" {
            assert!(reply.contains("Host header"), "{reply}");
        }
    }
    // A target in absolute form names the host the reply's links use; its Host header is ignored.
    let (status, reply) = status_of(format!(
        "GET http://shop.example{list}?per_page=1 HTTP/1.1\r\nHost: other.example\r\n{auth}Connection: close\r\n\r\n"
    ))
    .await;
    assert_eq!(status, "200", "{reply}");
    let page = raw_body(&reply);
    assert_eq!(
        page["orders"]["path"], "http://shop.example/wp-json/fluent-cart/v2/orders",
        "{page}"
    );
    gw.stop().await;
}

/// Headers larger than 64 KiB together are a 431, however the head arrives: hyper's own limit is on its read
/// buffer, which one large read overshoots (a 100 KB header sent at once was a 200).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_over_64_kib_together_are_refused() {
    let gw = TestGateway::start("header-bytes").await;
    let with_filler = |bytes: usize| {
        gw.http
            .get(gw.url("/healthz"))
            .header("x-filler", "f".repeat(bytes))
    };
    assert_eq!(with_filler(60_000).send().await.unwrap().status(), 200);
    for bytes in [66_000, 100_000] {
        let refused = with_filler(bytes).send().await.unwrap();
        assert_eq!(refused.status(), 431, "{bytes}");
        assert_eq!(refused.headers()["connection"], "close");
    }
    // Many headers, each small, add up the same way.
    let mut many = gw.http.get(gw.url("/healthz"));
    for i in 0..90 {
        many = many.header(format!("x-filler-{i}"), "f".repeat(800));
    }
    assert_eq!(many.send().await.unwrap().status(), 431);
    gw.stop().await;
}

/// hyper's default limit of 100 header fields holds (ordermux relies on the default rather than setting it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_than_one_hundred_headers_are_refused() {
    let gw = TestGateway::start("header-count").await;
    let with_headers = |n: usize| {
        let mut req = gw.http.get(gw.url("/healthz"));
        for i in 0..n {
            req = req.header(format!("x-filler-{i}"), "1");
        }
        req
    };
    // reqwest adds `accept` and `host`: 90 + 2 is within the limit, 100 + 2 is not.
    assert_eq!(with_headers(90).send().await.unwrap().status(), 200);
    assert_eq!(with_headers(100).send().await.unwrap().status(), 431);
    gw.stop().await;
}

/// Every malformed create-request fixture, sent to its dialect's create route, gets a 4xx in that dialect's error
/// shape; and a bounded run of garbage bodies gets no 5xx. Afterwards the store holds no order at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_creates_are_refused_in_the_callers_shape_and_write_nothing() {
    let gw = TestGateway::start("malformed").await;
    let token = gw.cl_token().await;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let send = |dialect: &str, body: Vec<u8>| match dialect {
        "fluentcart" => gw
            .fc(Method::POST, "/orders")
            .header("content-type", "application/json")
            .body(body),
        "commercelayer" => gw.cl(&token, Method::POST, "/orders").body(body),
        _ => gw
            .bc(Method::POST, "/orders")
            .header("content-type", "application/json")
            .body(body),
    };
    let shape_ok = |dialect: &str, v: &Value, status: u16| match dialect {
        "fluentcart" => {
            v["success"] == false && v["data"]["status"] == status && v["error"]["code"].is_string()
        }
        "commercelayer" => {
            v["errors"][0]["status"] == status.to_string().as_str()
                && v["errors"][0]["source"]["pointer"].is_string()
        }
        _ => v[0]["status"] == status && v[0]["message"].is_string(),
    };
    let mut sent = 0;
    for dialect in ["fluentcart", "commercelayer", "bigcommerce"] {
        let dir = root.join(dialect).join("request").join("err");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for file in files {
            let r = send(dialect, std::fs::read(&file).unwrap())
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let v: Value = r.json().await.unwrap();
            assert!(
                (400..500).contains(&status),
                "{}: {status} {v}",
                file.display()
            );
            assert!(shape_ok(dialect, &v, status), "{}: {v}", file.display());
            sent += 1;
        }
        // Garbage: a fixed-seed generator, bounded in count.
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        for i in 0..40 {
            let len = 1 + (i * 37) % 300;
            let body: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    b"{}[]\":,0123456789.-eE truefalsnul\\u\xff\x00"[(seed % 37) as usize]
                })
                .collect();
            let r = send(dialect, body).send().await.unwrap();
            assert!(
                r.status().is_client_error(),
                "{dialect} garbage #{i}: {}",
                r.status()
            );
            sent += 1;
        }
    }
    assert!(sent > 100);
    expect(gw.bc(Method::GET, "/orders"), 204).await;
    let fc = expect(gw.fc(Method::GET, "/orders"), 200).await;
    assert_eq!(fc["orders"]["total"], 0);
    expect(gw.http.get(gw.url("/healthz")), 200).await;
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_does_not_arrive_within_the_request_deadline_is_a_408_in_the_callers_dialect() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut config = config(&fresh_dir("slow-body"));
    config.server.request_timeout = std::time::Duration::from_millis(400);
    let gw = TestGateway::start_with(config).await;
    let mut s = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    // The head says 200 bytes; 20 come, then nothing.
    let head = "POST /stores/demo/v2/orders HTTP/1.1\r\nHost: t\r\nX-Auth-Token: demo-secret\r\n\
                X-Auth-Client: demo\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n";
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(br#"{"billing_address": "#).await.unwrap();
    let started = std::time::Instant::now();
    let mut reply = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        s.read_to_end(&mut reply),
    )
    .await
    .expect("the gateway closes the connection")
    .unwrap();
    let waited = started.elapsed();
    assert!(
        waited < std::time::Duration::from_secs(5),
        "held for {waited:?}"
    );
    let text = String::from_utf8_lossy(&reply);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    let body: Value = serde_json::from_str(text.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body[0]["status"], 408, "{body}");
    // Nothing was written.
    let list = gw.bc(Method::GET, "/orders").send().await.unwrap();
    assert_eq!(list.status().as_u16(), 204);
    gw.stop().await;
}

/// A gateway on the shipped configuration, its server settings changed by `tune`.
async fn with_server(
    name: &str,
    tune: impl FnOnce(&mut ordermux::config::ServerConfig),
) -> TestGateway {
    let mut config = config(&fresh_dir(name));
    tune(&mut config.server);
    TestGateway::start_with(config).await
}

/// A BigCommerce list with a wrong token.
fn bc_guess(gw: &TestGateway) -> reqwest::RequestBuilder {
    gw.http
        .get(gw.url(&format!("{BC}/orders")))
        .header("x-auth-token", "guess")
        .header("accept", "application/json")
}

/// Asserts `reply` is a 429 in `dialect`'s error shape whose body says 429 too, with a `Retry-After`.
async fn assert_429(dialect: &str, reply: reqwest::Response) -> u64 {
    assert_eq!(reply.status(), 429, "{dialect}");
    let wait: u64 = reply.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let body: Value = reply.json().await.unwrap();
    match dialect {
        "fluentcart" => {
            assert_eq!(body["success"], false, "{body}");
            assert_eq!(body["data"]["status"], 429, "{body}");
            assert_eq!(body["error"]["code"], "too_many_requests", "{body}");
        }
        "commercelayer" => {
            assert_eq!(body["errors"][0]["status"], "429", "{body}");
            assert_eq!(body["errors"][0]["code"], "TOO_MANY_REQUESTS", "{body}");
        }
        _ => assert_eq!(body[0]["status"], 429, "{body}"),
    }
    wait
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clients_spent_budget_is_a_429_whose_body_says_429() {
    let gw = with_server("budget", |server| {
        server.rate_limit_quota = 2;
    })
    .await;
    let token = gw.cl_token().await;
    expect(gw.bc(Method::GET, "/orders/count"), 200).await;
    expect(gw.fc(Method::GET, "/orders"), 200).await;
    // The demo client's budget is spent, whichever dialect it speaks.
    let bc = gw.bc(Method::GET, "/orders/count").send().await.unwrap();
    assert!(bc.headers().contains_key("x-retry-after"));
    assert_eq!(bc.headers()["x-rate-limit-requests-left"], "0");
    assert!(assert_429("bigcommerce", bc).await <= 30);
    let fc = gw.fc(Method::GET, "/orders").send().await.unwrap();
    assert_429("fluentcart", fc).await;
    let cl = gw.cl(&token, Method::GET, "/orders").send().await.unwrap();
    assert_429("commercelayer", cl).await;
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_that_keeps_failing_to_authenticate_is_locked_out_whatever_it_sends() {
    let gw = with_server("lockout", |server| {
        server.auth_failure_limit = 3;
    })
    .await;
    let token = gw.cl_token().await;
    // Three wrong guesses, one per dialect (Commerce Layer's at its token endpoint).
    expect(
        gw.http
            .get(gw.url("/wp-json/fluent-cart/v2/orders"))
            .basic_auth("demo", Some("guess")),
        401,
    )
    .await;
    expect(bc_guess(&gw), 401).await;
    expect(
        gw.http.post(gw.url("/oauth/token")).json(&json!({
            "grant_type": "client_credentials",
            "client_id": "demo",
            "client_secret": "guess"
        })),
        401,
    )
    .await;
    // Now even the right credentials are refused, in each caller's shape, until the window ends.
    let wait = assert_429(
        "fluentcart",
        gw.fc(Method::GET, "/orders").send().await.unwrap(),
    )
    .await;
    assert!((1..=60).contains(&wait), "{wait}");
    assert_429(
        "bigcommerce",
        gw.bc(Method::GET, "/orders").send().await.unwrap(),
    )
    .await;
    assert_429(
        "commercelayer",
        gw.cl(&token, Method::GET, "/orders").send().await.unwrap(),
    )
    .await;
    // A create's body is not read: the connection closes after the answer.
    let create = gw
        .bc(Method::POST, "/orders")
        .json(&super::bigcommerce::create_body("locked@example.com"))
        .send()
        .await
        .unwrap();
    assert_eq!(create.headers()["connection"], "close");
    assert_429("bigcommerce", create).await;
    // Health is not behind credentials, and stays open.
    expect(gw.http.get(gw.url("/healthz")), 200).await;
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lockout_limit_of_zero_never_locks_out() {
    let gw = with_server("no-lockout", |server| {
        server.auth_failure_limit = 0;
    })
    .await;
    for _ in 0..20 {
        expect(bc_guess(&gw), 401).await;
    }
    expect(gw.bc(Method::GET, "/orders/count"), 200).await;
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_tokens_are_not_counted_as_guesses() {
    let gw = with_server("lockout-expired", |server| {
        server.auth_failure_limit = 2;
        server.token_ttl = std::time::Duration::from_secs(1);
    })
    .await;
    let token = gw.cl_token().await;
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    // Many clients behind one address may see their tokens expire together: each refreshes on the 401.
    for _ in 0..4 {
        let expired = expect(gw.cl(&token, Method::GET, "/orders"), 401).await;
        assert_eq!(expired["errors"][0]["code"], "INVALID_TOKEN", "{expired}");
    }
    let fresh = gw.cl_token().await;
    expect(gw.cl(&fresh, Method::GET, "/orders"), 200).await;
    // A forged one is a guess.
    for _ in 0..2 {
        expect(gw.cl("not.a.token", Method::GET, "/orders"), 401).await;
    }
    assert_429(
        "commercelayer",
        gw.cl(&fresh, Method::GET, "/orders").send().await.unwrap(),
    )
    .await;
    gw.stop().await;
}

/// Tenant isolation (reliability plan §7.5): an Idempotency-Key is its client's own. Two clients sending the same
/// key with the same body each get an order of their own; each one's retry replays its own answer, never the
/// other's; each lists only its own order; and an order of one client is not found by the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotency_key_belongs_to_its_client() {
    let dir = fresh_dir("tenants");
    let mut cfg = config(&dir);
    cfg.clients.push(ordermux::config::Client {
        id: "other".into(),
        secret: ordermux::config::Secret::new("other-secret"),
        bigcommerce_store_hash: "other".into(),
    });
    let gw = TestGateway::start_with(cfg).await;
    let other = |method: Method, path: &str| {
        gw.http
            .request(method, gw.url(&format!("/stores/other/v2{path}")))
            .header("x-auth-token", "other-secret")
            .header("accept", "application/json")
    };
    let body = |email: &str| {
        json!({"billing_address": {"first_name": "Kim", "last_name": "Lee", "street_1": "1 Main St",
            "city": "Austin", "state": "Texas", "zip": "78701", "country": "United States",
            "country_iso2": "US", "email": email},
            "products": [{"name": "Gift wrap", "quantity": 2, "price_inc_tax": 5, "price_ex_tax": 5}]})
    };
    let create = |req: reqwest::RequestBuilder, email: &str| {
        req.header("idempotency-key", "shared-key")
            .json(&body(email))
    };
    let mine = expect(
        create(gw.bc(Method::POST, "/orders"), "kim@example.com"),
        201,
    )
    .await;
    let theirs = expect(
        create(other(Method::POST, "/orders"), "kim@example.com"),
        201,
    )
    .await;
    assert_ne!(
        mine["id"], theirs["id"],
        "one order each (ids are unique across clients)"
    );
    // Each retry is answered from its own client's record, byte for byte.
    for (req, first) in [
        (gw.bc(Method::POST, "/orders"), &mine),
        (other(Method::POST, "/orders"), &theirs),
    ] {
        let r = create(req, "kim@example.com").send().await.unwrap();
        assert_eq!(r.headers()["idempotent-replayed"], "true");
        let replay: Value = r.json().await.unwrap();
        assert_eq!(&replay, first);
    }
    // Another body under the key is refused for the client that used it, not for the other.
    for req in [
        gw.bc(Method::POST, "/orders"),
        other(Method::POST, "/orders"),
    ] {
        expect(create(req, "lee@example.com"), 422).await;
    }
    let listed = |v: Value| -> Vec<Value> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|o| o["id"].clone())
            .collect()
    };
    assert_eq!(
        listed(expect(gw.bc(Method::GET, "/orders"), 200).await),
        [mine["id"].clone()]
    );
    assert_eq!(
        listed(expect(other(Method::GET, "/orders"), 200).await),
        [theirs["id"].clone()]
    );
    expect(other(Method::GET, &format!("/orders/{}", mine["id"])), 404).await;
    expect(
        gw.bc(Method::GET, &format!("/orders/{}", theirs["id"])),
        404,
    )
    .await;
    gw.stop().await;
}
