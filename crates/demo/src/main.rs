//! The `syncbridge-demo` binary: the demo (no subcommand) or the simulators alone (`sim`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use syncbridge::runtime::shutdown;
use syncbridge::runtime::telemetry;
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Sim(args)) => run_sims(args),
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
