//! `ordermux replay`: files of orders into the embedded shop and into fake upstreams, exactly once — across
//! re-runs, injected upstream failures and a SIGKILL in the middle of a run.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ordermux::backends::adapters::Stamp;
use ordermux::canonical::{OrderFilter, OrderQuery, Platform, Range, SortKey};
use ordermux::config::{Backend, Config, Credential, Credentials};
use ordermux::replay::{
    self, BackendSource, FileSource, IdMapLine, LineProgress, ReplayOptions, Report, Source,
};
use ordermux::service::Shop;
use serde_json::{json, Value};

use crate::fakes::bigcommerce::BigCommerceFake;
use crate::fakes::fluentcart::FluentCartFake;
use crate::fakes::{Fake, Fault};
use crate::http::harness::{config, fresh_dir};

/// `n` BigCommerce create requests as NDJSON envelopes keyed `gen-<i>`.
fn bigcommerce_ndjson(dir: &Path, n: usize) -> PathBuf {
    let path = dir.join("orders.ndjson");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    for i in 0..n {
        let doc = json!({
            "billing_address": {
                "first_name": "Buyer", "last_name": format!("No{i}"), "street_1": "1 Main St", "city": "Austin",
                "state": "Texas", "zip": "78701", "country": "United States", "country_iso2": "US",
                "email": format!("buyer{i}@example.com"), "phone": "+1 512 555 0100"
            },
            "products": [
                {"product_id": 111, "quantity": 1 + i % 3},
                {"product_id": 112, "quantity": 1}
            ]
        });
        writeln!(
            f,
            "{}",
            json!({"source_id": format!("gen-{i}"), "document": doc})
        )
        .unwrap();
    }
    f.flush().unwrap();
    path
}

fn options(config: &Config, target: &str, path: PathBuf, dialect: Platform) -> ReplayOptions {
    ReplayOptions {
        target: target.to_owned(),
        source: Source::File(FileSource { path, dialect }),
        client: "demo".to_owned(),
        concurrency: 8,
        max_failures: None,
        dry_run: false,
        decode: ordermux::dialects::DecodeOptions {
            default_currency: Some(config.defaults.currency),
        },
        notifications: replay::NotificationPolicy::Mute,
    }
}

async fn run(options: &ReplayOptions, shop: &Shop) -> (Report, Vec<IdMapLine>) {
    let mut ids = Vec::new();
    let progress = LineProgress::new(Duration::from_secs(3600));
    let report = replay::run(options, shop, &progress, &mut |line| ids.push(line))
        .await
        .expect("replay runs");
    (report, ids)
}

/// Every embedded order of the demo client, by the source it was replayed from.
async fn embedded_sources(shop: &Shop) -> Vec<String> {
    let mut out = Vec::new();
    for page in 1.. {
        let query = OrderQuery {
            filter: OrderFilter::default(),
            sort: SortKey::Id,
            descending: false,
            page,
            per_page: 250,
        };
        let found = shop.store.list_orders("demo", &query).await.unwrap();
        let n = found.items.len();
        out.extend(found.items.into_iter().map(|o| {
            o.metadata
                .get("ordermux_source")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        }));
        if n < 250 {
            break;
        }
    }
    out
}

fn assert_each_once(mut sources: Vec<String>, n: usize) {
    assert_eq!(sources.len(), n, "orders in the target");
    sources.sort();
    sources.dedup();
    assert_eq!(sources.len(), n, "no source order twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ndjson_into_the_embedded_shop_once_then_everything_is_already_done() {
    let dir = fresh_dir("replay-embedded");
    let config = config(&dir);
    let file = bigcommerce_ndjson(&dir, 300);
    let shop = replay::target_shop(&config, "embedded", "demo")
        .await
        .unwrap();
    let opts = options(&config, "embedded", file, Platform::BigCommerce);
    let (first, ids) = run(&opts, &shop).await;
    assert_eq!(
        (first.read, first.created, first.failed),
        (300, 300, 0),
        "{first:?}"
    );
    assert_eq!(ids.len(), 300);
    assert!(ids
        .iter()
        .all(|l| l.source_platform == "bigcommerce" && l.target_id.starts_with("ord_")));
    let (second, ids_again) = run(&opts, &shop).await;
    assert_eq!(
        (second.created, second.already_done),
        (0, 300),
        "{second:?}"
    );
    // The id map is complete on a re-run too, from the journal.
    let mut a: Vec<_> = ids
        .iter()
        .map(|l| (l.source_id.clone(), l.target_id.clone()))
        .collect();
    let mut b: Vec<_> = ids_again
        .iter()
        .map(|l| (l.source_id.clone(), l.target_id.clone()))
        .collect();
    a.sort();
    b.sort();
    assert_eq!(a, b);
    assert_each_once(embedded_sources(&shop).await, 300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_writes_nothing_and_bad_records_fail_without_stopping_the_run() {
    let dir = fresh_dir("replay-dry");
    let config = config(&dir);
    let file = dir.join("mixed.ndjson");
    std::fs::write(
        &file,
        [
            r#"{"source_id": "ok-1", "document": {"billing_address": {"first_name": "A", "last_name": "B", "street_1": "1 Main St", "city": "Austin", "state": "Texas", "zip": "78701", "country": "United States", "country_iso2": "US", "email": "a@example.com"}, "products": [{"product_id": 111, "quantity": 1}]}}"#,
            r#"{"source_id": "bad-json", "document": "#,
            r#"{"source_id": "bad-product", "document": {"billing_address": {"first_name": "A", "last_name": "B", "street_1": "1 Main St", "city": "Austin", "state": "Texas", "zip": "78701", "country": "United States", "country_iso2": "US", "email": "a@example.com"}, "products": [{"product_id": 999999, "quantity": 1}]}}"#,
        ]
        .join("\n"),
    )
    .unwrap();
    let shop = replay::target_shop(&config, "embedded", "demo")
        .await
        .unwrap();
    let mut opts = options(&config, "embedded", file, Platform::BigCommerce);
    opts.dry_run = true;
    let (report, _) = run(&opts, &shop).await;
    assert_eq!(
        (report.read, report.would_create, report.failed),
        (3, 1, 2),
        "{report:?}"
    );
    assert!(
        embedded_sources(&shop).await.is_empty(),
        "a dry run writes nothing"
    );
    opts.dry_run = false;
    let (report, _) = run(&opts, &shop).await;
    assert_eq!((report.created, report.failed), (1, 2), "{report:?}");
    assert!(report
        .failures
        .iter()
        .any(|f| f.at.ends_with(":2") && f.error.contains("not JSON")));
    assert!(report.failures.iter().any(
        |f| f.source_key == "bigcommerce:bad-product" && f.error.contains("no catalog product")
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_orders_replay_into_the_embedded_shop() {
    let dir = fresh_dir("replay-10k");
    let config = config(&dir);
    let file = bigcommerce_ndjson(&dir, 10_000);
    let shop = replay::target_shop(&config, "embedded", "demo")
        .await
        .unwrap();
    let mut opts = options(&config, "embedded", file, Platform::BigCommerce);
    opts.concurrency = 32;
    let (first, _) = run(&opts, &shop).await;
    assert_eq!((first.created, first.failed), (10_000, 0), "{first:?}");
    let (second, _) = run(&opts, &shop).await;
    assert_eq!(second.already_done, 10_000);
    assert_each_once(embedded_sources(&shop).await, 10_000);
}

/// Replays everything backend `name` (added to a fresh configuration by `add`) lists into a fresh embedded shop,
/// and checks that each of its `n` orders arrived once, identified by `platform`'s ids.
async fn into_a_fresh_embedded_shop(
    tag: &str,
    add: impl FnOnce(&mut Config),
    name: &str,
    platform: Platform,
    n: u64,
) {
    let dir = fresh_dir(tag);
    let mut cfg = crate::http::harness::config(&dir);
    add(&mut cfg);
    let shop = replay::target_shop(&cfg, "embedded", "demo").await.unwrap();
    let mut opts = options(&cfg, "embedded", dir.clone(), platform);
    opts.source = Source::Backend(Box::new(BackendSource {
        name: name.into(),
        shop: replay::shop_for(&cfg, &shop.store, name).unwrap(),
        filter: OrderFilter::default(),
    }));
    let (report, ids) = run(&opts, &shop).await;
    assert_eq!(
        (report.read, report.created, report.failed),
        (n, n, 0),
        "{report:?}"
    );
    assert!(ids.iter().all(|l| l.source_platform == platform.name()));
    assert_each_once(embedded_sources(&shop).await, usize::try_from(n).unwrap());
}

/// A BigCommerce fake selling the two products `bigcommerce_ndjson`'s orders buy.
async fn bigcommerce_fake() -> Fake<BigCommerceFake> {
    Fake::start(
        BigCommerceFake::new("up1", "up-token")
            .with_product(111, "T-shirt, black, M", "TSHIRT-BLK-M", "25.00")
            .with_product(112, "Mug, white", "MUG-WHT", "12.50"),
    )
    .await
}

/// `n` generated orders replayed from a file into the embedded shop of `config`, which is returned.
async fn seeded_embedded(config: &Config, dir: &Path, n: usize) -> (Shop, PathBuf) {
    let file = bigcommerce_ndjson(dir, n);
    let embedded = replay::target_shop(config, "embedded", "demo")
        .await
        .unwrap();
    let (seeded, _) = run(
        &options(config, "embedded", file.clone(), Platform::BigCommerce),
        &embedded,
    )
    .await;
    assert_eq!(seeded.created, n as u64);
    (embedded, file)
}

/// Backend `cl`: the Commerce Layer fake at `url` (client `cl-id`), USD sold in market `mkt_usd`.
fn commercelayer_backend(url: String) -> Backend {
    Backend {
        credentials: Credentials {
            client_id: Some(Credential::new("cl-id")),
            client_secret: Some(Credential::new("cl-secret")),
            ..Credentials::default()
        },
        markets: [("USD".to_owned(), "mkt_usd".to_owned())].into(),
        breaker_failures: 1_000,
        ..Backend::upstream("cl", Platform::CommerceLayer, url)
    }
}

fn bigcommerce_target(config: &mut Config, fake_url: String) {
    config.backends.push(Backend {
        store_hash: Some("up1".into()),
        credentials: Credentials {
            token: Some(Credential::new("up-token")),
            ..Credentials::default()
        },
        connect_timeout: Duration::from_millis(300),
        timeout: Duration::from_millis(500),
        total_timeout: Duration::from_secs(3),
        breaker_failures: 1_000,
        ..Backend::upstream("bc", Platform::BigCommerce, fake_url)
    });
}

/// The reliability plan's §9.3: a migration into a BigCommerce store shares the store's request quota with its
/// other apps. Replayed with eight orders at once while another app spends a twentieth of every window, neither
/// draws a 429 (ordermux keeps to 95 % of the quota, counting its calls in flight), and every order lands once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_sharing_the_stores_quota_with_another_app_draws_no_429() {
    const QUOTA: u64 = 40;
    const ORDERS: usize = 150;
    let window = Duration::from_millis(400);
    let fake = Fake::start(
        BigCommerceFake::new("up1", "up-token")
            .with_product(111, "T-shirt, black, M", "TSHIRT-BLK-M", "25.00")
            .with_product(112, "Mug, white", "MUG-WHT", "12.50")
            .with_rate_limit(QUOTA, window),
    )
    .await;
    let dir = fresh_dir("replay-quota");
    let mut config = config(&dir);
    bigcommerce_target(&mut config, fake.base_url());
    let file = bigcommerce_ndjson(&dir, ORDERS);
    let shop = replay::target_shop(&config, "bc", "demo").await.unwrap();
    let opts = options(&config, "bc", file, Platform::BigCommerce);
    assert_eq!(opts.concurrency, 8);

    // The other app: two requests a window (a twentieth of the quota), spread over it, until the replay ends.
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let other = {
        let url = format!("{}/stores/up1/v2/orders/count", fake.base_url());
        tokio::spawn(async move {
            let http = reqwest::Client::builder().no_proxy().build().unwrap();
            let mut sent = 0u32;
            while !*stopped.borrow() {
                let r = http
                    .get(&url)
                    .header("x-auth-token", "up-token")
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200, "the other app was refused");
                sent += 1;
                let _ = tokio::time::timeout(window / 2, stopped.changed()).await;
            }
            sent
        })
    };
    let (report, _) = run(&opts, &shop).await;
    stop.send(true).unwrap();
    let other_sent = other.await.unwrap();
    assert_eq!(report.created, ORDERS as u64, "{report:?}");
    assert_eq!(fake.with(|f| f.order_count()), ORDERS);
    let (throttled, seen) = fake.throttled();
    assert_eq!(
        throttled, 0,
        "{throttled} of {seen} requests drew a 429 ({other_sent} the other app's)"
    );
    assert!(
        other_sent >= 4,
        "the other app ran alongside ({other_sent})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn into_a_failing_bigcommerce_nothing_is_lost_or_doubled() {
    let fake = bigcommerce_fake().await;
    // 5xx before the shop acts, resets after it acted (the reply is lost), a burst of 429s, a timeout after
    // the create took effect.
    fake.fail(Some("POST"), Some("/orders"), Fault::Status(503), 3);
    fake.fail(Some("POST"), Some("/orders"), Fault::ResetAfter, 3);
    fake.fail(
        Some("POST"),
        Some("/orders"),
        Fault::RateLimited {
            retry_after_secs: 1,
        },
        3,
    );
    fake.fail(
        Some("POST"),
        Some("/orders"),
        Fault::DelayAfter(Duration::from_millis(800)),
        2,
    );
    let dir = fresh_dir("replay-bc");
    let mut config = config(&dir);
    bigcommerce_target(&mut config, fake.base_url());
    let file = bigcommerce_ndjson(&dir, 40);
    let shop = replay::target_shop(&config, "bc", "demo").await.unwrap();
    let mut opts = options(&config, "bc", file, Platform::BigCommerce);
    opts.concurrency = 4;
    let (first, _) = run(&opts, &shop).await;
    let (second, ids) = run(&opts, &shop).await;
    assert_eq!(first.created + first.failed, 40, "{first:?}");
    assert_eq!(
        second.failed, 0,
        "everything lands by the second run: {second:?}"
    );
    assert_eq!(second.already_done + second.created, 40);
    assert_eq!(
        fake.with(|f| f.order_count()),
        40,
        "no lost order, no duplicate"
    );
    for i in 0..40 {
        let stamp = Stamp::for_key("demo", &format!("bigcommerce:gen-{i}"));
        assert_eq!(
            fake.with(|f| f.count_with_external_order_id(stamp.key())),
            1,
            "gen-{i} exactly once"
        );
    }
    assert_eq!(ids.len(), 40);
    let upstream = fake.with(|f| f.ids());
    assert!(ids
        .iter()
        .all(|l| upstream.iter().any(|id| id.to_string() == l.target_id)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bigcommerce_orders_into_fluentcart_land_once_despite_lost_replies() {
    let fake = Fake::start(FluentCartFake::new("wp-user", "app pass word")).await;
    let dir = fresh_dir("replay-fc");
    let mut config = config(&dir);
    fluentcart_target(&mut config, fake.base_url());
    let file = bigcommerce_ndjson(&dir, 12);
    fake.fail(Some("POST"), Some("/orders"), Fault::ResetAfter, 2);
    let shop = replay::target_shop(&config, "fc", "demo").await.unwrap();
    let opts = options(&config, "fc", file, Platform::BigCommerce);
    let (first, _) = run(&opts, &shop).await;
    let (second, _) = run(&opts, &shop).await;
    assert_eq!(second.failed, 0, "{first:?} then {second:?}");
    assert_eq!(fake.with(|f| f.order_count()), 12);
    assert_eq!(fake.with(|f| f.stamped_orders()), 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_the_embedded_shop_to_bigcommerce_and_back_to_another_embedded_shop() {
    let fake = bigcommerce_fake().await;
    // 30 orders into the embedded shop, from a file.
    let dir = fresh_dir("replay-chain");
    let mut config = config(&dir);
    bigcommerce_target(&mut config, fake.base_url());
    let (embedded, file) = seeded_embedded(&config, &dir, 30).await;

    // Embedded (orders 11..=30 by FluentCart id, i.e. an id window) → BigCommerce.
    let to_bc = replay::shop_for(&config, &embedded.store, "bc").unwrap();
    let mut opts = options(&config, "bc", file, Platform::BigCommerce);
    opts.source = Source::Backend(Box::new(BackendSource {
        name: "embedded".into(),
        shop: embedded.clone(),
        filter: OrderFilter {
            id_range: Some((
                Platform::FluentCart,
                Range {
                    min: Some(11),
                    max: None,
                },
            )),
            ..OrderFilter::default()
        },
    }));
    let (moved, ids) = run(&opts, &to_bc).await;
    assert_eq!(
        (moved.read, moved.created, moved.failed),
        (20, 20, 0),
        "{moved:?}"
    );
    assert!(ids
        .iter()
        .all(|l| l.source_platform == "embedded" && l.source_id.starts_with("ord_")));
    // A replay needs each new order's id only: one call per order, nothing read back.
    assert_eq!(fake.count("POST", "/orders"), 20);
    assert_eq!(fake.count("GET", "/orders"), 0);
    let (again, _) = run(&opts, &to_bc).await;
    assert_eq!(again.already_done, 20);
    assert_eq!(fake.with(|f| f.order_count()), 20);
    // Marked as migrated, as BigCommerce asks (kept out of the store's GMV).
    fake.with(|f| {
        for id in f.ids() {
            assert_eq!(f.order(id).unwrap().external_source(), Some("M-MIG"));
        }
    });

    // BigCommerce → a second, empty embedded shop (paged through the adapter's list).
    into_a_fresh_embedded_shop(
        "replay-chain-2",
        |c| bigcommerce_target(c, fake.base_url()),
        "bc",
        Platform::BigCommerce,
        20,
    )
    .await;
}

/// The same on Commerce Layer, whose limits are sliding windows with no reset (`X-Ratelimit-Remaining` and
/// `-Interval`): a replay whose creates take several calls each, eight at once, draws no 429.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_into_commercelayer_keeps_within_its_sliding_window() {
    use crate::fakes::commercelayer::CommerceLayerFake;
    const ORDERS: usize = 12;
    let fake = Fake::start(
        CommerceLayerFake::new("cl-id", "cl-secret").with_rate_limit(60, Duration::from_secs(1)),
    )
    .await;
    let dir = fresh_dir("replay-cl-rate");
    let mut cfg = config(&dir);
    cfg.backends.push(Backend {
        total_timeout: Duration::from_secs(10),
        ..commercelayer_backend(fake.base_url())
    });
    let file = bigcommerce_ndjson(&dir, ORDERS);
    let shop = replay::target_shop(&cfg, "cl", "demo").await.unwrap();
    let opts = options(&cfg, "cl", file, Platform::BigCommerce);
    let (report, _) = run(&opts, &shop).await;
    assert_eq!(report.created, ORDERS as u64, "{report:?}");
    assert_eq!(fake.with(|f| f.order_count()), ORDERS);
    let (throttled, seen) = fake.throttled();
    assert_eq!(throttled, 0, "{throttled} of {seen} requests drew a 429");
    assert!(seen > 60, "more calls than one window allows ({seen})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn into_commercelayer_despite_failures_then_from_commercelayer_into_an_embedded_shop() {
    use crate::fakes::commercelayer::CommerceLayerFake;
    let fake = Fake::start(CommerceLayerFake::new("cl-id", "cl-secret")).await;
    let backend = |url: String| Backend {
        timeout: Duration::from_millis(1_500),
        total_timeout: Duration::from_secs(4),
        // A lost reply holds the order back this long, in case the step still acts upstream.
        settle: Duration::from_millis(300),
        ..commercelayer_backend(url)
    };
    let dir = fresh_dir("replay-cl");
    let mut cfg = config(&dir);
    cfg.backends.push(backend(fake.base_url()));
    let file = bigcommerce_ndjson(&dir, 15);
    // The order request fails outright twice; a line item's reply is lost twice (each step is journaled).
    fake.fail(Some("POST"), Some("/api/orders"), Fault::Status(503), 2);
    fake.fail(Some("POST"), Some("/api/line_items"), Fault::ResetAfter, 2);
    let shop = replay::target_shop(&cfg, "cl", "demo").await.unwrap();
    let opts = options(&cfg, "cl", file, Platform::BigCommerce);
    let (first, _) = run(&opts, &shop).await;
    let (second, _) = run(&opts, &shop).await;
    assert_eq!(second.failed, 0, "{first:?} then {second:?}");
    assert_eq!(
        fake.with(|f| f.order_count()),
        15,
        "no lost order, no duplicate"
    );
    for i in 0..15 {
        let stamp = Stamp::for_key("demo", &format!("bigcommerce:gen-{i}"));
        let found = fake.with(|f| f.with_reference(stamp.key()));
        assert_eq!(found.len(), 1, "gen-{i} exactly once");
        assert_eq!(
            fake.with(|f| f.lines_of(&found[0].id).len()),
            2,
            "gen-{i} complete"
        );
    }

    // Back out of Commerce Layer into a fresh embedded shop, through the adapter's paged list.
    into_a_fresh_embedded_shop(
        "replay-cl-2",
        |c| c.backends.push(backend(fake.base_url())),
        "cl",
        Platform::CommerceLayer,
        15,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fluentcart_into_bigcommerce_upstream_to_upstream_and_a_created_window() {
    let fc = Fake::start(FluentCartFake::new("wp-user", "app pass word")).await;
    let bc = bigcommerce_fake().await;
    let dir = fresh_dir("replay-u2u");
    let mut cfg = config(&dir);
    fluentcart_target(&mut cfg, fc.base_url());
    bigcommerce_target(&mut cfg, bc.base_url());
    // Seed FluentCart with 8 orders (through a replay), then move them FluentCart → BigCommerce.
    let file = bigcommerce_ndjson(&dir, 8);
    let into_fc = replay::target_shop(&cfg, "fc", "demo").await.unwrap();
    let (seeded, _) = run(
        &options(&cfg, "fc", file.clone(), Platform::BigCommerce),
        &into_fc,
    )
    .await;
    assert_eq!(seeded.created, 8, "{seeded:?}");
    let into_bc = replay::shop_for(&cfg, &into_fc.store, "bc").unwrap();
    let mut opts = options(&cfg, "bc", file.clone(), Platform::BigCommerce);
    opts.source = Source::Backend(Box::new(BackendSource {
        name: "fc".into(),
        shop: into_fc.clone(),
        filter: OrderFilter::default(),
    }));
    let (moved, ids) = run(&opts, &into_bc).await;
    assert_eq!(
        (moved.read, moved.created, moved.failed),
        (8, 8, 0),
        "{moved:?}"
    );
    assert!(ids.iter().all(|l| l.source_platform == "fluentcart"));
    assert_eq!(bc.with(|f| f.order_count()), 8);

    // A created window in the future selects nothing; one in the past selects everything (embedded source).
    let embedded = replay::shop_for(&cfg, &into_fc.store, "embedded").unwrap();
    let (_, _) = run(
        &options(&cfg, "embedded", file, Platform::BigCommerce),
        &embedded,
    )
    .await;
    let window = |min: chrono::DateTime<chrono::Utc>| {
        let mut o = options(&cfg, "fc", dir.clone(), Platform::BigCommerce);
        o.dry_run = true;
        o.source = Source::Backend(Box::new(BackendSource {
            name: "embedded".into(),
            shop: embedded.clone(),
            filter: OrderFilter {
                created: Range {
                    min: Some(min),
                    max: None,
                },
                ..OrderFilter::default()
            },
        }));
        o
    };
    let now = chrono::Utc::now();
    let (future, _) = run(&window(now + chrono::Duration::hours(1)), &into_fc).await;
    assert_eq!(future.read, 0, "{future:?}");
    let (past, _) = run(&window(now - chrono::Duration::hours(1)), &into_fc).await;
    assert_eq!((past.read, past.would_create), (8, 8), "{past:?}");
}

/// Counts rows of the replay journal marked confirmed (the process may be gone; the store is opened afresh).
async fn confirmed_rows(data_dir: &Path) -> usize {
    let store = ordermux::store::Store::open_sqlite(data_dir, ordermux::config::Durability::Full)
        .await
        .unwrap();
    let keys: Vec<String> = (0..5_000).map(|i| format!("bigcommerce:gen-{i}")).collect();
    store
        .replay_entries("embedded", &keys)
        .await
        .unwrap()
        .values()
        .filter(|e| e.state == ordermux::store::JournalState::Confirmed)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_run_then_rerun_gives_every_order_exactly_once() {
    let dir = fresh_dir("replay-kill");
    let data = dir.join("data");
    let file = bigcommerce_ndjson(&dir, 5_000);
    let gateway_toml = Path::new(env!("CARGO_MANIFEST_DIR")).join("gateway.toml");
    let command = || {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_ordermux"));
        c.args([
            "replay",
            "--to",
            "embedded",
            "--dialect",
            "bigcommerce",
            "--concurrency",
            "2",
        ])
        .arg("--from-file")
        .arg(&file)
        .arg("--config")
        .arg(&gateway_toml)
        .arg("--data-dir")
        .arg(&data)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
        c
    };
    let mut child = command().spawn().unwrap();
    // Kill it once part of the run is committed (bounded wait), at whatever instant that is.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if data.join("ordermux.db").exists() && confirmed_rows(&data).await >= 200 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "replay made no progress"
        );
        if child.try_wait().unwrap().is_some() {
            break;
        }
    }
    let _ = child.kill(); // SIGKILL on Unix
    let _ = child.wait();
    let part = confirmed_rows(&data).await;
    assert!(
        (200..5_000).contains(&part),
        "killed mid-run: {part} confirmed"
    );
    let status = command().status().unwrap();
    assert!(status.success(), "the re-run finishes: {status:?}");
    let config = {
        let mut c = config(&dir);
        c.server.data_dir.clone_from(&data);
        c
    };
    let shop = replay::target_shop(&config, "embedded", "demo")
        .await
        .unwrap();
    assert_each_once(embedded_sources(&shop).await, 5_000);
}

/// Sets `status_id` on every document of an NDJSON file written by `bigcommerce_ndjson`, and a shipping address
/// (orders that have shipped went somewhere).
fn with_status_id(path: &Path, status_id: u64) {
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<String> = text
        .lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).unwrap();
            let doc = &mut v["document"];
            doc["status_id"] = json!(status_id);
            doc["shipping_addresses"] = json!([doc["billing_address"].clone()]);
            v.to_string()
        })
        .collect();
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

/// The shipped `gateway.toml` (its catalog found from `dir`) with `extra` appended, written to `dir` for the built
/// binary to read.
fn config_file(dir: &Path, extra: &str) -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let toml = std::fs::read_to_string(repo.join("gateway.toml"))
        .unwrap()
        .replace(
            "file = \"catalog.toml\"",
            &format!(
                "file = {:?}",
                repo.join("catalog.toml").display().to_string()
            ),
        );
    let path = dir.join("gateway.toml");
    std::fs::write(&path, format!("{toml}\n{extra}")).unwrap();
    path
}

fn fluentcart_target(config: &mut Config, fake_url: String) {
    config.backends.push(Backend {
        credentials: Credentials {
            username: Some(Credential::new("wp-user")),
            password: Some(Credential::new("app pass word")),
            ..Credentials::default()
        },
        breaker_failures: 1_000,
        ..Backend::upstream("fc", Platform::FluentCart, fake_url)
    });
}

/// The notifications the FluentCart fake e-mails customers with by default, which a replay may switch off.
const FLUENTCART_CUSTOMER_SWITCHES: [&str; 4] = [
    "order_delivered_customer",
    "order_paid_customer",
    "order_refunded_customer",
    "order_shipped_customer",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_to_fluentcart_with_customer_emails_off_then_back_and_embedded_to_commercelayer() {
    let fc = Fake::start(FluentCartFake::new("wp-user", "app pass word")).await;
    let dir = fresh_dir("replay-fc-mail");
    let mut cfg = config(&dir);
    fluentcart_target(&mut cfg, fc.base_url());
    let cl = Fake::start(crate::fakes::commercelayer::CommerceLayerFake::new(
        "cl-id",
        "cl-secret",
    ))
    .await;
    cfg.backends.push(Backend {
        credentials: Credentials {
            client_id: Some(Credential::new("cl-id")),
            client_secret: Some(Credential::new("cl-secret")),
            ..Credentials::default()
        },
        markets: [("USD".to_owned(), "mkt_usd".to_owned())].into(),
        breaker_failures: 1_000,
        ..Backend::upstream("cl", Platform::CommerceLayer, cl.base_url())
    });
    // 12 shipped (so paid) orders in the embedded shop.
    let file = bigcommerce_ndjson(&dir, 12);
    with_status_id(&file, 2);
    let embedded = replay::target_shop(&cfg, "embedded", "demo").await.unwrap();
    let (seeded, _) = run(
        &options(&cfg, "embedded", file.clone(), Platform::BigCommerce),
        &embedded,
    )
    .await;
    assert_eq!(seeded.created, 12, "{seeded:?}");
    assert_eq!(
        seeded.notifications.note,
        "the embedded shop sends no e-mail"
    );

    // A dry run reads the switches and touches nothing.
    let from_embedded = |dry_run: bool| {
        let mut o = options(&cfg, "fc", file.clone(), Platform::BigCommerce);
        o.dry_run = dry_run;
        o.source = Source::Backend(Box::new(BackendSource {
            name: "embedded".into(),
            shop: embedded.clone(),
            filter: OrderFilter::default(),
        }));
        o
    };
    let into_fc = replay::shop_for(&cfg, &embedded.store, "fc").unwrap();
    let (dry, _) = run(&from_embedded(true), &into_fc).await;
    assert_eq!((dry.would_create, dry.created), (12, 0), "{dry:?}");
    assert!(
        dry.notifications.note.contains("order_paid_customer"),
        "{dry:?}"
    );
    assert!(dry.notifications.muted.is_empty());

    // Embedded → FluentCart: the paid and shipped e-mails are off while the run lasts, on again after it.
    let (moved, ids) = run(&from_embedded(false), &into_fc).await;
    assert_eq!(
        (moved.read, moved.created, moved.failed),
        (12, 12, 0),
        "{moved:?}"
    );
    assert!(ids.iter().all(|l| l.source_platform == "embedded"));
    assert_eq!(moved.notifications.muted, FLUENTCART_CUSTOMER_SWITCHES);
    assert_eq!(moved.notifications.unswitchable, ["order_placed_customer"]);
    assert!(moved.notifications.not_restored.is_empty());
    fc.with(|f| {
        assert_eq!(f.order_count(), 12);
        let shipped = f
            .orders
            .iter()
            .filter(|o| o.fulfillment_status == ordermux::canonical::FulfillmentStatus::Fulfilled)
            .count();
        assert_eq!(shipped, 12, "orders arrive paid and shipped");
        // FluentCart's order-placed e-mail has no switch: it is the only one customers got.
        let mut mails = f.customer_mails();
        mails.dedup();
        assert_eq!(mails, ["order_placed_customer"]);
        for name in FLUENTCART_CUSTOMER_SWITCHES {
            assert_eq!(
                f.notification_active(name),
                Some("yes"),
                "{name} is back on"
            );
        }
        assert_eq!(
            f.notification_active("order_refunded_admin"),
            Some("no"),
            "left as it was"
        );
    });
    assert!(into_fc
        .store
        .muted_notifications("fc")
        .await
        .unwrap()
        .is_empty());

    // FluentCart → a fresh embedded shop, each once.
    into_a_fresh_embedded_shop(
        "replay-fc-mail-2",
        |c| fluentcart_target(c, fc.base_url()),
        "fc",
        Platform::FluentCart,
        12,
    )
    .await;

    // Embedded → Commerce Layer: nothing to switch, and the report says what to pause instead.
    let into_cl = replay::shop_for(&cfg, &embedded.store, "cl").unwrap();
    let mut to_cl = from_embedded(false);
    to_cl.target = "cl".into();
    let (moved, _) = run(&to_cl, &into_cl).await;
    assert_eq!(
        (moved.read, moved.created, moved.failed),
        (12, 12, 0),
        "{moved:?}"
    );
    assert!(moved.notifications.note.contains("webhooks"), "{moved:?}");
    assert_eq!(cl.with(|f| f.order_count()), 12);
    let (again, _) = run(&to_cl, &into_cl).await;
    assert_eq!(again.already_done, 12);
    assert_eq!(cl.with(|f| f.order_count()), 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_a_killed_run_left_off_are_switched_back_on() {
    let fc = Fake::start(FluentCartFake::new("wp-user", "app pass word")).await;
    // Every payment is slow, so the run is still going when it is killed.
    fc.fail(
        Some("POST"),
        Some("mark-as-paid"),
        Fault::Delay(Duration::from_millis(250)),
        10_000,
    );
    let dir = fresh_dir("replay-fc-kill");
    let file = bigcommerce_ndjson(&dir, 40);
    with_status_id(&file, 11);
    let config_path = config_file(
        &dir,
        &format!(
            "[[backends]]\nname = \"fc\"\ntype = \"fluentcart\"\nbase_url = \"{}\"\n\
             credentials = {{ username_env = \"OMX_TEST_WP_USER\", password_env = \"OMX_TEST_WP_PASS\" }}\n\
             total_timeout_ms = 3000\nsettle_ms = 500\n",
            fc.base_url()
        ),
    );
    let command = |extra: &[&str]| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_ordermux"));
        c.args(["replay", "--to", "fc", "--concurrency", "2"])
            .args(extra)
            .arg("--config")
            .arg(&config_path)
            .arg("--data-dir")
            .arg(dir.join("data"))
            .env("OMX_TEST_WP_USER", "wp-user")
            .env("OMX_TEST_WP_PASS", "app pass word")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null());
        c
    };
    let from_file = [
        "--from-file",
        file.to_str().unwrap(),
        "--dialect",
        "bigcommerce",
    ];
    let mut child = command(&from_file).spawn().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let (muted, orders) = fc.with(|f| {
            (
                f.notification_active("order_paid_customer") == Some("no"),
                f.order_count(),
            )
        });
        if muted && orders >= 3 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the run never got going"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it was killed"
        );
    }
    let _ = child.kill(); // SIGKILL on Unix
    let _ = child.wait();
    assert_eq!(
        fc.with(|f| f
            .notification_active("order_paid_customer")
            .map(str::to_owned)),
        Some("no".to_owned()),
        "killed with the e-mails off"
    );

    // `--notifications restore` switches back on what the killed run recorded, and only that.
    let out = command(&["--notifications", "restore"]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let printed = String::from_utf8_lossy(&out.stdout);
    for name in FLUENTCART_CUSTOMER_SWITCHES {
        assert!(printed.contains(name), "{printed}");
        assert_eq!(
            fc.with(|f| f.notification_active(name).map(str::to_owned)),
            Some("yes".into())
        );
    }
    assert_eq!(
        fc.with(|f| f
            .notification_active("order_refunded_admin")
            .map(str::to_owned)),
        Some("no".into())
    );
    // Nothing is recorded any more: a second restore has nothing to do.
    let again = command(&["--notifications", "restore"]).output().unwrap();
    assert!(String::from_utf8_lossy(&again.stdout).contains("nothing"));

    // The re-run finishes the migration exactly once, with the e-mails off again while it runs.
    let status = command(&from_file).status().unwrap();
    assert!(status.success(), "{status:?}");
    fc.with(|f| {
        assert_eq!(f.order_count(), 40);
        assert!(f
            .customer_mails()
            .iter()
            .all(|m| *m == "order_placed_customer"));
        assert_eq!(f.notification_active("order_paid_customer"), Some("yes"));
    });
    for i in 0..40 {
        let stamp = Stamp::for_key("demo", &format!("bigcommerce:gen-{i}"));
        assert_eq!(
            fc.with(|f| f.orders_with_stamp(stamp.key()).len()),
            1,
            "gen-{i} once"
        );
    }
}

/// Deletes one order of the source shop the first time a chunk of the replay is done: between two pages.
struct DeleteAfterFirstPage {
    source: Shop,
    order: ordermux::store::ObjectId,
    done: std::sync::atomic::AtomicBool,
}

impl replay::Progress for DeleteAfterFirstPage {
    fn start(&self, _total: Option<u64>) {}
    fn advance(&self, _report: &Report) {
        if self.done.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(self.source.delete(
                "demo",
                &self.order,
                |_| Ok(()),
            ))
        })
        .expect("the source order is deleted");
    }
    fn finish(&self, _report: &Report) {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_deleted_from_the_source_mid_run_does_not_make_the_next_page_skip_one() {
    let fake = bigcommerce_fake().await;
    // 250 orders in the embedded shop: three pages of the replay's source reads (100 a page).
    let dir = fresh_dir("replay-keyset");
    let mut config = config(&dir);
    bigcommerce_target(&mut config, fake.base_url());
    let (embedded, file) = seeded_embedded(&config, &dir, 250).await;
    let first = OrderQuery {
        filter: OrderFilter::default(),
        sort: SortKey::Id,
        descending: false,
        page: 1,
        per_page: 1,
    };
    let first = embedded.store.list_orders("demo", &first).await.unwrap();
    let first_id = first.items[0]
        .ids
        .platform
        .fluentcart
        .expect("a FluentCart id");

    // Embedded → BigCommerce; once the first page is sent, its first order is deleted from the source. Read by
    // page number, page 2 would then start one order later and that order would never be read.
    let to_bc = replay::shop_for(&config, &embedded.store, "bc").unwrap();
    let mut opts = options(&config, "bc", file, Platform::BigCommerce);
    opts.source = Source::Backend(Box::new(BackendSource {
        name: "embedded".into(),
        shop: embedded.clone(),
        filter: OrderFilter::default(),
    }));
    let progress = DeleteAfterFirstPage {
        source: embedded.clone(),
        order: ordermux::store::ObjectId::FluentCart(first_id),
        done: std::sync::atomic::AtomicBool::new(false),
    };
    let report = replay::run(&opts, &to_bc, &progress, &mut |_| {})
        .await
        .expect("replay runs");
    assert!(progress.done.load(std::sync::atomic::Ordering::SeqCst));
    assert_eq!(
        (report.read, report.created, report.failed),
        (250, 250, 0),
        "{report:?}"
    );
    assert_eq!(fake.with(|f| f.order_count()), 250);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bigcommerce_source_of_several_pages_is_read_whole_by_its_ids() {
    let fake = bigcommerce_fake().await;
    let dir = fresh_dir("replay-bc-pages");
    let mut config = config(&dir);
    bigcommerce_target(&mut config, fake.base_url());
    let file = bigcommerce_ndjson(&dir, 230);
    let shop = replay::target_shop(&config, "bc", "demo").await.unwrap();
    let (seeded, _) = run(&options(&config, "bc", file, Platform::BigCommerce), &shop).await;
    assert_eq!(seeded.created, 230);
    // Three pages: the second and third ask BigCommerce for ids above the last one read (`min_id`).
    into_a_fresh_embedded_shop(
        "replay-bc-pages-2",
        |c| bigcommerce_target(c, fake.base_url()),
        "bc",
        Platform::BigCommerce,
        230,
    )
    .await;
    let lists: Vec<_> = fake
        .seen()
        .into_iter()
        .filter(|s| s.method == "GET" && s.path.ends_with("/v2/orders"))
        .collect();
    assert_eq!(lists.len(), 3, "{lists:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commercelayer_source_of_several_pages_is_read_whole_by_creation_time() {
    use crate::fakes::commercelayer::CommerceLayerFake;
    let fake = Fake::start(CommerceLayerFake::new("cl-id", "cl-secret")).await;
    let backend = commercelayer_backend;
    let dir = fresh_dir("replay-cl-pages");
    let mut cfg = config(&dir);
    cfg.backends.push(backend(fake.base_url()));
    let file = bigcommerce_ndjson(&dir, 230);
    let shop = replay::target_shop(&cfg, "cl", "demo").await.unwrap();
    let (seeded, _) = run(&options(&cfg, "cl", file, Platform::BigCommerce), &shop).await;
    assert_eq!(seeded.created, 230, "{seeded:?}");
    // Three pages, the second and third from the last creation time read on (orders made in the same
    // millisecond are told apart by id).
    into_a_fresh_embedded_shop(
        "replay-cl-pages-2",
        |c| c.backends.push(backend(fake.base_url())),
        "cl",
        Platform::CommerceLayer,
        230,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_order_that_does_not_decode_fails_alone_and_the_run_goes_on() {
    let fake = bigcommerce_fake().await;
    let dir = fresh_dir("replay-unreadable");
    let mut config = config(&dir);
    bigcommerce_target(&mut config, fake.base_url());
    let file = bigcommerce_ndjson(&dir, 30);
    let shop = replay::target_shop(&config, "bc", "demo").await.unwrap();
    let (seeded, _) = run(
        &options(&config, "bc", file.clone(), Platform::BigCommerce),
        &shop,
    )
    .await;
    assert_eq!(seeded.created, 30);
    // One order upstream that no client can read: its creation date is not a date.
    let bad = fake.with(|f| f.ids()[1]);
    fake.with(|f| f.set_member(bad, "date_created", json!("yesterday-ish")));

    let target = replay::target_shop(&config, "embedded", "demo")
        .await
        .unwrap();
    let mut opts = options(&config, "embedded", file, Platform::BigCommerce);
    opts.source = Source::Backend(Box::new(BackendSource {
        name: "bc".into(),
        shop: replay::shop_for(&config, &target.store, "bc").unwrap(),
        filter: OrderFilter::default(),
    }));
    let (first, _) = run(&opts, &target).await;
    assert_eq!(
        (first.read, first.created, first.failed),
        (30, 29, 1),
        "{first:?}"
    );
    assert_eq!(first.failures[0].source_key, format!("bigcommerce:{bad}"));
    assert!(
        first.failures[0].error.contains("date_created"),
        "{:?}",
        first.failures[0]
    );
    // Mended at the source, the re-run brings the one order it could not read, and only that one.
    fake.with(|f| {
        f.set_member(
            bad,
            "date_created",
            json!("Tue, 04 Mar 2025 15:22:41 +0000"),
        )
    });
    let (second, _) = run(&opts, &target).await;
    assert_eq!(
        (second.created, second.already_done, second.failed),
        (1, 29, 0),
        "{second:?}"
    );
    assert_each_once(embedded_sources(&target).await, 30);
}

/// reliability.md §9.1 at test size: a migration into a BigCommerce shop that fails in every way the fake knows
/// (5xx, resets before and after it acted and mid-reply, malformed and HTML replies, 429 bursts, replies too late,
/// orders made after the gateway stopped waiting), while the `replay` process is killed (SIGKILL) at random points
/// and run again until it finishes. Then the shop is counted by stamp: every source order there exactly once (none
/// lost, none doubled) and no order no source accounts for (no phantom). `ORDERMUX_REPLAY_ORDERS` sets the size
/// (1,500 by default); the counters are printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_and_faulted_replays_into_bigcommerce_leave_every_order_exactly_once() {
    let n: usize = std::env::var("ORDERMUX_REPLAY_ORDERS")
        .map(|v| v.parse().expect("ORDERMUX_REPLAY_ORDERS is a number"))
        .unwrap_or(1_500);
    let mut rng = crate::support::Rng::from_clock();
    let seed = rng.0;
    let fake = bigcommerce_fake().await;
    let dir = fresh_dir("replay-kill-faults");
    let file = bigcommerce_ndjson(&dir, n);
    let config_path = config_file(
        &dir,
        &format!(
            "[[backends]]\nname = \"bc\"\ntype = \"bigcommerce\"\nbase_url = \"{}\"\nstore_hash = \"up1\"\n\
             credentials = {{ token_env = \"OMX_TEST_BC_TOKEN\" }}\n\
             timeout_ms = 400\ntotal_timeout_ms = 3000\nsettle_ms = 600\nbreaker_failures = 100000\n",
            fake.base_url()
        ),
    );
    let command = || {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_ordermux"));
        c.args(["replay", "--to", "bc", "--dialect", "bigcommerce"])
            .args(["--concurrency", "8"])
            .arg("--from-file")
            .arg(&file)
            .arg("--config")
            .arg(&config_path)
            .arg("--data-dir")
            .arg(dir.join("data"))
            .env("OMX_TEST_BC_TOKEN", "up-token")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        c
    };
    // About one create or read in twenty meets a fault while the runs go on.
    let queue_faults = |rng: &mut crate::support::Rng| {
        for _ in 0..n / 20 + 1 {
            let fault = Fault::random_failure(rng, Duration::from_millis(500));
            let method = if rng.chance(80) { "POST" } else { "GET" };
            fake.fail(Some(method), Some("/orders"), fault, 1);
        }
    };

    // Generous: about 30 orders a second, however slow the machine.
    let deadline = std::time::Instant::now() + Duration::from_secs(120 + n as u64 / 30);
    let (mut kills, mut runs) = (0, 0);
    let faults_queued = {
        queue_faults(&mut rng);
        fake.faults_left()
    };
    // Killed at random points, two to four times, and once more per 10,000 orders.
    for _ in 0..2 + rng.below(3) + n as u64 / 10_000 {
        let mut child = command().spawn().unwrap();
        runs += 1;
        let kill_after = Duration::from_millis(200 + rng.below(1_500 + n as u64 / 10));
        tokio::time::sleep(kill_after).await;
        if child.try_wait().unwrap().is_some() {
            break;
        }
        let _ = child.kill(); // SIGKILL on Unix
        let _ = child.wait();
        kills += 1;
    }
    // Then run to the end; a run that gave some orders up to the faults is run again, without them.
    let mut faults_cleared = 0;
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "seed {seed}: the migration did not finish"
        );
        runs += 1;
        if command().status().unwrap().success() {
            break;
        }
        faults_cleared += fake.faults_left();
        fake.clear_faults();
    }
    let faults_met = faults_queued - fake.faults_left() - faults_cleared;
    // Longer than any late landing.
    tokio::time::sleep(Duration::from_millis(600)).await;

    let (mut lost, mut doubled) = (0, 0);
    for i in 0..n {
        let stamp = Stamp::for_key("demo", &format!("bigcommerce:gen-{i}"));
        match fake.with(|f| f.count_with_external_order_id(stamp.key())) {
            0 => lost += 1,
            1 => {}
            _ => doubled += 1,
        }
    }
    let phantom = fake.with(|f| f.order_count()).saturating_sub(n - lost);
    eprintln!(
        "replay of {n} orders, seed {seed}: {runs} runs, {kills} killed, {faults_met} faults met; lost {lost}, doubled {doubled}, phantom {phantom}"
    );
    assert_eq!(
        (lost, doubled, phantom),
        (0, 0, 0),
        "seed {seed}: {kills} kills, {faults_met} faults met"
    );
    assert!(kills > 0 && faults_met > 0, "seed {seed}: nothing tested");
    let _ = std::fs::remove_dir_all(dir);
}
