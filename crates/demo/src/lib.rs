//! syncbridge on simulated vendors: the demo, the simulators in a process of their own, and the
//! in-process stack the end-to-end tests run on.
//!
//! This crate is kept apart from the `syncbridge` service so that a production build links no
//! simulator and no test nats-server harness (`cargo tree -p syncbridge -e normal` shows neither).
//!
//! - [`run`]: `syncbridge-demo`, the README's main command — one tenant per PSA, people editing
//!   both sides, a live progress line and a summary that says whether the run converged;
//! - [`stack`]: a private nats-server, the simulators of [`world`] and the real service (ingest,
//!   workers, pollers) in one process — what the demo and the end-to-end tests run on;
//! - [`world`]: which simulator and which TOML each PSA's tenant gets;
//! - [`driver`]: the people editing both sides; [`tally`]: progress read from the audit stream;
//!   [`verify`]: the field-by-field comparison of both sides at the end;
//! - [`sim`]: `syncbridge-demo sim`, the simulators alone, for trying a real `syncbridge serve`;
//! - [`bench`]: `syncbridge-demo bench`, the worker's throughput under vendor latency;
//!   [`bench_onboarding`]: onboarding a tenant IT Glue already documents, and an unchanged full
//!   sync; [`bench_edits`]: vendor requests per PSA edit and per IT Glue edit;
//!   [`bench_latency`]: webhook → IT Glue write latency at fixed edit rates;
//! - [`loadgen`]: `syncbridge-demo loadgen`, the ingest floor's load generator with a body size
//!   (deploy/local/bench-ingest.sh).

#![forbid(unsafe_code)]

pub mod bench;
pub mod bench_edits;
pub mod bench_latency;
pub mod bench_onboarding;
pub mod driver;
pub mod loadgen;
pub mod run;
pub mod sim;
pub mod stack;
pub mod tally;
pub mod verify;
pub mod world;

pub use run::{run, DemoOptions, DemoReport};
