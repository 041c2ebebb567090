//! NATS goes away and comes back while syncbridge keeps running: deliveries are answered 503 with
//! `Retry-After` (never 202: nothing unstored is acknowledged), nothing panics, and after the
//! server is back the vendor's retry is stored exactly once.

use crate::common::*;

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
