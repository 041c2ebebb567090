//! The harness of the process tests: `syncbridge serve` run as a user runs it, against a private
//! nats-server and the simulators of one ConnectWise tenant ([`World`]), the processes killed on
//! drop ([`Proc`]), waits that poll against a deadline ([`eventually`]), and the checks every test
//! ends with ([`World::converged`]).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use syncbridge::config::Config;
use syncbridge::roles::full_sync::{full_sync, FullSyncOptions, FullSyncReport, FullSyncStores};
use syncbridge::roles::workers::KILL_AT_ENV;
use syncbridge::runtime::clock::now_millis;
use syncbridge_bus::testing::NatsServer;
use syncbridge_bus::{
    connect, names, setup, ConnectConfig, Connection, EventPublisher, LinkStore, PullConsumer,
    StateStore,
};
use syncbridge_connectors::Vendor;
use syncbridge_demo::verify;
use syncbridge_demo::world::{DemoTenant, Documented};
use syncbridge_engine::scope::psa_in_scope;
use syncbridge_engine::Changes;
use syncbridge_model::{
    ChangeAction, ChangeEvent, Entity, EventSource, Field, LinkState, PsaKind, Record, TenantId,
    UnixMillis,
};
use syncbridge_sim::writes::{WriteAction, WriteQuery};
use syncbridge_sim::SimClock;

/// Bound of every wait (lease expiry of a killed holder and redelivery backoff included); not a
/// speed expectation.
/// Bound of every wait (lease expiry of a killed holder and redelivery backoff included); not a
/// speed expectation.
pub(super) const PATIENCE: Duration = Duration::from_secs(180);
pub(super) const TIMEOUT: Duration = Duration::from_secs(5);
/// The user the IT Glue simulator logs syncbridge's writes under (its API key's name).
pub(super) const SYNC_USER: &str = "syncbridge";

/// One test at a time: each runs a nats-server, two simulators and up to four processes.
pub(super) static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

/// A scratch directory (configuration file, process logs), removed on drop.
pub(super) struct Scratch(pub(super) PathBuf);

impl Scratch {
    pub(super) fn new() -> Scratch {
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
pub(super) struct Proc {
    pub(super) name: String,
    pub(super) child: tokio::process::Child,
    pub(super) log: PathBuf,
}

impl Proc {
    pub(super) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub(super) fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub(super) async fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        tokio::time::timeout(within, self.child.wait())
            .await
            .ok()
            .and_then(Result::ok)
    }
}

/// The last lines of each process's log, for failure messages.
pub(super) fn logs(procs: &[&Proc]) -> String {
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
pub(super) async fn eventually<T>(
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

pub(super) fn free_port() -> u16 {
    free_ports::<1>()[0]
}

/// `N` distinct loopback ports nothing listens on now: all are held while they are picked, since
/// a port given back can be the next one handed out (two "free" ports were once the same).
pub(super) fn free_ports<const N: usize>() -> [u16; N] {
    let held: Vec<std::net::TcpListener> = (0..N)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("a free port"))
        .collect();
    std::array::from_fn(|i| held[i].local_addr().expect("a bound port").port())
}

/// The IT Glue simulator's collection of an entity.
pub(super) fn itglue_collection(entity: Entity) -> &'static str {
    match entity {
        Entity::Organization => "organizations",
        Entity::Contact => "contacts",
        Entity::Configuration => "configurations",
        Entity::Location => "locations",
    }
}

pub(super) fn name_of(r: &Record) -> String {
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
pub(super) struct World {
    pub(super) tenant: DemoTenant,
    pub(super) id: TenantId,
    pub(super) config: Config,
    pub(super) config_path: PathBuf,
    /// Where the ingest process listens.
    pub(super) public_url: String,
    pub(super) conn: Connection,
    pub(super) links: LinkStore,
    pub(super) publisher: EventPublisher,
    pub(super) scratch: Scratch,
    pub(super) nats: NatsServer,
}

impl World {
    /// `concurrency`: the worker processes' `[worker] concurrency`.
    pub(super) async fn start(organizations: usize, concurrency: usize) -> World {
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
    pub(super) fn spawn(&self, role: &str, name: &str, kill_at: Option<&str>) -> Proc {
        self.spawn_with(&self.config_path, role, name, kill_at)
    }

    /// [`World::spawn`] with another configuration file (one of the world's, changed).
    pub(super) fn spawn_with(
        &self,
        config: &std::path::Path,
        role: &str,
        name: &str,
        kill_at: Option<&str>,
    ) -> Proc {
        let log = self.scratch.0.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("log file");
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_syncbridge"));
        cmd.arg("serve")
            .arg("--config")
            .arg(config)
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
    pub(super) async fn spawn_feeds(&self) -> (Proc, Proc) {
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

    pub(super) async fn full_sync(&self, run: &str) -> FullSyncReport {
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
        .expect("publish the full sync")
    }

    /// Publishes one change event for a record, as a webhook or a poll would.
    pub(super) async fn hint(
        &self,
        source: EventSource,
        entity: Entity,
        record_id: &str,
        tag: &str,
    ) {
        self.hint_received_at(source, entity, record_id, tag, now_millis())
            .await;
    }

    /// [`World::hint`] for an event received at `received_at` (epoch milliseconds): a late one.
    pub(super) async fn hint_received_at(
        &self,
        source: EventSource,
        entity: Entity,
        record_id: &str,
        tag: &str,
        received_at: UnixMillis,
    ) {
        let event = ChangeEvent {
            tenant: self.id.clone(),
            source,
            entity: Some(entity),
            msg_id: Some(format!("test:{tag}:{record_id}")),
            record_id: Some(record_id.to_owned()),
            action: ChangeAction::Upsert,
            received_at,
        };
        self.publisher
            .publish(&event, Bytes::new())
            .await
            .expect("publish an event");
    }

    /// Events not yet acknowledged by the tenant's workers (None: no consumer yet, or no bus).
    pub(super) async fn pending(&self) -> Option<u64> {
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
    pub(super) fn itglue_creates(&self, entity: Entity) -> Vec<String> {
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
    pub(super) async fn in_scope(
        &self,
        entity: Entity,
        records: &[Record],
    ) -> Result<Vec<Record>, String> {
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
    pub(super) async fn converged(&self) -> Result<String, String> {
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
    pub(super) async fn audit_of(&self, entity: Entity, record_id: &str) -> String {
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

    pub(super) async fn linked_pairs(&self, entity: Entity) -> Vec<(String, String)> {
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

/// One person's edit: the value expected on both sides at the end.
pub(super) use syncbridge_demo::driver::Expectation as Edit;

pub(super) async fn edit(
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
        tenant: w.tenant.id.clone(),
        entity,
        psa_id: pair.0.clone(),
        itg_id: pair.1.clone(),
        field,
        value: value.to_owned(),
    }
}
