//! Autotask end to end with the simulator: a registered webhook's genuine callout is stored; a
//! genuinely signed deactivation notice for a webhook that is still active changes nothing; the
//! real deactivation (the simulator posts to the DeactivationUrl) is confirmed through the
//! Autotask API and raises the alert.

use crate::common::*;
use serde_json::{json, Value};
use syncbridge_sim::autotask::{Autotask, AutotaskConfig};

fn as_user(request: reqwest::RequestBuilder, user: &str, secret: &str) -> reqwest::RequestBuilder {
    request
        .header("ApiIntegrationCode", "TRACKING-ID")
        .header("UserName", user)
        .header("Secret", secret)
}

async fn json_of(response: reqwest::Response) -> Value {
    let status = response.status();
    let value: Value = response.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{status}: {value}");
    value
}

#[tokio::test]
async fn registered_webhook_callouts_and_deactivation_notices() {
    let at = Autotask::start(AutotaskConfig::default())
        .await
        .expect("Autotask simulator");
    let h = Harness::with_options(
        syncbridge::config::DEFAULT_BODY_LIMIT,
        Some(&format!("{}/atservicesrest", at.base_url())),
    )
    .await;
    let api = at.api_url();
    let sb = |r| as_user(r, "syncbridge@example.com", "at-secret");

    // Register the webhook the way `register-webhooks` will.
    let created = json_of(
        sb(h.http.post(format!("{api}/CompanyWebhooks")))
            .json(&json!({
                "IsActive": true, "Name": "syncbridge", "SecretKey": AUTOTASK_SECRET,
                "WebhookUrl": format!("{}/webhooks/initech/autotask", h.url),
                "DeactivationUrl": format!("{}/webhooks/initech/autotask/deactivated", h.url),
                "IsSubscribedToCreateEvents": true, "IsSubscribedToUpdateEvents": true,
                "IsSubscribedToDeleteEvents": true, "SendThresholdExceededNotification": false
            }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let hook_id = created["itemId"].as_u64().expect("itemId");
    // Webhook FieldIDs are the `fieldID` picklist of CompanyWebhookFields (audit AT-2).
    let fields = json_of(
        sb(h.http.get(format!(
            "{api}/CompanyWebhookFields/entityInformation/fields"
        )))
        .send()
        .await
        .unwrap(),
    )
    .await;
    let name_field: u64 = fields["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "fieldID")
        .and_then(|f| f["picklistValues"].as_array())
        .and_then(|values| values.iter().find(|v| v["label"] == "companyName"))
        .and_then(|v| v["value"].as_str())
        .and_then(|v| v.parse().ok())
        .expect("companyName webhook field");
    json_of(
        sb(h.http.post(format!("{api}/CompanyWebhooks/{hook_id}/Fields")))
            .json(&json!({"FieldID": name_field, "IsSubscribedField": true, "IsDisplayAlwaysField": false, "WebhookID": hook_id}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let hook = json_of(
        sb(h.http.get(format!("{api}/CompanyWebhooks/{hook_id}")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let guid = hook["item"]["webhookGUID"]
        .as_str()
        .expect("webhook guid")
        .to_owned();

    // A person creates a company: Autotask calls out, the ingest stores it.
    json_of(
        as_user(
            h.http.post(format!("{api}/Companies")),
            "alice@example.com",
            "alice-secret",
        )
        .json(
            &json!({"companyName": "Globex & Sons", "companyType": 1, "ownerResourceID": 29682885,
                "phone": "555-111-1111"}),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    let deliveries_url = format!("{}/_admin/deliveries", at.base_url());
    let delivered = eventually("the callout was delivered", || async {
        let deliveries = sim_deliveries(&h.http, &deliveries_url).await?;
        deliveries
            .as_array()?
            .iter()
            .find(|d| d["status"] == 202)
            .map(|d| d["body"].as_str().unwrap_or_default().as_bytes().to_vec())
    })
    .await;
    let events = h.events().await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].subject,
        "sync.events.initech.autotask.organization"
    );
    assert_eq!(events[0].payload, delivered);

    // A genuinely signed notice while the webhook is active: not confirmed, nothing changes.
    let notice = format!(r#"{{"Action":"Deactivated","Guid":"{guid}","EntityType":"Company"}}"#)
        .into_bytes();
    let answer = h
        .post(
            "/webhooks/initech/autotask/deactivated",
            &autotask_headers(&notice, AUTOTASK_SECRET),
            &notice,
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.json["deactivation"], "not_confirmed");
    let alert = "syncbridge_autotask_webhook_deactivated{tenant=\"initech\"} 1";
    assert!(!h.get("/metrics").await.1.contains(alert));

    // The webhook really is deactivated: Autotask notifies the DeactivationUrl, the API confirms.
    json_of(
        sb(h.http.patch(format!("{api}/CompanyWebhooks")))
            .json(&json!({"id": hook_id, "IsActive": false}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    eventually("the deactivation alert is raised", || async {
        h.get("/metrics").await.1.contains(alert).then_some(())
    })
    .await;
    assert_eq!(h.events().await.len(), 1, "a notice publishes no event");
}
