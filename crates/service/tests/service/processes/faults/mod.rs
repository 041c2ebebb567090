//! The fault suite (issue 13; docs/reliability.md): `syncbridge serve` processes under the faults a
//! deployment meets, each during a burst of people's edits on both sides:
//!
//! - [`worker_kill`]: a worker process killed with SIGKILL at random moments, and started again;
//! - [`nats_outage`]: the nats-server stopped for 10 s and started again;
//! - [`vendor_errors`]: 10% of vendor calls failing (429, 5xx, gateway timeouts, creates that
//!   commit and then time out) during mixed two-way traffic;
//! - [`deliveries`]: callbacks duplicated and reordered, reads served by a lagging replica, and
//!   events replayed after everything settled.
//!
//! Each ends with the same checks ([`guarantees`]): both sides equal, no duplicate record, no echo
//! write, no edit lost (every accepted callback is in the stream, every event decided), and no
//! dead letter but permanent refusals.
//!
//! The CI variant takes seconds to a minute per test; `SYNCBRIDGE_FAULTS_LONG=1` (or the project's
//! `SYNCBRIDGE_LONG_TESTS=1`) runs the long one (20 kill rounds, bigger bursts, a longer outage). Every random choice (the edits, the kill
//! moments, the vendors' faults) comes from one seed, printed at the start and set with
//! `SYNCBRIDGE_FAULTS_SEED=N` to replay a failure (the processes' own timing is not replayed).

mod burst;
mod deliveries;
mod guarantees;
mod nats_outage;
mod stale_read_after_a_poll;
mod vendor_errors;
mod worker_kill;

use syncbridge_sim::rng::SimRng;

/// Set to `1` for the long variant of this suite.
const LONG_ENV: &str = "SYNCBRIDGE_FAULTS_LONG";
/// Set to `1` for the long variant of every test that has one (this suite included).
const ALL_LONG_ENV: &str = "SYNCBRIDGE_LONG_TESTS";
/// Set to a number to replay a run's random choices.
const SEED_ENV: &str = "SYNCBRIDGE_FAULTS_SEED";

/// Whether the long variant runs.
fn long() -> bool {
    [LONG_ENV, ALL_LONG_ENV]
        .iter()
        .any(|name| std::env::var(name).is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true")))
}

/// `ci` in the CI variant, `long` in the long one.
fn sized<T>(ci: T, long: T) -> T {
    if self::long() {
        long
    } else {
        ci
    }
}

/// One fault test's run: the others wait (each starts several processes on a shared machine),
/// every random choice comes from `rng`, seeded from [`SEED_ENV`] when set, else from the clock;
/// the seed is printed first so that a failure can be replayed.
struct Run {
    /// Held until the test ends (a destructuring must bind it by name, not with `..` or `_`).
    _one_at_a_time: tokio::sync::MutexGuard<'static, ()>,
    seed: u64,
    rng: SimRng,
    started: std::time::Instant,
}

impl Run {
    async fn begin(test: &str) -> Run {
        let one_at_a_time = SERIAL.lock().await;
        let seed = match std::env::var(SEED_ENV) {
            Ok(v) => v
                .trim()
                .parse()
                .unwrap_or_else(|_| panic!("{SEED_ENV}={v:?} is not a number")),
            Err(_) => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or_default(),
        };
        let variant = if long() {
            " SYNCBRIDGE_FAULTS_LONG=1"
        } else {
            ""
        };
        eprintln!("{test}: seed {seed} (replay: {SEED_ENV}={seed}{variant})");
        Run {
            _one_at_a_time: one_at_a_time,
            seed,
            rng: SimRng::new(seed),
            started: std::time::Instant::now(),
        }
    }
}

use super::harness::{eventually, logs, Proc, World, SERIAL};

/// Worker processes' `[worker] concurrency`.
const CONCURRENCY: usize = 32;

/// A tenant of `organizations` ConnectWise companies with the ingest, the pollers and one worker
/// running, after its initial full sync converged; with the linked pairs the burst edits
/// (organizations, contacts).
struct Synced {
    w: World,
    ingest: Proc,
    poller: Proc,
    worker: Proc,
    orgs: Vec<(String, String)>,
    contacts: Vec<(String, String)>,
}

async fn synced(organizations: usize) -> Synced {
    let w = World::start(organizations, CONCURRENCY).await;
    let (ingest, poller) = w.spawn_feeds().await;
    let worker = w.spawn("worker", "worker-0", None);
    w.full_sync("initial").await;
    eventually("the initial sync", async || w.converged().await)
        .await
        .unwrap_or_else(|e| panic!("{e}{}", logs(&[&worker, &ingest, &poller])));
    let orgs = w.linked_pairs(syncbridge_model::Entity::Organization).await;
    let contacts = w.linked_pairs(syncbridge_model::Entity::Contact).await;
    Synced {
        w,
        ingest,
        poller,
        worker,
        orgs,
        contacts,
    }
}

/// Waits until the workers have no event pending or unacknowledged, the faults still on.
async fn drained(w: &World, procs: &[&Proc]) {
    eventually("the backlog drained under faults", async || {
        match w.pending().await {
            Some(0) => Ok(()),
            other => Err(format!("events pending: {other:?}")),
        }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}{}", logs(procs)));
}

/// Both simulators back to answering as they should.
fn clear_faults(w: &World) {
    w.tenant.itglue.sim.core().faults.clear();
    w.tenant.psa.core().faults.clear();
}
