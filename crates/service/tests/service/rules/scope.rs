//! Scope, end to end: the type AND status gate (`type_status_gate`; a company entering scope is
//! created on its webhook) and the capability matrix (`entity_capability`): ConnectWise sites sync
//! to IT Glue locations, an Autotask tenant syncs no location and a Tigerpaw tenant no
//! configuration, and a person's IT Glue edit of such a record is ignored, neither pushed nor
//! reverted.

use crate::common::e2e;

use e2e::{
    any_action, creates, eventually, in_scope, itg_orgs_named, psa_org_id, seed_where, E2e,
    DOCUMENTED,
};
use serde_json::json;
use syncbridge_model::{Entity, Field, PsaKind};
use syncbridge_sim::admin::AdminOps;

use super::fields;

/// A company whose type is not enabled creates nothing; making its type enabled while its status
/// is not still creates nothing (type AND status); enabling the status too brings it into scope and
/// it is created in IT Glue on that webhook (instant create).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn type_and_status_gate_then_instant_create_on_entering_scope() {
    let target = DOCUMENTED + 1;
    let seed = seed_where(|ds| {
        let o = &ds.organizations[target];
        o.kind != 0 && o.active
    });
    let e = E2e::launch(PsaKind::ConnectWise, seed).await;
    let name = e.ds.organizations[target].name.clone();
    let psa_id = psa_org_id(target);
    // Type not enabled (status Active): nothing (the full sync does not even publish it).
    out_of_scope(&e, &psa_id, &name).await;

    // Type enabled ("Client"), status not (Inactive): still nothing, and the gate says why.
    let seen = e
        .audits_of(Entity::Organization, "psa", &psa_id)
        .await
        .len();
    e.tenant
        .psa
        .edit_as_person(
            "companies",
            &psa_id,
            fields(json!({"types": [{"id": 1}], "status": {"id": 2}})),
        )
        .unwrap();
    eventually("the type change is decided", || async {
        (e.audits_of(Entity::Organization, "psa", &psa_id)
            .await
            .len()
            > seen)
            .then_some(())
    })
    .await;
    e.settle().await;
    out_of_scope(&e, &psa_id, &name).await;
    let audits = e.audits_of(Entity::Organization, "psa", &psa_id).await;
    assert!(any_action(&audits, "type_status_gate", None), "{audits:#?}");

    // Both enabled: created at once, from the webhook of that edit.
    e.tenant
        .psa
        .edit_as_person("companies", &psa_id, fields(json!({"status": {"id": 1}})))
        .unwrap();
    let itg_id = eventually("the company entering scope is created in IT Glue", || {
        e.linked_itg(Entity::Organization, &psa_id)
    })
    .await;
    assert_eq!(itg_orgs_named(&e, &name), vec![itg_id.clone()]);
    assert_eq!(
        e.itg_value(Entity::Organization, &itg_id, Field::Type)
            .await,
        e.psa_value(Entity::Organization, &psa_id, Field::Type)
            .await
    );
    let audits = e.audits_of(Entity::Organization, "psa", &psa_id).await;
    assert!(
        any_action(&audits, "instant_create", Some("create_in_itglue")),
        "{audits:#?}"
    );
    e.settle().await;
    e.assert_no_echo();
    e.stop().await;
}

async fn out_of_scope(e: &E2e, psa_id: &str, name: &str) {
    assert_eq!(e.linked_itg(Entity::Organization, psa_id).await, None);
    assert!(itg_orgs_named(e, name).is_empty(), "{name} not created");
}

/// ConnectWise syncs sites: every site of an in-scope company is linked to an IT Glue location at
/// the same address in the linked organization (the undocumented ones created by syncbridge).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connectwise_sites_sync_to_itglue_locations() {
    let e = E2e::launch(PsaKind::ConnectWise, 1).await;
    let mut synced = 0;
    for site in e.psa_all(Entity::Location).await {
        let org = site.org_id.clone().expect("a site's company");
        let index: usize = org.parse::<usize>().unwrap() - 1;
        if !in_scope(&e.ds.organizations[index]) {
            continue;
        }
        let itg = e
            .linked_itg(Entity::Location, &site.id)
            .await
            .unwrap_or_else(|| panic!("site {} is linked", site.id));
        let location = e.itg(Entity::Location, &itg).await.expect("in IT Glue");
        assert_eq!(
            location.org_id,
            e.linked_itg(Entity::Organization, &org).await,
            "in the linked organization"
        );
        for f in [Field::Address1, Field::City] {
            assert_eq!(location.get(f), site.get(f), "{f:?}");
        }
        synced += 1;
    }
    assert!(synced >= 1);
    assert!(
        !creates(&e.sync_writes_in(true, "locations")).is_empty(),
        "undocumented sites are created as IT Glue locations"
    );
    let audits = e.audits(Entity::Location).await;
    assert!(
        !any_action(&audits, "entity_capability", None),
        "{audits:#?}"
    );
    e.assert_no_echo();
    e.stop().await;
}

/// Autotask has no locations to sync: after the full sync no IT Glue location is created or
/// linked, and IT Glue's documented locations are left as they are. Its negative twin: the
/// organizations and contacts of the same run are synced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autotask_creates_no_itglue_locations() {
    let e = E2e::launch(PsaKind::Autotask, 1).await;
    assert!(!e.linked_pairs(Entity::Organization).await.is_empty());
    assert!(!e.linked_pairs(Entity::Contact).await.is_empty());
    let locations = e.itg_state("locations");
    assert_eq!(locations.len(), documented_count(&e, Entity::Location));
    assert!(e.sync_writes_in(true, "locations").is_empty());
    assert!(e
        .links
        .psa_ids(&e.id, Entity::Location)
        .await
        .unwrap()
        .is_empty());
    e.assert_no_echo();
    e.stop().await;
}

/// Tigerpaw's configurations are not synced: after the full sync no IT Glue configuration is
/// created or linked, and IT Glue's documented configurations are left as they are. Its negative
/// twin: the organizations of the same run are synced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tigerpaw_configurations_are_not_synced() {
    let e = E2e::launch(PsaKind::Tigerpaw, 1).await;
    assert!(!e.linked_pairs(Entity::Organization).await.is_empty());
    let configurations = e.itg_state("configurations");
    assert_eq!(
        configurations.len(),
        documented_count(&e, Entity::Configuration)
    );
    assert!(e.sync_writes_in(true, "configurations").is_empty());
    assert!(e
        .links
        .psa_ids(&e.id, Entity::Configuration)
        .await
        .unwrap()
        .is_empty());
    e.assert_no_echo();
    e.stop().await;
}

/// The IT Glue records of `collection` a data set documents before the first sync.
fn documented_count(e: &E2e, entity: Entity) -> usize {
    match entity {
        Entity::Location => {
            e.ds.locations
                .iter()
                .filter(|l| l.org < e2e::DOCUMENTED)
                .count()
        }
        Entity::Configuration => {
            e.ds.configurations
                .iter()
                .filter(|c| c.org < e2e::DOCUMENTED)
                .count()
        }
        _ => unreachable!(),
    }
}

/// A person edits, in IT Glue, a record of an entity the tenant's PSA does not sync (`entity`,
/// documented in a linked organization): the edit is decided by the capability (`ignore`,
/// `entity_capability`) and audited, not dead-lettered; it is neither pushed nor reverted.
async fn itglue_edit_of_an_unsynced_entity_is_ignored(kind: PsaKind, entity: Entity) {
    let e = E2e::launch(kind, 1).await;
    let collection = match entity {
        Entity::Location => "locations",
        Entity::Configuration => "configurations",
        _ => unreachable!(),
    };
    let records = e.tenant.itglue.sim.state(collection).unwrap();
    let id = records
        .iter()
        .find(|r| r["organization-id"] == 1)
        .expect("a record documented in organization 1")["id"]
        .to_string();
    assert!(e
        .linked_pairs(Entity::Organization)
        .await
        .iter()
        .any(|(_, itg)| itg == "1"));
    e.itg_edit(entity, &id, Field::Name, "renamed-by-a-person")
        .await;
    eventually("the IT Glue edit is decided by the capability", || async {
        let dead = e.dead_letters().await;
        assert!(
            dead.is_empty(),
            "dead-lettered instead of decided: {dead:#?}"
        );
        let audits = e.audits_of(entity, "it_glue", &id).await;
        any_action(&audits, "entity_capability", Some("ignore")).then_some(())
    })
    .await;
    e.settle().await;
    let dead = e.dead_letters().await;
    assert!(dead.is_empty(), "nothing dead-lettered: {dead:#?}");
    assert_eq!(
        e.itg_value(entity, &id, Field::Name).await.as_deref(),
        Some("renamed-by-a-person"),
        "not reverted"
    );
    assert!(e.sync_writes_in(true, collection).is_empty());
    e.assert_no_echo();
    e.stop().await;
}

/// [`itglue_edit_of_an_unsynced_entity_is_ignored`] for an Autotask tenant's IT Glue location.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autotask_itglue_location_edit_is_ignored_by_the_capability() {
    itglue_edit_of_an_unsynced_entity_is_ignored(PsaKind::Autotask, Entity::Location).await;
}

/// [`itglue_edit_of_an_unsynced_entity_is_ignored`] for a Tigerpaw tenant's IT Glue configuration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tigerpaw_itglue_configuration_edit_is_ignored_by_the_capability() {
    itglue_edit_of_an_unsynced_entity_is_ignored(PsaKind::Tigerpaw, Entity::Configuration).await;
}
