//! Reading a webhook body under the size limit. The limit is enforced while the body streams
//! in (a declared `Content-Length` over it is refused before reading anything), so an oversize
//! body is never buffered whole.

use std::borrow::Cow;

use axum::body::Body;
use axum::http::{header, HeaderMap};
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use syncbridge_webhooks::{BodyLimit, Rejection};

/// The body's bytes, or `TooLarge` (413) / `Malformed` (400, the client broke off mid-body).
pub async fn read_limited(
    headers: &HeaderMap,
    body: Body,
    limit: BodyLimit,
) -> Result<Bytes, Rejection> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(len) = declared {
        limit.check_len(usize::try_from(len).unwrap_or(usize::MAX))?;
    }
    match Limited::new(body, limit.max_bytes()).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(Rejection::TooLarge),
        Err(_) => Err(Rejection::Malformed(Cow::Borrowed(
            "body could not be read",
        ))),
    }
}
