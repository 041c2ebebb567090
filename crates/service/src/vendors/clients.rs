//! Building a tenant's vendor clients from its configuration: one IT Glue client and one client
//! for its PSA, each with the tenant's budget for that vendor (`[budgets]`, by default half the
//! published limit) — shared with every other syncbridge process through NATS when the caller
//! gives the state store (workers and pollers do; one-off commands need not). Sharing also covers
//! a per-endpoint concurrency cap where the connector has one (Autotask: 3 concurrent requests
//! per endpoint for all processes together).

use anyhow::Context;
use syncbridge_connectors::{HttpPolicy, ItGlueClient, ItGlueConfig, PsaClient, RateBudget};

use syncbridge_bus::StateStore;

use crate::config::{RequestBudget, TenantConfig};
use crate::vendors::shared_budget::NatsBudget;

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
    // The tenant's configured id labels the budget-wait metric (never a secret).
    http.metrics_tenant = Some(tenant.id.to_string());
    if let Some(b) = budget {
        let burst = http.rate.map_or(1, |r| r.burst);
        http.rate = Some(RateBudget::per(b.requests, b.per).with_burst(burst));
    }
    if let Some(state) = shared {
        NatsBudget::share(http, state, &tenant.id, vendor);
    }
}

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

/// The tenant's PSA client, built by its PSA's descriptor with the tenant's budget applied.
pub fn psa(tenant: &TenantConfig, shared: Option<&StateStore>) -> anyhow::Result<PsaClient> {
    let vendor = tenant.sync.psa.as_str();
    let section = crate::psa::entry(tenant.sync.psa).map_or(vendor, |psa| psa.section);
    tenant
        .psa
        .client(&mut |http| apply_budget(http, tenant.budgets.psa, shared, tenant, vendor))
        .with_context(|| format!("tenants.{}.{section}", tenant.id))
}
