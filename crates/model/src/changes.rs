//! What a write asks of a vendor: the field changes of an update, and the IT Glue lookup lists a
//! value may have to be created in. Shared by the rules engine, which decides them, and the
//! connectors, which send them, so neither depends on the other.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::fields::Field;
use crate::record::Values;

/// Field changes for an update: `None` clears the field.
pub type Changes = BTreeMap<Field, Option<String>>;

/// The change set that sets every field of `values` (a create expressed as an update).
pub fn changes_setting(values: &Values) -> Changes {
    values
        .iter()
        .map(|(f, v)| (f, Some(v.to_owned())))
        .collect()
}

/// IT Glue lookup lists that syncbridge creates when a PSA value is missing from them (IT Glue's
/// types and statuses come from the PSA: "set up new types and statuses from your PSA and let them
/// sync to IT Glue").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LookupKind {
    OrganizationType,
    OrganizationStatus,
    ConfigurationType,
    ConfigurationStatus,
    Manufacturer,
    Model,
}
