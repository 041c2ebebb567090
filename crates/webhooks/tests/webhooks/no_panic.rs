//! Property: no input — arbitrary bytes, arbitrary header values, arbitrary clocks — makes any
//! parser or verifier panic. Each run also mutates genuine payloads, so the code past the
//! signature check is exercised too (with the signature recomputed over the mutated body).

use crate::common::{block_on, cw_policy, tenant, FakeKeySource};
use proptest::prelude::*;
use syncbridge_model::Side;
use syncbridge_webhooks::{
    dotnet_escaped, AutotaskCallout, AutotaskVerifier, ConnectWiseCallback, ConnectWiseVerifier,
    Headers, ItGlueWorkflowVerifier, KeyUrlPolicy, Secret, SigningKeyCache, StandardWebhook,
    StandardWebhookVerifier, WebhookRequest,
};

const SECRET: &str = "test-secret-key";
const WHSEC: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..96),
        "[ -~]{0,96}".prop_map(String::into_bytes),
        "(sha1=|v1,)[A-Za-z0-9+/=]{0,60}( v1,[A-Za-z0-9+/=]{0,60})?".prop_map(String::into_bytes),
        "[0-9]{1,12}".prop_map(String::into_bytes),
    ]
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..512),
        "[ -~]{0,256}".prop_map(String::into_bytes),
        // Genuine-looking payloads with random mutations.
        (0usize..4, proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4)).prop_map(
            |(which, edits)| {
                let mut body = [
                    &br#"{"MessageId":"m","Action":"added","Type":"company","ID":1,"Entity":"{\"id\":1}","Metadata":{"key_url":"https://na.myconnectwise.net/v2025_1//system/callbackkey/index.rails?companyName=Cobalt&id=1"}}"#[..],
                    br#"{"Action":"Create","Guid":"g","EntityType":"Company","Id":1,"Fields":{"T":"R&D \u00e9"},"SequenceNumber":1}"#,
                    br#"{"type":"contact.updated","data":{"id":"42"}}"#,
                    br#"{"Action":"Deactivated","Guid":"g"}"#,
                ][which]
                    .to_vec();
                for (at, byte) in edits {
                    let len = body.len();
                    body[at % len] = byte;
                }
                body
            }
        ),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn nothing_panics(
        body in body(),
        h1 in header_value(),
        h2 in header_value(),
        h3 in header_value(),
        now in any::<i64>(),
        token in "[ -~]{0,40}",
        key_url in "[ -~]{0,80}",
        sign_genuinely in any::<bool>(),
    ) {
        let _ = ConnectWiseCallback::parse(&body);
        let _ = AutotaskCallout::parse(&body).map(|c| (c.dedup_id(), c.entity(), c.change_action()));
        let _ = dotnet_escaped(&body);
        let policy = cw_policy();
        let _ = policy.check(&key_url);
        let _ = policy.clone().allow_http_for_simulator().check(&key_url);
        let _ = KeyUrlPolicy::for_site(&key_url, &key_url);

        // Random headers.
        let headers = Headers::new()
            .with("x-content-signature", &h1)
            .with("x-hook-signature", &h1)
            .with("webhook-id", &h2)
            .with("webhook-timestamp", &h3)
            .with("webhook-signature", &h1);
        let _ = StandardWebhook::from_headers(&headers);
        run_all(&body, &headers, now, &token);

        // Genuine signatures over the (possibly mutated) body, so parsing past the check runs.
        if sign_genuinely {
            let ts = now.div_euclid(1000);
            let headers = Headers::new()
                .with("x-content-signature", ConnectWiseCallback::sign(SECRET, &body))
                .with("x-hook-signature", AutotaskCallout::sign(SECRET.as_bytes(), &body))
                .with("webhook-id", "msg_1")
                .with("webhook-timestamp", ts.max(0).to_string())
                .with("webhook-signature", StandardWebhook::sign(WHSEC, "msg_1", ts.max(0), &body).unwrap());
            run_all(&body, &headers, now, SECRET);
        }
    }
}

fn run_all(body: &[u8], headers: &Headers, now: i64, token: &str) {
    let request = WebhookRequest::new(body, headers, now);
    let secret = Secret::new(SECRET).unwrap();
    let _ = AutotaskVerifier::new(tenant(), secret.clone()).verify(&request);
    let _ = AutotaskVerifier::new(tenant(), secret.clone()).verify_deactivation(&request);
    let _ = ItGlueWorkflowVerifier::new(tenant(), secret).verify(token, &request);
    let _ = StandardWebhookVerifier::new(tenant(), &Secret::new(WHSEC).unwrap(), Side::Psa)
        .unwrap()
        .verify(&request);
    let keys = SigningKeyCache::new(FakeKeySource::serving(SECRET));
    let cw = ConnectWiseVerifier::new(tenant(), cw_policy());
    let _ = block_on(cw.verify(&request, &keys));
}
