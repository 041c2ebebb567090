//! The production backend of the store port: the bus crate's stores over NATS JetStream — links
//! and leases in KV with compare-and-set (a timed-out write re-read before it is retried), leases
//! expiring with the `sync_leases` bucket's max_age, the first-sync watermark and the tenant's mode
//! in `sync_state`, decisions on `SYNC_AUDIT`, events on `SYNC_EVENTS` with their dedup id.
//!
//! An audit or publish failure is reported as [`KvError::Unavailable`]: whatever went wrong, the
//! event comes back later (the pipeline naks it), as it did before the port existed.

use bytes::Bytes;
use syncbridge_bus::{
    AuditLog, EventPublisher, KvError, Lease, LeaseKey, LeaseStore, LinkStore, StateStore,
    Versioned,
};
use syncbridge_model::{ChangeEvent, Entity, Link, Mode, TenantId, UnixMillis};

use super::{Audit, Events, Leases, Links, TenantState};
use crate::pipeline::AuditEntry;

/// The stores a worker uses, on NATS. Each is cheap to clone.
#[derive(Debug, Clone)]
pub struct WorkerStores {
    pub links: LinkStore,
    pub leases: LeaseStore,
    pub state: StateStore,
    pub audit: AuditLog,
    /// For the reconcile events of an organization's relinked children.
    pub events: EventPublisher,
}

impl Links for WorkerStores {
    async fn link(
        &self,
        tenant: &TenantId,
        entity: Entity,
        psa_id: &str,
    ) -> Result<Option<Versioned<Link>>, KvError> {
        self.links.get(tenant, entity, psa_id).await
    }

    async fn link_by_itg(
        &self,
        tenant: &TenantId,
        entity: Entity,
        itg_id: &str,
    ) -> Result<Option<Versioned<Link>>, KvError> {
        self.links.get_by_itg(tenant, entity, itg_id).await
    }

    async fn create_link(&self, tenant: &TenantId, link: &Link) -> Result<u64, KvError> {
        self.links.create(tenant, link).await
    }

    async fn update_link(
        &self,
        tenant: &TenantId,
        link: &Link,
        revision: u64,
    ) -> Result<u64, KvError> {
        self.links.update(tenant, link, revision).await
    }
}

impl Leases for WorkerStores {
    type Lease = Lease;

    async fn acquire_lease(&self, key: &LeaseKey, holder: &str) -> Result<Option<Lease>, KvError> {
        self.leases.acquire(key, holder).await
    }

    async fn renew_lease(&self, lease: &Lease) -> Result<Option<Lease>, KvError> {
        self.leases.renew(lease).await
    }

    async fn release_lease(&self, lease: Lease) -> Result<bool, KvError> {
        self.leases.release(lease).await
    }
}

impl TenantState for WorkerStores {
    async fn record_first_sync_watermark(
        &self,
        tenant: &TenantId,
        at: UnixMillis,
    ) -> Result<UnixMillis, KvError> {
        self.state.record_first_sync_watermark(tenant, at).await
    }

    async fn mode(&self, tenant: &TenantId) -> Result<Option<Mode>, KvError> {
        Ok(self.state.mode(tenant).await?.map(|v| v.value))
    }
}

impl Audit for WorkerStores {
    async fn audit(
        &self,
        tenant: &TenantId,
        entity: Entity,
        entry: &AuditEntry<'_>,
    ) -> Result<(), KvError> {
        self.audit
            .record(tenant, entity, entry)
            .await
            .map(|_| ())
            .map_err(|e| unavailable("SYNC_AUDIT", "audit", e))
    }
}

impl Events for WorkerStores {
    async fn publish(&self, event: &ChangeEvent) -> Result<(), KvError> {
        self.events
            .publish(event, Bytes::new())
            .await
            .map(|_| ())
            .map_err(|e| unavailable("SYNC_EVENTS", "publish", e))
    }
}

fn unavailable(stream: &str, op: &'static str, reason: impl ToString) -> KvError {
    KvError::Unavailable {
        bucket: stream.to_owned(),
        key: String::new(),
        op,
        reason: reason.to_string(),
    }
}
