//! Change feeds by polling (DESIGN §2.2): IT Glue's `updated_at`, and the modified-since queries of
//! the PSAs that have them. A poll asks the source for records changed since its cursor and
//! publishes one event per change — the same events a webhook makes — with the dedup id
//! `{record id}:{vendor version stamp}`, never a timestamp of ours or a body hash, so a record seen
//! by two overlapping polls (or by a poll and a webhook carrying the same stamp) is one event.
//!
//! The cursor (the greatest `updated_at` seen, per source and entity) lives in `sync_state` and is
//! advanced with compare-and-set after the events are acknowledged: a poller that dies between the
//! two re-publishes, and the dedup id absorbs it. Polls overlap by the vendor's timestamp precision
//! (the cursor is inclusive), since a record saved in the same second as the last one seen would
//! otherwise be missed.

use std::future::Future;

use bytes::Bytes;
use syncbridge_bus::{EventPublisher, KvError, PollCursor, PublishError, StateStore};
use syncbridge_model::{ChangeAction, ChangeEvent, Entity, EventSource, TenantId, UnixMillis};

use crate::side::ApiError;

/// One record a source reports as changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changed {
    pub id: String,
    /// The vendor's version stamp (e.g. `updated-at` / `lastUpdated` as the vendor wrote it).
    pub version: String,
    pub updated_at: UnixMillis,
}

/// A source that can list what changed since a time.
pub trait ChangeFeed: Send + Sync {
    /// Records of `entity` changed at or after `since` (inclusive), in any order.
    fn changed_since(
        &self,
        entity: Entity,
        since: UnixMillis,
    ) -> impl Future<Output = Result<Vec<Changed>, ApiError>> + Send;
}

/// Why a poll stopped. Nothing is lost: the cursor only moves after the events are stored.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error("source: {0}")]
    Source(#[from] ApiError),
    #[error("event bus: {0}")]
    Publish(#[from] PublishError),
    #[error("poll cursor: {0}")]
    Cursor(#[from] KvError),
}

/// What a poll did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollReport {
    pub published: u64,
    /// Changes already published by an earlier poll (same record and version).
    pub duplicates: u64,
}

/// Polls one source of one tenant.
pub struct Poller<F> {
    pub tenant: TenantId,
    pub source: EventSource,
    pub feed: F,
    pub entities: Vec<Entity>,
    pub publisher: EventPublisher,
    pub state: StateStore,
}

impl<F: ChangeFeed> Poller<F> {
    /// One poll of every entity. A first poll starts at `start` (e.g. the tenant's first-sync
    /// watermark) rather than at the beginning of time: the full sync covers the past.
    pub async fn poll_once(
        &self,
        start: UnixMillis,
        now: UnixMillis,
    ) -> Result<PollReport, PollError> {
        let mut report = PollReport::default();
        for &entity in &self.entities {
            let stored = self
                .state
                .poll_cursor(&self.tenant, self.source, Some(entity))
                .await?;
            let since = stored
                .as_ref()
                .and_then(|c| c.value.cursor.parse::<UnixMillis>().ok())
                .unwrap_or(start);
            let mut changed = self.feed.changed_since(entity, since).await?;
            changed.sort_by_key(|c| c.updated_at);
            let mut newest = since;
            for change in &changed {
                let event = ChangeEvent {
                    tenant: self.tenant.clone(),
                    source: self.source,
                    entity: Some(entity),
                    record_id: Some(change.id.clone()),
                    action: ChangeAction::Upsert,
                    received_at: now,
                    msg_id: Some(format!("{}:{}", change.id, change.version)),
                };
                let published = self.publisher.publish(&event, Bytes::new()).await?;
                if published.duplicate {
                    report.duplicates += 1;
                } else {
                    report.published += 1;
                }
                newest = newest.max(change.updated_at);
            }
            let cursor = PollCursor {
                cursor: newest.to_string(),
                polled_at: now,
            };
            self.state
                .set_poll_cursor(
                    &self.tenant,
                    self.source,
                    Some(entity),
                    &cursor,
                    stored.map(|c| c.revision),
                )
                .await?;
        }
        Ok(report)
    }
}
