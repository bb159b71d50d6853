//! Idempotency-Key claims: what a new request with a key is told (`IdempotencyClaim`), the hold a request keeps on
//! its key while it runs (`KeyHold`), and the claim its store writes are made under (`under_claim`).
//!
//! A new key costs no commit of its own. One serving process owns a data directory (`ServingLock`), so holding a
//! key is an in-memory matter: `HeldKeys` turns away a second request with a held key (409, or 422 for another
//! body) at once, or, once the holder's answer is queued, lets it wait for that answer. The key's record is
//! written with the request's first write, in that write's transaction: the claim and its recovery point become
//! durable together. A request stopped before it wrote anything left nothing to take over, and its retry simply
//! runs; one stopped after leaves a record in flight under a process that is gone, which the next process takes
//! over (`Interrupted`) from what the record says was written.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::futures::OwnedNotified;
use tokio::sync::Notify;

use super::StoredResponse;

/// What `idempotency_begin` found for a key.
#[derive(Debug)]
pub enum IdempotencyClaim {
    /// The key is new (or expired) and is now held by this request.
    Claimed(KeyHold),
    /// A request with this key and the same body completed: its response.
    Replay(StoredResponse),
    /// A request with this key is still running.
    InFlight,
    /// The key was used with a different request.
    Mismatch,
    /// The key was held by a serving process that stopped before answering (`ordermux serve` locks its data
    /// directory, so a claim of another process is one of a process gone); it is now held by this request.
    /// `wrote`: the gateway id of what that attempt wrote to the store before it stopped (see `under_claim`).
    Interrupted {
        wrote: Option<String>,
        hold: KeyHold,
    },
}

/// The Idempotency-Key a request's store writes are made under (see `under_claim`), with what its record holds
/// when the first of them writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRef {
    pub client: String,
    pub key: String,
    /// The request's fingerprint (`gateway::idempotency::fingerprint`): a later request with the key and another
    /// body is refused.
    pub fingerprint: [u8; 32],
    /// When the key was claimed (Unix seconds): the record's age, for retention.
    pub created_at: i64,
    /// The serving process that holds the key (`SqliteStore::instance`).
    pub owner: i64,
}

tokio::task_local! {
    static CLAIM: ClaimRef;
}

/// Runs `work`, a request holding `claim`, so that every order or address it creates or changes in the store, and
/// every upstream create it journals, records in that write's own transaction that `claim` wrote it: the key's
/// record and the recovery point that tells a later process taking the claim over (`IdempotencyClaim::Interrupted`)
/// whether the write happened. A task-local rather than a parameter because the writes sit several calls below the
/// gateway, behind APIs that know nothing of keys.
pub async fn under_claim<F: std::future::Future>(claim: ClaimRef, work: F) -> F::Output {
    CLAIM.scope(claim, work).await
}

/// The claim the current task writes under, if any.
pub(super) fn current_claim() -> Option<ClaimRef> {
    CLAIM.try_with(Clone::clone).ok()
}

/// A held key's name: its client and key, shared by the map and the hold (which finds its entry by it).
type KeyName = Arc<(String, String)>;

/// The keys this process's requests hold.
#[derive(Debug, Default)]
pub(super) struct HeldKeys(Mutex<HashMap<KeyName, HeldKey>>);

#[derive(Debug)]
struct HeldKey {
    /// The holding request's fingerprint.
    fingerprint: [u8; 32],
    /// Whether its answer is queued (`KeyHold::answering`): the key is about to be answered or freed.
    answering: bool,
    /// Told when the hold is released.
    released: Arc<Notify>,
}

/// Why `HeldKeys::hold` could not hold a key: a request of this process holds it.
#[derive(Debug)]
pub(super) enum Held {
    /// ... with the same body, still running.
    Same,
    /// ... with another body, still running.
    Other,
    /// ... and its answer is queued: the key's record says what to do once this completes (the caller that
    /// reads the answer and retries at once sees the answer, not 409).
    Answering(OwnedNotified),
}

impl HeldKeys {
    /// Holds `claim`'s key until the returned hold is dropped, unless a request of this process holds it already.
    pub(super) fn hold(self: &Arc<Self>, claim: &ClaimRef) -> Result<KeyHold, Held> {
        let name: KeyName = Arc::new((claim.client.clone(), claim.key.clone()));
        match self.lock().entry(Arc::clone(&name)) {
            Entry::Occupied(e) => {
                let holder = e.get();
                let why = if holder.answering {
                    Held::Answering(Arc::clone(&holder.released).notified_owned())
                } else if holder.fingerprint == claim.fingerprint {
                    Held::Same
                } else {
                    Held::Other
                };
                Err(why)
            }
            Entry::Vacant(e) => {
                e.insert(HeldKey {
                    fingerprint: claim.fingerprint,
                    answering: false,
                    released: Arc::new(Notify::new()),
                });
                Ok(KeyHold {
                    claim: claim.clone(),
                    name,
                    keys: Arc::clone(self),
                })
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<KeyName, HeldKey>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    #[cfg(test)]
    pub(super) fn is_held(&self, client: &str, key: &str) -> bool {
        self.lock()
            .contains_key(&(client.to_owned(), key.to_owned()))
    }
}

/// A request's hold on its key. The answer to the key takes the hold with it (`queue_idempotency_answer`) and
/// drops it once the answer is committed, so that no moment passes in which the key is neither held nor answered;
/// dropped sooner (a request that panicked, a store that stopped), it frees the key.
#[derive(Debug)]
pub struct KeyHold {
    claim: ClaimRef,
    name: KeyName,
    keys: Arc<HeldKeys>,
}

impl KeyHold {
    /// The claim the request's writes are made under (`under_claim`).
    pub fn claim(&self) -> &ClaimRef {
        &self.claim
    }

    /// Marks the key's answer as queued: a request with the key now waits for it instead of being told 409.
    pub(super) fn answering(&self) {
        if let Some(holder) = self.keys.lock().get_mut(&*self.name) {
            holder.answering = true;
        }
    }
}

impl Drop for KeyHold {
    fn drop(&mut self) {
        let holder = self.keys.lock().remove(&*self.name);
        if let Some(holder) = holder {
            holder.released.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(key: &str, fingerprint: u8) -> ClaimRef {
        ClaimRef {
            client: "demo".into(),
            key: key.into(),
            fingerprint: [fingerprint; 32],
            created_at: 0,
            owner: 1,
        }
    }

    #[test]
    fn a_key_is_held_once_until_its_hold_is_dropped() {
        let keys = Arc::new(HeldKeys::default());
        let hold = keys.hold(&claim("k", 1)).unwrap();
        assert!(matches!(keys.hold(&claim("k", 1)).unwrap_err(), Held::Same));
        assert!(matches!(
            keys.hold(&claim("k", 2)).unwrap_err(),
            Held::Other
        ));
        // Another key, or the same key of another client, is its own.
        let other = keys.hold(&claim("k2", 1)).unwrap();
        let mut elsewhere = claim("k", 1);
        elsewhere.client = "other".into();
        let elsewhere = keys.hold(&elsewhere).unwrap();
        drop(hold);
        assert!(!keys.is_held("demo", "k"));
        assert!(keys.is_held("demo", "k2"));
        keys.hold(&claim("k", 2)).unwrap();
        drop((other, elsewhere));
    }

    /// Once a hold's answer is queued, a second request waits for the hold's release instead of being refused.
    #[tokio::test]
    async fn a_request_behind_a_queued_answer_waits_for_its_release() {
        let keys = Arc::new(HeldKeys::default());
        let hold = keys.hold(&claim("k", 1)).unwrap();
        hold.answering();
        let Held::Answering(released) = keys.hold(&claim("k", 2)).unwrap_err() else {
            panic!("not waiting for the answer");
        };
        let waiting = tokio::spawn(released);
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drop(hold);
        tokio::time::timeout(std::time::Duration::from_secs(10), waiting)
            .await
            .expect("told of the release")
            .unwrap();
        keys.hold(&claim("k", 2)).unwrap();
    }
}
