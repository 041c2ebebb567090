//! The worker pipeline (DESIGN §2.3), as a library the `syncbridge` binary runs per tenant.
//!
//! For one event: take the record's lease (keyed by its PSA id once linked, no vendor read needed);
//! read the current state of both sides (events are hints); gather what the engine needs (link and
//! base, parent organization, candidates, references, lookups, watermark) — an unlinked record
//! also takes its exact match key's lease and reads again under it;
//! run [`syncbridge_engine::decide()`]; write to each side only what the decision asks; store the link
//! with the values read back after the writes, with compare-and-set on the KV revision (re-deciding
//! on a conflict); audit the decision; release the lease. The caller acks, naks with a delay, or
//! files a dead letter according to the returned [`Outcome`].
//!
//! The two systems are reached through [`SideApi`], which the vendor connectors implement; the
//! pipeline itself never knows a vendor. The bus is reached through the store port ([`store`]):
//! links, leases, the tenant's sync state, the audit trail and event publishing as traits, which
//! [`Worker`] is generic over — [`WorkerStores`] on NATS JetStream in production, [`MemoryStore`]
//! in one process for tests that need no nats-server. The pipeline takes "now" as an argument for
//! its decisions and waits for and renews leases on tokio's clock, which the in-memory store's
//! lease expiry also reads, so a test on paused time controls all of it.
//!
//! A test stops a worker as if killed at a deterministic [`KillPoint`] by wrapping its store in
//! the [`KillAt`] hook; [`Outcome`] has no such case, and nothing in the pipeline knows of kills.

#![forbid(unsafe_code)]

mod apply;
mod cascade;
pub mod consume;
pub mod content_hash;
mod gather;
pub mod metrics;
mod pipeline;
mod poll_version;
pub mod poller;
mod side;
pub mod store;
pub mod synced_versions;

pub use pipeline::{AuditEntry, Outcome, Worker};
pub use side::{ApiError, SideApi};
pub use store::kill::{KillAt, KillPoint};
pub use store::memory::MemoryStore;
pub use store::nats::WorkerStores;
pub use store::Store;
