//! The `syncbridge-demo` binary: the demo (no subcommand), the simulators alone (`sim`), the
//! worker benchmarks (`bench`) or the ingest benchmark's load generator (`loadgen`).

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use syncbridge::runtime::shutdown;
use syncbridge::runtime::telemetry;
use syncbridge_demo::loadgen::{self, Kind, LoadOptions};
use syncbridge_demo::{sim, DemoOptions};
use syncbridge_model::PsaKind;

/// syncbridge on simulated vendors: without a command, the demo — a private nats-server,
/// simulators of IT Glue and the five PSAs, and the real service on them, people editing both
/// sides, then a summary per tenant. Exit status 0 when every tenant converged.
#[derive(Debug, Parser)]
#[command(
    name = "syncbridge-demo",
    version,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    demo: DemoArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the vendor simulators alone (seeded, listening) until Ctrl-C, to point a real
    /// `syncbridge serve` at.
    Sim(SimArgs),
    /// Measure the workers' throughput on the simulators (rate limits off, every vendor request
    /// delayed 0, 50 or 200 ms) and write the figures as a markdown table.
    Bench(BenchArgs),
    /// The ingest floor's load generator (`baseline load`) with a body size: closed loop, CONC
    /// connections for SECS seconds, every request a distinct signed Autotask callout; prints
    /// `req/s p50_ms p99_ms non_2xx total`. Used by deploy/local/bench-ingest.sh.
    Loadgen(LoadgenArgs),
}

#[derive(Debug, Args)]
struct LoadgenArgs {
    /// Where to POST (`baseline serve`'s /hook, or syncbridge's /webhooks/TENANT/autotask).
    url: String,
    /// `bare` (for `baseline serve`: x-signature HMAC-SHA256 with its fixed key, x-id) or
    /// `autotask` (X-Hook-Signature: sha1=, HMAC-SHA1 with SECRET).
    #[arg(value_parser = clap::value_parser!(Kind))]
    kind: Kind,
    /// The Autotask webhook secret (ignored for `bare`, as by the floor).
    secret: String,
    /// Seconds of load.
    secs: u64,
    /// Connections, each with one request in flight.
    conc: usize,
    /// Pad every callout to this many bytes (an extra `Fields` entry of `x`); without it, the
    /// floor's ~260-byte callout, byte for byte.
    #[arg(long, value_name = "N")]
    body_bytes: Option<usize>,
}

#[derive(Debug, Args)]
struct BenchArgs {
    /// Where the markdown table goes (stdout when absent).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Events of one tenant a worker handles at once (`[worker] concurrency`): 64, what one
    /// tenant needs for 100 events/s when every vendor request takes 50 ms.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Configurations of the onboarding benchmarks, comma-separated (each organization holds
    /// two, a location and two contacts); the 100,000 run holds both systems' 600,000 records in
    /// the simulators of this process (about 3 GB).
    #[arg(long, value_delimiter = ',', default_value = "10000,100000")]
    onboard: Vec<usize>,
    /// Edits on each side for the requests-per-edit figures.
    #[arg(long, default_value_t = 10)]
    edits: usize,
    /// Edit rates (per second) of the webhook → IT Glue write latency figures.
    #[arg(long, value_delimiter = ',', default_value = "100,200,500,1000")]
    rates: Vec<u32>,
    /// Which parts to run, comma-separated; the others' tables are left empty.
    #[arg(
        long,
        value_delimiter = ',',
        value_enum,
        default_value = "throughput,onboarding,latency,edits"
    )]
    only: Vec<BenchPart>,
}

/// The parts of `syncbridge-demo bench`, each with its own table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum BenchPart {
    Throughput,
    Onboarding,
    Latency,
    Edits,
}

#[derive(Debug, Args)]
struct DemoArgs {
    /// How long people keep editing ("20s", "2m"); the initial sync and the settling come on top.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    duration: Duration,
    /// Which PSAs get a tenant, comma-separated (connectwise, autotask, kaseya-bms,
    /// pulseway-psa, tigerpaw); all five by default.
    #[arg(long, value_delimiter = ',', value_parser = parse_psa)]
    tenants: Vec<PsaKind>,
    /// Use this NATS server (JetStream, >= 2.10) instead of starting a private one.
    #[arg(long)]
    nats_url: Option<String>,
    /// Organizations per PSA (each with a location, two contacts and two configurations).
    #[arg(long, default_value_t = 12)]
    organizations: usize,
    /// People's edits per second, over all tenants.
    #[arg(long, default_value_t = 5.0)]
    rate: f64,
    /// Stop editing after this many edits (over all tenants), if --duration has not ended first.
    #[arg(long)]
    edits: Option<u64>,
    /// The data set and the edits are the same for the same seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// No progress lines; only the summary.
    #[arg(long)]
    quiet: bool,
    /// Events of one tenant a worker handles at once (`[worker] concurrency`); the service's
    /// default when absent.
    #[arg(long)]
    concurrency: Option<usize>,
}

#[derive(Debug, Args)]
struct SimArgs {
    /// Simulator settings (seed, size, clock factor, ports); defaults without it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    syncbridge::config::duration::parse(text)
}

fn parse_psa(text: &str) -> Result<PsaKind, String> {
    text.parse::<PsaKind>().map_err(|e| {
        format!("{e} (expected connectwise, autotask, kaseya-bms, pulseway-psa or tigerpaw)")
    })
}

/// The `syncbridge` binary's allocator (see its main.rs): the benchmarks measure the service in
/// this process.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Sim(args)) => run_sims(args),
        Some(Command::Bench(args)) => run_bench(args),
        Some(Command::Loadgen(args)) => run_loadgen(args),
        None => run_demo(cli.demo),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_sims(args: SimArgs) -> anyhow::Result<ExitCode> {
    let config = sim::SimConfig::load(args.config.as_deref())?;
    runtime()?.block_on(sim::run(config, shutdown::signal()))?;
    Ok(ExitCode::SUCCESS)
}

fn run_bench(args: BenchArgs) -> anyhow::Result<ExitCode> {
    use syncbridge_demo::bench::{measure, standard_scenarios, table, Scenario};
    use syncbridge_demo::bench_edits::{edits_table, measure_edits};
    use syncbridge_demo::bench_latency::{latency_table, measure_latency};
    use syncbridge_demo::bench_onboarding::{measure_onboarding, onboarding_table};
    telemetry::init_quiet();
    let runtime = runtime()?;
    // One event at a time, for comparison: small, since it is slow under latency.
    let mut runs = vec![(
        1,
        Scenario {
            tenants: vec![PsaKind::ConnectWise],
            delay: Duration::from_millis(50),
            organizations: 10,
        },
    )];
    runs.extend(
        standard_scenarios()
            .into_iter()
            .map(|s| (args.concurrency, s)),
    );
    if !args.only.contains(&BenchPart::Throughput) {
        runs.clear();
    }
    let mut rows = Vec::new();
    for (concurrency, scenario) in runs {
        let measured = runtime.block_on(measure(&scenario, concurrency, 42))?;
        eprintln!(
            "{:?} at {} ms, concurrency {concurrency}: {} events in {:.1} s = {:.0} events/s",
            scenario.tenants,
            scenario.delay.as_millis(),
            measured.events,
            measured.elapsed.as_secs_f64(),
            measured.events_per_second()
        );
        rows.push((concurrency, measured));
    }
    let mut text = table(&rows);
    let mut onboarded = Vec::new();
    let onboard = if args.only.contains(&BenchPart::Onboarding) {
        &args.onboard[..]
    } else {
        &[]
    };
    for configurations in onboard {
        let organizations = (configurations / 2).max(1);
        let m = runtime.block_on(measure_onboarding(organizations, args.concurrency, 42))?;
        eprintln!(
            "onboarding {} configurations: {} linked from the listings, {} events, {:.4} IT Glue \
             reads per record, peak RSS {:.0} MB; unchanged full sync {:.1} s, {} events",
            m.configurations,
            m.linked_from_listings,
            m.events,
            m.itglue_reads_per_record(),
            m.rss_peak_mb,
            m.unchanged_full_sync.as_secs_f64(),
            m.unchanged_events
        );
        onboarded.push(m);
    }
    text.push_str("\n<!-- onboarding -->\n");
    text.push_str(&onboarding_table(&onboarded));
    let latencies = if args.only.contains(&BenchPart::Latency) {
        runtime.block_on(measure_latency(&args.rates, args.concurrency, 42))?
    } else {
        Vec::new()
    };
    for l in &latencies {
        eprintln!(
            "webhook → IT Glue write at {}/s: p50 {} ms, p99 {} ms, max {} ms ({} edits)",
            l.per_second, l.p50_ms, l.p99_ms, l.max_ms, l.edits
        );
    }
    text.push_str("\n<!-- latency -->\n");
    text.push_str(&latency_table(&latencies));
    text.push_str("\n<!-- edits -->\n");
    if args.only.contains(&BenchPart::Edits) {
        let costs = runtime.block_on(measure_edits(args.edits, 42))?;
        text.push_str(&edits_table(&costs));
    }
    match args.out {
        Some(path) => std::fs::write(&path, &text)
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?,
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

fn run_loadgen(args: LoadgenArgs) -> anyhow::Result<ExitCode> {
    let options = LoadOptions {
        url: args.url,
        kind: args.kind,
        secret: args.secret,
        duration: Duration::from_secs(args.secs),
        connections: args.conc,
        body_bytes: args.body_bytes,
    };
    let report = runtime()?.block_on(loadgen::run(&options))?;
    // The one line scripts parse; non-2xx answers are for the caller to judge, as with the floor.
    println!("{report}");
    Ok(ExitCode::SUCCESS)
}

fn run_demo(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let defaults = DemoOptions::default();
    let options = DemoOptions {
        duration: args.duration,
        tenants: if args.tenants.is_empty() {
            defaults.tenants
        } else {
            args.tenants
        },
        nats_url: args.nats_url,
        organizations: args.organizations,
        edits_per_second: args.rate,
        max_edits: args.edits,
        seed: args.seed,
        progress: !args.quiet,
        concurrency: args.concurrency.unwrap_or(defaults.concurrency),
    };
    telemetry::init_quiet();
    let report = runtime()?.block_on(syncbridge_demo::run(options, shutdown::signal()))?;
    if report.interrupted {
        // The conventional status of a program stopped by Ctrl-C.
        return Ok(ExitCode::from(130));
    }
    if report.converged() {
        Ok(ExitCode::SUCCESS)
    } else {
        anyhow::bail!(
            "the run did not converge (see the summary): a difference between the sides, an echo \
             write, a dead letter or a conflict not won by the PSA"
        )
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
