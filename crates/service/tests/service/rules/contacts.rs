//! Contacts, end to end: a same-name contact in the organization is linked, not duplicated, and the
//! PSA wins (`exact_match`, `psa_wins`); with contacts sync off a new contact creates nothing
//! (`contacts_gate`) while linked ones keep syncing; a configuration's contact is associated only
//! within its own company (`contact_association`).

use crate::common::e2e;

use std::collections::BTreeSet;

use e2e::{any_action, creates, eventually, in_scope, seed_where, E2e, DOCUMENTED};
use serde_json::json;
use syncbridge_model::{Entity, Field, PsaKind, Values};
use syncbridge_sim::admin::AdminOps;

use super::fields;

/// IT Glue already documents the contacts of the documented organizations: each PSA contact is
/// linked to the IT Glue contact with the same first and last name in its organization (not
/// duplicated), and the PSA wins (a title changed in IT Glue before the first sync takes the
/// PSA's value).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_name_contact_is_linked_not_duplicated() {
    let seed = seed_where(|ds| in_scope(&ds.organizations[0]));
    let mut e = E2e::start(PsaKind::ConnectWise, seed).await;
    let documented = e.itg_state("contacts");
    let documented_ids: BTreeSet<String> = documented.iter().map(|c| c["id"].to_string()).collect();
    assert!(!documented_ids.is_empty());
    // A person changed one of them in IT Glue before the first sync.
    let stale = documented
        .iter()
        .find(|c| c["organization-id"] == 1)
        .unwrap()["id"]
        .to_string();
    e.tenant
        .itglue
        .sim
        .edit(
            "contacts",
            &stale,
            "person",
            fields(json!({"title": "Stale Title"})),
        )
        .unwrap();
    e.run().await;
    e.full_sync().await;
    e.settle().await;

    let mut linked = 0;
    for psa_contact in e.psa_all(Entity::Contact).await {
        let Some(org) = psa_contact.org_id.as_deref() else {
            continue;
        };
        let index: usize = org.parse::<usize>().unwrap() - 1;
        if index >= DOCUMENTED || !in_scope(&e.ds.organizations[index]) {
            continue;
        }
        let Some(itg) = e.linked_itg(Entity::Contact, &psa_contact.id).await else {
            panic!(
                "contact {} is not linked: {:#?}\n{:#?}\n{:#?}\n{:#?}\n{:#?}",
                psa_contact.id,
                e.linked_pairs(Entity::Contact).await,
                e.linked_pairs(Entity::Organization).await,
                e.link(Entity::Contact, &psa_contact.id).await,
                e.audits_of(Entity::Contact, "psa", &psa_contact.id).await,
                syncbridge_bus::DeadLetters::new(
                    e.stack.conn.clone(),
                    std::time::Duration::from_secs(5)
                )
                .list(&e.id, 100)
                .await
            );
        };
        assert!(
            documented_ids.contains(&itg),
            "linked to the documented contact"
        );
        let itg_contact = e.itg(Entity::Contact, &itg).await.unwrap();
        assert_eq!(
            itg_contact.get(Field::FirstName),
            psa_contact.get(Field::FirstName)
        );
        assert_eq!(
            itg_contact.get(Field::LastName),
            psa_contact.get(Field::LastName)
        );
        assert_eq!(itg_contact.get(Field::Title), psa_contact.get(Field::Title));
        linked += 1;
    }
    assert!(linked >= 2);
    assert_ne!(
        e.itg_value(Entity::Contact, &stale, Field::Title)
            .await
            .as_deref(),
        Some("Stale Title"),
        "the PSA wins"
    );
    // No contact created in the documented organizations.
    let contacts = e.itg_state("contacts");
    for org in 1..=DOCUMENTED {
        let documented_here = documented
            .iter()
            .filter(|c| c["organization-id"] == org)
            .count();
        let now_here = contacts
            .iter()
            .filter(|c| c["organization-id"] == org)
            .count();
        assert_eq!(
            now_here, documented_here,
            "organization {org}: not duplicated"
        );
    }
    e.assert_no_echo();
    e.stop().await;
}

/// A tenant synced with contacts on is redeployed with `contacts_sync = false`: a contact a
/// person adds to a linked ConnectWise company creates nothing in IT Glue (the contacts gate), and
/// a contact that was already linked keeps syncing (a PSA edit of its title reaches IT Glue).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_sync_off_creates_no_contact_but_linked_contacts_keep_syncing() {
    let mut e = E2e::launch_with(PsaKind::ConnectWise, 1, |_| {}).await;
    let (contact_psa, contact_itg) = e.a_linked_pair(Entity::Contact).await;
    let org_psa = e
        .psa(Entity::Contact, &contact_psa)
        .await
        .unwrap()
        .org_id
        .expect("the contact's company");
    let org_itg = e
        .linked_itg(Entity::Organization, &org_psa)
        .await
        .expect("its company is linked");
    e.restart_with(|s| s.contacts_sync = false).await;
    assert!(!e.settings().contacts_sync);
    let contact_creates_before = creates(&e.sync_writes_in(true, "contacts")).len();

    let person = e.tenant.psa_person.as_ref().unwrap();
    let new = person
        .create(
            Entity::Contact,
            Some(&org_psa),
            &Values::new()
                .with(Field::FirstName, "Grace")
                .with(Field::LastName, "Hopper")
                .with(Field::Title, "Rear Admiral"),
        )
        .await
        .unwrap();
    e.psa_edit(
        Entity::Contact,
        &contact_psa,
        Field::Title,
        "Still Synced With Contacts Off",
    )
    .await;

    e.until_itg_value(
        "the linked contact's PSA edit reaches IT Glue",
        Entity::Contact,
        &contact_itg,
        Field::Title,
        "Still Synced With Contacts Off",
    )
    .await;
    eventually("the new contact is decided (contacts gate)", || async {
        let audits = e.audits_of(Entity::Contact, "psa", &new.id).await;
        any_action(&audits, "contacts_gate", Some("ignore")).then_some(())
    })
    .await;
    e.settle().await;

    assert_eq!(
        e.linked_itg(Entity::Contact, &new.id).await,
        None,
        "the new contact is not linked"
    );
    let graces = e
        .itg_state("contacts")
        .into_iter()
        .filter(|c| c["first-name"] == "Grace" && c["last-name"] == "Hopper")
        .count();
    assert_eq!(graces, 0, "no contact created in IT Glue");
    assert_eq!(
        creates(&e.sync_writes_in(true, "contacts")).len(),
        contact_creates_before,
        "no IT Glue contact created with contacts sync off"
    );
    let audits = e.audits_of(Entity::Contact, "psa", &contact_psa).await;
    assert!(
        any_action(&audits, "psa_wins", Some("update_itglue")),
        "{audits:#?}"
    );
    // Its organization is untouched by either decision.
    assert_eq!(
        e.linked_itg(Entity::Organization, &org_psa).await,
        Some(org_itg)
    );
    e.assert_no_echo();
    e.stop().await;
}

/// A configuration's contact is associated in IT Glue only when the PSA documents that contact in
/// the configuration's own company: a person sets a same-company contact on a ConnectWise
/// configuration and the IT Glue configuration points at the linked IT Glue contact; its twin, a
/// contact of another company, is ignored (`contact_association`), and the association stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configuration_contact_is_associated_only_within_its_company() {
    let e = E2e::launch(PsaKind::ConnectWise, 1).await;
    let mut contacts = Vec::new();
    for (psa_id, itg_id) in e.linked_pairs(Entity::Contact).await {
        let org = e.psa(Entity::Contact, &psa_id).await.and_then(|c| c.org_id);
        contacts.push((psa_id, itg_id, org));
    }
    let mut chosen = None;
    for (cfg_psa, cfg_itg) in e.linked_pairs(Entity::Configuration).await {
        let org = e
            .psa(Entity::Configuration, &cfg_psa)
            .await
            .and_then(|c| c.org_id);
        let same = contacts.iter().find(|c| c.2 == org);
        let other = contacts.iter().find(|c| c.2 != org);
        if let (Some(same), Some(other)) = (same, other) {
            chosen = Some((cfg_psa, cfg_itg, same.clone(), other.clone()));
            break;
        }
    }
    let (cfg_psa, cfg_itg, (same_psa, same_itg, _), (other_psa, other_itg, _)) =
        chosen.expect("a linked configuration with linked contacts in and out of its company");
    let contact_ref = |id: &str| json!({"contact": {"id": id.parse::<i64>().unwrap()}});

    e.tenant
        .psa
        .edit_as_person("configurations", &cfg_psa, fields(contact_ref(&same_psa)))
        .unwrap();
    eventually(
        "the configuration points at the same-company contact",
        || async {
            let contact = e
                .itg_value(Entity::Configuration, &cfg_itg, Field::Contact)
                .await;
            (contact.as_deref() == Some(same_itg.as_str())).then_some(())
        },
    )
    .await;

    // The twin: a contact documented in another company is not associated.
    e.tenant
        .psa
        .edit_as_person("configurations", &cfg_psa, fields(contact_ref(&other_psa)))
        .unwrap();
    eventually(
        "the other company's contact is ignored by the association rule",
        || async {
            let audits = e.audits_of(Entity::Configuration, "psa", &cfg_psa).await;
            any_action(&audits, "contact_association", Some("ignore")).then_some(())
        },
    )
    .await;
    e.settle().await;
    let contact = e
        .itg_value(Entity::Configuration, &cfg_itg, Field::Contact)
        .await;
    assert_ne!(contact.as_deref(), Some(other_itg.as_str()));
    assert_eq!(contact.as_deref(), Some(same_itg.as_str()));
    e.assert_no_echo();
    e.stop().await;
}
