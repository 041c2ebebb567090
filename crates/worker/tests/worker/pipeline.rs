//! The worker pipeline against a real nats-server and two in-memory sides.

use std::sync::atomic::Ordering;

use crate::common::*;
use syncbridge_model::{ChangeAction, Entity, EventSource, Field, LinkState, Mode, Record, Side};
use syncbridge_worker::{Outcome, Worker};

fn acme(id: &str) -> Record {
    Record::new(id)
        .with(Field::Name, "Acme")
        .with(Field::Type, "Customer")
        .with(Field::Status, "Active")
        .with(Field::ShortName, "ACME")
}

/// A contact of Acme ("p1") in the PSA.
fn ada() -> Record {
    Record::new("pc1")
        .in_org("p1")
        .with(Field::FirstName, "Ada")
        .with(Field::LastName, "Lovelace")
}

async fn a_psa_company_is_created_in_itglue_linked_and_its_echo_writes_nothing<B: Backend>() {
    let h = Harness::<B>::start().await;
    let w = h.worker(settings(true), "w1");
    h.psa.seed(Entity::Organization, acme("p1"));

    let out = w.handle(&psa_event(Entity::Organization, "p1"), T0).await;
    assert_eq!(out, Outcome::Done { writes: 1 });
    let orgs = h.itg.all(Entity::Organization);
    assert_eq!(orgs.len(), 1);
    assert_eq!(orgs[0].get(Field::ShortName), Some("ACME"));
    let link = h.link(Entity::Organization, "p1").await.unwrap();
    assert_eq!(link.state, LinkState::Linked);
    assert_eq!(link.itg_id.as_deref(), Some(orgs[0].id.as_str()));

    // Our write comes back from IT Glue's poller, and the PSA event is redelivered: no write.
    let itg_id = orgs[0].id.clone();
    for event in [
        itg_event(Entity::Organization, &itg_id),
        psa_event(Entity::Organization, "p1"),
    ] {
        assert_eq!(w.handle(&event, T0).await, Outcome::Done { writes: 0 });
    }
    assert_eq!(h.itg.writes().len(), 1);
    assert!(h.psa.writes().is_empty());
}

async fn edits_flow_both_ways_and_the_psa_wins_a_same_field_conflict<B: Backend>() {
    let h = Harness::<B>::start().await;
    let w = h.worker(settings(true), "w1");
    h.psa.seed(Entity::Organization, acme("p1"));
    w.handle(&psa_event(Entity::Organization, "p1"), T0).await;
    let itg_id = h.itg.all(Entity::Organization)[0].id.clone();

    // PSA → IT Glue.
    h.psa
        .edit(Entity::Organization, "p1", Field::ShortName, "ACME-1");
    w.handle(&psa_event(Entity::Organization, "p1"), T0).await;
    let itg = h.itg.record(Entity::Organization, &itg_id).unwrap();
    assert_eq!(itg.get(Field::ShortName), Some("ACME-1"));

    // IT Glue → PSA (two-way), with IT Glue's trimming not mistaken for an edit afterwards.
    h.itg
        .edit(Entity::Organization, &itg_id, Field::ShortName, "AC");
    w.handle(&itg_event(Entity::Organization, &itg_id), T0)
        .await;
    assert_eq!(
        h.psa
            .record(Entity::Organization, "p1")
            .unwrap()
            .get(Field::ShortName),
        Some("AC")
    );

    // Both sides change the same field before the worker sees either: the PSA wins on both.
    h.psa
        .edit(Entity::Organization, "p1", Field::ShortName, "FROM-PSA");
    h.itg
        .edit(Entity::Organization, &itg_id, Field::ShortName, "FROM-ITG");
    w.handle(&itg_event(Entity::Organization, &itg_id), T0)
        .await;
    w.handle(&psa_event(Entity::Organization, "p1"), T0).await;
    the_psas_short_name_holds_on_both_sides(&h, &itg_id);
    // Echo check: every write traces to one person's edit.
    let before = (h.psa.writes().len(), h.itg.writes().len());
    w.handle(&itg_event(Entity::Organization, &itg_id), T0)
        .await;
    w.handle(&psa_event(Entity::Organization, "p1"), T0).await;
    assert_eq!((h.psa.writes().len(), h.itg.writes().len()), before);
}

/// A two-way tenant with organization p1 synced, then its short name edited in IT Glue by a
/// person: the harness, its worker and the IT Glue id.
async fn acme_linked_then_edited_in_itglue<B: Backend>(
) -> (Harness<B>, Worker<MemorySide, MemorySide, B::Store>, String) {
    let h = Harness::<B>::start().await;
    let w = h.worker(settings(true), "w1");
    h.psa.seed(Entity::Organization, acme("p1"));
    w.handle(&psa_event(Entity::Organization, "p1"), T0).await;
    let itg_id = h.itg.all(Entity::Organization)[0].id.clone();
    h.itg
        .edit(Entity::Organization, &itg_id, Field::ShortName, "FROM-ITG");
    (h, w, itg_id)
}

/// A person's edit of organization p1's short name in the PSA, for the sides' test hooks.
fn short_name_edited_in_the_psa() -> PendingEdit {
    (
        Entity::Organization,
        "p1".into(),
        Field::ShortName,
        "FROM-PSA".into(),
    )
}

/// Both sides hold the PSA's short name of p1 (the PSA won).
fn the_psas_short_name_holds_on_both_sides<B: Backend>(h: &Harness<B>, itg_id: &str) {
    for r in [
        h.psa.record(Entity::Organization, "p1").unwrap(),
        h.itg.record(Entity::Organization, itg_id).unwrap(),
    ] {
        assert_eq!(r.get(Field::ShortName), Some("FROM-PSA"));
    }
}

/// No PSA offers a conditional update: a person's PSA edit landing between the worker's read and
/// its two-way PATCH would be overwritten, and the PSA would lose a conflict it must win. The
/// worker reads the PSA record again before writing it and decides again when it changed.
async fn a_psa_edit_made_after_the_workers_read_is_not_overwritten_by_its_push<B: Backend>() {
    let (h, w, itg_id) = acme_linked_then_edited_in_itglue::<B>().await;
    // Another person edits the PSA just after the worker has read it.
    *h.psa.edit_after_next_read.lock().unwrap() = Some(short_name_edited_in_the_psa());
    let first = w
        .handle(&itg_event(Entity::Organization, &itg_id), T0)
        .await;
    assert!(matches!(first, Outcome::Retry(_)), "{first:?}");
    assert!(
        h.psa.writes().iter().all(|(op, _, _)| op != "update"),
        "nothing written over the person's edit: {:?}",
        h.psa.writes()
    );
    // Decided again on what is there now: a conflict, which the PSA wins on both sides.
    w.handle(&itg_event(Entity::Organization, &itg_id), T0)
        .await;
    the_psas_short_name_holds_on_both_sides(&h, &itg_id);
}

/// Autotask and the v2 platform answer a PATCH without the record: the connector reads it back
/// with a second request. A person's PSA edit landing between the two is in that read-back; it
/// must not be taken for our write (stored as the base, it would never be carried): the next event
/// carries it to IT Glue.
async fn a_psa_edit_landing_before_our_writes_read_back_is_carried_not_taken_for_ours<
    B: Backend,
>() {
    let (h, w, itg_id) = acme_linked_then_edited_in_itglue::<B>().await;
    *h.psa.edit_after_next_update.lock().unwrap() = Some(short_name_edited_in_the_psa());
    let pushed = w
        .handle(&itg_event(Entity::Organization, &itg_id), T0)
        .await;
    assert!(matches!(pushed, Outcome::Done { writes: 1 }), "{pushed:?}");
    // The person's edit sends its own event (a webhook or a poll).
    w.handle(&psa_event(Entity::Organization, "p1"), T0).await;
    the_psas_short_name_holds_on_both_sides(&h, &itg_id);
}

async fn a_create_that_committed_but_timed_out_is_linked_on_retry_not_duplicated<B: Backend>() {
    let h = Harness::<B>::start().await;
    let w = h.worker(settings(false), "w1");
    h.psa.seed(Entity::Organization, acme("p1"));
    h.itg.commit_then_timeout.store(true, Ordering::SeqCst);

    let first = w.handle(&psa_event(Entity::Organization, "p1"), T0).await;
    assert!(matches!(first, Outcome::Retry(_)), "{first:?}");
    let intent = h.link(Entity::Organization, "p1").await.unwrap();
    assert_eq!(
        intent.state,
        LinkState::Creating(syncbridge_model::Side::ItGlue)
    );

    let second = w.handle(&psa_event(Entity::Organization, "p1"), T0).await;
    assert!(matches!(second, Outcome::Done { .. }), "{second:?}");
    assert_eq!(h.itg.all(Entity::Organization).len(), 1, "no duplicate");
    let link = h.link(Entity::Organization, "p1").await.unwrap();
    assert_eq!(link.state, LinkState::Linked);
    assert_eq!(
        link.itg_id.as_deref(),
        Some(h.itg.all(Entity::Organization)[0].id.as_str())
    );
}

async fn a_permanent_vendor_refusal_goes_to_the_dead_letters_with_its_reason<B: Backend>() {
    let h = Harness::<B>::start().await;
    let w = h.worker(settings(false), "w1");
    h.psa.seed(Entity::Organization, acme("p1"));
    w.handle(&psa_event(Entity::Organization, "p1"), T0).await;
    h.itg.refuse_updates.store(true, Ordering::SeqCst);
    h.psa
        .edit(Entity::Organization, "p1", Field::ShortName, "NEW");
    match w.handle(&psa_event(Entity::Organization, "p1"), T0).await {
        Outcome::DeadLetter(reason) => assert!(reason.contains("422"), "{reason}"),
        other => panic!("expected a dead letter, got {other:?}"),
    }
}

async fn a_contact_before_its_company_syncs_the_company_first<B: Backend>() {
    let h = Harness::<B>::start().await;
    let w = h.worker(settings(false), "w1");
    h.psa.seed(Entity::Organization, acme("p1"));
    h.psa.seed(Entity::Contact, ada());
    let out = w.handle(&psa_event(Entity::Contact, "pc1"), T0).await;
    assert!(matches!(out, Outcome::Done { .. }), "{out:?}");
    let orgs = h.itg.all(Entity::Organization);
    let contacts = h.itg.all(Entity::Contact);
    assert_eq!((orgs.len(), contacts.len()), (1, 1));
    assert_eq!(contacts[0].org_id.as_deref(), Some(orgs[0].id.as_str()));
}

/// With `instant_create` off, an event defers a create to the full sync; a contact the full sync
/// reaches before its company creates the company as the full sync would, not as an event —
/// and a contact whose company is out of scope is acknowledged, not retried forever.
async fn a_full_sync_child_before_its_company_creates_the_company_even_without_instant_create<
    B: Backend,
>() {
    let h = Harness::<B>::start().await;
    let mut s = settings(false);
    s.instant_create = false;
    let w = h.worker(s, "w1");
    h.psa.seed(Entity::Organization, acme("p1"));
    h.psa.seed(Entity::Contact, ada());
    let prospect = Record::new("p2")
        .with(Field::Name, "Prospect Co")
        .with(Field::Type, "Prospect")
        .with(Field::Status, "Active");
    h.psa.seed(Entity::Organization, prospect);
    h.psa.seed(
        Entity::Contact,
        Record::new("pc2")
            .in_org("p2")
            .with(Field::FirstName, "Grace")
            .with(Field::LastName, "Hopper"),
    );

    let full = |id: &str| event(EventSource::FullSync, Entity::Contact, id);
    let out = w.handle(&full("pc1"), T0).await;
    assert!(matches!(out, Outcome::Done { .. }), "{out:?}");
    assert_eq!(h.itg.all(Entity::Organization).len(), 1);
    assert_eq!(h.itg.all(Entity::Contact).len(), 1);

    let out = w.handle(&full("pc2"), T0).await;
    assert!(matches!(out, Outcome::Done { writes: 0 }), "{out:?}");
    assert_eq!(h.itg.all(Entity::Organization).len(), 1);
    assert_eq!(h.itg.all(Entity::Contact).len(), 1);
}

async fn acme_created_on_both_sides_at_once_gives_one_record_per_side_and_one_link<B: Backend>() {
    let h = Harness::<B>::start().await;
    // Slow reads make the two workers overlap.
    h.psa.read_delay_ms.store(50, Ordering::SeqCst);
    h.itg.read_delay_ms.store(50, Ordering::SeqCst);
    let w1 = h.worker(settings(true), "w1");
    let w2 = h.worker(settings(true), "w2");
    h.psa.seed(Entity::Organization, acme("p1"));
    let mut itg_acme = acme("i1");
    itg_acme
        .values
        .set(Field::ShortName, Some("acme-itg".into()));
    h.itg.seed(Entity::Organization, itg_acme);
    // IT Glue's record is newer than the first sync (the watermark is taken at T0 - 1 s), so
    // two-way would push it if it were handled alone.
    let start = T0 - 1_000;
    let (from_psa, from_itg) = (
        psa_event(Entity::Organization, "p1"),
        itg_event(Entity::Organization, "i1"),
    );
    let (a, b) = tokio::join!(w1.handle(&from_psa, start), w2.handle(&from_itg, start));
    assert!(matches!(a, Outcome::Done { .. }), "{a:?}");
    assert!(matches!(b, Outcome::Done { .. }), "{b:?}");
    assert_eq!(h.psa.all(Entity::Organization).len(), 1);
    assert_eq!(h.itg.all(Entity::Organization).len(), 1);
    let link = h.link(Entity::Organization, "p1").await.unwrap();
    assert_eq!(link.itg_id.as_deref(), Some("i1"));
    // Same end state as one worker: the PSA won the short name.
    assert_eq!(
        h.itg
            .record(Entity::Organization, "i1")
            .unwrap()
            .get(Field::ShortName),
        Some("ACME")
    );
}

async fn shadow_mode_decides_and_audits_but_writes_nothing<B: Backend>() {
    let h = Harness::<B>::start().await;
    let mut s = settings(false);
    s.mode = Mode::Shadow;
    let w = h.worker(s, "w1");
    h.psa.seed(Entity::Organization, acme("p1"));
    assert_eq!(
        w.handle(&psa_event(Entity::Organization, "p1"), T0).await,
        Outcome::Done { writes: 0 }
    );
    assert!(h.itg.all(Entity::Organization).is_empty());
    let audited = h.backend.audited().await;
    assert_eq!(audited.len(), 1);
    let entry = &audited[0];
    assert_eq!(entry["written"], false);
    assert_eq!(entry["actions"][0]["rule"], "instant_create");
}

/// Orphaning an organization orphans the records under it at once (no event of theirs needed),
/// and relinking it publishes a reconcile event per orphaned child, which relinks it with the
/// PSA's values.
async fn an_organization_leaving_scope_orphans_its_children_and_coming_back_relinks_them<
    B: Backend,
>() {
    let h = Harness::<B>::start().await;
    let w = h.worker(settings(false), "w1");
    h.psa.seed(Entity::Organization, acme("p1"));
    h.psa.seed(Entity::Contact, ada().with(Field::Title, "CTO"));
    w.handle(&psa_event(Entity::Contact, "pc1"), T0).await;
    let harness = &h;
    let link =
        move |entity, id: &'static str| async move { harness.link(entity, id).await.unwrap() };
    assert_eq!(link(Entity::Contact, "pc1").await.state, LinkState::Linked);

    // The company leaves scope: its contact's link is orphaned with it, nothing written.
    h.psa
        .edit(Entity::Organization, "p1", Field::Type, "Vendor");
    let writes = (h.psa.writes().len(), h.itg.writes().len());
    let out = w.handle(&psa_event(Entity::Organization, "p1"), T0).await;
    assert_eq!(out, Outcome::Done { writes: 0 });
    assert_eq!(
        link(Entity::Organization, "p1").await.state,
        LinkState::Orphaned
    );
    assert_eq!(
        link(Entity::Contact, "pc1").await.state,
        LinkState::Orphaned
    );
    assert_eq!((h.psa.writes().len(), h.itg.writes().len()), writes);

    // While orphaned, a PSA edit of the contact is not synced.
    h.psa.edit(Entity::Contact, "pc1", Field::Title, "CEO");
    w.handle(&psa_event(Entity::Contact, "pc1"), T0).await;
    let itg_contact = h.itg.all(Entity::Contact)[0].clone();
    assert_eq!(itg_contact.get(Field::Title), Some("CTO"));

    // Back in scope: the company is relinked and a reconcile event for the contact is published.
    h.psa
        .edit(Entity::Organization, "p1", Field::Type, "Customer");
    w.handle(&psa_event(Entity::Organization, "p1"), T0).await;
    assert_eq!(
        link(Entity::Organization, "p1").await.state,
        LinkState::Linked
    );
    let published = h.backend.published().await;
    let event = published
        .iter()
        .rev()
        .find(|e| e.subject() == "sync.events.acme.full-sync.contact")
        .expect("a reconcile event for the contact")
        .clone();
    assert_eq!(event.record_id.as_deref(), Some("pc1"));

    // The event relinks the contact, and the PSA wins.
    w.handle(&event, T0).await;
    assert_eq!(link(Entity::Contact, "pc1").await.state, LinkState::Linked);
    let itg_contact = h.itg.record(Entity::Contact, &itg_contact.id).unwrap();
    assert_eq!(itg_contact.get(Field::Title), Some("CEO"));
}

/// A Standard Webhooks producer speaks for the side its tenant declared: `standard-psa` is a PSA
/// webhook, `standard-itglue` an IT Glue one. Both are decided, written and audited as such.
async fn standard_webhook_events_are_the_declared_sides_webhooks<B: Backend>() {
    let h = Harness::<B>::start().await;
    let w = h.worker(settings(true), "w1");
    h.psa.seed(Entity::Organization, acme("p1"));
    let from_psa = event(EventSource::Standard(Side::Psa), Entity::Organization, "p1");
    assert_eq!(w.handle(&from_psa, T0).await, Outcome::Done { writes: 1 });
    let itg_id = h.itg.all(Entity::Organization)[0].id.clone();

    h.itg
        .edit(Entity::Organization, &itg_id, Field::ShortName, "AC");
    let from_itg = event(
        EventSource::Standard(Side::ItGlue),
        Entity::Organization,
        &itg_id,
    );
    assert_eq!(w.handle(&from_itg, T0).await, Outcome::Done { writes: 1 });
    assert_eq!(
        h.psa
            .record(Entity::Organization, "p1")
            .unwrap()
            .get(Field::ShortName),
        Some("AC"),
        "two-way: the IT Glue edit reached the PSA"
    );

    for (source, side, id) in [
        ("standard-psa", "psa", "p1"),
        ("standard-itglue", "it_glue", itg_id.as_str()),
    ] {
        let audited: Vec<_> = h
            .backend
            .audited()
            .await
            .into_iter()
            .filter(|e| e["event"]["source"] == source)
            .collect();
        assert_eq!(audited.len(), 1, "{source}: {audited:?}");
        assert_eq!(audited[0]["side"], side);
        assert_eq!(audited[0]["record_id"], id);
        assert_eq!(audited[0]["written"], true);
    }
}

/// Only an IT Glue workflow hint may name no record (the IT Glue poller acts on it); anything
/// else without one is dead-lettered with the reason, never acknowledged unseen.
async fn an_event_naming_no_record_is_dead_lettered_with_the_reason<B: Backend>() {
    let h = Harness::<B>::start().await;
    let w = h.worker(settings(true), "w1");
    let mut hint = itg_event(Entity::Organization, "i1");
    hint.entity = None;
    hint.record_id = None;
    hint.action = ChangeAction::Hint;
    assert_eq!(w.handle(&hint, T0).await, Outcome::Done { writes: 0 });

    let mut bare = event(EventSource::Standard(Side::Psa), Entity::Organization, "p1");
    bare.record_id = None;
    match w.handle(&bare, T0).await {
        Outcome::DeadLetter(reason) => {
            assert!(reason.contains("standard-psa"), "{reason}");
            assert!(reason.contains("names no record"), "{reason}");
        }
        other => panic!("not dead-lettered: {other:?}"),
    }
}

on_both_backends!(
    a_psa_company_is_created_in_itglue_linked_and_its_echo_writes_nothing,
    edits_flow_both_ways_and_the_psa_wins_a_same_field_conflict,
    a_psa_edit_made_after_the_workers_read_is_not_overwritten_by_its_push,
    a_psa_edit_landing_before_our_writes_read_back_is_carried_not_taken_for_ours,
    a_create_that_committed_but_timed_out_is_linked_on_retry_not_duplicated,
    a_permanent_vendor_refusal_goes_to_the_dead_letters_with_its_reason,
    a_contact_before_its_company_syncs_the_company_first,
    a_full_sync_child_before_its_company_creates_the_company_even_without_instant_create,
    acme_created_on_both_sides_at_once_gives_one_record_per_side_and_one_link,
    shadow_mode_decides_and_audits_but_writes_nothing,
    an_organization_leaving_scope_orphans_its_children_and_coming_back_relinks_them,
    standard_webhook_events_are_the_declared_sides_webhooks,
    an_event_naming_no_record_is_dead_lettered_with_the_reason,
);
