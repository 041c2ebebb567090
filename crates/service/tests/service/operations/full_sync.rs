//! The full sync on the running product (DESIGN §2.4): it publishes only what differs from what
//! the last sync left behind — nothing at all for an unchanged tenant — and its sweep orphans the
//! links of records the PSA no longer lists, unless that would be too many to trust.

use crate::common::e2e;

use std::sync::Arc;
use std::time::Duration;

use e2e::{eventually, E2e};
use syncbridge::roles::full_sync::FullSyncError;
use syncbridge::roles::full_sync::{schedule, FullSyncStores};
use syncbridge::roles::TenantRuntime;
use syncbridge_bus::StateStore;
use syncbridge_connectors::Vendor;
use syncbridge_engine::reconcile::Why;
use syncbridge_engine::LookupKind;
use syncbridge_model::{Entity, Field, LinkState, PsaKind};
use syncbridge_sim::faults::{DeliveryFaults, Fault, FaultPlan, FaultRule};
use tokio::sync::watch;

/// A synced ConnectWise tenant whose callbacks no longer arrive (a disabled webhook).
async fn connectwise_with_callbacks_lost() -> E2e {
    let e = E2e::launch(PsaKind::ConnectWise, 1).await;
    e.tenant.psa.core().faults.set(FaultPlan {
        delivery: DeliveryFaults {
            drop: 1.0,
            ..DeliveryFaults::default()
        },
        ..FaultPlan::default()
    });
    e
}

/// After the initial sync settled, a second full sync plans and publishes nothing, for every PSA:
/// what the workers stored as the base is exactly what the vendors list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_sync_of_an_unchanged_tenant_publishes_nothing() {
    for kind in PsaKind::ALL {
        let e = E2e::launch(kind, 1).await;
        assert!(!e.linked_pairs(Entity::Organization).await.is_empty());
        let report = e.full_sync_with("again", false).await;
        assert_eq!(
            (report.total(), report.published),
            (0, 0),
            "{kind}: {}",
            report.describe(false)
        );
        e.assert_no_echo();
        e.stop().await;
    }
}

/// Deletes a person makes in ConnectWise while its callbacks are lost (a disabled webhook): only
/// the full sync can notice them. Its sweep orphans the links of the contacts the PSA no longer
/// lists. A sweep that would orphan more than `full_sync_max_orphan_share` of the links (as an
/// empty listing from a broken API would) is held back and reported, and orphans only with force.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_orphans_unannounced_deletes_and_holds_back_a_suspicious_one() {
    let e = connectwise_with_callbacks_lost().await;
    let contacts = e.linked_pairs(Entity::Contact).await;
    let linked_total = e.linked_pairs(Entity::Organization).await.len()
        + e.linked_pairs(Entity::Location).await.len()
        + contacts.len()
        + e.linked_pairs(Entity::Configuration).await.len();
    let (first, _) = &contacts[0];
    e.tenant.psa.delete_as_person("contacts", first).unwrap();
    e.settle().await;
    assert_eq!(
        e.link(Entity::Contact, first).await.unwrap().state,
        LinkState::Linked,
        "no callback, no orphan yet"
    );

    let report = e.full_sync_with("sweep-1", false).await;
    assert_eq!(
        report.planned,
        vec![(Entity::Contact, Why::Deleted, 1)],
        "{}",
        report.describe(false)
    );
    eventually("the deleted contact's link is orphaned", || async {
        e.link(Entity::Contact, first)
            .await
            .filter(|l| l.state == LinkState::Orphaned)
    })
    .await;

    // Most contacts vanish at once: too many to trust; held back until forced.
    let rest: Vec<&String> = contacts[1..].iter().map(|(p, _)| p).collect();
    assert!(
        rest.len() as f64 > 0.25 * linked_total as f64,
        "the data set must make this sweep suspicious"
    );
    for psa_id in &rest {
        e.tenant.psa.delete_as_person("contacts", psa_id).unwrap();
    }
    let held = e.full_sync_with("sweep-2", false).await;
    assert_eq!(
        held.sweep_held.map(|(n, _)| n),
        Some(rest.len()),
        "{}",
        held.describe(false)
    );
    assert_eq!(held.published, 0);
    assert!(held.describe(false).contains("--force"));
    e.settle().await;
    for psa_id in &rest {
        assert_eq!(
            e.link(Entity::Contact, psa_id).await.unwrap().state,
            LinkState::Linked
        );
    }
    let forced = e.full_sync_with("sweep-3", true).await;
    assert_eq!(forced.published as usize, rest.len());
    eventually("every deleted contact is orphaned", || async {
        for psa_id in &rest {
            e.link(Entity::Contact, psa_id)
                .await
                .filter(|l| l.state == LinkState::Orphaned)?;
        }
        Some(())
    })
    .await;
    e.settle().await;
    assert_eq!(
        e.full_sync_with("sweep-4", false).await.total(),
        0,
        "orphans are not swept twice"
    );
    e.assert_no_echo();
    e.stop().await;
}

/// The scheduled full sync, run by two poller processes on one schedule: a contact deleted in
/// ConnectWise while its callbacks are lost (which no poll can see) is orphaned by the next slot's
/// sweep (`full:scheduled-…`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduled_full_sync_sweeps_an_unannounced_delete() {
    let e = connectwise_with_callbacks_lost().await;
    let (contact, _) = e.a_linked_pair(Entity::Contact).await;
    e.tenant.psa.delete_as_person("contacts", &contact).unwrap();

    let tenant = e.stack.config.tenants[&e.id].clone();
    let (stop, stopped) = watch::channel(false);
    for _ in 0..2 {
        let runtime = TenantRuntime {
            conn: e.stack.conn.clone(),
            tenant: tenant.clone(),
            itg: Arc::new(syncbridge::vendors::clients::itglue(&tenant, None).unwrap()),
            psa: Arc::new(syncbridge::vendors::clients::psa(&tenant, None).unwrap()),
            state: StateStore::open(&e.stack.conn, Duration::from_secs(5))
                .await
                .unwrap(),
            publish_timeout: Duration::from_secs(5),
            stop: stopped.clone(),
        };
        let stores = FullSyncStores::open(&e.stack.conn, Duration::from_secs(5))
            .await
            .unwrap();
        tokio::spawn(schedule(runtime, stores, Duration::from_secs(2)));
    }
    eventually("the deleted contact is orphaned", || async {
        e.link(Entity::Contact, &contact)
            .await
            .filter(|l| l.state == LinkState::Orphaned)
    })
    .await;
    let _ = stop.send(true);
    let audits = e.audits_of(Entity::Contact, "psa", &contact).await;
    assert!(
        audits.iter().any(|a| a["event"]["msg_id"]
            .as_str()
            .is_some_and(|m| m.starts_with("full:scheduled-"))),
        "{audits:#?}"
    );
    e.settle().await;
    e.assert_no_echo();
    e.stop().await;
}

/// Onboarding a tenant whose IT Glue already documents part of its PSA (the demo's data set: a
/// third of the organizations with their records): a new record with one exact counterpart whose
/// synced fields already agree is linked by the full sync from its listings, with no event and
/// so no further read of either record; its audit entry names the exact match. Everything else
/// is an event as before, and both sides end equal with no echo write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn onboarding_links_the_records_that_already_agree_from_the_listings() {
    for kind in [PsaKind::ConnectWise, PsaKind::KaseyaBms] {
        let mut e = E2e::start(kind, 1).await;
        name_types_as_the_psa_does(&e).await;
        e.run().await;
        let report = e.full_sync_with("initial", false).await;
        let linked: u64 = report.linked.iter().map(|(_, n)| n).sum();
        assert!(linked > 0, "{kind}: {}", report.describe(false));
        e.settle().await;
        // Each record linked from the listings was decided once, by the full sync: its only audit
        // entry is the link, and no worker read or decided it again.
        let mut from_listings = 0;
        for entity in Entity::PARENTS_FIRST {
            for audit in e.audits(entity).await {
                let by_full_sync = audit["link_before"].is_null()
                    && audit["actions"].as_array().is_some_and(|a| {
                        a.len() == 1 && a[0]["rule"].as_str() == Some("exact_match")
                    });
                let record = audit["record_id"].as_str().unwrap_or_default().to_owned();
                if by_full_sync && e.audits_of(entity, "psa", &record).await.len() == 1 {
                    from_listings += 1;
                }
            }
        }
        assert_eq!(from_listings, linked, "{kind}: {}", report.describe(false));
        let comparison = syncbridge_demo::verify::compare(&e.tenant, &e.links)
            .await
            .unwrap();
        assert!(comparison.equal(), "{kind}: {:?}", comparison.differences);
        e.assert_no_echo();
        e.stop().await;
    }
}

/// ConnectWise's fault plan: callbacks lost or not, and configuration listings (the last entity
/// the full sync lists) refused or not.
fn psa_faults(e: &E2e, callbacks_lost: bool, refuse_configurations: bool) {
    let refuse = FaultRule {
        method: Some("GET".into()),
        path_contains: Some("company/configurations".into()),
        fault: Fault::Status {
            status: 400,
            retry_after_secs: None,
            message: Some("listing refused by the test".into()),
        },
        probability: 1.0,
        times: None,
    };
    e.tenant.psa.core().faults.set(FaultPlan {
        rules: refuse_configurations
            .then_some(refuse)
            .into_iter()
            .collect(),
        delivery: DeliveryFaults {
            drop: if callbacks_lost { 1.0 } else { 0.0 },
            ..DeliveryFaults::default()
        },
        ..FaultPlan::default()
    });
}

/// Events of run `run` stored in `SYNC_EVENTS` (limits retention: published events stay).
async fn events_of_run(e: &E2e, run: &str) -> usize {
    let prefix = format!("full:{run}:");
    crate::common::stored_events(&e.stack.conn)
        .await
        .iter()
        .filter(|m| {
            m.msg_id
                .as_deref()
                .is_some_and(|id| id.starts_with(&prefix))
        })
        .count()
}

/// The listings are streamed entity by entity, parents first, so a later entity's listing can
/// fail after earlier entities were planned: that run publishes nothing and sweeps nothing (the
/// contact deleted meanwhile keeps its link), and a rerun under the same name sweeps it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_later_listing_that_fails_publishes_nothing_and_sweeps_nothing() {
    let e = connectwise_with_callbacks_lost().await;
    let (contact, _) = e.a_linked_pair(Entity::Contact).await;
    e.tenant.psa.delete_as_person("contacts", &contact).unwrap();
    psa_faults(&e, true, true);
    let failed = e.try_full_sync("partial", false).await;
    assert!(
        matches!(
            failed,
            Err(FullSyncError::Listing {
                entity: Entity::Configuration,
                ..
            })
        ),
        "{failed:?}"
    );
    e.settle().await;
    assert_eq!(events_of_run(&e, "partial").await, 0, "nothing published");
    assert_eq!(
        e.link(Entity::Contact, &contact).await.unwrap().state,
        LinkState::Linked,
        "no sweep from a run whose listings did not all complete"
    );

    psa_faults(&e, true, false);
    let report = e.full_sync_with("partial", false).await;
    assert_eq!(
        report.planned,
        vec![(Entity::Contact, Why::Deleted, 1)],
        "{}",
        report.describe(false)
    );
    eventually("the deleted contact's link is orphaned", || async {
        e.link(Entity::Contact, &contact)
            .await
            .filter(|l| l.state == LinkState::Orphaned)
    })
    .await;
    e.settle().await;
    e.assert_no_echo();
    e.stop().await;
}

/// Onboarding whose configuration listing fails: the organizations, locations and contacts the
/// listings settled are linked (parents before children: contacts under organizations linked in
/// the same run), nothing is published, and the rerun links only what is left — the links stored
/// before the failure are found linked and unchanged — and both sides end equal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn onboarding_cut_short_by_a_failed_listing_keeps_its_links_and_resumes() {
    let mut e = E2e::start(PsaKind::ConnectWise, 1).await;
    name_types_as_the_psa_does(&e).await;
    e.run().await;
    psa_faults(&e, false, true);
    let failed = e.try_full_sync("initial", false).await;
    assert!(
        matches!(
            failed,
            Err(FullSyncError::Listing {
                entity: Entity::Configuration,
                ..
            })
        ),
        "{failed:?}"
    );
    let orgs = e.linked_pairs(Entity::Organization).await;
    let contacts = e.linked_pairs(Entity::Contact).await;
    assert!(!orgs.is_empty() && !contacts.is_empty());
    assert!(e.linked_pairs(Entity::Configuration).await.is_empty());
    assert_eq!(events_of_run(&e, "initial").await, 0, "nothing published");

    psa_faults(&e, false, false);
    let report = e.full_sync_with("initial", false).await;
    let linked_again: Vec<_> = report
        .linked
        .iter()
        .filter(|(entity, _)| *entity != Entity::Configuration)
        .collect();
    assert!(linked_again.is_empty(), "{}", report.describe(false));
    assert!(
        report
            .linked
            .iter()
            .any(|(entity, n)| *entity == Entity::Configuration && *n > 0),
        "{}",
        report.describe(false)
    );
    assert!(
        !report
            .planned
            .iter()
            .any(|(entity, why, _)| *entity == Entity::Organization && *why != Why::New),
        "the organizations linked before the failure are unchanged: {}",
        report.describe(false)
    );
    e.settle().await;
    assert!(e.linked_pairs(Entity::Organization).await.len() >= orgs.len());
    let comparison = syncbridge_demo::verify::compare(&e.tenant, &e.links)
        .await
        .unwrap();
    assert!(comparison.equal(), "{:?}", comparison.differences);
    e.assert_no_echo();
    e.stop().await;
}

/// The data set names a customer "Customer" in IT Glue and "Client" in these PSAs; IT Glue's own
/// PSA integration would have named it as the PSA does. So that the documented organizations
/// agree with the PSA, each gets its PSA company's type.
async fn name_types_as_the_psa_does(e: &E2e) {
    let itg = &e.tenant.itglue_person;
    let documented = itg.list_all(Entity::Organization).await.unwrap();
    for psa in e.psa_all(Entity::Organization).await {
        let Some(twin) = documented
            .iter()
            .find(|o| o.get(Field::Name) == psa.get(Field::Name))
        else {
            continue;
        };
        let Some(kind) = psa.get(Field::Type) else {
            continue;
        };
        itg.ensure_lookup(LookupKind::OrganizationType, kind, None)
            .await
            .unwrap();
        e.itg_edit(Entity::Organization, &twin.id, Field::Type, kind)
            .await;
    }
}
