//! The request tally over real HTTP: every vendor-API request is counted by method, route and the
//! status the client got (injected faults, 429s and auth refusals included), admin calls are not,
//! and `DELETE /_admin/requests` starts the count afresh.

use std::time::Duration;

use serde_json::{json, Value};
use syncbridge_sim::autotask::{Autotask, AutotaskConfig};
use syncbridge_sim::itglue::{ItGlue, ItGlueConfig};
use syncbridge_sim::request_tally::CLIENT_CLOSED;

use crate::common::client;

const KEY: &str = "itg-test-key";
const ORG: &str = "/organizations/{id}";

/// An IT Glue simulator holding organization 1.
async fn itglue_with_an_organization() -> ItGlue {
    let itg = ItGlue::start(ItGlueConfig::default()).await.expect("start");
    let seeded = client()
        .post(format!("{}/_admin/seed/organizations", itg.base_url()))
        .json(&json!([{"id": 1, "name": "Acme"}]))
        .send()
        .await
        .expect("seed");
    assert_eq!(seeded.status(), 200);
    itg
}

async fn get(itg: &ItGlue, path: &str) -> u16 {
    client()
        .get(format!("{}{path}", itg.base_url()))
        .header("x-api-key", KEY)
        .send()
        .await
        .expect("get")
        .status()
        .as_u16()
}

async fn rename(itg: &ItGlue, path: &str, name: &str) -> u16 {
    let data = json!({"data": {"type": "organizations", "attributes": {"name": name}}});
    client()
        .patch(format!("{}{path}", itg.base_url()))
        .header("x-api-key", KEY)
        .header("content-type", "application/vnd.api+json")
        .body(data.to_string())
        .send()
        .await
        .expect("patch")
        .status()
        .as_u16()
}

async fn admin_requests(itg: &ItGlue) -> Value {
    client()
        .get(format!("{}/_admin/requests", itg.base_url()))
        .send()
        .await
        .expect("admin requests")
        .json()
        .await
        .expect("json")
}

async fn set_faults(itg: &ItGlue, plan: Value) {
    let put = client()
        .put(format!("{}/_admin/faults", itg.base_url()))
        .json(&plan)
        .send()
        .await
        .expect("put faults");
    assert_eq!(put.status(), 204);
}

#[tokio::test]
async fn reads_and_patches_are_counted_by_route_and_status_and_admin_calls_are_not() {
    let itg = itglue_with_an_organization().await;
    assert_eq!(get(&itg, "/organizations/1").await, 200);
    assert_eq!(get(&itg, "/organizations/2").await, 404);
    assert_eq!(rename(&itg, "/organizations/1", "Acme Ltd").await, 200);
    assert_eq!(get(&itg, "/organizations?page[size]=5").await, 200);

    let tally = itg.requests();
    assert_eq!(tally.count_with_status("GET", ORG, 200), 1);
    assert_eq!(tally.count_with_status("GET", ORG, 404), 1);
    assert_eq!(tally.count_with_status("PATCH", ORG, 200), 1);
    assert_eq!(
        tally.count("GET", "/organizations"),
        1,
        "the query is no part of the route"
    );
    assert_eq!((tally.total(), tally.reads(), tally.writes()), (4, 3, 1));

    // The seed, the fault plan and the reads of the tally itself are admin calls.
    let answer = admin_requests(&itg).await;
    assert_eq!(answer["total"], 4, "{answer}");
    assert_eq!(
        (answer["reads"].clone(), answer["writes"].clone()),
        (json!(3), json!(1))
    );
    let counts = answer["counts"].as_array().expect("counts");
    assert!(
        counts.contains(&json!({"method": "PATCH", "route": ORG, "status": 200, "count": 1})),
        "{answer}"
    );
    assert_eq!(admin_requests(&itg).await["total"], 4);
    itg.shutdown().await;
}

#[tokio::test]
async fn injected_faults_and_429s_are_counted_with_the_status_the_client_got() {
    let itg = itglue_with_an_organization().await;
    set_faults(
        &itg,
        json!({"rules": [
            {"method": "GET", "path_contains": "/organizations/", "times": 1,
             "fault": {"kind": "status", "status": 429, "retry_after_secs": 1}},
            {"method": "PATCH", "times": 1, "fault": {"kind": "status", "status": 503}}
        ]}),
    )
    .await;
    assert_eq!(get(&itg, "/organizations/1").await, 429);
    assert_eq!(get(&itg, "/organizations/1").await, 200);
    assert_eq!(rename(&itg, "/organizations/1", "Acme Ltd").await, 503);

    // The simulator's own rate limit answers 429 too.
    let limited = client()
        .put(format!("{}/_admin/rate-limit", itg.base_url()))
        .json(&json!({"limit": 1, "window_secs": 3600, "kind": "fixed"}))
        .send()
        .await
        .expect("rate limit");
    assert_eq!(limited.status(), 204);
    assert_eq!(get(&itg, "/organizations/1").await, 200);
    assert_eq!(get(&itg, "/organizations/1").await, 429);

    let tally = itg.requests();
    assert_eq!(tally.count_with_status("GET", ORG, 429), 2);
    assert_eq!(tally.count_with_status("GET", ORG, 200), 2);
    assert_eq!(tally.count_with_status("PATCH", ORG, 503), 1);
    assert_eq!(tally.total(), 5);
    itg.shutdown().await;
}

#[tokio::test]
async fn a_request_its_client_gave_up_on_is_counted_as_closed() {
    let itg = itglue_with_an_organization().await;
    set_faults(
        &itg,
        json!({"rules": [{"method": "GET", "times": 1,
            "fault": {"kind": "timeout", "hang_ms": 60000}}]}),
    )
    .await;
    let hung = client()
        .get(format!("{}/organizations/1", itg.base_url()))
        .header("x-api-key", KEY)
        .timeout(Duration::from_millis(200))
        .send()
        .await;
    assert!(hung.is_err_and(|e| e.is_timeout()));
    // The server notices the closed connection on its own time.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while itg.requests().total() == 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        itg.requests().count_with_status("GET", ORG, CLIENT_CLOSED),
        1
    );
    itg.shutdown().await;
}

#[tokio::test]
async fn delete_clears_the_tally() {
    let itg = itglue_with_an_organization().await;
    assert_eq!(get(&itg, "/organizations/1").await, 200);
    assert_eq!(itg.requests().total(), 1);
    let cleared = client()
        .delete(format!("{}/_admin/requests", itg.base_url()))
        .send()
        .await
        .expect("clear");
    assert_eq!(cleared.status(), 204);
    assert_eq!(itg.requests().total(), 0);
    assert_eq!(
        admin_requests(&itg).await,
        json!({"total": 0, "reads": 0, "writes": 0, "counts": []})
    );
    assert_eq!(get(&itg, "/organizations/1").await, 200);
    assert_eq!(itg.requests().count("GET", ORG), 1, "counts again");
    itg.shutdown().await;
}

#[tokio::test]
async fn autotask_counts_the_refusals_of_its_auth_too() {
    // Autotask's faults run inside its auth; the tally runs outside both.
    let at = Autotask::start(AutotaskConfig::default())
        .await
        .expect("start");
    let unauthenticated = client()
        .get(format!(
            "{}{}/Companies/1",
            at.base_url(),
            syncbridge_sim::autotask::API
        ))
        .send()
        .await
        .expect("get");
    assert_eq!(unauthenticated.status(), 401);
    let route = format!("{}/Companies/{{id}}", syncbridge_sim::autotask::API);
    assert_eq!(at.requests().count_with_status("GET", &route, 401), 1);
    at.shutdown().await;
}
