//! The store port's contract, held against both backends: what the pipeline relies on of links
//! (compare-and-set, the IT Glue lookup), leases (one holder, release and renewal only while ours,
//! expiry), the first-sync watermark, the tenant's mode, the audit trail and event publishing.
//! The in-memory backend's tests are only as good as its likeness to NATS; this is where that is
//! checked.

use std::time::Duration;

use crate::common::*;
use syncbridge_bus::{KvError, LeaseKey};
use syncbridge_engine::{Action, ActionKind, Rule};
use syncbridge_model::{
    ChangeEvent, Entity, EventSource, Field, Link, LinkState, Mode, Side, Snapshot, TenantId,
    Values,
};
use syncbridge_worker::store::{Audit, Events, Leases, Links, TenantState};
use syncbridge_worker::AuditEntry;

fn link(psa_id: &str, itg_id: &str, short_name: &str) -> Link {
    let values = Values::new().with(Field::ShortName, short_name);
    let base = Snapshot {
        psa: values.clone(),
        itg: values,
        ..Snapshot::default()
    };
    Link::linked(Entity::Organization, psa_id, itg_id, base)
}

fn other_tenant() -> TenantId {
    TenantId::new("globex").unwrap()
}

async fn links_are_created_once_and_replaced_by_compare_and_set<B: Backend>() {
    let h = Harness::<B>::start().await;
    let s = &h.stores;
    let t = tenant();
    let first = s.create_link(&t, &link("p1", "i1", "A")).await.unwrap();
    let again = s.create_link(&t, &link("p1", "i1", "B")).await;
    assert!(
        again.unwrap_err().is_conflict(),
        "a second create conflicts"
    );

    let stored = s
        .link(&t, Entity::Organization, "p1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (stored.value, stored.revision),
        (link("p1", "i1", "A"), first)
    );
    let second = s
        .update_link(&t, &link("p1", "i1", "B"), first)
        .await
        .unwrap();
    assert!(second > first, "{second} after {first}");
    let stale = s.update_link(&t, &link("p1", "i1", "C"), first).await;
    assert!(
        stale.unwrap_err().is_conflict(),
        "an update at a stale revision"
    );
    let stored = s
        .link(&t, Entity::Organization, "p1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (stored.value, stored.revision),
        (link("p1", "i1", "B"), second)
    );

    // Only the PSA id it names: another record, entity or tenant has no link.
    let none = [
        s.link(&t, Entity::Organization, "p2").await.unwrap(),
        s.link(&t, Entity::Contact, "p1").await.unwrap(),
        s.link(&other_tenant(), Entity::Organization, "p1")
            .await
            .unwrap(),
    ];
    assert_eq!(none, [None, None, None]);
    let missing = s.update_link(&t, &link("p2", "i2", "A"), second).await;
    assert!(missing.unwrap_err().is_conflict(), "an update of no link");
}

async fn a_link_is_found_by_the_itglue_id_it_names_now<B: Backend>() {
    let h = Harness::<B>::start().await;
    let s = &h.stores;
    let t = tenant();
    let revision = s.create_link(&t, &link("p1", "i1", "A")).await.unwrap();
    let found = s.link_by_itg(&t, Entity::Organization, "i1").await.unwrap();
    assert_eq!(found.map(|v| v.value.psa_id), Some(Some("p1".to_owned())));

    // Moved to another IT Glue record: the old id finds nothing.
    s.update_link(&t, &link("p1", "i2", "A"), revision)
        .await
        .unwrap();
    let old = s.link_by_itg(&t, Entity::Organization, "i1").await.unwrap();
    assert_eq!(old, None);
    let new = s.link_by_itg(&t, Entity::Organization, "i2").await.unwrap();
    assert_eq!(
        new.map(|v| v.revision),
        s.link(&t, Entity::Organization, "p1")
            .await
            .unwrap()
            .map(|v| v.revision)
    );

    // A create intent names no IT Glue record yet.
    let intent = Link {
        state: LinkState::Creating(Side::ItGlue),
        itg_id: None,
        ..link("p3", "unused", "A")
    };
    s.create_link(&t, &intent).await.unwrap();
    let stored = s
        .link(&t, Entity::Organization, "p3")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.value, intent);
}

async fn a_link_must_name_a_valid_psa_id<B: Backend>() {
    let h = Harness::<B>::start().await;
    let s = &h.stores;
    let no_psa_id = Link {
        psa_id: None,
        ..link("p1", "i1", "A")
    };
    let refused = s.create_link(&tenant(), &no_psa_id).await;
    assert!(
        matches!(refused, Err(KvError::InvalidValue(_))),
        "{refused:?}"
    );
    let empty = s.link(&tenant(), Entity::Organization, "").await;
    assert!(
        matches!(empty, Err(KvError::InvalidKey { .. })),
        "{empty:?}"
    );
}

fn lease_key() -> LeaseKey {
    LeaseKey::record(&tenant(), Entity::Organization, Side::Psa, "p1").unwrap()
}

async fn a_lease_has_one_holder_until_released<B: Backend>() {
    let h = Harness::<B>::start().await;
    let s = &h.stores;
    let key = lease_key();
    let first = s.acquire_lease(&key, "w1").await.unwrap().expect("free");
    assert!(s.acquire_lease(&key, "w2").await.unwrap().is_none(), "held");
    let other = LeaseKey::match_key(&tenant(), Entity::Organization, &["Acme"]);
    let other = s.acquire_lease(&other, "w2").await.unwrap();
    assert!(other.is_some(), "another key is another lease");

    let renewed = s.renew_lease(&first).await.unwrap().expect("still ours");
    assert!(
        s.renew_lease(&first).await.unwrap().is_none(),
        "the handle renewal replaced"
    );
    assert!(s.release_lease(renewed).await.unwrap());
    let second = s
        .acquire_lease(&key, "w2")
        .await
        .unwrap()
        .expect("released: free");
    // The first holder's old handle neither releases nor renews the second holder's lease.
    assert!(!s.release_lease(first.clone()).await.unwrap());
    assert!(s.renew_lease(&first).await.unwrap().is_none());
    assert!(
        s.acquire_lease(&key, "w3").await.unwrap().is_none(),
        "still the second's"
    );
    assert!(s.release_lease(second).await.unwrap());
}

/// On NATS the bucket's max_age removes the lease (within a moment of it); in memory it expires
/// exactly then (its own tests check that).
async fn a_lease_nobody_releases_expires<B: Backend>() {
    let h = Harness::<B>::start().await;
    let s = &h.stores;
    let key = lease_key();
    let abandoned = s.acquire_lease(&key, "w1").await.unwrap().expect("free");
    let taken_at = tokio::time::Instant::now();
    let deadline = taken_at + LEASE_TTL * 10;
    let taken = loop {
        if let Some(lease) = s.acquire_lease(&key, "w2").await.unwrap() {
            break lease;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the lease never expired"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let held_for = taken_at.elapsed();
    assert!(
        held_for >= LEASE_TTL - Duration::from_millis(100),
        "{held_for:?}"
    );
    assert!(s.renew_lease(&abandoned).await.unwrap().is_none());
    assert!(!s.release_lease(abandoned).await.unwrap());
    assert!(s.release_lease(taken).await.unwrap());
}

async fn the_first_sync_watermark_is_kept_by_its_first_writer<B: Backend>() {
    let h = Harness::<B>::start().await;
    let s = &h.stores;
    assert_eq!(
        s.record_first_sync_watermark(&tenant(), T0).await.unwrap(),
        T0
    );
    let later = s.record_first_sync_watermark(&tenant(), T0 + 5_000).await;
    assert_eq!(later.unwrap(), T0);
    let other = s
        .record_first_sync_watermark(&other_tenant(), T0 + 5_000)
        .await;
    assert_eq!(other.unwrap(), T0 + 5_000);
}

async fn the_mode_is_the_one_an_operator_set<B: Backend>() {
    let h = Harness::<B>::start().await;
    assert_eq!(h.stores.mode(&tenant()).await.unwrap(), None);
    h.backend.set_mode(Mode::Shadow).await;
    assert_eq!(h.stores.mode(&tenant()).await.unwrap(), Some(Mode::Shadow));
    h.backend.set_mode(Mode::Paused).await;
    assert_eq!(h.stores.mode(&tenant()).await.unwrap(), Some(Mode::Paused));
    assert_eq!(h.stores.mode(&other_tenant()).await.unwrap(), None);
}

async fn decisions_are_audited_in_order<B: Backend>() {
    let h = Harness::<B>::start().await;
    let event = psa_event(Entity::Organization, "p1");
    let actions = [Action {
        kind: ActionKind::Ignore {
            reason: "a test".into(),
        },
        rule: Rule::ParentFirst,
    }];
    for (record_id, written) in [("p1", false), ("p2", true)] {
        let entry = AuditEntry {
            at: T0,
            event: &event,
            entity: Entity::Organization,
            side: Side::Psa,
            record_id,
            actions: &actions,
            written,
            link_before: None,
            link_after: None,
        };
        h.stores
            .audit(&tenant(), Entity::Organization, &entry)
            .await
            .unwrap();
    }
    let audited = h.backend.audited().await;
    assert_eq!(audited.len(), 2, "{audited:#?}");
    assert_eq!(
        (
            audited[0]["record_id"].as_str(),
            audited[0]["written"].as_bool()
        ),
        (Some("p1"), Some(false))
    );
    assert_eq!(audited[1]["record_id"], "p2");
    assert_eq!(audited[1]["event"]["record_id"], "p1");
    assert_eq!(audited[1]["actions"][0]["rule"], "parent_first");
}

async fn an_event_is_published_once_per_dedup_id<B: Backend>() {
    let h = Harness::<B>::start().await;
    let relink = |msg_id: &str, record_id: &str| ChangeEvent {
        msg_id: Some(msg_id.to_owned()),
        ..event(EventSource::FullSync, Entity::Contact, record_id)
    };
    for e in [relink("a", "c1"), relink("a", "c1"), relink("b", "c2")] {
        h.stores.publish(&e).await.unwrap();
    }
    assert_eq!(
        h.backend.published().await,
        [relink("a", "c1"), relink("b", "c2")]
    );
}

on_both_backends!(
    links_are_created_once_and_replaced_by_compare_and_set,
    a_link_is_found_by_the_itglue_id_it_names_now,
    a_link_must_name_a_valid_psa_id,
    a_lease_has_one_holder_until_released,
    a_lease_nobody_releases_expires,
    the_first_sync_watermark_is_kept_by_its_first_writer,
    the_mode_is_the_one_an_operator_set,
    decisions_are_audited_in_order,
    an_event_is_published_once_per_dedup_id,
);
