//! Creation timing (instant vs full sync), lookups and parent-first ordering.

use syncbridge_engine::{ActionKind, LookupKind, Parent, Rule, Trigger};
use syncbridge_model::{Entity, Field, PsaKind, Side};

use crate::rules::common::*;

#[test]
fn instant_create_creates_on_the_event() {
    let d = run(&from_psa(
        tenant(PsaKind::ConnectWise),
        Entity::Organization,
        org("p1", "Acme"),
        vec![],
    ));
    assert_eq!(creates_in_itglue(&d), 1);
    assert!(d.has_rule(Rule::InstantCreate));
    let link = stored_link(&d).expect("link stored after the create");
    assert_eq!(link.psa_id.as_deref(), Some("p1"));
    assert_eq!(
        link.itg_id, None,
        "filled in by the worker after the create"
    );
}

#[test]
fn without_instant_create_the_event_defers_to_the_full_sync() {
    let mut s = tenant(PsaKind::ConnectWise);
    s.instant_create = false;
    let mut input = from_psa(s, Entity::Organization, org("p1", "Acme"), vec![]);
    let d = run(&input);
    assert_eq!(d.writes().count(), 0);
    assert!(d
        .actions
        .iter()
        .any(|a| matches!(a.kind, ActionKind::Defer { .. })));

    // Twin: the full sync's reconcile event creates it.
    input.trigger = Trigger::FullSync;
    let d = run(&input);
    assert_eq!(creates_in_itglue(&d), 1);
    assert!(d.has_rule(Rule::FullSyncCreate));
}

#[test]
fn create_carries_every_mapped_field_and_no_other() {
    let psa = org("p1", "Acme")
        .with(Field::ShortName, "ACME")
        .with(Field::Notes, "not mapped for orgs");
    let d = run(&from_psa(
        tenant(PsaKind::ConnectWise),
        Entity::Organization,
        psa,
        vec![],
    ));
    let values = d
        .actions
        .iter()
        .find_map(|a| match &a.kind {
            ActionKind::CreateInItGlue { values, .. } => Some(values.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(values.get(Field::ShortName), Some("ACME"));
    assert_eq!(values.get(Field::Notes), None);
}

#[test]
fn missing_configuration_lookups_are_created_first() {
    let psa = config("p1", "p-org", "SRV01")
        .with(Field::Manufacturer, "Dell")
        .with(Field::Model, "R740");
    let mut input = from_psa(
        tenant(PsaKind::ConnectWise),
        Entity::Configuration,
        psa,
        vec![],
    );
    input.lookups.config_types.insert(SERVER.into());
    input.lookups.config_statuses.insert(ACTIVE.into());
    input.lookups.manufacturers.insert("Dell".into());
    let d = run(&input);
    let lookups: Vec<_> = d
        .actions
        .iter()
        .filter_map(|a| match &a.kind {
            ActionKind::CreateLookup { lookup, name, .. } => Some((*lookup, name.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(lookups, vec![(LookupKind::Model, "R740".to_string())]);
    // A model is created under its manufacturer.
    assert!(d.actions.iter().any(|a| matches!(
        &a.kind,
        ActionKind::CreateLookup { lookup: LookupKind::Model, manufacturer: Some(m), .. } if m == "Dell"
    )));
    let lookup_at = d
        .actions
        .iter()
        .position(|a| matches!(a.kind, ActionKind::CreateLookup { .. }))
        .unwrap();
    let create_at = d
        .actions
        .iter()
        .position(|a| matches!(a.kind, ActionKind::CreateInItGlue { .. }))
        .unwrap();
    assert!(lookup_at < create_at);

    // With no lookups at all, all four are created.
    let mut bare = input.clone();
    bare.lookups = Default::default();
    let kinds: Vec<_> = run(&bare)
        .actions
        .iter()
        .filter_map(|a| match &a.kind {
            ActionKind::CreateLookup { lookup, .. } => Some(*lookup),
            _ => None,
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            LookupKind::ConfigurationType,
            LookupKind::ConfigurationStatus,
            LookupKind::Manufacturer,
            LookupKind::Model
        ]
    );

    // Twin: every lookup present → none created.
    input.lookups.models.insert("R740".into());
    assert!(!run(&input).has_rule(Rule::Lookups));
}

#[test]
fn lookups_are_created_for_updates_too() {
    let before = config("p1", "p-org", "SRV01");
    let itg = config("i1", "i-org", "SRV01");
    let now = before.clone().with(Field::Type, "Firewall");
    let mut s = tenant(PsaKind::ConnectWise);
    s.config_types.insert("Firewall".into());
    let mut input = linked(
        s,
        Entity::Configuration,
        synced_base(&before, &itg),
        Some(now),
        Some(itg),
        Side::Psa,
    );
    input.lookups.config_types.insert(SERVER.into());
    input.lookups.config_statuses.insert(ACTIVE.into());
    let d = run(&input);
    assert!(d.actions.iter().any(|a| a.kind
        == ActionKind::CreateLookup {
            lookup: LookupKind::ConfigurationType,
            name: "Firewall".into(),
            manufacturer: None,
        }));
}

#[test]
fn child_waits_for_its_organization_to_sync_first() {
    let mut input = from_psa(
        tenant(PsaKind::ConnectWise),
        Entity::Contact,
        contact("p1", "p-org", "Ada", "Lovelace"),
        vec![],
    );
    input.parent = Parent::Unlinked;
    let d = run(&input);
    assert_eq!(
        d.actions[0].kind,
        ActionKind::SyncParentFirst {
            side: Side::Psa,
            org_id: "p-org".into()
        }
    );
    assert_eq!(d.writes().count(), 0);

    // Twin: with the organization linked, the contact is created inside it.
    input.parent = Parent::Linked {
        psa_id: "p-org".into(),
        itg_id: "i-org".into(),
    };
    let d = run(&input);
    assert!(d.actions.iter().any(|a| matches!(
        &a.kind,
        ActionKind::CreateInItGlue { org_id: Some(o), .. } if o == "i-org"
    )));
}

#[test]
fn missing_organization_types_and_statuses_are_created_from_the_psa() {
    let mut s = tenant(PsaKind::ConnectWise);
    s.org_types.insert("Client".into());
    s.org_statuses.insert("Onboarding".into());
    let mut input = from_psa(
        s,
        Entity::Organization,
        org("p1", "Acme")
            .with(Field::Type, "Client")
            .with(Field::Status, "Onboarding"),
        vec![],
    );
    input.lookups.org_types.insert(CUSTOMER.into());
    input.lookups.org_statuses.insert(ACTIVE.into());
    let d = run(&input);
    let lookups: Vec<_> = d
        .actions
        .iter()
        .filter_map(|a| match &a.kind {
            ActionKind::CreateLookup { lookup, name, .. } => Some((*lookup, name.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(
        lookups,
        vec![
            (LookupKind::OrganizationType, "Client"),
            (LookupKind::OrganizationStatus, "Onboarding")
        ]
    );
    assert_eq!(creates_in_itglue(&d), 1);

    // Twin: IT Glue already has them → no lookup.
    input.lookups.org_types.insert("Client".into());
    input.lookups.org_statuses.insert("Onboarding".into());
    assert!(!run(&input).has_rule(Rule::Lookups));
}
