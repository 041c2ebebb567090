//! What the workers did, per tenant, read live from the audit stream (`sync.audit.>`): the same
//! records `links explain` reads, so the demo's numbers are the service's own account of itself.
//!
//! Latency is event → write: from when the event entered syncbridge (webhook received, or the
//! poll that found the change) to the moment the worker's writes were done — for changes only,
//! not for the initial full sync's backlog.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use serde_json::Value;

/// Counts for one tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantTally {
    pub events: u64,
    pub created_in_itglue: u64,
    pub updated_in_itglue: u64,
    pub linked: u64,
    pub orphaned: u64,
    /// Created in or updated in the PSA from IT Glue (two-way).
    pub pushed: u64,
    /// IT Glue edits restored to the PSA's value (one-way tenant or PSA-only field).
    pub reverted: u64,
    /// Fields changed on both sides, resolved to the PSA's value.
    pub conflicts: u64,
    pub near_misses: u64,
    pub lookups_created: u64,
    /// Event → write latency of each decision about a change (webhook or poll) that wrote, in
    /// milliseconds; the full sync's backlog is not counted.
    pub latencies_ms: Vec<u64>,
}

impl TenantTally {
    /// The `q`-quantile (0..=1) of the latencies.
    pub fn latency_quantile(&self, q: f64) -> Option<u64> {
        if self.latencies_ms.is_empty() {
            return None;
        }
        let mut sorted = self.latencies_ms.clone();
        sorted.sort_unstable();
        let rank = ((sorted.len() as f64 - 1.0) * q).round() as usize;
        sorted.get(rank).copied()
    }

    /// Adds one audit record, seen at `seen_at` (just after the worker's writes were done).
    pub fn add(&mut self, audit: &Value, seen_at: u64) {
        self.events += 1;
        let written = audit.get("written").and_then(Value::as_bool) == Some(true);
        let mut wrote = false;
        for action in audit
            .get("actions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let kind = action.get("kind").and_then(Value::as_str).unwrap_or("");
            let rule = action.get("rule").and_then(Value::as_str).unwrap_or("");
            if rule == "near_miss" {
                self.near_misses += 1;
            }
            if !written {
                continue;
            }
            match kind {
                "create_in_itglue" => self.created_in_itglue += 1,
                "update_itglue" if matches!(rule, "one_way_revert" | "psa_only_field") => {
                    self.reverted += 1
                }
                "update_itglue" => self.updated_in_itglue += 1,
                "create_in_psa" | "update_psa" => self.pushed += 1,
                "link" => self.linked += 1,
                "mark_orphaned" => self.orphaned += 1,
                "create_lookup" => self.lookups_created += 1,
                _ => {}
            }
            if rule == "psa_wins_conflict" {
                self.conflicts += 1;
            }
            wrote |= matches!(
                kind,
                "create_in_itglue" | "update_itglue" | "create_in_psa" | "update_psa"
            );
        }
        // Latency is about changes: the full sync's backlog (queued all at once) is not one.
        let source = audit
            .get("event")
            .and_then(|e| e.get("source"))
            .and_then(Value::as_str);
        let live = !matches!(source, Some("full-sync" | "push-all"));
        if wrote && live {
            let received = audit
                .get("event")
                .and_then(|e| e.get("received_at"))
                .and_then(Value::as_u64);
            if let Some(received) = received {
                self.latencies_ms.push(seen_at.saturating_sub(received));
            }
        }
    }
}

/// Tallies per tenant, shared with the task that fills them.
#[derive(Debug, Clone, Default)]
pub struct Tally(Arc<Mutex<BTreeMap<String, TenantTally>>>);

impl Tally {
    pub fn snapshot(&self) -> BTreeMap<String, TenantTally> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn add(&self, tenant: &str, audit: &Value) {
        let seen_at = syncbridge::runtime::clock::now_millis().max(0) as u64;
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(tenant.to_owned())
            .or_default()
            .add(audit, seen_at);
    }

    /// Follows `sync.audit.>` until the connection closes.
    pub async fn follow(self, client: async_nats::Client) -> anyhow::Result<()> {
        let mut sub = client.subscribe("sync.audit.>").await?;
        while let Some(msg) = sub.next().await {
            // sync.audit.{tenant}.{entity}
            let Some(tenant) = msg.subject.as_str().split('.').nth(2) else {
                continue;
            };
            if let Ok(audit) = serde_json::from_slice::<Value>(&msg.payload) {
                self.add(tenant, &audit);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn counts_written_actions_by_kind_and_rule_and_measures_latency() {
        let mut t = TenantTally::default();
        t.add(
            &json!({"at": 1200, "written": true, "event": {"received_at": 1000},
            "actions": [
                {"kind": "update_itglue", "rule": "psa_wins_conflict"},
                {"kind": "update_itglue", "rule": "one_way_revert"},
                {"kind": "create_in_psa", "rule": "two_way_push"},
                {"kind": "link", "rule": "exact_match"}]}),
            1500,
        );
        // Shadow mode: decided, not written — counted as an event only.
        t.add(
            &json!({"at": 9000, "written": false, "event": {"received_at": 1000},
            "actions": [{"kind": "create_in_itglue", "rule": "instant_create"}]}),
            9000,
        );
        assert_eq!(t.events, 2);
        assert_eq!(t.updated_in_itglue, 1);
        assert_eq!(t.conflicts, 1);
        assert_eq!(t.reverted, 1);
        assert_eq!(t.pushed, 1);
        assert_eq!(t.linked, 1);
        assert_eq!(t.created_in_itglue, 0);
        assert_eq!(t.latencies_ms, vec![500]);
        // The full sync's backlog counts as work, not as latency.
        t.add(
            &json!({"at": 1200, "written": true, "event": {"received_at": 1000, "source": "full-sync"},
            "actions": [{"kind": "create_in_itglue", "rule": "instant_create"}]}),
            99_000,
        );
        assert_eq!(t.created_in_itglue, 1);
        assert_eq!(t.latencies_ms, vec![500]);
        assert_eq!(t.latency_quantile(0.5), Some(500));
    }

    #[test]
    fn quantiles_pick_by_rank() {
        let t = TenantTally {
            latencies_ms: (1..=100).rev().collect(),
            ..TenantTally::default()
        };
        assert_eq!(t.latency_quantile(0.5), Some(51));
        assert_eq!(t.latency_quantile(0.99), Some(99));
        assert_eq!(TenantTally::default().latency_quantile(0.5), None);
    }
}
