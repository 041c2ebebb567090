//! `syncbridge-demo bench`'s onboarding figures: a ConnectWise tenant whose IT Glue already
//! documents everything its PSA holds, named as the PSA names it (as IT Glue's own PSA integration
//! would have left it), onboarded by one full sync and the workers; then a second, unchanged full
//! sync of the same. Vendor requests are counted at the simulators (every request answered,
//! listings included), and the process's memory is read from `/proc/self/status`.
//!
//! What it shows: records that already agree are linked from the full sync's listings, so the
//! onboarding costs the listings (a page of up to 1,000 records per request) rather than reads per
//! record; only the records that differ become events.

use std::time::{Duration, Instant};

use syncbridge_model::PsaKind;
use syncbridge_sim::request_tally::RequestTally;

use crate::stack::{pending, Stack, StackOptions};
use crate::world::Documented;

/// The vendor requests one side answered, split as the figures need them.
#[derive(Debug, Clone, Copy, Default)]
pub struct Requests {
    /// GETs of one record (`…/{id}`).
    pub record_reads: u64,
    /// Other GETs: listings, searches, lookups.
    pub list_reads: u64,
    pub writes: u64,
}

impl Requests {
    pub fn of(tally: &RequestTally) -> Requests {
        let mut out = Requests::default();
        for c in tally.snapshot() {
            match c.method.as_str() {
                "GET" if c.route.ends_with("{id}") => out.record_reads += c.count,
                "GET" => out.list_reads += c.count,
                _ => out.writes += c.count,
            }
        }
        out
    }

    pub fn reads(&self) -> u64 {
        self.record_reads + self.list_reads
    }
}

/// What one onboarding measured.
#[derive(Debug, Clone)]
pub struct Onboarded {
    pub organizations: usize,
    pub configurations: u64,
    /// PSA records listed (every synced entity).
    pub records: u64,
    /// The first full sync: listings, plan, links from the listings, events published.
    pub full_sync: Duration,
    pub linked_from_listings: u64,
    pub events: u64,
    /// From the workers' start until every event was decided.
    pub drained: Duration,
    pub itglue: Requests,
    pub psa: Requests,
    /// The second full sync of the unchanged tenant.
    pub unchanged_full_sync: Duration,
    pub unchanged_events: u64,
    /// Resident memory after the simulators were seeded, and the process's peak from then until
    /// the unchanged full sync ended: the growth is syncbridge's (full sync, workers, pollers)
    /// plus the simulators' transient pages (the simulators hold both systems' data set in the
    /// same process, counted in the seeded figure).
    pub rss_seeded_mb: f64,
    pub rss_peak_mb: f64,
}

impl Onboarded {
    pub fn itglue_reads_per_record(&self) -> f64 {
        self.itglue.reads() as f64 / self.records.max(1) as f64
    }
}

/// Onboards `organizations` organizations (each with a location, two contacts and two
/// configurations) of a ConnectWise tenant already documented in IT Glue.
pub async fn measure_onboarding(
    organizations: usize,
    concurrency: usize,
    seed: u64,
) -> anyhow::Result<Onboarded> {
    let mut stack = Stack::start(&StackOptions {
        tenants: vec![PsaKind::ConnectWise],
        nats_url: None,
        organizations,
        seed,
        unlimited: true,
        concurrency,
        documented: Documented::All,
    })
    .await?;
    let rss_seeded_mb = memory_mb("VmRSS");
    // From here on VmHWM is the peak of the onboarding, not of the seeding (whose transient
    // buffers would otherwise hide it).
    reset_peak_rss();
    // The first polls overlap the second before the full sync (the vendors stamp to the
    // second): records seeded in that second would be listed as changed, which a tenant
    // documented long ago never is.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let tenant = stack.tenants[0].clone();
    let (itg_tally, psa_tally) = (
        &tenant.itglue.sim.core().requests,
        &tenant.psa.core().requests,
    );
    itg_tally.clear();
    psa_tally.clear();
    let started = Instant::now();
    let reports = stack.full_sync("onboarding").await?;
    let full_sync = started.elapsed();
    let report = &reports[0].1;
    let started = Instant::now();
    stack.run_service();
    let tenants: Vec<_> = stack.config.tenants.keys().cloned().collect();
    let deadline = started + Duration::from_secs(1800);
    while pending(&stack.conn, &tenants).await.unwrap_or(u64::MAX) > 0 {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the onboarding did not drain within 30 minutes"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let drained = started.elapsed();
    let (itglue, psa) = (Requests::of(itg_tally), Requests::of(psa_tally));
    let started = Instant::now();
    let unchanged = stack.full_sync("unchanged").await?;
    let unchanged_full_sync = started.elapsed();
    let configurations = report
        .listed
        .iter()
        .filter(|(e, _)| *e == syncbridge_model::Entity::Configuration)
        .map(|(_, n)| n)
        .sum();
    let measured = Onboarded {
        organizations,
        configurations,
        records: report.listed.iter().map(|(_, n)| n).sum(),
        full_sync,
        linked_from_listings: report.linked.iter().map(|(_, n)| n).sum(),
        events: report.published,
        drained,
        itglue,
        psa,
        unchanged_full_sync,
        unchanged_events: unchanged[0].1.published,
        rss_seeded_mb,
        rss_peak_mb: memory_mb("VmHWM"),
    };
    stack.stop().await;
    Ok(measured)
}

/// Resets the process's peak resident set (VmHWM) to its current RSS (Linux `clear_refs` 5);
/// where that is not possible the peak stays the whole process's, which only overstates it.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// A `/proc/self/status` memory line (`VmRSS`, `VmHWM`) in MiB; 0 where there is none.
fn memory_mb(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The onboarding figures as a markdown table.
pub fn onboarding_table(rows: &[Onboarded]) -> String {
    let mut out = String::from(
        "| configurations | records (PSA) | full sync | linked from listings | events | \
         workers drained | IT Glue reads (per record) | IT Glue writes | PSA reads | \
         unchanged full sync | its events | RSS seeded → peak (growth) |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for m in rows {
        out.push_str(&format!(
            "| {} | {} | {:.1} s | {} | {} | {:.1} s | {} ({:.4}) | {} | {} | {:.1} s | {} | {:.0} → {:.0} MB (+{:.0}) |\n",
            m.configurations,
            m.records,
            m.full_sync.as_secs_f64(),
            m.linked_from_listings,
            m.events,
            m.drained.as_secs_f64(),
            m.itglue.reads(),
            m.itglue_reads_per_record(),
            m.itglue.writes,
            m.psa.reads(),
            m.unchanged_full_sync.as_secs_f64(),
            m.unchanged_events,
            m.rss_seeded_mb,
            m.rss_peak_mb,
            (m.rss_peak_mb - m.rss_seeded_mb).max(0.0),
        ));
    }
    out
}
