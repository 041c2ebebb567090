//! The operations tools on the streams: dead letters (filed, listed, shown, retried, dropped),
//! the MAX_DELIVERIES mover, the audit log, and replay — against a real nats-server.

use std::time::Duration;

use async_nats::jetstream::AckKind;
use bytes::Bytes;
use futures_util::StreamExt;
use syncbridge_bus::{
    ensure_worker_consumer, replay, AuditLog, DeadLetterMover, DeadLetters, EventPublisher,
    ReplayFrom, ReplayRequest, ReplayUntil, WorkerConsumerConfig, REPLAY_OF,
};
use syncbridge_model::{headers, ChangeEvent, Entity, TenantId};

use crate::common::{event, ready_server, tenant, OP_TIMEOUT, PATIENCE};

async fn stream_count(conn: &syncbridge_bus::Connection, stream: &str) -> u64 {
    let mut s = conn.jetstream().get_stream(stream).await.unwrap();
    s.info().await.unwrap().state.messages
}

#[tokio::test]
async fn dead_letters_are_filed_listed_retried_and_dropped() {
    let (_server, conn) = ready_server().await;
    let publisher = EventPublisher::new(conn.clone(), OP_TIMEOUT);
    let body = Bytes::from_static(br#"{"vendor":"raw body"}"#);
    let seq = publisher
        .publish(&event(Some("m-1")), body.clone())
        .await
        .unwrap()
        .stream_seq;

    let dlq = DeadLetters::new(conn.clone(), OP_TIMEOUT);
    let stored = dlq.stored_event(seq).await.unwrap();
    let error = "IT Glue answered 422:\nrecord is managed by the native PSA integration";
    let dlq_seq = dlq
        .send(&stored, error, 1, 1_700_000_000_500)
        .await
        .unwrap();
    // Filing the same event again (worker and mover racing) files nothing new.
    let again = dlq
        .send(&stored, error, 1, 1_700_000_000_600)
        .await
        .unwrap();
    assert_eq!(again, dlq_seq);
    assert_eq!(stream_count(&conn, "SYNC_DLQ").await, 1);

    let listed = dlq.list(&tenant(), 100).await.unwrap();
    assert_eq!(listed.len(), 1);
    let letter = &listed[0];
    assert_eq!(letter.seq, dlq_seq);
    assert_eq!(letter.body, body, "raw body kept byte for byte");
    assert_eq!(letter.original_seq, seq);
    assert_eq!(
        letter.original_subject,
        "sync.events.acme.connectwise.organization"
    );
    assert_eq!(letter.attempts, 1);
    assert!(letter.error.starts_with("IT Glue answered 422: record"));
    let envelope = letter.event.as_ref().expect("envelope");
    assert_eq!(envelope.msg_id.as_deref(), Some("m-1"));
    assert_eq!(envelope.record_id.as_deref(), Some("42"));
    assert_eq!(
        (&letter.tenant, letter.entity),
        (&tenant(), Some(Entity::Organization))
    );
    assert_eq!(dlq.show(dlq_seq).await.unwrap(), *letter);
    let other = TenantId::new("globex").unwrap();
    assert!(dlq.list(&other, 100).await.unwrap().is_empty());

    // Retry: back on the original subject with a fresh dedup id, gone from the DLQ.
    let retried = dlq.retry(dlq_seq).await.unwrap();
    assert!(
        !retried.duplicate,
        "a retry must not be swallowed by the original's dedup id"
    );
    assert_eq!(stream_count(&conn, "SYNC_EVENTS").await, 2);
    let copy = dlq.stored_event(retried.stream_seq).await.unwrap();
    assert_eq!(copy.subject, letter.original_subject);
    assert_eq!(copy.body, body);
    assert!(dlq.list(&tenant(), 100).await.unwrap().is_empty());
    assert!(matches!(
        dlq.show(dlq_seq).await,
        Err(syncbridge_bus::OpsError::NotFound { .. })
    ));

    // Drop.
    let seq2 = publisher
        .publish(&event(Some("m-2")), body.clone())
        .await
        .unwrap()
        .stream_seq;
    let stored2 = dlq.stored_event(seq2).await.unwrap();
    let dlq_seq2 = dlq.send(&stored2, "permanent", 1, 0).await.unwrap();
    assert!(dlq.drop(dlq_seq2).await.unwrap());
    assert!(dlq.list(&tenant(), 100).await.unwrap().is_empty());
}

#[tokio::test]
async fn an_event_that_exhausts_its_deliveries_reaches_the_dlq() {
    let (_server, conn) = ready_server().await;
    let config = WorkerConsumerConfig {
        max_deliver: 2,
        backoff: vec![Duration::from_millis(200)],
        max_ack_pending: 10,
    };
    let (consumer, _) = ensure_worker_consumer(&conn, &tenant(), &config)
        .await
        .unwrap();
    let publisher = EventPublisher::new(conn.clone(), OP_TIMEOUT);
    let seq = publisher
        .publish(&event(Some("doomed")), Bytes::from_static(b"{}"))
        .await
        .unwrap()
        .stream_seq;

    // A worker fails the event on every delivery (the second time, as if killed: no answer).
    let mut messages = consumer.messages().await.unwrap();
    let first = messages.next().await.unwrap().unwrap();
    first.ack_with(AckKind::Nak(None)).await.unwrap();
    let second = messages.next().await.unwrap().unwrap();
    assert_eq!(second.info().unwrap().delivered, 2);
    drop(messages);

    let mover = DeadLetterMover::open(&conn, OP_TIMEOUT).await.unwrap();
    let dlq = DeadLetters::new(conn.clone(), OP_TIMEOUT);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        mover
            .run_once(10, Duration::from_millis(500), 1_700_000_001_000)
            .await
            .unwrap();
        let listed = dlq.list(&tenant(), 10).await.unwrap();
        if let Some(letter) = listed.first() {
            assert_eq!(letter.original_seq, seq);
            assert_eq!(letter.attempts, 2);
            assert!(letter.error.contains("max_deliver"), "{}", letter.error);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never reached the DLQ"
        );
    }
    // Running the mover again files nothing twice.
    mover
        .run_once(10, Duration::from_millis(200), 1_700_000_002_000)
        .await
        .unwrap();
    assert_eq!(stream_count(&conn, "SYNC_DLQ").await, 1);
}

#[tokio::test]
async fn decisions_are_audited_per_tenant_and_entity() {
    let (_server, conn) = ready_server().await;
    let audit = AuditLog::new(conn.clone(), OP_TIMEOUT);
    let record = serde_json::json!({"rule": "psa_wins", "record": "42"});
    let seq = audit
        .record(&tenant(), Entity::Contact, &record)
        .await
        .unwrap();
    let stream = conn.jetstream().get_stream("SYNC_AUDIT").await.unwrap();
    let msg = stream.get_raw_message(seq).await.unwrap();
    assert_eq!(msg.subject.as_str(), "sync.audit.acme.contact");
    let back: serde_json::Value = serde_json::from_slice(&msg.payload).unwrap();
    assert_eq!(back, record);

    // `links explain` finds a record's decisions, the last few, oldest first.
    for n in 0..5 {
        let other = serde_json::json!({"rule": "no_echo", "record": "99", "n": n});
        audit
            .record(&tenant(), Entity::Contact, &other)
            .await
            .unwrap();
        let ours = serde_json::json!({"rule": "psa_wins", "record": "42", "n": n});
        audit
            .record(&tenant(), Entity::Contact, &ours)
            .await
            .unwrap();
    }
    let found = audit
        .find(&tenant(), Entity::Contact, 3, |v| v["record"] == "42")
        .await
        .unwrap();
    let ns: Vec<_> = found.iter().map(|v| v["n"].as_i64().unwrap()).collect();
    assert_eq!(ns, vec![2, 3, 4]);
    assert!(audit
        .find(&tenant(), Entity::Location, 3, |_| true)
        .await
        .unwrap()
        .is_empty());
}

fn entity_event(tenant: &str, entity: Entity, id: &str) -> ChangeEvent {
    let mut e = event(Some(id));
    e.tenant = TenantId::new(tenant).unwrap();
    e.entity = Some(entity);
    e.record_id = Some(id.to_owned());
    e
}

#[tokio::test]
async fn replay_republishes_a_tenants_stretch_once() {
    let (_server, conn) = ready_server().await;
    let publisher = EventPublisher::new(conn.clone(), OP_TIMEOUT);
    for (tenant, entity, id) in [
        ("acme", Entity::Organization, "o1"),
        ("acme", Entity::Contact, "c1"),
        ("globex", Entity::Organization, "g1"),
        ("acme", Entity::Organization, "o2"),
        ("acme", Entity::Contact, "c2"),
    ] {
        let body = Bytes::from(format!("{{\"id\":\"{id}\"}}"));
        publisher
            .publish(&entity_event(tenant, entity, id), body)
            .await
            .unwrap();
    }
    let request = |from, entity, dry_run, run_id: &str| ReplayRequest {
        tenant: tenant(),
        from,
        until: None,
        entity,
        dry_run,
        run_id: run_id.to_owned(),
    };
    let timeout = Duration::from_secs(2);

    let dry = replay(
        &conn,
        &request(ReplayFrom::Seq(1), None, true, "r0"),
        timeout,
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!((dry.matched, dry.published), (4, 0));
    assert_eq!(stream_count(&conn, "SYNC_EVENTS").await, 5);

    let contacts = replay(
        &conn,
        &request(ReplayFrom::Seq(1), Some(Entity::Contact), false, "r1"),
        timeout,
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!((contacts.matched, contacts.published), (2, 2));

    // From sequence 4 on: o2, c2 and the two contact copies (6, 7) — up to the last event at the
    // start, never the copies this replay makes itself (8..=11).
    let tail = replay(
        &conn,
        &request(ReplayFrom::Seq(4), None, false, "r2"),
        timeout,
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!((tail.matched, tail.published), (4, 4));
    assert_eq!(tail.last_seq, 7);
    assert_eq!(stream_count(&conn, "SYNC_EVENTS").await, 11);

    // Re-running a run id over the same stretch publishes nothing twice.
    let request_again = ReplayRequest {
        until: Some(ReplayUntil::Seq(tail.last_seq)),
        ..request(ReplayFrom::Seq(4), None, false, "r2")
    };
    let again = replay(&conn, &request_again, timeout, |_| {})
        .await
        .unwrap();
    assert_eq!(
        (again.matched, again.published, again.duplicates),
        (4, 0, 4)
    );
    assert_eq!(stream_count(&conn, "SYNC_EVENTS").await, 11);

    // A copy keeps the body and envelope, names its original and has a fresh dedup id.
    let stream = conn.jetstream().get_stream("SYNC_EVENTS").await.unwrap();
    let copy = stream.get_raw_message(8).await.unwrap();
    assert_eq!(copy.payload, Bytes::from_static(br#"{"id":"o2"}"#));
    assert_eq!(copy.headers.get(REPLAY_OF).unwrap().as_str(), "4");
    assert_eq!(
        copy.headers.get(headers::MSG_ID).unwrap().as_str(),
        "replay:r2:4"
    );
    assert_eq!(copy.headers.get(headers::RECORD_ID).unwrap().as_str(), "o2");

    // By time: everything received from now on is nothing.
    let now = time::OffsetDateTime::now_utc().unix_timestamp() * 1000 + 60_000;
    let none = replay(
        &conn,
        &request(ReplayFrom::Time(now), None, false, "r3"),
        timeout,
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(none.matched, 0);
    let all = replay(
        &conn,
        &request(ReplayFrom::Time(0), None, true, "r4"),
        timeout,
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(
        all.matched, 10,
        "every acme event and copy, none of globex's"
    );
}
