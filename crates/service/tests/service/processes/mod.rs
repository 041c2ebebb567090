//! `syncbridge serve` as real processes: killed at deterministic points, restarted, two workers on
//! one tenant; the layering of `service/src`; what the production build links; and each role's
//! `/metrics` after real traffic, with the deploy files' metric names checked against the code.
//! (Graceful shutdown is a black-box test in the top-level `tests/e2e`.)

mod faults;
mod harness;
mod layers;
mod metrics;
mod production_build;
mod reliability;
