//! Builders for rule tests: a tenant, records on each side, links.

#![allow(dead_code)]

use syncbridge_engine::{
    decide, ActionKind, Candidate, Decision, Input, LinkUpdate, Parent, Trigger,
};
use syncbridge_model::{
    Entity, Field, Link, LinkState, PsaKind, Record, Side, Snapshot, TenantSettings, Values,
};

pub const CUSTOMER: &str = "Customer";
pub const ACTIVE: &str = "Active";
pub const SERVER: &str = "Server";
pub const WATERMARK: i64 = 1_000_000;

/// A valid tenant: Customer/Active organizations, Server/Active configurations, contacts on.
pub fn tenant(psa: PsaKind) -> TenantSettings {
    let mut s = TenantSettings::new(psa);
    s.org_types.insert(CUSTOMER.into());
    s.org_statuses.insert(ACTIVE.into());
    if psa.capabilities().configurations {
        s.config_types.insert(SERVER.into());
        s.config_statuses.insert(ACTIVE.into());
    }
    s.contacts_sync = true;
    s.validate().expect("test tenant is valid");
    s
}

pub fn two_way(psa: PsaKind) -> TenantSettings {
    let mut s = tenant(psa);
    s.two_way = true;
    s
}

pub fn org(id: &str, name: &str) -> Record {
    Record::new(id)
        .with(Field::Name, name)
        .with(Field::Type, CUSTOMER)
        .with(Field::Status, ACTIVE)
}

pub fn contact(id: &str, org_id: &str, first: &str, last: &str) -> Record {
    Record::new(id)
        .in_org(org_id)
        .with(Field::FirstName, first)
        .with(Field::LastName, last)
}

pub fn config(id: &str, org_id: &str, name: &str) -> Record {
    Record::new(id)
        .in_org(org_id)
        .with(Field::Name, name)
        .with(Field::Type, SERVER)
        .with(Field::Status, ACTIVE)
}

pub fn location(id: &str, org_id: &str, address: &str) -> Record {
    Record::new(id)
        .in_org(org_id)
        .with(Field::Name, address)
        .with(Field::Address1, address)
        .with(Field::City, "Springfield")
        .with(Field::Country, "United States")
}

/// An IT Glue record created by a person after the first sync.
pub fn fresh(mut r: Record) -> Record {
    r.created_at = WATERMARK + 10;
    r.updated_at = WATERMARK + 10;
    r
}

/// An unlinked PSA record arriving by webhook, with IT Glue candidates.
pub fn from_psa(settings: TenantSettings, entity: Entity, psa: Record, itg: Vec<Record>) -> Input {
    let mut i = Input::new(settings, entity, Trigger::Event(Side::Psa));
    i.psa = Some(psa);
    i.candidates = itg.into_iter().map(Candidate::unlinked).collect();
    if entity.has_parent_org() {
        i.parent = Parent::Linked {
            psa_id: "p-org".into(),
            itg_id: "i-org".into(),
        };
    }
    i.first_sync_at = Some(WATERMARK);
    i
}

/// An unlinked IT Glue record arriving from the IT Glue poller, with PSA candidates.
pub fn from_itg(settings: TenantSettings, entity: Entity, itg: Record, psa: Vec<Record>) -> Input {
    let mut i = Input::new(settings, entity, Trigger::Event(Side::ItGlue));
    i.itg = Some(itg);
    i.candidates = psa.into_iter().map(Candidate::unlinked).collect();
    if entity.has_parent_org() {
        i.parent = Parent::Linked {
            psa_id: "p-org".into(),
            itg_id: "i-org".into(),
        };
    }
    i.first_sync_at = Some(WATERMARK);
    i
}

/// The base snapshot of two records that were just synced (each side's own values).
pub fn synced_base(psa: &Record, itg: &Record) -> Snapshot {
    Snapshot {
        psa: psa.values.clone(),
        itg: itg.values.clone(),
        psa_updated_at: psa.updated_at,
        itg_updated_at: itg.updated_at,
    }
}

/// A linked pair whose base is `base_psa`/`base_itg`, now reading `psa`/`itg`.
pub fn linked(
    settings: TenantSettings,
    entity: Entity,
    base: Snapshot,
    psa: Option<Record>,
    itg: Option<Record>,
    trigger: Side,
) -> Input {
    let psa_id = psa.as_ref().map(|r| r.id.clone()).unwrap_or("p1".into());
    let itg_id = itg.as_ref().map(|r| r.id.clone()).unwrap_or("i1".into());
    let mut i = Input::new(settings, entity, Trigger::Event(trigger));
    i.link = Some(Link::linked(entity, &psa_id, &itg_id, base));
    i.psa = psa;
    i.itg = itg;
    if entity.has_parent_org() {
        i.parent = Parent::Linked {
            psa_id: "p-org".into(),
            itg_id: "i-org".into(),
        };
    }
    i.first_sync_at = Some(WATERMARK);
    i
}

pub fn orphaned(mut input: Input) -> Input {
    if let Some(l) = input.link.as_mut() {
        l.state = LinkState::Orphaned;
    }
    input
}

pub fn run(input: &Input) -> Decision {
    decide(input)
}

/// The single IT Glue update of a decision, merged across rules.
pub fn itg_changes(d: &Decision) -> Values {
    let mut v = Values::new();
    for a in &d.actions {
        if let ActionKind::UpdateItGlue { changes, .. } = &a.kind {
            for (f, val) in changes {
                v.set(*f, val.clone());
            }
        }
    }
    v
}

pub fn psa_changes(d: &Decision) -> Values {
    let mut v = Values::new();
    for a in &d.actions {
        if let ActionKind::UpdatePsa { changes, .. } = &a.kind {
            for (f, val) in changes {
                v.set(*f, val.clone());
            }
        }
    }
    v
}

pub fn creates_in_itglue(d: &Decision) -> usize {
    d.actions
        .iter()
        .filter(|a| matches!(a.kind, ActionKind::CreateInItGlue { .. }))
        .count()
}

pub fn creates_in_psa(d: &Decision) -> usize {
    d.actions
        .iter()
        .filter(|a| matches!(a.kind, ActionKind::CreateInPsa { .. }))
        .count()
}

pub fn links(d: &Decision) -> Vec<(String, String)> {
    d.actions
        .iter()
        .filter_map(|a| match &a.kind {
            ActionKind::Link { psa_id, itg_id } => Some((psa_id.clone(), itg_id.clone())),
            _ => None,
        })
        .collect()
}

pub fn stored_link(d: &Decision) -> Option<&Link> {
    match &d.link {
        LinkUpdate::Store(l) => Some(l),
        LinkUpdate::Unchanged => None,
    }
}

pub fn not_yet_pushed(d: &Decision) -> bool {
    d.actions
        .iter()
        .any(|a| matches!(a.kind, ActionKind::ReportNotYetPushed { .. }))
}
