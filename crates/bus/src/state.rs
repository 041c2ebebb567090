//! Small typed accessors for the `sync_state` KV bucket: tenant mode, poll cursors, the first-sync
//! watermark and resumable checkpoints (full sync, push-all). Every write is compare-and-set on the
//! KV revision (with the ambiguity rule of [`crate::kv`]), so two pollers or two operators never
//! silently overwrite each other.
//!
//! Keys: `{tenant}.mode`, `{tenant}.watermark.first_sync`, `{tenant}.cursor.{source}.{entity}`,
//! `{tenant}.checkpoint.{name}` (name encoded by [`crate::keys`]). Values are JSON.

use std::time::Duration;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use syncbridge_model::{Entity, EventSource, Mode, TenantId, UnixMillis};

use crate::connect::Connection;
use crate::keys::encode_token;
use crate::kv::{CasBucket, KvError, Versioned};
use crate::names::STATE_BUCKET;

/// A key in `sync_state`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StateKey(String);

impl StateKey {
    /// The tenant's mode (`active`, `paused`, `shadow`).
    pub fn mode(tenant: &TenantId) -> StateKey {
        StateKey(format!("{tenant}.mode"))
    }

    /// When the tenant's first sync started: IT Glue records older than this are not pushed
    /// until a person edits them (DESIGN §3, two-way).
    pub fn first_sync_watermark(tenant: &TenantId) -> StateKey {
        StateKey(format!("{tenant}.watermark.first_sync"))
    }

    /// The poll cursor of one source and entity (`all` when the poll covers every entity).
    pub fn poll_cursor(tenant: &TenantId, source: EventSource, entity: Option<Entity>) -> StateKey {
        let entity = entity.map_or("all", Entity::as_str);
        StateKey(format!("{tenant}.cursor.{source}.{entity}"))
    }

    /// The shared rate budget of one tenant for one vendor (see [`crate::SharedRateBudget`]).
    pub fn rate_budget(tenant: &TenantId, vendor: &str) -> Result<StateKey, KvError> {
        Ok(StateKey(format!(
            "{tenant}.budget.{}",
            encode_token(vendor)?
        )))
    }

    /// A named checkpoint (e.g. `full-sync`, `push-all`).
    pub fn checkpoint(tenant: &TenantId, name: &str) -> Result<StateKey, KvError> {
        Ok(StateKey(format!(
            "{tenant}.checkpoint.{}",
            encode_token(name)?
        )))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where a poller resumes: the vendor's own stamp (e.g. the greatest `updated_at` seen), opaque
/// to the bus, and when the poll ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollCursor {
    pub cursor: String,
    pub polled_at: UnixMillis,
}

/// Typed access to `sync_state`. Cheap to clone.
#[derive(Debug, Clone)]
pub struct StateStore {
    bucket: CasBucket,
}

impl StateStore {
    /// Opens the bucket (created by [`crate::setup::setup`]). Operations are bounded by `timeout`.
    pub async fn open(conn: &Connection, timeout: Duration) -> Result<StateStore, KvError> {
        let store = conn
            .jetstream()
            .get_key_value(STATE_BUCKET)
            .await
            .map_err(|e| KvError::Unavailable {
                bucket: STATE_BUCKET.to_owned(),
                key: String::new(),
                op: "open",
                reason: e.to_string(),
            })?;
        Ok(StateStore {
            bucket: CasBucket::new(store, STATE_BUCKET, timeout),
        })
    }

    /// Reads any JSON value with its revision.
    pub async fn get<T: DeserializeOwned>(
        &self,
        key: &StateKey,
    ) -> Result<Option<Versioned<T>>, KvError> {
        let Some((bytes, revision)) = self.bucket.read(key.as_str()).await? else {
            return Ok(None);
        };
        let value =
            serde_json::from_slice(&bytes).map_err(|e| self.bucket.corrupt(key.as_str(), e))?;
        Ok(Some(Versioned { value, revision }))
    }

    /// Writes a JSON value if the key is at `expected` (`None`: only if absent). Returns the new
    /// revision; [`KvError::Conflict`] if another writer got there first.
    pub async fn set<T: Serialize>(
        &self,
        key: &StateKey,
        value: &T,
        expected: Option<u64>,
    ) -> Result<u64, KvError> {
        let bytes = serde_json::to_vec(value)
            .map(Bytes::from)
            .map_err(|e| KvError::InvalidValue(e.to_string()))?;
        match expected {
            None => self.bucket.create(key.as_str(), bytes).await,
            Some(revision) => self.bucket.update(key.as_str(), bytes, revision).await,
        }
    }

    /// The tenant's mode as stored (`None`: never set; the configured mode applies).
    pub async fn mode(&self, tenant: &TenantId) -> Result<Option<Versioned<Mode>>, KvError> {
        self.get(&StateKey::mode(tenant)).await
    }

    /// Sets the tenant's mode (CAS, see [`set`](Self::set)).
    pub async fn set_mode(
        &self,
        tenant: &TenantId,
        mode: Mode,
        expected: Option<u64>,
    ) -> Result<u64, KvError> {
        self.set(&StateKey::mode(tenant), &mode, expected).await
    }

    pub async fn poll_cursor(
        &self,
        tenant: &TenantId,
        source: EventSource,
        entity: Option<Entity>,
    ) -> Result<Option<Versioned<PollCursor>>, KvError> {
        self.get(&StateKey::poll_cursor(tenant, source, entity))
            .await
    }

    /// Advances a poll cursor (CAS, see [`set`](Self::set)).
    pub async fn set_poll_cursor(
        &self,
        tenant: &TenantId,
        source: EventSource,
        entity: Option<Entity>,
        cursor: &PollCursor,
        expected: Option<u64>,
    ) -> Result<u64, KvError> {
        self.set(
            &StateKey::poll_cursor(tenant, source, entity),
            cursor,
            expected,
        )
        .await
    }

    /// The first-sync watermark, if the tenant's first sync has started.
    pub async fn first_sync_watermark(
        &self,
        tenant: &TenantId,
    ) -> Result<Option<UnixMillis>, KvError> {
        Ok(self
            .get(&StateKey::first_sync_watermark(tenant))
            .await?
            .map(|v| v.value))
    }

    /// Records the first-sync watermark once: it never moves, so the first writer wins and every
    /// caller gets the stored value back.
    pub async fn record_first_sync_watermark(
        &self,
        tenant: &TenantId,
        at: UnixMillis,
    ) -> Result<UnixMillis, KvError> {
        let key = StateKey::first_sync_watermark(tenant);
        match self.set(&key, &at, None).await {
            Ok(_) => Ok(at),
            Err(e) if e.is_conflict() => match self.get::<UnixMillis>(&key).await? {
                Some(stored) => Ok(stored.value),
                // Deleted between the two calls: an operator reset it; report the conflict.
                None => Err(e),
            },
            Err(e) => Err(e),
        }
    }
}
