//! Each configured tenant's verifiers, built once from the configuration: the routes only look a
//! tenant up and call the verifier its source needs. A source without configuration has no
//! verifier, and its route answers 404 for that tenant.

use std::collections::HashMap;
use std::time::Duration;

use syncbridge_model::TenantId;
use syncbridge_webhooks::{
    AutotaskVerifier, BodyLimit, ConnectWiseVerifier, ItGlueWorkflowVerifier, SigningKeyCache,
    StandardWebhookVerifier,
};

use syncbridge_connectors::ConnectWiseKeySource;

use crate::clients::connectwise_config;
use crate::config::{Config, PsaConfig};

/// ConnectWise callbacks: the verifier and that tenant's signing-key cache.
pub struct ConnectWiseIngest {
    pub verifier: ConnectWiseVerifier,
    pub keys: SigningKeyCache<ConnectWiseKeySource>,
}

/// One tenant's configured sources.
pub struct TenantIngest {
    pub id: TenantId,
    pub connectwise: Option<ConnectWiseIngest>,
    pub autotask: Option<AutotaskVerifier>,
    pub itglue: Option<ItGlueWorkflowVerifier>,
    pub standard: Option<StandardWebhookVerifier>,
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
            let connectwise = match &tenant.psa {
                PsaConfig::ConnectWise(cw) if cw.webhook_enabled => Some(ConnectWiseIngest {
                    verifier: ConnectWiseVerifier::new(id.clone(), cw.key_urls.clone())
                        .with_company_id(cw.company_id.clone())
                        .with_body_limit(limit),
                    keys: SigningKeyCache::new(ConnectWiseKeySource::new(
                        http.clone(),
                        &connectwise_config(cw),
                    )),
                }),
                _ => None,
            };
            let autotask = match &tenant.psa {
                PsaConfig::Autotask(at) => at.webhook_secret.as_ref().map(|secret| {
                    AutotaskVerifier::new(id.clone(), secret.clone()).with_body_limit(limit)
                }),
                _ => None,
            };
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
                    id,
                    connectwise,
                    autotask,
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
