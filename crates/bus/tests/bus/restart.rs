//! Durable state survives a server crash and restart; clients reconnect by themselves.

use crate::common;

use syncbridge_bus::{setup, LinkStore, SetupConfig, SetupOutcome, StateStore};
use syncbridge_model::{Entity, Field, Link, Mode, Snapshot, Values};

#[tokio::test]
async fn kv_survives_a_server_restart() {
    let (mut server, conn) = common::ready_server().await;
    let tenant = common::tenant();
    let links = LinkStore::open(&conn, common::OP_TIMEOUT).await.unwrap();
    let state = StateStore::open(&conn, common::OP_TIMEOUT).await.unwrap();
    let values = Values::new().with(Field::Name, "Acme");
    let link = Link::linked(
        Entity::Organization,
        "12",
        "34",
        Snapshot {
            psa: values.clone(),
            itg: values,
            ..Default::default()
        },
    );
    let rev = links.create(&tenant, &link).await.unwrap();
    state.set_mode(&tenant, Mode::Shadow, None).await.unwrap();

    server.kill();
    let err = links
        .get(&tenant, Entity::Organization, "12")
        .await
        .unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
    server.restart().await.unwrap();

    // The same stores, over the same (reconnected) connection.
    let got = common::eventually("read after restart", || {
        links.get(&tenant, Entity::Organization, "12")
    })
    .await
    .expect("link survived");
    assert_eq!((got.value, got.revision), (link.clone(), rev));
    assert_eq!(
        state.mode(&tenant).await.unwrap().unwrap().value,
        Mode::Shadow
    );
    // CAS still works against the surviving revision.
    links.update(&tenant, &link, rev).await.unwrap();

    // Set-up after a restart finds everything in place.
    let report = setup(&conn, &SetupConfig::default()).await.unwrap();
    assert!(
        report
            .items
            .iter()
            .all(|(_, o)| *o == SetupOutcome::Unchanged),
        "{report:?}"
    );
}

#[tokio::test]
async fn a_kv_write_while_the_server_is_down_is_unavailable_not_a_conflict() {
    let (mut server, conn) = common::ready_server().await;
    let tenant = common::tenant();
    let state = StateStore::open(&conn, common::OP_TIMEOUT).await.unwrap();
    let rev = state.set_mode(&tenant, Mode::Active, None).await.unwrap();

    server.kill();
    let err = state
        .set_mode(&tenant, Mode::Paused, Some(rev))
        .await
        .unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
    server.restart().await.unwrap();

    // Whatever happened to the ambiguous write, re-reading tells: either it landed (Paused, new
    // revision) or the key is still at `rev` and the write can be repeated.
    let now = common::eventually("read after restart", || state.mode(&tenant))
        .await
        .unwrap();
    if now.revision == rev {
        assert_eq!(now.value, Mode::Active);
        state
            .set_mode(&tenant, Mode::Paused, Some(rev))
            .await
            .unwrap();
    } else {
        assert_eq!(now.value, Mode::Paused);
    }
    assert_eq!(
        state.mode(&tenant).await.unwrap().unwrap().value,
        Mode::Paused
    );
}
