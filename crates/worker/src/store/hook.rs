//! A store decorator that runs a hook around the worker's link writes, the moments a test needs
//! to reach into: another worker storing the same link first (a compare-and-set conflict), or the
//! process dying right before or after the store ([`super::kill`]). Everything else passes
//! straight through to the wrapped store, so it works over either backend.

use std::future::Future;

use syncbridge_bus::{KvError, LeaseKey, Versioned};
use syncbridge_model::{ChangeEvent, Entity, Link, Mode, TenantId, UnixMillis};

use super::{Audit, Events, Leases, Links, Store, TenantState};
use crate::pipeline::AuditEntry;

/// Code run around every link write (create or update) through a [`Hooked`] store.
pub trait LinkStoreHook: Send + Sync {
    /// Before `link` is written through `store` (the wrapped store, not the hooked one).
    fn before_link_store<S: Store>(
        &self,
        _store: &S,
        _tenant: &TenantId,
        _link: &Link,
    ) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// After `link` was written through `store`, whatever the outcome.
    fn after_link_store<S: Store>(
        &self,
        _store: &S,
        _tenant: &TenantId,
        _link: &Link,
    ) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// `store` with `hook` run around its link writes.
#[derive(Debug, Clone)]
pub struct Hooked<S, H> {
    pub store: S,
    pub hook: H,
}

impl<S, H> Hooked<S, H> {
    pub fn new(store: S, hook: H) -> Self {
        Hooked { store, hook }
    }
}

impl<S: Store, H: LinkStoreHook> Links for Hooked<S, H> {
    async fn link(
        &self,
        tenant: &TenantId,
        entity: Entity,
        psa_id: &str,
    ) -> Result<Option<Versioned<Link>>, KvError> {
        self.store.link(tenant, entity, psa_id).await
    }

    async fn link_by_itg(
        &self,
        tenant: &TenantId,
        entity: Entity,
        itg_id: &str,
    ) -> Result<Option<Versioned<Link>>, KvError> {
        self.store.link_by_itg(tenant, entity, itg_id).await
    }

    async fn create_link(&self, tenant: &TenantId, link: &Link) -> Result<u64, KvError> {
        self.hook.before_link_store(&self.store, tenant, link).await;
        let stored = self.store.create_link(tenant, link).await;
        self.hook.after_link_store(&self.store, tenant, link).await;
        stored
    }

    async fn update_link(
        &self,
        tenant: &TenantId,
        link: &Link,
        revision: u64,
    ) -> Result<u64, KvError> {
        self.hook.before_link_store(&self.store, tenant, link).await;
        let stored = self.store.update_link(tenant, link, revision).await;
        self.hook.after_link_store(&self.store, tenant, link).await;
        stored
    }
}

impl<S: Store, H: LinkStoreHook> Leases for Hooked<S, H> {
    type Lease = S::Lease;

    async fn acquire_lease(
        &self,
        key: &LeaseKey,
        holder: &str,
    ) -> Result<Option<S::Lease>, KvError> {
        self.store.acquire_lease(key, holder).await
    }

    async fn renew_lease(&self, lease: &S::Lease) -> Result<Option<S::Lease>, KvError> {
        self.store.renew_lease(lease).await
    }

    async fn release_lease(&self, lease: S::Lease) -> Result<bool, KvError> {
        self.store.release_lease(lease).await
    }
}

impl<S: Store, H: LinkStoreHook> TenantState for Hooked<S, H> {
    async fn record_first_sync_watermark(
        &self,
        tenant: &TenantId,
        at: UnixMillis,
    ) -> Result<UnixMillis, KvError> {
        self.store.record_first_sync_watermark(tenant, at).await
    }

    async fn mode(&self, tenant: &TenantId) -> Result<Option<Mode>, KvError> {
        self.store.mode(tenant).await
    }
}

impl<S: Store, H: LinkStoreHook> Audit for Hooked<S, H> {
    async fn audit(
        &self,
        tenant: &TenantId,
        entity: Entity,
        entry: &AuditEntry<'_>,
    ) -> Result<(), KvError> {
        self.store.audit(tenant, entity, entry).await
    }
}

impl<S: Store, H: LinkStoreHook> Events for Hooked<S, H> {
    async fn publish(&self, event: &ChangeEvent) -> Result<(), KvError> {
        self.store.publish(event).await
    }
}
