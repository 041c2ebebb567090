//! `check_before_write`: the check runs for a task's first write request once that request's rate
//! budget is granted, and a failing check leaves the write unsent — so a person's edit made while
//! the write waited for its budget is seen, not overwritten.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Map};
use syncbridge_connectors::{check_before_write, Check, Error, HttpPolicy, RateBudget};
use syncbridge_model::{Changes, Entity, Field};
use syncbridge_sim::admin::AdminOps;
use syncbridge_sim::seed::{load_connectwise, Dataset, SeedSpec};

use crate::common::*;

/// One request per `every`, so a write waits for its turn.
fn slow_budget(every: Duration) -> HttpPolicy {
    HttpPolicy {
        rate: Some(RateBudget::per(1, every)),
        ..fast_policy()
    }
}

fn short_name(value: &str) -> Changes {
    let mut changes = Changes::new();
    changes.insert(Field::ShortName, Some(value.to_owned()));
    changes
}

/// The check the worker makes: the company's name is still what it read.
fn name_still(client: Arc<syncbridge_connectors::ConnectWiseClient>, name: String) -> Check {
    Arc::new(move || {
        let (client, name) = (client.clone(), name.clone());
        Box::pin(async move {
            match client.get(Entity::Organization, "1").await? {
                Some(now) if now.get(Field::Name) == Some(name.as_str()) => Ok(()),
                _ => Err(Error::ChangedSinceRead),
            }
        })
    })
}

/// A ConnectWise simulator with one company, a client with `policy`, and the company's name as
/// read now.
async fn one_company(
    policy: HttpPolicy,
) -> (
    syncbridge_sim::connectwise::ConnectWise,
    Arc<syncbridge_connectors::ConnectWiseClient>,
    String,
) {
    let sim = connectwise_sim().await;
    load_connectwise(&sim.sim, &Dataset::generate(SeedSpec::sized(1, 2))).unwrap();
    let client = Arc::new(connectwise_client(&sim, policy));
    let read = client
        .get(Entity::Organization, "1")
        .await
        .unwrap()
        .unwrap();
    let name = read.get(Field::Name).unwrap().to_owned();
    (sim, client, name)
}

/// A person renames the company in ConnectWise's UI.
fn rename_as_a_person(sim: &syncbridge_sim::connectwise::ConnectWise) {
    let mut rename = Map::new();
    rename.insert("name".into(), json!("Renamed by a person"));
    sim.sim.edit("companies", "1", "alice", rename).unwrap();
}

/// A person renames the company while our write waits for its rate budget: the check, made once
/// the budget is granted, sees the rename and the write is never sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_made_while_the_write_waits_for_its_budget_stops_the_write() {
    let (sim, client, name) = one_company(slow_budget(Duration::from_secs(3))).await;
    sim.sim.core().requests.clear();
    // The read above took the budget's only request: the write below waits ~3 s for its turn.
    let write = {
        let client = client.clone();
        tokio::spawn(async move {
            let check = name_still(client.clone(), name);
            check_before_write(
                check,
                client.update(Entity::Organization, "1", &short_name("OURS")),
            )
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    rename_as_a_person(&sim);
    let outcome = write.await.unwrap();
    assert_eq!(outcome.unwrap_err(), Error::ChangedSinceRead);
    let requests = &sim.sim.core().requests;
    assert_eq!(requests.writes(), 0, "{:?}", requests.snapshot());
    assert_eq!(
        requests.reads(),
        1,
        "the check's read: {:?}",
        requests.snapshot()
    );
    sim.shutdown().await;
}

/// A check that passes lets the write go; work that writes nothing never runs the check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passing_check_lets_the_write_go_and_a_read_runs_no_check() {
    let (sim, client, name) = one_company(fast_policy()).await;
    let written = check_before_write(
        name_still(client.clone(), name),
        client.update(Entity::Organization, "1", &short_name("OURS")),
    )
    .await
    .unwrap();
    assert_eq!(written.get(Field::ShortName), Some("OURS"));
    let ran = Arc::new(AtomicBool::new(false));
    let check: Check = {
        let ran = ran.clone();
        Arc::new(move || {
            ran.store(true, Ordering::SeqCst);
            Box::pin(async { Ok(()) })
        })
    };
    check_before_write(check, client.get(Entity::Organization, "1"))
        .await
        .unwrap();
    assert!(!ran.load(Ordering::SeqCst), "a read runs no check");
    sim.shutdown().await;
}

/// A write the vendor refuses with 429 waits out its Retry-After and tries again: the check runs
/// again before that attempt, so a person's edit made during the wait stops it too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_write_runs_its_check_again() {
    use syncbridge_sim::{Fault, FaultPlan, FaultRule};
    let (sim, client, name) = one_company(fast_policy()).await;
    sim.sim.core().faults.set(FaultPlan {
        rules: vec![FaultRule {
            method: Some("PATCH".into()),
            path_contains: None,
            fault: Fault::Status {
                status: 429,
                retry_after_secs: Some(2),
                message: None,
            },
            probability: 1.0,
            times: Some(1),
        }],
        ..FaultPlan::default()
    });
    let write = {
        let client = client.clone();
        tokio::spawn(async move {
            check_before_write(
                name_still(client.clone(), name),
                client.update(Entity::Organization, "1", &short_name("OURS")),
            )
            .await
        })
    };
    // Once the first attempt was refused, a person renames the company during the wait.
    let requests = &sim.sim.core().requests;
    while requests.snapshot().iter().all(|c| c.status != 429) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    rename_as_a_person(&sim);
    assert_eq!(write.await.unwrap().unwrap_err(), Error::ChangedSinceRead);
    let patched = requests
        .snapshot()
        .iter()
        .filter(|c| c.method == "PATCH" && c.status < 300)
        .count();
    assert_eq!(patched, 0, "{:?}", requests.snapshot());
    sim.shutdown().await;
}
