//! syncbridge's NATS JetStream layer (DESIGN §2, §4): connecting with reconnects, creating and
//! verifying the streams, KV buckets and per-tenant worker consumers, publishing change events with
//! their dedup id, and the KV-backed stores the workers use — links with their base snapshots,
//! per-record leases, and sync state — all with compare-and-set on the KV revision — the budgets
//! every process shares (request windows, concurrency slots), and the operations tools on the
//! streams: dead letters (with the MAX_DELIVERIES mover), the audit log and replay.
//!
//! Typical start-up:
//!
//! ```no_run
//! # async fn start(nats_url: &str) -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use syncbridge_bus::{connect, setup, ConnectConfig, EventPublisher, LinkStore, SetupConfig};
//!
//! let conn = connect(&ConnectConfig::new(nats_url)).await?;
//! setup(&conn, &SetupConfig::default()).await?;
//! let publisher = EventPublisher::new(conn.clone(), Duration::from_secs(5));
//! let links = LinkStore::open(&conn, Duration::from_secs(5)).await?;
//! # let _ = (publisher, links);
//! # Ok(()) }
//! ```
//!
//! With the `testing` feature, `testing::NatsServer` runs a private nats-server per test; other
//! crates enable it in their dev-dependencies:
//! `syncbridge-bus = { workspace = true, features = ["testing"] }`.

#![forbid(unsafe_code)]

mod advisories;
mod audit;
mod budget;
mod connect;
mod dead_letters;
mod keys;
mod kv;
mod leases;
mod links;
pub mod names;
mod ops_error;
mod publish;
mod replay;
mod setup;
mod slots;
mod state;
#[cfg(feature = "testing")]
pub mod testing;

pub use advisories::DeadLetterMover;
pub use audit::AuditLog;
pub use budget::{Budget, SharedRateBudget, Taken};
pub use connect::{
    connect, connect_within, redact_url, Auth, ConnectConfig, ConnectError, Connection,
    ConnectionState,
};
pub use dead_letters::{dlq_headers, DeadLetter, DeadLetters, StoredEvent};
pub use keys::{decode_token, encode_token, record_key};
pub use kv::{KvError, Versioned};
pub use leases::{Lease, LeaseKey, LeaseStore};
pub use links::LinkStore;
pub use ops_error::OpsError;
pub use publish::{EventPublisher, PublishError, Published};
pub use replay::{replay, ReplayFrom, ReplayReport, ReplayRequest, ReplayUntil, REPLAY_OF};
pub use setup::{
    ensure_worker_consumer, setup, topology_present, Difference, SetupConfig, SetupError,
    SetupOutcome, SetupReport, WorkerConsumerConfig,
};
pub use slots::{ConcurrencySlots, Slot};
pub use state::{PollCursor, StateKey, StateStore};

/// The async-nats pull consumer type returned by [`ensure_worker_consumer`].
pub use async_nats::jetstream::consumer::PullConsumer;
