//! `syncbridge serve` as real processes: killed at deterministic points, restarted, two workers on
//! one tenant; the layering of `service/src`; and what the production build links. (Graceful
//! shutdown is a black-box test in the top-level `tests/e2e`.)

mod faults;
mod harness;
mod layers;
mod production_build;
mod reliability;
