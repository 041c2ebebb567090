//! Tigerpaw simulator over real HTTP: per-request HMAC auth, searches with paging, contacts, and
//! the advanced searches it refuses as the vendor documents (audit TP-1, TP-2).

use std::collections::HashSet;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use syncbridge_sim::tigerpaw::{format_rfc1123, Tigerpaw, TigerpawConfig};

use crate::common::client;

/// Computed here, independently of the simulator: TSI base64("pub:" + base64(HMAC-SHA256(priv, lower(m|p|d)))).
fn tsi(public: &str, private: &str, method: &str, path: &str, date: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(private.as_bytes()).expect("key");
    mac.update(format!("{method}|{path}|{date}").to_lowercase().as_bytes());
    let sig = B64.encode(mac.finalize().into_bytes());
    format!("TSI {}", B64.encode(format!("{public}:{sig}")))
}

fn signed(
    tp: &Tigerpaw,
    method: reqwest::Method,
    path: &str,
    private: &str,
) -> reqwest::RequestBuilder {
    let date = format_rfc1123(tp.server.core().clock.now_millis());
    client()
        .request(method.clone(), format!("{}{path}", tp.base_url()))
        .header("X-TSI-Date", &date)
        .header(
            "Authorization",
            tsi(
                "tp-public",
                private,
                method.as_str(),
                path.split('?').next().unwrap_or(path),
                &date,
            ),
        )
}

#[test]
fn the_simulator_signs_like_the_reference() {
    let date = "Thu, 18 Jun 2015 07:25:43 GMT";
    assert_eq!(
        syncbridge_sim::tigerpaw::authorization("p", "k", "GET", "/api/accounts/1052932", date),
        tsi("p", "k", "GET", "/api/accounts/1052932", date)
    );
}

#[tokio::test]
async fn hmac_auth_with_date_window() {
    let tp = Tigerpaw::start(TigerpawConfig::default())
        .await
        .expect("start");
    let ok = signed(
        &tp,
        reqwest::Method::GET,
        "/api/diagnostics/validate/user",
        "tp-private",
    )
    .send()
    .await
    .expect("send");
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.json::<Value>().await.expect("json")["Success"], true);
    let wrong = signed(
        &tp,
        reqwest::Method::GET,
        "/api/diagnostics/validate/user",
        "nope",
    )
    .send()
    .await
    .expect("send");
    assert_eq!(wrong.status(), 401);
    let unsigned = client()
        .get(format!("{}/api/diagnostics/validate/user", tp.base_url()))
        .send()
        .await
        .expect("send");
    assert_eq!(unsigned.status(), 401);
    // A date one hour away from the (simulated) server clock is refused.
    let old = format_rfc1123(tp.server.core().clock.now_millis() - 3_600_000);
    let stale = client()
        .get(format!("{}/api/diagnostics/validate/user", tp.base_url()))
        .header("Date", &old)
        .header(
            "Authorization",
            tsi(
                "tp-public",
                "tp-private",
                "GET",
                "/api/diagnostics/validate/user",
                &old,
            ),
        )
        .send()
        .await
        .expect("send");
    assert_eq!(stale.status(), 401);
    tp.server.core().clock.advance(Duration::from_secs(3600));
    let later = signed(
        &tp,
        reqwest::Method::GET,
        "/api/diagnostics/validate/user",
        "tp-private",
    )
    .send()
    .await
    .expect("send");
    assert_eq!(later.status(), 200, "dates follow the simulated clock");
    tp.shutdown().await;
}

#[tokio::test]
async fn account_search_pages_and_contacts_by_account() {
    let tp = Tigerpaw::start(TigerpawConfig::default())
        .await
        .expect("start");
    let accounts: Vec<Value> = (1..=130)
        .map(|i| json!({"AccountNumber": i, "Account": {"Name": format!("Acct {i:03}"), "AccountId": format!("A{i}"),
            "AccountType": "Customer", "Status": "Active", "PrimaryContactNumber": 1}, "PhoneNumber": "555"}))
        .collect();
    let seeded = client()
        .post(format!("{}/_admin/seed/accounts", tp.base_url()))
        .json(&accounts)
        .send()
        .await
        .expect("seed");
    assert_eq!(seeded.status(), 200);
    let contacts = json!([
        {"ContactNumber": 1, "Contact": {"AccountNumber": 1, "FirstName": "Jane", "LastName": "Doe", "Inactive": false}, "EmailAddress": "jane@example.com"},
        {"ContactNumber": 2, "Contact": {"AccountNumber": 1, "FirstName": "Old", "LastName": "Timer", "Inactive": true}}
    ]);
    client()
        .post(format!("{}/_admin/seed/contacts", tp.base_url()))
        .json(&contacts)
        .send()
        .await
        .expect("seed");

    let mut seen = HashSet::new();
    let mut start = 1;
    loop {
        let page: Value = signed(
            &tp,
            reqwest::Method::POST,
            &format!("/api/accounts/search?pageRequest.pageSize=50&pageRequest.startRow={start}"),
            "tp-private",
        )
        .json(&json!({"Criteria": [
            {"SearchType": "AccountNumber", "MatchType": "GreaterThan", "Criteria": "0"}
        ]}))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
        assert_eq!(page["TotalCount"], 130);
        for a in page["Accounts"].as_array().expect("accounts") {
            assert!(seen.insert(a["AccountNumber"].as_u64().expect("n")));
        }
        match page["NextRow"].as_u64() {
            Some(0) | None => break,
            Some(n) => start = n as usize,
        }
    }
    assert_eq!(seen.len(), 130);

    let by_name: Value = signed(
        &tp,
        reqwest::Method::POST,
        "/api/accounts/search/name",
        "tp-private",
    )
    .json(&json!("acct 12"))
    .send()
    .await
    .expect("send")
    .json()
    .await
    .expect("json");
    assert_eq!(
        by_name["TotalCount"], 10,
        "StartsWith, case-insensitive: Acct 120-129 (Acct 012 does not start with it)"
    );
    let one: Value = signed(&tp, reqwest::Method::GET, "/api/accounts/1", "tp-private")
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(one["PrimaryContactName"], "Jane Doe");
    assert_eq!(one["NumberOfContacts"], 2);
    let active: Value = signed(
        &tp,
        reqwest::Method::GET,
        "/api/contacts/account/1?activeOnly=true",
        "tp-private",
    )
    .send()
    .await
    .expect("send")
    .json()
    .await
    .expect("json");
    assert_eq!(active["TotalCount"], 1);
    assert_eq!(active["Contacts"][0]["IsPrimaryContact"], true);
    let details: Value = signed(
        &tp,
        reqwest::Method::GET,
        "/api/contacts/1/details",
        "tp-private",
    )
    .send()
    .await
    .expect("send")
    .json()
    .await
    .expect("json");
    assert_eq!(details["EmailAddresses"][0]["Email"], "jane@example.com");

    let invalid: Value = signed(&tp, reqwest::Method::POST, "/api/accounts", "tp-private")
        .json(&json!({"Account": {"Name": "No type"}}))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(invalid["Success"], false);
    let missing = signed(&tp, reqwest::Method::GET, "/api/accounts/999", "tp-private")
        .send()
        .await
        .expect("send");
    assert_eq!(missing.status(), 404);
    tp.shutdown().await;
}

/// Posts an advanced search and returns the answer's JSON (HTTP 200 either way).
async fn advanced(tp: &Tigerpaw, collection: &str, criteria: Value) -> Value {
    let path = format!("/api/{collection}/search");
    let answer = signed(tp, reqwest::Method::POST, &path, "tp-private")
        .json(&json!({ "Criteria": criteria }))
        .send()
        .await
        .expect("send");
    assert_eq!(
        answer.status(),
        200,
        "search answers 200, Success says the rest"
    );
    answer.json().await.expect("json")
}

#[tokio::test]
async fn advanced_search_takes_only_documented_criteria() {
    let tp = Tigerpaw::start(TigerpawConfig::default())
        .await
        .expect("start");
    client()
        .post(format!("{}/_admin/seed/accounts", tp.base_url()))
        .json(
            &json!([{"AccountNumber": 7, "Account": {"Name": "Acme", "AccountId": "ACME",
            "AccountType": "Customer", "Status": "Active"}}]),
        )
        .send()
        .await
        .expect("seed");
    client()
        .post(format!("{}/_admin/seed/contacts", tp.base_url()))
        .json(&json!([
            {"ContactNumber": 1, "Contact": {"AccountNumber": 7, "FirstName": "Robert", "LastName": "Smith"}},
            {"ContactNumber": 2, "Contact": {"AccountNumber": 7, "FirstName": "Rupert", "LastName": "Smyth"}}
        ]))
        .send()
        .await
        .expect("seed");
    let criterion =
        |t: &str, m: &str, v: &str| json!({"SearchType": t, "MatchType": m, "Criteria": v});
    let refused = [
        ("contacts", json!([])),
        ("accounts", json!([])),
        (
            "contacts",
            json!([criterion("AccountNumber", "Equal", "7")]),
        ),
        (
            "contacts",
            json!([criterion("FirstName", "Equal", "Robert")]),
        ),
        (
            "contacts",
            json!([criterion("firstname", "Equal", "Robert")]),
        ),
        (
            "contacts",
            json!([criterion("Firstname", "Equals", "Robert")]),
        ),
        ("contacts", json!([criterion("Firstname", "Equal", "")])),
        ("contacts", json!([criterion("CustomField", "Equal", "x")])),
        ("accounts", json!([criterion("Name", "Equal", "Acme")])),
    ];
    for (collection, criteria) in refused {
        let answer = advanced(&tp, collection, criteria.clone()).await;
        assert_eq!(
            answer["Success"], false,
            "{collection} {criteria}: {answer}"
        );
        assert!(
            answer["Message"].as_str().is_some_and(|m| !m.is_empty()),
            "a refusal says why: {answer}"
        );
    }
    let count = |answer: &Value, key: &str| answer[key].as_array().map_or(0, Vec::len);
    let robert = advanced(
        &tp,
        "contacts",
        json!([criterion("Firstname", "Equal", "robert")]),
    )
    .await;
    assert_eq!(count(&robert, "Contacts"), 1, "{robert}");
    let default_match = advanced(
        &tp,
        "contacts",
        json!([{"SearchType": "LastName", "Criteria": "Sm"}]),
    )
    .await;
    assert_eq!(
        count(&default_match, "Contacts"),
        2,
        "StartsWith by default"
    );
    let sounds = advanced(
        &tp,
        "contacts",
        json!([criterion("LastNameSoundsLike", "", "Smith")]),
    )
    .await;
    assert_eq!(count(&sounds, "Contacts"), 2, "Smith and Smyth: S530");
    let by_account_id = advanced(
        &tp,
        "contacts",
        json!([criterion("AccountId", "Equal", "ACME")]),
    )
    .await;
    assert_eq!(count(&by_account_id, "Contacts"), 2, "{by_account_id}");
    let every = advanced(
        &tp,
        "accounts",
        json!([criterion("AccountNumber", "GreaterThan", "0")]),
    )
    .await;
    assert_eq!(count(&every, "Accounts"), 1);
    let by_contact = advanced(
        &tp,
        "accounts",
        json!([criterion("ContactName", "Equal", "Rupert Smyth")]),
    )
    .await;
    assert_eq!(count(&by_contact, "Accounts"), 1);
    tp.shutdown().await;
}
