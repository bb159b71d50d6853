//! Lowercase hex for ids and digests made on hot paths (request ids, create stamps, replay document hashes), where
//! a `format!("{b:02x}")` per byte cost more than the rest of the work.

/// Appends `bytes` as lowercase hex digits, two per byte.
pub fn push_lower(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_two_digits_per_byte_after_what_is_there() {
        let mut out = String::from(">");
        push_lower(&mut out, &[0x00, 0x0f, 0xa0, 0xff]);
        assert_eq!(out, ">000fa0ff");
    }
}
