//! Confirming an Autotask deactivation notice through the Autotask API before acting on it.
//!
//! A verified notice is still only a claim (GHSA-hh59-fgrr-93hf: a forged notice once switched an
//! integration off). The ingest asks a [`DeactivationChecker`] for the webhook's real state: only
//! `IsActive = false`, or the webhook gone, confirms it; then the alert metric is raised and a
//! warning logged. Anything else changes nothing.
//!
//! [`AutotaskApiChecker`] asks the tenant's Autotask client (the connector, with the tenant's API
//! user, budget and retries: one client per vendor) for the webhook by its GUID.

use std::collections::HashMap;

use syncbridge_connectors::autotask::AutotaskClient;
pub use syncbridge_connectors::autotask::WebhookState;
use syncbridge_connectors::PsaClient;
use syncbridge_model::{PsaKind, TenantId};
use syncbridge_webhooks::DeactivationNotice;

use super::sink::BoxFuture;
use crate::config::Config;

/// Asks the PSA about a notice's webhook. `Err` = could not find out (nothing changes).
pub trait DeactivationChecker: Send + Sync + 'static {
    fn check<'a>(
        &'a self,
        tenant: &'a TenantId,
        notice: &'a DeactivationNotice,
    ) -> BoxFuture<'a, Result<WebhookState, String>>;
}

/// The real checker: the Autotask connector, one client per Autotask tenant.
pub struct AutotaskApiChecker {
    tenants: HashMap<TenantId, AutotaskClient>,
}

impl AutotaskApiChecker {
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        let mut tenants = HashMap::new();
        for tenant in config.tenants.values() {
            if tenant.sync.psa == PsaKind::Autotask {
                if let PsaClient::Autotask(client) = crate::vendors::clients::psa(tenant, None)? {
                    tenants.insert(tenant.id.clone(), client);
                }
            }
        }
        Ok(AutotaskApiChecker { tenants })
    }

    async fn state(
        &self,
        tenant: &TenantId,
        notice: &DeactivationNotice,
    ) -> Result<WebhookState, String> {
        let client = self
            .tenants
            .get(tenant)
            .ok_or("tenant has no Autotask configuration")?;
        let guid = notice
            .webhook_guid
            .as_deref()
            .ok_or("the notice names no webhook Guid")?;
        client
            .webhook_state(notice.entity_type.as_deref(), guid)
            .await
            .map_err(|e| format!("Autotask API: {e}"))
    }
}

impl DeactivationChecker for AutotaskApiChecker {
    fn check<'a>(
        &'a self,
        tenant: &'a TenantId,
        notice: &'a DeactivationNotice,
    ) -> BoxFuture<'a, Result<WebhookState, String>> {
        Box::pin(self.state(tenant, notice))
    }
}
