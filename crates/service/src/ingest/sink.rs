//! Where verified events go: the [`EventSink`] trait, implemented for NATS JetStream by
//! [`NatsSink`] and by fakes in tests (the router does not care which), and the start-up check
//! that the body limit fits the server's `max_payload` ([`check_body_limit`]).

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use syncbridge_bus::{Connection, EventPublisher, PublishError, Published};
use syncbridge_model::ChangeEvent;
use syncbridge_webhooks::BodyLimit;

/// A boxed, sendable future (the traits here are used as trait objects).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Durable storage of change events.
pub trait EventSink: Send + Sync + 'static {
    /// Stores `body` (the vendor's raw bytes) with `event` as its envelope; resolves once the
    /// event is durably stored (or known not to be).
    fn publish<'a>(
        &'a self,
        event: &'a ChangeEvent,
        body: Bytes,
    ) -> BoxFuture<'a, Result<Published, PublishError>>;

    /// For `/readyz`: can events be stored right now?
    fn ready(&self) -> BoxFuture<'_, bool>;
}

/// JetStream `SYNC_EVENTS` through the bus crate.
#[derive(Debug, Clone)]
pub struct NatsSink {
    conn: Connection,
    publisher: EventPublisher,
}

impl NatsSink {
    /// `publish_timeout` bounds each publish from send to ack.
    pub fn new(conn: Connection, publish_timeout: std::time::Duration) -> Self {
        NatsSink {
            publisher: EventPublisher::new(conn.clone(), publish_timeout),
            conn,
        }
    }
}

impl EventSink for NatsSink {
    fn publish<'a>(
        &'a self,
        event: &'a ChangeEvent,
        body: Bytes,
    ) -> BoxFuture<'a, Result<Published, PublishError>> {
        // While the client knows it has no server, a publish could only wait out its timeout
        // (holding the sender's connection) before the same 503: answer it now. The vendor
        // retries; nothing was acknowledged, so nothing is lost. Connected, the normal path
        // runs, and a publish that times out is still a 503 the dedup id makes safe to retry.
        if !self.conn.is_connected() {
            return Box::pin(std::future::ready(Err(PublishError::Unavailable {
                reason: "not connected to NATS".to_owned(),
            })));
        }
        Box::pin(self.publisher.publish(event, body))
    }

    fn ready(&self) -> BoxFuture<'_, bool> {
        Box::pin(syncbridge_bus::topology_present(&self.conn))
    }
}

/// Checks `ingest.body_limit` against the connected server's `max_payload`: a body the ingest
/// accepts must be storable, or a genuine delivery would be refused after verification. `Ok`
/// when the server's value is not known yet (not connected: the configured `nats.max_payload`
/// was checked at load).
pub fn check_body_limit(conn: &Connection, body_limit: BodyLimit) -> Result<(), String> {
    let Some(max_payload) = conn.server_max_payload() else {
        return Ok(());
    };
    let largest = crate::config::max_body_limit(max_payload);
    if body_limit.max_bytes() > largest {
        return Err(format!(
            "ingest.body_limit: {} bytes cannot be stored by this NATS server (max_payload {} \
             bytes, {} of them kept for the event's headers): lower ingest.body_limit to at most \
             {largest}, or raise max_payload in the server's configuration (and nats.max_payload)",
            body_limit.max_bytes(),
            max_payload,
            crate::config::NATS_HEADER_ROOM
        ));
    }
    Ok(())
}
