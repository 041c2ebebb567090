//! Kaseya BMS / Pulseway PSA simulator over real HTTP: token auth, envelope, paging, the
//! modified-since filter (accounts and contacts only), JSON-Patch, per-endpoint limits.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{json, Value};
use syncbridge_sim::kaseya_bms::{BmsConfig, KaseyaBms};

use crate::common::client;

async fn token(bms: &KaseyaBms, user: &str, password: &str) -> reqwest::Response {
    client()
        .post(format!("{}/v2/security/authenticate", bms.base_url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grantType=password&userName={user}&password={password}&tenant=acme"
        ))
        .send()
        .await
        .expect("auth")
}

async fn login(bms: &KaseyaBms) -> String {
    let body: Value = token(bms, "syncbridge", "bms-password")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(body["success"], true);
    body["result"]["accessToken"]
        .as_str()
        .expect("token")
        .to_owned()
}

async fn call(
    bms: &KaseyaBms,
    tok: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut r = client()
        .request(method, format!("{}{path}", bms.base_url()))
        .bearer_auth(tok);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let resp = r.send().await.expect("send");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn seed(bms: &KaseyaBms, collection: &str, records: Value) {
    let r = client()
        .post(format!("{}/_admin/seed/{collection}", bms.base_url()))
        .json(&records)
        .send()
        .await
        .expect("seed");
    assert_eq!(r.status(), 200);
}

fn account(i: usize) -> Value {
    json!({"AccountName": format!("Account {i:04}"), "AccountTypeId": 1, "BusinessTypeId": 1,
        "AccountManagerId": 7, "Locations": [{"LocationName": "Main", "IsMain": true, "IsActive": true,
        "Addresses": [{"Address1": "1 Main St", "City": "Austin", "State": "TX"}]}]})
}

#[tokio::test]
async fn token_auth_expiry_and_refresh() {
    let bms = KaseyaBms::start(BmsConfig::default()).await.expect("start");
    assert_eq!(token(&bms, "syncbridge", "wrong").await.status(), 401);
    let none = client()
        .get(format!("{}/v2/crm/accounts/summary", bms.base_url()))
        .send()
        .await
        .expect("send");
    assert_eq!(none.status(), 401);
    let body: Value = token(&bms, "syncbridge", "bms-password")
        .await
        .json()
        .await
        .expect("json");
    let tok = body["result"]["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();
    let (status, list) = call(
        &bms,
        &tok,
        reqwest::Method::GET,
        "/v2/crm/accounts/summary",
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        list,
        json!({"success": true, "error": null, "result": [], "totalRecords": 0})
    );

    bms.server.core().clock.advance(Duration::from_secs(3601));
    let (expired, _) = call(
        &bms,
        &tok,
        reqwest::Method::GET,
        "/v2/crm/accounts/summary",
        None,
    )
    .await;
    assert_eq!(expired, 401);
    let refreshed: Value = client()
        .post(format!("{}/v2/security/refreshtoken", bms.base_url()))
        .json(&json!({"AccessToken": tok, "RefreshToken": body["result"]["refreshToken"]}))
        .send()
        .await
        .expect("refresh")
        .json()
        .await
        .expect("json");
    let fresh = refreshed["result"]["accessToken"].as_str().expect("token");
    assert_eq!(
        call(
            &bms,
            fresh,
            reqwest::Method::GET,
            "/v2/crm/accounts/summary",
            None
        )
        .await
        .0,
        200
    );
    bms.shutdown().await;
}

#[tokio::test]
async fn pages_2500_accounts_and_filters_modified_since() {
    let bms = KaseyaBms::start(BmsConfig::default()).await.expect("start");
    seed(&bms, "accounttypes", json!([{"id": 1, "name": "Client"}])).await;
    seed(
        &bms,
        "accounts",
        Value::from((0..2500).map(account).collect::<Vec<_>>()),
    )
    .await;
    let tok = login(&bms).await;
    let mut seen = HashSet::new();
    // A PageSize over the cap is served as pages of 100 (the stricter reading of an unpublished
    // maximum): 25 pages.
    for page in 1..=25 {
        let (_, body) = call(
            &bms,
            &tok,
            reqwest::Method::GET,
            &format!("/v2/crm/accounts/summary?PageSize=1000&PageNumber={page}"),
            None,
        )
        .await;
        assert_eq!(body["totalRecords"], 2500);
        let rows = body["result"].as_array().expect("result");
        assert_eq!(rows.len(), 100);
        for r in rows {
            assert!(seen.insert(r["id"].as_u64().expect("id")));
            assert!(r["locations"].is_null(), "lists embed no locations");
        }
    }
    assert_eq!(seen.len(), 2500);
    let (_, first) = call(
        &bms,
        &tok,
        reqwest::Method::GET,
        "/v2/crm/accounts/summary/1",
        None,
    )
    .await;
    assert_eq!(first["result"]["accountType"], "Client");
    assert_eq!(first["result"]["locations"][0]["locationName"], "Main");

    let clock = &bms.server.core().clock;
    clock.advance(Duration::from_secs(60));
    let since = syncbridge_sim::clock::format_seconds(clock.now_millis());
    clock.advance(Duration::from_secs(60));
    let (status, patched) = call(
        &bms,
        &tok,
        reqwest::Method::PATCH,
        "/v2/crm/accounts/7",
        Some(json!([{"op": "replace", "path": "/AccountName", "value": "Renamed"}])),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(patched["result"]["accountName"], "Renamed");
    assert_eq!(patched["result"]["modifiedBy"], "syncbridge");
    let (_, changed) = call(
        &bms,
        &tok,
        reqwest::Method::GET,
        &format!("/v2/crm/accounts/summary?Filter.ModifiedOnFrom={since}"),
        None,
    )
    .await;
    assert_eq!(changed["totalRecords"], 1);
    let (_, by_name) = call(
        &bms,
        &tok,
        reqwest::Method::GET,
        "/v2/crm/accounts/summary?Filter.AccountName=renamed",
        None,
    )
    .await;
    assert_eq!(by_name["result"][0]["id"], 7);
    bms.shutdown().await;
}

#[tokio::test]
async fn writes_validate_inside_the_envelope() {
    let bms = KaseyaBms::start(BmsConfig::default()).await.expect("start");
    let tok = login(&bms).await;
    let (status, no_loc) = call(&bms, &tok, reqwest::Method::POST, "/v2/crm/accounts",
        Some(json!({"AccountName": "A", "AccountTypeId": 1, "BusinessTypeId": 1, "AccountManagerId": 7}))).await;
    assert_eq!(
        (status, no_loc["success"].clone()),
        (200, json!(false)),
        "business errors are 200 + success:false"
    );
    let (_, acct) = call(
        &bms,
        &tok,
        reqwest::Method::POST,
        "/v2/crm/accounts",
        Some(account(1)),
    )
    .await;
    assert_eq!(acct["success"], true);
    let id = acct["result"]["id"].as_u64().expect("id");
    let loc = acct["result"]["locations"][0]["id"]
        .as_u64()
        .expect("location id");
    let (_, lookup) = call(
        &bms,
        &tok,
        reqwest::Method::GET,
        &format!("/v2/crm/accounts/{id}/locations/lookup"),
        None,
    )
    .await;
    assert_eq!(lookup["result"][0]["id"], loc);

    let (_, contact) = call(
        &bms,
        &tok,
        reqwest::Method::POST,
        "/v2/crm/contacts/summary",
        Some(json!({
        "FirstName": "Ada", "LastName": "Lovelace", "AccountId": id, "LocationId": loc,
        "Emails": [{"EmailAddress": "ada@example.com", "EmailTypeId": 1, "IsDefault": true}]})),
    )
    .await;
    assert_eq!(contact["result"]["accountName"], "Account 0001");
    let cid = contact["result"]["id"].as_u64().expect("id");
    let (_, found) = call(
        &bms,
        &tok,
        reqwest::Method::GET,
        "/v2/crm/contacts/search?Filter.EmailAddress=ADA@example.com",
        None,
    )
    .await;
    assert_eq!(found["result"][0]["id"], cid);
    let (_, bad) = call(
        &bms,
        &tok,
        reqwest::Method::POST,
        "/v2/crm/contacts/summary",
        Some(json!({"FirstName": "X", "LastName": "Y", "AccountId": 999})),
    )
    .await;
    assert_eq!(bad["success"], false);
    let (_, no_location) = call(
        &bms,
        &tok,
        reqwest::Method::POST,
        "/v2/crm/contacts/summary",
        Some(json!({"FirstName": "X", "LastName": "Y", "AccountId": id, "LocationId": 0})),
    )
    .await;
    assert_eq!(no_location["success"], false, "LocationId 0 is refused");
    let (_, dropped) = call(
        &bms,
        &tok,
        reqwest::Method::POST,
        "/v2/crm/contacts/summary",
        Some(
            json!({"FirstName": "Grace", "LastName": "Hopper", "AccountId": id, "LocationId": loc,
            "JobTitle": "Admiral", "IsPoc": true,
            "Phones": [{"PhoneNumber": "+1 555 0101", "PhoneTypeId": 1, "IsDefault": true}]}),
        ),
    )
    .await;
    assert_eq!(
        dropped["result"]["jobTitle"],
        Value::Null,
        "not in ContactInputDto"
    );
    assert_eq!(dropped["result"]["isPoc"], false);
    assert_eq!(dropped["result"]["phones"][0]["phone"], "+1 555 0101");
    let gid = dropped["result"]["id"].as_u64().expect("id");
    let (_, is_poc) = call(
        &bms,
        &tok,
        reqwest::Method::PATCH,
        &format!("/v2/crm/contacts/{gid}"),
        Some(json!([{"op": "replace", "path": "/IsPoc", "value": true}])),
    )
    .await;
    assert_eq!(
        is_poc["success"], false,
        "IsPoc is not in ContactPutInputDto"
    );
    let (_, poc) = call(
        &bms,
        &tok,
        reqwest::Method::PATCH,
        &format!("/v2/crm/contacts/{gid}"),
        Some(json!([{"op": "replace", "path": "/Poc", "value": true},
            {"op": "replace", "path": "/JobTitle", "value": "Admiral"}])),
    )
    .await;
    assert_eq!(
        (
            poc["result"]["isPoc"].clone(),
            poc["result"]["jobTitle"].clone()
        ),
        (json!(true), json!("Admiral"))
    );

    let (_, asset) = call(&bms, &tok, reqwest::Method::POST, "/v2/servicedesk/hardwareasset", Some(json!({
        "Name": "ACME-DC01", "AccountId": id, "AccountLocationId": loc, "CategoryId": 4, "SerialNumber": "SN1"}))).await;
    assert_eq!(asset["result"]["accountLocation"], "Main");
    let (_, assets) = call(
        &bms,
        &tok,
        reqwest::Method::GET,
        "/v2/servicedesk/hardwareasset/searchselect?Filter.ModifiedOnFrom=2999-01-01T00:00:00",
        None,
    )
    .await;
    assert_eq!(
        assets["result"].as_array().map(Vec::len),
        Some(1),
        "assets have no modified filter"
    );
    let thin = assets["result"][0].as_object().expect("row");
    let mut keys: Vec<&str> = thin.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "accountId",
            "accountName",
            "assetName",
            "categoryId",
            "categoryName",
            "contactId",
            "contactName",
            "id",
            "ipAddress",
            "isActive",
            "locationName",
            "machineGroupId",
            "serialNumber"
        ],
        "searchselect answers the thin list DTO"
    );
    assert_eq!(thin["assetName"], "ACME-DC01");
    assert!(assets.get("totalRecords").is_none());
    let (_, put) = call(
        &bms,
        &tok,
        reqwest::Method::PUT,
        &format!("/v2/crm/contacts/{cid}"),
        Some(json!({"FirstName": "Ada", "LastName": "King", "AccountId": id})),
    )
    .await;
    assert_eq!(put["result"]["lastName"], "King");
    assert_eq!(
        put["result"]["emails"][0]["emailAddress"], "ada@example.com",
        "PUT carries no emails/phones: they stay"
    );
    let (_, json_patch) = call(
        &bms,
        &tok,
        reqwest::Method::PATCH,
        &format!("/v2/crm/contacts/{cid}/emails"),
        Some(json!([{"op": "replace", "path": "/0/EmailAddress", "value": "ada@king.example"}])),
    )
    .await;
    assert_eq!(json_patch["success"], false, "RFC 6902 is not the DTO");
    let (_, emails) = call(
        &bms,
        &tok,
        reqwest::Method::PATCH,
        &format!("/v2/crm/contacts/{cid}/emails"),
        Some(json!([
            {"Operation": 1, "EmailAddress": "ADA@example.com", "NewEmailAddress": "ada@king.example"},
            {"Operation": 0, "EmailAddress": "second@example.com", "TypeId": 2, "IsDefault": false}
        ])),
    )
    .await;
    assert_eq!(
        emails["result"]["emails"][0]["emailAddress"],
        "ada@king.example"
    );
    assert_eq!(
        emails["result"]["emails"][1]["emailAddress"],
        "second@example.com"
    );
    assert_eq!(
        (
            emails["result"]["added"].clone(),
            emails["result"]["updated"].clone()
        ),
        (json!(1), json!(1))
    );
    let (_, unknown) = call(
        &bms,
        &tok,
        reqwest::Method::PATCH,
        &format!("/v2/crm/contacts/{cid}/emails"),
        Some(json!([{"Operation": 2, "EmailAddress": "nobody@example.com"}])),
    )
    .await;
    assert_eq!(unknown["success"], false, "delete of an address it lacks");
    let (_, bad_op) = call(
        &bms,
        &tok,
        reqwest::Method::PATCH,
        &format!("/v2/crm/contacts/{cid}/phones"),
        Some(json!([{"op": "remove", "path": "/5"}])),
    )
    .await;
    assert_eq!(bad_op["success"], false);
    let (_, del) = call(
        &bms,
        &tok,
        reqwest::Method::DELETE,
        &format!("/v2/crm/contacts/{cid}"),
        None,
    )
    .await;
    assert_eq!(del["success"], true);
    bms.shutdown().await;
}

#[tokio::test]
async fn limit_is_per_endpoint() {
    let bms = KaseyaBms::start(BmsConfig::pulseway())
        .await
        .expect("start");
    seed(&bms, "accounttypes", json!([{"id": 1, "name": "Client"}])).await;
    seed(&bms, "accounts", json!([account(1), account(2)])).await;
    let tok = login(&bms).await;
    let (_, info) = call(
        &bms,
        &tok,
        reqwest::Method::GET,
        "/v2/crm/accounts/1/summaryinfo",
        None,
    )
    .await;
    assert_eq!(info["result"]["typeName"], "Client");
    client()
        .put(format!("{}/_admin/rate-limit", bms.base_url()))
        .json(&json!({"limit": 2, "window_secs": 3600, "kind": "fixed"}))
        .send()
        .await
        .expect("limit");
    assert_eq!(
        call(
            &bms,
            &tok,
            reqwest::Method::GET,
            "/v2/crm/accounts/summary/1",
            None
        )
        .await
        .0,
        200
    );
    assert_eq!(
        call(
            &bms,
            &tok,
            reqwest::Method::GET,
            "/v2/crm/accounts/summary/2",
            None
        )
        .await
        .0,
        200
    );
    let limited = client()
        .get(format!("{}/v2/crm/accounts/summary/1", bms.base_url()))
        .bearer_auth(&tok)
        .send()
        .await
        .expect("send");
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().contains_key("retry-after"));
    assert_eq!(
        call(
            &bms,
            &tok,
            reqwest::Method::GET,
            "/v2/crm/accounts/summary",
            None
        )
        .await
        .0,
        200,
        "other endpoint"
    );
    bms.shutdown().await;
}
