//! A worker process killed with SIGKILL at random moments of a burst of 1,000 changes (ConnectWise
//! callbacks, IT Glue poll rounds, organizations created in ConnectWise) and started again, three
//! times (twenty in the long variant): unlike the deterministic kill points of
//! `reliability.rs` and the worker's `crash_points.rs`, the moment is anywhere — mid-read, between
//! a vendor write and the link store, between the store and the ack, mid-publish of an audit.

use std::time::Duration;

use super::super::harness::{logs, Proc};
use super::burst::{self, BurstSpec};
use super::{guarantees, sized, synced, Run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_killed_at_random_moments_of_a_burst_loses_and_duplicates_nothing() {
    // Every field bound by name: the lock is held to the end of the test.
    let Run {
        _one_at_a_time,
        seed,
        mut rng,
        started,
    } = Run::begin("worker_kill").await;
    let rounds: usize = sized(3, 20);
    let spec = BurstSpec {
        edits: sized(1_000, 3_000),
        org_creates: sized(12, 40),
        network_glue: 0,
        span: None,
        tag: "K",
    };
    let s = synced(sized(6, 12)).await;
    let w = &s.w;
    let mut worker = s.worker;
    let mut killed: Vec<Proc> = Vec::new();
    let mut kill_rng = syncbridge_sim::rng::SimRng::new(seed ^ 0x6b69_6c6c);

    // The kills: each after a random delay, spread over the burst and the backlog it leaves.
    let killer = async {
        let mut moments = Vec::new();
        for round in 1..=rounds {
            let delay = Duration::from_millis(200 + kill_rng.below(2_300));
            tokio::time::sleep(delay).await;
            moments.push(started.elapsed());
            worker.child.start_kill().expect("SIGKILL the worker");
            let status = worker
                .wait_exit(Duration::from_secs(30))
                .await
                .unwrap_or_else(|| panic!("the worker outlived SIGKILL{}", logs(&[&worker])));
            // Killed by a signal: no exit code.
            assert!(status.code().is_none(), "{status:?}");
            let next = s.w.spawn("worker", &format!("worker-{round}"), None);
            killed.push(std::mem::replace(&mut worker, next));
        }
        moments
    };
    let (burst, moments) = tokio::join!(
        burst::run(&w.tenant, &s.orgs, &s.contacts, &spec, &mut rng),
        killer
    );
    let burst_and_kills_done = started.elapsed();

    let mut procs: Vec<&Proc> = killed.iter().collect();
    procs.extend([&worker, &s.ingest, &s.poller]);
    let outcome = guarantees::hold(w, &burst, &procs).await;
    assert!(worker.is_running(), "{}", logs(&[&worker]));
    eprintln!(
        "worker_kill: seed {seed}: {}, {rounds} SIGKILLs at {:?}, burst and kills over at {:?}; all held \
         after {:?}: {outcome}",
        burst.describe(),
        moments,
        burst_and_kills_done,
        started.elapsed()
    );
}
