//! The worker's leases: an event whose record another worker holds is given back (after waiting
//! `lease_wait`), an event's leases are released whatever its outcome, and a lease outliving the
//! bucket's max_age is kept by renewal while its event runs.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::common::*;
use syncbridge_bus::LeaseKey;
use syncbridge_model::{Entity, Field, LinkState, Record, Side};
use syncbridge_worker::store::Leases;
use syncbridge_worker::Outcome;

fn acme() -> Record {
    Record::new("p1")
        .with(Field::Name, "Acme")
        .with(Field::Type, "Customer")
        .with(Field::Status, "Active")
}

/// The lease of the PSA record `p1`: what every event of the record takes first.
fn record_lease() -> LeaseKey {
    LeaseKey::record(&tenant(), Entity::Organization, Side::Psa, "p1").unwrap()
}

/// The lease of the exact match key "Acme": what an unlinked organization named so takes next.
fn match_key_lease() -> LeaseKey {
    LeaseKey::match_key(&tenant(), Entity::Organization, &["Acme"])
}

/// True when nobody holds `key`: another holder can take it (and gives it back at once).
async fn is_free<B: Backend>(h: &Harness<B>, key: &LeaseKey) -> bool {
    match h.stores.acquire_lease(key, "probe").await.unwrap() {
        Some(lease) => h.stores.release_lease(lease).await.unwrap(),
        None => false,
    }
}

async fn a_record_leased_elsewhere_is_given_back_and_handled_once_released<B: Backend>() {
    let h = Harness::<B>::start().await;
    h.psa.seed(Entity::Organization, acme());
    let key = record_lease();
    let elsewhere = h.stores.acquire_lease(&key, "elsewhere").await.unwrap();
    let elsewhere = elsewhere.expect("free at first");
    let mut w = h.worker(settings(false), "w1");
    w.lease_wait = Duration::from_millis(300);

    let event = psa_event(Entity::Organization, "p1");
    let out = w.handle(&event, T0).await;
    assert_eq!(out, Outcome::Retry(Duration::from_secs(1)));
    assert!(h.itg.writes().is_empty(), "nothing done without the lease");
    assert_eq!(h.link(Entity::Organization, "p1").await, None);

    assert!(h.stores.release_lease(elsewhere).await.unwrap());
    assert_eq!(w.handle(&event, T0).await, Outcome::Done { writes: 1 });
}

async fn an_events_leases_are_released_whatever_its_outcome<B: Backend>() {
    let h = Harness::<B>::start().await;
    h.psa.seed(Entity::Organization, acme());
    let w = h.worker(settings(false), "w1");
    let event = psa_event(Entity::Organization, "p1");

    // Given back: the create timed out (it landed; the retry links it).
    h.itg.commit_then_timeout.store(true, Ordering::SeqCst);
    assert!(matches!(w.handle(&event, T0).await, Outcome::Retry(_)));
    assert!(
        is_free(&h, &record_lease()).await,
        "record lease after a retry"
    );
    assert!(
        is_free(&h, &match_key_lease()).await,
        "match key after a retry"
    );

    // Done: the record and its match key (taken while it was unlinked) are free again.
    assert!(matches!(w.handle(&event, T0).await, Outcome::Done { .. }));
    let link = h.link(Entity::Organization, "p1").await.unwrap();
    assert_eq!(link.state, LinkState::Linked);
    assert!(is_free(&h, &record_lease()).await, "record lease when done");
    assert!(is_free(&h, &match_key_lease()).await, "match key when done");

    // Dead-lettered: IT Glue refuses the update.
    h.itg.refuse_updates.store(true, Ordering::SeqCst);
    h.psa
        .edit(Entity::Organization, "p1", Field::ShortName, "NEW");
    let out = w.handle(&event, T0).await;
    assert!(matches!(out, Outcome::DeadLetter(_)), "{out:?}");
    assert!(
        is_free(&h, &record_lease()).await,
        "record lease after a dead letter"
    );
}

on_both_backends!(
    a_record_leased_elsewhere_is_given_back_and_handled_once_released,
    an_events_leases_are_released_whatever_its_outcome,
);

/// The tests that need the in-memory store itself (its clock, its faults): no NATS variant.
mod memory {
    use super::*;

    /// An event slower than the bucket's max_age (30 s here: reads of 30 s each, as under a vendor's
    /// budget with many events in flight) keeps its record's lease by renewing it every 5 s, so no
    /// other event of the record runs beside it; the lease is released when it is done. In memory,
    /// on paused time: the minutes pass in no time, and the same way on every run.
    #[tokio::test(start_paused = true)]
    async fn a_lease_is_renewed_while_a_slow_event_runs() {
        let h = Harness::on(Memory::with_lease_ttl(Duration::from_secs(30)));
        h.psa.seed(Entity::Organization, acme());
        h.psa.read_delay_ms.store(30_000, Ordering::SeqCst);
        h.itg.read_delay_ms.store(30_000, Ordering::SeqCst);
        let w = Arc::new(h.worker(settings(false), "slow"));
        let started = tokio::time::Instant::now();
        let handling = tokio::spawn({
            let w = w.clone();
            async move { w.handle(&psa_event(Entity::Organization, "p1"), T0).await }
        });

        for _ in 0..4 {
            tokio::time::sleep(Duration::from_secs(25)).await;
            let holder = h.backend.store.lease_holder(&record_lease());
            assert_eq!(
                holder.as_deref(),
                Some("slow"),
                "{:?} in",
                started.elapsed()
            );
        }
        let out = handling.await.unwrap();
        assert!(matches!(out, Outcome::Done { writes: 1 }), "{out:?}");
        assert!(
            started.elapsed() > Duration::from_secs(100),
            "outlived the max_age several times: {:?}",
            started.elapsed()
        );
        assert_eq!(h.backend.store.lease_holder(&record_lease()), None);
    }
}
