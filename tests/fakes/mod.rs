//! Stateful in-process fakes of the three platforms' order APIs, for testing the upstream adapters. Each binds
//! 127.0.0.1 on an ephemeral port. This module is the shared server and the fault switches; each platform module
//! implements `FakePlatform` (its routes, state, error shapes, pagination and rate-limit headers).
//!
//! Faults are queued per fake and consumed in order by matching requests, so a test says exactly which call
//! fails and how: before the platform sees it (the request had no effect) or after (it took effect, the reply
//! was lost).

pub mod bigcommerce;
pub mod commercelayer;
pub mod fluentcart;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// A loopback address nothing listens on, for as long as this lives: a connection to it is refused. The port stays
/// bound (never listening), so a listener of a test running alongside cannot be given it, as it could a port bound
/// and released at once (which then made a "refused" upstream answer or hang instead).
pub struct RefusingPort {
    _socket: tokio::net::TcpSocket,
    pub addr: SocketAddr,
}

impl RefusingPort {
    pub fn new() -> RefusingPort {
        let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
        socket
            .bind("127.0.0.1:0".parse().expect("an address"))
            .expect("binds a loopback port");
        let addr = socket.local_addr().expect("bound");
        RefusingPort {
            _socket: socket,
            addr,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// A request as a fake platform sees it.
#[derive(Debug, Clone)]
pub struct FakeRequest {
    pub method: String,
    /// Percent-encoded path, as sent.
    pub path: String,
    /// Decoded query pairs in order.
    pub query: Vec<(String, String)>,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl FakeRequest {
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// Path segments after `prefix` (`None` if the path does not start with it).
    pub fn segments_after(&self, prefix: &str) -> Option<Vec<String>> {
        let rest = self.path.strip_prefix(prefix)?;
        Some(
            rest.split('/')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        )
    }
}

/// A reply from a fake platform.
#[derive(Debug, Clone)]
pub struct FakeResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl FakeResponse {
    pub fn json(status: u16, body: &serde_json::Value) -> Self {
        FakeResponse {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        }
    }

    pub fn empty(status: u16) -> Self {
        FakeResponse {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }
}

/// One platform's behaviour. `handle` runs under the fake's lock: it may mutate state freely.
pub trait FakePlatform: Send + 'static {
    fn handle(&mut self, req: &FakeRequest) -> FakeResponse;

    /// The platform's error document for a fault-injected failure of `status` (5xx, 429).
    fn error_body(&self, status: u16, message: &str) -> serde_json::Value;
}

/// What goes wrong with a matching request.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer `status` (5xx) with the platform's error body; the platform never sees the request.
    Status(u16),
    /// Answer 429 with `Retry-After`/`X-Retry-After` seconds and BigCommerce's `X-Rate-Limit-*` headers; not seen.
    RateLimited { retry_after_secs: u64 },
    /// Wait before handling (the request takes effect after the delay, if the client is still there).
    Delay(Duration),
    /// Handle the request (it takes effect), then wait before replying: a timeout after success.
    DelayAfter(Duration),
    /// Handle the request after a delay whether or not the client is still there, as a server finishes what it
    /// received: the order appears late, after a client that gave up may already have retried.
    Late(Duration),
    /// Close the connection without any reply; the platform never sees the request.
    ResetBefore,
    /// Handle the request (it takes effect), then close the connection without a reply.
    ResetAfter,
    /// Handle the request, then send the head and half the body and close.
    ResetMidBody,
    /// Reply 200 with a body that is not JSON; the platform never sees the request.
    MalformedJson,
    /// Reply 502 with an HTML page (a load balancer's error page); not seen.
    Html,
    /// Reply `status` with `body` as JSON, whatever its shape; not seen.
    Reply { status: u16, body: Vec<u8> },
}

impl Fault {
    /// One of the faults a shop shows without refusing the request, at random: a 5xx or 429 (not acted on), resets
    /// before, after and in the middle of the reply, a reply that is not JSON or is an HTML page, and a reply or an
    /// effect `late` (past the caller's per-try timeout).
    pub fn random_failure(rng: &mut crate::support::Rng, late: Duration) -> Fault {
        Fault::failure(rng.below(10), late)
    }

    /// The failure `random_failure` draws as `kind` (0–9).
    pub fn failure(kind: u64, late: Duration) -> Fault {
        match kind {
            0 => Fault::Status(500),
            1 => Fault::Status(503),
            2 => Fault::RateLimited {
                retry_after_secs: 1,
            },
            3 => Fault::ResetBefore,
            4 => Fault::ResetAfter,
            5 => Fault::ResetMidBody,
            6 => Fault::MalformedJson,
            7 => Fault::Html,
            // The request takes effect, the answer comes too late.
            8 => Fault::DelayAfter(late),
            // It takes effect after the caller gave up waiting.
            _ => Fault::Late(late),
        }
    }
}

/// A fault with the requests it applies to.
#[derive(Debug, Clone)]
pub struct FaultRule {
    /// Method to match (`None`: any).
    pub method: Option<String>,
    /// Path substring to match (`None`: any).
    pub path_contains: Option<String>,
    pub fault: Fault,
    /// How many matching requests it applies to.
    pub times: u32,
}

/// A request the fake received, kept for assertions.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub status: u16,
    /// The request's `X-Request-Id`, if it had one.
    pub request_id: Option<String>,
}

struct Shared<P> {
    platform: Mutex<P>,
    faults: Mutex<VecDeque<FaultRule>>,
    seen: Mutex<Vec<Seen>>,
}

/// A running fake. Dropping it stops accepting connections.
pub struct Fake<P: FakePlatform> {
    pub addr: SocketAddr,
    shared: Arc<Shared<P>>,
    task: tokio::task::JoinHandle<()>,
}

impl<P: FakePlatform> Drop for Fake<P> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl<P: FakePlatform> Fake<P> {
    pub async fn start(platform: P) -> Fake<P> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            platform: Mutex::new(platform),
            faults: Mutex::new(VecDeque::new()),
            seen: Mutex::new(Vec::new()),
        });
        let s = shared.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let s = s.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let s = s.clone();
                        async move { serve_one(s, req).await }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Fake { addr, shared, task }
    }

    /// `http://127.0.0.1:port`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Queues a fault for the next `times` requests matching `method` and a path containing `path_contains`.
    pub fn fail(
        &self,
        method: Option<&str>,
        path_contains: Option<&str>,
        fault: Fault,
        times: u32,
    ) {
        self.shared.faults.lock().unwrap().push_back(FaultRule {
            method: method.map(str::to_owned),
            path_contains: path_contains.map(str::to_owned),
            fault,
            times,
        });
    }

    /// Drops every queued fault rule.
    pub fn clear_faults(&self) {
        self.shared.faults.lock().unwrap().clear();
    }

    /// How many queued fault rules are still waiting for a matching request (a rule is taken when its last
    /// request arrives, before any delay it adds).
    pub fn faults_left(&self) -> usize {
        self.shared.faults.lock().unwrap().len()
    }

    /// Runs `f` on the platform's state (to seed it or to check it directly).
    pub fn with<R>(&self, f: impl FnOnce(&mut P) -> R) -> R {
        f(&mut self.shared.platform.lock().unwrap())
    }

    /// Every request received so far (fault-injected ones included).
    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }

    /// How many received requests were answered 429, of how many.
    pub fn throttled(&self) -> (usize, usize) {
        let seen = self.seen();
        let throttled = seen.iter().filter(|s| s.status == 429).count();
        (throttled, seen.len())
    }

    /// How many received requests had this method and a path containing `path_contains`.
    pub fn count(&self, method: &str, path_contains: &str) -> usize {
        self.seen()
            .iter()
            .filter(|s| s.method == method && s.path.contains(path_contains))
            .count()
    }
}

fn take_fault<P>(shared: &Shared<P>, req: &FakeRequest) -> Option<Fault> {
    let mut faults = shared.faults.lock().unwrap();
    let i = faults.iter().position(|r| {
        r.method.as_deref().is_none_or(|m| m == req.method)
            && r.path_contains
                .as_deref()
                .is_none_or(|p| req.path.contains(p))
    })?;
    let rule = &mut faults[i];
    let fault = rule.fault.clone();
    rule.times -= 1;
    if rule.times == 0 {
        faults.remove(i);
    }
    Some(fault)
}

type Body = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

fn to_hyper(r: FakeResponse) -> Response<Body> {
    let mut builder = Response::builder().status(r.status);
    for (k, v) in &r.headers {
        builder = builder.header(k, v);
    }
    builder
        .body(
            Full::new(Bytes::from(r.body))
                .map_err(|e| match e {})
                .boxed(),
        )
        .unwrap()
}

/// A body that yields `first` and then fails, so the connection is cut mid-body.
fn broken_body(first: Bytes) -> Body {
    let stream = futures_util::stream::iter(vec![
        Ok(hyper::body::Frame::data(first)),
        Err(std::io::Error::other("reset by fault injection")),
    ]);
    http_body_util::StreamBody::new(stream).boxed()
}

/// `Err` makes hyper close the connection without a reply.
async fn serve_one<P: FakePlatform>(
    shared: Arc<Shared<P>>,
    req: Request<Incoming>,
) -> Result<Response<Body>, std::io::Error> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let query = parts
        .uri
        .query()
        .map(|q| {
            form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default();
    let request = FakeRequest {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query,
        headers: parts.headers,
        body,
    };
    let fault = take_fault(&shared, &request);
    let record = |status: u16| {
        shared.seen.lock().unwrap().push(Seen {
            method: request.method.clone(),
            path: request.path.clone(),
            status,
            request_id: request.header("x-request-id").map(str::to_owned),
        });
    };
    let handle = || shared.platform.lock().unwrap().handle(&request);
    let error = |status: u16, message: &str| {
        let body = shared.platform.lock().unwrap().error_body(status, message);
        FakeResponse::json(status, &body)
    };
    let response = match fault {
        None => handle(),
        Some(Fault::Status(code)) => error(code, "injected failure"),
        Some(Fault::RateLimited { retry_after_secs }) => error(429, "Too many requests")
            .with_header("retry-after", retry_after_secs.to_string())
            .with_header("x-retry-after", retry_after_secs.to_string())
            .with_header("x-rate-limit-requests-left", "0")
            .with_header(
                "x-rate-limit-time-reset-ms",
                (retry_after_secs * 1000).to_string(),
            ),
        Some(Fault::Delay(d)) => {
            tokio::time::sleep(d).await;
            handle()
        }
        Some(Fault::DelayAfter(d)) => {
            let r = handle();
            tokio::time::sleep(d).await;
            r
        }
        Some(Fault::Late(d)) => {
            // Its own task: hyper drops this future when the client goes, the task goes on.
            let (s, request) = (shared.clone(), request.clone());
            tokio::spawn(async move {
                tokio::time::sleep(d).await;
                s.platform.lock().unwrap().handle(&request)
            })
            .await
            .map_err(std::io::Error::other)?
        }
        Some(Fault::ResetBefore) => {
            record(0);
            return Err(std::io::Error::other(
                "reset before handling (fault injection)",
            ));
        }
        Some(Fault::ResetAfter) => {
            let r = handle();
            record(r.status);
            return Err(std::io::Error::other(
                "reset after handling (fault injection)",
            ));
        }
        Some(Fault::ResetMidBody) => {
            let r = handle();
            record(r.status);
            let half = Bytes::from(r.body[..r.body.len() / 2].to_vec());
            let mut builder = Response::builder().status(r.status);
            for (k, v) in &r.headers {
                builder = builder.header(k, v);
            }
            return Ok(builder
                .header("content-length", r.body.len().to_string())
                .body(broken_body(half))
                .unwrap());
        }
        Some(Fault::MalformedJson) => FakeResponse {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: b"{\"data\": [1, 2,".to_vec(),
        },
        Some(Fault::Html) => FakeResponse {
            status: 502,
            headers: vec![("content-type".into(), "text/html".into())],
            body: b"<html><body><h1>502 Bad Gateway</h1></body></html>".to_vec(),
        },
        Some(Fault::Reply { status, body }) => FakeResponse {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body,
        },
    };
    record(response.status);
    Ok(to_hyper(response))
}
