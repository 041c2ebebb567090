//! Duplicate, reordered and stale deliveries: during a burst, ConnectWise's callbacks are
//! duplicated (the same `MessageId` twice) and reordered (one held back until the next overtakes
//! it), and both vendors' reads are served by a lagging replica now and then (a GET answered with
//! the record's previous version; this found the bug of `stale_read_after_a_poll.rs`). After
//! everything settled, every edited record's events are delivered again, late (received before
//! the burst's last edits): nothing may be written.

use std::time::Duration;

use syncbridge::runtime::clock::now_millis;
use syncbridge_model::{EventSource, PsaKind};
use syncbridge_sim::{DeliveryFaults, Fault, FaultPlan, FaultRule};

use super::super::harness::logs;
use super::burst::{self, BurstSpec};
use super::{clear_faults, drained, guarantees, sized, synced, Run};

/// One GET in four (whose answer changed since the previous GET of that URL) served stale.
fn lagging_replica(seed: u64) -> FaultPlan {
    FaultPlan {
        seed,
        rules: vec![FaultRule {
            method: Some("GET".into()),
            path_contains: None,
            fault: Fault::StaleRead,
            probability: 0.25,
            times: None,
        }],
        ..FaultPlan::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_reordered_and_stale_deliveries_change_nothing_twice() {
    // Every field bound by name: the lock is held to the end of the test.
    let Run {
        _one_at_a_time,
        seed,
        mut rng,
        started,
    } = Run::begin("deliveries").await;
    let spec = BurstSpec {
        edits: sized(300, 1_500),
        org_creates: sized(6, 30),
        network_glue: 0,
        tag: "D",
        span: None,
    };
    let s = synced(sized(4, 12)).await;
    let w = &s.w;
    let procs = [&s.worker, &s.ingest, &s.poller];
    let before_burst = now_millis();
    w.tenant.itglue.sim.core().faults.set(lagging_replica(seed));
    w.tenant.psa.core().faults.set(FaultPlan {
        delivery: DeliveryFaults {
            duplicate: 0.25,
            reorder: 0.25,
            ..DeliveryFaults::default()
        },
        ..lagging_replica(seed.wrapping_add(1))
    });
    let burst = burst::run(&w.tenant, &s.orgs, &s.contacts, &spec, &mut rng).await;
    let burst_done = started.elapsed();
    drained(w, &procs).await;
    clear_faults(w);
    let first = guarantees::hold(w, &burst, &procs).await;

    // Late deliveries of what was already synced: each edited record's event from both sides
    // again, as received before the burst.
    let writes_before = w.tenant.sync_writes().0;
    for e in &burst.expected {
        w.hint_received_at(
            EventSource::Psa(PsaKind::ConnectWise),
            e.entity,
            &e.psa_id,
            &format!("late-psa-{}", e.entity),
            before_burst,
        )
        .await;
        w.hint_received_at(
            EventSource::ItGlue,
            e.entity,
            &e.itg_id,
            &format!("late-itg-{}", e.entity),
            before_burst,
        )
        .await;
    }
    // A few poll rounds and redeliveries later, nothing written.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let again = guarantees::hold(w, &burst, &procs).await;
    let writes_after = w.tenant.sync_writes().0;
    assert_eq!(
        writes_after,
        writes_before,
        "late deliveries of synced records made writes{}",
        logs(&procs)
    );
    let deliveries = w.tenant.psa.core().deliveries.entries().len();
    eprintln!(
        "deliveries: seed {seed}: {}, {deliveries} callback attempts (duplicates included); burst \
         over at {burst_done:?}; held: {first}; then {} late events, no write; all held after \
         {:?}: {again}",
        burst.describe(),
        2 * burst.expected.len(),
        started.elapsed()
    );
}
