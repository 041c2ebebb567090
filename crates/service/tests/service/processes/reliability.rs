//! Reliability and concurrency with real processes (DESIGN §6): `syncbridge serve` run as a user
//! runs it, against a private nats-server and the simulators of one ConnectWise tenant.
//!
//! - A worker process killed at a deterministic point (the `SYNCBRIDGE_TEST_KILL_AT` test hook of
//!   `workers.rs`: `abort()` after the vendor create and before the link store, or after the
//!   store and before the ack), then started again without the hook: every record in scope exists
//!   once in IT Glue, linked, and the write logs show no second create.
//! - Two worker processes on the same records, with "Acme" created on both sides at the same
//!   moment: one record per side, one link, and the same pair as a run with one worker.
//! - The nats-server killed and restarted (same port, same store) while the processes run and
//!   people edit both sides: the processes recover by themselves and no edit is lost.
//!
//! Every wait polls against a deadline; nothing asserts on speed. Child processes are killed on
//! drop; the tests run one at a time (each starts several processes on a shared machine).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::kv::Operation;
use bytes::Bytes;
use futures_util::StreamExt;
use syncbridge::config::Config;
use syncbridge::roles::full_sync::{full_sync, FullSyncOptions, FullSyncStores};
use syncbridge::roles::workers::KILL_AT_ENV;
use syncbridge::runtime::clock::now_millis;
use syncbridge_bus::testing::NatsServer;
use syncbridge_bus::{
    connect, names, setup, ConnectConfig, Connection, EventPublisher, LeaseKey, LinkStore,
    PullConsumer, StateStore,
};
use syncbridge_connectors::Vendor;
use syncbridge_demo::verify;
use syncbridge_demo::world::{DemoTenant, Documented};
use syncbridge_engine::scope::psa_in_scope;
use syncbridge_engine::{Changes, LookupKind};
use syncbridge_model::{
    field_map, ChangeAction, ChangeEvent, Entity, EventSource, Field, LinkState, PsaKind, Record,
    Side, TenantId, Values,
};
use syncbridge_sim::writes::{WriteAction, WriteQuery};
use syncbridge_sim::{Fault, FaultPlan, FaultRule, SimClock};

/// Bound of every wait (lease expiry of a killed holder and redelivery backoff included); not a
/// speed expectation.
const PATIENCE: Duration = Duration::from_secs(180);
const TIMEOUT: Duration = Duration::from_secs(5);
/// The user the IT Glue simulator logs syncbridge's writes under (its API key's name).
const SYNC_USER: &str = "syncbridge";

/// One test at a time: each runs a nats-server, two simulators and up to four processes.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

/// A scratch directory (configuration file, process logs), removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "syncbridge-processes-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).expect("scratch directory");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One `syncbridge serve` process, killed on drop.
struct Proc {
    name: String,
    child: tokio::process::Child,
    log: PathBuf,
}

impl Proc {
    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    async fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        tokio::time::timeout(within, self.child.wait())
            .await
            .ok()
            .and_then(Result::ok)
    }
}

/// The last lines of each process's log, for failure messages.
fn logs(procs: &[&Proc]) -> String {
    let mut out = String::new();
    for p in procs {
        let text = p.log_text();
        let lines: Vec<&str> = text.lines().collect();
        let tail = &lines[lines.len().saturating_sub(40)..];
        out.push_str(&format!("\n--- {} (last {} lines)\n", p.name, tail.len()));
        for l in tail {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

/// Polls `check` until it answers `Ok` or [`PATIENCE`] runs out (then the last reason).
async fn eventually<T>(
    what: &str,
    mut check: impl AsyncFnMut() -> Result<T, String>,
) -> Result<T, String> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        match check().await {
            Ok(v) => return Ok(v),
            Err(reason) if tokio::time::Instant::now() >= deadline => {
                return Err(format!("{what}: not within {PATIENCE:?}: {reason}"))
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The IT Glue simulator's collection of an entity.
fn itglue_collection(entity: Entity) -> &'static str {
    match entity {
        Entity::Organization => "organizations",
        Entity::Contact => "contacts",
        Entity::Configuration => "configurations",
        Entity::Location => "locations",
    }
}

fn name_of(r: &Record) -> String {
    match r.get(Field::Name) {
        Some(n) => n.to_owned(),
        None => format!(
            "{} {}",
            r.get(Field::FirstName).unwrap_or(""),
            r.get(Field::LastName).unwrap_or("")
        ),
    }
}

/// A nats-server, the simulators of one ConnectWise tenant and its configuration file.
struct World {
    tenant: DemoTenant,
    id: TenantId,
    config: Config,
    config_path: PathBuf,
    /// Where the ingest process listens.
    public_url: String,
    conn: Connection,
    links: LinkStore,
    publisher: EventPublisher,
    scratch: Scratch,
    nats: NatsServer,
}

impl World {
    /// `concurrency`: the worker processes' `[worker] concurrency`.
    async fn start(organizations: usize, concurrency: usize) -> World {
        let nats = NatsServer::start().await.expect("start nats-server");
        let tenant = DemoTenant::start(
            PsaKind::ConnectWise,
            &SimClock::new(),
            organizations,
            7,
            Documented::Third,
        )
        .await
        .expect("start the simulators");
        let port = free_port();
        let text = format!(
            "[nats]\nurls = [\"{}\"]\n\n[ingest]\nlisten = \"127.0.0.1:{port}\"\n\n\
             [worker]\nconcurrency = {concurrency}\n\n{}\n",
            nats.url(),
            tenant.toml
        );
        let config = Config::from_toml(&text, &|_| None).expect("the configuration");
        let scratch = Scratch::new();
        let config_path = scratch.0.join("syncbridge.toml");
        std::fs::write(&config_path, &text).expect("write the configuration");
        let conn = connect(&ConnectConfig::new(nats.url()))
            .await
            .expect("connect");
        setup(&conn, &config.setup_config()).await.expect("setup");
        let id = config.tenants.keys().next().expect("one tenant").clone();
        // What the first poll round would record: changes from now on are the pollers'. The
        // vendors' modified-since filters have second precision: the seed is a second older.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        StateStore::open(&conn, TIMEOUT)
            .await
            .unwrap()
            .record_first_sync_watermark(&id, now_millis())
            .await
            .unwrap();
        World {
            links: LinkStore::open(&conn, TIMEOUT).await.unwrap(),
            publisher: EventPublisher::new(conn.clone(), TIMEOUT),
            tenant,
            id,
            config,
            config_path,
            public_url: format!("http://127.0.0.1:{port}"),
            conn,
            scratch,
            nats,
        }
    }

    /// `syncbridge serve --config F --role {role}`, with the kill hook when `kill_at` is given.
    fn spawn(&self, role: &str, name: &str, kill_at: Option<&str>) -> Proc {
        let log = self.scratch.0.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("log file");
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_syncbridge"));
        cmd.arg("serve")
            .arg("--config")
            .arg(&self.config_path)
            .args(["--role", role])
            .env("RUST_LOG", "info,syncbridge_worker=debug")
            .env_remove(KILL_AT_ENV)
            .stdin(Stdio::null())
            .stdout(Stdio::from(file.try_clone().expect("log file")))
            .stderr(Stdio::from(file))
            .kill_on_drop(true);
        if let Some(point) = kill_at {
            cmd.env(KILL_AT_ENV, point);
        }
        Proc {
            name: name.to_owned(),
            child: cmd.spawn().expect("spawn syncbridge serve"),
            log,
        }
    }

    /// Starts the ingest (with our ConnectWise callbacks registered) and the pollers.
    async fn spawn_feeds(&self) -> (Proc, Proc) {
        let ingest = self.spawn("ingest", "ingest", None);
        let poller = self.spawn("poller", "poller", None);
        let http = reqwest::Client::new();
        let url = format!("{}/healthz", self.public_url);
        eventually("the ingest answers", async || {
            match http.get(&url).send().await {
                Ok(r) if r.status().is_success() => Ok(()),
                other => Err(format!("{other:?}")),
            }
        })
        .await
        .unwrap_or_else(|e| panic!("{e}{}", logs(&[&ingest])));
        let tenant = &self.config.tenants[&self.id];
        syncbridge::commands::register::register_webhooks(tenant, &self.public_url)
            .await
            .expect("register the ConnectWise callbacks");
        (ingest, poller)
    }

    async fn full_sync(&self, run: &str) {
        let tenant = &self.config.tenants[&self.id];
        let psa = syncbridge::vendors::clients::psa(tenant, None).unwrap();
        let itg = syncbridge::vendors::clients::itglue(tenant, None).unwrap();
        let options = FullSyncOptions {
            run: run.to_owned(),
            dry_run: false,
            force: false,
            max_orphan_share: tenant.polling.full_sync_max_orphan_share,
        };
        full_sync(
            tenant,
            &psa,
            &itg,
            &FullSyncStores::open(&self.conn, TIMEOUT).await.unwrap(),
            &options,
            now_millis(),
        )
        .await
        .expect("publish the full sync");
    }

    /// Publishes one change event for a record, as a webhook or a poll would.
    async fn hint(&self, source: EventSource, entity: Entity, record_id: &str, tag: &str) {
        let event = ChangeEvent {
            tenant: self.id.clone(),
            source,
            entity: Some(entity),
            msg_id: Some(format!("test:{tag}:{record_id}")),
            record_id: Some(record_id.to_owned()),
            action: ChangeAction::Upsert,
            received_at: now_millis(),
        };
        self.publisher
            .publish(&event, Bytes::new())
            .await
            .expect("publish an event");
    }

    /// Events not yet acknowledged by the tenant's workers (None: no consumer yet, or no bus).
    async fn pending(&self) -> Option<u64> {
        let stream = self
            .conn
            .jetstream()
            .get_stream(names::EVENTS_STREAM)
            .await
            .ok()?;
        let mut consumer: PullConsumer = stream
            .get_consumer(&names::worker_consumer(&self.id))
            .await
            .ok()?;
        let info = consumer.info().await.ok()?;
        Some(info.num_pending + info.num_ack_pending as u64)
    }

    /// IT Glue records syncbridge created, by entity.
    fn itglue_creates(&self, entity: Entity) -> Vec<String> {
        self.tenant
            .itglue
            .sim
            .core()
            .writes
            .entries(&WriteQuery {
                collection: Some(itglue_collection(entity).to_owned()),
                user: Some(SYNC_USER.to_owned()),
                ..WriteQuery::default()
            })
            .into_iter()
            .filter(|w| w.action == WriteAction::Create)
            .map(|w| w.record_id)
            .collect()
    }

    /// Records the test treats as in scope: organizations through the type/status gate, their
    /// locations and contacts, and their configurations through the gate.
    async fn in_scope(&self, entity: Entity, records: &[Record]) -> Result<Vec<Record>, String> {
        let settings = &self.config.tenants[&self.id].sync;
        let orgs = self
            .tenant
            .psa_reader
            .list_all(Entity::Organization)
            .await
            .map_err(|e| e.to_string())?;
        let orgs: HashSet<String> = orgs
            .into_iter()
            .filter(|o| psa_in_scope(settings, Entity::Organization, o).is_ok())
            .map(|o| o.id)
            .collect();
        Ok(records
            .iter()
            .filter(|r| match entity {
                Entity::Organization => orgs.contains(&r.id),
                _ => {
                    r.org_id.as_ref().is_some_and(|o| orgs.contains(o))
                        && psa_in_scope(settings, entity, r).is_ok()
                }
            })
            .cloned()
            .collect())
    }

    /// Both sides converged: nothing pending, every record in scope linked to one existing IT
    /// Glue record, no IT Glue record linked twice, every IT Glue record syncbridge created is a
    /// linked one (a duplicate would not be), and every linked pair equal on every mapped field.
    async fn converged(&self) -> Result<String, String> {
        match self.pending().await {
            Some(0) => {}
            other => return Err(format!("events pending: {other:?}")),
        }
        let caps = self.tenant.kind.capabilities();
        let mut summary = Vec::new();
        for entity in Entity::ALL.into_iter().filter(|e| caps.syncs(*e)) {
            let psa = self
                .tenant
                .psa_reader
                .list_all(entity)
                .await
                .map_err(|e| e.to_string())?;
            let itg: HashMap<String, Record> = self
                .tenant
                .itglue_reader
                .list_all(entity)
                .await
                .map_err(|e| e.to_string())?
                .into_iter()
                .map(|r| (r.id.clone(), r))
                .collect();
            let mut linked: HashMap<String, String> = HashMap::new();
            let mut itg_linked: HashMap<String, String> = HashMap::new();
            for psa_id in self
                .links
                .psa_ids(&self.id, entity)
                .await
                .map_err(|e| e.to_string())?
            {
                let Some(link) = self
                    .links
                    .get(&self.id, entity, &psa_id)
                    .await
                    .map_err(|e| e.to_string())?
                else {
                    continue;
                };
                let Some(itg_id) = link.value.itg_id.clone() else {
                    continue;
                };
                if let Some(other) = itg_linked.insert(itg_id.clone(), psa_id.clone()) {
                    return Err(format!(
                        "{entity}: IT Glue {itg_id} linked to PSA {other} and {psa_id}"
                    ));
                }
                if link.value.state == LinkState::Linked {
                    linked.insert(psa_id, itg_id);
                }
            }
            let scope = self.in_scope(entity, &psa).await?;
            for r in &scope {
                match linked.get(&r.id) {
                    Some(itg_id) if itg.contains_key(itg_id) => {}
                    other => {
                        return Err(format!(
                            "{entity} {} ({}) in scope, link {other:?}; audit: {}",
                            r.id,
                            name_of(r),
                            self.audit_of(entity, &r.id).await
                        ))
                    }
                }
            }
            for created in self.itglue_creates(entity) {
                if !itg_linked.contains_key(&created) {
                    return Err(format!(
                        "{entity}: IT Glue {created} created by syncbridge but not linked \
                         (a duplicate)"
                    ));
                }
            }
            summary.push(format!("{entity}: {} in scope, linked", scope.len()));
        }
        let comparison = verify::compare(&self.tenant, &self.links)
            .await
            .map_err(|e| e.to_string())?;
        if !comparison.equal() {
            return Err(format!("pairs differ: {:?}", comparison.differences));
        }
        summary.push(format!("{} pairs equal", comparison.compared));
        Ok(summary.join("; "))
    }

    /// The decisions audited for a record (for failure messages).
    async fn audit_of(&self, entity: Entity, record_id: &str) -> String {
        let audit = syncbridge_bus::AuditLog::new(self.conn.clone(), TIMEOUT);
        match audit
            .find(&self.id, entity, 5, |v| {
                v["record_id"].as_str() == Some(record_id)
            })
            .await
        {
            Ok(entries) => entries
                .iter()
                .map(|e| e["actions"].to_string())
                .collect::<Vec<_>>()
                .join(" | "),
            Err(e) => e.to_string(),
        }
    }

    async fn linked_pairs(&self, entity: Entity) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for psa_id in self.links.psa_ids(&self.id, entity).await.unwrap() {
            if let Some(link) = self.links.get(&self.id, entity, &psa_id).await.unwrap() {
                if let (LinkState::Linked, Some(itg_id)) = (link.value.state, link.value.itg_id) {
                    out.push((psa_id, itg_id));
                }
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// 1. A worker process killed at a deterministic point
// ---------------------------------------------------------------------------------------------

async fn killed_worker_then_restart(point: &str) {
    let _one_at_a_time = SERIAL.lock().await;
    let w = World::start(3, 32).await;
    let settings = &w.config.tenants[&w.id].sync;

    // The first event is a create in IT Glue: an organization in scope that IT Glue lacks.
    let itg_names: HashSet<String> = w
        .tenant
        .itglue_reader
        .list_all(Entity::Organization)
        .await
        .unwrap()
        .iter()
        .map(|o| name_of(o).to_lowercase())
        .collect();
    let target = w
        .tenant
        .psa_reader
        .list_all(Entity::Organization)
        .await
        .unwrap()
        .into_iter()
        .find(|o| {
            psa_in_scope(settings, Entity::Organization, o).is_ok()
                && !itg_names.contains(&name_of(o).to_lowercase())
        })
        .expect("an organization in scope that IT Glue does not have");
    let name = name_of(&target);
    w.hint(
        EventSource::Psa(PsaKind::ConnectWise),
        Entity::Organization,
        &target.id,
        "first",
    )
    .await;

    let mut killed = w.spawn("worker", &format!("worker-killed-{point}"), Some(point));
    let status = killed
        .wait_exit(PATIENCE)
        .await
        .unwrap_or_else(|| panic!("the hook did not kill the worker{}", logs(&[&killed])));
    // Abnormal end: by a signal (SIGABRT), with no exit code.
    assert!(
        !status.success() && status.code().is_none(),
        "{status:?}{}",
        logs(&[&killed])
    );
    assert!(
        killed.log_text().contains("aborting at"),
        "{}",
        logs(&[&killed])
    );

    // What the dead process left: the organization created once in IT Glue, and for
    // after_link_store the link stored, for after_vendor_write not (at most the create intent).
    let creates = w.itglue_creates(Entity::Organization);
    assert_eq!(creates.len(), 1, "{creates:?}");
    let created = creates[0].clone();
    let in_itglue = w
        .tenant
        .itglue_reader
        .get(Entity::Organization, &created)
        .await
        .unwrap()
        .expect("the created organization");
    assert_eq!(name_of(&in_itglue), name);
    let link = w
        .links
        .get(&w.id, Entity::Organization, &target.id)
        .await
        .unwrap()
        .map(|v| v.value);
    eprintln!("{point}: killed with {status:?}; link left behind: {link:?}");
    match point {
        "after_link_store" => {
            let link = link.expect("stored before the kill");
            assert_eq!(link.state, LinkState::Linked);
            assert_eq!(link.itg_id.as_deref(), Some(created.as_str()));
        }
        _ => assert!(
            link.as_ref().is_none_or(|l| l.state != LinkState::Linked),
            "{link:?}"
        ),
    }

    // Started again without the hook, and the whole tenant synced.
    let mut worker = w.spawn("worker", "worker", None);
    w.full_sync("after-kill").await;
    let summary = eventually("convergence after the restart", async || {
        w.converged().await
    })
    .await
    .unwrap_or_else(|e| panic!("{e}{}", logs(&[&killed, &worker])));
    eprintln!("{point}: converged: {summary}");

    // The record in flight at the kill: once in IT Glue, linked to what was created before it.
    let orgs = w
        .tenant
        .itglue_reader
        .list_all(Entity::Organization)
        .await
        .unwrap();
    let named: Vec<&Record> = orgs.iter().filter(|o| name_of(o) == name).collect();
    assert_eq!(named.len(), 1, "{named:?}");
    assert_eq!(named[0].id, created);
    let link = w
        .links
        .get(&w.id, Entity::Organization, &target.id)
        .await
        .unwrap()
        .expect("linked")
        .value;
    assert_eq!(link.state, LinkState::Linked);
    assert_eq!(link.itg_id.as_deref(), Some(created.as_str()));
    // No second create for it in the write log (any later create is another record's, linked).
    let writes = w.tenant.itglue.sim.core().writes.entries(&WriteQuery {
        collection: Some("organizations".into()),
        user: Some(SYNC_USER.into()),
        ..WriteQuery::default()
    });
    let creates_of_name = writes
        .iter()
        .filter(|e| e.action == WriteAction::Create)
        .filter(|e| {
            orgs.iter()
                .any(|o| o.id == e.record_id && name_of(o) == name)
        })
        .count();
    assert_eq!(creates_of_name, 1, "{writes:?}");
    // Nothing was created in ConnectWise by syncbridge (nothing to push).
    let psa_creates = w.tenant.psa.core().writes.entries(&WriteQuery {
        user: Some(SYNC_USER.into()),
        ..WriteQuery::default()
    });
    assert!(
        psa_creates.iter().all(|e| e.action != WriteAction::Create),
        "{psa_creates:?}"
    );
    assert!(worker.is_running(), "{}", logs(&[&worker]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_killed_after_the_vendor_create_before_the_link_store() {
    killed_worker_then_restart("after_vendor_write").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_killed_after_the_link_store_before_the_ack() {
    killed_worker_then_restart("after_link_store").await;
}

// ---------------------------------------------------------------------------------------------
// 2. Two worker processes on the same records
// ---------------------------------------------------------------------------------------------

/// What an "Acme on both sides" run ends with.
#[derive(Debug, PartialEq, Eq)]
struct AcmeResult {
    /// Mapped fields of the linked pair: (PSA value, IT Glue value).
    pair: BTreeMap<&'static str, (String, String)>,
    /// Leases on Acme (match key or linked record) taken, by holder process.
    holders: BTreeMap<String, usize>,
}

/// "Acme" created in ConnectWise and in IT Glue at the same moment, with `workers` worker
/// processes each handling up to `concurrency` events at once, the ingest (ConnectWise callbacks)
/// and the pollers (IT Glue updated_at) running.
async fn acme_on_both_sides(workers: usize, concurrency: usize) -> AcmeResult {
    let w = World::start(3, concurrency).await;
    let (ingest, poller) = w.spawn_feeds().await;
    let procs: Vec<Proc> = (0..workers)
        .map(|i| w.spawn("worker", &format!("worker-{i}"), None))
        .collect();
    let all = |procs: &[Proc]| {
        let mut v: Vec<&Proc> = procs.iter().collect();
        v.extend([&ingest, &poller]);
        logs(&v)
    };
    eventually("the workers consume", async || {
        w.pending().await.ok_or("no worker consumer yet".to_owned())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}{}", all(&procs)));

    // Every lease taken from here on, with its holder (`{tenant}-{pid}`): which processes worked
    // on Acme.
    let taken = Arc::new(Mutex::new(Vec::<(String, String)>::new()));
    let mut watch = w
        .conn
        .jetstream()
        .get_key_value(names::LEASES_BUCKET)
        .await
        .unwrap()
        .watch_all()
        .await
        .unwrap();
    let watcher = {
        let taken = taken.clone();
        tokio::spawn(async move {
            while let Some(Ok(entry)) = watch.next().await {
                if entry.operation == Operation::Put {
                    let value: serde_json::Value =
                        serde_json::from_slice(&entry.value).unwrap_or_default();
                    let holder = value["holder"].as_str().unwrap_or_default().to_owned();
                    taken.lock().unwrap().push((entry.key, holder));
                }
            }
        })
    };
    // Slow IT Glue reads, so that events for Acme are in hand at the same time.
    w.tenant.itglue.sim.core().faults.set(FaultPlan {
        rules: vec![FaultRule {
            method: Some("GET".into()),
            path_contains: Some("/organizations".into()),
            fault: Fault::Delay {
                min_ms: 100,
                max_ms: 300,
            },
            probability: 1.0,
            times: None,
        }],
        ..FaultPlan::default()
    });

    let values = Values::new()
        .with(Field::Name, "Acme")
        .with(Field::Type, "Client")
        .with(Field::Status, "Active");
    // The person picks the organization type and status IT Glue offers.
    for (kind, name) in [
        (LookupKind::OrganizationType, "Client"),
        (LookupKind::OrganizationStatus, "Active"),
    ] {
        w.tenant
            .itglue_person
            .ensure_lookup(kind, name, None)
            .await
            .expect("an IT Glue lookup");
    }
    let psa_person = w.tenant.psa_person.as_ref().expect("ConnectWise person");
    let itg_values = values.clone().with(Field::ShortName, "ACME-ITG");
    let (company, org) = tokio::join!(
        psa_person.create(Entity::Organization, None, &values),
        w.tenant
            .itglue_person
            .create(Entity::Organization, None, &itg_values),
    );
    let (company, org) = (
        company.expect("Acme in ConnectWise"),
        org.expect("Acme in IT Glue"),
    );
    // More hints for both records at once, so that both processes get some.
    for i in 0..3 {
        let tag = format!("burst{i}");
        tokio::join!(
            w.hint(
                EventSource::Psa(PsaKind::ConnectWise),
                Entity::Organization,
                &company.id,
                &tag
            ),
            w.hint(EventSource::ItGlue, Entity::Organization, &org.id, &tag),
        );
    }

    let acme = |records: &[Record]| -> Vec<Record> {
        records
            .iter()
            .filter(|r| r.get(Field::Name) == Some("Acme"))
            .cloned()
            .collect()
    };
    let check = async || -> Result<(Record, Record), String> {
        if w.pending().await != Some(0) {
            return Err("events pending".into());
        }
        let psa = acme(
            &w.tenant
                .psa_reader
                .list_all(Entity::Organization)
                .await
                .map_err(|e| e.to_string())?,
        );
        let itg = acme(
            &w.tenant
                .itglue_reader
                .list_all(Entity::Organization)
                .await
                .map_err(|e| e.to_string())?,
        );
        let ([p], [i]) = (&psa[..], &itg[..]) else {
            return Err(format!(
                "{} Acme in ConnectWise, {} in IT Glue",
                psa.len(),
                itg.len()
            ));
        };
        let link = w
            .links
            .get(&w.id, Entity::Organization, &p.id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("no link")?
            .value;
        if link.state != LinkState::Linked || link.itg_id.as_deref() != Some(i.id.as_str()) {
            return Err(format!("link {link:?}"));
        }
        let comparison = verify::compare(&w.tenant, &w.links)
            .await
            .map_err(|e| e.to_string())?;
        if !comparison.equal() {
            return Err(format!("{:?}", comparison.differences));
        }
        Ok((p.clone(), i.clone()))
    };
    eventually("one Acme per side, linked", check)
        .await
        .unwrap_or_else(|e| panic!("{e}{}", all(&procs)));
    w.tenant.itglue.sim.core().faults.clear();
    // Still so after several more poll rounds and redeliveries.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (p, i) = eventually("one Acme per side, linked (again)", check)
        .await
        .unwrap_or_else(|e| panic!("{e}{}", all(&procs)));
    assert_eq!(p.id, company.id);
    assert_eq!(i.id, org.id);
    // Linked, not created: syncbridge created no organization named Acme on either side (the
    // only Acme of each side is the person's, above).
    let psa_orgs = w
        .tenant
        .psa_reader
        .list_all(Entity::Organization)
        .await
        .unwrap();
    let itg_orgs = w
        .tenant
        .itglue_reader
        .list_all(Entity::Organization)
        .await
        .unwrap();
    for (side, core, collection, orgs) in [
        (
            "IT Glue",
            w.tenant.itglue.sim.core(),
            "organizations",
            &itg_orgs,
        ),
        ("ConnectWise", w.tenant.psa.core(), "companies", &psa_orgs),
    ] {
        let acme_ids: HashSet<String> = acme(orgs).into_iter().map(|r| r.id).collect();
        let creates: Vec<_> = core
            .writes
            .entries(&WriteQuery {
                collection: Some(collection.into()),
                user: Some(SYNC_USER.into()),
                ..WriteQuery::default()
            })
            .into_iter()
            .filter(|e| e.action == WriteAction::Create)
            .filter(|e| acme_ids.contains(&e.record_id))
            .collect();
        assert!(creates.is_empty(), "{side}: {creates:?}");
    }
    watcher.abort();
    let acme_keys = [
        LeaseKey::match_key(&w.id, Entity::Organization, &["Acme"]),
        LeaseKey::record(&w.id, Entity::Organization, Side::Psa, &company.id).unwrap(),
    ];
    let holders: BTreeMap<String, usize> = taken
        .lock()
        .unwrap()
        .iter()
        .filter(|(key, _)| acme_keys.iter().any(|k| k.as_str() == key))
        .fold(BTreeMap::new(), |mut m, (_, holder)| {
            *m.entry(holder.clone()).or_default() += 1;
            m
        });
    eprintln!("{workers} worker process(es): Acme leases taken by holder: {holders:?}");
    let pair = field_map(PsaKind::ConnectWise, Entity::Organization)
        .iter()
        .filter(|s| s.field.references().is_none())
        .map(|s| {
            (
                s.field.as_str(),
                (
                    p.get(s.field).unwrap_or("").to_owned(),
                    i.get(s.field).unwrap_or("").to_owned(),
                ),
            )
        })
        .collect();
    drop(procs);
    AcmeResult { pair, holders }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_worker_processes_on_acme_created_on_both_sides_give_the_single_worker_result() {
    let _one_at_a_time = SERIAL.lock().await;
    // One process handling one event at a time is the reference; two processes with eight
    // events in flight each must end the same.
    let single = acme_on_both_sides(1, 1).await;
    let double = acme_on_both_sides(2, 8).await;
    assert_eq!(double.pair, single.pair);
    // Both processes worked on Acme.
    assert_eq!(double.holders.len(), 2, "{:?}", double.holders);
}

// ---------------------------------------------------------------------------------------------
// 3. nats-server killed and restarted under running processes
// ---------------------------------------------------------------------------------------------

/// One person's edit: the value expected on both sides at the end.
struct Edit {
    entity: Entity,
    psa_id: String,
    itg_id: String,
    field: Field,
    value: String,
}

async fn edit(
    w: &World,
    in_psa: bool,
    entity: Entity,
    pair: &(String, String),
    value: &str,
) -> Edit {
    let field = match entity {
        Entity::Organization => Field::ShortName,
        _ => Field::Title,
    };
    let mut change = Changes::new();
    change.insert(field, Some(value.to_owned()));
    if in_psa {
        w.tenant
            .psa_person
            .as_ref()
            .expect("ConnectWise person")
            .update(entity, &pair.0, &change)
            .await
            .expect("edit in ConnectWise");
    } else {
        w.tenant
            .itglue_person
            .update(entity, &pair.1, &change)
            .await
            .expect("edit in IT Glue");
    }
    Edit {
        entity,
        psa_id: pair.0.clone(),
        itg_id: pair.1.clone(),
        field,
        value: value.to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_restart_under_running_processes_loses_no_edit() {
    let _one_at_a_time = SERIAL.lock().await;
    let mut w = World::start(4, 32).await;
    let (mut ingest, mut poller) = w.spawn_feeds().await;
    let mut worker = w.spawn("worker", "worker", None);
    w.full_sync("initial").await;
    eventually("the initial sync", async || w.converged().await)
        .await
        .unwrap_or_else(|e| panic!("{e}{}", logs(&[&worker, &ingest, &poller])));

    let orgs = w.linked_pairs(Entity::Organization).await;
    let contacts = w.linked_pairs(Entity::Contact).await;
    assert!(
        orgs.len() >= 2 && contacts.len() >= 4,
        "{orgs:?} {contacts:?}"
    );
    let mut edits = Vec::new();
    // Before the outage.
    edits.push(edit(&w, true, Entity::Organization, &orgs[0], "SB-BEFORE").await);
    edits.push(edit(&w, false, Entity::Contact, &contacts[0], "Engineer before").await);
    w.nats.kill();
    // During it: ConnectWise's callbacks are answered 503 (and not retried: the safety-net poll
    // finds them), IT Glue polls fail and keep their cursor.
    edits.push(edit(&w, true, Entity::Contact, &contacts[1], "Engineer outage").await);
    edits.push(edit(&w, false, Entity::Organization, &orgs[1], "SB-OUTAGE").await);
    tokio::time::sleep(Duration::from_secs(3)).await;
    w.nats.restart().await.expect("restart nats-server");
    // After it.
    edits.push(edit(&w, true, Entity::Contact, &contacts[2], "Engineer after").await);
    edits.push(
        edit(
            &w,
            false,
            Entity::Contact,
            &contacts[3],
            "Engineer after ITG",
        )
        .await,
    );

    let check = async || -> Result<String, String> {
        for e in &edits {
            let psa = w
                .tenant
                .psa_reader
                .get(e.entity, &e.psa_id)
                .await
                .map_err(|x| x.to_string())?;
            let itg = w
                .tenant
                .itglue_reader
                .get(e.entity, &e.itg_id)
                .await
                .map_err(|x| x.to_string())?;
            let (p, i) = (
                psa.as_ref().and_then(|r| r.get(e.field)),
                itg.as_ref().and_then(|r| r.get(e.field)),
            );
            if p != Some(e.value.as_str()) || i != Some(e.value.as_str()) {
                return Err(format!(
                    "{} {} {}: {:?} / {:?}, wanted {:?}",
                    e.entity,
                    e.psa_id,
                    e.field.as_str(),
                    p,
                    i,
                    e.value
                ));
            }
        }
        w.converged().await
    };
    let summary = eventually("every edit on both sides after the restart", check)
        .await
        .unwrap_or_else(|e| panic!("{e}{}", logs(&[&worker, &ingest, &poller])));
    eprintln!("after the NATS restart: {summary}");
    // Nobody restarted syncbridge.
    for p in [&mut worker, &mut ingest, &mut poller] {
        assert!(p.is_running(), "{} exited", p.name);
    }
}
