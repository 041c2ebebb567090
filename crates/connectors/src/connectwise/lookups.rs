//! Reference names → ids. ConnectWise takes every reference by id (audit CW-3), while canonical
//! values name them (a status name, a member identifier, a state code …); the lookup lists
//! (`company/companies/statuses`, `system/members`, …) translate.
//!
//! Each list is read whole the first time it is needed and kept for the client's life; a name
//! that is not in it makes the list be read once more (it may have been added since), and is an
//! [`Error::UnknownLookup`] if it is still missing. The write direction of the field table asks
//! through the [`Lookups`] trait, so that its tests can answer without a server.

use std::collections::HashMap;
use std::sync::Mutex;

use super::client::ConnectWiseClient;
use crate::error::{Error, Result};
use crate::wire::text;

/// What the write direction needs: the id of a lookup record.
pub(super) trait Lookups {
    /// Id of the record of lookup list `list` whose `by` (name, identifier, description) is
    /// `value`, exactly.
    async fn lookup_id(&self, list: &'static str, by: &str, value: &str) -> Result<u64>;
}

/// The lookup lists read so far: `by` value → id, per list.
#[derive(Debug, Default)]
pub(super) struct LookupCache(Mutex<HashMap<&'static str, Vec<(String, String)>>>);

impl LookupCache {
    fn find(&self, list: &'static str, value: &str) -> Option<String> {
        let lists = self.0.lock().unwrap_or_else(|e| e.into_inner());
        lists
            .get(list)?
            .iter()
            .find(|(v, _)| v == value)
            .map(|(_, id)| id.clone())
    }

    fn store(&self, list: &'static str, entries: Vec<(String, String)>) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(list, entries);
    }
}

impl Lookups for ConnectWiseClient {
    async fn lookup_id(&self, list: &'static str, by: &str, value: &str) -> Result<u64> {
        let id = match self.lookups.find(list, value) {
            Some(id) => Some(id),
            None => {
                let rows = self.all_rows(list, None).await?;
                let entries = rows
                    .iter()
                    .filter_map(|r| Some((text(r.get(by))?, text(r.get("id"))?)))
                    .collect();
                self.lookups.store(list, entries);
                self.lookups.find(list, value)
            }
        };
        id.and_then(|s| s.parse().ok())
            .ok_or_else(|| Error::UnknownLookup {
                kind: list.replace('/', " "),
                name: value.to_owned(),
            })
    }
}
