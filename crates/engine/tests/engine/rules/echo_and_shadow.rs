//! No echo (content equal to the base yields no write) and shadow mode.

use syncbridge_engine::Rule;
use syncbridge_model::{Entity, Field, Mode, PsaKind, Side};

use crate::rules::common::*;

#[test]
fn an_event_equal_to_the_base_yields_no_write() {
    let psa = org("p1", "Acme").with(Field::ShortName, "ACME");
    let itg = org("i1", "Acme").with(Field::ShortName, "ACME");
    for side in [Side::Psa, Side::ItGlue] {
        let d = run(&linked(
            two_way(PsaKind::ConnectWise),
            Entity::Organization,
            synced_base(&psa, &itg),
            Some(psa.clone()),
            Some(itg.clone()),
            side,
        ));
        assert_eq!(d.writes().count(), 0);
        assert!(d.has_rule(Rule::NoEcho));
        assert!(stored_link(&d).is_none(), "nothing to store either");
    }
    // Twin: one changed field → one write.
    let d = run(&linked(
        two_way(PsaKind::ConnectWise),
        Entity::Organization,
        synced_base(&psa, &itg),
        Some(psa.clone().with(Field::ShortName, "AC")),
        Some(itg),
        Side::Psa,
    ));
    assert_eq!(d.writes().count(), 1);
    assert!(!d.has_rule(Rule::NoEcho));
}

#[test]
fn shadow_mode_makes_the_same_decisions_marked_not_to_write() {
    let mut s = tenant(PsaKind::ConnectWise);
    let active = run(&from_psa(
        s.clone(),
        Entity::Organization,
        org("p1", "Acme"),
        vec![],
    ));
    s.mode = Mode::Shadow;
    let shadow = run(&from_psa(
        s,
        Entity::Organization,
        org("p1", "Acme"),
        vec![],
    ));
    assert_eq!(shadow.actions, active.actions);
    assert_eq!(shadow.link, active.link);
    assert!(active.write);
    assert!(!shadow.write);
}

#[test]
fn a_read_older_than_the_base_is_retried_not_mistaken_for_an_edit() {
    let mut psa = org("p1", "Acme").with(Field::ShortName, "NEW");
    let mut itg = org("i1", "Acme").with(Field::ShortName, "NEW");
    psa.updated_at = 50;
    itg.updated_at = 60;
    let base = synced_base(&psa, &itg);
    // A lagging IT Glue replica still shows the value from before our write.
    let mut stale = org("i1", "Acme").with(Field::ShortName, "OLD");
    stale.updated_at = 40;
    let d = run(&linked(
        two_way(PsaKind::ConnectWise),
        Entity::Organization,
        base.clone(),
        Some(psa.clone()),
        Some(stale),
        Side::ItGlue,
    ));
    assert!(d.has_rule(Rule::StaleRead));
    assert_eq!(d.writes().count(), 0);
    assert!(stored_link(&d).is_none());

    // Twin: the same edit at a newer version is a real edit, pushed.
    let mut edited = itg.with(Field::ShortName, "EDITED");
    edited.updated_at = 70;
    let d = run(&linked(
        two_way(PsaKind::ConnectWise),
        Entity::Organization,
        base,
        Some(psa),
        Some(edited),
        Side::ItGlue,
    ));
    assert!(!d.has_rule(Rule::StaleRead));
    assert_eq!(psa_changes(&d).get(Field::ShortName), Some("EDITED"));
}
