//! Autotask's concurrency cap (3 requests per endpoint and integration code) holds across
//! processes: two sets of shared slots, as two worker processes hold them, never have more than 3
//! requests of one endpoint in flight together; a slot whose holder died is taken again once it
//! expired (and the dead holder's late release cannot free it); and two Autotask clients built the
//! way two worker processes build them (`clients::psa` with the shared state store) get no
//! "Thread threshold exceeded" answer from the simulator, where two unshared clients do.

use crate::common::{autotask_tenant, bus};

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use syncbridge::config::Config;
use syncbridge::vendors::shared_budget::NatsBudget;
use syncbridge_bus::testing::NatsServer;
use syncbridge_bus::{connect, ConcurrencySlots, ConnectConfig, StateStore};
use syncbridge_connectors::{AutotaskConfig, HttpPolicy, PsaClient, SharedGate};
use syncbridge_model::{Entity, TenantId};
use syncbridge_sim::autotask::{Autotask, AutotaskConfig as SimAutotask};
use syncbridge_sim::faults::{Fault, FaultPlan, FaultRule};

const STORE_TIMEOUT: Duration = Duration::from_secs(5);

/// A NATS server with the topology set up, and the state store of one "process" (each call opens
/// its own connection, as a separate process would).
async fn nats() -> NatsServer {
    bus().await.0
}

async fn process_state(nats: &NatsServer) -> StateStore {
    let conn = connect(&ConnectConfig::new(nats.url())).await.unwrap();
    StateStore::open(&conn, STORE_TIMEOUT).await.unwrap()
}

/// The shared gate one process installs for its Autotask client.
fn autotask_gate(state: &StateStore, tenant: &TenantId) -> SharedGate {
    let mut policy: HttpPolicy = AutotaskConfig::new("http://unused", "u", "s", "c", 1).http;
    assert_eq!(policy.per_endpoint_concurrency, Some(3));
    NatsBudget::share(&mut policy, state, tenant, "autotask");
    policy.shared.expect("Autotask's policy is shared")
}

/// Counts slots held at once; its maximum is what the test checks.
#[derive(Default)]
struct InFlight {
    now: AtomicUsize,
    max: AtomicUsize,
    holds: AtomicUsize,
}

/// One task of one process: takes a slot `rounds` times, holding it for a few milliseconds.
async fn hammer(gate: SharedGate, in_flight: Arc<InFlight>, rounds: usize, seed: u64) {
    for round in 0..rounds {
        let slot = gate.0.hold("companies").await;
        assert!(slot.is_some(), "no shared slot: the cap was bypassed");
        // Counted only while the slot is surely ours (after it was granted, before it is given
        // back), so the count never exceeds the slots really held.
        let n = in_flight.now.fetch_add(1, Ordering::SeqCst) + 1;
        in_flight.max.fetch_max(n, Ordering::SeqCst);
        in_flight.holds.fetch_add(1, Ordering::SeqCst);
        let ms = 2 + (seed * 7 + round as u64 * 13) % 9;
        tokio::time::sleep(Duration::from_millis(ms)).await;
        in_flight.now.fetch_sub(1, Ordering::SeqCst);
        drop(slot);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_together_hold_at_most_three_slots_per_endpoint() {
    let nats = nats().await;
    let tenant = TenantId::new("globex").unwrap();
    let gates = [
        autotask_gate(&process_state(&nats).await, &tenant),
        autotask_gate(&process_state(&nats).await, &tenant),
    ];
    let in_flight = Arc::new(InFlight::default());
    let (tasks_per_process, rounds) = (8, 6);
    let mut tasks = Vec::new();
    for (p, gate) in gates.iter().enumerate() {
        for t in 0..tasks_per_process {
            let seed = (p * tasks_per_process + t) as u64;
            tasks.push(tokio::spawn(hammer(
                gate.clone(),
                in_flight.clone(),
                rounds,
                seed,
            )));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    let max = in_flight.max.load(Ordering::SeqCst);
    let holds = in_flight.holds.load(Ordering::SeqCst);
    eprintln!("{holds} holds by 2 × {tasks_per_process} tasks; at most {max} at once");
    assert_eq!(holds, 2 * tasks_per_process * rounds);
    assert!(max <= 3, "{max} slots held at once across two processes");
    assert!(max >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_holders_slot_is_taken_again_once_it_expired() {
    let nats = nats().await;
    let tenant = TenantId::new("globex").unwrap();
    let hold_for = Duration::from_secs(2);
    let slots =
        |state| ConcurrencySlots::new(state, &tenant, "autotask", "contacts", 3, hold_for).unwrap();
    let dead = slots(process_state(&nats).await);
    let alive = slots(process_state(&nats).await);
    // The clock is passed in: expiry is checked against stamps, not by sleeping.
    let t0 = 1_000_000;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(dead.try_acquire("dead", t0).await.unwrap().unwrap());
    }
    assert_eq!(alive.held(t0).await.unwrap(), 3);
    assert_eq!(alive.try_acquire("alive", t0 + 1_999).await.unwrap(), None);

    // The dead process never releases; at its slots' expiry another process takes one.
    let taken = alive
        .try_acquire("alive", t0 + 2_000)
        .await
        .unwrap()
        .unwrap();
    // A late release by the old holder does not free the new holder's slot.
    let stale = held.into_iter().find(|s| s.index == taken.index).unwrap();
    assert!(!dead.release(stale).await.unwrap());
    assert_eq!(alive.held(t0 + 2_000).await.unwrap(), 1);
    assert!(alive.release(taken).await.unwrap());
    assert_eq!(alive.held(t0 + 2_000).await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holding_a_slot_never_stalls_without_nats() {
    let mut nats = nats().await;
    let tenant = TenantId::new("globex").unwrap();
    let gate = autotask_gate(&process_state(&nats).await, &tenant);
    nats.kill();
    // The store's own timeout bounds the wait; then the process's own cap applies.
    let slot = tokio::time::timeout(Duration::from_secs(30), gate.0.hold("companies"))
        .await
        .expect("hold stalled without NATS");
    assert!(slot.is_none());
    // Later requests do not wait for NATS at all for a while.
    let again = tokio::time::timeout(Duration::from_secs(1), gate.0.hold("companies"))
        .await
        .expect("hold waited for NATS again");
    assert!(again.is_none());
}

fn tenant_config(nats: &str, autotask: &str) -> Config {
    autotask_tenant::tenant_config(nats, autotask, "")
}

/// An Autotask simulator whose answers take a while, so concurrent calls overlap.
async fn slow_autotask() -> Autotask {
    let sim = Autotask::start(SimAutotask::default()).await.unwrap();
    sim.sim.core().faults.set(FaultPlan {
        seed: 5,
        rules: vec![FaultRule {
            method: None,
            path_contains: None,
            fault: Fault::Delay {
                min_ms: 40,
                max_ms: 80,
            },
            probability: 1.0,
            times: None,
        }],
        delivery: Default::default(),
    });
    sim
}

/// `calls` concurrent reads of companies by each client; returns the 429 answers they got and
/// how many calls failed.
async fn read_concurrently(clients: [Arc<PsaClient>; 2], calls: usize) -> (u64, usize) {
    let mut tasks = Vec::new();
    for client in &clients {
        for i in 0..calls {
            let client = client.clone();
            tasks.push(tokio::spawn(async move {
                client.get(Entity::Organization, &(i + 1).to_string()).await
            }));
        }
    }
    let mut failed = 0;
    for t in tasks {
        failed += usize::from(t.await.unwrap().is_err());
    }
    (clients.iter().map(|c| c.stats().rate_limited).sum(), failed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_autotask_clients_sharing_the_cap_get_no_thread_threshold_answers() {
    let nats = nats().await;
    let sim = slow_autotask().await;
    let config = tenant_config(&nats.url(), sim.base_url());
    let tenant = config.tenants.values().next().unwrap();

    // Two processes: each its own connection, state store and client.
    let (state_a, state_b) = (process_state(&nats).await, process_state(&nats).await);
    let shared = [
        Arc::new(syncbridge::vendors::clients::psa(tenant, Some(&state_a)).unwrap()),
        Arc::new(syncbridge::vendors::clients::psa(tenant, Some(&state_b)).unwrap()),
    ];
    let (refused, failed) = read_concurrently(shared.clone(), 8).await;
    let sent: u64 = shared.iter().map(|c| c.stats().requests).sum();
    eprintln!("shared cap: {sent} requests, {refused} answered 429");
    assert!(sent >= 16, "{sent} requests");
    assert_eq!(failed, 0);
    assert_eq!(
        refused, 0,
        "Thread threshold exceeded despite the shared cap"
    );

    // Each on its own cap, the same two clients exceed the endpoint's 3 together.
    let alone = [
        Arc::new(syncbridge::vendors::clients::psa(tenant, None).unwrap()),
        Arc::new(syncbridge::vendors::clients::psa(tenant, None).unwrap()),
    ];
    let (refused, _) = read_concurrently(alone, 8).await;
    eprintln!("per-process caps only: {refused} answered 429");
    assert!(
        refused > 0,
        "two unshared clients never exceeded 3 together"
    );
    sim.shutdown().await;
}
