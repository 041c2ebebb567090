//! Audit findings AT-1…AT-5 (vendor-fidelity-audit.md §3): the Autotask connector against a
//! simulator that answers as Autotask does (required fields per entity metadata, validation
//! failures as 500 with a message, webhook FieldIDs from `…WebhookFields`, no `nextPageUrl` for
//! `MaxRecords` queries, unstamped new rows and late stamps, zone-less date-times).

use crate::common;

use std::time::Duration;

use serde_json::{json, Value};
use syncbridge_connectors::Vendor;
use syncbridge_connectors::{ApiSecret, AutotaskWebhookSpec, Error};
use syncbridge_model::Changes;
use syncbridge_model::{Entity, Field, Values};
use syncbridge_sim::admin::AdminOps;
use syncbridge_sim::autotask::{entity_def, webhook_field_id_of, Autotask};
use syncbridge_sim::{Fault, FaultPlan, FaultRule};

use crate::common::{autotask_client, autotask_sim, fast_policy};

/// Products a tenant has: one maker/model and the generic product for items without either.
fn seed_products(sim: &Autotask) {
    sim.sim
        .seed(
            "Products",
            vec![
                json!({"id": 1, "name": "Dell R650", "manufacturerName": "Dell",
                    "manufacturerProductName": "PowerEdge R650", "productBillingCodeID": 1,
                    "isSerialized": true, "isActive": true}),
                json!({"id": 2, "name": "Generic Configuration Item", "productBillingCodeID": 1,
                    "isSerialized": false, "isActive": true}),
            ],
        )
        .expect("seed products");
}

fn seed_company(sim: &Autotask, id: u64, name: &str) {
    sim.sim
        .seed(
            "Companies",
            vec![
                json!({"id": id, "companyName": name, "companyType": 1, "isActive": true,
                "phone": "555-111-1111", "ownerResourceID": common::AT_RESOURCE}),
            ],
        )
        .expect("seed company");
}

fn values(pairs: &[(Field, &str)]) -> Values {
    let mut v = Values::new();
    for (f, s) in pairs {
        v.set(*f, Some((*s).to_owned()));
    }
    v
}

fn state_of(sim: &Autotask, collection: &str, id: &str) -> Value {
    sim.sim
        .state(collection)
        .expect("state")
        .into_iter()
        .find(|r| r["id"].as_u64().map(|n| n.to_string()).as_deref() == Some(id))
        .unwrap_or_else(|| panic!("{collection} {id} stored"))
}

#[tokio::test]
async fn at_1_creates_send_the_fields_autotask_requires() {
    let sim = autotask_sim().await;
    seed_products(&sim);
    let client = autotask_client(&sim, fast_policy());

    // An IT Glue organization has no phone; Autotask requires one.
    let org = client
        .create(
            Entity::Organization,
            None,
            &values(&[(Field::Name, "Acme"), (Field::Type, "Customer")]),
        )
        .await
        .expect("company created");
    let stored = state_of(&sim, "Companies", &org.id);
    assert_eq!(stored["phone"], "000-000-0000", "{stored}");
    assert_eq!(stored["isActive"], true, "{stored}");

    let contact = client
        .create(
            Entity::Contact,
            Some(&org.id),
            &values(&[(Field::FirstName, "Ann"), (Field::LastName, "Lee")]),
        )
        .await
        .expect("contact created");
    assert_eq!(state_of(&sim, "Contacts", &contact.id)["isActive"], 1);

    // Without manufacturer and model the item gets the tenant's generic product.
    let plain = client
        .create(
            Entity::Configuration,
            Some(&org.id),
            &values(&[(Field::Name, "fw-01")]),
        )
        .await
        .expect("configuration item created");
    let stored = state_of(&sim, "ConfigurationItems", &plain.id);
    assert_eq!(stored["productID"], 2, "{stored}");
    assert_eq!(stored["isActive"], true, "{stored}");
    assert_eq!(plain.get(Field::Manufacturer), None);

    let dell = client
        .create(
            Entity::Configuration,
            Some(&org.id),
            &values(&[
                (Field::Name, "srv-01"),
                (Field::Manufacturer, "Dell"),
                (Field::Model, "PowerEdge R650"),
            ]),
        )
        .await
        .expect("configuration item created");
    assert_eq!(
        state_of(&sim, "ConfigurationItems", &dell.id)["productID"],
        1
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn at_1_a_validation_500_is_rejected_at_once_and_an_outage_500_is_retried() {
    let sim = autotask_sim().await;
    seed_company(&sim, 1, "Acme");
    let client = autotask_client(&sim, fast_policy());

    // 99 is no companyType: Autotask answers 500 with a message naming the field.
    let mut changes = Changes::new();
    changes.insert(Field::Type, Some("99".into()));
    let before = client.stats();
    let err = client
        .update(Entity::Organization, "1", &changes)
        .await
        .expect_err("refused");
    match &err {
        Error::Rejected {
            status,
            body_excerpt,
        } => {
            assert_eq!(*status, 500);
            assert!(body_excerpt.contains("companyType"), "{body_excerpt}");
        }
        other => panic!("a validation 500 is a permanent refusal, not {other:?}"),
    }
    assert!(!err.is_transient());
    assert_eq!(client.stats().retries, before.retries, "not retried");
    assert_eq!(
        client.stats().server_errors - before.server_errors,
        1,
        "one attempt"
    );

    // A 500 without a message (an outage) is still transient and retried.
    sim.sim.core().faults.set(FaultPlan {
        seed: 1,
        rules: vec![FaultRule {
            method: Some("PATCH".into()),
            path_contains: Some("/Companies".into()),
            fault: Fault::Status {
                status: 500,
                retry_after_secs: None,
                message: None,
            },
            probability: 1.0,
            times: Some(2),
        }],
        ..FaultPlan::default()
    });
    let mut changes = Changes::new();
    changes.insert(Field::Name, Some("Acme Ltd".into()));
    let before = client.stats();
    let rec = client
        .update(Entity::Organization, "1", &changes)
        .await
        .expect("outage retried through");
    assert_eq!(rec.get(Field::Name), Some("Acme Ltd"));
    assert_eq!(client.stats().retries - before.retries, 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn at_2_webhook_fields_are_subscribed_by_the_ids_autotask_lists() {
    let sim = autotask_sim().await;
    let client = autotask_client(&sim, fast_policy());
    // Nothing listens there: registration only.
    let url = "http://127.0.0.1:9/webhooks/acme/autotask";
    let deactivation = "http://127.0.0.1:9/webhooks/acme/autotask/deactivated";
    let secret = ApiSecret::new("at-webhook-secret");
    client
        .ensure_webhooks(&AutotaskWebhookSpec {
            webhook_url: url,
            deactivation_url: deactivation,
            secret: &secret,
            exclude_resource_id: Some(common::AT_RESOURCE),
            rewrite_secret: false,
        })
        .await
        .expect("registered");
    let hooks: Value = reqwest::get(format!("{}/_admin/webhooks", sim.base_url()))
        .await
        .expect("admin")
        .json()
        .await
        .expect("json");
    let hooks = hooks.as_array().expect("array");
    assert_eq!(hooks.len(), 3, "{hooks:?}");
    for hook in hooks {
        assert_eq!(
            hook["isReady"], true,
            "a subscribed field makes it ready: {hook}"
        );
    }
    let company = hooks
        .iter()
        .find(|h| h["entity_type"] == "Company")
        .expect("company webhook");
    let def = entity_def("Companies").expect("entity");
    let want = webhook_field_id_of(def, "companyName").expect("webhook field");
    assert!(
        company["fields"]
            .as_array()
            .expect("fields")
            .iter()
            .any(|f| f["fieldID"] == want && f["isSubscribedField"] == true),
        "companyName subscribed by FieldID {want}: {company}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn at_3_listing_continues_while_pages_are_full() {
    let sim = autotask_sim().await;
    let companies: Vec<Value> = (1..=1201)
        .map(|i| {
            json!({"id": i, "companyName": format!("Company {i}"), "companyType": 1,
                "isActive": true, "phone": "555", "ownerResourceID": common::AT_RESOURCE})
        })
        .collect();
    sim.sim.seed("Companies", companies).expect("seed");
    let client = autotask_client(&sim, fast_policy());
    let all = client
        .list_all(Entity::Organization)
        .await
        .expect("listing");
    assert_eq!(all.len(), 1201, "no nextPageUrl for MaxRecords queries");
    sim.shutdown().await;
}

#[tokio::test]
async fn at_4_modified_since_sees_unstamped_new_rows_and_late_stamps() {
    let sim = autotask_sim().await;
    seed_company(&sim, 1, "Old");
    seed_company(&sim, 2, "Edited later");
    let client = autotask_client(&sim, fast_policy());
    // The seeded rows are old: well outside any overlap window.
    sim.sim.core().clock.advance(Duration::from_secs(3600));
    let since = sim.sim.core().clock.now_millis();

    // A person creates a row now: it has no modified stamp yet.
    let created: Value = reqwest::Client::new()
        .post(format!("{}/Companies", sim.api_url()))
        .header("ApiIntegrationCode", "TRACKING-ID")
        .header("UserName", "alice@example.com")
        .header("Secret", "alice-secret")
        .json(
            &json!({"companyName": "New", "companyType": 1, "phone": "555",
            "ownerResourceID": common::AT_RESOURCE}),
        )
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    let created_id = created["itemId"].to_string();
    assert_eq!(
        state_of(&sim, "Companies", &created_id)["lastTrackedModifiedDateTime"],
        Value::Null
    );
    // An edit made now is stamped before `since` (the stamp lands late).
    sim.sim
        .edit(
            "Companies",
            "2",
            "alice@example.com",
            serde_json::from_value(json!({"companyName": "Edited"})).expect("map"),
        )
        .expect("edit");

    let page = client
        .list_modified_since_page(Entity::Organization, since, None)
        .await
        .expect("poll");
    let ids: Vec<&str> = page.records.iter().map(|r| r.id.as_str()).collect();
    assert!(ids.contains(&created_id.as_str()), "new row: {ids:?}");
    assert!(ids.contains(&"2"), "late stamp: {ids:?}");
    assert!(!ids.contains(&"1"), "untouched row: {ids:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn at_5_date_times_are_zone_less_and_read_as_utc() {
    let sim = autotask_sim().await;
    seed_products(&sim);
    seed_company(&sim, 1, "Acme");
    let client = autotask_client(&sim, fast_policy());

    let stored = state_of(&sim, "Companies", "1");
    let stamp = stored["createDate"].as_str().expect("createDate");
    assert!(!stamp.ends_with('Z'), "zone-less: {stamp}");
    let org = client
        .get(Entity::Organization, "1")
        .await
        .expect("read")
        .expect("found");
    let utc = time::PrimitiveDateTime::parse(
        stamp,
        &time::format_description::well_known::Iso8601::DEFAULT,
    )
    .expect("date-time")
    .assume_utc();
    assert_eq!(
        org.created_at,
        (utc.unix_timestamp_nanos() / 1_000_000) as i64
    );

    // Filters carry zone-less values too (a zoned one is refused).
    client
        .list_modified_since_page(Entity::Organization, org.created_at, None)
        .await
        .expect("poll with a zone-less filter");

    // Dates are written as Autotask stores them and read back as the same date: no write loop.
    let ci = client
        .create(
            Entity::Configuration,
            Some("1"),
            &values(&[
                (Field::Name, "srv-01"),
                (Field::Manufacturer, "Dell"),
                (Field::Model, "PowerEdge R650"),
                (Field::InstalledAt, "2024-01-02"),
            ]),
        )
        .await
        .expect("created");
    let raw = state_of(&sim, "ConfigurationItems", &ci.id);
    assert_eq!(raw["installDate"], "2024-01-02T00:00:00");
    assert_eq!(ci.get(Field::InstalledAt), Some("2024-01-02"));
    let mut changes = Changes::new();
    changes.insert(Field::WarrantyExpiresAt, Some("2027-06-30".into()));
    let ci = client
        .update(Entity::Configuration, &ci.id, &changes)
        .await
        .expect("updated");
    assert_eq!(ci.get(Field::WarrantyExpiresAt), Some("2027-06-30"));
    assert_eq!(
        state_of(&sim, "ConfigurationItems", &ci.id)["warrantyExpirationDate"],
        "2027-06-30T00:00:00"
    );
    sim.shutdown().await;
}
