//! Rendered documents validate against the platforms' official specs in `../shared/specs`.

use std::collections::BTreeSet;

use jsonschema::{Draft, Registry, Validator};
use ordermux::canonical::Platform;
use ordermux::dialects::{self, bigcommerce, DocumentKind};
use serde_json::{json, Value};

use crate::support::*;

pub(crate) fn load_json(rel: &str) -> Value {
    let path = shared().join("specs").join(rel);
    serde_json::from_slice(
        &std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

/// OpenAPI 3.0's `nullable: true` in JSON Schema terms: `null` joins the schema's type.
fn allow_nullable(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            if map.get("nullable") == Some(&Value::Bool(true)) {
                if let Some(Value::String(t)) = map.get("type").cloned() {
                    map.insert("type".into(), json!([t, "null"]));
                }
            }
            map.values_mut().for_each(allow_nullable);
        }
        Value::Array(items) => items.iter_mut().for_each(allow_nullable),
        _ => {}
    }
}

/// A validator for one schema inside an OpenAPI document (draft 4 semantics, as OpenAPI 3.0 schema objects, with
/// `nullable` honoured).
pub(crate) fn openapi_validator(spec: &Value, pointer: &str) -> Validator {
    let mut root = spec.clone();
    allow_nullable(&mut root);
    root["$ref"] = json!(format!("#{pointer}"));
    jsonschema::options()
        .with_draft(Draft::Draft4)
        .build(&root)
        .unwrap_or_else(|e| panic!("{pointer}: {e}"))
}

/// Asserts `doc` is valid, except for members the translation reported as lost (their pointers name them).
fn assert_valid(v: &Validator, doc: &Value, what: &str, losses: &[dialects::Loss]) {
    let reported = |message: &str, path: &str| {
        losses.iter().any(|l| {
            let member = l.pointer.rsplit('/').next().unwrap_or_default();
            !member.is_empty()
                && (message.contains(&format!("\"{member}\"")) || path.ends_with(&l.pointer))
        })
    };
    let errors: Vec<String> = v
        .iter_errors(doc)
        .map(|e| (e.to_string(), e.instance_path().to_string()))
        .filter(|(m, p)| !reported(m, p))
        .map(|(m, p)| format!("{m} at {p}"))
        .take(5)
        .collect();
    assert!(
        errors.is_empty(),
        "{what} does not validate:\n  {}",
        errors.join("\n  ")
    );
}

/// What was rendered, from which order, as what document, losing what.
type Rendering = (
    String,
    ordermux::canonical::Order,
    Value,
    Vec<dialects::Loss>,
);

/// Every rendering of every ok fixture, per target and form.
fn renderings(target: Platform, form: DocumentKind) -> Vec<Rendering> {
    // A document of the target's own dialect and form comes back verbatim (see lossless.rs); what is checked here
    // is what the encoders write.
    renderings_from(target, form, |fx| fx.dialect != target || fx.kind != form)
}

fn renderings_from(
    target: Platform,
    form: DocumentKind,
    keep: impl Fn(&Fixture) -> bool,
) -> Vec<Rendering> {
    ok_fixtures()
        .into_iter()
        .filter(|fx| keep(fx))
        .map(|fx| {
            let order = fx.decode().order;
            let out = dialects::encode(target, form, &order);
            (
                format!(
                    "{} as {} {}",
                    relative(&fx.path),
                    target.name(),
                    form.name()
                ),
                order,
                out.value,
                out.losses,
            )
        })
        .collect()
}

#[test]
fn bigcommerce_documents_match_the_orders_v2_spec() {
    let text =
        std::fs::read_to_string(shared().join("specs/bigcommerce/orders.v2.oas2.yml")).unwrap();
    let spec: Value = serde_yaml_ng::from_str(&text).unwrap();
    let post = openapi_validator(&spec, "/components/schemas/order_Post");
    let resp = openapi_validator(&spec, "/components/schemas/order_Resp");
    for (what, _, doc, losses) in renderings(Platform::BigCommerce, DocumentKind::Request) {
        assert_valid(&post, &doc, &what, &losses);
    }
    for (what, order, _, losses) in renderings(Platform::BigCommerce, DocumentKind::Order) {
        let linked =
            bigcommerce::encode_order_with_links(&order, "https://gateway.example/stores/demo/v2")
                .value;
        assert_valid(&resp, &linked, &what, &losses);
    }
}

#[test]
fn fluentcart_create_requests_match_the_create_order_spec() {
    let spec = load_json("fluentcart/orders/create-order.json");
    let v = openapi_validator(
        &spec,
        "/paths/~1orders/post/requestBody/content/application~1json/schema",
    );
    for (what, _, doc, losses) in renderings(Platform::FluentCart, DocumentKind::Request) {
        assert_valid(&v, &doc, &what, &losses);
    }
}

pub(crate) fn jsonapi_registry() -> Registry<'static> {
    let mut builder = Registry::new();
    for file in [
        "schema.json",
        "schema_create_resource.json",
        "schema_update_resource.json",
        "schema_update_relationship.json",
    ] {
        let doc = load_json(&format!("jsonapi/{file}"));
        let id = doc["$id"].as_str().unwrap().to_owned();
        builder = builder.add(id, doc).unwrap();
    }
    builder.prepare().unwrap()
}

/// Commerce Layer field names per resource type, from `resources.json` (schema v7.9.16).
fn commercelayer_fields(resource_id: &str, creatable: bool) -> BTreeSet<String> {
    let resources = load_json("commercelayer/resources.json");
    let res = resources
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == json!(resource_id))
        .unwrap_or_else(|| panic!("{resource_id} not in resources.json"));
    res["attributes"]["fields"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, f)| {
            if creatable {
                f["creatable"] == json!(true)
            } else {
                f["fetchable"] != json!(false)
            }
        })
        .map(|(k, _)| k.clone())
        .collect()
}

fn resource_id(ty: &str) -> &str {
    match ty {
        "orders" => "order",
        "line_items" => "line_item",
        "addresses" => "address",
        "customers" => "customer",
        "markets" => "market",
        other => panic!("unexpected type {other}"),
    }
}

#[test]
fn commercelayer_documents_are_json_api_and_use_commerce_layer_fields() {
    let registry = jsonapi_registry();
    let response = jsonschema::options()
        .with_registry(&registry)
        .build(&json!({"$ref": "https://jsonapi.org/schemas/spec/v1.0/draft"}))
        .unwrap();
    let create = jsonschema::options()
        .with_registry(&registry)
        .build(&json!({"$ref": "https://jsonapi.org/schemas/spec/v1.0/draft/create/resource"}))
        .unwrap();
    let mut fields = std::collections::HashMap::new();
    for form in FORMS {
        for (what, _, doc, losses) in renderings(Platform::CommerceLayer, form) {
            match form {
                DocumentKind::Order => assert_valid(&response, &doc, &what, &losses),
                // The create schema admits `data` alone; `included` resources are checked as resources below.
                DocumentKind::Request => {
                    assert_valid(&create, &json!({ "data": doc["data"] }), &what, &losses)
                }
            }
        }
        // Field names: what the encoder emits from another dialect's order must be a real Commerce Layer field
        // (a Commerce Layer source keeps its own members verbatim, current or not).
        for (what, _, doc, _) in renderings_from(Platform::CommerceLayer, form, |fx| {
            fx.dialect != Platform::CommerceLayer
        }) {
            let creatable = form == DocumentKind::Request;
            let mut resources = vec![doc["data"].clone()];
            resources.extend(doc["included"].as_array().cloned().unwrap_or_default());
            for r in resources {
                let ty = r["type"].as_str().unwrap().to_owned();
                let known = fields
                    .entry((ty.clone(), creatable))
                    .or_insert_with(|| commercelayer_fields(resource_id(&ty), creatable));
                for attr in r["attributes"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, _)| k)
                {
                    // Fixture conventions kept verbatim are allowed; what the encoder emits must be a real field.
                    if ty == "markets" && attr == "currency_code" {
                        continue;
                    }
                    assert!(
                        known.contains(attr),
                        "{what}: {ty}.{attr} is not a {} Commerce Layer field",
                        if creatable { "creatable" } else { "fetchable" }
                    );
                }
            }
        }
    }
}
