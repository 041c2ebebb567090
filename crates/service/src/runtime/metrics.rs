//! Prometheus metrics (`GET /metrics`), recorded through the `metrics` facade.
//!
//! Labels are always from closed sets or from configuration: `tenant` is a *configured* tenant id
//! (an unknown one from a URL becomes `unknown`, so a scanner cannot grow the label set), `source`
//! a route's source name, `outcome`/`reason` fixed words. Nothing from a path token, a header or a
//! body ever becomes a label. The vendor-request and budget-wait metrics are recorded by the
//! connectors (`syncbridge_connectors::request_metrics`, where their labels are said), the worker's
//! by the worker crate (`syncbridge_worker::metrics`); all are described here, where the
//! histograms also get their buckets.
//!
//! Each process exports what its roles record (`serve --role`): the ingest the `ingest_*`,
//! ConnectWise key and Autotask deactivation metrics; the worker role the `worker_*`, event age,
//! consumer and DLQ metrics; the poller role the `poller_*`, safety-net and full-sync metrics;
//! workers and pollers the vendor-request and budget-wait metrics; every role the `http_*` metrics
//! of its listeners and the open-file limit. `docs/metrics.md` explains each for operators.
//!
//! | metric | type | labels | role |
//! |---|---|---|---|
//! | `syncbridge_ingest_requests_total` | counter | tenant, source, outcome | ingest |
//! | `syncbridge_ingest_verification_failures_total` | counter | tenant, source, reason | ingest |
//! | `syncbridge_ingest_duplicates_total` | counter | tenant, source | ingest |
//! | `syncbridge_ingest_publish_seconds` | histogram | source | ingest |
//! | `syncbridge_connectwise_key_fetches_limited_total` | counter | tenant | ingest |
//! | `syncbridge_autotask_deactivation_notices_total` | counter | tenant, outcome | ingest |
//! | `syncbridge_autotask_webhook_deactivated` | gauge (alert) | tenant | ingest |
//! | `syncbridge_safety_net_unannounced_changes_total` | counter | tenant, entity | poller |
//! | `syncbridge_http_connections_open` | gauge | listener | all |
//! | `syncbridge_http_connections_max` | gauge | listener | all |
//! | `syncbridge_http_connection_limit_hits_total` | counter | listener, action | all |
//! | `syncbridge_http_connections_timed_out_total` | counter | listener, reason | all |
//! | `syncbridge_http_accept_errors_total` | counter | listener | all |
//! | `syncbridge_open_files_limit` | gauge | | all |
//! | `syncbridge_vendor_requests_total` | counter | vendor, endpoint, status | worker, poller |
//! | `syncbridge_vendor_request_duration_seconds` | histogram | vendor, endpoint | worker, poller |
//! | `syncbridge_vendor_budget_wait_seconds` | histogram | vendor, tenant | worker, poller |
//! | `syncbridge_worker_events_total` | counter | tenant, entity, outcome, rule | worker |
//! | `syncbridge_event_age_seconds` | histogram | tenant, source | worker |
//! | `syncbridge_event_to_write_seconds` | histogram | tenant, source | worker |
//! | `syncbridge_consumer_pending` | gauge | tenant | worker |
//! | `syncbridge_consumer_ack_pending` | gauge | tenant | worker |
//! | `syncbridge_consumer_redelivered` | gauge | tenant | worker |
//! | `syncbridge_dlq_messages` | gauge | tenant | worker |
//! | `syncbridge_poller_last_success_timestamp_seconds` | gauge | tenant, source | poller |
//! | `syncbridge_poller_cursor_age_seconds` | gauge | tenant, source, entity | poller |
//! | `syncbridge_poller_failures_total` | counter | tenant, source | poller |
//! | `syncbridge_poller_interval_seconds` | gauge | tenant, source | poller |
//! | `syncbridge_full_sync_runs_total` | counter | tenant, outcome | poller |
//! | `syncbridge_full_sync_last_start_timestamp_seconds` | gauge | tenant | poller |
//! | `syncbridge_full_sync_last_finish_timestamp_seconds` | gauge | tenant | poller |
//! | `syncbridge_full_sync_records_listed` | gauge | tenant | poller |
//! | `syncbridge_full_sync_linked` | gauge | tenant | poller |
//! | `syncbridge_full_sync_events_published` | gauge | tenant | poller |
//! | `syncbridge_full_sync_progress_records` | gauge | tenant, stage | poller |
//! | `syncbridge_push_all_records` | gauge | tenant, state | worker |
//! | `syncbridge_push_all_started_timestamp_seconds` | gauge | tenant | worker |
//! | `syncbridge_push_all_updated_timestamp_seconds` | gauge | tenant | worker |
//! | `syncbridge_push_all_finished` | gauge | tenant | worker |

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{OnceLock, PoisonError, RwLock};
use std::time::Duration;

use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use syncbridge_model::Entity;

pub const REQUESTS: &str = "syncbridge_ingest_requests_total";
pub const VERIFICATION_FAILURES: &str = "syncbridge_ingest_verification_failures_total";
pub const DUPLICATES: &str = "syncbridge_ingest_duplicates_total";
pub const PUBLISH_SECONDS: &str = "syncbridge_ingest_publish_seconds";
pub const KEY_FETCHES_LIMITED: &str = "syncbridge_connectwise_key_fetches_limited_total";
pub const DEACTIVATION_NOTICES: &str = "syncbridge_autotask_deactivation_notices_total";
pub const WEBHOOK_DEACTIVATED: &str = "syncbridge_autotask_webhook_deactivated";
pub const SAFETY_NET_UNANNOUNCED: &str = "syncbridge_safety_net_unannounced_changes_total";
pub const HTTP_CONNECTIONS_OPEN: &str = "syncbridge_http_connections_open";
pub const HTTP_CONNECTIONS_MAX: &str = "syncbridge_http_connections_max";
pub const HTTP_CONNECTION_LIMIT_HITS: &str = "syncbridge_http_connection_limit_hits_total";
pub const HTTP_CONNECTIONS_TIMED_OUT: &str = "syncbridge_http_connections_timed_out_total";
pub const HTTP_ACCEPT_ERRORS: &str = "syncbridge_http_accept_errors_total";
pub const OPEN_FILES_LIMIT: &str = "syncbridge_open_files_limit";
pub const CONSUMER_PENDING: &str = "syncbridge_consumer_pending";
pub const CONSUMER_ACK_PENDING: &str = "syncbridge_consumer_ack_pending";
pub const CONSUMER_REDELIVERED: &str = "syncbridge_consumer_redelivered";
pub const DLQ_MESSAGES: &str = "syncbridge_dlq_messages";
pub const POLLER_LAST_SUCCESS: &str = "syncbridge_poller_last_success_timestamp_seconds";
pub const POLLER_CURSOR_AGE: &str = "syncbridge_poller_cursor_age_seconds";
pub const POLLER_FAILURES: &str = "syncbridge_poller_failures_total";
pub const POLLER_INTERVAL: &str = "syncbridge_poller_interval_seconds";
pub const FULL_SYNC_RUNS: &str = "syncbridge_full_sync_runs_total";
pub const FULL_SYNC_STARTED: &str = "syncbridge_full_sync_last_start_timestamp_seconds";
pub const FULL_SYNC_FINISHED: &str = "syncbridge_full_sync_last_finish_timestamp_seconds";
pub const FULL_SYNC_LISTED: &str = "syncbridge_full_sync_records_listed";
pub const FULL_SYNC_LINKED: &str = "syncbridge_full_sync_linked";
pub const FULL_SYNC_PUBLISHED: &str = "syncbridge_full_sync_events_published";
pub const FULL_SYNC_PROGRESS: &str = "syncbridge_full_sync_progress_records";
pub const PUSH_ALL_RECORDS: &str = "syncbridge_push_all_records";
pub const PUSH_ALL_STARTED: &str = "syncbridge_push_all_started_timestamp_seconds";
pub const PUSH_ALL_UPDATED: &str = "syncbridge_push_all_updated_timestamp_seconds";
pub const PUSH_ALL_FINISHED: &str = "syncbridge_push_all_finished";
pub use syncbridge_connectors::request_metrics::{
    BUDGET_WAIT_SECONDS, VENDOR_REQUESTS, VENDOR_REQUEST_SECONDS,
};
pub use syncbridge_worker::metrics::{EVENTS_HANDLED, EVENT_AGE_SECONDS, EVENT_TO_WRITE_SECONDS};

/// Every metric this process may export, as the table above lists them (the dashboard and alert
/// rules are checked against it).
pub const ALL: &[&str] = &[
    REQUESTS,
    VERIFICATION_FAILURES,
    DUPLICATES,
    PUBLISH_SECONDS,
    KEY_FETCHES_LIMITED,
    DEACTIVATION_NOTICES,
    WEBHOOK_DEACTIVATED,
    SAFETY_NET_UNANNOUNCED,
    HTTP_CONNECTIONS_OPEN,
    HTTP_CONNECTIONS_MAX,
    HTTP_CONNECTION_LIMIT_HITS,
    HTTP_CONNECTIONS_TIMED_OUT,
    HTTP_ACCEPT_ERRORS,
    OPEN_FILES_LIMIT,
    VENDOR_REQUESTS,
    VENDOR_REQUEST_SECONDS,
    BUDGET_WAIT_SECONDS,
    EVENTS_HANDLED,
    EVENT_AGE_SECONDS,
    EVENT_TO_WRITE_SECONDS,
    CONSUMER_PENDING,
    CONSUMER_ACK_PENDING,
    CONSUMER_REDELIVERED,
    DLQ_MESSAGES,
    POLLER_LAST_SUCCESS,
    POLLER_CURSOR_AGE,
    POLLER_FAILURES,
    POLLER_INTERVAL,
    FULL_SYNC_RUNS,
    FULL_SYNC_STARTED,
    FULL_SYNC_FINISHED,
    FULL_SYNC_LISTED,
    FULL_SYNC_LINKED,
    FULL_SYNC_PUBLISHED,
    FULL_SYNC_PROGRESS,
    PUSH_ALL_RECORDS,
    PUSH_ALL_STARTED,
    PUSH_ALL_UPDATED,
    PUSH_ALL_FINISHED,
];

/// Publish latency buckets (seconds): a local ack takes a millisecond, a sick cluster seconds.
const PUBLISH_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// Vendor request latency buckets (seconds): a near API answers in tens of milliseconds, a slow
/// listing page in seconds, and a hung request takes the client's whole timeout (30 s default).
const VENDOR_REQUEST_BUCKETS: [f64; 12] = [
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Event age buckets (seconds): a webhook handled at once takes tens of milliseconds; a backlog,
/// a vendor's Retry-After or a paused tenant minutes to hours.
const EVENT_AGE_BUCKETS: [f64; 15] = [
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
];

/// Budget wait buckets (seconds): most requests are granted at once; a spent budget waits until
/// its window (up to an hour for Kaseya BMS's hourly one) frees a request.
const BUDGET_WAIT_BUCKETS: [f64; 13] = [
    0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
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
                .set_buckets_for_metric(
                    Matcher::Full(VENDOR_REQUEST_SECONDS.to_owned()),
                    &VENDOR_REQUEST_BUCKETS,
                )
                .ok()?
                .set_buckets_for_metric(
                    Matcher::Full(EVENT_AGE_SECONDS.to_owned()),
                    &EVENT_AGE_BUCKETS,
                )
                .ok()?
                .set_buckets_for_metric(
                    Matcher::Full(EVENT_TO_WRITE_SECONDS.to_owned()),
                    &EVENT_AGE_BUCKETS,
                )
                .ok()?
                .set_buckets_for_metric(
                    Matcher::Full(BUDGET_WAIT_SECONDS.to_owned()),
                    &BUDGET_WAIT_BUCKETS,
                )
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            describe();
            describe_workers();
            describe_pollers();
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
        KEY_FETCHES_LIMITED,
        "ConnectWise callbacks answered 503 without fetching their signing key because the \
         tenant's key fetches were over their limit (someone may be probing with made-up key ids)."
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
    metrics::describe_gauge!(HTTP_CONNECTIONS_OPEN, "Open HTTP connections, by listener.");
    metrics::describe_gauge!(
        HTTP_CONNECTIONS_MAX,
        "The connection cap of each listener (ingest.max_connections)."
    );
    metrics::describe_counter!(
        HTTP_CONNECTION_LIMIT_HITS,
        "New connections over the cap: action closed_idle (the longest-idle connection was \
         closed to admit it) or refused (every connection had a request in flight)."
    );
    metrics::describe_counter!(
        HTTP_CONNECTIONS_TIMED_OUT,
        "Connections closed for an incomplete request head (header_read) or no activity (idle)."
    );
    metrics::describe_counter!(
        HTTP_ACCEPT_ERRORS,
        "Failed accepts (out of file descriptors among them)."
    );
    metrics::describe_gauge!(
        OPEN_FILES_LIMIT,
        "The process's soft open-file limit after raising it to the hard limit at start."
    );
    metrics::describe_counter!(
        VENDOR_REQUESTS,
        "Requests sent to the vendors' APIs, each retry included, by vendor, endpoint (the \
         client's budget key, ids as {id}) and status (HTTP status, or timeout / error when no \
         answer came)."
    );
    metrics::describe_histogram!(
        VENDOR_REQUEST_SECONDS,
        metrics::Unit::Seconds,
        "Time from sending a vendor request to its whole answer (or failure), by vendor and \
         endpoint; waits for a rate budget or a concurrency slot are not in it."
    );
}

/// The metrics of the worker role and of the vendor clients (those of the ingest and the
/// listeners are in [`describe`], the pollers' in [`describe_pollers`]).
fn describe_workers() {
    metrics::describe_histogram!(
        BUDGET_WAIT_SECONDS,
        metrics::Unit::Seconds,
        "Time each vendor request waited for its rate budget (this process's, then the one shared \
         through NATS) before it was sent, by vendor and tenant; zero when granted at once."
    );
    metrics::describe_counter!(
        EVENTS_HANDLED,
        "Events handled by the workers: one per audited decision (outcome written, \
         nothing_to_write or shadow; rule: the rule behind its first write, else its first \
         action), and one per event given back (retry) or filed in the DLQ (dead_letter)."
    );
    metrics::describe_histogram!(
        EVENT_AGE_SECONDS,
        metrics::Unit::Seconds,
        "Age of an event when a worker finished deciding it: from its received_at (the ingest's \
         receipt of a webhook, a poller's or full sync's publish) to the ack."
    );
    metrics::describe_histogram!(
        EVENT_TO_WRITE_SECONDS,
        metrics::Unit::Seconds,
        "For events that wrote to a vendor: from received_at (the webhook's receipt) to the \
         writes done and the link stored."
    );
    metrics::describe_gauge!(
        CONSUMER_PENDING,
        "Events of the tenant not yet delivered to a worker (the worker consumer's num_pending), \
         read every 15 s."
    );
    metrics::describe_gauge!(
        CONSUMER_ACK_PENDING,
        "Events delivered to a worker and not yet answered (num_ack_pending), read every 15 s."
    );
    metrics::describe_gauge!(
        CONSUMER_REDELIVERED,
        "Events delivered more than once and not yet answered (num_redelivered), read every 15 s."
    );
    metrics::describe_gauge!(
        DLQ_MESSAGES,
        "Dead letters of the tenant in SYNC_DLQ (sync.dlq.{tenant}.>), read every 15 s."
    );
    metrics::describe_gauge!(
        PUSH_ALL_RECORDS,
        "The tenant's last push-all run from its checkpoint, read every 15 s: IT Glue records \
         published for the workers (state=published) and skipped as linked (state=already_linked)."
    );
    metrics::describe_gauge!(
        PUSH_ALL_STARTED,
        metrics::Unit::Seconds,
        "Unix time the tenant's last push-all run started (from its checkpoint)."
    );
    metrics::describe_gauge!(
        PUSH_ALL_UPDATED,
        metrics::Unit::Seconds,
        "Unix time the tenant's last push-all run last saved its checkpoint (a page, or its end)."
    );
    metrics::describe_gauge!(
        PUSH_ALL_FINISHED,
        "1 when the tenant's last push-all run finished, 0 while it is running or was interrupted."
    );
}

/// The metrics of the poller role.
fn describe_pollers() {
    metrics::describe_gauge!(
        POLLER_LAST_SUCCESS,
        metrics::Unit::Seconds,
        "Unix time of the last poll round of this source that succeeded."
    );
    metrics::describe_gauge!(
        POLLER_CURSOR_AGE,
        metrics::Unit::Seconds,
        "At the last successful poll: seconds between its start and the entity's cursor (the \
         newest vendor updated_at seen, or the first-sync watermark). Grows while nothing changes."
    );
    metrics::describe_counter!(
        POLLER_FAILURES,
        "Poll rounds that failed (retried next round)."
    );
    metrics::describe_counter!(
        FULL_SYNC_RUNS,
        "Scheduled full syncs run by this process, by outcome (ok or failed)."
    );
    metrics::describe_gauge!(
        FULL_SYNC_STARTED,
        metrics::Unit::Seconds,
        "Unix time the last scheduled full sync of the tenant started in this process."
    );
    metrics::describe_gauge!(
        FULL_SYNC_FINISHED,
        metrics::Unit::Seconds,
        "Unix time the last scheduled full sync of the tenant finished (ok or failed)."
    );
    metrics::describe_gauge!(
        FULL_SYNC_LISTED,
        "PSA records the last successful full sync listed."
    );
    metrics::describe_gauge!(
        FULL_SYNC_LINKED,
        "Records the last successful full sync linked from the listings (no event)."
    );
    metrics::describe_gauge!(
        FULL_SYNC_PUBLISHED,
        "Events the last successful full sync published."
    );
    metrics::describe_gauge!(
        FULL_SYNC_PROGRESS,
        "The scheduled full sync under way (or the last one), so far: PSA records listed \
         (stage=listed), linked from the listings (stage=linked), events published \
         (stage=published). Reset when a run starts."
    );
}

/// Metric handles by their (closed-set) labels, registered on first use. On the ingest's hot path,
/// `metrics::counter!` with labels would build the key (the tenant's label as a new `String`) and
/// look it up in the registry on every request; a handle found here is a read lock and an atomic.
pub struct Handles<K, M> {
    by_labels: RwLock<HashMap<K, M>>,
}

impl<K, M> Default for Handles<K, M> {
    fn default() -> Self {
        Handles {
            by_labels: RwLock::new(HashMap::new()),
        }
    }
}

impl<K: Hash + Eq + Copy, M> Handles<K, M> {
    /// Runs `use_it` on the handle for `key`, registering it with `register` the first time.
    pub fn with(&self, key: K, register: impl FnOnce() -> M, use_it: impl FnOnce(&M)) {
        if let Some(handle) = self
            .by_labels
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
        {
            return use_it(handle);
        }
        let mut by_labels = self
            .by_labels
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        use_it(by_labels.entry(key).or_insert_with(register));
    }
}

/// One configured tenant's (or `unknown`'s) ingest counters, with the same names and labels as
/// [`request`], [`verification_failure`] and [`duplicate`].
pub struct TenantCounters {
    tenant: String,
    requests: Handles<(&'static str, &'static str), Counter>,
    verification_failures: Handles<(&'static str, &'static str), Counter>,
    duplicates: Handles<&'static str, Counter>,
}

impl TenantCounters {
    pub fn new(tenant: &str) -> Self {
        TenantCounters {
            tenant: tenant.to_owned(),
            requests: Handles::default(),
            verification_failures: Handles::default(),
            duplicates: Handles::default(),
        }
    }

    /// One answered webhook request ([`request`]).
    pub fn request(&self, source: &'static str, outcome: &'static str) {
        self.requests.with(
            (source, outcome),
            || {
                metrics::counter!(REQUESTS, "tenant" => self.tenant.clone(), "source" => source, "outcome" => outcome)
            },
            |counter| counter.increment(1),
        );
    }

    /// One delivery refused by verification ([`verification_failure`]).
    pub fn verification_failure(&self, source: &'static str, reason: &'static str) {
        self.verification_failures.with(
            (source, reason),
            || {
                metrics::counter!(
                    VERIFICATION_FAILURES,
                    "tenant" => self.tenant.clone(),
                    "source" => source,
                    "reason" => reason
                )
            },
            |counter| counter.increment(1),
        );
    }

    /// A redelivery recognised by its dedup id ([`duplicate`]).
    pub fn duplicate(&self, source: &'static str) {
        self.duplicates.with(
            source,
            || metrics::counter!(DUPLICATES, "tenant" => self.tenant.clone(), "source" => source),
            |counter| counter.increment(1),
        );
    }
}

/// The publish latency histograms by source ([`publish_latency`]).
#[derive(Default)]
pub struct PublishLatency(Handles<&'static str, Histogram>);

impl PublishLatency {
    pub fn record(&self, source: &'static str, elapsed: Duration) {
        self.0.with(
            source,
            || metrics::histogram!(PUBLISH_SECONDS, "source" => source),
            |histogram| histogram.record(elapsed.as_secs_f64()),
        );
    }
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

/// A ConnectWise callback refused because the tenant's key fetches were over their limit.
pub fn key_fetch_limited(tenant: &str) {
    metrics::counter!(KEY_FETCHES_LIMITED, "tenant" => tenant.to_owned()).increment(1);
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

pub fn http_connections_open(listener: &'static str, open: usize) {
    metrics::gauge!(HTTP_CONNECTIONS_OPEN, "listener" => listener).set(open as f64);
}

pub fn http_connections_max(listener: &'static str, max: usize) {
    metrics::gauge!(HTTP_CONNECTIONS_MAX, "listener" => listener).set(max as f64);
}

/// A new connection over the cap; `action` is `closed_idle` or `refused`.
pub fn http_connection_limit_hit(listener: &'static str, action: &'static str) {
    metrics::counter!(HTTP_CONNECTION_LIMIT_HITS, "listener" => listener, "action" => action)
        .increment(1);
}

/// A connection closed by a bound; `reason` is `header_read` or `idle`.
pub fn http_connection_timed_out(listener: &'static str, reason: &'static str) {
    metrics::counter!(HTTP_CONNECTIONS_TIMED_OUT, "listener" => listener, "reason" => reason)
        .increment(1);
}

pub fn http_accept_error(listener: &'static str) {
    metrics::counter!(HTTP_ACCEPT_ERRORS, "listener" => listener).increment(1);
}

pub fn open_files_limit(soft: Option<u64>) {
    if let Some(soft) = soft {
        metrics::gauge!(OPEN_FILES_LIMIT).set(soft as f64);
    }
}

/// One consumer-info read of a tenant's worker consumer.
pub fn consumer(tenant: &str, pending: u64, ack_pending: u64, redelivered: u64) {
    let tenant = tenant.to_owned();
    metrics::gauge!(CONSUMER_PENDING, "tenant" => tenant.clone()).set(pending as f64);
    metrics::gauge!(CONSUMER_ACK_PENDING, "tenant" => tenant.clone()).set(ack_pending as f64);
    metrics::gauge!(CONSUMER_REDELIVERED, "tenant" => tenant).set(redelivered as f64);
}

/// The tenant's dead letters in SYNC_DLQ.
pub fn dlq_messages(tenant: &str, messages: u64) {
    metrics::gauge!(DLQ_MESSAGES, "tenant" => tenant.to_owned()).set(messages as f64);
}

/// A poll round of `source` that succeeded at `now` (epoch milliseconds).
pub fn poll_succeeded(tenant: &str, source: &'static str, now: i64) {
    metrics::gauge!(POLLER_LAST_SUCCESS, "tenant" => tenant.to_owned(), "source" => source)
        .set(now as f64 / 1000.0);
}

/// The cursor of one entity after a successful poll that started at `now`.
pub fn poll_cursor(tenant: &str, source: &'static str, entity: &'static str, age_ms: i64) {
    metrics::gauge!(
        POLLER_CURSOR_AGE,
        "tenant" => tenant.to_owned(),
        "source" => source,
        "entity" => entity
    )
    .set(age_ms.max(0) as f64 / 1000.0);
}

/// The configured interval of a poller, set when it starts.
pub fn poll_interval(tenant: &str, source: &'static str, interval: Duration) {
    metrics::gauge!(POLLER_INTERVAL, "tenant" => tenant.to_owned(), "source" => source)
        .set(interval.as_secs_f64());
}

pub fn poll_failed(tenant: &str, source: &'static str) {
    metrics::counter!(POLLER_FAILURES, "tenant" => tenant.to_owned(), "source" => source)
        .increment(1);
}

/// A scheduled full sync starts at `now` (epoch milliseconds): its progress starts at zero.
pub fn full_sync_started(tenant: &str, now: i64) {
    metrics::gauge!(FULL_SYNC_STARTED, "tenant" => tenant.to_owned()).set(now as f64 / 1000.0);
    for stage in ["listed", "linked", "published"] {
        full_sync_progress(tenant, stage, 0);
    }
}

/// How far the full sync under way has come: `stage` is `listed`, `linked` or `published`.
pub fn full_sync_progress(tenant: &str, stage: &'static str, records: u64) {
    metrics::gauge!(FULL_SYNC_PROGRESS, "tenant" => tenant.to_owned(), "stage" => stage)
        .set(records as f64);
}

/// What the tenant's push-all checkpoint says of its last run.
pub struct PushAllProgress {
    pub published: u64,
    pub already_linked: u64,
    pub started_at: i64,
    pub updated_at: i64,
    pub finished: bool,
}

/// The tenant's last push-all run, as its checkpoint says (read by the worker role).
pub fn push_all(tenant: &str, run: &PushAllProgress) {
    let tenant = tenant.to_owned();
    for (state, n) in [
        ("published", run.published),
        ("already_linked", run.already_linked),
    ] {
        metrics::gauge!(PUSH_ALL_RECORDS, "tenant" => tenant.clone(), "state" => state)
            .set(n as f64);
    }
    metrics::gauge!(PUSH_ALL_STARTED, "tenant" => tenant.clone())
        .set(run.started_at as f64 / 1000.0);
    metrics::gauge!(PUSH_ALL_UPDATED, "tenant" => tenant.clone())
        .set(run.updated_at as f64 / 1000.0);
    metrics::gauge!(PUSH_ALL_FINISHED, "tenant" => tenant).set(f64::from(u8::from(run.finished)));
}

/// A full sync's records listed per entity, linked per entity, and events published.
pub type FullSyncCounts<'a> = (&'a [(Entity, u64)], &'a [(Entity, u64)], u64);

/// A scheduled full sync finished: with its counts per entity (records listed, linked) and the
/// events it published when it succeeded, `None` when it failed.
pub fn full_sync_finished(tenant: &str, counts: Option<FullSyncCounts<'_>>) {
    let tenant = tenant.to_owned();
    metrics::gauge!(FULL_SYNC_FINISHED, "tenant" => tenant.clone())
        .set(super::clock::now_millis() as f64 / 1000.0);
    let outcome = if counts.is_some() { "ok" } else { "failed" };
    metrics::counter!(FULL_SYNC_RUNS, "tenant" => tenant.clone(), "outcome" => outcome)
        .increment(1);
    if let Some((listed, linked, published)) = counts {
        let sum = |per_entity: &[(Entity, u64)]| per_entity.iter().map(|(_, n)| n).sum::<u64>();
        metrics::gauge!(FULL_SYNC_LISTED, "tenant" => tenant.clone()).set(sum(listed) as f64);
        metrics::gauge!(FULL_SYNC_LINKED, "tenant" => tenant.clone()).set(sum(linked) as f64);
        metrics::gauge!(FULL_SYNC_PUBLISHED, "tenant" => tenant).set(published as f64);
    }
}
