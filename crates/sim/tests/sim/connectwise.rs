//! ConnectWise simulator over real HTTP: auth, paging (page and forward-only pageId), conditions,
//! JSON-Patch, sites, and signed callbacks with self-suppression and delivery faults.

use std::collections::HashSet;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use syncbridge_sim::connectwise::{ConnectWise, ConnectWiseConfig};

use crate::common::{client, Receiver};

const SYNC: (&str, &str) = ("cw-public", "cw-private");
const ALICE: (&str, &str) = ("alice-public", "alice-private");

async fn start() -> ConnectWise {
    ConnectWise::start(ConnectWiseConfig::default())
        .await
        .expect("start")
}

fn basic(company: &str, (public, private): (&str, &str)) -> String {
    format!(
        "Basic {}",
        B64.encode(format!("{company}+{public}:{private}"))
    )
}

fn req(
    cw: &ConnectWise,
    method: reqwest::Method,
    path: &str,
    who: (&str, &str),
) -> reqwest::RequestBuilder {
    client()
        .request(method, format!("{}{path}", cw.api_url()))
        .header("authorization", basic("acme", who))
        .header("clientId", "test-client-id")
}

async fn seed(cw: &ConnectWise, collection: &str, records: Value) -> Value {
    let resp = client()
        .post(format!("{}/_admin/seed/{collection}", cw.base_url()))
        .json(&records)
        .send()
        .await
        .expect("seed");
    assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
    Value::Null
}

async fn lookups(cw: &ConnectWise) {
    seed(
        cw,
        "company_statuses",
        json!([{"id": 1, "name": "Active"}, {"id": 2, "name": "Inactive"}]),
    )
    .await;
    seed(cw, "company_types", json!([{"id": 1, "name": "Client"}])).await;
    seed(
        cw,
        "configuration_types",
        json!([{"id": 1, "name": "Server"}]),
    )
    .await;
}

#[tokio::test]
async fn auth_requires_basic_credentials_and_client_id() {
    let cw = start().await;
    let url = format!("{}/company/companies", cw.api_url());
    let c = client();
    let none = c
        .get(&url)
        .header("clientId", "test-client-id")
        .send()
        .await
        .expect("send");
    assert_eq!(none.status(), 401);
    let no_client = c
        .get(&url)
        .header("authorization", basic("acme", SYNC))
        .send()
        .await
        .expect("send");
    assert_eq!(no_client.status(), 401);
    let wrong_key = c
        .get(&url)
        .header("authorization", basic("acme", ("cw-public", "nope")))
        .header("clientId", "test-client-id")
        .send()
        .await
        .expect("send");
    assert_eq!(wrong_key.status(), 401);
    let body: Value = wrong_key.json().await.expect("json");
    assert_eq!(body["code"], "Unauthorized");
    let wrong_company = c
        .get(&url)
        .header("authorization", basic("other", SYNC))
        .header("clientId", "test-client-id")
        .send()
        .await
        .expect("send");
    assert_eq!(wrong_company.status(), 401);
    let ok = req(&cw, reqwest::Method::GET, "/company/companies", SYNC)
        .send()
        .await
        .expect("send");
    assert_eq!(ok.status(), 200);
    cw.shutdown().await;
}

fn next_link(resp: &reqwest::Response) -> Option<String> {
    let link = resp.headers().get("link")?.to_str().ok()?;
    link.split(", ")
        .find(|p| p.ends_with("rel=\"next\""))
        .map(|p| {
            p.trim_start_matches('<')
                .split('>')
                .next()
                .unwrap_or("")
                .to_owned()
        })
}

#[tokio::test]
async fn pages_2500_companies_by_page_and_by_page_id() {
    let cw = start().await;
    let companies: Vec<Value> = (0..2500)
        .map(|i| json!({"name": format!("Company {i:04}"), "identifier": format!("C{i}"), "city": "Springfield"}))
        .collect();
    seed(&cw, "companies", Value::from(companies)).await;

    let default = req(&cw, reqwest::Method::GET, "/company/companies", SYNC)
        .send()
        .await
        .expect("send");
    let rows: Vec<Value> = default.json().await.expect("json");
    assert_eq!(rows.len(), 25, "default pageSize");

    // Page-number paging following the Link header.
    let mut url = Some(format!("{}/company/companies?pageSize=1000", cw.api_url()));
    let mut seen = HashSet::new();
    let mut pages = 0;
    while let Some(u) = url {
        let resp = client()
            .get(&u)
            .header("authorization", basic("acme", SYNC))
            .header("clientId", "test-client-id")
            .send()
            .await
            .expect("send");
        url = next_link(&resp);
        let rows: Vec<Value> = resp.json().await.expect("json");
        assert!(rows.len() <= 1000);
        for r in rows {
            assert!(seen.insert(r["id"].as_u64().expect("id")));
        }
        pages += 1;
    }
    assert_eq!((seen.len(), pages), (2500, 3));

    // Forward-only: pageId = last id seen.
    let mut seen = HashSet::new();
    let mut last = 0;
    loop {
        let resp = req(
            &cw,
            reqwest::Method::GET,
            &format!("/company/companies?pageSize=1000&pageId={last}"),
            SYNC,
        )
        .send()
        .await
        .expect("send");
        let more = next_link(&resp);
        let rows: Vec<Value> = resp.json().await.expect("json");
        for r in &rows {
            assert!(seen.insert(r["id"].as_u64().expect("id")));
        }
        last = rows.last().and_then(|r| r["id"].as_u64()).unwrap_or(last);
        match more {
            Some(link) => assert!(link.contains(&format!("pageId={last}")), "{link}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 2500);

    let clamped = req(
        &cw,
        reqwest::Method::GET,
        "/company/companies?pageSize=5000",
        SYNC,
    )
    .send()
    .await
    .expect("send");
    assert_eq!(
        clamped.json::<Vec<Value>>().await.expect("json").len(),
        1000
    );
    let count = req(&cw, reqwest::Method::GET, "/company/companies/count", SYNC)
        .send()
        .await
        .expect("send");
    assert_eq!(
        count.json::<Value>().await.expect("json"),
        json!({"count": 2500})
    );
    cw.shutdown().await;
}

#[tokio::test]
async fn conditions_name_and_last_updated() {
    let cw = start().await;
    lookups(&cw).await;
    seed(
        &cw,
        "companies",
        json!([
            {"id": 1, "name": "Acme", "identifier": "Acme", "city": "Springfield", "status": {"id": 1}},
            {"id": 2, "name": "Other", "identifier": "Other", "city": "Springfield", "status": {"id": 1}}
        ]),
    )
    .await;
    let clock = &cw.server.core().clock;
    clock.advance(Duration::from_secs(10));
    let since = syncbridge_sim::clock::format_seconds(clock.now_millis());
    clock.advance(Duration::from_secs(10));
    let patched = req(&cw, reqwest::Method::PATCH, "/company/companies/2", SYNC)
        .json(&json!([{"op": "replace", "path": "status/id", "value": 2}]))
        .send()
        .await
        .expect("patch");
    assert_eq!(patched.status(), 200);
    let body: Value = patched.json().await.expect("json");
    assert_eq!(body["status"], json!({"id": 2, "name": "Inactive"}));
    assert_eq!(body["_info"]["updatedBy"], "syncbridge");

    let by_name: Vec<Value> = req(&cw, reqwest::Method::GET, "/company/companies", SYNC)
        .query(&[("conditions", r#"name = "Acme""#)])
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(by_name.len(), 1);
    assert_eq!(by_name[0]["status"]["name"], "Active");
    let changed: Vec<Value> = req(&cw, reqwest::Method::GET, "/company/companies", SYNC)
        .query(&[("conditions", format!("lastUpdated > [{since}]"))])
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(
        changed.iter().map(|r| r["id"].clone()).collect::<Vec<_>>(),
        [json!(2)]
    );
    let bad = req(&cw, reqwest::Method::GET, "/company/companies", SYNC)
        .query(&[("conditions", "name = ")])
        .send()
        .await
        .expect("send");
    assert_eq!(bad.status(), 400);
    cw.shutdown().await;
}

#[tokio::test]
async fn creates_validate_and_sites_live_under_companies() {
    let cw = start().await;
    lookups(&cw).await;
    let no_ident = req(&cw, reqwest::Method::POST, "/company/companies", SYNC)
        .json(&json!({"name": "Acme"}))
        .send()
        .await
        .expect("send");
    assert_eq!(no_ident.status(), 400);
    let created = req(&cw, reqwest::Method::POST, "/company/companies", SYNC)
        .json(&json!({"name": "Acme", "identifier": "Acme", "city": "Springfield", "status": {"id": 1}, "types": [{"id": 1}]}))
        .send()
        .await
        .expect("send");
    assert_eq!(created.status(), 201);
    let company: Value = created.json().await.expect("json");
    assert_eq!(company["types"][0]["name"], "Client");
    let id = company["id"].as_u64().expect("id");
    let dup = req(&cw, reqwest::Method::POST, "/company/companies", SYNC)
        .json(&json!({"name": "Acme 2", "identifier": "acme", "city": "Springfield"}))
        .send()
        .await
        .expect("send");
    assert_eq!(dup.status(), 400, "identifiers are unique");
    let bad_ref = req(&cw, reqwest::Method::POST, "/company/configurations", SYNC)
        .json(&json!({"name": "srv", "type": {"id": 99}, "company": {"id": id}}))
        .send()
        .await
        .expect("send");
    assert_eq!(bad_ref.status(), 400);
    let cfg = req(&cw, reqwest::Method::POST, "/company/configurations", SYNC)
        .json(
            &json!({"name": "srv", "type": {"id": 1}, "company": {"id": id}, "serialNumber": "S1"}),
        )
        .send()
        .await
        .expect("send");
    assert_eq!(cfg.status(), 201);
    let cfg: Value = cfg.json().await.expect("json");
    assert_eq!(cfg["company"]["identifier"], "Acme");

    let site = req(
        &cw,
        reqwest::Method::POST,
        &format!("/company/companies/{id}/sites"),
        SYNC,
    )
    .json(&json!({"name": "Main", "addressLine1": "1 Main St", "city": "Oslo"}))
    .send()
    .await
    .expect("send");
    assert_eq!(site.status(), 201);
    let site: Value = site.json().await.expect("json");
    let sites: Vec<Value> = req(
        &cw,
        reqwest::Method::GET,
        &format!("/company/companies/{id}/sites"),
        SYNC,
    )
    .send()
    .await
    .expect("send")
    .json()
    .await
    .expect("json");
    assert_eq!(sites.len(), 1);
    let other = req(
        &cw,
        reqwest::Method::GET,
        &format!("/company/companies/999/sites/{}", site["id"]),
        SYNC,
    )
    .send()
    .await
    .expect("send");
    assert_eq!(other.status(), 404);
    let not_patch = req(
        &cw,
        reqwest::Method::PATCH,
        &format!("/company/companies/{id}"),
        SYNC,
    )
    .json(&json!({"name": "x"}))
    .send()
    .await
    .expect("send");
    assert_eq!(not_patch.status(), 400, "PATCH takes a JSON-Patch array");
    cw.shutdown().await;
}

/// The signature a receiver computes: base64(HMAC-SHA256(SHA-256(key), body)).
fn expected_signature(key: &str, body: &[u8]) -> String {
    let k = Sha256::digest(key.as_bytes());
    let mut mac = Hmac::<Sha256>::new_from_slice(&k).expect("key");
    mac.update(body);
    B64.encode(mac.finalize().into_bytes())
}

#[test]
fn derived_vector_of_webhooks_md_1_6() {
    let body = br#"{"ProductInstanceId":"instance-1","Type":"ticket","ID":123,"Metadata":{"key_url":"https://api-na.myconnectwise.net/v4_6_release/system/callbackkey/index.rails?id=test"}}"#;
    assert_eq!(
        expected_signature("test-signing-key", body),
        "Npzr+jGnIkoiCIYBpg0euaup9wJC89yWJBlgfSEvYHs="
    );
    assert_eq!(
        syncbridge_sim::connectwise::sign("test-signing-key", body),
        expected_signature("test-signing-key", body)
    );
}

async fn register(
    cw: &ConnectWise,
    who: (&str, &str),
    url: &str,
    kind: &str,
    suppressed: bool,
) -> Value {
    let resp = req(cw, reqwest::Method::POST, "/system/callbacks", who)
        .json(
            &json!({"id": 0, "url": url, "objectId": 0, "type": kind, "level": "owner",
            "payloadVersion": "3.0.0", "inactiveFlag": false, "isSelfSuppressedFlag": suppressed}),
        )
        .send()
        .await
        .expect("register");
    assert_eq!(resp.status(), 201);
    resp.json().await.expect("json")
}

#[tokio::test]
async fn callbacks_are_signed_carry_entity_strings_and_honour_self_suppression() {
    let cw = start().await;
    lookups(&cw).await;
    let mut rx = Receiver::start().await;
    let reg = register(
        &cw,
        SYNC,
        &format!("{}/webhooks/acme/connectwise?recordId=", rx.url),
        "company",
        true,
    )
    .await;
    assert_eq!(reg["memberId"], 243);
    assert!(!reg["connectWiseID"].as_str().unwrap_or("").is_empty());

    // A person (alice) creates a company: one callback.
    let created: Value = req(&cw, reqwest::Method::POST, "/company/companies", ALICE)
        .json(&json!({"name": "Acme", "identifier": "Acme", "city": "Springfield", "status": {"id": 1}}))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    let id = created["id"].as_u64().expect("id");
    let got = rx.next(Duration::from_secs(5)).await.expect("callback");
    assert_eq!(
        got.path,
        format!("/webhooks/acme/connectwise?recordId={id}")
    );
    let payload = got.json();
    assert_eq!(payload["Action"], "added");
    assert_eq!(payload["Type"], "company");
    assert_eq!(payload["ID"], id);
    assert_eq!(payload["MemberId"], "alice");
    assert_eq!(payload["CompanyId"], "acme");
    assert_eq!(payload["CallbackObjectRecId"], reg["id"]);
    let entity: Value =
        serde_json::from_str(payload["Entity"].as_str().expect("Entity is a JSON string"))
            .expect("entity json");
    assert_eq!(entity["name"], "Acme");
    assert!(entity["_info"]["lastUpdated"].is_string());

    // The signature verifies with the key fetched from key_url.
    // The reference's real shape (webhooks.md §1.2): codebase, double slash, companyName, id.
    let key_url = payload["Metadata"]["key_url"].as_str().expect("key_url");
    let shape = format!(
        "{}/v2025_1//system/callbackkey/index.rails?companyName=acme&id=",
        cw.base_url()
    );
    assert!(key_url.starts_with(&shape), "{key_url}");
    let key: Value = client()
        .get(key_url)
        .send()
        .await
        .expect("key")
        .json()
        .await
        .expect("json");
    let signing_key = key["signing_key"].as_str().expect("signing_key");
    assert_eq!(
        got.header("x-content-signature"),
        Some(expected_signature(signing_key, &got.body))
    );

    // The registering member's own write is suppressed; alice's is not.
    let own = req(
        &cw,
        reqwest::Method::PATCH,
        &format!("/company/companies/{id}"),
        SYNC,
    )
    .json(&json!([{"op": "replace", "path": "name", "value": "Acme Inc"}]))
    .send()
    .await
    .expect("patch");
    assert_eq!(own.status(), 200);
    assert!(
        rx.next(Duration::from_millis(400)).await.is_none(),
        "self-suppressed"
    );
    let theirs = req(
        &cw,
        reqwest::Method::PATCH,
        &format!("/company/companies/{id}"),
        ALICE,
    )
    .json(&json!([{"op": "replace", "path": "name", "value": "Acme Ltd"}]))
    .send()
    .await
    .expect("patch");
    assert_eq!(theirs.status(), 200);
    let upd = rx
        .next(Duration::from_secs(5))
        .await
        .expect("update callback");
    assert_eq!(upd.json()["Action"], "updated");

    // Sites send nothing; deletes send Entity null.
    let site = req(
        &cw,
        reqwest::Method::POST,
        &format!("/company/companies/{id}/sites"),
        ALICE,
    )
    .json(&json!({"name": "Main"}))
    .send()
    .await
    .expect("site");
    assert_eq!(site.status(), 201);
    assert!(
        rx.next(Duration::from_millis(400)).await.is_none(),
        "no site callbacks"
    );
    let del = client()
        .delete(format!(
            "{}/_admin/records/companies/{id}?user=alice",
            cw.base_url()
        ))
        .send()
        .await
        .expect("delete");
    assert_eq!(del.status(), 204);
    let gone = rx
        .next(Duration::from_secs(5))
        .await
        .expect("delete callback");
    assert_eq!(gone.json()["Action"], "deleted");
    assert!(gone.json()["Entity"].is_null());
    cw.shutdown().await;
}

#[tokio::test]
async fn delivery_faults_drop_duplicate_and_reorder() {
    let cw = start().await;
    let mut rx = Receiver::start().await;
    register(&cw, SYNC, &format!("{}/cb?id=", rx.url), "company", false).await;
    seed(
        &cw,
        "companies",
        json!([{"id": 1, "name": "A", "identifier": "A", "city": "Springfield"}]),
    )
    .await;
    let set_plan = |delivery: Value| {
        client()
            .put(format!("{}/_admin/faults", cw.base_url()))
            .json(&json!({"seed": 9, "delivery": delivery}))
            .send()
    };
    let edit = |name: &'static str| {
        client()
            .patch(format!("{}/_admin/records/companies/1", cw.base_url()))
            .json(&json!({"user": "alice", "fields": {"name": name}}))
            .send()
    };

    set_plan(json!({"drop": 1.0})).await.expect("plan");
    edit("B").await.expect("edit");
    assert!(
        rx.next(Duration::from_millis(400)).await.is_none(),
        "dropped"
    );

    set_plan(json!({"duplicate": 1.0})).await.expect("plan");
    edit("C").await.expect("edit");
    let a = rx.next(Duration::from_secs(5)).await.expect("first");
    let b = rx.next(Duration::from_secs(5)).await.expect("duplicate");
    assert_eq!(a.body, b.body, "same MessageId: a true duplicate");

    set_plan(json!({"reorder": 1.0, "reorder_hold_ms": 10000}))
        .await
        .expect("plan");
    edit("D").await.expect("edit");
    edit("E").await.expect("edit");
    let first = rx.next(Duration::from_secs(5)).await.expect("first");
    let second = rx.next(Duration::from_secs(5)).await.expect("second");
    let name = |r: &crate::common::Received| {
        serde_json::from_str::<Value>(r.json()["Entity"].as_str().unwrap_or("null"))
            .unwrap_or(Value::Null)["name"]
            .clone()
    };
    assert_eq!((name(&first), name(&second)), (json!("E"), json!("D")));

    let deliveries: Value = client()
        .get(format!("{}/_admin/deliveries", cw.base_url()))
        .send()
        .await
        .expect("deliveries")
        .json()
        .await
        .expect("json");
    let outcomes: Vec<&str> = deliveries
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|d| d["outcome"].as_str())
        .collect();
    assert_eq!(
        outcomes,
        ["dropped (fault)", "sent", "sent", "sent", "sent"]
    );
    let log: Value = client()
        .get(format!(
            "{}/_admin/writes/count?collection=companies&id=1&user=alice",
            cw.base_url()
        ))
        .send()
        .await
        .expect("count")
        .json()
        .await
        .expect("json");
    assert_eq!(log["count"], 4);
    cw.shutdown().await;
}
