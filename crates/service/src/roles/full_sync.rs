//! The full sync (DESIGN §2.4): list both systems completely, plan what differs from what the last
//! sync left behind ([`syncbridge_engine::reconcile`]), and publish one reconcile event per planned
//! record. It never writes to a vendor: the workers decide each event as any other.
//!
//! - Every PSA record of the synced entities (in scope or not) is listed, and every IT Glue record
//!   of those entities, before anything is published: a listing that fails publishes nothing, so a
//!   partial listing can never be swept.
//! - Onboarding from the listings ([`syncbridge_engine::onboard`]): a new PSA record whose IT Glue
//!   counterpart the listing shows, with every synced field already equal, is linked here — the
//!   link stored by compare-and-set (create: a worker that linked it first wins), with its audit
//!   entry — instead of becoming an event that would read both records again. The rest are
//!   events. A change made between the listing and the link is a newer version than the base
//!   stored from the listing, so the next webhook or poll of it is decided against that base as
//!   any edit is (ARCHITECTURE.md, "Onboarding from the listings").
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
use futures_util::StreamExt;
use syncbridge_bus::{
    AuditLog, Connection, EventPublisher, KvError, LinkStore, PublishError, StateKey, StateStore,
};
use syncbridge_connectors::Vendor;
use syncbridge_connectors::{ItGlueClient, PsaClient};
use syncbridge_engine::onboard::{Linked, Onboarding};
use syncbridge_engine::reconcile::{plan, Listed, Plan, Recheck, Why};
use syncbridge_engine::Action;
use syncbridge_model::{
    ChangeAction, ChangeEvent, Entity, EventSource, Link, Record, Side, TenantId, UnixMillis,
};
use syncbridge_worker::AuditEntry;

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

/// What a full sync reads and writes on the bus: the links (read all, and created for the records
/// linked from the listings), their audit, the first-sync watermark and the event stream.
#[derive(Debug, Clone)]
pub struct FullSyncStores {
    pub links: LinkStore,
    pub audit: AuditLog,
    pub state: StateStore,
    pub publisher: EventPublisher,
}

impl FullSyncStores {
    /// Opens the stores on `conn`; each operation waits at most `timeout`.
    pub async fn open(conn: &Connection, timeout: Duration) -> Result<FullSyncStores, KvError> {
        Ok(FullSyncStores {
            links: LinkStore::open(conn, timeout).await?,
            audit: AuditLog::new(conn.clone(), timeout),
            state: StateStore::open(conn, timeout).await?,
            publisher: EventPublisher::new(conn.clone(), timeout),
        })
    }
}

/// Links stored from the listings at once (each is a few KV writes and an audit record).
const LINKS_IN_FLIGHT: usize = 32;

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
    /// Records planned as events per entity and reason, in plan order.
    pub planned: Vec<(Entity, Why, u64)>,
    /// New records linked from the listings (no event) per entity; on a dry run, those that would be.
    pub linked: Vec<(Entity, u64)>,
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
        for (entity, n) in &self.linked {
            let verb = if dry_run { "would be linked" } else { "linked" };
            out.push_str(&format!(
                "{entity}: {n} {verb} from the listings (same key, already equal: no event)\n"
            ));
        }
        for (entity, why, n) in &self.planned {
            out.push_str(&format!("{entity}: {n} {}\n", why.as_str()));
        }
        if dry_run {
            out.push_str(&format!(
                "dry run: {} events would be published, nothing published or linked\n",
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

/// Lists, plans and (unless a dry run) links what the listings settle and publishes the rest, for
/// one full sync of `tenant`.
pub async fn full_sync(
    tenant: &TenantConfig,
    psa: &PsaClient,
    itg: &ItGlueClient,
    stores: &FullSyncStores,
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
        listings.push(list(&tenant.id, entity, psa, itg, &stores.links).await?);
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
    let mut onboarding = Onboarding::new(&tenant.sync);
    for l in &listings {
        onboarding.add(l.entity, &l.psa, l.itg.values(), &l.links);
    }
    let mut run = Run {
        tenant,
        stores,
        options,
        now,
        watermark_recorded: false,
    };
    let mut events: Vec<Recheck> = Vec::new();
    // Entity by entity, parents first: an organization linked here lets its records be linked too.
    for listing in &listings {
        let (to_link, to_publish) = split_new(&mut onboarding, listing, &planned);
        let published = run
            .link_and_publish(
                &mut onboarding,
                listing.entity,
                to_link,
                to_publish,
                &mut report,
            )
            .await?;
        events.extend(published);
    }
    report.planned = counts(&events);
    Ok(report)
}

/// The planned records of one listing: the new ones the listings settle (to link) and the rest
/// (to publish).
fn split_new(
    onboarding: &mut Onboarding<'_>,
    listing: &Listing,
    planned: &Plan,
) -> (Vec<Linked>, Vec<Recheck>) {
    let by_id: HashMap<&str, &Record> = listing.psa.iter().map(|r| (r.id.as_str(), r)).collect();
    let mut to_link = Vec::new();
    let mut to_publish = Vec::new();
    for recheck in planned
        .rechecks
        .iter()
        .filter(|r| r.entity == listing.entity)
    {
        let record = by_id.get(recheck.psa_id.as_str()).copied();
        let linked = match (recheck.why, record) {
            (Why::New, Some(record)) => onboarding.link(listing.entity, record),
            _ => None,
        };
        match linked {
            Some(linked) => to_link.push(linked),
            None => to_publish.push(recheck.clone()),
        }
    }
    (to_link, to_publish)
}

/// One full sync's writes: links from the listings, then events.
struct Run<'a> {
    tenant: &'a TenantConfig,
    stores: &'a FullSyncStores,
    options: &'a FullSyncOptions,
    now: UnixMillis,
    watermark_recorded: bool,
}

impl Run<'_> {
    /// Stores `to_link` (a record a worker linked first is published instead), then publishes
    /// `to_publish`; on a dry run only counts. Returns the records published (or to publish).
    async fn link_and_publish(
        &mut self,
        onboarding: &mut Onboarding<'_>,
        entity: Entity,
        to_link: Vec<Linked>,
        mut to_publish: Vec<Recheck>,
        report: &mut FullSyncReport,
    ) -> Result<Vec<Recheck>, FullSyncError> {
        if self.options.dry_run {
            to_link.iter().for_each(|l| onboarding.known(&l.link));
            add_linked(report, entity, to_link.len());
            return Ok(to_publish);
        }
        if !to_link.is_empty() && !self.watermark_recorded {
            // As a worker's first event would: the tenant's first sync starts now.
            self.stores
                .state
                .record_first_sync_watermark(&self.tenant.id, self.now)
                .await?;
            self.watermark_recorded = true;
        }
        let stored = store_links(
            &self.tenant.id,
            self.stores,
            to_link,
            &self.options.run,
            self.now,
        )
        .await?;
        for (link, stored) in stored {
            if stored {
                onboarding.known(&link);
                add_linked(report, entity, 1);
            } else if let Some(psa_id) = link.psa_id {
                // Linked by a worker meanwhile: its event decides it on what is stored now.
                to_publish.push(Recheck {
                    entity,
                    psa_id,
                    why: Why::New,
                });
            }
        }
        for recheck in &to_publish {
            let event = reconcile_event(self.tenant, &self.options.run, recheck, self.now);
            let published = self.stores.publisher.publish(&event, Bytes::new()).await?;
            if published.duplicate {
                report.duplicates += 1;
            } else {
                report.published += 1;
            }
        }
        Ok(to_publish)
    }
}

fn add_linked(report: &mut FullSyncReport, entity: Entity, n: usize) {
    if n == 0 {
        return;
    }
    match report.linked.iter_mut().find(|(e, _)| *e == entity) {
        Some((_, count)) => *count += n as u64,
        None => report.linked.push((entity, n as u64)),
    }
}

/// The reconcile event of one planned record; its dedup id names the run, so a run restarted
/// under the same name publishes nothing twice.
fn reconcile_event(
    tenant: &TenantConfig,
    run: &str,
    recheck: &Recheck,
    now: UnixMillis,
) -> ChangeEvent {
    ChangeEvent {
        tenant: tenant.id.clone(),
        source: EventSource::FullSync,
        entity: Some(recheck.entity),
        msg_id: Some(format!("full:{run}:{}:{}", recheck.entity, recheck.psa_id)),
        record_id: Some(recheck.psa_id.clone()),
        action: if recheck.why == Why::Deleted {
            ChangeAction::Delete
        } else {
            ChangeAction::Upsert
        },
        received_at: now,
    }
}

/// Stores the links made from the listings, [`LINKS_IN_FLIGHT`] at once, each by create
/// (compare-and-set on "no link yet") followed by its audit entry, as a worker's decision would
/// be audited. Returns each link with whether it was stored (`false`: a worker linked the record
/// first). An audit that fails is logged: the link is stored and the next decision is audited.
async fn store_links(
    tenant: &TenantId,
    stores: &FullSyncStores,
    links: Vec<Linked>,
    run: &str,
    now: UnixMillis,
) -> Result<Vec<(Link, bool)>, KvError> {
    futures_util::stream::iter(links)
        .map(|Linked { mut link, actions }| async move {
            link.updated_at = now;
            match stores.links.create(tenant, &link).await {
                Ok(_) => {}
                Err(e) if e.is_conflict() => return Ok((link, false)),
                Err(e) => return Err(e),
            }
            audit_link(tenant, stores, &link, &actions, run, now).await;
            Ok((link, true))
        })
        .buffer_unordered(LINKS_IN_FLIGHT)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

/// The audit entry of a link made from the listings: the decision as the record's reconcile event
/// would have been decided, so `links explain` tells how the record came to be linked.
async fn audit_link(
    tenant: &TenantId,
    stores: &FullSyncStores,
    link: &Link,
    actions: &[Action],
    run: &str,
    now: UnixMillis,
) {
    let psa_id = link.psa_id.as_deref().unwrap_or_default();
    let event = ChangeEvent {
        tenant: tenant.clone(),
        source: EventSource::FullSync,
        entity: Some(link.entity),
        msg_id: Some(format!("full:{run}:{}:{psa_id}", link.entity)),
        record_id: Some(psa_id.to_owned()),
        action: ChangeAction::Upsert,
        received_at: now,
    };
    let entry = AuditEntry {
        at: now,
        event: &event,
        entity: link.entity,
        side: Side::Psa,
        record_id: psa_id,
        actions,
        written: true,
        link_before: None,
        link_after: Some(link),
    };
    if let Err(e) = stores.audit.record(tenant, link.entity, &entry).await {
        tracing::warn!(%tenant, entity = %link.entity, psa_id, error = %e, "a link made from the full sync's listings is stored but its audit entry is not");
    }
}

/// One entity as listed: the PSA's records, the links, and IT Glue's records.
struct Listing {
    entity: Entity,
    psa: Vec<Record>,
    itg: HashMap<String, Record>,
    links: Vec<Link>,
}

impl Listing {
    fn listed(&self) -> Listed<'_> {
        Listed {
            entity: self.entity,
            psa: &self.psa,
            itg: Some(&self.itg),
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
    let itg_records = itg
        .list_all(entity)
        .await
        .map_err(|source| FullSyncError::Listing {
            entity,
            system: "IT Glue",
            source,
        })?;
    Ok(Listing {
        entity,
        psa: psa_records,
        itg: itg_records.into_iter().map(|r| (r.id.clone(), r)).collect(),
        links: stored,
    })
}

fn counts(rechecks: &[Recheck]) -> Vec<(Entity, Why, u64)> {
    let mut out: Vec<(Entity, Why, u64)> = Vec::new();
    for r in rechecks {
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
pub async fn schedule(rt: TenantRuntime, stores: FullSyncStores, interval: Duration) {
    let TenantRuntime {
        tenant,
        itg,
        psa,
        state,
        stop,
        ..
    } = rt;
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
        crate::runtime::metrics::full_sync_started(tenant.id.as_str(), now);
        let outcome = full_sync(&tenant, &psa, &itg, &stores, &options, now).await;
        let counts = outcome
            .as_ref()
            .ok()
            .map(|r| (&r.listed[..], &r.linked[..], r.published));
        crate::runtime::metrics::full_sync_finished(tenant.id.as_str(), counts);
        match outcome {
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
