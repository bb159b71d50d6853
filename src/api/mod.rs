//! Each dialect's native order API, served by the embedded shop: which paths and methods exist, how query
//! parameters and bodies map onto shop operations, and the envelopes replies come in. The gateway hands each
//! module an authenticated, bounded `ApiRequest`; the module answers with an `ApiResponse` or a `Problem`, which the
//! gateway renders in the dialect's error shape.

pub mod bigcommerce;
pub mod commercelayer;
pub mod fluentcart;
pub(crate) mod query;

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use serde_json::Value;

use crate::canonical::PlatformIds;
use crate::canonical::{Platform, Problem, ProblemKind, Timestamp};
use crate::config::{Client, Config};
use crate::dialects::{DecodeOptions, Loss, LossKind};
use crate::service::Shop;

pub use query::QueryParams;

/// What a route is, known before the body is read: its name for logs and metrics, and whether an
/// `Idempotency-Key` applies to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation {
    pub name: &'static str,
    /// An `Idempotency-Key` is honoured: creates, and actions whose repetition would repeat an effect (a refund of
    /// an amount, a payment recorded, a Commerce Layer trigger), which a caller's retry must not do twice.
    pub keyed: bool,
    /// A create that can answer for an earlier attempt interrupted after it wrote (the order it wrote is its
    /// answer, see `ApiRequest::resumed_order`); other creates answer such a retry with `idem_interrupted`.
    pub resumable: bool,
    /// A create an upstream shop makes through the create journal: an answer of unknown outcome (a 502 or 504)
    /// frees the key, since a retry reconciles through the journal before anything is sent again.
    pub reconciles: bool,
}

impl Operation {
    pub const fn read(name: &'static str) -> Self {
        Operation {
            name,
            keyed: false,
            resumable: false,
            reconciles: false,
        }
    }

    pub const fn write(name: &'static str) -> Self {
        Operation {
            name,
            keyed: false,
            resumable: false,
            reconciles: false,
        }
    }

    /// A create other than an order's (a line item): keyed, and not resumable.
    pub const fn create(name: &'static str) -> Self {
        Self::keyed_action(name)
    }

    /// A create other than an order's that an upstream shop makes through the create journal (a Commerce Layer
    /// address on a Commerce Layer shop): keyed, not resumable, reconciled.
    pub const fn create_reconciled(name: &'static str) -> Self {
        Operation {
            name,
            keyed: true,
            resumable: false,
            reconciles: true,
        }
    }

    /// An action a retry must not repeat (see `keyed`). An attempt interrupted after it wrote is answered
    /// `idem_interrupted`, as a create other than an order's is.
    pub const fn keyed_action(name: &'static str) -> Self {
        Operation {
            name,
            keyed: true,
            resumable: false,
            reconciles: false,
        }
    }

    /// An order create: it answers with the order itself, so it can answer for an interrupted attempt too.
    pub const fn create_order(name: &'static str) -> Self {
        Operation {
            name,
            keyed: true,
            resumable: true,
            reconciles: true,
        }
    }
}

/// An authenticated request, body read within limits.
#[derive(Clone)]
pub struct ApiRequest {
    pub method: Method,
    /// Path segments after the dialect's root (`/wp-json/fluent-cart/v2`, `/api`, `/stores/{hash}/v2`),
    /// percent-decoded: `["orders", "42"]`.
    pub segments: Vec<String>,
    pub query: QueryParams,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub client: Arc<Client>,
    /// `scheme://host` plus the dialect's root, for links in replies.
    pub base_url: String,
    pub now: Timestamp,
    /// Set by the gateway when an earlier attempt with this request's Idempotency-Key was interrupted after it
    /// wrote the order (its gateway id): the create answers with that order instead of making another.
    pub resumed_order: Option<String>,
    /// Set by the gateway when this request holds its Idempotency-Key taken over from a process that stopped.
    pub taken_over: bool,
}

/// Credentials travel in headers (marked sensitive by the gateway, so `HeaderMap`'s `Debug` hides them) and in
/// bodies (`client_secret` at `/oauth/token`; personal data in every order): the body is shown by length only.
impl std::fmt::Debug for ApiRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiRequest")
            .field("method", &self.method)
            .field("segments", &self.segments)
            .field("query", &self.query)
            .field("headers", &self.headers)
            .field("body_bytes", &self.body.len())
            .field("client", &self.client.id)
            .field("now", &self.now)
            .field("resumed_order", &self.resumed_order)
            .field("taken_over", &self.taken_over)
            .finish()
    }
}

impl ApiRequest {
    pub fn segments(&self) -> Vec<&str> {
        self.segments.iter().map(String::as_str).collect()
    }

    /// The request's `Idempotency-Key` (validated by the gateway), which an upstream create is stamped from.
    pub fn idempotency_key(&self) -> Option<&str> {
        self.headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
    }

    /// What a create passes the shop about its Idempotency-Key.
    pub fn create_key(&self) -> Option<crate::service::CreateKey<'_>> {
        self.idempotency_key().map(|key| crate::service::CreateKey {
            key,
            resumed_order: self.resumed_order.as_deref(),
            taken_over: self.taken_over,
        })
    }
}

/// What the shop and configuration offer the API modules.
#[derive(Debug, Clone)]
pub struct ApiContext {
    pub shop: Shop,
    pub config: Arc<Config>,
    pub decode_options: DecodeOptions,
    pub tokens: crate::gateway::TokenIssuer,
}

/// A reply before the gateway adds its common headers.
#[derive(Debug, Clone)]
pub struct ApiResponse {
    pub status: StatusCode,
    /// `None`: an empty body (204, or BigCommerce past the last page).
    pub body: Option<Value>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// What the reply could not carry of the order(s) it renders.
    pub losses: Vec<Loss>,
    /// The ids, in the caller's scheme, of orders a list page leaves out (`with_left_out`).
    pub left_out: Vec<String>,
}

impl ApiResponse {
    pub fn json(status: StatusCode, body: Value) -> Self {
        ApiResponse {
            status,
            body: Some(body),
            headers: Vec::new(),
            losses: Vec::new(),
            left_out: Vec::new(),
        }
    }

    pub fn empty(status: StatusCode) -> Self {
        ApiResponse {
            status,
            body: None,
            headers: Vec::new(),
            losses: Vec::new(),
            left_out: Vec::new(),
        }
    }

    pub fn with_losses(mut self, losses: Vec<Loss>) -> Self {
        self.losses.extend(losses);
        self
    }

    /// Tells a list page's caller which orders the page leaves out (an upstream shop's order that could not be
    /// read): a loss each at `pointer` (the page's array of orders), and their ids in the caller's `scheme`, which
    /// the gateway lists in `X-Ordermux-Left-Out`. Why each could not be read is the operator's, in the log.
    pub fn with_left_out(
        mut self,
        left_out: &[PlatformIds],
        scheme: Platform,
        pointer: &str,
    ) -> Self {
        for ids in left_out {
            self.losses.push(Loss {
                pointer: pointer.to_owned(),
                kind: LossKind::UnreadableOrder,
                reason: "an order the shop holds here cannot be read; it is left out".to_owned(),
            });
            // An order is always mapped to every scheme before it is left out; an id missing would be a bug, and
            // the loss above still says something is missing.
            if let Some(id) = ids.in_scheme(scheme) {
                self.left_out.push(id);
            }
        }
        self
    }

    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }
}

pub type ApiResult = Result<ApiResponse, Problem>;

/// The operation `method` on `segments` is in `dialect`'s API, or why not (404 / 405).
pub fn operation(
    dialect: Platform,
    method: &Method,
    segments: &[String],
) -> Result<Operation, Problem> {
    let s: Vec<&str> = segments.iter().map(String::as_str).collect();
    match dialect {
        Platform::FluentCart => fluentcart::operation(method, &s),
        Platform::CommerceLayer => commercelayer::operation(method, &s),
        Platform::BigCommerce => bigcommerce::operation(method, &s),
    }
}

/// The method a request is to be served as when it names another. WordPress's REST server, FluentCart's,
/// honours a `_method` query parameter, else an `X-HTTP-Method-Override` header, on any request, and WordPress's
/// own client (`@wordpress/api-fetch`) sends PUT, PATCH and DELETE as POST with that header by default; a
/// FluentCart caller gets the same here. BigCommerce and Commerce Layer honour neither, and neither does ordermux
/// for their callers.
pub fn method_override(
    dialect: Platform,
    headers: &http::HeaderMap,
    query: &QueryParams,
) -> Option<Method> {
    if dialect != Platform::FluentCart {
        return None;
    }
    let named = match query.get("_method") {
        Some(m) => m.as_bytes(),
        None => headers.get("x-http-method-override")?.as_bytes(),
    };
    Method::from_bytes(named.trim_ascii().to_ascii_uppercase().as_slice()).ok()
}

/// Routes that authenticate themselves (Commerce Layer's token endpoint).
pub fn is_public(dialect: Platform, segments: &[String]) -> bool {
    dialect == Platform::CommerceLayer && segments.first().is_some_and(|s| s == "oauth")
}

/// Serves an authenticated request in `dialect`'s API.
pub async fn handle(ctx: &ApiContext, dialect: Platform, req: &ApiRequest) -> ApiResult {
    // Boxed: an operation's state runs to tens of kilobytes (orders held across upstream calls), and a future
    // is copied whole each time it moves (into its caller's state, into a spawned task). Boxed, it is copied
    // once, into the heap, and the futures above it stay small.
    match dialect {
        Platform::FluentCart => Box::pin(fluentcart::handle(ctx, req)).await,
        Platform::CommerceLayer => Box::pin(commercelayer::handle(ctx, req)).await,
        Platform::BigCommerce => Box::pin(bigcommerce::handle(ctx, req)).await,
    }
}

/// 404 for a path the dialect does not have.
pub fn no_route(req_path: &str) -> Problem {
    Problem::new(
        ProblemKind::NotFound,
        "",
        format!("No route was found matching the URL and request method ({req_path})."),
    )
}

/// The operation for `method` among those a path allows, or 405.
pub fn pick(method: &Method, allowed: &[(Method, Operation)]) -> Result<Operation, Problem> {
    allowed
        .iter()
        .find(|(m, _)| m == method)
        .map(|(_, op)| *op)
        .ok_or_else(|| {
            let methods: Vec<&Method> = allowed.iter().map(|(m, _)| m).collect();
            wrong_method(method, &methods)
        })
}

/// 405 for a path that exists with the `allowed` methods only.
pub fn wrong_method(method: &Method, allowed: &[&Method]) -> Problem {
    let mut names: Vec<&str> = Vec::with_capacity(allowed.len() + 1);
    for m in allowed {
        names.push(m.as_str());
        // Every GET is answered to HEAD too.
        if *m == Method::GET {
            names.push(Method::HEAD.as_str());
        }
    }
    let allow = names.join(", ");
    let mut problem = Problem::new(
        ProblemKind::MethodNotAllowed,
        "",
        format!("method {method} is not allowed on this resource (allowed: {allow})"),
    );
    problem.allow = Some(allow);
    problem
}

/// Parses a JSON request body with the dialect-independent guards (empty, encoding, depth, duplicate keys).
pub fn parse_body(body: &[u8]) -> Result<Value, Problem> {
    crate::dialects::json::parse_document(body)
}

/// An id from a URL segment in `platform`'s scheme, or 404.
pub fn path_id(
    platform: crate::canonical::Platform,
    text: &str,
    what: &str,
) -> Result<crate::store::ObjectId, Problem> {
    crate::store::ObjectId::parse(platform, text).ok_or_else(|| {
        Problem::new(
            ProblemKind::NotFound,
            "",
            format!("The requested {what} was not found."),
        )
    })
}
