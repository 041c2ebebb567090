//! Shared helpers of the integration tests: every test starts its own nats-server.

use std::future::Future;
use std::time::Duration;

use syncbridge_bus::testing::NatsServer;
use syncbridge_bus::{connect, setup, ConnectConfig, Connection, SetupConfig};
use syncbridge_model::{ChangeAction, ChangeEvent, Entity, EventSource, PsaKind, TenantId};

/// Bound for "did it answer at all" waits (reconnects after a restart); not a speed expectation.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// KV/publish operation timeout used by the tests.
pub const OP_TIMEOUT: Duration = Duration::from_secs(3);

/// A fresh server and a connection to it.
pub async fn server() -> (NatsServer, Connection) {
    let server = NatsServer::start().await.expect("start nats-server");
    let mut config = ConnectConfig::new(server.url());
    config.request_timeout = OP_TIMEOUT;
    let conn = connect(&config).await.expect("connect");
    (server, conn)
}

/// A fresh server with the topology set up.
pub async fn ready_server() -> (NatsServer, Connection) {
    let (server, conn) = server().await;
    setup(&conn, &SetupConfig::default()).await.expect("setup");
    (server, conn)
}

pub fn tenant() -> TenantId {
    TenantId::new("acme").expect("valid tenant")
}

pub fn event(msg_id: Option<&str>) -> ChangeEvent {
    ChangeEvent {
        tenant: tenant(),
        source: EventSource::Psa(PsaKind::ConnectWise),
        entity: Some(Entity::Organization),
        record_id: Some("42".into()),
        action: ChangeAction::Upsert,
        received_at: 1_700_000_000_000,
        msg_id: msg_id.map(str::to_owned),
    }
}

/// Retries `op` until it succeeds or [`PATIENCE`] runs out (then panics with the last error).
pub async fn eventually<T, E: std::fmt::Debug, F, Fut>(what: &str, mut op: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        match op().await {
            Ok(v) => return v,
            Err(e) if tokio::time::Instant::now() >= deadline => {
                panic!("{what}: still failing after {PATIENCE:?}: {e:?}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}
