//! Performing a decision's writes, and the link to store afterwards.
//!
//! Lookups first, then creates, then one update per side with every changed field of the
//! decision merged (a single PATCH each). The base stored with the link, for the fields written:
//! - IT Glue: what it *reads back* — its PATCH answers with the record as written, in the same
//!   request, so that is IT Glue's normalised form of our write and nothing else (a base of what
//!   we sent would make the next event look like an edit, and on a one-way tenant revert it again);
//! - the PSA, on an update: what we sent (the engine's base). Autotask and the v2 platform answer
//!   a PATCH without the record, so the connector reads it back with a second request; a person's
//!   edit landing between the two would be read back as ours and never carried. With what we
//!   sent as the base, such an edit is a change the next event carries; a value the PSA only
//!   normalised costs one write of the normalised value to IT Glue, after which both agree;
//! - a record created on either side: what it reads back (its values are the vendor's to assign).
//!
//! Fields not written keep the engine's base, which deliberately lags for changes not carried yet
//! (a pending reference, an edit not yet pushable), so they are carried once possible.

use syncbridge_engine::merge::synced_fields;
use syncbridge_engine::{ActionKind, Changes, Decision, LinkUpdate};
use syncbridge_model::{Entity, Field, Link, Record, TenantSettings, Values};

use crate::side::{ApiError, SideApi};

/// What the writes produced.
#[derive(Debug, Default)]
pub(crate) struct Applied {
    pub psa_after: Option<Record>,
    pub itg_after: Option<Record>,
    /// Fields written on each side (`None`: the record was created, every field counts).
    pub psa_written: Option<Vec<Field>>,
    pub itg_written: Option<Vec<Field>>,
    pub writes: usize,
}

pub(crate) async fn apply<P: SideApi, I: SideApi>(
    decision: &Decision,
    entity: Entity,
    psa: &P,
    itg: &I,
    psa_read: Option<&Record>,
) -> Result<Applied, ApiError> {
    let mut out = Applied::default();
    let mut to_itg: Option<(String, Changes)> = None;
    let mut to_psa: Option<(String, Changes)> = None;
    for action in &decision.actions {
        match &action.kind {
            ActionKind::CreateLookup {
                lookup,
                name,
                manufacturer,
            } => {
                itg.create_lookup(*lookup, name, manufacturer.as_deref())
                    .await?;
                out.writes += 1;
            }
            ActionKind::CreateInItGlue { org_id, values } => {
                out.itg_after = Some(itg.create(entity, org_id.as_deref(), values).await?);
                out.writes += 1;
            }
            ActionKind::CreateInPsa { org_id, values } => {
                out.psa_after = Some(psa.create(entity, org_id.as_deref(), values).await?);
                out.writes += 1;
            }
            ActionKind::UpdateItGlue { itg_id, changes } => {
                let entry = to_itg.get_or_insert_with(|| (itg_id.clone(), Changes::new()));
                entry.1.extend(changes.clone());
            }
            ActionKind::UpdatePsa { psa_id, changes } => {
                let entry = to_psa.get_or_insert_with(|| (psa_id.clone(), Changes::new()));
                entry.1.extend(changes.clone());
            }
            _ => {}
        }
    }
    // The PSA first: nothing else between its re-read and its write.
    if let Some((id, changes)) = to_psa {
        out.psa_after = Some(match psa_read.filter(|r| r.id == id) {
            Some(read) => psa.update_unchanged(entity, read, &changes).await?,
            None => psa.update(entity, &id, &changes).await?,
        });
        out.psa_written = Some(changes.keys().copied().collect());
        out.writes += 1;
    }
    if let Some((id, changes)) = to_itg {
        out.itg_after = Some(itg.update(entity, &id, &changes).await?);
        out.itg_written = Some(changes.keys().copied().collect());
        out.writes += 1;
    }
    Ok(out)
}

/// The link to store after `applied`: ids of created records filled in, the base of the fields
/// written as the module documentation says, and each written side's version stamp as read back.
pub(crate) fn link_after(
    decision: &Decision,
    applied: &Applied,
    settings: &TenantSettings,
    entity: Entity,
) -> Option<Link> {
    let LinkUpdate::Store(link) = &decision.link else {
        return None;
    };
    let mut link = link.clone();
    let mapped: Vec<Field> = synced_fields(settings, entity).map(|s| s.field).collect();
    let read_back = |base: &mut Values, after: &Record, written: &Option<Vec<Field>>| {
        for f in written.as_deref().unwrap_or(&mapped) {
            base.set(*f, after.get(*f).map(str::to_owned));
        }
    };
    if let Some(r) = &applied.psa_after {
        link.psa_id.get_or_insert_with(|| r.id.clone());
        if let Some(base) = link.base.as_mut() {
            if applied.psa_written.is_none() {
                read_back(&mut base.psa, r, &None);
            }
            base.psa_updated_at = r.updated_at;
        }
    }
    if let Some(r) = &applied.itg_after {
        link.itg_id.get_or_insert_with(|| r.id.clone());
        if let Some(base) = link.base.as_mut() {
            read_back(&mut base.itg, r, &applied.itg_written);
            base.itg_updated_at = r.updated_at;
        }
    }
    Some(link)
}
