//! The full sync's publishing half (DESIGN §2.2): one event per PSA record the tenant syncs,
//! organizations first, then locations, contacts and configurations, so that the workers see
//! parents before children (a child that still arrives first syncs its parent itself).
//!
//! A full sync is not a second pipeline: its events are ordinary `upsert` events, decided and
//! written by the same workers as webhook and poller events. Their dedup ids are
//! `full:{run}:{entity}:{record id}` — one event per record per run, however often a run is restarted —
//! so running it again (a new `run`) re-checks every record, and the rules make that harmless:
//! a record equal to its base gives no write.

use bytes::Bytes;
use syncbridge_bus::{EventPublisher, PublishError};
use syncbridge_connectors::PsaClient;
use syncbridge_model::{ChangeAction, ChangeEvent, Entity, EventSource, TenantId, UnixMillis};

/// The order a full sync walks the entities in: parents before children.
pub const ENTITY_ORDER: [Entity; 4] = [
    Entity::Organization,
    Entity::Location,
    Entity::Contact,
    Entity::Configuration,
];

/// Why a full sync stopped (everything published before it stays published).
#[derive(Debug, thiserror::Error)]
pub enum FullSyncError {
    #[error("listing {entity} from the PSA: {source}")]
    Listing {
        entity: Entity,
        #[source]
        source: syncbridge_connectors::Error,
    },
    #[error("publishing to the event stream: {0}")]
    Publish(#[from] PublishError),
}

/// What a full sync published, per entity.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FullSyncReport {
    pub published: Vec<(Entity, u64)>,
    /// Events an earlier attempt of the same run had already published.
    pub duplicates: u64,
}

impl FullSyncReport {
    pub fn total(&self) -> u64 {
        self.published.iter().map(|(_, n)| n).sum()
    }
}

/// Publishes one event per record of each `entities` (in [`ENTITY_ORDER`]) of the tenant's PSA.
pub async fn publish_full_sync(
    tenant: &TenantId,
    psa: &PsaClient,
    entities: &[Entity],
    publisher: &EventPublisher,
    run: &str,
    now: UnixMillis,
) -> Result<FullSyncReport, FullSyncError> {
    let mut report = FullSyncReport::default();
    for entity in ENTITY_ORDER.into_iter().filter(|e| entities.contains(e)) {
        let records = psa
            .list_all(entity)
            .await
            .map_err(|source| FullSyncError::Listing { entity, source })?;
        let mut published = 0;
        for record in records {
            let event = ChangeEvent {
                tenant: tenant.clone(),
                source: EventSource::FullSync,
                entity: Some(entity),
                msg_id: Some(format!("full:{run}:{entity}:{}", record.id)),
                record_id: Some(record.id),
                action: ChangeAction::Upsert,
                received_at: now,
            };
            if publisher.publish(&event, Bytes::new()).await?.duplicate {
                report.duplicates += 1;
            } else {
                published += 1;
            }
        }
        report.published.push((entity, published));
    }
    Ok(report)
}
