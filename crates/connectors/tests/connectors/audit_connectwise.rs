//! Vendor audit findings CW-1 … CW-5 (shared/reference/vendor-fidelity-audit.md §2): the
//! ConnectWise simulator answers as the audit's sources say ConnectWise does (stricter where
//! they are silent), and the connector works against it.

use serde_json::{json, Value};
use syncbridge_connectors::Vendor;
use syncbridge_connectors::{ConnectWiseClient, ConnectWiseConfig, Error};
use syncbridge_model::Changes;
use syncbridge_model::{Entity, Field, Values};
use syncbridge_sim::admin::AdminOps;
use syncbridge_sim::connectwise::ConnectWise;
use syncbridge_sim::seed::{load_connectwise, Dataset, SeedSpec};

use crate::common::*;

/// A small tenant: company types Client(1) Prospect(2) Vendor(3) Partner(4), statuses,
/// configuration types and three companies with one site, two contacts, two configurations each.
async fn tenant() -> ConnectWise {
    let sim = connectwise_sim().await;
    load_connectwise(&sim.sim, &Dataset::generate(SeedSpec::sized(7, 3))).unwrap();
    sim.sim
        .seed(
            "contact_types",
            vec![json!({"name": "Primary"}), json!({"name": "Billing"})],
        )
        .unwrap();
    sim
}

fn client_with_page_size(sim: &ConnectWise, page_size: u32) -> ConnectWiseClient {
    let mut config = ConnectWiseConfig::new(
        sim.api_url(),
        "acme",
        "cw-public",
        "cw-private",
        "test-client-id",
    );
    config.http = fast_policy();
    config.page_size = page_size;
    ConnectWiseClient::new(config).unwrap()
}

/// The simulator's record `id` of `collection` as ConnectWise renders it.
fn stored(sim: &ConnectWise, collection: &str, id: &str) -> Value {
    sim.sim
        .state(collection)
        .unwrap()
        .into_iter()
        .find(|r| r["id"].as_u64().map(|n| n.to_string()).as_deref() == Some(id))
        .unwrap_or_else(|| panic!("{collection} {id} stored"))
}

/// Type ids of the type associations of company/contact `id`.
fn association_types(sim: &ConnectWise, collection: &str, parent: &str, id: &str) -> Vec<u64> {
    sim.sim
        .state(collection)
        .unwrap()
        .iter()
        .filter(|a| a[parent]["id"].as_u64().map(|n| n.to_string()).as_deref() == Some(id))
        .filter_map(|a| a["type"]["id"].as_u64())
        .collect()
}

fn type_ids(record: &Value) -> Vec<u64> {
    record["types"]
        .as_array()
        .map(|a| a.iter().filter_map(|t| t["id"].as_u64()).collect())
        .unwrap_or_default()
}

fn basic_auth() -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode("acme+cw-public:cw-private");
    format!("Basic {b64}")
}

/// A raw request to the simulator's API, as any ConnectWise client would send it.
async fn raw(
    sim: &ConnectWise,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut rb = reqwest::Client::new()
        .request(method, format!("{}/{path}", sim.api_url()))
        .header("Authorization", basic_auth())
        .header("clientId", "test-client-id");
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let resp = rb.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn change(field: Field, value: &str) -> Changes {
    let mut c = Changes::new();
    c.insert(field, Some(value.to_owned()));
    c
}

/// CW-1: company and contact types are set on create only; later changes go through
/// `…/{id}/typeAssociations`. The simulator refuses a PATCH of `types` (400 naming the field).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cw_1_type_changes_go_through_type_associations() {
    let sim = tenant().await;
    let cw = connectwise_client(&sim, fast_policy());

    let org = cw
        .create(
            Entity::Organization,
            None,
            &Values::new()
                .with(Field::Name, "Typed Co")
                .with(Field::Type, "Client"),
        )
        .await
        .unwrap();
    assert_eq!(org.get(Field::Type), Some("Client"));
    assert_eq!(
        association_types(&sim, "company_type_associations", "company", &org.id),
        vec![1],
        "the type sent on create is an association"
    );

    let updated = cw
        .update(
            Entity::Organization,
            &org.id,
            &change(Field::Type, "Vendor"),
        )
        .await
        .unwrap();
    assert_eq!(updated.get(Field::Type), Some("Vendor"));
    assert_eq!(type_ids(&stored(&sim, "companies", &org.id)), vec![3]);
    assert_eq!(
        association_types(&sim, "company_type_associations", "company", &org.id),
        vec![3]
    );

    // A company with a second type keeps it; the new type reads first.
    sim.sim
        .edit(
            "companies",
            &org.id,
            "alice",
            serde_json::from_value(json!({"types": [{"id": 3}, {"id": 4}]})).unwrap(),
        )
        .unwrap();
    let updated = cw
        .update(
            Entity::Organization,
            &org.id,
            &change(Field::Type, "Prospect"),
        )
        .await
        .unwrap();
    assert_eq!(updated.get(Field::Type), Some("Prospect"));
    assert_eq!(updated.extra_types, vec!["Partner".to_owned()]);
    assert_eq!(type_ids(&stored(&sim, "companies", &org.id)), vec![2, 4]);

    // Type plus another field in one update: both land.
    let mut both = change(Field::Type, "Client");
    both.insert(Field::Name, Some("Typed Company".into()));
    let updated = cw
        .update(Entity::Organization, &org.id, &both)
        .await
        .unwrap();
    assert_eq!(updated.get(Field::Type), Some("Client"));
    assert_eq!(updated.get(Field::Name), Some("Typed Company"));

    let contact = cw
        .create(
            Entity::Contact,
            Some(&org.id),
            &Values::new()
                .with(Field::FirstName, "Tia")
                .with(Field::LastName, "Type")
                .with(Field::Type, "Primary"),
        )
        .await
        .unwrap();
    assert_eq!(contact.get(Field::Type), Some("Primary"));
    let updated = cw
        .update(
            Entity::Contact,
            &contact.id,
            &change(Field::Type, "Billing"),
        )
        .await
        .unwrap();
    assert_eq!(updated.get(Field::Type), Some("Billing"));
    assert_eq!(
        association_types(&sim, "contact_type_associations", "contact", &contact.id),
        vec![2]
    );
    let cleared = cw
        .update(Entity::Contact, &contact.id, &{
            let mut c = Changes::new();
            c.insert(Field::Type, None);
            c
        })
        .await
        .unwrap();
    assert_eq!(cleared.get(Field::Type), None);

    // The simulator: PATCH of types refused, naming the field; typeAssociations served.
    let (status, body) = raw(
        &sim,
        reqwest::Method::PATCH,
        &format!("company/companies/{}", org.id),
        Some(json!([{"op": "replace", "path": "types", "value": [{"id": 2}]}])),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errors"][0]["field"], "types", "{body}");
    let (status, list) = raw(
        &sim,
        reqwest::Method::GET,
        &format!("company/companies/{}/typeAssociations", org.id),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(list[0]["type"]["name"], "Client", "{list}");
    assert_eq!(list[0]["company"]["id"].to_string(), org.id);
    sim.shutdown().await;
}

/// CW-2: a company needs at least one address field on create; the connector sends the
/// values' address, or the configured fallback city.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cw_2_company_create_sends_an_address_field() {
    let sim = tenant().await;
    let cw = connectwise_client(&sim, fast_policy());

    let bare = cw
        .create(
            Entity::Organization,
            None,
            &Values::new().with(Field::Name, "No Address Ltd"),
        )
        .await
        .unwrap();
    assert_eq!(stored(&sim, "companies", &bare.id)["city"], "Unknown");

    let located = cw
        .create(
            Entity::Organization,
            None,
            &Values::new()
                .with(Field::Name, "Addressed Ltd")
                .with(Field::Address1, "1 King St")
                .with(Field::City, "Toronto")
                .with(Field::Region, "ON")
                .with(Field::Country, "Canada"),
        )
        .await
        .unwrap();
    let company = stored(&sim, "companies", &located.id);
    assert_eq!(company["addressLine1"], "1 King St");
    assert_eq!(company["city"], "Toronto");
    assert_eq!(company["state"], "ON");
    assert_eq!(company["country"]["name"], "Canada");
    assert!(company["country"]["id"].is_u64());

    // The simulator refuses a company without any address field, naming it.
    let (status, body) = raw(
        &sim,
        reqwest::Method::POST,
        "company/companies",
        Some(json!({"name": "Raw Co", "identifier": "RawCo"})),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["message"]
            .as_str()
            .unwrap_or("")
            .contains("at least one address field"),
        "{body}"
    );

    // A refusal that names a field is permanent, with the vendor's message.
    let refused = cw
        .create(
            Entity::Contact,
            Some(&bare.id),
            &Values::new().with(Field::LastName, "Nofirstname"),
        )
        .await
        .unwrap_err();
    match &refused {
        Error::Rejected {
            status: 400,
            body_excerpt,
        } => assert!(body_excerpt.contains("firstName"), "{body_excerpt}"),
        other => panic!("expected Rejected, got {other:?}"),
    }
    assert!(!refused.is_transient());
    sim.shutdown().await;
}

/// CW-3: references are written by id, resolved through ConnectWise's lookup endpoints
/// (manufacturers, members, states, countries, communication types); the simulator refuses a
/// reference without an id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cw_3_references_are_written_with_ids() {
    let sim = tenant().await;
    let cw = connectwise_client(&sim, fast_policy());
    let company = "1";

    let site = cw
        .create(
            Entity::Location,
            Some(company),
            &Values::new()
                .with(Field::Name, "Depot")
                .with(Field::City, "Austin")
                .with(Field::Region, "TX")
                .with(Field::Country, "United States"),
        )
        .await
        .unwrap();
    assert_eq!(site.get(Field::Region), Some("TX"));
    assert_eq!(site.get(Field::Country), Some("United States"));
    let (_, site_id) = site.id.split_once(':').unwrap();
    let stored_site = stored(&sim, "sites", site_id);
    assert!(
        stored_site["stateReference"]["id"].is_u64(),
        "{stored_site}"
    );
    assert!(stored_site["country"]["id"].is_u64(), "{stored_site}");

    let config = cw
        .create(
            Entity::Configuration,
            Some(company),
            &Values::new()
                .with(Field::Name, "REF-SRV01")
                .with(Field::Type, "Server")
                .with(Field::Manufacturer, "Dell")
                .with(Field::InstalledBy, "alice"),
        )
        .await
        .unwrap();
    assert_eq!(config.get(Field::Manufacturer), Some("Dell"));
    assert_eq!(config.get(Field::InstalledBy), Some("alice"));
    let stored_config = stored(&sim, "configurations", &config.id);
    assert!(stored_config["manufacturer"]["id"].is_u64());
    assert_eq!(stored_config["installedBy"]["id"], 244);
    let updated = cw
        .update(
            Entity::Configuration,
            &config.id,
            &change(Field::Manufacturer, "HP"),
        )
        .await
        .unwrap();
    assert_eq!(updated.get(Field::Manufacturer), Some("HP"));

    let contact = cw
        .create(
            Entity::Contact,
            Some(company),
            &Values::new()
                .with(Field::FirstName, "Ref")
                .with(Field::LastName, "Erence")
                .with(Field::Email, "ref@example.com")
                .with(Field::Phone, "+1 555 0101"),
        )
        .await
        .unwrap();
    let updated = cw
        .update(
            Entity::Contact,
            &contact.id,
            &change(Field::Fax, "+1 555 0102"),
        )
        .await
        .unwrap();
    assert_eq!(updated.get(Field::Email), Some("ref@example.com"));
    assert_eq!(updated.get(Field::Phone), Some("+1 555 0101"));
    assert_eq!(updated.get(Field::Fax), Some("+1 555 0102"));
    let items = stored(&sim, "contacts", &contact.id)["communicationItems"].clone();
    assert_eq!(items.as_array().map(Vec::len), Some(3));
    assert!(
        items
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["type"]["id"].is_u64()),
        "{items}"
    );

    // A name the tenant lacks is a typed error, not a reference the vendor would refuse.
    assert!(matches!(
        cw.update(
            Entity::Configuration,
            &config.id,
            &change(Field::Manufacturer, "No Such Maker"),
        )
        .await,
        Err(Error::UnknownLookup { .. })
    ));
    // The simulator refuses a reference by name.
    let (status, body) = raw(
        &sim,
        reqwest::Method::PATCH,
        &format!("company/configurations/{}", config.id),
        Some(json!([{"op": "replace", "path": "manufacturer", "value": {"name": "Dell"}}])),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["errors"][0]["field"], "manufacturer", "{body}");
    sim.shutdown().await;
}

/// CW-4: forward-only paging exists on the top-level record collections only; elsewhere
/// ConnectWise answers 400 "… doesn't support 'forward-only' pagination", and the connector
/// pages by number, never stopping after the first page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cw_4_endpoints_without_forward_only_are_paged_by_number() {
    let sim = tenant().await;
    // Five sites on company 1 (it has one already): three pages of two.
    sim.sim
        .seed(
            "sites",
            (0..4)
                .map(|i| json!({"company": {"id": 1}, "name": format!("Branch {i}"), "city": "Austin"}))
                .collect(),
        )
        .unwrap();
    let cw = client_with_page_size(&sim, 2);

    let companies = cw.list_all(Entity::Organization).await.unwrap();
    assert_eq!(companies.len(), 3, "forward-only across pages of two");
    let sites = cw.list_all(Entity::Location).await.unwrap();
    assert_eq!(sites.len(), 3 + 4, "every site of every company");
    let branches = cw
        .find_by_key(
            Entity::Location,
            Some("1"),
            &Values::new().with(Field::Address1, "nowhere"),
        )
        .await
        .unwrap();
    assert!(branches.is_empty());
    // The fourth company type is on the second page of the lookup.
    let partner = cw
        .create(
            Entity::Organization,
            None,
            &Values::new()
                .with(Field::Name, "Paged Partner")
                .with(Field::Type, "Partner"),
        )
        .await
        .unwrap();
    assert_eq!(partner.get(Field::Type), Some("Partner"));

    // The simulator refuses forward-only on a lookup, with ConnectWise's message.
    let (status, body) = {
        let resp = reqwest::Client::new()
            .get(format!("{}/company/companies/types", sim.api_url()))
            .header("Authorization", basic_auth())
            .header("clientId", "test-client-id")
            .header("pagination-type", "forward-only")
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    };
    assert_eq!(status, 400);
    assert!(
        body.contains("doesn't support 'forward-only' pagination"),
        "{body}"
    );
    sim.shutdown().await;
}

/// CW-5: a derived identifier that is taken ("Acme Inc" / "Acme, Inc.") is retried with a
/// numbered suffix within 25 characters; a Short Name given by the user is never altered; no
/// duplicates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cw_5_identifier_collisions_get_a_suffix() {
    let sim = tenant().await;
    let cw = connectwise_client(&sim, fast_policy());
    let create = |name: &'static str| {
        let cw = &cw;
        async move {
            cw.create(
                Entity::Organization,
                None,
                &Values::new().with(Field::Name, name),
            )
            .await
        }
    };
    let first = create("Acme Inc").await.unwrap();
    assert_eq!(first.get(Field::ShortName), Some("AcmeInc"));
    let second = create("Acme, Inc.").await.unwrap();
    assert_eq!(second.get(Field::ShortName), Some("AcmeInc1"));
    let third = create("ACME INC").await.unwrap();
    assert_eq!(third.get(Field::ShortName), Some("ACMEINC2"));

    let long = "Abcdefghijklmnopqrstuvwxyz Holdings";
    let a = create(long).await.unwrap();
    assert_eq!(a.get(Field::ShortName), Some("Abcdefghijklmnopqrstuvwxy"));
    let b = create("Abcdefghijklmnopqrstuvwxyz Holdings, Inc.")
        .await
        .unwrap();
    assert_eq!(b.get(Field::ShortName), Some("Abcdefghijklmnopqrstuvwx1"));

    // A Short Name chosen by the user is theirs: a collision is reported, not renamed.
    let refused = cw
        .create(
            Entity::Organization,
            None,
            &Values::new()
                .with(Field::Name, "Other Acme")
                .with(Field::ShortName, "AcmeInc"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, Error::Rejected { status: 400, body_excerpt } if body_excerpt.contains("already in use")),
        "{refused:?}"
    );

    let companies = sim.sim.state("companies").unwrap();
    for name in [
        "Acme Inc",
        "Acme, Inc.",
        "ACME INC",
        long,
        "Abcdefghijklmnopqrstuvwxyz Holdings, Inc.",
    ] {
        assert_eq!(
            companies.iter().filter(|c| c["name"] == name).count(),
            1,
            "{name} created once"
        );
    }
    assert!(!companies.iter().any(|c| c["name"] == "Other Acme"));
    sim.shutdown().await;
}

/// X-1 (ConnectWise part): dates are written as ConnectWise date-times and come back equal to
/// the canonical date, so an unchanged date never looks like an edit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x_1_connectwise_dates_are_date_times_and_read_back_unchanged() {
    let sim = tenant().await;
    let cw = connectwise_client(&sim, fast_policy());
    let values = Values::new()
        .with(Field::Name, "DATE-SRV01")
        .with(Field::Type, "Server")
        .with(Field::InstalledAt, "2024-01-02")
        .with(Field::PurchasedAt, "2023-12-31")
        .with(Field::WarrantyExpiresAt, "2027-01-02");
    let config = cw
        .create(Entity::Configuration, Some("1"), &values)
        .await
        .unwrap();
    let stored_config = stored(&sim, "configurations", &config.id);
    assert_eq!(stored_config["installationDate"], "2024-01-02T00:00:00Z");
    assert_eq!(stored_config["purchaseDate"], "2023-12-31T00:00:00Z");
    assert_eq!(
        stored_config["warrantyExpirationDate"],
        "2027-01-02T00:00:00Z"
    );
    let read = cw
        .get(Entity::Configuration, &config.id)
        .await
        .unwrap()
        .unwrap();
    for f in [
        Field::InstalledAt,
        Field::PurchasedAt,
        Field::WarrantyExpiresAt,
    ] {
        assert_eq!(read.get(f), values.get(f), "{f} reads back as written");
    }
    let updated = cw
        .update(
            Entity::Configuration,
            &config.id,
            &change(Field::InstalledAt, "2024-02-03"),
        )
        .await
        .unwrap();
    assert_eq!(updated.get(Field::InstalledAt), Some("2024-02-03"));
    assert_eq!(
        stored(&sim, "configurations", &config.id)["installationDate"],
        "2024-02-03T00:00:00Z"
    );
    // The simulator refuses what is not a date-time.
    let (status, body) = raw(
        &sim,
        reqwest::Method::PATCH,
        &format!("company/configurations/{}", config.id),
        Some(json!([{"op": "replace", "path": "installationDate", "value": "next week"}])),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["errors"][0]["field"], "installationDate", "{body}");
    sim.shutdown().await;
}
