//! `syncbridge serve`: connect to NATS, make sure the topology exists, and run the ingest, the
//! workers and the pollers (per `--role`) until SIGTERM/Ctrl-C.
//!
//! NATS may be down at start: the client keeps connecting in the background, set-up is retried
//! until it succeeds, `/readyz` says 503 meanwhile, and webhooks are answered 503 with
//! `Retry-After` (vendors retry) — the process never needs a restart to recover.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use syncbridge_bus::{connect, setup, Connection, SetupConfig};
use tokio::net::TcpListener;

use crate::cli::Role;
use crate::config::Config;
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
    let conn = connect(&config.connect_config())
        .await
        .context("connecting to NATS")?;
    let (stop_tx, stop_rx) = watch::channel(false);
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
        tracing::info!(%addr, tenants = config.tenants.len(), ?role, "ingest listening");
        axum::serve(listener, router)
            .with_graceful_shutdown(shutdown::signal())
            .await
            .context("serving HTTP")?;
    } else {
        tracing::info!(tenants = config.tenants.len(), ?role, "running");
        shutdown::signal().await;
    }
    // Loops finish the event in hand, then stop.
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(WORKER_STOP, background).await;
    // Every request has been answered; make sure nothing stays in the client's write buffer.
    let _ = tokio::time::timeout(config.nats.publish_timeout, conn.client().flush()).await;
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
