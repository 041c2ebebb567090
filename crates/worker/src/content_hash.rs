//! Change detection by listing and content hash (DESIGN §2.2, §5), for sources that cannot list
//! by modification time: Tigerpaw (everything), Kaseya BMS / Pulseway PSA assets and locations,
//! ConnectWise sites.
//!
//! Each round lists every record of the entity, hashes each record's content ([`content_hash`]),
//! and compares with the hashes stored by the previous round:
//!
//! - a record that is new or whose hash differs is an `upsert` event with the dedup id
//!   `{id}:{hash}` — the same content is one event however often it is seen;
//! - a record that was there and is no longer listed is a `delete` event with the dedup id
//!   `{id}:deleted-{last hash}`. Events are hints: the worker reads the record, finds it gone and
//!   the engine orphans the link (nothing is deleted in IT Glue).
//!
//! **Storage.** The hashes of one tenant, source and entity live in `sync_state` as
//! [`SHARDS`] keys `{tenant}.checkpoint.hashes-{source}-{entity}-{nn}` (a record belongs to shard
//! `sha256(id)[0] % SHARDS`), each a JSON map `id → hash` (16 hex digits). At ~40 bytes per record a
//! shard stays under NATS's default 1 MiB value size up to roughly 400,000 records per entity
//! (100,000 records: ~250 KiB per shard); beyond that the store fails loudly every round rather
//! than silently losing changes. Shards are processed one after the other and each is stored with
//! compare-and-set **after** its events are acknowledged (the rule of the modified-since cursor): a
//! poller that dies in between re-publishes the same dedup ids next round, and JetStream absorbs
//! them; a second poller of the same tenant gets a conflict and that round stops. A shard that did
//! not change is not written.
//!
//! **First round.** A shard never stored has no previous round to compare with: its listing is
//! the baseline, stored without events — except records whose vendor stamp (`updated_at`, when
//! the vendor has one) is at or after the poll's `start`, i.e. the tenant's first-sync watermark.
//! That follows the modified-since poller, whose first poll starts at the watermark ("what came
//! before is the full sync's"); a vendor without stamps (Tigerpaw) publishes nothing on the
//! baseline round.
//!
//! **Safety.** A listing that fails part-way stores nothing (the round stops with the error). A
//! listing that comes back empty while the previous round held records is treated as a broken
//! API, not as "everything was deleted": the entity is skipped this round with a warning (the
//! full sync's guarded sweep handles a tenant that really deleted everything).
//!
//! The hash covers what the sync reads of a record: its canonical values (by field name, so a
//! reordering of the `Field` enum changes nothing), its organization and its extra types; not the
//! vendor's timestamps. A new field added to the field maps changes the hash of records that have
//! it, which costs one round of (harmless, idempotent) events after an upgrade.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use syncbridge_bus::{KvError, StateKey, StateStore, Versioned};
use syncbridge_model::{Entity, EventSource, Record, TenantId};

/// Number of `sync_state` keys the hashes of one tenant, source and entity are spread over.
pub const SHARDS: usize = 16;

/// The content hash of a record: 16 hex digits of the SHA-256 of its canonical content.
pub fn content_hash(record: &Record) -> String {
    let mut h = Sha256::new();
    let mut field = |tag: &str, value: &str| {
        // Length-prefixed, so no two different contents share a byte stream.
        for part in [tag, value] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
    };
    if let Some(org) = &record.org_id {
        field("@org", org);
    }
    let mut values: Vec<(&str, &str)> =
        record.values.iter().map(|(f, v)| (f.as_str(), v)).collect();
    values.sort_unstable();
    for (name, value) in values {
        field(name, value);
    }
    let mut extra: Vec<&str> = record.extra_types.iter().map(String::as_str).collect();
    extra.sort_unstable();
    for t in extra {
        field("@type", t);
    }
    let digest = h.finalize();
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Which shard a record id belongs to.
pub fn shard_of(id: &str) -> usize {
    usize::from(Sha256::digest(id.as_bytes())[0]) % SHARDS
}

/// The `sync_state` key of one shard.
pub fn shard_key(
    tenant: &TenantId,
    source: EventSource,
    entity: Entity,
    shard: usize,
) -> Result<StateKey, KvError> {
    StateKey::checkpoint(tenant, &format!("hashes-{source}-{entity}-{shard:02}"))
}

/// One stored shard: record id → content hash.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub hashes: BTreeMap<String, String>,
}

/// The stored shards of one tenant, source and entity (`None`: never stored).
pub(crate) async fn load(
    state: &StateStore,
    tenant: &TenantId,
    source: EventSource,
    entity: Entity,
) -> Result<Vec<Option<Versioned<Shard>>>, KvError> {
    let mut out = Vec::with_capacity(SHARDS);
    for shard in 0..SHARDS {
        out.push(
            state
                .get(&shard_key(tenant, source, entity, shard)?)
                .await?,
        );
    }
    Ok(out)
}

/// What one shard's comparison found.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ShardDiff {
    /// New or changed records: (id, hash, updated_at).
    pub changed: Vec<(String, String, i64)>,
    /// Records no longer listed: (id, last hash).
    pub vanished: Vec<(String, String)>,
    /// The shard as it is now.
    pub current: Shard,
}

/// Splits a listing into per-shard current hashes with the records' stamps.
pub(crate) fn by_shard(records: &[Record]) -> Vec<BTreeMap<String, (String, i64)>> {
    let mut shards = vec![BTreeMap::new(); SHARDS];
    for r in records {
        shards[shard_of(&r.id)].insert(r.id.clone(), (content_hash(r), r.updated_at));
    }
    shards
}

/// Compares one shard's listing with its stored hashes. Without stored hashes (`None`), only
/// records stamped at or after `start` count as changed (see the module docs).
pub(crate) fn diff(
    listed: BTreeMap<String, (String, i64)>,
    stored: Option<&Shard>,
    start: i64,
) -> ShardDiff {
    let mut out = ShardDiff::default();
    for (id, (hash, updated_at)) in listed {
        let changed = match stored {
            Some(s) => s.hashes.get(&id) != Some(&hash),
            None => updated_at > 0 && updated_at >= start,
        };
        if changed {
            out.changed.push((id.clone(), hash.clone(), updated_at));
        }
        out.current.hashes.insert(id, hash);
    }
    if let Some(s) = stored {
        for (id, hash) in &s.hashes {
            if !out.current.hashes.contains_key(id) {
                out.vanished.push((id.clone(), hash.clone()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use syncbridge_model::Field;

    #[test]
    fn hash_is_stable_and_sees_content_only() {
        let a = Record::new("1")
            .in_org("9")
            .with(Field::Name, "Acme")
            .with(Field::City, "Oslo");
        let mut b = a.clone();
        b.updated_at = 123;
        assert_eq!(content_hash(&a), content_hash(&b));
        assert_eq!(content_hash(&a).len(), 16);
        let c = a.clone().with(Field::City, "Bergen");
        assert_ne!(content_hash(&a), content_hash(&c));
        let d = Record::new("1")
            .in_org("8")
            .with(Field::Name, "Acme")
            .with(Field::City, "Oslo");
        assert_ne!(content_hash(&a), content_hash(&d));
        // The id is not content; the algorithm is pinned (a change would make every record look
        // edited after an upgrade).
        assert_eq!(
            content_hash(&Record::new("x")),
            content_hash(&Record::new("y"))
        );
        assert_eq!(content_hash(&a), "7e61adfd6bf4e2ea");
    }

    #[test]
    fn diff_reports_new_changed_and_vanished() {
        let stored = Shard {
            hashes: [("1", "aa"), ("2", "bb"), ("3", "cc")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        };
        let listed: BTreeMap<_, _> = [("1", "aa"), ("2", "b2"), ("4", "dd")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), (v.to_owned(), 0)))
            .collect();
        let d = diff(listed.clone(), Some(&stored), 0);
        assert_eq!(
            d.changed,
            vec![("2".into(), "b2".into(), 0), ("4".into(), "dd".into(), 0)]
        );
        assert_eq!(d.vanished, vec![("3".into(), "cc".into())]);
        // Baseline: nothing without a stamp after the start.
        assert!(diff(listed, None, 0).changed.is_empty());
    }
}
