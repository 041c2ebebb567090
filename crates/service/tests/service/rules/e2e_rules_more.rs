//! More sync rules of DESIGN §3, end to end (the harness and conventions of `e2e_rules.rs`): each
//! test starts the running product on simulated vendors for one tenant, makes the change a person
//! would make at a vendor (or the change a user makes to the tenant's settings or mode), and checks
//! the outcome through the vendors' APIs, the simulators' write logs, the link store and the audit
//! stream. Nothing calls the engine: events come from webhooks, pollers and the full sync.
//!
//! Settings other than the demo tenants' (`contacts_sync = false`, `instant_create = false`) are
//! set before the workers start, as a user's TOML would ([`E2e::run_with`]); a change of settings
//! on a running tenant is a restart of its workers and pollers ([`E2e::restart_with`]).
//!
//! Run: `SYNCBRIDGE_NATS_SERVER=/path/to/nats-server cargo test -p syncbridge --test service rules::e2e_rules_more`.

use crate::common::e2e;

use e2e::{any_action, change, creates, eventually, in_scope, psa_org_id, seed_where, E2e};
use serde_json::{json, Map, Value};
use syncbridge_connectors::Vendor;
use syncbridge_model::{Entity, Field, LinkState, Mode, PsaKind, Values};
use syncbridge_sim::admin::AdminOps;
use syncbridge_sim::faults::{Fault, FaultPlan, FaultRule};

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

/// PSA organizations named exactly `name` (ids).
async fn psa_orgs_named(e: &E2e, name: &str) -> Vec<String> {
    e.tenant
        .psa_reader
        .list_all(Entity::Organization)
        .await
        .unwrap()
        .into_iter()
        .filter(|o| o.get(Field::Name) == Some(name))
        .map(|o| o.id)
        .collect()
}

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

// ---------------------------------------------------------------------------------------------
// Contacts sync off
// ---------------------------------------------------------------------------------------------

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
    person
        .update(
            Entity::Contact,
            &contact_psa,
            &change(Field::Title, "Still Synced With Contacts Off"),
        )
        .await
        .unwrap();

    eventually("the linked contact's PSA edit reaches IT Glue", || async {
        (e.itg_value(Entity::Contact, &contact_itg, Field::Title)
            .await
            .as_deref()
            == Some("Still Synced With Contacts Off"))
        .then_some(())
    })
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
        .tenant
        .itglue
        .sim
        .state("contacts")
        .unwrap()
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

// ---------------------------------------------------------------------------------------------
// instant_create = false
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Two-way: records older than the first sync
// ---------------------------------------------------------------------------------------------

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
    e.tenant
        .itglue_person
        .update(
            Entity::Organization,
            &edited,
            &change(Field::ShortName, "PREEDIT"),
        )
        .await
        .unwrap();
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

// ---------------------------------------------------------------------------------------------
// Locations only where the capability says so
// ---------------------------------------------------------------------------------------------

/// ConnectWise syncs sites: every site of an in-scope company is linked to an IT Glue location at
/// the same address in the linked organization (the undocumented ones created by syncbridge).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connectwise_sites_sync_to_itglue_locations() {
    let e = E2e::launch(PsaKind::ConnectWise, 1).await;
    let mut synced = 0;
    for site in e
        .tenant
        .psa_reader
        .list_all(Entity::Location)
        .await
        .unwrap()
    {
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
    let locations = e.tenant.itglue.sim.state("locations").unwrap();
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

// ---------------------------------------------------------------------------------------------
// Tigerpaw configurations
// ---------------------------------------------------------------------------------------------

/// Tigerpaw's configurations are not synced: after the full sync no IT Glue configuration is
/// created or linked, and IT Glue's documented configurations are left as they are. Its negative
/// twin: the organizations of the same run are synced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tigerpaw_configurations_are_not_synced() {
    let e = E2e::launch(PsaKind::Tigerpaw, 1).await;
    assert!(!e.linked_pairs(Entity::Organization).await.is_empty());
    let configurations = e.tenant.itglue.sim.state("configurations").unwrap();
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
    e.tenant
        .itglue_person
        .update(entity, &id, &change(Field::Name, "renamed-by-a-person"))
        .await
        .unwrap();
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

// ---------------------------------------------------------------------------------------------
// Orphan, then relink
// ---------------------------------------------------------------------------------------------

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
    e.tenant
        .itglue_person
        .update(
            Entity::Organization,
            &org_itg,
            &change(Field::ShortName, "WHILE-ORPHAN"),
        )
        .await
        .unwrap();
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

// ---------------------------------------------------------------------------------------------
// PSA-only field
// ---------------------------------------------------------------------------------------------

/// A ConnectWise site's phone is PSA → IT Glue only: a person's edit of a linked IT Glue
/// location's phone is reverted to the PSA's value even with two-way on, and nothing is written
/// to the site. Its negative twin: an edit of the location's name (both ways) is pushed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psa_only_location_phone_is_reverted_even_with_two_way() {
    let e = E2e::launch(PsaKind::ConnectWise, 1).await;
    assert!(e.settings().two_way);
    let (site, loc) = e.a_linked_pair(Entity::Location).await;
    let phone = e.itg_value(Entity::Location, &loc, Field::Phone).await;
    let psa_phone = e.psa_value(Entity::Location, &site, Field::Phone).await;
    let site_writes = e.sync_writes_in(false, "sites").len();

    e.tenant
        .itglue_person
        .update(Entity::Location, &loc, &change(Field::Phone, "5550199999"))
        .await
        .unwrap();
    eventually("the IT Glue phone is restored to the PSA's", || async {
        (e.itg_value(Entity::Location, &loc, Field::Phone).await == phone).then_some(())
    })
    .await;
    let audits = e.audits_of(Entity::Location, "it_glue", &loc).await;
    assert!(
        any_action(&audits, "psa_only_field", Some("update_itglue")),
        "{audits:#?}"
    );
    e.settle().await;
    assert_eq!(
        e.psa_value(Entity::Location, &site, Field::Phone).await,
        psa_phone,
        "the site's phone unchanged"
    );
    assert_eq!(
        e.sync_writes_in(false, "sites").len(),
        site_writes,
        "nothing written to the site"
    );

    // Negative twin: a both-ways field of the same location is pushed.
    e.tenant
        .itglue_person
        .update(
            Entity::Location,
            &loc,
            &change(Field::Name, "Renamed In IT Glue"),
        )
        .await
        .unwrap();
    eventually("the IT Glue location name reaches the site", || async {
        (e.psa_value(Entity::Location, &site, Field::Name)
            .await
            .as_deref()
            == Some("Renamed In IT Glue"))
        .then_some(())
    })
    .await;
    e.settle().await;
    assert_eq!(
        e.itg_value(Entity::Location, &loc, Field::Phone).await,
        phone
    );
    e.assert_no_echo();
    e.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Shadow mode
// ---------------------------------------------------------------------------------------------

/// Edits a linked PSA company's short name (unique values `{tag}{n}`) until its decision is
/// audited with `written == want`: the running worker re-reads the tenant's mode every few
/// seconds, so the first edits after a mode change may still land in the old mode.
async fn until_mode_applies(e: &E2e, org_psa: &str, tag: &str, want: bool) {
    let person = e.tenant.psa_person.as_ref().unwrap();
    for n in 0..30 {
        let value = format!("{tag}{n}");
        person
            .update(
                Entity::Organization,
                org_psa,
                &change(Field::ShortName, &value),
            )
            .await
            .unwrap();
        let written = eventually("the canary edit is decided", || async {
            e.audits_of(Entity::Organization, "psa", org_psa)
                .await
                .into_iter()
                .rev()
                .find(|a| a["actions"].to_string().contains(&value))
                .map(|a| a["written"].as_bool())
        })
        .await;
        if written == Some(want) {
            return;
        }
    }
    panic!("the mode never applied (written: {want})");
}

/// `tenant shadow` (the stored mode): a PSA edit is decided as ever (PSA wins, update IT Glue)
/// and audited with `written: false`, and nothing is written. Back to active, the next full sync
/// writes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shadow_mode_decides_and_audits_without_writing_then_active_syncs() {
    let e = E2e::launch(PsaKind::ConnectWise, 1).await;
    let pairs = e.linked_pairs(Entity::Organization).await;
    assert!(pairs.len() >= 2, "two linked organizations");
    let (canary, _) = pairs[0].clone();
    let (org_psa, org_itg) = pairs[1].clone();
    let itg_short = e
        .itg_value(Entity::Organization, &org_itg, Field::ShortName)
        .await;

    e.set_mode(Mode::Shadow).await;
    until_mode_applies(&e, &canary, "SHADOW-CANARY-", false).await;
    let itg_writes = e
        .tenant
        .itglue
        .sim
        .core()
        .writes
        .entries(&Default::default())
        .len();
    e.tenant
        .psa_person
        .as_ref()
        .unwrap()
        .update(
            Entity::Organization,
            &org_psa,
            &change(Field::ShortName, "SHADOWED"),
        )
        .await
        .unwrap();
    let audit = eventually("the shadowed edit is decided and audited", || async {
        e.audits_of(Entity::Organization, "psa", &org_psa)
            .await
            .into_iter()
            .find(|a| a["actions"].to_string().contains("SHADOWED"))
    })
    .await;
    assert_eq!(audit["written"], false, "{audit:#}");
    assert!(
        any_action(
            std::slice::from_ref(&audit),
            "psa_wins",
            Some("update_itglue")
        ),
        "the same decision as ever: {audit:#}"
    );
    e.settle().await;
    assert_eq!(
        e.itg_value(Entity::Organization, &org_itg, Field::ShortName)
            .await,
        itg_short,
        "nothing written in shadow mode"
    );
    let written_in_shadow: Vec<_> = e
        .tenant
        .itglue
        .sim
        .core()
        .writes
        .entries(&Default::default())
        .into_iter()
        .skip(itg_writes)
        .filter(|w| e2e::SYNC_USERS.contains(&w.user.as_str()))
        .collect();
    assert!(written_in_shadow.is_empty(), "{written_in_shadow:#?}");

    // Back to active: synced.
    e.set_mode(Mode::Active).await;
    until_mode_applies(&e, &canary, "ACTIVE-CANARY-", true).await;
    e.full_sync_run("e2e-active").await;
    eventually("the shadowed edit is synced once active", || async {
        (e.itg_value(Entity::Organization, &org_itg, Field::ShortName)
            .await
            .as_deref()
            == Some("SHADOWED"))
        .then_some(())
    })
    .await;
    e.settle().await;
    e.assert_no_echo();
    e.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Push requirements
// ---------------------------------------------------------------------------------------------

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

/// Stale reads are retried, not mistaken for edits: IT Glue answers the read that follows
/// syncbridge's write with the record as it was before (a lagging replica). The worker sees a
/// version older than the one it stored as the base and retries (`stale_read`); taking the stale
/// short name for an IT Glue edit would, with two-way on, push it back to the PSA and undo the
/// person's edit. The test reads IT Glue only through the simulator's admin state, so its own
/// reads never take the stale answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_read_after_our_write_is_retried_not_pushed_back() {
    let e = E2e::launch(PsaKind::ConnectWise, 1).await;
    assert!(e.settings().two_way);
    let (org_psa, org_itg) = e.a_linked_pair(Entity::Organization).await;
    let faults = &e.tenant.itglue.sim.core().faults;
    faults.set(FaultPlan {
        rules: vec![FaultRule {
            method: Some("GET".into()),
            path_contains: Some(format!("/organizations/{org_itg}")),
            fault: Fault::StaleRead,
            probability: 1.0,
            times: Some(1),
        }],
        ..FaultPlan::default()
    });
    let short_name_in_itglue = || {
        e.tenant
            .itglue
            .sim
            .state("organizations")
            .unwrap()
            .into_iter()
            .find(|o| o["id"].as_u64() == org_itg.parse().ok())
            .and_then(|o| o["short-name"].as_str().map(str::to_owned))
    };
    let psa_writes = e.sync_writes_in(false, "companies").len();

    e.tenant
        .psa_person
        .as_ref()
        .unwrap()
        .update(
            Entity::Organization,
            &org_psa,
            &change(Field::ShortName, "FRESH"),
        )
        .await
        .unwrap();
    eventually("IT Glue takes the PSA's short name", || async {
        (short_name_in_itglue().as_deref() == Some("FRESH")).then_some(())
    })
    .await;
    eventually("the read after the write was answered stale", || async {
        (faults.plan().rules[0].times == Some(0)).then_some(())
    })
    .await;
    e.settle().await;
    assert_eq!(
        e.psa_value(Entity::Organization, &org_psa, Field::ShortName)
            .await
            .as_deref(),
        Some("FRESH"),
        "the person's edit stands"
    );
    assert_eq!(short_name_in_itglue().as_deref(), Some("FRESH"));
    assert_eq!(
        e.sync_writes_in(false, "companies").len(),
        psa_writes,
        "nothing pushed back to the PSA"
    );
    e.assert_no_echo();
    e.stop().await;
}
