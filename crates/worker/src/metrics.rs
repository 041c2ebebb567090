//! The worker's metrics, recorded through the `metrics` facade: whoever installs a recorder (the
//! service's Prometheus exporter, which also describes them and sets the histograms' buckets)
//! sees them; without one they cost nothing.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | [`EVENTS_HANDLED`] | counter | tenant, entity, outcome, rule |
//! | [`EVENT_AGE_SECONDS`] | histogram | tenant, source |
//! | [`EVENT_TO_WRITE_SECONDS`] | histogram | tenant, source |
//!
//! Labels come from closed sets or the configuration, never from an event's payload: `tenant` is
//! the worker's configured tenant (not the event's header), `entity`, `source` and `rule` are the
//! model's and engine's fixed words (`unknown` when an envelope could not be read), `outcome` one of
//! `written`, `nothing_to_write`, `shadow` (a decision), `retry`, `dead_letter` (an event given
//! back or filed without one).

use syncbridge_engine::Decision;
use syncbridge_model::{Entity, EventSource, TenantId, UnixMillis};

/// Decisions by tenant, entity, outcome and rule, plus the events given back or dead-lettered.
pub const EVENTS_HANDLED: &str = "syncbridge_worker_events_total";
/// Seconds from an event's `received_at` (the ingest's receipt of a webhook, a poller's or full
/// sync's publish) to the end of its handling with a decision (acked).
pub const EVENT_AGE_SECONDS: &str = "syncbridge_event_age_seconds";
/// The same, for events whose decision wrote to a vendor: receipt to the writes done.
pub const EVENT_TO_WRITE_SECONDS: &str = "syncbridge_event_to_write_seconds";

/// One audited decision (beside the operator's log line).
pub(crate) fn decision(tenant: &TenantId, entity: Entity, decision: &Decision, written: bool) {
    let writes = decision.actions.iter().any(|a| a.writes());
    let outcome = match (writes, written) {
        (false, _) => "nothing_to_write",
        (true, true) => "written",
        (true, false) => "shadow",
    };
    // One count per decision: the rule behind its first write, else its first action's.
    let rule = decision
        .writes()
        .next()
        .or(decision.actions.first())
        .map_or("none", |a| a.rule.as_str());
    metrics::counter!(
        EVENTS_HANDLED,
        "tenant" => tenant.to_string(),
        "entity" => entity.as_str(),
        "outcome" => outcome,
        "rule" => rule
    )
    .increment(1);
}

/// An event given back (`retry`) or filed in the DLQ (`dead_letter`) without a decision.
pub(crate) fn not_decided(tenant: &TenantId, entity: Option<Entity>, outcome: &'static str) {
    metrics::counter!(
        EVENTS_HANDLED,
        "tenant" => tenant.to_string(),
        "entity" => entity.map_or("unknown", Entity::as_str),
        "outcome" => outcome,
        "rule" => "none"
    )
    .increment(1);
}

/// An event handled to its end at `now`: its age, and its receipt-to-write latency when it wrote.
/// A `received_at` in the future (another host's clock ahead of ours) counts as zero.
pub(crate) fn handled(
    tenant: &TenantId,
    source: EventSource,
    received_at: UnixMillis,
    now: UnixMillis,
    wrote: bool,
) {
    let age = now.saturating_sub(received_at).max(0) as f64 / 1000.0;
    let (tenant, source) = (tenant.to_string(), source.as_str());
    if wrote {
        metrics::histogram!(EVENT_TO_WRITE_SECONDS, "tenant" => tenant.clone(), "source" => source)
            .record(age);
    }
    metrics::histogram!(EVENT_AGE_SECONDS, "tenant" => tenant, "source" => source).record(age);
}
