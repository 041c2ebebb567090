//! The worker role's view of the bus for `/metrics`: every [`EVERY`], per configured tenant, its
//! worker consumer's backlog (`num_pending`, `num_ack_pending`, `num_redelivered`), its dead
//! letters in `SYNC_DLQ` (`sync.dlq.{tenant}.>`) and its last push-all run (the run's checkpoint
//! in `sync_state`: `push-all` is a one-off command with no `/metrics` of its own, and the
//! workers are the ones applying what it published), as gauges. Each read is one JetStream API
//! request per tenant and value, cheap next to the events themselves; every worker process reads
//! the same numbers, so dashboards take the max over instances.
//!
//! A read that fails (NATS away, the consumer not created yet) leaves the gauges at their last
//! value and is tried again next round: the metric is a view, never a reason to stop a worker.

use std::time::Duration;

use futures_util::TryStreamExt;
use syncbridge_bus::{names, Connection, StateKey, StateStore};
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
    let state = tokio::time::timeout(ROUND_LIMIT, StateStore::open(conn, ROUND_LIMIT)).await;
    let state = state.ok().and_then(Result::ok);
    for tenant in tenants {
        let round = async {
            consumer(conn, tenant).await;
            dead_letters(conn, tenant).await;
            if let Some(state) = &state {
                push_all_run(state, tenant).await;
            }
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

/// The fields of `push-all`'s checkpoint (`commands::push_all::Checkpoint`, a layer above the
/// roles) that its gauges show; the rest of the stored run is ignored. `operations::push_all`'s
/// test reads these gauges after a real run, so the two cannot drift apart unseen.
#[derive(serde::Deserialize)]
struct PushAllRun {
    started_at: i64,
    updated_at: i64,
    finished: bool,
    counts: Vec<(serde::de::IgnoredAny, PushAllCounts)>,
}

#[derive(serde::Deserialize)]
struct PushAllCounts {
    published: u64,
    already_linked: u64,
}

/// The checkpoint's name in `sync_state` (`{tenant}.checkpoint.push-all`).
const PUSH_ALL_CHECKPOINT: &str = "push-all";

async fn push_all_run(state: &StateStore, tenant: &TenantId) {
    let Ok(key) = StateKey::checkpoint(tenant, PUSH_ALL_CHECKPOINT) else {
        return;
    };
    match state.get::<PushAllRun>(&key).await {
        Ok(Some(stored)) => {
            let run = &stored.value;
            let sum = |count: fn(&PushAllCounts) -> u64| {
                run.counts.iter().map(|(_, c)| count(c)).sum::<u64>()
            };
            metrics::push_all(
                tenant.as_str(),
                &metrics::PushAllProgress {
                    published: sum(|c| c.published),
                    already_linked: sum(|c| c.already_linked),
                    started_at: run.started_at,
                    updated_at: run.updated_at,
                    finished: run.finished,
                },
            );
        }
        // No push-all ever ran for the tenant: no series.
        Ok(None) => {}
        Err(e) => tracing::debug!(%tenant, error = %e, "push-all checkpoint unavailable"),
    }
}
