//! `syncbridge config check`: what a configuration means, in words, with every secret masked
//! (credentials in NATS URLs included) — tenants, their sources, the routes they answer on and
//! their sync settings.

use std::collections::BTreeSet;
use std::fmt::Write;

use crate::config::duration::display;
use crate::config::{Config, NatsAuth, TenantConfig};

/// The report printed by `config check` (never contains a secret).
pub fn describe(config: &Config) -> String {
    let mut out = String::new();
    let nats = &config.nats;
    let auth = match &nats.auth {
        NatsAuth::None => "none".to_owned(),
        NatsAuth::Token(_) => "token ***".to_owned(),
        NatsAuth::UserPassword { user, .. } => format!("user {user}, password ***"),
    };
    let _ = writeln!(out, "nats:");
    let urls: Vec<String> = nats
        .urls
        .iter()
        .map(|url| syncbridge_bus::redact_url(url))
        .collect();
    let _ = writeln!(out, "  urls: {}", urls.join(", "));
    let _ = writeln!(out, "  auth: {auth}");
    let _ = writeln!(
        out,
        "  publish_timeout: {}, duplicate_window: {}, replicas: {}, max_age: {}, max_payload: {} bytes",
        display(nats.publish_timeout),
        display(nats.duplicate_window),
        nats.replicas,
        display(nats.max_age),
        nats.max_payload
    );
    let ingest = &config.ingest;
    let _ = writeln!(out, "ingest:");
    let _ = writeln!(
        out,
        "  listen: {}, body_limit: {} bytes, request_timeout: {}, retry_after: {}",
        ingest.listen,
        ingest.body_limit.max_bytes(),
        display(ingest.request_timeout),
        display(ingest.retry_after)
    );
    let _ = writeln!(
        out,
        "  header_read_timeout: {}, idle_timeout: {}, max_header_bytes: {}, max_connections: {}",
        display(ingest.header_read_timeout),
        display(ingest.idle_timeout),
        ingest.max_header_bytes,
        ingest
            .max_connections
            .map_or_else(|| "from the open-file limit".to_owned(), |n| n.to_string())
    );
    let _ = match config.metrics.listen {
        Some(addr) => writeln!(out, "metrics: listen {addr} (/healthz, /readyz, /metrics)"),
        None => writeln!(out, "metrics: on ingest.listen (no separate listener)"),
    };
    let _ = writeln!(
        out,
        "worker: {} events of a tenant at once",
        config.worker.concurrency
    );
    let _ = writeln!(out, "tenants: {}", config.tenants.len());
    for tenant in config.tenants.values() {
        describe_tenant(&mut out, tenant);
    }
    out
}

fn describe_tenant(out: &mut String, tenant: &TenantConfig) {
    let id = &tenant.id;
    let sync = &tenant.sync;
    let _ = writeln!(out, "  {id} ({}):", sync.psa.display_name());
    let _ = writeln!(out, "    sources:");
    let mut routes = Vec::new();
    let psa = tenant.psa.describe(id);
    let _ = writeln!(out, "      {}", psa.line);
    routes.extend(psa.routes);
    let itg = &tenant.itglue;
    let _ = writeln!(
        out,
        "      itglue: {}, api key ***, workflow webhook {}",
        itg.base_url,
        if itg.workflow_token.is_some() {
            "token ***"
        } else {
            "not configured"
        }
    );
    if itg.workflow_token.is_some() {
        routes.push(format!("POST /webhooks/{id}/itglue/***"));
    }
    if let Some(standard) = &tenant.standard {
        let _ = writeln!(
            out,
            "      standard: secret ***{}, side {}, tolerance {}",
            if standard.secret.is_rotating() {
                " (rotating)"
            } else {
                ""
            },
            match standard.side {
                syncbridge_model::Side::Psa => "psa",
                syncbridge_model::Side::ItGlue => "itglue",
            },
            display(standard.tolerance)
        );
        routes.push(format!("POST /webhooks/{id}/standard"));
    }
    let _ = writeln!(out, "    routes:");
    if routes.is_empty() {
        let _ = writeln!(out, "      (none: every source of this tenant is polled)");
    }
    for route in routes {
        let _ = writeln!(out, "      {route}");
    }
    let _ = writeln!(out, "    settings:");
    let list = |set: &BTreeSet<String>| {
        if set.is_empty() {
            "-".to_owned()
        } else {
            set.iter().cloned().collect::<Vec<_>>().join(", ")
        }
    };
    let _ = writeln!(out, "      mode: {}", lower(sync.mode));
    let _ = writeln!(
        out,
        "      organizations: types [{}], statuses [{}]",
        list(&sync.org_types),
        list(&sync.org_statuses)
    );
    let _ = writeln!(
        out,
        "      configurations: types [{}], statuses [{}]",
        list(&sync.config_types),
        list(&sync.config_statuses)
    );
    let _ = writeln!(
        out,
        "      contacts_sync: {}, two_way: {}, instant_create: {}, near_miss: {}, import_burst: {}",
        sync.contacts_sync,
        sync.two_way,
        sync.instant_create,
        lower(sync.near_miss),
        sync.import_burst
    );
}

/// A settings enum as the configuration file spells it (`Active` → `active`).
fn lower(value: impl std::fmt::Debug) -> String {
    format!("{value:?}").to_lowercase()
}
