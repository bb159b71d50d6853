//! Any bytes, at the gateway's front door: the whole request path (hyper's framing, the head checks, routing, the
//! three dialects' authentication, the idempotency layer, every route's handler on the embedded shop, the error
//! rendering) in one process, over loopback. The gateway must never panic (libFuzzer aborts on a panic in any
//! thread) and never answer 500; a well-formed request always gets an answer.
//!
//! Input: a selector byte, then either the raw bytes of a connection (selector % 4 == 0: framing, smuggling, heads
//! hyper refuses) or a request the target frames itself: a flags byte, the path after the dialect's root and its
//! query up to the first newline (bytes a request target cannot carry are percent-encoded), then the body.
#![no_main]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use ordermux::config::Config;
use ordermux::gateway::{self, Gateway};

struct Harness {
    addr: SocketAddr,
    /// A Commerce Layer access token for the shipped demo client.
    cl_token: String,
}

/// The shipped `gateway.toml` (embedded shop, demo client), in a data directory of this process's own, without the
/// per-client request quota and the lockout after failed authentications: a fuzzer sends far more requests, most
/// of them refused, than a caller would.
fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../gateway.toml");
        let mut config = Config::load(Some(&shipped)).expect("the shipped gateway.toml loads");
        let dir = std::env::temp_dir().join(format!("ordermux-fuzz-entry-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a data directory");
        config.server.data_dir = dir;
        config.server.listen = "127.0.0.1:0".parse().expect("an address");
        config.server.rate_limit_quota = u32::MAX;
        config.server.auth_failure_limit = 0;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("a runtime");
            rt.block_on(async move {
                let gw = Gateway::open(config).await.expect("the gateway opens");
                let listener = gateway::bind(&gw, "127.0.0.1:0".parse().expect("an address"))
                    .await
                    .expect("binds loopback");
                tx.send(listener.local_addr().expect("bound")).expect("the fuzzer waits");
                gateway::serve(gw, listener, std::future::pending())
                    .await
                    .expect("serves");
            });
        });
        let addr = rx.recv().expect("the gateway started");
        let body = br#"{"grant_type":"client_credentials","client_id":"demo","client_secret":"demo-secret"}"#;
        let mut head = format!(
            "POST /oauth/token HTTP/1.1\r\nHost: fuzz\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        head.extend_from_slice(body);
        let reply = exchange(addr, &head).expect("the token endpoint answers");
        let text = String::from_utf8_lossy(&reply);
        let json = &text[text.find("\r\n\r\n").expect("a head") + 4..];
        let token: serde_json::Value = serde_json::from_str(json).expect("a JSON token reply");
        let cl_token = token["access_token"]
            .as_str()
            .expect("a token is issued")
            .to_owned();
        Harness { addr, cl_token }
    })
}

/// Sends `request` on a new connection, closes the sending side, and reads until the gateway closes.
fn exchange(addr: SocketAddr, request: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    stream.set_write_timeout(Some(Duration::from_secs(20)))?;
    // The gateway may answer and close before it has read everything (a refused head): a failed write is fine.
    let _ = stream.write_all(request);
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut reply = Vec::new();
    match stream.read_to_end(&mut reply) {
        Ok(_) => Ok(reply),
        // A reset after the answer (the gateway closed with unread bytes) still leaves the answer read.
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => Ok(reply),
        Err(e) => Err(e),
    }
}

/// The status of the first answer in `reply`, if it holds one.
fn status_of(reply: &[u8]) -> Option<u16> {
    let line = reply.strip_prefix(b"HTTP/1.1 ")?;
    std::str::from_utf8(line.get(..3)?).ok()?.parse().ok()
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
    let mut head = format!("{method} {root}{} HTTP/1.1\r\nHost: fuzz\r\n", target_chars(path));
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
            assert_ne!(status_of(&reply), Some(500), "{}", String::from_utf8_lossy(&reply));
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
