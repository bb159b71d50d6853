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

#[test]
fn an_error_source_points_with_rfc_6901_or_is_absent() {
    let source = |kind, pointer: &str| {
        encode_error(&Problem::new(kind, pointer, "r")).body["errors"][0]
            .get("source")
            .cloned()
    };
    // The whole document is "", not "/" (which names a member called "").
    assert_eq!(
        source(ProblemKind::MalformedJson, ""),
        Some(json!({"pointer": ""}))
    );
    // A problem in no part of the document has no source.
    for kind in [
        ProblemKind::Unauthorized,
        ProblemKind::NotFound,
        ProblemKind::TooManyRequests,
        ProblemKind::BadGateway,
    ] {
        assert_eq!(source(kind, ""), None, "{kind}");
    }
    let parameter = Problem::in_parameter(ProblemKind::InvalidParameter, "page[size]", "r");
    assert_eq!(
        encode_error(&parameter).body["errors"][0]["source"],
        json!({"parameter": "page[size]"})
    );
}

/// An order whose billing and shipping relationships name `billing` and `shipping` (type, id), with one address
/// resource, `a1`, included.
fn order_with_addresses(billing: (&str, &str), shipping: (&str, &str)) -> serde_json::Value {
    let link = |(ty, id): (&str, &str)| json!({"data": {"type": ty, "id": id}});
    json!({
        "data": {"id": "abc", "type": "orders",
            "attributes": {"currency_code": "USD"},
            "relationships": {"billing_address": link(billing), "shipping_address": link(shipping)}},
        "included": [{"type": "addresses", "id": "a1", "attributes": {
            "first_name": "Ada", "last_name": "Lovelace", "line_1": "1 Main St", "city": "Austin",
            "zip_code": "78701", "country_code": "US"}}]
    })
}

#[test]
fn one_address_resource_for_billing_and_shipping_is_both_addresses() {
    let doc = order_with_addresses(("addresses", "a1"), ("addresses", "a1"));
    let order = decode_order(doc.clone(), &DecodeOptions::default()).unwrap();
    let billing = order.billing_address.clone().unwrap();
    assert_eq!(billing.city, "Austin");
    // The shipping address is the same address, not an empty one with its id.
    assert_eq!(order.shipping_destinations, vec![billing]);
    // Rendered back, it is one resource again.
    let out = encode_order(&order).value;
    assert_eq!(out["included"], doc["included"]);
}

#[test]
fn a_billing_link_to_nothing_included_does_not_take_the_shipping_address_id() {
    // The billing link names a type that is not included: only its id is known.
    let doc = order_with_addresses(("address_typo", "a1"), ("addresses", "a1"));
    let order = decode_order(doc, &DecodeOptions::default()).unwrap();
    assert_eq!(order.billing_address.as_ref().unwrap().city, "");
    assert_eq!(order.shipping_destinations[0].city, "Austin");
    for out in [
        encode_order(&order).value,
        encode_create_request(&order).value,
    ] {
        let shipping_id = out["data"]["relationships"]["shipping_address"]["data"]["id"].clone();
        let shipping = out["included"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["type"] == "addresses" && r["id"] == shipping_id)
            .unwrap_or_else(|| panic!("shipping address included: {out}"));
        assert_eq!(shipping["attributes"]["city"], "Austin", "{out}");
    }
}

/// One address linked in both roles, held twice by a shop of another platform (under ids of its own there) and
/// filled in differently by it: rendered as one resource, the fuller one, while neither holds a value the other
/// lacks; once they differ in a value, the shipping address is a resource of its own.
#[test]
fn one_address_held_twice_is_one_resource_until_the_two_differ() {
    let doc = order_with_addresses(("addresses", "a1"), ("addresses", "a1"));
    let mut order = decode_order(doc, &DecodeOptions::default()).unwrap();
    order.billing_address.as_mut().unwrap().ids.fluentcart = Some(116);
    order.shipping_destinations[0].ids.fluentcart = Some(117);
    for (role, email) in [
        ("billing", "ada@example.com"),
        ("shipping", "ada@example.com"),
    ] {
        let mut order = order.clone();
        let address = if role == "billing" {
            order.billing_address.as_mut().unwrap()
        } else {
            &mut order.shipping_destinations[0]
        };
        address.email = Some(email.to_owned());
        let out = encode_order(&order).value;
        let rels = &out["data"]["relationships"];
        assert_eq!(rels["billing_address"]["data"]["id"], "a1", "{role}: {out}");
        assert_eq!(
            rels["shipping_address"]["data"]["id"], "a1",
            "{role}: {out}"
        );
        let addresses: Vec<_> = out["included"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["type"] == "addresses")
            .collect();
        assert_eq!(addresses.len(), 1, "{role}: {out}");
        assert_eq!(
            addresses[0]["attributes"]["email"], email,
            "{role}: the fuller one"
        );
    }
    order.billing_address.as_mut().unwrap().email = Some("ada@example.com".into());
    order.shipping_destinations[0].email = Some("lovelace@example.com".into());
    let out = encode_order(&order).value;
    assert_eq!(
        out["data"]["relationships"]["shipping_address"]["data"]["id"], "abc-shipping_address",
        "{out}"
    );
}

/// Objects without a Commerce Layer id of their own (a BigCommerce order's billing address, lines and charges read
/// through the codec alone) are named after their order: two orders never share one (a JSON:API client keeps
/// resources by type and id), and the names stay put when the order gains a line.
#[test]
fn objects_without_their_own_id_are_named_after_their_order() {
    let text = include_str!(
        "../../../fixtures/bigcommerce/order/ok/0001_status_00_incomplete_payment_blank.json"
    );
    let doc: serde_json::Value = serde_json::from_str(text).unwrap();
    let order = crate::dialects::bigcommerce::decode_order(doc, &DecodeOptions::default()).unwrap();
    assert!(order
        .billing_address
        .as_ref()
        .unwrap()
        .ids
        .commercelayer
        .is_none());
    let included_ids = |o: &Order| -> Vec<String> {
        encode_order(o).value["included"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                format!(
                    "{}/{}",
                    r["type"].as_str().unwrap(),
                    r["id"].as_str().unwrap()
                )
            })
            .collect()
    };
    let mut first = order.clone();
    first.ids.platform.commercelayer = Some("ordA".into());
    let mut second = order.clone();
    second.ids.platform.commercelayer = Some("ordB".into());
    let a = included_ids(&first);
    let b = included_ids(&second);
    assert!(
        a.contains(&"addresses/ordA-billing_address".to_owned()),
        "{a:?}"
    );
    assert!(a.iter().all(|id| !b.contains(id)), "{a:?} {b:?}");
    assert_eq!(included_ids(&first), a, "the same on every read");
    let mut grown = first.clone();
    let extra = grown.line_items[0].clone();
    grown.line_items.push(extra);
    let c = included_ids(&grown);
    assert!(
        a.iter().all(|id| c.contains(id)),
        "a new line renames nothing: {a:?} {c:?}"
    );
}

#[test]
fn local_address_names_are_read_back() {
    assert_eq!(local_address("ordA-billing_address"), Some(("ordA", true)));
    assert_eq!(
        local_address("ordA-shipping_address"),
        Some(("ordA", false))
    );
    assert_eq!(
        local_address("fc-7-shipping_address"),
        Some(("fc-7", false))
    );
    assert_eq!(local_address("-billing_address"), None);
    assert_eq!(local_address("ordA-li_1"), None);
    assert_eq!(local_address("ordA"), None);
}
