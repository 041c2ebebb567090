//! Prometheus metrics (`GET /metrics`), recorded through the `metrics` facade.
//!
//! Labels are always from closed sets or from configuration: `tenant` is a *configured* tenant id
//! (an unknown one from a URL becomes `unknown`, so a scanner cannot grow the label set), `source`
//! a route's source name, `outcome`/`reason` fixed words. Nothing from a path token, a header or a
//! body ever becomes a label.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `syncbridge_ingest_requests_total` | counter | tenant, source, outcome |
//! | `syncbridge_ingest_verification_failures_total` | counter | tenant, source, reason |
//! | `syncbridge_ingest_duplicates_total` | counter | tenant, source |
//! | `syncbridge_ingest_publish_seconds` | histogram | source |
//! | `syncbridge_autotask_deactivation_notices_total` | counter | tenant, outcome |
//! | `syncbridge_autotask_webhook_deactivated` | gauge (alert) | tenant |
//! | `syncbridge_safety_net_unannounced_changes_total` | counter | tenant, entity |

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub const REQUESTS: &str = "syncbridge_ingest_requests_total";
pub const VERIFICATION_FAILURES: &str = "syncbridge_ingest_verification_failures_total";
pub const DUPLICATES: &str = "syncbridge_ingest_duplicates_total";
pub const PUBLISH_SECONDS: &str = "syncbridge_ingest_publish_seconds";
pub const DEACTIVATION_NOTICES: &str = "syncbridge_autotask_deactivation_notices_total";
pub const WEBHOOK_DEACTIVATED: &str = "syncbridge_autotask_webhook_deactivated";
pub const SAFETY_NET_UNANNOUNCED: &str = "syncbridge_safety_net_unannounced_changes_total";

/// Publish latency buckets (seconds): a local ack takes a millisecond, a sick cluster seconds.
const PUBLISH_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide Prometheus recorder once and returns its handle (`None` if another
/// recorder was installed first, e.g. by an embedding program: then `/metrics` is empty).
pub fn handle() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(PUBLISH_SECONDS.to_owned()), &PUBLISH_BUCKETS)
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            describe();
            Some(handle)
        })
        .clone()
}

fn describe() {
    metrics::describe_counter!(REQUESTS, "Webhook requests by tenant, source and outcome.");
    metrics::describe_counter!(
        VERIFICATION_FAILURES,
        "Webhook deliveries refused by verification (401), by reason."
    );
    metrics::describe_counter!(
        DUPLICATES,
        "Redelivered webhooks recognised by their dedup id (nothing new stored)."
    );
    metrics::describe_histogram!(
        PUBLISH_SECONDS,
        metrics::Unit::Seconds,
        "Time from publish to JetStream ack (successful publishes)."
    );
    metrics::describe_counter!(
        DEACTIVATION_NOTICES,
        "Verified Autotask deactivation notices, by confirmation outcome."
    );
    metrics::describe_gauge!(
        WEBHOOK_DEACTIVATED,
        "ALERT: 1 when Autotask confirmed a webhook of this tenant was deactivated or deleted."
    );
    metrics::describe_counter!(
        SAFETY_NET_UNANNOUNCED,
        "Changes of a webhook-fed PSA that the safety-net poll found and no webhook event \
         announced (a webhook may be disabled or dropping deliveries)."
    );
}

/// One answered webhook request.
pub fn request(tenant: &str, source: &'static str, outcome: &'static str) {
    metrics::counter!(REQUESTS, "tenant" => tenant.to_owned(), "source" => source, "outcome" => outcome)
        .increment(1);
}

/// One delivery refused by verification.
pub fn verification_failure(tenant: &str, source: &'static str, reason: &'static str) {
    metrics::counter!(
        VERIFICATION_FAILURES,
        "tenant" => tenant.to_owned(),
        "source" => source,
        "reason" => reason
    )
    .increment(1);
}

pub fn duplicate(tenant: &str, source: &'static str) {
    metrics::counter!(DUPLICATES, "tenant" => tenant.to_owned(), "source" => source).increment(1);
}

pub fn publish_latency(source: &'static str, elapsed: Duration) {
    metrics::histogram!(PUBLISH_SECONDS, "source" => source).record(elapsed.as_secs_f64());
}

/// A verified deactivation notice and what the Autotask API said about it.
pub fn deactivation_notice(tenant: &str, outcome: &'static str) {
    metrics::counter!(DEACTIVATION_NOTICES, "tenant" => tenant.to_owned(), "outcome" => outcome)
        .increment(1);
}

/// Raises the deactivation alert for `tenant`.
pub fn webhook_deactivated(tenant: &str) {
    metrics::gauge!(WEBHOOK_DEACTIVATED, "tenant" => tenant.to_owned()).set(1.0);
}

/// Changes of a webhook-fed PSA found by the safety-net poll that no webhook announced.
pub fn safety_net_unannounced(tenant: &str, entity: &'static str, count: u64) {
    metrics::counter!(
        SAFETY_NET_UNANNOUNCED,
        "tenant" => tenant.to_owned(),
        "entity" => entity
    )
    .increment(count);
}
