//! Per-record leases in the `sync_leases` KV bucket (DESIGN §2.3 step 1): two workers never handle
//! one record at once, and "Acme" created on both sides at once is not created twice.
//!
//! - acquire = KV `create`: it succeeds for exactly one caller while the key is absent;
//! - release = delete *only if the key is still at our revision*, so a worker whose lease expired
//!   and was taken by another never deletes the other's lease;
//! - expiry: the bucket's `max_age` (short, 30 s by default) removes a lease whose holder died, so
//!   a crashed worker blocks its records only that long. Work that may take longer calls
//!   [`LeaseStore::renew`].
//!
//! Each acquisition stores a unique token, so "these bytes are mine" is exact when a timed-out
//! acquire is re-read (see [`crate::kv`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use syncbridge_model::{Entity, Side, TenantId};

use crate::connect::Connection;
use crate::keys::record_key;
use crate::kv::{CasBucket, KvError};
use crate::names::LEASES_BUCKET;

/// The key of a lease: one record, or one exact match key while a record is unlinked.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LeaseKey(String);

impl LeaseKey {
    /// The lease of a record, keyed like its link: `{tenant}.{entity}.{psa|itg}.{id}`. Use the
    /// PSA id once the record is linked, so both sides' events contend for the same lease.
    pub fn record(
        tenant: &TenantId,
        entity: Entity,
        side: Side,
        id: &str,
    ) -> Result<LeaseKey, KvError> {
        record_key(tenant, entity, side, id).map(LeaseKey)
    }

    /// The lease of an exact match key (e.g. organization name; contact organization + first +
    /// last name), for records not linked yet: `{tenant}.{entity}.key.{sha256}`. The parts are
    /// hashed byte for byte with their lengths, so matching stays exact (DESIGN §3) and any key,
    /// however long or odd, makes a valid KV key.
    pub fn match_key(tenant: &TenantId, entity: Entity, parts: &[&str]) -> LeaseKey {
        let mut hash = Sha256::new();
        for part in parts {
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part.as_bytes());
        }
        let digest = hash.finalize();
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        LeaseKey(format!("{tenant}.{entity}.key.{hex}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for LeaseKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A held lease. Pass it back to [`LeaseStore::release`] or [`LeaseStore::renew`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub key: LeaseKey,
    /// KV revision of our lease entry.
    pub revision: u64,
    /// Who holds it (for diagnostics).
    pub holder: String,
    token: String,
}

/// What a lease entry holds.
#[derive(Debug, Serialize, Deserialize)]
struct LeaseValue {
    holder: String,
    token: String,
}

/// Leases over the `sync_leases` bucket. Cheap to clone.
#[derive(Debug, Clone)]
pub struct LeaseStore {
    bucket: CasBucket,
}

impl LeaseStore {
    /// Opens the bucket (created by [`crate::setup::setup`]). Operations are bounded by `timeout`.
    pub async fn open(conn: &Connection, timeout: Duration) -> Result<LeaseStore, KvError> {
        let store = conn
            .jetstream()
            .get_key_value(LEASES_BUCKET)
            .await
            .map_err(|e| KvError::Unavailable {
                bucket: LEASES_BUCKET.to_owned(),
                key: String::new(),
                op: "open",
                reason: e.to_string(),
            })?;
        Ok(LeaseStore {
            bucket: CasBucket::new(store, LEASES_BUCKET, timeout),
        })
    }

    /// Takes the lease if nobody holds it: `Ok(None)` when it is held (retry later, e.g. nak with
    /// a delay). `holder` names the worker in diagnostics.
    pub async fn acquire(&self, key: &LeaseKey, holder: &str) -> Result<Option<Lease>, KvError> {
        let token = unique_token();
        let value = encode(holder, &token)?;
        match self.bucket.create(key.as_str(), value).await {
            Ok(revision) => Ok(Some(Lease {
                key: key.clone(),
                revision,
                holder: holder.to_owned(),
                token,
            })),
            Err(e) if e.is_conflict() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Extends a held lease by writing it again (its age restarts). `Ok(None)` if it is no longer
    /// ours (it expired and was taken, or released).
    pub async fn renew(&self, lease: &Lease) -> Result<Option<Lease>, KvError> {
        let value = encode(&lease.holder, &lease.token)?;
        match self
            .bucket
            .update(lease.key.as_str(), value, lease.revision)
            .await
        {
            Ok(revision) => Ok(Some(Lease {
                revision,
                ..lease.clone()
            })),
            Err(e) if e.is_conflict() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Releases a lease if it is still ours. `Ok(false)` when it was not (it had expired and may
    /// be held by another worker, whose lease is left alone).
    pub async fn release(&self, lease: Lease) -> Result<bool, KvError> {
        self.bucket
            .delete_if(lease.key.as_str(), lease.revision)
            .await
    }

    /// Who holds the lease now, if anyone (for `links explain` and logs).
    pub async fn holder(&self, key: &LeaseKey) -> Result<Option<String>, KvError> {
        let Some((bytes, _)) = self.bucket.read(key.as_str()).await? else {
            return Ok(None);
        };
        let value: LeaseValue =
            serde_json::from_slice(&bytes).map_err(|e| self.bucket.corrupt(key.as_str(), e))?;
        Ok(Some(value.holder))
    }
}

fn encode(holder: &str, token: &str) -> Result<Bytes, KvError> {
    let value = LeaseValue {
        holder: holder.to_owned(),
        token: token.to_owned(),
    };
    serde_json::to_vec(&value)
        .map(Bytes::from)
        .map_err(|e| KvError::InvalidValue(e.to_string()))
}

/// Unique per acquisition across processes and time: pid, clock and a process-wide counter (leases
/// and concurrency slots).
pub(crate) fn unique_token() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{:x}-{nanos:x}-{n:x}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn match_keys_are_exact_and_valid() {
        let t = TenantId::new("acme").unwrap();
        let a = LeaseKey::match_key(&t, Entity::Organization, &["Acme"]);
        let b = LeaseKey::match_key(&t, Entity::Organization, &["acme"]);
        let c = LeaseKey::match_key(&t, Entity::Contact, &["Acme", "Jo", "Li"]);
        let d = LeaseKey::match_key(&t, Entity::Contact, &["Acme", "JoL", "i"]);
        assert_ne!(a, b);
        assert_ne!(c, d);
        assert!(a.as_str().starts_with("acme.organization.key."));
    }

    #[test]
    fn tokens_differ() {
        assert_ne!(unique_token(), unique_token());
    }
}
