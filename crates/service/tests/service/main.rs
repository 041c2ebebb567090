//! The service's tests, one module per feature, through the public API (and, where a test kills or
//! restarts a process, the real binary), every test on its own nats-server and simulators
//! ([`common`]):
//!
//! - [`ingest`]: webhooks verified, stored once and answered as the contract says, under faults
//!   and connection floods;
//! - [`rules`]: the sync rules of DESIGN §3 end to end on the running product (docs/rules.md);
//! - [`roles`]: the worker and poller roles on the simulators, budgets shared between processes;
//! - [`operations`]: the commands an operator runs (dlq, replay, links, full sync, push-all);
//! - [`processes`]: real processes killed and restarted; the layering of `service/src` and what
//!   the production build links.
//!
//! `tests/redaction.rs` is a binary of its own: it installs the process-wide tracing subscriber.
//! Black-box tests of the command line (`config check`, `--help`, `register-webhooks`, `full-sync`,
//! graceful shutdown) are at the top of the repository, in `tests/e2e`.

mod common;
mod ingest;
mod operations;
mod processes;
mod roles;
mod rules;
