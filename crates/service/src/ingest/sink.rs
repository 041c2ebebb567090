//! Where verified events go: the [`EventSink`] trait, implemented for NATS JetStream by
//! [`NatsSink`] and by fakes in tests (the router does not care which).

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use syncbridge_bus::{Connection, EventPublisher, PublishError, Published};
use syncbridge_model::ChangeEvent;

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
        Box::pin(self.publisher.publish(event, body))
    }

    fn ready(&self) -> BoxFuture<'_, bool> {
        Box::pin(syncbridge_bus::topology_present(&self.conn))
    }
}
