//! Generated list and count queries from every caller, through whatever shop the gateway serves (the embedded
//! one, or a translating route to a fake upstream): never a 500, a refusal always in the caller's error shape, an
//! answer always the caller's document. Each backend's `gateway` module runs `every_caller` against its own
//! fake; the embedded shop's test is here.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use reqwest::Method;
use serde_json::Value;

use super::harness::*;
use super::upstream_shapes::{assert_error_shape, Caller};

/// Queries each caller sends.
const PER_CALLER: usize = 120;

/// Parameter values: numbers at and past every integer width, dates of every spelling and some that are none,
/// decimals finer than a cent, separators, and text.
const VALUES: &[&str] = &[
    "",
    "0",
    "1",
    "2",
    "-1",
    "250",
    "251",
    "18446744073709551615",
    "18446744073709551616",
    "9223372036854775808",
    "1.5",
    "1e3",
    "abc",
    "2025-01-01",
    "2025-01-01T00:00:00Z",
    "12025-01-01",
    "2025-13-45",
    "Tue, 04 Mar 2025 15:22:41 +0000",
    "Tue, 04 Mar 12025 15:22:41 +0000",
    "1735689600",
    "asc",
    "desc",
    "id:desc",
    "date_created:asc",
    "total_inc_tax:desc",
    "x:y:z",
    "-created_at",
    "number,-total_amount_cents",
    "a,b,,c",
    "placed",
    "pending,approved",
    "on-hold",
    "processing",
    "paid",
    "12.345",
    "0.001",
    "100000000000000000000000.00",
    "ada@example.com",
    "USD",
    "JPY",
    "line_items",
    "line_items,market",
    "%",
    "é",
    " 1 ",
    "null",
    "true",
];

/// Values many of the parameters take, so that a good share of the queries is answered.
const PLAUSIBLE: &[&str] = &[
    "1",
    "2",
    "10",
    "11",
    "5000",
    "asc",
    "desc",
    "placed",
    "pending",
    "USD",
    "2025-01-01T00:00:00Z",
    "Tue, 04 Mar 2025 15:22:41 +0000",
    "ada@example.com",
    "line_items",
];

const BIGCOMMERCE: &[&str] = &[
    "page",
    "limit",
    "sort",
    "status_id",
    "min_id",
    "max_id",
    "email",
    "min_total",
    "max_total",
    "min_date_created",
    "max_date_created",
    "min_date_modified",
    "max_date_modified",
    "is_deleted",
    "customer_id",
];
const FLUENTCART: &[&str] = &[
    "page",
    "per_page",
    "sort_by",
    "sort_type",
    "order_statuses[]",
    "payment_statuses[]",
    "shipping_statuses[]",
    "active_view",
    "search",
];
const COMMERCELAYER: &[&str] = &[
    "page[number]",
    "page[size]",
    "sort",
    "include",
    "fields[orders]",
    "filter[q][status_eq]",
    "filter[q][status_in]",
    "filter[q][payment_status_eq]",
    "filter[q][fulfillment_status_in]",
    "filter[q][created_at_gt]",
    "filter[q][created_at_lteq]",
    "filter[q][updated_at_gteq]",
    "filter[q][total_amount_cents_gteq]",
    "filter[q][total_amount_cents_lt]",
    "filter[q][customer_email_eq]",
    "filter[q][currency_code_eq]",
    "filter[q][reference_eq]",
    "filter[q][number_eq]",
    "filter[q][market_id_eq]",
    "filter[q][x_eq]",
    "filter[id]",
];

/// `count` query strings of one to three parameters from `names`, from a fixed seed (the same on every run, so a
/// failure repeats).
fn queries(names: &'static [&'static str], count: usize) -> Vec<String> {
    let value = prop_oneof![
        proptest::sample::select(VALUES),
        proptest::sample::select(PLAUSIBLE),
    ];
    let query = proptest::collection::vec((proptest::sample::select(names), value), 1..4);
    let mut runner = TestRunner::deterministic();
    (0..count)
        .map(|_| {
            let pairs = query.new_tree(&mut runner).expect("a query").current();
            let encode = |s: &str| {
                percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC)
                    .to_string()
            };
            pairs
                .iter()
                .map(|(name, value)| format!("{}={}", encode(name), encode(value)))
                .collect::<Vec<_>>()
                .join("&")
        })
        .collect()
}

/// Sends every caller's generated list queries (and BigCommerce's counts) to `gw`.
pub async fn every_caller(gw: &TestGateway) {
    let token = gw.cl_token().await;
    let calls = [
        (Caller::BigCommerce, BIGCOMMERCE, "/orders"),
        (Caller::BigCommerce, BIGCOMMERCE, "/orders/count"),
        (Caller::FluentCart, FLUENTCART, "/orders"),
        (Caller::CommerceLayer, COMMERCELAYER, "/api/orders"),
    ];
    for (caller, names, path) in calls {
        for query in queries(names, PER_CALLER) {
            let target = format!("{path}?{query}");
            let request = match caller {
                Caller::BigCommerce => gw.bc(Method::GET, &target),
                Caller::FluentCart => gw.fc(Method::GET, &target),
                Caller::CommerceLayer => {
                    gw.cl(&token, Method::GET, target.trim_start_matches("/api"))
                }
            };
            let reply = request.send().await.unwrap();
            let status = reply.status().as_u16();
            let text = reply.text().await.unwrap();
            let what = format!("{caller:?} GET {target}");
            assert_ne!(status, 500, "{what}: {text}");
            if status == 204 {
                assert!(text.is_empty(), "{what}: {text}");
                continue;
            }
            let body: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{what}: {status} is not JSON ({e}): {text}"));
            if status >= 400 {
                assert_error_shape(caller, status, &body, &what);
            } else {
                assert_eq!(status, 200, "{what}: {text}");
                let list = match caller {
                    Caller::BigCommerce if path.ends_with("/count") => body.get("statuses"),
                    Caller::BigCommerce => Some(&body),
                    Caller::FluentCart => body.pointer("/orders/data"),
                    Caller::CommerceLayer => body.get("data"),
                };
                assert!(list.is_some_and(Value::is_array), "{what}: {text}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_queries_on_the_embedded_shop() {
    let gw = TestGateway::start("queries").await;
    every_caller(&gw).await;
    gw.stop().await;
}
