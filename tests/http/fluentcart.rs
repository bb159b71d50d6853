//! The FluentCart REST v2 order API over real HTTP: create, read, list, update, delete, payment and refund,
//! status changes, customer change, bulk actions, errors in the superset shape, and orders read back through the
//! other dialects.

use reqwest::Method;
use serde_json::{json, Value};

use super::harness::*;

/// Creates an order for customer 1 and returns its FluentCart id.
async fn create(gw: &TestGateway, body: Value) -> u64 {
    let reply = expect(gw.fc(Method::POST, "/orders").json(&body), 200).await;
    assert_eq!(reply["message"], "Order created successfully!");
    assert!(reply["uuid"].as_str().is_some_and(|u| !u.is_empty()));
    reply["order_id"].as_u64().expect("order_id is an integer")
}

async fn create_items(gw: &TestGateway, items: Value) -> u64 {
    create(
        gw,
        json!({"customer_id": 1, "currency": "USD", "order_items": items}),
    )
    .await
}

async fn get(gw: &TestGateway, id: u64) -> Value {
    expect(gw.fc(Method::GET, &format!("/orders/{id}")), 200).await
}

/// Asserts the superset error body and returns it.
async fn error(req: reqwest::RequestBuilder, status: u16, code: &str) -> Value {
    let body = expect(req, status).await;
    assert_eq!(body["success"], false, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["data"]["status"], status, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert_eq!(body["message"], body["error"]["message"]);
    body
}

fn item_id(order: &Value, object_id: u64) -> u64 {
    order["order"]["order_items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["object_id"] == object_id)
        .and_then(|i| i["id"].as_u64())
        .unwrap_or_else(|| panic!("no item for object {object_id}: {order}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_prices_catalog_and_custom_items_and_forces_the_initial_state() {
    let gw = TestGateway::start("fc-create").await;
    let id = create(
        &gw,
        json!({
            "customer_id": 1,
            "currency": "USD",
            // FluentCart's admin create ignores client statuses, payment method and totals.
            "status": "completed",
            "payment_status": "paid",
            "payment_method": "stripe",
            "total_amount": 1,
            "note": "leave at the door",
            "order_items": [
                {"object_id": 1001, "quantity": 2},
                {"object_id": 1002, "quantity": 1, "unit_price": 1000},
                {"title": "Gift wrap", "quantity": 1, "unit_price": 350, "is_custom": true}
            ]
        }),
    )
    .await;
    let got = get(&gw, id).await;
    let o = &got["order"];
    assert_eq!(o["id"], id);
    assert_eq!(o["status"], "on-hold");
    assert_eq!(o["payment_status"], "pending");
    assert_eq!(o["shipping_status"], "unshipped");
    assert_eq!(o["payment_method"], "offline_payment");
    assert_eq!(o["currency"], "USD");
    assert_eq!(o["customer_id"], 1);
    assert_eq!(o["customer"]["email"], "ada@example.com");
    assert_eq!(o["note"], "leave at the door");
    let items = o["order_items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["title"], "T-shirt, black, M");
    assert_eq!(items[0]["unit_price"], 2500, "catalog price in cents");
    assert_eq!(items[0]["subtotal"], 5000);
    assert_eq!(items[1]["unit_price"], 1000, "the caller's price wins");
    assert_eq!(items[2]["title"], "Gift wrap");
    assert_eq!(items[2]["is_custom"], true);
    assert_eq!(o["subtotal"], 6350);
    assert_eq!(o["total_amount"], 6350);
    assert!(got.get("discount_meta").is_some() && got.get("shipping_meta").is_some());

    // The same Idempotency-Key replays the first create.
    let body = json!({"customer_id": 1, "currency": "USD", "order_items": [{"object_id": 1005, "quantity": 1}]});
    let a = expect(
        gw.fc(Method::POST, "/orders")
            .header("idempotency-key", "fc-create-1")
            .json(&body),
        200,
    )
    .await;
    let b = expect(
        gw.fc(Method::POST, "/orders")
            .header("idempotency-key", "fc-create-1")
            .json(&body),
        200,
    )
    .await;
    assert_eq!(a["order_id"], b["order_id"]);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_bodies_unknown_orders_and_wrong_methods_use_the_superset_error() {
    let gw = TestGateway::start("fc-errors").await;
    let missing = error(
        gw.fc(Method::POST, "/orders")
            .json(&json!({"customer_id": 1, "currency": "USD"})),
        422,
        "missing_field",
    )
    .await;
    assert_eq!(missing["data"]["pointer"], "/order_items");
    error(
        gw.fc(Method::POST, "/orders").json(&json!({"customer_id": 999, "currency": "USD", "order_items": [{"object_id": 1001, "quantity": 1}]})),
        422,
        "invalid_field",
    )
    .await;
    error(
        gw.fc(Method::POST, "/orders").json(&json!({"customer_id": 1, "currency": "USD", "order_items": [{"object_id": 1001, "quantity": 0}]})),
        422,
        "invalid_quantity",
    )
    .await;
    error(
        gw.fc(Method::POST, "/orders").json(&json!({"customer_id": 1, "currency": "USD", "order_items": [{"object_id": 987654, "quantity": 1}]})),
        422,
        "invalid_field",
    )
    .await;
    // A negative line is no way to give a discount (BigCommerce refuses negative prices; discounts are their own
    // amounts), even when the other lines make the total come out above zero.
    let negative = error(
        gw.fc(Method::POST, "/orders").json(
            &json!({"customer_id": 1, "currency": "USD", "order_items": [
                {"object_id": 1001, "quantity": 2},
                {"title": "Loyalty credit", "quantity": 1, "unit_price": -500}
            ]}),
        ),
        422,
        "invalid_money",
    )
    .await;
    assert_eq!(negative["data"]["pointer"], "/order_items/1/unit_price");
    error(
        gw.fc(Method::POST, "/orders")
            .header("content-type", "application/json")
            .body("{\"customer_id\": 1,"),
        400,
        "malformed_json",
    )
    .await;
    // Nothing refused was written.
    let list = expect(gw.fc(Method::GET, "/orders"), 200).await;
    assert_eq!(list["orders"]["total"], 0, "{list}");
    error(gw.fc(Method::GET, "/orders/424242"), 404, "not_found").await;
    error(gw.fc(Method::DELETE, "/orders/424242"), 404, "not_found").await;
    error(gw.fc(Method::GET, "/orders/not-a-number"), 404, "not_found").await;
    error(gw.fc(Method::GET, "/orders/1/nothing"), 404, "not_found").await;
    // Update is POST /orders/{id}: there is no PUT route.
    error(
        gw.fc(Method::PUT, "/orders/1").json(&json!({})),
        405,
        "method_not_allowed",
    )
    .await;
    error(gw.fc(Method::PATCH, "/orders"), 405, "method_not_allowed").await;
    error(
        gw.fc(Method::POST, "/orders/1/statuses").json(&json!({})),
        405,
        "method_not_allowed",
    )
    .await;
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_pages_filters_searches_and_sorts() {
    let gw = TestGateway::start("fc-list").await;
    let a = create_items(&gw, json!([{"object_id": 1001, "quantity": 1}])).await;
    let b = create_items(&gw, json!([{"object_id": 1003, "quantity": 2}])).await;
    let c = create_items(&gw, json!([{"object_id": 1005, "quantity": 1}])).await;
    expect(
        gw.fc(Method::POST, &format!("/orders/{b}/mark-as-paid")),
        200,
    )
    .await;

    let page1 = expect(gw.fc(Method::GET, "/orders?per_page=2"), 200).await;
    let p = &page1["orders"];
    assert_eq!(p["total"], 3);
    assert_eq!(p["per_page"], 2);
    assert_eq!(p["current_page"], 1);
    assert_eq!(p["last_page"], 2);
    assert_eq!(p["from"], 1);
    assert_eq!(p["to"], 2);
    let ids: Vec<u64> = p["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [c, b], "newest first by default");
    assert!(p["next_page_url"]
        .as_str()
        .unwrap()
        .ends_with("/wp-json/fluent-cart/v2/orders/?page=2"));
    assert_eq!(p["prev_page_url"], Value::Null);
    assert!(p["first_page_url"].as_str().unwrap().ends_with("?page=1"));
    assert!(p["path"].as_str().unwrap().ends_with("/orders"));
    assert_eq!(p["links"].as_array().unwrap().len(), 4);

    let page2 = expect(gw.fc(Method::GET, "/orders?per_page=2&page=2"), 200).await;
    assert_eq!(page2["orders"]["data"][0]["id"], a);
    assert_eq!(page2["orders"]["next_page_url"], Value::Null);
    let past = expect(gw.fc(Method::GET, "/orders?per_page=2&page=9"), 200).await;
    assert_eq!(past["orders"]["data"], json!([]));
    assert_eq!(past["orders"]["from"], Value::Null);

    let asc = expect(gw.fc(Method::GET, "/orders?sort_by=id&sort_type=asc"), 200).await;
    assert_eq!(asc["orders"]["data"][0]["id"], a);
    let by_total = expect(
        gw.fc(Method::GET, "/orders?order_by=total_amount&order_type=desc"),
        200,
    )
    .await;
    assert_eq!(by_total["orders"]["data"][0]["id"], b);

    let processing = expect(
        gw.fc(Method::GET, "/orders?order_statuses[]=processing"),
        200,
    )
    .await;
    assert_eq!(processing["orders"]["total"], 1);
    assert_eq!(processing["orders"]["data"][0]["id"], b);
    let pending = expect(
        gw.fc(
            Method::GET,
            "/orders?payment_statuses%5B%5D=pending&shipping_statuses[]=unshipped",
        ),
        200,
    )
    .await;
    assert_eq!(pending["orders"]["total"], 2);
    let both = expect(
        gw.fc(
            Method::GET,
            "/orders?order_statuses[]=processing&order_statuses[]=on-hold",
        ),
        200,
    )
    .await;
    assert_eq!(both["orders"]["total"], 3);

    let by_text = expect(gw.fc(Method::GET, "/orders?search=lovelace"), 200).await;
    assert_eq!(by_text["orders"]["total"], 3);
    let nobody = expect(gw.fc(Method::GET, "/orders?search=nobody"), 200).await;
    assert_eq!(nobody["orders"]["total"], 0);
    let range = expect(
        gw.fc(
            Method::GET,
            &format!("/orders?search=id%20%3A%3A%20{a}-{b}"),
        ),
        200,
    )
    .await;
    assert_eq!(range["orders"]["total"], 2);
    let op = expect(
        gw.fc(Method::GET, "/orders?search=status%20%3D%20processing"),
        200,
    )
    .await;
    assert_eq!(op["orders"]["total"], 1);

    // FluentCart falls back to 10 for per_page of 200 or more.
    let big = expect(gw.fc(Method::GET, "/orders?per_page=500"), 200).await;
    assert_eq!(big["orders"]["per_page"], 10);
    let bad = error(
        gw.fc(Method::GET, "/orders?per_page=abc"),
        400,
        "invalid_parameter",
    )
    .await;
    // As WordPress REST names a bad query parameter: in `data.params`, with its reason.
    assert_eq!(
        bad["data"]["params"]["per_page"], "query parameter per_page must be a positive integer",
        "{bad}"
    );
    assert!(bad["data"].get("pointer").is_none(), "{bad}");
    error(
        gw.fc(Method::GET, "/orders?page=0"),
        400,
        "invalid_parameter",
    )
    .await;
    error(
        gw.fc(Method::GET, "/orders?sort_by=bogus"),
        400,
        "invalid_parameter",
    )
    .await;
    error(
        gw.fc(Method::GET, "/orders?sort_type=up"),
        400,
        "invalid_parameter",
    )
    .await;
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_adds_changes_and_deletes_items_and_recomputes_totals() {
    let gw = TestGateway::start("fc-update").await;
    let id = create_items(
        &gw,
        json!([{"object_id": 1001, "quantity": 1}, {"object_id": 1002, "quantity": 1}]),
    )
    .await;
    let before = get(&gw, id).await;
    assert_eq!(before["order"]["total_amount"], 3750);
    let shirt = item_id(&before, 1001);
    let mug = item_id(&before, 1002);
    let reply = expect(
        gw.fc(Method::POST, &format!("/orders/{id}")).json(&json!({
            "customer_id": 1,
            "order_items": [
                {"id": shirt, "quantity": 3, "unit_price": 2500},
                {"object_id": 1003, "quantity": 1}
            ],
            "deletedItems": [mug],
            "note": "updated"
        })),
        200,
    )
    .await;
    assert_eq!(reply["message"], "Order updated successfully");
    let o = &reply["order"];
    assert_eq!(o["order_items"].as_array().unwrap().len(), 2);
    assert_eq!(o["subtotal"], 3 * 2500 + 5990);
    assert_eq!(o["total_amount"], 3 * 2500 + 5990);
    let after = get(&gw, id).await;
    assert_eq!(after["order"]["total_amount"], 13490);
    assert_eq!(after["order"]["note"], "updated");
    assert_eq!(item_id(&after, 1001), shirt, "a changed item keeps its id");
    assert!(after["order"]["order_items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["id"] != mug));

    // Deleting an item that is already gone is not an error (a retried update succeeds).
    expect(
        gw.fc(Method::POST, &format!("/orders/{id}"))
            .json(&json!({"customer_id": 1, "order_items": [], "deletedItems": [mug]})),
        200,
    )
    .await;
    error(
        gw.fc(Method::POST, &format!("/orders/{id}")).json(
            &json!({"customer_id": 1, "order_items": [{"id": 999999, "quantity": 1, "unit_price": 1}]}),
        ),
        422,
        "invalid_field",
    )
    .await;
    // No edit takes a total below zero; the order stays as it was.
    error(
        gw.fc(Method::POST, &format!("/orders/{id}")).json(
            &json!({"customer_id": 1, "order_items": [{"id": shirt, "quantity": 1, "unit_price": -20000}]}),
        ),
        422,
        "invalid_money",
    )
    .await;
    assert_eq!(get(&gw, id).await["order"]["total_amount"], 13490);
    error(
        gw.fc(Method::POST, &format!("/orders/{id}"))
            .json(&json!({"customer_id": 1, "order_items": [], "status": "completed"})),
        422,
        "invalid_status",
    )
    .await;
    error(
        gw.fc(Method::POST, &format!("/orders/{id}"))
            .json(&json!({"customer_id": 1, "order_items": [], "currency": "EUR"})),
        422,
        "invalid_currency",
    )
    .await;
    error(
        gw.fc(Method::POST, "/orders/424242")
            .json(&json!({"customer_id": 1, "order_items": []})),
        404,
        "not_found",
    )
    .await;
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_removes_the_order() {
    let gw = TestGateway::start("fc-delete").await;
    let id = create_items(&gw, json!([{"object_id": 1001, "quantity": 1}])).await;
    let reply = expect(gw.fc(Method::DELETE, &format!("/orders/{id}")), 200).await;
    assert_eq!(reply["message"], format!("Order {id} deleted successfully"));
    assert_eq!(reply["data"]["order_id"], id);
    assert_eq!(reply["data"]["status"], "success");
    assert_eq!(reply["errors"], json!([]));
    error(
        gw.fc(Method::GET, &format!("/orders/{id}")),
        404,
        "not_found",
    )
    .await;
    error(
        gw.fc(Method::DELETE, &format!("/orders/{id}")),
        404,
        "not_found",
    )
    .await;
    gw.stop().await;
}

/// A refund or a payment recorded again is a second refund or payment (FluentCart's own API does that), so a
/// caller's retry after a lost reply would repeat it: under an `Idempotency-Key` it is answered with the first
/// reply instead, another body under the key is refused, and without a key each request acts, as on FluentCart.
#[tokio::test]
async fn a_refund_or_payment_under_an_idempotency_key_acts_once() {
    let gw = TestGateway::start("fc-keyed-refund").await;
    let id = create_items(&gw, json!([{"object_id": 1001, "quantity": 2}])).await;
    let pay = || {
        gw.fc(Method::POST, &format!("/orders/{id}/mark-as-paid"))
            .header("idempotency-key", "pay-once")
            .json(&json!({"payment_method": "offline_payment", "vendor_charge_id": "CHK-1"}))
    };
    let first = pay().send().await.unwrap();
    assert_eq!(first.status(), 200);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first = first.text().await.unwrap();
    // The same payment again: the first answer, not "already paid".
    let again = pay().send().await.unwrap();
    assert_eq!(again.status(), 200);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.text().await.unwrap(), first);

    let refund = |key: &str, amount: &str| {
        gw.fc(Method::POST, &format!("/orders/{id}/refund"))
            .header("idempotency-key", key)
            .json(&json!({"refund_info": {"transaction_id": 1, "amount": amount}}))
    };
    for _ in 0..3 {
        expect(refund("refund-once", "10.00"), 200).await;
    }
    assert_eq!(get(&gw, id).await["order"]["total_refund"], 1000);
    error(refund("refund-once", "11.00"), 422, "idem_key_reused").await;
    // Another key is another refund.
    expect(refund("refund-twice", "10.00"), 200).await;
    assert_eq!(get(&gw, id).await["order"]["total_refund"], 2000);
    // Without a key, each request refunds, as FluentCart's own API does.
    for _ in 0..2 {
        expect(
            gw.fc(Method::POST, &format!("/orders/{id}/refund"))
                .json(&json!({"refund_info": {"transaction_id": 1, "amount": "1.00"}})),
            200,
        )
        .await;
    }
    assert_eq!(get(&gw, id).await["order"]["total_refund"], 2200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mark_as_paid_then_partial_and_full_refund_in_major_units() {
    let gw = TestGateway::start("fc-refund").await;
    let id = create_items(&gw, json!([{"object_id": 1001, "quantity": 2}])).await;
    // Nothing paid yet: nothing to refund.
    error(
        gw.fc(Method::POST, &format!("/orders/{id}/refund"))
            .json(&json!({"refund_info": {"transaction_id": 1, "amount": 1}})),
        422,
        "invalid_field",
    )
    .await;
    let paid = expect(
        gw.fc(Method::POST, &format!("/orders/{id}/mark-as-paid"))
            .json(&json!({
                "payment_method": "offline_payment",
                "vendor_charge_id": "CHK-12345",
                "mark_paid_note": "bank transfer"
            })),
        200,
    )
    .await;
    assert_eq!(paid["message"], "Order has been marked as paid");
    let o = get(&gw, id).await;
    assert_eq!(o["order"]["status"], "processing");
    assert_eq!(o["order"]["payment_status"], "paid");
    assert_eq!(o["order"]["total_paid"], 5000);
    assert_eq!(o["order"]["note"], "bank transfer");
    let tx = &o["order"]["transactions"][0];
    assert_eq!(tx["id"], 1);
    assert_eq!(tx["total"], 5000);
    assert_eq!(tx["vendor_charge_id"], "CHK-12345");
    error(
        gw.fc(Method::POST, &format!("/orders/{id}/mark-as-paid")),
        422,
        "invalid_transition",
    )
    .await;

    // 12.50 in major units (FluentCart's Helper::toCent), not 12.50 cents.
    let r = expect(
        gw.fc(Method::POST, &format!("/orders/{id}/refund"))
            .json(&json!({"refund_info": {"transaction_id": 1, "amount": 12.5}})),
        200,
    )
    .await;
    assert_eq!(r["fluent_cart_refund"]["status"], "success");
    let o = get(&gw, id).await;
    assert_eq!(o["order"]["payment_status"], "partially_refunded");
    assert_eq!(o["order"]["total_refund"], 1250);
    error(
        gw.fc(Method::POST, &format!("/orders/{id}/refund"))
            .json(&json!({"refund_info": {"transaction_id": 1, "amount": 1.005}})),
        422,
        "invalid_money",
    )
    .await;
    error(
        gw.fc(Method::POST, &format!("/orders/{id}/refund"))
            .json(&json!({"refund_info": {"transaction_id": 1, "amount": "37.51"}})),
        422,
        "invalid_transition",
    )
    .await;
    error(
        gw.fc(Method::POST, &format!("/orders/{id}/refund"))
            .json(&json!({"refund_info": {"transaction_id": 99, "amount": 1}})),
        422,
        "invalid_field",
    )
    .await;
    error(
        gw.fc(Method::POST, &format!("/orders/{id}/refund"))
            .json(&json!({"refund_info": {"amount": 1}})),
        422,
        "missing_field",
    )
    .await;
    expect(
        gw.fc(Method::POST, &format!("/orders/{id}/refund"))
            .json(&json!({"refund_info": {"transaction_id": "1", "amount": "37.50"}})),
        200,
    )
    .await;
    let o = get(&gw, id).await;
    assert_eq!(o["order"]["payment_status"], "refunded");
    assert_eq!(o["order"]["total_refund"], 5000);

    // The transactions routes return the order details with its transactions.
    let txs = expect(
        gw.fc(Method::GET, &format!("/orders/{id}/transactions")),
        200,
    )
    .await;
    assert_eq!(txs["order"]["transactions"].as_array().unwrap().len(), 3);
    assert_eq!(txs["order"]["transactions"][2]["id"], 3);
    expect(
        gw.fc(Method::GET, &format!("/orders/{id}/transactions/2")),
        200,
    )
    .await;
    error(
        gw.fc(Method::GET, &format!("/orders/{id}/transactions/9")),
        404,
        "not_found",
    )
    .await;

    // An all-digital order goes straight to completed when paid, as in FluentCart.
    let ebook = create_items(&gw, json!([{"object_id": 1004, "quantity": 1}])).await;
    expect(
        gw.fc(Method::POST, &format!("/orders/{ebook}/mark-as-paid")),
        200,
    )
    .await;
    assert_eq!(get(&gw, ebook).await["order"]["status"], "completed");
    gw.stop().await;
}

/// WordPress's REST server honours a `_method` query parameter, else an `X-HTTP-Method-Override` header, and
/// WordPress's own client sends PUT, PATCH and DELETE as POST with that header: a FluentCart caller's override is
/// served as the method it names. Other dialects' platforms honour neither, and neither does the gateway for them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wordpress_method_overrides_are_honoured_for_fluentcart_callers_only() {
    let gw = TestGateway::start("fc-override").await;
    let id = create_items(&gw, json!([{"object_id": 1001, "quantity": 1}])).await;
    let r = expect(
        gw.fc(Method::POST, &format!("/orders/{id}/statuses"))
            .header("x-http-method-override", "PUT")
            .json(&json!({"action": "change_order_status", "statuses": {"order_status": "processing"}})),
        200,
    )
    .await;
    assert_eq!(r["data"]["new_status"], "processing", "{r}");
    // The query parameter wins over the header, as in WordPress.
    let listed = expect(
        gw.fc(Method::POST, "/orders?_method=get")
            .header("x-http-method-override", "DELETE"),
        200,
    )
    .await;
    assert_eq!(listed["orders"]["total"], 1, "{listed}");
    let deleted = expect(
        gw.fc(Method::POST, &format!("/orders/{id}?_method=DELETE")),
        200,
    )
    .await;
    assert_eq!(deleted["data"]["order_id"], id, "{deleted}");
    error(
        gw.fc(Method::GET, &format!("/orders/{id}")),
        404,
        "not_found",
    )
    .await;
    // A BigCommerce caller's header changes nothing: this POST is a create, refused for its empty body.
    let bc = gw
        .bc(Method::POST, "/orders")
        .header("x-http-method-override", "GET")
        .send()
        .await
        .unwrap();
    assert_eq!(bc.status(), 400);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuses_endpoint_sets_order_and_shipping_status() {
    let gw = TestGateway::start("fc-statuses").await;
    let id = create_items(&gw, json!([{"object_id": 1001, "quantity": 1}])).await;
    let path = format!("/orders/{id}/statuses");
    let r = expect(
        gw.fc(Method::PUT, &path).json(&json!({
            "action": "change_order_status",
            "statuses": {"order_status": "processing"},
            "manage_stock": true
        })),
        200,
    )
    .await;
    assert_eq!(r["message"], "Status has been updated");
    assert_eq!(r["data"]["order_id"], id);
    assert_eq!(r["data"]["old_status"], "on-hold");
    assert_eq!(r["data"]["new_status"], "processing");
    assert!(r["data"]["updated_at"].is_string());
    assert_eq!(get(&gw, id).await["order"]["status"], "processing");
    error(
        gw.fc(Method::PUT, &path).json(
            &json!({"action": "change_order_status", "statuses": {"order_status": "processing"}}),
        ),
        422,
        "invalid_transition",
    )
    .await;
    expect(
        gw.fc(Method::PUT, &path).json(
            &json!({"action": "change_shipping_status", "statuses": {"shipping_status": "shipped"}}),
        ),
        200,
    )
    .await;
    assert_eq!(get(&gw, id).await["order"]["shipping_status"], "shipped");
    expect(
        gw.fc(Method::PUT, &path).json(
            &json!({"action": "change_order_status", "statuses": {"order_status": "completed"}}),
        ),
        200,
    )
    .await;
    let o = get(&gw, id).await;
    assert_eq!(o["order"]["status"], "completed");
    assert!(o["order"]["completed_at"].is_string());
    error(
        gw.fc(Method::PUT, &path).json(
            &json!({"action": "change_order_status", "statuses": {"order_status": "failed"}}),
        ),
        422,
        "invalid_status",
    )
    .await;
    error(
        gw.fc(Method::PUT, &path)
            .json(&json!({"action": "change_everything", "statuses": {}})),
        422,
        "invalid_field",
    )
    .await;
    error(
        gw.fc(Method::PUT, "/orders/424242/statuses").json(
            &json!({"action": "change_order_status", "statuses": {"order_status": "processing"}}),
        ),
        404,
        "not_found",
    )
    .await;
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_customer_reassigns_the_order() {
    let gw = TestGateway::start("fc-customer").await;
    let id = create_items(&gw, json!([{"object_id": 1001, "quantity": 1}])).await;
    // A second customer, created by email through an order.
    let other = create(
        &gw,
        json!({"currency": "USD", "customer": {"email": "grace@example.com", "first_name": "Grace", "last_name": "Hopper"}, "order_items": [{"object_id": 1002, "quantity": 1}]}),
    )
    .await;
    let grace = get(&gw, other).await["order"]["customer_id"]
        .as_u64()
        .expect("the new customer has a FluentCart id");
    assert_ne!(grace, 1);
    let path = format!("/orders/{id}/change-customer");
    let r = expect(
        gw.fc(Method::POST, &path)
            .json(&json!({"customer_id": grace})),
        200,
    )
    .await;
    assert_eq!(r["message"], "Customer changed successfully");
    let o = get(&gw, id).await;
    assert_eq!(o["order"]["customer_id"], grace);
    assert_eq!(o["order"]["customer"]["email"], "grace@example.com");
    assert_eq!(o["order"]["customer"]["first_name"], "Grace");
    let again = expect(
        gw.fc(Method::POST, &path)
            .json(&json!({"customer_id": grace.to_string()})),
        200,
    )
    .await;
    assert_eq!(
        again["message"],
        "Customer is already attached to this order"
    );
    error(
        gw.fc(Method::POST, &path)
            .json(&json!({"customer_id": 999})),
        422,
        "invalid_field",
    )
    .await;
    error(
        gw.fc(Method::POST, &path).json(&json!({})),
        422,
        "missing_field",
    )
    .await;
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_actions_change_statuses_and_delete() {
    let gw = TestGateway::start("fc-bulk").await;
    let a = create_items(&gw, json!([{"object_id": 1001, "quantity": 1}])).await;
    let b = create_items(&gw, json!([{"object_id": 1002, "quantity": 1}])).await;
    let c = create_items(&gw, json!([{"object_id": 1003, "quantity": 1}])).await;
    let bulk = |body: Value| gw.fc(Method::POST, "/orders/do-bulk-action").json(&body);

    let r = expect(
        bulk(json!({"action": "change_order_status", "order_ids": [a, b], "new_status": "processing"})),
        200,
    )
    .await;
    assert_eq!(
        r["message"],
        "Order Status has been changed for the selected orders"
    );
    assert_eq!(get(&gw, a).await["order"]["status"], "processing");
    assert_eq!(get(&gw, b).await["order"]["status"], "processing");
    assert_eq!(get(&gw, c).await["order"]["status"], "on-hold");

    // a already has the status: reported, the rest applied.
    let r = expect(
        bulk(json!({"action": "change_order_status", "order_ids": [a, c], "new_status": "processing"})),
        200,
    )
    .await;
    assert!(
        r["message"].as_str().unwrap().contains(&a.to_string()),
        "{r}"
    );
    assert_eq!(r["failed_order_ids"], json!([a]));
    assert_eq!(get(&gw, c).await["order"]["status"], "processing");
    error(
        bulk(
            json!({"action": "change_order_status", "order_ids": [a], "new_status": "processing"}),
        ),
        422,
        "invalid_transition",
    )
    .await;

    expect(
        bulk(json!({"action": "change_shipping_status", "order_ids": [a, b, c], "new_status": "shipped"})),
        200,
    )
    .await;
    assert_eq!(get(&gw, b).await["order"]["shipping_status"], "shipped");

    error(
        bulk(json!({"action": "change_order_status", "order_ids": [a], "new_status": "nonsense"})),
        422,
        "invalid_status",
    )
    .await;
    error(
        bulk(json!({"action": "change_order_status", "order_ids": [a]})),
        422,
        "missing_field",
    )
    .await;
    error(
        bulk(json!({"action": "explode", "order_ids": [a]})),
        422,
        "invalid_field",
    )
    .await;
    error(
        bulk(json!({"action": "delete_orders", "order_ids": []})),
        422,
        "missing_field",
    )
    .await;

    let r = expect(
        bulk(json!({"action": "delete_orders", "order_ids": [a, b, 424242]})),
        200,
    )
    .await;
    assert!(r["message"].as_str().unwrap().contains("deleted"));
    error(
        gw.fc(Method::GET, &format!("/orders/{a}")),
        404,
        "not_found",
    )
    .await;
    error(
        gw.fc(Method::GET, &format!("/orders/{b}")),
        404,
        "not_found",
    )
    .await;
    get(&gw, c).await;
    error(
        gw.fc(Method::GET, "/orders/do-bulk-action"),
        405,
        "method_not_allowed",
    )
    .await;
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_created_in_fluentcart_reads_in_bigcommerce() {
    let gw = TestGateway::start("fc-cross-bc").await;
    let id = create_items(&gw, json!([{"object_id": 1001, "quantity": 2}])).await;
    // The embedded store gives each order the BigCommerce id FluentCart id + 99.
    let bc = expect(gw.bc(Method::GET, &format!("/orders/{}", id + 99)), 200).await;
    assert_eq!(bc["id"], id + 99);
    assert_eq!(bc["total_inc_tax"], "50.0000");
    assert_eq!(bc["billing_address"]["email"], "ada@example.com");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_created_in_fluentcart_reads_in_commerce_layer() {
    let gw = TestGateway::start("fc-cross-cl").await;
    let id = create_items(&gw, json!([{"object_id": 1001, "quantity": 2}])).await;
    let number = get(&gw, id).await["order"]["invoice_no"]
        .as_str()
        .expect("invoice_no")
        .to_owned();
    let token = gw.cl_token().await;
    let listed = expect(
        gw.cl(
            &token,
            Method::GET,
            &format!("/orders?filter[q][number_eq]={number}"),
        ),
        200,
    )
    .await;
    let cl_id = listed["data"][0]["id"]
        .as_str()
        .expect("the order is listed")
        .to_owned();
    let order = expect(gw.cl(&token, Method::GET, &format!("/orders/{cl_id}")), 200).await;
    assert_eq!(order["data"]["id"], cl_id.as_str());
    assert_eq!(order["data"]["attributes"]["number"], number.as_str());
    assert_eq!(order["data"]["attributes"]["total_amount_cents"], 5000);
    gw.stop().await;
}
