//! Exact matching, candidates, link identity, ambiguity and near misses.

use syncbridge_engine::{ActionKind, Candidate, Rule};
use syncbridge_model::{Entity, Field, NearMissPolicy, PsaKind, Snapshot};

use crate::rules::common::*;

#[test]
fn exact_match_links_byte_equal_organization_name() {
    let d = run(&from_psa(
        tenant(PsaKind::ConnectWise),
        Entity::Organization,
        org("p1", "Acme"),
        vec![org("i1", "Acme")],
    ));
    assert_eq!(links(&d), vec![("p1".into(), "i1".into())]);
    assert!(d.has_rule(Rule::ExactMatch));
    assert_eq!(creates_in_itglue(&d), 0);
}

#[test]
fn exact_match_rejects_case_whitespace_unicode_and_trailing_dot_variants() {
    // NFD "Café" (e + combining acute) vs NFC "Café".
    let variants = ["acme", "ACME", " Acme", "Acme ", "Acme.", "Acme\u{a0}Inc"];
    for (psa_name, itg_name) in variants
        .iter()
        .map(|v| ("Acme", *v))
        .chain([("Acme Inc", "Acme\u{a0}Inc"), ("Cafe\u{301}", "Caf\u{e9}")])
    {
        let d = run(&from_psa(
            tenant(PsaKind::ConnectWise),
            Entity::Organization,
            org("p1", psa_name),
            vec![org("i1", itg_name)],
        ));
        assert!(links(&d).is_empty(), "{psa_name:?} linked to {itg_name:?}");
        assert_eq!(creates_in_itglue(&d), 1, "{psa_name:?} vs {itg_name:?}");
    }
}

#[test]
fn contact_key_is_organization_first_and_last_name() {
    let psa = contact("p1", "p-org", "Ada", "Lovelace");
    let same = contact("i1", "i-org", "Ada", "Lovelace");
    let d = run(&from_psa(
        tenant(PsaKind::ConnectWise),
        Entity::Contact,
        psa.clone(),
        vec![same],
    ));
    assert_eq!(links(&d), vec![("p1".into(), "i1".into())]);

    // Twin: same names in another organization is not a match.
    let elsewhere = contact("i1", "i-other-org", "Ada", "Lovelace");
    let d = run(&from_psa(
        tenant(PsaKind::ConnectWise),
        Entity::Contact,
        psa,
        vec![elsewhere],
    ));
    assert!(links(&d).is_empty());
    assert_eq!(creates_in_itglue(&d), 1);
}

#[test]
fn configuration_key_needs_serial_and_mac_equal_where_both_have_one() {
    let psa = config("p1", "p-org", "SRV01")
        .with(Field::SerialNumber, "SN1")
        .with(Field::MacAddress, "00:11:22:33:44:55");
    // IT Glue has no MAC: serial equal, MAC only on one side → match.
    let itg = config("i1", "i-org", "SRV01").with(Field::SerialNumber, "SN1");
    let d = run(&from_psa(
        tenant(PsaKind::ConnectWise),
        Entity::Configuration,
        psa.clone(),
        vec![itg],
    ));
    assert_eq!(links(&d), vec![("p1".into(), "i1".into())]);

    // Twin: both have a serial and they differ → no match.
    let itg = config("i1", "i-org", "SRV01").with(Field::SerialNumber, "SN2");
    let d = run(&from_psa(
        tenant(PsaKind::ConnectWise),
        Entity::Configuration,
        psa.clone(),
        vec![itg],
    ));
    assert!(links(&d).is_empty());

    // Twin: same name, different type → no match.
    let itg = config("i1", "i-org", "SRV01").with(Field::Type, "Workstation");
    let d = run(&from_psa(
        tenant(PsaKind::ConnectWise),
        Entity::Configuration,
        psa,
        vec![itg],
    ));
    assert!(links(&d).is_empty());
}

#[test]
fn location_key_is_the_full_address() {
    let psa = location("p1", "p-org", "1 Main St").with(Field::Region, "IL");
    let itg = location("i1", "i-org", "1 Main St").with(Field::Region, "IL");
    let d = run(&from_psa(
        tenant(PsaKind::ConnectWise),
        Entity::Location,
        psa.clone(),
        vec![itg.clone()],
    ));
    assert_eq!(links(&d), vec![("p1".into(), "i1".into())]);

    // Twin: address 2 differs.
    let itg = itg.with(Field::Address2, "Suite 5");
    let d = run(&from_psa(
        tenant(PsaKind::ConnectWise),
        Entity::Location,
        psa,
        vec![itg],
    ));
    assert!(links(&d).is_empty());
}

#[test]
fn only_unlinked_itglue_records_are_candidates() {
    let mut input = from_psa(
        tenant(PsaKind::ConnectWise),
        Entity::Organization,
        org("p1", "Acme"),
        vec![],
    );
    input.candidates = vec![Candidate {
        record: org("i1", "Acme"),
        linked_to: Some("p-other".into()),
    }];
    let d = run(&input);
    assert!(links(&d).is_empty(), "linked to another PSA record");
    assert_eq!(creates_in_itglue(&d), 1);

    // Twin: the same candidate, unlinked, is matched.
    input.candidates[0].linked_to = None;
    assert_eq!(links(&run(&input)), vec![("p1".into(), "i1".into())]);
}

#[test]
fn renamed_organization_stays_linked_by_id() {
    let psa_before = org("p1", "Acme");
    let itg = org("i1", "Acme");
    let base = synced_base(&psa_before, &itg);
    let renamed = org("p1", "Acme Holdings");
    // A decoy with the new name exists in IT Glue: the link, not the key, decides.
    let mut input = linked(
        tenant(PsaKind::ConnectWise),
        Entity::Organization,
        base,
        Some(renamed),
        Some(itg),
        syncbridge_model::Side::Psa,
    );
    input.candidates = vec![Candidate::unlinked(org("i-decoy", "Acme Holdings"))];
    let d = run(&input);
    assert!(links(&d).is_empty());
    assert_eq!(itg_changes(&d).get(Field::Name), Some("Acme Holdings"));
    assert!(d.actions.iter().all(|a| match &a.kind {
        ActionKind::UpdateItGlue { itg_id, .. } => itg_id == "i1",
        _ => true,
    }));

    // Twin: without a link, the renamed record is matched by key (to the decoy).
    let d = run(&from_psa(
        tenant(PsaKind::ConnectWise),
        Entity::Organization,
        org("p1", "Acme Holdings"),
        vec![org("i1", "Acme"), org("i-decoy", "Acme Holdings")],
    ));
    assert_eq!(links(&d), vec![("p1".into(), "i-decoy".into())]);
}

#[test]
fn ambiguity_links_nothing_and_creates_nothing() {
    let d = run(&from_psa(
        tenant(PsaKind::ConnectWise),
        Entity::Organization,
        org("p1", "Acme"),
        vec![org("i1", "Acme"), org("i2", "Acme")],
    ));
    assert!(links(&d).is_empty());
    assert_eq!(d.writes().count(), 0);
    assert!(d.actions.iter().any(|a| a.kind
        == ActionKind::ReportAmbiguity {
            candidates: vec!["i1".into(), "i2".into()]
        }));
    assert!(stored_link(&d).is_none());

    // Twin: one of the two is linked elsewhere → the other is the single candidate.
    let mut input = from_psa(
        tenant(PsaKind::ConnectWise),
        Entity::Organization,
        org("p1", "Acme"),
        vec![org("i1", "Acme"), org("i2", "Acme")],
    );
    input.candidates[0].linked_to = Some("p9".into());
    let d = run(&input);
    assert_eq!(links(&d), vec![("p1".into(), "i2".into())]);
    assert!(!d.has_rule(Rule::Ambiguity));
}

#[test]
fn near_miss_is_created_and_reported() {
    let d = run(&from_psa(
        tenant(PsaKind::ConnectWise),
        Entity::Organization,
        org("p1", "Acme Corp"),
        vec![org("i1", "ACME  corp")],
    ));
    assert!(d.actions.iter().any(|a| a.kind
        == ActionKind::ReportNearMiss {
            candidate_id: "i1".into()
        }));
    assert_eq!(creates_in_itglue(&d), 1);
    assert!(links(&d).is_empty());

    // Twin: an exact match is not a near miss.
    let d = run(&from_psa(
        tenant(PsaKind::ConnectWise),
        Entity::Organization,
        org("p1", "Acme Corp"),
        vec![org("i1", "Acme Corp")],
    ));
    assert!(!d.has_rule(Rule::NearMiss));
}

#[test]
fn near_miss_is_held_with_hold_policy() {
    let mut s = tenant(PsaKind::ConnectWise);
    s.near_miss = NearMissPolicy::Hold;
    let d = run(&from_psa(
        s.clone(),
        Entity::Organization,
        org("p1", "Acme Corp"),
        vec![org("i1", "acme corp")],
    ));
    assert!(d
        .actions
        .iter()
        .any(|a| matches!(a.kind, ActionKind::Hold { .. })));
    assert_eq!(d.writes().count(), 0);
    assert!(stored_link(&d).is_none());

    // Twin: with hold policy but no near miss at all, the record is created.
    let d = run(&from_psa(
        s,
        Entity::Organization,
        org("p1", "Acme Corp"),
        vec![org("i1", "Globex")],
    ));
    assert_eq!(creates_in_itglue(&d), 1);
    assert!(!d.has_rule(Rule::NearMiss));
}

#[test]
fn interrupted_create_resumes_by_linking_the_record_it_left_behind() {
    // The intent was stored, the create happened, the worker died before storing the link.
    let mut input = from_psa(
        tenant(PsaKind::ConnectWise),
        Entity::Organization,
        org("p1", "Acme"),
        vec![org("i-created", "Acme")],
    );
    let mut intent =
        syncbridge_model::Link::linked(Entity::Organization, "p1", "", Snapshot::default());
    intent.itg_id = None;
    intent.state = syncbridge_model::LinkState::Creating(syncbridge_model::Side::ItGlue);
    input.link = Some(intent.clone());
    let d = run(&input);
    assert_eq!(links(&d), vec![("p1".into(), "i-created".into())]);
    assert_eq!(creates_in_itglue(&d), 0);
    assert!(
        !d.has_rule(Rule::ItGlueRecordGone),
        "an intent is not a link"
    );

    // Twin: the create never happened (no record found) → create again.
    input.candidates.clear();
    assert_eq!(creates_in_itglue(&run(&input)), 1);
}

#[test]
fn near_misses_compare_every_key_field_loosely() {
    // Locations: both sides without address 2, city differs only in case → near miss.
    let psa = location("p1", "p-org", "1 Main St");
    let itg = location("i1", "i-org", "1 Main St").with(Field::City, "SPRINGFIELD");
    let d = run(&from_psa(
        tenant(PsaKind::ConnectWise),
        Entity::Location,
        psa.clone(),
        vec![itg],
    ));
    assert!(d.has_rule(Rule::NearMiss));
    // Twin: address 2 on one side only is a different address, not a near miss.
    let itg = location("i1", "i-org", "1 Main St").with(Field::Address2, "Suite 5");
    let d = run(&from_psa(
        tenant(PsaKind::ConnectWise),
        Entity::Location,
        psa,
        vec![itg],
    ));
    assert!(!d.has_rule(Rule::NearMiss));
}

#[test]
fn configuration_near_misses_respect_serial_numbers() {
    let psa = config("p1", "p-org", "SRV01").with(Field::SerialNumber, "sn1");
    let near = |serial: Option<&str>| {
        let mut itg = config("i1", "i-org", "srv01");
        if let Some(s) = serial {
            itg = itg.with(Field::SerialNumber, s);
        }
        run(&from_psa(
            tenant(PsaKind::ConnectWise),
            Entity::Configuration,
            psa.clone(),
            vec![itg],
        ))
        .has_rule(Rule::NearMiss)
    };
    assert!(near(Some("SN1")), "serials equal but for case");
    assert!(near(None), "serial on one side only");
    // Twin: different serials are different devices.
    assert!(!near(Some("SN2")));
}
