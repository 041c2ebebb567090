//! The PSA capability matrix (DESIGN §3). This file is the only place that says what each PSA
//! can do; the engine and the workers read [`Capabilities`], never a vendor's name.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ids::{Entity, ParseError};

/// The PSAs syncbridge connects to IT Glue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum PsaKind {
    ConnectWise,
    Autotask,
    KaseyaBms,
    PulsewayPsa,
    Tigerpaw,
}

/// How a PSA tells us about changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedKind {
    /// Signed webhooks/callbacks, backed by a slow safety-net poll.
    Webhooks,
    /// No webhooks: polled by modified-since cursor or listing + content hash.
    Polling,
}

/// What a PSA supports, as far as the sync rules are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Capabilities {
    /// IT Glue edits can be pushed back to this PSA (when the tenant enables two-way).
    pub two_way: bool,
    pub locations: bool,
    pub configurations: bool,
    pub contacts: bool,
    /// Feed for companies/configurations/contacts (locations may be polled even so).
    pub change_feed: FeedKind,
    /// Locations are polled even when the rest arrives by webhook (ConnectWise sites).
    pub locations_polled: bool,
    /// A contact is only pushed to this PSA when it has an email (Kaseya BMS).
    pub contact_push_requires_email: bool,
    /// A configuration is only pushed when it has a manufacturer and a model (Autotask).
    pub configuration_push_requires_manufacturer_model: bool,
    /// IT Glue's `psa_integration_type` filter value for this PSA.
    pub itglue_integration_type: &'static str,
}

impl PsaKind {
    pub const ALL: [PsaKind; 5] = [
        PsaKind::ConnectWise,
        PsaKind::Autotask,
        PsaKind::KaseyaBms,
        PsaKind::PulsewayPsa,
        PsaKind::Tigerpaw,
    ];

    /// The token used in configuration files, NATS subjects (`Sync-Source`) and routes.
    pub fn as_str(self) -> &'static str {
        match self {
            PsaKind::ConnectWise => "connectwise",
            PsaKind::Autotask => "autotask",
            PsaKind::KaseyaBms => "kaseya-bms",
            PsaKind::PulsewayPsa => "pulseway-psa",
            PsaKind::Tigerpaw => "tigerpaw",
        }
    }

    /// Human name, for logs and summaries.
    pub fn display_name(self) -> &'static str {
        match self {
            PsaKind::ConnectWise => "ConnectWise PSA",
            PsaKind::Autotask => "Autotask",
            PsaKind::KaseyaBms => "Kaseya BMS",
            PsaKind::PulsewayPsa => "Pulseway PSA",
            PsaKind::Tigerpaw => "Tigerpaw",
        }
    }

    pub fn capabilities(self) -> Capabilities {
        use FeedKind::*;
        let base = Capabilities {
            two_way: true,
            locations: false,
            configurations: true,
            contacts: true,
            change_feed: Webhooks,
            locations_polled: false,
            contact_push_requires_email: false,
            configuration_push_requires_manufacturer_model: false,
            itglue_integration_type: "",
        };
        match self {
            PsaKind::ConnectWise => Capabilities {
                locations: true,
                locations_polled: true,
                itglue_integration_type: "manage",
                ..base
            },
            PsaKind::Autotask => Capabilities {
                configuration_push_requires_manufacturer_model: true,
                itglue_integration_type: "autotask",
                ..base
            },
            PsaKind::KaseyaBms => Capabilities {
                locations: true,
                change_feed: Polling,
                contact_push_requires_email: true,
                itglue_integration_type: "kaseya-bms",
                ..base
            },
            PsaKind::PulsewayPsa => Capabilities {
                change_feed: Polling,
                itglue_integration_type: "pulseway-psa",
                ..base
            },
            PsaKind::Tigerpaw => Capabilities {
                two_way: false,
                locations: true,
                configurations: false,
                change_feed: Polling,
                itglue_integration_type: "tigerpaw",
                ..base
            },
        }
    }
}

impl Capabilities {
    /// Whether this PSA syncs the entity at all.
    pub fn syncs(&self, entity: Entity) -> bool {
        match entity {
            Entity::Organization => true,
            Entity::Configuration => self.configurations,
            Entity::Contact => self.contacts,
            Entity::Location => self.locations,
        }
    }
}

impl FromStr for PsaKind {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        PsaKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| ParseError::PsaKind(s.to_owned()))
    }
}

impl TryFrom<String> for PsaKind {
    type Error = ParseError;
    fn try_from(s: String) -> Result<Self, ParseError> {
        s.parse()
    }
}

impl From<PsaKind> for String {
    fn from(k: PsaKind) -> String {
        k.as_str().to_owned()
    }
}

impl fmt::Display for PsaKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_matrix_matches_design() {
        // (kind, two-way, locations, configurations, feed)
        let rows = [
            (PsaKind::ConnectWise, true, true, true, FeedKind::Webhooks),
            (PsaKind::Autotask, true, false, true, FeedKind::Webhooks),
            (PsaKind::KaseyaBms, true, true, true, FeedKind::Polling),
            (PsaKind::PulsewayPsa, true, false, true, FeedKind::Polling),
            (PsaKind::Tigerpaw, false, true, false, FeedKind::Polling),
        ];
        for (kind, two_way, locations, configurations, feed) in rows {
            let c = kind.capabilities();
            assert_eq!(c.two_way, two_way, "{kind}");
            assert_eq!(c.locations, locations, "{kind}");
            assert_eq!(c.configurations, configurations, "{kind}");
            assert_eq!(c.change_feed, feed, "{kind}");
            assert!(c.contacts && c.syncs(Entity::Organization));
        }
        assert!(
            PsaKind::KaseyaBms
                .capabilities()
                .contact_push_requires_email
        );
        assert!(
            PsaKind::Autotask
                .capabilities()
                .configuration_push_requires_manufacturer_model
        );
    }

    #[test]
    fn unknown_kind_is_a_typed_error() {
        assert_eq!(
            "halopsa".parse::<PsaKind>(),
            Err(ParseError::PsaKind("halopsa".into()))
        );
        for k in PsaKind::ALL {
            assert_eq!(k.as_str().parse::<PsaKind>(), Ok(k));
        }
    }
}
