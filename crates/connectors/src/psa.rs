//! The tenant's PSA as one client, whichever vendor it is: [`PsaClient`] dispatches to the
//! vendor's own client.
//!
//! IT Glue has its own client ([`ItGlueClient`](crate::itglue::ItGlueClient)) because it also
//! serves lookups; the PSAs share one surface through [`PsaClient`], an enum over the concrete
//! clients (no trait objects, so every future stays `Send` and inspectable). Every client offers:
//!
//! - `get(entity, id)` → `Option<Record>`;
//! - `list_page(entity, cursor)` → one [`Page`] of every record of the entity (scope filtering is
//!   the engine's job), and `list_all` to drain it;
//! - `list_modified_since_page(entity, since, cursor)` where the vendor can, else
//!   [`Error::Unsupported`](crate::Error::Unsupported);
//! - `find_by_key(entity, org_id, key)`: a narrow server-side search; the caller compares exactly;
//! - `create(entity, org_id, values)` → the record as read back, never duplicated by a retry;
//! - `update(entity, id, changes)`: sends only the given fields, returns the record read back.

use syncbridge_model::{Changes, Entity, PsaKind, Record, UnixMillis, Values};

use crate::autotask::AutotaskClient;
use crate::connectwise::ConnectWiseClient;
use crate::error::Result;
use crate::http::HttpStats;
use crate::kaseya_bms::BmsClient;
use crate::paging::{Cursor, Page};
use crate::tigerpaw::TigerpawClient;

/// A client for the tenant's PSA. Vendor protocol code branches on the vendor; sync rules never
/// see which one it is.
#[derive(Debug)]
pub enum PsaClient {
    ConnectWise(ConnectWiseClient),
    Autotask(AutotaskClient),
    /// Kaseya BMS (a [`BmsClient`] with [`BmsFlavor::KaseyaBms`](crate::kaseya_bms::BmsFlavor)).
    KaseyaBms(BmsClient),
    /// Pulseway PSA: the same v2 API family, configured by host.
    PulsewayPsa(BmsClient),
    /// Tigerpaw: read-only for syncbridge (writes answer `Error::ReadOnly`).
    Tigerpaw(TigerpawClient),
}

macro_rules! dispatch {
    ($self:ident, $c:ident => $call:expr) => {
        match $self {
            PsaClient::ConnectWise($c) => $call,
            PsaClient::Autotask($c) => $call,
            PsaClient::KaseyaBms($c) => $call,
            PsaClient::PulsewayPsa($c) => $call,
            PsaClient::Tigerpaw($c) => $call,
        }
    };
}

impl PsaClient {
    pub fn kind(&self) -> PsaKind {
        match self {
            PsaClient::ConnectWise(_) => PsaKind::ConnectWise,
            PsaClient::Autotask(_) => PsaKind::Autotask,
            PsaClient::KaseyaBms(_) => PsaKind::KaseyaBms,
            PsaClient::PulsewayPsa(_) => PsaKind::PulsewayPsa,
            PsaClient::Tigerpaw(_) => PsaKind::Tigerpaw,
        }
    }

    pub async fn get(&self, entity: Entity, id: &str) -> Result<Option<Record>> {
        dispatch!(self, c => c.get(entity, id).await)
    }

    pub async fn list_page(&self, entity: Entity, cursor: Option<&Cursor>) -> Result<Page> {
        dispatch!(self, c => c.list_page(entity, cursor).await)
    }

    pub async fn list_modified_since_page(
        &self,
        entity: Entity,
        since: UnixMillis,
        cursor: Option<&Cursor>,
    ) -> Result<Page> {
        dispatch!(self, c => c.list_modified_since_page(entity, since, cursor).await)
    }

    pub async fn find_by_key(
        &self,
        entity: Entity,
        org_id: Option<&str>,
        key: &Values,
    ) -> Result<Vec<Record>> {
        dispatch!(self, c => c.find_by_key(entity, org_id, key).await)
    }

    pub async fn create(
        &self,
        entity: Entity,
        org_id: Option<&str>,
        values: &Values,
    ) -> Result<Record> {
        dispatch!(self, c => c.create(entity, org_id, values).await)
    }

    pub async fn update(&self, entity: Entity, id: &str, changes: &Changes) -> Result<Record> {
        dispatch!(self, c => c.update(entity, id, changes).await)
    }

    pub fn stats(&self) -> HttpStats {
        dispatch!(self, c => c.stats())
    }
}
