//! IT Glue workflow webhooks: the path token, compared in constant time, yields a hint.

use crate::common::tenant;
use syncbridge_model::{ChangeAction, EventSource};
use syncbridge_webhooks::{
    BodyLimit, Headers, ItGlueWorkflowVerifier, Rejection, Secret, WebhookRequest,
};

const TOKEN: &str = "k3Jt9xQ2vLw8ZpR4mN7bYc1d";
const NOW: i64 = 1_780_000_000_000;
const BODY: &[u8] = b"event Document Updated\nresource_url https://acme.itglue.com/123/docs/456";

fn verifier() -> ItGlueWorkflowVerifier {
    ItGlueWorkflowVerifier::new(tenant(), Secret::new(TOKEN).unwrap())
}

#[test]
fn genuine_token_gives_a_hint_without_dedup_id() {
    let headers = Headers::new();
    let event = verifier()
        .verify(TOKEN, &WebhookRequest::new(BODY, &headers, NOW))
        .unwrap();
    let e = &event.envelope;
    assert_eq!(e.tenant, tenant());
    assert_eq!(e.source, EventSource::ItGlue);
    assert_eq!(e.action, ChangeAction::Hint);
    assert_eq!(e.entity, None);
    assert_eq!(e.record_id, None);
    assert_eq!(e.msg_id, None);
    assert_eq!(e.received_at, NOW);
    assert_eq!(event.raw_body, BODY);
    assert_eq!(e.subject(), "sync.events.acme.itglue.hint");
}

#[test]
fn wrong_tokens_are_rejected() {
    let headers = Headers::new();
    let request = WebhookRequest::new(BODY, &headers, NOW);
    let prefix = &TOKEN[..TOKEN.len() - 1];
    let longer = format!("{TOKEN}x");
    let upper = TOKEN.to_uppercase();
    for token in ["", "nope", prefix, longer.as_str(), upper.as_str()] {
        let err = verifier().verify(token, &request).unwrap_err();
        assert_eq!(err, Rejection::BadSignature, "{token:?}");
        assert_eq!(err.http_status(), 401);
    }
}

#[test]
fn rotation_accepts_both_tokens() {
    let rotating = ItGlueWorkflowVerifier::new(
        tenant(),
        Secret::rotating("new-token-value", TOKEN).unwrap(),
    );
    let headers = Headers::new();
    let request = WebhookRequest::new(BODY, &headers, NOW);
    assert!(rotating.verify("new-token-value", &request).is_ok());
    assert!(rotating.verify(TOKEN, &request).is_ok());
    assert!(rotating.verify("old-token-value", &request).is_err());
}

#[test]
fn oversize_body_is_413() {
    let headers = Headers::new();
    let small = verifier().with_body_limit(BodyLimit::new(8));
    let err = small
        .verify(TOKEN, &WebhookRequest::new(BODY, &headers, NOW))
        .unwrap_err();
    assert_eq!(err, Rejection::TooLarge);
    assert_eq!(err.http_status(), 413);
}
