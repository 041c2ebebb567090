//! The webhook ingest: verify, publish to JetStream, answer (DESIGN §2.1, §4).
//!
//! [`Ingest`] is built from the configuration and an [`EventSink`] (NATS in production, a fake in
//! tests), and turned into an axum [`Router`] with [`Ingest::router`]. Files: [`routes`] (the
//! routes and the per-delivery path), [`answer`] (status codes and bodies), [`body`] (the
//! streaming size limit), [`tenants`] (verifiers per tenant, with the ConnectWise connector's
//! signing-key fetcher), [`deactivation`] (confirming Autotask deactivation notices through the
//! Autotask connector), [`sink`], [`trace`].

pub mod answer;
pub mod body;
pub mod deactivation;
pub mod health;
pub mod routes;
pub mod sink;
pub mod tenants;
pub mod trace;

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use syncbridge_webhooks::BodyLimit;
use tower_http::timeout::TimeoutLayer;

use crate::config::Config;
use crate::runtime::metrics::{PublishLatency, TenantCounters};
use deactivation::{AutotaskApiChecker, DeactivationChecker};
pub use sink::{check_body_limit, BoxFuture, EventSink, NatsSink};
use tenants::Tenants;

/// Shared by every request.
pub struct IngestState {
    pub(crate) tenants: Tenants,
    pub(crate) sink: Arc<dyn EventSink>,
    pub(crate) deactivation: Arc<dyn DeactivationChecker>,
    pub(crate) body_limit: BodyLimit,
    pub(crate) retry_after_secs: u64,
    pub(crate) metrics: Option<PrometheusHandle>,
    /// Requests for tenants that are not configured, counted as tenant `unknown`.
    pub(crate) unknown_tenant: TenantCounters,
    pub(crate) publish_latency: PublishLatency,
}

/// The ingest, ready to become a router.
pub struct Ingest {
    tenants: Tenants,
    sink: Arc<dyn EventSink>,
    deactivation: Arc<dyn DeactivationChecker>,
    body_limit: BodyLimit,
    retry_after_secs: u64,
    request_timeout: Duration,
    /// Serve `/metrics` here (no separate metrics listener configured).
    serve_metrics: bool,
}

impl Ingest {
    /// Verifiers for every configured tenant, events to `sink`, deactivation notices confirmed
    /// through the Autotask API.
    pub fn new(config: &Config, sink: Arc<dyn EventSink>) -> anyhow::Result<Self> {
        let http = syncbridge_connectors::ConnectWiseKeySource::client()?;
        let tenants = Tenants::from_config(config, &http).map_err(anyhow::Error::msg)?;
        Ok(Ingest {
            tenants,
            sink,
            deactivation: Arc::new(AutotaskApiChecker::from_config(config)?),
            body_limit: config.ingest.body_limit,
            retry_after_secs: config.ingest.retry_after.as_secs().max(1),
            request_timeout: config.ingest.request_timeout,
            serve_metrics: config.metrics.listen.is_none(),
        })
    }

    /// Replaces how deactivation notices are confirmed (tests: a fake or the simulator).
    pub fn with_deactivation_checker(mut self, checker: Arc<dyn DeactivationChecker>) -> Self {
        self.deactivation = checker;
        self
    }

    /// The router with its middleware: a per-request span named by route template (never the
    /// raw URI, which may hold the IT Glue token) and an overall request timeout.
    pub fn router(self) -> Router {
        let state = Arc::new(IngestState {
            tenants: self.tenants,
            sink: self.sink,
            deactivation: self.deactivation,
            body_limit: self.body_limit,
            retry_after_secs: self.retry_after_secs,
            metrics: crate::runtime::metrics::handle(),
            unknown_tenant: TenantCounters::new("unknown"),
            publish_latency: PublishLatency::default(),
        });
        routes::routes(self.serve_metrics)
            .layer(TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                self.request_timeout,
            ))
            .layer(trace::layer())
            .with_state(state)
    }
}
