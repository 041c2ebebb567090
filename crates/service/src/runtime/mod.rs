//! The bottom layer of the service: what every role and command needs from the process and
//! nothing of syncbridge's own — the wall clock ([`clock`]), the stop signal the loops watch
//! ([`stop`]) and the operating system's request to stop ([`shutdown`]).
//!
//! Nothing here imports another module of this crate.

pub mod clock;
pub mod shutdown;
pub mod stop;
