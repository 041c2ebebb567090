//! The webhook ingest: each source's genuine delivery stored once and answered 202, forgeries and
//! malformed input refused with the contract's status, never a panic; NATS outages answered 503;
//! connection floods and slow clients shed without taking the ingest down.

mod autotask_sim;
mod connection_limits;
mod connectwise_keys;
mod deliveries;
mod nats_outage;
mod no_panic;
mod standard_webhooks;
