//! FluentCart action bodies (mark-as-paid, refund, statuses, change-customer, bulk actions) and the status
//! vocabulary the list filters and status endpoints speak. Pure wire ⇄ canonical functions; the API module owns
//! the routes and replies.

use serde_json::Value;

use crate::canonical::{
    Currency, FulfillmentStatus, Money, OrderStatus, PaymentStatus, Problem, ProblemKind,
    StatusTriple,
};
use crate::dialects::json::{describe, integer_value, Obj};
use crate::dialects::tables;

/// The order statuses `PUT /orders/{id}/statuses` and the bulk action accept (`Status::getEditableOrderStatuses`);
/// `failed` is read-only in FluentCart.
pub const EDITABLE_ORDER_STATUSES: &[&str] = &["completed", "processing", "on-hold", "canceled"];

/// `POST /orders/{id}/mark-as-paid`: every member is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MarkPaidRequest {
    pub payment_method: Option<String>,
    pub vendor_charge_id: Option<String>,
    pub transaction_type: Option<String>,
    pub note: Option<String>,
}

/// `POST /orders/{id}/refund`.
#[derive(Debug, Clone, PartialEq)]
pub struct RefundRequest {
    /// The payment refunded. FluentCart requires it; the shop may do without when the order has no payment
    /// transactions to name (an order on a shop that keeps none, such as BigCommerce v2).
    pub transaction_id: Option<u64>,
    /// Exact, in the order's currency.
    pub amount: Money,
    pub cancel_subscription: bool,
}

/// One axis set by `PUT /orders/{id}/statuses` or a bulk status action, in FluentCart's spelling (validated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusChange {
    Order(String),
    Shipping(String),
    Payment(String),
}

impl StatusChange {
    /// The FluentCart value the change sets.
    pub fn value(&self) -> &str {
        match self {
            StatusChange::Order(v) | StatusChange::Shipping(v) | StatusChange::Payment(v) => v,
        }
    }

    /// What `triple` currently renders as on the changed axis.
    pub fn current(&self, triple: StatusTriple) -> &'static str {
        let t = &tables::get().fluentcart_statuses;
        match self {
            StatusChange::Order(_) => t.order.render(triple.order),
            StatusChange::Shipping(_) => t.fulfillment.render(triple.fulfillment),
            StatusChange::Payment(_) => t.payment.render(triple.payment),
        }
    }

    /// `triple` with the changed axis set. `on-hold` is held (`OnHold`) on a paid order and placed otherwise,
    /// as the decoder reads it.
    pub fn apply(&self, triple: StatusTriple) -> Result<StatusTriple, Problem> {
        let t = &tables::get().fluentcart_statuses;
        let mut out = triple;
        match self {
            StatusChange::Order(v) => {
                out.order = match t.order.ingest(v) {
                    Some(OrderStatus::Placed) if triple.payment == PaymentStatus::Paid => {
                        OrderStatus::OnHold
                    }
                    Some(s) => s,
                    None => return Err(bad_status("order_status", v)),
                }
            }
            StatusChange::Shipping(v) => {
                out.fulfillment = t
                    .fulfillment
                    .ingest(v)
                    .ok_or_else(|| bad_status("shipping_status", v))?;
            }
            StatusChange::Payment(v) => {
                out.payment = t
                    .payment
                    .ingest(v)
                    .ok_or_else(|| bad_status("payment_status", v))?;
            }
        }
        Ok(out)
    }
}

/// `POST /orders/do-bulk-action`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkAction {
    pub kind: BulkKind,
    pub order_ids: Vec<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BulkKind {
    DeleteOrders,
    CapturePayments,
    ChangeStatus(StatusChange),
}

fn bad_status(field: &str, value: &str) -> Problem {
    Problem::new(
        ProblemKind::InvalidStatus,
        format!("/statuses/{field}"),
        format!("{value:?} is not a FluentCart {}", field.replace('_', " ")),
    )
}

/// The shipping status spelled `unfulfilled` in one of FluentCart's list examples means `unshipped`.
fn normalize_shipping(value: &str) -> &str {
    if value == "unfulfilled" {
        "unshipped"
    } else {
        value
    }
}

/// Checks an order status is one FluentCart lets an operator set.
pub fn editable_order_status(value: &str, pointer: &str) -> Result<String, Problem> {
    if EDITABLE_ORDER_STATUSES.contains(&value) {
        Ok(value.to_owned())
    } else {
        Err(Problem::new(
            ProblemKind::InvalidStatus,
            pointer,
            format!(
                "{value:?} is not an order status that can be set; use one of {}",
                EDITABLE_ORDER_STATUSES.join(", ")
            ),
        ))
    }
}

fn shipping_status(value: &str, pointer: &str) -> Result<String, Problem> {
    let v = normalize_shipping(value);
    let known = tables::get()
        .fluentcart_statuses
        .fulfillment
        .ingest(v)
        .is_some();
    if known && !v.is_empty() {
        Ok(v.to_owned())
    } else {
        Err(Problem::new(
            ProblemKind::InvalidStatus,
            pointer,
            format!("{value:?} is not a FluentCart shipping status"),
        ))
    }
}

fn payment_status(value: &str, pointer: &str) -> Result<String, Problem> {
    if tables::get()
        .fluentcart_statuses
        .payment
        .ingest(value)
        .is_some()
    {
        Ok(value.to_owned())
    } else {
        Err(Problem::new(
            ProblemKind::InvalidStatus,
            pointer,
            format!("{value:?} is not a FluentCart payment status"),
        ))
    }
}

/// An object body; an empty body reads as `{}` where every member is optional.
fn object(doc: Value) -> Result<Obj, Problem> {
    Obj::new(doc, "")
}

pub fn decode_mark_paid_request(doc: Value) -> Result<MarkPaidRequest, Problem> {
    let mut o = object(doc)?;
    Ok(MarkPaidRequest {
        payment_method: o.string("payment_method")?.filter(|s| !s.trim().is_empty()),
        vendor_charge_id: o
            .string_or_number("vendor_charge_id")?
            .filter(|s| !s.trim().is_empty()),
        transaction_type: o
            .string("transaction_type")?
            .filter(|s| !s.trim().is_empty()),
        note: o.string("mark_paid_note")?.filter(|s| !s.trim().is_empty()),
    })
}

/// Reads `refund_info`. The amount is in DECIMAL MAJOR UNITS (FluentCart's controller runs it through
/// `Helper::toCent`, unlike every other amount in the API), sent as a JSON number or a string, and is parsed exactly:
/// more decimals than the currency has is refused rather than rounded.
pub fn decode_refund_request(doc: Value, currency: Currency) -> Result<RefundRequest, Problem> {
    let mut envelope = object(doc)?;
    let mut info = envelope
        .child("refund_info")?
        .ok_or_else(|| envelope.missing("refund_info"))?;
    let transaction_id = info.unsigned("transaction_id")?;
    let raw = info.raw("amount").ok_or_else(|| info.missing("amount"))?;
    let text = match &raw {
        Value::String(s) => s.trim().to_owned(),
        // serde_json prints a number with a fraction in its shortest round-trip form, which is the literal for
        // any amount with at most 15 significant digits; exponent forms are refused by the decimal parser.
        Value::Number(n) => n.to_string(),
        other => {
            return Err(Problem::new(
                ProblemKind::InvalidMoney,
                info.pointer("amount"),
                format!(
                    "expected a decimal amount in major units, found {}",
                    describe(other)
                ),
            ))
        }
    };
    let amount = Money::parse_major(&text, currency).map_err(|e| {
        Problem::new(
            ProblemKind::InvalidMoney,
            info.pointer("amount"),
            format!("refund amount {text:?} in {currency}: {e}"),
        )
    })?;
    if amount.minor <= 0 {
        return Err(Problem::new(
            ProblemKind::InvalidMoney,
            info.pointer("amount"),
            "the refund amount must be positive",
        ));
    }
    let cancel_subscription = matches!(info.raw("cancelSubscription"), Some(Value::Bool(true)))
        || matches!(info.raw("cancelSubscription"), Some(Value::String(s)) if s == "true");
    Ok(RefundRequest {
        transaction_id,
        amount,
        cancel_subscription,
    })
}

/// `{"action": "change_order_status" | "change_shipping_status" | "change_payment_status", "statuses": {...}}`.
/// `change_payment_status` (with `statuses.payment_status`) is an ordermux addition.
pub fn decode_statuses_request(doc: Value) -> Result<StatusChange, Problem> {
    let mut o = object(doc)?;
    let action = o.required_string("action")?;
    let mut statuses = o.child("statuses")?.ok_or_else(|| o.missing("statuses"))?;
    let mut read = |key: &str| -> Result<(String, String), Problem> {
        let value = statuses.string(key)?.ok_or_else(|| statuses.missing(key))?;
        Ok((value, statuses.pointer(key)))
    };
    match action.as_str() {
        "change_order_status" => {
            let (v, p) = read("order_status")?;
            Ok(StatusChange::Order(editable_order_status(&v, &p)?))
        }
        "change_shipping_status" => {
            let (v, p) = read("shipping_status")?;
            Ok(StatusChange::Shipping(shipping_status(&v, &p)?))
        }
        "change_payment_status" => {
            let (v, p) = read("payment_status")?;
            Ok(StatusChange::Payment(payment_status(&v, &p)?))
        }
        other => Err(Problem::new(
            ProblemKind::InvalidField,
            "/action",
            format!("{other:?} is not change_order_status, change_shipping_status or change_payment_status"),
        )),
    }
}

/// `{"customer_id": 15}`; a numeric string is accepted, as PHP reads it.
pub fn decode_change_customer_request(doc: Value) -> Result<u64, Problem> {
    let mut o = object(doc)?;
    let id = o
        .unsigned("customer_id")?
        .ok_or_else(|| o.missing("customer_id"))?;
    if id == 0 {
        return Err(o.missing("customer_id"));
    }
    Ok(id)
}

/// `{"action": ..., "order_ids": [...], "new_status": ...}`. Ids that are not positive integers are dropped, as
/// FluentCart's `array_filter(array_map('intval', ...))` does; none left is an error.
pub fn decode_bulk_action(doc: Value) -> Result<BulkAction, Problem> {
    let mut o = object(doc)?;
    let action = o.required_string("action")?;
    let ids = o
        .array("order_ids")?
        .ok_or_else(|| o.missing("order_ids"))?;
    let mut order_ids: Vec<u64> = ids
        .iter()
        .filter_map(|(v, _)| integer_value(v))
        .filter_map(|n| u64::try_from(n).ok())
        .filter(|n| *n > 0)
        .collect();
    order_ids.dedup();
    if order_ids.is_empty() {
        return Err(Problem::new(
            ProblemKind::MissingField,
            "/order_ids",
            "Orders selection is required",
        ));
    }
    let mut new_status = || -> Result<String, Problem> {
        o.string("new_status")?
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                Problem::new(
                    ProblemKind::MissingField,
                    "/new_status",
                    "Please select status",
                )
            })
    };
    let kind = match action.as_str() {
        "delete_orders" => BulkKind::DeleteOrders,
        "capture_payments" => BulkKind::CapturePayments,
        "change_order_status" => BulkKind::ChangeStatus(StatusChange::Order(
            editable_order_status(&new_status()?, "/new_status")?,
        )),
        "change_shipping_status" => BulkKind::ChangeStatus(StatusChange::Shipping(
            shipping_status(&new_status()?, "/new_status")?,
        )),
        "change_payment_status" => BulkKind::ChangeStatus(StatusChange::Payment(payment_status(
            &new_status()?,
            "/new_status",
        )?)),
        _ => {
            return Err(Problem::new(
                ProblemKind::InvalidField,
                "/action",
                "Selected action is invalid",
            ))
        }
    };
    Ok(BulkAction { kind, order_ids })
}

/// Every canonical status triple whose FluentCart rendering matches the filters: each non-empty list is a set of
/// accepted FluentCart values for its axis (`order_statuses[]`, `payment_statuses[]`, `shipping_statuses[]`).
/// Unknown values simply match nothing, as FluentCart's `whereIn` does.
pub fn status_filter(order: &[&str], payment: &[&str], shipping: &[&str]) -> Vec<StatusTriple> {
    let t = &tables::get().fluentcart_statuses;
    let shipping: Vec<&str> = shipping.iter().map(|s| normalize_shipping(s)).collect();
    let mut out = Vec::new();
    for o in OrderStatus::ALL {
        if !order.is_empty() && !order.contains(&t.order.render(*o)) {
            continue;
        }
        for p in PaymentStatus::ALL {
            if !payment.is_empty() && !payment.contains(&t.payment.render(*p)) {
                continue;
            }
            for f in FulfillmentStatus::ALL {
                if !shipping.is_empty() && !shipping.contains(&t.fulfillment.render(*f)) {
                    continue;
                }
                out.push(StatusTriple {
                    order: *o,
                    payment: *p,
                    fulfillment: *f,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn usd() -> Currency {
        Currency::parse("USD").unwrap()
    }

    #[test]
    fn refund_amounts_are_exact_major_units() {
        let r = decode_refund_request(
            json!({"refund_info": {"transaction_id": 3, "amount": 12.5}}),
            usd(),
        )
        .unwrap();
        assert_eq!(r.amount.minor, 1250);
        let r = decode_refund_request(
            json!({"refund_info": {"transaction_id": "3", "amount": "0.10"}}),
            usd(),
        )
        .unwrap();
        assert_eq!((r.transaction_id, r.amount.minor), (Some(3), 10));
        let jpy = Currency::parse("JPY").unwrap();
        let r = decode_refund_request(
            json!({"refund_info": {"transaction_id": 1, "amount": 3500}}),
            jpy,
        )
        .unwrap();
        assert_eq!(r.amount.minor, 3500);
        for bad in [json!(1.005), json!("1e3"), json!(-1), json!(0), json!(true)] {
            let err = decode_refund_request(
                json!({"refund_info": {"transaction_id": 1, "amount": bad}}),
                usd(),
            )
            .unwrap_err();
            assert_eq!(err.kind, ProblemKind::InvalidMoney, "{bad}");
            assert_eq!(err.pointer, "/refund_info/amount");
        }
        // Without a transaction: decoded; whether the order can do without one is the shop's to say.
        let r = decode_refund_request(json!({"refund_info": {"amount": 1}}), usd()).unwrap();
        assert_eq!(r.transaction_id, None);
        let err = decode_refund_request(
            json!({"refund_info": {"transaction_id": "x", "amount": 1}}),
            usd(),
        )
        .unwrap_err();
        assert_eq!(err.pointer, "/refund_info/transaction_id");
    }

    #[test]
    fn statuses_bodies_name_one_axis() {
        let c = decode_statuses_request(
            json!({"action": "change_order_status", "statuses": {"order_status": "processing"}, "manage_stock": true}),
        )
        .unwrap();
        assert_eq!(c, StatusChange::Order("processing".into()));
        let t = c.apply(StatusTriple::default()).unwrap();
        assert_eq!(t.order, OrderStatus::Processing);
        let c = decode_statuses_request(
            json!({"action": "change_shipping_status", "statuses": {"shipping_status": "shipped"}}),
        )
        .unwrap();
        assert_eq!(
            c.apply(StatusTriple::default()).unwrap().fulfillment,
            FulfillmentStatus::Fulfilled
        );
        assert!(decode_statuses_request(
            json!({"action": "change_order_status", "statuses": {"order_status": "failed"}})
        )
        .is_err());
        assert!(decode_statuses_request(json!({"action": "nope", "statuses": {}})).is_err());
    }

    #[test]
    fn on_hold_on_a_paid_order_is_held() {
        let paid = StatusTriple {
            payment: PaymentStatus::Paid,
            ..StatusTriple::default()
        };
        let t = StatusChange::Order("on-hold".into()).apply(paid).unwrap();
        assert_eq!(t.order, OrderStatus::OnHold);
        assert_eq!(StatusChange::Order("on-hold".into()).current(t), "on-hold");
    }

    #[test]
    fn bulk_bodies() {
        let b = decode_bulk_action(json!({"action": "change_order_status", "order_ids": [1, "2", 0, "x"], "new_status": "processing"})).unwrap();
        assert_eq!(b.order_ids, [1, 2]);
        assert!(matches!(
            b.kind,
            BulkKind::ChangeStatus(StatusChange::Order(_))
        ));
        assert!(decode_bulk_action(json!({"action": "delete_orders", "order_ids": []})).is_err());
        assert!(
            decode_bulk_action(json!({"action": "change_order_status", "order_ids": [1]})).is_err()
        );
        assert!(decode_bulk_action(json!({"action": "explode", "order_ids": [1]})).is_err());
    }

    #[test]
    fn filters_select_triples_by_rendering() {
        let on_hold = status_filter(&["on-hold"], &[], &[]);
        assert!(on_hold.iter().all(|t| matches!(
            t.order,
            OrderStatus::Draft | OrderStatus::Pending | OrderStatus::Placed | OrderStatus::OnHold
        )));
        let paid_shipped = status_filter(&[], &["paid"], &["shipped"]);
        assert!(paid_shipped
            .iter()
            .all(|t| t.fulfillment == FulfillmentStatus::Fulfilled));
        assert!(paid_shipped
            .iter()
            .any(|t| t.payment == PaymentStatus::Paid));
        assert!(status_filter(&["nope"], &[], &[]).is_empty());
    }
}
