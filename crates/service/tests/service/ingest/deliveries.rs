//! The ingest against a real nats-server: each source's genuine delivery is stored exactly once,
//! byte for byte, on the contract's subject; forgeries, stale and malformed deliveries are
//! refused with nothing published; redeliveries are recognised.

use crate::common::*;
use syncbridge_webhooks::ConnectWiseCallback;

#[tokio::test]
async fn connectwise_callback_from_the_simulator_is_stored_byte_for_byte() {
    let h = Harness::start().await;
    let (body, status) = genuine_connectwise_callback(&h, "Acme Dental").await;
    assert_eq!(status, Some(202), "the ingest answered the callback 202");

    let events = h.events().await;
    assert_eq!(events.len(), 1, "exactly one event");
    assert_eq!(
        events[0].subject,
        "sync.events.acme.connectwise.organization"
    );
    assert_eq!(events[0].payload, body, "body stored byte for byte");
    let callback = ConnectWiseCallback::parse(&body).unwrap();
    assert_eq!(
        events[0].msg_id.as_deref(),
        Some(format!("acme:connectwise:{}", callback.message_id).as_str())
    );

    // The same callback again (ConnectWise redelivers): duplicate, still one event.
    let headers = [(
        "x-content-signature",
        ConnectWiseCallback::sign(CW_SIGNING_KEY, &body),
    )];
    let again = h
        .post(
            &format!("/webhooks/acme/connectwise/{}", callback.id),
            &headers,
            &body,
        )
        .await;
    assert_eq!(again.status, 202, "{}", again.text);
    assert_eq!(again.json["duplicate"], true);
    assert_eq!(again.json["stream_seq"], 1);
    assert_eq!(h.events().await.len(), 1);

    // Tampered body, wrong key, missing header: 401, nothing published.
    let tampered = String::from_utf8(body.clone())
        .unwrap()
        .replace("Acme Dental", "Acme Dentat")
        .into_bytes();
    let wrong_key = [(
        "x-content-signature",
        ConnectWiseCallback::sign("other-key", &body),
    )];
    for (headers, body) in [
        (&headers[..], &tampered),
        (&wrong_key[..], &body),
        (&[][..], &body),
    ] {
        let answer = h.post("/webhooks/acme/connectwise", headers, body).await;
        assert_eq!(answer.status, 401, "{}", answer.text);
        assert_eq!(answer.json["error"], "verification failed");
    }
    assert_eq!(h.events().await.len(), 1);
}

#[tokio::test]
async fn connectwise_key_url_on_another_host_is_refused_without_any_request() {
    let h = Harness::start().await;
    let (elsewhere, connections) = counting_listener().await;
    for key_url in [
        format!(
            "http://{}/v4_6_release/system/callbackkey/index.rails?id=x",
            elsewhere.replace("127.0.0.1", "localhost")
        ),
        "https://evil.example.com/v4_6_release/system/callbackkey/index.rails?id=x".to_owned(),
        format!(
            "http://user@{}/key",
            h.cw.base_url().trim_start_matches("http://")
        ),
    ] {
        let (body, headers) = signed_callback("attacker-key", &key_url, 1);
        let answer = h.post("/webhooks/acme/connectwise", &headers, &body).await;
        assert_eq!(answer.status, 401, "{key_url}: {}", answer.text);
    }
    assert_eq!(
        connections.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "no outbound request"
    );
    assert!(h.events().await.is_empty());
}

#[tokio::test]
async fn autotask_callout_is_stored_and_redelivery_is_a_duplicate() {
    let h = Harness::start().await;
    let body = autotask_body(1);
    let headers = autotask_headers(&body, AUTOTASK_SECRET);
    let first = h.post("/webhooks/globex/autotask", &headers, &body).await;
    assert_eq!(first.status, 202, "{}", first.text);
    assert_eq!(first.json["duplicate"], false);
    let second = h.post("/webhooks/globex/autotask", &headers, &body).await;
    assert_eq!(second.status, 202);
    assert_eq!(second.json["duplicate"], true);
    assert_eq!(second.json["stream_seq"], first.json["stream_seq"]);

    let events = h.events().await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].subject,
        "sync.events.globex.autotask.organization"
    );
    assert_eq!(events[0].payload, body);
    assert_eq!(
        events[0].msg_id.as_deref(),
        Some("globex:autotask:a1da62a4-2c49-40a8-8183-69994ce5b3eb:351181:Update:1")
    );

    // Tampered, wrong secret, missing header.
    let tampered = autotask_body(2);
    for (headers, body) in [
        (autotask_headers(&body, AUTOTASK_SECRET), tampered.clone()),
        (autotask_headers(&body, "wrong-secret"), body.clone()),
        (vec![], body.clone()),
    ] {
        let answer = h.post("/webhooks/globex/autotask", &headers, &body).await;
        assert_eq!(answer.status, 401, "{}", answer.text);
        assert_eq!(answer.text, r#"{"error":"verification failed"}"#);
    }
    assert_eq!(h.events().await.len(), 1);

    // A ticket callout is authentic but not synced: 2xx, nothing published.
    let ticket = br#"{"Action":"Create","Guid":"g","EntityType":"Ticket","Id":1,"Fields":{},"SequenceNumber":9}"#;
    let answer = h
        .post(
            "/webhooks/globex/autotask",
            &autotask_headers(ticket, AUTOTASK_SECRET),
            ticket,
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(h.events().await.len(), 1);
}

#[tokio::test]
async fn standard_webhook_is_stored_and_stale_or_forged_ones_are_refused() {
    let h = Harness::start().await;
    let body = standard_body();
    let now = now_secs();
    let headers = standard_headers("msg_2VwFwP0JbU0N5D", now, &body, STANDARD_SECRET);
    let first = h.post("/webhooks/acme/standard", &headers, &body).await;
    assert_eq!(first.status, 202, "{}", first.text);
    assert_eq!(first.json["id"], "acme:standard-psa:msg_2VwFwP0JbU0N5D");
    // A retry carries the same webhook-id (and a new timestamp and signature).
    let retry = standard_headers("msg_2VwFwP0JbU0N5D", now + 5, &body, STANDARD_SECRET);
    let second = h.post("/webhooks/acme/standard", &retry, &body).await;
    assert_eq!(second.json["duplicate"], true, "{}", second.text);

    let stale = standard_headers("msg_stale", now - 3600, &body, STANDARD_SECRET);
    let wrong = standard_headers(
        "msg_wrong",
        now,
        &body,
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    );
    let mut missing = standard_headers("msg_missing", now, &body, STANDARD_SECRET);
    missing.pop();
    let mut tampered_body = body.clone();
    tampered_body[10] ^= 1;
    for (headers, body) in [
        (&stale, &body),
        (&wrong, &body),
        (&missing, &body),
        (&headers, &tampered_body),
    ] {
        let answer = h.post("/webhooks/acme/standard", headers, body).await;
        assert_eq!(answer.status, 401, "{}", answer.text);
    }

    let events = h.events().await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].subject,
        "sync.events.acme.standard-psa.organization"
    );
    assert_eq!(events[0].payload, body);
}

#[tokio::test]
async fn itglue_workflow_hint_is_stored_and_a_wrong_token_is_refused() {
    let h = Harness::start().await;
    let body = b"event document\nresource_url https://acme.itglue.com/1234/docs/5678\n";
    let answer = h
        .post(&format!("/webhooks/acme/itglue/{IT_GLUE_TOKEN}"), &[], body)
        .await;
    assert_eq!(answer.status, 202, "{}", answer.text);
    let wrong = h
        .post("/webhooks/acme/itglue/not-the-token-at-all", &[], body)
        .await;
    assert_eq!(wrong.status, 401);
    // Globex has no workflow token configured: no such route for it.
    let unconfigured = h
        .post(
            &format!("/webhooks/globex/itglue/{IT_GLUE_TOKEN}"),
            &[],
            body,
        )
        .await;
    assert_eq!(unconfigured.status, 404);

    let events = h.events().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].subject, "sync.events.acme.itglue.hint");
    assert_eq!(events[0].payload, body);
    assert_eq!(events[0].msg_id, None, "IT Glue sends no message id");
}

#[tokio::test]
async fn malformed_oversize_and_unknown_deliveries_get_their_statuses() {
    let h = Harness::with_body_limit(4096).await;
    // Malformed JSON, correctly signed: 400.
    let garbage = b"{\"Action\": \"Update\", oops";
    let answer = h
        .post(
            "/webhooks/globex/autotask",
            &autotask_headers(garbage, AUTOTASK_SECRET),
            garbage,
        )
        .await;
    assert_eq!(answer.status, 400, "{}", answer.text);
    let now = now_secs();
    let not_json = b"not json";
    let answer = h
        .post(
            "/webhooks/acme/standard",
            &standard_headers("msg_1", now, not_json, STANDARD_SECRET),
            not_json,
        )
        .await;
    assert_eq!(answer.status, 400, "{}", answer.text);

    // Over the limit, with and without a Content-Length the server can see up front.
    let big = vec![b'x'; 4097];
    let answer = h
        .post(
            "/webhooks/globex/autotask",
            &autotask_headers(&big, AUTOTASK_SECRET),
            &big,
        )
        .await;
    assert_eq!(answer.status, 413, "{}", answer.text);
    // Chunked, no Content-Length: the limit is enforced while reading.
    let status = post_chunked(&h.url, "/webhooks/acme/standard", 16, 1024).await;
    assert!(status.starts_with("HTTP/1.1 413"), "{status}");

    // Unknown tenant, unknown source, a source the tenant does not have.
    for path in [
        "/webhooks/nobody/autotask",
        "/webhooks/acme/syncro",
        "/webhooks/acme/autotask",
        "/webhooks/globex/connectwise",
        "/webhooks/globex/standard",
    ] {
        let answer = h.post(path, &[], b"{}").await;
        assert_eq!(answer.status, 404, "{path}: {}", answer.text);
    }
    assert!(h.events().await.is_empty());
}

#[tokio::test]
async fn health_readiness_and_deactivation_notices() {
    let h = Harness::start().await;
    assert_eq!(h.get("/healthz").await.0, 200);
    assert_eq!(h.get("/readyz").await.0, 200);

    let notice = br#"{"Action":"Deactivated","Guid":"a1da62a4-2c49-40a8-8183-69994ce5b3eb","EntityType":"Company"}"#;
    // Forged (wrong secret): refused before the API is even asked.
    let forged = h
        .post(
            "/webhooks/globex/autotask/deactivated",
            &autotask_headers(notice, "forged"),
            notice,
        )
        .await;
    assert_eq!(forged.status, 401);
    assert_eq!(h.checker.calls.load(std::sync::atomic::Ordering::SeqCst), 0);

    // Authentic but the API says the webhook is active: nothing changes.
    *h.checker.answer.lock().unwrap() =
        Some(syncbridge::ingest::deactivation::WebhookState::Active);
    let unconfirmed = h
        .post(
            "/webhooks/globex/autotask/deactivated",
            &autotask_headers(notice, AUTOTASK_SECRET),
            notice,
        )
        .await;
    assert_eq!(unconfirmed.status, 200);
    assert_eq!(unconfirmed.json["deactivation"], "not_confirmed");
    let metrics = h.get("/metrics").await.1;
    assert!(
        !metrics.contains("syncbridge_autotask_webhook_deactivated{tenant=\"globex\"} 1"),
        "no alert for an unconfirmed notice"
    );

    // API unreachable: 503 so Autotask retries, nothing changes.
    *h.checker.answer.lock().unwrap() = None;
    let unknown = h
        .post(
            "/webhooks/globex/autotask/deactivated",
            &autotask_headers(notice, AUTOTASK_SECRET),
            notice,
        )
        .await;
    assert_eq!(unknown.status, 503);
    assert!(unknown.retry_after.is_some());

    // Confirmed: the alert is raised.
    *h.checker.answer.lock().unwrap() =
        Some(syncbridge::ingest::deactivation::WebhookState::Inactive);
    let confirmed = h
        .post(
            "/webhooks/globex/autotask/deactivated",
            &autotask_headers(notice, AUTOTASK_SECRET),
            notice,
        )
        .await;
    assert_eq!(confirmed.json["deactivation"], "confirmed");
    let metrics = h.get("/metrics").await.1;
    assert!(
        metrics.contains("syncbridge_autotask_webhook_deactivated{tenant=\"globex\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains(
        "syncbridge_autotask_deactivation_notices_total{tenant=\"globex\",outcome=\"confirmed\"} 1"
    ));
    assert!(h.events().await.is_empty(), "a notice is not an event");
}

/// POSTs `chunks` × `chunk_size` bytes with `Transfer-Encoding: chunked`; returns the status line.
async fn post_chunked(base: &str, path: &str, chunks: usize, chunk_size: usize) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    for _ in 0..chunks {
        let chunk = format!("{chunk_size:x}\r\n{}\r\n", "y".repeat(chunk_size));
        // The server may answer and close early: stop writing then.
        if socket.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
    }
    let _ = socket.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = socket.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// A genuine-shape Autotask callout of exactly `len` bytes (a long `Notes` field).
fn autotask_body_of_len(len: usize) -> Vec<u8> {
    let base = String::from_utf8(autotask_body(1)).unwrap();
    let field = r#""CompanyName":"Globex & Sons""#;
    let padding = len - base.len() - r#","Notes":"""#.len();
    base.replace(
        field,
        &format!(r#"{field},"Notes":"{}""#, "n".repeat(padding)),
    )
    .into_bytes()
}

#[tokio::test]
async fn a_body_at_the_default_limit_is_stored_and_one_byte_more_is_refused() {
    // The default limit leaves room for the event's headers under NATS's default max_payload, so
    // every body the ingest accepts can be stored (a body of 1 MiB cannot: the bus refused it
    // after verification, and the vendor was told its body was over the limit).
    let h = Harness::start().await;
    let limit = h.config.ingest.body_limit.max_bytes();
    let body = autotask_body_of_len(limit);
    assert_eq!(body.len(), limit);
    let answer = h
        .post(
            "/webhooks/globex/autotask",
            &autotask_headers(&body, AUTOTASK_SECRET),
            &body,
        )
        .await;
    assert_eq!(answer.status, 202, "{}", answer.text);
    let events = h.events().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].payload, body, "stored byte for byte");

    let over = autotask_body_of_len(limit + 1);
    let answer = h
        .post(
            "/webhooks/globex/autotask",
            &autotask_headers(&over, AUTOTASK_SECRET),
            &over,
        )
        .await;
    assert_eq!(answer.status, 413, "{}", answer.text);
    assert_eq!(h.events().await.len(), 1);
}

#[tokio::test]
async fn the_connectwise_url_without_a_record_id_is_refused_saying_why() {
    let h = Harness::start().await;
    // The URL as registered (`…/connectwise/`), with nothing appended: not a ConnectWise
    // callback, and the answer says what ConnectWise would have sent.
    let answer = h.post("/webhooks/acme/connectwise/", &[], b"{}").await;
    assert_eq!(answer.status, 400, "{}", answer.text);
    let error = answer.json["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("ConnectWise appends the record id") && error.contains("/connectwise/<id>"),
        "{}",
        answer.text
    );
    // A tenant without ConnectWise, and an unknown tenant: not found, as on every other route.
    for path in [
        "/webhooks/globex/connectwise/",
        "/webhooks/nobody/connectwise/",
    ] {
        let answer = h.post(path, &[], b"{}").await;
        assert_eq!(answer.status, 404, "{path}: {}", answer.text);
    }
    assert!(h.events().await.is_empty());
}
