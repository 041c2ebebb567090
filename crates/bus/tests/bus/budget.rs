//! The shared rate budget: several "processes" claiming concurrently never exceed the limit in a
//! window, and the window resets.

use std::time::Duration;

use crate::common::{ready_server, tenant};
use syncbridge_bus::{Budget, SharedRateBudget, StateStore, Taken};

#[tokio::test]
async fn concurrent_claims_never_exceed_the_budget_of_a_window() {
    let (_server, conn) = ready_server().await;
    let budget = Budget {
        limit: 25,
        window: Duration::from_secs(60),
    };
    let now = 1_700_000_000_000 - 1_700_000_000_000 % 60_000 + 1_000;
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let state = StateStore::open(&conn, Duration::from_secs(5))
            .await
            .unwrap();
        let shared = SharedRateBudget::new(state, &tenant(), "autotask", budget).unwrap();
        tasks.push(tokio::spawn(async move {
            let mut granted = 0;
            for _ in 0..20 {
                if shared.take(1, now).await.unwrap() == Taken::Granted {
                    granted += 1;
                }
            }
            granted
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    assert_eq!(total, 25, "exactly the budget across all processes");

    let state = StateStore::open(&conn, Duration::from_secs(5))
        .await
        .unwrap();
    let shared = SharedRateBudget::new(state, &tenant(), "autotask", budget).unwrap();
    assert_eq!(
        shared.take(1, now).await.unwrap(),
        Taken::Wait(Duration::from_millis(59_000))
    );
    // The next window has the whole budget again; another vendor has its own.
    assert_eq!(shared.take(1, now + 60_000).await.unwrap(), Taken::Granted);
    let state = StateStore::open(&conn, Duration::from_secs(5))
        .await
        .unwrap();
    let other = SharedRateBudget::new(state, &tenant(), "itglue", budget).unwrap();
    assert_eq!(other.take(1, now).await.unwrap(), Taken::Granted);
    assert_eq!(
        Budget::half_of(10_000, Duration::from_secs(3600)).limit,
        5_000
    );
}

/// A worker's concurrent events all ask one key: with a budget to spare, none of them may be
/// told to wait (one compare-and-set per request made most of them lose the race and wait).
#[tokio::test]
async fn concurrent_callers_of_one_process_are_not_held_back_by_contention() {
    let (_server, conn) = ready_server().await;
    let state = StateStore::open(&conn, Duration::from_secs(5))
        .await
        .unwrap();
    let budget = Budget {
        limit: 100_000,
        window: Duration::from_secs(60),
    };
    let shared = SharedRateBudget::new(state, &tenant(), "itglue", budget).unwrap();
    let now = 1_700_000_000_000 - 1_700_000_000_000 % 60_000 + 1_000;
    let tasks: Vec<_> = (0..128)
        .map(|_| {
            let shared = shared.clone();
            tokio::spawn(async move {
                let mut waits = 0;
                for _ in 0..8 {
                    if shared.take(1, now).await.unwrap() != Taken::Granted {
                        waits += 1;
                    }
                }
                waits
            })
        })
        .collect();
    let mut waits = 0;
    for t in tasks {
        waits += t.await.unwrap();
    }
    assert_eq!(
        waits, 0,
        "callers told to wait with the budget far from spent"
    );
}

/// Claimed in blocks by several processes at once, a large budget is never exceeded, and what
/// goes unused is at most a block less one per process.
#[tokio::test]
async fn blocks_claimed_by_several_processes_stay_within_the_limit() {
    let (_server, conn) = ready_server().await;
    let budget = Budget {
        limit: 640,
        window: Duration::from_secs(60),
    };
    assert_eq!(budget.block(), 10);
    let now = 1_700_000_000_000 - 1_700_000_000_000 % 60_000 + 1_000;
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let state = StateStore::open(&conn, Duration::from_secs(5))
            .await
            .unwrap();
        let shared = SharedRateBudget::new(state, &tenant(), "itglue", budget).unwrap();
        for _ in 0..16 {
            let shared = shared.clone();
            tasks.push(tokio::spawn(async move {
                let mut granted = 0u32;
                for _ in 0..40 {
                    if shared.take(1, now).await.unwrap() == Taken::Granted {
                        granted += 1;
                    }
                }
                granted
            }));
        }
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    assert!(total <= 640, "{total} calls granted of a 640-call window");
    assert!(
        total >= 640 - 3 * 9,
        "{total}: more than a block per process unused"
    );
    // Small budgets are still claimed call by call.
    assert_eq!(
        Budget {
            limit: 100,
            window: Duration::from_secs(60)
        }
        .block(),
        1
    );
}
