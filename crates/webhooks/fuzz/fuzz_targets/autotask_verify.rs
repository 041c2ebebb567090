//! Fuzzes Autotask callout and deactivation verification: first line = `X-Hook-Signature`, the
//! rest = the body (signed genuinely every other input, to reach the parser behind the check).
#![no_main]

use libfuzzer_sys::fuzz_target;
use syncbridge_model::TenantId;
use syncbridge_webhooks::{AutotaskCallout, AutotaskVerifier, Headers, Secret, WebhookRequest};

const SECRET: &str = "fuzz-secret";

fuzz_target!(|data: &[u8]| {
    let (signature, body) = match data.iter().position(|b| *b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (&data[..0], data),
    };
    let headers = if data.first().is_some_and(|b| b & 1 == 1) {
        Headers::new().with(
            "X-Hook-Signature",
            AutotaskCallout::sign(SECRET.as_bytes(), body),
        )
    } else {
        Headers::new().with("X-Hook-Signature", signature)
    };
    let verifier =
        AutotaskVerifier::new(TenantId::new("fuzz").unwrap(), Secret::new(SECRET).unwrap());
    let request = WebhookRequest::new(body, &headers, 0);
    let _ = verifier.verify(&request);
    let _ = verifier.verify_deactivation(&request);
    if let Ok(callout) = AutotaskCallout::parse(body) {
        let _ = (
            callout.dedup_id(),
            callout.entity(),
            callout.change_action(),
        );
    }
});
