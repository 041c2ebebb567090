//! `syncbridge-demo bench`: the worker's throughput on simulated vendors, as the figures of
//! docs/benchmarks.md.
//!
//! Each scenario starts the in-process [`Stack`] with the simulators' rate limits and the tenants'
//! budgets out of the way (the vendors' limits are measured elsewhere: this is how fast our own
//! pipeline is when they are not the ceiling), every vendor request delayed by a fixed time (the
//! simulators' `delay` fault: real vendors answer in 100–500 ms), and an onboarding to do: the
//! full sync of a fresh tenant publishes one event per record to create, link or update. The
//! events wait in the stream until the workers start; the figure is events decided per second,
//! from the workers' start until every tenant's consumer is drained.

use std::time::{Duration, Instant};

use syncbridge_model::PsaKind;
use syncbridge_sim::{Fault, FaultPlan, FaultRule};

use crate::stack::{pending, Stack, StackOptions};
use crate::world::Documented;

/// One measurement: which tenants, how slow every vendor request is, how much to onboard.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub tenants: Vec<PsaKind>,
    pub delay: Duration,
    /// Organizations per tenant (each with a location, two contacts and two configurations).
    pub organizations: usize,
}

/// What one scenario measured.
#[derive(Debug, Clone)]
pub struct Measured {
    pub scenario: Scenario,
    /// Events the full syncs published (all tenants).
    pub events: u64,
    /// From the workers' start until every consumer was drained.
    pub elapsed: Duration,
}

impl Measured {
    pub fn events_per_second(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// The scenarios of docs/benchmarks.md, sized to take seconds each on a 2-core machine.
pub fn standard_scenarios() -> Vec<Scenario> {
    let four = vec![
        PsaKind::ConnectWise,
        PsaKind::Autotask,
        PsaKind::KaseyaBms,
        PsaKind::Tigerpaw,
    ];
    let one = vec![PsaKind::ConnectWise];
    let ms = Duration::from_millis;
    vec![
        Scenario {
            tenants: one.clone(),
            delay: ms(0),
            organizations: 200,
        },
        Scenario {
            tenants: four.clone(),
            delay: ms(0),
            organizations: 300,
        },
        Scenario {
            tenants: one.clone(),
            delay: ms(50),
            organizations: 100,
        },
        Scenario {
            tenants: four,
            delay: ms(50),
            organizations: 50,
        },
        Scenario {
            tenants: one,
            delay: ms(200),
            organizations: 50,
        },
    ]
}

/// Runs one scenario from a fresh stack; `concurrency` is the workers' `[worker] concurrency`.
pub async fn measure(
    scenario: &Scenario,
    concurrency: usize,
    seed: u64,
) -> anyhow::Result<Measured> {
    let mut stack = Stack::start(&StackOptions {
        tenants: scenario.tenants.clone(),
        nats_url: None,
        organizations: scenario.organizations,
        seed,
        unlimited: true,
        concurrency,
        documented: Documented::Third,
    })
    .await?;
    let delay_ms = scenario.delay.as_millis() as u64;
    if delay_ms > 0 {
        let plan = FaultPlan {
            rules: vec![FaultRule {
                method: None,
                path_contains: None,
                fault: Fault::Delay {
                    min_ms: delay_ms,
                    max_ms: delay_ms,
                },
                probability: 1.0,
                times: None,
            }],
            ..FaultPlan::default()
        };
        for tenant in &stack.tenants {
            tenant.itglue.sim.core().faults.set(plan.clone());
            tenant.psa.core().faults.set(plan.clone());
        }
    }
    let reports = stack.full_sync("bench").await?;
    let events: u64 = reports.iter().map(|(_, r)| r.published).sum();
    let started = Instant::now();
    stack.run_service();
    let deadline = started + Duration::from_secs(600);
    let tenants: Vec<_> = stack.config.tenants.keys().cloned().collect();
    // Unknown until the workers have created their consumers.
    while pending(&stack.conn, &tenants).await.unwrap_or(u64::MAX) > 0 {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the workers did not drain within 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let elapsed = started.elapsed();
    stack.stop().await;
    Ok(Measured {
        scenario: scenario.clone(),
        events,
        elapsed,
    })
}

/// The scenarios' figures as a markdown table.
pub fn table(rows: &[(usize, Measured)]) -> String {
    let mut out = String::from(
        "| tenants | vendor delay | events | concurrency | wall time | events/s |\n\
         |---|---|---|---|---|---|\n",
    );
    for (concurrency, m) in rows {
        let tenants: Vec<&str> = m.scenario.tenants.iter().map(|k| k.as_str()).collect();
        out.push_str(&format!(
            "| {} | {} ms | {} | {} | {:.1} s | {:.0} |\n",
            tenants.join(", "),
            m.scenario.delay.as_millis(),
            m.events,
            concurrency,
            m.elapsed.as_secs_f64(),
            m.events_per_second()
        ));
    }
    out
}
