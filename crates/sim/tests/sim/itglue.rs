//! IT Glue simulator over real HTTP: auth, paging, filters, the 422 rule, the rate limit, faults
//! and workflow webhooks.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{json, Value};
use syncbridge_sim::itglue::{ItGlue, ItGlueConfig};

use crate::common::{client, Receiver};

const KEY: &str = "itg-test-key";

async fn start() -> ItGlue {
    ItGlue::start(ItGlueConfig::default()).await.expect("start")
}

async fn seed(itg: &ItGlue, collection: &str, records: Value) -> Value {
    let resp = client()
        .post(format!("{}/_admin/seed/{collection}", itg.base_url()))
        .json(&records)
        .send()
        .await
        .expect("seed");
    assert_eq!(resp.status(), 200);
    resp.json().await.expect("json")
}

async fn get(itg: &ItGlue, path: &str) -> reqwest::Response {
    client()
        .get(format!("{}{path}", itg.base_url()))
        .header("x-api-key", KEY)
        .send()
        .await
        .expect("get")
}

async fn get_json(itg: &ItGlue, path: &str) -> Value {
    let resp = get(itg, path).await;
    assert_eq!(resp.status(), 200, "{path}");
    resp.json().await.expect("json")
}

async fn base_lookups(itg: &ItGlue) {
    seed(
        itg,
        "organization_types",
        json!([{"id": 1, "name": "Customer"}]),
    )
    .await;
    seed(
        itg,
        "organization_statuses",
        json!([{"id": 1, "name": "Active"}]),
    )
    .await;
    seed(
        itg,
        "configuration_types",
        json!([{"id": 1, "name": "Server"}]),
    )
    .await;
}

#[tokio::test]
async fn wrong_or_missing_key_is_403() {
    let itg = start().await;
    let url = format!("{}/organizations", itg.base_url());
    let none = client().get(&url).send().await.expect("send");
    assert_eq!(none.status(), 403);
    let wrong = client()
        .get(&url)
        .header("x-api-key", "nope")
        .send()
        .await
        .expect("send");
    assert_eq!(wrong.status(), 403);
    let body: Value = wrong.json().await.expect("json");
    assert_eq!(body["errors"][0]["status"], "403");
    let ok = get(&itg, "/organizations").await;
    assert_eq!(ok.status(), 200);
    assert_eq!(
        ok.headers()["content-type"].to_str().ok(),
        Some("application/vnd.api+json")
    );
    itg.shutdown().await;
}

#[tokio::test]
async fn pages_2500_organizations_without_gaps() {
    let itg = start().await;
    let orgs: Vec<Value> = (0..2500)
        .map(|i| json!({"name": format!("Org {i:04}")}))
        .collect();
    seed(&itg, "organizations", Value::from(orgs)).await;

    let first = get_json(&itg, "/organizations").await;
    assert_eq!(
        first["data"].as_array().map(Vec::len),
        Some(50),
        "default page size"
    );
    assert_eq!(first["meta"]["total-count"], 2500);
    assert_eq!(first["meta"]["total-pages"], 50);

    let mut seen = HashSet::new();
    let mut page = 1;
    loop {
        let body = get_json(
            &itg,
            &format!("/organizations?page[size]=1000&page[number]={page}"),
        )
        .await;
        assert_eq!(body["meta"]["total-pages"], 3);
        for r in body["data"].as_array().expect("data") {
            assert_eq!(r["type"], "organizations");
            assert!(seen.insert(r["id"].as_str().expect("id").to_owned()));
        }
        if body["meta"]["next-page"].is_null() {
            assert!(body["links"]["next"].is_null());
            break;
        }
        page += 1;
    }
    assert_eq!((seen.len(), page), (2500, 3));

    let clamped = get_json(&itg, "/organizations?page[size]=5000").await;
    assert_eq!(clamped["data"].as_array().map(Vec::len), Some(1000));
    let bad = get(&itg, "/organizations?page[number]=0").await;
    assert_eq!(bad.status(), 400);
    itg.shutdown().await;
}

#[tokio::test]
async fn filters_are_exact_and_psa_filter_needs_type() {
    let itg = start().await;
    base_lookups(&itg).await;
    seed(
        &itg,
        "organizations",
        json!([
            {"id": 1, "name": "Acme", "organization-type-id": 1, "organization-status-id": 1},
            {"id": 2, "name": "acme"},
            {"id": 3, "name": "Acme ", "psa-integration": "manage", "_psa_id": "250"}
        ]),
    )
    .await;
    seed(
        &itg,
        "configurations",
        json!([
            {"name": "srv1", "organization-id": 1, "configuration-type-id": 1},
            {"name": "srv2", "organization-id": 2, "configuration-type-id": 1}
        ]),
    )
    .await;

    let by_name = get_json(&itg, "/organizations?filter[name]=Acme").await;
    let ids: Vec<&str> = by_name["data"]
        .as_array()
        .expect("d")
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert_eq!(ids, ["1"]);
    let attrs = &by_name["data"][0]["attributes"];
    assert_eq!(attrs["organization-type-name"], "Customer");
    assert_eq!(attrs["organization-status-name"], "Active");
    assert!(attrs["quick-notes"].is_null(), "unset attributes are null");

    let cfgs = get_json(&itg, "/configurations?filter[organization_id]=2").await;
    assert_eq!(cfgs["meta"]["total-count"], 1);
    assert_eq!(
        cfgs["data"][0]["attributes"]["configuration-type-name"],
        "Server"
    );
    let nested = get_json(&itg, "/organizations/1/relationships/configurations").await;
    assert_eq!(nested["data"][0]["attributes"]["name"], "srv1");

    assert_eq!(
        get(&itg, "/organizations?filter[psa_id]=250")
            .await
            .status(),
        400
    );
    let psa = get_json(
        &itg,
        "/organizations?filter[psa_id]=250&filter[psa_integration_type]=manage&include=adapters_resources",
    )
    .await;
    assert_eq!(psa["meta"]["total-count"], 1);
    assert_eq!(psa["included"][0]["attributes"]["remote-id"], "250");
    let wrong_kind = get_json(
        &itg,
        "/organizations?filter[psa_id]=250&filter[psa_integration_type]=autotask",
    )
    .await;
    assert_eq!(wrong_kind["meta"]["total-count"], 0);
    itg.shutdown().await;
}

#[tokio::test]
async fn updated_at_range_follows_the_sim_clock() {
    let itg = start().await;
    seed(
        &itg,
        "organizations",
        json!([{"id": 1, "name": "Old"}, {"id": 2, "name": "New"}]),
    )
    .await;
    let clock = &itg.server.core().clock;
    clock.advance(Duration::from_secs(3600));
    let cutoff = syncbridge_sim::clock::format_millis(clock.now_millis());
    clock.advance(Duration::from_secs(60));
    let patch = client()
        .patch(format!("{}/organizations/2", itg.base_url()))
        .header("x-api-key", KEY)
        .header("content-type", "application/vnd.api+json")
        .body(
            json!({"data": {"type": "organizations", "attributes": {"description": "x"}}})
                .to_string(),
        )
        .send()
        .await
        .expect("patch");
    assert_eq!(patch.status(), 200);
    let path = format!("/organizations?filter[updated_at]={cutoff},");
    let changed = get_json(&itg, &path).await;
    let ids: Vec<&str> = changed["data"]
        .as_array()
        .expect("d")
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert_eq!(ids, ["2"]);
    let bad = get(&itg, "/organizations?filter[updated_at]=yesterday").await;
    assert_eq!(bad.status(), 400);
    itg.shutdown().await;
}

async fn patch(itg: &ItGlue, path: &str, data: Value) -> reqwest::Response {
    client()
        .patch(format!("{}{path}", itg.base_url()))
        .header("x-api-key", KEY)
        .header("content-type", "application/vnd.api+json")
        .body(json!({ "data": data }).to_string())
        .send()
        .await
        .expect("patch")
}

#[tokio::test]
async fn managed_records_reject_non_whitelisted_patches_with_422() {
    let itg = start().await;
    base_lookups(&itg).await;
    seed(
        &itg,
        "organizations",
        json!([
            {"id": 1, "name": "Managed", "psa-integration": "manage", "_psa_id": "9"},
            {"id": 2, "name": "Ours"}
        ]),
    )
    .await;
    seed(&itg, "configurations", json!([
        {"id": 5, "name": "srv", "organization-id": 1, "configuration-type-id": 1, "psa-integration": "manage"}
    ]))
    .await;
    seed(
        &itg,
        "contacts",
        json!([{"id": 7, "first-name": "Ada", "organization-id": 1, "psa-integration": "manage"}]),
    )
    .await;

    let name = patch(
        &itg,
        "/organizations/1",
        json!({"type": "organizations", "attributes": {"name": "X"}}),
    )
    .await;
    assert_eq!(name.status(), 422);
    let notes = patch(
        &itg,
        "/organizations/1",
        json!({"type": "organizations", "attributes": {"quick_notes": "ok"}}),
    )
    .await;
    assert_eq!(notes.status(), 200);
    let serial = patch(
        &itg,
        "/configurations/5",
        json!({"type": "configurations", "attributes": {"serial-number": "S1"}}),
    )
    .await;
    assert_eq!(serial.status(), 200);
    let rel = patch(
        &itg,
        "/configurations/5",
        json!({"type": "configurations", "attributes": {"notes": "n"},
        "relationships": {"contact": {"data": {"type": "contacts", "id": "7"}}}}),
    )
    .await;
    assert_eq!(rel.status(), 422);
    let contact = patch(
        &itg,
        "/contacts/7",
        json!({"type": "contacts", "attributes": {"title": "CTO"}}),
    )
    .await;
    assert_eq!(contact.status(), 422);
    let ours = patch(
        &itg,
        "/organizations/2",
        json!({"type": "organizations", "attributes": {"name": "Ours 2"}}),
    )
    .await;
    assert_eq!(ours.status(), 200);
    let body: Value = ours.json().await.expect("json");
    assert_eq!(body["data"]["attributes"]["name"], "Ours 2");
    itg.shutdown().await;
}

#[tokio::test]
async fn creates_validate_and_the_write_log_counts_per_record() {
    let itg = start().await;
    base_lookups(&itg).await;
    let post = |path: &str, data: Value| {
        client()
            .post(format!("{}{path}", itg.base_url()))
            .header("x-api-key", KEY)
            .header("content-type", "application/vnd.api+json")
            .body(json!({ "data": data }).to_string())
            .send()
    };
    let org = post(
        "/organizations",
        json!({"type": "organizations", "attributes": {"name": "Acme"}}),
    )
    .await
    .expect("post");
    assert_eq!(org.status(), 201);
    let org: Value = org.json().await.expect("json");
    let org_id = org["data"]["id"].as_str().expect("id").to_owned();
    let bad = post(
        "/configurations",
        json!({"type": "configurations", "attributes": {"name": "x", "organization-id": 999}}),
    )
    .await
    .expect("post");
    assert_eq!(bad.status(), 422);
    let no_type = post(
        "/configurations",
        json!({"type": "configurations", "attributes": {"name": "x", "organization-id": org_id}}),
    )
    .await
    .expect("post");
    assert_eq!(no_type.status(), 422);
    let nested = post(
        &format!("/organizations/{org_id}/relationships/contacts"),
        json!({"type": "contacts", "attributes": {"first-name": "Ada", "last-name": "Lovelace"}}),
    )
    .await
    .expect("post");
    assert_eq!(nested.status(), 201);
    let bad_json = client()
        .post(format!("{}/organizations", itg.base_url()))
        .header("x-api-key", KEY)
        .body("{not json")
        .send()
        .await
        .expect("post");
    assert_eq!(bad_json.status(), 400);

    // Same value twice: the second write is logged as a no-op (an echo candidate).
    for _ in 0..2 {
        let r = patch(
            &itg,
            &format!("/organizations/{org_id}"),
            json!({"type": "organizations", "attributes": {"short-name": "acme"}}),
        )
        .await;
        assert_eq!(r.status(), 200);
    }
    let count: Value = client()
        .get(format!(
            "{}/_admin/writes/count?collection=organizations&id={org_id}",
            itg.base_url()
        ))
        .send()
        .await
        .expect("count")
        .json()
        .await
        .expect("json");
    assert_eq!(count, json!({"count": 3, "no_op": 1}));
    let writes: Value = client()
        .get(format!(
            "{}/_admin/writes?collection=organizations",
            itg.base_url()
        ))
        .send()
        .await
        .expect("writes")
        .json()
        .await
        .expect("json");
    assert_eq!(writes[0]["user"], "syncbridge");
    assert_eq!(writes[0]["action"], "create");
    let state: Value = client()
        .get(format!("{}/_admin/state/organizations", itg.base_url()))
        .send()
        .await
        .expect("state")
        .json()
        .await
        .expect("json");
    assert_eq!(state[0]["_meta"]["source"], "api");
    itg.shutdown().await;
}

#[tokio::test]
async fn rate_limit_is_3000_per_5_minutes_on_the_sim_clock() {
    let itg = start().await;
    let c = client();
    let url = format!("{}/organizations?page[size]=1", itg.base_url());
    let mut handles = Vec::new();
    for _ in 0..8 {
        let (c, url) = (c.clone(), url.clone());
        handles.push(tokio::spawn(async move {
            for _ in 0..375 {
                let r = c
                    .get(&url)
                    .header("x-api-key", KEY)
                    .send()
                    .await
                    .expect("send");
                assert_eq!(r.status(), 200);
            }
        }));
    }
    for h in handles {
        h.await.expect("join");
    }
    let limited = get(&itg, "/organizations").await;
    assert_eq!(limited.status(), 429);
    let retry: u64 = limited.headers()["retry-after"]
        .to_str()
        .expect("s")
        .parse()
        .expect("n");
    assert!((1..=300).contains(&retry), "{retry}");
    // Five simulated minutes later the window has room again.
    let advanced = c
        .post(format!("{}/_admin/clock/advance", itg.base_url()))
        .json(&json!({"seconds": 300}))
        .send()
        .await
        .expect("advance");
    assert_eq!(advanced.status(), 200);
    assert_eq!(get(&itg, "/organizations").await.status(), 200);
    itg.shutdown().await;
}

#[tokio::test]
async fn injected_faults_status_timeout_and_commit_then_timeout() {
    let itg = start().await;
    let c = client();
    let plan = json!({"seed": 3, "rules": [
        {"method": "GET", "path_contains": "/organizations", "fault": {"kind": "status", "status": 503, "retry_after_secs": 7}, "times": 1},
        {"method": "GET", "path_contains": "/contacts", "fault": {"kind": "timeout", "hang_ms": 5000}, "times": 1},
        {"method": "POST", "path_contains": "/organizations", "fault": {"kind": "commit_then_timeout", "hang_ms": 5000}, "times": 1}
    ]});
    let put = c
        .put(format!("{}/_admin/faults", itg.base_url()))
        .json(&plan)
        .send()
        .await
        .expect("put");
    assert_eq!(put.status(), 204);

    let r = get(&itg, "/organizations").await;
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "7");
    assert_eq!(get(&itg, "/organizations").await.status(), 200, "times: 1");

    let hung = c
        .get(format!("{}/contacts", itg.base_url()))
        .header("x-api-key", KEY)
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(hung.is_err_and(|e| e.is_timeout()));

    let lost = c
        .post(format!("{}/organizations", itg.base_url()))
        .header("x-api-key", KEY)
        .header("content-type", "application/vnd.api+json")
        .body(
            json!({"data": {"type": "organizations", "attributes": {"name": "Ghost"}}}).to_string(),
        )
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(lost.is_err_and(|e| e.is_timeout()));
    let found = get_json(&itg, "/organizations?filter[name]=Ghost").await;
    assert_eq!(found["meta"]["total-count"], 1, "the create was committed");
    itg.shutdown().await;
}

#[tokio::test]
async fn workflow_webhooks_only_for_workflow_triggers() {
    let itg = start().await;
    let mut rx = Receiver::start().await;
    let c = client();
    let wf = json!({"name": "docs", "trigger": "document",
        "url": format!("{}/webhooks/acme/itglue/s3cr3t", rx.url),
        "template": "{\"event\":\"[trigger_name]\",\"resource_url\":\"[resource_url]\"}"});
    let r = c
        .post(format!("{}/_admin/workflows", itg.base_url()))
        .json(&wf)
        .send()
        .await
        .expect("wf");
    assert_eq!(r.status(), 200);
    let no_org_trigger =
        json!({"name": "x", "trigger": "organization_updated", "url": rx.url, "template": "{}"});
    let r = c
        .post(format!("{}/_admin/workflows", itg.base_url()))
        .json(&no_org_trigger)
        .send()
        .await
        .expect("wf");
    assert_eq!(r.status(), 400);

    let fire = json!({"trigger": "document", "tags": {"resource_url": "https://acme.itglue.com/1/docs/42"}});
    let r = c
        .post(format!("{}/_admin/workflows/fire", itg.base_url()))
        .json(&fire)
        .send()
        .await
        .expect("fire");
    assert_eq!(r.status(), 200);
    let got = rx.next(Duration::from_secs(5)).await.expect("delivered");
    assert_eq!(got.path, "/webhooks/acme/itglue/s3cr3t");
    assert_eq!(
        got.json(),
        json!({"event": "document", "resource_url": "https://acme.itglue.com/1/docs/42"})
    );

    // An edit of an organization sends nothing: IT Glue has no such webhook.
    seed(&itg, "organizations", json!([{"id": 1, "name": "A"}])).await;
    let r = c
        .patch(format!("{}/_admin/records/organizations/1", itg.base_url()))
        .json(&json!({"user": "alice", "fields": {"name": "B"}}))
        .send()
        .await
        .expect("edit");
    assert_eq!(r.status(), 200);
    assert!(rx.next(Duration::from_millis(300)).await.is_none());
    itg.shutdown().await;
}

#[tokio::test]
async fn bulk_patch_is_all_or_nothing() {
    let itg = start().await;
    seed(
        &itg,
        "organizations",
        json!([
            {"id": 1, "name": "A"},
            {"id": 2, "name": "B"},
            {"id": 3, "name": "Managed", "psa-integration": "autotask"}
        ]),
    )
    .await;
    let bulk = |items: Value| {
        client()
            .patch(format!("{}/organizations", itg.base_url()))
            .header("x-api-key", KEY)
            .header("content-type", "application/vnd.api+json")
            .body(json!({ "data": items }).to_string())
            .send()
    };
    let refused = bulk(json!([
        {"type": "organizations", "attributes": {"id": 1, "description": "x"}},
        {"type": "organizations", "attributes": {"id": 3, "name": "Renamed"}}
    ]))
    .await
    .expect("bulk");
    assert_eq!(refused.status(), 422);
    let a = get_json(&itg, "/organizations/1").await;
    assert!(
        a["data"]["attributes"]["description"].is_null(),
        "nothing applied"
    );

    let ok = bulk(json!([
        {"type": "organizations", "attributes": {"id": 1, "description": "x"}},
        {"type": "organizations", "attributes": {"id": 2, "description": "y"}}
    ]))
    .await
    .expect("bulk");
    assert_eq!(ok.status(), 200);
    let body: Value = ok.json().await.expect("json");
    assert_eq!(body["data"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        get_json(&itg, "/organizations/2").await["data"]["attributes"]["description"],
        "y"
    );
    let no_id = bulk(json!([{"type": "organizations", "attributes": {"description": "z"}}]))
        .await
        .expect("bulk");
    assert_eq!(no_id.status(), 400);
    itg.shutdown().await;
}
