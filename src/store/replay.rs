//! The replay journal (migration 0006): where each source order of an `ordermux replay` stands on each target.

use std::collections::HashMap;

use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};

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

pub(super) async fn upsert(conn: &mut SqliteConnection, m: &ReplayMark) -> Result<(), StoreError> {
    upsert_many(conn, std::slice::from_ref(m)).await
}

/// Upserts many rows in one statement per 2000 (confirmations committed with a group of creates).
pub(super) async fn upsert_many(
    conn: &mut SqliteConnection,
    marks: &[ReplayMark],
) -> Result<(), StoreError> {
    for chunk in marks.chunks(2000) {
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO replay_journal (target, source_key, state, target_id, losses, last_error, updated_at) ",
        );
        q.push_values(chunk, |mut b, m| {
            b.push_bind(m.target.clone())
                .push_bind(m.source_key.clone())
                .push_bind(m.state.key())
                .push_bind(m.target_id.clone())
                .push_bind(m.losses.clone())
                .push_bind(m.last_error.clone())
                .push_bind(m.now);
        });
        q.push(
            " ON CONFLICT (target, source_key) DO UPDATE SET state = excluded.state, \
             target_id = COALESCE(excluded.target_id, target_id), losses = excluded.losses, \
             last_error = excluded.last_error, updated_at = excluded.updated_at",
        );
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

impl SqliteStore {
    /// The rows for `keys` on `target` (keys without a row are absent), in one query per 500 keys.
    pub async fn replay_entries(
        &self,
        target: &str,
        keys: &[String],
    ) -> Result<HashMap<String, ReplayEntry>, StoreError> {
        let mut out = HashMap::with_capacity(keys.len());
        for chunk in keys.chunks(500) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "SELECT source_key, state, target_id FROM replay_journal WHERE target = ",
            );
            q.push_bind(target.to_owned()).push(" AND source_key IN (");
            let mut sep = q.separated(", ");
            for k in chunk {
                sep.push_bind(k.clone());
            }
            q.push(")");
            for row in q.build().fetch_all(&self.reader).await? {
                let key: String = row.get(0);
                let state: String = row.get(1);
                let state = JournalState::parse(&state)
                    .ok_or_else(|| StoreError::Corrupt(format!("replay journal {key}"), state))?;
                out.insert(
                    key,
                    ReplayEntry {
                        state,
                        target_id: row.get(2),
                    },
                );
            }
        }
        Ok(out)
    }

    /// Records a row's new state (committed with whatever other writes are waiting).
    pub async fn replay_mark(&self, mark: ReplayMark) -> Result<(), StoreError> {
        self.write_replay_mark(mark).await
    }

    /// The notifications of `backend` that a replay switched off and has not yet switched back on, oldest first.
    pub async fn muted_notifications(&self, backend: &str) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT name FROM muted_notifications WHERE backend = ? ORDER BY muted_at, name",
        )
        .bind(backend)
        .fetch_all(&self.reader)
        .await?;
        Ok(rows.into_iter().map(|r| r.get(0)).collect())
    }

    /// Remembers that a replay switches `name` off. Written directly, not batched: it must be durable before the
    /// switch is flipped upstream.
    pub async fn record_muted_notification(
        &self,
        backend: &str,
        name: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO muted_notifications (backend, name, muted_at) VALUES (?, ?, ?) \
             ON CONFLICT (backend, name) DO NOTHING",
        )
        .bind(backend)
        .bind(name)
        .bind(now)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Forgets `name` once it is switched back on.
    pub async fn forget_muted_notification(
        &self,
        backend: &str,
        name: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM muted_notifications WHERE backend = ? AND name = ?")
            .bind(backend)
            .bind(name)
            .execute(&self.writer)
            .await?;
        Ok(())
    }
}
