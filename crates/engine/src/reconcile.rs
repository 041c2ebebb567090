//! The full sync's plan (DESIGN §2.4): from complete listings of both systems and the stored
//! links, which PSA records the workers must look at again, and why.
//!
//! A full sync never writes; it publishes one reconcile event per record this plan names, and the
//! workers decide each as any other event. The plan names a record when something differs from
//! what the last sync left behind:
//! - an unlinked PSA record that would enter sync now (in scope, its organization synced or
//!   entering sync too, contacts allowed): `New`;
//! - a linked record whose PSA values or IT Glue values differ from the base snapshot, whose IT
//!   Glue record is gone, that left scope, or whose organization is orphaned;
//! - an orphan back in scope; a create that never finished;
//! - a link whose PSA record the listing no longer holds: `Deleted` (the sweep).
//!
//! So a full sync over an unchanged tenant plans nothing. Values are compared field by field over
//! the synced fields ([`synced_fields`]), which are what the base snapshot keeps.

use std::collections::{HashMap, HashSet};

use syncbridge_model::{Entity, Link, LinkState, Record, TenantSettings, Values};

use crate::contacts::new_contacts_allowed;
use crate::merge::synced_fields;
use crate::scope::psa_in_scope;

/// Why a record is published again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Why {
    /// Unlinked and in scope: to be matched or created.
    New,
    /// A create in IT Glue was interrupted (link still `creating`).
    CreateUnfinished,
    /// The PSA's values differ from the base snapshot (or the link has no base yet).
    PsaChanged,
    /// IT Glue's values differ from the base snapshot.
    ItGlueChanged,
    /// The linked IT Glue record is gone.
    ItGlueGone,
    /// Linked, but no longer in scope: to be orphaned.
    LeftScope,
    /// Linked, but its organization is orphaned: to be orphaned with it.
    OrganizationOrphaned,
    /// Orphaned and in scope again: to be relinked.
    BackInScope,
    /// Linked, and the PSA no longer lists it: to be orphaned.
    Deleted,
}

impl Why {
    pub fn as_str(self) -> &'static str {
        match self {
            Why::New => "new",
            Why::CreateUnfinished => "create unfinished",
            Why::PsaChanged => "changed in the PSA",
            Why::ItGlueChanged => "changed in IT Glue",
            Why::ItGlueGone => "IT Glue record gone",
            Why::LeftScope => "left scope",
            Why::OrganizationOrphaned => "organization orphaned",
            Why::BackInScope => "back in scope",
            Why::Deleted => "deleted in the PSA",
        }
    }
}

/// One record to publish again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recheck {
    pub entity: Entity,
    pub psa_id: String,
    pub why: Why,
}

/// What a full sync listed of one entity. `itg` is `None` when IT Glue was not listed (no links
/// of this entity to compare with).
#[derive(Debug, Clone, Copy)]
pub struct Listed<'a> {
    pub entity: Entity,
    pub psa: &'a [Record],
    pub itg: Option<&'a HashMap<String, Record>>,
    pub links: &'a [Link],
}

/// The plan of one full sync.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// In the order to publish: organizations first, as the listings came.
    pub rechecks: Vec<Recheck>,
    /// Links in state `linked` (the base of the sweep's share).
    pub linked: usize,
}

impl Plan {
    /// How many records the sweep would orphan.
    pub fn deleted(&self) -> usize {
        self.rechecks
            .iter()
            .filter(|r| r.why == Why::Deleted)
            .count()
    }

    /// The share of linked records the sweep would orphan (0 without links).
    pub fn deleted_share(&self) -> f64 {
        if self.linked == 0 {
            0.0
        } else {
            self.deleted() as f64 / self.linked as f64
        }
    }

    /// How many records of `entity` are planned for `why`.
    pub fn count(&self, entity: Entity, why: Why) -> usize {
        self.rechecks
            .iter()
            .filter(|r| r.entity == entity && r.why == why)
            .count()
    }

    /// The plan without the sweep (when it would orphan too much to be trusted).
    pub fn without_sweep(mut self) -> Plan {
        self.rechecks.retain(|r| r.why != Why::Deleted);
        self
    }
}

/// Plans a full sync. `listings` come parents first (organizations before their children), each
/// complete: a partial listing must not be planned, or its missing records would be swept.
pub fn plan(settings: &TenantSettings, listings: &[Listed<'_>]) -> Plan {
    let mut plan = Plan::default();
    let mut orgs = Orgs::default();
    for listed in listings {
        plan_entity(settings, listed, &mut orgs, &mut plan);
    }
    plan
}

/// The organizations' standing, for their children.
#[derive(Default)]
struct Orgs {
    /// Linked, or entering sync in this plan.
    synced: HashSet<String>,
    orphaned: HashSet<String>,
}

fn plan_entity(settings: &TenantSettings, listed: &Listed<'_>, orgs: &mut Orgs, plan: &mut Plan) {
    let entity = listed.entity;
    let links: HashMap<&str, &Link> = listed
        .links
        .iter()
        .filter_map(|l| Some((l.psa_id.as_deref()?, l)))
        .collect();
    plan.linked += listed.links.iter().filter(|l| l.is_linked()).count();
    let mut seen = HashSet::new();
    for record in listed.psa {
        seen.insert(record.id.as_str());
        let link = links.get(record.id.as_str()).copied();
        let why = recheck(settings, listed, record, link, orgs);
        if entity == Entity::Organization {
            let linked = link.is_some_and(|l| l.is_linked()) && why != Some(Why::LeftScope);
            let entering = matches!(
                why,
                Some(Why::New | Why::BackInScope | Why::CreateUnfinished)
            );
            if linked || entering {
                orgs.synced.insert(record.id.clone());
            } else if link.is_some_and(|l| l.state == LinkState::Orphaned)
                || why == Some(Why::LeftScope)
            {
                orgs.orphaned.insert(record.id.clone());
            }
        }
        if let Some(why) = why {
            plan.rechecks.push(Recheck {
                entity,
                psa_id: record.id.clone(),
                why,
            });
        }
    }
    for link in listed.links {
        let Some(psa_id) = link.psa_id.as_deref() else {
            continue;
        };
        if link.is_linked() && !seen.contains(psa_id) {
            if entity == Entity::Organization {
                orgs.orphaned.insert(psa_id.to_owned());
            }
            plan.rechecks.push(Recheck {
                entity,
                psa_id: psa_id.to_owned(),
                why: Why::Deleted,
            });
        }
    }
}

/// Why one listed PSA record must be decided again, if it must.
fn recheck(
    settings: &TenantSettings,
    listed: &Listed<'_>,
    record: &Record,
    link: Option<&Link>,
    orgs: &Orgs,
) -> Option<Why> {
    let entity = listed.entity;
    let in_scope = psa_in_scope(settings, entity, record).is_ok();
    let org = record.org_id.as_deref();
    let org_synced = !entity.has_parent_org() || org.is_some_and(|o| orgs.synced.contains(o));
    let org_orphaned = entity.has_parent_org() && org.is_some_and(|o| orgs.orphaned.contains(o));
    let Some(link) = link else {
        let allowed = entity != Entity::Contact || new_contacts_allowed(settings).is_ok();
        return (in_scope && org_synced && allowed).then_some(Why::New);
    };
    match link.state {
        LinkState::Creating(_) => Some(Why::CreateUnfinished),
        LinkState::Orphaned => (in_scope && org_synced).then_some(Why::BackInScope),
        LinkState::Linked if !in_scope => Some(Why::LeftScope),
        LinkState::Linked if org_orphaned => Some(Why::OrganizationOrphaned),
        LinkState::Linked => drift(settings, listed, record, link),
    }
}

/// A linked pair's difference from its base snapshot.
fn drift(settings: &TenantSettings, listed: &Listed<'_>, psa: &Record, link: &Link) -> Option<Why> {
    let Some(base) = &link.base else {
        return Some(Why::PsaChanged);
    };
    if differs(settings, listed.entity, &psa.values, &base.psa) {
        return Some(Why::PsaChanged);
    }
    let itg_records = listed.itg?;
    let itg = link.itg_id.as_deref().and_then(|id| itg_records.get(id));
    match itg {
        None => Some(Why::ItGlueGone),
        Some(itg) if differs(settings, listed.entity, &itg.values, &base.itg) => {
            Some(Why::ItGlueChanged)
        }
        Some(_) => None,
    }
}

fn differs(settings: &TenantSettings, entity: Entity, now: &Values, base: &Values) -> bool {
    synced_fields(settings, entity).any(|spec| now.get(spec.field) != base.get(spec.field))
}
