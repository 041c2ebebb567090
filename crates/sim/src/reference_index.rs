//! An index of one collection's records by the id a reference field names (ConnectWise's sites
//! by `company.id`), so a listing under a parent (`/company/companies/{id}/sites`) reads that
//! parent's records instead of scanning every record of the collection for each parent: a full
//! sync lists the sites of every company, which was quadratic in the number of companies.
//!
//! The index is derived, never authoritative: it is rebuilt from the store whenever the
//! collection's [`Store::generation`] has moved since it was built, and what it returns is
//! still checked against the record itself.

use std::collections::HashMap;

use crate::store::{value_as_id, Store, StoredRecord};

/// Records of `collection` by the id in their `field` reference.
#[derive(Debug)]
pub struct ReferenceIndex {
    collection: &'static str,
    field: &'static str,
    built_at: Option<u64>,
    by_parent: HashMap<u64, Vec<u64>>,
}

impl ReferenceIndex {
    pub fn new(collection: &'static str, field: &'static str) -> ReferenceIndex {
        ReferenceIndex {
            collection,
            field,
            built_at: None,
            by_parent: HashMap::new(),
        }
    }

    /// The records whose reference names `parent`, in id order.
    pub fn records<'s>(&mut self, store: &'s Store, parent: u64) -> Vec<&'s StoredRecord> {
        let generation = store.generation(self.collection);
        if self.built_at != Some(generation) {
            self.rebuild(store);
            self.built_at = Some(generation);
        }
        let ids = self.by_parent.get(&parent).map_or(&[][..], Vec::as_slice);
        ids.iter()
            .filter_map(|id| store.get(self.collection, *id))
            .filter(|r| reference_id(r, self.field) == Some(parent))
            .collect()
    }

    fn rebuild(&mut self, store: &Store) {
        self.by_parent.clear();
        // `list` is in id order, so each parent's ids are too.
        for rec in store.list(self.collection) {
            if let Some(parent) = reference_id(rec, self.field) {
                self.by_parent.entry(parent).or_default().push(rec.id);
            }
        }
    }
}

/// The id of a record's reference field (`{"company": {"id": 7, …}}` → 7).
pub fn reference_id(rec: &StoredRecord, field: &str) -> Option<u64> {
    rec.fields.get(field)?.get("id").and_then(value_as_id)
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Map, Value};

    use super::*;

    fn site(company: u64) -> Map<String, Value> {
        json!({"name": "HQ", "company": {"id": company}})
            .as_object()
            .cloned()
            .unwrap_or_default()
    }

    fn ids(records: Vec<&StoredRecord>) -> Vec<u64> {
        records.iter().map(|r| r.id).collect()
    }

    #[test]
    fn a_parent_gets_its_records_and_changes_are_seen() {
        let mut store = Store::default();
        let mut index = ReferenceIndex::new("sites", "company");
        let a = store.insert("sites", None, site(1), Map::new(), 0);
        let b = store.insert("sites", None, site(2), Map::new(), 0);
        let c = store.insert("sites", None, site(1), Map::new(), 0);
        assert_eq!(ids(index.records(&store, 1)), vec![a, c]);
        assert_eq!(ids(index.records(&store, 2)), vec![b]);
        assert!(index.records(&store, 3).is_empty());
        // Moved to another company, removed, added: the next read sees each.
        store.replace("sites", a, site(2), 1);
        store.remove("sites", c);
        let d = store.insert("sites", None, site(1), Map::new(), 1);
        assert_eq!(ids(index.records(&store, 1)), vec![d]);
        assert_eq!(ids(index.records(&store, 2)), vec![a, b]);
    }
}
