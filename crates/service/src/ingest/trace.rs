//! Per-request tracing spans that are safe to ship anywhere: the span names the route *template*
//! (`/webhooks/{tenant}/itglue/{token}`), never the URI, so the IT Glue path token cannot reach a
//! log or a trace; the tenant is recorded by the handler only once it is a configured one. No
//! headers, no bodies.
//!
//! The span is at DEBUG: at the default `info` filter no span is built per request (building one
//! — registry slot, formatted fields — was per-request work on the hot path that only the rare
//! refusal or outage line would use). Those lines carry `tenant` and `source` themselves.

use axum::extract::MatchedPath;
use axum::http::Request;
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::trace::{DefaultOnFailure, DefaultOnRequest, DefaultOnResponse, TraceLayer};
use tracing::{Level, Span};

/// Builds a request's span from its method and matched route.
#[derive(Debug, Clone, Copy)]
pub struct RouteSpan;

impl<B> tower_http::trace::MakeSpan<B> for RouteSpan {
    fn make_span(&mut self, request: &Request<B>) -> Span {
        let route = request
            .extensions()
            .get::<MatchedPath>()
            .map_or("(unmatched)", MatchedPath::as_str);
        tracing::debug_span!(
            "request",
            method = %request.method(),
            route,
            tenant = tracing::field::Empty,
        )
    }
}

/// The tower-http trace layer with [`RouteSpan`]; 5xx are logged at warn (a 503 is the bus's
/// trouble, reported where it happens).
pub fn layer() -> TraceLayer<SharedClassifier<ServerErrorsAsFailures>, RouteSpan> {
    TraceLayer::new_for_http()
        .make_span_with(RouteSpan)
        .on_request(DefaultOnRequest::new().level(Level::DEBUG))
        .on_response(DefaultOnResponse::new().level(Level::DEBUG))
        .on_failure(DefaultOnFailure::new().level(Level::WARN))
}
