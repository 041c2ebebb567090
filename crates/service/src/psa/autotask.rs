//! Autotask PSA (`[tenants.<id>.autotask]`): the REST client with the values Autotask requires on
//! create, webhooks verified with the tenant's `SecretKey` and registered per entity.

use std::sync::Arc;

use anyhow::Context;
use futures_util::future::BoxFuture;
use serde::Deserialize;
use syncbridge_connectors::autotask::FallbackProduct;
use syncbridge_connectors::{
    AutotaskClient, AutotaskConfig, AutotaskWebhookSpec, HttpPolicy, PsaClient,
};
use syncbridge_model::{PsaKind, TenantId};
use syncbridge_webhooks::{AutotaskVerifier, BodyLimit, Secret};

use super::{Described, PsaEntry, PsaSection, PsaWebhooks, SectionInput};
use crate::config::error::ConfigError;
use crate::config::secrets::{Credential, SecretSpec};
use crate::config::values::{decode, http_url, non_empty, webhook_secret};

pub(super) const ENTRY: PsaEntry = PsaEntry {
    section: "autotask",
    kind: PsaKind::Autotask,
    resolve: |input| Ok(Arc::new(resolve(input)?)),
};

/// Autotask's `SecretKey` field holds at most 64 characters.
const SECRET_KEY_MAX: usize = 64;

/// The section as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAutotask {
    base_url: String,
    integration_code: String,
    username: String,
    secret: SecretSpec,
    webhook_secret: Option<SecretSpec>,
    /// The Autotask resource (a person, not the API user) that owns companies we create.
    owner_resource_id: Option<u64>,
    /// The phone sent with a company create (Autotask requires one; IT Glue has none).
    company_phone: Option<String>,
    /// The product of configuration items whose manufacturer and model name none.
    fallback_product: Option<String>,
    fallback_product_id: Option<u64>,
}

/// `[tenants.<id>.autotask]`, resolved.
#[derive(Debug, Clone)]
pub struct AutotaskSection {
    /// The zone's REST base, e.g. `https://webservices5.autotask.net/atservicesrest`.
    pub base_url: String,
    pub integration_code: String,
    pub username: String,
    pub secret: Credential,
    /// The webhooks' `SecretKey`; enables `POST /webhooks/{tenant}/autotask[/deactivated]`.
    pub webhook_secret: Option<Secret>,
    /// Owner of the companies syncbridge creates (Autotask refuses API-only users as owners).
    pub owner_resource_id: Option<u64>,
    /// The `phone` of companies syncbridge creates (Autotask requires one); the connector's
    /// default when `None`.
    pub company_phone: Option<String>,
    /// The product of configuration items whose manufacturer and model resolve to none (Autotask
    /// requires `productID`); the connector's default product name when `None`.
    pub fallback_product: Option<FallbackProduct>,
}

fn resolve(input: SectionInput<'_>) -> Result<AutotaskSection, ConfigError> {
    let key = input.key;
    let raw: RawAutotask = decode(input.value, key)?;
    let webhook_secret = match raw.webhook_secret {
        None => None,
        Some(spec) => {
            let secret_key = format!("{key}.webhook_secret");
            let credential = spec.resolve(&secret_key, input.env)?;
            if credential.expose().len() > SECRET_KEY_MAX {
                return Err(ConfigError::at(
                    &secret_key,
                    "Autotask allows at most 64 characters",
                ));
            }
            Some(webhook_secret(&secret_key, &credential)?)
        }
    };
    // Autotask refuses API-only users as company owners: creating companies there needs a person.
    if input.sync.two_way && raw.owner_resource_id.is_none() {
        return Err(ConfigError::at(
            format!("{key}.owner_resource_id"),
            "required with sync.two_way: the Autotask resource (a person, not the API user) \
             that owns the companies syncbridge creates",
        ));
    }
    Ok(AutotaskSection {
        base_url: http_url(&format!("{key}.base_url"), raw.base_url)?,
        integration_code: non_empty(&format!("{key}.integration_code"), raw.integration_code)?,
        username: non_empty(&format!("{key}.username"), raw.username)?,
        secret: raw.secret.resolve(&format!("{key}.secret"), input.env)?,
        webhook_secret,
        owner_resource_id: raw.owner_resource_id,
        company_phone: raw
            .company_phone
            .map(|p| non_empty(&format!("{key}.company_phone"), p))
            .transpose()?,
        fallback_product: match (raw.fallback_product, raw.fallback_product_id) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::at(
                    format!("{key}.fallback_product_id"),
                    "give fallback_product (a product name) or fallback_product_id, not both",
                ))
            }
            (Some(name), None) => Some(FallbackProduct::Named(non_empty(
                &format!("{key}.fallback_product"),
                name,
            )?)),
            (None, Some(id)) => Some(FallbackProduct::Id(id)),
            (None, None) => None,
        },
    })
}

impl PsaSection for AutotaskSection {
    fn kind(&self) -> PsaKind {
        PsaKind::Autotask
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn client(
        &self,
        budget: &mut dyn FnMut(&mut HttpPolicy),
    ) -> syncbridge_connectors::Result<PsaClient> {
        let mut config = AutotaskConfig::new(
            format!("{}/v1.0", self.base_url.trim_end_matches('/')),
            self.username.clone(),
            self.secret.expose().to_owned(),
            self.integration_code.clone(),
            // Checked at load time: required whenever syncbridge may create companies.
            self.owner_resource_id.unwrap_or_default(),
        );
        if let Some(phone) = &self.company_phone {
            config.company_phone = phone.clone();
        }
        if let Some(product) = &self.fallback_product {
            config.fallback_product = product.clone();
        }
        budget(&mut config.http);
        Ok(PsaClient::Autotask(AutotaskClient::new(config)?))
    }

    fn describe(&self, tenant: &TenantId) -> Described {
        let webhook = match &self.webhook_secret {
            Some(secret) if secret.is_rotating() => "secret *** (rotating)",
            Some(_) => "secret ***",
            None => "not configured (polled only)",
        };
        let line = format!(
            "autotask: {}, integration code {}, user {}, secret ***, webhook {webhook}",
            self.base_url, self.integration_code, self.username
        );
        let routes = if self.webhook_secret.is_some() {
            vec![
                format!("POST /webhooks/{tenant}/autotask"),
                format!("POST /webhooks/{tenant}/autotask/deactivated"),
            ]
        } else {
            Vec::new()
        };
        Described { line, routes }
    }

    fn webhooks(
        &self,
        tenant: &TenantId,
        _http: &reqwest::Client,
        limit: BodyLimit,
    ) -> PsaWebhooks {
        PsaWebhooks {
            connectwise: None,
            autotask: self.webhook_secret.as_ref().map(|secret| {
                AutotaskVerifier::new(tenant.clone(), secret.clone()).with_body_limit(limit)
            }),
        }
    }

    /// Company, Contact and ConfigurationItem webhooks posting to `{base}/autotask`,
    /// DeactivationUrl `{base}/autotask/deactivated`, SecretKey = the tenant's
    /// `autotask.webhook_secret` (its current value; during a rotation it is sent to existing
    /// webhooks too), the mapped fields subscribed.
    fn register_webhooks<'a>(
        &'a self,
        tenant: &'a TenantId,
        client: &'a PsaClient,
        base: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<Vec<String>>> {
        Box::pin(async move {
            let Some(webhook_secret) = &self.webhook_secret else {
                anyhow::bail!(
                    "tenants.{tenant}.autotask.webhook_secret is not set: Autotask webhooks need \
                     a SecretKey, and our ingest needs it to verify them"
                );
            };
            let secret = syncbridge_connectors::ApiSecret::new(
                String::from_utf8(webhook_secret.expose_current().to_vec()).context(format!(
                    "tenants.{tenant}.autotask.webhook_secret is not UTF-8 text"
                ))?,
            );
            let PsaClient::Autotask(client) = client else {
                anyhow::bail!(
                    "tenants.{tenant}: the Autotask section did not build an Autotask client"
                );
            };
            let (webhook_url, deactivation_url) = (
                format!("{base}/autotask"),
                format!("{base}/autotask/deactivated"),
            );
            let spec = AutotaskWebhookSpec {
                webhook_url: &webhook_url,
                deactivation_url: &deactivation_url,
                secret: &secret,
                exclude_resource_id: None,
                rewrite_secret: webhook_secret.is_rotating(),
            };
            let report = client
                .ensure_webhooks(&spec)
                .await
                .with_context(|| format!("registering Autotask webhooks for tenant {tenant}"))?;
            let mut lines = vec![format!(
                "Autotask: webhooks post to {webhook_url} (DeactivationUrl {deactivation_url})"
            )];
            lines.extend(report.lines());
            Ok(lines)
        })
    }
}
