//! Change feeds by polling (DESIGN §2.2): IT Glue's `updated_at` (a filter on organizations, a
//! newest-first walk stopping at the cursor elsewhere), the modified-since queries of the PSAs
//! that have them, and listing + content hash for the entities that have none.
//!
//! **Modified-since.** A poll asks the source for records changed since its cursor and
//! publishes one event per change — the same events a webhook makes — with the dedup id
//! `{entity}:{record id}:{version}`: the vendor's version stamp, never a timestamp of ours, with
//! the content hash of the record as listed (the service's feeds add it: vendors stamp to the
//! second, and two saves in one second must not share an id), so a record seen by two
//! overlapping polls is one event.
//!
//! The cursor (the greatest `updated_at` seen, per source and entity) lives in `sync_state` and is
//! advanced with compare-and-set after the events are acknowledged: a poller that dies between the
//! two re-publishes, and the dedup id absorbs it. Polls overlap by the vendor's timestamp precision
//! (the cursor is inclusive), since a record saved in the same second as the last one seen would
//! otherwise be missed.
//!
//! **Content hash.** Where a feed answers [`Listing::All`] for an entity (the vendor has no
//! modified-since query for it), every record is listed and compared by content hash with the
//! previous round, kept in `sync_state`: see [`crate::content_hash`].
//!
//! **Safety net.** For a webhook-fed source (ConnectWise, Autotask) this poll is the slow safety
//! net. Its dedup ids never collide with the webhooks' (ConnectWise's `MessageId`, Autotask's
//! `Guid:Id:Action:SequenceNumber` against our `{id}:{updated_at}`), so "not a duplicate" cannot
//! tell whether a webhook announced a change: every change is new to the stream on its first poll.
//! Instead, each change the poll publishes as new is judged [`SafetyNet::grace_ms`] later (so a
//! webhook still in flight is not mistaken for a missing one): the poller looks in `SYNC_EVENTS`
//! (subject `sync.events.{tenant}.{source}.{entity}`, headers only) for a *webhook* event of that
//! record received no earlier than the change's `updated_at` minus [`SafetyNet::skew_ms`] (the
//! vendor's clock against ours). Webhook events carry the vendor's body; poller events have an
//! empty one, which is how the two are told apart. A change without such an event is
//! *unannounced* — its version is newer than anything a webhook announced — and is counted in
//! [`PollReport::unannounced`] (the service turns it into a metric and a warning: a webhook may
//! be disabled). Publishing is not delayed by this. The changes awaiting judgement are kept in
//! memory: a poller restart forgets them (the alarm may miss those; no event is lost).

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::consumer::{pull, DeliverPolicy};
use bytes::Bytes;
use futures_util::StreamExt;
use syncbridge_bus::{Connection, EventPublisher, KvError, PollCursor, PublishError, StateStore};
use syncbridge_model::{
    headers, ChangeAction, ChangeEvent, Entity, EventSource, Record, Side, TenantId, UnixMillis,
};

use crate::content_hash;
use crate::poll_version::poll_msg_id;
use crate::side::ApiError;
use crate::synced_versions::SyncedVersions;

/// One record a source reports as changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changed {
    pub id: String,
    /// The vendor's version stamp (e.g. `updated-at` / `lastUpdated` as the vendor wrote it, with
    /// the record's content hash), or the content hash alone for sources polled by listing.
    pub version: String,
    pub updated_at: UnixMillis,
    /// The record as the listing showed it, when the feed has it (to skip our own write's
    /// version: [`SyncedVersions`]).
    pub listed: Option<Record>,
}

/// What a feed answers for one entity.
#[derive(Debug, Clone, PartialEq)]
pub enum Listing {
    /// Records changed at or after the cursor (a modified-since query).
    Changed(Vec<Changed>),
    /// The source cannot list this entity by modification time: every record, to be compared
    /// by content hash with the previous round.
    All(Vec<Record>),
}

/// A source that can list what changed since a time.
pub trait ChangeFeed: Send + Sync {
    /// Records of `entity` changed at or after `since` (inclusive), in any order.
    fn changed_since(
        &self,
        entity: Entity,
        since: UnixMillis,
    ) -> impl Future<Output = Result<Vec<Changed>, ApiError>> + Send;

    /// How the poller learns about `entity`'s changes: by default the modified-since query
    /// ([`changed_since`](Self::changed_since)); a feed whose vendor lacks one for the entity
    /// answers [`Listing::All`].
    fn listing(
        &self,
        entity: Entity,
        since: UnixMillis,
    ) -> impl Future<Output = Result<Listing, ApiError>> + Send {
        async move { Ok(Listing::Changed(self.changed_since(entity, since).await?)) }
    }
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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PollReport {
    /// Events stored (upserts and deletes).
    pub published: u64,
    /// Changes already published by an earlier poll (same record and version).
    pub duplicates: u64,
    /// Changes not published: the version syncbridge last synced (its own write, mostly).
    pub already_synced: u64,
    /// Of `published`, the deletions (records a content-hash listing no longer holds).
    pub deleted: u64,
    /// Safety net only: per entity, changes newly published that no webhook event announced.
    /// Entities without any are absent.
    pub unannounced: BTreeMap<Entity, u64>,
    /// Per modified-since entity, the cursor stored by this poll (the newest `updated_at` seen, or
    /// where the poll started): the poller role's cursor-age metric. Content-hash entities have
    /// none.
    pub cursors: BTreeMap<Entity, UnixMillis>,
}

/// The safety-net check of a webhook-fed source (see the module docs).
#[derive(Debug, Clone)]
pub struct SafetyNet {
    /// To read `SYNC_EVENTS` for the webhooks' events.
    pub conn: Connection,
    /// The entities that arrive by webhook (the poll is their safety net); others are not checked.
    pub entities: Vec<Entity>,
    /// How long after its first publish a change is judged, so a webhook in flight is not
    /// mistaken for a missing one.
    pub grace_ms: i64,
    /// Tolerated difference between the vendor's clock (`updated_at`) and ours (received-at).
    pub skew_ms: i64,
    /// How long the read of `SYNC_EVENTS` waits for the next message before it stops.
    pub read_timeout: Duration,
    /// Changes published as new, awaiting judgement: (entity, change, judge at).
    pending: Arc<Mutex<Vec<(Entity, Changed, UnixMillis)>>>,
}

impl SafetyNet {
    /// Grace and skew of two minutes each.
    pub fn new(conn: Connection, entities: Vec<Entity>) -> SafetyNet {
        SafetyNet {
            conn,
            entities,
            grace_ms: 120_000,
            skew_ms: 120_000,
            read_timeout: Duration::from_secs(2),
            pending: Arc::default(),
        }
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Vec<(Entity, Changed, UnixMillis)>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Polls one source of one tenant.
pub struct Poller<F> {
    pub tenant: TenantId,
    pub source: EventSource,
    pub feed: F,
    pub entities: Vec<Entity>,
    pub publisher: EventPublisher,
    pub state: StateStore,
    /// `Some` when the source also sends webhooks: this poll is then their safety net.
    pub safety_net: Option<SafetyNet>,
    /// `Some` to skip the versions syncbridge itself last synced (its own writes).
    pub synced: Option<SyncedVersions>,
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
            match self.feed.listing(entity, since).await? {
                Listing::Changed(changed) => {
                    let newest = self
                        .publish_changes(entity, since, changed, now, &mut report)
                        .await?;
                    report.cursors.insert(entity, newest);
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
                Listing::All(records) => {
                    self.compare_hashes(entity, start, records, now, &mut report)
                        .await?
                }
            }
        }
        Ok(report)
    }

    /// Publishes a modified-since listing; returns the new cursor.
    async fn publish_changes(
        &self,
        entity: Entity,
        since: UnixMillis,
        mut changed: Vec<Changed>,
        now: UnixMillis,
        report: &mut PollReport,
    ) -> Result<UnixMillis, PollError> {
        let net = self
            .safety_net
            .as_ref()
            .filter(|n| n.entities.contains(&entity));
        changed.sort_by_key(|c| c.updated_at);
        let mut newest = since;
        for change in changed {
            newest = newest.max(change.updated_at);
            if self.already_synced(entity, change.listed.as_ref()).await {
                report.already_synced += 1;
                continue;
            }
            let fresh = self
                .publish(entity, ChangeAction::Upsert, &change, now, report)
                .await?;
            if let (Some(net), true) = (net, fresh) {
                net.pending().push((entity, change, now + net.grace_ms));
            }
        }
        if let Some(net) = net {
            self.judge(net, entity, now, report).await;
        }
        Ok(newest)
    }

    /// Judges the changes of `entity` whose grace has passed (see the module docs).
    async fn judge(
        &self,
        net: &SafetyNet,
        entity: Entity,
        now: UnixMillis,
        report: &mut PollReport,
    ) {
        let due: Vec<Changed> = {
            let mut pending = net.pending();
            let (due, later) = std::mem::take(&mut *pending)
                .into_iter()
                .partition(|(e, _, at)| *e == entity && *at <= now);
            *pending = later;
            due.into_iter().map(|(_, c, _)| c).collect()
        };
        if due.is_empty() {
            return;
        }
        match self.announced(net, entity, &due).await {
            Ok(announced) => {
                let missing = due
                    .iter()
                    .filter(|c| {
                        announced
                            .get(&c.id)
                            .is_none_or(|&at| at < c.updated_at - net.skew_ms)
                    })
                    .count() as u64;
                if missing > 0 {
                    *report.unannounced.entry(entity).or_default() += missing;
                }
            }
            Err(e) => {
                tracing::warn!(
                    tenant = %self.tenant,
                    source = %self.source,
                    %entity,
                    error = %e,
                    "safety net: reading the webhook events failed; judging next round"
                );
                let mut pending = net.pending();
                pending.extend(due.into_iter().map(|c| (entity, c, now)));
            }
        }
    }

    /// Whether `listed` is the version syncbridge last synced (see [`SyncedVersions`]).
    async fn already_synced(&self, entity: Entity, listed: Option<&Record>) -> bool {
        let (Some(synced), Some(record)) = (&self.synced, listed) else {
            return false;
        };
        let side = match self.source {
            EventSource::ItGlue => Side::ItGlue,
            _ => Side::Psa,
        };
        synced.is_synced(&self.tenant, side, entity, record).await
    }

    /// Publishes one event; `true` if it was new to the stream.
    async fn publish(
        &self,
        entity: Entity,
        action: ChangeAction,
        change: &Changed,
        now: UnixMillis,
        report: &mut PollReport,
    ) -> Result<bool, PollError> {
        let event = ChangeEvent {
            tenant: self.tenant.clone(),
            source: self.source,
            entity: Some(entity),
            record_id: Some(change.id.clone()),
            action,
            received_at: now,
            // Ids are per entity (organization 1 and contact 1 are different records).
            msg_id: Some(poll_msg_id(entity, &change.id, &change.version)),
        };
        let published = self.publisher.publish(&event, Bytes::new()).await?;
        if published.duplicate {
            report.duplicates += 1;
        } else {
            report.published += 1;
            if action == ChangeAction::Delete {
                report.deleted += 1;
            }
        }
        Ok(!published.duplicate)
    }

    /// One content-hash round of `entity` (see [`crate::content_hash`]).
    async fn compare_hashes(
        &self,
        entity: Entity,
        start: UnixMillis,
        records: Vec<Record>,
        now: UnixMillis,
        report: &mut PollReport,
    ) -> Result<(), PollError> {
        let stored = content_hash::load(&self.state, &self.tenant, self.source, entity).await?;
        let previous: usize = stored.iter().flatten().map(|s| s.value.hashes.len()).sum();
        if records.is_empty() && previous > 0 {
            tracing::warn!(
                tenant = %self.tenant,
                source = %self.source,
                %entity,
                previous,
                "the listing is empty although the last round held records: skipped, nothing \
                 stored (a broken API must not look like every record deleted)"
            );
            return Ok(());
        }
        let by_id: HashMap<&str, &Record> = records.iter().map(|r| (r.id.as_str(), r)).collect();
        let listed = content_hash::by_shard(&records);
        for (shard, (listed, stored)) in listed.into_iter().zip(stored).enumerate() {
            let diff = content_hash::diff(listed, stored.as_ref().map(|s| &s.value), start);
            for (id, hash, updated_at) in &diff.changed {
                let record = by_id.get(id.as_str()).copied();
                if self.already_synced(entity, record).await {
                    report.already_synced += 1;
                    continue;
                }
                let change = Changed {
                    id: id.clone(),
                    version: hash.clone(),
                    updated_at: *updated_at,
                    listed: None,
                };
                self.publish(entity, ChangeAction::Upsert, &change, now, report)
                    .await?;
            }
            for (id, hash) in &diff.vanished {
                let change = Changed {
                    id: id.clone(),
                    version: format!("deleted-{hash}"),
                    updated_at: now,
                    listed: None,
                };
                self.publish(entity, ChangeAction::Delete, &change, now, report)
                    .await?;
            }
            // Stored only after the events: a poller that dies in between re-publishes them.
            let unchanged = stored.as_ref().is_some_and(|s| s.value == diff.current);
            if !unchanged {
                let key = content_hash::shard_key(&self.tenant, self.source, entity, shard)?;
                self.state
                    .set(&key, &diff.current, stored.map(|s| s.revision))
                    .await?;
            }
        }
        Ok(())
    }

    /// When a webhook event last announced each of `changes`' records: the greatest
    /// `Sync-Received-At` of a non-empty (vendor body) event on the entity's subject since the
    /// oldest change minus the skew.
    async fn announced(
        &self,
        net: &SafetyNet,
        entity: Entity,
        changes: &[Changed],
    ) -> Result<HashMap<String, UnixMillis>, String> {
        let wanted: HashMap<&str, ()> = changes.iter().map(|c| (c.id.as_str(), ())).collect();
        let from = changes.iter().map(|c| c.updated_at).min().unwrap_or(0) - net.skew_ms;
        let start_time =
            time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(from.max(0)) * 1_000_000)
                .map_err(|e| e.to_string())?;
        let js = net.conn.jetstream();
        let mut stream = js
            .get_stream(syncbridge_bus::names::EVENTS_STREAM)
            .await
            .map_err(|e| e.to_string())?;
        let end = stream
            .info()
            .await
            .map_err(|e| e.to_string())?
            .state
            .last_sequence;
        let mut out = HashMap::new();
        let consumer = stream
            .create_consumer(pull::OrderedConfig {
                filter_subject: format!(
                    "sync.events.{}.{}.{}",
                    self.tenant,
                    self.source,
                    entity.as_str()
                ),
                deliver_policy: DeliverPolicy::ByStartTime { start_time },
                headers_only: true,
                ..Default::default()
            })
            .await
            .map_err(|e| e.to_string())?;
        let mut messages = consumer.messages().await.map_err(|e| e.to_string())?;
        loop {
            let Ok(Some(msg)) = tokio::time::timeout(net.read_timeout, messages.next()).await
            else {
                break;
            };
            let msg = msg.map_err(|e| e.to_string())?;
            let info = msg.info().map_err(|e| e.to_string())?;
            let (seq, more) = (info.stream_sequence, info.pending > 0);
            if seq > end {
                break;
            }
            if let Some(h) = &msg.headers {
                let get = |name: &str| h.get(name).map(|v| v.as_str().to_owned());
                let webhook = get("Nats-Msg-Size")
                    .and_then(|s| s.parse::<u64>().ok())
                    .is_some_and(|size| size > 0);
                let id = get(headers::RECORD_ID);
                let at = get(headers::RECEIVED_AT).and_then(|v| v.parse::<UnixMillis>().ok());
                if let (true, Some(id), Some(at)) = (webhook, id, at) {
                    if wanted.contains_key(id.as_str()) {
                        let e = out.entry(id).or_insert(at);
                        *e = (*e).max(at);
                    }
                }
            }
            if seq >= end || !more {
                break;
            }
        }
        Ok(out)
    }
}
