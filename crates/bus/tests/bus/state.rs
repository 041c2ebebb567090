//! Typed sync state: tenant mode, poll cursors, the first-sync watermark, all CAS-updated.

use crate::common;

use syncbridge_bus::{PollCursor, StateKey, StateStore};
use syncbridge_model::{Entity, EventSource, Mode, PsaKind};

#[tokio::test]
async fn mode_and_cursors_are_compare_and_set() {
    let (_server, conn) = common::ready_server().await;
    let state = StateStore::open(&conn, common::OP_TIMEOUT).await.unwrap();
    let tenant = common::tenant();

    assert_eq!(state.mode(&tenant).await.unwrap(), None);
    let rev = state.set_mode(&tenant, Mode::Shadow, None).await.unwrap();
    assert!(state
        .set_mode(&tenant, Mode::Active, None)
        .await
        .unwrap_err()
        .is_conflict());
    let rev2 = state
        .set_mode(&tenant, Mode::Paused, Some(rev))
        .await
        .unwrap();
    assert!(state
        .set_mode(&tenant, Mode::Active, Some(rev))
        .await
        .unwrap_err()
        .is_conflict());
    let mode = state.mode(&tenant).await.unwrap().unwrap();
    assert_eq!((mode.value, mode.revision), (Mode::Paused, rev2));

    let source = EventSource::Psa(PsaKind::KaseyaBms);
    let cursor = PollCursor {
        cursor: "2026-11-25T09:00:00Z".into(),
        polled_at: 1,
    };
    let r = state
        .set_poll_cursor(&tenant, source, Some(Entity::Contact), &cursor, None)
        .await
        .unwrap();
    let got = state
        .poll_cursor(&tenant, source, Some(Entity::Contact))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((got.value, got.revision), (cursor, r));
    assert_eq!(
        state.poll_cursor(&tenant, source, None).await.unwrap(),
        None
    );
    assert_eq!(
        StateKey::poll_cursor(&tenant, source, Some(Entity::Contact)).as_str(),
        "acme.cursor.kaseya-bms.contact"
    );
}

#[tokio::test]
async fn the_first_sync_watermark_never_moves() {
    let (_server, conn) = common::ready_server().await;
    let state = StateStore::open(&conn, common::OP_TIMEOUT).await.unwrap();
    let tenant = common::tenant();
    assert_eq!(state.first_sync_watermark(&tenant).await.unwrap(), None);
    assert_eq!(
        state
            .record_first_sync_watermark(&tenant, 1000)
            .await
            .unwrap(),
        1000
    );
    assert_eq!(
        state
            .record_first_sync_watermark(&tenant, 2000)
            .await
            .unwrap(),
        1000
    );
    assert_eq!(
        state.first_sync_watermark(&tenant).await.unwrap(),
        Some(1000)
    );
}
