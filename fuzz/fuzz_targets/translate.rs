//! Any bytes, as a document of any dialect: decoding never panics. What decodes, and the shop would accept, renders
//! in every dialect and form without panicking, and each rendering decodes again keeping what the fixture invariants
//! keep (`tests/oracle.rs`) unless it reported the loss; the shop's arithmetic and every lifecycle transition never
//! panic on it either. A refusal renders as each dialect's error document.
#![no_main]

use chrono::TimeZone;
use libfuzzer_sys::fuzz_target;
use ordermux::canonical::{lifecycle, Currency, Platform, Transition};
use ordermux::dialects::{self, DecodeOptions, DocumentKind};

#[path = "../../tests/oracle.rs"]
mod oracle;

const FORMS: [DocumentKind; 2] = [DocumentKind::Request, DocumentKind::Order];

fuzz_target!(|input: &[u8]| {
    let Some((&selector, bytes)) = input.split_first() else {
        return;
    };
    let source = Platform::ALL[usize::from(selector % 3)];
    // BigCommerce create requests name no currency: the default the gateway would be configured with.
    let default_currency = match (selector / 3) % 4 {
        0 => None,
        1 => Some("USD"),
        2 => Some("JPY"),
        _ => Some("KWD"),
    }
    .map(|code| Currency::parse(code).expect("a known currency"));
    let options = DecodeOptions { default_currency };
    let decoded = match dialects::decode(source, bytes, &options) {
        Ok(decoded) => decoded,
        Err(problem) => {
            for target in Platform::ALL {
                let rendered = dialects::encode_error(target, &problem);
                assert!(
                    rendered.status.is_client_error(),
                    "{problem}: {}",
                    rendered.status
                );
            }
            return;
        }
    };
    let order = decoded.order;
    // A document whose totals the shop would refuse (a total below zero, as stated or as the shop works it out
    // from the parts) is never rendered as an order; what it renders need not decode.
    let mut priced = order.clone();
    priced.recompute_totals();
    let renderable = order.totals_problem().is_none() && priced.totals_problem().is_none();
    for target in Platform::ALL.into_iter().filter(|_| renderable) {
        for form in FORMS {
            let out = dialects::encode(target, form, &order);
            let text = serde_json::to_vec(&out.value).expect("a rendering serializes");
            if order.line_items.is_empty() && form == DocumentKind::Request {
                continue;
            }
            let back = dialects::decode(target, &text, &options).unwrap_or_else(|p| {
                panic!(
                    "{source} → {target} {}: the rendering does not decode: {p}\n{}",
                    form.name(),
                    String::from_utf8_lossy(&text)
                )
            });
            let what = format!("{source} → {target} {}", form.name());
            oracle::check(&order, &back.order, target, form, &out.losses, &what);
        }
    }
    let now = chrono::Utc.timestamp_opt(1_767_225_600, 0).unwrap();
    let refund_half =
        order
            .totals
            .total
            .minor
            .checked_div(2)
            .map(|minor| ordermux::canonical::Money {
                minor,
                ..order.totals.total
            });
    for transition in [
        Transition::Place,
        Transition::Approve,
        Transition::Cancel,
        Transition::Authorize,
        Transition::Capture,
        Transition::Refund { amount: None },
        Transition::Refund {
            amount: refund_half,
        },
        Transition::Fulfill,
        Transition::MarkPaid { method: None },
    ] {
        for start in [&order, &priced] {
            let mut changed = start.clone();
            if lifecycle::apply(&mut changed, &transition, now).is_ok() {
                for target in Platform::ALL {
                    let _ = dialects::encode(target, DocumentKind::Order, &changed);
                }
            }
        }
    }
});
