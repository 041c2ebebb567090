//! A validation failure is not an outage (issue 10, item 3): when a vendor refuses a write and
//! names why (IT Glue 422, ConnectWise 400, Autotask's 500 with a message, Kaseya BMS / Pulseway
//! 400), the event is dead-lettered on its FIRST delivery with the vendor's own message — not
//! retried until max_deliver — and `links explain` shows the dead letter next to the record's link.
//!
//! One test per vendor, each on the running product (the harness of `common/e2e.rs`): a person's
//! edit at one vendor makes syncbridge write something the other vendor refuses, for a reason the
//! real vendor has too.
//!
//! Run: `SYNCBRIDGE_NATS_SERVER=/path/to/nats-server cargo test -p syncbridge --test service rules::refused_writes`.

use crate::common::e2e;

use e2e::{eventually, E2e};
use serde_json::json;
use syncbridge_bus::DeadLetter;
use syncbridge_model::{Entity, Field, PsaKind};
use syncbridge_sim::admin::AdminOps;
use syncbridge_sim::faults::{Fault, FaultPlan, FaultRule};

use super::fields;

/// Waits for the dead letter of the event about `record_id`, then checks that it was filed on the
/// first delivery with `vendor_message` in its reason, and that `links explain` (asked by the
/// record's PSA id) shows it.
async fn assert_dead_lettered_at_once(
    e: &E2e,
    entity: Entity,
    record_id: &str,
    psa_id: &str,
    vendor_message: &str,
) -> DeadLetter {
    let dead = eventually("the refused write is dead-lettered", || async {
        e.dead_letters().await.into_iter().find(|d| {
            d.event
                .as_ref()
                .and_then(|ev| ev.record_id.as_deref())
                .is_some_and(|id| id == record_id)
        })
    })
    .await;
    assert_eq!(
        dead.attempts, 1,
        "a refusal is permanent: filed on the first delivery, not retried: {dead:#?}"
    );
    assert!(
        dead.error.contains(vendor_message),
        "the dead letter carries the vendor's message {vendor_message:?}: {}",
        dead.error
    );
    let explained =
        syncbridge::commands::ops::explain(&e.stack.conn, &e.id, entity, Some(psa_id), None, 20)
            .await
            .expect("links explain");
    assert!(
        explained.contains(&format!("dead letter #{}", dead.seq))
            && explained.contains(vendor_message),
        "links explain shows the dead letter with the vendor's message:\n{explained}"
    );
    dead
}

/// IT Glue refuses (422) a write to an organization its native PSA integration still manages —
/// the MSP left IT Glue's own ConnectWise sync on for it. The company's rename in the PSA is
/// dead-lettered with IT Glue's message instead of being retried for hours.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn itglue_422_is_dead_lettered_on_the_first_attempt_with_the_message() {
    let e = E2e::launch(PsaKind::ConnectWise, 1).await;
    let (psa_id, itg_id) = e.a_linked_pair(Entity::Organization).await;
    e.tenant
        .itglue
        .sim
        .edit(
            "organizations",
            &itg_id,
            "itglue-admin",
            fields(json!({"psa-integration": "manage"})),
        )
        .unwrap();
    e.psa_edit(
        Entity::Organization,
        &psa_id,
        Field::Name,
        "Renamed While Natively Synced",
    )
    .await;
    let dead = assert_dead_lettered_at_once(
        &e,
        Entity::Organization,
        &psa_id,
        &psa_id,
        "Cannot update attributes of an externally synced record",
    )
    .await;
    assert!(dead.error.contains("422"), "{}", dead.error);
    e.stop().await;
}

/// A person renames a linked organization in IT Glue to `name`; the two-way tenant's PSA refuses
/// the rename. Returns the pair (PSA id, IT Glue id).
async fn rename_in_itglue(e: &E2e, name: &str) -> (String, String) {
    let (psa_id, itg_id) = e.a_linked_pair(Entity::Organization).await;
    e.itg_edit(Entity::Organization, &itg_id, Field::Name, name)
        .await;
    (psa_id, itg_id)
}

/// ConnectWise refuses (400) a company name longer than its 50 characters (spec maxLength); IT
/// Glue takes it. The IT Glue rename is dead-lettered with ConnectWise's message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connectwise_400_is_dead_lettered_on_the_first_attempt_with_the_message() {
    let e = E2e::launch(PsaKind::ConnectWise, 1).await;
    let long = "Contoso Pharmaceuticals Research and Development Holdings";
    assert!(long.chars().count() > 50);
    let (psa_id, itg_id) = rename_in_itglue(&e, long).await;
    let dead = assert_dead_lettered_at_once(
        &e,
        Entity::Organization,
        &itg_id,
        &psa_id,
        "name must be no more than 50 characters",
    )
    .await;
    assert!(dead.error.contains("400"), "{}", dead.error);
    e.stop().await;
}

/// Autotask reports validation failures as HTTP 500 with a message (`{"errors": [...]}`): a
/// company name over its 100 characters is such a refusal, not an outage to retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autotask_500_with_a_message_is_dead_lettered_on_the_first_attempt() {
    let e = E2e::launch(PsaKind::Autotask, 1).await;
    let long = "Contoso ".repeat(14);
    assert!(long.trim().chars().count() > 100);
    let (psa_id, itg_id) = rename_in_itglue(&e, long.trim()).await;
    let dead = assert_dead_lettered_at_once(
        &e,
        Entity::Organization,
        &itg_id,
        &psa_id,
        "exceeds the maximum length of 100",
    )
    .await;
    assert!(dead.error.contains("500"), "{}", dead.error);
    e.stop().await;
}

/// Kaseya BMS and Pulseway PSA answer a refusal as their error envelope (`success: false`, the
/// error's code and message). The v2 spec publishes no length or uniqueness rule an IT Glue value
/// could break, so the refusal is the simulator's fault rule answering every account PATCH in the
/// vendor's own error shape with a message — what the connector and the worker must treat as final.
async fn v2_refusal_is_dead_lettered_at_once(kind: PsaKind) {
    let e = E2e::launch(kind, 1).await;
    let message = "AccountName: an account with this name already exists";
    e.tenant.psa.core().faults.set(FaultPlan {
        rules: vec![FaultRule {
            method: Some("PATCH".into()),
            path_contains: Some("/v2/crm/accounts/".into()),
            fault: Fault::Status {
                status: 400,
                retry_after_secs: None,
                message: Some(message.into()),
            },
            probability: 1.0,
            times: None,
        }],
        ..FaultPlan::default()
    });
    let (psa_id, itg_id) = rename_in_itglue(&e, "Contoso Holdings").await;
    assert_dead_lettered_at_once(&e, Entity::Organization, &itg_id, &psa_id, message).await;
    e.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kaseya_bms_refusal_is_dead_lettered_on_the_first_attempt_with_the_message() {
    v2_refusal_is_dead_lettered_at_once(PsaKind::KaseyaBms).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulseway_psa_refusal_is_dead_lettered_on_the_first_attempt_with_the_message() {
    v2_refusal_is_dead_lettered_at_once(PsaKind::PulsewayPsa).await;
}
