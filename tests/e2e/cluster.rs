//! syncbridge on a three-node JetStream cluster losing a RAFT leader mid-traffic (issue 14): three
//! local nats-server processes form a cluster (free ports, their own stores, routes on loopback);
//! `syncbridge setup` runs with `nats.replicas = 3` (every stream and KV bucket on all three);
//! one ingest, two worker processes and a poller run against the ConnectWise and IT Glue
//! simulators, each given all three URLs. After the initial full sync converged, a stream of
//! ConnectWise changes (edits of linked companies and contacts, new companies) flows through the
//! vendor's callbacks; in its middle the leader of one RAFT group is killed with SIGKILL, the
//! changes keep coming while a new leader is elected (the ingest answers 503 meanwhile and the
//! vendor tries again, [`relay`]), and the killed node is started again later on the same store.
//!
//! - [`events_stream_leader_killed_mid_traffic_applies_every_change_once`]: the leader of
//!   `SYNC_EVENTS` (the ingest's publishes, the workers' consumer);
//! - [`links_bucket_leader_killed_mid_traffic_applies_every_change_once`]: the leader of the link
//!   store's KV stream `KV_sync_links` (every worker decision reads and writes it).
//!
//! Each ends with every change applied exactly once ([`checks`]): both sides equal, every last
//! edit on both sides, every new company once in IT Glue (no duplicate record), no echo write,
//! every accepted callback once in the events stream, nothing in the dead-letter queue. Each
//! prints its figures: changes posted, the vendor's retries, which node led, how long the election
//! and the drain took (facts, never asserted on).

mod checks;
mod nats;
mod relay;

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use syncbridge_bus::{connect, names, ConnectConfig, Connection, LinkStore};
use syncbridge_demo::world::{DemoTenant, Documented};
use syncbridge_engine::Changes;
use syncbridge_model::{Entity, Field, PsaKind, TenantId, Values};
use syncbridge_sim::SimClock;

use checks::{eventually, Edit, View, TIMEOUT};

/// Edits of linked records the vendor's people make during the traffic.
const EDITS: usize = 240;
/// Companies created in ConnectWise during the traffic (syncbridge creates them in IT Glue).
const CREATES: usize = 8;
/// Records edited at once (each record's edits one after another).
const CONCURRENT: usize = 8;
/// About how long the traffic lasts (a person's pause after each edit).
const SPAN: Duration = Duration::from_secs(6);

/// One test at a time: each runs three nats-servers, two simulators and four processes.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_stream_leader_killed_mid_traffic_applies_every_change_once() {
    leader_killed_mid_traffic(names::EVENTS_STREAM).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_bucket_leader_killed_mid_traffic_applies_every_change_once() {
    leader_killed_mid_traffic(&format!("KV_{}", names::LINKS_BUCKET)).await;
}

/// A scratch directory (stores, configuration, logs), removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "syncbridge-cluster-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
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
    _child: tokio::process::Child,
    log: PathBuf,
}

fn serve(dir: &std::path::Path, config: &std::path::Path, role: &str, name: &str) -> Proc {
    let log = dir.join(format!("{name}.log"));
    let file = std::fs::File::create(&log).expect("log file");
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_syncbridge"))
        .arg("serve")
        .arg("--config")
        .arg(config)
        .args(["--role", role])
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::from(file.try_clone().expect("log file")))
        .stderr(Stdio::from(file))
        .kill_on_drop(true)
        .spawn()
        .expect("spawn syncbridge serve");
    Proc {
        name: name.to_owned(),
        _child: child,
        log,
    }
}

/// The last lines of each process's log and of each node's, for failure messages.
fn logs(procs: &[Proc], cluster: &nats::Cluster) -> String {
    let mut out = String::new();
    for p in procs {
        out.push_str(&format!("\n--- {}\n{}", p.name, nats::tail(&p.log, 30)));
    }
    out + &cluster.logs()
}

/// The RAFT group of `stream` as the cluster reports it now.
async fn raft_group(
    conn: &Connection,
    stream: &str,
) -> Result<async_nats::jetstream::stream::ClusterInfo, String> {
    let mut stream = conn
        .jetstream()
        .get_stream(stream)
        .await
        .map_err(|e| e.to_string())?;
    let info = stream.info().await.map_err(|e| e.to_string())?;
    info.cluster
        .clone()
        .ok_or_else(|| "no cluster information".to_owned())
}

/// The leader of `stream`'s RAFT group, other than `not` (a leader that was killed).
async fn leader(conn: &Connection, stream: &str, not: Option<&str>) -> Result<String, String> {
    match raft_group(conn, stream).await?.leader {
        Some(l) if Some(l.as_str()) != not => Ok(l),
        other => Err(format!("leader {other:?}")),
    }
}

/// A leader and both other replicas current (the restarted node caught up).
async fn all_current(conn: &Connection, stream: &str) -> Result<(), String> {
    let group = raft_group(conn, stream).await?;
    let current = group.replicas.iter().filter(|p| p.current && !p.offline);
    if group.leader.is_some() && current.count() == 2 {
        Ok(())
    } else {
        Err(format!(
            "leader {:?}, replicas {:?}",
            group.leader, group.replicas
        ))
    }
}

async fn leader_killed_mid_traffic(target: &str) {
    let _one_at_a_time = SERIAL.lock().await;
    let started = Instant::now();
    let scratch = Scratch::new();
    let mut cluster = nats::Cluster::start(&scratch.0).await;
    let tenant = DemoTenant::start(
        PsaKind::ConnectWise,
        &SimClock::new(),
        6,
        7,
        Documented::Third,
    )
    .await
    .expect("start the simulators");
    let id = TenantId::new(&tenant.id).expect("the tenant's id");
    let ingest_port = crate::binary::free_port();
    let ingest = format!("http://127.0.0.1:{ingest_port}");
    let vendor = relay::Handle::start(&ingest).await;
    let urls = cluster
        .urls()
        .iter()
        .map(|u| format!("\"{u}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let config = scratch.0.join("syncbridge.toml");
    std::fs::write(
        &config,
        format!(
            "[nats]\nurls = [{urls}]\nreplicas = 3\n\n[ingest]\nlisten = \"127.0.0.1:{ingest_port}\"\n\
             public_url = \"{}\"\n\n[worker]\nconcurrency = 16\n\n{}\n",
            vendor.url, tenant.toml
        ),
    )
    .expect("write the configuration");
    let config_arg = config.to_str().expect("a UTF-8 path");

    // Setup as soon as the cluster has a JetStream meta leader (it refuses until then).
    let mut setup_attempts = 0;
    eventually("setup with replicas = 3", async || {
        setup_attempts += 1;
        let (ok, out, err) = crate::binary::run(&["setup", "--config", config_arg]).await;
        if ok {
            Ok(())
        } else {
            Err(format!("{out}{err}"))
        }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}{}", cluster.logs()));

    let conn = connect(&ConnectConfig {
        urls: cluster.urls(),
        ..ConnectConfig::new("")
    })
    .await
    .expect("connect to the cluster");
    let replicas = conn
        .jetstream()
        .get_stream(target)
        .await
        .expect("the stream under test")
        .cached_info()
        .config
        .num_replicas;
    assert_eq!(replicas, 3, "{target} is not replicated on the three nodes");
    let links = LinkStore::open(&conn, TIMEOUT)
        .await
        .expect("the link store");
    let view = View {
        tenant: &tenant,
        id: id.clone(),
        conn: &conn,
        links: &links,
    };

    let procs = vec![
        serve(&scratch.0, &config, "ingest", "ingest"),
        serve(&scratch.0, &config, "worker", "worker-1"),
        serve(&scratch.0, &config, "worker", "worker-2"),
        serve(&scratch.0, &config, "poller", "poller"),
    ];
    let http = reqwest::Client::new();
    crate::binary::wait_ready(&http, &ingest).await;
    let mut initial = String::new();
    for args in [
        &[
            "register-webhooks",
            "--config",
            config_arg,
            "--tenant",
            &tenant.id,
        ][..],
        &[
            "full-sync",
            "--config",
            config_arg,
            "--tenant",
            &tenant.id,
            "--run",
            "initial",
        ],
    ] {
        let (ok, out, err) = crate::binary::run(args).await;
        assert!(ok, "{args:?}: {out}{err}{}", logs(&procs, &cluster));
        initial = out;
    }
    // Converged with something linked (the full sync's events decided, none dead-lettered).
    let (orgs, contacts) = eventually("the initial sync", async || {
        view.converged().await?;
        let orgs = view.linked_pairs(Entity::Organization).await?;
        let contacts = view.linked_pairs(Entity::Contact).await?;
        if orgs.is_empty() || contacts.is_empty() {
            return Err(format!("linked: {orgs:?}, {contacts:?}"));
        }
        Ok((orgs, contacts))
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\nfull sync: {initial}{}", logs(&procs, &cluster)));
    let dead = view.dead_letters().await.expect("list the dead letters");
    assert!(
        dead.is_empty(),
        "dead letters after the initial sync: {dead:#?}"
    );
    let ready = started.elapsed();

    // The traffic and, in its middle, the fault.
    let progress = AtomicUsize::new(0);
    let traffic = traffic(&tenant, &orgs, &contacts, &progress);
    let fault = async {
        let at = |n: usize| {
            let progress = &progress;
            async move {
                while progress.load(Ordering::SeqCst) < n {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        };
        at(EDITS / 3).await;
        let old = eventually("the leader", async || leader(&conn, target, None).await)
            .await
            .unwrap();
        let node = cluster.index_of(&old);
        let killed_at = Instant::now();
        cluster.kill(node).await;
        let new = eventually("a new leader", async || {
            leader(&conn, target, Some(&old)).await
        })
        .await
        .unwrap_or_else(|e| panic!("{e}{}", cluster.logs()));
        let elected = killed_at.elapsed();
        at(2 * EDITS / 3).await;
        cluster.restart(node).await;
        (old, new, elected, killed_at.elapsed())
    };
    let ((edits, created), (old, new, elected, down)) = tokio::join!(traffic, fault);
    let traffic_over = Instant::now();

    // Every callback accepted (the vendor tries until the ingest takes it), then the checks.
    eventually("every callback delivered", async || {
        vendor.tally(|t| match t.in_flight {
            0 => Ok(()),
            n => Err(format!("{n} deliveries in flight")),
        })
    })
    .await
    .unwrap_or_else(|e| panic!("{e}{}", logs(&procs, &cluster)));
    let lost = vendor.tally(|t| t.failed.clone());
    assert!(
        lost.is_empty(),
        "callbacks the ingest never accepted: {lost:#?}{}",
        logs(&procs, &cluster)
    );
    let converged = eventually("every change on both sides, converged", async || {
        view.tenant.values_on_both_sides(&edits).await?;
        view.created_once(&created).await?;
        view.converged().await
    })
    .await
    .unwrap_or_else(|e| panic!("{e}{}", logs(&procs, &cluster)));
    let drained = traffic_over.elapsed();
    let echoes = view.tenant.echo_writes();
    assert!(echoes.is_empty(), "echo writes: {echoes:#?}");
    let (accepted, received, retries) =
        vendor.tally(|t| (t.accepted.clone(), t.received, t.retries));
    let events = eventually("every accepted callback once in the stream", async || {
        view.callbacks_once_in_stream(&accepted).await
    })
    .await
    .unwrap_or_else(|e| panic!("{e}{}", logs(&procs, &cluster)));
    let dead = view.dead_letters().await.expect("list the dead letters");
    assert!(
        dead.is_empty(),
        "dead letters: {dead:#?}{}",
        logs(&procs, &cluster)
    );
    eventually("the restarted node caught up", async || {
        all_current(&conn, target).await
    })
    .await
    .unwrap_or_else(|e| panic!("{e}{}", cluster.logs()));

    eprintln!(
        "cluster ({target}): {} edits and {} companies created in ConnectWise, {received} \
         callbacks, {} accepted after {retries} vendor retries; setup after {setup_attempts} \
         attempt(s); {old} led, killed, {new} elected within {elected:?}, {old} restarted after \
         {down:?}; drained {drained:?} after the traffic; {events} stream events, echo writes 0, \
         dead letters 0; {converged}; ready after {ready:?}, all over after {:?}",
        EDITS,
        created.len(),
        accepted.len(),
        started.elapsed()
    );
    drop(procs);
    tenant.shutdown().await;
}

/// The people's changes in ConnectWise: [`EDITS`] edits of linked companies and contacts (each
/// record's edits in order, [`CONCURRENT`] records at once, paced over about [`SPAN`]) and
/// [`CREATES`] new companies; `progress` counts the edits made. Returns each record's last edit
/// and the new companies' names.
async fn traffic(
    tenant: &DemoTenant,
    orgs: &[(String, String)],
    contacts: &[(String, String)],
    progress: &AtomicUsize,
) -> (Vec<Edit>, Vec<String>) {
    let person = tenant.psa_person.as_ref().expect("a ConnectWise person");
    let targets: Vec<(Entity, &(String, String))> = orgs
        .iter()
        .map(|p| (Entity::Organization, p))
        .chain(contacts.iter().map(|p| (Entity::Contact, p)))
        .collect();
    assert!(!targets.is_empty(), "no linked record to edit");
    let mut chains: Vec<Vec<String>> = vec![Vec::new(); targets.len()];
    for i in 0..EDITS {
        chains[i * 7 % targets.len()].push(format!("C{i}"));
    }
    let pause = SPAN * CONCURRENT as u32 / EDITS as u32;
    // Editing chains and creates interleaved: a create after every few chains.
    enum Op {
        Edits(usize, Vec<String>),
        Create(String),
    }
    let mut ops: Vec<Op> = Vec::new();
    let chains: Vec<(usize, Vec<String>)> = chains
        .into_iter()
        .enumerate()
        .filter(|(_, c)| !c.is_empty())
        .collect();
    let every = (chains.len() / CREATES).max(1);
    let mut creates = (0..CREATES).map(|i| format!("Cluster Co {i}"));
    for (n, (t, values)) in chains.into_iter().enumerate() {
        ops.push(Op::Edits(t, values));
        if n % every == every - 1 {
            ops.extend(creates.next().map(Op::Create));
        }
    }
    ops.extend(creates.map(Op::Create));

    let results: Vec<Result<Edit, String>> = futures_util::stream::iter(ops)
        .map(|op| {
            let targets = &targets;
            async move {
                match op {
                    Op::Edits(t, values) => {
                        let (entity, (psa_id, itg_id)) = targets[t];
                        let field = match entity {
                            Entity::Organization => Field::ShortName,
                            _ => Field::Title,
                        };
                        for value in &values {
                            let mut change = Changes::new();
                            change.insert(field, Some(value.clone()));
                            person
                                .update(entity, psa_id, &change)
                                .await
                                .unwrap_or_else(|e| panic!("edit {entity} {psa_id}: {e}"));
                            progress.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(pause).await;
                        }
                        Ok(Edit {
                            tenant: tenant.id.clone(),
                            entity,
                            psa_id: psa_id.clone(),
                            itg_id: itg_id.clone(),
                            field,
                            value: values.last().cloned().unwrap_or_default(),
                        })
                    }
                    Op::Create(name) => {
                        let values = Values::new()
                            .with(Field::Name, &name)
                            .with(Field::Type, "Client")
                            .with(Field::Status, "Active");
                        person
                            .create(Entity::Organization, None, &values)
                            .await
                            .unwrap_or_else(|e| panic!("create {name}: {e}"));
                        Err(name)
                    }
                }
            }
        })
        .buffer_unordered(CONCURRENT)
        .collect()
        .await;
    let mut edits = Vec::new();
    let mut created = Vec::new();
    for r in results {
        match r {
            Ok(e) => edits.push(e),
            Err(name) => created.push(name),
        }
    }
    (edits, created)
}
