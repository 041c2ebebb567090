//! The link store: links (PSA id ⇄ IT Glue id, state, base snapshot) in the `sync_links` KV bucket.
//!
//! Keys (DESIGN §4; ids encoded by [`crate::keys`]):
//! - `{tenant}.{entity}.psa.{psa_id}` → the [`Link`] as JSON: the source of truth, CAS on revision;
//! - `{tenant}.{entity}.itg.{itglue_id}` → the PSA id (plain UTF-8): an index to find a link from
//!   the IT Glue side.
//!
//! The index is derived data: it is written (unconditionally) *before* the link it points to, and
//! every lookup through it checks that the link names that IT Glue id. So a crash between the two
//! writes, or a link that later moves to another IT Glue record, leaves at most a stale index entry
//! that lookups ignore — never a wrong answer, and never a second source of truth to keep in step.

use std::time::Duration;

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use syncbridge_model::{Entity, Link, Side, TenantId};

use crate::connect::Connection;
use crate::keys::{decode_token, record_key};
use crate::kv::{CasBucket, KvError, Versioned};
use crate::names::LINKS_BUCKET;

/// Links of every tenant, over the `sync_links` bucket. Cheap to clone.
#[derive(Debug, Clone)]
pub struct LinkStore {
    bucket: CasBucket,
    /// The bucket's stream, for listing keys by subject filter.
    stream: async_nats::jetstream::stream::Stream,
    timeout: Duration,
}

impl LinkStore {
    /// Opens the bucket (created by [`crate::setup::setup`]). Operations are bounded by `timeout`.
    pub async fn open(conn: &Connection, timeout: Duration) -> Result<LinkStore, KvError> {
        let store = conn
            .jetstream()
            .get_key_value(LINKS_BUCKET)
            .await
            .map_err(|e| KvError::Unavailable {
                bucket: LINKS_BUCKET.to_owned(),
                key: String::new(),
                op: "open",
                reason: e.to_string(),
            })?;
        let stream = conn
            .jetstream()
            .get_stream(&store.stream_name)
            .await
            .map_err(|e| KvError::Unavailable {
                bucket: LINKS_BUCKET.to_owned(),
                key: String::new(),
                op: "open",
                reason: e.to_string(),
            })?;
        Ok(LinkStore {
            bucket: CasBucket::new(store, LINKS_BUCKET, timeout),
            stream,
            timeout,
        })
    }

    /// The link of a PSA record, with the revision to pass to [`update`](Self::update).
    pub async fn get(
        &self,
        tenant: &TenantId,
        entity: Entity,
        psa_id: &str,
    ) -> Result<Option<Versioned<Link>>, KvError> {
        let key = record_key(tenant, entity, Side::Psa, psa_id)?;
        let Some((bytes, revision)) = self.bucket.read(&key).await? else {
            return Ok(None);
        };
        let link: Link =
            serde_json::from_slice(&bytes).map_err(|e| self.bucket.corrupt(&key, e))?;
        Ok(Some(Versioned {
            value: link,
            revision,
        }))
    }

    /// The link of an IT Glue record, found through the `itg` index and verified against the link
    /// itself (a stale index entry gives `None`).
    pub async fn get_by_itg(
        &self,
        tenant: &TenantId,
        entity: Entity,
        itg_id: &str,
    ) -> Result<Option<Versioned<Link>>, KvError> {
        let key = record_key(tenant, entity, Side::ItGlue, itg_id)?;
        let Some((bytes, _)) = self.bucket.read(&key).await? else {
            return Ok(None);
        };
        let psa_id = std::str::from_utf8(&bytes).map_err(|e| self.bucket.corrupt(&key, e))?;
        if psa_id.is_empty() {
            return Ok(None);
        }
        let link = self.get(tenant, entity, psa_id).await?;
        Ok(link.filter(|l| l.value.itg_id.as_deref() == Some(itg_id)))
    }

    /// The PSA ids of every stored link of one tenant and entity (for full-sync sweeps and
    /// `links show`), sorted. The server filters by subject, so other tenants' keys are never
    /// read; a key whose link was deleted may still be listed ([`get`](Self::get) then gives
    /// `None`).
    pub async fn psa_ids(&self, tenant: &TenantId, entity: Entity) -> Result<Vec<String>, KvError> {
        let filter = format!("$KV.{LINKS_BUCKET}.{tenant}.{entity}.psa.*");
        let prefix = format!("$KV.{LINKS_BUCKET}.{tenant}.{entity}.psa.");
        let unavailable = |reason: String| KvError::Unavailable {
            bucket: LINKS_BUCKET.to_owned(),
            key: filter.clone(),
            op: "list",
            reason,
        };
        let list = async {
            let mut subjects = self
                .stream
                .info_with_subjects(&filter)
                .await
                .map_err(|e| unavailable(e.to_string()))?;
            let mut ids = Vec::new();
            while let Some(item) = subjects.next().await {
                let (subject, _count) = item.map_err(|e| unavailable(e.to_string()))?;
                if let Some(token) = subject.strip_prefix(&prefix) {
                    ids.push(decode_token(token)?);
                }
            }
            ids.sort();
            Ok(ids)
        };
        // Paging through many subjects takes several requests: allow a few timeouts' worth.
        tokio::time::timeout(self.timeout * 4, list)
            .await
            .map_err(|_| unavailable("timed out".into()))?
    }

    /// Every stored link of one tenant and entity, in PSA id order (for full syncs and
    /// verification). Links are read a few at a time; one deleted since its id was listed is
    /// left out.
    pub async fn all(&self, tenant: &TenantId, entity: Entity) -> Result<Vec<Link>, KvError> {
        const READS_IN_FLIGHT: usize = 16;
        let links: Vec<Option<Versioned<Link>>> =
            futures_util::stream::iter(self.psa_ids(tenant, entity).await?)
                .map(|id| async move { self.get(tenant, entity, &id).await })
                .buffered(READS_IN_FLIGHT)
                .try_collect()
                .await?;
        Ok(links.into_iter().flatten().map(|v| v.value).collect())
    }

    /// Stores a new link; [`KvError::Conflict`] if the PSA record already has one. The link must
    /// name its PSA id (its key).
    pub async fn create(&self, tenant: &TenantId, link: &Link) -> Result<u64, KvError> {
        let (key, value) = self.prepare(tenant, link).await?;
        self.bucket.create(&key, value).await
    }

    /// Replaces a link if it is still at `revision` (compare-and-set); [`KvError::Conflict`] if
    /// another writer got there first. A timed-out write is re-read and compared before it is
    /// retried, so `Ok` means stored and `Conflict` means someone else's value is there.
    pub async fn update(
        &self,
        tenant: &TenantId,
        link: &Link,
        revision: u64,
    ) -> Result<u64, KvError> {
        let (key, value) = self.prepare(tenant, link).await?;
        self.bucket.update(&key, value, revision).await
    }

    /// Serialises the link and refreshes its IT Glue index entry (written first: see module docs).
    async fn prepare(&self, tenant: &TenantId, link: &Link) -> Result<(String, Bytes), KvError> {
        let psa_id = link.psa_id.as_deref().ok_or_else(|| {
            KvError::InvalidValue(
                "a link is stored under its PSA id; this link has none (psa_id is None)".into(),
            )
        })?;
        let key = record_key(tenant, link.entity, Side::Psa, psa_id)?;
        let value = serde_json::to_vec(link).map_err(|e| KvError::InvalidValue(e.to_string()))?;
        if let Some(itg_id) = link.itg_id.as_deref() {
            let index_key = record_key(tenant, link.entity, Side::ItGlue, itg_id)?;
            let current = self.bucket.read(&index_key).await?;
            // Skip the write when the index already points here: most updates only change the base.
            if current.as_ref().map(|(b, _)| b.as_ref()) != Some(psa_id.as_bytes()) {
                self.bucket
                    .put(&index_key, Bytes::copy_from_slice(psa_id.as_bytes()))
                    .await?;
            }
        }
        Ok((key, Bytes::from(value)))
    }
}
