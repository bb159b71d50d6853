//! What the gateway answers over HTTP validates against the platforms' specs (`../shared/specs`): every reply of
//! the three dialects' APIs, on the embedded shop and translated to another platform's shop, checked with the
//! response schema of its operation.

use jsonschema::Validator;
use reqwest::Method;
use serde_json::{json, Value};

use super::harness::*;
use crate::schema::{load_json, openapi_validator};

/// Asserts `doc` validates against `v`, naming `what` and the first errors.
fn check(v: &Validator, doc: &Value, what: &str) {
    let errors: Vec<String> = v
        .iter_errors(doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .take(5)
        .collect();
    assert!(
        errors.is_empty(),
        "{what} does not validate:\n  {}\n{doc}",
        errors.join("\n  ")
    );
}

/// The 200 reply schema of FluentCart operation `method path` in `file` (under `fluentcart/orders/`).
fn fluentcart(file: &str, method: &str, path: &str) -> Validator {
    let spec = load_json(&format!("fluentcart/orders/{file}.json"));
    // A JSON pointer (`/` escaped as `~1`) inside a URI fragment (braces percent-encoded).
    let path = path
        .replace('/', "~1")
        .replace('{', "%7B")
        .replace('}', "%7D");
    openapi_validator(
        &spec,
        &format!("/paths/{path}/{method}/responses/200/content/application~1json/schema"),
    )
}

/// The reply schema `components/responses/{name}` of the BigCommerce orders v2 spec.
fn bigcommerce(name: &str) -> Validator {
    let text = std::fs::read_to_string(
        crate::support::shared().join("specs/bigcommerce/orders.v2.oas2.yml"),
    )
    .unwrap();
    let spec: Value = serde_yaml_ng::from_str(&text).unwrap();
    openapi_validator(
        &spec,
        &format!("/components/responses/{name}/content/application~1json/schema"),
    )
}

/// Sends `req`, expects `status`, checks the reply against `v` and answers it.
async fn expect_valid(
    req: reqwest::RequestBuilder,
    status: u16,
    v: &Validator,
    what: &str,
) -> Value {
    let doc = expect(req, status).await;
    check(v, &doc, what);
    doc
}

/// A FluentCart step a platform may refuse: the reply is valid against `v` (200), or FluentCart's refusal (422).
async fn valid_or_refused(req: reqwest::RequestBuilder, v: &Validator, what: &str) {
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let reply: Value = r.json().await.unwrap();
    match status {
        200 => check(v, &reply, what),
        422 => assert_eq!(reply["success"], false, "{what}: {reply}"),
        _ => panic!("{what}: answered {status}: {reply}"),
    }
}

/// A FluentCart address object.
fn address(line1: &str) -> Value {
    json!({"first_name": "Ada", "last_name": "Lovelace", "address_1": line1, "city": "Austin",
           "state": "TX", "postcode": "78701", "country": "US",
           "meta": {"other_data": {"phone": "+1 512 555 0100"}}})
}

/// Drives every FluentCart order route the gateway serves and checks each reply.
async fn fluentcart_replies(gw: &TestGateway, what: &str) {
    let created = expect_valid(
        gw.fc(Method::POST, "/orders").json(&json!({
            "customer_id": 1, "currency": "USD",
            // Inline addresses (the gateway takes them; Commerce Layer places no order without a shipping one).
            "billing_address": address("1 Main St"), "shipping_address": address("9 Side St"),
            "order_items": [{"object_id": 1001, "quantity": 2}, {"object_id": 1002, "quantity": 1}]
        })),
        200,
        &fluentcart("create-order", "post", "/orders"),
        &format!("{what}: create"),
    )
    .await;
    let id = created["order_id"].as_u64().expect("order id");

    let got = expect_valid(
        gw.fc(Method::GET, &format!("/orders/{id}")),
        200,
        &fluentcart("get-order", "get", "/orders/{order_id}"),
        &format!("{what}: get"),
    )
    .await;
    expect_valid(
        gw.fc(Method::GET, "/orders?per_page=5"),
        200,
        &fluentcart("list-orders", "get", "/orders"),
        &format!("{what}: list"),
    )
    .await;

    // A line edited: Commerce Layer refuses edits of a placed order (422), the others answer the order.
    let item = got["order"]["order_items"][0]["id"]
        .as_u64()
        .expect("item id");
    valid_or_refused(
        gw.fc(Method::POST, &format!("/orders/{id}"))
            .json(&json!({"customer_id": 1, "order_items": [{"id": item, "quantity": 3}]})),
        &fluentcart("update-order", "post", "/orders/{order_id}"),
        &format!("{what}: update"),
    )
    .await;

    expect_valid(
        gw.fc(Method::POST, &format!("/orders/{id}/mark-as-paid")),
        200,
        &fluentcart("mark-as-paid", "post", "/orders/{order}/mark-as-paid"),
        &format!("{what}: mark-as-paid"),
    )
    .await;
    let txs = expect_valid(
        gw.fc(Method::GET, &format!("/orders/{id}/transactions")),
        200,
        &fluentcart(
            "get-order-transactions",
            "get",
            "/orders/{order}/transactions",
        ),
        &format!("{what}: transactions"),
    )
    .await;
    // Shipped: Commerce Layer fulfils approved orders only, and says so (422); the others answer.
    valid_or_refused(
        gw.fc(Method::PUT, &format!("/orders/{id}/statuses"))
            .json(&json!({
                "action": "change_shipping_status", "statuses": {"shipping_status": "shipped"}
            })),
        &fluentcart("update-statuses", "put", "/orders/{order}/statuses"),
        &format!("{what}: statuses"),
    )
    .await;
    if let Some(tx) = txs["order"]["transactions"][0]["id"].as_u64() {
        expect_valid(
            gw.fc(Method::POST, &format!("/orders/{id}/refund"))
                .json(&json!({"refund_info": {"transaction_id": tx, "amount": 1}})),
            200,
            &fluentcart("refund-order", "post", "/orders/{order_id}/refund"),
            &format!("{what}: refund"),
        )
        .await;
    }
    // Another order, deleted (FluentCart deletes orders of any state).
    let doomed = expect(
        gw.fc(Method::POST, "/orders").json(&json!({
            "customer_id": 1, "currency": "USD",
            "billing_address": address("1 Main St"), "shipping_address": address("9 Side St"),
            "order_items": [{"object_id": 1001, "quantity": 1}]
        })),
        200,
    )
    .await;
    let doomed = doomed["order_id"].as_u64().expect("order id");
    valid_or_refused(
        gw.fc(Method::DELETE, &format!("/orders/{doomed}")),
        &fluentcart("delete-order", "delete", "/orders/{order_id}"),
        &format!("{what}: delete"),
    )
    .await;
}

/// Drives every BigCommerce order route the gateway serves and checks each reply.
async fn bigcommerce_replies(gw: &TestGateway, what: &str) {
    let one = bigcommerce("order_Resp");
    // With phones: Commerce Layer takes no address without one.
    let mut body = super::bigcommerce::create_body("spec@example.com");
    body["billing_address"]["phone"] = json!("+1 512 555 0100");
    body["shipping_addresses"][0]["phone"] = json!("+1 512 555 0100");
    let created = expect_valid(
        gw.bc(Method::POST, "/orders").json(&body),
        201,
        &one,
        &format!("{what}: create"),
    )
    .await;
    let id = created["id"].as_u64().expect("order id");
    expect_valid(
        gw.bc(Method::GET, &format!("/orders/{id}")),
        200,
        &one,
        &format!("{what}: get"),
    )
    .await;
    expect_valid(
        gw.bc(Method::PUT, &format!("/orders/{id}"))
            .json(&json!({"status_id": 11})),
        200,
        &one,
        &format!("{what}: update"),
    )
    .await;
    expect_valid(
        gw.bc(Method::GET, "/orders?limit=5"),
        200,
        &bigcommerce("orderCollection_Resp"),
        &format!("{what}: list"),
    )
    .await;
    expect_valid(
        gw.bc(Method::GET, "/orders/count"),
        200,
        &bigcommerce("ordersCount_Resp"),
        &format!("{what}: count"),
    )
    .await;
    let products = expect_valid(
        gw.bc(Method::GET, &format!("/orders/{id}/products")),
        200,
        &bigcommerce("orderProductsCollection_Resp"),
        &format!("{what}: products"),
    )
    .await;
    let pid = products[0]["id"].as_u64().expect("product line id");
    expect_valid(
        gw.bc(Method::GET, &format!("/orders/{id}/products/{pid}")),
        200,
        &bigcommerce("orderProductLineItem_Resp"),
        &format!("{what}: product"),
    )
    .await;
    let ships = expect_valid(
        gw.bc(Method::GET, &format!("/orders/{id}/shipping_addresses")),
        200,
        &bigcommerce("orderShippingAddressCollection_Resp"),
        &format!("{what}: shipping addresses"),
    )
    .await;
    let sid = ships[0]["id"].as_u64().expect("shipping address id");
    expect_valid(
        gw.bc(
            Method::GET,
            &format!("/orders/{id}/shipping_addresses/{sid}"),
        ),
        200,
        &bigcommerce("orderShippingAddress_Resp"),
        &format!("{what}: shipping address"),
    )
    .await;
    expect_valid(
        gw.bc(Method::GET, "/order_statuses"),
        200,
        &bigcommerce("orderStatusCollection_Resp"),
        &format!("{what}: statuses"),
    )
    .await;
    expect_valid(
        gw.bc(Method::GET, "/order_statuses/11"),
        200,
        &bigcommerce("orderStatus_Resp"),
        &format!("{what}: status"),
    )
    .await;
}

/// The Commerce Layer OpenAPI document, read once (4 MB). Where it and `resources.json` (schema v7.9.16, the
/// newer of the two, and what the API pages show) disagree on a field's type, `resources.json` is followed.
fn commercelayer_spec() -> &'static Value {
    static SPEC: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    SPEC.get_or_init(|| {
        let mut spec = load_json("commercelayer/openapi.json");
        let resources = load_json("commercelayer/resources.json");
        let schemas = &mut spec["components"]["schemas"];
        for resource in resources.as_array().into_iter().flatten() {
            // `line_item` in resources.json is `lineItem` among the OpenAPI schemas.
            let name: String = resource["id"]
                .as_str()
                .unwrap_or_default()
                .split('_')
                .enumerate()
                .map(|(i, part)| match i {
                    0 => part.to_owned(),
                    _ => part[..1].to_uppercase() + &part[1..],
                })
                .collect();
            let Some(fields) = resource["attributes"]["fields"].as_object() else {
                continue;
            };
            let Some(attrs) = schemas[name.as_str()]["properties"]["data"]["properties"]
                ["attributes"]["properties"]
                .as_object_mut()
            else {
                continue;
            };
            for (field, def) in fields {
                if def["type"] == "string"
                    && attrs.get(field).is_some_and(|a| a["type"] == "integer")
                {
                    attrs[field]["type"] = json!("string");
                }
            }
            for attr in attrs.values_mut() {
                attr["nullable"] = json!(true);
            }
        }
        spec
    })
}

/// Checks a Commerce Layer reply (a resource, or a list of them) against `components/schemas/{name}`. The
/// spec's relationship objects name singular types (`market`), where the API, as JSON:API, names the resource
/// types (`markets`): relationships are checked by `commercelayer.rs` against JSON:API and `resources.json`
/// instead, and left out here.
fn check_commercelayer(name: &str, doc: &Value, what: &str) {
    let v = openapi_validator(commercelayer_spec(), &format!("/components/schemas/{name}"));
    let mut doc = doc.clone();
    let strip = |r: &mut Value| {
        if let Some(o) = r.as_object_mut() {
            o.remove("relationships");
        }
    };
    match &mut doc["data"] {
        Value::Array(items) => items.iter_mut().for_each(strip),
        one => strip(one),
    }
    if let Some(o) = doc.as_object_mut() {
        o.remove("included");
    }
    check(&v, &doc, what);
}

/// Drives the Commerce Layer routes the gateway serves (token, markets, orders, line items, addresses, the
/// `_place` trigger) and checks each reply.
async fn commercelayer_replies(gw: &TestGateway, what: &str) {
    let token = gw.cl_token().await;
    let cl = |method: Method, path: &str| gw.cl(&token, method, path);
    let markets = expect(cl(Method::GET, "/markets"), 200).await;
    check_commercelayer("marketResponseList", &markets, &format!("{what}: markets"));
    let market = expect(cl(Method::GET, "/markets/usd"), 200).await;
    check_commercelayer("marketResponse", &market, &format!("{what}: market"));

    let order = expect(
        cl(Method::POST, "/orders").json(&json!({"data": {
            "type": "orders",
            "attributes": {"customer_email": "spec@example.com", "reference": "spec-1"},
            "relationships": {"market": {"data": {"type": "markets", "id": "usd"}}}
        }})),
        201,
    )
    .await;
    check_commercelayer("orderResponse", &order, &format!("{what}: order create"));
    let id = order["data"]["id"].as_str().expect("order id").to_owned();
    let line = expect(
        cl(Method::POST, "/line_items").json(&json!({"data": {
            "type": "line_items",
            "attributes": {"sku_code": "TSHIRT-BLK-M", "quantity": 2},
            "relationships": {"order": {"data": {"type": "orders", "id": id}}}
        }})),
        201,
    )
    .await;
    check_commercelayer(
        "lineItemResponse",
        &line,
        &format!("{what}: line item create"),
    );
    let line_id = line["data"]["id"]
        .as_str()
        .expect("line item id")
        .to_owned();
    let line = expect(
        cl(Method::PATCH, &format!("/line_items/{line_id}")).json(&json!({"data": {
            "type": "line_items", "id": line_id, "attributes": {"quantity": 3}
        }})),
        200,
    )
    .await;
    check_commercelayer(
        "lineItemResponse",
        &line,
        &format!("{what}: line item update"),
    );
    let line = expect(cl(Method::GET, &format!("/line_items/{line_id}")), 200).await;
    check_commercelayer("lineItemResponse", &line, &format!("{what}: line item get"));

    let address = expect(
        cl(Method::POST, "/addresses").json(&json!({"data": {
            "type": "addresses",
            "attributes": {"first_name": "Ada", "last_name": "Lovelace", "line_1": "1 Main St",
                "city": "Austin", "state_code": "TX", "zip_code": "78701", "country_code": "US",
                "phone": "+1 512 555 0100"}
        }})),
        201,
    )
    .await;
    check_commercelayer(
        "addressResponse",
        &address,
        &format!("{what}: address create"),
    );
    let address_id = address["data"]["id"]
        .as_str()
        .expect("address id")
        .to_owned();
    let address = expect(cl(Method::GET, &format!("/addresses/{address_id}")), 200).await;
    check_commercelayer("addressResponse", &address, &format!("{what}: address get"));

    let addressed = expect(
        cl(Method::PATCH, &format!("/orders/{id}")).json(&json!({"data": {
            "type": "orders", "id": id,
            "relationships": {
                "billing_address": {"data": {"type": "addresses", "id": address_id}},
                "shipping_address": {"data": {"type": "addresses", "id": address_id}}
            }
        }})),
        200,
    )
    .await;
    check_commercelayer(
        "orderResponse",
        &addressed,
        &format!("{what}: order update"),
    );
    let placed = expect(
        cl(Method::PATCH, &format!("/orders/{id}")).json(&json!({"data": {
            "type": "orders", "id": id, "attributes": {"_place": true}
        }})),
        200,
    )
    .await;
    check_commercelayer("orderResponse", &placed, &format!("{what}: _place"));
    let got = expect(
        cl(
            Method::GET,
            &format!("/orders/{id}?include=line_items,market"),
        ),
        200,
    )
    .await;
    check_commercelayer("orderResponse", &got, &format!("{what}: order get"));
    let list = expect(cl(Method::GET, "/orders?page[size]=5"), 200).await;
    check_commercelayer("orderResponseList", &list, &format!("{what}: order list"));
}

/// The replies of callers of all three dialects on `gw`, whose orders live on `shop`.
pub(super) async fn every_dialect(gw: &TestGateway, shop: &str) {
    fluentcart_replies(gw, &format!("FluentCart on {shop}")).await;
    bigcommerce_replies(gw, &format!("BigCommerce on {shop}")).await;
    commercelayer_replies(gw, &format!("Commerce Layer on {shop}")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_replies_validate_against_the_specs() {
    let gw = TestGateway::start("spec-errors").await;
    let fc_error = openapi_validator(
        &load_json("fluentcart/fluentcart-base.json"),
        "/components/schemas/Error",
    );
    for (req, status) in [
        (gw.fc(Method::GET, "/orders/424242"), 404),
        (
            gw.fc(Method::POST, "/orders")
                .json(&json!({"currency": "USD"})),
            422,
        ),
        (gw.fc(Method::POST, "/orders").body("{"), 400),
        (gw.fc(Method::PATCH, "/orders"), 405),
    ] {
        let doc = expect(req, status).await;
        check(&fc_error, &doc, &format!("FluentCart {status}"));
        assert_eq!(doc["data"]["status"], status, "{doc}");
    }
    let bc_error = bigcommerce("404_Resp");
    for (req, status) in [
        (gw.bc(Method::GET, "/orders/424242"), 404),
        (
            gw.bc(Method::POST, "/orders")
                .json(&json!({"products": []})),
            422,
        ),
        (gw.bc(Method::POST, "/orders").body("{"), 400),
        (gw.bc(Method::PATCH, "/orders"), 405),
    ] {
        let doc = expect(req, status).await;
        // BigCommerce's one documented error shape (its 404's) is the shape of all of them.
        check(&bc_error, &doc, &format!("BigCommerce {status}"));
        assert_eq!(doc[0]["status"], status, "{doc}");
    }
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_replies_validate_against_the_specs() {
    let gw = TestGateway::start("spec-replies").await;
    every_dialect(&gw, "the embedded shop").await;
    gw.stop().await;
}
