//! The HTTP routes of DESIGN §4 and the one path every webhook takes through them:
//! tenant and source known? → body read under the limit → verified → published → answered.
//!
//! | route | verifier |
//! |---|---|
//! | `POST /webhooks/{tenant}/connectwise[/{*rest}]` | ConnectWise callback (ConnectWise appends the record id; `…/connectwise/` with nothing after it is a 400 saying so) |
//! | `POST /webhooks/{tenant}/autotask` | Autotask callout |
//! | `POST /webhooks/{tenant}/autotask/deactivated` | Autotask DeactivationUrl notice, confirmed via the API |
//! | `POST /webhooks/{tenant}/itglue/{token}` | IT Glue workflow token (redacted everywhere) |
//! | `POST /webhooks/{tenant}/standard` | Standard Webhooks |
//! | `GET /healthz`, `GET /readyz`, `GET /metrics` | process up; NATS connected + topology; Prometheus ([`crate::ingest::health`]; `/metrics` only without a metrics listener) |

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use crate::runtime::clock::now_millis;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use syncbridge_bus::PublishError;
use syncbridge_webhooks::{
    DeactivationNotice, Headers, Rejection, Verified, VerifiedEvent, WebhookRequest, WebhookSource,
};

use super::answer::Answer;
use super::body::read_limited;
use super::deactivation::WebhookState;
use super::tenants::TenantIngest;
use super::IngestState;
use crate::ingest::health;
use crate::runtime::metrics;

/// The routes, without middleware (see [`super::Ingest::router`]); `/metrics` only with
/// `with_metrics` (no separate metrics listener).
pub fn routes(with_metrics: bool) -> Router<Arc<IngestState>> {
    let router = Router::new()
        .route("/webhooks/{tenant}/connectwise", post(connectwise))
        .route(
            "/webhooks/{tenant}/connectwise/",
            post(connectwise_without_id),
        )
        .route(
            "/webhooks/{tenant}/connectwise/{*rest}",
            post(connectwise_with_id),
        )
        .route("/webhooks/{tenant}/autotask", post(autotask))
        .route(
            "/webhooks/{tenant}/autotask/deactivated",
            post(autotask_deactivated),
        )
        .route("/webhooks/{tenant}/itglue/{token}", post(itglue))
        .route("/webhooks/{tenant}/standard", post(standard))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(not_found);
    if with_metrics {
        router.route("/metrics", get(prometheus))
    } else {
        router
    }
}

/// Which verification a delivery needs.
enum Delivery {
    ConnectWise,
    Autotask,
    AutotaskDeactivated,
    /// The path token; it never leaves this module's locals.
    ItGlue(String),
    Standard,
}

impl Delivery {
    fn source(&self) -> WebhookSource {
        match self {
            Delivery::ConnectWise => WebhookSource::ConnectWise,
            Delivery::Autotask | Delivery::AutotaskDeactivated => WebhookSource::Autotask,
            Delivery::ItGlue(_) => WebhookSource::ItGlue,
            Delivery::Standard => WebhookSource::Standard,
        }
    }
}

async fn connectwise(
    State(state): State<Arc<IngestState>>,
    Path(tenant): Path<String>,
    request: Request,
) -> Answer {
    handle(&state, &tenant, Delivery::ConnectWise, request).await
}

/// ConnectWise appends the record id to the registered URL; the body names it too, so the
/// suffix is not needed (and not trusted).
async fn connectwise_with_id(
    State(state): State<Arc<IngestState>>,
    Path((tenant, _record_id)): Path<(String, String)>,
    request: Request,
) -> Answer {
    handle(&state, &tenant, Delivery::ConnectWise, request).await
}

/// The registered URL itself (`…/connectwise/`), with no record id after it: ConnectWise always
/// appends one, so this is not one of its callbacks (a hand-made test, or a URL registered
/// without the trailing slash and then edited). Answered 400 saying so, for tenants that have
/// ConnectWise; 404 as any other route for the rest.
async fn connectwise_without_id(
    State(state): State<Arc<IngestState>>,
    Path(tenant): Path<String>,
) -> Answer {
    let source = WebhookSource::ConnectWise.as_str();
    let Some(configured) = state.tenants.get(&tenant) else {
        state.unknown_tenant.request(source, "not_found");
        return Answer::NotFound;
    };
    tracing::Span::current().record("tenant", configured.id.as_str());
    let answer = if configured.connectwise.is_some() {
        Answer::NoRecordId
    } else {
        Answer::NotFound
    };
    configured.counters.request(source, answer.outcome());
    answer
}

async fn autotask(
    State(state): State<Arc<IngestState>>,
    Path(tenant): Path<String>,
    request: Request,
) -> Answer {
    handle(&state, &tenant, Delivery::Autotask, request).await
}

async fn autotask_deactivated(
    State(state): State<Arc<IngestState>>,
    Path(tenant): Path<String>,
    request: Request,
) -> Answer {
    handle(&state, &tenant, Delivery::AutotaskDeactivated, request).await
}

async fn itglue(
    State(state): State<Arc<IngestState>>,
    Path((tenant, token)): Path<(String, String)>,
    request: Request,
) -> Answer {
    handle(&state, &tenant, Delivery::ItGlue(token), request).await
}

async fn standard(
    State(state): State<Arc<IngestState>>,
    Path(tenant): Path<String>,
    request: Request,
) -> Answer {
    handle(&state, &tenant, Delivery::Standard, request).await
}

/// Every webhook's path: answer, then count the answer. The request is taken whole rather than
/// through the `HeaderMap` and `Body` extractors: the `HeaderMap` extractor clones every header.
async fn handle(state: &IngestState, tenant: &str, delivery: Delivery, request: Request) -> Answer {
    let (parts, body) = request.into_parts();
    let headers = parts.headers;
    let source = delivery.source().as_str();
    let Some(configured) = state.tenants.get(tenant) else {
        // Not a label value: anyone can make up tenant ids.
        state.unknown_tenant.request(source, "not_found");
        return Answer::NotFound;
    };
    tracing::Span::current().record("tenant", configured.id.as_str());
    let answer = verify_and_publish(state, configured, delivery, &headers, body).await;
    if let Answer::Rejected(rejection) = &answer {
        if rejection.http_status() == 401 {
            configured
                .counters
                .verification_failure(source, rejection.kind());
        }
        if *rejection == Rejection::KeyFetchLimited {
            metrics::key_fetch_limited(configured.id.as_str());
        }
        // The rejection's text is fixed wording (no secrets, no sender data).
        tracing::info!(tenant = configured.id.as_str(), source, status = rejection.http_status(), reason = %rejection, "webhook refused");
    } else {
        tracing::debug!(source, outcome = answer.outcome(), "webhook answered");
    }
    configured.counters.request(source, answer.outcome());
    answer
}

async fn verify_and_publish(
    state: &IngestState,
    tenant: &TenantIngest,
    delivery: Delivery,
    headers: &HeaderMap,
    body: Body,
) -> Answer {
    // Is this source configured for the tenant at all? Checked before reading the body.
    let configured = match &delivery {
        Delivery::ConnectWise => tenant.connectwise.is_some(),
        Delivery::Autotask | Delivery::AutotaskDeactivated => tenant.autotask.is_some(),
        Delivery::ItGlue(_) => tenant.itglue.is_some(),
        Delivery::Standard => tenant.standard.is_some(),
    };
    if !configured {
        return Answer::NotFound;
    }
    let body = match read_limited(headers, body, state.body_limit).await {
        Ok(body) => body,
        Err(rejection) => return Answer::Rejected(rejection),
    };
    let headers = Headers::from_pairs(headers.iter().map(|(k, v)| (k.as_str(), v.as_bytes())));
    let request = WebhookRequest::new(&body, &headers, now_millis());

    let verified = match (&delivery, tenant) {
        (
            Delivery::ConnectWise,
            TenantIngest {
                connectwise: Some(cw),
                ..
            },
        ) => cw.verifier.verify(&request, &cw.keys).await,
        (
            Delivery::Autotask,
            TenantIngest {
                autotask: Some(at), ..
            },
        ) => at.verify(&request),
        (
            Delivery::AutotaskDeactivated,
            TenantIngest {
                autotask: Some(at), ..
            },
        ) => at.verify_deactivation(&request).map(Verified::Deactivation),
        (
            Delivery::ItGlue(token),
            TenantIngest {
                itglue: Some(itg), ..
            },
        ) => itg.verify(token, &request).map(Verified::Event),
        (
            Delivery::Standard,
            TenantIngest {
                standard: Some(sw), ..
            },
        ) => sw.verify(&request),
        _ => return Answer::NotFound,
    };
    match verified {
        Err(rejection) => Answer::Rejected(rejection),
        Ok(Verified::Event(event)) => publish(state, tenant, event).await,
        Ok(Verified::Ignored(ignored)) => {
            tracing::debug!(record_type = %ignored.record_type, "authentic webhook about a record kind not synced; ignored");
            Answer::Ignored
        }
        Ok(Verified::Deactivation(notice)) => confirm_deactivation(state, notice).await,
    }
}

/// Publishes and waits for the JetStream ack. The publish runs on its own task, so a sender
/// that hangs up mid-request cannot cancel a publish halfway (and shutdown lets it finish).
async fn publish(state: &IngestState, tenant: &TenantIngest, event: VerifiedEvent) -> Answer {
    let source = event.source().as_str();
    let sink = state.sink.clone();
    let started = Instant::now();
    let envelope = event.envelope;
    let body = Bytes::from(event.raw_body);
    let task = tokio::spawn(async move {
        let result = sink.publish(&envelope, body).await;
        (envelope, result)
    });
    let (envelope, result) = match task.await {
        Ok(done) => done,
        Err(_) => return Answer::Failed,
    };
    match result {
        Ok(published) => {
            state.publish_latency.record(source, started.elapsed());
            if published.duplicate {
                tenant.counters.duplicate(source);
            }
            tracing::debug!(
                subject = %envelope.subject(),
                stream_seq = published.stream_seq,
                duplicate = published.duplicate,
                "event stored"
            );
            Answer::Accepted {
                id: envelope.dedup_id().unwrap_or_else(|| {
                    format!(
                        "{}:{}",
                        syncbridge_bus::names::EVENTS_STREAM,
                        published.stream_seq
                    )
                }),
                stream_seq: published.stream_seq,
                duplicate: published.duplicate,
            }
        }
        Err(error @ PublishError::Unavailable { .. }) => {
            tracing::warn!(tenant = tenant.id.as_str(), source, %error, "event not stored: bus unavailable; answering 503");
            Answer::Unavailable {
                retry_after_secs: state.retry_after_secs,
            }
        }
        Err(PublishError::TooLarge(_)) => Answer::Rejected(Rejection::TooLarge),
        Err(PublishError::InvalidEvent(reason)) => {
            tracing::info!(tenant = tenant.id.as_str(), source, %reason, "event envelope refused");
            Answer::Rejected(Rejection::Malformed(Cow::Borrowed(
                "payload ids cannot travel as event headers",
            )))
        }
        Err(error) => {
            tracing::error!(tenant = tenant.id.as_str(), source, %error, "event refused by the bus");
            Answer::Failed
        }
    }
}

/// A verified deactivation notice changes something only once the Autotask API confirms it.
async fn confirm_deactivation(state: &IngestState, notice: DeactivationNotice) -> Answer {
    let tenant = notice.tenant.clone();
    let guid = notice.webhook_guid.clone().unwrap_or_default();
    match state.deactivation.check(&tenant, &notice).await {
        Ok(WebhookState::Inactive | WebhookState::Deleted) => {
            metrics::deactivation_notice(tenant.as_str(), "confirmed");
            metrics::webhook_deactivated(tenant.as_str());
            tracing::warn!(
                tenant = tenant.as_str(),
                webhook_guid = %guid,
                entity_type = notice.entity_type.as_deref().unwrap_or(""),
                "ALERT: Autotask confirmed a webhook was deactivated; changes now arrive only by \
                 the safety-net poll until it is re-registered (syncbridge register-webhooks)"
            );
            Answer::Deactivation("confirmed")
        }
        Ok(WebhookState::Active) => {
            metrics::deactivation_notice(tenant.as_str(), "not_confirmed");
            tracing::warn!(
                tenant = tenant.as_str(),
                webhook_guid = %guid,
                "deactivation notice NOT confirmed: the Autotask API says the webhook is active; nothing changed"
            );
            Answer::Deactivation("not_confirmed")
        }
        Err(reason) => {
            metrics::deactivation_notice(tenant.as_str(), "unverifiable");
            tracing::warn!(
                tenant = tenant.as_str(),
                webhook_guid = %guid,
                %reason,
                "deactivation notice could not be confirmed through the Autotask API; nothing changed"
            );
            Answer::Unavailable {
                retry_after_secs: state.retry_after_secs,
            }
        }
    }
}

async fn healthz() -> Response {
    health::healthz()
}

async fn readyz(State(state): State<Arc<IngestState>>) -> Response {
    health::readiness(state.sink.ready().await)
}

async fn prometheus(State(state): State<Arc<IngestState>>) -> Response {
    health::render(state.metrics.as_ref())
}

async fn not_found() -> Answer {
    Answer::NotFound
}
