//! Reliability and concurrency with real processes (DESIGN §6): `syncbridge serve` run as a user
//! runs it, against a private nats-server and the simulators of one ConnectWise tenant.
//!
//! - A worker process killed at a deterministic point (the `SYNCBRIDGE_TEST_KILL_AT` test hook of
//!   `workers.rs`: `abort()` after the vendor create and before the link store, or after the
//!   store and before the ack), then started again without the hook: every record in scope exists
//!   once in IT Glue, linked, and the write logs show no second create.
//! - Two worker processes on the same records, with "Acme" created on both sides at the same
//!   moment: one record per side, one link, and the same pair as a run with one worker.
//! - The nats-server killed and restarted (same port, same store) while the processes run and
//!   people edit both sides: the processes recover by themselves and no edit is lost.
//!
//! The harness is [`super::harness`]. Every wait polls against a deadline; nothing asserts on speed. Child processes are killed on
//! drop; the tests run one at a time (each starts several processes on a shared machine).

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::kv::Operation;
use futures_util::StreamExt;
use syncbridge_bus::{names, LeaseKey};
use syncbridge_connectors::Vendor;
use syncbridge_demo::verify;
use syncbridge_engine::scope::psa_in_scope;
use syncbridge_engine::LookupKind;
use syncbridge_model::{
    field_map, Entity, EventSource, Field, LinkState, PsaKind, Record, Side, Values,
};
use syncbridge_sim::writes::{WriteAction, WriteQuery};
use syncbridge_sim::{Fault, FaultPlan, FaultRule};

use super::harness::{edit, eventually, logs, name_of, Proc, World, PATIENCE, SERIAL, SYNC_USER};

// ---------------------------------------------------------------------------------------------
// 1. A worker process killed at a deterministic point
// ---------------------------------------------------------------------------------------------

async fn killed_worker_then_restart(point: &str) {
    let _one_at_a_time = SERIAL.lock().await;
    let w = World::start(3, 32).await;
    let settings = &w.config.tenants[&w.id].sync;

    // The first event is a create in IT Glue: an organization in scope that IT Glue lacks.
    let itg_names: HashSet<String> = w
        .tenant
        .itglue_reader
        .list_all(Entity::Organization)
        .await
        .unwrap()
        .iter()
        .map(|o| name_of(o).to_lowercase())
        .collect();
    let target = w
        .tenant
        .psa_reader
        .list_all(Entity::Organization)
        .await
        .unwrap()
        .into_iter()
        .find(|o| {
            psa_in_scope(settings, Entity::Organization, o).is_ok()
                && !itg_names.contains(&name_of(o).to_lowercase())
        })
        .expect("an organization in scope that IT Glue does not have");
    let name = name_of(&target);
    w.hint(
        EventSource::Psa(PsaKind::ConnectWise),
        Entity::Organization,
        &target.id,
        "first",
    )
    .await;

    let mut killed = w.spawn("worker", &format!("worker-killed-{point}"), Some(point));
    let status = killed
        .wait_exit(PATIENCE)
        .await
        .unwrap_or_else(|| panic!("the hook did not kill the worker{}", logs(&[&killed])));
    // Abnormal end: by a signal (SIGABRT), with no exit code.
    assert!(
        !status.success() && status.code().is_none(),
        "{status:?}{}",
        logs(&[&killed])
    );
    assert!(
        killed.log_text().contains("aborting at"),
        "{}",
        logs(&[&killed])
    );

    // What the dead process left: the organization created once in IT Glue, and for
    // after_link_store the link stored, for after_vendor_write not (at most the create intent).
    let creates = w.itglue_creates(Entity::Organization);
    assert_eq!(creates.len(), 1, "{creates:?}");
    let created = creates[0].clone();
    let in_itglue = w
        .tenant
        .itglue_reader
        .get(Entity::Organization, &created)
        .await
        .unwrap()
        .expect("the created organization");
    assert_eq!(name_of(&in_itglue), name);
    let link = w
        .links
        .get(&w.id, Entity::Organization, &target.id)
        .await
        .unwrap()
        .map(|v| v.value);
    eprintln!("{point}: killed with {status:?}; link left behind: {link:?}");
    match point {
        "after_link_store" => {
            let link = link.expect("stored before the kill");
            assert_eq!(link.state, LinkState::Linked);
            assert_eq!(link.itg_id.as_deref(), Some(created.as_str()));
        }
        _ => assert!(
            link.as_ref().is_none_or(|l| l.state != LinkState::Linked),
            "{link:?}"
        ),
    }

    // Started again without the hook, and the whole tenant synced.
    let mut worker = w.spawn("worker", "worker", None);
    w.full_sync("after-kill").await;
    let summary = eventually("convergence after the restart", async || {
        w.converged().await
    })
    .await
    .unwrap_or_else(|e| panic!("{e}{}", logs(&[&killed, &worker])));
    eprintln!("{point}: converged: {summary}");

    // The record in flight at the kill: once in IT Glue, linked to what was created before it.
    let orgs = w
        .tenant
        .itglue_reader
        .list_all(Entity::Organization)
        .await
        .unwrap();
    let named: Vec<&Record> = orgs.iter().filter(|o| name_of(o) == name).collect();
    assert_eq!(named.len(), 1, "{named:?}");
    assert_eq!(named[0].id, created);
    let link = w
        .links
        .get(&w.id, Entity::Organization, &target.id)
        .await
        .unwrap()
        .expect("linked")
        .value;
    assert_eq!(link.state, LinkState::Linked);
    assert_eq!(link.itg_id.as_deref(), Some(created.as_str()));
    // No second create for it in the write log (any later create is another record's, linked).
    let writes = w.tenant.itglue.sim.core().writes.entries(&WriteQuery {
        collection: Some("organizations".into()),
        user: Some(SYNC_USER.into()),
        ..WriteQuery::default()
    });
    let creates_of_name = writes
        .iter()
        .filter(|e| e.action == WriteAction::Create)
        .filter(|e| {
            orgs.iter()
                .any(|o| o.id == e.record_id && name_of(o) == name)
        })
        .count();
    assert_eq!(creates_of_name, 1, "{writes:?}");
    // Nothing was created in ConnectWise by syncbridge (nothing to push).
    let psa_creates = w.tenant.psa.core().writes.entries(&WriteQuery {
        user: Some(SYNC_USER.into()),
        ..WriteQuery::default()
    });
    assert!(
        psa_creates.iter().all(|e| e.action != WriteAction::Create),
        "{psa_creates:?}"
    );
    assert!(worker.is_running(), "{}", logs(&[&worker]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_killed_after_the_vendor_create_before_the_link_store() {
    killed_worker_then_restart("after_vendor_write").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_killed_after_the_link_store_before_the_ack() {
    killed_worker_then_restart("after_link_store").await;
}

// ---------------------------------------------------------------------------------------------
// 2. Two worker processes on the same records
// ---------------------------------------------------------------------------------------------

/// What an "Acme on both sides" run ends with.
#[derive(Debug, PartialEq, Eq)]
struct AcmeResult {
    /// Mapped fields of the linked pair: (PSA value, IT Glue value).
    pair: BTreeMap<&'static str, (String, String)>,
    /// Leases on Acme (match key or linked record) taken, by holder process.
    holders: BTreeMap<String, usize>,
}

/// "Acme" created in ConnectWise and in IT Glue at the same moment, with `workers` worker
/// processes each handling up to `concurrency` events at once, the ingest (ConnectWise callbacks)
/// and the pollers (IT Glue updated_at) running.
async fn acme_on_both_sides(workers: usize, concurrency: usize) -> AcmeResult {
    let w = World::start(3, concurrency).await;
    let (ingest, poller) = w.spawn_feeds().await;
    let procs: Vec<Proc> = (0..workers)
        .map(|i| w.spawn("worker", &format!("worker-{i}"), None))
        .collect();
    let all = |procs: &[Proc]| {
        let mut v: Vec<&Proc> = procs.iter().collect();
        v.extend([&ingest, &poller]);
        logs(&v)
    };
    eventually("the workers consume", async || {
        w.pending().await.ok_or("no worker consumer yet".to_owned())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}{}", all(&procs)));

    // Every lease taken from here on, with its holder (`{tenant}-{pid}`): which processes worked
    // on Acme.
    let taken = Arc::new(Mutex::new(Vec::<(String, String)>::new()));
    let mut watch = w
        .conn
        .jetstream()
        .get_key_value(names::LEASES_BUCKET)
        .await
        .unwrap()
        .watch_all()
        .await
        .unwrap();
    let watcher = {
        let taken = taken.clone();
        tokio::spawn(async move {
            while let Some(Ok(entry)) = watch.next().await {
                if entry.operation == Operation::Put {
                    let value: serde_json::Value =
                        serde_json::from_slice(&entry.value).unwrap_or_default();
                    let holder = value["holder"].as_str().unwrap_or_default().to_owned();
                    taken.lock().unwrap().push((entry.key, holder));
                }
            }
        })
    };
    // Slow IT Glue reads, so that events for Acme are in hand at the same time.
    w.tenant.itglue.sim.core().faults.set(FaultPlan {
        rules: vec![FaultRule {
            method: Some("GET".into()),
            path_contains: Some("/organizations".into()),
            fault: Fault::Delay {
                min_ms: 100,
                max_ms: 300,
            },
            probability: 1.0,
            times: None,
        }],
        ..FaultPlan::default()
    });

    let values = Values::new()
        .with(Field::Name, "Acme")
        .with(Field::Type, "Client")
        .with(Field::Status, "Active");
    // The person picks the organization type and status IT Glue offers.
    for (kind, name) in [
        (LookupKind::OrganizationType, "Client"),
        (LookupKind::OrganizationStatus, "Active"),
    ] {
        w.tenant
            .itglue_person
            .ensure_lookup(kind, name, None)
            .await
            .expect("an IT Glue lookup");
    }
    let psa_person = w.tenant.psa_person.as_ref().expect("ConnectWise person");
    let itg_values = values.clone().with(Field::ShortName, "ACME-ITG");
    let (company, org) = tokio::join!(
        psa_person.create(Entity::Organization, None, &values),
        w.tenant
            .itglue_person
            .create(Entity::Organization, None, &itg_values),
    );
    let (company, org) = (
        company.expect("Acme in ConnectWise"),
        org.expect("Acme in IT Glue"),
    );
    // More hints for both records at once, so that both processes get some.
    for i in 0..3 {
        let tag = format!("burst{i}");
        tokio::join!(
            w.hint(
                EventSource::Psa(PsaKind::ConnectWise),
                Entity::Organization,
                &company.id,
                &tag
            ),
            w.hint(EventSource::ItGlue, Entity::Organization, &org.id, &tag),
        );
    }

    let acme = |records: &[Record]| -> Vec<Record> {
        records
            .iter()
            .filter(|r| r.get(Field::Name) == Some("Acme"))
            .cloned()
            .collect()
    };
    let check = async || -> Result<(Record, Record), String> {
        if w.pending().await != Some(0) {
            return Err("events pending".into());
        }
        let psa = acme(
            &w.tenant
                .psa_reader
                .list_all(Entity::Organization)
                .await
                .map_err(|e| e.to_string())?,
        );
        let itg = acme(
            &w.tenant
                .itglue_reader
                .list_all(Entity::Organization)
                .await
                .map_err(|e| e.to_string())?,
        );
        let ([p], [i]) = (&psa[..], &itg[..]) else {
            return Err(format!(
                "{} Acme in ConnectWise, {} in IT Glue",
                psa.len(),
                itg.len()
            ));
        };
        let link = w
            .links
            .get(&w.id, Entity::Organization, &p.id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("no link")?
            .value;
        if link.state != LinkState::Linked || link.itg_id.as_deref() != Some(i.id.as_str()) {
            return Err(format!("link {link:?}"));
        }
        let comparison = verify::compare(&w.tenant, &w.links)
            .await
            .map_err(|e| e.to_string())?;
        if !comparison.equal() {
            return Err(format!("{:?}", comparison.differences));
        }
        Ok((p.clone(), i.clone()))
    };
    eventually("one Acme per side, linked", check)
        .await
        .unwrap_or_else(|e| panic!("{e}{}", all(&procs)));
    w.tenant.itglue.sim.core().faults.clear();
    // Still so after several more poll rounds and redeliveries.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (p, i) = eventually("one Acme per side, linked (again)", check)
        .await
        .unwrap_or_else(|e| panic!("{e}{}", all(&procs)));
    assert_eq!(p.id, company.id);
    assert_eq!(i.id, org.id);
    // Linked, not created: syncbridge created no organization named Acme on either side (the
    // only Acme of each side is the person's, above).
    let psa_orgs = w
        .tenant
        .psa_reader
        .list_all(Entity::Organization)
        .await
        .unwrap();
    let itg_orgs = w
        .tenant
        .itglue_reader
        .list_all(Entity::Organization)
        .await
        .unwrap();
    for (side, core, collection, orgs) in [
        (
            "IT Glue",
            w.tenant.itglue.sim.core(),
            "organizations",
            &itg_orgs,
        ),
        ("ConnectWise", w.tenant.psa.core(), "companies", &psa_orgs),
    ] {
        let acme_ids: HashSet<String> = acme(orgs).into_iter().map(|r| r.id).collect();
        let creates: Vec<_> = core
            .writes
            .entries(&WriteQuery {
                collection: Some(collection.into()),
                user: Some(SYNC_USER.into()),
                ..WriteQuery::default()
            })
            .into_iter()
            .filter(|e| e.action == WriteAction::Create)
            .filter(|e| acme_ids.contains(&e.record_id))
            .collect();
        assert!(creates.is_empty(), "{side}: {creates:?}");
    }
    watcher.abort();
    let acme_keys = [
        LeaseKey::match_key(&w.id, Entity::Organization, &["Acme"]),
        LeaseKey::record(&w.id, Entity::Organization, Side::Psa, &company.id).unwrap(),
    ];
    let holders: BTreeMap<String, usize> = taken
        .lock()
        .unwrap()
        .iter()
        .filter(|(key, _)| acme_keys.iter().any(|k| k.as_str() == key))
        .fold(BTreeMap::new(), |mut m, (_, holder)| {
            *m.entry(holder.clone()).or_default() += 1;
            m
        });
    eprintln!("{workers} worker process(es): Acme leases taken by holder: {holders:?}");
    let pair = field_map(PsaKind::ConnectWise, Entity::Organization)
        .iter()
        .filter(|s| s.field.references().is_none())
        .map(|s| {
            (
                s.field.as_str(),
                (
                    p.get(s.field).unwrap_or("").to_owned(),
                    i.get(s.field).unwrap_or("").to_owned(),
                ),
            )
        })
        .collect();
    drop(procs);
    AcmeResult { pair, holders }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_worker_processes_on_acme_created_on_both_sides_give_the_single_worker_result() {
    let _one_at_a_time = SERIAL.lock().await;
    // One process handling one event at a time is the reference; two processes with eight
    // events in flight each must end the same.
    let single = acme_on_both_sides(1, 1).await;
    let double = acme_on_both_sides(2, 8).await;
    assert_eq!(double.pair, single.pair);
    // Both processes worked on Acme.
    assert_eq!(double.holders.len(), 2, "{:?}", double.holders);
}

// ---------------------------------------------------------------------------------------------
// 3. nats-server killed and restarted under running processes
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_restart_under_running_processes_loses_no_edit() {
    let _one_at_a_time = SERIAL.lock().await;
    let mut w = World::start(4, 32).await;
    let (mut ingest, mut poller) = w.spawn_feeds().await;
    let mut worker = w.spawn("worker", "worker", None);
    w.full_sync("initial").await;
    eventually("the initial sync", async || w.converged().await)
        .await
        .unwrap_or_else(|e| panic!("{e}{}", logs(&[&worker, &ingest, &poller])));

    let orgs = w.linked_pairs(Entity::Organization).await;
    let contacts = w.linked_pairs(Entity::Contact).await;
    assert!(
        orgs.len() >= 2 && contacts.len() >= 4,
        "{orgs:?} {contacts:?}"
    );
    let mut edits = Vec::new();
    // Before the outage.
    edits.push(edit(&w, true, Entity::Organization, &orgs[0], "SB-BEFORE").await);
    edits.push(edit(&w, false, Entity::Contact, &contacts[0], "Engineer before").await);
    w.nats.kill();
    // During it: ConnectWise's callbacks are answered 503 (and not retried: the safety-net poll
    // finds them), IT Glue polls fail and keep their cursor.
    edits.push(edit(&w, true, Entity::Contact, &contacts[1], "Engineer outage").await);
    edits.push(edit(&w, false, Entity::Organization, &orgs[1], "SB-OUTAGE").await);
    tokio::time::sleep(Duration::from_secs(3)).await;
    w.nats.restart().await.expect("restart nats-server");
    // After it.
    edits.push(edit(&w, true, Entity::Contact, &contacts[2], "Engineer after").await);
    edits.push(
        edit(
            &w,
            false,
            Entity::Contact,
            &contacts[3],
            "Engineer after ITG",
        )
        .await,
    );

    let check = async || -> Result<String, String> {
        for e in &edits {
            let psa = w
                .tenant
                .psa_reader
                .get(e.entity, &e.psa_id)
                .await
                .map_err(|x| x.to_string())?;
            let itg = w
                .tenant
                .itglue_reader
                .get(e.entity, &e.itg_id)
                .await
                .map_err(|x| x.to_string())?;
            let (p, i) = (
                psa.as_ref().and_then(|r| r.get(e.field)),
                itg.as_ref().and_then(|r| r.get(e.field)),
            );
            if p != Some(e.value.as_str()) || i != Some(e.value.as_str()) {
                return Err(format!(
                    "{} {} {}: {:?} / {:?}, wanted {:?}",
                    e.entity,
                    e.psa_id,
                    e.field.as_str(),
                    p,
                    i,
                    e.value
                ));
            }
        }
        w.converged().await
    };
    let summary = eventually("every edit on both sides after the restart", check)
        .await
        .unwrap_or_else(|e| panic!("{e}{}", logs(&[&worker, &ingest, &poller])));
    eprintln!("after the NATS restart: {summary}");
    // Nobody restarted syncbridge.
    for p in [&mut worker, &mut ingest, &mut poller] {
        assert!(p.is_running(), "{} exited", p.name);
    }
}
