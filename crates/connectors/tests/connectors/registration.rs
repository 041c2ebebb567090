//! Registering our webhooks with the ConnectWise and Autotask simulators: the first run creates,
//! a second run changes nothing, registrations of others are left alone, and afterwards a
//! person's edit is delivered to our URL while an edit by our API user is not.

use crate::common;

use std::time::Duration;

use crate::common::{
    autotask_client, autotask_sim, connectwise_client, connectwise_sim, fast_policy,
};
use serde_json::{json, Map, Value};
use syncbridge_connectors::autotask::WebhookState;
use syncbridge_connectors::{
    ApiSecret, AutotaskWebhookSpec, RegistrationOutcome, RegistrationReport,
};
use syncbridge_sim::admin::AdminOps;
use syncbridge_sim::Core;

/// A URL on a port nothing listens on: deliveries are still logged by the simulator.
fn closed_port_base() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    drop(l);
    format!("http://127.0.0.1:{port}")
}

async fn admin_get(base: &str, path: &str) -> Value {
    reqwest::get(format!("{base}{path}"))
        .await
        .expect("admin call")
        .json()
        .await
        .expect("admin JSON")
}

fn fields(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(o) => o,
        _ => panic!("fields must be an object"),
    }
}

/// Deliveries whose URL starts with `prefix`.
fn deliveries_to(core: &Core, prefix: &str) -> Vec<Value> {
    core.deliveries
        .entries()
        .into_iter()
        .filter(|d| d.url.starts_with(prefix))
        .map(|d| serde_json::from_str(&d.body).unwrap_or(Value::Null))
        .collect()
}

/// Waits until `n` deliveries went to `prefix` (or fails after 10 s).
async fn wait_for_deliveries(core: &Core, prefix: &str, n: usize) -> Vec<Value> {
    for _ in 0..200 {
        let got = deliveries_to(core, prefix);
        if got.len() >= n {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("expected {n} deliveries to {prefix}");
}

fn outcomes(report: &RegistrationReport) -> Vec<(&str, &RegistrationOutcome)> {
    report
        .items
        .iter()
        .map(|i| (i.subject.as_str(), &i.outcome))
        .collect()
}

fn all_in_place(report: &RegistrationReport) {
    assert!(!report.changed(), "{report}");
    assert!(
        report
            .items
            .iter()
            .all(|i| i.outcome == RegistrationOutcome::InPlace),
        "{report}"
    );
    assert!(
        report.lines().iter().any(|l| l.contains("nothing changed")),
        "{report}"
    );
}

#[tokio::test]
async fn connectwise_callbacks_are_created_once_and_others_left_alone() {
    let sim = connectwise_sim().await;
    let ours = connectwise_client(&sim, fast_policy());
    let url = format!("{}/webhooks/acme/connectwise/", closed_port_base());

    // Someone else's callback (another URL), and one of ours that is not self-suppressed.
    let http = reqwest::Client::new();
    let auth = |public: &str, private: &str| {
        use base64::Engine;
        let b =
            base64::engine::general_purpose::STANDARD.encode(format!("acme+{public}:{private}"));
        format!("Basic {b}")
    };
    let post = |public: &'static str, private: &'static str, body: Value| {
        http.post(format!("{}/system/callbacks", sim.api_url()))
            .header("Authorization", auth(public, private))
            .header("clientId", "test-client-id")
            .json(&body)
            .send()
    };
    let theirs = post(
        "alice-public",
        "alice-private",
        json!({"url": "https://elsewhere.example/cw?id=", "type": "company", "level": "owner",
               "objectId": 1, "isSelfSuppressedFlag": false}),
    )
    .await
    .expect("post");
    assert!(theirs.status().is_success());
    let mine = post(
        "cw-public",
        "cw-private",
        json!({"url": url, "type": "contact", "level": "owner", "objectId": 1,
               "isSelfSuppressedFlag": false}),
    )
    .await
    .expect("post");
    assert!(mine.status().is_success());
    let before: Vec<Value> = admin_get(sim.base_url(), "/_admin/callbacks")
        .await
        .as_array()
        .cloned()
        .unwrap_or_default();
    let theirs_before = before[0].clone();

    let first = ours.ensure_callbacks(&url).await.expect("first run");
    let got = outcomes(&first);
    assert_eq!(got.len(), 3, "{first}");
    assert!(got[0].0.starts_with("callback company") && *got[0].1 == RegistrationOutcome::Created);
    assert!(
        got[1].0.starts_with("callback contact")
            && matches!(got[1].1, RegistrationOutcome::Updated(c) if c.iter().any(|c| c.contains("isSelfSuppressedFlag"))),
        "{first}"
    );
    assert!(
        got[2].0.starts_with("callback configuration") && *got[2].1 == RegistrationOutcome::Created
    );

    let after_first = admin_get(sim.base_url(), "/_admin/callbacks").await;
    let all = after_first.as_array().expect("array");
    assert_eq!(all.len(), 4, "one of theirs, three of ours: {after_first}");
    assert_eq!(all[0], theirs_before, "their callback is left alone");
    for kind in ["company", "contact", "configuration"] {
        let mine: Vec<&Value> = all
            .iter()
            .filter(|c| c["url"] == url.as_str() && c["type"] == kind)
            .collect();
        assert_eq!(mine.len(), 1, "exactly one {kind} callback of ours");
        assert_eq!(mine[0]["level"], "owner");
        assert_eq!(mine[0]["isSelfSuppressedFlag"], true);
        assert_eq!(mine[0]["inactiveFlag"], false);
        assert_eq!(mine[0]["memberId"], 243, "registered by our API member");
    }

    let second = ours.ensure_callbacks(&url).await.expect("second run");
    all_in_place(&second);
    assert_eq!(second.items.len(), 3);
    let after_second = admin_get(sim.base_url(), "/_admin/callbacks").await;
    assert_eq!(after_second, after_first, "a second run changes nothing");

    sim.shutdown().await;
}

#[tokio::test]
async fn connectwise_delivers_a_persons_edit_but_not_our_own() {
    let sim = connectwise_sim().await;
    let client = connectwise_client(&sim, fast_policy());
    let base = closed_port_base();
    let url = format!("{base}/webhooks/acme/connectwise/");
    let seeded = sim
        .sim
        .seed(
            "companies",
            vec![json!({"name": "Northwind", "identifier": "Northwind", "city": "Seattle"})],
        )
        .expect("seed");
    let id = seeded[0]["id"].to_string();

    client.ensure_callbacks(&url).await.expect("register");
    let core = sim.sim.core().clone();
    core.deliveries.clear();

    // Our API member's edit first, then a person's: deliveries are sent in order, so once the
    // person's arrived, ours would have too.
    sim.sim
        .edit(
            "companies",
            &id,
            "syncbridge",
            fields(json!({"name": "Northwind (ours)"})),
        )
        .expect("our edit");
    sim.sim
        .edit(
            "companies",
            &id,
            "alice",
            fields(json!({"name": "Northwind (alice)"})),
        )
        .expect("person's edit");
    wait_for_deliveries(&core, &url, 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = deliveries_to(&core, &url);
    assert_eq!(got.len(), 1, "only the person's edit is delivered: {got:?}");
    assert_eq!(got[0]["MemberId"], "alice");
    assert_eq!(got[0]["Type"], "company");
    assert_eq!(got[0]["Action"], "updated");
    let urls: Vec<String> = core
        .deliveries
        .entries()
        .into_iter()
        .map(|d| d.url)
        .collect();
    assert_eq!(
        urls,
        vec![format!("{url}{id}")],
        "the record id is appended"
    );
    sim.shutdown().await;
}

const WEBHOOK_SECRET: &str = "at-webhook-secret-1";
const ALICE_RESOURCE: u64 = 29682885;

async fn alice_creates_webhook(
    sim: &syncbridge_sim::autotask::Autotask,
    resource: &str,
    body: Value,
) -> u64 {
    let reply: Value = reqwest::Client::new()
        .post(format!("{}/{resource}", sim.api_url()))
        .header("ApiIntegrationCode", "TRACKING-ID")
        .header("UserName", "alice@example.com")
        .header("Secret", "alice-secret")
        .json(&body)
        .send()
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    reply["itemId"].as_u64().expect("itemId")
}

fn webhooks_with_url<'a>(all: &'a [Value], url: &str) -> Vec<&'a Value> {
    all.iter().filter(|h| h["webhookUrl"] == url).collect()
}

#[tokio::test]
async fn autotask_webhooks_are_created_once_completed_and_others_left_alone() {
    let sim = autotask_sim().await;
    let client = autotask_client(&sim, fast_policy());
    let base = closed_port_base();
    let url = format!("{base}/webhooks/acme/autotask");
    let deactivation = format!("{base}/webhooks/acme/autotask/deactivated");
    let secret = ApiSecret::new(WEBHOOK_SECRET);
    let spec = AutotaskWebhookSpec {
        webhook_url: &url,
        deactivation_url: &deactivation,
        secret: &secret,
        exclude_resource_id: None,
        rewrite_secret: false,
    };

    // Someone else's webhook with another URL, and a half-made one with our URL (no fields, no
    // delete events, an old DeactivationUrl), both created by a person.
    alice_creates_webhook(
        &sim,
        "CompanyWebhooks",
        json!({"Name": "other tool", "WebhookUrl": "https://elsewhere.example/at",
               "DeactivationUrl": "https://elsewhere.example/at/off", "SecretKey": "x",
               "IsActive": true, "IsSubscribedToUpdateEvents": true}),
    )
    .await;
    let half = alice_creates_webhook(
        &sim,
        "ContactWebhooks",
        json!({"Name": "syncbridge Contact", "WebhookUrl": url,
               "DeactivationUrl": "https://old.example/deactivated", "SecretKey": WEBHOOK_SECRET,
               "IsActive": true, "IsSubscribedToCreateEvents": true,
               "IsSubscribedToUpdateEvents": true}),
    )
    .await;
    let before = admin_get(sim.base_url(), "/_admin/webhooks").await;
    let theirs_before = before[0].clone();

    let first = client.ensure_webhooks(&spec).await.expect("first run");
    let got = outcomes(&first);
    assert_eq!(got.len(), 3, "{first}");
    assert!(got[0].0.starts_with("CompanyWebhooks") && *got[0].1 == RegistrationOutcome::Created);
    match got[1].1 {
        RegistrationOutcome::Updated(changes) => {
            assert!(got[1].0.contains(&format!("id {half}")), "{first}");
            let all = changes.join("; ");
            for expected in [
                "IsSubscribedToDeleteEvents false → true",
                "DeactivationUrl set",
                "subscribed fields added",
                "our API user (resource 30691780) excluded",
            ] {
                assert!(all.contains(expected), "{expected} in {all}");
            }
        }
        other => panic!("the half-made webhook is completed, not {other:?}: {first}"),
    }
    assert!(
        got[2].0.starts_with("ConfigurationItemWebhooks")
            && *got[2].1 == RegistrationOutcome::Created
    );
    assert!(
        first.notes.iter().any(|n| n.contains("resource 30691780")),
        "{first}"
    );

    let after_first = admin_get(sim.base_url(), "/_admin/webhooks").await;
    let all = after_first.as_array().expect("array");
    assert_eq!(all.len(), 4, "{after_first}");
    assert_eq!(all[0], theirs_before, "their webhook is left alone");
    let ours = webhooks_with_url(all, &url);
    assert_eq!(ours.len(), 3, "one per entity, none duplicated");
    // A deactivation notice is confirmed only by what the API says about the named webhook.
    for hook in &ours {
        let guid = hook["webhookGUID"].as_str().expect("a GUID");
        assert_eq!(
            client.webhook_state(None, guid).await.unwrap(),
            WebhookState::Active
        );
        if hook["id"] == half {
            // The notice's EntityType names the one resource to ask.
            let contact = client.webhook_state(Some("Contact"), guid).await.unwrap();
            assert_eq!(contact, WebhookState::Active);
            let company = client.webhook_state(Some("Company"), guid).await.unwrap();
            assert_eq!(company, WebhookState::Deleted);
        }
    }
    assert_eq!(
        client
            .webhook_state(None, "00000000-0000-0000-0000-000000000000")
            .await
            .unwrap(),
        WebhookState::Deleted
    );
    for hook in &ours {
        assert_eq!(hook["isActive"], true, "{hook}");
        assert_eq!(hook["isReady"], true, "{hook}");
        assert_eq!(hook["isSubscribedToCreateEvents"], true);
        assert_eq!(hook["isSubscribedToUpdateEvents"], true);
        assert_eq!(hook["isSubscribedToDeleteEvents"], true);
        assert_eq!(hook["deactivationUrl"], deactivation.as_str());
        let excluded: Vec<u64> = hook["excluded_resources"]
            .as_array()
            .expect("excluded")
            .iter()
            .filter_map(|e| e["resourceID"].as_u64())
            .collect();
        assert_eq!(excluded, vec![common::AT_RESOURCE], "{hook}");
        assert!(hook["fields"]
            .as_array()
            .expect("fields")
            .iter()
            .all(|f| f["isSubscribedField"] == true));
    }
    // Subscribed fields are the mapped ones, by the FieldIDs of `…WebhookFields`.
    let field_ids = |entity: &str| -> Vec<u64> {
        let hook = ours
            .iter()
            .find(|h| h["entity_type"] == entity)
            .expect("hook");
        let mut ids: Vec<u64> = hook["fields"]
            .as_array()
            .expect("fields")
            .iter()
            .filter_map(|f| f["fieldID"].as_u64())
            .collect();
        ids.sort_unstable();
        ids
    };
    let def = |name: &str| syncbridge_sim::autotask::entity_def(name).expect("entity");
    let ids_of = |entity: &str, names: &[&str]| -> Vec<u64> {
        let mut ids: Vec<u64> = names
            .iter()
            .map(|n| syncbridge_sim::autotask::webhook_field_id_of(def(entity), n).expect("field"))
            .collect();
        ids.sort_unstable();
        ids
    };
    assert_eq!(
        field_ids("Company"),
        ids_of(
            "Companies",
            &["companyName", "companyNumber", "companyType", "isActive"]
        )
    );
    assert_eq!(
        field_ids("Contact"),
        ids_of(
            "Contacts",
            &[
                "companyID",
                "firstName",
                "lastName",
                "title",
                "emailAddress",
                "phone",
                "mobilePhone",
                "faxNumber",
                "companyLocationID"
            ]
        )
    );
    assert!(field_ids("ConfigurationItem")
        .contains(&ids_of("ConfigurationItems", &["referenceTitle"])[0]));

    let second = client.ensure_webhooks(&spec).await.expect("second run");
    all_in_place(&second);
    assert!(
        second.notes.iter().any(|n| n.contains("resource 30691780")),
        "our resource is recognised from the previous run: {second}"
    );
    let after_second = admin_get(sim.base_url(), "/_admin/webhooks").await;
    assert_eq!(after_second, after_first, "a second run changes nothing");
    sim.shutdown().await;
}

#[tokio::test]
async fn autotask_delivers_a_persons_edit_but_not_our_own() {
    let sim = autotask_sim().await;
    let client = autotask_client(&sim, fast_policy());
    let base = closed_port_base();
    let url = format!("{base}/webhooks/acme/autotask");
    let deactivation = format!("{base}/webhooks/acme/autotask/deactivated");
    let secret = ApiSecret::new(WEBHOOK_SECRET);
    let seeded = sim
        .sim
        .seed(
            "Companies",
            vec![
                json!({"companyName": "Northwind", "companyType": 1, "isActive": true,
                        "phone": "555-111-1111", "ownerResourceID": ALICE_RESOURCE}),
            ],
        )
        .expect("seed");
    let id = seeded[0]["id"].to_string();

    let report = client
        .ensure_webhooks(&AutotaskWebhookSpec {
            webhook_url: &url,
            deactivation_url: &deactivation,
            secret: &secret,
            exclude_resource_id: None,
            rewrite_secret: false,
        })
        .await
        .expect("register");
    assert!(report.changed(), "{report}");
    let core = sim.sim.core().clone();
    core.deliveries.clear();

    // Our API user's edit first, then a person's: one FIFO per webhook, so once the person's
    // callout arrived, ours would have too.
    sim.sim
        .edit(
            "Companies",
            &id,
            "syncbridge@example.com",
            fields(json!({"companyName": "Northwind (ours)"})),
        )
        .expect("our edit");
    sim.sim
        .edit(
            "Companies",
            &id,
            "alice@example.com",
            fields(json!({"companyName": "Northwind (alice)"})),
        )
        .expect("person's edit");
    wait_for_deliveries(&core, &url, 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got: Vec<Value> = deliveries_to(&core, &url)
        .into_iter()
        .filter(|d| d["Action"] != "Deactivated")
        .collect();
    assert_eq!(got.len(), 1, "only the person's edit is delivered: {got:?}");
    assert_eq!(got[0]["PersonId"], ALICE_RESOURCE);
    assert_eq!(got[0]["EntityType"], "Company");
    assert_eq!(got[0]["Action"], "Update");
    assert_eq!(got[0]["Fields"]["CompanyName"], "Northwind (alice)");
    sim.shutdown().await;
}
