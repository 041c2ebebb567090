//! Secrets never show in Debug/Display output or error strings; rejections map to the HTTP
//! statuses of DESIGN §4; body limits and unknown sources are typed.

use std::borrow::Cow;

use crate::common::{block_on, cw_policy, tenant, FakeKeySource};
use syncbridge_model::Side;
use syncbridge_webhooks::{
    AutotaskCallout, AutotaskVerifier, BodyLimit, ConnectWiseCallback, ConnectWiseVerifier,
    Headers, ItGlueWorkflowVerifier, Rejection, Secret, SigningKeyCache, StandardWebhook,
    StandardWebhookVerifier, WebhookRequest, WebhookSource,
};

const SECRET: &str = "super-secret-value-4f9a";
const WHSEC: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const NOW: i64 = 1_649_367_553_000;

#[test]
fn secrets_print_as_stars() {
    let secret = Secret::rotating(SECRET, "previous-secret-77").unwrap();
    assert_eq!(format!("{secret:?}"), "***");
    assert_eq!(format!("{secret}"), "***");
    assert_eq!(format!("{secret:#?}"), "***");
    assert!(secret.is_rotating());

    let autotask = AutotaskVerifier::new(tenant(), secret.clone());
    let itglue = ItGlueWorkflowVerifier::new(tenant(), secret.clone());
    let standard =
        StandardWebhookVerifier::new(tenant(), &Secret::new(WHSEC).unwrap(), Side::Psa).unwrap();
    for debug in [
        format!("{autotask:?}"),
        format!("{itglue:?}"),
        format!("{standard:?}"),
    ] {
        assert!(!debug.contains(SECRET), "{debug}");
        assert!(!debug.contains("previous-secret-77"), "{debug}");
        assert!(!debug.contains("C2FVsBQIhrsc"), "{debug}");
        assert!(debug.contains("***"), "{debug}");
    }
}

#[test]
fn secret_matching_is_exact() {
    let secret = Secret::new(SECRET).unwrap();
    assert!(secret.matches(SECRET.as_bytes()));
    assert!(!secret.matches(b""));
    assert!(!secret.matches(&SECRET.as_bytes()[1..]));
    assert!(Secret::new("").is_err());
    assert!(Secret::rotating(SECRET, "").is_err());
}

#[test]
fn header_debug_hides_values() {
    let signature = AutotaskCallout::sign(SECRET.as_bytes(), b"{}");
    let headers = Headers::new().with("X-Hook-Signature", &signature);
    let debug = format!("{headers:?}");
    assert!(debug.contains("x-hook-signature"));
    assert!(!debug.contains(&signature[5..]), "{debug}");
}

/// Every rejection a wrong secret or forged signature produces is free of secrets and
/// signatures, in both Display and Debug.
#[test]
fn rejections_never_contain_secrets_or_signatures() {
    let body =
        br#"{"Action":"Create","Guid":"g","EntityType":"Company","Id":1,"SequenceNumber":1}"#;
    let mut leaked = Vec::new();

    let sig = AutotaskCallout::sign(SECRET.as_bytes(), body);
    let headers = Headers::new().with("X-Hook-Signature", &sig);
    let wrong = AutotaskVerifier::new(tenant(), Secret::new("other").unwrap());
    leaked.push((
        wrong
            .verify(&WebhookRequest::new(body, &headers, NOW))
            .unwrap_err(),
        sig,
    ));

    let itglue = ItGlueWorkflowVerifier::new(tenant(), Secret::new(SECRET).unwrap());
    leaked.push((
        itglue
            .verify(
                "guess-of-the-token",
                &WebhookRequest::new(body, &headers, NOW),
            )
            .unwrap_err(),
        "guess-of-the-token".to_owned(),
    ));

    let sig = StandardWebhook::sign(WHSEC, "msg_1", NOW / 1000, body).unwrap();
    let headers = Headers::new()
        .with("webhook-id", "msg_1")
        .with("webhook-timestamp", (NOW / 1000).to_string())
        .with("webhook-signature", &sig);
    let standard = StandardWebhookVerifier::new(
        tenant(),
        &Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap(),
        Side::Psa,
    )
    .unwrap();
    leaked.push((
        standard
            .verify(&WebhookRequest::new(body, &headers, NOW))
            .unwrap_err(),
        sig,
    ));

    let cw_body = br#"{"MessageId":"m","Action":"added","Type":"company","ID":1,"Metadata":{"key_url":"https://na.myconnectwise.net/v2025_1//system/callbackkey/index.rails?companyName=Cobalt&id=1"}}"#;
    let sig = ConnectWiseCallback::sign(SECRET, cw_body);
    let headers = Headers::new().with("x-content-signature", &sig);
    let keys = SigningKeyCache::new(FakeKeySource::serving("the-real-signing-key"));
    let cw = ConnectWiseVerifier::new(tenant(), cw_policy());
    leaked.push((
        block_on(cw.verify(&WebhookRequest::new(cw_body, &headers, NOW), &keys)).unwrap_err(),
        sig,
    ));
    let cache_debug = format!("{keys:?}");
    assert!(
        !cache_debug.contains("the-real-signing-key"),
        "{cache_debug}"
    );

    for (rejection, signature) in leaked {
        for text in [rejection.to_string(), format!("{rejection:?}")] {
            for forbidden in [
                SECRET,
                signature.as_str(),
                "the-real-signing-key",
                "C2FVsBQIhrsc",
            ] {
                assert!(!text.contains(forbidden), "{text:?} contains {forbidden:?}");
            }
        }
    }
}

#[test]
fn rejection_statuses_follow_the_contract() {
    let cases = [
        (Rejection::BadSignature, 401),
        (Rejection::MissingHeader("webhook-id"), 401),
        (Rejection::Stale, 401),
        (
            Rejection::KeyUrlRefused(Cow::Borrowed("host not allowed")),
            401,
        ),
        (Rejection::Malformed(Cow::Borrowed("body is not JSON")), 400),
        (Rejection::TooLarge, 413),
        (Rejection::UnknownSource, 404),
        (Rejection::KeyFetch(Cow::Borrowed("timeout")), 503),
    ];
    for (rejection, status) in cases {
        assert_eq!(rejection.http_status(), status, "{rejection:?}");
        assert!(!rejection.kind().is_empty());
    }
}

#[test]
fn bodies_over_the_limit_are_too_large_everywhere() {
    let limit = BodyLimit::new(16);
    let body = vec![b'x'; 17];
    let headers = Headers::new();
    let request = WebhookRequest::new(&body, &headers, NOW);

    assert_eq!(limit.check(&body), Err(Rejection::TooLarge));
    assert_eq!(limit.check(&body[..16]), Ok(()));
    assert_eq!(BodyLimit::default().max_bytes(), 1024 * 1024);
    assert_eq!(
        BodyLimit::DEFAULT.check_len(1024 * 1024 + 1),
        Err(Rejection::TooLarge)
    );

    let secret = Secret::new(SECRET).unwrap();
    assert_eq!(
        AutotaskVerifier::new(tenant(), secret.clone())
            .with_body_limit(limit)
            .verify(&request),
        Err(Rejection::TooLarge)
    );
    assert_eq!(
        ItGlueWorkflowVerifier::new(tenant(), secret)
            .with_body_limit(limit)
            .verify(SECRET, &request),
        Err(Rejection::TooLarge)
    );
    assert_eq!(
        StandardWebhookVerifier::new(tenant(), &Secret::new(WHSEC).unwrap(), Side::Psa)
            .unwrap()
            .with_body_limit(limit)
            .verify(&request),
        Err(Rejection::TooLarge)
    );
    let keys = SigningKeyCache::new(FakeKeySource::serving("k"));
    let cw = ConnectWiseVerifier::new(tenant(), cw_policy()).with_body_limit(limit);
    assert_eq!(
        block_on(cw.verify(&request, &keys)),
        Err(Rejection::TooLarge)
    );
    assert_eq!(keys.source().calls(), 0);
}

#[test]
fn route_segments_name_sources() {
    for source in WebhookSource::ALL {
        assert_eq!(source.as_str().parse::<WebhookSource>(), Ok(source));
    }
    assert_eq!(
        "connectwise"
            .parse::<WebhookSource>()
            .unwrap()
            .event_source()
            .map(|s| s.to_string()),
        Some("connectwise".to_owned())
    );
    assert_eq!(
        WebhookSource::Standard.event_source(),
        None,
        "the tenant declares its side"
    );
    let err = "halopsa".parse::<WebhookSource>().unwrap_err();
    assert_eq!(err, Rejection::UnknownSource);
    assert_eq!(err.http_status(), 404);
}
