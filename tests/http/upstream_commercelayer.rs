//! Upstream commercelayer backend: adapter tests against the fake, the multi-step create failing at each step,
//! fault injection through `UpstreamShop`, and every caller dialect through the gateway.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use ordermux::backends::adapters::{AdapterContext, CommerceLayerAdapter, Journal, Stamp};
use ordermux::backends::transport::UpstreamError;
use ordermux::backends::upstream::{SweepReport, UpstreamShop, UpstreamShopError};
use ordermux::canonical::lifecycle::{self, Transition};
use ordermux::canonical::{
    Currency, FulfillmentStatus, Money, Order, OrderFilter, OrderQuery, OrderStatus, PaymentStatus,
    Platform, PlatformExt, ProblemKind, Range, SortKey, StatusTriple,
};
use ordermux::config::{Backend, Credential, Credentials};
use ordermux::dialects::commercelayer as wire;
use ordermux::dialects::DecodeOptions;
use ordermux::store::Store;

use super::harness::{journal_for, scratch_store, usd_context};
use crate::fakes::commercelayer::CommerceLayerFake;
use crate::fakes::{Fake, Fault};

const CLIENT_ID: &str = "cl-integration-id";
const CLIENT_SECRET: &str = "cl-integration-secret";

async fn fake() -> Fake<CommerceLayerFake> {
    Fake::start(CommerceLayerFake::new(CLIENT_ID, CLIENT_SECRET)).await
}

fn backend(base_url: &str) -> Backend {
    let mut b = Backend::upstream("up", Platform::CommerceLayer, base_url);
    b.credentials = Credentials {
        client_id: Some(Credential::new(CLIENT_ID)),
        client_secret: Some(Credential::new(CLIENT_SECRET)),
        ..Default::default()
    };
    b.markets = BTreeMap::from([
        ("USD".to_owned(), "mkt_usd".to_owned()),
        ("EUR".to_owned(), "mkt_eur".to_owned()),
    ]);
    b.timeout = Duration::from_millis(1_500);
    b.total_timeout = Duration::from_millis(4_000);
    b.connect_timeout = Duration::from_millis(500);
    b.breaker_failures = 100;
    // These tests retry at once after a step broke off, to check how the create resumes: the fake acts on a
    // request only while it is answered, so nothing can land late (`settle` has its own test).
    b.settle = Duration::ZERO;
    b
}

fn ctx_with(backend: Backend) -> AdapterContext {
    usd_context(backend)
}

fn adapter(f: &Fake<CommerceLayerFake>) -> CommerceLayerAdapter {
    CommerceLayerAdapter::new(ctx_with(backend(&f.base_url()))).expect("adapter builds")
}

async fn store(name: &str) -> Store {
    scratch_store(name).await
}

async fn journal(store: &Store, stamp: &Stamp) -> Journal {
    journal_for(store, stamp).await
}

fn address(first: &str, line1: &str) -> serde_json::Value {
    json!({"first_name": first, "last_name": "Lovelace", "line_1": line1, "city": "Austin", "zip_code": "78701",
           "state_code": "TX", "country_code": "US", "phone": "+1 512 555 0100"})
}

/// A resolved order as the shop hands it to an adapter: a catalog line and a custom line, both addresses.
fn order(email: &str, status: OrderStatus) -> Order {
    let doc = json!({
        "data": {"type": "orders",
            "attributes": {"customer_email": email, "language_code": "en", "metadata": {"channel": "test"}},
            "relationships": {
                "market": {"data": {"type": "markets", "id": "m"}},
                "line_items": {"data": [{"type": "line_items", "id": "l1"}, {"type": "line_items", "id": "l2"}]},
                "billing_address": {"data": {"type": "addresses", "id": "a1"}},
                "shipping_address": {"data": {"type": "addresses", "id": "a2"}}}},
        "included": [
            {"type": "markets", "id": "m", "attributes": {"currency_code": "USD"}},
            {"type": "line_items", "id": "l1", "attributes": {"sku_code": "TSHIRT-BLK-M", "quantity": 2, "name": "T-shirt, black, M", "unit_amount_cents": 2500}},
            {"type": "line_items", "id": "l2", "attributes": {"name": "Gift wrap", "quantity": 1, "unit_amount_cents": 350}},
            {"type": "addresses", "id": "a1", "attributes": address("Ada", "12 Baker St")},
            {"type": "addresses", "id": "a2", "attributes": address("Ada", "221B Baker St")}
        ]
    });
    let mut o =
        wire::decode_create_request(doc, &DecodeOptions::default()).expect("fixture decodes");
    o.strip_platform_ext(Platform::CommerceLayer);
    // Ids of the request document are not upstream ids.
    for l in &mut o.line_items {
        l.ids = Default::default();
    }
    for a in o
        .billing_address
        .iter_mut()
        .chain(o.shipping_destinations.iter_mut())
    {
        a.ids = Default::default();
    }
    o.status = status;
    o.recompute_totals();
    o
}

fn query(page: u32, per_page: u32) -> OrderQuery {
    OrderQuery {
        filter: OrderFilter::default(),
        sort: SortKey::Id,
        descending: false,
        page,
        per_page,
    }
}

fn upstream_id(o: &Order) -> String {
    o.ids
        .platform
        .commercelayer
        .clone()
        .expect("Commerce Layer id")
}

async fn create(a: &CommerceLayerAdapter, s: &Store, o: &Order) -> (Order, Stamp) {
    let stamp = Stamp::fresh();
    let j = journal(s, &stamp).await;
    (a.create(o, &stamp, &j).await.expect("create"), stamp)
}

/// A create that must fail: its error and its stamp.
async fn failed_create(a: &CommerceLayerAdapter, s: &Store, o: &Order) -> (UpstreamError, Stamp) {
    let stamp = Stamp::fresh();
    let j = journal(s, &stamp).await;
    let err = a.create(o, &stamp, &j).await.expect_err("refused");
    (err, stamp)
}

fn triple(o: OrderStatus, p: PaymentStatus, f: FulfillmentStatus) -> StatusTriple {
    StatusTriple {
        order: o,
        payment: p,
        fulfillment: f,
    }
}

/// Applies `t` as `UpstreamShop` does: the canonical lifecycle first, then the adapter.
async fn step(
    a: &CommerceLayerAdapter,
    before: &Order,
    t: Transition,
) -> Result<Order, UpstreamError> {
    let mut after = before.clone();
    lifecycle::apply(&mut after, &t, chrono::Utc::now()).expect("lifecycle allows it");
    a.transition(before, &t, &after).await
}

// ---------------------------------------------------------------------------------------------------------------
// Adapter against the fake

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_own_reference_and_origin_live_in_metadata_and_read_back() {
    let f = fake().await;
    let a = adapter(&f);
    let s = store("cl-own-ref").await;
    let mut o = order("ref@example.com", OrderStatus::Pending);
    o.external_ref.reference = Some("AMZ-7".into());
    o.external_ref.origin = Some("M-MIG".into());
    let (created, stamp) = create(&a, &s, &o).await;
    let up = f
        .with(|p| p.order(&upstream_id(&created)))
        .expect("order upstream");
    // The order itself carries ordermux's stamp and marker; its own values ride in metadata.
    assert_eq!(up.reference.as_deref(), Some(stamp.key()));
    assert_eq!(up.metadata["ordermux_reference"], "AMZ-7");
    assert_eq!(up.metadata["ordermux_reference_origin"], "M-MIG");
    assert_eq!(created.external_ref.reference.as_deref(), Some("AMZ-7"));
    assert_eq!(created.external_ref.origin.as_deref(), Some("M-MIG"));
    assert!(!created.metadata.contains_key("ordermux_reference"));
    assert!(a.find_by_stamp(&stamp).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_s_own_reference_lives_in_metadata_and_reads_back() {
    let f = fake().await;
    let a = adapter(&f);
    let s = store("cl-address-ref").await;
    let mut o = order("ref@example.com", OrderStatus::Pending);
    let billing = o.billing_address.as_mut().expect("fixture has one");
    let mut attrs = serde_json::Map::new();
    attrs.insert("reference".into(), json!("CRM-7"));
    attrs.insert("reference_origin".into(), json!("crm"));
    let mut extra = serde_json::Map::new();
    extra.insert("attributes".into(), serde_json::Value::Object(attrs));
    billing.ext.set(
        Platform::CommerceLayer,
        PlatformExt {
            extra,
            echoes: Vec::new(),
        },
    );
    let (created, stamp) = create(&a, &s, &o).await;
    let up = f
        .with(|p| p.order(&upstream_id(&created)))
        .expect("order upstream");
    let billing_id = up.billing_address.clone().expect("linked");
    let shipping_id = up.shipping_address.clone().expect("linked");
    let (billing_up, shipping_up) = f.with(|p| {
        (
            p.addresses[&billing_id].clone(),
            p.addresses[&shipping_id].clone(),
        )
    });
    // Upstream, each address carries the create's stamp and its role; the billing address's own values ride in
    // its metadata.
    assert_eq!(
        billing_up["reference"],
        format!("{}:billing_address", stamp.key())
    );
    assert_eq!(
        shipping_up["reference"],
        format!("{}:shipping_address", stamp.key())
    );
    assert_eq!(billing_up["metadata"]["ordermux_reference"], "CRM-7");
    assert_eq!(billing_up["metadata"]["ordermux_reference_origin"], "crm");
    assert!(!shipping_up.contains_key("metadata"));
    // Read back, the caller sees its own values and none of ordermux's.
    for read in [created, a.get(&up.id).await.expect("reads")] {
        let attrs_of = |addr: &ordermux::canonical::Address| {
            addr.ext
                .get(Platform::CommerceLayer)
                .and_then(|e| e.extra.get("attributes").cloned())
                .unwrap_or_default()
        };
        let billing = attrs_of(read.billing_address.as_ref().expect("billing"));
        assert_eq!(billing["reference"], "CRM-7");
        assert_eq!(billing["reference_origin"], "crm");
        assert!(billing.get("metadata").is_none(), "{billing}");
        let shipping = attrs_of(&read.shipping_destinations[0]);
        assert!(shipping.get("reference").is_none(), "{shipping}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_builds_the_order_step_by_step_and_finds_it_by_stamp() {
    let f = fake().await;
    let a = adapter(&f);
    let s = store("cl-create").await;
    let (created, stamp) = create(&a, &s, &order("ada@example.com", OrderStatus::Placed)).await;
    let id = upstream_id(&created);
    assert_eq!(created.status, OrderStatus::Placed);
    assert_eq!(created.customer.email.as_deref(), Some("ada@example.com"));
    assert_eq!(created.line_items.len(), 2);
    assert!(created
        .line_items
        .iter()
        .all(|l| l.ids.commercelayer.is_some()));
    assert_eq!(created.totals.total.minor, 2 * 2500 + 350);
    assert_eq!(
        created.billing_address.as_ref().map(|b| b.line1.as_str()),
        Some("12 Baker St")
    );
    assert_eq!(created.shipping_destinations[0].line1, "221B Baker St");

    let up = f.with(|p| p.order(&id)).expect("order upstream");
    assert_eq!(up.reference.as_deref(), Some(stamp.key()));
    assert_eq!(up.reference_origin.as_deref(), Some("ordermux"));
    assert_eq!(up.status, "placed");
    assert_eq!(up.market_id, "mkt_usd");
    assert_eq!(up.metadata, json!({"channel": "test"}));
    let lines = f.with(|p| p.lines_of(&id));
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0].sku_code.as_deref(), Some("TSHIRT-BLK-M"));
    assert_eq!(lines[1].sku_code, None);
    assert_eq!(lines[1].unit_amount_cents, 350);
    // The flow: order, two line items, two addresses, their relationships, the shipment's shipping method, the
    // payment method and a wire transfer as its source (the first method ordermux can pay with), _place, the
    // completion mark.
    assert_eq!(f.count("POST", "/api/orders"), 1);
    assert_eq!(f.count("POST", "/api/line_items"), 2);
    assert_eq!(f.count("POST", "/api/addresses"), 2);
    assert_eq!(f.count("PATCH", "/api/shipments/"), 1);
    assert_eq!(f.count("POST", "/api/wire_transfers"), 1);
    assert_eq!(f.count("PATCH", "/api/orders/"), 4);
    assert_eq!(up.payment_method.as_deref(), Some("pm_wire"));
    assert_eq!(
        up.payment_source.as_ref().map(|(ty, _)| ty.as_str()),
        Some("wire_transfers")
    );
    let methods: Vec<Option<String>> = f.with(|p| {
        p.shipments
            .values()
            .filter(|sh| sh.order_id == id)
            .map(|sh| sh.shipping_method.clone())
            .collect()
    });
    assert_eq!(methods, [Some("sm_std".to_owned())]);

    let found = a
        .find_by_stamp(&stamp)
        .await
        .unwrap()
        .expect("found by stamp");
    assert_eq!(upstream_id(&found), id);
    assert!(a.find_by_stamp(&Stamp::fresh()).await.unwrap().is_none());
    let got = a.get(&id).await.unwrap();
    assert_eq!(got.line_items.len(), 2);
    assert_eq!(got.status, OrderStatus::Placed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn placing_selects_shipping_and_payment_methods_or_says_what_is_missing() {
    let f = fake().await;
    f.with(|p| p.shipping_methods.insert("sm_exp".into(), "Express".into()));
    let s = store("cl-checkout").await;
    let a = adapter(&f);
    let shipment_of = |f: &Fake<CommerceLayerFake>, id: &str| {
        f.with(|p| {
            p.shipments
                .values()
                .find(|sh| sh.order_id == id)
                .and_then(|sh| sh.shipping_method.clone())
        })
    };

    // Two methods offered and the order names neither: refused with what to configure, and no draft is left.
    let before = f.with(|p| p.order_count());
    let (err, _) = failed_create(&a, &s, &order("ada@example.com", OrderStatus::Placed)).await;
    let UpstreamError::Unsupported(p) = &err else {
        panic!("{err:?}")
    };
    assert!(
        p.reason.contains("Express") && p.reason.contains("shipping_method"),
        "{}",
        p.reason
    );
    assert_eq!(f.with(|p| p.order_count()), before, "the draft is deleted");

    // The order's own (free) shipping line names one: that one.
    let mut named = order("bob@example.com", OrderStatus::Placed);
    named
        .shipping_lines
        .push(ordermux::canonical::ShippingLine {
            ids: Default::default(),
            method: Some("express".into()),
            amount: Money::zero(named.currency),
            tax: Money::zero(named.currency),
            destination: Some(0),
            ext: Default::default(),
        });
    let (o, _) = create(&a, &s, &named).await;
    assert_eq!(shipment_of(&f, &upstream_id(&o)).as_deref(), Some("sm_exp"));

    // Configured choices: the shipping method when the order names none, and an external payment as source.
    let mut b = backend(&f.base_url());
    b.checkout.shipping_method = Some("sm_std".into());
    b.checkout.payment_method = Some("pm_external".into());
    let configured = CommerceLayerAdapter::new(ctx_with(b)).unwrap();
    let (o, _) = create(
        &configured,
        &s,
        &order("cy@example.com", OrderStatus::Placed),
    )
    .await;
    let id = upstream_id(&o);
    assert_eq!(shipment_of(&f, &id).as_deref(), Some("sm_std"));
    let up = f.with(|p| p.order(&id)).unwrap();
    assert_eq!(up.status, "placed");
    assert_eq!(up.payment_method.as_deref(), Some("pm_external"));
    assert_eq!(
        up.payment_source.map(|(ty, _)| ty).as_deref(),
        Some("external_payments")
    );

    // A card method needs the customer: refused, not placed.
    let mut b = backend(&f.base_url());
    b.checkout.shipping_method = Some("sm_std".into());
    b.checkout.payment_method = Some("pm_stripe".into());
    let card = CommerceLayerAdapter::new(ctx_with(b)).unwrap();
    let (err, stamp) =
        failed_create(&card, &s, &order("di@example.com", OrderStatus::Placed)).await;
    assert!(
        matches!(&err, UpstreamError::Unsupported(p) if p.reason.contains("stripe_payments")),
        "{err:?}"
    );
    assert!(f.with(|p| p.with_reference(stamp.key())).is_empty());

    // A free order needs no payment: placed without a payment method, `free`.
    let mut free = order("ed@example.com", OrderStatus::Placed);
    free.line_items.retain(|l| l.product.sku.is_none());
    free.line_items[0].unit_price = Money::zero(free.currency);
    free.recompute_totals();
    assert_eq!(free.totals.total.minor, 0);
    let (o, _) = create(&card, &s, &free).await;
    let up = f.with(|p| p.order(&upstream_id(&o))).unwrap();
    assert_eq!(
        (up.status.as_str(), up.payment_status.as_str()),
        ("placed", "free")
    );
    assert_eq!(up.payment_method, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_reproduces_approved_paid_and_draft_states() {
    let f = fake().await;
    let a = adapter(&f);
    let s = store("cl-states").await;
    let mut paid = order("paid@example.com", OrderStatus::Processing);
    paid.payment_status = PaymentStatus::Paid;
    let (created, _) = create(&a, &s, &paid).await;
    assert_eq!(
        created.status_triple(),
        triple(
            OrderStatus::Processing,
            PaymentStatus::Paid,
            FulfillmentStatus::Unfulfilled
        )
    );
    let up = f.with(|p| p.order(&upstream_id(&created))).unwrap();
    assert_eq!(
        (up.status.as_str(), up.payment_status.as_str()),
        ("approved", "paid")
    );

    let (draft, _) = create(&a, &s, &order("draft@example.com", OrderStatus::Draft)).await;
    // With line items and an email, Commerce Layer keeps a draft as pending by itself.
    assert_eq!(draft.status, OrderStatus::Pending);
    assert_eq!(
        f.with(|p| p.order(&upstream_id(&draft))).unwrap().status,
        "pending"
    );

    // A state the triggers cannot reach, or a currency without a market: refused before anything is sent.
    let before = f.seen().len();
    let mut odd = order("odd@example.com", OrderStatus::Placed);
    odd.fulfillment_status = FulfillmentStatus::Fulfilled;
    let (err, _) = failed_create(&a, &s, &odd).await;
    assert!(matches!(err, UpstreamError::Unsupported(_)), "{err:?}");
    let mut yen = order("yen@example.com", OrderStatus::Draft);
    yen.currency = Currency::parse("JPY").unwrap();
    let (err, _) = failed_create(&a, &s, &yen).await;
    assert!(
        matches!(&err, UpstreamError::Unsupported(p) if p.reason.contains("JPY")),
        "{err:?}"
    );
    assert_eq!(f.seen().len(), before, "nothing sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_pages_sorts_and_filters() {
    let f = fake().await;
    let a = adapter(&f);
    let s = store("cl-list").await;
    let mut ids = Vec::new();
    for email in ["a@example.com", "b@example.com", "a@example.com"] {
        ids.push(upstream_id(
            &create(&a, &s, &order(email, OrderStatus::Draft)).await.0,
        ));
    }
    let (placed, _) = create(&a, &s, &order("c@example.com", OrderStatus::Placed)).await;
    ids.push(upstream_id(&placed));

    let page1 = a.list(&query(1, 3)).await.unwrap();
    assert_eq!(page1.total, 4);
    assert_eq!(
        page1.items.iter().map(upstream_id).collect::<Vec<_>>(),
        ids[..3]
    );
    let page2 = a.list(&query(2, 3)).await.unwrap();
    assert_eq!(
        page2.items.iter().map(upstream_id).collect::<Vec<_>>(),
        ids[3..]
    );
    let mut newest = query(1, 1);
    newest.descending = true;
    assert_eq!(
        upstream_id(&a.list(&newest).await.unwrap().items[0]),
        ids[3]
    );

    // Pages larger than Commerce Layer's 25 are assembled from upstream pages.
    let big = a.list(&query(1, 60)).await.unwrap();
    assert_eq!((big.items.len(), big.total), (4, 4));
    assert!(f
        .seen()
        .iter()
        .all(|r| !r.path.contains("page%5Bsize%5D=60")));

    let mut by_email = query(1, 10);
    by_email.filter.email = Some("a@example.com".into());
    assert_eq!(a.list(&by_email).await.unwrap().total, 2);

    let mut by_status = query(1, 10);
    let drafts: Vec<StatusTriple> = [OrderStatus::Draft, OrderStatus::Pending]
        .iter()
        .flat_map(|o| {
            PaymentStatus::ALL.iter().flat_map(move |p| {
                FulfillmentStatus::ALL
                    .iter()
                    .map(move |fu| triple(*o, *p, *fu))
            })
        })
        .collect();
    by_status.filter.statuses = Some(drafts);
    let found = a.list(&by_status).await.unwrap();
    assert_eq!(found.total, 3);
    assert!(found.items.iter().all(|o| o.status == OrderStatus::Pending));

    let mut by_total = query(1, 10);
    by_total.filter.total = Range {
        min: Some(5_000),
        max: Some(5_350),
    };
    assert_eq!(a.list(&by_total).await.unwrap().total, 4);
    by_total.filter.total.max = Some(100);
    assert_eq!(a.list(&by_total).await.unwrap().total, 0);

    let mut search = query(1, 10);
    search.filter.search = Some("b@exa".into());
    assert_eq!(a.list(&search).await.unwrap().total, 1);

    // No parameter for integer id ranges, nor for a mixed status set: refused, never ignored.
    let mut ranged = query(1, 10);
    ranged.filter.id_range = Some((
        Platform::CommerceLayer,
        Range {
            min: Some(1),
            max: None,
        },
    ));
    let err = a.list(&ranged).await.unwrap_err();
    assert!(
        matches!(&err, UpstreamError::Unsupported(p) if p.kind == ProblemKind::InvalidParameter)
    );
    let mut mixed = query(1, 10);
    mixed.filter.statuses = Some(vec![
        triple(
            OrderStatus::Draft,
            PaymentStatus::Unpaid,
            FulfillmentStatus::Unfulfilled,
        ),
        triple(
            OrderStatus::Placed,
            PaymentStatus::Paid,
            FulfillmentStatus::Unfulfilled,
        ),
    ]);
    assert!(matches!(
        a.list(&mixed).await,
        Err(UpstreamError::Unsupported(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_changes_lines_attributes_and_addresses() {
    let f = fake().await;
    let a = adapter(&f);
    let s = store("cl-update").await;
    let (before, _) = create(&a, &s, &order("ada@example.com", OrderStatus::Draft)).await;
    let id = upstream_id(&before);
    let mut after = before.clone();
    after.line_items[0].quantity = 5;
    let mut mug = after.line_items[1].clone();
    after.line_items.remove(1);
    mug.ids = Default::default();
    mug.kind = ordermux::canonical::LineKind::Catalog;
    mug.product.sku = Some("MUG-WHT".into());
    mug.name = "Mug, white".into();
    mug.unit_price = Money::new(1250, before.currency);
    after.line_items.push(mug);
    after.customer.email = Some("ada@lovelace.example".into());
    if let Some(b) = after.billing_address.as_mut() {
        b.line1 = "1 New Road".into();
    }
    after.recompute_totals();
    let updated = a.update(&before, &after).await.expect("update");
    assert_eq!(updated.line_items.len(), 2);
    assert_eq!(updated.line_items[0].quantity, 5);
    assert_eq!(
        updated.line_items[1].product.sku.as_deref(),
        Some("MUG-WHT")
    );
    assert_eq!(
        updated.customer.email.as_deref(),
        Some("ada@lovelace.example")
    );
    assert_eq!(updated.totals.total.minor, 5 * 2500 + 1250);
    let up = f.with(|p| p.order(&id)).unwrap();
    assert_eq!(up.customer_email.as_deref(), Some("ada@lovelace.example"));
    let billing = up.billing_address.clone().unwrap();
    assert_eq!(
        f.with(|p| p.addresses[&billing]["line_1"].clone()),
        json!("1 New Road")
    );
    assert_eq!(f.with(|p| p.lines_of(&id)).len(), 2);

    // Notes have no Commerce Layer field: refused before anything is sent.
    let mut noted = updated.clone();
    noted.customer_note = Some("leave at the door".into());
    assert!(matches!(
        a.update(&updated, &noted).await,
        Err(UpstreamError::Unsupported(_))
    ));

    // Commerce Layer refuses line item edits on a placed order.
    let placed = step(&a, &updated, Transition::Place).await.expect("placed");
    let mut more = placed.clone();
    more.line_items[0].quantity = 9;
    let err = a.update(&placed, &more).await.unwrap_err();
    assert!(
        matches!(err, UpstreamError::Rejected { status, .. } if status.as_u16() == 422),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_refund_whose_reply_is_lost_is_read_back_never_sent_twice() {
    let f = fake().await;
    let a = adapter(&f);
    let s = store("cl-partial-refund-lost").await;
    let (o, _) = create(&a, &s, &order("ada@example.com", OrderStatus::Placed)).await;
    let o = step(&a, &o, Transition::MarkPaid { method: None })
        .await
        .unwrap();
    let id = upstream_id(&o);
    let total = o.totals.total.minor;
    let refund = Transition::Refund {
        amount: Some(Money::new(300, o.currency)),
    };
    let balance = |f: &Fake<CommerceLayerFake>| {
        f.with(|p| {
            p.captures
                .values()
                .find(|c| c.order_id == id)
                .map(|c| c.refund_balance_cents)
        })
    };
    // The refund happens, the reply is lost: the capture read back shows it, so it counts as done.
    f.fail(Some("PATCH"), Some("/api/captures/"), Fault::ResetAfter, 1);
    let o = step(&a, &o, refund.clone())
        .await
        .expect("settled by reading back");
    assert_eq!(o.totals.refunded_total.unwrap().minor, 300);
    assert_eq!(balance(&f), Some(total - 300));
    assert_eq!(f.count("PATCH", "/api/captures/"), 1);

    // The refund never arrives: the capture read back is unchanged, the caller learns it failed, and its retry
    // refunds once.
    f.fail(Some("PATCH"), Some("/api/captures/"), Fault::ResetBefore, 1);
    assert!(step(&a, &o, refund.clone()).await.is_err());
    assert_eq!(balance(&f), Some(total - 300));
    let o = step(&a, &o, refund).await.expect("the retry");
    assert_eq!(o.totals.refunded_total.unwrap().minor, 600);
    assert_eq!(balance(&f), Some(total - 600));
    assert_eq!(o.payment_status, PaymentStatus::PartiallyRefunded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transitions_use_the_order_triggers() {
    let f = fake().await;
    let a = adapter(&f);
    let s = store("cl-transitions").await;
    let (o, _) = create(&a, &s, &order("ada@example.com", OrderStatus::Placed)).await;
    let id = upstream_id(&o);
    let state = |f: &Fake<CommerceLayerFake>| {
        f.with(|p| {
            let o = p.order(&id).unwrap();
            (o.status, o.payment_status, o.fulfillment_status)
        })
    };
    let o = step(&a, &o, Transition::Authorize).await.unwrap();
    assert_eq!(state(&f).1, "authorized");
    let o = step(&a, &o, Transition::Approve).await.unwrap();
    assert_eq!(state(&f).0, "approved");
    let o = step(&a, &o, Transition::Capture).await.unwrap();
    assert_eq!(o.payment_status, PaymentStatus::Paid);
    let o = step(&a, &o, Transition::Fulfill).await.unwrap();
    assert_eq!(o.status, OrderStatus::Completed);
    assert_eq!(state(&f).2, "fulfilled");
    // A part comes from the capture (`_refund_amount_cents`); the rest with the order's `_refund`.
    let total = o.totals.total.minor;
    let refund = |minor: i64| Transition::Refund {
        amount: Some(Money::new(minor, o.currency)),
    };
    let o = step(&a, &o, refund(100)).await.unwrap();
    assert_eq!(o.payment_status, PaymentStatus::PartiallyRefunded);
    assert_eq!(o.totals.refunded_total.unwrap().minor, 100);
    assert_eq!(o.totals.paid_total.unwrap().minor, total);
    assert_eq!(state(&f).1, "partially_refunded");
    let balance = |f: &Fake<CommerceLayerFake>| {
        f.with(|p| {
            let c: Vec<_> = p.captures.values().filter(|c| c.order_id == id).collect();
            assert_eq!(c.len(), 1, "one capture");
            c[0].refund_balance_cents
        })
    };
    assert_eq!(balance(&f), total - 100);
    let o = step(&a, &o, refund(250)).await.unwrap();
    assert_eq!(o.totals.refunded_total.unwrap().minor, 350);
    // More than is left: the lifecycle refuses before anything is sent.
    let mut after = o.clone();
    assert!(lifecycle::apply(&mut after, &refund(total), chrono::Utc::now()).is_err());
    let o = step(&a, &o, Transition::Refund { amount: None })
        .await
        .unwrap();
    assert_eq!(o.payment_status, PaymentStatus::Refunded);
    assert_eq!(state(&f).1, "refunded");
    assert_eq!(balance(&f), 0);

    // Mark as paid: authorize and capture; cancel voids nothing once paid; a direct set goes by triggers.
    let (o2, _) = create(&a, &s, &order("bob@example.com", OrderStatus::Placed)).await;
    let o2 = step(&a, &o2, Transition::MarkPaid { method: None })
        .await
        .unwrap();
    assert_eq!(o2.payment_status, PaymentStatus::Paid);
    let set = Transition::Set(triple(
        OrderStatus::Processing,
        PaymentStatus::Paid,
        FulfillmentStatus::Unfulfilled,
    ));
    let o2 = step(&a, &o2, set).await.unwrap();
    assert_eq!(o2.status, OrderStatus::Processing);
    let back = Transition::Set(triple(
        OrderStatus::Placed,
        PaymentStatus::Unpaid,
        FulfillmentStatus::Unfulfilled,
    ));
    assert!(matches!(
        step(&a, &o2, back).await,
        Err(UpstreamError::Unsupported(_))
    ));

    let (o3, _) = create(&a, &s, &order("cat@example.com", OrderStatus::Placed)).await;
    let o3 = step(&a, &o3, Transition::Authorize).await.unwrap();
    let o3 = step(&a, &o3, Transition::Cancel).await.unwrap();
    assert_eq!(
        (o3.status, o3.payment_status),
        (OrderStatus::Cancelled, PaymentStatus::Voided)
    );

    // Delete: drafts only.
    let (d, _) = create(&a, &s, &order("del@example.com", OrderStatus::Draft)).await;
    a.delete(&upstream_id(&d)).await.expect("draft deleted");
    assert!(f.with(|p| p.order(&upstream_id(&d))).is_none());
    let err = a.delete(&upstream_id(&o3)).await.unwrap_err();
    assert!(matches!(err, UpstreamError::Rejected { status, .. } if status.as_u16() == 422));
    let err = a.get("nope").await.unwrap_err();
    assert!(matches!(err, UpstreamError::Rejected { status, .. } if status.as_u16() == 404));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_cached_renewed_on_401_and_before_expiry() {
    let f = fake().await;
    let a = adapter(&f);
    let s = store("cl-tokens").await;
    let (o, _) = create(&a, &s, &order("ada@example.com", OrderStatus::Draft)).await;
    let id = upstream_id(&o);
    a.get(&id).await.unwrap();
    assert_eq!(
        f.with(|p| p.token_requests()),
        1,
        "one token for every call"
    );
    // Every token revoked: the next call is refused once, a new token is fetched, and the call succeeds.
    f.with(|p| p.expire_tokens());
    a.get(&id).await.expect("retried with a new token");
    assert_eq!(f.with(|p| p.token_requests()), 2);
    assert_eq!(f.seen().iter().filter(|r| r.status == 401).count(), 1);

    // Short-lived tokens are renewed before they expire: no call is refused.
    let short = Fake::start(
        CommerceLayerFake::new(CLIENT_ID, CLIENT_SECRET).with_token_ttl(Duration::from_secs(2)),
    )
    .await;
    let b = adapter(&short);
    let (o, _) = create(&b, &s, &order("ada@example.com", OrderStatus::Draft)).await;
    // A 2 s token is renewed once a tenth of its life (0.2 s) is left: by 1.85 s the adapter must not use it.
    tokio::time::sleep(Duration::from_millis(1_850)).await;
    b.get(&upstream_id(&o)).await.expect("fresh token");
    assert_eq!(short.with(|p| p.token_requests()), 2);
    assert!(short.seen().iter().all(|r| r.status != 401));

    // Wrong credentials: the token request is refused, the gateway's own credentials are at fault.
    let mut wrong = backend(&f.base_url());
    wrong.credentials.client_secret = Some(Credential::new("not-it"));
    let c = CommerceLayerAdapter::new(ctx_with(wrong)).unwrap();
    let err = c.get(&id).await.unwrap_err();
    assert!(matches!(err, UpstreamError::Rejected { status, .. } if status.as_u16() == 401));
    assert_eq!(err.into_problem("up").kind, ProblemKind::BadGateway);
}

// ---------------------------------------------------------------------------------------------------------------
// The create flow failing at each step, through `UpstreamShop`

fn shop_backend(base_url: &str, timeout_ms: u64) -> Backend {
    let mut b = backend(base_url);
    b.timeout = Duration::from_millis(timeout_ms);
    b
}

async fn shop(base_url: &str, name: &str, timeout_ms: u64) -> Arc<UpstreamShop> {
    UpstreamShop::new(
        ctx_with(shop_backend(base_url, timeout_ms)),
        store(name).await,
    )
    .expect("shop builds")
}

fn stamp_of(key: &str) -> String {
    Stamp::for_key("client", key).key().to_owned()
}

/// Exactly one order upstream carries the key's stamp, and it is complete: marked done, both lines once, both
/// addresses, placed.
fn assert_one_complete(f: &Fake<CommerceLayerFake>, key: &str) {
    let found = f.with(|p| p.with_reference(&stamp_of(key)));
    assert_eq!(found.len(), 1, "exactly one order for {key}");
    let o = &found[0];
    assert_eq!(o.reference_origin.as_deref(), Some("ordermux"), "{key}");
    assert_eq!(o.status, "placed", "{key}");
    assert!(
        o.billing_address.is_some() && o.shipping_address.is_some(),
        "{key}"
    );
    let lines = f.with(|p| p.lines_of(&o.id));
    let skus: Vec<Option<String>> = lines.iter().map(|l| l.sku_code.clone()).collect();
    assert_eq!(
        skus,
        vec![Some("TSHIRT-BLK-M".to_owned()), None],
        "{key}: no duplicate lines"
    );
    let sources = f.with(|p| {
        p.payment_sources
            .values()
            .filter(|(_, order)| *order == o.id)
            .count()
    });
    assert_eq!(sources, 1, "{key}: one payment source");
}

/// Queues `fault` for the `(skip + 1)`-th request matching `method` and `path`: the first `skip` pass untouched.
fn fail_nth(f: &Fake<CommerceLayerFake>, method: &str, path: &str, skip: u32, fault: Fault) {
    if skip > 0 {
        f.fail(Some(method), Some(path), Fault::Delay(Duration::ZERO), skip);
    }
    f.fail(Some(method), Some(path), fault, 1);
}

/// The steps after the order exists: the second line item, the first address, the shipment's shipping method,
/// the payment method (the relationships PATCH before it passes), the wire transfer, and the `_place` PATCH.
const STEPS: &[(&str, &str, &str, u32)] = &[
    ("line", "POST", "/api/line_items", 1),
    ("address", "POST", "/api/addresses", 0),
    ("shipping-method", "PATCH", "/api/shipments/", 0),
    ("payment-method", "PATCH", "/api/orders/", 1),
    ("payment-source", "POST", "/api/wire_transfers", 0),
    ("place", "PATCH", "/api/orders/", 2),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_lost_or_failed_resumes_on_retry_into_one_complete_order() {
    let f = fake().await;
    let shop = shop(&f.base_url(), "cl-steps-resume", 1_500).await;
    let o = order("ada@example.com", OrderStatus::Placed);
    for (name, method, path, skip) in STEPS {
        for (fault_name, fault) in [("5xx", Fault::Status(503)), ("reset", Fault::ResetAfter)] {
            let key = format!("step-{name}-{fault_name}");
            fail_nth(&f, method, path, *skip, fault);
            let first = shop
                .create("client", o.clone(), Some(key.as_str().into()))
                .await;
            assert!(first.is_err(), "{key}: the failed step fails the create");
            // The half-built draft is not taken for the created order.
            let found = f.with(|p| p.with_reference(&stamp_of(&key)));
            assert_eq!(found.len(), 1, "{key}");
            assert_eq!(
                found[0].reference_origin.as_deref(),
                Some("ordermux:incomplete")
            );
            let done = shop
                .create("client", o.clone(), Some(key.as_str().into()))
                .await
                .unwrap_or_else(|e| panic!("{key}: retry resumes: {e}"));
            assert_eq!(done.status, OrderStatus::Placed, "{key}");
            assert_eq!(done.line_items.len(), 2, "{key}");
            assert_one_complete(&f, &key);
            // A third call with the key answers the same order and sends nothing new.
            let again = shop
                .create("client", o.clone(), Some(key.as_str().into()))
                .await
                .unwrap();
            assert_eq!(again.ids.gateway, done.ids.gateway, "{key}");
        }
    }
    assert_eq!(f.with(|p| p.order_count()), STEPS.len() * 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_step_deletes_the_draft() {
    let f = fake().await;
    let shop = shop(&f.base_url(), "cl-steps-refused", 1_500).await;
    let o = order("ada@example.com", OrderStatus::Placed);
    for (name, method, path, skip) in STEPS {
        let key = format!("refused-{name}");
        fail_nth(&f, method, path, *skip, Fault::Status(422));
        let err = shop
            .create("client", o.clone(), Some(key.as_str().into()))
            .await
            .expect_err("refused");
        assert_eq!(
            err.into_problem("order").kind,
            ProblemKind::InvalidField,
            "{key}"
        );
        assert!(
            f.with(|p| p.with_reference(&stamp_of(&key))).is_empty(),
            "{key}: no phantom draft"
        );
        assert_eq!(f.with(|p| p.order_count()), 0, "{key}");
    }
    // The platform's own refusal (an unknown SKU) cleans up the same way.
    let mut unknown = o.clone();
    unknown.line_items[0].product.sku = Some("NO-SUCH-SKU".into());
    let err = shop
        .create("client", unknown, Some("refused-sku".into()))
        .await
        .unwrap_err();
    assert_eq!(err.into_problem("order").kind, ProblemKind::InvalidField);
    assert_eq!(f.with(|p| p.order_count()), 0);
    assert!(f.count("DELETE", "/api/orders/") >= 4);
    assert_eq!(
        f.with(|p| p.addresses.len()),
        0,
        "the drafts' addresses are deleted with them"
    );
    // A later attempt with a refused key starts over and succeeds.
    shop.create("client", o.clone(), Some("refused-line".into()))
        .await
        .expect("fresh attempt");
    assert_one_complete(&f, "refused-line");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_whose_reply_was_lost_is_found_again_not_made_twice() {
    let f = fake().await;
    let shop = shop(&f.base_url(), "cl-address-lost", 1_500).await;
    let o = order("ada@example.com", OrderStatus::Placed);
    // The billing address (the first POST), then the shipping address (the second), made but unanswered.
    for (skip, role) in [(0, "billing"), (1, "shipping")] {
        let key = format!("address-lost-{role}");
        let before = f.with(|p| p.addresses.len());
        fail_nth(&f, "POST", "/api/addresses", skip, Fault::ResetAfter);
        let first = shop
            .create("client", o.clone(), Some(key.as_str().into()))
            .await;
        assert!(first.is_err(), "{key}: the lost reply fails the create");
        let made = f.with(|p| p.addresses.len()) - before;
        assert_eq!(made, skip as usize + 1, "{key}: the address was made");
        shop.create("client", o.clone(), Some(key.as_str().into()))
            .await
            .unwrap_or_else(|e| panic!("{key}: retry resumes: {e}"));
        assert_one_complete(&f, &key);
        assert_eq!(
            f.with(|p| p.addresses.len()) - before,
            2,
            "{key}: the retry adopted the address, it did not make a second"
        );
        let up = &f.with(|p| p.with_reference(&stamp_of(&key)))[0];
        let linked = [&up.billing_address, &up.shipping_address];
        let reference_of = |id: &Option<String>| {
            f.with(|p| p.addresses[id.as_ref().expect("linked")]["reference"].clone())
        };
        assert_eq!(
            linked.map(reference_of),
            [
                json!(format!("{}:billing_address", stamp_of(&key))),
                json!(format!("{}:shipping_address", stamp_of(&key)))
            ]
        );
    }
}

/// A retry that finds the draft gone (deleted in the shop) starts a new one; refused before its address step, it
/// still removes the address an earlier attempt made whose reply was lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_retry_removes_an_address_an_earlier_attempt_lost() {
    let f = fake().await;
    let shop = shop(&f.base_url(), "cl-refused-after-lost-address", 1_500).await;
    let o = order("ada@example.com", OrderStatus::Placed);
    let key = "lost-then-refused";
    fail_nth(&f, "POST", "/api/addresses", 0, Fault::ResetAfter);
    assert!(shop
        .create("client", o.clone(), Some(key.into()))
        .await
        .is_err());
    assert_eq!(f.with(|p| p.addresses.len()), 1);
    // Someone deletes the draft in the shop; the retry's first line item is refused.
    f.with(|p| p.orders.clear());
    fail_nth(&f, "POST", "/api/line_items", 0, Fault::Status(422));
    assert!(shop
        .create("client", o.clone(), Some(key.into()))
        .await
        .is_err());
    assert_eq!(f.with(|p| p.order_count()), 0, "no draft left behind");
    assert_eq!(
        f.with(|p| p.addresses.len()),
        0,
        "nor the address whose reply the first attempt lost"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_removes_an_address_whose_reply_was_lost() {
    let f = fake().await;
    let shop = shop(&f.base_url(), "cl-sweep-lost-address", 1_500).await;
    // The shipping address was made but its reply lost: the journal names the billing address only.
    fail_nth(&f, "POST", "/api/addresses", 1, Fault::ResetAfter);
    let first = shop
        .create(
            "client",
            order("ada@example.com", OrderStatus::Placed),
            Some("abandoned".into()),
        )
        .await;
    assert!(first.is_err());
    assert_eq!(f.with(|p| p.addresses.len()), 2);
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let report = shop.sweep_unfinished(Duration::ZERO).await.unwrap();
    assert_eq!((report.cleared, report.drafts_removed), (1, 1));
    assert_eq!(f.with(|p| p.order_count()), 0, "no draft left behind");
    assert_eq!(
        f.with(|p| p.addresses.len()),
        0,
        "nor either address, the unanswered one too"
    );
}

/// A shop over the store in `dir` (a second handle on one store stands for another process using it).
async fn shop_on(base_url: &str, dir: &std::path::Path) -> (Arc<UpstreamShop>, Store) {
    let store = Store::open_sqlite(dir, ordermux::config::Durability::Full)
        .await
        .expect("store opens");
    let shop = UpstreamShop::new(ctx_with(shop_backend(base_url, 1_500)), store.clone())
        .expect("shop builds");
    (shop, store)
}

/// A create that stops after its draft was made (the second line item answered 503), whose caller never comes
/// back: the draft waits upstream for a retry.
async fn stop_after_the_draft(f: &Fake<CommerceLayerFake>, shop: &UpstreamShop, key: &str) {
    stop_at(f, shop, key, ("POST", "/api/line_items", 1)).await;
}

/// A create whose `(method, path, skip)` step (see `fail_nth`) answers 503, after its draft was made.
async fn stop_at(
    f: &Fake<CommerceLayerFake>,
    shop: &UpstreamShop,
    key: &str,
    (method, path, skip): (&str, &str, u32),
) {
    fail_nth(f, method, path, skip, Fault::Status(503));
    let first = shop
        .create(
            "client",
            order("ada@example.com", OrderStatus::Placed),
            Some(key.into()),
        )
        .await;
    assert!(first.is_err(), "{key}: the failed step fails the create");
    let found = f.with(|p| p.with_reference(&stamp_of(key)));
    assert_eq!(found.len(), 1, "{key}: its draft is upstream");
    // Commerce Layer has moved it from draft to pending with its first line item.
    assert_eq!(found[0].status, "pending");
    assert_eq!(
        found[0].reference_origin.as_deref(),
        Some("ordermux:incomplete")
    );
    // The journal counts time in whole seconds: the row is idle for a sweep of `idle = 0` once a second turned.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draft_no_retry_came_for_is_removed_and_a_late_retry_creates_the_order_once() {
    let f = fake().await;
    let shop = shop(&f.base_url(), "cl-sweep", 1_500).await;
    // Stopped at the shipment's shipping method: both lines and both addresses were made.
    stop_at(&f, &shop, "abandoned", ("PATCH", "/api/shipments/", 0)).await;
    assert_eq!(f.with(|p| p.addresses.len()), 2);
    // Not idle for long enough yet: left alone.
    let report = shop
        .sweep_unfinished(Duration::from_secs(600))
        .await
        .unwrap();
    assert_eq!(report, SweepReport::default());
    assert_eq!(f.with(|p| p.order_count()), 1);

    let report = shop.sweep_unfinished(Duration::ZERO).await.unwrap();
    assert_eq!(
        report,
        SweepReport {
            cleared: 1,
            drafts_removed: 1,
            left: 0,
            failed: 0
        }
    );
    assert_eq!(f.with(|p| p.order_count()), 0, "no draft left behind");
    assert_eq!(f.with(|p| p.addresses.len()), 0, "nor its addresses");
    assert_eq!(f.count("DELETE", "/api/orders/"), 1);
    // A cleared row is not swept again.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let report = shop.sweep_unfinished(Duration::ZERO).await.unwrap();
    assert_eq!(report, SweepReport::default());

    // The caller comes back after all: the order is made afresh, exactly once, and answered on every retry.
    let o = order("ada@example.com", OrderStatus::Placed);
    let done = shop
        .create("client", o.clone(), Some("abandoned".into()))
        .await
        .expect("the late retry creates the order");
    assert_one_complete(&f, "abandoned");
    let again = shop
        .create("client", o, Some("abandoned".into()))
        .await
        .unwrap();
    assert_eq!(again.ids.gateway, done.ids.gateway);
    assert_eq!(f.with(|p| p.order_count()), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unfinished_order_that_is_placed_or_finished_is_not_swept() {
    let f = fake().await;
    let shop = shop(&f.base_url(), "cl-sweep-left", 1_500).await;
    stop_after_the_draft(&f, &shop, "placed-meanwhile").await;
    stop_after_the_draft(&f, &shop, "finished-meanwhile").await;
    // Someone placed the first upstream; the second was marked done (as a finished create's is).
    f.with(|p| {
        for o in p.orders.values_mut() {
            if o.reference.as_deref() == Some(stamp_of("placed-meanwhile").as_str()) {
                o.status = "placed".into();
            }
            if o.reference.as_deref() == Some(stamp_of("finished-meanwhile").as_str()) {
                o.reference_origin = Some("ordermux".into());
            }
        }
    });
    let report = shop.sweep_unfinished(Duration::ZERO).await.unwrap();
    assert_eq!(
        report,
        SweepReport {
            cleared: 0,
            drafts_removed: 0,
            left: 2,
            failed: 0
        }
    );
    assert_eq!(f.with(|p| p.order_count()), 2, "both orders stay");
    assert_eq!(f.count("DELETE", "/api/orders/"), 0);
    // Left rows are not looked at again until an attempt touches them.
    let lookups = f.count("GET", "/api/orders");
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(
        shop.sweep_unfinished(Duration::ZERO).await.unwrap(),
        SweepReport::default()
    );
    assert_eq!(f.count("GET", "/api/orders"), lookups);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_during_a_sweep_is_told_to_come_back_and_then_finishes_the_order_once() {
    let f = fake().await;
    let dir = super::harness::fresh_dir("cl-sweep-hold");
    let (shop, _) = shop_on(&f.base_url(), &dir).await;
    stop_after_the_draft(&f, &shop, "held").await;
    // Another process's sweep takes the row (and then stops without ending it).
    let (_, other) = shop_on(&f.base_url(), &dir).await;
    let idle = chrono::Utc::now().timestamp();
    let rows = other
        .upstream_unfinished("up", idle, chrono::Utc::now().timestamp_millis(), 10)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let hold_until = chrono::Utc::now().timestamp_millis() + 1_500;
    assert!(other
        .journal_sweep_take("up", &rows[0], chrono::Utc::now().timestamp(), hold_until)
        .await
        .unwrap());
    // Taken once only: the row changed.
    assert!(!other
        .journal_sweep_take("up", &rows[0], chrono::Utc::now().timestamp(), hold_until)
        .await
        .unwrap());
    let o = order("ada@example.com", OrderStatus::Placed);
    let held = shop
        .create("client", o.clone(), Some("held".into()))
        .await
        .expect_err("held by the sweep");
    let UpstreamShopError::Sweeping { retry_after } = &held else {
        panic!("expected Sweeping, got {held:?}");
    };
    assert!(*retry_after <= Duration::from_millis(1_500));
    let problem = held.into_problem("order");
    assert_eq!(problem.kind, ProblemKind::IdempotencyInFlight);
    assert!(problem.retry_after.is_some());
    // Once the hold is over (its sweep never ended), the retry resumes the draft: one complete order.
    tokio::time::sleep(Duration::from_millis(1_600)).await;
    shop.create("client", o, Some("held".into()))
        .await
        .expect("resumed after the hold");
    assert_one_complete(&f, "held");
    assert_eq!(f.with(|p| p.order_count()), 1);
}

/// A sweep racing the retries it sweeps: creates stopped after their drafts were made, then one sweep of them all
/// and a retry of each key at once, each retry after a random short delay. Whichever comes first for a key (the
/// retry resumes the draft, the sweep deletes it and the retry creates afresh, or the retry arrives mid-sweep and
/// is told to come back), each key ends with exactly one complete order, and nothing else is left upstream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_racing_the_retries_leaves_one_complete_order_per_key() {
    const KEYS: usize = 12;
    let f = fake().await;
    let shop = shop(&f.base_url(), "cl-sweep-race", 1_500).await;
    let o = order("ada@example.com", OrderStatus::Placed);
    let keys: Vec<String> = (0..KEYS).map(|i| format!("race-{i}")).collect();
    for key in &keys {
        fail_nth(&f, "POST", "/api/line_items", 1, Fault::Status(503));
        let first = shop
            .create("client", o.clone(), Some(key.as_str().into()))
            .await;
        assert!(first.is_err(), "{key}");
    }
    assert_eq!(f.with(|p| p.order_count()), KEYS);
    tokio::time::sleep(Duration::from_millis(1_100)).await;

    let mut rng = crate::support::Rng::from_clock();
    let seed = rng.0;
    let sweep = {
        let shop = shop.clone();
        tokio::spawn(async move { shop.sweep_unfinished(Duration::ZERO).await.unwrap() })
    };
    let mut retries = Vec::new();
    for key in keys.clone() {
        let (shop, o) = (shop.clone(), o.clone());
        let delay = Duration::from_millis(rng.below(60));
        retries.push(tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let mut told_to_wait = 0;
            loop {
                match shop
                    .create("client", o.clone(), Some(key.as_str().into()))
                    .await
                {
                    Ok(_) => break told_to_wait,
                    Err(UpstreamShopError::Sweeping { .. }) if told_to_wait < 100 => {
                        told_to_wait += 1;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    Err(e) => panic!("seed {seed}, {key}: {e}"),
                }
            }
        }));
    }
    let report = sweep.await.unwrap();
    let mut waited = 0;
    for r in retries {
        waited += r.await.unwrap();
    }
    // Which way the race went (with --no-capture).
    println!("sweep race, seed {seed}: {report:?}, {waited} retries told to wait");
    for key in &keys {
        assert_one_complete(&f, key);
    }
    assert_eq!(
        f.with(|p| p.order_count()),
        KEYS,
        "seed {seed}: {report:?}, {waited} retries told to wait"
    );
}

// ---------------------------------------------------------------------------------------------------------------
// Transport faults on the order request, through `UpstreamShop`

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connection_creates_nothing() {
    let f = fake().await;
    let closed = crate::fakes::RefusingPort::new();
    let shop = shop(&closed.url(), "cl-refused", 500).await;
    let err = shop
        .create(
            "client",
            order("ada@example.com", OrderStatus::Placed),
            Some("k-refused".into()),
        )
        .await
        .unwrap_err();
    let p = err.into_problem("order");
    assert_eq!(
        p.kind,
        ProblemKind::Unavailable,
        "nothing sent: retry later"
    );
    assert_eq!(p.retry_after, Some(1));
    assert_eq!(f.with(|p| p.order_count()), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_order_request_then_retry_leaves_one_order() {
    let f = fake().await;
    let shop = shop(&f.base_url(), "cl-slow", 300).await;
    let o = order("ada@example.com", OrderStatus::Placed);
    f.fail(
        Some("POST"),
        Some("/api/orders"),
        Fault::DelayAfter(Duration::from_millis(700)),
        1,
    );
    let err = shop
        .create("client", o.clone(), Some("k-slow".into()))
        .await
        .unwrap_err();
    assert_eq!(err.into_problem("order").kind, ProblemKind::GatewayTimeout);
    // Let the slow request finish upstream.
    tokio::time::sleep(Duration::from_millis(500)).await;
    shop.create("client", o, Some("k-slow".into()))
        .await
        .expect("retry");
    assert_one_complete(&f, "k-slow");
    assert_eq!(f.with(|p| p.order_count()), 1);
}

/// A shop whose calls time out after 300 ms and whose broken-off calls settle within 800 ms, and an order whose
/// create under `key` has just ended in 504: the fake makes its `POST path` request 500 ms late, after the shop
/// gave up on it.
async fn create_with_a_late_step(
    path: &str,
    store_name: &str,
    key: &str,
) -> (Fake<CommerceLayerFake>, Arc<UpstreamShop>, Order) {
    let f = fake().await;
    let mut b = shop_backend(&f.base_url(), 300);
    b.settle = Duration::from_millis(800);
    let shop = UpstreamShop::new(ctx_with(b), store(store_name).await).expect("shop builds");
    let o = order("ada@example.com", OrderStatus::Placed);
    f.fail(
        Some("POST"),
        Some(path),
        Fault::Late(Duration::from_millis(500)),
        1,
    );
    let err = shop
        .create("client", o.clone(), Some(key.into()))
        .await
        .unwrap_err();
    assert_eq!(err.into_problem("order").kind, ProblemKind::GatewayTimeout);
    (f, shop, o)
}

/// A draft whose line item request timed out is not resumed while that request may still act upstream (the
/// backend's `settle`): carrying on would send the line again, and the late one (the fake makes it after the
/// gateway gave up) would make it twice. Past the window, the retry adopts the line that landed and finishes one
/// complete order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_that_may_still_act_is_waited_for() {
    let (f, shop, o) = create_with_a_late_step("/api/line_items", "cl-settle", "k-settle").await;
    let early = shop
        .create("client", o.clone(), Some("k-settle".into()))
        .await
        .unwrap_err();
    let p = early.into_problem("order");
    assert_eq!(p.kind, ProblemKind::IdempotencyInFlight, "{p:?}");
    assert!(p.retry_after.is_some());
    tokio::time::sleep(Duration::from_millis(900)).await;
    let done = shop
        .create("client", o, Some("k-settle".into()))
        .await
        .expect("resumed past the window");
    assert_eq!(done.line_items.len(), 2);
    assert_one_complete(&f, "k-settle");
    assert_eq!(f.with(|p| p.order_count()), 1);
}

/// An order request that may still land (it timed out, the fake makes the draft late) holds its retries back
/// for the settle window, each after one look-up by reference (the complete order and a draft come from the same
/// reply); past the window the retry resumes the draft that landed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_order_request_is_waited_for_with_one_look_up_per_retry() {
    let (f, shop, o) = create_with_a_late_step("/api/orders", "cl-late-order", "k-late").await;
    let look_ups = || {
        f.seen()
            .iter()
            .filter(|s| s.method == "GET" && s.path == "/api/orders")
            .count()
    };
    let before = look_ups();
    let early = shop
        .create("client", o.clone(), Some("k-late".into()))
        .await
        .unwrap_err();
    let p = early.into_problem("order");
    assert_eq!(p.kind, ProblemKind::IdempotencyInFlight, "{p:?}");
    assert_eq!(look_ups() - before, 1, "one reference look-up per retry");
    tokio::time::sleep(Duration::from_millis(900)).await;
    let done = shop
        .create("client", o, Some("k-late".into()))
        .await
        .expect("resumed past the window");
    assert_eq!(done.line_items.len(), 2);
    assert_one_complete(&f, "k-late");
    assert_eq!(f.with(|p| p.order_count()), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_and_rate_limits_never_duplicate() {
    let f = fake().await;
    let shop = shop(&f.base_url(), "cl-5xx", 1_500).await;
    let o = order("ada@example.com", OrderStatus::Placed);
    f.fail(Some("POST"), Some("/api/orders"), Fault::Status(500), 1);
    let err = shop
        .create("client", o.clone(), Some("k-5xx".into()))
        .await
        .unwrap_err();
    assert_eq!(err.into_problem("order").kind, ProblemKind::BadGateway);
    assert_eq!(
        f.with(|p| p.order_count()),
        0,
        "a 500 before the platform saw it"
    );
    shop.create("client", o.clone(), Some("k-5xx".into()))
        .await
        .expect("retry");
    assert_one_complete(&f, "k-5xx");

    f.fail(
        Some("POST"),
        Some("/api/orders"),
        Fault::RateLimited {
            retry_after_secs: 1,
        },
        1,
    );
    shop.create("client", o, Some("k-429".into()))
        .await
        .expect("waited and sent");
    assert_one_complete(&f, "k-429");
    assert_eq!(f.with(|p| p.order_count()), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_and_unreadable_replies_are_reconciled_by_stamp() {
    let f = fake().await;
    let shop = shop(&f.base_url(), "cl-lost", 1_500).await;
    let o = order("ada@example.com", OrderStatus::Placed);
    let faults = [
        ("k-reset-after", Fault::ResetAfter),
        ("k-mid-body", Fault::ResetMidBody),
        ("k-json", Fault::MalformedJson),
        ("k-html", Fault::Html),
    ];
    for (key, fault) in faults {
        f.fail(Some("POST"), Some("/api/orders"), fault, 1);
        let first = shop.create("client", o.clone(), Some(key.into())).await;
        assert!(first.is_err(), "{key}");
        shop.create("client", o.clone(), Some(key.into()))
            .await
            .unwrap_or_else(|e| panic!("{key}: retry: {e}"));
        assert_one_complete(&f, key);
    }
    assert_eq!(f.with(|p| p.order_count()), 4);
}

// ---------------------------------------------------------------------------------------------------------------
// Through the gateway, for every caller dialect

mod gateway {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use ordermux::canonical::Platform;
    use ordermux::config::{Backend, Config, Credential, Credentials};
    use reqwest::Method;
    use serde_json::{json, Value};

    use super::super::harness::*;
    use super::{fake, CLIENT_ID, CLIENT_SECRET};
    use crate::fakes::commercelayer::{CommerceLayerFake, FakeOrder};
    use crate::fakes::{Fake, Fault};

    fn routed(name: &str, base_url: String) -> Config {
        routed_to(
            name,
            Backend {
                credentials: Credentials {
                    client_id: Some(Credential::new(CLIENT_ID)),
                    client_secret: Some(Credential::new(CLIENT_SECRET)),
                    ..Credentials::default()
                },
                markets: BTreeMap::from([("USD".to_owned(), "mkt_usd".to_owned())]),
                connect_timeout: Duration::from_millis(300),
                timeout: Duration::from_millis(800),
                total_timeout: Duration::from_secs(3),
                ..Backend::upstream("up", Platform::CommerceLayer, base_url)
            },
        )
    }

    async fn start(name: &str) -> (Fake<CommerceLayerFake>, TestGateway) {
        let f = fake().await;
        let gw = TestGateway::start_with(routed(name, f.base_url())).await;
        (f, gw)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn changed_creates_are_refused_whole_or_made_once() {
        let (fake, gw) = start("clgw-mutations").await;
        let orders = || fake.with(|p| p.orders.len());
        super::super::upstream_mutations::every_caller(&gw, Some(&orders)).await;
        gw.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn generated_queries_are_answered_or_refused_in_the_callers_shape() {
        let (_fake, gw) = start("clgw-queries").await;
        super::super::upstream_queries::every_caller(&gw).await;
        gw.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_order_the_shop_answers_unreadably_is_left_out_of_list_pages_and_named() {
        let (f, gw) = start("clgw-left-out").await;
        // Its status is none Commerce Layer has.
        let set_status = |s: String| {
            f.with(|p| {
                let order = p.orders.values_mut().nth(1).unwrap();
                std::mem::replace(&mut order.status, s)
            })
        };
        let was = std::cell::RefCell::new(String::new());
        super::super::upstream_left_out::every_callers_list(
            &gw,
            || *was.borrow_mut() = set_status("teleported".into()),
            || {
                set_status(was.take());
            },
        )
        .await;
        gw.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn wrong_shaped_replies_are_errors_in_the_callers_dialect() {
        let f = fake().await;
        let config = routed("clgw-shapes", f.base_url());
        let orders = || f.with(|p| p.orders.len());
        let steps = ["/line_items", "/addresses", "/orders/"];
        super::super::upstream_shapes::run(config, &f, orders, &steps).await;
    }

    fn only_order(f: &Fake<CommerceLayerFake>) -> FakeOrder {
        let orders: Vec<FakeOrder> = f.with(|p| p.orders.values().cloned().collect());
        assert_eq!(orders.len(), 1, "exactly one order upstream");
        orders.into_iter().next().unwrap()
    }

    fn cl_address(line1: &str) -> Value {
        json!({"data": {"type": "addresses", "attributes": {"first_name": "Ada", "last_name": "Lovelace",
            "line_1": line1, "city": "Austin", "zip_code": "78701", "state_code": "TX", "country_code": "US",
            "phone": "+1 512 555 0100"}}})
    }

    /// On a Commerce Layer shop behind a translating route, a caller's address is the shop's: made there (once per
    /// key, its reference and metadata the caller's), read from there, and linked to an order by its id, as on
    /// Commerce Layer itself, so the order's addresses go by the ids the caller made them under.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_callers_address_is_the_shops_made_once_and_linked_by_its_id() {
        let (f, gw) = start("clgw-addresses").await;
        let token = gw.cl_token().await;
        let mut body = cl_address("1 Main St");
        body["data"]["attributes"]["reference"] = json!("crm-42");
        let made = expect(
            gw.cl(&token, Method::POST, "/addresses")
                .header("idempotency-key", "addr-1")
                .json(&body),
            201,
        )
        .await;
        let id = made["data"]["id"].as_str().expect("address id").to_owned();
        assert_eq!(made["data"]["attributes"]["reference"], "crm-42", "{made}");
        // Nothing of ordermux's own shows, nor the shop's address.
        assert!(
            made["data"]["attributes"].get("metadata").is_none(),
            "{made}"
        );
        let self_link = made["data"]["links"]["self"].as_str().unwrap_or_default();
        assert!(!self_link.starts_with(&f.base_url()), "{made}");
        let held = f
            .with(|p| p.addresses.get(&id).cloned())
            .expect("made on the shop");
        assert_eq!(held["line_1"], "1 Main St");
        assert_eq!(held["metadata"]["ordermux_reference"], "crm-42");
        // The same request again is the same address; nothing new is made.
        let again = expect(
            gw.cl(&token, Method::POST, "/addresses")
                .header("idempotency-key", "addr-1")
                .json(&body),
            201,
        )
        .await;
        assert_eq!(again["data"]["id"], id.as_str());
        assert_eq!(f.with(|p| p.addresses.len()), 1);
        let read = expect(gw.cl(&token, Method::GET, &format!("/addresses/{id}")), 200).await;
        assert_eq!(read["data"]["attributes"]["line_1"], "1 Main St", "{read}");
        expect(gw.cl(&token, Method::GET, "/addresses/adrNOSUCH"), 404).await;

        let order = expect(
            gw.cl(&token, Method::POST, "/orders")
                .json(&json!({"data": {"type": "orders",
                "attributes": {"customer_email": "ada@example.com"},
                "relationships": {"market": {"data": {"type": "markets", "id": "usd"}}}}})),
            201,
        )
        .await;
        let order_id = order["data"]["id"].as_str().expect("order id").to_owned();
        // (The draft may have the buyer's own address already: the shop's customer record has one.)
        let before = f.with(|p| p.addresses.len());
        let address = json!({"data": {"type": "addresses", "id": id}});
        let linked = expect(
            gw.cl(&token, Method::PATCH, &format!("/orders/{order_id}"))
                .json(
                    &json!({"data": {"type": "orders", "id": order_id, "relationships": {
                    "billing_address": address, "shipping_address": address}}}),
                ),
            200,
        )
        .await;
        let up = only_order(&f);
        assert_eq!(up.billing_address.as_deref(), Some(id.as_str()));
        assert_eq!(up.shipping_address.as_deref(), Some(id.as_str()));
        assert_eq!(f.with(|p| p.addresses.len()), before, "linked, not copied");
        for role in ["billing_address", "shipping_address"] {
            assert_eq!(
                linked["data"]["relationships"][role]["data"]["id"],
                id.as_str(),
                "{linked}"
            );
        }
        gw.stop().await;
    }

    /// `_shipping_address_same_as_billing` clones the billing address, as Commerce Layer documents it: the shipping
    /// address is one of its own, on the embedded shop and on a Commerce Layer shop alike.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn shipping_same_as_billing_is_a_clone_of_its_own() {
        let f = fake().await;
        for gw in [
            TestGateway::start_with(config(&fresh_dir("clgw-clone-embedded"))).await,
            TestGateway::start_with(routed("clgw-clone", f.base_url())).await,
        ] {
            let token = gw.cl_token().await;
            let made = expect(
                gw.cl(&token, Method::POST, "/addresses")
                    .json(&cl_address("1 Main St")),
                201,
            )
            .await;
            let billing = made["data"]["id"].clone();
            let order = expect(
                gw.cl(&token, Method::POST, "/orders")
                    .json(&json!({"data": {"type": "orders",
                    "relationships": {"market": {"data": {"type": "markets", "id": "usd"}}}}})),
                201,
            )
            .await;
            let id = order["data"]["id"].as_str().expect("order id").to_owned();
            expect(
                gw.cl(&token, Method::PATCH, &format!("/orders/{id}")).json(
                    &json!({"data": {"type": "orders", "id": id, "relationships": {
                        "billing_address": {"data": {"type": "addresses", "id": billing}}}}}),
                ),
                200,
            )
            .await;
            let cloned = expect(
                gw.cl(
                    &token,
                    Method::PATCH,
                    &format!("/orders/{id}?include=shipping_address"),
                )
                .json(&json!({"data": {"type": "orders", "id": id,
                    "attributes": {"_shipping_address_same_as_billing": true}}})),
                200,
            )
            .await;
            let rels = &cloned["data"]["relationships"];
            assert_eq!(rels["billing_address"]["data"]["id"], billing, "{cloned}");
            let shipping = &rels["shipping_address"]["data"]["id"];
            assert!(shipping.is_string() && *shipping != billing, "{cloned}");
            let included = cloned["included"]
                .as_array()
                .and_then(|all| all.iter().find(|r| r["id"] == *shipping))
                .unwrap_or_else(|| panic!("the clone included: {cloned}"));
            assert_eq!(included["attributes"]["line_1"], "1 Main St");
            gw.stop().await;
        }
    }

    /// An address whose reply is lost is found by the reference it carries, not made again: at once, or by the
    /// caller's retry under its key (the key is not kept for the 502 the first attempt answered).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_address_whose_reply_is_lost_is_made_once() {
        let f = fake().await;
        let mut config = routed("clgw-address-lost", f.base_url());
        // The look-ups failed below are not to open the breaker for the retry.
        config
            .backends
            .iter_mut()
            .for_each(|b| b.breaker_failures = 1_000);
        let gw = TestGateway::start_with(config).await;
        let token = gw.cl_token().await;
        f.fail(Some("POST"), Some("/api/addresses"), Fault::ResetAfter, 1);
        let made = expect(
            gw.cl(&token, Method::POST, "/addresses")
                .header("idempotency-key", "addr-lost")
                .json(&cl_address("1 Main St")),
            201,
        )
        .await;
        assert_eq!(
            f.with(|p| p.addresses.len()),
            1,
            "{:?}",
            f.seen()
                .iter()
                .map(|s| format!("{} {}", s.method, s.path))
                .collect::<Vec<_>>()
        );
        let id = made["data"]["id"].clone();

        // Lost, and the look-up fails too: the caller is told so, and its retry finds the address.
        f.fail(Some("POST"), Some("/api/addresses"), Fault::ResetAfter, 1);
        f.fail(Some("GET"), Some("/api/addresses"), Fault::Status(503), 4);
        let status = gw
            .cl(&token, Method::POST, "/addresses")
            .header("idempotency-key", "addr-lost-2")
            .json(&cl_address("2 Side St"))
            .send()
            .await
            .unwrap()
            .status();
        assert!(status.is_server_error(), "{status}");
        assert_eq!(f.with(|p| p.addresses.len()), 2);
        let retried = expect(
            gw.cl(&token, Method::POST, "/addresses")
                .header("idempotency-key", "addr-lost-2")
                .json(&cl_address("2 Side St")),
            201,
        )
        .await;
        assert_eq!(f.with(|p| p.addresses.len()), 2, "found, not made again");
        assert_ne!(retried["data"]["id"], id);
        assert_eq!(retried["data"]["attributes"]["line_1"], "2 Side St");
        gw.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replies_validate_against_the_specs() {
        let (_fake, gw) = start("clgw-spec").await;
        super::super::spec_replies::every_dialect(&gw, "a Commerce Layer shop").await;
        // A state Commerce Layer's triggers cannot reach is a refused transition (422), not a bad parameter.
        // The FluentCart caller's order: placed and paid, never approved.
        let list = expect(gw.fc(Method::GET, "/orders?per_page=10"), 200).await;
        let id = list["orders"]["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|o| o["id"].as_u64())
            .min()
            .expect("an order");
        let refused = expect(
            gw.fc(Method::PUT, &format!("/orders/{id}/statuses"))
                .json(&json!({
                    "action": "change_shipping_status", "statuses": {"shipping_status": "shipped"}
                })),
            422,
        )
        .await;
        assert_eq!(refused["code"], "invalid_transition", "{refused}");
        gw.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn commercelayer_callers_build_read_list_update_and_place() {
        let (f, gw) = start("cl-up-gw-cl").await;
        let token = gw.cl_token().await;
        let created = expect(
            gw.cl(&token, Method::POST, "/orders")
                .header("idempotency-key", "cl-gw-1")
                .json(&json!({"data": {"type": "orders",
                    "attributes": {"customer_email": "ada@example.com", "language_code": "en"},
                    "relationships": {"market": {"data": {"type": "markets", "id": "usd"}}}}})),
            201,
        )
        .await;
        let id = created["data"]["id"].as_str().expect("order id").to_owned();
        let up = only_order(&f);
        assert_eq!(up.status, "draft");
        assert_eq!(up.customer_email.as_deref(), Some("ada@example.com"));
        assert_eq!(up.reference_origin.as_deref(), Some("ordermux"));

        expect(
            gw.cl(&token, Method::POST, "/line_items")
                .json(&json!({"data": {"type": "line_items",
                "attributes": {"sku_code": "MUG-WHT", "quantity": 2},
                "relationships": {"order": {"data": {"type": "orders", "id": id}}}}})),
            201,
        )
        .await;
        assert_eq!(f.with(|p| p.lines_of(&up.id)).len(), 1);

        let got = gw.cl_order_with_lines(&token, &id).await;
        assert_eq!(
            got["data"]["attributes"]["total_amount_with_taxes_cents"],
            2500
        );
        let list = expect(gw.cl(&token, Method::GET, "/orders"), 200).await;
        assert_eq!(list["meta"]["record_count"], 1);

        expect(
            gw.cl(&token, Method::PATCH, &format!("/orders/{id}")).json(&json!({"data": {
                "type": "orders", "id": id, "attributes": {"customer_email": "ada@lovelace.example"}}})),
            200,
        )
        .await;
        assert_eq!(
            only_order(&f).customer_email.as_deref(),
            Some("ada@lovelace.example")
        );

        let billing = expect(
            gw.cl(&token, Method::POST, "/addresses")
                .json(&cl_address("1 Main St")),
            201,
        )
        .await;
        let shipping = expect(
            gw.cl(&token, Method::POST, "/addresses")
                .json(&cl_address("9 Side St")),
            201,
        )
        .await;
        let link = |doc: &Value| json!({"data": {"type": "addresses", "id": doc["data"]["id"]}});
        expect(
            gw.cl(&token, Method::PATCH, &format!("/orders/{id}"))
                .json(&json!({"data": {
                "type": "orders", "id": id, "relationships": {
                    "billing_address": link(&billing), "shipping_address": link(&shipping)}}})),
            200,
        )
        .await;
        let up = only_order(&f);
        assert!(up.billing_address.is_some() && up.shipping_address.is_some());

        let placed = expect(
            gw.cl(&token, Method::PATCH, &format!("/orders/{id}"))
                .json(&json!({"data": {
                "type": "orders", "id": id, "attributes": {"_place": true}}})),
            200,
        )
        .await;
        assert_eq!(placed["data"]["attributes"]["status"], "placed");
        assert_eq!(only_order(&f).status, "placed");
        gw.stop().await;
    }

    fn fc_address(line1: &str) -> Value {
        json!({"first_name": "Ada", "last_name": "Lovelace", "address_1": line1, "city": "Austin",
               "state": "TX", "postcode": "78701", "country": "US",
               "meta": {"other_data": {"phone": "+1 512 555 0100"}}})
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fluentcart_callers_create_read_list_and_change_status() {
        let (f, gw) = start("cl-up-gw-fc").await;
        let body = json!({"customer": {"email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace"},
            "currency": "USD",
            "billing_address": fc_address("1 Main St"), "shipping_address": fc_address("9 Side St"),
            "order_items": [{"object_id": 1001, "quantity": 2}]});
        let created = expect(
            gw.fc(Method::POST, "/orders")
                .header("idempotency-key", "fc-gw-1")
                .json(&body),
            200,
        )
        .await;
        let id = created["order_id"].as_u64().expect("FluentCart id");
        let up = only_order(&f);
        assert_eq!(up.status, "placed");
        let lines = f.with(|p| p.lines_of(&up.id));
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].sku_code.as_deref(), Some("TSHIRT-BLK-M"));

        let got = expect(gw.fc(Method::GET, &format!("/orders/{id}")), 200).await;
        assert_eq!(got["order"]["id"], id);
        let list = expect(gw.fc(Method::GET, "/orders?per_page=5"), 200).await;
        assert_eq!(list["orders"]["total"], 1);

        // The same key again: the same order, nothing new upstream.
        let again = expect(
            gw.fc(Method::POST, "/orders")
                .header("idempotency-key", "fc-gw-1")
                .json(&body),
            200,
        )
        .await;
        assert_eq!(again["order_id"], id);
        assert_eq!(f.with(|p| p.order_count()), 1);

        // Commerce Layer refuses line item edits on a placed order: the caller gets a 422 in its own shape.
        let item = got["order"]["order_items"][0]["id"].as_u64().unwrap();
        let refused = expect(
            gw.fc(Method::POST, &format!("/orders/{id}"))
                .json(&json!({"order_items": [{"id": item, "object_id": 1001, "quantity": 3}]})),
            422,
        )
        .await;
        assert_eq!(refused["success"], false);

        expect(
            gw.fc(Method::POST, &format!("/orders/{id}/mark-as-paid"))
                .json(&json!({})),
            200,
        )
        .await;
        assert_eq!(only_order(&f).payment_status, "paid");

        // A partial refund (FluentCart's major units) comes from the order's capture.
        let r = expect(
            gw.fc(Method::POST, &format!("/orders/{id}/refund"))
                .json(&json!({"refund_info": {"transaction_id": 1, "amount": 12.5}})),
            200,
        )
        .await;
        assert_eq!(r["fluent_cart_refund"]["status"], "success");
        let up = only_order(&f);
        assert_eq!(up.payment_status, "partially_refunded");
        let balance: Vec<i64> = f.with(|p| {
            p.captures
                .values()
                .map(|c| c.amount_cents - c.refund_balance_cents)
                .collect()
        });
        assert_eq!(balance, [1250]);
        let got = expect(gw.fc(Method::GET, &format!("/orders/{id}")), 200).await;
        assert_eq!(got["order"]["payment_status"], "partially_refunded");
        assert_eq!(got["order"]["total_refund"], 1250);
        gw.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bigcommerce_callers_create_read_list_and_cancel() {
        let (f, gw) = start("cl-up-gw-bc").await;
        let address = |street: &str| {
            json!({"first_name": "Jane", "last_name": "Doe", "street_1": street, "city": "Austin",
                   "state": "Texas", "zip": "78701", "country": "United States", "country_iso2": "US",
                   "email": "jane@example.com", "phone": "+1 512 555 0100"})
        };
        let body = json!({"billing_address": address("1 Main St"), "shipping_addresses": [address("9 Side St")],
            "products": [{"product_id": 111, "quantity": 2}]});
        let order = expect(
            gw.bc(Method::POST, "/orders")
                .header("idempotency-key", "bc-gw-1")
                .json(&body),
            201,
        )
        .await;
        let id = order["id"].as_u64().expect("BigCommerce id");
        let up = only_order(&f);
        assert_eq!(up.customer_email.as_deref(), Some("jane@example.com"));
        let billing = up
            .billing_address
            .clone()
            .expect("billing address upstream");
        assert_eq!(
            f.with(|p| p.addresses[&billing]["line_1"].clone()),
            json!("1 Main St")
        );

        let got = expect(gw.bc(Method::GET, &format!("/orders/{id}")), 200).await;
        assert_eq!(got["id"], id);
        let list = expect(gw.bc(Method::GET, "/orders?limit=10"), 200).await;
        assert_eq!(list.as_array().map(Vec::len), Some(1));

        // A BigCommerce create without status_id is Pending (1): an unplaced (pending) order on Commerce Layer.
        // Cancelling it (status_id 5) takes _place then _cancel: Commerce Layer cancels only placed orders.
        assert_eq!(up.status, "pending");
        expect(
            gw.bc(Method::PUT, &format!("/orders/{id}"))
                .json(&json!({"status_id": 5})),
            200,
        )
        .await;
        assert_eq!(only_order(&f).status, "cancelled");
        gw.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn upstream_failures_reach_the_caller_in_its_shape() {
        let (f, gw) = start("cl-up-gw-errors").await;
        let token = gw.cl_token().await;
        let draft = json!({"data": {"type": "orders", "attributes": {"customer_email": "ada@example.com"},
            "relationships": {"market": {"data": {"type": "markets", "id": "usd"}}}}});
        // 404 upstream → 404.
        let body = expect(gw.cl(&token, Method::GET, "/orders/nope"), 404).await;
        assert_eq!(body["errors"][0]["status"], "404");
        // A 5xx on the order request → 502, nothing upstream.
        f.fail(Some("POST"), Some("/api/orders"), Fault::Status(500), 1);
        let body = expect(gw.cl(&token, Method::POST, "/orders").json(&draft), 502).await;
        assert_eq!(body["errors"][0]["status"], "502");
        assert_eq!(f.with(|p| p.order_count()), 0);
        // Commerce Layer refuses it → 422 in the caller's shape, no phantom order.
        f.fail(Some("POST"), Some("/api/orders"), Fault::Status(422), 1);
        let body = expect(gw.cl(&token, Method::POST, "/orders").json(&draft), 422).await;
        assert_eq!(body["errors"][0]["status"], "422");
        assert_eq!(f.with(|p| p.order_count()), 0);
        // A slow upstream → 504.
        let created = expect(gw.cl(&token, Method::POST, "/orders").json(&draft), 201).await;
        let id = created["data"]["id"].as_str().unwrap().to_owned();
        f.fail(
            Some("GET"),
            Some("/api/orders/"),
            Fault::Delay(Duration::from_millis(1_500)),
            4,
        );
        let body = expect(gw.cl(&token, Method::GET, &format!("/orders/{id}")), 504).await;
        assert_eq!(body["errors"][0]["status"], "504");
        gw.stop().await;
    }
}
