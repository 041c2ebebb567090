//! The IT Glue findings of the vendor audit (`vendor-fidelity-audit.md` §1, ITG-1…ITG-4), one test
//! named after each, against the IT Glue simulator as the audit's sources describe the vendor:
//! `filter[updated_at]` only on organizations (ignored elsewhere), date ranges of at most a week,
//! phones typed by `label-type`, locations' region and country written by id only. The `sim_`
//! tests pin the simulator's side of each finding with raw requests.

use std::collections::BTreeSet;

use serde_json::{json, Value};
use syncbridge_connectors::{Error, ItGlueClient};
use syncbridge_model::Changes;
use syncbridge_model::{Entity, Field, Record, UnixMillis, Values};
use syncbridge_sim::admin::AdminOps;
use syncbridge_sim::clock::{format_millis, SimClock};
use syncbridge_sim::itglue::{ItGlue, ItGlueConfig as SimItGlueConfig};

use crate::common::*;

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

fn wall_clock() -> UnixMillis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as UnixMillis)
        .unwrap()
}

/// Every record the change listing reports for `entity` since `since`, drained page by page the
/// way the IT Glue poller's feed (`service/src/feeds.rs`) drains it.
async fn changed_since(itg: &ItGlueClient, entity: Entity, since: UnixMillis) -> Vec<Record> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = itg
            .list_modified_since_page(entity, since, cursor.as_ref())
            .await
            .unwrap_or_else(|e| panic!("{entity} changes since {since}: {e}"));
        out.extend(page.records);
        match page.next {
            Some(c) => cursor = Some(c),
            None => return out,
        }
    }
}

fn ids(records: &[Record]) -> BTreeSet<String> {
    records.iter().map(|r| r.id.clone()).collect()
}

/// An organization and a configuration type, stamped long ago, for child records to hang on.
fn seed_parent(sim: &ItGlue) {
    let old = format_millis(wall_clock() - 30 * DAY);
    sim.sim
        .seed(
            "organizations",
            vec![json!({"id": 1, "name": "Acme", "updated-at": old, "created-at": old})],
        )
        .unwrap();
    sim.sim
        .seed(
            "configuration_types",
            vec![json!({"id": 1, "name": "Server"})],
        )
        .unwrap();
}

/// `n` records of `collection` (ids from `first`) stamped `updated_at`.
fn seed_stamped(sim: &ItGlue, collection: &str, first: u64, n: u64, updated_at: UnixMillis) {
    let at = format_millis(updated_at);
    let records = (first..first + n)
        .map(|id| {
            let mut r = json!({"id": id, "created-at": at, "updated-at": at});
            if collection != "organizations" {
                r["organization-id"] = json!(1);
            }
            match collection {
                "configurations" => {
                    r["name"] = json!(format!("SRV-{id}"));
                    r["configuration-type-id"] = json!(1);
                }
                "contacts" => {
                    r["first-name"] = json!("Ada");
                    r["last-name"] = json!(format!("L{id}"));
                }
                "locations" => r["name"] = json!(format!("Branch {id}")),
                _ => r["name"] = json!(format!("Org {id}")),
            }
            r
        })
        .collect();
    sim.sim.seed(collection, records).unwrap();
}

async fn get_json(sim: &ItGlue, path_and_query: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .get(format!("{}{path_and_query}", sim.base_url()))
        .header("x-api-key", "itg-test-key")
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn send_json(sim: &ItGlue, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .request(method, format!("{}{path}", sim.base_url()))
        .header("x-api-key", "itg-test-key")
        .header("content-type", "application/vnd.api+json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn total_count(doc: &Value) -> u64 {
    doc.pointer("/meta/total-count")
        .and_then(Value::as_u64)
        .unwrap()
}

/// ITG-1: the change listing of configurations, contacts and locations holds only the records
/// updated at or after the cursor (a record stamped exactly at the cursor included), although
/// IT Glue ignores `filter[updated_at]` on those collections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn itg_1_configurations_contacts_and_locations_list_only_changes_since_the_cursor() {
    let sim = itglue_sim().await;
    seed_parent(&sim);
    let now = wall_clock();
    let since = now - HOUR;
    for coll in ["configurations", "contacts", "locations"] {
        seed_stamped(&sim, coll, 1, 40, now - 3 * HOUR);
        seed_stamped(&sim, coll, 100, 2, since);
        seed_stamped(&sim, coll, 200, 3, now - 10 * 60_000);
    }
    let mut config = syncbridge_connectors::ItGlueConfig::new(sim.base_url(), "itg-test-key");
    config.http = fast_policy();
    // Small pages, so the walk crosses page boundaries.
    config.page_size = 8;
    let itg = ItGlueClient::new(config).unwrap();
    let want: BTreeSet<String> = ["100", "101", "200", "201", "202"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    for entity in [Entity::Configuration, Entity::Contact, Entity::Location] {
        let changed = changed_since(&itg, entity, since).await;
        assert_eq!(
            ids(&changed),
            want,
            "{entity}: only the records since the cursor"
        );
        assert_eq!(changed.len(), want.len(), "{entity}: each record once");
    }
}

/// ITG-1 acceptance: one poll cycle of an unchanged tenant with 10,000 configurations costs a
/// request or so per entity, not one per 1,000 records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn itg_1_an_unchanged_poll_of_10000_configurations_costs_a_few_requests() {
    let sim = itglue_sim().await;
    seed_parent(&sim);
    let seeded_at = wall_clock() - 2 * HOUR;
    seed_stamped(&sim, "configurations", 1, 10_000, seeded_at);
    seed_stamped(&sim, "contacts", 1, 500, seeded_at);
    seed_stamped(&sim, "locations", 1, 200, seeded_at);
    let itg = itglue_client(&sim, fast_policy());
    // The cursor after the seeding: nothing changed since.
    let cursor = seeded_at + 1;
    let before = itg.stats().requests;
    let mut per_entity = Vec::new();
    for entity in Entity::ALL {
        let start = itg.stats().requests;
        let changed = changed_since(&itg, entity, cursor).await;
        assert!(changed.is_empty(), "{entity}: nothing changed: {changed:?}");
        per_entity.push((entity, itg.stats().requests - start));
    }
    let total = itg.stats().requests - before;
    println!(
        "IT Glue poll cycle of an unchanged tenant (10,000 configurations): {total} requests \
         ({per_entity:?})"
    );
    for (entity, requests) in &per_entity {
        assert!(
            *requests <= 3,
            "{entity}: {requests} requests for an unchanged poll"
        );
    }
    assert!(total <= 12, "{total} requests for one poll cycle");
}

/// ITG-2: an organization poll whose cursor is more than a week old (a tenant without an
/// organization change for over a week) is not refused and lists what changed since.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn itg_2_an_organization_poll_with_a_cursor_over_a_week_old_is_not_refused() {
    let sim = itglue_sim().await;
    let now = wall_clock();
    seed_stamped(&sim, "organizations", 1, 3, now - 9 * DAY);
    seed_stamped(&sim, "organizations", 10, 2, now - 8 * DAY);
    seed_stamped(&sim, "organizations", 20, 1, now - HOUR);
    let itg = itglue_client(&sim, fast_policy());
    let changed = changed_since(&itg, Entity::Organization, now - 8 * DAY - HOUR).await;
    assert_eq!(
        ids(&changed),
        ["10", "11", "20"].into_iter().map(str::to_owned).collect()
    );
}

/// ITG-2: within the week, organizations still use `filter[updated_at]`; and when IT Glue's clock
/// runs ahead so that it refuses the range, the poll falls back to the walk instead of failing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn itg_2_organizations_within_the_week_and_a_refused_range_both_list_the_changes() {
    let sim = itglue_sim().await;
    let now = wall_clock();
    seed_stamped(&sim, "organizations", 1, 5, now - 3 * DAY);
    seed_stamped(&sim, "organizations", 10, 2, now - HOUR);
    let itg = itglue_client(&sim, fast_policy());
    let recent = changed_since(&itg, Entity::Organization, now - 2 * DAY).await;
    assert_eq!(
        ids(&recent),
        ["10", "11"].into_iter().map(str::to_owned).collect()
    );

    // IT Glue two days ahead of us: a six-day-old cursor is eight days old there.
    let ahead = ItGlue::start(SimItGlueConfig {
        rate_limit: None,
        clock: SimClock::starting_at(now + 2 * DAY),
        ..SimItGlueConfig::default()
    })
    .await
    .unwrap();
    seed_stamped(&ahead, "organizations", 1, 5, now - 7 * DAY);
    seed_stamped(&ahead, "organizations", 10, 2, now - HOUR);
    let since = now - 6 * DAY;
    let (status, _) = get_json(
        &ahead,
        &format!(
            "/organizations?filter[updated_at]={},%20*",
            format_millis(since)
        ),
    )
    .await;
    assert_eq!(status, 422, "the simulator refuses the range");
    let itg = itglue_client(&ahead, fast_policy());
    let changed = changed_since(&itg, Entity::Organization, since).await;
    assert_eq!(
        ids(&changed),
        ["10", "11"].into_iter().map(str::to_owned).collect()
    );
}

/// ITG-3: a fax is written with `label-type: "fax"`; phones are read by their type (fax) and
/// their free-text label ("Cell" is a mobile).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn itg_3_a_fax_is_written_and_read_by_label_type_and_a_cell_label_is_a_mobile() {
    let sim = itglue_sim().await;
    seed_parent(&sim);
    sim.sim
        .seed(
            "contacts",
            vec![json!({"id": 7, "organization-id": 1, "first-name": "Ada", "last-name": "King",
                "contact-phones": [
                    {"value": "+1 555 0101", "primary": true, "label-name": "Cell", "label-type": "phone"},
                    {"value": "+1 555 0102", "primary": false, "label-name": "Main", "label-type": "fax"},
                    {"value": "+1 555 0103", "primary": false, "label-name": "Office", "label-type": "phone"},
                ]})],
        )
        .unwrap();
    let itg = itglue_client(&sim, fast_policy());
    let read = itg.get(Entity::Contact, "7").await.unwrap().unwrap();
    assert_eq!(
        read.get(Field::Mobile),
        Some("+1 555 0101"),
        "Cell is a mobile"
    );
    assert_eq!(read.get(Field::Fax), Some("+1 555 0102"), "label-type fax");
    assert_eq!(read.get(Field::Phone), Some("+1 555 0103"));

    let values = Values::new()
        .with(Field::FirstName, "Grace")
        .with(Field::LastName, "Hopper")
        .with(Field::Phone, "+1 555 0200")
        .with(Field::Mobile, "+1 555 0201")
        .with(Field::Fax, "+1 555 0202");
    let made = itg
        .create(Entity::Contact, Some("1"), &values)
        .await
        .unwrap();
    assert_eq!(made.get(Field::Fax), Some("+1 555 0202"));
    let stored = sim.sim.state("contacts").unwrap();
    let phones = stored
        .iter()
        .find(|r| r["id"].as_u64().map(|id| id.to_string()) == Some(made.id.clone()))
        .and_then(|r| r["contact-phones"].as_array().cloned())
        .expect("the created contact's phones");
    let fax = phones
        .iter()
        .find(|p| p["value"] == "+1 555 0202")
        .expect("the fax entry");
    assert_eq!(fax["label-type"], "fax", "{phones:?}");

    let mut changes = Changes::new();
    changes.insert(Field::Fax, Some("+1 555 0299".into()));
    let updated = itg
        .update(Entity::Contact, &made.id, &changes)
        .await
        .unwrap();
    assert_eq!(updated.get(Field::Fax), Some("+1 555 0299"));
    assert_eq!(updated.get(Field::Phone), Some("+1 555 0200"));
    assert_eq!(updated.get(Field::Mobile), Some("+1 555 0201"));
}

/// ITG-4: a location's region and country are written by id; a region IT Glue does not list is a
/// typed `UnknownLookup` before anything is written, not an attribute IT Glue silently drops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn itg_4_a_location_region_is_written_by_id_and_an_unknown_region_is_an_error() {
    let sim = itglue_sim().await;
    seed_parent(&sim);
    sim.sim
        .seed("countries", vec![json!({"id": 1, "name": "Canada"})])
        .unwrap();
    sim.sim
        .seed(
            "regions",
            vec![json!({"id": 1, "name": "ON", "country-id": 1})],
        )
        .unwrap();
    let itg = itglue_client(&sim, fast_policy());
    let values = Values::new()
        .with(Field::Name, "Head Office")
        .with(Field::City, "Toronto")
        .with(Field::Region, "ON")
        .with(Field::Country, "Canada");
    let made = itg
        .create(Entity::Location, Some("1"), &values)
        .await
        .unwrap();
    assert_eq!(made.get(Field::Region), Some("ON"));
    assert_eq!(made.get(Field::Country), Some("Canada"));

    let (writes_before, _) = writes(sim.sim.core(), "locations");
    let mut changes = Changes::new();
    changes.insert(Field::Region, Some("Narnia".into()));
    let err = itg
        .update(Entity::Location, &made.id, &changes)
        .await
        .expect_err("a region IT Glue does not list cannot be written");
    match &err {
        Error::UnknownLookup { kind, name } => {
            assert!(kind.contains("region"), "{kind}");
            assert_eq!(name, "Narnia");
        }
        other => panic!("expected UnknownLookup, got {other:?}"),
    }
    assert!(!err.is_transient());
    assert_eq!(writes(sim.sim.core(), "locations").0, writes_before);
    let still = itg.get(Entity::Location, &made.id).await.unwrap().unwrap();
    assert_eq!(still.get(Field::Region), Some("ON"));
}

/// The simulator's side of ITG-1: `filter[updated_at]` is ignored on configurations, contacts
/// and locations (every record listed) and honoured on organizations; documented filters work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_ignores_filter_updated_at_outside_organizations() {
    let sim = itglue_sim().await;
    seed_parent(&sim);
    let now = wall_clock();
    for coll in ["configurations", "contacts", "locations"] {
        seed_stamped(&sim, coll, 1, 4, now - 3 * DAY);
        seed_stamped(&sim, coll, 10, 1, now - HOUR);
    }
    let range = format!("{},%20*", format_millis(now - 2 * HOUR));
    for coll in ["configurations", "contacts", "locations"] {
        let (status, doc) = get_json(&sim, &format!("/{coll}?filter[updated_at]={range}")).await;
        assert_eq!(status, 200);
        assert_eq!(
            total_count(&doc),
            5,
            "{coll}: the unknown filter is ignored"
        );
        let (_, doc) = get_json(&sim, &format!("/{coll}?filter[id]=10&sort=-updated_at")).await;
        assert_eq!(total_count(&doc), 1, "{coll}: filter[id] is documented");
    }
    let (_, doc) = get_json(&sim, "/configurations?filter[name]=SRV-10").await;
    assert_eq!(total_count(&doc), 1);
    let (_, doc) = get_json(&sim, "/contacts?filter[last_name]=L10&filter[bogus]=x").await;
    assert_eq!(total_count(&doc), 1);
    let (_, doc) = get_json(&sim, "/organizations?filter[organization_id]=7").await;
    assert_eq!(total_count(&doc), 1, "not an organization filter: ignored");
    let (status, doc) = get_json(&sim, &format!("/organizations?filter[updated_at]={range}")).await;
    assert_eq!(status, 200);
    assert_eq!(total_count(&doc), 0, "organizations honour the filter");
    let (_, doc) = get_json(&sim, "/locations?sort=-updated_at&page[size]=1").await;
    assert_eq!(doc["data"][0]["id"], "10", "newest first");
}

/// The simulator's side of ITG-2: a date range over a week, or one starting with a wildcard, is
/// refused with IT Glue's message; an open end counts as now (the stricter reading).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_refuses_date_ranges_over_a_week() {
    let sim = itglue_sim().await;
    let now = wall_clock();
    let refused =
        "date range filter cannot be longer than a week, and cannot start with a wildcard";
    let cases = [
        (format!("{},%20*", format_millis(now - 8 * DAY)), 422),
        (format!("*,{}", format_millis(now)), 422),
        (
            format!(
                "{},{}",
                format_millis(now - 20 * DAY),
                format_millis(now - 12 * DAY)
            ),
            422,
        ),
        (format!("{},%20*", format_millis(now - 6 * DAY)), 200),
        (
            format!(
                "{},{}",
                format_millis(now - 20 * DAY),
                format_millis(now - 14 * DAY)
            ),
            200,
        ),
    ];
    for (range, want) in cases {
        for filter in ["updated_at", "created_at"] {
            let (status, doc) =
                get_json(&sim, &format!("/organizations?filter[{filter}]={range}")).await;
            assert_eq!(status, want, "{filter}={range}: {doc}");
            if want == 422 {
                assert_eq!(doc["errors"][0]["detail"], refused);
            }
        }
    }
}

/// The simulator's side of ITG-3 and ITG-4: phone label types are `phone` or `fax` (default
/// `phone`), a label name is required; `region-name` / `country-name` in a write are ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_validates_phone_label_types_and_ignores_joined_names_in_writes() {
    let sim = itglue_sim().await;
    seed_parent(&sim);
    let contact = |phones: Value| {
        json!({"data": {"type": "contacts", "attributes": {
            "organization_id": 1, "first_name": "Ada", "contact_phones": phones}}})
    };
    let post = reqwest::Method::POST;
    let (status, doc) = send_json(
        &sim,
        post.clone(),
        "/contacts",
        contact(json!([{"value": "1", "label_name": "Work", "label_type": "pager"}])),
    )
    .await;
    assert_eq!(status, 422, "{doc}");
    let (status, doc) = send_json(
        &sim,
        post.clone(),
        "/contacts",
        contact(json!([{"value": "1", "label_type": "fax"}])),
    )
    .await;
    assert_eq!(status, 422, "{doc}");
    let (status, doc) = send_json(
        &sim,
        post.clone(),
        "/contacts",
        contact(json!([{"value": "1", "label_name": "Home"}])),
    )
    .await;
    assert_eq!(status, 201, "{doc}");
    assert_eq!(
        doc["data"]["attributes"]["contact-phones"][0]["label-type"],
        "phone"
    );

    sim.sim
        .seed("regions", vec![json!({"id": 3, "name": "ON"})])
        .unwrap();
    let (status, doc) = send_json(
        &sim,
        post,
        "/locations",
        json!({"data": {"type": "locations", "attributes": {
            "organization_id": 1, "name": "Branch", "region_name": "ON", "country-name": "Canada"}}}),
    )
    .await;
    assert_eq!(status, 201, "{doc}");
    assert_eq!(doc["data"]["attributes"]["region-name"], Value::Null);
    assert_eq!(doc["data"]["attributes"]["country-name"], Value::Null);
    let id = doc["data"]["id"].as_str().unwrap().to_owned();
    let (status, doc) = send_json(
        &sim,
        reqwest::Method::PATCH,
        &format!("/locations/{id}"),
        json!({"data": {"type": "locations", "attributes": {"region_id": 3}}}),
    )
    .await;
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["data"]["attributes"]["region-name"], "ON");
}

/// A record deleted while the newest-first walk pages (the rows after it shift up by one) does not
/// hide another changed record: the walk sees the collection shrink and starts over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_deleted_during_the_walk_does_not_hide_another_change() {
    let sim = itglue_sim().await;
    seed_parent(&sim);
    let now = wall_clock();
    for (i, id) in (1..=5).enumerate() {
        seed_stamped(&sim, "configurations", id, 1, now - (i as i64 + 1) * 60_000);
    }
    let mut config = syncbridge_connectors::ItGlueConfig::new(sim.base_url(), "itg-test-key");
    config.http = fast_policy();
    // One-row pages first: the deletion lands between two of them.
    config.page_size = 8;
    let itg = ItGlueClient::new(config).unwrap();
    let since = now - HOUR;
    let first = itg
        .list_modified_since_page(Entity::Configuration, since, None)
        .await
        .unwrap();
    assert_eq!(ids(&first.records), BTreeSet::from(["1".to_owned()]));
    sim.sim.delete("configurations", "1", "someone").unwrap();
    let mut seen = ids(&first.records);
    let mut cursor = first.next;
    while let Some(c) = cursor {
        let page = itg
            .list_modified_since_page(Entity::Configuration, since, Some(&c))
            .await
            .unwrap();
        seen.extend(ids(&page.records));
        cursor = page.next;
    }
    assert_eq!(
        seen,
        ["1", "2", "3", "4", "5"]
            .into_iter()
            .map(str::to_owned)
            .collect()
    );
}

/// X-1, IT Glue's part: configuration dates are written as IT Glue keeps them (`YYYY-MM-DD`), the
/// simulator stores and returns the calendar date (also of a date-time a person sends), and a
/// PSA's date-time for the same day reads as no change, so nothing is written back and forth.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x_1_itglue_dates_round_trip_as_calendar_dates_without_a_write_loop() {
    let sim = itglue_sim().await;
    seed_parent(&sim);
    let itg = itglue_client(&sim, fast_policy());
    let values = Values::new()
        .with(Field::Name, "SRV-DATES")
        .with(Field::Type, "Server")
        .with(Field::InstalledAt, "2024-01-02T00:00:00Z")
        .with(Field::WarrantyExpiresAt, "2027-06-30T00:00:00");
    let made = itg
        .create(Entity::Configuration, Some("1"), &values)
        .await
        .unwrap();
    assert_eq!(made.get(Field::InstalledAt), Some("2024-01-02"));
    assert_eq!(made.get(Field::WarrantyExpiresAt), Some("2027-06-30"));
    let stored = sim.sim.state("configurations").unwrap();
    let raw = stored
        .iter()
        .find(|r| r["name"] == "SRV-DATES")
        .expect("stored");
    assert_eq!(raw["installed-at"], "2024-01-02");
    // The PSA's date-times for the same days are the same values: no write to make.
    let from_psa = Values::new()
        .with(Field::InstalledAt, "2024-01-02T00:00:00")
        .with(Field::WarrantyExpiresAt, "2027-06-30T00:00:00Z");
    for field in [Field::InstalledAt, Field::WarrantyExpiresAt] {
        assert_eq!(made.get(field), from_psa.get(field), "{field}");
    }

    let (status, doc) = send_json(
        &sim,
        reqwest::Method::PATCH,
        &format!("/configurations/{}", made.id),
        json!({"data": {"type": "configurations", "attributes": {
            "purchased_at": "2023-03-04T10:00:00Z"}}}),
    )
    .await;
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["data"]["attributes"]["purchased-at"], "2023-03-04");
    let (status, _) = send_json(
        &sim,
        reqwest::Method::PATCH,
        &format!("/configurations/{}", made.id),
        json!({"data": {"type": "configurations", "attributes": {"purchased_at": "next week"}}}),
    )
    .await;
    assert_eq!(status, 422);
}
