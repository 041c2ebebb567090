//! The worker role's view of the bus for `/metrics`: every [`EVERY`], per configured tenant, its
//! worker consumer's backlog (`num_pending`, `num_ack_pending`, `num_redelivered`) and its dead
//! letters in `SYNC_DLQ` (`sync.dlq.{tenant}.>`), as gauges. Each read is one JetStream API
//! request per tenant and value, cheap next to the events themselves; every worker process reads
//! the same numbers, so dashboards take the max over instances.
//!
//! A read that fails (NATS away, the consumer not created yet) leaves the gauges at their last
//! value and is tried again next round: the metric is a view, never a reason to stop a worker.

use std::time::Duration;

use futures_util::TryStreamExt;
use syncbridge_bus::{names, Connection};
use syncbridge_model::TenantId;
use tokio::sync::watch;

use crate::runtime::metrics;
use crate::runtime::stop::sleep_or_stop;

/// How often the gauges are read.
const EVERY: Duration = Duration::from_secs(15);
/// Longest wait for one round of reads, so a hung request cannot stall the loop.
const ROUND_LIMIT: Duration = Duration::from_secs(10);

/// Reads the gauges of `tenants` every [`EVERY`] until `stop`.
pub async fn run(conn: Connection, tenants: Vec<TenantId>, stop: watch::Receiver<bool>) {
    loop {
        read_once(&conn, &tenants).await;
        if sleep_or_stop(EVERY, &stop).await {
            return;
        }
    }
}

/// One round: the gauges of each of `tenants`, each tenant's reads bounded by [`ROUND_LIMIT`].
pub async fn read_once(conn: &Connection, tenants: &[TenantId]) {
    for tenant in tenants {
        let round = async {
            consumer(conn, tenant).await;
            dead_letters(conn, tenant).await;
        };
        let _ = tokio::time::timeout(ROUND_LIMIT, round).await;
    }
}

async fn consumer(conn: &Connection, tenant: &TenantId) {
    let read = async {
        let stream = conn.jetstream().get_stream(names::EVENTS_STREAM).await?;
        let info = stream.consumer_info(names::worker_consumer(tenant)).await?;
        Ok::<_, async_nats::Error>(info)
    };
    match read.await {
        Ok(info) => metrics::consumer(
            tenant.as_str(),
            info.num_pending,
            info.num_ack_pending as u64,
            info.num_redelivered as u64,
        ),
        Err(e) => tracing::debug!(%tenant, error = %e, "worker consumer info unavailable"),
    }
}

async fn dead_letters(conn: &Connection, tenant: &TenantId) {
    let read = async {
        let stream = conn.jetstream().get_stream(names::DLQ_STREAM).await?;
        let subjects = stream
            .info_with_subjects(format!("sync.dlq.{tenant}.>"))
            .await?;
        let total: u64 = subjects
            .try_fold(
                0u64,
                |sum, (_, count)| async move { Ok(sum + count as u64) },
            )
            .await?;
        Ok::<_, async_nats::Error>(total)
    };
    match read.await {
        Ok(total) => metrics::dlq_messages(tenant.as_str(), total),
        Err(e) => tracing::debug!(%tenant, error = %e, "dead-letter count unavailable"),
    }
}
