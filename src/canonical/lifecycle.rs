//! How an order moves between states: the transitions every dialect's actions map onto (Commerce Layer triggers,
//! FluentCart's mark-as-paid / refund / statuses endpoints, a BigCommerce `status_id` change), and which are allowed
//! from where. The rules follow Commerce Layer's order state machine, the strictest of the three platforms.

use super::money::Money;
use super::order::{Order, Payment, Timestamp};
use super::problem::{Problem, ProblemKind};
use super::status::{FulfillmentStatus, OrderStatus, PaymentStatus, StatusTriple};

/// One state change requested by a client.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    /// Draft/pending → placed (Commerce Layer `_place`).
    Place,
    /// Placed → approved (`_approve`); canonical `Processing`.
    Approve,
    /// Any open order → cancelled; an authorization is voided (`_cancel`).
    Cancel,
    /// Unpaid → authorized (`_authorize`).
    Authorize,
    /// Authorized → paid (`_capture`).
    Capture,
    /// Paid → refunded, or partially refunded when `amount` is less than what remains (`_refund`, FluentCart refund).
    Refund { amount: Option<Money> },
    /// Goods shipped (`_fulfill`).
    Fulfill,
    /// The payment was received outside the gateway (FluentCart mark-as-paid).
    MarkPaid { method: Option<String> },
    /// An operator sets the states directly (FluentCart statuses endpoint, BigCommerce `status_id`).
    Set(StatusTriple),
}

impl Transition {
    /// A short name for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Transition::Place => "place",
            Transition::Approve => "approve",
            Transition::Cancel => "cancel",
            Transition::Authorize => "authorize",
            Transition::Capture => "capture",
            Transition::Refund { .. } => "refund",
            Transition::Fulfill => "fulfill",
            Transition::MarkPaid { .. } => "mark_paid",
            Transition::Set(_) => "set_status",
        }
    }
}

fn refuse(order: &Order, what: &str) -> Problem {
    Problem::new(
        ProblemKind::InvalidTransition,
        "",
        format!(
            "cannot {what} an order that is {} / {} / {}",
            order.status, order.payment_status, order.fulfillment_status
        ),
    )
}

/// What an order needs before it leaves draft: something to sell and someone to tell.
fn check_complete(order: &Order) -> Result<(), Problem> {
    if order.line_items.is_empty() {
        return Err(Problem::new(
            ProblemKind::InvalidTransition,
            "",
            "cannot place an order without line items",
        ));
    }
    if order.customer.email.is_none() {
        return Err(Problem::new(
            ProblemKind::InvalidTransition,
            "",
            "cannot place an order without a customer email",
        ));
    }
    Ok(())
}

fn is_open(status: OrderStatus) -> bool {
    !matches!(
        status,
        OrderStatus::Cancelled | OrderStatus::Declined | OrderStatus::Completed
    )
}

/// Applies `transition` to `order` at `now`, or says why it is not allowed (the order is then unchanged).
pub fn apply(order: &mut Order, transition: &Transition, now: Timestamp) -> Result<(), Problem> {
    use FulfillmentStatus as F;
    use OrderStatus as O;
    use PaymentStatus as P;
    match transition {
        Transition::Place => {
            if !matches!(order.status, O::Draft | O::Pending) {
                return Err(refuse(order, "place"));
            }
            check_complete(order)?;
            order.status = O::Placed;
            if order.totals.total.minor == 0 && order.payment_status == P::Unpaid {
                order.payment_status = P::Free;
            }
            order.timestamps.placed_at = Some(now);
        }
        Transition::Approve => {
            if order.status != O::Placed && order.status != O::OnHold {
                return Err(refuse(order, "approve"));
            }
            order.status = O::Processing;
            order.timestamps.approved_at = Some(now);
        }
        Transition::Cancel => {
            if !is_open(order.status) || order.status == O::Draft {
                return Err(refuse(order, "cancel"));
            }
            if matches!(order.fulfillment_status, F::Fulfilled | F::Delivered) {
                return Err(refuse(order, "cancel"));
            }
            order.status = O::Cancelled;
            if matches!(order.payment_status, P::Authorized | P::PartiallyAuthorized) {
                order.payment_status = P::Voided;
            }
            order.timestamps.cancelled_at = Some(now);
        }
        Transition::Authorize => {
            if !is_open(order.status) || order.payment_status != P::Unpaid {
                return Err(refuse(order, "authorize"));
            }
            order.payment_status = P::Authorized;
        }
        Transition::Capture => {
            if !is_open(order.status)
                || !matches!(order.payment_status, P::Authorized | P::PartiallyAuthorized)
            {
                return Err(refuse(order, "capture"));
            }
            record_payment(order, "capture", order.totals.total, None);
            order.payment_status = P::Paid;
            order.totals.paid_total = Some(order.totals.total);
        }
        Transition::Refund { amount } => refund(order, *amount, now)?,
        Transition::Fulfill => {
            if !matches!(order.status, O::Placed | O::Processing | O::OnHold)
                || matches!(order.fulfillment_status, F::Fulfilled | F::Delivered)
            {
                return Err(refuse(order, "fulfill"));
            }
            order.fulfillment_status = F::Fulfilled;
            order.timestamps.shipped_at = Some(now);
        }
        Transition::MarkPaid { method } => {
            if matches!(order.status, O::Cancelled | O::Declined | O::Draft)
                || !matches!(
                    order.payment_status,
                    P::Unpaid | P::Authorized | P::PartiallyPaid | P::Failed
                )
            {
                return Err(refuse(order, "mark as paid"));
            }
            let due = Money::new(
                order.totals.total.minor - order.totals.paid_total.map_or(0, |p| p.minor),
                order.currency,
            );
            record_payment(order, "payment", due, method.clone());
            if method.is_some() {
                order.payment_method.clone_from(method);
            }
            order.payment_status = P::Paid;
            order.totals.paid_total = Some(order.totals.total);
        }
        Transition::Set(triple) => {
            if order.status == O::Draft && triple.order != O::Draft {
                // Out of draft (a BigCommerce "Incomplete" order given a status): as complete as placing needs.
                check_complete(order)?;
                order.timestamps.placed_at.get_or_insert(now);
            }
            order.status = triple.order;
            order.payment_status = triple.payment;
            order.fulfillment_status = triple.fulfillment;
            match triple.order {
                O::Cancelled => order.timestamps.cancelled_at = Some(now),
                O::Completed => order.timestamps.completed_at = Some(now),
                _ => {}
            }
        }
    }
    order.timestamps.updated_at = Some(now);
    order.applied.push(transition.clone());
    Ok(())
}

fn refund(order: &mut Order, amount: Option<Money>, now: Timestamp) -> Result<(), Problem> {
    use PaymentStatus as P;
    if !matches!(
        order.payment_status,
        P::Paid | P::PartiallyPaid | P::PartiallyRefunded
    ) {
        return Err(refuse(order, "refund"));
    }
    let paid = order
        .totals
        .paid_total
        .map_or(order.totals.total.minor, |p| p.minor);
    let already = order.totals.refunded_total.map_or(0, |r| r.minor);
    let refundable = paid - already;
    let amount = amount.map_or(refundable, |m| m.minor);
    if amount <= 0 || amount > refundable {
        return Err(Problem::new(
            ProblemKind::InvalidTransition,
            "",
            format!(
                "refund amount {} is not between 0 and the refundable {} {}",
                Money::new(amount, order.currency).to_decimal(),
                Money::new(refundable, order.currency).to_decimal(),
                order.currency
            ),
        ));
    }
    record_payment(order, "refund", Money::new(amount, order.currency), None);
    let refunded = already + amount;
    order.totals.refunded_total = Some(Money::new(refunded, order.currency));
    order.payment_status = if refunded >= paid {
        P::Refunded
    } else {
        P::PartiallyRefunded
    };
    order.timestamps.refunded_at = Some(now);
    Ok(())
}

fn record_payment(order: &mut Order, kind: &str, amount: Money, method: Option<String>) {
    order.payments.push(Payment {
        ids: Default::default(),
        method: method.or_else(|| order.payment_method.clone()),
        status: Some("succeeded".to_owned()),
        kind: Some(kind.to_owned()),
        amount,
        reference: None,
        ext: Default::default(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::{Currency, Customer};

    fn placed_order() -> Order {
        let usd = Currency::parse("USD").unwrap();
        let mut order = Order::empty(usd);
        order.status = OrderStatus::Draft;
        order.customer = Customer {
            email: Some("a@example.com".into()),
            ..Default::default()
        };
        order.totals.total = Money::new(1000, usd);
        order
    }

    fn now() -> Timestamp {
        chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap()
    }

    #[test]
    fn place_needs_line_items() {
        let mut order = placed_order();
        let err = apply(&mut order, &Transition::Place, now()).unwrap_err();
        assert_eq!(err.kind, ProblemKind::InvalidTransition);
        assert_eq!(
            order.status,
            OrderStatus::Draft,
            "refused transitions change nothing"
        );
    }

    #[test]
    fn a_draft_given_a_status_must_be_as_complete_as_placing_needs() {
        let mut order = placed_order();
        let pending = StatusTriple {
            order: OrderStatus::Pending,
            payment: PaymentStatus::Unpaid,
            fulfillment: FulfillmentStatus::Unfulfilled,
        };
        let err = apply(&mut order, &Transition::Set(pending), now()).unwrap_err();
        assert!(err.reason.contains("without line items"), "{err}");
        assert_eq!(order.status, OrderStatus::Draft);
    }

    #[test]
    fn authorize_capture_refund_partially_then_fully() {
        let mut order = placed_order();
        order.status = OrderStatus::Placed;
        apply(&mut order, &Transition::Authorize, now()).unwrap();
        apply(&mut order, &Transition::Capture, now()).unwrap();
        assert_eq!(order.payment_status, PaymentStatus::Paid);
        let usd = order.currency;
        apply(
            &mut order,
            &Transition::Refund {
                amount: Some(Money::new(400, usd)),
            },
            now(),
        )
        .unwrap();
        assert_eq!(order.payment_status, PaymentStatus::PartiallyRefunded);
        let too_much = Transition::Refund {
            amount: Some(Money::new(601, usd)),
        };
        assert!(apply(&mut order, &too_much, now()).is_err());
        apply(&mut order, &Transition::Refund { amount: None }, now()).unwrap();
        assert_eq!(order.payment_status, PaymentStatus::Refunded);
        assert_eq!(order.totals.refunded_total.unwrap().minor, 1000);
    }

    #[test]
    fn cancel_voids_an_authorization_and_is_final() {
        let mut order = placed_order();
        order.status = OrderStatus::Placed;
        order.payment_status = PaymentStatus::Authorized;
        apply(&mut order, &Transition::Cancel, now()).unwrap();
        assert_eq!(order.payment_status, PaymentStatus::Voided);
        assert!(apply(&mut order, &Transition::Cancel, now()).is_err());
        assert!(apply(&mut order, &Transition::Approve, now()).is_err());
    }
}
