//! Webhook verification for syncbridge's ingest: raw body bytes + headers + the tenant's
//! configured secrets → a verified event, or a typed [`Rejection`] that maps to the HTTP answer.
//!
//! One file per source, each a verifier configured per tenant:
//!
//! | route | verifier | scheme |
//! |---|---|---|
//! | `connectwise` | [`ConnectWiseVerifier`] (async: key fetch) | `x-content-signature`, key from an approved `key_url` |
//! | `autotask` (+ `/deactivated`) | [`AutotaskVerifier`] | `X-Hook-Signature: sha1=…`, raw then .NET-escaped body |
//! | `itglue/{token}` | [`ItGlueWorkflowVerifier`] | secret path token → a hint |
//! | `standard` | [`StandardWebhookVerifier`] | Standard Webhooks `v1`, ±5 min |
//!
//! Everything is pure except ConnectWise's signing-key fetch, which goes through the
//! [`SigningKeySource`] trait (the service implements it with its HTTP client) behind a
//! [`SigningKeyCache`] (single flight per URL, failures remembered briefly, a fetch limit per
//! tenant), and only for URLs a [`KeyUrlPolicy`] approved. Time is never read here:
//! the caller passes `received_at`, which is also "now" for timestamp windows.
//!
//! ```
//! use syncbridge_model::TenantId;
//! use syncbridge_webhooks::{AutotaskCallout, AutotaskVerifier, Headers, Secret, Verified, WebhookRequest};
//!
//! let tenant = TenantId::new("acme").unwrap();
//! let verifier = AutotaskVerifier::new(tenant, Secret::new("test-secret-key").unwrap());
//! let body = br#"{"Action":"Update","Guid":"g-1","EntityType":"Company","Id":7,"SequenceNumber":3}"#;
//! let headers = Headers::new().with("X-Hook-Signature", AutotaskCallout::sign(b"test-secret-key", body));
//! match verifier.verify(&WebhookRequest::new(body, &headers, 1_700_000_000_000)).unwrap() {
//!     Verified::Event(event) => assert_eq!(event.msg_id(), Some("g-1:7:Update:3")),
//!     other => panic!("{other:?}"),
//! }
//! ```

#![forbid(unsafe_code)]

mod autotask;
mod autotask_escape;
mod body;
mod connectwise;
mod connectwise_key;
mod connectwise_key_cache;
mod crypto;
mod event;
mod headers;
mod itglue;
mod json_fields;
mod rejection;
mod route;
mod secret;
mod standard;

pub use autotask::{AutotaskCallout, AutotaskVerifier, DeactivationNotice, SignedForm};
pub use autotask_escape::dotnet_escaped;
pub use body::BodyLimit;
pub use connectwise::{ConnectWiseCallback, ConnectWiseVerifier};
pub use connectwise_key::{ApprovedKeyUrl, KeyUrlPolicy};
pub use connectwise_key_cache::{
    FetchLimit, KeyFetchError, KeyFetchResponse, SigningKeyCache, SigningKeySource,
    MAX_KEY_RESPONSE_BYTES, NEGATIVE_TTL_MS,
};
pub use event::{Ignored, Verified, VerifiedEvent, WebhookRequest};
pub use headers::Headers;
pub use itglue::ItGlueWorkflowVerifier;
pub use rejection::{Rejection, SettingError};
pub use route::WebhookSource;
pub use secret::Secret;
pub use standard::{
    StandardWebhook, StandardWebhookVerifier, DEFAULT_TOLERANCE_SECS, MAX_SIGNATURES,
};

/// Header names each scheme reads.
pub mod header_names {
    pub use crate::autotask::SIGNATURE_HEADER as AUTOTASK_SIGNATURE;
    pub use crate::connectwise::SIGNATURE_HEADER as CONNECTWISE_SIGNATURE;
    pub use crate::standard::{
        ID_HEADER as STANDARD_ID, SIGNATURE_HEADER as STANDARD_SIGNATURE,
        TIMESTAMP_HEADER as STANDARD_TIMESTAMP,
    };
}
