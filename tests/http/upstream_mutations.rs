//! Create requests of every dialect, each changed in one place (a member removed, or its value swapped for one of
//! another type or size), sent through whatever shop the gateway serves: never a 500, a refusal in the caller's
//! error shape, and nothing half-written: a refused create leaves the shop's order count as it was, an accepted
//! one adds exactly one. Each backend's `gateway` module runs `every_caller` against its own fake; the embedded
//! shop's test is here.

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use reqwest::Method;
use serde_json::{json, Value};

use super::harness::*;
use super::upstream_shapes::{assert_error_shape, Caller};

/// Fixtures taken per dialect, and changes made to each.
const FIXTURES: usize = 3;
const CHANGES: usize = 20;

/// What a changed member becomes (`None`: it is removed).
fn replacements() -> Vec<Option<Value>> {
    vec![
        None,
        Some(Value::Null),
        Some(json!("")),
        Some(json!(-1)),
        Some(json!(0)),
        Some(json!(1e30)),
        Some(json!(18_446_744_073_709_551_615u64)),
        Some(json!("12.345")),
        Some(json!("x")),
        Some(json!([])),
        Some(json!({})),
        Some(json!(true)),
    ]
}

/// Every JSON pointer in `doc` below its root.
fn pointers(doc: &Value, at: &str, out: &mut Vec<String>) {
    let escape = |k: &str| k.replace('~', "~0").replace('/', "~1");
    match doc {
        Value::Object(map) => {
            for (k, v) in map {
                let p = format!("{at}/{}", escape(k));
                out.push(p.clone());
                pointers(v, &p, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let p = format!("{at}/{i}");
                out.push(p.clone());
                pointers(v, &p, out);
            }
        }
        _ => {}
    }
}

/// `doc` with the member at `pointer` removed (`None`) or replaced.
fn changed(doc: &Value, pointer: &str, to: Option<Value>) -> Value {
    let mut doc = doc.clone();
    let (parent, last) = pointer.rsplit_once('/').expect("a pointer below the root");
    let key = last.replace("~1", "/").replace("~0", "~");
    match doc.pointer_mut(parent) {
        Some(Value::Object(map)) => match to {
            Some(v) => {
                map.insert(key, v);
            }
            None => {
                map.remove(&key);
            }
        },
        Some(Value::Array(items)) => {
            let i: usize = key.parse().expect("an index");
            match to {
                Some(v) => items[i] = v,
                None => {
                    items.remove(i);
                }
            }
        }
        _ => unreachable!("{pointer} names a member of a container"),
    }
    doc
}

/// The first `FIXTURES` create requests of `dialect`, each changed `CHANGES` ways, from a fixed seed.
fn changed_requests(dialect: &str) -> Vec<(String, Value)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(dialect)
        .join("request")
        .join("ok");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut runner = TestRunner::deterministic();
    let mut out = Vec::new();
    for file in files.into_iter().take(FIXTURES) {
        let mut doc: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        // Commerce Layer fixtures name markets of their own; the gateway's are `usd` and `eur`.
        if let Some(market) = doc.pointer_mut("/data/relationships/market/data/id") {
            let name = file.file_name().unwrap().to_string_lossy().into_owned();
            *market = json!(if name.contains("_eur_") { "eur" } else { "usd" });
        }
        let mut places = Vec::new();
        pointers(&doc, "", &mut places);
        let pick = (
            proptest::sample::select(places),
            proptest::sample::select(replacements()),
        );
        for _ in 0..CHANGES {
            let (pointer, to) = pick.new_tree(&mut runner).expect("a change").current();
            let what = format!(
                "{} with {pointer} {}",
                file.file_name().unwrap().to_string_lossy(),
                to.as_ref()
                    .map_or("removed".to_owned(), |v| format!("= {v}"))
            );
            out.push((what, changed(&doc, &pointer, to)));
        }
    }
    out
}

/// How many orders the shop holds: an upstream fake's own count, or (`None`) the embedded shop's, asked of it.
async fn count(gw: &TestGateway, upstream: &Option<&dyn Fn() -> usize>) -> usize {
    match upstream {
        Some(orders) => orders(),
        None => {
            let counted = expect(gw.bc(Method::GET, "/orders/count"), 200).await;
            counted["count"].as_u64().expect("a count") as usize
        }
    }
}

/// Sends every dialect's changed create requests to `gw`; `upstream` counts the orders its upstream shop holds
/// (`None`: the embedded shop).
pub async fn every_caller(gw: &TestGateway, upstream: Option<&dyn Fn() -> usize>) {
    let token = gw.cl_token().await;
    for (caller, dialect) in [
        (Caller::FluentCart, "fluentcart"),
        (Caller::BigCommerce, "bigcommerce"),
        (Caller::CommerceLayer, "commercelayer"),
    ] {
        for (what, body) in changed_requests(dialect) {
            let before = count(gw, &upstream).await;
            let request = match caller {
                Caller::FluentCart => gw.fc(Method::POST, "/orders"),
                Caller::BigCommerce => gw.bc(Method::POST, "/orders"),
                Caller::CommerceLayer => gw.cl(&token, Method::POST, "/orders"),
            };
            let reply = request.json(&body).send().await.unwrap();
            let status = reply.status().as_u16();
            let text = reply.text().await.unwrap();
            let what = format!("{caller:?} create, {what}");
            assert_ne!(status, 500, "{what}: {text}");
            let after = count(gw, &upstream).await;
            if status >= 400 {
                let error: Value = serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("{what}: {status} is not JSON ({e}): {text}"));
                assert_error_shape(caller, status, &error, &what);
                assert_eq!(after, before, "{what}: refused with {status}, yet written");
            } else {
                assert_eq!(after, before + 1, "{what}: answered {status}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_creates_on_the_embedded_shop() {
    let gw = TestGateway::start("mutations").await;
    every_caller(&gw, None).await;
    gw.stop().await;
}
