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
//! So a full sync over an unchanged tenant plans nothing. Values are compared over the synced
//! fields ([`synced_fields`]), which are what the base snapshot keeps.
//!
//! The plan is made as the listings stream in ([`Planner`]): entity by entity, parents first, and
//! within an entity one PSA record at a time, keeping only ids, states and digests of the synced
//! fields — never both systems' records at once (onboarding 100,000 configurations lists some
//! 500,000 records). [`plan`] is the same over listings held in memory.

use std::collections::{HashMap, HashSet};

use sha2::{Digest as _, Sha256};
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

/// Plans a full sync over complete listings held in memory; the same plan as feeding them to a
/// [`Planner`] entity by entity. `listings` come parents first (organizations before their
/// children), each complete: a partial listing must not be planned, or its missing records would
/// be swept.
pub fn plan(settings: &TenantSettings, listings: &[Listed<'_>]) -> Plan {
    let mut planner = Planner::new(settings);
    let mut plan = Plan::default();
    for listed in listings {
        planner.begin(listed.entity, listed.itg.is_some());
        listed.links.iter().for_each(|l| planner.stored(l));
        for record in listed.itg.into_iter().flat_map(HashMap::values) {
            planner.itg(record);
        }
        for record in listed.psa {
            if let Some(why) = planner.psa(record) {
                plan.rechecks.push(Recheck {
                    entity: listed.entity,
                    psa_id: record.id.clone(),
                    why,
                });
            }
        }
        plan.rechecks.extend(planner.end());
    }
    plan.linked = planner.linked();
    plan
}

/// A full sync's plan made as the listings stream in, one entity after the other, parents first.
/// Per entity: [`Planner::begin`], every stored link ([`Planner::stored`]), every IT Glue record
/// ([`Planner::itg`]), then each PSA record as it is listed ([`Planner::psa`], which says at once
/// whether and why it is planned), and [`Planner::end`] once the PSA listing is complete (the
/// sweep). Only the last step may orphan anything, so a listing that fails part-way must never
/// reach it.
///
/// What it keeps is what the plan needs: of a link its IT Glue id, state and a digest of each
/// side's base; of an IT Glue record a digest of its synced fields; of the organizations the ids
/// of those synced and orphaned (for their children). The records themselves are not kept, so a
/// caller can drop each page once it is planned.
#[derive(Debug)]
pub struct Planner {
    settings: TenantSettings,
    orgs: Orgs,
    /// Links in state `linked`, every entity so far.
    linked: usize,
    entity: Entity,
    /// The entity's stored links by PSA id.
    links: HashMap<String, Stored>,
    /// The entity's IT Glue records (id → synced digest); `None` when IT Glue is not compared.
    itg: Option<HashMap<String, Digest>>,
}

/// What the plan keeps of a stored link.
#[derive(Debug)]
struct Stored {
    itg_id: Option<String>,
    state: LinkState,
    /// Digests of the base's PSA and IT Glue values (`None`: no base yet).
    base: Option<(Digest, Digest)>,
    /// The PSA listing held the record (what the sweep spares).
    seen: bool,
}

impl Planner {
    pub fn new(settings: &TenantSettings) -> Planner {
        Planner {
            settings: settings.clone(),
            orgs: Orgs::default(),
            linked: 0,
            entity: Entity::Organization,
            links: HashMap::new(),
            itg: None,
        }
    }

    /// Starts planning `entity` (after every entity it depends on). `compare_itg`: IT Glue's
    /// records are given too, so a linked pair is also compared on the IT Glue side.
    pub fn begin(&mut self, entity: Entity, compare_itg: bool) {
        self.entity = entity;
        // Fresh maps rather than `clear`: the previous entity's capacity is released.
        self.links = HashMap::new();
        self.itg = compare_itg.then(HashMap::new);
    }

    /// A stored link of the current entity (one without a PSA id is not the plan's: it is a push
    /// to the PSA in flight).
    pub fn stored(&mut self, link: &Link) {
        let Some(psa_id) = link.psa_id.clone() else {
            return;
        };
        if link.is_linked() {
            self.linked += 1;
        }
        let base = link.base.as_ref().map(|b| {
            (
                digest(&self.settings, self.entity, &b.psa),
                digest(&self.settings, self.entity, &b.itg),
            )
        });
        let stored = Stored {
            itg_id: link.itg_id.clone(),
            state: link.state,
            base,
            seen: false,
        };
        if let Some(replaced) = self.links.insert(psa_id, stored) {
            // The same key listed twice: count it once.
            if replaced.state == LinkState::Linked {
                self.linked -= 1;
            }
        }
    }

    /// An IT Glue record of the current entity; `false` when the listing gave the same record
    /// before (a paged listing can repeat a record that moved between pages): its first listing
    /// stands, as a caller indexing records should let it.
    pub fn itg(&mut self, record: &Record) -> bool {
        let Some(itg) = &mut self.itg else {
            return true;
        };
        if itg.contains_key(&record.id) {
            return false;
        }
        let d = digest(&self.settings, self.entity, &record.values);
        itg.insert(record.id.clone(), d);
        true
    }

    /// A PSA record of the current entity: why it must be decided again, if it must.
    pub fn psa(&mut self, record: &Record) -> Option<Why> {
        let settings = &self.settings;
        let link = self.links.get_mut(&record.id).map(|l| {
            l.seen = true;
            &*l
        });
        let why = recheck(
            settings,
            self.entity,
            self.itg.as_ref(),
            record,
            link,
            &self.orgs,
        );
        if self.entity == Entity::Organization {
            let linked =
                link.is_some_and(|l| l.state == LinkState::Linked) && why != Some(Why::LeftScope);
            let entering = matches!(
                why,
                Some(Why::New | Why::BackInScope | Why::CreateUnfinished)
            );
            if linked || entering {
                self.orgs.synced.insert(record.id.clone());
            } else if link.is_some_and(|l| l.state == LinkState::Orphaned)
                || why == Some(Why::LeftScope)
            {
                self.orgs.orphaned.insert(record.id.clone());
            }
        }
        why
    }

    /// The current entity's PSA listing is complete: the sweep, links in state `linked` whose
    /// record the listing lacked, in PSA id order.
    pub fn end(&mut self) -> Vec<Recheck> {
        let mut deleted: Vec<&String> = self
            .links
            .iter()
            .filter(|(_, l)| l.state == LinkState::Linked && !l.seen)
            .map(|(id, _)| id)
            .collect();
        deleted.sort();
        let rechecks: Vec<Recheck> = deleted
            .into_iter()
            .map(|psa_id| Recheck {
                entity: self.entity,
                psa_id: psa_id.clone(),
                why: Why::Deleted,
            })
            .collect();
        if self.entity == Entity::Organization {
            let gone = rechecks.iter().map(|r| r.psa_id.clone());
            self.orgs.orphaned.extend(gone);
        }
        self.links = HashMap::new();
        self.itg = None;
        rechecks
    }

    /// Links in state `linked` of every entity begun so far (the base of the sweep's share).
    pub fn linked(&self) -> usize {
        self.linked
    }
}

/// The organizations' standing, for their children.
#[derive(Debug, Default)]
struct Orgs {
    /// Linked, or entering sync in this plan.
    synced: HashSet<String>,
    orphaned: HashSet<String>,
}

/// Why one listed PSA record must be decided again, if it must.
fn recheck(
    settings: &TenantSettings,
    entity: Entity,
    itg: Option<&HashMap<String, Digest>>,
    record: &Record,
    link: Option<&Stored>,
    orgs: &Orgs,
) -> Option<Why> {
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
        LinkState::Linked => drift(settings, entity, itg, record, link),
    }
}

/// A linked pair's difference from its base snapshot.
fn drift(
    settings: &TenantSettings,
    entity: Entity,
    itg: Option<&HashMap<String, Digest>>,
    psa: &Record,
    link: &Stored,
) -> Option<Why> {
    let Some((base_psa, base_itg)) = &link.base else {
        return Some(Why::PsaChanged);
    };
    if digest(settings, entity, &psa.values) != *base_psa {
        return Some(Why::PsaChanged);
    }
    let itg = itg?;
    match link.itg_id.as_deref().and_then(|id| itg.get(id)) {
        None => Some(Why::ItGlueGone),
        Some(now) if now != base_itg => Some(Why::ItGlueChanged),
        Some(_) => None,
    }
}

/// 128 bits of the SHA-256 of a record's synced fields: two values have the same digest exactly
/// when every synced field holds the same value (a collision is out of reach). The plan compares
/// digests rather than values so it need not keep the values: a base snapshot is a few hundred
/// bytes per side, its digest 16. Never stored: it only compares values within one plan.
type Digest = [u8; 16];

fn digest(settings: &TenantSettings, entity: Entity, values: &Values) -> Digest {
    let mut h = Sha256::new();
    for spec in synced_fields(settings, entity) {
        // Length-prefixed, with absence distinct from any value, so no two different sets of
        // values share a byte stream.
        let name = spec.field.as_str();
        h.update((name.len() as u64).to_be_bytes());
        h.update(name.as_bytes());
        match values.get(spec.field) {
            Some(v) => {
                h.update([1]);
                h.update((v.len() as u64).to_be_bytes());
                h.update(v.as_bytes());
            }
            None => h.update([0]),
        }
    }
    let full = h.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&full[..16]);
    out
}
