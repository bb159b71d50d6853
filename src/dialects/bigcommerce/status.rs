//! BigCommerce's single `status_id` against the three canonical axes: the vocabulary is in
//! `dialects/bigcommerce/statuses.toml`, the precedence and item-count rules are here.

use crate::canonical::{FulfillmentStatus, OrderStatus, PaymentStatus, StatusTriple};
use crate::dialects::tables;

/// What a BigCommerce order says about its goods, beyond the status id.
#[derive(Debug, Clone, Copy, Default)]
pub struct Shipment {
    pub digital: bool,
    pub items_total: u64,
    pub items_shipped: u64,
}

impl Shipment {
    fn fulfillment(self) -> FulfillmentStatus {
        if self.digital {
            FulfillmentStatus::NotRequired
        } else if self.items_shipped == 0 {
            FulfillmentStatus::Unfulfilled
        } else if self.items_shipped < self.items_total {
            FulfillmentStatus::PartiallyFulfilled
        } else {
            FulfillmentStatus::Fulfilled
        }
    }
}

/// `status_id` (+ `payment_status` when stated) → the canonical triple. `None` for an unknown id.
pub fn ingest_status(
    status_id: u8,
    payment: Option<PaymentStatus>,
    goods: Shipment,
) -> Option<StatusTriple> {
    let entry = tables::get()
        .bigcommerce_statuses
        .status_ids
        .get(&status_id)?;
    let fulfillment = match status_id {
        10 if goods.digital => FulfillmentStatus::NotRequired,
        10 => FulfillmentStatus::Fulfilled,
        _ => entry.fulfillment.unwrap_or_else(|| goods.fulfillment()),
    };
    let order = entry.order.unwrap_or(match fulfillment {
        FulfillmentStatus::Fulfilled
        | FulfillmentStatus::NotRequired
        | FulfillmentStatus::Delivered => OrderStatus::Completed,
        _ => OrderStatus::Processing,
    });
    // Without a stated payment status, ids past payment imply the money is in.
    let implied = match status_id {
        2 | 3 | 8 | 9 | 10 | 11 => PaymentStatus::Paid,
        6 => PaymentStatus::Failed,
        _ => PaymentStatus::Unpaid,
    };
    let payment = entry.payment.or(payment).unwrap_or(implied);
    Some(StatusTriple {
        order,
        payment,
        fulfillment,
    })
}

/// The canonical triple → one `status_id`, first match wins (dialect-mapping.md §7).
pub fn render_status_id(s: StatusTriple) -> u8 {
    use FulfillmentStatus as F;
    use OrderStatus as O;
    use PaymentStatus as Pay;
    match (s.order, s.payment, s.fulfillment) {
        (O::Draft, _, _) => 0,
        (O::Pending, _, _) => 1,
        (O::Cancelled, _, _) => 5,
        (O::Declined, _, _) => 6,
        (_, Pay::Disputed, _) => 13,
        (_, Pay::Refunded, _) => 4,
        (_, Pay::PartiallyRefunded, _) => 14,
        (O::OnHold, _, _) | (_, Pay::HeldForReview, _) => 12,
        (O::Placed, Pay::Paid | Pay::Free, _) => 11,
        (O::Placed, _, _) => 7,
        (_, _, F::ReadyForPickup) => 8,
        (_, _, F::PartiallyFulfilled) => 3,
        (O::Completed, _, F::NotRequired) => 10,
        (O::Completed, _, _) | (_, _, F::Fulfilled | F::Delivered) => 2,
        (_, _, F::InProgress) => 9,
        _ => 11,
    }
}

/// Every canonical triple that renders as `status_id`: a `status_id` filter is this set.
pub fn triples_with_status_id(status_id: u8) -> Vec<StatusTriple> {
    let mut out = Vec::new();
    for order in OrderStatus::ALL {
        for payment in PaymentStatus::ALL {
            for fulfillment in FulfillmentStatus::ALL {
                let t = StatusTriple {
                    order: *order,
                    payment: *payment,
                    fulfillment: *fulfillment,
                };
                if render_status_id(t) == status_id {
                    out.push(t);
                }
            }
        }
    }
    out
}

/// `GET /order_statuses` items (`{id, name, system_label, custom_label, system_description, order}`), or one of
/// them; `None` for an unknown id.
pub fn encode_order_status(status_id: u8) -> Option<serde_json::Value> {
    let entry = tables::get()
        .bigcommerce_statuses
        .status_ids
        .get(&status_id)?;
    Some(serde_json::json!({
        "id": status_id,
        "name": entry.name,
        "system_label": entry.name,
        "custom_label": entry.name,
        "system_description": entry.description,
        "order": status_id,
    }))
}

/// All statuses, in id order.
pub fn encode_order_statuses() -> serde_json::Value {
    serde_json::Value::Array(
        tables::get()
            .bigcommerce_statuses
            .status_ids
            .keys()
            .filter_map(|id| encode_order_status(*id))
            .collect(),
    )
}

/// `GET /orders/count`: the total and a count per status (`statuses[].count`).
pub fn encode_count(total: u64, per_status: &[(u8, u64)]) -> serde_json::Value {
    let statuses: Vec<serde_json::Value> = per_status
        .iter()
        .filter_map(|(id, count)| {
            let mut s = encode_order_status(*id)?;
            s["count"] = serde_json::Value::from(*count);
            s["sort_order"] = serde_json::Value::from(*id);
            Some(s)
        })
        .collect();
    serde_json::json!({ "count": total, "statuses": statuses })
}
