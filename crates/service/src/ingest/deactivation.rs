//! Confirming an Autotask deactivation notice through the Autotask API before acting on it.
//!
//! A verified notice is still only a claim (GHSA-hh59-fgrr-93hf: a forged notice once switched an
//! integration off). The ingest asks a [`DeactivationChecker`] for the webhook's real state: only
//! `IsActive = false`, or the webhook gone, confirms it; then the alert metric is raised and a
//! warning logged. Anything else changes nothing.
//!
//! [`AutotaskApiChecker`] reads the webhook by its GUID from `{Entity}Webhooks/query` (the
//! notice's `EntityType` first, else the three webhook resources syncbridge registers), with the
//! tenant's API user. Tests use a fake or the Autotask simulator.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};
use syncbridge_model::TenantId;
use syncbridge_webhooks::DeactivationNotice;

use super::sink::BoxFuture;
use crate::config::{AutotaskConfig, Config, PsaConfig};

/// What the Autotask API says about the webhook a notice names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookState {
    /// `IsActive` is true: the notice is not confirmed.
    Active,
    /// `IsActive` is false: confirmed.
    Inactive,
    /// No webhook with that GUID exists any more (deleted): confirmed.
    Deleted,
}

/// Asks the PSA about a notice's webhook. `Err` = could not find out (nothing changes).
pub trait DeactivationChecker: Send + Sync + 'static {
    fn check<'a>(
        &'a self,
        tenant: &'a TenantId,
        notice: &'a DeactivationNotice,
    ) -> BoxFuture<'a, Result<WebhookState, String>>;
}

/// The real checker: the Autotask REST API, one API user per tenant.
pub struct AutotaskApiChecker {
    client: reqwest::Client,
    tenants: HashMap<TenantId, AutotaskConfig>,
}

/// The webhook resources syncbridge registers, by the `EntityType` a notice may name.
const WEBHOOK_RESOURCES: [(&str, &str); 3] = [
    ("Company", "CompanyWebhooks"),
    ("Contact", "ContactWebhooks"),
    ("ConfigurationItem", "ConfigurationItemWebhooks"),
];

impl AutotaskApiChecker {
    pub fn from_config(config: &Config) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()?;
        let tenants = config
            .tenants
            .values()
            .filter_map(|t| match &t.psa {
                PsaConfig::Autotask(at) => Some((t.id.clone(), at.clone())),
                _ => None,
            })
            .collect();
        Ok(AutotaskApiChecker { client, tenants })
    }

    async fn state(
        &self,
        tenant: &TenantId,
        notice: &DeactivationNotice,
    ) -> Result<WebhookState, String> {
        let api = self
            .tenants
            .get(tenant)
            .ok_or("tenant has no Autotask configuration")?;
        let guid = notice
            .webhook_guid
            .as_deref()
            .ok_or("the notice names no webhook Guid")?;
        let named = notice.entity_type.as_deref().and_then(|t| {
            WEBHOOK_RESOURCES
                .iter()
                .find(|(entity, _)| entity.eq_ignore_ascii_case(t))
                .map(|(_, resource)| *resource)
        });
        let resources: Vec<&str> = match named {
            Some(resource) => vec![resource],
            None => WEBHOOK_RESOURCES.iter().map(|(_, r)| *r).collect(),
        };
        for resource in resources {
            let url = format!("{}/v1.0/{resource}/query", api.base_url);
            let filter = json!({"filter": [{"op": "eq", "field": "WebhookGUID", "value": guid}]});
            let response = self
                .client
                .post(&url)
                .header("ApiIntegrationCode", &api.integration_code)
                .header("UserName", &api.username)
                .header("Secret", api.secret.expose())
                .json(&filter)
                .send()
                .await
                .map_err(|e| format!("Autotask API request failed: {}", e.without_url()))?;
            if !response.status().is_success() {
                return Err(format!("Autotask API answered {}", response.status()));
            }
            let body: Value = response
                .json()
                .await
                .map_err(|_| "Autotask API answer is not JSON".to_owned())?;
            // Filter again here: the answer must be about this GUID, whatever the server did.
            let found = body
                .get("items")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|item| field(item, "WebhookGUID").and_then(Value::as_str) == Some(guid));
            if let Some(item) = found {
                return match field(item, "IsActive") {
                    Some(Value::Bool(true)) => Ok(WebhookState::Active),
                    Some(Value::Bool(false)) => Ok(WebhookState::Inactive),
                    _ => Err("webhook has no IsActive".to_owned()),
                };
            }
        }
        Ok(WebhookState::Deleted)
    }
}

/// Autotask's JSON field names vary in case between resources: look them up case-insensitively.
fn field<'a>(item: &'a Value, name: &str) -> Option<&'a Value> {
    item.as_object()?
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value)
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
