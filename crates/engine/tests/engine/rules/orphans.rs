//! Orphaning on PSA delete or leaving scope, children of an orphaned organization, relinking.

use syncbridge_engine::{ActionKind, Parent, Rule};
use syncbridge_model::{Entity, Field, LinkState, PsaKind, Side};

use crate::rules::common::*;

fn linked_org(psa_now: Option<syncbridge_model::Record>) -> syncbridge_engine::Input {
    let psa = org("p1", "Acme");
    let itg = org("i1", "Acme");
    linked(
        tenant(PsaKind::ConnectWise),
        Entity::Organization,
        synced_base(&psa, &itg),
        psa_now,
        Some(itg),
        Side::Psa,
    )
}

fn only_bookkeeping(d: &syncbridge_engine::Decision) {
    assert_eq!(
        d.writes().count(),
        0,
        "orphaning writes nothing to IT Glue: {:?}",
        d.actions
    );
}

#[test]
fn psa_delete_orphans_and_keeps_the_itglue_record() {
    let d = run(&linked_org(None));
    only_bookkeeping(&d);
    assert!(d.actions.iter().any(|a| a.kind
        == ActionKind::MarkOrphaned {
            psa_id: "p1".into(),
            itg_id: "i1".into()
        }));
    assert_eq!(stored_link(&d).unwrap().state, LinkState::Orphaned);
}

#[test]
fn leaving_scope_orphans() {
    let d = run(&linked_org(Some(
        org("p1", "Acme").with(Field::Status, "Inactive"),
    )));
    only_bookkeeping(&d);
    assert!(d.has_rule(Rule::Orphan));
    assert_eq!(stored_link(&d).unwrap().state, LinkState::Orphaned);

    // Twin: still in scope → no orphan.
    let d = run(&linked_org(Some(org("p1", "Acme"))));
    assert!(!d.has_rule(Rule::Orphan));
}

#[test]
fn orphaning_an_organization_orphans_its_children() {
    let d = run(&linked_org(None));
    assert!(d.actions.iter().any(|a| a.kind
        == ActionKind::OrphanChildren {
            psa_org_id: "p1".into()
        }));

    // A child whose organization is orphaned is orphaned too…
    let psa = contact("p2", "p1", "Ada", "Lovelace");
    let itg = contact("i2", "i1", "Ada", "Lovelace");
    let mut input = linked(
        tenant(PsaKind::ConnectWise),
        Entity::Contact,
        synced_base(&psa, &itg),
        Some(psa),
        Some(itg),
        Side::Psa,
    );
    input.parent = Parent::Orphaned;
    let d = run(&input);
    only_bookkeeping(&d);
    assert_eq!(stored_link(&d).unwrap().state, LinkState::Orphaned);

    // Twin: …but orphaning a contact orphans nothing below it.
    let psa = contact("p2", "p1", "Ada", "Lovelace");
    let itg = contact("i2", "i1", "Ada", "Lovelace");
    let input = linked(
        tenant(PsaKind::ConnectWise),
        Entity::Contact,
        synced_base(&psa, &itg),
        None,
        Some(itg),
        Side::Psa,
    );
    let d = run(&input);
    assert!(d.has_rule(Rule::Orphan));
    assert!(!d.has_rule(Rule::OrphanChildren));
}

#[test]
fn an_orphan_is_not_orphaned_twice() {
    let d = run(&orphaned(linked_org(None)));
    only_bookkeeping(&d);
    assert!(stored_link(&d).is_none());
}

#[test]
fn orphan_back_in_scope_relinks_to_the_same_record_and_the_psa_wins() {
    // While orphaned, someone edited the IT Glue record.
    let mut input = orphaned(linked_org(Some(
        org("p1", "Acme").with(Field::ShortName, "ACME"),
    )));
    input.itg = Some(org("i1", "Acme").with(Field::ShortName, "edited-while-orphaned"));
    let d = run(&input);
    assert!(d.actions.iter().any(|a| a.kind
        == ActionKind::Relink {
            psa_id: "p1".into(),
            itg_id: "i1".into()
        }));
    assert_eq!(itg_changes(&d).get(Field::ShortName), Some("ACME"));
    assert_eq!(creates_in_itglue(&d), 0);
    let link = stored_link(&d).unwrap();
    assert_eq!(
        (link.state, link.itg_id.as_deref()),
        (LinkState::Linked, Some("i1"))
    );

    // Twin: still out of scope → stays orphaned, nothing written.
    let d = run(&orphaned(linked_org(Some(
        org("p1", "Acme").with(Field::Status, "Inactive"),
    ))));
    assert!(!d.has_rule(Rule::Relink));
    only_bookkeeping(&d);
}

#[test]
fn a_deleted_itglue_record_is_synced_again_from_the_psa() {
    let psa = org("p1", "Acme");
    let itg = org("i1", "Acme");
    let input = linked(
        tenant(PsaKind::ConnectWise),
        Entity::Organization,
        synced_base(&psa, &itg),
        Some(psa),
        None,
        Side::Psa,
    );
    let d = run(&input);
    assert!(d.has_rule(Rule::ItGlueRecordGone));
    assert_eq!(creates_in_itglue(&d), 1);
}
