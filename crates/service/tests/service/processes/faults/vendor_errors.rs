//! 10% of vendor calls failing during mixed two-way traffic (edits on both sides, organizations
//! created in ConnectWise, contacts added in IT Glue by Network Glue), as the vendors fail:
//! 429 with `Retry-After`, 500/502/503, gateway timeouts (504 after 2 s, nothing stored), and
//! creates that are stored and then time out (the ambiguous failure that makes duplicates when a
//! client simply tries again). The faults apply to every caller, syncbridge's processes and the
//! people alike; they stay until the workers have drained the backlog, then the checks run.

use syncbridge_sim::{Fault, FaultPlan, FaultRule};

use super::burst::{self, BurstSpec};
use super::{clear_faults, drained, guarantees, sized, synced, Run};

/// `fault` on any request, with `probability`.
fn any(fault: Fault, probability: f64) -> FaultRule {
    FaultRule {
        method: None,
        path_contains: None,
        fault,
        probability,
        times: None,
    }
}

fn status(status: u16, retry_after_secs: Option<u64>) -> Fault {
    Fault::Status {
        status,
        retry_after_secs,
        message: None,
    }
}

/// About one call in ten fails; `creates`: the path of the creates only syncbridge makes on this
/// side (the people's creates must not commit twice when they try again), one in ten of which is
/// stored and then times out.
fn one_in_ten(seed: u64, creates: &str) -> FaultPlan {
    FaultPlan {
        seed,
        rules: vec![
            FaultRule {
                method: Some("POST".into()),
                path_contains: Some(creates.into()),
                fault: Fault::CommitThenTimeout { hang_ms: 2_000 },
                probability: 0.1,
                times: None,
            },
            any(status(429, Some(1)), 0.03),
            any(status(503, None), 0.02),
            any(status(500, None), 0.02),
            any(status(502, None), 0.01),
            any(Fault::Timeout { hang_ms: 2_000 }, 0.02),
        ],
        ..FaultPlan::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_vendor_call_in_ten_failing_during_two_way_traffic_loses_and_duplicates_nothing() {
    // Every field bound by name: the lock is held to the end of the test.
    let Run {
        _one_at_a_time,
        seed,
        mut rng,
        started,
    } = Run::begin("vendor_errors").await;
    let spec = BurstSpec {
        edits: sized(300, 1_500),
        org_creates: sized(6, 30),
        network_glue: sized(6, 30),
        tag: "V",
        span: None,
    };
    let s = synced(sized(4, 12)).await;
    let w = &s.w;
    let procs = [&s.worker, &s.ingest, &s.poller];
    // IT Glue: every POST is syncbridge's (the people only edit there); ConnectWise: the people
    // create companies, syncbridge creates the Network Glue contacts.
    let cores = [w.tenant.itglue.sim.core(), w.tenant.psa.core()];
    for core in cores {
        core.requests.clear();
    }
    w.tenant.itglue.sim.core().faults.set(one_in_ten(seed, "/"));
    w.tenant
        .psa
        .core()
        .faults
        .set(one_in_ten(seed.wrapping_add(1), "/company/contacts"));
    let burst = burst::run(&w.tenant, &s.orgs, &s.contacts, &spec, &mut rng).await;
    let burst_done = started.elapsed();
    drained(w, &procs).await;
    let drained_at = started.elapsed();
    clear_faults(w);
    // Every vendor call while the faults were on, and those answered 429 or 5xx.
    let (calls, failed) = cores.iter().flat_map(|core| core.requests.snapshot()).fold(
        (0, 0),
        |(calls, failed), c| {
            let refused = c.status == 429 || c.status >= 500;
            (calls + c.count, failed + if refused { c.count } else { 0 })
        },
    );

    let outcome = guarantees::hold(w, &burst, &procs).await;
    eprintln!(
        "vendor_errors: seed {seed}: {}, {} of the people's calls refused and made again; \
         {failed} of {calls} vendor calls failed; burst over at {burst_done:?}, backlog drained \
         under faults at {drained_at:?}; all held after {:?}: {outcome}",
        burst.describe(),
        burst.person_retries,
        started.elapsed()
    );
}
