//! The IT Glue path token never reaches a log line (at debug level, spans included) or a metric.
//! Its own test binary, because it installs the process-wide tracing subscriber.

#[path = "service/common/mod.rs"]
#[allow(dead_code)] // uses a few of the shared fixtures
mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::*;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn itglue_token_is_in_no_log_and_no_metric() {
    let logs = Buffer::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    let h = Harness::start().await;
    let body = b"event password\nresource_url https://acme.itglue.com/1/passwords/2\n";
    let accepted = h
        .post(&format!("/webhooks/acme/itglue/{IT_GLUE_TOKEN}"), &[], body)
        .await;
    assert_eq!(accepted.status, 202);
    // A wrong token that shares a prefix with the real one.
    let refused = h
        .post(
            &format!("/webhooks/acme/itglue/{}x", &IT_GLUE_TOKEN[..12]),
            &[],
            body,
        )
        .await;
    assert_eq!(refused.status, 401);
    // Also while the bus is down (the warn path).
    let mut h = h;
    h.nats.kill();
    let unavailable = h
        .post(&format!("/webhooks/acme/itglue/{IT_GLUE_TOKEN}"), &[], body)
        .await;
    assert_eq!(unavailable.status, 503);

    let metrics = h.get("/metrics").await.1;
    assert!(
        metrics.contains("syncbridge_ingest_requests_total"),
        "{metrics}"
    );
    assert!(!metrics.contains(&IT_GLUE_TOKEN[..12]), "token in /metrics");

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("/webhooks/{tenant}/itglue/{token}"),
        "spans name the route template:\n{text}"
    );
    assert!(
        !text.contains(&IT_GLUE_TOKEN[..12]),
        "token in the logs:\n{text}"
    );
}
