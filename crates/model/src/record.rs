//! Canonical records: one organization, configuration, contact or location as one side holds it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::dates;
use crate::fields::Field;

/// Milliseconds since the Unix epoch (UTC). Plain integers keep this crate free of a time library.
pub type UnixMillis = i64;

/// A record's field values in canonical names. An empty string and a missing field mean the same
/// ("no value"): vendors disagree on `null` vs `""`, and matching must not see a difference.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "BTreeMap<Field, String>", into = "BTreeMap<Field, String>")]
pub struct Values(BTreeMap<Field, String>);

impl From<BTreeMap<Field, String>> for Values {
    fn from(map: BTreeMap<Field, String>) -> Self {
        map.into_iter().collect()
    }
}

impl From<Values> for BTreeMap<Field, String> {
    fn from(v: Values) -> Self {
        v.0
    }
}

impl Values {
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of a field, `None` when absent or empty.
    pub fn get(&self, field: Field) -> Option<&str> {
        self.0
            .get(&field)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// Sets a field; `None` (or an empty string) clears it. A date field is kept in its canonical
    /// form (`YYYY-MM-DD`, see [`crate::dates`]), so vendors' date formats never look like edits.
    pub fn set(&mut self, field: Field, value: Option<String>) {
        match value.filter(|v| !v.is_empty()) {
            Some(v) => {
                self.0.insert(field, dates::normalise(field, v));
            }
            None => {
                self.0.remove(&field);
            }
        }
    }

    /// Builder form of [`Values::set`].
    pub fn with(mut self, field: Field, value: impl Into<String>) -> Self {
        self.set(field, Some(value.into()));
        self
    }

    pub fn iter(&self) -> impl Iterator<Item = (Field, &str)> {
        self.0
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(f, v)| (*f, v.as_str()))
    }

    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// Only the given fields (absent ones stay absent).
    pub fn project(&self, fields: impl IntoIterator<Item = Field>) -> Values {
        let mut out = Values::new();
        for f in fields {
            out.set(f, self.get(f).map(str::to_owned));
        }
        out
    }
}

impl FromIterator<(Field, String)> for Values {
    fn from_iter<I: IntoIterator<Item = (Field, String)>>(iter: I) -> Self {
        let mut v = Values::new();
        for (f, s) in iter {
            v.set(f, Some(s));
        }
        v
    }
}

/// Where an IT Glue record came from. Decides whether two-way sync pushes it without a person's
/// edit (DESIGN §3, Two-way and Network Glue rules). PSA records are always `Psa`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// Created by a person in the IT Glue UI.
    #[default]
    Manual,
    /// Created through IT Glue's API by another tool.
    Api,
    /// Imported in bulk (CSV, migration): waits for a person's edit before a push.
    Import,
    /// Created by Network Glue from Active Directory data.
    NetworkGlue,
    /// Created by IT Glue's Microsoft 365 integration.
    Microsoft365,
    /// Created by a PSA sync (ours or IT Glue's native one), or a PSA-side record.
    Psa,
}

/// One record as one side holds it, in canonical form.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The record's id on its own side.
    pub id: String,
    /// For contacts, configurations and locations: the organization's id on the same side.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    pub values: Values,
    /// Further types of a multi-type PSA company (ConnectWise): the gate accepts any enabled one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_types: Vec<String>,
    #[serde(default)]
    pub origin: Origin,
    #[serde(default)]
    pub created_at: UnixMillis,
    #[serde(default)]
    pub updated_at: UnixMillis,
}

impl Record {
    pub fn new(id: impl Into<String>) -> Self {
        Record {
            id: id.into(),
            ..Record::default()
        }
    }

    pub fn in_org(mut self, org_id: impl Into<String>) -> Self {
        self.org_id = Some(org_id.into());
        self
    }

    pub fn with(mut self, field: Field, value: impl Into<String>) -> Self {
        self.values.set(field, Some(value.into()));
        self
    }

    pub fn get(&self, field: Field) -> Option<&str> {
        self.values.get(field)
    }

    /// All type names of the record: the `Type` field and any extra types.
    pub fn types(&self) -> impl Iterator<Item = &str> {
        self.get(Field::Type)
            .into_iter()
            .chain(self.extra_types.iter().map(String::as_str))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_missing_are_the_same_value() {
        let mut a = Values::new();
        a.set(Field::Name, Some(String::new()));
        assert_eq!(a, Values::new());
        assert_eq!(a.get(Field::Name), None);
        let b = Values::new().with(Field::Name, "Acme");
        assert_eq!(b.get(Field::Name), Some("Acme"));
    }

    #[test]
    fn a_date_field_compares_equal_in_every_vendor_format() {
        let itglue = Values::new().with(Field::InstalledAt, "2024-01-02");
        let connectwise = Values::new().with(Field::InstalledAt, "2024-01-02T00:00:00Z");
        let autotask = Values::new().with(Field::InstalledAt, "2024-01-02T00:00:00.000");
        assert_eq!(itglue, connectwise);
        assert_eq!(itglue, autotask);
        // Stored snapshots written before the date kind read back canonical too.
        let old: Values =
            serde_json::from_str(r#"{"installed_at":"2024-01-02T00:00:00Z"}"#).unwrap();
        assert_eq!(old, itglue);
    }

    #[test]
    fn values_serialize_with_canonical_names() {
        let v = Values::new()
            .with(Field::FirstName, "Ada")
            .with(Field::Address1, "1 Main St");
        let json = serde_json::to_string(&v).unwrap();
        assert_eq!(json, r#"{"first_name":"Ada","address_1":"1 Main St"}"#);
        let back: Values = serde_json::from_str(&json).unwrap();
        assert_eq!(back, v);
    }
}
