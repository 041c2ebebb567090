//! The in-memory record store shared by the simulators: named collections of JSON records with
//! sequential ids and creation/update times on the simulated clock.
//!
//! Records are kept in each vendor's own wire vocabulary (IT Glue kebab-case attributes,
//! ConnectWise and Autotask camelCase fields), so seeding and reading state through the admin API
//! speaks the vendor's language and rendering stays a thin step. `meta` holds simulator-only facts
//! about a record (IT Glue's source marker, its native-PSA link) that the vendor does not expose
//! as plain fields.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::clock::SimMillis;

/// One stored record.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRecord {
    pub id: u64,
    pub fields: Map<String, Value>,
    pub meta: Map<String, Value>,
    pub created_at: SimMillis,
    pub updated_at: SimMillis,
}

/// One collection (`organizations`, `companies`, …).
#[derive(Debug, Default)]
pub struct Collection {
    last_id: u64,
    /// Moves with every mutable access to the collection (see [`Store::generation`]).
    generation: u64,
    pub records: BTreeMap<u64, StoredRecord>,
}

/// All collections of one simulator.
#[derive(Debug, Default)]
pub struct Store {
    collections: BTreeMap<String, Collection>,
}

impl Store {
    pub fn collection(&self, name: &str) -> Option<&Collection> {
        self.collections.get(name)
    }

    pub fn collection_mut(&mut self, name: &str) -> &mut Collection {
        let coll = self.collections.entry(name.to_owned()).or_default();
        coll.generation += 1;
        coll
    }

    /// A number that changes whenever a collection may have changed (every mutable access
    /// counts), so a derived index knows when to rebuild; 0 for a collection never touched.
    pub fn generation(&self, name: &str) -> u64 {
        self.collections.get(name).map_or(0, |c| c.generation)
    }

    pub fn get(&self, name: &str, id: u64) -> Option<&StoredRecord> {
        self.collections.get(name)?.records.get(&id)
    }

    pub fn get_mut(&mut self, name: &str, id: u64) -> Option<&mut StoredRecord> {
        let coll = self.collections.get_mut(name)?;
        coll.generation += 1;
        coll.records.get_mut(&id)
    }

    /// Records of a collection in id order (empty for an unknown collection).
    pub fn list(&self, name: &str) -> impl Iterator<Item = &StoredRecord> {
        self.collections
            .get(name)
            .into_iter()
            .flat_map(|c| c.records.values())
    }

    /// Records with an id greater than `after`, in id order (cursor paging without a scan).
    pub fn list_after(&self, name: &str, after: u64) -> impl Iterator<Item = &StoredRecord> {
        self.collections
            .get(name)
            .into_iter()
            .flat_map(move |c| c.records.range(after.saturating_add(1)..).map(|(_, r)| r))
    }

    pub fn len(&self, name: &str) -> usize {
        self.collections.get(name).map_or(0, |c| c.records.len())
    }

    /// Stores a new record. `id` chooses the id (seeding); otherwise the next free one is used.
    pub fn insert(
        &mut self,
        name: &str,
        id: Option<u64>,
        fields: Map<String, Value>,
        meta: Map<String, Value>,
        now: SimMillis,
    ) -> u64 {
        let coll = self.collection_mut(name);
        let id = id.unwrap_or(coll.last_id + 1);
        coll.last_id = coll.last_id.max(id);
        coll.records.insert(
            id,
            StoredRecord {
                id,
                fields,
                meta,
                created_at: now,
                updated_at: now,
            },
        );
        id
    }

    /// Merges `patch` into a record; returns the names of fields whose value changed, or None
    /// when the record does not exist. `updated_at` moves only when something changed.
    pub fn merge(
        &mut self,
        name: &str,
        id: u64,
        patch: &Map<String, Value>,
        now: SimMillis,
    ) -> Option<Vec<String>> {
        let rec = self.get_mut(name, id)?;
        let mut changed = Vec::new();
        for (k, v) in patch {
            if rec.fields.get(k) != Some(v) {
                changed.push(k.clone());
                rec.fields.insert(k.clone(), v.clone());
            }
        }
        if !changed.is_empty() {
            rec.updated_at = now;
        }
        Some(changed)
    }

    /// Replaces a record's fields wholesale; returns the changed field names.
    pub fn replace(
        &mut self,
        name: &str,
        id: u64,
        fields: Map<String, Value>,
        now: SimMillis,
    ) -> Option<Vec<String>> {
        let rec = self.get_mut(name, id)?;
        let changed = diff_fields(&rec.fields, &fields);
        rec.fields = fields;
        if !changed.is_empty() {
            rec.updated_at = now;
        }
        Some(changed)
    }

    pub fn remove(&mut self, name: &str, id: u64) -> Option<StoredRecord> {
        let coll = self.collections.get_mut(name)?;
        coll.generation += 1;
        coll.records.remove(&id)
    }
}

/// Names of fields that differ between two objects (either side may lack a field; a missing
/// field and `null` count as equal).
pub fn diff_fields(old: &Map<String, Value>, new: &Map<String, Value>) -> Vec<String> {
    let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| old.get(*k).unwrap_or(&Value::Null) != new.get(*k).unwrap_or(&Value::Null))
        .cloned()
        .collect()
}

/// A JSON value as the string a filter compares against (`"x"` → `x`, `12` → `12`).
pub fn value_as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Reads an id from a JSON value that may be a number or a numeric string.
pub fn value_as_id(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

impl StoredRecord {
    /// The admin view of a record: its fields plus `id`, the simulator's timestamps and metadata
    /// under `_`-prefixed keys.
    pub fn admin_json(&self) -> Value {
        let mut out = self.fields.clone();
        out.insert("id".into(), Value::from(self.id));
        out.insert("_created_at".into(), Value::from(self.created_at));
        out.insert("_updated_at".into(), Value::from(self.updated_at));
        if !self.meta.is_empty() {
            out.insert("_meta".into(), Value::Object(self.meta.clone()));
        }
        Value::Object(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_reports_only_real_changes() {
        let mut s = Store::default();
        let fields = json!({"name": "Acme", "city": "Oslo"});
        let id = s.insert(
            "orgs",
            None,
            fields.as_object().cloned().unwrap_or_default(),
            Map::new(),
            1,
        );
        assert_eq!(id, 1);
        let patch = json!({"name": "Acme", "city": "Bergen"});
        let changed = s.merge("orgs", id, patch.as_object().unwrap_or(&Map::new()), 5);
        assert_eq!(changed, Some(vec!["city".to_owned()]));
        assert_eq!(s.get("orgs", id).map(|r| r.updated_at), Some(5));
        assert_eq!(s.insert("orgs", Some(10), Map::new(), Map::new(), 1), 10);
        assert_eq!(s.insert("orgs", None, Map::new(), Map::new(), 1), 11);
    }
}
