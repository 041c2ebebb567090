//! Why a delivery was refused, and which HTTP status the ingest answers for it.
//!
//! Every message here is safe to log and to return to the caller: it never contains a secret, a
//! signature, a token or a header value, and only short fixed reasons about the body (never the
//! body's own text, which an attacker controls).

use std::borrow::Cow;

/// A delivery that did not produce a verified event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The signature (or the secret path token) did not match any active secret.
    #[error("signature verification failed")]
    BadSignature,
    /// A header the scheme requires is absent (or not valid text).
    #[error("missing required header {0}")]
    MissingHeader(&'static str),
    /// The signed timestamp is outside the tolerance window (replay protection).
    #[error("timestamp outside the accepted window")]
    Stale,
    /// The body or a header is not what the vendor's scheme describes.
    #[error("malformed payload: {0}")]
    Malformed(Cow<'static, str>),
    /// The body is over the configured limit.
    #[error("body exceeds the configured size limit")]
    TooLarge,
    /// The route names no source we know, or the payload belongs to another account.
    #[error("unknown webhook source")]
    UnknownSource,
    /// ConnectWise's `key_url` is not one we may fetch from (SSRF guard); nothing was fetched.
    #[error("signing key url refused: {0}")]
    KeyUrlRefused(Cow<'static, str>),
    /// The signing key could not be obtained from an allowed `key_url`.
    #[error("signing key fetch failed: {0}")]
    KeyFetch(Cow<'static, str>),
    /// The signing key is not cached and the tenant's key fetches are over their limit; nothing
    /// was fetched.
    #[error("signing key fetch limit reached")]
    KeyFetchLimited,
}

impl Rejection {
    pub(crate) fn malformed(reason: &'static str) -> Self {
        Rejection::Malformed(Cow::Borrowed(reason))
    }

    /// The HTTP status the ingest answers (DESIGN §4).
    ///
    /// A refused `key_url` means the delivery cannot be authenticated: 401, like a bad signature.
    /// A failed key fetch is our upstream's trouble, not the sender's fault: 503 so that
    /// ConnectWise retries later. So is a fetch over the tenant's limit: the delivery may be
    /// genuine (a new key id), and a retry after the bucket refilled verifies it.
    pub fn http_status(&self) -> u16 {
        match self {
            Rejection::BadSignature
            | Rejection::MissingHeader(_)
            | Rejection::Stale
            | Rejection::KeyUrlRefused(_) => 401,
            Rejection::Malformed(_) => 400,
            Rejection::TooLarge => 413,
            Rejection::UnknownSource => 404,
            Rejection::KeyFetch(_) | Rejection::KeyFetchLimited => 503,
        }
    }

    /// A short machine-readable label, for metrics (`rejected_total{reason=…}`).
    pub fn kind(&self) -> &'static str {
        match self {
            Rejection::BadSignature => "bad_signature",
            Rejection::MissingHeader(_) => "missing_header",
            Rejection::Stale => "stale",
            Rejection::Malformed(_) => "malformed",
            Rejection::TooLarge => "too_large",
            Rejection::UnknownSource => "unknown_source",
            Rejection::KeyUrlRefused(_) => "key_url_refused",
            Rejection::KeyFetch(_) => "key_fetch",
            Rejection::KeyFetchLimited => "key_fetch_limited",
        }
    }
}

/// A tenant's webhook configuration that cannot be used (found at start-up, not per request).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingError {
    /// A secret is empty, or not in the form its scheme requires (the value is not shown).
    #[error("invalid secret: {0}")]
    InvalidSecret(&'static str),
    /// A ConnectWise key host is not a plain `host` or `host:port`.
    #[error("invalid ConnectWise key host {0:?}: expected host or host:port")]
    InvalidKeyHost(String),
    /// The ConnectWise company id that key URLs must name is empty.
    #[error("the ConnectWise company id is empty")]
    InvalidCompanyId,
}
