//! The stored link between a PSA record and an IT Glue record, with the base snapshot the
//! three-way merge compares against. Stored in the `sync_links` KV bucket (DESIGN §4).

use serde::{Deserialize, Serialize};

use crate::ids::{Entity, Side};
use crate::record::{UnixMillis, Values};

/// The lifecycle of a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "on")]
pub enum LinkState {
    /// Both records exist and sync.
    Linked,
    /// The PSA record was deleted or left scope: the IT Glue record is kept unchanged.
    Orphaned,
    /// A create on `Side` was started (intent recorded before the vendor call). A retry searches
    /// that side by the exact key before creating again, so a crash never duplicates a record.
    Creating(Side),
}

/// The values each side held right after the last successful sync, as read back from the vendor.
/// Kept per side because vendors trim and normalise differently: comparing each side with its own
/// base is what makes "nothing changed" recognisable, so a write we made never comes back as a change.
///
/// The version stamps (each side's `updated_at` as read back) let the engine recognise a stale read
/// — a record older than what we already synced, as eventually consistent APIs sometimes return
/// right after a write — and read again instead of mistaking it for an edit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub psa: Values,
    pub itg: Values,
    #[serde(default)]
    pub psa_updated_at: UnixMillis,
    #[serde(default)]
    pub itg_updated_at: UnixMillis,
}

/// A link (PSA id ⇄ IT Glue id) of one entity in one tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub entity: Entity,
    /// Absent only while a push to the PSA is being created.
    pub psa_id: Option<String>,
    /// Absent only while a create in IT Glue is in flight.
    pub itg_id: Option<String>,
    #[serde(flatten)]
    pub state: LinkState,
    /// `None` until the first sync completed: then the PSA wins every field.
    pub base: Option<Snapshot>,
    /// When the link was last stored (for `links show`).
    #[serde(default)]
    pub updated_at: UnixMillis,
}

impl Link {
    pub fn linked(entity: Entity, psa_id: &str, itg_id: &str, base: Snapshot) -> Self {
        Link {
            entity,
            psa_id: Some(psa_id.to_owned()),
            itg_id: Some(itg_id.to_owned()),
            state: LinkState::Linked,
            base: Some(base),
            updated_at: 0,
        }
    }

    pub fn is_linked(&self) -> bool {
        self.state == LinkState::Linked
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::Field;

    #[test]
    fn link_round_trips_through_json() {
        let mut link = Link::linked(
            Entity::Organization,
            "12",
            "34",
            Snapshot {
                psa: Values::new().with(Field::Name, "Acme"),
                itg: Values::new().with(Field::Name, "Acme"),
                psa_updated_at: 5,
                itg_updated_at: 7,
            },
        );
        for state in [
            LinkState::Linked,
            LinkState::Orphaned,
            LinkState::Creating(Side::ItGlue),
        ] {
            link.state = state;
            let json = serde_json::to_string(&link).unwrap();
            let back: Link = serde_json::from_str(&json).unwrap();
            assert_eq!(back, link, "{json}");
        }
    }
}
