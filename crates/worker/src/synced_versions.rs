//! Changes a poll need not publish: the very version of a record that syncbridge last synced.
//!
//! After syncbridge writes a record, the vendor's change feed lists it as changed — our own write
//! (ConnectWise and Autotask suppress our writes' webhooks, but not their polls; IT Glue, Kaseya
//! BMS, Pulseway PSA and Tigerpaw are polled). Deciding it would read both records to find "no
//! change since the last sync": two vendor reads per write. The link's base holds, per side, the
//! version stamp and the synced fields as read back after our write (or as last decided on); a
//! listed record with that stamp and those synced values *is* that version, so the poll skips it.
//! A person's edit saved in the same second as our write has the same stamp, but it changes a
//! synced field — or nothing the sync carries — so it is never skipped when it matters.
//!
//! This relies on the listings carrying every synced field as a read of the record does, which
//! the full sync's drift check relies on too (an unchanged full sync publishes nothing: tested for
//! every PSA). A link that cannot be read means "publish": skipping is only ever an optimisation.

use syncbridge_bus::LinkStore;
use syncbridge_engine::merge::synced_fields;
use syncbridge_model::{Entity, LinkState, Record, Side, TenantId, TenantSettings};

/// The link store and the tenant's settings, to tell a listed record from the synced version.
#[derive(Debug, Clone)]
pub struct SyncedVersions {
    pub links: LinkStore,
    pub settings: TenantSettings,
}

impl SyncedVersions {
    /// Whether `record`, as `side` lists it, is the version the link's base holds for that side.
    pub async fn is_synced(
        &self,
        tenant: &TenantId,
        side: Side,
        entity: Entity,
        record: &Record,
    ) -> bool {
        let link = match side {
            Side::Psa => self.links.get(tenant, entity, &record.id).await,
            Side::ItGlue => self.links.get_by_itg(tenant, entity, &record.id).await,
        };
        let Ok(Some(link)) = link else {
            return false;
        };
        let link = link.value;
        let Some(base) = link
            .base
            .as_ref()
            .filter(|_| link.state == LinkState::Linked)
        else {
            return false;
        };
        let (values, stamp) = match side {
            Side::Psa => (&base.psa, base.psa_updated_at),
            Side::ItGlue => (&base.itg, base.itg_updated_at),
        };
        record.updated_at == stamp
            && synced_fields(&self.settings, entity)
                .all(|s| record.get(s.field) == values.get(s.field))
    }
}
