//! Any bytes, as the body of a route other than a create: Commerce Layer resource documents (order updates with
//! triggers, line items, addresses, captures), BigCommerce order updates, FluentCart's action bodies (mark as paid,
//! refund, statuses, change customer). Nothing panics; a refusal renders in the route's dialect; what decodes is
//! applied to an order where the route would apply it, and the order still renders.
#![no_main]

use std::sync::OnceLock;

use chrono::TimeZone;
use libfuzzer_sys::fuzz_target;
use ordermux::canonical::{lifecycle, Order, Platform, Problem, Transition};
use ordermux::dialects::commercelayer::resources;
use ordermux::dialects::fluentcart::actions;
use ordermux::dialects::{self, bigcommerce, json, DecodeOptions, DocumentKind};

/// A shipped, captured order to apply updates to (a fixture of the repository).
fn order() -> &'static Order {
    static ORDER: OnceLock<Order> = OnceLock::new();
    ORDER.get_or_init(|| {
        let bytes = include_bytes!(
            "../../fixtures/bigcommerce/order/ok/0003_status_02_shipped_captured.json"
        );
        let mut order = dialects::decode(Platform::BigCommerce, bytes, &DecodeOptions::default())
            .expect("the fixture decodes")
            .order;
        order.source = Default::default();
        order
    })
}

fn refused(dialect: Platform, problem: &Problem) {
    let rendered = dialects::encode_error(dialect, problem);
    assert!(
        rendered.status.is_client_error(),
        "{problem}: {}",
        rendered.status
    );
}

fn renders(order: &Order) {
    for target in Platform::ALL {
        let _ = dialects::encode(target, DocumentKind::Order, order);
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&selector, bytes)) = input.split_first() else {
        return;
    };
    let route = selector % 9;
    let dialect = match route {
        0..=3 => Platform::CommerceLayer,
        4 => Platform::BigCommerce,
        _ => Platform::FluentCart,
    };
    let doc = match json::parse_document(bytes) {
        Ok(doc) => doc,
        Err(problem) => return refused(dialect, &problem),
    };
    let now = chrono::Utc.timestamp_opt(1_767_225_600, 0).unwrap();
    let currency = order().currency;
    let outcome: Result<(), Problem> = (|| {
        match route {
            0 => drop(resources::decode_order_update(doc)?),
            1 => drop(resources::decode_line_item_create(doc)?),
            2 => drop(resources::decode_line_item_update(doc)?),
            3 => {
                let address = resources::decode_address_create(doc)?;
                let _ = resources::encode_address(&address);
            }
            4 => {
                let update = bigcommerce::decode_update_request(doc)?;
                let mut changed = order().clone();
                if let Some(triple) = bigcommerce::apply_update(&mut changed, update) {
                    lifecycle::apply(&mut changed, &Transition::Set(triple), now)?;
                }
                changed.recompute_totals();
                renders(&changed);
            }
            5 => drop(actions::decode_mark_paid_request(doc)?),
            6 => {
                let refund = actions::decode_refund_request(doc, currency)?;
                let mut changed = order().clone();
                let transition = Transition::Refund {
                    amount: Some(refund.amount),
                };
                lifecycle::apply(&mut changed, &transition, now)?;
                renders(&changed);
            }
            7 => drop(actions::decode_statuses_request(doc)?),
            _ => drop(actions::decode_change_customer_request(doc)?),
        }
        Ok(())
    })();
    if let Err(problem) = outcome {
        refused(dialect, &problem);
    }
});
