//! The link's compare-and-set and the bus going away: a link stored by another worker between
//! this one's read and its store is decided again on fresh state (nothing written twice); a bus
//! that cannot be reached gives the event back, and one lost between the vendor write and the link
//! store leaves a state the redelivery completes without a duplicate.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::common::*;
use syncbridge_bus::KvError;
use syncbridge_model::{Entity, Field, Link, LinkState, Record, TenantId};
use syncbridge_worker::store::hook::{Hooked, LinkStoreHook};
use syncbridge_worker::store::{Links, Store};
use syncbridge_worker::{MemoryStore, Outcome};

/// Another worker storing the same link just before this one's next link store (not a create
/// intent), once: the link is written again as it is, so its revision moves on and this
/// worker's compare-and-set loses.
#[derive(Default)]
struct Rival {
    done: AtomicBool,
}

impl LinkStoreHook for Rival {
    async fn before_link_store<S: Store>(&self, store: &S, tenant: &TenantId, link: &Link) {
        if matches!(link.state, LinkState::Creating(_)) || self.done.swap(true, Ordering::SeqCst) {
            return;
        }
        let psa_id = link
            .psa_id
            .as_deref()
            .expect("a stored link names its PSA id");
        let current = store.link(tenant, link.entity, psa_id).await.unwrap();
        let current = current.expect("the rival rewrites a stored link");
        let rewritten = store.update_link(tenant, &current.value, current.revision);
        rewritten.await.unwrap();
    }
}

fn acme() -> Record {
    Record::new("p1")
        .with(Field::Name, "Acme")
        .with(Field::Type, "Customer")
        .with(Field::Status, "Active")
}

async fn a_link_stored_elsewhere_meanwhile_is_decided_again<B: Backend>() {
    let h = Harness::<B>::start().await;
    h.psa.seed(Entity::Organization, acme());
    let w = h.worker(settings(false), "w1");
    w.handle(&psa_event(Entity::Organization, "p1"), T0).await;
    let itg_id = h.itg.all(Entity::Organization)[0].id.clone();
    let audited = h.backend.audited().await.len();

    h.psa
        .edit(Entity::Organization, "p1", Field::ShortName, "ACME-2");
    let hooked = Hooked::new(h.stores.clone(), Rival::default());
    let w = h.worker_on(hooked, settings(false), "w1");
    let out = w.handle(&psa_event(Entity::Organization, "p1"), T0).await;

    // The edit was written once; the decision made again on what is there now writes nothing.
    assert_eq!(out, Outcome::Done { writes: 1 });
    let updates = h
        .itg
        .writes()
        .iter()
        .filter(|(op, ..)| op == "update")
        .count();
    assert_eq!(updates, 1);
    let itg = h.itg.record(Entity::Organization, &itg_id).unwrap();
    assert_eq!(itg.get(Field::ShortName), Some("ACME-2"));
    // The lost store is audited without a stored link; the second decision stores it.
    let entries = h.backend.audited().await;
    let entries = &entries[audited..];
    assert_eq!(entries.len(), 2, "{entries:#?}");
    assert!(entries[0]["link_after"].is_null(), "{:#}", entries[0]);
    let link = h.link(Entity::Organization, "p1").await.unwrap();
    assert_eq!(link.state, LinkState::Linked);
    let base = link.base.expect("a base");
    assert_eq!(base.psa.get(Field::ShortName), Some("ACME-2"));
    assert_eq!(base.itg.get(Field::ShortName), Some("ACME-2"));

    // Nothing left to do: the next event writes nothing.
    let again = h.worker(settings(false), "w1");
    let out = again
        .handle(&psa_event(Entity::Organization, "p1"), T0)
        .await;
    assert_eq!(out, Outcome::Done { writes: 0 });
}

on_both_backends!(a_link_stored_elsewhere_meanwhile_is_decided_again);

/// The tests that need the in-memory store itself (its clock, its faults): no NATS variant.
mod memory {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn an_unreachable_bus_gives_the_event_back() {
        let h = Harness::<Memory>::start().await;
        h.psa.seed(Entity::Organization, acme());
        let w = h.worker(settings(false), "w1");
        let event = psa_event(Entity::Organization, "p1");

        h.backend.store.set_unavailable(true);
        assert_eq!(
            w.handle(&event, T0).await,
            Outcome::Retry(Duration::from_secs(2))
        );
        assert!(h.itg.writes().is_empty());

        h.backend.store.set_unavailable(false);
        assert_eq!(w.handle(&event, T0).await, Outcome::Done { writes: 1 });
    }

    /// The bus goes away right before the worker stores its link: the store fails.
    struct BusGoesAway(MemoryStore);

    impl LinkStoreHook for BusGoesAway {
        async fn before_link_store<S: Store>(&self, _: &S, _: &TenantId, link: &Link) {
            if !matches!(link.state, LinkState::Creating(_)) {
                self.0.set_unavailable(true);
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_link_store_lost_after_the_vendor_write_is_completed_by_the_redelivery() {
        let h = Harness::<Memory>::start().await;
        h.psa.seed(Entity::Organization, acme());
        let store = h.backend.store.clone();
        let hooked = Hooked::new(store.clone(), BusGoesAway(store.clone()));
        let w = h.worker_on(hooked, settings(false), "w1");
        let event = psa_event(Entity::Organization, "p1");

        let out = w.handle(&event, T0).await;
        assert_eq!(out, Outcome::Retry(Duration::from_secs(2)));
        assert_eq!(h.itg.all(Entity::Organization).len(), 1, "created");
        let stored = store.link(&tenant(), Entity::Organization, "p1").await;
        assert!(matches!(stored, Err(KvError::Unavailable { .. })));

        // The bus is back; the lease the failed event could not release has expired.
        store.set_unavailable(false);
        tokio::time::sleep(LEASE_TTL).await;
        let again = h.worker(settings(false), "w2");
        assert_eq!(again.handle(&event, T0).await, Outcome::Done { writes: 0 });
        assert_eq!(h.itg.all(Entity::Organization).len(), 1, "no duplicate");
        let link = h.link(Entity::Organization, "p1").await.unwrap();
        assert_eq!(link.state, LinkState::Linked);
    }
}
