//! The audit stream `SYNC_AUDIT` (DESIGN §4): every decision — what, why, which rule, values before
//! and after — as JSON on `sync.audit.{tenant}.{entity}`. It holds contact data, so its max_age is
//! bounded (set-up, default 30 days). `links explain` reads it back.

use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use syncbridge_model::{Entity, TenantId};

use crate::connect::Connection;
use crate::names::{audit_subject, AUDIT_STREAM};
use crate::ops_error::OpsError;

/// Appends decisions to the audit stream. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AuditLog {
    conn: Connection,
    timeout: Duration,
}

impl AuditLog {
    pub fn new(conn: Connection, timeout: Duration) -> Self {
        AuditLog { conn, timeout }
    }

    /// Publishes one audit record and waits for the ack; returns its `SYNC_AUDIT` sequence.
    pub async fn record(
        &self,
        tenant: &TenantId,
        entity: Entity,
        record: &impl Serialize,
    ) -> Result<u64, OpsError> {
        let body = serde_json::to_vec(record)
            .map_err(|e| OpsError::Invalid(format!("audit record: {e}")))?;
        let js = self.conn.jetstream();
        let publish = async {
            js.publish(audit_subject(tenant, entity), Bytes::from(body))
                .await?
                .await
        };
        match tokio::time::timeout(self.timeout, publish).await {
            Err(_) => Err(OpsError::Unavailable(format!(
                "no ack from {AUDIT_STREAM} within {:?}",
                self.timeout
            ))),
            Ok(Err(e)) => Err(OpsError::from_nats(self.conn.is_connected(), e)),
            Ok(Ok(ack)) => Ok(ack.sequence),
        }
    }
}
