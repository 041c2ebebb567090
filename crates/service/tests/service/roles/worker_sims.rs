//! The worker with the real connectors against the IT Glue and ConnectWise simulators: a
//! ConnectWise company appears in IT Glue (its type created there first), our own write comes
//! back with no write, and an IT Glue edit reaches ConnectWise (two-way).

use std::time::Duration;

use crate::common::acme;
use crate::common::bus;
use syncbridge::vendors::sides::{ItGlueSide, PsaSide};
use syncbridge_bus::{AuditLog, EventPublisher, LeaseStore, LinkStore, StateStore};
use syncbridge_connectors::Vendor;
use syncbridge_connectors::{
    ConnectWiseClient, ConnectWiseConfig, HttpPolicy, ItGlueClient, ItGlueConfig, PsaClient,
};
use syncbridge_engine::Changes;
use syncbridge_model::{
    ChangeAction, ChangeEvent, Entity, EventSource, Field, PsaKind, TenantId, TenantSettings,
};
use syncbridge_worker::{Outcome, Worker, WorkerStores};

fn policy() -> HttpPolicy {
    HttpPolicy {
        timeout: Duration::from_secs(3),
        connect_timeout: Duration::from_secs(1),
        max_attempts: 4,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(50),
        max_retry_after: Duration::from_secs(5),
        rate: None,
        shared: None,
        rate_per_endpoint: false,
        per_endpoint_concurrency: None,
        retry_after_divisor: 1.0,
        metrics_tenant: None,
    }
}

fn event(source: EventSource, id: &str) -> ChangeEvent {
    ChangeEvent {
        tenant: TenantId::new("acme").unwrap(),
        source,
        entity: Some(Entity::Organization),
        record_id: Some(id.to_owned()),
        action: ChangeAction::Upsert,
        received_at: 0,
        msg_id: None,
    }
}

fn now() -> i64 {
    syncbridge::runtime::clock::now_millis()
}

#[tokio::test]
async fn a_connectwise_company_syncs_to_the_itglue_simulator_and_back() {
    let (_nats, conn) = bus().await;
    let timeout = Duration::from_secs(5);
    let stores = WorkerStores {
        links: LinkStore::open(&conn, timeout).await.unwrap(),
        leases: LeaseStore::open(&conn, timeout).await.unwrap(),
        state: StateStore::open(&conn, timeout).await.unwrap(),
        audit: AuditLog::new(conn.clone(), timeout),
        events: EventPublisher::new(conn.clone(), timeout),
    };
    let itg_sim = acme::itglue_sim().await;
    // ConnectWise's vocabulary (company types, statuses) and one unrelated company.
    let cw_sim = acme::connectwise_sim().await;
    let itg = || {
        ItGlueClient::new(ItGlueConfig {
            http: policy(),
            ..acme::itglue_config(&itg_sim)
        })
        .unwrap()
    };
    let cw = || {
        ConnectWiseClient::new(ConnectWiseConfig {
            http: policy(),
            ..acme::connectwise_config(&cw_sim)
        })
        .unwrap()
    };

    // The watermark is taken at the first event; the company is created just before.
    let start = now();
    let company = acme::create_client_company(&PsaClient::ConnectWise(cw()), "Acme Rockets").await;

    let mut settings = TenantSettings::new(PsaKind::ConnectWise);
    settings.org_types.insert("Client".into());
    settings.org_statuses.insert("Active".into());
    settings.config_types.insert("Server".into());
    settings.config_statuses.insert("Active".into());
    settings.two_way = true;
    let worker = Worker {
        tenant: TenantId::new("acme").unwrap(),
        settings,
        psa: PsaSide::new(std::sync::Arc::new(PsaClient::ConnectWise(cw()))),
        itg: ItGlueSide::new(std::sync::Arc::new(itg())),
        stores: stores.clone(),
        holder: "w1".into(),
        lease_wait: Duration::from_secs(5),
    };

    let out = worker
        .handle(
            &event(EventSource::Psa(PsaKind::ConnectWise), &company.id),
            start,
        )
        .await;
    assert!(
        matches!(out, Outcome::Done { writes } if writes >= 1),
        "{out:?}"
    );
    let orgs = itg().list_all(Entity::Organization).await.unwrap();
    let created: Vec<_> = orgs
        .iter()
        .filter(|o| o.get(Field::Name) == Some("Acme Rockets"))
        .collect();
    assert_eq!(created.len(), 1, "one IT Glue organization");
    assert_eq!(
        created[0].get(Field::Type),
        Some("Client"),
        "type created in IT Glue first"
    );
    let itg_id = created[0].id.clone();

    // Our write, seen by IT Glue's poller: nothing to do.
    let echo = worker
        .handle(&event(EventSource::ItGlue, &itg_id), start)
        .await;
    assert_eq!(echo, Outcome::Done { writes: 0 });

    // A person edits the short name in IT Glue: pushed to ConnectWise.
    let mut edit = Changes::new();
    edit.insert(Field::ShortName, Some("ROCKETS".into()));
    itg()
        .update(Entity::Organization, &itg_id, &edit)
        .await
        .unwrap();
    let pushed = worker
        .handle(&event(EventSource::ItGlue, &itg_id), start)
        .await;
    assert!(matches!(pushed, Outcome::Done { writes: 1 }), "{pushed:?}");
    let in_cw = PsaClient::ConnectWise(cw())
        .get(Entity::Organization, &company.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(in_cw.get(Field::ShortName), Some("ROCKETS"));
    // And the callback ConnectWise sends for our write changes nothing.
    let echo = worker
        .handle(
            &event(EventSource::Psa(PsaKind::ConnectWise), &company.id),
            start,
        )
        .await;
    assert_eq!(echo, Outcome::Done { writes: 0 });
}
