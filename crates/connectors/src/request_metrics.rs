//! The vendor-request metrics, recorded through the `metrics` facade for every attempt a client
//! sends (retries included): whoever installs a recorder (the service's Prometheus exporter, which
//! also describes them) sees them; without one they cost nothing.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | [`VENDOR_REQUESTS`] | counter | vendor, endpoint, status |
//! | [`VENDOR_REQUEST_SECONDS`] | histogram | vendor, endpoint |
//! | [`BUDGET_WAIT_SECONDS`] | histogram | vendor, tenant |
//!
//! Labels come from closed sets: `vendor` is the client's vendor (`itglue` or a PSA's
//! configuration token: `connectwise`, `autotask`, `kaseya-bms`, `pulseway-psa`, `tigerpaw`),
//! `endpoint` the client's rate-budget key as an [endpoint template](crate::endpoint::template)
//! with its credentials scrubbed (no record id, no query, no secret), `status` the HTTP status or
//! `timeout` / `error` when no answer came, `tenant` the policy's
//! [`metrics_tenant`](crate::HttpPolicy::metrics_tenant) (a configured tenant id) or `none`.

use std::time::Duration;

/// Every attempt sent to a vendor, by vendor, endpoint and status.
pub const VENDOR_REQUESTS: &str = "syncbridge_vendor_requests_total";
/// How long each attempt took, from sending to the whole answer read (or the failure); time spent
/// waiting for a budget or a concurrency slot before sending is not in it.
pub const VENDOR_REQUEST_SECONDS: &str = "syncbridge_vendor_request_duration_seconds";

/// How long each request waited for its rate budget (the client's own, then the one shared with
/// other processes) before it could be sent, by vendor and tenant; zero when granted at once.
pub const BUDGET_WAIT_SECONDS: &str = "syncbridge_vendor_budget_wait_seconds";

/// Records one wait for a rate budget.
pub(crate) fn budget_wait(vendor: &'static str, tenant: Option<&str>, waited: Duration) {
    metrics::histogram!(
        BUDGET_WAIT_SECONDS,
        "vendor" => vendor,
        "tenant" => tenant.unwrap_or("none").to_owned()
    )
    .record(waited.as_secs_f64());
}

/// How one attempt ended, as the `status` label says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    /// The vendor answered with this HTTP status.
    Status(u16),
    /// No (whole) answer within the client's timeout.
    Timeout,
    /// No answer for another reason: refused connection, reset, unreadable body.
    Error,
}

impl Answer {
    fn label(self) -> String {
        match self {
            Answer::Status(status) => status.to_string(),
            Answer::Timeout => "timeout".to_owned(),
            Answer::Error => "error".to_owned(),
        }
    }
}

/// Records one attempt to `endpoint` (already a template; see the module's labels).
pub(crate) fn record(vendor: &'static str, endpoint: &str, answer: Answer, took: Duration) {
    metrics::counter!(
        VENDOR_REQUESTS,
        "vendor" => vendor,
        "endpoint" => endpoint.to_owned(),
        "status" => answer.label()
    )
    .increment(1);
    metrics::histogram!(
        VENDOR_REQUEST_SECONDS,
        "vendor" => vendor,
        "endpoint" => endpoint.to_owned()
    )
    .record(took.as_secs_f64());
}
