//! Findings BMS-1 … BMS-6 of the vendor audit (Kaseya BMS and Pulseway PSA, one v2 API): the
//! simulator answers as the v2 spec says the vendor does (thin asset listing, operation-DTO
//! e-mail/phone PATCH, `ContactPutInputDto` / `ContactInputDto`, a page-size cap, no locations in
//! account lists, required addresses), and each test shows the connector working against it.

use crate::common::{bms_client, bms_sim, fast_policy};
use serde_json::{json, Value};
use syncbridge_connectors::Vendor;
use syncbridge_connectors::{BmsClient, BmsConfig, BmsFlavor, Error};
use syncbridge_model::Changes;
use syncbridge_model::{Entity, Field, Values};
use syncbridge_sim::admin::AdminOps;
use syncbridge_sim::kaseya_bms::KaseyaBms;
use syncbridge_sim::seed::{load_bms, Dataset, SeedSpec};

/// A seeded simulator: `orgs` accounts with one location, two contacts and two assets each.
async fn seeded(orgs: usize, pulseway: bool) -> (KaseyaBms, Dataset) {
    let sim = bms_sim(pulseway).await;
    let ds = Dataset::generate(SeedSpec::sized(10, orgs));
    load_bms(&sim.sim, &ds).expect("seed");
    (sim, ds)
}

fn client(sim: &KaseyaBms) -> BmsClient {
    bms_client(sim, BmsFlavor::KaseyaBms, fast_policy())
}

/// The simulator's stored contact `id` (admin view).
fn stored_contact(sim: &KaseyaBms, id: &str) -> Value {
    sim.sim
        .state("contacts")
        .expect("contacts")
        .into_iter()
        .find(|c| c["id"].as_u64().map(|n| n.to_string()).as_deref() == Some(id))
        .expect("contact stored")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bms_1_assets_are_read_whole_after_the_thin_listing() {
    let (sim, ds) = seeded(125, false).await;
    let bms = client(&sim);
    // Authenticate first so the figure below counts only the listing.
    bms.get(Entity::Organization, "1").await.expect("warm-up");
    let before = bms.stats().requests;
    let assets = bms.list_all(Entity::Configuration).await.expect("listing");
    let cost = bms.stats().requests - before;
    let n = ds.configurations.len();
    for a in &assets {
        let seeded = ds
            .configurations
            .iter()
            .find(|c| a.get(Field::Name) == Some(c.name.as_str()))
            .unwrap_or_else(|| panic!("asset {} listed with its name", a.id));
        assert_eq!(a.get(Field::SerialNumber), Some(seeded.serial.as_str()));
        for f in [
            Field::Type,
            Field::Status,
            Field::Manufacturer,
            Field::Model,
            Field::MacAddress,
            Field::Location,
        ] {
            assert!(a.get(f).is_some(), "asset {} has its {f}", a.id);
        }
        assert_eq!(
            a.org_id.as_deref(),
            Some(format!("{}", seeded.org + 1).as_str())
        );
    }
    assert_eq!(assets.len(), n);
    // The listing equals what reading each asset by id gives.
    let one = bms
        .get(Entity::Configuration, &assets[7].id)
        .await
        .unwrap()
        .expect("asset");
    assert_eq!(one, assets[7]);
    // Cost: ⌈N/100⌉ searchselect pages (one more when N is a multiple of 100: the empty page
    // that ends a listing without a total) + N reads by id.
    let pages = n / 100 + 1;
    assert_eq!(
        cost as usize,
        n + pages,
        "requests for a listing of {n} assets"
    );
    println!(
        "BMS-1: listing {n} assets cost {cost} requests ({pages} on GET \
         /v2/servicedesk/hardwareasset/searchselect, {n} on GET /v2/servicedesk/hardwareasset/{{id}})"
    );
    // A key search reads whole only the thin rows that can match.
    let target = &ds.configurations[3];
    let before = bms.stats().requests;
    let found = bms
        .find_by_key(
            Entity::Configuration,
            Some(&(target.org + 1).to_string()),
            &Values::new().with(Field::Name, target.name.clone()),
        )
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0].get(Field::SerialNumber),
        Some(target.serial.as_str())
    );
    assert_eq!(
        bms.stats().requests - before,
        3,
        "one page, the empty page that ends a listing without a total, one read"
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bms_2_contact_emails_and_phones_change_through_the_operation_dto() {
    let (sim, ds) = seeded(3, false).await;
    let bms = client(&sim);
    let id = "1";
    let mut changes = Changes::new();
    changes.insert(Field::Email, Some("ada@new.example.com".into()));
    changes.insert(Field::Phone, Some("+1 555 0199".into()));
    let updated = bms
        .update(Entity::Contact, id, &changes)
        .await
        .expect("update through the operation DTO");
    assert_eq!(updated.get(Field::Email), Some("ada@new.example.com"));
    assert_eq!(updated.get(Field::Phone), Some("+1 555 0199"));
    // Updated in place: still one entry each, its type kept.
    let stored = stored_contact(&sim, id);
    assert_eq!(
        stored["emails"],
        json!([{"emailAddress": "ada@new.example.com", "emailTypeId": 1, "emailType": "Work",
            "isDefault": true}])
    );
    assert_eq!(stored["phones"].as_array().map(Vec::len), Some(1));
    assert_ne!(ds.contacts[0].email, "ada@new.example.com");

    // Clearing deletes the entry; setting it again adds one.
    let mut clear = Changes::new();
    clear.insert(Field::Phone, None);
    let cleared = bms
        .update(Entity::Contact, id, &clear)
        .await
        .expect("delete");
    assert_eq!(cleared.get(Field::Phone), None);
    assert_eq!(stored_contact(&sim, id)["phones"], json!([]));
    let mut add = Changes::new();
    add.insert(Field::Phone, Some("+1 555 0200".into()));
    let added = bms.update(Entity::Contact, id, &add).await.expect("add");
    assert_eq!(added.get(Field::Phone), Some("+1 555 0200"));
    assert_eq!(
        stored_contact(&sim, id)["phones"],
        json!([{"phone": "+1 555 0200", "phoneTypeId": 1, "isDefault": true}])
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bms_3_point_of_contact_is_patched_as_poc() {
    let (sim, _) = seeded(2, false).await;
    let bms = client(&sim);
    let mut changes = Changes::new();
    changes.insert(Field::Important, Some("true".into()));
    changes.insert(Field::Title, Some("Owner".into()));
    let updated = bms
        .update(Entity::Contact, "2", &changes)
        .await
        .expect("PATCH /Poc is accepted");
    assert_eq!(updated.get(Field::Important), Some("true"));
    assert_eq!(updated.get(Field::Title), Some("Owner"));
    let mut changes = Changes::new();
    changes.insert(Field::Important, Some("false".into()));
    let updated = bms.update(Entity::Contact, "2", &changes).await.unwrap();
    assert_eq!(
        updated.get(Field::Important),
        None,
        "false reads as unset (the connector's reading of booleans)"
    );
    assert_eq!(stored_contact(&sim, "2")["isPoc"], false);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bms_4_contact_create_sends_the_contact_input_dto() {
    let (sim, _) = seeded(3, false).await;
    let bms = client(&sim);
    let values = Values::new()
        .with(Field::FirstName, "Grace")
        .with(Field::LastName, "Hopper")
        .with(Field::Title, "Rear Admiral")
        .with(Field::Important, "true")
        .with(Field::Email, "grace@example.com")
        .with(Field::Phone, "+1 555 0142");
    let created = bms
        .create(Entity::Contact, Some("2"), &values)
        .await
        .expect("create with a location of the account");
    for (f, v) in values.iter() {
        assert_eq!(created.get(f), Some(v), "{f} after create");
    }
    // No Location in the record: the account's main location (seeded location 2).
    assert_eq!(created.get(Field::Location), Some("2:2"));
    let stored = stored_contact(&sim, &created.id);
    assert_eq!(stored["phones"][0]["phone"], "+1 555 0142");
    assert_eq!(stored["isPoc"], true);

    // A Location of the record is sent as is; one of another account is the vendor's refusal,
    // permanent and with its message.
    let with_location = Values::new()
        .with(Field::FirstName, "Alan")
        .with(Field::LastName, "Turing")
        .with(Field::Location, "3:3");
    let alan = bms
        .create(Entity::Contact, Some("3"), &with_location)
        .await
        .expect("own location");
    assert_eq!(alan.get(Field::Location), Some("3:3"));
    let foreign = Values::new()
        .with(Field::FirstName, "Kurt")
        .with(Field::LastName, "Goedel")
        .with(Field::Location, "1:1");
    match bms.create(Entity::Contact, Some("3"), &foreign).await {
        Err(Error::Rejected {
            status: 400,
            body_excerpt,
        }) => assert!(body_excerpt.contains("locationId"), "{body_excerpt}"),
        other => panic!("a foreign location is refused: {other:?}"),
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bms_5_paging_follows_the_rows_returned_not_the_page_size_asked() {
    let (sim, ds) = seeded(130, false).await;
    // Ask for 1000 rows a page; the server serves 100.
    let mut config = BmsConfig::new(
        sim.base_url(),
        BmsFlavor::KaseyaBms,
        "syncbridge",
        "bms-password",
        "acme",
    );
    config.http = fast_policy();
    config.page_size = 1000;
    let bms = BmsClient::new(config).expect("client");
    let orgs = bms.list_all(Entity::Organization).await.expect("accounts");
    assert_eq!(orgs.len(), ds.organizations.len(), "with totalRecords");
    let contacts = bms.list_all(Entity::Contact).await.expect("contacts");
    assert_eq!(contacts.len(), ds.contacts.len());
    let mut ids: Vec<&str> = contacts.iter().map(|c| c.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), ds.contacts.len(), "no row twice");
    let assets = bms.list_all(Entity::Configuration).await.expect("assets");
    assert_eq!(
        assets.len(),
        ds.configurations.len(),
        "without a total (searchselect)"
    );
    // The default client too.
    let default = client(&sim);
    assert_eq!(
        default.list_all(Entity::Contact).await.unwrap().len(),
        ds.contacts.len()
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bms_6_locations_come_from_the_location_endpoints_and_accounts_are_created_with_an_address()
{
    let (sim, ds) = seeded(12, false).await;
    let bms = client(&sim);
    let locations = bms.list_all(Entity::Location).await.expect("locations");
    assert_eq!(locations.len(), ds.locations.len());
    for (l, seeded) in locations.iter().zip(&ds.locations) {
        assert_eq!(l.get(Field::Name), Some(seeded.name.as_str()));
        assert_eq!(l.get(Field::Address1), Some(seeded.address_1.as_str()));
        assert_eq!(l.get(Field::City), Some(seeded.city.as_str()));
        assert_eq!(
            l.org_id.as_deref(),
            Some((seeded.org + 1).to_string().as_str())
        );
    }
    let of_one = bms
        .find_by_key(
            Entity::Location,
            Some("4"),
            &Values::new().with(Field::Address1, ds.locations[3].address_1.clone()),
        )
        .await
        .unwrap();
    assert_eq!(of_one, vec![locations[3].clone()]);

    let org = bms
        .create(
            Entity::Organization,
            None,
            &Values::new()
                .with(Field::Name, "Zeta Test Org")
                .with(Field::Type, "Client"),
        )
        .await
        .expect("account create with a location that has an address");
    // Its location is there, and new assets and contacts can name it.
    let asset = bms
        .create(
            Entity::Configuration,
            Some(&org.id),
            &Values::new()
                .with(Field::Name, "ZTO-SRV01")
                .with(Field::Type, "Server"),
        )
        .await
        .expect("asset in the new account's main location");
    let location = asset.get(Field::Location).expect("location").to_owned();
    assert!(location.starts_with(&format!("{}:", org.id)));
    let contact = bms
        .create(
            Entity::Contact,
            Some(&org.id),
            &Values::new()
                .with(Field::FirstName, "Zed")
                .with(Field::LastName, "Zeta"),
        )
        .await
        .expect("contact in the new account's main location");
    assert_eq!(contact.get(Field::Location), Some(location.as_str()));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x_1_bms_asset_dates_are_zone_less_date_times_on_the_wire_and_days_in_the_record() {
    let (sim, _) = seeded(2, false).await;
    let bms = client(&sim);
    let values = Values::new()
        .with(Field::Name, "DATED-01")
        .with(Field::Type, "Server")
        .with(Field::PurchasedAt, "2024-01-02")
        .with(Field::WarrantyExpiresAt, "2027-01-02");
    let asset = bms
        .create(Entity::Configuration, Some("1"), &values)
        .await
        .expect("create");
    // The vendor's own format is stored and returned …
    let stored = sim
        .sim
        .state("hardwareassets")
        .unwrap()
        .into_iter()
        .find(|a| a["name"] == "DATED-01")
        .expect("stored");
    assert_eq!(stored["acquisitionDate"], "2024-01-02T00:00:00");
    assert_eq!(stored["warrantyExpirationDate"], "2027-01-02T00:00:00");
    // … and reads back as the day that was written: nothing for the engine to write again.
    assert_eq!(asset.get(Field::PurchasedAt), Some("2024-01-02"));
    assert_eq!(asset.get(Field::WarrantyExpiresAt), Some("2027-01-02"));
    let listed = bms.list_all(Entity::Configuration).await.unwrap();
    let again = listed.iter().find(|a| a.id == asset.id).expect("listed");
    assert_eq!(again.get(Field::PurchasedAt), Some("2024-01-02"));
    // A value that is not a date is the vendor's refusal, not an outage.
    let mut bad = Changes::new();
    bad.insert(Field::PurchasedAt, Some("soon".into()));
    assert!(matches!(
        bms.update(Entity::Configuration, &asset.id, &bad).await,
        Err(Error::Rejected { status: 400, .. })
    ));
    sim.shutdown().await;
}
