//! The floor under `bench/proxy.sh`'s translated create: what a FluentCart `POST /orders` sent on to a BigCommerce
//! shop costs when it does only what "durable and exactly-once" needs, and nothing of ordermux's design around it
//! (no canonical model, no SQLite, no id map across schemes, no metrics, no configuration).
//!
//! Per create: Basic auth compared in constant time; the body decoded; the Idempotency-Key checked against an
//! in-memory index (a replay of a finished key answers its stored reply, a key in flight 409, another body 422,
//! by a SHA-256 fingerprint); the products priced from an in-memory catalogue; the BigCommerce body encoded with
//! the key's stamp in `external_order_id`; a journal record appended to a log and synced (`fdatasync`) before the
//! send; the `POST` through reqwest; the new id read from the reply; a confirmation record, mapping the upstream
//! id to a FluentCart id from a counter, synced before the reply; the answer appended without waiting.
//!
//! One writer thread owns the log (group commit: every record waiting goes into one write and one sync; after a
//! commit of many records it waits up to `--gather-us` for more, so under load one sync carries most of the
//! callers). What it leaves out, because it is a floor and not a gateway: recovery (the log is never read back),
//! compaction, the customer (a fixed address), and every error shape but one.
//!
//!   ordermux-floor --listen 127.0.0.1:8081 --upstream http://127.0.0.1:8082 --journal /tmp/floor.log
//!                  [--gather-us 1000] [--volatile]
//! `--volatile` skips the log (no record, no sync): the same request without durability.
use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// ordermux's own hex writer (a `format!` per byte costs more than the rest of a stamp).
#[path = "../../../src/hex.rs"]
mod hex;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `bench/proxy.sh`'s client: `bench` / `bench-secret-not-demo`.
const EXPECTED_AUTHORIZATION: &[u8] = b"Basic YmVuY2g6YmVuY2gtc2VjcmV0LW5vdC1kZW1v";
const STUB_TOKEN: &str = "stub-token";
/// After a commit of this many records or more, the writer waits for more (up to `--gather-us`, up to
/// `GATHER_BELOW` records); after a smaller one it commits what it has.
const GATHER_FROM: usize = 16;
const GATHER_BELOW: usize = 96;

#[derive(Deserialize)]
struct FluentCartCreate {
    customer_id: u64,
    currency: Option<String>,
    order_items: Vec<FluentCartItem>,
}

#[derive(Deserialize)]
struct FluentCartItem {
    object_id: u64,
    quantity: u32,
}

#[derive(Serialize)]
struct BigCommerceAddress<'a> {
    first_name: &'a str,
    last_name: &'a str,
    street_1: &'a str,
    city: &'a str,
    state: &'a str,
    zip: &'a str,
    country: &'a str,
    country_iso2: &'a str,
    email: &'a str,
}

#[derive(Serialize)]
struct BigCommerceProduct<'a> {
    name: &'a str,
    sku: &'a str,
    quantity: u32,
    price_inc_tax: String,
    price_ex_tax: String,
}

#[derive(Serialize)]
struct BigCommerceCreate<'a> {
    customer_id: u64,
    status_id: u32,
    billing_address: BigCommerceAddress<'a>,
    products: Vec<BigCommerceProduct<'a>>,
    external_order_id: &'a str,
    external_source: &'a str,
    currency_code: &'a str,
}

#[derive(Deserialize)]
struct CreatedId {
    id: u64,
}

struct Product {
    name: &'static str,
    sku: &'static str,
    cents: i64,
}

enum KeyState {
    InFlight,
    Done([u8; 32], Bytes),
}

enum Record {
    Synced(Vec<u8>, tokio::sync::oneshot::Sender<()>),
    Queued(Vec<u8>),
}

struct Floor {
    products: HashMap<u64, Product>,
    keys: Mutex<HashMap<String, KeyState>>,
    /// None: `--volatile`.
    log: Option<tokio::sync::mpsc::UnboundedSender<Record>>,
    upstream: reqwest::Client,
    create_url: reqwest::Url,
    next_id: AtomicU64,
}

fn write_log(
    mut file: std::fs::File,
    gather: Duration,
    mut records: tokio::sync::mpsc::UnboundedReceiver<Record>,
) {
    let mut buffer = Vec::with_capacity(1 << 16);
    let mut waiting = Vec::new();
    let mut last = 0;
    while let Some(first) = records.blocking_recv() {
        let mut take = |r: Record| match r {
            Record::Synced(bytes, done) => {
                buffer.extend_from_slice(&bytes);
                waiting.push(done);
            }
            Record::Queued(bytes) => buffer.extend_from_slice(&bytes),
        };
        take(first);
        let mut count = 1;
        let closes = (last >= GATHER_FROM).then(|| Instant::now() + gather);
        loop {
            match records.try_recv() {
                Ok(r) => {
                    take(r);
                    count += 1;
                }
                Err(_) => match closes {
                    Some(closes) if count < GATHER_BELOW && Instant::now() < closes => {
                        std::thread::sleep(Duration::from_micros(100));
                    }
                    _ => break,
                },
            }
        }
        last = count;
        if let Err(e) = file.write_all(&buffer).and_then(|()| file.sync_data()) {
            // A floor has no way to recover a log it cannot write: stop, so the run shows the failure.
            eprintln!("journal: {e}");
            std::process::exit(1);
        }
        buffer.clear();
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
    }
}

impl Floor {
    async fn synced(&self, record: Vec<u8>) {
        if let Some(log) = &self.log {
            let (done, synced) = tokio::sync::oneshot::channel();
            let _ = log.send(Record::Synced(record, done));
            let _ = synced.await;
        }
    }

    fn queued(&self, record: Vec<u8>) {
        if let Some(log) = &self.log {
            let _ = log.send(Record::Queued(record));
        }
    }

    fn forget(&self, key: &str) {
        self.keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

fn reply(status: u16, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::BAD_GATEWAY);
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

fn error(status: u16, code: &'static str) -> Response<Full<Bytes>> {
    reply(
        status,
        Bytes::from(format!(
            "{{\"success\":false,\"error\":{{\"code\":\"{code}\",\"message\":\"{code}\"}}}}"
        )),
    )
}

fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn create(floor: &Floor, request: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    if request.method() == hyper::Method::GET {
        // bench/proxy.sh's readiness probe.
        return reply(200, Bytes::from_static(b"{}"));
    }
    let authorized = request
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .is_some_and(|v| same(v.as_bytes(), EXPECTED_AUTHORIZATION));
    if !authorized {
        return error(401, "unauthorized");
    }
    let Some(key) = request
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
    else {
        return error(400, "idempotency_key_required");
    };
    let Ok(body) = request.into_body().collect().await.map(|b| b.to_bytes()) else {
        return error(400, "unreadable_body");
    };
    let fingerprint: [u8; 32] = Sha256::digest(&body).into();
    let Ok(order) = serde_json::from_slice::<FluentCartCreate>(&body) else {
        return error(422, "invalid_body");
    };
    {
        let mut keys = floor.keys.lock().unwrap_or_else(|p| p.into_inner());
        match keys.get(&key) {
            Some(KeyState::InFlight) => return error(409, "key_in_flight"),
            Some(KeyState::Done(seen, _)) if *seen != fingerprint => {
                return error(422, "key_reused")
            }
            Some(KeyState::Done(_, answer)) => return reply(201, answer.clone()),
            None => {
                keys.insert(key.clone(), KeyState::InFlight);
            }
        }
    }
    let mut products = Vec::with_capacity(order.order_items.len());
    for item in &order.order_items {
        let Some(p) = floor.products.get(&item.object_id) else {
            floor.forget(&key);
            return error(422, "unknown_product");
        };
        let price = format!("{}.{:02}", p.cents / 100, p.cents % 100);
        products.push(BigCommerceProduct {
            name: p.name,
            sku: p.sku,
            quantity: item.quantity,
            price_inc_tax: price.clone(),
            price_ex_tax: price,
        });
    }
    let mut stamp = String::with_capacity(35);
    stamp.push_str("om-");
    hex::push_lower(&mut stamp, &Sha256::digest(key.as_bytes())[..16]);
    let send = BigCommerceCreate {
        customer_id: order.customer_id,
        status_id: 1,
        billing_address: BigCommerceAddress {
            first_name: "Ada",
            last_name: "Lovelace",
            street_1: "1 Main St",
            city: "Austin",
            state: "Texas",
            zip: "78701",
            country: "United States",
            country_iso2: "US",
            email: "ada@example.com",
        },
        products,
        external_order_id: &stamp,
        external_source: "ordermux",
        currency_code: order.currency.as_deref().unwrap_or("USD"),
    };
    let Ok(send) = serde_json::to_vec(&send) else {
        floor.forget(&key);
        return error(500, "encode");
    };
    let mut record = Vec::with_capacity(128);
    let _ = writeln!(record, "begin {key} {stamp}");
    floor.synced(record).await;
    let sent = floor
        .upstream
        .post(floor.create_url.clone())
        .header("x-auth-token", STUB_TOKEN)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header(hyper::header::ACCEPT, "application/json")
        .body(send)
        .send()
        .await;
    // A failed send leaves its key in flight: a gateway would reconcile by the stamp before any resend.
    let upstream_id = match sent {
        Ok(r) if r.status().is_success() => match r
            .bytes()
            .await
            .map(|b| serde_json::from_slice::<CreatedId>(&b))
        {
            Ok(Ok(created)) => created.id,
            _ => return error(502, "upstream_reply"),
        },
        _ => return error(502, "upstream"),
    };
    let ours = floor.next_id.fetch_add(1, Ordering::Relaxed);
    let mut record = Vec::with_capacity(64);
    let _ = writeln!(record, "confirm {key} {upstream_id} {ours}");
    floor.synced(record).await;
    let answer = Bytes::from(format!(
        "{{\"message\":\"Order created successfully!\",\"order_id\":{ours},\"uuid\":\"{stamp}\"}}"
    ));
    let mut record = Vec::with_capacity(answer.len() + 64);
    let _ = write!(record, "answer {key} 201 ");
    record.extend_from_slice(&answer);
    record.push(b'\n');
    floor.queued(record);
    floor
        .keys
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(key, KeyState::Done(fingerprint, answer.clone()));
    reply(201, answer)
}

fn main() {
    let mut listen = None;
    let mut upstream = None;
    let mut journal = None;
    let mut gather = Duration::from_micros(1000);
    let mut volatile = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => listen = args.next(),
            "--upstream" => upstream = args.next(),
            "--journal" => journal = args.next(),
            "--gather-us" => {
                gather =
                    Duration::from_micros(args.next().and_then(|v| v.parse().ok()).unwrap_or(0))
            }
            "--volatile" => volatile = true,
            other => {
                eprintln!("unknown argument {other}");
                std::process::exit(2);
            }
        }
    }
    let (Some(listen), Some(upstream), Some(journal)) = (listen, upstream, journal) else {
        eprintln!("usage: ordermux-floor --listen ADDR --upstream URL --journal FILE [--gather-us N] [--volatile]");
        std::process::exit(2);
    };
    let log = (!volatile).then(|| {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&journal)
            .unwrap_or_else(|e| panic!("journal {journal}: {e}"));
        let (records, received) = tokio::sync::mpsc::unbounded_channel();
        std::thread::Builder::new()
            .name("floor-log".into())
            .spawn(move || write_log(file, gather, received))
            .expect("log thread");
        records
    });
    let products = HashMap::from([
        (
            1001,
            Product {
                name: "Widget",
                sku: "W-1001",
                cents: 1999,
            },
        ),
        (
            1002,
            Product {
                name: "Gadget",
                sku: "G-1002",
                cents: 500,
            },
        ),
    ]);
    let floor = Arc::new(Floor {
        products,
        keys: Mutex::default(),
        log,
        upstream: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("reqwest client"),
        create_url: reqwest::Url::parse(&format!("{upstream}/stores/stub/v2/orders"))
            .expect("upstream URL"),
        next_id: AtomicU64::new(1),
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .expect("listen");
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                continue;
            };
            let _ = socket.set_nodelay(true);
            let floor = floor.clone();
            tokio::task::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let floor = floor.clone();
                    async move { Ok::<_, std::convert::Infallible>(create(&floor, request).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(socket), service)
                    .await;
            });
        }
    });
}
