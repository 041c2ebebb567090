//! The nats-server stopped for 10 s (30 s in the long variant) in the middle of a burst and
//! started again (same port, same store), the processes left running. During the outage the
//! ingest answers ConnectWise's callbacks 503, and ConnectWise, which documents no retry (the
//! simulator makes one attempt per callback, docs/vendors.md), drops them: the PSA's safety-net
//! poll finds those changes. IT Glue's poll rounds fail and keep their cursor.

use std::time::Duration;

use super::burst::{self, BurstSpec};
use super::{guarantees, sized, synced, Run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_server_stopped_during_a_burst_loses_no_change() {
    // Every field bound by name: the lock is held to the end of the test.
    let Run {
        _one_at_a_time,
        seed,
        mut rng,
        started,
    } = Run::begin("nats_outage").await;
    let outage = Duration::from_secs(sized(10, 30));
    let spec = BurstSpec {
        edits: sized(300, 1_500),
        org_creates: sized(6, 20),
        network_glue: 0,
        span: Some(outage + Duration::from_secs(4)),
        tag: "N",
    };
    let mut s = synced(sized(4, 12)).await;
    let into_burst = Duration::from_millis(300 + rng.below(1_000));
    let (tenant, nats) = (&s.w.tenant, &mut s.w.nats);
    let outage_window = async {
        tokio::time::sleep(into_burst).await;
        let down = started.elapsed();
        nats.kill();
        tokio::time::sleep(outage).await;
        nats.restart().await.expect("restart nats-server");
        (down, started.elapsed())
    };
    let (burst, (down, up)) = tokio::join!(
        burst::run(tenant, &s.orgs, &s.contacts, &spec, &mut rng),
        outage_window
    );
    let burst_done = started.elapsed();

    let outcome = guarantees::hold(&s.w, &burst, &[&s.worker, &s.ingest, &s.poller]).await;
    for p in [&mut s.worker, &mut s.ingest, &mut s.poller] {
        assert!(
            p.is_running(),
            "{} exited: nobody restarts syncbridge here",
            p.name
        );
    }
    eprintln!(
        "nats_outage: seed {seed}: {}; nats-server down from {down:?} to {up:?}, burst over at \
         {burst_done:?}; all held after {:?}: {outcome}",
        burst.describe(),
        started.elapsed()
    );
}
