//! The connectors as change feeds for the pollers, per entity: "records changed since" through the
//! vendor's modified-since listing where it has one; otherwise (the connector answers
//! `Unsupported`: Tigerpaw everything, Kaseya BMS / Pulseway PSA assets and locations, ConnectWise
//! sites) the full listing, which the poller compares by content hash with the previous round
//! (`syncbridge_worker::content_hash`). The version stamp of a modified-since change is the
//! vendor's own `updated_at` / `lastUpdated` (as milliseconds) and the content hash of the record
//! as listed, so the poller's dedup id `{entity}:{id}:{version}` is the same for the same save
//! however often it is seen, and differs for two saves in the same second: the vendors stamp to
//! the second (Kaseya BMS, ConnectWise; IT Glue's milliseconds are `.000`), and a person's edit
//! saved in the second of our own write, or of an earlier edit, would otherwise share that save's
//! id and be dropped by the stream's duplicate window as already seen. An entity the vendor does
//! not sync at all (its listing is `Unsupported` too) yields nothing.

use std::collections::BTreeMap;
use std::sync::Arc;

use syncbridge_connectors::Vendor;
use syncbridge_connectors::{Cursor, Error, ItGlueClient, Page, PsaClient};
use syncbridge_model::{Entity, Record, UnixMillis};
use syncbridge_worker::content_hash::content_hash;
use syncbridge_worker::poller::{ChangeFeed, Changed, Listing};
use syncbridge_worker::ApiError;

use crate::vendors::sides::api_error;

/// IT Glue's changes as a change feed: organizations by `filter[updated_at]` while the cursor is
/// within IT Glue's one-week range limit, everything else (and older cursors) by the connector's
/// newest-first walk that stops at the cursor (audit ITG-1, ITG-2). An unchanged collection costs
/// one request whatever its size, and the poller's inclusive cursor semantics hold: every record
/// updated at or after `since` is listed.
pub struct ItGlueFeed(pub Arc<ItGlueClient>);

/// A PSA's modified-since queries as a change feed.
pub struct PsaFeed(pub Arc<PsaClient>);

/// Drains a modified-since listing into changes, newest stamp per record; `None` when the vendor
/// has no such listing for the entity.
async fn changes<F, Fut>(mut page: F) -> Result<Option<Vec<Changed>>, ApiError>
where
    F: FnMut(Option<Cursor>) -> Fut,
    Fut: std::future::Future<Output = Result<Page, Error>>,
{
    // Per record: the newest listing of it.
    let mut latest: BTreeMap<String, Record> = BTreeMap::new();
    let mut cursor = None;
    loop {
        let next = match page(cursor).await {
            Ok(p) => p,
            Err(Error::Unsupported(_)) => return Ok(None),
            Err(e) => return Err(api_error(e)),
        };
        for r in next.records {
            if latest
                .get(&r.id)
                .is_none_or(|l| r.updated_at >= l.updated_at)
            {
                latest.insert(r.id.clone(), r);
            }
        }
        match next.next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    Ok(Some(
        latest
            .into_iter()
            .map(|(id, record)| Changed {
                id,
                version: format!("{}-{}", record.updated_at, content_hash(&record)),
                updated_at: record.updated_at,
                listed: Some(record),
            })
            .collect(),
    ))
}

impl ChangeFeed for ItGlueFeed {
    async fn changed_since(
        &self,
        entity: Entity,
        since: UnixMillis,
    ) -> Result<Vec<Changed>, ApiError> {
        Ok(changes(|c| async move {
            self.0
                .list_modified_since_page(entity, since, c.as_ref())
                .await
        })
        .await?
        .unwrap_or_default())
    }
}

impl PsaFeed {
    async fn modified_since(
        &self,
        entity: Entity,
        since: UnixMillis,
    ) -> Result<Option<Vec<Changed>>, ApiError> {
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
        Ok(self
            .modified_since(entity, since)
            .await?
            .unwrap_or_default())
    }

    /// Modified-since where the vendor has it for `entity`, else the full listing (content hash).
    async fn listing(&self, entity: Entity, since: UnixMillis) -> Result<Listing, ApiError> {
        if let Some(changed) = self.modified_since(entity, since).await? {
            return Ok(Listing::Changed(changed));
        }
        match self.0.list_all(entity).await {
            Ok(records) => Ok(Listing::All(records)),
            // Not synced with this vendor at all.
            Err(Error::Unsupported(_)) => Ok(Listing::Changed(Vec::new())),
            Err(e) => Err(api_error(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use syncbridge_model::Field;

    fn contact(title: &str, updated_at: UnixMillis) -> Record {
        let mut r = Record::new("23").with(Field::Title, title);
        r.updated_at = updated_at;
        r
    }

    async fn listed(records: Vec<Record>) -> Vec<Changed> {
        let page = Page {
            records,
            next: None,
        };
        changes(|_| {
            let page = page.clone();
            async move { Ok(page) }
        })
        .await
        .unwrap()
        .unwrap()
    }

    /// Vendors stamp to the second: a person's edit saved in the same second as an earlier save
    /// of the record is a new version (a new dedup id), while the same save listed again is not.
    #[tokio::test]
    async fn two_saves_in_one_second_are_two_versions_and_one_save_is_one() {
        let first = listed(vec![contact("Engineer 318", 1_700_000_000_000)]).await;
        let again = listed(vec![contact("Engineer 318", 1_700_000_000_000)]).await;
        let edited = listed(vec![contact("Engineer 328", 1_700_000_000_000)]).await;
        assert_eq!(first, again, "the same save, listed twice");
        assert_ne!(
            first[0].version, edited[0].version,
            "two saves in one second"
        );
        assert!(
            edited[0].version.starts_with("1700000000000-"),
            "{edited:?}"
        );
    }

    /// A record listed twice in one walk (pages shifting under it) counts with its newest stamp.
    #[tokio::test]
    async fn the_newest_listing_of_a_record_counts() {
        let changed = listed(vec![
            contact("Engineer 328", 1_700_000_001_000),
            contact("Engineer 318", 1_700_000_000_000),
        ])
        .await;
        let newest = listed(vec![contact("Engineer 328", 1_700_000_001_000)]).await;
        assert_eq!(changed, newest);
    }
}
