//! A contact's e-mail and phone lists. The record holds one e-mail and one phone: the default
//! entry of the contact's `emails` / `phones` (else the first). A create sends the entry inside
//! `ContactInputDto`; an update goes through the list's own sub-resource with the
//! `ContactEmailPatchOperationDto[]` / `ContactPhonePatchOperationDto[]` operations (audit BMS-2),
//! computed here from the contact as it is now.

use serde_json::{json, Value};

use crate::wire::text;

/// A contact's e-mail or phone list: the same shape with different names on each DTO.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ContactList {
    Emails,
    Phones,
}

/// A change of a list's default entry: the new value, or `None` to remove it.
pub(super) type ListChange = (ContactList, Option<String>);

/// Type id of e-mail / phone entries we add when the contact has none to copy it from. The
/// type tables are not published; 1 is an assumption (docs/vendors.md).
const DEFAULT_LIST_TYPE_ID: u64 = 1;

/// `RelatedItemOperationType` (v2 spec: enum 0, 1, 2 without names). Read as add / update /
/// delete — an assumption, not verified (audit BMS-2, docs/vendors.md).
const OP_ADD: u64 = 0;
const OP_UPDATE: u64 = 1;
const OP_DELETE: u64 = 2;

impl ContactList {
    /// The sub-resource and the contact summary's list key.
    pub(super) fn list(self) -> &'static str {
        match self {
            ContactList::Emails => "emails",
            ContactList::Phones => "phones",
        }
    }

    /// The value's key in the summary's entries (`ContactEmailOutputDto.EmailAddress`,
    /// `ContactPhoneOutputDto.Phone`).
    pub(super) fn output_key(self) -> &'static str {
        match self {
            ContactList::Emails => "emailAddress",
            ContactList::Phones => "phone",
        }
    }

    /// The value's key on create (`EmailInputDto.EmailAddress`, `PhoneInputDto.PhoneNumber`)
    /// and in the PATCH operations (`EmailAddress` / `PhoneNumber`).
    fn input_key(self) -> &'static str {
        match self {
            ContactList::Emails => "emailAddress",
            ContactList::Phones => "phoneNumber",
        }
    }

    /// The new value's key in an update operation.
    fn new_key(self) -> &'static str {
        match self {
            ContactList::Emails => "newEmailAddress",
            ContactList::Phones => "newPhoneNumber",
        }
    }

    /// The type id's key in entries (output and create).
    fn type_key(self) -> &'static str {
        match self {
            ContactList::Emails => "emailTypeId",
            ContactList::Phones => "phoneTypeId",
        }
    }
}

/// The entry the record shows: the one marked default, else the first.
fn default_of(contact: &Value, list: ContactList) -> Option<&Value> {
    let items = contact.get(list.list())?.as_array()?;
    items
        .iter()
        .find(|e| e.get("isDefault") == Some(&Value::Bool(true)))
        .or_else(|| items.first())
}

/// The value of the default entry of `list` in a contact summary.
pub(super) fn default_entry(contact: &Value, list: ContactList) -> Option<String> {
    text(default_of(contact, list)?.get(list.output_key()))
}

/// The list a created contact starts with: one default entry holding `value`.
pub(super) fn new_list(list: ContactList, value: &str) -> Value {
    json!([{list.input_key(): value, list.type_key(): DEFAULT_LIST_TYPE_ID, "isDefault": true}])
}

/// The operations that set (or remove) the default entry of `list` on `current`, the contact as
/// it is: update the default entry in place (found by its current value), delete it, or add a
/// new default entry typed like the contact's other entries. Nothing when the default already
/// holds the value.
pub(super) fn list_ops(current: &Value, list: ContactList, value: Option<&str>) -> Vec<Value> {
    let default = default_of(current, list);
    let old = default.and_then(|e| text(e.get(list.output_key())));
    let type_id = default
        .and_then(|e| e.get(list.type_key()))
        .and_then(Value::as_u64)
        .filter(|t| *t > 0)
        .unwrap_or(DEFAULT_LIST_TYPE_ID);
    match (old, value) {
        (Some(old), Some(v)) if old == v => Vec::new(),
        (Some(old), Some(v)) => vec![json!({
            "operation": OP_UPDATE,
            list.input_key(): old,
            list.new_key(): v,
            "isDefault": true,
        })],
        (Some(old), None) => vec![json!({"operation": OP_DELETE, list.input_key(): old})],
        (None, Some(v)) => vec![json!({
            "operation": OP_ADD,
            list.input_key(): v,
            "typeId": type_id,
            "isDefault": true,
        })],
        (None, None) => Vec::new(),
    }
}
