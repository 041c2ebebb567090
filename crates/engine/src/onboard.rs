//! Onboarding from the listings (DESIGN §2.4, ARCHITECTURE.md "Onboarding from the listings"):
//! which new PSA records a full sync can link from what it listed, without an event and without
//! reading either record again.
//!
//! A full sync lists both systems completely. A PSA record it plans as [`Why::New`] whose IT Glue
//! counterpart is in the listing — exactly one IT Glue record with the same exact key, in the
//! organization its own organization is linked to, linked to no other record — and whose synced
//! fields already agree needs nothing but its link. That link is [`decide`]'s own, on an
//! [`Input`] made from the listings exactly as the worker would gather it for the record's
//! reconcile event (the record, the candidates with the same key, the parent's link, the links of
//! the records it names); it is taken only when the decision is to link and nothing else: no
//! vendor write, no report, no hold. Anything else (no counterpart, a field to write, an
//! ambiguity, a reference not linked yet, shadow mode) stays an event, decided by a worker.
//!
//! Lookups play no part: they matter only to writes, which a link from the listings never makes.
//!
//! [`Why::New`]: crate::reconcile::Why::New

use std::collections::HashMap;

use sha2::{Digest as _, Sha256};

use syncbridge_model::{key_fields, Entity, Field, Link, LinkState, Record, TenantSettings};

use crate::action::{Action, ActionKind, LinkUpdate};
use crate::decide::decide;
use crate::input::{Candidate, Input, Parent, Refs, Trigger};

/// Where an IT Glue record is found by its exact key: the entity, and 128 bits of the SHA-256 of
/// its organization (IT Glue id; none for organizations) and the values of the entity's key fields
/// — 16 bytes per listed record instead of copies of its name and organization (a collision is
/// out of reach, and `decide` compares the candidates' keys itself).
type KeyOf = (Entity, [u8; 16]);

/// A record linked from the listings: the link to store and the decision's actions (for the audit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Linked {
    pub link: Link,
    pub actions: Vec<Action>,
}

/// The listings of one full sync, indexed for matching, and the links known so far (listed, or
/// made by this onboarding).
///
/// Fed as the full sync streams its listings, entity by entity, parents first: the entity's
/// stored links ([`Onboarding::known`]), its IT Glue records ([`Onboarding::itg`]), then each PSA
/// record as listed ([`Onboarding::psa_listed`], then [`Onboarding::link`] when it is planned as
/// new), and [`Onboarding::done`] once its links are stored. What it keeps across entities is
/// what later entities need: the linked pairs of the entities others point at (organizations,
/// locations, contacts) and each PSA contact's company. An IT Glue record a link already names is
/// kept only as "taken" (no record): it can only make a new record's match ambiguous, which an
/// event decides; so a tenant whose IT Glue is linked holds no IT Glue record here.
#[derive(Debug)]
pub struct Onboarding {
    settings: TenantSettings,
    itg_by_key: HashMap<KeyOf, Vec<Counterpart>>,
    /// PSA id → IT Glue id of the linked pairs, per entity.
    psa_to_itg: HashMap<(Entity, String), String>,
    /// IT Glue id → PSA id of every link naming an IT Glue record (any state), and of the IT Glue
    /// records this onboarding has given a PSA record.
    itg_to_psa: HashMap<(Entity, String), String>,
    /// PSA contact id → its PSA company id.
    contact_company: HashMap<String, String>,
}

/// An IT Glue record listed under a key.
#[derive(Debug)]
enum Counterpart {
    /// Named by no link when listed: a candidate, kept as its JSON until a new PSA record with its
    /// key asks for it — one allocation of a few hundred bytes, where the record's map of field
    /// strings takes three times that (onboarding holds one entity's IT Glue records this way).
    Free { id: String, json: Box<[u8]> },
    /// Named by a stored link when listed (its values are not kept).
    Taken,
}

impl Onboarding {
    pub fn new(settings: &TenantSettings) -> Self {
        Onboarding {
            settings: settings.clone(),
            itg_by_key: HashMap::new(),
            psa_to_itg: HashMap::new(),
            itg_to_psa: HashMap::new(),
            contact_company: HashMap::new(),
        }
    }

    /// Adds one entity's listings at once: the stored links, IT Glue's records and the PSA's
    /// records (the streaming calls, in their order).
    pub fn add<'r>(
        &mut self,
        entity: Entity,
        psa: &[Record],
        itg: impl IntoIterator<Item = &'r Record>,
        links: &[Link],
    ) {
        for link in links {
            self.known(link);
        }
        for record in itg {
            self.itg(entity, record.clone());
        }
        for record in psa {
            self.psa_listed(entity, record);
        }
    }

    /// An IT Glue record of `entity` as listed, after the entity's stored links are known.
    pub fn itg(&mut self, entity: Entity, record: Record) {
        let key = key_of(entity, record.org_id.as_deref(), &record);
        let counterpart = if self.itg_to_psa.contains_key(&(entity, record.id.clone())) {
            Counterpart::Taken
        } else {
            match serde_json::to_vec(&record) {
                Ok(json) => Counterpart::Free {
                    json: json.into_boxed_slice(),
                    id: record.id,
                },
                // Not expected (a record is strings and numbers); a counterpart that cannot be
                // kept leaves the records with its key to their events, as a taken one does.
                Err(_) => Counterpart::Taken,
            }
        };
        self.itg_by_key.entry(key).or_default().push(counterpart);
    }

    /// A PSA record of `entity` as listed (a contact's company is what a configuration naming it
    /// needs).
    pub fn psa_listed(&mut self, entity: Entity, record: &Record) {
        if entity == Entity::Contact {
            if let Some(org) = &record.org_id {
                self.contact_company.insert(record.id.clone(), org.clone());
            }
        }
    }

    /// `entity` is done (its links from the listings stored and made [`Onboarding::known`]):
    /// forgets its IT Glue records, and its linked pairs unless a later entity points at it.
    pub fn done(&mut self, entity: Entity) {
        self.itg_by_key.retain(|(e, _), _| *e != entity);
        self.itg_by_key.shrink_to_fit();
        self.itg_to_psa.retain(|(e, _), _| *e != entity);
        self.itg_to_psa.shrink_to_fit();
        if !pointed_at(entity) {
            self.psa_to_itg.retain(|(e, _), _| *e != entity);
            self.psa_to_itg.shrink_to_fit();
        }
    }

    /// Records a link stored since the listings were read (so the records under a linked
    /// organization, and the records naming a linked contact, can be linked too).
    pub fn known(&mut self, link: &Link) {
        let entity = link.entity;
        if let Some(itg_id) = &link.itg_id {
            let psa_id = link.psa_id.clone().unwrap_or_default();
            self.itg_to_psa.insert((entity, itg_id.clone()), psa_id);
        }
        if let (LinkState::Linked, Some(psa_id), Some(itg_id)) =
            (&link.state, &link.psa_id, &link.itg_id)
        {
            self.psa_to_itg
                .insert((entity, psa_id.clone()), itg_id.clone());
        }
    }

    /// The link for the unlinked PSA record `psa` if the listings settle it (see the module
    /// documentation), else `None`: the record's event decides it. The IT Glue record it names is
    /// taken at once, so no other PSA record of this onboarding is linked to it; call
    /// [`Onboarding::known`] once the link is stored.
    pub fn link(&mut self, entity: Entity, psa: &Record) -> Option<Linked> {
        let input = self.input(entity, psa)?;
        let decision = decide(&input);
        let only_links = decision.write
            && !decision.actions.is_empty()
            && decision
                .actions
                .iter()
                .all(|a| matches!(a.kind, ActionKind::Link { .. }));
        let LinkUpdate::Store(link) = decision.link else {
            return None;
        };
        if !only_links || link.state != LinkState::Linked {
            return None;
        }
        let itg_id = link.itg_id.clone()?;
        self.itg_to_psa.insert((entity, itg_id), psa.id.clone());
        Some(Linked {
            link,
            actions: decision.actions,
        })
    }

    /// The input the worker would gather for `psa`'s reconcile event, from the listings; `None`
    /// when the listings cannot give it (its organization or a record it names is not linked, or
    /// no IT Glue record has its key).
    fn input(&self, entity: Entity, psa: &Record) -> Option<Input> {
        let mut input = Input::new(self.settings.clone(), entity, Trigger::FullSync);
        let itg_org = if entity.has_parent_org() {
            let org = psa.org_id.as_deref()?;
            let itg_org = self.linked(Entity::Organization, org)?;
            input.parent = Parent::Linked {
                psa_id: org.to_owned(),
                itg_id: itg_org.to_owned(),
            };
            Some(itg_org.to_owned())
        } else {
            None
        };
        let found = self
            .itg_by_key
            .get(&key_of(entity, itg_org.as_deref(), psa))?;
        // A candidate a link named when listed: the worker decides (it reads it), not the listing.
        input.candidates = found
            .iter()
            .map(|counterpart| match counterpart {
                Counterpart::Free { id, json } => Some(Candidate {
                    record: serde_json::from_slice(json).ok()?,
                    linked_to: self.itg_to_psa.get(&(entity, id.clone())).cloned(),
                }),
                Counterpart::Taken => None,
            })
            .collect::<Option<Vec<_>>>()?;
        input.refs = self.refs(psa)?;
        input.psa = Some(psa.clone());
        Some(input)
    }

    /// The links of the records `psa` names (its contact, its location), as the worker gathers
    /// them; `None` when one that this tenant syncs is not linked yet (the worker syncs it first).
    fn refs(&self, psa: &Record) -> Option<Refs> {
        let mut refs = Refs::new();
        for field in [Field::Contact, Field::Location] {
            let (Some(target), Some(id)) = (field.references(), psa.get(field)) else {
                continue;
            };
            match self.linked(target, id) {
                Some(itg_id) => refs = refs.link(target, id, itg_id),
                None if self.settings.capabilities().syncs(target) => return None,
                None => {}
            }
            if field == Field::Contact {
                if let Some(company) = self.contact_company.get(id) {
                    refs = refs.contact_in_company(id, company);
                }
            }
        }
        Some(refs)
    }

    fn linked(&self, entity: Entity, psa_id: &str) -> Option<&str> {
        self.psa_to_itg
            .get(&(entity, psa_id.to_owned()))
            .map(String::as_str)
    }
}

/// Whether a later entity needs the linked pairs of `entity`: organizations are every child's
/// parent, and a record may name a contact or a location.
fn pointed_at(entity: Entity) -> bool {
    entity == Entity::Organization || Field::ALL.iter().any(|f| f.references() == Some(entity))
}

/// The key `record` is found under in organization `org` (ignored for organizations).
fn key_of(entity: Entity, org: Option<&str>, record: &Record) -> KeyOf {
    let mut h = Sha256::new();
    let org = org.filter(|_| entity.has_parent_org());
    // Length-prefixed, with absence distinct from any value: no two keys share a byte stream.
    for part in std::iter::once(org).chain(key_fields(entity).iter().map(|f| record.get(*f))) {
        match part {
            Some(v) => {
                h.update([1]);
                h.update((v.len() as u64).to_be_bytes());
                h.update(v.as_bytes());
            }
            None => h.update([0]),
        }
    }
    let mut out = [0u8; 16];
    out.copy_from_slice(&h.finalize()[..16]);
    (entity, out)
}
