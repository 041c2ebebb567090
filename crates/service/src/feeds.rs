//! The connectors as change feeds for the pollers: "records changed since" through each vendor's
//! modified-since listing. The version stamp of a change is the vendor's own `updated_at` /
//! `lastUpdated` (as milliseconds), so the poller's dedup id `{id}:{version}` is the same for the
//! same save however often it is seen. An entity the vendor cannot list by modification time
//! (`Unsupported`) yields nothing here; the full sync covers it.

use std::collections::BTreeMap;
use std::sync::Arc;

use syncbridge_connectors::{Cursor, Error, ItGlueClient, Page, PsaClient};
use syncbridge_model::{Entity, UnixMillis};
use syncbridge_worker::poller::{ChangeFeed, Changed};
use syncbridge_worker::ApiError;

use crate::sides::api_error;

/// IT Glue's `filter[updated_at]` as a change feed.
pub struct ItGlueFeed(pub Arc<ItGlueClient>);

/// A PSA's modified-since queries as a change feed.
pub struct PsaFeed(pub Arc<PsaClient>);

/// Drains a modified-since listing into changes, newest stamp per record.
async fn changes<F, Fut>(mut page: F) -> Result<Vec<Changed>, ApiError>
where
    F: FnMut(Option<Cursor>) -> Fut,
    Fut: std::future::Future<Output = Result<Page, Error>>,
{
    let mut latest: BTreeMap<String, UnixMillis> = BTreeMap::new();
    let mut cursor = None;
    loop {
        let next = match page(cursor).await {
            Ok(p) => p,
            Err(Error::Unsupported(_)) => return Ok(Vec::new()),
            Err(e) => return Err(api_error(e)),
        };
        for r in next.records {
            let at = latest.entry(r.id).or_insert(r.updated_at);
            *at = (*at).max(r.updated_at);
        }
        match next.next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    Ok(latest
        .into_iter()
        .map(|(id, updated_at)| Changed {
            id,
            version: updated_at.to_string(),
            updated_at,
        })
        .collect())
}

impl ChangeFeed for ItGlueFeed {
    async fn changed_since(
        &self,
        entity: Entity,
        since: UnixMillis,
    ) -> Result<Vec<Changed>, ApiError> {
        changes(|c| async move {
            self.0
                .list_modified_since_page(entity, since, c.as_ref())
                .await
        })
        .await
    }
}

impl ChangeFeed for PsaFeed {
    async fn changed_since(
        &self,
        entity: Entity,
        since: UnixMillis,
    ) -> Result<Vec<Changed>, ApiError> {
        changes(|c| async move {
            self.0
                .list_modified_since_page(entity, since, c.as_ref())
                .await
        })
        .await
    }
}
