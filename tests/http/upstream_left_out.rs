//! An order a shop answers in a form ordermux cannot read, on a caller's list page through a translating route:
//! left out of the page and named, never failing the page. Each backend's `gateway` module runs
//! `every_callers_list` against its own fake.

use reqwest::Method;
use serde_json::Value;

use super::harness::*;

/// A list page's reply: its status, body, and `X-Ordermux-Losses` and `X-Ordermux-Left-Out` headers.
async fn listed(req: reqwest::RequestBuilder) -> (u16, Value, String, String) {
    let reply = req.send().await.unwrap();
    let status = reply.status().as_u16();
    let header = |name: &str| {
        reply
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let (losses, left_out) = (header("x-ordermux-losses"), header("x-ordermux-left-out"));
    let text = reply.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, body, losses, left_out)
}

/// The ids of a list page's orders, at `pointer`, as text.
fn ids(list: &Value, pointer: &str) -> Vec<String> {
    list.pointer(pointer)
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("no list at {pointer:?}: {list}"))
        .iter()
        .map(|o| match &o["id"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect()
}

/// Makes three orders through a BigCommerce caller; `corrupt` then makes the shop's second order unreadable.
/// Every caller's list page answers the other two, in order, with the total still counting three, the order's id
/// in the caller's scheme in `X-Ordermux-Left-Out` and an `unreadable_order` loss; the order asked for by itself
/// is a 502. After `mend`, every page is whole again.
pub async fn every_callers_list(gw: &TestGateway, corrupt: impl FnOnce(), mend: impl FnOnce()) {
    let token = gw.cl_token().await;
    for n in 0..3 {
        // With the phones Commerce Layer requires of an address.
        let mut body = super::bigcommerce::create_body(&format!("left{n}@example.com"));
        body["billing_address"]["phone"] = "+1 512 555 0100".into();
        body["shipping_addresses"][0]["phone"] = "+1 512 555 0100".into();
        expect(gw.bc(Method::POST, "/orders").json(&body), 201).await;
    }
    let fc = || gw.fc(Method::GET, "/orders?per_page=10");
    let bc = || gw.bc(Method::GET, "/orders?limit=10");
    let cl = || gw.cl(&token, Method::GET, "/orders");
    let before = [
        ids(&expect(fc(), 200).await, "/orders/data"),
        ids(&expect(bc(), 200).await, ""),
        ids(&expect(cl(), 200).await, "/data"),
    ];
    corrupt();
    let mut left_out_ids = Vec::new();
    for ((caller, reply, pointer), before) in [
        ("FluentCart", listed(fc()).await, "/orders/data"),
        ("BigCommerce", listed(bc()).await, ""),
        ("Commerce Layer", listed(cl()).await, "/data"),
    ]
    .into_iter()
    .zip(&before)
    {
        let (status, list, losses, left_out) = reply;
        assert_eq!(status, 200, "{caller}: {list}");
        assert!(
            before.contains(&left_out),
            "{caller}: {left_out:?} of {before:?}"
        );
        let rest: Vec<String> = before
            .iter()
            .filter(|id| **id != left_out)
            .cloned()
            .collect();
        assert_eq!(ids(&list, pointer), rest, "{caller}: the others, in order");
        let at = if pointer.is_empty() { "/" } else { pointer };
        assert!(
            losses.contains(&format!("unreadable_order {at}")),
            "{caller}: {losses}"
        );
        left_out_ids.push(left_out);
    }
    // The totals still count it: the pages after this one are where they were.
    assert_eq!(expect(fc(), 200).await["orders"]["total"], 3);
    assert_eq!(expect(cl(), 200).await["meta"]["record_count"], 3);
    // Asked for by itself, it is an error in the caller's shape.
    let got = expect(
        gw.bc(Method::GET, &format!("/orders/{}", left_out_ids[1])),
        502,
    )
    .await;
    assert_eq!(got[0]["status"], 502, "{got}");
    mend();
    let (status, list, losses, left_out) = listed(bc()).await;
    assert_eq!((status, ids(&list, "")), (200, before[1].clone()));
    assert!(!losses.contains("unreadable_order"), "{losses}");
    assert_eq!(left_out, "");
}
