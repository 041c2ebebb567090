//! No echo (content equal to the base yields no write) and shadow mode.

use syncbridge_engine::Rule;
use syncbridge_model::{Entity, Field, Mode, PsaKind, Side};

use crate::common::*;

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
