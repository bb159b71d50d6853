//! BigCommerce edge cases.

use serde_json::json;

use super::*;
use crate::canonical::*;
use crate::dialects::DecodeOptions;

fn usd() -> DecodeOptions {
    DecodeOptions {
        default_currency: Some(Currency::parse("USD").unwrap()),
    }
}

fn minimal() -> serde_json::Value {
    json!({"billing_address": {"first_name": "Jane", "last_name": "Doe", "street_1": "1 Main", "city": "Austin", "zip": "78751", "country": "United States", "country_iso2": "US", "email": "j@example.com"},
           "products": [{"name": "Mug", "quantity": 2, "price_inc_tax": "5.4125", "price_ex_tax": "5.0000"}]})
}

#[test]
fn sub_cent_prices_round_half_even_and_are_noted() {
    let order = decode_create_request(minimal(), &usd()).unwrap();
    assert_eq!(order.line_items[0].unit_price.minor, 500);
    assert_eq!(order.line_items[0].tax_total.minor, 82);
    assert_eq!(order.sub_minor_amounts.len(), 1);
    assert_eq!(order.sub_minor_amounts[0].0, "line_items/0/unit_price");
}

#[test]
fn every_status_id_ingests_and_renders() {
    for id in 0..=14u8 {
        let triple = ingest_status(id, None, Default::default()).unwrap();
        let again = render_status_id(triple);
        assert!(again <= 14, "{id} → {triple:?} → {again}");
    }
    assert!(ingest_status(15, None, Default::default()).is_none());
}

#[test]
fn unknown_status_id_is_refused_with_its_pointer() {
    let mut doc = minimal();
    doc["status_id"] = json!(99);
    let err = decode_create_request(doc, &usd()).unwrap_err();
    assert_eq!(err.pointer, "/status_id");
}

#[test]
fn missing_currency_names_default_currency_code() {
    let err = decode_create_request(minimal(), &DecodeOptions::default()).unwrap_err();
    assert_eq!(err.pointer, "/default_currency_code");
}

#[test]
fn links_form_serves_sub_resource_urls() {
    let mut order = decode_create_request(minimal(), &usd()).unwrap();
    order.ids.platform.bigcommerce = Some(100);
    let doc = encode_order_with_links(&order, "https://gw/stores/demo/v2").value;
    assert_eq!(doc["products"]["resource"], json!("/orders/100/products"));
    assert_eq!(encode_products(&order).as_array().unwrap().len(), 1);
}

#[test]
fn error_is_an_array() {
    let doc = encode_error(&Problem::new(
        ProblemKind::MissingField,
        "/billing_address",
        "billing_address is required",
    ));
    assert_eq!(doc.body[0]["status"], json!(422));
}

#[test]
fn huge_amounts_are_refused_not_overflowed() {
    let mut doc = minimal();
    doc["products"][0]["price_ex_tax"] = json!("92233720368547758.07");
    let err = decode_create_request(doc, &usd()).unwrap_err();
    assert_eq!(err.kind, ProblemKind::InvalidMoney);
    assert_eq!(err.pointer, "/products/0/price_ex_tax");
    // Each amount in range, but price × quantity is not: refused as a whole, without overflow.
    let mut doc = minimal();
    doc["products"][0]["price_ex_tax"] = json!("9999999999.99");
    doc["products"][0]["price_inc_tax"] = json!("9999999999.99");
    doc["products"][0]["quantity"] = json!(1_000_000);
    let err = crate::dialects::decode_value(crate::dialects::Dialect::BigCommerce, doc, &usd())
        .unwrap_err();
    assert_eq!(err.kind, ProblemKind::InvalidMoney);
    assert!(err.reason.contains("line_items/0/subtotal"), "{err}");
}

/// Without `total_tax`, the order's tax is what its two totals differ by, as BigCommerce defines it, not what its
/// lines' prices add up to (a total_ex_tax rendered from the latter came out below zero); totals whose difference
/// would be a negative tax are refused.
#[test]
fn the_tax_without_total_tax_is_what_the_totals_differ_by() {
    let mut doc = minimal();
    doc["total_ex_tax"] = json!("10.0000");
    doc["total_inc_tax"] = json!("10.5000");
    let order = decode_create_request(doc.clone(), &usd()).unwrap();
    assert_eq!(order.totals.tax_total.minor, 50);
    assert_eq!(order.totals.total.minor, 1050);
    doc["total_inc_tax"] = json!("9.0000");
    let refused = decode_create_request(doc, &usd()).unwrap_err();
    assert_eq!(refused.kind, ProblemKind::InvalidMoney);
    assert_eq!(refused.pointer, "/total_inc_tax");
}

/// BigCommerce has one buyer e-mail, the billing address's: a customer e-mail that differs from it is a loss.
#[test]
fn a_customer_email_other_than_the_billing_addresss_is_a_loss() {
    let mut order = decode_create_request(minimal(), &usd()).unwrap();
    order.source = Default::default();
    let email_lost = |losses: &[crate::dialects::Loss]| {
        losses.iter().any(|l| l.pointer == "/billing_address/email")
    };
    assert!(!email_lost(&encode_create_request(&order).losses));
    order.customer.email = Some("buyer@example.com".into());
    let out = encode_create_request(&order);
    assert_eq!(out.value["billing_address"]["email"], "j@example.com");
    assert!(email_lost(&out.losses), "{:?}", out.losses);
}
