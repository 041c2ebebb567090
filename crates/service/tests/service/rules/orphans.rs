//! Orphans, end to end: a PSA delete or leaving scope orphans the link and keeps the IT Glue record
//! (`orphan`), orphaning an organization orphans its children (`orphan_children`), back in scope
//! relinks to the same records and the PSA wins (`relink`), and a linked record a person deletes in
//! IT Glue is synced again from the PSA (`itglue_record_gone`).

use crate::common::e2e;

use e2e::{any_action, eventually, E2e};
use serde_json::json;
use syncbridge_connectors::Vendor;
use syncbridge_model::{Entity, Field, LinkState, PsaKind};
use syncbridge_sim::admin::AdminOps;

use super::fields;

/// A person deletes a linked contact in ConnectWise: the link is orphaned, the IT Glue contact is
/// kept unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psa_delete_orphans_the_link_and_keeps_the_itglue_contact() {
    let e = E2e::launch(PsaKind::ConnectWise, 1).await;
    let (contact_psa, contact_itg) = e.a_linked_pair(Entity::Contact).await;
    let before = e.itg(Entity::Contact, &contact_itg).await.unwrap();
    e.tenant
        .psa
        .delete_as_person("contacts", &contact_psa)
        .unwrap();
    let link = eventually("the link is orphaned", || async {
        e.link(Entity::Contact, &contact_psa)
            .await
            .filter(|l| l.state == LinkState::Orphaned)
    })
    .await;
    assert_eq!(link.itg_id.as_deref(), Some(contact_itg.as_str()));
    e.settle().await;
    let after = e
        .itg(Entity::Contact, &contact_itg)
        .await
        .expect("the IT Glue contact is kept");
    assert_eq!(after.values, before.values, "kept unchanged");
    let itg_deletes = e
        .itg_writes()
        .into_iter()
        .filter(|w| w.action == syncbridge_sim::writes::WriteAction::Delete)
        .count();
    assert_eq!(itg_deletes, 0, "nothing deleted in IT Glue");
    let audits = e.audits_of(Entity::Contact, "psa", &contact_psa).await;
    assert!(
        any_action(&audits, "orphan", Some("mark_orphaned")),
        "{audits:#?}"
    );
    e.assert_no_echo();
    e.stop().await;
}

/// A person changes a linked ConnectWise company's type to one not enabled: the link is orphaned
/// and the IT Glue organization is kept unchanged. A person then edits the orphan in IT Glue —
/// nothing reaches the PSA. Back in scope (type Client again), it is relinked to the same IT Glue
/// organization and the PSA wins: the IT Glue edit made while orphaned is overwritten.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaving_scope_orphans_then_back_in_scope_relinks_and_the_psa_wins() {
    let e = E2e::launch(PsaKind::ConnectWise, 1).await;
    let (org_psa, org_itg) = e.a_linked_pair(Entity::Organization).await;
    let before = e.itg(Entity::Organization, &org_itg).await.unwrap();
    let psa_short = e
        .psa_value(Entity::Organization, &org_psa, Field::ShortName)
        .await
        .expect("a short name");

    e.tenant
        .psa
        .edit_as_person("companies", &org_psa, fields(json!({"types": [{"id": 2}]})))
        .unwrap();
    let link = eventually("the link is orphaned", || async {
        e.link(Entity::Organization, &org_psa)
            .await
            .filter(|l| l.state == LinkState::Orphaned)
    })
    .await;
    assert_eq!(link.itg_id.as_deref(), Some(org_itg.as_str()));
    e.settle().await;
    let after = e.itg(Entity::Organization, &org_itg).await.unwrap();
    assert_eq!(after.values, before.values, "kept unchanged");
    let audits = e.audits_of(Entity::Organization, "psa", &org_psa).await;
    assert!(
        any_action(&audits, "orphan", Some("mark_orphaned")),
        "{audits:#?}"
    );

    // A person edits the orphan in IT Glue: not pushed.
    e.itg_edit(
        Entity::Organization,
        &org_itg,
        Field::ShortName,
        "WHILE-ORPHAN",
    )
    .await;
    let seen = e
        .audits_of(Entity::Organization, "it_glue", &org_itg)
        .await
        .len();
    eventually("the IT Glue edit of the orphan is decided", || async {
        (e.audits_of(Entity::Organization, "it_glue", &org_itg)
            .await
            .len()
            > seen)
            .then_some(())
    })
    .await;
    e.settle().await;
    assert_eq!(
        e.psa_value(Entity::Organization, &org_psa, Field::ShortName)
            .await
            .as_deref(),
        Some(psa_short.as_str()),
        "nothing pushed from an orphan"
    );

    // Back in scope: relinked to the same record, the PSA wins.
    e.tenant
        .psa
        .edit_as_person("companies", &org_psa, fields(json!({"types": [{"id": 1}]})))
        .unwrap();
    eventually("relinked, with the PSA's value", || async {
        let linked = e.linked_itg(Entity::Organization, &org_psa).await;
        let short = e
            .itg_value(Entity::Organization, &org_itg, Field::ShortName)
            .await;
        (linked.as_deref() == Some(org_itg.as_str()) && short.as_deref() == Some(&psa_short))
            .then_some(())
    })
    .await;
    e.settle().await;
    assert_eq!(
        e.psa_value(Entity::Organization, &org_psa, Field::ShortName)
            .await
            .as_deref(),
        Some(psa_short.as_str()),
        "the PSA wins: the orphan's IT Glue edit is not pushed"
    );
    assert_eq!(
        e.itg_value(Entity::Organization, &org_itg, Field::ShortName)
            .await
            .as_deref(),
        Some(psa_short.as_str())
    );
    let audits = e.audits_of(Entity::Organization, "psa", &org_psa).await;
    assert!(any_action(&audits, "relink", Some("relink")), "{audits:#?}");
    e.assert_no_echo();
    e.stop().await;
}

/// Orphaning a company orphans the records under it at once — no event of theirs is needed — and
/// nothing is written to either side; a PSA edit of an orphaned contact is not synced. Back in
/// scope, the company's children are relinked to the same IT Glue records and the PSA wins (the
/// edit made while orphaned reaches IT Glue).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphaning_a_company_orphans_its_children_and_relinking_it_relinks_them() {
    let e = E2e::launch(PsaKind::ConnectWise, 1).await;
    let (contact_psa, contact_itg) = e.a_linked_pair(Entity::Contact).await;
    let org_psa = e
        .psa(Entity::Contact, &contact_psa)
        .await
        .and_then(|c| c.org_id)
        .expect("the contact's company");
    let mut children = Vec::new();
    for entity in [Entity::Location, Entity::Contact, Entity::Configuration] {
        for (psa_id, _) in e.linked_pairs(entity).await {
            let org = e.psa(entity, &psa_id).await.and_then(|r| r.org_id);
            if org.as_deref() == Some(org_psa.as_str()) {
                children.push((entity, psa_id));
            }
        }
    }
    let title = e
        .itg_value(Entity::Contact, &contact_itg, Field::Title)
        .await;
    let writes_before = e.sync_writes_in(true, "contacts").len();

    // The company leaves scope: every linked child is orphaned with it.
    e.tenant
        .psa
        .edit_as_person("companies", &org_psa, fields(json!({"types": [{"id": 2}]})))
        .unwrap();
    eventually("the company's children are orphaned", || async {
        for (entity, psa_id) in &children {
            let link = e.link(*entity, psa_id).await?;
            if link.state != LinkState::Orphaned {
                return None;
            }
        }
        Some(())
    })
    .await;
    let audits = e.audits_of(Entity::Contact, "it_glue", &contact_itg).await;
    assert!(
        any_action(&audits, "orphan_children", Some("mark_orphaned")),
        "{audits:#?}"
    );

    // A person edits the orphaned contact in the PSA: IT Glue keeps its record unchanged.
    let seen = e
        .audits_of(Entity::Contact, "psa", &contact_psa)
        .await
        .len();
    e.tenant
        .psa
        .edit_as_person(
            "contacts",
            &contact_psa,
            fields(json!({"title": "Edited While Orphaned"})),
        )
        .unwrap();
    eventually("the orphaned contact's edit is decided", || async {
        (e.audits_of(Entity::Contact, "psa", &contact_psa)
            .await
            .len()
            > seen)
            .then_some(())
    })
    .await;
    e.settle().await;
    assert_eq!(
        e.itg_value(Entity::Contact, &contact_itg, Field::Title)
            .await,
        title,
        "an orphan is not synced"
    );
    assert_eq!(e.sync_writes_in(true, "contacts").len(), writes_before);

    // Back in scope: the children are relinked to the same records, and the PSA wins.
    e.tenant
        .psa
        .edit_as_person("companies", &org_psa, fields(json!({"types": [{"id": 1}]})))
        .unwrap();
    eventually(
        "the children are relinked, with the PSA's values",
        || async {
            for (entity, psa_id) in &children {
                e.linked_itg(*entity, psa_id).await?;
            }
            let title = e
                .itg_value(Entity::Contact, &contact_itg, Field::Title)
                .await;
            (title.as_deref() == Some("Edited While Orphaned")).then_some(())
        },
    )
    .await;
    assert_eq!(
        e.linked_itg(Entity::Contact, &contact_psa).await.as_deref(),
        Some(contact_itg.as_str()),
        "relinked to the same IT Glue contact"
    );
    let audits = e.audits_of(Entity::Contact, "psa", &contact_psa).await;
    assert!(any_action(&audits, "relink", Some("relink")), "{audits:#?}");
    e.settle().await;
    e.assert_no_echo();
    e.stop().await;
}

/// A person deletes a linked contact in IT Glue. Sync never deletes, and never leaves a PSA record
/// undocumented: the contact's next PSA change creates it again in IT Glue (`itglue_record_gone`),
/// once, linked, with the PSA's values.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_deleted_in_itglue_is_synced_again_from_the_psa() {
    let e = E2e::launch(PsaKind::ConnectWise, 1).await;
    let (contact_psa, contact_itg) = e.a_linked_pair(Entity::Contact).await;
    let psa = e.psa(Entity::Contact, &contact_psa).await.unwrap();
    e.tenant
        .itglue
        .sim
        .delete("contacts", &contact_itg, "alice")
        .unwrap();
    e.tenant
        .psa
        .edit_as_person(
            "contacts",
            &contact_psa,
            fields(json!({"title": "Came Back"})),
        )
        .unwrap();
    let again = eventually("the contact is in IT Glue again, linked", || async {
        let itg = e.linked_itg(Entity::Contact, &contact_psa).await?;
        (itg != contact_itg).then_some(itg)
    })
    .await;
    e.settle().await;
    let record = e.itg(Entity::Contact, &again).await.expect("created again");
    assert_eq!(record.get(Field::Title), Some("Came Back"));
    assert_eq!(record.get(Field::FirstName), psa.get(Field::FirstName));
    let same_name = e
        .tenant
        .itglue_reader
        .list_all(Entity::Contact)
        .await
        .unwrap()
        .into_iter()
        .filter(|c| {
            c.get(Field::FirstName) == psa.get(Field::FirstName)
                && c.get(Field::LastName) == psa.get(Field::LastName)
                && c.org_id == record.org_id
        })
        .count();
    assert_eq!(same_name, 1, "created once");
    let audits = e.audits_of(Entity::Contact, "psa", &contact_psa).await;
    assert!(
        any_action(&audits, "itglue_record_gone", None),
        "{audits:#?}"
    );
    e.assert_no_echo();
    e.stop().await;
}
