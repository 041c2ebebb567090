//! The worker and poller roles of `syncbridge serve`, per tenant (DESIGN §2.2–2.3):
//!
//! - the consume loop over `sync-worker-{tenant}` through [`syncbridge_worker::Worker`], with the
//!   tenant's connectors as its sides; the tenant's mode (`tenant pause|resume|shadow`) is re-read
//!   every few seconds — paused consumes nothing, shadow decides and audits without writing;
//! - the IT Glue poller on `updated_at` (IT Glue's only change feed for synced records), every
//!   `polling.itglue_interval`;
//! - the PSA poller on its modified-since queries every `polling.psa_interval`: the change feed of
//!   a PSA without webhooks, and the safety net of one with them;
//! - once per process, the mover that files events which exhausted their deliveries in the DLQ.
//!
//! Every loop survives a failed round (logged, retried next round) and stops on the shutdown signal.
//!
//! **Test hook** (DESIGN §6, "kill -9 of a worker at deterministic points"): when the environment
//! variable [`KILL_AT_ENV`] (`SYNCBRIDGE_TEST_KILL_AT`) is set to `after_vendor_write` or
//! `after_link_store`, the worker's stores are wrapped in the worker crate's [`KillAt`] hook and
//! the process aborts (`std::process::abort`: no ack, no nak, no lease release, no flush — what
//! `kill -9` leaves behind) at that [`KillPoint`]: just before or just after the first link an
//! event's decision stores. Only the end-to-end tests set it; unset (always, in production) the
//! worker runs on the NATS stores as they are, and any other value is ignored with a warning. See
//! [`test_hook`].

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use syncbridge_bus::{
    ensure_worker_consumer, AuditLog, Connection, DeadLetterMover, DeadLetters, EventPublisher,
    LeaseStore, LinkStore, StateStore, WorkerConsumerConfig,
};
use syncbridge_model::{Entity, EventSource, FeedKind, Mode};
use syncbridge_worker::poller::{ChangeFeed, Poller, SafetyNet};
use syncbridge_worker::store::hook::Hooked;
use syncbridge_worker::synced_versions::SyncedVersions;
use syncbridge_worker::{consume, KillAt, KillPoint, Store, Worker, WorkerStores};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::TenantConfig;
use crate::roles::TenantRuntime;
use crate::runtime::clock::now_millis;
use crate::runtime::metrics;
use crate::runtime::stop::{sleep_or_stop, stopped};
use crate::vendors::clients;
use crate::vendors::feeds::{ItGlueFeed, PsaFeed};
use crate::vendors::sides::{ItGlueSide, PsaSide};

const STORE_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a running worker re-reads the tenant's mode.
const MODE_CHECK: Duration = Duration::from_secs(5);
const ROUND_RETRY: Duration = Duration::from_secs(2);

/// Which loops a process runs for each tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loops {
    pub worker: bool,
    pub pollers: bool,
}

/// Runs `loops` for one tenant until `stop`.
pub async fn run_tenant(
    conn: Connection,
    tenant: TenantConfig,
    publish_timeout: Duration,
    loops: Loops,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let state = StateStore::open(&conn, STORE_TIMEOUT).await?;
    let rt = TenantRuntime {
        itg: Arc::new(clients::itglue(&tenant, Some(&state))?),
        psa: Arc::new(clients::psa(&tenant, Some(&state))?),
        conn,
        tenant,
        state,
        publish_timeout,
        stop,
    };
    let mut tasks = Vec::new();
    if loops.worker {
        tasks.push(start_worker(&rt).await?);
    }
    if loops.pollers {
        // Both polls skip the versions the workers last synced: our own writes, listed back.
        let synced = SyncedVersions {
            links: LinkStore::open(&rt.conn, STORE_TIMEOUT).await?,
            settings: rt.tenant.sync.clone(),
        };
        tasks.push(start_itglue_poller(&rt, synced.clone()).await);
        tasks.push(start_psa_poller(&rt, synced));
        if let Some(interval) = rt.tenant.polling.full_sync_interval {
            let stores =
                crate::roles::full_sync::FullSyncStores::open(&rt.conn, STORE_TIMEOUT).await?;
            tasks.push(tokio::spawn(crate::roles::full_sync::schedule(
                rt.clone(),
                stores,
                interval,
            )));
        }
    }
    for task in tasks {
        let _ = task.await;
    }
    Ok(())
}

/// The tenant's consume loop.
async fn start_worker(rt: &TenantRuntime) -> anyhow::Result<JoinHandle<()>> {
    let conn = &rt.conn;
    let stores = WorkerStores {
        links: LinkStore::open(conn, STORE_TIMEOUT).await?,
        leases: LeaseStore::open(conn, STORE_TIMEOUT).await?,
        state: rt.state.clone(),
        audit: AuditLog::new(conn.clone(), STORE_TIMEOUT),
        events: EventPublisher::new(conn.clone(), STORE_TIMEOUT),
    };
    let (concurrency, stop) = (rt.tenant.worker.concurrency, rt.stop.clone());
    // Test hook: unset unless SYNCBRIDGE_TEST_KILL_AT is (module documentation).
    Ok(match test_hook::kill_at() {
        None => {
            let worker = worker(rt, stores);
            tokio::spawn(consume_loop(conn.clone(), worker, concurrency, stop))
        }
        Some(point) => {
            let hook = KillAt::new(point, |point| test_hook::die(point));
            let worker = worker(rt, Hooked::new(stores, hook));
            tokio::spawn(consume_loop(conn.clone(), worker, concurrency, stop))
        }
    })
}

/// The tenant's worker on `stores`, with its connectors as its sides.
fn worker<S: Store>(rt: &TenantRuntime, stores: S) -> Worker<PsaSide, ItGlueSide, S> {
    Worker {
        tenant: rt.tenant.id.clone(),
        settings: rt.tenant.sync.clone(),
        psa: PsaSide::new(rt.psa.clone()),
        itg: ItGlueSide::new(rt.itg.clone()),
        stores,
        holder: format!("{}-{}", rt.tenant.id, std::process::id()),
        lease_wait: Duration::from_secs(10),
    }
}

/// The IT Glue poller on `updated_at`, woken early by IT Glue workflow hints.
async fn start_itglue_poller(rt: &TenantRuntime, synced: SyncedVersions) -> JoinHandle<()> {
    let tenant = &rt.tenant;
    let poller = Poller {
        tenant: tenant.id.clone(),
        source: EventSource::ItGlue,
        feed: ItGlueFeed(rt.itg.clone()),
        entities: Entity::ALL.to_vec(),
        publisher: EventPublisher::new(rt.conn.clone(), rt.publish_timeout),
        state: rt.state.clone(),
        safety_net: None,
        synced: Some(synced),
    };
    // An IT Glue workflow webhook is a hint: poll IT Glue at once rather than at the next round.
    let hints = match rt
        .conn
        .client()
        .subscribe(format!("sync.events.{}.itglue.hint", tenant.id))
        .await
    {
        Ok(sub) => Some(sub),
        Err(e) => {
            tracing::warn!(tenant = %tenant.id, error = %e, "IT Glue hints unavailable; polling on schedule");
            None
        }
    };
    tokio::spawn(poll_loop(
        poller,
        tenant.polling.itglue_interval,
        hints,
        rt.stop.clone(),
    ))
}

/// The PSA poller: the change feed of a polled PSA, the safety net of a webhook-fed one.
fn start_psa_poller(rt: &TenantRuntime, synced: SyncedVersions) -> JoinHandle<()> {
    let tenant = &rt.tenant;
    let caps = tenant.sync.capabilities();
    let entities: Vec<Entity> = Entity::ALL.into_iter().filter(|e| caps.syncs(*e)).collect();
    // Webhook-fed entities (not polled locations): this poll is their safety net.
    let webhook_fed: Vec<Entity> = entities
        .iter()
        .copied()
        .filter(|_| caps.change_feed == FeedKind::Webhooks)
        .filter(|e| !(*e == Entity::Location && caps.locations_polled))
        .collect();
    let poller = Poller {
        tenant: tenant.id.clone(),
        source: EventSource::Psa(tenant.sync.psa),
        feed: PsaFeed(rt.psa.clone()),
        entities,
        publisher: EventPublisher::new(rt.conn.clone(), rt.publish_timeout),
        state: rt.state.clone(),
        safety_net: (!webhook_fed.is_empty()).then(|| SafetyNet::new(rt.conn.clone(), webhook_fed)),
        synced: Some(synced),
    };
    tokio::spawn(poll_loop(
        poller,
        tenant.polling.psa_interval,
        None,
        rt.stop.clone(),
    ))
}

/// Consumes the tenant's events until `stop`, following the tenant's stored mode.
async fn consume_loop<S: Store>(
    conn: Connection,
    mut worker: Worker<PsaSide, ItGlueSide, S>,
    concurrency: usize,
    stop: watch::Receiver<bool>,
) {
    let tenant = worker.tenant.clone();
    let dead_letters = DeadLetters::new(conn.clone(), STORE_TIMEOUT);
    let configured_mode = worker.settings.mode;
    loop {
        if *stop.borrow() {
            return;
        }
        let mode = match worker.stores.mode(&tenant).await {
            Ok(stored) => stored.unwrap_or(configured_mode),
            Err(e) => {
                tracing::warn!(%tenant, error = %e, "reading the tenant mode failed; retrying");
                if sleep_or_stop(ROUND_RETRY, &stop).await {
                    return;
                }
                continue;
            }
        };
        if mode == Mode::Paused {
            if sleep_or_stop(MODE_CHECK, &stop).await {
                return;
            }
            continue;
        }
        worker.settings.mode = mode;
        let consumer =
            match ensure_worker_consumer(&conn, &tenant, &WorkerConsumerConfig::default()).await {
                Ok((c, _)) => c,
                Err(e) => {
                    tracing::warn!(%tenant, error = %e, "worker consumer unavailable; retrying");
                    if sleep_or_stop(ROUND_RETRY, &stop).await {
                        return;
                    }
                    continue;
                }
            };
        // A session ends at the next mode check, so a pause or shadow takes effect within seconds.
        let session_end = {
            let stop = stop.clone();
            async move {
                let _ = sleep_or_stop(MODE_CHECK, &stop).await;
            }
        };
        let consumed = consume::run(
            &worker,
            &consumer,
            &dead_letters,
            concurrency,
            now_millis,
            session_end,
        )
        .await;
        if let Err(e) = consumed {
            tracing::warn!(%tenant, error = %e, "consuming stopped; resuming");
            if sleep_or_stop(ROUND_RETRY, &stop).await {
                return;
            }
        }
    }
}

/// Polls every `interval` until `stop`. The first poll of a source starts at the tenant's
/// first-sync watermark (what came before is the full sync's).
/// A message on `wake` (an IT Glue workflow hint) starts the next round at once.
async fn poll_loop<F: ChangeFeed>(
    poller: Poller<F>,
    interval: Duration,
    mut wake: Option<async_nats::Subscriber>,
    stop: watch::Receiver<bool>,
) {
    metrics::poll_interval(poller.tenant.as_str(), poller.source.as_str(), interval);
    loop {
        let now = now_millis();
        let start = match poller
            .state
            .record_first_sync_watermark(&poller.tenant, now)
            .await
        {
            Ok(watermark) => watermark,
            Err(e) => {
                tracing::warn!(tenant = %poller.tenant, error = %e, "watermark unavailable");
                now
            }
        };
        match poller.poll_once(start, now).await {
            Ok(report) => {
                if report.published > 0 {
                    tracing::debug!(
                        tenant = %poller.tenant,
                        source = %poller.source,
                        published = report.published,
                        deleted = report.deleted,
                        "poll"
                    );
                }
                safety_net_alarm(&poller, &report);
                poll_metrics(&poller, &report, now);
            }
            Err(e) => {
                metrics::poll_failed(poller.tenant.as_str(), poller.source.as_str());
                tracing::warn!(
                    tenant = %poller.tenant,
                    source = %poller.source,
                    error = %e,
                    "poll failed; next round"
                )
            }
        }
        let woken = async {
            match wake.as_mut() {
                Some(sub) => {
                    if sub.next().await.is_none() {
                        std::future::pending::<()>().await;
                    }
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = woken => tracing::debug!(tenant = %poller.tenant, "IT Glue hint: polling now"),
            _ = stopped(stop.clone()) => return,
        }
    }
}

/// A successful round: when it ended, and how far behind its start each entity's cursor is.
fn poll_metrics<F>(
    poller: &Poller<F>,
    report: &syncbridge_worker::poller::PollReport,
    started: i64,
) {
    let (tenant, source) = (poller.tenant.as_str(), poller.source.as_str());
    metrics::poll_succeeded(tenant, source, now_millis());
    for (entity, cursor) in &report.cursors {
        metrics::poll_cursor(tenant, source, entity.as_str(), started - cursor);
    }
}

/// Safety net: changes no webhook announced become a metric and a warning.
fn safety_net_alarm<F>(poller: &Poller<F>, report: &syncbridge_worker::poller::PollReport) {
    for (entity, &count) in &report.unannounced {
        metrics::safety_net_unannounced(poller.tenant.as_str(), entity.as_str(), count);
        tracing::warn!(
            tenant = %poller.tenant,
            source = %poller.source,
            %entity,
            count,
            "safety-net poll found changes no webhook announced: a webhook may be disabled"
        );
    }
}

/// Moves events that exhausted their deliveries to the DLQ until `stop` (one per process).
pub async fn dead_letter_mover(conn: Connection, stop: watch::Receiver<bool>) {
    let mover = loop {
        match DeadLetterMover::open(&conn, STORE_TIMEOUT).await {
            Ok(m) => break m,
            Err(e) => {
                tracing::warn!(error = %e, "dead-letter mover unavailable; retrying");
                if sleep_or_stop(ROUND_RETRY, &stop).await {
                    return;
                }
            }
        }
    };
    loop {
        if *stop.borrow() {
            return;
        }
        if let Err(e) = mover
            .run_once(100, Duration::from_secs(5), now_millis())
            .await
        {
            tracing::warn!(error = %e, "moving exhausted events failed; retrying");
            if sleep_or_stop(ROUND_RETRY, &stop).await {
                return;
            }
        }
    }
}

/// Runs `fut` for every tenant and the mover, until `stop`.
pub fn spawn_all(
    conn: &Connection,
    tenants: impl IntoIterator<Item = TenantConfig>,
    publish_timeout: Duration,
    loops: Loops,
    stop: &watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut handles = Vec::new();
    let mut tenant_ids = Vec::new();
    for tenant in tenants {
        let id = tenant.id.clone();
        tenant_ids.push(id.clone());
        let fut = run_tenant(conn.clone(), tenant, publish_timeout, loops, stop.clone());
        handles.push(tokio::spawn(log_failure(id.to_string(), fut)));
    }
    if loops.worker {
        handles.push(tokio::spawn(dead_letter_mover(conn.clone(), stop.clone())));
        handles.push(tokio::spawn(crate::roles::bus_gauges::run(
            conn.clone(),
            tenant_ids,
            stop.clone(),
        )));
    }
    handles
}

async fn log_failure(tenant: String, fut: impl Future<Output = anyhow::Result<()>>) {
    if let Err(e) = fut.await {
        tracing::error!(%tenant, error = %format!("{e:#}"), "tenant could not start");
    }
}

/// The environment variable of the kill test hook (module documentation).
pub const KILL_AT_ENV: &str = "SYNCBRIDGE_TEST_KILL_AT";

/// Test hook only: makes a worker process die at a deterministic point, as `kill -9` would.
pub mod test_hook {
    use super::{KillPoint, KILL_AT_ENV};

    /// The kill point [`KILL_AT_ENV`] asks for; `None` when it is unset (production).
    pub fn kill_at() -> Option<KillPoint> {
        let value = std::env::var(KILL_AT_ENV).ok()?;
        let point = match value.as_str() {
            "after_vendor_write" => KillPoint::AfterVendorWrite,
            "after_link_store" => KillPoint::AfterLinkStore,
            other => {
                tracing::warn!(
                    value = other,
                    "{KILL_AT_ENV} is not after_vendor_write or after_link_store: ignored"
                );
                return None;
            }
        };
        tracing::warn!(
            ?point,
            "TEST HOOK {KILL_AT_ENV} is set: this process aborts at that point of its first event"
        );
        Some(point)
    }

    /// Aborts the process where the kill point fired: nothing after it runs (no ack, no nak, no
    /// lease release, no flush of the NATS client).
    pub fn die(point: KillPoint) -> ! {
        eprintln!("{KILL_AT_ENV}: aborting at {point:?}");
        std::process::abort()
    }
}
