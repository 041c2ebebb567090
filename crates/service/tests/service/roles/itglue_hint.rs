//! An IT Glue workflow webhook is a hint (IT Glue's workflows have no trigger for record edits):
//! it makes the tenant's IT Glue poller run at once instead of at its next round.

use std::time::Duration;

use crate::common::acme::{self, Running};
use crate::common::bus;
use bytes::Bytes;
use futures_util::StreamExt;
use syncbridge::roles::workers::Loops;
use syncbridge::runtime::clock::now_millis;
use syncbridge_bus::{names, EventPublisher};
use syncbridge_model::{ChangeAction, ChangeEvent, Entity, EventSource, Field, TenantId, Values};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_hint_runs_the_itglue_poll_at_once() {
    let (nats, conn) = bus().await;
    let itg_sim = acme::itglue_sim().await;
    // Pollers only, IT Glue polled every 10 minutes: within this test only a hint can make it run.
    let config = acme::tigerpaw_config(
        &nats.url(),
        itg_sim.base_url(),
        "http://127.0.0.1:9",
        "Customer",
        "10m",
    );
    let loops = Loops {
        worker: false,
        pollers: true,
    };
    let _running = Running::start(&conn, &config, loops);
    // The first round takes the watermark; what is saved after it is a change.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let itg = acme::itglue_client(&itg_sim);
    itg.create(
        Entity::Organization,
        None,
        &Values::new().with(Field::Name, "Hinted Ltd"),
    )
    .await
    .unwrap();
    let itglue_org_events = async || {
        let stream = conn
            .jetstream()
            .get_stream(names::EVENTS_STREAM)
            .await
            .unwrap();
        let Ok(mut subjects) = stream
            .info_with_subjects("sync.events.acme.itglue.organization")
            .await
        else {
            return 0;
        };
        let mut total = 0;
        while let Some(Ok((_, n))) = subjects.next().await {
            total += n as u64;
        }
        total
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(itglue_org_events().await, 0, "no poll before the hint");

    let hint = ChangeEvent {
        tenant: TenantId::new("acme").unwrap(),
        source: EventSource::ItGlue,
        entity: None,
        record_id: None,
        action: ChangeAction::Hint,
        received_at: now_millis(),
        msg_id: Some("workflow-1".into()),
    };
    EventPublisher::new(conn.clone(), Duration::from_secs(5))
        .publish(&hint, Bytes::from_static(b"{}"))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while itglue_org_events().await == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the hint did not start a poll"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Audit ITG-1 acceptance, through the poller itself (`Poller` over `feeds::ItGlueFeed`, as
/// `serve` runs it): a poll cycle of an unchanged tenant with 10,000 configurations costs about
/// one request per entity and publishes nothing, round after round.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn itg_1_an_unchanged_poll_cycle_of_10000_configurations_through_the_poller_costs_a_few_requests(
) {
    use std::sync::Arc;

    use serde_json::json;
    use syncbridge::vendors::feeds::ItGlueFeed;
    use syncbridge_bus::StateStore;
    use syncbridge_sim::admin::AdminOps;
    use syncbridge_worker::poller::Poller;

    let (_nats, conn) = bus().await;
    let itg_sim = acme::itglue_sim().await;
    let sim = &itg_sim.sim;
    sim.seed(
        "configuration_types",
        vec![json!({"id": 1, "name": "Server"})],
    )
    .unwrap();
    sim.seed(
        "organizations",
        (1..=100)
            .map(|i| json!({"id": i, "name": format!("Org {i}")}))
            .collect(),
    )
    .unwrap();
    sim.seed(
        "configurations",
        (1..=10_000)
            .map(|i| {
                json!({"id": i, "organization-id": 1 + i % 100, "name": format!("SRV-{i}"),
                    "configuration-type-id": 1})
            })
            .collect(),
    )
    .unwrap();
    sim.seed(
        "contacts",
        (1..=300)
            .map(|i| {
                json!({"id": i, "organization-id": 1 + i % 100, "first-name": "Ada",
                "last-name": format!("L{i}")})
            })
            .collect(),
    )
    .unwrap();
    sim.seed(
        "locations",
        (1..=100)
            .map(|i| json!({"id": i, "organization-id": i, "name": "Main Office"}))
            .collect(),
    )
    .unwrap();
    let seeded_at = sim.core().clock.now_millis();
    tokio::time::sleep(Duration::from_millis(5)).await;

    let itg = Arc::new(acme::itglue_client(&itg_sim));
    let poller = Poller {
        tenant: TenantId::new("acme").unwrap(),
        source: EventSource::ItGlue,
        feed: ItGlueFeed(itg.clone()),
        entities: Entity::ALL.to_vec(),
        publisher: EventPublisher::new(conn.clone(), Duration::from_secs(5)),
        state: StateStore::open(&conn, Duration::from_secs(5))
            .await
            .unwrap(),
        safety_net: None,
        synced: None,
    };
    // The cursor starts after the seeding: nothing changed since.
    let start = seeded_at + 1;
    for round in 1..=2 {
        let before = itg.stats().requests;
        let report = poller.poll_once(start, now_millis()).await.unwrap();
        let requests = itg.stats().requests - before;
        println!(
            "IT Glue poll cycle {round} of an unchanged tenant (10,000 configurations, 4 entities): \
             {requests} requests, {} events published",
            report.published
        );
        assert_eq!(report.published, 0, "round {round}: {report:?}");
        assert!(
            requests <= 3 * Entity::ALL.len() as u64,
            "round {round}: {requests} requests"
        );
    }
}
