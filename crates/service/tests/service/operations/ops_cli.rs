//! The operations commands through the real binary against a private nats-server: dead letters
//! listed, retried and dropped; replay; links show; tenant modes; and clear errors for bad flags.

use crate::common;

use std::process::{Command, Output};
use std::time::Duration;

use bytes::Bytes;
use syncbridge_bus::{DeadLetters, EventPublisher, StateStore};
use syncbridge_model::{ChangeAction, ChangeEvent, Entity, EventSource, Mode, PsaKind, TenantId};

fn syncbridge(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_syncbridge"))
        .args(args)
        .output()
        .expect("run syncbridge")
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn dead_letters_replay_links_and_tenant_modes_from_the_command_line() {
    let h = common::Harness::start().await;
    let text = common::config_text(
        &h.nats.url(),
        "127.0.0.1",
        syncbridge::config::DEFAULT_BODY_LIMIT,
        "http://127.0.0.1:9",
    );
    let path = std::env::temp_dir().join(format!("syncbridge-ops-{}.toml", std::process::id()));
    std::fs::write(&path, text).unwrap();
    let config = path.to_str().unwrap();
    let acme = TenantId::new("acme").unwrap();

    // One event, filed as a dead letter.
    let event = ChangeEvent {
        tenant: acme.clone(),
        source: EventSource::Psa(PsaKind::ConnectWise),
        entity: Some(Entity::Contact),
        record_id: Some("17".into()),
        action: ChangeAction::Upsert,
        received_at: 0,
        msg_id: Some("m-1".into()),
    };
    let timeout = Duration::from_secs(5);
    let seq = EventPublisher::new(h.conn.clone(), timeout)
        .publish(&event, Bytes::from_static(b"{\"raw\":true}"))
        .await
        .unwrap()
        .stream_seq;
    let dlq = DeadLetters::new(h.conn.clone(), timeout);
    let stored = dlq.stored_event(seq).await.unwrap();
    let letter = dlq
        .send(&stored, "IT Glue answered 422", 3, 0)
        .await
        .unwrap();

    let listed = stdout(&syncbridge(&[
        "dlq", "list", "--config", config, "--tenant", "acme",
    ]));
    assert!(listed.contains("IT Glue answered 422"), "{listed}");
    assert!(listed.contains("1 dead letter(s)"), "{listed}");
    let shown = stdout(&syncbridge(&[
        "dlq",
        "show",
        "--config",
        config,
        &letter.to_string(),
    ]));
    assert!(shown.contains("{\"raw\":true}"), "{shown}");
    let retried = stdout(&syncbridge(&[
        "dlq",
        "retry",
        "--config",
        config,
        &letter.to_string(),
    ]));
    assert!(retried.contains("re-published"), "{retried}");
    let listed = stdout(&syncbridge(&[
        "dlq", "list", "--config", config, "--tenant", "acme",
    ]));
    assert!(listed.contains("0 dead letter(s)"), "{listed}");

    let replayed = stdout(&syncbridge(&[
        "replay",
        "--config",
        config,
        "--tenant",
        "acme",
        "--from-seq",
        "1",
        "--dry-run",
    ]));
    assert!(replayed.contains("2 matched, 0 published"), "{replayed}");
    let bad_time = syncbridge(&[
        "replay",
        "--config",
        config,
        "--tenant",
        "acme",
        "--since",
        "yesterday",
    ]);
    assert!(!bad_time.status.success());
    assert!(String::from_utf8_lossy(&bad_time.stderr).contains("RFC 3339"));

    let link = stdout(&syncbridge(&[
        "links", "show", "--config", config, "--tenant", "acme", "--entity", "contact", "--psa-id",
        "17",
    ]));
    assert!(link.contains("no link"), "{link}");

    // A real decision about contact 17 (contacts sync is off for acme), as a worker audits it.
    let settings = h.config.tenants[&acme].sync.clone();
    let mut input = syncbridge_engine::Input::new(
        settings,
        Entity::Contact,
        syncbridge_engine::Trigger::Event(syncbridge_model::Side::Psa),
    );
    input.psa = Some(
        syncbridge_model::Record::new("17")
            .in_org("5")
            .with(syncbridge_model::Field::FirstName, "Ada")
            .with(syncbridge_model::Field::LastName, "Lovelace"),
    );
    input.parent = syncbridge_engine::Parent::Linked {
        psa_id: "5".into(),
        itg_id: "9005".into(),
    };
    let decision = syncbridge_engine::decide(&input);
    let entry = syncbridge_worker::AuditEntry {
        at: 1_700_000_000_000,
        event: &event,
        entity: Entity::Contact,
        side: syncbridge_model::Side::Psa,
        record_id: "17",
        actions: &decision.actions,
        written: true,
        link_before: None,
        link_after: None,
    };
    syncbridge_bus::AuditLog::new(h.conn.clone(), timeout)
        .record(&acme, Entity::Contact, &entry)
        .await
        .unwrap();
    let explained = stdout(&syncbridge(&[
        "links", "explain", "--config", config, "--tenant", "acme", "--entity", "contact",
        "--psa-id", "17",
    ]));
    assert!(explained.contains("link: none"), "{explained}");
    assert!(
        explained.contains("[contacts_gate] ignore contacts sync is off"),
        "{explained}"
    );

    let paused = stdout(&syncbridge(&[
        "tenant", "pause", "--config", config, "--tenant", "acme",
    ]));
    assert!(paused.contains("mode paused"), "{paused}");
    let state = StateStore::open(&h.conn, timeout).await.unwrap();
    assert_eq!(
        state.mode(&acme).await.unwrap().unwrap().value,
        Mode::Paused
    );
    stdout(&syncbridge(&[
        "tenant", "resume", "--config", config, "--tenant", "acme",
    ]));
    assert_eq!(
        state.mode(&acme).await.unwrap().unwrap().value,
        Mode::Active
    );

    let unknown = syncbridge(&["tenant", "pause", "--config", config, "--tenant", "initech"]);
    assert!(!unknown.status.success());
    let err = String::from_utf8_lossy(&unknown.stderr);
    assert!(
        err.contains("no such tenant") && err.contains("acme"),
        "{err}"
    );
    let _ = std::fs::remove_file(&path);
}
