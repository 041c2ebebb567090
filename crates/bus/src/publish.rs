//! Publishing change events to `SYNC_EVENTS` and waiting for JetStream's ack (DESIGN §2.1: ingest
//! answers a webhook only after the event is durably stored).
//!
//! The message body is the vendor's raw body, byte for byte; the [`ChangeEvent`] envelope travels
//! in headers, with its dedup id in `Nats-Msg-Id` when the source has one, so a redelivered webhook
//! comes back as `duplicate: true` and makes no second event.
//!
//! Errors are split the way ingest answers them: [`PublishError::Unavailable`] (no ack in time, no
//! connection, no stream answering — ingest answers 503 with `Retry-After`, the vendor retries and
//! the dedup id catches a publish that landed late) versus everything else (the event itself is
//! unusable: a bug or bad input, not worth a retry).

use std::time::Duration;

use async_nats::jetstream::context::PublishErrorKind;
use async_nats::{HeaderMap, HeaderName};
use bytes::Bytes;
use syncbridge_model::ChangeEvent;

use crate::connect::Connection;

/// What JetStream acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    /// Sequence of the event in `SYNC_EVENTS` (of the original, for a duplicate).
    pub stream_seq: u64,
    /// The dedup id was seen within the stream's duplicate window: nothing new was stored.
    pub duplicate: bool,
}

/// Why an event was not (known to be) stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// The bus did not acknowledge in time or cannot be reached. The event may still be stored
    /// later; a retry with the same dedup id is safe. Ingest answers 503.
    #[error("event bus unavailable: {reason}")]
    Unavailable { reason: String },
    /// The message exceeds the server's max payload.
    #[error("event too large for the bus: {0}")]
    TooLarge(String),
    /// The envelope cannot travel in NATS headers (e.g. a CR or LF in a header value).
    #[error("invalid event envelope: {0}")]
    InvalidEvent(String),
    /// The server refused the message for another reason.
    #[error("event rejected by the bus: {0}")]
    Rejected(String),
}

impl PublishError {
    /// True when the caller should answer "try again later" (HTTP 503).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, PublishError::Unavailable { .. })
    }
}

/// Publishes events; cheap to clone.
#[derive(Debug, Clone)]
pub struct EventPublisher {
    conn: Connection,
    timeout: Duration,
}

impl EventPublisher {
    /// `timeout` bounds each publish, from send to ack (ingest's answer time when the bus is down).
    pub fn new(conn: Connection, timeout: Duration) -> Self {
        EventPublisher { conn, timeout }
    }

    /// Publishes `body` (the vendor's raw bytes) with `event` as headers to `event.subject()`, and
    /// waits for the JetStream ack.
    pub async fn publish(
        &self,
        event: &ChangeEvent,
        body: Bytes,
    ) -> Result<Published, PublishError> {
        let headers = envelope_headers(event)?;
        let subject = event.subject();
        let js = self.conn.jetstream();
        let send_and_ack = async {
            let ack = js.publish_with_headers(subject, headers, body).await?;
            ack.await
        };
        match tokio::time::timeout(self.timeout, send_and_ack).await {
            Err(_) => Err(PublishError::Unavailable {
                reason: format!("no ack within {:?}", self.timeout),
            }),
            Ok(Ok(ack)) => Ok(Published {
                stream_seq: ack.sequence,
                duplicate: ack.duplicate,
            }),
            Ok(Err(e)) => Err(classify(e, self.conn.is_connected())),
        }
    }
}

/// The envelope as NATS headers. Header values end at CR/LF on the wire, and async-nats *panics*
/// when handed a value containing one; a record id or message id comes from a vendor's payload, so
/// it is checked here and refused with a typed error instead.
fn envelope_headers(event: &ChangeEvent) -> Result<HeaderMap, PublishError> {
    let mut headers = HeaderMap::new();
    for (name, value) in event.header_pairs() {
        if value.bytes().any(|b| b == b'\r' || b == b'\n') {
            return Err(PublishError::InvalidEvent(format!(
                "header {name} contains a line break"
            )));
        }
        // The names are the envelope's constants: no per-message copy of them.
        headers.insert(HeaderName::from_static(name), value);
    }
    Ok(headers)
}

fn classify(e: async_nats::jetstream::context::PublishError, connected: bool) -> PublishError {
    match e.kind() {
        PublishErrorKind::MaxPayloadExceeded => PublishError::TooLarge(e.to_string()),
        // Whatever else failed while the connection is down is the connection's fault.
        _ if !connected => PublishError::Unavailable {
            reason: format!("not connected: {e}"),
        },
        // No ack in time, the connection broke, no stream answered (the server is restarting),
        // or too many acks pending: all transient.
        PublishErrorKind::TimedOut
        | PublishErrorKind::BrokenPipe
        | PublishErrorKind::StreamNotFound
        | PublishErrorKind::MaxAckPending => PublishError::Unavailable {
            reason: e.to_string(),
        },
        // The server answered 503 (e.g. JetStream out of resources, or no stream leader during a
        // cluster election): transient too.
        PublishErrorKind::Other if server_status(&e) == Some(503) => PublishError::Unavailable {
            reason: e.to_string(),
        },
        PublishErrorKind::WrongLastMessageId
        | PublishErrorKind::WrongLastSequence
        | PublishErrorKind::Other => PublishError::Rejected(e.to_string()),
    }
}

/// The HTTP-like status of a JetStream API error behind `e`, if that is what it carries.
fn server_status(e: &async_nats::jetstream::context::PublishError) -> Option<usize> {
    std::error::Error::source(e)
        .and_then(|source| source.downcast_ref::<async_nats::jetstream::Error>())
        .map(async_nats::jetstream::Error::code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use syncbridge_model::{ChangeAction, EventSource, Side, TenantId};

    #[test]
    fn line_breaks_in_header_values_are_refused() {
        let event = ChangeEvent {
            tenant: TenantId::new("acme").unwrap(),
            source: EventSource::Standard(Side::Psa),
            entity: None,
            record_id: Some("1\r\nX-Injected: yes".into()),
            action: ChangeAction::Upsert,
            received_at: 0,
            msg_id: None,
        };
        assert!(matches!(
            envelope_headers(&event),
            Err(PublishError::InvalidEvent(_))
        ));
    }
}
