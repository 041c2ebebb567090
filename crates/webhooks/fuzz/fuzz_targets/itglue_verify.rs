//! Fuzzes the IT Glue path-token check: first line = the path token, the rest = the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use syncbridge_model::TenantId;
use syncbridge_webhooks::{Headers, ItGlueWorkflowVerifier, Secret, WebhookRequest};

fuzz_target!(|data: &[u8]| {
    let (token, body) = match data.iter().position(|b| *b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &data[..0]),
    };
    let token = String::from_utf8_lossy(token);
    let verifier = ItGlueWorkflowVerifier::new(
        TenantId::new("fuzz").unwrap(),
        Secret::rotating("fuzz-token", "old-token").unwrap(),
    );
    let headers = Headers::new();
    let _ = verifier.verify(&token, &WebhookRequest::new(body, &headers, 0));
});
