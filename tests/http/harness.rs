//! Starting and stopping an in-process gateway, and clients that speak each dialect's auth.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use base64::Engine;
use ordermux::config::Config;
use ordermux::gateway::{self, Gateway};
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const FC: &str = "/wp-json/fluent-cart/v2";
pub const BC: &str = "/stores/demo/v2";
pub const JSONAPI: &str = "application/vnd.api+json";

/// A running gateway. Dropping it without `stop` leaves the task to end with the test runtime.
pub struct TestGateway {
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

/// The shipped configuration, with the data directory moved to `data_dir`.
pub fn config(data_dir: &Path) -> Config {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("gateway.toml");
    let mut config = Config::load(Some(&path)).expect("shipped gateway.toml loads");
    config.server.data_dir = data_dir.to_path_buf();
    config.server.listen = "127.0.0.1:0".parse().unwrap();
    config
}

/// The shipped configuration with `backend` added and every dialect's order routes (BigCommerce: the demo store)
/// translated to it.
pub fn routed_to(name: &str, backend: ordermux::config::Backend) -> Config {
    let mut config = config(&fresh_dir(name));
    route_all_to(&mut config, backend);
    config
}

/// Adds `backend` to `config` with every dialect's order routes (BigCommerce: the demo store) translated to it.
pub fn route_all_to(config: &mut Config, backend: ordermux::config::Backend) {
    use ordermux::canonical::Platform;
    use ordermux::config::{Route, RouteMode};
    let backend_name = backend.name.clone();
    config.backends.push(backend);
    for (dialect, store_hash) in [
        (Platform::FluentCart, None),
        (Platform::BigCommerce, Some("demo".to_owned())),
        (Platform::CommerceLayer, None),
    ] {
        config.routes.push(Route {
            dialect,
            store_hash,
            backend: backend_name.clone(),
            mode: RouteMode::Translate,
        });
    }
}

/// What an adapter under test gets: `backend`, decoding in USD.
pub fn usd_context(
    backend: ordermux::config::Backend,
) -> ordermux::backends::adapters::AdapterContext {
    ordermux::backends::adapters::AdapterContext {
        backend,
        decode: ordermux::dialects::DecodeOptions {
            default_currency: ordermux::canonical::Currency::parse("USD").ok(),
        },
    }
}

/// A fresh store in its own directory (for adapters' journals and `UpstreamShop`'s id map).
pub async fn scratch_store(name: &str) -> ordermux::store::Store {
    ordermux::store::Store::open_sqlite(&fresh_dir(name), ordermux::config::Durability::Full)
        .await
        .expect("store opens")
}

/// A journal row for `stamp` on backend `up`, as `UpstreamShop` opens one before calling an adapter.
pub async fn journal_for(
    store: &ordermux::store::Store,
    stamp: &ordermux::backends::adapters::Stamp,
) -> ordermux::backends::adapters::Journal {
    store
        .journal_begin(
            "up",
            stamp.key(),
            "client",
            0,
            ordermux::store::BeginLanding::default(),
            false,
        )
        .await
        .expect("journal row");
    ordermux::backends::adapters::Journal::new(
        store.clone(),
        "up",
        stamp.key(),
        serde_json::json!({}),
    )
}

/// A new, empty directory for one test's data, under this test process's scratch root (see `scratch_root`).
pub fn fresh_dir(name: &str) -> PathBuf {
    let dir = scratch_root().join(format!("{name}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `<temp>/ordermux-tests/<pid>-<start time>/`: the data directories of this test process. Tests restart gateways
/// on a directory and read stores after them, so no test removes its own; instead each test process first removes
/// the roots of test processes that have ended (their pid gone, or now another process's). A run leaves behind at
/// most the directories of its last processes (before this, every run left about 140 stores, some 90 MB each).
fn scratch_root() -> &'static Path {
    static ROOT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    ROOT.get_or_init(|| {
        let parent = std::env::temp_dir().join("ordermux-tests");
        let me = std::process::id();
        let my_start = process_start(me);
        // Without `/proc` (not Linux) no process can be told ended, so nothing is removed.
        let entries = my_start.and_then(|_| std::fs::read_dir(&parent).ok());
        if let Some(entries) = entries {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let ended = match name.split_once('-') {
                    Some((pid, started)) => pid.parse::<u32>().is_ok_and(|pid| {
                        pid != me && process_start(pid).is_none_or(|s| s.to_string() != started)
                    }),
                    None => false,
                };
                if ended {
                    // Another process that finds it ended too may be removing it as well.
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
        let started = my_start.map_or_else(|| "0".to_owned(), |s| s.to_string());
        parent.join(format!("{me}-{started}"))
    })
}

/// When process `pid` started (clock ticks since boot, from `/proc`), if it is running; with the pid, it names
/// one process (a pid is reused, never together with its start time).
fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name, in parentheses, may hold spaces: fields are counted after its closing parenthesis, where
    // field 3 begins; the start time is field 22.
    let (_, after_name) = stat.rsplit_once(')')?;
    after_name.split_whitespace().nth(19)?.parse().ok()
}

impl TestGateway {
    pub async fn start(name: &str) -> TestGateway {
        Self::start_with(config(&fresh_dir(name))).await
    }

    pub async fn start_with(config: Config) -> TestGateway {
        let data_dir = config.server.data_dir.clone();
        let gw = Gateway::open(config).await.expect("gateway opens");
        let listener = gateway::bind(&gw, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            gateway::serve(gw, listener, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        TestGateway {
            addr,
            data_dir,
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
            stop: Some(tx),
            task: Some(task),
        }
    }

    /// Stops the server and waits until it has drained.
    pub async fn stop(mut self) -> PathBuf {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
        self.data_dir.clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A FluentCart request with Basic auth.
    pub fn fc(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let basic = base64::engine::general_purpose::STANDARD.encode("demo:demo-secret");
        self.http
            .request(method, self.url(&format!("{FC}{path}")))
            .header("authorization", format!("Basic {basic}"))
    }

    /// A BigCommerce request with the store's token.
    pub fn bc(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(&format!("{BC}{path}")))
            .header("x-auth-token", "demo-secret")
            .header("x-auth-client", "demo")
            .header("accept", "application/json")
    }

    /// A Commerce Layer bearer token for the demo client.
    pub async fn cl_token(&self) -> String {
        let reply: Value = self
            .http
            .post(self.url("/oauth/token"))
            .json(&serde_json::json!({
                "grant_type": "client_credentials",
                "client_id": "demo",
                "client_secret": "demo-secret",
            }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        reply["access_token"]
            .as_str()
            .expect("token issued")
            .to_owned()
    }

    /// A Commerce Layer order with its line items included (200 asserted).
    pub async fn cl_order_with_lines(&self, token: &str, id: &str) -> Value {
        expect(
            self.cl(
                token,
                reqwest::Method::GET,
                &format!("/orders/{id}?include=line_items"),
            ),
            200,
        )
        .await
    }

    /// A Commerce Layer request with JSON:API media types and a bearer token.
    pub fn cl(&self, token: &str, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(&format!("/api{path}")))
            .header("authorization", format!("Bearer {token}"))
            .header("accept", JSONAPI)
            .header("content-type", JSONAPI)
    }
}

/// Sends, asserts the status, returns the JSON body (`Null` for an empty body).
pub async fn expect(req: reqwest::RequestBuilder, status: u16) -> Value {
    let resp = req.send().await.expect("request sent");
    let got = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    assert_eq!(got, status, "unexpected status; body: {text}");
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    }
}
