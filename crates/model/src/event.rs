//! The change-event envelope. On the bus the message body is the vendor's raw body, byte for byte,
//! and this envelope travels in NATS headers (DESIGN §2.1), so verification can be re-run and
//! nothing the vendor sent is lost in translation.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ids::{Entity, ParseError, Side, TenantId};
use crate::psa::PsaKind;
use crate::record::UnixMillis;

/// NATS header names of the envelope.
pub mod headers {
    pub const TENANT: &str = "Sync-Tenant";
    pub const SOURCE: &str = "Sync-Source";
    pub const ENTITY: &str = "Sync-Entity";
    pub const RECORD_ID: &str = "Sync-Record-Id";
    pub const ACTION: &str = "Sync-Action";
    pub const RECEIVED_AT: &str = "Sync-Received-At";
    /// JetStream's dedup header.
    pub const MSG_ID: &str = "Nats-Msg-Id";
}

/// Who produced an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum EventSource {
    /// A PSA, by webhook or by poller.
    Psa(PsaKind),
    /// IT Glue: its `updated_at` poller, or a workflow webhook hint.
    ItGlue,
    /// A Standard Webhooks producer, about the side its configuration declares
    /// (`[tenants.<id>.standard] side`): the record id is that side's, and the event is handled
    /// like that side's webhooks. Fixed at ingest, so an event already stored keeps its meaning
    /// if the configuration changes later.
    Standard(Side),
    /// A reconcile event from a full sync.
    FullSync,
    /// An event from a one-time push of all syncable IT Glue assets.
    PushAll,
}

impl EventSource {
    pub fn as_str(self) -> &'static str {
        match self {
            EventSource::Psa(k) => k.as_str(),
            EventSource::ItGlue => "itglue",
            EventSource::Standard(Side::Psa) => "standard-psa",
            EventSource::Standard(Side::ItGlue) => "standard-itglue",
            EventSource::FullSync => "full-sync",
            EventSource::PushAll => "push-all",
        }
    }
}

impl FromStr for EventSource {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        Ok(match s {
            "itglue" => EventSource::ItGlue,
            "standard-psa" => EventSource::Standard(Side::Psa),
            "standard-itglue" => EventSource::Standard(Side::ItGlue),
            "full-sync" => EventSource::FullSync,
            "push-all" => EventSource::PushAll,
            other => EventSource::Psa(
                other
                    .parse()
                    .map_err(|_| ParseError::Source(other.to_owned()))?,
            ),
        })
    }
}

impl TryFrom<String> for EventSource {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, ParseError> {
        s.parse()
    }
}

impl From<EventSource> for String {
    fn from(s: EventSource) -> String {
        s.as_str().to_owned()
    }
}

impl fmt::Display for EventSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the source says happened. Events are hints: the worker fetches the current state anyway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeAction {
    Upsert,
    Delete,
    /// No change data (IT Glue workflow webhook): run the source's poll now.
    Hint,
}

impl ChangeAction {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeAction::Upsert => "upsert",
            ChangeAction::Delete => "delete",
            ChangeAction::Hint => "hint",
        }
    }
}

impl FromStr for ChangeAction {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        match s {
            "upsert" => Ok(ChangeAction::Upsert),
            "delete" => Ok(ChangeAction::Delete),
            "hint" => Ok(ChangeAction::Hint),
            other => Err(ParseError::Action(other.to_owned())),
        }
    }
}

/// The envelope of one change event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeEvent {
    pub tenant: TenantId,
    pub source: EventSource,
    /// `None` for hints that name no entity.
    pub entity: Option<Entity>,
    /// The record's id on the source's side; `None` for hints.
    pub record_id: Option<String>,
    pub action: ChangeAction,
    pub received_at: UnixMillis,
    /// The dedup id (`Nats-Msg-Id`), when the source has one.
    pub msg_id: Option<String>,
}

impl ChangeEvent {
    /// `sync.events.{tenant}.{source}.{entity}`; hints without an entity use `hint`.
    pub fn subject(&self) -> String {
        let entity = self.entity.map(Entity::as_str).unwrap_or("hint");
        joined(
            &[
                "sync.events",
                self.tenant.as_str(),
                self.source.as_str(),
                entity,
            ],
            '.',
        )
    }

    /// The envelope as (header, value) pairs, in a fixed order.
    pub fn header_pairs(&self) -> Vec<(&'static str, String)> {
        let mut h = Vec::with_capacity(7);
        h.extend([
            (headers::TENANT, self.tenant.as_str().to_owned()),
            (headers::SOURCE, self.source.as_str().to_owned()),
            (headers::ACTION, self.action.as_str().to_owned()),
            (headers::RECEIVED_AT, self.received_at.to_string()),
        ]);
        if let Some(e) = self.entity {
            h.push((headers::ENTITY, e.as_str().to_owned()));
        }
        if let Some(id) = &self.record_id {
            h.push((headers::RECORD_ID, id.clone()));
        }
        if let Some(id) = self.dedup_id() {
            h.push((headers::MSG_ID, id));
        }
        h
    }

    /// The `Nats-Msg-Id`: the vendor's message id scoped by tenant and source. JetStream dedups per
    /// stream, and two tenants' producers may well both send `msg_1`; scoping keeps one tenant's
    /// event from being dropped as another's duplicate.
    pub fn dedup_id(&self) -> Option<String> {
        let id = self.msg_id.as_ref()?;
        Some(joined(
            &[self.tenant.as_str(), self.source.as_str(), id],
            ':',
        ))
    }

    /// Reads the envelope back from headers; `get` looks a header up by name.
    pub fn from_headers<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Result<Self, ParseError> {
        let tenant = TenantId::new(get(headers::TENANT).unwrap_or_default())?;
        let source = get(headers::SOURCE).unwrap_or_default().parse()?;
        let action = get(headers::ACTION).unwrap_or_default().parse()?;
        let entity = get(headers::ENTITY).map(str::parse).transpose()?;
        let received_at = get(headers::RECEIVED_AT)
            .and_then(|v| v.parse().ok())
            .unwrap_or_default();
        Ok(ChangeEvent {
            entity,
            record_id: get(headers::RECORD_ID).map(str::to_owned),
            action,
            received_at,
            msg_id: get(headers::MSG_ID).map(|id| {
                let scope = format!("{tenant}:{source}:");
                id.strip_prefix(&scope).unwrap_or(id).to_owned()
            }),
            tenant,
            source,
        })
    }
}

/// `parts` joined by `separator`, allocated once at its final size (these are built for every
/// event the ingest publishes).
fn joined(parts: &[&str], separator: char) -> String {
    let len = parts.iter().map(|p| p.len()).sum::<usize>() + parts.len().saturating_sub(1);
    let mut text = String::with_capacity(len);
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            text.push(separator);
        }
        text.push_str(part);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn event() -> ChangeEvent {
        ChangeEvent {
            tenant: TenantId::new("acme").unwrap(),
            source: EventSource::Psa(PsaKind::ConnectWise),
            entity: Some(Entity::Contact),
            record_id: Some("42".into()),
            action: ChangeAction::Upsert,
            received_at: 1_700_000_000_000,
            msg_id: Some("cw-msg-1".into()),
        }
    }

    #[test]
    fn subject_follows_the_contract() {
        assert_eq!(event().subject(), "sync.events.acme.connectwise.contact");
    }

    #[test]
    fn envelope_round_trips_through_headers() {
        let e = event();
        let map: HashMap<_, _> = e.header_pairs().into_iter().collect();
        let back = ChangeEvent::from_headers(|k| map.get(k).map(String::as_str)).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn dedup_ids_are_scoped_by_tenant_and_source() {
        let a = event();
        let mut b = event();
        b.tenant = TenantId::new("globex").unwrap();
        assert_eq!(a.dedup_id().unwrap(), "acme:connectwise:cw-msg-1");
        assert_ne!(a.dedup_id(), b.dedup_id());
        let map: HashMap<_, _> = a.header_pairs().into_iter().collect();
        assert_eq!(map[headers::MSG_ID], "acme:connectwise:cw-msg-1");
    }

    #[test]
    fn standard_webhook_sources_name_their_side() {
        for side in [Side::Psa, Side::ItGlue] {
            let source = EventSource::Standard(side);
            assert_eq!(source.as_str().parse::<EventSource>(), Ok(source));
        }
        assert_eq!(EventSource::Standard(Side::Psa).to_string(), "standard-psa");
        // An envelope from before sides were declared names none: unreadable, not guessed.
        assert_eq!(
            "standard".parse::<EventSource>(),
            Err(ParseError::Source("standard".into()))
        );
    }

    #[test]
    fn bad_headers_are_typed_errors() {
        let map: HashMap<&str, &str> = [
            ("Sync-Tenant", "acme"),
            ("Sync-Source", "nowhere"),
            ("Sync-Action", "upsert"),
        ]
        .into_iter()
        .collect();
        let err = ChangeEvent::from_headers(|k| map.get(k).copied()).unwrap_err();
        assert_eq!(err, ParseError::Source("nowhere".into()));
    }
}
