//! The seed generator loads the same data set into every simulator, readable over each vendor's API.

use serde_json::Value;
use syncbridge_sim::autotask::{Autotask, AutotaskConfig};
use syncbridge_sim::connectwise::{ConnectWise, ConnectWiseConfig};
use syncbridge_sim::itglue::{ItGlue, ItGlueConfig};
use syncbridge_sim::kaseya_bms::{BmsConfig, KaseyaBms};
use syncbridge_sim::seed::{
    load_autotask, load_bms, load_connectwise, load_itglue, load_tigerpaw, Dataset, SeedSpec,
};
use syncbridge_sim::tigerpaw::{Tigerpaw, TigerpawConfig};

#[tokio::test]
async fn one_dataset_in_three_vendor_vocabularies() {
    let ds = Dataset::generate(SeedSpec::sized(42, 120));
    let itg = ItGlue::start(ItGlueConfig::default()).await.expect("itg");
    let cw = ConnectWise::start(ConnectWiseConfig::default())
        .await
        .expect("cw");
    let at = Autotask::start(AutotaskConfig::default())
        .await
        .expect("at");
    load_itglue(&itg.sim, &ds, "manual").expect("load itg");
    load_connectwise(&cw.sim, &ds).expect("load cw");
    load_autotask(&at.sim, &ds, 29682885).expect("load at");
    let c = reqwest::Client::new();

    let orgs: Value = c
        .get(format!("{}/organizations?page[size]=1", itg.base_url()))
        .header("x-api-key", "itg-test-key")
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(orgs["meta"]["total-count"], 120);
    assert_eq!(
        orgs["data"][0]["attributes"]["name"],
        ds.organizations[0].name.as_str()
    );
    let cfgs: Value = c
        .get(format!("{}/configurations?page[size]=1", itg.base_url()))
        .header("x-api-key", "itg-test-key")
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(cfgs["meta"]["total-count"], 240);
    assert!(cfgs["data"][0]["attributes"]["configuration-type-name"].is_string());

    use base64::Engine;
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("acme+cw-public:cw-private")
    );
    let count: Value = c
        .get(format!("{}/company/contacts/count", cw.api_url()))
        .header("authorization", auth)
        .header("clientId", "test-client-id")
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(count["count"], 240);

    let at_count: Value = c
        .post(format!("{}/ConfigurationItems/query/count", at.api_url()))
        .header("ApiIntegrationCode", "TRACKING-ID")
        .header("UserName", "syncbridge@example.com")
        .header("Secret", "at-secret")
        .json(&serde_json::json!({"filter": [{"op": "gte", "field": "id", "value": 0}]}))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(at_count["queryCount"], 240);
    itg.shutdown().await;
    cw.shutdown().await;
    at.shutdown().await;
}

#[tokio::test]
async fn bms_and_tigerpaw_load_the_same_dataset() {
    let ds = Dataset::generate(SeedSpec::sized(42, 60));
    let bms = KaseyaBms::start(BmsConfig::default()).await.expect("bms");
    let tp = Tigerpaw::start(TigerpawConfig::default())
        .await
        .expect("tp");
    load_bms(&bms.sim, &ds).expect("load bms");
    load_tigerpaw(&tp.sim, &ds).expect("load tp");
    let c = reqwest::Client::new();
    let auth: Value = c
        .post(format!("{}/v2/security/authenticate", bms.base_url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grantType=password&userName=syncbridge&password=bms-password&tenant=acme")
        .send()
        .await
        .expect("auth")
        .json()
        .await
        .expect("json");
    let token = auth["result"]["accessToken"].as_str().expect("token");
    let accounts: Value = c
        .get(format!(
            "{}/v2/crm/accounts/summary?PageSize=1",
            bms.base_url()
        ))
        .bearer_auth(token)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(accounts["totalRecords"], 60);
    // Lists embed no locations; the account read by id does.
    let account: Value = c
        .get(format!("{}/v2/crm/accounts/summary/1", bms.base_url()))
        .bearer_auth(token)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(
        account["result"]["locations"][0]["locationName"],
        "Main Office"
    );
    let contacts: Value = c
        .get(format!("{}/v2/crm/contacts/summary/1", bms.base_url()))
        .bearer_auth(token)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(contacts["result"]["locationName"], "Main Office");

    let state: Value = c
        .get(format!("{}/_admin/state/contacts", tp.base_url()))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(state.as_array().map(Vec::len), Some(120));
    bms.shutdown().await;
    tp.shutdown().await;
}

#[tokio::test]
async fn a_fleet_shares_one_clock_and_one_dataset() {
    let clock = syncbridge_sim::SimClock::new();
    let fleet = syncbridge_sim::fleet::Fleet::start(clock.clone())
        .await
        .expect("fleet");
    let ds = Dataset::generate(SeedSpec::sized(3, 20));
    fleet.seed_psas(&ds).expect("psas");
    fleet.seed_itglue(&ds, "import").expect("itglue");
    clock.set_factor(60.0);
    for core in [
        fleet.itglue.server.core(),
        fleet.connectwise.server.core(),
        fleet.autotask.server.core(),
        fleet.pulseway.server.core(),
    ] {
        assert_eq!(core.clock.factor(), 60.0);
    }
    let state: Value = reqwest::Client::new()
        .get(format!(
            "{}/_admin/state/companies",
            fleet.connectwise.base_url()
        ))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(state.as_array().map(Vec::len), Some(20));
    fleet.shutdown().await;
}
