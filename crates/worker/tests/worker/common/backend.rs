//! The two store backends a test runs on, behind one [`Backend`] trait: [`Memory`] (the worker's
//! `MemoryStore`, no server, meant for paused tokio time) and [`Nats`] (a private nats-server with
//! the streams and buckets set up, real time). Tests written once over `B: Backend` run on both
//! through [`on_both_backends!`](crate::common::on_both_backends).

use std::future::Future;
use std::time::Duration;

use async_nats::jetstream::message::StreamMessage;
use syncbridge_bus::testing::NatsServer;
use syncbridge_bus::{
    connect, names, setup, AuditLog, ConnectConfig, Connection, EventPublisher, LeaseStore,
    LinkStore, SetupConfig, StateStore,
};
use syncbridge_model::{ChangeEvent, Mode};
use syncbridge_worker::{MemoryStore, Store, WorkerStores};

use super::tenant;

/// How long an unrenewed lease lives in the tests, on both backends: short, so a "killed"
/// worker's lease expires within a test.
pub const LEASE_TTL: Duration = Duration::from_secs(2);

/// A store backend with what the tests read back besides the port's own operations.
pub trait Backend: Sized {
    type Store: Store + Clone + 'static;

    fn start() -> impl Future<Output = Self>;

    /// The store workers use (clones share their contents).
    fn store(&self) -> Self::Store;

    /// The test tenant's audit entries, oldest first.
    fn audited(&self) -> impl Future<Output = Vec<serde_json::Value>>;

    /// Every event published, oldest first.
    fn published(&self) -> impl Future<Output = Vec<ChangeEvent>>;

    /// Sets the test tenant's mode, as an operator would.
    fn set_mode(&self, mode: Mode) -> impl Future<Output = ()>;
}

/// The in-memory backend.
pub struct Memory {
    pub store: MemoryStore,
}

impl Memory {
    pub fn with_lease_ttl(ttl: Duration) -> Memory {
        Memory {
            store: MemoryStore::new(ttl),
        }
    }
}

impl Backend for Memory {
    type Store = MemoryStore;

    async fn start() -> Memory {
        Memory::with_lease_ttl(LEASE_TTL)
    }

    fn store(&self) -> MemoryStore {
        self.store.clone()
    }

    async fn audited(&self) -> Vec<serde_json::Value> {
        self.store.audited(&tenant())
    }

    async fn published(&self) -> Vec<ChangeEvent> {
        self.store.published()
    }

    async fn set_mode(&self, mode: Mode) {
        self.store.set_mode(&tenant(), mode);
    }
}

/// The NATS backend on a private nats-server.
pub struct Nats {
    /// Kept so the server lives as long as the backend.
    pub _server: NatsServer,
    pub conn: Connection,
    pub stores: WorkerStores,
}

impl Backend for Nats {
    type Store = WorkerStores;

    async fn start() -> Nats {
        let server = NatsServer::start().await.expect("nats-server");
        let conn = connect(&ConnectConfig::new(server.url())).await.unwrap();
        let config = SetupConfig {
            lease_max_age: LEASE_TTL,
            ..SetupConfig::default()
        };
        setup(&conn, &config).await.unwrap();
        let timeout = Duration::from_secs(5);
        let stores = WorkerStores {
            links: LinkStore::open(&conn, timeout).await.unwrap(),
            leases: LeaseStore::open(&conn, timeout).await.unwrap(),
            state: StateStore::open(&conn, timeout).await.unwrap(),
            audit: AuditLog::new(conn.clone(), timeout),
            events: EventPublisher::new(conn.clone(), timeout),
        };
        Nats {
            _server: server,
            conn,
            stores,
        }
    }

    fn store(&self) -> WorkerStores {
        self.stores.clone()
    }

    async fn audited(&self) -> Vec<serde_json::Value> {
        let prefix = format!("sync.audit.{}.", tenant());
        let messages = self.messages(names::AUDIT_STREAM).await;
        let of_tenant = messages
            .into_iter()
            .filter(|m| m.subject.starts_with(&prefix));
        of_tenant
            .map(|m| serde_json::from_slice(&m.payload).unwrap())
            .collect()
    }

    async fn published(&self) -> Vec<ChangeEvent> {
        let messages = self.messages(names::EVENTS_STREAM).await;
        let event = |m: StreamMessage| {
            ChangeEvent::from_headers(|name| m.headers.get(name).map(|v| v.as_str())).unwrap()
        };
        messages.into_iter().map(event).collect()
    }

    async fn set_mode(&self, mode: Mode) {
        let current = self.stores.state.mode(&tenant()).await.unwrap();
        let revision = current.map(|v| v.revision);
        let state = &self.stores.state;
        state.set_mode(&tenant(), mode, revision).await.unwrap();
    }
}

impl Nats {
    /// Every message in `stream`, in order.
    async fn messages(&self, stream: &str) -> Vec<StreamMessage> {
        let mut stream = self.conn.jetstream().get_stream(stream).await.unwrap();
        let last = stream.info().await.unwrap().state.last_sequence;
        let mut out = Vec::new();
        for seq in 1..=last {
            out.push(stream.get_raw_message(seq).await.unwrap());
        }
        out
    }
}
