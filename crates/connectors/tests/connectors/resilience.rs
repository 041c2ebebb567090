//! Resilience against the simulators' fault injection:
//! - create idempotence: "commit then time out" on 10% of creates, 500 creates → exactly 500
//!   records and 500 logged creates;
//! - 10% injected 429/503/timeouts: a 1,000-record listing and 200 updates complete with exactly
//!   200 logged writes;
//! - the client budget keeps a low vendor limit on a sped-up clock free of 429s, and 429s that
//!   do come are retried after the (scaled) Retry-After;
//! - Autotask's 3-per-endpoint cap keeps concurrent calls under the thread limit.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use syncbridge_connectors::BmsFlavor;
use syncbridge_connectors::Vendor;
use syncbridge_connectors::{HttpPolicy, PsaClient, RateBudget, Record};
use syncbridge_model::Changes;
use syncbridge_model::{Entity, Field, Values};
use syncbridge_sim::admin::AdminOps;
use syncbridge_sim::seed::{
    load_autotask, load_bms, load_connectwise, load_itglue, Dataset, SeedSpec,
};
use syncbridge_sim::{Fault, FaultPlan, FaultRule, RateLimit};

use crate::common::*;

/// Runs `n` jobs on `tasks` concurrent tasks; returns the results in job order.
async fn run_concurrently<T, F, Fut>(n: usize, tasks: usize, job: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = T> + Send,
{
    let job = Arc::new(job);
    let mut handles = Vec::new();
    for t in 0..tasks {
        let job = job.clone();
        handles.push(tokio::spawn(async move {
            let mut out = Vec::new();
            let mut i = t;
            while i < n {
                out.push((i, job(i).await));
                i += tasks;
            }
            out
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.expect("task"));
    }
    all.sort_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, r)| r).collect()
}

fn create_policy() -> HttpPolicy {
    HttpPolicy {
        timeout: Duration::from_millis(300),
        max_attempts: 20,
        max_backoff: Duration::from_millis(200),
        ..fast_policy()
    }
}

fn org_values(i: usize) -> Values {
    Values::new().with(Field::Name, format!("Idempotent Org {i:04}"))
}

fn assert_created_once(records: &[Record]) {
    assert_eq!(records.len(), 500);
    let ids: HashSet<&str> = records.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), 500, "two creates resolved to one record");
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.values.get(Field::Name), org_values(i).get(Field::Name));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn itglue_creates_never_duplicate_when_commits_time_out() {
    let sim = itglue_sim().await;
    sim.sim
        .core()
        .faults
        .set(commit_then_timeout(7, "/organizations", 0.1, 800));
    let client = Arc::new(itglue_client(&sim, create_policy()));
    let c = client.clone();
    let created: Vec<Record> = run_concurrently(500, 8, move |i| {
        let c = c.clone();
        async move {
            c.create(Entity::Organization, None, &org_values(i))
                .await
                .unwrap()
        }
    })
    .await;
    assert_created_once(&created);
    assert_eq!(sim.sim.state("organizations").unwrap().len(), 500);
    assert_eq!(writes(sim.sim.core(), "organizations"), (500, 0));
    assert!(
        client.stats().transport_errors >= 20,
        "faults fired: {:?}",
        client.stats()
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connectwise_creates_never_duplicate_when_commits_time_out() {
    let sim = connectwise_sim().await;
    sim.sim
        .core()
        .faults
        .set(commit_then_timeout(8, "/company/companies", 0.1, 800));
    let client = Arc::new(PsaClient::ConnectWise(connectwise_client(
        &sim,
        create_policy(),
    )));
    let c = client.clone();
    let created: Vec<Record> = run_concurrently(500, 8, move |i| {
        let c = c.clone();
        async move {
            c.create(Entity::Organization, None, &org_values(i))
                .await
                .unwrap()
        }
    })
    .await;
    assert_created_once(&created);
    assert_eq!(sim.sim.state("companies").unwrap().len(), 500);
    assert_eq!(writes(sim.sim.core(), "companies"), (500, 0));
    assert!(
        client.stats().transport_errors >= 20,
        "faults fired: {:?}",
        client.stats()
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autotask_creates_never_duplicate_when_commits_time_out() {
    let sim = autotask_sim().await;
    // Matches the create (POST /Companies) and the key searches (POST /Companies/query) alike.
    sim.sim
        .core()
        .faults
        .set(commit_then_timeout(9, "/Companies", 0.1, 800));
    let client = Arc::new(PsaClient::Autotask(autotask_client(&sim, create_policy())));
    let c = client.clone();
    let created: Vec<Record> = run_concurrently(500, 8, move |i| {
        let c = c.clone();
        // Autotask requires a company type.
        let values = org_values(i).with(Field::Type, "Customer");
        async move { c.create(Entity::Organization, None, &values).await.unwrap() }
    })
    .await;
    assert_created_once(&created);
    assert_eq!(sim.sim.state("Companies").unwrap().len(), 500);
    assert_eq!(writes(sim.sim.core(), "Companies"), (500, 0));
    assert!(
        client.stats().transport_errors >= 20,
        "faults fired: {:?}",
        client.stats()
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kaseya_bms_creates_never_duplicate_when_commits_time_out() {
    let sim = bms_sim(false).await;
    // The account types and statuses, and one unrelated account.
    load_bms(&sim.sim, &Dataset::generate(SeedSpec::sized(1, 1))).unwrap();
    sim.sim
        .core()
        .faults
        .set(commit_then_timeout(10, "/v2/crm/accounts", 0.1, 800));
    let client = Arc::new(PsaClient::KaseyaBms(bms_client(
        &sim,
        BmsFlavor::KaseyaBms,
        create_policy(),
    )));
    let c = client.clone();
    let created: Vec<Record> = run_concurrently(500, 8, move |i| {
        let c = c.clone();
        let values = org_values(i).with(Field::Type, "Client");
        async move { c.create(Entity::Organization, None, &values).await.unwrap() }
    })
    .await;
    assert_created_once(&created);
    assert_eq!(sim.sim.state("accounts").unwrap().len(), 501);
    assert_eq!(writes(sim.sim.core(), "accounts"), (500, 0));
    assert!(
        client.stats().transport_errors >= 20,
        "faults fired: {:?}",
        client.stats()
    );
    sim.shutdown().await;
}

fn fault_policy() -> HttpPolicy {
    HttpPolicy {
        // Long enough that a loaded CI machine does not time out a PATCH that committed (its
        // retry would be a second, no-op write); injected hangs last longer still.
        timeout: Duration::from_millis(1000),
        max_attempts: 20,
        max_backoff: Duration::from_millis(100),
        // The injected Retry-After is 1 s; the test pretends a 10× clock.
        retry_after_divisor: 10.0,
        ..fast_policy()
    }
}

fn short_name_change(i: usize) -> Changes {
    let mut c = Changes::new();
    c.insert(Field::ShortName, Some(format!("UPD{i:04}")));
    c
}

/// Lists 1,000 organizations and updates the first 200 under `faults`, then checks the listing
/// and the write log.
async fn list_and_update_under_faults(
    client: Arc<PsaClient>,
    set_faults: impl Fn(Option<FaultPlan>),
    write_count: impl Fn() -> (usize, usize),
) {
    set_faults(Some(mixed_faults(21, 0.1, 2500)));
    let listed = client.list_all(Entity::Organization).await.unwrap();
    assert_eq!(listed.len(), 1000);
    let ids: HashSet<&str> = listed.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), 1000);
    let targets: Vec<String> = listed.iter().take(200).map(|r| r.id.clone()).collect();
    let targets = Arc::new(targets);
    let c = client.clone();
    let t = targets.clone();
    let updated: Vec<Record> = run_concurrently(200, 3, move |i| {
        let c = c.clone();
        let t = t.clone();
        async move {
            c.update(Entity::Organization, &t[i], &short_name_change(i))
                .await
                .unwrap()
        }
    })
    .await;
    set_faults(None);
    let stats = client.stats();
    assert!(
        stats.rate_limited > 0 && stats.server_errors > 0 && stats.transport_errors > 0,
        "{stats:?}"
    );
    for (i, r) in updated.iter().enumerate() {
        assert_eq!(r.get(Field::ShortName), Some(format!("UPD{i:04}").as_str()));
    }
    assert_eq!(
        write_count(),
        (200, 0),
        "one write per update: none lost, none repeated"
    );
    let after = client.list_all(Entity::Organization).await.unwrap();
    let changed = after
        .iter()
        .filter(|r| {
            r.get(Field::ShortName)
                .is_some_and(|s| s.starts_with("UPD"))
        })
        .count();
    assert_eq!(changed, 200);
}

fn thousand() -> Dataset {
    Dataset::generate(SeedSpec {
        contacts_per_org: 0,
        configurations_per_org: 0,
        locations_per_org: 0,
        ..SeedSpec::sized(5, 1000)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn itglue_listing_and_updates_survive_injected_faults() {
    let sim = itglue_sim().await;
    load_itglue(&sim.sim, &thousand(), "manual").unwrap();
    let mut config = syncbridge_connectors::ItGlueConfig::new(sim.base_url(), "itg-test-key");
    config.http = fault_policy();
    config.page_size = 100;
    let client = Arc::new(syncbridge_connectors::ItGlueClient::new(config).unwrap());
    let core = sim.sim.core().clone();
    core.faults.set(mixed_faults(21, 0.1, 2500));
    let listed = client.list_all(Entity::Organization).await.unwrap();
    assert_eq!(listed.len(), 1000);
    let targets: Arc<Vec<String>> =
        Arc::new(listed.iter().take(200).map(|r| r.id.clone()).collect());
    let (c, t) = (client.clone(), targets.clone());
    let updated: Vec<Record> = run_concurrently(200, 3, move |i| {
        let (c, t) = (c.clone(), t.clone());
        async move {
            c.update(Entity::Organization, &t[i], &short_name_change(i))
                .await
                .unwrap()
        }
    })
    .await;
    core.faults.clear();
    let stats = client.stats();
    assert!(
        stats.rate_limited > 0 && stats.server_errors > 0 && stats.transport_errors > 0,
        "{stats:?}"
    );
    for (i, r) in updated.iter().enumerate() {
        assert_eq!(r.get(Field::ShortName), Some(format!("UPD{i:04}").as_str()));
    }
    assert_eq!(writes(&core, "organizations"), (200, 0));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connectwise_listing_and_updates_survive_injected_faults() {
    let sim = connectwise_sim().await;
    load_connectwise(&sim.sim, &thousand()).unwrap();
    let mut config = syncbridge_connectors::ConnectWiseConfig::new(
        sim.api_url(),
        "acme",
        "cw-public",
        "cw-private",
        "test-client-id",
    );
    config.http = fault_policy();
    config.page_size = 100;
    let client = Arc::new(PsaClient::ConnectWise(
        syncbridge_connectors::ConnectWiseClient::new(config).unwrap(),
    ));
    let core = sim.sim.core().clone();
    let faults = core.clone();
    list_and_update_under_faults(
        client,
        move |p| faults.faults.set(p.unwrap_or_default()),
        move || writes(&core, "companies"),
    )
    .await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autotask_listing_and_updates_survive_injected_faults() {
    let sim = autotask_sim().await;
    load_autotask(&sim.sim, &thousand(), AT_RESOURCE).unwrap();
    let client = Arc::new(PsaClient::Autotask(autotask_client(&sim, fault_policy())));
    let core = sim.sim.core().clone();
    let faults = core.clone();
    list_and_update_under_faults(
        client,
        move |p| faults.faults.set(p.unwrap_or_default()),
        move || writes(&core, "Companies"),
    )
    .await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kaseya_bms_listing_and_updates_survive_injected_faults() {
    let sim = bms_sim(false).await;
    load_bms(&sim.sim, &thousand()).unwrap();
    let mut config = syncbridge_connectors::BmsConfig::new(
        sim.base_url(),
        BmsFlavor::KaseyaBms,
        "syncbridge",
        "bms-password",
        "acme",
    );
    config.http = fault_policy();
    config.page_size = 100;
    let client = Arc::new(PsaClient::KaseyaBms(
        syncbridge_connectors::BmsClient::new(config).unwrap(),
    ));
    let core = sim.sim.core().clone();
    let faults = core.clone();
    list_and_update_under_faults(
        client,
        move |p| faults.faults.set(p.unwrap_or_default()),
        move || writes(&core, "accounts"),
    )
    .await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_budget_keeps_a_low_vendor_limit_free_of_429s() {
    let sim = itglue_sim().await;
    load_itglue(&sim.sim, &thousand(), "manual").unwrap();
    let core = sim.sim.core().clone();
    // 60 requests per simulated minute; the clock runs 60× → 60 requests per real second.
    core.limiter
        .set(Some(RateLimit::sliding(60, Duration::from_secs(60))));
    core.clock.set_factor(60.0);
    let budget = HttpPolicy {
        rate: Some(RateBudget::per(40, Duration::from_secs(1))),
        retry_after_divisor: 60.0,
        ..fast_policy()
    };
    let client = Arc::new(itglue_client(&sim, budget));
    let c = client.clone();
    let got = run_concurrently(100, 4, move |i| {
        let c = c.clone();
        async move {
            c.get(Entity::Organization, &(i + 1).to_string())
                .await
                .unwrap()
        }
    })
    .await;
    assert!(got.iter().all(Option::is_some));
    let stats = client.stats();
    assert_eq!(
        stats.rate_limited, 0,
        "the budget kept us under the vendor's limit: {stats:?}"
    );
    assert_eq!(stats.requests, 100);
    let usage = core.limiter.usage().expect("limit set");
    assert!(usage.used <= usage.limit);

    // Without a client budget the vendor refuses some calls; all still complete after the
    // (scaled) Retry-After.
    let unbudgeted = Arc::new(itglue_client(
        &sim,
        HttpPolicy {
            retry_after_divisor: 60.0,
            max_attempts: 100,
            ..fast_policy()
        },
    ));
    let c = unbudgeted.clone();
    let got = run_concurrently(120, 8, move |i| {
        let c = c.clone();
        async move {
            c.get(Entity::Organization, &(i + 1).to_string())
                .await
                .unwrap()
        }
    })
    .await;
    assert!(got.iter().all(Option::is_some));
    assert!(
        unbudgeted.stats().rate_limited > 0,
        "{:?}",
        unbudgeted.stats()
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autotask_calls_stay_under_the_thread_limit() {
    let sim = autotask_sim().await;
    load_autotask(&sim.sim, &thousand(), AT_RESOURCE).unwrap();
    // Slow answers make concurrent calls overlap.
    sim.sim.core().faults.set(FaultPlan {
        seed: 3,
        rules: vec![FaultRule {
            method: None,
            path_contains: None,
            fault: Fault::Delay {
                min_ms: 20,
                max_ms: 40,
            },
            probability: 1.0,
            times: None,
        }],
        delivery: Default::default(),
    });
    let client = Arc::new(autotask_client(&sim, fast_policy()));
    let c = client.clone();
    let got = run_concurrently(60, 12, move |i| {
        let c = c.clone();
        async move {
            c.get(Entity::Organization, &(i + 1).to_string())
                .await
                .unwrap()
        }
    })
    .await;
    assert!(got.iter().all(Option::is_some));
    assert_eq!(client.stats().rate_limited, 0, "{:?}", client.stats());
    sim.shutdown().await;
}
