//! `syncbridge-demo sim`: the vendor simulators (IT Glue, ConnectWise PSA, Autotask, Kaseya BMS,
//! Pulseway PSA, Tigerpaw) in a process of their own, seeded with a deterministic data set, for
//! trying syncbridge against something that behaves like the vendors without touching them.
//!
//! The configuration file is optional; every key has a default:
//!
//! ```toml
//! seed = 42              # the data set is the same for the same seed
//! organizations = 25     # each with 1 location, 2 contacts and 2 configurations
//! clock_factor = 1.0     # > 1 plays rate windows and retry schedules faster
//! itglue_source = "psa"  # also load the data set into IT Glue, marked with this source
//!                        # (manual, api, import, network_glue, psa); omit to leave IT Glue empty
//! [ports]                # fixed ports; any left out is a free port
//! itglue = 8101
//! connectwise = 8102
//! ```

use std::net::SocketAddr;
use std::path::Path;

use anyhow::{bail, Context};
use serde::Deserialize;
use syncbridge_sim::fleet::{Fleet, FleetBinds};
use syncbridge_sim::seed::{Dataset, SeedSpec};
use syncbridge_sim::SimClock;

/// The simulators' configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimConfig {
    #[serde(default = "default_seed")]
    pub seed: u64,
    #[serde(default = "default_organizations")]
    pub organizations: usize,
    #[serde(default = "default_factor")]
    pub clock_factor: f64,
    #[serde(default)]
    pub itglue_source: Option<String>,
    #[serde(default)]
    pub ports: Ports,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ports {
    pub itglue: Option<u16>,
    pub connectwise: Option<u16>,
    pub autotask: Option<u16>,
    pub kaseya_bms: Option<u16>,
    pub pulseway_psa: Option<u16>,
    pub tigerpaw: Option<u16>,
}

fn default_seed() -> u64 {
    42
}
fn default_organizations() -> usize {
    25
}
fn default_factor() -> f64 {
    1.0
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: default_seed(),
            organizations: default_organizations(),
            clock_factor: default_factor(),
            itglue_source: None,
            ports: Ports::default(),
        }
    }
}

impl SimConfig {
    /// Reads a file; `None` gives the defaults.
    pub fn load(path: Option<&Path>) -> anyhow::Result<SimConfig> {
        let Some(path) = path else {
            return Ok(SimConfig::default());
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("{}: cannot read", path.display()))?;
        let config: SimConfig =
            toml::from_str(&text).with_context(|| format!("{}", path.display()))?;
        if !(config.clock_factor > 0.0 && config.clock_factor.is_finite()) {
            bail!("{}: clock_factor must be a positive number", path.display());
        }
        if config.organizations > 100_000 {
            bail!("{}: organizations must be at most 100000", path.display());
        }
        Ok(config)
    }
}

fn bind(port: Option<u16>) -> Option<SocketAddr> {
    port.map(|p| SocketAddr::from(([127, 0, 0, 1], p)))
}

/// Starts the fleet, seeds it, prints where each simulator listens, and runs until `stop`.
pub async fn run(
    config: SimConfig,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let clock = SimClock::new();
    clock.set_factor(config.clock_factor);
    let p = config.ports;
    let binds = FleetBinds {
        itglue: bind(p.itglue),
        connectwise: bind(p.connectwise),
        autotask: bind(p.autotask),
        kaseya_bms: bind(p.kaseya_bms),
        pulseway: bind(p.pulseway_psa),
        tigerpaw: bind(p.tigerpaw),
    };
    let fleet = Fleet::start_on(clock, binds)
        .await
        .context("starting the simulators (is a configured port taken?)")?;
    let data = Dataset::generate(SeedSpec::sized(config.seed, config.organizations));
    fleet
        .seed_psas(&data)
        .map_err(|e| anyhow::anyhow!("seeding the PSA simulators: {e:?}"))?;
    if let Some(source) = &config.itglue_source {
        fleet
            .seed_itglue(&data, source)
            .map_err(|e| anyhow::anyhow!("seeding the IT Glue simulator: {e:?}"))?;
    }
    println!("itglue       {}", fleet.itglue.base_url());
    println!("connectwise  {}", fleet.connectwise.api_url());
    println!("autotask     {}", fleet.autotask.api_url());
    println!("kaseya-bms   {}", fleet.kaseya_bms.base_url());
    println!("pulseway-psa {}", fleet.pulseway.base_url());
    println!("tigerpaw     {}", fleet.tigerpaw.base_url());
    println!(
        "ready: {} organizations (seed {}), admin API under /_admin on each; credentials in docs/vendors.md",
        config.organizations, config.seed
    );
    stop.await;
    Ok(())
}
