//! Start-up set-up of the JetStream topology of DESIGN §4, idempotent: create what is missing,
//! verify what exists.
//!
//! - Streams `SYNC_EVENTS` (`sync.events.>`), `SYNC_DLQ` (`sync.dlq.>`), `SYNC_AUDIT`
//!   (`sync.audit.>`), `SYNC_ADVISORIES` (the worker consumers' MAX_DELIVERIES advisories):
//!   file storage, limits retention.
//! - KV buckets `sync_links`, `sync_leases` (short max_age: leases expire), `sync_state`.
//! - Per tenant, the durable pull consumer `sync-worker-{tenant}` ([`ensure_worker_consumer`]).
//!
//! What exists is compared with what is wanted, in two classes:
//! - **structural** settings (subjects, retention, storage, a consumer's filter and ack policy)
//!   define what the thing *is*; a difference means another deployment or a person made it for
//!   another purpose. It is never overwritten: set-up fails with [`SetupError::Incompatible`],
//!   which names every difference, and an operator decides.
//! - **limits** (max_age, duplicate_window, replicas, KV history, a consumer's max_deliver,
//!   backoff and max_ack_pending) come from our configuration, which is their source of truth:
//!   a difference is updated in place and logged with old and new values, and reported as
//!   [`SetupOutcome::Updated`].

use std::fmt;
use std::time::Duration;

use async_nats::jetstream::consumer::{self, pull, AckPolicy, DeliverPolicy, PullConsumer};
use async_nats::jetstream::context::GetStreamErrorKind;
use async_nats::jetstream::stream::{self, DiscardPolicy, RetentionPolicy, StorageType};
use async_nats::jetstream::{kv, Context, ErrorCode};
use syncbridge_model::TenantId;

use crate::connect::Connection;
use crate::names::{
    worker_consumer, worker_filter, ADVISORIES_STREAM, ADVISORIES_SUBJECTS, AUDIT_STREAM,
    AUDIT_SUBJECTS, DLQ_STREAM, DLQ_SUBJECTS, EVENTS_STREAM, EVENTS_SUBJECTS, LEASES_BUCKET,
    LINKS_BUCKET, STATE_BUCKET,
};

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// Settings of the streams and buckets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupConfig {
    /// 1 on a single node, 3 in a cluster (every stream and bucket).
    pub replicas: usize,
    /// How long `SYNC_EVENTS` keeps events for replay (default 7 days).
    pub events_max_age: Duration,
    /// How long a dedup id is recognised (default 10 minutes).
    pub duplicate_window: Duration,
    /// How long dead letters are kept (default 30 days; they hold vendor data).
    pub dlq_max_age: Duration,
    /// How long decisions are kept (default 30 days; they hold contact data).
    pub audit_max_age: Duration,
    /// Lease lifetime: how long a crashed worker's records stay blocked (default 30 s).
    pub lease_max_age: Duration,
    /// Revisions kept per key in `sync_links` and `sync_state` (for diagnosis; CAS needs 1).
    pub kv_history: i64,
}

impl Default for SetupConfig {
    fn default() -> Self {
        SetupConfig {
            replicas: 1,
            events_max_age: 7 * DAY,
            duplicate_window: Duration::from_secs(10 * 60),
            dlq_max_age: 30 * DAY,
            audit_max_age: 30 * DAY,
            lease_max_age: Duration::from_secs(30),
            kv_history: 5,
        }
    }
}

/// Settings of a tenant's worker consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerConsumerConfig {
    /// Deliveries before the MAX_DELIVERIES advisory moves an event to the DLQ.
    pub max_deliver: i64,
    /// Redelivery delays after a missed ack (it replaces ack_wait; a nak ignores it: nak with an
    /// explicit delay). Must be shorter than `max_deliver`.
    pub backoff: Vec<Duration>,
    /// Unacknowledged events in flight across all workers of the tenant.
    pub max_ack_pending: i64,
}

impl Default for WorkerConsumerConfig {
    fn default() -> Self {
        WorkerConsumerConfig {
            max_deliver: 10,
            backoff: [5, 15, 60, 300, 600]
                .into_iter()
                .map(Duration::from_secs)
                .collect(),
            max_ack_pending: 1000,
        }
    }
}

/// One setting that differs between what exists and what is wanted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub field: &'static str,
    pub wanted: String,
    pub found: String,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: wanted {}, found {}",
            self.field, self.wanted, self.found
        )
    }
}

fn list(diffs: &[Difference]) -> String {
    diffs
        .iter()
        .map(Difference::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Why set-up failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetupError {
    /// Something with our name exists with settings that make it something else. Not touched.
    #[error(
        "{kind} {name} exists with incompatible settings ({}); it was left unchanged: fix or \
         remove it, or point syncbridge at another NATS account",
        list(.differences)
    )]
    Incompatible {
        kind: &'static str,
        name: String,
        differences: Vec<Difference>,
    },
    #[error("invalid set-up configuration: {0}")]
    InvalidConfig(String),
    #[error("{kind} {name}: {reason}")]
    Failed {
        kind: &'static str,
        name: String,
        reason: String,
    },
}

/// What set-up did with one stream, bucket or consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetupOutcome {
    Created,
    /// Existed with the wanted settings.
    Unchanged,
    /// Existed; these limits were changed to the configured values.
    Updated(Vec<Difference>),
}

/// What [`setup`] did, per name (for `syncbridge setup`'s output).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupReport {
    pub items: Vec<(String, SetupOutcome)>,
}

/// Creates or verifies the streams and KV buckets. Idempotent; run at every start.
pub async fn setup(conn: &Connection, config: &SetupConfig) -> Result<SetupReport, SetupError> {
    validate(config)?;
    let js = conn.jetstream();
    let mut items = Vec::new();

    let streams = [
        (
            EVENTS_STREAM,
            EVENTS_SUBJECTS,
            config.events_max_age,
            config.duplicate_window,
        ),
        (
            DLQ_STREAM,
            DLQ_SUBJECTS,
            config.dlq_max_age,
            config.duplicate_window,
        ),
        (
            AUDIT_STREAM,
            AUDIT_SUBJECTS,
            config.audit_max_age,
            config.duplicate_window,
        ),
        (
            ADVISORIES_STREAM,
            ADVISORIES_SUBJECTS,
            config.dlq_max_age,
            config.duplicate_window,
        ),
    ];
    for (name, subjects, max_age, duplicate_window) in streams {
        let wanted = Wanted {
            kind: "stream",
            name: name.to_owned(),
            subjects: vec![subjects.to_owned()],
            max_age,
            duplicate_window: Some(duplicate_window),
            history: None,
            replicas: config.replicas,
        };
        let outcome = ensure(js, &wanted).await?;
        items.push((name.to_owned(), outcome));
    }

    let buckets = [
        (LINKS_BUCKET, config.kv_history, Duration::ZERO),
        (STATE_BUCKET, config.kv_history, Duration::ZERO),
        // History 1: only the current holder matters.
        (LEASES_BUCKET, 1, config.lease_max_age),
    ];
    for (bucket, history, max_age) in buckets {
        let wanted = Wanted {
            kind: "KV bucket",
            name: bucket.to_owned(),
            subjects: vec![format!("$KV.{bucket}.>")],
            max_age,
            // async-nats derives the KV stream's duplicate window from max_age: not ours to check.
            duplicate_window: None,
            history: Some(history),
            replicas: config.replicas,
        };
        let outcome = ensure(js, &wanted).await?;
        items.push((bucket.to_owned(), outcome));
    }
    for (name, outcome) in &items {
        tracing::info!(name, outcome = ?outcome, "nats set-up");
    }
    Ok(SetupReport { items })
}

/// For `/readyz`: connected, and every stream and bucket of [`setup`] exists. Checks existence
/// only (set-up verified the settings at start); any error counts as "not ready".
pub async fn topology_present(conn: &Connection) -> bool {
    if !conn.is_connected() {
        return false;
    }
    let js = conn.jetstream();
    for stream in [
        EVENTS_STREAM.to_owned(),
        DLQ_STREAM.to_owned(),
        AUDIT_STREAM.to_owned(),
        ADVISORIES_STREAM.to_owned(),
        format!("KV_{LINKS_BUCKET}"),
        format!("KV_{LEASES_BUCKET}"),
        format!("KV_{STATE_BUCKET}"),
    ] {
        if js.get_stream(&stream).await.is_err() {
            return false;
        }
    }
    true
}

fn validate(config: &SetupConfig) -> Result<(), SetupError> {
    let invalid = |m: String| Err(SetupError::InvalidConfig(m));
    if !(1..=5).contains(&config.replicas) {
        return invalid(format!(
            "replicas must be 1..=5 (1 single node, 3 cluster), not {}",
            config.replicas
        ));
    }
    if config.duplicate_window.is_zero() {
        return invalid("duplicate_window must be positive".into());
    }
    for (name, max_age) in [
        ("events_max_age", config.events_max_age),
        ("dlq_max_age", config.dlq_max_age),
        ("audit_max_age", config.audit_max_age),
    ] {
        if !max_age.is_zero() && max_age < config.duplicate_window {
            return invalid(format!(
                "{name} ({max_age:?}) must not be shorter than duplicate_window ({:?})",
                config.duplicate_window
            ));
        }
    }
    if config.lease_max_age < Duration::from_secs(1) {
        return invalid("lease_max_age must be at least 1 s".into());
    }
    if !(1..=64).contains(&config.kv_history) {
        return invalid(format!(
            "kv_history must be 1..=64, not {}",
            config.kv_history
        ));
    }
    Ok(())
}

/// A stream (or a KV bucket's stream) as we want it.
struct Wanted {
    kind: &'static str,
    /// The bucket name for a KV bucket; its stream is `KV_{name}`.
    name: String,
    subjects: Vec<String>,
    max_age: Duration,
    duplicate_window: Option<Duration>,
    /// KV history (max messages per subject); `None` for plain streams.
    history: Option<i64>,
    replicas: usize,
}

impl Wanted {
    fn stream_name(&self) -> String {
        if self.history.is_some() {
            format!("KV_{}", self.name)
        } else {
            self.name.clone()
        }
    }

    fn failed(&self, reason: impl fmt::Display) -> SetupError {
        SetupError::Failed {
            kind: self.kind,
            name: self.name.clone(),
            reason: reason.to_string(),
        }
    }

    /// (structural, limits) differences from an existing stream's config.
    fn compare(&self, found: &stream::Config) -> (Vec<Difference>, Vec<Difference>) {
        let mut structural = Vec::new();
        let mut limits = Vec::new();
        let diff = |into: &mut Vec<Difference>, field, wanted: String, found: String| {
            if wanted != found {
                into.push(Difference {
                    field,
                    wanted,
                    found,
                });
            }
        };
        let mut want_subjects = self.subjects.clone();
        want_subjects.sort();
        let mut found_subjects = found.subjects.clone();
        found_subjects.sort();
        diff(
            &mut structural,
            "subjects",
            format!("{want_subjects:?}"),
            format!("{found_subjects:?}"),
        );
        diff(
            &mut structural,
            "retention",
            format!("{:?}", RetentionPolicy::Limits),
            format!("{:?}", found.retention),
        );
        diff(
            &mut structural,
            "storage",
            format!("{:?}", StorageType::File),
            format!("{:?}", found.storage),
        );
        diff(
            &mut structural,
            "mirror",
            "none".into(),
            found
                .mirror
                .as_ref()
                .map_or_else(|| "none".into(), |m| m.name.clone()),
        );
        diff(
            &mut limits,
            "max_age",
            format!("{:?}", self.max_age),
            format!("{:?}", found.max_age),
        );
        if let Some(window) = self.duplicate_window {
            diff(
                &mut limits,
                "duplicate_window",
                format!("{window:?}"),
                format!("{:?}", found.duplicate_window),
            );
        }
        if let Some(history) = self.history {
            diff(
                &mut limits,
                "history",
                history.to_string(),
                found.max_messages_per_subject.to_string(),
            );
        }
        diff(
            &mut limits,
            "replicas",
            self.replicas.to_string(),
            found.num_replicas.to_string(),
        );
        (structural, limits)
    }

    async fn create(&self, js: &Context) -> Result<(), SetupError> {
        match self.history {
            Some(history) => {
                js.create_key_value(kv::Config {
                    bucket: self.name.clone(),
                    history,
                    max_age: self.max_age,
                    storage: StorageType::File,
                    num_replicas: self.replicas,
                    ..Default::default()
                })
                .await
                .map_err(|e| self.failed(format!("create failed: {e}")))?;
            }
            None => {
                js.create_stream(stream::Config {
                    name: self.name.clone(),
                    subjects: self.subjects.clone(),
                    retention: RetentionPolicy::Limits,
                    storage: StorageType::File,
                    discard: DiscardPolicy::Old,
                    max_age: self.max_age,
                    duplicate_window: self.duplicate_window.unwrap_or_default(),
                    num_replicas: self.replicas,
                    ..Default::default()
                })
                .await
                .map_err(|e| self.failed(format!("create failed: {e}")))?;
            }
        }
        Ok(())
    }
}

/// The existing config of a stream, or `None` if it does not exist.
async fn existing(js: &Context, wanted: &Wanted) -> Result<Option<stream::Config>, SetupError> {
    match js.get_stream(wanted.stream_name()).await {
        Ok(stream) => Ok(Some(stream.cached_info().config.clone())),
        Err(e) => match e.kind() {
            GetStreamErrorKind::JetStream(js_err)
                if js_err.error_code() == ErrorCode::STREAM_NOT_FOUND =>
            {
                Ok(None)
            }
            _ => Err(wanted.failed(format!("cannot read its settings: {e}"))),
        },
    }
}

async fn ensure(js: &Context, wanted: &Wanted) -> Result<SetupOutcome, SetupError> {
    let found = match existing(js, wanted).await? {
        Some(found) => found,
        None => match wanted.create(js).await {
            Ok(()) => return Ok(SetupOutcome::Created),
            // Another process may have created it at the same moment: verify what is there.
            Err(create_err) => existing(js, wanted).await?.ok_or(create_err)?,
        },
    };
    let (structural, limits) = wanted.compare(&found);
    if !structural.is_empty() {
        return Err(SetupError::Incompatible {
            kind: wanted.kind,
            name: wanted.name.clone(),
            differences: structural,
        });
    }
    if limits.is_empty() {
        return Ok(SetupOutcome::Unchanged);
    }
    tracing::warn!(
        kind = wanted.kind,
        name = %wanted.name,
        changes = %list(&limits),
        "updating limits to the configured values"
    );
    let mut updated = found;
    updated.max_age = wanted.max_age;
    if let Some(window) = wanted.duplicate_window {
        updated.duplicate_window = window;
    }
    if let Some(history) = wanted.history {
        updated.max_messages_per_subject = history;
    }
    updated.num_replicas = wanted.replicas;
    // The server refuses a duplicate window longer than max_age (a KV bucket's window is derived
    // from its max_age when it is created, so shortening the max_age must shorten it too).
    if !updated.max_age.is_zero() && updated.duplicate_window > updated.max_age {
        updated.duplicate_window = updated.max_age;
    }
    js.update_stream(&updated)
        .await
        .map_err(|e| wanted.failed(format!("update of {} failed: {e}", list(&limits))))?;
    Ok(SetupOutcome::Updated(limits))
}

/// Creates or verifies the durable pull consumer `sync-worker-{tenant}` (filter
/// `sync.events.{tenant}.>`, AckExplicit) and returns it. Several worker processes share it.
pub async fn ensure_worker_consumer(
    conn: &Connection,
    tenant: &TenantId,
    config: &WorkerConsumerConfig,
) -> Result<(PullConsumer, SetupOutcome), SetupError> {
    let name = worker_consumer(tenant);
    let failed = |reason: String| SetupError::Failed {
        kind: "consumer",
        name: name.clone(),
        reason,
    };
    if config.max_deliver < 1 {
        return Err(SetupError::InvalidConfig(format!(
            "max_deliver must be at least 1, not {}",
            config.max_deliver
        )));
    }
    if config.backoff.len() as i64 >= config.max_deliver {
        return Err(SetupError::InvalidConfig(format!(
            "backoff has {} steps; the server requires fewer than max_deliver ({})",
            config.backoff.len(),
            config.max_deliver
        )));
    }
    let wanted = pull::Config {
        durable_name: Some(name.clone()),
        description: Some(format!("syncbridge workers of tenant {tenant}")),
        filter_subject: worker_filter(tenant),
        ack_policy: AckPolicy::Explicit,
        deliver_policy: DeliverPolicy::All,
        max_deliver: config.max_deliver,
        backoff: config.backoff.clone(),
        max_ack_pending: config.max_ack_pending,
        ..Default::default()
    };

    let js = conn.jetstream();
    let stream = js.get_stream(EVENTS_STREAM).await.map_err(|e| {
        failed(format!(
            "stream {EVENTS_STREAM} unavailable (run setup first): {e}"
        ))
    })?;
    let info = match stream.consumer_info(&name).await {
        Ok(info) => info,
        Err(e) if e.kind() == consumer_not_found() => {
            match stream.create_consumer(wanted.clone()).await {
                Ok(consumer) => return Ok((consumer, SetupOutcome::Created)),
                // A concurrent start may have created it: verify below.
                Err(create_err) => stream
                    .consumer_info(&name)
                    .await
                    .map_err(|_| failed(format!("create failed: {create_err}")))?,
            }
        }
        Err(e) => return Err(failed(format!("cannot read its settings: {e}"))),
    };

    let (structural, limits) = compare_consumer(&wanted, &info.config);
    if !structural.is_empty() {
        return Err(SetupError::Incompatible {
            kind: "consumer",
            name,
            differences: structural,
        });
    }
    let outcome = if limits.is_empty() {
        SetupOutcome::Unchanged
    } else {
        tracing::warn!(consumer = %name, changes = %list(&limits), "updating consumer limits");
        js.update_consumer_on_stream(wanted, EVENTS_STREAM)
            .await
            .map_err(|e| failed(format!("update of {} failed: {e}", list(&limits))))?;
        SetupOutcome::Updated(limits)
    };
    let consumer = stream
        .get_consumer::<pull::Config>(&name)
        .await
        .map_err(|e| failed(e.to_string()))?;
    Ok((consumer, outcome))
}

fn consumer_not_found() -> async_nats::jetstream::context::ConsumerInfoErrorKind {
    async_nats::jetstream::context::ConsumerInfoErrorKind::NotFound
}

fn compare_consumer(
    wanted: &pull::Config,
    found: &consumer::Config,
) -> (Vec<Difference>, Vec<Difference>) {
    let mut structural = Vec::new();
    let mut limits = Vec::new();
    let diff = |into: &mut Vec<Difference>, field, wanted: String, found: String| {
        if wanted != found {
            into.push(Difference {
                field,
                wanted,
                found,
            });
        }
    };
    let found_filter = if found.filter_subjects.is_empty() {
        found.filter_subject.clone()
    } else {
        found.filter_subjects.join(",")
    };
    diff(
        &mut structural,
        "filter_subject",
        wanted.filter_subject.clone(),
        found_filter,
    );
    diff(
        &mut structural,
        "ack_policy",
        format!("{:?}", wanted.ack_policy),
        format!("{:?}", found.ack_policy),
    );
    diff(
        &mut structural,
        "durable",
        format!("{:?}", wanted.durable_name),
        format!("{:?}", found.durable_name),
    );
    diff(
        &mut limits,
        "max_deliver",
        wanted.max_deliver.to_string(),
        found.max_deliver.to_string(),
    );
    diff(
        &mut limits,
        "backoff",
        format!("{:?}", wanted.backoff),
        format!("{:?}", found.backoff),
    );
    diff(
        &mut limits,
        "max_ack_pending",
        wanted.max_ack_pending.to_string(),
        found.max_ack_pending.to_string(),
    );
    (structural, limits)
}
