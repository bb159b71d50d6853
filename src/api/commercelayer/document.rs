//! JSON:API envelopes: resource links, compound documents (`include`), sparse fieldsets (`fields[type]`) and the
//! market an order belongs to.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use super::super::query::invalid;
use super::super::{ApiContext, QueryParams};
use crate::canonical::{Order, Platform, Problem};
use crate::config::Market;
use crate::dialects::commercelayer::{
    encode_order,
    resources::{encode_market, linkage},
};
use crate::dialects::{Loss, Translated};

/// Relationships of an order a client may `include`.
pub(super) const ORDER_INCLUDES: &[&str] = &[
    "line_items",
    "market",
    "customer",
    "billing_address",
    "shipping_address",
];

/// What the client asked the reply to contain.
#[derive(Debug, Default)]
pub(super) struct Shape {
    includes: Vec<String>,
    fields: BTreeMap<String, BTreeSet<String>>,
}

impl Shape {
    /// Reads `include` (each path must be one of `allowed`; JSON:API answers 400 otherwise) and `fields[type]`.
    pub(super) fn parse(query: &QueryParams, allowed: &[&str]) -> Result<Shape, Problem> {
        let mut includes = Vec::new();
        for path in query.all("include") {
            if !allowed.contains(&path) {
                return Err(invalid(
                    "include",
                    &format!(
                        "names {path:?}, which cannot be included here (supported: {})",
                        allowed.join(", ")
                    ),
                ));
            }
            if !includes.iter().any(|p| p == path) {
                includes.push(path.to_owned());
            }
        }
        let mut fields = BTreeMap::new();
        for (key, value) in query.pairs() {
            if let Some(ty) = key
                .strip_prefix("fields[")
                .and_then(|rest| rest.strip_suffix(']'))
            {
                let set: BTreeSet<String> = value
                    .split(',')
                    .map(str::trim)
                    .filter(|f| !f.is_empty())
                    .map(str::to_owned)
                    .collect();
                fields.insert(ty.to_owned(), set);
            }
        }
        Ok(Shape { includes, fields })
    }

    pub(super) fn wants(&self, name: &str) -> bool {
        self.includes.iter().any(|p| p == name)
    }

    pub(super) fn includes_anything(&self) -> bool {
        !self.includes.is_empty()
    }

    /// Applies the sparse fieldset of the resource's type: attributes and relationships not named are dropped.
    pub(super) fn trim(&self, resource: &mut Value) {
        let Some(ty) = resource.get("type").and_then(Value::as_str) else {
            return;
        };
        let Some(keep) = self.fields.get(ty) else {
            return;
        };
        let keep = keep.clone();
        for member in ["attributes", "relationships"] {
            if let Some(Value::Object(m)) = resource.get_mut(member) {
                m.retain(|k, _| keep.contains(k));
            }
        }
    }
}

/// `links.self` of a resource this API serves.
pub(super) fn with_self_link(mut resource: Value, base: &str) -> Value {
    let path = match resource.get("type").and_then(Value::as_str) {
        Some(t @ ("orders" | "line_items" | "addresses" | "markets")) => t.to_owned(),
        _ => return resource,
    };
    let id = resource
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if let Value::Object(m) = &mut resource {
        m.insert(
            "links".into(),
            json!({ "self": format!("{base}/{path}/{id}") }),
        );
    }
    resource
}

/// The market an order belongs to: the one it was created in, else the configured market of its currency.
pub(super) fn order_market<'a>(ctx: &'a ApiContext, order: &Order) -> Option<&'a Market> {
    let kept = order
        .ext
        .get(Platform::CommerceLayer)
        .and_then(|e| e.extra.get("relationships"))
        .and_then(|r| r.get("market"))
        .and_then(|m| m.get("data"))
        .and_then(|d| d.get("id"))
        .and_then(Value::as_str);
    kept.and_then(|id| ctx.shop.market(id))
        .filter(|m| m.currency == order.currency)
        .or_else(|| {
            ctx.shop
                .markets
                .iter()
                .find(|m| m.currency == order.currency)
        })
}

/// An order as its primary resource, every related resource the encoder wrote (by type and id), and losses.
pub(super) struct OrderRendering {
    pub data: Value,
    pub related: Vec<Value>,
    pub market: Option<Value>,
    pub losses: Vec<Loss>,
}

pub(super) fn render_order(ctx: &ApiContext, base: &str, order: &Order) -> OrderRendering {
    let Translated { value, losses } = encode_order(order);
    let (data, related) = match value {
        Value::Object(mut doc) => {
            let data = doc.remove("data").unwrap_or(Value::Null);
            let related = match doc.remove("included") {
                Some(Value::Array(list)) => list,
                _ => Vec::new(),
            };
            (data, related)
        }
        other => (other, Vec::new()),
    };
    let mut data = with_self_link(data, base);
    let market = order_market(ctx, order);
    if let (Some(m), Some(Value::Object(rels))) = (market, data.get_mut("relationships")) {
        rels.insert(
            "market".into(),
            json!({"data": {"type": "markets", "id": m.id}}),
        );
    }
    OrderRendering {
        data,
        related: related
            .into_iter()
            .map(|r| with_self_link(r, base))
            .collect(),
        market: market.map(|m| with_self_link(encode_market(m), base)),
        losses,
    }
}

impl OrderRendering {
    /// The related resources of relationship `name`, in linkage order.
    pub(super) fn related_of(&self, name: &str) -> Vec<Value> {
        if name == "market" {
            return self.market.clone().into_iter().collect();
        }
        linkage(&self.data, name)
            .into_iter()
            .filter_map(|(t, id)| {
                self.related
                    .iter()
                    .find(|r| {
                        r.get("type").and_then(Value::as_str) == Some(t.as_str())
                            && r.get("id").and_then(Value::as_str) == Some(id.as_str())
                    })
                    .cloned()
            })
            .collect()
    }
}

/// Collects included resources once each, in first-seen order.
#[derive(Default)]
pub(super) struct Included {
    seen: BTreeSet<(String, String)>,
    list: Vec<Value>,
}

impl Included {
    pub(super) fn add(&mut self, resource: Value, shape: &Shape) {
        let key = (
            resource
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            resource
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        );
        if self.seen.insert(key) {
            let mut resource = resource;
            shape.trim(&mut resource);
            self.list.push(resource);
        }
    }

    /// Adds what `shape` asks to include of `order`.
    pub(super) fn add_order(&mut self, order: &OrderRendering, shape: &Shape) {
        for name in ORDER_INCLUDES {
            if shape.wants(name) {
                for r in order.related_of(name) {
                    self.add(r, shape);
                }
            }
        }
    }

    pub(super) fn into_vec(self) -> Vec<Value> {
        self.list
    }
}

/// A top-level document: `data`, `included` when something was asked to be included, `links`, `meta`.
pub(super) fn document(
    data: Value,
    included: Option<Vec<Value>>,
    links: Value,
    meta: Option<Value>,
) -> Value {
    let mut doc = serde_json::Map::new();
    doc.insert("data".into(), data);
    if let Some(inc) = included {
        doc.insert("included".into(), Value::Array(inc));
    }
    doc.insert("links".into(), links);
    if let Some(m) = meta {
        doc.insert("meta".into(), m);
    }
    Value::Object(doc)
}
