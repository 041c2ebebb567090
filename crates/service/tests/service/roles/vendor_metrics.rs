//! The vendor-request metrics on `/metrics`: every attempt a vendor client sends is counted by
//! vendor, endpoint (no record id) and status — the HTTP status, or `error` when no answer came —
//! and timed.
//!
//! The recorder is process-wide and the tests of this binary share the process, so a count is
//! compared with its value before (counters only grow).

use std::time::Duration;

use syncbridge_connectors::{HttpPolicy, ItGlueClient, ItGlueConfig};
use syncbridge_model::{Entity, TenantId};

use crate::common::Harness;

/// The value of the series `name{labels}` in the Prometheus text, 0 when absent.
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn vendor_requests_are_counted_by_vendor_endpoint_and_status() {
    let h = Harness::start().await;
    let read_404 = r#"syncbridge_vendor_requests_total{vendor="connectwise",endpoint="company/companies",status="404"}"#;
    let refused = r#"syncbridge_vendor_requests_total{vendor="itglue",endpoint="organizations",status="error"}"#;
    let read_404_seconds = r#"syncbridge_vendor_request_duration_seconds_count{vendor="connectwise",endpoint="company/companies"}"#;
    let before = h.get("/metrics").await.1;

    // A read of a record that does not exist, through the tenant's client as the service builds
    // it (tenant `acme` is on the harness's ConnectWise simulator): one 404, not retried.
    let acme = &h.config.tenants[&TenantId::new("acme").expect("tenant id")];
    let psa = syncbridge::vendors::clients::psa(acme, None).expect("ConnectWise client");
    let missing = psa.get(Entity::Organization, "987654").await;
    assert!(matches!(missing, Ok(None)), "{missing:?}");
    assert_eq!(
        h.cw.requests()
            .count("GET", "/v4_6_release/apis/3.0/company/companies/{id}"),
        1
    );

    // Nothing listens on port 9: no answer, one attempt.
    let nobody = ItGlueClient::new(ItGlueConfig {
        http: HttpPolicy {
            max_attempts: 1,
            connect_timeout: Duration::from_secs(2),
            ..HttpPolicy::default()
        },
        ..ItGlueConfig::new("http://127.0.0.1:9", "itg-key")
    })
    .expect("IT Glue client");
    assert!(nobody.get(Entity::Organization, "1").await.is_err());

    let after = h.get("/metrics").await.1;
    assert!(
        value(&after, read_404) > value(&before, read_404),
        "{read_404} in\n{after}"
    );
    assert!(value(&after, refused) > value(&before, refused), "{after}");
    assert!(
        value(&after, read_404_seconds) > value(&before, read_404_seconds),
        "{after}"
    );
    assert!(
        after.contains("# HELP syncbridge_vendor_requests_total"),
        "described"
    );
    assert!(
        !after.contains("987654"),
        "no record id in a label: {after}"
    );
}
