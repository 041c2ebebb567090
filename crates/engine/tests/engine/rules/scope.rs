//! The type/status gate and the capability matrix (entities, locations).

use syncbridge_engine::Rule;
use syncbridge_model::{Entity, Field, PsaKind};

use crate::rules::common::*;

fn org_with(type_: &str, status: &str) -> syncbridge_model::Record {
    org("p1", "Acme")
        .with(Field::Type, type_)
        .with(Field::Status, status)
}

#[test]
fn type_and_status_both_enabled_is_in_scope() {
    let d = run(&from_psa(
        tenant(PsaKind::ConnectWise),
        Entity::Organization,
        org_with(CUSTOMER, ACTIVE),
        vec![],
    ));
    assert_eq!(creates_in_itglue(&d), 1);
    assert!(!d.has_rule(Rule::TypeStatusGate));
}

#[test]
fn type_enabled_but_status_not_is_out_of_scope() {
    let d = run(&from_psa(
        tenant(PsaKind::ConnectWise),
        Entity::Organization,
        org_with(CUSTOMER, "Inactive"),
        vec![],
    ));
    assert_eq!(d.writes().count(), 0);
    assert!(d.has_rule(Rule::TypeStatusGate));
}

#[test]
fn status_enabled_but_type_not_is_out_of_scope() {
    let d = run(&from_psa(
        tenant(PsaKind::ConnectWise),
        Entity::Organization,
        org_with("Prospect", ACTIVE),
        vec![],
    ));
    assert_eq!(d.writes().count(), 0);
    assert!(d.has_rule(Rule::TypeStatusGate));
}

#[test]
fn configuration_gate_uses_configuration_types_and_statuses() {
    let s = tenant(PsaKind::ConnectWise);
    let d = run(&from_psa(
        s.clone(),
        Entity::Configuration,
        config("p1", "p-org", "SRV").with(Field::Type, "Printer"),
        vec![],
    ));
    assert!(d.has_rule(Rule::TypeStatusGate));
    assert_eq!(d.writes().count(), 0);
    // Twin: enabled type.
    let d = run(&from_psa(
        s,
        Entity::Configuration,
        config("p1", "p-org", "SRV"),
        vec![],
    ));
    assert_eq!(creates_in_itglue(&d), 1);
}

#[test]
fn multi_type_company_is_in_scope_when_any_type_is_enabled() {
    let mut rec = org_with("Vendor", ACTIVE);
    rec.extra_types = vec![CUSTOMER.into()];
    let d = run(&from_psa(
        tenant(PsaKind::ConnectWise),
        Entity::Organization,
        rec,
        vec![],
    ));
    assert_eq!(creates_in_itglue(&d), 1);

    // Twin: no enabled type among several.
    let mut rec = org_with("Vendor", ACTIVE);
    rec.extra_types = vec!["Partner".into()];
    let d = run(&from_psa(
        tenant(PsaKind::ConnectWise),
        Entity::Organization,
        rec,
        vec![],
    ));
    assert!(d.has_rule(Rule::TypeStatusGate));
}

#[test]
fn locations_only_sync_for_psas_whose_capability_says_so() {
    for psa in [PsaKind::Autotask, PsaKind::PulsewayPsa] {
        let d = run(&from_psa(
            tenant(psa),
            Entity::Location,
            location("p1", "p-org", "1 Main St"),
            vec![],
        ));
        assert!(d.has_rule(Rule::EntityCapability), "{psa}");
        assert_eq!(d.writes().count(), 0, "{psa}");
    }
    // Twin: the PSAs with locations create them.
    for psa in [PsaKind::ConnectWise, PsaKind::KaseyaBms, PsaKind::Tigerpaw] {
        let d = run(&from_psa(
            tenant(psa),
            Entity::Location,
            location("p1", "p-org", "1 Main St"),
            vec![],
        ));
        assert_eq!(creates_in_itglue(&d), 1, "{psa}");
    }
}

#[test]
fn tigerpaw_configurations_are_not_synced() {
    let d = run(&from_psa(
        tenant(PsaKind::Tigerpaw),
        Entity::Configuration,
        config("p1", "p-org", "SRV"),
        vec![],
    ));
    assert!(d.has_rule(Rule::EntityCapability));
    assert_eq!(d.writes().count(), 0);
    let d = run(&from_psa(
        tenant(PsaKind::KaseyaBms),
        Entity::Configuration,
        config("p1", "p-org", "SRV"),
        vec![],
    ));
    assert_eq!(creates_in_itglue(&d), 1);
}
