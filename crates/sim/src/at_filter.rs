//! Autotask's query filter JSON (`{"filter":[{"op":"eq","field":"companyName","value":"Acme"}]}`),
//! evaluated against a record.
//!
//! Operators: `eq noteq gt gte lt lte beginsWith endsWith contains exist notExist in notIn`, and
//! `and` / `or` groups with `items`. The top-level list is combined with AND. Field names and
//! string comparisons are case-insensitive (Autotask runs on SQL Server's default collation);
//! date-times compare as instants, numbers numerically. Date-time values must be zone-less
//! (`2024-01-02T03:04:05.678`, read in the database's zone, UTC here): a value with a zone is
//! refused, the stricter reading of the unverified REST time zone (audit AT-5).

use std::cmp::Ordering;

use serde_json::Value;

use crate::clock::parse_timestamp;

/// Checks a filter list's shape; the error text is what Autotask-style 500 bodies carry.
pub fn validate(filter: &Value) -> Result<(), String> {
    let items = filter.as_array().ok_or("filter must be an array")?;
    if items.is_empty() {
        return Err("filter must hold at least one condition".into());
    }
    items.iter().try_for_each(validate_item)
}

fn validate_item(item: &Value) -> Result<(), String> {
    let op = item
        .get("op")
        .and_then(Value::as_str)
        .ok_or("each filter needs an op")?
        .to_ascii_lowercase();
    match op.as_str() {
        "and" | "or" => item
            .get("items")
            .and_then(Value::as_array)
            .ok_or_else(|| format!("{op} needs items"))?
            .iter()
            .try_for_each(validate_item),
        "eq" | "noteq" | "gt" | "gte" | "lt" | "lte" | "beginswith" | "endswith" | "contains"
        | "exist" | "notexist" | "in" | "notin" => {
            if item.get("field").and_then(Value::as_str).is_none() {
                return Err(format!("{op} needs a field"));
            }
            let values = match item.get("value") {
                Some(Value::Array(vs)) => vs.iter().collect(),
                Some(v) => vec![v],
                None => Vec::new(),
            };
            match values.into_iter().filter_map(Value::as_str).find(|s| zoned(s)) {
                Some(s) => Err(format!(
                    "Value {s} is not a valid date-time: use yyyy-MM-ddTHH:mm:ss[.fff] without a zone."
                )),
                None => Ok(()),
            }
        }
        other => Err(format!("unknown filter op {other:?}")),
    }
}

/// A date-time with a zone (`Z` or an offset), which Autotask's filters do not take.
fn zoned(s: &str) -> bool {
    time::OffsetDateTime::parse(s.trim(), &time::format_description::well_known::Rfc3339).is_ok()
}

fn field<'a>(record: &'a Value, name: &str) -> &'a Value {
    record
        .as_object()
        .and_then(|o| {
            o.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        })
        .unwrap_or(&Value::Null)
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.to_lowercase()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn compare(have: &Value, want: &Value) -> Option<Ordering> {
    if have.is_null() || want.is_null() {
        return None;
    }
    if let (Some(a), Some(b)) = (as_f64(have), as_f64(want)) {
        return a.partial_cmp(&b);
    }
    if let (Some(a), Some(b)) = (as_bool(have), as_bool(want)) {
        return Some(a.cmp(&b));
    }
    if let (Some(a), Some(b)) = (
        have.as_str().and_then(parse_timestamp),
        want.as_str().and_then(parse_timestamp),
    ) {
        return Some(a.cmp(&b));
    }
    Some(text(have)?.cmp(&text(want)?))
}

fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// Whether a record passes a (validated) filter list.
pub fn matches(filter: &Value, record: &Value) -> bool {
    filter
        .as_array()
        .is_some_and(|items| items.iter().all(|i| item_matches(i, record)))
}

fn item_matches(item: &Value, record: &Value) -> bool {
    let op = item
        .get("op")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_ascii_lowercase();
    let items = || {
        item.get("items")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
    };
    let have = field(
        record,
        item.get("field").and_then(Value::as_str).unwrap_or(""),
    );
    let want = item.get("value").unwrap_or(&Value::Null);
    let cmp = || compare(have, want);
    let has_text = |f: fn(&str, &str) -> bool| match (text(have), text(want)) {
        (Some(h), Some(w)) => f(&h, &w),
        _ => false,
    };
    let in_list = || {
        want.as_array()
            .is_some_and(|vs| vs.iter().any(|v| compare(have, v) == Some(Ordering::Equal)))
    };
    match op.as_str() {
        "and" => items().all(|i| item_matches(i, record)),
        "or" => items().any(|i| item_matches(i, record)),
        "eq" => cmp() == Some(Ordering::Equal),
        "noteq" => cmp() != Some(Ordering::Equal),
        "gt" => cmp() == Some(Ordering::Greater),
        "gte" => matches!(cmp(), Some(Ordering::Greater | Ordering::Equal)),
        "lt" => cmp() == Some(Ordering::Less),
        "lte" => matches!(cmp(), Some(Ordering::Less | Ordering::Equal)),
        "beginswith" => has_text(|h, w| h.starts_with(w)),
        "endswith" => has_text(|h, w| h.ends_with(w)),
        "contains" => has_text(|h, w| h.contains(w)),
        "exist" => !have.is_null() && have != &Value::String(String::new()),
        "notexist" => have.is_null() || have == &Value::String(String::new()),
        "in" => in_list(),
        "notin" => !in_list(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ops_and_groups() {
        let rec = json!({"id": 7, "companyName": "Acme & Co", "isActive": true,
            "lastTrackedModifiedDateTime": "2026-01-02T03:04:05.000"});
        let m = |f: Value| {
            assert!(validate(&f).is_ok(), "{f}");
            matches(&f, &rec)
        };
        assert!(m(
            json!([{"op": "eq", "field": "companyname", "value": "acme & co"}])
        ));
        assert!(m(json!([{"op": "gte", "field": "id", "value": 0}])));
        assert!(m(
            json!([{"op": "gt", "field": "lastTrackedModifiedDateTime", "value": "2026-01-01T00:00:00"}])
        ));
        let zoned = json!([{"op": "gt", "field": "lastTrackedModifiedDateTime",
            "value": "2026-01-01T00:00:00Z"}]);
        assert!(validate(&zoned).is_err());
        assert!(!m(json!([{"op": "lt", "field": "id", "value": 7}])));
        assert!(m(json!([{"op": "or", "items": [
            {"op": "eq", "field": "id", "value": 1},
            {"op": "beginsWith", "field": "companyName", "value": "ACME"}]}])));
        assert!(m(json!([{"op": "in", "field": "id", "value": [1, 7]}])));
        assert!(m(json!([{"op": "eq", "field": "isActive", "value": true}])));
        assert!(m(json!([{"op": "notExist", "field": "phone"}])));
        assert!(validate(&json!([])).is_err());
        assert!(validate(&json!([{"op": "like", "field": "x"}])).is_err());
        assert!(validate(&json!({"op": "eq"})).is_err());
    }
}
