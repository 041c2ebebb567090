//! Contract tests: each connector's full CRUD, paging across page boundaries (2,600 records of
//! an entity), key search and modified-since, against the in-process simulators.

use std::collections::HashSet;

use syncbridge_connectors::BmsFlavor;
use syncbridge_connectors::Vendor;
use syncbridge_connectors::{Error, PsaClient};
use syncbridge_model::{Changes, LookupKind};
use syncbridge_model::{Entity, Field, Values};
use syncbridge_sim::seed::{
    load_autotask, load_bms, load_connectwise, load_itglue, load_tigerpaw, Dataset, SeedSpec,
};

use crate::common::*;

/// 1,300 organizations → 2,600 contacts and configurations: three 1000-row pages, six 500-row.
fn dataset() -> Dataset {
    Dataset::generate(SeedSpec::sized(11, 1300))
}

/// Lists every record of `entity`, printing the throughput (a figure, never asserted).
async fn timed_list(
    vendor: &str,
    entity: Entity,
    list: impl std::future::Future<
        Output = syncbridge_connectors::Result<Vec<syncbridge_model::Record>>,
    >,
) -> Vec<syncbridge_model::Record> {
    let started = std::time::Instant::now();
    let records = list.await.unwrap();
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "{vendor}: listed {} {entity} records in {:.2}s ({:.0} records/s)",
        records.len(),
        secs,
        records.len() as f64 / secs.max(1e-9)
    );
    records
}

fn assert_unique_ids(records: &[syncbridge_model::Record]) {
    let ids: HashSet<&str> = records.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids.len(),
        records.len(),
        "a page boundary repeated a record"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn itglue_lists_every_record_and_round_trips_crud() {
    let ds = dataset();
    let sim = itglue_sim().await;
    load_itglue(&sim.sim, &ds, "manual").unwrap();
    let itg = itglue_client(&sim, fast_policy());

    let orgs = itg.list_all(Entity::Organization).await.unwrap();
    assert_eq!(orgs.len(), 1300);
    let names: HashSet<&str> = orgs.iter().filter_map(|o| o.get(Field::Name)).collect();
    assert!(ds
        .organizations
        .iter()
        .all(|o| names.contains(o.name.as_str())));
    let contacts = timed_list("IT Glue", Entity::Contact, itg.list_all(Entity::Contact)).await;
    assert_eq!(contacts.len(), 2600);
    assert_unique_ids(&contacts);
    let first = &ds.contacts[0];
    let c = contacts
        .iter()
        .find(|c| c.get(Field::Email) == Some(first.email.as_str()))
        .expect("seeded contact listed");
    assert_eq!(c.get(Field::FirstName), Some(first.first_name.as_str()));
    assert_eq!(c.get(Field::Phone), Some(first.phone.as_str()));
    assert_eq!(c.org_id.as_deref(), Some("1"));
    let configs = itg.list_all(Entity::Configuration).await.unwrap();
    assert_eq!(configs.len(), 2600);
    assert_unique_ids(&configs);
    assert!(configs
        .iter()
        .all(|c| c.get(Field::Type).is_some() && c.org_id.is_some()));
    assert_eq!(itg.list_all(Entity::Location).await.unwrap().len(), 1300);

    // get
    let got = itg
        .get(Entity::Configuration, &configs[5].id)
        .await
        .unwrap();
    assert_eq!(got.as_ref(), Some(&configs[5]));
    assert_eq!(itg.get(Entity::Organization, "999999").await.unwrap(), None);

    // create
    let org = itg
        .create(
            Entity::Organization,
            None,
            &Values::new()
                .with(Field::Name, "Zeta Test Org")
                .with(Field::Type, "Customer")
                .with(Field::Status, "Active")
                .with(Field::ShortName, "ZTO"),
        )
        .await
        .unwrap();
    assert_eq!(org.get(Field::Type), Some("Customer"));
    assert_eq!(org.get(Field::ShortName), Some("ZTO"));
    let contact_values = Values::new()
        .with(Field::FirstName, "Ada")
        .with(Field::LastName, "Lovelace")
        .with(Field::Title, "CTO")
        .with(Field::Email, "ada@example.com")
        .with(Field::Phone, "+1 555 0100")
        .with(Field::Mobile, "+1 555 0101");
    let contact = itg
        .create(Entity::Contact, Some(&org.id), &contact_values)
        .await
        .unwrap();
    assert_eq!(contact.org_id.as_deref(), Some(org.id.as_str()));
    for (f, v) in contact_values.iter() {
        assert_eq!(contact.get(f), Some(v), "{f}");
    }
    let location = itg
        .create(
            Entity::Location,
            Some(&org.id),
            &Values::new()
                .with(Field::Name, "HQ")
                .with(Field::Address1, "1 Main St")
                .with(Field::City, "Austin")
                .with(Field::PostalCode, "78701"),
        )
        .await
        .unwrap();
    let config = itg
        .create(
            Entity::Configuration,
            Some(&org.id),
            &Values::new()
                .with(Field::Name, "ZTO-SRV01")
                .with(Field::Type, "Server")
                .with(Field::Status, "Active")
                .with(Field::Manufacturer, "Dell")
                .with(Field::SerialNumber, "SN1")
                .with(Field::Contact, contact.id.clone())
                .with(Field::Location, location.id.clone()),
        )
        .await
        .unwrap();
    assert_eq!(config.get(Field::Manufacturer), Some("Dell"));
    assert_eq!(config.get(Field::Contact), Some(contact.id.as_str()));
    assert_eq!(config.get(Field::Location), Some(location.id.as_str()));

    // update: only the given fields, None clears
    let mut changes = Changes::new();
    changes.insert(Field::Status, Some("Inactive".into()));
    changes.insert(Field::SerialNumber, None);
    let updated = itg
        .update(Entity::Configuration, &config.id, &changes)
        .await
        .unwrap();
    assert_eq!(updated.get(Field::Status), Some("Inactive"));
    assert_eq!(updated.get(Field::SerialNumber), None);
    assert_eq!(updated.get(Field::Name), Some("ZTO-SRV01"));
    let mut changes = Changes::new();
    changes.insert(Field::Email, Some("ada@new.example.com".into()));
    changes.insert(Field::Mobile, None);
    let updated = itg
        .update(Entity::Contact, &contact.id, &changes)
        .await
        .unwrap();
    assert_eq!(updated.get(Field::Email), Some("ada@new.example.com"));
    assert_eq!(updated.get(Field::Mobile), None);
    assert_eq!(updated.get(Field::Phone), Some("+1 555 0100"));

    // key search and modified-since
    let found = itg
        .find_by_key(Entity::Contact, Some(&org.id), &contact_values)
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    let since = updated.updated_at;
    let changed = itg
        .list_modified_since_page(Entity::Contact, since, None)
        .await
        .unwrap();
    assert!(changed.records.iter().any(|r| r.id == contact.id));
    assert!(changed.records.len() < 10, "only recent changes");

    // lookups
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
            Some(&org.id),
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
            Some(&org.id),
            &Values::new()
                .with(Field::Name, "X")
                .with(Field::Type, "No Such Type"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::UnknownLookup { .. }), "{err:?}");

    // A record still managed by IT Glue's native PSA integration refuses our edits: permanent.
    use syncbridge_sim::admin::AdminOps;
    let managed = sim
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
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connectwise_lists_every_record_and_round_trips_crud() {
    let ds = dataset();
    let sim = connectwise_sim().await;
    load_connectwise(&sim.sim, &ds).unwrap();
    let cw = PsaClient::ConnectWise(connectwise_client(&sim, fast_policy()));

    let companies = cw.list_all(Entity::Organization).await.unwrap();
    assert_eq!(companies.len(), 1300);
    assert!(companies.iter().all(|c| c.get(Field::Type).is_some()));
    let contacts = timed_list("ConnectWise", Entity::Contact, cw.list_all(Entity::Contact)).await;
    assert_eq!(contacts.len(), 2600);
    assert_unique_ids(&contacts);
    let first = &ds.contacts[0];
    let c = contacts
        .iter()
        .find(|c| c.get(Field::Email) == Some(first.email.as_str()))
        .expect("seeded contact listed");
    assert_eq!(c.get(Field::Phone), Some(first.phone.as_str()));
    let configs = cw.list_all(Entity::Configuration).await.unwrap();
    assert_eq!(configs.len(), 2600);
    assert_unique_ids(&configs);
    assert_eq!(cw.get(Entity::Contact, "99999999").await.unwrap(), None);
    assert_eq!(cw.get(Entity::Location, "garbage").await.unwrap(), None);

    let org = cw
        .create(
            Entity::Organization,
            None,
            &Values::new()
                .with(Field::Name, "Zeta Test Org")
                .with(Field::Type, "Client")
                .with(Field::Status, "Active"),
        )
        .await
        .unwrap();
    assert_eq!(org.get(Field::Type), Some("Client"));
    assert_eq!(org.get(Field::ShortName), Some("ZetaTestOrg"));
    let site = cw
        .create(
            Entity::Location,
            Some(&org.id),
            &Values::new()
                .with(Field::Name, "HQ")
                .with(Field::Address1, "1 Main St")
                .with(Field::City, "Austin")
                .with(Field::Region, "TX")
                .with(Field::Country, "United States"),
        )
        .await
        .unwrap();
    assert_eq!(site.get(Field::Region), Some("TX"));
    let contact_values = Values::new()
        .with(Field::FirstName, "Ada")
        .with(Field::LastName, "Lovelace")
        .with(Field::Email, "ada@example.com")
        .with(Field::Phone, "+1 555 0100")
        .with(Field::Location, site.id.clone());
    let contact = cw
        .create(Entity::Contact, Some(&org.id), &contact_values)
        .await
        .unwrap();
    for (f, v) in contact_values.iter() {
        assert_eq!(contact.get(f), Some(v), "{f}");
    }
    let config = cw
        .create(
            Entity::Configuration,
            Some(&org.id),
            &Values::new()
                .with(Field::Name, "ZTO-SRV01")
                .with(Field::Type, "Server")
                .with(Field::Status, "Active")
                .with(Field::SerialNumber, "SN1")
                .with(Field::Contact, contact.id.clone())
                .with(Field::Location, site.id.clone()),
        )
        .await
        .unwrap();
    assert_eq!(config.get(Field::Location), Some(site.id.as_str()));
    assert_eq!(config.get(Field::Contact), Some(contact.id.as_str()));

    let mut changes = Changes::new();
    changes.insert(Field::Status, Some("Inactive".into()));
    changes.insert(Field::SerialNumber, None);
    let updated = cw
        .update(Entity::Configuration, &config.id, &changes)
        .await
        .unwrap();
    assert_eq!(updated.get(Field::Status), Some("Inactive"));
    assert_eq!(updated.get(Field::SerialNumber), None);
    let mut changes = Changes::new();
    changes.insert(Field::Email, Some("ada@new.example.com".into()));
    changes.insert(Field::Fax, Some("+1 555 0199".into()));
    let updated = cw
        .update(Entity::Contact, &contact.id, &changes)
        .await
        .unwrap();
    assert_eq!(updated.get(Field::Email), Some("ada@new.example.com"));
    assert_eq!(updated.get(Field::Fax), Some("+1 555 0199"));
    assert_eq!(updated.get(Field::Phone), Some("+1 555 0100"));
    let mut changes = Changes::new();
    changes.insert(Field::City, Some("Dallas".into()));
    let moved = cw
        .update(Entity::Location, &site.id, &changes)
        .await
        .unwrap();
    assert_eq!(moved.get(Field::City), Some("Dallas"));
    assert_eq!(
        cw.get(Entity::Location, &site.id).await.unwrap().as_ref(),
        Some(&moved)
    );

    let found = cw
        .find_by_key(
            Entity::Organization,
            None,
            &Values::new().with(Field::Name, "zeta test org"),
        )
        .await
        .unwrap();
    assert_eq!(
        found.len(),
        1,
        "conditions are case-insensitive; exact comparison is the caller's"
    );
    let changed = cw
        .list_modified_since_page(Entity::Contact, updated.updated_at, None)
        .await
        .unwrap();
    assert!(changed.records.iter().any(|r| r.id == contact.id));
    assert!(matches!(
        cw.list_modified_since_page(Entity::Location, 0, None).await,
        Err(Error::Unsupported(_))
    ));
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
    let sites = timed_list(
        "ConnectWise",
        Entity::Location,
        cw.list_all(Entity::Location),
    )
    .await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autotask_lists_every_record_and_round_trips_crud() {
    let ds = dataset();
    let sim = autotask_sim().await;
    load_autotask(&sim.sim, &ds, AT_RESOURCE).unwrap();
    let at = PsaClient::Autotask(autotask_client(&sim, fast_policy()));
    let zone = syncbridge_connectors::discover_zone(
        &sim.api_url(),
        "syncbridge@example.com",
        fast_policy(),
    )
    .await
    .unwrap();
    assert_eq!(zone, sim.api_url());

    let companies = at.list_all(Entity::Organization).await.unwrap();
    assert_eq!(companies.len(), 1300);
    assert!(companies.iter().all(|c| c.get(Field::Type).is_some()));
    let contacts = timed_list("Autotask", Entity::Contact, at.list_all(Entity::Contact)).await;
    assert_eq!(contacts.len(), 2600);
    assert_unique_ids(&contacts);
    let configs = at.list_all(Entity::Configuration).await.unwrap();
    assert_eq!(configs.len(), 2600);
    assert_unique_ids(&configs);
    assert!(configs
        .iter()
        .all(|c| CI_TYPES.contains(&c.get(Field::Type).unwrap_or("?"))));
    assert_eq!(
        at.get(Entity::Contact, &contacts[7].id)
            .await
            .unwrap()
            .as_ref(),
        Some(&contacts[7])
    );
    assert_eq!(at.get(Entity::Contact, "99999999").await.unwrap(), None);
    assert!(matches!(
        at.list_page(Entity::Location, None).await,
        Err(Error::Unsupported(_))
    ));
    // The seeded data is old: outside the modified-since poll's overlap window (AT-4).
    sim.sim
        .core()
        .clock
        .advance(std::time::Duration::from_secs(3600));

    let org = at
        .create(
            Entity::Organization,
            None,
            &Values::new()
                .with(Field::Name, "Zeta Test Org")
                .with(Field::Type, "Customer")
                .with(Field::Status, "Active"),
        )
        .await
        .unwrap();
    assert_eq!(org.get(Field::Type), Some("Customer"));
    let contact_values = Values::new()
        .with(Field::FirstName, "Ada")
        .with(Field::LastName, "Lovelace")
        .with(Field::Email, "ada@example.com")
        .with(Field::Mobile, "+1 555 0101");
    let contact = at
        .create(Entity::Contact, Some(&org.id), &contact_values)
        .await
        .unwrap();
    for (f, v) in contact_values.iter() {
        assert_eq!(contact.get(f), Some(v), "{f}");
    }
    let config = at
        .create(
            Entity::Configuration,
            Some(&org.id),
            &Values::new()
                .with(Field::Name, "ZTO-SRV01")
                .with(Field::Type, "Server")
                .with(Field::Status, "Active")
                .with(Field::Contact, contact.id.clone()),
        )
        .await
        .unwrap();
    assert_eq!(config.get(Field::Type), Some("Server"));
    let mut changes = Changes::new();
    changes.insert(Field::Status, Some("Inactive".into()));
    changes.insert(Field::SerialNumber, Some("SN9".into()));
    let updated = at
        .update(Entity::Configuration, &config.id, &changes)
        .await
        .unwrap();
    assert_eq!(updated.get(Field::Status), Some("Inactive"));
    assert_eq!(updated.get(Field::SerialNumber), Some("SN9"));
    assert_eq!(updated.get(Field::Name), Some("ZTO-SRV01"));

    let found = at
        .find_by_key(Entity::Contact, Some(&org.id), &contact_values)
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    let changed = at
        .list_modified_since_page(Entity::Configuration, updated.updated_at, None)
        .await
        .unwrap();
    assert!(changed.records.iter().any(|r| r.id == config.id));
    assert!(changed.records.len() < 10);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kaseya_bms_lists_every_record_and_round_trips_crud() {
    let ds = dataset();
    let sim = bms_sim(false).await;
    load_bms(&sim.sim, &ds).unwrap();
    let bms = PsaClient::KaseyaBms(bms_client(&sim, BmsFlavor::KaseyaBms, fast_policy()));

    let accounts = bms.list_all(Entity::Organization).await.unwrap();
    assert_eq!(accounts.len(), 1300);
    assert!(accounts
        .iter()
        .all(|a| a.get(Field::Type).is_some() && a.get(Field::Status).is_some()));
    let contacts = timed_list("Kaseya BMS", Entity::Contact, bms.list_all(Entity::Contact)).await;
    assert_eq!(contacts.len(), 2600);
    assert_unique_ids(&contacts);
    let first = &ds.contacts[0];
    let c = contacts
        .iter()
        .find(|c| c.get(Field::Email) == Some(first.email.as_str()))
        .expect("seeded contact listed");
    assert_eq!(c.get(Field::Phone), Some(first.phone.as_str()));
    let assets = bms.list_all(Entity::Configuration).await.unwrap();
    assert_eq!(assets.len(), 2600);
    assert_unique_ids(&assets);
    let locations = bms.list_all(Entity::Location).await.unwrap();
    assert_eq!(locations.len(), 1300);
    assert!(locations.iter().all(|l| l.get(Field::Address1).is_some()));
    assert_eq!(
        c.get(Field::Location).map(|l| l.split(':').count()),
        Some(2)
    );
    assert_eq!(
        bms.get(Entity::Location, &locations[2].id)
            .await
            .unwrap()
            .as_ref(),
        Some(&locations[2])
    );
    assert_eq!(
        bms.get(Entity::Configuration, &assets[9].id)
            .await
            .unwrap()
            .as_ref(),
        Some(&assets[9])
    );
    assert_eq!(bms.get(Entity::Contact, "9999999").await.unwrap(), None);

    let org = bms
        .create(
            Entity::Organization,
            None,
            &Values::new()
                .with(Field::Name, "Zeta Test Org")
                .with(Field::Type, "Client")
                .with(Field::ShortName, "ZTO"),
        )
        .await
        .unwrap();
    assert_eq!(org.get(Field::Type), Some("Client"));
    assert_eq!(org.get(Field::Status), Some("Active"));
    let contact_values = Values::new()
        .with(Field::FirstName, "Ada")
        .with(Field::LastName, "Lovelace")
        .with(Field::Title, "CTO")
        .with(Field::Email, "ada@example.com")
        .with(Field::Phone, "+1 555 0100");
    let contact = bms
        .create(Entity::Contact, Some(&org.id), &contact_values)
        .await
        .unwrap();
    for (f, v) in contact_values.iter() {
        assert_eq!(contact.get(f), Some(v), "{f}");
    }
    let asset = bms
        .create(
            Entity::Configuration,
            Some(&org.id),
            &Values::new()
                .with(Field::Name, "ZTO-SRV01")
                .with(Field::Type, "Server")
                .with(Field::Status, "Active")
                .with(Field::Manufacturer, "Dell")
                .with(Field::Contact, contact.id.clone()),
        )
        .await
        .unwrap();
    assert_eq!(asset.get(Field::Type), Some("Server"));
    assert_eq!(asset.get(Field::Manufacturer), Some("Dell"));
    assert!(
        asset.get(Field::Location).is_some(),
        "the account's main location"
    );

    let mut changes = Changes::new();
    changes.insert(Field::Email, Some("ada@new.example.com".into()));
    changes.insert(Field::Title, Some("CEO".into()));
    let updated = bms
        .update(Entity::Contact, &contact.id, &changes)
        .await
        .unwrap();
    assert_eq!(updated.get(Field::Email), Some("ada@new.example.com"));
    assert_eq!(updated.get(Field::Title), Some("CEO"));
    assert_eq!(updated.get(Field::Phone), Some("+1 555 0100"));
    let mut changes = Changes::new();
    changes.insert(Field::SerialNumber, Some("SN9".into()));
    changes.insert(Field::Status, Some("Inactive".into()));
    let updated_asset = bms
        .update(Entity::Configuration, &asset.id, &changes)
        .await
        .unwrap();
    assert_eq!(updated_asset.get(Field::SerialNumber), Some("SN9"));
    assert_eq!(updated_asset.get(Field::Status), Some("Inactive"));
    assert_eq!(updated_asset.get(Field::Name), Some("ZTO-SRV01"));
    let mut changes = Changes::new();
    changes.insert(Field::Name, Some("Zeta Renamed".into()));
    let renamed = bms
        .update(Entity::Organization, &org.id, &changes)
        .await
        .unwrap();
    assert_eq!(renamed.get(Field::Name), Some("Zeta Renamed"));

    let found = bms
        .find_by_key(Entity::Contact, Some(&org.id), &contact_values)
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    let changed = bms
        .list_modified_since_page(Entity::Contact, updated.updated_at, None)
        .await
        .unwrap();
    assert!(changed.records.iter().any(|r| r.id == contact.id));
    for entity in [Entity::Configuration, Entity::Location] {
        assert!(matches!(
            bms.list_modified_since_page(entity, 0, None).await,
            Err(Error::Unsupported(_))
        ));
    }
    assert!(matches!(
        bms.create(
            Entity::Location,
            Some(&org.id),
            &Values::new().with(Field::Address1, "x")
        )
        .await,
        Err(Error::Unsupported(_))
    ));

    // An expired token is replaced transparently.
    sim.sim
        .core()
        .clock
        .advance(std::time::Duration::from_secs(2 * 3600));
    assert!(bms
        .get(Entity::Organization, &org.id)
        .await
        .unwrap()
        .is_some());
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulseway_shares_the_v2_client_without_locations() {
    let ds = Dataset::generate(SeedSpec::sized(12, 30));
    let sim = bms_sim(true).await;
    load_bms(&sim.sim, &ds).unwrap();
    let psa = PsaClient::PulsewayPsa(bms_client(&sim, BmsFlavor::PulsewayPsa, fast_policy()));
    assert_eq!(psa.kind(), syncbridge_model::PsaKind::PulsewayPsa);
    assert_eq!(psa.list_all(Entity::Organization).await.unwrap().len(), 30);
    assert_eq!(psa.list_all(Entity::Configuration).await.unwrap().len(), 60);
    assert!(matches!(
        psa.list_page(Entity::Location, None).await,
        Err(Error::Unsupported(_))
    ));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tigerpaw_is_listed_and_never_written() {
    let ds = dataset();
    let sim = tigerpaw_sim().await;
    load_tigerpaw(&sim.sim, &ds).unwrap();
    let tp = PsaClient::Tigerpaw(tigerpaw_client(&sim, fast_policy()));

    let accounts = tp.list_all(Entity::Organization).await.unwrap();
    assert_eq!(accounts.len(), 1300);
    assert_eq!(
        accounts[0].get(Field::Name),
        Some(ds.organizations[0].name.as_str())
    );
    assert_eq!(
        accounts[0].get(Field::ShortName),
        Some(ds.organizations[0].short_name.as_str())
    );
    let contacts = timed_list("Tigerpaw", Entity::Contact, tp.list_all(Entity::Contact)).await;
    assert_eq!(contacts.len(), 2600);
    assert_unique_ids(&contacts);
    assert_eq!(
        contacts[0].get(Field::Email),
        Some(ds.contacts[0].email.as_str())
    );
    let locations = tp.list_all(Entity::Location).await.unwrap();
    assert_eq!(locations.len(), 1300);
    assert_eq!(
        locations[0].get(Field::Name),
        locations[0].get(Field::Address1)
    );
    assert_eq!(
        tp.get(Entity::Contact, &contacts[4].id)
            .await
            .unwrap()
            .as_ref(),
        Some(&contacts[4])
    );
    assert_eq!(tp.get(Entity::Organization, "9999999").await.unwrap(), None);
    let key = Values::new()
        .with(Field::FirstName, ds.contacts[0].first_name.clone())
        .with(Field::LastName, ds.contacts[0].last_name.clone());
    let found = tp
        .find_by_key(Entity::Contact, Some("1"), &key)
        .await
        .unwrap();
    assert_eq!(found.len(), 1);

    let before = tp.stats().requests;
    let values = Values::new().with(Field::Name, "New");
    assert!(matches!(
        tp.create(Entity::Organization, None, &values).await,
        Err(Error::ReadOnly { .. })
    ));
    let mut changes = Changes::new();
    changes.insert(Field::Name, Some("Renamed".into()));
    assert!(matches!(
        tp.update(Entity::Organization, &accounts[0].id, &changes)
            .await,
        Err(Error::ReadOnly { .. })
    ));
    assert_eq!(tp.stats().requests, before, "refused before any request");
    assert_eq!(writes(sim.sim.core(), "accounts"), (0, 0));
    assert!(matches!(
        tp.list_modified_since_page(Entity::Organization, 0, None)
            .await,
        Err(Error::Unsupported(_))
    ));
    assert!(matches!(
        tp.list_page(Entity::Configuration, None).await,
        Err(Error::Unsupported(_))
    ));
    sim.shutdown().await;
}

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
