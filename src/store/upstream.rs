//! What the store keeps about orders held by upstream shops (migration 0004): the id map that lets a caller of any
//! dialect name an upstream object, and the create journal that makes sends to an upstream exactly-once.

use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};

use super::ids::random_token;
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
}

fn scheme_column(platform: Platform) -> &'static str {
    match platform {
        Platform::FluentCart => "fluentcart_id",
        Platform::CommerceLayer => "commercelayer_id",
        Platform::BigCommerce => "bigcommerce_id",
    }
}

fn ids_from_row(row: &SqliteRow) -> PlatformIds {
    let fc: i64 = row.get("fluentcart_id");
    let bc: i64 = row.get("bigcommerce_id");
    PlatformIds {
        fluentcart: Some(fc.unsigned_abs()),
        commercelayer: Some(row.get("commercelayer_id")),
        bigcommerce: Some(bc.unsigned_abs()),
    }
}

impl SqliteStore {
    /// The ids in every scheme of each object, in order, allocating those never seen before. The upstream's own
    /// id stays the object's id in the upstream platform's scheme.
    pub async fn upstream_localize(
        &self,
        backend: &str,
        platform: Platform,
        objects: &[UpstreamObject],
    ) -> Result<Vec<PlatformIds>, StoreError> {
        let found = {
            let mut conn = self.reader.acquire().await?;
            read_mapped(&mut conn, backend, objects).await?
        };
        if found.iter().all(Option::is_some) {
            return Ok(found.into_iter().flatten().collect());
        }
        self.upstream_map(backend, platform, objects).await
    }

    /// Maps upstream objects to ids callers already know (an order staged in the embedded store and then sent
    /// upstream keeps the ids it was created with). Objects already mapped keep their mapping.
    pub async fn upstream_adopt(
        &self,
        backend: &str,
        platform: Platform,
        objects: &[(UpstreamObject, PlatformIds)],
    ) -> Result<(), StoreError> {
        if objects.is_empty() {
            return Ok(());
        }
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT OR IGNORE INTO upstream_ids (backend, kind, upstream_id, order_upstream_id, fluentcart_id, commercelayer_id, bigcommerce_id) ",
        );
        q.push_values(objects, |mut b, (o, ids)| {
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
            b.push_bind(backend.to_owned())
                .push_bind(o.kind)
                .push_bind(o.upstream_id.clone())
                .push_bind(o.order_upstream_id.clone())
                .push_bind(int(Platform::FluentCart, ids.fluentcart))
                .push_bind(cl)
                .push_bind(int(Platform::BigCommerce, ids.bigcommerce));
        });
        q.build().execute(&self.writer).await?;
        Ok(())
    }

    /// The upstream id (and owning order's upstream id) of the object a caller names by `id`.
    pub async fn upstream_resolve(
        &self,
        backend: &str,
        kind: &str,
        id: &ObjectId,
    ) -> Result<Option<(String, Option<String>)>, StoreError> {
        let (platform, value) = match id {
            ObjectId::Gateway(_) => return Ok(None),
            ObjectId::FluentCart(n) => (
                Platform::FluentCart,
                Value::Int(i64::try_from(*n).unwrap_or(-1)),
            ),
            ObjectId::BigCommerce(n) => (
                Platform::BigCommerce,
                Value::Int(i64::try_from(*n).unwrap_or(-1)),
            ),
            ObjectId::CommerceLayer(s) => (Platform::CommerceLayer, Value::Text(s.clone())),
        };
        let column = scheme_column(platform);
        let mut q = QueryBuilder::<Sqlite>::new(
            "SELECT upstream_id, order_upstream_id FROM upstream_ids WHERE backend = ",
        );
        q.push_bind(backend.to_owned())
            .push(" AND kind = ")
            .push_bind(kind.to_owned())
            .push(format!(" AND {column} = "));
        match value {
            Value::Int(n) => q.push_bind(n),
            Value::Text(s) => q.push_bind(s),
        };
        let row = q.build().fetch_optional(&self.reader).await?;
        Ok(row.map(|r| (r.get(0), r.get(1))))
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
}

pub(super) async fn journal_begin(
    conn: &mut SqliteConnection,
    backend: &str,
    key: &str,
    client: &str,
    now: i64,
) -> Result<JournalEntry, StoreError> {
    // The common case, a new key, is one statement: the inserted row comes back. A key already journaled
    // inserts nothing and returns nothing; its row is read.
    let inserted = sqlx::query(
        "INSERT INTO upstream_journal (backend, key, client, state, updated_at) VALUES (?, ?, ?, 'sent', ?) ON CONFLICT (backend, key) DO NOTHING RETURNING state, upstream_id, steps",
    )
    .bind(backend)
    .bind(key)
    .bind(client)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    let (row, inserted) = match inserted {
        Some(row) => (row, true),
        None => (
            sqlx::query(
                "SELECT state, upstream_id, steps FROM upstream_journal WHERE backend = ? AND key = ?",
            )
            .bind(backend)
            .bind(key)
            .fetch_one(&mut *conn)
            .await?,
            false,
        ),
    };
    let state: String = row.get(0);
    let steps: String = row.get(2);
    Ok(JournalEntry {
        state: JournalState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("journal {key}"), state.clone()))?,
        upstream_id: row.get(1),
        steps: serde_json::from_str(&steps)
            .map_err(|e| StoreError::Corrupt(format!("journal {key} steps"), e.to_string()))?,
        fresh: inserted,
    })
}

pub(super) async fn journal_update(
    conn: &mut SqliteConnection,
    u: &JournalUpdate,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE upstream_journal SET state = ?, upstream_id = COALESCE(?, upstream_id), steps = COALESCE(?, steps), last_error = ?, updated_at = ? WHERE backend = ? AND key = ?",
    )
    .bind(u.state.key())
    .bind(&u.upstream_id)
    .bind(u.steps.as_ref().map(serde_json::Value::to_string))
    .bind(&u.last_error)
    .bind(u.now)
    .bind(&u.backend)
    .bind(&u.key)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

enum Value {
    Int(i64),
    Text(String),
}

/// The ids of each object already mapped, in order (`None` where it is not).
async fn read_mapped(
    conn: &mut SqliteConnection,
    backend: &str,
    objects: &[UpstreamObject],
) -> Result<Vec<Option<PlatformIds>>, StoreError> {
    let mut out = vec![None; objects.len()];
    for chunk_start in (0..objects.len()).step_by(200) {
        let chunk = &objects[chunk_start..(chunk_start + 200).min(objects.len())];
        let mut q = QueryBuilder::<Sqlite>::new(
            "SELECT kind, upstream_id, fluentcart_id, commercelayer_id, bigcommerce_id FROM upstream_ids WHERE backend = ",
        );
        q.push_bind(backend.to_owned());
        q.push(" AND (kind, upstream_id) IN (");
        let mut sep = q.separated(", ");
        for o in chunk {
            sep.push("(")
                .push_bind_unseparated(o.kind)
                .push_unseparated(", ")
                .push_bind_unseparated(o.upstream_id.clone())
                .push_unseparated(")");
        }
        q.push(")");
        let rows = q.build().fetch_all(&mut *conn).await?;
        if let Some(slots) = out.get_mut(chunk_start..chunk_start + chunk.len()) {
            place_rows(slots, chunk, &rows);
        }
    }
    Ok(out)
}

/// Puts each `upstream_ids` row's ids in the slot of every object it maps (`slots` parallel to `objects`).
fn place_rows(slots: &mut [Option<PlatformIds>], objects: &[UpstreamObject], rows: &[SqliteRow]) {
    for row in rows {
        let kind: String = row.get("kind");
        let id: String = row.get("upstream_id");
        for (slot, o) in slots.iter_mut().zip(objects) {
            if o.kind == kind && o.upstream_id == id {
                *slot = Some(ids_from_row(row));
            }
        }
    }
}

/// Maps `objects` inside a write batch's transaction: what is mapped stays, the rest get ids from the embedded
/// shop's sequences. The new rows come back from their insert; only an object whose insert did not take (named
/// twice in `objects`) is read again, within the transaction (which by then holds the write lock, so a `replay`
/// process sharing the data directory cannot change it in between).
pub(super) async fn map_objects(
    conn: &mut SqliteConnection,
    backend: &str,
    platform: Platform,
    objects: &[UpstreamObject],
) -> Result<Vec<PlatformIds>, StoreError> {
    let mut found = read_mapped(conn, backend, objects).await?;
    let missing: Vec<&UpstreamObject> = objects
        .iter()
        .zip(&found)
        .filter(|(_, ids)| ids.is_none())
        .map(|(o, _)| o)
        .collect();
    if missing.is_empty() {
        return Ok(found.into_iter().flatten().collect());
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
    let mut next = allocate(conn, &wants).await?;
    let mut q = QueryBuilder::<Sqlite>::new(
        "INSERT INTO upstream_ids (backend, kind, upstream_id, order_upstream_id, fluentcart_id, commercelayer_id, bigcommerce_id) ",
    );
    let mut rows = Vec::new();
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
            random_token(10)
        };
        rows.push((
            *o,
            int_id(Platform::FluentCart)?,
            cl,
            int_id(Platform::BigCommerce)?,
        ));
    }
    q.push_values(rows, |mut b, (o, fc, cl, bc)| {
        b.push_bind(backend.to_owned())
            .push_bind(o.kind)
            .push_bind(o.upstream_id.clone())
            .push_bind(o.order_upstream_id.clone())
            .push_bind(fc)
            .push_bind(cl)
            .push_bind(bc);
    });
    q.push(" ON CONFLICT DO NOTHING RETURNING kind, upstream_id, fluentcart_id, commercelayer_id, bigcommerce_id");
    let inserted = q.build().fetch_all(&mut *conn).await?;
    place_rows(&mut found, objects, &inserted);
    if found.iter().any(Option::is_none) {
        found = read_mapped(conn, backend, objects).await?;
    }
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
