//! The dead-letter queue `SYNC_DLQ` (DESIGN §2.3, §4): events that failed permanently (a vendor's
//! 4xx such as IT Glue's 422 on a record still managed by its native integration) or that were
//! delivered `max_deliver` times without success.
//!
//! A dead letter is the original event — its raw vendor body and `Sync-*` envelope headers,
//! unchanged — published to `sync.dlq.{tenant}.{entity}` with headers saying why
//! (`Sync-Error`), how often it was tried (`Sync-Attempts`), and where it came from
//! (`Sync-Original-Subject`, `Sync-Original-Seq`). Its dedup id is `dlq:{original seq}`, so the
//! worker and the MAX_DELIVERIES mover never file the same event twice.
//!
//! Operators list, show, retry (re-publish to the original subject with a fresh dedup id, then
//! remove from the DLQ) and drop dead letters; `syncbridge dlq …` is a thin shell over this.

use std::time::Duration;

use async_nats::jetstream::consumer::{pull, DeliverPolicy};
use async_nats::jetstream::stream::DeleteMessageErrorKind;
use async_nats::jetstream::ErrorCode;
use async_nats::HeaderMap;
use bytes::Bytes;
use futures_util::StreamExt;
use syncbridge_model::{headers, ChangeEvent, Entity, TenantId, UnixMillis};

use crate::connect::Connection;
use crate::names::{dlq_subject, DLQ_STREAM, EVENTS_STREAM};
use crate::ops_error::OpsError;
use crate::publish::Published;

/// Header names a dead letter adds to the original's.
pub mod dlq_headers {
    pub const ERROR: &str = "Sync-Error";
    pub const ATTEMPTS: &str = "Sync-Attempts";
    pub const ORIGINAL_SUBJECT: &str = "Sync-Original-Subject";
    pub const ORIGINAL_SEQ: &str = "Sync-Original-Seq";
    pub const DEAD_AT: &str = "Sync-Dead-At";
    /// The original's `Nats-Msg-Id` (the dead letter's own is `dlq:{original seq}`).
    pub const ORIGINAL_MSG_ID: &str = "Sync-Original-Msg-Id";
}

/// An event as it was stored in `SYNC_EVENTS`.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub subject: String,
    pub seq: u64,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// One dead letter, as `dlq list/show` present it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    /// Sequence in `SYNC_DLQ` (what `show`, `retry` and `drop` take).
    pub seq: u64,
    pub tenant: TenantId,
    pub entity: Option<Entity>,
    /// The original envelope; `None` when it could not be read (the reason it was filed).
    pub event: Option<ChangeEvent>,
    pub error: String,
    pub attempts: u64,
    pub original_subject: String,
    pub original_seq: u64,
    pub dead_at: UnixMillis,
    pub body: Bytes,
}

/// Files, lists, retries and drops dead letters. Cheap to clone.
#[derive(Debug, Clone)]
pub struct DeadLetters {
    conn: Connection,
    timeout: Duration,
}

impl DeadLetters {
    pub fn new(conn: Connection, timeout: Duration) -> Self {
        DeadLetters { conn, timeout }
    }

    fn unavailable_or(&self, e: impl std::fmt::Display) -> OpsError {
        OpsError::from_nats(self.conn.is_connected(), e)
    }

    /// Files `event` as a dead letter and waits for the ack. Returns its `SYNC_DLQ` sequence.
    pub async fn send(
        &self,
        event: &StoredEvent,
        error: &str,
        attempts: u64,
        now: UnixMillis,
    ) -> Result<u64, OpsError> {
        // An event whose envelope cannot be read is filed under the tenant and entity of its
        // subject (`sync.events.{tenant}.{source}.{entity}`), so it is never lost for that.
        let (tenant, entity) = match envelope_of(&event.headers) {
            Ok(envelope) => (envelope.tenant, envelope.entity),
            Err(_) => subject_scope(&event.subject, "sync.events.")?,
        };
        let mut h = event.headers.clone();
        if let Some(original) = event.headers.get(headers::MSG_ID) {
            h.insert(dlq_headers::ORIGINAL_MSG_ID, original.as_str());
        }
        h.insert(headers::MSG_ID, format!("dlq:{}", event.seq).as_str());
        h.insert(dlq_headers::ERROR, single_line(error).as_str());
        h.insert(dlq_headers::ATTEMPTS, attempts.to_string().as_str());
        h.insert(dlq_headers::ORIGINAL_SUBJECT, event.subject.as_str());
        h.insert(dlq_headers::ORIGINAL_SEQ, event.seq.to_string().as_str());
        h.insert(dlq_headers::DEAD_AT, now.to_string().as_str());
        let subject = dlq_subject(&tenant, entity);
        let js = self.conn.jetstream();
        let publish = async {
            js.publish_with_headers(subject, h, event.body.clone())
                .await?
                .await
        };
        match tokio::time::timeout(self.timeout, publish).await {
            Err(_) => Err(OpsError::Unavailable(format!(
                "no ack from {DLQ_STREAM} within {:?}",
                self.timeout
            ))),
            Ok(Err(e)) => Err(self.unavailable_or(e)),
            Ok(Ok(ack)) => Ok(ack.sequence),
        }
    }

    /// Reads an event back from `SYNC_EVENTS` by sequence (for the MAX_DELIVERIES mover).
    pub async fn stored_event(&self, seq: u64) -> Result<StoredEvent, OpsError> {
        let msg = self.get_raw(EVENTS_STREAM, seq).await?;
        Ok(StoredEvent {
            subject: msg.subject.to_string(),
            seq,
            headers: msg.headers,
            body: msg.payload,
        })
    }

    /// One dead letter by its `SYNC_DLQ` sequence.
    pub async fn show(&self, seq: u64) -> Result<DeadLetter, OpsError> {
        let msg = self.get_raw(DLQ_STREAM, seq).await?;
        dead_letter(seq, &msg.subject, &msg.headers, msg.payload)
    }

    /// The dead letters of a tenant, oldest first (at most `limit`).
    pub async fn list(&self, tenant: &TenantId, limit: usize) -> Result<Vec<DeadLetter>, OpsError> {
        let js = self.conn.jetstream();
        let mut stream = js
            .get_stream(DLQ_STREAM)
            .await
            .map_err(|e| self.unavailable_or(e))?;
        let last = stream
            .info()
            .await
            .map_err(|e| self.unavailable_or(e))?
            .state
            .last_sequence;
        let mut out = Vec::new();
        if last == 0 || limit == 0 {
            return Ok(out);
        }
        let mut consumer = stream
            .create_consumer(pull::OrderedConfig {
                filter_subject: format!("sync.dlq.{tenant}.>"),
                deliver_policy: DeliverPolicy::All,
                ..Default::default()
            })
            .await
            .map_err(|e| self.unavailable_or(e))?;
        let pending = consumer
            .info()
            .await
            .map_err(|e| self.unavailable_or(e))?
            .num_pending;
        if pending == 0 {
            return Ok(out);
        }
        let mut messages = consumer
            .messages()
            .await
            .map_err(|e| self.unavailable_or(e))?;
        loop {
            let next = tokio::time::timeout(self.timeout, messages.next()).await;
            let Ok(Some(msg)) = next else { break };
            let msg = msg.map_err(|e| self.unavailable_or(e))?;
            let info = msg.info().map_err(|e| OpsError::Failed(e.to_string()))?;
            let (seq, more) = (info.stream_sequence, info.pending > 0);
            let headers = msg.headers.clone().unwrap_or_default();
            out.push(dead_letter(
                seq,
                &msg.subject,
                &headers,
                msg.payload.clone(),
            )?);
            // `pending` is what else matches the filter: none means the list is complete.
            if !more || seq >= last || out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// Re-publishes a dead letter to its original subject with a fresh dedup id
    /// (`{original dedup id or seq}:retry:{dlq seq}`), then removes it from the DLQ. A retry that
    /// is interrupted between the two steps is harmless: the re-published event is a hint, and
    /// retrying again is deduplicated within the window.
    pub async fn retry(&self, seq: u64) -> Result<Published, OpsError> {
        let msg = self.get_raw(DLQ_STREAM, seq).await?;
        let letter = dead_letter(seq, &msg.subject, &msg.headers, msg.payload.clone())?;
        let Some(event) = &letter.event else {
            return Err(OpsError::Invalid(format!(
                "dead letter {seq} has no readable event envelope; it cannot be retried, only dropped"
            )));
        };
        let mut h = HeaderMap::new();
        for (name, value) in event.header_pairs() {
            if name != headers::MSG_ID {
                h.insert(name, value.as_str());
            }
        }
        let origin = event
            .dedup_id()
            .unwrap_or_else(|| format!("seq-{}", letter.original_seq));
        h.insert(headers::MSG_ID, format!("{origin}:retry:{seq}").as_str());
        let js = self.conn.jetstream();
        let publish = async {
            js.publish_with_headers(letter.original_subject.clone(), h, letter.body.clone())
                .await?
                .await
        };
        let ack = match tokio::time::timeout(self.timeout, publish).await {
            Err(_) => {
                return Err(OpsError::Unavailable(format!(
                    "no ack from {EVENTS_STREAM} within {:?}",
                    self.timeout
                )))
            }
            Ok(Err(e)) => return Err(self.unavailable_or(e)),
            Ok(Ok(ack)) => ack,
        };
        self.drop(seq).await?;
        Ok(Published {
            stream_seq: ack.sequence,
            duplicate: ack.duplicate,
        })
    }

    /// Removes a dead letter. `Ok(false)` when it was already gone.
    pub async fn drop(&self, seq: u64) -> Result<bool, OpsError> {
        let stream = self
            .conn
            .jetstream()
            .get_stream(DLQ_STREAM)
            .await
            .map_err(|e| self.unavailable_or(e))?;
        match stream.delete_message(seq).await {
            Ok(deleted) => Ok(deleted),
            Err(e) => match e.kind() {
                DeleteMessageErrorKind::JetStream(error)
                    if error.error_code() == ErrorCode::NO_MESSAGE_FOUND =>
                {
                    Ok(false)
                }
                // The server says "stream store EOF" for a sequence past the stream's last; it
                // may mean other store trouble, so whether the message is there decides.
                DeleteMessageErrorKind::JetStream(error)
                    if error.error_code() == ErrorCode::STREAM_MESSAGE_DELETE_FAILED =>
                {
                    match self.get_raw(DLQ_STREAM, seq).await {
                        Err(OpsError::NotFound { .. }) => Ok(false),
                        _ => Err(self.unavailable_or(e)),
                    }
                }
                _ => Err(self.unavailable_or(e)),
            },
        }
    }

    async fn get_raw(
        &self,
        stream_name: &'static str,
        seq: u64,
    ) -> Result<async_nats::jetstream::message::StreamMessage, OpsError> {
        let stream = self
            .conn
            .jetstream()
            .get_stream(stream_name)
            .await
            .map_err(|e| self.unavailable_or(e))?;
        stream.get_raw_message(seq).await.map_err(|e| {
            use async_nats::jetstream::stream::RawMessageErrorKind;
            match e.kind() {
                RawMessageErrorKind::NoMessageFound => OpsError::NotFound {
                    stream: stream_name,
                    seq,
                },
                _ => self.unavailable_or(e),
            }
        })
    }
}

/// The envelope of a stored event; an event without one cannot be filed by tenant.
fn envelope_of(h: &HeaderMap) -> Result<ChangeEvent, OpsError> {
    ChangeEvent::from_headers(|name| h.get(name).map(|v| v.as_str()))
        .map_err(|e| OpsError::Invalid(format!("event envelope: {e}")))
}

/// Tenant and entity from a subject `{prefix}{tenant}.….{entity}` (the last token).
fn subject_scope(subject: &str, prefix: &str) -> Result<(TenantId, Option<Entity>), OpsError> {
    let rest = subject
        .strip_prefix(prefix)
        .ok_or_else(|| OpsError::Invalid(format!("unexpected subject {subject}")))?;
    let mut tokens = rest.split('.');
    let tenant = TenantId::new(tokens.next().unwrap_or_default())
        .map_err(|e| OpsError::Invalid(e.to_string()))?;
    let entity = tokens.next_back().and_then(|t| t.parse().ok());
    Ok((tenant, entity))
}

fn dead_letter(
    seq: u64,
    subject: &str,
    h: &HeaderMap,
    body: Bytes,
) -> Result<DeadLetter, OpsError> {
    let (tenant, entity) = subject_scope(subject, "sync.dlq.")?;
    let get = |name: &str| h.get(name).map(|v| v.as_str().to_owned());
    let number = |name: &str| get(name).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // The envelope's dedup id is the original's, not the dead letter's own.
    let event = ChangeEvent::from_headers(|name| {
        let name = if name == headers::MSG_ID {
            dlq_headers::ORIGINAL_MSG_ID
        } else {
            name
        };
        h.get(name).map(|v| v.as_str())
    })
    .ok();
    Ok(DeadLetter {
        seq,
        tenant,
        entity,
        event,
        error: get(dlq_headers::ERROR).unwrap_or_default(),
        attempts: number(dlq_headers::ATTEMPTS),
        original_subject: get(dlq_headers::ORIGINAL_SUBJECT)
            .ok_or_else(|| OpsError::Invalid("dead letter without an original subject".into()))?,
        original_seq: number(dlq_headers::ORIGINAL_SEQ),
        dead_at: get(dlq_headers::DEAD_AT)
            .and_then(|v| v.parse().ok())
            .unwrap_or_default(),
        body,
    })
}

/// Header values end at a line break on the wire (and async-nats panics on one): error texts
/// from vendors are folded onto one line.
fn single_line(s: &str) -> String {
    let folded: String = s
        .chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect();
    folded.chars().take(1000).collect()
}
