//! Black-box tests through the `syncbridge` binary only: what a user types and what the process
//! does, with nothing of the library in between. Each test starts the binary as a child process
//! against its own nats-server and, where it needs vendors, the simulators.
//!
//! - [`config_cli`]: `config check` on the example and on broken files, `--help`, exit codes;
//! - [`sync_cli`]: `register-webhooks` and `full-sync` against the ConnectWise simulator;
//! - [`ops_cli`]: `dlq`, `replay`, `links`, `setup` failing clearly (missing message, empty
//!   stretch, unreachable NATS);
//! - [`serve_limits`]: `serve` refuses a body limit the connected server cannot store;
//! - [`graceful_shutdown`]: `serve` becomes ready, and SIGTERM lets in-flight requests finish;
//! - [`logs`]: no colour into a file, `--log-format json`, no warning on a clean stop;
//! - [`autotask_webhook`]: `register-webhooks` reactivates a deactivated Autotask webhook and
//!   rewrites a rotated secret;
//! - [`healthcheck`]: the container probe `syncbridge healthcheck --url` passes and fails;
//! - [`nats_migration`]: on a cluster from the deploy/nats files, `setup` raises restored
//!   one-replica streams and buckets to three, keeping their data;
//! - [`operations_doc`]: every `syncbridge …` command in docs/operations.md exists with its flags;
//! - [`cluster`]: a three-node JetStream cluster losing the events stream's or the link store's
//!   RAFT leader mid-traffic, every change applied exactly once.
//!
//! The binary is built by cargo for this test target because the target belongs to the
//! `syncbridge` package (`crates/service/Cargo.toml`, `[[test]] name = "e2e"`).

mod autotask_webhook;
mod binary;
mod cluster;
mod config_cli;
mod graceful_shutdown;
mod healthcheck;
mod logs;
mod nats_migration;
mod operations_doc;
mod ops_cli;
mod serve_limits;
mod sync_cli;
