//! The long-running roles of `syncbridge serve` ([`serve`] starts the ones `--role` names): per
//! tenant the worker's consume loop, the IT Glue and PSA pollers and the dead-letter mover
//! ([`workers`]), the full sync with its schedule ([`full_sync`]), and the worker role's reading
//! of the bus's backlog for the metrics ([`bus_gauges`]). The ingest role is `crate::ingest`.
//!
//! Layer: above `vendors`; below `commands`.

pub mod bus_gauges;
pub mod full_sync;
pub mod serve;
pub mod workers;

/// What every loop of one tenant shares: the connection, the tenant's configuration and its
/// vendor clients (budgets shared through `state`), and the stop signal.
#[derive(Clone)]
pub struct TenantRuntime {
    pub conn: syncbridge_bus::Connection,
    pub tenant: crate::config::TenantConfig,
    pub itg: std::sync::Arc<syncbridge_connectors::ItGlueClient>,
    pub psa: std::sync::Arc<syncbridge_connectors::PsaClient>,
    pub state: syncbridge_bus::StateStore,
    pub publish_timeout: std::time::Duration,
    pub stop: tokio::sync::watch::Receiver<bool>,
}
