//! `syncbridge register-webhooks --tenant T`: registers our ingest URLs with the tenant's PSA,
//! idempotently (DESIGN §4), and says what it did, one line at a time.
//!
//! - the PSA: what its descriptor registers ([`crate::psa`]): ConnectWise owner-level callbacks,
//!   Autotask webhooks with their SecretKey; Kaseya BMS, Pulseway PSA, Tigerpaw: no webhooks;
//!   polled.
//! - IT Glue: workflow webhooks are set up by a person in IT Glue's UI; the line says where.
//!
//! Running it again changes nothing and says so.

use anyhow::{bail, Context};

use crate::config::TenantConfig;
use crate::vendors::clients;

/// Our ingest URLs for one tenant below the public base URL (the PSA's own routes below `base`
/// are its descriptor's business: [`crate::psa::PsaSection::register_webhooks`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestUrls {
    /// `{public}/webhooks/{tenant}`.
    pub base: String,
    /// `{public}/webhooks/{tenant}/itglue/` — the workflow token follows.
    pub itglue_prefix: String,
    /// `{public}/webhooks/{tenant}/standard`.
    pub standard: String,
}

impl IngestUrls {
    pub fn new(public_url: &str, tenant: &str) -> Self {
        let base = format!("{}/webhooks/{tenant}", public_url.trim_end_matches('/'));
        IngestUrls {
            itglue_prefix: format!("{base}/itglue/"),
            standard: format!("{base}/standard"),
            base,
        }
    }
}

/// Checks that `public_url` is an absolute http(s) URL without query or fragment.
fn check_public_url(public_url: &str) -> anyhow::Result<()> {
    let url = reqwest::Url::parse(public_url)
        .with_context(|| format!("public URL {public_url:?} is not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        bail!("public URL {public_url:?} must be an absolute http(s) URL");
    }
    if url.query().is_some() || url.fragment().is_some() {
        bail!("public URL {public_url:?} must not have a query or fragment");
    }
    Ok(())
}

/// Registers the tenant's webhooks with its PSA and returns a human-readable report (one line
/// per registration or fact). Idempotent.
pub async fn register_webhooks(tenant: &TenantConfig, public_url: &str) -> anyhow::Result<String> {
    check_public_url(public_url)?;
    let id = tenant.id.as_str();
    let urls = IngestUrls::new(public_url, id);
    let mut lines = vec![format!(
        "tenant {id}: registering webhooks for {public_url}"
    )];

    let client = clients::psa(tenant, None)?;
    lines.extend(
        tenant
            .psa
            .register_webhooks(&tenant.id, &client, &urls.base)
            .await?,
    );

    match &tenant.itglue.workflow_token {
        Some(_) => lines.push(format!(
            "IT Glue: workflow webhooks are configured by a person in IT Glue's UI (Account > \
             Workflows, action \"Webhook\"), URL {}<the tenant's itglue.workflow_token>; nothing \
             registered here",
            urls.itglue_prefix
        )),
        None => lines.push(
            "IT Glue: polled (no itglue.workflow_token configured); workflow webhooks, if \
             wanted, are configured by a person in IT Glue's UI"
                .into(),
        ),
    }
    if tenant.standard.is_some() {
        lines.push(format!(
            "Standard Webhooks: configure the producer with {}; nothing registered here",
            urls.standard
        ));
    }
    Ok(lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ingest_urls_follow_the_routes() {
        let u = IngestUrls::new("https://sync.example.com/", "acme");
        assert_eq!(u.base, "https://sync.example.com/webhooks/acme");
        assert_eq!(
            u.itglue_prefix,
            "https://sync.example.com/webhooks/acme/itglue/"
        );
        assert_eq!(
            u.standard,
            "https://sync.example.com/webhooks/acme/standard"
        );
        assert!(check_public_url("https://sync.example.com/base").is_ok());
        assert!(check_public_url("sync.example.com").is_err());
        assert!(check_public_url("https://sync.example.com/?x=1").is_err());
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn config(cw_host: &str, autotask_base: &str) -> crate::config::Config {
        let text = format!(
            r#"
[tenants.acme.sync]
psa = "connectwise"
org_types = ["Customer"]
org_statuses = ["Active"]
config_types = ["Server"]
config_statuses = ["Active"]

[tenants.acme.itglue]
api_key = "itg-key"
workflow_token = "a-workflow-token-that-is-long-enough"

[tenants.acme.connectwise]
site = "{cw_host}"
company_id = "acme"
public_key = "cw-public"
private_key = "cw-private"
client_id = "test-client-id"
allow_http_for_simulator = true

[tenants.globex.sync]
psa = "autotask"
org_types = ["Customer"]
org_statuses = ["Active"]
config_types = ["Server"]
config_statuses = ["Active"]

[tenants.globex.itglue]
api_key = "itg-key"

[tenants.globex.autotask]
base_url = "{autotask_base}"
integration_code = "TRACKING-ID"
username = "syncbridge@example.com"
secret = "at-secret"
webhook_secret = "globex-autotask-webhook-secret"
"#
        );
        crate::config::Config::from_toml(&text, &no_env).expect("config")
    }

    #[tokio::test]
    async fn registers_with_both_simulators_once() {
        use syncbridge_sim::autotask::{Autotask, AutotaskConfig as SimAt};
        use syncbridge_sim::connectwise::{ConnectWise, ConnectWiseConfig as SimCw};
        let cw = ConnectWise::start(SimCw::default()).await.expect("cw sim");
        let at = Autotask::start(SimAt {
            rate_limit: None,
            ..SimAt::default()
        })
        .await
        .expect("at sim");
        let config = config(
            cw.base_url().trim_start_matches("http://"),
            &format!("{}/atservicesrest", at.base_url()),
        );
        let tenant = |id: &str| {
            config
                .tenants
                .values()
                .find(|t| t.id.as_str() == id)
                .expect("tenant")
        };
        let public = "https://sync.example.com";

        let first = register_webhooks(tenant("acme"), public).await.expect("cw");
        assert_eq!(first.matches("created").count(), 3, "{first}");
        assert!(first.contains("https://sync.example.com/webhooks/acme/connectwise/"));
        assert!(first.contains("IT Glue: workflow webhooks are configured by a person"));
        assert!(
            !first.contains("a-workflow-token"),
            "the token is never shown"
        );
        let again = register_webhooks(tenant("acme"), public).await.expect("cw");
        assert!(again.contains("ConnectWise: nothing changed"), "{again}");

        let first = register_webhooks(tenant("globex"), public)
            .await
            .expect("autotask");
        assert_eq!(first.matches(" created").count(), 3, "{first}");
        assert!(!first.contains("globex-autotask-webhook-secret"));
        let again = register_webhooks(tenant("globex"), public)
            .await
            .expect("autotask");
        assert!(again.contains("Autotask: nothing changed"), "{again}");
        assert!(again.contains("IT Glue: polled"), "{again}");

        cw.shutdown().await;
        at.shutdown().await;
    }
}
