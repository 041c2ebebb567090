//! `push-all` through the binary, against the running product on the ConnectWise simulator
//! (DESIGN §3 "Push all syncable assets", §4 `push-all --tenant T [--dry-run]`).
//!
//! IT Glue holds organizations and a contact that existed before the tenant's first-sync
//! watermark: the ordinary two-way rule leaves them waiting. A dry run counts them and publishes
//! nothing; the real run pushes the syncable ones — created in ConnectWise, or linked to the
//! company that already has the name — and links them; an inactive one stays where it is. A second
//! run publishes nothing (the finished run is recorded, and shown on the workers' `/metrics`), and
//! a restarted run creates nothing. A one-way PSA (Tigerpaw) and a tenant without two-way sync are
//! refused with a clear message.

use crate::common::e2e;

use std::time::{Duration, Instant};

use e2e::{
    any_action, creates, eventually, in_scope, psa_org_id, psa_orgs_named, seed_where, E2e,
    DOCUMENTED,
};
use serde_json::json;
use syncbridge::commands::push_all::{Checkpoint, EntityCounts, PushAll, Start};
use syncbridge_bus::{names, EventPublisher, StateKey, StateStore};
use syncbridge_connectors::Vendor;
use syncbridge_model::{Entity, Field, LinkState, PsaKind};
use syncbridge_sim::admin::AdminOps;
use tokio::process::Command;

async fn run(args: &[&str]) -> (bool, String, String) {
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        Command::new(env!("CARGO_BIN_EXE_syncbridge"))
            .args(args)
            .output(),
    )
    .await
    .expect("the command ends")
    .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The configuration the stack runs on, as a user would write it (`Stack::start` builds it from
/// the same parts).
fn write_config(e: &E2e, name: &str) -> std::path::PathBuf {
    let listen = e.stack.public_url.trim_start_matches("http://");
    let mut text = format!(
        "[nats]\nurls = [\"{}\"]\n\n[ingest]\nlisten = \"{listen}\"\n\n",
        e.stack.nats_url
    );
    for t in &e.stack.tenants {
        text.push_str(&t.toml);
        text.push('\n');
    }
    let path = std::env::temp_dir().join(format!(
        "syncbridge-push-all-{name}-{}.toml",
        std::process::id()
    ));
    std::fs::write(&path, text).unwrap();
    path
}

async fn events_in_stream(e: &E2e) -> u64 {
    let mut stream = e
        .stack
        .conn
        .jetstream()
        .get_stream(names::EVENTS_STREAM)
        .await
        .unwrap();
    stream.info().await.unwrap().state.messages
}

/// The PSA id an IT Glue record is linked to (state Linked).
async fn linked_psa(e: &E2e, entity: Entity, itg_id: &str) -> Option<String> {
    e.link_by_itg(entity, itg_id)
        .await
        .filter(|l| l.state == LinkState::Linked)
        .and_then(|l| l.psa_id)
}

fn line<'a>(out: &'a str, entity: &str) -> &'a str {
    out.lines()
        .find(|l| l.starts_with(&format!("{entity}: ")))
        .unwrap_or_else(|| panic!("no {entity} line in:\n{out}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_all_pushes_waiting_records_once_and_resumes_nothing_twice() {
    let started = Instant::now();
    // The company after the documented ones (and after the near miss's) is in scope: an IT Glue
    // organization with its exact name is linked to it, not created a second time.
    let twin = DOCUMENTED + 1;
    let seed = seed_where(|ds| in_scope(&ds.organizations[twin]));
    let mut e = E2e::start(PsaKind::ConnectWise, seed).await;
    let twin_name = e.ds.organizations[twin].name.clone();
    let itg = &e.tenant.itglue.sim;
    // IT Glue's organization type with the tenant's enabled type's name, as a person made it.
    let client_type = itg
        .seed("organization_types", vec![json!({"name": "Client"})])
        .unwrap()[0]["id"]
        .clone();
    let org = |name: &str, status: u64| {
        json!({"name": name, "organization-type-id": client_type,
               "organization-status-id": status})
    };
    let seeded = itg
        .seed(
            "organizations",
            vec![
                org("Pushall Alpha Ltd", 1),
                org("Pushall Beta GmbH", 1),
                org(&twin_name, 1),
                // Inactive: not syncable, so not pushed.
                org("Pushall Dormant Inc", 2),
            ],
        )
        .unwrap();
    let ids: Vec<String> = seeded.iter().map(|o| o["id"].to_string()).collect();
    let (alpha, beta, twin_itg, dormant) = (&ids[0], &ids[1], &ids[2], &ids[3]);
    let contact = itg
        .seed(
            "contacts",
            vec![
                json!({"organization-id": seeded[0]["id"], "first-name": "Paula",
                "last-name": "Pusher",
                "contact-emails": [{"value": "paula@alpha.example", "primary": true,
                                    "label-name": "Work"}]}),
            ],
        )
        .unwrap()[0]["id"]
        .to_string();
    // The service starts after them: they existed before the first-sync watermark.
    e.run().await;
    e.settle().await;
    for name in [
        "Pushall Alpha Ltd",
        "Pushall Beta GmbH",
        "Pushall Dormant Inc",
    ] {
        assert!(
            psa_orgs_named(&e, name).await.is_empty(),
            "pre-existing waits: {name}"
        );
    }
    assert_eq!(psa_orgs_named(&e, &twin_name).await, vec![psa_org_id(twin)]);
    assert!(e
        .link_by_itg(Entity::Organization, twin_itg)
        .await
        .is_none());

    let itg_orgs = e
        .tenant
        .itglue_reader
        .list_all(Entity::Organization)
        .await
        .unwrap()
        .len();
    let itg_contacts = e
        .tenant
        .itglue_reader
        .list_all(Entity::Contact)
        .await
        .unwrap()
        .len();
    let path = write_config(&e, "cw");
    let config = path.to_str().unwrap();
    let args = ["push-all", "--config", config, "--tenant", "connectwise"];

    // Dry run: the plan with counts, nothing published, no checkpoint.
    let before = events_in_stream(&e).await;
    let (ok, dry, err) = run(&[&args[..], &["--dry-run"]].concat()).await;
    assert!(ok, "{dry}{err}");
    assert_eq!(
        line(&dry, "organization"),
        format!("organization: {itg_orgs} would be published / 0 already linked")
    );
    assert_eq!(
        line(&dry, "contact"),
        format!("contact: {itg_contacts} would be published / 0 already linked")
    );
    assert!(dry.contains("dry run: nothing published"), "{dry}");
    assert_eq!(
        events_in_stream(&e).await,
        before,
        "a dry run publishes nothing"
    );
    let state = StateStore::open(&e.stack.conn, Duration::from_secs(5))
        .await
        .unwrap();
    let checkpoint = StateKey::checkpoint(&e.id, "push-all").unwrap();
    assert!(state
        .get::<serde_json::Value>(&checkpoint)
        .await
        .unwrap()
        .is_none());

    // The run: one event per unlinked record, then the workers push.
    let (ok, out, err) = run(&args).await;
    assert!(ok, "{out}{err}");
    assert_eq!(
        line(&out, "organization"),
        format!("organization: {itg_orgs} published / 0 already linked")
    );
    assert!(
        err.contains("organization: ") && err.contains("published"),
        "progress lines: {err}"
    );
    let stored = state
        .get::<serde_json::Value>(&checkpoint)
        .await
        .unwrap()
        .expect("the checkpoint is stored");
    assert_eq!(stored.value["finished"], true, "{:?}", stored.value);
    // The workers' /metrics show the run (push-all itself is a one-off process without one).
    syncbridge::roles::bus_gauges::read_once(&e.stack.conn, std::slice::from_ref(&e.id)).await;
    let metrics = syncbridge::runtime::metrics::handle()
        .expect("the recorder")
        .render();
    let series = |name: &str| {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse::<f64>().ok())
    };
    let pushed: Checkpoint = serde_json::from_value(stored.value.clone()).expect("a checkpoint");
    let published: u64 = pushed.counts.iter().map(|(_, c)| c.published).sum();
    assert!(published >= (itg_orgs + itg_contacts) as u64, "{pushed:?}");
    assert_eq!(
        series(&format!(
            r#"syncbridge_push_all_records{{tenant="{}",state="published"}}"#,
            e.id
        )),
        Some(published as f64),
        "{metrics}"
    );
    assert_eq!(
        series(&format!(
            r#"syncbridge_push_all_finished{{tenant="{}"}}"#,
            e.id
        )),
        Some(1.0),
        "{metrics}"
    );

    let alpha_psa = eventually("Alpha is created in ConnectWise and linked", || {
        linked_psa(&e, Entity::Organization, alpha)
    })
    .await;
    let beta_psa = eventually("Beta is created in ConnectWise and linked", || {
        linked_psa(&e, Entity::Organization, beta)
    })
    .await;
    let twin_psa = eventually("the twin is linked to the company with its name", || {
        linked_psa(&e, Entity::Organization, twin_itg)
    })
    .await;
    let contact_psa = eventually("the contact is created in ConnectWise and linked", || {
        linked_psa(&e, Entity::Contact, &contact)
    })
    .await;
    e.settle().await;

    assert_eq!(
        psa_orgs_named(&e, "Pushall Alpha Ltd").await,
        vec![alpha_psa.clone()]
    );
    assert_eq!(
        psa_orgs_named(&e, "Pushall Beta GmbH").await,
        vec![beta_psa]
    );
    assert_eq!(twin_psa, psa_org_id(twin), "linked, not created twice");
    assert_eq!(psa_orgs_named(&e, &twin_name).await, vec![psa_org_id(twin)]);
    let cw_contact = e
        .psa(Entity::Contact, &contact_psa)
        .await
        .expect("the ConnectWise contact");
    assert_eq!(cw_contact.get(Field::FirstName), Some("Paula"));
    assert_eq!(cw_contact.get(Field::LastName), Some("Pusher"));
    assert_eq!(cw_contact.org_id.as_deref(), Some(alpha_psa.as_str()));
    // Not syncable (inactive): not pushed, and the audit says why.
    assert!(psa_orgs_named(&e, "Pushall Dormant Inc").await.is_empty());
    assert!(linked_psa(&e, Entity::Organization, dormant)
        .await
        .is_none());
    let org_audits = e.audits(Entity::Organization).await;
    let of = |id: &str| -> Vec<serde_json::Value> {
        org_audits
            .iter()
            .filter(|a| a["record_id"].as_str() == Some(id))
            .cloned()
            .collect()
    };
    assert!(
        any_action(&of(alpha), "push_all", Some("create_in_psa")),
        "{:#?}",
        of(alpha)
    );
    assert!(
        any_action(&of(dormant), "push_eligibility", None),
        "{:#?}",
        of(dormant)
    );

    // A second run: the finished run is recorded, nothing is published.
    let company_creates = creates(&e.sync_writes_in(false, "companies")).len();
    let contact_creates = creates(&e.sync_writes_in(false, "contacts")).len();
    let before = events_in_stream(&e).await;
    let (ok, again, err) = run(&args).await;
    assert!(ok, "{again}{err}");
    assert!(again.contains("nothing to do"), "{again}");
    assert_eq!(
        events_in_stream(&e).await,
        before,
        "a second run publishes nothing"
    );

    // A new run on request: what is linked by now is skipped, and nothing is created.
    let (ok, restarted, err) = run(&[&args[..], &["--restart"]].concat()).await;
    assert!(ok, "{restarted}{err}");
    let orgs_line = line(&restarted, "organization");
    let linked_now: usize = orgs_line
        .split(" / ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{orgs_line}"));
    assert!(linked_now >= 3, "{restarted}");
    e.settle().await;
    assert_eq!(
        creates(&e.sync_writes_in(false, "companies")).len(),
        company_creates,
        "a second run creates no company"
    );
    assert_eq!(
        creates(&e.sync_writes_in(false, "contacts")).len(),
        contact_creates,
        "a second run creates no contact"
    );
    assert_eq!(psa_orgs_named(&e, "Pushall Alpha Ltd").await.len(), 1);
    e.assert_no_echo();
    let _ = std::fs::remove_file(&path);
    e.stop().await;
    eprintln!("push_all end-to-end: {:?}", started.elapsed());
}

/// One-way PSAs and tenants without two-way sync are refused before anything is contacted.
#[tokio::test]
async fn push_all_is_refused_for_one_way_psas_and_tenants_without_two_way() {
    let dead = "http://127.0.0.1:9";
    let text = format!(
        "[nats]\nurls = [\"nats://127.0.0.1:9\"]\n\n\
         [tenants.tigerpaw.sync]\npsa = \"tigerpaw\"\norg_types = [\"Customer\"]\n\
         org_statuses = [\"Active\"]\ncontacts_sync = true\ntwo_way = false\n\
         [tenants.tigerpaw.itglue]\nbase_url = \"{dead}\"\napi_key = \"k\"\n\
         [tenants.tigerpaw.tigerpaw]\nbase_url = \"{dead}\"\npublic_key = \"p\"\n\
         private_key = \"s\"\n\n\
         [tenants.cw_one_way.sync]\npsa = \"connectwise\"\norg_types = [\"Client\"]\n\
         org_statuses = [\"Active\"]\nconfig_types = [\"Server\"]\n\
         config_statuses = [\"Active\"]\ncontacts_sync = true\ntwo_way = false\n\
         [tenants.cw_one_way.itglue]\nbase_url = \"{dead}\"\napi_key = \"k\"\n\
         [tenants.cw_one_way.connectwise]\nsite = \"127.0.0.1:9\"\ncompany_id = \"acme\"\n\
         public_key = \"p\"\nprivate_key = \"s\"\nclient_id = \"c\"\n\
         allow_http_for_simulator = true\n"
    );
    let path = std::env::temp_dir().join(format!(
        "syncbridge-push-all-refused-{}.toml",
        std::process::id()
    ));
    std::fs::write(&path, text).unwrap();
    let config = path.to_str().unwrap();
    for dry in [false, true] {
        let mut args = vec!["push-all", "--config", config, "--tenant", "tigerpaw"];
        if dry {
            args.push("--dry-run");
        }
        let (ok, out, err) = run(&args).await;
        assert!(!ok, "{out}{err}");
        assert!(
            err.contains("push-all refused for tenant tigerpaw: Tigerpaw is a one-way PSA"),
            "{err}"
        );
    }
    let (ok, out, err) = run(&["push-all", "--config", config, "--tenant", "cw_one_way"]).await;
    assert!(!ok, "{out}{err}");
    assert!(
        err.contains("two-way sync is not enabled")
            && err.contains("tenants.cw_one_way.sync.two_way = true"),
        "{err}"
    );
    let _ = std::fs::remove_file(&path);
}

/// An interrupted run continues where its checkpoint says (entities before it and records up to
/// its last id are not walked again), keeps its counts and its run name (so an event an earlier
/// attempt already published is recognised as a duplicate), and records that it finished.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_run_resumes_from_its_checkpoint() {
    // No workers: only what the publisher does is observed.
    let e = E2e::start(PsaKind::ConnectWise, 1).await;
    let settings = &e.stack.config.tenants[&e.id].sync;
    let itglue =
        syncbridge::vendors::clients::itglue(&e.stack.config.tenants[&e.id], None).unwrap();
    let state = StateStore::open(&e.stack.conn, Duration::from_secs(5))
        .await
        .unwrap();
    let publisher = EventPublisher::new(e.stack.conn.clone(), Duration::from_secs(5));
    let push = PushAll {
        tenant: &e.id,
        settings,
        itglue: &itglue,
        links: &e.links,
        state: &state,
        publisher: Some(&publisher),
    };
    let mut contacts: Vec<u64> = itglue
        .list_all(Entity::Contact)
        .await
        .unwrap()
        .iter()
        .map(|c| c.id.parse().unwrap())
        .collect();
    contacts.sort_unstable();
    let configurations = itglue.list_all(Entity::Configuration).await.unwrap().len() as u64;
    assert!(contacts.len() > 2);
    let after = contacts[1].to_string();
    let remaining = contacts.len() as u64 - 2;

    // An earlier attempt of run "r1" published the organizations and locations and the first two
    // contacts, then stopped.
    let key = StateKey::checkpoint(&e.id, "push-all").unwrap();
    let interrupted = Checkpoint {
        run: "r1".into(),
        started_at: 1,
        updated_at: 1,
        entity: Some(Entity::Contact),
        after: Some(after.clone()),
        finished: false,
        counts: vec![(
            Entity::Organization,
            EntityCounts {
                published: 3,
                ..EntityCounts::default()
            },
        )],
    };
    state.set(&key, &interrupted, None).await.unwrap();
    let before = events_in_stream(&e).await;
    let report = push.run(false, 2, |_| {}).await.unwrap();
    assert_eq!(report.run, "r1");
    assert_eq!(
        report.start,
        Start::Resumed {
            entity: Some(Entity::Contact),
            after: Some(after.clone())
        }
    );
    let count = |entity: Entity| {
        report
            .counts
            .iter()
            .find(|(e, _)| *e == entity)
            .map(|(_, c)| *c)
            .unwrap()
    };
    assert_eq!(
        count(Entity::Organization).published,
        3,
        "kept from the checkpoint"
    );
    assert_eq!(count(Entity::Location).published, 0, "not walked again");
    assert_eq!(count(Entity::Contact).published, remaining);
    assert_eq!(count(Entity::Configuration).published, configurations);
    assert_eq!(
        events_in_stream(&e).await - before,
        remaining + configurations
    );
    let stored: Checkpoint = state.get(&key).await.unwrap().unwrap().value;
    assert!(stored.finished && stored.entity.is_none(), "{stored:?}");

    // Finished: a rerun publishes nothing.
    let again = push.run(false, 3, |_| {}).await.unwrap();
    assert_eq!(again.start, Start::AlreadyFinished);
    assert_eq!(
        events_in_stream(&e).await - before,
        remaining + configurations
    );

    // The same interruption again (e.g. the checkpoint write after the page was lost): the same
    // run's events are duplicates in the stream, not published twice.
    let revision = state
        .get::<Checkpoint>(&key)
        .await
        .unwrap()
        .unwrap()
        .revision;
    state.set(&key, &interrupted, Some(revision)).await.unwrap();
    let repeat = push.run(false, 4, |_| {}).await.unwrap();
    let contact = repeat
        .counts
        .iter()
        .find(|(e, _)| *e == Entity::Contact)
        .unwrap()
        .1;
    assert_eq!((contact.published, contact.duplicates), (0, remaining));
    assert_eq!(
        events_in_stream(&e).await - before,
        remaining + configurations
    );
    e.stop().await;
}
