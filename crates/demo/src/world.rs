//! The demo's world: per tenant, an IT Glue account and the tenant's PSA, each a running
//! simulator seeded with a realistic data set, and the configuration a user would write for them.
//!
//! Every tenant gets its own IT Glue simulator (IT Glue accounts are per MSP: two tenants never
//! share one). IT Glue starts with part of the PSA's organizations already documented (they are
//! linked by exact name), one near miss (the same name in capitals: created and reported, never
//! linked) and nothing else; everything else is created by the sync.
//!
//! The simulated vendors keep their published limits but on windows 60 times shorter (an hour's
//! budget per minute), and the tenants' budgets follow at half of that, as they would at full
//! scale — so the demo takes seconds, not hours, without pretending a vendor is faster than it is.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Map, Value};
use syncbridge_connectors::{
    AutotaskClient, AutotaskConfig as AtClientConfig, BmsClient, BmsConfig as BmsClientConfig,
    BmsFlavor, ConnectWiseClient, ConnectWiseConfig as CwClientConfig, HttpPolicy, ItGlueClient,
    ItGlueConfig as ItgClientConfig, PsaClient, Vendor as _,
};
use syncbridge_model::{Entity, PsaKind, Record};

use crate::driver::Expectation;
use syncbridge_sim::admin::{AdminError, AdminOps};
use syncbridge_sim::autotask::{Autotask, AutotaskConfig};
use syncbridge_sim::connectwise::{ConnectWise, ConnectWiseConfig};
use syncbridge_sim::itglue::{ItGlue, ItGlueConfig, ItGlueSim};
use syncbridge_sim::kaseya_bms::{BmsConfig, KaseyaBms};
use syncbridge_sim::seed::{
    load_autotask, load_bms, load_connectwise, load_itglue, load_tigerpaw, Dataset, SeedSpec,
};
use syncbridge_sim::tigerpaw::{Tigerpaw, TigerpawConfig};
use syncbridge_sim::writes::WriteQuery;
use syncbridge_sim::{Core, RateLimit, SimClock};

/// Vendor windows are this many times shorter than published.
pub const SCALE: u32 = 60;
/// The Autotask resource (a person) that owns companies syncbridge creates.
const AUTOTASK_OWNER: u64 = 29682885;
/// The user name the simulators log syncbridge's writes under, per vendor.
const SYNC_USERS: [&str; 2] = ["syncbridge", "syncbridge@example.com"];
const ITG_SYNC_KEY: &str = "itg-demo-sync-key";
const ITG_PERSON_KEY: &str = "itg-demo-person-key";
pub const AUTOTASK_WEBHOOK_SECRET: &str = "demo-autotask-webhook-secret";

/// One running PSA simulator.
pub enum PsaSim {
    ConnectWise(ConnectWise),
    Autotask(Autotask),
    Bms(KaseyaBms),
    Tigerpaw(Tigerpaw),
}

impl PsaSim {
    pub fn core(&self) -> &Arc<Core> {
        match self {
            PsaSim::ConnectWise(s) => s.sim.core(),
            PsaSim::Autotask(s) => s.sim.core(),
            PsaSim::Bms(s) => s.sim.core(),
            PsaSim::Tigerpaw(s) => s.sim.core(),
        }
    }

    /// Changes a record as a person in the vendor's UI would (webhooks fire as for any edit).
    pub fn edit_as_person(
        &self,
        collection: &str,
        id: &str,
        fields: Map<String, Value>,
    ) -> Result<Value, AdminError> {
        match self {
            PsaSim::ConnectWise(s) => s.sim.edit(collection, id, "alice", fields),
            PsaSim::Autotask(s) => s.sim.edit(collection, id, "alice@example.com", fields),
            PsaSim::Bms(s) => s.sim.edit(collection, id, "alice", fields),
            PsaSim::Tigerpaw(s) => s.sim.edit(collection, id, "alice", fields),
        }
    }

    /// Deletes a record as a person in the vendor's UI would.
    pub fn delete_as_person(&self, collection: &str, id: &str) -> Result<(), AdminError> {
        match self {
            PsaSim::ConnectWise(s) => s.sim.delete(collection, id, "alice"),
            PsaSim::Autotask(s) => s.sim.delete(collection, id, "alice@example.com"),
            PsaSim::Bms(s) => s.sim.delete(collection, id, "alice"),
            PsaSim::Tigerpaw(s) => s.sim.delete(collection, id, "alice"),
        }
    }

    async fn shutdown(self) {
        match self {
            PsaSim::ConnectWise(s) => s.shutdown().await,
            PsaSim::Autotask(s) => s.shutdown().await,
            PsaSim::Bms(s) => s.shutdown().await,
            PsaSim::Tigerpaw(s) => s.shutdown().await,
        }
    }
}

/// One tenant of the demo: its two simulated vendors, and API clients acting as a person.
pub struct DemoTenant {
    pub id: String,
    pub kind: PsaKind,
    pub itglue: ItGlue,
    pub psa: PsaSim,
    /// IT Glue as a person (their own API key), for edits.
    pub itglue_person: ItGlueClient,
    /// The PSA as a person, for edits through its API (`None`: Tigerpaw's API is read-only to
    /// integrations; its edits go through the simulator's UI path).
    pub psa_person: Option<PsaClient>,
    /// The PSA as syncbridge sees it (for the final comparison).
    pub psa_reader: PsaClient,
    pub itglue_reader: ItGlueClient,
    /// The configuration section of this tenant.
    pub toml: String,
    /// Its `[budgets]` table as it stands in `toml`, and whether it budgets the PSA.
    budgets: String,
    psa_budgeted: bool,
}

/// The demo's tenants, in a fixed order: one per PSA.
pub const ALL_KINDS: [PsaKind; 5] = [
    PsaKind::ConnectWise,
    PsaKind::Autotask,
    PsaKind::KaseyaBms,
    PsaKind::PulsewayPsa,
    PsaKind::Tigerpaw,
];

fn scaled(limit: u32, published_window: Duration) -> Option<RateLimit> {
    Some(RateLimit::sliding(limit, published_window / SCALE))
}

/// The tenant budget for a published limit: half of it, on the scaled window.
fn budget(limit: u32, published_window: Duration) -> String {
    format!(
        "{}/{}ms",
        (limit / 2).max(1),
        (published_window / SCALE).as_millis()
    )
}

/// A tenant's `[budgets]` table.
fn budgets_table(id: &str, itglue: &str, psa: Option<&str>) -> String {
    let mut table = format!("[tenants.{id}.budgets]\nitglue = \"{itglue}\"\n");
    if let Some(psa) = psa {
        table.push_str(&format!("psa = \"{psa}\"\n"));
    }
    table
}

/// The people's and the final check's clients: not syncbridge, so not on its budgets (the
/// simulators' own limits still apply: a 429 is waited out).
fn unbudgeted() -> HttpPolicy {
    HttpPolicy {
        per_endpoint_concurrency: None,
        ..HttpPolicy::default()
    }
}

const HOUR: Duration = Duration::from_secs(3600);
const FIVE_MINUTES: Duration = Duration::from_secs(300);

/// How much of the PSA's data IT Glue documents before syncbridge starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Documented {
    /// The demo's: a third of the organizations with what they hold, types named IT Glue's way
    /// ("Customer" where the PSA says "Client"), and one near miss.
    #[default]
    Third,
    /// Everything, named as the PSA names it, as IT Glue's own PSA integration would have left
    /// it: an onboarding where nearly every record already agrees.
    All,
}

/// Names IT Glue's organization types as the PSA of `kind` names its company types (ids as the
/// data set's `ORG_KINDS` order), as IT Glue's own integration with that PSA would.
fn name_types_as(itglue: &ItGlueSim, kind: PsaKind) -> Result<(), AdminError> {
    // ConnectWise company types and the v2 platform's account types say "Client" for a customer
    // (the simulators' seeds, `syncbridge_sim::seed`); Autotask and Tigerpaw say "Customer".
    let names = match kind {
        PsaKind::ConnectWise | PsaKind::KaseyaBms | PsaKind::PulsewayPsa => {
            ["Client", "Prospect", "Vendor", "Partner"]
        }
        PsaKind::Autotask | PsaKind::Tigerpaw => return Ok(()),
    };
    let types = names
        .iter()
        .enumerate()
        .map(|(i, name)| json!({"id": i + 1, "name": name}))
        .collect();
    itglue.seed("organization_types", types).map(|_| ())
}

/// The part of a data set IT Glue already documents: the first `count` organizations and what
/// they hold, plus one near miss of the next organization's name.
fn third(ds: &Dataset, count: usize) -> Dataset {
    let mut out = Dataset {
        organizations: ds.organizations.iter().take(count).cloned().collect(),
        locations: ds
            .locations
            .iter()
            .filter(|l| l.org < count)
            .cloned()
            .collect(),
        contacts: ds
            .contacts
            .iter()
            .filter(|c| c.org < count)
            .cloned()
            .collect(),
        configurations: ds
            .configurations
            .iter()
            .filter(|c| c.org < count)
            .cloned()
            .collect(),
    };
    if let Some(next) = ds.organizations.get(count) {
        let mut near_miss = next.clone();
        near_miss.name = next.name.to_uppercase();
        out.organizations.push(near_miss);
    }
    out
}

impl DemoTenant {
    /// Whether every expected value is on both sides now; if not, which are missing (what each
    /// side has), for a test's wait and failure message. Each entity is listed once on each side.
    pub async fn values_on_both_sides(&self, expected: &[Expectation]) -> Result<(), String> {
        let mut missing = Vec::new();
        for entity in Entity::ALL {
            let of_entity: Vec<&Expectation> =
                expected.iter().filter(|x| x.entity == entity).collect();
            if of_entity.is_empty() {
                continue;
            }
            let psa = self.psa_reader.list_all(entity).await;
            let itg = self.itglue_reader.list_all(entity).await;
            let (psa, itg) = (
                psa.map_err(|e| e.to_string())?,
                itg.map_err(|e| e.to_string())?,
            );
            for x in of_entity {
                let value = |records: &[Record], id: &str| {
                    records
                        .iter()
                        .find(|r| r.id == id)
                        .and_then(|r| r.get(x.field))
                        .map(str::to_owned)
                };
                let (p, i) = (value(&psa, &x.psa_id), value(&itg, &x.itg_id));
                if p.as_deref() != Some(&x.value) || i.as_deref() != Some(&x.value) {
                    missing.push(format!(
                        "{entity} {} ⇄ {} {}: {p:?} / {i:?}, wanted {:?}",
                        x.psa_id,
                        x.itg_id,
                        x.field.as_str(),
                        x.value
                    ));
                }
            }
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{} values not on both sides: {missing:?}",
                missing.len()
            ))
        }
    }

    /// Updates that changed nothing, in either simulator's write log, one line each: echoes (a
    /// person's edit always changes its field, so only syncbridge's writes can be no-ops).
    pub fn echo_writes(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (side, core) in [
            ("IT Glue".to_owned(), self.itglue.sim.core()),
            (self.kind.to_string(), self.psa.core()),
        ] {
            out.extend(
                core.writes
                    .no_op_updates()
                    .iter()
                    .map(|e| format!("{side} {e}")),
            );
        }
        out
    }

    /// Starts and seeds the simulators of one tenant; `organizations` PSA organizations, each
    /// with contacts, configurations and a location.
    pub async fn start(
        kind: PsaKind,
        clock: &SimClock,
        organizations: usize,
        seed: u64,
        documented: Documented,
    ) -> anyhow::Result<DemoTenant> {
        let id = kind.as_str().to_owned();
        let itglue = ItGlue::start(ItGlueConfig {
            api_keys: vec![
                (ITG_SYNC_KEY.into(), "syncbridge".into()),
                (ITG_PERSON_KEY.into(), "person".into()),
            ],
            clock: clock.clone(),
            rate_limit: scaled(3000, FIVE_MINUTES),
            ..ItGlueConfig::default()
        })
        .await?;
        let ds = Dataset::generate(SeedSpec {
            seed,
            organizations,
            locations_per_org: 1,
            contacts_per_org: 2,
            configurations_per_org: 2,
        });
        // `load_itglue` also loads IT Glue's countries and regions the data set's locations use.
        match documented {
            Documented::Third => load_itglue(&itglue.sim, &third(&ds, organizations / 3), "manual"),
            Documented::All => {
                load_itglue(&itglue.sim, &ds, "psa").and_then(|()| name_types_as(&itglue.sim, kind))
            }
        }
        .map_err(|e| anyhow::anyhow!("seeding IT Glue: {e}"))?;
        let itg_url = itglue.base_url().to_owned();
        let itglue_person = ItGlueClient::new(ItgClientConfig {
            http: unbudgeted(),
            ..ItgClientConfig::new(&itg_url, ITG_PERSON_KEY)
        })?;
        let itglue_reader = ItGlueClient::new(ItgClientConfig {
            http: unbudgeted(),
            ..ItgClientConfig::new(&itg_url, ITG_SYNC_KEY)
        })?;
        let sync = sync_section(kind);
        let itg_section = format!(
            "[tenants.{id}.itglue]\nbase_url = \"{itg_url}\"\napi_key = \"{ITG_SYNC_KEY}\"\n"
        );
        let seeding = |e: AdminError| anyhow::anyhow!("seeding {}: {e}", kind.as_str());
        let (psa, psa_section, psa_person, psa_reader, psa_budget) = match kind {
            PsaKind::ConnectWise => {
                let sim = ConnectWise::start(ConnectWiseConfig {
                    clock: clock.clone(),
                    ..ConnectWiseConfig::default()
                })
                .await?;
                load_connectwise(&sim.sim, &ds).map_err(seeding)?;
                let host = sim.base_url().trim_start_matches("http://").to_owned();
                let api = sim.api_url();
                let section = format!(
                    "[tenants.{id}.connectwise]\nsite = \"{host}\"\ncompany_id = \"acme\"\n\
                     public_key = \"cw-public\"\nprivate_key = \"cw-private\"\n\
                     client_id = \"test-client-id\"\nallow_http_for_simulator = true\n"
                );
                let client = |public: &str, private: &str| -> anyhow::Result<PsaClient> {
                    Ok(PsaClient::ConnectWise(ConnectWiseClient::new(
                        CwClientConfig {
                            http: unbudgeted(),
                            ..CwClientConfig::new(&api, "acme", public, private, "test-client-id")
                        },
                    )?))
                };
                let person = client("alice-public", "alice-private")?;
                let reader = client("cw-public", "cw-private")?;
                // ConnectWise publishes no numeric limit.
                (
                    PsaSim::ConnectWise(sim),
                    section,
                    Some(person),
                    reader,
                    None,
                )
            }
            PsaKind::Autotask => {
                let sim = Autotask::start(AutotaskConfig {
                    clock: clock.clone(),
                    rate_limit: scaled(10_000, HOUR),
                    ..AutotaskConfig::default()
                })
                .await?;
                load_autotask(&sim.sim, &ds, AUTOTASK_OWNER).map_err(seeding)?;
                let api = sim.api_url();
                let section = format!(
                    "[tenants.{id}.autotask]\nbase_url = \"{}/atservicesrest\"\n\
                     integration_code = \"TRACKING-ID\"\nusername = \"syncbridge@example.com\"\n\
                     secret = \"at-secret\"\nwebhook_secret = \"{AUTOTASK_WEBHOOK_SECRET}\"\n\
                     owner_resource_id = {AUTOTASK_OWNER}\n",
                    sim.base_url()
                );
                let client = |user: &str, secret: &str| -> anyhow::Result<PsaClient> {
                    Ok(PsaClient::Autotask(AutotaskClient::new(AtClientConfig {
                        http: unbudgeted(),
                        ..AtClientConfig::new(&api, user, secret, "TRACKING-ID", AUTOTASK_OWNER)
                    })?))
                };
                let person = client("alice@example.com", "alice-secret")?;
                let reader = client("syncbridge@example.com", "at-secret")?;
                (
                    PsaSim::Autotask(sim),
                    section,
                    Some(person),
                    reader,
                    Some(budget(10_000, HOUR)),
                )
            }
            PsaKind::KaseyaBms | PsaKind::PulsewayPsa => {
                let (base, flavor, section_name) = if kind == PsaKind::KaseyaBms {
                    (BmsConfig::default(), BmsFlavor::KaseyaBms, "kaseya_bms")
                } else {
                    (
                        BmsConfig::pulseway(),
                        BmsFlavor::PulsewayPsa,
                        "pulseway_psa",
                    )
                };
                let sim = KaseyaBms::start(BmsConfig {
                    clock: clock.clone(),
                    rate_limit: scaled(1500, HOUR),
                    ..base
                })
                .await?;
                load_bms(&sim.sim, &ds).map_err(seeding)?;
                let url = sim.base_url().to_owned();
                let section = format!(
                    "[tenants.{id}.{section_name}]\nbase_url = \"{url}\"\n\
                     username = \"syncbridge\"\npassword = \"bms-password\"\ntenant = \"acme\"\n"
                );
                let client = |user: &str, password: &str| -> anyhow::Result<PsaClient> {
                    // Unbudgeted like the other vendors' people and checker: the client's
                    // default is the real hourly budget, which on the demo's 60× clock made the
                    // final check's reads by id (assets, locations) wait minutes.
                    let c = BmsClient::new(BmsClientConfig {
                        http: unbudgeted(),
                        ..BmsClientConfig::new(&url, flavor, user, password, "acme")
                    })?;
                    Ok(match flavor {
                        BmsFlavor::KaseyaBms => PsaClient::KaseyaBms(c),
                        _ => PsaClient::PulsewayPsa(c),
                    })
                };
                let person = client("alice", "alice-password")?;
                let reader = client("syncbridge", "bms-password")?;
                (
                    PsaSim::Bms(sim),
                    section,
                    Some(person),
                    reader,
                    Some(budget(1500, HOUR)),
                )
            }
            PsaKind::Tigerpaw => {
                let sim = Tigerpaw::start(TigerpawConfig {
                    clock: clock.clone(),
                    ..TigerpawConfig::default()
                })
                .await?;
                load_tigerpaw(&sim.sim, &ds).map_err(seeding)?;
                let url = sim.base_url().to_owned();
                let section = format!(
                    "[tenants.{id}.tigerpaw]\nbase_url = \"{url}\"\npublic_key = \"tp-public\"\n\
                     private_key = \"tp-private\"\n"
                );
                let reader = PsaClient::Tigerpaw(syncbridge_connectors::TigerpawClient::new(
                    syncbridge_connectors::TigerpawConfig {
                        http: unbudgeted(),
                        ..syncbridge_connectors::TigerpawConfig::new(
                            &url,
                            "tp-public",
                            "tp-private",
                        )
                    },
                )?);
                (PsaSim::Tigerpaw(sim), section, None, reader, None)
            }
        };
        let psa_budgeted = psa_budget.is_some();
        let budgets = budgets_table(&id, &budget(3000, FIVE_MINUTES), psa_budget.as_deref());
        // Webhook-fed PSAs are polled only as a safety net; the others are polled often. Kaseya
        // BMS / Pulseway list assets thin and read each by id (audit BMS-1): with 24 assets a
        // round every 2 s would spend the whole read-by-id budget (750 per scaled hour), so they
        // poll every 4 s, as a user sizes the interval to the budget (still under QUIET).
        let psa_interval = match kind {
            PsaKind::ConnectWise | PsaKind::Autotask => "30s",
            PsaKind::KaseyaBms | PsaKind::PulsewayPsa => "4s",
            _ => "2s",
        };
        // The demo runs its full syncs itself (at start, and as tests ask): none on a schedule.
        let polling = format!(
            "[tenants.{id}.polling]\nitglue_interval = \"1s\"\npsa_interval = \"{psa_interval}\"\n\
             full_sync_interval = \"0s\"\n"
        );
        let toml = format!("{sync}\n{itg_section}\n{psa_section}\n{budgets}\n{polling}");
        Ok(DemoTenant {
            id,
            kind,
            itglue,
            psa,
            itglue_person,
            psa_person,
            psa_reader,
            itglue_reader,
            toml,
            budgets,
            psa_budgeted,
        })
    }

    /// The same tenant with the simulators' rate limits off and budgets too large to matter: for
    /// measuring our own pipeline when the vendors' limits are not the ceiling.
    pub fn without_limits(mut self) -> DemoTenant {
        const UNLIMITED: &str = "1000000/1s";
        self.itglue.sim.core().limiter.set(None);
        self.psa.core().limiter.set(None);
        let unlimited = budgets_table(&self.id, UNLIMITED, self.psa_budgeted.then_some(UNLIMITED));
        self.toml = self.toml.replace(&self.budgets, &unlimited);
        self.budgets = unlimited;
        self
    }

    /// Writes syncbridge made on either side, and how many of them changed nothing.
    pub fn sync_writes(&self) -> (usize, usize) {
        let mut total = (0, 0);
        for core in [self.itglue.sim.core(), self.psa.core()] {
            for user in SYNC_USERS {
                let c = core.writes.count(&WriteQuery {
                    user: Some(user.to_owned()),
                    ..WriteQuery::default()
                });
                total.0 += c.count;
                total.1 += c.no_op;
            }
        }
        total
    }

    /// Adds an IT Glue contact as Network Glue's Active Directory import would.
    pub fn add_network_glue_contact(
        &self,
        org_id: u64,
        first: &str,
        last: &str,
        email: &str,
    ) -> Result<(), AdminError> {
        self.itglue.sim.seed(
            "contacts",
            vec![json!({
                "organization-id": org_id, "first-name": first, "last-name": last,
                "contact-emails": [{"value": email, "primary": true, "label-name": "Work"}],
                "_source": "network_glue"
            })],
        )?;
        Ok(())
    }

    pub async fn shutdown(self) {
        self.itglue.shutdown().await;
        self.psa.shutdown().await;
    }
}

/// The tenant's sync settings: customers that are active, every configuration type, contacts,
/// two-way wherever the PSA can.
fn sync_section(kind: PsaKind) -> String {
    let id = kind.as_str();
    // Each vendor's word for a customer, as the seeded PSAs use it.
    let customer = match kind {
        PsaKind::ConnectWise | PsaKind::KaseyaBms | PsaKind::PulsewayPsa => "Client",
        PsaKind::Autotask | PsaKind::Tigerpaw => "Customer",
    };
    let two_way = kind != PsaKind::Tigerpaw;
    format!(
        "[tenants.{id}.sync]\npsa = \"{id}\"\norg_types = [\"{customer}\"]\n\
         org_statuses = [\"Active\"]\n\
         config_types = [\"Server\", \"Workstation\", \"Laptop\", \"Firewall\", \"Switch\", \"Printer\"]\n\
         config_statuses = [\"Active\"]\ncontacts_sync = true\ntwo_way = {two_way}\n"
    )
}
