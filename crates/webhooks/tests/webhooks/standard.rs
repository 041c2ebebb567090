//! Standard Webhooks: the specification's published test vector, rotation (several `v1`
//! signatures and two secrets), the ±5 minute window with an injected "now", and rejections.

use crate::common::tenant;
use syncbridge_model::{ChangeAction, Entity, EventSource, Side};
use syncbridge_webhooks::{
    Headers, Rejection, Secret, SettingError, StandardWebhook, StandardWebhookVerifier, Verified,
    WebhookRequest,
};

// The specification's reference vector (standard-webhooks `libraries/rust/src/lib.rs`,
// `test_sign` / `test_no_verify`), as copied into webhooks.md §9.
const SPEC_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const SPEC_ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
const SPEC_TS: i64 = 1_649_367_553;
const SPEC_PAYLOAD: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
const SPEC_SIGNATURE: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";
const SPEC_BAD_SIGNATURE: &str = "v1,R3PTzyfHASBKHH98a7yexTwaJ4yNIcGhFQc1yuN+BPU=";

const OTHER_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn verifier(secret: &str) -> StandardWebhookVerifier {
    StandardWebhookVerifier::new(tenant(), &Secret::new(secret).unwrap(), Side::Psa).unwrap()
}

fn headers(id: &str, ts: i64, signature: &str) -> Headers {
    Headers::new()
        .with("webhook-id", id)
        .with("webhook-timestamp", ts.to_string())
        .with("webhook-signature", signature)
}

fn at(ts: i64) -> i64 {
    ts * 1000
}

#[test]
fn spec_test_vector() {
    assert_eq!(
        StandardWebhook::sign(SPEC_SECRET, SPEC_ID, SPEC_TS, SPEC_PAYLOAD).unwrap(),
        SPEC_SIGNATURE
    );
    let v = verifier(SPEC_SECRET);
    let good = headers(SPEC_ID, SPEC_TS, SPEC_SIGNATURE);
    let request = WebhookRequest::new(SPEC_PAYLOAD, &good, at(SPEC_TS));
    let delivery = v.check_signature(&request).unwrap();
    assert_eq!(delivery.id, SPEC_ID);
    assert_eq!(delivery.timestamp, SPEC_TS);
    // Authentic, but its payload names no syncbridge entity.
    assert!(matches!(v.verify(&request), Ok(Verified::Ignored(_))));

    let bad = headers(SPEC_ID, SPEC_TS, SPEC_BAD_SIGNATURE);
    let request = WebhookRequest::new(SPEC_PAYLOAD, &bad, at(SPEC_TS));
    assert_eq!(v.check_signature(&request), Err(Rejection::BadSignature));
}

fn contact_event(verb: &str) -> Vec<u8> {
    format!(r#"{{"type":"contact.{verb}","timestamp":"2026-11-25T09:00:00Z","data":{{"id":"42","first_name":"Ada"}}}}"#)
        .into_bytes()
}

#[test]
fn genuine_delivery_maps_to_an_event() {
    let body = contact_event("updated");
    let ts = 1_780_000_000;
    let signature = StandardWebhook::sign(OTHER_SECRET, "msg_1", ts, &body).unwrap();
    let h = headers("msg_1", ts, &signature);
    let event = verifier(OTHER_SECRET)
        .verify(&WebhookRequest::new(&body, &h, at(ts) + 1234))
        .unwrap()
        .into_event()
        .unwrap();
    let e = &event.envelope;
    assert_eq!(e.tenant, tenant());
    assert_eq!(e.source, EventSource::Standard(Side::Psa));
    assert_eq!(e.entity, Some(Entity::Contact));
    assert_eq!(e.record_id.as_deref(), Some("42"));
    assert_eq!(e.action, ChangeAction::Upsert);
    assert_eq!(e.msg_id.as_deref(), Some("msg_1"));
    assert_eq!(e.received_at, at(ts) + 1234);
    assert_eq!(event.raw_body, body);

    let body = contact_event("deleted");
    let signature = StandardWebhook::sign(OTHER_SECRET, "msg_2", ts, &body).unwrap();
    let h = headers("msg_2", ts, &signature);
    let event = verifier(OTHER_SECRET)
        .verify(&WebhookRequest::new(&body, &h, at(ts)))
        .unwrap()
        .into_event()
        .unwrap();
    assert_eq!(event.envelope.action, ChangeAction::Delete);
}

#[test]
fn any_v1_entry_may_match_and_other_versions_are_skipped() {
    let v = verifier(SPEC_SECRET);
    for list in [
        format!("{SPEC_BAD_SIGNATURE} {SPEC_SIGNATURE}"),
        format!("v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg== {SPEC_SIGNATURE}"),
        format!("  {SPEC_SIGNATURE}  "),
    ] {
        let h = headers(SPEC_ID, SPEC_TS, &list);
        assert!(v.check_signature(&WebhookRequest::new(SPEC_PAYLOAD, &h, at(SPEC_TS))).is_ok(), "{list}");
    }
    for list in [
        "",
        "v1,",
        "v1a,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
        "tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
        SPEC_BAD_SIGNATURE,
    ] {
        let h = headers(SPEC_ID, SPEC_TS, list);
        assert_eq!(
            v.check_signature(&WebhookRequest::new(SPEC_PAYLOAD, &h, at(SPEC_TS))),
            Err(Rejection::BadSignature),
            "{list:?}"
        );
    }
}

#[test]
fn rotation_accepts_current_and_previous_secret() {
    let rotating = StandardWebhookVerifier::new(
        tenant(),
        &Secret::rotating(OTHER_SECRET, SPEC_SECRET).unwrap(),
        Side::Psa,
    )
    .unwrap();
    let h = headers(SPEC_ID, SPEC_TS, SPEC_SIGNATURE);
    assert!(rotating
        .check_signature(&WebhookRequest::new(SPEC_PAYLOAD, &h, at(SPEC_TS)))
        .is_ok());
    let by_new = StandardWebhook::sign(OTHER_SECRET, SPEC_ID, SPEC_TS, SPEC_PAYLOAD).unwrap();
    let h = headers(SPEC_ID, SPEC_TS, &by_new);
    assert!(rotating
        .check_signature(&WebhookRequest::new(SPEC_PAYLOAD, &h, at(SPEC_TS)))
        .is_ok());
}

#[test]
fn timestamps_outside_five_minutes_are_stale_both_ways() {
    let v = verifier(SPEC_SECRET);
    let h = headers(SPEC_ID, SPEC_TS, SPEC_SIGNATURE);
    for (now, ok) in [
        (at(SPEC_TS + 300), true),
        (at(SPEC_TS - 300), true),
        (at(SPEC_TS + 301), false),
        (at(SPEC_TS - 301), false),
        (at(SPEC_TS + 86_400), false),
        (0, false),
        (i64::MIN, false),
        (i64::MAX, false),
    ] {
        let result = v.check_signature(&WebhookRequest::new(SPEC_PAYLOAD, &h, now));
        if ok {
            assert!(result.is_ok(), "now={now}");
        } else {
            let err = result.unwrap_err();
            assert_eq!(err, Rejection::Stale, "now={now}");
            assert_eq!(err.http_status(), 401);
        }
    }
    // A configured tolerance applies.
    let strict = verifier(SPEC_SECRET).with_tolerance_secs(10);
    assert_eq!(
        strict.check_signature(&WebhookRequest::new(SPEC_PAYLOAD, &h, at(SPEC_TS + 11))),
        Err(Rejection::Stale)
    );
}

#[test]
fn tampered_body_and_wrong_secret_are_bad_signatures() {
    let h = headers(SPEC_ID, SPEC_TS, SPEC_SIGNATURE);
    let tampered = br#"{"email":"evil@example.com","username":"test_user"}"#;
    assert_eq!(
        verifier(SPEC_SECRET).verify(&WebhookRequest::new(tampered, &h, at(SPEC_TS))),
        Err(Rejection::BadSignature)
    );
    assert_eq!(
        verifier(OTHER_SECRET).verify(&WebhookRequest::new(SPEC_PAYLOAD, &h, at(SPEC_TS))),
        Err(Rejection::BadSignature)
    );
    // The id and timestamp are signed too.
    let other_id = headers("msg_other", SPEC_TS, SPEC_SIGNATURE);
    assert_eq!(
        verifier(SPEC_SECRET).verify(&WebhookRequest::new(SPEC_PAYLOAD, &other_id, at(SPEC_TS))),
        Err(Rejection::BadSignature)
    );
    let other_ts = headers(SPEC_ID, SPEC_TS + 1, SPEC_SIGNATURE);
    assert_eq!(
        verifier(SPEC_SECRET).verify(&WebhookRequest::new(SPEC_PAYLOAD, &other_ts, at(SPEC_TS))),
        Err(Rejection::BadSignature)
    );
}

#[test]
fn missing_and_malformed_headers() {
    let v = verifier(SPEC_SECRET);
    let full = [
        ("webhook-id", SPEC_ID.to_owned()),
        ("webhook-timestamp", SPEC_TS.to_string()),
        ("webhook-signature", SPEC_SIGNATURE.to_owned()),
    ];
    for missing in 0..3 {
        let h: Headers = full
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != missing)
            .map(|(_, (k, v))| (*k, v.as_str()))
            .collect();
        let err = v
            .verify(&WebhookRequest::new(SPEC_PAYLOAD, &h, at(SPEC_TS)))
            .unwrap_err();
        assert_eq!(err, Rejection::MissingHeader(full[missing].0));
        assert_eq!(err.http_status(), 401);
    }
    for (id, ts) in [
        ("msg.1", "1649367553"),
        (SPEC_ID, "16493675x3"),
        (SPEC_ID, "-1649367553"),
        (SPEC_ID, ""),
    ] {
        let h = Headers::new()
            .with("webhook-id", id)
            .with("webhook-timestamp", ts)
            .with("webhook-signature", SPEC_SIGNATURE);
        let err = v
            .verify(&WebhookRequest::new(SPEC_PAYLOAD, &h, at(SPEC_TS)))
            .unwrap_err();
        assert!(matches!(err, Rejection::Malformed(_)), "{id} {ts}: {err:?}");
    }
}

#[test]
fn svix_header_names_are_accepted() {
    let h = Headers::new()
        .with("svix-id", SPEC_ID)
        .with("svix-timestamp", SPEC_TS.to_string())
        .with("svix-signature", SPEC_SIGNATURE);
    assert!(verifier(SPEC_SECRET)
        .check_signature(&WebhookRequest::new(SPEC_PAYLOAD, &h, at(SPEC_TS)))
        .is_ok());
}

#[test]
fn authentic_but_unusable_payloads() {
    let ts = 1_780_000_000;
    for (body, expect_malformed) in [
        (&b"not json"[..], true),
        (br#"{"type":"contact.updated","data":{}}"#, true),
        (br#"{"type":"invoice.paid","data":{"id":1}}"#, false),
    ] {
        let sig = StandardWebhook::sign(OTHER_SECRET, "msg_9", ts, body).unwrap();
        let h = headers("msg_9", ts, &sig);
        let result = verifier(OTHER_SECRET).verify(&WebhookRequest::new(body, &h, at(ts)));
        if expect_malformed {
            assert!(matches!(result, Err(Rejection::Malformed(_))), "{result:?}");
        } else {
            assert!(matches!(result, Ok(Verified::Ignored(_))), "{result:?}");
        }
    }
}

#[test]
fn invalid_whsec_secret_is_a_config_error() {
    let err = StandardWebhookVerifier::new(
        tenant(),
        &Secret::new("whsec_not*base64").unwrap(),
        Side::Psa,
    )
    .unwrap_err();
    assert!(matches!(err, SettingError::InvalidSecret(_)));
    assert!(!err.to_string().contains("not*base64"));
}

#[test]
fn the_declared_side_is_the_source_and_other_verbs_are_ignored() {
    let ts = 1_780_000_000;
    let itglue =
        StandardWebhookVerifier::new(tenant(), &Secret::new(OTHER_SECRET).unwrap(), Side::ItGlue)
            .unwrap();
    assert_eq!(itglue.side(), Side::ItGlue);
    let body = contact_event("created");
    let sig = StandardWebhook::sign(OTHER_SECRET, "msg_3", ts, &body).unwrap();
    let h = headers("msg_3", ts, &sig);
    let event = itglue
        .verify(&WebhookRequest::new(&body, &h, at(ts)))
        .unwrap()
        .into_event()
        .unwrap();
    assert_eq!(event.envelope.source, EventSource::Standard(Side::ItGlue));
    assert_eq!(event.envelope.action, ChangeAction::Upsert);
    assert_eq!(
        event.envelope.subject(),
        "sync.events.acme.standard-itglue.contact"
    );
    // Only created, updated and deleted have a meaning; anything else is not guessed at.
    for verb in ["archived", "delete", ""] {
        let body = contact_event(verb);
        let sig = StandardWebhook::sign(OTHER_SECRET, "msg_4", ts, &body).unwrap();
        let h = headers("msg_4", ts, &sig);
        let result = itglue.verify(&WebhookRequest::new(&body, &h, at(ts)));
        assert!(
            matches!(result, Ok(Verified::Ignored(_))),
            "{verb}: {result:?}"
        );
    }
}
