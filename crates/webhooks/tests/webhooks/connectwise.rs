//! ConnectWise callbacks: genuine deliveries, rejections, the §1.6 vector, key caching and the
//! `key_url` SSRF guard (refusals happen without a single fetch).

use crate::common::{block_on, cw_policy, tenant, FakeKeySource};
use syncbridge_model::{ChangeAction, Entity, EventSource, PsaKind};
use syncbridge_webhooks::{
    ConnectWiseCallback, ConnectWiseVerifier, Headers, KeyUrlPolicy, Rejection, SigningKeyCache,
    Verified, WebhookRequest,
};

pub const SIGNING_KEY: &str = "test-signing-key";
/// The reference fixture's shape (webhooks.md §1.2) on the `api-` twin of the tenant's site.
pub const KEY_URL: &str = "https://api-na.myconnectwise.net/v2025_1//system/callbackkey/index.rails?companyName=Cobalt&id=e17e6674";
pub const NOW: i64 = 1_780_000_000_000;

pub fn verifier() -> ConnectWiseVerifier {
    ConnectWiseVerifier::new(tenant(), cw_policy())
}

/// A key URL of the tenant's company on `origin` (`https://host[:port]`) with key id `id`.
pub fn key_url_on(origin: &str, id: &str) -> String {
    format!("{origin}/v2025_1//system/callbackkey/index.rails?companyName=Cobalt&id={id}")
}

/// Whether `policy` approves a key URL of the tenant's company on `origin`.
pub fn approves(policy: &KeyUrlPolicy, origin: &str) -> bool {
    policy.check(&key_url_on(origin, "1")).is_ok()
}

pub fn callback(action: &str, kind: &str, entity: serde_json::Value, key_url: &str) -> Vec<u8> {
    serde_json::json!({
        "MessageId": "824d99d2-33c0-4c56-9ded-d99d895a90e3",
        "FromUrl": "na.myconnectwise.net",
        "CompanyId": "Cobalt",
        "MemberId": "Aurasell",
        "Action": action,
        "Type": kind,
        "ID": 57937,
        "ProductInstanceId": "639c96cab2eb560001dd1324",
        "PartnerId": "61ddc2817bcddc0001c74208",
        "CallbackObjectRecId": 26604,
        "Entity": entity,
        "Metadata": { "key_url": key_url }
    })
    .to_string()
    .into_bytes()
}

fn contact_update() -> Vec<u8> {
    let record = r#"{"id":57937,"firstName":"Joshua","lastName":"Marvin","_info":{"lastUpdated":"2026-06-04T17:54:53Z"}}"#;
    callback("updated", "contact", record.into(), KEY_URL)
}

pub fn signed(body: &[u8], key: &str) -> Headers {
    Headers::new().with("X-Content-Signature", ConnectWiseCallback::sign(key, body))
}

pub fn run(
    verifier: &ConnectWiseVerifier,
    keys: &SigningKeyCache<FakeKeySource>,
    body: &[u8],
    headers: &Headers,
) -> Result<Verified, Rejection> {
    block_on(verifier.verify(&WebhookRequest::new(body, headers, NOW), keys))
}

#[test]
fn genuine_update_verifies_into_an_event() {
    let keys = SigningKeyCache::new(FakeKeySource::serving(SIGNING_KEY));
    let body = contact_update();
    let event = run(&verifier(), &keys, &body, &signed(&body, SIGNING_KEY))
        .unwrap()
        .into_event()
        .unwrap();
    let e = &event.envelope;
    assert_eq!(e.tenant, tenant());
    assert_eq!(e.source, EventSource::Psa(PsaKind::ConnectWise));
    assert_eq!(e.entity, Some(Entity::Contact));
    assert_eq!(e.record_id.as_deref(), Some("57937"));
    assert_eq!(e.action, ChangeAction::Upsert);
    assert_eq!(e.received_at, NOW);
    assert_eq!(event.msg_id(), Some("824d99d2-33c0-4c56-9ded-d99d895a90e3"));
    assert_eq!(event.raw_body, body, "the raw body travels byte for byte");
    // The key was fetched from exactly the key_url, double slash included.
    assert_eq!(
        *keys.source().urls.lock().unwrap(),
        vec![KEY_URL.to_owned()]
    );
}

#[test]
fn entity_string_is_decoded_and_null_means_delete() {
    let parsed = ConnectWiseCallback::parse(&contact_update()).unwrap();
    assert_eq!(parsed.record.as_ref().unwrap()["firstName"], "Joshua");
    assert_eq!(parsed.entity(), Some(Entity::Contact));

    let keys = SigningKeyCache::new(FakeKeySource::serving(SIGNING_KEY));
    let body = callback("deleted", "contact", serde_json::Value::Null, KEY_URL);
    assert_eq!(ConnectWiseCallback::parse(&body).unwrap().record, None);
    let event = run(&verifier(), &keys, &body, &signed(&body, SIGNING_KEY))
        .unwrap()
        .into_event()
        .unwrap();
    assert_eq!(event.envelope.action, ChangeAction::Delete);
}

#[test]
fn types_map_to_entities_and_others_are_ignored() {
    let keys = SigningKeyCache::new(FakeKeySource::serving(SIGNING_KEY));
    for (kind, entity) in [
        ("company", Entity::Organization),
        ("configuration", Entity::Configuration),
        ("contact", Entity::Contact),
    ] {
        let body = callback("added", kind, "{}".into(), KEY_URL);
        let event = run(&verifier(), &keys, &body, &signed(&body, SIGNING_KEY))
            .unwrap()
            .into_event()
            .unwrap();
        assert_eq!(event.envelope.entity, Some(entity), "{kind}");
    }
    let body = callback("added", "ticket", "{}".into(), KEY_URL);
    match run(&verifier(), &keys, &body, &signed(&body, SIGNING_KEY)).unwrap() {
        Verified::Ignored(ignored) => assert_eq!(ignored.record_type, "ticket"),
        other => panic!("{other:?}"),
    }
}

/// webhooks.md §1.6, reproduced exactly. The vector's made-up `key_url` names no company, so the
/// verifier refuses it before any fetch (the signature itself is checked with the same key on a
/// key URL of the tenant's company).
#[test]
fn reference_vector_1_6() {
    let body = br#"{"ProductInstanceId":"instance-1","Type":"ticket","ID":123,"Metadata":{"key_url":"https://api-na.myconnectwise.net/v4_6_release/system/callbackkey/index.rails?id=test"}}"#;
    let signature = "Npzr+jGnIkoiCIYBpg0euaup9wJC89yWJBlgfSEvYHs=";
    assert_eq!(
        ConnectWiseCallback::sign("test-signing-key", body),
        signature
    );

    let keys = SigningKeyCache::new(FakeKeySource::serving("test-signing-key"));
    let headers = Headers::new().with("x-content-signature", signature);
    assert!(matches!(
        run(&verifier(), &keys, body, &headers),
        Err(Rejection::KeyUrlRefused(_))
    ));
    assert_eq!(keys.source().calls(), 0);

    let body = String::from_utf8(body.to_vec())
        .unwrap()
        .replace("?id=test", "?companyName=Cobalt&id=test")
        .into_bytes();
    let body = &body[..];
    let headers = signed(body, "test-signing-key");
    // A ticket: authentic, not synced.
    assert!(matches!(
        run(&verifier(), &keys, body, &headers),
        Ok(Verified::Ignored(_))
    ));
    let mut tampered = body.to_vec();
    tampered[30] ^= 1;
    assert_eq!(
        run(&verifier(), &keys, &tampered, &headers),
        Err(Rejection::BadSignature)
    );
}

#[test]
fn tampered_body_and_wrong_key_are_bad_signatures() {
    let keys = SigningKeyCache::new(FakeKeySource::serving(SIGNING_KEY));
    let body = contact_update();
    let headers = signed(&body, SIGNING_KEY);
    let tampered = String::from_utf8(body.clone())
        .unwrap()
        .replace("Joshua", "Joshub");
    let err = run(&verifier(), &keys, tampered.as_bytes(), &headers).unwrap_err();
    assert_eq!(err, Rejection::BadSignature);
    assert_eq!(err.http_status(), 401);

    let err = run(&verifier(), &keys, &body, &signed(&body, "another-key")).unwrap_err();
    assert_eq!(err, Rejection::BadSignature);

    let garbage = Headers::new().with("x-content-signature", "not base64!");
    assert_eq!(
        run(&verifier(), &keys, &body, &garbage),
        Err(Rejection::BadSignature)
    );
}

#[test]
fn missing_signature_header_is_rejected_before_any_fetch() {
    let keys = SigningKeyCache::new(FakeKeySource::serving(SIGNING_KEY));
    let err = run(&verifier(), &keys, &contact_update(), &Headers::new()).unwrap_err();
    assert_eq!(err, Rejection::MissingHeader("x-content-signature"));
    assert_eq!(err.http_status(), 401);
    assert_eq!(keys.source().calls(), 0);
}

#[test]
fn malformed_body_is_400() {
    let keys = SigningKeyCache::new(FakeKeySource::serving(SIGNING_KEY));
    for body in [&b"not json"[..], b"[1,2]", br#"{"Type":"contact"}"#] {
        let err = run(&verifier(), &keys, body, &signed(body, SIGNING_KEY)).unwrap_err();
        assert!(matches!(err, Rejection::Malformed(_)), "{err:?}");
        assert_eq!(err.http_status(), 400);
    }
    assert_eq!(keys.source().calls(), 0);

    // Authentic but missing the MessageId (dedup id): malformed.
    let body = br#"{"Action":"added","Type":"company","ID":1,"Metadata":{"key_url":"https://na.myconnectwise.net/v2025_1//system/callbackkey/index.rails?companyName=Cobalt&id=1"}}"#;
    let err = run(&verifier(), &keys, body, &signed(body, SIGNING_KEY)).unwrap_err();
    assert!(matches!(err, Rejection::Malformed(_)), "{err:?}");
}

#[test]
fn keys_are_cached_by_url() {
    let keys = SigningKeyCache::new(FakeKeySource::serving(SIGNING_KEY));
    let body = contact_update();
    for _ in 0..3 {
        run(&verifier(), &keys, &body, &signed(&body, SIGNING_KEY)).unwrap();
    }
    assert_eq!(keys.source().calls(), 1);
    assert_eq!(keys.len(), 1);

    let other_url = KEY_URL.replace("id=e17e6674", "id=other");
    let body = callback("updated", "company", "{}".into(), &other_url);
    run(&verifier(), &keys, &body, &signed(&body, SIGNING_KEY)).unwrap();
    assert_eq!(keys.source().calls(), 2);
    assert_eq!(keys.len(), 2);
}

#[test]
fn rotated_key_is_refetched_but_not_on_every_forgery() {
    let keys = SigningKeyCache::new(FakeKeySource::serving("old-key"));
    let body = contact_update();
    run(&verifier(), &keys, &body, &signed(&body, "old-key")).unwrap();
    keys.source().rotate_to("new-key");

    // Within a minute of the last fetch a mismatch is just a bad signature: no refetch.
    let headers = signed(&body, "new-key");
    let request = WebhookRequest::new(&body, &headers, NOW + 10_000);
    assert_eq!(
        block_on(verifier().verify(&request, &keys)),
        Err(Rejection::BadSignature)
    );
    assert_eq!(keys.source().calls(), 1);

    // Later, a mismatch refetches once and the new key verifies.
    let request = WebhookRequest::new(&body, &headers, NOW + 120_000);
    assert!(block_on(verifier().verify(&request, &keys)).is_ok());
    assert_eq!(keys.source().calls(), 2);
}

#[test]
fn key_host_errors_and_redirects() {
    let body = contact_update();
    let headers = signed(&body, SIGNING_KEY);

    let keys = SigningKeyCache::new(FakeKeySource::answering(500));
    let err = run(&verifier(), &keys, &body, &headers).unwrap_err();
    assert!(matches!(err, Rejection::KeyFetch(_)), "{err:?}");
    assert_eq!(err.http_status(), 503);

    let keys = SigningKeyCache::new(FakeKeySource::answering(302));
    let err = run(&verifier(), &keys, &body, &headers).unwrap_err();
    assert!(matches!(err, Rejection::KeyUrlRefused(_)), "{err:?}");
    assert!(err.to_string().contains("redirect"));
}

#[test]
fn foreign_company_id_is_refused_without_fetch() {
    let keys = SigningKeyCache::new(FakeKeySource::serving(SIGNING_KEY));
    let body = contact_update();
    let headers = signed(&body, SIGNING_KEY);
    let strict = verifier().with_company_id("someone-else");
    assert_eq!(
        run(&strict, &keys, &body, &headers),
        Err(Rejection::UnknownSource)
    );
    assert_eq!(keys.source().calls(), 0);
    // Company ids compare case-insensitively.
    assert!(run(
        &verifier().with_company_id("cobalt"),
        &keys,
        &body,
        &headers
    )
    .is_ok());
}

/// Every refused key_url is refused by the policy before the key source is asked.
#[test]
fn ssrf_key_urls_are_refused_without_fetch() {
    let refused = [
        // scheme
        "http://api-na.myconnectwise.net/v4_6_release/system/callbackkey/index.rails?id=1",
        "ftp://api-na.myconnectwise.net/v2025_1//system/callbackkey/index.rails?companyName=Cobalt&id=1",
        "file:///etc/passwd",
        // other hosts, look-alikes
        "https://evil.example.com/v2025_1//system/callbackkey/index.rails?companyName=Cobalt&id=1",
        "https://na.myconnectwise.net.evil.com/v2025_1//system/callbackkey/index.rails?companyName=Cobalt&id=1",
        "https://evilna.myconnectwise.net/v2025_1//system/callbackkey/index.rails?companyName=Cobalt&id=1",
        "https://eu.myconnectwise.net/v2025_1//system/callbackkey/index.rails?companyName=Cobalt&id=1",
        "https://api-na.myconnectwise.net./v2025_1//system/callbackkey/index.rails?companyName=Cobalt&id=1",
        // userinfo (incl. the classic host confusion)
        "https://user@api-na.myconnectwise.net/v2025_1//system/callbackkey/index.rails?companyName=Cobalt&id=1",
        "https://user:pass@api-na.myconnectwise.net/v2025_1//system/callbackkey/index.rails?companyName=Cobalt&id=1",
        "https://api-na.myconnectwise.net@evil.com/v2025_1//system/callbackkey/index.rails?companyName=Cobalt&id=1",
        // IP literals, in every spelling the URL parser normalises
        "https://127.0.0.1/v2025_1//system/callbackkey/index.rails?companyName=Cobalt&id=1",
        "https://2130706433/v2025_1//system/callbackkey/index.rails?companyName=Cobalt&id=1",
        "https://0x7f.1/v2025_1//system/callbackkey/index.rails?companyName=Cobalt&id=1",
        "https://169.254.169.254/v2025_1//system/callbackkey/index.rails?companyName=Cobalt&id=1",
        "https://[::1]/v2025_1//system/callbackkey/index.rails?companyName=Cobalt&id=1",
        // port mismatch
        "https://api-na.myconnectwise.net:8443/v2025_1//system/callbackkey/index.rails?companyName=Cobalt&id=1",
        "https://na.myconnectwise.net:80/v2025_1//system/callbackkey/index.rails?companyName=Cobalt&id=1",
        // fragment, relative, junk
        "https://api-na.myconnectwise.net/v2025_1//system/callbackkey/index.rails?companyName=Cobalt&id=1#frag",
        "/v4_6_release/system/callbackkey",
        "",
    ];
    for key_url in refused {
        let keys = SigningKeyCache::new(FakeKeySource::serving(SIGNING_KEY));
        let body = callback("updated", "contact", "{}".into(), key_url);
        let err = run(&verifier(), &keys, &body, &signed(&body, SIGNING_KEY)).unwrap_err();
        assert!(
            matches!(err, Rejection::KeyUrlRefused(_)),
            "{key_url}: {err:?}"
        );
        assert_eq!(err.http_status(), 401);
        assert_eq!(keys.source().calls(), 0, "{key_url} was fetched");
    }
}

#[test]
fn policy_allows_the_site_and_its_api_twin_only() {
    let policy = cw_policy();
    assert!(approves(&policy, "https://na.myconnectwise.net"));
    assert!(approves(&policy, "https://API-NA.myconnectwise.net:443"));
    let approved = policy.check(KEY_URL).unwrap();
    assert_eq!(approved.as_str(), KEY_URL, "path kept as sent");

    let api = KeyUrlPolicy::for_site("https://api-eu.myconnectwise.net", "Cobalt").unwrap();
    assert!(approves(&api, "https://eu.myconnectwise.net"));
    assert!(!approves(&api, "https://na.myconnectwise.net"));

    let on_prem = KeyUrlPolicy::for_site("cw.example.com:8443", "Cobalt")
        .unwrap()
        .with_host("cwapi.example.com")
        .unwrap();
    assert!(approves(&on_prem, "https://cw.example.com:8443"));
    assert!(!approves(&on_prem, "https://cw.example.com"));
    assert!(approves(&on_prem, "https://cwapi.example.com"));

    assert!(KeyUrlPolicy::for_site("", "Cobalt").is_err());
    assert!(KeyUrlPolicy::for_site("https://cw.example.com/path", "Cobalt").is_err());
    assert!(KeyUrlPolicy::for_site("user@cw.example.com", "Cobalt").is_err());
    assert!(KeyUrlPolicy::for_site("na.myconnectwise.net", " ").is_err());
}

#[test]
fn http_and_ip_literals_only_for_an_explicit_simulator_policy() {
    let production = KeyUrlPolicy::for_site("127.0.0.1:18080", "Cobalt").unwrap();
    assert!(!approves(&production, "http://127.0.0.1:18080"));
    assert!(!approves(&production, "https://127.0.0.1:18080"));

    let simulator = production.allow_http_for_simulator();
    assert!(approves(&simulator, "http://127.0.0.1:18080"));
    for origin in [
        "http://127.0.0.1:18081",
        "http://127.0.0.2:18080",
        "http://localhost:18080",
    ] {
        assert!(!approves(&simulator, origin), "{origin}");
    }

    let by_name = KeyUrlPolicy::for_site("localhost:18080", "Cobalt")
        .unwrap()
        .allow_http_for_simulator();
    assert!(approves(&by_name, "http://localhost:18080"));
    assert!(!approves(&by_name, "http://127.0.0.1:18080"));

    // End to end through the verifier with a simulator policy.
    let verifier = ConnectWiseVerifier::new(tenant(), by_name);
    let keys = SigningKeyCache::new(FakeKeySource::serving(SIGNING_KEY));
    let key_url = key_url_on("http://localhost:18080", "9");
    let body = callback("updated", "contact", "{}".into(), &key_url);
    assert!(run(&verifier, &keys, &body, &signed(&body, SIGNING_KEY)).is_ok());
}

/// The service awaits `verify` inside axum handlers, which need `Send` futures.
#[test]
fn verify_future_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let keys = SigningKeyCache::new(FakeKeySource::serving(SIGNING_KEY));
    let verifier = verifier();
    let headers = Headers::new();
    let request = WebhookRequest::new(b"{}", &headers, NOW);
    let future = verifier.verify(&request, &keys);
    assert_send(&future);
    assert!(block_on(future).is_err());
}
