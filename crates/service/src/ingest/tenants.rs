//! Each configured tenant's verifiers, built once from the configuration: the routes only look a
//! tenant up and call the verifier its source needs. A source without configuration has no
//! verifier, and its route answers 404 for that tenant.

use std::collections::HashMap;
use std::time::Duration;

use syncbridge_model::TenantId;
use syncbridge_webhooks::{
    AutotaskVerifier, BodyLimit, ItGlueWorkflowVerifier, StandardWebhookVerifier,
};

use crate::config::Config;
pub use crate::psa::ConnectWiseIngest;
use crate::runtime::metrics::TenantCounters;

/// One tenant's configured sources.
pub struct TenantIngest {
    pub id: TenantId,
    pub connectwise: Option<ConnectWiseIngest>,
    pub autotask: Option<AutotaskVerifier>,
    pub itglue: Option<ItGlueWorkflowVerifier>,
    pub standard: Option<StandardWebhookVerifier>,
    /// Its request, verification-failure and duplicate counters.
    pub counters: TenantCounters,
}

/// All tenants, by id.
pub struct Tenants {
    by_id: HashMap<String, TenantIngest>,
}

impl Tenants {
    pub fn from_config(config: &Config, http: &reqwest::Client) -> Result<Self, String> {
        let limit: BodyLimit = config.ingest.body_limit;
        let mut by_id = HashMap::new();
        for tenant in config.tenants.values() {
            let id = tenant.id.clone();
            let psa = tenant.psa.webhooks(&id, http, limit);
            let itglue = tenant.itglue.workflow_token.as_ref().map(|token| {
                ItGlueWorkflowVerifier::new(id.clone(), token.clone()).with_body_limit(limit)
            });
            let standard = match &tenant.standard {
                Some(standard) => Some(
                    StandardWebhookVerifier::new(id.clone(), &standard.secret, standard.side)
                        .map_err(|e| format!("tenants.{id}.standard.secret: {e}"))?
                        .with_tolerance_secs(secs(standard.tolerance))
                        .with_body_limit(limit),
                ),
                None => None,
            };
            by_id.insert(
                id.as_str().to_owned(),
                TenantIngest {
                    counters: TenantCounters::new(id.as_str()),
                    id,
                    connectwise: psa.connectwise,
                    autotask: psa.autotask,
                    itglue,
                    standard,
                },
            );
        }
        Ok(Tenants { by_id })
    }

    pub fn get(&self, id: &str) -> Option<&TenantIngest> {
        self.by_id.get(id)
    }
}

fn secs(duration: Duration) -> u32 {
    u32::try_from(duration.as_secs()).unwrap_or(u32::MAX)
}
