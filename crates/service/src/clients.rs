//! Building a tenant's vendor clients from its configuration: one IT Glue client and one client
//! for its PSA, each with the tenant's budget for that vendor (`[budgets]`, by default half the
//! published limit) — shared with every other syncbridge process through NATS when the caller
//! gives the state store (workers and pollers do; one-off commands need not). Sharing also covers
//! a per-endpoint concurrency cap where the connector has one (Autotask: 3 concurrent requests
//! per endpoint for all processes together).

use anyhow::Context;
use syncbridge_connectors::{
    AutotaskClient, AutotaskConfig, BmsClient, BmsConfig, BmsFlavor, ConnectWiseClient,
    ConnectWiseConfig, HttpPolicy, ItGlueClient, ItGlueConfig, PsaClient, RateBudget,
    TigerpawClient, TigerpawConfig,
};

use syncbridge_bus::StateStore;

use crate::config::{PsaConfig, RequestBudget, TenantConfig};
use crate::shared_budget::NatsBudget;

/// A configured budget replaces the connector's default (keeping its burst); with `shared`, the
/// budget — and the connector's per-endpoint concurrency cap, if it has one — holds for all
/// processes together.
fn apply_budget(
    http: &mut HttpPolicy,
    budget: Option<RequestBudget>,
    shared: Option<&StateStore>,
    tenant: &TenantConfig,
    vendor: &'static str,
) {
    if let Some(b) = budget {
        let burst = http.rate.map_or(1, |r| r.burst);
        http.rate = Some(RateBudget::per(b.requests, b.per).with_burst(burst));
    }
    if let Some(state) = shared {
        NatsBudget::share(http, state, &tenant.id, vendor);
    }
}

/// ConnectWise's REST path below the site host.
const CONNECTWISE_API: &str = "/v4_6_release/apis/3.0";

pub fn itglue(tenant: &TenantConfig, shared: Option<&StateStore>) -> anyhow::Result<ItGlueClient> {
    let mut config = ItGlueConfig::new(
        tenant.itglue.base_url.clone(),
        tenant.itglue.api_key.expose().to_owned(),
    );
    apply_budget(
        &mut config.http,
        tenant.budgets.itglue,
        shared,
        tenant,
        "itglue",
    );
    ItGlueClient::new(config).with_context(|| format!("tenants.{}.itglue", tenant.id))
}

/// The ConnectWise client's settings (credentials, address fallback) without budgets: also what
/// the ingest's signing-key fetcher authenticates with.
pub fn connectwise_config(cw: &crate::config::ConnectWiseConfig) -> ConnectWiseConfig {
    let scheme = if cw.allow_http_for_simulator {
        "http"
    } else {
        "https"
    };
    let mut config = ConnectWiseConfig::new(
        format!("{scheme}://{}{CONNECTWISE_API}", cw.site),
        cw.company_id.clone(),
        cw.public_key.clone(),
        cw.private_key.expose().to_owned(),
        cw.client_id.clone(),
    );
    if let Some(city) = &cw.company_address_fallback {
        config.company_address_fallback = city.clone();
    }
    config
}

pub fn psa(tenant: &TenantConfig, shared: Option<&StateStore>) -> anyhow::Result<PsaClient> {
    let key = |section: &str| format!("tenants.{}.{section}", tenant.id);
    Ok(match &tenant.psa {
        PsaConfig::ConnectWise(cw) => {
            let mut config = connectwise_config(cw);
            apply_budget(
                &mut config.http,
                tenant.budgets.psa,
                shared,
                tenant,
                tenant.sync.psa.as_str(),
            );
            PsaClient::ConnectWise(
                ConnectWiseClient::new(config).with_context(|| key("connectwise"))?,
            )
        }
        PsaConfig::Autotask(at) => {
            let mut config = AutotaskConfig::new(
                format!("{}/v1.0", at.base_url.trim_end_matches('/')),
                at.username.clone(),
                at.secret.expose().to_owned(),
                at.integration_code.clone(),
                // Checked at load time: required whenever syncbridge may create companies.
                at.owner_resource_id.unwrap_or_default(),
            );
            if let Some(phone) = &at.company_phone {
                config.company_phone = phone.clone();
            }
            if let Some(product) = &at.fallback_product {
                config.fallback_product = product.clone();
            }
            apply_budget(
                &mut config.http,
                tenant.budgets.psa,
                shared,
                tenant,
                tenant.sync.psa.as_str(),
            );
            PsaClient::Autotask(AutotaskClient::new(config).with_context(|| key("autotask"))?)
        }
        PsaConfig::KaseyaBms(v2) | PsaConfig::PulsewayPsa(v2) => {
            let (flavor, section) = match &tenant.psa {
                PsaConfig::KaseyaBms(_) => (BmsFlavor::KaseyaBms, "kaseya_bms"),
                _ => (BmsFlavor::PulsewayPsa, "pulseway_psa"),
            };
            let mut config = BmsConfig::new(
                v2.base_url.clone(),
                flavor,
                v2.username.clone(),
                v2.password.expose().to_owned(),
                v2.tenant.clone().unwrap_or_default(),
            );
            if let Some(id) = v2.business_type_id {
                config.business_type_id = id;
            }
            if let Some(id) = v2.account_manager_id {
                config.account_manager_id = id;
            }
            apply_budget(
                &mut config.http,
                tenant.budgets.psa,
                shared,
                tenant,
                tenant.sync.psa.as_str(),
            );
            let client = BmsClient::new(config).with_context(|| key(section))?;
            match flavor {
                BmsFlavor::KaseyaBms => PsaClient::KaseyaBms(client),
                _ => PsaClient::PulsewayPsa(client),
            }
        }
        PsaConfig::Tigerpaw(tp) => {
            let mut config = TigerpawConfig::new(
                tp.base_url.clone(),
                tp.public_key.clone(),
                tp.private_key.expose().to_owned(),
            );
            apply_budget(
                &mut config.http,
                tenant.budgets.psa,
                shared,
                tenant,
                tenant.sync.psa.as_str(),
            );
            PsaClient::Tigerpaw(TigerpawClient::new(config).with_context(|| key("tigerpaw"))?)
        }
    })
}
