//! The bottom layer of the service: what every role and command needs from the process and
//! nothing of syncbridge's own — the wall clock ([`clock`]), the stop signal the loops watch
//! ([`stop`]), the operating system's request to stop ([`shutdown`]), logs ([`telemetry`]) and
//! the Prometheus recorder with every metric's name ([`metrics`]).
//!
//! Nothing here imports another module of this crate.

pub mod clock;
pub mod metrics;
pub mod shutdown;
pub mod stop;
pub mod telemetry;
