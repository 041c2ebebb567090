//! `syncbridge-demo`: the whole product in one process, on simulated vendors.
//!
//! It starts a private nats-server (free port, temporary store; or uses `--nats-url`), one IT
//! Glue simulator and one PSA simulator per tenant (one tenant per PSA: [`world`](crate::world)), and the real
//! service on them — the webhook ingest on a local port with our webhooks registered at the
//! simulators, the workers, the pollers and the dead-letter mover, configured from the same TOML
//! a user writes. A full sync links and creates what exists; then people edit both sides
//! ([`driver`](crate::driver)) for `--duration`, including same-field conflicts. Progress is read live from the
//! audit stream ([`tally`](crate::tally)); at the end every linked pair is compared field by field through the
//! vendors' APIs ([`verify`](crate::verify)) and the simulators' write logs are searched for echo writes.
//!
//! The exit status says whether the run converged: 0 when both sides are equal for every tenant,
//! there is no echo write, no event was dead-lettered and every conflict ended with the PSA's
//! value. Ctrl-C stops the run
//! where it is, prints the summary so far and exits with 130.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use syncbridge_bus::{DeadLetters, LinkStore};
use syncbridge_model::{PsaKind, TenantId};
use tokio::sync::watch;

use crate::driver::{Driver, Edits, Expectation};
use crate::stack::{pending, Stack, StackOptions};
use crate::tally::{Tally, TenantTally};
use crate::verify;
use crate::world::{DemoTenant, Documented, ALL_KINDS};

/// What `syncbridge-demo` runs.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// How long people keep editing (the run also syncs first and settles after).
    pub duration: Duration,
    /// The PSAs to run a tenant for.
    pub tenants: Vec<PsaKind>,
    /// An existing NATS server (JetStream, ≥ 2.10) instead of a private one.
    pub nats_url: Option<String>,
    /// Organizations per PSA (each with a location, two contacts, two configurations).
    pub organizations: usize,
    /// Edits per second, over all tenants.
    pub edits_per_second: f64,
    /// Stop editing after this many edits (over all tenants), if `duration` has not ended first.
    pub max_edits: Option<u64>,
    pub seed: u64,
    /// Whether to print live progress lines.
    pub progress: bool,
    /// The workers' `[worker] concurrency`.
    pub concurrency: usize,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            duration: Duration::from_secs(30),
            tenants: ALL_KINDS.to_vec(),
            nats_url: None,
            organizations: 12,
            edits_per_second: 5.0,
            max_edits: None,
            seed: 42,
            progress: true,
            concurrency: syncbridge::config::WorkerConfig::default().concurrency,
        }
    }
}

/// One tenant's line of the final summary.
#[derive(Debug, Clone)]
pub struct TenantSummary {
    pub tenant: String,
    pub tally: TenantTally,
    pub edits: Edits,
    pub sync_writes: usize,
    pub echo_writes: usize,
    /// Events the workers gave up on (`SYNC_DLQ`): a vendor refused a write, or retries ran out.
    pub dead_letters: Vec<String>,
    pub compared: usize,
    pub differences: Vec<String>,
    pub conflicts_expected: usize,
    pub conflicts_won_by_psa: usize,
}

impl TenantSummary {
    pub fn converged(&self) -> bool {
        self.differences.is_empty()
            && self.echo_writes == 0
            && self.dead_letters.is_empty()
            && self.conflicts_won_by_psa == self.conflicts_expected
    }
}

/// The result of a run.
#[derive(Debug, Clone)]
pub struct DemoReport {
    pub tenants: Vec<TenantSummary>,
    pub interrupted: bool,
}

impl DemoReport {
    pub fn converged(&self) -> bool {
        self.tenants.iter().all(TenantSummary::converged)
    }
}

/// Longest wait for the initial sync, and for the last edits to settle.
const SETTLE_LIMIT: Duration = Duration::from_secs(90);
/// The audit stream must be quiet this long (with nothing pending) to call a run settled: longer
/// than the slowest poll interval of the demo tenants.
const QUIET: Duration = Duration::from_secs(5);
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(5);
/// Dead letters listed per tenant in the summary (the count is what matters: it must be 0).
const MAX_DEAD_LETTERS_SHOWN: usize = 1000;

fn say(line: impl AsRef<str>) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", line.as_ref());
    let _ = out.flush();
}

/// Runs the demo until it is done or `interrupt` resolves; prints as it goes.
pub async fn run(
    options: DemoOptions,
    interrupt: impl std::future::Future<Output = ()>,
) -> anyhow::Result<DemoReport> {
    let started = Instant::now();
    tokio::pin!(interrupt);
    let mut stack = Stack::start(&StackOptions {
        tenants: options.tenants.clone(),
        nats_url: options.nats_url.clone(),
        organizations: options.organizations,
        seed: options.seed,
        unlimited: false,
        concurrency: options.concurrency,
        documented: Documented::Third,
    })
    .await?;
    for line in &stack.log {
        say(line);
    }
    let tally = Tally::default();
    let follower = tokio::spawn(tally.clone().follow(stack.conn.client().clone()));
    // Give the subscription a moment to reach the server before anything is audited.
    stack.conn.client().flush().await.ok();
    stack.run_service();
    for (tenant, report) in stack.full_sync("demo").await? {
        say(format!(
            "{:<16} full sync: {} records queued",
            tenant,
            report.total()
        ));
    }
    let (conn, tenants) = (stack.conn.clone(), stack.tenants.clone());
    let ids: Vec<TenantId> = stack.config.tenants.keys().cloned().collect();
    let mut interrupted = false;
    tokio::select! {
        r = settle(&conn, &ids, &tally, options.progress, started) => r?,
        _ = &mut interrupt => interrupted = true,
    }
    say(format!(
        "[{:>5.1}s] initial sync done: {} decisions",
        started.elapsed().as_secs_f64(),
        tally.snapshot().values().map(|t| t.events).sum::<u64>()
    ));

    // People edit both sides.
    let links = LinkStore::open(&conn, PUBLISH_TIMEOUT).await?;
    let (edits, expectations) = if interrupted {
        Default::default()
    } else {
        let people = edit_both_sides(&tenants, &links, &options, &tally, started, &mut interrupt);
        let (edits, expectations, stopped) = people.await;
        interrupted = stopped;
        (edits, expectations)
    };
    if !interrupted {
        say(format!(
            "[{:>5.1}s] edits done; letting the last ones sync",
            started.elapsed().as_secs_f64()
        ));
        tokio::select! {
            r = settle(&conn, &ids, &tally, options.progress, started) => r?,
            _ = &mut interrupt => interrupted = true,
        }
    }

    // The verdict, from the vendors themselves.
    let dead = DeadLetters::new(conn.clone(), PUBLISH_TIMEOUT);
    let summaries = verdict(&tenants, &links, &dead, &tally, &edits, &expectations).await?;
    let report = DemoReport {
        tenants: summaries,
        interrupted,
    };
    print_summary(&report, started);

    follower.abort();
    stack.stop().await;
    Ok(report)
}

/// One person per tenant edits both sides until `options` says stop (duration or edit count) or
/// `interrupt` fires (third value true); a slow vendor never holds up the others.
async fn edit_both_sides<I: std::future::Future<Output = ()> + Unpin>(
    tenants: &[Arc<DemoTenant>],
    links: &LinkStore,
    options: &DemoOptions,
    tally: &Tally,
    started: Instant,
    interrupt: &mut I,
) -> (BTreeMap<String, Edits>, Vec<Expectation>, bool) {
    let edits: Arc<Mutex<BTreeMap<String, Edits>>> = Arc::default();
    let per_tenant = options.edits_per_second.max(0.1) / tenants.len().max(1) as f64;
    let gap = Duration::from_secs_f64(1.0 / per_tenant);
    let until = Instant::now() + options.duration;
    let (done_tx, done_rx) = watch::channel(false);
    let budget = Arc::new(AtomicU64::new(options.max_edits.unwrap_or(u64::MAX)));
    let mut people = Vec::new();
    for (i, tenant) in tenants.iter().enumerate() {
        let person = Person {
            tenant: tenant.clone(),
            driver: Driver::new(links.clone(), options.seed.wrapping_add(i as u64)),
            edits: edits.clone(),
            budget: budget.clone(),
        };
        people.push(tokio::spawn(person.edit(gap, until, done_rx.clone())));
    }
    let mut ticker = tokio::time::interval(Duration::from_secs(2));
    ticker.tick().await;
    let all_done = futures_util::future::join_all(people);
    tokio::pin!(all_done);
    let (mut finished, mut interrupted) = (None, false);
    while Instant::now() < until {
        tokio::select! {
            _ = ticker.tick() => {
                if options.progress {
                    progress_line(started, tally, &edits.lock().unwrap_or_else(|e| e.into_inner()));
                }
            }
            _ = tokio::time::sleep_until(until.into()) => {}
            results = &mut all_done => { finished = Some(results); break; }
            _ = &mut *interrupt => { interrupted = true; break; }
        }
    }
    let _ = done_tx.send(true);
    let results = match finished {
        Some(results) => results,
        None => all_done.await,
    };
    let expectations = results
        .into_iter()
        .flat_map(|r| r.unwrap_or_default())
        .collect();
    let edits = edits.lock().unwrap_or_else(|e| e.into_inner()).clone();
    (edits, expectations, interrupted)
}

/// One tenant's person: edits at `gap` intervals while there is time and edit budget left.
struct Person {
    tenant: Arc<DemoTenant>,
    driver: Driver,
    edits: Arc<Mutex<BTreeMap<String, Edits>>>,
    budget: Arc<AtomicU64>,
}

impl Person {
    async fn edit(
        mut self,
        gap: Duration,
        until: Instant,
        mut done: watch::Receiver<bool>,
    ) -> Vec<Expectation> {
        while Instant::now() < until && !*done.borrow() && self.budget.load(Ordering::SeqCst) > 0 {
            let mut mine = Edits::default();
            if self.driver.step(&self.tenant, &mut mine).await {
                // People's edits, counted as the summary counts them (a conflict is two).
                let made = mine.total();
                let _ = self
                    .budget
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                        Some(n.saturating_sub(made))
                    });
            }
            self.edits
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(self.tenant.id.clone())
                .or_default()
                .add(&mine);
            tokio::select! {
                _ = tokio::time::sleep(gap) => {}
                _ = done.changed() => {}
            }
        }
        self.driver.expectations
    }
}

/// Each tenant's line of the summary: the audit tally, the people's edits, and what the vendors
/// show now (pairs compared, echo writes, conflicts that ended with the PSA's value).
async fn verdict(
    tenants: &[Arc<DemoTenant>],
    links: &LinkStore,
    dead: &DeadLetters,
    tally: &Tally,
    edits: &BTreeMap<String, Edits>,
    expectations: &[Expectation],
) -> anyhow::Result<Vec<TenantSummary>> {
    let snapshot = tally.snapshot();
    let mut summaries = Vec::new();
    for tenant in tenants {
        let comparison = verify::compare(tenant, links).await?;
        let (sync_writes, echo_writes) = tenant.sync_writes();
        let tenant_id = TenantId::new(&tenant.id)?;
        let dead_letters = dead
            .list(&tenant_id, MAX_DEAD_LETTERS_SHOWN)
            .await?
            .into_iter()
            .map(|d| {
                format!(
                    "#{} {}: {}",
                    d.seq,
                    d.entity.map_or("?".into(), |e| e.to_string()),
                    d.error
                )
            })
            .collect();
        let expected: Vec<_> = expectations
            .iter()
            .filter(|x| x.tenant == tenant.id)
            .collect();
        let mut won = 0;
        for x in &expected {
            if conflict_won_by_psa(tenant, x).await {
                won += 1;
            }
        }
        summaries.push(TenantSummary {
            tenant: tenant.id.clone(),
            tally: snapshot.get(&tenant.id).cloned().unwrap_or_default(),
            edits: edits.get(&tenant.id).cloned().unwrap_or_default(),
            sync_writes,
            echo_writes,
            dead_letters,
            compared: comparison.compared,
            differences: comparison.differences,
            conflicts_expected: expected.len(),
            conflicts_won_by_psa: won,
        });
    }
    Ok(summaries)
}

/// Whether both sides hold the PSA's value of a conflict.
async fn conflict_won_by_psa(tenant: &DemoTenant, x: &Expectation) -> bool {
    let psa = tenant
        .psa_reader
        .get(x.entity, &x.psa_id)
        .await
        .ok()
        .flatten();
    let itg = tenant
        .itglue_reader
        .get(x.entity, &x.itg_id)
        .await
        .ok()
        .flatten();
    let holds = |r: Option<&syncbridge_model::Record>| {
        r.and_then(|r| r.get(x.field)) == Some(x.value.as_str())
    };
    holds(psa.as_ref()) && holds(itg.as_ref())
}

/// Waits until nothing is pending and the audit stream has been quiet for [`QUIET`] (pollers have
/// had their rounds), or [`SETTLE_LIMIT`].
async fn settle(
    conn: &syncbridge_bus::Connection,
    tenants: &[TenantId],
    tally: &Tally,
    progress: bool,
    started: Instant,
) -> anyhow::Result<()> {
    let limit = Instant::now() + SETTLE_LIMIT;
    let decisions = || tally.snapshot().values().map(|t| t.events).sum::<u64>();
    let mut last = (decisions(), Instant::now());
    let mut next_line = Instant::now() + Duration::from_secs(2);
    while Instant::now() < limit {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = decisions();
        let waiting = pending(conn, tenants).await.unwrap_or(u64::MAX);
        if now != last.0 || waiting > 0 {
            last = (now, Instant::now());
        } else if last.1.elapsed() >= QUIET {
            return Ok(());
        }
        if progress && Instant::now() >= next_line {
            next_line += Duration::from_secs(2);
            say(format!(
                "[{:>5.1}s] syncing: {now} decisions, {waiting} events pending",
                started.elapsed().as_secs_f64()
            ));
        }
    }
    say("settling took longer than expected; reporting what is there");
    Ok(())
}

fn progress_line(started: Instant, tally: &Tally, edits: &BTreeMap<String, Edits>) {
    let snap = tally.snapshot();
    let people: u64 = edits.values().map(Edits::total).sum();
    let decisions: u64 = snap.values().map(|t| t.events).sum();
    let writes: u64 = snap
        .values()
        .map(|t| t.created_in_itglue + t.updated_in_itglue + t.pushed + t.reverted)
        .sum();
    say(format!(
        "[{:>5.1}s] people's edits {people} · decisions {decisions} · writes {writes}",
        started.elapsed().as_secs_f64()
    ));
}

fn ms(v: Option<u64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v} ms"))
}

fn print_summary(report: &DemoReport, started: Instant) {
    say("");
    say(format!(
        "Summary after {:.1}s{}",
        started.elapsed().as_secs_f64(),
        if report.interrupted {
            " (interrupted: the last edits may still be on their way)"
        } else {
            ""
        }
    ));
    say(format!(
        "{:<14} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>9} {:>9} {:>9} {:>6} {:>6}  both sides equal",
        "tenant",
        "edits",
        "created",
        "updated",
        "linked",
        "orphan",
        "pushed",
        "revert",
        "conflicts",
        "p50",
        "p99",
        "echo",
        "dead"
    ));
    for t in &report.tenants {
        let y = &t.tally;
        say(format!(
            "{:<14} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>9} {:>9} {:>9} {:>6} {:>6}  {}",
            t.tenant,
            t.edits.total(),
            y.created_in_itglue,
            y.updated_in_itglue,
            y.linked,
            y.orphaned,
            y.pushed,
            y.reverted,
            format!("{}/{}", t.conflicts_won_by_psa, t.conflicts_expected),
            ms(y.latency_quantile(0.5)),
            ms(y.latency_quantile(0.99)),
            t.echo_writes,
            t.dead_letters.len(),
            if t.differences.is_empty() {
                format!("yes ({} pairs)", t.compared)
            } else {
                format!(
                    "NO ({} of {} pairs differ)",
                    t.differences.len(),
                    t.compared
                )
            }
        ));
    }
    say("");
    say("edits: people's edits (PSA + IT Glue + Network Glue contacts + deletions); conflicts: same field");
    say(
        "edited on both sides, resolved to the PSA's value on both / seen; latency: event → write;",
    );
    say("echo: writes by syncbridge that changed nothing (must be 0); dead: events dead-lettered (must be 0).");
    for t in &report.tenants {
        for d in &t.dead_letters {
            say(format!("{}: dead letter {d}", t.tenant));
        }
        if t.edits.failed > 0 {
            say(format!(
                "{}: {} edits were refused by the vendor",
                t.tenant, t.edits.failed
            ));
        }
        if t.tally.near_misses > 0 {
            say(format!(
                "{}: {} near misses reported (same name but for case/whitespace: created, not linked)",
                t.tenant, t.tally.near_misses
            ));
        }
        for d in t.differences.iter().take(5) {
            say(format!("{}: differs: {d}", t.tenant));
        }
        say(format!(
            "{}: {} writes by syncbridge, {} decisions",
            t.tenant, t.sync_writes, t.tally.events
        ));
    }
}
