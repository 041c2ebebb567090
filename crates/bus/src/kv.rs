//! Compare-and-set on a JetStream KV bucket, with the ambiguity rule of DESIGN §4: "a KV update that
//! times out is ambiguous: re-read and compare before retrying".
//!
//! A KV write is a JetStream publish. When its ack does not arrive in time, the write may or may
//! not have been stored (and, buffered by a disconnected client, it may even be stored later). So a
//! timed-out `create`/`update` is never reported as a plain failure and never blindly repeated:
//! [`CasBucket`] re-reads the key and
//! - finds exactly the bytes it wrote → the write landed: success, with the revision read back;
//! - finds the revision it expected (or no key, for a create) → the write did not land: retry;
//! - finds anything else → someone else wrote first: [`KvError::Conflict`].
//!
//! A retry whose revision check then fails is compared the same way, because the first attempt may
//! have landed in between. Writers put something unique in their values where "identical bytes"
//! must mean "mine" (leases carry a random token); for links and state, identical bytes mean the
//! same outcome, which is all a caller needs to know.

use std::time::Duration;

use async_nats::jetstream::kv::{CreateErrorKind, Operation, Store, UpdateErrorKind};
use bytes::Bytes;

/// How many times a write is attempted when attempts time out without a decidable outcome.
const WRITE_ATTEMPTS: u32 = 3;

/// A value read from KV with the revision to pass to a compare-and-set update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned<T> {
    pub value: T,
    pub revision: u64,
}

/// Errors of the KV stores (links, leases, state).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KvError {
    /// Compare-and-set lost: the key is not at the revision the caller read (`expected: None`
    /// means the caller expected no key, i.e. a create of a key that exists). Re-read and decide
    /// again; never overwrite.
    #[error("conflict on {bucket}/{key}: expected {}, found {}", rev_text(*.expected), rev_text(*.current))]
    Conflict {
        bucket: String,
        key: String,
        expected: Option<u64>,
        current: Option<u64>,
    },
    /// The bus did not answer in time or is not connected; the outcome of a write is unknown even
    /// after re-reading. Retry later (nak with a delay).
    #[error("{bucket} unavailable during {op}{}: {reason}", of_key(key))]
    Unavailable {
        bucket: String,
        key: String,
        op: &'static str,
        reason: String,
    },
    /// An id or key part cannot be encoded as a KV key (e.g. empty).
    #[error("invalid key part {part:?}: {reason}")]
    InvalidKey { part: String, reason: &'static str },
    /// A stored value is not what this version of syncbridge writes.
    #[error("{bucket}/{key} holds an unreadable value: {reason}")]
    Corrupt {
        bucket: String,
        key: String,
        reason: String,
    },
    /// The caller passed a value that cannot be stored (e.g. a link without the id its key needs).
    #[error("cannot store this value: {0}")]
    InvalidValue(String),
    /// Any other error the server or client reported.
    #[error("{bucket}: {op} of {key} failed: {reason}")]
    Failed {
        bucket: String,
        key: String,
        op: &'static str,
        reason: String,
    },
}

fn rev_text(rev: Option<u64>) -> String {
    rev.map_or_else(|| "no key".to_owned(), |r| format!("revision {r}"))
}

impl KvError {
    /// True for [`KvError::Conflict`].
    pub fn is_conflict(&self) -> bool {
        matches!(self, KvError::Conflict { .. })
    }

    /// True for [`KvError::Unavailable`]: transient, retry later.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, KvError::Unavailable { .. })
    }
}

/// " of {key}", or nothing for an operation on the whole bucket (opening it).
fn of_key(key: &str) -> String {
    if key.is_empty() {
        String::new()
    } else {
        format!(" of {key}")
    }
}

/// One attempt's outcome, before the ambiguity rule is applied.
enum Attempt {
    Stored(u64),
    /// The server refused: the revision did not match.
    Refused,
    /// No ack in time: it may or may not have been stored.
    Unknown(String),
    Failed(String),
}

/// Whether a KV write was refused because the key is not at the expected revision, by the
/// server's error code anywhere in the error's chain. A single nats-server refuses with 10071
/// ("wrong last sequence: N"), which async-nats maps to `WrongLastRevision` / `AlreadyExists`; a
/// clustered JetStream (nats-server 2.12, R3 bucket) refuses the same write with 10164 ("wrong
/// last sequence", no number), which async-nats 0.51 leaves as `Other`. Without this, a lease or
/// link `create` of an existing key in a cluster was a permanent failure (a dead letter) instead
/// of a conflict.
fn wrong_last_sequence(e: &(dyn std::error::Error + 'static)) -> bool {
    use async_nats::jetstream::ErrorCode;
    let mut cause = Some(e);
    while let Some(err) = cause {
        if let Some(api) = err.downcast_ref::<async_nats::jetstream::Error>() {
            if matches!(
                api.error_code(),
                ErrorCode::STREAM_WRONG_LAST_SEQUENCE
                    | ErrorCode::STREAM_WRONG_LAST_SEQUENCE_CONSTANT
            ) {
                return true;
            }
        }
        cause = err.source();
    }
    false
}

/// What a re-read says about a write whose outcome was unknown.
#[derive(Debug, PartialEq, Eq)]
enum Resolution {
    /// Our bytes are there at a new revision: the write landed.
    Stored(u64),
    /// The key is still as expected: the write did not land; it may be retried.
    NotStored,
    /// Someone else's value (or deletion) is there.
    Conflict(Option<u64>),
}

/// The ambiguity rule: compare what is stored now (`current`: bytes and revision) with what we
/// wrote (`value`, expecting revision `expected`, `None` for a create).
fn resolve_ambiguous(
    current: Option<(&[u8], u64)>,
    value: &[u8],
    expected: Option<u64>,
) -> Resolution {
    match current {
        Some((bytes, rev)) if bytes == value && Some(rev) != expected => Resolution::Stored(rev),
        Some((_, rev)) if Some(rev) == expected => Resolution::NotStored,
        None if expected.is_none() => Resolution::NotStored,
        other => Resolution::Conflict(other.map(|(_, rev)| rev)),
    }
}

/// A KV bucket with reads that hide deleted keys and writes that follow the ambiguity rule.
#[derive(Debug, Clone)]
pub(crate) struct CasBucket {
    store: Store,
    name: &'static str,
    timeout: Duration,
}

impl CasBucket {
    pub(crate) fn new(store: Store, name: &'static str, timeout: Duration) -> Self {
        CasBucket {
            store,
            name,
            timeout,
        }
    }

    fn unavailable(&self, key: &str, op: &'static str, reason: impl Into<String>) -> KvError {
        KvError::Unavailable {
            bucket: self.name.to_owned(),
            key: key.to_owned(),
            op,
            reason: reason.into(),
        }
    }

    fn conflict(&self, key: &str, expected: Option<u64>, current: Option<u64>) -> KvError {
        KvError::Conflict {
            bucket: self.name.to_owned(),
            key: key.to_owned(),
            expected,
            current,
        }
    }

    pub(crate) fn corrupt(&self, key: &str, reason: impl ToString) -> KvError {
        KvError::Corrupt {
            bucket: self.name.to_owned(),
            key: key.to_owned(),
            reason: reason.to_string(),
        }
    }

    /// The current value and revision; `None` if the key was never written, was deleted or expired.
    pub(crate) async fn read(&self, key: &str) -> Result<Option<(Bytes, u64)>, KvError> {
        let entry = match tokio::time::timeout(self.timeout, self.store.entry(key)).await {
            Err(_) => return Err(self.unavailable(key, "read", "timed out")),
            Ok(Err(e)) => {
                return Err(match e.kind() {
                    async_nats::jetstream::kv::EntryErrorKind::TimedOut => {
                        self.unavailable(key, "read", "timed out")
                    }
                    async_nats::jetstream::kv::EntryErrorKind::InvalidKey => KvError::InvalidKey {
                        part: key.to_owned(),
                        reason: "not a valid KV key",
                    },
                    async_nats::jetstream::kv::EntryErrorKind::Other => {
                        self.unavailable(key, "read", e.to_string())
                    }
                })
            }
            Ok(Ok(entry)) => entry,
        };
        Ok(entry.and_then(|e| match e.operation {
            Operation::Put => Some((e.value, e.revision)),
            Operation::Delete | Operation::Purge => None,
        }))
    }

    /// Stores `value` only if `key` holds nothing. [`KvError::Conflict`] if it exists.
    pub(crate) async fn create(&self, key: &str, value: Bytes) -> Result<u64, KvError> {
        self.write(key, value, None).await
    }

    /// Stores `value` only if `key` is at `revision`. [`KvError::Conflict`] otherwise.
    pub(crate) async fn update(
        &self,
        key: &str,
        value: Bytes,
        revision: u64,
    ) -> Result<u64, KvError> {
        self.write(key, value, Some(revision)).await
    }

    /// Stores `value` whatever the key holds (derived data only, e.g. the IT Glue id index).
    pub(crate) async fn put(&self, key: &str, value: Bytes) -> Result<u64, KvError> {
        match tokio::time::timeout(self.timeout, self.store.put(key, value)).await {
            Err(_) => Err(self.unavailable(key, "put", "timed out")),
            Ok(Err(e)) => Err(self.unavailable(key, "put", e.to_string())),
            Ok(Ok(rev)) => Ok(rev),
        }
    }

    /// Deletes `key` only if it is still at `revision`. `Ok(false)` if it is not (it changed, was
    /// deleted, or expired).
    pub(crate) async fn delete_if(&self, key: &str, revision: u64) -> Result<bool, KvError> {
        let deleted = tokio::time::timeout(
            self.timeout,
            self.store.delete_expect_revision(key, Some(revision)),
        )
        .await;
        match deleted {
            Ok(Ok(())) => Ok(true),
            Ok(Err(e)) if e.kind() == UpdateErrorKind::WrongLastRevision => Ok(false),
            Ok(Err(e)) if e.kind() == UpdateErrorKind::TimedOut => {
                self.delete_outcome(key, revision).await
            }
            Err(_) => self.delete_outcome(key, revision).await,
            Ok(Err(e)) => Err(self.unavailable(key, "delete", e.to_string())),
        }
    }

    /// After a delete timed out: if the key is still at `revision`, the delete did not land.
    async fn delete_outcome(&self, key: &str, revision: u64) -> Result<bool, KvError> {
        match self.read(key).await? {
            Some((_, current)) if current == revision => Err(self.unavailable(
                key,
                "delete",
                "timed out; the key is unchanged, retry later",
            )),
            // Gone: our delete landed (or the key expired meanwhile).
            None => Ok(true),
            // Someone else's value: whatever happened to our delete, the key is not ours.
            Some(_) => Ok(false),
        }
    }

    async fn attempt(&self, key: &str, value: Bytes, expected: Option<u64>) -> Attempt {
        let result = match expected {
            None => {
                let fut = self.store.create(key, value);
                match tokio::time::timeout(self.timeout, fut).await {
                    Err(_) => return Attempt::Unknown("timed out".into()),
                    Ok(Ok(rev)) => return Attempt::Stored(rev),
                    Ok(Err(e)) => match e.kind() {
                        CreateErrorKind::AlreadyExists => return Attempt::Refused,
                        // A clustered server's refusal (10164), which async-nats reports as
                        // `Other`: the key exists.
                        CreateErrorKind::Other if wrong_last_sequence(&e) => {
                            return Attempt::Refused
                        }
                        // `create` reports a timed-out publish as `Publish` (async-nats maps
                        // UpdateErrorKind::TimedOut so); treat every publish failure as unknown.
                        CreateErrorKind::Publish | CreateErrorKind::Ack => {
                            return Attempt::Unknown(e.to_string())
                        }
                        // As for an update: `Other` also covers no responders while a cluster
                        // elects the bucket's leader, and a broken connection; the publish may
                        // have left the client, so the outcome is unknown.
                        CreateErrorKind::Other => return Attempt::Unknown(e.to_string()),
                        CreateErrorKind::InvalidKey => return Attempt::Failed(e.to_string()),
                    },
                }
            }
            Some(revision) => {
                let fut = self.store.update(key, value, revision);
                tokio::time::timeout(self.timeout, fut).await
            }
        };
        match result {
            Err(_) => Attempt::Unknown("timed out".into()),
            Ok(Ok(rev)) => Attempt::Stored(rev),
            Ok(Err(e)) => match e.kind() {
                UpdateErrorKind::WrongLastRevision => Attempt::Refused,
                UpdateErrorKind::Other if wrong_last_sequence(&e) => Attempt::Refused,
                UpdateErrorKind::TimedOut => Attempt::Unknown(e.to_string()),
                UpdateErrorKind::InvalidKey => Attempt::Failed(e.to_string()),
                // "Other" covers a broken connection and no-responders during a restart: the
                // publish may have left the client, so the outcome is unknown.
                UpdateErrorKind::Other => Attempt::Unknown(e.to_string()),
            },
        }
    }

    async fn write(&self, key: &str, value: Bytes, expected: Option<u64>) -> Result<u64, KvError> {
        let op = if expected.is_some() {
            "update"
        } else {
            "create"
        };
        let mut ambiguous = false;
        let mut last_reason = String::new();
        for _ in 0..WRITE_ATTEMPTS {
            match self.attempt(key, value.clone(), expected).await {
                Attempt::Stored(rev) => return Ok(rev),
                Attempt::Failed(reason) => {
                    return Err(KvError::Failed {
                        bucket: self.name.to_owned(),
                        key: key.to_owned(),
                        op,
                        reason,
                    })
                }
                Attempt::Refused if !ambiguous => {
                    let current = self.read(key).await.ok().flatten().map(|(_, r)| r);
                    return Err(self.conflict(key, expected, current));
                }
                // Refused after an ambiguous attempt, or unknown: decide by re-reading.
                Attempt::Refused => {}
                Attempt::Unknown(reason) => {
                    ambiguous = true;
                    last_reason = reason;
                }
            }
            tracing::debug!(
                bucket = self.name,
                key,
                op,
                "ambiguous KV write: re-reading"
            );
            let current = match self.read(key).await {
                Ok(current) => current,
                Err(_) => {
                    return Err(self.unavailable(
                        key,
                        op,
                        format!("{last_reason}; the re-read failed too, outcome unknown"),
                    ))
                }
            };
            let current = current.as_ref().map(|(bytes, rev)| (bytes.as_ref(), *rev));
            match resolve_ambiguous(current, &value, expected) {
                Resolution::Stored(rev) => return Ok(rev),
                Resolution::NotStored => continue,
                Resolution::Conflict(rev) => return Err(self.conflict(key, expected, rev)),
            }
        }
        Err(self.unavailable(
            key,
            op,
            format!("{last_reason} ({WRITE_ATTEMPTS} attempts, not stored)"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_nats::jetstream::context::{PublishError, PublishErrorKind};
    use async_nats::jetstream::kv::{CreateError, UpdateError};

    #[test]
    fn our_bytes_at_a_new_revision_mean_the_write_landed() {
        assert_eq!(
            resolve_ambiguous(Some((b"v", 8)), b"v", Some(7)),
            Resolution::Stored(8)
        );
        assert_eq!(
            resolve_ambiguous(Some((b"v", 3)), b"v", None),
            Resolution::Stored(3)
        );
    }

    #[test]
    fn an_unchanged_key_means_the_write_did_not_land() {
        assert_eq!(
            resolve_ambiguous(Some((b"old", 7)), b"v", Some(7)),
            Resolution::NotStored
        );
        assert_eq!(resolve_ambiguous(None, b"v", None), Resolution::NotStored);
        // Identical bytes at the expected revision: that is the old value, not our write.
        assert_eq!(
            resolve_ambiguous(Some((b"v", 7)), b"v", Some(7)),
            Resolution::NotStored
        );
    }

    /// The error async-nats 0.51 returns for a refused `create` or `update` with the server's
    /// API error `code`.
    fn refused_with(code: u64) -> (CreateError, UpdateError) {
        let api = || -> async_nats::jetstream::Error {
            serde_json::from_value(serde_json::json!({
                "code": 400, "err_code": code, "description": "wrong last sequence"
            }))
            .unwrap()
        };
        let publish = || PublishError::with_source(PublishErrorKind::Other, api());
        let update = || UpdateError::with_source(UpdateErrorKind::Other, publish());
        (
            CreateError::with_source(CreateErrorKind::Other, update()),
            update(),
        )
    }

    #[test]
    fn a_clustered_servers_wrong_last_sequence_is_a_refusal() {
        let (create, update) = refused_with(10164);
        assert!(wrong_last_sequence(&create));
        assert!(wrong_last_sequence(&update));
        let (create, _) = refused_with(10071);
        assert!(wrong_last_sequence(&create));
        // Anything else stays a failure (create) or an unknown outcome (update).
        let (create, update) = refused_with(10059);
        assert!(!wrong_last_sequence(&create));
        assert!(!wrong_last_sequence(&update));
    }

    #[test]
    fn anything_else_is_a_conflict() {
        assert_eq!(
            resolve_ambiguous(Some((b"theirs", 9)), b"v", Some(7)),
            Resolution::Conflict(Some(9))
        );
        assert_eq!(
            resolve_ambiguous(None, b"v", Some(7)),
            Resolution::Conflict(None)
        );
        assert_eq!(
            resolve_ambiguous(Some((b"theirs", 1)), b"v", None),
            Resolution::Conflict(Some(1))
        );
    }
}
