//! Commerce Layer's JSON:API over real HTTP: token grant, the draft → line items → addresses → place → approve →
//! capture → refund flow, lists (filters, sort, paging, include, sparse fieldsets), media types, JSON:API errors,
//! delete rules, Idempotency-Key replay, and reading a Commerce Layer order through the other dialects.

use jsonschema::Validator;
use reqwest::Method;
use serde_json::{json, Value};

use super::harness::*;

fn jsonapi_validator() -> Validator {
    let registry = crate::schema::jsonapi_registry();
    jsonschema::options()
        .with_registry(&registry)
        .build(&json!({"$ref": "https://jsonapi.org/schemas/spec/v1.0/draft"}))
        .unwrap()
}

/// Asserts a reply is a valid JSON:API 1.0 document.
fn assert_jsonapi(v: &Validator, doc: &Value) {
    let errors: Vec<String> = v
        .iter_errors(doc)
        .take(5)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "not JSON:API 1.0: {errors:?}\n{doc}");
}

async fn create_order(gw: &TestGateway, token: &str, market: &str, attrs: Value) -> Value {
    expect(
        gw.cl(token, Method::POST, "/orders").json(&json!({"data": {
            "type": "orders",
            "attributes": attrs,
            "relationships": {"market": {"data": {"type": "markets", "id": market}}}
        }})),
        201,
    )
    .await
}

async fn add_line(gw: &TestGateway, token: &str, order: &str, attrs: Value) -> Value {
    expect(
        gw.cl(token, Method::POST, "/line_items")
            .json(&json!({"data": {
                "type": "line_items",
                "attributes": attrs,
                "relationships": {"order": {"data": {"type": "orders", "id": order}}}
            }})),
        201,
    )
    .await
}

/// A PATCH of an order as the Commerce Layer SDK sends it: empty relationships, id after attributes.
async fn patch_order(gw: &TestGateway, token: &str, id: &str, attrs: Value, status: u16) -> Value {
    expect(
        gw.cl(token, Method::PATCH, &format!("/orders/{id}"))
            .json(&json!({"data": {"type": "orders", "attributes": attrs, "relationships": {}, "id": id}})),
        status,
    )
    .await
}

async fn get_order(gw: &TestGateway, token: &str, id: &str) -> Value {
    expect(gw.cl(token, Method::GET, &format!("/orders/{id}")), 200).await
}

fn id_of(doc: &Value) -> String {
    doc["data"]["id"].as_str().expect("resource id").to_owned()
}

fn statuses(doc: &Value) -> (String, String, String) {
    let a = &doc["data"]["attributes"];
    let s = |k: &str| a[k].as_str().unwrap_or_default().to_owned();
    (s("status"), s("payment_status"), s("fulfillment_status"))
}

fn error_code(doc: &Value) -> &str {
    doc["errors"][0]["code"].as_str().unwrap_or_default()
}

async fn address(gw: &TestGateway, token: &str, first_name: &str) -> String {
    let doc = expect(
        gw.cl(token, Method::POST, "/addresses").json(&json!({"data": {"type": "addresses", "attributes": {
            "first_name": first_name, "last_name": "Lovelace", "line_1": "1 Main St", "city": "Austin",
            "state_code": "TX", "zip_code": "78701", "country_code": "US", "phone": "+1 512 555 0100",
            "email": "ada@example.com"
        }}})),
        201,
    )
    .await;
    assert_eq!(doc["data"]["attributes"]["line_1"], "1 Main St");
    id_of(&doc)
}

/// A pending USD order with a T-shirt × 2 and a custom gift wrap, billing and shipping addresses and an email.
async fn pending_order(gw: &TestGateway, token: &str) -> (String, String) {
    let order = create_order(gw, token, "usd", json!({"reference": "ref-flow"})).await;
    let id = id_of(&order);
    add_line(
        gw,
        token,
        &id,
        json!({"sku_code": "TSHIRT-BLK-M", "quantity": 2}),
    )
    .await;
    add_line(
        gw,
        token,
        &id,
        json!({"name": "Gift wrap", "quantity": 1, "unit_amount_cents": 350}),
    )
    .await;
    let addr = address(gw, token, "Ada").await;
    expect(
        gw.cl(token, Method::PATCH, &format!("/orders/{id}"))
            .json(&json!({"data": {
                "type": "orders", "id": id,
                "attributes": {"customer_email": "ada@example.com"},
                "relationships": {
                    "billing_address": {"data": {"type": "addresses", "id": addr}},
                    "shipping_address": {"data": {"type": "addresses", "id": addr}}
                }
            }})),
        200,
    )
    .await;
    (id, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_grant_accepts_json_and_forms_and_refuses_other_grants() {
    let gw = TestGateway::start("cl-token").await;
    let r = gw
        .http
        .post(gw.url("/oauth/token"))
        .json(&json!({"grant_type": "client_credentials", "client_id": "demo", "client_secret": "demo-secret", "scope": "market:code:usd"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["scope"], "market:code:usd");
    assert!(body["expires_in"].as_u64().is_some_and(|n| n > 0));
    assert!(body["created_at"].as_i64().is_some());
    assert_eq!(
        body["access_token"].as_str().unwrap().split('.').count(),
        3,
        "a JWT"
    );
    let form = expect(
        gw.http
            .post(gw.url("/oauth/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials&client_id=demo&client_secret=demo-secret"),
        200,
    )
    .await;
    let token = form["access_token"].as_str().unwrap();
    expect(gw.cl(token, Method::GET, "/markets"), 200).await;
    // RFC 6749 §2.3.1: the client may authenticate with HTTP Basic instead, but not both ways at once.
    let basic = || {
        gw.http
            .post(gw.url("/oauth/token"))
            .basic_auth("demo", Some("demo-secret"))
            .header("content-type", "application/x-www-form-urlencoded")
    };
    let by_header = expect(basic().body("grant_type=client_credentials"), 200).await;
    expect(
        gw.cl(
            by_header["access_token"].as_str().unwrap(),
            Method::GET,
            "/markets",
        ),
        200,
    )
    .await;
    expect(
        basic().body("grant_type=client_credentials&client_id=demo&client_secret=demo-secret"),
        400,
    )
    .await;
    expect(
        gw.http
            .post(gw.url("/oauth/token"))
            .basic_auth("demo", Some("wrong"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials"),
        401,
    )
    .await;
    let bad = expect(
        gw.http.post(gw.url("/oauth/token")).json(
            &json!({"grant_type": "password", "client_id": "demo", "client_secret": "demo-secret"}),
        ),
        400,
    )
    .await;
    assert_eq!(bad["errors"][0]["status"], "400");
    assert_eq!(bad["errors"][0]["source"]["pointer"], "/grant_type");
    let missing = expect(
        gw.http
            .post(gw.url("/oauth/token"))
            .json(&json!({"client_id": "demo", "client_secret": "demo-secret"})),
        400,
    )
    .await;
    let detail = missing["errors"][0]["detail"].as_str().unwrap();
    assert!(detail.contains("grant_type is required"), "{missing}");
    assert_eq!(missing["errors"][0]["source"]["pointer"], "/grant_type");
    expect(gw.http.get(gw.url("/oauth/token")), 405).await;
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn markets_are_listed_and_read() {
    let gw = TestGateway::start("cl-markets").await;
    let token = gw.cl_token().await;
    let list = expect(gw.cl(&token, Method::GET, "/markets"), 200).await;
    assert_jsonapi(&jsonapi_validator(), &list);
    assert_eq!(list["meta"]["record_count"], 3);
    let eur = expect(gw.cl(&token, Method::GET, "/markets/eur"), 200).await;
    assert_eq!(eur["data"]["attributes"]["currency_code"], "EUR");
    assert_eq!(eur["data"]["attributes"]["number"], 2);
    assert!(eur["data"]["links"]["self"]
        .as_str()
        .unwrap()
        .ends_with("/api/markets/eur"));
    let missing = expect(gw.cl(&token, Method::GET, "/markets/nope"), 404).await;
    assert_eq!(error_code(&missing), "RECORD_NOT_FOUND");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draft_to_refund_flow_with_catalog_and_custom_items() {
    let gw = TestGateway::start("cl-flow").await;
    let schema = jsonapi_validator();
    let token = gw.cl_token().await;

    let created = create_order(
        &gw,
        &token,
        "usd",
        json!({"reference": "ref-1", "language_code": "en", "metadata": {"channel": "test"}}),
    )
    .await;
    assert_jsonapi(&schema, &created);
    let id = id_of(&created);
    assert_eq!(
        statuses(&created),
        ("draft".into(), "unpaid".into(), "unfulfilled".into())
    );
    assert_eq!(created["data"]["attributes"]["currency_code"], "USD");
    assert_eq!(created["data"]["attributes"]["metadata"]["channel"], "test");
    assert_eq!(
        created["data"]["relationships"]["market"]["data"]["id"],
        "usd"
    );
    assert!(created["data"]["links"]["self"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/api/orders/{id}")));

    // A catalog SKU takes its name and price from the catalog; a custom item brings its own.
    let shirt = add_line(
        &gw,
        &token,
        &id,
        json!({"sku_code": "TSHIRT-BLK-M", "quantity": 2}),
    )
    .await;
    assert_jsonapi(&schema, &shirt);
    let a = &shirt["data"]["attributes"];
    assert_eq!(a["name"], "T-shirt, black, M");
    assert_eq!(a["unit_amount_cents"], 2500);
    assert_eq!(a["total_amount_cents"], 5000);
    assert_eq!(a["formatted_total_amount"], "$50.00");
    assert_eq!(shirt["data"]["relationships"]["order"]["data"]["id"], id);
    let shirt_id = id_of(&shirt);
    let wrap = add_line(
        &gw,
        &token,
        &id,
        json!({"name": "Gift wrap", "quantity": 1, "unit_amount_cents": 350}),
    )
    .await;
    assert_eq!(wrap["data"]["attributes"]["total_amount_cents"], 350);
    let read = expect(
        gw.cl(&token, Method::GET, &format!("/line_items/{shirt_id}")),
        200,
    )
    .await;
    assert_eq!(read["data"]["attributes"]["quantity"], 2);

    // Quantity changes recompute the order.
    let changed = expect(
        gw.cl(&token, Method::PATCH, &format!("/line_items/{shirt_id}"))
            .json(&json!({"data": {"type": "line_items", "id": shirt_id, "attributes": {"quantity": 3}}})),
        200,
    )
    .await;
    assert_eq!(changed["data"]["attributes"]["total_amount_cents"], 7500);
    let order = get_order(&gw, &token, &id).await;
    let a = &order["data"]["attributes"];
    assert_eq!(a["total_amount_cents"], 7850);
    assert_eq!(a["total_amount_float"], 78.5);
    assert_eq!(a["formatted_total_amount"], "$78.50");
    assert_eq!(a["subtotal_amount_cents"], 7850);
    expect(
        gw.cl(&token, Method::PATCH, &format!("/line_items/{shirt_id}"))
            .json(&json!({"data": {"type": "line_items", "id": shirt_id, "attributes": {"quantity": 2}}})),
        200,
    )
    .await;

    // Addresses exist on their own, then the order points at them; customer_email finds or creates a customer.
    let billing = address(&gw, &token, "Ada").await;
    let got = expect(
        gw.cl(&token, Method::GET, &format!("/addresses/{billing}")),
        200,
    )
    .await;
    assert_eq!(got["data"]["attributes"]["city"], "Austin");
    let shipping = address(&gw, &token, "Charles").await;
    // An address with blanks around it is refused as the decoders refuse it in a create, and nothing changes.
    let e = expect(
        gw.cl(
            &token,
            Method::PATCH,
            &format!("/orders/{id}?include=customer"),
        )
        .json(&json!({"data": {
            "type": "orders",
            "attributes": {"customer_email": " ada@example.com "},
            "id": id
        }})),
        422,
    )
    .await;
    assert_eq!(
        e["errors"][0]["source"]["pointer"],
        "/data/attributes/customer_email"
    );
    let unchanged = expect(gw.cl(&token, Method::GET, &format!("/orders/{id}")), 200).await;
    assert!(unchanged["data"]["attributes"]["customer_email"].is_null());
    let updated = expect(
        gw.cl(
            &token,
            Method::PATCH,
            &format!(
                "/orders/{id}?include=billing_address,shipping_address,customer,line_items,market"
            ),
        )
        .json(&json!({"data": {
            "type": "orders",
            "attributes": {"customer_email": "ada@example.com"},
            "relationships": {
                "billing_address": {"data": {"type": "addresses", "id": billing}},
                "shipping_address": {"data": {"type": "addresses", "id": shipping}}
            },
            "id": id
        }})),
        200,
    )
    .await;
    assert_jsonapi(&schema, &updated);
    let rels = &updated["data"]["relationships"];
    assert_eq!(rels["billing_address"]["data"]["id"], billing.as_str());
    assert_eq!(rels["shipping_address"]["data"]["id"], shipping.as_str());
    assert_eq!(rels["line_items"]["data"].as_array().unwrap().len(), 2);
    let customer_id = rels["customer"]["data"]["id"]
        .as_str()
        .expect("customer linked")
        .to_owned();
    let included = updated["included"].as_array().unwrap();
    let find = |ty: &str, rid: &str| {
        included
            .iter()
            .find(|r| r["type"] == ty && r["id"] == rid)
            .cloned()
    };
    assert_eq!(
        find("addresses", &shipping).unwrap()["attributes"]["first_name"],
        "Charles"
    );
    assert_eq!(
        find("customers", &customer_id).unwrap()["attributes"]["email"],
        "ada@example.com"
    );
    assert_eq!(
        find("markets", "usd").unwrap()["attributes"]["currency_code"],
        "USD"
    );
    assert!(find("line_items", &shirt_id).is_some());
    assert_eq!(
        updated["data"]["attributes"]["customer_email"],
        "ada@example.com"
    );
    // A customer and a line item make the draft pending.
    assert_eq!(statuses(&updated).0, "pending");

    let lines = expect(
        gw.cl(&token, Method::GET, &format!("/orders/{id}/line_items")),
        200,
    )
    .await;
    assert_eq!(lines["data"].as_array().unwrap().len(), 2);
    let billing_rel = expect(
        gw.cl(
            &token,
            Method::GET,
            &format!("/orders/{id}/billing_address"),
        ),
        200,
    )
    .await;
    assert_eq!(billing_rel["data"]["id"], billing.as_str());

    // Triggers.
    let placed = patch_order(&gw, &token, &id, json!({"_place": true}), 200).await;
    assert_eq!(
        statuses(&placed),
        ("placed".into(), "authorized".into(), "unfulfilled".into())
    );
    assert!(placed["data"]["attributes"]["placed_at"].is_string());
    assert_eq!(placed["data"]["attributes"]["total_amount_cents"], 5350);
    assert_eq!(
        placed["data"]["attributes"]["formatted_total_amount"],
        "$53.50"
    );
    let approved = patch_order(&gw, &token, &id, json!({"_approve": true}), 200).await;
    assert_eq!(
        statuses(&approved),
        ("approved".into(), "authorized".into(), "unfulfilled".into())
    );
    let captured = patch_order(&gw, &token, &id, json!({"_capture": true}), 200).await;
    assert_eq!(
        statuses(&captured),
        ("approved".into(), "paid".into(), "unfulfilled".into())
    );
    // Placed orders keep their line items.
    let locked = expect(
        gw.cl(&token, Method::PATCH, &format!("/line_items/{shirt_id}"))
            .json(&json!({"data": {"type": "line_items", "id": shirt_id, "attributes": {"quantity": 5}}})),
        422,
    )
    .await;
    assert_eq!(error_code(&locked), "VALIDATION_ERROR");
    let refunded = patch_order(&gw, &token, &id, json!({"_refund": true}), 200).await;
    assert_eq!(
        statuses(&refunded),
        ("approved".into(), "refunded".into(), "unfulfilled".into())
    );
    assert_eq!(refunded["data"]["attributes"]["total_amount_cents"], 5350);
    assert_jsonapi(&schema, &refunded);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_transitions_leave_the_order_unchanged() {
    let gw = TestGateway::start("cl-refused").await;
    let token = gw.cl_token().await;
    let id = id_of(&create_order(&gw, &token, "eur", json!({})).await);
    let before = get_order(&gw, &token, &id).await;
    // No line items and no email: the order cannot be placed; an unplaced order cannot be captured.
    let err = patch_order(&gw, &token, &id, json!({"_place": true}), 422).await;
    assert_eq!(error_code(&err), "VALIDATION_ERROR");
    assert_eq!(err["errors"][0]["status"], "422");
    assert_eq!(
        err["errors"][0]["source"]["pointer"],
        "/data/attributes/_place"
    );
    // The whole update is refused, including the attributes sent with the trigger.
    patch_order(
        &gw,
        &token,
        &id,
        json!({"reference": "changed", "_capture": true}),
        422,
    )
    .await;
    let after = get_order(&gw, &token, &id).await;
    assert_eq!(before, after);
    // Read-only attributes and unknown triggers are refused, not ignored.
    let ro = patch_order(&gw, &token, &id, json!({"status": "placed"}), 422).await;
    assert_eq!(
        ro["errors"][0]["source"]["pointer"],
        "/data/attributes/status"
    );
    let (pending, _) = pending_order(&gw, &token).await;
    patch_order(&gw, &token, &pending, json!({"_place": true}), 200).await;
    let again = patch_order(&gw, &token, &pending, json!({"_place": true}), 422).await;
    assert_eq!(error_code(&again), "VALIDATION_ERROR");
    let cancelled = patch_order(&gw, &token, &pending, json!({"_cancel": true}), 200).await;
    assert_eq!(
        statuses(&cancelled),
        ("cancelled".into(), "voided".into(), "unfulfilled".into())
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_filters_sorts_pages_includes_and_trims_fields() {
    let gw = TestGateway::start("cl-list").await;
    let schema = jsonapi_validator();
    let token = gw.cl_token().await;
    let (placed, _) = pending_order(&gw, &token).await;
    patch_order(&gw, &token, &placed, json!({"_place": true}), 200).await;
    let (pending, _) = pending_order(&gw, &token).await;
    let draft = id_of(
        &create_order(
            &gw,
            &token,
            "eur",
            json!({"reference": "ref-eur", "customer_email": "grace@example.com"}),
        )
        .await,
    );

    // The SDK's spelling: percent-encoded brackets, page[number]=1 always sent.
    let page = expect(
        gw.cl(
            &token,
            Method::GET,
            "/orders?page%5Bnumber%5D=1&page%5Bsize%5D=2",
        ),
        200,
    )
    .await;
    assert_jsonapi(&schema, &page);
    assert_eq!(page["meta"]["record_count"], 3);
    assert_eq!(page["meta"]["page_count"], 2);
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    assert!(page["links"]["prev"].is_null());
    let next = page["links"]["next"]
        .as_str()
        .expect("a next page")
        .to_owned();
    assert!(next.contains("page%5Bnumber%5D=2"), "{next}");
    let second = expect(
        gw.http
            .get(&next)
            .header("authorization", format!("Bearer {token}"))
            .header("accept", JSONAPI),
        200,
    )
    .await;
    assert_eq!(second["data"].as_array().unwrap().len(), 1);
    assert!(second["links"]["next"].is_null());
    assert!(second["links"]["prev"].is_string());

    // Default: creation order; -created_at reverses it.
    let all = expect(gw.cl(&token, Method::GET, "/orders"), 200).await;
    let ids = |doc: &Value| -> Vec<String> {
        doc["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&all), [placed.clone(), pending.clone(), draft.clone()]);
    let desc = expect(gw.cl(&token, Method::GET, "/orders?sort=-created_at"), 200).await;
    assert_eq!(ids(&desc), [draft.clone(), pending.clone(), placed.clone()]);
    let by_number = expect(gw.cl(&token, Method::GET, "/orders?sort=-number"), 200).await;
    assert_eq!(ids(&by_number), ids(&desc));

    // Filters.
    let f = |q: &str| gw.cl(&token, Method::GET, &format!("/orders?{q}"));
    let placed_only = expect(f("filter%5Bq%5D%5Bstatus_eq%5D=placed"), 200).await;
    assert_eq!(ids(&placed_only), [placed.as_str()]);
    assert_eq!(placed_only["meta"]["record_count"], 1);
    let authorized = expect(f("filter[q][payment_status_eq]=authorized"), 200).await;
    assert_eq!(ids(&authorized), [placed.as_str()]);
    let open = expect(f("filter[q][status_in]=draft,pending"), 200).await;
    assert_eq!(ids(&open), [pending.clone(), draft.clone()]);
    let grace = expect(f("filter[q][customer_email_eq]=grace@example.com"), 200).await;
    assert_eq!(ids(&grace), [draft.as_str()]);
    let by_ref = expect(f("filter[q][reference_eq]=ref-eur"), 200).await;
    assert_eq!(ids(&by_ref), [draft.as_str()]);
    let number = get_order(&gw, &token, &pending).await["data"]["attributes"]["number"]
        .as_str()
        .unwrap()
        .to_owned();
    let by_number = expect(f(&format!("filter[q][number_eq]={number}")), 200).await;
    assert_eq!(ids(&by_number), [pending.as_str()]);
    let future = expect(f("filter[q][created_at_gt]=2999-01-01T00:00:00Z"), 200).await;
    assert_eq!(future["meta"]["record_count"], 0);
    assert_eq!(future["meta"]["page_count"], 0);
    let past = expect(
        f("filter[q][created_at_gteq]=2000-01-01T00:00:00.000Z"),
        200,
    )
    .await;
    assert_eq!(past["meta"]["record_count"], 3);
    let unfulfilled = expect(
        f("filter[q][fulfillment_status_eq]=unfulfilled&filter[q][status_eq]=pending"),
        200,
    )
    .await;
    assert_eq!(ids(&unfulfilled), [pending.as_str()]);
    // Totals, in the currency's cents; the draft has no lines yet.
    let priced = expect(f("filter[q][total_amount_cents_gt]=0"), 200).await;
    assert_eq!(ids(&priced), [placed.clone(), pending.clone()]);
    let total = get_order(&gw, &token, &pending).await["data"]["attributes"]["total_amount_cents"]
        .as_i64()
        .unwrap();
    let up_to = expect(
        f(&format!(
            "filter[q][total_amount_cents_lteq]={total}&filter[q][total_amount_cents_gteq]={total}&filter[q][currency_code_eq]=USD"
        )),
        200,
    )
    .await;
    assert_eq!(
        up_to["meta"]["record_count"], 2,
        "both USD orders total {total}"
    );
    let below = expect(f(&format!("filter[q][total_amount_cents_lt]={total}")), 200).await;
    assert_eq!(ids(&below), [draft.as_str()]);

    // include and sparse fieldsets.
    let shaped = expect(
        f("include=line_items%2Cmarket&fields%5Borders%5D=number%2Cstatus%2Cline_items&fields[line_items]=sku_code,quantity&filter[q][status_eq]=placed"),
        200,
    )
    .await;
    assert_jsonapi(&schema, &shaped);
    let o = &shaped["data"][0];
    let attrs: Vec<&String> = o["attributes"].as_object().unwrap().keys().collect();
    assert_eq!(attrs, ["number", "status"]);
    let rels: Vec<&String> = o["relationships"].as_object().unwrap().keys().collect();
    assert_eq!(rels, ["line_items"]);
    let included = shaped["included"].as_array().unwrap();
    assert_eq!(included.len(), 3, "two line items and the market");
    let shirt = included
        .iter()
        .find(|r| r["attributes"]["sku_code"] == "TSHIRT-BLK-M")
        .expect("the catalog line is included");
    let keys: Vec<&String> = shirt["attributes"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["quantity", "sku_code"]);
    assert!(included.iter().any(|r| r["type"] == "markets"));

    // Bad parameters are 400s in the JSON:API error shape, naming the query parameter (`source.parameter`): the
    // request has no document a pointer could point into.
    for (q, parameter) in [
        ("page[size]=26", "page[size]"),
        ("page[number]=0", "page[number]"),
        ("sort=nonsense", "sort"),
        ("include=payments", "include"),
        (
            "filter[q][total_amount_cents_matches]=1",
            "filter[q][total_amount_cents_matches]",
        ),
        (
            "filter[q][total_amount_cents_gteq]=12.50",
            "filter[q][total_amount_cents_gteq]",
        ),
        (
            "filter[q][created_at_gt]=yesterday",
            "filter[q][created_at_gt]",
        ),
    ] {
        let err = expect(f(q), 400).await;
        assert_eq!(err["errors"][0]["status"], "400", "{q}");
        assert_eq!(error_code(&err), "BAD_REQUEST", "{q}");
        assert_eq!(
            err["errors"][0]["source"],
            json!({ "parameter": parameter }),
            "{q}"
        );
    }
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_types_conflicts_client_ids_and_missing_records() {
    let gw = TestGateway::start("cl-errors").await;
    let schema = jsonapi_validator();
    let token = gw.cl_token().await;
    let order = json!({"data": {"type": "orders", "relationships": {"market": {"data": {"type": "markets", "id": "usd"}}}}});

    let e = expect(
        gw.http
            .post(gw.url("/api/orders"))
            .header("authorization", format!("Bearer {token}"))
            .header("accept", JSONAPI)
            .json(&order),
        415,
    )
    .await;
    assert_eq!(e["errors"][0]["status"], "415");
    assert_jsonapi(&schema, &e);
    let r = gw
        .http
        .get(gw.url("/api/orders"))
        .header("authorization", format!("Bearer {token}"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 406);
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "application/vnd.api+json"
    );
    // Content-Type on a GET (both real clients send it) and a missing Accept are fine.
    expect(gw.cl(&token, Method::GET, "/orders"), 200).await;
    expect(
        gw.http
            .get(gw.url("/api/orders"))
            .header("authorization", format!("Bearer {token}")),
        200,
    )
    .await;

    let mut wrong_type = order.clone();
    wrong_type["data"]["type"] = json!("customers");
    let e = expect(
        gw.cl(&token, Method::POST, "/orders").json(&wrong_type),
        409,
    )
    .await;
    assert_eq!(e["errors"][0]["status"], "409");
    assert_eq!(e["errors"][0]["source"]["pointer"], "/data/type");
    let mut client_id = order.clone();
    client_id["data"]["id"] = json!("mine123");
    let e = expect(gw.cl(&token, Method::POST, "/orders").json(&client_id), 403).await;
    assert_eq!(e["errors"][0]["source"]["pointer"], "/data/id");
    let e = expect(
        gw.cl(&token, Method::POST, "/orders")
            .json(&json!({"data": {"type": "orders", "attributes": {}}})),
        422,
    )
    .await;
    assert_eq!(
        e["errors"][0]["source"]["pointer"],
        "/data/relationships/market"
    );
    let mut unknown_market = order.clone();
    unknown_market["data"]["relationships"]["market"]["data"]["id"] = json!("mars");
    let e = expect(
        gw.cl(&token, Method::POST, "/orders").json(&unknown_market),
        422,
    )
    .await;
    assert_eq!(
        e["errors"][0]["source"]["pointer"],
        "/data/relationships/market"
    );

    let e = expect(gw.cl(&token, Method::GET, "/orders/doesNotExist1"), 404).await;
    assert_eq!(error_code(&e), "RECORD_NOT_FOUND");
    assert_jsonapi(&schema, &e);
    expect(gw.cl(&token, Method::GET, "/orders/has-dash"), 404).await;
    patch_order(&gw, &token, "doesNotExist1", json!({"reference": "x"}), 404).await;
    expect(gw.cl(&token, Method::DELETE, "/orders/doesNotExist1"), 404).await;
    expect(gw.cl(&token, Method::GET, "/line_items/nothere"), 404).await;
    expect(gw.cl(&token, Method::GET, "/addresses/nothere"), 404).await;
    let e = expect(gw.cl(&token, Method::PUT, "/orders/abc"), 405).await;
    assert_eq!(e["errors"][0]["status"], "405");
    expect(gw.cl(&token, Method::GET, "/skus"), 404).await;

    // A line item for an order that does not exist; an address missing a required field.
    let e = expect(
        gw.cl(&token, Method::POST, "/line_items")
            .json(&json!({"data": {"type": "line_items",
            "attributes": {"sku_code": "TSHIRT-BLK-M", "quantity": 1},
            "relationships": {"order": {"data": {"type": "orders", "id": "nope"}}}}})),
        404,
    )
    .await;
    assert_eq!(
        e["errors"][0]["source"]["pointer"],
        "/data/relationships/order"
    );
    let e = expect(
        gw.cl(&token, Method::POST, "/addresses").json(&json!({"data": {"type": "addresses",
            "attributes": {"first_name": "A", "last_name": "B", "line_1": "x", "city": "y", "country_code": "US"}}})),
        422,
    )
    .await;
    assert_eq!(
        e["errors"][0]["source"]["pointer"],
        "/data/attributes/phone"
    );
    // An unknown SKU without a price cannot be priced.
    let id = id_of(&create_order(&gw, &token, "usd", json!({})).await);
    let e = expect(
        gw.cl(&token, Method::POST, "/line_items")
            .json(&json!({"data": {"type": "line_items",
            "attributes": {"sku_code": "NOPE", "quantity": 1},
            "relationships": {"order": {"data": {"type": "orders", "id": id}}}}})),
        422,
    )
    .await;
    assert_eq!(
        e["errors"][0]["source"]["pointer"],
        "/data/attributes/sku_code"
    );
    // A negative unit amount is refused, and the order keeps no line.
    let e = expect(
        gw.cl(&token, Method::POST, "/line_items")
            .json(&json!({"data": {"type": "line_items",
            "attributes": {"name": "Loyalty credit", "quantity": 1, "unit_amount_cents": -500},
            "relationships": {"order": {"data": {"type": "orders", "id": id}}}}})),
        422,
    )
    .await;
    assert_eq!(
        e["errors"][0]["source"]["pointer"],
        "/data/attributes/unit_amount_cents"
    );
    let order = gw.cl_order_with_lines(&token, &id).await;
    let lines = order["data"]["relationships"]["line_items"]["data"].as_array();
    assert!(lines.is_none_or(Vec::is_empty), "{order}");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_unplaced_orders_and_their_line_items_can_be_deleted() {
    let gw = TestGateway::start("cl-delete").await;
    let token = gw.cl_token().await;
    let draft = id_of(&create_order(&gw, &token, "usd", json!({})).await);
    let line = id_of(
        &add_line(
            &gw,
            &token,
            &draft,
            json!({"sku_code": "MUG-WHT", "quantity": 1}),
        )
        .await,
    );
    let other = id_of(
        &add_line(
            &gw,
            &token,
            &draft,
            json!({"sku_code": "TSHIRT-BLK-M", "quantity": 1}),
        )
        .await,
    );
    let r = gw
        .cl(&token, Method::DELETE, &format!("/line_items/{line}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(r.text().await.unwrap().is_empty());
    let order = get_order(&gw, &token, &draft).await;
    assert_eq!(order["data"]["attributes"]["total_amount_cents"], 2500);
    expect(
        gw.cl(&token, Method::GET, &format!("/line_items/{line}")),
        404,
    )
    .await;
    assert_eq!(
        expect(
            gw.cl(&token, Method::GET, &format!("/line_items/{other}")),
            200
        )
        .await["data"]["attributes"]["sku_code"],
        "TSHIRT-BLK-M"
    );
    expect(
        gw.cl(&token, Method::DELETE, &format!("/orders/{draft}")),
        204,
    )
    .await;
    expect(gw.cl(&token, Method::GET, &format!("/orders/{draft}")), 404).await;
    expect(
        gw.cl(&token, Method::GET, &format!("/line_items/{other}")),
        404,
    )
    .await;

    let (placed, _) = pending_order(&gw, &token).await;
    patch_order(&gw, &token, &placed, json!({"_place": true}), 200).await;
    let e = expect(
        gw.cl(&token, Method::DELETE, &format!("/orders/{placed}")),
        422,
    )
    .await;
    assert_eq!(error_code(&e), "VALIDATION_ERROR");
    let lines = expect(
        gw.cl(&token, Method::GET, &format!("/orders/{placed}/line_items")),
        200,
    )
    .await;
    let first = lines["data"][0]["id"].as_str().unwrap().to_owned();
    expect(
        gw.cl(&token, Method::DELETE, &format!("/line_items/{first}")),
        422,
    )
    .await;
    assert_eq!(statuses(&get_order(&gw, &token, &placed).await).0, "placed");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_key_replays_an_order_create() {
    let gw = TestGateway::start("cl-idem").await;
    let token = gw.cl_token().await;
    let body = json!({"data": {"type": "orders", "attributes": {"reference": "idem-1"},
        "relationships": {"market": {"data": {"type": "markets", "id": "usd"}}}}});
    let send = |b: &Value| {
        gw.cl(&token, Method::POST, "/orders")
            .header("idempotency-key", "cl-create-1")
            .json(b)
            .send()
    };
    let first = send(&body).await.unwrap();
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.unwrap();
    let again = send(&body).await.unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(first, again);
    let list = expect(
        gw.cl(
            &token,
            Method::GET,
            "/orders?filter[q][reference_eq]=idem-1",
        ),
        200,
    )
    .await;
    assert_eq!(
        list["meta"]["record_count"], 1,
        "the replay created nothing"
    );
    let mut other = body.clone();
    other["data"]["attributes"]["reference"] = json!("idem-2");
    let e = expect(
        gw.cl(&token, Method::POST, "/orders")
            .header("idempotency-key", "cl-create-1")
            .json(&other),
        422,
    )
    .await;
    assert_eq!(e["errors"][0]["status"], "422");
    gw.stop().await;
}

/// A trigger sent again under its `Idempotency-Key` (a retry after a lost reply) gets the first reply, where it
/// would otherwise be refused as already done (`_place`) or act again; another trigger under the key is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trigger_under_an_idempotency_key_acts_once() {
    let gw = TestGateway::start("cl-idem-trigger").await;
    let token = gw.cl_token().await;
    let (id, _) = pending_order(&gw, &token).await;
    let trigger = |attrs: Value| {
        gw.cl(&token, Method::PATCH, &format!("/orders/{id}"))
            .header("idempotency-key", "place-once")
            .json(&json!({"data": {"type": "orders", "id": id, "attributes": attrs}}))
            .send()
    };
    let first = trigger(json!({"_place": true})).await.unwrap();
    assert_eq!(first.status(), 200);
    let first: Value = first.json().await.unwrap();
    assert_eq!(statuses(&first).0, "placed");
    let again = trigger(json!({"_place": true})).await.unwrap();
    assert_eq!(again.status(), 200);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    let other = trigger(json!({"_approve": true})).await.unwrap();
    assert_eq!(other.status(), 422);
    // Without the key, placing again is refused as Commerce Layer refuses it.
    let err = patch_order(&gw, &token, &id, json!({"_place": true}), 422).await;
    assert_eq!(error_code(&err), "VALIDATION_ERROR");
    gw.stop().await;
}

/// An order built through Commerce Layer: its FluentCart id is its number, its BigCommerce id number + 99.
async fn cross_dialect_order(gw: &TestGateway) -> (Value, u64) {
    let token = gw.cl_token().await;
    let (id, _) = pending_order(gw, &token).await;
    let placed = patch_order(gw, &token, &id, json!({"_place": true}), 200).await;
    let number: u64 = placed["data"]["attributes"]["number"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    (placed, number)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_created_in_commerce_layer_reads_in_fluentcart() {
    let gw = TestGateway::start("cl-cross-fc").await;
    let (_, number) = cross_dialect_order(&gw).await;
    let fc = expect(gw.fc(Method::GET, &format!("/orders/{number}")), 200).await;
    let o = &fc["order"];
    assert_eq!(o["id"], number);
    assert_eq!(o["total_amount"], 5350);
    assert_eq!(o["customer"]["email"], "ada@example.com");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_created_in_commerce_layer_reads_in_bigcommerce() {
    let gw = TestGateway::start("cl-cross-bc").await;
    let (_, number) = cross_dialect_order(&gw).await;
    let bc = expect(gw.bc(Method::GET, &format!("/orders/{}", number + 99)), 200).await;
    assert_eq!(bc["id"], number + 99);
    assert_eq!(bc["total_inc_tax"], "53.5000");
    assert_eq!(bc["billing_address"]["email"], "ada@example.com");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compound_create_with_included_line_items() {
    let gw = TestGateway::start("cl-compound").await;
    let token = gw.cl_token().await;
    let doc = expect(
        gw.cl(&token, Method::POST, "/orders?include=line_items").json(&json!({
            "data": {"type": "orders",
                "attributes": {"customer_email": "linus@example.com"},
                "relationships": {
                    "market": {"data": {"type": "markets", "id": "eur"}},
                    "line_items": {"data": [{"type": "line_items", "id": "tmp1"}]}}},
            "included": [{"type": "line_items", "id": "tmp1", "attributes": {"sku_code": "MUG-WHT", "quantity": 2}}]
        })),
        201,
    )
    .await;
    let a = &doc["data"]["attributes"];
    assert_eq!(a["currency_code"], "EUR");
    assert_eq!(a["total_amount_cents"], 2300);
    assert_eq!(a["formatted_total_amount"], "€23,00");
    assert_eq!(a["status"], "pending");
    let line = &doc["included"][0];
    assert_eq!(line["type"], "line_items");
    assert_ne!(line["id"], "tmp1", "the shop assigns ids");
    gw.stop().await;
}
