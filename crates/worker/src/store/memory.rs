//! The in-memory backend of the store port, for tests: links, leases, state, the audit trail and
//! published events in one process, with the NATS backend's semantics (held to them by the
//! contract tests of `tests/worker/store_contract.rs`):
//!
//! - links are keyed like the KV keys (`syncbridge_bus::record_key`, so the same ids are refused),
//!   every write takes a new revision from one counter, `create_link` conflicts when the key
//!   exists and `update_link` when it is not at the given revision; the IT Glue index is checked
//!   against the link it points to;
//! - a lease expires its time to live (given to [`MemoryStore::new`]) after it was taken or last
//!   renewed, on tokio's clock — the clock the pipeline's lease wait and renewal run on — so a
//!   test controls expiry and renewal together with `tokio::time::pause` / `advance` (or
//!   `start_paused`), and nothing here reads the wall clock or sleeps;
//! - the first-sync watermark is kept by its first writer; the mode is what
//!   [`MemoryStore::set_mode`] set;
//! - audit entries are kept as the JSON the audit stream would hold, events with their dedup id
//!   published once (JetStream's duplicate window, forever).
//!
//! Every operation yields to the scheduler first, as a round trip to the bus would, so workers
//! sharing a store interleave at store operations. [`MemoryStore::set_unavailable`] makes every
//! operation fail as a bus that is away does.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use syncbridge_bus::names::{
    AUDIT_STREAM, EVENTS_STREAM, LEASES_BUCKET, LINKS_BUCKET, STATE_BUCKET,
};
use syncbridge_bus::{record_key, KvError, LeaseKey, Versioned};
use syncbridge_model::{ChangeEvent, Entity, Link, Mode, Side, TenantId, UnixMillis};
use tokio::time::Instant;

use super::{Audit, Events, Leases, Links, TenantState};
use crate::pipeline::AuditEntry;

/// The leases bucket's default max_age (`syncbridge_bus::SetupConfig`).
const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(30);

/// A store in memory. Clones share their contents (one "bus" for several workers).
#[derive(Debug, Clone)]
pub struct MemoryStore {
    contents: Arc<Mutex<Contents>>,
    lease_ttl: Duration,
}

/// A lease held in a [`MemoryStore`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryLease {
    pub key: LeaseKey,
    pub holder: String,
    /// Unique per acquisition and renewal: what "still ours" compares.
    revision: u64,
}

#[derive(Debug, Default)]
struct Contents {
    /// The last revision handed out, for every key (JetStream: the bucket's stream sequence).
    revision: u64,
    /// By the link's KV key (PSA side).
    links: HashMap<String, Versioned<Link>>,
    /// IT Glue KV key → PSA id; derived, checked against the link on every read.
    itg_index: HashMap<String, String>,
    leases: HashMap<LeaseKey, HeldLease>,
    watermarks: HashMap<TenantId, UnixMillis>,
    modes: HashMap<TenantId, Mode>,
    audited: Vec<Audited>,
    published: Vec<ChangeEvent>,
    published_ids: HashSet<String>,
    unavailable: bool,
}

#[derive(Debug)]
struct HeldLease {
    holder: String,
    revision: u64,
    expires_at: Instant,
}

#[derive(Debug)]
struct Audited {
    tenant: TenantId,
    entry: serde_json::Value,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new(DEFAULT_LEASE_TTL)
    }
}

impl MemoryStore {
    /// An empty store whose leases expire `lease_ttl` after they are taken or renewed.
    pub fn new(lease_ttl: Duration) -> Self {
        MemoryStore {
            contents: Arc::default(),
            lease_ttl,
        }
    }

    /// Sets the tenant's mode, as `syncbridge tenant pause|resume|shadow` does.
    pub fn set_mode(&self, tenant: &TenantId, mode: Mode) {
        self.contents().modes.insert(tenant.clone(), mode);
    }

    /// While `true`, every operation fails with [`KvError::Unavailable`].
    pub fn set_unavailable(&self, unavailable: bool) {
        self.contents().unavailable = unavailable;
    }

    /// Who holds the lease of `key` now, if anyone.
    pub fn lease_holder(&self, key: &LeaseKey) -> Option<String> {
        let now = Instant::now();
        let contents = self.contents();
        let held = contents.leases.get(key).filter(|l| l.expires_at > now)?;
        Some(held.holder.clone())
    }

    /// The tenant's audit entries, oldest first, as the audit stream holds them (JSON).
    pub fn audited(&self, tenant: &TenantId) -> Vec<serde_json::Value> {
        let contents = self.contents();
        let of_tenant = contents.audited.iter().filter(|a| &a.tenant == tenant);
        of_tenant.map(|a| a.entry.clone()).collect()
    }

    /// Every event published, oldest first (a duplicate dedup id only once).
    pub fn published(&self) -> Vec<ChangeEvent> {
        self.contents().published.clone()
    }

    fn contents(&self) -> MutexGuard<'_, Contents> {
        // A panic elsewhere while holding the lock leaves consistent contents: every change
        // below is made in one step.
        self.contents.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The contents for one operation, after a yield to the scheduler (a bus round trip).
    async fn operation(
        &self,
        bucket: &str,
        op: &'static str,
    ) -> Result<MutexGuard<'_, Contents>, KvError> {
        tokio::task::yield_now().await;
        let contents = self.contents();
        if contents.unavailable {
            return Err(KvError::Unavailable {
                bucket: bucket.to_owned(),
                key: String::new(),
                op,
                reason: "the in-memory store is set unavailable".into(),
            });
        }
        Ok(contents)
    }
}

impl Contents {
    fn next_revision(&mut self) -> u64 {
        self.revision += 1;
        self.revision
    }

    /// Stores `link` if its key is at `expected` (`None`: absent), refreshing the IT Glue index.
    fn store_link(
        &mut self,
        tenant: &TenantId,
        link: &Link,
        expected: Option<u64>,
    ) -> Result<u64, KvError> {
        let psa_id = link.psa_id.as_deref().ok_or_else(|| {
            KvError::InvalidValue(
                "a link is stored under its PSA id; this link has none (psa_id is None)".into(),
            )
        })?;
        let key = record_key(tenant, link.entity, Side::Psa, psa_id)?;
        let index_key = match link.itg_id.as_deref() {
            Some(itg_id) => Some(record_key(tenant, link.entity, Side::ItGlue, itg_id)?),
            None => None,
        };
        // As on NATS, the index is written before the link it points to, whatever the outcome
        // of the compare-and-set: lookups through it check the link.
        if let Some(index_key) = index_key {
            self.itg_index.insert(index_key, psa_id.to_owned());
        }
        let current = self.links.get(&key).map(|v| v.revision);
        if current != expected {
            return Err(KvError::Conflict {
                bucket: LINKS_BUCKET.to_owned(),
                key,
                expected,
                current,
            });
        }
        let revision = self.next_revision();
        let value = link.clone();
        self.links.insert(key, Versioned { value, revision });
        Ok(revision)
    }

    /// The lease of `key` if it is held and not expired at `now`; an expired one is dropped.
    fn live_lease(&mut self, key: &LeaseKey, now: Instant) -> Option<&mut HeldLease> {
        if self.leases.get(key).is_some_and(|l| l.expires_at <= now) {
            self.leases.remove(key);
        }
        self.leases.get_mut(key)
    }
}

impl Links for MemoryStore {
    async fn link(
        &self,
        tenant: &TenantId,
        entity: Entity,
        psa_id: &str,
    ) -> Result<Option<Versioned<Link>>, KvError> {
        let key = record_key(tenant, entity, Side::Psa, psa_id)?;
        let contents = self.operation(LINKS_BUCKET, "read").await?;
        Ok(contents.links.get(&key).cloned())
    }

    async fn link_by_itg(
        &self,
        tenant: &TenantId,
        entity: Entity,
        itg_id: &str,
    ) -> Result<Option<Versioned<Link>>, KvError> {
        let index_key = record_key(tenant, entity, Side::ItGlue, itg_id)?;
        let contents = self.operation(LINKS_BUCKET, "read").await?;
        let Some(psa_id) = contents.itg_index.get(&index_key) else {
            return Ok(None);
        };
        let key = record_key(tenant, entity, Side::Psa, psa_id)?;
        let link = contents.links.get(&key).cloned();
        Ok(link.filter(|l| l.value.itg_id.as_deref() == Some(itg_id)))
    }

    async fn create_link(&self, tenant: &TenantId, link: &Link) -> Result<u64, KvError> {
        let mut contents = self.operation(LINKS_BUCKET, "create").await?;
        contents.store_link(tenant, link, None)
    }

    async fn update_link(
        &self,
        tenant: &TenantId,
        link: &Link,
        revision: u64,
    ) -> Result<u64, KvError> {
        let mut contents = self.operation(LINKS_BUCKET, "update").await?;
        contents.store_link(tenant, link, Some(revision))
    }
}

impl Leases for MemoryStore {
    type Lease = MemoryLease;

    async fn acquire_lease(
        &self,
        key: &LeaseKey,
        holder: &str,
    ) -> Result<Option<MemoryLease>, KvError> {
        let now = Instant::now();
        let mut contents = self.operation(LEASES_BUCKET, "create").await?;
        if contents.live_lease(key, now).is_some() {
            return Ok(None);
        }
        let revision = contents.next_revision();
        let held = HeldLease {
            holder: holder.to_owned(),
            revision,
            expires_at: now + self.lease_ttl,
        };
        contents.leases.insert(key.clone(), held);
        Ok(Some(MemoryLease {
            key: key.clone(),
            holder: holder.to_owned(),
            revision,
        }))
    }

    async fn renew_lease(&self, lease: &MemoryLease) -> Result<Option<MemoryLease>, KvError> {
        let now = Instant::now();
        let mut contents = self.operation(LEASES_BUCKET, "update").await?;
        let revision = contents.next_revision();
        let Some(held) = contents.live_lease(&lease.key, now) else {
            return Ok(None);
        };
        if held.revision != lease.revision {
            return Ok(None);
        }
        held.revision = revision;
        held.expires_at = now + self.lease_ttl;
        Ok(Some(MemoryLease {
            revision,
            ..lease.clone()
        }))
    }

    async fn release_lease(&self, lease: MemoryLease) -> Result<bool, KvError> {
        let now = Instant::now();
        let mut contents = self.operation(LEASES_BUCKET, "delete").await?;
        let ours = contents
            .live_lease(&lease.key, now)
            .is_some_and(|held| held.revision == lease.revision);
        if ours {
            contents.leases.remove(&lease.key);
        }
        Ok(ours)
    }
}

impl TenantState for MemoryStore {
    async fn record_first_sync_watermark(
        &self,
        tenant: &TenantId,
        at: UnixMillis,
    ) -> Result<UnixMillis, KvError> {
        let mut contents = self.operation(STATE_BUCKET, "create").await?;
        Ok(*contents.watermarks.entry(tenant.clone()).or_insert(at))
    }

    async fn mode(&self, tenant: &TenantId) -> Result<Option<Mode>, KvError> {
        let contents = self.operation(STATE_BUCKET, "read").await?;
        Ok(contents.modes.get(tenant).copied())
    }
}

impl Audit for MemoryStore {
    async fn audit(
        &self,
        tenant: &TenantId,
        _entity: Entity,
        entry: &AuditEntry<'_>,
    ) -> Result<(), KvError> {
        let entry =
            serde_json::to_value(entry).map_err(|e| KvError::InvalidValue(e.to_string()))?;
        let mut contents = self.operation(AUDIT_STREAM, "audit").await?;
        let tenant = tenant.clone();
        contents.audited.push(Audited { tenant, entry });
        Ok(())
    }
}

impl Events for MemoryStore {
    async fn publish(&self, event: &ChangeEvent) -> Result<(), KvError> {
        let mut contents = self.operation(EVENTS_STREAM, "publish").await?;
        let first = match &event.msg_id {
            Some(id) => contents.published_ids.insert(id.clone()),
            None => true,
        };
        if first {
            contents.published.push(event.clone());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> LeaseKey {
        let tenant = TenantId::new("acme").unwrap();
        LeaseKey::record(&tenant, Entity::Organization, Side::Psa, "p1").unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn a_lease_expires_exactly_its_ttl_after_it_was_taken() {
        let store = MemoryStore::new(Duration::from_secs(30));
        let lease = store.acquire_lease(&key(), "w1").await.unwrap().unwrap();
        tokio::time::advance(Duration::from_millis(29_999)).await;
        assert!(store.acquire_lease(&key(), "w2").await.unwrap().is_none());
        assert_eq!(store.lease_holder(&key()).as_deref(), Some("w1"));
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(store.lease_holder(&key()), None);
        let taken = store.acquire_lease(&key(), "w2").await.unwrap();
        assert!(taken.is_some(), "expired: free for another holder");
        assert!(!store.release_lease(lease).await.unwrap(), "no longer ours");
        assert_eq!(store.lease_holder(&key()).as_deref(), Some("w2"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_renewal_restarts_the_expiry() {
        let store = MemoryStore::new(Duration::from_secs(30));
        let lease = store.acquire_lease(&key(), "w1").await.unwrap().unwrap();
        tokio::time::advance(Duration::from_secs(20)).await;
        let lease = store
            .renew_lease(&lease)
            .await
            .unwrap()
            .expect("still ours");
        tokio::time::advance(Duration::from_secs(20)).await;
        assert_eq!(store.lease_holder(&key()).as_deref(), Some("w1"));
        tokio::time::advance(Duration::from_secs(10)).await;
        assert!(
            store.renew_lease(&lease).await.unwrap().is_none(),
            "expired"
        );
    }
}
