//! The field map between canonical fields and IT Glue's JSON:API attributes, in one table per
//! entity; both directions are derived from it: [`to_record`] (IT Glue resource → record) and
//! [`to_attributes`] (changes → the `attributes` of a POST or PATCH).
//!
//! Attributes are kebab-case. Lookups are read by the `*-name` attribute IT Glue joins in and
//! written by `*-id` ([`lookups`](super::lookups)); references (`contact-id`, `location-id`) are
//! IT Glue ids; a contact's e-mails and phones live in lists ([`contact_lists`](super::contact_lists)).

use serde_json::{Map, Value};
use syncbridge_model::{Changes, Entity, Field, Origin, Record, Values};

use super::contact_lists::{self, ListEdits};
use super::lookups::{
    LookupList, ResolveLookup, CONFIGURATION_STATUSES, CONFIGURATION_TYPES, CONTACT_TYPES,
    COUNTRIES, MANUFACTURERS, MODELS, OPERATING_SYSTEMS, ORGANIZATION_STATUSES, ORGANIZATION_TYPES,
    REGIONS,
};
use crate::error::{Error, Result};
use crate::wire::{id_of, millis, text};

/// How IT Glue carries one canonical field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Wire {
    /// A scalar attribute: read as text, written as a string (`null` clears). References (IT Glue
    /// ids) and dates (`YYYY-MM-DD`, which `Values` keeps canonical) travel this way too.
    Plain(&'static str),
    /// A boolean attribute: read as `"true"` when set; written `true` for `"true"` (any case),
    /// `false` for anything else or nothing.
    Flag(&'static str),
    /// An entry of a lookup list: read by name, written by id.
    Lookup(&'static LookupList),
    /// The contact's e-mail, in `contact-emails`.
    ContactEmail,
    /// The contact's phone, mobile or fax (the field says which), in `contact-phones`.
    ContactPhone,
}

use Wire::*;

const ORGANIZATION: &[(Field, Wire)] = &[
    (Field::Name, Plain("name")),
    (Field::Type, Lookup(&ORGANIZATION_TYPES)),
    (Field::Status, Lookup(&ORGANIZATION_STATUSES)),
    (Field::ShortName, Plain("short-name")),
];

const CONFIGURATION: &[(Field, Wire)] = &[
    (Field::Name, Plain("name")),
    (Field::Type, Lookup(&CONFIGURATION_TYPES)),
    (Field::Status, Lookup(&CONFIGURATION_STATUSES)),
    (Field::SerialNumber, Plain("serial-number")),
    (Field::MacAddress, Plain("mac-address")),
    (Field::AssetTag, Plain("asset-tag")),
    (Field::Manufacturer, Lookup(&MANUFACTURERS)),
    (Field::Model, Lookup(&MODELS)),
    (Field::Notes, Plain("notes")),
    (Field::PrimaryIp, Plain("primary-ip")),
    (Field::DefaultGateway, Plain("default-gateway")),
    (Field::OperatingSystem, Lookup(&OPERATING_SYSTEMS)),
    (Field::InstalledAt, Plain("installed-at")),
    (Field::InstalledBy, Plain("installed-by")),
    (Field::PurchasedAt, Plain("purchased-at")),
    (Field::WarrantyExpiresAt, Plain("warranty-expires-at")),
    (Field::Contact, Plain("contact-id")),
    (Field::Location, Plain("location-id")),
];

// A contact has no `name` of its own: IT Glue derives it from the first and last name.
const CONTACT: &[(Field, Wire)] = &[
    (Field::FirstName, Plain("first-name")),
    (Field::LastName, Plain("last-name")),
    (Field::Title, Plain("title")),
    (Field::Type, Lookup(&CONTACT_TYPES)),
    (Field::Notes, Plain("notes")),
    (Field::Location, Plain("location-id")),
    (Field::Important, Flag("important")),
    (Field::Email, ContactEmail),
    (Field::Phone, ContactPhone),
    (Field::Mobile, ContactPhone),
    (Field::Fax, ContactPhone),
];

const LOCATION: &[(Field, Wire)] = &[
    (Field::Name, Plain("name")),
    (Field::Address1, Plain("address-1")),
    (Field::Address2, Plain("address-2")),
    (Field::City, Plain("city")),
    (Field::Region, Lookup(&REGIONS)),
    (Field::PostalCode, Plain("postal-code")),
    (Field::Country, Lookup(&COUNTRIES)),
    (Field::Phone, Plain("phone")),
    (Field::Fax, Plain("fax")),
];

/// The mapped fields of `entity` and how each is carried.
fn table(entity: Entity) -> &'static [(Field, Wire)] {
    match entity {
        Entity::Organization => ORGANIZATION,
        Entity::Configuration => CONFIGURATION,
        Entity::Contact => CONTACT,
        Entity::Location => LOCATION,
    }
}

/// How `field` of `entity` is carried; `None` when IT Glue has no such field.
fn wire_of(entity: Entity, field: Field) -> Option<Wire> {
    table(entity)
        .iter()
        .find(|(f, _)| *f == field)
        .map(|(_, wire)| *wire)
}

/// Whether writing `field` edits a contact list, which needs the contact as it is now.
pub(super) fn writes_a_contact_list(entity: Entity, field: Field) -> bool {
    matches!(wire_of(entity, field), Some(ContactEmail | ContactPhone))
}

/// IT Glue JSON:API resource → canonical record (the read direction).
pub(super) fn to_record(entity: Entity, resource: &Value) -> Result<Record> {
    let attrs = resource
        .get("attributes")
        .filter(|a| a.is_object())
        .ok_or_else(|| Error::malformed("resource without attributes"))?;
    let a = |k: &str| text(attrs.get(k));
    let mut rec = Record::new(id_of(resource, "id")?);
    if entity.has_parent_org() {
        rec.org_id = a("organization-id");
    }
    let mut values = Values::new();
    for (field, wire) in table(entity) {
        values.set(*field, read(attrs, *field, *wire));
    }
    rec.values = values;
    // The only source marker IT Glue's API exposes is the native PSA integration.
    rec.origin = if a("psa-integration").is_some() {
        Origin::Psa
    } else {
        Origin::Manual
    };
    rec.created_at = millis(attrs.get("created-at"));
    rec.updated_at = millis(attrs.get("updated-at"));
    Ok(rec)
}

/// A page of resources → records.
pub(super) fn to_records(entity: Entity, resources: &[Value]) -> Result<Vec<Record>> {
    resources.iter().map(|r| to_record(entity, r)).collect()
}

/// One field's value out of a resource's attributes.
fn read(attrs: &Value, field: Field, wire: Wire) -> Option<String> {
    match wire {
        Plain(key) | Flag(key) => text(attrs.get(key)),
        Lookup(list) => text(attrs.get(list.name_key())),
        ContactEmail => contact_lists::read_email(attrs),
        ContactPhone => contact_lists::read_phone(attrs, field),
    }
}

/// Canonical changes → IT Glue attributes (the write direction), lookup names resolved to ids
/// through `lookups`. `current` is the contact as it is now when a contact list is edited
/// ([`writes_a_contact_list`]); `None` for a create. Fields IT Glue does not have are skipped.
pub(super) async fn to_attributes(
    lookups: &impl ResolveLookup,
    entity: Entity,
    changes: &Changes,
    current: Option<&Value>,
) -> Result<Map<String, Value>> {
    let mut attrs = Map::new();
    let mut lists = ListEdits::new(current);
    for (field, value) in changes {
        let value = value.as_deref().filter(|s| !s.is_empty());
        let Some(wire) = wire_of(entity, *field) else {
            tracing::debug!(%entity, %field, "field not mapped for IT Glue; skipped");
            continue;
        };
        match wire {
            Plain(key) => {
                attrs.insert(key.into(), value.map_or(Value::Null, Value::from));
            }
            Flag(key) => {
                let set = value.is_some_and(|s| s.eq_ignore_ascii_case("true"));
                attrs.insert(key.into(), Value::Bool(set));
            }
            Lookup(list) => {
                let id = match value {
                    Some(name) => Value::from(lookups.id_of_entry(list, name).await?),
                    None => Value::Null,
                };
                attrs.insert(list.id_key(), id);
            }
            ContactEmail => lists.set_email(value),
            ContactPhone => lists.set_phone(*field, value),
        }
    }
    lists.write_into(&mut attrs);
    Ok(attrs)
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use syncbridge_model::dates::is_date_field;
    use syncbridge_model::{changes_setting, field_map, PsaKind};

    use super::*;

    /// Resolves every name, to an id that says which list it came from.
    struct FakeLookups;

    impl ResolveLookup for FakeLookups {
        async fn id_of_entry(&self, list: &'static LookupList, name: &str) -> Result<String> {
            Ok(format!("{}/{name}", list.collection))
        }
    }

    /// What IT Glue does with a write: stores the attributes sent, and joins each lookup id it
    /// was given into the entry's name (an id of another list than the field's fails the test).
    fn store(entity: Entity, stored: &mut Map<String, Value>, write: Map<String, Value>) {
        stored.extend(write);
        for (_, wire) in table(entity) {
            let Lookup(list) = wire else { continue };
            let name = match stored.get(&list.id_key()) {
                Some(Value::String(id)) => {
                    let prefix = format!("{}/", list.collection);
                    let name = id.strip_prefix(&prefix);
                    Value::from(name.unwrap_or_else(|| panic!("{id} is not of {prefix}")))
                }
                Some(Value::Null) => Value::Null,
                _ => continue,
            };
            stored.insert(list.name_key(), name);
        }
    }

    /// A value of `field` that its wire carries unchanged, distinct from every other field's.
    fn sample(field: Field, wire: Wire) -> String {
        match wire {
            Flag(_) => "true".into(),
            _ if is_date_field(field) => "2024-05-06".into(),
            _ => format!("{field} value"),
        }
    }

    fn every_field(entity: Entity) -> Values {
        table(entity)
            .iter()
            .map(|(field, wire)| (*field, sample(*field, *wire)))
            .collect()
    }

    fn resource(attrs: &Map<String, Value>) -> Value {
        json!({"id": 7, "attributes": attrs})
    }

    #[tokio::test]
    async fn every_field_a_psa_maps_is_in_the_table_and_written() {
        // IT Glue is written in both directions of a field map (PSA → IT Glue always, and read
        // for IT Glue → PSA), so every mapped field must be readable and writable here.
        for psa in PsaKind::ALL {
            for entity in Entity::ALL {
                for spec in field_map(psa, entity) {
                    let wire = wire_of(entity, spec.field).unwrap_or_else(|| {
                        panic!("{psa} {entity} {}: not in the table", spec.field)
                    });
                    let mut changes = Changes::new();
                    changes.insert(spec.field, Some(sample(spec.field, wire)));
                    let attrs = to_attributes(&FakeLookups, entity, &changes, None)
                        .await
                        .unwrap();
                    assert!(
                        !attrs.is_empty(),
                        "{psa} {entity} {}: not written",
                        spec.field
                    );
                }
            }
        }
    }

    #[tokio::test]
    async fn every_field_written_reads_back_the_same_and_clears_back_to_nothing() {
        for entity in Entity::ALL {
            let values = every_field(entity);
            let written = to_attributes(&FakeLookups, entity, &changes_setting(&values), None)
                .await
                .unwrap();
            let mut stored = Map::new();
            store(entity, &mut stored, written);
            let read_back = to_record(entity, &resource(&stored)).unwrap();
            assert_eq!(read_back.values, values, "{entity}");

            let clear_all: Changes = values.iter().map(|(f, _)| (f, None)).collect();
            let current = resource(&stored);
            let cleared = to_attributes(&FakeLookups, entity, &clear_all, Some(&current))
                .await
                .unwrap();
            store(entity, &mut stored, cleared);
            let read_back = to_record(entity, &resource(&stored)).unwrap();
            assert_eq!(read_back.values, Values::new(), "{entity}: cleared");
        }
    }

    #[test]
    fn no_two_fields_share_an_attribute() {
        for entity in Entity::ALL {
            let mut keys: Vec<String> = table(entity)
                .iter()
                .filter_map(|(_, wire)| match wire {
                    Plain(key) | Flag(key) => Some((*key).to_owned()),
                    Lookup(list) => Some(list.id_key()),
                    ContactEmail | ContactPhone => None,
                })
                .collect();
            let all = keys.len();
            keys.sort();
            keys.dedup();
            assert_eq!(keys.len(), all, "{entity}: {keys:?}");
        }
    }

    #[test]
    fn malformed_resources_are_typed_errors() {
        assert!(matches!(
            to_record(Entity::Organization, &json!({"id": "1"})),
            Err(Error::Malformed(_))
        ));
        assert!(matches!(
            to_record(Entity::Organization, &json!({"attributes": {}})),
            Err(Error::Malformed(_))
        ));
        let r = to_record(
            Entity::Contact,
            &json!({"id": 5, "attributes": {"organization-id": 2, "first-name": "Ada",
                "contact-phones": [{"value": "1", "label-name": "Mobile"}, {"value": "2", "primary": true}],
                "contact-emails": "not a list"}}),
        )
        .unwrap();
        assert_eq!(r.org_id.as_deref(), Some("2"));
        assert_eq!(r.get(Field::Mobile), Some("1"));
        assert_eq!(r.get(Field::Phone), Some("2"));
        assert_eq!(r.get(Field::Email), None);
    }
}
