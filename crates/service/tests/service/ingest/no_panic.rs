//! Arbitrary bytes and headers posted to every route never panic the router: every answer is one
//! of the statuses the contract names. Runs in-process (`tower::ServiceExt::oneshot`) with a fake
//! bus, so it needs no server.

use crate::common::config_text;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Request};
use bytes::Bytes;
use proptest::prelude::*;
use syncbridge::config::Config;
use syncbridge::ingest::{BoxFuture, EventSink, Ingest};
use syncbridge_bus::{PublishError, Published};
use syncbridge_model::ChangeEvent;
use tower::ServiceExt;

/// Stores nothing, acknowledges everything (every other publish is a duplicate).
#[derive(Default)]
struct FakeBus {
    seq: AtomicU64,
}

impl EventSink for FakeBus {
    fn publish<'a>(
        &'a self,
        _event: &'a ChangeEvent,
        _body: Bytes,
    ) -> BoxFuture<'a, Result<Published, PublishError>> {
        let seq = self.seq.fetch_add(1, Ordering::SeqCst) + 1;
        Box::pin(async move {
            Ok(Published {
                stream_seq: seq,
                duplicate: seq % 2 == 0,
            })
        })
    }
    fn ready(&self) -> BoxFuture<'_, bool> {
        Box::pin(async { true })
    }
}

/// The harness's tenants (`acme` on ConnectWise, `globex` on Autotask), a body limit of 2 KiB.
/// Nothing listens on port 9: an approved key_url fails fast, and no bus is reached.
fn config() -> Config {
    let text = config_text(
        "nats://127.0.0.1:9",
        "127.0.0.1:9",
        2048,
        "http://127.0.0.1:9/atservicesrest",
    );
    Config::from_toml(&text, &|_| None).unwrap()
}

const PATHS: [&str; 12] = [
    "/webhooks/acme/connectwise",
    "/webhooks/acme/connectwise/123",
    "/webhooks/globex/autotask",
    "/webhooks/globex/autotask/deactivated",
    "/webhooks/acme/itglue/itg-token-Zq81KxPp0vW3mN7r",
    "/webhooks/acme/itglue/%FF%FE",
    "/webhooks/acme/standard",
    "/webhooks/nobody/standard",
    "/webhooks/acme/nothing",
    "/healthz",
    "/readyz",
    "/metrics",
];

const HEADER_NAMES: [&str; 7] = [
    "x-content-signature",
    "x-hook-signature",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "content-length",
    "content-type",
];

/// Header values: arbitrary bytes, or plausible ones (`sha1=…`, `v1,…`, digits).
fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..64),
        "sha1=[A-Za-z0-9+/=]{0,40}".prop_map(String::into_bytes),
        "v1,[A-Za-z0-9+/=]{0,50}".prop_map(String::into_bytes),
        "[0-9]{1,12}".prop_map(String::into_bytes),
    ]
}

/// Bodies: arbitrary bytes, or JSON shaped like the vendors' (with odd values).
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..3000),
        (any::<i64>(), "[ -~]{0,20}", "[ -~]{0,20}").prop_map(|(id, text, kind)| {
            serde_json::json!({
                "MessageId": text, "Action": "updated", "Type": kind, "ID": id, "CompanyId": "acme",
                "Metadata": {"key_url": format!(
                    "http://127.0.0.1:9/v2025_1//system/callbackkey/index.rails?companyName=acme&id=k{}",
                    id.unsigned_abs()
                )},
                "Guid": text, "EntityType": kind, "Id": id, "SequenceNumber": id,
                "type": kind, "data": {"id": text}
            })
            .to_string()
            .into_bytes()
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_deliveries_never_panic(
        path in 0..PATHS.len(),
        post in any::<bool>(),
        headers in proptest::collection::vec((0..HEADER_NAMES.len(), header_value()), 0..6),
        body in body(),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let config = config();
        let router = Ingest::new(&config, Arc::new(FakeBus::default())).unwrap().router();
        let mut request = Request::builder()
            .method(if post { "POST" } else { "GET" })
            .uri(PATHS[path]);
        for (name, value) in headers {
            if let Ok(value) = HeaderValue::from_bytes(&value) {
                request = request.header(HeaderName::from_static(HEADER_NAMES[name]), value);
            }
        }
        let request = request.body(Body::from(body)).unwrap();
        let response = runtime.block_on(router.oneshot(request)).unwrap();
        let status = response.status().as_u16();
        prop_assert!(
            [200, 202, 400, 401, 404, 405, 413, 503].contains(&status),
            "unexpected status {status}"
        );
    }
}
