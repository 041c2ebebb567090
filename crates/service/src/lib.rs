//! The `syncbridge` service: the verified webhook ingest (axum → JetStream), its configuration,
//! command line, metrics and shutdown. Workers and pollers arrive later.
//!
//! One concept per file: [`config`] (the TOML file), [`cli`] (commands), [`ingest`] (routes,
//! verification, publishing), [`metrics`] (Prometheus), [`http_server`] (the listeners' accept
//! loop: timeouts, connection cap, open-file limit), [`health`] (`/healthz`, `/readyz`,
//! `/metrics` of the metrics listener), [`serve`] (running it), [`check`]
//! (`config check`'s report), [`ops`] (dead letters, replay, links, tenant mode), [`shutdown`]
//! (signals), [`telemetry`] (logs), [`register`] (`register-webhooks`).
//!
//! Tests and embedders build the router directly:
//!
//! ```no_run
//! # async fn run(config: syncbridge::config::Config, sink: std::sync::Arc<dyn syncbridge::ingest::EventSink>) -> anyhow::Result<()> {
//! let router = syncbridge::ingest::Ingest::new(&config, sink)?.router();
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let limits = syncbridge::http_server::Limits::for_ingest(&config.ingest, None);
//! syncbridge::http_server::serve(listener, router, limits, "ingest", std::future::pending()).await;
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

pub mod check;
pub mod cli;
pub mod clients;
pub mod config;
pub mod feeds;
pub mod full_sync;
pub mod health;
pub mod http_server;
pub mod ingest;
pub mod metrics;
pub mod ops;
pub mod psa;
pub mod push_all;
pub mod register;
pub mod runtime;
pub mod serve;
pub mod shared_budget;
pub mod sides;
pub mod telemetry;
pub mod workers;
