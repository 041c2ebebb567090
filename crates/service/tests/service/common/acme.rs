//! Tenant `acme` configured as a user would, on a private nats-server ([`super::bus`]) and the
//! simulators, with the worker and poller loops `serve` runs: the fixtures of the role tests
//! (`roles/`) and of `ingest/standard_webhooks.rs`.

use std::time::Duration;

use syncbridge::config::Config;
use syncbridge::roles::workers::{spawn_all, Loops};
use syncbridge_bus::Connection;
use syncbridge_connectors::PsaClient;
use syncbridge_connectors::{ConnectWiseClient, ConnectWiseConfig, ItGlueClient, ItGlueConfig};
use syncbridge_model::{Entity, Field, Record, Values};
use syncbridge_sim::connectwise::{ConnectWise, ConnectWiseConfig as SimConnectWise};
use syncbridge_sim::itglue::{ItGlue, ItGlueConfig as SimItGlue};
use syncbridge_sim::seed::{load_connectwise, Dataset, SeedSpec};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The IT Glue API key of the tenant (the simulator takes any).
pub const ITG_KEY: &str = "itg-test-key";

/// The IT Glue simulator, without a rate limit.
pub async fn itglue_sim() -> ItGlue {
    ItGlue::start(SimItGlue {
        rate_limit: None,
        ..SimItGlue::default()
    })
    .await
    .unwrap()
}

/// The ConnectWise simulator with its lookups (company types and statuses) and one company, as a
/// real site has.
pub async fn connectwise_sim() -> ConnectWise {
    let sim = ConnectWise::start(SimConnectWise::default()).await.unwrap();
    load_connectwise(&sim.sim, &Dataset::generate(SeedSpec::sized(1, 1))).unwrap();
    sim
}

/// The tenant's IT Glue client configuration for the simulator `sim`.
pub fn itglue_config(sim: &ItGlue) -> ItGlueConfig {
    ItGlueConfig::new(sim.base_url(), ITG_KEY)
}

/// The tenant's IT Glue client on the simulator `sim`.
pub fn itglue_client(sim: &ItGlue) -> ItGlueClient {
    ItGlueClient::new(itglue_config(sim)).unwrap()
}

/// The tenant's ConnectWise client configuration (syncbridge's API member) for the simulator `sim`.
pub fn connectwise_config(sim: &ConnectWise) -> ConnectWiseConfig {
    ConnectWiseConfig::new(
        sim.api_url(),
        "acme",
        "cw-public",
        "cw-private",
        "test-client-id",
    )
}

/// The tenant's ConnectWise client on the simulator `sim`.
pub fn connectwise_client(sim: &ConnectWise) -> PsaClient {
    PsaClient::ConnectWise(ConnectWiseClient::new(connectwise_config(sim)).unwrap())
}

/// Creates a company in the tenant's scope (type Client, Active) named `name` in the PSA, as a
/// person would.
pub async fn create_client_company(psa: &PsaClient, name: &str) -> Record {
    let values = Values::new()
        .with(Field::Name, name)
        .with(Field::Type, "Client")
        .with(Field::Status, "Active");
    psa.create(Entity::Organization, None, &values)
        .await
        .unwrap()
}

/// The configuration: the nats-server at `nats`, and tenant `acme` with the keys `sync` in its
/// sync table ([`super::sync_keys`], …) and IT Glue at `itg`; `more` is the rest of the TOML (the
/// PSA's table, e.g. [`super::connectwise_table`], polling, ingest).
pub fn config(nats: &str, sync: &str, itg: &str, more: &str) -> Config {
    super::single_tenant_config(nats, "acme", sync, itg, ITG_KEY, more)
}

/// The configuration of the tenant on Tigerpaw at `tigerpaw` (Active organizations of type
/// `org_type`), with IT Glue at `itg` and both pollers every `interval`.
pub fn tigerpaw_config(
    nats: &str,
    itg: &str,
    tigerpaw: &str,
    org_type: &str,
    interval: &str,
) -> Config {
    config(
        nats,
        &format!(
            r#"psa = "tigerpaw"
org_types = ["{org_type}"]
org_statuses = ["Active"]"#
        ),
        itg,
        &format!(
            r#"[tenants.acme.tigerpaw]
base_url = "{tigerpaw}"
public_key = "tp-public"
private_key = "tp-private"

{polling}"#,
            polling = polling_table(interval),
        ),
    )
}

/// The tenant's `[tenants.acme.polling]` table: both pollers every `interval` (e.g. `"300ms"`).
pub fn polling_table(interval: &str) -> String {
    format!(
        r#"[tenants.acme.polling]
itglue_interval = "{interval}"
psa_interval = "{interval}""#
    )
}

/// The worker and/or poller loops of every tenant of a configuration, as `serve` runs them, on
/// their own stop signal (dropped without [`Running::stop`], they run on to the test's end).
pub struct Running {
    stop: watch::Sender<bool>,
    handles: Vec<JoinHandle<()>>,
}

impl Running {
    /// Starts the `loops` of every tenant of `config` on `conn`.
    pub fn start(conn: &Connection, config: &Config, loops: Loops) -> Running {
        let (stop, stop_rx) = watch::channel(false);
        let handles = spawn_all(
            conn,
            config.tenants.values().cloned(),
            Duration::from_secs(5),
            loops,
            &stop_rx,
        );
        Running { stop, handles }
    }

    /// Signals the loops to stop; each must stop within 30 s, without a panic.
    pub async fn stop(self) {
        self.stop.send(true).unwrap();
        for h in self.handles {
            tokio::time::timeout(Duration::from_secs(30), h)
                .await
                .expect("loops stop on the signal")
                .unwrap();
        }
    }

    /// Signals the loops to stop and gives each `wait` to finish, however it ends.
    pub async fn stop_within(self, wait: Duration) {
        self.stop.send(true).unwrap();
        for h in self.handles {
            let _ = tokio::time::timeout(wait, h).await;
        }
    }
}
