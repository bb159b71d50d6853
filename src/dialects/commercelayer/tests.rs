//! Commerce Layer edge cases.

use serde_json::json;

use super::*;
use crate::canonical::*;
use crate::dialects::DecodeOptions;

fn order_doc(attrs: serde_json::Value) -> serde_json::Value {
    json!({"data": {"id": "abc", "type": "orders", "attributes": attrs}})
}

#[test]
fn triples_must_agree() {
    let doc = order_doc(
        json!({"currency_code": "USD", "total_amount_cents": 1000, "total_amount_float": 12.5}),
    );
    let err = decode_order(doc, &DecodeOptions::default()).unwrap_err();
    assert_eq!(err.pointer, "/data/attributes/total_amount_float");
    assert_eq!(err.kind, ProblemKind::InvalidMoney);
}

#[test]
fn huf_cents_are_forints() {
    let doc = order_doc(
        json!({"currency_code": "HUF", "total_amount_with_taxes_cents": 1500, "total_amount_with_taxes_float": 1500.0, "tax_included": true}),
    );
    let order = decode_order(doc, &DecodeOptions::default()).unwrap();
    assert_eq!(order.totals.total.minor, 150000);
    let out = encode_order(&order);
    assert_eq!(
        out.value["data"]["attributes"]["total_amount_with_taxes_cents"],
        json!(1500)
    );
}

#[test]
fn wrong_type_is_a_conflict() {
    let doc = json!({"data": {"type": "customers", "attributes": {}}});
    let err = decode_create_request(doc, &DecodeOptions::default()).unwrap_err();
    assert_eq!(err.kind, ProblemKind::TypeConflict);
    assert_eq!(err.pointer, "/data/type");
}

#[test]
fn approved_and_fulfilled_is_completed() {
    let doc = order_doc(
        json!({"currency_code": "EUR", "status": "approved", "fulfillment_status": "fulfilled", "payment_status": "paid"}),
    );
    let order = decode_order(doc, &DecodeOptions::default()).unwrap();
    assert_eq!(order.status, OrderStatus::Completed);
}

#[test]
fn error_document_has_a_pointer() {
    let doc = encode_error(&Problem::new(
        ProblemKind::InvalidQuantity,
        "/included/0/attributes/quantity",
        "bad",
    ));
    assert_eq!(doc.status, 422);
    assert_eq!(doc.body["errors"][0]["status"], json!("422"));
    assert_eq!(
        doc.body["errors"][0]["source"]["pointer"],
        json!("/included/0/attributes/quantity")
    );
}
