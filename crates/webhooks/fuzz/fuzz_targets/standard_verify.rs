//! Fuzzes Standard Webhooks verification. Lines: webhook-id, webhook-timestamp,
//! webhook-signature, then the body; "now" is taken from the timestamp line when it parses, so
//! signatures computed here (every other input) get past the window check to the payload parser.
#![no_main]

use libfuzzer_sys::fuzz_target;
use syncbridge_model::{Side, TenantId};
use syncbridge_webhooks::{
    Headers, Secret, StandardWebhook, StandardWebhookVerifier, WebhookRequest,
};

const WHSEC: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(4, |b| *b == b'\n');
    let id = parts.next().unwrap_or_default();
    let timestamp = parts.next().unwrap_or_default();
    let signature = parts.next().unwrap_or_default();
    let body = parts.next().unwrap_or_default();

    let ts: Option<i64> = std::str::from_utf8(timestamp)
        .ok()
        .and_then(|t| t.parse().ok());
    let now = ts.map_or(0, |t| t.saturating_mul(1000));
    let genuine = match (
        data.first().is_some_and(|b| b & 1 == 1),
        std::str::from_utf8(id),
        ts,
    ) {
        (true, Ok(id), Some(ts)) => StandardWebhook::sign(WHSEC, id, ts, body).ok(),
        _ => None,
    };
    let headers = Headers::new()
        .with("webhook-id", id)
        .with("webhook-timestamp", timestamp)
        .with(
            "webhook-signature",
            genuine.as_deref().map_or(signature, str::as_bytes),
        );
    let verifier =
        StandardWebhookVerifier::new(TenantId::new("fuzz").unwrap(), &Secret::new(WHSEC).unwrap(), Side::Psa)
            .unwrap();
    let _ = verifier.verify(&WebhookRequest::new(body, &headers, now));
});
