//! `syncbridge-demo bench`'s webhook → IT Glue write latency: a ConnectWise tenant whose
//! configurations are all linked; people edit one configuration's notes after another at a fixed
//! rate through the simulator's UI path, so ConnectWise sends its callback to the ingest; the
//! latency of an edit is from the edit to IT Glue's write of that record, both read on the
//! simulators' clock (milliseconds) — observed at the simulators, as a user would see it.
//!
//! An unmeasured warm-up at the first rate comes first; then each rate runs for a few seconds on
//! a fresh set of records (no record is edited twice while
//! its first edit may be in flight); edits that never reach IT Glue within the drain limit count
//! as lost and fail the run.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{json, Map};
use syncbridge_bus::LinkStore;
use syncbridge_model::{Entity, PsaKind, TenantId};
use syncbridge_sim::writes::WriteQuery;

use crate::stack::{pending, Stack, StackOptions};
use crate::world::Documented;

/// The latencies of one rate.
#[derive(Debug, Clone)]
pub struct Latency {
    pub per_second: u32,
    pub edits: usize,
    pub p50_ms: u64,
    pub p99_ms: u64,
    pub max_ms: u64,
}

/// How long each rate runs.
const RUN: Duration = Duration::from_secs(4);
/// How long the unmeasured warm-up at the first rate runs: the first seconds after the workers
/// and pollers start (consumers created, first poll rounds, connection pools filled) are slower
/// than the steady state the figures are about (p99 from ~0.2 to ~2 s in them, run to run).
const WARM_UP: Duration = Duration::from_secs(2);
/// Longest wait for the last edits of a rate to reach IT Glue.
const DRAIN: Duration = Duration::from_secs(120);

/// Measures each of `rates` (edits per second) on one stack.
pub async fn measure_latency(
    rates: &[u32],
    concurrency: usize,
    seed: u64,
) -> anyhow::Result<Vec<Latency>> {
    let warm_up = rates
        .first()
        .map_or(0, |r| *r as usize * WARM_UP.as_secs() as usize);
    let needed: usize = warm_up
        + rates
            .iter()
            .map(|r| *r as usize * RUN.as_secs() as usize)
            .sum::<usize>();
    let mut stack = Stack::start(&StackOptions {
        tenants: vec![PsaKind::ConnectWise],
        nats_url: None,
        // Half the organizations are in scope, each with two configurations.
        organizations: needed + 100,
        seed,
        unlimited: true,
        concurrency,
        documented: Documented::All,
    })
    .await?;
    // Out of the second the simulators were seeded in (the first polls overlap it).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    stack.full_sync("latency").await?;
    stack.run_service();
    let tenants: Vec<TenantId> = stack.config.tenants.keys().cloned().collect();
    drain(&stack, &tenants).await?;
    let links = LinkStore::open(&stack.conn, Duration::from_secs(5)).await?;
    let mut pairs: Vec<(String, String)> = links
        .all(&tenants[0], Entity::Configuration)
        .await?
        .into_iter()
        .filter_map(|l| Some((l.psa_id?, l.itg_id?)))
        .collect();
    anyhow::ensure!(
        pairs.len() >= needed,
        "{} linked configurations, {needed} needed",
        pairs.len()
    );
    if let Some(&first) = rates.first() {
        let batch: Vec<(String, String)> = pairs.drain(..warm_up).collect();
        one_rate(&stack, &tenants, first, batch).await?;
    }
    let mut out = Vec::new();
    for &rate in rates {
        let batch: Vec<(String, String)> = pairs
            .drain(..rate as usize * RUN.as_secs() as usize)
            .collect();
        out.push(one_rate(&stack, &tenants, rate, batch).await?);
    }
    stack.stop().await;
    Ok(out)
}

async fn one_rate(
    stack: &Stack,
    tenants: &[TenantId],
    rate: u32,
    batch: Vec<(String, String)>,
) -> anyhow::Result<Latency> {
    let tenant = &stack.tenants[0];
    let clock = tenant.itglue.sim.core().clock.clone();
    let writes = &tenant.itglue.sim.core().writes;
    let mut edited_at: HashMap<String, i64> = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1) / rate);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    for (n, (psa_id, itg_id)) in batch.iter().enumerate() {
        tick.tick().await;
        let mut notes = Map::new();
        notes.insert(
            "notes".into(),
            json!(format!("latency bench {rate}/s #{n}")),
        );
        edited_at.insert(itg_id.clone(), clock.now_millis());
        tenant
            .psa
            .edit_as_person("configurations", psa_id, notes)
            .map_err(|e| anyhow::anyhow!("the person's edit: {e}"))?;
    }
    let started = Instant::now();
    let mut latencies = loop {
        let arrived = arrivals(writes, &edited_at);
        if arrived.len() == edited_at.len() {
            break arrived;
        }
        anyhow::ensure!(
            started.elapsed() < DRAIN,
            "{} of {} edits at {rate}/s reached IT Glue within {DRAIN:?}",
            arrived.len(),
            edited_at.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    drain(stack, tenants).await?;
    latencies.sort_unstable();
    let at = |q: f64| {
        latencies[((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1]
    };
    Ok(Latency {
        per_second: rate,
        edits: latencies.len(),
        p50_ms: at(0.50),
        p99_ms: at(0.99),
        max_ms: *latencies.last().unwrap_or(&0),
    })
}

/// For each edited IT Glue record written since its edit: the time from the edit to the write.
fn arrivals(
    writes: &syncbridge_sim::writes::WriteLog,
    edited_at: &HashMap<String, i64>,
) -> Vec<u64> {
    let query = WriteQuery {
        collection: Some("configurations".into()),
        ..WriteQuery::default()
    };
    let mut first: HashMap<&str, i64> = HashMap::new();
    for w in writes.entries(&query) {
        if let Some((id, &edited)) = edited_at.get_key_value(w.record_id.as_str()) {
            if w.at >= edited {
                let at = first.entry(id.as_str()).or_insert(w.at);
                *at = (*at).min(w.at);
            }
        }
    }
    first
        .iter()
        .map(|(id, at)| (at - edited_at[*id]).max(0) as u64)
        .collect()
}

async fn drain(stack: &Stack, tenants: &[TenantId]) -> anyhow::Result<()> {
    let started = Instant::now();
    while pending(&stack.conn, tenants).await.unwrap_or(u64::MAX) > 0 {
        anyhow::ensure!(started.elapsed() < DRAIN, "the workers did not drain");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// The latency figures as a markdown table.
pub fn latency_table(rows: &[Latency]) -> String {
    let mut out = String::from("| edits/s | edits | p50 | p99 | max |\n|---|---|---|---|---|\n");
    for r in rows {
        out.push_str(&format!(
            "| {} | {} | {} ms | {} ms | {} ms |\n",
            r.per_second, r.edits, r.p50_ms, r.p99_ms, r.max_ms
        ));
    }
    out
}
