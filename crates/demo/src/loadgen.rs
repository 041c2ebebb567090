//! `syncbridge-demo loadgen`: the ingest floor's load generator (`baseline load` in
//! ../shared/bench/baseline) with one addition, a body size, so that the ingest can be compared
//! with the floor at 1 KB and 8 KB bodies (issue 12) and not only at the floor's ~260 bytes.
//!
//! Everything else is the floor's `load`, kept as close as we can so that the two generators'
//! figures stay comparable: the same closed loop (CONC tasks, each sending its next request as soon
//! as the last one was answered, until SECS have passed), the same HTTP client (reqwest, one
//! client, `pool_max_idle_per_host(CONC)`, the response's body never read), the same Autotask
//! callout and signatures, and the same output line, `req/s p50_ms p99_ms non_2xx total`.
//!
//! What differs, on purpose:
//! - with a body size, every callout gets one more `Fields` entry, [`PADDING_FIELD`], holding
//!   enough `x` to make the body that many bytes; without one the body is the floor's, byte for
//!   byte;
//! - for KIND `bare`, `x-id` (`baseline serve`'s Nats-Msg-Id) is the delivery's Guid instead of
//!   its sequence number, so that it stays distinct across runs (the floor's warm-up and measured
//!   run on one `baseline serve` repeat ids 0, 1, …, which JetStream then answers as duplicates);
//! - the HMAC is keyed once and cloned per request rather than keyed per request (the same
//!   bytes are signed; it only removes a call that could fail from the loop).

use std::fmt;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::RngCore as _;
use sha1::Sha1;
use sha2::Sha256;

/// `baseline serve`'s fixed key: its load signs KIND `bare` with it whatever SECRET says.
pub const BARE_KEY: &[u8] = b"baseline-secret";

/// The `Fields` entry that pads a callout to the requested size. Not an Autotask field: the
/// ingest only needs `Fields` to be an object, and a name that says what it is reads better in a
/// stored event than a real field filled with `x`.
pub const PADDING_FIELD: &str = "BenchPadding";

/// How deliveries are signed, as in the floor's load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// For `baseline serve`: `x-signature: base64(HMAC-SHA256(BARE_KEY, body))` and `x-id`.
    Bare,
    /// For an Autotask webhook URL: `X-Hook-Signature: sha1=base64(HMAC-SHA1(SECRET, body))`.
    Autotask,
}

impl std::str::FromStr for Kind {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "bare" => Ok(Kind::Bare),
            "autotask" => Ok(Kind::Autotask),
            other => Err(format!(
                "unknown kind {other:?} (expected bare or autotask)"
            )),
        }
    }
}

/// One load run.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub url: String,
    pub kind: Kind,
    /// The Autotask webhook secret (unused for [`Kind::Bare`], as in the floor).
    pub secret: String,
    pub duration: Duration,
    pub connections: usize,
    /// Pad every body to this many bytes; `None` sends the floor's body as it is.
    pub body_bytes: Option<usize>,
}

/// What a run measured: the floor's output line.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadReport {
    pub requests_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Requests answered with anything but a 2xx, or not answered at all.
    pub non_2xx: u64,
    /// Requests completed, whatever their answer.
    pub total: usize,
}

impl fmt::Display for LoadReport {
    /// `req/s p50_ms p99_ms non_2xx total`, formatted as the floor prints it (scripts parse it).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:.0} {:.2} {:.2} {} {}",
            self.requests_per_second, self.p50_ms, self.p99_ms, self.non_2xx, self.total
        )
    }
}

/// Runs the closed loop and reports on it. Fails when no request completed at all (the floor
/// would panic there) or when the client cannot be built.
pub async fn run(options: &LoadOptions) -> anyhow::Result<LoadReport> {
    anyhow::ensure!(options.connections > 0, "connections must be at least 1");
    anyhow::ensure!(!options.duration.is_zero(), "seconds must be at least 1");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(options.connections)
        .build()
        .context("building the HTTP client")?;
    let signer = Signer::new(options.kind, options.secret.as_bytes())?;
    let deadline = Instant::now() + options.duration;
    let sequence = Arc::new(AtomicU64::new(0));
    let non_2xx = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::with_capacity(options.connections);
    for _ in 0..options.connections {
        let (client, url, signer, sequence, non_2xx) = (
            client.clone(),
            options.url.clone(),
            signer.clone(),
            sequence.clone(),
            non_2xx.clone(),
        );
        let body_bytes = options.body_bytes;
        tasks.push(tokio::spawn(async move {
            // Microseconds, as u32, as in the floor: 400 kB per 100 000 requests.
            let mut latencies_us: Vec<u32> = Vec::with_capacity(100_000);
            while Instant::now() < deadline {
                let n = sequence.fetch_add(1, Ordering::Relaxed);
                let guid = random_guid();
                let body = callout_body(&guid, n, body_bytes);
                let request = client.post(&url).header("content-type", "application/json");
                let request = match &signer {
                    Signer::Autotask(mac) => {
                        request.header("X-Hook-Signature", format!("sha1={}", sign(mac, &body)))
                    }
                    // x-id is the Guid, not n: see the module doc.
                    Signer::Bare(mac) => request
                        .header("x-signature", sign(mac, &body))
                        .header("x-id", guid),
                };
                let started = Instant::now();
                // The response's body is not read, as in the floor (hyper drains a small one
                // that already arrived, so the connection is still reused).
                match request.body(body).send().await {
                    Ok(response) if response.status().is_success() => {}
                    _ => {
                        non_2xx.fetch_add(1, Ordering::Relaxed);
                    }
                }
                latencies_us.push(u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX));
            }
            latencies_us
        }));
    }
    let mut latencies_us = Vec::new();
    for task in tasks {
        latencies_us.extend(task.await.context("a load task failed")?);
    }
    anyhow::ensure!(
        !latencies_us.is_empty(),
        "no request completed in {:?}",
        options.duration
    );
    latencies_us.sort_unstable();
    Ok(LoadReport {
        // Over the nominal duration, as the floor counts (the last requests end a little after).
        requests_per_second: latencies_us.len() as f64 / options.duration.as_secs_f64(),
        p50_ms: percentile_ms(&latencies_us, 0.5),
        p99_ms: percentile_ms(&latencies_us, 0.99),
        non_2xx: non_2xx.load(Ordering::Relaxed),
        total: latencies_us.len(),
    })
}

/// The floor's percentile: the value at index `len × p` of the sorted latencies, in ms.
fn percentile_ms(sorted_us: &[u32], p: f64) -> f64 {
    let index = ((sorted_us.len() as f64 * p) as usize).min(sorted_us.len() - 1);
    f64::from(sorted_us[index]) / 1000.0
}

/// The keyed HMAC for a [`Kind`], cloned for every request.
#[derive(Clone)]
enum Signer {
    Bare(Hmac<Sha256>),
    Autotask(Hmac<Sha1>),
}

impl Signer {
    fn new(kind: Kind, secret: &[u8]) -> anyhow::Result<Self> {
        Ok(match kind {
            Kind::Bare => Signer::Bare(
                Hmac::new_from_slice(BARE_KEY).context("keying HMAC-SHA256 with the bare key")?,
            ),
            Kind::Autotask => Signer::Autotask(
                Hmac::new_from_slice(secret).context("keying HMAC-SHA1 with the secret")?,
            ),
        })
    }
}

/// base64 of the keyed `mac` over `body`.
fn sign<M: Mac + Clone>(mac: &M, body: &str) -> String {
    let mut mac = mac.clone();
    mac.update(body.as_bytes());
    BASE64.encode(mac.finalize().into_bytes())
}

/// A random version-4 UUID, hyphenated, as `uuid::Uuid::new_v4()` gives the floor. Read from
/// the OS as uuid does (one getrandom call per delivery), so the generator's own work per request
/// stays the floor's.
pub fn random_guid() -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let mut text = String::with_capacity(36);
    for (i, byte) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            text.push('-');
        }
        // Writing to a String cannot fail.
        let _ = write!(text, "{byte:02x}");
    }
    text
}

/// Delivery `n`'s Autotask callout: the floor's body (a Company update, `Id` 1000 + n,
/// `SequenceNumber` n), padded with a [`PADDING_FIELD`] entry in `Fields` to exactly
/// `body_bytes` when that is asked for and larger than the body plus the entry's own syntax
/// (otherwise the floor's body as it is).
pub fn callout_body(guid: &str, n: u64, body_bytes: Option<usize>) -> String {
    // Room for the floor's ~260 bytes or for the size asked for: one allocation per body.
    let mut body = String::with_capacity(body_bytes.unwrap_or(0).max(384));
    // Writing to a String cannot fail.
    let _ = write!(
        body,
        r#"{{"Action":"Update","Guid":"{guid}","EntityType":"Company","Id":{},"Fields":{{"CompanyName":"Company {n} & Sons","Phone":"555-0100","City":"Zürich""#,
        1000 + n
    );
    let fields_end = body.len();
    let _ = write!(
        body,
        r#"}},"EventTime":"2026-11-20T10:00:00Z","SequenceNumber":{n},"PersonID":30691780}}"#
    );
    // `,"BenchPadding":""` around the padding itself.
    let entry_syntax = PADDING_FIELD.len() + 6;
    let padding = body_bytes
        .map(|wanted| wanted.saturating_sub(body.len() + entry_syntax))
        .unwrap_or(0);
    if padding > 0 {
        let entry = format!(r#","{PADDING_FIELD}":"{}""#, "x".repeat(padding));
        body.insert_str(fields_end, &entry);
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use syncbridge_model::TenantId;
    use syncbridge_webhooks::{AutotaskVerifier, Headers, Secret, Verified, WebhookRequest};

    const GUID: &str = "0f8e2c4a-1b3d-4e5f-8a6b-7c8d9e0f1a2b";

    fn accepted_msg_id(body: &str, signature: &str) -> Option<String> {
        let verifier = AutotaskVerifier::new(
            TenantId::new("bench").expect("a valid tenant id"),
            Secret::new("bench-secret").expect("a valid secret"),
        );
        let headers = Headers::new().with("x-hook-signature", signature);
        match verifier.verify(&WebhookRequest::new(body.as_bytes(), &headers, 0)) {
            Ok(Verified::Event(event)) => event.envelope.msg_id,
            other => panic!("not accepted as an event: {other:?}"),
        }
    }

    fn autotask_signature(body: &str) -> String {
        let signer = Signer::new(Kind::Autotask, b"bench-secret").expect("keyed");
        let Signer::Autotask(mac) = signer else {
            unreachable!()
        };
        format!("sha1={}", sign(&mac, body))
    }

    #[test]
    fn without_a_size_the_body_is_the_floors() {
        let expected = format!(
            r#"{{"Action":"Update","Guid":"{GUID}","EntityType":"Company","Id":1007,"Fields":{{"CompanyName":"Company 7 & Sons","Phone":"555-0100","City":"Zürich"}},"EventTime":"2026-11-20T10:00:00Z","SequenceNumber":7,"PersonID":30691780}}"#
        );
        assert_eq!(callout_body(GUID, 7, None), expected);
        // A size the floor's body already reaches changes nothing either.
        assert_eq!(callout_body(GUID, 7, Some(100)), expected);
    }

    #[test]
    fn padded_bodies_have_the_size_asked_for_and_are_accepted() {
        for size in [1024, 8192] {
            let body = callout_body(GUID, 123_456, Some(size));
            assert_eq!(body.len(), size);
            let parsed: serde_json::Value = serde_json::from_str(&body).expect("JSON");
            let padding = parsed["Fields"][PADDING_FIELD].as_str().expect("padding");
            assert!(padding.bytes().all(|b| b == b'x'));
            assert_eq!(parsed["SequenceNumber"], 123_456);
            let msg_id = accepted_msg_id(&body, &autotask_signature(&body));
            assert_eq!(
                msg_id.as_deref(),
                Some(format!("{GUID}:124456:Update:123456").as_str())
            );
        }
    }

    #[test]
    fn deliveries_are_distinct() {
        let (a, b) = (random_guid(), random_guid());
        assert_ne!(a, b);
        let msg_ids: Vec<_> = [(a.as_str(), 1), (b.as_str(), 1), (a.as_str(), 2)]
            .into_iter()
            .map(|(guid, n)| {
                let body = callout_body(guid, n, Some(1024));
                accepted_msg_id(&body, &autotask_signature(&body))
            })
            .collect();
        assert_ne!(msg_ids[0], msg_ids[1]);
        assert_ne!(msg_ids[0], msg_ids[2]);
    }

    #[test]
    fn guids_are_version_4_uuids() {
        let guid = random_guid();
        let groups: Vec<_> = guid.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12]);
        assert_eq!(guid.as_bytes()[14], b'4');
        assert!(matches!(guid.as_bytes()[19], b'8' | b'9' | b'a' | b'b'));
    }

    #[test]
    fn bare_signature_is_baseline_serves() {
        let body = callout_body(GUID, 1, Some(1024));
        let Signer::Bare(mac) = Signer::new(Kind::Bare, b"ignored").expect("keyed") else {
            unreachable!()
        };
        let signature = BASE64.decode(sign(&mac, &body)).expect("base64");
        // What `baseline serve` checks: HMAC-SHA256 with its fixed key over the raw body.
        let mut check = Hmac::<Sha256>::new_from_slice(b"baseline-secret").expect("keyed");
        check.update(body.as_bytes());
        check.verify_slice(&signature).expect("verifies");
    }

    #[test]
    fn the_report_line_is_the_floors() {
        let report = LoadReport {
            requests_per_second: 25384.4,
            p50_ms: 2.356,
            p99_ms: 5.69,
            non_2xx: 0,
            total: 203075,
        };
        assert_eq!(report.to_string(), "25384 2.36 5.69 0 203075");
        assert_eq!(percentile_ms(&[1000, 2000, 3000, 4000], 0.5), 3.0);
        assert_eq!(percentile_ms(&[1000, 2000, 3000, 4000], 0.99), 4.0);
    }
}
