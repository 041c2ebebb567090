//! Standard Webhooks end to end, configured as a user would: the tenant's producer declares
//! `side = "psa"`, so a signed `organization.created` delivery naming a ConnectWise company goes
//! through the ingest, the bus and the worker like a ConnectWise callback would: the company
//! appears in IT Glue, and the decision is in the audit stream with its source.

use std::sync::Arc;
use std::time::Duration;

use crate::common::acme::{self, Running};
use crate::common::e2e::eventually;
use crate::common::{bus, connectwise_table, cw_site, sync_keys, STANDARD_SECRET};
use syncbridge::ingest::{Ingest, NatsSink};
use syncbridge::roles::workers::Loops;
use syncbridge_bus::AuditLog;
use syncbridge_connectors::Vendor;
use syncbridge_model::{Entity, Field, TenantId};
use syncbridge_webhooks::StandardWebhook;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standard_webhook_of_the_declared_side_is_synced_and_audited() {
    let (nats, conn) = bus().await;
    let itg_sim = acme::itglue_sim().await;
    let cw_sim = acme::connectwise_sim().await;
    let config = acme::config(
        &nats.url(),
        &sync_keys("connectwise", "Client"),
        itg_sim.base_url(),
        &format!(
            r#"
[ingest]
listen = "127.0.0.1:0"

{connectwise}
webhook_enabled = false

[tenants.acme.standard]
secret = "{STANDARD_SECRET}"
side = "psa"
"#,
            connectwise = connectwise_table(cw_site(&cw_sim)),
        ),
    );

    // The ingest, as `serve --role ingest` runs it.
    let sink = Arc::new(NatsSink::new(conn.clone(), config.nats.publish_timeout));
    let router = Ingest::new(&config, sink).unwrap().router();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ingest_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    // Workers only: no poller can find the company, so only the webhook can bring it.
    let running = Running::start(
        &conn,
        &config,
        Loops {
            worker: true,
            pollers: false,
        },
    );

    let cw = acme::connectwise_client(&cw_sim);
    let company = acme::create_client_company(&cw, "Standard Rockets").await;

    // The producer's delivery, signed as the Standard Webhooks spec says.
    let body = format!(
        r#"{{"type":"organization.created","timestamp":"2026-12-06T00:00:00Z","data":{{"id":"{}"}}}}"#,
        company.id
    );
    let now = crate::common::now_secs();
    let signature =
        StandardWebhook::sign(STANDARD_SECRET, "msg_rockets_1", now, body.as_bytes()).unwrap();
    let answer = reqwest::Client::new()
        .post(format!("{ingest_url}/webhooks/acme/standard"))
        .header("webhook-id", "msg_rockets_1")
        .header("webhook-timestamp", now.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 202, "{}", answer.text().await.unwrap());

    let itg = acme::itglue_client(&itg_sim);
    let org = eventually("the company reaches IT Glue", || async {
        let orgs = itg.list_all(Entity::Organization).await.ok()?;
        orgs.into_iter()
            .find(|o| o.get(Field::Name) == Some("Standard Rockets"))
    })
    .await;
    assert_eq!(org.get(Field::Type), Some("Client"));

    let audit = AuditLog::new(conn.clone(), Duration::from_secs(5));
    let tenant = TenantId::new("acme").unwrap();
    let entries = eventually("the decision is audited", || async {
        let found = audit
            .find(&tenant, Entity::Organization, 10, |e| {
                e["event"]["source"] == "standard-psa"
            })
            .await
            .ok()?;
        (!found.is_empty()).then_some(found)
    })
    .await;
    let entry = &entries[0];
    assert_eq!(entry["side"], "psa", "{entry}");
    assert_eq!(entry["record_id"], company.id.as_str(), "{entry}");
    assert_eq!(entry["written"], true, "{entry}");

    running.stop().await;
}

#[tokio::test]
async fn only_the_first_signatures_of_a_header_are_considered() {
    use crate::common::{now_secs, standard_body, Harness};
    use syncbridge_webhooks::MAX_SIGNATURES;

    let h = Harness::start().await;
    let body = standard_body();
    let now = now_secs();
    // A well-formed signature that matches nothing (32 zero bytes).
    let bogus = format!("v1,{}=", "A".repeat(43));
    let deliver = |id: &'static str, bogus_first: usize| {
        let valid = StandardWebhook::sign(STANDARD_SECRET, id, now, &body).unwrap();
        let mut entries = vec![bogus.clone(); bogus_first];
        entries.push(valid);
        let headers = vec![
            ("webhook-id", id.to_owned()),
            ("webhook-timestamp", now.to_string()),
            ("webhook-signature", entries.join(" ")),
        ];
        let h = &h;
        let body = &body;
        async move { h.post("/webhooks/acme/standard", &headers, body).await }
    };
    // The genuine signature as the last one considered: verified.
    let answer = deliver("msg_cap_inside", MAX_SIGNATURES - 1).await;
    assert_eq!(answer.status, 202, "{}", answer.text);
    // One entry further: never looked at, however genuine.
    let answer = deliver("msg_cap_outside", MAX_SIGNATURES).await;
    assert_eq!(answer.status, 401, "{}", answer.text);
    assert_eq!(h.events().await.len(), 1);
}
