//! Concurrency slots shared by every syncbridge process of a deployment: at most `n` requests of
//! one tenant to one vendor endpoint in flight at once, however many worker and poller processes
//! run (Autotask answers 429 "Thread threshold exceeded" beyond 3 concurrent requests per entity
//! endpoint and integration code; a per-process semaphore alone lets two processes make 6).
//!
//! Slot `i` of a scope (vendor and endpoint) is one key in `sync_state`, next to the rate budgets:
//! `{tenant}.budget.{vendor endpoint slot i}` (encoded by [`crate::keys`]). A slot holds either
//! `Free` or who holds it and until when.
//!
//! - acquire: the first slot that is absent (KV `create`), free, or held past its expiry (KV update
//!   at the revision read) is ours — compare-and-set, so two processes never take one slot;
//! - release: write `Free` *only at our revision*, so a holder whose slot expired and was taken by
//!   another never frees the other's slot;
//! - expiry: each holder stamps `until = now + hold_for`. A process killed while holding a slot
//!   blocks it only until then. `hold_for` must exceed the longest a request can take (its timeout)
//!   so that a live holder never loses its slot; it relies on the processes' clocks agreeing to
//!   within the margin, as the rate budget's windows do.
//!
//! The slots live in `sync_state`, whose store every process that shares a rate budget already
//! holds, rather than in a bucket with a `max_age`: a per-key expiry stamp needs no new bucket and
//! no new connection plumbing, and `sync_state` keeps only a few revisions per key.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use syncbridge_model::{TenantId, UnixMillis};

use crate::kv::{KvError, Versioned};
use crate::leases::unique_token;
use crate::state::{StateKey, StateStore};

/// First pause while every slot is taken; doubled per round up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(5);
/// Longest pause between two rounds: a slot is usually freed within a request's time.
const MAX_BACKOFF: Duration = Duration::from_millis(100);

/// What a slot key holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "slot", rename_all = "snake_case")]
enum SlotValue {
    Free,
    Held {
        holder: String,
        /// Unique per acquisition: "these bytes are mine" stays exact when a timed-out write is
        /// re-read (see [`crate::kv`]).
        token: String,
        until: UnixMillis,
    },
}

impl SlotValue {
    /// Whether a caller at `now` may take this slot.
    fn is_free_at(&self, now: UnixMillis) -> bool {
        match self {
            SlotValue::Free => true,
            SlotValue::Held { until, .. } => *until <= now,
        }
    }
}

/// A held slot. Give it back with [`ConcurrencySlots::release`]; if that never happens (the
/// process died), it expires at `until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// Which of the scope's slots (0-based).
    pub index: usize,
    /// KV revision of our entry.
    pub revision: u64,
    /// When the slot expires if it is not released.
    pub until: UnixMillis,
    key: StateKey,
}

/// The `n` shared slots of one tenant, vendor and endpoint (share one value per process, e.g. in
/// an `Arc`, so its callers spread over the slots).
#[derive(Debug)]
pub struct ConcurrencySlots {
    state: StateStore,
    keys: Vec<StateKey>,
    hold_for: Duration,
    /// Where the next acquisition starts looking, so concurrent callers spread over the slots
    /// instead of all contending for slot 0.
    next: AtomicUsize,
}

impl ConcurrencySlots {
    /// `slots` shared slots of `vendor`'s `endpoint` for `tenant`; a held slot expires after
    /// `hold_for` unless released.
    pub fn new(
        state: StateStore,
        tenant: &TenantId,
        vendor: &str,
        endpoint: &str,
        slots: usize,
        hold_for: Duration,
    ) -> Result<ConcurrencySlots, KvError> {
        if slots == 0 || hold_for.is_zero() {
            return Err(KvError::InvalidValue(
                "concurrency slots need a positive count and hold time".into(),
            ));
        }
        let keys = (0..slots)
            .map(|i| slot_key(tenant, vendor, endpoint, i))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ConcurrencySlots {
            state,
            keys,
            hold_for,
            next: AtomicUsize::new(std::process::id() as usize),
        })
    }

    /// How long a held slot lasts unless released.
    pub fn hold_for(&self) -> Duration {
        self.hold_for
    }

    /// One pass over the slots: the first free one at `now` is taken for `holder`; `Ok(None)` if
    /// every slot is held.
    pub async fn try_acquire(
        &self,
        holder: &str,
        now: UnixMillis,
    ) -> Result<Option<Slot>, KvError> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        for offset in 0..self.keys.len() {
            let index = (start + offset) % self.keys.len();
            if let Some(slot) = self.try_one(index, holder, now).await? {
                return Ok(Some(slot));
            }
        }
        Ok(None)
    }

    /// Waits for a slot, pausing briefly between passes while all are held. `Ok(None)` if none
    /// came free within `max_wait`; an error as soon as the store cannot be asked.
    pub async fn acquire(
        &self,
        holder: &str,
        now: impl Fn() -> UnixMillis,
        max_wait: Duration,
    ) -> Result<Option<Slot>, KvError> {
        let deadline = tokio::time::Instant::now() + max_wait;
        let mut backoff = FIRST_BACKOFF;
        loop {
            if let Some(slot) = self.try_acquire(holder, now()).await? {
                return Ok(Some(slot));
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            tokio::time::sleep(jittered(backoff).min(left)).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Gives a slot back if it is still ours. `Ok(false)` when it was not (it had expired and
    /// may be held by another process, which is left alone).
    pub async fn release(&self, slot: Slot) -> Result<bool, KvError> {
        match self
            .state
            .set(&slot.key, &SlotValue::Free, Some(slot.revision))
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.is_conflict() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// How many slots are held at `now` (diagnostics and tests).
    pub async fn held(&self, now: UnixMillis) -> Result<usize, KvError> {
        let mut held = 0;
        for key in &self.keys {
            if let Some(v) = self.state.get::<SlotValue>(key).await? {
                held += usize::from(!v.value.is_free_at(now));
            }
        }
        Ok(held)
    }

    async fn try_one(
        &self,
        index: usize,
        holder: &str,
        now: UnixMillis,
    ) -> Result<Option<Slot>, KvError> {
        let key = &self.keys[index];
        let stored: Option<Versioned<SlotValue>> = self.state.get(key).await?;
        let expected = match &stored {
            None => None,
            Some(v) if v.value.is_free_at(now) => Some(v.revision),
            Some(_) => return Ok(None),
        };
        if let Some(Versioned {
            value: SlotValue::Held { holder: old, .. },
            ..
        }) = &stored
        {
            tracing::debug!(key = key.as_str(), holder = %old, "taking over an expired concurrency slot");
        }
        let until = now + self.hold_for.as_millis() as UnixMillis;
        let value = SlotValue::Held {
            holder: holder.to_owned(),
            token: unique_token(),
            until,
        };
        match self.state.set(key, &value, expected).await {
            Ok(revision) => Ok(Some(Slot {
                index,
                revision,
                until,
                key: key.clone(),
            })),
            // Another process took it between our read and write.
            Err(e) if e.is_conflict() => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// `{tenant}.budget.{vendor endpoint slot i}`: next to the rate budgets, one token so that any
/// endpoint name makes a valid key.
fn slot_key(
    tenant: &TenantId,
    vendor: &str,
    endpoint: &str,
    index: usize,
) -> Result<StateKey, KvError> {
    StateKey::rate_budget(tenant, &format!("{vendor} {endpoint} slot {index}"))
}

/// `d` scaled into [d/2, d]: callers that found every slot taken together do not retry together.
fn jittered(d: Duration) -> Duration {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |t| t.subsec_nanos());
    d.mul_f64(0.5 + f64::from(nanos % 1000) / 2000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_keys_are_valid_kv_keys_per_endpoint() {
        let t = TenantId::new("acme").unwrap();
        let k = slot_key(&t, "autotask", "companies", 2).unwrap();
        assert_eq!(k.as_str(), "acme.budget.autotask=20companies=20slot=202");
        let odd = slot_key(&t, "autotask", "Companies/1.x", 0).unwrap();
        assert!(odd
            .as_str()
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_=.".contains(&b)));
        assert_eq!(odd.as_str().matches('.').count(), 2);
        assert_ne!(
            slot_key(&t, "autotask", "companies", 0).unwrap(),
            slot_key(&t, "autotask", "contacts", 0).unwrap()
        );
    }

    #[test]
    fn a_held_slot_is_free_only_once_expired() {
        let held = SlotValue::Held {
            holder: "w1".into(),
            token: "t".into(),
            until: 1_000,
        };
        assert!(!held.is_free_at(999));
        assert!(held.is_free_at(1_000));
        assert!(SlotValue::Free.is_free_at(0));
    }

    #[test]
    fn values_are_readable_json() {
        let json = serde_json::to_string(&SlotValue::Free).unwrap();
        assert_eq!(json, r#"{"slot":"free"}"#);
    }

    #[test]
    fn jitter_stays_within_half_and_whole() {
        for _ in 0..100 {
            let j = jittered(Duration::from_millis(100));
            assert!(j >= Duration::from_millis(50) && j <= Duration::from_millis(100));
        }
    }
}
