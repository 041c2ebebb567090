//! Onboarding from the listings: a new PSA record is linked by the full sync itself only when the
//! listings settle it — one IT Glue record with its exact key, in its linked organization, linked
//! to nothing, every synced field equal — and each such case has a twin one condition away that
//! stays an event.

use syncbridge_engine::onboard::Onboarding;
use syncbridge_model::{Entity, Field, Link, LinkState, Mode, PsaKind, Record, TenantSettings};

use crate::rules::common::*;

/// The IT Glue twin of a PSA record: same values, its own id, in the IT Glue organization `org`.
fn itg_twin(psa: &Record, id: &str, org: Option<&str>) -> Record {
    let mut r = psa.clone();
    r.id = id.to_owned();
    r.org_id = org.map(str::to_owned);
    r
}

fn settings() -> TenantSettings {
    tenant(PsaKind::ConnectWise)
}

fn linked_pair(entity: Entity, psa: &Record, itg: &Record) -> Link {
    Link::linked(entity, &psa.id, &itg.id, synced_base(psa, itg))
}

#[test]
fn an_organization_with_one_equal_counterpart_is_linked_from_the_listing() {
    let psa = vec![org("p1", "Acme")];
    let itg = vec![itg_twin(&psa[0], "i1", None)];
    let s = settings();
    let mut o = Onboarding::new(&s);
    o.add(Entity::Organization, &psa, &itg, &[]);
    let linked = o.link(Entity::Organization, &psa[0]).expect("linked");
    assert_eq!(linked.link.psa_id.as_deref(), Some("p1"));
    assert_eq!(linked.link.itg_id.as_deref(), Some("i1"));
    assert_eq!(linked.link.state, LinkState::Linked);
    let base = linked.link.base.expect("a base from the listed records");
    assert_eq!(base.psa.get(Field::Name), Some("Acme"));
    assert_eq!(base.itg.get(Field::Name), Some("Acme"));
}

#[test]
fn a_field_that_differs_makes_it_an_event() {
    let psa = vec![org("p1", "Acme")];
    let mut twin = itg_twin(&psa[0], "i1", None);
    twin.values.set(Field::Type, Some("Prospect".into()));
    let itg = vec![twin];
    let s = settings();
    let mut o = Onboarding::new(&s);
    o.add(Entity::Organization, &psa, &itg, &[]);
    assert!(o.link(Entity::Organization, &psa[0]).is_none());
}

#[test]
fn no_exact_counterpart_makes_it_an_event() {
    let psa = vec![org("p1", "Acme")];
    // A near miss (case) is not a counterpart: the worker reports it.
    let itg = vec![itg_twin(&org("x", "ACME"), "i1", None)];
    let s = settings();
    let mut o = Onboarding::new(&s);
    o.add(Entity::Organization, &psa, &itg, &[]);
    assert!(o.link(Entity::Organization, &psa[0]).is_none());
}

#[test]
fn two_counterparts_are_ambiguous_and_make_it_an_event() {
    let psa = vec![org("p1", "Acme")];
    let itg = vec![itg_twin(&psa[0], "i1", None), itg_twin(&psa[0], "i2", None)];
    let s = settings();
    let mut o = Onboarding::new(&s);
    o.add(Entity::Organization, &psa, &itg, &[]);
    assert!(o.link(Entity::Organization, &psa[0]).is_none());
}

#[test]
fn a_counterpart_linked_to_another_record_is_not_taken() {
    let psa = vec![org("p1", "Acme"), org("p2", "Acme")];
    let itg = vec![itg_twin(&psa[0], "i1", None)];
    let links = vec![linked_pair(Entity::Organization, &psa[1], &itg[0])];
    let s = settings();
    let mut o = Onboarding::new(&s);
    o.add(Entity::Organization, &psa, &itg, &links);
    assert!(o.link(Entity::Organization, &psa[0]).is_none());
}

/// Two new PSA records with one key and one IT Glue record: the first takes it, the second is
/// left to its event (the worker creates it, as it would after the first was linked).
#[test]
fn one_counterpart_is_given_to_one_record_only() {
    let psa = vec![org("p1", "Acme"), org("p2", "Acme")];
    let itg = vec![itg_twin(&psa[0], "i1", None)];
    let s = settings();
    let mut o = Onboarding::new(&s);
    o.add(Entity::Organization, &psa, &itg, &[]);
    assert!(o.link(Entity::Organization, &psa[0]).is_some());
    assert!(o.link(Entity::Organization, &psa[1]).is_none());
}

#[test]
fn a_record_out_of_scope_is_not_linked() {
    let mut closed = org("p1", "Acme");
    closed.values.set(Field::Status, Some("Closed".into()));
    let psa = vec![closed];
    let itg = vec![itg_twin(&psa[0], "i1", None)];
    let s = settings();
    let mut o = Onboarding::new(&s);
    o.add(Entity::Organization, &psa, &itg, &[]);
    assert!(o.link(Entity::Organization, &psa[0]).is_none());
}

#[test]
fn shadow_mode_links_nothing() {
    let psa = vec![org("p1", "Acme")];
    let itg = vec![itg_twin(&psa[0], "i1", None)];
    let mut s = settings();
    s.mode = Mode::Shadow;
    let mut o = Onboarding::new(&s);
    o.add(Entity::Organization, &psa, &itg, &[]);
    assert!(o.link(Entity::Organization, &psa[0]).is_none());
}

/// A contact is linked inside its organization once that is linked — here by this onboarding —
/// and not while its organization is not.
#[test]
fn a_child_is_linked_once_its_organization_is() {
    let orgs = vec![org("p1", "Acme")];
    let itg_orgs = vec![itg_twin(&orgs[0], "i1", None)];
    let contacts = vec![contact("c1", "p1", "Ada", "Lovelace")];
    let itg_contacts = vec![itg_twin(&contacts[0], "ic1", Some("i1"))];
    let s = settings();
    let mut o = Onboarding::new(&s);
    o.add(Entity::Organization, &orgs, &itg_orgs, &[]);
    o.add(Entity::Contact, &contacts, &itg_contacts, &[]);
    assert!(
        o.link(Entity::Contact, &contacts[0]).is_none(),
        "organization not linked yet"
    );
    let org_link = o.link(Entity::Organization, &orgs[0]).expect("org linked");
    assert!(
        o.link(Entity::Contact, &contacts[0]).is_none(),
        "organization decided, but not stored yet"
    );
    o.known(&org_link.link);
    let linked = o
        .link(Entity::Contact, &contacts[0])
        .expect("contact linked");
    assert_eq!(linked.link.itg_id.as_deref(), Some("ic1"));
}

/// The same contact in another IT Glue organization is not its counterpart.
#[test]
fn a_child_in_another_organization_is_not_a_counterpart() {
    let orgs = vec![org("p1", "Acme"), org("p2", "Globex")];
    let itg_orgs = vec![
        itg_twin(&orgs[0], "i1", None),
        itg_twin(&orgs[1], "i2", None),
    ];
    let contacts = vec![contact("c1", "p1", "Ada", "Lovelace")];
    let itg_contacts = vec![itg_twin(&contacts[0], "ic1", Some("i2"))];
    let s = settings();
    let mut o = Onboarding::new(&s);
    let links: Vec<Link> = orgs
        .iter()
        .zip(&itg_orgs)
        .map(|(p, i)| linked_pair(Entity::Organization, p, i))
        .collect();
    o.add(Entity::Organization, &orgs, &itg_orgs, &links);
    o.add(Entity::Contact, &contacts, &itg_contacts, &[]);
    assert!(o.link(Entity::Contact, &contacts[0]).is_none());
}

/// A configuration naming a contact that is not linked yet is left to its event (the worker syncs
/// the contact first); once the contact is linked, it is linked from the listing.
#[test]
fn a_configuration_naming_an_unlinked_contact_waits_for_it() {
    let orgs = vec![org("p1", "Acme")];
    let itg_orgs = vec![itg_twin(&orgs[0], "i1", None)];
    let org_links = vec![linked_pair(Entity::Organization, &orgs[0], &itg_orgs[0])];
    let contacts = vec![contact("c1", "p1", "Ada", "Lovelace")];
    let itg_contacts = vec![itg_twin(&contacts[0], "ic1", Some("i1"))];
    let mut server = config("k1", "p1", "SRV-01");
    server.values.set(Field::Contact, Some("c1".into()));
    let configs = vec![server];
    let mut itg_server = itg_twin(&configs[0], "ik1", Some("i1"));
    itg_server.values.set(Field::Contact, Some("ic1".into()));
    let itg_configs = vec![itg_server];
    let s = settings();
    let mut o = Onboarding::new(&s);
    o.add(Entity::Organization, &orgs, &itg_orgs, &org_links);
    o.add(Entity::Contact, &contacts, &itg_contacts, &[]);
    o.add(Entity::Configuration, &configs, &itg_configs, &[]);
    assert!(o.link(Entity::Configuration, &configs[0]).is_none());
    let contact_link = o
        .link(Entity::Contact, &contacts[0])
        .expect("contact linked");
    o.known(&contact_link.link);
    let linked = o
        .link(Entity::Configuration, &configs[0])
        .expect("configuration linked");
    assert_eq!(linked.link.itg_id.as_deref(), Some("ik1"));
}

/// Fed entity by entity as the full sync streams: once an entity is done, its IT Glue records
/// are forgotten but the linked pairs later entities point at are kept, so a contact under an
/// organization linked earlier in the run is still linked from its listing.
#[test]
fn a_done_entity_keeps_only_what_its_children_need() {
    let orgs = [org("p1", "Acme")];
    let itg_org = itg_twin(&orgs[0], "i1", None);
    let contact_psa = contact("c1", "p1", "Ada", "Lovelace");
    let s = settings();
    let mut o = Onboarding::new(&s);
    o.itg(Entity::Organization, itg_org);
    let org_link = o.link(Entity::Organization, &orgs[0]).expect("org linked");
    o.known(&org_link.link);
    o.done(Entity::Organization);
    assert!(
        o.link(Entity::Organization, &org("p2", "Acme")).is_none(),
        "the organizations' IT Glue records are forgotten"
    );
    o.itg(Entity::Contact, itg_twin(&contact_psa, "ic1", Some("i1")));
    o.psa_listed(Entity::Contact, &contact_psa);
    let linked = o
        .link(Entity::Contact, &contact_psa)
        .expect("contact linked under the organization linked before");
    assert_eq!(linked.link.itg_id.as_deref(), Some("ic1"));
}

/// An IT Glue record a stored link names is kept only as taken: a new PSA record with its key
/// is left to its event, even when a free counterpart has the same key (the worker decides).
#[test]
fn a_counterpart_taken_when_listed_leaves_the_record_to_its_event() {
    let psa = [org("p1", "Acme"), org("p2", "Acme")];
    let taken = itg_twin(&psa[1], "i1", None);
    let free = itg_twin(&psa[0], "i2", None);
    let s = settings();
    let mut o = Onboarding::new(&s);
    o.known(&linked_pair(Entity::Organization, &psa[1], &taken));
    o.itg(Entity::Organization, taken);
    o.itg(Entity::Organization, free);
    assert!(o.link(Entity::Organization, &psa[0]).is_none());
}
