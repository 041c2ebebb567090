//! JSON-Patch (RFC 6902 subset) as ConnectWise and Kaseya BMS accept it on PATCH: an array of
//! `{op, path, value}` with `replace`, `add` and `remove`, paths like `name`, `/name` or
//! `status/id` (the leading slash is optional, as both vendors' clients send either form).

use serde_json::{Map, Value};

/// Applies a JSON-Patch array (`op` replace/add/remove, `path` like `name`, `/name`,
/// `status/id`) to a record's fields; returns the top-level fields touched.
pub fn apply_json_patch(
    fields: &mut Map<String, Value>,
    ops: &Value,
) -> Result<Vec<String>, String> {
    let ops = ops
        .as_array()
        .ok_or("the body must be a JSON-Patch array")?;
    let mut touched = Vec::new();
    for op in ops {
        let kind = op
            .get("op")
            .and_then(Value::as_str)
            .ok_or("each operation needs an op")?;
        let path = op
            .get("path")
            .and_then(Value::as_str)
            .ok_or("each operation needs a path")?;
        let segs: Vec<&str> = path
            .trim_start_matches('/')
            .split('/')
            .filter(|s| !s.is_empty())
            .collect();
        let Some((first, rest)) = segs.split_first() else {
            return Err(format!("invalid path {path:?}"));
        };
        if *first == "id" || *first == "_info" {
            return Err(format!("{first} cannot be changed"));
        }
        match kind.to_ascii_lowercase().as_str() {
            "replace" | "add" => {
                let value = op.get("value").cloned().unwrap_or(Value::Null);
                set_path(fields, first, rest, value);
            }
            "remove" => {
                if rest.is_empty() {
                    fields.remove(*first);
                } else {
                    set_path(fields, first, rest, Value::Null);
                }
            }
            other => return Err(format!("unsupported op {other:?}")),
        }
        touched.push((*first).to_owned());
    }
    touched.dedup();
    Ok(touched)
}

fn set_path(fields: &mut Map<String, Value>, first: &str, rest: &[&str], value: Value) {
    if rest.is_empty() {
        fields.insert(first.to_owned(), value);
        return;
    }
    // Setting `status/id` replaces the reference: its old name must not survive.
    let replacing_ref = rest == ["id"];
    let slot = fields
        .entry(first.to_owned())
        .or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() || replacing_ref {
        *slot = Value::Object(Map::new());
    }
    if let Some(obj) = slot.as_object_mut() {
        set_path(obj, rest[0], &rest[1..], value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_patch_sets_nested_references() {
        let mut f: Map<String, Value> = json!({"name": "A", "status": {"id": 1, "name": "Active"}})
            .as_object()
            .cloned()
            .unwrap_or_default();
        let ops = json!([
            {"op": "replace", "path": "/name", "value": "B"},
            {"op": "replace", "path": "status/id", "value": 2}
        ]);
        let touched = apply_json_patch(&mut f, &ops).expect("patch");
        assert_eq!(touched, ["name", "status"]);
        assert_eq!(Value::Object(f), json!({"name": "B", "status": {"id": 2}}));
        let mut g = Map::new();
        assert!(apply_json_patch(&mut g, &json!({"op": "replace"})).is_err());
        assert!(apply_json_patch(&mut g, &json!([{"op": "move", "path": "a"}])).is_err());
        assert!(apply_json_patch(
            &mut g,
            &json!([{"op": "replace", "path": "id", "value": 1}])
        )
        .is_err());
    }
}
