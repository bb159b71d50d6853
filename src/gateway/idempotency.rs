//! `Idempotency-Key` (draft-ietf-httpapi-idempotency-key-header): the key's format, and the request fingerprint
//! a stored response is bound to.

use http::HeaderMap;
use sha2::{Digest, Sha256};

use crate::canonical::{Problem, ProblemKind};

pub const HEADER: &str = "idempotency-key";
const MAX_KEY_LEN: usize = 255;

/// The key of a request, if it sent one. One header, a structured-field string (`"abc"`) or a bare token of
/// visible ASCII, 1..=255 characters.
pub fn key(headers: &HeaderMap) -> Result<Option<String>, Problem> {
    let mut values = headers.get_all(HEADER).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    let invalid = |why: &str| {
        Problem::new(
            ProblemKind::IdempotencyKeyInvalid,
            "",
            format!("Idempotency-Key {why}"),
        )
    };
    if values.next().is_some() {
        return Err(invalid("must be sent once"));
    }
    let text = first
        .to_str()
        .map_err(|_| invalid("must be visible ASCII"))?
        .trim();
    let key = match text.strip_prefix('"') {
        Some(rest) => rest
            .strip_suffix('"')
            .filter(|k| !k.contains('"') && !k.contains('\\'))
            .ok_or_else(|| invalid("is not a valid structured-field string"))?,
        None => text,
    };
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(invalid("must be 1 to 255 characters"));
    }
    if !key.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Err(invalid("must be visible ASCII"));
    }
    Ok(Some(key.to_owned()))
}

/// What makes two requests "the same request": method, path and body bytes.
pub fn fingerprint(method: &http::Method, path: &str, body: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(method.as_str().as_bytes());
    h.update([0]);
    h.update(path.as_bytes());
    h.update([0]);
    h.update(body);
    h.finalize().into()
}

/// How often expired records are looked for, and how many go per transaction (so a large backlog, such as after a
/// long stop, never holds the writer for long: other writes run between the chunks).
const PURGE_EVERY: std::time::Duration = std::time::Duration::from_secs(600);
const PURGE_CHUNK: usize = 2_000;

/// Deletes the records older than `retention` (`[idempotency] retention_hours`), now and then every
/// `PURGE_EVERY`, for as long as the gateway serves. A key past its retention starts over anyway; without this
/// its record would stay in the store for ever.
pub async fn purge_expired(store: crate::store::Store, retention: std::time::Duration) {
    let mut every = tokio::time::interval(PURGE_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        match purge_once(&store, retention, chrono::Utc::now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(records = n, "expired idempotency records deleted"),
            Err(e) => {
                tracing::warn!(error = %e, "deleting expired idempotency records failed; tried again later")
            }
        }
    }
}

/// One pass: every record made more than `retention` before `now`, chunk by chunk.
pub async fn purge_once(
    store: &crate::store::Store,
    retention: std::time::Duration,
    now: crate::canonical::Timestamp,
) -> Result<usize, crate::store::StoreError> {
    // A retention reaching before the calendar's start keeps everything.
    let Some(horizon) = chrono::Duration::from_std(retention)
        .ok()
        .and_then(|r| now.checked_sub_signed(r))
    else {
        return Ok(0);
    };
    let mut total = 0;
    loop {
        let n = store.idempotency_purge(horizon, PURGE_CHUNK).await?;
        total += n;
        if n < PURGE_CHUNK {
            return Ok(total);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records past their retention go (in chunks, however many), and only they: a kept key still answers as
    /// before, and an expired one starts over.
    #[tokio::test]
    async fn expired_records_are_purged_in_chunks_and_kept_ones_stay() {
        use crate::store::{IdempotencyClaim, Store};
        let dir = std::env::temp_dir().join(format!("ordermux-purge-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = Store::open_sqlite(&dir, crate::config::Durability::Normal)
            .await
            .unwrap();
        let day = std::time::Duration::from_secs(24 * 3600);
        let now = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let old = now - chrono::Duration::hours(25);
        let print = [7u8; 32];
        let expired = PURGE_CHUNK + 5;
        let answer = crate::store::StoredResponse {
            status: 201,
            headers: Vec::new(),
            body: b"{}".to_vec(),
        };
        // Each key answered: its record is written with the answer (queued; the writer commits in order, so
        // before the purge below).
        let answered = |key: String, at| {
            let (store, answer) = (&store, answer.clone());
            async move {
                match store.idempotency_begin("demo", &key, &print, at, day).await {
                    Ok(IdempotencyClaim::Claimed(hold)) => {
                        store.queue_idempotency_answer(hold, answer, false).is_ok()
                    }
                    _ => false,
                }
            }
        };
        let claims =
            futures_util::future::join_all((0..expired).map(|i| answered(format!("old-{i}"), old)))
                .await;
        assert!(claims.into_iter().all(|answered| answered));
        let recent = now - chrono::Duration::hours(23);
        assert!(answered("recent".into(), recent).await);

        assert_eq!(purge_once(&store, day, now).await.unwrap(), expired);
        assert_eq!(purge_once(&store, day, now).await.unwrap(), 0);
        // The recent key still answers; an expired one starts over.
        let again = |key: &'static str| store.idempotency_begin("demo", key, &print, now, day);
        assert!(matches!(
            again("recent").await.unwrap(),
            IdempotencyClaim::Replay(r) if r == answer
        ));
        assert!(matches!(
            again("old-0").await.unwrap(),
            IdempotencyClaim::Claimed(_)
        ));
        // A retention longer than the calendar keeps everything.
        assert_eq!(
            purge_once(&store, std::time::Duration::MAX, now)
                .await
                .unwrap(),
            0
        );
        std::fs::remove_dir_all(dir).ok();
    }

    fn with(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(HEADER, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn keys_are_validated() {
        assert_eq!(key(&with(&[])).unwrap(), None);
        assert_eq!(
            key(&with(&["\"8e03978e-40d5\""])).unwrap().as_deref(),
            Some("8e03978e-40d5")
        );
        assert_eq!(
            key(&with(&["plain-key"])).unwrap().as_deref(),
            Some("plain-key")
        );
        for bad in [vec!["\"\""], vec!["a", "b"], vec!["\"unterminated"]] {
            assert_eq!(
                key(&with(&bad)).unwrap_err().kind,
                ProblemKind::IdempotencyKeyInvalid
            );
        }
        let long = "k".repeat(256);
        assert!(key(&with(&[&long])).is_err());
    }

    #[test]
    fn fingerprints_differ_by_body() {
        let m = http::Method::POST;
        assert_eq!(fingerprint(&m, "/o", b"{}"), fingerprint(&m, "/o", b"{}"));
        assert_ne!(fingerprint(&m, "/o", b"{}"), fingerprint(&m, "/o", b"{ }"));
    }
}
