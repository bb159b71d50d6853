//! Fresh identifiers: the gateway's own (`ord_…`), and Commerce Layer-style ten-character ids.

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A random id of `len` letters and digits (Commerce Layer ids look like `wLkhVqPJgK`).
pub fn random_token(len: usize) -> String {
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for b in uuid::Uuid::new_v4().as_bytes() {
            // 62 × 4 = 248: rejecting 248..=255 keeps every character equally likely.
            if *b < 248 && out.len() < len {
                out.push(char::from(ALPHABET[usize::from(*b % 62)]));
            }
        }
    }
    out
}

/// A gateway id: a kind prefix and a UUID.
pub fn gateway_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_the_length_and_alphabet_asked() {
        let t = random_token(10);
        assert_eq!(t.len(), 10);
        assert!(t.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(random_token(10), t);
        assert!(gateway_id("ord").starts_with("ord_"));
    }
}
