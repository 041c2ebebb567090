//! Fuzz entry functions for `syncbridge-webhooks`: one per verifier or parser the ingest exposes
//! to the internet, driven through the crate's public API only.
//!
//! Shared by the libFuzzer targets in `fuzz/fuzz_targets/` and by the seed-replay test
//! `crates/webhooks/tests/fuzz_seeds.rs` (which includes this file by path), so the two cannot
//! drift apart. Each function panics only when an invariant breaks; bad input is fine.
//!
//! Byte targets carve their input into lines (header values, then the body) and pick a mode from
//! the first byte: the header as given, a genuine signature over the body (so the parser behind
//! the check is reached), or a signature made with another secret (which must never verify).

use std::future::{ready, Future};
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use syncbridge_model::{Side, TenantId};
use syncbridge_webhooks::{
    dotnet_escaped, ApprovedKeyUrl, AutotaskCallout, AutotaskVerifier, BodyLimit,
    ConnectWiseCallback, ConnectWiseVerifier, Headers, ItGlueWorkflowVerifier, KeyFetchError,
    KeyFetchResponse, KeyUrlPolicy, Rejection, Secret, SigningKeyCache, SigningKeySource,
    StandardWebhook, StandardWebhookVerifier, WebhookRequest, WebhookSource,
};

/// The ConnectWise signing key the fake key endpoint serves.
pub const CW_KEY: &str = "fuzz-signing-key";
/// The key URL the ConnectWise policy approves (site `na.myconnectwise.net`, company `Cobalt`).
pub const CW_KEY_URL: &str =
    "https://na.myconnectwise.net/v2025_1//system/callbackkey/index.rails?companyName=Cobalt&id=1";
/// The Autotask webhook secret.
pub const AUTOTASK_SECRET: &str = "fuzz-secret";
/// The Standard Webhooks secret.
pub const WHSEC: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
/// The IT Glue path tokens (current, previous).
pub const ITGLUE_TOKENS: (&str, &str) = ("fuzz-token", "old-token");

/// How a byte target signs its body, from the input's first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The signature line is sent as it is.
    AsGiven,
    /// A genuine signature over the body.
    Genuine,
    /// A signature over the body under another secret (the signature line).
    Forged,
}

fn mode(data: &[u8]) -> Mode {
    match data.first().map(|b| b % 3) {
        Some(1) => Mode::Genuine,
        Some(2) => Mode::Forged,
        _ => Mode::AsGiven,
    }
}

/// The first line and the rest (the whole input is the rest when there is no newline).
fn first_line(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|b| *b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (&data[..0], data),
    }
}

/// HMAC pads short keys with zeros, so `k` and `k\0` are the same key: not another secret.
fn same_hmac_key(a: &[u8], b: &[u8]) -> bool {
    fn trimmed(k: &[u8]) -> &[u8] {
        let end = k.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
        &k[..end]
    }
    trimmed(a) == trimmed(b)
}

fn tenant() -> TenantId {
    TenantId::new("fuzz").expect("valid tenant id")
}

/// Polls a future that never waits on I/O (the fake key source is ready at once).
fn block_on<F: Future>(future: F) -> F::Output {
    let mut context = Context::from_waker(Waker::noop());
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
    }
}

/// A key endpoint that serves [`CW_KEY`] for every approved URL.
struct FixedKey;

impl SigningKeySource for FixedKey {
    fn fetch(
        &self,
        _url: &ApprovedKeyUrl,
    ) -> impl Future<Output = Result<KeyFetchResponse, KeyFetchError>> + Send {
        ready(Ok(KeyFetchResponse {
            status: 200,
            body: format!(r#"{{"signing_key":"{CW_KEY}"}}"#).into_bytes(),
        }))
    }
}

fn cw_verify(body: &[u8], signature: &[u8]) -> Result<syncbridge_webhooks::Verified, Rejection> {
    let headers = Headers::new().with("x-content-signature", signature);
    let policy = KeyUrlPolicy::for_site("na.myconnectwise.net", "Cobalt").expect("valid site");
    let verifier = ConnectWiseVerifier::new(tenant(), policy);
    let keys = SigningKeyCache::new(FixedKey);
    block_on(verifier.verify(&WebhookRequest::new(body, &headers, 0), &keys))
}

/// `ConnectWiseCallback::parse` on any bytes.
pub fn connectwise_parse(data: &[u8]) {
    if let Ok(callback) = ConnectWiseCallback::parse(data) {
        let _ = (callback.entity(), callback.change_action());
    }
}

/// ConnectWise verification. Line 1: `x-content-signature` (or the forger's key), rest: body.
/// Invariants: a genuine signature is never `BadSignature`; a forged one never verifies.
pub fn connectwise_verify(data: &[u8]) {
    let (line, body) = first_line(data);
    match mode(data) {
        Mode::AsGiven => {
            let _ = cw_verify(body, line);
        }
        Mode::Genuine => {
            let result = cw_verify(body, ConnectWiseCallback::sign(CW_KEY, body).as_bytes());
            assert!(
                !matches!(result, Err(Rejection::BadSignature)),
                "a genuine signature was refused: {result:?}"
            );
        }
        Mode::Forged => {
            let forger = String::from_utf8_lossy(line);
            if forger != CW_KEY {
                let result = cw_verify(body, ConnectWiseCallback::sign(&forger, body).as_bytes());
                assert!(result.is_err(), "accepted a forged signature: {result:?}");
            }
        }
    }
}

/// The parts of a ConnectWise callback, for the structured target: the body is built from them
/// (so it is well-formed JSON with an approved key URL most of the time) and then signed.
#[derive(Debug, Clone)]
pub struct CallbackParts<'a> {
    pub message_id: &'a str,
    pub action: &'a str,
    pub record_type: &'a str,
    pub numeric_id: Option<i64>,
    pub text_id: &'a str,
    pub company_id: Option<&'a str>,
    /// `None`: the approved key URL; otherwise this one.
    pub key_url: Option<&'a str>,
    /// The `Entity` string (itself a JSON document, as ConnectWise double-encodes it).
    pub entity: Option<&'a str>,
    /// `Some`: sign with this key instead of the real one.
    pub forger_key: Option<&'a str>,
}

/// Structured ConnectWise target. Invariants: signed with the real key, the callback is never
/// `BadSignature`, and when it verifies as an event its id and action are the parsed ones;
/// signed with any other key, it never verifies.
pub fn connectwise_signed(parts: &CallbackParts<'_>) {
    let id = match parts.numeric_id {
        Some(n) => serde_json::Value::from(n),
        None => serde_json::Value::from(parts.text_id),
    };
    let mut body = serde_json::json!({
        "MessageId": parts.message_id,
        "Action": parts.action,
        "Type": parts.record_type,
        "ID": id,
        "Metadata": { "key_url": parts.key_url.unwrap_or(CW_KEY_URL) },
        "Entity": parts.entity,
    });
    if let Some(company) = parts.company_id {
        body["CompanyId"] = company.into();
    }
    let body = serde_json::to_vec(&body).expect("a JSON value serialises");
    let key = parts.forger_key.unwrap_or(CW_KEY);
    let result = cw_verify(&body, ConnectWiseCallback::sign(key, &body).as_bytes());
    if key != CW_KEY {
        assert!(result.is_err(), "accepted a forged signature: {result:?}");
        return;
    }
    assert!(
        !matches!(result, Err(Rejection::BadSignature)),
        "a genuine signature was refused: {result:?}"
    );
    if let Ok(syncbridge_webhooks::Verified::Event(event)) = result {
        let parsed = ConnectWiseCallback::parse(&body).expect("a verified callback parses");
        assert_eq!(event.msg_id(), Some(parsed.message_id.as_str()));
    }
}

/// A key endpoint that serves one canned answer (the fuzz input).
struct CannedKey {
    status: u16,
    body: Vec<u8>,
}

impl SigningKeySource for CannedKey {
    fn fetch(
        &self,
        _url: &ApprovedKeyUrl,
    ) -> impl Future<Output = Result<KeyFetchResponse, KeyFetchError>> + Send {
        ready(Ok(KeyFetchResponse {
            status: self.status,
            body: self.body.clone(),
        }))
    }
}

/// The statuses a key endpoint may answer with (chosen by the input's first byte).
const KEY_STATUSES: [u16; 7] = [200, 200, 200, 204, 302, 404, 500];

/// A genuine, approved callback for the key-response target.
const CW_CALLBACK: &[u8] = br#"{"MessageId":"m-1","Action":"updated","Type":"company","ID":1,"Metadata":{"key_url":"https://na.myconnectwise.net/v2025_1//system/callbackkey/index.rails?companyName=Cobalt&id=1"}}"#;

/// The ConnectWise key endpoint's answer (`{"signing_key": "…"}`), which the ingest fetches from
/// an approved URL. Byte 0 picks the status, the rest is the body. Invariants: a callback
/// verifies exactly when it is signed with the key the answer holds (a 2xx JSON object with a
/// non-empty `signing_key` string, exact name first, then any case); any other answer verifies
/// nothing.
pub fn connectwise_key_response(data: &[u8]) {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let status = KEY_STATUSES[usize::from(selector) % KEY_STATUSES.len()];
    let served: Option<String> = (200..300)
        .contains(&status)
        .then(|| serde_json::from_slice::<serde_json::Value>(body).ok())
        .flatten()
        .and_then(|json| {
            let object = json.as_object()?;
            let value = object.get("signing_key").or_else(|| {
                object
                    .iter()
                    .find(|(key, _)| key.eq_ignore_ascii_case("signing_key"))
                    .map(|(_, value)| value)
            })?;
            value.as_str().filter(|k| !k.is_empty()).map(str::to_owned)
        });
    let verify = |signing_key: &str| {
        let headers = Headers::new().with(
            "x-content-signature",
            ConnectWiseCallback::sign(signing_key, CW_CALLBACK),
        );
        let policy = KeyUrlPolicy::for_site("na.myconnectwise.net", "Cobalt").expect("valid site");
        let keys = SigningKeyCache::new(CannedKey {
            status,
            body: body.to_vec(),
        });
        block_on(
            ConnectWiseVerifier::new(tenant(), policy)
                .verify(&WebhookRequest::new(CW_CALLBACK, &headers, 0), &keys),
        )
    };
    match served {
        Some(key) => {
            let genuine = verify(&key);
            assert!(genuine.is_ok(), "signed with the served key: {genuine:?}");
            let forged = verify(&format!("{key}x"));
            assert!(forged.is_err(), "signed with another key: {forged:?}");
        }
        None => {
            let result = verify(CW_KEY);
            assert!(result.is_err(), "verified without a key: {result:?}");
        }
    }
}

/// The `key_url` SSRF guard. Line 1 is a key URL to check. Invariant: an approved URL is https
/// on the site's hosts, on the callback-key path.
pub fn key_url_policy(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let policy = KeyUrlPolicy::for_site("na.myconnectwise.net", "Cobalt").expect("valid site");
    if let Ok(approved) = policy.check(text) {
        let url = approved.as_str();
        assert!(
            url.starts_with("https://na.myconnectwise.net/")
                || url.starts_with("https://api-na.myconnectwise.net/"),
            "approved {url:?}"
        );
        assert!(
            url.contains("/system/callbackkey/index.rails?companyName="),
            "approved {url:?}"
        );
    }
    let _ = policy.allow_http_for_simulator().check(text);
    let (site, company) = text.split_once('\n').unwrap_or((text, "Cobalt"));
    if let Ok(policy) = KeyUrlPolicy::for_site(site, company) {
        let _ = policy.check(CW_KEY_URL);
        let _ = policy.with_host(company).map(|p| p.check(text));
    }
}

fn autotask_verifier() -> AutotaskVerifier {
    AutotaskVerifier::new(
        tenant(),
        Secret::new(AUTOTASK_SECRET).expect("non-empty secret"),
    )
}

/// Autotask callouts and deactivations. Line 1: `X-Hook-Signature` (or the forger's secret),
/// rest: body. Invariants: a genuine signature passes the signature check (raw form); a forged
/// one never verifies; a body that parses keeps its identity through `dedup_id`.
pub fn autotask_verify(data: &[u8]) {
    let (line, body) = first_line(data);
    let verifier = autotask_verifier();
    let signature = match mode(data) {
        Mode::AsGiven => line.to_vec(),
        Mode::Genuine => AutotaskCallout::sign(AUTOTASK_SECRET.as_bytes(), body).into_bytes(),
        Mode::Forged if !line.is_empty() && !same_hmac_key(line, AUTOTASK_SECRET.as_bytes()) => {
            AutotaskCallout::sign(line, body).into_bytes()
        }
        Mode::Forged => return,
    };
    let headers = Headers::new().with("X-Hook-Signature", &signature);
    let request = WebhookRequest::new(body, &headers, 0);
    let verified = verifier.verify(&request);
    let deactivation = verifier.verify_deactivation(&request);
    match mode(data) {
        Mode::Genuine => {
            let form = verifier.check_signature(&request);
            assert!(form.is_ok(), "a genuine signature was refused: {form:?}");
        }
        Mode::Forged => {
            assert!(verified.is_err(), "accepted a forged callout: {verified:?}");
            assert!(
                deactivation.is_err(),
                "accepted a forged deactivation: {deactivation:?}"
            );
        }
        Mode::AsGiven => {}
    }
    if let Ok(callout) = AutotaskCallout::parse(body) {
        let _ = (
            callout.entity(),
            callout.change_action(),
            callout.is_deactivation(),
        );
        let _ = callout.dedup_id();
    }
}

/// The .NET escaping Autotask signs. Invariant: escaping never changes what a valid JSON
/// document means, and escaping is idempotent on its own output.
pub fn autotask_escape(data: &[u8]) {
    let Some(escaped) = dotnet_escaped(data) else {
        return;
    };
    if let Ok(original) = serde_json::from_slice::<serde_json::Value>(data) {
        let rewritten: serde_json::Value =
            serde_json::from_slice(&escaped).expect("escaped form of valid JSON is valid JSON");
        assert_eq!(original, rewritten);
    }
}

/// The IT Glue path token. Line 1: the token, rest: the body. Invariants: only the current or
/// previous token is accepted; both are accepted for a body within the limit.
pub fn itglue_verify(data: &[u8]) {
    let (token, body) = match data.iter().position(|b| *b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &data[..0]),
    };
    let token = String::from_utf8_lossy(token);
    let verifier = ItGlueWorkflowVerifier::new(
        tenant(),
        Secret::rotating(ITGLUE_TOKENS.0, ITGLUE_TOKENS.1).expect("non-empty tokens"),
    );
    let headers = Headers::new();
    let request = WebhookRequest::new(body, &headers, 0);
    let result = verifier.verify(&token, &request);
    let known = token == ITGLUE_TOKENS.0 || token == ITGLUE_TOKENS.1;
    assert_eq!(result.is_ok(), known, "token {token:?} gave {result:?}");
    for genuine in [ITGLUE_TOKENS.0, ITGLUE_TOKENS.1] {
        assert!(verifier.verify(genuine, &request).is_ok());
    }
}

/// Standard Webhooks. Lines: webhook-id, webhook-timestamp, webhook-signature (or the forger's
/// secret bytes), then the body; "now" is the timestamp, so genuine signatures are in the
/// window. Invariants: genuine is never `BadSignature`; another secret never verifies.
pub fn standard_verify(data: &[u8]) {
    let mut parts = data.splitn(4, |b| *b == b'\n');
    let id = parts.next().unwrap_or_default();
    let timestamp = parts.next().unwrap_or_default();
    let line = parts.next().unwrap_or_default();
    let body = parts.next().unwrap_or_default();

    let ts: Option<i64> = std::str::from_utf8(timestamp)
        .ok()
        .and_then(|t| t.parse().ok());
    let now = ts.map_or(0, |t| t.saturating_mul(1000));
    let verifier = StandardWebhookVerifier::new(
        tenant(),
        &Secret::new(WHSEC).expect("non-empty secret"),
        Side::Psa,
    )
    .expect("valid whsec");
    let verify = |timestamp: &[u8], signature: &[u8]| {
        let headers = Headers::new()
            .with("webhook-id", id)
            .with("webhook-timestamp", timestamp)
            .with("webhook-signature", signature);
        verifier.verify(&WebhookRequest::new(body, &headers, now))
    };
    let (Ok(id_text), Some(ts)) = (std::str::from_utf8(id), ts) else {
        let _ = verify(timestamp, line);
        return;
    };
    // `sign` signs the timestamp as it formats it (no leading zeros, no sign), so the signed
    // deliveries send that text: the verifier signs over the header as sent.
    let canonical = ts.to_string();
    let canonical = canonical.as_bytes();
    match mode(data) {
        Mode::AsGiven => {
            let _ = verify(timestamp, line);
        }
        Mode::Genuine => {
            let signature = StandardWebhook::sign(WHSEC, id_text, ts, body).expect("valid whsec");
            let result = verify(canonical, signature.as_bytes());
            assert!(
                !matches!(result, Err(Rejection::BadSignature)),
                "a genuine signature was refused: {result:?}"
            );
        }
        Mode::Forged => {
            // The forger's key is the line's bytes, as a `whsec_` secret.
            let real = BASE64
                .decode(&WHSEC["whsec_".len()..])
                .expect("WHSEC is base64");
            if line.is_empty() || same_hmac_key(line, &real) {
                return;
            }
            let forger = format!("whsec_{}", BASE64.encode(line));
            if let Ok(signature) = StandardWebhook::sign(&forger, id_text, ts, body) {
                let result = verify(canonical, signature.as_bytes());
                assert!(result.is_err(), "accepted a forged delivery: {result:?}");
            }
        }
    }
}

/// The request plumbing the ingest runs before any verifier: header lookups, the route segment
/// and the body limit. Lines: `name: value` headers until an empty line, then a route segment,
/// then the body. Invariants: lookups are case-insensitive and return the first value; a route
/// segment parses only to the source whose name it is; the limit refuses exactly the bodies
/// longer than it.
pub fn request_parts(data: &[u8]) {
    let mut lines = data.split(|b| *b == b'\n');
    let mut pairs = Vec::new();
    for line in lines.by_ref() {
        if line.is_empty() {
            break;
        }
        let (name, value) = match line.iter().position(|b| *b == b':') {
            Some(at) => (&line[..at], &line[at + 1..]),
            None => (line, &line[..0]),
        };
        pairs.push((String::from_utf8_lossy(name).into_owned(), value));
    }
    let headers = Headers::from_pairs(pairs.iter().map(|(n, v)| (n.as_str(), *v)));
    for (name, _) in &pairs {
        let first = pairs
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v);
        assert_eq!(headers.get(&name.to_ascii_uppercase()), first);
    }
    let _ = format!("{headers:?}");

    let route = lines.next().unwrap_or_default();
    if let Ok(segment) = std::str::from_utf8(route) {
        if let Ok(source) = segment.parse::<WebhookSource>() {
            assert_eq!(source.as_str(), segment);
            let _ = source.event_source();
        }
    }

    let body_len = data.len() / 2;
    let limit = BodyLimit::new(usize::from(data.first().copied().unwrap_or(0)));
    assert_eq!(
        limit.check(&data[..body_len]).is_ok(),
        body_len <= limit.max_bytes()
    );
}
