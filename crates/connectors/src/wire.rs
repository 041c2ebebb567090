//! Small helpers for reading vendor JSON defensively: a missing or oddly typed value is "no
//! value", never a panic, and timestamps in the vendors' formats become epoch milliseconds.

use serde_json::Value;
use syncbridge_model::UnixMillis;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::error::{Error, Result};

/// A scalar as text: strings as they are, numbers in decimal, `true` as `"true"`; `null`,
/// `false`, empty strings, arrays and objects are "no value".
pub(crate) fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(true) => Some("true".into()),
        _ => None,
    }
}

/// `obj[a][b]…` as text.
pub(crate) fn path_text(v: &Value, path: &[&str]) -> Option<String> {
    let mut cur = v;
    for p in path {
        cur = cur.get(*p)?;
    }
    text(Some(cur))
}

/// A record id (number or string) as text, required.
pub(crate) fn id_of(v: &Value, key: &str) -> Result<String> {
    text(v.get(key)).ok_or_else(|| Error::malformed(format!("record without {key}")))
}

/// RFC 3339 (or a zone-less ISO date-time, read as UTC) → epoch milliseconds; 0 when absent or
/// unreadable (the timestamp is informative, never a key).
pub(crate) fn millis(v: Option<&Value>) -> UnixMillis {
    let Some(s) = v.and_then(Value::as_str) else {
        return 0;
    };
    let parsed = OffsetDateTime::parse(s, &Rfc3339)
        .or_else(|_| OffsetDateTime::parse(&format!("{s}Z"), &Rfc3339));
    parsed
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as UnixMillis)
        .unwrap_or(0)
}

/// Epoch milliseconds → `2026-01-02T03:04:05.678Z`.
pub(crate) fn rfc3339(ms: UnixMillis) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".into())
}

/// Epoch milliseconds → zone-less UTC `2026-01-02T03:04:05.678` (Autotask's filter values).
pub(crate) fn zoneless(ms: UnixMillis) -> String {
    let mut s = rfc3339(ms);
    if s.ends_with('Z') {
        s.pop();
    }
    s
}

/// Epoch milliseconds → `2026-01-02T03:04:05Z` (second precision, rounded down).
pub(crate) fn rfc3339_seconds(ms: UnixMillis) -> String {
    rfc3339(ms.div_euclid(1000) * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn odd_values_are_no_value() {
        assert_eq!(text(Some(&json!(null))), None);
        assert_eq!(text(Some(&json!(""))), None);
        assert_eq!(text(Some(&json!([1]))), None);
        assert_eq!(text(Some(&json!(42))), Some("42".into()));
        assert_eq!(millis(Some(&json!("garbage"))), 0);
        assert_eq!(
            millis(Some(&json!("2023-11-14T22:13:20.123Z"))),
            1_700_000_000_123
        );
        assert_eq!(
            millis(Some(&json!("2023-11-14T22:13:20"))),
            1_700_000_000_000
        );
        assert_eq!(rfc3339_seconds(1_700_000_000_123), "2023-11-14T22:13:20Z");
        assert_eq!(zoneless(1_700_000_000_123), "2023-11-14T22:13:20.123");
    }
}
