//! Creation, end to end: `instant_create = false` defers a company entering scope to the next full
//! sync (`full_sync_create`), a child whose organization is not linked syncs the organization first
//! (`parent_first`), and a configuration type IT Glue lacks is created as a lookup (`lookups`).

use crate::common::e2e;

use std::collections::BTreeSet;

use e2e::{
    any_action, eventually, in_scope, itg_orgs_named, psa_org_id, seed_where, E2e, DOCUMENTED,
};
use serde_json::{json, Value};
use syncbridge_model::{Entity, Field, PsaKind};
use syncbridge_sim::admin::AdminOps;

use super::fields;

/// With `instant_create = false`, a ConnectWise company a person brings into scope (its type
/// changed to an enabled one) is not created on its webhook — the decision is deferred — and the
/// next full sync creates it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_instant_create_entering_scope_waits_for_the_next_full_sync() {
    let target = e2e::DOCUMENTED + 1;
    let seed = seed_where(|ds| {
        let o = &ds.organizations[target];
        o.kind != 0 && o.active
    });
    let e = E2e::launch_with(PsaKind::ConnectWise, seed, |s| s.instant_create = false).await;
    let name = e.ds.organizations[target].name.clone();
    let psa_id = psa_org_id(target);
    assert_eq!(e.linked_itg(Entity::Organization, &psa_id).await, None);
    assert!(itg_orgs_named(&e, &name).is_empty());

    e.tenant
        .psa
        .edit_as_person("companies", &psa_id, fields(json!({"types": [{"id": 1}]})))
        .unwrap();
    eventually("entering scope is deferred to the full sync", || async {
        let audits = e.audits_of(Entity::Organization, "psa", &psa_id).await;
        any_action(&audits, "full_sync_create", Some("defer")).then_some(())
    })
    .await;
    e.settle().await;
    assert_eq!(
        e.linked_itg(Entity::Organization, &psa_id).await,
        None,
        "not created on its event"
    );
    assert!(itg_orgs_named(&e, &name).is_empty(), "{name} not created");

    // The next full sync creates it (a run of its own: full-sync events are deduplicated per run).
    e.full_sync_run("e2e-next").await;
    let itg_id = eventually("the full sync creates the company", || {
        e.linked_itg(Entity::Organization, &psa_id)
    })
    .await;
    assert_eq!(itg_orgs_named(&e, &name), vec![itg_id]);
    let audits = e.audits_of(Entity::Organization, "psa", &psa_id).await;
    assert!(
        any_action(&audits, "full_sync_create", Some("create_in_itglue")),
        "{audits:#?}"
    );
    assert!(
        !any_action(&audits, "instant_create", None),
        "never created instantly: {audits:#?}"
    );
    e.settle().await;
    e.assert_no_echo();
    e.stop().await;
}

/// No full sync: a person edits a contact of a company nobody synced yet. The contact's webhook
/// syncs the company first (created in IT Glue on the contact's event), then the contact inside
/// it. The company next door, never touched, stays unsynced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_of_an_unlinked_organization_syncs_the_organization_first() {
    let target = DOCUMENTED + 1;
    let seed = seed_where(|ds| {
        in_scope(&ds.organizations[target]) && in_scope(&ds.organizations[target + 1])
    });
    let mut e = E2e::start(PsaKind::ConnectWise, seed).await;
    e.run().await;
    let org_psa = psa_org_id(target);
    let contact = e
        .psa_all(Entity::Contact)
        .await
        .into_iter()
        .find(|c| c.org_id.as_deref() == Some(org_psa.as_str()))
        .expect("a contact of the company");
    e.psa_edit(
        Entity::Contact,
        &contact.id,
        Field::Title,
        "Head of Parent-First",
    )
    .await;

    let contact_itg = eventually("the contact is synced", || {
        e.linked_itg(Entity::Contact, &contact.id)
    })
    .await;
    let org_itg = e
        .linked_itg(Entity::Organization, &org_psa)
        .await
        .expect("its company was synced first");
    let itg_contact = e.itg(Entity::Contact, &contact_itg).await.unwrap();
    assert_eq!(itg_contact.org_id.as_deref(), Some(org_itg.as_str()));
    assert_eq!(itg_contact.get(Field::Title), Some("Head of Parent-First"));
    // The company was synced on the contact's event.
    let org_audits = e.audits_of(Entity::Organization, "psa", &org_psa).await;
    assert!(
        org_audits
            .iter()
            .any(|a| a["event"]["entity"] == "contact" && has_create(a, "create_in_itglue")),
        "{org_audits:#?}"
    );
    e.settle().await;
    // Negative twin: nothing asked for the next company.
    assert_eq!(
        e.link(Entity::Organization, &psa_org_id(target + 1)).await,
        None
    );
    e.assert_no_echo();
    e.stop().await;
}

fn has_create(audit: &Value, kind: &str) -> bool {
    audit["actions"]
        .as_array()
        .is_some_and(|a| a.iter().any(|x| x["kind"] == kind))
}

const CONFIG_TYPE_NAMES: [&str; 6] = [
    "Server",
    "Workstation",
    "Laptop",
    "Firewall",
    "Switch",
    "Printer",
];

/// IT Glue lacks a configuration type the PSA's configurations use: it is created in IT Glue (a
/// lookup, not a synced record) and the configuration syncs with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_configuration_type_is_created_in_itglue() {
    // A type no documented configuration uses, that an active configuration of an in-scope,
    // undocumented organization has.
    let pick = |ds: &syncbridge_sim::seed::Dataset| {
        let documented: BTreeSet<usize> = ds
            .configurations
            .iter()
            .filter(|c| c.org < DOCUMENTED)
            .map(|c| c.kind)
            .collect();
        ds.configurations
            .iter()
            .find(|c| {
                c.org > DOCUMENTED
                    && c.active
                    && in_scope(&ds.organizations[c.org])
                    && !documented.contains(&c.kind)
            })
            .map(|c| c.kind)
    };
    let seed = seed_where(|ds| pick(ds).is_some());
    let mut e = E2e::start(PsaKind::ConnectWise, seed).await;
    let kind = pick(&e.ds).unwrap();
    let type_name = CONFIG_TYPE_NAMES[kind];
    let itg_types = e.itg_state("configuration_types");
    let gone = itg_types.iter().find(|t| t["name"] == type_name).unwrap()["id"].to_string();
    e.tenant
        .itglue
        .sim
        .delete("configuration_types", &gone, "person")
        .unwrap();
    e.run().await;
    e.full_sync().await;
    e.settle().await;

    let recreated: Vec<Value> = e
        .itg_state("configuration_types")
        .into_iter()
        .filter(|t| t["name"] == type_name)
        .collect();
    assert_eq!(recreated.len(), 1, "{type_name} created once in IT Glue");
    assert!(!e.sync_writes_in(true, "configuration_types").is_empty());
    // Every PSA configuration of that type in scope is linked and typed so in IT Glue.
    let mut synced = 0;
    for config in e.psa_all(Entity::Configuration).await {
        if config.get(Field::Type) != Some(type_name) || config.get(Field::Status) != Some("Active")
        {
            continue;
        }
        let index: usize = config.org_id.as_deref().unwrap().parse::<usize>().unwrap() - 1;
        if !in_scope(&e.ds.organizations[index]) {
            continue;
        }
        let itg = e
            .linked_itg(Entity::Configuration, &config.id)
            .await
            .unwrap_or_else(|| panic!("configuration {} linked", config.id));
        assert_eq!(
            e.itg_value(Entity::Configuration, &itg, Field::Type)
                .await
                .as_deref(),
            Some(type_name)
        );
        synced += 1;
    }
    assert!(synced >= 1);
    let audits = e.audits(Entity::Configuration).await;
    assert!(
        any_action(&audits, "lookups", Some("create_lookup")),
        "{audits:#?}"
    );
    e.assert_no_echo();
    e.stop().await;
}
