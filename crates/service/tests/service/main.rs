//! The service's tests, one module per feature, through the public API or the real binary, every
//! test on its own nats-server and simulators ([`common`]):
//!
//! - [`ingest`]: webhooks verified, stored once and answered as the contract says, under faults
//!   and connection floods;
//! - [`rules`]: the sync rules of DESIGN §3 end to end on the running product (docs/rules.md);
//! - [`roles`]: the worker and poller roles on the simulators, budgets shared between processes;
//! - [`operations`]: the commands an operator runs (config check, dlq, replay, links, full sync,
//!   push-all, register-webhooks);
//! - [`processes`]: real processes killed, restarted and shut down; what the production build
//!   links.
//!
//! `tests/redaction.rs` is a binary of its own: it installs the process-wide tracing subscriber.

mod common;
mod ingest;
mod operations;
mod processes;
mod roles;
mod rules;
