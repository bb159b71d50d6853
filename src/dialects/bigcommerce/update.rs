//! `PUT /orders/{id}` (`order_Put`): the members of an order the gateway lets a BigCommerce client change, and
//! what they change on the canonical order. Anything else in the body is refused by name rather than ignored.

use serde_json::Value;

use super::decode::decode_address;
use super::status::{ingest_status, Shipment};
use crate::canonical::{Address, FulfillmentType, Order, Problem, ProblemKind, StatusTriple};
use crate::dialects::json::Obj;

/// A decoded `order_Put` body.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrderUpdate {
    pub status_id: Option<u8>,
    pub customer_message: Option<String>,
    pub staff_notes: Option<String>,
    pub payment_method: Option<String>,
    pub billing_address: Option<Address>,
}

/// Decodes an update body; members outside what can be changed are a 422 naming them.
pub fn decode_update_request(doc: Value) -> Result<OrderUpdate, Problem> {
    let mut o = Obj::new(doc, "")?;
    if o.has("external_id") {
        // BigCommerce: "external_id can not be overwritten" once the order exists.
        return Err(Problem::new(
            ProblemKind::ForbiddenField,
            o.pointer("external_id"),
            "external_id is written on create only and cannot be overwritten",
        ));
    }
    let status_id = match o.integer("status_id")? {
        None => None,
        Some(n) => Some(u8::try_from(n).ok().filter(|n| *n <= 14).ok_or_else(|| {
            Problem::new(
                ProblemKind::InvalidStatus,
                "/status_id",
                format!("status id {n} is not a BigCommerce order status (0 to 14)"),
            )
        })?),
    };
    let update = OrderUpdate {
        status_id,
        customer_message: o.string("customer_message")?,
        staff_notes: o.string("staff_notes")?,
        payment_method: o.string("payment_method")?,
        billing_address: o
            .child("billing_address")?
            .map(decode_address)
            .transpose()?,
    };
    let rest = o.finish();
    if let Some(name) = rest.extra.keys().next() {
        return Err(Problem::new(
            ProblemKind::ForbiddenField,
            format!("/{name}"),
            format!(
                "{name} cannot be changed through this gateway; updatable members are status_id, customer_message, staff_notes, payment_method and billing_address"
            ),
        ));
    }
    Ok(update)
}

/// Applies the non-status members to `order` and returns the status triple `status_id` asks for, if any (status
/// changes go through the shop's lifecycle rules).
pub fn apply_update(order: &mut Order, update: OrderUpdate) -> Option<StatusTriple> {
    if let Some(m) = update.customer_message {
        order.customer_note = Some(m);
    }
    if let Some(n) = update.staff_notes {
        order.staff_note = Some(n);
    }
    if let Some(p) = update.payment_method {
        order.payment_method = Some(p);
    }
    if let Some(mut a) = update.billing_address {
        // The address keeps its identity in every scheme; only its content changes.
        if let Some(old) = &order.billing_address {
            a.ids = old.ids.clone();
        }
        order.billing_address = Some(a);
    }
    let goods = Shipment {
        digital: !order.line_items.is_empty()
            && order
                .line_items
                .iter()
                .all(|l| l.fulfillment_type == Some(FulfillmentType::Digital)),
        items_total: order.line_items.iter().map(|l| u64::from(l.quantity)).sum(),
        items_shipped: order
            .line_items
            .iter()
            .map(|l| u64::from(l.quantity_shipped))
            .sum(),
    };
    update
        .status_id
        .and_then(|id| ingest_status(id, None, goods))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn status_and_notes_are_decoded_and_other_members_refused() {
        let u = decode_update_request(json!({"status_id": 11, "staff_notes": "rush"})).unwrap();
        assert_eq!(u.status_id, Some(11));
        assert_eq!(u.staff_notes.as_deref(), Some("rush"));
        let err = decode_update_request(json!({"subtotal_ex_tax": "1.00"})).unwrap_err();
        assert_eq!(err.kind, ProblemKind::ForbiddenField);
        assert_eq!(err.pointer, "/subtotal_ex_tax");
        let err = decode_update_request(json!({"status_id": 99})).unwrap_err();
        assert_eq!(err.kind, ProblemKind::InvalidStatus);
        assert!(decode_update_request(json!({"external_id": "x"})).is_err());
    }
}
