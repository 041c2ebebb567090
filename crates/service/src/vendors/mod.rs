//! The vendors as the roles use them: a tenant's clients with its budgets applied ([`clients`]),
//! budgets and concurrency caps shared by every process of a tenant through NATS
//! ([`shared_budget`]), the clients presented to the worker as its two sides ([`sides`]) and the
//! pollers' change feeds ([`feeds`]).
//!
//! Layer: above `config` and `psa`; below `ingest`, `roles` and `commands`.

pub mod clients;
pub mod feeds;
pub mod shared_budget;
pub mod sides;
