//! Autotask picklists: `companyType` and `configurationItemType` are numbers whose labels the
//! tenant defines.
//!
//! Each picklist is read from `GET /{Entity}/entityInformation/fields` on first use and kept in
//! a [`LookupTable`] (reloaded once on a label the cache lacks). Reading names a number by its
//! label, or by the number itself when the picklist has no such value; writing accepts a label
//! or such a number, and a label the tenant does not have is [`Error::UnknownLookup`].

use reqwest::Method;
use serde_json::Value;

use super::client::AutotaskClient;
use crate::error::{Error, Result};
use crate::http::Retry;
use crate::lookup_table::LookupTable;
use crate::wire::text;

/// Autotask's standard `companyType` picklist (tenants may add values). The client reads the
/// tenant's picklist from `Companies/entityInformation/fields`; this list is for tests and
/// documentation.
pub const STANDARD_COMPANY_TYPES: [(i64, &str); 7] = [
    (1, "Customer"),
    (2, "Lead"),
    (3, "Prospect"),
    (4, "Dead"),
    (6, "Cancellation"),
    (7, "Vendor"),
    (8, "Partner"),
];

/// Which picklist a field reads from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Picklist {
    CompanyType,
    CiType,
}

impl Picklist {
    /// The REST collection and the field that holds the picklist.
    fn entity_field(self) -> (&'static str, &'static str) {
        match self {
            Picklist::CompanyType => ("Companies", "companyType"),
            Picklist::CiType => ("ConfigurationItems", "configurationItemType"),
        }
    }

    /// The key records carry the picklist value under.
    pub(super) fn key(self) -> &'static str {
        self.entity_field().1
    }
}

/// The name of a picklist value: its label, else the number itself.
pub(super) fn label(
    names: &dyn Fn(i64) -> Option<String>,
    value: Option<&Value>,
) -> Option<String> {
    let n = picklist_number(value?)?;
    Some(names(n).unwrap_or_else(|| n.to_string()))
}

/// A picklist value as Autotask sends it: a number, or a number in a string.
fn picklist_number(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The picklist of one field in an `entityInformation/fields` answer: (value, label) pairs,
/// inactive values included (records may still carry them).
fn picklist_of(doc: &Value, field: &str) -> Result<Vec<(i64, String)>> {
    let fields = doc
        .get("fields")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::malformed("entityInformation answer without fields"))?;
    let Some(f) = fields.iter().find(|f| {
        f.get("name")
            .and_then(Value::as_str)
            .is_some_and(|n| n.eq_ignore_ascii_case(field))
    }) else {
        return Err(Error::malformed(format!("entity has no field {field}")));
    };
    Ok(f.get("picklistValues")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| Some((picklist_number(v.get("value")?)?, text(v.get("label"))?)))
        .collect())
}

impl AutotaskClient {
    fn picklist_table(&self, list: Picklist) -> &LookupTable {
        match list {
            Picklist::CompanyType => &self.company_types,
            Picklist::CiType => &self.ci_types,
        }
    }

    /// `GET /{Entity}/entityInformation/fields` → the field's picklist.
    async fn load_picklist(&self, list: Picklist) -> Result<Vec<(i64, String)>> {
        let (entity, field) = list.entity_field();
        let doc = self
            .call(
                Method::GET,
                entity,
                "/entityInformation/fields",
                None,
                Retry::Idempotent,
            )
            .await?
            .json()?;
        picklist_of(&doc, field)
    }

    /// The picklist value of a label (loading the picklist on a miss). A label the picklist
    /// lacks may be the value itself (how unknown values are read); otherwise
    /// [`Error::UnknownLookup`].
    pub(super) async fn resolve_label(&self, list: Picklist, name: &str) -> Result<i64> {
        match self
            .picklist_table(list)
            .id(name, || self.load_picklist(list))
            .await
        {
            Err(Error::UnknownLookup { .. }) if name.parse::<i64>().is_ok() => {
                Ok(name.parse().unwrap_or_default())
            }
            other => other,
        }
    }

    /// Makes sure the labels of the `list` values in `items` are known (loading the picklist
    /// when one is missing).
    pub(super) async fn cover_picklist(&self, list: Picklist, items: &[Value]) -> Result<()> {
        let values: Vec<i64> = items
            .iter()
            .filter_map(|i| i.get(list.key()).and_then(picklist_number))
            .collect();
        self.picklist_table(list)
            .cover(&values, || self.load_picklist(list))
            .await
    }

    /// The label of a picklist value, if the loaded picklist has one.
    pub(super) fn picklist_label(&self, list: Picklist, value: i64) -> Option<String> {
        self.picklist_table(list).name_of(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn picklists_are_read_from_entity_information() {
        let doc = json!({"fields": [
            {"name": "companyName", "isPickList": false, "picklistValues": null},
            {"name": "companyType", "isPickList": true, "picklistValues": [
                {"value": "1", "label": "Customer", "isActive": true},
                {"value": 7, "label": "Vendor", "isActive": false},
                {"value": "x", "label": "Broken"}
            ]}
        ]});
        assert_eq!(
            picklist_of(&doc, "CompanyType").unwrap(),
            vec![(1, "Customer".to_owned()), (7, "Vendor".to_owned())]
        );
        assert!(matches!(
            picklist_of(&doc, "nope"),
            Err(Error::Malformed(_))
        ));
    }
}
