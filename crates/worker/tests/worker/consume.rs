//! The consume loop: events published to `SYNC_EVENTS` become writes; an unusable event reaches
//! the DLQ and is not redelivered.

use std::time::Duration;

use crate::common::*;
use bytes::Bytes;
use syncbridge_bus::{ensure_worker_consumer, DeadLetters, EventPublisher, WorkerConsumerConfig};
use syncbridge_model::{Entity, Field, Record};
use syncbridge_worker::consume;

#[tokio::test]
async fn published_events_are_applied_and_unusable_ones_are_dead_lettered() {
    let h = Harness::start().await;
    let worker = h.worker(settings(false), "w1");
    h.psa.seed(
        Entity::Organization,
        Record::new("p1")
            .with(Field::Name, "Acme")
            .with(Field::Type, "Customer")
            .with(Field::Status, "Active"),
    );
    let (consumer, _) =
        ensure_worker_consumer(&h.conn, &tenant(), &WorkerConsumerConfig::default())
            .await
            .unwrap();
    let timeout = Duration::from_secs(5);
    let publisher = EventPublisher::new(h.conn.clone(), timeout);
    publisher
        .publish(
            &psa_event(Entity::Organization, "p1"),
            Bytes::from_static(b"{}"),
        )
        .await
        .unwrap();
    // An event without an envelope (not something ingest would publish).
    h.conn
        .jetstream()
        .publish(
            "sync.events.acme.connectwise.organization",
            Bytes::from_static(b"?"),
        )
        .await
        .unwrap()
        .await
        .unwrap();

    let dead_letters = DeadLetters::new(h.conn.clone(), timeout);
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
    let counts = consume::run(&worker, &consumer, &dead_letters, || T0, async {
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
    let mut events = consumer.clone();
    let info = events.info().await.unwrap();
    assert_eq!(info.num_ack_pending, 0, "nothing left to redeliver");
}
