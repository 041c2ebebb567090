//! PSA always wins, end to end: a PSA edit overwrites IT Glue (`psa_wins`), the same field changed
//! on both sides takes the PSA value (`psa_wins_conflict`), an IT Glue edit reaches each two-way PSA
//! (`two_way_push`: ConnectWise, Autotask, Kaseya BMS, Pulseway PSA) and is reverted on one-way
//! Tigerpaw (`one_way_revert`), and a PSA → IT Glue-only field is reverted even with two-way
//! (`psa_only_field`).

use crate::common::e2e;

use e2e::{any_action, eventually, E2e};
use syncbridge_model::{Entity, Field, PsaKind};

/// A person edits a linked company and contact in ConnectWise: IT Glue takes the PSA's values,
/// and nothing is written back to the PSA.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psa_wins_a_psa_edit_overwrites_itglue() {
    let e = E2e::launch(PsaKind::ConnectWise, 1).await;
    let (org_psa, org_itg) = e.a_linked_pair(Entity::Organization).await;
    let (contact_psa, contact_itg) = e.a_linked_pair(Entity::Contact).await;
    let psa_writes_before =
        e.sync_writes_in(false, "companies").len() + e.sync_writes_in(false, "contacts").len();
    e.psa_edit(Entity::Organization, &org_psa, Field::ShortName, "PSAWINS1")
        .await;
    e.psa_edit(
        Entity::Contact,
        &contact_psa,
        Field::Title,
        "Chief PSA Officer",
    )
    .await;
    e.until_itg_value(
        "IT Glue takes the PSA's short name",
        Entity::Organization,
        &org_itg,
        Field::ShortName,
        "PSAWINS1",
    )
    .await;
    e.until_itg_value(
        "IT Glue takes the PSA's contact title",
        Entity::Contact,
        &contact_itg,
        Field::Title,
        "Chief PSA Officer",
    )
    .await;
    e.settle().await;
    let audits = e.audits_of(Entity::Organization, "psa", &org_psa).await;
    assert!(
        any_action(&audits, "psa_wins", Some("update_itglue")),
        "{audits:#?}"
    );
    assert_eq!(
        e.sync_writes_in(false, "companies").len() + e.sync_writes_in(false, "contacts").len(),
        psa_writes_before,
        "nothing written back to the PSA"
    );
    e.assert_no_echo();
    e.stop().await;
}

/// The same field is changed in IT Glue and in the PSA moments apart: both sides end with the
/// PSA's value, and the decision is the conflict rule.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_field_conflict_takes_the_psa_value_on_both_sides() {
    let e = E2e::launch(PsaKind::ConnectWise, 1).await;
    let (org_psa, org_itg) = e.a_linked_pair(Entity::Organization).await;
    same_field_conflict(&e, &org_psa, &org_itg).await;
    e.assert_no_echo();
    e.stop().await;
}

/// A person changes one field on both sides, IT Glue first: both sides end with the PSA's value,
/// decided by the conflict rule.
async fn same_field_conflict(e: &E2e, org_psa: &str, org_itg: &str) {
    e.itg_edit(
        Entity::Organization,
        org_itg,
        Field::ShortName,
        "CONFLICT-ITG",
    )
    .await;
    e.psa_edit(
        Entity::Organization,
        org_psa,
        Field::ShortName,
        "CONFLICT-PSA",
    )
    .await;
    eventually("both sides hold the PSA's value", || async {
        let p = e
            .psa_value(Entity::Organization, org_psa, Field::ShortName)
            .await;
        let i = e
            .itg_value(Entity::Organization, org_itg, Field::ShortName)
            .await;
        (p.as_deref() == Some("CONFLICT-PSA") && i.as_deref() == Some("CONFLICT-PSA")).then_some(())
    })
    .await;
    e.settle().await;
    // Still so once every echo and poll has been handled.
    assert_eq!(
        e.psa_value(Entity::Organization, org_psa, Field::ShortName)
            .await
            .as_deref(),
        Some("CONFLICT-PSA")
    );
    assert_eq!(
        e.itg_value(Entity::Organization, org_itg, Field::ShortName)
            .await
            .as_deref(),
        Some("CONFLICT-PSA")
    );
    let audits = e.audits(Entity::Organization).await;
    assert!(
        any_action(&audits, "psa_wins_conflict", Some("update_itglue")),
        "the conflict rule decided: {audits:#?}"
    );
}

/// A two-way PSA: an IT Glue edit (company short name, contact title) reaches the PSA, a PSA edit
/// reaches IT Glue, and a same-field conflict ends with the PSA's value on both sides.
async fn two_way_both_directions(kind: PsaKind) {
    let e = E2e::launch(kind, 1).await;
    let (org_psa, org_itg) = e.a_linked_pair(Entity::Organization).await;
    let (contact_psa, contact_itg) = e.a_linked_pair(Entity::Contact).await;

    // IT Glue → PSA.
    e.itg_edit(Entity::Organization, &org_itg, Field::ShortName, "ITG2WAY")
        .await;
    e.itg_edit(
        Entity::Contact,
        &contact_itg,
        Field::Title,
        "Pushed From IT Glue",
    )
    .await;
    e.until_psa_value(
        "the IT Glue short name is pushed to the PSA",
        Entity::Organization,
        &org_psa,
        Field::ShortName,
        "ITG2WAY",
    )
    .await;
    e.until_psa_value(
        "the IT Glue contact title is pushed to the PSA",
        Entity::Contact,
        &contact_psa,
        Field::Title,
        "Pushed From IT Glue",
    )
    .await;
    let audits = e.audits_of(Entity::Organization, "it_glue", &org_itg).await;
    assert!(
        any_action(&audits, "two_way_push", Some("update_psa")),
        "{audits:#?}"
    );
    e.settle().await;

    // PSA → IT Glue.
    e.psa_edit(Entity::Organization, &org_psa, Field::ShortName, "PSA2WAY")
        .await;
    e.until_itg_value(
        "the PSA short name reaches IT Glue",
        Entity::Organization,
        &org_itg,
        Field::ShortName,
        "PSA2WAY",
    )
    .await;
    e.settle().await;
    assert_eq!(
        e.psa_value(Entity::Organization, &org_psa, Field::ShortName)
            .await
            .as_deref(),
        Some("PSA2WAY")
    );

    // Same field changed on both sides: the PSA's value on both.
    same_field_conflict(&e, &org_psa, &org_itg).await;
    e.assert_no_echo();
    e.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_way_connectwise_both_directions() {
    two_way_both_directions(PsaKind::ConnectWise).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_way_autotask_both_directions() {
    two_way_both_directions(PsaKind::Autotask).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_way_kaseya_bms_both_directions() {
    two_way_both_directions(PsaKind::KaseyaBms).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_way_pulseway_psa_both_directions() {
    two_way_both_directions(PsaKind::PulsewayPsa).await;
}

/// Tigerpaw is one-way: a person's edit in IT Glue is restored to the PSA's value, and nothing is
/// written to Tigerpaw.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_way_tigerpaw_restores_itglue_edits_to_the_psa_value() {
    let e = E2e::launch(PsaKind::Tigerpaw, 1).await;
    let (org_psa, org_itg) = e.a_linked_pair(Entity::Organization).await;
    let psa_value = e
        .psa_value(Entity::Organization, &org_psa, Field::ShortName)
        .await
        .expect("a short name");
    e.itg_edit(
        Entity::Organization,
        &org_itg,
        Field::ShortName,
        "EDITED-IN-ITG",
    )
    .await;
    assert_eq!(
        e.itg_value(Entity::Organization, &org_itg, Field::ShortName)
            .await
            .as_deref(),
        Some("EDITED-IN-ITG")
    );
    e.until_itg_value(
        "IT Glue is restored to the PSA's value",
        Entity::Organization,
        &org_itg,
        Field::ShortName,
        &psa_value,
    )
    .await;
    let audits = e.audits_of(Entity::Organization, "it_glue", &org_itg).await;
    assert!(
        any_action(&audits, "one_way_revert", Some("update_itglue")),
        "{audits:#?}"
    );
    e.settle().await;
    assert_eq!(
        e.psa_value(Entity::Organization, &org_psa, Field::ShortName)
            .await
            .as_deref(),
        Some(psa_value.as_str())
    );
    let tigerpaw_writes = e
        .tenant
        .psa
        .core()
        .writes
        .entries(&Default::default())
        .into_iter()
        .filter(|w| e2e::SYNC_USERS.contains(&w.user.as_str()))
        .count();
    assert_eq!(tigerpaw_writes, 0, "nothing written to a one-way PSA");
    e.assert_no_echo();
    e.stop().await;
}

/// A ConnectWise site's phone is PSA → IT Glue only: a person's edit of a linked IT Glue
/// location's phone is reverted to the PSA's value even with two-way on, and nothing is written
/// to the site. Its negative twin: an edit of the location's name (both ways) is pushed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psa_only_location_phone_is_reverted_even_with_two_way() {
    let e = E2e::launch(PsaKind::ConnectWise, 1).await;
    assert!(e.settings().two_way);
    let (site, loc) = e.a_linked_pair(Entity::Location).await;
    let phone = e.itg_value(Entity::Location, &loc, Field::Phone).await;
    let psa_phone = e.psa_value(Entity::Location, &site, Field::Phone).await;
    let site_writes = e.sync_writes_in(false, "sites").len();

    e.itg_edit(Entity::Location, &loc, Field::Phone, "5550199999")
        .await;
    eventually("the IT Glue phone is restored to the PSA's", || async {
        (e.itg_value(Entity::Location, &loc, Field::Phone).await == phone).then_some(())
    })
    .await;
    let audits = e.audits_of(Entity::Location, "it_glue", &loc).await;
    assert!(
        any_action(&audits, "psa_only_field", Some("update_itglue")),
        "{audits:#?}"
    );
    e.settle().await;
    assert_eq!(
        e.psa_value(Entity::Location, &site, Field::Phone).await,
        psa_phone,
        "the site's phone unchanged"
    );
    assert_eq!(
        e.sync_writes_in(false, "sites").len(),
        site_writes,
        "nothing written to the site"
    );

    // Negative twin: a both-ways field of the same location is pushed.
    e.itg_edit(Entity::Location, &loc, Field::Name, "Renamed In IT Glue")
        .await;
    e.until_psa_value(
        "the IT Glue location name reaches the site",
        Entity::Location,
        &site,
        Field::Name,
        "Renamed In IT Glue",
    )
    .await;
    e.settle().await;
    assert_eq!(
        e.itg_value(Entity::Location, &loc, Field::Phone).await,
        phone
    );
    e.assert_no_echo();
    e.stop().await;
}
