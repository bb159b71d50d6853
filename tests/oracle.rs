//! What a translation must keep: after A → B → canonical the order still has the same currency, total, items (SKU,
//! quantity, net unit price), customer e-mail and addresses, except where B reported that it could not carry them.
//! Shared by the fixture test (`invariants.rs`) and the fuzz target `translate` (`fuzz/`), which includes this file.

use ordermux::canonical::{Address, LineItem, Order, Platform};
use ordermux::dialects::{self, DocumentKind, LossKind};

/// Net price of one unit, so that tax-inclusive and tax-exclusive renderings compare.
fn net_unit(line: &LineItem, tax_included: bool) -> Option<i64> {
    if !tax_included {
        return Some(line.unit_price.minor);
    }
    let q = line.quantity as i64;
    (line.tax_total.minor % q == 0).then(|| line.unit_price.minor - line.tax_total.minor / q)
}

/// What an address must keep: the name as first and last name (what every dialect can state), the street, city,
/// postal code and country. An absent optional member and an empty one mean the same (a dialect that requires the
/// member writes it empty).
type AddressKey = (
    String,
    String,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
);

fn address_key(a: &Address) -> AddressKey {
    let present = |s: Option<String>| s.filter(|s| !s.is_empty());
    let (first, last) = a.name_parts();
    (
        a.line1.clone(),
        a.city.clone(),
        present(a.postal_code.clone()),
        a.country_code.clone(),
        present(first),
        present(last),
    )
}

pub fn check(
    src: &Order,
    back: &Order,
    target: Platform,
    form: DocumentKind,
    losses: &[dialects::Loss],
    what: &str,
) {
    // An address is lost by a loss at it or at one of its members other than its e-mail (which is the customer's).
    let lost = |prefix: &str| {
        losses
            .iter()
            .any(|l| l.pointer.contains(prefix) && !l.pointer.ends_with("/email"))
    };
    let precision_lost =
        losses.iter().any(|l| l.kind == LossKind::Precision) || !src.sub_minor_amounts.is_empty();
    assert_eq!(back.currency, src.currency, "{what}: currency");
    assert_eq!(
        back.line_items.len(),
        src.line_items.len(),
        "{what}: line count"
    );
    for (i, (a, b)) in src.line_items.iter().zip(&back.line_items).enumerate() {
        assert_eq!(a.quantity, b.quantity, "{what}: line {i} quantity");
        if a.product.sku.is_some() {
            assert_eq!(a.product.sku, b.product.sku, "{what}: line {i} sku");
        }
        if !precision_lost && !lost("tax_behavior") && !lost("tax_included") {
            let (na, nb) = (
                net_unit(a, src.tax_included),
                net_unit(b, back.tax_included),
            );
            if let (Some(na), Some(nb)) = (na, nb) {
                assert_eq!(na, nb, "{what}: line {i} net unit price");
            }
        }
    }
    // Commerce Layer computes totals itself: its create document states none.
    let carries_totals = !(target == Platform::CommerceLayer && form == DocumentKind::Request);
    if carries_totals && !precision_lost {
        assert_eq!(back.totals.total, src.totals.total, "{what}: total");
    }
    if src.customer.email.is_some() && !losses.iter().any(|l| l.pointer.ends_with("/email")) {
        assert_eq!(
            back.customer.email, src.customer.email,
            "{what}: customer email"
        );
    }
    if let Some(a) = &src.billing_address {
        if !lost("billing_address") {
            let b = back
                .billing_address
                .as_ref()
                .unwrap_or_else(|| panic!("{what}: billing address dropped without a loss"));
            assert_eq!(address_key(a), address_key(b), "{what}: billing address");
        }
    }
    if let Some(a) = src.shipping_destinations.first() {
        if !lost("shipping_address") {
            let b = back
                .shipping_destinations
                .first()
                .unwrap_or_else(|| panic!("{what}: shipping address dropped without a loss"));
            assert_eq!(address_key(a), address_key(b), "{what}: shipping address");
        }
    }
}
