//! The admin API every simulator serves under `/_admin/...`: seed records and read state, edit or
//! delete "as a person" (so webhooks fire as for a UI edit), count writes per record and requests
//! per route, set and clear the fault plan, read and set the clock factor, and read or change the rate budget.
//!
//! Routes (JSON in and out):
//! - `GET|PUT|DELETE /_admin/faults` — the [`FaultPlan`]
//! - `GET|PUT /_admin/clock` (`{"factor": 100}`), `POST /_admin/clock/advance` (`{"seconds": 60}`)
//! - `GET|DELETE /_admin/deliveries` — every webhook/callback attempt (url, status, body)
//! - `GET|PUT /_admin/rate-limit` (`{"limit":…,"window_secs":…,"kind":"sliding"}` or `null`)
//! - `GET|DELETE /_admin/writes[?collection=&id=&user=]`, `GET /_admin/writes/count[?…]`
//! - `GET|DELETE /_admin/requests` — the [`RequestTally`](crate::request_tally::RequestTally):
//!   `{"total", "reads", "writes", "counts": [{"method", "route", "status", "count"}]}`
//! - `POST /_admin/seed/{collection}` (array of records), `GET /_admin/state/{collection}`
//! - `PATCH /_admin/records/{collection}/{id}` (`{"user": "...", "fields": {...}}`),
//!   `DELETE /_admin/records/{collection}/{id}?user=...`

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::clock::format_millis;
use crate::core::Core;
use crate::faults::FaultPlan;
use crate::rate_limit::RateLimit;
use crate::writes::WriteQuery;

/// Why an admin call failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("unknown collection {0:?}")]
    UnknownCollection(String),
    #[error("record {0} not found")]
    NotFound(String),
    #[error("invalid input: {0}")]
    Invalid(String),
}

impl AdminError {
    /// `Ok` when `collection` is one of `known`.
    pub fn check_collection(known: &[&str], collection: &str) -> Result<(), AdminError> {
        if known.contains(&collection) {
            Ok(())
        } else {
            Err(AdminError::UnknownCollection(collection.into()))
        }
    }
}

/// A vendor-API refusal met while serving an admin call: 404 stays "not found".
impl From<crate::core::Rejection> for AdminError {
    fn from(r: crate::core::Rejection) -> Self {
        if r.status == StatusCode::NOT_FOUND {
            AdminError::NotFound(r.message)
        } else {
            AdminError::Invalid(r.message)
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let status = match self {
            AdminError::UnknownCollection(_) | AdminError::NotFound(_) => StatusCode::NOT_FOUND,
            AdminError::Invalid(_) => StatusCode::BAD_REQUEST,
        };
        (status, Json(json!({"error": self.to_string()}))).into_response()
    }
}

/// What a vendor simulator provides to the generic admin routes.
pub trait AdminOps: Send + Sync + 'static {
    fn core(&self) -> &Arc<Core>;
    /// Stores records as given (vendor vocabulary); returns them as stored (with ids).
    fn seed(&self, collection: &str, records: Vec<Value>) -> Result<Vec<Value>, AdminError>;
    /// Every record of a collection, as stored (including simulator-only metadata).
    fn state(&self, collection: &str) -> Result<Vec<Value>, AdminError>;
    /// Changes fields as `user` would in the vendor's UI: logged, timestamps move, webhooks fire.
    fn edit(
        &self,
        collection: &str,
        id: &str,
        user: &str,
        fields: Map<String, Value>,
    ) -> Result<Value, AdminError>;
    /// Deletes a record as `user` would in the vendor's UI.
    fn delete(&self, collection: &str, id: &str, user: &str) -> Result<(), AdminError>;
}

#[derive(Deserialize)]
struct ClockBody {
    factor: f64,
}

#[derive(Deserialize)]
struct AdvanceBody {
    seconds: f64,
}

#[derive(Deserialize)]
struct EditBody {
    #[serde(default = "person")]
    user: String,
    fields: Map<String, Value>,
}

#[derive(Deserialize)]
struct UserQuery {
    #[serde(default = "person")]
    user: String,
}

fn person() -> String {
    "person".to_owned()
}

/// The admin router for one simulator.
pub fn routes<S: AdminOps>(sim: Arc<S>) -> Router {
    Router::new()
        .route(
            "/_admin/faults",
            get(get_faults::<S>)
                .put(put_faults::<S>)
                .delete(clear_faults::<S>),
        )
        .route("/_admin/clock", get(get_clock::<S>).put(put_clock::<S>))
        .route("/_admin/clock/advance", post(advance_clock::<S>))
        .route("/_admin/rate-limit", get(get_rate::<S>).put(put_rate::<S>))
        .route(
            "/_admin/writes",
            get(get_writes::<S>).delete(clear_writes::<S>),
        )
        .route("/_admin/writes/count", get(count_writes::<S>))
        .route(
            "/_admin/requests",
            get(get_requests::<S>).delete(clear_requests::<S>),
        )
        .route(
            "/_admin/deliveries",
            get(get_deliveries::<S>).delete(clear_deliveries::<S>),
        )
        .route("/_admin/seed/{collection}", post(seed::<S>))
        .route("/_admin/state/{collection}", get(state::<S>))
        .route(
            "/_admin/records/{collection}/{id}",
            patch(edit::<S>).delete(delete::<S>),
        )
        .with_state(sim)
}

async fn get_faults<S: AdminOps>(State(s): State<Arc<S>>) -> Json<FaultPlan> {
    Json(s.core().faults.plan())
}

async fn put_faults<S: AdminOps>(
    State(s): State<Arc<S>>,
    Json(plan): Json<FaultPlan>,
) -> StatusCode {
    s.core().faults.set(plan);
    StatusCode::NO_CONTENT
}

async fn clear_faults<S: AdminOps>(State(s): State<Arc<S>>) -> StatusCode {
    s.core().faults.clear();
    StatusCode::NO_CONTENT
}

fn clock_json(core: &Core) -> Value {
    let now = core.clock.now_millis();
    json!({"factor": core.clock.factor(), "now_millis": now, "now": format_millis(now)})
}

async fn get_clock<S: AdminOps>(State(s): State<Arc<S>>) -> Json<Value> {
    Json(clock_json(s.core()))
}

async fn put_clock<S: AdminOps>(
    State(s): State<Arc<S>>,
    Json(body): Json<ClockBody>,
) -> Result<Json<Value>, AdminError> {
    if !(body.factor.is_finite() && body.factor > 0.0) {
        return Err(AdminError::Invalid(
            "factor must be a positive number".into(),
        ));
    }
    s.core().clock.set_factor(body.factor);
    Ok(Json(clock_json(s.core())))
}

async fn advance_clock<S: AdminOps>(
    State(s): State<Arc<S>>,
    Json(body): Json<AdvanceBody>,
) -> Result<Json<Value>, AdminError> {
    let by = Duration::try_from_secs_f64(body.seconds)
        .map_err(|_| AdminError::Invalid("seconds must be a non-negative number".into()))?;
    s.core().clock.advance(by);
    Ok(Json(clock_json(s.core())))
}

async fn get_rate<S: AdminOps>(State(s): State<Arc<S>>) -> Json<Value> {
    let l = &s.core().limiter;
    Json(json!({"config": l.config(), "usage": l.usage()}))
}

async fn put_rate<S: AdminOps>(
    State(s): State<Arc<S>>,
    Json(cfg): Json<Option<RateLimit>>,
) -> StatusCode {
    s.core().limiter.set(cfg);
    StatusCode::NO_CONTENT
}

async fn get_writes<S: AdminOps>(
    State(s): State<Arc<S>>,
    Query(q): Query<WriteQuery>,
) -> Json<Value> {
    Json(json!(s.core().writes.entries(&q)))
}

async fn clear_writes<S: AdminOps>(State(s): State<Arc<S>>) -> StatusCode {
    s.core().writes.clear();
    StatusCode::NO_CONTENT
}

async fn count_writes<S: AdminOps>(
    State(s): State<Arc<S>>,
    Query(q): Query<WriteQuery>,
) -> Json<Value> {
    Json(json!(s.core().writes.count(&q)))
}

async fn get_requests<S: AdminOps>(State(s): State<Arc<S>>) -> Json<Value> {
    let tally = &s.core().requests;
    Json(json!({
        "total": tally.total(),
        "reads": tally.reads(),
        "writes": tally.writes(),
        "counts": tally.snapshot(),
    }))
}

async fn clear_requests<S: AdminOps>(State(s): State<Arc<S>>) -> StatusCode {
    s.core().requests.clear();
    StatusCode::NO_CONTENT
}

async fn get_deliveries<S: AdminOps>(State(s): State<Arc<S>>) -> Json<Value> {
    Json(json!(s.core().deliveries.entries()))
}

async fn clear_deliveries<S: AdminOps>(State(s): State<Arc<S>>) -> StatusCode {
    s.core().deliveries.clear();
    StatusCode::NO_CONTENT
}

async fn seed<S: AdminOps>(
    State(s): State<Arc<S>>,
    Path(collection): Path<String>,
    Json(records): Json<Vec<Value>>,
) -> Result<Json<Vec<Value>>, AdminError> {
    s.seed(&collection, records).map(Json)
}

async fn state<S: AdminOps>(
    State(s): State<Arc<S>>,
    Path(collection): Path<String>,
) -> Result<Json<Vec<Value>>, AdminError> {
    s.state(&collection).map(Json)
}

async fn edit<S: AdminOps>(
    State(s): State<Arc<S>>,
    Path((collection, id)): Path<(String, String)>,
    Json(body): Json<EditBody>,
) -> Result<Json<Value>, AdminError> {
    s.edit(&collection, &id, &body.user, body.fields).map(Json)
}

async fn delete<S: AdminOps>(
    State(s): State<Arc<S>>,
    Path((collection, id)): Path<(String, String)>,
    Query(q): Query<UserQuery>,
) -> Result<StatusCode, AdminError> {
    s.delete(&collection, &id, &q.user)?;
    Ok(StatusCode::NO_CONTENT)
}
