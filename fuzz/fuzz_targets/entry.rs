//! Any bytes, at the gateway's front door: the whole request path (hyper's framing, the head checks, routing, the
//! three dialects' authentication, the idempotency layer, every route's handler on the embedded shop, the error
//! rendering) in one process, over loopback. The gateway must never panic (libFuzzer aborts on a panic in any
//! thread) and never answer 500; a well-formed request always gets an answer.
//!
//! Input: a selector byte, then either the raw bytes of a connection (selector % 4 == 0: framing, smuggling, heads
//! hyper refuses) or a request the target frames itself: a flags byte, the path after the dialect's root and its
//! query up to the first newline (bytes a request target cannot carry are percent-encoded), then the body.
#![no_main]

use std::net::SocketAddr;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

#[path = "gateway_harness.rs"]
mod gateway_harness;
use gateway_harness::{exchange, status_of};

struct Harness {
    addr: SocketAddr,
    /// A Commerce Layer access token for the shipped demo client.
    cl_token: String,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let addr = gateway_harness::serve(gateway_harness::shipped_config("entry"));
        Harness {
            addr,
            cl_token: gateway_harness::cl_token(addr),
        }
    })
}

/// `bytes` as a request target's characters: visible ASCII but `#` as is, everything else percent-encoded.
fn target_chars(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_graphic() && b != b'#' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn framed(h: &Harness, selector: u8, rest: &[u8]) -> Option<Vec<u8>> {
    let (&flags, rest) = rest.split_first()?;
    let (path, body) = match rest.iter().position(|&b| b == b'\n') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let method = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
        [usize::from(selector / 12) % 7];
    let (root, auth, media) = match (selector / 4) % 3 {
        // demo:demo-secret
        0 => (
            "/wp-json/fluent-cart/v2",
            "Authorization: Basic ZGVtbzpkZW1vLXNlY3JldA==\r\n".to_owned(),
            "application/json",
        ),
        1 => (
            "/api",
            format!("Authorization: Bearer {}\r\n", h.cl_token),
            "application/vnd.api+json",
        ),
        _ => (
            "/stores/demo/v2",
            "X-Auth-Token: demo-secret\r\nX-Auth-Client: demo\r\n".to_owned(),
            "application/json",
        ),
    };
    let mut head = format!(
        "{method} {root}{} HTTP/1.1\r\nHost: fuzz\r\n",
        target_chars(path)
    );
    if flags & 1 == 0 {
        head.push_str(&auth);
    }
    if flags & 2 != 0 {
        // Deterministic per input, so a repeated input replays its first answer.
        let key = body
            .iter()
            .chain(path)
            .fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
        head.push_str(&format!("Idempotency-Key: fuzz-{key:016x}\r\n"));
    }
    if flags & 4 == 0 {
        head.push_str(&format!("Content-Type: {media}\r\nAccept: {media}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    let mut request = head.into_bytes();
    request.extend_from_slice(body);
    Some(request)
}

fuzz_target!(|input: &[u8]| {
    let h = harness();
    let Some((&selector, rest)) = input.split_first() else {
        return;
    };
    if selector % 4 == 0 {
        // Raw bytes: hyper may refuse them or wait for more; the gateway must not fail itself.
        if let Ok(reply) = exchange(h.addr, rest) {
            assert_ne!(
                status_of(&reply),
                Some(500),
                "{}",
                String::from_utf8_lossy(&reply)
            );
        }
        return;
    }
    let Some(request) = framed(h, selector, rest) else {
        return;
    };
    let reply = exchange(h.addr, &request).expect("the gateway answers in time");
    let status = status_of(&reply).unwrap_or_else(|| {
        panic!(
            "no answer to a well-formed request: {:?}",
            String::from_utf8_lossy(&reply)
        )
    });
    assert_ne!(status, 500, "{}", String::from_utf8_lossy(&reply));
});
