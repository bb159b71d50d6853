//! Transparent reverse proxy to an upstream shop: method, path, query, headers (minus hop-by-hop), and the body
//! streamed both ways; `X-Forwarded-For/-Proto/-Host` added. The upstream's base URL comes from configuration only.
//! No redirect is followed (a redirect is the upstream's reply, passed back as is).

use std::net::IpAddr;
use std::sync::atomic::AtomicU32;
use std::sync::Mutex;
use std::time::Duration;

use http::header::{
    HeaderName, HeaderValue, CONNECTION, HOST, PROXY_AUTHENTICATE, PROXY_AUTHORIZATION, TE,
    TRAILER, TRANSFER_ENCODING, UPGRADE,
};
use http::uri::PathAndQuery;
use http::{HeaderMap, Request, Response, Uri};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::client::legacy::connect::HttpConnector;
use tower_service::Service;

use super::address::GuardedResolver;
use crate::coarse_timer::CoarseTimer;
use crate::config::{Backend, ForwardedFor};

type Connector = hyper_rustls::HttpsConnector<HttpConnector<GuardedResolver>>;

/// An upstream shop reached by pass-through.
#[derive(Clone)]
pub struct Upstream {
    pub name: String,
    /// Unique in this process: the key of a connection to it in `Links`.
    id: u32,
    base: String,
    /// The base URL's scheme and authority, where connections go.
    origin: Uri,
    /// The base URL's path (without a trailing `/`), prefixed to every forwarded path.
    prefix: String,
    /// The `Host` header forwarded requests carry (the upstream's, not the caller's).
    host: HeaderValue,
    timeout: Duration,
    connector: Connector,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("name", &self.name)
            .field("base", &self.base)
            .field("timeout", &self.timeout)
            .finish()
    }
}

static NEXT_UPSTREAM_ID: AtomicU32 = AtomicU32::new(0);

/// The upstream connections of one downstream connection: at most one per upstream, opened on first use and
/// closed with the downstream connection.
///
/// HTTP/1.1 answers a connection's requests one at a time, so a downstream connection never needs two upstream
/// connections at once. Pairing them, instead of sharing a pool, spares every request the pool's lock and the hop
/// through a separate dispatch task, which made pass-through cost twice nginx's CPU (`bench/proxy.sh`). The cost
/// is one upstream connection per open downstream connection that passes requests through.
pub struct Links {
    /// By `Upstream::id`.
    open: Mutex<Vec<(u32, SendRequest<Incoming>)>>,
    /// The downstream peer's address, rendered once for `X-Forwarded-For`.
    peer: HeaderValue,
    /// Whether a caller's own `X-Forwarded-For` chain is kept (the peer's address added after it).
    append_forwarded_for: bool,
    /// Times the wait for each reply head.
    timer: CoarseTimer,
}

impl Links {
    pub fn new(peer: IpAddr, timer: CoarseTimer, forwarded_for: ForwardedFor) -> Links {
        Links {
            open: Mutex::new(Vec::new()),
            peer: HeaderValue::from_str(&peer.to_string())
                .unwrap_or_else(|_| HeaderValue::from_static("unknown")),
            append_forwarded_for: forwarded_for == ForwardedFor::Append,
            timer,
        }
    }

    /// The open connection to `upstream`, taken out while a request uses it.
    fn take(&self, upstream: u32) -> Option<SendRequest<Incoming>> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let at = open.iter().position(|(id, _)| *id == upstream)?;
        Some(open.swap_remove(at).1)
    }

    fn put(&self, upstream: u32, link: SendRequest<Incoming>) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.push((upstream, link));
    }
}

/// Why a forwarded request got no reply from the upstream.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// The connection could not be made: nothing reached the upstream.
    #[error("upstream {0} refused or unreachable: {1}")]
    Connect(String, String),
    /// No response head within the backend's timeout.
    #[error("upstream {0} did not answer within {1:?}")]
    Timeout(String, Duration),
    /// The exchange broke after the request was (possibly) sent.
    #[error("upstream {0} failed: {1}")]
    Failed(String, String),
    #[error("cannot build the upstream URL: {0}")]
    Url(String),
}

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Headers that describe one hop, not the message (RFC 9110 §7.6.1), never forwarded.
const HOP_BY_HOP: [HeaderName; 8] = [
    CONNECTION,
    HeaderName::from_static("keep-alive"),
    PROXY_AUTHENTICATE,
    PROXY_AUTHORIZATION,
    TE,
    TRAILER,
    TRANSFER_ENCODING,
    UPGRADE,
];

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Most messages carry none or only `Connection`: one pass over the names finds out, where removing each
    // of the eight by name would hash and probe sixteen times per exchange.
    if !headers.keys().any(|name| HOP_BY_HOP.contains(name)) {
        return;
    }
    if headers.contains_key(CONNECTION) {
        let named: Vec<HeaderName> = headers
            .get_all(CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
            .collect();
        for name in named {
            headers.remove(name);
        }
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
}

impl Upstream {
    pub fn new(backend: &Backend) -> Upstream {
        let mut http = HttpConnector::new_with_resolver(GuardedResolver::new(
            &backend.name,
            backend.allow_private_addresses,
        ));
        http.set_connect_timeout(Some(backend.connect_timeout));
        http.set_nodelay(true);
        http.enforce_http(false);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        // The base URL was validated by the configuration (http or https, a host, no query).
        let origin: Uri = backend.base_url.parse().unwrap_or_default();
        let prefix = origin.path().trim_end_matches('/').to_owned();
        let host = origin
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
            .unwrap_or_else(|| HeaderValue::from_static("localhost"));
        Upstream {
            name: backend.name.clone(),
            id: NEXT_UPSTREAM_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            base: backend.base_url.clone(),
            origin,
            prefix,
            host,
            timeout: backend.timeout,
            connector,
        }
    }

    /// A new connection to the upstream, ready for requests (its dispatch runs as its own task).
    async fn connect(&self) -> Result<SendRequest<Incoming>, ForwardError> {
        let refused =
            |e: &dyn std::fmt::Display| ForwardError::Connect(self.name.clone(), e.to_string());
        let io = self
            .connector
            .clone()
            .call(self.origin.clone())
            .await
            .map_err(|e| refused(&e))?;
        let (link, connection) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| refused(&e))?;
        tokio::spawn(async move {
            // Ends when the upstream closes or the downstream connection (holding the sender) goes away.
            let _ = connection.await;
        });
        Ok(link)
    }

    /// Sends `req` to the upstream over `links`' connection to it (opening one when there is none or it was
    /// closed) and returns its reply head with the body still streaming.
    pub async fn forward(
        &self,
        req: Request<Incoming>,
        links: &Links,
    ) -> Result<Response<Incoming>, ForwardError> {
        let (mut parts, body) = req.into_parts();
        // RFC 9112 §3.2.2: a request target in absolute form names the host, and its Host header is ignored.
        let named_authority = parts.uri.authority().cloned();
        // Origin form (`/path?query`), under the base URL's own path when it has one.
        let path = match (self.prefix.as_str(), parts.uri.path_and_query()) {
            ("", Some(pq)) => pq.clone(),
            (prefix, pq) => {
                PathAndQuery::try_from(format!("{prefix}{}", pq.map_or("/", |p| p.as_str())))
                    .map_err(|e| ForwardError::Url(e.to_string()))?
            }
        };
        let mut target = http::uri::Parts::default();
        target.path_and_query = Some(path);
        parts.uri = Uri::from_parts(target).map_err(|e| ForwardError::Url(e.to_string()))?;
        parts.version = http::Version::HTTP_11;
        let host_header = parts.headers.remove(HOST);
        let original_host = match named_authority {
            Some(authority) => HeaderValue::from_str(authority.as_str()).ok(),
            None => host_header,
        };
        strip_hop_by_hop(&mut parts.headers);
        // Set after the strip: a `Connection` header naming `Host` (or an `X-Forwarded-*` below) takes away only
        // the caller's own, never what this hop sets.
        parts.headers.insert(HOST, self.host.clone());
        // The caller's chain, every line of it in order (RFC 9110 §5.3: lines of one field are one list), then
        // the caller's address.
        let mut chain = Vec::new();
        if links.append_forwarded_for {
            for line in parts.headers.get_all(&X_FORWARDED_FOR) {
                chain.extend_from_slice(line.as_bytes());
                chain.extend_from_slice(b", ");
            }
        }
        let forwarded_for = if chain.is_empty() {
            Some(links.peer.clone())
        } else {
            chain.extend_from_slice(links.peer.as_bytes());
            HeaderValue::from_bytes(&chain).ok()
        };
        if let Some(v) = forwarded_for {
            parts.headers.insert(X_FORWARDED_FOR, v);
        }
        parts
            .headers
            .insert(X_FORWARDED_PROTO, HeaderValue::from_static("http"));
        if let Some(host) = original_host {
            parts.headers.insert(X_FORWARDED_HOST, host);
        }
        let request = Request::from_parts(parts, body);
        let exchange = async {
            let mut request = request;
            let mut fresh = false;
            // A kept connection the upstream has since closed gives the request back unsent: it then goes once
            // over a fresh connection. A request that may have been sent is never sent again.
            loop {
                let kept = match links.take(self.id) {
                    Some(mut link) if !fresh => link.ready().await.is_ok().then_some(link),
                    _ => None,
                };
                let mut link = match kept {
                    Some(link) => link,
                    // Boxed: connecting (TLS included) is rare and its future is large; kept inline it would
                    // grow every request's future, which is moved on each request.
                    None => Box::pin(self.connect()).await?,
                };
                match link.try_send_request(request).await {
                    Ok(reply) => {
                        links.put(self.id, link);
                        return Ok(reply);
                    }
                    Err(mut e) => match e.take_message() {
                        Some(unsent) if !fresh => {
                            request = unsent;
                            fresh = true;
                        }
                        _ => {
                            return Err(ForwardError::Failed(
                                self.name.clone(),
                                e.into_error().to_string(),
                            ))
                        }
                    },
                }
            }
        };
        let mut response = links
            .timer
            .timeout(self.timeout, exchange)
            .await
            .map_err(|_| ForwardError::Timeout(self.name.clone(), self.timeout))??;
        strip_hop_by_hop(response.headers_mut());
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_are_removed() {
        let mut h = HeaderMap::new();
        h.insert(
            "connection",
            HeaderValue::from_static("keep-alive, x-private"),
        );
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("x-private", HeaderValue::from_static("1"));
        h.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        h.insert("x-auth-token", HeaderValue::from_static("kept"));
        strip_hop_by_hop(&mut h);
        let names: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["x-auth-token"]);
    }

    #[test]
    fn every_connection_header_counts_and_a_name_that_is_no_header_name_is_ignored() {
        let mut h = HeaderMap::new();
        h.append("connection", HeaderValue::from_static("x-one, not a name"));
        h.append("connection", HeaderValue::from_static(" ,X-Two,"));
        h.insert("x-one", HeaderValue::from_static("1"));
        h.insert("x-two", HeaderValue::from_static("2"));
        h.insert("x-three", HeaderValue::from_static("kept"));
        strip_hop_by_hop(&mut h);
        let names: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["x-three"]);
    }
}
