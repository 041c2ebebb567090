//! The BMS field table: for each entity, which canonical [`Field`] is carried where in the v2
//! JSON, and how ([`Wire`]). Both directions come from it: [`to_record`] / [`location_record`]
//! read a vendor row into a [`Record`], [`write`] turns [`Changes`] into the DTO keys the client
//! sends (JSON-Patch for accounts and contacts, POST/PUT bodies for creates and assets), so a
//! field cannot be read from one key and written to another by accident.
//!
//! Reference §2.3; keys as the v2 spec names them (summary/output DTOs to read, input DTOs to
//! write). Locations have no v2 write path, so their table is read-only ([`Wire::MainAddress`]).

use serde_json::{Map, Value};
use syncbridge_model::dates::{midnight, DateTimeForm};
use syncbridge_model::{Changes, Entity, Field, Origin, Record, Values};

use super::contact_lists::{default_entry, ContactList, ListChange};
use super::lookups::{BmsLookup, LookupIds};
use crate::error::{Error, Result};
use crate::wire::{id_of, millis, text};

/// How one field is carried in BMS v2 JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Wire {
    /// A scalar under the same key both ways.
    Text(&'static str),
    /// Read as a name, written as the id of that name in a lookup table (`accountType` /
    /// `accountTypeId`, `category` / `categoryId` …).
    Lookup {
        name: &'static str,
        id: &'static str,
        table: BmsLookup,
    },
    /// A calendar date: read as the vendor's date-time (the record keeps the day), written as
    /// the zone-less midnight the v2 API takes (audit X-1).
    Date(&'static str),
    /// Another record's id: read as text, written as a number (`what` names it in errors).
    RecordId {
        key: &'static str,
        what: &'static str,
    },
    /// A location of the record's account: read as `"{accountId}:{location id}"` (the id we give
    /// locations), written as the bare location number.
    LocationRef(&'static str),
    /// `isActive`: read as status `Active` / `Inactive`, written as a flag (any status but
    /// `Inactive` is active).
    ActiveFlag(&'static str),
    /// A flag the output DTO shows under `read` and the input DTO takes under `write`; the
    /// record holds `"true"` or nothing.
    Flag {
        read: &'static str,
        write: &'static str,
    },
    /// The default entry of a contact's e-mail or phone list, written through the list's own
    /// operations (see `contact_lists`).
    ListEntry(ContactList),
    /// A field of a location's main address (else its first); read only.
    MainAddress(&'static str),
}

use Wire::*;

/// `AccountSummaryOutputDto` / the account JSON-Patch paths.
const ACCOUNT: &[(Field, Wire)] = &[
    (Field::Name, Text("accountName")),
    (Field::ShortName, Text("accountCode")),
    (
        Field::Type,
        Lookup {
            name: "accountType",
            id: "accountTypeId",
            table: BmsLookup::AccountType,
        },
    ),
    (Field::Status, ActiveFlag("isActive")),
];

/// `ContactSummaryOutputDto` / `ContactInputDto` and `ContactPutInputDto`.
const CONTACT: &[(Field, Wire)] = &[
    (Field::FirstName, Text("firstName")),
    (Field::LastName, Text("lastName")),
    (Field::Title, Text("jobTitle")),
    // `ContactPutInputDto.Poc`; the summary shows it as `isPoc` (audit BMS-3).
    (
        Field::Important,
        Flag {
            read: "isPoc",
            write: "poc",
        },
    ),
    (Field::Email, ListEntry(ContactList::Emails)),
    (Field::Phone, ListEntry(ContactList::Phones)),
    (Field::Location, LocationRef("locationId")),
];

/// The hardware asset DTO (read by id, PUT whole).
const ASSET: &[(Field, Wire)] = &[
    (Field::Name, Text("name")),
    (
        Field::Type,
        Lookup {
            name: "category",
            id: "categoryId",
            table: BmsLookup::AssetCategory,
        },
    ),
    (
        Field::Status,
        Lookup {
            name: "state",
            id: "stateId",
            table: BmsLookup::AssetState,
        },
    ),
    (Field::SerialNumber, Text("serialNumber")),
    (Field::MacAddress, Text("macAddress")),
    (Field::PrimaryIp, Text("ipAddress")),
    (Field::DefaultGateway, Text("defaultGateway")),
    (Field::OperatingSystem, Text("osInfo")),
    (
        Field::Manufacturer,
        Lookup {
            name: "manufacturer",
            id: "manufacturerId",
            table: BmsLookup::Manufacturer,
        },
    ),
    (Field::Model, Text("modelNumber")),
    (Field::Notes, Text("description")),
    (Field::AssetTag, Text("assetTag")),
    (Field::PurchasedAt, Date("acquisitionDate")),
    (Field::WarrantyExpiresAt, Date("warrantyExpirationDate")),
    (
        Field::Contact,
        RecordId {
            key: "contactId",
            what: "contact",
        },
    ),
    (Field::Location, LocationRef("accountLocationId")),
];

/// An account location: its name, and the rest from its main address.
const LOCATION: &[(Field, Wire)] = &[
    (Field::Name, Text("locationName")),
    (Field::Address1, MainAddress("address1")),
    (Field::Address2, MainAddress("address2")),
    (Field::City, MainAddress("city")),
    (Field::Region, MainAddress("state")),
    (Field::PostalCode, MainAddress("zipCode")),
    (Field::Country, MainAddress("country")),
    (Field::Phone, MainAddress("phone")),
    (Field::Fax, MainAddress("fax")),
];

/// The table of an entity.
pub(super) fn table(entity: Entity) -> &'static [(Field, Wire)] {
    match entity {
        Entity::Organization => ACCOUNT,
        Entity::Contact => CONTACT,
        Entity::Configuration => ASSET,
        Entity::Location => LOCATION,
    }
}

/// The lookup-backed fields of an entity: (table, id key, name key). Rows that show both keys
/// teach the client a name ↔ id pair.
pub(super) fn lookups(
    entity: Entity,
) -> impl Iterator<Item = (BmsLookup, &'static str, &'static str)> {
    table(entity).iter().filter_map(|(_, wire)| match *wire {
        Lookup { name, id, table } => Some((table, id, name)),
        _ => None,
    })
}

// --- read: vendor JSON -> Record ---------------------------------------------------------------

/// A location of an account, as the location references of contacts and assets name it.
fn location_ref(account: Option<&str>, row: &Value, key: &str) -> Option<String> {
    Some(format!("{}:{}", account?, text(row.get(key))?))
}

/// A location's main address, else its first.
fn main_address(row: &Value) -> Option<&Value> {
    let addresses = row.get("addresses")?.as_array()?;
    addresses
        .iter()
        .find(|x| x.get("isMain") == Some(&Value::Bool(true)))
        .or_else(|| addresses.first())
}

impl Wire {
    /// The field's value in `row`; `account` is the id of the account the row belongs to.
    fn read(self, row: &Value, account: Option<&str>) -> Option<String> {
        match self {
            Text(key) | Lookup { name: key, .. } | Date(key) | RecordId { key, .. } => {
                text(row.get(key))
            }
            LocationRef(key) => location_ref(account, row, key),
            ActiveFlag(key) => row
                .get(key)
                .and_then(Value::as_bool)
                .map(|a| if a { "Active" } else { "Inactive" }.to_owned()),
            Flag { read, .. } => text(row.get(read)),
            ListEntry(list) => default_entry(row, list),
            MainAddress(key) => text(main_address(row)?.get(key)),
        }
    }
}

/// The values of `row` by `entity`'s table.
fn read(entity: Entity, row: &Value, account: Option<&str>) -> Values {
    let mut values = Values::new();
    for (field, wire) in table(entity) {
        values.set(*field, wire.read(row, account));
    }
    values
}

/// BMS v2 JSON → canonical record (accounts, contacts, assets).
pub(super) fn to_record(entity: Entity, row: &Value) -> Result<Record> {
    if !row.is_object() {
        return Err(Error::malformed("record is not an object"));
    }
    if entity == Entity::Location {
        return Err(Error::malformed("locations are read from their account"));
    }
    let mut rec = Record::new(id_of(row, "id")?);
    let account = text(row.get("accountId"));
    rec.values = read(entity, row, account.as_deref());
    if entity != Entity::Organization {
        rec.org_id = account;
    }
    Ok(stamped(rec, row))
}

/// A location (embedded in an account, or fetched alone) → canonical record.
pub(super) fn location_record(account: &str, row: &Value) -> Result<Record> {
    let mut rec = Record::new(format!("{account}:{}", id_of(row, "id")?));
    rec.org_id = Some(account.to_owned());
    rec.values = read(Entity::Location, row, Some(account));
    Ok(stamped(rec, row))
}

/// A PSA record with the row's created / modified times.
fn stamped(mut rec: Record, row: &Value) -> Record {
    rec.origin = Origin::Psa;
    rec.created_at = millis(row.get("createdOn"));
    rec.updated_at = millis(row.get("modifiedOn"));
    rec
}

// --- write: Changes -> vendor JSON -------------------------------------------------------------

/// Changes in the vendor's terms.
#[derive(Debug, Default)]
pub(super) struct Written {
    /// DTO keys and values (`null` clears), in the changes' field order.
    pub(super) fields: Map<String, Value>,
    /// E-mail / phone changes, sent through the contact's list operations.
    pub(super) lists: Vec<ListChange>,
}

/// `changes` by `entity`'s table; fields outside it are left out. Lookup names become ids
/// through `ids`.
pub(super) async fn write(
    entity: Entity,
    changes: &Changes,
    ids: &impl LookupIds,
) -> Result<Written> {
    let mut out = Written::default();
    for (field, value) in changes {
        let Some((_, wire)) = table(entity).iter().find(|(f, _)| f == field) else {
            continue;
        };
        let v = value.as_deref().filter(|s| !s.is_empty());
        let plain = || v.map_or(Value::Null, Value::from);
        let (key, value) = match *wire {
            Text(key) => (key, plain()),
            Lookup { id, table, .. } => match v {
                Some(name) => (id, Value::from(ids.id_of(table, name).await?)),
                None => (id, Value::Null),
            },
            Date(key) => (key, date_time(v)),
            RecordId { key, what } => (key, number(v, what)?),
            LocationRef(key) => (key, number(v.map(location_part), "location")?),
            ActiveFlag(key) => (
                key,
                Value::Bool(v.is_some_and(|s| !s.eq_ignore_ascii_case("inactive"))),
            ),
            Flag { write, .. } => (
                write,
                Value::Bool(v.is_some_and(|s| s.eq_ignore_ascii_case("true"))),
            ),
            ListEntry(list) => {
                out.lists.push((list, v.map(str::to_owned)));
                continue;
            }
            // Locations have no v2 write path; the client refuses them before this.
            MainAddress(_) => continue,
        };
        out.fields.insert(key.to_owned(), value);
    }
    Ok(out)
}

/// A canonical day `YYYY-MM-DD` as the v2 API's zone-less date-time `YYYY-MM-DDT00:00:00`
/// (audit X-1); any other text is sent as it is (the vendor judges it). Reading back needs
/// nothing: the record keeps date fields as days (`syncbridge_model::dates`).
fn date_time(v: Option<&str>) -> Value {
    v.map_or(Value::Null, |d| midnight(d, DateTimeForm::ZoneLess).into())
}

/// `"{account}:{location}"` → (account, location).
pub(super) fn split_location_id(id: &str) -> Option<(&str, &str)> {
    id.split_once(':')
        .filter(|(a, l)| !a.is_empty() && !l.is_empty())
}

/// The location part of a location id; a bare number is taken as it is.
fn location_part(id: &str) -> &str {
    split_location_id(id).map_or(id, |(_, l)| l)
}

/// A record id as the JSON number the input DTOs take (`null` for none).
pub(super) fn number(v: Option<&str>, what: &str) -> Result<Value> {
    match v {
        None => Ok(Value::Null),
        Some(s) => s
            .parse::<u64>()
            .map(Value::from)
            .map_err(|_| Error::InvalidInput(format!("{what} {s:?} is not a record id"))),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use syncbridge_model::{changes_setting, field_map, Direction, PsaKind};

    use super::super::contact_lists::list_ops;
    use super::*;

    /// Lookup tables of a pretend tenant: (table, id, name).
    const TENANT: &[(BmsLookup, i64, &str)] = &[
        (BmsLookup::AccountType, 3, "Customer"),
        (BmsLookup::AssetCategory, 11, "Server"),
        (BmsLookup::AssetState, 21, "Deployed"),
        (BmsLookup::Manufacturer, 31, "Dell"),
    ];

    struct FakeIds;

    impl LookupIds for FakeIds {
        async fn id_of(&self, lookup: BmsLookup, name: &str) -> Result<i64> {
            TENANT
                .iter()
                .find(|(t, _, n)| *t == lookup && *n == name)
                .map(|(_, id, _)| *id)
                .ok_or_else(|| Error::InvalidInput(format!("no {name}")))
        }
    }

    fn name_of(lookup: BmsLookup, id: &Value) -> Value {
        TENANT
            .iter()
            .find(|(t, i, _)| *t == lookup && Some(*i) == id.as_i64())
            .map_or(Value::Null, |(_, _, n)| Value::from(*n))
    }

    #[test]
    fn every_mapped_field_has_an_entry_and_two_way_ones_are_writable() {
        for psa in [PsaKind::KaseyaBms, PsaKind::PulsewayPsa] {
            for entity in [
                Entity::Organization,
                Entity::Contact,
                Entity::Configuration,
                Entity::Location,
            ] {
                for spec in field_map(psa, entity) {
                    let wire = table(entity)
                        .iter()
                        .find(|(f, _)| *f == spec.field)
                        .map(|(_, w)| *w);
                    let Some(wire) = wire else {
                        panic!("{psa:?} {entity}: {:?} is not in the table", spec.field);
                    };
                    // Locations have no v2 write path (the client answers Unsupported).
                    if spec.direction == Direction::Both && entity != Entity::Location {
                        assert!(
                            !matches!(wire, MainAddress(_)),
                            "{psa:?} {entity}: {:?} is two-way but not writable",
                            spec.field
                        );
                    }
                }
            }
        }
    }

    /// One value for every field of the table, as IT Glue would hold it.
    fn sample(entity: Entity) -> Values {
        let mut v = Values::new();
        for (field, wire) in table(entity) {
            let value = match wire {
                Lookup { table, .. } => TENANT.iter().find(|(t, ..)| t == table).unwrap().2,
                Date(_) => "2024-02-29",
                RecordId { .. } => "77",
                LocationRef(_) => "12:5",
                ActiveFlag(_) => "Inactive",
                Flag { .. } => "true",
                ListEntry(ContactList::Emails) => "a@example.com",
                ListEntry(ContactList::Phones) => "+1 555 0100",
                Text(key) | MainAddress(key) => key,
            };
            v.set(*field, Some(value.to_owned()));
        }
        v
    }

    /// The row the vendor shows after taking `written`: the input keys as they are, plus what
    /// the output DTOs show differently (lookup names next to ids, `isPoc` for `poc`, list
    /// entries under the output key).
    fn vendor_row(entity: Entity, written: &Written) -> Value {
        let mut row = written.fields.clone();
        row.insert("id".into(), json!(900));
        row.insert("accountId".into(), json!(12));
        for (_, wire) in table(entity) {
            match *wire {
                Lookup { name, id, table } => {
                    row.insert(name.into(), name_of(table, &row[id]));
                }
                Flag { read, write } => {
                    row.insert(read.into(), row[write].clone());
                }
                _ => {}
            }
        }
        for (list, value) in &written.lists {
            let entry = json!([{list.output_key(): value, "isDefault": true}]);
            row.insert(list.list().into(), entry);
        }
        Value::Object(row)
    }

    #[tokio::test]
    async fn written_values_read_back_the_same() {
        for entity in [Entity::Organization, Entity::Contact, Entity::Configuration] {
            let values = sample(entity);
            let written = write(entity, &changes_setting(&values), &FakeIds)
                .await
                .unwrap();
            let row = vendor_row(entity, &written);
            let back = to_record(entity, &row).unwrap();
            assert_eq!(back.values, values, "{entity}: {row}");
        }
    }

    #[tokio::test]
    async fn dates_and_ids_take_the_input_dto_forms() {
        let values = sample(Entity::Configuration);
        let written = write(Entity::Configuration, &changes_setting(&values), &FakeIds)
            .await
            .unwrap();
        assert_eq!(written.fields["acquisitionDate"], "2024-02-29T00:00:00");
        assert_eq!(written.fields["accountLocationId"], 5);
        assert_eq!(written.fields["contactId"], 77);
        assert_eq!(written.fields["categoryId"], 11);
        assert!(written.lists.is_empty());
    }

    #[tokio::test]
    async fn cleared_fields_are_null_and_inactive_is_the_only_inactive_status() {
        let changes: Changes = [
            (Field::Type, None),
            (Field::Status, Some("Prospect".into())),
        ]
        .into_iter()
        .collect();
        let written = write(Entity::Organization, &changes, &FakeIds)
            .await
            .unwrap();
        assert_eq!(
            Value::Object(written.fields),
            json!({"accountTypeId": null, "isActive": true})
        );
    }

    #[test]
    fn a_read_list_entry_written_back_unchanged_sends_no_operation() {
        let row = json!({"id": 1, "emails": [
            {"emailAddress": "old@example.com", "isDefault": false},
            {"emailAddress": "main@example.com", "isDefault": true},
        ]});
        let read = to_record(Entity::Contact, &row).unwrap();
        let email = read.values.get(Field::Email);
        assert_eq!(email, Some("main@example.com"));
        assert!(list_ops(&row, ContactList::Emails, email).is_empty());
    }

    #[test]
    fn locations_read_their_main_address() {
        let row = json!({"id": 5, "locationName": "HQ", "addresses": [
            {"isMain": false, "city": "Elsewhere"},
            {"isMain": true, "city": "Leeds", "zipCode": "LS1"},
        ]});
        let rec = location_record("12", &row).unwrap();
        assert_eq!(rec.id, "12:5");
        assert_eq!(rec.org_id.as_deref(), Some("12"));
        assert_eq!(rec.values.get(Field::City), Some("Leeds"));
        assert_eq!(rec.values.get(Field::PostalCode), Some("LS1"));
        assert_eq!(rec.values.get(Field::Name), Some("HQ"));
    }
}
