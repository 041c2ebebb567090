//! The write log: every create, update and delete a simulator performed, with the record, the
//! fields sent and the fields actually changed, and the authenticated user who made it.
//!
//! Tests use it to prove "no duplicate record" and "no echo write" (a write that changes nothing,
//! or any write by the sync user that no person's edit caused): `GET /_admin/writes` and
//! `GET /_admin/writes/count?collection=…&id=…`. Seeding through the admin API is not logged;
//! admin edits "as a person" are, under the person's name.

use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::clock::SimMillis;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteAction {
    Create,
    Update,
    Delete,
}

/// One logged write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WriteEntry {
    /// 1-based order of the write within the simulator.
    pub seq: u64,
    /// Simulated time of the write (epoch milliseconds).
    pub at: SimMillis,
    /// Collection name in the vendor's vocabulary (`organizations`, `companies`, `Companies`, …).
    pub collection: String,
    pub record_id: String,
    pub action: WriteAction,
    /// Fields present in the request.
    pub fields: Vec<String>,
    /// Fields whose stored value differs after the write (all fields for a create).
    pub changed: Vec<String>,
    /// Authenticated identity: IT Glue API key name, ConnectWise member, Autotask user name.
    pub user: String,
}

impl WriteEntry {
    fn is_no_op_update(&self) -> bool {
        self.action == WriteAction::Update && self.changed.is_empty()
    }
}

/// One line for a test's failure message: what was written, by whom, which write.
impl std::fmt::Display for WriteEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} by {}: fields {:?} (write #{})",
            self.collection, self.record_id, self.user, self.fields, self.seq
        )
    }
}

/// Append-only, in-memory log of writes.
#[derive(Debug, Default)]
pub struct WriteLog {
    entries: Mutex<Vec<WriteEntry>>,
}

/// Filter for reading the log.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct WriteQuery {
    pub collection: Option<String>,
    pub id: Option<String>,
    pub user: Option<String>,
}

impl WriteQuery {
    fn accepts(&self, e: &WriteEntry) -> bool {
        self.collection.as_deref().is_none_or(|c| c == e.collection)
            && self.id.as_deref().is_none_or(|i| i == e.record_id)
            && self.user.as_deref().is_none_or(|u| u == e.user)
    }
}

/// Counts for one filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteCount {
    pub count: usize,
    /// Writes that changed nothing (echo candidates).
    pub no_op: usize,
}

impl WriteLog {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<WriteEntry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &self,
        at: SimMillis,
        collection: &str,
        record_id: &str,
        action: WriteAction,
        fields: Vec<String>,
        changed: Vec<String>,
        user: &str,
    ) {
        let mut entries = self.lock();
        let seq = entries.len() as u64 + 1;
        entries.push(WriteEntry {
            seq,
            at,
            collection: collection.to_owned(),
            record_id: record_id.to_owned(),
            action,
            fields,
            changed,
            user: user.to_owned(),
        });
    }

    pub fn entries(&self, q: &WriteQuery) -> Vec<WriteEntry> {
        self.lock()
            .iter()
            .filter(|e| q.accepts(e))
            .cloned()
            .collect()
    }

    /// Updates that changed nothing: a client's echo (a person's edit always changes its field).
    pub fn no_op_updates(&self) -> Vec<WriteEntry> {
        self.lock()
            .iter()
            .filter(|e| e.is_no_op_update())
            .cloned()
            .collect()
    }

    pub fn count(&self, q: &WriteQuery) -> WriteCount {
        let entries = self.lock();
        let matching: Vec<_> = entries.iter().filter(|e| q.accepts(e)).collect();
        WriteCount {
            count: matching.len(),
            no_op: matching.iter().filter(|e| e.is_no_op_update()).count(),
        }
    }

    pub fn clear(&self) {
        self.lock().clear();
    }
}
