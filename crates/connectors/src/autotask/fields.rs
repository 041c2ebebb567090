//! The field map between canonical [`Field`]s and Autotask's JSON (reference §2.2), written once.
//!
//! Per entity one table of `(Field, Wire)`: the [`Wire`] says which Autotask key carries the
//! field and in what shape (text, record id, date, `isActive`, picklist, product part). Both
//! directions are derived from it: [`to_record`] turns a company, contact or configuration item into a
//! [`Record`], [`wire_fields`] turns [`Changes`] into the JSON body of a create or PATCH. The client
//! also asks the table which picklists and products a page names before reading it
//! ([`picklists_in`], [`names_products`]) and which keys its webhooks subscribe ([`keys_of`]).
//!
//! Names that stand for ids (picklist labels, a product's manufacturer and model) are resolved by
//! the caller: on read through [`Names`] (from caches the client filled first), on write through
//! [`Ids`] (which may ask Autotask).

use serde_json::{Map, Value};
use syncbridge_model::dates::{midnight, DateTimeForm};
use syncbridge_model::{key_fields, Changes, Entity, Field, Origin, Record, Values};

use super::picklists::{label, Picklist};
use super::products::Product;
use crate::error::{Error, Result};
use crate::wire::{id_of, millis, text};

/// The key of a record's parent company (contacts and configuration items).
pub(super) const PARENT_KEY: &str = "companyID";
/// The key of the active flag ([`Wire::Active`]).
pub(super) const ACTIVE_KEY: &str = "isActive";
/// The key of a configuration item's product ([`Wire::Product`]).
pub(super) const PRODUCT_KEY: &str = "productID";

/// How Autotask carries one canonical field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Wire {
    /// A string under this key; a cleared value is written as `null`.
    Text(&'static str),
    /// A record id under this key: read as text, written as a number.
    Reference(&'static str),
    /// A date under this key: written as a zone-less midnight date-time
    /// (`2024-01-02T00:00:00`), read as the date-time (`Values` keeps its day).
    Date(&'static str),
    /// `isActive`: "Active" / "Inactive" ⇄ a boolean (read from `0` / `1` as well).
    Active,
    /// A picklist value: the label ⇄ the number under the picklist's key.
    Picklist(Picklist),
    /// A configuration item's name: `referenceTitle`, read as the product's name when empty
    /// ("Reference Name (if present) OR Product Name", reference §2.2).
    TitleOrProductName(&'static str),
    /// One half of a configuration item's product (`productID`): both halves are written as
    /// one product id.
    Product(ProductPart),
}

/// Which half of a [`Product`] a field is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ProductPart {
    /// `manufacturerName`.
    Manufacturer,
    /// `manufacturerProductName`.
    Model,
}

impl ProductPart {
    fn of(self, product: &Product) -> Option<String> {
        match self {
            ProductPart::Manufacturer => product.maker.clone(),
            ProductPart::Model => product.model.clone(),
        }
    }
}

impl Wire {
    /// The Autotask key the field is written to.
    pub(super) fn key(self) -> &'static str {
        match self {
            Wire::Text(key)
            | Wire::Reference(key)
            | Wire::Date(key)
            | Wire::TitleOrProductName(key) => key,
            Wire::Active => ACTIVE_KEY,
            Wire::Picklist(list) => list.key(),
            Wire::Product(_) => PRODUCT_KEY,
        }
    }
}

const COMPANY: &[(Field, Wire)] = &[
    (Field::Name, Wire::Text("companyName")),
    (Field::ShortName, Wire::Text("companyNumber")),
    (Field::Type, Wire::Picklist(Picklist::CompanyType)),
    (Field::Status, Wire::Active),
];

const CONTACT: &[(Field, Wire)] = &[
    (Field::FirstName, Wire::Text("firstName")),
    (Field::LastName, Wire::Text("lastName")),
    (Field::Title, Wire::Text("title")),
    (Field::Email, Wire::Text("emailAddress")),
    (Field::Phone, Wire::Text("phone")),
    (Field::Mobile, Wire::Text("mobilePhone")),
    (Field::Fax, Wire::Text("faxNumber")),
    (Field::Location, Wire::Reference("companyLocationID")),
];

/// Installed By is not mapped (docs/vendors.md).
const CONFIGURATION_ITEM: &[(Field, Wire)] = &[
    (Field::Name, Wire::TitleOrProductName("referenceTitle")),
    (Field::AssetTag, Wire::Text("referenceNumber")),
    (Field::SerialNumber, Wire::Text("serialNumber")),
    (Field::Type, Wire::Picklist(Picklist::CiType)),
    (Field::Status, Wire::Active),
    (
        Field::Manufacturer,
        Wire::Product(ProductPart::Manufacturer),
    ),
    (Field::Model, Wire::Product(ProductPart::Model)),
    (Field::Contact, Wire::Reference("contactID")),
    (Field::Location, Wire::Reference("companyLocationID")),
    (Field::InstalledAt, Wire::Date("installDate")),
    (
        Field::WarrantyExpiresAt,
        Wire::Date("warrantyExpirationDate"),
    ),
    (Field::Notes, Wire::Text("notes")),
];

/// The field table of `entity`; empty for locations, which Autotask does not sync.
pub(super) fn table(entity: Entity) -> &'static [(Field, Wire)] {
    match entity {
        Entity::Organization => COMPANY,
        Entity::Contact => CONTACT,
        Entity::Configuration => CONFIGURATION_ITEM,
        Entity::Location => &[],
    }
}

fn wire_of(entity: Entity, field: Field) -> Option<Wire> {
    table(entity)
        .iter()
        .find(|(f, _)| *f == field)
        .map(|(_, wire)| *wire)
}

/// The REST collection of `entity`.
pub(super) fn entity_name(entity: Entity) -> Result<&'static str> {
    match entity {
        Entity::Organization => Ok("Companies"),
        Entity::Contact => Ok("Contacts"),
        Entity::Configuration => Ok("ConfigurationItems"),
        Entity::Location => Err(Error::unsupported_entity("Autotask", entity)),
    }
}

/// The key of `entity`'s last-modified stamp (each entity names it differently).
pub(super) fn modified_field(entity: Entity) -> &'static str {
    match entity {
        Entity::Organization => "lastTrackedModifiedDateTime",
        Entity::Contact => "lastModifiedDate",
        _ => "lastModifiedTime",
    }
}

/// The picklists `entity`'s fields read from.
pub(super) fn picklists_in(entity: Entity) -> impl Iterator<Item = Picklist> {
    table(entity).iter().filter_map(|(_, wire)| match wire {
        Wire::Picklist(list) => Some(*list),
        _ => None,
    })
}

/// Whether `entity`'s fields read a product.
pub(super) fn names_products(entity: Entity) -> bool {
    table(entity)
        .iter()
        .any(|(_, wire)| matches!(wire, Wire::Product(_) | Wire::TitleOrProductName(_)))
}

/// The Autotask keys that carry `fields` of `entity`, sorted, each once; fields the table lacks
/// have none.
pub(super) fn keys_of(
    entity: Entity,
    fields: impl IntoIterator<Item = Field>,
) -> Vec<&'static str> {
    let mut keys: Vec<&'static str> = fields
        .into_iter()
        .filter_map(|f| wire_of(entity, f))
        .map(Wire::key)
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// The Autotask keys and values of `key`'s fields that an `eq` filter searches: the entity's
/// key fields carried as text (a picklist label would need its number first; the caller
/// compares the whole key exactly anyway).
pub(super) fn searchable_key(
    entity: Entity,
    key: &Values,
) -> impl Iterator<Item = (&'static str, &str)> {
    key_fields(entity)
        .iter()
        .filter_map(move |field| match wire_of(entity, *field)? {
            wire @ (Wire::Text(_) | Wire::TitleOrProductName(_)) => {
                Some((wire.key(), key.get(*field)?))
            }
            _ => None,
        })
}

/// How [`to_record`] names ids: picklist labels and products, from the client's caches.
pub(super) struct Names<'a> {
    pub(super) company_type: &'a dyn Fn(i64) -> Option<String>,
    pub(super) ci_type: &'a dyn Fn(i64) -> Option<String>,
    pub(super) product: &'a dyn Fn(u64) -> Option<Product>,
}

impl Names<'_> {
    fn of(&self, list: Picklist) -> &dyn Fn(i64) -> Option<String> {
        match list {
            Picklist::CompanyType => self.company_type,
            Picklist::CiType => self.ci_type,
        }
    }
}

/// Autotask JSON → canonical record, with the picklists and products that name ids.
pub(super) fn to_record(entity: Entity, item: &Value, names: &Names<'_>) -> Result<Record> {
    if !item.is_object() {
        return Err(Error::malformed("item is not an object"));
    }
    let mut rec = Record::new(id_of(item, "id")?);
    entity_name(entity)?;
    let product = item
        .get(PRODUCT_KEY)
        .and_then(Value::as_u64)
        .and_then(names.product);
    let mut values = Values::new();
    for (field, wire) in table(entity) {
        values.set(*field, read_one(*wire, item, product.as_ref(), names));
    }
    if entity.has_parent_org() {
        rec.org_id = text(item.get(PARENT_KEY));
    }
    rec.values = values;
    rec.origin = Origin::Psa;
    rec.created_at = millis(item.get("createDate"));
    // A row never modified has no modified stamp: it last changed when it was created.
    rec.updated_at = millis(item.get(modified_field(entity))).max(rec.created_at);
    Ok(rec)
}

fn read_one(
    wire: Wire,
    item: &Value,
    product: Option<&Product>,
    names: &Names<'_>,
) -> Option<String> {
    match wire {
        Wire::Text(key) | Wire::Reference(key) | Wire::Date(key) => text(item.get(key)),
        Wire::Active => active_label(item.get(ACTIVE_KEY)),
        Wire::Picklist(list) => label(names.of(list), item.get(list.key())),
        Wire::TitleOrProductName(key) => {
            text(item.get(key)).or_else(|| product.and_then(|p| p.name.clone()))
        }
        Wire::Product(part) => product.and_then(|p| part.of(p)),
    }
}

/// `isActive` as a status: a boolean, or `0` / `1` (contacts).
fn active_label(value: Option<&Value>) -> Option<String> {
    let active = match value? {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_i64() != Some(0),
        _ => return None,
    };
    Some(if active { "Active" } else { "Inactive" }.to_owned())
}

/// How [`wire_fields`] finds the ids that names stand for (the client asks Autotask on a cache miss).
pub(super) trait Ids {
    /// The picklist value of a label; [`Error::UnknownLookup`] when there is none.
    async fn picklist_value(&self, list: Picklist, label: &str) -> Result<i64>;
    /// The product with this manufacturer and model; [`Error::UnknownLookup`] when there is
    /// none.
    async fn product_id(&self, maker: Option<&str>, model: Option<&str>) -> Result<u64>;
}

/// Canonical changes → Autotask fields. `current` supplies the manufacturer or model that a
/// change of only the other one keeps. Fields the table lacks are skipped.
pub(super) async fn wire_fields(
    entity: Entity,
    changes: &Changes,
    current: Option<&Record>,
    ids: &impl Ids,
) -> Result<Map<String, Value>> {
    let mut out = Map::new();
    for (field, value) in changes {
        let Some(wire) = wire_of(entity, *field) else {
            tracing::debug!(%entity, %field, "field not mapped for Autotask; skipped");
            continue;
        };
        // Manufacturer and model are one product: written once, at the first of the two.
        if matches!(wire, Wire::Product(_)) && out.contains_key(PRODUCT_KEY) {
            continue;
        }
        let value = value.as_deref().filter(|s| !s.is_empty());
        let json = match wire {
            Wire::Text(_) | Wire::TitleOrProductName(_) => string(value),
            Wire::Reference(_) => reference(value)?,
            Wire::Date(_) => string(value.map(at_date).as_deref()),
            Wire::Active => Value::Bool(value.is_some_and(|s| !s.eq_ignore_ascii_case("inactive"))),
            Wire::Picklist(list) => match value {
                Some(label) => ids.picklist_value(list, label).await?.into(),
                None => Value::Null,
            },
            Wire::Product(_) => product(changes, current, ids).await?,
        };
        out.insert(wire.key().to_owned(), json);
    }
    Ok(out)
}

fn string(value: Option<&str>) -> Value {
    value.map_or(Value::Null, Value::from)
}

fn reference(value: Option<&str>) -> Result<Value> {
    match value {
        None => Ok(Value::Null),
        Some(s) => s.parse::<u64>().map(Value::from).map_err(|_| {
            Error::InvalidInput(format!("Autotask reference {s:?} is not a record id"))
        }),
    }
}

/// A date for `installDate` / `warrantyExpirationDate`: Autotask's zone-less midnight
/// date-time (`2024-01-02` → `2024-01-02T00:00:00`); a value that is no date is sent as it is,
/// for Autotask to judge.
fn at_date(v: &str) -> String {
    midnight(v, DateTimeForm::ZoneLess)
}

/// The `productID` of the manufacturer and model after `changes` (a half the changes leave
/// alone is kept from `current`); `null` when both are empty.
async fn product(changes: &Changes, current: Option<&Record>, ids: &impl Ids) -> Result<Value> {
    let half = |f: Field| match changes.get(&f) {
        Some(v) => v.clone().filter(|s| !s.is_empty()),
        None => current.and_then(|r| r.get(f)).map(str::to_owned),
    };
    let (maker, model) = (half(Field::Manufacturer), half(Field::Model));
    if maker.is_none() && model.is_none() {
        return Ok(Value::Null);
    }
    Ok(ids
        .product_id(maker.as_deref(), model.as_deref())
        .await?
        .into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autotask::STANDARD_COMPANY_TYPES;
    use serde_json::json;
    use syncbridge_model::{changes_setting, field_map, Direction, PsaKind};

    #[test]
    fn picklists_name_types_and_unknown_values_stay_numeric() {
        let types = |n: i64| {
            STANDARD_COMPANY_TYPES
                .iter()
                .find(|(v, _)| *v == n)
                .map(|(_, l)| (*l).to_owned())
        };
        let names = Names {
            company_type: &types,
            ci_type: &|_| None,
            product: &|id| {
                (id == 5).then(|| Product {
                    id,
                    name: Some("Dell R650".into()),
                    maker: Some("Dell".into()),
                    model: Some("PowerEdge R650".into()),
                    active: true,
                })
            },
        };
        let r = to_record(
            Entity::Organization,
            &json!({"id": 4, "companyName": "Acme", "companyType": 99, "isActive": false}),
            &names,
        )
        .unwrap();
        assert_eq!(r.get(Field::Type), Some("99"));
        assert_eq!(r.get(Field::Status), Some("Inactive"));
        let r = to_record(
            Entity::Organization,
            &json!({"id": 4, "companyName": "Acme", "companyType": "7"}),
            &names,
        )
        .unwrap();
        assert_eq!(r.get(Field::Type), Some("Vendor"));
        let ci = to_record(
            Entity::Configuration,
            &json!({"id": 8, "companyID": 4, "configurationItemType": 2, "productID": 5}),
            &names,
        )
        .unwrap();
        assert_eq!(ci.get(Field::Name), Some("Dell R650"));
        assert_eq!(ci.get(Field::Manufacturer), Some("Dell"));
        assert_eq!(ci.get(Field::Model), Some("PowerEdge R650"));
        assert_eq!(ci.get(Field::Type), Some("2"));
        assert!(matches!(
            to_record(Entity::Contact, &json!("x"), &names),
            Err(Error::Malformed(_))
        ));
    }

    const PICKLISTS: &[(Picklist, i64, &str)] = &[
        (Picklist::CompanyType, 7, "Vendor"),
        (Picklist::CiType, 2, "Server"),
    ];
    const PRODUCT: (u64, &str, &str) = (5, "Dell", "PowerEdge R650");

    /// Picklists and one product, as the client's caches would hold them.
    struct FakeIds;

    impl Ids for FakeIds {
        async fn picklist_value(&self, list: Picklist, label: &str) -> Result<i64> {
            PICKLISTS
                .iter()
                .find(|(l, _, name)| *l == list && *name == label)
                .map(|(_, value, _)| *value)
                .ok_or_else(|| Error::InvalidInput(format!("no {list:?} {label}")))
        }

        async fn product_id(&self, maker: Option<&str>, model: Option<&str>) -> Result<u64> {
            let (id, product_maker, product_model) = PRODUCT;
            (maker.is_none_or(|m| m == product_maker) && model.is_none_or(|m| m == product_model))
                .then_some(id)
                .ok_or_else(|| Error::InvalidInput(format!("no product {maker:?} {model:?}")))
        }
    }

    fn fake_label(list: Picklist, value: i64) -> Option<String> {
        PICKLISTS
            .iter()
            .find(|(l, v, _)| *l == list && *v == value)
            .map(|(_, _, name)| (*name).to_owned())
    }

    fn fake_product(id: u64) -> Option<Product> {
        let (product_id, maker, model) = PRODUCT;
        (id == product_id).then(|| Product {
            id,
            name: Some("Dell R650".into()),
            maker: Some(maker.into()),
            model: Some(model.into()),
            active: true,
        })
    }

    fn fake_names() -> Names<'static> {
        Names {
            company_type: &|n| fake_label(Picklist::CompanyType, n),
            ci_type: &|n| fake_label(Picklist::CiType, n),
            product: &fake_product,
        }
    }

    /// A value `wire` can carry that is not its default.
    fn sample(field: Field, wire: Wire) -> String {
        match wire {
            Wire::Text(_) | Wire::TitleOrProductName(_) => format!("{field} of Acme"),
            Wire::Reference(_) => "42".into(),
            Wire::Date(_) => "2024-01-02".into(),
            Wire::Active => "Inactive".into(),
            Wire::Picklist(list) => fake_label(list, picklist_sample(list)).unwrap(),
            Wire::Product(ProductPart::Manufacturer) => PRODUCT.1.into(),
            Wire::Product(ProductPart::Model) => PRODUCT.2.into(),
        }
    }

    fn picklist_sample(list: Picklist) -> i64 {
        PICKLISTS.iter().find(|(l, _, _)| *l == list).unwrap().1
    }

    fn synced() -> impl Iterator<Item = Entity> {
        Entity::ALL
            .into_iter()
            .filter(|e| !field_map(PsaKind::Autotask, *e).is_empty())
    }

    #[tokio::test]
    async fn every_mapped_field_has_a_wire_and_two_way_ones_are_written() {
        for entity in synced() {
            let map = field_map(PsaKind::Autotask, entity);
            for spec in map {
                let wire = wire_of(entity, spec.field)
                    .unwrap_or_else(|| panic!("{entity} {} has no wire", spec.field));
                if spec.direction == Direction::Both {
                    let changes: Changes = [(spec.field, Some(sample(spec.field, wire)))].into();
                    let out = wire_fields(entity, &changes, None, &FakeIds).await.unwrap();
                    assert!(
                        out.get(wire.key()).is_some_and(|v| !v.is_null()),
                        "{entity} {} is not written: {out:?}",
                        spec.field
                    );
                }
            }
            for (field, _) in table(entity) {
                assert!(
                    map.iter().any(|spec| spec.field == *field),
                    "{entity} {field} is carried but not in the model's field map"
                );
            }
        }
        assert!(table(Entity::Location).is_empty());
    }

    #[tokio::test]
    async fn every_field_written_reads_back_the_same() {
        for entity in synced() {
            let mut values = Values::new();
            for (field, wire) in table(entity) {
                values.set(*field, Some(sample(*field, *wire)));
            }
            let mut item = wire_fields(entity, &changes_setting(&values), None, &FakeIds)
                .await
                .unwrap();
            item.insert("id".into(), 1.into());
            let record = to_record(entity, &Value::Object(item), &fake_names()).unwrap();
            assert_eq!(record.values, values, "{entity}");
        }
    }

    #[tokio::test]
    async fn cleared_fields_are_written_as_null_and_status_as_inactive() {
        let changes: Changes = table(Entity::Configuration)
            .iter()
            .map(|(field, _)| (*field, None))
            .collect();
        let out = wire_fields(Entity::Configuration, &changes, None, &FakeIds)
            .await
            .unwrap();
        for (field, wire) in table(Entity::Configuration) {
            let expected = match wire {
                Wire::Active => Value::Bool(false),
                _ => Value::Null,
            };
            assert_eq!(out.get(wire.key()), Some(&expected), "{field}");
        }
    }

    #[tokio::test]
    async fn a_change_of_one_product_half_keeps_the_other() {
        let mut current = Record::new("8");
        current
            .values
            .set(Field::Manufacturer, Some(PRODUCT.1.into()));
        current.values.set(Field::Model, Some("Old model".into()));
        let changes: Changes = [(Field::Model, Some(PRODUCT.2.to_owned()))].into();
        let out = wire_fields(Entity::Configuration, &changes, Some(&current), &FakeIds)
            .await
            .unwrap();
        assert_eq!(out.get(PRODUCT_KEY), Some(&Value::from(PRODUCT.0)));
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn key_searches_use_text_keys_only() {
        let mut key = Values::new();
        key.set(Field::Name, Some("web01".into()));
        key.set(Field::Type, Some("Server".into()));
        let searched: Vec<_> = searchable_key(Entity::Configuration, &key).collect();
        assert_eq!(searched, vec![("referenceTitle", "web01")]);
        assert_eq!(
            keys_of(
                Entity::Configuration,
                [Field::Model, Field::Manufacturer, Field::InstalledBy]
            ),
            vec![PRODUCT_KEY]
        );
    }
}
