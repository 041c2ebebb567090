//! The full sync's plan (DESIGN §2.4): an unchanged tenant plans nothing; each kind of
//! difference from the base snapshot plans exactly its record; the sweep orphans only what a
//! complete listing lacks.

use std::collections::HashMap;

use syncbridge_engine::reconcile::{plan, Listed, Plan, Why};
use syncbridge_model::{Entity, Field, Link, LinkState, PsaKind, Record, TenantSettings};

use crate::rules::common::*;

/// A linked pair of `entity` whose base holds exactly what each side holds now.
fn pair(entity: Entity, psa: &Record, itg: &Record) -> Link {
    Link::linked(entity, &psa.id, &itg.id, synced_base(psa, itg))
}

fn itg_of(psa: &Record, id: &str) -> Record {
    let mut r = psa.clone();
    r.id = id.to_owned();
    r.org_id = psa.org_id.as_ref().map(|o| format!("i-{o}"));
    r
}

struct World {
    orgs: Vec<Record>,
    org_itg: HashMap<String, Record>,
    org_links: Vec<Link>,
    contacts: Vec<Record>,
    contact_itg: HashMap<String, Record>,
    contact_links: Vec<Link>,
}

/// Two synced organizations, each with one synced contact.
fn synced_world() -> World {
    let mut w = World {
        orgs: vec![],
        org_itg: HashMap::new(),
        org_links: vec![],
        contacts: vec![],
        contact_itg: HashMap::new(),
        contact_links: vec![],
    };
    for n in 1..=2 {
        let o = org(&format!("p{n}"), &format!("Org {n}"));
        let oi = itg_of(&o, &format!("i-p{n}"));
        w.org_links.push(pair(Entity::Organization, &o, &oi));
        w.org_itg.insert(oi.id.clone(), oi);
        w.orgs.push(o);
        let c = contact(&format!("c{n}"), &format!("p{n}"), "Ada", &format!("L{n}"));
        let ci = itg_of(&c, &format!("i-c{n}"));
        w.contact_links.push(pair(Entity::Contact, &c, &ci));
        w.contact_itg.insert(ci.id.clone(), ci);
        w.contacts.push(c);
    }
    w
}

fn run(settings: &TenantSettings, w: &World) -> Plan {
    plan(
        settings,
        &[
            Listed {
                entity: Entity::Organization,
                psa: &w.orgs,
                itg: Some(&w.org_itg),
                links: &w.org_links,
            },
            Listed {
                entity: Entity::Contact,
                psa: &w.contacts,
                itg: Some(&w.contact_itg),
                links: &w.contact_links,
            },
        ],
    )
}

fn planned(p: &Plan) -> Vec<(Entity, &str, Why)> {
    p.rechecks
        .iter()
        .map(|r| (r.entity, r.psa_id.as_str(), r.why))
        .collect()
}

#[test]
fn an_unchanged_tenant_plans_nothing() {
    let w = synced_world();
    let p = run(&tenant(PsaKind::ConnectWise), &w);
    assert!(p.rechecks.is_empty(), "{p:?}");
    assert_eq!(p.linked, 4);
}

#[test]
fn a_change_on_either_side_plans_only_that_record() {
    let mut w = synced_world();
    w.orgs[0].values.set(Field::ShortName, Some("NEW".into()));
    w.contact_itg
        .get_mut("i-c2")
        .unwrap()
        .values
        .set(Field::Title, Some("CTO".into()));
    let p = run(&tenant(PsaKind::ConnectWise), &w);
    assert_eq!(
        planned(&p),
        vec![
            (Entity::Organization, "p1", Why::PsaChanged),
            (Entity::Contact, "c2", Why::ItGlueChanged),
        ]
    );
}

#[test]
fn new_records_are_planned_only_in_scope_and_under_a_synced_organization() {
    let mut w = synced_world();
    // In scope: new, with a new contact under it (its organization enters sync in this plan).
    w.orgs.push(org("p3", "Org 3"));
    w.contacts.push(contact("c3", "p3", "Bo", "B"));
    // Twin: out of scope (type not enabled); its contact is not planned either.
    let mut vendor = org("p4", "Org 4");
    vendor.values.set(Field::Type, Some("Vendor".into()));
    w.orgs.push(vendor);
    w.contacts.push(contact("c4", "p4", "Cy", "C"));
    let p = run(&tenant(PsaKind::ConnectWise), &w);
    assert_eq!(
        planned(&p),
        vec![
            (Entity::Organization, "p3", Why::New),
            (Entity::Contact, "c3", Why::New),
        ]
    );
    // With contacts sync off, the new contact is not planned.
    let mut settings = tenant(PsaKind::ConnectWise);
    settings.contacts_sync = false;
    assert_eq!(
        planned(&run(&settings, &w)),
        vec![(Entity::Organization, "p3", Why::New)]
    );
}

#[test]
fn leaving_scope_orphans_the_organization_and_its_children_are_planned_with_it() {
    let mut w = synced_world();
    w.orgs[0].values.set(Field::Type, Some("Vendor".into()));
    let p = run(&tenant(PsaKind::ConnectWise), &w);
    assert_eq!(
        planned(&p),
        vec![
            (Entity::Organization, "p1", Why::LeftScope),
            (Entity::Contact, "c1", Why::OrganizationOrphaned),
        ]
    );
}

#[test]
fn an_orphan_back_in_scope_is_planned_and_an_orphan_still_out_is_not() {
    let mut w = synced_world();
    w.org_links[0].state = LinkState::Orphaned;
    w.contact_links[0].state = LinkState::Orphaned;
    let p = run(&tenant(PsaKind::ConnectWise), &w);
    assert_eq!(
        planned(&p),
        vec![
            (Entity::Organization, "p1", Why::BackInScope),
            (Entity::Contact, "c1", Why::BackInScope),
        ]
    );
    // Twin: the organization is still out of scope: nothing is planned for either.
    w.orgs[0].values.set(Field::Type, Some("Vendor".into()));
    assert!(run(&tenant(PsaKind::ConnectWise), &w).rechecks.is_empty());
}

#[test]
fn the_sweep_plans_linked_records_the_psa_no_longer_lists() {
    let mut w = synced_world();
    w.contacts.remove(1);
    let p = run(&tenant(PsaKind::ConnectWise), &w);
    assert_eq!(planned(&p), vec![(Entity::Contact, "c2", Why::Deleted)]);
    assert_eq!(p.deleted(), 1);
    assert!((p.deleted_share() - 0.25).abs() < 1e-9);
    assert!(p.without_sweep().rechecks.is_empty());
    // An orphan the PSA no longer lists is not swept again.
    let mut w = synced_world();
    w.contacts.remove(1);
    w.contact_links[1].state = LinkState::Orphaned;
    assert!(run(&tenant(PsaKind::ConnectWise), &w).rechecks.is_empty());
}

#[test]
fn a_gone_itglue_record_and_an_unfinished_create_are_planned() {
    let mut w = synced_world();
    w.contact_itg.remove("i-c1");
    w.org_links[1].state = LinkState::Creating(syncbridge_model::Side::ItGlue);
    let p = run(&tenant(PsaKind::ConnectWise), &w);
    assert_eq!(
        planned(&p),
        vec![
            (Entity::Organization, "p2", Why::CreateUnfinished),
            (Entity::Contact, "c1", Why::ItGlueGone),
        ]
    );
}

/// The streaming planner, fed as the full sync lists: parents first, each PSA record answered as
/// it comes, and the sweep only at the end of a complete listing — a listing that stops part-way
/// (no `end`) sweeps nothing. A child's plan follows its organization's, planned before it.
#[test]
fn the_planner_answers_record_by_record_and_sweeps_only_a_completed_listing() {
    use syncbridge_engine::reconcile::Planner;
    let settings = tenant(PsaKind::ConnectWise);
    let w = synced_world();
    let mut planner = Planner::new(&settings);
    planner.begin(Entity::Organization, true);
    w.org_links.iter().for_each(|l| planner.stored(l));
    for record in w.org_itg.values() {
        assert!(planner.itg(record), "listed once");
    }
    let again = w.org_itg.values().next().unwrap();
    assert!(!planner.itg(again), "the same record on a later page");
    let mut out_of_scope = w.orgs[0].clone();
    out_of_scope.values.set(Field::Type, Some("Vendor".into()));
    assert_eq!(planner.psa(&out_of_scope), Some(Why::LeftScope));
    assert_eq!(planner.psa(&w.orgs[1]), None);
    assert!(planner.end().is_empty());

    // The contacts' listing stops after its first record: the second contact, not listed, is not
    // swept, because `end` is never reached.
    planner.begin(Entity::Contact, true);
    w.contact_links.iter().for_each(|l| planner.stored(l));
    w.contact_itg.values().for_each(|r| {
        planner.itg(r);
    });
    assert_eq!(
        planner.psa(&w.contacts[0]),
        Some(Why::OrganizationOrphaned),
        "its organization left scope earlier in this plan"
    );
    assert_eq!(planner.linked(), 4);

    // A complete listing of the same contacts without the second one sweeps it.
    planner.begin(Entity::Contact, true);
    w.contact_links.iter().for_each(|l| planner.stored(l));
    w.contact_itg.values().for_each(|r| {
        planner.itg(r);
    });
    planner.psa(&w.contacts[0]);
    let swept: Vec<_> = planner
        .end()
        .into_iter()
        .map(|r| (r.entity, r.psa_id, r.why))
        .collect();
    assert_eq!(
        swept,
        vec![(Entity::Contact, "c2".to_owned(), Why::Deleted)]
    );
}

/// The plan compares digests of the synced fields: any synced field's change shows, a field the
/// tenant does not sync does not, and a value emptied is a change.
#[test]
fn the_digest_sees_every_synced_field_and_only_those() {
    let settings = tenant(PsaKind::ConnectWise);
    let mut w = synced_world();
    w.contacts[0].values.set(Field::LastName, None);
    let p = run(&settings, &w);
    assert_eq!(planned(&p), vec![(Entity::Contact, "c1", Why::PsaChanged)]);
    let mut w = synced_world();
    // Not in ConnectWise's organization field map: not synced, not a change.
    w.orgs[0]
        .values
        .set(Field::SerialNumber, Some("S-1".into()));
    assert!(run(&settings, &w).rechecks.is_empty());
}
