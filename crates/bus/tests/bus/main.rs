//! The bus crate's integration tests, one module per concern, each test against a nats-server of
//! its own (free port, own store directory; `common`): set-up, publishing with dedup, links,
//! leases, typed state, the shared rate budget, the operations tools (DLQ, replay) and a server
//! restart.

mod budget;
mod common;
mod leases;
mod links;
mod operations;
mod publish;
mod restart;
mod setup;
mod state;
