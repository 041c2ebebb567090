//! No echo, stale reads and shadow mode, end to end: every syncbridge write changes something and
//! an edit causes one write on the other side (`no_echo`), a stale read after our write is retried,
//! not pushed back (`stale_read`), shadow mode decides and audits as ever without writing, and a
//! paused tenant keeps its events until it is resumed.

use crate::common::e2e;

use e2e::{any_action, eventually, E2e};
use syncbridge_bus::EventPublisher;
use syncbridge_model::{ChangeAction, ChangeEvent, Entity, EventSource, Field, Mode, PsaKind};
use syncbridge_sim::faults::{Fault, FaultPlan, FaultRule};

/// After the initial sync and a person's edit on each side, every write syncbridge made changed
/// something, each edit caused exactly one write on the other side (its echo none), and once
/// settled nothing writes any more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_echo_every_sync_write_changed_something() {
    let e = E2e::launch(PsaKind::ConnectWise, 1).await;
    e.assert_no_echo();
    let pairs = e.linked_pairs(Entity::Organization).await;
    assert!(pairs.len() >= 2, "two linked organizations");
    let (psa_edited, psa_edited_itg) = pairs[0].clone();
    let (itg_edited_psa, itg_edited) = pairs[1].clone();
    let count = |itglue: bool, collection: &str, id: &str| {
        e.sync_writes_in(itglue, collection)
            .into_iter()
            .filter(|w| w.record_id == id)
            .count()
    };
    let before = (
        count(true, "organizations", &psa_edited_itg),
        count(false, "companies", &psa_edited),
        count(false, "companies", &itg_edited_psa),
        count(true, "organizations", &itg_edited),
    );
    e.psa_edit(
        Entity::Organization,
        &psa_edited,
        Field::ShortName,
        "ECHO-PSA",
    )
    .await;
    e.itg_edit(
        Entity::Organization,
        &itg_edited,
        Field::ShortName,
        "ECHO-ITG",
    )
    .await;
    eventually("both edits synced", || async {
        let a = e
            .itg_value(Entity::Organization, &psa_edited_itg, Field::ShortName)
            .await;
        let b = e
            .psa_value(Entity::Organization, &itg_edited_psa, Field::ShortName)
            .await;
        (a.as_deref() == Some("ECHO-PSA") && b.as_deref() == Some("ECHO-ITG")).then_some(())
    })
    .await;
    e.settle().await;
    let after = (
        count(true, "organizations", &psa_edited_itg),
        count(false, "companies", &psa_edited),
        count(false, "companies", &itg_edited_psa),
        count(true, "organizations", &itg_edited),
    );
    assert_eq!(
        after,
        (before.0 + 1, before.1, before.2 + 1, before.3),
        "one write per edit, on the other side only"
    );
    // Settled means settled: another quiet round writes nothing.
    let total = e.tenant.sync_writes().0;
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    e.settle().await;
    assert_eq!(e.tenant.sync_writes().0, total, "no write without an edit");
    e.assert_no_echo();
    e.stop().await;
}

/// Stale reads are retried, not mistaken for edits: IT Glue answers the read that follows
/// syncbridge's write with the record as it was before (a lagging replica). The worker sees a
/// version older than the one it stored as the base and retries (`stale_read`); taking the stale
/// short name for an IT Glue edit would, with two-way on, push it back to the PSA and undo the
/// person's edit. The test reads IT Glue only through the simulator's admin state, so its own
/// reads never take the stale answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_read_after_our_write_is_retried_not_pushed_back() {
    let e = E2e::launch(PsaKind::ConnectWise, 1).await;
    assert!(e.settings().two_way);
    let (org_psa, org_itg) = e.a_linked_pair(Entity::Organization).await;
    let faults = &e.tenant.itglue.sim.core().faults;
    faults.set(FaultPlan {
        rules: vec![FaultRule {
            method: Some("GET".into()),
            path_contains: Some(format!("/organizations/{org_itg}")),
            fault: Fault::StaleRead,
            probability: 1.0,
            times: Some(1),
        }],
        ..FaultPlan::default()
    });
    let short_name_in_itglue = || {
        e.itg_state("organizations")
            .into_iter()
            .find(|o| o["id"].as_u64() == org_itg.parse().ok())
            .and_then(|o| o["short-name"].as_str().map(str::to_owned))
    };
    let psa_writes = e.sync_writes_in(false, "companies").len();

    e.psa_edit(Entity::Organization, &org_psa, Field::ShortName, "FRESH")
        .await;
    eventually("IT Glue takes the PSA's short name", || async {
        (short_name_in_itglue().as_deref() == Some("FRESH")).then_some(())
    })
    .await;
    // The IT Glue poller skips our own write's version (it is the link's base), so the read
    // after the write comes from an IT Glue event of the record, as a workflow webhook or a
    // person's unsynced edit would make.
    let hint = ChangeEvent {
        tenant: e.id.clone(),
        source: EventSource::ItGlue,
        entity: Some(Entity::Organization),
        msg_id: Some(format!("stale-read-test:{org_itg}")),
        record_id: Some(org_itg.clone()),
        action: ChangeAction::Upsert,
        received_at: 0,
    };
    EventPublisher::new(e.stack.conn.clone(), std::time::Duration::from_secs(5))
        .publish(&hint, bytes::Bytes::new())
        .await
        .unwrap();
    eventually("the read after the write was answered stale", || async {
        (faults.plan().rules[0].times == Some(0)).then_some(())
    })
    .await;
    e.settle().await;
    assert_eq!(
        e.psa_value(Entity::Organization, &org_psa, Field::ShortName)
            .await
            .as_deref(),
        Some("FRESH"),
        "the person's edit stands"
    );
    assert_eq!(short_name_in_itglue().as_deref(), Some("FRESH"));
    assert_eq!(
        e.sync_writes_in(false, "companies").len(),
        psa_writes,
        "nothing pushed back to the PSA"
    );
    e.assert_no_echo();
    e.stop().await;
}

/// Edits a linked PSA company's short name (unique values `{tag}{n}`) until its decision is
/// audited with `written == want`: the running worker re-reads the tenant's mode every few
/// seconds, so the first edits after a mode change may still land in the old mode.
async fn until_mode_applies(e: &E2e, org_psa: &str, tag: &str, want: bool) {
    for n in 0..30 {
        let value = format!("{tag}{n}");
        e.psa_edit(Entity::Organization, org_psa, Field::ShortName, &value)
            .await;
        let written = eventually("the canary edit is decided", || async {
            e.audits_of(Entity::Organization, "psa", org_psa)
                .await
                .into_iter()
                .rev()
                .find(|a| a["actions"].to_string().contains(&value))
                .map(|a| a["written"].as_bool())
        })
        .await;
        if written == Some(want) {
            return;
        }
    }
    panic!("the mode never applied (written: {want})");
}

/// `tenant shadow` (the stored mode): a PSA edit is decided as ever (PSA wins, update IT Glue)
/// and audited with `written: false`, and nothing is written. Back to active, the next full sync
/// writes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shadow_mode_decides_and_audits_without_writing_then_active_syncs() {
    let e = E2e::launch(PsaKind::ConnectWise, 1).await;
    let pairs = e.linked_pairs(Entity::Organization).await;
    assert!(pairs.len() >= 2, "two linked organizations");
    let (canary, _) = pairs[0].clone();
    let (org_psa, org_itg) = pairs[1].clone();
    let itg_short = e
        .itg_value(Entity::Organization, &org_itg, Field::ShortName)
        .await;

    e.set_mode(Mode::Shadow).await;
    until_mode_applies(&e, &canary, "SHADOW-CANARY-", false).await;
    let itg_writes = e.itg_writes().len();
    e.psa_edit(Entity::Organization, &org_psa, Field::ShortName, "SHADOWED")
        .await;
    let audit = eventually("the shadowed edit is decided and audited", || async {
        e.audits_of(Entity::Organization, "psa", &org_psa)
            .await
            .into_iter()
            .find(|a| a["actions"].to_string().contains("SHADOWED"))
    })
    .await;
    assert_eq!(audit["written"], false, "{audit:#}");
    assert!(
        any_action(
            std::slice::from_ref(&audit),
            "psa_wins",
            Some("update_itglue")
        ),
        "the same decision as ever: {audit:#}"
    );
    e.settle().await;
    assert_eq!(
        e.itg_value(Entity::Organization, &org_itg, Field::ShortName)
            .await,
        itg_short,
        "nothing written in shadow mode"
    );
    let written_in_shadow: Vec<_> = e
        .itg_writes()
        .into_iter()
        .skip(itg_writes)
        .filter(|w| e2e::SYNC_USERS.contains(&w.user.as_str()))
        .collect();
    assert!(written_in_shadow.is_empty(), "{written_in_shadow:#?}");

    // Back to active: synced.
    e.set_mode(Mode::Active).await;
    until_mode_applies(&e, &canary, "ACTIVE-CANARY-", true).await;
    e.full_sync_run("e2e-active").await;
    e.until_itg_value(
        "the shadowed edit is synced once active",
        Entity::Organization,
        &org_itg,
        Field::ShortName,
        "SHADOWED",
    )
    .await;
    e.settle().await;
    e.assert_no_echo();
    e.stop().await;
}

/// `tenant pause` (the stored mode): a PSA edit made while paused is kept in the stream, not
/// consumed — nothing is decided, audited or written — and `tenant resume` applies it without a
/// full sync (the runbook "Pausing a tenant", docs/operations.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_tenant_keeps_its_events_and_resume_applies_them() {
    let e = E2e::launch(PsaKind::ConnectWise, 1).await;
    let pairs = e.linked_pairs(Entity::Organization).await;
    let (org_psa, org_itg) = pairs[0].clone();
    let before = e
        .itg_value(Entity::Organization, &org_itg, Field::ShortName)
        .await;

    e.set_mode(Mode::Paused).await;
    // A worker reads the mode every 5 s and ends its running session at the next read: after
    // two reads and a margin, nothing is consumed any more. (A pause has no audit entry to wait
    // for, unlike shadow mode's canary.)
    tokio::time::sleep(std::time::Duration::from_secs(12)).await;
    e.psa_edit(
        Entity::Organization,
        &org_psa,
        Field::ShortName,
        "PAUSED-EDIT",
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_secs(10)).await;
    assert_eq!(
        e.itg_value(Entity::Organization, &org_itg, Field::ShortName)
            .await,
        before,
        "nothing written while paused"
    );
    let decided = e
        .audits_of(Entity::Organization, "psa", &org_psa)
        .await
        .into_iter()
        .any(|a| a["actions"].to_string().contains("PAUSED-EDIT"));
    assert!(!decided, "nothing decided while paused");

    e.set_mode(Mode::Active).await;
    e.until_itg_value(
        "the edit kept while paused is applied on resume",
        Entity::Organization,
        &org_itg,
        Field::ShortName,
        "PAUSED-EDIT",
    )
    .await;
    e.settle().await;
    e.assert_no_echo();
    e.stop().await;
}
