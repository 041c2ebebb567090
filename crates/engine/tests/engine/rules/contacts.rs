//! Contacts: the contacts-sync gate, same-name linking, association with configurations.

use syncbridge_engine::{ActionKind, Refs, Rule};
use syncbridge_model::{Entity, Field, PsaKind, Side};

use crate::rules::common::*;

#[test]
fn contacts_sync_off_creates_no_contact() {
    let mut s = tenant(PsaKind::ConnectWise);
    s.contacts_sync = false;
    let d = run(&from_psa(
        s,
        Entity::Contact,
        contact("p1", "p-org", "Ada", "Lovelace"),
        vec![],
    ));
    assert_eq!(d.writes().count(), 0);
    assert!(d.has_rule(Rule::ContactsGate));

    // Twin: contacts sync on → created.
    let d = run(&from_psa(
        tenant(PsaKind::ConnectWise),
        Entity::Contact,
        contact("p1", "p-org", "Ada", "Lovelace"),
        vec![],
    ));
    assert_eq!(creates_in_itglue(&d), 1);
}

#[test]
fn linked_contacts_keep_syncing_with_contacts_sync_off() {
    let mut s = tenant(PsaKind::ConnectWise);
    s.contacts_sync = false;
    let psa = contact("p1", "p-org", "Ada", "Lovelace");
    let itg = contact("i1", "i-org", "Ada", "Lovelace");
    let d = run(&linked(
        s,
        Entity::Contact,
        synced_base(&psa, &itg),
        Some(psa.with(Field::Title, "CTO")),
        Some(itg),
        Side::Psa,
    ));
    assert_eq!(itg_changes(&d).get(Field::Title), Some("CTO"));
}

#[test]
fn same_name_contact_in_the_organization_is_linked_not_created_and_the_psa_wins() {
    let psa = contact("p1", "p-org", "Ada", "Lovelace").with(Field::Email, "ada@acme.test");
    let itg = contact("i1", "i-org", "Ada", "Lovelace").with(Field::Email, "old@acme.test");
    let d = run(&from_psa(
        tenant(PsaKind::ConnectWise),
        Entity::Contact,
        psa.clone(),
        vec![itg],
    ));
    assert_eq!(links(&d), vec![("p1".into(), "i1".into())]);
    assert_eq!(creates_in_itglue(&d), 0);
    assert_eq!(itg_changes(&d).get(Field::Email), Some("ada@acme.test"));

    // Twin: a different last name → created, not linked.
    let other = contact("i1", "i-org", "Ada", "Byron");
    let d = run(&from_psa(
        tenant(PsaKind::ConnectWise),
        Entity::Contact,
        psa,
        vec![other],
    ));
    assert_eq!(creates_in_itglue(&d), 1);
}

fn config_with_contact(contact_company: &str) -> syncbridge_engine::Input {
    let psa = config("p1", "p-org", "SRV01").with(Field::Contact, "pc1");
    let mut input = from_psa(
        tenant(PsaKind::ConnectWise),
        Entity::Configuration,
        psa,
        vec![],
    );
    input.refs = Refs::new()
        .link(Entity::Contact, "pc1", "ic1")
        .contact_in_company("pc1", contact_company);
    input
}

fn created_contact_field(d: &syncbridge_engine::Decision) -> Option<String> {
    d.actions.iter().find_map(|a| match &a.kind {
        ActionKind::CreateInItGlue { values, .. } => {
            Some(values.get(Field::Contact).map(str::to_owned))
        }
        _ => None,
    })?
}

#[test]
fn configuration_contact_is_associated_within_the_same_client() {
    let d = run(&config_with_contact("p-org"));
    assert_eq!(
        created_contact_field(&d).as_deref(),
        Some("ic1"),
        "translated to the IT Glue contact"
    );
}

#[test]
fn configuration_contact_of_another_client_is_ignored() {
    let d = run(&config_with_contact("p-elsewhere"));
    assert_eq!(created_contact_field(&d), None);
    assert!(d.has_rule(Rule::ContactAssociation));
    assert_eq!(
        creates_in_itglue(&d),
        1,
        "the configuration itself still syncs"
    );
}

#[test]
fn association_waits_for_an_unlinked_contact_and_happens_once_it_is_linked() {
    let psa = config("p1", "p-org", "SRV01").with(Field::Contact, "pc1");
    let itg = config("i1", "i-org", "SRV01");
    let base = syncbridge_model::Snapshot {
        psa: config("p1", "p-org", "SRV01").values,
        itg: itg.values.clone(),
        ..Default::default()
    };
    let mut input = linked(
        tenant(PsaKind::ConnectWise),
        Entity::Configuration,
        base,
        Some(psa),
        Some(itg),
        Side::Psa,
    );
    input.refs = Refs::new().contact_in_company("pc1", "p-org");
    let d = run(&input);
    assert_eq!(d.writes().count(), 0, "contact not linked yet");
    let pending_base = stored_link(&d).map(|l| l.base.clone());
    // The base did not absorb the pending change (otherwise it would never be carried).
    if let Some(Some(b)) = pending_base {
        assert_eq!(b.psa.get(Field::Contact), None);
    }
    input.refs = input.refs.clone().link(Entity::Contact, "pc1", "ic1");
    let d = run(&input);
    assert_eq!(itg_changes(&d).get(Field::Contact), Some("ic1"));
}

#[test]
fn pending_references_name_the_rule_that_waits() {
    // A contact whose location is not linked yet: carried later, reported under parent_first.
    let psa = contact("p1", "p-org", "Ada", "Lovelace").with(Field::Location, "pl1");
    let itg = contact("i1", "i-org", "Ada", "Lovelace");
    let base = syncbridge_model::Snapshot {
        psa: contact("p1", "p-org", "Ada", "Lovelace").values,
        itg: itg.values.clone(),
        ..Default::default()
    };
    let mut input = linked(
        tenant(PsaKind::ConnectWise),
        Entity::Contact,
        base,
        Some(psa),
        Some(itg),
        Side::Psa,
    );
    let d = run(&input);
    assert!(d.has_rule(Rule::ParentFirst));
    assert!(!d.has_rule(Rule::ContactAssociation));
    assert_eq!(d.writes().count(), 0);
    // Twin: once the location is linked, a contact's location needs no client check.
    input.refs = Refs::new().link(Entity::Location, "pl1", "il1");
    let d = run(&input);
    assert_eq!(itg_changes(&d).get(Field::Location), Some("il1"));
}

#[test]
fn a_pending_configuration_contact_is_reported_under_contact_association() {
    let mut input = config_with_contact("p-org");
    input.refs = Refs::new().contact_in_company("pc1", "p-org");
    let d = run(&input);
    assert!(d.has_rule(Rule::ContactAssociation));
    assert_eq!(created_contact_field(&d), None);
}

#[test]
fn a_configuration_location_needs_no_client_check() {
    let psa = config("p1", "p-org", "SRV01").with(Field::Location, "pl1");
    let mut input = from_psa(
        tenant(PsaKind::ConnectWise),
        Entity::Configuration,
        psa,
        vec![],
    );
    input.refs = Refs::new().link(Entity::Location, "pl1", "il1");
    let d = run(&input);
    let location = d.actions.iter().find_map(|a| match &a.kind {
        ActionKind::CreateInItGlue { values, .. } => values.get(Field::Location).map(str::to_owned),
        _ => None,
    });
    assert_eq!(location.as_deref(), Some("il1"));
    assert!(!d.has_rule(Rule::ContactAssociation));
}
