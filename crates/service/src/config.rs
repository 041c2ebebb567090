//! The service's configuration file (TOML), read once at start and validated as a whole, so that
//! `syncbridge config check` and `syncbridge serve` refuse the same mistakes with the same words.
//!
//! ```toml
//! [nats]                       # where events go
//! [ingest]                     # the webhook listener
//! [metrics]                    # optional private listener for /healthz, /readyz, /metrics
//! [worker]                     # how many events of a tenant a worker handles at once
//! [tenants.acme.sync]          # syncbridge_model::TenantSettings (psa = "connectwise", …)
//! [tenants.acme.itglue]        # IT Glue API + optional workflow token
//! [tenants.acme.connectwise]   # the PSA named by sync.psa (or autotask, kaseya_bms, …)
//! [tenants.acme.standard]      # optional Standard Webhooks producer (side = "psa" | "itglue")
//! ```
//!
//! Every error names the dotted key it is about (`tenants.acme.autotask.webhook_secret: …`).
//! Secrets are literals or `{ env = "VAR" }` (see [`secrets`]) and never appear in `Debug`.
//! `docs/configuration.md` is the reference of every key.

pub mod bounds;
pub mod duration;
pub mod error;
mod raw;
pub mod secrets;
pub(crate) mod values;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use std::sync::Arc;

use serde::de::DeserializeOwned;
use syncbridge_model::{Side, TenantId, TenantSettings};
use syncbridge_webhooks::{BodyLimit, Secret, StandardWebhookVerifier};

use crate::psa::{PsaSection, SectionInput, REGISTRY};
use bounds::within;
pub use bounds::{
    max_body_limit, DEFAULT_BODY_LIMIT, MIN_BODY_LIMIT, NATS_DEFAULT_MAX_PAYLOAD, NATS_HEADER_ROOM,
};
use duration::display;
pub use error::ConfigError;
use raw::{
    RawBudgets, RawIngest, RawItGlue, RawMetrics, RawNats, RawPolling, RawStandard, RawWorker,
};
use secrets::SecretSpec;
pub use secrets::{Credential, EnvLookup};
use values::{decode, http_url, webhook_secret};

/// The whole, validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub nats: NatsConfig,
    pub ingest: IngestConfig,
    pub metrics: MetricsConfig,
    pub worker: WorkerConfig,
    /// Tenants by id, in id order.
    pub tenants: BTreeMap<TenantId, TenantConfig>,
}

/// `[nats]`. `Debug` shows the URLs with their credentials masked.
#[derive(Clone)]
pub struct NatsConfig {
    pub urls: Vec<String>,
    pub auth: NatsAuth,
    /// Bounds each publish from send to JetStream ack; ingest answers 503 after it.
    pub publish_timeout: Duration,
    /// How long JetStream recognises a redelivered webhook's dedup id.
    pub duplicate_window: Duration,
    /// 1 on a single node, 3 in a cluster.
    pub replicas: usize,
    /// How long `SYNC_EVENTS` keeps events for replay.
    pub max_age: Duration,
    /// The server's `max_payload` as this configuration knows it (bytes of headers and body one
    /// message may have); `serve` checks it against the connected server's.
    pub max_payload: usize,
}

impl std::fmt::Debug for NatsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let urls: Vec<String> = self
            .urls
            .iter()
            .map(|url| syncbridge_bus::redact_url(url))
            .collect();
        f.debug_struct("NatsConfig")
            .field("urls", &urls)
            .field("auth", &self.auth)
            .field("publish_timeout", &self.publish_timeout)
            .field("duplicate_window", &self.duplicate_window)
            .field("replicas", &self.replicas)
            .field("max_age", &self.max_age)
            .field("max_payload", &self.max_payload)
            .finish()
    }
}

/// NATS client credentials.
#[derive(Debug, Clone)]
pub enum NatsAuth {
    None,
    Token(Credential),
    UserPassword { user: String, password: Credential },
}

/// `[ingest]`.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    pub listen: SocketAddr,
    /// Largest webhook body accepted, enforced while reading.
    pub body_limit: BodyLimit,
    /// Bounds one whole request (reading the body, verifying, publishing).
    pub request_timeout: Duration,
    /// The `Retry-After` (seconds) sent with a 503.
    pub retry_after: Duration,
    /// The URL vendors reach this ingest at, as they must be told (`register-webhooks`).
    pub public_url: Option<String>,
    /// How long a client has to send a request's head (request line and headers), counted from
    /// the connection's start or from the first byte of a later request.
    pub header_read_timeout: Duration,
    /// A connection with no request in flight and no byte received for this long is closed.
    pub idle_timeout: Duration,
    /// Largest request head (request line and headers) accepted; larger gets 431.
    pub max_header_bytes: usize,
    /// Open connections at most; `None`: derived from the open-file limit at start.
    pub max_connections: Option<usize>,
}

/// `[metrics]`.
#[derive(Debug, Clone, Default)]
pub struct MetricsConfig {
    /// A separate listener for `/healthz`, `/readyz` and `/metrics` (every role). When set,
    /// `/metrics` is no longer served on `ingest.listen`.
    pub listen: Option<SocketAddr>,
}

/// `[worker]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerConfig {
    /// Events of one tenant a worker process handles at once (1–256). Events of one record stay
    /// serial (record leases); the tenant's rate budgets bound its vendor requests whatever this
    /// is. Across processes the consumer's `max_ack_pending` (1,000) caps the total.
    pub concurrency: usize,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            concurrency: RawWorker::default().concurrency,
        }
    }
}

/// `[tenants.<id>]`.
#[derive(Debug, Clone)]
pub struct TenantConfig {
    pub id: TenantId,
    pub sync: TenantSettings,
    pub itglue: ItGlueConfig,
    /// The PSA section `sync.psa` names, resolved by that PSA's descriptor.
    pub psa: Arc<dyn PsaSection>,
    pub standard: Option<StandardConfig>,
    pub polling: PollingConfig,
    pub budgets: BudgetsConfig,
    /// `[worker]`, the same for every tenant.
    pub worker: WorkerConfig,
}

/// `[tenants.<id>.budgets]`: the tenant's request budgets per vendor. `None` keeps the
/// connector's default, half the vendor's published limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BudgetsConfig {
    pub itglue: Option<RequestBudget>,
    pub psa: Option<RequestBudget>,
}

/// At most `requests` per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestBudget {
    pub requests: u32,
    pub per: Duration,
}

impl RequestBudget {
    /// Parses `"<requests>/<duration>"`, e.g. `"1500/5m"`.
    pub fn parse(text: &str) -> Result<RequestBudget, String> {
        let (n, per) = text.split_once('/').ok_or_else(|| {
            format!("{text:?} is not a budget (write \"<requests>/<duration>\", e.g. \"1500/5m\")")
        })?;
        let requests: u32 = n
            .trim()
            .parse()
            .ok()
            .filter(|n| (1..=bounds::BUDGET_REQUESTS).contains(n))
            .ok_or_else(|| {
                format!(
                    "{n:?} is not a number of requests between 1 and {}",
                    bounds::BUDGET_REQUESTS
                )
            })?;
        let per = duration::parse(per)?;
        let (min, max) = bounds::BUDGET_WINDOW;
        if per < min || per > max {
            return Err(format!(
                "the window must be between {} and {}",
                display(min),
                display(max)
            ));
        }
        Ok(RequestBudget { requests, per })
    }
}

/// `[tenants.<id>.polling]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PollingConfig {
    /// How often IT Glue is asked for records changed since the last poll (its only change feed).
    pub itglue_interval: Duration,
    /// How often a polled PSA is asked (and the safety-net poll of a webhook-fed PSA).
    pub psa_interval: Duration,
    /// How often the scheduled full sync runs (`None`: never; `"0s"` in the file).
    pub full_sync_interval: Option<Duration>,
    /// The largest share of the tenant's links a full sync's sweep may orphan without `--force`.
    pub full_sync_max_orphan_share: f64,
}

/// `[tenants.<id>.itglue]`.
#[derive(Debug, Clone)]
pub struct ItGlueConfig {
    pub base_url: String,
    pub api_key: Credential,
    /// Enables `POST /webhooks/{tenant}/itglue/{token}`.
    pub workflow_token: Option<Secret>,
}

/// `[tenants.<id>.standard]`.
#[derive(Debug, Clone)]
pub struct StandardConfig {
    /// The `whsec_…` secret (both values during a rotation).
    pub secret: Secret,
    /// Whose record ids the producer's `data.id` carries: its events are handled like that
    /// side's webhooks.
    pub side: Side,
    pub tolerance: Duration,
}

impl Config {
    /// Reads and validates `path`, resolving `{ env = … }` secrets from the process environment.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::at(path.display().to_string(), format!("cannot read: {e}"))
        })?;
        Config::from_toml(&text, &|name| std::env::var(name).ok())
    }

    /// Parses and validates TOML text; `env` resolves `{ env = … }` secrets.
    pub fn from_toml(text: &str, env: EnvLookup<'_>) -> Result<Config, ConfigError> {
        let root: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| syntax_error(text, &e))?;
        for key in root.keys() {
            if !matches!(
                key.as_str(),
                "nats" | "ingest" | "metrics" | "worker" | "tenants"
            ) {
                return Err(ConfigError::at(
                    key.as_str(),
                    "unknown section (expected nats, ingest, metrics, worker or tenants)",
                ));
            }
        }
        let nats = resolve_nats(section(&root, "nats", "nats")?, env)?;
        let ingest = resolve_ingest(section(&root, "ingest", "ingest")?, &nats)?;
        let metrics = resolve_metrics(section(&root, "metrics", "metrics")?, &ingest)?;
        let worker = resolve_worker(section(&root, "worker", "worker")?)?;
        let mut tenants = BTreeMap::new();
        if let Some(value) = root.get("tenants") {
            let table = value
                .as_table()
                .ok_or_else(|| ConfigError::at("tenants", "must be a table of tenants"))?;
            for (id, tenant) in table {
                let key = format!("tenants.{id}");
                let tenant = tenant
                    .as_table()
                    .ok_or_else(|| ConfigError::at(&key, "must be a table"))?;
                let mut tenant = resolve_tenant(&key, id, tenant, env)?;
                tenant.worker = worker;
                tenants.insert(tenant.id.clone(), tenant);
            }
        }
        // A request must outlive its publish, or the bus's 503 + Retry-After never reaches the
        // sender (it would get the overall timeout instead).
        if ingest.request_timeout <= nats.publish_timeout {
            return Err(ConfigError::at(
                "ingest.request_timeout",
                "must be longer than nats.publish_timeout",
            ));
        }
        if tenants.is_empty() {
            return Err(ConfigError::at(
                "tenants",
                "no tenant configured (add a [tenants.<id>.sync] table)",
            ));
        }
        check_duplicate_window(&nats, &tenants)?;
        Ok(Config {
            nats,
            ingest,
            metrics,
            worker,
            tenants,
        })
    }

    /// The NATS connection settings for the bus crate.
    pub fn connect_config(&self) -> syncbridge_bus::ConnectConfig {
        let mut config = syncbridge_bus::ConnectConfig::new(self.nats.urls[0].clone());
        config.urls = self.nats.urls.clone();
        config.auth = match &self.nats.auth {
            NatsAuth::None => syncbridge_bus::Auth::None,
            NatsAuth::Token(token) => syncbridge_bus::Auth::Token(token.expose().to_owned()),
            NatsAuth::UserPassword { user, password } => syncbridge_bus::Auth::UserPassword {
                user: user.clone(),
                password: password.expose().to_owned(),
            },
        };
        config.request_timeout = self.nats.publish_timeout;
        config
    }

    /// The stream and bucket settings for the bus crate's `setup`.
    pub fn setup_config(&self) -> syncbridge_bus::SetupConfig {
        syncbridge_bus::SetupConfig {
            replicas: self.nats.replicas,
            events_max_age: self.nats.max_age,
            duplicate_window: self.nats.duplicate_window,
            ..syncbridge_bus::SetupConfig::default()
        }
    }
}

/// Deserialises `root[name]` (absent = all defaults) with errors prefixed by `key`.
fn section<T: DeserializeOwned>(
    root: &toml::Table,
    name: &str,
    key: &str,
) -> Result<T, ConfigError> {
    let value = root
        .get(name)
        .cloned()
        .unwrap_or_else(|| toml::Value::Table(toml::Table::new()));
    decode(value, key)
}

fn resolve_nats(raw: RawNats, env: EnvLookup<'_>) -> Result<NatsConfig, ConfigError> {
    if raw.urls.is_empty() {
        return Err(ConfigError::at("nats.urls", "at least one URL is required"));
    }
    for url in &raw.urls {
        if url.parse::<async_nats::ServerAddr>().is_err() {
            return Err(ConfigError::at(
                "nats.urls",
                format!(
                    "{:?} is not a NATS URL (nats://host:port)",
                    syncbridge_bus::redact_url(url)
                ),
            ));
        }
    }
    let auth = nats_auth(raw.token, raw.user, raw.password, env)?;
    within(
        "nats.publish_timeout",
        raw.publish_timeout,
        bounds::PUBLISH_TIMEOUT,
    )?;
    within(
        "nats.duplicate_window",
        raw.duplicate_window,
        bounds::DUPLICATE_WINDOW,
    )?;
    if !matches!(raw.replicas, 1..=5) {
        return Err(ConfigError::at(
            "nats.replicas",
            "must be between 1 and 5 (3 in a cluster)",
        ));
    }
    within("nats.max_age", raw.max_age, bounds::MAX_AGE)?;
    if raw.max_age < raw.duplicate_window {
        return Err(ConfigError::at(
            "nats.max_age",
            "must be at least nats.duplicate_window",
        ));
    }
    let (min, max) = bounds::MAX_PAYLOAD;
    if !(min..=max).contains(&raw.max_payload) {
        return Err(ConfigError::at(
            "nats.max_payload",
            format!("must be between {min} and {max} bytes (the server's max_payload; NATS's default is {NATS_DEFAULT_MAX_PAYLOAD})"),
        ));
    }
    Ok(NatsConfig {
        urls: raw.urls,
        auth,
        publish_timeout: raw.publish_timeout,
        duplicate_window: raw.duplicate_window,
        replicas: raw.replicas,
        max_age: raw.max_age,
        max_payload: raw.max_payload,
    })
}

/// `nats.token`, or `nats.user` + `nats.password`, or none.
fn nats_auth(
    token: Option<SecretSpec>,
    user: Option<String>,
    password: Option<SecretSpec>,
    env: EnvLookup<'_>,
) -> Result<NatsAuth, ConfigError> {
    Ok(match (token, user, password) {
        (None, None, None) => NatsAuth::None,
        (Some(token), None, None) => NatsAuth::Token(token.resolve("nats.token", env)?),
        (None, Some(user), Some(password)) => NatsAuth::UserPassword {
            user,
            password: password.resolve("nats.password", env)?,
        },
        (Some(_), _, _) => {
            return Err(ConfigError::at(
                "nats.token",
                "give a token or user + password, not both",
            ))
        }
        (None, Some(_), None) => {
            return Err(ConfigError::at(
                "nats.password",
                "required when nats.user is set",
            ))
        }
        (None, None, Some(_)) => {
            return Err(ConfigError::at(
                "nats.user",
                "required when nats.password is set",
            ))
        }
    })
}

/// A Standard Webhooks delivery is accepted while its timestamp is within `tolerance` of now,
/// either way: a captured delivery can be replayed (or retried with the same id) for up to
/// 2 × tolerance after it was signed. JetStream must recognise its id for all that time, or the
/// replay becomes a second event.
fn check_duplicate_window(
    nats: &NatsConfig,
    tenants: &BTreeMap<TenantId, TenantConfig>,
) -> Result<(), ConfigError> {
    let widest = tenants
        .values()
        .filter_map(|t| t.standard.as_ref().map(|s| (&t.id, s.tolerance)))
        .max_by_key(|(_, tolerance)| *tolerance);
    if let Some((tenant, tolerance)) = widest {
        if nats.duplicate_window < 2 * tolerance {
            return Err(ConfigError::at(
                "nats.duplicate_window",
                format!(
                    "must be at least twice tenants.{tenant}.standard.tolerance ({}), i.e. at \
                     least {}: a signed delivery is accepted for 2 × tolerance, and a replay \
                     after the window closes would become a second event",
                    display(tolerance),
                    display(2 * tolerance)
                ),
            ));
        }
    }
    Ok(())
}

/// A TOML syntax error, located by line and column (1-based) in `text`.
fn syntax_error(text: &str, e: &toml::de::Error) -> ConfigError {
    let message = e.message().trim().replace('\n', "; ");
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            ConfigError::at(
                format!("line {line}, column {column}"),
                format!("not valid TOML: {message}"),
            )
        }
        None => ConfigError::at("(file)", format!("not valid TOML: {message}")),
    }
}

fn resolve_ingest(raw: RawIngest, nats: &NatsConfig) -> Result<IngestConfig, ConfigError> {
    let listen = raw.listen.parse().map_err(|_| {
        ConfigError::at(
            "ingest.listen",
            format!("{:?} is not an address such as 0.0.0.0:8080", raw.listen),
        )
    })?;
    let max_body = max_body_limit(nats.max_payload);
    let body_limit = raw
        .body_limit
        .unwrap_or_else(|| BodyLimit::DEFAULT.max_bytes().min(max_body));
    if !(MIN_BODY_LIMIT..=max_body).contains(&body_limit) {
        return Err(ConfigError::at(
            "ingest.body_limit",
            format!(
                "must be between {MIN_BODY_LIMIT} and {max_body} bytes: NATS stores a message of \
                 at most nats.max_payload ({} bytes) with its headers, and {NATS_HEADER_ROOM} \
                 bytes are kept for the event's headers (a larger server max_payload allows a \
                 larger body_limit)",
                nats.max_payload
            ),
        ));
    }
    let request_timeout = within(
        "ingest.request_timeout",
        raw.request_timeout,
        bounds::REQUEST_TIMEOUT,
    )?;
    let retry_after = within("ingest.retry_after", raw.retry_after, bounds::RETRY_AFTER)?;
    let header_read_timeout = within(
        "ingest.header_read_timeout",
        raw.header_read_timeout,
        bounds::HEADER_READ_TIMEOUT,
    )?;
    let idle_timeout = within(
        "ingest.idle_timeout",
        raw.idle_timeout,
        bounds::IDLE_TIMEOUT,
    )?;
    if !(MAX_HEADER_BYTES.0..=MAX_HEADER_BYTES.1).contains(&raw.max_header_bytes) {
        return Err(ConfigError::at(
            "ingest.max_header_bytes",
            format!(
                "must be between {} and {} bytes",
                MAX_HEADER_BYTES.0, MAX_HEADER_BYTES.1
            ),
        ));
    }
    if let Some(n) = raw.max_connections {
        if !(1..=MAX_CONNECTIONS).contains(&n) {
            return Err(ConfigError::at(
                "ingest.max_connections",
                format!(
                    "must be between 1 and {MAX_CONNECTIONS} (or left out: derived from the \
                     open-file limit)"
                ),
            ));
        }
    }
    Ok(IngestConfig {
        listen,
        body_limit: BodyLimit::new(body_limit),
        request_timeout,
        retry_after,
        public_url: raw.public_url,
        header_read_timeout,
        idle_timeout,
        max_header_bytes: raw.max_header_bytes,
        max_connections: raw.max_connections,
    })
}

/// Bounds of `ingest.max_header_bytes`.
const MAX_HEADER_BYTES: (usize, usize) = (4 * 1024, 1024 * 1024);
/// Upper bound of `ingest.max_connections`.
const MAX_CONNECTIONS: usize = 1_000_000;

fn resolve_metrics(raw: RawMetrics, ingest: &IngestConfig) -> Result<MetricsConfig, ConfigError> {
    let listen = raw
        .listen
        .map(|text| {
            text.parse::<SocketAddr>().map_err(|_| {
                ConfigError::at(
                    "metrics.listen",
                    format!("{text:?} is not an address such as 127.0.0.1:9090"),
                )
            })
        })
        .transpose()?;
    if let Some(addr) = listen {
        if addr.port() != 0 && addr == ingest.listen {
            return Err(ConfigError::at(
                "metrics.listen",
                "must differ from ingest.listen (it is the listener that stays reachable when \
                 the public one is under pressure)",
            ));
        }
    }
    Ok(MetricsConfig { listen })
}

/// Bounds of `worker.concurrency`.
const CONCURRENCY: (usize, usize) = (1, 256);

fn resolve_worker(raw: RawWorker) -> Result<WorkerConfig, ConfigError> {
    let (min, max) = CONCURRENCY;
    if !(min..=max).contains(&raw.concurrency) {
        return Err(ConfigError::at(
            "worker.concurrency",
            format!("must be between {min} and {max}"),
        ));
    }
    Ok(WorkerConfig {
        concurrency: raw.concurrency,
    })
}

fn resolve_tenant(
    key: &str,
    id: &str,
    table: &toml::Table,
    env: EnvLookup<'_>,
) -> Result<TenantConfig, ConfigError> {
    let tenant_id = TenantId::new(id).map_err(|e| ConfigError::at(key, e.to_string()))?;
    check_section_names(key, table)?;
    let required = |name: &str| {
        table
            .get(name)
            .cloned()
            .ok_or_else(|| ConfigError::at(format!("{key}.{name}"), "section is required"))
    };
    let sync: TenantSettings = decode(required("sync")?, &format!("{key}.sync"))?;
    let psa = resolve_psa(key, table, &sync, env)?;
    let itglue = resolve_itglue(&format!("{key}.itglue"), required("itglue")?, env)?;
    let standard = table
        .get("standard")
        .map(|value| resolve_standard(&format!("{key}.standard"), value, &tenant_id, env))
        .transpose()?;
    let polling = resolve_polling(&format!("{key}.polling"), table.get("polling"))?;
    let budgets = resolve_budgets(&format!("{key}.budgets"), table.get("budgets"))?;
    Ok(TenantConfig {
        id: tenant_id,
        sync,
        itglue,
        psa,
        standard,
        polling,
        budgets,
        // `[worker]` is a file-level section: the caller sets it.
        worker: WorkerConfig::default(),
    })
}

/// A tenant's sections are the generic ones and the PSAs' (one of which `resolve_psa` takes).
fn check_section_names(key: &str, table: &toml::Table) -> Result<(), ConfigError> {
    for name in table.keys() {
        let known = matches!(
            name.as_str(),
            "sync" | "itglue" | "standard" | "polling" | "budgets"
        ) || REGISTRY.iter().any(|psa| psa.section == name);
        if !known {
            let psas: Vec<_> = REGISTRY.iter().map(|psa| psa.section).collect();
            return Err(ConfigError::at(
                format!("{key}.{name}"),
                format!(
                    "unknown section (expected sync, itglue, standard, polling, budgets, {})",
                    psas.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// `[tenants.<id>.itglue]`.
fn resolve_itglue(
    key: &str,
    value: toml::Value,
    env: EnvLookup<'_>,
) -> Result<ItGlueConfig, ConfigError> {
    let raw: RawItGlue = decode(value, key)?;
    Ok(ItGlueConfig {
        base_url: http_url(&format!("{key}.base_url"), raw.base_url)?,
        api_key: raw.api_key.resolve(&format!("{key}.api_key"), env)?,
        workflow_token: raw
            .workflow_token
            .map(|spec| {
                let token_key = format!("{key}.workflow_token");
                workflow_token(&token_key, spec.resolve(&token_key, env)?)
            })
            .transpose()?,
    })
}

/// The workflow token travels in a URL path segment: URL-safe characters only, and long enough
/// that guessing it is hopeless.
fn workflow_token(key: &str, token: Credential) -> Result<Secret, ConfigError> {
    let ok_chars = token
        .expose()
        .bytes()
        .chain(token.previous().unwrap_or("x").bytes())
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !ok_chars {
        return Err(ConfigError::at(key, "use only A-Z, a-z, 0-9, '-' and '_'"));
    }
    if token.expose().len() < 16 || token.previous().is_some_and(|p| p.len() < 16) {
        return Err(ConfigError::at(key, "must be at least 16 characters"));
    }
    webhook_secret(key, &token)
}

/// `[tenants.<id>.standard]`: a Standard Webhooks producer and the side its ids belong to.
fn resolve_standard(
    key: &str,
    value: &toml::Value,
    tenant: &TenantId,
    env: EnvLookup<'_>,
) -> Result<StandardConfig, ConfigError> {
    let raw: RawStandard = decode(value.clone(), key)?;
    let side_key = format!("{key}.side");
    let side =
        match raw.side.as_deref() {
            Some("psa") => Side::Psa,
            Some("itglue") => Side::ItGlue,
            Some(other) => {
                return Err(ConfigError::at(
                    side_key,
                    format!("must be \"psa\" or \"itglue\", not {other:?}"),
                ))
            }
            None => return Err(ConfigError::at(
                side_key,
                "required: write side = \"psa\" if the producer's data.id values are the PSA's \
                 record ids, side = \"itglue\" if they are IT Glue ids; its events are handled \
                 like that side's webhooks",
            )),
        };
    let secret_key = format!("{key}.secret");
    let secret = webhook_secret(&secret_key, &raw.secret.resolve(&secret_key, env)?)?;
    // Decoding `whsec_…` now turns a typo into a start-up error, not 401s later.
    StandardWebhookVerifier::new(tenant.clone(), &secret, side)
        .map_err(|e| ConfigError::at(&secret_key, e.to_string()))?;
    let tolerance = within(
        &format!("{key}.tolerance"),
        raw.tolerance,
        bounds::TOLERANCE,
    )?;
    Ok(StandardConfig {
        secret,
        side,
        tolerance,
    })
}

/// `[tenants.<id>.polling]` (all defaults when absent).
fn resolve_polling(key: &str, value: Option<&toml::Value>) -> Result<PollingConfig, ConfigError> {
    let raw: RawPolling = match value {
        Some(value) => decode(value.clone(), key)?,
        None => RawPolling::default(),
    };
    for (name, interval) in [
        ("itglue_interval", raw.itglue_interval),
        ("psa_interval", raw.psa_interval),
    ] {
        within(&format!("{key}.{name}"), interval, bounds::POLL_INTERVAL)?;
    }
    let full_sync_interval = match raw.full_sync_interval {
        d if d.is_zero() => None,
        d if d < bounds::FULL_SYNC_INTERVAL.0 || d > bounds::FULL_SYNC_INTERVAL.1 => {
            return Err(ConfigError::at(
                format!("{key}.full_sync_interval"),
                format!(
                    "must be between {} and {} (or \"0s\" for no scheduled full sync)",
                    display(bounds::FULL_SYNC_INTERVAL.0),
                    display(bounds::FULL_SYNC_INTERVAL.1)
                ),
            ))
        }
        d => Some(d),
    };
    let share = raw.full_sync_max_orphan_share;
    if !(share > 0.0 && share <= 1.0) {
        return Err(ConfigError::at(
            format!("{key}.full_sync_max_orphan_share"),
            "must be a share above 0 and at most 1 (e.g. 0.25)",
        ));
    }
    Ok(PollingConfig {
        itglue_interval: raw.itglue_interval,
        psa_interval: raw.psa_interval,
        full_sync_interval,
        full_sync_max_orphan_share: share,
    })
}

/// `[tenants.<id>.budgets]` (the connectors' defaults when absent).
fn resolve_budgets(key: &str, value: Option<&toml::Value>) -> Result<BudgetsConfig, ConfigError> {
    let raw: RawBudgets = match value {
        Some(value) => decode(value.clone(), key)?,
        None => RawBudgets::default(),
    };
    let budget = |name: &str, text: Option<String>| {
        text.map(|t| RequestBudget::parse(&t))
            .transpose()
            .map_err(|e| ConfigError::at(format!("{key}.{name}"), e))
    };
    Ok(BudgetsConfig {
        itglue: budget("itglue", raw.itglue)?,
        psa: budget("psa", raw.psa)?,
    })
}

/// The one PSA section `sync.psa` names, resolved by that PSA's descriptor; a section of another
/// PSA is an error, and so is a kind no descriptor resolves (never a default).
fn resolve_psa(
    key: &str,
    table: &toml::Table,
    sync: &TenantSettings,
    env: EnvLookup<'_>,
) -> Result<Arc<dyn PsaSection>, ConfigError> {
    for other in REGISTRY.iter().filter(|psa| psa.kind != sync.psa) {
        if table.contains_key(other.section) {
            return Err(ConfigError::at(
                format!("{key}.{}", other.section),
                format!(
                    "this tenant's sync.psa is {}; remove this section or change sync.psa",
                    sync.psa
                ),
            ));
        }
    }
    let entry = crate::psa::entry(sync.psa).ok_or_else(|| {
        ConfigError::at(
            format!("{key}.sync.psa"),
            format!("{} has no configuration section in this build", sync.psa),
        )
    })?;
    let psa_key = format!("{key}.{}", entry.section);
    let value = table.get(entry.section).cloned().ok_or_else(|| {
        ConfigError::at(
            &psa_key,
            format!("section is required because sync.psa is {}", sync.psa),
        )
    })?;
    (entry.resolve)(SectionInput {
        key: &psa_key,
        value,
        env,
        sync,
    })
}

#[cfg(test)]
mod tests;
