//! `syncbridge serve` as real processes: killed at deterministic points, restarted, two workers on
//! one tenant, graceful shutdown; and what the production build links.

mod graceful_shutdown;
mod layers;
mod production_build;
mod reliability;
