//! Canonical fields and the per-PSA field maps (reference/sync-rules-and-apis.md §2).
//!
//! Records carry their values under [`Field`] names in IT Glue's vocabulary; connectors translate
//! vendor JSON to and from these. A field map says, for one PSA and one entity, which fields sync and
//! in which direction. Fields outside the map are never written by sync.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::Entity;
use crate::psa::PsaKind;

/// A canonical field. Reference fields (`Contact`, `Location`) hold the id of the referenced record
/// *on the record's own side*; the engine translates them through links.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    Name,
    /// Organization type, configuration type or contact type (by name).
    Type,
    /// Organization or configuration status (by name).
    Status,
    ShortName,
    // Configurations
    SerialNumber,
    MacAddress,
    AssetTag,
    Manufacturer,
    Model,
    Notes,
    PrimaryIp,
    DefaultGateway,
    OperatingSystem,
    InstalledAt,
    InstalledBy,
    PurchasedAt,
    WarrantyExpiresAt,
    /// Reference: the configuration's contact.
    Contact,
    /// Reference: the record's location.
    Location,
    // Contacts
    FirstName,
    LastName,
    Title,
    Email,
    Phone,
    Mobile,
    Fax,
    Important,
    // Locations
    #[serde(rename = "address_1")]
    Address1,
    #[serde(rename = "address_2")]
    Address2,
    City,
    Region,
    PostalCode,
    Country,
}

impl Field {
    /// For reference fields: the entity the value points at.
    pub fn references(self) -> Option<Entity> {
        match self {
            Field::Contact => Some(Entity::Contact),
            Field::Location => Some(Entity::Location),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Field::Name => "name",
            Field::Type => "type",
            Field::Status => "status",
            Field::ShortName => "short_name",
            Field::SerialNumber => "serial_number",
            Field::MacAddress => "mac_address",
            Field::AssetTag => "asset_tag",
            Field::Manufacturer => "manufacturer",
            Field::Model => "model",
            Field::Notes => "notes",
            Field::PrimaryIp => "primary_ip",
            Field::DefaultGateway => "default_gateway",
            Field::OperatingSystem => "operating_system",
            Field::InstalledAt => "installed_at",
            Field::InstalledBy => "installed_by",
            Field::PurchasedAt => "purchased_at",
            Field::WarrantyExpiresAt => "warranty_expires_at",
            Field::Contact => "contact",
            Field::Location => "location",
            Field::FirstName => "first_name",
            Field::LastName => "last_name",
            Field::Title => "title",
            Field::Email => "email",
            Field::Phone => "phone",
            Field::Mobile => "mobile",
            Field::Fax => "fax",
            Field::Important => "important",
            Field::Address1 => "address_1",
            Field::Address2 => "address_2",
            Field::City => "city",
            Field::Region => "region",
            Field::PostalCode => "postal_code",
            Field::Country => "country",
        }
    }
}

impl Field {
    /// Every canonical field, in declaration order.
    pub const ALL: [Field; 33] = [
        Name,
        Type,
        Status,
        ShortName,
        SerialNumber,
        MacAddress,
        AssetTag,
        Manufacturer,
        Model,
        Notes,
        PrimaryIp,
        DefaultGateway,
        OperatingSystem,
        InstalledAt,
        InstalledBy,
        PurchasedAt,
        WarrantyExpiresAt,
        Contact,
        Location,
        FirstName,
        LastName,
        Title,
        Email,
        Phone,
        Mobile,
        Fax,
        Important,
        Address1,
        Address2,
        City,
        Region,
        PostalCode,
        Country,
    ];
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which way a mapped field syncs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// PSA → IT Glue, and IT Glue → PSA when two-way is enabled.
    Both,
    /// PSA → IT Glue only: an IT Glue edit is reverted, never pushed.
    PsaToItGlue,
}

/// One mapped field of a field map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FieldSpec {
    pub field: Field,
    pub direction: Direction,
}

const fn both(field: Field) -> FieldSpec {
    FieldSpec {
        field,
        direction: Direction::Both,
    }
}

const fn one_way(field: Field) -> FieldSpec {
    FieldSpec {
        field,
        direction: Direction::PsaToItGlue,
    }
}

use Field::*;

const ORG: &[FieldSpec] = &[both(Name), both(Type), both(Status), both(ShortName)];
const ORG_ONE_WAY: &[FieldSpec] = &[
    one_way(Name),
    one_way(Type),
    one_way(Status),
    one_way(ShortName),
];

// ConnectWise configuration ⇄ configuration (reference §2.1).
const CW_CONFIG: &[FieldSpec] = &[
    both(Name),
    both(Type),
    both(Status),
    both(AssetTag),
    both(Contact),
    both(DefaultGateway),
    both(InstalledAt),
    both(InstalledBy),
    both(Location),
    both(Manufacturer),
    both(Model),
    both(Notes),
    both(OperatingSystem),
    both(PrimaryIp),
    both(PurchasedAt),
    both(SerialNumber),
    both(MacAddress),
    both(WarrantyExpiresAt),
];
// Autotask configuration item (reference §2.2): no MAC, IP, gateway or OS in the map. Installed By
// is in IT Glue's map but not synced here: Autotask holds it as a resource or contact id, which the
// connector does not resolve yet; a mapped field the connector cannot read would read as empty and
// make the PSA "win" by clearing IT Glue's value (docs/vendors.md, Autotask connector).
const AT_CONFIG: &[FieldSpec] = &[
    both(Name),
    both(Type),
    both(Status),
    both(AssetTag),
    both(Contact),
    both(InstalledAt),
    both(Location),
    both(Manufacturer),
    both(Model),
    both(Notes),
    both(SerialNumber),
    both(WarrantyExpiresAt),
];
// Kaseya BMS / Pulseway PSA asset (reference §2.3).
const BMS_CONFIG: &[FieldSpec] = &[
    both(Name),
    both(Type),
    both(Status),
    both(AssetTag),
    both(Contact),
    both(DefaultGateway),
    both(PrimaryIp),
    both(Location),
    both(Manufacturer),
    both(Model),
    both(Notes),
    both(OperatingSystem),
    both(PurchasedAt),
    both(SerialNumber),
    both(MacAddress),
    both(WarrantyExpiresAt),
];

const CW_CONTACT: &[FieldSpec] = &[
    both(FirstName),
    both(LastName),
    both(Type),
    both(Title),
    both(Email),
    both(Phone),
    both(Fax),
    both(Location),
];
const AT_CONTACT: &[FieldSpec] = &[
    both(FirstName),
    both(LastName),
    both(Title),
    both(Email),
    both(Phone),
    both(Mobile),
    both(Fax),
    both(Location),
];
const BMS_CONTACT: &[FieldSpec] = &[
    both(FirstName),
    both(LastName),
    both(Title),
    both(Email),
    both(Phone),
    both(Location),
    both(Important),
];
const TIGERPAW_CONTACT: &[FieldSpec] = &[
    one_way(FirstName),
    one_way(LastName),
    one_way(Title),
    one_way(Notes),
    one_way(Email),
    one_way(Phone),
];

// ConnectWise sites: "Phone and fax are only one-way sync." (reference §2.1)
const CW_LOCATION: &[FieldSpec] = &[
    both(Name),
    both(Address1),
    both(Address2),
    both(City),
    both(Region),
    both(PostalCode),
    both(Country),
    one_way(Phone),
    one_way(Fax),
];
const BMS_LOCATION: &[FieldSpec] = &[
    both(Name),
    both(Address1),
    both(Address2),
    both(City),
    both(Region),
    both(PostalCode),
    both(Country),
    both(Phone),
    both(Fax),
];
// Tigerpaw locations come from account address fields; Name ← Address 1 (reference §2.4).
const TIGERPAW_LOCATION: &[FieldSpec] = &[
    one_way(Name),
    one_way(Address1),
    one_way(Address2),
    one_way(City),
    one_way(Region),
    one_way(PostalCode),
    one_way(Country),
    one_way(Phone),
];

/// The mapped fields of `entity` for `psa`. Empty when the PSA does not sync the entity.
pub fn field_map(psa: PsaKind, entity: Entity) -> &'static [FieldSpec] {
    use PsaKind::*;
    match (psa, entity) {
        (Tigerpaw, Entity::Organization) => ORG_ONE_WAY,
        (_, Entity::Organization) => ORG,
        (ConnectWise, Entity::Configuration) => CW_CONFIG,
        (Autotask, Entity::Configuration) => AT_CONFIG,
        (KaseyaBms | PulsewayPsa, Entity::Configuration) => BMS_CONFIG,
        (Tigerpaw, Entity::Configuration) => &[],
        (ConnectWise, Entity::Contact) => CW_CONTACT,
        (Autotask, Entity::Contact) => AT_CONTACT,
        (KaseyaBms | PulsewayPsa, Entity::Contact) => BMS_CONTACT,
        (Tigerpaw, Entity::Contact) => TIGERPAW_CONTACT,
        (ConnectWise, Entity::Location) => CW_LOCATION,
        (KaseyaBms, Entity::Location) => BMS_LOCATION,
        (Tigerpaw, Entity::Location) => TIGERPAW_LOCATION,
        (Autotask | PulsewayPsa, Entity::Location) => &[],
    }
}

/// The fields of an entity's exact match key, besides its organization (DESIGN §3). Configurations
/// additionally compare serial number and MAC address where both sides have a value; that part is
/// not listed here (see the engine's matching rules).
pub fn key_fields(entity: Entity) -> &'static [Field] {
    match entity {
        Entity::Organization => &[Name],
        Entity::Contact => &[FirstName, LastName],
        Entity::Configuration => &[Type, Name],
        Entity::Location => &[Address1, Address2, City, Region, Country],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_names_are_the_display_names() {
        for f in Field::ALL {
            assert_eq!(serde_json::to_string(&f).unwrap(), format!("\"{f}\""));
        }
    }

    #[test]
    fn every_capability_has_a_field_map_and_vice_versa() {
        for psa in PsaKind::ALL {
            let caps = psa.capabilities();
            for entity in Entity::ALL {
                assert_eq!(
                    !field_map(psa, entity).is_empty(),
                    caps.syncs(entity),
                    "{psa} {entity}"
                );
            }
        }
    }

    #[test]
    fn one_way_psas_map_nothing_both_ways() {
        for psa in PsaKind::ALL
            .into_iter()
            .filter(|p| !p.capabilities().two_way)
        {
            for entity in Entity::ALL {
                assert!(field_map(psa, entity)
                    .iter()
                    .all(|s| s.direction == Direction::PsaToItGlue));
            }
        }
    }

    #[test]
    fn connectwise_site_phone_and_fax_are_psa_to_itglue_only() {
        let map = field_map(PsaKind::ConnectWise, Entity::Location);
        for f in [Phone, Fax] {
            let spec = map.iter().find(|s| s.field == f).unwrap();
            assert_eq!(spec.direction, Direction::PsaToItGlue);
        }
        let city = map.iter().find(|s| s.field == City).unwrap();
        assert_eq!(city.direction, Direction::Both);
    }

    #[test]
    fn key_fields_are_mapped_wherever_the_entity_syncs() {
        for psa in PsaKind::ALL {
            for entity in Entity::ALL {
                let map = field_map(psa, entity);
                if map.is_empty() {
                    continue;
                }
                for k in key_fields(entity) {
                    assert!(map.iter().any(|s| s.field == *k), "{psa} {entity} {k}");
                }
            }
        }
    }
}
