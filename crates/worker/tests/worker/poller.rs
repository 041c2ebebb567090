//! Polling: changes become events with `{id}:{version}` dedup ids; overlapping polls publish
//! nothing twice; the cursor advances in `sync_state`.

use std::sync::Mutex;
use std::time::Duration;

use crate::common::*;
use syncbridge_bus::EventPublisher;
use syncbridge_model::{Entity, EventSource};
use syncbridge_worker::poller::{ChangeFeed, Changed, Poller};
use syncbridge_worker::ApiError;

#[derive(Default)]
struct Feed(Mutex<Vec<Changed>>);

impl Feed {
    fn change(&self, id: &str, at: i64) {
        self.0.lock().unwrap().push(Changed {
            id: id.into(),
            version: format!("v{at}"),
            updated_at: at,
            listed: None,
        });
    }
}

impl ChangeFeed for Feed {
    async fn changed_since(&self, entity: Entity, since: i64) -> Result<Vec<Changed>, ApiError> {
        assert_eq!(entity, Entity::Organization);
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

#[tokio::test]
async fn polls_publish_each_change_once_and_advance_the_cursor() {
    let h = Harness::<Nats>::start().await;
    let feed = Feed::default();
    feed.change("1", T0 + 1_000);
    feed.change("2", T0 + 2_000);
    feed.change("old", T0 - 5_000);
    let poller = Poller {
        tenant: tenant(),
        source: EventSource::ItGlue,
        feed,
        entities: vec![Entity::Organization],
        publisher: EventPublisher::new(h.backend.conn.clone(), Duration::from_secs(5)),
        state: h.stores.state.clone(),
        safety_net: None,
        synced: None,
    };

    let first = poller.poll_once(T0, T0 + 3_000).await.unwrap();
    assert_eq!(
        (first.published, first.duplicates),
        (2, 0),
        "changes before the start are the full sync's"
    );
    // Nothing new: the inclusive overlap re-reads the newest change, the dedup id absorbs it.
    let second = poller.poll_once(T0, T0 + 4_000).await.unwrap();
    assert_eq!((second.published, second.duplicates), (0, 1));
    // A record saved again gets a new version: a new event.
    poller.feed.change("1", T0 + 5_000);
    let third = poller.poll_once(T0, T0 + 6_000).await.unwrap();
    assert_eq!(third.published, 1);

    let cursor = h
        .stores
        .state
        .poll_cursor(&tenant(), EventSource::ItGlue, Some(Entity::Organization))
        .await
        .unwrap()
        .unwrap()
        .value;
    assert_eq!(cursor.cursor, (T0 + 5_000).to_string());

    let mut events = h
        .backend
        .conn
        .jetstream()
        .get_stream("SYNC_EVENTS")
        .await
        .unwrap();
    assert_eq!(events.info().await.unwrap().state.messages, 3);
    let msg = events.get_raw_message(1).await.unwrap();
    assert_eq!(msg.subject.as_str(), "sync.events.acme.itglue.organization");
    assert_eq!(
        msg.headers.get("Nats-Msg-Id").unwrap().as_str(),
        format!("acme:itglue:organization:1:v{}", T0 + 1_000)
    );
}

/// A listed record that is the version the link's base holds (same stamp, same synced fields:
/// syncbridge's own write, listed back) is not published; the same stamp with a synced field
/// changed (a person's edit saved in the second of our write) is, and so is a newer stamp.
#[tokio::test]
async fn the_version_syncbridge_last_synced_is_not_published_again() {
    use syncbridge_model::{Field, Link, Record, Snapshot};
    use syncbridge_worker::synced_versions::SyncedVersions;

    let h = Harness::<Nats>::start().await;
    let stamp = T0 + 1_000;
    let mut ours = Record::new("i7").with(Field::Name, "Acme");
    ours.updated_at = stamp;
    let mut base = Snapshot::default();
    base.itg.set(Field::Name, Some("Acme".into()));
    base.psa.set(Field::Name, Some("Acme".into()));
    base.itg_updated_at = stamp;
    h.stores
        .links
        .create(
            &tenant(),
            &Link::linked(Entity::Organization, "p7", "i7", base),
        )
        .await
        .unwrap();
    let feed = Feed::default();
    let listed = |record: &Record| Changed {
        id: record.id.clone(),
        version: format!(
            "v{}-{}",
            record.updated_at,
            record.get(Field::Name).unwrap()
        ),
        updated_at: record.updated_at,
        listed: Some(record.clone()),
    };
    feed.0.lock().unwrap().push(listed(&ours));
    let poller = Poller {
        tenant: tenant(),
        source: EventSource::ItGlue,
        feed,
        entities: vec![Entity::Organization],
        publisher: EventPublisher::new(h.backend.conn.clone(), Duration::from_secs(5)),
        state: h.stores.state.clone(),
        safety_net: None,
        synced: Some(SyncedVersions {
            links: h.stores.links.clone(),
            settings: settings(false),
        }),
    };
    let report = poller.poll_once(T0, T0 + 2_000).await.unwrap();
    assert_eq!((report.published, report.already_synced), (0, 1));

    let mut same_second = ours.clone();
    same_second
        .values
        .set(Field::Name, Some("Acme Corp".into()));
    poller.feed.0.lock().unwrap().push(listed(&same_second));
    let report = poller.poll_once(T0, T0 + 3_000).await.unwrap();
    assert_eq!(report.published, 1, "a person's edit in the same second");

    let mut later = ours.clone();
    later.updated_at = stamp + 1_000;
    poller.feed.0.lock().unwrap().push(listed(&later));
    let report = poller.poll_once(T0, T0 + 4_000).await.unwrap();
    assert_eq!(report.published, 1, "a newer version");
}
