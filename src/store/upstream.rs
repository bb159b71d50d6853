//! What the store keeps about orders held by upstream shops (migration 0004): the id map that lets a caller of any
//! dialect name an upstream object, and the create journal that makes sends to an upstream exactly-once.

use rusqlite::types::Value;
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::ids::{random_token, sequenced_token};
use super::sql::{text, Sql};
use super::sqlite::{allocate, SqliteStore, BIGCOMMERCE_ORDER_ID_OFFSET};
use super::{ObjectId, StoreError};
use crate::canonical::{Platform, PlatformIds};

/// An object as an upstream names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamObject {
    /// `order`, `line_item`, `address`, `shipping_line`, `customer`.
    pub kind: &'static str,
    pub upstream_id: String,
    /// For objects inside an order: that order's upstream id.
    pub order_upstream_id: Option<String>,
}

/// Which address of an upstream order a link names: its billing address, or its first shipping destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressRole {
    Billing,
    Shipping,
}

impl AddressRole {
    pub const ALL: [AddressRole; 2] = [AddressRole::Billing, AddressRole::Shipping];

    fn key(self) -> &'static str {
        match self {
            AddressRole::Billing => "billing",
            AddressRole::Shipping => "shipping",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "billing" => Some(AddressRole::Billing),
            "shipping" => Some(AddressRole::Shipping),
            _ => None,
        }
    }
}

/// The ids callers know one address of an upstream order by, where they are not the upstream's (migration 16): an
/// address a caller linked to the order. The upstream platform's own scheme is never among them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressLink {
    pub order_upstream_id: String,
    pub role: AddressRole,
    /// `None` removes the role's link: the address goes by its upstream ids again.
    pub ids: Option<PlatformIds>,
}

/// An upstream order's objects' ids, and the links of its addresses (`SqliteStore::upstream_localize`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Localized {
    /// Parallel to the objects asked for.
    pub ids: Vec<PlatformIds>,
    pub links: Vec<AddressLink>,
}

/// Where a create to an upstream stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JournalState {
    /// Not sent: an earlier attempt provably never reached the upstream.
    Pending,
    /// Sent (or being sent): the upstream may have the order; reconcile before sending again.
    Sent,
    /// The upstream has it, under `upstream_id`.
    Confirmed,
    /// The upstream refused it; a new attempt may be made.
    Failed,
}

impl JournalState {
    pub(super) fn key(self) -> &'static str {
        match self {
            JournalState::Pending => "pending",
            JournalState::Sent => "sent",
            JournalState::Confirmed => "confirmed",
            JournalState::Failed => "failed",
        }
    }

    pub(super) fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "pending" => JournalState::Pending,
            "sent" => JournalState::Sent,
            "confirmed" => JournalState::Confirmed,
            "failed" => JournalState::Failed,
            _ => return None,
        })
    }
}

/// One journal row.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalEntry {
    pub state: JournalState,
    pub upstream_id: Option<String>,
    /// The adapter's progress through a multi-step create.
    pub steps: serde_json::Value,
    /// True when this call created the row (no earlier attempt exists); it is created `Sent`.
    pub fresh: bool,
    /// Until when (Unix ms) the last attempt may still land upstream: sent, and neither answered nor seen there.
    pub landing_until: Option<i64>,
    /// The row was begun for another request under the same Idempotency-Key (another body), whose attempt may have
    /// acted upstream (sent or confirmed, or steps of it done): this request is not to be served from it. A row
    /// whose attempt provably made nothing (pending or failed, no steps) is taken over by the new request instead.
    pub other_request: bool,
}

fn scheme_column(platform: Platform) -> &'static str {
    match platform {
        Platform::FluentCart => "fluentcart_id",
        Platform::CommerceLayer => "commercelayer_id",
        Platform::BigCommerce => "bigcommerce_id",
    }
}

/// The columns `mapped_from_row` reads, in its order.
pub(super) const MAPPED_COLUMNS: &str =
    "kind, upstream_id, fluentcart_id, commercelayer_id, bigcommerce_id";

// The statements of an upstream create: named, so a test can check that none builds a temporary b-tree. (Each
// such b-tree, for a `RETURNING` clause, a list after `IN` or a CHECK spelled with one, cost about as much as a
// row's write, on every create.)
pub(super) const JOURNAL_BEGIN: &str = "INSERT INTO upstream_journal (backend, key, client, state, updated_at, landing_until, fingerprint) VALUES (?, ?, ?, 'sent', ?, ?, ?) ON CONFLICT (backend, key) DO NOTHING";
pub(super) const JOURNAL_READ: &str = "SELECT state, upstream_id, steps, landing_until, fingerprint FROM upstream_journal WHERE backend = ? AND key = ?";
pub(super) const JOURNAL_UPDATE: &str = "UPDATE upstream_journal SET state = ?, upstream_id = COALESCE(?, upstream_id), steps = COALESCE(?, steps), last_error = ?, updated_at = ?, landing_until = CASE WHEN ? THEN landing_until ELSE ? END WHERE backend = ? AND key = ?";
pub(super) const MAPPED_ONE: &str = "SELECT kind, upstream_id, fluentcart_id, commercelayer_id, bigcommerce_id FROM upstream_ids WHERE backend = ? AND kind = ? AND upstream_id = ?";

/// Inserts `rows` into the id map, each unless one of its ids is mapped already. Not `RETURNING` the new rows:
/// SQLite gathers them in a temporary b-tree, which costs more than the insert; the count inserted tells enough.
pub(super) fn map_statement(rows: Vec<[Value; 7]>) -> Sql {
    let mut q = Sql::new(
        "INSERT INTO upstream_ids (backend, kind, upstream_id, order_upstream_id, fluentcart_id, commercelayer_id, bigcommerce_id) ",
    );
    q.values(rows);
    q.push(" ON CONFLICT DO NOTHING");
    q
}

/// An `upstream_ids` row as (kind, upstream id, ids in every scheme).
fn mapped_from_row(row: &Row<'_>) -> rusqlite::Result<(String, String, PlatformIds)> {
    let upstream_id: String = row.get(1)?;
    let ids = mapped_ids(&upstream_id, row.get(2)?, row.get(3)?, row.get(4)?);
    Ok((row.get(0)?, upstream_id, ids))
}

/// The ids in every scheme of an `upstream_ids` row. The scheme left NULL is the upstream platform's own, in which
/// the object's id is its upstream id (migration 13: stored once).
fn mapped_ids(
    upstream_id: &str,
    fluentcart: Option<i64>,
    commercelayer: Option<String>,
    bigcommerce: Option<i64>,
) -> PlatformIds {
    let own_number = || upstream_id.parse::<u64>().ok();
    PlatformIds {
        fluentcart: fluentcart.map(i64::unsigned_abs).or_else(own_number),
        commercelayer: commercelayer.or_else(|| Some(upstream_id.to_owned())),
        bigcommerce: bigcommerce.map(i64::unsigned_abs).or_else(own_number),
    }
}

/// What an `upstream_ids` row stores in `scheme`'s column for an upstream of `platform`: nothing in the
/// platform's own scheme, where the upstream id is the id.
fn scheme_value(platform: Platform, scheme: Platform, value: Value) -> Value {
    if scheme == platform {
        Value::Null
    } else {
        value
    }
}

impl SqliteStore {
    /// The ids in every scheme of each object, in order, allocating those never seen before. The upstream's own
    /// id stays the object's id in the upstream platform's scheme.
    /// With them, the address links of the orders `linked` names (upstream ids), read in the same transaction.
    pub async fn upstream_localize(
        &self,
        backend: &str,
        platform: Platform,
        objects: &[UpstreamObject],
        linked: &[String],
    ) -> Result<Localized, StoreError> {
        let (mut found, links) = self
            .read_now(|conn| {
                Ok((
                    read_mapped(conn, backend, objects)?,
                    read_links(conn, backend, linked)?,
                ))
            })
            .await?;
        let missing: Vec<UpstreamObject> = objects
            .iter()
            .zip(&found)
            .filter(|(_, ids)| ids.is_none())
            .map(|(o, _)| o.clone())
            .collect();
        if !missing.is_empty() {
            let mut mapped = self
                .upstream_map(backend, platform, missing)
                .await?
                .into_iter();
            for slot in found.iter_mut().filter(|ids| ids.is_none()) {
                *slot = mapped.next();
            }
        }
        Ok(Localized {
            ids: not_missing(found, objects)?,
            links,
        })
    }

    /// Maps upstream objects to ids callers already know (an order staged in the embedded store and then sent
    /// upstream keeps the ids it was created with). Objects already mapped keep their mapping.
    /// The order's address links (`links`) are written in the same transaction.
    pub async fn upstream_adopt(
        &self,
        backend: &str,
        platform: Platform,
        objects: &[(UpstreamObject, PlatformIds)],
        links: &[AddressLink],
    ) -> Result<(), StoreError> {
        let mut statements = link_statements(backend, links);
        if objects.is_empty() {
            return self.execute_together(statements).await;
        }
        let mut q = Sql::new(
            "INSERT OR IGNORE INTO upstream_ids (backend, kind, upstream_id, order_upstream_id, fluentcart_id, commercelayer_id, bigcommerce_id) ",
        );
        q.values(objects.iter().map(|(o, ids)| {
            let int = |p: Platform, known: Option<u64>| {
                if p == platform {
                    o.upstream_id.parse::<i64>().unwrap_or(-1)
                } else {
                    known.and_then(|n| i64::try_from(n).ok()).unwrap_or(-1)
                }
            };
            let cl = if platform == Platform::CommerceLayer {
                o.upstream_id.clone()
            } else {
                ids.commercelayer
                    .clone()
                    .unwrap_or_else(|| random_token(10))
            };
            [
                text(backend),
                text(o.kind),
                text(&o.upstream_id),
                Value::from(o.order_upstream_id.clone()),
                scheme_value(
                    platform,
                    Platform::FluentCart,
                    Value::Integer(int(Platform::FluentCart, ids.fluentcart)),
                ),
                scheme_value(platform, Platform::CommerceLayer, Value::Text(cl)),
                scheme_value(
                    platform,
                    Platform::BigCommerce,
                    Value::Integer(int(Platform::BigCommerce, ids.bigcommerce)),
                ),
            ]
        }));
        statements.insert(0, q);
        self.execute_together(statements).await
    }

    /// Sets or removes address links (`AddressLink::ids`), in one transaction.
    pub async fn upstream_relink(
        &self,
        backend: &str,
        links: &[AddressLink],
    ) -> Result<(), StoreError> {
        self.execute_together(link_statements(backend, links)).await
    }

    /// Runs `statements` on the writer, in one transaction.
    async fn execute_together(&self, statements: Vec<Sql>) -> Result<(), StoreError> {
        if statements.is_empty() {
            return Ok(());
        }
        self.exclusive(move |conn| {
            let tx = conn.transaction()?;
            for statement in &statements {
                statement.execute(&tx)?;
            }
            Ok::<_, StoreError>(tx.commit()?)
        })
        .await
    }

    /// The upstream id of the order holding the address a Commerce Layer caller names by `id` through a link.
    pub async fn upstream_linked_order(
        &self,
        backend: &str,
        id: &str,
    ) -> Result<Option<String>, StoreError> {
        let mut q =
            Sql::new("SELECT order_upstream_id FROM upstream_address_links WHERE backend = ");
        q.bind(text(backend))
            .push(" AND commercelayer_id = ")
            .bind(text(id))
            .push(" LIMIT 1");
        self.read_now(|conn| Ok(q.row(conn, |r| r.get(0))?)).await
    }

    /// The upstream id (and owning order's upstream id) of the object a caller names by `id`.
    pub async fn upstream_resolve(
        &self,
        backend: &str,
        platform: Platform,
        kind: &str,
        id: &ObjectId,
    ) -> Result<Option<(String, Option<String>)>, StoreError> {
        let (scheme, value) = match id {
            ObjectId::Gateway(_) => return Ok(None),
            ObjectId::FluentCart(n) => (
                Platform::FluentCart,
                Value::Integer(i64::try_from(*n).unwrap_or(-1)),
            ),
            ObjectId::BigCommerce(n) => (
                Platform::BigCommerce,
                Value::Integer(i64::try_from(*n).unwrap_or(-1)),
            ),
            ObjectId::CommerceLayer(s) => (Platform::CommerceLayer, text(s)),
        };
        let mut q =
            Sql::new("SELECT upstream_id, order_upstream_id FROM upstream_ids WHERE backend = ");
        q.bind(text(backend)).push(" AND kind = ").bind(text(kind));
        match id.in_scheme(platform) {
            // In the upstream's own scheme the id is the upstream id (see `mapped_ids`).
            Some(own) => q.push(" AND upstream_id = ").bind(Value::Text(own)),
            None => q
                .push(&format!(" AND {} = ", scheme_column(scheme)))
                .bind(value),
        };
        self.read_now(|conn| Ok(q.row(conn, |r| Ok((r.get(0)?, r.get(1)?)))?))
            .await
    }
}

/// A change to one journal row: its new state, and the upstream id, steps and last error when given.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalUpdate {
    pub backend: String,
    pub key: String,
    pub state: JournalState,
    pub upstream_id: Option<String>,
    pub steps: Option<serde_json::Value>,
    pub last_error: Option<String>,
    pub now: i64,
    pub landing: Landing,
}

/// What a journal update says about an attempt that may still land upstream (`JournalEntry::landing_until`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Landing {
    /// Unchanged.
    #[default]
    Keep,
    /// The upstream answered: nothing of ours is left in its hands.
    Settled,
    /// An attempt is being sent, and may land until then (Unix ms).
    Until(i64),
}

/// A create journal row that stopped before its order was confirmed, with steps done upstream, and that no attempt
/// has touched since `updated_at` (`SqliteStore::upstream_unfinished`).
#[derive(Debug, Clone, PartialEq)]
pub struct UnfinishedCreate {
    /// The create's stamp.
    pub key: String,
    pub state: JournalState,
    pub steps: serde_json::Value,
    /// Unix seconds.
    pub updated_at: i64,
}

/// How a sweep ends with a row it took (`SqliteStore::journal_sweep_taken`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SweepEnd {
    /// Nothing of the create is left upstream: the row starts over (pending, no steps), and a retry under its
    /// stamp creates afresh.
    Cleared,
    /// What the create left upstream stays (an order placed though unfinished, or a create that finished after
    /// all): the row keeps its steps for a retry, and sweeps pass it by until an attempt touches it again.
    Left,
    /// The sweep could not tell (the upstream failed): the row is looked at again by a later sweep.
    Again,
}

/// A sweep's hold on a row: this step's value in the row's steps, while `landing_until` is ahead, tells a create
/// under the stamp (in any process) to come back later rather than build on what the sweep may be deleting.
pub const SWEEPING_STEP: &str = "sweeping";

/// When the attempts of a journal row may land upstream (Unix ms), as `journal_begin` is told.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BeginLanding {
    /// For a new row: the attempt about to be sent may land until then.
    pub new: Option<i64>,
    /// For an existing row whose attempts were all made by a process that has since stopped: nothing was sent
    /// after now, so it all lands by then at the latest. A later window on the row is lowered to it.
    pub earlier_by: Option<i64>,
}

pub(super) fn journal_begin(
    conn: &Connection,
    backend: &str,
    key: &str,
    client: &str,
    (now, landing): (i64, BeginLanding),
    fingerprint: Option<&[u8]>,
) -> Result<JournalEntry, StoreError> {
    // The common case, a new key, is one statement: the row inserted is the entry. (Not `RETURNING` it: SQLite
    // gathers a `RETURNING` clause's rows in a temporary b-tree, which costs more than the row's own write.) A key
    // already journaled inserts nothing; its row is read.
    let inserted = conn.prepare_cached(JOURNAL_BEGIN)?.execute(params![
        backend,
        key,
        client,
        now,
        landing.new,
        fingerprint
    ])? == 1;
    if inserted {
        return Ok(JournalEntry {
            state: JournalState::Sent,
            upstream_id: None,
            steps: serde_json::Value::Object(serde_json::Map::new()),
            fresh: true,
            landing_until: landing.new,
            other_request: false,
        });
    }
    // An attempt touches the row it takes up, so a sweep that saw the row idle (`journal_sweep_take`, on this same
    // writer) does not take it from under this attempt.
    conn.prepare_cached(
        "UPDATE upstream_journal SET updated_at = ? WHERE backend = ? AND key = ?",
    )?
    .execute(params![now, backend, key])?;
    if let Some(by) = landing.earlier_by {
        conn.prepare_cached(
            "UPDATE upstream_journal SET landing_until = ? WHERE backend = ? AND key = ? AND landing_until > ?",
        )?
        .execute(params![by, backend, key, by])?;
    }
    type Row = (String, Option<String>, String, Option<i64>, Option<Vec<u8>>);
    let (state, upstream_id, steps, landing_until, begun_for): Row = conn
        .prepare_cached(JOURNAL_READ)?
        .query_row(params![backend, key], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?;
    let state = JournalState::parse(&state)
        .ok_or_else(|| StoreError::Corrupt(format!("journal {key}"), state.clone()))?;
    let steps: serde_json::Value = serde_json::from_str(&steps)
        .map_err(|e| StoreError::Corrupt(format!("journal {key} steps"), e.to_string()))?;
    let another = matches!((fingerprint, &begun_for), (Some(new), Some(old)) if new != &old[..]);
    // Sent or confirmed, the earlier request's order may be upstream; refused or never sent, steps it finished (a
    // customer found, a draft made) may be, and a resumed create would build on them.
    let may_have_acted = matches!(state, JournalState::Sent | JournalState::Confirmed)
        || steps.as_object().is_some_and(|done| !done.is_empty());
    if another && may_have_acted {
        // Left as it is: the row still answers for the request it was begun for.
        return Ok(JournalEntry {
            state,
            upstream_id,
            steps,
            fresh: false,
            landing_until,
            other_request: true,
        });
    }
    if fingerprint.is_some() && begun_for.as_deref() != fingerprint {
        // Nothing of the earlier request's can be upstream (or the row predates fingerprints): the row is this
        // request's from now on.
        conn.prepare_cached(
            "UPDATE upstream_journal SET fingerprint = ? WHERE backend = ? AND key = ?",
        )?
        .execute(params![fingerprint, backend, key])?;
    }
    Ok(JournalEntry {
        state,
        upstream_id,
        steps,
        fresh: false,
        landing_until,
        other_request: false,
    })
}

/// The rows `SqliteStore::upstream_unfinished` answers; the condition repeats the partial index's
/// (`upstream_journal_unfinished`, migration 15) so that SQLite reads that index.
pub(super) const UNFINISHED: &str = "SELECT key, state, steps, updated_at FROM upstream_journal WHERE backend = ? AND state <> 'confirmed' AND steps <> '{}' AND updated_at < ? AND (landing_until IS NULL OR landing_until <= ?) AND (swept_at IS NULL OR swept_at < updated_at) ORDER BY updated_at LIMIT ?";

impl SqliteStore {
    /// Up to `limit` rows of `backend` that stopped before their order was confirmed, with steps recorded, that no
    /// attempt has touched since before `idle_since` (Unix seconds), and whose last attempt can no longer land
    /// (`now_ms`); oldest first. Rows a sweep left (`SweepEnd::Left`) are not answered again until touched.
    pub async fn upstream_unfinished(
        &self,
        backend: &str,
        idle_since: i64,
        now_ms: i64,
        limit: usize,
    ) -> Result<Vec<UnfinishedCreate>, StoreError> {
        let backend = backend.to_owned();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |conn| {
            let mut statement = conn.prepare_cached(UNFINISHED)?;
            let rows = statement.query_map(params![backend, idle_since, now_ms, limit], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (key, state, steps, updated_at) = row?;
                let state = JournalState::parse(&state)
                    .ok_or_else(|| StoreError::Corrupt(format!("journal {key}"), state.clone()))?;
                let steps = serde_json::from_str(&steps).map_err(|e| {
                    StoreError::Corrupt(format!("journal {key} steps"), e.to_string())
                })?;
                out.push(UnfinishedCreate {
                    key,
                    state,
                    steps,
                    updated_at,
                });
            }
            Ok(out)
        })
        .await
    }

    /// Takes `row` for a sweep, if no attempt touched it since it was read: its steps gain `SWEEPING_STEP` and its
    /// landing window runs to `hold_until` (Unix ms), so that an attempt under its stamp waits until the sweep
    /// ends (`journal_sweep_taken`) or, if the sweep never ends (the process stopped), until then. False when the
    /// row changed: an attempt took it up, and the sweep leaves it.
    pub async fn journal_sweep_take(
        &self,
        backend: &str,
        row: &UnfinishedCreate,
        now: i64,
        hold_until: i64,
    ) -> Result<bool, StoreError> {
        let mut steps = row.steps.clone();
        if let Some(map) = steps.as_object_mut() {
            map.insert(SWEEPING_STEP.to_owned(), serde_json::Value::Bool(true));
        }
        let args = (
            backend.to_owned(),
            row.key.clone(),
            row.updated_at,
            steps.to_string(),
        );
        self.exclusive(move |conn| {
            let (backend, key, seen, steps) = args;
            let taken = conn
                .prepare_cached(
                    "UPDATE upstream_journal SET steps = ?, landing_until = ?, updated_at = ? WHERE backend = ? AND key = ? AND updated_at = ? AND state <> 'confirmed'",
                )?
                .execute(params![steps, hold_until, now, backend, key, seen])?;
            Ok(taken == 1)
        })
        .await
    }

    /// Ends a sweep of a row taken with `journal_sweep_take` (see `SweepEnd`). `steps` are the row's steps as the
    /// sweep read them, without its own mark.
    pub async fn journal_sweep_taken(
        &self,
        backend: &str,
        key: &str,
        steps: &serde_json::Value,
        end: SweepEnd,
        note: Option<String>,
        now: i64,
    ) -> Result<(), StoreError> {
        let args = (backend.to_owned(), key.to_owned(), steps.to_string());
        self.exclusive(move |conn| {
            let (backend, key, steps) = args;
            let statement = match end {
                SweepEnd::Cleared => "UPDATE upstream_journal SET state = 'pending', steps = '{}', upstream_id = NULL, landing_until = NULL, swept_at = NULL, last_error = ?3, updated_at = ?4 WHERE backend = ?1 AND key = ?2",
                SweepEnd::Left => "UPDATE upstream_journal SET steps = ?5, landing_until = NULL, swept_at = ?4, last_error = COALESCE(?3, last_error), updated_at = ?4 WHERE backend = ?1 AND key = ?2",
                SweepEnd::Again => "UPDATE upstream_journal SET steps = ?5, landing_until = NULL, last_error = COALESCE(?3, last_error) WHERE backend = ?1 AND key = ?2",
            };
            let mut statement = conn.prepare_cached(statement)?;
            match end {
                SweepEnd::Cleared => statement.execute(params![backend, key, note, now])?,
                SweepEnd::Left | SweepEnd::Again => {
                    statement.execute(params![backend, key, note, now, steps])?
                }
            };
            Ok(())
        })
        .await
    }
}

pub(super) fn journal_update(conn: &Connection, u: &JournalUpdate) -> Result<(), StoreError> {
    conn.prepare_cached(JOURNAL_UPDATE)?.execute(params![
        u.state.key(),
        u.upstream_id,
        u.steps.as_ref().map(serde_json::Value::to_string),
        u.last_error,
        u.now,
        u.landing == Landing::Keep,
        match u.landing {
            Landing::Until(ms) => Some(ms),
            Landing::Keep | Landing::Settled => None,
        },
        u.backend,
        u.key
    ])?;
    Ok(())
}

/// At most this many objects are read one by one; more are read with a list (`(kind, upstream_id) IN (...)`),
/// for which SQLite builds a temporary b-tree first, which costs more than a few single-row reads.
const READ_ONE_BY_ONE: usize = 8;

/// The ids of each object already mapped, in order (`None` where it is not).
fn read_mapped(
    conn: &Connection,
    backend: &str,
    objects: &[UpstreamObject],
) -> Result<Vec<Option<PlatformIds>>, StoreError> {
    let mut out = vec![None; objects.len()];
    if objects.len() <= READ_ONE_BY_ONE {
        let mut one = conn.prepare_cached(MAPPED_ONE)?;
        for (slot, o) in out.iter_mut().zip(objects) {
            *slot = one
                .query_row(params![backend, o.kind, o.upstream_id], mapped_from_row)
                .optional()?
                .map(|(_, _, ids)| ids);
        }
        return Ok(out);
    }
    for (slots, chunk) in out.chunks_mut(200).zip(objects.chunks(200)) {
        let mut q = Sql::new(&format!(
            "SELECT {MAPPED_COLUMNS} FROM upstream_ids WHERE backend = "
        ));
        q.bind(text(backend)).push(" AND (kind, upstream_id) IN (");
        for (i, o) in chunk.iter().enumerate() {
            if i > 0 {
                q.push(", ");
            }
            q.tuple([text(o.kind), text(&o.upstream_id)]);
        }
        q.push(")");
        place_rows(slots, chunk, q.rows(conn, mapped_from_row)?);
    }
    Ok(out)
}

/// The address links of the orders named by upstream id, as `AddressLink`s with ids.
fn read_links(
    conn: &Connection,
    backend: &str,
    orders: &[String],
) -> Result<Vec<AddressLink>, StoreError> {
    let mut out = Vec::new();
    if orders.is_empty() {
        return Ok(out);
    }
    let mut one = conn.prepare_cached(
        "SELECT role, fluentcart_id, commercelayer_id, bigcommerce_id FROM upstream_address_links WHERE backend = ? AND order_upstream_id = ?",
    )?;
    for order in orders {
        let rows = one.query_map(params![backend, order], |r| {
            Ok((
                r.get::<_, String>(0)?,
                PlatformIds {
                    fluentcart: r.get::<_, Option<i64>>(1)?.map(i64::unsigned_abs),
                    commercelayer: r.get(2)?,
                    bigcommerce: r.get::<_, Option<i64>>(3)?.map(i64::unsigned_abs),
                },
            ))
        })?;
        for row in rows {
            let (role, ids) = row?;
            let role = AddressRole::parse(&role).ok_or_else(|| {
                StoreError::Corrupt(format!("address link of {order}"), role.clone())
            })?;
            out.push(AddressLink {
                order_upstream_id: order.clone(),
                role,
                ids: Some(ids),
            });
        }
    }
    Ok(out)
}

/// The statements that write `links`: an upsert for each with ids, a delete for each without.
fn link_statements(backend: &str, links: &[AddressLink]) -> Vec<Sql> {
    links
        .iter()
        .map(|link| match &link.ids {
            Some(ids) => {
                let number = |n: Option<u64>| {
                    Value::from(n.and_then(|n| i64::try_from(n).ok()))
                };
                let mut q = Sql::new(
                    "INSERT INTO upstream_address_links (backend, order_upstream_id, role, fluentcart_id, commercelayer_id, bigcommerce_id) ",
                );
                q.values([[
                    text(backend),
                    text(&link.order_upstream_id),
                    text(link.role.key()),
                    number(ids.fluentcart),
                    Value::from(ids.commercelayer.clone()),
                    number(ids.bigcommerce),
                ]]);
                q.push(" ON CONFLICT (backend, order_upstream_id, role) DO UPDATE SET fluentcart_id = excluded.fluentcart_id, commercelayer_id = excluded.commercelayer_id, bigcommerce_id = excluded.bigcommerce_id");
                q
            }
            None => {
                let mut q =
                    Sql::new("DELETE FROM upstream_address_links WHERE backend = ");
                q.bind(text(backend))
                    .push(" AND order_upstream_id = ")
                    .bind(text(&link.order_upstream_id))
                    .push(" AND role = ")
                    .bind(text(link.role.key()));
                q
            }
        })
        .collect()
}

/// Puts each `upstream_ids` row's ids in the slot of every object it maps (`slots` parallel to `objects`).
fn place_rows(
    slots: &mut [Option<PlatformIds>],
    objects: &[UpstreamObject],
    rows: Vec<(String, String, PlatformIds)>,
) {
    for (kind, id, ids) in rows {
        for (slot, o) in slots.iter_mut().zip(objects) {
            if o.kind == kind && o.upstream_id == id {
                *slot = Some(ids.clone());
            }
        }
    }
}

/// Every object's ids, or which object has none.
fn not_missing(
    found: Vec<Option<PlatformIds>>,
    objects: &[UpstreamObject],
) -> Result<Vec<PlatformIds>, StoreError> {
    found
        .into_iter()
        .zip(objects)
        .map(|(ids, o)| {
            ids.ok_or_else(|| {
                StoreError::Corrupt(
                    format!("upstream {} {}", o.kind, o.upstream_id),
                    "not mapped after insert".to_owned(),
                )
            })
        })
        .collect()
}

/// Maps `objects`, which are likely new (a create's, or those a read found unmapped), inside a write batch's
/// transaction: each distinct object gets ids from the embedded shop's sequences and is inserted; when every row
/// went in, those ids are the mapping. An object already mapped (a reconciled create, or one a `replay` process sharing the
/// data directory mapped first) keeps its mapping: its insert takes no effect, its numbers stay unused, and it is
/// read back, within the transaction (which holds the write lock). Reading first would cost a statement on every
/// create to save numbers in those rare cases.
pub(super) fn map_objects(
    conn: &Connection,
    backend: &str,
    platform: Platform,
    objects: &[UpstreamObject],
) -> Result<Vec<PlatformIds>, StoreError> {
    let mut found: Vec<Option<PlatformIds>> = vec![None; objects.len()];
    let mut seen = std::collections::HashSet::new();
    let missing: Vec<&UpstreamObject> = objects
        .iter()
        .filter(|o| seen.insert((o.kind, o.upstream_id.as_str())))
        .collect();
    if missing.is_empty() {
        return Ok(Vec::new());
    }
    // The embedded shop's sequences: an id ordermux gives an upstream object never collides with one it gave an
    // embedded object, so a caller's id names one thing whichever shop holds it.
    let mut wants: Vec<(&str, i64)> = Vec::new();
    for o in &missing {
        match wants.iter_mut().find(|(n, _)| *n == o.kind) {
            Some((_, count)) => *count += 1,
            None => wants.push((o.kind, 1)),
        }
    }
    let mut next = allocate(conn, &wants)?;
    let mut rows = Vec::new();
    let mut given = Vec::new();
    for o in &missing {
        let n = next.get_mut(o.kind).map_or(0, |n| {
            let v = *n;
            *n += 1;
            v
        });
        let int_id = |p: Platform| -> Result<i64, StoreError> {
            if p == Platform::BigCommerce && p != platform && o.kind == "order" {
                Ok(n + BIGCOMMERCE_ORDER_ID_OFFSET)
            } else if p == platform {
                o.upstream_id.parse::<i64>().map_err(|_| {
                    StoreError::Corrupt(
                        format!("upstream {} id", o.kind),
                        format!("{:?} is not an integer", o.upstream_id),
                    )
                })
            } else {
                Ok(n)
            }
        };
        let cl = if platform == Platform::CommerceLayer {
            o.upstream_id.clone()
        } else {
            sequenced_token(n.unsigned_abs())
        };
        let (fluentcart, bigcommerce) = (
            int_id(Platform::FluentCart)?,
            int_id(Platform::BigCommerce)?,
        );
        rows.push([
            text(backend),
            text(o.kind),
            text(&o.upstream_id),
            Value::from(o.order_upstream_id.clone()),
            scheme_value(platform, Platform::FluentCart, Value::Integer(fluentcart)),
            scheme_value(platform, Platform::CommerceLayer, Value::Text(cl.clone())),
            scheme_value(platform, Platform::BigCommerce, Value::Integer(bigcommerce)),
        ]);
        given.push((
            o.kind.to_owned(),
            o.upstream_id.clone(),
            mapped_ids(
                &o.upstream_id,
                Some(fluentcart),
                Some(cl),
                Some(bigcommerce),
            ),
        ));
    }
    if map_statement(rows).execute(conn)? == given.len() {
        place_rows(&mut found, objects, given);
    } else {
        found = read_mapped(conn, backend, objects)?;
    }
    not_missing(found, objects)
}
