//! What a decision is made from: everything the worker read before calling [`crate::decide`].

use std::collections::{BTreeMap, BTreeSet};

use syncbridge_model::{Entity, Link, Record, Side, TenantSettings, UnixMillis};

/// Why this decision is being made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// A change event from one side (webhook or poller). Events are hints: the current state decides.
    Event(Side),
    /// A reconcile event published by a full sync (creates that wait for the full sync happen here).
    FullSync,
    /// A one-time "push all syncable assets" request for an IT Glue record.
    PushAll,
}

/// A record of the other side that might match by key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub record: Record,
    /// The id this candidate is already linked to on the opposite side, if any. Linked candidates
    /// are never matched again (DESIGN §3: candidates are records not linked to another record).
    pub linked_to: Option<String>,
}

impl Candidate {
    pub fn unlinked(record: Record) -> Self {
        Candidate {
            record,
            linked_to: None,
        }
    }
}

/// The sync state of the organization a contact, configuration or location belongs to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Parent {
    /// The record is an organization.
    #[default]
    NotApplicable,
    /// The organization is linked: children match and sync inside these two records.
    Linked { psa_id: String, itg_id: String },
    /// The organization has not been synced yet: sync it first.
    Unlinked,
    /// The organization is orphaned (deleted in the PSA or out of scope): its children are too.
    Orphaned,
}

/// Links of records that a record references (its contact, its location), and the PSA company
/// each PSA contact belongs to. Reference fields are translated through these.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Refs {
    links: BTreeMap<(Entity, String), String>,
    contact_company: BTreeMap<String, String>,
}

impl Refs {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `psa_id` of `entity` is linked to `itg_id`.
    pub fn link(mut self, entity: Entity, psa_id: &str, itg_id: &str) -> Self {
        self.links
            .insert((entity, psa_id.to_owned()), itg_id.to_owned());
        self
    }

    /// Records which PSA company a PSA contact is documented in.
    pub fn contact_in_company(mut self, psa_contact_id: &str, psa_company_id: &str) -> Self {
        self.contact_company
            .insert(psa_contact_id.to_owned(), psa_company_id.to_owned());
        self
    }

    pub fn to_itg(&self, entity: Entity, psa_id: &str) -> Option<&str> {
        self.links
            .get(&(entity, psa_id.to_owned()))
            .map(String::as_str)
    }

    pub fn to_psa(&self, entity: Entity, itg_id: &str) -> Option<&str> {
        self.links
            .iter()
            .find(|((e, _), i)| *e == entity && i.as_str() == itg_id)
            .map(|((_, p), _)| p.as_str())
    }

    pub fn company_of_contact(&self, psa_contact_id: &str) -> Option<&str> {
        self.contact_company.get(psa_contact_id).map(String::as_str)
    }
}

/// IT Glue's lookup lists (by name) that organizations and configurations refer to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lookups {
    pub org_types: BTreeSet<String>,
    pub org_statuses: BTreeSet<String>,
    pub config_types: BTreeSet<String>,
    pub config_statuses: BTreeSet<String>,
    pub manufacturers: BTreeSet<String>,
    pub models: BTreeSet<String>,
}

/// Everything one decision is made from.
#[derive(Debug, Clone)]
pub struct Input {
    pub settings: TenantSettings,
    pub entity: Entity,
    pub trigger: Trigger,
    /// The PSA record as it is now; `None` when it does not exist (deleted) or is not known.
    pub psa: Option<Record>,
    /// The IT Glue record as it is now; `None` when it does not exist or is not known.
    pub itg: Option<Record>,
    /// The stored link, if any.
    pub link: Option<Link>,
    /// Records of the opposite side to match an unlinked record against: IT Glue records when the
    /// record comes from the PSA, PSA records when it comes from IT Glue. The engine filters them
    /// by exact key; the worker only narrows the search (e.g. by organization or name).
    pub candidates: Vec<Candidate>,
    pub parent: Parent,
    pub refs: Refs,
    pub lookups: Lookups,
    /// The tenant's first-sync watermark: IT Glue records created before it are not pushed until a
    /// person edits them. `None` before the first sync.
    pub first_sync_at: Option<UnixMillis>,
    /// IT Glue records created in the record's organization in the last minute (import detection).
    pub recent_creations_in_org: u32,
}

impl Input {
    /// An input with nothing known yet; fill in what the case needs.
    pub fn new(settings: TenantSettings, entity: Entity, trigger: Trigger) -> Self {
        Input {
            settings,
            entity,
            trigger,
            psa: None,
            itg: None,
            link: None,
            candidates: Vec::new(),
            parent: Parent::NotApplicable,
            refs: Refs::new(),
            lookups: Lookups::default(),
            first_sync_at: None,
            recent_creations_in_org: 0,
        }
    }
}
