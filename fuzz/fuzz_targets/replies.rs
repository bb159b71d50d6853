//! Any bytes, as what an upstream shop answers: a gateway in the fuzzer's process translates each dialect's order
//! routes to a shop of another platform (FluentCart callers to BigCommerce, Commerce Layer callers to FluentCart,
//! BigCommerce callers to Commerce Layer), and that shop is a loopback server answering every call with the
//! input's status, headers and body (but Commerce Layer's token requests, answered with a token, so that its calls
//! go on). Every adapter's reply reading and error mapping, the pacing from rate-limit headers, the reconciliation
//! after a reply that is not an answer, in the real request path. The gateway must never panic and never answer
//! 500, and it answers every request.
//!
//! Input: a selector byte (the request: see `REQUESTS`), a status byte (see `STATUSES`), the reply's header lines up
//! to the first empty line, then its body.
#![no_main]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use ordermux::canonical::Platform;
use ordermux::config::{Backend, Credential, Credentials, Route, RouteMode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[path = "gateway_harness.rs"]
mod gateway_harness;
use gateway_harness::{exchange, status_of};

const STATUSES: [u16; 16] = [
    200, 201, 204, 400, 401, 403, 404, 409, 422, 429, 500, 502, 503, 504, 301, 302,
];

/// (method, path, body): each dialect's creates, reads, lists and an update or action.
const REQUESTS: [(&str, &str, &[u8]); 12] = [
    (
        "POST",
        "/wp-json/fluent-cart/v2/orders",
        include_bytes!("../../fixtures/fluentcart/request/ok/0004_jpy_single_digital_line_guest.json"),
    ),
    ("GET", "/wp-json/fluent-cart/v2/orders/1", b""),
    ("GET", "/wp-json/fluent-cart/v2/orders?per_page=5&page=2", b""),
    (
        "POST",
        "/wp-json/fluent-cart/v2/orders/1/refund",
        br#"{"refund_info":{"transaction_id":1,"amount":"1.00"}}"#,
    ),
    (
        "POST",
        "/api/orders",
        include_bytes!("../../fixtures/commercelayer/request/ok/0004_jpy_single_line.json"),
    ),
    ("GET", "/api/orders?page[size]=5&filter[q][status_eq]=placed", b""),
    ("GET", "/api/orders/AbCdEfGhIj?include=line_items", b""),
    (
        "PATCH",
        "/api/orders/AbCdEfGhIj",
        br#"{"data":{"type":"orders","id":"AbCdEfGhIj","attributes":{"_cancel":true}}}"#,
    ),
    (
        "POST",
        "/stores/demo/v2/orders",
        include_bytes!("../../fixtures/bigcommerce/request/ok/0009_jpy_default_currency_guest_single_line.json"),
    ),
    ("GET", "/stores/demo/v2/orders/100", b""),
    ("GET", "/stores/demo/v2/orders?limit=5&status_id=11", b""),
    ("PUT", "/stores/demo/v2/orders/100", br#"{"status_id":5}"#),
];

struct Harness {
    gateway: SocketAddr,
    /// What the shop answers next: head lines after the status line, and the body.
    reply: Arc<Mutex<(u16, Vec<u8>, Vec<u8>)>>,
    cl_token: String,
}

fn backend(name: &str, platform: Platform, shop: SocketAddr) -> Backend {
    let mut b = Backend::upstream(name, platform, format!("http://{shop}"));
    b.allow_private_addresses = true;
    // Short: a 429's or a rate-limit header's wait longer than the total is answered at once, so an input cannot
    // hold the next ones up for long (the shop answers at once otherwise).
    b.timeout = Duration::from_secs(1);
    b.total_timeout = Duration::from_millis(1_500);
    b.connect_timeout = Duration::from_secs(1);
    // Every reply is the input's: a breaker opened by the last inputs would hide the next ones' paths.
    b.breaker_failures = u32::MAX;
    b.settle = Duration::ZERO;
    b.credentials = Credentials {
        token: Some(Credential::new("shop-token")),
        client_id: Some(Credential::new("shop-client")),
        client_secret: Some(Credential::new("shop-secret")),
        username: Some(Credential::new("shop-user")),
        password: Some(Credential::new("shop-password")),
    };
    b.store_hash = Some("up".to_owned());
    b.markets = [("USD", "mkt_usd"), ("EUR", "mkt_eur"), ("JPY", "mkt_jpy")]
        .into_iter()
        .map(|(c, m)| (c.to_owned(), m.to_owned()))
        .collect();
    b
}

/// The shop: answers every request on every connection with the current reply, and closes the connection.
async fn shop(listener: tokio::net::TcpListener, reply: Arc<Mutex<(u16, Vec<u8>, Vec<u8>)>>) {
    loop {
        let Ok((mut conn, _)) = listener.accept().await else {
            continue;
        };
        let reply = reply.clone();
        tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut buf = [0u8; 8192];
            // The head, then as much body as it announces (bounded: the gateway's bodies are small).
            let head_end = loop {
                match conn.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => seen.extend_from_slice(&buf[..n]),
                }
                if let Some(i) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                    break i + 4;
                }
                if seen.len() > 1 << 20 {
                    return;
                }
            };
            let head = String::from_utf8_lossy(&seen[..head_end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0)
                .min(1 << 20);
            while seen.len() < head_end + length {
                match conn.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => seen.extend_from_slice(&buf[..n]),
                }
            }
            let (status, headers, body) = if head.starts_with("post /oauth/token") {
                (
                    200,
                    b"Content-Type: application/json\r\n".to_vec(),
                    br#"{"access_token":"shop-access","token_type":"bearer","expires_in":7200,"scope":"market:all","created_at":1767225600}"#.to_vec(),
                )
            } else {
                reply.lock().expect("not poisoned").clone()
            };
            let mut out = format!("HTTP/1.1 {status} Fuzz\r\n").into_bytes();
            out.extend_from_slice(&headers);
            out.extend_from_slice(
                format!(
                    "Content-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                )
                .as_bytes(),
            );
            out.extend_from_slice(&body);
            let _ = conn.write_all(&out).await;
            let _ = conn.shutdown().await;
        });
    }
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let reply = Arc::new(Mutex::new((200, Vec::new(), Vec::new())));
        // The shop, on a runtime thread of its own.
        let (tx, rx) = std::sync::mpsc::channel();
        let shop_reply = reply.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("binds loopback");
                tx.send(listener.local_addr().expect("bound"))
                    .expect("the fuzzer waits");
                shop(listener, shop_reply).await;
            });
        });
        let shop_addr = rx.recv().expect("the shop started");
        let mut config = gateway_harness::shipped_config("replies");
        for (name, platform, dialect, store_hash) in [
            (
                "to-bigcommerce",
                Platform::BigCommerce,
                Platform::FluentCart,
                None,
            ),
            (
                "to-fluentcart",
                Platform::FluentCart,
                Platform::CommerceLayer,
                None,
            ),
            (
                "to-commercelayer",
                Platform::CommerceLayer,
                Platform::BigCommerce,
                Some("demo".to_owned()),
            ),
        ] {
            config.backends.push(backend(name, platform, shop_addr));
            config.routes.push(Route {
                dialect,
                store_hash,
                backend: name.to_owned(),
                mode: RouteMode::Translate,
            });
        }
        let gateway = gateway_harness::serve(config);
        Harness {
            gateway,
            reply,
            cl_token: gateway_harness::cl_token(gateway),
        }
    })
}

/// One request of the target's own, on a connection of its own.
fn request(method: &str, path: &str, auth: &str, body: &[u8]) -> Vec<u8> {
    let media = if path.starts_with("/api/") {
        "application/vnd.api+json"
    } else {
        "application/json"
    };
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: fuzz\r\n{auth}Content-Type: {media}\r\nAccept: {media}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    request
}

/// The input's header lines: printable ASCII with a name, but none that frames the reply (the shop frames it).
fn header_lines(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in raw.split(|&b| b == b'\n') {
        let line: Vec<u8> = line
            .iter()
            .copied()
            .filter(|b| (b' '..=b'~').contains(b))
            .collect();
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = String::from_utf8_lossy(&line[..colon]).to_ascii_lowercase();
        if name.is_empty()
            || name.contains(' ')
            || matches!(
                name.as_str(),
                "content-length" | "transfer-encoding" | "connection"
            )
        {
            continue;
        }
        out.extend_from_slice(&line);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fuzz_target!(|input: &[u8]| {
    let h = harness();
    let [selector, status, rest @ ..] = input else {
        return;
    };
    let (head, body) = match rest.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&rest[..i], &rest[i + 2..]),
        None => (&[][..], rest),
    };
    *h.reply.lock().expect("not poisoned") = (
        STATUSES[usize::from(*status) % STATUSES.len()],
        header_lines(head),
        body.to_vec(),
    );
    let (method, path, request_body) = REQUESTS[usize::from(*selector) % REQUESTS.len()];
    let auth = if path.starts_with("/wp-json/") {
        "Authorization: Basic ZGVtbzpkZW1vLXNlY3JldA==\r\n".to_owned()
    } else if path.starts_with("/api/") {
        format!("Authorization: Bearer {}\r\n", h.cl_token)
    } else {
        "X-Auth-Token: demo-secret\r\nX-Auth-Client: demo\r\n".to_owned()
    };
    let reply = exchange(h.gateway, &request(method, path, &auth, request_body))
        .expect("the gateway answers in time");
    let status = status_of(&reply)
        .unwrap_or_else(|| panic!("no answer: {:?}", String::from_utf8_lossy(&reply)));
    assert_ne!(status, 500, "{}", String::from_utf8_lossy(&reply));
});
