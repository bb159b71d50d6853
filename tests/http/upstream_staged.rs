//! Commerce Layer callers on a shop that cannot hold an empty draft (FluentCart here): the draft is staged in the
//! embedded store, edited there, and sent upstream whole when placed — once, keeping the ids the caller knows.

use std::time::Duration;

use ordermux::canonical::Platform;
use ordermux::config::{Backend, Credential, Credentials, Route, RouteMode};
use reqwest::Method;
use serde_json::{json, Value};

use super::harness::*;
use crate::fakes::fluentcart::FluentCartFake;
use crate::fakes::{Fake, Fault};

const USER: &str = "shop-admin";
const PASSWORD: &str = "abcd efgh ijkl mnop";

async fn gateway(name: &str, fake: &Fake<FluentCartFake>) -> TestGateway {
    let mut config = config(&fresh_dir(name));
    config.backends.push(Backend {
        credentials: Credentials {
            username: Some(Credential::new(USER)),
            password: Some(Credential::new(PASSWORD)),
            ..Credentials::default()
        },
        connect_timeout: Duration::from_millis(300),
        timeout: Duration::from_millis(800),
        total_timeout: Duration::from_secs(3),
        ..Backend::upstream("up", Platform::FluentCart, fake.base_url())
    });
    config.routes.push(Route {
        dialect: Platform::CommerceLayer,
        store_hash: None,
        backend: "up".into(),
        mode: RouteMode::Translate,
    });
    TestGateway::start_with(config).await
}

fn id_of(doc: &Value) -> String {
    doc["data"]["id"].as_str().expect("resource id").to_owned()
}

/// A Commerce Layer draft with a catalog line, an email and addresses, built the way the SDK builds one.
pub(super) async fn draft(gw: &TestGateway, token: &str) -> (String, String) {
    let order = expect(
        gw.cl(token, Method::POST, "/orders").json(&json!({"data": {
            "type": "orders",
            "attributes": {"customer_email": "ada@example.com"},
            "relationships": {"market": {"data": {"type": "markets", "id": "usd"}}}
        }})),
        201,
    )
    .await;
    let id = id_of(&order);
    let line = expect(
        gw.cl(token, Method::POST, "/line_items")
            .json(&json!({"data": {
                "type": "line_items",
                "attributes": {"sku_code": "TSHIRT-BLK-M", "quantity": 2},
                "relationships": {"order": {"data": {"type": "orders", "id": id}}}
            }})),
        201,
    )
    .await;
    let address = expect(
        gw.cl(token, Method::POST, "/addresses").json(&json!({"data": {"type": "addresses", "attributes": {
            "first_name": "Ada", "last_name": "Lovelace", "line_1": "1 Main St", "city": "Austin",
            "state_code": "TX", "zip_code": "78701", "country_code": "US", "phone": "+1 512 555 0100",
            "email": "ada@example.com"
        }}})),
        201,
    )
    .await;
    let addr = id_of(&address);
    expect(
        gw.cl(token, Method::PATCH, &format!("/orders/{id}"))
            .json(&json!({"data": {
                "type": "orders", "id": id,
                "relationships": {
                    "billing_address": {"data": {"type": "addresses", "id": addr}},
                    "shipping_address": {"data": {"type": "addresses", "id": addr}}
                }
            }})),
        200,
    )
    .await;
    (id, id_of(&line))
}

pub(super) async fn place(gw: &TestGateway, token: &str, id: &str, status: u16) -> Value {
    expect(
        gw.cl(token, Method::PATCH, &format!("/orders/{id}"))
            .json(&json!({"data": {"type": "orders", "id": id, "attributes": {"_place": true}}})),
        status,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draft_is_staged_until_placed_then_sent_once_under_the_same_ids() {
    let fake = Fake::start(FluentCartFake::new(USER, PASSWORD)).await;
    let gw = gateway("staged-place", &fake).await;
    let token = gw.cl_token().await;
    let (id, line_id) = draft(&gw, &token).await;
    assert_eq!(
        fake.with(|f| f.order_count()),
        0,
        "a draft stays in ordermux"
    );
    let got = expect(gw.cl(&token, Method::GET, &format!("/orders/{id}")), 200).await;
    assert_eq!(got["data"]["attributes"]["status"], "pending");

    let placed = place(&gw, &token, &id, 200).await;
    assert_eq!(
        placed["data"]["id"],
        id.as_str(),
        "the caller's id survives the move"
    );
    assert_eq!(placed["data"]["attributes"]["status"], "placed");
    assert_eq!(fake.with(|f| f.order_count()), 1);

    // Read back through the upstream, under the same ids, order and line item alike.
    let got = gw.cl_order_with_lines(&token, &id).await;
    assert_eq!(got["data"]["attributes"]["status"], "placed");
    let line = expect(
        gw.cl(&token, Method::GET, &format!("/line_items/{line_id}")),
        200,
    )
    .await;
    assert_eq!(line["data"]["attributes"]["quantity"], 2);

    // Placing again is refused by the lifecycle and sends nothing new.
    place(&gw, &token, &id, 422).await;
    assert_eq!(fake.with(|f| f.order_count()), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_place_whose_reply_is_lost_is_not_sent_twice() {
    let fake = Fake::start(FluentCartFake::new(USER, PASSWORD)).await;
    let gw = gateway("staged-lost", &fake).await;
    let token = gw.cl_token().await;
    let (id, _) = draft(&gw, &token).await;
    // The create reaches FluentCart, then the connection drops before the reply.
    fake.fail(Some("POST"), Some("/orders"), Fault::ResetAfter, 1);
    let placed = place(&gw, &token, &id, 200).await;
    assert_eq!(placed["data"]["attributes"]["status"], "placed");
    assert_eq!(
        fake.with(|f| f.order_count()),
        1,
        "reconciled by stamp, not resent: {:?}",
        fake.seen()
    );
}

/// A Commerce Layer address made with `POST /api/addresses`, for `linked_addresses_keep_their_ids`.
async fn standalone_address(gw: &TestGateway, token: &str, line_1: &str) -> String {
    let address = expect(
        gw.cl(token, Method::POST, "/addresses").json(&json!({"data": {"type": "addresses", "attributes": {
            "first_name": "Ada", "last_name": "Lovelace", "line_1": line_1, "city": "Austin",
            "state_code": "TX", "zip_code": "78701", "country_code": "US", "phone": "+1 512 555 0100",
            "email": "ada@example.com"
        }}})),
        201,
    )
    .await;
    id_of(&address)
}

/// The roles' address ids as a Commerce Layer caller reads them on order `id`.
pub(super) async fn linked_ids(gw: &TestGateway, token: &str, id: &str) -> [Value; 2] {
    let got = expect(
        gw.cl(
            token,
            Method::GET,
            &format!("/orders/{id}?include=billing_address,shipping_address"),
        ),
        200,
    )
    .await;
    ["billing_address", "shipping_address"]
        .map(|role| got["data"]["relationships"][role]["data"]["id"].clone())
}

/// A Commerce Layer caller links addresses it made to a draft and places it on a shop of another platform: the
/// order then reads back with the addresses under the ids the caller linked (as on a Commerce Layer shop), not
/// under new ones; linking others later moves the ids with them. `gw` routes Commerce Layer callers to the shop.
pub(super) async fn linked_addresses_keep_their_ids(gw: &TestGateway) {
    let token = gw.cl_token().await;
    let (id, _) = draft(gw, &token).await;
    let billing = standalone_address(gw, &token, "1 Billing Rd").await;
    let shipping = standalone_address(gw, &token, "2 Shipping Ln").await;
    let link = |billing: &str, shipping: &str| {
        json!({"data": {"type": "orders", "id": id, "relationships": {
            "billing_address": {"data": {"type": "addresses", "id": billing}},
            "shipping_address": {"data": {"type": "addresses", "id": shipping}}
        }}})
    };
    expect(
        gw.cl(&token, Method::PATCH, &format!("/orders/{id}"))
            .json(&link(&billing, &shipping)),
        200,
    )
    .await;
    let staged = linked_ids(gw, &token, &id).await;
    assert_eq!(staged, [json!(billing), json!(shipping)], "while staged");

    place(gw, &token, &id, 200).await;
    assert_eq!(
        linked_ids(gw, &token, &id).await,
        [json!(billing), json!(shipping)],
        "once upstream"
    );

    // Linked the other way round on the order upstream: the ids follow the addresses.
    let relinked = expect(
        gw.cl(&token, Method::PATCH, &format!("/orders/{id}"))
            .json(&link(&shipping, &billing)),
        200,
    )
    .await;
    let roles = ["billing_address", "shipping_address"]
        .map(|role| relinked["data"]["relationships"][role]["data"]["id"].clone());
    assert_eq!(roles, [json!(shipping), json!(billing)], "{relinked}");
    assert_eq!(
        linked_ids(gw, &token, &id).await,
        [json!(shipping), json!(billing)],
        "read again"
    );
    let got = expect(
        gw.cl(
            &token,
            Method::GET,
            &format!("/orders/{id}?include=billing_address"),
        ),
        200,
    )
    .await;
    let included = got["included"]
        .as_array()
        .and_then(|all| all.iter().find(|r| r["type"] == "addresses"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(included["id"], json!(shipping), "{got}");
    assert_eq!(included["attributes"]["line_1"], "2 Shipping Ln", "{got}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linked_addresses_keep_their_ids_on_fluentcart() {
    let fake = Fake::start(FluentCartFake::new(USER, PASSWORD)).await;
    let gw = gateway("staged-links", &fake).await;
    linked_addresses_keep_their_ids(&gw).await;
    gw.stop().await;
}
