//! The people of the demo: edits on both sides of linked records, as a person would make them —
//! through each vendor's API with a person's own credentials (so syncbridge's self-suppression
//! and excluded-resource filters treat them as foreign), or through the simulator's UI path
//! where the vendor's API is read-only to integrations (Tigerpaw).
//!
//! Mixed in: same-field conflicts (IT Glue and the PSA change the same field of the same record
//! moments apart — the PSA must win on both sides), Network Glue (Active Directory) contacts
//! appearing in IT Glue (pushed to a two-way PSA and linked), and ConnectWise contacts deleted
//! (the IT Glue contact is kept, its link orphaned). A record involved in a conflict or a delete
//! is left alone afterwards, so its expected final state stays known.

use std::collections::HashSet;
use std::sync::Arc;

use syncbridge_bus::LinkStore;
use syncbridge_engine::Changes;
use syncbridge_model::{Entity, Field, LinkState, PsaKind, TenantId};
use syncbridge_sim::rng::SimRng;

use crate::world::DemoTenant;

/// A value the demo expects on both sides at the end (a conflict's PSA value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectation {
    pub tenant: String,
    pub entity: Entity,
    pub psa_id: String,
    pub itg_id: String,
    pub field: Field,
    pub value: String,
}

/// What the people did, per tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Edits {
    pub psa: u64,
    pub itglue: u64,
    pub conflicts: u64,
    pub network_glue: u64,
    pub deleted: u64,
    /// Edits a vendor refused (shown, never hidden).
    pub failed: u64,
}

impl Edits {
    pub fn add(&mut self, other: &Edits) {
        self.psa += other.psa;
        self.itglue += other.itglue;
        self.conflicts += other.conflicts;
        self.network_glue += other.network_glue;
        self.deleted += other.deleted;
        self.failed += other.failed;
    }

    pub fn total(&self) -> u64 {
        self.psa + self.itglue + self.network_glue + self.deleted
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    PsaOrg,
    PsaContact,
    ItGlueOrg,
    ItGlueContact,
    Conflict,
    NetworkGlue,
    DeleteContact,
}

/// How long a listing of linked ids is reused for picking.
const IDS_TTL: std::time::Duration = std::time::Duration::from_secs(2);

/// Chooses and makes edits.
pub struct Driver {
    links: LinkStore,
    /// Linked PSA ids per entity, and when they were listed.
    ids: std::collections::HashMap<Entity, (std::time::Instant, Vec<String>)>,
    rng: SimRng,
    counter: u64,
    /// (tenant, entity, psa id) no longer edited.
    frozen: HashSet<(String, Entity, String)>,
    pub expectations: Vec<Expectation>,
}

/// A linked pair picked for an edit.
struct Pair {
    psa_id: String,
    itg_id: String,
}

impl Driver {
    pub fn new(links: LinkStore, seed: u64) -> Driver {
        Driver {
            links,
            ids: std::collections::HashMap::new(),
            rng: SimRng::new(seed),
            counter: 0,
            frozen: HashSet::new(),
            expectations: Vec::new(),
        }
    }

    fn kind_for(&mut self, psa: PsaKind) -> Kind {
        if psa == PsaKind::Tigerpaw {
            // One-way: people edit IT Glue, and syncbridge restores the PSA's values.
            return *self.rng.pick(&[Kind::ItGlueOrg, Kind::ItGlueContact]);
        }
        let roll = self.rng.below(100);
        match roll {
            0..25 => Kind::PsaOrg,
            25..50 => Kind::PsaContact,
            50..65 => Kind::ItGlueOrg,
            65..80 => Kind::ItGlueContact,
            80..90 => Kind::Conflict,
            90..95 => Kind::NetworkGlue,
            _ if psa == PsaKind::ConnectWise => Kind::DeleteContact,
            _ => Kind::PsaContact,
        }
    }

    /// A random linked pair of `entity` that is not frozen.
    async fn pick(&mut self, tenant: &DemoTenant, entity: Entity) -> Option<Pair> {
        let id = TenantId::new(&tenant.id).ok()?;
        let fresh = self
            .ids
            .get(&entity)
            .is_some_and(|(at, ids)| at.elapsed() < IDS_TTL && !ids.is_empty());
        if !fresh {
            let listed = self.links.psa_ids(&id, entity).await.ok()?;
            self.ids.insert(entity, (std::time::Instant::now(), listed));
        }
        let ids = self.ids.get(&entity).map(|(_, ids)| ids.clone())?;
        if ids.is_empty() {
            return None;
        }
        for _ in 0..8 {
            let psa_id = self.rng.pick(&ids).clone();
            if self
                .frozen
                .contains(&(tenant.id.clone(), entity, psa_id.clone()))
            {
                continue;
            }
            let link = self.links.get(&id, entity, &psa_id).await.ok()??.value;
            if let (LinkState::Linked, Some(itg_id)) = (link.state, link.itg_id) {
                return Some(Pair { psa_id, itg_id });
            }
        }
        None
    }

    fn next_value(&mut self, field: Field) -> String {
        self.counter += 1;
        match field {
            Field::ShortName => format!("SB{}", self.counter),
            _ => format!("Engineer {}", self.counter),
        }
    }

    /// Makes one edit on `tenant`; returns false when there was nothing to edit yet.
    pub async fn step(&mut self, tenant: &Arc<DemoTenant>, edits: &mut Edits) -> bool {
        let kind = self.kind_for(tenant.kind);
        let (entity, field) = match kind {
            Kind::PsaOrg | Kind::ItGlueOrg | Kind::Conflict | Kind::NetworkGlue => {
                (Entity::Organization, Field::ShortName)
            }
            Kind::PsaContact | Kind::ItGlueContact | Kind::DeleteContact => {
                (Entity::Contact, Field::Title)
            }
        };
        let Some(pair) = self.pick(tenant, entity).await else {
            return false;
        };
        let value = self.next_value(field);
        let change = |v: &str| {
            let mut c = Changes::new();
            c.insert(field, Some(v.to_owned()));
            c
        };
        let ok = match kind {
            Kind::PsaOrg | Kind::PsaContact => {
                edits.psa += 1;
                self.edit_psa(tenant, entity, &pair.psa_id, &change(&value))
                    .await
            }
            Kind::ItGlueOrg | Kind::ItGlueContact => {
                edits.itglue += 1;
                tenant
                    .itglue_person
                    .update(entity, &pair.itg_id, &change(&value))
                    .await
                    .is_ok()
            }
            Kind::Conflict => {
                edits.conflicts += 1;
                edits.itglue += 1;
                edits.psa += 1;
                let theirs = format!("{value}-ITG");
                let itg_ok = tenant
                    .itglue_person
                    .update(entity, &pair.itg_id, &change(&theirs))
                    .await
                    .is_ok();
                let psa_ok = self
                    .edit_psa(tenant, entity, &pair.psa_id, &change(&value))
                    .await;
                self.freeze(tenant, entity, &pair.psa_id);
                if itg_ok && psa_ok {
                    self.expectations.push(Expectation {
                        tenant: tenant.id.clone(),
                        entity,
                        psa_id: pair.psa_id.clone(),
                        itg_id: pair.itg_id.clone(),
                        field,
                        value: value.clone(),
                    });
                }
                itg_ok && psa_ok
            }
            Kind::NetworkGlue => {
                edits.network_glue += 1;
                let n = self.counter;
                pair.itg_id.parse::<u64>().is_ok_and(|org| {
                    tenant
                        .add_network_glue_contact(
                            org,
                            "Ada",
                            &format!("Lovelace {n}"),
                            &format!("ada.lovelace{n}@example.com"),
                        )
                        .is_ok()
                })
            }
            Kind::DeleteContact => {
                edits.deleted += 1;
                self.freeze(tenant, entity, &pair.psa_id);
                tenant
                    .psa
                    .delete_as_person("contacts", &pair.psa_id)
                    .is_ok()
            }
        };
        if !ok {
            edits.failed += 1;
        }
        true
    }

    fn freeze(&mut self, tenant: &DemoTenant, entity: Entity, psa_id: &str) {
        self.frozen
            .insert((tenant.id.clone(), entity, psa_id.to_owned()));
    }

    async fn edit_psa(
        &self,
        tenant: &DemoTenant,
        entity: Entity,
        psa_id: &str,
        changes: &Changes,
    ) -> bool {
        match &tenant.psa_person {
            Some(client) => client.update(entity, psa_id, changes).await.is_ok(),
            None => false,
        }
    }
}
