//! ConnectWise signing keys at the ingest (issue 13 findings 2 and 3): a callback whose
//! `key_url` names another company is refused with no request to the key host, and made-up key
//! ids cannot make the ingest fetch more than the tenant's limit. The ConnectWise simulator is
//! the key host and counts the requests it gets.

use crate::common::*;

/// The simulator's current `key_url` and how often its key endpoint was requested.
async fn key_host(h: &Harness) -> (String, u64) {
    let admin: serde_json::Value = h
        .http
        .get(format!("{}/_admin/signing-key", h.cw.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (
        admin["key_url"].as_str().unwrap().to_owned(),
        admin["fetches"].as_u64().unwrap(),
    )
}

#[tokio::test]
async fn a_key_url_naming_another_company_is_refused_without_a_fetch() {
    let h = Harness::start().await;
    let (key_url, fetches) = key_host(&h).await;
    assert!(key_url.contains("companyName=acme&"), "{key_url}");
    assert_eq!(fetches, 0);

    // Same host, same path, same key id, another company: the simulator would serve the key
    // (it has one company), so only the policy stands between this and a 202. And another path
    // on the host (the REST API), which was fetched with the tenant's credentials before.
    let evil = key_url.replace("companyName=acme", "companyName=evil");
    let api = format!(
        "{}/v4_6_release/apis/3.0/company/companies?companyName=acme&id=1",
        h.cw.base_url()
    );
    for (message, refused) in [(1, evil), (2, api)] {
        let (body, headers) = signed_callback(CW_SIGNING_KEY, &refused, message);
        let answer = h
            .post("/webhooks/acme/connectwise/7", &headers, &body)
            .await;
        assert_eq!(answer.status, 401, "{refused}: {}", answer.text);
        assert_eq!(
            key_host(&h).await.1,
            0,
            "{refused}: no request to the key host"
        );
    }
    assert!(h.events().await.is_empty());

    // The genuine key_url: fetched once, accepted.
    let (body, headers) = signed_callback(CW_SIGNING_KEY, &key_url, 3);
    let answer = h
        .post("/webhooks/acme/connectwise/7", &headers, &body)
        .await;
    assert_eq!(answer.status, 202, "{}", answer.text);
    assert_eq!(key_host(&h).await.1, 1);
    assert_eq!(h.events().await.len(), 1);
}

#[tokio::test]
async fn made_up_key_ids_cost_at_most_the_tenants_fetch_limit() {
    let h = Harness::start().await;
    let (key_url, _) = key_host(&h).await;
    let genuine_id = key_url.rsplit_once("id=").unwrap().1.to_owned();
    let made_up = |i: u32| key_url.replace(&genuine_id, &format!("made-up-{i}"));
    let started = std::time::Instant::now();

    // A made-up key id: the simulator answers 404, the ingest 503. Again at once: the failure
    // is remembered, no second fetch.
    for message in [100, 101] {
        let (body, headers) = signed_callback(CW_SIGNING_KEY, &made_up(0), message);
        let answer = h
            .post("/webhooks/acme/connectwise/7", &headers, &body)
            .await;
        assert_eq!(answer.status, 503, "{}", answer.text);
        assert!(answer.retry_after.is_some());
    }
    assert_eq!(
        key_host(&h).await.1,
        1,
        "a remembered failure is not fetched again"
    );

    // 30 more made-up ids: past the tenant's limit the ingest answers 503 without asking.
    for i in 1..=30 {
        let (body, headers) = signed_callback(CW_SIGNING_KEY, &made_up(i), 200 + i);
        let answer = h
            .post("/webhooks/acme/connectwise/7", &headers, &body)
            .await;
        assert_eq!(answer.status, 503, "{}", answer.text);
        assert!(answer.retry_after.is_some());
    }
    let limit = syncbridge_webhooks::FetchLimit::DEFAULT;
    // The bucket refills while the test runs (10 a minute): allow what it earned meanwhile.
    let earned = started.elapsed().as_millis() as u64 * u64::from(limit.per_minute) / 60_000;
    let fetches = key_host(&h).await.1;
    assert!(
        fetches >= u64::from(limit.burst) && fetches <= u64::from(limit.burst) + earned,
        "{fetches} fetches for 31 made-up ids"
    );
    assert!(h.events().await.is_empty());
}
