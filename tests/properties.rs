//! Property tests: canonical → A → canonical is the identity for generated orders, within what A can express.
//!
//! "What A can express" is found, not assumed: an order is first taken through A once (o1); from there another trip
//! must change nothing (o1 → A → o2 with o2 == o1 on every compared field), and the fields every dialect carries
//! (currency, lines, amounts, e-mail, billing address) must already equal the generated order in o1.

use ordermux::canonical::*;
use ordermux::dialects::{self, DocumentKind};
use proptest::prelude::*;

use crate::support::*;

fn currency() -> impl Strategy<Value = Currency> {
    prop::sample::select(vec!["USD", "EUR", "JPY", "GBP", "CHF"])
        .prop_map(|c| Currency::parse(c).unwrap())
}

prop_compose! {
    fn line(currency: Currency)(sku in "[A-Z]{3}-[0-9]{2,4}", name in "[A-Za-z][A-Za-z ]{0,20}", quantity in 1u32..20, unit in 1i64..500_000) -> LineItem {
        let unit_price = Money::new(unit, currency);
        let subtotal = Money::new(unit * quantity as i64, currency);
        let zero = Money::zero(currency);
        LineItem {
            ids: PlatformIds::default(),
            kind: LineKind::Custom,
            product: ProductRef { sku: Some(sku), ..Default::default() },
            name,
            quantity,
            unit_price,
            subtotal,
            discount_total: zero,
            tax_total: zero,
            total: subtotal,
            tax_rate: None,
            fulfillment_type: None,
            quantity_shipped: 0,
            refunded_total: zero,
            destination: None,
            image_url: None,
            metadata: JsonMap::new(),
            ext: Ext::default(),
        }
    }
}

fn order() -> impl Strategy<Value = Order> {
    currency().prop_flat_map(|c| {
        (
            prop::collection::vec(line(c), 1..5),
            "[a-z]{1,10}@[a-z]{1,8}\\.(com|io|de)",
            "[A-Z][a-z]{1,10}",
            "[A-Z][a-z]{1,12}",
            "[0-9]{1,4} [A-Z][a-z]{2,10} (St|Ave|Road)",
            "[A-Z][a-z]{2,12}",
            prop::sample::select(vec!["US", "DE", "FR", "IT", "JP", "GB"]),
            0i64..5_000,
            prop::sample::select(OrderStatus::ALL.to_vec()),
            prop::sample::select(PaymentStatus::ALL.to_vec()),
            prop::sample::select(FulfillmentStatus::ALL.to_vec()),
        )
            .prop_map(
                move |(lines, email, first, last, street, city, country, shipping, s, p, f)| {
                    let mut o = Order::empty(c);
                    let subtotal: i64 = lines.iter().map(|l| l.subtotal.minor).sum();
                    o.line_items = lines;
                    o.customer.email = Some(email.clone());
                    o.customer.ids.fluentcart = Some(7);
                    o.billing_address = Some(Address {
                        first_name: Some(first),
                        last_name: Some(last),
                        line1: street,
                        city,
                        country_code: country.into(),
                        email: Some(email),
                        ..Default::default()
                    });
                    o.status = s;
                    o.payment_status = p;
                    o.fulfillment_status = f;
                    o.shipping_lines.push(ShippingLine {
                        ids: PlatformIds::default(),
                        method: Some("Standard".into()),
                        amount: Money::new(shipping, c),
                        tax: Money::zero(c),
                        destination: None,
                        ext: Ext::default(),
                    });
                    o.totals.subtotal = Money::new(subtotal, c);
                    o.totals.shipping_total = Money::new(shipping, c);
                    o.totals.total = Money::new(subtotal + shipping, c);
                    o
                },
            )
    })
}

/// The fields compared: what an order means, not how a platform spells it.
#[derive(Debug, PartialEq)]
struct Meaning {
    currency: Currency,
    lines: Vec<(Option<String>, String, u32, i64)>,
    total: i64,
    subtotal: i64,
    email: Option<String>,
    billing: Option<(String, String, String, Option<String>)>,
    statuses: (OrderStatus, PaymentStatus, FulfillmentStatus),
}

fn meaning(o: &Order) -> Meaning {
    Meaning {
        currency: o.currency,
        lines: o
            .line_items
            .iter()
            .map(|l| {
                (
                    l.product.sku.clone(),
                    l.name.clone(),
                    l.quantity,
                    l.unit_price.minor,
                )
            })
            .collect(),
        total: o.totals.total.minor,
        subtotal: o.totals.subtotal.minor,
        email: o.customer.email.clone(),
        billing: o.billing_address.as_ref().map(|a| {
            (
                a.line1.clone(),
                a.city.clone(),
                a.country_code.clone(),
                a.display_name(),
            )
        }),
        statuses: (o.status, o.payment_status, o.fulfillment_status),
    }
}

fn trip(o: &Order, dialect: Platform) -> Order {
    let doc = dialects::encode(dialect, DocumentKind::Order, o).value;
    dialects::decode_value(dialect, doc, &options())
        .unwrap_or_else(|p| panic!("{dialect}: {p}"))
        .order
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn canonical_to_dialect_to_canonical_is_identity(o in order()) {
        for dialect in Platform::ALL {
            let o1 = trip(&o, dialect);
            let o2 = trip(&o1, dialect);
            prop_assert_eq!(meaning(&o1), meaning(&o2), "{} is not a fixed point", dialect);
            let (m0, m1) = (meaning(&o), meaning(&o1));
            prop_assert_eq!(m0.currency, m1.currency);
            prop_assert_eq!(&m0.lines, &m1.lines, "{}", dialect);
            prop_assert_eq!(m0.total, m1.total, "{}", dialect);
            prop_assert_eq!(m0.subtotal, m1.subtotal, "{}", dialect);
            prop_assert_eq!(&m0.email, &m1.email, "{}", dialect);
            prop_assert_eq!(&m0.billing, &m1.billing, "{}", dialect);
        }
    }

    /// The embedded store keeps orders as canonical JSON: every order it is given comes back equal, including what
    /// a decode kept for the source platform (extensions), so a stored order renders like the one that came in.
    #[test]
    fn stored_form_round_trips(o in order()) {
        for dialect in Platform::ALL {
            let decoded = trip(&o, dialect);
            let text = serde_json::to_string(&decoded).unwrap();
            let back: Order = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(&back, &decoded, "{}", dialect);
            prop_assert_eq!(back.ext, decoded.ext.clone());
        }
    }

    #[test]
    fn decoding_arbitrary_json_never_panics(doc in arbitrary_json()) {
        for dialect in Platform::ALL {
            let _ = dialects::decode_value(dialect, doc.clone(), &options());
        }
    }
}

fn arbitrary_json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        "[a-z0-9 .-]{0,12}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        let keys = prop::sample::select(vec![
            "data",
            "order",
            "order_items",
            "products",
            "quantity",
            "unit_price",
            "currency",
            "included",
            "type",
            "id",
            "attributes",
            "billing_address",
            "status_id",
            "price_ex_tax",
            "customer_id",
            "relationships",
            "line_items",
        ]);
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map(keys, inner, 0..6).prop_map(|m| serde_json::Value::Object(
                m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
            )),
        ]
    })
}
