//! The link store: create, get with revision, compare-and-set, the IT Glue index, encoded ids.

use crate::common;

use syncbridge_bus::{KvError, LinkStore};
use syncbridge_model::{Entity, Field, Link, LinkState, Side, Snapshot, Values};

fn link(psa: &str, itg: &str, name: &str) -> Link {
    let values = Values::new().with(Field::Name, name);
    Link::linked(
        Entity::Organization,
        psa,
        itg,
        Snapshot {
            psa: values.clone(),
            itg: values,
            ..Default::default()
        },
    )
}

#[tokio::test]
async fn create_get_and_compare_and_set() {
    let (_server, conn) = common::ready_server().await;
    let links = LinkStore::open(&conn, common::OP_TIMEOUT).await.unwrap();
    let tenant = common::tenant();

    assert_eq!(
        links
            .get(&tenant, Entity::Organization, "12")
            .await
            .unwrap(),
        None
    );
    let rev = links
        .create(&tenant, &link("12", "34", "Acme"))
        .await
        .unwrap();
    let stored = links
        .get(&tenant, Entity::Organization, "12")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.revision, rev);
    assert_eq!(stored.value, link("12", "34", "Acme"));

    // A second create of the same PSA record loses.
    let err = links
        .create(&tenant, &link("12", "99", "Other"))
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err:?}");

    // Two workers read the same revision; the first update wins, the second gets Conflict.
    let new_rev = links
        .update(&tenant, &link("12", "34", "Acme Ltd"), rev)
        .await
        .unwrap();
    assert!(new_rev > rev);
    let err = links
        .update(&tenant, &link("12", "34", "Acme Inc"), rev)
        .await
        .unwrap_err();
    match err {
        KvError::Conflict {
            expected, current, ..
        } => {
            assert_eq!(expected, Some(rev));
            assert_eq!(current, Some(new_rev));
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
    let now = links
        .get(&tenant, Entity::Organization, "12")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(now.value, link("12", "34", "Acme Ltd"));
    assert_eq!(now.revision, new_rev);
}

#[tokio::test]
async fn the_itglue_index_finds_links_and_ignores_stale_entries() {
    let (_server, conn) = common::ready_server().await;
    let links = LinkStore::open(&conn, common::OP_TIMEOUT).await.unwrap();
    let tenant = common::tenant();

    let rev = links
        .create(&tenant, &link("12", "34", "Acme"))
        .await
        .unwrap();
    let found = links
        .get_by_itg(&tenant, Entity::Organization, "34")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.value.psa_id.as_deref(), Some("12"));
    assert_eq!(found.revision, rev);

    // The link moves to another IT Glue record: the old index entry no longer answers.
    links
        .update(&tenant, &link("12", "56", "Acme"), rev)
        .await
        .unwrap();
    assert_eq!(
        links
            .get_by_itg(&tenant, Entity::Organization, "34")
            .await
            .unwrap(),
        None
    );
    assert!(links
        .get_by_itg(&tenant, Entity::Organization, "56")
        .await
        .unwrap()
        .is_some());
    // Other entities and tenants are separate.
    assert_eq!(
        links
            .get_by_itg(&tenant, Entity::Contact, "56")
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn ids_with_characters_kv_keys_disallow_are_encoded() {
    let (_server, conn) = common::ready_server().await;
    let links = LinkStore::open(&conn, common::OP_TIMEOUT).await.unwrap();
    let tenant = common::tenant();
    let odd_psa = "cw.site 7/Zürich*>";
    let odd_itg = "a.b=c";
    links
        .create(&tenant, &link(odd_psa, odd_itg, "Acme"))
        .await
        .unwrap();
    let got = links
        .get(&tenant, Entity::Organization, odd_psa)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.value.psa_id.as_deref(), Some(odd_psa));
    assert!(links
        .get_by_itg(&tenant, Entity::Organization, odd_itg)
        .await
        .unwrap()
        .is_some());
    // Not confused with a plain id that looks like an encoding.
    assert_eq!(
        links
            .get(&tenant, Entity::Organization, "cw=2Esite")
            .await
            .unwrap(),
        None
    );

    // Bad input is a typed error, not a panic.
    assert!(matches!(
        links.get(&tenant, Entity::Organization, "").await,
        Err(KvError::InvalidKey { .. })
    ));
    let mut pending = link("1", "2", "x");
    pending.psa_id = None;
    pending.state = LinkState::Creating(Side::Psa);
    assert!(matches!(
        links.create(&tenant, &pending).await,
        Err(KvError::InvalidValue(_))
    ));
}

#[tokio::test]
async fn psa_ids_and_all_list_one_tenant_and_entity() {
    let (_server, conn) = common::ready_server().await;
    let links = LinkStore::open(&conn, common::OP_TIMEOUT).await.unwrap();
    let acme = common::tenant();
    let other = syncbridge_model::TenantId::new("other").unwrap();
    assert!(links
        .psa_ids(&acme, Entity::Organization)
        .await
        .unwrap()
        .is_empty());
    for id in ["3", "1", "a.b c"] {
        links
            .create(&acme, &link(id, &format!("itg-{id}"), "x"))
            .await
            .unwrap();
    }
    links
        .create(&other, &link("9", "itg-9", "x"))
        .await
        .unwrap();
    let mut contact = link("5", "itg-5", "x");
    contact.entity = Entity::Contact;
    links.create(&acme, &contact).await.unwrap();

    assert_eq!(
        links.psa_ids(&acme, Entity::Organization).await.unwrap(),
        ["1", "3", "a.b c"]
    );
    assert_eq!(links.psa_ids(&acme, Entity::Contact).await.unwrap(), ["5"]);
    assert_eq!(
        links.psa_ids(&other, Entity::Organization).await.unwrap(),
        ["9"]
    );
    let all: Vec<Option<String>> = links
        .all(&acme, Entity::Organization)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.itg_id)
        .collect();
    assert_eq!(
        all,
        [
            Some("itg-1".into()),
            Some("itg-3".into()),
            Some("itg-a.b c".into())
        ]
    );
}
