//! Harness of the end-to-end tests (`rules/`, `operations/full_sync.rs`, …): the running product as a value
//! ([`Stack`]: a private nats-server, the IT Glue and PSA simulators of one tenant, the webhook
//! ingest with our webhooks registered at the vendor, the workers and the pollers), driven only
//! through the vendors (people's edits at the simulators) and read back through the vendors' APIs,
//! the simulators' write logs, the link store and the audit stream — never by calling the engine.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use syncbridge::roles::full_sync::{full_sync, FullSyncOptions, FullSyncReport, FullSyncStores};
use syncbridge_bus::{names, AuditLog, LinkStore};
use syncbridge_connectors::Vendor;
use syncbridge_demo::stack::{Stack, StackOptions};
use syncbridge_demo::world::{DemoTenant, Documented};
use syncbridge_engine::Changes;
use syncbridge_model::{
    Entity, Field, Link, LinkState, Mode, PsaKind, Record, TenantId, TenantSettings,
};
use syncbridge_sim::admin::AdminOps;
use syncbridge_sim::seed::{Dataset, GenOrg, SeedSpec};
use syncbridge_sim::writes::{WriteAction, WriteEntry, WriteQuery};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Longest wait for any condition (a bound for a broken run, not a speed expectation).
pub const DEADLINE: Duration = Duration::from_secs(90);
/// Nothing pending and no new audit record for this long: settled (longer than the slowest poll
/// interval of the polled tenants, 2 s).
const QUIET: Duration = Duration::from_secs(3);
const STORE_TIMEOUT: Duration = Duration::from_secs(5);
/// Organizations per tenant: the first third (2) documented in IT Glue, plus a near miss of the
/// third's name.
pub const ORGS: usize = 6;
/// Documented organizations (IT Glue ids 1..=DOCUMENTED = PSA ids); the near miss is IT Glue
/// organization `DOCUMENTED + 1`.
pub const DOCUMENTED: usize = ORGS / 3;
/// The user names the simulators log syncbridge's writes under (as `DemoTenant::sync_writes`).
pub const SYNC_USERS: [&str; 2] = ["syncbridge", "syncbridge@example.com"];

/// The data set a tenant started with `seed` holds (`world.rs` generates it the same way).
pub fn dataset(seed: u64) -> Dataset {
    Dataset::generate(SeedSpec {
        seed,
        organizations: ORGS,
        locations_per_org: 1,
        contacts_per_org: 2,
        configurations_per_org: 2,
    })
}

/// The first seed whose data set satisfies `pred` (deterministic: the scenario a test needs is
/// chosen, never hoped for).
pub fn seed_where(pred: impl Fn(&Dataset) -> bool) -> u64 {
    (1..10_000)
        .find(|s| pred(&dataset(*s)))
        .expect("a seed with the scenario")
}

/// In scope with the demo tenants' settings: the customer type and Active.
pub fn in_scope(org: &GenOrg) -> bool {
    org.kind == 0 && org.active
}

/// PSA id of the `index`-th generated organization (every simulator numbers them from 1).
pub fn psa_org_id(index: usize) -> String {
    (index + 1).to_string()
}

/// One field's change.
pub fn change(field: Field, value: &str) -> Changes {
    let mut c = Changes::new();
    c.insert(field, Some(value.to_owned()));
    c
}

/// Polls `probe` until it gives a value, or panics naming `what` after [`DEADLINE`].
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(Instant::now() < deadline, "not within {DEADLINE:?}: {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// One tenant of one PSA, running.
pub struct E2e {
    pub stack: Stack,
    pub tenant: Arc<DemoTenant>,
    pub id: TenantId,
    pub links: LinkStore,
    pub audit: AuditLog,
    pub ds: Dataset,
    /// The workers and pollers started by [`E2e::run_with`] (`None` with [`E2e::run`], whose
    /// service the stack owns).
    service: Option<Service>,
}

/// Workers, pollers and the dead-letter mover of the tenant, on their own stop signal (so a test
/// can restart them with other settings while NATS, the simulators and the ingest keep running).
struct Service {
    stop: watch::Sender<bool>,
    handles: Vec<JoinHandle<()>>,
}

impl E2e {
    /// Starts NATS, the simulators (seeded) and the ingest; workers and pollers start with
    /// [`E2e::run`] (so a test can prepare the vendors first, before the first-sync watermark).
    pub async fn start(kind: PsaKind, seed: u64) -> E2e {
        let stack = Stack::start(&StackOptions {
            tenants: vec![kind],
            nats_url: None,
            organizations: ORGS,
            seed,
            unlimited: false,
            concurrency: syncbridge::config::WorkerConfig::default().concurrency,
            documented: Documented::Third,
        })
        .await
        .expect("the stack starts");
        let tenant = stack.tenants[0].clone();
        let id = TenantId::new(&tenant.id).unwrap();
        let links = LinkStore::open(&stack.conn, STORE_TIMEOUT).await.unwrap();
        let audit = AuditLog::new(stack.conn.clone(), STORE_TIMEOUT);
        E2e {
            stack,
            tenant,
            id,
            links,
            audit,
            ds: dataset(seed),
            service: None,
        }
    }

    /// Starts the workers and pollers. The vendors' change feeds have second precision and the
    /// first poll starts at the first-sync watermark (set now): waiting past the second the
    /// simulators were seeded in keeps what the test prepared out of the first poll.
    pub async fn run(&mut self) {
        tokio::time::sleep(Duration::from_millis(1100)).await;
        self.stack.run_service();
    }

    /// Publishes the initial (full) sync.
    pub async fn full_sync(&self) {
        self.stack.full_sync("e2e").await.expect("full sync");
    }

    /// Publishes a full sync as run `run`. A full sync's events are deduplicated per run and
    /// record (`full:{run}:…`): a second full sync needs a run name of its own.
    pub async fn full_sync_run(&self, run: &str) {
        self.stack.full_sync(run).await.expect("full sync");
    }

    /// Runs a full sync as run `run` (its own run name: events are deduplicated per run), with the
    /// sweep forced or not, and returns what it planned and published.
    pub async fn full_sync_with(&self, run: &str, force: bool) -> FullSyncReport {
        self.try_full_sync(run, force).await.expect("full sync")
    }

    /// A full sync that may fail (a listing refused, say).
    pub async fn try_full_sync(
        &self,
        run: &str,
        force: bool,
    ) -> Result<FullSyncReport, syncbridge::roles::full_sync::FullSyncError> {
        let tenant = &self.stack.config.tenants[&self.id];
        let options = FullSyncOptions {
            run: run.to_owned(),
            dry_run: false,
            force,
            max_orphan_share: tenant.polling.full_sync_max_orphan_share,
        };
        full_sync(
            tenant,
            &syncbridge::vendors::clients::psa(tenant, None).unwrap(),
            &syncbridge::vendors::clients::itglue(tenant, None).unwrap(),
            &FullSyncStores::open(&self.stack.conn, STORE_TIMEOUT)
                .await
                .unwrap(),
            &options,
            syncbridge::runtime::clock::now_millis(),
        )
        .await
    }

    /// Started, running, fully synced and settled.
    pub async fn launch(kind: PsaKind, seed: u64) -> E2e {
        let mut e = E2e::start(kind, seed).await;
        e.run().await;
        e.full_sync().await;
        e.settle().await;
        e
    }

    async fn pending(&self) -> Option<u64> {
        let js = self.stack.conn.jetstream();
        let stream = js.get_stream(names::EVENTS_STREAM).await.ok()?;
        let mut consumer: syncbridge_bus::PullConsumer = stream
            .get_consumer(&names::worker_consumer(&self.id))
            .await
            .ok()?;
        let info = consumer.info().await.ok()?;
        Some(info.num_pending + info.num_ack_pending as u64)
    }

    async fn audited(&self) -> Option<u64> {
        let mut stream = self
            .stack
            .conn
            .jetstream()
            .get_stream(names::AUDIT_STREAM)
            .await
            .ok()?;
        Some(stream.info().await.ok()?.state.messages)
    }

    /// Waits until the worker has nothing pending and no decision was audited for [`QUIET`]
    /// (the pollers had their rounds, echoes of our writes included).
    pub async fn settle(&self) {
        let deadline = Instant::now() + DEADLINE;
        let mut last = (None, Instant::now());
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let audited = self.audited().await;
            let pending = self.pending().await;
            if audited != last.0 || pending != Some(0) {
                last = (audited, Instant::now());
            } else if last.1.elapsed() >= QUIET {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{}: not settled within {DEADLINE:?} (pending {pending:?})",
                self.tenant.id
            );
        }
    }

    pub async fn link(&self, entity: Entity, psa_id: &str) -> Option<Link> {
        self.links
            .get(&self.id, entity, psa_id)
            .await
            .unwrap()
            .map(|v| v.value)
    }

    pub async fn link_by_itg(&self, entity: Entity, itg_id: &str) -> Option<Link> {
        self.links
            .get_by_itg(&self.id, entity, itg_id)
            .await
            .unwrap()
            .map(|v| v.value)
    }

    /// The IT Glue id a PSA record is linked to (state Linked), if any.
    pub async fn linked_itg(&self, entity: Entity, psa_id: &str) -> Option<String> {
        self.link(entity, psa_id)
            .await
            .filter(|l| l.state == LinkState::Linked)
            .and_then(|l| l.itg_id)
    }

    /// Every (PSA id, IT Glue id) pair of `entity` in state Linked.
    pub async fn linked_pairs(&self, entity: Entity) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for psa_id in self.links.psa_ids(&self.id, entity).await.unwrap() {
            if let Some(itg) = self.linked_itg(entity, &psa_id).await {
                out.push((psa_id, itg));
            }
        }
        out
    }

    /// A linked pair of `entity` (the first by PSA id).
    pub async fn a_linked_pair(&self, entity: Entity) -> (String, String) {
        self.linked_pairs(entity)
            .await
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("{}: no linked {entity}", self.tenant.id))
    }

    pub async fn psa(&self, entity: Entity, id: &str) -> Option<Record> {
        self.tenant.psa_reader.get(entity, id).await.unwrap()
    }

    pub async fn itg(&self, entity: Entity, id: &str) -> Option<Record> {
        self.tenant.itglue_reader.get(entity, id).await.unwrap()
    }

    pub async fn psa_value(&self, entity: Entity, id: &str, field: Field) -> Option<String> {
        self.psa(entity, id)
            .await
            .and_then(|r| r.get(field).map(str::to_owned))
    }

    pub async fn itg_value(&self, entity: Entity, id: &str, field: Field) -> Option<String> {
        self.itg(entity, id)
            .await
            .and_then(|r| r.get(field).map(str::to_owned))
    }

    /// The records of an IT Glue `collection` as the simulator stores them (its admin state, not
    /// the API: no fault of the simulator touches this read).
    pub fn itg_state(&self, collection: &str) -> Vec<Value> {
        self.tenant.itglue.sim.state(collection).unwrap()
    }

    /// Every PSA record of `entity`, read through the PSA's API.
    pub async fn psa_all(&self, entity: Entity) -> Vec<Record> {
        self.tenant.psa_reader.list_all(entity).await.unwrap()
    }

    /// A person sets `field` of the PSA record `id` to `value` in the PSA (a PSA with a person's
    /// API access).
    pub async fn psa_edit(&self, entity: Entity, id: &str, field: Field, value: &str) {
        let person = self.tenant.psa_person.as_ref().expect("a PSA person");
        person
            .update(entity, id, &change(field, value))
            .await
            .unwrap();
    }

    /// A person sets `field` of the IT Glue record `id` to `value` in IT Glue.
    pub async fn itg_edit(&self, entity: Entity, id: &str, field: Field, value: &str) {
        self.tenant
            .itglue_person
            .update(entity, id, &change(field, value))
            .await
            .unwrap();
    }

    /// Waits until `field` of the IT Glue record `id` holds `value` (panics naming `what` after
    /// [`DEADLINE`]).
    pub async fn until_itg_value(
        &self,
        what: &str,
        entity: Entity,
        id: &str,
        field: Field,
        value: &str,
    ) {
        self.until_value(what, true, entity, id, field, value).await;
    }

    /// Waits until `field` of the PSA record `id` holds `value` (panics naming `what` after
    /// [`DEADLINE`]).
    pub async fn until_psa_value(
        &self,
        what: &str,
        entity: Entity,
        id: &str,
        field: Field,
        value: &str,
    ) {
        self.until_value(what, false, entity, id, field, value)
            .await;
    }

    async fn until_value(
        &self,
        what: &str,
        itglue: bool,
        entity: Entity,
        id: &str,
        field: Field,
        value: &str,
    ) {
        eventually(what, || async {
            let now = if itglue {
                self.itg_value(entity, id, field).await
            } else {
                self.psa_value(entity, id, field).await
            };
            (now.as_deref() == Some(value)).then_some(())
        })
        .await;
    }

    /// Every write the IT Glue simulator logged (people's and syncbridge's), oldest first.
    pub fn itg_writes(&self) -> Vec<WriteEntry> {
        self.tenant
            .itglue
            .sim
            .core()
            .writes
            .entries(&WriteQuery::default())
    }

    /// The audit records of `entity`, oldest first.
    pub async fn audits(&self, entity: Entity) -> Vec<Value> {
        self.audit
            .find(&self.id, entity, 100_000, |_| true)
            .await
            .unwrap()
    }

    /// Audit records of one record (the id on the side the event came from).
    pub async fn audits_of(&self, entity: Entity, side: &str, record_id: &str) -> Vec<Value> {
        self.audits(entity)
            .await
            .into_iter()
            .filter(|a| {
                a["side"].as_str() == Some(side) && a["record_id"].as_str() == Some(record_id)
            })
            .collect()
    }

    /// The tenant's dead letters (events that exhausted their deliveries or failed for good).
    pub async fn dead_letters(&self) -> Vec<syncbridge_bus::DeadLetter> {
        syncbridge_bus::DeadLetters::new(self.stack.conn.clone(), STORE_TIMEOUT)
            .list(&self.id, 1000)
            .await
            .unwrap_or_default()
    }

    /// Syncbridge's writes to IT Glue (`itglue = true`) or the PSA, in a vendor collection.
    pub fn sync_writes_in(&self, itglue: bool, collection: &str) -> Vec<WriteEntry> {
        let core = if itglue {
            self.tenant.itglue.sim.core().clone()
        } else {
            self.tenant.psa.core().clone()
        };
        SYNC_USERS
            .iter()
            .flat_map(|user| {
                core.writes.entries(&WriteQuery {
                    collection: Some(collection.to_owned()),
                    user: Some((*user).to_owned()),
                    ..WriteQuery::default()
                })
            })
            .collect()
    }

    /// No echo: every write syncbridge made on either side changed something.
    pub fn assert_no_echo(&self) {
        let (writes, no_op) = self.tenant.sync_writes();
        assert_eq!(
            no_op, 0,
            "{}: {no_op} of {writes} writes by syncbridge changed nothing",
            self.tenant.id
        );
    }

    /// As [`E2e::run`], with the tenant's sync settings changed by `settings` first (as if the
    /// user's TOML said so: the workers and pollers read the settings when they start).
    pub async fn run_with(&mut self, settings: impl FnOnce(&mut TenantSettings)) {
        tokio::time::sleep(Duration::from_millis(1100)).await;
        self.start_service(settings);
    }

    /// [`E2e::launch`] with changed settings ([`E2e::run_with`]).
    pub async fn launch_with(
        kind: PsaKind,
        seed: u64,
        settings: impl FnOnce(&mut TenantSettings),
    ) -> E2e {
        let mut e = E2e::start(kind, seed).await;
        e.run_with(settings).await;
        e.full_sync().await;
        e.settle().await;
        e
    }

    /// Stops the workers and pollers started by [`E2e::run_with`] (each finishes the event in
    /// hand), changes the settings, and starts them again: a redeploy with an edited TOML. The
    /// link store, the audit, the poll cursors and the first-sync watermark are kept.
    pub async fn restart_with(&mut self, settings: impl FnOnce(&mut TenantSettings)) {
        self.stop_service().await;
        self.start_service(settings);
    }

    /// The tenant's settings as the running service uses them.
    pub fn settings(&self) -> &TenantSettings {
        &self.stack.config.tenants[&self.id].sync
    }

    fn start_service(&mut self, settings: impl FnOnce(&mut TenantSettings)) {
        assert!(self.service.is_none(), "the service runs already");
        let tenant = self
            .stack
            .config
            .tenants
            .get_mut(&self.id)
            .expect("the tenant's configuration");
        settings(&mut tenant.sync);
        let (stop, stop_rx) = watch::channel(false);
        let handles = syncbridge::roles::workers::spawn_all(
            &self.stack.conn,
            [tenant.clone()],
            Duration::from_secs(5),
            syncbridge::roles::workers::Loops {
                worker: true,
                pollers: true,
            },
            &stop_rx,
        );
        self.service = Some(Service { stop, handles });
    }

    async fn stop_service(&mut self) {
        if let Some(service) = self.service.take() {
            let _ = service.stop.send(true);
            for handle in service.handles {
                let _ = tokio::time::timeout(Duration::from_secs(15), handle).await;
            }
        }
    }

    /// Sets the tenant's stored mode, as `syncbridge tenant pause|resume|shadow` does (the
    /// running worker re-reads it every few seconds).
    pub async fn set_mode(&self, mode: Mode) {
        let state = syncbridge_bus::StateStore::open(&self.stack.conn, STORE_TIMEOUT)
            .await
            .unwrap();
        let revision = state.mode(&self.id).await.unwrap().map(|v| v.revision);
        state.set_mode(&self.id, mode, revision).await.unwrap();
    }

    pub async fn stop(mut self) {
        self.stop_service().await;
        self.stack.stop().await;
    }
}

/// Whether an audit record holds an action of `rule` (and `kind`, when given).
pub fn has_action(audit: &Value, rule: &str, kind: Option<&str>) -> bool {
    audit["actions"].as_array().is_some_and(|actions| {
        actions.iter().any(|a| {
            a["rule"].as_str() == Some(rule) && kind.is_none_or(|k| a["kind"].as_str() == Some(k))
        })
    })
}

/// Whether any of `audits` holds an action of `rule` (and `kind`).
pub fn any_action(audits: &[Value], rule: &str, kind: Option<&str>) -> bool {
    audits.iter().any(|a| has_action(a, rule, kind))
}

/// Only writes that created records.
pub fn creates(entries: &[WriteEntry]) -> Vec<&WriteEntry> {
    entries
        .iter()
        .filter(|e| e.action == WriteAction::Create)
        .collect()
}

/// IT Glue organizations named exactly `name` (ids).
pub fn itg_orgs_named(e: &E2e, name: &str) -> Vec<String> {
    e.itg_state("organizations")
        .into_iter()
        .filter(|o| o["name"].as_str() == Some(name))
        .map(|o| o["id"].to_string())
        .collect()
}

/// PSA organizations named exactly `name` (ids).
pub async fn psa_orgs_named(e: &E2e, name: &str) -> Vec<String> {
    e.psa_all(Entity::Organization)
        .await
        .into_iter()
        .filter(|o| o.get(Field::Name) == Some(name))
        .map(|o| o.id)
        .collect()
}
