//! A tenant's vendor budget holds across processes: two clients built as two worker processes
//! build them (`clients::psa` with the shared state store) make at most the budget's requests in
//! its window together — the others wait, they do not fail — while without sharing each would
//! spend the whole budget on its own.

use crate::common::{autotask_tenant, bus};

use std::time::Duration;

use syncbridge::config::Config;
use syncbridge_bus::StateStore;
use syncbridge_model::Entity;
use syncbridge_sim::autotask::{Autotask, AutotaskConfig};

fn tenant_config(nats: &str, autotask: &str) -> Config {
    autotask_tenant::tenant_config(nats, autotask, "[tenants.globex.budgets]\npsa = \"6/1m\"\n")
}

/// The budget's windows are aligned to the minute (`start = now - now % window`): the 3 s the test
/// watches must lie in one window, or a boundary in between would rightly allow a second six.
async fn start_well_inside_a_window() {
    let window_ms = 60_000;
    let into = (syncbridge::runtime::clock::now_millis() as u64) % window_ms;
    if into > window_ms - 10_000 {
        tokio::time::sleep(Duration::from_millis(window_ms - into + 200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_together_stay_within_the_tenants_budget() {
    let (nats, conn) = bus().await;
    let state = StateStore::open(&conn, Duration::from_secs(5))
        .await
        .unwrap();
    let sim = Autotask::start(AutotaskConfig::default()).await.unwrap();
    let config = tenant_config(&nats.url(), sim.base_url());
    let tenant = config.tenants.values().next().unwrap();

    let first =
        std::sync::Arc::new(syncbridge::vendors::clients::psa(tenant, Some(&state)).unwrap());
    let second =
        std::sync::Arc::new(syncbridge::vendors::clients::psa(tenant, Some(&state)).unwrap());
    start_well_inside_a_window().await;
    let mut calls = Vec::new();
    for client in [&first, &second] {
        for i in 0..5 {
            let client = client.clone();
            calls.push(tokio::spawn(async move {
                let _ = client.get(Entity::Organization, &(i + 1).to_string()).await;
            }));
        }
    }
    // Each client's own budget would let all five through at once; together only six may go.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let made = first.stats().requests + second.stats().requests;
    assert!(made > 0, "nothing was sent");
    assert!(made <= 6, "{made} requests in a window of 6");
    let finished = calls.iter().filter(|c| c.is_finished()).count();
    assert!(
        finished < 10,
        "every call finished: the budget was not shared"
    );

    // Without the shared store, the same two clients are each on their own budget.
    let alone = syncbridge::vendors::clients::psa(tenant, None).unwrap();
    for i in 0..5 {
        let _ = alone.get(Entity::Organization, &(i + 1).to_string()).await;
    }
    assert_eq!(alone.stats().requests, 5);
    for c in calls {
        c.abort();
    }
}
