//! One [`VendorFixture`] per vendor: its simulator started and loaded with the seeded data set,
//! its client, and what the contract may expect of it. What a vendor syncs and may be written
//! comes from the model (`PsaKind::capabilities`, `field_map`); what only the vendor can say
//! (which entities it lists by modification time, what it writes in the contract and what it
//! fills in by itself) is written here, once per vendor.

use std::sync::Arc;

use syncbridge_connectors::{BmsFlavor, ItGlueClient, PsaClient, Vendor};
use syncbridge_model::{field_map, Changes, Entity, Field, PsaKind, Values};
use syncbridge_sim::admin::AdminOps;
use syncbridge_sim::seed::{
    load_autotask, load_bms, load_connectwise, load_itglue, load_tigerpaw, Dataset, SeedSpec,
};
use syncbridge_sim::{Core, SimServer};

use crate::common::*;

/// A vendor as the contract sees it.
pub struct VendorFixture<C> {
    pub name: &'static str,
    /// The PSA's kind; `None` for IT Glue, the hub, which syncs and takes every entity.
    pub psa: Option<PsaKind>,
    pub client: C,
    /// What the simulator was loaded with.
    pub ds: Dataset,
    /// The simulator's admin side (seeding records as a person would).
    pub sim: Arc<dyn AdminOps>,
    server: SimServer,
    /// Entities the vendor lists by modification time; the others answer `Unsupported`.
    pub modified_since: &'static [Entity],
    /// Whether key searches ignore case (the PSAs'); IT Glue's filters are exact (audit ITG-2).
    pub key_search_ignores_case: bool,
    /// Synced entities too slow to list in full on the contract's tenant; a test of the
    /// vendor's own lists them on a smaller one.
    pub listed_apart: &'static [Entity],
    /// What the contract writes; `None` for a read-only vendor.
    pub writes: Option<Writes>,
}

/// What the contract writes to a vendor, and what the vendor adds by itself.
pub struct Writes {
    /// The values of one new record per entity, parents first. The suite adds references to the
    /// records created before (a contact's location, a configuration's contact and location)
    /// where the vendor maps them. A synced entity missing here must refuse creation as
    /// `Unsupported`.
    pub creates: Vec<(Entity, Values)>,
    /// Values the vendor fills in that were not given; `None`: some value.
    pub fills_in: Vec<(Entity, Field, Option<&'static str>)>,
    /// One change per entity, applied to the record created of it.
    pub updates: Vec<(Entity, Changes)>,
}

impl<C: Vendor> VendorFixture<C> {
    /// Whether the vendor syncs the entity at all (capability matrix).
    pub fn syncs(&self, entity: Entity) -> bool {
        self.psa.is_none_or(|k| k.capabilities().syncs(entity))
    }

    /// Whether syncbridge writes to the vendor (capability matrix: two-way).
    pub fn writable(&self) -> bool {
        self.psa.is_none_or(|k| k.capabilities().two_way)
    }

    /// Whether the vendor maps the field of the entity (`field_map`; IT Glue holds every field
    /// some PSA maps).
    pub fn maps(&self, entity: Entity, field: Field) -> bool {
        let kinds = match self.psa {
            Some(k) => vec![k],
            None => PsaKind::ALL.to_vec(),
        };
        kinds
            .into_iter()
            .any(|k| field_map(k, entity).iter().any(|s| s.field == field))
    }

    /// How many records of the entity the simulator was seeded with.
    pub fn seeded(&self, entity: Entity) -> usize {
        match entity {
            Entity::Organization => self.ds.organizations.len(),
            Entity::Location => self.ds.locations.len(),
            Entity::Contact => self.ds.contacts.len(),
            Entity::Configuration => self.ds.configurations.len(),
        }
    }

    /// The simulator's core: its clock and write log.
    pub fn core(&self) -> &Arc<Core> {
        self.server.core()
    }

    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

/// The seeded data set: `size` organizations with a location, two contacts and two
/// configurations each.
fn dataset(size: usize) -> Dataset {
    Dataset::generate(SeedSpec::sized(11, size))
}

/// The organization every writable vendor is given, of the vendor's type.
fn zeta(kind: &str) -> Values {
    Values::new()
        .with(Field::Name, "Zeta Test Org")
        .with(Field::Type, kind)
}

/// Its headquarters.
fn hq() -> Values {
    Values::new()
        .with(Field::Name, "HQ")
        .with(Field::Address1, "1 Main St")
        .with(Field::City, "Austin")
}

/// Its contact.
fn ada() -> Values {
    Values::new()
        .with(Field::FirstName, "Ada")
        .with(Field::LastName, "Lovelace")
        .with(Field::Email, "ada@example.com")
}

/// Its server.
fn server() -> Values {
    Values::new()
        .with(Field::Name, "ZTO-SRV01")
        .with(Field::Type, "Server")
        .with(Field::Status, "Active")
}

/// The contact's new e-mail address.
const NEW_EMAIL: (Field, Option<&str>) = (Field::Email, Some("ada@new.example.com"));

/// The server retired.
const INACTIVE: (Field, Option<&str>) = (Field::Status, Some("Inactive"));

/// The PSA's kind, as its client reports it.
fn kind(client: &PsaClient, expected: PsaKind) -> PsaKind {
    assert_eq!(client.kind(), expected);
    expected
}

fn changes(pairs: &[(Field, Option<&str>)]) -> Changes {
    pairs
        .iter()
        .map(|(f, v)| (*f, v.map(str::to_owned)))
        .collect()
}

pub async fn itglue(size: usize) -> VendorFixture<ItGlueClient> {
    let ds = dataset(size);
    let sim = itglue_sim().await;
    load_itglue(&sim.sim, &ds, "manual").unwrap();
    let client = itglue_client(&sim, patient_policy());
    VendorFixture {
        name: "IT Glue",
        psa: None,
        client,
        ds,
        sim: sim.sim,
        server: sim.server,
        modified_since: &Entity::ALL,
        key_search_ignores_case: false,
        listed_apart: &[],
        writes: Some(Writes {
            creates: vec![
                (
                    Entity::Organization,
                    zeta("Customer")
                        .with(Field::Status, "Active")
                        .with(Field::ShortName, "ZTO"),
                ),
                (Entity::Location, hq().with(Field::PostalCode, "78701")),
                (
                    Entity::Contact,
                    ada()
                        .with(Field::Title, "CTO")
                        .with(Field::Phone, "+1 555 0100")
                        .with(Field::Mobile, "+1 555 0101"),
                ),
                (
                    Entity::Configuration,
                    server()
                        .with(Field::Manufacturer, "Dell")
                        .with(Field::SerialNumber, "SN1"),
                ),
            ],
            fills_in: vec![],
            updates: vec![
                (
                    Entity::Contact,
                    changes(&[NEW_EMAIL, (Field::Mobile, None)]),
                ),
                (
                    Entity::Configuration,
                    changes(&[INACTIVE, (Field::SerialNumber, None)]),
                ),
            ],
        }),
    }
}

pub async fn connectwise(size: usize) -> VendorFixture<PsaClient> {
    let ds = dataset(size);
    let sim = connectwise_sim().await;
    load_connectwise(&sim.sim, &ds).unwrap();
    let client = PsaClient::ConnectWise(connectwise_client(&sim, patient_policy()));
    VendorFixture {
        name: "ConnectWise",
        psa: Some(kind(&client, PsaKind::ConnectWise)),
        client,
        ds,
        sim: sim.sim,
        server: sim.server,
        modified_since: &[Entity::Organization, Entity::Contact, Entity::Configuration],
        key_search_ignores_case: true,
        // One request per company, each scanning every site in the simulator: see
        // `connectwise_sites_are_listed_per_company_across_pages`.
        listed_apart: &[Entity::Location],
        writes: Some(Writes {
            creates: vec![
                (
                    Entity::Organization,
                    zeta("Client").with(Field::Status, "Active"),
                ),
                (
                    Entity::Location,
                    hq().with(Field::Region, "TX")
                        .with(Field::Country, "United States"),
                ),
                (Entity::Contact, ada().with(Field::Phone, "+1 555 0100")),
                (
                    Entity::Configuration,
                    server().with(Field::SerialNumber, "SN1"),
                ),
            ],
            // A company's identifier is derived from its name when none is given.
            fills_in: vec![(Entity::Organization, Field::ShortName, Some("ZetaTestOrg"))],
            updates: vec![
                (Entity::Location, changes(&[(Field::City, Some("Dallas"))])),
                (
                    Entity::Contact,
                    changes(&[NEW_EMAIL, (Field::Fax, Some("+1 555 0199"))]),
                ),
                (
                    Entity::Configuration,
                    changes(&[INACTIVE, (Field::SerialNumber, None)]),
                ),
            ],
        }),
    }
}

pub async fn autotask(size: usize) -> VendorFixture<PsaClient> {
    let ds = dataset(size);
    let sim = autotask_sim().await;
    load_autotask(&sim.sim, &ds, AT_RESOURCE).unwrap();
    let client = PsaClient::Autotask(autotask_client(&sim, patient_policy()));
    VendorFixture {
        name: "Autotask",
        psa: Some(kind(&client, PsaKind::Autotask)),
        client,
        ds,
        sim: sim.sim,
        server: sim.server,
        modified_since: &[Entity::Organization, Entity::Contact, Entity::Configuration],
        key_search_ignores_case: true,
        listed_apart: &[],
        writes: Some(Writes {
            creates: vec![
                (
                    Entity::Organization,
                    zeta("Customer").with(Field::Status, "Active"),
                ),
                (Entity::Contact, ada().with(Field::Mobile, "+1 555 0101")),
                (Entity::Configuration, server()),
            ],
            fills_in: vec![],
            updates: vec![(
                Entity::Configuration,
                changes(&[INACTIVE, (Field::SerialNumber, Some("SN9"))]),
            )],
        }),
    }
}

pub async fn kaseya_bms(size: usize) -> VendorFixture<PsaClient> {
    bms_family(size, BmsFlavor::KaseyaBms).await
}

pub async fn pulseway_psa(size: usize) -> VendorFixture<PsaClient> {
    bms_family(size, BmsFlavor::PulsewayPsa).await
}

/// Kaseya BMS and Pulseway PSA share the v2 API and its client: the same writes, and the same
/// fill-ins (an account is active unless told otherwise). Kaseya BMS locations are synced but
/// have no v2 write path: absent from the creates, so the suite expects `Unsupported`; an asset
/// is placed at its account's main location. Pulseway PSA has no locations.
async fn bms_family(size: usize, flavor: BmsFlavor) -> VendorFixture<PsaClient> {
    let pulseway = flavor == BmsFlavor::PulsewayPsa;
    let ds = dataset(size);
    let sim = bms_sim(pulseway).await;
    load_bms(&sim.sim, &ds).unwrap();
    let client = bms_client(&sim, flavor, patient_policy());
    let (name, client, psa) = match pulseway {
        false => (
            "Kaseya BMS",
            PsaClient::KaseyaBms(client),
            PsaKind::KaseyaBms,
        ),
        true => (
            "Pulseway PSA",
            PsaClient::PulsewayPsa(client),
            PsaKind::PulsewayPsa,
        ),
    };
    let mut fills_in = vec![(Entity::Organization, Field::Status, Some("Active"))];
    if !pulseway {
        fills_in.push((Entity::Configuration, Field::Location, None));
    }
    VendorFixture {
        name,
        psa: Some(kind(&client, psa)),
        client,
        ds,
        sim: sim.sim,
        server: sim.server,
        modified_since: &[Entity::Organization, Entity::Contact],
        key_search_ignores_case: true,
        listed_apart: &[],
        writes: Some(Writes {
            creates: vec![
                (
                    Entity::Organization,
                    zeta("Client").with(Field::ShortName, "ZTO"),
                ),
                (
                    Entity::Contact,
                    ada()
                        .with(Field::Title, "CTO")
                        .with(Field::Phone, "+1 555 0100"),
                ),
                (
                    Entity::Configuration,
                    server().with(Field::Manufacturer, "Dell"),
                ),
            ],
            fills_in,
            updates: vec![
                (
                    Entity::Organization,
                    changes(&[(Field::Name, Some("Zeta Renamed"))]),
                ),
                (
                    Entity::Contact,
                    changes(&[NEW_EMAIL, (Field::Title, Some("CEO"))]),
                ),
                (
                    Entity::Configuration,
                    changes(&[(Field::SerialNumber, Some("SN9")), INACTIVE]),
                ),
            ],
        }),
    }
}

pub async fn tigerpaw(size: usize) -> VendorFixture<PsaClient> {
    let ds = dataset(size);
    let sim = tigerpaw_sim().await;
    load_tigerpaw(&sim.sim, &ds).unwrap();
    let client = PsaClient::Tigerpaw(tigerpaw_client(&sim, patient_policy()));
    VendorFixture {
        name: "Tigerpaw",
        psa: Some(kind(&client, PsaKind::Tigerpaw)),
        client,
        ds,
        sim: sim.sim,
        server: sim.server,
        modified_since: &[],
        key_search_ignores_case: true,
        listed_apart: &[],
        writes: None,
    }
}
