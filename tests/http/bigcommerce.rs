//! The BigCommerce v2 API over HTTP: create, read with sub-resources, list filters and paging, count, update,
//! delete, statuses, and the bad-input corpus rows that apply to a BigCommerce create.

use reqwest::Method;
use serde_json::{json, Value};

use super::harness::*;

pub fn create_body(email: &str) -> Value {
    json!({
        "billing_address": {
            "first_name": "Jane", "last_name": "Doe", "street_1": "1 Main St", "city": "Austin",
            "state": "Texas", "zip": "78701", "country": "United States", "country_iso2": "US",
            "email": email
        },
        "shipping_addresses": [{
            "first_name": "Jane", "last_name": "Doe", "street_1": "9 Side St", "city": "Austin",
            "state": "Texas", "zip": "78702", "country": "United States", "country_iso2": "US",
            "email": email
        }],
        "products": [
            {"product_id": 111, "quantity": 2},
            {"name": "Gift wrap", "quantity": 1, "price_inc_tax": 5, "price_ex_tax": 5}
        ]
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_read_sub_resources_update_delete() {
    let gw = TestGateway::start("bc-crud").await;
    let order = expect(
        gw.bc(Method::POST, "/orders")
            .json(&create_body("jane@example.com")),
        201,
    )
    .await;
    let id = order["id"].as_u64().unwrap();
    assert_eq!(order["status_id"], 1);
    // Catalog price for product 111 (25.00) × 2 + custom 5.00.
    assert_eq!(order["subtotal_ex_tax"], "55.0000");
    assert_eq!(order["total_inc_tax"], "55.0000");
    assert_eq!(order["currency_code"], "USD");
    assert!(order["products"]["url"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/orders/{id}/products")));

    let got = expect(gw.bc(Method::GET, &format!("/orders/{id}")), 200).await;
    assert_eq!(got, order, "a read returns what the create returned");

    let products = expect(gw.bc(Method::GET, &format!("/orders/{id}/products")), 200).await;
    assert_eq!(products.as_array().unwrap().len(), 2);
    assert_eq!(products[0]["sku"], "TSHIRT-BLK-M");
    assert_eq!(products[0]["price_ex_tax"], "25.0000");
    // A custom line reads back with both prices, as 4-place strings, whatever spelling the create used.
    assert_eq!(products[1]["price_ex_tax"], "5.0000");
    assert_eq!(products[1]["price_inc_tax"], "5.0000");
    let pid = products[0]["id"].as_u64().unwrap();
    let one = expect(
        gw.bc(Method::GET, &format!("/orders/{id}/products/{pid}")),
        200,
    )
    .await;
    assert_eq!(one["product_id"], 111);
    let ship = expect(
        gw.bc(Method::GET, &format!("/orders/{id}/shipping_addresses")),
        200,
    )
    .await;
    assert_eq!(ship[0]["street_1"], "9 Side St");
    let linked = expect(
        gw.bc(Method::GET, &format!("/orders/{id}/shippingaddresses")),
        200,
    )
    .await;
    assert_eq!(linked, ship);
    // No coupons: BigCommerce answers 204.
    expect(gw.bc(Method::GET, &format!("/orders/{id}/coupons")), 204).await;

    let updated = expect(
        gw.bc(Method::PUT, &format!("/orders/{id}"))
            .json(&json!({"status_id": 11, "staff_notes": "rush"})),
        200,
    )
    .await;
    assert_eq!(updated["status_id"], 11);
    assert_eq!(updated["status"], "Awaiting Fulfillment");
    assert_eq!(updated["staff_notes"], "rush");
    let refused = expect(
        gw.bc(Method::PUT, &format!("/orders/{id}"))
            .json(&json!({"total_inc_tax": "1.00"})),
        422,
    )
    .await;
    assert_eq!(refused[0]["status"], 422);
    let after = expect(gw.bc(Method::GET, &format!("/orders/{id}")), 200).await;
    assert_eq!(
        after["total_inc_tax"], "55.0000",
        "a refused update changes nothing"
    );

    expect(gw.bc(Method::DELETE, &format!("/orders/{id}")), 204).await;
    let gone = expect(gw.bc(Method::GET, &format!("/orders/{id}")), 404).await;
    assert_eq!(gone[0]["status"], 404);

    // An Incomplete order (status 0) is given a status, as in BigCommerce; an order set back to Incomplete can
    // leave it again.
    let mut incomplete = create_body("jane@example.com");
    incomplete["status_id"] = json!(0);
    let draft = expect(gw.bc(Method::POST, "/orders").json(&incomplete), 201).await;
    assert_eq!(draft["status_id"], 0);
    let draft_id = draft["id"].as_u64().unwrap();
    for status in [1, 0, 11] {
        let set = expect(
            gw.bc(Method::PUT, &format!("/orders/{draft_id}"))
                .json(&json!({ "status_id": status })),
            200,
        )
        .await;
        assert_eq!(set["status_id"], status);
    }

    // A price finer than the cent is kept in cents, and the reply says so, once for the one amount (both of the
    // line's prices round into it).
    let mut sub_cent = create_body("jane@example.com");
    sub_cent["products"] =
        json!([{"name": "Tea", "quantity": 1, "price_inc_tax": "1.234", "price_ex_tax": "1.234"}]);
    let reply = gw
        .bc(Method::POST, "/orders")
        .json(&sub_cent)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status().as_u16(), 201);
    assert_eq!(
        reply.headers()["x-ordermux-losses"],
        "precision /line_items/0/unit_price"
    );
    let created: Value = reply.json().await.unwrap();
    assert_eq!(created["subtotal_inc_tax"], "1.2300");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_filters_sorting_paging_and_count() {
    let gw = TestGateway::start("bc-list").await;
    for i in 0..5 {
        expect(
            gw.bc(Method::POST, "/orders")
                .json(&create_body(&format!("buyer{i}@example.com"))),
            201,
        )
        .await;
    }
    let all = expect(
        gw.bc(Method::GET, "/orders?limit=2&page=1&sort=id%3Adesc"),
        200,
    )
    .await;
    let ids: Vec<u64> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [104, 103]);
    let page3 = expect(
        gw.bc(Method::GET, "/orders?limit=2&page=3&sort=id:desc"),
        200,
    )
    .await;
    assert_eq!(page3.as_array().unwrap().len(), 1);
    expect(gw.bc(Method::GET, "/orders?limit=2&page=4"), 204).await;
    let by_email = expect(gw.bc(Method::GET, "/orders?email=buyer3@example.com"), 200).await;
    assert_eq!(by_email.as_array().unwrap().len(), 1);
    let window = expect(gw.bc(Method::GET, "/orders?min_id=101&max_id=102"), 200).await;
    assert_eq!(window.as_array().unwrap().len(), 2);
    expect(
        gw.bc(Method::PUT, "/orders/100")
            .json(&json!({"status_id": 11})),
        200,
    )
    .await;
    let awaiting = expect(gw.bc(Method::GET, "/orders?status_id=11"), 200).await;
    assert_eq!(awaiting.as_array().unwrap().len(), 1);
    assert_eq!(awaiting[0]["id"], 100);
    expect(gw.bc(Method::GET, "/orders?min_total=1000"), 204).await;
    let count = expect(gw.bc(Method::GET, "/orders/count"), 200).await;
    assert_eq!(count["count"], 5);
    let pending = count["statuses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == 1)
        .unwrap();
    assert_eq!(pending["count"], 4);
    let bad = expect(gw.bc(Method::GET, "/orders?limit=251"), 400).await;
    assert_eq!(bad[0]["status"], 400);
    expect(gw.bc(Method::GET, "/orders?sort=nonsense:asc"), 400).await;
    let statuses = expect(gw.bc(Method::GET, "/order_statuses"), 200).await;
    assert_eq!(statuses.as_array().unwrap().len(), 15);
    assert_eq!(statuses[11]["name"], "Awaiting Fulfillment");
    expect(gw.bc(Method::GET, "/order_statuses/99"), 404).await;
    expect(gw.bc(Method::PATCH, "/orders/100"), 405).await;
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_bigcommerce_errors_and_writes_nothing() {
    let gw = TestGateway::start("bc-bad").await;
    let deep = "[".repeat(10_000);
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("empty body", Vec::new(), 400),
        ("not JSON", b"{\"products\": [".to_vec(), 400),
        ("trailing garbage", b"{} x".to_vec(), 400),
        ("BOM", b"\xEF\xBB\xBF{}".to_vec(), 400),
        ("invalid UTF-8", b"{\"a\":\"\xff\"}".to_vec(), 400),
        ("lone surrogate", br#"{"a":"\ud800"}"#.to_vec(), 400),
        ("deep nesting", deep.into_bytes(), 400),
        (
            "duplicate key",
            br#"{"products":[],"products":[]}"#.to_vec(),
            400,
        ),
    ];
    for (what, body, status) in cases {
        let r = gw
            .bc(Method::POST, "/orders")
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), status, "{what}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v[0]["status"], status, "{what}: {v}");
        assert!(
            v[0]["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}"
        );
    }
    let mut body = create_body("x@example.com");
    for (what, product, status) in [
        ("quantity 0", json!({"product_id": 111, "quantity": 0}), 422),
        (
            "quantity 1.5",
            json!({"product_id": 111, "quantity": 1.5}),
            422,
        ),
        (
            "quantity as string",
            json!({"product_id": 111, "quantity": "2"}),
            422,
        ),
        (
            "10 decimal places",
            json!({"name": "x", "quantity": 1, "price_inc_tax": 1.0000000001, "price_ex_tax": 1}),
            422,
        ),
        (
            "1e400",
            json!({"name": "x", "quantity": 1, "price_inc_tax": "1e400", "price_ex_tax": 1}),
            422,
        ),
        (
            "tax below zero",
            json!({"name": "x", "quantity": 1, "price_inc_tax": "1.00", "price_ex_tax": "2.00"}),
            422,
        ),
        (
            "unknown product",
            json!({"product_id": 999_999, "quantity": 1}),
            422,
        ),
        (
            "negative price",
            json!({"name": "x", "quantity": 1, "price_inc_tax": "-1.00", "price_ex_tax": "-1.00"}),
            422,
        ),
    ] {
        body["products"] = json!([product]);
        let v = expect(gw.bc(Method::POST, "/orders").json(&body), status).await;
        assert_eq!(v[0]["status"], status, "{what}: {v}");
    }
    // Refused with the member's pointer: an e-mail address that is none (the customer is found or made by it),
    // a shipping cost below zero.
    let mut negative_shipping = create_body("x@example.com");
    negative_shipping["shipping_cost_ex_tax"] = json!("-5.00");
    for (body, pointer) in [
        (
            create_body("jane.doe at example.com"),
            "/billing_address/email",
        ),
        (negative_shipping, "/shipping_cost_ex_tax"),
    ] {
        let v = expect(gw.bc(Method::POST, "/orders").json(&body), 422).await;
        let message = v[0]["message"].as_str().unwrap_or_default();
        assert!(message.starts_with(&format!("{pointer}: ")), "{v}");
    }
    let mut many = create_body("x@example.com");
    many["products"] = Value::Array(vec![json!({"product_id": 111, "quantity": 1}); 501]);
    expect(gw.bc(Method::POST, "/orders").json(&many), 422).await;
    // HEAD is answered as GET, without the body.
    let head = gw.bc(Method::HEAD, "/orders").send().await.unwrap();
    assert_eq!(
        head.status().as_u16(),
        204,
        "no orders yet: BigCommerce's empty list"
    );
    let order = expect(
        gw.bc(Method::POST, "/orders")
            .json(&create_body("h@example.com")),
        201,
    )
    .await;
    let path = format!("/orders/{}", order["id"]);
    let got = gw.bc(Method::GET, &path).send().await.unwrap();
    let head = gw.bc(Method::HEAD, &path).send().await.unwrap();
    assert_eq!(head.status().as_u16(), 200);
    assert_eq!(
        head.headers()["content-length"],
        got.headers()["content-length"]
    );
    assert!(head.bytes().await.unwrap().is_empty());
    expect(gw.bc(Method::DELETE, &path), 204).await;
    // A method the resource does not answer: 405 naming the ones it does.
    let r = gw.bc(Method::PATCH, "/orders/100").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 405);
    assert_eq!(r.headers()["allow"], "GET, HEAD, PUT, DELETE");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v[0]["status"], 405);
    // A discount larger than the order: no order has a total below zero.
    let mut over = create_body("x@example.com");
    over["discount_amount"] = json!("100.00");
    let v = expect(gw.bc(Method::POST, "/orders").json(&over), 422).await;
    assert!(
        v[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("total comes to -45.00 USD")),
        "{v}"
    );
    // Nothing was half-written.
    expect(gw.bc(Method::GET, "/orders"), 204).await;

    gw.stop().await;
}
