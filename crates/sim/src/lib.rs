//! Faithful, stateful simulators of IT Glue and the PSAs, used by syncbridge's end-to-end tests,
//! benchmarks and demo (DESIGN §5).
//!
//! Simulators: [`itglue`], [`connectwise`], [`autotask`] (+ [`autotask_webhooks`]),
//! [`kaseya_bms`] (also Pulseway PSA) and [`tigerpaw`]; [`fleet`] starts them all on one clock. See `docs/vendors.md` for what each
//! simulates and the assumptions made where the vendors' documentation is silent.
//!
//! Each simulator is an axum server on `127.0.0.1` with the vendor's paths, auth, paging, filters,
//! error shapes, rate limits and signed webhooks, plus an admin API under `/_admin/...` (see
//! [`admin`]) to seed data, read state, count writes and requests, inject faults and scale the
//! clock.
//!
//! Shared machinery: [`clock`] (scalable simulated time), [`rate_limit`], [`faults`],
//! [`writes`] (write log), [`request_tally`] (requests by route and status), [`store`], [`delivery`] (webhook sending with delivery faults),
//! [`server`] (bind / shutdown), [`seed`] (deterministic data sets), and the parsers
//! [`cw_conditions`], [`at_filter`], [`json_patch`], [`dotnet_escape`], [`urlenc`].

#![forbid(unsafe_code)]

pub mod admin;
pub mod at_filter;
pub mod autotask;
pub mod autotask_webhooks;
pub mod clock;
pub mod connectwise;
pub mod core;
pub mod cw_conditions;
pub mod delivery;
pub mod dotnet_escape;
pub mod faults;
pub mod fleet;
pub mod itglue;
pub mod json_patch;
pub mod kaseya_bms;
pub mod rate_limit;
pub mod reference_index;
pub mod request_tally;
pub mod rng;
pub mod seed;
pub mod server;
pub mod store;
pub mod tigerpaw;
pub mod urlenc;
pub mod writes;

pub use clock::SimClock;
pub use core::Core;
pub use faults::{DeliveryFaults, Fault, FaultPlan, FaultRule};
pub use rate_limit::{RateLimit, WindowKind};
pub use request_tally::{RequestCount, RequestTally};
pub use server::SimServer;
