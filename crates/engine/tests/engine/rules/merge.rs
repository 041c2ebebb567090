//! PSA always wins: the per-field three-way merge, two-way push and one-way revert.

use syncbridge_engine::Rule;
use syncbridge_model::{Entity, Field, PsaKind, Side};

use crate::rules::common::*;

fn synced_config() -> (syncbridge_model::Record, syncbridge_model::Record) {
    let psa = config("p1", "p-org", "SRV01")
        .with(Field::SerialNumber, "SN1")
        .with(Field::Notes, "rack 4");
    let itg = config("i1", "i-org", "SRV01")
        .with(Field::SerialNumber, "SN1")
        .with(Field::Notes, "rack 4");
    (psa, itg)
}

#[test]
fn psa_edit_overwrites_itglue() {
    let (psa, itg) = synced_config();
    let base = synced_base(&psa, &itg);
    let d = run(&linked(
        tenant(PsaKind::ConnectWise),
        Entity::Configuration,
        base,
        Some(psa.with(Field::Notes, "rack 5")),
        Some(itg),
        Side::Psa,
    ));
    assert_eq!(itg_changes(&d).get(Field::Notes), Some("rack 5"));
    assert!(d.has_rule(Rule::PsaWins));
    assert_eq!(psa_changes(&d), Default::default());
}

#[test]
fn same_field_changed_on_both_sides_takes_the_psa_value() {
    let (psa, itg) = synced_config();
    let base = synced_base(&psa, &itg);
    for s in [tenant(PsaKind::ConnectWise), two_way(PsaKind::ConnectWise)] {
        let d = run(&linked(
            s,
            Entity::Configuration,
            base.clone(),
            Some(psa.clone().with(Field::Notes, "psa says")),
            Some(itg.clone().with(Field::Notes, "itg says")),
            Side::ItGlue,
        ));
        assert_eq!(itg_changes(&d).get(Field::Notes), Some("psa says"));
        assert!(d.has_rule(Rule::PsaWinsConflict));
        assert!(psa_changes(&d).get(Field::Notes).is_none());
    }
}

#[test]
fn different_fields_changed_on_each_side_both_survive_with_two_way() {
    let (psa, itg) = synced_config();
    let base = synced_base(&psa, &itg);
    let d = run(&linked(
        two_way(PsaKind::ConnectWise),
        Entity::Configuration,
        base,
        Some(psa.with(Field::Notes, "psa notes")),
        Some(itg.with(Field::SerialNumber, "SN9")),
        Side::ItGlue,
    ));
    assert_eq!(itg_changes(&d).get(Field::Notes), Some("psa notes"));
    assert_eq!(psa_changes(&d).get(Field::SerialNumber), Some("SN9"));
}

#[test]
fn itglue_only_edit_is_pushed_when_two_way_is_enabled() {
    let (psa, itg) = synced_config();
    let base = synced_base(&psa, &itg);
    let d = run(&linked(
        two_way(PsaKind::Autotask),
        Entity::Configuration,
        base.clone(),
        Some(
            psa.clone()
                .with(Field::Manufacturer, "Dell")
                .with(Field::Model, "R740"),
        ),
        Some(
            itg.clone()
                .with(Field::Manufacturer, "Dell")
                .with(Field::Model, "R740")
                .with(Field::Notes, "edited in IT Glue"),
        ),
        Side::ItGlue,
    ));
    // Manufacturer/model appear on both sides at once: each side changed to the same value.
    assert_eq!(psa_changes(&d).get(Field::Notes), Some("edited in IT Glue"));
    assert!(d.has_rule(Rule::TwoWayPush));
    assert!(itg_changes(&d).get(Field::Notes).is_none());
}

#[test]
fn itglue_only_edit_is_reverted_on_a_one_way_tenant() {
    let (psa, itg) = synced_config();
    let base = synced_base(&psa, &itg);
    let d = run(&linked(
        tenant(PsaKind::ConnectWise),
        Entity::Configuration,
        base,
        Some(psa),
        Some(itg.with(Field::Notes, "edited in IT Glue")),
        Side::ItGlue,
    ));
    assert_eq!(itg_changes(&d).get(Field::Notes), Some("rack 4"));
    assert!(d.has_rule(Rule::OneWayRevert));
    assert_eq!(psa_changes(&d), Default::default());
}

#[test]
fn one_way_psa_reverts_itglue_edits() {
    // Tigerpaw: two-way cannot even be enabled; an IT Glue edit is restored.
    let psa = contact("p1", "p-org", "Ada", "Lovelace").with(Field::Title, "CTO");
    let itg = contact("i1", "i-org", "Ada", "Lovelace").with(Field::Title, "CTO");
    let base = synced_base(&psa, &itg);
    let d = run(&linked(
        tenant(PsaKind::Tigerpaw),
        Entity::Contact,
        base,
        Some(psa),
        Some(itg.with(Field::Title, "CEO")),
        Side::ItGlue,
    ));
    assert_eq!(itg_changes(&d).get(Field::Title), Some("CTO"));
    assert!(d.has_rule(Rule::OneWayRevert));
}

#[test]
fn psa_to_itglue_only_fields_are_never_pushed() {
    // ConnectWise site phone is one-way even with two-way on.
    let psa = location("p1", "p-org", "1 Main St").with(Field::Phone, "555-0100");
    let itg = location("i1", "i-org", "1 Main St").with(Field::Phone, "555-0100");
    let base = synced_base(&psa, &itg);
    let d = run(&linked(
        two_way(PsaKind::ConnectWise),
        Entity::Location,
        base.clone(),
        Some(psa.clone()),
        Some(itg.clone().with(Field::Phone, "555-0199")),
        Side::ItGlue,
    ));
    assert!(psa_changes(&d).get(Field::Phone).is_none());
    assert_eq!(itg_changes(&d).get(Field::Phone), Some("555-0100"));
    assert!(d.has_rule(Rule::PsaOnlyField));

    // Twin: a both-ways field of the same record is pushed.
    let d = run(&linked(
        two_way(PsaKind::ConnectWise),
        Entity::Location,
        base,
        Some(psa),
        Some(itg.with(Field::City, "Shelbyville")),
        Side::ItGlue,
    ));
    assert_eq!(psa_changes(&d).get(Field::City), Some("Shelbyville"));
}

#[test]
fn a_fresh_link_takes_every_psa_value() {
    let psa = org("p1", "Acme").with(Field::ShortName, "ACME");
    let itg = org("i1", "Acme").with(Field::ShortName, "acme-old");
    let d = run(&from_psa(
        tenant(PsaKind::ConnectWise),
        Entity::Organization,
        psa,
        vec![itg],
    ));
    assert_eq!(itg_changes(&d).get(Field::ShortName), Some("ACME"));
    assert_eq!(psa_changes(&d), Default::default());
}

#[test]
fn a_psa_value_cleared_clears_itglue() {
    let (psa, itg) = synced_config();
    let base = synced_base(&psa, &itg);
    let mut cleared = psa.clone();
    cleared.values.set(Field::Notes, None);
    let d = run(&linked(
        tenant(PsaKind::ConnectWise),
        Entity::Configuration,
        base,
        Some(cleared),
        Some(itg),
        Side::Psa,
    ));
    let changes: Vec<_> = d
        .actions
        .iter()
        .filter_map(|a| match &a.kind {
            syncbridge_engine::ActionKind::UpdateItGlue { changes, .. } => Some(changes.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].get(&Field::Notes), Some(&None));
}

#[test]
fn vendor_normalisation_does_not_ping_pong() {
    // The PSA stores "SN1", IT Glue normalised our write to "sn1": each side equals its own base.
    let psa = config("p1", "p-org", "SRV01").with(Field::SerialNumber, "SN1");
    let itg = config("i1", "i-org", "SRV01").with(Field::SerialNumber, "sn1");
    let base = synced_base(&psa, &itg);
    let d = run(&linked(
        two_way(PsaKind::ConnectWise),
        Entity::Configuration,
        base,
        Some(psa),
        Some(itg),
        Side::ItGlue,
    ));
    assert_eq!(d.writes().count(), 0);
    assert!(d.has_rule(Rule::NoEcho));
}
