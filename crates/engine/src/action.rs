//! What a decision asks the worker to do, and why.

use std::fmt;

use serde::Serialize;
use syncbridge_model::{Link, Side, Values};

pub use syncbridge_model::{Changes, LookupKind};

/// The rule of DESIGN §3 behind an action. Named in the audit stream and by `links explain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// Byte-exact key match between an unlinked record and one candidate.
    ExactMatch,
    /// Two or more candidates share the key: link nothing, create nothing.
    Ambiguity,
    /// Only a case/whitespace/Unicode-form variant matches: reported.
    NearMiss,
    /// PSA type AND status must both be enabled.
    TypeStatusGate,
    /// The PSA does not sync this entity (capability matrix).
    EntityCapability,
    /// A record entering scope is created at once (`instant_create`).
    InstantCreate,
    /// A record entering scope waits for / is created by the next full sync.
    FullSyncCreate,
    /// A field changed in the PSA since the last sync takes the PSA's value.
    PsaWins,
    /// A field changed on both sides since the last sync takes the PSA's value.
    PsaWinsConflict,
    /// A field changed only in IT Glue is pushed to a two-way PSA.
    TwoWayPush,
    /// A field changed only in IT Glue is reverted to the PSA's value on a one-way tenant.
    OneWayRevert,
    /// A PSA → IT Glue-only field changed in IT Glue is reverted even with two-way on.
    PsaOnlyField,
    /// Linked PSA record deleted or out of scope: the IT Glue record is kept, the link orphaned.
    Orphan,
    /// Children of an orphaned organization are orphaned with it.
    OrphanChildren,
    /// An orphan whose PSA record is back in scope relinks to the same IT Glue record.
    Relink,
    /// Contacts are created only with `contacts_sync` on.
    ContactsGate,
    /// A configuration's contact is associated only when documented in the same PSA client.
    ContactAssociation,
    /// IT Glue records that existed before the first sync wait for a person's edit.
    PreexistingWaits,
    /// Imported IT Glue records wait for a person's edit.
    ImportedWaits,
    /// IT Glue → PSA needs two-way enabled on a two-way-capable PSA.
    TwoWayOnly,
    /// A push needs type+status enabled, and the PSA's extra requirements.
    PushEligibility,
    /// Network Glue (Active Directory) contacts are pushed when they meet the requirements.
    NetworkGlueContact,
    /// One-time push of all syncable IT Glue assets.
    PushAll,
    /// Missing IT Glue configuration lookups are created.
    Lookups,
    /// A child waits for its organization to be synced first.
    ParentFirst,
    /// Nothing changed since the base snapshot: no write (what prevents ping-pong).
    NoEcho,
    /// The linked IT Glue record no longer exists: the PSA record is synced again.
    #[serde(rename = "itglue_record_gone")]
    ItGlueRecordGone,
    /// A side's record is older than the base snapshot (a stale read): read again.
    StaleRead,
}

impl Rule {
    /// Every rule, for documentation and tests.
    pub const ALL: [Rule; 28] = [
        Rule::ExactMatch,
        Rule::Ambiguity,
        Rule::NearMiss,
        Rule::TypeStatusGate,
        Rule::EntityCapability,
        Rule::InstantCreate,
        Rule::FullSyncCreate,
        Rule::PsaWins,
        Rule::PsaWinsConflict,
        Rule::TwoWayPush,
        Rule::OneWayRevert,
        Rule::PsaOnlyField,
        Rule::Orphan,
        Rule::OrphanChildren,
        Rule::Relink,
        Rule::ContactsGate,
        Rule::ContactAssociation,
        Rule::PreexistingWaits,
        Rule::ImportedWaits,
        Rule::TwoWayOnly,
        Rule::PushEligibility,
        Rule::NetworkGlueContact,
        Rule::PushAll,
        Rule::Lookups,
        Rule::ParentFirst,
        Rule::NoEcho,
        Rule::ItGlueRecordGone,
        Rule::StaleRead,
    ];

    pub fn as_str(self) -> &'static str {
        use Rule::*;
        match self {
            ExactMatch => "exact_match",
            Ambiguity => "ambiguity",
            NearMiss => "near_miss",
            TypeStatusGate => "type_status_gate",
            EntityCapability => "entity_capability",
            InstantCreate => "instant_create",
            FullSyncCreate => "full_sync_create",
            PsaWins => "psa_wins",
            PsaWinsConflict => "psa_wins_conflict",
            TwoWayPush => "two_way_push",
            OneWayRevert => "one_way_revert",
            PsaOnlyField => "psa_only_field",
            Orphan => "orphan",
            OrphanChildren => "orphan_children",
            Relink => "relink",
            ContactsGate => "contacts_gate",
            ContactAssociation => "contact_association",
            PreexistingWaits => "preexisting_waits",
            ImportedWaits => "imported_waits",
            TwoWayOnly => "two_way_only",
            PushEligibility => "push_eligibility",
            NetworkGlueContact => "network_glue_contact",
            PushAll => "push_all",
            Lookups => "lookups",
            ParentFirst => "parent_first",
            NoEcho => "no_echo",
            ItGlueRecordGone => "itglue_record_gone",
            StaleRead => "stale_read",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ActionKind {
    /// Create a lookup value in IT Glue before writing the record that uses it.
    /// (A model is created under its manufacturer.)
    CreateLookup {
        lookup: LookupKind,
        name: String,
        manufacturer: Option<String>,
    },
    /// Create a record in IT Glue (inside organization `org_id` for children).
    #[serde(rename = "create_in_itglue")]
    CreateInItGlue {
        org_id: Option<String>,
        values: Values,
    },
    #[serde(rename = "update_itglue")]
    UpdateItGlue {
        itg_id: String,
        changes: Changes,
    },
    /// Create a record in the PSA (inside company `org_id` for children).
    CreateInPsa {
        org_id: Option<String>,
        values: Values,
    },
    UpdatePsa {
        psa_id: String,
        changes: Changes,
    },
    /// Link two existing records.
    Link {
        psa_id: String,
        itg_id: String,
    },
    /// Mark the link orphaned; the IT Glue record is kept unchanged.
    MarkOrphaned {
        psa_id: String,
        itg_id: String,
    },
    /// Orphan every linked record under this PSA organization.
    OrphanChildren {
        psa_org_id: String,
    },
    /// An orphaned link becomes linked again, to the same IT Glue record.
    Relink {
        psa_id: String,
        itg_id: String,
    },
    /// Sync the organization `org_id` (on `side`) first, then this record again.
    SyncParentFirst {
        side: Side,
        org_id: String,
    },
    ReportAmbiguity {
        candidates: Vec<String>,
    },
    ReportNearMiss {
        candidate_id: String,
    },
    /// An IT Glue record or edit that is not pushed (yet): reported, never reverted.
    ReportNotYetPushed {
        reason: String,
    },
    /// Held for a person to decide.
    Hold {
        reason: String,
    },
    /// Nothing to do now; the next full sync handles it.
    Defer {
        reason: String,
    },
    /// Nothing decided: read both sides again later (nak the event with a delay).
    Retry {
        reason: String,
    },
    /// Nothing to do.
    Ignore {
        reason: String,
    },
}

/// An action and the rule that produced it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Action {
    #[serde(flatten)]
    pub kind: ActionKind,
    pub rule: Rule,
}

impl Action {
    /// Whether performing this action writes to a vendor (IT Glue or the PSA).
    pub fn writes(&self) -> bool {
        matches!(
            self.kind,
            ActionKind::CreateLookup { .. }
                | ActionKind::CreateInItGlue { .. }
                | ActionKind::UpdateItGlue { .. }
                | ActionKind::CreateInPsa { .. }
                | ActionKind::UpdatePsa { .. }
        )
    }
}

/// What happens to the stored link.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkUpdate {
    /// Store nothing.
    #[default]
    Unchanged,
    /// Store this link once every action succeeded. After a create, the created record's id is
    /// `None` here and filled in by the worker; the base holds the values the engine expects, which
    /// the worker replaces with the values read back from the vendor.
    Store(Link),
}

/// The result of [`crate::decide`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub actions: Vec<Action>,
    pub link: LinkUpdate,
    /// False in shadow mode: the same decisions, audited, not written.
    pub write: bool,
}

impl Decision {
    /// The actions that write to a vendor.
    pub fn writes(&self) -> impl Iterator<Item = &Action> {
        self.actions.iter().filter(|a| a.writes())
    }

    /// Whether an action of this rule is present.
    pub fn has_rule(&self, rule: Rule) -> bool {
        self.actions.iter().any(|a| a.rule == rule)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_names_are_their_serde_names_and_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for rule in Rule::ALL {
            let json = serde_json::to_value(rule).unwrap();
            assert_eq!(json, serde_json::Value::String(rule.as_str().into()));
            assert_eq!(rule.to_string(), rule.as_str());
            assert!(seen.insert(rule.as_str()), "{rule} twice");
        }
    }

    #[test]
    fn only_vendor_changes_count_as_writes() {
        let write = Action {
            kind: ActionKind::UpdatePsa {
                psa_id: "1".into(),
                changes: Changes::new(),
            },
            rule: Rule::TwoWayPush,
        };
        let report = Action {
            kind: ActionKind::ReportAmbiguity { candidates: vec![] },
            rule: Rule::Ambiguity,
        };
        assert!(write.writes());
        assert!(!report.writes());
    }
}
