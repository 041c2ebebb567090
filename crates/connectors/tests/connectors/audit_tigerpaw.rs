//! Vendor-fidelity audit, Tigerpaw findings (TP-1, TP-2): the simulator takes only what the
//! vendor documents, and the connector asks only that.

use serde_json::json;
use syncbridge_connectors::PsaClient;
use syncbridge_connectors::Vendor;
use syncbridge_model::{Entity, Field, Values};
use syncbridge_sim::admin::AdminOps;
use syncbridge_sim::seed::{load_tigerpaw, Dataset, SeedSpec};

use crate::common::{fast_policy, tigerpaw_client, tigerpaw_sim};

/// TP-1: the contacts advanced search documents no `AccountNumber` SearchType and spells the
/// first name `Firstname`; the simulator refuses the rest with `Success: false`. The key search
/// reads the organization's contacts (`GET /api/contacts/account/{n}?activeOnly=true`) and
/// compares the names itself, so a same-named contact of another account or an inactive one is
/// not offered.
#[tokio::test]
async fn tp_1_contact_key_search_uses_documented_requests_only() {
    let sim = tigerpaw_sim().await;
    let account = |n: u64, name: &str| {
        json!({"AccountNumber": n, "Account": {"Name": name, "AccountId": format!("A{n}"),
            "AccountType": "Customer", "Status": "Active"}})
    };
    sim.sim
        .seed("accounts", vec![account(1, "Acme"), account(2, "Globex")])
        .unwrap();
    let contact = |n: u64, account: u64, first: &str, last: &str, inactive: bool| {
        json!({"ContactNumber": n, "EmailAddress": format!("c{n}@example.com"),
            "Contact": {"AccountNumber": account, "FirstName": first, "LastName": last,
                "Inactive": inactive}})
    };
    sim.sim
        .seed(
            "contacts",
            vec![
                contact(1, 1, "Jane", "Doe", false),
                contact(2, 2, "Jane", "Doe", false),
                contact(3, 1, "Jane", "Doe", true),
                contact(4, 1, "John", "Doe", false),
            ],
        )
        .unwrap();
    let tp = PsaClient::Tigerpaw(tigerpaw_client(&sim, fast_policy()));
    let key = Values::new()
        .with(Field::FirstName, "jane")
        .with(Field::LastName, "Doe");

    let in_acme = tp
        .find_by_key(Entity::Contact, Some("1"), &key)
        .await
        .expect("the key search of a contact under account 1");
    let ids: Vec<&str> = in_acme.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["1"], "the active Jane Doe of account 1 only");
    assert_eq!(in_acme[0].org_id.as_deref(), Some("1"));

    let anywhere = tp
        .find_by_key(Entity::Contact, None, &key)
        .await
        .expect("the key search of a contact without an organization");
    let mut ids: Vec<&str> = anywhere.iter().map(|r| r.id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["1", "2"], "active Jane Does of every account");

    let unknown_account = tp
        .find_by_key(Entity::Contact, Some("99"), &key)
        .await
        .expect("an account without contacts");
    assert!(unknown_account.is_empty());
    sim.shutdown().await;
}

/// TP-2: an advanced search with an empty `Criteria` list is not documented to list
/// everything; the simulator answers it `Success: false`. The connector lists accounts with
/// `AccountNumber GreaterThan 0` and contacts per account, and gets every record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tp_2_listings_send_documented_criteria() {
    let sim = tigerpaw_sim().await;
    let ds = Dataset::generate(SeedSpec::sized(11, 120));
    load_tigerpaw(&sim.sim, &ds).unwrap();
    // One contact left the company: not listed (only active contacts are synced).
    let mut gone = sim.sim.state("contacts").unwrap()[0]["Contact"].clone();
    gone["Inactive"] = json!(true);
    sim.sim
        .edit(
            "contacts",
            "1",
            "alice",
            json!({ "Contact": gone }).as_object().unwrap().clone(),
        )
        .unwrap();
    let tp = PsaClient::Tigerpaw(tigerpaw_client(&sim, fast_policy()));

    let accounts = tp
        .list_all(Entity::Organization)
        .await
        .expect("accounts listed");
    assert_eq!(accounts.len(), ds.organizations.len());
    let locations = tp
        .list_all(Entity::Location)
        .await
        .expect("account addresses listed");
    assert_eq!(locations.len(), ds.locations.len());

    let before = tp.stats().requests;
    let contacts = tp.list_all(Entity::Contact).await.expect("contacts listed");
    let requests = tp.stats().requests - before;
    assert_eq!(contacts.len(), ds.contacts.len() - 1);
    assert!(contacts.iter().all(|c| c.id != "1"), "inactive contact 1");
    let mut ids: Vec<&str> = contacts.iter().map(|c| c.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), contacts.len(), "each contact once");
    let first = contacts.iter().find(|c| c.id == "2").expect("contact 2");
    assert_eq!(first.get(Field::Email), Some(ds.contacts[1].email.as_str()));
    // One accounts page plus one request per account.
    eprintln!(
        "Tigerpaw: {} contacts of {} accounts listed in {requests} requests",
        contacts.len(),
        accounts.len()
    );
    assert_eq!(requests, 1 + accounts.len() as u64);
    sim.shutdown().await;
}
