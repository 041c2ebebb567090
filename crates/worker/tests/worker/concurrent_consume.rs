//! The consume loop with many events in flight on overlapping records ends where one event at a
//! time ends (a property test): the people's edits on a few linked organizations, on both sides,
//! published to `SYNC_EVENTS` and consumed once with `concurrency = 1` and once with eight events
//! in flight (reads slowed so they overlap). Both runs give one record per side, equal sides, the
//! PSA winning a field both sides edited, and the same final records.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::common::*;
use bytes::Bytes;
use proptest::prelude::*;
use syncbridge_bus::{ensure_worker_consumer, DeadLetters, EventPublisher, WorkerConsumerConfig};
use syncbridge_model::{ChangeEvent, Entity, Field, Record};
use syncbridge_worker::consume;

/// Linked organizations in every case.
const ORGS: usize = 3;

/// One person's edit: which organization, on which side (true: the PSA), which field.
type PersonEdit = (usize, bool, bool);

type Snapshot = Vec<Vec<(Field, Option<String>)>>;

fn org(id: &str, n: usize) -> Record {
    Record::new(id)
        .with(Field::Name, format!("Org {n}"))
        .with(Field::Type, "Customer")
        .with(Field::Status, "Active")
}

/// Publishes `events` and consumes them with `concurrency` until nothing is pending.
async fn consume_all(h: &Harness<Nats>, concurrency: usize, events: Vec<ChangeEvent>) {
    let mut s = settings(true);
    s.org_types.insert("Partner".into());
    let worker = h.worker(s, "w");
    let publisher = EventPublisher::new(h.backend.conn.clone(), Duration::from_secs(5));
    for event in &events {
        publisher
            .publish(event, Bytes::from_static(b"{}"))
            .await
            .unwrap();
    }
    let (consumer, _) =
        ensure_worker_consumer(&h.backend.conn, &tenant(), &WorkerConsumerConfig::default())
            .await
            .unwrap();
    let dead_letters = DeadLetters::new(h.backend.conn.clone(), Duration::from_secs(5));
    let mut watched = consumer.clone();
    let settled = async move {
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let info = watched.info().await.unwrap();
            if info.num_pending == 0 && info.num_ack_pending == 0 {
                return;
            }
        }
    };
    let counts = tokio::time::timeout(
        Duration::from_secs(120),
        consume::run(
            &worker,
            &consumer,
            &dead_letters,
            concurrency,
            || T0,
            settled,
        ),
    )
    .await
    .expect("the events settle")
    .unwrap();
    assert_eq!(counts.dead_lettered, 0);
}

async fn run(edits: &[PersonEdit], concurrency: usize) -> (usize, usize, Snapshot, Snapshot) {
    let h = Harness::<Nats>::start().await;
    let mut linking = Vec::new();
    for n in 0..ORGS {
        h.psa.seed(Entity::Organization, org(&format!("p{n}"), n));
        h.itg.seed(Entity::Organization, org(&format!("i{n}"), n));
        linking.push(psa_event(Entity::Organization, &format!("p{n}")));
    }
    consume_all(&h, 1, linking).await;
    let mut psa_edited = std::collections::BTreeMap::new();
    let mut events = Vec::new();
    for (i, (n, on_psa, short_name)) in edits.iter().copied().enumerate() {
        let field = if short_name {
            Field::ShortName
        } else {
            Field::Type
        };
        let value = match field {
            Field::ShortName => format!("s{i}"),
            _ => "Partner".to_owned(),
        };
        if on_psa {
            psa_edited.insert((n, field), value.clone());
            h.psa
                .edit(Entity::Organization, &format!("p{n}"), field, &value);
            events.push(psa_event(Entity::Organization, &format!("p{n}")));
        } else {
            h.itg
                .edit(Entity::Organization, &format!("i{n}"), field, &value);
            events.push(itg_event(Entity::Organization, &format!("i{n}")));
        }
    }
    if concurrency > 1 {
        h.psa.read_delay_ms.store(20, Ordering::SeqCst);
        h.itg.read_delay_ms.store(20, Ordering::SeqCst);
    }
    consume_all(&h, concurrency, events).await;
    // A last pass from both sides settles anything a concurrent event only hinted at.
    let last = (0..ORGS)
        .flat_map(|n| {
            [
                psa_event(Entity::Organization, &format!("p{n}")),
                itg_event(Entity::Organization, &format!("i{n}")),
            ]
        })
        .collect();
    consume_all(&h, 1, last).await;
    for ((n, field), value) in &psa_edited {
        let now = h
            .psa
            .record(Entity::Organization, &format!("p{n}"))
            .unwrap();
        assert_eq!(
            now.get(*field),
            Some(value.as_str()),
            "the PSA wins {field}"
        );
    }
    let fields = [Field::Name, Field::ShortName, Field::Type, Field::Status];
    let snapshot = |side: &MemorySide, prefix: &str| -> Snapshot {
        (0..ORGS)
            .map(|n| {
                let r = side
                    .record(Entity::Organization, &format!("{prefix}{n}"))
                    .unwrap();
                fields
                    .iter()
                    .map(|f| (*f, r.get(*f).map(str::to_owned)))
                    .collect()
            })
            .collect()
    };
    (
        h.psa.all(Entity::Organization).len(),
        h.itg.all(Entity::Organization).len(),
        snapshot(&h.psa, "p"),
        snapshot(&h.itg, "i"),
    )
}

/// Cases per run: two in CI (each starts two nats-servers and takes seconds); set
/// `SYNCBRIDGE_LONG_TESTS=1` for the long variant.
fn cases() -> u32 {
    match std::env::var("SYNCBRIDGE_LONG_TESTS").as_deref() {
        Ok("1") => 64,
        _ => 2,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn many_events_in_flight_on_overlapping_records_end_like_one_at_a_time(
        edits in proptest::collection::vec((0..ORGS, any::<bool>(), any::<bool>()), 4..14),
    ) {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let one = rt.block_on(run(&edits, 1));
        let many = rt.block_on(run(&edits, 8));
        prop_assert_eq!((one.0, one.1), (ORGS, ORGS), "one record per side");
        prop_assert_eq!(&one.2, &one.3, "both sides equal");
        prop_assert_eq!(many, one, "eight in flight end like one at a time");
    }
}
