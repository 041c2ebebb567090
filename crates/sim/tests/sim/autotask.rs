//! Autotask simulator over real HTTP: zone lookup, auth, query paging with nextPageUrl, filters,
//! PATCH/PUT semantics, limits, and webhooks (fields, exclusions, signatures, retries,
//! deactivation) on the scaled clock.

use std::collections::HashSet;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha1::Sha1;
use syncbridge_sim::admin::AdminOps;
use syncbridge_sim::autotask::{Autotask, AutotaskConfig};

use crate::common::{client, Receiver};

const SYNC: (&str, &str) = ("syncbridge@example.com", "at-secret");
const ALICE: (&str, &str) = ("alice@example.com", "alice-secret");
const SYNC_RESOURCE: u64 = 30691780;

async fn start() -> Autotask {
    Autotask::start(AutotaskConfig::default())
        .await
        .expect("start")
}

fn req(
    at: &Autotask,
    method: reqwest::Method,
    path: &str,
    (user, secret): (&str, &str),
) -> reqwest::RequestBuilder {
    client()
        .request(method, format!("{}{path}", at.api_url()))
        .header("ApiIntegrationCode", "TRACKING-ID")
        .header("UserName", user)
        .header("Secret", secret)
}

async fn call(
    at: &Autotask,
    method: reqwest::Method,
    path: &str,
    who: (&str, &str),
    body: Value,
) -> (u16, Value) {
    let resp = req(at, method, path, who)
        .json(&body)
        .send()
        .await
        .expect("send");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn seed(at: &Autotask, collection: &str, records: Value) {
    let resp = client()
        .post(format!("{}/_admin/seed/{collection}", at.base_url()))
        .json(&records)
        .send()
        .await
        .expect("seed");
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn zone_lookup_and_auth_headers() {
    let at = start().await;
    let zone: Value = client()
        .get(format!(
            "{}/zoneInformation?user=syncbridge@example.com",
            at.api_url()
        ))
        .send()
        .await
        .expect("zone")
        .json()
        .await
        .expect("json");
    assert_eq!(zone["url"], format!("{}/atservicesrest", at.base_url()));
    let none = client()
        .get(format!("{}/Companies/1", at.api_url()))
        .send()
        .await
        .expect("send");
    assert_eq!(none.status(), 401);
    let wrong_code = client()
        .get(format!("{}/Companies/1", at.api_url()))
        .header("ApiIntegrationCode", "OTHER")
        .header("UserName", SYNC.0)
        .header("Secret", SYNC.1)
        .send()
        .await
        .expect("send");
    assert_eq!(wrong_code.status(), 401);
    let (status, body) = call(&at, reqwest::Method::GET, "/Companies/1", SYNC, Value::Null).await;
    assert_eq!((status, body), (200, json!({"item": null})));
    at.shutdown().await;
}

#[tokio::test]
async fn query_pages_500_rows_with_next_page_url() {
    let at = start().await;
    let companies: Vec<Value> = (0..2500)
        .map(|i| json!({"companyName": format!("Company {i:04}"), "companyType": 1, "ownerResourceID": 1}))
        .collect();
    seed(&at, "Companies", Value::from(companies)).await;
    let (status, mut page) = call(
        &at,
        reqwest::Method::POST,
        "/Companies/query",
        SYNC,
        json!({"filter": [{"op": "gte", "field": "id", "value": 0}]}),
    )
    .await;
    assert_eq!(status, 200);
    let mut seen = HashSet::new();
    let mut pages = 1;
    loop {
        let items = page["items"].as_array().expect("items");
        assert!(items.len() <= 500);
        assert_eq!(page["pageDetails"]["count"], items.len());
        for r in items {
            assert!(seen.insert(r["id"].as_u64().expect("id")));
        }
        let Some(next) = page["pageDetails"]["nextPageUrl"]
            .as_str()
            .map(str::to_owned)
        else {
            break;
        };
        page = client()
            .get(next)
            .header("ApiIntegrationCode", "TRACKING-ID")
            .header("UserName", SYNC.0)
            .header("Secret", SYNC.1)
            .send()
            .await
            .expect("next")
            .json()
            .await
            .expect("json");
        pages += 1;
    }
    assert_eq!((seen.len(), pages), (2500, 5));

    let (_, small) = call(&at, reqwest::Method::POST, "/Companies/query", SYNC,
        json!({"filter": [{"op": "gte", "field": "id", "value": 0}], "MaxRecords": 100, "IncludeFields": ["companyName"]})).await;
    assert_eq!(small["items"].as_array().map(Vec::len), Some(100));
    assert_eq!(
        small["items"][0].as_object().map(|o| o.len()),
        Some(2),
        "id + companyName"
    );
    assert!(
        small["pageDetails"]["nextPageUrl"].is_null(),
        "MaxRecords queries loop by id (stricter reading, audit AT-3)"
    );
    let (bad, body) = call(
        &at,
        reqwest::Method::POST,
        "/Companies/query",
        SYNC,
        json!({"filter": [], "MaxRecords": 10}),
    )
    .await;
    assert_eq!(bad, 500);
    assert!(body["errors"].is_array());
    let (bad_max, _) = call(
        &at,
        reqwest::Method::POST,
        "/Companies/query",
        SYNC,
        json!({"filter": [{"op": "gte", "field": "id", "value": 0}], "MaxRecords": 501}),
    )
    .await;
    assert_eq!(bad_max, 500);
    let (_, count) = call(
        &at,
        reqwest::Method::POST,
        "/Companies/query/count",
        SYNC,
        json!({"filter": [{"op": "beginsWith", "field": "companyName", "value": "company 00"}]}),
    )
    .await;
    assert_eq!(count, json!({"queryCount": 100}));
    at.shutdown().await;
}

#[tokio::test]
async fn create_patch_put_and_child_contacts() {
    let at = start().await;
    let (status, created) = call(&at, reqwest::Method::POST, "/Companies", SYNC,
        json!({"companyName": "Acme & Co", "companyType": 1, "ownerResourceID": 29682885, "phone": "555"})).await;
    assert_eq!(status, 200);
    let id = created["itemId"].as_u64().expect("itemId");
    let (missing, _) = call(
        &at,
        reqwest::Method::POST,
        "/Companies",
        SYNC,
        json!({"companyName": "X"}),
    )
    .await;
    assert_eq!(missing, 500);

    let (status, _) = call(
        &at,
        reqwest::Method::PATCH,
        "/Companies",
        SYNC,
        json!({"id": id, "city": "Oslo"}),
    )
    .await;
    assert_eq!(status, 200);
    let (_, item) = call(
        &at,
        reqwest::Method::GET,
        &format!("/Companies/{id}"),
        SYNC,
        Value::Null,
    )
    .await;
    assert_eq!(item["item"]["phone"], "555", "PATCH keeps fields not sent");
    assert_eq!(item["item"]["city"], "Oslo");
    let stamp = item["item"]["lastTrackedModifiedDateTime"]
        .as_str()
        .expect("stamped once updated");
    assert!(!stamp.ends_with('Z'), "zone-less: {stamp}");

    let (status, _) = call(
        &at,
        reqwest::Method::PUT,
        "/Companies",
        SYNC,
        json!({"id": id, "companyName": "Acme & Co", "companyType": 1, "ownerResourceID": 29682885,
            "phone": "555"}),
    )
    .await;
    assert_eq!(status, 200);
    let (_, item) = call(
        &at,
        reqwest::Method::GET,
        &format!("/Companies/{id}"),
        SYNC,
        Value::Null,
    )
    .await;
    assert!(item["item"]["city"].is_null(), "PUT nulls omitted fields");
    let (status, body) = call(&at, reqwest::Method::PUT, "/Companies", SYNC,
        json!({"id": id, "companyName": "Acme & Co", "companyType": 1, "ownerResourceID": 29682885})).await;
    assert_eq!(status, 500, "PUT without the required phone");
    assert_eq!(body, json!({"errors": ["Missing Required Field: phone."]}));

    let (_, found) = call(
        &at,
        reqwest::Method::POST,
        "/Companies/query",
        SYNC,
        json!({"filter": [{"op": "eq", "field": "CompanyName", "value": "ACME & CO"}]}),
    )
    .await;
    assert_eq!(
        found["items"].as_array().map(Vec::len),
        Some(1),
        "eq is case-insensitive"
    );

    let (status, _) = call(
        &at,
        reqwest::Method::POST,
        &format!("/Companies/{id}/Contacts"),
        SYNC,
        json!({"firstName": "Ada", "lastName": "Lovelace"}),
    )
    .await;
    assert_eq!(status, 500, "isActive is required, not defaulted");
    let (status, contact) = call(
        &at,
        reqwest::Method::POST,
        &format!("/Companies/{id}/Contacts"),
        SYNC,
        json!({"firstName": "Ada", "lastName": "Lovelace", "isActive": 1}),
    )
    .await;
    assert_eq!(status, 200);
    let contact_id = contact["itemId"].as_u64().expect("id");
    let (_, list) = call(
        &at,
        reqwest::Method::GET,
        &format!("/Companies/{id}/Contacts"),
        SYNC,
        Value::Null,
    )
    .await;
    assert_eq!(list["items"][0]["id"], contact_id);
    let (status, _) = call(
        &at,
        reqwest::Method::PATCH,
        &format!("/Companies/{id}/Contacts"),
        SYNC,
        json!({"id": contact_id, "title": "CTO"}),
    )
    .await;
    assert_eq!(status, 200);

    let (status, _) = call(
        &at,
        reqwest::Method::POST,
        "/ConfigurationItems",
        SYNC,
        json!({"companyID": id, "referenceTitle": "srv", "serialNumber": "S1", "isActive": true}),
    )
    .await;
    assert_eq!(status, 500, "productID is required");
    at.sim
        .seed(
            "Products",
            vec![
                json!({"id": 1, "name": "Generic", "productBillingCodeID": 1,
                "isSerialized": false, "isActive": true}),
            ],
        )
        .expect("product");
    let (status, ci) = call(
        &at,
        reqwest::Method::POST,
        "/ConfigurationItems",
        SYNC,
        json!({"companyID": id, "serialNumber": "S1", "isActive": true, "productID": 1,
            "installDate": "2024-01-02"}),
    )
    .await;
    assert_eq!(status, 200, "no referenceTitle needed");
    let ci_id = ci["itemId"].as_u64().expect("id");
    let (other, _) = call(
        &at,
        reqwest::Method::POST,
        "/Companies",
        SYNC,
        json!({"companyName": "Other", "companyType": 1, "ownerResourceID": 1, "phone": "555"}),
    )
    .await;
    assert_eq!(other, 200);
    let (status, _) = call(
        &at,
        reqwest::Method::PATCH,
        "/ConfigurationItems",
        SYNC,
        json!({"id": ci_id, "companyID": 999, "serialNumber": "S2"}),
    )
    .await;
    assert_eq!(status, 200);
    let (_, ci) = call(
        &at,
        reqwest::Method::GET,
        &format!("/ConfigurationItems/{ci_id}"),
        SYNC,
        Value::Null,
    )
    .await;
    assert_eq!(
        (
            ci["item"]["companyID"].clone(),
            ci["item"]["serialNumber"].clone()
        ),
        (json!(id), json!("S2"))
    );
    assert_eq!(
        ci["item"]["installDate"], "2024-01-02T00:00:00",
        "dates are stored as zone-less date-times"
    );
    at.shutdown().await;
}

#[tokio::test]
async fn hourly_budget_and_thread_limit() {
    let at = start().await;
    let c = client();
    let rate: Value = c
        .get(format!("{}/_admin/rate-limit", at.base_url()))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(
        rate["config"],
        json!({"limit": 10000, "window_secs": 3600, "kind": "sliding"})
    );
    c.put(format!("{}/_admin/rate-limit", at.base_url()))
        .json(&json!({"limit": 5, "window_secs": 3600, "kind": "sliding"}))
        .send()
        .await
        .expect("set");
    for _ in 0..5 {
        assert_eq!(
            call(&at, reqwest::Method::GET, "/Companies/1", SYNC, Value::Null)
                .await
                .0,
            200
        );
    }
    let limited = req(&at, reqwest::Method::GET, "/Companies/1", SYNC)
        .send()
        .await
        .expect("send");
    assert_eq!(limited.status(), 429);
    let retry: u64 = limited.headers()["retry-after"]
        .to_str()
        .expect("s")
        .parse()
        .expect("n");
    assert!((3000..=3600).contains(&retry), "{retry}");
    // Scale the clock: an hour passes in half a second.
    c.put(format!("{}/_admin/clock", at.base_url()))
        .json(&json!({"factor": 14400}))
        .send()
        .await
        .expect("clock");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        call(&at, reqwest::Method::GET, "/Companies/1", SYNC, Value::Null)
            .await
            .0,
        200
    );

    // Three slow requests hold the Companies endpoint; a fourth is refused.
    c.put(format!("{}/_admin/rate-limit", at.base_url()))
        .json(&Value::Null)
        .send()
        .await
        .expect("unlimited");
    c.put(format!("{}/_admin/faults", at.base_url()))
        .json(&json!({"rules": [{"path_contains": "/Companies/1", "fault": {"kind": "delay", "min_ms": 4000, "max_ms": 4000}, "times": 3}]}))
        .send()
        .await
        .expect("faults");
    let slow: Vec<_> = (0..3)
        .map(|_| tokio::spawn(req(&at, reqwest::Method::GET, "/Companies/1", SYNC).send()))
        .collect();
    // Poll until the three slow requests occupy the endpoint (no timing assumption beyond the
    // 4 s they are held).
    let mut refused = false;
    for _ in 0..30 {
        let fourth = req(&at, reqwest::Method::GET, "/Companies/2", SYNC)
            .send()
            .await
            .expect("send");
        if fourth.status() == 429 {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(refused, "a fourth concurrent request is refused");
    let other_endpoint = req(&at, reqwest::Method::GET, "/Contacts/1", SYNC)
        .send()
        .await
        .expect("send");
    assert_eq!(other_endpoint.status(), 200);
    for s in slow {
        assert_eq!(s.await.expect("join").expect("send").status(), 200);
    }
    at.shutdown().await;
}

fn expected_signature(secret: &str, bytes: &[u8]) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(bytes);
    format!("sha1={}", B64.encode(mac.finalize().into_bytes()))
}

#[test]
fn derived_vectors_of_webhooks_md_2_6() {
    let body = br#"{"Action":"Create","Guid":"a1da62a4-2c49-40a8-8183-69994ce5b3eb","EntityType":"Ticket","Id":351181,"Fields":{"TicketNumber":"T20250915.0001"},"EventTime":"2025-09-15T14:57:50Z","SequenceNumber":1,"PersonId":30691780}"#;
    assert_eq!(
        expected_signature("test-secret-key", body),
        "sha1=02QVqjN/QURNucB0Wv+9CyoRUhM="
    );
    assert_eq!(
        expected_signature("test-secret-key", br#"{"Fields":{"Title":"R&D"}}"#),
        "sha1=/BWgRMeXusmDCO9X6fYsxcQrYII="
    );
    assert_eq!(
        expected_signature("test-secret-key", br#"{"Fields":{"Title":"R\u0026D"}}"#),
        "sha1=MNZgyJyGspAIPCoLpvU6vzrfL0c="
    );
    assert_eq!(
        syncbridge_sim::autotask_webhooks::sign("test-secret-key", body),
        "sha1=02QVqjN/QURNucB0Wv+9CyoRUhM="
    );
}

/// Registers a company webhook: companyName subscribed, id display-always (FieldIDs from
/// `CompanyWebhookFields/entityInformation/fields`), the sync user excluded.
async fn register(at: &Autotask, url: &str, deactivation: &str) -> u64 {
    let (status, hook) = call(at, reqwest::Method::POST, "/CompanyWebhooks", SYNC, json!({
        "IsActive": true, "DeactivationUrl": deactivation, "IsSubscribedToCreateEvents": true,
        "IsSubscribedToUpdateEvents": true, "IsSubscribedToDeleteEvents": true, "Name": "syncbridge",
        "SecretKey": "test-secret-key", "SendThresholdExceededNotification": false, "WebhookUrl": url,
        "NotificationEmailAddress": "ops@example.com"})).await;
    assert_eq!(status, 200);
    let id = hook["itemId"].as_u64().expect("id");
    let (_, info) = call(
        at,
        reqwest::Method::GET,
        "/Companies/entityInformation/fields",
        SYNC,
        Value::Null,
    )
    .await;
    assert_eq!(info["fields"][1]["name"], "companyName");
    assert!(
        info["fields"][1].get("webhookFieldID").is_none(),
        "no such attribute in Autotask"
    );
    let (status, hook_fields) = call(
        at,
        reqwest::Method::GET,
        "/CompanyWebhookFields/entityInformation/fields",
        SYNC,
        Value::Null,
    )
    .await;
    assert_eq!(status, 200);
    let picklist = hook_fields["fields"]
        .as_array()
        .and_then(|fs| fs.iter().find(|f| f["name"] == "fieldID"))
        .and_then(|f| f["picklistValues"].as_array())
        .cloned()
        .expect("fieldID picklist");
    let field_id = |name: &str| -> u64 {
        picklist
            .iter()
            .find(|v| v["label"] == name)
            .and_then(|v| v["value"].as_str())
            .and_then(|v| v.parse().ok())
            .expect("webhook field")
    };
    let (name_id, id_id) = (field_id("companyName"), field_id("id"));
    let (refused, _) = call(
        at,
        reqwest::Method::POST,
        &format!("/CompanyWebhooks/{id}/Fields"),
        SYNC,
        json!({"FieldID": 2, "IsSubscribedField": true, "WebhookID": id}),
    )
    .await;
    assert_eq!(refused, 500, "a FieldID Autotask does not list");
    let (_, before) = call(
        at,
        reqwest::Method::GET,
        &format!("/CompanyWebhooks/{id}"),
        SYNC,
        Value::Null,
    )
    .await;
    assert_eq!(before["item"]["isReady"], false);
    for body in [
        json!({"FieldID": name_id, "IsSubscribedField": true, "IsDisplayAlwaysField": false, "WebhookID": id}),
        json!({"FieldID": id_id, "IsSubscribedField": false, "IsDisplayAlwaysField": true, "WebhookID": id}),
    ] {
        assert_eq!(
            call(
                at,
                reqwest::Method::POST,
                &format!("/CompanyWebhooks/{id}/Fields"),
                SYNC,
                body
            )
            .await
            .0,
            200
        );
    }
    let (status, _) = call(
        at,
        reqwest::Method::POST,
        &format!("/CompanyWebhooks/{id}/ExcludedResources"),
        SYNC,
        json!({"ResourceID": SYNC_RESOURCE}),
    )
    .await;
    assert_eq!(status, 200);
    let (_, after) = call(
        at,
        reqwest::Method::GET,
        &format!("/CompanyWebhooks/{id}"),
        SYNC,
        Value::Null,
    )
    .await;
    assert_eq!(after["item"]["isReady"], true);
    assert!(after["item"]["webhookGUID"]
        .as_str()
        .is_some_and(|g| g.len() == 36));
    id
}

#[tokio::test]
async fn callouts_carry_subscribed_fields_are_signed_and_skip_excluded_resources() {
    let at = start().await;
    let mut rx = Receiver::start().await;
    register(
        &at,
        &format!("{}/webhooks/acme/autotask", rx.url),
        &format!("{}/deactivated", rx.url),
    )
    .await;

    let (_, created) = call(&at, reqwest::Method::POST, "/Companies", ALICE,
        json!({"companyName": "Acme", "companyType": 1, "ownerResourceID": 29682885, "phone": "555"})).await;
    let id = created["itemId"].as_u64().expect("id");
    let got = rx
        .next(Duration::from_secs(5))
        .await
        .expect("create callout");
    assert_eq!(got.path, "/webhooks/acme/autotask");
    assert_eq!(
        got.header("x-hook-signature"),
        Some(expected_signature("test-secret-key", &got.body))
    );
    let body = got.json();
    assert_eq!(body["Action"], "Create");
    assert_eq!(body["EntityType"], "Company");
    assert_eq!(body["Id"], id);
    assert_eq!(
        body["Fields"],
        json!({"CompanyName": "Acme", "Id": id}),
        "only subscribed + display-always"
    );
    assert_eq!(body["SequenceNumber"], 1);
    assert_eq!(body["PersonId"], 29682885);
    let raw = String::from_utf8_lossy(&got.body).into_owned();
    assert!(raw.starts_with(r#"{"Action":"Create","Guid":""#), "{raw}");

    // An unsubscribed field changes: nothing. The excluded sync user: nothing.
    call(
        &at,
        reqwest::Method::PATCH,
        "/Companies",
        ALICE,
        json!({"id": id, "phone": "556"}),
    )
    .await;
    call(
        &at,
        reqwest::Method::PATCH,
        "/Companies",
        SYNC,
        json!({"id": id, "companyName": "Acme 2"}),
    )
    .await;
    assert!(rx.next(Duration::from_millis(400)).await.is_none());

    // .NET-escaped signing: the signature covers the escaped body, the wire body is unchanged.
    client()
        .put(format!("{}/_admin/signing-mode", at.base_url()))
        .json(&json!({"mode": "escaped"}))
        .send()
        .await
        .expect("mode");
    call(
        &at,
        reqwest::Method::PATCH,
        "/Companies",
        ALICE,
        json!({"id": id, "companyName": "R&D"}),
    )
    .await;
    let got = rx
        .next(Duration::from_secs(5))
        .await
        .expect("update callout");
    let wire = String::from_utf8_lossy(&got.body).into_owned();
    assert!(wire.contains(r#""CompanyName":"R&D""#), "{wire}");
    assert_eq!(got.json()["SequenceNumber"], 2);
    let escaped = wire.replace('&', "\\u0026");
    assert_eq!(
        got.header("x-hook-signature"),
        Some(expected_signature("test-secret-key", escaped.as_bytes()))
    );
    assert_ne!(
        got.header("x-hook-signature"),
        Some(expected_signature("test-secret-key", &got.body))
    );

    let del = client()
        .delete(format!(
            "{}/_admin/records/Companies/{id}?user=alice@example.com",
            at.base_url()
        ))
        .send()
        .await
        .expect("delete");
    assert_eq!(del.status(), 204);
    let gone = rx
        .next(Duration::from_secs(5))
        .await
        .expect("delete callout");
    assert_eq!(
        (gone.json()["Action"].clone(), gone.json()["Fields"].clone()),
        (json!("Delete"), json!({}))
    );
    at.shutdown().await;
}

#[tokio::test]
async fn retries_every_30s_then_deactivates_after_25_failures() {
    let at = start().await;
    let mut rx = Receiver::start().await;
    let mut deact = Receiver::start().await;
    let hook = register(
        &at,
        &format!("{}/hook", rx.url),
        &format!("{}/deactivated", deact.url),
    )
    .await;
    seed(
        &at,
        "Companies",
        json!([{"id": 1, "companyName": "A", "companyType": 1, "ownerResourceID": 1,
            "phone": "555"}]),
    )
    .await;
    // 30 simulated seconds between attempts take 30 ms of real time.
    at.server.core().clock.set_factor(1000.0);
    let edit = |name: String| {
        client()
            .patch(format!("{}/_admin/records/Companies/1", at.base_url()))
            .json(&json!({"user": "alice@example.com", "fields": {"companyName": name}}))
            .send()
    };

    // Two failures, then success: the same callout arrives three times.
    rx.set_status(500);
    edit("B".into()).await.expect("edit");
    let first = rx.next(Duration::from_secs(5)).await.expect("attempt 1");
    let second = rx.next(Duration::from_secs(5)).await.expect("attempt 2");
    rx.set_status(200);
    let third = rx.next(Duration::from_secs(5)).await.expect("attempt 3");
    assert_eq!(first.body, second.body);
    assert_eq!(second.body, third.body);
    assert!(
        rx.next(Duration::from_millis(300)).await.is_none(),
        "delivered: no more attempts"
    );

    // Five events x five attempts fail: the webhook is deactivated and told so.
    rx.set_status(500);
    for i in 0..5 {
        edit(format!("C{i}")).await.expect("edit");
    }
    let attempts = rx.drain(Duration::from_millis(1500)).await;
    assert_eq!(attempts.len(), 25);
    let per_event: HashSet<String> = attempts
        .iter()
        .map(|a| a.json()["Fields"]["CompanyName"].to_string())
        .collect();
    assert_eq!(per_event.len(), 5, "each event tried 5 times, in order");
    let notice = deact
        .next(Duration::from_secs(5))
        .await
        .expect("deactivation notice");
    assert_eq!(notice.json()["Action"], "Deactivated");
    assert_eq!(
        notice.header("x-hook-signature"),
        Some(expected_signature("test-secret-key", &notice.body))
    );
    let (_, item) = call(
        &at,
        reqwest::Method::GET,
        &format!("/CompanyWebhooks/{hook}"),
        SYNC,
        Value::Null,
    )
    .await;
    assert_eq!(item["item"]["isActive"], false);
    edit("D".into()).await.expect("edit");
    assert!(
        rx.next(Duration::from_millis(300)).await.is_none(),
        "inactive webhooks send nothing"
    );
    at.shutdown().await;
}
