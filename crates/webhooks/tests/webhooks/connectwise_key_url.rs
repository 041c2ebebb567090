//! Issue 13 findings 2 and 4: a `key_url` is approved only on the callback-key path, naming the
//! tenant's own company, on the tenant's site, its ConnectWise Cloud `api-` twin or a host listed
//! explicitly; everything else is refused (401) before anything is fetched, and the fetch carries
//! only what the key endpoint needs.

use crate::common::{cw_policy, FakeKeySource, CW_COMPANY};
use crate::connectwise::{
    approves, callback, key_url_on, run, signed, verifier, KEY_URL, SIGNING_KEY,
};
use syncbridge_webhooks::{KeyUrlPolicy, Rejection, SigningKeyCache};

/// Sends a genuinely signed callback naming `key_url` and says what came back and how many
/// fetches it cost.
fn refusal(policy: &KeyUrlPolicy, key_url: &str) -> (Result<(), Rejection>, usize) {
    let keys = SigningKeyCache::new(FakeKeySource::serving(SIGNING_KEY));
    let verifier =
        syncbridge_webhooks::ConnectWiseVerifier::new(crate::common::tenant(), policy.clone());
    let body = callback("updated", "contact", "{}".into(), key_url);
    let result = run(&verifier, &keys, &body, &signed(&body, SIGNING_KEY)).map(|_| ());
    (result, keys.source().calls())
}

fn assert_refused_without_fetch(policy: &KeyUrlPolicy, key_url: &str) {
    let (result, calls) = refusal(policy, key_url);
    let err = result.expect_err(key_url);
    assert!(
        matches!(err, Rejection::KeyUrlRefused(_)),
        "{key_url}: {err:?}"
    );
    assert_eq!(err.http_status(), 401, "{key_url}");
    assert_eq!(calls, 0, "{key_url} was fetched");
}

#[test]
fn a_key_url_naming_another_company_is_refused_without_a_fetch() {
    // The shared Cloud host would serve evil's key for evil's key id; signed with it, the
    // forgery verified before. Now the companyName must be the tenant's.
    let evil = KEY_URL.replace("companyName=Cobalt", "companyName=evil");
    assert_refused_without_fetch(&cw_policy(), &evil);
    // Also: a company name that merely contains ours, none at all, an empty one, or two.
    for query in [
        "companyName=Cobalt2&id=1",
        "companyName=xCobalt&id=1",
        "id=1",
        "companyName=&id=1",
        "companyName=Cobalt&companyName=evil&id=1",
        "companyName=evil&companyName=Cobalt&id=1",
        "CompanyName=Cobalt&id=1",
    ] {
        let key_url =
            format!("https://na.myconnectwise.net/v2025_1//system/callbackkey/index.rails?{query}");
        assert_refused_without_fetch(&cw_policy(), &key_url);
    }
    // The tenant's own company, in any case, is fine (ConnectWise logins compare so).
    let (result, calls) = refusal(&cw_policy(), &KEY_URL.replace("Cobalt", "COBALT"));
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(calls, 1);
}

#[test]
fn a_key_url_on_any_other_path_of_the_host_is_refused_without_a_fetch() {
    let host = "https://api-na.myconnectwise.net";
    let query = "companyName=Cobalt&id=1";
    for path in [
        // The REST API with the tenant's credentials was the prize (issue 13 finding 2).
        "/v4_6_release/apis/3.0/company/companies",
        "/v4_6_release/apis/3.0/system/callbackkey/index.rails",
        "/system/callbackkey/index.rails",
        "/v2025_1/x/system/callbackkey/index.rails",
        "/v2025_1///system/callbackkey/index.rails",
        "/v2025_1//system/callbackkey/index.rails/",
        "/v2025_1//system/callbackkey/index.rails/x",
        "/v2025_1//system/callbackkey/index.railsx",
        "/v2025_1//system/callbackkey/",
        "/v2025_1//system/CallbackKey/index.rails",
        "/v%32025_1//system/callbackkey/index.rails",
        "/v2025_1/%2e%2e/system/callbackkey/index.rails",
        "//system/callbackkey/index.rails",
        "/",
        "",
    ] {
        assert_refused_without_fetch(&cw_policy(), &format!("{host}{path}?{query}"));
    }
    // A key id that is not a plain token, or none, or two.
    for query in [
        "companyName=Cobalt",
        "companyName=Cobalt&id=",
        "companyName=Cobalt&id=../../x",
        "companyName=Cobalt&id=1&id=2",
    ] {
        assert_refused_without_fetch(
            &cw_policy(),
            &format!("{host}/v2025_1//system/callbackkey/index.rails?{query}"),
        );
    }
}

#[test]
fn the_reference_fixtures_key_url_is_approved_as_sent() {
    // webhooks.md §1.2 (amp-labs `contact-delete.json`), double slash and all.
    let fixture = "https://sandbox-na.myconnectwise.net/v2025_1//system/callbackkey/index.rails?companyName=Cobalt&id=e17e6674-42f6-4105-9cff-4cd6cb4e62e8";
    let policy = KeyUrlPolicy::for_site("sandbox-na.myconnectwise.net", CW_COMPANY).unwrap();
    assert_eq!(policy.check(fixture).unwrap().as_str(), fixture);
    // The codebase segment varies by release; one slash after it is accepted too.
    let single = "https://api-na.myconnectwise.net/v4_6_release/system/callbackkey/index.rails?companyName=Cobalt&id=1";
    assert_eq!(cw_policy().check(single).unwrap().as_str(), single);
}

#[test]
fn the_fetch_carries_only_the_company_name_and_key_id() {
    let keys = SigningKeyCache::new(FakeKeySource::serving(SIGNING_KEY));
    let padded = format!("{KEY_URL}&pageSize=1000&conditions=id%3E0&clientId=x");
    let reordered = "https://api-na.myconnectwise.net/v2025_1//system/callbackkey/index.rails?id=e17e6674&junk=1&companyName=Cobalt";
    for key_url in [padded.as_str(), reordered] {
        let body = callback("updated", "contact", "{}".into(), key_url);
        run(&verifier(), &keys, &body, &signed(&body, SIGNING_KEY)).unwrap();
    }
    // Both name the same key: one fetch, of exactly the key endpoint's URL.
    assert_eq!(
        *keys.source().urls.lock().unwrap(),
        vec![KEY_URL.to_owned()]
    );
}

#[test]
fn the_api_twin_is_trusted_only_for_connectwise_cloud_sites() {
    // An on-premises site: `api-acmecw.com` is another registrable domain, not its twin.
    let on_prem = KeyUrlPolicy::for_site("acmecw.com", CW_COMPANY).unwrap();
    assert_refused_without_fetch(&on_prem, &key_url_on("https://api-acmecw.com", "1"));
    let api_site = KeyUrlPolicy::for_site("api-acmecw.com", CW_COMPANY).unwrap();
    assert_refused_without_fetch(&api_site, &key_url_on("https://acmecw.com", "1"));
    // Listed explicitly in key_hosts, it is trusted.
    let listed = on_prem.clone().with_host("api-acmecw.com").unwrap();
    assert!(approves(&listed, "https://api-acmecw.com"));
    assert!(approves(&on_prem, "https://acmecw.com"));

    // ConnectWise Cloud sites keep their twin, both ways, and only within myconnectwise.net.
    for (site, twin) in [
        ("na.myconnectwise.net", "api-na.myconnectwise.net"),
        ("api-eu.myconnectwise.net", "eu.myconnectwise.net"),
        (
            "sandbox-au.myconnectwise.net",
            "api-sandbox-au.myconnectwise.net",
        ),
        ("aus.myconnectwise.net", "api-aus.myconnectwise.net"),
    ] {
        let policy = KeyUrlPolicy::for_site(site, CW_COMPANY).unwrap();
        assert!(
            approves(&policy, &format!("https://{twin}")),
            "{site} → {twin}"
        );
    }
    for site in [
        "myconnectwise.net.evil.com",
        "evilmyconnectwise.net",
        "myconnectwise.net",
    ] {
        let policy = KeyUrlPolicy::for_site(site, CW_COMPANY).unwrap();
        assert_refused_without_fetch(&policy, &key_url_on(&format!("https://api-{site}"), "1"));
    }
}
