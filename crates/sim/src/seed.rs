//! Deterministic seed data: the same `(seed, size)` always gives the same organizations,
//! configurations (with serials and MACs), contacts and locations, rendered in each vendor's
//! vocabulary (types and statuses) and loaded into the simulators in-process.
//!
//! `size` is the number of organizations (10 to 100,000 are the intended range); each gets one
//! location, two contacts and two configurations by default. Organization names are unique and
//! contacts unique per organization, so the exact-match keys are unambiguous unless a test makes
//! them ambiguous on purpose.

use std::collections::{HashMap, HashSet};

use serde_json::{json, Value};

use crate::admin::{AdminError, AdminOps};
use crate::autotask::AutotaskSim;
use crate::connectwise::ConnectWiseSim;
use crate::itglue::ItGlueSim;
use crate::kaseya_bms::BmsSim;
use crate::rng::SimRng;
use crate::tigerpaw::TigerpawSim;

const ADJECTIVES: [&str; 24] = [
    "Blue",
    "Northern",
    "Summit",
    "Granite",
    "Silver",
    "Harbor",
    "Pioneer",
    "Cedar",
    "Atlas",
    "Bright",
    "Coastal",
    "Evergreen",
    "Golden",
    "Iron",
    "Liberty",
    "Maple",
    "Metro",
    "Oak",
    "Prairie",
    "Red",
    "River",
    "Sterling",
    "Union",
    "Valley",
];
const NOUNS: [&str; 24] = [
    "Dental",
    "Logistics",
    "Legal",
    "Bakery",
    "Clinic",
    "Builders",
    "Accounting",
    "Realty",
    "Foods",
    "Motors",
    "Design",
    "Farms",
    "Insurance",
    "Labs",
    "Media",
    "Outfitters",
    "Pharmacy",
    "Printing",
    "Robotics",
    "Solar",
    "Studios",
    "Textiles",
    "Travel",
    "Veterinary",
];
const SUFFIXES: [&str; 6] = ["Inc", "LLC", "Ltd", "Group", "& Co", "Partners"];
const FIRST: [&str; 20] = [
    "Ada", "Ben", "Chloé", "Dmitri", "Eve", "Farah", "Gus", "Hana", "Ivan", "Jo", "Kai", "Lena",
    "Mateo", "Nia", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tara",
];
const LAST: [&str; 20] = [
    "Lovelace", "Okafor", "Müller", "Nakamura", "O'Brien", "Smith", "García", "Kowalski", "Chen",
    "Dubois", "Haddad", "Ivanova", "Jensen", "Khan", "Larsen", "Moreau", "Novak", "Patel", "Rossi",
    "Svensson",
];
const TITLES: [&str; 6] = [
    "Owner",
    "Office Manager",
    "CFO",
    "IT Contact",
    "Director",
    "Assistant",
];
const CITIES: [(&str, &str, &str); 6] = [
    ("Springfield", "IL", "United States"),
    ("Portland", "OR", "United States"),
    ("Toronto", "ON", "Canada"),
    ("Manchester", "England", "United Kingdom"),
    ("Austin", "TX", "United States"),
    ("Vancouver", "BC", "Canada"),
];
const STREETS: [&str; 8] = [
    "Main St",
    "Oak Ave",
    "Market St",
    "King St",
    "Elm St",
    "Harbour Rd",
    "Park Ln",
    "1st Ave",
];
/// (name, hostname tag) of configuration types.
const CONFIG_TYPES: [(&str, &str); 6] = [
    ("Server", "SRV"),
    ("Workstation", "WS"),
    ("Laptop", "LT"),
    ("Firewall", "FW"),
    ("Switch", "SW"),
    ("Printer", "PR"),
];
const MANUFACTURERS: [(&str, &str); 4] = [
    ("Dell", "PowerEdge R650"),
    ("HP", "EliteBook 840"),
    ("Lenovo", "ThinkCentre M70"),
    ("Cisco", "Meraki MX68"),
];

/// Canonical organization kinds; each vendor names them in its own words.
pub const ORG_KINDS: [&str; 4] = ["Customer", "Prospect", "Vendor", "Partner"];

/// How much to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeedSpec {
    pub seed: u64,
    pub organizations: usize,
    pub locations_per_org: usize,
    pub contacts_per_org: usize,
    pub configurations_per_org: usize,
}

impl SeedSpec {
    /// `size` organizations with 1 location, 2 contacts and 2 configurations each.
    pub fn sized(seed: u64, size: usize) -> Self {
        SeedSpec {
            seed,
            organizations: size,
            locations_per_org: 1,
            contacts_per_org: 2,
            configurations_per_org: 2,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenOrg {
    pub name: String,
    pub short_name: String,
    /// Index into [`ORG_KINDS`].
    pub kind: usize,
    pub active: bool,
    pub phone: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenLocation {
    /// Index of the organization.
    pub org: usize,
    pub name: String,
    pub address_1: String,
    pub address_2: String,
    pub city: String,
    pub region: String,
    pub postal_code: String,
    pub country: String,
    pub phone: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenContact {
    pub org: usize,
    pub first_name: String,
    pub last_name: String,
    pub title: String,
    pub email: String,
    pub phone: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenConfig {
    pub org: usize,
    pub name: String,
    /// Index into the configuration types.
    pub kind: usize,
    pub active: bool,
    pub serial: String,
    pub mac: String,
    pub ip: String,
    /// Index into the manufacturer/model table.
    pub make: usize,
}

/// A generated data set, vendor-neutral.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dataset {
    pub organizations: Vec<GenOrg>,
    pub locations: Vec<GenLocation>,
    pub contacts: Vec<GenContact>,
    pub configurations: Vec<GenConfig>,
}

fn hex(rng: &mut SimRng, digits: usize) -> String {
    (0..digits)
        .map(|_| char::from_digit(rng.below(16) as u32, 16).unwrap_or('0'))
        .collect::<String>()
        .to_uppercase()
}

/// A unique organization name: a random combination, numbered when it was used before.
/// `taken` counts uses per combination, so large sets stay linear.
fn org_name(rng: &mut SimRng, taken: &mut HashMap<String, usize>) -> String {
    let base = format!(
        "{} {} {}",
        rng.pick(&ADJECTIVES),
        rng.pick(&NOUNS),
        rng.pick(&SUFFIXES)
    );
    let uses = taken.entry(base.clone()).or_insert(0);
    *uses += 1;
    match *uses {
        1 => base,
        n => format!("{base} {n}"),
    }
}

fn short_name(name: &str, index: usize) -> String {
    let initials: String = name
        .split_whitespace()
        .filter_map(|w| w.chars().next())
        .filter(char::is_ascii_alphabetic)
        .collect();
    format!("{}{}", initials.to_uppercase(), index + 1)
}

impl Dataset {
    /// Generates the data set of a spec. Deterministic: same spec, same data.
    pub fn generate(spec: SeedSpec) -> Dataset {
        let mut rng = SimRng::new(spec.seed);
        let mut taken = HashMap::new();
        let mut ds = Dataset::default();
        for i in 0..spec.organizations {
            let name = org_name(&mut rng, &mut taken);
            let org = GenOrg {
                short_name: short_name(&name, i),
                name,
                // Mostly customers, as in a real MSP's PSA.
                kind: if rng.chance(0.7) {
                    0
                } else {
                    1 + rng.below(3) as usize
                },
                active: rng.chance(0.9),
                phone: format!("+1 555 {:03} {:04}", rng.below(1000), rng.below(10_000)),
            };
            for l in 0..spec.locations_per_org {
                let (city, region, country) = *rng.pick(&CITIES);
                ds.locations.push(GenLocation {
                    org: i,
                    name: if l == 0 {
                        "Main Office".into()
                    } else {
                        format!("Branch {l}")
                    },
                    address_1: format!("{} {}", 1 + rng.below(9999), rng.pick(&STREETS)),
                    address_2: if rng.chance(0.3) {
                        format!("Suite {}", 100 + rng.below(900))
                    } else {
                        String::new()
                    },
                    city: city.into(),
                    region: region.into(),
                    postal_code: format!("{:05}", rng.below(100_000)),
                    country: country.into(),
                    phone: org.phone.clone(),
                });
            }
            let mut people = HashSet::new();
            for _ in 0..spec.contacts_per_org {
                let (first, last) = loop {
                    let pair = (rng.pick(&FIRST).to_string(), rng.pick(&LAST).to_string());
                    if people.insert(pair.clone()) || people.len() >= FIRST.len() * LAST.len() {
                        break pair;
                    }
                };
                let domain: String = org.short_name.to_lowercase();
                ds.contacts.push(GenContact {
                    org: i,
                    email: format!("{}.{}@{domain}.example.com", ascii(&first), ascii(&last)),
                    first_name: first,
                    last_name: last,
                    title: rng.pick(&TITLES).to_string(),
                    phone: format!("+1 555 {:03} {:04}", rng.below(1000), rng.below(10_000)),
                });
            }
            for c in 0..spec.configurations_per_org {
                let kind = rng.below(CONFIG_TYPES.len() as u64) as usize;
                ds.configurations.push(GenConfig {
                    org: i,
                    name: format!("{}-{}{:02}", org.short_name, CONFIG_TYPES[kind].1, c + 1),
                    kind,
                    active: rng.chance(0.95),
                    serial: format!("SN{}", hex(&mut rng, 10)),
                    mac: (0..6)
                        .map(|_| hex(&mut rng, 2))
                        .collect::<Vec<_>>()
                        .join(":"),
                    ip: format!(
                        "10.{}.{}.{}",
                        rng.below(256),
                        rng.below(256),
                        1 + rng.below(254)
                    ),
                    make: rng.below(MANUFACTURERS.len() as u64) as usize,
                });
            }
            ds.organizations.push(org);
        }
        ds
    }
}

/// Lower-case ASCII for e-mail local parts (`Chloé` → `chloe`).
fn ascii(s: &str) -> String {
    s.chars()
        .filter_map(|c| match c {
            'é' | 'è' => Some('e'),
            'ü' => Some('u'),
            'í' => Some('i'),
            'á' => Some('a'),
            c if c.is_ascii_alphanumeric() => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}

fn named(names: &[&str]) -> Vec<Value> {
    names
        .iter()
        .enumerate()
        .map(|(i, n)| json!({"id": i + 1, "name": n}))
        .collect()
}

/// Loads a data set into the IT Glue simulator (ids = position + 1). Records are marked
/// `manual` unless `source` says otherwise.
pub fn load_itglue(sim: &ItGlueSim, ds: &Dataset, source: &str) -> Result<(), AdminError> {
    let types: Vec<&str> = CONFIG_TYPES.iter().map(|t| t.0).collect();
    let makers: Vec<&str> = MANUFACTURERS.iter().map(|m| m.0).collect();
    sim.seed("organization_types", named(&ORG_KINDS))?;
    sim.seed("organization_statuses", named(&["Active", "Inactive"]))?;
    sim.seed("configuration_types", named(&types))?;
    sim.seed("configuration_statuses", named(&["Active", "Inactive"]))?;
    sim.seed("manufacturers", named(&makers))?;
    let models: Vec<Value> = MANUFACTURERS
        .iter()
        .enumerate()
        .map(|(i, (_, m))| json!({"id": i + 1, "name": m, "manufacturer-id": i + 1}))
        .collect();
    sim.seed("models", models)?;
    // IT Glue's countries and regions are global lists a location refers to by id (a write takes
    // `region_id` / `country_id` only), so the ones the data set uses are seeded.
    let mut countries: Vec<&str> = Vec::new();
    for (_, _, country) in CITIES {
        if !countries.contains(&country) {
            countries.push(country);
        }
    }
    let country_id = |name: &str| countries.iter().position(|c| *c == name).map(|i| i + 1);
    sim.seed("countries", named(&countries))?;
    let regions: Vec<Value> = CITIES
        .iter()
        .enumerate()
        .map(|(i, (_, region, country))| {
            json!({"id": i + 1, "name": region, "country-id": country_id(country)})
        })
        .collect();
    sim.seed("regions", regions)?;
    let region_id = |name: &str| CITIES.iter().position(|c| c.1 == name).map(|i| i + 1);
    let status = |active: bool| if active { 1 } else { 2 };
    sim.seed(
        "organizations",
        ds.organizations
            .iter()
            .enumerate()
            .map(|(i, o)| {
                json!({"id": i + 1, "name": o.name, "short-name": o.short_name,
                    "organization-type-id": o.kind + 1, "organization-status-id": status(o.active),
                    "_source": source})
            })
            .collect(),
    )?;
    sim.seed(
        "locations",
        ds.locations
            .iter()
            .map(|l| {
                json!({"organization-id": l.org + 1, "name": l.name, "address-1": l.address_1,
                    "address-2": l.address_2, "city": l.city, "region-id": region_id(&l.region),
                    "postal-code": l.postal_code, "country-id": country_id(&l.country), "phone": l.phone,
                    "_source": source})
            })
            .collect(),
    )?;
    sim.seed(
        "contacts",
        ds.contacts
            .iter()
            .map(|c| {
                json!({"organization-id": c.org + 1, "first-name": c.first_name,
                    "last-name": c.last_name, "title": c.title,
                    "contact-emails": [{"value": c.email, "primary": true, "label-name": "Work"}],
                    "contact-phones": [{"value": c.phone, "primary": true, "label-name": "Work",
                        "label-type": "phone"}],
                    "_source": source})
            })
            .collect(),
    )?;
    sim.seed(
        "configurations",
        ds.configurations
            .iter()
            .map(|c| {
                json!({"organization-id": c.org + 1, "name": c.name,
                    "configuration-type-id": c.kind + 1, "configuration-status-id": status(c.active),
                    "serial-number": c.serial, "mac-address": c.mac, "primary-ip": c.ip,
                    "manufacturer-id": c.make + 1, "model-id": c.make + 1, "_source": source})
            })
            .collect(),
    )?;
    Ok(())
}

/// ConnectWise's words for [`ORG_KINDS`].
const CW_COMPANY_TYPES: [&str; 4] = ["Client", "Prospect", "Vendor", "Partner"];

/// Id of the record of a ConnectWise lookup whose `key` is `value` (the simulator starts with
/// states, countries, communication types and manufacturers; references are written by id).
fn cw_lookup_id(
    sim: &ConnectWiseSim,
    collection: &str,
    key: &str,
    value: &str,
) -> Result<u64, AdminError> {
    sim.state(collection)?
        .iter()
        .find(|r| r.get(key).and_then(Value::as_str) == Some(value))
        .and_then(|r| r.get("id").and_then(Value::as_u64))
        .ok_or_else(|| AdminError::Invalid(format!("no ConnectWise {collection} {value:?}")))
}

/// Loads a data set into the ConnectWise simulator (company ids = position + 1). A company
/// carries the address of its first location (ConnectWise requires an address field).
pub fn load_connectwise(sim: &ConnectWiseSim, ds: &Dataset) -> Result<(), AdminError> {
    let types: Vec<&str> = CONFIG_TYPES.iter().map(|t| t.0).collect();
    sim.seed("company_types", named(&CW_COMPANY_TYPES))?;
    sim.seed(
        "company_statuses",
        named(&["Active", "Inactive", "Not-Approved"]),
    )?;
    sim.seed("configuration_types", named(&types))?;
    sim.seed("configuration_statuses", named(&["Active", "Inactive"]))?;
    let status = |active: bool| json!({"id": if active { 1 } else { 2 }});
    let mut first_location: Vec<Option<&GenLocation>> = vec![None; ds.organizations.len()];
    for l in &ds.locations {
        if let Some(slot @ None) = first_location.get_mut(l.org) {
            *slot = Some(l);
        }
    }
    let mut countries: HashMap<&str, u64> = HashMap::new();
    let mut states: HashMap<&str, u64> = HashMap::new();
    for l in &ds.locations {
        if !countries.contains_key(l.country.as_str()) {
            countries.insert(
                &l.country,
                cw_lookup_id(sim, "countries", "name", &l.country)?,
            );
        }
        if !states.contains_key(l.region.as_str()) {
            states.insert(
                &l.region,
                cw_lookup_id(sim, "states", "identifier", &l.region)?,
            );
        }
    }
    sim.seed(
        "companies",
        ds.organizations
            .iter()
            .enumerate()
            .map(|(i, o)| {
                let mut company = json!({"id": i + 1, "identifier": o.short_name, "name": o.name,
                    "status": status(o.active), "types": [{"id": o.kind + 1}],
                    "phoneNumber": o.phone});
                if let Some(l) = first_location[i] {
                    company["addressLine1"] = l.address_1.clone().into();
                    company["city"] = l.city.clone().into();
                    company["state"] = l.region.clone().into();
                    company["zip"] = l.postal_code.clone().into();
                    company["country"] = json!({"id": countries[l.country.as_str()]});
                } else {
                    company["city"] = "Unknown".into();
                }
                company
            })
            .collect(),
    )?;
    sim.seed(
        "sites",
        ds.locations
            .iter()
            .map(|l| {
                json!({"company": {"id": l.org + 1}, "name": l.name, "addressLine1": l.address_1,
                    "addressLine2": l.address_2, "city": l.city,
                    "stateReference": {"id": states[l.region.as_str()]}, "zip": l.postal_code,
                    "country": {"id": countries[l.country.as_str()]}, "phoneNumber": l.phone,
                    "primaryAddressFlag": l.name == "Main Office"})
            })
            .collect(),
    )?;
    let email = cw_lookup_id(sim, "communication_types", "description", "Email")?;
    let direct = cw_lookup_id(sim, "communication_types", "description", "Direct")?;
    let makers = MANUFACTURERS
        .iter()
        .map(|(m, _)| cw_lookup_id(sim, "manufacturers", "name", m))
        .collect::<Result<Vec<u64>, _>>()?;
    sim.seed(
        "contacts",
        ds.contacts
            .iter()
            .map(|c| {
                json!({"company": {"id": c.org + 1}, "firstName": c.first_name,
                    "lastName": c.last_name, "title": c.title,
                    "communicationItems": [
                        {"type": {"id": email}, "value": c.email, "communicationType": "Email", "defaultFlag": true},
                        {"type": {"id": direct}, "value": c.phone, "communicationType": "Phone", "defaultFlag": true}
                    ]})
            })
            .collect(),
    )?;
    sim.seed(
        "configurations",
        ds.configurations
            .iter()
            .map(|c| {
                json!({"company": {"id": c.org + 1}, "name": c.name, "type": {"id": c.kind + 1},
                    "status": status(c.active), "serialNumber": c.serial, "macAddress": c.mac,
                    "ipAddress": c.ip, "manufacturer": {"id": makers[c.make]},
                    "modelNumber": MANUFACTURERS[c.make].1, "activeFlag": c.active})
            })
            .collect(),
    )?;
    Ok(())
}

/// Autotask `companyType` picklist values for [`ORG_KINDS`] (1 Customer, 3 Prospect, 7 Vendor,
/// 8 Partner).
const AT_COMPANY_TYPES: [u64; 4] = [1, 3, 7, 8];

/// Loads a data set into the Autotask simulator (company ids = position + 1). Locations are not
/// loaded: Autotask does not sync them (DESIGN §3 capability matrix). The configuration item
/// type picklist gets the configuration types (values 1…), and `Products` one product per
/// manufacturer/model (ids 1…), which configuration items point at with `productID`, plus the
/// "Generic Configuration Item" for items without manufacturer and model; the
/// company types are Autotask's standard picklist the simulator starts with.
pub fn load_autotask(
    sim: &AutotaskSim,
    ds: &Dataset,
    owner_resource_id: u64,
) -> Result<(), AdminError> {
    sim.seed(
        crate::autotask::PICKLISTS,
        CONFIG_TYPES
            .iter()
            .enumerate()
            .map(|(i, (name, _))| {
                json!({"entity": "ConfigurationItems", "field": "configurationItemType",
                    "value": i + 1, "label": name, "isActive": true})
            })
            .collect(),
    )?;
    let mut products: Vec<Value> = MANUFACTURERS
        .iter()
        .enumerate()
        .map(|(i, (maker, model))| {
            json!({"id": i + 1, "name": format!("{maker} {model}"), "manufacturerName": maker,
                "manufacturerProductName": model, "productBillingCodeID": 1,
                "isSerialized": true, "isActive": true})
        })
        .collect();
    // Autotask requires a product on every configuration item: the tenant's product for items
    // without manufacturer and model (the connector's default fallback product name).
    products.push(
        json!({"id": MANUFACTURERS.len() + 1, "name": "Generic Configuration Item",
        "productBillingCodeID": 1, "isSerialized": false, "isActive": true}),
    );
    sim.seed("Products", products)?;
    sim.seed(
        "Companies",
        ds.organizations
            .iter()
            .enumerate()
            .map(|(i, o)| {
                let loc = ds.locations.iter().find(|l| l.org == i);
                json!({"id": i + 1, "companyName": o.name, "companyNumber": o.short_name,
                    "companyType": AT_COMPANY_TYPES[o.kind], "isActive": o.active,
                    "phone": o.phone, "ownerResourceID": owner_resource_id,
                    "address1": loc.map(|l| l.address_1.clone()), "city": loc.map(|l| l.city.clone())})
            })
            .collect(),
    )?;
    sim.seed(
        "Contacts",
        ds.contacts
            .iter()
            .map(|c| {
                json!({"companyID": c.org + 1, "firstName": c.first_name, "lastName": c.last_name,
                    "title": c.title, "emailAddress": c.email, "phone": c.phone, "isActive": 1})
            })
            .collect(),
    )?;
    sim.seed(
        "ConfigurationItems",
        ds.configurations
            .iter()
            .map(|c| {
                json!({"companyID": c.org + 1, "referenceTitle": c.name,
                    "serialNumber": c.serial, "configurationItemType": c.kind + 1,
                    "productID": c.make + 1, "isActive": c.active})
            })
            .collect(),
    )?;
    Ok(())
}

/// Loads a data set into the Kaseya BMS / Pulseway PSA simulator (account ids = position + 1;
/// locations embedded per account, contacts and hardware assets point at them).
pub fn load_bms(sim: &BmsSim, ds: &Dataset) -> Result<(), AdminError> {
    let types: Vec<&str> = CONFIG_TYPES.iter().map(|t| t.0).collect();
    let makers: Vec<&str> = MANUFACTURERS.iter().map(|m| m.0).collect();
    sim.seed(
        "accounttypes",
        named(&["Client", "Prospect", "Vendor", "Partner"]),
    )?;
    sim.seed("categories", named(&types))?;
    sim.seed("manufacturers", named(&makers))?;
    sim.seed("assetstates", named(&["Active", "Inactive"]))?;
    // Location ids are assigned in order: the n-th generated location gets id n + 1.
    let accounts: Vec<Value> = ds
        .organizations
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let locations: Vec<Value> = ds
                .locations
                .iter()
                .enumerate()
                .filter(|(_, l)| l.org == i)
                .map(|(n, l)| {
                    json!({"id": n + 1, "locationName": l.name, "isMain": l.name == "Main Office",
                        "isActive": true, "addresses": [{"address1": l.address_1, "address2": l.address_2,
                        "city": l.city, "state": l.region, "zipCode": l.postal_code,
                        "country": l.country, "phone": l.phone, "isMain": true}]})
                })
                .collect();
            json!({"id": i + 1, "accountName": o.name, "accountCode": o.short_name,
                "accountTypeId": o.kind + 1, "businessTypeId": 1, "accountManagerId": 1,
                "isActive": o.active, "phone": o.phone, "locations": locations})
        })
        .collect();
    sim.seed("accounts", accounts)?;
    let main_location = |org: usize| {
        ds.locations
            .iter()
            .position(|l| l.org == org)
            .map(|n| n + 1)
    };
    sim.seed(
        "contacts",
        ds.contacts
            .iter()
            .map(|c| {
                json!({"accountId": c.org + 1, "locationId": main_location(c.org),
                    "firstName": c.first_name, "lastName": c.last_name, "jobTitle": c.title,
                    "isActive": true,
                    "emails": [{"emailAddress": c.email, "emailTypeId": 1, "emailType": "Work", "isDefault": true}],
                    "phones": [{"phone": c.phone, "phoneTypeId": 1, "phoneType": "Office", "isDefault": true}]})
            })
            .collect(),
    )?;
    sim.seed(
        "hardwareassets",
        ds.configurations
            .iter()
            .map(|c| {
                json!({"name": c.name, "accountId": c.org + 1, "accountLocationId": main_location(c.org),
                    "categoryId": c.kind + 1, "stateId": if c.active { 1 } else { 2 },
                    "serialNumber": c.serial, "macAddress": c.mac, "ipAddress": c.ip,
                    "manufacturerId": c.make + 1, "modelNumber": MANUFACTURERS[c.make].1,
                    "isActive": c.active})
            })
            .collect(),
    )?;
    Ok(())
}

/// Loads a data set into the Tigerpaw simulator (account numbers = position + 1). Tigerpaw has no
/// locations or configurations: the first location becomes the account's address.
pub fn load_tigerpaw(sim: &TigerpawSim, ds: &Dataset) -> Result<(), AdminError> {
    let mut first_contact = vec![None; ds.organizations.len()];
    for (n, c) in ds.contacts.iter().enumerate() {
        first_contact[c.org].get_or_insert(n + 1);
    }
    sim.seed(
        "accounts",
        ds.organizations
            .iter()
            .enumerate()
            .map(|(i, o)| {
                let loc = ds.locations.iter().find(|l| l.org == i);
                let addr = |f: fn(&GenLocation) -> &String| loc.map(|l| f(l).clone()).unwrap_or_default();
                json!({"AccountNumber": i + 1, "PhoneNumber": o.phone, "FaxNumber": "",
                    "Account": {"Name": o.name, "AccountId": o.short_name, "AccountType": ORG_KINDS[o.kind],
                        "Status": if o.active { "Active" } else { "Inactive" },
                        "Address1": addr(|l| &l.address_1), "Address2": addr(|l| &l.address_2),
                        "City": addr(|l| &l.city), "State": addr(|l| &l.region),
                        "PostalCode": addr(|l| &l.postal_code), "Country": addr(|l| &l.country),
                        "PrimaryContactNumber": first_contact[i]}})
            })
            .collect(),
    )?;
    sim.seed(
        "contacts",
        ds.contacts
            .iter()
            .enumerate()
            .map(|(n, c)| {
                json!({"ContactNumber": n + 1, "PhoneNumber": c.phone, "EmailAddress": c.email,
                    "Contact": {"AccountNumber": c.org + 1, "FirstName": c.first_name,
                        "LastName": c.last_name, "Title": c.title, "Inactive": false}})
            })
            .collect(),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_data_and_unique_keys() {
        let a = Dataset::generate(SeedSpec::sized(7, 300));
        let b = Dataset::generate(SeedSpec::sized(7, 300));
        assert_eq!(a, b);
        assert_ne!(a, Dataset::generate(SeedSpec::sized(8, 300)));
        assert_eq!(a.organizations.len(), 300);
        assert_eq!(
            (a.contacts.len(), a.configurations.len(), a.locations.len()),
            (600, 600, 300)
        );
        let names: HashSet<&str> = a.organizations.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(names.len(), 300, "organization names are unique");
        let people: HashSet<(usize, &str, &str)> = a
            .contacts
            .iter()
            .map(|c| (c.org, c.first_name.as_str(), c.last_name.as_str()))
            .collect();
        assert_eq!(people.len(), 600, "contacts unique per organization");
        assert!(a
            .configurations
            .iter()
            .all(|c| c.mac.len() == 17 && c.serial.len() == 12));
    }

    #[test]
    fn names_stay_unique_up_to_100000_organizations() {
        let spec = SeedSpec {
            contacts_per_org: 0,
            configurations_per_org: 0,
            locations_per_org: 0,
            ..SeedSpec::sized(1, 100_000)
        };
        let ds = Dataset::generate(spec);
        let names: HashSet<&str> = ds.organizations.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(names.len(), 100_000);
    }
}
