//! `syncbridge config check`: what a configuration means, in words, with every secret masked —
//! tenants, their sources, the routes they answer on and their sync settings.

use std::collections::BTreeSet;
use std::fmt::Write;

use crate::config::duration::display;
use crate::config::{Config, NatsAuth, PsaConfig, TenantConfig};

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
    let _ = writeln!(out, "  urls: {}", nats.urls.join(", "));
    let _ = writeln!(out, "  auth: {auth}");
    let _ = writeln!(
        out,
        "  publish_timeout: {}, duplicate_window: {}, replicas: {}, max_age: {}",
        display(nats.publish_timeout),
        display(nats.duplicate_window),
        nats.replicas,
        display(nats.max_age)
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
    match &tenant.psa {
        PsaConfig::ConnectWise(cw) => {
            let _ = writeln!(
                out,
                "      connectwise: site {}, company {}, public key {}, private key ***, client id {}, \
                 webhook {}{}{}",
                cw.site,
                cw.company_id,
                cw.public_key,
                cw.client_id,
                if cw.webhook_enabled { "enabled" } else { "disabled (polled only)" },
                if cw.key_hosts.is_empty() {
                    String::new()
                } else {
                    format!(", extra key hosts {}", cw.key_hosts.join(", "))
                },
                if cw.allow_http_for_simulator { ", SIMULATOR MODE (http key urls)" } else { "" },
            );
            if cw.webhook_enabled {
                routes.push(format!("POST /webhooks/{id}/connectwise[/{{record id}}]"));
            }
        }
        PsaConfig::Autotask(at) => {
            let webhook = match &at.webhook_secret {
                Some(secret) if secret.is_rotating() => "secret *** (rotating)",
                Some(_) => "secret ***",
                None => "not configured (polled only)",
            };
            let _ = writeln!(
                out,
                "      autotask: {}, integration code {}, user {}, secret ***, webhook {webhook}",
                at.base_url, at.integration_code, at.username
            );
            if at.webhook_secret.is_some() {
                routes.push(format!("POST /webhooks/{id}/autotask"));
                routes.push(format!("POST /webhooks/{id}/autotask/deactivated"));
            }
        }
        PsaConfig::KaseyaBms(v2) | PsaConfig::PulsewayPsa(v2) => {
            let _ = writeln!(
                out,
                "      {}: {}, user {}, password ***{} (polled)",
                sync.psa,
                v2.base_url,
                v2.username,
                v2.tenant
                    .as_deref()
                    .map(|t| format!(", tenant {t}"))
                    .unwrap_or_default()
            );
        }
        PsaConfig::Tigerpaw(tp) => {
            let _ = writeln!(
                out,
                "      tigerpaw: {}, public key {}, private key *** (polled)",
                tp.base_url, tp.public_key
            );
        }
    }
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
