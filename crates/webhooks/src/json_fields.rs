//! Lenient reading of vendor JSON, and the checks on values that end up in NATS headers.
//!
//! Vendors change the case of keys between API versions (`Metadata`/`metadata`, `PersonId`/
//! `PersonID`), so fields are found case-insensitively. Ids are copied into the `Sync-Record-Id`
//! and `Nats-Msg-Id` headers, so they must be short printable ASCII: a CR/LF in a vendor id must
//! never reach a header.

use serde_json::{Map, Value};

/// The longest id we copy into a header.
const MAX_ID_LEN: usize = 256;

/// `name` in `object`, exact match first, then ASCII case-insensitive.
pub(crate) fn field<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    object.get(name).or_else(|| {
        object
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    })
}

/// Takes `name` out of `object`, found as [`field`] finds it (no copy of a large value).
pub(crate) fn take_field(object: &mut Map<String, Value>, name: &str) -> Option<Value> {
    if let Some(value) = object.remove(name) {
        return Some(value);
    }
    let key = object
        .keys()
        .find(|key| key.eq_ignore_ascii_case(name))?
        .clone();
    object.remove(&key)
}

/// A string field, if present and a string.
pub(crate) fn string_field<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    field(object, name).and_then(Value::as_str)
}

/// An id that is a JSON number or string, as header-safe text.
pub(crate) fn id_field(object: &Map<String, Value>, name: &str) -> Option<String> {
    let text = match field(object, name)? {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => return None,
    };
    header_safe(&text).then_some(text)
}

/// 1–256 bytes of visible ASCII (no spaces, no control characters).
pub(crate) fn header_safe(text: &str) -> bool {
    !text.is_empty() && text.len() <= MAX_ID_LEN && text.bytes().all(|b| b.is_ascii_graphic())
}

/// A vendor string shortened for a log field.
pub(crate) fn shortened(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(64).collect()
}
