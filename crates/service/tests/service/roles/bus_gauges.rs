//! The worker role's bus gauges on `/metrics`: a tenant's worker-consumer backlog, its dead
//! letters in `SYNC_DLQ` and its last push-all run, per configured tenant (a tenant with none
//! reads 0, another tenant's dead letters are not counted in it, a tenant that never pushed all
//! has no push-all series).
//!
//! The recorder is process-wide and shared by the tests of this binary; only this test sets these
//! gauges in this process (the `serve` processes of other tests have their own).

use std::time::Duration;

use bytes::Bytes;
use syncbridge::commands::push_all::{Checkpoint, EntityCounts, CHECKPOINT};
use syncbridge_bus::{
    ensure_worker_consumer, DeadLetters, EventPublisher, StateKey, StateStore, WorkerConsumerConfig,
};
use syncbridge_model::{ChangeAction, ChangeEvent, Entity, EventSource, PsaKind, TenantId};

use crate::common::Harness;

/// The value of the series `series` in the Prometheus text, `None` when absent.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

#[tokio::test]
async fn consumer_backlog_and_dead_letters_are_read_per_tenant() {
    let h = Harness::start().await;
    let (acme, globex) = (
        TenantId::new("acme").unwrap(),
        TenantId::new("globex").unwrap(),
    );
    let timeout = Duration::from_secs(5);
    ensure_worker_consumer(&h.conn, &acme, &WorkerConsumerConfig::default())
        .await
        .expect("the worker consumer");
    // Three events of acme nobody consumes; one of them filed as a dead letter.
    let publisher = EventPublisher::new(h.conn.clone(), timeout);
    let mut seqs = Vec::new();
    for id in ["1", "2", "3"] {
        let event = ChangeEvent {
            tenant: acme.clone(),
            source: EventSource::Psa(PsaKind::ConnectWise),
            entity: Some(Entity::Contact),
            record_id: Some(id.into()),
            action: ChangeAction::Upsert,
            received_at: 0,
            msg_id: Some(format!("gauges-{id}")),
        };
        let published = publisher.publish(&event, Bytes::new()).await.unwrap();
        seqs.push(published.stream_seq);
    }
    let dlq = DeadLetters::new(h.conn.clone(), timeout);
    let stored = dlq.stored_event(seqs[0]).await.unwrap();
    dlq.send(&stored, "IT Glue answered 422", 3, 0)
        .await
        .unwrap();

    // A push-all of acme under way: organizations done, contacts up to id 40.
    let counts = |published, already_linked| EntityCounts {
        published,
        already_linked,
        duplicates: 0,
    };
    let run = Checkpoint {
        run: "push-all-1".into(),
        started_at: 1_700_000_000_000,
        updated_at: 1_700_000_060_000,
        entity: Some(Entity::Contact),
        after: Some("40".into()),
        finished: false,
        counts: vec![
            (Entity::Organization, counts(12, 30)),
            (Entity::Contact, counts(5, 2)),
        ],
    };
    let state = StateStore::open(&h.conn, timeout).await.unwrap();
    let key = StateKey::checkpoint(&acme, CHECKPOINT).unwrap();
    state.set(&key, &run, None).await.unwrap();

    syncbridge::roles::bus_gauges::read_once(&h.conn, &[acme, globex]).await;
    let text = h.get("/metrics").await.1;
    let gauge = |series: &str| value(&text, series);
    assert_eq!(
        gauge(r#"syncbridge_consumer_pending{tenant="acme"}"#),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        gauge(r#"syncbridge_consumer_ack_pending{tenant="acme"}"#),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        gauge(r#"syncbridge_consumer_redelivered{tenant="acme"}"#),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        gauge(r#"syncbridge_dlq_messages{tenant="acme"}"#),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        gauge(r#"syncbridge_dlq_messages{tenant="globex"}"#),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        gauge(r#"syncbridge_push_all_records{tenant="acme",state="published"}"#),
        Some(17.0),
        "{text}"
    );
    assert_eq!(
        gauge(r#"syncbridge_push_all_records{tenant="acme",state="already_linked"}"#),
        Some(32.0),
        "{text}"
    );
    assert_eq!(
        gauge(r#"syncbridge_push_all_started_timestamp_seconds{tenant="acme"}"#),
        Some(1_700_000_000.0),
        "{text}"
    );
    assert_eq!(
        gauge(r#"syncbridge_push_all_updated_timestamp_seconds{tenant="acme"}"#),
        Some(1_700_000_060.0),
        "{text}"
    );
    assert_eq!(
        gauge(r#"syncbridge_push_all_finished{tenant="acme"}"#),
        Some(0.0),
        "{text}"
    );
    assert!(
        !text.contains(r#"syncbridge_push_all_finished{tenant="globex"}"#),
        "{text}"
    );
    // globex has no worker consumer here: its backlog is not made up.
    assert_eq!(
        gauge(r#"syncbridge_consumer_pending{tenant="globex"}"#),
        None,
        "{text}"
    );
}
