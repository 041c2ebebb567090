//! [`Vendor`]: what every vendor client offers over canonical records, IT Glue's and each PSA's
//! alike, so code that works on either side (listings, verification, full sync) is written once.
//!
//! Each client keeps its methods as inherent methods (the vendor's own file is where they live);
//! the trait is implemented by delegating to them, and adds what follows from them: `list_all`
//! drains `list_page` for every vendor, in one place.

use std::future::Future;

use syncbridge_model::{Changes, Entity, Record, UnixMillis, Values};

use crate::autotask::AutotaskClient;
use crate::connectwise::ConnectWiseClient;
use crate::error::Result;
use crate::http::HttpStats;
use crate::itglue::ItGlueClient;
use crate::kaseya_bms::BmsClient;
use crate::paging::{drain_pages, Cursor, Page};
use crate::psa::PsaClient;
use crate::tigerpaw::TigerpawClient;

/// A vendor's records through its API. Every future is `Send`: workers run on a multi-threaded
/// runtime.
pub trait Vendor: Send + Sync {
    /// The record as it is now; `None` when it does not exist.
    fn get(&self, entity: Entity, id: &str) -> impl Future<Output = Result<Option<Record>>> + Send;

    /// One page of every record of the entity (scope filtering is the engine's job).
    fn list_page(
        &self,
        entity: Entity,
        cursor: Option<&Cursor>,
    ) -> impl Future<Output = Result<Page>> + Send;

    /// Records changed since `since`, where the vendor can tell; `Error::Unsupported` otherwise.
    fn list_modified_since_page(
        &self,
        entity: Entity,
        since: UnixMillis,
        cursor: Option<&Cursor>,
    ) -> impl Future<Output = Result<Page>> + Send;

    /// A narrow server-side search by key; the caller compares exactly.
    fn find_by_key(
        &self,
        entity: Entity,
        org_id: Option<&str>,
        key: &Values,
    ) -> impl Future<Output = Result<Vec<Record>>> + Send;

    /// Creates the record (never duplicated by a retry) and returns it as read back.
    fn create(
        &self,
        entity: Entity,
        org_id: Option<&str>,
        values: &Values,
    ) -> impl Future<Output = Result<Record>> + Send;

    /// Sends only the given fields; returns the record read back.
    fn update(
        &self,
        entity: Entity,
        id: &str,
        changes: &Changes,
    ) -> impl Future<Output = Result<Record>> + Send;

    /// Request counters of this client.
    fn stats(&self) -> HttpStats;

    /// Every record of the entity, all pages.
    fn list_all(&self, entity: Entity) -> impl Future<Output = Result<Vec<Record>>> + Send {
        drain_pages(move |cursor| async move { self.list_page(entity, cursor.as_ref()).await })
    }
}

/// Implements [`Vendor`] by the client's inherent methods of the same names.
macro_rules! vendor_by_inherent_methods {
    ($($client:ty),+) => {$(
        impl Vendor for $client {
            fn get(&self, entity: Entity, id: &str)
                -> impl Future<Output = Result<Option<Record>>> + Send {
                <$client>::get(self, entity, id)
            }

            fn list_page(&self, entity: Entity, cursor: Option<&Cursor>)
                -> impl Future<Output = Result<Page>> + Send {
                <$client>::list_page(self, entity, cursor)
            }

            fn list_modified_since_page(&self, entity: Entity, since: UnixMillis, cursor: Option<&Cursor>)
                -> impl Future<Output = Result<Page>> + Send {
                <$client>::list_modified_since_page(self, entity, since, cursor)
            }

            fn find_by_key(&self, entity: Entity, org_id: Option<&str>, key: &Values)
                -> impl Future<Output = Result<Vec<Record>>> + Send {
                <$client>::find_by_key(self, entity, org_id, key)
            }

            fn create(&self, entity: Entity, org_id: Option<&str>, values: &Values)
                -> impl Future<Output = Result<Record>> + Send {
                <$client>::create(self, entity, org_id, values)
            }

            fn update(&self, entity: Entity, id: &str, changes: &Changes)
                -> impl Future<Output = Result<Record>> + Send {
                <$client>::update(self, entity, id, changes)
            }

            fn stats(&self) -> HttpStats {
                <$client>::stats(self)
            }
        }
    )+};
}

vendor_by_inherent_methods!(
    ItGlueClient,
    ConnectWiseClient,
    AutotaskClient,
    BmsClient,
    TigerpawClient,
    PsaClient
);
