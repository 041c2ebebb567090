//! The connectors' typed errors: what went wrong with a vendor call, classified so the worker can
//! decide between "retry later" (transient) and "dead-letter now" (permanent) without parsing text.
//!
//! Messages never carry credentials: bodies are excerpted and scrubbed of the client's secrets,
//! and transport errors are rendered without their URL.

use std::time::Duration;

/// Longest vendor body excerpt kept in an error.
pub(crate) const EXCERPT_CHARS: usize = 300;

/// A failed connector call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The record does not exist (HTTP 404, or the vendor's "null item" / `success:false` 404).
    #[error("record not found")]
    NotFound,
    /// HTTP 409 (after retries), or a create whose outcome could not be told apart from someone
    /// else's concurrent create of the same key.
    #[error("conflict: {body_excerpt}")]
    Conflict { body_excerpt: String },
    /// The vendor's rate limit (HTTP 429) outlasted our retries; `retry_after` is what the vendor
    /// asked for (already scaled to real time).
    #[error("rate limited{}", retry_hint(.retry_after))]
    RateLimited { retry_after: Option<Duration> },
    /// A permanent refusal (4xx other than 408/409/429, or a vendor validation failure): do not
    /// retry, dead-letter with this reason.
    #[error("rejected by the vendor (HTTP {status}): {body_excerpt}")]
    Rejected { status: u16, body_excerpt: String },
    /// What we were asked to send cannot be put to this vendor (an id that is not a number, a
    /// child without its organization, a URL or credential the configuration got wrong): refused
    /// here, before any request. Permanent.
    #[error("not sent to the vendor: {0}")]
    InvalidInput(String),
    /// Authentication failed (HTTP 401/403 on an authenticated call). Permanent until the
    /// credentials change.
    #[error("authentication failed (HTTP {status})")]
    Auth { status: u16 },
    /// A 5xx answer that outlasted our retries. Transient.
    #[error("vendor server error (HTTP {status}): {body_excerpt}")]
    Server { status: u16, body_excerpt: String },
    /// Connection failure or timeout that outlasted our retries. Transient.
    #[error("transport error: {0}")]
    Transport(String),
    /// The vendor (or this connector) does not offer the operation: e.g. modified-since on Kaseya
    /// BMS assets, any Autotask location call.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// Writes to a one-way PSA (Tigerpaw) are refused before any request is made.
    #[error("{vendor} is read-only for syncbridge")]
    ReadOnly { vendor: &'static str },
    /// A value names a lookup entry (type, status, manufacturer, …) the vendor does not have.
    #[error("unknown {kind} {name:?}")]
    UnknownLookup { kind: String, name: String },
    /// The vendor answered something we cannot read (bad JSON, missing id, …).
    #[error("malformed vendor response: {0}")]
    Malformed(String),
    /// A write refused before it was sent because the record changed since the caller read it
    /// (its `check_before_write` failed). Transient: decide again on what is there now.
    #[error("the record changed since it was read; not written")]
    ChangedSinceRead,
}

impl Error {
    /// Worth retrying later (the worker naks with a delay instead of dead-lettering).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::RateLimited { .. }
                | Error::Server { .. }
                | Error::Transport(_)
                | Error::Conflict { .. }
                | Error::ChangedSinceRead
        )
    }

    /// The delay the vendor asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::RateLimited { retry_after } => *retry_after,
            _ => None,
        }
    }

    pub(crate) fn malformed(what: impl Into<String>) -> Self {
        Error::Malformed(what.into())
    }

    /// `Unsupported` for an entity a vendor does not sync.
    pub(crate) fn unsupported_entity(vendor: &str, entity: syncbridge_model::Entity) -> Self {
        Error::Unsupported(format!("{vendor} has no {entity} records to sync"))
    }
}

fn retry_hint(retry_after: &Option<Duration>) -> String {
    match retry_after {
        Some(d) => format!(" (retry after {d:?})"),
        None => String::new(),
    }
}

/// Shortens a vendor body for an error message (on a char boundary).
pub(crate) fn excerpt(body: &str) -> String {
    let mut out: String = body.chars().take(EXCERPT_CHARS).collect();
    if body.chars().count() > EXCERPT_CHARS {
        out.push('…');
    }
    out
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
