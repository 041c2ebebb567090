//! Gathering an engine [`Input`]: the stored link, both records as they are now, the parent
//! organization's link, candidates for matching, reference links, IT Glue lookups and the
//! first-sync watermark. Reads only; every vendor read goes through [`SideApi`].

use syncbridge_bus::{KvError, Versioned};
use syncbridge_engine::matching::same_loose_key;
use syncbridge_engine::scope::psa_in_scope;
use syncbridge_engine::{Candidate, Input, Parent, Refs, Trigger};
use syncbridge_model::{
    Entity, Field, Link, LinkState, Side, TenantId, TenantSettings, UnixMillis,
};

use crate::side::{ApiError, SideApi};
use crate::store::Store;

/// Why gathering (or applying) stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Failure {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Kv(#[from] KvError),
}

/// Everything read for one decision.
pub(crate) struct Gathered {
    pub input: Input,
    /// The stored link with its KV revision, for compare-and-set.
    pub link: Option<Versioned<Link>>,
    /// PSA records the PSA record names (its location, its contact) that this tenant syncs but
    /// that are not linked yet: (entity, PSA id).
    pub unlinked_references: Vec<(Entity, String)>,
}

pub(crate) struct Reader<'a, P, I, S> {
    pub tenant: &'a TenantId,
    pub settings: &'a TenantSettings,
    pub psa: &'a P,
    pub itg: &'a I,
    pub store: &'a S,
}

impl<P: SideApi, I: SideApi, S: Store> Reader<'_, P, I, S> {
    /// The stored link of a record identified on `side`.
    pub async fn link_of(
        &self,
        entity: Entity,
        side: Side,
        id: &str,
    ) -> Result<Option<Versioned<Link>>, KvError> {
        match side {
            Side::Psa => self.store.link(self.tenant, entity, id).await,
            Side::ItGlue => self.store.link_by_itg(self.tenant, entity, id).await,
        }
    }

    pub async fn gather(
        &self,
        entity: Entity,
        side: Side,
        id: &str,
        trigger: Trigger,
        now: UnixMillis,
    ) -> Result<Gathered, Failure> {
        let link = self.link_of(entity, side, id).await?;
        let stored = link.as_ref().map(|l| &l.value);
        let psa_id = stored
            .and_then(|l| l.psa_id.clone())
            .or_else(|| (side == Side::Psa).then(|| id.to_owned()));
        let itg_id = stored
            .and_then(|l| l.itg_id.clone())
            .or_else(|| (side == Side::ItGlue).then(|| id.to_owned()));
        let mut input = Input::new(self.settings.clone(), entity, trigger);
        // Both sides at once: a vendor answers in 100–500 ms, and neither read needs the other.
        let psa = async {
            match &psa_id {
                Some(p) => self.psa.get(entity, p).await,
                None => Ok(None),
            }
        };
        let itg = async {
            match &itg_id {
                Some(i) => self.itg.get(entity, i).await,
                None => Ok(None),
            }
        };
        (input.psa, input.itg) = futures_util::future::try_join(psa, itg).await?;
        input.parent = self.parent(entity, side, &input).await?;
        let linked =
            stored.is_some_and(|l| matches!(l.state, LinkState::Linked | LinkState::Orphaned));
        if !linked {
            input.candidates = self.candidates(entity, side, &input).await?;
        }
        let (refs, unlinked_references) = self.refs(&input).await?;
        input.refs = refs;
        // Organizations and configurations name IT Glue lookups (types, statuses, …).
        if matches!(entity, Entity::Organization | Entity::Configuration) {
            input.lookups = self.itg.lookups().await?;
        }
        // The first event a tenant ever handles starts its first sync; the watermark never moves.
        input.first_sync_at = Some(
            self.store
                .record_first_sync_watermark(self.tenant, now)
                .await?,
        );
        input.link = stored.cloned();
        input.recent_creations_in_org = self.creation_burst(entity, &input).await?;
        Ok(Gathered {
            input,
            link,
            unlinked_references,
        })
    }

    /// For an unlinked IT Glue child that could be pushed: how many records of its kind its
    /// organization gained around the time it was created (an import shows as a burst).
    async fn creation_burst(&self, entity: Entity, input: &Input) -> Result<u32, Failure> {
        let Some(itg) = input.itg.as_ref().filter(|r| r.created_at > 0) else {
            return Ok(0);
        };
        let pushable = input.link.is_none() && input.psa.is_none() && self.settings.two_way;
        match (&itg.org_id, pushable && entity.has_parent_org()) {
            (Some(org), true) => Ok(self.itg.created_around(entity, org, itg.created_at).await?),
            _ => Ok(0),
        }
    }

    /// The parent organization's link, seen from the side the event came from.
    async fn parent(&self, entity: Entity, side: Side, input: &Input) -> Result<Parent, Failure> {
        if !entity.has_parent_org() {
            return Ok(Parent::NotApplicable);
        }
        let record = match side {
            Side::Psa => input.psa.as_ref().or(input.itg.as_ref()),
            Side::ItGlue => input.itg.as_ref().or(input.psa.as_ref()),
        };
        let from_psa = record.is_some_and(|r| input.psa.as_ref() == Some(r));
        let Some(org_id) = record.and_then(|r| r.org_id.as_deref()) else {
            return Ok(Parent::Unlinked);
        };
        let org_side = if from_psa { Side::Psa } else { Side::ItGlue };
        let parent = self.link_of(Entity::Organization, org_side, org_id).await?;
        Ok(match parent.map(|v| v.value) {
            Some(l) if l.state == LinkState::Orphaned => Parent::Orphaned,
            Some(Link {
                state: LinkState::Linked,
                psa_id: Some(psa_id),
                itg_id: Some(itg_id),
                ..
            }) => Parent::Linked { psa_id, itg_id },
            _ => Parent::Unlinked,
        })
    }

    /// Records of the other side that may match by key, each with what it is already linked to.
    async fn candidates(
        &self,
        entity: Entity,
        side: Side,
        input: &Input,
    ) -> Result<Vec<Candidate>, Failure> {
        let (probe, other) = match side {
            Side::Psa => (input.psa.as_ref(), Side::ItGlue),
            Side::ItGlue => (input.itg.as_ref(), Side::Psa),
        };
        let Some(probe) = probe else {
            return Ok(Vec::new());
        };
        // A PSA record out of scope is never matched (the gate comes first): no search for it.
        if side == Side::Psa && psa_in_scope(self.settings, entity, probe).is_err() {
            return Ok(Vec::new());
        }
        let org = match &input.parent {
            Parent::Linked { psa_id, itg_id } => Some(match other {
                Side::Psa => psa_id.as_str(),
                Side::ItGlue => itg_id.as_str(),
            }),
            _ if entity.has_parent_org() => return Ok(Vec::new()),
            _ => None,
        };
        let (mut found, pool) = match other {
            Side::Psa => (
                self.psa.candidates(entity, org, probe).await?,
                self.psa.near_miss_pool(entity).await?,
            ),
            Side::ItGlue => (
                self.itg.candidates(entity, org, probe).await?,
                self.itg.near_miss_pool(entity).await?,
            ),
        };
        for record in pool {
            let near = same_loose_key(entity, probe, &record);
            if near && !found.iter().any(|f| f.id == record.id) {
                found.push(record);
            }
        }
        let mut out = Vec::with_capacity(found.len());
        for record in found {
            let linked = self.link_of(entity, other, &record.id).await?;
            let linked_to = linked.and_then(|l| match other {
                Side::Psa => l.value.itg_id,
                Side::ItGlue => l.value.psa_id,
            });
            out.push(Candidate { record, linked_to });
        }
        Ok(out)
    }

    /// Links of the records the two records reference, and the company of a referenced PSA contact.
    async fn refs(&self, input: &Input) -> Result<(Refs, Vec<(Entity, String)>), Failure> {
        let mut refs = Refs::new();
        let mut unlinked = Vec::new();
        for field in [Field::Contact, Field::Location] {
            let Some(target) = field.references() else {
                continue;
            };
            if let Some(id) = input.psa.as_ref().and_then(|r| r.get(field)) {
                let linked = self.store.link(self.tenant, target, id).await?;
                match linked.and_then(|l| l.value.itg_id) {
                    Some(itg_id) => refs = refs.link(target, id, &itg_id),
                    None if self.settings.capabilities().syncs(target) => {
                        unlinked.push((target, id.to_owned()));
                    }
                    None => {}
                }
                if field == Field::Contact {
                    if let Some(org) = self.psa.company_of_contact(id).await? {
                        refs = refs.contact_in_company(id, &org);
                    }
                }
            }
            if let Some(id) = input.itg.as_ref().and_then(|r| r.get(field)) {
                if let Some(l) = self.store.link_by_itg(self.tenant, target, id).await? {
                    if let Some(psa_id) = &l.value.psa_id {
                        refs = refs.link(target, psa_id, id);
                    }
                }
            }
        }
        Ok((refs, unlinked))
    }
}
