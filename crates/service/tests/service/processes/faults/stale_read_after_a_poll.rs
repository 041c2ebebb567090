//! The bug the deliveries test found (docs/reliability.md): an IT Glue edit announced by a poll,
//! then read from a lagging replica that still answers the version syncbridge last synced. That
//! read is not older than the link's base, so it looked like "no change since the last sync" and
//! the event was acknowledged: the edit stayed out of the PSA until the next full sync (6 h by
//! default). The worker now compares the read with the version the poll listed and reads again;
//! no full sync runs here after the initial one.

use syncbridge_engine::Changes;
use syncbridge_model::{Entity, Field};
use syncbridge_sim::{Fault, FaultPlan, FaultRule};

use super::super::harness::{eventually, logs, SERIAL};
use super::synced;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_a_poll_announced_is_not_lost_to_a_read_of_the_synced_version() {
    let _one_at_a_time = SERIAL.lock().await;
    let s = synced(4).await;
    let w = &s.w;
    let procs = [&s.worker, &s.ingest, &s.poller];
    let (psa_id, itg_id) = s.contacts.first().cloned().expect("a linked contact");
    let title = |v: &str| {
        let mut c = Changes::new();
        c.insert(Field::Title, Some(v.to_owned()));
        c
    };
    let psa_title = async || -> Result<Option<String>, String> {
        let r = w
            .tenant
            .psa_reader
            .get(Entity::Contact, &psa_id)
            .await
            .map_err(|e| e.to_string())?;
        Ok(r.and_then(|r| r.get(Field::Title).map(str::to_owned)))
    };
    let psa_has = async |want: &str| -> Result<(), String> {
        match psa_title().await? {
            Some(t) if t == want => Ok(()),
            other => Err(format!("the PSA's title is {other:?}")),
        }
    };

    // Synced once: IT Glue and the link's base hold "Synced".
    w.tenant
        .itglue_person
        .update(Entity::Contact, &itg_id, &title("Synced"))
        .await
        .expect("edit in IT Glue");
    eventually("the first edit in the PSA", async || {
        psa_has("Synced").await
    })
    .await
    .unwrap_or_else(|e| panic!("{e}{}", logs(&procs)));

    // The next read of the contact is served by a replica that still has "Synced" (the replica
    // remembers the answer to this read of ours).
    let faults = &w.tenant.itglue.sim.core().faults;
    faults.set(FaultPlan {
        rules: vec![FaultRule {
            method: Some("GET".into()),
            path_contains: Some(format!("/contacts/{itg_id}")),
            fault: Fault::StaleRead,
            probability: 1.0,
            times: Some(1),
        }],
        ..FaultPlan::default()
    });
    w.tenant
        .itglue_reader
        .get(Entity::Contact, &itg_id)
        .await
        .expect("read the contact");
    w.tenant
        .itglue_person
        .update(Entity::Contact, &itg_id, &title("Fresh"))
        .await
        .expect("edit in IT Glue");

    eventually(
        "the worker's read was answered stale",
        async || match faults.plan().rules[0].times {
            Some(0) => Ok(()),
            other => Err(format!("stale reads left: {other:?}")),
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}{}", logs(&procs)));
    eventually("the edit in the PSA after the stale read", async || {
        psa_has("Fresh").await
    })
    .await
    .unwrap_or_else(|e| panic!("{e}{}", logs(&procs)));
}
