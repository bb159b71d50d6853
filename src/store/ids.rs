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

/// Digits in ASCII order, so that fixed-width numbers written with them sort as the numbers do.
const ORDERED_DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A Commerce Layer-style id for the object numbered `n` in its sequence: `n` as five base-62 digits (more once
/// `n` passes 62^5), then five random letters and digits. Unique wherever `n` is, and ids made later sort after
/// earlier ones, so a new one is added at the end of its unique index instead of on a random page of it (each
/// page a commit touches is written to the WAL and synced).
pub fn sequenced_token(n: u64) -> String {
    let mut digits = Vec::with_capacity(6);
    let mut rest = n;
    loop {
        digits.push(ORDERED_DIGITS[usize::try_from(rest % 62).unwrap_or(0)]);
        rest /= 62;
        if rest == 0 {
            break;
        }
    }
    while digits.len() < 5 {
        digits.push(b'0');
    }
    let mut out: String = digits.iter().rev().map(|&b| char::from(b)).collect();
    // The tail is for looks (Commerce Layer ids are ten alphanumerics) and keeps ids of different kinds with the
    // same number apart; it needs no secrecy. Drawing it from the OS cost a `getrandom` system call per id, on the
    // writer thread, so it comes from a SplitMix64 stream seeded once per process.
    let mut bits = next_cheap_random();
    for _ in 0..5 {
        out.push(char::from(
            ALPHABET[usize::try_from(bits % 62).unwrap_or(0)],
        ));
        bits /= 62;
    }
    out
}

/// The next number of a SplitMix64 stream whose start is drawn from the OS once per process. Not for secrets.
fn next_cheap_random() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    static STEP: AtomicU64 = AtomicU64::new(0);
    let seed = *SEED.get_or_init(|| {
        let (a, b) = uuid::Uuid::new_v4().as_u64_pair();
        a ^ b
    });
    let step = STEP.fetch_add(1, Ordering::Relaxed);
    mix(seed.wrapping_add(step.wrapping_mul(0x9E37_79B9_7F4A_7C15)))
}

/// SplitMix64's finaliser: every bit of the input moves about half the output's bits.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A gateway id: a kind prefix and a time-ordered UUID (version 7: the creation millisecond, then random bits), so
/// that ids made later sort after earlier ones and a new order's rows are added at the end of the indexes keyed
/// by its id (the orders' primary key, the id map's), not on a random page of each (each page a commit touches is
/// written to the WAL and synced).
pub fn gateway_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequenced_tokens_sort_as_their_numbers_and_stay_ten_alphanumerics() {
        let numbers = [0u64, 1, 9, 10, 61, 62, 3_843, 3_844, 916_132_831];
        let tokens: Vec<String> = numbers.iter().map(|n| sequenced_token(*n)).collect();
        for t in &tokens {
            assert_eq!(t.len(), 10, "{t}");
            assert!(t.bytes().all(|b| b.is_ascii_alphanumeric()), "{t}");
        }
        for pair in tokens.windows(2) {
            assert!(pair[0] < pair[1], "{} < {}", pair[0], pair[1]);
        }
        assert!(tokens[0].starts_with("00000"));
        assert!(tokens[5].starts_with("00010"), "62 is 10 in base 62");
        assert!(tokens[8].starts_with("zzzzz"), "62^5 - 1");
        // Past 62^5 - 1 the number takes a sixth digit.
        assert!(sequenced_token(916_132_832).starts_with("100000"));
    }

    #[test]
    fn sequenced_token_tails_vary_even_for_one_number() {
        // Two kinds' sequences give the same numbers: their ids still differ, by the tail.
        let tails: std::collections::HashSet<String> = (0..1_000)
            .map(|_| sequenced_token(1)[5..].to_owned())
            .collect();
        // 62^5 tails: more than a few repeats in a thousand would mean the tail is not drawn afresh.
        assert!(tails.len() > 990, "{} distinct tails", tails.len());
    }

    #[test]
    fn gateway_ids_made_later_sort_after_earlier_ones() {
        let ids: Vec<String> = (0..2_000).map(|_| gateway_id("ord")).collect();
        for pair in ids.windows(2) {
            assert!(pair[0] < pair[1], "{} < {}", pair[0], pair[1]);
        }
        // "ord_", then 32 hex digits.
        assert!(ids
            .iter()
            .all(|id| id.len() == 36 && id[4..].bytes().all(|b| b.is_ascii_hexdigit())));
    }

    #[test]
    fn tokens_have_the_length_and_alphabet_asked() {
        let t = random_token(10);
        assert_eq!(t.len(), 10);
        assert!(t.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(random_token(10), t);
        assert!(gateway_id("ord").starts_with("ord_"));
    }
}
