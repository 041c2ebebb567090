//! The worker and poller roles against the simulators, configured as a user would: a company
//! created in ConnectWise is found by the PSA poller and appears in IT Glue; a person's edit in
//! IT Glue is found by the IT Glue poller and reaches ConnectWise (two-way).

use std::sync::Arc;
use std::time::Duration;

use syncbridge::config::Config;
use syncbridge::roles::workers::{spawn_all, Loops};
use syncbridge_bus::testing::NatsServer;
use syncbridge_bus::{connect, setup, ConnectConfig, SetupConfig};
use syncbridge_connectors::Vendor;
use syncbridge_connectors::{
    ConnectWiseClient, ConnectWiseConfig, ItGlueClient, ItGlueConfig, PsaClient,
};
use syncbridge_engine::Changes;
use syncbridge_model::{Entity, Field, Record, Values};
use syncbridge_sim::connectwise::{ConnectWise, ConnectWiseConfig as SimConnectWise};
use syncbridge_sim::itglue::{ItGlue, ItGlueConfig as SimItGlue};
use syncbridge_sim::seed::{load_connectwise, Dataset, SeedSpec};

const PATIENCE: Duration = Duration::from_secs(90);

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

fn find<'a>(records: &'a [Record], name: &str) -> Option<&'a Record> {
    records.iter().find(|r| r.get(Field::Name) == Some(name))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_on_either_side_reach_the_other_through_pollers_and_workers() {
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
    load_connectwise(&cw_sim.sim, &Dataset::generate(SeedSpec::sized(1, 1))).unwrap();
    let cw_host = cw_sim.base_url().trim_start_matches("http://").to_owned();

    let text = format!(
        r#"
[nats]
urls = ["{nats}"]

[tenants.acme.sync]
psa = "connectwise"
org_types = ["Client"]
org_statuses = ["Active"]
config_types = ["Server"]
config_statuses = ["Active"]
two_way = true

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

[tenants.acme.polling]
itglue_interval = "300ms"
psa_interval = "300ms"
"#,
        nats = nats.url(),
        itg = itg_sim.base_url(),
    );
    let config = Config::from_toml(&text, &|_| None).unwrap();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let loops = Loops {
        worker: true,
        pollers: true,
    };
    let handles = spawn_all(
        &conn,
        config.tenants.values().cloned(),
        Duration::from_secs(5),
        loops,
        &stop_rx,
    );

    let itg =
        Arc::new(ItGlueClient::new(ItGlueConfig::new(itg_sim.base_url(), "itg-test-key")).unwrap());
    let cw = Arc::new(PsaClient::ConnectWise(
        ConnectWiseClient::new(ConnectWiseConfig::new(
            cw_sim.api_url(),
            "acme",
            "cw-public",
            "cw-private",
            "test-client-id",
        ))
        .unwrap(),
    ));
    // Let the pollers take the first-sync watermark, then create the company after it.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let company = cw
        .create(
            Entity::Organization,
            None,
            &Values::new()
                .with(Field::Name, "Acme Rockets")
                .with(Field::Type, "Client")
                .with(Field::Status, "Active"),
        )
        .await
        .unwrap();

    let in_itglue = eventually("the company reaches IT Glue", async || {
        let orgs = itg.list_all(Entity::Organization).await.ok()?;
        find(&orgs, "Acme Rockets").cloned()
    })
    .await;
    assert_eq!(in_itglue.get(Field::Type), Some("Client"));

    let mut edit = Changes::new();
    edit.insert(Field::ShortName, Some("ROCKETS".into()));
    itg.update(Entity::Organization, &in_itglue.id, &edit)
        .await
        .unwrap();
    eventually("the IT Glue edit reaches ConnectWise", async || {
        let c = cw.get(Entity::Organization, &company.id).await.ok()??;
        (c.get(Field::ShortName) == Some("ROCKETS")).then_some(())
    })
    .await;

    // No duplicate on either side after several more polling rounds.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let orgs = itg.list_all(Entity::Organization).await.unwrap();
    assert_eq!(
        orgs.iter()
            .filter(|o| o.get(Field::Name) == Some("Acme Rockets"))
            .count(),
        1
    );
    stop_tx.send(true).unwrap();
    for h in handles {
        tokio::time::timeout(Duration::from_secs(30), h)
            .await
            .expect("loops stop on the signal")
            .unwrap();
    }
}
