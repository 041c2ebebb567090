//! What the worker needs from each system, over canonical records. The service implements it over
//! the connectors (`syncbridge::vendors::sides`: one adapter for IT Glue, one for the tenant's
//! PSA); tests use an in-memory implementation.

use std::future::Future;
use std::time::Duration;

use syncbridge_engine::{Changes, LookupKind, Lookups};
use syncbridge_model::{Entity, Record, Side, UnixMillis, Values};

/// A vendor call that failed, classified the way the worker must react (DESIGN §2.3).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// 408/409/429/5xx/timeouts: try again after `retry_after` (the vendor's Retry-After).
    #[error("transient vendor error: {message}")]
    Transient {
        message: String,
        retry_after: Duration,
    },
    /// A refusal (e.g. IT Glue's 422 on a record managed by its native PSA integration, or a
    /// request the connector could not send at all: `status` is `None`): the event goes to the DLQ
    /// at once with this message.
    #[error("vendor refused the request{}: {message}", status.map(|s| format!(" ({s})")).unwrap_or_default())]
    Permanent {
        status: Option<u16>,
        message: String,
    },
}

/// How soon a decision whose record changed under it is made again.
const CHANGED_UNDER_US_RETRY: Duration = Duration::from_secs(1);

impl ApiError {
    /// The record changed since the decision's read: decide again, soon.
    pub fn changed_since_read() -> ApiError {
        ApiError::Transient {
            message: "the PSA record changed since it was read; deciding again".into(),
            retry_after: CHANGED_UNDER_US_RETRY,
        }
    }
}

/// One side of the sync. Futures are `Send`: workers run on a multi-threaded runtime.
pub trait SideApi: Send + Sync {
    fn side(&self) -> Side;

    /// The record as it is now; `None` when it does not exist (deleted).
    fn get(
        &self,
        entity: Entity,
        id: &str,
    ) -> impl Future<Output = Result<Option<Record>, ApiError>> + Send;

    /// The organization (this side's id) of the contact `id` that another record names: what the
    /// contact-association rule needs of it. A side may answer from a cache of short expiry
    /// (a contact rarely moves to another company, and a configuration event would otherwise
    /// read its contact every time); by default, the contact is read.
    fn company_of_contact(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<String>, ApiError>> + Send {
        async move { Ok(self.get(Entity::Contact, id).await?.and_then(|c| c.org_id)) }
    }

    /// Records that may match `probe` by key, inside organization `org_id` (this side's id) for
    /// children: a narrowing server-side search (e.g. by name). The engine compares exactly.
    fn candidates(
        &self,
        entity: Entity,
        org_id: Option<&str>,
        probe: &Record,
    ) -> impl Future<Output = Result<Vec<Record>, ApiError>> + Send;

    /// Records of `entity` that a near miss of a probe may be among, when [`SideApi::candidates`]
    /// cannot find them: IT Glue's organization name filter is exact, so a name differing only in
    /// case or whitespace comes from its (cached) organization list. The worker picks the near
    /// misses out with the engine's `matching::same_loose_key`; most sides have no such pool.
    fn near_miss_pool(
        &self,
        entity: Entity,
    ) -> impl Future<Output = Result<Vec<Record>, ApiError>> + Send {
        let _ = entity;
        async { Ok(Vec::new()) }
    }

    /// Creates a record; returns it as read back.
    fn create(
        &self,
        entity: Entity,
        org_id: Option<&str>,
        values: &Values,
    ) -> impl Future<Output = Result<Record, ApiError>> + Send;

    /// Writes only `changes`; returns the record as read back.
    fn update(
        &self,
        entity: Entity,
        id: &str,
        changes: &Changes,
    ) -> impl Future<Output = Result<Record, ApiError>> + Send;

    /// Writes only `changes` to a record that must not have changed since `read` (the decision's
    /// read of it): no PSA offers a conditional update, so a person's edit made after our read
    /// would be lost under our write, and "the PSA wins" would not hold. The record is read again
    /// and compared first; if it changed, the write is not made and the answer is a transient
    /// error (decide again). A side should re-read as late as it can — the service's PSA side
    /// re-reads once the write's rate budget is granted, right before it is sent. By default: read,
    /// compare, write.
    fn update_unchanged(
        &self,
        entity: Entity,
        read: &Record,
        changes: &Changes,
    ) -> impl Future<Output = Result<Record, ApiError>> + Send {
        async move {
            match self.get(entity, &read.id).await? {
                Some(now) if now.values == read.values => {
                    self.update(entity, &read.id, changes).await
                }
                _ => Err(ApiError::changed_since_read()),
            }
        }
    }

    /// How many records of `entity` in organization `org_id` were created within a minute either
    /// side of `at` (IT Glue: import bursts). Sides that never push answer 0.
    fn created_around(
        &self,
        entity: Entity,
        org_id: &str,
        at: UnixMillis,
    ) -> impl Future<Output = Result<u32, ApiError>> + Send {
        let _ = (entity, org_id, at);
        async { Ok(0) }
    }

    /// The ids of the records of `entity` inside organization `org_id` (this side's id): how an
    /// organization's orphaning or relinking reaches the records under it. Only IT Glue answers:
    /// it keeps an orphaned organization and its records, while the PSA's may be gone.
    fn children(
        &self,
        entity: Entity,
        org_id: &str,
    ) -> impl Future<Output = Result<Vec<String>, ApiError>> + Send {
        let _ = (entity, org_id);
        async { Ok(Vec::new()) }
    }

    /// IT Glue's configuration lookups (names). PSAs have none to offer.
    fn lookups(&self) -> impl Future<Output = Result<Lookups, ApiError>> + Send {
        async { Ok(Lookups::default()) }
    }

    /// Creates a lookup value (IT Glue only); a model under its manufacturer.
    fn create_lookup(
        &self,
        kind: LookupKind,
        name: &str,
        manufacturer: Option<&str>,
    ) -> impl Future<Output = Result<(), ApiError>> + Send {
        let _ = (kind, name, manufacturer);
        async { Ok(()) }
    }
}
