//! BigCommerce v2 upstream adapter: `{base_url}/stores/{store_hash}/v2/orders…` with `X-Auth-Token`.
//!
//! Field mapping is the BigCommerce codec's (`crate::dialects::bigcommerce`); this module owns the paths, the
//! assembly of an order from its sub-resources, list parameters, the update diff and the status writes.
//!
//! The stamp: `external_id` is read-only in the v2 spec (`readOnly: true` on every schema that names it), so the
//! stamp goes in `external_order_id`, which `order_Post`/`order_Put` accept and which `GET /orders` and
//! `GET /orders/count` take as an exact filter. That makes `find_by_stamp` one filtered call instead of a scan.
//! The order's own external reference (the canonical `external_ref.reference`, which the codec maps to the same
//! field) then lives on a marked line of `staff_notes` (`REFERENCE_LINE`), written on create and update and read
//! back into the reference, so it round-trips through ordermux; BigCommerce's own admin shows it as a staff note.
//! `external_source` carries the order's origin, or `ordermux` when it has none (BigCommerce asks apps to name
//! themselves there).

use futures_util::stream::{self, StreamExt};
use http::{HeaderName, Method};
use serde_json::{Map, Value};

use super::{AdapterContext, CreateReply, Journal, Listed, Stamp, Unreadable};
use crate::backends::transport::{Call, Reply, Retry, UpstreamError, UpstreamHttp};
use crate::canonical::lifecycle::Transition;
use crate::canonical::{
    FeeKind, Money, Order, OrderFilter, OrderQuery, Platform, Problem, ProblemKind, SortKey,
    StatusTriple, Timestamp,
};
use crate::config::Credential;
use crate::dialects::bigcommerce::{decode_order, encode_create_request, render_status_id};
use crate::dialects::dates::render_rfc2822;
use crate::dialects::{DecodeOptions, DocumentKind};

const P: Platform = Platform::BigCommerce;

/// BigCommerce's largest `limit` for order lists and sub-resource lists.
const MAX_LIMIT: u32 = 250;

/// Sub-resource pages read per order (250 each): far above the gateway's line-item limit, and a bound on a
/// misbehaving upstream that keeps returning full pages.
const MAX_SUB_PAGES: u32 = 8;

/// Orders whose sub-resources are fetched at once while assembling a list page.
const ASSEMBLE_CONCURRENCY: usize = 4;

/// The staff-notes line that holds an order's own external reference (its `external_order_id` holds the stamp).
const REFERENCE_LINE: &str = "ordermux-reference: ";

/// The order as written to BigCommerce: its own reference moved onto a staff-notes line.
fn to_wire(order: &Order) -> std::borrow::Cow<'_, Order> {
    match order
        .external_ref
        .reference
        .as_deref()
        .filter(|r| Stamp::parse(r).is_none())
    {
        None => std::borrow::Cow::Borrowed(order),
        Some(reference) => {
            let mut wire = order.clone();
            let line = format!("{REFERENCE_LINE}{reference}");
            wire.staff_note = Some(match wire.staff_note.take().filter(|n| !n.is_empty()) {
                Some(note) => format!("{note}\n{line}"),
                None => line,
            });
            wire.external_ref.reference = None;
            std::borrow::Cow::Owned(wire)
        }
    }
}

/// The order as callers see it: the stamp is ordermux's mark, not its reference; the reference comes back from
/// its staff-notes line.
fn from_wire(order: &mut Order) {
    Stamp::clear_from(&mut order.external_ref.reference);
    let Some(note) = order.staff_note.take() else {
        return;
    };
    let mut kept = Vec::new();
    for line in note.split('\n') {
        match line.strip_prefix(REFERENCE_LINE) {
            Some(reference) if order.external_ref.reference.is_none() => {
                order.external_ref.reference = Some(reference.to_owned());
            }
            _ => kept.push(line),
        }
    }
    let kept = kept.join("\n");
    order.staff_note = (!kept.is_empty()).then_some(kept);
}

/// Newest orders `find_by_stamp` scans when the upstream ignores the `external_order_id` filter: 4 pages of 250.
/// A reconciliation happens right after the create it checks, so the order, if it exists, is among the newest.
const STAMP_SCAN_PAGES: u32 = 4;

/// `external_source` on orders ordermux creates without an origin of their own.
const SOURCE: &str = "ordermux";

/// Longest upstream error message passed on (the rest is cut, never the raw body).
const MAX_MESSAGE: usize = 300;

/// The sub-resources of an order that `assemble_with` reads into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SubResources {
    All,
    /// Products and shipping addresses: a new order has no coupons.
    ItemsAndAddresses,
}

#[derive(Debug)]
pub struct BigCommerceAdapter {
    http: UpstreamHttp,
    decode: DecodeOptions,
    /// `/stores/{store_hash}/v2`.
    prefix: String,
    token: Credential,
    client_id: Option<Credential>,
}

fn unsupported(reason: impl Into<String>) -> UpstreamError {
    UpstreamError::unsupported(Problem::new(ProblemKind::InvalidParameter, "", reason))
}

fn not_found(what: &str) -> UpstreamError {
    UpstreamError::unsupported(Problem::new(
        ProblemKind::NotFound,
        "",
        format!("The requested {what} was not found."),
    ))
}

/// BigCommerce's error document: a bare array of `{"status", "message", "details"?}` (v3-style objects with
/// `title` are read too). The first entry's message, with `details.invalid_reason` when given.
fn read_error(body: &Value) -> Option<(String, Option<String>)> {
    let first = match body {
        Value::Array(items) => items.first()?,
        Value::Object(_) => body,
        _ => return None,
    };
    let message = first
        .get("message")
        .or_else(|| first.get("title"))
        .and_then(Value::as_str)?;
    let reason = first
        .get("details")
        .and_then(|d| d.get("invalid_reason"))
        .and_then(Value::as_str);
    let mut text = match reason {
        Some(r) if !r.is_empty() => format!("{message} ({r})"),
        _ => message.to_owned(),
    };
    if text.len() > MAX_MESSAGE {
        let mut cut = MAX_MESSAGE;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    Some((text, None))
}

fn encode_query(pairs: &[(&str, String)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

fn upstream_id(order: &Order) -> Result<u64, UpstreamError> {
    order
        .ids
        .platform
        .bigcommerce
        .ok_or_else(|| not_found("order"))
}

/// The one field of a create's reply that a creator needing only ids reads (the rest is skipped unread).
#[derive(serde::Deserialize)]
struct NewOrderId {
    id: u64,
}

/// A list reply: BigCommerce answers an empty list, or a page past the last, with 204 and no body. Any other
/// reply without an array is malformed, not empty: taken for the end of a list, it would end a replay's paging
/// early and leave orders behind.
fn items(reply: Reply, what: &str) -> Result<Vec<Value>, UpstreamError> {
    match reply.body {
        Value::Null if reply.status == http::StatusCode::NO_CONTENT => Ok(Vec::new()),
        Value::Array(items) => Ok(items),
        _ => Err(UpstreamError::Malformed(format!(
            "{what} is not a JSON array"
        ))),
    }
}

/// Ceiling to whole seconds: BigCommerce stores creation and modification dates to the second, so a lower bound
/// inside a second excludes that second's orders.
fn date_floor_up(t: &Timestamp) -> Timestamp {
    if t.timestamp_subsec_nanos() == 0 {
        *t
    } else {
        chrono::DateTime::from_timestamp(t.timestamp().saturating_add(1), 0).unwrap_or(*t)
    }
}

fn date_floor_down(t: &Timestamp) -> Timestamp {
    chrono::DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(*t)
}

impl BigCommerceAdapter {
    pub fn new(ctx: AdapterContext) -> Result<Self, String> {
        let name = &ctx.backend.name;
        let hash = ctx
            .backend
            .store_hash
            .clone()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| format!("backend {name:?}: a BigCommerce upstream needs store_hash"))?;
        if !hash
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(format!(
                "backend {name:?}: store_hash may hold only letters, digits, '-' and '_'"
            ));
        }
        let token = ctx.backend.credentials.token.clone().ok_or_else(|| {
            format!(
                "backend {name:?}: a BigCommerce upstream needs credentials.token (X-Auth-Token)"
            )
        })?;
        let http = UpstreamHttp::new(&ctx.backend, read_error)
            .map_err(|e| format!("backend {name:?}: {e}"))?;
        Ok(BigCommerceAdapter {
            http,
            decode: ctx.decode,
            prefix: format!("/stores/{hash}/v2"),
            token,
            client_id: ctx.backend.credentials.client_id.clone(),
        })
    }

    fn call(&self, method: Method, path: &str) -> Call {
        let call = Call::new(method, format!("{}{path}", self.prefix))
            .header(HeaderName::from_static("x-auth-token"), self.token.expose());
        match &self.client_id {
            Some(id) => call.header(HeaderName::from_static("x-auth-client"), id.expose()),
            None => call,
        }
    }

    async fn get_json(&self, path: &str) -> Result<Reply, UpstreamError> {
        self.http.send(self.call(Method::GET, path)).await
    }

    /// Every item of `/orders/{id}/{name}`, page by page until a short or empty (204) page.
    async fn sub_list(&self, id: u64, name: &str) -> Result<Vec<Value>, UpstreamError> {
        let mut all = Vec::new();
        for page in 1..=MAX_SUB_PAGES {
            let path = format!("/orders/{id}/{name}?page={page}&limit={MAX_LIMIT}");
            let got = items(self.get_json(&path).await?, name)?;
            let n = got.len();
            all.extend(got);
            if n < MAX_LIMIT as usize {
                return Ok(all);
            }
        }
        Err(UpstreamError::Malformed(format!(
            "{name} of order {id} has more than {} entries",
            MAX_SUB_PAGES * MAX_LIMIT
        )))
    }

    /// An order object (as `GET /orders/{id}` or a write returns it, sub-resources as links) with its products,
    /// shipping addresses and coupons fetched and put in place, decoded.
    async fn assemble(&self, doc: Value) -> Result<Order, UpstreamError> {
        self.assemble_with(doc, SubResources::All).await
    }

    /// As `assemble`, reading only the sub-resources `reads` names; the others stay empty in the order.
    async fn assemble_with(&self, doc: Value, reads: SubResources) -> Result<Order, UpstreamError> {
        let Value::Object(mut map) = doc else {
            return Err(UpstreamError::Malformed(
                "the order is not a JSON object".into(),
            ));
        };
        let id = map
            .get("id")
            .and_then(Value::as_u64)
            .ok_or_else(|| UpstreamError::Malformed("the order has no numeric id".into()))?;
        // An order without shipping addresses says so; no need to ask for the (204) empty list.
        let has_addresses = map
            .get("shipping_address_count")
            .and_then(Value::as_u64)
            .is_none_or(|n| n > 0);
        let products = self.sub_list(id, "products");
        let addresses = async {
            if has_addresses {
                self.sub_list(id, "shipping_addresses").await
            } else {
                Ok(Vec::new())
            }
        };
        let coupon_list = async {
            if reads == SubResources::All {
                self.sub_list(id, "coupons").await
            } else {
                Ok(Vec::new())
            }
        };
        let (products, addresses, coupons) = tokio::join!(products, addresses, coupon_list);
        map.insert("products".into(), Value::Array(products?));
        map.insert("shipping_addresses".into(), Value::Array(addresses?));
        map.insert("coupons".into(), Value::Array(coupons?));
        let mut order = decode_order(Value::Object(map), &self.decode)
            .map_err(|p| UpstreamError::Malformed(format!("order {id}: {}", p.message())))?;
        from_wire(&mut order);
        Ok(order)
    }

    fn is_archived(doc: &Value) -> bool {
        doc.get("is_deleted").and_then(Value::as_bool) == Some(true)
    }

    pub async fn create(
        &self,
        order: &Order,
        stamp: &Stamp,
        journal: &Journal,
        reply: CreateReply,
    ) -> Result<Order, UpstreamError> {
        // One POST is the whole create, status included. The only step is the order itself: when the shop has
        // found it by its stamp after an interrupted attempt (journal step `order_id`), it is read, never re-sent.
        // The adapter records nothing itself: the stamp already makes the order findable after any failure.
        let made = journal.steps().get("order_id").and_then(|v| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse::<u64>().ok()))
        });
        if let Some(id) = made {
            return self.get(&id.to_string()).await;
        }
        if order.line_items.is_empty() {
            // `order_Post` requires products: BigCommerce cannot hold an empty (draft) order.
            return Err(UpstreamError::unsupported(Problem::new(
                ProblemKind::MissingField,
                "",
                "upstream BigCommerce cannot create an order without line items; create it with its items",
            )));
        }
        let order = to_wire(order);
        let mut body = crate::dialects::encode(P, DocumentKind::Request, &order).value;
        let Value::Object(map) = &mut body else {
            return Err(UpstreamError::Local(
                "the BigCommerce codec rendered a non-object create request".into(),
            ));
        };
        map.insert(
            "external_order_id".into(),
            Value::String(stamp.key().to_owned()),
        );
        let source = order
            .external_ref
            .origin
            .clone()
            .unwrap_or_else(|| SOURCE.to_owned());
        map.insert("external_source".into(), Value::String(source));
        // `order_Post` takes `status_id`: the triple is set in the create itself.
        map.insert(
            "status_id".into(),
            Value::from(render_status_id(order.status_triple())),
        );
        // The read-only mark would be refused (and is never ours to write).
        map.remove("external_id");
        let call = self
            .call(Method::POST, "/orders?include=fees")
            .json(body)
            .retry(Retry::OnlyIfUnsent);
        // From here the order exists upstream (a reply that is not the document expected is `Malformed`, which is
        // outcome-unknown). Any failure reading it back must not look like "never sent" or "refused" (the shop
        // would resend the create); it is reported as an interrupted operation, which makes the shop reconcile
        // through the stamp.
        if reply == CreateReply::Ids {
            // A creator that needs only the ids gets the new order's id from the reply, and nothing is read
            // back: its products and shipping addresses would be two more calls against the store's rate limit,
            // and reading the rest of the reply into a document would be work nobody reads.
            let created = self.http.send_as::<NewOrderId>(call).await?;
            let mut made = Order::empty(order.currency);
            made.ids.platform.bigcommerce = Some(created.body.id);
            return Ok(made);
        }
        let created = self.http.send(call).await?;
        // Coupons and promotions do not apply to orders created through the v2 API: the new order has none, so its
        // (204) coupon list is not asked for.
        self.assemble_with(created.body, SubResources::ItemsAndAddresses)
            .await
            .map_err(|e| match e {
                UpstreamError::Malformed(_)
                | UpstreamError::Timeout
                | UpstreamError::Interrupted(_)
                | UpstreamError::ServerError(_)
                | UpstreamError::TooLarge(_) => e,
                other => UpstreamError::Interrupted(format!(
                    "order created, reading it back failed: {other}"
                )),
            })
    }

    pub async fn find_by_stamp(&self, stamp: &Stamp) -> Result<Option<Order>, UpstreamError> {
        let key = stamp.key();
        let carries =
            |doc: &Value| doc.get("external_order_id").and_then(Value::as_str) == Some(key);
        let query = encode_query(&[
            ("external_order_id", key.to_owned()),
            ("sort", "id:asc".into()),
            ("limit", "10".into()),
            ("include", "fees".into()),
        ]);
        let found = items(self.get_json(&format!("/orders?{query}")).await?, "orders")?;
        if let Some(doc) = found.iter().find(|d| carries(d)) {
            return self.assemble(doc.clone()).await.map(Some);
        }
        if found.is_empty() {
            return Ok(None);
        }
        // Orders came back without the stamp: this upstream ignored the filter. Compare exactly over the newest
        // orders instead (bounded: see STAMP_SCAN_PAGES).
        tracing::warn!(backend = %self.http.name(), "upstream ignored the external_order_id filter; scanning newest orders");
        for page in 1..=STAMP_SCAN_PAGES {
            let query = encode_query(&[
                ("sort", "id:desc".into()),
                ("page", page.to_string()),
                ("limit", MAX_LIMIT.to_string()),
                ("include", "fees".into()),
            ]);
            let found = items(self.get_json(&format!("/orders?{query}")).await?, "orders")?;
            if let Some(doc) = found.iter().find(|d| carries(d)) {
                return self.assemble(doc.clone()).await.map(Some);
            }
            if found.len() < MAX_LIMIT as usize {
                break;
            }
        }
        Ok(None)
    }

    pub async fn get(&self, upstream_id: &str) -> Result<Order, UpstreamError> {
        let id: u64 = upstream_id.parse().map_err(|_| not_found("order"))?;
        let doc = self
            .get_json(&format!("/orders/{id}?include=fees"))
            .await?
            .body;
        // DELETE archives: the order stays readable upstream with `is_deleted`, but it is gone for callers.
        if Self::is_archived(&doc) {
            return Err(not_found("order"));
        }
        self.assemble(doc).await
    }

    /// `GET /orders` (and `/orders/count`) parameters for `filter`; `Ok(None)` when nothing can match.
    fn filter_params(
        &self,
        filter: &OrderFilter,
    ) -> Result<Option<Vec<(&'static str, String)>>, UpstreamError> {
        let mut out: Vec<(&'static str, String)> = Vec::new();
        if let Some(statuses) = &filter.statuses {
            let mut ids = statuses.iter().map(|t: &StatusTriple| render_status_id(*t));
            match ids.next() {
                None => return Ok(None),
                Some(first) if ids.all(|id| id == first) => out.push(("status_id", first.to_string())),
                Some(_) => {
                    return Err(unsupported(
                        "upstream BigCommerce filters by one status_id at a time; this status filter spans several",
                    ))
                }
            }
        }
        if let Some(email) = &filter.email {
            out.push(("email", email.clone()));
        }
        if filter.number.is_some() {
            return Err(unsupported(
                "upstream BigCommerce has no order number filter (filter by id range instead)",
            ));
        }
        if filter.reference.is_some() {
            // `external_order_id` holds ordermux's stamps; the orders' own references are in staff notes, which
            // BigCommerce cannot filter on.
            return Err(unsupported(
                "upstream BigCommerce keeps order references in staff notes and cannot filter on them",
            ));
        }
        if filter.currency.is_some() {
            return Err(unsupported("upstream BigCommerce has no currency filter"));
        }
        if let Some((platform, range)) = &filter.id_range {
            if *platform != P {
                return Err(unsupported(
                    "filtering by id range needs BigCommerce order ids on this upstream",
                ));
            }
            if let Some(min) = range.min {
                out.push(("min_id", min.to_string()));
            }
            if let Some(max) = range.max {
                out.push(("max_id", max.to_string()));
            }
        }
        if filter.total.min.is_some() || filter.total.max.is_some() {
            let currency = self.decode.default_currency.ok_or_else(|| {
                unsupported(
                    "a total filter on upstream BigCommerce needs the gateway's default currency",
                )
            })?;
            if let Some(min) = filter.total.min {
                out.push((
                    "min_total",
                    Money::new(min, currency).to_decimal().to_string(),
                ));
            }
            if let Some(max) = filter.total.max {
                out.push((
                    "max_total",
                    Money::new(max, currency).to_decimal().to_string(),
                ));
            }
        }
        for (range, min_key, max_key) in [
            (&filter.created, "min_date_created", "max_date_created"),
            (&filter.updated, "min_date_modified", "max_date_modified"),
        ] {
            if let Some(min) = &range.min {
                out.push((min_key, render_rfc2822(&date_floor_up(min))));
            }
            if let Some(max) = &range.max {
                out.push((max_key, render_rfc2822(&date_floor_down(max))));
            }
        }
        if let Some((platform, id)) = &filter.customer {
            if *platform != P {
                return Err(unsupported(
                    "filtering by customer needs a BigCommerce customer id on this upstream",
                ));
            }
            // "0" is the shop's mark for a customer this upstream never had: nothing matches (BigCommerce itself
            // would read customer_id=0 as "guest orders").
            match id.parse::<u64>() {
                Ok(0) | Err(_) => return Ok(None),
                Ok(n) => out.push(("customer_id", n.to_string())),
            }
        }
        if filter.search.is_some() {
            return Err(unsupported(
                "upstream BigCommerce has no free-text order search",
            ));
        }
        Ok(Some(out))
    }

    pub async fn list(&self, query: &OrderQuery) -> Result<Listed, UpstreamError> {
        self.list_counting(query, true).await
    }

    /// `list` without asking `/orders/count` for the total, for a caller whose reply does not carry it.
    pub async fn list_page(&self, query: &OrderQuery) -> Result<Listed, UpstreamError> {
        self.list_counting(query, false).await
    }

    /// One page; `count` says whether a full page asks `/orders/count` for the total (without it, the total is
    /// only what the pages so far show, and the caller drops it).
    async fn list_counting(
        &self,
        query: &OrderQuery,
        count: bool,
    ) -> Result<Listed, UpstreamError> {
        let (docs, total) = self.list_docs(query, count).await?;
        Ok(Listed {
            total,
            ..self.assemble_each(docs).await?
        })
    }

    /// Each listed order assembled with its sub-resources, those that do not decode set apart.
    async fn assemble_each(&self, docs: Vec<Value>) -> Result<Listed, UpstreamError> {
        let mut ids = Vec::with_capacity(docs.len());
        for doc in &docs {
            // Without its id, the order cannot even be named: the page itself is unreadable.
            ids.push(doc.get("id").and_then(Value::as_u64).ok_or_else(|| {
                UpstreamError::Malformed("an order in the list has no id".into())
            })?);
        }
        let assembled: Vec<Result<Order, UpstreamError>> =
            stream::iter(docs.into_iter().map(|doc| self.assemble(doc)))
                .buffered(ASSEMBLE_CONCURRENCY)
                .collect()
                .await;
        let mut listed = Listed::default();
        for (id, order) in ids.into_iter().zip(assembled) {
            match order {
                Ok(order) => listed.items.push(order),
                Err(UpstreamError::Malformed(reason)) => listed.unreadable.push(Unreadable {
                    id: id.to_string(),
                    created_at: None,
                    reason,
                }),
                Err(e) => return Err(e),
            }
        }
        Ok(listed)
    }

    /// One page's order documents, unassembled, and the total (`count`: see `list_counting`).
    async fn list_docs(
        &self,
        query: &OrderQuery,
        count: bool,
    ) -> Result<(Vec<Value>, u64), UpstreamError> {
        if query.per_page == 0 || query.per_page > MAX_LIMIT {
            return Err(unsupported(format!(
                "upstream BigCommerce lists at most {MAX_LIMIT} orders per page"
            )));
        }
        let page = query.page.max(1);
        let Some(filters) = self.filter_params(&query.filter)? else {
            return Ok((Vec::new(), 0));
        };
        let sort = match query.sort {
            SortKey::Id => "id",
            SortKey::CreatedAt => "date_created",
            SortKey::UpdatedAt => "date_modified",
            SortKey::Status => "status_id",
            SortKey::Total => {
                return Err(unsupported(
                    "upstream BigCommerce cannot sort orders by total",
                ))
            }
        };
        let dir = if query.descending { "desc" } else { "asc" };
        let mut params = filters.clone();
        params.push(("sort", format!("{sort}:{dir}")));
        params.push(("page", page.to_string()));
        params.push(("limit", query.per_page.to_string()));
        params.push(("include", "fees".into()));
        let docs = items(
            self.get_json(&format!("/orders?{}", encode_query(&params)))
                .await?,
            "orders",
        )?;
        let n = docs.len() as u64;
        let offset = u64::from(page - 1) * u64::from(query.per_page);
        // A short, non-empty page (or an empty first page) is the end: the total follows. Otherwise ask
        // `/orders/count` with the same filters.
        let total = if (n < u64::from(query.per_page) && (n > 0 || page == 1)) || !count {
            offset + n
        } else {
            let path = if filters.is_empty() {
                "/orders/count".to_owned()
            } else {
                format!("/orders/count?{}", encode_query(&filters))
            };
            let count = self.get_json(&path).await?.body;
            count
                .get("count")
                .and_then(Value::as_u64)
                .ok_or_else(|| UpstreamError::Malformed("orders/count has no count".into()))?
        };
        Ok((docs, total))
    }

    pub async fn update(&self, before: &Order, after: &Order) -> Result<Order, UpstreamError> {
        let id = upstream_id(before)?;
        let (body, adds) = update_body(before, after)?;
        if body.is_empty() {
            return self.get(&id.to_string()).await;
        }
        // Lines or addresses without an id are added by the PUT: resending it after an unclear failure would add
        // them twice, so only a PUT that changes existing members is retried like a read.
        let retry = if adds {
            Retry::OnlyIfUnsent
        } else {
            Retry::Safe
        };
        let fees_touched = body.contains_key("fees") || has_custom_fees(before);
        let reply = self
            .http
            .send(
                self.call(Method::PUT, &format!("/orders/{id}"))
                    .json(Value::Object(body))
                    .retry(retry),
            )
            .await?;
        self.after_put(id, reply, fees_touched).await
    }

    /// The order after a PUT. `order_Put` takes no `include`, so its reply has no fees: an order that has (or
    /// just got) custom fees is read again with them; any other is assembled from the reply.
    async fn after_put(
        &self,
        id: u64,
        reply: Reply,
        with_fees: bool,
    ) -> Result<Order, UpstreamError> {
        // The reply is the order written; any other body is no sign the write was done.
        if reply.body.get("id").and_then(Value::as_u64) != Some(id) {
            return Err(UpstreamError::Malformed(format!(
                "the reply to PUT /orders/{id} is not that order"
            )));
        }
        if with_fees {
            self.get(&id.to_string()).await
        } else {
            self.assemble(reply.body).await
        }
    }

    pub async fn transition(
        &self,
        before: &Order,
        transition: &Transition,
        after: &Order,
    ) -> Result<Order, UpstreamError> {
        let id = upstream_id(before)?;
        let mut body = Map::new();
        match transition {
            Transition::MarkPaid { method: Some(m) } => {
                body.insert("payment_method".into(), Value::String(m.clone()));
            }
            Transition::Refund { .. } => {
                // BigCommerce v2 has no refund operation in this API: the order is marked Refunded (4) or
                // Partially Refunded (14) with the refunded amount recorded. No money moves upstream.
                if let Some(r) = after.totals.refunded_total {
                    body.insert(
                        "refunded_amount".into(),
                        Value::String(crate::dialects::wire_money::decimal_4(r)),
                    );
                }
            }
            // Place, Approve, Authorize, Cancel, Capture, MarkPaid, Fulfill and Set are each a status_id write:
            // BigCommerce's one status carries all three canonical axes. An authorized, uncaptured payment is
            // Awaiting Payment (7), which reads back as authorized (dialect-mapping.md §7); no money moves.
            _ => {}
        }
        body.insert(
            "status_id".into(),
            Value::from(render_status_id(after.status_triple())),
        );
        let reply = self
            .http
            .send(
                self.call(Method::PUT, &format!("/orders/{id}"))
                    .json(Value::Object(body))
                    .retry(Retry::Safe),
            )
            .await?;
        self.after_put(id, reply, has_custom_fees(before)).await
    }

    pub async fn delete(&self, upstream_id: &str) -> Result<(), UpstreamError> {
        let id: u64 = upstream_id.parse().map_err(|_| not_found("order"))?;
        // BigCommerce archives (`is_deleted`); archiving twice is harmless, so a retry is safe.
        self.http
            .send(self.call(Method::DELETE, &format!("/orders/{id}")))
            .await
            .map(|_| ())
    }
}

/// Order members the update diff may send as they are (`order_Put` accepts them).
const PUT_SCALARS: &[&str] = &[
    "customer_id",
    "customer_message",
    "staff_notes",
    "payment_method",
    "customer_locale",
    "ip_address",
    "external_source",
    "discount_amount",
    "base_shipping_cost",
    "shipping_cost_ex_tax",
    "shipping_cost_inc_tax",
    "base_handling_cost",
    "handling_cost_ex_tax",
    "handling_cost_inc_tax",
    "base_wrapping_cost",
    "wrapping_cost_ex_tax",
    "wrapping_cost_inc_tax",
];

/// Members BigCommerce derives from the rest (it recomputes them when products or costs change).
const DERIVED: &[&str] = &[
    "subtotal_ex_tax",
    "subtotal_inc_tax",
    "total_ex_tax",
    "total_inc_tax",
    "date_created",
];

/// Fees BigCommerce keeps in the `fees` list (handling and wrapping are order members).
fn has_custom_fees(order: &Order) -> bool {
    order
        .fees
        .iter()
        .any(|f| !matches!(f.kind, FeeKind::Handling | FeeKind::Wrapping))
}

fn create_form(order: &Order) -> Map<String, Value> {
    // Members kept from the upstream's order objects (response-only fields) are no part of a write.
    let mut copy = order.clone();
    copy.strip_platform_ext(P);
    match encode_create_request(&copy).value {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn array_of(map: &Map<String, Value>, key: &str) -> Vec<Value> {
    map.get(key)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// The `order_Put` body that turns `before` into `after`, and whether it adds lines or addresses. Both orders are
/// rendered as create requests by the codec and compared member by member.
fn update_body(before: &Order, after: &Order) -> Result<(Map<String, Value>, bool), UpstreamError> {
    let b = create_form(&to_wire(before));
    let a = create_form(&to_wire(after));
    let mut body = Map::new();
    let mut adds = false;

    // Products: changed lines by id, new lines without, removed lines as quantity 0 (the spec's removal).
    let before_products = array_of(&b, "products");
    let after_products = array_of(&a, "products");
    let before_ids: Vec<Option<u64>> = before
        .line_items
        .iter()
        .map(|l| l.ids.bigcommerce)
        .collect();
    let mut products = Vec::new();
    for (line, encoded) in after.line_items.iter().zip(after_products) {
        let existing = line.ids.bigcommerce.and_then(|id| {
            before_ids
                .iter()
                .position(|b| *b == Some(id))
                .map(|i| (id, i))
        });
        match existing {
            Some((id, i)) => {
                if before_products.get(i) != Some(&encoded) {
                    let mut m = match encoded {
                        Value::Object(m) => m,
                        _ => Map::new(),
                    };
                    m.insert("id".into(), Value::from(id));
                    products.push(Value::Object(m));
                }
            }
            None => {
                adds = true;
                products.push(encoded);
            }
        }
    }
    for id in before_ids.iter().flatten() {
        if !after
            .line_items
            .iter()
            .any(|l| l.ids.bigcommerce == Some(*id))
        {
            products.push(serde_json::json!({ "id": id, "quantity": 0 }));
        }
    }
    if !products.is_empty() {
        body.insert("products".into(), Value::Array(products));
    }

    // Shipping addresses: changed by id, new without; BigCommerce v2 cannot remove one.
    let before_addresses = array_of(&b, "shipping_addresses");
    let after_addresses = array_of(&a, "shipping_addresses");
    let before_aids: Vec<Option<u64>> = before
        .shipping_destinations
        .iter()
        .map(|d| d.ids.bigcommerce)
        .collect();
    for id in before_aids.iter().flatten() {
        if !after
            .shipping_destinations
            .iter()
            .any(|d| d.ids.bigcommerce == Some(*id))
        {
            return Err(UpstreamError::unsupported(Problem::new(
                ProblemKind::ForbiddenField,
                "",
                "upstream BigCommerce cannot remove a shipping address from an order",
            )));
        }
    }
    let mut addresses = Vec::new();
    for (dest, encoded) in after.shipping_destinations.iter().zip(after_addresses) {
        let existing = dest.ids.bigcommerce.and_then(|id| {
            before_aids
                .iter()
                .position(|b| *b == Some(id))
                .map(|i| (id, i))
        });
        match existing {
            Some((id, i)) => {
                if before_addresses.get(i) != Some(&encoded) {
                    let mut m = match encoded {
                        Value::Object(m) => m,
                        _ => Map::new(),
                    };
                    m.insert("id".into(), Value::from(id));
                    addresses.push(Value::Object(m));
                }
            }
            None => {
                adds = true;
                addresses.push(encoded);
            }
        }
    }
    if !addresses.is_empty() {
        body.insert("shipping_addresses".into(), Value::Array(addresses));
    }

    // Fees follow PUT semantics upstream: the whole list, or none of it.
    if b.get("fees") != a.get("fees") {
        body.insert(
            "fees".into(),
            a.get("fees").cloned().unwrap_or(Value::Array(Vec::new())),
        );
    }
    if b.get("billing_address") != a.get("billing_address") {
        if let Some(addr) = a.get("billing_address") {
            body.insert("billing_address".into(), addr.clone());
        }
    }

    let handled = |k: &str| {
        matches!(
            k,
            "products" | "shipping_addresses" | "fees" | "billing_address"
        ) || DERIVED.contains(&k)
    };
    let keys: std::collections::BTreeSet<&String> = b.keys().chain(a.keys()).collect();
    for key in keys {
        if handled(key) {
            continue;
        }
        let (old, new) = (b.get(key.as_str()), a.get(key.as_str()));
        if old == new {
            continue;
        }
        if key == "status_id" {
            // A status the caller's own update carried (BigCommerce `status_id`, Commerce Layer triggers):
            // `order_Put` takes it in the same write.
            if let Some(v) = new {
                body.insert(key.clone(), v.clone());
            }
            continue;
        }
        if key == "external_order_id" {
            return Err(UpstreamError::unsupported(Problem::new(
                ProblemKind::ForbiddenField,
                "",
                "upstream BigCommerce keeps ordermux's idempotency stamp in external_order_id; the order's external reference cannot be changed",
            )));
        }
        if !PUT_SCALARS.contains(&key.as_str()) {
            return Err(UpstreamError::unsupported(Problem::new(
                ProblemKind::ForbiddenField,
                "",
                format!("upstream BigCommerce cannot change {key} of an existing order"),
            )));
        }
        let value = match new {
            Some(v) => v.clone(),
            // A member the codec leaves out when empty: notes become "", amounts zero.
            None => match old {
                Some(Value::String(_)) if key.contains("cost") || key == "discount_amount" => {
                    Value::String("0.0000".into())
                }
                _ => Value::String(String::new()),
            },
        };
        body.insert(key.clone(), value);
    }
    if before.totals.refunded_total != after.totals.refunded_total {
        if let Some(r) = after.totals.refunded_total {
            // Recorded only: no money moves upstream (see `transition`).
            body.insert(
                "refunded_amount".into(),
                Value::String(crate::dialects::wire_money::decimal_4(r)),
            );
        }
    }
    Ok((body, adds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_a_204_is_an_empty_list() {
        let reply = |status: u16, body: Value| Reply {
            status: http::StatusCode::from_u16(status).unwrap(),
            headers: http::HeaderMap::new(),
            body,
        };
        assert!(items(reply(204, Value::Null), "orders").unwrap().is_empty());
        assert!(items(reply(200, json!([])), "orders").unwrap().is_empty());
        assert_eq!(
            items(reply(200, json!([{"id": 1}])), "orders")
                .unwrap()
                .len(),
            1
        );
        // A 200 whose body is `null` or blank (read as `null`) is no list at all.
        for body in [Value::Null, json!({}), json!("orders")] {
            let err = items(reply(200, body.clone()), "orders").unwrap_err();
            assert!(
                matches!(err, UpstreamError::Malformed(_)),
                "{body}: {err:?}"
            );
        }
    }

    #[test]
    fn reads_bigcommerce_error_arrays() {
        let body = json!([{"status": 422, "message": "The field 'zip' is invalid.", "details": {"invalid_reason": "too short"}}]);
        assert_eq!(
            read_error(&body),
            Some(("The field 'zip' is invalid. (too short)".into(), None))
        );
        let body = json!([{"status": 404, "message": "The requested resource was not found."}]);
        assert_eq!(
            read_error(&body).map(|m| m.0).as_deref(),
            Some("The requested resource was not found.")
        );
        assert_eq!(read_error(&json!("x")), None);
        let long = "é".repeat(400);
        let (m, _) = read_error(&json!([{"message": long}])).unwrap();
        assert!(m.len() <= MAX_MESSAGE);
    }

    #[test]
    fn date_bounds_round_to_the_upstreams_seconds() {
        let t = chrono::DateTime::from_timestamp(100, 500_000_000).unwrap();
        assert_eq!(date_floor_up(&t).timestamp(), 101);
        assert_eq!(date_floor_down(&t).timestamp(), 100);
        let whole = chrono::DateTime::from_timestamp(100, 0).unwrap();
        assert_eq!(date_floor_up(&whole), whole);
    }
}
