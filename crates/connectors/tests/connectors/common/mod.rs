//! Shared test set-up: simulators started in-process and clients with small timeouts and fast
//! backoff, so fault tests finish in seconds.

use std::time::Duration;

use syncbridge_connectors::{
    AutotaskClient, AutotaskConfig, BmsClient, BmsConfig, BmsFlavor, ConnectWiseClient,
    ConnectWiseConfig, HttpPolicy, ItGlueClient, ItGlueConfig, TigerpawClient, TigerpawConfig,
};
use syncbridge_sim::autotask::{Autotask, AutotaskConfig as SimAutotaskConfig};
use syncbridge_sim::connectwise::{ConnectWise, ConnectWiseConfig as SimConnectWiseConfig};
use syncbridge_sim::itglue::{ItGlue, ItGlueConfig as SimItGlueConfig};
use syncbridge_sim::kaseya_bms::{BmsConfig as SimBmsConfig, KaseyaBms};
use syncbridge_sim::tigerpaw::{Tigerpaw, TigerpawConfig as SimTigerpawConfig};
use syncbridge_sim::writes::WriteQuery;
use syncbridge_sim::{Core, Fault, FaultPlan, FaultRule};

/// The Autotask API user's resource id in the simulator's defaults.
pub const AT_RESOURCE: u64 = 30691780;

/// Short timeouts and backoff for tests (the simulators answer in milliseconds).
pub fn fast_policy() -> HttpPolicy {
    HttpPolicy {
        timeout: Duration::from_secs(3),
        connect_timeout: Duration::from_secs(1),
        max_attempts: 8,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(50),
        max_retry_after: Duration::from_secs(5),
        rate: None,
        shared: None,
        rate_per_endpoint: false,
        per_endpoint_concurrency: None,
        retry_after_divisor: 1.0,
        metrics_tenant: None,
    }
}

/// [`fast_policy`] with a request timeout a loaded machine cannot hit: for tests that are not
/// about timeouts (the contract), where a debug-build simulator serving a 1,300-record page on a
/// busy two-core machine can take longer than the fast policy's 3 s.
pub fn patient_policy() -> HttpPolicy {
    HttpPolicy {
        timeout: Duration::from_secs(30),
        ..fast_policy()
    }
}

pub async fn itglue_sim() -> ItGlue {
    ItGlue::start(SimItGlueConfig {
        rate_limit: None,
        ..SimItGlueConfig::default()
    })
    .await
    .expect("IT Glue simulator starts")
}

pub async fn connectwise_sim() -> ConnectWise {
    ConnectWise::start(SimConnectWiseConfig::default())
        .await
        .expect("ConnectWise simulator starts")
}

pub async fn autotask_sim() -> Autotask {
    Autotask::start(SimAutotaskConfig {
        rate_limit: None,
        ..SimAutotaskConfig::default()
    })
    .await
    .expect("Autotask simulator starts")
}

pub fn itglue_client(sim: &ItGlue, policy: HttpPolicy) -> ItGlueClient {
    ItGlueClient::new(ItGlueConfig {
        http: policy,
        ..ItGlueConfig::new(sim.base_url(), "itg-test-key")
    })
    .expect("client")
}

pub fn connectwise_client(sim: &ConnectWise, policy: HttpPolicy) -> ConnectWiseClient {
    ConnectWiseClient::new(ConnectWiseConfig {
        http: policy,
        ..ConnectWiseConfig::new(
            sim.api_url(),
            "acme",
            "cw-public",
            "cw-private",
            "test-client-id",
        )
    })
    .expect("client")
}

/// The simulator seeds configuration item types 1..6 in this order.
pub const CI_TYPES: [&str; 6] = [
    "Server",
    "Workstation",
    "Laptop",
    "Firewall",
    "Switch",
    "Printer",
];

pub fn autotask_client(sim: &Autotask, policy: HttpPolicy) -> AutotaskClient {
    let mut config = AutotaskConfig::new(
        sim.api_url(),
        "syncbridge@example.com",
        "at-secret",
        "TRACKING-ID",
        AT_RESOURCE,
    );
    config.configuration_item_types = CI_TYPES
        .iter()
        .enumerate()
        .map(|(i, n)| (i as i64 + 1, (*n).to_owned()))
        .collect();
    config.http = HttpPolicy {
        per_endpoint_concurrency: Some(3),
        ..policy
    };
    AutotaskClient::new(config).expect("client")
}

/// Writes of one collection in a simulator's log.
pub fn writes(core: &Core, collection: &str) -> (usize, usize) {
    let c = core.writes.count(&WriteQuery {
        collection: Some(collection.into()),
        ..WriteQuery::default()
    });
    (c.count, c.no_op)
}

fn rule(method: Option<&str>, path: Option<&str>, fault: Fault, probability: f64) -> FaultRule {
    FaultRule {
        method: method.map(str::to_owned),
        path_contains: path.map(str::to_owned),
        fault,
        probability,
        times: None,
    }
}

/// About `share` of requests fail: a third each 429 (with Retry-After), 503, and a hang that
/// outlasts the client's timeout.
pub fn mixed_faults(seed: u64, share: f64, hang_ms: u64) -> FaultPlan {
    let third = share / 3.0;
    FaultPlan {
        seed,
        rules: vec![
            rule(
                None,
                None,
                Fault::Status {
                    status: 429,
                    retry_after_secs: Some(1),
                    message: None,
                },
                third,
            ),
            rule(
                None,
                None,
                Fault::Status {
                    status: 503,
                    retry_after_secs: None,
                    message: None,
                },
                third / (1.0 - third),
            ),
            rule(
                None,
                None,
                Fault::Timeout { hang_ms },
                third / (1.0 - 2.0 * third),
            ),
        ],
        delivery: Default::default(),
    }
}

/// "Commit then time out" on `share` of POSTs to `path`.
pub fn commit_then_timeout(seed: u64, path: &str, share: f64, hang_ms: u64) -> FaultPlan {
    FaultPlan {
        seed,
        rules: vec![rule(
            Some("POST"),
            Some(path),
            Fault::CommitThenTimeout { hang_ms },
            share,
        )],
        delivery: Default::default(),
    }
}

pub async fn bms_sim(pulseway: bool) -> KaseyaBms {
    let base = if pulseway {
        SimBmsConfig::pulseway()
    } else {
        SimBmsConfig::default()
    };
    KaseyaBms::start(SimBmsConfig {
        rate_limit: None,
        ..base
    })
    .await
    .expect("BMS simulator starts")
}

pub fn bms_client(sim: &KaseyaBms, flavor: BmsFlavor, policy: HttpPolicy) -> BmsClient {
    BmsClient::new(BmsConfig {
        http: policy,
        ..BmsConfig::new(sim.base_url(), flavor, "syncbridge", "bms-password", "acme")
    })
    .expect("client")
}

pub async fn tigerpaw_sim() -> Tigerpaw {
    Tigerpaw::start(SimTigerpawConfig::default())
        .await
        .expect("Tigerpaw simulator starts")
}

pub fn tigerpaw_client(sim: &Tigerpaw, policy: HttpPolicy) -> TigerpawClient {
    TigerpawClient::new(TigerpawConfig {
        http: policy,
        ..TigerpawConfig::new(sim.base_url(), "tp-public", "tp-private")
    })
    .expect("client")
}
