//! `ordermux serve` and `ordermux check-config` through the built binary: start-up, JSON logs without secrets,
//! graceful shutdown on SIGTERM, and the configuration checks.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::root;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ordermux"));
    c.current_dir(root());
    c
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ordermux-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A raw HTTP/1.1 exchange (the test needs nothing more and stays synchronous).
fn http(addr: &str, request: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn serve_logs_json_without_secrets_and_stops_cleanly_on_sigterm() {
    let dir = temp_dir("serve");
    let mut child = bin()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--data-dir",
        ])
        .arg(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    let health = http(
        &addr,
        "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let orders = http(
        &addr,
        "GET /stores/demo/v2/order_statuses HTTP/1.1\r\nHost: t\r\nX-Auth-Token: demo-secret\r\nConnection: close\r\n\r\n",
    );
    assert!(orders.starts_with("HTTP/1.1 200"), "{orders}");
    let denied = http(
        &addr,
        "GET /wp-json/fluent-cart/v2/orders HTTP/1.1\r\nHost: t\r\nAuthorization: Basic ZGVtbzp3cm9uZy1zZWNyZXQ=\r\nConnection: close\r\n\r\n",
    );
    assert!(denied.starts_with("HTTP/1.1 401"), "{denied}");

    let pid = child.id().to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(status.success());
    let started = Instant::now();
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "server did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit:?}");
    let mut logs = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    let mut served = 0;
    for l in logs.lines() {
        let v: serde_json::Value =
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {l}"));
        if v["message"] == "request served" {
            served += 1;
            assert!(
                v["span"]["dialect"].is_string() || v["dialect"].is_string(),
                "{l}"
            );
        }
    }
    assert_eq!(served, 3, "{logs}");
    for secret in [
        "demo-secret",
        "d3Jvbmctc2VjcmV0",
        "wrong-secret",
        "ZGVtbzp3cm9uZy1zZWNyZXQ=",
    ] {
        assert!(
            !logs.contains(secret),
            "a credential reached the logs: {secret}"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn check_config_reports_every_problem_and_the_demo_credential_rule() {
    let ok = bin().args(["check-config"]).output().unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );

    let dir = temp_dir("check");
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "[defaults]\ncurrency = \"usd\"\n[server]\nlisten = \"nowhere\"\n[catalog]\nfile = \"missing.toml\"\n",
    )
    .unwrap();
    let out = bin()
        .args(["check-config", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for key in ["defaults.currency", "server.listen", "catalog.file"] {
        assert!(err.contains(key), "{key} not reported: {err}");
    }

    // The demo credential on a public address: check-config says so and serve refuses to start.
    let out = bin()
        .args(["check-config"])
        .env("ORDERMUX__SERVER__LISTEN", "0.0.0.0:18089")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("demo"));
    let out = bin()
        .args(["serve", "--listen", "0.0.0.0:0", "--data-dir"])
        .arg(dir.join("data"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("refusing"));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_client_that_never_finishes_its_headers_is_cut_off() {
    let dir = temp_dir("slowloris");
    let mut child = bin()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&dir)
        .env("ORDERMUX__SERVER__HEADER_READ_TIMEOUT_SECS", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .trim_start_matches("listening on http://")
        .to_owned();
    let mut s = TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: ")
        .unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    // The server answers 408 or closes; either way the read ends well before our own 10 s timeout.
    let _ = s.read_to_end(&mut buf);
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(8),
        "connection held for {waited:?}"
    );
    let text = String::from_utf8_lossy(&buf);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 408"),
        "{text}"
    );
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(dir);
}
