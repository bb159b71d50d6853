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

/// A FluentCart request with the demo client's name and a wrong secret: 401.
const WRONG_SECRET: &str = "GET /wp-json/fluent-cart/v2/orders HTTP/1.1\r\nHost: t\r\nAuthorization: Basic ZGVtbzp3cm9uZy1zZWNyZXQ=\r\nConnection: close\r\n\r\n";

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
    let (mut child, addr) = serving_with_json_logs(&dir);
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
    let denied = http(&addr, WRONG_SECRET);
    assert!(denied.starts_with("HTTP/1.1 401"), "{denied}");

    let logs = stop_with_sigterm(&mut child);
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

/// The reliability plan's secret canaries (§7.2): unique values planted in the callers' secret, each upstream's
/// credentials (a BigCommerce token, a Commerce Layer client secret, a FluentCart application password) and a
/// card-like number in order fields; `serve` logging everything it can (`RUST_LOG=trace`) while callers of each
/// dialect create orders on shops of other platforms, are refused (wrong secret, an undecodable body, a shop
/// failing with 500 or refusing with 422). None of the values shows in the log, in `/metrics` or in an error body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_secrets_never_reach_logs_metrics_or_error_bodies() {
    use crate::fakes::bigcommerce::BigCommerceFake;
    use crate::fakes::commercelayer::CommerceLayerFake;
    use crate::fakes::fluentcart::FluentCartFake;
    use crate::fakes::{Fake, Fault};
    use base64::Engine as _;

    const CALLER_SECRET: &str = "canary-caller-secret-7f3a";
    const BIGCOMMERCE_TOKEN: &str = "canary-bc-token-91e2";
    const COMMERCELAYER_SECRET: &str = "canary-cl-secret-44b0";
    const FLUENTCART_PASSWORD: &str = "canary-fc-pass-d81c";
    const CARD: &str = "4111111111111111";
    let basic = |user: &str, password: &str| {
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    };

    let bc = Fake::start(BigCommerceFake::new("up", BIGCOMMERCE_TOKEN).with_product(
        111,
        "T-shirt, black, M",
        "TSHIRT-BLK-M",
        "25.00",
    ))
    .await;
    let cl = Fake::start(CommerceLayerFake::new("cl-client", COMMERCELAYER_SECRET)).await;
    let fc = Fake::start(FluentCartFake::new("fc-user", FLUENTCART_PASSWORD)).await;
    let dir = temp_dir("canaries");
    let config = config_with(
        &dir,
        &format!(
            r#"
[[clients]]
id = "canary"
secret_env = "ORDERMUX_TEST_CANARY_SECRET"
bigcommerce_store_hash = "to-cl"

[[clients]]
id = "canary-fc"
secret_env = "ORDERMUX_TEST_CANARY_SECRET"
bigcommerce_store_hash = "to-fc"

[[backends]]
name = "bc"
type = "bigcommerce"
base_url = "{}"
store_hash = "up"
credentials = {{ token_env = "ORDERMUX_TEST_CANARY_BC_TOKEN" }}

[[backends]]
name = "cl"
type = "commercelayer"
base_url = "{}"
credentials = {{ client_id_env = "ORDERMUX_TEST_CANARY_CL_ID", client_secret_env = "ORDERMUX_TEST_CANARY_CL_SECRET" }}
markets = {{ USD = "mkt_usd" }}

[[backends]]
name = "fc"
type = "fluentcart"
base_url = "{}"
credentials = {{ username_env = "ORDERMUX_TEST_CANARY_FC_USER", password_env = "ORDERMUX_TEST_CANARY_FC_PASSWORD" }}

[[routes]]
dialect = "fluentcart"
backend = "bc"

[[routes]]
dialect = "bigcommerce"
store_hash = "to-cl"
backend = "cl"

[[routes]]
dialect = "bigcommerce"
store_hash = "to-fc"
backend = "fc"
"#,
            bc.base_url(),
            cl.base_url(),
            fc.base_url()
        ),
    );
    let (mut child, addr) = listening(
        bin()
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--log-format",
                "json",
                "--config",
            ])
            .arg(&config)
            .arg("--data-dir")
            .arg(dir.join("data"))
            .env("RUST_LOG", "trace")
            .env("ORDERMUX_TEST_CANARY_SECRET", CALLER_SECRET)
            .env("ORDERMUX_TEST_CANARY_BC_TOKEN", BIGCOMMERCE_TOKEN)
            .env("ORDERMUX_TEST_CANARY_CL_ID", "cl-client")
            .env("ORDERMUX_TEST_CANARY_CL_SECRET", COMMERCELAYER_SECRET)
            .env("ORDERMUX_TEST_CANARY_FC_USER", "fc-user")
            .env("ORDERMUX_TEST_CANARY_FC_PASSWORD", FLUENTCART_PASSWORD)
            .stderr(Stdio::piped()),
    );
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let address = |email: &str| {
        serde_json::json!({"first_name": "Jane", "last_name": "Doe", "street_1": "1 Main St", "city": "Austin",
            "state": "Texas", "zip": "78701", "country": "United States", "country_iso2": "US",
            "email": email, "phone": "+1 512 555 0100"})
    };
    let bigcommerce_order = |email: &str| {
        serde_json::json!({"billing_address": address(email), "shipping_addresses": [address(email)],
            "customer_message": format!("card {CARD}"), "staff_notes": format!("paid with {CARD}"),
            "products": [{"product_id": 111, "quantity": 1}]})
    };
    let fluentcart = |secret: &str, body: serde_json::Value| {
        http.post(format!("http://{addr}/wp-json/fluent-cart/v2/orders"))
            .header(
                "authorization",
                format!("Basic {}", basic("canary", secret)),
            )
            .json(&body)
            .send()
    };
    let bigcommerce = |hash: &str, secret: &str, body: serde_json::Value| {
        http.post(format!("http://{addr}/stores/{hash}/v2/orders"))
            .header("x-auth-token", secret)
            .json(&body)
            .send()
    };
    let fluentcart_order = serde_json::json!({"currency": "USD",
        "customer": {"email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace"},
        "billing_address": {"first_name": "Ada", "last_name": "Lovelace", "address_1": "1 Main St",
            "city": "Austin", "state": "TX", "postcode": "78701", "country": "US", "email": "ada@example.com"},
        "order_items": [{"object_id": 1001, "quantity": 1}], "note": format!("card {CARD}")});

    let mut error_bodies = Vec::new();
    async fn expect(
        status: u16,
        sent: impl std::future::Future<Output = reqwest::Result<reqwest::Response>>,
        what: &str,
    ) -> String {
        let r = sent.await.unwrap();
        let got = r.status().as_u16();
        let body = r.text().await.unwrap();
        assert_eq!(got, status, "{what}: {body}");
        body
    }
    // Created on each shop.
    expect(
        200,
        fluentcart(CALLER_SECRET, fluentcart_order.clone()),
        "FluentCart caller on BigCommerce",
    )
    .await;
    expect(
        201,
        bigcommerce(
            "to-cl",
            CALLER_SECRET,
            bigcommerce_order("jane@example.com"),
        ),
        "BigCommerce caller on Commerce Layer",
    )
    .await;
    expect(
        201,
        bigcommerce(
            "to-fc",
            CALLER_SECRET,
            bigcommerce_order("jane@example.com"),
        ),
        "BigCommerce caller on FluentCart",
    )
    .await;
    // Refused: a wrong secret, a card number where an e-mail goes, a shop failing, a shop refusing.
    error_bodies.push(
        expect(
            401,
            fluentcart("not-the-secret", fluentcart_order.clone()),
            "wrong secret",
        )
        .await,
    );
    error_bodies.push(
        expect(
            422,
            bigcommerce("to-cl", CALLER_SECRET, bigcommerce_order(CARD)),
            "a card number as the e-mail",
        )
        .await,
    );
    bc.fail(Some("POST"), Some("/orders"), Fault::Status(500), 1);
    error_bodies.push(
        expect(
            502,
            fluentcart(CALLER_SECRET, fluentcart_order.clone()),
            "the shop failing",
        )
        .await,
    );
    bc.fail(Some("POST"), Some("/orders"), Fault::Status(422), 1);
    error_bodies.push(
        expect(
            422,
            fluentcart(CALLER_SECRET, fluentcart_order.clone()),
            "the shop refusing",
        )
        .await,
    );
    let metrics = metrics_of(&http, &addr).await;
    let logs = stop_with_sigterm(&mut child);
    assert!(logs.lines().count() > 20, "trace logging ran: {logs}");

    let planted = [
        CALLER_SECRET.to_owned(),
        basic("canary", CALLER_SECRET),
        BIGCOMMERCE_TOKEN.to_owned(),
        COMMERCELAYER_SECRET.to_owned(),
        FLUENTCART_PASSWORD.to_owned(),
        basic("fc-user", FLUENTCART_PASSWORD),
        CARD.to_owned(),
    ];
    for (place, text) in [("the log", &logs), ("/metrics", &metrics)]
        .into_iter()
        .chain(error_bodies.iter().map(|b| ("an error body", b)))
    {
        for value in &planted {
            assert!(!text.contains(value.as_str()), "{value} in {place}: {text}");
        }
        // Nor a bearer token of any kind (the Commerce Layer token ordermux was given).
        assert!(!text.contains("Bearer "), "a bearer token in {place}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// The Prometheus text of the gateway at `addr`.
async fn metrics_of(http: &reqwest::Client, addr: &str) -> String {
    let reply = http.get(format!("http://{addr}/metrics")).send().await;
    reply.unwrap().text().await.unwrap()
}

/// `serve` on the shipped configuration with `dir` as its data directory, logging JSON lines to a pipe.
fn serving_with_json_logs(dir: &std::path::Path) -> (std::process::Child, String) {
    listening(
        bin()
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--log-format",
                "json",
                "--data-dir",
            ])
            .arg(dir)
            .stderr(Stdio::piped()),
    )
}

/// Sends SIGTERM to a serving child and waits (at most 20 s) for it to stop cleanly; answers its log (stderr).
fn stop_with_sigterm(child: &mut std::process::Child) -> String {
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
    logs
}

/// An address locked out for guessing credentials is logged as its network: a caller's address is personal data,
/// and no log line names one.
#[test]
fn a_lockout_is_logged_with_the_callers_network_not_its_address() {
    let dir = temp_dir("lockout-log");
    let (mut child, addr) = serving_with_json_logs(&dir);
    // The shipped limit: 10 failed authentications a minute.
    for _ in 0..10 {
        let denied = http(&addr, WRONG_SECRET);
        assert!(denied.starts_with("HTTP/1.1 401"), "{denied}");
    }
    let locked = http(
        &addr,
        "GET /wp-json/fluent-cart/v2/orders HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert!(locked.starts_with("HTTP/1.1 429"), "{locked}");
    let logs = stop_with_sigterm(&mut child);
    let lockouts: Vec<serde_json::Value> = logs
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["message"] == "address locked out after failed authentications")
        .collect();
    assert_eq!(lockouts.len(), 1, "{logs}");
    assert_eq!(lockouts[0]["network"], "127.0.0.0/24", "{logs}");
    // The caller's address is the listening one here: only the line saying where ordermux listens may name it.
    for l in logs.lines().filter(|l| l.contains("127.0.0.1")) {
        assert!(l.contains(&addr), "a caller's address in the log: {l}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// Started where there is no `gateway.toml` (and without `--config`), serve runs on the built-in defaults, which
/// have no API client: it says both, rather than answering 401 to everything without a word.
#[test]
fn serve_without_a_configuration_says_so() {
    let dir = temp_dir("no-config");
    let (mut child, _addr) = listening(
        bin()
            .current_dir(&dir)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir", "data"])
            .env("RUST_LOG", "warn")
            .stderr(Stdio::piped()),
    );
    let _ = child.kill();
    let mut said = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut said)
        .unwrap();
    let _ = child.wait();
    assert!(
        said.contains("no gateway.toml in the working directory"),
        "{said}"
    );
    assert!(said.contains("no API clients configured"), "{said}");
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

    // A backend's host name is resolved as serving would: one that does not resolve here (RFC 6761 `.invalid`)
    // is noted and not judged; an address and localhost are taken as written.
    let upstreams = dir.join("upstreams.toml");
    std::fs::write(
        &upstreams,
        r#"
[[clients]]
id = "c"
secret = "a-long-enough-secret"

[[backends]]
name = "named"
type = "fluentcart"
base_url = "https://shop.invalid"

[[backends]]
name = "local"
type = "fluentcart"
base_url = "http://localhost:9"

[[backends]]
name = "address"
type = "fluentcart"
base_url = "http://10.1.2.3:9"
"#,
    )
    .unwrap();
    let out = bin()
        .args(["check-config", "--config"])
        .arg(&upstreams)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains("note: backends[0].base_url: shop.invalid") && said.contains("not checked"),
        "{said}"
    );
    assert!(
        !said.contains("backends[1]") && !said.contains("backends[2]"),
        "{said}"
    );
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

/// Starts `ordermux serve` with `config` on `data_dir`; answers the child and its address.
fn start_serving(
    config: &std::path::Path,
    data_dir: &std::path::Path,
) -> (std::process::Child, String) {
    listening(
        bin()
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(config)
            .arg("--data-dir")
            .arg(data_dir)
            .env("RUST_LOG", "warn")
            .stderr(Stdio::null()),
    )
}

/// Spawns `serve` and reads the address it listens on from its first line.
fn listening(serve: &mut Command) -> (std::process::Child, String) {
    let mut child = serve.stdout(Stdio::piped()).spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    (child, addr)
}

/// The shipped configuration (catalog by absolute path) plus `extra`, written beside the data directory.
fn config_with(dir: &std::path::Path, extra: &str) -> std::path::PathBuf {
    let shipped = std::fs::read_to_string(root().join("gateway.toml")).unwrap();
    let catalog = root().join("catalog.toml");
    let text = shipped.replacen(
        "file = \"catalog.toml\"",
        &format!("file = {:?}", catalog.display().to_string()),
        1,
    );
    assert_ne!(text, shipped, "the shipped catalog line moved");
    let path = dir.join("gateway.toml");
    std::fs::write(&path, format!("{text}\n{extra}")).unwrap();
    path
}

/// A configuration for `dir` whose BigCommerce callers on store `demo` are translated to the BigCommerce shop
/// at `base_url` (store `up`), with `limits` (backend keys) added.
fn routed_to_bigcommerce(
    dir: &std::path::Path,
    base_url: &str,
    limits: &str,
) -> std::path::PathBuf {
    std::fs::write(dir.join("token"), "up-token").unwrap();
    std::fs::write(dir.join("client"), "up-client").unwrap();
    config_with(
        dir,
        &format!(
            r#"
[[backends]]
name = "up"
type = "bigcommerce"
base_url = "{base_url}"
store_hash = "up"
credentials = {{ token_file = "token", client_id_file = "client" }}
{limits}

[[routes]]
dialect = "bigcommerce"
store_hash = "demo"
backend = "up"
mode = "translate"
"#
        ),
    )
}

/// A BigCommerce fake (store `up`), and a configuration in a fresh directory `name` that translates BigCommerce
/// callers on store `demo` to it, with `limits` added to the backend.
async fn behind_bigcommerce(
    name: &str,
    limits: &str,
) -> (
    crate::fakes::Fake<crate::fakes::bigcommerce::BigCommerceFake>,
    std::path::PathBuf,
    std::path::PathBuf,
) {
    let fake = crate::fakes::Fake::start(
        crate::fakes::bigcommerce::BigCommerceFake::new("up", "up-token")
            .with_client_id("up-client"),
    )
    .await;
    let dir = temp_dir(name);
    let config = routed_to_bigcommerce(&dir, &fake.base_url(), limits);
    (fake, dir, config)
}

/// A BigCommerce create under Idempotency-Key `key`, to the gateway at `addr`.
fn send_create(
    http: &reqwest::Client,
    addr: &str,
    key: &str,
) -> impl std::future::Future<Output = reqwest::Result<reqwest::Response>> {
    http.post(format!("http://{addr}/stores/demo/v2/orders"))
        .header("x-auth-token", "demo-secret")
        .header("idempotency-key", key)
        .json(&serde_json::json!({
            "billing_address": {"first_name": "Kim", "last_name": "Lee", "street_1": "1 Main St",
                "city": "Austin", "state": "Texas", "zip": "78701", "country": "United States",
                "country_iso2": "US", "email": "kim@example.com"},
            "products": [{"name": "Gift wrap", "quantity": 2, "price_inc_tax": 5, "price_ex_tax": 5}]
        }))
        .send()
}

/// Sends a create under `key` to a gateway started on `config` and `data` while the upstream's next order POST
/// meets `fault`, waits (at most 20 s) until `reached` says the upstream has it, then kills the gateway (SIGKILL
/// on Unix). The caller it cut off must have got no answer.
async fn create_cut_off_by_sigkill(
    fake: &crate::fakes::Fake<crate::fakes::bigcommerce::BigCommerceFake>,
    (config, data): (&std::path::Path, &std::path::Path),
    key: &str,
    fault: crate::fakes::Fault,
    reached: impl Fn() -> bool,
) {
    fake.fail(Some("POST"), Some("/orders"), fault, 1);
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let (mut child, addr) = start_serving(config, data);
    let cut_off = tokio::spawn(send_create(&http, &addr, key));
    let started = Instant::now();
    while !reached() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the create never reached the upstream"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        cut_off.await.unwrap().is_err(),
        "the first caller got no answer"
    );
}

/// Sends the create under `key` until it is answered 201, waiting while the gateway says an earlier attempt may
/// still land (409); at most until `deadline`. `context` goes with any failure.
async fn create_until_answered(
    http: &reqwest::Client,
    addr: &str,
    key: &str,
    deadline: Instant,
    context: &str,
) -> serde_json::Value {
    loop {
        let r = send_create(http, addr, key).await.unwrap();
        let status = r.status().as_u16();
        let doc: serde_json::Value = r.json().await.unwrap();
        match status {
            201 => return doc,
            409 => tokio::time::sleep(Duration::from_millis(250)).await,
            _ => panic!("{context}: {status} {doc}"),
        }
        assert!(Instant::now() < deadline, "{context}: still not answered");
    }
}

/// F10 of the reliability plan over HTTP: the gateway is killed (SIGKILL) after it sent a create upstream and
/// before it answered. The caller's retry with the same Idempotency-Key, to the restarted gateway, gets the order
/// the upstream made (found by the key stamped on it, not sent again), where it used to get "still in flight"
/// until the key expired, a day later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_cut_off_by_sigkill_is_finished_by_the_retry_after_a_restart() {
    use crate::fakes::Fault;

    let (fake, dir, config) = behind_bigcommerce(
        "sigkill-create",
        "timeout_ms = 20000\ntotal_timeout_ms = 30000",
    )
    .await;
    let data = dir.join("data");
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let create = |addr: &str| send_create(&http, addr, "cut-off-1");

    // The upstream makes the order, then takes its time answering: the gateway is killed meanwhile.
    create_cut_off_by_sigkill(
        &fake,
        (&config, &data),
        "cut-off-1",
        Fault::DelayAfter(Duration::from_secs(30)),
        || fake.with(|f| f.order_count()) > 0,
    )
    .await;

    let (mut child, addr) = start_serving(&config, &data);
    let retried = create(&addr).await.unwrap();
    let status = retried.status().as_u16();
    let order: serde_json::Value = retried.json().await.unwrap();
    assert_eq!(status, 201, "{order}");
    assert_eq!(
        fake.with(|f| f.order_count()),
        1,
        "one order upstream, not two"
    );
    assert_eq!(order["billing_address"]["email"], "kim@example.com");
    // From now on the key replays that answer.
    let again = create(&addr).await.unwrap();
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: serde_json::Value = again.json().await.unwrap();
    assert_eq!(again["id"], order["id"]);

    // One serving process per data directory: a second is refused while the first runs.
    let refused = bin()
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("is being served by another ordermux process"),
        "{said}"
    );

    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(dir);
}

/// F10 before the shop acted: the gateway is killed (SIGKILL) after it sent a create that the upstream acts on
/// only later. The first attempt's window (counted from its start: its total timeout plus the settle time, over a
/// minute here) no longer applies once its process is gone, since a stopped process sends nothing more: the retry
/// to the restarted gateway is told to come back within the settle time, and then gets the order that landed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_a_crash_waits_the_settle_time_not_the_crashed_attempts_whole_window() {
    use crate::fakes::Fault;

    let (fake, dir, config) = behind_bigcommerce(
        "sigkill-late",
        "timeout_ms = 20000\ntotal_timeout_ms = 60000\nsettle_ms = 3000",
    )
    .await;
    let data = dir.join("data");
    let http = reqwest::Client::builder().no_proxy().build().unwrap();

    // The upstream takes the create and acts on it 1.5 s later, whoever still waits; the gateway is killed as
    // soon as the create arrived.
    let started = Instant::now();
    create_cut_off_by_sigkill(
        &fake,
        (&config, &data),
        "crashed-early",
        Fault::Late(Duration::from_millis(1500)),
        || fake.faults_left() == 0,
    )
    .await;
    let lands = started + Duration::from_millis(1500);

    let (mut child, addr) = start_serving(&config, &data);
    let first = send_create(&http, &addr, "crashed-early").await.unwrap();
    if Instant::now() < lands {
        // The order has not landed yet: the retry is asked to wait, no longer than the settle time.
        assert_eq!(first.status().as_u16(), 409);
        let wait: u64 = first.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=3).contains(&wait), "Retry-After: {wait}");
    }
    let answered = create_until_answered(
        &http,
        &addr,
        "crashed-early",
        Instant::now() + Duration::from_secs(20),
        "after the restart",
    )
    .await;
    assert_eq!(answered["billing_address"]["email"], "kim@example.com");
    assert_eq!(fake.with(|f| f.order_count()), 1, "one order upstream");

    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(dir);
}

/// F10 at random points. Each round sends a create under a new key and kills the gateway (SIGKILL) after a random
/// pause: before the create went out, while the upstream works on it (acting after a random delay, whether or
/// not anyone still waits), or after it answered. The restarted gateway is sent the same create until it answers
/// 201, waiting while it says an earlier attempt may still land (409). Every key ends with exactly one order
/// upstream, and one the first caller was told of is the one the retry gets. Bounded: `ROUNDS` rounds, each
/// retried for at most 20 s. The seed is printed with any failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_killed_at_random_points_end_with_exactly_one_order_each() {
    use crate::fakes::Fault;
    use ordermux::backends::adapters::Stamp;

    const ROUNDS: u32 = 6;
    // Enough to spread the kill points; the seed replays a failure.
    let mut rng = crate::support::Rng::from_clock();
    let seed = rng.0;
    let mut below = move |n: u64| rng.below(n);
    let (fake, dir, config) = behind_bigcommerce(
        "sigkill-chaos",
        "timeout_ms = 1000\ntotal_timeout_ms = 2000\nsettle_ms = 300",
    )
    .await;
    let data = dir.join("data");
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let create = |addr: &str, key: &str| send_create(&http, addr, key);

    let (mut child, mut addr) = start_serving(&config, &data);
    for round in 0..ROUNDS {
        let key = format!("chaos-{round}");
        let act_after = Duration::from_millis(below(60));
        let fault = if below(2) == 0 {
            Fault::Late(act_after)
        } else {
            Fault::DelayAfter(act_after)
        };
        fake.fail(Some("POST"), Some("/orders"), fault.clone(), 1);
        let first = tokio::spawn(create(&addr, &key));
        let kill_after = Duration::from_millis(below(80));
        tokio::time::sleep(kill_after).await;
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        let told = match first.await.unwrap() {
            Ok(r) if r.status() == 201 => {
                Some(r.json::<serde_json::Value>().await.unwrap()["id"].clone())
            }
            _ => None,
        };
        let context = format!("seed {seed}, round {round}: {fault:?}, killed after {kill_after:?}");

        (child, addr) = start_serving(&config, &data);
        let deadline = Instant::now() + Duration::from_secs(20);
        let answered = create_until_answered(&http, &addr, &key, deadline, &context).await;
        if let Some(id) = told {
            assert_eq!(
                answered["id"], id,
                "{context}: another order than the one told"
            );
        }
        // Longer than any upstream delay: an attempt that was still to land has landed.
        tokio::time::sleep(Duration::from_millis(150)).await;
        let stamped =
            fake.with(|f| f.count_with_external_order_id(Stamp::for_key("demo", &key).key()));
        assert_eq!(stamped, 1, "{context}: orders upstream under the key");
    }
    assert_eq!(fake.with(|f| f.order_count()), ROUNDS as usize);
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(dir);
}

/// F9 and F10 together, on a shop where a create is several calls: Commerce Layer (the order, its line item, its
/// addresses, the shipping and payment choices, the `_place` trigger) and FluentCart (the customer and its
/// addresses found or made, the order, its states). The gateway is killed (SIGKILL) at a random point among them,
/// while the shop takes a random while over some (acting on a request after the caller left, or only while it is
/// still there). The restarted gateway is sent the same FluentCart create until it answers; each key then has
/// exactly one order upstream, with its one line item once (a resumed create adds nothing twice), and the shop
/// holds no other order (no draft left behind) and one customer for the buyer. Bounded: `ROUNDS` rounds, each
/// retried for at most 20 s; the seed is printed with any failure.
async fn creates_killed_between_their_steps(platform: ordermux::canonical::Platform) {
    use crate::fakes::commercelayer::CommerceLayerFake;
    use crate::fakes::fluentcart::FluentCartFake;
    use crate::fakes::{Fake, Fault};
    use ordermux::backends::adapters::Stamp;
    use ordermux::canonical::Platform;

    /// The shop, as (orders under a stamp, the quantities of their lines), every order, the buyer's customers.
    enum Shop {
        CommerceLayer(Fake<CommerceLayerFake>),
        FluentCart(Fake<FluentCartFake>),
    }
    impl Shop {
        fn fail(&self, method: &str, fault: Fault) {
            match self {
                Shop::CommerceLayer(f) => f.fail(Some(method), None, fault, 1),
                Shop::FluentCart(f) => f.fail(Some(method), None, fault, 1),
            }
        }
        fn clear_faults(&self) {
            match self {
                Shop::CommerceLayer(f) => f.clear_faults(),
                Shop::FluentCart(f) => f.clear_faults(),
            }
        }
        fn stamped(&self, stamp: &str) -> (usize, Vec<u64>) {
            let orders = match self {
                Shop::CommerceLayer(f) => f.with(|p| p.stamped_lines(stamp)),
                Shop::FluentCart(f) => f.with(|p| p.stamped_lines(stamp)),
            };
            let lines = orders.iter().flat_map(|(_, q)| q.iter().copied()).collect();
            (orders.len(), lines)
        }
        fn order_count(&self) -> usize {
            match self {
                Shop::CommerceLayer(f) => f.with(|p| p.order_count()),
                Shop::FluentCart(f) => f.with(|p| p.order_count()),
            }
        }
        /// How many customers the shop holds for the buyer (Commerce Layer orders name an e-mail, no customer).
        fn buyers(&self) -> usize {
            match self {
                Shop::CommerceLayer(_) => 1,
                Shop::FluentCart(f) => f.with(|p| p.customers_with_email("ada@example.com")),
            }
        }
    }

    const ROUNDS: u32 = 6;
    // Enough to spread the kill points; the seed replays a failure.
    let mut rng = crate::support::Rng::from_clock();
    let seed = rng.0;
    let mut below = move |n: u64| rng.below(n);
    let dir = temp_dir(&format!("sigkill-steps-{}", platform.name()));
    std::fs::write(dir.join("id"), "shop-id").unwrap();
    std::fs::write(dir.join("secret"), "shop secret").unwrap();
    let (shop, base_url, backend) = match platform {
        Platform::CommerceLayer => {
            let f = Fake::start(CommerceLayerFake::new("shop-id", "shop secret")).await;
            let url = f.base_url();
            let backend = "type = \"commercelayer\"\ncredentials = { client_id_file = \"id\", client_secret_file = \"secret\" }\nmarkets = { USD = \"mkt_usd\" }";
            (Shop::CommerceLayer(f), url, backend)
        }
        _ => {
            let f = Fake::start(FluentCartFake::new("shop-id", "shop secret")).await;
            let url = f.base_url();
            let backend = "type = \"fluentcart\"\ncredentials = { username_file = \"id\", password_file = \"secret\" }";
            (Shop::FluentCart(f), url, backend)
        }
    };
    // A FluentCart caller on a FluentCart shop would be passed through; translated, the adapter makes the create.
    let mode = if platform == Platform::FluentCart {
        "mode = \"translate\""
    } else {
        ""
    };
    let config = config_with(
        &dir,
        &format!(
            r#"
[[backends]]
name = "up"
base_url = "{base_url}"
{backend}
timeout_ms = 1000
total_timeout_ms = 2000
settle_ms = 300

[[routes]]
dialect = "fluentcart"
backend = "up"
{mode}
"#
        ),
    );
    let data = dir.join("data");
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let create = |addr: &str, key: &str| {
        http.post(format!("http://{addr}/wp-json/fluent-cart/v2/orders"))
            .basic_auth("demo", Some("demo-secret"))
            .header("idempotency-key", key)
            .json(&serde_json::json!({
                "customer_id": 1,
                "currency": "USD",
                "order_items": [{"object_id": 1001, "quantity": 1}],
                "shipping_address": {"first_name": "Ada", "last_name": "Lovelace", "address_1": "1 Main St",
                    "city": "Austin", "state": "TX", "postcode": "78701", "country": "US",
                    "meta": {"other_data": {"phone": "+1 512 555 0100"}}}
            }))
            .send()
    };

    let (mut child, mut addr) = start_serving(&config, &data);
    for round in 0..ROUNDS {
        let key = format!("steps-{round}");
        // One or two of the create's calls are slow: the shop acts after the delay whether or not the gateway is
        // still there (late), or only if it is (delayed).
        let mut faults = Vec::new();
        for _ in 0..1 + below(2) {
            let method = match (below(3), platform) {
                (0, Platform::CommerceLayer) => "PATCH",
                (0, _) => "PUT",
                _ => "POST",
            };
            let after = Duration::from_millis(below(60));
            let fault = if below(2) == 0 {
                Fault::Late(after)
            } else {
                Fault::Delay(after)
            };
            shop.fail(method, fault.clone());
            faults.push((method, fault));
        }
        let first = tokio::spawn(create(&addr, &key));
        let kill_after = Duration::from_millis(below(150));
        tokio::time::sleep(kill_after).await;
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        let told = match first.await.unwrap() {
            Ok(r) if r.status() == 200 => {
                Some(r.json::<serde_json::Value>().await.unwrap()["order_id"].clone())
            }
            _ => None,
        };
        shop.clear_faults();
        let context = format!(
            "{}, seed {seed}, round {round}: {faults:?}, killed after {kill_after:?}",
            platform.name()
        );

        (child, addr) = start_serving(&config, &data);
        let deadline = Instant::now() + Duration::from_secs(20);
        let answered = loop {
            let r = create(&addr, &key).await.unwrap();
            let status = r.status().as_u16();
            let doc: serde_json::Value = r.json().await.unwrap();
            match status {
                200 => break doc,
                409 => tokio::time::sleep(Duration::from_millis(100)).await,
                _ => panic!("{context}: {status} {doc}"),
            }
            assert!(Instant::now() < deadline, "{context}: still not answered");
        };
        if let Some(id) = told {
            assert_eq!(
                answered["order_id"], id,
                "{context}: another order than the one told"
            );
        }
        // Longer than any upstream delay: a call that was still to act has acted.
        tokio::time::sleep(Duration::from_millis(150)).await;
        let (orders, lines) = shop.stamped(Stamp::for_key("demo", &key).key());
        assert_eq!(orders, 1, "{context}: orders upstream under the key");
        assert_eq!(lines, vec![1], "{context}: the order's line items");
        assert_eq!(
            shop.order_count(),
            round as usize + 1,
            "{context}: an order left behind"
        );
        assert_eq!(shop.buyers(), 1, "{context}: customers made for the buyer");
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commerce_layer_creates_killed_between_their_steps_end_with_one_whole_order_each() {
    creates_killed_between_their_steps(ordermux::canonical::Platform::CommerceLayer).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fluentcart_creates_killed_between_their_steps_end_with_one_whole_order_each() {
    creates_killed_between_their_steps(ordermux::canonical::Platform::FluentCart).await;
}

/// A Commerce Layer create that stops half-way (its line item answered 503, the caller told 502) and that no retry
/// comes for: the serving gateway deletes its draft once the journal row has been idle for the backend's
/// `orphan_drafts_after_ms` (reliability plan §9.2), and counts it in `/metrics`. A retry that comes after all
/// creates the order afresh, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draft_no_retry_came_for_is_removed_while_the_gateway_serves() {
    use crate::fakes::commercelayer::CommerceLayerFake;
    use crate::fakes::{Fake, Fault};
    use ordermux::backends::adapters::Stamp;

    let dir = temp_dir("orphan-draft");
    std::fs::write(dir.join("id"), "shop-id").unwrap();
    std::fs::write(dir.join("secret"), "shop secret").unwrap();
    let f = Fake::start(CommerceLayerFake::new("shop-id", "shop secret")).await;
    // The least idle time the configuration accepts with these timeouts: ten total timeouts plus the settle time.
    let config = config_with(
        &dir,
        &format!(
            r#"
[[backends]]
name = "up"
base_url = "{}"
type = "commercelayer"
credentials = {{ client_id_file = "id", client_secret_file = "secret" }}
markets = {{ USD = "mkt_usd" }}
timeout_ms = 200
total_timeout_ms = 200
settle_ms = 1
orphan_drafts_after_ms = 2001

[[routes]]
dialect = "fluentcart"
backend = "up"
"#,
            f.base_url()
        ),
    );
    let (mut child, addr) = start_serving(&config, &dir.join("data"));
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let create = || {
        http.post(format!("http://{addr}/wp-json/fluent-cart/v2/orders"))
            .basic_auth("demo", Some("demo-secret"))
            .header("idempotency-key", "left-behind")
            .json(&serde_json::json!({"customer_id": 1, "currency": "USD",
                "order_items": [{"object_id": 1001, "quantity": 1}],
                "shipping_address": {"first_name": "Ada", "last_name": "Lovelace", "address_1": "1 Main St",
                    "city": "Austin", "state": "TX", "postcode": "78701", "country": "US",
                    "meta": {"other_data": {"phone": "+1 512 555 0100"}}}}))
            .send()
    };
    f.fail(Some("POST"), Some("/api/line_items"), Fault::Status(503), 1);
    assert_eq!(create().await.unwrap().status(), 502);
    let stamp = Stamp::for_key("demo", "left-behind").key().to_owned();
    assert_eq!(f.with(|p| p.with_reference(&stamp)).len(), 1, "its draft");

    let deadline = Instant::now() + Duration::from_secs(15);
    while f.with(|p| p.order_count()) > 0 {
        assert!(Instant::now() < deadline, "the draft is still there");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(f.count("DELETE", "/api/orders/"), 1);
    let metrics = metrics_of(&http, &addr).await;
    assert!(
        metrics.contains("ordermux_unfinished_drafts_removed_total{backend=\"up\"} 1"),
        "{metrics}"
    );
    assert!(metrics
        .contains("ordermux_unfinished_creates_swept_total{backend=\"up\",outcome=\"cleared\"} 1"));

    let retried = create().await.unwrap();
    let status = retried.status();
    let body = retried.text().await.unwrap();
    assert_eq!(status, 200, "{body}");
    let found = f.with(|p| p.with_reference(&stamp));
    assert_eq!(found.len(), 1, "one order under the key");
    assert_eq!(found[0].reference_origin.as_deref(), Some("ordermux"));
    assert_eq!(f.with(|p| p.order_count()), 1);
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(dir);
}

/// A refund through a FluentCart shop, under an Idempotency-Key, whose gateway is killed while the shop is acting on
/// it: the retry after the restart must not refund again. Edits and actions on an upstream order have no journal to
/// reconcile through, so the key's record is committed before the shop is asked, and the retry is told
/// `idem_interrupted` (read the order to see what happened) instead of refunding a second time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_killed_while_the_shop_acts_is_not_sent_again_after_the_restart() {
    use crate::fakes::fluentcart::FluentCartFake;
    use crate::fakes::{Fake, Fault};

    let dir = temp_dir("sigkill-refund");
    std::fs::write(dir.join("user"), "shop-user").unwrap();
    std::fs::write(dir.join("password"), "shop pass").unwrap();
    let f = Fake::start(FluentCartFake::new("shop-user", "shop pass")).await;
    let config = config_with(
        &dir,
        &format!(
            r#"
[[backends]]
name = "up"
base_url = "{}"
type = "fluentcart"
credentials = {{ username_file = "user", password_file = "password" }}
timeout_ms = 2000
total_timeout_ms = 3000

[[routes]]
dialect = "fluentcart"
backend = "up"
mode = "translate"
"#,
            f.base_url()
        ),
    );
    let data = dir.join("data");
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let fc = |addr: &str, path: &str, key: &str, body: serde_json::Value| {
        http.post(format!("http://{addr}/wp-json/fluent-cart/v2{path}"))
            .basic_auth("demo", Some("demo-secret"))
            .header("idempotency-key", key)
            .json(&body)
            .send()
    };
    let (mut child, addr) = start_serving(&config, &data);
    let created = fc(
        &addr,
        "/orders",
        "order",
        serde_json::json!({"customer_id": 1, "currency": "USD",
            "order_items": [{"object_id": 1001, "quantity": 2}]}),
    )
    .await
    .unwrap();
    assert_eq!(created.status(), 200);
    let id = created.json::<serde_json::Value>().await.unwrap()["order_id"].clone();
    let paid = fc(
        &addr,
        &format!("/orders/{id}/mark-as-paid"),
        "paid",
        serde_json::json!({"payment_method": "offline_payment"}),
    )
    .await
    .unwrap();
    assert_eq!(paid.status(), 200);
    let transactions: serde_json::Value = http
        .get(format!(
            "http://{addr}/wp-json/fluent-cart/v2/orders/{id}/transactions"
        ))
        .basic_auth("demo", Some("demo-secret"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let refund_body = serde_json::json!({"refund_info": {
        "transaction_id": transactions["order"]["transactions"][0]["id"], "amount": "5.00"}});
    let order_id = id.as_u64().unwrap();
    let refunded = || {
        f.with(|p| {
            p.order(order_id)
                .unwrap()
                .totals
                .refunded_total
                .map(|m| m.minor)
        })
    };

    // The shop takes the refund, and acts on it 300 ms later whether or not the gateway is still there.
    f.fail(
        Some("POST"),
        Some("/refund"),
        Fault::Late(Duration::from_millis(300)),
        1,
    );
    let refund = |addr: &str, key: &str| {
        fc(
            addr,
            &format!("/orders/{id}/refund"),
            key,
            refund_body.clone(),
        )
    };
    let first = tokio::spawn(refund(&addr, "refund"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while f.faults_left() > 0 {
        assert!(
            Instant::now() < deadline,
            "the refund never reached the shop"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    assert!(first.await.unwrap().is_err(), "answered before the kill");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(refunded(), Some(500), "the shop acted on the first send");

    let (mut child, addr) = start_serving(&config, &data);
    let retried = refund(&addr, "refund").await.unwrap();
    let status = retried.status().as_u16();
    let doc: serde_json::Value = retried.json().await.unwrap();
    assert_eq!(
        (status, &doc["code"]),
        (409, &serde_json::json!("idem_interrupted")),
        "{doc}"
    );
    assert_eq!(f.count("POST", "/refund"), 0, "sent again: {:?}", f.seen());
    assert_eq!(refunded(), Some(500), "refunded twice");
    // Told the same from then on; another key refunds again, as asked.
    let again = refund(&addr, "refund").await.unwrap();
    assert_eq!(again.status(), 409);
    let other = refund(&addr, "refund-2").await.unwrap();
    assert_eq!(other.status(), 200);
    assert_eq!(refunded(), Some(1000));
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(dir);
}
