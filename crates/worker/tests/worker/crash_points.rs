//! A worker killed at deterministic points (DESIGN §6): after the vendor write but before the link
//! store, and after the link store but before the ack — the `KillAt` hook over the store, the
//! event's future dropped there as a killed process drops its work. After a restart, nothing is
//! duplicated and nothing is lost, and no echo write happens.

use std::time::Duration;

use crate::common::*;
use syncbridge_model::{Entity, Field, LinkState, Record};
use syncbridge_worker::store::Links;
use syncbridge_worker::{KillPoint, Outcome};

fn acme() -> Record {
    Record::new("p1")
        .with(Field::Name, "Acme")
        .with(Field::Type, "Customer")
        .with(Field::Status, "Active")
}

async fn killed_after_the_create_before_the_link_store_duplicates_nothing<B: Backend>() {
    let h = Harness::<B>::start().await;
    h.psa.seed(Entity::Organization, acme());
    let event = psa_event(Entity::Organization, "p1");
    h.handle_until_killed(settings(false), KillPoint::AfterVendorWrite, &event, T0)
        .await;
    assert_eq!(
        h.itg.all(Entity::Organization).len(),
        1,
        "the create happened"
    );
    let intent = h.link(Entity::Organization, "p1").await;
    assert!(
        intent
            .as_ref()
            .is_some_and(|l| matches!(l.state, LinkState::Creating(_))),
        "only the create intent is stored: {intent:?}"
    );

    // The redelivery reaches a live worker, which waits out the dead one's lease.
    let alive = h.worker(settings(false), "alive");
    let out = alive.handle(&event, T0).await;
    assert_eq!(
        out,
        Outcome::Done { writes: 0 },
        "linked by key, nothing written"
    );
    assert_eq!(h.itg.all(Entity::Organization).len(), 1, "no duplicate");
    let link = h.link(Entity::Organization, "p1").await.unwrap();
    assert_eq!(link.state, LinkState::Linked);
    assert_eq!(h.itg.writes().len(), 1);
}

async fn killed_after_the_link_store_before_the_ack_loses_nothing_and_writes_nothing_twice<
    B: Backend,
>() {
    let h = Harness::<B>::start().await;
    h.psa.seed(Entity::Organization, acme());
    let alive = h.worker(settings(false), "alive");
    alive
        .handle(&psa_event(Entity::Organization, "p1"), T0)
        .await;
    let itg_id = h.itg.all(Entity::Organization)[0].id.clone();

    h.psa
        .edit(Entity::Organization, "p1", Field::ShortName, "ACME");
    let event = psa_event(Entity::Organization, "p1");
    h.handle_until_killed(settings(false), KillPoint::AfterLinkStore, &event, T0)
        .await;
    let writes = h.itg.writes().len();
    let audited = h.backend.audited().await.len();

    // Redelivered (never acked): the change is already applied and stored; nothing is written.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(alive.handle(&event, T0).await, Outcome::Done { writes: 0 });
    assert_eq!(h.itg.writes().len(), writes);
    assert_eq!(
        h.itg
            .record(Entity::Organization, &itg_id)
            .unwrap()
            .get(Field::ShortName),
        Some("ACME")
    );
    // The killed worker audited nothing; the redelivery's decision is audited.
    assert_eq!(h.backend.audited().await.len(), audited + 1);
}

/// The same for a push (two-way): a worker killed after creating a new IT Glue organization in the
/// PSA, before the link store. The redelivery finds the PSA record by its exact key and links it:
/// one PSA record, nothing written twice.
async fn killed_after_a_push_to_the_psa_before_the_link_store_duplicates_nothing<B: Backend>() {
    let h = Harness::<B>::start().await;
    let mut itg_acme = acme();
    itg_acme.id = "i1".into();
    h.itg.seed(Entity::Organization, itg_acme);
    // The first sync started before the IT Glue record was made: two-way pushes it.
    let start = T0 - 1_000;
    let event = itg_event(Entity::Organization, "i1");
    h.handle_until_killed(settings(true), KillPoint::AfterVendorWrite, &event, start)
        .await;
    assert_eq!(
        h.psa.all(Entity::Organization).len(),
        1,
        "the push happened"
    );

    let alive = h.worker(settings(true), "alive");
    let out = alive.handle(&event, start).await;
    assert!(matches!(out, Outcome::Done { .. }), "{out:?}");
    let pushed = h.psa.all(Entity::Organization);
    assert_eq!(pushed.len(), 1, "no duplicate");
    let link = h
        .stores
        .link_by_itg(&tenant(), Entity::Organization, "i1")
        .await
        .unwrap()
        .expect("linked")
        .value;
    assert_eq!(link.state, LinkState::Linked);
    assert_eq!(link.psa_id.as_deref(), Some(pushed[0].id.as_str()));
    assert_eq!(h.psa.writes().len(), 1, "one create, nothing written twice");
}

on_both_backends!(
    killed_after_the_create_before_the_link_store_duplicates_nothing,
    killed_after_the_link_store_before_the_ack_loses_nothing_and_writes_nothing_twice,
    killed_after_a_push_to_the_psa_before_the_link_store_duplicates_nothing,
);
