//! The Tigerpaw field table (reference §2.4): for each entity, which canonical [`Field`] is read
//! from where in the vendor's summary DTOs ([`Wire`]). Tigerpaw is synced one way, so the table
//! has the read direction only: [`account_record`], [`location_record`] and [`contact_record`]
//! all read through it.
//!
//! An `AccountSummary` is `{AccountNumber, PhoneNumber, Account: {…}}` and a `ContactSummary`
//! `{ContactNumber, EmailAddress, PhoneNumber, Contact: {…}}`: a few values sit on the summary,
//! the rest in the nested record. A location is an account's address (id = the account number,
//! named by its first address line); an account without one has no location.

use serde_json::Value;
use syncbridge_model::{Entity, Field, Origin, Record, Values};

use crate::error::{Error, Result};
use crate::wire::text;

/// Where a field is read in a summary row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Wire {
    /// A key of the nested record (`Account` or `Contact`).
    Detail(&'static str),
    /// A key of the summary itself.
    Summary(&'static str),
}

use Wire::*;

const ACCOUNT: &[(Field, Wire)] = &[
    (Field::Name, Detail("Name")),
    (Field::Status, Detail("Status")),
    (Field::Type, Detail("AccountType")),
    (Field::ShortName, Detail("AccountId")),
];

const LOCATION: &[(Field, Wire)] = &[
    (Field::Name, Detail("Address1")),
    (Field::Address1, Detail("Address1")),
    (Field::Address2, Detail("Address2")),
    (Field::City, Detail("City")),
    (Field::Region, Detail("State")),
    (Field::PostalCode, Detail("PostalCode")),
    (Field::Country, Detail("Country")),
    (Field::Phone, Summary("PhoneNumber")),
];

const CONTACT: &[(Field, Wire)] = &[
    (Field::FirstName, Detail("FirstName")),
    (Field::LastName, Detail("LastName")),
    (Field::Title, Detail("Title")),
    (Field::Notes, Detail("PersonalNotes")),
    (Field::Email, Summary("EmailAddress")),
    (Field::Phone, Summary("PhoneNumber")),
];

/// The table of an entity; configurations are not synced with Tigerpaw.
pub(super) fn table(entity: Entity) -> &'static [(Field, Wire)] {
    match entity {
        Entity::Organization => ACCOUNT,
        Entity::Location => LOCATION,
        Entity::Contact => CONTACT,
        Entity::Configuration => &[],
    }
}

/// The values of a summary row and its nested record by `entity`'s table.
fn read(entity: Entity, summary: &Value, detail: &Value) -> Values {
    let mut values = Values::new();
    for (field, wire) in table(entity) {
        let value = match *wire {
            Detail(key) => text(detail.get(key)),
            Summary(key) => text(summary.get(key)),
        };
        values.set(*field, value);
    }
    values
}

/// A PSA record with the given id and values.
fn psa_record(id: String, org_id: Option<String>, values: Values) -> Record {
    let mut rec = Record::new(id);
    rec.org_id = org_id;
    rec.values = values;
    rec.origin = Origin::Psa;
    rec
}

/// An AccountSummary's nested `Account` and its account number.
pub(super) fn account_of(row: &Value) -> Result<(&Value, String)> {
    let number = text(row.get("AccountNumber"))
        .ok_or_else(|| Error::malformed("account without AccountNumber"))?;
    let account = row
        .get("Account")
        .filter(|a| a.is_object())
        .ok_or_else(|| Error::malformed("account without Account"))?;
    Ok((account, number))
}

/// AccountSummary → organization.
pub(super) fn account_record(row: &Value) -> Result<Record> {
    let (account, number) = account_of(row)?;
    let values = read(Entity::Organization, row, account);
    Ok(psa_record(number, None, values))
}

/// AccountSummary → its address as a location (none without an address), id = account number.
pub(super) fn location_record(row: &Value) -> Result<Option<Record>> {
    let (account, number) = account_of(row)?;
    if text(account.get("Address1")).is_none() {
        return Ok(None);
    }
    let values = read(Entity::Location, row, account);
    Ok(Some(psa_record(number.clone(), Some(number), values)))
}

/// ContactSummary → contact; inactive contacts are not synced (none).
pub(super) fn contact_record(row: &Value) -> Result<Option<Record>> {
    let number = text(row.get("ContactNumber"))
        .ok_or_else(|| Error::malformed("contact without ContactNumber"))?;
    let contact = row
        .get("Contact")
        .filter(|c| c.is_object())
        .ok_or_else(|| Error::malformed("contact without Contact"))?;
    if contact.get("Inactive").and_then(Value::as_bool) == Some(true) {
        return Ok(None);
    }
    let account = text(contact.get("AccountNumber"));
    let values = read(Entity::Contact, row, contact);
    Ok(Some(psa_record(number, account, values)))
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use syncbridge_model::{field_map, Direction, PsaKind};

    use super::*;

    #[test]
    fn every_mapped_field_has_an_entry_and_none_is_two_way() {
        for entity in [
            Entity::Organization,
            Entity::Contact,
            Entity::Configuration,
            Entity::Location,
        ] {
            for spec in field_map(PsaKind::Tigerpaw, entity) {
                assert!(
                    table(entity).iter().any(|(f, _)| *f == spec.field),
                    "{entity}: {:?} is not in the table",
                    spec.field
                );
                // The table cannot write: a two-way field would never reach Tigerpaw.
                assert_ne!(
                    spec.direction,
                    Direction::Both,
                    "{entity}: {:?}",
                    spec.field
                );
            }
        }
    }

    fn values(pairs: &[(Field, &str)]) -> Values {
        pairs.iter().map(|(f, v)| (*f, (*v).to_owned())).collect()
    }

    /// An AccountSummary as the vendor's Swagger shows it.
    fn account_summary() -> Value {
        json!({
            "AccountNumber": 1052932,
            "PhoneNumber": "555-0100",
            "Account": {
                "Name": "Acme", "Status": "Active", "AccountType": "Customer",
                "AccountId": "ACME", "Address1": "1 Main St", "Address2": "Suite 2",
                "City": "Springfield", "State": "IL", "PostalCode": "62701", "Country": "USA"
            }
        })
    }

    #[test]
    fn an_account_summary_reads_as_organization_and_location() {
        let org = account_record(&account_summary()).unwrap();
        assert_eq!(org.id, "1052932");
        assert_eq!(org.org_id, None);
        let want = values(&[
            (Field::Name, "Acme"),
            (Field::Status, "Active"),
            (Field::Type, "Customer"),
            (Field::ShortName, "ACME"),
        ]);
        assert_eq!(org.values, want);

        let loc = location_record(&account_summary()).unwrap().unwrap();
        assert_eq!(
            (loc.id.as_str(), loc.org_id.as_deref()),
            ("1052932", Some("1052932"))
        );
        let want = values(&[
            (Field::Name, "1 Main St"),
            (Field::Address1, "1 Main St"),
            (Field::Address2, "Suite 2"),
            (Field::City, "Springfield"),
            (Field::Region, "IL"),
            (Field::PostalCode, "62701"),
            (Field::Country, "USA"),
            (Field::Phone, "555-0100"),
        ]);
        assert_eq!(loc.values, want);
    }

    #[test]
    fn a_contact_summary_reads_from_the_summary_and_the_contact() {
        let row = json!({
            "ContactNumber": 7, "EmailAddress": "a@example.com", "PhoneNumber": "555-0101",
            "Contact": {"FirstName": "Ann", "LastName": "Lee", "Title": "CTO",
                "PersonalNotes": "VIP", "AccountNumber": 1052932, "Inactive": false}
        });
        let rec = contact_record(&row).unwrap().unwrap();
        assert_eq!(
            (rec.id.as_str(), rec.org_id.as_deref()),
            ("7", Some("1052932"))
        );
        let want = values(&[
            (Field::FirstName, "Ann"),
            (Field::LastName, "Lee"),
            (Field::Title, "CTO"),
            (Field::Notes, "VIP"),
            (Field::Email, "a@example.com"),
            (Field::Phone, "555-0101"),
        ]);
        assert_eq!(rec.values, want);
    }

    #[test]
    fn malformed_rows_are_typed_errors_and_inactive_contacts_are_skipped() {
        assert!(matches!(
            account_record(&json!({"AccountNumber": 1})),
            Err(Error::Malformed(_))
        ));
        let inactive = json!({"ContactNumber": 2, "Contact": {"FirstName": "A", "Inactive": true}});
        assert_eq!(contact_record(&inactive).unwrap(), None);
        let no_address = json!({"AccountNumber": 3, "Account": {"Name": "X"}});
        assert_eq!(location_record(&no_address).unwrap(), None);
    }
}
