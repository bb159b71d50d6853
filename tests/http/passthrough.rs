//! Reverse-proxy pass-through: a caller of a shop's own dialect reaches the upstream shop untouched (method, path,
//! query, headers minus hop-by-hop, body both ways), checked byte for byte against calling the fake shop directly;
//! requests ordermux does not translate go to the fallback upstream; upstream failures are 502/504 in the caller's
//! dialect.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use ordermux::canonical::Platform;
use ordermux::config::{Backend, Config, Route, RouteMode};
use reqwest::Method;
use serde_json::Value;

use super::harness::*;

/// What the fake shop saw of one request.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    method: String,
    target: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

/// A fake upstream shop on 127.0.0.1: records every request and answers with a fixed reply, after `delay`.
struct FakeShop {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

const REPLY_BODY: &[u8] = b"{\"id\":7,\"note\":\"caf\xc3\xa9 \\u00e9\",\"data\":[1,2,3]}";

async fn fake_shop(delay: Duration) -> FakeShop {
    fake_shop_with(delay, true).await
}

/// `keep_alive: false`: the shop closes every connection after its reply.
async fn fake_shop_with(delay: Duration, keep_alive: bool) -> FakeShop {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let log = log.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<Incoming>| {
                    let log = log.clone();
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body
                            .collect()
                            .await
                            .map(|c| c.to_bytes().to_vec())
                            .unwrap_or_default();
                        let mut headers: Vec<(String, Vec<u8>)> = parts
                            .headers
                            .iter()
                            .map(|(k, v)| (k.as_str().to_owned(), v.as_bytes().to_vec()))
                            .collect();
                        headers.sort();
                        log.lock().unwrap().push(Seen {
                            method: parts.method.to_string(),
                            target: parts.uri.to_string(),
                            headers,
                            body,
                        });
                        tokio::time::sleep(delay).await;
                        let mut r = Response::new(Full::new(Bytes::from_static(REPLY_BODY)));
                        *r.status_mut() = hyper::StatusCode::CREATED;
                        r.headers_mut()
                            .insert("content-type", "application/json".parse().unwrap());
                        r.headers_mut()
                            .insert("x-shop-trace", "abc123".parse().unwrap());
                        r.headers_mut()
                            .insert("set-cookie", "sid=1; HttpOnly".parse().unwrap());
                        Ok::<_, std::convert::Infallible>(r)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .keep_alive(keep_alive)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    FakeShop { addr, seen }
}

fn with_upstream(name: &str, kind: Platform, addr: SocketAddr, timeout: Duration) -> Config {
    let mut config = config(&fresh_dir(name));
    config.backends.push(Backend {
        connect_timeout: Duration::from_millis(500),
        timeout,
        ..Backend::upstream("live", kind, format!("http://{addr}"))
    });
    config.routes.push(Route {
        dialect: kind,
        store_hash: (kind == Platform::BigCommerce).then(|| "live".to_owned()),
        backend: "live".into(),
        mode: RouteMode::PassThrough,
    });
    config.fallback_backend = Some("live".into());
    config
}

/// Headers that legitimately differ between a direct call and one through the proxy.
fn comparable(mut s: Seen) -> Seen {
    s.headers.retain(|(k, _)| {
        ![
            "host",
            "x-forwarded-for",
            "x-forwarded-proto",
            "x-forwarded-host",
            "x-request-id",
        ]
        .contains(&k.as_str())
    });
    s
}

fn request(http: &reqwest::Client, base: &str, body: &'static [u8]) -> reqwest::RequestBuilder {
    http.request(
        Method::POST,
        format!(
            "{base}/stores/live/v3/catalog/products?include=variants&page%5Bsize%5D=5&x=%E2%9C%93"
        ),
    )
    .header("x-auth-token", "the-shop's-own-token")
    .header("content-type", "application/json")
    .header("accept", "application/json")
    .header("x-custom", "kept as is")
    .header("connection", "keep-alive, x-hop")
    .header("x-hop", "dropped")
    .body(body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pass_through_is_byte_exact_both_ways() {
    let shop = fake_shop(Duration::ZERO).await;
    let gw = TestGateway::start_with(with_upstream(
        "pt-exact",
        Platform::BigCommerce,
        shop.addr,
        Duration::from_secs(5),
    ))
    .await;
    let body: &'static [u8] =
        b"{\"name\":\"Mug\",\"price\":\"12.5000\",\"weird\":\"\\ud83d\\ude00 \xe2\x82\xac\"}";

    let direct = request(&gw.http, &format!("http://{}", shop.addr), body)
        .send()
        .await
        .unwrap();
    let through = request(&gw.http, &gw.url(""), body).send().await.unwrap();
    let (seen_direct, seen_through) = {
        let seen = shop.seen.lock().unwrap();
        assert_eq!(seen.len(), 2);
        (seen[0].clone(), seen[1].clone())
    };
    let through_headers: std::collections::HashMap<_, _> =
        seen_through.headers.iter().cloned().collect();
    assert_eq!(through_headers["x-forwarded-for"], b"127.0.0.1");
    assert_eq!(through_headers["x-forwarded-proto"], b"http");
    assert_eq!(
        through_headers["x-forwarded-host"],
        gw.addr.to_string().as_bytes()
    );
    let mut expected = comparable(seen_direct);
    // Hop-by-hop headers (and those `Connection` names) are not forwarded.
    expected
        .headers
        .retain(|(k, _)| k != "connection" && k != "x-hop");
    assert_eq!(comparable(seen_through), expected);

    // The request goes on with the id the gateway gave it, which its reply carries.
    assert_eq!(
        through_headers["x-request-id"],
        through.headers()["x-request-id"].as_bytes()
    );
    assert_eq!(through.status(), direct.status());
    let strip = |h: &reqwest::header::HeaderMap| {
        let mut v: Vec<(String, Vec<u8>)> = h
            .iter()
            .filter(|(k, _)| !["date", "x-request-id"].contains(&k.as_str()))
            .map(|(k, v)| (k.as_str().to_owned(), v.as_bytes().to_vec()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(strip(through.headers()), strip(direct.headers()));
    assert_eq!(
        through.bytes().await.unwrap(),
        direct.bytes().await.unwrap()
    );

    // A caller's own X-Request-Id goes on unchanged, even one too odd for the gateway's log (it logs its own).
    let odd = "not a usable id: it has spaces";
    let reply = request(&gw.http, &gw.url(""), body)
        .header("x-request-id", odd)
        .send()
        .await
        .unwrap();
    let seen = shop.seen.lock().unwrap().last().cloned().unwrap();
    let sent: Vec<&[u8]> = seen
        .headers
        .iter()
        .filter(|(k, _)| k == "x-request-id")
        .map(|(_, v)| v.as_slice())
        .collect();
    assert_eq!(sent, [odd.as_bytes()]);
    assert_ne!(reply.headers()["x-request-id"], odd);

    // A `Connection` header naming the headers the proxy itself sets takes none of them away.
    let reply = gw
        .http
        .get(gw.url("/stores/live/v3/catalog/products"))
        .header(
            "connection",
            "host, x-forwarded-for, x-forwarded-host, x-forwarded-proto",
        )
        .header("x-forwarded-for", "198.51.100.9")
        .send()
        .await
        .unwrap();
    assert!(reply.status().is_success(), "{}", reply.status());
    let seen = shop.seen.lock().unwrap().last().cloned().unwrap();
    let sent: std::collections::HashMap<_, _> = seen.headers.iter().cloned().collect();
    assert_eq!(sent["host"], shop.addr.to_string().as_bytes());
    // The caller's own chain was hop-by-hop as it asked: the shop sees the caller, as the proxy saw it.
    assert_eq!(sent["x-forwarded-for"], b"127.0.0.1");
    assert_eq!(sent["x-forwarded-host"], gw.addr.to_string().as_bytes());
    assert_eq!(sent["x-forwarded-proto"], b"http");

    // At the edge (the default), a caller's own X-Forwarded-For chain could name anyone: the shop gets the
    // caller's address alone.
    let sent = forwarded_with_chain(&gw, &shop).await;
    assert_eq!(sent["x-forwarded-for"], b"127.0.0.1");

    // A request target in absolute form names the host the caller asked for; its Host header is ignored
    // (RFC 9112 §3.2.2). The shop still gets its own Host, and the origin-form path.
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
        stream
            .write_all(b"GET http://shop.example:8443/stores/live/v3/catalog/products HTTP/1.1\r\nHost: other.example\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).await.unwrap();
        assert!(
            reply.starts_with(b"HTTP/1.1 2"),
            "{}",
            String::from_utf8_lossy(&reply)
        );
    }
    let seen = shop.seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(seen.target, "/stores/live/v3/catalog/products");
    let sent: std::collections::HashMap<_, _> = seen.headers.iter().cloned().collect();
    assert_eq!(sent["host"], shop.addr.to_string().as_bytes());
    assert_eq!(sent["x-forwarded-host"], b"shop.example:8443");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untranslated_paths_go_to_the_fallback_and_order_routes_of_the_same_dialect_pass_through() {
    let shop = fake_shop(Duration::ZERO).await;
    let gw = TestGateway::start_with(with_upstream(
        "pt-fallback",
        Platform::FluentCart,
        shop.addr,
        Duration::from_secs(5),
    ))
    .await;
    // A WordPress route ordermux knows nothing about.
    let r = gw
        .http
        .get(gw.url("/wp-json/wp/v2/posts?per_page=2"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    // FluentCart order routes go to the FluentCart shop, which authenticates them itself.
    let r = gw
        .http
        .get(gw.url("/wp-json/fluent-cart/v2/orders/42"))
        .header("authorization", "Basic c2hvcDpzZWNyZXQ=")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    // Other dialects still reach the embedded shop.
    expect(gw.bc(Method::GET, "/order_statuses"), 200).await;
    // A request too large for the gateway's own order routes streams through unlimited.
    let big = vec![b'x'; 3 << 20];
    let r = gw
        .http
        .post(gw.url("/wp-json/fluent-cart/v2/orders"))
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    // Traversal is refused before anything is forwarded.
    let r = gw
        .http
        .get(gw.url("/wp-json/fluent-cart/v2/..%2f..%2fwp-admin"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let seen = shop.seen.lock().unwrap().clone();
    let targets: Vec<&str> = seen.iter().map(|s| s.target.as_str()).collect();
    assert_eq!(
        targets,
        [
            "/wp-json/wp/v2/posts?per_page=2",
            "/wp-json/fluent-cart/v2/orders/42",
            "/wp-json/fluent-cart/v2/orders"
        ]
    );
    assert_eq!(
        seen[1]
            .headers
            .iter()
            .find(|(k, _)| k == "authorization")
            .unwrap()
            .1,
        b"Basic c2hvcDpzZWNyZXQ="
    );
    assert_eq!(seen[2].body.len(), 3 << 20);
    gw.stop().await;
}

/// The headers the shop got for a pass-through request whose caller sent an `X-Forwarded-For` chain of its own.
async fn forwarded_with_chain(
    gw: &TestGateway,
    shop: &FakeShop,
) -> std::collections::HashMap<String, Vec<u8>> {
    let reply = gw
        .http
        .get(gw.url("/stores/live/v3/catalog/products"))
        .header("x-forwarded-for", "198.51.100.9")
        .send()
        .await
        .unwrap();
    assert!(reply.status().is_success(), "{}", reply.status());
    let seen = shop.seen.lock().unwrap().last().cloned().unwrap();
    seen.headers.into_iter().collect()
}

/// Behind a proxy that sets the chain (`forwarded_for = "append"`), the caller's X-Forwarded-For is kept and the
/// caller's address added after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_for_can_append_to_the_chain_of_a_proxy_in_front() {
    let shop = fake_shop(Duration::ZERO).await;
    let mut config = with_upstream(
        "pt-append",
        Platform::BigCommerce,
        shop.addr,
        Duration::from_secs(5),
    );
    config.server.forwarded_for = ordermux::config::ForwardedFor::Append;
    let gw = TestGateway::start_with(config).await;
    let sent = forwarded_with_chain(&gw, &shop).await;
    assert_eq!(sent["x-forwarded-for"], b"198.51.100.9, 127.0.0.1");
    // A chain sent on two lines is one list: both kept, in order.
    let reply = gw
        .http
        .get(gw.url("/stores/live/v3/catalog/products"))
        .header("x-forwarded-for", "203.0.113.1")
        .header("x-forwarded-for", "198.51.100.9")
        .send()
        .await
        .unwrap();
    assert!(reply.status().is_success(), "{}", reply.status());
    let seen = shop.seen.lock().unwrap().last().cloned().unwrap();
    let lines: Vec<&[u8]> = seen
        .headers
        .iter()
        .filter(|(k, _)| k == "x-forwarded-for")
        .map(|(_, v)| v.as_slice())
        .collect();
    assert_eq!(lines, [b"203.0.113.1, 198.51.100.9, 127.0.0.1".as_slice()]);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_and_slow_upstreams_are_502_and_504_in_the_callers_dialect() {
    let closed = crate::fakes::RefusingPort::new();
    let gw = TestGateway::start_with(with_upstream(
        "pt-down",
        Platform::BigCommerce,
        closed.addr,
        Duration::from_secs(5),
    ))
    .await;
    let r = gw
        .http
        .get(gw.url("/stores/live/v2/orders"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v[0]["status"], 502);
    gw.stop().await;

    let slow = fake_shop(Duration::from_secs(3)).await;
    let gw = TestGateway::start_with(with_upstream(
        "pt-slow",
        Platform::CommerceLayer,
        slow.addr,
        Duration::from_millis(300),
    ))
    .await;
    let r = gw
        .http
        .get(gw.url("/api/orders"))
        .header("accept", JSONAPI)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 504);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["errors"][0]["status"], "504");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_a_request_in_flight_and_then_refuses_connections() {
    let slow = fake_shop(Duration::from_millis(800)).await;
    let gw = TestGateway::start_with(with_upstream(
        "pt-drain",
        Platform::BigCommerce,
        slow.addr,
        Duration::from_secs(5),
    ))
    .await;
    let addr = gw.addr;
    let request = gw.http.get(gw.url("/stores/live/v2/orders/1"));
    let in_flight = tokio::spawn(async move { request.send().await.map(|r| r.status().as_u16()) });
    // Wait (bounded) until the upstream has the request, then shut down while it is still being answered.
    for _ in 0..100 {
        if !slow.seen.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(slow.seen.lock().unwrap().len(), 1);
    let stopping = tokio::spawn(gw.stop());
    assert_eq!(
        in_flight.await.unwrap().unwrap(),
        201,
        "the request in flight is answered"
    );
    stopping.await.unwrap();
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no new connections after shutdown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_upstream_connection_is_reopened_and_a_base_path_is_kept() {
    // The shop closes each connection after its reply, so every request after the first on one caller
    // connection finds its upstream connection closed and needs a fresh one.
    let shop = fake_shop_with(Duration::ZERO, false).await;
    let mut config = with_upstream(
        "pt-reopen",
        Platform::BigCommerce,
        shop.addr,
        Duration::from_secs(5),
    );
    config.backends[0].base_url = format!("http://{}/shop-api", shop.addr);
    let gw = TestGateway::start_with(config).await;
    // One pooled client connection carries all requests.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .no_proxy()
        .build()
        .unwrap();
    for i in 0..4 {
        let reply = http
            .get(gw.url(&format!("/stores/live/v3/catalog/products?n={i}")))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 201, "request {i}");
        assert_eq!(&reply.bytes().await.unwrap()[..], REPLY_BODY);
    }
    let seen = shop.seen.lock().unwrap().clone();
    let targets: Vec<&str> = seen.iter().map(|s| s.target.as_str()).collect();
    assert_eq!(
        targets,
        (0..4)
            .map(|i| format!("/shop-api/stores/live/v3/catalog/products?n={i}"))
            .collect::<Vec<_>>(),
        "each request once, under the base URL's path"
    );
    let host: Vec<&[u8]> = seen[0]
        .headers
        .iter()
        .filter(|(k, _)| k == "host")
        .map(|(_, v)| v.as_slice())
        .collect();
    assert_eq!(
        host,
        [shop.addr.to_string().as_bytes()],
        "the shop's own Host"
    );
    gw.stop().await;
}
