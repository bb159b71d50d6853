//! The replay journal (migration 0006): where each source order of an `ordermux replay` stands on each target.

use std::collections::HashMap;

use rusqlite::types::Value;
use rusqlite::Connection;

use super::sql::{text, Sql};
use super::sqlite::SqliteStore;
use super::upstream::JournalState;
use super::StoreError;

/// One source order's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayEntry {
    pub state: JournalState,
    pub target_id: Option<String>,
}

/// A change to one row: its new state and what is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayMark {
    pub target: String,
    pub source_key: String,
    pub state: JournalState,
    pub target_id: Option<String>,
    /// JSON array of the losses the translation reported.
    pub losses: String,
    pub last_error: Option<String>,
    pub now: i64,
}

/// Upserts many rows in one statement per 2000 (confirmations committed with a group of creates).
pub(super) fn upsert_many(conn: &Connection, marks: &[ReplayMark]) -> Result<(), StoreError> {
    for chunk in marks.chunks(2000) {
        upsert_statement(chunk).execute(conn)?;
    }
    Ok(())
}

/// The upsert of `marks` into the journal.
pub(super) fn upsert_statement(marks: &[ReplayMark]) -> Sql {
    let mut q = Sql::new(
        "INSERT INTO replay_journal (target, source_key, state, target_id, losses, last_error, updated_at) ",
    );
    q.values(marks.iter().map(|m| {
        [
            text(&m.target),
            text(&m.source_key),
            text(m.state.key()),
            Value::from(m.target_id.clone()),
            text(&m.losses),
            Value::from(m.last_error.clone()),
            Value::Integer(m.now),
        ]
    }));
    q.push(
        " ON CONFLICT (target, source_key) DO UPDATE SET state = excluded.state, \
         target_id = COALESCE(excluded.target_id, target_id), losses = excluded.losses, \
         last_error = excluded.last_error, updated_at = excluded.updated_at",
    );
    q
}

impl SqliteStore {
    /// The rows for `keys` on `target` (keys without a row are absent), in one query per 500 keys.
    pub async fn replay_entries(
        &self,
        target: &str,
        keys: &[String],
    ) -> Result<HashMap<String, ReplayEntry>, StoreError> {
        let mut queries = Vec::new();
        for chunk in keys.chunks(500) {
            let mut q =
                Sql::new("SELECT source_key, state, target_id FROM replay_journal WHERE target = ");
            q.bind(text(target)).push(" AND source_key IN ");
            q.tuple(chunk.iter().map(|k| text(k)));
            queries.push(q);
        }
        self.read(move |conn| {
            let mut out = HashMap::new();
            for q in &queries {
                let rows = q.rows(conn, |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Option<String>>(2)?,
                    ))
                })?;
                for (key, state, target_id) in rows {
                    let state = JournalState::parse(&state).ok_or_else(|| {
                        StoreError::Corrupt(format!("replay journal {key}"), state)
                    })?;
                    out.insert(key, ReplayEntry { state, target_id });
                }
            }
            Ok(out)
        })
        .await
    }

    /// Records a row's new state (committed with whatever other writes are waiting).
    pub async fn replay_mark(&self, mark: ReplayMark) -> Result<(), StoreError> {
        self.write_replay_mark(mark).await
    }

    /// The notifications of `backend` that a replay switched off and has not yet switched back on, oldest first.
    pub async fn muted_notifications(&self, backend: &str) -> Result<Vec<String>, StoreError> {
        let backend = backend.to_owned();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT name FROM muted_notifications WHERE backend = ? ORDER BY muted_at, name",
            )?;
            let names = stmt
                .query_map([&backend], |r| r.get(0))?
                .collect::<Result<Vec<String>, _>>()?;
            Ok(names)
        })
        .await
    }

    /// Remembers that a replay switches `name` off. Written directly, not batched: it must be durable before the
    /// switch is flipped upstream.
    pub async fn record_muted_notification(
        &self,
        backend: &str,
        name: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let (backend, name) = (backend.to_owned(), name.to_owned());
        self.exclusive(move |conn| {
            conn.execute(
                "INSERT INTO muted_notifications (backend, name, muted_at) VALUES (?, ?, ?) \
                 ON CONFLICT (backend, name) DO NOTHING",
                rusqlite::params![backend, name, now],
            )?;
            Ok(())
        })
        .await
    }

    /// Forgets `name` once it is switched back on.
    pub async fn forget_muted_notification(
        &self,
        backend: &str,
        name: &str,
    ) -> Result<(), StoreError> {
        let (backend, name) = (backend.to_owned(), name.to_owned());
        self.exclusive(move |conn| {
            conn.execute(
                "DELETE FROM muted_notifications WHERE backend = ? AND name = ?",
                [&backend, &name],
            )?;
            Ok(())
        })
        .await
    }
}
