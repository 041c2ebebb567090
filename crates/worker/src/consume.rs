//! The consume loop of one tenant: messages of the durable pull consumer `sync-worker-{tenant}`
//! through [`Worker::handle`], answered the way DESIGN §2.3 says — ack when done, nak with the
//! delay asked for (a vendor's Retry-After, a held lease, a stale read, the bus) so the redelivery
//! waits, and a permanent failure filed in `SYNC_DLQ` at once, then acked. An event whose envelope
//! cannot be read is a permanent failure too. Several processes may run this loop on one consumer.

use std::future::Future;

use async_nats::jetstream::AckKind;
use futures_util::StreamExt;
use syncbridge_bus::{DeadLetters, PullConsumer, StoredEvent};
use syncbridge_model::{ChangeEvent, UnixMillis};

use crate::pipeline::{Outcome, Worker};
use crate::side::SideApi;

/// What one pass of the loop did, for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Consumed {
    pub done: u64,
    pub retried: u64,
    pub dead_lettered: u64,
}

/// Messages fetched per pull, and how long a pull waits for the first one.
const BATCH: usize = 10;
const PULL_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Runs until `shutdown` completes or the consumer fails. `clock` gives "now".
///
/// Messages are pulled in small batches and every message of a batch is answered before the next
/// pull, and `shutdown` is only looked at between batches: a message the client had fetched but
/// not yet handled would stay unacknowledged until its redelivery backoff (up to minutes) and
/// would count as a failed delivery towards max_deliver.
pub async fn run<P: SideApi, I: SideApi>(
    worker: &Worker<P, I>,
    consumer: &PullConsumer,
    dead_letters: &DeadLetters,
    clock: impl Fn() -> UnixMillis,
    shutdown: impl Future<Output = ()>,
) -> Result<Consumed, async_nats::Error> {
    let mut counts = Consumed::default();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            _ = &mut shutdown => return Ok(counts),
            _ = std::future::ready(()) => {}
        }
        let mut batch = consumer
            .fetch()
            .max_messages(BATCH)
            .expires(PULL_WAIT)
            .messages()
            .await?;
        while let Some(msg) = batch.next().await {
            let msg = msg?;
            if !handle_one(worker, dead_letters, &clock, msg, &mut counts).await? {
                return Ok(counts);
            }
        }
    }
}

/// Handles and answers one message; false when the worker must stop (a kill hook fired).
async fn handle_one<P: SideApi, I: SideApi>(
    worker: &Worker<P, I>,
    dead_letters: &DeadLetters,
    clock: &impl Fn() -> UnixMillis,
    msg: async_nats::jetstream::Message,
    counts: &mut Consumed,
) -> Result<bool, async_nats::Error> {
    let info = msg.info()?;
    let (seq, attempts) = (info.stream_sequence, info.delivered.max(1) as u64);
    let headers = msg.headers.clone().unwrap_or_default();
    let now = clock();
    let outcome = match ChangeEvent::from_headers(|name| headers.get(name).map(|v| v.as_str())) {
        Ok(event) => worker.handle(&event, now).await,
        Err(e) => Outcome::DeadLetter(format!("unreadable event envelope: {e}")),
    };
    match outcome {
        Outcome::Done { .. } => {
            msg.ack().await?;
            counts.done += 1;
        }
        Outcome::Retry(delay) => {
            msg.ack_with(AckKind::Nak(Some(delay))).await?;
            counts.retried += 1;
        }
        // The process "died": the message is neither acked nor naked and comes back after
        // the consumer's ack wait, to whichever worker is alive.
        Outcome::Killed(point) => {
            tracing::warn!(seq, ?point, "worker stopped by a kill hook");
            return Ok(false);
        }
        Outcome::DeadLetter(reason) => {
            let stored = StoredEvent {
                subject: msg.subject.to_string(),
                seq,
                headers,
                body: msg.payload.clone(),
            };
            match dead_letters.send(&stored, &reason, attempts, now).await {
                // Filed: this delivery is over for good.
                Ok(_) => {
                    tracing::warn!(seq, %reason, "event moved to SYNC_DLQ");
                    msg.ack_with(AckKind::Term).await?;
                    counts.dead_lettered += 1;
                }
                // The DLQ is unreachable: keep the event and try again later.
                Err(e) => {
                    tracing::warn!(seq, error = %e, "could not file a dead letter; will retry");
                    msg.ack_with(AckKind::Nak(Some(std::time::Duration::from_secs(5))))
                        .await?;
                    counts.retried += 1;
                }
            }
        }
    }
    Ok(true)
}
