//! NATS goes away and comes back while syncbridge keeps running: deliveries are answered 503 with
//! `Retry-After` (never 202: nothing unstored is acknowledged), nothing panics, and after the
//! server is back the vendor's retry is stored exactly once. While the client knows it is
//! disconnected the 503 comes at once, not after the publish timeout.

use std::sync::Arc;
use std::time::Duration;

use crate::common::*;
use syncbridge::ingest::{Ingest, NatsSink};
use syncbridge_bus::{connect, ConnectConfig};

#[tokio::test]
async fn outage_answers_503_and_the_vendor_retry_lands_exactly_once() {
    let mut h = Harness::start().await;
    let body = autotask_body(7);
    let headers = autotask_headers(&body, AUTOTASK_SECRET);

    h.nats.kill();
    let answer = h.post("/webhooks/globex/autotask", &headers, &body).await;
    assert_eq!(answer.status, 503, "{}", answer.text);
    let retry_after: u64 = answer
        .retry_after
        .as_deref()
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!(retry_after >= 1);
    // Still alive, and honest about it.
    assert_eq!(h.get("/healthz").await.0, 200);
    assert_eq!(h.get("/readyz").await.0, 503);

    h.nats.restart().await.expect("restart nats-server");
    // The vendor retries the same delivery until it is acknowledged.
    let accepted = eventually("a retry is accepted after the restart", || async {
        let answer = h.post("/webhooks/globex/autotask", &headers, &body).await;
        (answer.status == 202).then_some(answer)
    })
    .await;
    // The publish that timed out may have landed after reconnecting: then the retry is the
    // duplicate. Either way there is exactly one event.
    let _ = accepted.json["duplicate"]
        .as_bool()
        .expect("duplicate flag");
    let events = eventually("the event is readable", || async {
        let events = stored_events(&h.conn).await;
        (!events.is_empty()).then_some(events)
    })
    .await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].payload, body);

    // And the next new delivery is plainly accepted, without restarting syncbridge.
    let next = autotask_body(8);
    let answer = h
        .post(
            "/webhooks/globex/autotask",
            &autotask_headers(&next, AUTOTASK_SECRET),
            &next,
        )
        .await;
    assert_eq!(answer.status, 202, "{}", answer.text);
    assert_eq!(answer.json["duplicate"], false);
    assert_eq!(h.get("/readyz").await.0, 200);
    assert_eq!(stored_events(&h.conn).await.len(), 2);
}

#[tokio::test]
async fn while_disconnected_the_503_does_not_wait_out_the_publish_timeout() {
    let mut h = Harness::start().await;
    // An ingest whose publish timeout (and its connection's request timeout, as `serve` sets
    // them) is far longer than a request may last (ingest's request_timeout, 30 s, answers 408):
    // a 503 can only come from not waiting for the publish.
    let mut connect_config = ConnectConfig::new(h.nats.url());
    connect_config.request_timeout = Duration::from_secs(600);
    let conn = connect(&connect_config).await.expect("connect");
    let sink = Arc::new(NatsSink::new(conn.clone(), Duration::from_secs(600)));
    let router = Ingest::new(&h.config, sink).unwrap().router();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let body = autotask_body(9);
    let post = || async {
        let mut request = h
            .http
            .post(format!("{url}/webhooks/globex/autotask"))
            .body(body.clone());
        for (name, value) in autotask_headers(&body, AUTOTASK_SECRET) {
            request = request.header(name, value);
        }
        let response = request.send().await.expect("ingest answers");
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        (response.status().as_u16(), retry_after)
    };

    h.nats.kill();
    eventually("the client knows it is disconnected", || async {
        (!conn.is_connected()).then_some(())
    })
    .await;
    let (status, retry_after) = post().await;
    assert_eq!(status, 503);
    assert_eq!(retry_after.as_deref(), Some("3"));

    // Connected again, the normal path stores the vendor's retry, once.
    h.nats.restart().await.expect("restart nats-server");
    eventually("a retry is accepted after the restart", || async {
        (post().await.0 == 202).then_some(())
    })
    .await;
    let events = stored_events(&h.conn).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].payload, body);
}
