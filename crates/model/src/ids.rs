//! Identifiers: tenants, entities and the two sides of a sync.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A string that could not be read as one of this crate's identifiers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("tenant id {0:?} is invalid: use 1-64 characters of a-z, 0-9, '_' or '-'")]
    Tenant(String),
    #[error("unknown entity {0:?}: expected organization, configuration, contact or location")]
    Entity(String),
    #[error(
        "unknown PSA kind {0:?}: expected connectwise, autotask, kaseya-bms, pulseway-psa or tigerpaw"
    )]
    PsaKind(String),
    #[error("unknown event source {0:?}")]
    Source(String),
    #[error("unknown change action {0:?}: expected upsert or delete")]
    Action(String),
}

/// A tenant (one MSP's PSA + IT Glue account pair). Tenant ids appear in NATS subjects and KV keys,
/// so they are restricted to `[a-z0-9_-]{1,64}` (DESIGN §4).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

impl TenantId {
    pub fn new(id: impl Into<String>) -> Result<Self, ParseError> {
        let id = id.into();
        let valid = !id.is_empty()
            && id.len() <= 64
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if valid {
            Ok(Self(id))
        } else {
            Err(ParseError::Tenant(id))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TenantId {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, ParseError> {
        Self::new(s)
    }
}

impl From<TenantId> for String {
    fn from(t: TenantId) -> String {
        t.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The four kinds of record syncbridge synchronises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Entity {
    Organization,
    Configuration,
    Contact,
    Location,
}

impl Entity {
    pub const ALL: [Entity; 4] = [
        Entity::Organization,
        Entity::Configuration,
        Entity::Contact,
        Entity::Location,
    ];

    /// Parents before children: an organization before what lives in it, a location before the
    /// contacts and configurations that name it. Full syncs and pushes walk the entities in this
    /// order so a child's parent is already linked when the child is decided.
    pub const PARENTS_FIRST: [Entity; 4] = [
        Entity::Organization,
        Entity::Location,
        Entity::Contact,
        Entity::Configuration,
    ];

    /// The token used in NATS subjects, KV keys and the `Sync-Entity` header.
    pub fn as_str(self) -> &'static str {
        match self {
            Entity::Organization => "organization",
            Entity::Configuration => "configuration",
            Entity::Contact => "contact",
            Entity::Location => "location",
        }
    }

    /// Organizations are the parents; every other entity lives inside one.
    pub fn has_parent_org(self) -> bool {
        self != Entity::Organization
    }
}

impl FromStr for Entity {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        Entity::ALL
            .into_iter()
            .find(|e| e.as_str() == s)
            .ok_or_else(|| ParseError::Entity(s.to_owned()))
    }
}

impl fmt::Display for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The two systems a link joins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Psa,
    ItGlue,
}

impl Side {
    pub fn other(self) -> Side {
        match self {
            Side::Psa => Side::ItGlue,
            Side::ItGlue => Side::Psa,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Side::Psa => "psa",
            Side::ItGlue => "itg",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_are_subject_safe() {
        assert!(TenantId::new("acme-msp_01").is_ok());
        for bad in ["", "Acme", "a.b", "a b", "a>", "a*", &"x".repeat(65)] {
            assert!(TenantId::new(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn entity_round_trips_through_its_token() {
        for e in Entity::ALL {
            assert_eq!(e.as_str().parse::<Entity>().unwrap(), e);
        }
        assert!("organisation".parse::<Entity>().is_err());
    }
}
