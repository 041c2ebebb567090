//! Publishing events: dedup by msg id, raw body and envelope on the wire, and the typed
//! "unavailable" error while the server is down, with recovery after its restart.

use crate::common;

use std::time::Duration;

use async_nats::jetstream::consumer::pull;
use bytes::Bytes;
use futures_util::StreamExt;
use syncbridge_bus::names::EVENTS_STREAM;
use syncbridge_bus::{EventPublisher, PublishError};
use syncbridge_model::ChangeEvent;

#[tokio::test]
async fn the_same_msg_id_twice_stores_one_message() {
    let (_server, conn) = common::ready_server().await;
    let publisher = EventPublisher::new(conn.clone(), common::OP_TIMEOUT);
    let event = common::event(Some("cw-msg-1"));

    let first = publisher
        .publish(&event, Bytes::from_static(b"{}"))
        .await
        .unwrap();
    let second = publisher
        .publish(&event, Bytes::from_static(b"{}"))
        .await
        .unwrap();
    assert!(!first.duplicate);
    assert!(second.duplicate);
    assert_eq!(second.stream_seq, first.stream_seq);

    let mut stream = conn.jetstream().get_stream(EVENTS_STREAM).await.unwrap();
    assert_eq!(stream.info().await.unwrap().state.messages, 1);

    // Without a msg id nothing is deduplicated.
    let plain = common::event(None);
    let a = publisher.publish(&plain, Bytes::new()).await.unwrap();
    let b = publisher.publish(&plain, Bytes::new()).await.unwrap();
    assert!(!a.duplicate && !b.duplicate);
    assert_ne!(a.stream_seq, b.stream_seq);
}

#[tokio::test]
async fn the_body_is_the_raw_vendor_bytes_and_the_envelope_travels_in_headers() {
    let (_server, conn) = common::ready_server().await;
    let publisher = EventPublisher::new(conn.clone(), common::OP_TIMEOUT);
    let event = common::event(Some("m-7"));
    let body = Bytes::from_static(b"\x00{\"Action\": \"updated\"}\r\n\xff");
    publisher.publish(&event, body.clone()).await.unwrap();

    let stream = conn.jetstream().get_stream(EVENTS_STREAM).await.unwrap();
    let consumer = stream
        .create_consumer(pull::Config {
            filter_subject: "sync.events.acme.>".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut messages = consumer.fetch().max_messages(1).messages().await.unwrap();
    let message = messages.next().await.expect("one message").unwrap();
    assert_eq!(
        message.subject.as_str(),
        "sync.events.acme.connectwise.organization"
    );
    assert_eq!(message.payload, body);
    let headers = message.headers.as_ref().expect("headers");
    let back = ChangeEvent::from_headers(|k| headers.get(k).map(|v| v.as_str())).unwrap();
    assert_eq!(back, event);
}

#[tokio::test]
async fn a_killed_server_gives_unavailable_then_publishing_recovers_after_restart() {
    let (mut server, conn) = common::ready_server().await;
    let publisher = EventPublisher::new(conn.clone(), Duration::from_secs(2));
    publisher
        .publish(&common::event(Some("before")), Bytes::new())
        .await
        .unwrap();

    server.kill();
    // An upper bound for "it answered at all": the publish timeout plus slack.
    let outcome = tokio::time::timeout(
        Duration::from_secs(20),
        publisher.publish(&common::event(Some("during")), Bytes::new()),
    )
    .await
    .expect("publish must answer within its timeout while the server is down");
    let err = outcome.expect_err("nothing can be stored while the server is down");
    assert!(err.is_unavailable(), "{err:?}");
    assert!(matches!(err, PublishError::Unavailable { .. }));

    server.restart().await.unwrap();
    // Same Connection: the client reconnects by itself.
    let after_event = common::event(Some("after"));
    let after = common::eventually("publish after restart", || {
        publisher.publish(&after_event, Bytes::new())
    })
    .await;
    assert!(!after.duplicate);
    assert!(conn.is_connected());
    // The event acknowledged before the crash is still there.
    let again = publisher
        .publish(&common::event(Some("before")), Bytes::new())
        .await
        .unwrap();
    assert!(
        again.duplicate,
        "the pre-crash event survived with its dedup id"
    );
}
