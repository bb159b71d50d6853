//! What the gateway answers over HTTP validates against the platforms' specs (`../shared/specs`): every reply of
//! the FluentCart and BigCommerce APIs, on the embedded shop and translated to another platform's shop, checked
//! with the response schema of its operation. (Commerce Layer replies are checked against the JSON:API schema
//! and Commerce Layer's fields in `commercelayer.rs`.)

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

/// A FluentCart address object.
fn address(line1: &str) -> Value {
    json!({"first_name": "Ada", "last_name": "Lovelace", "address_1": line1, "city": "Austin",
           "state": "TX", "postcode": "78701", "country": "US",
           "meta": {"other_data": {"phone": "+1 512 555 0100"}}})
}

/// Drives every FluentCart order route the gateway serves and checks each reply.
pub(super) async fn fluentcart_replies(gw: &TestGateway, what: &str) {
    let created = expect(
        gw.fc(Method::POST, "/orders").json(&json!({
            "customer_id": 1, "currency": "USD",
            // Inline addresses (the gateway takes them; Commerce Layer places no order without a shipping one).
            "billing_address": address("1 Main St"), "shipping_address": address("9 Side St"),
            "order_items": [{"object_id": 1001, "quantity": 2}, {"object_id": 1002, "quantity": 1}]
        })),
        200,
    )
    .await;
    check(
        &fluentcart("create-order", "post", "/orders"),
        &created,
        &format!("{what}: create"),
    );
    let id = created["order_id"].as_u64().expect("order id");

    let got = expect(gw.fc(Method::GET, &format!("/orders/{id}")), 200).await;
    check(
        &fluentcart("get-order", "get", "/orders/{order_id}"),
        &got,
        &format!("{what}: get"),
    );
    let list = expect(gw.fc(Method::GET, "/orders?per_page=5"), 200).await;
    check(
        &fluentcart("list-orders", "get", "/orders"),
        &list,
        &format!("{what}: list"),
    );

    // A line edited: Commerce Layer refuses edits of a placed order (422), the others answer the order.
    let item = got["order"]["order_items"][0]["id"]
        .as_u64()
        .expect("item id");
    let r = gw
        .fc(Method::POST, &format!("/orders/{id}"))
        .json(&json!({"customer_id": 1, "order_items": [{"id": item, "quantity": 3}]}))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let updated: Value = r.json().await.unwrap();
    match status {
        200 => check(
            &fluentcart("update-order", "post", "/orders/{order_id}"),
            &updated,
            &format!("{what}: update"),
        ),
        422 => assert_eq!(updated["success"], false, "{what}: {updated}"),
        _ => panic!("{what}: update answered {status}: {updated}"),
    }

    let paid = expect(
        gw.fc(Method::POST, &format!("/orders/{id}/mark-as-paid")),
        200,
    )
    .await;
    check(
        &fluentcart("mark-as-paid", "post", "/orders/{order}/mark-as-paid"),
        &paid,
        &format!("{what}: mark-as-paid"),
    );
    let txs = expect(
        gw.fc(Method::GET, &format!("/orders/{id}/transactions")),
        200,
    )
    .await;
    check(
        &fluentcart(
            "get-order-transactions",
            "get",
            "/orders/{order}/transactions",
        ),
        &txs,
        &format!("{what}: transactions"),
    );
    // Shipped: Commerce Layer fulfils approved orders only, and says so (422); the others answer.
    let r = gw
        .fc(Method::PUT, &format!("/orders/{id}/statuses"))
        .json(&json!({
            "action": "change_shipping_status", "statuses": {"shipping_status": "shipped"}
        }))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let statuses: Value = r.json().await.unwrap();
    match status {
        200 => check(
            &fluentcart("update-statuses", "put", "/orders/{order}/statuses"),
            &statuses,
            &format!("{what}: statuses"),
        ),
        422 => assert_eq!(statuses["success"], false, "{what}: {statuses}"),
        _ => panic!("{what}: statuses answered {status}: {statuses}"),
    }
    if let Some(tx) = txs["order"]["transactions"][0]["id"].as_u64() {
        let refund = expect(
            gw.fc(Method::POST, &format!("/orders/{id}/refund"))
                .json(&json!({"refund_info": {"transaction_id": tx, "amount": 1}})),
            200,
        )
        .await;
        check(
            &fluentcart("refund-order", "post", "/orders/{order_id}/refund"),
            &refund,
            &format!("{what}: refund"),
        );
    }
}

/// Drives every BigCommerce order route the gateway serves and checks each reply.
pub(super) async fn bigcommerce_replies(gw: &TestGateway, what: &str) {
    let one = bigcommerce("order_Resp");
    // With phones: Commerce Layer takes no address without one.
    let mut body = super::bigcommerce::create_body("spec@example.com");
    body["billing_address"]["phone"] = json!("+1 512 555 0100");
    body["shipping_addresses"][0]["phone"] = json!("+1 512 555 0100");
    let created = expect(gw.bc(Method::POST, "/orders").json(&body), 201).await;
    check(&one, &created, &format!("{what}: create"));
    let id = created["id"].as_u64().expect("order id");
    let got = expect(gw.bc(Method::GET, &format!("/orders/{id}")), 200).await;
    check(&one, &got, &format!("{what}: get"));
    let updated = expect(
        gw.bc(Method::PUT, &format!("/orders/{id}"))
            .json(&json!({"status_id": 11})),
        200,
    )
    .await;
    check(&one, &updated, &format!("{what}: update"));
    let list = expect(gw.bc(Method::GET, "/orders?limit=5"), 200).await;
    check(
        &bigcommerce("orderCollection_Resp"),
        &list,
        &format!("{what}: list"),
    );
    let count = expect(gw.bc(Method::GET, "/orders/count"), 200).await;
    check(
        &bigcommerce("ordersCount_Resp"),
        &count,
        &format!("{what}: count"),
    );
    let products = expect(gw.bc(Method::GET, &format!("/orders/{id}/products")), 200).await;
    check(
        &bigcommerce("orderProductsCollection_Resp"),
        &products,
        &format!("{what}: products"),
    );
    let pid = products[0]["id"].as_u64().expect("product line id");
    let product = expect(
        gw.bc(Method::GET, &format!("/orders/{id}/products/{pid}")),
        200,
    )
    .await;
    check(
        &bigcommerce("orderProductLineItem_Resp"),
        &product,
        &format!("{what}: product"),
    );
    let ships = expect(
        gw.bc(Method::GET, &format!("/orders/{id}/shipping_addresses")),
        200,
    )
    .await;
    check(
        &bigcommerce("orderShippingAddressCollection_Resp"),
        &ships,
        &format!("{what}: shipping addresses"),
    );
    let sid = ships[0]["id"].as_u64().expect("shipping address id");
    let ship = expect(
        gw.bc(
            Method::GET,
            &format!("/orders/{id}/shipping_addresses/{sid}"),
        ),
        200,
    )
    .await;
    check(
        &bigcommerce("orderShippingAddress_Resp"),
        &ship,
        &format!("{what}: shipping address"),
    );
    let statuses = expect(gw.bc(Method::GET, "/order_statuses"), 200).await;
    check(
        &bigcommerce("orderStatusCollection_Resp"),
        &statuses,
        &format!("{what}: statuses"),
    );
    let status = expect(gw.bc(Method::GET, "/order_statuses/11"), 200).await;
    check(
        &bigcommerce("orderStatus_Resp"),
        &status,
        &format!("{what}: status"),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_replies_validate_against_the_specs() {
    let gw = TestGateway::start("spec-replies").await;
    fluentcart_replies(&gw, "FluentCart on the embedded shop").await;
    bigcommerce_replies(&gw, "BigCommerce on the embedded shop").await;
    gw.stop().await;
}
