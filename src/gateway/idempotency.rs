//! `Idempotency-Key` (draft-ietf-httpapi-idempotency-key-header): the key's format, and the request fingerprint
//! a stored response is bound to.

use http::HeaderMap;
use sha2::{Digest, Sha256};

use crate::canonical::{Problem, ProblemKind};

pub const HEADER: &str = "idempotency-key";
const MAX_KEY_LEN: usize = 255;

/// The key of a request, if it sent one. One header, a structured-field string (`"abc"`) or a bare token of
/// visible ASCII, 1..=255 characters.
pub fn key(headers: &HeaderMap) -> Result<Option<String>, Problem> {
    let mut values = headers.get_all(HEADER).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    let invalid = |why: &str| {
        Problem::new(
            ProblemKind::IdempotencyKeyInvalid,
            "",
            format!("Idempotency-Key {why}"),
        )
    };
    if values.next().is_some() {
        return Err(invalid("must be sent once"));
    }
    let text = first
        .to_str()
        .map_err(|_| invalid("must be visible ASCII"))?
        .trim();
    let key = match text.strip_prefix('"') {
        Some(rest) => rest
            .strip_suffix('"')
            .filter(|k| !k.contains('"') && !k.contains('\\'))
            .ok_or_else(|| invalid("is not a valid structured-field string"))?,
        None => text,
    };
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(invalid("must be 1 to 255 characters"));
    }
    if !key.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Err(invalid("must be visible ASCII"));
    }
    Ok(Some(key.to_owned()))
}

/// What makes two requests "the same request": method, path and body bytes.
pub fn fingerprint(method: &http::Method, path: &str, body: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(method.as_str().as_bytes());
    h.update([0]);
    h.update(path.as_bytes());
    h.update([0]);
    h.update(body);
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(HEADER, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn keys_are_validated() {
        assert_eq!(key(&with(&[])).unwrap(), None);
        assert_eq!(
            key(&with(&["\"8e03978e-40d5\""])).unwrap().as_deref(),
            Some("8e03978e-40d5")
        );
        assert_eq!(
            key(&with(&["plain-key"])).unwrap().as_deref(),
            Some("plain-key")
        );
        for bad in [vec!["\"\""], vec!["a", "b"], vec!["\"unterminated"]] {
            assert_eq!(
                key(&with(&bad)).unwrap_err().kind,
                ProblemKind::IdempotencyKeyInvalid
            );
        }
        let long = "k".repeat(256);
        assert!(key(&with(&[&long])).is_err());
    }

    #[test]
    fn fingerprints_differ_by_body() {
        let m = http::Method::POST;
        assert_eq!(fingerprint(&m, "/o", b"{}"), fingerprint(&m, "/o", b"{}"));
        assert_ne!(fingerprint(&m, "/o", b"{}"), fingerprint(&m, "/o", b"{ }"));
    }
}
