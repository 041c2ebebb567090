//! The version a poll listed, carried in its event's dedup id, so that the worker can tell a
//! lagging read from "no change".
//!
//! A poll publishes an event because the listing showed a version of the record newer than the
//! one syncbridge last synced. If the read that follows is answered by a lagging replica or cache
//! with the synced version itself, that read is not older than the link's base (the engine's
//! `stale_read` rule does not fire), the pair looks unchanged, and the event is acknowledged: the
//! edit is then lost until the next full sync. Comparing the read with the listed version turns
//! that read into a retry, as a read older than the base already is.
//!
//! The dedup id is `{entity}:{record id}:{version}` ([`poll_msg_id`]); where the feed stamps
//! versions as `{updated_at}-{content hash}` (the modified-since feeds), the listed `updated_at`
//! is read back from it ([`listed_updated_at`]). Other events (webhooks, content-hash rounds, full
//! syncs) carry no listed version and are decided as before.

use syncbridge_model::{ChangeEvent, Entity, UnixMillis};

/// The dedup id of a poll's event for one listed version of a record.
pub(crate) fn poll_msg_id(entity: Entity, id: &str, version: &str) -> String {
    format!("{entity}:{id}:{version}")
}

/// The `updated_at` the poll listed for the event's record, when the event is a poll's and its
/// version is stamped `{updated_at}-…`.
pub(crate) fn listed_updated_at(event: &ChangeEvent) -> Option<UnixMillis> {
    let (entity, id) = (event.entity?, event.record_id.as_deref()?);
    let prefix = format!("{entity}:{id}:");
    let version = event.msg_id.as_deref()?.strip_prefix(&prefix)?;
    let (updated_at, _hash) = version.split_once('-')?;
    if updated_at.is_empty() || !updated_at.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    updated_at.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use syncbridge_model::{ChangeAction, EventSource, TenantId};

    fn event(entity: Entity, id: &str, msg_id: &str) -> ChangeEvent {
        ChangeEvent {
            tenant: TenantId::new("acme").unwrap(),
            source: EventSource::ItGlue,
            entity: Some(entity),
            msg_id: Some(msg_id.to_owned()),
            record_id: Some(id.to_owned()),
            action: ChangeAction::Upsert,
            received_at: 0,
        }
    }

    #[test]
    fn a_modified_since_poll_event_carries_the_listed_updated_at() {
        let id = poll_msg_id(Entity::Contact, "42", "1700000000000-9f86d081");
        assert_eq!(
            listed_updated_at(&event(Entity::Contact, "42", &id)),
            Some(1_700_000_000_000)
        );
    }

    #[test]
    fn other_events_carry_none() {
        for (entity, id, msg_id) in [
            // A content-hash round's version is the hash alone, or `deleted-{hash}`.
            (Entity::Contact, "42", "contact:42:9f86d081"),
            (Entity::Contact, "42", "contact:42:deleted-9f86d081"),
            // Another record's id, another entity's.
            (Entity::Contact, "4", "contact:42:1700000000000-9f86d081"),
            (
                Entity::Organization,
                "42",
                "contact:42:1700000000000-9f86d081",
            ),
            // A ConnectWise MessageId, a full sync's, a relink's.
            (
                Entity::Contact,
                "42",
                "7f3e2c1a-5b6d-4e8f-9a0b-1c2d3e4f5a6b",
            ),
            (Entity::Contact, "42", "full:nightly:contact:42"),
            (Entity::Contact, "42", "relink:7@3:contact:42"),
            (Entity::Contact, "42", "contact:42:-9f86d081"),
        ] {
            assert_eq!(
                listed_updated_at(&event(entity, id, msg_id)),
                None,
                "{msg_id}"
            );
        }
    }
}
