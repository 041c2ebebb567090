//! The consume loop: events published to `SYNC_EVENTS` become writes; an unusable event reaches
//! the DLQ and is not redelivered.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::common::*;
use async_nats::jetstream::consumer::Info as ConsumerInfo;
use bytes::Bytes;
use syncbridge_bus::{
    ensure_worker_consumer, DeadLetters, EventPublisher, PullConsumer, WorkerConsumerConfig,
};
use syncbridge_model::{Entity, Field, Record};
use syncbridge_worker::consume;

#[tokio::test]
async fn published_events_are_applied_and_unusable_ones_are_dead_lettered() {
    let h = Harness::<Nats>::start().await;
    let worker = h.worker(settings(false), "w1");
    h.psa.seed(
        Entity::Organization,
        Record::new("p1")
            .with(Field::Name, "Acme")
            .with(Field::Type, "Customer")
            .with(Field::Status, "Active"),
    );
    let (consumer, _) =
        ensure_worker_consumer(&h.backend.conn, &tenant(), &WorkerConsumerConfig::default())
            .await
            .unwrap();
    let timeout = Duration::from_secs(5);
    let publisher = EventPublisher::new(h.backend.conn.clone(), timeout);
    publisher
        .publish(
            &psa_event(Entity::Organization, "p1"),
            Bytes::from_static(b"{}"),
        )
        .await
        .unwrap();
    // An event without an envelope (not something ingest would publish).
    h.backend
        .conn
        .jetstream()
        .publish(
            "sync.events.acme.connectwise.organization",
            Bytes::from_static(b"?"),
        )
        .await
        .unwrap()
        .await
        .unwrap();

    let dead_letters = DeadLetters::new(h.backend.conn.clone(), timeout);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let itg = h.itg.clone();
    let dlq = dead_letters.clone();
    let watcher = tokio::spawn(async move {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let done = itg.all(Entity::Organization).len() == 1
                && dlq.list(&tenant(), 10).await.map(|l| l.len()).unwrap_or(0) == 1;
            if done || tokio::time::Instant::now() > deadline {
                let _ = stop.send(());
                return done;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let counts = consume::run(&worker, &consumer, &dead_letters, 4, || T0, async {
        let _ = stopped.await;
    })
    .await
    .unwrap();
    assert!(
        watcher.await.unwrap(),
        "the event was applied and the bad one dead-lettered"
    );
    assert_eq!((counts.done, counts.dead_lettered), (1, 1));
    let letters = dead_letters.list(&tenant(), 10).await.unwrap_or_default();
    assert!(letters.is_empty() || letters[0].error.contains("envelope"));
    let info = settled_info(&consumer).await;
    assert_eq!(info.num_ack_pending, 0, "nothing left to redeliver");
}

/// The consumer's state once the answers sent have been processed: the server applies acks after
/// they are sent, and an unanswered message stays pending until its first redelivery backoff (5 s),
/// well after these 3 s.
async fn settled_info(consumer: &PullConsumer) -> ConsumerInfo {
    let mut info = consumer.clone().info().await.unwrap().clone();
    for _ in 0..30 {
        if info.num_ack_pending == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        info = consumer.clone().info().await.unwrap().clone();
    }
    info
}

/// Seeds `n` PSA organizations (distinct records) and publishes an event for each; returns the
/// tenant's consumer and the DLQ to consume them with.
async fn new_organizations_to_consume(h: &Harness<Nats>, n: usize) -> (PullConsumer, DeadLetters) {
    let publisher = EventPublisher::new(h.backend.conn.clone(), Duration::from_secs(5));
    for i in 0..n {
        let id = format!("p{i}");
        h.psa.seed(
            Entity::Organization,
            Record::new(&id)
                .with(Field::Name, format!("Org {i}"))
                .with(Field::Type, "Customer")
                .with(Field::Status, "Active"),
        );
        publisher
            .publish(
                &psa_event(Entity::Organization, &id),
                Bytes::from_static(b"{}"),
            )
            .await
            .unwrap();
    }
    let (consumer, _) =
        ensure_worker_consumer(&h.backend.conn, &tenant(), &WorkerConsumerConfig::default())
            .await
            .unwrap();
    (
        consumer,
        DeadLetters::new(h.backend.conn.clone(), Duration::from_secs(5)),
    )
}

#[tokio::test]
async fn events_of_different_records_are_handled_side_by_side_each_answered_on_its_own() {
    let h = Harness::<Nats>::start().await;
    let worker = h.worker(settings(false), "w1");
    h.psa.read_delay_ms.store(100, Ordering::SeqCst);
    let (consumer, dead_letters) = new_organizations_to_consume(&h, 24).await;
    let itg = h.itg.clone();
    let all_created = async move {
        while itg.all(Entity::Organization).len() < 24 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let counts = tokio::time::timeout(
        Duration::from_secs(120),
        consume::run(&worker, &consumer, &dead_letters, 8, || T0, all_created),
    )
    .await
    .expect("every event handled")
    .unwrap();
    assert_eq!(counts.done, 24);
    assert_eq!(h.itg.all(Entity::Organization).len(), 24, "one record each");
    let most = h.psa.most_reads_in_flight.load(Ordering::SeqCst);
    assert!(most > 1, "events were handled one at a time");
    let info = settled_info(&consumer).await;
    assert_eq!(info.num_ack_pending, 0, "every message answered");
}

#[tokio::test]
async fn shutdown_lets_the_events_in_flight_finish_and_fetches_no_more() {
    let h = Harness::<Nats>::start().await;
    let worker = h.worker(settings(false), "w1");
    h.psa.read_delay_ms.store(200, Ordering::SeqCst);
    let (consumer, dead_letters) = new_organizations_to_consume(&h, 40).await;
    // Shut down as soon as the first event has read its record: the others in flight are
    // mid-way through their reads.
    let psa = h.psa.clone();
    let first_read = async move {
        while psa.most_reads_in_flight.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    let counts = consume::run(&worker, &consumer, &dead_letters, 8, || T0, first_read)
        .await
        .unwrap();
    assert!(counts.done >= 1 && counts.done < 40, "{counts:?}");
    assert_eq!(counts.retried + counts.dead_lettered, 0);
    let info = settled_info(&consumer).await;
    assert_eq!(
        info.num_ack_pending, 0,
        "nothing fetched was left unanswered"
    );
    assert_eq!(
        info.num_pending,
        40 - counts.done,
        "what was not handled is still waiting in the stream"
    );
    assert_eq!(h.itg.all(Entity::Organization).len() as u64, counts.done);
}
