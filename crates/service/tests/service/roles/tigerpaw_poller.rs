//! The PSA poller against the Tigerpaw simulator, configured as a user would: Tigerpaw has no
//! modified-since query, so an account edited in Tigerpaw is found by listing and content hash
//! and published as an event.

use std::time::Duration;

use crate::common::acme::{self, Running};
use crate::common::bus;
use serde_json::json;
use syncbridge::roles::workers::Loops;
use syncbridge_sim::admin::AdminOps;
use syncbridge_sim::seed::{load_tigerpaw, Dataset, SeedSpec};
use syncbridge_sim::tigerpaw::{Tigerpaw, TigerpawConfig as SimTigerpaw};

const PATIENCE: Duration = Duration::from_secs(60);

/// (record id, action, Nats-Msg-Id) of the tenant's Tigerpaw organization events.
async fn tigerpaw_events(conn: &syncbridge_bus::Connection) -> Vec<(String, String, String)> {
    let mut stream = conn.jetstream().get_stream("SYNC_EVENTS").await.unwrap();
    let last = stream.info().await.unwrap().state.last_sequence;
    let mut out = Vec::new();
    for seq in 1..=last {
        let Ok(msg) = stream.get_raw_message(seq).await else {
            continue;
        };
        if msg.subject.as_str() != "sync.events.acme.tigerpaw.organization" {
            continue;
        }
        let get = |k: &str| {
            msg.headers
                .get(k)
                .map(|v| v.as_str().to_owned())
                .unwrap_or_default()
        };
        out.push((
            get("Sync-Record-Id"),
            get("Sync-Action"),
            get("Nats-Msg-Id"),
        ));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tigerpaw_account_edit_is_published_by_the_psa_poller() {
    let (nats, conn) = bus().await;
    let itg_sim = acme::itglue_sim().await;
    let tp_sim = Tigerpaw::start(SimTigerpaw::default()).await.unwrap();
    load_tigerpaw(&tp_sim.sim, &Dataset::generate(SeedSpec::sized(3, 5))).unwrap();

    let config = acme::tigerpaw_config(
        &nats.url(),
        itg_sim.base_url(),
        tp_sim.base_url(),
        "Client",
        "300ms",
    );
    // Pollers only: the events stay in the stream to be looked at.
    let loops = Loops {
        worker: false,
        pollers: true,
    };
    let running = Running::start(&conn, &config, loops);

    // The baseline round stores the hashes and publishes nothing.
    let state = syncbridge_bus::StateStore::open(&conn, Duration::from_secs(5))
        .await
        .unwrap();
    let key = syncbridge_worker::content_hash::shard_key(
        &syncbridge_model::TenantId::new("acme").unwrap(),
        syncbridge_model::EventSource::Psa(syncbridge_model::PsaKind::Tigerpaw),
        syncbridge_model::Entity::Organization,
        syncbridge_worker::content_hash::shard_of("1"),
    )
    .unwrap();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while state
        .get::<serde_json::Value>(&key)
        .await
        .unwrap()
        .is_none()
    {
        assert!(tokio::time::Instant::now() < deadline, "no baseline stored");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(tigerpaw_events(&conn).await, vec![], "baseline: nothing");

    // A person renames account 1 in Tigerpaw.
    let stored = tp_sim.sim.state("accounts").unwrap();
    let row = stored
        .iter()
        .find(|r| r.get("id") == Some(&json!(1)))
        .unwrap_or_else(|| panic!("account 1 in {stored:?}"));
    let mut account = row["Account"].clone();
    account["Name"] = json!("Renamed In Tigerpaw");
    let fields = json!({ "Account": account });
    tp_sim
        .sim
        .edit(
            "accounts",
            "1",
            "alice",
            fields.as_object().unwrap().clone(),
        )
        .unwrap();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let events = loop {
        let events = tigerpaw_events(&conn).await;
        if !events.is_empty() {
            break events;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the edit was not published"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Further rounds see the same content: still one event.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let again = tigerpaw_events(&conn).await;
    assert_eq!(again, events);
    assert_eq!(events.len(), 1, "{events:?}");
    let (id, action, msg_id) = &events[0];
    assert_eq!((id.as_str(), action.as_str()), ("1", "upsert"));
    assert!(
        msg_id.starts_with("acme:tigerpaw:organization:1:"),
        "{msg_id}"
    );

    running.stop_within(Duration::from_secs(10)).await;
}
