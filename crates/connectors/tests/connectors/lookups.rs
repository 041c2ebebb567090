//! Vendor id maps learned from the vendor's API: a freshly constructed client (no listing, no
//! configured lists) creates, reads back and updates configurations and organizations by the
//! names the simulators were seeded with; a name the vendor lacks is `UnknownLookup`, naming
//! it, before any request that writes.

use crate::common::*;
use serde_json::Value;
use syncbridge_connectors::{
    AutotaskClient, AutotaskConfig, BmsFlavor, Error, HttpPolicy, PsaClient,
};
use syncbridge_model::Changes;
use syncbridge_model::{Entity, Field, Values};
use syncbridge_sim::admin::AdminOps;
use syncbridge_sim::autotask::Autotask;
use syncbridge_sim::kaseya_bms::KaseyaBms;
use syncbridge_sim::seed::{load_autotask, load_bms, Dataset, SeedSpec};
use syncbridge_sim::writes::WriteQuery;
use syncbridge_sim::{Core, Fault, FaultPlan, FaultRule};

fn dataset() -> Dataset {
    Dataset::generate(SeedSpec::sized(31, 12))
}

/// An Autotask client exactly as the service builds one: no picklists in the configuration.
fn fresh_autotask(sim: &Autotask) -> PsaClient {
    let mut config = AutotaskConfig::new(
        sim.api_url(),
        "syncbridge@example.com",
        "at-secret",
        "TRACKING-ID",
        AT_RESOURCE,
    );
    config.http = HttpPolicy {
        per_endpoint_concurrency: Some(3),
        ..fast_policy()
    };
    assert!(config.company_types.is_empty() && config.configuration_item_types.is_empty());
    PsaClient::Autotask(AutotaskClient::new(config).expect("client"))
}

fn fresh_bms(sim: &KaseyaBms, pulseway: bool) -> PsaClient {
    if pulseway {
        PsaClient::PulsewayPsa(bms_client(sim, BmsFlavor::PulsewayPsa, fast_policy()))
    } else {
        PsaClient::KaseyaBms(bms_client(sim, BmsFlavor::KaseyaBms, fast_policy()))
    }
}

fn names(rows: &[Value], key: &str) -> Vec<String> {
    rows.iter()
        .filter_map(|r| r.get(key).and_then(Value::as_str).map(str::to_owned))
        .collect()
}

fn all_writes(core: &Core) -> usize {
    core.writes.count(&WriteQuery::default()).count
}

/// Every request that could write answers 418, so a write attempt cannot pass for an
/// `UnknownLookup`: creates (`POST` on `create_paths`), and every `PATCH` and `PUT`.
fn refuse_writes(core: &Core, create_paths: &[&str]) {
    let rule = |method: &str, path: Option<&str>| FaultRule {
        method: Some(method.into()),
        path_contains: path.map(str::to_owned),
        fault: Fault::Status {
            status: 418,
            retry_after_secs: None,
            message: None,
        },
        probability: 1.0,
        times: None,
    };
    let mut rules: Vec<FaultRule> = create_paths.iter().map(|p| rule("POST", Some(p))).collect();
    rules.push(rule("PATCH", None));
    rules.push(rule("PUT", None));
    core.faults.set(FaultPlan {
        seed: 1,
        rules,
        delivery: Default::default(),
    });
}

fn assert_unknown(err: Error, kind: &str, name: &str) {
    match &err {
        Error::UnknownLookup { kind: k, name: n } => {
            assert!(k.contains(kind), "kind {k:?} names {kind:?}");
            assert_eq!(n, name);
        }
        other => panic!("expected UnknownLookup for {name:?}, got {other:?}"),
    }
    let text = err.to_string();
    assert!(text.contains(kind) && text.contains(name), "{text}");
    assert!(!err.is_transient());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autotask_fresh_client_writes_configurations_by_picklist_and_product_names() {
    let sim = autotask_sim().await;
    load_autotask(&sim.sim, &dataset(), AT_RESOURCE).unwrap();
    let picklists = sim.sim.state("Picklists").unwrap();
    let ci_types: Vec<String> = picklists
        .iter()
        .filter(|p| p["field"] == "configurationItemType")
        .filter_map(|p| p["label"].as_str().map(str::to_owned))
        .collect();
    assert!(ci_types.len() >= 2, "{picklists:?}");
    let products = sim.sim.state("Products").unwrap();
    let (makers, models) = (
        names(&products, "manufacturerName"),
        names(&products, "manufacturerProductName"),
    );
    assert!(makers.len() >= 2);

    let at = fresh_autotask(&sim);
    let values = Values::new()
        .with(Field::Name, "LOOKUP-CI-01")
        .with(Field::Type, ci_types[0].as_str())
        .with(Field::Status, "Active")
        .with(Field::Manufacturer, makers[0].as_str())
        .with(Field::Model, models[0].as_str())
        .with(Field::SerialNumber, "SN-LOOKUP-1");
    let created = at
        .create(Entity::Configuration, Some("1"), &values)
        .await
        .unwrap();
    for (f, v) in values.iter() {
        assert_eq!(created.get(f), Some(v), "{f} as created");
    }
    // Read back by another fresh client: ids are named without any listing.
    let reader = fresh_autotask(&sim);
    let read = reader
        .get(Entity::Configuration, &created.id)
        .await
        .unwrap()
        .expect("created configuration");
    for (f, v) in values.iter() {
        assert_eq!(read.get(f), Some(v), "{f} read back");
    }

    let mut changes = Changes::new();
    changes.insert(Field::Type, Some(ci_types[1].clone()));
    changes.insert(Field::Status, Some("Inactive".into()));
    changes.insert(Field::Manufacturer, Some(makers[1].clone()));
    changes.insert(Field::Model, Some(models[1].clone()));
    let updated = fresh_autotask(&sim)
        .update(Entity::Configuration, &created.id, &changes)
        .await
        .unwrap();
    assert_eq!(updated.get(Field::Type), Some(ci_types[1].as_str()));
    assert_eq!(updated.get(Field::Status), Some("Inactive"));
    assert_eq!(updated.get(Field::Manufacturer), Some(makers[1].as_str()));
    assert_eq!(updated.get(Field::Model), Some(models[1].as_str()));
    assert_eq!(updated.get(Field::Name), Some("LOOKUP-CI-01"));

    // Companies: the standard companyType picklist, read from the API as well.
    let org = fresh_autotask(&sim)
        .create(
            Entity::Organization,
            None,
            &Values::new()
                .with(Field::Name, "Lookup Vendor Co")
                .with(Field::Type, "Vendor"),
        )
        .await
        .unwrap();
    assert_eq!(org.get(Field::Type), Some("Vendor"));
    let mut retype = Changes::new();
    retype.insert(Field::Type, Some("Partner".into()));
    let org = fresh_autotask(&sim)
        .update(Entity::Organization, &org.id, &retype)
        .await
        .unwrap();
    assert_eq!(org.get(Field::Type), Some("Partner"));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autotask_picklist_value_added_later_is_found_by_one_reload() {
    let sim = autotask_sim().await;
    load_autotask(&sim.sim, &dataset(), AT_RESOURCE).unwrap();
    let at = fresh_autotask(&sim);
    let first = at
        .create(
            Entity::Configuration,
            Some("1"),
            &Values::new()
                .with(Field::Name, "LOOKUP-CI-02")
                .with(Field::Type, "Server"),
        )
        .await
        .unwrap();
    assert_eq!(first.get(Field::Type), Some("Server"));
    sim.sim
        .seed(
            "Picklists",
            vec![serde_json::json!({"entity": "ConfigurationItems",
                "field": "configurationItemType", "value": 40, "label": "Hypervisor"})],
        )
        .unwrap();
    let before = at.stats().requests;
    let mut changes = Changes::new();
    changes.insert(Field::Type, Some("Hypervisor".into()));
    let updated = at
        .update(Entity::Configuration, &first.id, &changes)
        .await
        .unwrap();
    assert_eq!(updated.get(Field::Type), Some("Hypervisor"));
    // One picklist reload, the PATCH and the read-back (no product involved).
    assert_eq!(at.stats().requests - before, 3);
    sim.shutdown().await;
}

async fn bms_fresh_client_writes_assets_by_lookup_names(pulseway: bool) {
    let sim = bms_sim(pulseway).await;
    load_bms(&sim.sim, &dataset()).unwrap();
    let categories = names(&sim.sim.state("categories").unwrap(), "name");
    let states = names(&sim.sim.state("assetstates").unwrap(), "name");
    let makers = names(&sim.sim.state("manufacturers").unwrap(), "name");
    let account_types = names(&sim.sim.state("accounttypes").unwrap(), "name");
    assert!(categories.len() >= 2 && states.len() >= 2 && makers.len() >= 2);

    let client = fresh_bms(&sim, pulseway);
    let values = Values::new()
        .with(Field::Name, "LOOKUP-ASSET-01")
        .with(Field::Type, categories[0].as_str())
        .with(Field::Status, states[0].as_str())
        .with(Field::Manufacturer, makers[0].as_str())
        .with(Field::Model, "Model 7")
        .with(Field::SerialNumber, "SN-LOOKUP-2");
    let created = client
        .create(Entity::Configuration, Some("1"), &values)
        .await
        .unwrap();
    for (f, v) in values.iter() {
        assert_eq!(created.get(f), Some(v), "{f} as created");
    }
    let read = fresh_bms(&sim, pulseway)
        .get(Entity::Configuration, &created.id)
        .await
        .unwrap()
        .expect("created asset");
    for (f, v) in values.iter() {
        assert_eq!(read.get(f), Some(v), "{f} read back");
    }

    let mut changes = Changes::new();
    changes.insert(Field::Type, Some(categories[1].clone()));
    changes.insert(Field::Status, Some(states[1].clone()));
    changes.insert(Field::Manufacturer, Some(makers[1].clone()));
    let updated = fresh_bms(&sim, pulseway)
        .update(Entity::Configuration, &created.id, &changes)
        .await
        .unwrap();
    assert_eq!(updated.get(Field::Type), Some(categories[1].as_str()));
    assert_eq!(updated.get(Field::Status), Some(states[1].as_str()));
    assert_eq!(updated.get(Field::Manufacturer), Some(makers[1].as_str()));
    assert_eq!(updated.get(Field::Model), Some("Model 7"));
    assert_eq!(updated.get(Field::Name), Some("LOOKUP-ASSET-01"));

    // Accounts: the account-type lookup.
    let account = fresh_bms(&sim, pulseway)
        .create(
            Entity::Organization,
            None,
            &Values::new()
                .with(Field::Name, "Lookup Account Co")
                .with(Field::Type, account_types[1].as_str()),
        )
        .await
        .unwrap();
    assert_eq!(account.get(Field::Type), Some(account_types[1].as_str()));
    let mut retype = Changes::new();
    retype.insert(Field::Type, Some(account_types[0].clone()));
    let account = fresh_bms(&sim, pulseway)
        .update(Entity::Organization, &account.id, &retype)
        .await
        .unwrap();
    assert_eq!(account.get(Field::Type), Some(account_types[0].as_str()));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kaseya_bms_fresh_client_writes_assets_by_lookup_names() {
    bms_fresh_client_writes_assets_by_lookup_names(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulseway_fresh_client_writes_assets_by_lookup_names() {
    bms_fresh_client_writes_assets_by_lookup_names(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_names_are_unknown_lookups_and_nothing_is_written() {
    // Autotask.
    let sim = autotask_sim().await;
    load_autotask(&sim.sim, &dataset(), AT_RESOURCE).unwrap();
    let core = sim.sim.core().clone();
    refuse_writes(&core, &["/ConfigurationItems", "/Companies"]);
    let before = all_writes(&core);
    let ci = |ty: &str, maker: &str| {
        Values::new()
            .with(Field::Name, "NEVER-01")
            .with(Field::Type, ty)
            .with(Field::Manufacturer, maker)
            .with(Field::Model, "PowerEdge R650")
    };
    let err = fresh_autotask(&sim)
        .create(
            Entity::Configuration,
            Some("1"),
            &ci("Quantum Computer", "Dell"),
        )
        .await
        .unwrap_err();
    assert_unknown(err, "configuration item type", "Quantum Computer");
    let err = fresh_autotask(&sim)
        .create(
            Entity::Configuration,
            Some("1"),
            &ci("Server", "Acme Robotics"),
        )
        .await
        .unwrap_err();
    assert_unknown(err, "product", "Acme Robotics / PowerEdge R650");
    let err = fresh_autotask(&sim)
        .create(
            Entity::Organization,
            None,
            &Values::new()
                .with(Field::Name, "Never Co")
                .with(Field::Type, "Competitor"),
        )
        .await
        .unwrap_err();
    assert_unknown(err, "company type", "Competitor");
    let mut bad = Changes::new();
    bad.insert(Field::Type, Some("Quantum Computer".into()));
    let err = fresh_autotask(&sim)
        .update(Entity::Configuration, "1", &bad)
        .await
        .unwrap_err();
    assert_unknown(err, "configuration item type", "Quantum Computer");
    assert_eq!(all_writes(&core), before);
    sim.shutdown().await;

    // Kaseya BMS and Pulseway PSA.
    for pulseway in [false, true] {
        let sim = bms_sim(pulseway).await;
        load_bms(&sim.sim, &dataset()).unwrap();
        let core = sim.sim.core().clone();
        refuse_writes(&core, &["/hardwareasset", "/crm/accounts"]);
        let before = all_writes(&core);
        let asset = |ty: &str, state: &str| {
            Values::new()
                .with(Field::Name, "NEVER-02")
                .with(Field::Type, ty)
                .with(Field::Status, state)
        };
        let err = fresh_bms(&sim, pulseway)
            .create(
                Entity::Configuration,
                Some("1"),
                &asset("Quantum Computer", "Active"),
            )
            .await
            .unwrap_err();
        assert_unknown(err, "asset category", "Quantum Computer");
        let err = fresh_bms(&sim, pulseway)
            .create(
                Entity::Configuration,
                Some("1"),
                &asset("Server", "Vaporized"),
            )
            .await
            .unwrap_err();
        assert_unknown(err, "asset status", "Vaporized");
        let mut bad = Changes::new();
        bad.insert(Field::Manufacturer, Some("Acme Robotics".into()));
        let err = fresh_bms(&sim, pulseway)
            .update(Entity::Configuration, "1", &bad)
            .await
            .unwrap_err();
        assert_unknown(err, "manufacturer", "Acme Robotics");
        let mut bad = Changes::new();
        bad.insert(Field::Type, Some("Competitor".into()));
        let err = fresh_bms(&sim, pulseway)
            .update(Entity::Organization, "1", &bad)
            .await
            .unwrap_err();
        assert_unknown(err, "account type", "Competitor");
        assert_eq!(all_writes(&core), before);
        sim.shutdown().await;
    }
}
