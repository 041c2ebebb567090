//! Exact matching, link identity, ambiguity and near misses, end to end (`exact_match`,
//! `near_miss`, `ambiguity`): byte-equal organization names are linked and nothing is created, a
//! near miss is created and reported, two candidates link and create nothing, and a linked record
//! is matched by its link, never by key again (a renamed company stays linked).

use crate::common::e2e;

use std::collections::BTreeSet;

use e2e::{
    any_action, creates, eventually, in_scope, itg_orgs_named, psa_org_id, seed_where, E2e,
    DOCUMENTED,
};
use serde_json::json;
use syncbridge_model::{Entity, Field, PsaKind};
use syncbridge_sim::admin::AdminOps;

use super::fields;

/// Organizations IT Glue documents under byte-equal names are linked to those records (nothing
/// created); the near miss (the same name in capitals) is not linked: the PSA organization is
/// created as a new IT Glue record (its report: [`near_miss_is_reported_in_the_audit`]).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_match_links_byte_equal_names_and_creates_the_near_miss() {
    let seed = seed_where(|ds| {
        ds.organizations[..DOCUMENTED].iter().any(in_scope)
            && in_scope(&ds.organizations[DOCUMENTED])
    });
    let e = E2e::launch(PsaKind::ConnectWise, seed).await;

    // Exact: linked to the documented record (IT Glue ids = PSA ids for the documented ones).
    let mut exact = 0;
    for (i, org) in e.ds.organizations[..DOCUMENTED].iter().enumerate() {
        if !in_scope(org) {
            continue;
        }
        let id = psa_org_id(i);
        assert_eq!(
            e.linked_itg(Entity::Organization, &id).await.as_deref(),
            Some(id.as_str()),
            "{} is linked to the IT Glue record of the same name",
            org.name
        );
        assert_eq!(
            itg_orgs_named(&e, &org.name),
            vec![id.clone()],
            "not duplicated"
        );
        exact += 1;
    }
    assert!(exact > 0);
    let itg_org_creates = creates(&e.sync_writes_in(true, "organizations"))
        .into_iter()
        .map(|w| w.record_id.clone())
        .collect::<BTreeSet<_>>();
    for i in 0..DOCUMENTED {
        assert!(!itg_org_creates.contains(&psa_org_id(i)));
    }

    // Near miss: IT Glue holds "NAME IN CAPITALS" (id DOCUMENTED + 1); the PSA record is created.
    let near = &e.ds.organizations[DOCUMENTED];
    let near_miss_itg = (DOCUMENTED + 1).to_string();
    assert_eq!(
        e.itg_value(Entity::Organization, &near_miss_itg, Field::Name)
            .await
            .as_deref(),
        Some(near.name.to_uppercase().as_str())
    );
    let psa_id = psa_org_id(DOCUMENTED);
    let created = e
        .linked_itg(Entity::Organization, &psa_id)
        .await
        .expect("the near miss's PSA organization is linked to a record of its own");
    assert_ne!(created, near_miss_itg, "a near miss is never linked");
    assert!(itg_org_creates.contains(&created), "created by syncbridge");
    assert_eq!(
        e.itg_value(Entity::Organization, &created, Field::Name)
            .await
            .as_deref(),
        Some(near.name.as_str()),
        "created under the PSA's exact name"
    );
    assert!(e
        .link_by_itg(Entity::Organization, &near_miss_itg)
        .await
        .is_none());
    e.assert_no_echo();
    e.stop().await;
}

/// The near miss of the test above is reported in the audit (`links explain`, the metric) with
/// the IT Glue record it nearly matched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn near_miss_is_reported_in_the_audit() {
    let seed = seed_where(|ds| in_scope(&ds.organizations[DOCUMENTED]));
    let e = E2e::launch(PsaKind::ConnectWise, seed).await;
    let near_miss_itg = (DOCUMENTED + 1).to_string();
    let psa_id = psa_org_id(DOCUMENTED);
    let audits = e.audits_of(Entity::Organization, "psa", &psa_id).await;
    let reported = audits.iter().any(|a| {
        a["actions"].as_array().is_some_and(|actions| {
            actions.iter().any(|x| {
                x["rule"] == "near_miss"
                    && x["kind"] == "report_near_miss"
                    && x["candidate_id"] == near_miss_itg.as_str()
            })
        })
    });
    assert!(reported, "the near miss is reported: {audits:#?}");
    e.stop().await;
}

/// Two unlinked IT Glue organizations carry the PSA organization's name: nothing is linked,
/// nothing is created, and the ambiguity is reported. Its negative twin — an organization with one
/// exact candidate or none — syncs in the same run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ambiguity_links_nothing_and_creates_nothing() {
    let target = DOCUMENTED + 1;
    let seed = seed_where(|ds| {
        in_scope(&ds.organizations[target]) && in_scope(&ds.organizations[target + 1])
    });
    let mut e = E2e::start(PsaKind::ConnectWise, seed).await;
    let name = e.ds.organizations[target].name.clone();
    let twins = e
        .tenant
        .itglue
        .sim
        .seed(
            "organizations",
            vec![
                json!({"name": name, "organization-type-id": 1, "organization-status-id": 1}),
                json!({"name": name, "organization-type-id": 1, "organization-status-id": 1}),
            ],
        )
        .unwrap();
    let twin_ids: BTreeSet<String> = twins.iter().map(|t| t["id"].to_string()).collect();
    e.run().await;
    e.full_sync().await;
    e.settle().await;

    let psa_id = psa_org_id(target);
    assert_eq!(e.linked_itg(Entity::Organization, &psa_id).await, None);
    for twin in &twin_ids {
        assert!(e.link_by_itg(Entity::Organization, twin).await.is_none());
    }
    let named: BTreeSet<String> = itg_orgs_named(&e, &name).into_iter().collect();
    assert_eq!(named, twin_ids, "nothing created under the ambiguous name");
    // Its contacts and configurations follow their organization: none created in the twins.
    let contacts_in_twins = e
        .itg_state("contacts")
        .into_iter()
        .filter(|c| twin_ids.contains(&c["organization-id"].to_string()))
        .count();
    assert_eq!(contacts_in_twins, 0);
    let audits = e.audits_of(Entity::Organization, "psa", &psa_id).await;
    assert!(
        any_action(&audits, "ambiguity", Some("report_ambiguity")),
        "reported: {audits:#?}"
    );
    // Negative twin: the next organization has no candidate and is created.
    let other = &e.ds.organizations[target + 1];
    let created = e
        .linked_itg(Entity::Organization, &psa_org_id(target + 1))
        .await
        .expect("an unambiguous organization syncs");
    assert_eq!(itg_orgs_named(&e, &other.name), vec![created]);
    e.assert_no_echo();
    e.stop().await;
}

/// Linked records are matched by their link, never by key again: a person renames a linked
/// company (and gives it a second, disabled type — a multi-type company is in scope while any of
/// its types is enabled). The same IT Glue organization takes the new name; nothing is created
/// and the link is unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renamed_multi_type_company_stays_linked_to_the_same_organization() {
    let e = E2e::launch(PsaKind::ConnectWise, 1).await;
    let (org_psa, org_itg) = e.a_linked_pair(Entity::Organization).await;
    let name = format!("Renamed Holdings {org_psa}");
    let created_before = creates(&e.sync_writes_in(true, "organizations")).len();
    e.tenant
        .psa
        .edit_as_person(
            "companies",
            &org_psa,
            fields(json!({"name": name, "types": [{"id": 2}, {"id": 1}]})),
        )
        .unwrap();
    eventually("the IT Glue organization takes the new name", || async {
        let now = e
            .itg_value(Entity::Organization, &org_itg, Field::Name)
            .await;
        (now.as_deref() == Some(name.as_str())).then_some(())
    })
    .await;
    e.settle().await;
    assert_eq!(
        e.linked_itg(Entity::Organization, &org_psa)
            .await
            .as_deref(),
        Some(org_itg.as_str()),
        "still linked to the same record"
    );
    assert_eq!(
        creates(&e.sync_writes_in(true, "organizations")).len(),
        created_before,
        "nothing created"
    );
    e.assert_no_echo();
    e.stop().await;
}
