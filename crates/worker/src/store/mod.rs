//! The worker's store port: every operation the pipeline, gather, cascade and the service's
//! consume loop perform on the bus, as five traits — links, leases, the tenant's sync state, the
//! audit trail and event publishing — that [`Worker`](crate::Worker) reaches only through
//! [`Store`], their sum. Two backends implement them:
//!
//! - [`nats`]: [`WorkerStores`](nats::WorkerStores), the production one, over the bus crate's
//!   `LinkStore`, `LeaseStore`, `StateStore`, `AuditLog` and `EventPublisher` (JetStream KV and
//!   streams, leases expiring with the bucket's max_age);
//! - [`memory`]: [`MemoryStore`](memory::MemoryStore), the same semantics in one process, with
//!   lease expiry on tokio's clock, so the pipeline's tests run without a nats-server and, under
//!   paused time, deterministically.
//!
//! [`hook`] wraps either backend to run a test's code around the worker's link stores; [`kill`]
//! is the hook that stops a worker as if killed at a deterministic point.
//!
//! Both backends answer with the bus's [`KvError`], whose `is_conflict` (compare-and-set lost:
//! re-read and decide again) and `is_unavailable` (retry later) the pipeline acts on. The
//! contract tests in `tests/worker/store_contract.rs` hold both backends to the same behaviour.

use std::future::Future;

use syncbridge_bus::{KvError, LeaseKey, Versioned};
use syncbridge_model::{ChangeEvent, Entity, Link, Mode, TenantId, UnixMillis};

use crate::pipeline::AuditEntry;

pub mod hook;
pub mod kill;
pub mod memory;
pub mod nats;

/// Links (PSA id ⇄ IT Glue id, state, base snapshot), stored under the PSA id with
/// compare-and-set on a revision that every write changes.
pub trait Links: Send + Sync {
    /// The link of a PSA record, with the revision to pass to [`Links::update_link`].
    fn link(
        &self,
        tenant: &TenantId,
        entity: Entity,
        psa_id: &str,
    ) -> impl Future<Output = Result<Option<Versioned<Link>>, KvError>> + Send;

    /// The link that names this IT Glue record, if any: a link since moved to another IT Glue
    /// record is not found by its old id.
    fn link_by_itg(
        &self,
        tenant: &TenantId,
        entity: Entity,
        itg_id: &str,
    ) -> impl Future<Output = Result<Option<Versioned<Link>>, KvError>> + Send;

    /// Stores a new link and returns its revision; a conflict if the PSA record already has one,
    /// an invalid value if the link names no PSA id (its key).
    fn create_link(
        &self,
        tenant: &TenantId,
        link: &Link,
    ) -> impl Future<Output = Result<u64, KvError>> + Send;

    /// Replaces a link still at `revision` and returns the new revision; a conflict if another
    /// writer got there first (or the link is gone).
    fn update_link(
        &self,
        tenant: &TenantId,
        link: &Link,
        revision: u64,
    ) -> impl Future<Output = Result<u64, KvError>> + Send;
}

/// Per-record leases: one holder at a time, until released or expired.
pub trait Leases: Send + Sync {
    /// A held lease, passed back to renew or release it.
    type Lease: Clone + Send + Sync;

    /// Takes the lease if nobody holds it; `None` when another holder does.
    fn acquire_lease(
        &self,
        key: &LeaseKey,
        holder: &str,
    ) -> impl Future<Output = Result<Option<Self::Lease>, KvError>> + Send;

    /// Restarts a held lease's expiry; `None` when it is no longer ours (expired, maybe taken).
    fn renew_lease(
        &self,
        lease: &Self::Lease,
    ) -> impl Future<Output = Result<Option<Self::Lease>, KvError>> + Send;

    /// Releases a lease if it is still ours; `false` when it was not (expired, maybe taken by
    /// another holder, whose lease stays).
    fn release_lease(
        &self,
        lease: Self::Lease,
    ) -> impl Future<Output = Result<bool, KvError>> + Send;
}

/// What the worker reads and records of a tenant's sync state.
pub trait TenantState: Send + Sync {
    /// Records the first-sync watermark once and returns the stored one: the first writer wins
    /// and it never moves.
    fn record_first_sync_watermark(
        &self,
        tenant: &TenantId,
        at: UnixMillis,
    ) -> impl Future<Output = Result<UnixMillis, KvError>> + Send;

    /// The tenant's mode as an operator set it; `None` when never set (the configured one applies).
    fn mode(&self, tenant: &TenantId)
        -> impl Future<Output = Result<Option<Mode>, KvError>> + Send;
}

/// The audit trail of decisions.
pub trait Audit: Send + Sync {
    /// Appends one decision; unavailable when it could not be stored.
    fn audit(
        &self,
        tenant: &TenantId,
        entity: Entity,
        entry: &AuditEntry<'_>,
    ) -> impl Future<Output = Result<(), KvError>> + Send;
}

/// Change events the worker publishes itself (an organization's relinked children).
pub trait Events: Send + Sync {
    /// Publishes an event with no body. An event whose dedup id (`msg_id`) was published before
    /// is not stored twice; unavailable when it could not be stored.
    fn publish(&self, event: &ChangeEvent) -> impl Future<Output = Result<(), KvError>> + Send;
}

/// Everything a worker stores: what [`Worker`](crate::Worker) is generic over.
pub trait Store: Links + Leases + TenantState + Audit + Events {}

impl<S: Links + Leases + TenantState + Audit + Events> Store for S {}
