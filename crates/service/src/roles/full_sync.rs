//! The full sync (DESIGN §2.4): list both systems completely, plan what differs from what the last
//! sync left behind ([`syncbridge_engine::reconcile`]), and publish one reconcile event per planned
//! record. It never writes to a vendor: the workers decide each event as any other.
//!
//! - Every PSA record of the synced entities (in scope or not) is listed, and every IT Glue record
//!   of those entities. The listings are streamed, entity by entity, parents first (organizations,
//!   locations, contacts, configurations): per entity the stored links, IT Glue's pages, then the
//!   PSA's pages, each planned and dropped before the next is read. What is kept between pages and
//!   entities is what the plan and the later entities need (ids, link states, digests of the
//!   synced fields, the linked pairs, the planned events), so memory follows one entity's IT Glue
//!   records at most, not both systems' records of every entity (issue 12: onboarding 100,000
//!   configurations lists some 500,000 records).
//! - Nothing is published before every listing is complete, and the sweep runs only then: a
//!   listing that fails publishes nothing, so a partial listing can never be swept. What a run
//!   that fails part-way leaves behind is the links it stored from the listings of the entities
//!   (and pages) before the failure — each the decision a worker would store, audited as one; the
//!   next run finds them linked and unchanged.
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

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use syncbridge_bus::{
    AuditLog, Connection, EventPublisher, KvError, LinkStore, PublishError, StateKey, StateStore,
};
use syncbridge_connectors::{ItGlueClient, PsaClient};
use syncbridge_engine::onboard::{Linked, Onboarding};
use syncbridge_engine::reconcile::{Planner, Recheck, Why};
use syncbridge_engine::Action;
use syncbridge_model::{
    ChangeAction, ChangeEvent, Entity, EventSource, Link, Record, Side, TenantId, UnixMillis,
};
use syncbridge_worker::AuditEntry;

use crate::config::TenantConfig;
use crate::roles::TenantRuntime;

/// Why a full sync stopped. Nothing is published before every listing is complete; the links it
/// stored from the listings before it stopped stay stored, as do the events published before a
/// publish failed.
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

/// Stored links read at once (each a KV read).
const LINK_READS_IN_FLIGHT: usize = 16;

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
    let mut run = Run {
        tenant,
        psa,
        itg,
        stores,
        options,
        now,
        watermark_recorded: false,
        planner: Planner::new(&tenant.sync),
        onboarding: Onboarding::new(&tenant.sync),
        report: FullSyncReport::default(),
    };
    // Parents first: an organization linked here lets its records be linked too, and a child's
    // plan needs its organization's standing.
    let mut planned = Vec::new();
    for entity in Entity::PARENTS_FIRST.into_iter().filter(|e| caps.syncs(*e)) {
        planned.push(run.entity(entity).await?);
    }
    // Every listing is complete: only now may the sweep run, and only now is anything published.
    let deleted: usize = planned.iter().map(|p| p.deleted.len()).sum();
    let linked = run.planner.linked();
    let share = if linked == 0 {
        0.0
    } else {
        deleted as f64 / linked as f64
    };
    if deleted > 0 && share > options.max_orphan_share && !options.force {
        run.report.sweep_held = Some((deleted, linked));
        planned.iter_mut().for_each(|p| p.deleted.clear());
    }
    let events: Vec<Recheck> = planned
        .into_iter()
        .flat_map(|p| p.events.into_iter().chain(p.deleted))
        .collect();
    run.publish(&events).await?;
    run.report.planned = counts(&events);
    Ok(run.report)
}

/// One entity's planned events: the records to publish, and the sweep's (links whose PSA record
/// the complete listing lacked), published only once every entity's listing is complete.
struct EntityPlan {
    events: Vec<Recheck>,
    deleted: Vec<Recheck>,
}

/// One full sync: its clients and stores, the plan and the onboarding as they stream in, and the
/// report (records listed, linked from the listings and published are counted here, in
/// `Run::psa_page`, `Run::store` and `Run::publish`).
struct Run<'a> {
    tenant: &'a TenantConfig,
    psa: &'a PsaClient,
    itg: &'a ItGlueClient,
    stores: &'a FullSyncStores,
    options: &'a FullSyncOptions,
    now: UnixMillis,
    watermark_recorded: bool,
    planner: Planner,
    onboarding: Onboarding,
    report: FullSyncReport,
}

impl Run<'_> {
    /// Plans one entity from its listings, streamed: the stored links, IT Glue's records, then
    /// the PSA's page by page, each page planned, its links from the listings stored and its
    /// records dropped before the next is read. What is kept is what the plan and later entities
    /// need (ids, states, digests, the linked pairs): never both systems' records at once.
    async fn entity(&mut self, entity: Entity) -> Result<EntityPlan, FullSyncError> {
        self.planner.begin(entity, true);
        self.report.listed.push((entity, 0));
        self.read_links(entity).await?;
        let mut cursor = None;
        loop {
            let page = self
                .itg
                .list_page(entity, cursor.as_ref())
                .await
                .map_err(listing(entity, "IT Glue"))?;
            for record in page.records {
                if self.planner.itg(&record) {
                    self.onboarding.itg(entity, record);
                }
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        let mut events = Vec::new();
        let mut cursor = None;
        loop {
            let page = self
                .psa
                .list_page(entity, cursor.as_ref())
                .await
                .map_err(listing(entity, "the PSA"))?;
            self.psa_page(entity, &page.records, &mut events).await?;
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        let deleted = self.planner.end();
        self.onboarding.done(entity);
        Ok(EntityPlan { events, deleted })
    }

    /// Reads the entity's stored links a few at a time into the plan and the onboarding (one
    /// deleted since its id was listed is left out).
    async fn read_links(&mut self, entity: Entity) -> Result<(), FullSyncError> {
        let (tenant, links) = (&self.tenant.id, &self.stores.links);
        let ids = links.psa_ids(tenant, entity).await?;
        let mut reads = futures_util::stream::iter(ids)
            .map(|id| async move { links.get(tenant, entity, &id).await })
            .buffered(LINK_READS_IN_FLIGHT);
        while let Some(link) = reads.next().await {
            if let Some(link) = link? {
                self.planner.stored(&link.value);
                self.onboarding.known(&link.value);
            }
        }
        Ok(())
    }

    /// Plans one page of the PSA's listing: the new records the listings settle are linked now
    /// (so their children, later, can be too), the others added to `events`.
    async fn psa_page(
        &mut self,
        entity: Entity,
        records: &[Record],
        events: &mut Vec<Recheck>,
    ) -> Result<(), FullSyncError> {
        add_count(&mut self.report.listed, entity, records.len());
        let mut to_link = Vec::new();
        for record in records {
            self.onboarding.psa_listed(entity, record);
            let Some(why) = self.planner.psa(record) else {
                continue;
            };
            if why == Why::New {
                if let Some(linked) = self.onboarding.link(entity, record) {
                    to_link.push(linked);
                    continue;
                }
            }
            events.push(Recheck {
                entity,
                psa_id: record.id.clone(),
                why,
            });
        }
        self.store(entity, to_link, events).await?;
        self.progress("listed", total(&self.report.listed));
        self.progress("linked", total(&self.report.linked));
        Ok(())
    }

    /// How far this run has come, for `/metrics` of the process running it (the poller's
    /// scheduled runs; a command-line run has no `/metrics`).
    fn progress(&self, stage: &'static str, records: u64) {
        if !self.options.dry_run {
            crate::runtime::metrics::full_sync_progress(self.tenant.id.as_str(), stage, records);
        }
    }

    /// Stores `to_link` (a record a worker linked first becomes an event instead); on a dry run
    /// only counts.
    async fn store(
        &mut self,
        entity: Entity,
        to_link: Vec<Linked>,
        events: &mut Vec<Recheck>,
    ) -> Result<(), FullSyncError> {
        if self.options.dry_run {
            to_link.iter().for_each(|l| self.onboarding.known(&l.link));
            add_count(&mut self.report.linked, entity, to_link.len());
            return Ok(());
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
                self.onboarding.known(&link);
                add_count(&mut self.report.linked, entity, 1);
            } else if let Some(psa_id) = link.psa_id {
                // Linked by a worker meanwhile: its event decides it on what is stored now.
                events.push(Recheck {
                    entity,
                    psa_id,
                    why: Why::New,
                });
            }
        }
        Ok(())
    }

    /// Publishes the planned events in order; on a dry run publishes nothing.
    async fn publish(&mut self, events: &[Recheck]) -> Result<(), FullSyncError> {
        if self.options.dry_run {
            return Ok(());
        }
        for recheck in events {
            let event = reconcile_event(self.tenant, &self.options.run, recheck, self.now);
            let published = self.stores.publisher.publish(&event, Bytes::new()).await?;
            if published.duplicate {
                self.report.duplicates += 1;
            } else {
                self.report.published += 1;
                self.progress("published", self.report.published);
            }
        }
        Ok(())
    }
}

/// Adds `n` to `entity`'s count (an entity counted first with 0 is not listed).
fn total(counts: &[(Entity, u64)]) -> u64 {
    counts.iter().map(|(_, n)| n).sum()
}

fn add_count(counts: &mut Vec<(Entity, u64)>, entity: Entity, n: usize) {
    match counts.iter_mut().find(|(e, _)| *e == entity) {
        Some((_, count)) => *count += n as u64,
        None if n > 0 => counts.push((entity, n as u64)),
        None => {}
    }
}

fn listing(
    entity: Entity,
    system: &'static str,
) -> impl FnOnce(syncbridge_connectors::Error) -> FullSyncError {
    move |source| FullSyncError::Listing {
        entity,
        system,
        source,
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
