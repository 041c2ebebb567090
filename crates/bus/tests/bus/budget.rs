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
