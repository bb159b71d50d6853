//! One order, three dialects: created by one client, moved through its life by the others, and read back by all
//! three with consistent money, items and statuses.

use reqwest::Method;
use serde_json::{json, Value};

use super::harness::*;

async fn cl_order_by_email(gw: &TestGateway, token: &str, email: &str) -> Value {
    let listed = expect(
        gw.cl(
            token,
            Method::GET,
            &format!("/orders?filter[q][customer_email_eq]={email}"),
        ),
        200,
    )
    .await;
    assert_eq!(listed["meta"]["record_count"], 1, "{listed}");
    listed["data"][0].clone()
}

async fn fc_id_by_search(gw: &TestGateway, email: &str) -> u64 {
    let listed = expect(gw.fc(Method::GET, &format!("/orders?search={email}")), 200).await;
    let data = listed["orders"]["data"].as_array().expect("paginator data");
    assert_eq!(data.len(), 1, "{listed}");
    data[0]["id"].as_u64().expect("FluentCart id")
}

async fn trigger(gw: &TestGateway, token: &str, id: &str, name: &str) -> Value {
    let body = json!({"data": {"type": "orders", "id": id, "attributes": {name: true}}});
    expect(
        gw.cl(token, Method::PATCH, &format!("/orders/{id}"))
            .json(&body),
        200,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn created_in_bigcommerce_paid_in_commerce_layer_refunded_in_fluentcart() {
    let gw = TestGateway::start("cross-life").await;
    let email = "cross@example.com";
    let created = expect(
        gw.bc(Method::POST, "/orders")
            .json(&super::bigcommerce::create_body(email)),
        201,
    )
    .await;
    let bc_id = created["id"].as_u64().unwrap();
    assert_eq!(created["total_inc_tax"], "55.0000");

    let token = gw.cl_token().await;
    let cl = cl_order_by_email(&gw, &token, email).await;
    let cl_id = cl["id"].as_str().unwrap().to_owned();
    assert_eq!(cl["attributes"]["total_amount_cents"], 5500);
    assert_eq!(cl["attributes"]["currency_code"], "USD");
    let placed = trigger(&gw, &token, &cl_id, "_place").await;
    assert_eq!(placed["data"]["attributes"]["status"], "placed");
    trigger(&gw, &token, &cl_id, "_approve").await;
    let captured = trigger(&gw, &token, &cl_id, "_capture").await;
    assert_eq!(captured["data"]["attributes"]["payment_status"], "paid");

    let bc = expect(gw.bc(Method::GET, &format!("/orders/{bc_id}")), 200).await;
    assert_eq!(
        bc["status_id"], 11,
        "approved and paid, goods not shipped: Awaiting Fulfillment"
    );

    let fc_id = fc_id_by_search(&gw, email).await;
    let fc = expect(gw.fc(Method::GET, &format!("/orders/{fc_id}")), 200).await;
    assert_eq!(fc["order"]["total_amount"], 5500, "FluentCart states cents");
    assert_eq!(fc["order"]["payment_status"], "paid");
    let items = fc["order"]["order_items"].as_array().expect("order_items");
    assert_eq!(items.len(), 2);

    expect(
        gw.fc(Method::POST, &format!("/orders/{fc_id}/refund"))
            .json(&json!({"refund_info": {"transaction_id": 1, "amount": "20.00"}})),
        200,
    )
    .await;
    let bc = expect(gw.bc(Method::GET, &format!("/orders/{bc_id}")), 200).await;
    assert_eq!(bc["status_id"], 14, "Partially Refunded");
    assert_eq!(bc["refunded_amount"], "20.0000");
    let cl = expect(gw.cl(&token, Method::GET, &format!("/orders/{cl_id}")), 200).await;
    assert_eq!(
        cl["data"]["attributes"]["payment_status"],
        "partially_refunded"
    );

    expect(
        gw.fc(Method::POST, &format!("/orders/{fc_id}/refund"))
            .json(&json!({"refund_info": {"transaction_id": 1, "amount": "35.00"}})),
        200,
    )
    .await;
    let bc = expect(gw.bc(Method::GET, &format!("/orders/{bc_id}")), 200).await;
    assert_eq!(bc["status_id"], 4, "Refunded");
    let cl = expect(gw.cl(&token, Method::GET, &format!("/orders/{cl_id}")), 200).await;
    assert_eq!(cl["data"]["attributes"]["payment_status"], "refunded");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn created_in_fluentcart_cancelled_in_commerce_layer() {
    let gw = TestGateway::start("cross-cancel").await;
    let created = expect(
        gw.fc(Method::POST, "/orders")
            .json(&json!({"customer_id": 1, "order_items": [{"object_id": 1002, "quantity": 3}]})),
        200,
    )
    .await;
    let fc_id = created["order_id"].as_u64().unwrap();
    let token = gw.cl_token().await;
    let cl = cl_order_by_email(&gw, &token, "ada@example.com").await;
    let cl_id = cl["id"].as_str().unwrap().to_owned();
    assert_eq!(
        cl["attributes"]["total_amount_cents"], 3750,
        "3 × 12.50 from the catalog"
    );
    let cancelled = trigger(&gw, &token, &cl_id, "_cancel").await;
    assert_eq!(cancelled["data"]["attributes"]["status"], "cancelled");
    let fc = expect(gw.fc(Method::GET, &format!("/orders/{fc_id}")), 200).await;
    assert_eq!(fc["order"]["status"], "canceled");
    let bc = expect(gw.bc(Method::GET, &format!("/orders/{}", fc_id + 99)), 200).await;
    assert_eq!(bc["status_id"], 5);
    assert_eq!(bc["status"], "Cancelled");
    // A cancelled order cannot be paid from any dialect, and the refusal changes nothing.
    let refused = expect(
        gw.fc(Method::POST, &format!("/orders/{fc_id}/mark-as-paid")),
        422,
    )
    .await;
    assert_eq!(refused["success"], false);
    let bc_after = expect(gw.bc(Method::GET, &format!("/orders/{}", fc_id + 99)), 200).await;
    assert_eq!(bc_after["status_id"], 5);
    gw.stop().await;
}
