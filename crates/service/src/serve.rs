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

use crate::cli::Role;
use crate::config::Config;
use crate::http_server::{self, nofile, Limits};
use crate::ingest::{Ingest, NatsSink};
use crate::runtime::shutdown;
use crate::workers::{self, Loops};
use tokio::sync::watch;

/// How long workers get to finish the event in hand at shutdown.
const WORKER_STOP: Duration = Duration::from_secs(15);

/// How long to wait between set-up attempts while NATS is unreachable.
const SETUP_RETRY: Duration = Duration::from_secs(5);

/// Runs the service with `role` until a shutdown signal: the ingest, the workers and pollers of
/// every tenant, or all of them.
pub async fn run(config: Config, role: Role) -> anyhow::Result<()> {
    crate::metrics::handle();
    let open_files = nofile::raise_to_hard();
    let conn = connect(&config.connect_config())
        .await
        .context("connecting to NATS")?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let metrics_listener = match config.metrics.listen {
        None => None,
        Some(addr) => {
            let listener = TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding metrics.listen {addr}"))?;
            let addr = listener.local_addr().unwrap_or(addr);
            tracing::info!(%addr, "metrics listening (/healthz, /readyz, /metrics)");
            let router = crate::health::router(crate::health::nats_readiness(conn.clone()));
            let mut stop = stop_rx.clone();
            Some(tokio::spawn(http_server::serve(
                listener,
                router,
                Limits::for_metrics(),
                "metrics",
                async move {
                    let _ = stop.wait_for(|stopped| *stopped).await;
                },
            )))
        }
    };
    let loops = Loops {
        worker: matches!(role, Role::Worker | Role::All),
        pollers: matches!(role, Role::Poller | Role::All),
    };
    // Workers and pollers start once the topology exists; the ingest serves at once (503 until
    // then), so a vendor's retry lands as soon as NATS is ready.
    let background = {
        let (conn, setup_config, stop) = (conn.clone(), config.setup_config(), stop_rx.clone());
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
    };
    if matches!(role, Role::Ingest | Role::All) {
        let sink = Arc::new(NatsSink::new(conn.clone(), config.nats.publish_timeout));
        let router = Ingest::new(&config, sink)?.router();
        let listener = TcpListener::bind(config.ingest.listen)
            .await
            .with_context(|| format!("binding ingest.listen {}", config.ingest.listen))?;
        let addr = listener.local_addr().unwrap_or(config.ingest.listen);
        let limits = Limits::for_ingest(&config.ingest, open_files.soft);
        if !nofile::fits(limits.max_connections, open_files.soft) {
            tracing::warn!(
                max_connections = limits.max_connections,
                open_files = ?open_files.soft,
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
    } else {
        tracing::info!(tenants = config.tenants.len(), ?role, "running");
        shutdown::signal().await;
    }
    // Loops finish the event in hand, then stop.
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(WORKER_STOP, background).await;
    // Every request has been answered; make sure nothing stays in the client's write buffer.
    let _ = tokio::time::timeout(config.nats.publish_timeout, conn.client().flush()).await;
    if let Some(metrics) = metrics_listener {
        let _ = tokio::time::timeout(WORKER_STOP, metrics).await;
    }
    tracing::info!("stopped");
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

/// `syncbridge setup`: one set-up run, reported line by line.
pub async fn setup_once(config: &Config) -> anyhow::Result<String> {
    let conn = connect(&config.connect_config())
        .await
        .context("connecting to NATS")?;
    let report = setup(&conn, &config.setup_config())
        .await
        .context("NATS set-up")?;
    let mut out = String::new();
    for (name, outcome) in report.items {
        let what = match outcome {
            syncbridge_bus::Outcome::Created => "created".to_owned(),
            syncbridge_bus::Outcome::Unchanged => "ok".to_owned(),
            syncbridge_bus::Outcome::Updated(diffs) => format!(
                "updated ({})",
                diffs
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        };
        out.push_str(&format!("{name}: {what}\n"));
    }
    Ok(out)
}
