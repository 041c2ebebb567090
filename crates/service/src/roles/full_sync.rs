//! The full sync (DESIGN §2.4): list both systems completely, plan what differs from what the last
//! sync left behind ([`syncbridge_engine::reconcile`]), and publish one reconcile event per planned
//! record. It never writes to a vendor: the workers decide each event as any other.
//!
//! - Every PSA record of the synced entities (in scope or not) is listed, and IT Glue's records of
//!   each entity that has links, before anything is published: a listing that fails publishes
//!   nothing, so a partial listing can never be swept.
//! - The sweep (links whose PSA record the listing lacks: deleted) is held back when it would
//!   orphan more than `polling.full_sync_max_orphan_share` of the tenant's links, unless forced:
//!   an empty listing from a broken API must not orphan everything.
//! - Dedup ids are `full:{run}:{entity}:{record id}`: a run restarted under the same name publishes
//!   nothing twice. A new run re-plans from the current state, so an unchanged tenant publishes
//!   nothing at all.
//!
//! [`schedule`] runs it every `polling.full_sync_interval` per tenant; several processes share one
//! schedule (the slot is claimed in `sync_state` by compare-and-set, so one of them runs it).

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use syncbridge_bus::{EventPublisher, KvError, LinkStore, PublishError, StateKey, StateStore};
use syncbridge_connectors::Vendor;
use syncbridge_connectors::{ItGlueClient, PsaClient};
use syncbridge_engine::reconcile::{plan, Listed, Plan, Why};
use syncbridge_model::{
    ChangeAction, ChangeEvent, Entity, EventSource, Link, Record, TenantId, UnixMillis,
};

use crate::config::TenantConfig;
use crate::roles::TenantRuntime;

/// Why a full sync stopped (everything published before it stays published).
#[derive(Debug, thiserror::Error)]
pub enum FullSyncError {
    #[error("listing {entity} from {system}: {source}")]
    Listing {
        entity: Entity,
        system: &'static str,
        #[source]
        source: syncbridge_connectors::Error,
    },
    #[error("reading the links: {0}")]
    Links(#[from] KvError),
    #[error("publishing to the event stream: {0}")]
    Publish(#[from] PublishError),
}

/// How a full sync runs.
#[derive(Debug, Clone)]
pub struct FullSyncOptions {
    /// Names the run (dedup ids).
    pub run: String,
    /// Plan and count only; publish nothing.
    pub dry_run: bool,
    /// Sweep even when it would orphan more than `max_orphan_share` of the links.
    pub force: bool,
    pub max_orphan_share: f64,
}

/// What a full sync planned and published.
#[derive(Debug, Clone, Default)]
pub struct FullSyncReport {
    /// Planned records per entity and reason, in plan order.
    pub planned: Vec<(Entity, Why, u64)>,
    /// Records listed per entity (PSA).
    pub listed: Vec<(Entity, u64)>,
    pub published: u64,
    /// Events an earlier attempt of the same run had already published.
    pub duplicates: u64,
    /// The sweep held back: (links it would orphan, links in all).
    pub sweep_held: Option<(usize, usize)>,
}

impl FullSyncReport {
    /// Records planned in all (published, or to publish on a dry run).
    pub fn total(&self) -> u64 {
        self.planned.iter().map(|(_, _, n)| n).sum()
    }

    /// A few lines for the CLI and the logs.
    pub fn describe(&self, dry_run: bool) -> String {
        let mut out = String::new();
        for (entity, n) in &self.listed {
            out.push_str(&format!("{entity}: {n} records listed\n"));
        }
        for (entity, why, n) in &self.planned {
            out.push_str(&format!("{entity}: {n} {}\n", why.as_str()));
        }
        if dry_run {
            out.push_str(&format!(
                "dry run: {} events would be published, nothing published\n",
                self.total()
            ));
        } else {
            out.push_str(&format!("{} events published\n", self.published));
            if self.duplicates > 0 {
                out.push_str(&format!(
                    "{} events were already published by an earlier attempt of this run\n",
                    self.duplicates
                ));
            }
        }
        if let Some((deleted, linked)) = self.sweep_held {
            out.push_str(&format!(
                "sweep held back: {deleted} of {linked} links would be orphaned as deleted in the \
                 PSA, more than polling.full_sync_max_orphan_share allows; if the PSA really \
                 deleted them, run again with --force\n"
            ));
        }
        out
    }
}

/// Lists, plans and (unless a dry run) publishes one full sync of `tenant`.
pub async fn full_sync(
    tenant: &TenantConfig,
    psa: &PsaClient,
    itg: &ItGlueClient,
    links: &LinkStore,
    publisher: &EventPublisher,
    options: &FullSyncOptions,
    now: UnixMillis,
) -> Result<FullSyncReport, FullSyncError> {
    let caps = tenant.sync.capabilities();
    let entities: Vec<Entity> = Entity::PARENTS_FIRST
        .into_iter()
        .filter(|e| caps.syncs(*e))
        .collect();
    let mut listings = Vec::new();
    for entity in entities {
        listings.push(list(&tenant.id, entity, psa, itg, links).await?);
    }
    let listed: Vec<Listed<'_>> = listings.iter().map(Listing::listed).collect();
    let mut planned = plan(&tenant.sync, &listed);
    let mut report = FullSyncReport {
        listed: listings
            .iter()
            .map(|l| (l.entity, l.psa.len() as u64))
            .collect(),
        ..FullSyncReport::default()
    };
    if planned.deleted() > 0 && planned.deleted_share() > options.max_orphan_share && !options.force
    {
        report.sweep_held = Some((planned.deleted(), planned.linked));
        planned = planned.without_sweep();
    }
    report.planned = counts(&planned);
    if options.dry_run {
        return Ok(report);
    }
    for recheck in &planned.rechecks {
        let event = ChangeEvent {
            tenant: tenant.id.clone(),
            source: EventSource::FullSync,
            entity: Some(recheck.entity),
            msg_id: Some(format!(
                "full:{}:{}:{}",
                options.run, recheck.entity, recheck.psa_id
            )),
            record_id: Some(recheck.psa_id.clone()),
            action: if recheck.why == Why::Deleted {
                ChangeAction::Delete
            } else {
                ChangeAction::Upsert
            },
            received_at: now,
        };
        if publisher.publish(&event, Bytes::new()).await?.duplicate {
            report.duplicates += 1;
        } else {
            report.published += 1;
        }
    }
    Ok(report)
}

/// One entity as listed: the PSA's records, the links, and IT Glue's records when there are links
/// to compare them with.
struct Listing {
    entity: Entity,
    psa: Vec<Record>,
    itg: Option<HashMap<String, Record>>,
    links: Vec<Link>,
}

impl Listing {
    fn listed(&self) -> Listed<'_> {
        Listed {
            entity: self.entity,
            psa: &self.psa,
            itg: self.itg.as_ref(),
            links: &self.links,
        }
    }
}

async fn list(
    tenant: &TenantId,
    entity: Entity,
    psa: &PsaClient,
    itg: &ItGlueClient,
    links: &LinkStore,
) -> Result<Listing, FullSyncError> {
    let psa_records = psa
        .list_all(entity)
        .await
        .map_err(|source| FullSyncError::Listing {
            entity,
            system: "the PSA",
            source,
        })?;
    let stored = links.all(tenant, entity).await?;
    let itg_records = if stored.is_empty() {
        None
    } else {
        let records = itg
            .list_all(entity)
            .await
            .map_err(|source| FullSyncError::Listing {
                entity,
                system: "IT Glue",
                source,
            })?;
        Some(records.into_iter().map(|r| (r.id.clone(), r)).collect())
    };
    Ok(Listing {
        entity,
        psa: psa_records,
        itg: itg_records,
        links: stored,
    })
}

fn counts(plan: &Plan) -> Vec<(Entity, Why, u64)> {
    let mut out: Vec<(Entity, Why, u64)> = Vec::new();
    for r in &plan.rechecks {
        match out
            .iter_mut()
            .find(|(e, w, _)| *e == r.entity && *w == r.why)
        {
            Some((_, _, n)) => *n += 1,
            None => out.push((r.entity, r.why, 1)),
        }
    }
    out
}

/// Runs the tenant's full sync every `interval`, on a schedule all processes share: slot `n`
/// starts at `n × interval` since the epoch, and the process that claims the slot in `sync_state`
/// (compare-and-set) runs it. A scheduled run never forces the sweep.
pub async fn schedule(rt: TenantRuntime, links: LinkStore, interval: Duration) {
    let TenantRuntime {
        conn,
        tenant,
        itg,
        psa,
        state,
        publish_timeout,
        stop,
    } = rt;
    let publisher = EventPublisher::new(conn, publish_timeout);
    let every = interval.as_millis().max(1) as i64;
    let key = match StateKey::checkpoint(&tenant.id, "full_sync_slot") {
        Ok(k) => k,
        Err(e) => {
            tracing::error!(tenant = %tenant.id, error = %e, "full sync schedule unusable");
            return;
        }
    };
    loop {
        let now = crate::runtime::clock::now_millis();
        let next_slot = now / every + 1;
        let wait = Duration::from_millis((next_slot * every - now).max(0) as u64);
        if crate::runtime::stop::sleep_or_stop(wait, &stop).await {
            return;
        }
        match claim(&state, &key, next_slot).await {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                tracing::warn!(tenant = %tenant.id, error = %e, "could not claim the scheduled full sync; skipped");
                continue;
            }
        }
        let options = FullSyncOptions {
            run: format!("scheduled-{next_slot}"),
            dry_run: false,
            force: false,
            max_orphan_share: tenant.polling.full_sync_max_orphan_share,
        };
        let now = crate::runtime::clock::now_millis();
        match full_sync(&tenant, &psa, &itg, &links, &publisher, &options, now).await {
            Ok(report) => {
                tracing::info!(tenant = %tenant.id, published = report.published, "scheduled full sync");
                if let Some((deleted, linked)) = report.sweep_held {
                    tracing::error!(tenant = %tenant.id, deleted, linked, "scheduled full sync held back its sweep: too many links would be orphaned; check the PSA, then run `syncbridge full-sync --force`");
                }
            }
            Err(e) => {
                tracing::warn!(tenant = %tenant.id, error = %e, "scheduled full sync failed; the next slot tries again")
            }
        }
    }
}

/// Claims schedule slot `slot`; false when another process already has it.
async fn claim(state: &StateStore, key: &StateKey, slot: i64) -> Result<bool, KvError> {
    let current = state.get::<i64>(key).await?;
    if current.as_ref().is_some_and(|c| c.value >= slot) {
        return Ok(false);
    }
    match state.set(key, &slot, current.map(|c| c.revision)).await {
        Ok(_) => Ok(true),
        Err(e) if e.is_conflict() => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use syncbridge_bus::testing::NatsServer;
    use syncbridge_bus::{connect, setup, ConnectConfig, SetupConfig};

    /// Each slot of the schedule is claimed once, however many processes ask at the same moment,
    /// and a slot that is over is never claimed late.
    #[tokio::test]
    async fn one_process_claims_each_slot() {
        let server = NatsServer::start().await.expect("nats-server");
        let conn = connect(&ConnectConfig::new(server.url())).await.unwrap();
        setup(&conn, &SetupConfig::default()).await.unwrap();
        let state = StateStore::open(&conn, Duration::from_secs(5))
            .await
            .unwrap();
        let key = StateKey::checkpoint(&TenantId::new("acme").unwrap(), "full_sync_slot").unwrap();
        let (a, b, c) = tokio::join!(
            claim(&state, &key, 7),
            claim(&state, &key, 7),
            claim(&state, &key, 7)
        );
        let won = [a.unwrap(), b.unwrap(), c.unwrap()];
        assert_eq!(won.iter().filter(|w| **w).count(), 1, "{won:?}");
        assert!(!claim(&state, &key, 7).await.unwrap(), "the slot is taken");
        assert!(
            !claim(&state, &key, 6).await.unwrap(),
            "an older slot is over"
        );
        assert!(
            claim(&state, &key, 8).await.unwrap(),
            "the next slot is free"
        );
    }
}
