//! All simulators at once, on one shared clock: what the demo and multi-vendor end-to-end tests
//! start. Scaling the fleet's clock scales every vendor's rate windows and retry schedules
//! together.

use crate::admin::AdminError;
use crate::autotask::{Autotask, AutotaskConfig};
use crate::clock::SimClock;
use crate::connectwise::{ConnectWise, ConnectWiseConfig};
use crate::itglue::{ItGlue, ItGlueConfig};
use crate::kaseya_bms::{BmsConfig, KaseyaBms};
use crate::seed::{load_autotask, load_bms, load_connectwise, load_itglue, load_tigerpaw, Dataset};
use crate::tigerpaw::{Tigerpaw, TigerpawConfig};

/// The Autotask resource that owns seeded companies (a person, not the API user).
const AUTOTASK_OWNER: u64 = 29682885;

/// One running simulator per vendor, default credentials, free ports, one clock.
#[derive(Debug)]
pub struct Fleet {
    pub clock: SimClock,
    pub itglue: ItGlue,
    pub connectwise: ConnectWise,
    pub autotask: Autotask,
    pub kaseya_bms: KaseyaBms,
    pub pulseway: KaseyaBms,
    pub tigerpaw: Tigerpaw,
}

impl Fleet {
    /// Starts every simulator with its default configuration on `clock`.
    pub async fn start(clock: SimClock) -> std::io::Result<Fleet> {
        Ok(Fleet {
            itglue: ItGlue::start(ItGlueConfig {
                clock: clock.clone(),
                ..Default::default()
            })
            .await?,
            connectwise: ConnectWise::start(ConnectWiseConfig {
                clock: clock.clone(),
                ..Default::default()
            })
            .await?,
            autotask: Autotask::start(AutotaskConfig {
                clock: clock.clone(),
                ..Default::default()
            })
            .await?,
            kaseya_bms: KaseyaBms::start(BmsConfig {
                clock: clock.clone(),
                ..Default::default()
            })
            .await?,
            pulseway: KaseyaBms::start(BmsConfig {
                clock: clock.clone(),
                ..BmsConfig::pulseway()
            })
            .await?,
            tigerpaw: Tigerpaw::start(TigerpawConfig {
                clock: clock.clone(),
                ..Default::default()
            })
            .await?,
            clock,
        })
    }

    /// Loads the same data set into every PSA simulator (IT Glue is left to the caller, who decides
    /// what it already holds: see [`Fleet::seed_itglue`]).
    pub fn seed_psas(&self, ds: &Dataset) -> Result<(), AdminError> {
        load_connectwise(&self.connectwise.sim, ds)?;
        load_autotask(&self.autotask.sim, ds, AUTOTASK_OWNER)?;
        load_bms(&self.kaseya_bms.sim, ds)?;
        load_bms(&self.pulseway.sim, ds)?;
        load_tigerpaw(&self.tigerpaw.sim, ds)
    }

    /// Loads a data set into IT Glue, marking its records with `source`.
    pub fn seed_itglue(&self, ds: &Dataset, source: &str) -> Result<(), AdminError> {
        load_itglue(&self.itglue.sim, ds, source)
    }

    /// Stops every simulator.
    pub async fn shutdown(self) {
        self.itglue.shutdown().await;
        self.connectwise.shutdown().await;
        self.autotask.shutdown().await;
        self.kaseya_bms.shutdown().await;
        self.pulseway.shutdown().await;
        self.tigerpaw.shutdown().await;
    }
}
