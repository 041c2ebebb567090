//! Binding and stopping a simulator: each one is an axum server on `127.0.0.1` (a chosen port or
//! a free one), returned as a [`SimServer`] handle with its base URL and a shutdown.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::core::Core;

/// `127.0.0.1:0`: a free port on the loopback interface.
pub fn any_free_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A running simulator server.
#[derive(Debug)]
pub struct SimServer {
    base_url: String,
    addr: SocketAddr,
    core: Arc<Core>,
    task: Option<JoinHandle<()>>,
}

impl SimServer {
    /// Binds `bind` and serves `router` until [`SimServer::shutdown`] (or drop).
    pub async fn start(core: Arc<Core>, router: Router, bind: SocketAddr) -> io::Result<SimServer> {
        let listener = TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        let base_url = format!("http://{addr}");
        core.set_base_url(base_url.clone());
        let signal_core = core.clone();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(async move { signal_core.shutdown_signal().await })
                .await;
            if let Err(e) = served {
                tracing::warn!(error = %e, "simulator server stopped with an error");
            }
        });
        tracing::info!(vendor = core.vendor, %addr, "simulator listening");
        Ok(SimServer {
            base_url,
            addr,
            core,
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn core(&self) -> &Arc<Core> {
        &self.core
    }

    /// Stops accepting, releases hanging requests and waits (briefly) for open connections.
    pub async fn shutdown(mut self) {
        self.core.trigger_shutdown();
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        // A handle dropped without shutdown() must not leave a server (or its webhook senders)
        // running behind the test.
        self.core.trigger_shutdown();
    }
}
