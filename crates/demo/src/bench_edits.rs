//! `syncbridge-demo bench`'s vendor requests per edit: on a settled two-way ConnectWise tenant, a
//! person edits the notes of one linked configuration at a time — in the PSA, then in IT Glue —
//! through the simulators' UI path (which sends ConnectWise's callback but is no API request), and
//! the simulators count every request syncbridge makes until the edit has reached the other side
//! and the IT Glue poller has seen syncbridge's own write (two of its 1-second rounds later).
//!
//! Record reads (GETs of one record) and writes are syncbridge's cost of the edit; the listing
//! GETs in the same time are the pollers' rounds, which cost the same with or without edits, and
//! are reported apart.

use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use syncbridge_bus::LinkStore;
use syncbridge_model::{Entity, PsaKind, TenantId};
use syncbridge_sim::admin::AdminOps;

use crate::bench_onboarding::Requests;
use crate::stack::{pending, Stack, StackOptions};
use crate::world::{DemoTenant, Documented};

/// The requests of the edits on one side, summed.
#[derive(Debug, Clone, Copy, Default)]
pub struct EditCost {
    pub edits: u64,
    pub psa: Requests,
    pub itglue: Requests,
}

impl EditCost {
    fn add(&mut self, psa: Requests, itglue: Requests) {
        self.edits += 1;
        for (sum, one) in [(&mut self.psa, psa), (&mut self.itglue, itglue)] {
            sum.record_reads += one.record_reads;
            sum.list_reads += one.list_reads;
            sum.writes += one.writes;
        }
    }

    fn per_edit(&self, n: u64) -> f64 {
        n as f64 / self.edits.max(1) as f64
    }
}

/// Requests per PSA edit and per IT Glue edit, `edits` of each.
pub struct EditCosts {
    pub psa_edits: EditCost,
    pub itglue_edits: EditCost,
}

/// How long after an edit reached the other side the IT Glue poller is given to list our write.
const ECHO_ROUNDS: Duration = Duration::from_millis(2_500);
/// Longest wait for one edit to reach the other side.
const EDIT_LIMIT: Duration = Duration::from_secs(60);

pub async fn measure_edits(edits: usize, seed: u64) -> anyhow::Result<EditCosts> {
    let mut stack = Stack::start(&StackOptions {
        tenants: vec![PsaKind::ConnectWise],
        nats_url: None,
        organizations: 20,
        seed,
        unlimited: true,
        concurrency: 8,
        documented: Documented::Third,
    })
    .await?;
    stack.full_sync("initial").await?;
    stack.run_service();
    let tenants: Vec<TenantId> = stack.config.tenants.keys().cloned().collect();
    settle(&stack, &tenants).await?;
    let tenant = stack.tenants[0].clone();
    let links = LinkStore::open(&stack.conn, Duration::from_secs(5)).await?;
    let pairs: Vec<(String, String)> = {
        let mut out = Vec::new();
        for link in links.all(&tenants[0], Entity::Configuration).await? {
            if let (Some(p), Some(i), true) = (link.psa_id, link.itg_id, link.base.is_some()) {
                out.push((p, i));
            }
        }
        out
    };
    anyhow::ensure!(!pairs.is_empty(), "no linked configuration to edit");
    let mut psa_edits = EditCost::default();
    let mut itglue_edits = EditCost::default();
    for n in 0..edits {
        let (psa_id, itg_id) = &pairs[n % pairs.len()];
        let value = format!("edited in the PSA, bench {n}");
        let (psa, itg) = measured(
            &tenant,
            || {
                tenant
                    .psa
                    .edit_as_person("configurations", psa_id, fields("notes", &value))
                    .map(|_| ())
            },
            || itglue_notes(&tenant, itg_id).as_deref() == Some(value.as_str()),
        )
        .await?;
        psa_edits.add(psa, itg);
        let value = format!("edited in IT Glue, bench {n}");
        let (psa, itg) = measured(
            &tenant,
            || {
                tenant
                    .itglue
                    .sim
                    .edit("configurations", itg_id, "person", fields("notes", &value))
                    .map(|_| ())
            },
            || psa_notes(&tenant, psa_id).as_deref() == Some(value.as_str()),
        )
        .await?;
        itglue_edits.add(psa, itg);
        settle(&stack, &tenants).await?;
    }
    stack.stop().await;
    Ok(EditCosts {
        psa_edits,
        itglue_edits,
    })
}

/// Makes one edit and counts the requests until `arrived` holds and the IT Glue poller had its
/// rounds after it.
async fn measured(
    tenant: &DemoTenant,
    edit: impl FnOnce() -> Result<(), syncbridge_sim::admin::AdminError>,
    arrived: impl Fn() -> bool,
) -> anyhow::Result<(Requests, Requests)> {
    let (psa_tally, itg_tally) = (
        &tenant.psa.core().requests,
        &tenant.itglue.sim.core().requests,
    );
    psa_tally.clear();
    itg_tally.clear();
    edit().map_err(|e| anyhow::anyhow!("the person's edit: {e}"))?;
    let started = Instant::now();
    while !arrived() {
        anyhow::ensure!(
            started.elapsed() < EDIT_LIMIT,
            "an edit did not reach the other side within {EDIT_LIMIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(ECHO_ROUNDS).await;
    Ok((Requests::of(psa_tally), Requests::of(itg_tally)))
}

async fn settle(stack: &Stack, tenants: &[TenantId]) -> anyhow::Result<()> {
    let started = Instant::now();
    while pending(&stack.conn, tenants).await.unwrap_or(u64::MAX) > 0 {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(300),
            "the workers did not drain within 5 minutes"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

fn fields(name: &str, value: &str) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert(name.to_owned(), json!(value));
    out
}

fn stored_field(sim: &dyn AdminOps, collection: &str, id: &str, field: &str) -> Option<String> {
    let records = sim.state(collection).ok()?;
    let record = records
        .iter()
        .find(|r| r["id"].to_string().trim_matches('"') == id)?;
    record
        .get(field)
        .or_else(|| record.get("attributes").and_then(|a| a.get(field)))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

fn itglue_notes(tenant: &DemoTenant, id: &str) -> Option<String> {
    stored_field(&*tenant.itglue.sim, "configurations", id, "notes")
}

fn psa_notes(tenant: &DemoTenant, id: &str) -> Option<String> {
    match &tenant.psa {
        crate::world::PsaSim::ConnectWise(cw) => {
            stored_field(&*cw.sim, "configurations", id, "notes")
        }
        _ => None,
    }
}

/// The per-edit figures as a markdown table.
pub fn edits_table(costs: &EditCosts) -> String {
    let mut out = String::from(
        "| edit | edits | PSA record reads | IT Glue record reads | PSA writes | IT Glue writes | \
         listing reads meanwhile (pollers) |\n|---|---|---|---|---|---|---|\n",
    );
    for (name, c) in [
        ("in the PSA", &costs.psa_edits),
        ("in IT Glue", &costs.itglue_edits),
    ] {
        out.push_str(&format!(
            "| {name} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.1} |\n",
            c.edits,
            c.per_edit(c.psa.record_reads),
            c.per_edit(c.itglue.record_reads),
            c.per_edit(c.psa.writes),
            c.per_edit(c.itglue.writes),
            c.per_edit(c.psa.list_reads + c.itglue.list_reads),
        ));
    }
    out
}
