//! `syncbridge serve`: connect to NATS, make sure the topology exists, and run the ingest, the
//! workers and the pollers (per `--role`) until SIGTERM/Ctrl-C.
//!
//! NATS may be down at start: the client keeps connecting in the background, set-up is retried
//! until it succeeds, `/readyz` says 503 meanwhile, and webhooks are answered 503 with
//! `Retry-After` (vendors retry) — the process never needs a restart to recover.
//!
//! At start the soft open-file limit is raised to the hard limit (logged); the ingest's connection
//! cap is derived from it unless configured (see [`crate::http_server`]). With `[metrics] listen`,
//! a second listener serves `/healthz`, `/readyz` and `/metrics` for every role, whatever the
//! pressure on the public one.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use syncbridge_bus::{connect, setup, Connection, SetupConfig};
use tokio::net::TcpListener;

use crate::config::Config;
use crate::http_server::{self, nofile, Limits};
use crate::ingest::{check_body_limit, health, Ingest, NatsSink};
use crate::roles::workers::{self, Loops};
use crate::runtime::shutdown;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long workers get to finish the event in hand at shutdown.
const WORKER_STOP: Duration = Duration::from_secs(15);

/// How long to wait between set-up attempts while NATS is unreachable.
const SETUP_RETRY: Duration = Duration::from_secs(5);

/// What a `serve` process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// The webhook ingest (HTTP → JetStream).
    Ingest,
    /// Event workers of every tenant (and the dead-letter mover).
    Worker,
    /// Pollers: IT Glue's `updated_at` and the PSAs' modified-since queries.
    Poller,
    /// All of the above in one process.
    All,
}

/// Runs the service with `role` until a shutdown signal: the ingest, the workers and pollers of
/// every tenant, or all of them.
pub async fn run(config: Config, role: Role) -> anyhow::Result<()> {
    crate::runtime::metrics::handle();
    let open_files = nofile::raise_to_hard();
    let conn = connect(&config.connect_config())
        .await
        .context("connecting to NATS")?;
    let (stop_tx, stop_rx) = watch::channel(false);
    // Bound before `/readyz` can answer: a probe that says ready while the webhook port still
    // refuses connections sends a load balancer's first deliveries into refusals. Connections
    // that arrive before it is served wait in the listen backlog.
    let ingest_listener = match role {
        Role::Ingest | Role::All => Some(
            TcpListener::bind(config.ingest.listen)
                .await
                .with_context(|| format!("binding ingest.listen {}", config.ingest.listen))?,
        ),
        Role::Worker | Role::Poller => None,
    };
    let metrics_listener = start_metrics_listener(&config, &conn, stop_rx.clone()).await?;
    let loops = Loops {
        worker: matches!(role, Role::Worker | Role::All),
        pollers: matches!(role, Role::Poller | Role::All),
    };
    if config.metrics.listen.is_none() && !matches!(role, Role::Ingest | Role::All) {
        // Only the ingest's public listener serves /metrics without it.
        tracing::warn!(
            ?role,
            "no [metrics] listen: this process serves no /metrics, /healthz or /readyz"
        );
    }
    let background = start_loops(&config, &conn, loops, stop_rx);
    if let Some(listener) = ingest_listener {
        serve_ingest(&config, &conn, listener, open_files.soft, role).await?;
    } else {
        tracing::info!(tenants = config.tenants.len(), ?role, "running");
        shutdown::signal().await;
    }
    // Loops finish the event in hand, then stop.
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(WORKER_STOP, background).await;
    // Every request has been answered; make sure nothing stays in the client's write buffer.
    conn.close(config.nats.publish_timeout).await;
    if let Some(metrics) = metrics_listener {
        let _ = tokio::time::timeout(WORKER_STOP, metrics).await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// `[metrics] listen`: `/healthz`, `/readyz` and `/metrics` on a listener of their own, served
/// until `stop`, whatever the pressure on the public one.
async fn start_metrics_listener(
    config: &Config,
    conn: &Connection,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<Option<JoinHandle<()>>> {
    let Some(addr) = config.metrics.listen else {
        return Ok(None);
    };
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding metrics.listen {addr}"))?;
    let addr = listener.local_addr().unwrap_or(addr);
    tracing::info!(%addr, "metrics listening (/healthz, /readyz, /metrics)");
    let router = health::router(health::nats_readiness(conn.clone()));
    Ok(Some(tokio::spawn(http_server::serve(
        listener,
        router,
        Limits::for_metrics(),
        "metrics",
        async move {
            let _ = stop.wait_for(|stopped| *stopped).await;
        },
    ))))
}

/// Workers and pollers start once the topology exists; the ingest serves at once (503 until
/// then), so a vendor's retry lands as soon as NATS is ready.
fn start_loops(
    config: &Config,
    conn: &Connection,
    loops: Loops,
    stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let (conn, setup_config) = (conn.clone(), config.setup_config());
    let tenants: Vec<_> = config.tenants.values().cloned().collect();
    let publish_timeout = config.nats.publish_timeout;
    tokio::spawn(async move {
        ensure_topology(conn.clone(), setup_config).await;
        if loops.worker || loops.pollers {
            for handle in workers::spawn_all(&conn, tenants, publish_timeout, loops, &stop) {
                let _ = handle.await;
            }
        }
    })
}

/// The public webhook listener, until the shutdown signal (in-flight requests finish).
async fn serve_ingest(
    config: &Config,
    conn: &Connection,
    listener: TcpListener,
    open_files: Option<u64>,
    role: Role,
) -> anyhow::Result<()> {
    if conn.wait_connected(config.nats.publish_timeout).await {
        check_body_limit(conn, config.ingest.body_limit).map_err(anyhow::Error::msg)?;
    } else {
        tracing::warn!(
            "NATS not reachable yet: ingest.body_limit is checked against nats.max_payload only, \
             not the server's own max_payload"
        );
    }
    let sink = Arc::new(NatsSink::new(conn.clone(), config.nats.publish_timeout));
    let router = Ingest::new(config, sink)?.router();
    let addr = listener.local_addr().unwrap_or(config.ingest.listen);
    let limits = Limits::for_ingest(&config.ingest, open_files);
    if !nofile::fits(limits.max_connections, open_files) {
        tracing::warn!(
            max_connections = limits.max_connections,
            open_files = ?open_files,
            "ingest.max_connections leaves few descriptors under the open-file limit: \
             accepts may fail with 'too many open files' (idle connections are then closed)"
        );
    }
    tracing::info!(
        %addr,
        tenants = config.tenants.len(),
        ?role,
        max_connections = limits.max_connections,
        header_read_timeout = ?limits.header_read_timeout,
        idle_timeout = ?limits.idle_timeout,
        "ingest listening"
    );
    http_server::serve(listener, router, limits, "ingest", shutdown::signal()).await;
    Ok(())
}

/// Runs set-up until it succeeds (NATS may come up after us).
async fn ensure_topology(conn: Connection, config: SetupConfig) {
    loop {
        match setup(&conn, &config).await {
            Ok(_) => return,
            Err(e @ syncbridge_bus::SetupError::Incompatible { .. }) => {
                // A person must decide; retrying changes nothing. /readyz stays 503.
                tracing::error!(error = %e, "NATS set-up refused; not ready");
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "NATS set-up failed; retrying");
                tokio::time::sleep(SETUP_RETRY).await;
            }
        }
    }
}
