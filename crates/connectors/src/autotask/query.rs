//! Autotask queries, paged by id.
//!
//! Every listing is `POST /{Entity}/query` with a filter (a list of [`condition`]s, ANDed) and
//! `MaxRecords` [`PAGE_SIZE`]. Pages are walked by `id gt <last id>` rather than by following
//! `nextPageUrl`, so a page that failed can be asked again (a `nextPageUrl` token may be
//! single-use), and another page is asked for while a page comes back full, whether or not
//! `nextPageUrl` is set (AT-3: with `MaxRecords` Autotask documents id-looping instead).

use reqwest::Method;
use serde_json::{json, Value};
use syncbridge_model::Entity;

use super::client::AutotaskClient;
use super::fields::entity_name;
use crate::error::{Error, Result};
use crate::http::Retry;
use crate::paging::{Cursor, Page};

/// Rows per query page (Autotask's maximum).
const PAGE_SIZE: u32 = 500;

/// One filter condition: `{"op", "field", "value"}`.
pub(super) fn condition(op: &str, field: &str, value: Value) -> Value {
    json!({"op": op, "field": field, "value": value})
}

impl AutotaskClient {
    /// One raw page of `filter` AND `id > after` on any entity, ids ascending; `true` when
    /// there may be more: the page is full, or Autotask sent a `nextPageUrl`.
    async fn query_items(
        &self,
        name: &str,
        mut filter: Vec<Value>,
        after: u64,
    ) -> Result<(Vec<Value>, bool)> {
        filter.push(condition("gt", "id", Value::from(after)));
        let body = json!({"filter": filter, "MaxRecords": PAGE_SIZE});
        let mut doc = self
            .call(Method::POST, name, "/query", Some(body), Retry::Idempotent)
            .await?
            .json()?;
        let linked = doc
            .pointer("/pageDetails/nextPageUrl")
            .is_some_and(|u| u.as_str().is_some_and(|s| !s.is_empty()));
        match doc.get_mut("items").map(Value::take) {
            Some(Value::Array(items)) => {
                let more = linked || items.len() >= PAGE_SIZE as usize;
                Ok((items, more))
            }
            _ => Err(Error::malformed("query answer without items")),
        }
    }

    /// Every row of `filter` on any entity.
    pub(super) async fn query_all(&self, name: &str, filter: Vec<Value>) -> Result<Vec<Value>> {
        let mut out: Vec<Value> = Vec::new();
        let mut after = 0;
        loop {
            let (items, more) = self.query_items(name, filter.clone(), after).await?;
            let last = items
                .iter()
                .filter_map(|i| i.get("id").and_then(Value::as_u64))
                .max();
            out.extend(items);
            match last {
                Some(last) if more => after = last,
                _ => return Ok(out),
            }
        }
    }

    /// One page of `filter` AND `id > cursor`, ids ascending, as records.
    pub(super) async fn query_page(
        &self,
        entity: Entity,
        filter: Vec<Value>,
        cursor: Option<&Cursor>,
    ) -> Result<Page> {
        let name = entity_name(entity)?;
        let after: u64 = match cursor {
            Some(c) => {
                c.0.parse()
                    .map_err(|_| Error::malformed("bad Autotask cursor"))?
            }
            None => 0,
        };
        let (items, more) = self.query_items(name, filter, after).await?;
        let records = self.to_records(entity, &items).await?;
        let last = records
            .iter()
            .filter_map(|r| r.id.parse::<u64>().ok())
            .max();
        let next = match last {
            Some(last) if more => Some(Cursor(last.to_string())),
            _ => None,
        };
        Ok(Page { records, next })
    }
}
