//! A credential: kept only as its SHA-256 digest, compared in constant time, never printed.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A secret from configuration. Only the digest is kept, so a fixed-length constant-time comparison is possible
/// (`subtle` short-circuits on slices of different lengths) and no plaintext stays in memory after start-up.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    digest: [u8; 32],
}

impl Secret {
    pub fn new(plaintext: impl AsRef<[u8]>) -> Self {
        Secret {
            digest: Sha256::digest(plaintext.as_ref()).into(),
        }
    }

    /// Whether `candidate` is this secret, in time independent of where they differ.
    pub fn matches(&self, candidate: impl AsRef<[u8]>) -> bool {
        let other: [u8; 32] = Sha256::digest(candidate.as_ref()).into();
        self.digest.ct_eq(&other).into()
    }

    /// The digest, for deriving keys (never the plaintext).
    pub fn digest(&self) -> &[u8; 32] {
        &self.digest
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// A credential ordermux presents to an upstream shop: it must be kept in plain text to be sent, so it is never
/// printed (`Debug` shows `[redacted]`) and only leaves through `expose`, at the point a request header is built.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential(String);

impl Credential {
    pub fn new(value: impl Into<String>) -> Self {
        Credential(value.into())
    }

    /// The plain text, for building the one request header it belongs in.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credential([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_only_the_same_bytes() {
        let s = Secret::new("demo-secret");
        assert!(s.matches("demo-secret"));
        assert!(!s.matches("demo-secreT"));
        assert!(!s.matches(""));
        assert_eq!(format!("{s:?}"), "Secret([redacted])");
        let c = Credential::new("tok-123");
        assert_eq!(format!("{c:?}"), "Credential([redacted])");
        assert_eq!(c.expose(), "tok-123");
    }
}
