//! The long-running roles of `syncbridge serve` ([`serve`] starts the ones `--role` names): per
//! tenant the worker's consume loop, the IT Glue and PSA pollers and the dead-letter mover
//! ([`workers`]), and the full sync with its schedule ([`full_sync`]). The ingest role is
//! `crate::ingest`.
//!
//! Layer: above `vendors`; below `commands`.

pub mod full_sync;
pub mod serve;
pub mod workers;
