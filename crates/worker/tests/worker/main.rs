//! The worker crate's integration tests, with in-memory sides and a store backend: the pipeline,
//! two workers on the same records, leases, compare-and-set conflicts, kill -9 at deterministic
//! points and the store port's contract run on both backends — `…::memory` on the in-memory store
//! under paused time (no nats-server), `…::nats` on a private nats-server; the consume loop (with
//! many events in flight on overlapping records) and the pollers (modified-since and content
//! hash) run on NATS only.

mod common;
mod concurrency;
mod concurrent_consume;
mod conflicts;
mod consume;
mod crash_points;
mod leases;
mod pipeline;
mod poller;
mod poller_content_hash;
mod store_contract;
