//! Two-way: which IT Glue records are pushed, push eligibility, Network Glue contacts, push-all.

use syncbridge_engine::{ActionKind, Parent, Rule, Trigger};
use syncbridge_model::{Entity, Field, Origin, PsaKind, Side};

use crate::rules::common::*;

#[test]
fn two_way_is_available_only_for_autotask_connectwise_bms_and_pulseway() {
    for psa in [
        PsaKind::Autotask,
        PsaKind::ConnectWise,
        PsaKind::KaseyaBms,
        PsaKind::PulsewayPsa,
    ] {
        let d = run(&from_itg(
            two_way(psa),
            Entity::Organization,
            fresh(org("i1", "Acme")),
            vec![],
        ));
        assert_eq!(creates_in_psa(&d), 1, "{psa}");
    }
    // Twin: Tigerpaw refuses two-way in its settings, and never pushes.
    let mut s = tenant(PsaKind::Tigerpaw);
    s.two_way = true;
    assert!(s.validate().is_err());
    let d = run(&from_itg(
        s,
        Entity::Organization,
        fresh(org("i1", "Acme")),
        vec![],
    ));
    assert_eq!(d.writes().count(), 0);
    assert!(d.has_rule(Rule::TwoWayOnly));
}

#[test]
fn two_way_off_pushes_nothing() {
    let d = run(&from_itg(
        tenant(PsaKind::ConnectWise),
        Entity::Organization,
        fresh(org("i1", "Acme")),
        vec![],
    ));
    assert_eq!(d.writes().count(), 0);
    assert!(d.has_rule(Rule::TwoWayOnly));
}

#[test]
fn new_itglue_record_after_the_first_sync_is_pushed() {
    let d = run(&from_itg(
        two_way(PsaKind::ConnectWise),
        Entity::Organization,
        fresh(org("i1", "Acme")),
        vec![],
    ));
    assert_eq!(creates_in_psa(&d), 1);
    assert!(d.has_rule(Rule::TwoWayPush));
    let link = stored_link(&d).unwrap();
    assert_eq!(
        (link.psa_id.as_deref(), link.itg_id.as_deref()),
        (None, Some("i1"))
    );
}

#[test]
fn records_older_than_the_first_sync_wait_for_a_persons_edit() {
    let mut old = org("i1", "Acme");
    old.created_at = WATERMARK - 100;
    old.updated_at = WATERMARK - 100;
    let d = run(&from_itg(
        two_way(PsaKind::ConnectWise),
        Entity::Organization,
        old.clone(),
        vec![],
    ));
    assert_eq!(d.writes().count(), 0);
    assert!(d.has_rule(Rule::PreexistingWaits));
    assert!(not_yet_pushed(&d));

    // Twin: edited and saved after the first sync → pushed.
    old.updated_at = WATERMARK + 5;
    let d = run(&from_itg(
        two_way(PsaKind::ConnectWise),
        Entity::Organization,
        old,
        vec![],
    ));
    assert_eq!(creates_in_psa(&d), 1);
}

#[test]
fn imported_records_wait_for_a_persons_edit() {
    let mut imported = fresh(org("i1", "Acme"));
    imported.origin = Origin::Import;
    let d = run(&from_itg(
        two_way(PsaKind::ConnectWise),
        Entity::Organization,
        imported.clone(),
        vec![],
    ));
    assert!(d.has_rule(Rule::ImportedWaits));
    assert_eq!(d.writes().count(), 0);

    // Twin: edited after the import → pushed.
    imported.updated_at += 60_000;
    let d = run(&from_itg(
        two_way(PsaKind::ConnectWise),
        Entity::Organization,
        imported,
        vec![],
    ));
    assert_eq!(creates_in_psa(&d), 1);
}

#[test]
fn a_creation_burst_counts_as_an_import() {
    let s = two_way(PsaKind::ConnectWise);
    let mut input = from_itg(
        s.clone(),
        Entity::Contact,
        fresh(contact("i1", "i-org", "Ada", "Lovelace")),
        vec![],
    );
    input.recent_creations_in_org = s.import_burst + 1;
    assert!(run(&input).has_rule(Rule::ImportedWaits));

    // Twin: at the threshold, not a burst.
    input.recent_creations_in_org = s.import_burst;
    assert_eq!(creates_in_psa(&run(&input)), 1);
}

#[test]
fn push_needs_type_and_status_enabled_and_is_never_reverted() {
    let s = two_way(PsaKind::ConnectWise);
    let d = run(&from_itg(
        s.clone(),
        Entity::Organization,
        fresh(org("i1", "Acme").with(Field::Type, "Prospect")),
        vec![],
    ));
    assert!(d.has_rule(Rule::PushEligibility));
    assert!(not_yet_pushed(&d));
    assert_eq!(d.writes().count(), 0);

    // A linked record edited in IT Glue into an ineligible state: reported, not reverted, not pushed.
    let psa = org("p1", "Acme");
    let itg = org("i1", "Acme");
    let edited = itg
        .clone()
        .with(Field::Status, "Churned")
        .with(Field::ShortName, "AC");
    let d = run(&linked(
        s.clone(),
        Entity::Organization,
        synced_base(&psa, &itg),
        Some(psa.clone()),
        Some(edited),
        Side::ItGlue,
    ));
    assert!(not_yet_pushed(&d));
    assert_eq!(d.writes().count(), 0, "never reverted: {:?}", d.actions);

    // Twin: the same edit with an enabled status is pushed.
    let edited = itg.clone().with(Field::ShortName, "AC");
    let d = run(&linked(
        s,
        Entity::Organization,
        synced_base(&psa, &itg),
        Some(psa),
        Some(edited),
        Side::ItGlue,
    ));
    assert_eq!(psa_changes(&d).get(Field::ShortName), Some("AC"));
}

#[test]
fn autotask_configuration_push_needs_manufacturer_and_model() {
    let s = two_way(PsaKind::Autotask);
    let bare = fresh(config("i1", "i-org", "SRV01"));
    let d = run(&from_itg(
        s.clone(),
        Entity::Configuration,
        bare.clone(),
        vec![],
    ));
    assert!(d.has_rule(Rule::PushEligibility));
    assert_eq!(creates_in_psa(&d), 0);

    let full = bare
        .with(Field::Manufacturer, "Dell")
        .with(Field::Model, "R740");
    assert_eq!(
        creates_in_psa(&run(&from_itg(
            s,
            Entity::Configuration,
            full.clone(),
            vec![]
        ))),
        1
    );
    // Twin: ConnectWise has no such requirement.
    let bare = fresh(config("i1", "i-org", "SRV01"));
    assert_eq!(
        creates_in_psa(&run(&from_itg(
            two_way(PsaKind::ConnectWise),
            Entity::Configuration,
            bare,
            vec![]
        ))),
        1
    );
}

#[test]
fn kaseya_bms_contact_push_needs_an_email() {
    let c = fresh(contact("i1", "i-org", "Ada", "Lovelace"));
    let d = run(&from_itg(
        two_way(PsaKind::KaseyaBms),
        Entity::Contact,
        c.clone(),
        vec![],
    ));
    assert!(d.has_rule(Rule::PushEligibility));
    assert_eq!(creates_in_psa(&d), 0);
    let with_email = c.clone().with(Field::Email, "ada@acme.test");
    assert_eq!(
        creates_in_psa(&run(&from_itg(
            two_way(PsaKind::KaseyaBms),
            Entity::Contact,
            with_email,
            vec![]
        ))),
        1
    );
    // Twin: Pulseway PSA pushes without an email.
    assert_eq!(
        creates_in_psa(&run(&from_itg(
            two_way(PsaKind::PulsewayPsa),
            Entity::Contact,
            c,
            vec![]
        ))),
        1
    );
}

fn network_glue_contact() -> syncbridge_model::Record {
    let mut c =
        fresh(contact("i1", "i-org", "Ada", "Lovelace").with(Field::Email, "ada@acme.test"));
    c.origin = Origin::NetworkGlue;
    c
}

#[test]
fn network_glue_contacts_are_pushed_with_two_way() {
    let d = run(&from_itg(
        two_way(PsaKind::KaseyaBms),
        Entity::Contact,
        network_glue_contact(),
        vec![],
    ));
    assert_eq!(creates_in_psa(&d), 1);
    assert!(d.has_rule(Rule::NetworkGlueContact));

    // Twin: not without two-way.
    let d = run(&from_itg(
        tenant(PsaKind::KaseyaBms),
        Entity::Contact,
        network_glue_contact(),
        vec![],
    ));
    assert_eq!(d.writes().count(), 0);
}

#[test]
fn network_glue_contact_links_an_existing_psa_contact_instead_of_creating_one() {
    let existing = contact("p9", "p-org", "Ada", "Lovelace").with(Field::Title, "CTO");
    let d = run(&from_itg(
        two_way(PsaKind::ConnectWise),
        Entity::Contact,
        network_glue_contact(),
        vec![existing],
    ));
    assert_eq!(links(&d), vec![("p9".into(), "i1".into())]);
    assert_eq!(creates_in_psa(&d), 0);
    // The PSA wins on the newly linked pair.
    assert_eq!(itg_changes(&d).get(Field::Title), Some("CTO"));
}

#[test]
fn network_glue_contact_that_misses_requirements_is_not_pushed() {
    let mut c = network_glue_contact();
    c.values.set(Field::LastName, None);
    let d = run(&from_itg(
        two_way(PsaKind::ConnectWise),
        Entity::Contact,
        c,
        vec![],
    ));
    assert!(d.has_rule(Rule::PushEligibility));
    assert_eq!(d.writes().count(), 0);
}

#[test]
fn pushed_child_waits_for_its_organization() {
    let mut input = from_itg(
        two_way(PsaKind::ConnectWise),
        Entity::Contact,
        network_glue_contact(),
        vec![],
    );
    input.parent = Parent::Unlinked;
    let d = run(&input);
    assert_eq!(
        d.actions[0].kind,
        ActionKind::SyncParentFirst {
            side: Side::ItGlue,
            org_id: "i-org".into()
        }
    );
}

#[test]
fn push_all_pushes_records_that_otherwise_wait() {
    let mut old = org("i1", "Acme");
    old.created_at = WATERMARK - 100;
    old.updated_at = WATERMARK - 100;
    let mut input = from_itg(
        two_way(PsaKind::ConnectWise),
        Entity::Organization,
        old,
        vec![],
    );
    input.trigger = Trigger::PushAll;
    let d = run(&input);
    assert_eq!(creates_in_psa(&d), 1);
    assert!(d.has_rule(Rule::PushAll));

    // Push-all is idempotent: an existing PSA record with the key is linked, not created again.
    input.candidates = vec![syncbridge_engine::Candidate::unlinked(org("p1", "Acme"))];
    let d = run(&input);
    assert_eq!(creates_in_psa(&d), 0);
    assert_eq!(links(&d), vec![("p1".into(), "i1".into())]);

    // Twin: refused for a one-way PSA.
    let mut input = from_itg(
        tenant(PsaKind::Tigerpaw),
        Entity::Organization,
        org("i1", "Acme"),
        vec![],
    );
    input.trigger = Trigger::PushAll;
    assert!(run(&input).has_rule(Rule::TwoWayOnly));
}

#[test]
fn a_record_created_at_the_watermark_is_new() {
    let mut at = org("i1", "Acme");
    at.created_at = WATERMARK;
    at.updated_at = WATERMARK;
    let d = run(&from_itg(
        two_way(PsaKind::ConnectWise),
        Entity::Organization,
        at,
        vec![],
    ));
    assert_eq!(creates_in_psa(&d), 1);
}

#[test]
fn a_pushed_record_carries_only_both_way_fields_with_references_translated() {
    // A ConnectWise site: phone is PSA → IT Glue only, so it is not pushed.
    let loc = fresh(location("i1", "i-org", "1 Main St").with(Field::Phone, "555-0100"));
    let d = run(&from_itg(
        two_way(PsaKind::ConnectWise),
        Entity::Location,
        loc,
        vec![],
    ));
    let values = d
        .actions
        .iter()
        .find_map(|a| match &a.kind {
            ActionKind::CreateInPsa { values, .. } => Some(values.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(values.get(Field::City), Some("Springfield"));
    assert_eq!(values.get(Field::Phone), None);

    // A configuration's contact is translated to the PSA's id — of a contact, not of a
    // location that happens to share the IT Glue id.
    let cfg = fresh(config("i1", "i-org", "SRV01").with(Field::Contact, "x1"));
    let mut input = from_itg(
        two_way(PsaKind::ConnectWise),
        Entity::Configuration,
        cfg,
        vec![],
    );
    input.refs = syncbridge_engine::Refs::new()
        .link(Entity::Location, "pl9", "x1")
        .link(Entity::Contact, "pc1", "x1");
    let d = run(&input);
    let values = d
        .actions
        .iter()
        .find_map(|a| match &a.kind {
            ActionKind::CreateInPsa { values, .. } => Some(values.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(values.get(Field::Contact), Some("pc1"));
}

#[test]
fn a_linked_reference_edit_in_itglue_is_pushed_translated() {
    let psa = config("p1", "p-org", "SRV01").with(Field::Contact, "pc1");
    let itg = config("i1", "i-org", "SRV01").with(Field::Contact, "ic1");
    let base = synced_base(&psa, &itg);
    let mut input = linked(
        two_way(PsaKind::ConnectWise),
        Entity::Configuration,
        base,
        Some(psa),
        Some(itg.with(Field::Contact, "ic2")),
        Side::ItGlue,
    );
    input.refs = syncbridge_engine::Refs::new()
        .link(Entity::Contact, "pc1", "ic1")
        .link(Entity::Contact, "pc2", "ic2");
    let d = run(&input);
    assert_eq!(psa_changes(&d).get(Field::Contact), Some("pc2"));
    // Twin: the new contact is not linked yet → nothing pushed until it is.
    input.refs = syncbridge_engine::Refs::new().link(Entity::Contact, "pc1", "ic1");
    assert_eq!(run(&input).writes().count(), 0);
}

#[test]
fn a_push_never_links_to_an_out_of_scope_psa_record_with_the_same_key() {
    // The PSA's "Acme" is a prospect (type not enabled): linking would orphan at its next event.
    let prospect = org("p1", "Acme").with(Field::Type, "Prospect");
    let d = run(&from_itg(
        two_way(PsaKind::ConnectWise),
        Entity::Organization,
        fresh(org("i1", "Acme")),
        vec![prospect],
    ));
    assert_eq!(d.writes().count(), 0);
    assert!(!d
        .actions
        .iter()
        .any(|a| matches!(a.kind, ActionKind::Link { .. })));
    assert!(d.actions.iter().any(|a| a.rule == Rule::PushEligibility
        && matches!(&a.kind, ActionKind::ReportNotYetPushed { reason } if reason.contains("out of scope"))));
    // Twin: the same key on an in-scope PSA record is linked.
    let d = run(&from_itg(
        two_way(PsaKind::ConnectWise),
        Entity::Organization,
        fresh(org("i1", "Acme")),
        vec![org("p1", "Acme")],
    ));
    assert!(d
        .actions
        .iter()
        .any(|a| matches!(a.kind, ActionKind::Link { .. })));
}
