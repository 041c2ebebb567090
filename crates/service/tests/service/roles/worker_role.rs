//! The worker and poller roles against the simulators, configured as a user would: a company
//! created in ConnectWise is found by the PSA poller and appears in IT Glue; a person's edit in
//! IT Glue is found by the IT Glue poller and reaches ConnectWise (two-way).

use std::sync::Arc;
use std::time::Duration;

use crate::common::acme::{self, Running};
use crate::common::e2e::eventually;
use crate::common::{bus, connectwise_table, cw_site, sync_keys};
use syncbridge::roles::workers::Loops;
use syncbridge_connectors::Vendor;
use syncbridge_engine::Changes;
use syncbridge_model::{Entity, Field, Record};

fn find<'a>(records: &'a [Record], name: &str) -> Option<&'a Record> {
    records.iter().find(|r| r.get(Field::Name) == Some(name))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_on_either_side_reach_the_other_through_pollers_and_workers() {
    let (nats, conn) = bus().await;
    let itg_sim = acme::itglue_sim().await;
    let cw_sim = acme::connectwise_sim().await;
    let config = acme::config(
        &nats.url(),
        &format!("{}\ntwo_way = true", sync_keys("connectwise", "Client")),
        itg_sim.base_url(),
        &format!(
            "{}\n\n{}",
            connectwise_table(cw_site(&cw_sim)),
            acme::polling_table("300ms")
        ),
    );
    let loops = Loops {
        worker: true,
        pollers: true,
    };
    let running = Running::start(&conn, &config, loops);

    let itg = Arc::new(acme::itglue_client(&itg_sim));
    let cw = Arc::new(acme::connectwise_client(&cw_sim));
    // Let the pollers take the first-sync watermark, then create the company after it.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let company = acme::create_client_company(&cw, "Acme Rockets").await;

    let in_itglue = eventually("the company reaches IT Glue", || async {
        let orgs = itg.list_all(Entity::Organization).await.ok()?;
        find(&orgs, "Acme Rockets").cloned()
    })
    .await;
    assert_eq!(in_itglue.get(Field::Type), Some("Client"));

    let mut edit = Changes::new();
    edit.insert(Field::ShortName, Some("ROCKETS".into()));
    itg.update(Entity::Organization, &in_itglue.id, &edit)
        .await
        .unwrap();
    eventually("the IT Glue edit reaches ConnectWise", || async {
        let c = cw.get(Entity::Organization, &company.id).await.ok()??;
        (c.get(Field::ShortName) == Some("ROCKETS")).then_some(())
    })
    .await;

    // No duplicate on either side after several more polling rounds.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let orgs = itg.list_all(Entity::Organization).await.unwrap();
    assert_eq!(
        orgs.iter()
            .filter(|o| o.get(Field::Name) == Some("Acme Rockets"))
            .count(),
        1
    );
    running.stop().await;
}
