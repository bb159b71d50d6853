//! Who is calling: one client identity presented the way each dialect's clients present it. FluentCart sends HTTP
//! Basic `id:secret` (a WordPress application password), Commerce Layer a bearer token from `/oauth/token`,
//! BigCommerce `X-Auth-Token: secret` under `/stores/{store_hash}`. Secrets are compared on digests in constant time
//! (`config::Secret`), and nothing here logs a credential.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, Mac};
use http::HeaderMap;
use serde_json::{json, Value};
use sha2::Sha256;

use crate::canonical::{Platform, Problem, ProblemKind, Timestamp};
use crate::config::{Client, Config};

type HmacSha256 = Hmac<Sha256>;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Commerce Layer clients derive the organization from the token (`organization.slug`) and the API domain from
/// `iss` (`https://auth.<domain>`).
const ORGANIZATION_SLUG: &str = "ordermux";
const ISSUER: &str = "https://auth.commercelayer.io";

fn unauthorized(reason: &str) -> Problem {
    Problem::new(ProblemKind::Unauthorized, "", reason)
}

/// Finds the configured client a request authenticates as, or a 401 in the caller's terms.
pub fn authenticate(
    dialect: Platform,
    config: &Config,
    tokens: &TokenIssuer,
    headers: &HeaderMap,
    store_hash: Option<&str>,
    now: Timestamp,
) -> Result<Arc<Client>, Problem> {
    match dialect {
        Platform::FluentCart => {
            let (user, password) = basic_credentials(headers).ok_or_else(|| {
                unauthorized("Sorry, you are not allowed to do that. Send the application password as HTTP Basic auth.")
            })?;
            let client = config.clients.iter().find(|c| c.id == user);
            // WordPress shows application passwords in groups separated by spaces and accepts them either way.
            let compact: String = password.chars().filter(|c| *c != ' ').collect();
            match client {
                Some(c) if c.secret.matches(&password) || c.secret.matches(&compact) => {
                    Ok(Arc::new(c.clone()))
                }
                _ => Err(unauthorized(
                    "The provided password is an invalid application password.",
                )),
            }
        }
        Platform::CommerceLayer => {
            let token = bearer_token(headers).ok_or_else(|| {
                unauthorized("Authorization header with a bearer token is required")
            })?;
            let client_id = tokens.verify(token, now)?;
            config
                .clients
                .iter()
                .find(|c| c.id == client_id)
                .map(|c| Arc::new(c.clone()))
                .ok_or_else(|| {
                    Problem::new(ProblemKind::InvalidToken, "", "The access token is invalid")
                })
        }
        Platform::BigCommerce => {
            let hash = store_hash.unwrap_or_default();
            let token = headers
                .get("x-auth-token")
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| unauthorized("You must provide an X-Auth-Token header."))?;
            match config
                .clients
                .iter()
                .find(|c| c.bigcommerce_store_hash == hash)
            {
                Some(c) if c.secret.matches(token) => Ok(Arc::new(c.clone())),
                _ => Err(unauthorized("The access token is invalid for this store.")),
            }
        }
    }
}

/// The `id:secret` pair of an HTTP Basic `Authorization` header (RFC 7617), if the request has one.
pub fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Issues and verifies Commerce Layer bearer tokens: HS256 JWTs signed with a key kept in the store, so tokens
/// outlive a restart and carry their own expiry.
#[derive(Clone)]
pub struct TokenIssuer {
    key: Arc<[u8; 32]>,
    ttl: Duration,
}

impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("key", &"[redacted]")
            .field("ttl", &self.ttl)
            .finish()
    }
}

/// A token grant's reply body fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    pub access_token: String,
    pub expires_in: u64,
    pub scope: String,
    pub created_at: i64,
}

impl TokenIssuer {
    pub fn new(key: [u8; 32], ttl: Duration) -> Self {
        TokenIssuer {
            key: Arc::new(key),
            ttl,
        }
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC takes keys of any length.
        HmacSha256::new_from_slice(&self.key[..]).unwrap_or_else(|_| unreachable!())
    }

    /// Checks client credentials (constant time on digests) and issues a token.
    pub fn grant(
        &self,
        config: &Config,
        client_id: &str,
        client_secret: Option<&str>,
        scope: Option<&str>,
        now: Timestamp,
    ) -> Result<Grant, Problem> {
        let client = config.clients.iter().find(|c| c.id == client_id);
        let ok = match (client, client_secret) {
            (Some(c), Some(secret)) => c.secret.matches(secret),
            _ => false,
        };
        if !ok {
            return Err(unauthorized("Client authentication failed"));
        }
        let scope = scope.unwrap_or("").to_owned();
        let ttl = self.ttl.as_secs();
        let iat = now.timestamp();
        let payload = json!({
            "organization": {"id": ORGANIZATION_SLUG, "slug": ORGANIZATION_SLUG, "enterprise": false},
            "application": {"id": client_id, "client_id": client_id, "kind": "integration", "public": false},
            "scope": scope,
            "sub": client_id,
            "iss": ISSUER,
            "iat": iat,
            "exp": iat.saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX)),
        });
        let header = B64.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let body = B64.encode(payload.to_string());
        let signing_input = format!("{header}.{body}");
        let mut mac = self.mac();
        mac.update(signing_input.as_bytes());
        let signature = B64.encode(mac.finalize().into_bytes());
        Ok(Grant {
            access_token: format!("{signing_input}.{signature}"),
            expires_in: ttl,
            scope,
            created_at: iat,
        })
    }

    /// The client id a token was issued to, if its signature holds and it has not expired.
    pub fn verify(&self, token: &str, now: Timestamp) -> Result<String, Problem> {
        let invalid = || Problem::new(ProblemKind::InvalidToken, "", "The access token is invalid");
        let mut parts = token.split('.');
        let (Some(header), Some(body), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid());
        };
        let signature = B64.decode(signature).map_err(|_| invalid())?;
        let mut mac = self.mac();
        mac.update(header.as_bytes());
        mac.update(b".");
        mac.update(body.as_bytes());
        mac.verify_slice(&signature).map_err(|_| invalid())?;
        let payload: Value = serde_json::from_slice(&B64.decode(body).map_err(|_| invalid())?)
            .map_err(|_| invalid())?;
        let exp = payload["exp"].as_i64().ok_or_else(invalid)?;
        if exp <= now.timestamp() {
            return Err(Problem::new(
                ProblemKind::TokenExpired,
                "",
                "The access token you provided is expired",
            ));
        }
        payload["sub"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn config() -> Config {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("gateway.toml");
        let mut c = Config::load(Some(&path)).unwrap();
        c.clients = vec![Client {
            id: "demo".into(),
            secret: Secret::new("demo-secret"),
            bigcommerce_store_hash: "demo".into(),
        }];
        c
    }

    fn at(secs: i64) -> Timestamp {
        chrono::DateTime::from_timestamp(secs, 0).unwrap()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn each_dialect_presents_the_same_identity() {
        let cfg = config();
        let tokens = TokenIssuer::new([1; 32], Duration::from_secs(60));
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("demo:demo-secret")
        );
        let fc = authenticate(
            Platform::FluentCart,
            &cfg,
            &tokens,
            &headers(&[("authorization", &basic)]),
            None,
            at(0),
        );
        assert_eq!(fc.unwrap().id, "demo");
        let bc = authenticate(
            Platform::BigCommerce,
            &cfg,
            &tokens,
            &headers(&[("x-auth-token", "demo-secret")]),
            Some("demo"),
            at(0),
        );
        assert_eq!(bc.unwrap().id, "demo");
        let grant = tokens
            .grant(&cfg, "demo", Some("demo-secret"), None, at(0))
            .unwrap();
        let bearer = format!("Bearer {}", grant.access_token);
        let cl = authenticate(
            Platform::CommerceLayer,
            &cfg,
            &tokens,
            &headers(&[("authorization", &bearer)]),
            None,
            at(10),
        );
        assert_eq!(cl.unwrap().id, "demo");
    }

    #[test]
    fn wrong_missing_expired_and_forged_credentials_are_refused() {
        let cfg = config();
        let tokens = TokenIssuer::new([1; 32], Duration::from_secs(60));
        assert!(tokens
            .grant(&cfg, "demo", Some("nope"), None, at(0))
            .is_err());
        let bc = authenticate(
            Platform::BigCommerce,
            &cfg,
            &tokens,
            &headers(&[("x-auth-token", "demo-secret")]),
            Some("other-store"),
            at(0),
        );
        assert_eq!(bc.unwrap_err().kind, ProblemKind::Unauthorized);
        let fc = authenticate(
            Platform::FluentCart,
            &cfg,
            &tokens,
            &HeaderMap::new(),
            None,
            at(0),
        );
        assert_eq!(fc.unwrap_err().kind, ProblemKind::Unauthorized);
        let grant = tokens
            .grant(&cfg, "demo", Some("demo-secret"), None, at(0))
            .unwrap();
        assert_eq!(
            tokens.verify(&grant.access_token, at(61)).unwrap_err().kind,
            ProblemKind::TokenExpired
        );
        let other = TokenIssuer::new([2; 32], Duration::from_secs(60));
        assert!(other.verify(&grant.access_token, at(1)).is_err());
    }
}
