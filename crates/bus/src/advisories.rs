//! Moving events that exhausted their deliveries to the DLQ (DESIGN §2.3): "after max_deliver, the
//! MAX_DELIVERIES advisory moves the event to `SYNC_DLQ` (a worker killed on the last delivery must
//! not lose it)".
//!
//! The server publishes the advisory once, on core NATS, when a worker consumer gives up on a
//! message. Set-up captures these advisories in the `SYNC_ADVISORIES` stream, so none is lost
//! while no process listens; the durable consumer `sync-dlq-mover` then reads each one, fetches the
//! original from `SYNC_EVENTS` by sequence and files it with [`DeadLetters::send`] (dedup id
//! `dlq:{seq}`, so a mover that crashes between filing and acking never files twice).

use std::time::Duration;

use async_nats::jetstream::consumer::{pull, AckPolicy, PullConsumer};
use futures_util::StreamExt;
use serde::Deserialize;
use syncbridge_model::UnixMillis;

use crate::connect::Connection;
use crate::dead_letters::DeadLetters;
use crate::names::{ADVISORIES_STREAM, DLQ_MOVER_CONSUMER, EVENTS_STREAM};
use crate::ops_error::OpsError;

/// The parts of `io.nats.jetstream.advisory.v1.max_deliver` we use.
#[derive(Debug, Deserialize)]
struct MaxDeliverAdvisory {
    stream: String,
    consumer: String,
    stream_seq: u64,
    deliveries: u64,
}

/// Files exhausted events as dead letters.
#[derive(Debug, Clone)]
pub struct DeadLetterMover {
    consumer: PullConsumer,
    dead_letters: DeadLetters,
}

impl DeadLetterMover {
    /// Creates (or binds to) the durable `sync-dlq-mover` consumer. Run [`crate::setup`] first.
    pub async fn open(conn: &Connection, timeout: Duration) -> Result<Self, OpsError> {
        let fail = |e: &dyn std::fmt::Display| OpsError::from_nats(conn.is_connected(), e);
        let stream = conn
            .jetstream()
            .get_stream(ADVISORIES_STREAM)
            .await
            .map_err(|e| fail(&e))?;
        let consumer = stream
            .get_or_create_consumer(
                DLQ_MOVER_CONSUMER,
                pull::Config {
                    durable_name: Some(DLQ_MOVER_CONSUMER.to_owned()),
                    ack_policy: AckPolicy::Explicit,
                    ack_wait: Duration::from_secs(30),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| fail(&e))?;
        Ok(DeadLetterMover {
            consumer,
            dead_letters: DeadLetters::new(conn.clone(), timeout),
        })
    }

    /// Handles the advisories waiting now (at most `max`, waiting at most `wait` for the first);
    /// returns how many events were filed.
    pub async fn run_once(
        &self,
        max: usize,
        wait: Duration,
        now: UnixMillis,
    ) -> Result<usize, OpsError> {
        let mut batch = self
            .consumer
            .fetch()
            .max_messages(max)
            .expires(wait)
            .messages()
            .await
            .map_err(|e| OpsError::Unavailable(e.to_string()))?;
        let mut filed = 0;
        while let Some(msg) = batch.next().await {
            let msg = msg.map_err(|e| OpsError::Unavailable(e.to_string()))?;
            match self.handle(&msg.payload, now).await {
                Ok(moved) => {
                    filed += usize::from(moved);
                    msg.ack()
                        .await
                        .map_err(|e| OpsError::Unavailable(e.to_string()))?;
                }
                // Redelivered after ack_wait: the bus or the stream will be back.
                Err(e) => {
                    tracing::warn!(error = %e, "moving an exhausted event to the DLQ failed; will retry");
                    return Err(e);
                }
            }
        }
        Ok(filed)
    }

    /// Files the event an advisory names; `Ok(false)` when there is nothing to file.
    async fn handle(&self, payload: &[u8], now: UnixMillis) -> Result<bool, OpsError> {
        let advisory: MaxDeliverAdvisory = match serde_json::from_slice(payload) {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "unreadable MAX_DELIVERIES advisory skipped");
                return Ok(false);
            }
        };
        if advisory.stream != EVENTS_STREAM || !advisory.consumer.starts_with("sync-worker-") {
            return Ok(false);
        }
        let event = match self.dead_letters.stored_event(advisory.stream_seq).await {
            Ok(e) => e,
            Err(OpsError::NotFound { .. }) => {
                tracing::warn!(
                    seq = advisory.stream_seq,
                    "exhausted event already aged out of SYNC_EVENTS; nothing to file"
                );
                return Ok(false);
            }
            Err(e) => return Err(e),
        };
        let reason = format!(
            "delivered {} times to {} without success (max_deliver reached)",
            advisory.deliveries, advisory.consumer
        );
        self.dead_letters
            .send(&event, &reason, advisory.deliveries, now)
            .await?;
        tracing::warn!(
            seq = advisory.stream_seq,
            consumer = %advisory.consumer,
            "event moved to SYNC_DLQ after max_deliver"
        );
        Ok(true)
    }
}
