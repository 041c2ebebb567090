//! A contact's email, phone and fax: entries of its `communicationItems` list, not fields of
//! their own.
//!
//! Each entry has a `communicationType` (`Email`, `Phone`, `Fax`; a `Phone` whose type is named
//! `Fax` is a fax) and a `defaultFlag`. The canonical Email / Phone / Fax is the default entry of
//! its kind, else the first. The list is written whole, so a change starts from the contact's
//! current list (the caller reads it first) and leaves every other entry as it was; a new entry
//! needs its communication type by id, looked up by description.

use serde_json::{json, Value};
use syncbridge_model::Field;

use super::lookups::Lookups;
use crate::error::Result;
use crate::wire::{path_text, text};

/// The key of the list.
pub(super) const KEY: &str = "communicationItems";

/// The lookup list of communication types.
const COMMUNICATION_TYPES: &str = "company/communicationTypes";

/// The canonical field an entry carries, if any.
fn kind(item: &Value) -> Option<Field> {
    let is_fax =
        || path_text(item, &["type", "name"]).is_some_and(|n| n.eq_ignore_ascii_case("fax"));
    match item.get("communicationType").and_then(Value::as_str) {
        Some(t) if t.eq_ignore_ascii_case("email") => Some(Field::Email),
        Some(t) if t.eq_ignore_ascii_case("fax") => Some(Field::Fax),
        Some(t) if t.eq_ignore_ascii_case("phone") && is_fax() => Some(Field::Fax),
        Some(t) if t.eq_ignore_ascii_case("phone") => Some(Field::Phone),
        _ => None,
    }
}

/// The entry `field` is read from and written to: the default entry of that kind, else the first.
fn position(list: &[Value], field: Field) -> Option<usize> {
    let default = |e: &Value| e.get("defaultFlag") == Some(&Value::Bool(true));
    list.iter()
        .position(|e| kind(e) == Some(field) && default(e))
        .or_else(|| list.iter().position(|e| kind(e) == Some(field)))
}

/// A new entry's `communicationType` and the name of its communication type (ConnectWise's
/// standard types).
fn new_entry_kind(field: Field) -> (&'static str, &'static str) {
    match field {
        Field::Email => ("Email", "Email"),
        Field::Fax => ("Fax", "Fax"),
        _ => ("Phone", "Direct"),
    }
}

/// The value of `field` in a contact row.
pub(super) fn read(row: &Value, field: Field) -> Option<String> {
    let list = row.get(KEY)?.as_array()?;
    position(list, field).and_then(|i| text(list[i].get("value")))
}

/// The list a change starts from: the current record's, or none.
pub(super) fn items(current: Option<&Value>) -> Vec<Value> {
    current
        .and_then(|c| c.get(KEY))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// Sets `field`'s entry in `list` to `value`: its value replaced, the entry removed (`None`), or
/// a new default entry added.
pub(super) async fn write(
    lookups: &impl Lookups,
    list: &mut Vec<Value>,
    field: Field,
    value: Option<&str>,
) -> Result<()> {
    match (position(list, field), value) {
        (Some(i), Some(v)) => {
            if let Some(o) = list[i].as_object_mut() {
                o.insert("value".into(), v.into());
            }
        }
        (Some(i), None) => {
            list.remove(i);
        }
        (None, Some(v)) => {
            let (communication_type, type_name) = new_entry_kind(field);
            let type_id = lookups
                .lookup_id(COMMUNICATION_TYPES, "description", type_name)
                .await?;
            list.push(
                json!({"type": {"id": type_id, "name": type_name}, "value": v,
                "communicationType": communication_type, "defaultFlag": true}),
            );
        }
        (None, None) => {}
    }
    Ok(())
}
