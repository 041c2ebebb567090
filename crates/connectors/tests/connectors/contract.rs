//! The contract every vendor's client keeps, written once ([`contract`]) and run against each
//! vendor's simulator through its [`VendorFixture`] (`fixtures`): it lists every seeded record
//! across page boundaries (2,600 contacts and configurations), reads each back by id, finds by
//! key, creates without duplicates, updates only what changed, lists by modification time where
//! the vendor can, answers `Unsupported` for what the vendor does not sync, and a read-only
//! vendor refuses every write before any request. One test per vendor runs it
//! (`contract_holds_for_<vendor>`); what only one vendor does has a test of its own below them.

mod fixtures;

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use syncbridge_connectors::Vendor;
use syncbridge_connectors::{Error, PsaClient};
use syncbridge_model::{Changes, LookupKind, Record};
use syncbridge_model::{Entity, Field, Values};
use syncbridge_sim::seed::{load_connectwise, Dataset, SeedSpec};
use syncbridge_sim::writes::WriteQuery;

use self::fixtures::{VendorFixture, Writes};
use crate::common::*;

/// 1,300 organizations → 2,600 contacts and configurations: three 1000-row pages, six 500-row.
const TENANT: usize = 1300;

/// Enough records for a vendor-specific test.
const SMALL: usize = 30;

// ---------------------------------------------------------------------------------------------
// The contract, once per vendor.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_holds_for_itglue() {
    contract(fixtures::itglue(TENANT).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_holds_for_connectwise() {
    contract(fixtures::connectwise(TENANT).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_holds_for_autotask() {
    contract(fixtures::autotask(TENANT).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_holds_for_kaseya_bms() {
    contract(fixtures::kaseya_bms(TENANT).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_holds_for_pulseway_psa() {
    contract(fixtures::pulseway_psa(TENANT).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_holds_for_tigerpaw() {
    contract(fixtures::tigerpaw(TENANT).await).await;
}

/// Every check of the contract against one vendor, then the simulator is shut down.
async fn contract<C: Vendor>(f: VendorFixture<C>) {
    fixture_agrees_with_the_model(&f);
    let listed = lists_every_seeded_record(&f).await;
    pages_across_page_boundaries(&f).await;
    gets_by_id_what_it_lists(&f, &listed).await;
    finds_seeded_records_by_key(&f, &listed).await;
    unsynced_entities_are_unsupported_before_any_request(&f).await;
    match &f.writes {
        Some(writes) => {
            // The seeded data is old: outside any modified-since overlap window (Autotask AT-4).
            f.core().clock.advance(Duration::from_secs(3600));
            let created = creates_read_back_what_was_given(&f, writes, &listed).await;
            creates_never_duplicate(&f, &created).await;
            let written = updates_change_only_the_changed_fields(&f, writes, &created).await;
            lists_modified_since_where_the_vendor_can(&f, &written).await;
        }
        None => {
            read_only_vendor_refuses_writes_before_any_request(&f, &listed).await;
            lists_modified_since_where_the_vendor_can(&f, &BTreeMap::new()).await;
        }
    }
    f.shutdown().await;
}

type Listed = BTreeMap<Entity, Vec<Record>>;

fn synced<C: Vendor>(f: &VendorFixture<C>) -> impl Iterator<Item = Entity> + '_ {
    Entity::PARENTS_FIRST.into_iter().filter(|e| f.syncs(*e))
}

/// What the fixture says of a vendor stays inside what the model says of it.
fn fixture_agrees_with_the_model<C: Vendor>(f: &VendorFixture<C>) {
    let name = f.name;
    assert_eq!(
        f.writes.is_some(),
        f.writable(),
        "{name}: written to exactly when the capability matrix says two-way"
    );
    for entity in f.modified_since {
        assert!(
            f.syncs(*entity),
            "{name}: modified-since of unsynced {entity}"
        );
    }
    let Some(w) = &f.writes else { return };
    let written = w
        .creates
        .iter()
        .flat_map(|(e, v)| v.iter().map(|(f, _)| (*e, f)));
    let changed = w
        .updates
        .iter()
        .flat_map(|(e, c)| c.keys().map(|f| (*e, *f)));
    let filled = w.fills_in.iter().map(|(e, f, _)| (*e, *f));
    for (entity, field) in written.chain(changed).chain(filled) {
        assert!(f.syncs(entity), "{name}: writes unsynced {entity}");
        assert!(
            f.maps(entity, field),
            "{name}: {entity} {field} is not in the field map"
        );
    }
}

/// Lists every record of `entity`, printing the throughput (a figure, never asserted).
async fn timed_list<C: Vendor>(f: &VendorFixture<C>, entity: Entity) -> Vec<Record> {
    let started = std::time::Instant::now();
    let records = f
        .client
        .list_all(entity)
        .await
        .unwrap_or_else(|e| panic!("{}: listing {entity}: {e:?}", f.name));
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "{}: listed {} {entity} records in {:.2}s ({:.0} records/s)",
        f.name,
        records.len(),
        secs,
        records.len() as f64 / secs.max(1e-9)
    );
    records
}

fn assert_unique_ids(records: &[Record]) {
    let ids: HashSet<&str> = records.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids.len(),
        records.len(),
        "a page boundary repeated a record"
    );
}

fn ids(records: &[Record]) -> HashSet<&str> {
    records.iter().map(|r| r.id.as_str()).collect()
}

/// Every seeded record of every synced entity, once, with the seeded values, in its organization,
/// and every reference naming a listed record.
async fn lists_every_seeded_record<C: Vendor>(f: &VendorFixture<C>) -> Listed {
    let name = f.name;
    let mut listed = Listed::new();
    for entity in synced(f).filter(|e| !f.listed_apart.contains(e)) {
        let records = timed_list(f, entity).await;
        assert_eq!(
            records.len(),
            f.seeded(entity),
            "{name}: every seeded {entity}"
        );
        assert_unique_ids(&records);
        listed.insert(entity, records);
    }

    let orgs = &listed[&Entity::Organization];
    let names: HashSet<&str> = orgs.iter().filter_map(|o| o.get(Field::Name)).collect();
    assert!(
        f.ds.organizations
            .iter()
            .all(|o| names.contains(o.name.as_str())),
        "{name}: every seeded organization by name"
    );
    assert!(
        orgs.iter()
            .all(|o| o.get(Field::Type).is_some() && o.get(Field::Status).is_some()),
        "{name}: every organization has a type and a status"
    );
    let first_org = &f.ds.organizations[0];
    assert_eq!(
        orgs[0].get(Field::Name),
        Some(first_org.name.as_str()),
        "{name}"
    );
    assert_eq!(
        orgs[0].get(Field::ShortName),
        Some(first_org.short_name.as_str()),
        "{name}"
    );

    let org_ids = ids(orgs);
    for (entity, records) in listed.iter().filter(|(e, _)| e.has_parent_org()) {
        assert!(
            records
                .iter()
                .all(|r| r.org_id.as_deref().is_some_and(|o| org_ids.contains(o))),
            "{name}: every {entity} in a listed organization"
        );
    }
    for (entity, field, target) in [
        (Entity::Contact, Field::Location, Entity::Location),
        (Entity::Configuration, Field::Location, Entity::Location),
        (Entity::Configuration, Field::Contact, Entity::Contact),
    ] {
        let (Some(records), Some(targets)) = (listed.get(&entity), listed.get(&target)) else {
            continue;
        };
        let targets = ids(targets);
        for r in records {
            if let Some(id) = r.get(field) {
                assert!(
                    targets.contains(id),
                    "{name}: {entity} {} names {field} {id}",
                    r.id
                );
            }
        }
    }
    if let Some(configs) = listed.get(&Entity::Configuration) {
        // The data set's configuration types are CI_TYPES, in the same order.
        let seeded: BTreeMap<&str, &str> =
            f.ds.configurations
                .iter()
                .map(|c| (c.name.as_str(), CI_TYPES[c.kind]))
                .collect();
        for c in configs {
            let name = c.get(Field::Name).unwrap_or("?");
            assert_eq!(
                c.get(Field::Type),
                seeded.get(name).copied(),
                "{}: configuration {name} has its seeded type",
                f.name
            );
        }
    }
    if let Some(locations) = listed.get(&Entity::Location) {
        assert!(
            locations.iter().all(|l| l.get(Field::Address1).is_some()),
            "{name}: every location has an address"
        );
    }

    let contacts = &listed[&Entity::Contact];
    let first = &f.ds.contacts[0];
    assert_eq!(
        contacts[0].get(Field::Email),
        Some(first.email.as_str()),
        "{name}"
    );
    let c = contacts
        .iter()
        .find(|c| c.get(Field::Email) == Some(first.email.as_str()))
        .expect("seeded contact listed");
    assert_eq!(
        c.get(Field::FirstName),
        Some(first.first_name.as_str()),
        "{name}"
    );
    assert_eq!(
        c.get(Field::LastName),
        Some(first.last_name.as_str()),
        "{name}"
    );
    assert_eq!(c.get(Field::Phone), Some(first.phone.as_str()), "{name}");
    let its_org = orgs
        .iter()
        .find(|o| o.get(Field::Name) == Some(f.ds.organizations[first.org].name.as_str()))
        .expect("the contact's organization listed");
    assert_eq!(c.org_id.as_deref(), Some(its_org.id.as_str()), "{name}");
    listed
}

/// The first page of every synced entity is not all of it: the counts above crossed pages.
async fn pages_across_page_boundaries<C: Vendor>(f: &VendorFixture<C>) {
    for entity in synced(f).filter(|e| !f.listed_apart.contains(e)) {
        let page = f.client.list_page(entity, None).await.unwrap();
        assert!(
            page.next.is_some() && page.records.len() < f.seeded(entity),
            "{}: {entity} listed in more than one page",
            f.name
        );
    }
}

/// A record read by id is the record as listed; an id that is not there is `None`.
async fn gets_by_id_what_it_lists<C: Vendor>(f: &VendorFixture<C>, listed: &Listed) {
    for (entity, records) in listed {
        let last = records.len() - 1;
        for i in (0..10).chain([last / 2, last]) {
            let got = f.client.get(*entity, &records[i].id).await.unwrap();
            assert_eq!(got.as_ref(), Some(&records[i]), "{}: {entity} {i}", f.name);
        }
        for missing in ["99999999", "garbage"] {
            assert_eq!(
                f.client.get(*entity, missing).await.unwrap(),
                None,
                "{}: {entity} {missing}",
                f.name
            );
        }
    }
}

/// A seeded contact by its names in its organization, and an organization by its name; where
/// the vendor's search ignores case, by its name in other case too (exact comparison is the
/// caller's), and where it does not, the other case finds nothing.
async fn finds_seeded_records_by_key<C: Vendor>(f: &VendorFixture<C>, listed: &Listed) {
    let name = f.name;
    let first = &f.ds.contacts[0];
    let contact = listed[&Entity::Contact]
        .iter()
        .find(|c| c.get(Field::Email) == Some(first.email.as_str()))
        .unwrap();
    let key = Values::new()
        .with(Field::FirstName, first.first_name.clone())
        .with(Field::LastName, first.last_name.clone());
    let found = f
        .client
        .find_by_key(Entity::Contact, contact.org_id.as_deref(), &key)
        .await
        .unwrap();
    assert_eq!(ids(&found), HashSet::from([contact.id.as_str()]), "{name}");

    let org = &f.ds.organizations[0].name;
    let org_id = listed[&Entity::Organization][0].id.as_str();
    for (spelling, expected) in [
        (org.clone(), HashSet::from([org_id])),
        (
            org.to_lowercase(),
            match f.key_search_ignores_case {
                true => HashSet::from([org_id]),
                false => HashSet::new(),
            },
        ),
    ] {
        let found = f
            .client
            .find_by_key(
                Entity::Organization,
                None,
                &Values::new().with(Field::Name, spelling.clone()),
            )
            .await
            .unwrap();
        assert_eq!(ids(&found), expected, "{name}: organization {spelling:?}");
    }
}

/// Values naming every key field of every entity.
fn any_key() -> Values {
    [
        Field::Name,
        Field::Type,
        Field::FirstName,
        Field::LastName,
        Field::Address1,
        Field::City,
    ]
    .into_iter()
    .fold(Values::new(), |v, f| v.with(f, "x"))
}

fn is_refusal(
    result: &syncbridge_connectors::Result<impl std::fmt::Debug>,
    writable: bool,
) -> bool {
    match result {
        Err(Error::Unsupported(_)) => writable,
        Err(Error::ReadOnly { .. }) => !writable,
        _ => false,
    }
}

/// Every call on an entity the vendor does not sync is the typed `Unsupported` (a write to a
/// read-only vendor: `ReadOnly`), before any request.
async fn unsynced_entities_are_unsupported_before_any_request<C: Vendor>(f: &VendorFixture<C>) {
    let name = f.name;
    let before = f.client.stats().requests;
    let key = any_key();
    let mut change = Changes::new();
    change.insert(Field::Name, Some("x".into()));
    for entity in Entity::ALL.into_iter().filter(|e| !f.syncs(*e)) {
        let unsupported =
            |r: &syncbridge_connectors::Result<_>| matches!(r, Err(Error::Unsupported(_)));
        assert!(
            unsupported(&f.client.get(entity, "1").await.map(|_| ())),
            "{name}: get {entity}"
        );
        assert!(
            unsupported(&f.client.list_page(entity, None).await.map(|_| ())),
            "{name}: list {entity}"
        );
        assert!(
            unsupported(&f.client.list_all(entity).await.map(|_| ())),
            "{name}: list all {entity}"
        );
        assert!(
            unsupported(
                &f.client
                    .list_modified_since_page(entity, 0, None)
                    .await
                    .map(|_| ())
            ),
            "{name}: modified-since {entity}"
        );
        assert!(
            unsupported(
                &f.client
                    .find_by_key(entity, Some("1"), &key)
                    .await
                    .map(|_| ())
            ),
            "{name}: find {entity}"
        );
        let created = f.client.create(entity, Some("1"), &key).await;
        assert!(
            is_refusal(&created, f.writable()),
            "{name}: create {entity}: {created:?}"
        );
        let updated = f.client.update(entity, "1", &change).await;
        assert!(
            is_refusal(&updated, f.writable()),
            "{name}: update {entity}: {updated:?}"
        );
    }
    assert_eq!(
        f.client.stats().requests,
        before,
        "{name}: refused before any request"
    );
}

/// Creates one record of each entity the fixture writes, parents first: every given value reads
/// back, with what the vendor fills in; a synced entity the vendor cannot create is
/// `Unsupported`, and so is its update.
async fn creates_read_back_what_was_given<C: Vendor>(
    f: &VendorFixture<C>,
    writes: &Writes,
    listed: &Listed,
) -> BTreeMap<Entity, Record> {
    let name = f.name;
    let mut created = BTreeMap::<Entity, Record>::new();
    for (entity, values) in &writes.creates {
        let entity = *entity;
        let mut values = values.clone();
        let refs: &[(Field, Entity)] = match entity {
            Entity::Contact => &[(Field::Location, Entity::Location)],
            Entity::Configuration => &[
                (Field::Contact, Entity::Contact),
                (Field::Location, Entity::Location),
            ],
            _ => &[],
        };
        for (field, target) in refs {
            if let (Some(r), true) = (created.get(target), f.maps(entity, *field)) {
                values.set(*field, Some(r.id.clone()));
            }
        }
        let org = created.get(&Entity::Organization).map(|o| o.id.clone());
        let org = org.as_deref().filter(|_| entity.has_parent_org());
        let record = f
            .client
            .create(entity, org, &values)
            .await
            .unwrap_or_else(|e| panic!("{name}: create {entity}: {e:?}"));
        for (field, value) in values.iter() {
            assert_eq!(
                record.get(field),
                Some(value),
                "{name}: created {entity} {field}"
            );
        }
        assert_eq!(
            record.org_id.as_deref(),
            org,
            "{name}: created {entity}'s organization"
        );
        created.insert(entity, record);
    }
    for (entity, field, value) in &writes.fills_in {
        let filled = created[entity].get(*field);
        match value {
            Some(v) => assert_eq!(filled, Some(*v), "{name}: {entity} {field} filled in"),
            None => assert!(filled.is_some(), "{name}: {entity} {field} filled in"),
        }
    }

    let org = created[&Entity::Organization].id.clone();
    let mut change = Changes::new();
    change.insert(Field::Name, Some("x".into()));
    for entity in synced(f).filter(|e| !created.contains_key(e)) {
        let made = f.client.create(entity, Some(&org), &any_key()).await;
        assert!(
            matches!(made, Err(Error::Unsupported(_))),
            "{name}: create {entity}: {made:?}"
        );
        let updated = f
            .client
            .update(entity, &listed[&entity][0].id, &change)
            .await;
        assert!(
            matches!(updated, Err(Error::Unsupported(_))),
            "{name}: update {entity}: {updated:?}"
        );
    }
    created
}

/// After the creates the vendor holds each new record once: one more organization listed, and
/// a key search finds exactly the created record.
async fn creates_never_duplicate<C: Vendor>(
    f: &VendorFixture<C>,
    created: &BTreeMap<Entity, Record>,
) {
    let name = f.name;
    let orgs = f.client.list_all(Entity::Organization).await.unwrap();
    assert_eq!(orgs.len(), f.seeded(Entity::Organization) + 1, "{name}");
    for (entity, record) in created {
        let found = f
            .client
            .find_by_key(*entity, record.org_id.as_deref(), &record.values)
            .await
            .unwrap();
        assert_eq!(
            ids(&found),
            HashSet::from([record.id.as_str()]),
            "{name}: {entity} found once by key"
        );
    }
}

/// Each update reads back with the changed fields changed (`None` clears) and every other field
/// as it was, and a read by id gives the same record.
async fn updates_change_only_the_changed_fields<C: Vendor>(
    f: &VendorFixture<C>,
    writes: &Writes,
    created: &BTreeMap<Entity, Record>,
) -> BTreeMap<Entity, Record> {
    let name = f.name;
    let mut written = created.clone();
    for (entity, changes) in &writes.updates {
        let before = &created[entity];
        let after = f
            .client
            .update(*entity, &before.id, changes)
            .await
            .unwrap_or_else(|e| panic!("{name}: update {entity}: {e:?}"));
        for (field, value) in changes {
            assert_eq!(
                after.get(*field),
                value.as_deref(),
                "{name}: updated {entity} {field}"
            );
        }
        let unchanged = |r: &Record| -> Vec<(Field, String)> {
            r.values
                .iter()
                .filter(|(field, _)| !changes.contains_key(field))
                .map(|(field, v)| (field, v.to_owned()))
                .collect()
        };
        assert_eq!(
            unchanged(&after),
            unchanged(before),
            "{name}: {entity} else unchanged"
        );
        assert_eq!(after.id, before.id);
        assert_eq!(
            f.client.get(*entity, &before.id).await.unwrap().as_ref(),
            Some(&after),
            "{name}: {entity} read back as updated"
        );
        written.insert(*entity, after);
    }
    written
}

/// Where the vendor lists by modification time, a record written since is listed among few
/// others; elsewhere modified-since is `Unsupported`.
async fn lists_modified_since_where_the_vendor_can<C: Vendor>(
    f: &VendorFixture<C>,
    written: &BTreeMap<Entity, Record>,
) {
    let name = f.name;
    for entity in synced(f) {
        if !f.modified_since.contains(&entity) {
            assert!(
                matches!(
                    f.client.list_modified_since_page(entity, 0, None).await,
                    Err(Error::Unsupported(_))
                ),
                "{name}: modified-since {entity}"
            );
            continue;
        }
        let Some(record) = written.get(&entity) else {
            continue;
        };
        let changed = f
            .client
            .list_modified_since_page(entity, record.updated_at, None)
            .await
            .unwrap();
        assert!(
            changed.records.iter().any(|r| r.id == record.id),
            "{name}: the written {entity} is listed as modified"
        );
        assert!(
            changed.records.len() < 10,
            "{name}: only recent {entity} changes"
        );
    }
}

/// A read-only vendor refuses every create and update as `ReadOnly` without a request, and its
/// write log stays empty.
async fn read_only_vendor_refuses_writes_before_any_request<C: Vendor>(
    f: &VendorFixture<C>,
    listed: &Listed,
) {
    let name = f.name;
    let org = listed[&Entity::Organization][0].id.clone();
    let before = f.client.stats().requests;
    let values = Values::new().with(Field::Name, "New");
    let mut changes = Changes::new();
    changes.insert(Field::Name, Some("Renamed".into()));
    for entity in Entity::ALL {
        let parent = Some(org.as_str()).filter(|_| entity.has_parent_org());
        let made = f.client.create(entity, parent, &values).await;
        assert!(
            matches!(made, Err(Error::ReadOnly { .. })),
            "{name}: create {entity}: {made:?}"
        );
        let id = listed.get(&entity).map_or("1", |r| r[0].id.as_str());
        let updated = f.client.update(entity, id, &changes).await;
        assert!(
            matches!(updated, Err(Error::ReadOnly { .. })),
            "{name}: update {entity}: {updated:?}"
        );
    }
    assert_eq!(
        f.client.stats().requests,
        before,
        "{name}: refused before any request"
    );
    let log = f.core().writes.count(&WriteQuery::default());
    assert_eq!((log.count, log.no_op), (0, 0), "{name}: nothing written");
}

// ---------------------------------------------------------------------------------------------
// What only one vendor does.

/// Configuration types are a lookup IT Glue lets us extend: a new one is usable at once, and a
/// name it does not have is `UnknownLookup`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn itglue_configuration_types_are_added_and_unknown_ones_refused() {
    let f = fixtures::itglue(SMALL).await;
    let itg = &f.client;
    let org = itg.list_all(Entity::Organization).await.unwrap()[0]
        .id
        .clone();
    let types = itg
        .list_lookups(LookupKind::ConfigurationType)
        .await
        .unwrap();
    assert!(types.iter().any(|t| t.name == "Server"));
    let made = itg
        .create_lookup(LookupKind::ConfigurationType, "Hypervisor", None)
        .await
        .unwrap();
    let hv = itg
        .create(
            Entity::Configuration,
            Some(&org),
            &Values::new()
                .with(Field::Name, "HV1")
                .with(Field::Type, "Hypervisor"),
        )
        .await
        .unwrap();
    assert_eq!(hv.get(Field::Type), Some(made.name.as_str()));
    let err = itg
        .create(
            Entity::Configuration,
            Some(&org),
            &Values::new()
                .with(Field::Name, "X")
                .with(Field::Type, "No Such Type"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::UnknownLookup { .. }), "{err:?}");
    f.shutdown().await;
}

/// A record still managed by IT Glue's native PSA integration refuses our edits: permanent, not
/// retried, and read as the PSA's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn itglue_refuses_edits_to_records_its_psa_integration_manages() {
    let f = fixtures::itglue(SMALL).await;
    let itg = &f.client;
    let managed = f
        .sim
        .seed(
            "organizations",
            vec![serde_json::json!({"id": 9001, "name": "Managed Co", "psa-integration": "manage", "_psa_id": "77"})],
        )
        .unwrap();
    assert_eq!(managed.len(), 1);
    let mut rename = Changes::new();
    rename.insert(Field::Name, Some("Renamed".into()));
    let before = itg.stats().requests;
    let err = itg
        .update(Entity::Organization, "9001", &rename)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Rejected { status: 422, .. }),
        "{err:?}"
    );
    assert!(!err.is_transient());
    assert_eq!(itg.stats().requests, before + 1, "a 422 is not retried");
    let managed = itg
        .get(Entity::Organization, "9001")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(managed.origin, syncbridge_model::Origin::Psa);
    f.shutdown().await;
}

#[tokio::test]
async fn itglue_ensure_lookup_creates_a_missing_entry_once() {
    let sim = itglue_sim().await;
    let itg = itglue_client(&sim, fast_policy());
    let kind = syncbridge_model::LookupKind::OrganizationType;
    let first = itg.ensure_lookup(kind, "Client", None).await.unwrap();
    let again = itg.ensure_lookup(kind, "Client", None).await.unwrap();
    assert_eq!(first.id, again.id);
    let named: Vec<_> = itg
        .list_lookups(kind)
        .await
        .unwrap()
        .into_iter()
        .filter(|l| l.name == "Client")
        .collect();
    assert_eq!(named.len(), 1, "no twin created");
    sim.shutdown().await;
}

/// Sites have no top-level collection: one request per company. The simulator scans every
/// site per request, so this runs on a smaller tenant with small company pages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connectwise_sites_are_listed_per_company_across_pages() {
    let ds = Dataset::generate(SeedSpec::sized(13, 130));
    let sim = connectwise_sim().await;
    load_connectwise(&sim.sim, &ds).unwrap();
    let mut config = syncbridge_connectors::ConnectWiseConfig::new(
        sim.api_url(),
        "acme",
        "cw-public",
        "cw-private",
        "test-client-id",
    );
    config.http = fast_policy();
    config.page_size = 50;
    let cw = PsaClient::ConnectWise(syncbridge_connectors::ConnectWiseClient::new(config).unwrap());
    let started = std::time::Instant::now();
    let sites = cw.list_all(Entity::Location).await.unwrap();
    eprintln!(
        "ConnectWise: listed {} location records in {:.2}s",
        sites.len(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(sites.len(), 130);
    assert_unique_ids(&sites);
    assert!(sites.iter().all(|s| s
        .id
        .starts_with(&format!("{}:", s.org_id.as_deref().unwrap_or("?")))));
    assert_eq!(
        sites[0].get(Field::Address1),
        Some(ds.locations[0].address_1.as_str())
    );
    assert_eq!(
        cw.get(Entity::Location, &sites[3].id)
            .await
            .unwrap()
            .as_ref(),
        Some(&sites[3])
    );
    sim.shutdown().await;
}

/// The zone lookup answers the API's own host for the user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autotask_zone_is_discovered_for_the_api_user() {
    let sim = autotask_sim().await;
    let zone = syncbridge_connectors::discover_zone(
        &sim.api_url(),
        "syncbridge@example.com",
        fast_policy(),
    )
    .await
    .unwrap();
    assert_eq!(zone, sim.api_url());
    sim.shutdown().await;
}

/// A contact's location is named `"{account id}:{location id}"`, the side-local id of a BMS
/// location.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kaseya_bms_contacts_name_their_location_by_account_and_location() {
    let f = fixtures::kaseya_bms(SMALL).await;
    let contacts = f.client.list_all(Entity::Contact).await.unwrap();
    let first = &f.ds.contacts[0];
    let c = contacts
        .iter()
        .find(|c| c.get(Field::Email) == Some(first.email.as_str()))
        .expect("seeded contact listed");
    assert_eq!(
        c.get(Field::Location).map(|l| l.split(':').count()),
        Some(2)
    );
    f.shutdown().await;
}

/// An expired token is replaced transparently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kaseya_bms_replaces_an_expired_token_transparently() {
    let f = fixtures::kaseya_bms(SMALL).await;
    let org = f.client.list_all(Entity::Organization).await.unwrap()[0]
        .id
        .clone();
    f.core().clock.advance(Duration::from_secs(2 * 3600));
    assert!(f
        .client
        .get(Entity::Organization, &org)
        .await
        .unwrap()
        .is_some());
    f.shutdown().await;
}

/// A Tigerpaw location is its account's address: named by its first address line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tigerpaw_locations_are_account_addresses_named_by_address_1() {
    let f = fixtures::tigerpaw(SMALL).await;
    let locations = f.client.list_all(Entity::Location).await.unwrap();
    assert_eq!(locations.len(), SMALL);
    assert!(locations[0].get(Field::Name).is_some());
    assert_eq!(
        locations[0].get(Field::Name),
        locations[0].get(Field::Address1)
    );
    f.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Compile-time checks.

/// The worker runs on a multi-threaded runtime: every connector future must be `Send`.
#[allow(dead_code)]
fn futures_are_send(psa: &PsaClient, itg: &syncbridge_connectors::ItGlueClient) {
    fn send<T: Send>(_: T) {}
    let v = Values::new();
    let c = Changes::new();
    send(psa.get(Entity::Organization, "1"));
    send(psa.list_page(Entity::Organization, None));
    send(psa.list_modified_since_page(Entity::Organization, 0, None));
    send(psa.find_by_key(Entity::Organization, None, &v));
    send(psa.create(Entity::Organization, None, &v));
    send(psa.update(Entity::Organization, "1", &c));
    send(psa.list_all(Entity::Organization));
    send(itg.create(Entity::Organization, None, &v));
    send(itg.update(Entity::Organization, "1", &c));
    send(itg.list_all(Entity::Organization));
    send(itg.create_lookup(LookupKind::Model, "m", Some("1")));
}
