//! The configuration sections as written in TOML, before validation: serde structs that refuse
//! unknown keys, with the defaults of every optional key. [`super`] resolves them (secrets,
//! URLs, cross-checks) into the validated types.

use std::time::Duration;

use serde::Deserialize;

use super::duration;
use super::secrets::SecretSpec;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNats {
    #[serde(default = "default_nats_urls")]
    pub(crate) urls: Vec<String>,
    pub(crate) token: Option<SecretSpec>,
    pub(crate) user: Option<String>,
    pub(crate) password: Option<SecretSpec>,
    #[serde(
        default = "default_publish_timeout",
        deserialize_with = "duration::deserialize"
    )]
    pub(crate) publish_timeout: Duration,
    #[serde(
        default = "default_duplicate_window",
        deserialize_with = "duration::deserialize"
    )]
    pub(crate) duplicate_window: Duration,
    #[serde(default = "default_replicas")]
    pub(crate) replicas: usize,
    #[serde(
        default = "default_max_age",
        deserialize_with = "duration::deserialize"
    )]
    pub(crate) max_age: Duration,
    /// The server's `max_payload` (NATS's default when absent).
    #[serde(default = "default_max_payload")]
    pub(crate) max_payload: usize,
}

fn default_max_payload() -> usize {
    super::bounds::NATS_DEFAULT_MAX_PAYLOAD
}

fn default_nats_urls() -> Vec<String> {
    vec!["nats://127.0.0.1:4222".to_owned()]
}
fn default_publish_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_duplicate_window() -> Duration {
    Duration::from_secs(10 * 60)
}
fn default_replicas() -> usize {
    1
}
fn default_max_age() -> Duration {
    Duration::from_secs(7 * 86_400)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawIngest {
    #[serde(default = "default_listen")]
    pub(crate) listen: String,
    /// Absent: the contract's 1 MiB, or less if `nats.max_payload` cannot store it.
    #[serde(default)]
    pub(crate) body_limit: Option<usize>,
    #[serde(
        default = "default_request_timeout",
        deserialize_with = "duration::deserialize"
    )]
    pub(crate) request_timeout: Duration,
    #[serde(
        default = "default_retry_after",
        deserialize_with = "duration::deserialize"
    )]
    pub(crate) retry_after: Duration,
    /// The URL vendors reach this ingest at (for `register-webhooks`).
    #[serde(default)]
    pub(crate) public_url: Option<String>,
    #[serde(
        default = "default_header_read_timeout",
        deserialize_with = "duration::deserialize"
    )]
    pub(crate) header_read_timeout: Duration,
    #[serde(
        default = "default_idle_timeout",
        deserialize_with = "duration::deserialize"
    )]
    pub(crate) idle_timeout: Duration,
    #[serde(default = "default_max_header_bytes")]
    pub(crate) max_header_bytes: usize,
    /// Absent: derived from the open-file limit at start.
    #[serde(default)]
    pub(crate) max_connections: Option<usize>,
}

/// `[metrics]`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMetrics {
    /// A separate listener for `/healthz`, `/readyz` and `/metrics`.
    #[serde(default)]
    pub(crate) listen: Option<String>,
}

/// `[worker]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWorker {
    /// Events of one tenant a worker process handles at once.
    #[serde(default = "default_concurrency")]
    pub(crate) concurrency: usize,
}

impl Default for RawWorker {
    fn default() -> Self {
        RawWorker {
            concurrency: default_concurrency(),
        }
    }
}

fn default_concurrency() -> usize {
    8
}

fn default_listen() -> String {
    "0.0.0.0:8080".to_owned()
}
fn default_request_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_retry_after() -> Duration {
    Duration::from_secs(5)
}
fn default_header_read_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_idle_timeout() -> Duration {
    Duration::from_secs(60)
}
fn default_max_header_bytes() -> usize {
    32 * 1024
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawItGlue {
    #[serde(default = "default_itglue_url")]
    pub(crate) base_url: String,
    pub(crate) api_key: SecretSpec,
    pub(crate) workflow_token: Option<SecretSpec>,
}

fn default_itglue_url() -> String {
    "https://api.itglue.com".to_owned()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPolling {
    #[serde(
        default = "default_itglue_interval",
        deserialize_with = "duration::deserialize"
    )]
    pub(crate) itglue_interval: Duration,
    #[serde(
        default = "default_psa_interval",
        deserialize_with = "duration::deserialize"
    )]
    pub(crate) psa_interval: Duration,
    #[serde(
        default = "default_full_sync_interval",
        deserialize_with = "duration::deserialize"
    )]
    pub(crate) full_sync_interval: Duration,
    #[serde(default = "default_max_orphan_share")]
    pub(crate) full_sync_max_orphan_share: f64,
}

/// `[tenants.<id>.budgets]`: request budgets as `"<requests>/<duration>"` (e.g. `"1500/5m"`).
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBudgets {
    pub(crate) itglue: Option<String>,
    pub(crate) psa: Option<String>,
}

fn default_itglue_interval() -> Duration {
    Duration::from_secs(5)
}

fn default_psa_interval() -> Duration {
    Duration::from_secs(60)
}

fn default_full_sync_interval() -> Duration {
    Duration::from_secs(6 * 3600)
}

fn default_max_orphan_share() -> f64 {
    0.25
}

impl Default for RawPolling {
    fn default() -> Self {
        RawPolling {
            itglue_interval: default_itglue_interval(),
            psa_interval: default_psa_interval(),
            full_sync_interval: default_full_sync_interval(),
            full_sync_max_orphan_share: default_max_orphan_share(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStandard {
    pub(crate) secret: SecretSpec,
    /// Required; optional here so that its absence is our error naming the key, with what to
    /// write, rather than serde's "missing field".
    pub(crate) side: Option<String>,
    #[serde(
        default = "default_tolerance",
        deserialize_with = "duration::deserialize"
    )]
    pub(crate) tolerance: Duration,
}

fn default_tolerance() -> Duration {
    Duration::from_secs(u64::from(syncbridge_webhooks::DEFAULT_TOLERANCE_SECS))
}
