//! Set-up is idempotent, updates configured limits, and refuses incompatible streams and consumers.

use crate::common;

use std::time::Duration;

use async_nats::jetstream::consumer::pull;
use async_nats::jetstream::stream::{self, RetentionPolicy};
use syncbridge_bus::names::{EVENTS_STREAM, LEASES_BUCKET, LINKS_BUCKET, STATE_BUCKET};
use syncbridge_bus::{
    ensure_worker_consumer, setup, topology_present, SetupConfig, SetupError, SetupOutcome,
    WorkerConsumerConfig,
};

#[tokio::test]
async fn setup_creates_everything_then_is_idempotent() {
    let (_server, conn) = common::server().await;
    assert!(!topology_present(&conn).await, "nothing set up yet");
    let first = setup(&conn, &SetupConfig::default())
        .await
        .expect("first setup");
    let names: Vec<&str> = first.items.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "SYNC_EVENTS",
            "SYNC_DLQ",
            "SYNC_AUDIT",
            "SYNC_ADVISORIES",
            LINKS_BUCKET,
            STATE_BUCKET,
            LEASES_BUCKET
        ]
    );
    assert!(
        first.items.iter().all(|(_, o)| *o == SetupOutcome::Created),
        "{first:?}"
    );

    assert!(topology_present(&conn).await);
    let second = setup(&conn, &SetupConfig::default())
        .await
        .expect("second setup");
    assert!(
        second
            .items
            .iter()
            .all(|(_, o)| *o == SetupOutcome::Unchanged),
        "{second:?}"
    );

    let mut info = conn.jetstream().get_stream(EVENTS_STREAM).await.unwrap();
    let config = &info.info().await.unwrap().config;
    assert_eq!(config.subjects, ["sync.events.>"]);
    assert_eq!(config.retention, RetentionPolicy::Limits);
    assert_eq!(config.max_age, Duration::from_secs(7 * 24 * 3600));
    assert_eq!(config.duplicate_window, Duration::from_secs(600));

    let leases = conn.jetstream().get_stream("KV_sync_leases").await.unwrap();
    assert_eq!(leases.cached_info().config.max_age, Duration::from_secs(30));
}

#[tokio::test]
async fn changed_limits_are_updated_and_reported() {
    let (_server, conn) = common::ready_server().await;
    let config = SetupConfig {
        duplicate_window: Duration::from_secs(120),
        lease_max_age: Duration::from_secs(10),
        ..SetupConfig::default()
    };
    let report = setup(&conn, &config).await.expect("setup with new limits");
    let outcome = |name: &str| {
        report
            .items
            .iter()
            .find(|(n, _)| n == name)
            .unwrap()
            .1
            .clone()
    };
    match outcome(EVENTS_STREAM) {
        SetupOutcome::Updated(diffs) => assert_eq!(diffs[0].field, "duplicate_window"),
        other => panic!("expected an update, got {other:?}"),
    }
    assert!(matches!(outcome(LEASES_BUCKET), SetupOutcome::Updated(_)));
    assert_eq!(outcome(LINKS_BUCKET), SetupOutcome::Unchanged);
    let events = conn.jetstream().get_stream(EVENTS_STREAM).await.unwrap();
    assert_eq!(
        events.cached_info().config.duplicate_window,
        Duration::from_secs(120)
    );
}

#[tokio::test]
async fn a_stream_with_other_subjects_or_retention_is_refused_not_overwritten() {
    let (_server, conn) = common::server().await;
    conn.jetstream()
        .create_stream(stream::Config {
            name: EVENTS_STREAM.into(),
            subjects: vec!["other.>".into()],
            retention: RetentionPolicy::WorkQueue,
            ..Default::default()
        })
        .await
        .unwrap();

    let err = setup(&conn, &SetupConfig::default()).await.unwrap_err();
    match &err {
        SetupError::Incompatible {
            kind,
            name,
            differences,
        } => {
            assert_eq!(*kind, "stream");
            assert_eq!(name, EVENTS_STREAM);
            let fields: Vec<_> = differences.iter().map(|d| d.field).collect();
            assert_eq!(fields, ["subjects", "retention"]);
        }
        other => panic!("expected Incompatible, got {other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.contains("SYNC_EVENTS") && message.contains("other.>"),
        "{message}"
    );

    // Left as it was.
    let stream = conn.jetstream().get_stream(EVENTS_STREAM).await.unwrap();
    assert_eq!(stream.cached_info().config.subjects, ["other.>"]);
}

#[tokio::test]
async fn worker_consumer_is_created_then_verified() {
    let (_server, conn) = common::ready_server().await;
    let tenant = common::tenant();
    let config = WorkerConsumerConfig::default();
    let (mut consumer, outcome) = ensure_worker_consumer(&conn, &tenant, &config)
        .await
        .unwrap();
    assert_eq!(outcome, SetupOutcome::Created);
    let info = consumer.info().await.unwrap();
    assert_eq!(info.name, "sync-worker-acme");
    assert_eq!(info.config.filter_subject, "sync.events.acme.>");
    assert_eq!(info.config.max_deliver, 10);
    assert_eq!(info.config.backoff, config.backoff);

    let (_, again) = ensure_worker_consumer(&conn, &tenant, &config)
        .await
        .unwrap();
    assert_eq!(again, SetupOutcome::Unchanged);

    let more = WorkerConsumerConfig {
        max_deliver: 20,
        ..config
    };
    let (_, updated) = ensure_worker_consumer(&conn, &tenant, &more).await.unwrap();
    assert!(
        matches!(updated, SetupOutcome::Updated(ref d) if d[0].field == "max_deliver"),
        "{updated:?}"
    );
}

#[tokio::test]
async fn a_worker_consumer_with_another_filter_is_refused() {
    let (_server, conn) = common::ready_server().await;
    let stream = conn.jetstream().get_stream(EVENTS_STREAM).await.unwrap();
    stream
        .create_consumer(pull::Config {
            durable_name: Some("sync-worker-acme".into()),
            filter_subject: "sync.events.other.>".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let err = ensure_worker_consumer(&conn, &common::tenant(), &WorkerConsumerConfig::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SetupError::Incompatible { differences, .. } if differences[0].field == "filter_subject"),
        "{err:?}"
    );
}

#[tokio::test]
async fn invalid_settings_are_refused_before_touching_the_server() {
    let (_server, conn) = common::server().await;
    let bad = SetupConfig {
        replicas: 0,
        ..SetupConfig::default()
    };
    assert!(matches!(
        setup(&conn, &bad).await,
        Err(SetupError::InvalidConfig(_))
    ));
    let too_many_steps = WorkerConsumerConfig {
        max_deliver: 2,
        ..WorkerConsumerConfig::default()
    };
    assert!(matches!(
        ensure_worker_consumer(&conn, &common::tenant(), &too_many_steps).await,
        Err(SetupError::InvalidConfig(_))
    ));
}
