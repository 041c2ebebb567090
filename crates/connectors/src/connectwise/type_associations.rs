//! Changing a company's or contact's type after create. ConnectWise refuses a PATCH of `types`
//! (audit CW-1): types are associations, `…/{id}/typeAssociations`, added with a POST and removed
//! with a DELETE. The canonical Type is the first of `types[]`, and `types[]` follows the order
//! of the associations, so a new first type is added, the replaced one removed, and the record's
//! other types removed and added again after it. The record keeps its other types throughout.

use serde_json::{json, Value};
use syncbridge_model::{Entity, Field};

use super::client::ConnectWiseClient;
use super::fields::{wire_of, Wire};
use super::lookups::Lookups;
use crate::error::{Error, Result};
use crate::http::Retry;
use crate::itglue::encode_segment;
use crate::wire::id_of;
use reqwest::Method;

/// The lookup list of `entity`'s types when its Type is carried as `types[]` (and so changed
/// through associations); `None` otherwise.
pub(super) fn types_list(entity: Entity) -> Option<&'static str> {
    match wire_of(entity, Field::Type)? {
        Wire::Types { list, .. } => Some(list),
        _ => None,
    }
}

impl ConnectWiseClient {
    /// Makes `new_type` the first type of the record at `record_path` (whose types come from
    /// lookup list `types_list`) through its type associations, keeping its other types; returns
    /// whether anything was written.
    pub(super) async fn change_types(
        &self,
        types_list: &'static str,
        record_path: &str,
        current: &Value,
        new_type: Option<&str>,
    ) -> Result<bool> {
        let current_ids: Vec<u64> = current
            .get("types")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.get("id").and_then(Value::as_u64))
                    .collect()
            })
            .unwrap_or_default();
        let new_id = match new_type {
            Some(name) => Some(self.lookup_id(types_list, "name", name).await?),
            None => None,
        };
        let others: Vec<u64> = current_ids
            .iter()
            .skip(1)
            .copied()
            .filter(|id| Some(*id) != new_id)
            .collect();
        let desired: Vec<u64> = new_id.into_iter().chain(others.iter().copied()).collect();
        if desired == current_ids {
            return Ok(false);
        }
        let assoc_path = format!("{record_path}/typeAssociations");
        let associations: Vec<(String, u64)> = self
            .all_rows(&assoc_path, None)
            .await?
            .iter()
            .filter_map(|a| Some((id_of(a, "id").ok()?, a.get("type")?.get("id")?.as_u64()?)))
            .collect();
        let add = |type_id: u64| {
            let assoc_path = assoc_path.clone();
            async move {
                self.call(
                    Method::POST,
                    &assoc_path,
                    &[],
                    Some(json!({"type": {"id": type_id}})),
                    Retry::Once,
                )
                .await
                .map(|_| ())
            }
        };
        let remove = |assoc_id: String| {
            let path = format!("{assoc_path}/{}", encode_segment(&assoc_id));
            async move {
                match self
                    .call(Method::DELETE, &path, &[], None, Retry::Idempotent)
                    .await
                {
                    Ok(_) | Err(Error::NotFound) => Ok(()),
                    Err(e) => Err(e),
                }
            }
        };
        // Add the missing type first, so the record never has fewer types than it needs.
        if let Some(id) = new_id {
            if !associations.iter().any(|(_, t)| *t == id) {
                add(id).await?;
            }
        }
        for (assoc_id, type_id) in &associations {
            if !desired.contains(type_id) {
                remove(assoc_id.clone()).await?;
            }
        }
        // Types read as "first of types[]", and types[] follows the associations' order: the
        // other types are re-added after the new one so that it reads first.
        if new_id.is_some() && current_ids.first() != new_id.as_ref() {
            for (assoc_id, type_id) in &associations {
                if others.contains(type_id) {
                    remove(assoc_id.clone()).await?;
                    add(*type_id).await?;
                }
            }
        }
        Ok(true)
    }
}
