//! ConnectWise PSA (`[tenants.<id>.connectwise]`): callbacks verified with signing keys fetched
//! from the tenant's site, registered as owner-level callbacks, and the REST client.

use std::sync::Arc;

use anyhow::Context;
use futures_util::future::BoxFuture;
use serde::Deserialize;
use syncbridge_connectors::{
    ConnectWiseClient, ConnectWiseConfig, ConnectWiseKeySource, HttpPolicy, PsaClient,
};
use syncbridge_model::{PsaKind, TenantId};
use syncbridge_webhooks::{BodyLimit, ConnectWiseVerifier, KeyUrlPolicy, SigningKeyCache};

use super::{ConnectWiseIngest, Described, PsaEntry, PsaSection, PsaWebhooks, SectionInput};
use crate::config::error::ConfigError;
use crate::config::secrets::{Credential, SecretSpec};
use crate::config::values::{decode, non_empty};

pub(super) const ENTRY: PsaEntry = PsaEntry {
    section: "connectwise",
    kind: PsaKind::ConnectWise,
    resolve: |input| Ok(Arc::new(resolve(input)?)),
};

/// ConnectWise's REST path below the site host.
const REST_PATH: &str = "/v4_6_release/apis/3.0";

/// The section as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConnectWise {
    site: String,
    company_id: String,
    public_key: String,
    private_key: SecretSpec,
    client_id: String,
    #[serde(default)]
    key_hosts: Vec<String>,
    #[serde(default = "yes")]
    webhook_enabled: bool,
    #[serde(default)]
    allow_http_for_simulator: bool,
    /// The city sent with a company create when the organization has no address.
    company_address_fallback: Option<String>,
}

fn yes() -> bool {
    true
}

/// `[tenants.<id>.connectwise]`, resolved.
#[derive(Debug, Clone)]
pub struct ConnectWiseSection {
    /// The site host, e.g. `na.myconnectwise.net` (or `host:port` on premises).
    pub site: String,
    /// The ConnectWise company (login) id; callbacks naming another `CompanyId`, or a `key_url`
    /// naming another `companyName`, are refused.
    pub company_id: String,
    pub public_key: String,
    pub private_key: Credential,
    pub client_id: String,
    /// Extra hosts signing keys may be fetched from (the site always is, and so is its `api-`
    /// twin when the site is a ConnectWise Cloud host, `*.myconnectwise.net`).
    pub key_hosts: Vec<String>,
    /// Enables `POST /webhooks/{tenant}/connectwise[/…]`.
    pub webhook_enabled: bool,
    /// Plain http and IP literals for `key_url`: for the simulator only.
    pub allow_http_for_simulator: bool,
    /// Built from `site`, `key_hosts` and `allow_http_for_simulator`.
    pub key_urls: KeyUrlPolicy,
    /// The city of a company syncbridge creates from an organization without an address
    /// (ConnectWise requires an address field); the connector's default when `None`.
    pub company_address_fallback: Option<String>,
}

fn resolve(input: SectionInput<'_>) -> Result<ConnectWiseSection, ConfigError> {
    let key = input.key;
    let raw: RawConnectWise = decode(input.value, key)?;
    let company_id = non_empty(&format!("{key}.company_id"), raw.company_id)?;
    let site_key = format!("{key}.site");
    let mut key_urls = KeyUrlPolicy::for_site(&raw.site, &company_id)
        .map_err(|e| ConfigError::at(&site_key, e.to_string()))?;
    for host in &raw.key_hosts {
        key_urls = key_urls
            .with_host(host)
            .map_err(|e| ConfigError::at(format!("{key}.key_hosts"), e.to_string()))?;
    }
    if raw.allow_http_for_simulator {
        key_urls = key_urls.allow_http_for_simulator();
    }
    Ok(ConnectWiseSection {
        site: raw.site,
        company_id,
        public_key: non_empty(&format!("{key}.public_key"), raw.public_key)?,
        private_key: raw
            .private_key
            .resolve(&format!("{key}.private_key"), input.env)?,
        client_id: non_empty(&format!("{key}.client_id"), raw.client_id)?,
        key_hosts: raw.key_hosts,
        webhook_enabled: raw.webhook_enabled,
        allow_http_for_simulator: raw.allow_http_for_simulator,
        company_address_fallback: raw
            .company_address_fallback
            .map(|c| non_empty(&format!("{key}.company_address_fallback"), c))
            .transpose()?,
        key_urls,
    })
}

impl ConnectWiseSection {
    /// The connector's settings (credentials, address fallback) without budgets.
    pub fn connector_config(&self) -> ConnectWiseConfig {
        let scheme = if self.allow_http_for_simulator {
            "http"
        } else {
            "https"
        };
        let mut config = ConnectWiseConfig::new(
            format!("{scheme}://{}{REST_PATH}", self.site),
            self.company_id.clone(),
            self.public_key.clone(),
            self.private_key.expose().to_owned(),
            self.client_id.clone(),
        );
        if let Some(city) = &self.company_address_fallback {
            config.company_address_fallback = city.clone();
        }
        config
    }
}

impl PsaSection for ConnectWiseSection {
    fn kind(&self) -> PsaKind {
        PsaKind::ConnectWise
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn client(
        &self,
        budget: &mut dyn FnMut(&mut HttpPolicy),
    ) -> syncbridge_connectors::Result<PsaClient> {
        let mut config = self.connector_config();
        budget(&mut config.http);
        Ok(PsaClient::ConnectWise(ConnectWiseClient::new(config)?))
    }

    fn describe(&self, tenant: &TenantId) -> Described {
        let line = format!(
            "connectwise: site {}, company {}, public key {}, private key ***, client id {}, \
             webhook {}{}{}",
            self.site,
            self.company_id,
            self.public_key,
            self.client_id,
            if self.webhook_enabled {
                "enabled"
            } else {
                "disabled (polled only)"
            },
            if self.key_hosts.is_empty() {
                String::new()
            } else {
                format!(", extra key hosts {}", self.key_hosts.join(", "))
            },
            if self.allow_http_for_simulator {
                ", SIMULATOR MODE (http key urls)"
            } else {
                ""
            },
        );
        let routes = if self.webhook_enabled {
            vec![format!(
                "POST /webhooks/{tenant}/connectwise[/{{record id}}]"
            )]
        } else {
            Vec::new()
        };
        Described { line, routes }
    }

    fn webhooks(&self, tenant: &TenantId, http: &reqwest::Client, limit: BodyLimit) -> PsaWebhooks {
        if !self.webhook_enabled {
            return PsaWebhooks::default();
        }
        PsaWebhooks {
            connectwise: Some(ConnectWiseIngest {
                verifier: ConnectWiseVerifier::new(tenant.clone(), self.key_urls.clone())
                    .with_company_id(self.company_id.clone())
                    .with_body_limit(limit),
                // One cache per tenant: its fetch limit is the tenant's.
                keys: SigningKeyCache::new(ConnectWiseKeySource::new(http.clone())),
            }),
            autotask: None,
        }
    }

    /// One owner-level callback per synced type with `isSelfSuppressedFlag`, posting to
    /// `{base}/connectwise/` (ConnectWise appends the record id).
    fn register_webhooks<'a>(
        &'a self,
        tenant: &'a TenantId,
        client: &'a PsaClient,
        base: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<Vec<String>>> {
        Box::pin(async move {
            if !self.webhook_enabled {
                anyhow::bail!(
                    "tenants.{tenant}.connectwise.webhook_enabled is false: our ingest would \
                     refuse the callbacks; enable it first"
                );
            }
            let PsaClient::ConnectWise(client) = client else {
                anyhow::bail!(
                    "tenants.{tenant}: the ConnectWise section did not build a ConnectWise client"
                );
            };
            let url = format!("{base}/connectwise/");
            let report = client.ensure_callbacks(&url).await.with_context(|| {
                format!("registering ConnectWise callbacks for tenant {tenant}")
            })?;
            let mut lines = vec![format!("ConnectWise: callbacks post to {url}")];
            lines.extend(report.lines());
            Ok(lines)
        })
    }
}
