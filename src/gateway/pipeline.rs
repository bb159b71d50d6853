//! The one path every request takes: request id → route (dialect, operation) → [pass-through to an upstream of the
//! caller's dialect, or of unrouted paths, ends here] → authenticate → rate limit → read the body within limits →
//! idempotency → the dialect's API in its own task under a deadline → render (errors in the caller's dialect) →
//! metrics and the request's log line.

use std::borrow::Cow;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures_util::FutureExt;
use http::header::{HeaderName, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use tracing::Instrument;

use super::idempotency;
use super::rate::Budget;
use super::Gateway;
use crate::api::{self, ApiContext, ApiRequest, ApiResponse, Operation, QueryParams};
use crate::backends::Routed;
use crate::canonical::{Platform, Problem, ProblemKind};
use crate::dialects::{self, Dialect};
use crate::store::{IdempotencyClaim, KeyHold, StoredResponse};

/// What the gateway's own replies are made of.
pub type Body = Full<Bytes>;

/// What goes on the wire: a gateway reply, or an upstream's body still streaming. An enum rather than a boxed
/// body: no allocation per reply, and no dynamic call per frame.
#[derive(Debug)]
pub enum OutBody {
    Gateway(Body),
    Upstream(Incoming),
}

impl hyper::body::Body for OutBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, hyper::Error>>> {
        // Both bodies are `Unpin`, so the enum is too.
        match self.get_mut() {
            OutBody::Gateway(b) => std::pin::Pin::new(b)
                .poll_frame(cx)
                .map(|f| f.map(|f| f.map_err(|never| match never {}))),
            OutBody::Upstream(b) => std::pin::Pin::new(b).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            OutBody::Gateway(b) => b.is_end_stream(),
            OutBody::Upstream(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        match self {
            OutBody::Gateway(b) => b.size_hint(),
            OutBody::Upstream(b) => b.size_hint(),
        }
    }
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Where a path leads. Borrows the path: deciding where a request goes allocates nothing, so a pass-through
/// request pays only for forwarding.
enum Target<'a> {
    Health,
    Ready,
    Metrics,
    /// A dialect's API: `skip` leading segments are its root; BigCommerce's second segment is the store hash.
    Api {
        dialect: Dialect,
        skip: usize,
        store_hash: Option<Cow<'a, str>>,
    },
}

fn bad_path() -> Problem {
    Problem::new(
        ProblemKind::InvalidParameter,
        "",
        "the request path is not acceptable",
    )
}

/// The path's segments, percent-decoded (borrowed unless a segment was encoded); traversal, encoded slashes and
/// control characters are errors.
fn decoded_segments(path: &str) -> impl Iterator<Item = Result<Cow<'_, str>, Problem>> {
    path.split('/').filter(|s| !s.is_empty()).map(|raw| {
        let seg = percent_encoding::percent_decode_str(raw)
            .decode_utf8()
            .map_err(|_| bad_path())?;
        if seg == "." || seg == ".." || seg.contains('/') || seg.chars().any(char::is_control) {
            return Err(bad_path());
        }
        Ok(seg)
    })
}

/// The decoded segments after the first `skip`.
fn api_segments(path: &str, skip: usize) -> Result<Vec<String>, Problem> {
    decoded_segments(path)
        .skip(skip)
        .map(|s| s.map(Cow::into_owned))
        .collect()
}

fn route(path: &str) -> Result<Option<Target<'_>>, Problem> {
    // Only the first three segments choose; every segment is checked.
    let mut head: [Option<Cow<'_, str>>; 3] = [None, None, None];
    for (at, seg) in decoded_segments(path).enumerate() {
        let seg = seg?;
        if let Some(slot) = head.get_mut(at) {
            *slot = Some(seg);
        }
    }
    let [a, b, c] = head;
    let (first, second, third) = (a.as_deref(), b.as_deref(), c.as_deref());
    Ok(Some(match (first, second, third) {
        (Some("healthz"), None, _) => Target::Health,
        (Some("readyz"), None, _) => Target::Ready,
        (Some("metrics"), None, _) => Target::Metrics,
        _ => match api_prefix(first, second, third) {
            Some((dialect, skip)) => Target::Api {
                dialect,
                skip,
                // BigCommerce's second segment is the store hash.
                store_hash: b.clone().filter(|_| dialect == Platform::BigCommerce),
            },
            None => return Ok(None),
        },
    }))
}

/// Which dialect's API the first three segments of a path name, and how many segments its prefix takes.
fn api_prefix(a: Option<&str>, b: Option<&str>, c: Option<&str>) -> Option<(Dialect, usize)> {
    match (a, b, c) {
        (Some("wp-json"), Some("fluent-cart"), Some("v2")) => Some((Platform::FluentCart, 3)),
        (Some("oauth"), Some("token"), None) => Some((Platform::CommerceLayer, 0)),
        (Some("api"), ..) => Some((Platform::CommerceLayer, 1)),
        (Some("stores"), Some(_), Some("v2")) => Some((Platform::BigCommerce, 3)),
        _ => None,
    }
}

/// The dialect whose API prefix `path` starts with, as written (not decoded): the shape of an answer given before
/// the path is routed, or to a path that does not route.
fn dialect_named(path: &str) -> Option<Dialect> {
    let mut segments = path.strip_prefix('/')?.split('/');
    let (a, b, c) = (segments.next(), segments.next(), segments.next());
    api_prefix(a, b, c).map(|(dialect, _)| dialect)
}

/// The path prefix a dialect's API answers under (base of the links its replies carry).
fn api_root(dialect: Dialect, skip: usize, store_hash: Option<&str>) -> String {
    match (dialect, skip) {
        (Platform::FluentCart, _) => "/wp-json/fluent-cart/v2".into(),
        (Platform::CommerceLayer, 0) => String::new(),
        (Platform::CommerceLayer, _) => "/api".into(),
        (Platform::BigCommerce, _) => format!("/stores/{}/v2", store_hash.unwrap_or_default()),
    }
}

/// The caller's `X-Request-Id` when it is a sane one; otherwise a new id. A request without one is given the new
/// one, so that what it is forwarded with (pass-through, or the translating backends' calls) names the request
/// the gateway's log line and reply name. A caller's own header is never changed, sane or not: pass-through
/// forwards what the caller sent.
fn request_id(req: &mut Request<Incoming>) -> HeaderValue {
    match req.headers().get(REQUEST_ID) {
        Some(id)
            if !id.is_empty()
                && id.len() <= 128
                && id.as_bytes().iter().all(u8::is_ascii_graphic) =>
        {
            id.clone()
        }
        Some(_) => {
            // Rare: kept beside the request (an allocation) for the calls it makes upstream.
            let id = new_request_id();
            req.extensions_mut().insert(GatewayRequestId(id.clone()));
            id
        }
        None => {
            let id = new_request_id();
            req.headers_mut().insert(REQUEST_ID, id.clone());
            id
        }
    }
}

/// The gateway's id for a request whose own `X-Request-Id` was not usable (see `request_id`).
#[derive(Clone)]
struct GatewayRequestId(HeaderValue);

/// A request id unique to this process run: a random per-process prefix and a counter, 32 hex digits. (A random
/// UUID per request cost a `getrandom` system call on every request; `format!` cost more than the rest of the
/// id.)
fn new_request_id() -> HeaderValue {
    use std::sync::atomic::AtomicU64;
    use std::sync::OnceLock;
    static PREFIX: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = *PREFIX.get_or_init(|| {
        let random = uuid::Uuid::new_v4().as_u64_pair();
        random.0 ^ random.1
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut hex = String::with_capacity(32);
    crate::hex::push_lower(&mut hex, &prefix.to_be_bytes());
    crate::hex::push_lower(&mut hex, &n.to_be_bytes());
    // Hex digits are always a valid header value; the string's buffer becomes the value's without a copy.
    HeaderValue::try_from(hex).unwrap_or_else(|_| HeaderValue::from_static("0"))
}

fn content_type(dialect: Dialect) -> &'static str {
    match dialect {
        Platform::CommerceLayer => "application/vnd.api+json",
        Platform::FluentCart | Platform::BigCommerce => "application/json; charset=utf-8",
    }
}

/// A reply ready to send, plus what metrics and the log line need.
struct Outcome {
    response: Response<OutBody>,
    operation: &'static str,
    /// The caller's dialect, `none` when the path names none.
    dialect: &'static str,
}

impl Outcome {
    fn new(response: Response<Body>, operation: &'static str) -> Self {
        Outcome {
            response: response.map(OutBody::Gateway),
            operation,
            dialect: "none",
        }
    }

    /// The same reply, ending the connection after it (`Connection: close`).
    fn closing(mut self) -> Self {
        self.response
            .headers_mut()
            .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
        self
    }

    fn in_dialect(self, dialect: Dialect) -> Self {
        Outcome {
            dialect: dialect.name(),
            ..self
        }
    }
}

fn plain(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn render_problem(dialect: Dialect, problem: &Problem) -> Response<Body> {
    let doc = dialects::encode_error(dialect, problem);
    let mut response = plain(doc.status, content_type(dialect), doc.body.to_string());
    if let Some(secs) = problem.retry_after {
        response
            .headers_mut()
            .insert(http::header::RETRY_AFTER, HeaderValue::from(secs));
    }
    if let Some(allow) = problem.allow.as_deref() {
        // RFC 9110 §15.5.6: a 405 names the methods the resource does answer.
        if let Ok(v) = HeaderValue::from_str(allow) {
            response.headers_mut().insert(http::header::ALLOW, v);
        }
    }
    response
}

fn render(gw: &Gateway, dialect: Dialect, reply: ApiResponse) -> Response<Body> {
    for loss in &reply.losses {
        gw.metrics.loss(dialect.name(), loss.kind.key());
    }
    let body = reply.body.map(|v| v.to_string()).unwrap_or_default();
    let mut r = if body.is_empty() {
        let mut r = Response::new(Full::new(Bytes::new()));
        *r.status_mut() = reply.status;
        r
    } else {
        plain(reply.status, content_type(dialect), body)
    };
    let headers = r.headers_mut();
    for (name, value) in reply.headers {
        headers.append(name, value);
    }
    if let Some(v) = losses_header(&reply.losses) {
        headers.insert(HeaderName::from_static("x-ordermux-losses"), v);
    }
    if !reply.left_out.is_empty() {
        // Ids in the caller's scheme (digits, or Commerce Layer's letters and digits): always a valid value.
        if let Ok(v) = HeaderValue::from_str(&reply.left_out.join(", ")) {
            headers.insert(HeaderName::from_static("x-ordermux-left-out"), v);
        }
    }
    r
}

/// The `X-Ordermux-Losses` value: a compact warning list of what a reply could not carry (full detail: `ordermux
/// translate`), each kind and place once (two wire fields can round into the same canonical amount), at most
/// 2 KiB. A byte a header cannot hold (a pointer through a member named in another script) is percent-encoded, as
/// is `%` itself, so no list is dropped for one character.
fn losses_header(losses: &[crate::dialects::Loss]) -> Option<HeaderValue> {
    if losses.is_empty() {
        return None;
    }
    let mut entries: Vec<String> = Vec::with_capacity(losses.len());
    for l in losses {
        let pointer = if l.pointer.is_empty() {
            "/"
        } else {
            &l.pointer
        };
        let entry = format!("{} {pointer}", l.kind.key());
        if !entries.contains(&entry) {
            entries.push(entry);
        }
    }
    let mut text = String::new();
    for b in entries.join(", ").bytes() {
        if b == b' ' || (b.is_ascii_graphic() && b != b'%') {
            text.push(char::from(b));
        } else {
            text.push_str(&format!("%{b:02X}"));
        }
    }
    let mut end = text.len().min(2048);
    // Not in the middle of an escape.
    if let Some(cut) = text[..end].rfind('%').filter(|&i| i + 3 > end) {
        end = cut;
    }
    text.truncate(end);
    HeaderValue::from_str(&text).ok()
}

fn rate_headers(response: &mut Response<Body>, budget: &Budget) {
    let h = response.headers_mut();
    let mut put = |name: &'static str, value: u128| {
        h.insert(
            HeaderName::from_static(name),
            HeaderValue::from(u64::try_from(value).unwrap_or(u64::MAX)),
        );
    };
    put("x-rate-limit-time-window-ms", budget.window.as_millis());
    put("x-rate-limit-time-reset-ms", budget.reset_in.as_millis());
    put("x-rate-limit-requests-quota", u128::from(budget.quota));
    put("x-rate-limit-requests-left", u128::from(budget.left));
}

/// Serves one request. Never fails and never panics: every failure becomes a reply in the caller's dialect.
pub async fn handle(
    gw: Arc<Gateway>,
    mut req: Request<Incoming>,
    conn: std::sync::Arc<Connection>,
) -> Result<Response<OutBody>, std::convert::Infallible> {
    let started = Instant::now();
    let id = request_id(&mut req);
    let span = tracing::info_span!(
        "request",
        request_id = id.to_str().unwrap_or_default(),
        method = %req.method(),
        dialect = tracing::field::Empty,
        operation = tracing::field::Empty,
        status = tracing::field::Empty,
        latency_ms = tracing::field::Empty,
    );
    let outcome = dispatch(&gw, req, &conn).instrument(span.clone()).await;
    let status = outcome.response.status().as_u16();
    let dialect = outcome.dialect;
    let elapsed = started.elapsed();
    // On the span itself, not `Span::current()`: no look-up, and nothing at all when INFO is off.
    span.record("dialect", dialect);
    span.record("operation", outcome.operation);
    span.record("status", status);
    span.record(
        "latency_ms",
        u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
    );
    tracing::info!(parent: &span, "request served");
    gw.metrics
        .request(&conn.metrics, dialect, outcome.operation, status, elapsed);
    let mut response = outcome.response;
    // An upstream's own request id (pass-through) is its reply's, and stays.
    if let http::header::Entry::Vacant(slot) = response.headers_mut().entry(REQUEST_ID) {
        slot.insert(id);
    }
    Ok(response)
}

/// Why the gateway will not serve a request head, whatever route it names: headers larger than `MAX_HEAD_BYTES`
/// together, an ambiguous header name, a missing or doubled `Host`, a transfer coding it cannot undo.
fn refuse_head<B>(req: &Request<B>) -> Option<Problem> {
    let refuse = |kind: ProblemKind, message: String| Some(Problem::new(kind, "", message));
    // One pass over the headers, as every request (pass-through included) takes it: names compared, not looked up.
    let (mut bytes, mut hosts, mut coded) = (0, 0, false);
    for (name, value) in req.headers() {
        if name.as_str().contains('_') {
            // Proxies disagree on whether `X_Foo` is `X-Foo`; refusing the ambiguity (as Envoy does) keeps a
            // header from meaning one thing here and another upstream.
            let message = format!("header name {:?} contains '_'", name.as_str());
            return refuse(ProblemKind::InvalidHeader, message);
        }
        // As written on the wire: name, ": ", value, CRLF.
        bytes += name.as_str().len() + value.len() + 4;
        if name == http::header::HOST {
            hosts += 1;
        } else if name == http::header::TRANSFER_ENCODING {
            coded = true;
        }
    }
    if bytes > super::server::MAX_HEAD_BYTES {
        // hyper's own limit is on its read buffer, which one read can overshoot (a 100 KB head got through
        // whole); this one is on the headers themselves.
        let limit = super::server::MAX_HEAD_BYTES;
        let message = format!("the request's headers are larger than {limit} bytes together");
        return refuse(ProblemKind::HeadersTooLarge, message);
    }
    if let Some(why) = host_problem(hosts, req.version()) {
        // RFC 9112 §3.2, as nginx and Envoy answer it: the request does not say which site it is for.
        return refuse(ProblemKind::InvalidHeader, why.to_owned());
    }
    if coded && !transfer_coding_is_chunked_alone(req.headers()) {
        // hyper takes the chunked framing off and passes any other coding's bytes on as they are: a body sent
        // gzip-coded would be read (or forwarded) as if it were not (RFC 9112 §6.1; nginx answers 501 too).
        let message = "the only transfer coding served is chunked".to_owned();
        return refuse(ProblemKind::NotImplemented, message);
    }
    None
}

/// The content codings of IANA's registry (RFC 9110 §16.6.1) other than `identity`: a body so coded is not the
/// JSON it claims to be until decoded.
const CONTENT_CODINGS: [&str; 12] = [
    "aes128gcm",
    "br",
    "compress",
    "dcb",
    "dcz",
    "deflate",
    "exi",
    "gzip",
    "pack200-gzip",
    "x-compress",
    "x-gzip",
    "zstd",
];

/// The request's `Content-Encoding` when it names a registered content coding (RFC 9110 §8.4). A value that names
/// none (some clients send `Content-Encoding: utf-8`) leaves the body as sent, as WordPress reads it.
fn content_coding(headers: &http::HeaderMap) -> Option<String> {
    let mut named = headers
        .get_all(http::header::CONTENT_ENCODING)
        .iter()
        .peekable();
    named.peek()?;
    let codings: Vec<String> = named
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .map(|c| String::from_utf8_lossy(c.trim_ascii()).to_ascii_lowercase())
        .filter(|c| CONTENT_CODINGS.contains(&c.as_str()))
        .collect();
    (!codings.is_empty()).then(|| codings.join(", "))
}

/// Whether the request's `Transfer-Encoding`, if it has one, is `chunked` and nothing else.
fn transfer_coding_is_chunked_alone(headers: &http::HeaderMap) -> bool {
    let mut codings = headers
        .get_all(http::header::TRANSFER_ENCODING)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .map(<[u8]>::trim_ascii);
    match (codings.next(), codings.next()) {
        (None, _) => true,
        (Some(only), None) => only.eq_ignore_ascii_case(b"chunked"),
        _ => false,
    }
}

/// A request refused before routing, in the caller's dialect when its path names one. The connection is closed
/// when its framing cannot be trusted, or a body is left unread (as for the API's early answers).
fn render_refusal(
    dialect: Option<Dialect>,
    problem: &Problem,
    body_unread: bool,
) -> Response<Body> {
    let mut response = match dialect {
        Some(dialect) => render_problem(dialect, problem),
        None => {
            // The status every dialect's table gives the problem.
            let status = dialects::encode_error(Platform::BigCommerce, problem).status;
            let body = serde_json::json!({"status": status.as_u16(), "message": problem.reason});
            plain(status, "application/json", body.to_string())
        }
    };
    if body_unread
        || matches!(
            problem.kind,
            ProblemKind::HeadersTooLarge | ProblemKind::NotImplemented
        )
    {
        response
            .headers_mut()
            .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Why a request with `hosts` Host headers does not do: an HTTP/1.1 request must carry exactly one, and no
/// request may carry two.
fn host_problem(hosts: usize, version: http::Version) -> Option<&'static str> {
    match hosts {
        0 if version == http::Version::HTTP_11 => {
            Some("an HTTP/1.1 request must carry a Host header")
        }
        0 | 1 => None,
        _ => Some("the request carries more than one Host header"),
    }
}

/// What the requests of one downstream connection share.
pub struct Connection {
    /// Its own connections to pass-through upstreams, and its peer's address as they forward it.
    pub links: crate::backends::Links,
    /// The peer's address, counted for failed authentications (`lockout`).
    peer: std::net::IpAddr,
    metrics: super::metrics::LastRequestMetrics,
    /// The serving thread's timer, for the deadline on reading a request's body.
    timer: crate::coarse_timer::CoarseTimer,
}

impl Connection {
    pub fn new(
        peer: std::net::SocketAddr,
        timer: crate::coarse_timer::CoarseTimer,
        forwarded_for: crate::config::ForwardedFor,
    ) -> Self {
        Connection {
            links: crate::backends::Links::new(peer.ip(), timer.clone(), forwarded_for),
            peer: peer.ip(),
            metrics: super::metrics::LastRequestMetrics::default(),
            timer,
        }
    }
}

async fn dispatch(gw: &Arc<Gateway>, req: Request<Incoming>, conn: &Connection) -> Outcome {
    let body_unread = !hyper::body::Body::is_end_stream(req.body());
    if let Some(problem) = refuse_head(&req) {
        let dialect = dialect_named(req.uri().path());
        return Outcome::new(render_refusal(dialect, &problem, body_unread), "rejected");
    }
    // The URI is shared bytes: this clone lets the routing decision borrow the path while `req` moves on.
    let uri = req.uri().clone();
    let target = match route(uri.path()) {
        Ok(Some(t)) => t,
        Ok(None) => {
            if let Some(upstream) = gw.upstreams.fallback() {
                return pass_through(upstream, req, conn, None).await;
            }
            return Outcome::new(
                plain(
                    StatusCode::NOT_FOUND,
                    "application/json",
                    r#"{"status":404,"message":"No ordermux route matches this path."}"#,
                ),
                "unrouted",
            );
        }
        Err(p) => {
            let refusal = render_refusal(dialect_named(uri.path()), &p, body_unread);
            return Outcome::new(refusal, "unrouted");
        }
    };
    match target {
        Target::Health => Outcome::new(
            plain(StatusCode::OK, "application/json", r#"{"status":"ok"}"#),
            "healthz",
        ),
        Target::Ready => {
            // Boxed like the API path: the store's future would otherwise grow every request's.
            let ready = gw.ready.load(Ordering::Relaxed)
                && Box::pin(gw.api.shop.store.ping()).await.is_ok();
            let (status, body) = if ready {
                (StatusCode::OK, r#"{"status":"ready"}"#)
            } else {
                (StatusCode::SERVICE_UNAVAILABLE, r#"{"status":"not ready"}"#)
            };
            Outcome::new(plain(status, "application/json", body), "readyz")
        }
        Target::Metrics => Outcome::new(
            plain(
                StatusCode::OK,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                gw.metrics.render(),
            ),
            "metrics",
        ),
        Target::Api {
            dialect,
            skip,
            store_hash,
        } => {
            let ctx = match gw.upstreams.route(dialect, store_hash.as_deref()) {
                // The shop speaks the caller's dialect: the request goes through untouched, and the shop
                // authenticates it.
                Routed::PassThrough(upstream) => {
                    return pass_through(upstream, req, conn, Some(dialect))
                        .await
                        .in_dialect(dialect)
                }
                Routed::Embedded => &gw.api,
                Routed::Translate(backend) => match gw.translated.get(backend) {
                    Some(ctx) => ctx,
                    None => {
                        return Outcome::new(render_problem(dialect, &internal()), "unrouted")
                            .in_dialect(dialect)
                    }
                },
            };
            let target = match api_segments(uri.path(), skip) {
                Ok(segments) => ApiTarget {
                    dialect,
                    root: api_root(dialect, skip, store_hash.as_deref()),
                    segments,
                    store_hash: store_hash.map(Cow::into_owned),
                },
                Err(p) => {
                    return Outcome::new(render_problem(dialect, &p), "unrouted")
                        .in_dialect(dialect)
                }
            };
            // Boxed: the API path's state is large, and keeping it out of line keeps every request's future
            // (moved into hyper's connection state) small for pass-through.
            Box::pin(api_request(gw, ctx, req, target, conn))
                .await
                .in_dialect(dialect)
        }
    }
}

/// Counts wrong credentials from `peer` towards its lockout (the shop's own refusals, on pass-through, are the
/// shop's to count).
fn failed_authentication(gw: &Gateway, peer: std::net::IpAddr) {
    if gw.lockout.failed(peer, Instant::now()) {
        tracing::warn!(network = %super::lockout::logged_as(peer), limit = gw.config().server.auth_failure_limit, "address locked out after failed authentications");
    }
}

/// Which dialect API a request is for, from its path.
struct ApiTarget {
    dialect: Dialect,
    root: String,
    segments: Vec<String>,
    store_hash: Option<String>,
}

/// Serves a request on a dialect's API with `ctx`'s shop (the embedded one, or an upstream's).
async fn api_request(
    gw: &Arc<Gateway>,
    ctx: &ApiContext,
    mut req: Request<Incoming>,
    target: ApiTarget,
    conn: &Connection,
) -> Outcome {
    let started = std::time::Instant::now();
    let ApiTarget {
        dialect,
        root,
        segments,
        store_hash,
    } = target;
    // An answer given before the request's body is read ends the connection: the unread rest cannot be
    // skipped reliably (hyper closes the connection when it cannot drain it). Saying so in the answer keeps the
    // client from sending its next request on a connection the server is about to close.
    let body_unread = !hyper::body::Body::is_end_stream(req.body());
    let early = |out: Outcome| if body_unread { out.closing() } else { out };
    let query = QueryParams::parse(req.uri().query());
    if let Some(method) = api::method_override(dialect, req.headers(), &query) {
        *req.method_mut() = method;
    }
    // HEAD is GET without the reply's body (RFC 9110 §9.3.2): served as GET, and hyper, knowing the request was
    // HEAD, leaves the body out.
    if req.method() == http::Method::HEAD {
        *req.method_mut() = http::Method::GET;
    }
    // An address locked out for failed authentications gets 429 whatever it sends: its credentials are not even
    // looked at, so a right guess cannot be told apart.
    if let Some(wait) = gw.lockout.locked(conn.peer, Instant::now()) {
        let secs = wait.as_secs().max(1);
        let locked = Problem::new(
            ProblemKind::TooManyRequests,
            "",
            format!("too many failed authentications from this address; retry after {secs} s"),
        )
        .with_retry_after(secs);
        return early(Outcome::new(render_problem(dialect, &locked), "locked_out"));
    }
    let operation = match api::operation(dialect, req.method(), &segments) {
        Ok(op) => op,
        Err(p) => return early(Outcome::new(render_problem(dialect, &p), "unrouted")),
    };
    let fail = |p: &Problem| Outcome::new(render_problem(dialect, p), operation.name);
    let now = chrono::Utc::now();
    let (mut parts, body) = req.into_parts();
    hide_credentials(&mut parts.headers);

    let public = api::is_public(dialect, &segments);
    let client = if public {
        None
    } else {
        match super::auth::authenticate(
            dialect,
            &gw.api.config,
            &gw.api.tokens,
            &parts.headers,
            store_hash.as_deref(),
            now,
        ) {
            Ok(c) => Some(c),
            Err(p) => {
                // An expired token was no guess: many clients behind one address may see theirs expire together.
                if p.kind != ProblemKind::TokenExpired {
                    failed_authentication(gw, conn.peer);
                }
                return early(fail(&p));
            }
        }
    };
    let budget = client
        .as_ref()
        .map(|c| gw.rate.check(&c.id, Instant::now()));
    if let Some(b) = budget.filter(|b| !b.allowed) {
        let secs = b.reset_in.as_secs().max(1);
        let spent = Problem::new(
            ProblemKind::TooManyRequests,
            "",
            "rate limit exceeded; retry after the window resets",
        )
        .with_retry_after(secs);
        let mut response = render_problem(dialect, &spent);
        // BigCommerce's own name for the wait, which its clients read.
        response.headers_mut().insert(
            HeaderName::from_static("x-retry-after"),
            HeaderValue::from(secs),
        );
        if dialect == Platform::BigCommerce {
            rate_headers(&mut response, &b);
        }
        return early(Outcome::new(response, operation.name));
    }

    if let Some(coding) = content_coding(&parts.headers).filter(|_| body_unread) {
        // The codecs read JSON as sent: a compressed body would be refused as malformed, or worse, read.
        let refused = Problem::new(
            ProblemKind::UnsupportedMediaType,
            "",
            format!(
                "request bodies are read as sent, without a content coding; this one is {coding:?}"
            ),
        );
        let mut response = render_problem(dialect, &refused);
        response.headers_mut().insert(
            http::header::ACCEPT_ENCODING,
            HeaderValue::from_static("identity"),
        );
        return early(Outcome::new(response, operation.name));
    }
    // The request's deadline covers its body too: a client trickling one in cannot hold the request open.
    let deadline = gw.config().server.request_timeout;
    let read = read_body(&parts.headers, body, gw.config().server.max_body_bytes);
    let body = match conn.timer.timeout(deadline, read).await {
        Ok(Ok(b)) => b,
        // Too large, or broken off: the rest of the body is not read either.
        Ok(Err(p)) => return fail(&p).closing(),
        Err(_) => {
            let late = Problem::new(
                ProblemKind::RequestTimeout,
                "",
                format!(
                    "the request body did not arrive within {} ms; nothing was done",
                    deadline.as_millis()
                ),
            );
            return fail(&late).closing();
        }
    };

    // A request target in absolute form names the host; its Host header is ignored (RFC 9112 §3.2.2).
    let scheme_host = parts
        .uri
        .authority()
        .map(http::uri::Authority::as_str)
        .or_else(|| {
            parts
                .headers
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
        })
        .map_or_else(
            || format!("http://{}", gw.config().server.listen),
            |h| format!("http://{h}"),
        );
    let path = parts.uri.path().to_owned();
    // The request's span and id go with its task: its log lines name the request, and so do its upstream calls.
    let id = match parts.extensions.get::<GatewayRequestId>() {
        Some(GatewayRequestId(id)) => id.clone(),
        None => parts
            .headers
            .get(REQUEST_ID)
            .cloned()
            .unwrap_or_else(new_request_id),
    };
    let request = ApiRequest {
        method: parts.method,
        segments,
        query,
        headers: parts.headers,
        body,
        client: client.unwrap_or_else(|| {
            std::sync::Arc::new(crate::config::Client {
                id: String::new(),
                secret: crate::config::Secret::new(uuid::Uuid::new_v4().as_bytes()),
                bigcommerce_store_hash: String::new(),
            })
        }),
        base_url: format!("{scheme_host}{root}"),
        now,
        resumed_order: None,
        taken_over: false,
    };

    // What the body's reading left of the deadline.
    let left = deadline.saturating_sub(started.elapsed());
    // The work runs in its own task: a timed-out create still finishes and records its response for a retry
    // with the same Idempotency-Key, instead of being cut off half-way. (Made inside the call: a named future
    // would keep a slot in this function's own state, which hyper's connection holds for every request.)
    let task = tokio::spawn(
        crate::backends::transport::with_request_id(
            id,
            execute(gw.clone(), ctx.clone(), dialect, operation, path, request),
        )
        .in_current_span(),
    );
    let mut response = match tokio::time::timeout(left, task).await {
        Ok(Ok(response)) => response,
        Ok(Err(join_error)) => {
            tracing::error!(error = %join_error, "request task failed");
            render_problem(dialect, &internal())
        }
        Err(_) => {
            let mut r = render_problem(
                dialect,
                &Problem::new(
                    ProblemKind::Unavailable,
                    "",
                    format!("the request did not finish within {}s; retry with the same Idempotency-Key to get its result", deadline.as_secs()),
                ),
            );
            r.headers_mut()
                .insert(http::header::RETRY_AFTER, HeaderValue::from(1u32));
            r
        }
    };
    if let (Platform::BigCommerce, Some(b)) = (dialect, budget) {
        rate_headers(&mut response, &b);
    }
    // A public route refusing credentials is the token endpoint refusing a client's secret.
    if public && response.status() == StatusCode::UNAUTHORIZED {
        failed_authentication(gw, conn.peer);
    }
    Outcome::new(response, operation.name)
}

/// Marks credential headers sensitive: `Debug` of the header map then prints `Sensitive` instead of the value, so
/// no log line that shows request headers can carry a secret.
fn hide_credentials(headers: &mut http::HeaderMap) {
    for name in [
        http::header::AUTHORIZATION,
        HeaderName::from_static("x-auth-token"),
        http::header::COOKIE,
    ] {
        if let http::header::Entry::Occupied(mut entry) = headers.entry(name) {
            for value in entry.iter_mut() {
                value.set_sensitive(true);
            }
        }
    }
}

/// Streams the request to `upstream` and its reply back. A failure before the reply head is answered by the
/// gateway: 502 when the upstream could not be reached or broke off, 504 when it did not answer in time — in the
/// caller's dialect when the path says which one.
async fn pass_through(
    upstream: &crate::backends::Upstream,
    req: Request<Incoming>,
    conn: &Connection,
    dialect: Option<Dialect>,
) -> Outcome {
    use crate::backends::ForwardError;
    match upstream.forward(req, &conn.links).await {
        Ok(reply) => Outcome {
            response: reply.map(OutBody::Upstream),
            operation: "pass_through",
            dialect: "none",
        },
        Err(e) => {
            tracing::warn!(upstream = %upstream.name, error = %e, "pass-through failed");
            // The detail (addresses, OS errors) goes to the log; the caller learns what happened, not where.
            let (kind, status, reason) = match e {
                ForwardError::Timeout(..) => (
                    ProblemKind::GatewayTimeout,
                    StatusCode::GATEWAY_TIMEOUT,
                    "the upstream shop did not answer in time",
                ),
                _ => (
                    ProblemKind::BadGateway,
                    StatusCode::BAD_GATEWAY,
                    "the upstream shop could not be reached or broke off",
                ),
            };
            let response = match dialect {
                Some(d) => render_problem(d, &Problem::new(kind, "", reason)),
                None => plain(
                    status,
                    "application/json",
                    serde_json::json!({"status": status.as_u16(), "message": reason}).to_string(),
                ),
            };
            Outcome::new(response, "pass_through")
        }
    }
}

fn internal() -> Problem {
    Problem::new(
        ProblemKind::Internal,
        "",
        "internal error; the request was not applied",
    )
}

async fn read_body(
    headers: &http::HeaderMap,
    body: Incoming,
    limit: usize,
) -> Result<Bytes, Problem> {
    let too_large = || {
        Problem::new(
            ProblemKind::BodyTooLarge,
            "",
            format!("the request body is larger than {limit} bytes"),
        )
    };
    if let Some(len) = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if len > limit as u64 {
            return Err(too_large());
        }
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(too_large())
        }
        Err(_) => Err(Problem::new(
            ProblemKind::MalformedJson,
            "",
            "the request body could not be read completely",
        )),
    }
}

/// Runs the operation, with `Idempotency-Key` handling for creates. Panics in the API code become a 500.
async fn execute(
    gw: Arc<Gateway>,
    ctx: ApiContext,
    dialect: Dialect,
    operation: Operation,
    path: String,
    request: ApiRequest,
) -> Response<Body> {
    let key = if operation.keyed {
        match idempotency::key(&request.headers) {
            Ok(k) => k,
            Err(p) => return render_problem(dialect, &p),
        }
    } else {
        None
    };
    let Some(key) = key else {
        return run(&gw, &ctx, dialect, &request).await;
    };
    let store = &gw.api.shop.store;
    let fingerprint = idempotency::fingerprint(&request.method, &path, &request.body);
    let claim = store
        .idempotency_begin(
            &request.client.id,
            &key,
            &fingerprint,
            request.now,
            gw.config().idempotency_retention,
        )
        .await;
    match claim {
        Err(e) => {
            // Fail closed: without its claim a create could run twice. Nothing was attempted, so the caller may
            // retry (the reliability plan's F11).
            tracing::error!(error = %e, "idempotency store failure");
            render_problem(
                dialect,
                &Problem::new(
                    ProblemKind::Unavailable,
                    "",
                    "the Idempotency-Key could not be recorded, so the create was not attempted; retry later",
                )
                .with_retry_after(1),
            )
        }
        Ok(IdempotencyClaim::InFlight) => {
            let mut r = render_problem(
                dialect,
                &Problem::new(
                    ProblemKind::IdempotencyInFlight,
                    "",
                    "a request with this Idempotency-Key is still being processed",
                ),
            );
            r.headers_mut()
                .insert(http::header::RETRY_AFTER, HeaderValue::from(1u32));
            r
        }
        Ok(IdempotencyClaim::Mismatch) => render_problem(
            dialect,
            &Problem::new(
                ProblemKind::IdempotencyKeyReused,
                "",
                "this Idempotency-Key was already used with a different request",
            ),
        ),
        Ok(IdempotencyClaim::Replay(stored)) => {
            gw.metrics.replay(dialect.name());
            let mut r = Response::new(Full::new(Bytes::from(stored.body)));
            *r.status_mut() = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
            for (name, value) in stored.headers {
                if let (Ok(n), Ok(v)) = (
                    HeaderName::from_bytes(name.as_bytes()),
                    HeaderValue::from_str(&value),
                ) {
                    r.headers_mut().append(n, v);
                }
            }
            r.headers_mut().insert(
                HeaderName::from_static("idempotent-replayed"),
                HeaderValue::from_static("true"),
            );
            r
        }
        Ok(IdempotencyClaim::Claimed(hold)) => {
            run_claimed(&gw, &ctx, dialect, &request, hold, operation).await
        }
        Ok(IdempotencyClaim::Interrupted { wrote, hold }) => {
            tracing::info!(
                operation = operation.name,
                wrote = wrote.is_some(),
                "taking over an Idempotency-Key left in flight by a stopped process"
            );
            match wrote {
                // Nothing reached the store: run again (an upstream create reconciles through its journal).
                None => {
                    gw.metrics.takeover(dialect.name(), "rerun");
                    let request = ApiRequest {
                        taken_over: true,
                        ..request
                    };
                    run_claimed(&gw, &ctx, dialect, &request, hold, operation).await
                }
                Some(order) if operation.resumable => {
                    gw.metrics.takeover(dialect.name(), "resumed");
                    let request = ApiRequest {
                        taken_over: true,
                        resumed_order: Some(order),
                        ..request
                    };
                    run_claimed(&gw, &ctx, dialect, &request, hold, operation).await
                }
                Some(_) => {
                    gw.metrics.takeover(dialect.name(), "interrupted");
                    let response = render_problem(
                        dialect,
                        &Problem::new(
                            ProblemKind::IdempotencyInterrupted,
                            "",
                            "an earlier request with this Idempotency-Key was interrupted after it took effect, and its reply was lost; read the resource to see the result",
                        ),
                    );
                    // Kept whatever the record says was written (an upstream action's mark frees an error
                    // answer otherwise): the outcome stays unknown to every retry.
                    keep_answer(store, hold, response, Release::Never).await
                }
            }
        }
    }
}

/// Runs a request holding its Idempotency-Key, its store writes marked as the key's (`store::under_claim`), and
/// keeps its answer.
async fn run_claimed(
    gw: &Gateway,
    ctx: &ApiContext,
    dialect: Dialect,
    request: &ApiRequest,
    hold: KeyHold,
    operation: Operation,
) -> Response<Body> {
    let response =
        crate::store::under_claim(hold.claim().clone(), run(gw, ctx, dialect, request)).await;
    keep_answer(
        &gw.api.shop.store,
        hold,
        response,
        Release::ErrorsOf(operation),
    )
    .await
}

/// Whether an error answer frees its key (see `keep_answer`).
#[derive(Debug, Clone, Copy)]
enum Release {
    /// Per the operation's rule.
    ErrorsOf(Operation),
    /// The answer is kept whatever it is.
    Never,
}

/// Keeps `response` as the answer to the held key. An error answer frees the key instead, for a corrected retry (a 4xx
/// was refused before anything changed, Stripe's rule; a 5xx, such as an upstream that failed or did not answer,
/// is no answer to keep: the retry runs again, and an upstream create reconciles through its journal first) —
/// unless the request wrote to the store, which the store knows and then keeps the error instead. An operation
/// without such a journal (a refund, a payment, a trigger, a line item) keeps a 502 or 504 too: the shop may have
/// acted before its reply went wrong, so a retry under the key must not act again (Stripe keeps every 5xx); the
/// caller reads the order to learn what happened.
async fn keep_answer(
    store: &crate::store::Store,
    hold: KeyHold,
    response: Response<Body>,
    release: Release,
) -> Response<Body> {
    let status = response.status();
    let stored = StoredResponse {
        status: status.as_u16(),
        headers: response
            .headers()
            .iter()
            .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect(),
        body: response
            .body()
            .clone()
            .collect()
            .await
            .map(|c| c.to_bytes().to_vec())
            .unwrap_or_default(),
    };
    // Not awaited: the answer goes out without waiting for this commit (see `queue_idempotency_answer`).
    let outcome_unknown = matches!(
        status,
        StatusCode::BAD_GATEWAY | StatusCode::GATEWAY_TIMEOUT
    );
    let release = match release {
        Release::ErrorsOf(operation) => {
            (status.is_client_error() || status.is_server_error())
                && (operation.reconciles || !outcome_unknown)
        }
        Release::Never => false,
    };
    if let Err(e) = store.queue_idempotency_answer(hold, stored, release) {
        tracing::error!(error = %e, "idempotency record not saved");
    }
    response
}

async fn run(
    gw: &Gateway,
    ctx: &ApiContext,
    dialect: Dialect,
    request: &ApiRequest,
) -> Response<Body> {
    let call = std::panic::AssertUnwindSafe(api::handle(ctx, dialect, request)).catch_unwind();
    match call.await {
        Ok(Ok(reply)) => render(gw, dialect, reply),
        Ok(Err(problem)) => render_problem(dialect, &problem),
        Err(_) => {
            tracing::error!("panic in request handler");
            render_problem(dialect, &internal())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_losses_header_names_each_kind_and_place_once_whatever_the_script() {
        use crate::dialects::{Loss, LossKind};
        let loss = |pointer: &str, kind| Loss {
            pointer: pointer.into(),
            kind,
            reason: "r".into(),
        };
        let v = losses_header(&[
            loss("/status", LossKind::StatusCollapsed),
            loss("/status", LossKind::StatusCollapsed),
            loss("/metadata/größe", LossKind::Unrepresentable),
            loss("", LossKind::Precision),
            loss("/a%b", LossKind::Precision),
        ])
        .expect("a header");
        assert_eq!(
            v.to_str().unwrap(),
            "status_collapsed /status, unrepresentable /metadata/gr%C3%B6%C3%9Fe, precision /, precision /a%25b"
        );
        assert!(losses_header(&[]).is_none());
        // A long list is cut at 2 KiB, never inside an escape.
        let many: Vec<Loss> = (0..400)
            .map(|i| loss(&format!("/ü{i}"), LossKind::Unrepresentable))
            .collect();
        let v = losses_header(&many).unwrap();
        let text = v.to_str().unwrap();
        assert!(text.len() <= 2048);
        let tail = &text[text.len().saturating_sub(2)..];
        assert!(!tail.contains('%'), "{tail}");
    }

    #[test]
    fn request_ids_made_here_are_32_lowercase_hex_digits_and_distinct() {
        let texts: Vec<String> = (0..300)
            .map(|_| new_request_id().to_str().unwrap().to_owned())
            .collect();
        for t in &texts {
            assert_eq!(t.len(), 32, "{t}");
            assert!(
                t.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
                "{t}"
            );
        }
        let distinct: std::collections::BTreeSet<&String> = texts.iter().collect();
        assert_eq!(distinct.len(), texts.len());
    }

    #[test]
    fn credential_headers_never_show_in_debug() {
        let mut h = http::HeaderMap::new();
        h.insert(
            http::header::AUTHORIZATION,
            HeaderValue::from_static("Basic ZGVtbzpkZW1vLXNlY3JldA=="),
        );
        h.insert("x-auth-token", HeaderValue::from_static("demo-secret"));
        hide_credentials(&mut h);
        let shown = format!("{h:?}");
        assert!(
            !shown.contains("demo-secret") && !shown.contains("ZGVtbz"),
            "{shown}"
        );
    }

    #[test]
    fn paths_route_to_dialects_and_traversal_is_refused() {
        let path = "/stores/d%65mo/v2/orders/100";
        let t = route(path).unwrap().unwrap();
        assert!(
            matches!(t, Target::Api { dialect: Platform::BigCommerce, skip: 3, ref store_hash } if store_hash.as_deref() == Some("demo"))
        );
        assert_eq!(api_segments(path, 3).unwrap(), ["orders", "100"]);
        assert_eq!(
            api_root(Platform::BigCommerce, 3, Some("demo")),
            "/stores/demo/v2"
        );
        assert!(matches!(
            route("/oauth/token").unwrap(),
            Some(Target::Api {
                dialect: Platform::CommerceLayer,
                ..
            })
        ));
        assert!(matches!(
            route("/wp-json/fluent-cart/v2/orders").unwrap(),
            Some(Target::Api {
                dialect: Platform::FluentCart,
                ..
            })
        ));
        assert!(route("/nowhere").unwrap().is_none());
        assert!(route("/wp-json/fluent-cart/v2/orders/..%2f..%2fwp-admin").is_err());
        assert!(route("/api/orders/%00").is_err());
    }
}
