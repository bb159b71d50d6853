//! Upstream fluentcart backend: adapter tests against the fake, fault injection through `UpstreamShop`, and
//! caller dialects through the gateway.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use ordermux::backends::adapters::{
    AdapterContext, CreateReply, FluentCartAdapter, Journal, Stamp,
};
use ordermux::backends::transport::UpstreamError;
use ordermux::backends::upstream::UpstreamShop;
use ordermux::canonical::lifecycle::{self, Transition};
use ordermux::canonical::{
    Address, Currency, FulfillmentStatus, Money, Order, OrderFilter, OrderQuery, OrderStatus,
    PaymentStatus, Platform, ProblemKind, Range, SortKey,
};
use ordermux::config::{Backend, Credential, Credentials};
use ordermux::dialects::fluentcart as wire;
use ordermux::dialects::DecodeOptions;
use ordermux::store::Store;

use super::harness::{journal_for, scratch_store, usd_context};
use crate::fakes::fluentcart::FluentCartFake;
use crate::fakes::{Fake, Fault};

const USER: &str = "shop-admin";
const PASSWORD: &str = "abcd efgh ijkl mnop";

fn usd() -> Currency {
    Currency::parse("USD").unwrap()
}

async fn fake() -> Fake<FluentCartFake> {
    Fake::start(FluentCartFake::new(USER, PASSWORD)).await
}

fn backend(base_url: &str) -> Backend {
    let mut b = Backend::upstream("up", Platform::FluentCart, base_url);
    b.credentials = Credentials {
        username: Some(Credential::new(USER)),
        password: Some(Credential::new(PASSWORD)),
        ..Default::default()
    };
    b.timeout = Duration::from_millis(1_500);
    b.total_timeout = Duration::from_millis(4_000);
    b.connect_timeout = Duration::from_millis(500);
    b.breaker_failures = 50;
    // These tests retry at once after a call broke off, to check how the create resumes: the fake acts on a
    // request only while it is answered, so nothing can land late (`settle` has its own tests).
    b.settle = Duration::ZERO;
    b
}

fn ctx(base_url: &str) -> AdapterContext {
    usd_context(backend(base_url))
}

fn adapter(f: &Fake<FluentCartFake>) -> FluentCartAdapter {
    FluentCartAdapter::new(ctx(&f.base_url())).expect("adapter builds")
}

async fn store(name: &str) -> Store {
    scratch_store(name).await
}

async fn journal(store: &Store, stamp: &Stamp) -> Journal {
    journal_for(store, stamp).await
}

fn address(first: &str, line1: &str) -> Address {
    Address {
        first_name: Some(first.to_owned()),
        last_name: Some("Lovelace".to_owned()),
        line1: line1.to_owned(),
        city: "London".to_owned(),
        postal_code: Some("NW1 6XE".to_owned()),
        country_code: "GB".to_owned(),
        ..Default::default()
    }
}

/// A resolved order as the shop hands it to an adapter: one physical catalog line, one custom line.
fn order(email: &str) -> Order {
    let doc = json!({
        "customer": {"email": email, "first_name": "Ada", "last_name": "Lovelace"},
        "currency": "USD",
        "note": "leave at the door",
        "order_items": [
            {"post_id": 10, "object_id": 1001, "title": "T-shirt", "quantity": 2, "unit_price": 2500, "fulfillment_type": "physical"},
            {"title": "Gift wrap", "quantity": 1, "unit_price": 350, "is_custom": true, "fulfillment_type": "physical"}
        ]
    });
    let mut o = wire::decode_create_request(doc, &DecodeOptions::default()).unwrap();
    o.strip_platform_ext(Platform::FluentCart);
    o.status = OrderStatus::Placed;
    o.billing_address = Some(address("Ada", "12 Baker St"));
    o.shipping_destinations = vec![address("Ada", "221B Baker St")];
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
        .fluentcart
        .expect("FluentCart id")
        .to_string()
}

async fn create(a: &FluentCartAdapter, s: &Store, o: &Order) -> (Order, Stamp) {
    let stamp = Stamp::fresh();
    let j = journal(s, &stamp).await;
    (
        a.create(o, &stamp, &j, CreateReply::Order)
            .await
            .expect("create"),
        stamp,
    )
}

// ---------------------------------------------------------------------------------------------------------------
// Adapter against the fake

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_finds_or_makes_the_customer_and_addresses_and_stamps_the_note() {
    let f = fake().await;
    let a = adapter(&f);
    let s = store("fc-up-create").await;
    let (created, stamp) = create(&a, &s, &order("ada@example.com")).await;

    // The adapter returns the order as FluentCart now has it, with FluentCart's ids and forced start state.
    let id = created.ids.platform.fluentcart.expect("order id");
    // Asked for the state FluentCart gives every new order, so nothing follows the create: the order is read
    // once (to check its stamp), and that read is the answer.
    assert_eq!(f.count("GET", &format!("/orders/{id}")), 1);
    assert_eq!(f.count("PUT", "/statuses"), 0);
    assert!(created
        .line_items
        .iter()
        .all(|l| l.ids.fluentcart.is_some()));
    assert_eq!(created.status, OrderStatus::Placed);
    assert_eq!(created.payment_status, PaymentStatus::Unpaid);
    assert_eq!(created.totals.total.minor, 5350);
    assert_eq!(created.customer.email.as_deref(), Some("ada@example.com"));
    assert_eq!(
        created.billing_address.as_ref().unwrap().line1,
        "12 Baker St"
    );
    assert_eq!(created.shipping_destinations[0].line1, "221B Baker St");
    // The stamp is on the upstream note, but callers see only their own note.
    assert_eq!(created.customer_note.as_deref(), Some("leave at the door"));
    f.with(|p| {
        assert_eq!(p.order_count(), 1);
        assert_eq!(p.customers.len(), 1);
        assert_eq!(p.addresses.len(), 2);
        assert_eq!(p.orders_with_stamp(stamp.key()).len(), 1);
    });

    let found = a
        .find_by_stamp(&stamp)
        .await
        .unwrap()
        .expect("found by stamp");
    assert_eq!(found.ids.platform.fluentcart, Some(id));
    assert!(a.find_by_stamp(&Stamp::fresh()).await.unwrap().is_none());

    // The same customer and addresses are reused by the next create.
    let (second, _) = create(&a, &s, &order("ADA@example.com")).await;
    assert_ne!(second.ids.platform.fluentcart, Some(id));
    f.with(|p| {
        assert_eq!(p.order_count(), 2);
        assert_eq!(
            p.customers.len(),
            1,
            "customer found by email, not duplicated"
        );
        assert_eq!(p.addresses.len(), 2, "addresses found, not duplicated");
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_reaches_paid_processing_shipped_with_follow_up_calls() {
    let f = fake().await;
    let a = adapter(&f);
    let s = store("fc-up-paid").await;
    let mut o = order("grace@example.com");
    o.status = OrderStatus::Processing;
    o.payment_status = PaymentStatus::Paid;
    o.fulfillment_status = FulfillmentStatus::Fulfilled;
    o.payment_method = Some("bank_transfer".into());
    let (created, _) = create(&a, &s, &o).await;
    assert_eq!(created.status, OrderStatus::Processing);
    assert_eq!(created.payment_status, PaymentStatus::Paid);
    assert_eq!(created.fulfillment_status, FulfillmentStatus::Fulfilled);
    assert_eq!(f.count("POST", "/mark-as-paid"), 1);
    assert_eq!(
        f.count("PUT", "/statuses"),
        1,
        "processing came with payment"
    );

    // A state FluentCart cannot set is refused before anything is created.
    let mut declined = order("grace@example.com");
    declined.status = OrderStatus::Declined;
    let stamp = Stamp::fresh();
    let err = a
        .create(
            &declined,
            &stamp,
            &journal(&s, &stamp).await,
            CreateReply::Order,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, UpstreamError::Unsupported(_)), "{err:?}");
    assert_eq!(f.with(|p| p.order_count()), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_keeps_fluentcart_quirks_and_auth() {
    let f = fake().await;
    let http = reqwest::Client::new();
    let url = format!("{}/wp-json/fluent-cart/v2/orders", f.base_url());
    // No credentials: WordPress's 401.
    let r = http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["code"], "rest_not_logged_in");
    assert_eq!(body["data"]["status"], 401);
    // A create without an existing customer: 422.
    let r = http
        .post(&url)
        .basic_auth(USER, Some(PASSWORD))
        .json(&json!({"customer_id": 77, "order_items": [{"title": "x", "quantity": 1, "unit_price": 100}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);

    // The adapter with wrong credentials is refused; the caller would see a 502 (not its fault).
    let mut c = ctx(&f.base_url());
    c.backend.credentials.password = Some(Credential::new("wrong"));
    let a = FluentCartAdapter::new(c).unwrap();
    match a.get("1").await.unwrap_err() {
        UpstreamError::Rejected {
            status, message, ..
        } => {
            assert_eq!(status.as_u16(), 401);
            assert_eq!(message, "You are not currently logged in.");
            let p = UpstreamError::Rejected {
                status,
                message,
                detail: None,
            }
            .into_problem("up");
            assert_eq!(p.kind, ProblemKind::BadGateway);
        }
        other => panic!("{other:?}"),
    }
    // Without credentials the adapter is not built at all.
    let mut none = ctx(&f.base_url());
    none.backend.credentials = Credentials::default();
    assert!(FluentCartAdapter::new(none).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_list_pages_and_filters() {
    let f = fake().await;
    let a = adapter(&f);
    let s = store("fc-up-list").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let (o, _) = create(&a, &s, &order(&format!("buyer{i}@example.com"))).await;
        ids.push(o.ids.platform.fluentcart.unwrap());
    }
    let got = a.get(&ids[2].to_string()).await.unwrap();
    assert_eq!(got.ids.platform.fluentcart, Some(ids[2]));
    assert_eq!(got.line_items.len(), 2);
    assert!(matches!(
        a.get("999999").await.unwrap_err(),
        UpstreamError::Rejected { status, .. } if status.as_u16() == 404
    ));

    let page = a.list(&query(2, 2)).await.unwrap();
    assert_eq!(page.total, 5);
    let got: Vec<u64> = page
        .items
        .iter()
        .map(|o| o.ids.platform.fluentcart.unwrap())
        .collect();
    assert_eq!(got, ids[2..4].to_vec());
    assert!(page.items.iter().all(|o| o.line_items.len() == 2));
    assert!(page
        .items
        .iter()
        .all(|o| o.customer_note.as_deref() == Some("leave at the door")));

    // Pages above FluentCart's limit are assembled from smaller upstream pages.
    let big = a.list(&query(1, 250)).await.unwrap();
    assert_eq!((big.items.len(), big.total), (5, 5));

    // Pay one order; filter by payment status.
    let paid_id = ids[4].to_string();
    let before = a.get(&paid_id).await.unwrap();
    let mut after = before.clone();
    lifecycle::apply(
        &mut after,
        &Transition::MarkPaid { method: None },
        chrono::Utc::now(),
    )
    .unwrap();
    a.transition(&before, &Transition::MarkPaid { method: None }, &after)
        .await
        .unwrap();
    let mut q = query(1, 10);
    q.filter.statuses = Some(wire::actions::status_filter(&[], &["paid"], &[]));
    let paid = a.list(&q).await.unwrap();
    assert_eq!(paid.total, 1);
    assert_eq!(paid.items[0].ids.platform.fluentcart, Some(ids[4]));

    // An id range (FluentCart's search operator).
    let mut q = query(1, 10);
    q.filter.id_range = Some((
        Platform::FluentCart,
        Range {
            min: Some(ids[1]),
            max: Some(ids[2]),
        },
    ));
    assert_eq!(a.list(&q).await.unwrap().total, 2);

    // Filters FluentCart has no parameter for are refused, not ignored.
    let mut q = query(1, 10);
    q.filter.email = Some("buyer1@example.com".into());
    let err = a.list(&q).await.unwrap_err();
    assert!(
        matches!(&err, UpstreamError::Unsupported(p) if p.kind == ProblemKind::InvalidParameter),
        "{err:?}"
    );
    let mut q = query(1, 10);
    q.filter.total = Range {
        min: Some(1),
        max: None,
    };
    assert!(matches!(
        a.list(&q).await,
        Err(UpstreamError::Unsupported(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_changes_lines_and_note_and_keeps_the_stamp() {
    let f = fake().await;
    let a = adapter(&f);
    let s = store("fc-up-update").await;
    let (before, stamp) = create(&a, &s, &order("ada@example.com")).await;
    let mut after = before.clone();
    after.line_items[0].quantity = 3;
    let removed = after.line_items.remove(1);
    let mut added = after.line_items[0].clone();
    added.ids = Default::default();
    added.name = "Socks".into();
    added.product.fluentcart_object_id = Some(1002);
    added.quantity = 1;
    added.unit_price = Money::new(900, usd());
    after.line_items.push(added);
    after.customer_note = Some("ring twice".into());
    after.recompute_totals();
    let updated = a.update(&before, &after).await.unwrap();
    assert_eq!(updated.line_items.len(), 2);
    assert_eq!(updated.line_items[0].quantity, 3);
    assert_eq!(updated.line_items[1].name, "Socks");
    assert!(updated
        .line_items
        .iter()
        .all(|l| l.ids.fluentcart != removed.ids.fluentcart));
    assert_eq!(updated.totals.total.minor, 3 * 2500 + 900);
    assert_eq!(updated.customer_note.as_deref(), Some("ring twice"));
    // The stamp survives the note change, so reconciliation still finds the order.
    assert_eq!(f.with(|p| p.orders_with_stamp(stamp.key()).len()), 1);

    // An address edit goes through the order-address endpoint.
    let mut moved = updated.clone();
    moved.shipping_destinations[0].line1 = "10 Downing St".into();
    let done = a.update(&updated, &moved).await.unwrap();
    assert_eq!(done.shipping_destinations[0].line1, "10 Downing St");
    // An update that changes nothing reads the order once and sends nothing.
    let calls = f.seen().len();
    let same = a.update(&done, &done).await.unwrap();
    assert_eq!(same, done);
    let made: Vec<String> = f.seen()[calls..]
        .iter()
        .map(|c| format!("{} {}", c.method, c.path))
        .collect();
    assert_eq!(made.len(), 1, "{made:?}");
    assert!(made[0].starts_with("GET "), "{made:?}");
    // What FluentCart cannot change is refused, naming it.
    let mut other = done.clone();
    other.currency = Currency::parse("EUR").unwrap();
    assert!(matches!(
        a.update(&done, &other).await,
        Err(UpstreamError::Unsupported(p)) if p.message().contains("currency")
    ));
}

async fn step(a: &FluentCartAdapter, id: &str, t: Transition) -> Result<Order, UpstreamError> {
    let before = a.get(id).await.unwrap();
    let mut after = before.clone();
    lifecycle::apply(&mut after, &t, chrono::Utc::now()).expect("lifecycle allows it");
    a.transition(&before, &t, &after).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transitions_use_fluentcarts_operations() {
    let f = fake().await;
    let a = adapter(&f);
    let s = store("fc-up-transitions").await;
    let (o, _) = create(&a, &s, &order("ada@example.com")).await;
    let id = upstream_id(&o);

    let approved = step(&a, &id, Transition::Approve).await.unwrap();
    assert_eq!(approved.status, OrderStatus::Processing);
    let paid = step(
        &a,
        &id,
        Transition::MarkPaid {
            method: Some("cash".into()),
        },
    )
    .await
    .unwrap();
    assert_eq!(paid.payment_status, PaymentStatus::Paid);
    let shipped = step(&a, &id, Transition::Fulfill).await.unwrap();
    assert_eq!(shipped.fulfillment_status, FulfillmentStatus::Fulfilled);

    // A partial refund: FluentCart takes the amount in decimal major units.
    let refunded = step(
        &a,
        &id,
        Transition::Refund {
            amount: Some(Money::new(1250, usd())),
        },
    )
    .await
    .unwrap();
    assert_eq!(refunded.payment_status, PaymentStatus::PartiallyRefunded);
    assert_eq!(refunded.totals.refunded_total.map(|m| m.minor), Some(1250));

    // No FluentCart operation authorizes; capture needs an authorized payment.
    let (fresh, _) = create(&a, &s, &order("bob@example.com")).await;
    let fresh_id = upstream_id(&fresh);
    let err = step(&a, &fresh_id, Transition::Authorize)
        .await
        .unwrap_err();
    assert!(matches!(err, UpstreamError::Unsupported(_)), "{err:?}");
    let cancelled = step(&a, &fresh_id, Transition::Cancel).await.unwrap();
    assert_eq!(cancelled.status, OrderStatus::Cancelled);

    a.delete(&fresh_id).await.unwrap();
    assert!(f.with(|p| p.order(fresh_id.parse().unwrap()).is_none()));
    assert!(matches!(
        a.delete(&fresh_id).await.unwrap_err(),
        UpstreamError::Rejected { status, .. } if status.as_u16() == 404
    ));
}

// ---------------------------------------------------------------------------------------------------------------
// Faults through UpstreamShop: no lost order, no duplicate, no phantom

async fn shop(f_url: &str, name: &str, timeout_ms: u64) -> Arc<UpstreamShop> {
    let mut c = ctx(f_url);
    c.backend.timeout = Duration::from_millis(timeout_ms);
    UpstreamShop::new(c, store(name).await).expect("shop builds")
}

fn stamp_of(key: &str) -> String {
    Stamp::for_key("client", key).key().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connection_creates_nothing() {
    let f = fake().await;
    let closed = crate::fakes::RefusingPort::new();
    let sh = shop(&closed.url(), "fc-up-refused", 500).await;
    let err = sh
        .create("client", order("ada@example.com"), Some("k-refused".into()))
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
async fn slow_create_then_retry_leaves_exactly_one_order() {
    let f = fake().await;
    let sh = shop(&f.base_url(), "fc-up-slow", 300).await;
    f.fail(
        Some("POST"),
        Some("/orders"),
        Fault::DelayAfter(Duration::from_millis(700)),
        1,
    );
    // The create took effect but its reply came too late; the shop reconciles by stamp (or the retry does).
    let first = sh
        .create("client", order("ada@example.com"), Some("k-slow".into()))
        .await;
    let second = sh
        .create("client", order("ada@example.com"), Some("k-slow".into()))
        .await
        .expect("the retry succeeds");
    if let Ok(o) = &first {
        assert_eq!(o.ids.platform.fluentcart, second.ids.platform.fluentcart);
    }
    f.with(|p| {
        assert_eq!(p.order_count(), 1, "no duplicate");
        assert_eq!(p.orders_with_stamp(&stamp_of("k-slow")).len(), 1);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_and_rate_limits_never_duplicate() {
    let f = fake().await;
    let sh = shop(&f.base_url(), "fc-up-5xx", 1_000).await;
    // 5xx on the create (not seen by the platform): error now, one order after the retry.
    f.fail(Some("POST"), Some("/orders"), Fault::Status(503), 1);
    let err = sh
        .create("client", order("ada@example.com"), Some("k-5xx".into()))
        .await
        .unwrap_err();
    assert_eq!(err.into_problem("order").kind, ProblemKind::BadGateway);
    assert_eq!(f.with(|p| p.order_count()), 0, "nothing upstream yet");
    sh.create("client", order("ada@example.com"), Some("k-5xx".into()))
        .await
        .expect("retry succeeds");
    assert_eq!(f.with(|p| p.orders_with_stamp(&stamp_of("k-5xx")).len()), 1);

    // 429 with Retry-After: the transport waits and resends (never processed), one order.
    f.fail(
        Some("POST"),
        Some("/orders"),
        Fault::RateLimited {
            retry_after_secs: 1,
        },
        1,
    );
    sh.create("client", order("ada@example.com"), Some("k-429".into()))
        .await
        .expect("created after the wait");
    assert_eq!(f.with(|p| p.orders_with_stamp(&stamp_of("k-429")).len()), 1);
    assert_eq!(f.with(|p| p.order_count()), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_replies_are_reconciled_by_stamp() {
    let f = fake().await;
    let sh = shop(&f.base_url(), "fc-up-reset", 1_000).await;
    for (key, fault) in [
        ("k-reset-after", Fault::ResetAfter),
        ("k-mid-body", Fault::ResetMidBody),
    ] {
        f.fail(Some("POST"), Some("/orders"), fault, 1);
        // The platform made the order but the reply was lost: reconciliation finds it (now or on retry).
        let first = sh
            .create("client", order("ada@example.com"), Some(key.into()))
            .await;
        let again = sh
            .create("client", order("ada@example.com"), Some(key.into()))
            .await
            .expect("retry succeeds");
        if let Ok(o) = first {
            assert_eq!(o.ids.platform.fluentcart, again.ids.platform.fluentcart);
        }
        assert_eq!(
            f.with(|p| p.orders_with_stamp(&stamp_of(key)).len()),
            1,
            "{key}: exactly one order"
        );
    }
    assert_eq!(f.with(|p| p.order_count()), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_html_replies_then_retry() {
    let f = fake().await;
    let sh = shop(&f.base_url(), "fc-up-malformed", 1_000).await;
    for (key, fault) in [("k-json", Fault::MalformedJson), ("k-html", Fault::Html)] {
        f.fail(Some("POST"), Some("/orders"), fault, 1);
        let err = sh
            .create("client", order("ada@example.com"), Some(key.into()))
            .await
            .unwrap_err();
        assert_eq!(
            err.into_problem("order").kind,
            ProblemKind::BadGateway,
            "{key}"
        );
        // The fault hid the request from the platform: nothing there, and the retry creates exactly one.
        assert!(f.with(|p| p.orders_with_stamp(&stamp_of(key)).is_empty()));
        sh.create("client", order("ada@example.com"), Some(key.into()))
            .await
            .expect("retry succeeds");
        assert_eq!(
            f.with(|p| p.orders_with_stamp(&stamp_of(key)).len()),
            1,
            "{key}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_create_leaves_no_phantom() {
    let f = fake().await;
    let sh = shop(&f.base_url(), "fc-up-phantom", 1_000).await;
    // FluentCart refuses the create (422); the caller is told, and nothing exists upstream.
    f.fail(Some("POST"), Some("/orders"), Fault::Status(422), 1);
    let err = sh
        .create("client", order("ada@example.com"), Some("k-422".into()))
        .await
        .unwrap_err();
    assert_eq!(err.into_problem("order").kind, ProblemKind::InvalidField);
    assert_eq!(f.with(|p| p.order_count()), 0);
    // An order FluentCart cannot take is refused before any call.
    let mut empty = order("ada@example.com");
    empty.line_items.clear();
    let posts = f.seen().iter().filter(|r| r.method == "POST").count();
    let err = sh
        .create("client", empty, Some("k-empty".into()))
        .await
        .unwrap_err();
    assert_eq!(err.into_problem("order").kind, ProblemKind::MissingField);
    // (The shop may look the stamp up first; nothing is written.)
    let now = f.seen().iter().filter(|r| r.method == "POST").count();
    assert_eq!(now, posts, "nothing sent");
    assert_eq!(f.with(|p| p.order_count()), 0);
}

// ---------------------------------------------------------------------------------------------------------------
// Through the gateway: callers of each dialect, orders kept by the FluentCart fake

mod gateway {
    use std::time::Duration;

    use ordermux::canonical::Platform;
    use ordermux::config::{Backend, Config, Credential, Credentials};
    use reqwest::Method;
    use serde_json::{json, Value};

    use super::super::harness::*;
    use super::{fake, PASSWORD, USER};
    use crate::fakes::fluentcart::FluentCartFake;
    use crate::fakes::{Fake, Fault};

    fn routed(name: &str, base_url: String) -> Config {
        routed_to(
            name,
            Backend {
                credentials: Credentials {
                    username: Some(Credential::new(USER)),
                    password: Some(Credential::new(PASSWORD)),
                    ..Credentials::default()
                },
                connect_timeout: Duration::from_millis(300),
                timeout: Duration::from_millis(800),
                total_timeout: Duration::from_secs(3),
                ..Backend::upstream("up", Platform::FluentCart, base_url)
            },
        )
    }

    async fn start(name: &str) -> (Fake<FluentCartFake>, TestGateway) {
        let f = fake().await;
        let gw = TestGateway::start_with(routed(name, f.base_url())).await;
        (f, gw)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn changed_creates_are_refused_whole_or_made_once() {
        let (fake, gw) = start("fcgw-mutations").await;
        let orders = || fake.with(|p| p.orders.len());
        super::super::upstream_mutations::every_caller(&gw, Some(&orders)).await;
        gw.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn generated_queries_are_answered_or_refused_in_the_callers_shape() {
        let (_fake, gw) = start("fcgw-queries").await;
        super::super::upstream_queries::every_caller(&gw).await;
        gw.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_order_the_shop_answers_unreadably_is_left_out_of_list_pages_and_named() {
        let (f, gw) = start("fcgw-left-out").await;
        // Its billing country is spelled out where FluentCart keeps a two-letter code.
        let country = |code: &str| {
            f.with(|p| {
                p.orders[1].billing_address.as_mut().unwrap().country_code = code.to_owned();
            })
        };
        super::super::upstream_left_out::every_callers_list(
            &gw,
            || country("United States"),
            || country("US"),
        )
        .await;
        gw.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn wrong_shaped_replies_are_errors_in_the_callers_dialect() {
        let f = fake().await;
        let config = routed("fcgw-shapes", f.base_url());
        let orders = || f.with(|p| p.orders.len());
        super::super::upstream_shapes::run(config, &f, orders, &["/customers", "/address"]).await;
    }

    /// A refund retried under its `Idempotency-Key` reaches the shop once: the retry is answered with the first
    /// reply (the shop would refund again, as FluentCart's API does for a second request).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refund_retried_under_its_idempotency_key_reaches_the_shop_once() {
        let (f, gw) = start("fc-up-gw-keyed-refund").await;
        let created = expect(gw.fc(Method::POST, "/orders").json(&fc_body()), 200).await;
        let id = created["order_id"].as_u64().expect("order id");
        expect(
            gw.fc(Method::POST, &format!("/orders/{id}/mark-as-paid"))
                .header("idempotency-key", "paid-up")
                .json(&json!({"payment_method": "offline_payment"})),
            200,
        )
        .await;
        // The payment's transaction, as the shop numbers it.
        let paid = expect(
            gw.fc(Method::GET, &format!("/orders/{id}/transactions")),
            200,
        )
        .await;
        let transaction = paid["order"]["transactions"][0]["id"].clone();
        let refund = || {
            gw.fc(Method::POST, &format!("/orders/{id}/refund"))
                .header("idempotency-key", "refund-up")
                .json(&json!({"refund_info": {"transaction_id": transaction, "amount": "5.00"}}))
        };
        let first = expect(refund(), 200).await;
        let again = refund().send().await.unwrap();
        assert_eq!(again.headers()["idempotent-replayed"], "true");
        assert_eq!(again.json::<Value>().await.unwrap(), first);
        assert_eq!(f.count("POST", "/refund"), 1, "{:?}", f.seen());
        let refunded = || f.with(|p| p.order(id).unwrap().totals.refunded_total.map(|m| m.minor));
        assert_eq!(refunded(), Some(500));

        // The shop refunds, but its reply comes too late: a 504, and the key keeps it. A retry under the key is
        // told the same instead of refunding again; the caller reads the order to see what happened.
        f.fail(
            Some("POST"),
            Some("/refund"),
            Fault::DelayAfter(Duration::from_millis(1_500)),
            1,
        );
        let slow = || {
            gw.fc(Method::POST, &format!("/orders/{id}/refund"))
                .header("idempotency-key", "refund-slow")
                .json(&json!({"refund_info": {"transaction_id": transaction, "amount": "7.00"}}))
        };
        let timed_out = slow().send().await.unwrap();
        assert_eq!(timed_out.status(), 504);
        let retried = slow().send().await.unwrap();
        assert_eq!(retried.status(), 504);
        assert_eq!(retried.headers()["idempotent-replayed"], "true");
        // 5.00 and 7.00 once each (the fake records no call whose reply nobody waited for, so the sum tells).
        assert_eq!(refunded(), Some(1200));
        gw.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_status_change_fluentcart_does_not_acknowledge_is_not_reported_done() {
        let (f, gw) = start("fc-up-gw-ack").await;
        let created = expect(gw.fc(Method::POST, "/orders").json(&fc_body()), 200).await;
        let id = created["order_id"].as_u64().expect("order id");
        let change = || {
            gw.fc(Method::PUT, &format!("/orders/{id}/statuses")).json(
                &json!({"action": "change_order_status", "statuses": {"order_status": "processing"}}),
            )
        };
        let before = f.with(|p| p.order(id).unwrap().status);
        assert_ne!(before, ordermux::canonical::OrderStatus::Processing);
        // 200s that are no acknowledgement, or name another status than the one asked for.
        for body in [
            json!(null),
            json!({}),
            json!([]),
            json!({"message": "Status has been updated", "data": {"new_status": "on-hold"}}),
        ] {
            f.fail(
                Some("PUT"),
                Some("/statuses"),
                Fault::Reply {
                    status: 200,
                    body: serde_json::to_vec(&body).unwrap(),
                },
                1,
            );
            let reply = change().send().await.unwrap();
            assert_eq!(reply.status().as_u16(), 502, "{body}");
            assert_eq!(f.faults_left(), 0);
            assert_eq!(f.with(|p| p.order(id).unwrap().status), before, "{body}");
        }
        expect(change(), 200).await;
        assert_eq!(
            f.with(|p| p.order(id).unwrap().status),
            ordermux::canonical::OrderStatus::Processing
        );
        gw.stop().await;
    }

    fn fc_body() -> Value {
        json!({"customer_id": 1, "currency": "USD", "note": "gift", "order_items": [
            {"object_id": 1001, "quantity": 2},
            {"title": "Gift wrap", "quantity": 1, "unit_price": 350, "is_custom": true}
        ]})
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replies_validate_against_the_specs() {
        let (_fake, gw) = start("fcgw-spec").await;
        super::super::spec_replies::every_dialect(&gw, "a FluentCart shop").await;
        gw.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fluentcart_callers_create_read_list_update_and_change_status() {
        let (f, gw) = start("fc-up-gw-fc").await;
        let created = expect(
            gw.fc(Method::POST, "/orders")
                .header("idempotency-key", "fc-gw-1")
                .json(&fc_body()),
            200,
        )
        .await;
        let id = created["order_id"].as_u64().expect("order id");
        // Same-platform translate: the caller sees FluentCart's own id.
        let stored = f.with(|p| p.order(id).cloned()).expect("order is upstream");
        assert_eq!(stored.line_items.len(), 2);
        assert_eq!(f.with(|p| p.stamped_orders()), 1);

        let got = expect(gw.fc(Method::GET, &format!("/orders/{id}")), 200).await;
        assert_eq!(got["order"]["id"], id);
        assert_eq!(got["order"]["status"], "on-hold");
        assert_eq!(got["order"]["note"], "gift", "the stamp line is not shown");

        // The same key again: no second order upstream.
        let again = expect(
            gw.fc(Method::POST, "/orders")
                .header("idempotency-key", "fc-gw-1")
                .json(&fc_body()),
            200,
        )
        .await;
        assert_eq!(again["order_id"], id);
        assert_eq!(f.with(|p| p.order_count()), 1);

        let list = expect(gw.fc(Method::GET, "/orders?per_page=5"), 200).await;
        assert_eq!(list["orders"]["total"], 1);
        assert_eq!(list["orders"]["data"][0]["id"], id);

        let item = got["order"]["order_items"][0]["id"].as_u64().unwrap();
        expect(
            gw.fc(Method::POST, &format!("/orders/{id}")).json(&json!({
                "order_items": [{"id": item, "object_id": 1001, "quantity": 3}],
                "note": "gift, wrapped"
            })),
            200,
        )
        .await;
        let after = f.with(|p| p.order(id).cloned()).unwrap();
        assert_eq!(
            after
                .line_items
                .iter()
                .find(|l| l.ids.fluentcart == Some(item))
                .unwrap()
                .quantity,
            3
        );
        assert!(after
            .customer_note
            .as_deref()
            .unwrap()
            .starts_with("gift, wrapped"));

        expect(
            gw.fc(Method::PUT, &format!("/orders/{id}/statuses"))
                .json(&json!({"action": "change_order_status", "statuses": {"order_status": "processing"}})),
            200,
        )
        .await;
        assert_eq!(
            f.with(|p| p.order(id).unwrap().status),
            ordermux::canonical::OrderStatus::Processing
        );
        expect(
            gw.fc(Method::POST, &format!("/orders/{id}/mark-as-paid"))
                .json(&json!({})),
            200,
        )
        .await;
        assert_eq!(
            f.with(|p| p.order(id).unwrap().payment_status),
            ordermux::canonical::PaymentStatus::Paid
        );
        gw.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bigcommerce_callers_create_read_list_and_change_status() {
        let (f, gw) = start("fc-up-gw-bc").await;
        let order = expect(
            gw.bc(Method::POST, "/orders")
                .header("idempotency-key", "bc-gw-1")
                .json(&super::super::bigcommerce::create_body("jane@example.com")),
            201,
        )
        .await;
        let id = order["id"].as_u64().expect("BigCommerce id");
        let upstream = f
            .with(|p| p.orders.first().cloned())
            .expect("order upstream");
        assert_eq!(upstream.customer.email.as_deref(), Some("jane@example.com"));
        assert_eq!(
            upstream.billing_address.as_ref().unwrap().line1,
            "1 Main St"
        );
        assert_eq!(upstream.shipping_destinations[0].line1, "9 Side St");
        assert_eq!(f.with(|p| p.customers.len()), 1);

        let got = expect(gw.bc(Method::GET, &format!("/orders/{id}")), 200).await;
        assert_eq!(got["id"], id);
        assert_eq!(got["billing_address"]["email"], "jane@example.com");
        let list = expect(gw.bc(Method::GET, "/orders?limit=10"), 200).await;
        assert_eq!(list.as_array().map(Vec::len), Some(1));

        // Cancel (status_id 5) through FluentCart's statuses endpoint.
        expect(
            gw.bc(Method::PUT, &format!("/orders/{id}"))
                .json(&json!({"status_id": 5})),
            200,
        )
        .await;
        assert_eq!(
            f.with(|p| p.orders[0].status),
            ordermux::canonical::OrderStatus::Cancelled
        );
        gw.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn upstream_failures_reach_the_caller_in_its_shape() {
        let (f, gw) = start("fc-up-gw-errors").await;
        // 404 upstream → 404.
        let body = expect(gw.fc(Method::GET, "/orders/424242"), 404).await;
        assert_eq!(body["data"]["status"], 404);
        // An upstream 5xx on the create → 502; nothing upstream.
        f.fail(Some("POST"), Some("/orders"), Fault::Status(500), 1);
        let body = expect(gw.fc(Method::POST, "/orders").json(&fc_body()), 502).await;
        assert_eq!(body["data"]["status"], 502);
        assert_eq!(f.with(|p| p.order_count()), 0);
        // FluentCart refuses the create (422, WordPress shape) → 422 in the caller's shape, no phantom order.
        f.fail(Some("POST"), Some("/orders"), Fault::Status(422), 1);
        let body = expect(gw.fc(Method::POST, "/orders").json(&fc_body()), 422).await;
        assert_eq!(body["success"], false);
        assert_eq!(body["data"]["status"], 422);
        assert_eq!(f.with(|p| p.order_count()), 0);
        let id = expect(gw.fc(Method::POST, "/orders").json(&fc_body()), 200).await["order_id"]
            .as_u64()
            .unwrap();
        // A slow upstream → 504.
        f.fail(
            Some("GET"),
            Some(&format!("/orders/{id}")),
            Fault::Delay(Duration::from_millis(1_500)),
            4,
        );
        let body = expect(gw.fc(Method::GET, &format!("/orders/{id}")), 504).await;
        assert_eq!(body["data"]["status"], 504);
        gw.stop().await;
    }
}
