//! A contact's e-mails and phones: IT Glue keeps them as lists of entries
//! (`contact-emails`, `contact-phones`: `value`, `primary`, `label-name`, phones also
//! `label-type`), where syncbridge has one field each (e-mail; phone, mobile, fax).
//!
//! Reading picks the entry a field stands for, preferring the primary one. Writing edits that
//! entry inside the list the contact has now and sends the whole list back (IT Glue replaces the
//! list), so the entries syncbridge does not map survive an update.

use serde_json::{json, Map, Value};
use syncbridge_model::Field;

use crate::wire::text;

const EMAILS: &str = "contact-emails";
const PHONES: &str = "contact-phones";

/// The contact's e-mail: the primary entry of `contact-emails`, else the first.
pub(super) fn read_email(attrs: &Value) -> Option<String> {
    pick_entry(attrs.get(EMAILS), |_| true)
}

/// The contact's `field` (phone, mobile or fax): the primary entry of that kind, else the first.
pub(super) fn read_phone(attrs: &Value, field: Field) -> Option<String> {
    pick_entry(attrs.get(PHONES), |e| phone_kind(e) == field)
}

/// The edited lists of one write, each started from the contact's current list on first use.
pub(super) struct ListEdits<'a> {
    /// The contact as IT Glue has it now (`None` for a create).
    current: Option<&'a Value>,
    emails: Option<Vec<Value>>,
    phones: Option<Vec<Value>>,
}

impl<'a> ListEdits<'a> {
    pub fn new(current: Option<&'a Value>) -> Self {
        ListEdits {
            current,
            emails: None,
            phones: None,
        }
    }

    /// Sets (or removes, for `None`) the primary e-mail.
    pub fn set_email(&mut self, value: Option<&str>) {
        let list = self
            .emails
            .get_or_insert_with(|| current_list(self.current, EMAILS));
        set_entry(list, value, is_primary, &[("label-name", "Work")]);
    }

    /// Sets (or removes, for `None`) the phone entry of `field` (phone, mobile or fax).
    pub fn set_phone(&mut self, field: Field, value: Option<&str>) {
        let list = self
            .phones
            .get_or_insert_with(|| current_list(self.current, PHONES));
        let (label_name, label_type) = phone_label(field);
        set_entry(
            list,
            value,
            |e| phone_kind(e) == field,
            &[("label-name", label_name), ("label-type", label_type)],
        );
        if field == Field::Fax {
            // A fax stored by an older writer as a phone labelled "Fax" becomes one.
            for e in list.iter_mut().filter(|e| phone_kind(e) == Field::Fax) {
                if let Some(obj) = e.as_object_mut() {
                    obj.insert("label-type".into(), "fax".into());
                }
            }
        }
    }

    /// Adds the edited lists to the attributes of the write.
    pub fn write_into(self, attrs: &mut Map<String, Value>) {
        if let Some(list) = self.emails {
            attrs.insert(EMAILS.into(), Value::Array(list));
        }
        if let Some(list) = self.phones {
            attrs.insert(PHONES.into(), Value::Array(list));
        }
    }
}

fn is_primary(entry: &Value) -> bool {
    entry.get("primary") == Some(&Value::Bool(true))
}

/// The label name and label type of a new `contact-phones` entry for `field`.
fn phone_label(field: Field) -> (&'static str, &'static str) {
    match field {
        Field::Mobile => ("Mobile", "phone"),
        Field::Fax => ("Fax", "fax"),
        _ => ("Work", "phone"),
    }
}

/// Which canonical field a `contact-phones` entry is. IT Glue marks a fax by `label-type: "fax"`;
/// the label name is free text ("Work", "Cell", "Office", "Mobile", …; audit ITG-3). So: a fax
/// by its type, or by a label name with the word "fax" (entries written without a type are
/// stored as phones); a mobile by a label name with the word "mobile", "cell" or "cellular";
/// anything else a phone.
fn phone_kind(entry: &Value) -> Field {
    let label_type = entry
        .get("label-type")
        .and_then(Value::as_str)
        .unwrap_or("phone");
    let label = entry
        .get("label-name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_ascii_lowercase();
    let has_word = |words: &[&str]| {
        label
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|w| words.contains(&w))
    };
    if label_type.eq_ignore_ascii_case("fax") || has_word(&["fax"]) {
        Field::Fax
    } else if has_word(&["mobile", "cell", "cellular", "cellphone"]) {
        Field::Mobile
    } else {
        Field::Phone
    }
}

/// The contact's list under `key` as it is now; empty for a create.
fn current_list(current: Option<&Value>, key: &str) -> Vec<Value> {
    current
        .and_then(|c| c.pointer(&format!("/attributes/{key}")))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// Sets (or removes, for `None`) the entry `is_it` selects, preferring the primary one; a new
/// entry carries the `labels` (`label-name`, and `label-type` for phones).
fn set_entry(
    list: &mut Vec<Value>,
    value: Option<&str>,
    is_it: impl Fn(&Value) -> bool,
    labels: &[(&str, &str)],
) {
    let pos = list
        .iter()
        .position(|e| is_it(e) && is_primary(e))
        .or_else(|| list.iter().position(&is_it));
    match (pos, value) {
        (Some(i), Some(v)) => {
            if let Some(obj) = list[i].as_object_mut() {
                obj.insert("value".into(), v.into());
            }
        }
        (Some(i), None) => {
            list.remove(i);
        }
        (None, Some(v)) => {
            let first_of_kind = !list.iter().any(is_primary);
            let mut entry = json!({"value": v, "primary": first_of_kind});
            for (k, l) in labels {
                entry[*k] = Value::from(*l);
            }
            list.push(entry);
        }
        (None, None) => {}
    }
}

/// The entry of a contact list `is_it` selects, preferring the primary one.
fn pick_entry(list: Option<&Value>, is_it: impl Fn(&Value) -> bool) -> Option<String> {
    let list = list?.as_array()?;
    list.iter()
        .filter(|e| is_it(e))
        .find(|e| is_primary(e))
        .or_else(|| list.iter().find(|e| is_it(e)))
        .and_then(|e| text(e.get("value")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_are_classified_by_label_type_and_free_text_label() {
        let kind = |v: Value| phone_kind(&v);
        assert_eq!(
            kind(json!({"label-name": "Main", "label-type": "fax"})),
            Field::Fax
        );
        assert_eq!(kind(json!({"label-name": "Office Fax"})), Field::Fax);
        assert_eq!(
            kind(json!({"label-name": "Cell", "label-type": "phone"})),
            Field::Mobile
        );
        assert_eq!(kind(json!({"label-name": "Work mobile"})), Field::Mobile);
        assert_eq!(kind(json!({"label-name": "Office"})), Field::Phone);
        assert_eq!(kind(json!({"label-name": "Cellar"})), Field::Phone);
        assert_eq!(kind(json!({})), Field::Phone);
    }
}
