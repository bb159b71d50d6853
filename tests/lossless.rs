//! A → canonical → A reproduces every ok fixture exactly.

use ordermux::dialects;

use crate::support::*;

#[test]
fn every_ok_fixture_survives_its_own_dialect() {
    let mut failures = Vec::new();
    for fx in ok_fixtures() {
        let decoded = fx.decode();
        let out = dialects::encode(fx.dialect, fx.kind, &decoded.order);
        if out.value != fx.json() {
            failures.push(format!(
                "{}\n  expected: {}\n  actual:   {}",
                relative(&fx.path),
                fx.json(),
                out.value
            ));
        }
        assert!(out
            .losses
            .iter()
            .all(|l| l.kind != dialects::LossKind::MultipleDestinations
                || fx.dialect != ordermux::canonical::Platform::BigCommerce));
    }
    assert!(
        failures.is_empty(),
        "{} fixtures changed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn an_edited_order_renders_the_edit_not_the_kept_spelling() {
    for fx in ok_fixtures() {
        let mut order = fx.decode().order;
        if order.line_items.is_empty() {
            continue;
        }
        order.line_items[0].quantity += 1;
        let again = dialects::decode_value(
            fx.dialect,
            dialects::encode(fx.dialect, fx.kind, &order).value,
            &options(),
        )
        .unwrap_or_else(|p| panic!("{}: {p}", relative(&fx.path)));
        assert_eq!(
            again.order.line_items[0].quantity,
            order.line_items[0].quantity,
            "{}",
            relative(&fx.path)
        );
    }
}
