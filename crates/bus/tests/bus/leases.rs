//! Per-record leases: one winner, release only by the holder, expiry by the bucket's max_age.

use crate::common;

use std::time::Duration;

use syncbridge_bus::{setup, LeaseKey, LeaseStore, SetupConfig};
use syncbridge_model::{Entity, Side};

#[tokio::test]
async fn two_concurrent_acquisitions_have_exactly_one_winner() {
    let (_server, conn) = common::ready_server().await;
    let a = LeaseStore::open(&conn, common::OP_TIMEOUT).await.unwrap();
    let b = a.clone();
    let key = LeaseKey::match_key(&common::tenant(), Entity::Organization, &["Acme"]);

    for round in 0..5 {
        let (ra, rb) = tokio::join!(a.acquire(&key, "worker-a"), b.acquire(&key, "worker-b"));
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        assert!(
            ra.is_some() != rb.is_some(),
            "round {round}: {ra:?} / {rb:?}"
        );
        let winner = ra.or(rb).unwrap();
        assert_eq!(
            a.holder(&key).await.unwrap().as_deref(),
            Some(winner.holder.as_str())
        );
        assert!(a.release(winner).await.unwrap());
        assert_eq!(a.holder(&key).await.unwrap(), None);
    }
}

#[tokio::test]
async fn a_stale_lease_never_releases_the_new_holders_lease() {
    let (_server, conn) = common::ready_server().await;
    let leases = LeaseStore::open(&conn, common::OP_TIMEOUT).await.unwrap();
    let key = LeaseKey::record(&common::tenant(), Entity::Contact, Side::Psa, "42").unwrap();

    let first = leases.acquire(&key, "worker-a").await.unwrap().unwrap();
    assert!(leases.acquire(&key, "worker-b").await.unwrap().is_none());
    let renewed = leases.renew(&first).await.unwrap().expect("still ours");
    assert!(renewed.revision > first.revision);
    // The old handle no longer matches: it neither renews nor releases.
    assert!(leases.renew(&first).await.unwrap().is_none());
    assert!(!leases.release(first).await.unwrap());
    assert_eq!(
        leases.holder(&key).await.unwrap().as_deref(),
        Some("worker-a")
    );
    assert!(leases.release(renewed).await.unwrap());
    assert!(leases.acquire(&key, "worker-b").await.unwrap().is_some());
}

#[tokio::test]
async fn a_lease_whose_holder_died_expires() {
    let (_server, conn) = common::server().await;
    let config = SetupConfig {
        lease_max_age: Duration::from_secs(1),
        ..SetupConfig::default()
    };
    setup(&conn, &config).await.unwrap();
    let leases = LeaseStore::open(&conn, common::OP_TIMEOUT).await.unwrap();
    let key = LeaseKey::record(&common::tenant(), Entity::Organization, Side::Psa, "7").unwrap();

    let dead = leases
        .acquire(&key, "crashed-worker")
        .await
        .unwrap()
        .unwrap();
    // Never released. The server expires it; wait (bounded) until another worker gets it.
    let taken = common::eventually("lease expiry", || async {
        match leases.acquire(&key, "worker-b").await {
            Ok(Some(lease)) => Ok(lease),
            Ok(None) => Err("still held".to_owned()),
            Err(e) => Err(e.to_string()),
        }
    })
    .await;
    assert_eq!(taken.holder, "worker-b");
    assert!(
        !leases.release(dead).await.unwrap(),
        "the dead worker's handle is stale"
    );
}
