//! The sync rules of DESIGN §3, end to end: each test starts the running product on simulated
//! vendors (`syncbridge_demo::stack::Stack`: a private nats-server, the IT Glue and PSA
//! simulators of one tenant seeded with `Dataset::generate`, the webhook ingest with our webhooks
//! registered at ConnectWise/Autotask, the workers and the pollers), makes the change a person
//! would make at a vendor, and checks the outcome through the vendors' APIs, the simulators' write
//! logs, the link store and the audit stream. Nothing calls the engine: events come from webhooks,
//! pollers and the full sync.
//!
//! Waits poll a condition until [`e2e::DEADLINE`] (never a wall-clock speed). Every test ends by
//! checking that no write of syncbridge was a no-op (no echo). `docs/rules.md` maps each rule to
//! its test here.
//!
//! Run: `SYNCBRIDGE_NATS_SERVER=/path/to/nats-server cargo test -p syncbridge --test service rules::`.

use crate::common::e2e;

use std::collections::BTreeSet;

use e2e::{
    any_action, change, creates, eventually, in_scope, psa_org_id, seed_where, E2e, DOCUMENTED,
};
use serde_json::{json, Map, Value};
use syncbridge_connectors::Vendor;
use syncbridge_model::{Entity, Field, LinkState, PsaKind};
use syncbridge_sim::admin::AdminOps;

fn fields(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(m) => m,
        _ => unreachable!("an object"),
    }
}

/// IT Glue organizations named exactly `name` (ids).
fn itg_orgs_named(e: &E2e, name: &str) -> Vec<String> {
    e.tenant
        .itglue
        .sim
        .state("organizations")
        .unwrap()
        .into_iter()
        .filter(|o| o["name"].as_str() == Some(name))
        .map(|o| o["id"].to_string())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Exact matching, near misses, ambiguity
// ---------------------------------------------------------------------------------------------

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
        .tenant
        .itglue
        .sim
        .state("contacts")
        .unwrap()
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

// ---------------------------------------------------------------------------------------------
// Type/status gate, instant create, parent first
// ---------------------------------------------------------------------------------------------

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
        .tenant
        .psa_reader
        .list_all(Entity::Contact)
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.org_id.as_deref() == Some(org_psa.as_str()))
        .expect("a contact of the company");
    let person = e.tenant.psa_person.as_ref().unwrap();
    person
        .update(
            Entity::Contact,
            &contact.id,
            &change(Field::Title, "Head of Parent-First"),
        )
        .await
        .unwrap();

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

// ---------------------------------------------------------------------------------------------
// PSA wins, conflicts
// ---------------------------------------------------------------------------------------------

/// A person edits a linked company and contact in ConnectWise: IT Glue takes the PSA's values,
/// and nothing is written back to the PSA.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psa_wins_a_psa_edit_overwrites_itglue() {
    let e = E2e::launch(PsaKind::ConnectWise, 1).await;
    let (org_psa, org_itg) = e.a_linked_pair(Entity::Organization).await;
    let (contact_psa, contact_itg) = e.a_linked_pair(Entity::Contact).await;
    let psa_writes_before =
        e.sync_writes_in(false, "companies").len() + e.sync_writes_in(false, "contacts").len();
    let person = e.tenant.psa_person.as_ref().unwrap();
    person
        .update(
            Entity::Organization,
            &org_psa,
            &change(Field::ShortName, "PSAWINS1"),
        )
        .await
        .unwrap();
    person
        .update(
            Entity::Contact,
            &contact_psa,
            &change(Field::Title, "Chief PSA Officer"),
        )
        .await
        .unwrap();
    eventually("IT Glue takes the PSA's short name", || async {
        (e.itg_value(Entity::Organization, &org_itg, Field::ShortName)
            .await
            .as_deref()
            == Some("PSAWINS1"))
        .then_some(())
    })
    .await;
    eventually("IT Glue takes the PSA's contact title", || async {
        (e.itg_value(Entity::Contact, &contact_itg, Field::Title)
            .await
            .as_deref()
            == Some("Chief PSA Officer"))
        .then_some(())
    })
    .await;
    e.settle().await;
    let audits = e.audits_of(Entity::Organization, "psa", &org_psa).await;
    assert!(
        any_action(&audits, "psa_wins", Some("update_itglue")),
        "{audits:#?}"
    );
    assert_eq!(
        e.sync_writes_in(false, "companies").len() + e.sync_writes_in(false, "contacts").len(),
        psa_writes_before,
        "nothing written back to the PSA"
    );
    e.assert_no_echo();
    e.stop().await;
}

/// The same field is changed in IT Glue and in the PSA moments apart: both sides end with the
/// PSA's value, and the decision is the conflict rule.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_field_conflict_takes_the_psa_value_on_both_sides() {
    let e = E2e::launch(PsaKind::ConnectWise, 1).await;
    let (org_psa, org_itg) = e.a_linked_pair(Entity::Organization).await;
    same_field_conflict(&e, &org_psa, &org_itg).await;
    e.assert_no_echo();
    e.stop().await;
}

/// A person changes one field on both sides, IT Glue first: both sides end with the PSA's value,
/// decided by the conflict rule.
async fn same_field_conflict(e: &E2e, org_psa: &str, org_itg: &str) {
    let person = e.tenant.psa_person.as_ref().unwrap();
    e.tenant
        .itglue_person
        .update(
            Entity::Organization,
            org_itg,
            &change(Field::ShortName, "CONFLICT-ITG"),
        )
        .await
        .unwrap();
    person
        .update(
            Entity::Organization,
            org_psa,
            &change(Field::ShortName, "CONFLICT-PSA"),
        )
        .await
        .unwrap();
    eventually("both sides hold the PSA's value", || async {
        let p = e
            .psa_value(Entity::Organization, org_psa, Field::ShortName)
            .await;
        let i = e
            .itg_value(Entity::Organization, org_itg, Field::ShortName)
            .await;
        (p.as_deref() == Some("CONFLICT-PSA") && i.as_deref() == Some("CONFLICT-PSA")).then_some(())
    })
    .await;
    e.settle().await;
    // Still so once every echo and poll has been handled.
    assert_eq!(
        e.psa_value(Entity::Organization, org_psa, Field::ShortName)
            .await
            .as_deref(),
        Some("CONFLICT-PSA")
    );
    assert_eq!(
        e.itg_value(Entity::Organization, org_itg, Field::ShortName)
            .await
            .as_deref(),
        Some("CONFLICT-PSA")
    );
    let audits = e.audits(Entity::Organization).await;
    assert!(
        any_action(&audits, "psa_wins_conflict", Some("update_itglue")),
        "the conflict rule decided: {audits:#?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Two-way, one-way
// ---------------------------------------------------------------------------------------------

/// A two-way PSA: an IT Glue edit (company short name, contact title) reaches the PSA, a PSA edit
/// reaches IT Glue, and a same-field conflict ends with the PSA's value on both sides.
async fn two_way_both_directions(kind: PsaKind) {
    let e = E2e::launch(kind, 1).await;
    let (org_psa, org_itg) = e.a_linked_pair(Entity::Organization).await;
    let (contact_psa, contact_itg) = e.a_linked_pair(Entity::Contact).await;

    // IT Glue → PSA.
    e.tenant
        .itglue_person
        .update(
            Entity::Organization,
            &org_itg,
            &change(Field::ShortName, "ITG2WAY"),
        )
        .await
        .unwrap();
    e.tenant
        .itglue_person
        .update(
            Entity::Contact,
            &contact_itg,
            &change(Field::Title, "Pushed From IT Glue"),
        )
        .await
        .unwrap();
    eventually("the IT Glue short name is pushed to the PSA", || async {
        (e.psa_value(Entity::Organization, &org_psa, Field::ShortName)
            .await
            .as_deref()
            == Some("ITG2WAY"))
        .then_some(())
    })
    .await;
    eventually("the IT Glue contact title is pushed to the PSA", || async {
        (e.psa_value(Entity::Contact, &contact_psa, Field::Title)
            .await
            .as_deref()
            == Some("Pushed From IT Glue"))
        .then_some(())
    })
    .await;
    let audits = e.audits_of(Entity::Organization, "it_glue", &org_itg).await;
    assert!(
        any_action(&audits, "two_way_push", Some("update_psa")),
        "{audits:#?}"
    );
    e.settle().await;

    // PSA → IT Glue.
    let person = e.tenant.psa_person.as_ref().unwrap();
    person
        .update(
            Entity::Organization,
            &org_psa,
            &change(Field::ShortName, "PSA2WAY"),
        )
        .await
        .unwrap();
    eventually("the PSA short name reaches IT Glue", || async {
        (e.itg_value(Entity::Organization, &org_itg, Field::ShortName)
            .await
            .as_deref()
            == Some("PSA2WAY"))
        .then_some(())
    })
    .await;
    e.settle().await;
    assert_eq!(
        e.psa_value(Entity::Organization, &org_psa, Field::ShortName)
            .await
            .as_deref(),
        Some("PSA2WAY")
    );

    // Same field changed on both sides: the PSA's value on both.
    same_field_conflict(&e, &org_psa, &org_itg).await;
    e.assert_no_echo();
    e.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_way_connectwise_both_directions() {
    two_way_both_directions(PsaKind::ConnectWise).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_way_autotask_both_directions() {
    two_way_both_directions(PsaKind::Autotask).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_way_kaseya_bms_both_directions() {
    two_way_both_directions(PsaKind::KaseyaBms).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_way_pulseway_psa_both_directions() {
    two_way_both_directions(PsaKind::PulsewayPsa).await;
}

/// Tigerpaw is one-way: a person's edit in IT Glue is restored to the PSA's value, and nothing is
/// written to Tigerpaw.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_way_tigerpaw_restores_itglue_edits_to_the_psa_value() {
    let e = E2e::launch(PsaKind::Tigerpaw, 1).await;
    let (org_psa, org_itg) = e.a_linked_pair(Entity::Organization).await;
    let psa_value = e
        .psa_value(Entity::Organization, &org_psa, Field::ShortName)
        .await
        .expect("a short name");
    e.tenant
        .itglue_person
        .update(
            Entity::Organization,
            &org_itg,
            &change(Field::ShortName, "EDITED-IN-ITG"),
        )
        .await
        .unwrap();
    assert_eq!(
        e.itg_value(Entity::Organization, &org_itg, Field::ShortName)
            .await
            .as_deref(),
        Some("EDITED-IN-ITG")
    );
    eventually("IT Glue is restored to the PSA's value", || async {
        (e.itg_value(Entity::Organization, &org_itg, Field::ShortName)
            .await
            .as_deref()
            == Some(psa_value.as_str()))
        .then_some(())
    })
    .await;
    let audits = e.audits_of(Entity::Organization, "it_glue", &org_itg).await;
    assert!(
        any_action(&audits, "one_way_revert", Some("update_itglue")),
        "{audits:#?}"
    );
    e.settle().await;
    assert_eq!(
        e.psa_value(Entity::Organization, &org_psa, Field::ShortName)
            .await
            .as_deref(),
        Some(psa_value.as_str())
    );
    let tigerpaw_writes = e
        .tenant
        .psa
        .core()
        .writes
        .entries(&Default::default())
        .into_iter()
        .filter(|w| e2e::SYNC_USERS.contains(&w.user.as_str()))
        .count();
    assert_eq!(tigerpaw_writes, 0, "nothing written to a one-way PSA");
    e.assert_no_echo();
    e.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Orphans
// ---------------------------------------------------------------------------------------------

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
        .tenant
        .itglue
        .sim
        .core()
        .writes
        .entries(&Default::default())
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

// ---------------------------------------------------------------------------------------------
// Contacts
// ---------------------------------------------------------------------------------------------

/// IT Glue already documents the contacts of the documented organizations: each PSA contact is
/// linked to the IT Glue contact with the same first and last name in its organization (not
/// duplicated), and the PSA wins (a title changed in IT Glue before the first sync takes the
/// PSA's value).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_name_contact_is_linked_not_duplicated() {
    let seed = seed_where(|ds| in_scope(&ds.organizations[0]));
    let mut e = E2e::start(PsaKind::ConnectWise, seed).await;
    let documented = e.tenant.itglue.sim.state("contacts").unwrap();
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
    for psa_contact in e.tenant.psa_reader.list_all(Entity::Contact).await.unwrap() {
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
    let contacts = e.tenant.itglue.sim.state("contacts").unwrap();
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
        .tenant
        .itglue
        .sim
        .state("contacts")
        .unwrap()
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
        .tenant
        .psa_reader
        .list_all(Entity::Contact)
        .await
        .unwrap()
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

// ---------------------------------------------------------------------------------------------
// Lookups
// ---------------------------------------------------------------------------------------------

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
    let itg_types = e.tenant.itglue.sim.state("configuration_types").unwrap();
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
        .tenant
        .itglue
        .sim
        .state("configuration_types")
        .unwrap()
        .into_iter()
        .filter(|t| t["name"] == type_name)
        .collect();
    assert_eq!(recreated.len(), 1, "{type_name} created once in IT Glue");
    assert!(!e.sync_writes_in(true, "configuration_types").is_empty());
    // Every PSA configuration of that type in scope is linked and typed so in IT Glue.
    let mut synced = 0;
    for config in e
        .tenant
        .psa_reader
        .list_all(Entity::Configuration)
        .await
        .unwrap()
    {
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

// ---------------------------------------------------------------------------------------------
// No echo
// ---------------------------------------------------------------------------------------------

/// After the initial sync and a person's edit on each side, every write syncbridge made changed
/// something, each edit caused exactly one write on the other side (its echo none), and once
/// settled nothing writes any more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_echo_every_sync_write_changed_something() {
    let e = E2e::launch(PsaKind::ConnectWise, 1).await;
    e.assert_no_echo();
    let pairs = e.linked_pairs(Entity::Organization).await;
    assert!(pairs.len() >= 2, "two linked organizations");
    let (psa_edited, psa_edited_itg) = pairs[0].clone();
    let (itg_edited_psa, itg_edited) = pairs[1].clone();
    let count = |itglue: bool, collection: &str, id: &str| {
        e.sync_writes_in(itglue, collection)
            .into_iter()
            .filter(|w| w.record_id == id)
            .count()
    };
    let before = (
        count(true, "organizations", &psa_edited_itg),
        count(false, "companies", &psa_edited),
        count(false, "companies", &itg_edited_psa),
        count(true, "organizations", &itg_edited),
    );
    e.tenant
        .psa_person
        .as_ref()
        .unwrap()
        .update(
            Entity::Organization,
            &psa_edited,
            &change(Field::ShortName, "ECHO-PSA"),
        )
        .await
        .unwrap();
    e.tenant
        .itglue_person
        .update(
            Entity::Organization,
            &itg_edited,
            &change(Field::ShortName, "ECHO-ITG"),
        )
        .await
        .unwrap();
    eventually("both edits synced", || async {
        let a = e
            .itg_value(Entity::Organization, &psa_edited_itg, Field::ShortName)
            .await;
        let b = e
            .psa_value(Entity::Organization, &itg_edited_psa, Field::ShortName)
            .await;
        (a.as_deref() == Some("ECHO-PSA") && b.as_deref() == Some("ECHO-ITG")).then_some(())
    })
    .await;
    e.settle().await;
    let after = (
        count(true, "organizations", &psa_edited_itg),
        count(false, "companies", &psa_edited),
        count(false, "companies", &itg_edited_psa),
        count(true, "organizations", &itg_edited),
    );
    assert_eq!(
        after,
        (before.0 + 1, before.1, before.2 + 1, before.3),
        "one write per edit, on the other side only"
    );
    // Settled means settled: another quiet round writes nothing.
    let total = e.tenant.sync_writes().0;
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    e.settle().await;
    assert_eq!(e.tenant.sync_writes().0, total, "no write without an edit");
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
        .tenant
        .itglue
        .sim
        .state("contacts")
        .unwrap()
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
        .tenant
        .psa_reader
        .list_all(Entity::Contact)
        .await
        .unwrap()
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
