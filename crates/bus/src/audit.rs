//! The audit stream `SYNC_AUDIT` (DESIGN §4): every decision — what, why, which rule, values before
//! and after — as JSON on `sync.audit.{tenant}.{entity}`. It holds contact data, so its max_age is
//! bounded (set-up, default 30 days). `links explain` reads it back with [`AuditLog::find`].

use std::time::Duration;

use async_nats::jetstream::consumer::{pull, DeliverPolicy};
use bytes::Bytes;
use futures_util::StreamExt;
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

    /// The audit records of one tenant and entity that `matches` accepts, oldest first, keeping
    /// the last `keep`. Scans the entity's subject once (the stream's max_age bounds it).
    pub async fn find(
        &self,
        tenant: &TenantId,
        entity: Entity,
        keep: usize,
        matches: impl Fn(&serde_json::Value) -> bool,
    ) -> Result<Vec<serde_json::Value>, OpsError> {
        let fail = |e: &dyn std::fmt::Display| OpsError::from_nats(self.conn.is_connected(), e);
        let js = self.conn.jetstream();
        let stream = js.get_stream(AUDIT_STREAM).await.map_err(|e| fail(&e))?;
        let mut consumer = stream
            .create_consumer(pull::OrderedConfig {
                filter_subject: audit_subject(tenant, entity),
                deliver_policy: DeliverPolicy::All,
                ..Default::default()
            })
            .await
            .map_err(|e| fail(&e))?;
        let mut found = std::collections::VecDeque::new();
        if consumer.info().await.map_err(|e| fail(&e))?.num_pending == 0 {
            return Ok(Vec::new());
        }
        let mut messages = consumer.messages().await.map_err(|e| fail(&e))?;
        while let Ok(Some(msg)) = tokio::time::timeout(self.timeout, messages.next()).await {
            let msg = msg.map_err(|e| fail(&e))?;
            let more = msg.info().map(|i| i.pending > 0).unwrap_or(false);
            // A record that is not JSON was not written by us: skip it rather than fail.
            if let Ok(value) = serde_json::from_slice::<serde_json::Value>(&msg.payload) {
                if matches(&value) {
                    found.push_back(value);
                    if found.len() > keep {
                        found.pop_front();
                    }
                }
            }
            if !more {
                break;
            }
        }
        Ok(found.into())
    }
}
