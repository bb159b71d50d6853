//! Commerce Layer's core API (JSON:API 1.0) served by the embedded shop: `POST /oauth/token`, `/api/markets`,
//! `/api/orders` (list, create, read, update with trigger attributes, delete), `/api/orders/{id}/{relationship}`,
//! `/api/line_items` and `/api/addresses`. Field mapping lives in `dialects::commercelayer`; this module owns
//! paths, media types, query parameters (include, sparse fieldsets, filters, sort, paging) and envelopes.

mod document;
mod items;
mod orders;

use http::header::{ACCEPT, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::{json, Value};

use super::{no_route, wrong_method, ApiContext, ApiRequest, ApiResponse, ApiResult, Operation};
use crate::canonical::{Platform, Problem, ProblemKind};
use crate::service::ShopError;
use crate::store::ObjectId;

const JSONAPI: &str = "application/vnd.api+json";

/// Relationships of an order that `GET /api/orders/{id}/{name}` serves.
const ORDER_RELATED: &[&str] = &[
    "line_items",
    "market",
    "customer",
    "billing_address",
    "shipping_address",
];

fn route_path(segments: &[&str]) -> String {
    if segments.first() == Some(&"oauth") {
        format!("/{}", segments.join("/"))
    } else {
        format!("/api/{}", segments.join("/"))
    }
}

pub fn operation(method: &Method, segments: &[&str]) -> Result<Operation, Problem> {
    let pick = |allowed: &[(Method, Operation)]| super::pick(method, allowed);
    match segments {
        ["oauth", "token"] => pick(&[(Method::POST, Operation::write("oauth.token"))]),
        ["markets"] => pick(&[(Method::GET, Operation::read("markets.list"))]),
        ["markets", _] => pick(&[(Method::GET, Operation::read("markets.get"))]),
        ["orders"] => pick(&[
            (Method::GET, Operation::read("orders.list")),
            (Method::POST, Operation::create_order("orders.create")),
        ]),
        ["orders", _] => pick(&[
            (Method::GET, Operation::read("orders.get")),
            // Triggers (`_capture`, `_refund`, `_place`…) act once: a retry under the same key is answered, not
            // acted on again.
            (Method::PATCH, Operation::keyed_action("orders.update")),
            (Method::DELETE, Operation::write("orders.delete")),
        ]),
        ["orders", _, rel] if ORDER_RELATED.contains(rel) => {
            pick(&[(Method::GET, Operation::read("orders.related"))])
        }
        ["line_items"] => pick(&[(Method::POST, Operation::create("line_items.create"))]),
        ["line_items", _] => pick(&[
            (Method::GET, Operation::read("line_items.get")),
            (Method::PATCH, Operation::write("line_items.update")),
            (Method::DELETE, Operation::write("line_items.delete")),
        ]),
        ["addresses"] => pick(&[(
            Method::POST,
            Operation::create_reconciled("addresses.create"),
        )]),
        ["addresses", _] => pick(&[(Method::GET, Operation::read("addresses.get"))]),
        _ => Err(no_route(&route_path(segments))),
    }
}

pub async fn handle(ctx: &ApiContext, req: &ApiRequest) -> ApiResult {
    let segments = req.segments();
    if segments.as_slice() == ["oauth", "token"] {
        return token(ctx, req);
    }
    check_accept(&req.headers)?;
    if req.method == Method::POST || req.method == Method::PATCH {
        check_content_type(&req.headers)?;
    }
    let m = &req.method;
    match segments.as_slice() {
        ["markets"] if m == Method::GET => items::markets(ctx, req),
        ["markets", id] if m == Method::GET => items::market(ctx, req, id),
        ["orders"] if m == Method::GET => orders::list(ctx, req).await,
        ["orders"] if m == Method::POST => orders::create(ctx, req).await,
        ["orders", id] => {
            let id = order_id(id)?;
            match *m {
                Method::GET => orders::get(ctx, req, &id).await,
                Method::PATCH => orders::update(ctx, req, &id).await,
                Method::DELETE => orders::delete(ctx, req, &id).await,
                _ => Err(wrong_method(
                    m,
                    &[&Method::GET, &Method::PATCH, &Method::DELETE],
                )),
            }
        }
        ["orders", id, rel] if m == Method::GET && ORDER_RELATED.contains(rel) => {
            orders::related(ctx, req, &order_id(id)?, rel).await
        }
        ["line_items"] if m == Method::POST => items::create_line_item(ctx, req).await,
        ["line_items", id] => {
            let id = object_id(id, "line item")?;
            match *m {
                Method::GET => items::line_item(ctx, req, &id).await,
                Method::PATCH => items::update_line_item(ctx, req, &id).await,
                Method::DELETE => items::delete_line_item(ctx, req, &id).await,
                _ => Err(wrong_method(
                    m,
                    &[&Method::GET, &Method::PATCH, &Method::DELETE],
                )),
            }
        }
        ["addresses"] if m == Method::POST => items::create_address(ctx, req).await,
        ["addresses", id] if m == Method::GET => {
            items::address(ctx, req, &object_id(id, "address")?).await
        }
        _ => Err(no_route(&route_path(&segments))),
    }
}

/// An order id from the path, as the store knows Commerce Layer ids (404 for anything that cannot be one).
fn order_id(text: &str) -> Result<String, Problem> {
    object_id(text, "order")
}

fn object_id(text: &str, what: &str) -> Result<String, Problem> {
    match super::path_id(Platform::CommerceLayer, text, what)? {
        ObjectId::CommerceLayer(s) => Ok(s),
        _ => Err(not_found(what)),
    }
}

fn not_found(what: &str) -> Problem {
    ShopError::NotFound.into_problem(what)
}

/// A shop failure as the caller sees it.
fn shop_problem(what: &'static str) -> impl Fn(ShopError) -> Problem {
    move |e| e.into_problem(what)
}

/// JSON:API: the client must accept `application/vnd.api+json` (or anything). Parameters other than `q` on the
/// JSON:API media type are tolerated: real clients do not send them, and refusing them helps no one.
fn check_accept(headers: &HeaderMap) -> Result<(), Problem> {
    let values: Vec<&str> = headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if values.is_empty() {
        return Ok(());
    }
    let acceptable = values.iter().flat_map(|v| v.split(',')).any(|range| {
        let essence = range.split(';').next().unwrap_or_default().trim();
        essence == "*/*"
            || essence.eq_ignore_ascii_case("application/*")
            || essence.eq_ignore_ascii_case(JSONAPI)
    });
    if acceptable {
        Ok(())
    } else {
        Err(Problem::new(
            ProblemKind::NotAcceptable,
            "",
            format!("this API answers in {JSONAPI}; the Accept header does not allow it"),
        ))
    }
}

fn media_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
}

/// Request bodies must be JSON:API documents (415 otherwise). Two Content-Type headers name no one media type.
fn check_content_type(headers: &HeaderMap) -> Result<(), Problem> {
    let declared = if headers.get_all(CONTENT_TYPE).iter().count() > 1 {
        Some("several media types".to_owned())
    } else {
        media_type(headers)
    };
    match declared {
        Some(t) if t == JSONAPI => Ok(()),
        other => Err(Problem::new(
            ProblemKind::UnsupportedMediaType,
            "",
            format!(
                "request bodies must be sent as {JSONAPI}, not {}",
                other.as_deref().unwrap_or("a body without Content-Type")
            ),
        )),
    }
}

/// The credentials of a token request, from a JSON body (what js-auth sends) or a form (RFC 6749's encoding).
fn token_fields(req: &ApiRequest) -> Result<[Option<String>; 4], Problem> {
    const NAMES: [&str; 4] = ["grant_type", "client_id", "client_secret", "scope"];
    let mut out: [Option<String>; 4] = Default::default();
    if media_type(&req.headers).as_deref() == Some("application/x-www-form-urlencoded") {
        for (k, v) in form_urlencoded::parse(&req.body) {
            if let Some(i) = NAMES.iter().position(|n| *n == k) {
                out[i] = Some(v.into_owned());
            }
        }
        return Ok(out);
    }
    let body = super::parse_body(&req.body)?;
    let Value::Object(map) = body else {
        return Err(Problem::new(
            ProblemKind::InvalidField,
            "",
            "a token request is a JSON object",
        ));
    };
    for (i, name) in NAMES.iter().enumerate() {
        match map.get(*name) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => out[i] = Some(s.clone()),
            Some(_) => {
                return Err(Problem::new(
                    ProblemKind::InvalidParameter,
                    format!("/{name}"),
                    format!("{name} must be a string"),
                ))
            }
        }
    }
    Ok(out)
}

/// `POST /oauth/token` with the client credentials grant.
fn token(ctx: &ApiContext, req: &ApiRequest) -> ApiResult {
    let [grant_type, mut client_id, mut client_secret, scope] = token_fields(req)?;
    // RFC 6749 §2.3.1: a client may authenticate with HTTP Basic instead of body parameters, but not with both.
    if let Some((id, secret)) = crate::gateway::basic_credentials(&req.headers) {
        if client_id.is_some() || client_secret.is_some() {
            return Err(Problem::new(
                ProblemKind::InvalidParameter,
                "/client_id",
                "the client authenticated twice (HTTP Basic and body credentials); use one",
            ));
        }
        // Each half is form-encoded before it goes into the header (same section).
        let decode = |s: &str| -> String {
            percent_encoding::percent_decode_str(&s.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        };
        client_id = Some(decode(&id));
        client_secret = Some(decode(&secret));
    }
    match grant_type.as_deref() {
        Some("client_credentials") => {}
        None | Some("") => {
            // RFC 6749 §5.2: a request missing a parameter is invalid_request, a 400 like the other refusals here.
            return Err(Problem::new(
                ProblemKind::InvalidParameter,
                "/grant_type",
                "grant_type is required (client_credentials)",
            ));
        }
        other => {
            return Err(Problem::new(
                ProblemKind::InvalidParameter,
                "/grant_type",
                format!(
                    "unsupported grant_type {:?}; this server issues client_credentials tokens",
                    other.unwrap_or_default()
                ),
            ))
        }
    }
    let grant = ctx.tokens.grant(
        &ctx.config,
        client_id.as_deref().unwrap_or_default(),
        client_secret.as_deref(),
        scope.as_deref(),
        req.now,
    )?;
    Ok(ApiResponse::json(
        StatusCode::OK,
        json!({
            "access_token": grant.access_token,
            "token_type": "bearer",
            "expires_in": grant.expires_in,
            "scope": grant.scope,
            "created_at": grant.created_at,
        }),
    )
    // RFC 6749 §5.1: token replies must not be cached.
    .with_header(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_methods() {
        assert_eq!(
            operation(&Method::POST, &["orders"]).unwrap(),
            Operation::create_order("orders.create")
        );
        assert_eq!(
            operation(&Method::PATCH, &["orders", "abc"]).unwrap().name,
            "orders.update"
        );
        assert_eq!(
            operation(&Method::PUT, &["orders", "abc"])
                .unwrap_err()
                .kind,
            ProblemKind::MethodNotAllowed
        );
        assert_eq!(
            operation(&Method::GET, &["skus"]).unwrap_err().kind,
            ProblemKind::NotFound
        );
        assert_eq!(
            operation(&Method::GET, &["oauth", "token"])
                .unwrap_err()
                .kind,
            ProblemKind::MethodNotAllowed
        );
        assert!(operation(&Method::GET, &["orders", "x", "line_items"]).is_ok());
        assert!(operation(&Method::GET, &["orders", "x", "payments"]).is_err());
    }

    #[test]
    fn media_types() {
        let mut h = HeaderMap::new();
        assert!(check_accept(&h).is_ok());
        h.insert(ACCEPT, HeaderValue::from_static("application/json"));
        assert_eq!(
            check_accept(&h).unwrap_err().kind,
            ProblemKind::NotAcceptable
        );
        h.insert(
            ACCEPT,
            HeaderValue::from_static("text/html, application/vnd.api+json"),
        );
        assert!(check_accept(&h).is_ok());
        assert!(check_content_type(&h).is_err());
        h.insert(CONTENT_TYPE, HeaderValue::from_static(JSONAPI));
        assert!(check_content_type(&h).is_ok());
    }
}
