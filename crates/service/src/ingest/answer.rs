//! What the ingest answers (DESIGN §4), as one type so every route answers alike.
//!
//! Bodies are small JSON documents that never echo anything the sender sent: a 401 says only
//! that verification failed, whatever the reason was (the reason goes to metrics and a debug log).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::json;
use syncbridge_webhooks::Rejection;

/// One answer to a webhook delivery.
#[derive(Debug)]
pub enum Answer {
    /// 202: stored in JetStream (or recognised as already stored).
    Accepted {
        id: String,
        stream_seq: u64,
        duplicate: bool,
    },
    /// 200: authentic, but about something syncbridge does not sync; nothing published.
    Ignored,
    /// 200: an Autotask deactivation notice, with what the Autotask API said.
    Deactivation(&'static str),
    /// 4xx (or 503 for a failed ConnectWise key fetch), per [`Rejection::http_status`].
    Rejected(Rejection),
    /// 404: no such tenant, or the source is not configured for it.
    NotFound,
    /// 400: a POST to the ConnectWise callback URL as registered (`…/connectwise/`) without the
    /// record id ConnectWise appends to it.
    NoRecordId,
    /// 503 + `Retry-After`: the bus (or an upstream we need) is unavailable; retry later.
    Unavailable { retry_after_secs: u64 },
    /// 500: the event could not be stored for a reason a retry will not fix.
    Failed,
}

impl Answer {
    /// The outcome label for metrics.
    pub fn outcome(&self) -> &'static str {
        match self {
            Answer::Accepted {
                duplicate: true, ..
            } => "duplicate",
            Answer::Accepted { .. } => "accepted",
            Answer::Ignored => "ignored",
            Answer::Deactivation(_) => "deactivation",
            Answer::Rejected(r) => r.kind(),
            Answer::NotFound => "not_found",
            Answer::NoRecordId => "malformed",
            Answer::Unavailable { .. } => "unavailable",
            Answer::Failed => "failed",
        }
    }
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

fn unavailable(retry_after_secs: u64) -> Response {
    let mut response = (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({"error": "temporarily unavailable, retry later"})),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    response
}

/// The body of a 202, written straight from this struct (no intermediate `serde_json::Value`):
/// the same bytes as `json!({"id", "stream_seq", "duplicate"})`, whose keys serialise sorted.
#[derive(Serialize)]
struct AcceptedBody<'a> {
    duplicate: bool,
    id: &'a str,
    stream_seq: u64,
}

/// The body of [`Answer::NoRecordId`].
pub const NO_RECORD_ID: &str = "no record id: ConnectWise appends the record id to the registered \
     callback URL (…/connectwise/<id>), and this request has none after /connectwise/; nothing \
     was stored";

/// The `Retry-After` for a 503 that comes from a [`Rejection`] (ConnectWise key host trouble).
pub const KEY_FETCH_RETRY_AFTER_SECS: u64 = 30;

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        match self {
            Answer::Accepted {
                id,
                stream_seq,
                duplicate,
            } => (
                StatusCode::ACCEPTED,
                Json(AcceptedBody {
                    duplicate,
                    id: &id,
                    stream_seq,
                }),
            )
                .into_response(),
            Answer::Ignored => (StatusCode::OK, Json(json!({"status": "ignored"}))).into_response(),
            Answer::Deactivation(outcome) => {
                (StatusCode::OK, Json(json!({"deactivation": outcome}))).into_response()
            }
            Answer::Rejected(rejection) => match rejection.http_status() {
                401 => (
                    StatusCode::UNAUTHORIZED,
                    Json(json!({"error": "verification failed"})),
                )
                    .into_response(),
                503 => unavailable(KEY_FETCH_RETRY_AFTER_SECS),
                404 => Answer::NotFound.into_response(),
                // 400 and 413: the rejection's text is fixed wording, never sender data.
                code => {
                    (status(code), Json(json!({"error": rejection.to_string()}))).into_response()
                }
            },
            Answer::NotFound => {
                (StatusCode::NOT_FOUND, Json(json!({"error": "not found"}))).into_response()
            }
            Answer::NoRecordId => (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": NO_RECORD_ID})),
            )
                .into_response(),
            Answer::Unavailable { retry_after_secs } => unavailable(retry_after_secs),
            Answer::Failed => (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({"error": "event could not be stored"})),
            )
                .into_response(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_accepted_body_is_the_json_value_it_replaced() {
        for duplicate in [false, true] {
            let written = serde_json::to_string(&AcceptedBody {
                duplicate,
                id: "acme:autotask:g:1:Update:2",
                stream_seq: 42,
            })
            .unwrap();
            let value = json!({"id": "acme:autotask:g:1:Update:2", "stream_seq": 42, "duplicate": duplicate});
            assert_eq!(written, value.to_string());
        }
    }
}
