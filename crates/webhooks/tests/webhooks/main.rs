//! The webhook verifiers through their public API, one module per source (ConnectWise, Autotask,
//! IT Glue workflow, Standard Webhooks), plus the properties every verifier shares: no input
//! panics, secrets never print, rejections map to the right HTTP status.

mod autotask;
mod common;
mod connectwise;
mod connectwise_key_fetch;
mod connectwise_key_url;
mod itglue;
mod no_panic;
mod redaction_and_limits;
mod standard;
