//! Autotask callouts: the §2.6 vectors (raw and .NET-escaped), rejections, rotation, dedup id,
//! and deactivation notices.

use crate::common::tenant;
use syncbridge_model::{ChangeAction, Entity, EventSource, PsaKind};
use syncbridge_webhooks::{
    dotnet_escaped, AutotaskCallout, AutotaskVerifier, Headers, Rejection, Secret, SignedForm,
    Verified, WebhookRequest,
};

const SECRET: &str = "test-secret-key";
const NOW: i64 = 1_780_000_000_000;
/// The Nango fixture from webhooks.md §2.2, compact.
const TICKET: &str = r#"{"Action":"Create","Guid":"a1da62a4-2c49-40a8-8183-69994ce5b3eb","EntityType":"Ticket","Id":351181,"Fields":{"TicketNumber":"T20250915.0001"},"EventTime":"2025-09-15T14:57:50Z","SequenceNumber":1,"PersonId":30691780}"#;

fn verifier() -> AutotaskVerifier {
    AutotaskVerifier::new(tenant(), Secret::new(SECRET).unwrap())
}

fn company(action: &str) -> Vec<u8> {
    TICKET
        .replace("\"Ticket\"", "\"Company\"")
        .replace("\"Create\"", &format!("\"{action}\""))
        .into_bytes()
}

fn signed(body: &[u8], secret: &str) -> Headers {
    Headers::new().with(
        "X-Hook-Signature",
        AutotaskCallout::sign(secret.as_bytes(), body),
    )
}

fn verify(body: &[u8], headers: &Headers) -> Result<Verified, Rejection> {
    verifier().verify(&WebhookRequest::new(body, headers, NOW))
}

/// webhooks.md §2.6, first vector, reproduced exactly.
#[test]
fn reference_vector_2_6_raw() {
    let signature = "sha1=02QVqjN/QURNucB0Wv+9CyoRUhM=";
    assert_eq!(
        AutotaskCallout::sign(SECRET.as_bytes(), TICKET.as_bytes()),
        signature
    );
    let headers = Headers::new().with("X-Hook-Signature", signature);
    let request = WebhookRequest::new(TICKET.as_bytes(), &headers, NOW);
    assert_eq!(verifier().check_signature(&request), Ok(SignedForm::Raw));
    // A ticket: authentic, not synced.
    match verifier().verify(&request).unwrap() {
        Verified::Ignored(ignored) => assert_eq!(ignored.record_type, "Ticket"),
        other => panic!("{other:?}"),
    }
}

/// webhooks.md §2.6, escaping vector: the signature over the .NET-escaped form verifies through
/// the fallback path; the signature over the raw form through the first.
#[test]
fn reference_vector_2_6_escaped() {
    let wire = br#"{"Fields":{"Title":"R&D"}}"#;
    assert_eq!(
        dotnet_escaped(wire).unwrap(),
        br#"{"Fields":{"Title":"R\u0026D"}}"#.to_vec()
    );
    assert_eq!(
        AutotaskCallout::sign(SECRET.as_bytes(), wire),
        "sha1=/BWgRMeXusmDCO9X6fYsxcQrYII="
    );
    for (header, form) in [
        ("sha1=/BWgRMeXusmDCO9X6fYsxcQrYII=", SignedForm::Raw),
        (
            "sha1=MNZgyJyGspAIPCoLpvU6vzrfL0c=",
            SignedForm::DotNetEscaped,
        ),
    ] {
        let headers = Headers::new().with("x-hook-signature", header);
        let request = WebhookRequest::new(wire, &headers, NOW);
        assert_eq!(verifier().check_signature(&request), Ok(form));
    }
}

#[test]
fn escaped_fallback_works_for_a_full_callout() {
    let body = String::from_utf8(company("Update"))
        .unwrap()
        .replace("T20250915.0001", "Café & Co <+>");
    let escaped = dotnet_escaped(body.as_bytes()).unwrap();
    let headers = Headers::new().with(
        "X-Hook-Signature",
        AutotaskCallout::sign(SECRET.as_bytes(), &escaped),
    );
    let request = WebhookRequest::new(body.as_bytes(), &headers, NOW);
    assert_eq!(
        verifier().check_signature(&request),
        Ok(SignedForm::DotNetEscaped)
    );
    let event = verifier().verify(&request).unwrap().into_event().unwrap();
    assert_eq!(
        event.raw_body,
        body.as_bytes(),
        "the wire bytes are kept, not the escaped form"
    );
}

#[test]
fn genuine_company_callout_verifies_into_an_event() {
    let body = company("Create");
    let event = verify(&body, &signed(&body, SECRET))
        .unwrap()
        .into_event()
        .unwrap();
    let e = &event.envelope;
    assert_eq!(e.tenant, tenant());
    assert_eq!(e.source, EventSource::Psa(PsaKind::Autotask));
    assert_eq!(e.entity, Some(Entity::Organization));
    assert_eq!(e.record_id.as_deref(), Some("351181"));
    assert_eq!(e.action, ChangeAction::Upsert);
    assert_eq!(e.received_at, NOW);
    assert_eq!(
        event.msg_id(),
        Some("a1da62a4-2c49-40a8-8183-69994ce5b3eb:351181:Create:1")
    );
    assert_eq!(event.raw_body, body);
}

#[test]
fn entity_types_and_actions_map() {
    for (entity_type, entity) in [
        ("Company", Entity::Organization),
        ("Contact", Entity::Contact),
        ("ConfigurationItem", Entity::Configuration),
    ] {
        let body = TICKET
            .replace("\"Ticket\"", &format!("\"{entity_type}\""))
            .replace("\"Create\"", "\"Delete\"")
            .replace(r#"{"TicketNumber":"T20250915.0001"}"#, "{}");
        let event = verify(body.as_bytes(), &signed(body.as_bytes(), SECRET))
            .unwrap()
            .into_event()
            .unwrap();
        assert_eq!(event.envelope.entity, Some(entity));
        assert_eq!(event.envelope.action, ChangeAction::Delete);
    }
}

#[test]
fn dedup_id_is_stable_across_retries_and_differs_per_event() {
    let first = AutotaskCallout::parse(&company("Update")).unwrap();
    let retry = AutotaskCallout::parse(&company("Update")).unwrap();
    assert_eq!(first.dedup_id(), retry.dedup_id());
    let next = company("Update");
    let next = String::from_utf8(next)
        .unwrap()
        .replace("\"SequenceNumber\":1", "\"SequenceNumber\":2");
    let next = AutotaskCallout::parse(next.as_bytes()).unwrap();
    assert_ne!(first.dedup_id(), next.dedup_id());
}

#[test]
fn tampered_body_wrong_secret_and_bad_headers_are_rejected() {
    let body = company("Create");
    let headers = signed(&body, SECRET);

    let mut tampered = body.clone();
    let at = tampered.len() - 3;
    tampered[at] = b'9';
    assert_eq!(verify(&tampered, &headers), Err(Rejection::BadSignature));
    assert_eq!(
        verify(&body, &signed(&body, "wrong-secret")),
        Err(Rejection::BadSignature)
    );

    let err = verify(&body, &Headers::new()).unwrap_err();
    assert_eq!(err, Rejection::MissingHeader("x-hook-signature"));
    assert_eq!(err.http_status(), 401);

    for value in [
        "sha1=",
        "sha1=***",
        "sha256=02QVqjN/QURNucB0Wv+9CyoRUhM=",
        "sha1=AAAA",
    ] {
        let headers = Headers::new().with("X-Hook-Signature", value);
        assert_eq!(
            verify(&body, &headers),
            Err(Rejection::BadSignature),
            "{value}"
        );
    }
    // Non-UTF-8 header value counts as missing.
    let headers = Headers::new().with("X-Hook-Signature", [0xff, 0xfe]);
    assert!(matches!(
        verify(&body, &headers),
        Err(Rejection::MissingHeader(_))
    ));
}

#[test]
fn rotation_accepts_current_and_previous_secret() {
    let rotating = AutotaskVerifier::new(tenant(), Secret::rotating("new-secret", SECRET).unwrap());
    let body = company("Create");
    for secret in ["new-secret", SECRET] {
        let headers = signed(&body, secret);
        assert!(
            rotating
                .verify(&WebhookRequest::new(&body, &headers, NOW))
                .is_ok(),
            "{secret}"
        );
    }
    let headers = signed(&body, "retired-secret");
    assert_eq!(
        rotating.verify(&WebhookRequest::new(&body, &headers, NOW)),
        Err(Rejection::BadSignature)
    );
}

#[test]
fn authentic_but_malformed_callout_is_400() {
    for body in [
        &b"not json"[..],
        b"[]",
        br#"{"EntityType":"Company","Id":1}"#,
        br#"{"Action":"Create","EntityType":"Company"}"#,
    ] {
        let err = verify(body, &signed(body, SECRET)).unwrap_err();
        assert!(matches!(err, Rejection::Malformed(_)), "{err:?}");
        assert_eq!(err.http_status(), 400);
    }
}

#[test]
fn deactivation_notices_are_verified_then_reported() {
    let body = br#"{"Action":"Deactivated","Guid":"a1da62a4-2c49-40a8-8183-69994ce5b3eb","EntityType":"Company"}"#;
    let headers = signed(body, SECRET);
    let request = WebhookRequest::new(body, &headers, NOW);

    let notice = verifier().verify_deactivation(&request).unwrap();
    assert_eq!(notice.tenant, tenant());
    assert_eq!(
        notice.webhook_guid.as_deref(),
        Some("a1da62a4-2c49-40a8-8183-69994ce5b3eb")
    );
    assert_eq!(notice.entity_type.as_deref(), Some("Company"));
    assert_eq!(notice.received_at, NOW);

    // The same notice at the main URL is reported as a notice, not as an event.
    assert_eq!(
        verifier().verify(&request),
        Ok(Verified::Deactivation(notice))
    );

    // A forged notice (GHSA-hh59-fgrr-93hf) is refused like any forged callout.
    let forged = signed(body, "attacker");
    let request = WebhookRequest::new(body, &forged, NOW);
    assert_eq!(
        verifier().verify_deactivation(&request),
        Err(Rejection::BadSignature)
    );
    assert_eq!(verifier().verify(&request), Err(Rejection::BadSignature));
    let unsigned = Headers::new();
    let request = WebhookRequest::new(body, &unsigned, NOW);
    assert_eq!(
        verifier().verify_deactivation(&request),
        Err(Rejection::MissingHeader("x-hook-signature"))
    );

    // An authentic notice with an undocumented shape is still a notice.
    let odd = b"deactivated";
    let headers = signed(odd, SECRET);
    let notice = verifier()
        .verify_deactivation(&WebhookRequest::new(odd, &headers, NOW))
        .unwrap();
    assert_eq!(notice.webhook_guid, None);
}

proptest::proptest! {
    /// Escaping rewrites characters inside strings only: a valid document keeps its meaning.
    #[test]
    fn escaping_preserves_json_meaning(
        fields in proptest::collection::btree_map("\\PC{0,12}", "\\PC{0,24}", 0..6),
        id in proptest::num::i64::ANY,
    ) {
        let body = serde_json::json!({ "Action": "Update", "Id": id, "Fields": fields }).to_string();
        let escaped = dotnet_escaped(body.as_bytes()).unwrap();
        proptest::prop_assert!(escaped.is_ascii());
        let original: serde_json::Value = serde_json::from_str(&body).unwrap();
        let rewritten: serde_json::Value = serde_json::from_slice(&escaped).unwrap();
        proptest::prop_assert_eq!(original, rewritten);
    }
}
