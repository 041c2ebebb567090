//! The consume loop of one tenant: messages of the durable pull consumer `sync-worker-{tenant}`
//! through [`Worker::handle`], up to `concurrency` of them at once, each answered on its own the
//! way DESIGN §2.3 says — ack when done, nak with the delay asked for (a vendor's Retry-After, a
//! held lease, a stale read, the bus) so the redelivery waits, and a permanent failure filed in
//! `SYNC_DLQ` at once, then acked. An event whose envelope cannot be read is a permanent failure
//! too. Several processes may run this loop on one consumer.
//!
//! Why concurrent: a tenant's throughput is otherwise one over the sum of an event's vendor round
//! trips (6 events/s at 50 ms per request). Events of one record stay serial through the record
//! leases ([`Worker::handle`] takes one before it reads), so handling events side by side changes
//! nothing a single worker would decide.

use std::future::Future;

use async_nats::jetstream::consumer::pull::Batch;
use async_nats::jetstream::AckKind;
use futures_util::stream::FuturesUnordered;
use futures_util::StreamExt;
use syncbridge_bus::{DeadLetters, PullConsumer, StoredEvent};
use syncbridge_model::{ChangeEvent, UnixMillis};

use crate::metrics;
use crate::pipeline::{Outcome, Worker};
use crate::side::SideApi;
use crate::store::Store;

/// What one run of the loop did, for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Consumed {
    pub done: u64,
    pub retried: u64,
    pub dead_lettered: u64,
}

/// How long a pull waits for its first message.
const PULL_WAIT: std::time::Duration = std::time::Duration::from_secs(1);
/// Delay before a message whose answer could not be worked out comes back.
const ANSWER_RETRY: std::time::Duration = std::time::Duration::from_secs(5);

/// How one message was answered.
enum Answered {
    Done,
    Retried,
    DeadLettered,
}

/// Runs until `shutdown` completes or the consumer fails, handling up to
/// `concurrency` messages at once (at least one). `clock` gives "now".
///
/// A pull asks only for as many messages as can start at once, so a fetched message never waits
/// behind others unacknowledged (it would come back only after its redelivery backoff, up to
/// minutes, and count as a failed delivery towards max_deliver). On `shutdown` no new pull is
/// made; the messages of the pull under way and those in flight are handled and answered first.
/// A consumer failure also lets what is in flight finish before it is returned.
pub async fn run<P: SideApi, I: SideApi, S: Store>(
    worker: &Worker<P, I, S>,
    consumer: &PullConsumer,
    dead_letters: &DeadLetters,
    concurrency: usize,
    clock: impl Fn() -> UnixMillis,
    shutdown: impl Future<Output = ()>,
) -> Result<Consumed, async_nats::Error> {
    let concurrency = concurrency.max(1);
    let mut counts = Consumed::default();
    let mut in_flight = FuturesUnordered::new();
    let mut pull: Option<Batch> = None;
    let mut draining = false;
    let mut failure = None;
    tokio::pin!(shutdown);
    loop {
        if !draining && pull.is_none() && in_flight.len() < concurrency {
            match consumer
                .fetch()
                .max_messages(concurrency - in_flight.len())
                .expires(PULL_WAIT)
                .messages()
                .await
            {
                Ok(batch) => pull = Some(batch),
                Err(e) => (draining, failure) = (true, Some(e.into())),
            }
        }
        if draining && pull.is_none() && in_flight.is_empty() {
            return failure.map_or(Ok(counts), Err);
        }
        tokio::select! {
            biased;
            _ = &mut shutdown, if !draining => draining = true,
            Some(answered) = in_flight.next() => match answered {
                Answered::Done => counts.done += 1,
                Answered::Retried => counts.retried += 1,
                Answered::DeadLettered => counts.dead_lettered += 1,
            },
            next = next_message(&mut pull) => match next {
                None => pull = None,
                Some(Ok(msg)) => in_flight.push(handle_one(worker, dead_letters, &clock, msg)),
                Some(Err(e)) => (pull, draining, failure) = (None, true, Some(e)),
            },
        }
    }
}

/// The next message of the pull under way; pending forever when there is none.
async fn next_message(
    pull: &mut Option<Batch>,
) -> Option<Result<async_nats::jetstream::Message, async_nats::Error>> {
    match pull {
        Some(batch) => batch.next().await,
        None => std::future::pending().await,
    }
}

/// The metrics of one handled message ([`crate::metrics`]): the tenant is the worker's, never
/// the envelope's; the age is measured when the handling ended.
fn record<P, I, S>(
    worker: &Worker<P, I, S>,
    event: Option<&ChangeEvent>,
    outcome: &Outcome,
    clock: &impl Fn() -> UnixMillis,
) {
    let entity = event.and_then(|e| e.entity);
    match (outcome, event) {
        (Outcome::Done { writes }, Some(event)) => metrics::handled(
            &worker.tenant,
            event.source,
            event.received_at,
            clock(),
            *writes > 0,
        ),
        (Outcome::Done { .. }, None) => {}
        (Outcome::Retry(_), _) => metrics::not_decided(&worker.tenant, entity, "retry"),
        (Outcome::DeadLetter(_), _) => metrics::not_decided(&worker.tenant, entity, "dead_letter"),
    }
}

/// Handles and answers one message. A failure to answer is logged, not fatal to the other
/// messages in flight: an unanswered message comes back after the consumer's ack wait.
async fn handle_one<P: SideApi, I: SideApi, S: Store>(
    worker: &Worker<P, I, S>,
    dead_letters: &DeadLetters,
    clock: &impl Fn() -> UnixMillis,
    msg: async_nats::jetstream::Message,
) -> Answered {
    let (seq, attempts) = match msg.info() {
        Ok(info) => (info.stream_sequence, info.delivered.max(1) as u64),
        Err(e) => {
            tracing::warn!(error = %e, "a message without JetStream metadata; giving it back");
            let _ = msg.ack_with(AckKind::Nak(Some(ANSWER_RETRY))).await;
            return Answered::Retried;
        }
    };
    let headers = msg.headers.clone().unwrap_or_default();
    let now = clock();
    let event = ChangeEvent::from_headers(|name| headers.get(name).map(|v| v.as_str()));
    let outcome = match &event {
        Ok(event) => worker.handle(event, now).await,
        Err(e) => Outcome::DeadLetter(format!("unreadable event envelope: {e}")),
    };
    record(worker, event.as_ref().ok(), &outcome, clock);
    let (answer, answered) = match outcome {
        Outcome::Done { .. } => (msg.ack().await, Answered::Done),
        Outcome::Retry(delay) => (
            msg.ack_with(AckKind::Nak(Some(delay))).await,
            Answered::Retried,
        ),
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
                    (msg.ack_with(AckKind::Term).await, Answered::DeadLettered)
                }
                // The DLQ is unreachable: keep the event and try again later.
                Err(e) => {
                    tracing::warn!(seq, error = %e, "could not file a dead letter; will retry");
                    (
                        msg.ack_with(AckKind::Nak(Some(ANSWER_RETRY))).await,
                        Answered::Retried,
                    )
                }
            }
        }
    };
    if let Err(e) = answer {
        tracing::warn!(seq, error = %e, "could not answer the message; it comes back after the ack wait");
    }
    answered
}
