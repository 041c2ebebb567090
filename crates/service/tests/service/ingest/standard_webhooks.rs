//! Standard Webhooks end to end, configured as a user would: the tenant's producer declares
//! `side = "psa"`, so a signed `organization.created` delivery naming a ConnectWise company goes
//! through the ingest, the bus and the worker like a ConnectWise callback would: the company
//! appears in IT Glue, and the decision is in the audit stream with its source.

use std::sync::Arc;
use std::time::Duration;

use syncbridge::config::Config;
use syncbridge::ingest::{Ingest, NatsSink};
use syncbridge::roles::workers::{spawn_all, Loops};
use syncbridge_bus::testing::NatsServer;
use syncbridge_bus::{connect, setup, AuditLog, ConnectConfig, SetupConfig};
use syncbridge_connectors::Vendor;
use syncbridge_connectors::{
    ConnectWiseClient, ConnectWiseConfig, ItGlueClient, ItGlueConfig, PsaClient,
};
use syncbridge_model::{Entity, Field, TenantId, Values};
use syncbridge_sim::connectwise::{ConnectWise, ConnectWiseConfig as SimConnectWise};
use syncbridge_sim::itglue::{ItGlue, ItGlueConfig as SimItGlue};
use syncbridge_sim::seed::{load_connectwise, Dataset, SeedSpec};
use syncbridge_webhooks::StandardWebhook;

const PATIENCE: Duration = Duration::from_secs(90);
const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

async fn eventually<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standard_webhook_of_the_declared_side_is_synced_and_audited() {
    let nats = NatsServer::start().await.unwrap();
    let conn = connect(&ConnectConfig::new(nats.url())).await.unwrap();
    setup(&conn, &SetupConfig::default()).await.unwrap();
    let itg_sim = ItGlue::start(SimItGlue {
        rate_limit: None,
        ..SimItGlue::default()
    })
    .await
    .unwrap();
    let cw_sim = ConnectWise::start(SimConnectWise::default()).await.unwrap();
    // Its lookups (company types and statuses) and one company, as a real site has.
    load_connectwise(&cw_sim.sim, &Dataset::generate(SeedSpec::sized(1, 1))).unwrap();
    let cw_host = cw_sim.base_url().trim_start_matches("http://").to_owned();

    let text = format!(
        r#"
[nats]
urls = ["{nats}"]

[ingest]
listen = "127.0.0.1:0"

[tenants.acme.sync]
psa = "connectwise"
org_types = ["Client"]
org_statuses = ["Active"]
config_types = ["Server"]
config_statuses = ["Active"]

[tenants.acme.itglue]
base_url = "{itg}"
api_key = "itg-test-key"

[tenants.acme.connectwise]
site = "{cw_host}"
company_id = "acme"
public_key = "cw-public"
private_key = "cw-private"
client_id = "test-client-id"
allow_http_for_simulator = true
webhook_enabled = false

[tenants.acme.standard]
secret = "{SECRET}"
side = "psa"
"#,
        nats = nats.url(),
        itg = itg_sim.base_url(),
    );
    let config = Config::from_toml(&text, &|_| None).unwrap();

    // The ingest, as `serve --role ingest` runs it.
    let sink = Arc::new(NatsSink::new(conn.clone(), config.nats.publish_timeout));
    let router = Ingest::new(&config, sink).unwrap().router();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ingest_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    // Workers only: no poller can find the company, so only the webhook can bring it.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let handles = spawn_all(
        &conn,
        config.tenants.values().cloned(),
        Duration::from_secs(5),
        Loops {
            worker: true,
            pollers: false,
        },
        &stop_rx,
    );

    let cw = PsaClient::ConnectWise(
        ConnectWiseClient::new(ConnectWiseConfig::new(
            cw_sim.api_url(),
            "acme",
            "cw-public",
            "cw-private",
            "test-client-id",
        ))
        .unwrap(),
    );
    let company = cw
        .create(
            Entity::Organization,
            None,
            &Values::new()
                .with(Field::Name, "Standard Rockets")
                .with(Field::Type, "Client")
                .with(Field::Status, "Active"),
        )
        .await
        .unwrap();

    // The producer's delivery, signed as the Standard Webhooks spec says.
    let body = format!(
        r#"{{"type":"organization.created","timestamp":"2026-12-06T00:00:00Z","data":{{"id":"{}"}}}}"#,
        company.id
    );
    let now = crate::common::now_secs();
    let signature = StandardWebhook::sign(SECRET, "msg_rockets_1", now, body.as_bytes()).unwrap();
    let answer = reqwest::Client::new()
        .post(format!("{ingest_url}/webhooks/acme/standard"))
        .header("webhook-id", "msg_rockets_1")
        .header("webhook-timestamp", now.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 202, "{}", answer.text().await.unwrap());

    let itg = ItGlueClient::new(ItGlueConfig::new(itg_sim.base_url(), "itg-test-key")).unwrap();
    let org = eventually("the company reaches IT Glue", async || {
        let orgs = itg.list_all(Entity::Organization).await.ok()?;
        orgs.into_iter()
            .find(|o| o.get(Field::Name) == Some("Standard Rockets"))
    })
    .await;
    assert_eq!(org.get(Field::Type), Some("Client"));

    let audit = AuditLog::new(conn.clone(), Duration::from_secs(5));
    let tenant = TenantId::new("acme").unwrap();
    let entries = eventually("the decision is audited", async || {
        let found = audit
            .find(&tenant, Entity::Organization, 10, |e| {
                e["event"]["source"] == "standard-psa"
            })
            .await
            .ok()?;
        (!found.is_empty()).then_some(found)
    })
    .await;
    let entry = &entries[0];
    assert_eq!(entry["side"], "psa", "{entry}");
    assert_eq!(entry["record_id"], company.id.as_str(), "{entry}");
    assert_eq!(entry["written"], true, "{entry}");

    stop_tx.send(true).unwrap();
    for h in handles {
        tokio::time::timeout(Duration::from_secs(30), h)
            .await
            .expect("loops stop on the signal")
            .unwrap();
    }
}
