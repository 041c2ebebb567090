//! Performing a decision's writes, and the link to store afterwards.
//!
//! Lookups first, then creates, then one update per side with every changed field of the
//! decision merged (a single PATCH each). The base stored with the link is what each written side
//! *reads back* after the write for the fields written — vendors trim and normalise, and a base of
//! what we sent would make the next event look like an edit. Fields not written keep the engine's
//! base, which deliberately lags for changes not carried yet (a pending reference, an edit not yet
//! pushable), so they are carried once possible.

use std::time::Duration;

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

/// How soon a decision whose PSA record changed under it is made again.
const CHANGED_UNDER_US_RETRY: Duration = Duration::from_secs(1);

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
    // The PSA first, right after its re-read: nothing else between the two requests.
    if let Some((id, changes)) = to_psa {
        psa_unchanged_since_read(entity, psa, psa_read, &id).await?;
        out.psa_after = Some(psa.update(entity, &id, &changes).await?);
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

/// A write to the PSA is the one write that can overwrite a person: no PSA offers a conditional
/// update, so a person's edit made after our read would be lost under our PATCH (and "the PSA
/// wins" would not hold). Before writing, the record is read again; if it changed since the
/// decision's read, the event is decided again on what is there now. This narrows the window to
/// the time between that read and the PATCH (the PATCH is the next request, before the IT Glue
/// write), at the price of one read per PSA update.
async fn psa_unchanged_since_read<P: SideApi>(
    entity: Entity,
    psa: &P,
    psa_read: Option<&Record>,
    psa_id: &str,
) -> Result<(), ApiError> {
    let Some(read) = psa_read.filter(|r| r.id == psa_id) else {
        return Ok(());
    };
    match psa.get(entity, &read.id).await? {
        Some(now) if now.values == read.values => Ok(()),
        _ => Err(ApiError::Transient {
            message: "the PSA record changed since it was read; deciding again".into(),
            retry_after: CHANGED_UNDER_US_RETRY,
        }),
    }
}

/// The link to store after `applied`: ids of created records filled in, and the base of every
/// written side replaced by what it read back.
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
            read_back(&mut base.psa, r, &applied.psa_written);
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
