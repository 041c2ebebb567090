//! What a verifier takes in ([`WebhookRequest`]) and what an authentic delivery turns out to be
//! ([`Verified`]): an event to publish, an Autotask deactivation notice, or something authentic
//! that syncbridge does not sync (a ticket, say), which the ingest acknowledges and drops.

use std::fmt;

use syncbridge_model::{ChangeEvent, EventSource, TenantId, UnixMillis};

use crate::autotask::DeactivationNotice;
use crate::headers::Headers;

/// One delivery as the HTTP layer received it.
#[derive(Debug, Clone, Copy)]
pub struct WebhookRequest<'a> {
    /// The raw body bytes, exactly as received (signatures cover these, never a re-serialisation).
    pub body: &'a [u8],
    pub headers: &'a Headers,
    /// When the delivery arrived (the caller's clock: verifiers never read the time themselves).
    /// Also the "now" for timestamp tolerance checks.
    pub received_at: UnixMillis,
}

impl<'a> WebhookRequest<'a> {
    pub fn new(body: &'a [u8], headers: &'a Headers, received_at: UnixMillis) -> Self {
        WebhookRequest {
            body,
            headers,
            received_at,
        }
    }
}

/// A verified change event: the envelope for the NATS headers and the raw body for the message.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifiedEvent {
    /// Tenant, source, entity, record id, action, received-at and the dedup id (`msg_id`).
    pub envelope: ChangeEvent,
    /// The vendor's body, byte for byte (DESIGN §2.1: the NATS message body).
    pub raw_body: Vec<u8>,
}

impl VerifiedEvent {
    pub fn tenant(&self) -> &TenantId {
        &self.envelope.tenant
    }

    pub fn source(&self) -> EventSource {
        self.envelope.source
    }

    /// The JetStream dedup id (`Nats-Msg-Id`), when the source provides one.
    pub fn msg_id(&self) -> Option<&str> {
        self.envelope.msg_id.as_deref()
    }
}

impl fmt::Debug for VerifiedEvent {
    // The body may hold contact data: logs get its size, not its content.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedEvent")
            .field("envelope", &self.envelope)
            .field("raw_body_len", &self.raw_body.len())
            .finish()
    }
}

/// An authentic delivery about a kind of record syncbridge does not sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ignored {
    pub tenant: TenantId,
    pub source: EventSource,
    /// The vendor's name for the record kind (e.g. `ticket`), shortened, for a debug log.
    pub record_type: String,
}

/// The outcome of a successful verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    /// Publish it (202 after the JetStream ack).
    Event(VerifiedEvent),
    /// Autotask says a webhook was deactivated: confirm through the Autotask API, raise the alert.
    Deactivation(DeactivationNotice),
    /// Authentic but out of scope: answer 2xx (a non-2xx makes vendors retry and, for Autotask,
    /// eventually disable the webhook) and publish nothing.
    Ignored(Ignored),
}

impl Verified {
    /// The event, if this outcome is one.
    pub fn into_event(self) -> Option<VerifiedEvent> {
        match self {
            Verified::Event(event) => Some(event),
            _ => None,
        }
    }
}
