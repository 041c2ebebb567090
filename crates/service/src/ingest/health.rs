//! `GET /healthz` (process up), `GET /readyz` (NATS connected, streams present) and
//! `GET /metrics` (Prometheus): served on the ingest listener, and on the separate metrics
//! listener (`[metrics] listen`) for every role. With a metrics listener configured, `/metrics`
//! leaves the public listener (it names tenants and their traffic).

use std::sync::Arc;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;

use crate::ingest::BoxFuture;

/// Answers whether events can be stored right now.
pub type Readiness = Arc<dyn Fn() -> BoxFuture<'static, bool> + Send + Sync>;

/// The metrics listener's routes.
pub fn router(ready: Readiness) -> Router {
    let handle = crate::runtime::metrics::handle();
    Router::new()
        .route("/healthz", get(|| async { healthz() }))
        .route(
            "/readyz",
            get(move || {
                let check = ready();
                async move { readiness(check.await) }
            }),
        )
        .route(
            "/metrics",
            get(move || {
                let text = render(handle.as_ref());
                async move { text }
            }),
        )
        .fallback(|| async { StatusCode::NOT_FOUND })
}

/// Readiness from the NATS connection: connected, and the topology exists.
pub fn nats_readiness(conn: syncbridge_bus::Connection) -> Readiness {
    Arc::new(move || {
        let conn = conn.clone();
        Box::pin(async move { syncbridge_bus::topology_present(&conn).await })
    })
}

pub fn healthz() -> Response {
    (StatusCode::OK, Json(json!({"status": "ok"}))).into_response()
}

pub fn readiness(ready: bool) -> Response {
    if ready {
        (StatusCode::OK, Json(json!({"ready": true}))).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"ready": false, "reason": "NATS not connected or streams missing"})),
        )
            .into_response()
    }
}

/// The Prometheus text (empty when another recorder was installed first).
pub fn render(handle: Option<&PrometheusHandle>) -> Response {
    let text = handle.map(|h| h.render()).unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}
