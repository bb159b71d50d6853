//! Transparent reverse proxy to an upstream shop: method, path, query, headers (minus hop-by-hop), and the body
//! streamed both ways; `X-Forwarded-For/-Proto/-Host` added. The upstream's base URL comes from configuration only.
//! No redirect is followed (a redirect is the upstream's reply, passed back as is).

use std::net::SocketAddr;
use std::time::Duration;

use http::header::{HeaderName, HeaderValue, CONNECTION, HOST};
use http::{HeaderMap, Request, Response, Uri};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::config::Backend;

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// An upstream shop reached by pass-through.
#[derive(Clone)]
pub struct Upstream {
    pub name: String,
    base: String,
    timeout: Duration,
    client: Client<Connector, Incoming>,
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

/// Headers that describe one hop, not the message (RFC 9110 §7.6.1), never forwarded.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn strip_hop_by_hop(headers: &mut HeaderMap) {
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
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

impl Upstream {
    pub fn new(backend: &Backend) -> Upstream {
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(backend.connect_timeout));
        http.set_nodelay(true);
        http.enforce_http(false);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build(https);
        Upstream {
            name: backend.name.clone(),
            base: backend.base_url.clone(),
            timeout: backend.timeout,
            client,
        }
    }

    /// Sends `req` to the upstream and returns its reply head with the body still streaming.
    pub async fn forward(
        &self,
        req: Request<Incoming>,
        peer: SocketAddr,
    ) -> Result<Response<Incoming>, ForwardError> {
        let (mut parts, body) = req.into_parts();
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        parts.uri = format!("{}{path}", self.base)
            .parse::<Uri>()
            .map_err(|e| ForwardError::Url(e.to_string()))?;
        parts.version = http::Version::HTTP_11;
        let original_host = parts.headers.remove(HOST);
        strip_hop_by_hop(&mut parts.headers);
        let forwarded_for = match parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
        {
            Some(prior) => format!("{prior}, {}", peer.ip()),
            None => peer.ip().to_string(),
        };
        if let Ok(v) = HeaderValue::from_str(&forwarded_for) {
            parts.headers.insert("x-forwarded-for", v);
        }
        parts
            .headers
            .insert("x-forwarded-proto", HeaderValue::from_static("http"));
        if let Some(host) = original_host {
            parts.headers.insert("x-forwarded-host", host);
        }
        let request = Request::from_parts(parts, body);
        let reply = tokio::time::timeout(self.timeout, self.client.request(request))
            .await
            .map_err(|_| ForwardError::Timeout(self.name.clone(), self.timeout))?;
        let mut response = reply.map_err(|e| {
            if e.is_connect() {
                ForwardError::Connect(self.name.clone(), e.to_string())
            } else {
                ForwardError::Failed(self.name.clone(), e.to_string())
            }
        })?;
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
}
