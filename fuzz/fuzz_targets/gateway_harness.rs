//! What the fuzz targets that drive a whole gateway share: the gateway itself, running in the fuzzer's process on
//! loopback, and plain HTTP/1.1 exchanges with it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use ordermux::config::Config;
use ordermux::gateway::{self, Gateway};

/// The shipped `gateway.toml` (embedded shop, demo client) in a data directory of this process's own
/// (`ordermux-fuzz-<target>-<pid>` in the temporary directory; those of ended processes are removed), without the
/// per-client request quota and the lockout after failed authentications: a fuzzer sends far more requests, most of
/// them refused, than a caller would.
pub fn shipped_config(target: &str) -> Config {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../gateway.toml");
    let mut config = Config::load(Some(&shipped)).expect("the shipped gateway.toml loads");
    let prefix = format!("ordermux-fuzz-{target}-");
    let temp = std::env::temp_dir();
    if let Ok(entries) = std::fs::read_dir(&temp) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let ended = name
                .strip_prefix(&prefix)
                .and_then(|pid| pid.parse::<u32>().ok())
                .is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists());
            if ended {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    let dir = temp.join(format!("{prefix}{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a data directory");
    config.server.data_dir = dir;
    config.server.listen = "127.0.0.1:0".parse().expect("an address");
    config.server.rate_limit_quota = u32::MAX;
    config.server.auth_failure_limit = 0;
    config
}

/// Runs `config`'s gateway on a runtime thread of its own (one worker, as a `serve` worker) and returns its address.
pub fn serve(config: Config) -> SocketAddr {
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
            tx.send(listener.local_addr().expect("bound"))
                .expect("the fuzzer waits");
            gateway::serve(gw, listener, std::future::pending())
                .await
                .expect("serves");
        });
    });
    rx.recv().expect("the gateway started")
}

/// A Commerce Layer access token for the shipped demo client.
pub fn cl_token(addr: SocketAddr) -> String {
    let body =
        br#"{"grant_type":"client_credentials","client_id":"demo","client_secret":"demo-secret"}"#;
    let mut request = format!(
        "POST /oauth/token HTTP/1.1\r\nHost: fuzz\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    let reply = exchange(addr, &request).expect("the token endpoint answers");
    let text = String::from_utf8_lossy(&reply);
    let json = &text[text.find("\r\n\r\n").expect("a head") + 4..];
    let token: serde_json::Value = serde_json::from_str(json).expect("a JSON token reply");
    token["access_token"]
        .as_str()
        .expect("a token is issued")
        .to_owned()
}

/// Sends `request` on a new connection, shuts the sending side (the gateway answers a half-closed connection),
/// and reads until the gateway closes.
pub fn exchange(addr: SocketAddr, request: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(25)))?;
    stream.set_write_timeout(Some(Duration::from_secs(25)))?;
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
pub fn status_of(reply: &[u8]) -> Option<u16> {
    let line = reply.strip_prefix(b"HTTP/1.1 ")?;
    std::str::from_utf8(line.get(..3)?).ok()?.parse().ok()
}
