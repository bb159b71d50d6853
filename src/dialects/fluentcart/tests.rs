//! FluentCart edge cases.

use serde_json::json;

use super::*;
use crate::canonical::*;
use crate::dialects::DecodeOptions;

fn opts() -> DecodeOptions {
    DecodeOptions::default()
}

#[test]
fn jpy_cents_scale_by_a_hundred() {
    let doc = json!({"customer_id": 1, "currency": "JPY", "order_items": [{"quantity": 2, "unit_price": 150000, "title": "Tea"}]});
    let order = decode_create_request(doc, &opts()).unwrap();
    assert_eq!(order.line_items[0].unit_price.minor, 1500);
    assert_eq!(order.line_items[0].subtotal.minor, 3000);
    let out = encode_create_request(&order);
    assert_eq!(out.value["order_items"][0]["unit_price"], json!(150000));
}

#[test]
fn jpy_cents_finer_than_a_yen_are_noted_under_their_canonical_path() {
    let doc = json!({"customer_id": 1, "currency": "JPY", "order_items": [
        {"quantity": 1, "unit_price": 1000, "title": "Tea"},
        {"quantity": 1, "unit_price": 150, "title": "Cup"}]});
    let order = decode_create_request(doc, &opts()).unwrap();
    assert_eq!(
        order.line_items[1].unit_price.minor, 2,
        "1.50 yen, rounded half-even"
    );
    let paths: Vec<&str> = order
        .sub_minor_amounts
        .iter()
        .map(|(p, _)| p.as_str())
        .collect();
    assert!(paths.contains(&"line_items/1/unit_price"), "{paths:?}");
    assert!(
        paths.iter().all(|p| p.starts_with("line_items/1/")),
        "{paths:?}"
    );
}

#[test]
fn kwd_fils_that_cents_cannot_hold_are_a_loss() {
    let mut order = Order::empty(Currency::parse("KWD").unwrap());
    order.totals.total = Money::new(12345, order.currency);
    order.customer.ids.fluentcart = Some(3);
    let out = encode_create_request(&order);
    assert_eq!(out.value["total_amount"], json!(1234));
    assert!(out
        .losses
        .iter()
        .any(|l| l.pointer == "/total_amount" && l.kind == crate::dialects::LossKind::Precision));
}

#[test]
fn on_hold_and_paid_is_a_held_order() {
    let doc = json!({"order": {"id": 5, "currency": "USD", "status": "on-hold", "payment_status": "paid", "order_items": []}});
    let order = decode_order(doc, &opts()).unwrap();
    assert_eq!(order.status, OrderStatus::OnHold);
    assert_eq!(order.payment_status, PaymentStatus::Paid);
}

#[test]
fn missing_currency_without_default_names_the_field() {
    let doc = json!({"customer_id": 1, "order_items": [{"quantity": 1, "unit_price": 100}]});
    let err = decode_create_request(doc, &opts()).unwrap_err();
    assert_eq!(err.pointer, "/currency");
    assert_eq!(err.kind, ProblemKind::MissingField);
}

#[test]
fn error_body_is_the_superset_shape() {
    let p = Problem::new(
        ProblemKind::InvalidQuantity,
        "/order_items/0/quantity",
        "quantity must be positive",
    );
    let doc = encode_error(&p);
    assert_eq!(doc.status, 422);
    assert_eq!(doc.body["success"], json!(false));
    assert_eq!(doc.body["error"]["code"], json!("invalid_quantity"));
    assert_eq!(doc.body["data"]["status"], json!(422));
    assert_eq!(doc.body["message"], doc.body["error"]["message"]);
}

#[test]
fn update_request_round_trips() {
    let doc = json!({"currency": "USD", "note": "gift wrap", "deletedItems": [7], "order_items": [{"id": 3, "quantity": 2, "unit_price": 100, "title": "Mug"}]});
    let upd = decode_update_request(doc, &opts()).unwrap();
    let out = encode_update_request(&upd.order, &upd.deleted_line_ids);
    assert_eq!(out.value["deletedItems"], json!([7]));
    assert!(out.value.get("customer_id").is_none());
    let again = decode_update_request(out.value, &opts()).unwrap();
    assert_eq!(again.deleted_line_ids, vec![7]);
    assert_eq!(again.order.line_items[0].quantity, 2);
    assert_eq!(again.order.line_items[0].ids.fluentcart, Some(3));
    assert_eq!(again.order.customer_note.as_deref(), Some("gift wrap"));
}

#[test]
fn update_request_reports_deleted_lines() {
    let doc = json!({"currency": "USD", "deletedItems": [7, "8"], "order_items": [{"quantity": 1, "unit_price": 100}]});
    let upd = decode_update_request(doc, &opts()).unwrap();
    assert_eq!(upd.deleted_line_ids, vec![7, 8]);
}

#[test]
fn list_envelope_round_trips() {
    let order = decode_create_request(json!({"customer_id": 1, "currency": "USD", "order_items": [{"quantity": 1, "unit_price": 100}]}), &opts()).unwrap();
    let orders = vec![order];
    let page = encode_list(&ListPage {
        orders: &orders,
        current_page: 1,
        per_page: 10,
        total: 1,
    });
    assert_eq!(page.value["orders"]["last_page"], json!(1));
    let back = decode_list(page.value, &opts()).unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].line_items[0].unit_price.minor, 100);
}

#[test]
fn amounts_near_i64_max_are_refused() {
    let doc = json!({"customer_id": 1, "currency": "USD", "order_items": [{"quantity": 1, "unit_price": i64::MAX}]});
    let err = decode_create_request(doc, &opts()).unwrap_err();
    assert_eq!(err.kind, ProblemKind::InvalidMoney);
    assert_eq!(err.pointer, "/order_items/0/unit_price");
}
