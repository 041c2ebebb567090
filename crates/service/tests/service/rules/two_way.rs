//! Two-way, end to end: which new IT Glue records are pushed to the PSA. Records older than the
//! first sync wait for a person's edit (`preexisting_waits`), an import burst waits while a single
//! new contact is pushed (`imported_waits`), a Network Glue contact is pushed and linked, and a
//! record failing its push requirements is reported, neither pushed nor reverted
//! (`push_eligibility`).

use crate::common::e2e;

use e2e::{any_action, eventually, psa_orgs_named, E2e};
use serde_json::{json, Value};
use syncbridge_model::{Entity, Field, LinkState, PsaKind, Values};
use syncbridge_sim::admin::AdminOps;

/// Whether an audit record holds an action of `rule` and `kind` whose reason contains `text`.
fn has_reason(audit: &Value, rule: &str, kind: &str, text: &str) -> bool {
    audit["actions"].as_array().is_some_and(|actions| {
        actions.iter().any(|a| {
            a["rule"] == rule
                && a["kind"] == kind
                && a["reason"].as_str().is_some_and(|r| r.contains(text))
        })
    })
}

/// Two IT Glue organizations exist before the tenant's first sync (syncable type and status, no
/// PSA company of their name). Two-way ConnectWise pushes neither on its own; once a person edits
/// and saves one of them in IT Glue, that one is pushed to ConnectWise and linked. The other,
/// untouched, stays unpushed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preexisting_itglue_organization_is_pushed_only_after_a_persons_edit() {
    let mut e = E2e::start(PsaKind::ConnectWise, 1).await;
    // IT Glue's types come from the PSA: the enabled ConnectWise type, as a lookup IT Glue has.
    let client = e
        .tenant
        .itglue
        .sim
        .seed("organization_types", vec![json!({"name": "Client"})])
        .unwrap()[0]["id"]
        .clone();
    let seeded = e
        .tenant
        .itglue
        .sim
        .seed(
            "organizations",
            vec![
                json!({"name": "Preexisting Edited Ltd", "organization-type-id": client,
                       "organization-status-id": 1, "_source": "manual"}),
                json!({"name": "Preexisting Waiting Ltd", "organization-type-id": client,
                       "organization-status-id": 1, "_source": "manual"}),
            ],
        )
        .unwrap();
    let edited = seeded[0]["id"].to_string();
    let waiting = seeded[1]["id"].to_string();
    e.run().await;
    e.full_sync().await;
    e.settle().await;
    for (id, name) in [
        (&edited, "Preexisting Edited Ltd"),
        (&waiting, "Preexisting Waiting Ltd"),
    ] {
        assert!(e.link_by_itg(Entity::Organization, id).await.is_none());
        assert!(psa_orgs_named(&e, name).await.is_empty(), "{name} waits");
    }

    // A person edits and saves one of them.
    e.itg_edit(Entity::Organization, &edited, Field::ShortName, "PREEDIT")
        .await;
    let link = eventually("the edited organization is pushed and linked", || async {
        e.link_by_itg(Entity::Organization, &edited)
            .await
            .filter(|l| l.state == LinkState::Linked && l.psa_id.is_some())
    })
    .await;
    let psa_id = link.psa_id.unwrap();
    assert_eq!(
        psa_orgs_named(&e, "Preexisting Edited Ltd").await,
        vec![psa_id.clone()]
    );
    assert_eq!(
        e.psa_value(Entity::Organization, &psa_id, Field::ShortName)
            .await
            .as_deref(),
        Some("PREEDIT")
    );
    let audits = e.audits_of(Entity::Organization, "it_glue", &edited).await;
    assert!(
        any_action(&audits, "two_way_push", Some("create_in_psa")),
        "{audits:#?}"
    );
    e.settle().await;
    // Negative twin: the untouched one still waits.
    assert!(e
        .link_by_itg(Entity::Organization, &waiting)
        .await
        .is_none());
    assert!(psa_orgs_named(&e, "Preexisting Waiting Ltd")
        .await
        .is_empty());
    let audits = e.audits_of(Entity::Organization, "it_glue", &waiting).await;
    assert!(
        audits
            .iter()
            .all(|a| !any_action(std::slice::from_ref(a), "two_way_push", None)),
        "{audits:#?}"
    );
    e.assert_no_echo();
    e.stop().await;
}

/// Imported records wait: contacts created in one IT Glue organization in a burst above
/// `import_burst` (20 per organization per minute) are not pushed to the PSA, while a single new
/// contact in another organization — its negative twin — is pushed and linked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_burst_is_not_pushed_while_a_single_new_contact_is() {
    let e = E2e::launch(PsaKind::ConnectWise, 1).await;
    let pairs = e.linked_pairs(Entity::Organization).await;
    assert!(pairs.len() >= 2, "two linked organizations: {pairs:?}");
    let (_, burst_org) = &pairs[0];
    let (single_psa_org, single_org) = &pairs[1];
    let burst: Vec<Value> = (0..25)
        .map(|i| {
            json!({"organization-id": burst_org.parse::<u64>().unwrap(),
                "first-name": "Imported", "last-name": format!("Person {i}")})
        })
        .collect();
    e.tenant.itglue.sim.seed("contacts", burst).unwrap();
    e.tenant
        .itglue
        .sim
        .seed(
            "contacts",
            vec![
                json!({"organization-id": single_org.parse::<u64>().unwrap(),
                "first-name": "Single", "last-name": "Newcomer"}),
            ],
        )
        .unwrap();
    let single_id = e
        .itg_state("contacts")
        .into_iter()
        .find(|c| c["first-name"] == "Single")
        .unwrap()["id"]
        .to_string();
    let link = eventually("the single new contact is pushed and linked", || async {
        e.link_by_itg(Entity::Contact, &single_id)
            .await
            .filter(|l| l.state == LinkState::Linked && l.psa_id.is_some())
    })
    .await;
    let pushed = e
        .psa(Entity::Contact, link.psa_id.as_deref().unwrap())
        .await
        .expect("in the PSA");
    assert_eq!(pushed.org_id.as_deref(), Some(single_psa_org.as_str()));
    e.settle().await;
    let imported_in_psa = e
        .psa_all(Entity::Contact)
        .await
        .into_iter()
        .filter(|c| c.get(Field::FirstName) == Some("Imported"))
        .count();
    assert_eq!(imported_in_psa, 0, "an import burst is not pushed");
    let audits = e.audits(Entity::Contact).await;
    assert!(
        any_action(&audits, "imported_waits", None),
        "the burst is reported as imported: {audits:#?}"
    );
    e.assert_no_echo();
    e.stop().await;
}

/// A contact Network Glue adds to a linked organization in IT Glue is pushed to the (two-way)
/// PSA and linked: the PSA badge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_glue_contact_is_pushed_to_the_psa_and_linked() {
    let e = E2e::launch(PsaKind::ConnectWise, 1).await;
    let (org_psa, org_itg) = e.a_linked_pair(Entity::Organization).await;
    e.tenant
        .add_network_glue_contact(
            org_itg.parse().unwrap(),
            "Ada",
            "Lovelace",
            "ada.lovelace@example.com",
        )
        .unwrap();
    let itg_id = e
        .itg_state("contacts")
        .into_iter()
        .find(|c| c["first-name"] == "Ada" && c["last-name"] == "Lovelace")
        .unwrap()["id"]
        .to_string();
    let link = eventually("the Network Glue contact is linked", || async {
        e.link_by_itg(Entity::Contact, &itg_id)
            .await
            .filter(|l| l.state == LinkState::Linked && l.psa_id.is_some())
    })
    .await;
    let psa_id = link.psa_id.unwrap();
    // The PSA badge, as an operator sees it.
    let shown = syncbridge::commands::ops::links_show(
        &e.stack.config,
        &e.id,
        Entity::Contact,
        None,
        Some(&itg_id),
    )
    .await
    .unwrap();
    assert!(shown.contains("\"linked\""), "{shown}");
    assert!(
        shown.contains(&format!("\"psa_id\": \"{psa_id}\"")),
        "{shown}"
    );
    let psa = e.psa(Entity::Contact, &psa_id).await.expect("in the PSA");
    assert_eq!(psa.get(Field::FirstName), Some("Ada"));
    assert_eq!(psa.get(Field::LastName), Some("Lovelace"));
    assert_eq!(psa.org_id.as_deref(), Some(org_psa.as_str()));
    e.settle().await;
    let adas = e
        .psa_all(Entity::Contact)
        .await
        .into_iter()
        .filter(|c| c.get(Field::FirstName) == Some("Ada"))
        .count();
    assert_eq!(adas, 1, "pushed once");
    let audits = e.audits_of(Entity::Contact, "it_glue", &itg_id).await;
    // IT Glue's API exposes no source marker (docs/vendors.md), so the push is decided as any new
    // IT Glue record's (`two_way_push`); `network_glue_contact` would name it where the origin is known.
    assert!(
        any_action(&audits, "network_glue_contact", Some("create_in_psa"))
            || any_action(&audits, "two_way_push", Some("create_in_psa")),
        "{audits:#?}"
    );
    e.assert_no_echo();
    e.stop().await;
}

/// A person creates an IT Glue organization whose type is not enabled for sync (Prospect): it is
/// not pushed to ConnectWise, not reverted or changed, and reported "not yet pushed" in the audit.
/// Its negative twin, created the same way with the enabled type (Client), is pushed and linked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_failing_its_requirements_is_reported_not_pushed_and_not_reverted() {
    let e = E2e::launch(PsaKind::ConnectWise, 1).await;
    let new_org = |name: &str, kind: &str| {
        Values::new()
            .with(Field::Name, name)
            .with(Field::Type, kind)
            .with(Field::Status, "Active")
    };
    let prospect = e
        .tenant
        .itglue_person
        .create(
            Entity::Organization,
            None,
            &new_org("Prospect Made By Hand Ltd", "Prospect"),
        )
        .await
        .unwrap();
    let client = e
        .tenant
        .itglue_person
        .create(
            Entity::Organization,
            None,
            &new_org("Client Made By Hand Ltd", "Client"),
        )
        .await
        .unwrap();

    eventually("the prospect is reported not yet pushed", || async {
        let audits = e
            .audits_of(Entity::Organization, "it_glue", &prospect.id)
            .await;
        audits
            .iter()
            .any(|a| {
                has_reason(
                    a,
                    "push_eligibility",
                    "report_not_yet_pushed",
                    "not yet pushed",
                )
            })
            .then_some(())
    })
    .await;
    let link = eventually("the twin is pushed and linked", || async {
        e.link_by_itg(Entity::Organization, &client.id)
            .await
            .filter(|l| l.state == LinkState::Linked && l.psa_id.is_some())
    })
    .await;
    assert_eq!(
        psa_orgs_named(&e, "Client Made By Hand Ltd").await,
        vec![link.psa_id.unwrap()]
    );
    e.settle().await;

    assert!(e
        .link_by_itg(Entity::Organization, &prospect.id)
        .await
        .is_none());
    assert!(
        psa_orgs_named(&e, "Prospect Made By Hand Ltd")
            .await
            .is_empty(),
        "not pushed"
    );
    let now = e.itg(Entity::Organization, &prospect.id).await.unwrap();
    assert_eq!(now.get(Field::Type), Some("Prospect"), "not reverted");
    assert_eq!(now.get(Field::Name), Some("Prospect Made By Hand Ltd"));
    assert!(
        e.sync_writes_in(true, "organizations")
            .iter()
            .all(|w| w.record_id != prospect.id),
        "nothing written to it"
    );
    e.assert_no_echo();
    e.stop().await;
}
