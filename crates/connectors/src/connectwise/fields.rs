//! The field table: for each entity, which canonical [`Field`] sits where in ConnectWise's JSON
//! (reference §2.1), as one list of `(Field, Wire)`.
//!
//! Both directions are derived from that list, so they cannot drift apart: [`to_record`] reads a
//! ConnectWise row into a [`Record`], [`wire_fields`] turns canonical [`Changes`] into the
//! top-level keys of a create body or a PATCH. A [`Wire`] says how one field is carried; the
//! shapes that are more than a key (lookup references, site references, `types[]`, a contact's
//! `communicationItems`) are variants of it, read and written by small functions here or in the
//! file of their concept (`sites`, `communications`).

use serde_json::{json, Map, Value};
use syncbridge_model::dates::{midnight, DateTimeForm};
use syncbridge_model::{Changes, Entity, Field, Origin, Record, Values};

use super::communications;
use super::lookups::Lookups;
use super::sites;
use crate::error::{Error, Result};
use crate::wire::{id_of, millis, path_text, text};

/// How one canonical field is carried in ConnectWise's JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Wire {
    /// A scalar under a top-level key.
    Text(&'static str),
    /// A calendar date under a top-level key: written as that day's midnight UTC
    /// (`2024-01-02T00:00:00Z`), read back as the day (`Values` keeps dates as days).
    Date(&'static str),
    /// A reference to a lookup record, `{"id": n}` under `key`: read by its `by` (`name`,
    /// `identifier`), written as the id of the record of lookup list `list` whose `by` is the
    /// value (ConnectWise takes references by id, audit CW-3).
    Lookup {
        key: &'static str,
        by: &'static str,
        list: &'static str,
    },
    /// A reference to another synced record by its id, `{"id": n}` under the key.
    RecordId(&'static str),
    /// A reference to a site, `site.id`: `"{company}:{site}"` in the record (see `sites`).
    Site,
    /// The record's types, `types[]` by name: the field is the first one. Written as ids from
    /// lookup list `list`, on create only (later changes go through `type_associations`).
    /// `further_in_extra_types`: the other types are kept in `Record::extra_types`.
    Types {
        list: &'static str,
        further_in_extra_types: bool,
    },
    /// A contact's entry of the field's kind (Email, Phone, Fax) in `communicationItems` (see
    /// `communications`).
    Communication,
}

impl Wire {
    /// The top-level key the field is carried under.
    fn key(self) -> &'static str {
        match self {
            Wire::Text(key) | Wire::Date(key) | Wire::RecordId(key) | Wire::Lookup { key, .. } => {
                key
            }
            Wire::Site => sites::KEY,
            Wire::Types { .. } => "types",
            Wire::Communication => communications::KEY,
        }
    }
}

/// A reference under `key` to the record of lookup list `list` with that name.
const fn by_name(key: &'static str, list: &'static str) -> Wire {
    Lookup {
        key,
        by: "name",
        list,
    }
}

/// A reference under `key` to the record of lookup list `list` with that identifier.
const fn by_identifier(key: &'static str, list: &'static str) -> Wire {
    Lookup {
        key,
        by: "identifier",
        list,
    }
}

use Field::*;
use Wire::*;

const COMPANY: &[(Field, Wire)] = &[
    (Name, Text("name")),
    (ShortName, Text("identifier")),
    (Status, by_name("status", "company/companies/statuses")),
    (
        Type,
        Types {
            list: "company/companies/types",
            further_in_extra_types: true,
        },
    ),
];

const CONFIGURATION: &[(Field, Wire)] = &[
    (Name, Text("name")),
    (Type, by_name("type", "company/configurations/types")),
    (Status, by_name("status", "company/configurations/statuses")),
    (SerialNumber, Text("serialNumber")),
    (MacAddress, Text("macAddress")),
    (AssetTag, Text("tagNumber")),
    (PrimaryIp, Text("ipAddress")),
    (DefaultGateway, Text("defaultGateway")),
    (OperatingSystem, Text("osType")),
    (
        Manufacturer,
        by_name("manufacturer", "procurement/manufacturers"),
    ),
    (Model, Text("modelNumber")),
    (Notes, Text("notes")),
    (InstalledAt, Date("installationDate")),
    (InstalledBy, by_identifier("installedBy", "system/members")),
    (PurchasedAt, Date("purchaseDate")),
    (WarrantyExpiresAt, Date("warrantyExpirationDate")),
    (Contact, RecordId("contact")),
    (Location, Site),
];

const CONTACT: &[(Field, Wire)] = &[
    (FirstName, Text("firstName")),
    (LastName, Text("lastName")),
    (Title, Text("title")),
    (
        Type,
        Types {
            list: "company/contacts/types",
            further_in_extra_types: false,
        },
    ),
    (Email, Communication),
    (Phone, Communication),
    (Fax, Communication),
    (Location, Site),
];

/// The country of a company (its own on create) and of a site.
const COUNTRY: Wire = by_name("country", "company/countries");

const SITE: &[(Field, Wire)] = &[
    (Name, Text("name")),
    (Address1, Text("addressLine1")),
    (Address2, Text("addressLine2")),
    (City, Text("city")),
    (Region, by_identifier("stateReference", "company/states")),
    (PostalCode, Text("zip")),
    (Country, COUNTRY),
    (Phone, Text("phoneNumber")),
    (Fax, Text("faxNumber")),
];

/// A new company's address: not part of the company field map (IT Glue keeps addresses on
/// locations) but written on create when the caller has one, because ConnectWise wants at least
/// one address field on a company (audit CW-2, see `create`).
pub(super) const COMPANY_ADDRESS: &[(Field, Wire)] = &[
    (Address1, Text("addressLine1")),
    (Address2, Text("addressLine2")),
    (City, Text("city")),
    (Region, Text("state")),
    (PostalCode, Text("zip")),
    (Country, COUNTRY),
];

/// The field table of `entity`.
pub(super) fn table(entity: Entity) -> &'static [(Field, Wire)] {
    match entity {
        Entity::Organization => COMPANY,
        Entity::Configuration => CONFIGURATION,
        Entity::Contact => CONTACT,
        Entity::Location => SITE,
    }
}

/// How `field` of `entity` is carried; `None` when it is not mapped.
pub(super) fn wire_of(entity: Entity, field: Field) -> Option<Wire> {
    wire_in(table(entity), field)
}

fn wire_in(table: &[(Field, Wire)], field: Field) -> Option<Wire> {
    table.iter().find(|(f, _)| *f == field).map(|(_, w)| *w)
}

/// ConnectWise JSON → canonical record (the read direction of the table).
pub(crate) fn to_record(entity: Entity, row: &Value) -> Result<Record> {
    if !row.is_object() {
        return Err(Error::malformed("record is not an object"));
    }
    let id = id_of(row, "id")?;
    let company = path_text(row, &["company", "id"]);
    let mut rec = Record::new(match entity {
        Entity::Location => sites::site_id(
            company
                .as_deref()
                .ok_or_else(|| Error::malformed("site without company"))?,
            &id,
        ),
        _ => id,
    });
    if entity != Entity::Organization {
        rec.org_id = company.clone();
    }
    let mut values = Values::new();
    for (field, wire) in table(entity) {
        let value = match *wire {
            Text(key) | Date(key) => text(row.get(key)),
            Lookup { key, by, .. } => path_text(row, &[key, by]),
            RecordId(key) => path_text(row, &[key, "id"]),
            Site => sites::read_reference(company.as_deref(), row),
            Types {
                further_in_extra_types,
                ..
            } => {
                let mut names = type_names(row).into_iter();
                let first = names.next();
                if further_in_extra_types {
                    rec.extra_types = names.collect();
                }
                first
            }
            Communication => communications::read(row, *field),
        };
        values.set(*field, value);
    }
    rec.values = values;
    rec.origin = Origin::Psa;
    rec.created_at = millis(row.pointer("/_info/dateEntered"));
    rec.updated_at = millis(row.pointer("/_info/lastUpdated"));
    Ok(rec)
}

/// The names in `types[]`, in order.
fn type_names(row: &Value) -> Vec<String> {
    row.get("types")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|t| path_text(t, &["name"])).collect())
        .unwrap_or_default()
}

/// Canonical changes → ConnectWise top-level keys (the write direction of the table). `current`
/// is the record as it is now, where a change rewrites a list that holds more than the field
/// (`communicationItems`). Fields the table does not map are skipped.
pub(super) async fn wire_fields(
    lookups: &impl Lookups,
    entity: Entity,
    changes: &Changes,
    current: Option<&Value>,
) -> Result<Map<String, Value>> {
    for field in changes.keys().filter(|f| wire_of(entity, **f).is_none()) {
        tracing::debug!(%entity, %field, "field not mapped for ConnectWise; skipped");
    }
    write_fields(lookups, table(entity), changes, current).await
}

/// `changes` written through `table`; fields it does not hold are skipped.
pub(super) async fn write_fields(
    lookups: &impl Lookups,
    table: &[(Field, Wire)],
    changes: &Changes,
    current: Option<&Value>,
) -> Result<Map<String, Value>> {
    let mut out = Map::new();
    let mut items: Option<Vec<Value>> = None;
    for (field, value) in changes {
        let Some(wire) = wire_in(table, *field) else {
            continue;
        };
        let value = value.as_deref().filter(|s| !s.is_empty());
        if wire == Communication {
            let list = items.get_or_insert_with(|| communications::items(current));
            communications::write(lookups, list, *field, value).await?;
            continue;
        }
        out.insert(
            wire.key().to_owned(),
            write_value(lookups, wire, value).await?,
        );
    }
    if let Some(list) = items {
        out.insert(communications::KEY.to_owned(), Value::Array(list));
    }
    Ok(out)
}

/// One field's value as ConnectWise takes it; null clears.
async fn write_value(lookups: &impl Lookups, wire: Wire, value: Option<&str>) -> Result<Value> {
    let Some(v) = value else {
        return Ok(match wire {
            Types { .. } => Value::Array(Vec::new()),
            _ => Value::Null,
        });
    };
    Ok(match wire {
        Text(_) => v.into(),
        Date(_) => midnight(v, DateTimeForm::Utc).into(),
        Lookup { by, list, .. } => json!({"id": lookups.lookup_id(list, by, v).await?}),
        RecordId(_) => id_ref(v)?,
        Site => sites::write_reference(v)?,
        Types { list, .. } => json!([{"id": lookups.lookup_id(list, "name", v).await?}]),
        Communication => unreachable!("communicationItems are written as a whole list"),
    })
}

/// `{"id": n}` of a numeric reference.
pub(super) fn id_ref(v: &str) -> Result<Value> {
    v.parse::<u64>()
        .map(|id| json!({"id": id}))
        .map_err(|_| Error::InvalidInput(format!("ConnectWise reference {v:?} is not a record id")))
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use futures_util::FutureExt;
    use syncbridge_model::{changes_setting, field_map, Direction, PsaKind};

    use super::*;

    const ENTITIES: [Entity; 4] = [
        Entity::Organization,
        Entity::Configuration,
        Entity::Contact,
        Entity::Location,
    ];

    /// Lookup lists without a server: every `(list, by, value)` asked gets an id of its own,
    /// kept so that [`FakeLookups::answer`] can fill a written row in as ConnectWise answers it.
    #[derive(Default)]
    struct FakeLookups(Mutex<Vec<(&'static str, String, String)>>);

    /// Issued ids start here, far from the record ids of the samples.
    const FIRST_LOOKUP_ID: u64 = 1000;

    impl Lookups for FakeLookups {
        async fn lookup_id(&self, list: &'static str, by: &str, value: &str) -> Result<u64> {
            let mut issued = self.0.lock().unwrap();
            let entry = (list, by.to_owned(), value.to_owned());
            let index = match issued.iter().position(|e| *e == entry) {
                Some(i) => i,
                None => {
                    issued.push(entry);
                    issued.len() - 1
                }
            };
            Ok(FIRST_LOOKUP_ID + index as u64)
        }
    }

    impl FakeLookups {
        /// The `by` value behind an issued id, if `id` is one of `list`.
        fn named(&self, list: &str, id: &Value) -> Option<(String, String)> {
            let index = id.as_u64()?.checked_sub(FIRST_LOOKUP_ID)?;
            let issued = self.0.lock().unwrap();
            let (l, by, value) = issued.get(usize::try_from(index).ok()?)?;
            (*l == list).then(|| (by.clone(), value.clone()))
        }

        /// `row` as ConnectWise answers it: each lookup reference of `table` carries, besides
        /// its id, the `by` value it was looked up by.
        fn answer(&self, table: &[(Field, Wire)], row: &mut Value) {
            let fill = |reference: &mut Value, list: &str| {
                if let Some((by, value)) = self.named(list, &reference["id"]) {
                    reference[by] = value.into();
                }
            };
            for (_, wire) in table {
                match *wire {
                    Lookup { key, list, .. } => fill(&mut row[key], list),
                    Types { list, .. } => {
                        for t in row["types"].as_array_mut().into_iter().flatten() {
                            fill(t, list);
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    /// A value of the right shape for `wire`.
    fn sample(field: Field, wire: Wire) -> String {
        match wire {
            Date(_) => "2024-02-29".into(),
            RecordId(_) => "42".into(),
            Site => "3:7".into(),
            _ => format!("{field} of the record"),
        }
    }

    fn write(
        lookups: &FakeLookups,
        entity: Entity,
        changes: &Changes,
        current: Option<&Value>,
    ) -> Map<String, Value> {
        wire_fields(lookups, entity, changes, current)
            .now_or_never()
            .expect("the fake lookups never wait")
            .unwrap()
    }

    /// A written body as a row of company 3 with id 7.
    fn as_row(fields: Map<String, Value>) -> Value {
        let mut row = Value::Object(fields);
        row["id"] = json!(7);
        row["company"] = json!({"id": 3});
        row
    }

    #[test]
    fn every_mapped_field_has_an_entry_and_both_way_fields_are_written() {
        for entity in ENTITIES {
            let map = field_map(PsaKind::ConnectWise, entity);
            for spec in map {
                let wire = wire_of(entity, spec.field)
                    .unwrap_or_else(|| panic!("{entity} {} has no entry", spec.field));
                if spec.direction == Direction::Both {
                    let value = sample(spec.field, wire);
                    let changes = Changes::from([(spec.field, Some(value))]);
                    let body = write(&FakeLookups::default(), entity, &changes, None);
                    assert!(
                        body.get(wire.key()).is_some_and(|v| !v.is_null()),
                        "{entity} {} is not written: {body:?}",
                        spec.field
                    );
                }
            }
            for (field, _) in table(entity) {
                assert!(
                    map.iter().any(|spec| spec.field == *field),
                    "{entity} {field} is in the table but not in the field map"
                );
            }
        }
    }

    #[test]
    fn every_field_written_reads_back_the_same() {
        for entity in ENTITIES {
            let values = table(entity)
                .iter()
                .fold(Values::new(), |v, (f, w)| v.with(*f, sample(*f, *w)));
            let lookups = FakeLookups::default();
            let mut row = as_row(write(&lookups, entity, &changes_setting(&values), None));
            lookups.answer(table(entity), &mut row);
            let record = to_record(entity, &row).unwrap();
            assert_eq!(record.values, values, "{entity}: {row}");
        }
    }

    #[test]
    fn every_field_cleared_reads_back_empty() {
        for entity in ENTITIES {
            let values = table(entity)
                .iter()
                .fold(Values::new(), |v, (f, w)| v.with(*f, sample(*f, *w)));
            let lookups = FakeLookups::default();
            let mut current = as_row(write(&lookups, entity, &changes_setting(&values), None));
            lookups.answer(table(entity), &mut current);
            let clear: Changes = values.iter().map(|(f, _)| (f, None)).collect();
            let cleared = write(&lookups, entity, &clear, Some(&current));
            let record = to_record(entity, &as_row(cleared)).unwrap();
            assert!(record.values.is_empty(), "{entity}: {:?}", record.values);
        }
    }

    #[test]
    fn further_types_are_kept_for_companies_only() {
        let row = json!({"id": 1, "company": {"id": 3},
            "types": [{"id": 1, "name": "Client"}, {"id": 2, "name": "Partner"}]});
        let company = to_record(Entity::Organization, &row).unwrap();
        assert_eq!(company.get(Field::Type), Some("Client"));
        assert_eq!(company.extra_types, vec!["Partner".to_owned()]);
        let contact = to_record(Entity::Contact, &row).unwrap();
        assert_eq!(contact.get(Field::Type), Some("Client"));
        assert!(contact.extra_types.is_empty());
    }

    #[test]
    fn sites_carry_their_company_in_the_id() {
        let r = to_record(
            Entity::Location,
            &json!({"id": 7, "company": {"id": 3}, "name": "Main", "country": "bad shape"}),
        )
        .unwrap();
        assert_eq!(r.id, "3:7");
        assert_eq!(r.get(Field::Country), None);
        assert!(matches!(
            to_record(Entity::Location, &json!({"id": 7})),
            Err(Error::Malformed(_))
        ));
        assert!(matches!(
            to_record(Entity::Contact, &json!([1])),
            Err(Error::Malformed(_))
        ));
    }
}
