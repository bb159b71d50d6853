//! Talking to one upstream shop over HTTP for the translating adapters: timeouts per try and per operation, no
//! redirects, a cap on reply size, pacing from the shop's rate-limit headers, a circuit breaker, and retries only
//! where a retry cannot create a second anything.

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use http::{HeaderMap, Method, StatusCode};
use serde_json::Value;

use crate::canonical::{Problem, ProblemKind};
use crate::config::Backend;

const X_REQUEST_ID: http::HeaderName = http::HeaderName::from_static("x-request-id");

tokio::task_local! {
    static REQUEST_ID: http::HeaderValue;
}

/// Runs `work`, which serves the gateway request `id`, so that every upstream call it makes carries `id` as
/// `X-Request-Id`: the shop's logs then name the request the gateway's do. A task-local because the calls sit
/// below the shop and adapter interfaces, which know nothing of HTTP requests.
pub async fn with_request_id<F: std::future::Future>(id: http::HeaderValue, work: F) -> F::Output {
    REQUEST_ID.scope(id, work).await
}

/// How a call may be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Reads and idempotent writes (GET, PUT of full values, DELETE): resent after any transport failure.
    Safe,
    /// Creates and triggers: resent only when the upstream provably never processed it (connection refused, 429).
    /// Any other failure is returned, and the caller reconciles before deciding anything.
    OnlyIfUnsent,
}

/// One request to the upstream, relative to the backend's base URL.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: Method,
    /// Path and query after the base URL, starting with `/`.
    pub path: String,
    /// Headers beyond `Accept`/`Content-Type` (authentication, mostly; values marked sensitive).
    pub headers: HeaderMap,
    /// The JSON body, serialised once (a retry sends the same bytes).
    pub body: Option<bytes::Bytes>,
    pub retry: Retry,
    /// Media type for the body and `Accept` (JSON:API for Commerce Layer).
    pub media_type: &'static str,
}

impl Call {
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        let retry = if method == Method::POST || method == Method::PATCH {
            Retry::OnlyIfUnsent
        } else {
            Retry::Safe
        };
        Call {
            method,
            path: path.into(),
            headers: HeaderMap::new(),
            body: None,
            retry,
            media_type: "application/json",
        }
    }

    pub fn get(path: impl Into<String>) -> Self {
        Call::new(Method::GET, path)
    }

    pub fn json(mut self, body: Value) -> Self {
        // Writing a `Value` to a byte vector cannot fail (its keys are strings).
        self.body = serde_json::to_vec(&body).ok().map(bytes::Bytes::from);
        self
    }

    pub fn retry(mut self, retry: Retry) -> Self {
        self.retry = retry;
        self
    }

    pub fn media_type(mut self, media_type: &'static str) -> Self {
        self.media_type = media_type;
        self
    }

    pub fn header(mut self, name: http::HeaderName, value: &str) -> Self {
        if let Ok(mut v) = http::HeaderValue::from_str(value) {
            v.set_sensitive(true);
            self.headers.insert(name, v);
        }
        self
    }
}

/// A successful (2xx) reply: its headers and its JSON body, as a `Value` (`Null` when empty) or as the type a
/// caller of `send_as` asks for.
#[derive(Debug, Clone)]
pub struct Reply<B = Value> {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: B,
}

/// Why a call did not produce a 2xx reply.
#[derive(Debug, Clone, thiserror::Error)]
pub enum UpstreamError {
    /// The upstream answered 4xx (not 429): the request was wrong for it. `message` is the upstream's own
    /// explanation, taken from its error document by the adapter's reader, never the raw body.
    #[error("upstream refused the request with {status}: {message}")]
    Rejected {
        status: StatusCode,
        message: String,
        /// JSON pointer into the *upstream's* document, when it named one (for the log, not the caller).
        detail: Option<String>,
    },
    /// The upstream failed (5xx).
    #[error("upstream failed with {0}")]
    ServerError(StatusCode),
    /// Could not connect: the request never reached the upstream.
    #[error("upstream unreachable: {0}")]
    Unreachable(String),
    /// No reply within the time allowed; the upstream may or may not have acted.
    #[error("upstream timed out")]
    Timeout,
    /// The connection failed after the request was (perhaps) sent; the upstream may or may not have acted.
    #[error("upstream connection failed: {0}")]
    Interrupted(String),
    /// The reply was not what the platform sends (not JSON, an HTML error page, a document the codec refuses).
    #[error("upstream reply malformed: {0}")]
    Malformed(String),
    #[error("upstream reply larger than {0} bytes")]
    TooLarge(u64),
    /// Still rate limited when the operation's time ran out.
    #[error("upstream rate limited")]
    Throttled { retry_after: Duration },
    /// The circuit breaker is open: recent calls failed, so none is attempted until `retry_after` passes.
    #[error("upstream circuit open")]
    CircuitOpen { retry_after: Duration },
    /// `limit` calls to the backend are already waiting for it (a slow shop): this one is not made.
    #[error("upstream calls in flight at their limit ({limit})")]
    Overloaded { limit: usize },
    /// The adapter refused before sending: the platform cannot do what was asked (a filter it has no parameter
    /// for, a transition it has no operation for). Shown to the caller as is.
    #[error("{0}")]
    Unsupported(Box<Problem>),
    /// ordermux itself failed (the journal could not be written).
    #[error("local failure: {0}")]
    Local(String),
}

/// An `UpstreamError` for a log line (`UpstreamError::for_log`).
pub struct LogSafe<'a>(&'a UpstreamError);

impl std::fmt::Display for LogSafe<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            UpstreamError::Rejected { status, detail, .. } => {
                write!(f, "upstream refused the request with {status}")?;
                if let Some(pointer) = detail {
                    write!(f, " at {}", mask_values(pointer))?;
                }
                Ok(())
            }
            other => f.write_str(&mask_values(&other.to_string())),
        }
    }
}

/// `text` with every double-quoted span, and every word holding an e-mail address (an `@`, plain or
/// percent-encoded), replaced by `…`: ordermux's reasons quote the values they refuse, and a failed call's URL
/// may carry a customer search.
fn mask_values(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut quoted = false;
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if word.contains('@') || word.to_ascii_lowercase().contains("%40") {
            out.push('…');
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in text.chars() {
        if quoted {
            if c == '"' {
                quoted = false;
                out.push_str("…\"");
            }
            continue;
        }
        match c {
            '"' => {
                flush(&mut word, &mut out);
                quoted = true;
                out.push('"');
            }
            c if c.is_whitespace() || c == '(' || c == ')' || c == ',' => {
                flush(&mut word, &mut out);
                out.push(c);
            }
            c => word.push(c),
        }
    }
    flush(&mut word, &mut out);
    if quoted {
        out.push_str("…\"");
    }
    out
}

impl UpstreamError {
    /// `Unsupported`, for the adapters' refusals.
    pub fn unsupported(problem: Problem) -> Self {
        UpstreamError::Unsupported(Box::new(problem))
    }

    /// This error as a log line may show it: an upstream's own explanation of a refusal is left out (it may
    /// repeat what the caller sent: names, e-mail addresses), and so are the values ordermux's own reasons quote.
    pub fn for_log(&self) -> LogSafe<'_> {
        LogSafe(self)
    }

    /// True when the upstream certainly did not act on the request.
    pub fn never_sent(&self) -> bool {
        matches!(
            self,
            UpstreamError::Unreachable(_)
                | UpstreamError::CircuitOpen { .. }
                | UpstreamError::Overloaded { .. }
                | UpstreamError::Throttled { .. }
        )
    }

    /// True when no complete reply came back (no answer in time, the connection broke): the upstream may still be
    /// working on the request, and act after the caller has given up.
    pub fn may_still_land(&self) -> bool {
        matches!(self, UpstreamError::Timeout | UpstreamError::Interrupted(_))
    }

    /// True when the upstream may have acted though no success reply arrived: a create must be reconciled.
    pub fn outcome_unknown(&self) -> bool {
        matches!(
            self,
            UpstreamError::Timeout
                | UpstreamError::Interrupted(_)
                | UpstreamError::ServerError(_)
                | UpstreamError::Malformed(_)
                | UpstreamError::TooLarge(_)
        )
    }

    /// The problem shown to the caller, in its own dialect: 4xx keep their status family, failures of the
    /// upstream are 502/504/503. The upstream's body is never passed on, only its message.
    pub fn into_problem(self, backend: &str) -> Problem {
        let secs = |d: Duration| d.as_secs().max(1);
        match self {
            UpstreamError::Rejected {
                status, message, ..
            } => {
                let kind = match status.as_u16() {
                    404 | 410 => ProblemKind::NotFound,
                    409 => ProblemKind::Conflict,
                    // The gateway's own credentials were refused: nothing the caller can fix.
                    401 | 403 | 407 => ProblemKind::BadGateway,
                    405 => ProblemKind::MethodNotAllowed,
                    413 => ProblemKind::BodyTooLarge,
                    _ => ProblemKind::InvalidField,
                };
                let reason = if kind == ProblemKind::BadGateway {
                    format!("upstream {backend} refused ordermux's credentials ({status})")
                } else {
                    format!("upstream {backend}: {message}")
                };
                Problem::new(kind, "", reason)
            }
            UpstreamError::ServerError(status) => Problem::new(
                ProblemKind::BadGateway,
                "",
                format!("upstream {backend} failed ({status})"),
            ),
            // Nothing was sent: the shop is down for now, and a retry is safe (the reliability plan's F1).
            UpstreamError::Unreachable(_) => Problem::new(
                ProblemKind::Unavailable,
                "",
                format!("upstream {backend} could not be reached; nothing was sent, retry later"),
            )
            .with_retry_after(1),
            UpstreamError::Interrupted(_) => Problem::new(
                ProblemKind::BadGateway,
                "",
                format!("the connection to upstream {backend} broke off"),
            ),
            UpstreamError::Timeout => Problem::new(
                ProblemKind::GatewayTimeout,
                "",
                format!("upstream {backend} did not answer in time"),
            ),
            UpstreamError::Malformed(_) | UpstreamError::TooLarge(_) => Problem::new(
                ProblemKind::BadGateway,
                "",
                format!("upstream {backend} sent a reply ordermux cannot read"),
            ),
            UpstreamError::Throttled { retry_after } => Problem::new(
                ProblemKind::Unavailable,
                "",
                format!("upstream {backend} is rate limiting; retry later"),
            )
            .with_retry_after(secs(retry_after)),
            UpstreamError::Unsupported(p) => *p,
            UpstreamError::Local(why) => {
                tracing::error!(backend, %why, "local failure during an upstream call");
                Problem::new(
                    ProblemKind::Internal,
                    "",
                    "internal error; the request may not have been applied",
                )
            }
            UpstreamError::CircuitOpen { retry_after } => Problem::new(
                ProblemKind::Unavailable,
                "",
                format!("upstream {backend} is failing; not tried (circuit open)"),
            )
            .with_retry_after(secs(retry_after)),
            UpstreamError::Overloaded { limit } => Problem::new(
                ProblemKind::Unavailable,
                "",
                format!("upstream {backend} already has {limit} calls waiting for it; not tried, retry shortly"),
            )
            .with_retry_after(1),
        }
    }
}

/// Reads a platform's error document into one message (and the pointer it names, if any).
pub type ErrorReader = fn(&Value) -> Option<(String, Option<String>)>;

/// Why an upstream's HTTP side could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum HttpSetupError {
    #[error("HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    #[error("base URL {0:?}: {1}")]
    BaseUrl(String, String),
}

/// The HTTP side of one upstream backend, shared by every request routed to it.
#[derive(Debug)]
pub struct UpstreamHttp {
    name: String,
    /// Parsed once: each call's URL is this one with the call's path and query set, which spares parsing the
    /// scheme and host again on every call.
    base_url: reqwest::Url,
    client: reqwest::Client,
    total_timeout: Duration,
    max_response_bytes: u64,
    read_error: ErrorReader,
    breaker: Breaker,
    pacer: Pacer,
    /// Calls waiting for the backend now, and how many may (`max_pending`): a shop that slows down does not
    /// gather every caller's request.
    pending: AtomicUsize,
    max_pending: usize,
    retries: RetryBudget,
}

/// Retries as a share of calls (as Finagle's and gRPC's retry budgets do): each call earns a fifth of a retry and
/// each retry spends one, with three always at hand (topped up each second for a quiet backend), so a failing
/// shop is sent about 1.2 tries per call rather than `MAX_TRIES`, and a storm of failures is not multiplied.
/// Counted in tenths of a retry.
#[derive(Debug)]
struct RetryBudget {
    tenths: AtomicI64,
    topped_up: Mutex<Instant>,
}

/// What a call earns, what a retry costs, what is always at hand, and the most that is saved up (tenths).
const RETRY_EARNED_PER_CALL: i64 = 2;
const RETRY_COST: i64 = 10;
const RETRY_RESERVE: i64 = 30;
const RETRY_SAVINGS: i64 = 1_000;

impl RetryBudget {
    fn new() -> Self {
        RetryBudget {
            tenths: AtomicI64::new(RETRY_RESERVE),
            topped_up: Mutex::new(Instant::now()),
        }
    }

    fn earn(&self) {
        let _ = self
            .tenths
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                (t < RETRY_SAVINGS).then(|| (t + RETRY_EARNED_PER_CALL).min(RETRY_SAVINGS))
            });
    }

    /// Takes one retry, if the budget holds one.
    fn spend(&self, now: Instant) -> bool {
        {
            let mut at = self.topped_up.lock().unwrap_or_else(|p| p.into_inner());
            if now.saturating_duration_since(*at) >= Duration::from_secs(1) {
                *at = now;
                self.tenths.fetch_max(RETRY_RESERVE, Ordering::Relaxed);
            }
        }
        self.tenths
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                (t >= RETRY_COST).then_some(t - RETRY_COST)
            })
            .is_ok()
    }
}

/// A call's place among a backend's pending calls, given back when the call ends.
struct PendingSlot<'a>(&'a AtomicUsize);

impl Drop for PendingSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Most tries of one call (connection refused and 429 included).
const MAX_TRIES: u32 = 4;

impl UpstreamHttp {
    pub fn new(backend: &Backend, read_error: ErrorReader) -> Result<Self, HttpSetupError> {
        let base_url = reqwest::Url::parse(&backend.base_url)
            .map_err(|e| HttpSetupError::BaseUrl(backend.base_url.clone(), e.to_string()))?;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(std::sync::Arc::new(super::address::GuardedResolver::new(
                &backend.name,
                backend.allow_private_addresses,
            )))
            .connect_timeout(backend.connect_timeout)
            .timeout(backend.timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("ordermux/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(UpstreamHttp {
            name: backend.name.clone(),
            base_url,
            client,
            total_timeout: backend.total_timeout,
            max_response_bytes: backend.max_response_bytes,
            read_error,
            breaker: Breaker::new(backend.breaker_failures, backend.breaker_cooldown),
            pacer: Pacer::default(),
            pending: AtomicUsize::new(0),
            max_pending: backend.max_pending,
            retries: RetryBudget::new(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Sends `call`, pacing, retrying and breaking as its retry class allows, until a 2xx reply or an error.
    pub async fn send(&self, call: Call) -> Result<Reply, UpstreamError> {
        self.send_as(call).await
    }

    /// `send`, with a 2xx body read straight into `B` (no `Value` tree for a caller that wants a few fields). A
    /// body that is not JSON, or not a `B`, is `Malformed`. Error replies are read as before.
    pub async fn send_as<B: serde::de::DeserializeOwned>(
        &self,
        call: Call,
    ) -> Result<Reply<B>, UpstreamError> {
        if self.pending.fetch_add(1, Ordering::Relaxed) >= self.max_pending {
            self.pending.fetch_sub(1, Ordering::Relaxed);
            return Err(UpstreamError::Overloaded {
                limit: self.max_pending,
            });
        }
        let _slot = PendingSlot(&self.pending);
        self.retries.earn();
        let deadline = Instant::now() + self.total_timeout;
        let mut tries = 0;
        let mut last: Option<Result<Reply<B>, UpstreamError>> = None;
        loop {
            tries += 1;
            if let Err(open) = self.breaker.admit() {
                // Opened by this call's own failures: report what happened, not the breaker.
                return last.unwrap_or(Err(open));
            }
            let slot = loop {
                match self.pacer.admit() {
                    Ok(slot) => break slot,
                    Err(wait) => {
                        if Instant::now() + wait > deadline {
                            return Err(UpstreamError::Throttled { retry_after: wait });
                        }
                        tracing::debug!(backend = %self.name, wait_ms = wait.as_millis() as u64, "pacing upstream");
                        tokio::time::sleep(wait.min(PACING_RECHECK)).await;
                    }
                }
            };
            let result = self.try_once(&call).await;
            drop(slot);
            self.breaker.record(result.as_ref().err());
            let retry_in = match &result {
                // The shop said when: waiting for it is pacing, not more load.
                Err(UpstreamError::Throttled { retry_after }) => Some((*retry_after, false)),
                Err(UpstreamError::Unreachable(_)) => Some((backoff(tries), true)),
                Err(e) if call.retry == Retry::Safe && e.outcome_unknown() => {
                    Some((backoff(tries), true))
                }
                _ => None,
            };
            let now = Instant::now();
            match retry_in {
                Some((wait, budgeted))
                    if tries < MAX_TRIES
                        && now + wait < deadline
                        && (!budgeted || self.retries.spend(now)) =>
                {
                    tracing::info!(backend = %self.name, path = %call.path, try_no = tries, "retrying upstream call");
                    tokio::time::sleep(wait).await;
                    last = Some(result);
                }
                _ => return result,
            }
        }
    }

    /// The base URL followed by `path_and_query` (a path below the base's own, and an optional query).
    fn url(&self, path_and_query: &str) -> reqwest::Url {
        let (path, query) = match path_and_query.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (path_and_query, None),
        };
        let mut url = self.base_url.clone();
        let mut full = String::with_capacity(url.path().len() + path.len());
        full.push_str(url.path().trim_end_matches('/'));
        full.push_str(path);
        url.set_path(&full);
        url.set_query(query);
        url
    }

    async fn try_once<B: serde::de::DeserializeOwned>(
        &self,
        call: &Call,
    ) -> Result<Reply<B>, UpstreamError> {
        let mut request = self
            .client
            .request(call.method.clone(), self.url(&call.path))
            .headers(call.headers.clone())
            .header(http::header::ACCEPT, call.media_type);
        if let Ok(id) = REQUEST_ID.try_with(Clone::clone) {
            request = request.header(X_REQUEST_ID, id);
        }
        if let Some(body) = &call.body {
            request = request
                .header(http::header::CONTENT_TYPE, call.media_type)
                .body(body.clone());
        }
        let mut response = request.send().await.map_err(classify)?;
        let status = response.status();
        let headers = response.headers().clone();
        self.pacer.observe(status, &headers);
        let mut bytes = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if (bytes.len() + chunk.len()) as u64 > self.max_response_bytes {
                        return Err(UpstreamError::TooLarge(self.max_response_bytes));
                    }
                    bytes.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => return Err(classify(e)),
            }
        }
        if status == StatusCode::TOO_MANY_REQUESTS {
            return Err(UpstreamError::Throttled {
                retry_after: retry_after(&headers).unwrap_or(Duration::from_secs(1)),
            });
        }
        if status.is_server_error() {
            return Err(UpstreamError::ServerError(status));
        }
        let blank = bytes.iter().all(u8::is_ascii_whitespace);
        if status.is_success() {
            let text: &[u8] = if blank { b"null" } else { &bytes };
            return match serde_json::from_slice::<B>(text) {
                Ok(body) => Ok(Reply {
                    status,
                    headers,
                    body,
                }),
                Err(e) => Err(UpstreamError::Malformed(format!(
                    "{} bytes from {} {} are not the expected JSON document: {e}",
                    bytes.len(),
                    call.method,
                    call.path
                ))),
            };
        }
        let body = if blank {
            Value::Null
        } else {
            serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null)
        };
        if status.is_redirection() {
            return Err(UpstreamError::Malformed(format!(
                "redirect {status} not followed"
            )));
        }
        let (message, detail) = (self.read_error)(&body).unwrap_or_else(|| {
            (
                status.canonical_reason().unwrap_or("error").to_owned(),
                None,
            )
        });
        Err(UpstreamError::Rejected {
            status,
            message,
            detail,
        })
    }
}

fn classify(e: reqwest::Error) -> UpstreamError {
    if e.is_connect() {
        UpstreamError::Unreachable(e.to_string())
    } else if e.is_timeout() {
        UpstreamError::Timeout
    } else {
        UpstreamError::Interrupted(e.to_string())
    }
}

/// Jittered exponential backoff: 100 ms, 200 ms, 400 ms … plus up to half again.
fn backoff(tries: u32) -> Duration {
    jittered_backoff(Duration::from_millis(100), tries)
}

/// `first`, doubled for each try after the first (at most 64×), plus a random part of up to half again, so
/// callers that failed together do not retry together.
pub fn jittered_backoff(first: Duration, tries: u32) -> Duration {
    let base = first.saturating_mul(1 << tries.saturating_sub(1).min(6));
    let jitter = base / 512 * u32::from(uuid::Uuid::new_v4().as_bytes()[0]);
    base + jitter
}

/// A header holding a whole number.
fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
}

/// The longest wait an upstream's headers are believed for: a shop's rate window is seconds long, and a header
/// claiming more (or a garbled one) must not stop calls to the backend for longer.
const LONGEST_ADVERTISED_WAIT: Duration = Duration::from_secs(60);

/// How long a 429 asks to wait: BigCommerce's `X-Rate-Limit-Time-Reset-Ms` or `X-Retry-After` (seconds), or the
/// standard `Retry-After` (seconds).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let num = |name: &str| header_u64(headers, name);
    num("x-rate-limit-time-reset-ms")
        .map(Duration::from_millis)
        .or_else(|| num("x-retry-after").map(Duration::from_secs))
        .or_else(|| num("retry-after").map(Duration::from_secs))
        .map(|d| d.min(LONGEST_ADVERTISED_WAIT))
}

/// Keeps the upstream's advertised request budget: once it is spent, calls wait for the window to reset instead of
/// drawing a 429. BigCommerce says how many requests are left and when its window resets
/// (`X-Rate-Limit-Requests-Left`, `-Time-Reset-Ms`, and the window's quota and length); Commerce Layer how many are
/// left in a sliding window of how many seconds (`X-Ratelimit-Remaining`, `-Interval`), with no reset, so a spent
/// budget waits the whole interval: by then every request it counted has left the window.
///
/// Calls run concurrently (a replay sends several at once), so a reply's count of what is left does not yet
/// include the calls still on their way to the shop: those are taken off it; and replies come back out of order,
/// so within a window the count only goes down. When a window ends, the next one starts with the quota the shop
/// advertised, less the calls in flight, until a reply says more. A twentieth of the quota is left to the store's
/// other apps (`SHARE_LEFT_TO_OTHERS`).
#[derive(Debug, Default)]
struct Pacer {
    state: Mutex<PacerState>,
}

#[derive(Debug, Default)]
struct PacerState {
    budget: Option<Budget>,
    /// Calls admitted and not yet answered (`PacerSlot`).
    in_flight: u64,
    /// The requests and length of a whole window, when the shop says (BigCommerce's
    /// `X-Rate-Limit-Requests-Quota` and `-Time-Window-Ms`, Commerce Layer's `X-Ratelimit-Limit` and `-Interval`).
    window: Option<(u64, Duration)>,
    /// Requests of each window left to the shop's other apps (`SHARE_LEFT_TO_OTHERS` of the quota, when known).
    reserve: u64,
}

/// The share of a shop's request quota ordermux leaves unused, for the other apps of the store that draw on the
/// same quota (a BigCommerce store's quota is the store's, not the app's): 1/20, so that ordermux runs at 95 % of
/// it (the reliability plan's §9.3) and neither it nor they draw a 429.
const SHARE_LEFT_TO_OTHERS: u64 = 20;

#[derive(Debug, Clone, Copy)]
struct Budget {
    left: u64,
    resets_at: Instant,
}

/// A call admitted by the pacer; it counts as in flight until dropped (answered, failed or abandoned).
struct PacerSlot<'a>(&'a Pacer);

impl Drop for PacerSlot<'_> {
    fn drop(&mut self) {
        let mut state = self.0.state.lock().unwrap_or_else(|p| p.into_inner());
        state.in_flight = state.in_flight.saturating_sub(1);
    }
}

/// How often a call waiting for the budget looks again: a reply meanwhile may say the budget is larger.
const PACING_RECHECK: Duration = Duration::from_millis(50);

impl Pacer {
    /// Takes what a reply says about the budget. Called while the call's own slot is held.
    fn observe(&self, status: StatusCode, headers: &HeaderMap) {
        let num = |name: &str| header_u64(headers, name);
        let bigcommerce = (
            num("x-rate-limit-requests-left"),
            num("x-rate-limit-time-reset-ms").map(Duration::from_millis),
        );
        let (left, reset) = match bigcommerce {
            (Some(left), Some(reset)) => (Some(left), Some(reset)),
            _ => (
                num("x-ratelimit-remaining"),
                num("x-ratelimit-interval").map(Duration::from_secs),
            ),
        };
        let reset = reset.map(|d| d.min(LONGEST_ADVERTISED_WAIT));
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let quota = num("x-rate-limit-requests-quota").or_else(|| num("x-ratelimit-limit"));
        if let Some(quota) = quota {
            state.reserve = quota / SHARE_LEFT_TO_OTHERS;
        }
        // BigCommerce's fixed window, or Commerce Layer's sliding one: a spent budget waits a whole interval, after
        // which every request it counted has left the window and the whole limit is there again.
        let window = num("x-rate-limit-time-window-ms")
            .map(Duration::from_millis)
            .or_else(|| num("x-ratelimit-interval").map(Duration::from_secs));
        if let (Some(quota), Some(window)) = (quota, window) {
            state.window = Some((quota, window.min(LONGEST_ADVERTISED_WAIT)));
        }
        // The other calls in flight may reach the shop after this reply was counted.
        let others = state.in_flight.saturating_sub(1);
        match (left, reset) {
            (Some(left), Some(reset)) => {
                let now = Instant::now();
                let seen = Budget {
                    left: left.saturating_sub(others),
                    resets_at: now + reset,
                };
                state.budget = Some(match state.budget {
                    _ if status == StatusCode::TOO_MANY_REQUESTS => Budget { left: 0, ..seen },
                    // Replies of one window come back in any order (one per connection): within it, what is
                    // left only goes down, so an earlier count arriving late does not raise it.
                    Some(current) if now < current.resets_at => Budget {
                        left: current.left.min(seen.left),
                        ..current
                    },
                    _ => seen,
                });
            }
            _ => {
                if let Some(b) = state.budget.as_mut() {
                    b.left = b.left.saturating_sub(1);
                }
            }
        }
    }

    /// Admits a call, or says how long to wait before asking again if the known budget is spent. The slot taken
    /// keeps concurrent callers from all spending the last unit.
    fn admit(&self) -> Result<PacerSlot<'_>, Duration> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if let Some(b) = state.budget {
            if now >= b.resets_at {
                // A new window: its quota, if known, less what is already on its way.
                state.budget = state.window.map(|(quota, window)| Budget {
                    left: quota.saturating_sub(state.in_flight),
                    resets_at: now + window,
                });
            }
        }
        let reserve = state.reserve;
        if let Some(b) = state.budget.as_mut() {
            if b.left <= reserve {
                return Err(b.resets_at.saturating_duration_since(now));
            }
            b.left -= 1;
        }
        state.in_flight += 1;
        Ok(PacerSlot(self))
    }
}

/// Per-backend circuit breaker: `threshold` consecutive transport failures open it for `cooldown`; then one
/// trial call is let through (half-open), and its outcome closes or reopens it.
#[derive(Debug)]
struct Breaker {
    threshold: u32,
    cooldown: Duration,
    state: Mutex<BreakerState>,
}

#[derive(Debug, Default)]
struct BreakerState {
    failures: u32,
    open_until: Option<Instant>,
    trial_in_flight: bool,
}

impl Breaker {
    fn new(threshold: u32, cooldown: Duration) -> Self {
        Breaker {
            threshold,
            cooldown,
            state: Mutex::default(),
        }
    }

    fn admit(&self) -> Result<(), UpstreamError> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let Some(until) = s.open_until else {
            return Ok(());
        };
        let now = Instant::now();
        if now < until {
            return Err(UpstreamError::CircuitOpen {
                retry_after: until - now,
            });
        }
        if s.trial_in_flight {
            return Err(UpstreamError::CircuitOpen {
                retry_after: Duration::from_secs(1),
            });
        }
        s.trial_in_flight = true;
        Ok(())
    }

    /// Records a call's outcome: `None` for a reply.
    fn record(&self, failure: Option<&UpstreamError>) {
        let failed = match failure {
            None => false,
            Some(e) => matches!(
                e,
                UpstreamError::Unreachable(_)
                    | UpstreamError::Timeout
                    | UpstreamError::Interrupted(_)
                    | UpstreamError::ServerError(_)
                    | UpstreamError::Malformed(_)
            ),
        };
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.trial_in_flight = false;
        if failed {
            s.failures += 1;
            if s.failures >= self.threshold {
                s.open_until = Some(Instant::now() + self.cooldown);
            }
        } else {
            s.failures = 0;
            s.open_until = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A call's URL, made from the base parsed once, is the URL that parsing the base and path together gives,
    /// with or without a path prefix in the base, with a query, and with characters the URL must encode.
    #[test]
    fn a_calls_url_is_the_base_and_path_parsed_together() {
        let no_errors: ErrorReader = |_| None;
        for base in ["http://127.0.0.1:8080", "https://shop.example/wp-json"] {
            let backend = Backend::upstream("up", crate::canonical::Platform::FluentCart, base);
            let http = UpstreamHttp::new(&backend, no_errors).unwrap();
            for path in [
                "/orders",
                "/stores/abc/v2/orders/7/products",
                "/orders?limit=10&page=2&sort=id:asc",
                "/api/orders?filter[q][reference_eq]=omx-1%2B2&include=line_items",
                "/orders/a b?email=x y",
                "/orders/",
            ] {
                let expected = reqwest::Url::parse(&format!("{base}{path}")).unwrap();
                assert_eq!(http.url(path), expected, "{base} {path}");
            }
        }
    }

    #[test]
    fn breaker_opens_after_threshold_and_half_opens_after_cooldown() {
        let b = Breaker::new(2, Duration::from_millis(30));
        let fail = UpstreamError::ServerError(StatusCode::BAD_GATEWAY);
        b.admit().unwrap();
        b.record(Some(&fail));
        b.admit().unwrap();
        b.record(Some(&fail));
        assert!(matches!(b.admit(), Err(UpstreamError::CircuitOpen { .. })));
        std::thread::sleep(Duration::from_millis(40));
        b.admit().unwrap();
        // Only one trial while half-open.
        assert!(matches!(b.admit(), Err(UpstreamError::CircuitOpen { .. })));
        b.record(None);
        b.admit().unwrap();
    }

    #[test]
    fn a_rejection_does_not_count_against_the_breaker() {
        let b = Breaker::new(1, Duration::from_secs(10));
        b.record(Some(&UpstreamError::Rejected {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message: "bad".into(),
            detail: None,
        }));
        b.admit().unwrap();
    }

    #[test]
    fn pacer_waits_once_the_advertised_budget_is_spent() {
        let p = Pacer::default();
        let h = headers(&[
            ("x-rate-limit-requests-left", "1"),
            ("x-rate-limit-time-reset-ms", "5000"),
        ]);
        p.observe(StatusCode::OK, &h);
        drop(p.admit().expect("one left"));
        let wait = p.admit().err().expect("budget spent");
        assert!(wait <= Duration::from_secs(5) && wait > Duration::from_secs(4));
    }

    /// With a quota of 40, 2 requests of each window are left to the store's other apps.
    #[test]
    fn pacer_leaves_a_twentieth_of_the_quota_to_other_apps() {
        let p = Pacer::default();
        let h = headers(&[
            ("x-rate-limit-requests-left", "5"),
            ("x-rate-limit-time-reset-ms", "5000"),
            ("x-rate-limit-requests-quota", "40"),
            ("x-rate-limit-time-window-ms", "5000"),
        ]);
        drop(p.admit().expect("budget unknown"));
        let slot = p.admit().expect("budget unknown");
        p.observe(StatusCode::OK, &h);
        drop(slot);
        for _ in 0..3 {
            assert_eq!(wait_of(&p), None);
        }
        assert!(wait_of(&p).is_some(), "two left, for the other apps");
    }

    /// A reply's count of what is left was taken before the calls still in flight reached the shop: they are taken
    /// off it. A new window starts with the advertised quota, less the calls in flight.
    #[test]
    fn pacer_counts_the_calls_in_flight_against_the_budget() {
        let p = Pacer::default();
        let h = headers(&[
            ("x-rate-limit-requests-left", "3"),
            ("x-rate-limit-time-reset-ms", "40"),
            ("x-rate-limit-requests-quota", "4"),
            ("x-rate-limit-time-window-ms", "5000"),
        ]);
        // Three calls in flight; the first is answered: 3 left at the shop, 2 of them for the others.
        let slots: Vec<_> = (0..3).map(|_| p.admit().expect("budget unknown")).collect();
        p.observe(StatusCode::OK, &h);
        let fourth = p.admit().expect("one left");
        assert!(p.admit().is_err(), "the last unit is the fourth call's");
        drop(slots);
        std::thread::sleep(Duration::from_millis(60));
        // The window reset: the quota, less the fourth call still in flight.
        let more: Vec<_> = (0..3).map(|_| p.admit().expect("new window")).collect();
        let wait = p.admit().err().expect("quota spent");
        assert!(wait > Duration::from_secs(4), "{wait:?}");
        drop((fourth, more));
    }

    #[test]
    fn log_lines_show_no_value_a_caller_or_shop_sent() {
        let rejected = UpstreamError::Rejected {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message: "Customer Jane Doe <jane@example.com> already exists".into(),
            detail: Some("/data/attributes/email".into()),
        };
        assert_eq!(
            rejected.for_log().to_string(),
            "upstream refused the request with 422 Unprocessable Entity at /data/attributes/email"
        );
        let malformed = UpstreamError::Malformed(
            r#"order 7 in the list cannot be read: /billing_address/email: "jane@" is not an email address"#.into(),
        );
        assert_eq!(
            malformed.for_log().to_string(),
            r#"upstream reply malformed: order 7 in the list cannot be read: /billing_address/email: "…" is not an email address"#
        );
        let interrupted = UpstreamError::Interrupted(
            "error sending request for url (http://shop/customers?search=jane%40example.com)"
                .into(),
        );
        assert_eq!(
            interrupted.for_log().to_string(),
            "upstream connection failed: error sending request for url (…)"
        );
        // What holds no value is shown whole.
        assert_eq!(
            UpstreamError::ServerError(StatusCode::BAD_GATEWAY)
                .for_log()
                .to_string(),
            "upstream failed with 502 Bad Gateway"
        );
    }

    /// A reply's headers, from `(name, value)` pairs.
    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| {
                (
                    http::header::HeaderName::from_static(name),
                    value.parse().unwrap(),
                )
            })
            .collect()
    }

    /// How long a call would wait now (a call admitted is answered at once, its slot given back).
    fn wait_of(p: &Pacer) -> Option<Duration> {
        p.admit().err()
    }

    #[test]
    fn advertised_waits_are_believed_for_a_minute_at_most() {
        let p = Pacer::default();
        let h = headers(&[
            ("x-rate-limit-requests-left", "0"),
            ("x-rate-limit-time-reset-ms", &u64::MAX.to_string()),
        ]);
        p.observe(StatusCode::OK, &h);
        let wait = wait_of(&p).expect("budget spent");
        assert!(wait <= LONGEST_ADVERTISED_WAIT, "{wait:?}");
        assert_eq!(retry_after(&h), Some(LONGEST_ADVERTISED_WAIT));
        let h = headers(&[("retry-after", "86400")]);
        assert_eq!(retry_after(&h), Some(LONGEST_ADVERTISED_WAIT));
    }

    #[test]
    fn commerce_layers_sliding_window_is_kept_by_waiting_its_interval_once_spent() {
        let p = Pacer::default();
        // Of the 3 left, 2 (a twentieth of 50) are the other apps'.
        let mut h = headers(&[
            ("x-ratelimit-limit", "50"),
            ("x-ratelimit-interval", "10"),
            ("x-ratelimit-remaining", "3"),
        ]);
        p.observe(StatusCode::OK, &h);
        assert_eq!(wait_of(&p), None, "one request left");
        let wait = wait_of(&p).expect("the budget is spent");
        assert!(
            wait > Duration::from_secs(9) && wait <= Duration::from_secs(10),
            "{wait:?}"
        );
        // Once the interval has passed, the whole limit is there again, less the calls in flight (here one), and
        // less the twentieth left to other apps (2 of 50): 47 calls, then a wait.
        let p = Pacer::default();
        let mut h2 = h.clone();
        h2.insert("x-ratelimit-interval", "1".parse().unwrap());
        h2.insert("x-ratelimit-remaining", "0".parse().unwrap());
        let held = p.admit().expect("budget unknown");
        p.observe(StatusCode::OK, &h2);
        assert!(p.admit().is_err(), "spent");
        std::thread::sleep(Duration::from_millis(1_050));
        let slots: Vec<_> = (0..47)
            .map(|_| p.admit().expect("a new interval"))
            .collect();
        assert!(
            p.admit().is_err(),
            "the limit, less one in flight and two for others"
        );
        drop((held, slots));
        // A 429 spends it whatever the header says.
        let p = Pacer::default();
        h.insert("x-ratelimit-remaining", "7".parse().unwrap());
        p.observe(StatusCode::TOO_MANY_REQUESTS, &h);
        assert!(wait_of(&p).is_some());
        // Without an interval, a count alone says nothing about when to go on.
        let p = Pacer::default();
        let h = headers(&[("x-ratelimit-remaining", "0")]);
        p.observe(StatusCode::OK, &h);
        assert_eq!(wait_of(&p), None);
    }

    #[test]
    fn the_retry_budget_allows_a_fifth_of_the_calls_beyond_its_reserve() {
        let budget = RetryBudget::new();
        let t0 = *budget.topped_up.lock().unwrap();
        // Three at hand.
        assert!((0..3).all(|_| budget.spend(t0)));
        assert!(!budget.spend(t0));
        // Five calls earn one more.
        for _ in 0..5 {
            budget.earn();
        }
        assert!(budget.spend(t0));
        assert!(!budget.spend(t0));
        // A second later the reserve is back, but not more than the reserve.
        let later = t0 + Duration::from_secs(1);
        assert!((0..3).all(|_| budget.spend(later)));
        assert!(!budget.spend(later));
        // Savings are capped.
        for _ in 0..10_000 {
            budget.earn();
        }
        let spent = (0..1_000).take_while(|_| budget.spend(later)).count();
        assert_eq!(spent, (RETRY_SAVINGS / RETRY_COST) as usize);
    }

    #[test]
    fn retry_after_reads_each_platform_header() {
        let mut h = headers(&[("x-retry-after", "3")]);
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        h.insert("x-rate-limit-time-reset-ms", "1500".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_millis(1500)));
    }

    #[test]
    fn upstream_statuses_map_to_the_callers_problem_kinds() {
        let rejected = |code: u16| UpstreamError::Rejected {
            status: StatusCode::from_u16(code).unwrap(),
            message: "m".into(),
            detail: None,
        };
        assert_eq!(
            rejected(422).into_problem("b").kind,
            ProblemKind::InvalidField
        );
        assert_eq!(rejected(404).into_problem("b").kind, ProblemKind::NotFound);
        assert_eq!(
            rejected(401).into_problem("b").kind,
            ProblemKind::BadGateway
        );
        assert_eq!(
            UpstreamError::ServerError(StatusCode::INTERNAL_SERVER_ERROR)
                .into_problem("b")
                .kind,
            ProblemKind::BadGateway
        );
        assert_eq!(
            UpstreamError::Timeout.into_problem("b").kind,
            ProblemKind::GatewayTimeout
        );
        let open = UpstreamError::CircuitOpen {
            retry_after: Duration::from_millis(2500),
        }
        .into_problem("b");
        assert_eq!(
            (open.kind, open.retry_after),
            (ProblemKind::Unavailable, Some(2))
        );
    }
}
