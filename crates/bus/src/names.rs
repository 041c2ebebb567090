//! The NATS names of DESIGN §4. They are part of the contract: ops tools, dashboards and other
//! deployments rely on them, so they are spelled once, here.

use syncbridge_model::{Entity, TenantId};

/// Stream of change events: `sync.events.{tenant}.{source}.{entity}`.
pub const EVENTS_STREAM: &str = "SYNC_EVENTS";
/// Subjects of [`EVENTS_STREAM`].
pub const EVENTS_SUBJECTS: &str = "sync.events.>";

/// Dead letters: `sync.dlq.{tenant}.{entity}`.
pub const DLQ_STREAM: &str = "SYNC_DLQ";
/// Subjects of [`DLQ_STREAM`].
pub const DLQ_SUBJECTS: &str = "sync.dlq.>";

/// Every decision: `sync.audit.{tenant}.{entity}`.
pub const AUDIT_STREAM: &str = "SYNC_AUDIT";
/// Subjects of [`AUDIT_STREAM`].
pub const AUDIT_SUBJECTS: &str = "sync.audit.>";

/// Captured MAX_DELIVERIES advisories of the worker consumers, so an event that exhausted its
/// deliveries reaches the DLQ even when no worker was listening at the moment it happened.
pub const ADVISORIES_STREAM: &str = "SYNC_ADVISORIES";
/// Subjects of [`ADVISORIES_STREAM`]: the server's advisories for consumers on `SYNC_EVENTS`.
pub const ADVISORIES_SUBJECTS: &str = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.SYNC_EVENTS.>";
/// The durable consumer that moves exhausted events to the DLQ.
pub const DLQ_MOVER_CONSUMER: &str = "sync-dlq-mover";

/// KV bucket of links (+ base snapshots) and the IT Glue → PSA id index.
pub const LINKS_BUCKET: &str = "sync_links";
/// KV bucket of per-record leases.
pub const LEASES_BUCKET: &str = "sync_leases";
/// KV bucket of poll cursors, watermarks, checkpoints and tenant modes.
pub const STATE_BUCKET: &str = "sync_state";

/// The durable pull consumer of one tenant: `sync-worker-{tenant}`.
pub fn worker_consumer(tenant: &TenantId) -> String {
    format!("sync-worker-{tenant}")
}

/// The filter of [`worker_consumer`]: `sync.events.{tenant}.>`.
pub fn worker_filter(tenant: &TenantId) -> String {
    format!("sync.events.{tenant}.>")
}

/// `sync.dlq.{tenant}.{entity}`; events that name no entity use `hint`, as their event subject does.
pub fn dlq_subject(tenant: &TenantId, entity: Option<Entity>) -> String {
    format!(
        "sync.dlq.{tenant}.{}",
        entity.map_or("hint", Entity::as_str)
    )
}

/// `sync.audit.{tenant}.{entity}`.
pub fn audit_subject(tenant: &TenantId, entity: Entity) -> String {
    format!("sync.audit.{tenant}.{entity}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumer_names_follow_the_contract() {
        let t = TenantId::new("acme-1").unwrap();
        assert_eq!(worker_consumer(&t), "sync-worker-acme-1");
        assert_eq!(worker_filter(&t), "sync.events.acme-1.>");
        assert_eq!(
            dlq_subject(&t, Some(Entity::Contact)),
            "sync.dlq.acme-1.contact"
        );
        assert_eq!(
            audit_subject(&t, Entity::Organization),
            "sync.audit.acme-1.organization"
        );
    }
}
