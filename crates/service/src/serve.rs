//! `syncbridge serve`: connect to NATS, make sure the topology exists, and run the ingest until
//! SIGTERM/Ctrl-C.
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
use crate::shutdown;

/// How long to wait between set-up attempts while NATS is unreachable.
const SETUP_RETRY: Duration = Duration::from_secs(5);

/// Refuses roles that do not exist yet, with a clear message.
pub fn check_role(role: Role) -> anyhow::Result<()> {
    match role {
        Role::Ingest | Role::All => Ok(()),
        Role::Worker | Role::Poller => anyhow::bail!(
            "role {:?} is not available yet: workers and pollers arrive in a later release; \
             run `syncbridge serve --role ingest` (or `all`) for the webhook ingest",
            format!("{role:?}").to_lowercase()
        ),
    }
}

/// Runs the service with `role` until a shutdown signal.
pub async fn run(config: Config, role: Role) -> anyhow::Result<()> {
    check_role(role)?;
    if role == Role::All {
        tracing::info!("role all: running the ingest (workers and pollers are not available yet)");
    }
    let conn = connect(&config.connect_config())
        .await
        .context("connecting to NATS")?;
    tokio::spawn(ensure_topology(conn.clone(), config.setup_config()));

    let sink = Arc::new(NatsSink::new(conn.clone(), config.nats.publish_timeout));
    let router = Ingest::new(&config, sink)?.router();
    let listener = TcpListener::bind(config.ingest.listen)
        .await
        .with_context(|| format!("binding ingest.listen {}", config.ingest.listen))?;
    let addr = listener.local_addr().unwrap_or(config.ingest.listen);
    tracing::info!(%addr, tenants = config.tenants.len(), "ingest listening");
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown::signal())
        .await
        .context("serving HTTP")?;
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
