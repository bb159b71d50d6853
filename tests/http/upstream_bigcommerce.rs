//! The BigCommerce v2 upstream adapter against the stateful fake (`tests/fakes/bigcommerce.rs`): the adapter's
//! operations, then fault injection through `UpstreamShop` with every outcome checked against the fake's own
//! records (no lost order, no duplicate, no phantom).

use std::sync::Arc;
use std::time::Duration;

use ordermux::backends::adapters::{
    Adapter, AdapterContext, BigCommerceAdapter, CreateReply, Journal, Stamp,
};
use ordermux::backends::transport::UpstreamError;
use ordermux::backends::upstream::UpstreamShop;
use ordermux::canonical::lifecycle::{self, Transition};
use ordermux::canonical::{
    Currency, FulfillmentStatus, Money, Order, OrderFilter, OrderQuery, OrderStatus, PaymentStatus,
    Platform, ProblemKind, Range, SortKey, StatusTriple,
};
use ordermux::config::{Backend, Credential};
use ordermux::dialects::bigcommerce::decode_create_request;
use ordermux::dialects::DecodeOptions;
use ordermux::store::Store;
use serde_json::{json, Value};

use super::harness::{journal_for, scratch_store, usd_context};
use crate::fakes::bigcommerce::BigCommerceFake;
use crate::fakes::{Fake, Fault};

const HASH: &str = "abc123";
const TOKEN: &str = "bc-token";
const CLIENT: &str = "bc-client";

fn usd() -> Currency {
    Currency::parse("USD").unwrap()
}

fn fake_store() -> BigCommerceFake {
    BigCommerceFake::new(HASH, TOKEN)
        .with_client_id(CLIENT)
        .with_product(77, "Poster", "POSTER-1", "5.5")
}

async fn start() -> Fake<BigCommerceFake> {
    Fake::start(fake_store()).await
}

fn backend(base_url: &str) -> Backend {
    let mut b = Backend::upstream("up", Platform::BigCommerce, base_url);
    b.store_hash = Some(HASH.into());
    b.credentials.token = Some(Credential::new(TOKEN));
    b.credentials.client_id = Some(Credential::new(CLIENT));
    b.connect_timeout = Duration::from_millis(500);
    b.timeout = Duration::from_millis(2_000);
    b.total_timeout = Duration::from_millis(5_000);
    // Fault tests fail on purpose; the breaker has its own unit tests.
    b.breaker_failures = 1_000;
    b
}

fn ctx(backend: Backend) -> AdapterContext {
    usd_context(backend)
}

fn adapter(base_url: &str) -> BigCommerceAdapter {
    BigCommerceAdapter::new(ctx(backend(base_url))).expect("adapter builds")
}

async fn store(name: &str) -> Store {
    scratch_store(name).await
}

/// A resolved, totalled order as the shop hands it over: two lines (custom and catalog), one destination.
fn order(email: &str, status_id: u8) -> Order {
    let doc = json!({
        "customer_id": 0,
        "status_id": status_id,
        "billing_address": {
            "first_name": "Jane", "last_name": "Doe", "street_1": "1 Main St", "city": "Austin",
            "state": "Texas", "zip": "78751", "country": "United States", "country_iso2": "US", "email": email
        },
        "shipping_addresses": [{
            "first_name": "Trish", "last_name": "Smith", "street_1": "666 Sussex St", "city": "Austin",
            "state": "Texas", "zip": "78751", "country": "United States", "country_iso2": "US",
            "email": email, "shipping_method": "Flat Rate"
        }],
        "products": [
            {"name": "Mug", "sku": "MUG-1", "quantity": 2, "price_ex_tax": 10, "price_inc_tax": 10},
            {"product_id": 77, "name": "Poster", "quantity": 1, "price_ex_tax": 5.5, "price_inc_tax": 5.5}
        ],
        "base_shipping_cost": "4.00", "shipping_cost_ex_tax": "4.00", "shipping_cost_inc_tax": "4.00",
        "customer_message": "ring twice"
    });
    let mut o = decode_create_request(
        doc,
        &DecodeOptions {
            default_currency: Some(usd()),
        },
    )
    .expect("sample decodes");
    o.recompute_totals();
    o
}

async fn journal(store: &Store, stamp: &Stamp) -> Journal {
    journal_for(store, stamp).await
}

/// Creates `order` under a fresh stamp, as `UpstreamShop` would on a first attempt.
async fn create_fresh(a: &BigCommerceAdapter, store: &Store, order: &Order) -> (Order, Stamp) {
    let stamp = Stamp::fresh();
    let created = a
        .create(
            order,
            &stamp,
            &journal(store, &stamp).await,
            CreateReply::Order,
        )
        .await
        .expect("created");
    (created, stamp)
}

fn bc_id(o: &Order) -> u64 {
    o.ids.platform.bigcommerce.expect("upstream id")
}

fn money(minor: i64) -> Money {
    Money::new(minor, usd())
}

// ---- adapter ----

#[tokio::test]
async fn adapter_creates_reads_and_finds_by_stamp() {
    let fake = start().await;
    let a = adapter(&fake.base_url());
    let store = store("bc-create").await;
    let (created, stamp) = create_fresh(&a, &store, &order("jane@example.com", 7)).await;

    let id = bc_id(&created);
    assert_eq!(fake.with(|f| f.order_count()), 1);
    assert_eq!(
        fake.with(|f| f.count_with_external_order_id(stamp.key())),
        1
    );
    let stored = fake.with(|f| f.expanded(id)).unwrap();
    assert_eq!(stored["status_id"], 7, "status set by the create itself");
    assert_eq!(stored["external_source"], "ordermux");
    assert_eq!(
        stored["external_id"],
        Value::Null,
        "read-only field never written"
    );
    assert_eq!(stored["total_inc_tax"], "29.5000");
    assert_eq!(stored["products"].as_array().unwrap().len(), 2);
    assert_eq!(stored["products"][1]["product_id"], 77);

    // The returned order carries BigCommerce's own ids everywhere, and the triple the create asked for.
    assert!(created
        .line_items
        .iter()
        .all(|l| l.ids.bigcommerce.is_some()));
    assert!(created.shipping_destinations[0].ids.bigcommerce.is_some());
    assert_eq!(
        created.line_items[1].product.bigcommerce_product_id,
        Some(77)
    );
    assert_eq!(
        created.status_triple(),
        StatusTriple {
            order: OrderStatus::Placed,
            payment: PaymentStatus::Unpaid,
            fulfillment: FulfillmentStatus::Unfulfilled
        }
    );
    assert_eq!(created.totals.total, money(2950));
    assert_eq!(created.customer_note.as_deref(), Some("ring twice"));
    assert_eq!(
        created.external_ref.reference, None,
        "the stamp is not the order's reference"
    );
    assert_eq!(created.customer.email.as_deref(), Some("jane@example.com"));

    let found = a
        .find_by_stamp(&stamp)
        .await
        .unwrap()
        .expect("found by stamp");
    assert_eq!(bc_id(&found), id);
    assert!(a.find_by_stamp(&Stamp::fresh()).await.unwrap().is_none());

    let got = a.get(&id.to_string()).await.unwrap();
    assert_eq!(got, created);
    assert!(matches!(
        a.get("999999").await,
        Err(UpstreamError::Rejected { status, .. }) if status.as_u16() == 404
    ));
}

#[tokio::test]
async fn adapter_resumes_from_the_journal_without_posting_again() {
    let fake = start().await;
    let a = adapter(&fake.base_url());
    let store = store("bc-resume").await;
    let (first, stamp) = create_fresh(&a, &store, &order("resume@example.com", 7)).await;
    // The shop found the order by its stamp and noted its id: a second create reads it back.
    let noted = Journal::new(
        store.clone(),
        "up",
        stamp.key(),
        json!({"order_id": bc_id(&first)}),
    );
    let again = a
        .create(
            &order("resume@example.com", 7),
            &stamp,
            &noted,
            CreateReply::Order,
        )
        .await
        .unwrap();
    assert_eq!(again, first);
    assert_eq!(fake.count("POST", "/orders"), 1);
    assert_eq!(fake.with(|f| f.order_count()), 1);
}

#[tokio::test]
async fn an_own_external_reference_lives_in_staff_notes_and_reads_back() {
    let fake = start().await;
    let a = adapter(&fake.base_url());
    let store = store("bc-ref").await;
    let mut o = order("ref@example.com", 1);
    o.external_ref.reference = Some("AMZ-1".into());
    o.staff_note = Some("gift".into());
    let (created, stamp) = create_fresh(&a, &store, &o).await;
    // The stamp keeps external_order_id; the reference rides on a staff-notes line and comes back as itself.
    let id = bc_id(&created);
    let doc = fake.with(|f| f.expanded(id)).unwrap();
    assert_eq!(doc["external_order_id"], stamp.key());
    assert_eq!(doc["staff_notes"], "gift\nordermux-reference: AMZ-1");
    assert_eq!(created.external_ref.reference.as_deref(), Some("AMZ-1"));
    assert_eq!(created.staff_note.as_deref(), Some("gift"));
    assert!(a.find_by_stamp(&stamp).await.unwrap().is_some());
    // Changing it is a staff-notes write; the stamp stays.
    let mut after = created.clone();
    after.external_ref.reference = Some("AMZ-2".into());
    let updated = a.update(&created, &after).await.unwrap();
    assert_eq!(updated.external_ref.reference.as_deref(), Some("AMZ-2"));
    let doc = fake.with(|f| f.expanded(id)).unwrap();
    assert_eq!(doc["external_order_id"], stamp.key());
    assert_eq!(doc["staff_notes"], "gift\nordermux-reference: AMZ-2");
}

#[tokio::test]
async fn empty_sub_resources_are_204_and_read_as_empty() {
    let fake = start().await;
    let a = adapter(&fake.base_url());
    let store = store("bc-204").await;
    let mut o = order("digital@example.com", 1);
    o.shipping_destinations.clear();
    o.shipping_lines.clear();
    for l in &mut o.line_items {
        l.destination = None;
    }
    o.recompute_totals();
    let (created, _) = create_fresh(&a, &store, &o).await;
    assert!(created.shipping_destinations.is_empty());
    assert!(created.discounts.is_empty());
    // Coupons are always empty on API orders: BigCommerce answers 204 with no body, and so does the fake.
    let again = a.get(&bc_id(&created).to_string()).await.unwrap();
    assert_eq!(again, created);
    let coupons: Vec<_> = fake
        .seen()
        .into_iter()
        .filter(|s| s.path.ends_with("/coupons"))
        .collect();
    assert!(!coupons.is_empty() && coupons.iter().all(|s| s.status == 204));
}

#[tokio::test]
async fn adapter_lists_pages_filters_and_refuses_what_bigcommerce_cannot_filter() {
    let fake = start().await;
    let a = adapter(&fake.base_url());
    let store = store("bc-list").await;
    let mut ids = Vec::new();
    for (i, status) in [7u8, 7, 11, 7, 1].into_iter().enumerate() {
        let stamp = Stamp::fresh();
        let email = if i == 2 {
            "vip@example.com".to_owned()
        } else {
            format!("c{i}@example.com")
        };
        let o = a
            .create(
                &order(&email, status),
                &stamp,
                &journal(&store, &stamp).await,
                CreateReply::Order,
            )
            .await
            .unwrap();
        ids.push(bc_id(&o));
    }
    let query = |page: u32, per_page: u32| OrderQuery {
        filter: OrderFilter::default(),
        sort: SortKey::Id,
        descending: false,
        page,
        per_page,
    };
    let mut seen = Vec::new();
    for page in 1..=3 {
        let p = a.list(&query(page, 2)).await.unwrap();
        assert_eq!(p.total, 5, "page {page}");
        seen.extend(p.items.iter().map(bc_id));
    }
    assert_eq!(seen, ids);
    // Past the last page BigCommerce answers 204: an empty page, total still known.
    let past = a.list(&query(4, 2)).await.unwrap();
    assert!(past.items.is_empty());
    assert_eq!(past.total, 5);

    let mut desc = query(1, 10);
    desc.descending = true;
    let all = a.list(&desc).await.unwrap();
    assert_eq!(
        all.items.iter().map(bc_id).collect::<Vec<_>>(),
        ids.iter().rev().copied().collect::<Vec<_>>()
    );

    let mut by_email = query(1, 10);
    by_email.filter.email = Some("vip@example.com".into());
    let p = a.list(&by_email).await.unwrap();
    assert_eq!(
        (p.total, p.items.iter().map(bc_id).collect::<Vec<_>>()),
        (1, vec![ids[2]])
    );

    // Every triple that renders as status_id 7 (Awaiting Payment): one BigCommerce status.
    let mut by_status = query(1, 2);
    by_status.filter.statuses = Some(ordermux::dialects::bigcommerce::triples_with_status_id(7));
    let p = a.list(&by_status).await.unwrap();
    assert_eq!(p.total, 3);
    assert_eq!(
        p.items.iter().map(bc_id).collect::<Vec<_>>(),
        vec![ids[0], ids[1]]
    );
    assert!(
        fake.seen()
            .iter()
            .any(|s| s.path.ends_with("/orders/count")),
        "full page → total from /orders/count"
    );
    // A caller whose reply carries no total (BigCommerce's own list) gets the same page without the count.
    let counts = fake.count("GET", "/orders/count");
    let alone = a.list_page(&by_status).await.unwrap();
    assert_eq!(alone.items, p.items);
    assert_eq!(fake.count("GET", "/orders/count"), counts);

    let mut by_id = query(1, 10);
    by_id.filter.id_range = Some((
        Platform::BigCommerce,
        Range {
            min: Some(ids[1]),
            max: Some(ids[3]),
        },
    ));
    let p = a.list(&by_id).await.unwrap();
    assert_eq!(
        p.items.iter().map(bc_id).collect::<Vec<_>>(),
        ids[1..=3].to_vec()
    );

    let mut by_total = query(1, 10);
    by_total.filter.total = Range {
        min: Some(2950),
        max: Some(2950),
    };
    assert_eq!(a.list(&by_total).await.unwrap().total, 5);
    by_total.filter.total = Range {
        min: Some(2951),
        max: None,
    };
    assert_eq!(a.list(&by_total).await.unwrap().total, 0);

    let mut by_date = query(1, 10);
    by_date.filter.created = Range {
        min: Some(chrono::Utc::now() - chrono::Duration::hours(1)),
        max: None,
    };
    assert_eq!(a.list(&by_date).await.unwrap().total, 5);

    // Filters BigCommerce has no parameter for are refused, never ignored.
    let refused = |f: fn(&mut OrderQuery)| {
        let mut q = query(1, 10);
        f(&mut q);
        q
    };
    for q in [
        refused(|q| q.filter.search = Some("jane".into())),
        refused(|q| q.filter.number = Some("100".into())),
        refused(|q| q.filter.currency = Some("USD".into())),
        refused(|q| q.sort = SortKey::Total),
        refused(|q| q.per_page = 500),
        refused(|q| {
            let mut mixed = ordermux::dialects::bigcommerce::triples_with_status_id(7);
            mixed.extend(ordermux::dialects::bigcommerce::triples_with_status_id(11));
            q.filter.statuses = Some(mixed);
        }),
    ] {
        let before = fake.seen().len();
        match a.list(&q).await {
            Err(UpstreamError::Unsupported(p)) => assert_eq!(p.kind, ProblemKind::InvalidParameter),
            other => panic!("expected Unsupported for {q:?}, got {other:?}"),
        }
        assert_eq!(fake.seen().len(), before, "refused before sending");
    }
}

#[tokio::test]
async fn adapter_updates_lines_notes_and_billing() {
    let fake = start().await;
    let a = adapter(&fake.base_url());
    let store = store("bc-update").await;
    let (before, _) = create_fresh(&a, &store, &order("up@example.com", 7)).await;
    let id = bc_id(&before);
    let kept_line = before.line_items[0].ids.bigcommerce.unwrap();
    let removed_line = before.line_items[1].ids.bigcommerce.unwrap();

    let mut after = before.clone();
    after.line_items[0].quantity = 3;
    after.line_items.remove(1);
    let mut added = after.line_items[0].clone();
    added.ids = Default::default();
    added.name = "Tote".into();
    added.product.sku = Some("TOTE-1".into());
    added.quantity = 1;
    added.unit_price = money(1200);
    after.line_items.push(added);
    after.staff_note = Some("fragile".into());
    after.customer_note = None;
    if let Some(b) = after.billing_address.as_mut() {
        b.line1 = "2 Side St".into();
    }
    after.recompute_totals();
    let updated = a.update(&before, &after).await.expect("updated");

    let stored = fake.with(|f| f.expanded(id)).unwrap();
    let products = stored["products"].as_array().unwrap();
    assert_eq!(products.len(), 2);
    assert_eq!(products[0]["id"], kept_line);
    assert_eq!(products[0]["quantity"], 3);
    assert_eq!(products[1]["name"], "Tote");
    assert!(products.iter().all(|p| p["id"] != removed_line));
    assert_eq!(stored["staff_notes"], "fragile");
    assert_eq!(stored["customer_message"], "");
    assert_eq!(stored["billing_address"]["street_1"], "2 Side St");
    assert_eq!(
        stored["total_inc_tax"], "46.0000",
        "3×10 + 12 + 4 shipping, recomputed upstream"
    );

    assert_eq!(updated.line_items.len(), 2);
    assert_eq!(updated.line_items[0].ids.bigcommerce, Some(kept_line));
    assert_eq!(updated.line_items[0].quantity, 3);
    assert!(updated.line_items[1].ids.bigcommerce.is_some());
    assert_eq!(updated.staff_note.as_deref(), Some("fragile"));
    assert_eq!(updated.totals.total, money(4600));
    assert_eq!(updated.status_triple(), before.status_triple());

    // Nothing to change: no write.
    let puts = fake.count("PUT", "/orders/");
    let same = a.update(&updated, &updated).await.unwrap();
    assert_eq!(fake.count("PUT", "/orders/"), puts);
    assert_eq!(bc_id(&same), id);

    // What BigCommerce cannot do is named, not attempted.
    let mut no_address = updated.clone();
    no_address.shipping_destinations.clear();
    let err = a.update(&updated, &no_address).await.unwrap_err();
    assert!(matches!(err, UpstreamError::Unsupported(_)), "{err:?}");
    assert_eq!(fake.count("PUT", "/orders/"), puts);
    // A status carried by an update (BigCommerce PUT status_id, Commerce Layer triggers) goes in the same PUT.
    let mut other_status = updated.clone();
    other_status.status = OrderStatus::Cancelled;
    let cancelled = a.update(&updated, &other_status).await.unwrap();
    assert_eq!(cancelled.status, OrderStatus::Cancelled);
    assert_eq!(fake.with(|f| f.order(id).unwrap().status_id), 5);
}

fn step(order: &Order, t: &Transition) -> Order {
    let mut after = order.clone();
    lifecycle::apply(&mut after, t, chrono::Utc::now()).expect("lifecycle accepts");
    after
}

#[tokio::test]
async fn adapter_transitions_by_status_id_and_archives_on_delete() {
    let fake = start().await;
    let a = adapter(&fake.base_url());
    let store = store("bc-transition").await;
    let (mut o, _) = create_fresh(&a, &store, &order("flow@example.com", 1)).await;
    let id = bc_id(&o);
    assert_eq!(o.status, OrderStatus::Pending);
    let status_of = |fake: &Fake<BigCommerceFake>| fake.with(|f| f.order(id).unwrap().status_id);

    for (t, status_id) in [
        (Transition::Place, 7u8),
        (
            Transition::MarkPaid {
                method: Some("cash".into()),
            },
            11,
        ),
        (Transition::Fulfill, 2),
        (
            Transition::Refund {
                amount: Some(money(1000)),
            },
            14,
        ),
        (Transition::Refund { amount: None }, 4),
    ] {
        let after = step(&o, &t);
        o = a
            .transition(&o, &t, &after)
            .await
            .unwrap_or_else(|e| panic!("{t:?}: {e}"));
        assert_eq!(status_of(&fake), status_id, "{t:?}");
        assert_eq!(bc_id(&o), id);
    }
    let stored = fake.with(|f| f.expanded(id)).unwrap();
    assert_eq!(stored["payment_method"], "cash");
    assert_eq!(stored["refunded_amount"], "29.5000");
    assert_eq!(o.payment_status, PaymentStatus::Refunded);

    // A second order for approve / cancel and the operations BigCommerce lacks.
    let (mut p, _) = create_fresh(&a, &store, &order("flow2@example.com", 7)).await;
    let pid = bc_id(&p);
    for (t, status_id) in [
        // Authorized, uncaptured: Awaiting Payment, which BigCommerce's decoder reads back as authorized.
        (Transition::Authorize, 7u8),
        (Transition::Approve, 11),
        (Transition::Cancel, 5),
    ] {
        let after = step(&p, &t);
        p = a.transition(&p, &t, &after).await.unwrap();
        assert_eq!(
            fake.with(|f| f.order(pid).unwrap().status_id),
            status_id,
            "{t:?}"
        );
    }
    assert_eq!(p.status, OrderStatus::Cancelled);
    let set = Transition::Set(StatusTriple {
        order: OrderStatus::OnHold,
        payment: PaymentStatus::Paid,
        fulfillment: FulfillmentStatus::Unfulfilled,
    });
    let after = step(&p, &set);
    a.transition(&p, &set, &after).await.unwrap();
    assert_eq!(fake.with(|f| f.order(pid).unwrap().status_id), 12);

    a.delete(&pid.to_string()).await.unwrap();
    assert!(fake.with(|f| f.order(pid).unwrap().deleted));
    assert_eq!(fake.with(|f| f.order_count()), 1);
    match a.get(&pid.to_string()).await {
        Err(UpstreamError::Unsupported(p)) => assert_eq!(p.kind, ProblemKind::NotFound),
        other => panic!("archived order still served: {other:?}"),
    }
    let q = OrderQuery {
        filter: OrderFilter::default(),
        sort: SortKey::Id,
        descending: false,
        page: 1,
        per_page: 50,
    };
    assert_eq!(
        a.list(&q).await.unwrap().total,
        1,
        "archived orders leave the list"
    );
}

#[tokio::test]
async fn adapter_reads_bigcommerce_errors() {
    let fake = start().await;
    let a = adapter(&fake.base_url());
    let store = store("bc-errors").await;
    let stamp = Stamp::fresh();
    let mut bad = order("bad@example.com", 1);
    if let Some(b) = bad.billing_address.as_mut() {
        b.postal_code = None;
    }
    match a
        .create(
            &bad,
            &stamp,
            &journal(&store, &stamp).await,
            CreateReply::Order,
        )
        .await
    {
        Err(UpstreamError::Rejected {
            status, message, ..
        }) => {
            assert_eq!(status.as_u16(), 422);
            assert!(message.contains("billing_address.zip"), "{message}");
            assert!(
                !message.contains('['),
                "message, not the raw body: {message}"
            );
        }
        other => panic!("expected 422, got {other:?}"),
    }
    assert_eq!(fake.with(|f| f.order_count()), 0);

    match a.get("424242").await {
        Err(UpstreamError::Rejected {
            status, message, ..
        }) => {
            assert_eq!(status.as_u16(), 404);
            assert_eq!(message, "The requested resource was not found.");
        }
        other => panic!("expected 404, got {other:?}"),
    }

    let mut wrong = backend(&fake.base_url());
    wrong.credentials.token = Some(Credential::new("nope"));
    let w = BigCommerceAdapter::new(ctx(wrong)).unwrap();
    match w.get("1").await {
        Err(UpstreamError::Rejected { status, .. }) => assert_eq!(status.as_u16(), 401),
        other => panic!("expected 401, got {other:?}"),
    }

    let mut no_hash = backend(&fake.base_url());
    no_hash.store_hash = None;
    assert!(BigCommerceAdapter::new(ctx(no_hash)).is_err());
    let mut no_token = backend(&fake.base_url());
    no_token.credentials.token = None;
    assert!(BigCommerceAdapter::new(ctx(no_token)).is_err());
}

#[tokio::test]
async fn pacing_keeps_within_the_advertised_budget() {
    const QUOTA: u64 = 4;
    let window = Duration::from_millis(400);

    // The fake does enforce its budget: a burst past it draws a 429 with BigCommerce's headers.
    let burst = Fake::start(fake_store().with_rate_limit(QUOTA, window)).await;
    let http = reqwest::Client::new();
    let url = format!("{}/stores/{HASH}/v2/orders/count", burst.base_url());
    let mut last = None;
    for _ in 0..=QUOTA {
        last = Some(
            http.get(&url)
                .header("x-auth-token", TOKEN)
                .header("x-auth-client", CLIENT)
                .send()
                .await
                .unwrap(),
        );
    }
    let last = last.unwrap();
    assert_eq!(last.status().as_u16(), 429);
    for h in [
        "x-rate-limit-requests-quota",
        "x-rate-limit-requests-left",
        "x-rate-limit-time-window-ms",
        "x-rate-limit-time-reset-ms",
        "x-retry-after",
    ] {
        assert!(last.headers().contains_key(h), "{h}");
    }
    assert_eq!(burst.throttled().0, 1);

    // Through the adapter, 3×quota sequential calls: the first reply tells the pacer the budget, which then
    // waits out each window instead of drawing a 429.
    let fake = Fake::start(fake_store().with_rate_limit(QUOTA, window)).await;
    let a = adapter(&fake.base_url());
    for _ in 0..3 * QUOTA {
        assert!(a.find_by_stamp(&Stamp::fresh()).await.unwrap().is_none());
    }
    let (throttled, seen) = fake.throttled();
    assert_eq!(seen as u64, 3 * QUOTA);
    assert_eq!(throttled, 0, "adapter calls drew 429s: {:?}", fake.seen());
}

/// Concurrent calls (a replay runs several at once) keep within the budget too: each reply's
/// `X-Rate-Limit-Requests-Left` was counted before the calls still in flight reach the shop, so those are
/// taken off it, and none draws a 429.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_keep_within_the_advertised_budget() {
    const QUOTA: u64 = 20;
    const TASKS: u64 = 8;
    const CALLS: u64 = 12;
    let fake = Fake::start(fake_store().with_rate_limit(QUOTA, Duration::from_millis(300))).await;
    let a = std::sync::Arc::new(adapter(&fake.base_url()));
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let a = a.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..CALLS {
                assert!(a.find_by_stamp(&Stamp::fresh()).await.unwrap().is_none());
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let (throttled, seen) = fake.throttled();
    assert_eq!(throttled, 0, "{throttled} of {seen} calls drew a 429");
    assert_eq!(seen as u64, TASKS * CALLS);
}

// ---- fault injection through UpstreamShop ----

async fn shop(base_url: &str, name: &str) -> Arc<UpstreamShop> {
    UpstreamShop::new(ctx(backend(base_url)), store(name).await).expect("shop")
}

fn with_stamp(fake: &Fake<BigCommerceFake>, client: &str, key: &str) -> usize {
    fake.with(|f| f.count_with_external_order_id(Stamp::for_key(client, key).key()))
}

#[tokio::test]
async fn refused_connection_creates_nothing() {
    let fake = start().await;
    let closed = crate::fakes::RefusingPort::new();
    let s = shop(&closed.url(), "bc-refused").await;
    let err = s
        .create("demo", order("r@example.com", 7), Some("k-refused".into()))
        .await;
    assert!(err.is_err());
    assert_eq!(fake.with(|f| f.order_count()), 0);
}

#[tokio::test]
async fn slow_create_then_retry_makes_exactly_one_order() {
    let fake = start().await;
    let mut b = backend(&fake.base_url());
    b.timeout = Duration::from_millis(300);
    let s = UpstreamShop::new(ctx(b), store("bc-slow").await).unwrap();
    fake.fail(
        Some("POST"),
        Some("/orders"),
        Fault::DelayAfter(Duration::from_millis(900)),
        1,
    );
    let first = s
        .create("demo", order("slow@example.com", 7), Some("k-slow".into()))
        .await;
    let second = s
        .create("demo", order("slow@example.com", 7), Some("k-slow".into()))
        .await
        .expect("retry succeeds");
    if let Ok(first) = first {
        assert_eq!(
            first.ids.platform.bigcommerce,
            second.ids.platform.bigcommerce
        );
    }
    assert_eq!(fake.with(|f| f.order_count()), 1);
    assert_eq!(with_stamp(&fake, "demo", "k-slow"), 1);
    // No POST count here: the delayed reply is never recorded by the fake once the client has gone.
}

/// F3 of the reliability plan: the upstream makes the order only after the gateway gave up waiting (slow, then it
/// acts). A retry that comes before then finds nothing by the stamp; sending again would make a second order when
/// the first lands. It is told to come back (409 with Retry-After) until the first attempt has had the backend's
/// `settle` to show up; it adopts the order once it is there.
#[tokio::test]
async fn an_order_the_upstream_makes_late_is_not_sent_twice() {
    let fake = start().await;
    let mut b = backend(&fake.base_url());
    b.timeout = Duration::from_millis(300);
    b.settle = Duration::from_millis(1_500);
    let s = UpstreamShop::new(ctx(b), store("bc-late").await).unwrap();
    fake.fail(
        Some("POST"),
        Some("/orders"),
        Fault::Late(Duration::from_millis(500)),
        1,
    );
    let first = s
        .create("demo", order("late@example.com", 7), Some("k-late".into()))
        .await;
    assert!(first.is_err(), "the first attempt timed out");
    let settle_from = std::time::Instant::now();
    let early = s
        .create("demo", order("late@example.com", 7), Some("k-late".into()))
        .await;
    match early {
        Err(e) => {
            let p = e.into_problem("order");
            assert_eq!(p.kind, ProblemKind::IdempotencyInFlight, "{p:?}");
            assert!(p.retry_after.is_some());
        }
        Ok(o) => panic!(
            "sent again while the first attempt could still land: {:?}",
            o.ids
        ),
    }
    // The first attempt lands upstream meanwhile; once the window has passed, a retry adopts it.
    let settled = loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        match s
            .create("demo", order("late@example.com", 7), Some("k-late".into()))
            .await
        {
            Ok(o) => break o,
            Err(e) => {
                let p = e.into_problem("order");
                assert_eq!(p.kind, ProblemKind::IdempotencyInFlight, "{p:?}");
                assert!(
                    settle_from.elapsed() < Duration::from_secs(5),
                    "still unsettled after 5 s"
                );
            }
        }
    };
    assert!(settled.ids.platform.bigcommerce.is_some());
    assert_eq!(fake.with(|f| f.order_count()), 1);
    assert_eq!(with_stamp(&fake, "demo", "k-late"), 1);
}

/// A failure before the platform saw the create: the caller is told it failed, the retry creates it once.
async fn unseen_failure_then_retry(fault: Fault, name: &str) {
    let fake = start().await;
    let s = shop(&fake.base_url(), name).await;
    fake.fail(Some("POST"), Some("/orders"), fault.clone(), 1);
    let first = s
        .create("demo", order("f@example.com", 7), Some(name.into()))
        .await;
    assert!(first.is_err(), "{fault:?}: the caller learns it failed");
    assert_eq!(fake.with(|f| f.order_count()), 0, "{fault:?}: no phantom");
    let second = s
        .create("demo", order("f@example.com", 7), Some(name.into()))
        .await
        .unwrap_or_else(|e| panic!("{fault:?}: retry failed: {e}"));
    assert!(second.ids.platform.bigcommerce.is_some());
    assert_eq!(fake.with(|f| f.order_count()), 1, "{fault:?}: not lost");
    assert_eq!(
        with_stamp(&fake, "demo", name),
        1,
        "{fault:?}: no duplicate"
    );
}

#[tokio::test]
async fn server_error_then_retry_makes_exactly_one_order() {
    unseen_failure_then_retry(Fault::Status(500), "bc-5xx").await;
}

#[tokio::test]
async fn malformed_reply_then_retry_makes_exactly_one_order() {
    unseen_failure_then_retry(Fault::MalformedJson, "bc-malformed").await;
}

#[tokio::test]
async fn html_error_page_then_retry_makes_exactly_one_order() {
    unseen_failure_then_retry(Fault::Html, "bc-html").await;
}

/// A creator that needs only the new order's ids (a FluentCart caller, `ordermux replay`) takes the id from the
/// create's reply alone; the invariants hold when that reply is broken before the platform saw the create, or lost
/// or cut off after it made the order.
#[tokio::test]
async fn a_create_for_ids_takes_the_upstream_id_and_keeps_the_invariants() {
    for (fault, name) in [
        (None, "ids-ok"),
        (Some(Fault::MalformedJson), "ids-malformed"),
        (Some(Fault::ResetAfter), "ids-reset-after"),
        (Some(Fault::ResetMidBody), "ids-reset-mid"),
    ] {
        let fake = start().await;
        let s = shop(&fake.base_url(), name).await;
        if let Some(fault) = &fault {
            fake.fail(Some("POST"), Some("/orders"), fault.clone(), 1);
        }
        let first = s
            .create_ids("demo", order("ids@example.com", 7), Some(name.into()))
            .await;
        match &fault {
            None => assert!(first.is_ok(), "{first:?}"),
            // Unseen by the platform: the caller learns it failed.
            Some(Fault::MalformedJson) => assert!(first.is_err(), "{first:?}"),
            // Made, reply lost: reconciled through the stamp, within this call or the retry.
            Some(_) => {}
        }
        let second = s
            .create_ids("demo", order("ids@example.com", 7), Some(name.into()))
            .await
            .unwrap_or_else(|e| panic!("{fault:?}: retry failed: {e}"));
        let id = second.platform.bigcommerce.expect("the upstream's id");
        assert!(fake.with(|f| f.order(id).is_some()), "{fault:?}: {id}");
        if let Ok(first) = first {
            assert_eq!(first.platform, second.platform, "{fault:?}");
        }
        assert_eq!(fake.with(|f| f.order_count()), 1, "{fault:?}: not lost");
        assert_eq!(
            with_stamp(&fake, "demo", name),
            1,
            "{fault:?}: no duplicate"
        );
    }
}

/// The platform made the order but the reply was lost: reconciliation finds it, a retry returns it.
async fn lost_reply_is_reconciled(fault: Fault, name: &str) {
    let fake = start().await;
    let s = shop(&fake.base_url(), name).await;
    fake.fail(Some("POST"), Some("/orders"), fault.clone(), 1);
    let first = s
        .create("demo", order("l@example.com", 7), Some(name.into()))
        .await;
    let second = s
        .create("demo", order("l@example.com", 7), Some(name.into()))
        .await
        .unwrap_or_else(|e| panic!("{fault:?}: retry failed: {e}"));
    if let Ok(first) = first {
        assert_eq!(
            first.ids.platform.bigcommerce,
            second.ids.platform.bigcommerce
        );
    }
    assert_eq!(fake.with(|f| f.order_count()), 1, "{fault:?}");
    assert_eq!(
        with_stamp(&fake, "demo", name),
        1,
        "{fault:?}: no duplicate"
    );
    assert_eq!(fake.count("POST", "/orders"), 1, "{fault:?}: never resent");
}

#[tokio::test]
async fn reset_after_create_is_reconciled_not_resent() {
    lost_reply_is_reconciled(Fault::ResetAfter, "bc-reset-after").await;
}

#[tokio::test]
async fn reset_mid_body_is_reconciled_not_resent() {
    lost_reply_is_reconciled(Fault::ResetMidBody, "bc-reset-mid").await;
}

#[tokio::test]
async fn failed_read_back_after_create_is_reconciled_not_resent() {
    // The POST succeeds; every read of its products fails for a while. The shop must not take this for
    // "never sent" (which would resend the create).
    let fake = start().await;
    let s = shop(&fake.base_url(), "bc-readback").await;
    fake.fail(Some("GET"), Some("/products"), Fault::Status(503), 8);
    let _ = s
        .create("demo", order("rb@example.com", 7), Some("k-rb".into()))
        .await;
    let second = s
        .create("demo", order("rb@example.com", 7), Some("k-rb".into()))
        .await;
    if second.is_err() {
        // Still failing reads: one more retry once the faults are spent.
        s.create("demo", order("rb@example.com", 7), Some("k-rb".into()))
            .await
            .expect("retry succeeds");
    }
    assert_eq!(fake.count("POST", "/orders"), 1);
    assert_eq!(with_stamp(&fake, "demo", "k-rb"), 1);
}

#[tokio::test]
async fn rate_limited_create_is_retried_after_the_advertised_wait() {
    let fake = start().await;
    let s = shop(&fake.base_url(), "bc-429").await;
    fake.fail(
        Some("POST"),
        Some("/orders"),
        Fault::RateLimited {
            retry_after_secs: 1,
        },
        1,
    );
    let created = s
        .create("demo", order("rl@example.com", 7), Some("k-429".into()))
        .await
        .expect("retried after the 429");
    assert!(created.ids.platform.bigcommerce.is_some());
    assert_eq!(fake.count("POST", "/orders"), 2, "the 429 and the retry");
    assert_eq!(with_stamp(&fake, "demo", "k-429"), 1);
}

#[tokio::test]
async fn rejected_create_leaves_no_phantom() {
    let fake = start().await;
    let s = shop(&fake.base_url(), "bc-422").await;
    let mut bad = order("bad@example.com", 7);
    if let Some(b) = bad.billing_address.as_mut() {
        b.postal_code = Some("7".into());
    }
    let err = s
        .create("demo", bad.clone(), Some("k-422".into()))
        .await
        .unwrap_err();
    let problem = err.into_problem("order");
    assert_eq!(problem.kind, ProblemKind::InvalidField);
    assert_eq!(fake.with(|f| f.order_count()), 0);
    // The same key again is refused the same way, still nothing upstream.
    assert!(s.create("demo", bad, Some("k-422".into())).await.is_err());
    assert_eq!(fake.with(|f| f.order_count()), 0);
}

#[tokio::test]
async fn adapter_enum_dispatches_to_bigcommerce() {
    let fake = start().await;
    let adapter = Adapter::new(ctx(backend(&fake.base_url())))
        .unwrap()
        .expect("an upstream adapter");
    assert_eq!(adapter.platform(), Platform::BigCommerce);
    let found = adapter.look_up_stamp(&Stamp::fresh()).await.unwrap();
    assert!(found.order.is_none() && !found.unfinished);
}

// ---- through the gateway, one caller per dialect ----

mod gateway {
    use std::time::Duration;

    use ordermux::canonical::Platform;
    use ordermux::config::{Backend, Config, Credential, Credentials};
    use reqwest::Method;
    use serde_json::{json, Value};

    use super::super::harness::*;
    use super::{fake_store, CLIENT, HASH, TOKEN};
    use crate::fakes::bigcommerce::BigCommerceFake;
    use crate::fakes::{Fake, Fault};

    /// Every caller dialect translated to the BigCommerce fake (BigCommerce callers on store `demo`).
    fn config(name: &str, base_url: String) -> Config {
        routed_to(
            name,
            Backend {
                store_hash: Some(HASH.into()),
                credentials: Credentials {
                    token: Some(Credential::new(TOKEN)),
                    client_id: Some(Credential::new(CLIENT)),
                    ..Credentials::default()
                },
                connect_timeout: Duration::from_millis(300),
                timeout: Duration::from_millis(700),
                total_timeout: Duration::from_millis(1_500),
                breaker_failures: 1_000,
                ..Backend::upstream("up", Platform::BigCommerce, base_url)
            },
        )
    }

    async fn start(name: &str) -> (Fake<BigCommerceFake>, TestGateway) {
        let fake = Fake::start(fake_store()).await;
        let gw = TestGateway::start_with(config(name, fake.base_url())).await;
        (fake, gw)
    }

    fn only_order(fake: &Fake<BigCommerceFake>) -> Value {
        let ids = fake.with(|f| f.ids());
        assert_eq!(ids.len(), 1, "exactly one order upstream");
        fake.with(|f| f.expanded(ids[0])).unwrap()
    }

    fn bc_body(email: &str) -> Value {
        super::super::bigcommerce::create_body(email)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replies_validate_against_the_specs() {
        let (_fake, gw) = start("bcgw-spec").await;
        super::super::spec_replies::every_dialect(&gw, "a BigCommerce shop").await;
        gw.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn changed_creates_are_refused_whole_or_made_once() {
        let (fake, gw) = start("bcgw-mutations").await;
        let orders = || fake.with(|f| f.ids().len());
        super::super::upstream_mutations::every_caller(&gw, Some(&orders)).await;
        gw.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn generated_queries_are_answered_or_refused_in_the_callers_shape() {
        let (_fake, gw) = start("bcgw-queries").await;
        super::super::upstream_queries::every_caller(&gw).await;
        gw.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_order_the_shop_answers_unreadably_is_left_out_of_list_pages_and_named() {
        let (fake, gw) = start("bcgw-left-out").await;
        // Its creation date is not a date.
        let date_created = |date: Value| {
            fake.with(|f| {
                let second = f.ids()[1];
                f.set_member(second, "date_created", date);
            })
        };
        super::super::upstream_left_out::every_callers_list(
            &gw,
            || date_created(json!("yesterday-ish")),
            || date_created(json!("Tue, 04 Mar 2025 15:22:41 +0000")),
        )
        .await;
        gw.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn wrong_shaped_replies_are_errors_in_the_callers_dialect() {
        let fake = Fake::start(fake_store()).await;
        let config = config("bcgw-shapes", fake.base_url());
        let orders = || fake.with(|f| f.ids().len());
        super::super::upstream_shapes::run(config, &fake, orders, &[]).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bigcommerce_callers_create_read_list_update_and_transition() {
        let (fake, gw) = start("bcgw-bc").await;
        let created = gw
            .bc(Method::POST, "/orders")
            .header("idempotency-key", "bc-gw-1")
            .header("x-request-id", "trace-bc-gw-1")
            .json(&bc_body("bc@example.com"))
            .send()
            .await
            .unwrap();
        let status = created.status().as_u16();
        let created: Value = created.json().await.unwrap();
        assert!(status == 200 || status == 201, "{status}: {created}");
        // The shop's calls name the caller's request.
        let seen = fake.seen();
        assert!(!seen.is_empty());
        assert!(
            seen.iter()
                .all(|s| s.request_id.as_deref() == Some("trace-bc-gw-1")),
            "{seen:?}"
        );
        let up = only_order(&fake);
        assert_eq!(up["billing_address"]["email"], "bc@example.com");
        assert_eq!(up["products"].as_array().unwrap().len(), 2);
        assert_eq!(up["products"][0]["product_id"], 111);
        let id = created["id"].as_u64().expect("order id");

        let got = expect(gw.bc(Method::GET, &format!("/orders/{id}")), 200).await;
        assert_eq!(got["id"], id);
        assert_eq!(got["billing_address"]["email"], "bc@example.com");
        let products = expect(gw.bc(Method::GET, &format!("/orders/{id}/products")), 200).await;
        assert_eq!(products.as_array().unwrap().len(), 2);

        let list = expect(gw.bc(Method::GET, "/orders?limit=10"), 200).await;
        assert_eq!(list.as_array().unwrap().len(), 1);

        let updated = expect(
            gw.bc(Method::PUT, &format!("/orders/{id}"))
                .json(&json!({"staff_notes": "rush"})),
            200,
        )
        .await;
        assert_eq!(updated["staff_notes"], "rush");
        assert_eq!(only_order(&fake)["staff_notes"], "rush");

        let moved = expect(
            gw.bc(Method::PUT, &format!("/orders/{id}"))
                .json(&json!({"status_id": 7})),
            200,
        )
        .await;
        assert_eq!(moved["status_id"], 7);
        assert_eq!(only_order(&fake)["status_id"], 7);

        // The same Idempotency-Key again: the first order, nothing new upstream.
        let again = gw
            .bc(Method::POST, "/orders")
            .header("idempotency-key", "bc-gw-1")
            .json(&bc_body("bc@example.com"))
            .send()
            .await
            .unwrap();
        assert!(again.status().is_success());
        assert_eq!(fake.with(|f| f.ids().len()), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fluentcart_callers_create_read_list_update_and_transition() {
        let (fake, gw) = start("bcgw-fc").await;
        // An order made by a BigCommerce caller, read, listed, edited and moved through FluentCart.
        expect(
            gw.bc(Method::POST, "/orders")
                .json(&bc_body("fc@example.com")),
            201,
        )
        .await;
        let list = expect(gw.fc(Method::GET, "/orders?per_page=10"), 200).await;
        assert_eq!(list["orders"]["total"], 1, "{list}");
        let id = list["orders"]["data"][0]["id"]
            .as_u64()
            .expect("FluentCart id");
        let got = expect(gw.fc(Method::GET, &format!("/orders/{id}")), 200).await;
        assert_eq!(got["order"]["id"], id);
        assert_eq!(got["order"]["total_amount"], 5500);
        let items = got["order"]["order_items"].as_array().unwrap().clone();
        assert_eq!(items.len(), 2);
        let shirt = items
            .iter()
            .find(|i| i["object_id"] == 1001)
            .and_then(|i| i["id"].as_u64())
            .expect("shirt line");
        let wrap = items
            .iter()
            .find(|i| i["object_id"] != 1001)
            .and_then(|i| i["id"].as_u64())
            .expect("gift wrap line");

        expect(
            gw.fc(Method::POST, &format!("/orders/{id}")).json(&json!({
                "customer_id": 1,
                "order_items": [{"id": shirt, "quantity": 3, "unit_price": 2500}],
                "deletedItems": [wrap]
            })),
            200,
        )
        .await;
        let up = only_order(&fake);
        let products = up["products"].as_array().unwrap();
        assert_eq!(products.len(), 1, "{up}");
        assert_eq!(products[0]["quantity"], 3);
        assert_eq!(products[0]["product_id"], 111);

        expect(
            gw.fc(Method::PUT, &format!("/orders/{id}/statuses"))
                .json(&json!({
                    "action": "change_order_status",
                    "statuses": {"order_status": "processing"}
                })),
            200,
        )
        .await;
        let after = expect(gw.fc(Method::GET, &format!("/orders/{id}")), 200).await;
        assert_eq!(after["order"]["status"], "processing");
        assert_eq!(only_order(&fake)["status_id"], 11);

        // Awaiting Fulfillment is paid; partly refunded now. A BigCommerce v2 order keeps no payment transactions,
        // so there is none to name: the refund is the order's, recorded upstream as Partially Refunded.
        let txs = expect(
            gw.fc(Method::GET, &format!("/orders/{id}/transactions")),
            200,
        )
        .await;
        assert!(
            txs["order"]["transactions"]
                .as_array()
                .is_none_or(Vec::is_empty),
            "{txs}"
        );
        expect(
            gw.fc(Method::POST, &format!("/orders/{id}/refund"))
                .json(&json!({"refund_info": {"amount": "10.00"}})),
            200,
        )
        .await;
        let up = only_order(&fake);
        assert_eq!(up["refunded_amount"], "10.0000", "{up}");
        assert_eq!(up["status_id"], 14, "{up}");

        // A FluentCart create names a customer but carries no address; BigCommerce requires a billing address,
        // so the customer's default address (catalog.toml) goes with it. Then deleted: archived upstream.
        let before = fake.seen().len();
        let created = expect(
            gw.fc(Method::POST, "/orders").json(&json!({
                "customer_id": 1, "currency": "USD",
                "order_items": [{"object_id": 1001, "quantity": 2}]
            })),
            200,
        )
        .await;
        let first = created["order_id"].as_u64().expect("FluentCart order id");
        // A BigCommerce order has no FluentCart uuid: the member is left out, not null (its schema is a string).
        assert!(created.get("uuid").is_none(), "{created}");
        // FluentCart's reply names the new order only: the create is one call upstream, its products and
        // shipping addresses are not read back.
        let calls: Vec<String> = fake.seen()[before..]
            .iter()
            .map(|s| format!("{} {}", s.method, s.path))
            .collect();
        assert_eq!(calls.len(), 1, "{calls:?}");
        assert!(
            calls[0].starts_with("POST ") && calls[0].contains("/v2/orders"),
            "{calls:?}"
        );
        let newest = fake.with(|f| f.ids().into_iter().max()).unwrap();
        let up = fake.with(|f| f.expanded(newest)).unwrap();
        assert_eq!(up["billing_address"]["zip"], "78701", "{up}");
        assert_eq!(up["billing_address"]["email"], "ada@example.com", "{up}");
        // The first read brings the whole order, its line getting a FluentCart id then.
        let got = expect(gw.fc(Method::GET, &format!("/orders/{first}")), 200).await;
        assert_eq!(got["order"]["id"], first);
        let lines = got["order"]["order_items"].as_array().unwrap();
        assert_eq!(lines.len(), 1, "{got}");
        assert_eq!(lines[0]["object_id"], 1001);
        assert_eq!(lines[0]["quantity"], 2);
        assert!(lines[0]["id"].as_u64().is_some(), "{got}");
        // Asked for again under its own key, the create answers the same order and sends nothing.
        let before_keyed = fake.seen().len();
        let keyed = || {
            gw.fc(Method::POST, "/orders")
                .header("idempotency-key", "fc-on-bc-ids")
                .json(&json!({
                    "customer_id": 1, "currency": "USD",
                    "order_items": [{"object_id": 1001, "quantity": 1}]
                }))
        };
        let made = expect(keyed(), 200).await;
        let replayed = expect(keyed(), 200).await;
        assert_eq!(made["order_id"], replayed["order_id"]);
        assert_ne!(made["order_id"], first);
        assert_eq!(
            fake.seen().len(),
            before_keyed + 1,
            "one create upstream, then a replay"
        );
        expect(gw.fc(Method::DELETE, &format!("/orders/{first}")), 200).await;
        assert!(fake.with(|f| f.order(newest).is_some_and(|o| o.deleted)));
        expect(gw.fc(Method::GET, &format!("/orders/{first}")), 404).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn commercelayer_callers_read_list_and_transition_and_send_no_empty_draft() {
        let (fake, gw) = start("bcgw-cl").await;
        let token = gw.cl_token().await;
        // An order made by another caller, read and moved through Commerce Layer.
        expect(
            gw.bc(Method::POST, "/orders")
                .json(&bc_body("cl@example.com")),
            201,
        )
        .await;
        let list = expect(gw.cl(&token, Method::GET, "/orders"), 200).await;
        let data = list["data"].as_array().unwrap();
        assert_eq!(data.len(), 1, "{list}");
        let id = data[0]["id"].as_str().unwrap().to_owned();
        let got = expect(gw.cl(&token, Method::GET, &format!("/orders/{id}")), 200).await;
        assert_eq!(
            got["data"]["attributes"]["customer_email"],
            "cl@example.com"
        );
        // A BigCommerce billing address has no id: it is named after its order, and can be read by that name. The
        // shipping address has one of its own.
        let billing = got["data"]["relationships"]["billing_address"]["data"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(billing, format!("{id}-billing_address"));
        let shipping = got["data"]["relationships"]["shipping_address"]["data"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_ne!(shipping, format!("{id}-shipping_address"));
        for address in [&billing, &shipping] {
            let read = expect(
                gw.cl(&token, Method::GET, &format!("/addresses/{address}")),
                200,
            )
            .await;
            assert_eq!(read["data"]["id"], address.as_str(), "{read}");
            assert!(read["data"]["attributes"]["line_1"].is_string(), "{read}");
        }
        // Linked again by those names (a client sending back what it read), the order keeps its addresses.
        let seen = fake.seen().len();
        let link = |id: &str| json!({"data": {"type": "addresses", "id": id}});
        let relinked = expect(
            gw.cl(&token, Method::PATCH, &format!("/orders/{id}")).json(
                &json!({"data": {"type": "orders", "id": id, "relationships": {
                    "billing_address": link(&billing), "shipping_address": link(&shipping)}}}),
            ),
            200,
        )
        .await;
        for (role, address) in [
            ("billing_address", &billing),
            ("shipping_address", &shipping),
        ] {
            assert_eq!(
                relinked["data"]["relationships"][role]["data"]["id"],
                address.as_str(),
                "{relinked}"
            );
        }
        assert!(
            fake.seen()[seen..].iter().all(|s| s.method == "GET"),
            "nothing to send: {:?}",
            &fake.seen()[seen..]
        );
        // Only a name the order's document uses is an address.
        expect(
            gw.cl(
                &token,
                Method::GET,
                &format!("/addresses/{id}-shipping_address"),
            ),
            404,
        )
        .await;
        expect(
            gw.cl(
                &token,
                Method::GET,
                "/addresses/nosuchorder-billing_address",
            ),
            404,
        )
        .await;
        assert_eq!(got["data"]["attributes"]["status"], "pending");

        expect(
            gw.cl(&token, Method::PATCH, &format!("/orders/{id}"))
                .json(&json!({"data": {
                    "type": "orders", "id": id, "attributes": {"_place": true}
                }})),
            200,
        )
        .await;
        assert_eq!(only_order(&fake)["status_id"], 7);
        expect(
            gw.cl(&token, Method::PATCH, &format!("/orders/{id}"))
                .json(&json!({"data": {
                    "type": "orders", "id": id, "attributes": {"_cancel": true}
                }})),
            200,
        )
        .await;
        assert_eq!(only_order(&fake)["status_id"], 5);

        // Commerce Layer creates an empty draft first, which BigCommerce cannot hold (`order_Post` requires
        // products). Either the gateway refuses it in Commerce Layer's shape or keeps the draft itself until it is
        // placed; in neither case does anything reach BigCommerce.
        let draft = gw
            .cl(&token, Method::POST, "/orders")
            .json(&json!({"data": {"type": "orders", "attributes": {},
                "relationships": {"market": {"data": {"type": "markets", "id": "usd"}}}}}))
            .send()
            .await
            .unwrap();
        let status = draft.status().as_u16();
        let body: Value = draft.json().await.unwrap();
        if status != 201 {
            assert!((400..500).contains(&status), "{status}: {body}");
            assert!(
                body["errors"].is_array(),
                "Commerce Layer's error shape: {body}"
            );
        }
        assert_eq!(
            fake.with(|f| f.ids().len()),
            1,
            "the empty draft is not sent upstream"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn commercelayer_callers_linked_addresses_keep_their_ids() {
        let (_fake, gw) = start("bcgw-links").await;
        super::super::upstream_staged::linked_addresses_keep_their_ids(&gw).await;
        gw.stop().await;
    }

    /// An address copied from another order into a draft gets ids of its own, which the caller reads on the draft;
    /// once the draft is placed upstream, the order and `/api/addresses/{id}` still answer to them.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_address_copied_into_a_draft_answers_to_its_ids_once_placed() {
        use super::super::upstream_staged::{draft, linked_ids, place};
        let (_fake, gw) = start("bcgw-copied").await;
        let token = gw.cl_token().await;
        expect(
            gw.bc(Method::POST, "/orders")
                .json(&bc_body("other@example.com")),
            201,
        )
        .await;
        let list = expect(gw.cl(&token, Method::GET, "/orders"), 200).await;
        let other = list["data"][0]["relationships"]["shipping_address"]["data"]["id"]
            .as_str()
            .expect("the other order's shipping address")
            .to_owned();
        let (id, _) = draft(&gw, &token).await;
        expect(
            gw.cl(&token, Method::PATCH, &format!("/orders/{id}")).json(
                &json!({"data": {"type": "orders", "id": id, "relationships": {
                    "billing_address": {"data": {"type": "addresses", "id": other}}
                }}}),
            ),
            200,
        )
        .await;
        let [copied, _] = linked_ids(&gw, &token, &id).await;
        let copied = copied.as_str().expect("a copy with an id").to_owned();
        assert_ne!(copied, other, "a copy, not the other order's address");

        place(&gw, &token, &id, 200).await;
        let [billing, _] = linked_ids(&gw, &token, &id).await;
        assert_eq!(billing, copied.as_str());
        let read = expect(
            gw.cl(&token, Method::GET, &format!("/addresses/{copied}")),
            200,
        )
        .await;
        assert_eq!(read["data"]["id"], copied.as_str(), "{read}");
        let original = expect(
            gw.cl(&token, Method::GET, &format!("/addresses/{other}")),
            200,
        )
        .await;
        assert_eq!(
            read["data"]["attributes"]["line_1"], original["data"]["attributes"]["line_1"],
            "{read}"
        );
        gw.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn upstream_failures_reach_the_caller_in_its_own_shape() {
        let (fake, gw) = start("bcgw-errors").await;
        // 422 upstream (a ZIP code too short for BigCommerce) → 422 in BigCommerce's shape, nothing stored.
        let mut bad = bc_body("bad@example.com");
        bad["billing_address"]["zip"] = json!("7");
        let err = expect(gw.bc(Method::POST, "/orders").json(&bad), 422).await;
        assert_eq!(err[0]["status"], 422, "{err}");
        assert_eq!(fake.with(|f| f.ids().len()), 0);

        // 404 upstream for an id in the upstream's own scheme.
        let err = expect(gw.bc(Method::GET, "/orders/987654"), 404).await;
        assert_eq!(err[0]["status"], 404);
        assert!(fake
            .seen()
            .iter()
            .any(|s| s.path.ends_with("/orders/987654") && s.status == 404));

        expect(
            gw.bc(Method::POST, "/orders")
                .json(&bc_body("ok@example.com")),
            201,
        )
        .await;
        let id = fake.with(|f| f.ids())[0];

        // 5xx upstream → 502 in FluentCart's shape.
        fake.fail(Some("GET"), Some("/orders"), Fault::Status(500), 20);
        let resp = gw
            .fc(Method::GET, "/orders?per_page=5")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 502);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["success"], false, "{body}");
        fake.with(|_| ());
        // Drain the rest of the 5xx faults with reads that are allowed to fail.
        for _ in 0..20 {
            if gw
                .bc(Method::GET, &format!("/orders/{id}"))
                .send()
                .await
                .unwrap()
                .status()
                .is_success()
            {
                break;
            }
        }

        // No answer in time upstream → 504 in BigCommerce's shape.
        fake.fail(
            Some("GET"),
            Some(&format!("/orders/{id}")),
            Fault::Delay(Duration::from_millis(2_500)),
            10,
        );
        let err = expect(gw.bc(Method::GET, &format!("/orders/{id}")), 504).await;
        assert_eq!(err[0]["status"], 504);
    }
}
