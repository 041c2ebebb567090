//! The running product on simulated vendors, as one value: a nats-server (private unless a URL is
//! given), per tenant the simulators of [`world`](crate::world), and the real service — the
//! webhook ingest on a local port with our webhooks registered at the vendors, the workers, the
//! pollers and the dead-letter mover — configured from the TOML a user would write.
//!
//! The demo drives it; end-to-end tests drive it the same way (edits at the simulators, checks
//! through the vendors' APIs and the link store), so what the demo shows is what the tests prove.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use syncbridge_bus::testing::NatsServer;
use syncbridge_bus::{connect, names, setup, ConnectConfig, Connection};
use syncbridge_model::{PsaKind, TenantId};
use syncbridge_sim::SimClock;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::world::{DemoTenant, Documented, PsaSim, SCALE};
use syncbridge::config::Config;
use syncbridge::http_server::{self, Limits};
use syncbridge::ingest::{Ingest, NatsSink};
use syncbridge::roles::full_sync::{full_sync, FullSyncOptions, FullSyncReport, FullSyncStores};
use syncbridge::roles::workers::{spawn_all, Loops};
use syncbridge::runtime::clock::now_millis;
use syncbridge::runtime::stop::stopped;

const PUBLISH_TIMEOUT: Duration = Duration::from_secs(5);

/// How old the seeded records are when the stack is up (see [`Stack::start`]).
const SEED_AGE: Duration = Duration::from_secs(3_600);

/// What to start.
#[derive(Debug, Clone)]
pub struct StackOptions {
    pub tenants: Vec<PsaKind>,
    pub nats_url: Option<String>,
    /// Organizations per PSA (each with a location, two contacts, two configurations).
    pub organizations: usize,
    pub seed: u64,
    /// No vendor rate limits and budgets too large to matter (the benchmarks of our own
    /// pipeline); the demo and the tests keep the vendors' limits.
    pub unlimited: bool,
    /// The workers' `[worker] concurrency`.
    pub concurrency: usize,
    /// How much IT Glue documents before syncbridge starts.
    pub documented: Documented,
}

/// NATS, the simulators and the service, running.
pub struct Stack {
    pub nats_url: String,
    /// The private server, when we started one (dropped last: it takes its store with it).
    pub server: Option<NatsServer>,
    pub conn: Connection,
    pub config: Config,
    pub tenants: Vec<Arc<DemoTenant>>,
    /// Where vendors reach our webhooks.
    pub public_url: String,
    /// What was started, one line each (the demo prints them).
    pub log: Vec<String>,
    stop_tx: watch::Sender<bool>,
    handles: Vec<JoinHandle<()>>,
}

impl Stack {
    /// Starts NATS, the simulators and the ingest (with webhooks registered); the workers and
    /// pollers start with [`Stack::run_service`].
    pub async fn start(options: &StackOptions) -> anyhow::Result<Stack> {
        let mut log = Vec::new();
        let (nats_url, server) = match &options.nats_url {
            Some(url) => (url.clone(), None),
            None => {
                let server = NatsServer::start()
                    .await
                    .context("starting a private nats-server")?;
                (server.url(), Some(server))
            }
        };
        log.push(format!("nats-server      {nats_url}"));
        // The seed is the MSP's existing data: stamped an hour ago, then the clock catches up.
        // Stamped "now", it would fall in the pollers' look-back windows (Autotask re-reads 2
        // minutes behind its cursor) and be listed again as fresh changes after the full sync.
        let clock = SimClock::starting_at(now_millis() - SEED_AGE.as_millis() as i64);
        let mut tenants = Vec::new();
        for (i, kind) in options.tenants.iter().enumerate() {
            let tenant = DemoTenant::start(
                *kind,
                &clock,
                options.organizations,
                options.seed + i as u64,
                options.documented,
            )
            .await
            .with_context(|| format!("starting the {} simulators", kind.as_str()))?;
            let tenant = if options.unlimited {
                tenant.without_limits()
            } else {
                tenant
            };
            log.push(format!(
                "{:<16} IT Glue {}  ·  {} {}",
                tenant.id,
                tenant.itglue.base_url(),
                kind.as_str(),
                psa_url(&tenant)
            ));
            tenants.push(Arc::new(tenant));
        }
        clock.advance(SEED_AGE);
        log.push(format!(
            "vendor rate limits run on windows {SCALE}× shorter than published; syncbridge's \
             budgets follow at half"
        ));

        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the ingest")?;
        let addr = listener.local_addr()?;
        let public_url = format!("http://{addr}");
        let mut text = format!(
            "[nats]\nurls = [\"{nats_url}\"]\n\n[ingest]\nlisten = \"{addr}\"\n\n\
             [worker]\nconcurrency = {}\n\n",
            options.concurrency
        );
        for t in &tenants {
            text.push_str(&t.toml);
            text.push('\n');
        }
        let config = Config::from_toml(&text, &|_| None).context("the configuration")?;
        let conn = connect(&ConnectConfig::new(nats_url.clone()))
            .await
            .context("connecting to NATS")?;
        setup(&conn, &config.setup_config())
            .await
            .context("NATS set-up")?;
        let (stop_tx, stop_rx) = watch::channel(false);
        let router = Ingest::new(
            &config,
            Arc::new(NatsSink::new(conn.clone(), PUBLISH_TIMEOUT)),
        )?
        .router();
        // The product's own HTTP server, with its timeouts and connection cap.
        let limits = Limits::for_ingest(&config.ingest, None);
        let ingest = tokio::spawn(async move {
            http_server::serve(listener, router, limits, "ingest", stopped(stop_rx)).await;
        });
        log.push(format!("ingest           {public_url}/webhooks/…"));
        for tenant in config.tenants.values() {
            if matches!(tenant.sync.psa, PsaKind::ConnectWise | PsaKind::Autotask) {
                let report = syncbridge::commands::register::register_webhooks(tenant, &public_url)
                    .await
                    .with_context(|| format!("registering webhooks for {}", tenant.id))?;
                log.extend(report.lines().map(|l| format!("{:<16} {l}", tenant.id)));
            }
        }
        Ok(Stack {
            nats_url,
            server,
            conn,
            config,
            tenants,
            public_url,
            log,
            stop_tx,
            handles: vec![ingest],
        })
    }

    /// Starts the workers, pollers and the dead-letter mover of every tenant.
    pub fn run_service(&mut self) {
        let loops = Loops {
            worker: true,
            pollers: true,
        };
        let stop = self.stop_tx.subscribe();
        self.handles.extend(spawn_all(
            &self.conn,
            self.config.tenants.values().cloned(),
            PUBLISH_TIMEOUT,
            loops,
            &stop,
        ));
    }

    /// Runs a full sync of every tenant (publishing what differs from the last sync), as run `run`.
    pub async fn full_sync(&self, run: &str) -> anyhow::Result<Vec<(TenantId, FullSyncReport)>> {
        let stores = FullSyncStores::open(&self.conn, PUBLISH_TIMEOUT).await?;
        let mut out = Vec::new();
        for tenant in self.config.tenants.values() {
            let psa = syncbridge::vendors::clients::psa(tenant, None)?;
            let itg = syncbridge::vendors::clients::itglue(tenant, None)?;
            let options = FullSyncOptions {
                run: run.to_owned(),
                dry_run: false,
                force: false,
                max_orphan_share: tenant.polling.full_sync_max_orphan_share,
            };
            let report = full_sync(tenant, &psa, &itg, &stores, &options, now_millis())
                .await
                .with_context(|| format!("full sync of {}", tenant.id))?;
            out.push((tenant.id.clone(), report));
        }
        Ok(out)
    }

    /// The tenant of one PSA.
    pub fn tenant(&self, kind: PsaKind) -> Option<&Arc<DemoTenant>> {
        self.tenants.iter().find(|t| t.kind == kind)
    }

    /// Stops the service (loops finish the event in hand), then the simulators; the private
    /// nats-server goes when the value is dropped.
    pub async fn stop(self) {
        let _ = self.stop_tx.send(true);
        for handle in self.handles {
            let _ = tokio::time::timeout(Duration::from_secs(15), handle).await;
        }
        // Closed by us before the server goes: a clean stop must not warn "nats disconnected".
        self.conn.close(Duration::from_secs(5)).await;
        for tenant in self.tenants {
            if let Ok(tenant) = Arc::try_unwrap(tenant) {
                tenant.shutdown().await;
            }
        }
        drop(self.server);
    }
}

fn psa_url(tenant: &DemoTenant) -> String {
    match &tenant.psa {
        PsaSim::ConnectWise(s) => s.base_url().to_owned(),
        PsaSim::Autotask(s) => s.base_url().to_owned(),
        PsaSim::Bms(s) => s.base_url().to_owned(),
        PsaSim::Tigerpaw(s) => s.base_url().to_owned(),
    }
}

/// Events still waiting for (or held by) the tenants' workers.
pub async fn pending(
    conn: &syncbridge_bus::Connection,
    tenants: &[TenantId],
) -> anyhow::Result<u64> {
    let stream = conn.jetstream().get_stream(names::EVENTS_STREAM).await?;
    let mut total = 0;
    for tenant in tenants {
        let mut consumer: syncbridge_bus::PullConsumer = stream
            .get_consumer(&names::worker_consumer(tenant))
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let info = consumer.info().await.map_err(|e| anyhow::anyhow!("{e}"))?;
        total += info.num_pending + info.num_ack_pending as u64;
    }
    Ok(total)
}
