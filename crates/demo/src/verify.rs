//! The end-of-run check: for every linked pair of a tenant, are both sides equal on every mapped
//! field? Reads both vendors through their APIs (as syncbridge's own users) and the links from
//! `sync_links` — nothing from the demo's own bookkeeping.

use std::collections::HashMap;

use syncbridge_bus::LinkStore;
use syncbridge_connectors::Vendor;
use syncbridge_model::{field_map, Entity, LinkState, TenantId};

use crate::world::DemoTenant;

/// Linked records that differ, and how many pairs were compared.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Comparison {
    pub compared: usize,
    pub orphaned: usize,
    /// `entity psa_id ⇄ itg_id: field "psa" vs "itg"` for each difference.
    pub differences: Vec<String>,
}

impl Comparison {
    pub fn equal(&self) -> bool {
        self.differences.is_empty()
    }
}

/// Compares every linked pair of `tenant`'s synced entities.
pub async fn compare(tenant: &DemoTenant, links: &LinkStore) -> anyhow::Result<Comparison> {
    let id = TenantId::new(&tenant.id)?;
    let mut out = Comparison::default();
    let caps = tenant.kind.capabilities();
    for entity in Entity::ALL.into_iter().filter(|e| caps.syncs(*e)) {
        // One listing per side (a few pages) rather than two reads per pair: the vendors' rate
        // limits apply to this check as to anything else.
        let by_id = |records: Vec<syncbridge_model::Record>| {
            records
                .into_iter()
                .map(|r| (r.id.clone(), r))
                .collect::<HashMap<_, _>>()
        };
        let psa_records = by_id(tenant.psa_reader.list_all(entity).await?);
        let itg_records = by_id(tenant.itglue_reader.list_all(entity).await?);
        for link in links.all(&id, entity).await? {
            let Some(psa_id) = link.psa_id.clone() else {
                continue;
            };
            if link.state == LinkState::Orphaned {
                out.orphaned += 1;
                continue;
            }
            let (LinkState::Linked, Some(itg_id)) = (&link.state, link.itg_id.as_deref()) else {
                continue;
            };
            let (Some(psa), Some(itg)) = (psa_records.get(&psa_id), itg_records.get(itg_id)) else {
                out.differences.push(format!(
                    "{entity} {psa_id} ⇄ {itg_id}: linked, but not found on both sides"
                ));
                continue;
            };
            out.compared += 1;
            // References (a contact's location, a configuration's contact) name ids that differ
            // per side by nature; their links are compared as records of their own.
            for spec in field_map(tenant.kind, entity)
                .iter()
                .filter(|s| s.field.references().is_none())
            {
                let (p, i) = (psa.get(spec.field), itg.get(spec.field));
                if p.unwrap_or("") != i.unwrap_or("") {
                    out.differences.push(format!(
                        "{entity} {psa_id} ⇄ {itg_id}: {} {:?} vs {:?}",
                        spec.field.as_str(),
                        p.unwrap_or(""),
                        i.unwrap_or("")
                    ));
                }
            }
        }
    }
    Ok(out)
}
