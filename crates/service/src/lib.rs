//! The `syncbridge` service: the verified webhook ingest, the workers and pollers, the commands
//! an operator runs, and the configuration they all read.
//!
//! Layers, each a folder whose imports only point down (`tests/service/processes/layers.rs`
//! checks it):
//!
//! 1. [`runtime`]: the clock, the stop signal, OS signals, logs and metrics;
//! 2. [`config`]: the TOML file, its vocabulary (`config/{error,values,secrets,duration}.rs`)
//!    below [`psa`] — one descriptor per PSA — and the assembled [`config::Config`] above it;
//! 3. [`vendors`]: a tenant's clients, shared budgets, the worker's sides, the change feeds;
//!    [`http_server`]: the listeners' accept loop (timeouts, connection cap, open-file limit);
//! 4. [`ingest`] and [`roles`]: what `serve` runs;
//! 5. [`commands`] and [`cli`]: the one-off commands; `main.rs` parses and dispatches.
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

pub mod cli;
pub mod commands;
pub mod config;
pub mod http_server;
pub mod ingest;
pub mod psa;
pub mod roles;
pub mod runtime;
pub mod vendors;
