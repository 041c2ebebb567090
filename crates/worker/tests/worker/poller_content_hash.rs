//! Polling by listing and content hash (sources without a modified-since query), and the
//! safety-net judgement of a webhook-fed source's poll.

use std::sync::Mutex;
use std::time::Duration;

use crate::common::*;
use bytes::Bytes;
use syncbridge_bus::EventPublisher;
use syncbridge_model::{ChangeAction, ChangeEvent, Entity, EventSource, Field, PsaKind, Record};
use syncbridge_worker::content_hash::{content_hash, shard_key, shard_of, Shard};
use syncbridge_worker::poller::{ChangeFeed, Changed, Listing, Poller, SafetyNet};
use syncbridge_worker::ApiError;

const SOURCE: EventSource = EventSource::Psa(PsaKind::Tigerpaw);

/// A source without modified-since: it only lists.
#[derive(Default)]
struct ListingFeed(Mutex<Vec<Record>>);

impl ListingFeed {
    fn put(&self, record: Record) {
        let mut all = self.0.lock().unwrap();
        all.retain(|r| r.id != record.id);
        all.push(record);
    }

    fn remove(&self, id: &str) {
        self.0.lock().unwrap().retain(|r| r.id != id);
    }
}

impl ChangeFeed for ListingFeed {
    async fn changed_since(&self, _: Entity, _: i64) -> Result<Vec<Changed>, ApiError> {
        unreachable!("the poller asks for the listing")
    }

    async fn listing(&self, entity: Entity, _since: i64) -> Result<Listing, ApiError> {
        assert_eq!(entity, Entity::Organization);
        Ok(Listing::All(self.0.lock().unwrap().clone()))
    }
}

fn account(id: &str, name: &str) -> Record {
    Record::new(id).with(Field::Name, name)
}

fn poller<F>(h: &Harness<Nats>, feed: F) -> Poller<F> {
    Poller {
        tenant: tenant(),
        source: SOURCE,
        feed,
        entities: vec![Entity::Organization],
        publisher: EventPublisher::new(h.backend.conn.clone(), Duration::from_secs(5)),
        state: h.stores.state.clone(),
        safety_net: None,
        synced: None,
    }
}

/// (action, record id, Nats-Msg-Id) of every stored event, in order.
async fn events(h: &Harness<Nats>) -> Vec<(String, String, String)> {
    let mut stream = h
        .backend
        .conn
        .jetstream()
        .get_stream("SYNC_EVENTS")
        .await
        .unwrap();
    let n = stream.info().await.unwrap().state.last_sequence;
    let mut out = Vec::new();
    for seq in 1..=n {
        let msg = stream.get_raw_message(seq).await.unwrap();
        let get = |k: &str| msg.headers.get(k).unwrap().as_str().to_owned();
        out.push((
            get("Sync-Action"),
            get("Sync-Record-Id"),
            get("Nats-Msg-Id"),
        ));
    }
    out
}

#[tokio::test]
async fn content_hash_polls_publish_edits_and_deletions_once() {
    let h = Harness::<Nats>::start().await;
    let feed = ListingFeed::default();
    for (id, name) in [("1", "Acme"), ("2", "Globex"), ("3", "Initech")] {
        feed.put(account(id, name));
    }
    // Stamped before the watermark: the full sync's; a vendor stamp after it would be published.
    let mut stamped = account("4", "Umbrella");
    stamped.updated_at = T0 - 1;
    feed.put(stamped);
    let p = poller(&h, feed);

    let baseline = p.poll_once(T0, T0 + 1_000).await.unwrap();
    assert_eq!(
        (baseline.published, baseline.duplicates),
        (0, 0),
        "the first listing is the baseline"
    );
    let shard = h
        .stores
        .state
        .get::<Shard>(&shard_key(&tenant(), SOURCE, Entity::Organization, shard_of("2")).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        shard.value.hashes.get("2"),
        Some(&content_hash(&account("2", "Globex")))
    );

    // One edit: one event, dedup id {entity}:{id}:{hash}.
    p.feed.put(account("2", "Globex Corp"));
    let edit = p.poll_once(T0, T0 + 2_000).await.unwrap();
    assert_eq!((edit.published, edit.duplicates, edit.deleted), (1, 0, 0));
    // Nothing changed: nothing published, nothing even offered to the dedup window.
    let again = p.poll_once(T0, T0 + 3_000).await.unwrap();
    assert_eq!((again.published, again.duplicates), (0, 0));

    // A vanished record: one delete.
    p.feed.remove("3");
    let gone = p.poll_once(T0, T0 + 4_000).await.unwrap();
    assert_eq!((gone.published, gone.deleted), (1, 1));
    let again = p.poll_once(T0, T0 + 5_000).await.unwrap();
    assert_eq!((again.published, again.duplicates), (0, 0));

    let hash = content_hash(&account("2", "Globex Corp"));
    let deleted = content_hash(&account("3", "Initech"));
    assert_eq!(
        events(&h).await,
        vec![
            (
                "upsert".into(),
                "2".into(),
                format!("acme:tigerpaw:organization:2:{hash}")
            ),
            (
                "delete".into(),
                "3".into(),
                format!("acme:tigerpaw:organization:3:deleted-{deleted}")
            ),
        ]
    );
}

#[tokio::test]
async fn a_recreated_poller_loses_and_duplicates_nothing() {
    let h = Harness::<Nats>::start().await;
    let feed = ListingFeed::default();
    feed.put(account("1", "Acme"));
    feed.put(account("2", "Globex"));
    let first = poller(&h, feed);
    first.poll_once(T0, T0 + 1_000).await.unwrap();

    // An edit while no poller runs is found by a new poller (hashes reloaded from KV).
    first.feed.put(account("1", "Acme Ltd"));
    let feed = std::mem::take(&mut *first.feed.0.lock().unwrap());
    drop(first);
    let second = poller(&h, ListingFeed(Mutex::new(feed)));
    let found = second.poll_once(T0, T0 + 2_000).await.unwrap();
    assert_eq!((found.published, found.duplicates), (1, 0));
    let quiet = second.poll_once(T0, T0 + 3_000).await.unwrap();
    assert_eq!((quiet.published, quiet.duplicates), (0, 0));

    // A poller that died between publishing and storing: its shard is still the old one. The
    // next poller publishes the same dedup id again, and the stream absorbs it.
    let key = shard_key(&tenant(), SOURCE, Entity::Organization, shard_of("2")).unwrap();
    let before = h.stores.state.get::<Shard>(&key).await.unwrap().unwrap();
    second.feed.put(account("2", "Globex Corp"));
    let edit = second.poll_once(T0, T0 + 4_000).await.unwrap();
    assert_eq!(edit.published, 1);
    let after = h.stores.state.get::<Shard>(&key).await.unwrap().unwrap();
    h.stores
        .state
        .set(&key, &before.value, Some(after.revision))
        .await
        .unwrap();
    let feed = std::mem::take(&mut *second.feed.0.lock().unwrap());
    let third = poller(&h, ListingFeed(Mutex::new(feed)));
    let replayed = third.poll_once(T0, T0 + 5_000).await.unwrap();
    assert_eq!((replayed.published, replayed.duplicates), (0, 1));
    let quiet = third.poll_once(T0, T0 + 6_000).await.unwrap();
    assert_eq!((quiet.published, quiet.duplicates), (0, 0));

    let ids: Vec<String> = events(&h).await.into_iter().map(|e| e.1).collect();
    assert_eq!(ids, vec!["1", "2"], "one event per edit, none lost");
}

#[tokio::test]
async fn an_empty_listing_after_records_is_not_everything_deleted() {
    let h = Harness::<Nats>::start().await;
    let feed = ListingFeed::default();
    feed.put(account("1", "Acme"));
    let p = poller(&h, feed);
    p.poll_once(T0, T0 + 1_000).await.unwrap();
    p.feed.remove("1");
    let empty = p.poll_once(T0, T0 + 2_000).await.unwrap();
    assert_eq!(empty.published, 0);
    p.feed.put(account("1", "Acme"));
    let back = p.poll_once(T0, T0 + 3_000).await.unwrap();
    assert_eq!((back.published, back.duplicates), (0, 0), "hashes kept");
}

/// A webhook-fed source's modified-since feed.
#[derive(Default)]
struct SinceFeed(Mutex<Vec<Changed>>);

impl ChangeFeed for SinceFeed {
    async fn changed_since(&self, _: Entity, since: i64) -> Result<Vec<Changed>, ApiError> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.updated_at >= since)
            .cloned()
            .collect())
    }
}

fn change(id: &str, at: i64) -> Changed {
    Changed {
        id: id.into(),
        version: at.to_string(),
        updated_at: at,
        listed: None,
    }
}

#[tokio::test]
async fn the_safety_net_counts_changes_no_webhook_announced() {
    let h = Harness::<Nats>::start().await;
    let source = EventSource::Psa(PsaKind::ConnectWise);
    let publisher = EventPublisher::new(h.backend.conn.clone(), Duration::from_secs(5));
    let webhook = |id: &str, msg: &str, at: i64| ChangeEvent {
        tenant: tenant(),
        source,
        entity: Some(Entity::Organization),
        record_id: Some(id.into()),
        action: ChangeAction::Upsert,
        received_at: at,
        msg_id: Some(msg.into()),
    };
    let mut net = SafetyNet::new(h.backend.conn.clone(), vec![Entity::Organization]);
    net.grace_ms = 10_000;
    net.skew_ms = 1_000;
    net.read_timeout = Duration::from_millis(500);
    let feed = SinceFeed::default();
    feed.0.lock().unwrap().extend([
        change("1", T0 + 1_000),
        change("2", T0 + 1_000),
        change("3", T0 + 1_000),
    ]);
    let p = Poller {
        tenant: tenant(),
        source,
        feed,
        entities: vec![Entity::Organization],
        publisher: publisher.clone(),
        state: h.stores.state.clone(),
        safety_net: Some(net),
        synced: None,
    };
    // Record 1's webhook came before the poll; record 2's an older edit's (before the skew).
    let body = || Bytes::from_static(br#"{"MessageId":"m"}"#);
    publisher
        .publish(&webhook("1", "cw-1", T0 + 1_500), body())
        .await
        .unwrap();
    publisher
        .publish(&webhook("2", "cw-2", T0 - 5_000), body())
        .await
        .unwrap();

    let first = p.poll_once(T0, T0 + 2_000).await.unwrap();
    assert_eq!(first.published, 3, "publishing is never delayed");
    assert!(first.unannounced.is_empty(), "judged after the grace");
    // Record 3's webhook arrives late, but within the grace: announced.
    publisher
        .publish(&webhook("3", "cw-3", T0 + 3_000), body())
        .await
        .unwrap();

    let second = p.poll_once(T0, T0 + 13_000).await.unwrap();
    assert_eq!(
        (second.published, second.duplicates),
        (0, 3),
        "the inclusive overlap"
    );
    assert_eq!(
        second.unannounced.into_iter().collect::<Vec<_>>(),
        vec![(Entity::Organization, 1)],
        "record 2 only"
    );
    let third = p.poll_once(T0, T0 + 30_000).await.unwrap();
    assert!(third.unannounced.is_empty(), "judged once");

    // Entities that are not webhook-fed are not judged.
    let unwatched = Poller {
        safety_net: Some(SafetyNet::new(
            h.backend.conn.clone(),
            vec![Entity::Contact],
        )),
        synced: None,
        ..p
    };
    unwatched
        .feed
        .0
        .lock()
        .unwrap()
        .push(change("4", T0 + 20_000));
    unwatched.poll_once(T0, T0 + 21_000).await.unwrap();
    let later = unwatched.poll_once(T0, T0 + 1_000_000).await.unwrap();
    assert!(later.unannounced.is_empty());
}
