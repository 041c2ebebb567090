//! All simulators at once, on one shared clock: what the demo and multi-vendor end-to-end tests
//! start. Scaling the fleet's clock scales every vendor's rate windows and retry schedules
//! together.

use std::net::SocketAddr;

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

/// Where each simulator listens (`None`: a free port on 127.0.0.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FleetBinds {
    pub itglue: Option<SocketAddr>,
    pub connectwise: Option<SocketAddr>,
    pub autotask: Option<SocketAddr>,
    pub kaseya_bms: Option<SocketAddr>,
    pub pulseway: Option<SocketAddr>,
    pub tigerpaw: Option<SocketAddr>,
}

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
    /// Starts every simulator with its default configuration on `clock`, on free ports.
    pub async fn start(clock: SimClock) -> std::io::Result<Fleet> {
        Fleet::start_on(clock, FleetBinds::default()).await
    }

    /// Starts every simulator with its default configuration on `clock`, where `binds` says.
    pub async fn start_on(clock: SimClock, binds: FleetBinds) -> std::io::Result<Fleet> {
        let itglue = ItGlueConfig {
            clock: clock.clone(),
            ..Default::default()
        };
        let connectwise = ConnectWiseConfig {
            clock: clock.clone(),
            ..Default::default()
        };
        let autotask = AutotaskConfig {
            clock: clock.clone(),
            ..Default::default()
        };
        let kaseya_bms = BmsConfig {
            clock: clock.clone(),
            ..Default::default()
        };
        let pulseway = BmsConfig {
            clock: clock.clone(),
            ..BmsConfig::pulseway()
        };
        let tigerpaw = TigerpawConfig {
            clock: clock.clone(),
            ..Default::default()
        };
        Ok(Fleet {
            itglue: ItGlue::start(ItGlueConfig {
                bind: binds.itglue.unwrap_or(itglue.bind),
                ..itglue
            })
            .await?,
            connectwise: ConnectWise::start(ConnectWiseConfig {
                bind: binds.connectwise.unwrap_or(connectwise.bind),
                ..connectwise
            })
            .await?,
            autotask: Autotask::start(AutotaskConfig {
                bind: binds.autotask.unwrap_or(autotask.bind),
                ..autotask
            })
            .await?,
            kaseya_bms: KaseyaBms::start(BmsConfig {
                bind: binds.kaseya_bms.unwrap_or(kaseya_bms.bind),
                ..kaseya_bms
            })
            .await?,
            pulseway: KaseyaBms::start(BmsConfig {
                bind: binds.pulseway.unwrap_or(pulseway.bind),
                ..pulseway
            })
            .await?,
            tigerpaw: Tigerpaw::start(TigerpawConfig {
                bind: binds.tigerpaw.unwrap_or(tigerpaw.bind),
                ..tigerpaw
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
